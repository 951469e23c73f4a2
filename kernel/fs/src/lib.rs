//! The kernel's file system, free of hardware access so it is unit-tested on
//! the host: a parser for the initramfs ([`cpio`], newc format) and an
//! in-memory tree of directories and files ([`Vfs`]) with path resolution.
//!
//! The initramfs is mounted at `/` without copying: a file from the archive
//! borrows its bytes from the archive (which the kernel keeps for its whole
//! life) until it is first written. Written file data lives in owned
//! [`Page`]s (page frames in the kernel), counted against the tree's
//! size limit ([`Limits`]), as in a tmpfs. Everything is writable; `/tmp`
//! always exists.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod cpio;
mod pages;
mod path;
mod vfs;

pub use path::{join, normalize};
pub use pages::{HeapPage, Page, PAGE_SIZE};
pub use vfs::{DirEntry, FileKind, FsError, Limits, Metadata, NodeId, Vfs};

#[cfg(test)]
mod fuzz;
