//! The physical frame allocator: one bit per 4 KiB frame of each usable range.

use crate::{PhysRange, FRAME_SIZE};
use alloc::vec::Vec;

struct Zone {
    first_frame: u64,
    frames: u64,
    /// Bit set = frame in use.
    used: Vec<u64>,
    /// References beyond the first, per frame (copy-on-write sharing after
    /// fork): a frame is free again when its last reference is dropped.
    extra_refs: Vec<u8>,
}

/// Frame counts for `free`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameStats {
    pub total: u64,
    pub free: u64,
}

/// Allocates and frees 4 KiB physical frames, addressed by physical address.
pub struct FrameAllocator {
    zones: Vec<Zone>,
    free: u64,
    total: u64,
    /// Zone and word where the last search stopped, to keep allocation O(1)
    /// on average.
    hint: (usize, usize),
}

impl FrameAllocator {
    /// Tracks the whole frames inside `ranges`.
    pub fn new(ranges: &[PhysRange]) -> Self {
        let mut zones = Vec::new();
        let mut total = 0;
        for r in ranges {
            let first = r.start.div_ceil(FRAME_SIZE);
            let last = r.end / FRAME_SIZE;
            if last <= first {
                continue;
            }
            let frames = last - first;
            let words = frames.div_ceil(64) as usize;
            let mut used = alloc::vec![0u64; words];
            // Mark the bits past the zone's end as used so they are never handed out.
            let tail = frames % 64;
            if tail != 0 {
                used[words - 1] = !0u64 << tail;
            }
            zones.push(Zone { first_frame: first, frames, used, extra_refs: alloc::vec![0u8; frames as usize] });
            total += frames;
        }
        Self { zones, free: total, total, hint: (0, 0) }
    }

    pub fn stats(&self) -> FrameStats {
        FrameStats { total: self.total, free: self.free }
    }

    /// Returns the physical address of a free frame, now in use.
    pub fn alloc(&mut self) -> Option<u64> {
        if self.free == 0 {
            return None;
        }
        let (hz, hw) = self.hint;
        let nzones = self.zones.len();
        for zi in (0..=nzones).map(|i| (hz + i) % nzones) {
            let zone = &mut self.zones[zi];
            let start_word = if zi == hz { hw } else { 0 };
            for wi in start_word..zone.used.len() {
                let word = zone.used[wi];
                if word != !0 {
                    let bit = (!word).trailing_zeros() as u64;
                    zone.used[wi] |= 1 << bit;
                    self.free -= 1;
                    self.hint = (zi, wi);
                    return Some((zone.first_frame + wi as u64 * 64 + bit) * FRAME_SIZE);
                }
            }
        }
        None
    }

    /// Allocates `count` physically contiguous frames (first fit, from the
    /// top of the highest zone down, so the low frames that single-frame
    /// allocations favour stay free); returns the first one's address.
    /// For large one-off regions such as LKL's "physical" memory.
    pub fn alloc_contiguous(&mut self, count: u64) -> Option<u64> {
        if count == 0 || count > self.free {
            return None;
        }
        for zone in self.zones.iter_mut().rev() {
            if zone.frames < count {
                continue;
            }
            let is_used = |used: &[u64], i: u64| used[(i / 64) as usize] & (1 << (i % 64)) != 0;
            // Scan down from the zone's top; `run` counts free frames seen
            // in a row, ending at `end` (exclusive).
            let mut end = zone.frames;
            let mut i = zone.frames;
            while i > 0 {
                i -= 1;
                if is_used(&zone.used, i) {
                    end = i;
                    continue;
                }
                if end - i == count {
                    for f in i..end {
                        zone.used[(f / 64) as usize] |= 1 << (f % 64);
                    }
                    self.free -= count;
                    return Some((zone.first_frame + i) * FRAME_SIZE);
                }
            }
        }
        None
    }

    /// The zone index and frame index of frame `addr`, allocated or not.
    /// Fork and exit call this once per mapped page: the zones are
    /// searched from the last (the RAM above 1 MiB, where nearly every
    /// frame lies) with one comparison each.
    fn index(&self, addr: u64) -> Option<(usize, usize)> {
        if addr % FRAME_SIZE != 0 {
            return None;
        }
        let frame = addr / FRAME_SIZE;
        let zi = self.zones.iter().rposition(|z| frame.wrapping_sub(z.first_frame) < z.frames)?;
        Some((zi, (frame - self.zones[zi].first_frame) as usize))
    }

    /// True when frame `idx` of `zone` is allocated.
    fn is_used(zone: &Zone, idx: usize) -> bool {
        zone.used[idx / 64] >> (idx % 64) & 1 != 0
    }

    /// The zone index and frame index of an allocated frame.
    fn locate(&self, addr: u64) -> Option<(usize, usize)> {
        let (zi, idx) = self.index(addr)?;
        Self::is_used(&self.zones[zi], idx).then_some((zi, idx))
    }

    /// Adds a reference to an allocated frame (a second address space maps
    /// it copy-on-write). False, changing nothing, for a frame that is not
    /// allocated or already has the most references a count holds (the
    /// caller then copies the page instead).
    pub fn share(&mut self, addr: u64) -> bool {
        let Some((zi, idx)) = self.index(addr) else { return false };
        let zone = &mut self.zones[zi];
        let count = zone.extra_refs[idx];
        // A frame with references is allocated; only a lone one is checked.
        if count == u8::MAX || (count == 0 && !Self::is_used(zone, idx)) {
            return false;
        }
        zone.extra_refs[idx] = count + 1;
        true
    }

    /// True when more than one reference holds the allocated frame `addr`.
    pub fn is_shared(&self, addr: u64) -> bool {
        self.locate(addr).is_some_and(|(zi, idx)| self.zones[zi].extra_refs[idx] > 0)
    }

    /// Drops a reference to a frame from [`alloc`](Self::alloc); the last
    /// one gives it back. Returns false (and changes nothing) for an address
    /// that is not an allocated frame.
    pub fn free(&mut self, addr: u64) -> bool {
        let Some((zi, idx)) = self.index(addr) else { return false };
        let zone = &mut self.zones[zi];
        let count = &mut zone.extra_refs[idx];
        // A frame with references is allocated: the common case at the
        // exit of a forked child, whose pages are shared.
        if *count > 0 {
            *count -= 1;
            return true;
        }
        if !Self::is_used(zone, idx) {
            return false;
        }
        let wi = idx / 64;
        zone.used[wi] &= !(1 << (idx % 64));
        self.free += 1;
        if (zi, wi) < self.hint {
            self.hint = (zi, wi);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_every_frame_once_then_runs_out() {
        let mut fa = FrameAllocator::new(&[
            PhysRange::new(0x1000, 0x3800),       // 2 whole frames
            PhysRange::new(0x10_0000, 0x10_0000 + 70 * FRAME_SIZE),
        ]);
        assert_eq!(fa.stats(), FrameStats { total: 72, free: 72 });
        let mut got = Vec::new();
        while let Some(f) = fa.alloc() {
            got.push(f);
        }
        assert_eq!(got.len(), 72);
        got.sort();
        got.dedup();
        assert_eq!(got.len(), 72);
        assert_eq!(got[0], 0x1000);
        assert_eq!(got[2], 0x10_0000);
        assert_eq!(fa.stats().free, 0);
    }

    #[test]
    fn contiguous_runs_skip_used_frames_and_free_frame_by_frame() {
        let mut fa = FrameAllocator::new(&[
            PhysRange::new(0, 8 * FRAME_SIZE),
            PhysRange::new(0x100_0000, 0x100_0000 + 200 * FRAME_SIZE),
        ]);
        // Taken from the top of the highest zone.
        let a = fa.alloc_contiguous(100).unwrap();
        assert_eq!(a, 0x100_0000 + 100 * FRAME_SIZE);
        assert_eq!(fa.stats().free, 108);
        // A used frame in the middle splits the remaining run.
        for f in 0..100 {
            if f != 50 {
                assert!(fa.free(a + f * FRAME_SIZE));
            }
        }
        let b = fa.alloc_contiguous(100).unwrap();
        assert_eq!(b, 0x100_0000 + 50 * FRAME_SIZE, "the run below the used frame");
        assert_eq!(fa.alloc_contiguous(60), None, "runs of 50, 49 and 8 are left");
        assert_eq!(fa.alloc_contiguous(49), Some(a + 51 * FRAME_SIZE));
        assert_eq!(fa.alloc_contiguous(50), Some(0x100_0000));
        assert_eq!(fa.alloc_contiguous(9), None);
        assert_eq!(fa.alloc_contiguous(8), Some(0));
        assert_eq!(fa.alloc_contiguous(0), None);
        assert_eq!(fa.stats().free, 0);
    }

    #[test]
    fn freed_frames_are_reused_and_bad_frees_rejected() {
        let mut fa = FrameAllocator::new(&[PhysRange::new(0, 4 * FRAME_SIZE)]);
        let a = fa.alloc().unwrap();
        let b = fa.alloc().unwrap();
        assert!(fa.free(a));
        assert!(!fa.free(a), "double free must be refused");
        assert!(!fa.free(0x123), "unaligned");
        assert!(!fa.free(100 * FRAME_SIZE), "outside every zone");
        assert_eq!(fa.alloc(), Some(a));
        assert_ne!(a, b);
        assert_eq!(fa.stats().free, 2);
    }

    #[test]
    fn a_shared_frame_is_free_after_its_last_reference() {
        let mut fa = FrameAllocator::new(&[PhysRange::new(0, 2 * FRAME_SIZE)]);
        let a = fa.alloc().unwrap();
        assert!(!fa.is_shared(a));
        assert!(fa.share(a) && fa.share(a));
        assert!(fa.is_shared(a));
        assert!(fa.free(a) && fa.free(a));
        assert!(!fa.is_shared(a));
        assert_eq!(fa.stats().free, 1, "one reference still holds it");
        assert!(fa.free(a));
        assert_eq!(fa.stats().free, 2);
        assert!(!fa.share(a), "a free frame cannot be shared");
        assert!(!fa.free(a));
    }

    #[test]
    fn sharing_stops_at_the_counter_limit() {
        let mut fa = FrameAllocator::new(&[PhysRange::new(0, FRAME_SIZE)]);
        let a = fa.alloc().unwrap();
        for _ in 0..u8::MAX {
            assert!(fa.share(a));
        }
        assert!(!fa.share(a), "the count is full: the caller copies instead");
        for _ in 0..=u8::MAX {
            assert!(fa.free(a));
        }
        assert_eq!(fa.stats().free, 1);
    }
}
