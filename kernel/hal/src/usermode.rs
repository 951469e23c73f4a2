//! Entering ring 3 for the first time.
//!
//! A program starts the way every later return to it happens: through the
//! trap-return path (`embox_trap_return` in [`crate::idt`]), which pops a
//! [`TrapFrame`] and executes `iretd`. [`enter_user`] builds that frame on
//! the current kernel stack — user code and data selectors, the entry point,
//! the initial stack, interrupts enabled — and jumps there. The kernel stack
//! top is already in the TSS (`esp0`, set by the context switch), so the
//! program's first trap lands on this task's kernel stack.

use crate::gdt::{USER_CODE, USER_DATA};
use crate::trap::TrapFrame;
use core::arch::asm;

/// EFLAGS for a new program: IF (interrupts on) and the reserved bit 1.
const USER_EFLAGS: u32 = 0x202;
/// The MXCSR Linux gives a new program: all SSE exceptions masked.
const DEFAULT_MXCSR: u32 = 0x1f80;

extern "C" {
    fn embox_trap_return();
}

/// Starts user code at `entry` with stack pointer `stack`, in the address
/// space that is active now. Never returns: the task comes back into the
/// kernel only through traps (syscalls, faults, interrupts).
///
/// The caller must have mapped `entry` and `stack` as user pages in the
/// active address space; if not, the program faults at once, which the fault
/// handler reports like any other user fault.
pub fn enter_user(entry: u32, stack: u32) -> ! {
    let frame = TrapFrame {
        gs: 0,
        fs: 0,
        es: USER_DATA as u32,
        ds: USER_DATA as u32,
        eip: entry,
        cs: USER_CODE as u32,
        eflags: USER_EFLAGS,
        user_esp: stack,
        user_ss: USER_DATA as u32,
        ..TrapFrame::default()
    };
    let mxcsr = DEFAULT_MXCSR;
    // SAFETY: `frame` is a complete trap frame for a ring-3 return: user
    // code/data selectors (RPL 3) and EFLAGS without IOPL, so the program
    // gets no privilege. Pointing esp at it and running the common
    // trap-return path pops exactly that frame; nothing on this kernel stack
    // above it is used again (the next trap from ring 3 starts over at esp0).
    // `fninit`/`ldmxcsr` give the program a clean FPU/SSE state.
    unsafe {
        asm!(
            "fninit",
            "ldmxcsr [{mxcsr}]",
            "mov esp, {frame}",
            "jmp {ret}",
            mxcsr = in(reg) &mxcsr,
            frame = in(reg) &frame,
            ret = sym embox_trap_return,
            options(noreturn)
        )
    }
}
