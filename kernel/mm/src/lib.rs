//! Physical memory bookkeeping, free of hardware access so it is unit-tested on
//! the host.
//!
//! Boot hands the kernel a list of usable physical ranges (the multiboot memory
//! map). [`RegionList`] holds them without allocating, lets boot cut out what
//! is taken (low memory, the kernel image, the initramfs) and carve the kernel
//! heap. Once the heap exists, [`FrameAllocator`] tracks every remaining 4 KiB
//! frame in a bitmap: one bit per frame, so 128 MiB costs 4 KiB and nothing is
//! scanned or zeroed at boot.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod frames;
mod regions;

pub use frames::{FrameAllocator, FrameStats};
pub use regions::{PhysRange, RegionList};

/// Size of a page frame.
pub const FRAME_SIZE: u64 = 4096;
