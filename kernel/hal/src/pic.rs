//! The two cascaded 8259 PICs, remapped to vectors 0x20..0x30.

use crate::port::Port;

// SAFETY: the two 8259s' command and data ports on the PC; only this module drives them.
const PIC1_CMD: Port<u8> = unsafe { Port::new(0x20) };
// SAFETY: as above.
const PIC1_DATA: Port<u8> = unsafe { Port::new(0x21) };
// SAFETY: as above.
const PIC2_CMD: Port<u8> = unsafe { Port::new(0xa0) };
// SAFETY: as above.
const PIC2_DATA: Port<u8> = unsafe { Port::new(0xa1) };
/// Vector of IRQ 0.
pub const IRQ_BASE: u8 = 0x20;

/// Remaps both PICs and masks every line but the cascade; drivers unmask
/// their line with [`unmask`].
pub fn init() {
    bypass_local_apic();
    PIC1_CMD.write(0x11); // ICW1: init, ICW4 follows
    PIC2_CMD.write(0x11);
    PIC1_DATA.write(IRQ_BASE); // ICW2: vector offsets
    PIC2_DATA.write(IRQ_BASE + 8);
    PIC1_DATA.write(0x04); // ICW3: slave on IRQ 2
    PIC2_DATA.write(0x02);
    PIC1_DATA.write(0x01); // ICW4: 8086 mode
    PIC2_DATA.write(0x01);
    PIC1_DATA.write(0xfb); // all masked but IRQ 2 (cascade)
    PIC2_DATA.write(0xff);
}

pub(crate) fn unmask(irq: u8) {
    let (port, bit) = if irq < 8 { (PIC1_DATA, irq) } else { (PIC2_DATA, irq - 8) };
    port.write(port.read() & !(1 << bit));
}

pub(crate) fn end_of_interrupt(irq: u8) {
    if irq >= 8 {
        PIC2_CMD.write(0x20);
    }
    PIC1_CMD.write(0x20);
}

/// True if the master PIC really has `irq` in service (a spurious IRQ 7 does not).
pub(crate) fn is_in_service(irq: u8) -> bool {
    PIC1_CMD.write(0x0b); // OCW3: read ISR
    PIC1_CMD.read() & (1 << irq) != 0
}

/// IA32_APIC_BASE, and its bit that turns the local APIC on.
const IA32_APIC_BASE: u32 = 0x1b;
const APIC_GLOBAL_ENABLE: u32 = 1 << 11;
/// CPUID leaf 1, EDX: the CPU has MSRs, and a local APIC.
const CPUID_MSR: u32 = 1 << 5;
const CPUID_APIC: u32 = 1 << 9;

/// Turns the local APIC off, so that the 8259s' INTR reaches the CPU
/// whatever the firmware left there. SeaBIOS puts the local APIC in
/// virtual-wire mode (LINT0 as ExtINT); qboot (`embctl run`'s firmware)
/// leaves it as reset left it, LINT0 masked, and then no IRQ arrives at all.
/// This kernel uses no local APIC feature: its interrupts all come from the
/// 8259s and its clock is the PIT and the TSC.
fn bypass_local_apic() {
    // SAFETY: CPUID exists on every CPU that runs this i686 kernel.
    let features = unsafe { core::arch::x86::__cpuid(1) }.edx;
    if features & (CPUID_MSR | CPUID_APIC) != CPUID_MSR | CPUID_APIC {
        return;
    }
    // SAFETY: CPUID says IA32_APIC_BASE exists; clearing its global enable
    // stops only the local APIC, which nothing in the kernel uses (see
    // above). Not `nomem`: interrupt routing changes here.
    unsafe {
        core::arch::asm!(
            "rdmsr",
            "and eax, {keep}",
            "wrmsr",
            keep = const !APIC_GLOBAL_ENABLE,
            in("ecx") IA32_APIC_BASE,
            out("eax") _,
            out("edx") _,
            options(nostack)
        );
    }
}
