//! POSIX per-process timers (timer_create and friends) on CLOCK_REALTIME,
//! CLOCK_MONOTONIC and the CPU-time clocks. An armed wall-clock timer is a
//! one-shot [`crate::timer`] whose callback posts the timer's signal
//! (SIGEV_SIGNAL to the process, SIGEV_THREAD_ID to one of its threads;
//! SIGEV_NONE posts nothing) with SI_TIMER, the timer's id and value, then
//! re-arms an interval timer; a generation number makes a callback that
//! lost a race with a re-arm or a delete do nothing. A CPU-clock timer's
//! clock moves only while its thread or process runs, so the timer tick
//! checks it ([`cpu_tick`], for the running thread and its process), as
//! Linux's run_posix_cpu_timers does. As on Linux, while a timer's signal waits to be
//! taken its further expiries are only counted: the count becomes the
//! signal's si_overrun when a thread takes it ([`delivered`]), and
//! timer_getoverrun's answer. Timers are not inherited by fork and go at
//! execve and at the end of the process.

use alloc::collections::BTreeMap;
use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;

use embox_abi::Errno;

use crate::hal::sync::IrqMutex;
use crate::sched::Pid;
use crate::timer::{self, TimerId};

use super::signal::SigInfo;
use super::CpuClock;

/// `si_code` of a timer's signal.
pub const SI_TIMER: i32 = -2;
/// Most timers a process may have at once (EAGAIN past it).
pub const MAX_TIMERS: usize = 64;

/// What an expiry does (`struct sigevent`'s notify).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notify {
    /// SIGEV_NONE: nothing; timer_gettime shows the time left.
    None,
    /// SIGEV_SIGNAL (`thread` None) or SIGEV_THREAD_ID (that thread).
    Signal { signo: u32, value: u32, thread: Option<Pid> },
}

/// The clock a timer counts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerClock {
    /// CLOCK_REALTIME: absolute times are wall-clock times.
    Realtime,
    /// CLOCK_MONOTONIC (and CLOCK_BOOTTIME).
    Monotonic,
    /// A thread's or a process's CPU time.
    Cpu(CpuClock),
}

/// When timer_settime says a timer expires first.
#[derive(Clone, Copy, Debug)]
pub enum Expiry {
    /// This long from now.
    In(Duration),
    /// When the timer's clock reads this (TIMER_ABSTIME).
    At(Duration),
}

struct PosixTimer {
    clock: TimerClock,
    notify: Notify,
    /// The next expiry, None while disarmed: monotonic time for the wall
    /// clocks, the CPU clock's reading for a CPU-clock timer.
    deadline: Option<Duration>,
    interval: Duration,
    timer: Option<TimerId>,
    generation: u64,
    /// The timer's signal is posted and not yet taken.
    signal_pending: bool,
    /// Expiries while it was pending.
    overrun: u32,
    /// The overrun count the last taken signal carried.
    overrun_last: u32,
}

struct Timers {
    /// Keyed by (process, timer id).
    by_id: BTreeMap<(Pid, u32), PosixTimer>,
    /// Each process's next timer id (Linux counts up from 0 and does not
    /// reuse a deleted one at once).
    next_id: BTreeMap<Pid, u32>,
    next_generation: u64,
}

static TIMERS: IrqMutex<Timers> = IrqMutex::new(Timers { by_id: BTreeMap::new(), next_id: BTreeMap::new(), next_generation: 0 });
/// How many CPU-clock timers are armed, so the tick looks at none while
/// there are none. Written under the TIMERS lock.
static CPU_ARMED: AtomicU32 = AtomicU32::new(0);

/// True while some CPU-clock timer is armed ([`cpu_tick`] has work).
pub fn cpu_timers_armed() -> bool {
    CPU_ARMED.load(Ordering::Relaxed) != 0
}

fn count_cpu_armed(timers: &Timers) {
    let armed = timers.by_id.values().filter(|t| matches!(t.clock, TimerClock::Cpu(_)) && t.deadline.is_some()).count();
    CPU_ARMED.store(armed as u32, Ordering::Relaxed);
}

/// What `clock` reads now on the scale of a timer's deadline (monotonic
/// time for the wall clocks); None once a CPU clock's thread or process
/// is gone.
fn now_on(clock: TimerClock) -> Option<Duration> {
    match clock {
        TimerClock::Realtime | TimerClock::Monotonic => Some(super::env::monotonic()),
        TimerClock::Cpu(c) => super::cpu_clock_ns(c).map(Duration::from_nanos),
    }
}

fn clock_of(tgid: Pid, id: u32) -> Result<TimerClock, Errno> {
    TIMERS.lock().by_id.get(&(tgid, id)).map(|t| t.clock).ok_or(Errno::EINVAL)
}

/// timer_create for process `tgid`: the new timer's id. `notify` is given
/// the id (without a sigevent, the signal's value is the id). EAGAIN past
/// [`MAX_TIMERS`].
pub fn create(tgid: Pid, clock: TimerClock, notify: impl FnOnce(u32) -> Notify) -> Result<u32, Errno> {
    let mut timers = TIMERS.lock();
    let mine = timers.by_id.range((tgid, 0)..=(tgid, u32::MAX)).count();
    if mine >= MAX_TIMERS {
        return Err(Errno::EAGAIN);
    }
    let mut id = timers.next_id.get(&tgid).copied().unwrap_or(0);
    while timers.by_id.contains_key(&(tgid, id)) {
        id = (id + 1) & i32::MAX as u32;
    }
    timers.next_id.insert(tgid, (id + 1) & i32::MAX as u32);
    let timer = PosixTimer {
        clock,
        notify: notify(id),
        deadline: None,
        interval: Duration::ZERO,
        timer: None,
        generation: 0,
        signal_pending: false,
        overrun: 0,
        overrun_last: 0,
    };
    timers.by_id.insert((tgid, id), timer);
    Ok(id)
}

/// (time left, interval) of a timer; zeros when disarmed (and for a CPU
/// clock whose thread or process is gone). EINVAL: no such timer.
pub fn get(tgid: Pid, id: u32) -> Result<(Duration, Duration), Errno> {
    // The clock is read without TIMERS held (a CPU clock takes the
    // process table's lock, which the tick holds before TIMERS).
    let now = now_on(clock_of(tgid, id)?);
    let timers = TIMERS.lock();
    let t = timers.by_id.get(&(tgid, id)).ok_or(Errno::EINVAL)?;
    let Some(now) = now else { return Ok((Duration::ZERO, t.interval)) };
    let left = match t.deadline {
        None => Duration::ZERO,
        Some(d) if d > now => d - now,
        // Due and not yet fired: a signalling timer reads 1 ns until its
        // signal is posted; a SIGEV_NONE one is computed from the clock
        // (Linux's common_timer_get), zero once a one-shot is due.
        Some(d) => match (t.notify, t.interval.is_zero()) {
            (Notify::None, true) => Duration::ZERO,
            (Notify::None, false) => {
                let interval = t.interval.as_nanos().max(1);
                Duration::from_nanos((interval - (now - d).as_nanos() % interval) as u64)
            }
            _ => Duration::from_nanos(1),
        },
    };
    Ok((left, t.interval))
}

/// Arms the timer to expire first as `first` says (None: disarms it), then
/// every `interval`; returns what [`get`] said before. ESRCH: a CPU
/// clock's thread or process is gone.
pub fn set(tgid: Pid, id: u32, first: Option<Expiry>, interval: Duration) -> Result<(Duration, Duration), Errno> {
    let old = get(tgid, id)?;
    let clock = clock_of(tgid, id)?;
    let now = now_on(clock).ok_or(Errno::ESRCH)?;
    let deadline = first.map(|first| match (first, clock) {
        (Expiry::In(delay), _) => now + delay,
        // A wall-clock deadline is kept in monotonic time.
        (Expiry::At(at), TimerClock::Realtime) => at.saturating_sub(Duration::from_nanos(super::env::realtime_offset_ns())).max(now),
        (Expiry::At(at), TimerClock::Monotonic) => at.max(now),
        (Expiry::At(at), TimerClock::Cpu(_)) => at,
    });
    let mut timers = TIMERS.lock();
    let generation = timers.next_generation;
    timers.next_generation += 1;
    let t = timers.by_id.get_mut(&(tgid, id)).ok_or(Errno::EINVAL)?;
    if let Some(old) = t.timer.take() {
        timer::cancel(old);
    }
    t.generation = generation;
    t.interval = interval;
    t.deadline = deadline;
    match (deadline, clock) {
        (_, TimerClock::Cpu(_)) => count_cpu_armed(&timers),
        (Some(deadline), _) => t.timer = Some(timer::after(deadline - now, move || fire(tgid, id, generation))),
        (None, _) => {}
    }
    Ok(old)
}

/// timer_getoverrun: the overrun count of the last signal taken.
pub fn overrun(tgid: Pid, id: u32) -> Result<u32, Errno> {
    TIMERS.lock().by_id.get(&(tgid, id)).map(|t| t.overrun_last).ok_or(Errno::EINVAL)
}

/// timer_delete. EINVAL: no such timer.
pub fn delete(tgid: Pid, id: u32) -> Result<(), Errno> {
    let t = {
        let mut timers = TIMERS.lock();
        let t = timers.by_id.remove(&(tgid, id)).ok_or(Errno::EINVAL)?;
        count_cpu_armed(&timers);
        t
    };
    if let Some(timer) = t.timer {
        timer::cancel(timer);
    }
    Ok(())
}

/// Deletes every timer of process `tgid` (execve, the end of the process).
pub fn clear(tgid: Pid) {
    let gone: alloc::vec::Vec<PosixTimer> = {
        let mut timers = TIMERS.lock();
        timers.next_id.remove(&tgid);
        let ids: alloc::vec::Vec<(Pid, u32)> = timers.by_id.range((tgid, 0)..=(tgid, u32::MAX)).map(|(k, _)| *k).collect();
        let gone = ids.iter().filter_map(|k| timers.by_id.remove(k)).collect();
        count_cpu_armed(&timers);
        gone
    };
    for t in gone {
        if let Some(timer) = t.timer {
            timer::cancel(timer);
        }
    }
}

/// A thread of process `tgid` took timer `id`'s signal: its overrun count
/// (si_overrun) is what accumulated meanwhile, and the next expiry posts
/// again.
pub fn delivered(tgid: Pid, id: u32) -> u32 {
    let mut timers = TIMERS.lock();
    let Some(t) = timers.by_id.get_mut(&(tgid, id)) else { return 0 };
    t.signal_pending = false;
    t.overrun_last = core::mem::take(&mut t.overrun);
    t.overrun_last
}

/// Timer `id` of `tgid` expired (timer thread): its signal, unless the
/// last one is still pending (then more overruns), and the next round.
fn fire(tgid: Pid, id: u32, generation: u64) {
    let post = {
        let mut timers = TIMERS.lock();
        let next_generation = timers.next_generation;
        let Some(t) = timers.by_id.get_mut(&(tgid, id)).filter(|t| t.generation == generation) else { return };
        let now = super::env::monotonic();
        let post = expire(t, now);
        t.timer = t.deadline.map(|next| {
            t.generation = next_generation;
            timer::after(next.saturating_sub(now), move || fire(tgid, id, next_generation))
        });
        if t.deadline.is_some() {
            timers.next_generation += 1;
        }
        post
    };
    if let Some(post) = post {
        post_expiry(tgid, id, post);
    }
}

/// The running thread `tid` of process `tgid` was charged a tick (interrupt
/// context; `thread` and `process` are its two CPU clocks' (user, system)
/// times now): the CPU-clock timers on them that are due expire.
pub fn cpu_tick(tid: Pid, tgid: Pid, thread: (u64, u64), process: (u64, u64)) {
    let mut posts = alloc::vec::Vec::new();
    {
        let mut timers = TIMERS.lock();
        for (&(owner, id), t) in timers.by_id.iter_mut() {
            let (TimerClock::Cpu(c), Some(deadline)) = (t.clock, t.deadline) else { continue };
            let times = match c.per_thread {
                true if c.pid == tid => thread,
                false if c.pid == tgid => process,
                _ => continue,
            };
            let now = Duration::from_nanos(c.value(times));
            if now >= deadline {
                if let Some(post) = expire(t, now) {
                    posts.push((owner, id, post));
                }
            }
        }
        count_cpu_armed(&timers);
    }
    for (owner, id, post) in posts {
        post_expiry(owner, id, post);
    }
}

/// The signal an expiry posts: (signo, value, thread).
type Post = (u32, u32, Option<Pid>);

/// Timer `t` expired at `now` on its clock: the next deadline (None for a
/// one-shot; the next round counts from this expiry, not from now), the
/// intervals that passed meanwhile counted as overruns (as Linux's
/// hrtimer_forward counts them), and the signal to post unless the last
/// one is still pending (then one more overrun).
fn expire(t: &mut PosixTimer, now: Duration) -> Option<Post> {
    let due = t.deadline.unwrap_or(now);
    let mut expiries = 1u64;
    if t.interval.is_zero() {
        t.deadline = None;
    } else {
        let interval = t.interval.as_nanos().max(1);
        let missed = (now.saturating_sub(due).as_nanos() / interval) as u64;
        expiries += missed;
        t.deadline = Some(due + Duration::from_nanos(((missed as u128 + 1) * interval).min(u64::MAX as u128) as u64));
    }
    let expiries = u32::try_from(expiries).unwrap_or(u32::MAX);
    match t.notify {
        Notify::Signal { .. } if t.signal_pending => {
            t.overrun = t.overrun.saturating_add(expiries);
            None
        }
        Notify::Signal { signo, value, thread } => {
            t.signal_pending = true;
            t.overrun = t.overrun.saturating_add(expiries - 1);
            Some((signo, value, thread))
        }
        Notify::None => None,
    }
}

/// Posts timer `id`'s signal (SI_TIMER, its id and value) to process `tgid`
/// or the thread its sigevent named.
fn post_expiry(tgid: Pid, id: u32, (signo, value, thread): Post) {
    let info = SigInfo { code: SI_TIMER, fields: [id, 0, value] };
    let target = match thread {
        Some(tid) => super::Target::Thread { tgid: Some(tgid), tid },
        None => super::Target::Pid(tgid),
    };
    if super::send_signal(target, signo, info).is_err() {
        // Nobody to take it (or no room in the queue): the next expiry
        // posts again.
        if let Some(t) = TIMERS.lock().by_id.get_mut(&(tgid, id)) {
            t.signal_pending = false;
        }
    }
}
