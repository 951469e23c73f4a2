//! POSIX timers: timer_create, timer_settime and timer_gettime (32-bit
//! and time64 forms), timer_getoverrun, timer_delete, on CLOCK_REALTIME,
//! CLOCK_MONOTONIC (CLOCK_BOOTTIME counts as monotonic) and the CPU-time
//! clocks (the caller's process or thread, or the pid-encoded ids of
//! clock_getcpuclockid and pthread_getcpuclockid). The timers themselves
//! are [`crate::linux::posix_timer`].

use core::time::Duration;

use embox_abi::consts::clock::{CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_REALTIME};
use embox_abi::consts::signal::NSIG;
use embox_abi::errno::SysResult;
use embox_abi::Errno;
use zerocopy::little_endian::U32;

use super::user::UserPtr;
use crate::linux::posix_timer::{self, Expiry, Notify, TimerClock};
use crate::linux::process::Process;
use crate::linux::{self, signal::SIGALRM};

const SIGEV_SIGNAL: u32 = 0;
const SIGEV_NONE: u32 = 1;
const SIGEV_THREAD: u32 = 2;
const SIGEV_THREAD_ID: u32 = 4;
const TIMER_ABSTIME: u32 = 1;

/// The head of `struct sigevent` (i386): sigev_value, sigev_signo,
/// sigev_notify, then the union's first word (the thread id of
/// SIGEV_THREAD_ID).
type Sigevent = [u32; 4];

/// `struct itimerspec` with 32-bit timespecs: interval (sec, nsec), value
/// (sec, nsec).
type Itimerspec32 = [i32; 4];
/// The same with 64-bit fields (timer_settime64, timer_gettime64).
type Itimerspec64 = [[u32; 2]; 4];

/// timer_create(clock, sevp, timerid)
pub fn timer_create(p: &mut Process, clock: u32, sevp: UserPtr<Sigevent>, timerid: UserPtr<U32>) -> SysResult {
    let clock = match clock {
        CLOCK_REALTIME => TimerClock::Realtime,
        CLOCK_MONOTONIC | CLOCK_BOOTTIME => TimerClock::Monotonic,
        _ if super::time::is_clock_fd(clock) => return Err(Errno::EOPNOTSUPP),
        _ if super::time::is_cpu_clock(clock) => TimerClock::Cpu(linux::cpu_clock(clock)?),
        _ => return Err(Errno::EINVAL),
    };
    let event = sevp.read_opt(&mut p.memory)?;
    let notify = match event {
        // No sigevent: SIGALRM to the process, its value the timer's id.
        None => None,
        Some([_, _, SIGEV_NONE, _]) => Some(Notify::None),
        Some([value, signo, how @ (SIGEV_SIGNAL | SIGEV_THREAD | SIGEV_THREAD_ID), tid]) => {
            if signo == 0 || signo > NSIG {
                return Err(Errno::EINVAL);
            }
            let thread = if how == SIGEV_THREAD_ID {
                if !linux::is_thread_of(p.pid, tid) {
                    return Err(Errno::EINVAL);
                }
                Some(tid)
            } else {
                None
            };
            Some(Notify::Signal { signo, value, thread })
        }
        Some(_) => return Err(Errno::EINVAL),
    };
    let id = posix_timer::create(p.pid, clock, |id| notify.unwrap_or(Notify::Signal { signo: SIGALRM, value: id, thread: None }))?;
    if let Err(e) = timerid.write(&mut p.memory, &id.into()) {
        let _ = posix_timer::delete(p.pid, id);
        return Err(e);
    }
    Ok(0)
}

fn duration(sec: i64, nsec: i64) -> Result<Duration, Errno> {
    if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(Duration::from_secs(sec as u64) + Duration::from_nanos(nsec as u64))
}

/// Arms timer `id` with (interval, value) as timer_settime's flags say;
/// returns the old (value left, interval).
fn settime(p: &Process, id: u32, flags: u32, interval: Duration, value: Duration) -> Result<(Duration, Duration), Errno> {
    let first = match (value.is_zero(), flags & TIMER_ABSTIME != 0) {
        (true, _) => None,
        (false, true) => Some(Expiry::At(value)),
        (false, false) => Some(Expiry::In(value)),
    };
    posix_timer::set(p.pid, id, first, interval)
}

/// timer_settime(timerid, flags, new, old) with 32-bit timespecs.
pub fn timer_settime(p: &mut Process, id: u32, flags: u32, new: UserPtr<Itimerspec32>, old: UserPtr<Itimerspec32>) -> SysResult {
    let [isec, insec, vsec, vnsec] = new.read(&mut p.memory)?;
    let (interval, value) = (duration(isec.into(), insec.into())?, duration(vsec.into(), vnsec.into())?);
    let (left, was) = settime(p, id, flags, interval, value)?;
    old.write_opt(&mut p.memory, &spec32(was, left))?;
    Ok(0)
}

/// timer_settime64(timerid, flags, new, old)
pub fn timer_settime64(p: &mut Process, id: u32, flags: u32, new: UserPtr<Itimerspec64>, old: UserPtr<Itimerspec64>) -> SysResult {
    let words = new.read(&mut p.memory)?;
    let field = |i: usize| i64::from(words[i][0]) | (i64::from(words[i][1]) << 32);
    let (interval, value) = (duration(field(0), field(1))?, duration(field(2), field(3))?);
    let (left, was) = settime(p, id, flags, interval, value)?;
    old.write_opt(&mut p.memory, &spec64(was, left))?;
    Ok(0)
}

/// timer_gettime(timerid, cur) with 32-bit timespecs.
pub fn timer_gettime(p: &mut Process, id: u32, cur: UserPtr<Itimerspec32>) -> SysResult {
    let (left, interval) = posix_timer::get(p.pid, id)?;
    cur.write(&mut p.memory, &spec32(interval, left))?;
    Ok(0)
}

/// timer_gettime64(timerid, cur)
pub fn timer_gettime64(p: &mut Process, id: u32, cur: UserPtr<Itimerspec64>) -> SysResult {
    let (left, interval) = posix_timer::get(p.pid, id)?;
    cur.write(&mut p.memory, &spec64(interval, left))?;
    Ok(0)
}

/// timer_getoverrun(timerid)
pub fn timer_getoverrun(p: &mut Process, id: u32) -> SysResult {
    posix_timer::overrun(p.pid, id).map(|n| n.min(i32::MAX as u32))
}

/// timer_delete(timerid)
pub fn timer_delete(p: &mut Process, id: u32) -> SysResult {
    posix_timer::delete(p.pid, id).map(|()| 0)
}

fn spec32(interval: Duration, value: Duration) -> Itimerspec32 {
    let secs = |d: Duration| d.as_secs().min(i32::MAX as u64) as i32;
    [secs(interval), interval.subsec_nanos() as i32, secs(value), value.subsec_nanos() as i32]
}

fn spec64(interval: Duration, value: Duration) -> Itimerspec64 {
    let split = |v: u64| [v as u32, (v >> 32) as u32];
    [split(interval.as_secs()), split(interval.subsec_nanos().into()), split(value.as_secs()), split(value.subsec_nanos().into())]
}
