//! Starting LKL and calling its syscalls (only with the `lkl` feature, when
//! `kernel/build.rs` links LKL's `lkl.o` and the C host-ops table).

use super::Arg;
use core::ffi::{c_char, c_int, c_long, c_ulong, CStr};

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
    let mut params: [c_long; 6] = core::array::from_fn(|i| args.get_mut(i).map_or(0, |a| a.as_long() as c_long));
    // SAFETY: LKL is started (os calls this only when it is up); every
    // pointer in `params` is a live kernel buffer borrowed mutably or
    // immutably by `args` until we return, so LKL's reads and writes land in
    // memory the caller handed over for exactly this call.
    unsafe { lkl_syscall(nr as c_long, params.as_mut_ptr()) as isize }
}

/// [`syscall`] with plain numbers only (descriptors, ids, flags: what
/// [`Arg::Int`] carries), passed as they are: no `Arg` to convert, for the
/// forwarded calls without a buffer (getuid32, close, dup2...). Unused
/// trailing values are 0.
pub fn syscall_ints(nr: u32, mut ints: [isize; 6]) -> isize {
    // SAFETY: LKL is started (os calls this only when it is up); the values
    // are numbers, as with `Arg::Int`: no pointer of ours is handed over.
    // LKL reads (and may write back) `ints`, a local array that lives until
    // it returns.
    unsafe { lkl_syscall(nr as c_long, ints.as_mut_ptr() as *mut c_long) as isize }
}
