//! The process life cycle: fork, vfork, clone and clone3 (processes and
//! threads), execve, exit (one thread), exit_group (the whole process), and
//! the wait calls. The status lands in the parent's wait4 (or the shell's
//! `$?`, low 8 bits).

use alloc::vec::Vec;

use embox_abi::errno::SysResult;
use embox_abi::Errno;

use embox_abi::types::UserDesc;

use super::user::{UserPtr, UserString};
use crate::linux::process::{Ending, Process};
use crate::linux::{self, ForkOptions, JobEvent, WaitFor, WaitOptions, Waited};

/// Most bytes of arguments and environment execve accepts (Linux's
/// MAX_ARG_STRLEN is per string; our initial stack holds 128 KiB in all).
const ARG_BYTES_MAX: usize = 128 * 1024;
const WNOHANG: u32 = 1;
const WEXITED: u32 = 4;
const WNOWAIT: u32 = 0x0100_0000;
const WUNTRACED: u32 = 2;
const WCONTINUED: u32 = 8;
const P_ALL: u32 = 0;
const P_PID: u32 = 1;
const P_PGID: u32 = 2;
const SIGCHLD: u32 = 17;
const CLD_EXITED: u32 = 1;
const CLD_KILLED: u32 = 2;
const CLD_STOPPED: u32 = 5;
const CLD_CONTINUED: u32 = 6;
const SIGCONT: u32 = 18;

/// exit(status): ends the calling thread (the process, when it is the last).
pub fn exit(p: &mut Process, status: u32) -> SysResult {
    p.exit_status = Some(Ending::Exited(status as u8));
    p.exit_thread_only = true;
    Ok(0)
}

/// exit_group(status): ends every thread of the process.
pub fn exit_group(p: &mut Process, status: u32) -> SysResult {
    p.exit_status = Some(Ending::Exited(status as u8));
    p.exit_thread_only = false;
    Ok(0)
}

pub fn fork(p: &mut Process) -> SysResult {
    linux::fork(p, ForkOptions::default())
}

pub fn vfork(p: &mut Process) -> SysResult {
    linux::fork(p, ForkOptions { vfork: true, ..ForkOptions::default() })
}

const CLONE_VM: u32 = 0x100;
const CLONE_FS: u32 = 0x200;
const CLONE_FILES: u32 = 0x400;
const CLONE_SIGHAND: u32 = 0x800;
const CLONE_VFORK: u32 = 0x4000;
const CLONE_THREAD: u32 = 0x1_0000;
const CLONE_SETTLS: u32 = 0x8_0000;
const CLONE_PARENT_SETTID: u32 = 0x10_0000;
const CLONE_CHILD_CLEARTID: u32 = 0x20_0000;
const CLONE_CHILD_SETTID: u32 = 0x100_0000;

/// clone(flags, newsp, parent_tid, tls, child_tid). With CLONE_THREAD a
/// thread (pthread_create); else a new process (what glibc's fork and
/// posix_spawn use): memory is copy-on-write even with
/// CLONE_VM|CLONE_VFORK (the parent sleeps until the child execs, so only a
/// child writing to memory for its parent can tell).
pub fn clone(
    p: &mut Process,
    flags: u32,
    stack: u32,
    parent_tid: UserPtr<u32>,
    tls: UserPtr<UserDesc>,
    child_tid: UserPtr<u32>,
) -> SysResult {
    let (parent_tid, child_tid) = (parent_tid.addr, child_tid.addr);
    if flags & CLONE_THREAD != 0 {
        return clone_thread(p, flags, stack, tls, parent_tid, child_tid);
    }
    let vm_vfork = flags & (CLONE_VM | CLONE_VFORK) == CLONE_VM | CLONE_VFORK;
    if flags & (CLONE_THREAD | CLONE_SIGHAND | CLONE_FS | CLONE_FILES | CLONE_SETTLS) != 0 || (flags & CLONE_VM != 0 && !vm_vfork) {
        crate::klog!("{}[{}]: clone({:#x}): threads are not supported yet", p.name, p.pid, flags);
        return Err(Errno::ENOSYS);
    }
    let options = ForkOptions {
        vfork: flags & CLONE_VFORK != 0,
        stack,
        child_settid: (flags & CLONE_CHILD_SETTID != 0).then_some(child_tid),
        child_cleartid: (flags & CLONE_CHILD_CLEARTID != 0).then_some(child_tid),
        parent_settid: (flags & CLONE_PARENT_SETTID != 0).then_some(parent_tid),
    };
    linux::fork(p, options)
}

/// A thread of the caller's process. The new thread shares memory, files,
/// working directory and dispositions whatever CLONE_FS/FILES say (glibc
/// and musl always ask for all of them); Linux's own rules stand:
/// CLONE_THREAD needs CLONE_SIGHAND, which needs CLONE_VM (EINVAL).
/// CLONE_SETTLS passes a `struct user_desc *` on i386.
fn clone_thread(p: &mut Process, flags: u32, stack: u32, tls: UserPtr<UserDesc>, parent_tid: u32, child_tid: u32) -> SysResult {
    if flags & CLONE_SIGHAND == 0 || flags & CLONE_VM == 0 {
        return Err(Errno::EINVAL);
    }
    let tls = match flags & CLONE_SETTLS {
        0 => None,
        _ => Some(super::tls::entry_for_clone(p, tls)?),
    };
    let options = linux::ThreadOptions {
        stack,
        tls,
        child_settid: (flags & CLONE_CHILD_SETTID != 0).then_some(child_tid),
        child_cleartid: (flags & CLONE_CHILD_CLEARTID != 0).then_some(child_tid),
        parent_settid: (flags & CLONE_PARENT_SETTID != 0).then_some(parent_tid),
    };
    linux::spawn_thread(p, options)
}

/// clone3(args, size): threads as clone does (glibc 2.34+ tries it first
/// in pthread_create); new processes get ENOSYS, on which glibc falls back
/// to clone.
pub fn clone3(p: &mut Process, args: UserPtr<CloneArgsVer0>, size: u32) -> SysResult {
    /// `struct clone_args` up to `tls` (CLONE_ARGS_SIZE_VER0 is 64 bytes).
    const VER0: u32 = core::mem::size_of::<CloneArgsVer0>() as u32;
    if size < VER0 || size > 4096 {
        return Err(Errno::EINVAL);
    }
    let field = args.read(&mut p.memory)?;
    let (flags, child_tid, parent_tid, exit_signal, stack, stack_size, tls) =
        (field[0], field[2], field[3], field[4], field[5], field[6], field[7]);
    let narrow = |v: u64| u32::try_from(v).map_err(|_| Errno::EINVAL);
    if flags > u32::MAX as u64 || narrow(child_tid).is_err() || narrow(parent_tid).is_err() {
        return Err(Errno::EINVAL);
    }
    let flags = flags as u32;
    if flags & CLONE_THREAD == 0 {
        return Err(Errno::ENOSYS);
    }
    if exit_signal != 0 || (stack == 0) != (stack_size == 0) {
        return Err(Errno::EINVAL);
    }
    let top = narrow(stack.checked_add(stack_size).ok_or(Errno::EINVAL)?)?;
    clone_thread(p, flags, top, UserPtr::new(narrow(tls)?), parent_tid as u32, child_tid as u32)
}

/// `struct clone_args` up to `tls`: eight 64-bit fields (flags, pidfd,
/// child_tid, parent_tid, exit_signal, stack, stack_size, tls).
type CloneArgsVer0 = [u64; 8];

/// Reads a NULL-terminated array of string pointers (argv, envp).
fn read_strings(p: &mut Process, array: UserPtr<u32>, total: &mut usize) -> Result<Vec<Vec<u8>>, Errno> {
    let mut out = Vec::new();
    if array.is_null() {
        return Ok(out);
    }
    for i in 0.. {
        let at = array.addr.checked_add(4 * i).ok_or(Errno::EFAULT)?;
        let ptr = UserPtr::<u32>::new(at).read(&mut p.memory)?;
        if ptr == 0 {
            break;
        }
        let s = p.memory.read_cstr(ptr, ARG_BYTES_MAX).map_err(|e| if e == Errno::ENAMETOOLONG { Errno::E2BIG } else { e })?;
        *total += s.len() + 1 + 4;
        if *total > ARG_BYTES_MAX {
            return Err(Errno::E2BIG);
        }
        out.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        out.push(s);
    }
    Ok(out)
}

/// execve(path, argv, envp)
pub fn execve(p: &mut Process, path: UserString, argv: UserPtr<u32>, envp: UserPtr<u32>) -> SysResult {
    let path = path.read_path(&mut p.memory)?;
    let path = p.absolute(&path);
    // /proc/self/exe (and /proc/self/fd/N: fexecve) run what they link to.
    let path = linux::devproc::proc_link(p, &path).and_then(Result::ok).unwrap_or(path);
    let mut total = 0;
    let argv = read_strings(p, argv, &mut total)?;
    let envp = read_strings(p, envp, &mut total)?;
    linux::exec::execve(p, path, argv, envp)?;
    Ok(0)
}

/// wait4's pid: a child (> 0), any child (-1), the caller's process group
/// (0) or group -pid.
fn which_pid(pid: i32, me: u32) -> WaitFor {
    match pid {
        -1 => WaitFor::Any,
        0 => WaitFor::Group(linux::group_of(me).map_or(me, |g| g.0)),
        pid if pid < -1 => WaitFor::Group(pid.unsigned_abs()),
        pid => WaitFor::Pid(pid as u32),
    }
}

/// The status word wait4 reports for a stop (sig << 8 | 0x7f) or a
/// continue (0xffff).
fn job_status(event: JobEvent) -> u32 {
    match event {
        JobEvent::Stopped(sig) => (sig << 8) | 0x7f,
        JobEvent::Continued => 0xffff,
    }
}

/// wait4(pid, wstatus, options, rusage) and waitpid(pid, wstatus, options).
pub fn wait4(p: &mut Process, pid: i32, status: UserPtr<u32>, options: u32, rusage: UserPtr<[u8; RUSAGE_SIZE]>) -> SysResult {
    if options & !(WNOHANG | WUNTRACED | WCONTINUED | 0x8000_0000 | 0x4000_0000 | 0x2000_0000) != 0 {
        return Err(Errno::EINVAL);
    }
    let wanted = WaitOptions {
        exited: true,
        stopped: options & WUNTRACED != 0,
        continued: options & WCONTINUED != 0,
        no_hang: options & WNOHANG != 0,
        keep: false,
    };
    let (pid, word, used) = match linux::wait_child(p.pid, which_pid(pid, p.pid), wanted)? {
        Waited::NothingYet => return Ok(0),
        Waited::Ended { pid, ending, used } => (pid, ending.wait_status(), used),
        Waited::Job { pid, event } => (pid, job_status(event), linux::Usage::default()),
    };
    status.write_opt(&mut p.memory, &word)?;
    // What the child used (its reaped children's included), as Linux.
    rusage.write_opt(&mut p.memory, &super::system::rusage(used))?;
    Ok(pid)
}

/// waitpid(pid, wstatus, options): wait4 without the rusage argument.
pub fn waitpid(p: &mut Process, pid: i32, status: UserPtr<u32>, options: u32) -> SysResult {
    wait4(p, pid, status, options, UserPtr::new(0))
}

/// Size of `struct rusage` on i386.
const RUSAGE_SIZE: usize = super::system::RUSAGE_BYTES;

/// waitid(idtype, id, infop, options)
pub fn waitid(p: &mut Process, idtype: u32, id: u32, info: UserPtr<[u32; 32]>, options: u32) -> SysResult {
    if options & (WEXITED | WUNTRACED | WCONTINUED) == 0 || options & !(WNOHANG | WEXITED | WNOWAIT | WUNTRACED | WCONTINUED) != 0 {
        return Err(Errno::EINVAL);
    }
    let which = match idtype {
        P_ALL => WaitFor::Any,
        P_PID => WaitFor::Pid(id),
        P_PGID if id == 0 => which_pid(0, p.pid),
        P_PGID => WaitFor::Group(id),
        _ => return Err(Errno::EINVAL),
    };
    let wanted = WaitOptions {
        exited: options & WEXITED != 0,
        stopped: options & WUNTRACED != 0,
        continued: options & WCONTINUED != 0,
        no_hang: options & WNOHANG != 0,
        keep: options & WNOWAIT != 0,
    };
    let mut siginfo = [0u32; 32];
    let found = match linux::wait_child(p.pid, which, wanted)? {
        Waited::NothingYet => None,
        Waited::Ended { pid, ending: Ending::Exited(code), .. } => Some((pid, CLD_EXITED, code as u32)),
        Waited::Ended { pid, ending: Ending::Killed(sig), .. } => Some((pid, CLD_KILLED, sig)),
        Waited::Job { pid, event: JobEvent::Stopped(sig) } => Some((pid, CLD_STOPPED, sig)),
        Waited::Job { pid, event: JobEvent::Continued } => Some((pid, CLD_CONTINUED, SIGCONT)),
    };
    if let Some((pid, code, status)) = found {
        siginfo[0] = SIGCHLD;
        siginfo[2] = code;
        siginfo[3] = pid;
        siginfo[4] = 0; // uid
        siginfo[5] = status;
    }
    info.write_opt(&mut p.memory, &siginfo)?;
    Ok(0)
}
