//! Ring 3: entering it ([`enter_user`], [`enter_user_frame`]: through the
//! trap stubs' common return, so the frame layout is the one `trap.rs`
//! checks), and the facts about the CPU that user programs are told at
//! start-up (the Linux auxiliary vector).

use crate::trap::TrapFrame;

/// CPUID leaf 1 EDX: the feature bits Linux reports as `AT_HWCAP` on i386.
pub fn hwcap() -> u32 {
    // SAFETY: `cpuid` only reads CPU identification; every CPU this kernel
    // boots on (i686 and later) has it.
    unsafe { core::arch::x86::__cpuid(1).edx }
}

/// CPUID leaf 0: the vendor string ("GenuineIntel", "AuthenticAMD"), for
/// `/proc/cpuinfo`.
pub fn cpu_vendor() -> [u8; 12] {
    // SAFETY: as in `hwcap`: `cpuid` only reads identification registers.
    let leaf = unsafe { core::arch::x86::__cpuid(0) };
    let mut out = [0u8; 12];
    out[..4].copy_from_slice(&leaf.ebx.to_le_bytes());
    out[4..8].copy_from_slice(&leaf.edx.to_le_bytes());
    out[8..].copy_from_slice(&leaf.ecx.to_le_bytes());
    out
}

/// CPUID leaf 1 EAX: family, model and stepping, for `/proc/cpuinfo`.
pub fn cpu_signature() -> u32 {
    // SAFETY: as in `hwcap`.
    unsafe { core::arch::x86::__cpuid(1).eax }
}

/// Leaves the kernel for ring 3 at `eip` with stack `esp`, with the user
/// segments loaded, interrupts enabled, general registers, x87/SSE
/// registers and MXCSR reset. The current task's kernel stack (TSS esp0) takes its traps; the
/// caller has activated the task's address space.
pub fn enter_user(eip: u32, esp: u32) -> ! {
    use crate::gdt::USER_DATA;
    let data = USER_DATA as u32;
    enter_user_frame(&TrapFrame { eip, user_esp: esp, fs: data, gs: data, eflags: 0x202, ..TrapFrame::default() })
}

/// Leaves the kernel for ring 3 with every register as `frame` holds it
/// (a forked child resumes where its parent made the call; a signal
/// handler starts with the registers the kernel built). x87/SSE registers
/// and MXCSR are reset, as in [`enter_user`]. The caller has activated the
/// task's address space and TLS descriptors; `frame` must be a ring-3 frame
/// (user cs and ss, interrupts enabled in eflags).
pub fn enter_user_frame(frame: &TrapFrame) -> ! {
    use crate::gdt::{USER_CODE, USER_DATA};
    let mut copy = *frame;
    // Whatever the caller built, the CPU returns to ring 3 with user
    // segments and interrupts on, never to kernel privilege.
    copy.cs = USER_CODE as u32;
    copy.user_ss = USER_DATA as u32;
    copy.ds = USER_DATA as u32;
    copy.es = USER_DATA as u32;
    copy.eflags = (copy.eflags & 0x0000_0cd5) | 0x202;
    // SAFETY: `copy` lies on this task's kernel stack above the stack
    // pointer, laid out as the trap stubs push a frame, so the common trap
    // return pops it and `iretd`s to ring 3 with the user selectors forced
    // above; every later trap comes back through the IDT onto this stack.
    unsafe {
        core::arch::asm!(
            "cli",
            "call embox_fpu_reset",
            "mov esp, edi",
            "jmp embox_trap_return",
            in("edi") &copy as *const TrapFrame,
            options(noreturn)
        )
    }
}
