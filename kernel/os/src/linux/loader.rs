//! Loading a Linux i386 executable into a fresh address space: validate and
//! plan with `embox-elf`, create one area per `PT_LOAD` segment (rights from
//! `p_flags`, shared pages get both segments' rights), copy the file bytes
//! (the rest of each area reads as zero: that is the bss), then build the
//! Linux initial stack below [`STACK_TOP`].

use alloc::string::{String, ToString};

use embox_elf::{build_stack, plan, LoadPlan, StackInfo, UserLimits};
use embox_hal::paging::USER_START;

use super::memory::{AreaKind, ProcessMemory, PIE_BASE, STACK_TOP};

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

/// Builds the address space of `image` and its initial stack.
pub fn load(image: &[u8], execfn: &str, args: &[&[u8]], env: &[&[u8]], random: [u8; 16], hwcap: u32) -> Result<Loaded, LoadError> {
    let limits = UserLimits { start: USER_START as u32, end: STACK_TOP - super::memory::STACK_SIZE, pie_base: PIE_BASE };
    let plan = plan(image, &limits).map_err(|e| e.to_string())?;
    let mut memory = ProcessMemory::new().map_err(|_| "out of memory for a page directory".to_string())?;
    for run in plan.page_runs() {
        let end = run.start + run.pages * embox_elf::PAGE_SIZE;
        memory
            .add_area(run.start, end, run.perms, AreaKind::Program)
            .map_err(|e| alloc::format!("cannot map {:#x}..{:#x}: {}", run.start, end, e.name()))?;
    }
    for seg in &plan.segments {
        memory
            .load_bytes(seg.vaddr, seg.file_bytes(image))
            .map_err(|e| alloc::format!("cannot load segment at {:#x}: {}", seg.vaddr, e.name()))?;
    }
    memory.add_stack_and_heap(plan.brk).map_err(|e| alloc::format!("cannot set up the stack: {}", e.name()))?;

    let info = StackInfo::root(args, env, execfn.as_bytes(), random, hwcap);
    let stack = build_stack(STACK_TOP, ARG_STACK_LIMIT, &plan, &info).map_err(|e| e.to_string())?;
    memory
        .load_bytes(stack.sp, &stack.bytes)
        .map_err(|e| alloc::format!("cannot write the initial stack: {}", e.name()))?;
    Ok(Loaded { memory, entry: plan.entry, stack: stack.sp, plan })
}
