//! The kernel log: `[    0.012345] message` lines on the console, kept in a
//! ring buffer for `dmesg`.

use crate::hal::{serial, sync::IrqMutex, time};
use core::fmt::{self, Write};

const RING_BYTES: usize = 16 * 1024;

struct Ring {
    buf: [u8; RING_BYTES],
    /// Total bytes ever written; the ring holds the last RING_BYTES of them.
    written: usize,
}

static RING: IrqMutex<Ring> = IrqMutex::new(Ring { buf: [0; RING_BYTES], written: 0 });

impl Write for Ring {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            self.buf[self.written % RING_BYTES] = b;
            self.written += 1;
        }
        Ok(())
    }
}

/// Writes one log line (used by [`klog!`]).
pub fn log(args: fmt::Arguments<'_>) {
    let line = stamped(args);
    serial::write_bytes(line.as_bytes());
    let _ = RING.lock().write_str(line.as_str());
}

fn stamped(args: fmt::Arguments<'_>) -> LineBuf {
    let t = time::since_boot();
    let mut line = LineBuf::new();
    let _ = write!(line, "[{:5}.{:06}] {}\n", t.as_secs(), t.subsec_micros(), args);
    line
}

/// Keeps a log line for `dmesg` without printing it on the console (for
/// chatty sources such as LKL's boot messages).
pub fn record(args: fmt::Arguments<'_>) {
    let _ = RING.lock().write_str(stamped(args).as_str());
}

/// Calls `f` with the retained log text, oldest first (whole lines only).
pub fn with_contents(mut f: impl FnMut(&[u8])) {
    let ring = RING.lock();
    if ring.written <= RING_BYTES {
        f(&ring.buf[..ring.written]);
        return;
    }
    let start = ring.written % RING_BYTES;
    let (tail, head) = ring.buf.split_at(start);
    // Skip the partial line the ring cut through.
    let skip = head.iter().position(|&b| b == b'\n').map_or(head.len(), |p| p + 1);
    f(&head[skip..]);
    f(tail);
}

/// A line buffer on the stack, so logging works before the heap exists and
/// inside interrupt handlers. Long lines are cut.
struct LineBuf {
    buf: [u8; 512],
    len: usize,
}

impl LineBuf {
    fn new() -> Self {
        Self { buf: [0; 512], len: 0 }
    }
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
    fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or("<log line cut inside a character>\n")
    }
}

impl Write for LineBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len() - 1 - self.len; // keep one byte for a final newline
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        if n < s.len() && self.len > 0 && self.buf[self.len - 1] != b'\n' {
            self.buf[self.len] = b'\n';
            self.len += 1;
        }
        Ok(())
    }
}

/// Logs a line with a timestamp: `klog!("shell: ready")`.
#[macro_export]
macro_rules! klog {
    ($($arg:tt)*) => { $crate::klog::log(format_args!($($arg)*)) };
}
