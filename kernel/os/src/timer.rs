//! One-shot timers: run a closure in task context once a delay has passed
//! (the timer service LKL's host operations need; tick resolution).
//!
//! Due timers are found by the scheduler's tick, which wakes the `timers`
//! kernel thread; callbacks run there, so they may block or allocate.

use crate::hal::{sync::IrqMutex, time};
use crate::sched::{self, Pid};
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use core::time::Duration;

type Callback = Box<dyn FnOnce() + Send>;

/// Identifies an armed timer, for [`cancel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimerId(u64);

struct Timers {
    /// Keyed by (deadline tick, id): the first entry is the next due.
    armed: BTreeMap<(u64, TimerId), Callback>,
    next_id: u64,
    service: Option<Pid>,
}

static TIMERS: IrqMutex<Timers> = IrqMutex::new(Timers { armed: BTreeMap::new(), next_id: 0, service: None });

/// Starts the timer service thread.
pub(crate) fn init() {
    let pid = sched::spawn("timers", service);
    TIMERS.lock().service = Some(pid);
}

fn ticks_for(delay: Duration) -> u64 {
    let hz = time::timer_hz() as u128;
    ((delay.as_nanos() * hz).div_ceil(1_000_000_000) as u64).max(1)
}

/// Runs `callback` once, at least `delay` from now.
pub fn after(delay: Duration, callback: impl FnOnce() + Send + 'static) -> TimerId {
    // +1: the current tick is partly over, so `ticks() + n` could come
    // up to a tick early.
    let deadline = time::ticks() + ticks_for(delay) + 1;
    let mut timers = TIMERS.lock();
    let id = TimerId(timers.next_id);
    timers.next_id += 1;
    timers.armed.insert((deadline, id), Box::new(callback));
    id
}

/// Disarms a timer; false if it already ran (or never existed).
pub fn cancel(id: TimerId) -> bool {
    let mut timers = TIMERS.lock();
    let key = timers.armed.keys().find(|(_, i)| *i == id).copied();
    key.is_some_and(|k| timers.armed.remove(&k).is_some())
}

/// Called on every tick (interrupt context): wake the service if a timer is due.
pub(crate) fn tick(now: u64) -> Option<Pid> {
    let timers = TIMERS.lock();
    match timers.armed.keys().next() {
        Some(&(deadline, _)) if deadline <= now => timers.service,
        _ => None,
    }
}

fn service() {
    loop {
        let due = {
            let mut timers = TIMERS.lock();
            match timers.armed.first_key_value() {
                Some((&(deadline, _), _)) if deadline <= time::ticks() => timers.armed.pop_first().map(|(_, cb)| cb),
                _ => None,
            }
        };
        match due {
            Some(callback) => callback(),
            None => crate::hal::cpu::without_interrupts(|| {
                // Checked again with interrupts masked, so a tick between the
                // check and the block cannot be missed.
                let pending = TIMERS.lock().armed.first_key_value().is_some_and(|(&(d, _), _)| d <= time::ticks());
                if !pending {
                    sched::block(None);
                }
            }),
        }
    }
}
