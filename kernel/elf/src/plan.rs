//! Validation of an ELF32 i386 executable and its load plan.

use alloc::vec::Vec;
use core::fmt;

use object::elf::{FileHeader32, ProgramHeader32, EM_386, ET_DYN, ET_EXEC, PF_R, PF_W, PF_X, PT_INTERP, PT_LOAD, PT_PHDR};
use object::read::elf::{FileHeader, ProgramHeader};
use object::LittleEndian as LE;

/// Page size of the i386 MMU and of `AT_PAGESZ`.
pub const PAGE_SIZE: u32 = 4096;

/// Most `PT_LOAD` segments we accept; real programs have 2 to 5.
const MAX_LOAD_SEGMENTS: usize = 16;

/// The user half of the address space an image must fit in: `[start, end)`.
/// `start` keeps page 0 unmapped so NULL dereferences fault.
#[derive(Clone, Copy, Debug)]
pub struct UserLimits {
    pub start: u32,
    pub end: u32,
    /// Where a position-independent (ET_DYN) image's lowest page goes.
    pub pie_base: u32,
}

/// Access rights of a mapping (from `p_flags`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Perms {
    pub read: bool,
    pub write: bool,
    pub exec: bool,
}

impl Perms {
    fn from_p_flags(flags: u32) -> Self {
        Perms { read: flags & PF_R != 0, write: flags & PF_W != 0, exec: flags & PF_X != 0 }
    }

    /// The rights of a page two segments share: whatever either needs.
    pub fn union(self, other: Perms) -> Perms {
        Perms { read: self.read || other.read, write: self.write || other.write, exec: self.exec || other.exec }
    }
}

impl fmt::Display for Perms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bit = |on: bool, c: char| if on { c } else { '-' };
        write!(f, "{}{}{}", bit(self.read, 'r'), bit(self.write, 'w'), bit(self.exec, 'x'))
    }
}

/// One `PT_LOAD` segment, already moved by the load bias: `file_size` bytes
/// from `file_offset` go to `vaddr`, the rest up to `mem_size` is zero (bss).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub vaddr: u32,
    pub mem_size: u32,
    pub file_offset: u32,
    pub file_size: u32,
    pub perms: Perms,
}

impl Segment {
    /// One past the last byte.
    pub fn end(&self) -> u32 {
        self.vaddr + self.mem_size
    }
    /// The file bytes this segment copies.
    pub fn file_bytes<'a>(&self, image: &'a [u8]) -> &'a [u8] {
        &image[self.file_offset as usize..(self.file_offset + self.file_size) as usize]
    }
}

/// A run of consecutive pages with the same rights, for the kernel to map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRun {
    pub start: u32,
    pub pages: u32,
    pub perms: Perms,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    /// ET_EXEC: loaded at its link addresses.
    Exec,
    /// ET_DYN (PIE, static-pie): moved by `LoadPlan::bias`.
    Dyn,
}

/// Where a dynamically linked program names its interpreter (`PT_INTERP`):
/// `len` bytes at `offset` in the file, a NUL-terminated path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interp {
    pub offset: u32,
    pub len: u32,
}

/// Longest interpreter path we read (Linux: PATH_MAX).
pub const INTERP_MAX: u32 = 4096;

/// Everything the kernel needs to map an image and start it.
#[derive(Clone, Debug)]
pub struct LoadPlan {
    pub kind: ImageKind,
    /// Added to every link address (0 for ET_EXEC).
    pub bias: u32,
    /// First instruction (biased).
    pub entry: u32,
    /// User address of the program headers (`AT_PHDR`), 0 if not loaded.
    pub phdr: u32,
    pub phent: u32,
    pub phnum: u32,
    /// Sorted by address, non-overlapping.
    pub segments: Vec<Segment>,
    /// First page above the highest segment: the initial program break.
    pub brk: u32,
    /// `PT_INTERP`: the program is started through this interpreter.
    pub interp: Option<Interp>,
}

impl LoadPlan {
    /// The pages to map, in address order, with the union of rights where
    /// two segments share a page (common with `-N` and tightly packed links).
    /// Computed per segment, not per page: a 1 GiB bss costs one run.
    pub fn page_runs(&self) -> Vec<PageRun> {
        fn push(runs: &mut Vec<PageRun>, start: u32, pages: u32, perms: Perms) {
            match runs.last_mut() {
                Some(run) if run.start + run.pages * PAGE_SIZE == start && run.perms == perms => run.pages += pages,
                _ => runs.push(PageRun { start, pages, perms }),
            }
        }
        let mut runs: Vec<PageRun> = Vec::new();
        for seg in &self.segments {
            let (mut start, end) = (page_floor(seg.vaddr), page_ceil(seg.end()));
            // Segments are sorted and disjoint, so at most the first page of
            // this one is the last page mapped so far: give it both rights.
            if let Some(last) = runs.last_mut() {
                if last.start + last.pages * PAGE_SIZE > start {
                    let shared = last.perms.union(seg.perms);
                    last.pages -= 1;
                    if last.pages == 0 {
                        runs.pop();
                    }
                    push(&mut runs, start, 1, shared);
                    start += PAGE_SIZE;
                }
            }
            if start < end {
                push(&mut runs, start, (end - start) / PAGE_SIZE, seg.perms);
            }
        }
        runs
    }
}

/// Why an image cannot be loaded. Each message says what is wrong with the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ElfError {
    NotElf,
    WrongClass(u8),
    WrongEndian(u8),
    WrongMachine(u16),
    WrongType(u16),
    Truncated(&'static str),
    BadInterpreter,
    NoLoadSegments,
    TooManySegments(usize),
    BadPhentsize(u16),
    FileSizeOverMemSize { vaddr: u32 },
    SegmentOutsideFile { vaddr: u32 },
    AddressOverflow { vaddr: u32 },
    Overlap { first: u32, second: u32 },
    OutsideUser { vaddr: u32, end: u32, start: u32, limit: u32 },
    EntryOutside { entry: u32 },
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ElfError::*;
        match *self {
            NotElf => write!(f, "not an ELF file (no \\x7fELF magic)"),
            WrongClass(c) => write!(f, "not a 32-bit ELF (EI_CLASS {c}; need ELFCLASS32, e.g. gcc -m32)"),
            WrongEndian(d) => write!(f, "not little-endian (EI_DATA {d})"),
            WrongMachine(m) => write!(f, "built for machine {m}, not i386 (EM_386 = 3)"),
            WrongType(t) => write!(f, "ELF type {t} is not an executable (need ET_EXEC or ET_DYN)"),
            Truncated(what) => write!(f, "truncated: the {what} lies past the end of the file"),
            BadInterpreter => write!(f, "the PT_INTERP header is not a path inside the file (1 to {INTERP_MAX} bytes)"),
            NoLoadSegments => write!(f, "no PT_LOAD segment"),
            TooManySegments(n) => write!(f, "{n} PT_LOAD segments (at most {MAX_LOAD_SEGMENTS})"),
            BadPhentsize(n) => write!(f, "program header entries of {n} bytes (ELF32 has 32)"),
            FileSizeOverMemSize { vaddr } => write!(f, "segment at {vaddr:#x} has p_filesz > p_memsz"),
            SegmentOutsideFile { vaddr } => write!(f, "segment at {vaddr:#x} reads past the end of the file"),
            AddressOverflow { vaddr } => write!(f, "segment at {vaddr:#x} wraps around the address space"),
            Overlap { first, second } => write!(f, "segments at {first:#x} and {second:#x} overlap"),
            OutsideUser { vaddr, end, start, limit } => write!(
                f,
                "segment {vaddr:#x}..{end:#x} is outside user space {start:#x}..{limit:#x} (kernel memory or page 0)"
            ),
            EntryOutside { entry } => write!(f, "entry point {entry:#x} is not in an executable segment"),
        }
    }
}

pub(crate) const fn page_floor(addr: u32) -> u32 {
    addr & !(PAGE_SIZE - 1)
}

pub(crate) const fn page_ceil(addr: u32) -> u32 {
    page_floor(addr.wrapping_add(PAGE_SIZE - 1))
}

/// Checks the ELF identification bytes ourselves, so each mismatch gets its
/// own message (object's parser only says "unsupported").
fn check_ident(image: &[u8]) -> Result<(), ElfError> {
    if image.len() < 4 || &image[..4] != b"\x7fELF" {
        return Err(ElfError::NotElf);
    }
    let ident = image.get(..16).ok_or(ElfError::Truncated("ELF header"))?;
    if ident[4] != object::elf::ELFCLASS32 {
        return Err(ElfError::WrongClass(ident[4]));
    }
    if ident[5] != object::elf::ELFDATA2LSB {
        return Err(ElfError::WrongEndian(ident[5]));
    }
    Ok(())
}

/// Validates `image` and computes where each segment goes.
pub fn plan(image: &[u8], limits: &UserLimits) -> Result<LoadPlan, ElfError> {
    plan_head(image, image.len(), limits)
}

/// How many bytes from the start of a file [`plan_head`] needs: the ELF
/// header and the program header table (from the 52-byte ELF header
/// `ehdr`; the header alone when it is not a usable ELF header).
pub fn head_len(ehdr: &[u8]) -> usize {
    const EHDR: usize = 52;
    if ehdr.len() < EHDR {
        return EHDR;
    }
    let u16_at = |at: usize| u16::from_le_bytes([ehdr[at], ehdr[at + 1]]) as usize;
    let phoff = u32::from_le_bytes([ehdr[28], ehdr[29], ehdr[30], ehdr[31]]) as usize;
    EHDR.max(phoff.saturating_add(u16_at(42) * u16_at(44)))
}

/// [`plan`] from the first bytes of a file of `file_len` bytes (at least
/// [`head_len`] of them, or all of a shorter file): the loader reads the
/// segments from the file itself, so the image is never copied whole.
pub fn plan_head(image: &[u8], file_len: usize, limits: &UserLimits) -> Result<LoadPlan, ElfError> {
    check_ident(image)?;
    let header = FileHeader32::<LE>::parse(image).map_err(|_| ElfError::Truncated("ELF header"))?;
    let endian = LE;
    let machine = header.e_machine(endian);
    if machine != EM_386 {
        return Err(ElfError::WrongMachine(machine));
    }
    let kind = match header.e_type(endian) {
        ET_EXEC => ImageKind::Exec,
        ET_DYN => ImageKind::Dyn,
        other => return Err(ElfError::WrongType(other)),
    };
    if header.e_phnum(endian) > 0 && usize::from(header.e_phentsize(endian)) != core::mem::size_of::<ProgramHeader32<LE>>() {
        return Err(ElfError::BadPhentsize(header.e_phentsize(endian)));
    }
    let phdrs: &[ProgramHeader32<LE>] =
        header.program_headers(endian, image).map_err(|_| ElfError::Truncated("program header table"))?;

    // Linux takes the first PT_INTERP; its path is read by the loader.
    let interp = match phdrs.iter().find(|ph| ph.p_type(endian) == PT_INTERP) {
        None => None,
        Some(ph) => {
            let (offset, len) = (ph.p_offset(endian), ph.p_filesz(endian));
            if len < 2 || len > INTERP_MAX || offset.checked_add(len).is_none_or(|end| end as usize > file_len) {
                return Err(ElfError::BadInterpreter);
            }
            Some(Interp { offset, len })
        }
    };
    let loads: Vec<&ProgramHeader32<LE>> =
        phdrs.iter().filter(|ph| ph.p_type(endian) == PT_LOAD && ph.p_memsz(endian) > 0).collect();
    if loads.is_empty() {
        return Err(ElfError::NoLoadSegments);
    }
    if loads.len() > MAX_LOAD_SEGMENTS {
        return Err(ElfError::TooManySegments(loads.len()));
    }

    let lowest = loads.iter().map(|ph| ph.p_vaddr(endian)).min().unwrap_or(0);
    let bias = match kind {
        ImageKind::Exec => 0,
        ImageKind::Dyn => limits.pie_base.wrapping_sub(page_floor(lowest)),
    };

    let mut segments = Vec::with_capacity(loads.len());
    for ph in &loads {
        let link_vaddr = ph.p_vaddr(endian);
        let (mem_size, file_size, file_offset) = (ph.p_memsz(endian), ph.p_filesz(endian), ph.p_offset(endian));
        if file_size > mem_size {
            return Err(ElfError::FileSizeOverMemSize { vaddr: link_vaddr });
        }
        match file_offset.checked_add(file_size) {
            Some(end) if end as usize <= file_len => {}
            _ => return Err(ElfError::SegmentOutsideFile { vaddr: link_vaddr }),
        }
        let vaddr = link_vaddr.checked_add(bias).ok_or(ElfError::AddressOverflow { vaddr: link_vaddr })?;
        let end = vaddr.checked_add(mem_size).ok_or(ElfError::AddressOverflow { vaddr })?;
        if vaddr < limits.start || page_ceil(end) > limits.end || page_ceil(end) < end {
            return Err(ElfError::OutsideUser { vaddr, end, start: limits.start, limit: limits.end });
        }
        segments.push(Segment { vaddr, mem_size, file_offset, file_size, perms: Perms::from_p_flags(ph.p_flags(endian)) });
    }
    segments.sort_by_key(|s| s.vaddr);
    for pair in segments.windows(2) {
        if pair[0].end() > pair[1].vaddr {
            return Err(ElfError::Overlap { first: pair[0].vaddr, second: pair[1].vaddr });
        }
    }

    let entry = header.e_entry(endian).wrapping_add(bias);
    if !segments.iter().any(|s| s.perms.exec && s.vaddr <= entry && entry < s.end()) {
        return Err(ElfError::EntryOutside { entry });
    }

    let phoff = header.e_phoff(endian);
    let phdr = match phdrs.iter().find(|ph| ph.p_type(endian) == PT_PHDR) {
        Some(ph) => ph.p_vaddr(endian).wrapping_add(bias),
        // No PT_PHDR (static and -nostdlib links): the headers are wherever
        // the segment covering their file offset put them.
        None => segments
            .iter()
            .find(|s| s.file_offset <= phoff && phoff < s.file_offset + s.file_size)
            .map_or(0, |s| s.vaddr + (phoff - s.file_offset)),
    };
    let brk = page_ceil(segments.iter().map(Segment::end).max().unwrap_or(0));
    Ok(LoadPlan {
        kind,
        bias,
        entry,
        phdr,
        phent: u32::from(header.e_phentsize(endian)),
        phnum: phdrs.len() as u32,
        segments,
        brk,
        interp,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// (vaddr, file offset, file size, mem size, p_flags)
    pub type Seg = (u32, u32, u32, u32, u32);

    pub const LIMITS: UserLimits = UserLimits { start: 0x1000, end: 0xC000_0000, pie_base: 0x5655_5000 };

    /// A minimal ELF32 i386 image: header, program headers right after it,
    /// then zero bytes up to `file_len`.
    pub fn elf(e_type: u16, entry: u32, segs: &[Seg], file_len: usize) -> Vec<u8> {
        let mut out = vec![0u8; file_len.max(52 + 32 * segs.len())];
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = 1; // ELFCLASS32
        out[5] = 1; // little-endian
        out[6] = 1; // EV_CURRENT
        let put16 = |out: &mut Vec<u8>, at: usize, v: u16| out[at..at + 2].copy_from_slice(&v.to_le_bytes());
        put16(&mut out, 16, e_type);
        put16(&mut out, 18, 3); // EM_386
        put16(&mut out, 40, 52); // e_ehsize
        put16(&mut out, 42, 32); // e_phentsize
        put16(&mut out, 44, segs.len() as u16);
        let put32 = |out: &mut Vec<u8>, at: usize, v: u32| out[at..at + 4].copy_from_slice(&v.to_le_bytes());
        put32(&mut out, 20, 1); // e_version
        put32(&mut out, 24, entry);
        put32(&mut out, 28, 52); // e_phoff
        for (i, &(vaddr, offset, filesz, memsz, flags)) in segs.iter().enumerate() {
            let ph = 52 + 32 * i;
            put32(&mut out, ph, PT_LOAD);
            put32(&mut out, ph + 4, offset);
            put32(&mut out, ph + 8, vaddr);
            put32(&mut out, ph + 12, vaddr);
            put32(&mut out, ph + 16, filesz);
            put32(&mut out, ph + 20, memsz);
            put32(&mut out, ph + 24, flags);
            put32(&mut out, ph + 28, PAGE_SIZE);
        }
        out
    }

    pub fn static_exec() -> Vec<u8> {
        elf(ET_EXEC, 0x0804_9000, &[(0x0804_8000, 0, 0x2000, 0x2000, PF_R | PF_X), (0x0804_a000, 0x2000, 0x100, 0x3000, PF_R | PF_W)], 0x2100)
    }

    #[test]
    fn exec_plan_keeps_link_addresses() {
        let plan = plan(&static_exec(), &LIMITS).unwrap();
        assert_eq!(plan.kind, ImageKind::Exec);
        assert_eq!(plan.bias, 0);
        assert_eq!(plan.entry, 0x0804_9000);
        assert_eq!(plan.segments.len(), 2);
        assert_eq!(plan.segments[1].file_size, 0x100);
        assert_eq!(plan.segments[1].mem_size, 0x3000, "bss is the part past file_size");
        assert_eq!(plan.brk, 0x0804_d000);
        assert_eq!(plan.phdr, 0x0804_8000 + 52, "headers found through the segment covering e_phoff");
        assert_eq!((plan.phent, plan.phnum), (32, 2));
    }

    #[test]
    fn pie_is_moved_to_pie_base() {
        let image = elf(ET_DYN, 0x1074, &[(0, 0, 0x1200, 0x1200, PF_R | PF_W | PF_X)], 0x1200);
        let plan = plan(&image, &LIMITS).unwrap();
        assert_eq!(plan.kind, ImageKind::Dyn);
        assert_eq!(plan.bias, 0x5655_5000);
        assert_eq!(plan.entry, 0x5655_6074);
        assert_eq!(plan.segments[0].vaddr, 0x5655_5000);
    }

    #[test]
    fn shared_page_gets_both_rights() {
        let image = elf(ET_EXEC, 0x0804_8100, &[(0x0804_8000, 0, 0x1800, 0x1800, PF_R | PF_X), (0x0804_9800, 0x1800, 0x10, 0x2000, PF_R | PF_W)], 0x1810);
        let runs = plan(&image, &LIMITS).unwrap().page_runs();
        let rx = Perms { read: true, write: false, exec: true };
        let rwx = Perms { read: true, write: true, exec: true };
        let rw = Perms { read: true, write: true, exec: false };
        assert_eq!(
            runs,
            vec![
                PageRun { start: 0x0804_8000, pages: 1, perms: rx },
                PageRun { start: 0x0804_9000, pages: 1, perms: rwx },
                PageRun { start: 0x0804_a000, pages: 2, perms: rw },
            ]
        );
    }

    #[test]
    fn a_huge_bss_is_one_run() {
        let image = elf(ET_EXEC, 0x0804_8100, &[(0x0804_8000, 0, 0x1800, 0x1800, PF_R | PF_X), (0x0804_9800, 0x1800, 0x10, 0x4000_0000, PF_R | PF_W)], 0x1810);
        let runs = plan(&image, &LIMITS).unwrap().page_runs();
        assert_eq!(runs.len(), 3);
        assert_eq!(runs[2], PageRun { start: 0x0804_a000, pages: 0x4000_0000 / PAGE_SIZE, perms: Perms { read: true, write: true, exec: false } });
    }

    #[test]
    fn three_segments_in_one_page_share_it() {
        let image = elf(ET_EXEC, 0x0804_8010, &[(0x0804_8000, 0, 0x10, 0x10, PF_R), (0x0804_8010, 0x10, 0x10, 0x10, PF_R | PF_X), (0x0804_8020, 0x20, 0x10, 0x2000, PF_R | PF_W)], 0x30);
        let runs = plan(&image, &LIMITS).unwrap().page_runs();
        let rwx = Perms { read: true, write: true, exec: true };
        let rw = Perms { read: true, write: true, exec: false };
        assert_eq!(runs, vec![PageRun { start: 0x0804_8000, pages: 1, perms: rwx }, PageRun { start: 0x0804_9000, pages: 2, perms: rw }]);
    }

    #[test]
    fn plan_from_the_head_of_a_file_matches_the_whole_image() {
        let image = static_exec();
        let head = &image[..head_len(&image[..52]).min(image.len())];
        let whole = plan(&image, &LIMITS).unwrap();
        let from_head = plan_head(head, image.len(), &LIMITS).unwrap();
        assert_eq!(whole.segments, from_head.segments);
        assert_eq!(plan_head(head, 10, &LIMITS).unwrap_err(), ElfError::SegmentOutsideFile { vaddr: whole.segments[0].vaddr });
    }

    #[test]
    fn rejects_bad_files_with_their_reason() {
        assert_eq!(plan(b"#!/bin/sh\n", &LIMITS).unwrap_err(), ElfError::NotElf);
        assert_eq!(plan(b"", &LIMITS).unwrap_err(), ElfError::NotElf);
        let mut elf64 = static_exec();
        elf64[4] = 2;
        assert_eq!(plan(&elf64, &LIMITS).unwrap_err(), ElfError::WrongClass(2));
        let mut arm = static_exec();
        arm[18] = 40;
        assert_eq!(plan(&arm, &LIMITS).unwrap_err(), ElfError::WrongMachine(40));
        let mut relocatable = static_exec();
        relocatable[16] = 1;
        assert_eq!(plan(&relocatable, &LIMITS).unwrap_err(), ElfError::WrongType(1));
        assert!(matches!(plan(&static_exec()[..60], &LIMITS).unwrap_err(), ElfError::Truncated(_)));
        assert!(matches!(plan(&static_exec()[..30], &LIMITS).unwrap_err(), ElfError::Truncated(_)));
    }

    #[test]
    fn rejects_segment_past_end_of_file() {
        let image = elf(ET_EXEC, 0x0804_8000, &[(0x0804_8000, 0, 0x5000, 0x5000, PF_R | PF_X)], 0x100);
        assert_eq!(plan(&image, &LIMITS).unwrap_err(), ElfError::SegmentOutsideFile { vaddr: 0x0804_8000 });
    }

    #[test]
    fn rejects_overlapping_segments() {
        let image = elf(ET_EXEC, 0x0804_8000, &[(0x0804_8000, 0, 0x100, 0x2000, PF_R | PF_X), (0x0804_9000, 0, 0x100, 0x100, PF_R)], 0x200);
        assert_eq!(plan(&image, &LIMITS).unwrap_err(), ElfError::Overlap { first: 0x0804_8000, second: 0x0804_9000 });
    }

    #[test]
    fn rejects_kernel_space_and_page_zero() {
        let kernel = elf(ET_EXEC, 0xC010_0000, &[(0xC010_0000, 0, 0x100, 0x100, PF_R | PF_X)], 0x200);
        assert!(matches!(plan(&kernel, &LIMITS).unwrap_err(), ElfError::OutsideUser { vaddr: 0xC010_0000, .. }));
        let straddling = elf(ET_EXEC, 0xBFFF_F000, &[(0xBFFF_F000, 0, 0x100, 0x2000, PF_R | PF_X)], 0x200);
        assert!(matches!(plan(&straddling, &LIMITS).unwrap_err(), ElfError::OutsideUser { .. }));
        let zero = elf(ET_EXEC, 0x10, &[(0, 0, 0x100, 0x100, PF_R | PF_X)], 0x200);
        assert!(matches!(plan(&zero, &LIMITS).unwrap_err(), ElfError::OutsideUser { vaddr: 0, .. }));
        let wrap = elf(ET_EXEC, 0xFFFF_F000, &[(0xFFFF_F000, 0, 0x100, 0x2000, PF_R | PF_X)], 0x200);
        assert!(matches!(plan(&wrap, &LIMITS).unwrap_err(), ElfError::AddressOverflow { .. }));
    }

    #[test]
    fn rejects_entry_outside_code_and_filesz_over_memsz() {
        let image = elf(ET_EXEC, 0x0900_0000, &[(0x0804_8000, 0, 0x100, 0x100, PF_R | PF_X)], 0x200);
        assert_eq!(plan(&image, &LIMITS).unwrap_err(), ElfError::EntryOutside { entry: 0x0900_0000 });
        let data_entry = elf(ET_EXEC, 0x0804_8010, &[(0x0804_8000, 0, 0x100, 0x100, PF_R | PF_W)], 0x200);
        assert!(matches!(plan(&data_entry, &LIMITS).unwrap_err(), ElfError::EntryOutside { .. }));
        let image = elf(ET_EXEC, 0x0804_8000, &[(0x0804_8000, 0, 0x200, 0x100, PF_R | PF_X)], 0x200);
        assert!(matches!(plan(&image, &LIMITS).unwrap_err(), ElfError::FileSizeOverMemSize { .. }));
    }

    /// A PT_INTERP header (here over the first segment's header, so the
    /// image keeps one PT_LOAD) is recorded, not refused; a path that is
    /// not inside the file, or too long, is.
    #[test]
    fn records_the_interpreter() {
        let mut image = elf(ET_DYN, 0x1100, &[(0, 0, 0x100, 0x100, PF_R), (0x1000, 0, 0x200, 0x200, PF_R | PF_X)], 0x200);
        let put32 = |b: &mut Vec<u8>, at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        put32(&mut image, 52, PT_INTERP);
        put32(&mut image, 56, 0x100);
        put32(&mut image, 68, 19);
        let dynamic = plan(&image, &LIMITS).unwrap();
        assert_eq!(dynamic.interp, Some(Interp { offset: 0x100, len: 19 }));
        assert_eq!(dynamic.segments.len(), 1);
        put32(&mut image, 56, 0x1f0);
        assert_eq!(plan_err(&image), ElfError::BadInterpreter);
        put32(&mut image, 56, 0x100);
        put32(&mut image, 68, INTERP_MAX + 1);
        assert_eq!(plan_err(&image), ElfError::BadInterpreter);
        put32(&mut image, 68, 1);
        assert_eq!(plan_err(&image), ElfError::BadInterpreter);
        assert!(plan(&static_exec(), &LIMITS).unwrap().interp.is_none());
    }

    fn plan_err(image: &[u8]) -> ElfError {
        plan(image, &LIMITS).unwrap_err()
    }

    #[test]
    fn messages_say_what_is_wrong() {
        use alloc::string::ToString;
        assert!(ElfError::WrongClass(2).to_string().contains("32-bit"));
        assert!(ElfError::BadInterpreter.to_string().contains("PT_INTERP"));
    }

    /// The seed's layout: `-nostdlib -emain -fpie -N` puts code and data in
    /// one RWX segment, not page aligned, without the headers.
    #[test]
    fn seed_flags_binary_plans() {
        let dir = std::env::temp_dir().join(format!("embox-elf-seed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/../../third-party/lkl/linux_echo.c");
        let exe = dir.join("linux_echo");
        let built = std::process::Command::new("gcc")
            .args(["-m32", "-nostdlib", "-emain", "-fpie", "-N", "-static", "-O2", "-fno-stack-protector", "-ffreestanding", "-o"])
            .arg(&exe)
            .arg(src)
            .status();
        if !matches!(built, Ok(s) if s.success()) {
            eprintln!("skipped: no gcc -m32 here");
            return;
        }
        let image = std::fs::read(&exe).unwrap();
        let plan = plan(&image, &LIMITS).unwrap();
        assert_eq!(plan.kind, ImageKind::Exec);
        let exec: Vec<_> = plan.segments.iter().filter(|s| s.perms.exec).collect();
        assert!(exec.iter().any(|s| s.perms.write), "-N makes text writable: {:?}", plan.segments);
        // -N does not load the headers: no segment covers e_phoff, so AT_PHDR is 0.
        assert_eq!(plan.phdr, 0);
        assert!(plan.segments[0].vaddr <= plan.entry && plan.entry < plan.segments[0].end());
        std::fs::remove_dir_all(&dir).ok();
    }

    /// The real thing: a static binary the host compiler makes, when it can.
    #[test]
    fn host_gcc_static_binary_plans() {
        let dir = std::env::temp_dir().join(format!("embox-elf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = dir.join("t.c");
        std::fs::write(&src, "int main(void){return 0;}\n").unwrap();
        let exe = dir.join("t");
        let built = std::process::Command::new("gcc").args(["-m32", "-static", "-o"]).arg(&exe).arg(&src).status();
        if !matches!(built, Ok(s) if s.success()) {
            eprintln!("skipped: no gcc -m32 -static here");
            return;
        }
        let image = std::fs::read(&exe).unwrap();
        let plan = plan(&image, &LIMITS).unwrap();
        assert!(plan.segments.iter().any(|s| s.perms.exec));
        assert!(plan.segments.iter().any(|s| s.mem_size > s.file_size), "static glibc has bss");
        assert!(plan.phdr != 0);
        std::fs::remove_dir_all(&dir).ok();
    }
}
