//! The areas of a user address space, as plain data: which ranges are
//! reserved (program segments, heap, mmap regions, stack), with which rights,
//! and where a new mapping fits. No page tables here: the kernel maps pages
//! on demand inside these areas. Host-tested.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::sync::Arc;
use alloc::vec::Vec;

pub use embox_elf::Perms;

pub const PAGE: u32 = 4096;

pub const fn page_floor(a: u32) -> u32 {
    a & !(PAGE - 1)
}

pub const fn page_ceil(a: u32) -> u32 {
    page_floor(a.wrapping_add(PAGE - 1))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AreaKind {
    Program,
    Heap,
    Mmap,
    Stack,
}

/// The file an area maps (`/proc/self/maps` names it): its path, which
/// page of the file the area's first page holds, and the file's node (a
/// shared mapping's pages are the file's own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backing {
    pub path: Arc<str>,
    pub page: u32,
    pub node: Option<u32>,
}

impl Backing {
    /// The same file, `pages` further on (the upper part of a split area).
    fn advanced(&self, pages: u32) -> Backing {
        Backing { page: self.page.wrapping_add(pages), ..self.clone() }
    }
}

/// The shared anonymous memory an area maps (MAP_SHARED|MAP_ANONYMOUS):
/// the kernel's object `id`, and which of its pages the area's first page
/// is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharedObject {
    pub id: u32,
    pub page: u32,
}

/// `[start, end)`, page aligned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Area {
    pub start: u32,
    pub end: u32,
    pub perms: Perms,
    pub kind: AreaKind,
    /// The file mapped there (none: anonymous memory).
    pub file: Option<Backing>,
    /// MAP_SHARED: writes go to the file (and other mappings of it).
    pub shared: bool,
    /// Shared anonymous memory: the object whose pages these are.
    pub object: Option<SharedObject>,
}

impl Area {
    /// MAP_SHARED|MAP_ANONYMOUS (or a shared mapping of /dev/zero): memory
    /// a process shares with the children it forks.
    pub fn is_shared_anonymous(&self) -> bool {
        self.shared && self.file.is_none()
    }

    /// The file node and the page of the file that `addr` (inside the
    /// area) maps, when the area maps one of our own files.
    pub fn file_page(&self, addr: u32) -> Option<(u32, u32)> {
        let file = self.file.as_ref()?;
        Some((file.node?, file.page.wrapping_add((addr - self.start) / PAGE)))
    }

    /// The shared object and its page that `addr` (inside the area) maps.
    pub fn object_page(&self, addr: u32) -> Option<(u32, u32)> {
        let object = self.object?;
        Some((object.id, object.page.wrapping_add((addr - self.start) / PAGE)))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AreaError {
    /// Not page aligned, empty, or outside the allowed range.
    Invalid,
    /// The range overlaps an existing area.
    Exists,
    /// The map would exceed its area limit.
    TooMany,
    /// (`set_perms`) part of the range is not mapped.
    NotCovered,
}

/// Sorted, non-overlapping areas, at most `limit` of them.
#[derive(Clone, Debug)]
pub struct AreaMap {
    areas: Vec<Area>,
    limit: usize,
}

impl AreaMap {
    pub fn new(limit: usize) -> Self {
        AreaMap { areas: Vec::new(), limit }
    }

    pub fn areas(&self) -> &[Area] {
        &self.areas
    }

    /// The area holding `addr`.
    pub fn find(&self, addr: u32) -> Option<&Area> {
        self.areas.iter().find(|a| a.start <= addr && addr < a.end)
    }

    pub fn overlaps(&self, start: u32, end: u32) -> bool {
        self.areas.iter().any(|a| a.start < end && start < a.end)
    }

    /// Adds `[start, end)` where nothing is mapped.
    pub fn insert(&mut self, start: u32, end: u32, perms: Perms, kind: AreaKind) -> Result<(), AreaError> {
        if start % PAGE != 0 || end % PAGE != 0 || start >= end {
            return Err(AreaError::Invalid);
        }
        if self.overlaps(start, end) {
            return Err(AreaError::Exists);
        }
        if self.areas.len() >= self.limit {
            return Err(AreaError::TooMany);
        }
        let at = self.areas.partition_point(|a| a.start < start);
        self.areas.insert(at, Area { start, end, perms, kind, file: None, shared: false, object: None });
        Ok(())
    }

    /// Makes `addr` an area boundary.
    fn split_at(&mut self, addr: u32) -> Result<(), AreaError> {
        if let Some(i) = self.areas.iter().position(|a| a.start < addr && addr < a.end) {
            if self.areas.len() >= self.limit {
                return Err(AreaError::TooMany);
            }
            let mut upper = self.areas[i].clone();
            let pages = (addr - upper.start) / PAGE;
            upper.file = upper.file.map(|f| f.advanced(pages));
            upper.object = upper.object.map(|o| SharedObject { page: o.page.wrapping_add(pages), ..o });
            upper.start = addr;
            self.areas[i].end = addr;
            self.areas.insert(i + 1, upper);
        }
        Ok(())
    }

    /// Removes `[start, end)` from every area (cutting areas that straddle it).
    pub fn remove(&mut self, start: u32, end: u32) -> Result<(), AreaError> {
        self.split_at(start)?;
        self.split_at(end)?;
        self.areas.retain(|a| !(start <= a.start && a.end <= end));
        Ok(())
    }

    /// Gives `[start, end)` new rights; the whole range must be mapped.
    pub fn set_perms(&mut self, start: u32, end: u32, perms: Perms) -> Result<(), AreaError> {
        let mut covered = start;
        for a in self.areas.iter().filter(|a| a.end > start && a.start < end) {
            if a.start > covered {
                return Err(AreaError::NotCovered);
            }
            covered = a.end;
        }
        if covered < end {
            return Err(AreaError::NotCovered);
        }
        self.split_at(start)?;
        self.split_at(end)?;
        for a in self.areas.iter_mut().filter(|a| start <= a.start && a.end <= end) {
            a.perms = perms;
        }
        Ok(())
    }

    /// Says which file `[start, end)` maps (`file` holds its first page),
    /// and whether shared: the areas there are cut at `start` and `end`.
    pub fn set_file(&mut self, start: u32, end: u32, file: Option<Backing>, shared: bool) -> Result<(), AreaError> {
        self.split_at(start)?;
        self.split_at(end)?;
        for a in self.areas.iter_mut().filter(|a| start <= a.start && a.end <= end) {
            a.file = file.as_ref().map(|f| f.advanced((a.start - start) / PAGE));
            a.shared = shared;
        }
        Ok(())
    }

    /// Makes `[start, end)` shared anonymous memory, the pages of
    /// `object` from its `page` on: the areas there are cut at `start` and
    /// `end`.
    pub fn set_shared_object(&mut self, start: u32, end: u32, object: SharedObject) -> Result<(), AreaError> {
        self.split_at(start)?;
        self.split_at(end)?;
        for a in self.areas.iter_mut().filter(|a| start <= a.start && a.end <= end) {
            a.file = None;
            a.shared = true;
            a.object = Some(SharedObject { page: object.page.wrapping_add((a.start - start) / PAGE), ..object });
        }
        Ok(())
    }

    /// The highest free `len` bytes (page multiple) inside `[floor, top)`.
    pub fn find_free(&self, len: u32, floor: u32, top: u32) -> Option<u32> {
        let mut top = top;
        loop {
            let start = top.checked_sub(len)?;
            if start < floor {
                return None;
            }
            match self.areas.iter().rev().find(|a| a.start < top && start < a.end) {
                None => return Some(start),
                Some(blocking) => top = blocking.start,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_offsets_follow_splits() {
        let mut m = AreaMap::new(16);
        m.insert(0x1000_0000, 0x1000_4000, RW, AreaKind::Mmap).unwrap();
        let file = Backing { path: Arc::from("/lib/libc.so.6"), page: 5, node: Some(7) };
        m.set_file(0x1000_0000, 0x1000_4000, Some(file), false).unwrap();
        m.set_perms(0x1000_1000, 0x1000_2000, NONE).unwrap();
        m.remove(0x1000_3000, 0x1000_4000).unwrap();
        let pages: Vec<_> = m.areas().iter().map(|a| (a.start, a.file.as_ref().map(|f| f.page))).collect();
        assert_eq!(pages, [(0x1000_0000, Some(5)), (0x1000_1000, Some(6)), (0x1000_2000, Some(7))]);
        // The page a fault needs follows the split too (SIGBUS past EOF).
        assert_eq!(m.find(0x1000_2abc).unwrap().file_page(0x1000_2abc), Some((7, 7)));
        m.set_file(0x1000_2000, 0x1000_3000, None, false).unwrap();
        assert_eq!(m.find(0x1000_2000).unwrap().file, None);
    }

    #[test]
    fn shared_object_pages_follow_splits() {
        let mut m = AreaMap::new(16);
        m.insert(0x1000_0000, 0x1000_4000, RW, AreaKind::Mmap).unwrap();
        m.set_shared_object(0x1000_0000, 0x1000_4000, SharedObject { id: 9, page: 0 }).unwrap();
        m.set_perms(0x1000_1000, 0x1000_2000, NONE).unwrap();
        m.remove(0x1000_0000, 0x1000_1000).unwrap();
        let pages: Vec<_> = m.areas().iter().map(|a| (a.start, a.object_page(a.start))).collect();
        assert_eq!(pages, [(0x1000_1000, Some((9, 1))), (0x1000_2000, Some((9, 2)))]);
        assert_eq!(m.find(0x1000_3abc).unwrap().object_page(0x1000_3abc), Some((9, 3)));
        assert!(m.find(0x1000_2000).unwrap().is_shared_anonymous());
    }

    const RW: Perms = Perms { read: true, write: true, exec: false };
    const RX: Perms = Perms { read: true, write: false, exec: true };
    const NONE: Perms = Perms { read: false, write: false, exec: false };

    fn map() -> AreaMap {
        let mut m = AreaMap::new(16);
        m.insert(0x1000_0000, 0x1001_0000, RW, AreaKind::Mmap).unwrap();
        m
    }

    #[test]
    fn insert_keeps_order_and_refuses_overlap_and_misalignment() {
        let mut m = map();
        m.insert(0x0800_0000, 0x0800_2000, RX, AreaKind::Program).unwrap();
        assert_eq!(m.areas()[0].start, 0x0800_0000);
        assert_eq!(m.insert(0x1000_f000, 0x1002_0000, RW, AreaKind::Mmap), Err(AreaError::Exists));
        assert_eq!(m.insert(0x2000_0001, 0x2000_2000, RW, AreaKind::Mmap), Err(AreaError::Invalid));
        assert_eq!(m.insert(0x2000_2000, 0x2000_2000, RW, AreaKind::Mmap), Err(AreaError::Invalid));
        assert_eq!(m.find(0x1000_8000).map(|a| a.kind), Some(AreaKind::Mmap));
        assert!(m.find(0x1001_0000).is_none());
    }

    #[test]
    fn removing_the_middle_splits_an_area() {
        let mut m = map();
        m.remove(0x1000_4000, 0x1000_8000).unwrap();
        let ranges: Vec<_> = m.areas().iter().map(|a| (a.start, a.end)).collect();
        assert_eq!(ranges, [(0x1000_0000, 0x1000_4000), (0x1000_8000, 0x1001_0000)]);
        m.remove(0x0f00_0000, 0x2000_0000).unwrap();
        assert!(m.areas().is_empty());
    }

    #[test]
    fn set_perms_splits_and_needs_full_coverage() {
        let mut m = map();
        m.set_perms(0x1000_1000, 0x1000_2000, NONE).unwrap();
        assert_eq!(m.areas().len(), 3);
        assert_eq!(m.find(0x1000_1000).unwrap().perms, NONE);
        assert_eq!(m.find(0x1000_2000).unwrap().perms, RW);
        assert_eq!(m.set_perms(0x1000_f000, 0x1001_1000, RX), Err(AreaError::NotCovered));
    }

    #[test]
    fn find_free_searches_down_from_the_top_around_areas() {
        let m = map();
        assert_eq!(m.find_free(0x1000, 0x0100_0000, 0x1001_0000), Some(0x0fff_f000));
        assert_eq!(m.find_free(0x1000, 0x0100_0000, 0x2000_0000), Some(0x1fff_f000));
        assert_eq!(m.find_free(0x1000_0000, 0x0800_0000, 0x1001_0000), None);
    }

    #[test]
    fn the_limit_holds_for_inserts_and_splits() {
        let mut m = AreaMap::new(2);
        m.insert(0x1000, 0x5000, RW, AreaKind::Mmap).unwrap();
        m.insert(0x8000, 0x9000, RW, AreaKind::Mmap).unwrap();
        assert_eq!(m.insert(0xa000, 0xb000, RW, AreaKind::Mmap), Err(AreaError::TooMany));
        assert_eq!(m.set_perms(0x2000, 0x3000, RX), Err(AreaError::TooMany));
    }

    #[test]
    fn page_rounding() {
        assert_eq!((page_floor(0x1234), page_ceil(0x1234), page_ceil(0x2000)), (0x1000, 0x2000, 0x2000));
    }
}
