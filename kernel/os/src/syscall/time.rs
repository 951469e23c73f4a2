//! Clocks and sleeping: time, gettimeofday, times, clock_gettime,
//! clock_getres, nanosleep, clock_nanosleep (32-bit and time64 forms),
//! sched_yield.

use core::time::Duration;

use embox_abi::consts::clock::*;
use embox_abi::errno::SysResult;
use embox_abi::types::{Timespec32, Timespec64, Timeval32, Tms};
use embox_abi::Errno;
use zerocopy::little_endian::U32;

use super::user::UserPtr;
use crate::linux::{self, env, CpuTimeOf};
use crate::linux::process::Process;

/// Resolution we report: the PIT counter gives about a microsecond.
const RESOLUTION_NS: u64 = 1_000;
/// The CPU-time clocks count the scheduler's nanoseconds (Linux says 1 ns).
const CPU_RESOLUTION_NS: u64 = 1;

/// True for a negative id whose low bits say "file descriptor" (Linux's
/// dynamic clocks, CLOCKFD): no timers, no sleeping on it (EOPNOTSUPP).
pub fn is_clock_fd(clock: u32) -> bool {
    (clock as i32) < 0 && clock & 7 == 3
}

/// True for the CPU-time clocks (ours and the pid-encoded ones, which are
/// negative).
pub fn is_cpu_clock(clock: u32) -> bool {
    matches!(clock, CLOCK_PROCESS_CPUTIME_ID | CLOCK_THREAD_CPUTIME_ID) || (clock as i32) < 0
}

fn resolution_ns(clock: u32) -> Result<u64, Errno> {
    now_ns(clock)?;
    Ok(if is_cpu_clock(clock) { CPU_RESOLUTION_NS } else { RESOLUTION_NS })
}

/// Nanoseconds on `clock` now.
fn now_ns(clock: u32) -> Result<u64, Errno> {
    let mono = crate::hal::time::since_boot_ns();
    match clock {
        CLOCK_REALTIME | CLOCK_REALTIME_COARSE => Ok(env::realtime_offset_ns() + mono),
        CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_MONOTONIC_COARSE | CLOCK_BOOTTIME => Ok(mono),
        _ if is_cpu_clock(clock) => linux::cpu_clock_now(clock),
        _ => Err(Errno::EINVAL),
    }
}

fn ts64(ns: u64) -> Timespec64 {
    Timespec64 { tv_sec: ((ns / 1_000_000_000) as i64).into(), tv_nsec: ((ns % 1_000_000_000) as i64).into() }
}

fn ts32(ns: u64) -> Timespec32 {
    Timespec32 { tv_sec: (ns / 1_000_000_000) as i32, tv_nsec: (ns % 1_000_000_000) as i32 }
}

pub(super) fn ns_of64(t: &Timespec64) -> Result<u64, Errno> {
    let (s, n) = (t.tv_sec.get(), t.tv_nsec.get());
    if s < 0 || !(0..1_000_000_000).contains(&n) {
        return Err(Errno::EINVAL);
    }
    Ok((s as u64).saturating_mul(1_000_000_000).saturating_add(n as u64))
}

pub(super) fn ns_of32(t: &Timespec32) -> Result<u64, Errno> {
    ns_of64(&Timespec64 { tv_sec: (t.tv_sec as i64).into(), tv_nsec: (t.tv_nsec as i64).into() })
}

/// time(tloc)
pub fn time(p: &mut Process, tloc: UserPtr<U32>) -> SysResult {
    let secs = (now_ns(CLOCK_REALTIME)? / 1_000_000_000) as u32;
    tloc.write_opt(&mut p.memory, &secs.into())?;
    Ok(secs)
}

/// gettimeofday(tv, tz): the zone is not written.
pub fn gettimeofday(p: &mut Process, tv_ptr: UserPtr<Timeval32>) -> SysResult {
    let ns = now_ns(CLOCK_REALTIME)?;
    let tv = Timeval32 { tv_sec: (ns / 1_000_000_000) as i32, tv_usec: ((ns % 1_000_000_000) / 1000) as i32 };
    tv_ptr.write_opt(&mut p.memory, &tv)?;
    Ok(0)
}

/// times(buf): the process's user and system time and its reaped
/// children's, in clock ticks (100 Hz); returns ticks of the monotonic clock.
pub fn times(p: &mut Process, buf: UserPtr<Tms>) -> SysResult {
    let ticks = |ns: u64| (ns / 10_000_000) as u32;
    let mono = env::monotonic().as_nanos() as u64;
    let (user, system) = linux::cpu_time(CpuTimeOf::Process);
    let (cuser, csystem) = linux::cpu_time(CpuTimeOf::Children);
    let tms = Tms { tms_utime: ticks(user), tms_stime: ticks(system), tms_cutime: ticks(cuser), tms_cstime: ticks(csystem) };
    buf.write_opt(&mut p.memory, &tms)?;
    Ok(ticks(mono))
}

/// clock_gettime(clock, tp)
pub fn clock_gettime32(p: &mut Process, clock: u32, tp: UserPtr<Timespec32>) -> SysResult {
    let ns = now_ns(clock)?;
    tp.write(&mut p.memory, &ts32(ns))?;
    Ok(0)
}

pub fn clock_gettime64(p: &mut Process, clock: u32, tp: UserPtr<Timespec64>) -> SysResult {
    let ns = now_ns(clock)?;
    tp.write(&mut p.memory, &ts64(ns))?;
    Ok(0)
}

/// clock_getres(clock, res)
pub fn clock_getres32(p: &mut Process, clock: u32, res: UserPtr<Timespec32>) -> SysResult {
    let ns = resolution_ns(clock)?;
    res.write_opt(&mut p.memory, &ts32(ns))?;
    Ok(0)
}

pub fn clock_getres64(p: &mut Process, clock: u32, res: UserPtr<Timespec64>) -> SysResult {
    let ns = resolution_ns(clock)?;
    res.write_opt(&mut p.memory, &ts64(ns))?;
    Ok(0)
}

/// Where a relative sleep writes the time left when a signal ends it.
enum Remaining {
    Time32(UserPtr<Timespec32>),
    Time64(UserPtr<Timespec64>),
}

/// Sleeps; EINTR when a signal ends it early (never restarted, as on
/// Linux), with the time left written to `rem` for a relative sleep.
fn sleep(p: &mut Process, clock: u32, flags: u32, ns: u64, rem: Remaining) -> SysResult {
    let absolute = flags & TIMER_ABSTIME != 0;
    let left = if is_cpu_clock(clock) {
        match sleep_on_cpu_clock(clock, absolute, ns)? {
            Some(left) => left,
            None => return Ok(0),
        }
    } else {
        let now = now_ns(clock)?;
        let wait = if absolute { ns.saturating_sub(now) } else { ns };
        match env::sleep(Duration::from_nanos(wait)) {
            Some(left) => left,
            None => return Ok(0),
        }
    };
    if !absolute {
        let (sec, nsec) = (left.as_secs(), left.subsec_nanos());
        match rem {
            Remaining::Time32(at) if !at.is_null() => {
                at.write(&mut p.memory, &Timespec32 { tv_sec: sec as i32, tv_nsec: nsec as i32 })?
            }
            Remaining::Time64(at) if !at.is_null() => at
                .write(&mut p.memory, &Timespec64 { tv_sec: (sec as i64).into(), tv_nsec: (nsec as i64).into() })?,
            _ => {}
        }
    }
    Err(Errno::EINTR)
}

/// Sleeps until CPU clock `clock` reads `ns` (absolute) or has advanced by
/// `ns`; Some(CPU time still to go) when a signal ends it. On one CPU no
/// CPU clock runs faster than the wall clock, so sleeping on the wall
/// clock for the CPU time still to go, again until it is spent, never
/// wakes early. As Linux: the calling thread's own clock is EINVAL (it
/// cannot advance while the thread sleeps), CLOCK_THREAD_CPUTIME_ID itself
/// and the dynamic clock ids EOPNOTSUPP (no nsleep; the libcs answer
/// EINVAL for CLOCK_THREAD_CPUTIME_ID before asking), and a
/// clock whose thread or process ends ends the sleep.
fn sleep_on_cpu_clock(clock: u32, absolute: bool, ns: u64) -> Result<Option<Duration>, Errno> {
    if clock == CLOCK_THREAD_CPUTIME_ID || is_clock_fd(clock) {
        return Err(Errno::EOPNOTSUPP);
    }
    let cpu_clock = linux::cpu_clock(clock)?;
    if cpu_clock.per_thread && cpu_clock.pid == crate::sched::current_pid() {
        return Err(Errno::EINVAL);
    }
    let Some(now) = linux::cpu_clock_ns(cpu_clock) else { return Ok(None) };
    let deadline = if absolute { ns } else { now.saturating_add(ns) };
    loop {
        let Some(now) = linux::cpu_clock_ns(cpu_clock) else { return Ok(None) };
        if now >= deadline {
            return Ok(None);
        }
        if env::sleep(Duration::from_nanos(deadline - now)).is_some() {
            let now = linux::cpu_clock_ns(cpu_clock).unwrap_or(deadline);
            return Ok(Some(Duration::from_nanos(deadline.saturating_sub(now))));
        }
    }
}

/// nanosleep(req, rem)
pub fn nanosleep(p: &mut Process, req: UserPtr<Timespec32>, rem: UserPtr<Timespec32>) -> SysResult {
    let ns = ns_of32(&req.read(&mut p.memory)?)?;
    sleep(p, CLOCK_MONOTONIC, 0, ns, Remaining::Time32(rem))
}

/// clock_nanosleep(clock, flags, req, rem)
pub fn clock_nanosleep32(p: &mut Process, clock: u32, flags: u32, req: UserPtr<Timespec32>, rem: UserPtr<Timespec32>) -> SysResult {
    let ns = ns_of32(&req.read(&mut p.memory)?)?;
    sleep(p, clock, flags, ns, Remaining::Time32(rem))
}

pub fn clock_nanosleep64(p: &mut Process, clock: u32, flags: u32, req: UserPtr<Timespec64>, rem: UserPtr<Timespec64>) -> SysResult {
    let ns = ns_of64(&req.read(&mut p.memory)?)?;
    sleep(p, clock, flags, ns, Remaining::Time64(rem))
}

pub fn sched_yield(_p: &mut Process) -> SysResult {
    env::yield_now();
    Ok(0)
}
