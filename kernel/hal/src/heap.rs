//! The kernel heap: `linked_list_allocator` over a contiguous block carved
//! out of RAM at boot (its size comes from the template's `heap_kib`).

use crate::sync::IrqMutex;
use core::alloc::{GlobalAlloc, Layout};
use linked_list_allocator::Heap;

struct KernelHeap(IrqMutex<Heap>);

#[global_allocator]
static HEAP: KernelHeap = KernelHeap(IrqMutex::new(Heap::empty()));

// SAFETY: `Heap` hands out disjoint, correctly aligned blocks; the mutex
// serialises all access (interrupts masked, one CPU).
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.0.lock().allocate_first_fit(layout).map_or(core::ptr::null_mut(), |p| p.as_ptr())
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(p) = core::ptr::NonNull::new(ptr) {
            // SAFETY: the caller passes a block from `alloc` with its layout.
            unsafe { self.0.lock().deallocate(p, layout) }
        }
    }
}

pub(crate) fn init(start: usize, size: usize) {
    // SAFETY: boot passes a block of mapped RAM that nothing else uses, once.
    unsafe { HEAP.0.lock().init(start as *mut u8, size) }
}

/// Heap usage in bytes.
#[derive(Debug, Clone, Copy)]
pub struct HeapStats {
    pub size: usize,
    pub used: usize,
}

pub fn stats() -> HeapStats {
    let heap = HEAP.0.lock();
    HeapStats { size: heap.size(), used: heap.used() }
}
