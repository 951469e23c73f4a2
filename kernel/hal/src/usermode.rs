//! Facts about the CPU that user programs are told at start-up (the Linux
//! auxiliary vector). Entering ring 3 itself is [`crate::trap::enter_user`].

/// CPUID leaf 1 EDX: the feature bits Linux reports as `AT_HWCAP` on i386.
pub fn hwcap() -> u32 {
    // SAFETY: `cpuid` only reads CPU identification; every CPU this kernel
    // boots on (i686 and later) has it.
    unsafe { core::arch::x86::__cpuid(1).edx }
}
