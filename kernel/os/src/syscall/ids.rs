//! Identity: pids and ids. Every program runs as root (uid/gid 0), alone in
//! its process group and session; its parent is the process that forked it,
//! or the shell (pid 1).

use embox_abi::errno::SysResult;

use super::Args;
use crate::linux::process::Process;

pub fn getpid(p: &mut Process, _a: &Args) -> SysResult {
    Ok(p.pid)
}

pub fn gettid(p: &mut Process, _a: &Args) -> SysResult {
    Ok(p.tid)
}

/// The parent: the process that forked this one, or the shell (pid 1) for
/// the program `load_app` started and for orphans.
pub fn getppid(p: &mut Process, _a: &Args) -> SysResult {
    Ok(crate::linux::parent_of(p.pid))
}

pub fn getuid(_p: &mut Process, _a: &Args) -> SysResult {
    Ok(0)
}

pub fn geteuid(_p: &mut Process, _a: &Args) -> SysResult {
    Ok(0)
}

pub fn getgid(_p: &mut Process, _a: &Args) -> SysResult {
    Ok(0)
}

pub fn getegid(_p: &mut Process, _a: &Args) -> SysResult {
    Ok(0)
}

pub fn getpgrp(p: &mut Process, _a: &Args) -> SysResult {
    Ok(p.pid)
}

pub fn getpgid(p: &mut Process, _a: &Args) -> SysResult {
    Ok(p.pid)
}

pub fn getsid(p: &mut Process, _a: &Args) -> SysResult {
    Ok(p.pid)
}

pub fn setpgid(_p: &mut Process, _a: &Args) -> SysResult {
    Ok(0)
}

pub fn setsid(p: &mut Process, _a: &Args) -> SysResult {
    Ok(p.pid)
}

/// getgroups/getgroups32(size, list): no supplementary groups.
pub fn getgroups(_p: &mut Process, _a: &Args) -> SysResult {
    Ok(0)
}
