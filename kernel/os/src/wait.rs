//! Waiting for "something changed" among the objects a blocking socket call
//! or poll/select watches: the kernel's sockets (after every poll of the
//! net thread), pipes, AF_UNIX sockets and posted signals (signalfd).
//!
//! One registry of sleeping tasks: a waiter checks its condition with
//! interrupts masked, registers and blocks; [`notify`] wakes every
//! registered task, which checks again. A change on any of those objects
//! calls [`notify`], so poll/select over them sleep until one changes (or
//! the time is up, or a signal ends the call) instead of re-checking on a
//! timer. Wake-all keeps it simple: waiters are few, and a waiter woken for
//! someone else's change checks and sleeps again.

use crate::hal::{cpu, sync::IrqMutex, time};
use crate::sched::{self, Pid};
use alloc::vec::Vec;
use core::time::Duration;
use embox_abi::Errno;

/// Tasks waiting for a change.
static WAITERS: IrqMutex<Vec<Pid>> = IrqMutex::new(Vec::new());

/// Something a waiter may be waiting for changed: wakes every waiter. Any
/// context (interrupts masked, object locks held): it only moves pids.
pub fn notify() {
    let waiters = core::mem::take(&mut *WAITERS.lock());
    for pid in waiters {
        sched::wake(pid);
    }
    // A poll/select mixing LKL's descriptors with ours sleeps in LKL: kick it.
    crate::lkl::poll_wake_all();
}

/// Blocks the running task until `ready()` (checked after every [`notify`]).
pub fn wait_until(ready: impl FnMut() -> bool) {
    let _ = wait(ready, None, false);
}

/// Like [`wait_until`], giving up at `deadline` (time since boot). Returns
/// whether `ready()` became true.
pub fn wait_until_or(ready: impl FnMut() -> bool, deadline: Duration) -> bool {
    wait(ready, Some(deadline), false).unwrap_or(false)
}

/// A Linux program's blocking call: like [`wait_until`] (up to `deadline`
/// when given; Ok(false) then), but EINTR as soon as a signal is to end the
/// call (the signal's sender wakes the thread).
pub fn wait_interruptible(ready: impl FnMut() -> bool, deadline: Option<Duration>) -> Result<bool, Errno> {
    wait(ready, deadline, true)
}

fn wait(mut ready: impl FnMut() -> bool, deadline: Option<Duration>, interruptible: bool) -> Result<bool, Errno> {
    // Checked with `ready`, with interrupts off, so that a signal posted
    // just before the thread sleeps still ends the wait.
    let interrupted = core::cell::Cell::new(false);
    let mut check = || {
        interrupted.set(interruptible && crate::linux::interrupted());
        interrupted.get() || ready()
    };
    loop {
        let until_tick = match deadline {
            Some(deadline) => {
                let now = time::since_boot();
                if now >= deadline {
                    let done = check();
                    return if interrupted.get() { Err(Errno::EINTR) } else { Ok(done) };
                }
                Some(time::ticks() + ticks_for(deadline - now))
            }
            None => None,
        };
        if wait_step(&mut check, until_tick) {
            return if interrupted.get() { Err(Errno::EINTR) } else { Ok(true) };
        }
    }
}

/// Checks `ready` and, if false, sleeps until the next [`notify`] or `until_tick`.
fn wait_step(ready: &mut impl FnMut() -> bool, until_tick: Option<u64>) -> bool {
    cpu::without_interrupts(|| {
        if ready() {
            return true;
        }
        let me = sched::current_pid();
        WAITERS.lock().push(me);
        sched::block(until_tick);
        WAITERS.lock().retain(|p| *p != me);
        false
    })
}

/// Timer ticks covering `d` (at least one).
pub fn ticks_for(d: Duration) -> u64 {
    ((d.as_micros() as u64 * u64::from(time::timer_hz())).div_ceil(1_000_000)).max(1)
}

/// An object whose own blocked callers wait on `queue` changed (a pipe, an
/// AF_UNIX socket): wakes them, and the pollers.
pub fn changed(queue: &crate::sync::WaitQueue) {
    queue.wake_all();
    notify();
}
