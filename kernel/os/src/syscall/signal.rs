//! Signals, as far as single-task programs need them: dispositions and the
//! mask are recorded (rt_sigaction, rt_sigprocmask, sigaltstack) but no
//! asynchronous signal is ever delivered. A signal a program sends itself
//! (kill, tkill, tgkill: `abort()`, `raise()`) with the default action ends it
//! with status 128+signal, as a shell reports it; one sent while blocked
//! waits in `pending` until the mask lets it through.

use embox_abi::consts::signal::{MINSIGSTKSZ, NSIG, SIGKILL, SIGSTOP, SIG_BLOCK, SIG_SETMASK, SIG_UNBLOCK, SS_DISABLE, SS_ONSTACK};
use embox_abi::errno::SysResult;
use embox_abi::types::{KernelSigaction, StackT};
use embox_abi::Errno;
use zerocopy::little_endian::U64;

use super::user::UserPtr;
use super::Args;
use crate::linux::process::Process;

/// The kernel's sigset is 64 bits on i386.
const SIGSET_SIZE: u32 = 8;
const SIG_IGN: u32 = 1;
/// Signals whose default action is to do nothing.
const IGNORED_BY_DEFAULT: [u32; 4] = [17, 18, 23, 28]; // SIGCHLD, SIGCONT, SIGURG, SIGWINCH

fn bit(sig: u32) -> u64 {
    1u64 << (sig - 1)
}

/// rt_sigaction(sig, act, oldact, sigsetsize)
pub fn rt_sigaction(p: &mut Process, a: &Args) -> SysResult {
    let (sig, act, old) = (a[0], UserPtr::<KernelSigaction>::new(a[1]), UserPtr::<KernelSigaction>::new(a[2]));
    if a[3] != SIGSET_SIZE || sig == 0 || sig > NSIG {
        return Err(Errno::EINVAL);
    }
    let new = act.read_opt(&mut p.memory)?;
    if new.is_some() && (sig == SIGKILL || sig == SIGSTOP) {
        return Err(Errno::EINVAL);
    }
    let current = p.sigactions.with(|a| a[sig as usize - 1]);
    old.write_opt(&mut p.memory, &current)?;
    if let Some(mut new) = new {
        new.sa_mask = (new.sa_mask.get() & !(bit(SIGKILL) | bit(SIGSTOP))).into();
        p.sigactions.with(|a| a[sig as usize - 1] = new);
    }
    Ok(0)
}

/// rt_sigprocmask(how, set, oldset, sigsetsize)
pub fn rt_sigprocmask(p: &mut Process, a: &Args) -> SysResult {
    let (how, set, old) = (a[0], UserPtr::<U64>::new(a[1]), UserPtr::<U64>::new(a[2]));
    if a[3] != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let new = set.read_opt(&mut p.memory)?;
    old.write_opt(&mut p.memory, &p.sigmask.into())?;
    if let Some(new) = new {
        let new = new.get();
        p.sigmask = match how {
            SIG_BLOCK => p.sigmask | new,
            SIG_UNBLOCK => p.sigmask & !new,
            SIG_SETMASK => new,
            _ => return Err(Errno::EINVAL),
        } & !(bit(SIGKILL) | bit(SIGSTOP));
        deliver_pending(p);
    }
    Ok(0)
}

/// Acts on pending signals the mask no longer blocks (musl's `abort`
/// raises SIGABRT with every signal blocked, then unblocks it).
fn deliver_pending(p: &mut Process) {
    let ready = p.pending & !p.sigmask;
    if ready != 0 {
        let sig = ready.trailing_zeros() + 1;
        p.pending &= !bit(sig);
        let _ = signal_self(p, sig);
    }
}

/// sigaltstack(ss, old_ss)
pub fn sigaltstack(p: &mut Process, a: &Args) -> SysResult {
    let (ss, old) = (UserPtr::<StackT>::new(a[0]), UserPtr::<StackT>::new(a[1]));
    let new = ss.read_opt(&mut p.memory)?;
    old.write_opt(&mut p.memory, &p.altstack)?;
    if let Some(new) = new {
        if new.ss_flags & !(SS_DISABLE | SS_ONSTACK) != 0 {
            return Err(Errno::EINVAL);
        }
        if new.ss_flags & SS_DISABLE == 0 && new.ss_size < MINSIGSTKSZ {
            return Err(Errno::ENOMEM);
        }
        p.altstack = if new.ss_flags & SS_DISABLE != 0 { StackT { ss_sp: 0, ss_flags: SS_DISABLE, ss_size: 0 } } else { new };
    }
    Ok(0)
}

/// A signal the program sends itself (also SIGPIPE from a write to a pipe
/// with no reader).
pub(super) fn raise(p: &mut Process, sig: u32) {
    let _ = signal_self(p, sig);
}

/// A signal the program sends itself.
fn signal_self(p: &mut Process, sig: u32) -> SysResult {
    if sig == 0 {
        return Ok(0);
    }
    if sig > NSIG {
        return Err(Errno::EINVAL);
    }
    let handler = p.sigactions.with(|a| a[sig as usize - 1].sa_handler);
    let blocked = p.sigmask & bit(sig) != 0 && sig != SIGKILL && sig != SIGSTOP;
    if blocked {
        p.pending |= bit(sig);
        return Ok(0);
    }
    if handler == SIG_IGN || IGNORED_BY_DEFAULT.contains(&sig) || handler > SIG_IGN {
        // Ignored, or caught: handlers are never run, so the call just succeeds.
        return Ok(0);
    }
    crate::linux::fault::report_signal(p, sig, None);
    p.exit_status = Some(crate::linux::process::Ending::Killed(sig));
    Ok(0)
}

/// kill(pid, sig): the program itself (or its group), or another process,
/// which ends (default actions only; signal 0 checks that it exists).
pub fn kill(p: &mut Process, a: &Args) -> SysResult {
    let (pid, sig) = (a[0] as i32, a[1]);
    if pid == p.pid as i32 || pid == 0 || pid == -1 || pid == -(p.pid as i32) {
        return signal_self(p, sig);
    }
    if sig > NSIG {
        return Err(Errno::EINVAL);
    }
    let target = pid.unsigned_abs();
    if sig == 0 || IGNORED_BY_DEFAULT.contains(&sig) {
        return if crate::linux::exists(target) { Ok(0) } else { Err(Errno::ESRCH) };
    }
    if crate::linux::kill_other(target, sig) {
        Ok(0)
    } else {
        Err(Errno::ESRCH)
    }
}

/// tgkill(tgid, tid, sig)
pub fn tgkill(p: &mut Process, a: &Args) -> SysResult {
    if a[0] != p.pid || a[1] != p.pid {
        return Err(Errno::ESRCH);
    }
    signal_self(p, a[2])
}

/// tkill(tid, sig): musl's `raise`.
pub fn tkill(p: &mut Process, a: &Args) -> SysResult {
    if a[0] != p.pid {
        return Err(Errno::ESRCH);
    }
    signal_self(p, a[1])
}
