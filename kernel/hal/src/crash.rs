//! Kernel faults made on purpose, for the tests that check how the kernel
//! reports them (the shell's `crash` command). One entry point that only
//! ever ends the run: nothing here can be used to reach a chosen address or
//! to keep running after the fault.

/// Which fault [`provoke`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelFault {
    /// A kernel-mode page fault: a read of the unmapped page 0.
    PageFault,
    /// A double fault: the page fault cannot push its frame, because the
    /// stack pointer is on the unmapped page 0.
    DoubleFault,
    /// A write into the kernel's own code, which is mapped read-only.
    WriteToCode,
}

/// Makes `fault` happen; the fault handlers report it and end the run.
pub fn provoke(fault: KernelFault) -> ! {
    match fault {
        KernelFault::PageFault => read_page_zero(),
        KernelFault::DoubleFault => fault_without_a_stack(),
        KernelFault::WriteToCode => write_to_code(),
    }
}

fn read_page_zero() -> ! {
    let value: u32;
    // SAFETY: on purpose this reads address 0, which paging leaves unmapped:
    // the page fault ends the run before the value is used. Done in assembly
    // so the compiler cannot treat the null read as undefined behaviour.
    unsafe { core::arch::asm!("mov {}, dword ptr [0]", out(reg) value, options(nostack, readonly)) };
    panic!("page 0 is mapped (read {value:#x})")
}

fn fault_without_a_stack() -> ! {
    // SAFETY: not safe, on purpose: the fault handlers end the run.
    unsafe { core::arch::asm!("mov esp, 0x1000", "push eax", "ud2", options(noreturn)) }
}

fn write_to_code() -> ! {
    let target = write_to_code as usize;
    // SAFETY: not safe, on purpose: the write faults and the run ends; were
    // the page writable, the ud2 below would stop the run instead.
    unsafe { core::arch::asm!("mov dword ptr [{}], 0", "ud2", in(reg) target, options(noreturn)) }
}
