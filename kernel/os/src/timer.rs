//! One-shot timers: run a closure in task context once a delay has passed
//! (the timer service LKL's host operations need).
//!
//! Deadlines are on the monotonic clock (`time::since_boot`, the TSC), so a
//! timer fires on the first tick after its deadline: never early, at most
//! one tick late (plus the switch to the service). Due timers are found by
//! the scheduler's tick, which wakes the `timers` kernel thread ahead of
//! every other task; callbacks run there, so they may block or allocate.

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
    /// Keyed by (deadline in ns since boot, id): the first entry is the next due.
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

fn now_ns() -> u64 {
    time::since_boot_ns()
}

/// Runs `callback` once, at least `delay` from now.
pub fn after(delay: Duration, callback: impl FnOnce() + Send + 'static) -> TimerId {
    // A tick deadline (`ticks() + n + 1`, as before) made a 1 ms timer
    // fire 2-3 ms later at 1000 Hz; on the nanosecond clock it is due at
    // the first tick past its deadline.
    let deadline = now_ns().saturating_add(u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX));
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

/// Called on every tick (interrupt context): the service to wake, if a
/// timer is due.
pub(crate) fn tick() -> Option<Pid> {
    let timers = TIMERS.lock();
    match timers.armed.keys().next() {
        Some(&(deadline, _)) if deadline <= now_ns() => timers.service,
        _ => None,
    }
}

fn service() {
    loop {
        let due = {
            let mut timers = TIMERS.lock();
            match timers.armed.first_key_value() {
                Some((&(deadline, _), _)) if deadline <= now_ns() => timers.armed.pop_first().map(|(_, cb)| cb),
                _ => None,
            }
        };
        match due {
            Some(callback) => callback(),
            None => crate::hal::cpu::without_interrupts(|| {
                // Checked again with interrupts masked, so a tick between the
                // check and the block cannot be missed.
                let pending = TIMERS.lock().armed.first_key_value().is_some_and(|(&(d, _), _)| d <= now_ns());
                if !pending {
                    sched::block(None);
                }
            }),
        }
    }
}
