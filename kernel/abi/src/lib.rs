//! The Linux i386 user ABI, as data only: syscall numbers ([`nr`]), error
//! numbers ([`Errno`]), flag values ([`consts`]) and the `#[repr(C)]` structs
//! that cross the user/kernel boundary ([`types`]).
//!
//! Nothing here touches memory it does not own: the structs derive zerocopy's
//! `IntoBytes`/`FromBytes`, so the kernel copies them to and from user memory
//! as plain bytes. Their 64-bit fields use zerocopy's unaligned little-endian
//! integers, so the layout is the i386 one (4-byte packing included) on every
//! host, and the host unit tests check the real offsets.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod consts;
pub mod errno;
pub mod nr;
pub mod types;

pub use errno::Errno;
