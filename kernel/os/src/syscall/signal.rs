//! Signal calls: dispositions (rt_sigaction), the mask (rt_sigprocmask),
//! pending signals (rt_sigpending), waiting for one (rt_sigsuspend,
//! pause), sending (kill, tkill, tgkill), the alternate stack
//! (sigaltstack) and the way back from a handler (sigreturn,
//! rt_sigreturn). Delivery itself is [`crate::linux::signal`]: it runs on
//! every return to ring 3.

use core::time::Duration;

use embox_abi::consts::signal::{NSIG, SIGKILL, SIGSTOP, SIG_BLOCK, SIG_SETMASK, SIG_UNBLOCK};
use embox_abi::errno::SysResult;
use embox_abi::types::{KernelSigaction, StackT, Timespec32, Timespec64};
use embox_abi::Errno;
use zerocopy::little_endian::U64;

use super::user::UserPtr;
use crate::linux::process::Process;
use crate::linux::signal::{self as sig, bit, SigInfo, SI_TKILL, SI_USER, UNBLOCKABLE};
use crate::linux::{self, Target};

/// The kernel's sigset is 64 bits on i386.
const SIGSET_SIZE: u32 = 8;

/// rt_sigaction(sig, act, oldact, sigsetsize)
pub fn rt_sigaction(p: &mut Process, signo: u32, act: UserPtr<KernelSigaction>, old: UserPtr<KernelSigaction>, setsize: u32) -> SysResult {
    if setsize != SIGSET_SIZE || signo == 0 || signo > NSIG {
        return Err(Errno::EINVAL);
    }
    let new = act.read_opt(&mut p.memory)?;
    if new.is_some() && (signo == SIGKILL || signo == SIGSTOP) {
        return Err(Errno::EINVAL);
    }
    let current = p.sigactions.with(|all| all[signo as usize - 1]);
    old.write_opt(&mut p.memory, &current)?;
    if let Some(mut new) = new {
        new.sa_mask = (new.sa_mask.get() & !UNBLOCKABLE).into();
        p.sigactions.with(|all| all[signo as usize - 1] = new);
        // A pending signal that is now ignored is dropped (POSIX).
        let ignored = new.sa_handler == sig::SIG_IGN
            || (new.sa_handler == sig::SIG_DFL && sig::default_action(signo) == sig::DefaultAction::Ignore);
        if ignored {
            sig::discard(p, bit(signo));
        }
    }
    Ok(0)
}

/// rt_sigprocmask(how, set, oldset, sigsetsize); signals it unblocks are
/// delivered on the way back to ring 3.
pub fn rt_sigprocmask(p: &mut Process, how: u32, set: UserPtr<U64>, old: UserPtr<U64>, setsize: u32) -> SysResult {
    if setsize != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let new = set.read_opt(&mut p.memory)?;
    if new.is_some() && how > SIG_SETMASK {
        return Err(Errno::EINVAL);
    }
    old.write_opt(&mut p.memory, &p.sigmask.into())?;
    if let Some(new) = new {
        let new = new.get();
        p.sigmask = match how {
            SIG_BLOCK => p.sigmask | new,
            SIG_UNBLOCK => p.sigmask & !new,
            _ => new,
        } & !UNBLOCKABLE;
    }
    Ok(0)
}

/// rt_sigpending(set, sigsetsize): the blocked signals waiting.
pub fn rt_sigpending(p: &mut Process, set: UserPtr<U64>, setsize: u32) -> SysResult {
    if setsize > SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    linux::collect_current(p);
    let pending = sig::pending(p) & p.sigmask;
    set.write(&mut p.memory, &pending.into())?;
    Ok(0)
}

/// Waits until a signal that is not ignored arrives under `mask`; always
/// EINTR (the handler runs on the way back; sigsuspend's frame saves the
/// mask from before the call).
fn suspend(p: &mut Process, mask: u64) -> SysResult {
    p.saved_mask = Some(p.sigmask);
    p.sigmask = mask & !UNBLOCKABLE;
    linux::publish_signal_state(p);
    loop {
        linux::collect_current(p);
        let pending = sig::pending(p);
        if pending & !p.sigmask & sig::interrupting(p) != 0 {
            return Err(Errno::EINTR);
        }
        // Signals that end up ignored are dropped here, as delivery would.
        let dropped = pending & !p.sigmask & !sig::interrupting(p);
        if dropped != 0 {
            sig::discard(p, dropped);
        }
        linux::env::wait_for_signal();
    }
}

/// rt_sigsuspend(mask, sigsetsize)
pub fn rt_sigsuspend(p: &mut Process, mask: UserPtr<U64>, setsize: u32) -> SysResult {
    if setsize != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let mask = mask.read(&mut p.memory)?.get();
    suspend(p, mask)
}

/// pause()
pub fn pause(p: &mut Process) -> SysResult {
    let mask = p.sigmask;
    let r = suspend(p, mask);
    p.saved_mask = None;
    r
}

/// sigaltstack(ss, old_ss): needs the user stack pointer (EPERM while on
/// the alternate stack; SS_ONSTACK in the old value).
pub fn sigaltstack(p: &mut Process, ss: UserPtr<StackT>, old: UserPtr<StackT>) -> SysResult {
    let sp = p.user_regs.map_or(0, |r| r.user_sp());
    let new = ss.read_opt(&mut p.memory)?;
    let current = StackT { ss_flags: sig::altstack_flags(p, sp), ..p.altstack };
    old.write_opt(&mut p.memory, &current)?;
    if let Some(new) = new {
        sig::set_altstack(p, sp, new.ss_sp, new.ss_flags, new.ss_size)?;
    }
    Ok(0)
}

/// A signal the program sends itself (SIGPIPE from a write to a pipe with
/// no reader; abort's and raise's kill/tkill).
pub(super) fn raise(p: &mut Process, signo: u32) {
    let _ = sig::post(p, signo, SigInfo::from_process(p.pid, SI_USER));
}

fn check_signal(signo: u32) -> Result<(), Errno> {
    if signo > NSIG {
        Err(Errno::EINVAL)
    } else {
        Ok(())
    }
}

/// kill(pid, sig): a process (pid > 0), the caller's group (0), every
/// process but init and the caller (-1), or group -pid. Signal 0 checks.
/// A process takes it in one of its threads that does not block it (the
/// caller, at the end of this call, when it is one of them).
pub fn kill(p: &mut Process, pid: i32, signo: u32) -> SysResult {
    check_signal(signo)?;
    let info = SigInfo::from_process(p.pid, SI_USER);
    if pid > 0 && pid as u32 == p.pid && sig::posted_plainly(signo) && p.memory.users() == 1 {
        // To itself, from a process with one thread (raise, the benchmark):
        // into the process's shared set as post_to_process puts it, without
        // the thread table: no other thread is there to wake, and this one
        // takes the signal on its way out. (kill's signals never fail for
        // want of queue room.)
        let _ = p.shared_pending.post(signo, info);
        return Ok(0);
    }
    let target = match pid {
        0 => Target::Group(linux::group_of(p.pid).map_or(p.pid, |g| g.0)),
        -1 => Target::All { except: p.pid },
        pid if pid < 0 => Target::Group(pid.unsigned_abs()),
        pid => Target::Pid(pid as u32),
    };
    linux::send_signal(target, signo, info).map(|()| 0)
}

/// Sends `signo` with `info` to thread `tid` (of process `tgid`, when given).
fn to_thread(p: &mut Process, tgid: Option<u32>, tid: u32, signo: u32, info: SigInfo) -> SysResult {
    check_signal(signo)?;
    if tid as i32 <= 0 || tgid.is_some_and(|g| g as i32 <= 0) {
        return Err(Errno::EINVAL);
    }
    if tid == p.tid && tgid.is_none_or(|g| g == p.pid) {
        if signo != 0 {
            sig::post(p, signo, info)?;
        }
        return Ok(0);
    }
    linux::send_signal(Target::Thread { tgid, tid }, signo, info).map(|()| 0)
}

/// tgkill(tgid, tid, sig)
pub fn tgkill(p: &mut Process, tgid: u32, tid: u32, signo: u32) -> SysResult {
    let info = SigInfo::from_process(p.pid, SI_TKILL);
    to_thread(p, Some(tgid), tid, signo, info)
}

/// tkill(tid, sig): musl's `raise`.
pub fn tkill(p: &mut Process, tid: u32, signo: u32) -> SysResult {
    let info = SigInfo::from_process(p.pid, SI_TKILL);
    to_thread(p, None, tid, signo, info)
}

/// The siginfo a program hands rt_sigqueueinfo/rt_tgsigqueueinfo. Only
/// to itself may it claim to be kill or tkill (si_code >= 0 or SI_TKILL),
/// or the kernel: EPERM otherwise, as on Linux.
fn queued_info(p: &mut Process, uinfo: UserPtr<[u8; sig::SIGINFO_BYTES]>, to_self: bool) -> Result<SigInfo, Errno> {
    let info = SigInfo::from_user(&uinfo.read(&mut p.memory)?);
    if (info.code >= 0 || info.code == SI_TKILL) && !to_self {
        return Err(Errno::EPERM);
    }
    Ok(info)
}

/// rt_sigqueueinfo(tgid, sig, info): sigqueue's call. A real-time signal
/// queues with its value; EAGAIN past RLIMIT_SIGPENDING.
pub fn rt_sigqueueinfo(p: &mut Process, tgid: u32, signo: u32, uinfo: UserPtr<[u8; sig::SIGINFO_BYTES]>) -> SysResult {
    let info = queued_info(p, uinfo, tgid == p.pid)?;
    check_signal(signo)?;
    linux::send_signal(Target::Pid(tgid), signo, info).map(|()| 0)
}

/// rt_tgsigqueueinfo(tgid, tid, sig, info): the same, to one thread.
pub fn rt_tgsigqueueinfo(p: &mut Process, tgid: u32, tid: u32, signo: u32, uinfo: UserPtr<[u8; sig::SIGINFO_BYTES]>) -> SysResult {
    let info = queued_info(p, uinfo, tgid == p.pid)?;
    to_thread(p, Some(tgid), tid, signo, info)
}

/// sigreturn(): back from a handler of a non-SA_SIGINFO signal.
pub fn sigreturn(p: &mut Process) -> SysResult {
    back_from_handler(p, false)
}

/// rt_sigreturn(): back from a handler of an SA_SIGINFO signal.
pub fn rt_sigreturn(p: &mut Process) -> SysResult {
    back_from_handler(p, true)
}

/// Restores the registers (`Process::user_regs`) from the handler's
/// frame (`rt`: an rt_sigframe); the result is the restored eax (the trap
/// puts the call's result there). (The syscall trap calls
/// [`sig::return_from_handler`] on its own frame instead, unless the
/// program is traced.)
fn back_from_handler(p: &mut Process, rt: bool) -> SysResult {
    let Some(mut regs) = p.user_regs else { return Err(Errno::ENOSYS) };
    sig::return_from_handler(p, &mut regs, rt);
    p.user_regs = Some(regs);
    Ok(regs.return_value())
}

/// Waits until a signal of `set` is pending and takes it (the lowest,
/// the oldest instance). `timeout`: `None` waits for ever, zero only
/// looks. EAGAIN when the time is up, EINTR when another signal is to be
/// acted on (a handler, the end of the program, a stop).
pub(super) fn wait_for_one(p: &mut Process, set: u64, timeout: Option<Duration>) -> Result<(u32, SigInfo), Errno> {
    let set = set & !UNBLOCKABLE;
    let deadline = timeout.map(|t| linux::env::monotonic() + t);
    linux::await_signals(set);
    let found = loop {
        linux::collect_current(p);
        if let Some(found) = sig::take_first(p, set) {
            break Ok(found);
        }
        if sig::pending(p) & !p.sigmask & !set & sig::interrupting(p) != 0 || linux::must_stop() {
            break Err(Errno::EINTR);
        }
        match deadline {
            Some(d) => {
                let now = linux::env::monotonic();
                if now >= d {
                    break Err(Errno::EAGAIN);
                }
                let _ = linux::env::sleep(d - now);
            }
            None => linux::env::wait_for_signal(),
        }
    };
    linux::await_signals(0);
    found
}

/// rt_sigtimedwait(set, info, timeout, sigsetsize) with a 32-bit timespec
/// (sigwaitinfo and sigwait pass none).
pub fn rt_sigtimedwait(p: &mut Process, set: UserPtr<U64>, info: UserPtr<[u8; sig::SIGINFO_BYTES]>, timeout: UserPtr<Timespec32>, setsize: u32) -> SysResult {
    let timeout = timeout.read_opt(&mut p.memory)?.map(|t| (i64::from(t.tv_sec), i64::from(t.tv_nsec)));
    sigtimedwait(p, set, info, timeout, setsize)
}

/// rt_sigtimedwait_time64: the same with a 64-bit timespec.
pub fn rt_sigtimedwait_time64(p: &mut Process, set: UserPtr<U64>, info: UserPtr<[u8; sig::SIGINFO_BYTES]>, timeout: UserPtr<Timespec64>, setsize: u32) -> SysResult {
    let timeout = timeout.read_opt(&mut p.memory)?.map(|t| (t.tv_sec.get(), t.tv_nsec.get()));
    sigtimedwait(p, set, info, timeout, setsize)
}

/// Takes a pending signal of `set`, waiting up to `timeout` (seconds,
/// nanoseconds) for one; its siginfo goes to `info`. The signal number, or
/// EAGAIN (time up), EINTR (another signal), EINVAL (bad size or time).
fn sigtimedwait(p: &mut Process, set: UserPtr<U64>, info: UserPtr<[u8; sig::SIGINFO_BYTES]>, timeout: Option<(i64, i64)>, setsize: u32) -> SysResult {
    if setsize != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let set = set.read(&mut p.memory)?.get();
    let timeout = match timeout {
        Some((sec, nsec)) if sec < 0 || !(0..1_000_000_000).contains(&nsec) => return Err(Errno::EINVAL),
        Some((sec, nsec)) => Some(Duration::from_secs(sec as u64) + Duration::from_nanos(nsec as u64)),
        None => None,
    };
    let (signo, found) = wait_for_one(p, set, timeout)?;
    info.write_opt(&mut p.memory, &found.bytes(signo))?;
    Ok(signo)
}

const ITIMER_REAL: u32 = 0;
const ITIMER_VIRTUAL: u32 = 1;
const ITIMER_PROF: u32 = 2;

/// `struct itimerval` as four words: interval (sec, usec), value (sec, usec).
type Itimerval = [u32; 4];

fn itimerval(interval: Duration, value: Duration) -> Itimerval {
    [interval.as_secs() as u32, interval.subsec_micros(), value.as_secs() as u32, value.subsec_micros()]
}

fn duration_of(sec: u32, usec: u32) -> Result<Duration, Errno> {
    if sec as i32 >= 0 && usec < 1_000_000 {
        Ok(Duration::from_secs(sec as u64) + Duration::from_micros(usec as u64))
    } else {
        Err(Errno::EINVAL)
    }
}

/// setitimer(which, new, old): ITIMER_REAL (SIGALRM by the monotonic
/// clock), ITIMER_VIRTUAL (SIGVTALRM by the process's user time) and
/// ITIMER_PROF (SIGPROF by its user and system time), counted in timer
/// ticks.
pub fn setitimer(p: &mut Process, which: u32, new: UserPtr<Itimerval>, old: UserPtr<Itimerval>) -> SysResult {
    if which > ITIMER_PROF {
        return Err(Errno::EINVAL);
    }
    let new = new.read_opt(&mut p.memory)?;
    let (interval, value) = match new {
        Some(v) => (duration_of(v[0], v[1])?, duration_of(v[2], v[3])?),
        None => (Duration::ZERO, Duration::ZERO),
    };
    let (old_value, old_interval) = match which {
        ITIMER_REAL => linux::itimer::set(p.pid, value, interval),
        cpu => linux::set_cpu_timer(p.pid, cpu_timer_index(cpu), value, interval),
    };
    old.write_opt(&mut p.memory, &itimerval(old_interval, old_value))?;
    Ok(0)
}

/// getitimer(which, cur)
pub fn getitimer(p: &mut Process, which: u32, cur: UserPtr<Itimerval>) -> SysResult {
    let (value, interval) = match which {
        ITIMER_REAL => linux::itimer::get(p.pid),
        ITIMER_VIRTUAL | ITIMER_PROF => linux::cpu_timer(p.pid, cpu_timer_index(which)),
        _ => return Err(Errno::EINVAL),
    };
    cur.write(&mut p.memory, &itimerval(interval, value))?;
    Ok(0)
}

fn cpu_timer_index(which: u32) -> usize {
    if which == ITIMER_VIRTUAL {
        linux::ITIMER_VIRTUAL
    } else {
        linux::ITIMER_PROF
    }
}

/// alarm(seconds): the seconds left of the previous alarm (rounded to the
/// nearest, at least 1 while one is armed), as Linux answers.
pub fn alarm(p: &mut Process, seconds: u32) -> SysResult {
    let (old, _) = linux::itimer::set(p.pid, Duration::from_secs(seconds as u64), Duration::ZERO);
    if old.is_zero() {
        return Ok(0);
    }
    let secs = old.as_secs() + u64::from(old.subsec_micros() >= 500_000);
    Ok(secs.max(1) as u32)
}
