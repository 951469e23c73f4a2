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
use super::Args;
use crate::linux::env;
use crate::linux::process::Process;

/// Resolution we report: the PIT counter gives about a microsecond.
const RESOLUTION_NS: u64 = 1_000;

/// Nanoseconds on `clock` now.
fn now_ns(p: &Process, clock: u32) -> Result<u64, Errno> {
    let mono = env::monotonic().as_nanos() as u64;
    match clock {
        CLOCK_REALTIME | CLOCK_REALTIME_COARSE => Ok(env::realtime_offset_ns() + mono),
        CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_MONOTONIC_COARSE | CLOCK_BOOTTIME => Ok(mono),
        CLOCK_PROCESS_CPUTIME_ID | CLOCK_THREAD_CPUTIME_ID => Ok(mono.saturating_sub(p.started_ns)),
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

pub fn time(p: &mut Process, a: &Args) -> SysResult {
    let secs = (now_ns(p, CLOCK_REALTIME)? / 1_000_000_000) as u32;
    UserPtr::<U32>::new(a[0]).write_opt(&mut p.memory, &secs.into())?;
    Ok(secs)
}

pub fn gettimeofday(p: &mut Process, a: &Args) -> SysResult {
    let ns = now_ns(p, CLOCK_REALTIME)?;
    let tv = Timeval32 { tv_sec: (ns / 1_000_000_000) as i32, tv_usec: ((ns % 1_000_000_000) / 1000) as i32 };
    UserPtr::<Timeval32>::new(a[0]).write_opt(&mut p.memory, &tv)?;
    Ok(0)
}

/// times(buf): the process's time as user time, in clock ticks (100 Hz).
pub fn times(p: &mut Process, a: &Args) -> SysResult {
    let ticks = |ns: u64| (ns / 10_000_000) as u32;
    let mono = env::monotonic().as_nanos() as u64;
    let tms = Tms { tms_utime: ticks(mono.saturating_sub(p.started_ns)), ..Tms::default() };
    UserPtr::<Tms>::new(a[0]).write_opt(&mut p.memory, &tms)?;
    Ok(ticks(mono))
}

pub fn clock_gettime32(p: &mut Process, a: &Args) -> SysResult {
    let ns = now_ns(p, a[0])?;
    UserPtr::<Timespec32>::new(a[1]).write(&mut p.memory, &ts32(ns))?;
    Ok(0)
}

pub fn clock_gettime64(p: &mut Process, a: &Args) -> SysResult {
    let ns = now_ns(p, a[0])?;
    UserPtr::<Timespec64>::new(a[1]).write(&mut p.memory, &ts64(ns))?;
    Ok(0)
}

pub fn clock_getres32(p: &mut Process, a: &Args) -> SysResult {
    now_ns(p, a[0])?;
    UserPtr::<Timespec32>::new(a[1]).write_opt(&mut p.memory, &ts32(RESOLUTION_NS))?;
    Ok(0)
}

pub fn clock_getres64(p: &mut Process, a: &Args) -> SysResult {
    now_ns(p, a[0])?;
    UserPtr::<Timespec64>::new(a[1]).write_opt(&mut p.memory, &ts64(RESOLUTION_NS))?;
    Ok(0)
}

/// Sleeps until `clock` reads `deadline_ns` (absolute) or for `ns` (relative).
/// Where a relative sleep writes the time left when a signal ends it.
enum Remaining {
    Time32(u32),
    Time64(u32),
}

/// Sleeps; EINTR when a signal ends it early (never restarted, as on
/// Linux), with the time left written to `rem` for a relative sleep.
fn sleep(p: &mut Process, clock: u32, flags: u32, ns: u64, rem: Remaining) -> SysResult {
    let now = now_ns(p, clock)?;
    let absolute = flags & TIMER_ABSTIME != 0;
    let wait = if absolute { ns.saturating_sub(now) } else { ns };
    let Some(left) = env::sleep(Duration::from_nanos(wait)) else { return Ok(0) };
    if !absolute {
        let (sec, nsec) = (left.as_secs(), left.subsec_nanos());
        match rem {
            Remaining::Time32(at) if at != 0 => {
                UserPtr::<Timespec32>::new(at).write(&mut p.memory, &Timespec32 { tv_sec: sec as i32, tv_nsec: nsec as i32 })?
            }
            Remaining::Time64(at) if at != 0 => UserPtr::<Timespec64>::new(at)
                .write(&mut p.memory, &Timespec64 { tv_sec: (sec as i64).into(), tv_nsec: (nsec as i64).into() })?,
            _ => {}
        }
    }
    Err(Errno::EINTR)
}

/// nanosleep(req, rem)
pub fn nanosleep(p: &mut Process, a: &Args) -> SysResult {
    let ns = ns_of32(&UserPtr::<Timespec32>::new(a[0]).read(&mut p.memory)?)?;
    sleep(p, CLOCK_MONOTONIC, 0, ns, Remaining::Time32(a[1]))
}

/// clock_nanosleep(clock, flags, req, rem)
pub fn clock_nanosleep32(p: &mut Process, a: &Args) -> SysResult {
    let ns = ns_of32(&UserPtr::<Timespec32>::new(a[2]).read(&mut p.memory)?)?;
    sleep(p, a[0], a[1], ns, Remaining::Time32(a[3]))
}

pub fn clock_nanosleep64(p: &mut Process, a: &Args) -> SysResult {
    let ns = ns_of64(&UserPtr::<Timespec64>::new(a[2]).read(&mut p.memory)?)?;
    sleep(p, a[0], a[1], ns, Remaining::Time64(a[3]))
}

pub fn sched_yield(_p: &mut Process, _a: &Args) -> SysResult {
    env::yield_now();
    Ok(0)
}
