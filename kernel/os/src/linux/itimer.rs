//! ITIMER_REAL, the timer behind `alarm` and `setitimer`: SIGALRM to the
//! process once its value has passed, then every interval. One per
//! process, kept across execve, not inherited by fork, gone at exit. Each
//! expiry is a one-shot [`crate::timer`] whose callback posts the signal
//! (and re-arms an interval timer); a generation number makes a callback
//! that lost a race with a re-arm or a cancel do nothing.

use alloc::collections::BTreeMap;
use core::time::Duration;

use crate::hal::sync::IrqMutex;
use crate::sched::Pid;
use crate::timer::{self, TimerId};

use super::signal::{SigInfo, SIGALRM};

struct RealTimer {
    /// Monotonic time of the next expiry.
    deadline: Duration,
    interval: Duration,
    timer: TimerId,
    generation: u64,
}

struct Timers {
    by_pid: BTreeMap<Pid, RealTimer>,
    next_generation: u64,
}

static TIMERS: IrqMutex<Timers> = IrqMutex::new(Timers { by_pid: BTreeMap::new(), next_generation: 0 });

/// (time left, interval) of process `pid`'s timer; zeros when disarmed.
pub fn get(pid: Pid) -> (Duration, Duration) {
    let now = super::env::monotonic();
    TIMERS.lock().by_pid.get(&pid).map_or((Duration::ZERO, Duration::ZERO), |t| {
        // An armed timer never reads as zero (it has not fired yet).
        let left = t.deadline.saturating_sub(now).max(Duration::from_micros(1));
        (left, t.interval)
    })
}

/// Arms (value > 0) or disarms (value 0) the timer of `pid`; returns what
/// [`get`] said before.
pub fn set(pid: Pid, value: Duration, interval: Duration) -> (Duration, Duration) {
    let old = get(pid);
    clear(pid);
    if !value.is_zero() {
        arm(pid, value, interval);
    }
    old
}

/// Disarms the timer of `pid` (the process ended).
pub fn clear(pid: Pid) {
    let old = TIMERS.lock().by_pid.remove(&pid);
    if let Some(old) = old {
        timer::cancel(old.timer);
    }
}

fn arm(pid: Pid, delay: Duration, interval: Duration) {
    let deadline = super::env::monotonic() + delay;
    let mut timers = TIMERS.lock();
    let generation = timers.next_generation;
    timers.next_generation += 1;
    let id = timer::after(delay, move || fire(pid, generation));
    timers.by_pid.insert(pid, RealTimer { deadline, interval, timer: id, generation });
}

/// The timer of `pid` expired (timer thread): SIGALRM, and the next round.
fn fire(pid: Pid, generation: u64) {
    let interval = {
        let mut timers = TIMERS.lock();
        match timers.by_pid.get(&pid) {
            Some(t) if t.generation == generation => {
                let interval = t.interval;
                if interval.is_zero() {
                    timers.by_pid.remove(&pid);
                }
                Some(interval)
            }
            _ => None,
        }
    };
    let Some(interval) = interval else { return };
    if super::send_signal(super::Target::Pid(pid), SIGALRM, SigInfo::kernel()).is_err() {
        clear(pid);
        return;
    }
    if interval.is_zero() {
        return;
    }
    // The next round, unless a set/clear replaced this timer meanwhile.
    let now = super::env::monotonic();
    let mut timers = TIMERS.lock();
    let next_generation = timers.next_generation;
    if let Some(t) = timers.by_pid.get_mut(&pid).filter(|t| t.generation == generation) {
        t.generation = next_generation;
        t.deadline = now + interval;
        t.timer = timer::after(interval, move || fire(pid, next_generation));
        timers.next_generation += 1;
    }
}
