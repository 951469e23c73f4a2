//! The terminal of each task: the console on COM1, or a byte stream such as
//! a telnet session. Blocking byte input for the shell and for programs
//! reading stdin, output through [`write`] and [`print!`]/[`println!`].
//!
//! A task's terminal is the console unless [`attach`] gave it a [`Stream`];
//! tasks it spawns inherit it, so a program started from a telnet shell
//! talks to that session.

use crate::hal::{cpu, serial, sync::IrqMutex};
use crate::sched::{self, Pid};
use alloc::collections::BTreeMap;
use alloc::sync::Arc;

/// A terminal other than the console: a blocking byte stream.
pub trait Stream: Send + Sync {
    /// Waits for the next input byte; `None` once the other end has gone.
    fn read_byte(&self) -> Option<u8>;
    /// Writes output bytes (`\n` as in the console: the stream turns it into
    /// its line ending).
    fn write(&self, bytes: &[u8]);
    /// True when the output so far ends with a newline.
    fn at_line_start(&self) -> bool;
}

/// Tasks whose terminal is not the console.
static STREAMS: IrqMutex<BTreeMap<Pid, Arc<dyn Stream>>> = IrqMutex::new(BTreeMap::new());

/// Makes `stream` the terminal of task `pid` (and of the tasks it spawns).
pub fn attach(pid: Pid, stream: Arc<dyn Stream>) {
    STREAMS.lock().insert(pid, stream);
}

/// Gives `child` the terminal of `parent` (called by `sched::spawn`).
pub(crate) fn inherit(parent: Pid, child: Pid) {
    let mut streams = STREAMS.lock();
    if let Some(stream) = streams.get(&parent).cloned() {
        streams.insert(child, stream);
    }
}

/// Forgets the terminal of a task that ends (called by `sched::exit`).
pub(crate) fn detach(pid: Pid) -> Option<Arc<dyn Stream>> {
    STREAMS.lock().remove(&pid)
}

/// The running task's stream, or `None` for the console.
fn current_stream() -> Option<Arc<dyn Stream>> {
    let streams = STREAMS.lock();
    if streams.is_empty() {
        return None;
    }
    streams.get(&sched::current_pid()).cloned()
}

/// True when the running task's terminal is the console.
pub fn on_console() -> bool {
    current_stream().is_none()
}

/// The task blocked in [`read_byte`], woken by the serial interrupt.
static READER: IrqMutex<Option<Pid>> = IrqMutex::new(None);
/// Called (in interrupt context) with SIGINT when Ctrl-C is typed,
/// SIGQUIT for Ctrl-\\ and SIGTSTP for Ctrl-Z: the compat layer signals
/// the foreground group.
static INTERRUPT_HOOK: IrqMutex<Option<fn(u32) -> bool>> = IrqMutex::new(None);

/// Sets what Ctrl-C, Ctrl-\\ and Ctrl-Z do besides reaching the reader as bytes.
/// The hook returns true when it signalled a program: the input typed so
/// far is then dropped (the key too), as a tty's ISIG does without NOFLSH.
pub fn set_interrupt_hook(hook: fn(u32) -> bool) {
    *INTERRUPT_HOOK.lock() = Some(hook);
}

pub(crate) fn init() {
    serial::set_input_hook(on_input);
}

/// Interrupt context: input arrived.
fn on_input() {
    let keys = serial::take_interrupt();
    if keys != 0 {
        let hook = *INTERRUPT_HOOK.lock();
        if let Some(hook) = hook {
            let mut signalled = false;
            if keys & serial::CTRL_C != 0 {
                signalled |= hook(2); // SIGINT
            }
            if keys & serial::CTRL_BACKSLASH != 0 {
                signalled |= hook(3); // SIGQUIT
            }
            if keys & serial::CTRL_Z != 0 {
                signalled |= hook(20); // SIGTSTP
            }
            if signalled {
                serial::discard_input();
            }
        }
    }
    if let Some(pid) = READER.lock().take() {
        sched::wake(pid);
    }
}

/// Waits for and returns the next input byte; `None` when the terminal is
/// a stream whose other end has gone (the console never ends).
pub fn read() -> Option<u8> {
    match current_stream() {
        Some(stream) => stream.read_byte(),
        None => Some(read_console_byte()),
    }
}

/// Waits for and returns the next input byte; a closed stream reads as
/// Ctrl-D (end of file for programs).
pub fn read_byte() -> u8 {
    read().unwrap_or(4)
}

fn read_console_byte() -> u8 {
    loop {
        if let Some(b) = read_console_byte_unless(&|| false) {
            return b;
        }
    }
}

/// Like [`read_byte`], but gives up (`None`) once `stop` says so: checked
/// before blocking and after every wake-up (a signal for a program blocked
/// in read wakes it). A stream terminal is read without the check.
pub fn read_byte_unless(stop: fn() -> bool) -> Option<u8> {
    match current_stream() {
        Some(stream) => Some(stream.read_byte().unwrap_or(4)),
        None => read_console_byte_unless(&stop),
    }
}

fn read_console_byte_unless(stop: &dyn Fn() -> bool) -> Option<u8> {
    loop {
        if let Some(b) = serial::read_byte() {
            return Some(b);
        }
        if stop() {
            return None;
        }
        cpu::without_interrupts(|| {
            // Checked again with interrupts masked: a byte that arrived since
            // is not missed, and the wake-up cannot come before the block.
            if serial::read_byte_pending() || stop() {
                return;
            }
            *READER.lock() = Some(sched::current_pid());
            sched::block(None);
        });
    }
}

/// Writes bytes to the running task's terminal.
pub fn write(bytes: &[u8]) {
    match current_stream() {
        Some(stream) => stream.write(bytes),
        None => serial::write_bytes(bytes),
    }
}

/// True when the running task's terminal output ends with a newline.
pub fn at_line_start() -> bool {
    match current_stream() {
        Some(stream) => stream.at_line_start(),
        None => serial::at_line_start(),
    }
}

/// A `fmt::Write` sink on the running task's terminal.
pub struct Out;

impl core::fmt::Write for Out {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        write(s.as_bytes());
        Ok(())
    }
}

/// Prints to the running task's terminal.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = write!($crate::tty::Out, $($arg)*);
    }};
}

/// Prints a line to the running task's terminal.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::tty::Out, $($arg)*);
    }};
}
