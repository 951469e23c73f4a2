//! Identity: pids and ids. Every program runs as root (uid/gid 0); its
//! parent is the process that forked it, or the shell (pid 1). The program
//! `load_app` starts leads its own process group and session (the console's
//! foreground group); children inherit both until setpgid/setsid.

use embox_abi::errno::SysResult;
use embox_abi::Errno;

use crate::linux::process::Process;

pub fn getpid(p: &mut Process) -> SysResult {
    Ok(p.pid)
}

pub fn gettid(p: &mut Process) -> SysResult {
    Ok(p.tid)
}

/// The parent: the process that forked this one, or the shell (pid 1) for
/// the program `load_app` started and for orphans.
pub fn getppid(p: &mut Process) -> SysResult {
    Ok(crate::linux::parent_of(p.pid))
}

pub fn getuid(_p: &mut Process) -> SysResult {
    Ok(0)
}

pub fn geteuid(_p: &mut Process) -> SysResult {
    Ok(0)
}

pub fn getgid(_p: &mut Process) -> SysResult {
    Ok(0)
}

pub fn getegid(_p: &mut Process) -> SysResult {
    Ok(0)
}

pub fn getpgrp(p: &mut Process) -> SysResult {
    Ok(crate::linux::group_of(p.pid).map_or(p.pid, |g| g.0))
}

/// The process named by a pid argument (0: the caller).
fn who(p: &Process, pid: u32) -> u32 {
    if pid == 0 {
        p.pid
    } else {
        pid
    }
}

pub fn getpgid(p: &mut Process, pid: u32) -> SysResult {
    crate::linux::group_of(who(p, pid)).map(|g| g.0).ok_or(Errno::ESRCH)
}

pub fn getsid(p: &mut Process, pid: u32) -> SysResult {
    crate::linux::group_of(who(p, pid)).map(|g| g.1).ok_or(Errno::ESRCH)
}

/// setpgid(pid, pgid): 0 means the caller / the target's own pid.
pub fn setpgid(p: &mut Process, pid: u32, pgid: i32) -> SysResult {
    if pgid < 0 {
        return Err(Errno::EINVAL);
    }
    let pid = who(p, pid);
    let pgid = if pgid == 0 { pid } else { pgid as u32 };
    crate::linux::set_group(p.pid, pid, pgid).map(|()| 0)
}

pub fn setsid(p: &mut Process) -> SysResult {
    crate::linux::new_session(p.pid)
}

/// getgroups/getgroups32(size, list): no supplementary groups.
pub fn getgroups(_p: &mut Process) -> SysResult {
    Ok(0)
}
