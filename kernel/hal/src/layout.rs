//! The kernel's address-space layout and the kernel image's place in it:
//! constants and pure address arithmetic only. A leaf of the hal's module
//! graph: the frame allocator, the page tables and the kernel stacks all
//! need these, so they live below all three.
//!
//! The virtual layout table is in [`crate::paging`].

use embox_mm::PhysRange;

pub const PAGE_SIZE: usize = 4096;
/// Virtual address of physical address 0 in the physical map.
pub(crate) const PHYS_MAP_BASE: usize = 0xc000_0000;
/// Most physical memory the map covers (above it: kernel stacks).
pub(crate) const PHYS_MAP_LIMIT: u64 = 0x3000_0000;
/// First user virtual address; below it, the identity-mapped kernel.
#[cfg(not(feature = "lkl"))]
pub const USER_START: usize = 0x0040_0000;
/// First user virtual address; below it, the identity-mapped kernel (with
/// LKL linked in, the image is about 8 MiB).
#[cfg(feature = "lkl")]
pub const USER_START: usize = 0x0100_0000;
/// End (exclusive) of user virtual addresses.
pub const USER_END: usize = PHYS_MAP_BASE;

/// Virtual address of a physical address in the physical map.
pub(crate) fn phys_to_virt(phys: u64) -> usize {
    assert!(phys < PHYS_MAP_LIMIT, "physical address {phys:#x} beyond the physical map");
    PHYS_MAP_BASE + phys as usize
}

/// The physical address of `virt`, an address in the physical map.
pub(crate) fn virt_to_phys(virt: usize) -> u64 {
    assert!((PHYS_MAP_BASE..PHYS_MAP_BASE + PHYS_MAP_LIMIT as usize).contains(&virt), "{virt:#x} is not in the physical map");
    (virt - PHYS_MAP_BASE) as u64
}

extern "C" {
    static __kernel_start: u8;
    static __kernel_end: u8;
    static __readonly_start: u8;
    static __readonly_end: u8;
}

/// Physical range of the loaded kernel image, `.bss` included.
pub(crate) fn kernel_image() -> PhysRange {
    PhysRange::new(&raw const __kernel_start as u64, &raw const __kernel_end as u64)
}

/// Physical range of the kernel's code and read-only data (mapped read-only).
pub(crate) fn kernel_readonly() -> PhysRange {
    PhysRange::new(&raw const __readonly_start as u64, &raw const __readonly_end as u64)
}
