//! The two cascaded 8259 PICs, remapped to vectors 0x20..0x30.

use crate::cpu::{inb, outb};

const PIC1_CMD: u16 = 0x20;
const PIC1_DATA: u16 = 0x21;
const PIC2_CMD: u16 = 0xa0;
const PIC2_DATA: u16 = 0xa1;
/// Vector of IRQ 0.
pub const IRQ_BASE: u8 = 0x20;

/// Remaps both PICs and masks every line but the cascade; drivers unmask
/// their line with [`unmask`].
pub fn init() {
    outb(PIC1_CMD, 0x11); // ICW1: init, ICW4 follows
    outb(PIC2_CMD, 0x11);
    outb(PIC1_DATA, IRQ_BASE); // ICW2: vector offsets
    outb(PIC2_DATA, IRQ_BASE + 8);
    outb(PIC1_DATA, 0x04); // ICW3: slave on IRQ 2
    outb(PIC2_DATA, 0x02);
    outb(PIC1_DATA, 0x01); // ICW4: 8086 mode
    outb(PIC2_DATA, 0x01);
    outb(PIC1_DATA, 0xfb); // all masked but IRQ 2 (cascade)
    outb(PIC2_DATA, 0xff);
}

pub fn unmask(irq: u8) {
    let (port, bit) = if irq < 8 { (PIC1_DATA, irq) } else { (PIC2_DATA, irq - 8) };
    outb(port, inb(port) & !(1 << bit));
}

pub fn end_of_interrupt(irq: u8) {
    if irq >= 8 {
        outb(PIC2_CMD, 0x20);
    }
    outb(PIC1_CMD, 0x20);
}

/// True if `irq` (on the master PIC) is raised but not yet serviced.
pub fn is_pending(irq: u8) -> bool {
    outb(PIC1_CMD, 0x0a); // OCW3: read IRR
    let irr = inb(PIC1_CMD);
    irr & (1 << irq) != 0
}

/// True if the master PIC really has `irq` in service (a spurious IRQ 7 does not).
pub fn is_in_service(irq: u8) -> bool {
    outb(PIC1_CMD, 0x0b); // OCW3: read ISR
    inb(PIC1_CMD) & (1 << irq) != 0
}
