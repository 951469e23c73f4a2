//! Console output through a virtio-serial port (`-device virtio-serial-pci
//! -device virtserialport,nr=1`): the fast path for everything the kernel
//! and its programs print, once started. The 16550 on COM1 ([`crate::serial`]) still
//! takes input, prints what comes before this driver starts, and prints
//! fault reports.
//!
//! Why: the UART moves one byte per emulated port write, and QEMU turns each
//! into one `write()` on its stdout, about 80 KB/s under TCG, and Docker's
//! attach stream then carries one tiny frame per byte. A virtqueue buffer
//! is one notify and one host `write()` for up to [`BUF_SIZE`] bytes.
//!
//! Why a port and not QEMU's `virtconsole`: when the host side is full
//! (a slow terminal, a pipe nobody drains yet), `virtconsole` drops the
//! data, while a `virtserialport` holds the buffer until the host takes it.
//! A port other than 0 needs the MULTIPORT feature and its control queue
//! handshake (DEVICE_READY, then PORT_READY and PORT_OPEN for our port).
//!
//! Batching: writes fill one buffer, which goes to the device when it is
//! full or at the next timer tick ([`on_tick`], 1 ms at the default rate),
//! not at every write. Each buffer is one notify, one host `write()` and one
//! frame on Docker's attach stream, so a program printing 512-byte lines
//! costs an eighth of the trips it did (the trips, not the bytes, were what
//! limited `embctl run`'s console on a loaded host).
//!
//! Ordering: the bytes of a write are posted in order, and under TCG QEMU
//! consumes a buffer within the notify unless the host is full; then we
//! wait when no buffer is free, and [`flush`] posts the buffer being filled
//! and waits for all of them (before poweroff, and before a fault report on
//! the UART).

use crate::pci::Function;
use crate::sync::IrqMutex;
use crate::virtio::{Direction, Legacy, Queue, VENDOR_VIRTIO};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

/// Transitional virtio-console (legacy interface present).
const DEVICE_CONSOLE_LEGACY: u16 = 0x1003;
const FEATURE_MULTIPORT: u32 = 1 << 1;
/// The port embctl adds (`virtserialport,nr=1`).
const PORT: u32 = 1;
/// Queues: port 0 has 0 and 1, the control queues are 2 (device to us) and
/// 3 (us to device), port n >= 1 has 2 + 2n (receive) and 3 + 2n (transmit).
const CONTROL_RX: u16 = 2;
const CONTROL_TX: u16 = 3;
const PORT_TX: u16 = 3 + 2 * PORT as u16;
const BUF_SIZE: usize = 4096;
const BUFFERS: u16 = 16;
/// Control messages: `struct virtio_console_control` (id, event, value)
/// and, for some events, a payload (a port name) after it.
const CONTROL_SIZE: usize = 8;
const CONTROL_BUF: usize = 256;
const DEVICE_READY: u16 = 0;
const DEVICE_ADD: u16 = 1;
const PORT_READY: u16 = 3;
const PORT_OPEN: u16 = 6;
/// Polls of the control queue before giving up on the handshake (QEMU
/// answers within the notify under TCG; this bounds a device that never does).
const HANDSHAKE_POLLS: u32 = 1_000_000;

struct Console {
    dev: Legacy,
    tx: Queue,
    /// Transmit descriptors the device is not holding (the one being
    /// filled excepted).
    free: Vec<u16>,
    /// The buffer being filled and the bytes in it, posted when full or at
    /// the next tick.
    filling: Option<(u16, usize)>,
}

static CONSOLE: IrqMutex<Option<Console>> = IrqMutex::new(None);
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Why no virtio console was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeError {
    NotFound,
    NoIoBar,
    NoMultiport,
    NoQueue,
    NoPort,
}

impl core::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ProbeError::NotFound => "no virtio-console PCI device",
            ProbeError::NoIoBar => "the virtio-console device has no legacy I/O BAR",
            ProbeError::NoMultiport => "the virtio-serial device does not offer the MULTIPORT feature",
            ProbeError::NoQueue => "the virtio-serial device lacks the control or port 1 queues (or no frames were left for them)",
            ProbeError::NoPort => "the virtio-serial device never announced port 1 (QEMU: -device virtserialport,nr=1,chardev=...)",
        })
    }
}

/// Starts the first virtio-console among `functions`; from then on
/// [`write`] takes the console's output.
pub fn start(functions: &[Function]) -> Result<(), ProbeError> {
    let f = functions
        .iter()
        .find(|f| f.vendor == VENDOR_VIRTIO && f.device == DEVICE_CONSOLE_LEGACY)
        .ok_or(ProbeError::NotFound)?;
    let dev = Legacy::begin(f).ok_or(ProbeError::NoIoBar)?;
    if dev.negotiate(FEATURE_MULTIPORT) != FEATURE_MULTIPORT {
        dev.fail();
        return Err(ProbeError::NoMultiport);
    }
    let queues = (|| {
        let control_rx = Queue::new(&dev, CONTROL_RX, 8, CONTROL_BUF)?;
        let control_tx = Queue::new(&dev, CONTROL_TX, 4, CONTROL_BUF)?;
        let tx = Queue::new(&dev, PORT_TX, BUFFERS, BUF_SIZE)?;
        Some((control_rx, control_tx, tx))
    })();
    let Some((mut control_rx, control_tx, tx)) = queues else {
        dev.fail();
        return Err(ProbeError::NoQueue);
    };
    for queue in [&control_rx, &control_tx, &tx] {
        queue.suppress_interrupts();
    }
    for id in 0..control_rx.buffer_count() {
        control_rx.post(id, CONTROL_BUF, Direction::DeviceWrites);
    }
    dev.ready();
    control_rx.notify(&dev);
    let mut control = Control { dev, rx: control_rx, tx: control_tx };
    if !control.handshake() {
        dev.fail();
        return Err(ProbeError::NoPort);
    }
    let free = (0..tx.buffer_count()).rev().collect();
    *CONSOLE.lock() = Some(Console { dev, tx, free, filling: None });
    ACTIVE.store(true, Ordering::Release);
    Ok(())
}

/// The control queues, used once at start.
struct Control {
    dev: Legacy,
    rx: Queue,
    tx: Queue,
}

impl Control {
    /// Sends one control message and waits until the device has taken it.
    fn send(&mut self, port: u32, event: u16, value: u16) -> bool {
        let buffer = self.tx.buffer(0);
        buffer[..4].copy_from_slice(&port.to_le_bytes());
        buffer[4..6].copy_from_slice(&event.to_le_bytes());
        buffer[6..8].copy_from_slice(&value.to_le_bytes());
        self.tx.post(0, CONTROL_SIZE, Direction::DeviceReads);
        self.tx.notify(&self.dev);
        (0..HANDSHAKE_POLLS).any(|_| {
            core::hint::spin_loop();
            self.tx.take_used().is_some()
        })
    }

    /// DEVICE_READY; then, when the device announces our port, PORT_READY
    /// and PORT_OPEN (the guest end is open, so the host takes its output).
    fn handshake(&mut self) -> bool {
        if !self.send(0, DEVICE_READY, 1) {
            return false;
        }
        for _ in 0..HANDSHAKE_POLLS {
            let Some((id, len)) = self.rx.take_used() else {
                core::hint::spin_loop();
                continue;
            };
            let message = &self.rx.buffer(id)[..len.min(CONTROL_BUF)];
            let announced = (len >= CONTROL_SIZE).then(|| {
                let port = u32::from_le_bytes([message[0], message[1], message[2], message[3]]);
                let event = u16::from_le_bytes([message[4], message[5]]);
                (port, event)
            });
            self.rx.post(id, CONTROL_BUF, Direction::DeviceWrites);
            self.rx.notify(&self.dev);
            if announced == Some((PORT, DEVICE_ADD)) {
                return self.send(PORT, PORT_READY, 1) && self.send(PORT, PORT_OPEN, 1);
            }
        }
        false
    }
}

/// True once [`start`] succeeded.
pub fn is_active() -> bool {
    ACTIVE.load(Ordering::Acquire)
}

impl Console {
    fn reclaim(&mut self) {
        while let Some((id, _)) = self.tx.take_used() {
            self.free.push(id);
        }
    }

    /// A buffer the device does not hold, waiting for one when the host is
    /// slow to take our output.
    fn free_buffer(&mut self) -> u16 {
        loop {
            self.reclaim();
            if let Some(id) = self.free.pop() {
                return id;
            }
            core::hint::spin_loop();
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let (id, mut len) = match self.filling.take() {
                Some(filling) => filling,
                None => (self.free_buffer(), 0),
            };
            let buffer = self.tx.buffer(id);
            // `\n` becomes `\r\n`, as on the UART (terminals in raw mode need both).
            while let Some((&b, tail)) = rest.split_first() {
                let need = if b == b'\n' { 2 } else { 1 };
                if len + need > buffer.len() {
                    break;
                }
                if b == b'\n' {
                    buffer[len] = b'\r';
                    len += 1;
                }
                buffer[len] = b;
                len += 1;
                rest = tail;
            }
            self.filling = Some((id, len));
            if !rest.is_empty() {
                self.post_filling(); // full
            }
        }
    }

    /// Hands the buffer being filled to the device.
    fn post_filling(&mut self) {
        match self.filling.take() {
            Some((id, len)) if len > 0 => {
                self.tx.post(id, len, Direction::DeviceReads);
                self.tx.notify(&self.dev);
            }
            Some((id, _)) => self.free.push(id),
            None => {}
        }
    }

    fn flush(&mut self) {
        self.post_filling();
        while self.free.len() < usize::from(self.tx.buffer_count()) {
            self.reclaim();
            core::hint::spin_loop();
        }
    }
}

/// Writes `bytes` (turning `\n` into `\r\n`); false when the console is not
/// started (the caller then uses the UART).
pub(crate) fn write(bytes: &[u8]) -> bool {
    if !is_active() {
        return false;
    }
    match CONSOLE.try_lock() {
        Some(mut console) => match console.as_mut() {
            Some(c) => {
                c.write(bytes);
                true
            }
            None => false,
        },
        // Reentered (a fault while printing): the caller uses the UART.
        None => false,
    }
}

/// Timer tick (interrupt context): what was written since the last buffer
/// went out goes now.
pub(crate) fn on_tick() {
    if !is_active() {
        return;
    }
    if let Some(mut console) = CONSOLE.try_lock() {
        if let Some(c) = console.as_mut() {
            c.post_filling();
        }
    }
}

/// Waits until the host has taken every byte written so far (before
/// poweroff, and before a report goes out on the UART). Does nothing when
/// the console is in use by the code that was interrupted.
pub fn flush() {
    if !is_active() {
        return;
    }
    if let Some(mut console) = CONSOLE.try_lock() {
        if let Some(c) = console.as_mut() {
            c.flush();
        }
    }
}
