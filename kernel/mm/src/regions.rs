//! A fixed-capacity, sorted list of disjoint physical ranges.

/// A half-open physical address range `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PhysRange {
    pub start: u64,
    pub end: u64,
}

impl PhysRange {
    pub const fn new(start: u64, end: u64) -> Self {
        Self { start, end }
    }
    pub const fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }
    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// Usable memory before the heap exists: at most `CAP` disjoint ranges, kept
/// sorted by address. Ranges that would not fit are dropped (the firmware map
/// of a QEMU machine has a handful).
#[derive(Debug, Clone)]
pub struct RegionList<const CAP: usize> {
    ranges: [PhysRange; CAP],
    len: usize,
}

impl<const CAP: usize> Default for RegionList<CAP> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const CAP: usize> RegionList<CAP> {
    pub const fn new() -> Self {
        Self { ranges: [PhysRange::new(0, 0); CAP], len: 0 }
    }

    pub fn as_slice(&self) -> &[PhysRange] {
        &self.ranges[..self.len]
    }

    /// Total bytes in all ranges.
    pub fn total(&self) -> u64 {
        self.as_slice().iter().map(PhysRange::len).sum()
    }

    /// Adds a usable range, merging it with overlapping or touching ones.
    pub fn add(&mut self, range: PhysRange) {
        if range.is_empty() {
            return;
        }
        let mut merged = range;
        let mut kept = [PhysRange::default(); CAP];
        let mut n = 0;
        for r in self.as_slice() {
            if r.end < merged.start || r.start > merged.end {
                kept[n] = *r;
                n += 1;
            } else {
                merged = PhysRange::new(r.start.min(merged.start), r.end.max(merged.end));
            }
        }
        if n == CAP {
            return;
        }
        let pos = kept[..n].iter().position(|r| r.start > merged.start).unwrap_or(n);
        kept.copy_within(pos..n, pos + 1);
        kept[pos] = merged;
        self.ranges = kept;
        self.len = n + 1;
    }

    /// Removes `hole` from every range (a range may split in two).
    pub fn remove(&mut self, hole: PhysRange) {
        if hole.is_empty() {
            return;
        }
        let old = self.clone();
        self.len = 0;
        for r in old.as_slice() {
            let left = PhysRange::new(r.start, r.end.min(hole.start));
            let right = PhysRange::new(r.start.max(hole.end), r.end);
            for part in [left, right] {
                if !part.is_empty() && self.len < CAP {
                    self.ranges[self.len] = part;
                    self.len += 1;
                }
            }
        }
    }

    /// Keeps only the part of each range below `limit`.
    pub fn clamp(&mut self, limit: u64) {
        self.remove(PhysRange::new(limit, u64::MAX));
    }

    /// Takes `size` bytes aligned to `align` (a power of two) from the lowest
    /// range that has room, and removes them from the list.
    pub fn take(&mut self, size: u64, align: u64) -> Option<PhysRange> {
        let found = self.as_slice().iter().find_map(|r| {
            let start = r.start.checked_add(align - 1)? & !(align - 1);
            let end = start.checked_add(size)?;
            (end <= r.end).then_some(PhysRange::new(start, end))
        })?;
        self.remove(found);
        Some(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(ranges: &[(u64, u64)]) -> RegionList<8> {
        let mut l = RegionList::new();
        for &(s, e) in ranges {
            l.add(PhysRange::new(s, e));
        }
        l
    }

    fn pairs(l: &RegionList<8>) -> Vec<(u64, u64)> {
        l.as_slice().iter().map(|r| (r.start, r.end)).collect()
    }

    #[test]
    fn add_sorts_and_merges_touching_ranges() {
        let l = list(&[(0x100000, 0x200000), (0, 0x9f000), (0x200000, 0x300000)]);
        assert_eq!(pairs(&l), vec![(0, 0x9f000), (0x100000, 0x300000)]);
        assert_eq!(l.total(), 0x9f000 + 0x200000);
    }

    #[test]
    fn remove_splits_a_range() {
        let mut l = list(&[(0, 0x1000_0000)]);
        l.remove(PhysRange::new(0x10_0000, 0x20_0000));
        assert_eq!(pairs(&l), vec![(0, 0x10_0000), (0x20_0000, 0x1000_0000)]);
        l.clamp(0x800_0000);
        assert_eq!(pairs(&l), vec![(0, 0x10_0000), (0x20_0000, 0x800_0000)]);
    }

    #[test]
    fn take_respects_alignment_and_skips_small_ranges() {
        let mut l = list(&[(0x1000, 0x3000), (0x10_0800, 0x80_0000)]);
        let got = l.take(0x10_0000, 0x1000).unwrap();
        assert_eq!(got, PhysRange::new(0x10_1000, 0x20_1000));
        assert_eq!(pairs(&l), vec![(0x1000, 0x3000), (0x10_0800, 0x10_1000), (0x20_1000, 0x80_0000)]);
        assert!(l.take(0x100_0000, 0x1000).is_none());
    }
}
