//! Physical memory at run time: the frame allocator, built at boot from the
//! multiboot memory map minus low memory, the kernel image and the initramfs,
//! after the kernel heap has been carved out.

use crate::layout::{self, kernel_image};
use crate::{heap, sync::IrqMutex};
use core::marker::PhantomData;
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

/// Allocates a frame (contents undefined); the caller owns the raw
/// address (the hal's own page tables and kernel stacks).
pub(crate) fn alloc_frame() -> Option<u64> {
    FRAMES.lock().as_mut()?.alloc()
}

/// Allocates `count` physically consecutive frames filled with zeros (device
/// rings that the hardware reads as one block); returns the first frame.
pub(crate) fn alloc_zeroed_contiguous(count: usize) -> Option<u64> {
    let first = alloc_contiguous_frames(count)?;
    // SAFETY: the frames were just allocated, so we own them; the physical map covers them.
    unsafe { core::ptr::write_bytes(layout::phys_to_virt(first) as *mut u8, 0, count * layout::PAGE_SIZE) };
    Some(first)
}

/// Allocates a frame filled with zeros, as a raw address (the hal's own page tables).
pub(crate) fn alloc_zeroed_frame() -> Option<u64> {
    let frame = alloc_frame()?;
    // SAFETY: the frame was just allocated, so we own it; the physical map covers it.
    unsafe { core::ptr::write_bytes(layout::phys_to_virt(frame) as *mut u8, 0, layout::PAGE_SIZE) };
    Some(frame)
}

/// Allocates `count` physically contiguous frames (contents undefined);
/// returns the first one's physical address.
pub(crate) fn alloc_contiguous_frames(count: usize) -> Option<u64> {
    FRAMES.lock().as_mut()?.alloc_contiguous(count as u64)
}

/// Returns `count` frames starting at `first` (from
/// [`alloc_contiguous_frames`]) to the allocator.
pub(crate) fn free_contiguous_frames(first: u64, count: usize) {
    for i in 0..count as u64 {
        free_frame(first + i * layout::PAGE_SIZE as u64);
    }
}

/// Drops a reference to a frame; the last one returns it to the allocator.
/// Freeing a frame that is not allocated is a kernel bug and panics.
pub(crate) fn free_frame(frame: u64) {
    let ok = FRAMES.lock().as_mut().is_some_and(|f| f.free(frame));
    assert!(ok, "free of frame {frame:#x} that is not allocated");
}

/// Runs `f` with the frame allocator locked: one lock for a batch of
/// frame operations (a fork's sharing, an address space's teardown).
pub(crate) fn with_allocator<R>(f: impl FnOnce(&mut FrameAllocator) -> R) -> R {
    f(FRAMES.lock().as_mut().expect("the frame allocator is set up at boot"))
}

/// Frame counts (total/free).
pub fn frame_stats() -> FrameStats {
    FRAMES.lock().as_ref().map_or(FrameStats { total: 0, free: 0 }, FrameAllocator::stats)
}

/// One reference to a page frame of RAM: the only way code outside the hal
/// holds physical memory, so it can neither forge an address nor free a
/// frame twice. Dropping the handle drops the reference (the last one
/// returns the frame to the allocator). Not `Clone`: a second reference
/// comes from [`FrameRef::share`], which counts it (copy-on-write pages
/// after fork). An [`AddressSpace`](crate::paging::AddressSpace) takes the
/// handle when it maps the frame and gives it back when it unmaps it.
///
/// A frame is not Rust memory: its bytes are copied in and out, never
/// borrowed, so writing a frame that a program also maps (or that another
/// handle shares) is a data race only for that program, never for the kernel.
pub struct Frame {
    phys: u64,
}

impl Frame {
    /// A zero-filled frame, or `None` when RAM is exhausted.
    pub fn zeroed() -> Option<Frame> {
        alloc_zeroed_frame().map(|phys| Frame { phys })
    }

    /// Takes over a reference held as a raw address (a page table entry).
    ///
    /// # Safety
    /// `phys` is an allocated frame, and the caller gives up the reference
    /// it holds (nothing else will free it for that reference).
    pub(crate) unsafe fn from_raw(phys: u64) -> Frame {
        Frame { phys }
    }

    /// Gives up the handle, keeping its reference under the raw address
    /// (a page table entry), to be taken back by [`Frame::from_raw`].
    pub(crate) fn into_raw(self) -> u64 {
        let phys = self.phys;
        core::mem::forget(self);
        phys
    }

    /// A borrowed view, for the operations [`FrameRef`] has.
    pub fn view(&self) -> FrameRef<'_> {
        FrameRef { phys: self.phys, _frame: PhantomData }
    }

    /// Copies bytes out of the frame at `offset`. Panics if it does not fit.
    pub fn read(&self, offset: usize, out: &mut [u8]) {
        self.view().read(offset, out)
    }

    /// Copies `data` into the frame at `offset`. Panics if it does not fit.
    pub fn write(&mut self, offset: usize, data: &[u8]) {
        self.view().write(offset, data)
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        free_frame(self.phys);
    }
}

impl core::fmt::Debug for Frame {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Frame({:#x})", self.phys)
    }
}

/// A frame borrowed from its owner (a [`Frame`], or an address space that
/// maps it): read, write, copy or share it while the owner keeps it.
#[derive(Clone, Copy)]
pub struct FrameRef<'a> {
    phys: u64,
    _frame: PhantomData<&'a Frame>,
}

impl FrameRef<'_> {
    /// Where `len` bytes at `offset` of the frame sit in the physical map,
    /// for hal code that has the CPU read or write frame memory itself
    /// (`fxsave`/`fxrstor` of a signal frame's FPU image). Panics if the
    /// range does not fit in the frame.
    pub(crate) fn mapped_address(&self, offset: usize, len: usize) -> usize {
        assert!(offset + len <= layout::PAGE_SIZE, "range past the end of a frame");
        layout::phys_to_virt(self.phys) + offset
    }

    /// A view of a frame its owner keeps under the raw address `phys`.
    ///
    /// # Safety
    /// `phys` is an allocated frame that its owner keeps for the lifetime
    /// the caller gives the view.
    pub(crate) unsafe fn from_raw(phys: u64) -> Self {
        FrameRef { phys, _frame: PhantomData }
    }

    /// Copies bytes out of the frame at `offset`. Panics if it does not fit.
    pub fn read(&self, offset: usize, out: &mut [u8]) {
        assert!(offset + out.len() <= layout::PAGE_SIZE, "read past the end of a frame");
        // SAFETY: the range lies inside one frame of the physical map, which
        // the view's owner holds a reference to; no Rust reference to frame
        // memory exists (frames are only copied in and out).
        unsafe { core::ptr::copy_nonoverlapping((layout::phys_to_virt(self.phys) + offset) as *const u8, out.as_mut_ptr(), out.len()) }
    }

    /// Appends the frame's `len` bytes at `offset` to `out`, without filling
    /// the new part of `out` first (a staging buffer for a forwarded write
    /// is filled exactly once). Panics if the range does not fit in the
    /// frame or `out` has less than `len` bytes of spare capacity: the
    /// caller reserves (fallibly) beforehand, so this never allocates.
    pub fn append_to(&self, offset: usize, len: usize, out: &mut alloc::vec::Vec<u8>) {
        assert!(offset + len <= layout::PAGE_SIZE, "read past the end of a frame");
        assert!(out.capacity() - out.len() >= len, "append_to: spare capacity not reserved");
        let start = out.len();
        // SAFETY: the source range lies inside one frame of the physical map
        // that the view's owner holds (as for `read`); the destination is
        // `out`'s spare capacity, checked above to hold `len` bytes and
        // distinct from frame memory (frames are never Rust allocations).
        // After the copy the `len` bytes past `start` are initialised, so
        // `set_len` exposes no uninitialised byte.
        unsafe {
            core::ptr::copy_nonoverlapping((layout::phys_to_virt(self.phys) + offset) as *const u8, out.as_mut_ptr().add(start), len);
            out.set_len(start + len);
        }
    }

    /// Copies `data` into the frame at `offset`. Panics if it does not fit.
    pub fn write(&self, offset: usize, data: &[u8]) {
        assert!(offset + data.len() <= layout::PAGE_SIZE, "write past the end of a frame");
        // SAFETY: as for `read`.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), (layout::phys_to_virt(self.phys) + offset) as *mut u8, data.len()) }
    }

    /// A new frame holding a copy of this one, or `None` when RAM is exhausted.
    pub fn copy(&self) -> Option<Frame> {
        let copy = Frame { phys: alloc_frame()? };
        // SAFETY: `copy` was just allocated, so we own it; this frame is held
        // by the view's owner; the physical map covers both, and two
        // distinct frames never overlap.
        unsafe {
            core::ptr::copy_nonoverlapping(
                layout::phys_to_virt(self.phys) as *const u8,
                layout::phys_to_virt(copy.phys) as *mut u8,
                layout::PAGE_SIZE,
            )
        };
        Some(copy)
    }

    /// Another reference to the same frame (copy-on-write sharing after
    /// fork), or `None` when the frame's count is full: the caller copies
    /// instead.
    pub fn share(&self) -> Option<Frame> {
        FRAMES.lock().as_mut().is_some_and(|f| f.share(self.phys)).then(|| Frame { phys: self.phys })
    }

    /// Names the frame while it is held: every mapping of a shared frame
    /// gives the same number (futex keys of shared memory).
    pub fn id(&self) -> u64 {
        self.phys
    }

    /// True while more than one reference holds the frame.
    pub fn is_shared(&self) -> bool {
        FRAMES.lock().as_ref().is_some_and(|f| f.is_shared(self.phys))
    }
}

impl PartialEq for FrameRef<'_> {
    /// The same frame (two references to one shared frame are equal).
    fn eq(&self, other: &Self) -> bool {
        self.phys == other.phys
    }
}
