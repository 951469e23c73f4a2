//! LKL, the Linux kernel as a library, inside our kernel.
//!
//! With the `lkl` feature (template `x86/lkl-qemu`) `kernel/build.rs` links
//! LKL's `lkl.o`; [`init`] boots it in the `lkl` task at start-up with the
//! template's memory size, copies the initramfs into its root file system
//! (so a forwarded `open("/bin/x")` sees the same files as the native VFS)
//! and logs its banner and boot time. The shell waits for that
//! ([`wait_booted`]) before its first prompt. [`syscall`] is how the rest of
//! the kernel calls LKL (see /work/team/lkl-interface.md).
//!
//! The host operations LKL runs on are in [`host`], in every build: the
//! `lklhosttest` command ([`selftest`]) drives them the way LKL does.

pub mod fs;
pub(crate) mod host;
mod mmio_selftest;
mod selftest;

use crate::hal::sync::IrqMutex;
use crate::sync::WaitQueue;
use core::sync::atomic::{AtomicU32, Ordering};
use embox_abi::Errno;

pub use crate::hal::lkl::Arg;

/// Where LKL is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// The kernel was built without LKL (template without `lkl`).
    NotBuilt,
    /// `lkl_start_kernel` is running.
    Booting,
    /// LKL runs; syscalls may be forwarded.
    Up,
    /// LKL could not start (`-errno` from `lkl_start_kernel`).
    Failed(i32),
}

static STATE: IrqMutex<State> = IrqMutex::new(State::NotBuilt);
static BOOTED: WaitQueue = WaitQueue::new();

/// LKL's state now.
pub fn state() -> State {
    *STATE.lock()
}

/// [`State::Up`], readable without a lock (every forwarded call checks it).
static UP: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// True once LKL is up.
pub fn is_up() -> bool {
    UP.load(core::sync::atomic::Ordering::Acquire)
}

/// Blocks until LKL's boot has finished (or returns at once if there is no
/// LKL); returns the final state.
pub fn wait_booted() -> State {
    BOOTED.wait_until(|| !matches!(*STATE.lock(), State::Booting));
    state()
}

/// Runs LKL syscall `nr` (LKL's asm-generic number) in the calling task's
/// own LKL host task; returns LKL's result (>= 0, or -errno from Linux).
/// `Err(ENOSYS)` when LKL is not built in or not up. See
/// [`crate::hal::lkl::kernel::syscall`] for the buffer contract.
pub fn syscall(nr: u32, args: &mut [Arg<'_>]) -> Result<isize, Errno> {
    #[cfg(feature = "lkl")]
    return when_up(|| interrupt::syscall(nr, args));
    #[cfg(not(feature = "lkl"))]
    {
        let _ = (nr, args);
        Err(Errno::ENOSYS)
    }
}

/// [`syscall`] that a signal posted to the calling thread does not end (no
/// kick, no check first): for the chunks of a regular file's read or write,
/// which Linux moves to the end before it delivers a signal.
pub fn syscall_steady(nr: u32, args: &mut [Arg<'_>]) -> Result<isize, Errno> {
    #[cfg(feature = "lkl")]
    return when_up(|| crate::hal::lkl::kernel::syscall(nr, args));
    #[cfg(not(feature = "lkl"))]
    {
        let _ = (nr, args);
        Err(Errno::ENOSYS)
    }
}

/// [`syscall`] with plain numbers only ([`crate::hal::lkl::kernel::syscall_ints`]):
/// the forwarded calls without a buffer take this shorter way, LKL's quick
/// route first ([`syscall_quick`]) when the call cannot sleep in LKL.
pub fn syscall_ints(nr: u32, ints: [isize; 6]) -> Result<isize, Errno> {
    #[cfg(feature = "lkl")]
    return match if may_sleep(nr) { None } else { syscall_quick(nr, &ints) } {
        Some(ret) => Ok(ret),
        None => when_up(|| interrupt::syscall_ints(nr, ints)),
    };
    #[cfg(not(feature = "lkl"))]
    {
        let _ = (nr, ints);
        Err(Errno::ENOSYS)
    }
}

/// For the trap path's quick forwarded calls (plain numbers, called with
/// interrupts masked): runs LKL syscall `nr` on LKL's quick route and gives
/// its result, or None having done nothing (LKL not up; LKL's CPU not free;
/// the thread's LKL host task not current, e.g. its first call). Never
/// waits before the call runs; LKL may block the thread after it ran (giving
/// its CPU up the full way: interrupts, scheduling). `nr` is not a call
/// that [`may_sleep`] (those keep the kickable [`syscall_ints`]): the
/// trap's table checks that at compile time, so the check is not made here
/// on every call (~4 guest instructions).
pub fn syscall_quick(nr: u32, ints: &[isize; 6]) -> Option<isize> {
    #[cfg(feature = "lkl")]
    {
        // No `is_up()`: the route exists only once LKL has started (hal's
        // `enable_quick`, in the boot task, before any program runs).
        let ret = crate::hal::lkl::kernel::syscall_quick(nr, ints)?;
        STATS.calls.fetch_add(1, Ordering::Relaxed);
        Some(ret)
    }
    #[cfg(not(feature = "lkl"))]
    {
        let _ = (nr, ints);
        None
    }
}

/// The calls that may sleep in LKL, by LKL's number: one load on the path
/// of every forwarded call.
const MAY_SLEEP: [bool; 512] = {
    use embox_lkl_abi::nr::*;
    // read 63, readv 65, pread64 67, openat 56 (a FIFO), sendfile 71,
    // accept 202; the rest are named in embox_lkl_abi.
    let sleepers = [
        56, 63, 64, 65, 71, 202, WRITEV, PREAD64, PWRITE64, PPOLL, FLOCK, FCNTL64, CONNECT, SENDTO, RECVFROM, SENDMSG, RECVMSG, ACCEPT4,
    ];
    let mut table = [false; 512];
    let mut i = 0;
    while i < sleepers.len() {
        table[sleepers[i] as usize] = true;
        i += 1;
    }
    table
};

/// Whether LKL call `nr` may sleep in LKL (then a signal must be able to
/// kick it: [`syscall_ints`] keeps it off [`syscall_quick`]). `const`: the
/// trap's table checks its quickly forwarded calls at compile time.
pub const fn may_sleep(nr: u32) -> bool {
    (nr as usize) < MAY_SLEEP.len() && MAY_SLEEP[nr as usize]
}

/// LKL's `ppoll` for a poll/select that also waits on our own objects (see
/// [`interrupt::poll_mixed`]): LKL's result, or 0 when the caller should
/// rescan both sides. `Err(ENOSYS)` when LKL is not up.
pub fn poll_mixed(args: &mut [Arg<'_>], ours_ready: &mut dyn FnMut() -> bool) -> Result<isize, Errno> {
    #[cfg(feature = "lkl")]
    return when_up(|| interrupt::poll_mixed(args, ours_ready));
    #[cfg(not(feature = "lkl"))]
    {
        let _ = (args, ours_ready);
        Err(Errno::ENOSYS)
    }
}

/// Runs `call` (into LKL) when LKL is up, counting it for `lklstat`.
#[cfg(feature = "lkl")]
fn when_up(call: impl FnOnce() -> isize) -> Result<isize, Errno> {
    if !is_up() {
        return Err(Errno::ENOSYS);
    }
    STATS.calls.fetch_add(1, Ordering::Relaxed);
    Ok(call())
}

/// One of our own objects may have become ready (`wait::notify`): threads
/// sleeping in LKL for a poll/select that also waits on ours are kicked out
/// to rescan. Never blocks; callable with interrupts masked; a single load
/// when no thread waits that way (or without LKL).
pub fn poll_wake_all() {
    #[cfg(feature = "lkl")]
    interrupt::poll_wake_all();
}

/// Counters of the syscall layer's use of LKL (`lklstat`). 32-bit: a 64-bit
/// atomic is an SSE instruction on i686 (a #NM trap in a syscall).
pub struct Stats {
    /// LKL syscalls made for programs (forwarded calls and their helpers).
    pub calls: AtomicU32,
    /// Mixed poll/select waits that slept in LKL.
    pub poll_sleeps: AtomicU32,
    /// Of those, the ones a change of our own objects woke.
    pub poll_wakes: AtomicU32,
    /// Host timers that fired into LKL (its clockevent: the HZ tick while
    /// LKL runs, its next timer while it does not).
    pub timer_fires: AtomicU32,
}

pub static STATS: Stats = Stats {
    calls: AtomicU32::new(0),
    poll_sleeps: AtomicU32::new(0),
    poll_wakes: AtomicU32::new(0),
    timer_fires: AtomicU32::new(0),
};

fn lklstat(_: &mut crate::shell::Shell, _: &[alloc::string::String]) -> i32 {
    crate::println!(
        "lkl: {:?}; {} calls; mixed poll/select: {} sleeps in LKL, {} woken for ours; {} timer interrupts",
        state(),
        STATS.calls.load(Ordering::Relaxed),
        STATS.poll_sleeps.load(Ordering::Relaxed),
        STATS.poll_wakes.load(Ordering::Relaxed),
        STATS.timer_fires.load(Ordering::Relaxed)
    );
    #[cfg(feature = "lkl")]
    {
        let (quick, full) = crate::hal::lkl::kernel::route_counts();
        crate::println!("lkl: syscalls into LKL (programs' and the kernel's): {quick} on the quick route, {full} through lkl_syscall");
    }
    0
}

/// One line of LKL's console: kept in dmesg; the banner and errors also go
/// to the console.
pub(crate) fn log_line(line: &str) {
    let text = line.trim_start_matches(|c: char| c == '[' || c.is_ascii_digit() || c == '.' || c == ' ' || c == ']');
    if text.starts_with("Linux version") || line.contains("error") || line.contains("BUG") || line.contains("panic") {
        crate::klog!("lkl: {}", line);
    } else {
        crate::klog::record(format_args!("lkl: {}", line));
    }
}

/// Registers the host operations and the `lklhosttest` command; with LKL
/// built in, starts the `lkl` boot task.
pub(crate) fn init(memory_mib: u32, cmdline: &'static str) {
    static HOST_OPS: &dyn crate::hal::lkl::Host = &host::HOST;
    crate::hal::lkl::set_host(&HOST_OPS);
    crate::hal::lkl::set_thread_word(crate::sched::current_pid_word());
    crate::shell::register(crate::shell::Command {
        name: "lklstat",
        usage: "lklstat",
        summary: "LKL's state and how many syscalls programs made in it",
        redirects: false,
        run: lklstat,
    });
    selftest::register();
    mmio_selftest::register();
    #[cfg(feature = "lkl")]
    {
        *STATE.lock() = State::Booting;
        let pid = crate::sched::spawn("lkl-boot", move || boot::run(memory_mib, cmdline));
        crate::sched::with_task(pid, |t| t.detached = true);
    }
    #[cfg(not(feature = "lkl"))]
    let _ = (memory_mib, cmdline);
}

#[cfg(feature = "lkl")]
mod boot;
#[cfg(feature = "lkl")]
mod interrupt;
pub mod task;
#[cfg(feature = "lkl")]
pub mod netdev;

/// A signal that ends blocking calls was posted to thread `pid`: if it is
/// blocked inside LKL, LKL is made to end the call (EINTR). Called with
/// interrupts masked; never blocks.
pub fn interrupt(pid: crate::sched::Pid) {
    #[cfg(feature = "lkl")]
    interrupt::interrupt(pid);
    #[cfg(not(feature = "lkl"))]
    let _ = pid;
}

#[cfg(feature = "lkl")]
fn finish_boot(state: State) {
    *STATE.lock() = state;
    UP.store(state == State::Up, core::sync::atomic::Ordering::Release);
    BOOTED.wake_all();
}
