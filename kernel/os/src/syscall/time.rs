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

/// User plus system time of `of`, in nanoseconds.
fn cpu_ns(of: CpuTimeOf) -> u64 {
    let (user, system) = linux::cpu_time(of);
    user + system
}

/// What a clock id that clock_getcpuclockid or pthread_getcpuclockid made
/// reads, in nanoseconds: Linux's encoding `~pid << 3 | per-thread << 2 |
/// kind` (kind 0: user and system time, 1: user time, 2: run time; 3 is
/// EINVAL), pid 0 meaning the caller.
fn other_cpu_clock_ns(clock: u32) -> Result<u64, Errno> {
    let target = !((clock as i32) >> 3) as u32;
    let (user, system) = linux::cpu_clock_time(target, clock & 4 != 0).ok_or(Errno::EINVAL)?;
    match clock & 3 {
        0 | 2 => Ok(user + system),
        1 => Ok(user),
        _ => Err(Errno::EINVAL),
    }
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
        CLOCK_PROCESS_CPUTIME_ID => Ok(cpu_ns(CpuTimeOf::Process)),
        CLOCK_THREAD_CPUTIME_ID => Ok(cpu_ns(CpuTimeOf::Thread)),
        _ if (clock as i32) < 0 => other_cpu_clock_ns(clock),
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

/// Sleeps until `clock` reads `deadline_ns` (absolute) or for `ns` (relative).
/// Where a relative sleep writes the time left when a signal ends it.
enum Remaining {
    Time32(UserPtr<Timespec32>),
    Time64(UserPtr<Timespec64>),
}

/// Sleeps; EINTR when a signal ends it early (never restarted, as on
/// Linux), with the time left written to `rem` for a relative sleep.
fn sleep(p: &mut Process, clock: u32, flags: u32, ns: u64, rem: Remaining) -> SysResult {
    let now = now_ns(clock)?;
    let absolute = flags & TIMER_ABSTIME != 0;
    let wait = if absolute { ns.saturating_sub(now) } else { ns };
    let Some(left) = env::sleep(Duration::from_nanos(wait)) else { return Ok(0) };
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
