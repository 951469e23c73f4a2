//! The syscall layer's one door to LKL: `is_up` and `syscall`, with the
//! API of lklhost's `os::lkl` (/work/team/lkl-interface.md).
//!
//! Until `os::lkl` is on main this stands in for it with LKL never up, so
//! every process is served natively; when it lands, this file becomes
//! `pub use crate::lkl::{is_up, syscall, Arg};`.

use embox_abi::Errno;

/// One argument of an LKL syscall (the shape of `hal::lkl::Arg`; nothing
/// reads the fields while LKL is never up).
#[allow(dead_code)]
pub enum Arg<'a> {
    Int(isize),
    In(&'a [u8]),
    Out(&'a mut [u8]),
    Str(&'a core::ffi::CStr),
    Null,
}

pub fn is_up() -> bool {
    false
}

pub fn syscall(_nr: u32, _args: &mut [Arg<'_>]) -> Result<isize, Errno> {
    Err(Errno::ENOSYS)
}
