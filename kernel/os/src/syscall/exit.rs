//! exit and exit_group: one task per program, so both end the program. The
//! status lands in the shell's `$?` (low 8 bits, as on Linux).

use embox_abi::errno::SysResult;

use super::Args;
use crate::linux::process::Process;

pub fn exit(p: &mut Process, a: &Args) -> SysResult {
    p.exit_status = Some((a[0] & 0xff) as i32);
    Ok(0)
}

pub fn exit_group(p: &mut Process, a: &Args) -> SysResult {
    exit(p, a)
}

/// wait4/waitpid: a program started by load_app has no children.
pub fn wait4(_p: &mut Process, _a: &Args) -> SysResult {
    Err(embox_abi::Errno::ECHILD)
}
