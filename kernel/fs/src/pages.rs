//! Where file data lives: fixed-size owned pages of a [`Page`] type
//! (page frames in the kernel, the heap in host tests), never one growing
//! buffer in the kernel heap. A file is a sparse list of pages; the tree
//! counts the pages its files hold against a size limit, like tmpfs `size=`.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;

/// Bytes per page of file data.
pub const PAGE_SIZE: usize = 4096;

/// One page of file data, owned: dropping it frees it. The kernel's pages
/// are page frames (an owning frame handle, so the tree never sees a
/// physical address); host tests use [`HeapPage`].
pub trait Page: Sized + Send {
    /// A zero-filled page, or `None` when memory is exhausted.
    fn zeroed() -> Option<Self>;
    /// Copies `out.len()` bytes from `offset` in the page.
    fn read(&self, offset: usize, out: &mut [u8]);
    /// Copies `data` to `offset` in the page.
    fn write(&mut self, offset: usize, data: &[u8]);
}

/// A page in the heap, for host tests and a kernel without a frame allocator.
pub struct HeapPage(Box<[u8; PAGE_SIZE]>);

impl Page for HeapPage {
    fn zeroed() -> Option<Self> {
        Some(HeapPage(Box::new([0u8; PAGE_SIZE])))
    }
    fn read(&self, offset: usize, out: &mut [u8]) {
        out.copy_from_slice(&self.0[offset..offset + out.len()]);
    }
    fn write(&mut self, offset: usize, data: &[u8]) {
        self.0[offset..offset + data.len()].copy_from_slice(data);
    }
}

/// A file's data in pages: key `i` holds bytes `i*PAGE_SIZE..`; a missing
/// page is a hole that reads as zeros. A map, not a vector indexed by page,
/// so the heap it takes grows with the pages written, never with the
/// offset a program seeks to.
pub(crate) struct PagedData<P> {
    pub len: u64,
    pub pages: BTreeMap<u32, P>,
}

impl<P> Default for PagedData<P> {
    fn default() -> Self {
        PagedData { len: 0, pages: BTreeMap::new() }
    }
}
