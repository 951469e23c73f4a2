//! Starting LKL and calling its syscalls (only with the `lkl` feature, when
//! `kernel/build.rs` links LKL's `lkl.o` and the C host-ops table).

use super::Arg;
use core::ffi::{c_char, c_int, c_long, c_ulong, CStr};
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

extern "C" {
    /// `kernel/kernel/lkl/host_ops.c`: `lkl_start_kernel(&embox_lkl_host_ops,
    /// "mem=<mem_mib>M <extra>")`.
    fn embox_lkl_start(mem_mib: c_ulong, extra: *const c_char) -> c_int;
    /// LKL: runs syscall `no` (asm-generic numbering) with six arguments.
    fn lkl_syscall(no: c_long, params: *mut c_long) -> c_long;
    /// LKL: reserves an interrupt number for a host device.
    fn lkl_get_free_irq(user: *const c_char) -> c_int;
    /// LKL: raises interrupt `irq` (runs its handler now, or marks it
    /// pending when another thread holds LKL's CPU).
    fn lkl_trigger_irq(irq: c_int) -> c_int;
}

/// Reserves one of LKL's interrupt numbers for a device named `user`
/// (before or after [`start`]); `Err(-errno)` when none is free.
pub fn get_free_irq(user: &'static CStr) -> Result<u32, i32> {
    // SAFETY: LKL keeps the name pointer (it is 'static); the call only
    // updates LKL's irq table, which is safe before the kernel starts (LKL's
    // POSIX host library does the same before lkl_start_kernel).
    let irq = unsafe { lkl_get_free_irq(user.as_ptr()) };
    if irq < 0 {
        Err(irq)
    } else {
        Ok(irq as u32)
    }
}

/// Raises LKL interrupt `irq` (from a kernel task, never from interrupt
/// context: LKL may take its CPU lock, which sleeps).
pub fn trigger_irq(irq: u32) {
    // SAFETY: LKL's contract for lkl_trigger_irq: any host thread, at any
    // time after start; an irq it does not know is refused with -EINVAL.
    unsafe { lkl_trigger_irq(irq as c_int) };
}

/// Boots LKL with `mem_mib` MiB of memory and `extra` on its command line.
/// Returns once LKL's init has run (its kernel threads keep running as host
/// threads); `Err(-errno)` if it could not start. Call once, from a task.
pub fn start(mem_mib: u32, extra: &CStr) -> Result<(), i32> {
    // SAFETY: the host operations are registered (os does that before
    // calling us), `extra` is a valid C string for the call, and this is the
    // only call (os guards it).
    let ret = unsafe { embox_lkl_start(mem_mib as c_ulong, extra.as_ptr()) };
    if ret < 0 {
        Err(ret)
    } else {
        Ok(())
    }
}

/// LKL's quick syscall route (patches/lkl-tree/lkl-syscall-quick.patch):
/// `lkl_syscall_quick(self, no, params, &ret)` runs syscall `no` in host
/// thread `self`'s host task and returns 1 with the result in `ret` when
/// LKL's CPU is free and that task is still current from the thread's last
/// call; otherwise it returns 0 having changed nothing and without waiting.
type QuickEntry = unsafe extern "C" fn(self_: c_ulong, no: c_long, params: *mut c_long, ret: *mut c_long) -> c_int;

/// `lkl_syscall_quick`'s address ([`enable_quick`]); null: no quick route.
static QUICK_ENTRY: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

/// Calls that took the quick route, and the full one (`lklstat`).
static QUICK_CALLS: AtomicU32 = AtomicU32::new(0);
static FULL_CALLS: AtomicU32 = AtomicU32::new(0);

/// How many LKL syscalls took the quick route and how many `lkl_syscall`.
pub fn route_counts() -> (u32, u32) {
    (QUICK_CALLS.load(Ordering::Relaxed), FULL_CALLS.load(Ordering::Relaxed))
}

/// The patch's syscall that returns `lkl_syscall_quick`'s address
/// (`__NR_arch_specific_syscall + 2`: lkl.o keeps only arch/lkl/Makefile's
/// own entry points global, so it cannot be linked by name).
const NR_SYSCALL_QUICK_ENTRY: c_long = 246;

/// Asks LKL for its quick syscall route (once, after [`start`]). False when
/// this LKL has none (its tree without our patches): every call then takes
/// `lkl_syscall`.
pub fn enable_quick() -> bool {
    let mut none = [0 as c_long; 6];
    // SAFETY: as for `syscall_ints`: LKL is started, no argument is a pointer.
    let entry = unsafe { lkl_syscall(NR_SYSCALL_QUICK_ENTRY, none.as_mut_ptr()) } as usize;
    // An LKL without the patch answers -ENOSYS; an address outside our code
    // would be some other syscall's answer, never a function to call.
    let code = crate::layout::kernel_readonly();
    if !(code.start..code.end).contains(&(entry as u64)) {
        return false;
    }
    QUICK_ENTRY.store(entry as *mut (), Ordering::Release);
    true
}

/// Runs LKL syscall `nr` on LKL's quick route ([`enable_quick`]): Some
/// (LKL's raw result) when it ran; None when nothing ran (no quick route,
/// LKL's CPU not free, or the calling thread's host task not current: the
/// full route, [`syscall_ints`], is then the way). Never waits before the
/// call runs; the call itself, and giving LKL's CPU up after it, may.
/// Inlined: the trap's quick forwarded calls make no call layer for it.
#[inline]
pub fn syscall_quick(nr: u32, ints: &[isize; 6]) -> Option<isize> {
    quick(nr, ints)
}

#[inline]
fn quick(nr: u32, params: &[isize; 6]) -> Option<isize> {
    let entry = QUICK_ENTRY.load(Ordering::Acquire);
    if entry.is_null() {
        return None;
    }
    let me = super::host::registered_thread_self()?;
    let mut ret: c_long = 0;
    // SAFETY: a non-null QUICK_ENTRY is the address LKL's syscall
    // NR_SYSCALL_QUICK_ENTRY returned, inside our code (enable_quick): our
    // patch's `int lkl_syscall_quick(lkl_thread_t, long, long *, long *)`.
    let entry = unsafe { core::mem::transmute::<*mut (), QuickEntry>(entry) };
    // SAFETY: `me` is the calling thread's id (the registered word: what
    // thread_self returns in it), as the route requires; `params` is as for
    // `lkl_syscall` (see `syscall`/`syscall_ints`: numbers, or buffers
    // borrowed by the caller until we return), and the route only reads the
    // array (it passes the six values to the syscall's handler), so a shared
    // borrow is enough (no copy of the caller's array); `ret` is a local.
    let ran = unsafe { entry(me.get() as c_ulong, nr as c_long, params.as_ptr().cast_mut() as *mut c_long, &mut ret) };
    if ran == 0 {
        return None;
    }
    QUICK_CALLS.fetch_add(1, Ordering::Relaxed);
    Some(ret as isize)
}

/// Runs LKL syscall `nr` with `params` in the calling thread's own host task:
/// the quick route when it can, else `lkl_syscall`.
fn run(nr: u32, params: &mut [isize; 6]) -> isize {
    if let Some(ret) = quick(nr, params) {
        return ret;
    }
    FULL_CALLS.fetch_add(1, Ordering::Relaxed);
    // SAFETY: LKL is started (os calls us only when it is up); `params` as
    // the callers state (numbers, or kernel buffers borrowed until we
    // return); LKL reads and may write the array, which outlives the call.
    unsafe { lkl_syscall(nr as c_long, params.as_mut_ptr() as *mut c_long) as isize }
}

/// Runs LKL syscall `nr` in the calling task's own LKL host task; returns
/// LKL's raw result (`-errno` on failure). At most six arguments.
///
/// Every pointer LKL sees is a kernel buffer borrowed from `args` for the
/// call; the caller pairs each buffer with the length argument the syscall
/// reads (LKL trusts lengths, as Linux trusts a process's own pointers).
pub fn syscall(nr: u32, args: &mut [Arg<'_>]) -> isize {
    assert!(args.len() <= 6, "an LKL syscall takes at most 6 arguments");
    // Filled one by one (no zeroed array first): the compiler zeroes an
    // array with SSE stores, and the kernel's first SSE instruction in a
    // syscall costs a #NM trap and a save and restore of the program's FPU
    // state (see crate::fpu).
    // Every pointer in `params` is a live kernel buffer borrowed mutably or
    // immutably by `args` until we return, so LKL's reads and writes land in
    // memory the caller handed over for exactly this call.
    let mut params: [isize; 6] = core::array::from_fn(|i| args.get_mut(i).map_or(0, |a| a.as_long()));
    run(nr, &mut params)
}

/// [`syscall`] with plain numbers only (descriptors, ids, flags: what
/// [`Arg::Int`] carries), passed as they are: no `Arg` to convert, for the
/// forwarded calls without a buffer (getuid32, close, dup2...). Unused
/// trailing values are 0.
pub fn syscall_ints(nr: u32, mut ints: [isize; 6]) -> isize {
    // The values are numbers, as with `Arg::Int`: no pointer of ours is
    // handed over.
    run(nr, &mut ints)
}
