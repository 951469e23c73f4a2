//! Loading a Linux i386 executable into a fresh address space: validate and
//! plan with `embox-elf`, create one area per `PT_LOAD` segment (rights from
//! `p_flags`, shared pages get both segments' rights), copy the file bytes
//! page by page from the file (never the whole file into the heap; the rest
//! of each area reads as zero: that is the bss), then build the Linux
//! initial stack below [`STACK_TOP`]. A dynamically linked program
//! (`PT_INTERP`) gets its interpreter loaded beside it; the program starts
//! at the interpreter's entry, with `AT_BASE`/`AT_ENTRY`/`AT_PHDR` telling
//! the interpreter where everything is.

use alloc::string::{String, ToString};

use alloc::vec::Vec;

use embox_elf::{build_stack, head_len, plan_head, Interp, LoadPlan, StackInfo, UserLimits};
use embox_hal::paging::USER_START;

use super::memory::{page_floor, AreaKind, Backing, ProcessMemory, INTERP_BASE, PIE_BASE, STACK_TOP};

/// Most bytes of arguments, environment and auxv on the initial stack.
const ARG_STACK_LIMIT: usize = 128 * 1024;

/// A program ready to start: its memory and where to begin.
pub struct Loaded {
    pub memory: ProcessMemory,
    pub entry: u32,
    pub stack: u32,
    pub plan: LoadPlan,
}

/// Why a program could not be loaded, worded for the shell user.
pub type LoadError = String;

/// A program file the loader reads piece by piece.
pub trait Image {
    /// Its length in bytes.
    fn len(&self) -> usize;
    /// Fills `buf` from `offset`; returns how many bytes there were.
    fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<usize, LoadError>;
}

impl Image for [u8] {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }
    fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<usize, LoadError> {
        let rest = self.get(offset..).unwrap_or(&[]);
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    }
}

impl Image for Vec<u8> {
    fn len(&self) -> usize {
        self.as_slice().len()
    }
    fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<usize, LoadError> {
        self.as_slice().read_at(offset, buf)
    }
}

/// Most bytes of ELF header and program headers we read (a real table is
/// a few hundred bytes; more is a hostile file).
const HEAD_LIMIT: usize = 64 * 1024;

/// The first bytes of `image` that `plan_head` needs.
fn read_head(image: &(impl Image + ?Sized)) -> Result<Vec<u8>, LoadError> {
    let mut ehdr = [0u8; 52];
    let n = image.read_at(0, &mut ehdr)?;
    let end = head_len(&ehdr[..n]);
    if end <= image.len() && end > HEAD_LIMIT {
        return Err(alloc::format!("the program header table ends at byte {end}, past the first {HEAD_LIMIT} bytes"));
    }
    // Past the end of the file: the planner reports what is truncated.
    let want = end.min(image.len()).min(HEAD_LIMIT);
    let mut head = Vec::new();
    head.try_reserve_exact(want).map_err(|_| "out of kernel memory for the ELF header".to_string())?;
    head.resize(want, 0);
    let n = image.read_at(0, &mut head)?;
    head.truncate(n);
    Ok(head)
}

/// Opens a file the loader needs besides the program (its interpreter).
pub type Opener<'a> = &'a dyn Fn(&str) -> Result<alloc::boxed::Box<dyn Image>, LoadError>;

/// Validates `image` and plans it; an ET_DYN image goes at `base`.
fn plan_image(image: &(impl Image + ?Sized), base: u32) -> Result<LoadPlan, LoadError> {
    let limits = UserLimits { start: USER_START as u32, end: STACK_TOP - super::memory::STACK_SIZE, pie_base: base };
    plan_head(&read_head(image)?, image.len(), &limits).map_err(|e| e.to_string())
}

/// Creates the areas of `plan` in `memory` and copies the file bytes of
/// each segment into them, a page at a time. The pages that hold file
/// bytes are named after the file `path` (with their offset in it, as
/// `/proc/self/maps` shows them); the bss past them is anonymous.
fn map_image(memory: &mut ProcessMemory, image: &(impl Image + ?Sized), plan: &LoadPlan, path: &str) -> Result<(), LoadError> {
    for run in plan.page_runs() {
        let end = run.start + run.pages * embox_elf::PAGE_SIZE;
        memory
            .add_area(run.start, end, run.perms, AreaKind::Program)
            .map_err(|e| alloc::format!("cannot map {:#x}..{:#x}: {}", run.start, end, e.name()))?;
    }
    let path: alloc::sync::Arc<str> = alloc::sync::Arc::from(path);
    for seg in plan.segments.iter().filter(|seg| seg.file_size > 0) {
        let start = page_floor(seg.vaddr);
        let len = seg.vaddr + seg.file_size - start;
        let file = Backing { path: path.clone(), page: seg.file_offset / embox_elf::PAGE_SIZE, node: None };
        memory
            .set_file(start, len, Some(file), false)
            .map_err(|e| alloc::format!("cannot map {:#x}..{:#x}: {}", start, start + len, e.name()))?;
    }
    let mut page = [0u8; embox_elf::PAGE_SIZE as usize];
    for seg in &plan.segments {
        let mut done = 0usize;
        while done < seg.file_size as usize {
            let want = page.len().min(seg.file_size as usize - done);
            let got = image.read_at(seg.file_offset as usize + done, &mut page[..want])?;
            if got != want {
                return Err(alloc::format!("the file ended while loading the segment at {:#x}", seg.vaddr));
            }
            memory
                .load_bytes(seg.vaddr + done as u32, &page[..want])
                .map_err(|e| alloc::format!("cannot load segment at {:#x}: {}", seg.vaddr, e.name()))?;
            done += want;
        }
    }
    Ok(())
}

/// The interpreter path `PT_INTERP` names. As Linux: its last byte must be
/// NUL, and the path is the C string up to the first NUL.
fn interp_path(image: &(impl Image + ?Sized), interp: Interp) -> Result<String, LoadError> {
    let mut raw = alloc::vec![0u8; interp.len as usize];
    if image.read_at(interp.offset as usize, &mut raw)? != raw.len() {
        return Err("the file ended inside the PT_INTERP path".to_string());
    }
    if raw.last() != Some(&0) {
        return Err("the PT_INTERP path does not end in a NUL byte".to_string());
    }
    let path = &raw[..raw.iter().position(|&b| b == 0).unwrap_or(0)];
    if path.is_empty() {
        return Err("the PT_INTERP path is empty".to_string());
    }
    core::str::from_utf8(path).map(String::from).map_err(|_| "the PT_INTERP path is not UTF-8".to_string())
}

/// Loads the interpreter a dynamically linked program names (ld-linux.so.2)
/// next to it, at [`INTERP_BASE`] when it is position independent. Returns
/// its entry and load bias (`AT_BASE`).
fn load_interpreter(memory: &mut ProcessMemory, image: &(impl Image + ?Sized), interp: Interp, open: Opener) -> Result<(u32, u32), LoadError> {
    let path = interp_path(image, interp)?;
    let in_interp = |e: LoadError| alloc::format!("interpreter {path}: {e}");
    let file = open(&path).map_err(in_interp)?;
    let plan = plan_image(&*file, INTERP_BASE).map_err(in_interp)?;
    if plan.interp.is_some() {
        return Err(in_interp("is itself dynamically linked (has PT_INTERP)".to_string()));
    }
    map_image(memory, &*file, &plan, &path).map_err(in_interp)?;
    Ok((plan.entry, plan.bias))
}

/// Builds the address space of `image` (and of its interpreter, opened
/// with `open`, when it has one) and its initial stack.
pub fn load(
    image: &(impl Image + ?Sized),
    execfn: &str,
    args: &[&[u8]],
    env: &[&[u8]],
    random: [u8; 16],
    hwcap: u32,
    open: Opener,
) -> Result<Loaded, LoadError> {
    let plan = plan_image(image, PIE_BASE)?;
    let mut memory = ProcessMemory::new().map_err(|_| "out of memory for a page directory".to_string())?;
    map_image(&mut memory, image, &plan, execfn)?;
    let (entry, interp_base) = match plan.interp {
        Some(interp) => load_interpreter(&mut memory, image, interp, open)?,
        None => (plan.entry, 0),
    };
    memory.add_stack_and_heap(plan.brk).map_err(|e| alloc::format!("cannot set up the stack: {}", e.name()))?;

    let info = StackInfo { interp_base, ..StackInfo::root(args, env, execfn.as_bytes(), random, hwcap) };
    let stack = build_stack(STACK_TOP, ARG_STACK_LIMIT, &plan, &info).map_err(|e| e.to_string())?;
    memory
        .load_bytes(stack.sp, &stack.bytes)
        .map_err(|e| alloc::format!("cannot write the initial stack: {}", e.name()))?;
    Ok(Loaded { memory, entry, stack: stack.sp, plan })
}
