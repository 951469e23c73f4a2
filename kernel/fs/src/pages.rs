//! Where file data lives: fixed-size pages handed out by a [`PageStore`]
//! (page frames in the kernel, the heap in host tests), never one growing
//! buffer in the kernel heap. A file is a sparse list of pages; the tree
//! counts the pages its files hold against a size limit, like tmpfs `size=`.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// Bytes per page of file data.
pub const PAGE_SIZE: usize = 4096;

/// A page's handle, as its [`PageStore`] gives it (a physical address in
/// the kernel).
pub type PageId = u64;

/// Allocates, frees and copies pages of file data.
pub trait PageStore: Send {
    /// A zero-filled page, or `None` when memory is exhausted.
    fn alloc(&mut self) -> Option<PageId>;
    /// Returns a page from [`alloc`](Self::alloc).
    fn free(&mut self, page: PageId);
    /// Copies `out.len()` bytes from `offset` in `page`.
    fn read(&self, page: PageId, offset: usize, out: &mut [u8]);
    /// Copies `data` to `offset` in `page`.
    fn write(&mut self, page: PageId, offset: usize, data: &[u8]);
}

/// Pages from the heap, for host tests and a kernel without a frame
/// allocator.
#[derive(Default)]
pub struct HeapPages {
    slots: Vec<Option<Box<[u8; PAGE_SIZE]>>>,
    free: Vec<usize>,
}

impl PageStore for HeapPages {
    fn alloc(&mut self) -> Option<PageId> {
        let page = Box::new([0u8; PAGE_SIZE]);
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(page);
                Some(i as PageId)
            }
            None => {
                self.slots.try_reserve(1).ok()?;
                self.free.try_reserve(self.slots.len() + 1).ok()?;
                self.slots.push(Some(page));
                Some((self.slots.len() - 1) as PageId)
            }
        }
    }
    fn free(&mut self, page: PageId) {
        let slot = self.slots.get_mut(page as usize).and_then(Option::take);
        assert!(slot.is_some(), "free of page {page} that is not allocated");
        self.free.push(page as usize);
    }
    fn read(&self, page: PageId, offset: usize, out: &mut [u8]) {
        let bytes = self.slots[page as usize].as_ref().expect("read of a freed page");
        out.copy_from_slice(&bytes[offset..offset + out.len()]);
    }
    fn write(&mut self, page: PageId, offset: usize, data: &[u8]) {
        let bytes = self.slots[page as usize].as_mut().expect("write to a freed page");
        bytes[offset..offset + data.len()].copy_from_slice(data);
    }
}

/// A file's data in pages: key `i` holds bytes `i*PAGE_SIZE..`; a missing
/// page is a hole that reads as zeros. A map, not a vector indexed by page,
/// so the heap it takes grows with the pages written, never with the
/// offset a program seeks to.
#[derive(Default)]
pub(crate) struct PagedData {
    pub len: u64,
    pub pages: BTreeMap<u32, PageId>,
}
