//! Leaving the machine: poweroff, reset, and the failure exit used after a
//! kernel fault.
//!
//! QEMU's `isa-debug-exit` device at port 0xf4 turns a written value `v` into
//! the exit status `(v << 1) | 1`: 0x10 → 33 (poweroff, success for embctl),
//! 0x11 → 35 (kernel fault). Without that device the writes are ignored and we
//! fall back to ACPI poweroff (QEMU's PIIX4 PM port) and then halt.

use core::arch::asm;

use crate::cpu;
use crate::port::Port;
use crate::report::DEBUG_EXIT_PORT;
pub use crate::report::EXIT_FAULT;

pub const EXIT_POWEROFF: u8 = 0x10;
// SAFETY: QEMU's PIIX4 power-management control port; written only to power off.
const ACPI_PM1A_CONTROL: Port<u16> = unsafe { Port::new(0x604) };
// SAFETY: the 8042 keyboard controller's status/command port; used only to reset.
const KBD_CONTROLLER: Port<u8> = unsafe { Port::new(0x64) };

pub fn poweroff() -> ! {
    cpu::disable_interrupts();
    // QEMU exits at the port write: what it has not written out yet is lost.
    crate::virtio_console::flush();
    DEBUG_EXIT_PORT.write(EXIT_POWEROFF);
    ACPI_PM1A_CONTROL.write(0x2000); // SLP_EN, sleep type S5
    cpu::halt_forever()
}

/// Ends the run as failed (after a kernel fault or panic).
pub fn exit_failure() -> ! {
    crate::report::exit_failure()
}

/// Resets the machine through the keyboard controller (QEMU with
/// `-no-reboot` exits with status 0 instead).
pub fn reboot() -> ! {
    cpu::disable_interrupts();
    crate::virtio_console::flush();
    // Wait until the controller's input buffer is empty, then pulse reset.
    for _ in 0..0x10000 {
        if KBD_CONTROLLER.read() & 0x02 == 0 {
            break;
        }
    }
    KBD_CONTROLLER.write(0xfe);
    triple_fault()
}

/// Resets the CPU by loading an empty IDT and raising an exception.
fn triple_fault() -> ! {
    #[repr(C, packed)]
    struct Pointer {
        limit: u16,
        base: u32,
    }
    let pointer = Pointer { limit: 0, base: 0 };
    // SAFETY: we want the machine to reset; nothing runs afterwards.
    unsafe { asm!("lidt [{}]", "int3", in(reg) &pointer, options(noreturn)) }
}
