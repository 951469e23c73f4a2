//! Linux i386 syscalls as LKL's asm-generic ones: the numbers of a 32-bit
//! LKL ([`nr`]), how each forwarded call's arguments are built and copied
//! ([`route`]), and the conversions of what differs in layout: `stat64`
//! ([`stat`]), the old `getdents` ([`dirent`]) and `socketcall`
//! ([`socketcall`]). Pure data and functions, tested on the host; the
//! kernel's forwarder (`os/src/syscall/forward.rs`) does the copying.
//!
//! What passes unchanged, and why: `O_*`, `AT_*`, `F_*` values (x86 uses the
//! asm-generic fcntl.h), errno values (both use asm-generic errno.h), time
//! types of the time32 calls (LKL keeps them: `__ARCH_WANT_TIME32_SYSCALLS`),
//! `struct statx`, `new_utsname`, sockaddrs, and `linux_dirent64`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod dirent;
pub mod nr;
pub mod route;
pub mod socketcall;
pub mod stat;
