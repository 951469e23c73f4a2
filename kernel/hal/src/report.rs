//! Fatal kernel errors: `kernel panic: MESSAGE`, the current task, and the
//! end of the run (QEMU exits with status 35).
//!
//! A leaf of the hal's module graph (it uses only `cpu`, `sync` and the
//! polled UART): the boot code, the frame allocator, the page tables, the
//! context switch and the trap handlers all report through it, so none of
//! them depends on another to die. What it cannot know is registered: the
//! console output to flush before the report ([`set_console_flush`], by
//! `init`) and how to describe the current task ([`set_task_reporter`], by
//! the scheduler).

use core::fmt::{self, Write};

use crate::cpu;
use crate::port::Port;
use crate::sync::IrqMutex;

/// QEMU's `isa-debug-exit` port: a written value `v` ends QEMU with status
/// `(v << 1) | 1`.
// SAFETY: QEMU's isa-debug-exit device (embctl adds it at 0xf4); only the exits write it.
pub(crate) const DEBUG_EXIT_PORT: Port<u8> = unsafe { Port::new(0xf4) };
/// Written to [`DEBUG_EXIT_PORT`] after a kernel fault: status 35.
pub const EXIT_FAULT: u8 = 0x11;

static TASK_REPORTER: IrqMutex<Option<fn(&mut dyn Write)>> = IrqMutex::new(None);
static CONSOLE_FLUSH: IrqMutex<Option<fn()>> = IrqMutex::new(None);

/// Registers the function that describes the current task in fault reports.
pub fn set_task_reporter(reporter: fn(&mut dyn Write)) {
    *TASK_REPORTER.lock() = Some(reporter);
}

/// Registers what pushes buffered console output out (the virtio console),
/// so a report comes after everything printed before it.
pub(crate) fn set_console_flush(flush: fn()) {
    *CONSOLE_FLUSH.lock() = Some(flush);
}

fn flush_console() {
    // try_lock: a fault while the lock is held must still be reported.
    if let Some(flush) = CONSOLE_FLUSH.try_lock().and_then(|f| *f) {
        flush();
    }
}

/// The fault console: COM1, polled, no locks (whatever was interrupted may
/// hold the console's). Buffered console output is flushed when it is made.
pub struct FaultConsole(());

impl FaultConsole {
    pub(crate) fn new() -> Self {
        flush_console();
        FaultConsole(())
    }
}

impl Write for FaultConsole {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        crate::uart::write(s.as_bytes());
        Ok(())
    }
}

/// Ends the run after a fatal kernel error: prints `kernel panic: MESSAGE`,
/// the current task, and exits QEMU with the fault status.
pub fn fatal(message: fmt::Arguments<'_>) -> ! {
    cpu::disable_interrupts();
    let mut out = FaultConsole::new();
    let _ = writeln!(out, "\nkernel panic: {message}");
    task_and_exit(&mut out)
}

/// The tail of every report: the current task, then the end of the run.
pub(crate) fn task_and_exit(out: &mut dyn Write) -> ! {
    let reporter = TASK_REPORTER.try_lock().and_then(|r| *r);
    match reporter {
        Some(report) => report(out),
        None => {
            let _ = writeln!(out, "  task: (none: before the scheduler started)");
        }
    }
    let _ = writeln!(out, "  the kernel stops here (QEMU exits with status 35)");
    exit_failure()
}

/// Ends the run as failed (after a kernel fault or panic): status 35.
pub(crate) fn exit_failure() -> ! {
    cpu::disable_interrupts();
    flush_console();
    DEBUG_EXIT_PORT.write(EXIT_FAULT);
    cpu::halt_forever()
}
