//! Linux i386 executables, without touching hardware: [`plan`] validates an
//! ELF32 image and turns its `PT_LOAD` segments into a [`LoadPlan`] the kernel
//! maps page by page; [`stack`] builds the initial stack image (argc, argv,
//! envp, auxv) that Linux programs expect at their first instruction.
//!
//! Header and program-header reading is done by the `object` crate (bounds
//! checked, no allocation); the checks that make an image safe to load into a
//! user address space (class, machine, type, overlap, kernel space, entry) are
//! ours and each has its own [`ElfError`] variant with a readable message.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod plan;
pub mod stack;

pub use plan::{head_len, plan, plan_head, ElfError, ImageKind, Interp, INTERP_MAX, LoadPlan, PageRun, Perms, Segment, UserLimits, PAGE_SIZE};
pub use stack::{build_stack, StackError, StackImage, StackInfo};

#[cfg(test)]
mod fuzz;
