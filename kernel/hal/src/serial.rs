//! The 16550 UART on COM1: the kernel console.
//!
//! Output polls the transmitter (QEMU's UART never makes us wait long).
//! Input is interrupt-driven: IRQ 4 moves received bytes into a ring buffer
//! and calls the input hook, which the OS uses to wake the reader.

use crate::port::{Port, Register};
use crate::sync::IrqMutex;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use crate::uart::{COM1, DATA, LSR};

const IER: Port<u8> = COM1.port(Register::at(1));
const FCR: Port<u8> = COM1.port(Register::at(2));
const LCR: Port<u8> = COM1.port(Register::at(3));
const MCR: Port<u8> = COM1.port(Register::at(4));
const LSR_DATA_READY: u8 = 0x01;

/// IRQ line of COM1.
pub const IRQ: u8 = 4;

const RX_CAP: usize = 1024;

struct RxRing {
    buf: [u8; RX_CAP],
    head: usize,
    len: usize,
}

static RX: IrqMutex<RxRing> = IrqMutex::new(RxRing { buf: [0; RX_CAP], head: 0, len: 0 });
static TX_LOCK: IrqMutex<()> = IrqMutex::new(());
static INPUT_HOOK: IrqMutex<Option<fn()>> = IrqMutex::new(None);
/// Set when Ctrl-C (0x03, bit [`CTRL_C`]), Ctrl-\\ (0x1c, bit
/// [`CTRL_BACKSLASH`]) or Ctrl-Z (0x1a, bit [`CTRL_Z`]) arrives; taken by
/// [`take_interrupt`].
static INTERRUPT: AtomicU8 = AtomicU8::new(0);
pub const CTRL_C: u8 = 1;
pub const CTRL_BACKSLASH: u8 = 2;
pub const CTRL_Z: u8 = 4;
/// True when the last byte written was a newline (or nothing was written).
static AT_LINE_START: AtomicBool = AtomicBool::new(true);

/// 115200 8N1, FIFOs on, receive interrupt on.
pub fn init() {
    IER.write(0x00);
    LCR.write(0x80); // DLAB: set the divisor
    DATA.write(0x01); // 115200 baud
    IER.write(0x00);
    LCR.write(0x03); // 8N1
    // FIFOs stay off: QEMU empties the receive FIFO whenever the FIFO is
    // switched on, losing input typed ahead by scripted runs; without it,
    // QEMU hands over one byte at a time and holds the rest until we read.
    FCR.write(0x00);
    MCR.write(0x0b); // DTR, RTS, OUT2 (routes the IRQ to the PIC)
    IER.write(0x01); // interrupt on received data
}

/// Sets the function called (in interrupt context) when input arrives.
pub fn set_input_hook(hook: fn()) {
    *INPUT_HOOK.lock() = Some(hook);
}

/// Writes bytes to the console, turning `\n` into `\r\n`: through
/// virtio-console once it is started ([`crate::virtio_console`]), else on
/// the UART. Whole calls are not interleaved.
pub fn write_bytes(bytes: &[u8]) {
    let _guard = TX_LOCK.try_lock(); // None: reentered (a fault while printing), print anyway
    note_line_start(bytes);
    if !crate::virtio_console::write(bytes) {
        crate::uart::write(bytes);
    }
}

fn note_line_start(bytes: &[u8]) {
    if let Some(&last) = bytes.last() {
        AT_LINE_START.store(last == b'\n', Ordering::Relaxed);
    }
}

/// True when console output ends with a newline, so a prompt printed now
/// starts a line.
pub fn at_line_start() -> bool {
    AT_LINE_START.load(Ordering::Relaxed)
}

/// A `fmt::Write` sink on the console.
pub struct Console;

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_bytes(s.as_bytes());
        Ok(())
    }
}

/// Takes the next received byte, if any.
pub fn read_byte() -> Option<u8> {
    let mut rx = RX.lock();
    if rx.len == 0 {
        // Bytes that came before the interrupt was routed may still sit in the FIFO.
        return (LSR.read() & LSR_DATA_READY != 0).then(|| DATA.read());
    }
    let b = rx.buf[rx.head];
    rx.head = (rx.head + 1) % RX_CAP;
    rx.len -= 1;
    Some(b)
}

/// Moves received bytes into the ring (dropping bytes when it is full).
fn drain_receiver() {
    let mut rx = RX.lock();
    while LSR.read() & LSR_DATA_READY != 0 {
        let b = DATA.read();
        match b {
            0x03 => {
                INTERRUPT.fetch_or(CTRL_C, Ordering::Relaxed);
            }
            0x1c => {
                INTERRUPT.fetch_or(CTRL_BACKSLASH, Ordering::Relaxed);
            }
            0x1a => {
                INTERRUPT.fetch_or(CTRL_Z, Ordering::Relaxed);
            }
            _ => {}
        }
        if rx.len < RX_CAP {
            let tail = (rx.head + rx.len) % RX_CAP;
            rx.buf[tail] = b;
            rx.len += 1;
        }
    }
}

/// IRQ 4: input arrived.
pub(crate) fn handle_irq() {
    drain_receiver();
    let hook = *INPUT_HOOK.lock();
    if let Some(hook) = hook {
        hook();
    }
}

/// Drops the input received and not yet read (a terminal's input flush
/// when the interrupt, quit or suspend key signals a program).
pub fn discard_input() {
    let mut rx = RX.lock();
    rx.head = 0;
    rx.len = 0;
}

/// Which of Ctrl-C ([`CTRL_C`]), Ctrl-\\ ([`CTRL_BACKSLASH`]) and Ctrl-Z ([`CTRL_Z`]) arrived
/// since the last call (bits; taken).
pub fn take_interrupt() -> u8 {
    INTERRUPT.swap(0, Ordering::Relaxed)
}

/// True if received bytes are waiting (without taking one).
pub fn read_byte_pending() -> bool {
    RX.lock().len > 0 || LSR.read() & LSR_DATA_READY != 0
}
