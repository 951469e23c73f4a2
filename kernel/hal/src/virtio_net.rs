//! virtio-net over legacy (transitional) virtio-PCI (see [`crate::virtio`]):
//! the NIC this kernel drives on QEMU (`-device virtio-net-pci`).
//!
//! Why virtio and not e1000: a frame costs one descriptor and at most one
//! notify instead of a dozen emulated register accesses, which is what counts
//! under TCG, and the same device is what LKL's virtio drivers expect. Only
//! the MAC and STATUS features are negotiated: no checksum or segmentation
//! offload, so the header is the plain 10-byte `virtio_net_hdr`.
//!
//! Every descriptor owns a fixed 2 KiB buffer. Receive descriptors are all
//! posted at start and re-posted as soon as their frame is copied out;
//! transmit descriptors are recycled from the used ring.
//!
//! Interrupts, which cost most under TCG: the transmit queue never
//! interrupts (finished descriptors are reclaimed when the next frame is
//! sent). The receive queue interrupts only when the ring was found empty:
//! while frames keep coming, [`NetDevice::receive`] drains them with the
//! device's interrupts off, and turns them back on (then looks again) once
//! the ring is empty, as Linux's NAPI does. Every caller polls until
//! `receive` says None (smoltcp's `Interface::poll` does).

use crate::netdev::{NetDevice, NetStats, MAX_FRAME};
use crate::pci::Function;
use crate::virtio::{Legacy, Queue, DESC_F_WRITE, VENDOR_VIRTIO};
use alloc::vec::Vec;
use crate::sync::IrqMutex;

/// Transitional virtio-net (legacy interface present).
const DEVICE_NET_LEGACY: u16 = 0x1000;

// Device configuration offsets.
const CONFIG_MAC: u16 = 0x00;
const CONFIG_LINK: u16 = 0x06;

const FEATURE_MAC: u32 = 1 << 5;
const FEATURE_STATUS: u32 = 1 << 16;
const LINK_UP: u16 = 1;

const RX_QUEUE: u16 = 0;
const TX_QUEUE: u16 = 1;
/// `struct virtio_net_hdr` without mergeable buffers.
const NET_HDR: usize = 10;
const BUF_SIZE: usize = 2048;
/// Buffers per queue at most (the device's queue may be larger).
const MAX_BUFFERS: u16 = 128;

/// The device the IRQ handler acknowledges (None: none started).
static IRQ_DEVICE: IrqMutex<Option<Legacy>> = IrqMutex::new(None);

/// A virtio-net device, started.
pub struct VirtioNet {
    dev: Legacy,
    irq: u8,
    mac: [u8; 6],
    has_status: bool,
    rx: Queue,
    tx: Queue,
    /// Transmit descriptors the device is not holding.
    tx_free: Vec<u16>,
    stats: NetStats,
}

/// Why no NIC was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeError {
    NotFound,
    NoIoBar,
    NoIrq,
    NoQueue,
    NoMemory,
}

impl core::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ProbeError::NotFound => "no virtio-net PCI device (QEMU: -device virtio-net-pci,netdev=…)",
            ProbeError::NoIoBar => "the virtio-net device has no legacy I/O BAR (use a transitional device, not disable-legacy=on)",
            ProbeError::NoIrq => "the firmware routed no interrupt line to the virtio-net device",
            ProbeError::NoQueue => "the virtio-net device offers no receive or transmit queue",
            ProbeError::NoMemory => "no contiguous frames left for the virtio-net rings",
        })
    }
}

impl VirtioNet {
    /// Finds the first virtio-net function among `functions` and starts it.
    pub fn probe(functions: &[Function]) -> Result<VirtioNet, ProbeError> {
        let f = functions
            .iter()
            .find(|f| f.vendor == VENDOR_VIRTIO && f.device == DEVICE_NET_LEGACY)
            .ok_or(ProbeError::NotFound)?;
        if f.irq_line == 0 || f.irq_line >= 16 {
            return Err(ProbeError::NoIrq);
        }
        let dev = Legacy::begin(f).ok_or(ProbeError::NoIoBar)?;
        let wanted = dev.negotiate(FEATURE_MAC | FEATURE_STATUS);
        let queues = (|| {
            let rx = Queue::new(&dev, RX_QUEUE, MAX_BUFFERS, BUF_SIZE)?;
            let tx = Queue::new(&dev, TX_QUEUE, MAX_BUFFERS, BUF_SIZE)?;
            Some((rx, tx))
        })();
        let Some((rx, tx)) = queues else {
            dev.fail();
            return Err(ProbeError::NoQueue);
        };
        let mut mac = [0u8; 6];
        if wanted & FEATURE_MAC != 0 {
            for (i, b) in mac.iter_mut().enumerate() {
                *b = dev.config8(CONFIG_MAC + i as u16);
            }
        } else {
            mac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]; // QEMU's default, locally administered
        }
        let tx_free = (0..tx.buffer_count()).rev().collect();
        let mut net = VirtioNet {
            dev,
            irq: f.irq_line,
            mac,
            has_status: wanted & FEATURE_STATUS != 0,
            rx,
            tx,
            tx_free,
            stats: NetStats::default(),
        };
        net.tx.suppress_interrupts();
        for id in 0..net.rx.buffer_count() {
            net.rx.post(id, BUF_SIZE, DESC_F_WRITE);
        }
        *IRQ_DEVICE.lock() = Some(dev);
        dev.ready();
        net.rx.notify(&dev);
        Ok(net)
    }

    /// Returns finished transmit descriptors to the free list.
    fn reclaim_tx(&mut self) {
        while let Some((id, _)) = self.tx.take_used() {
            self.tx_free.push(id);
        }
    }
}

/// Interrupt context: reads (and so clears) the device's interrupt status.
/// True when the device had raised the (possibly shared) line.
pub fn acknowledge_interrupt() -> bool {
    IRQ_DEVICE.lock().is_some_and(|dev| dev.acknowledge_interrupt())
}

impl NetDevice for VirtioNet {
    fn driver(&self) -> &'static str {
        "virtio-net"
    }

    fn mac(&self) -> [u8; 6] {
        self.mac
    }

    fn link_up(&self) -> bool {
        !self.has_status || self.dev.config16(CONFIG_LINK) & LINK_UP != 0
    }

    fn irq(&self) -> u8 {
        self.irq
    }

    fn receive(&mut self, buf: &mut [u8]) -> Option<usize> {
        loop {
            let Some((id, written)) = self.rx.take_used() else {
                // Empty: interrupts on, then a last look for a frame that
                // came in before the device saw them on.
                self.rx.allow_interrupts();
                if !self.rx.has_used() {
                    return None;
                }
                self.rx.suppress_interrupts();
                continue;
            };
            self.rx.suppress_interrupts();
            let frame_len = written.saturating_sub(NET_HDR);
            let ok = written <= BUF_SIZE && (14..=MAX_FRAME).contains(&frame_len) && frame_len <= buf.len();
            if ok {
                buf[..frame_len].copy_from_slice(&self.rx.buffer(id)[NET_HDR..NET_HDR + frame_len]);
            }
            self.rx.post(id, BUF_SIZE, DESC_F_WRITE);
            self.rx.notify(&self.dev);
            if ok {
                self.stats.rx_frames += 1;
                self.stats.rx_bytes += frame_len as u64;
                return Some(frame_len);
            }
            self.stats.rx_dropped += 1;
        }
    }

    fn can_send(&mut self) -> bool {
        self.reclaim_tx();
        !self.tx_free.is_empty()
    }

    fn send(&mut self, len: usize, fill: &mut dyn FnMut(&mut [u8])) -> bool {
        if len > MAX_FRAME || !self.can_send() {
            self.stats.tx_busy += 1;
            return false;
        }
        let Some(id) = self.tx_free.pop() else { return false };
        let buffer = self.tx.buffer(id);
        buffer[..NET_HDR].fill(0);
        fill(&mut buffer[NET_HDR..NET_HDR + len]);
        self.tx.post(id, NET_HDR + len, 0);
        self.tx.notify(&self.dev);
        self.stats.tx_frames += 1;
        self.stats.tx_bytes += len as u64;
        true
    }

    fn stats(&self) -> NetStats {
        self.stats
    }
}
