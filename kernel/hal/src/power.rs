//! Leaving the machine: poweroff, reset, and the failure exit used after a
//! kernel fault.
//!
//! QEMU's `isa-debug-exit` device at port 0xf4 turns a written value `v` into
//! the exit status `(v << 1) | 1`: 0x10 → 33 (poweroff, success for embctl),
//! 0x11 → 35 (kernel fault). Without that device the writes are ignored and we
//! fall back to ACPI poweroff (QEMU's PIIX4 PM port) and then halt.

use crate::cpu;

const DEBUG_EXIT_PORT: u16 = 0xf4;
pub const EXIT_POWEROFF: u8 = 0x10;
pub const EXIT_FAULT: u8 = 0x11;

pub fn poweroff() -> ! {
    cpu::disable_interrupts();
    // QEMU exits at the port write: what it has not written out yet is lost.
    crate::virtio_console::flush();
    cpu::outb(DEBUG_EXIT_PORT, EXIT_POWEROFF);
    cpu::outw(0x604, 0x2000);
    cpu::halt_forever()
}

/// Ends the run as failed (after a kernel fault or panic).
pub fn exit_failure() -> ! {
    cpu::disable_interrupts();
    crate::virtio_console::flush();
    cpu::outb(DEBUG_EXIT_PORT, EXIT_FAULT);
    cpu::halt_forever()
}

/// Resets the machine through the keyboard controller (QEMU with
/// `-no-reboot` exits with status 0 instead).
pub fn reboot() -> ! {
    cpu::disable_interrupts();
    crate::virtio_console::flush();
    // Wait until the controller's input buffer is empty, then pulse reset.
    for _ in 0..0x10000 {
        if cpu::inb(0x64) & 0x02 == 0 {
            break;
        }
    }
    cpu::outb(0x64, 0xfe);
    crate::idt::triple_fault()
}
