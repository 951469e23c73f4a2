//! Facts about the CPU that user programs are told at start-up (the Linux
//! auxiliary vector). Entering ring 3 itself is [`crate::trap::enter_user`].

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
