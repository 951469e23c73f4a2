//! Physical memory at run time: the frame allocator, built at boot from the
//! multiboot memory map minus low memory, the kernel image and the initramfs,
//! after the kernel heap has been carved out.

use crate::layout::{self, kernel_image};
use crate::{heap, sync::IrqMutex};
use embox_mm::{FrameAllocator, FrameStats, PhysRange, RegionList};

static FRAMES: IrqMutex<Option<FrameAllocator>> = IrqMutex::new(None);

/// Builds the heap and the frame allocator from usable `ram`, leaving out
/// the initramfs (`initrd`); returns the initramfs bytes, mapped.
pub(crate) fn init(ram: &RegionList<32>, initrd: Option<PhysRange>, heap_bytes: usize) -> Option<&'static [u8]> {
    let image = kernel_image();
    let mut free = ram.clone();
    free.remove(PhysRange::new(0, (layout::USER_START as u64).max(image.end)));
    if let Some(initrd) = initrd {
        free.remove(initrd);
    }
    free.clamp(layout::PHYS_MAP_LIMIT);
    let heap_range = match free.take(heap_bytes as u64, layout::PAGE_SIZE as u64) {
        Some(r) => r,
        None => crate::report::fatal(format_args!(
            "no room for a {} KiB kernel heap in {} KiB of free RAM; give QEMU more memory (-m) or lower heap_kib in the template",
            heap_bytes / 1024,
            free.total() / 1024
        )),
    };
    heap::init(layout::phys_to_virt(heap_range.start), heap_bytes);
    *FRAMES.lock() = Some(FrameAllocator::new(free.as_slice()));
    initrd.map(|initrd| {
        let start = layout::phys_to_virt(initrd.start);
        // SAFETY: the module's frames were removed from every allocator above,
        // so nothing else writes them for the rest of the kernel's life, and
        // the physical map covers them.
        unsafe { core::slice::from_raw_parts(start as *const u8, initrd.len() as usize) }
    })
}

/// Allocates a frame (contents undefined).
pub fn alloc_frame() -> Option<u64> {
    FRAMES.lock().as_mut()?.alloc()
}

/// Allocates `count` physically consecutive frames filled with zeros (device
/// rings that the hardware reads as one block); returns the first frame.
pub fn alloc_zeroed_contiguous(count: usize) -> Option<u64> {
    let first = alloc_contiguous_frames(count)?;
    // SAFETY: the frames were just allocated, so we own them; the physical map covers them.
    unsafe { core::ptr::write_bytes(layout::phys_to_virt(first) as *mut u8, 0, count * layout::PAGE_SIZE) };
    Some(first)
}

/// Allocates a frame filled with zeros.
pub fn alloc_zeroed_frame() -> Option<u64> {
    let frame = alloc_frame()?;
    // SAFETY: the frame was just allocated, so we own it; the physical map covers it.
    unsafe { core::ptr::write_bytes(layout::phys_to_virt(frame) as *mut u8, 0, layout::PAGE_SIZE) };
    Some(frame)
}

/// Allocates `count` physically contiguous frames (contents undefined);
/// returns the first one's physical address.
pub fn alloc_contiguous_frames(count: usize) -> Option<u64> {
    FRAMES.lock().as_mut()?.alloc_contiguous(count as u64)
}

/// Returns `count` frames starting at `first` (from
/// [`alloc_contiguous_frames`]) to the allocator.
pub fn free_contiguous_frames(first: u64, count: usize) {
    for i in 0..count as u64 {
        free_frame(first + i * layout::PAGE_SIZE as u64);
    }
}

/// Adds a reference to an allocated frame (copy-on-write sharing after
/// fork). False when the frame's count is full: the caller copies instead.
pub fn share_frame(frame: u64) -> bool {
    FRAMES.lock().as_mut().is_some_and(|f| f.share(frame))
}

/// True while more than one reference holds the frame.
pub fn frame_is_shared(frame: u64) -> bool {
    FRAMES.lock().as_ref().is_some_and(|f| f.is_shared(frame))
}

/// A new frame holding a copy of frame `source`.
pub fn copy_of_frame(source: u64) -> Option<u64> {
    let frame = alloc_frame()?;
    // SAFETY: `frame` was just allocated, so we own it; `source` is a frame
    // the caller holds a reference to; the physical map covers both, and
    // two distinct frames never overlap.
    unsafe {
        core::ptr::copy_nonoverlapping(
            layout::phys_to_virt(source) as *const u8,
            layout::phys_to_virt(frame) as *mut u8,
            layout::PAGE_SIZE,
        )
    };
    Some(frame)
}

/// Drops a reference to a frame; the last one returns it to the allocator.
/// Freeing a frame that is not allocated is a kernel bug and panics.
pub fn free_frame(frame: u64) {
    let ok = FRAMES.lock().as_mut().is_some_and(|f| f.free(frame));
    assert!(ok, "free of frame {frame:#x} that is not allocated");
}

/// Frame counts (total/free).
pub fn frame_stats() -> FrameStats {
    FRAMES.lock().as_ref().map_or(FrameStats { total: 0, free: 0 }, FrameAllocator::stats)
}

/// Copies `data` into frame `frame` at `offset`. Panics if it does not fit.
pub fn write_frame(frame: u64, offset: usize, data: &[u8]) {
    assert!(offset + data.len() <= layout::PAGE_SIZE, "write past the end of a frame");
    // SAFETY: the range lies inside one frame of the physical map; callers
    // pass frames they own (allocated and not yet freed).
    unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), (layout::phys_to_virt(frame) + offset) as *mut u8, data.len()) }
}

/// Copies bytes out of frame `frame` at `offset`. Panics if it does not fit.
pub fn read_frame(frame: u64, offset: usize, out: &mut [u8]) {
    assert!(offset + out.len() <= layout::PAGE_SIZE, "read past the end of a frame");
    // SAFETY: as for `write_frame`.
    unsafe { core::ptr::copy_nonoverlapping((layout::phys_to_virt(frame) + offset) as *const u8, out.as_mut_ptr(), out.len()) }
}
