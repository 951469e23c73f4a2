//! The console tty on COM1: blocking byte input for the shell (and later
//! for programs reading stdin), output through [`print!`]/[`println!`].

use crate::hal::{cpu, serial, sync::IrqMutex};
use crate::sched::{self, Pid};

/// The task blocked in [`read_byte`], woken by the serial interrupt.
static READER: IrqMutex<Option<Pid>> = IrqMutex::new(None);
/// Called (in interrupt context) when Ctrl-C is typed: the compat layer
/// uses it to interrupt the foreground program.
static INTERRUPT_HOOK: IrqMutex<Option<fn()>> = IrqMutex::new(None);

/// Sets what Ctrl-C does besides reaching the reader as byte 0x03.
pub fn set_interrupt_hook(hook: fn()) {
    *INTERRUPT_HOOK.lock() = Some(hook);
}

pub(crate) fn init() {
    serial::set_input_hook(on_input);
}

/// Interrupt context: input arrived.
fn on_input() {
    if serial::take_interrupt() {
        let hook = *INTERRUPT_HOOK.lock();
        if let Some(hook) = hook {
            hook();
        }
    }
    if let Some(pid) = READER.lock().take() {
        sched::wake(pid);
    }
}

/// Waits for and returns the next input byte.
pub fn read_byte() -> u8 {
    loop {
        if let Some(b) = serial::read_byte() {
            return b;
        }
        cpu::without_interrupts(|| {
            // Checked again with interrupts masked: a byte that arrived since
            // is not missed, and the wake-up cannot come before the block.
            if serial::read_byte_pending() {
                return;
            }
            *READER.lock() = Some(sched::current_pid());
            sched::block(None);
        });
    }
}

/// Writes bytes to the console.
pub fn write(bytes: &[u8]) {
    serial::write_bytes(bytes);
}

/// Prints to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = write!($crate::hal::serial::Console, $($arg)*);
    }};
}

/// Prints a line to the console.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::hal::serial::Console, $($arg)*);
    }};
}
