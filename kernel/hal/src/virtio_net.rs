//! virtio-net over legacy (transitional) virtio-PCI: the NIC this kernel
//! drives on QEMU (`-device virtio-net-pci`).
//!
//! Why virtio and not e1000: its legacy interface is all port I/O (no MMIO
//! window to map), a frame costs one descriptor and at most one notify
//! instead of a dozen emulated register accesses, which is what counts under
//! TCG, and the same device is what LKL's virtio drivers expect. Only the
//! MAC and STATUS features are negotiated: no checksum or segmentation
//! offload, so the header is the plain 10-byte `virtio_net_hdr`.
//!
//! Memory: each queue's ring is one physically contiguous block from the
//! frame allocator (the legacy device takes a single page frame number), and
//! every descriptor owns a fixed 2 KiB buffer, two per frame. Receive
//! descriptors are all posted at start and re-posted as soon as their frame
//! is copied out; transmit descriptors are recycled from the used ring.

use crate::cpu::{inb, inl, inw, outb, outl, outw};
use crate::netdev::{NetDevice, NetStats, MAX_FRAME};
use crate::paging::{phys_to_virt, PAGE_SIZE};
use crate::pci::Function;
use alloc::vec::Vec;
use core::sync::atomic::{fence, AtomicU16, Ordering};

const VENDOR_VIRTIO: u16 = 0x1af4;
/// Transitional virtio-net (legacy interface present).
const DEVICE_NET_LEGACY: u16 = 0x1000;

// Legacy register offsets from BAR0.
const REG_DEVICE_FEATURES: u16 = 0x00;
const REG_GUEST_FEATURES: u16 = 0x04;
const REG_QUEUE_PFN: u16 = 0x08;
const REG_QUEUE_SIZE: u16 = 0x0c;
const REG_QUEUE_SELECT: u16 = 0x0e;
const REG_QUEUE_NOTIFY: u16 = 0x10;
const REG_STATUS: u16 = 0x12;
const REG_ISR: u16 = 0x13;
/// Device config (no MSI-X enabled, so it starts right after the header).
const REG_MAC: u16 = 0x14;
const REG_LINK: u16 = 0x1a;

const STATUS_ACKNOWLEDGE: u8 = 1;
const STATUS_DRIVER: u8 = 2;
const STATUS_DRIVER_OK: u8 = 4;
const STATUS_FAILED: u8 = 0x80;

const FEATURE_MAC: u32 = 1 << 5;
const FEATURE_STATUS: u32 = 1 << 16;
const LINK_UP: u16 = 1;

const DESC_F_WRITE: u16 = 2;
const USED_F_NO_NOTIFY: u16 = 1;

const RX_QUEUE: u16 = 0;
const TX_QUEUE: u16 = 1;
/// `struct virtio_net_hdr` without mergeable buffers.
const NET_HDR: usize = 10;
const BUF_SIZE: usize = 2048;
/// Buffers per queue at most (the device's queue may be larger).
const MAX_BUFFERS: u16 = 128;

/// I/O base of the device the IRQ handler acknowledges (0: none).
static IRQ_IO_BASE: AtomicU16 = AtomicU16::new(0);

/// A block of physically contiguous, zeroed frames owned by the driver
/// forever (rings and buffers live as long as the device).
struct Dma {
    phys: u64,
    virt: usize,
    len: usize,
}

impl Dma {
    fn alloc(bytes: usize) -> Option<Dma> {
        let frames = bytes.div_ceil(PAGE_SIZE);
        let phys = crate::memory::alloc_zeroed_contiguous(frames)?;
        Some(Dma { phys, virt: phys_to_virt(phys), len: frames * PAGE_SIZE })
    }

    fn check(&self, offset: usize, len: usize) {
        assert!(offset + len <= self.len, "DMA access past the end of its block");
    }

    fn read16(&self, offset: usize) -> u16 {
        self.check(offset, 2);
        // SAFETY: in bounds of a block this driver owns, mapped by the
        // physical map, 2-aligned (every offset used is); volatile because
        // the device writes it.
        unsafe { core::ptr::read_volatile((self.virt + offset) as *const u16) }
    }

    fn read32(&self, offset: usize) -> u32 {
        self.check(offset, 4);
        // SAFETY: as for `read16`, 4-aligned.
        unsafe { core::ptr::read_volatile((self.virt + offset) as *const u32) }
    }

    fn write16(&self, offset: usize, value: u16) {
        self.check(offset, 2);
        // SAFETY: as for `read16`.
        unsafe { core::ptr::write_volatile((self.virt + offset) as *mut u16, value) }
    }

    fn write32(&self, offset: usize, value: u32) {
        self.check(offset, 4);
        // SAFETY: as for `read32`.
        unsafe { core::ptr::write_volatile((self.virt + offset) as *mut u32, value) }
    }

    fn write64(&self, offset: usize, value: u64) {
        self.write32(offset, value as u32);
        self.write32(offset + 4, (value >> 32) as u32);
    }

    /// The bytes at `offset..offset + len`, for the CPU to fill or read while
    /// the device does not own them.
    fn bytes_mut(&mut self, offset: usize, len: usize) -> &mut [u8] {
        self.check(offset, len);
        // SAFETY: in bounds of the block, which `&mut self` borrows; the
        // driver only hands out buffers the device does not own (not posted,
        // or returned through the used ring).
        unsafe { core::slice::from_raw_parts_mut((self.virt + offset) as *mut u8, len) }
    }
}

/// One legacy virtqueue: descriptor table, available ring, used ring.
struct Queue {
    index: u16,
    size: u16,
    ring: Dma,
    buffers: Dma,
    avail_off: usize,
    used_off: usize,
    /// Our copy of avail.idx (next free slot).
    avail_idx: u16,
    /// Used entries consumed so far.
    last_used: u16,
}

impl Queue {
    fn new(io: u16, index: u16, buffers: u16) -> Option<Queue> {
        outw(io + REG_QUEUE_SELECT, index);
        let size = inw(io + REG_QUEUE_SIZE);
        if size == 0 {
            return None;
        }
        let n = usize::from(size);
        let avail_off = 16 * n;
        let used_off = (avail_off + 6 + 2 * n).next_multiple_of(PAGE_SIZE);
        let ring = Dma::alloc(used_off + 6 + 8 * n)?;
        let count = buffers.min(size);
        let buffers = Dma::alloc(usize::from(count) * BUF_SIZE)?;
        let queue = Queue { index, size, ring, buffers, avail_off, used_off, avail_idx: 0, last_used: 0 };
        for i in 0..count {
            let d = 16 * usize::from(i);
            queue.ring.write64(d, queue.buffers.phys + (usize::from(i) * BUF_SIZE) as u64);
            queue.ring.write32(d + 8, BUF_SIZE as u32);
            queue.ring.write16(d + 12, 0);
        }
        outl(io + REG_QUEUE_PFN, (queue.ring.phys / PAGE_SIZE as u64) as u32);
        Some(queue)
    }

    fn buffer_count(&self) -> u16 {
        (self.buffers.len / BUF_SIZE).min(usize::from(self.size)) as u16
    }

    /// Offers descriptor `id` (its buffer `len` bytes long) to the device.
    fn post(&mut self, id: u16, len: usize, flags: u16) {
        let d = 16 * usize::from(id);
        self.ring.write32(d + 8, len as u32);
        self.ring.write16(d + 12, flags);
        let slot = usize::from(self.avail_idx % self.size);
        self.ring.write16(self.avail_off + 4 + 2 * slot, id);
        fence(Ordering::SeqCst); // the entry before the index
        self.avail_idx = self.avail_idx.wrapping_add(1);
        self.ring.write16(self.avail_off + 2, self.avail_idx);
    }

    /// Next used entry: (descriptor id, bytes written by the device).
    fn take_used(&mut self) -> Option<(u16, usize)> {
        let used_idx = self.ring.read16(self.used_off + 2);
        if used_idx == self.last_used {
            return None;
        }
        fence(Ordering::SeqCst); // the index before the entry
        let slot = usize::from(self.last_used % self.size);
        let id = self.ring.read32(self.used_off + 4 + 8 * slot) as u16;
        let len = self.ring.read32(self.used_off + 8 + 8 * slot) as usize;
        self.last_used = self.last_used.wrapping_add(1);
        (id < self.buffer_count()).then_some((id, len))
    }

    fn notify(&self, io: u16) {
        fence(Ordering::SeqCst);
        if self.ring.read16(self.used_off) & USED_F_NO_NOTIFY == 0 {
            outw(io + REG_QUEUE_NOTIFY, self.index);
        }
    }

    fn buffer(&mut self, id: u16) -> &mut [u8] {
        self.buffers.bytes_mut(usize::from(id) * BUF_SIZE, BUF_SIZE)
    }
}

/// A virtio-net device, started.
pub struct VirtioNet {
    io: u16,
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
        let io = f.io_bar(0).ok_or(ProbeError::NoIoBar)?;
        if f.irq_line == 0 || f.irq_line >= 16 {
            return Err(ProbeError::NoIrq);
        }
        f.enable_io_and_dma();
        outb(io + REG_STATUS, 0); // reset
        outb(io + REG_STATUS, STATUS_ACKNOWLEDGE);
        outb(io + REG_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
        let offered = inl(io + REG_DEVICE_FEATURES);
        let wanted = offered & (FEATURE_MAC | FEATURE_STATUS);
        outl(io + REG_GUEST_FEATURES, wanted);
        let queues = (|| {
            let rx = Queue::new(io, RX_QUEUE, MAX_BUFFERS)?;
            let tx = Queue::new(io, TX_QUEUE, MAX_BUFFERS)?;
            Some((rx, tx))
        })();
        let Some((rx, tx)) = queues else {
            outb(io + REG_STATUS, STATUS_FAILED);
            return Err(ProbeError::NoQueue);
        };
        let mut mac = [0u8; 6];
        if wanted & FEATURE_MAC != 0 {
            for (i, b) in mac.iter_mut().enumerate() {
                *b = inb(io + REG_MAC + i as u16);
            }
        } else {
            mac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]; // QEMU's default, locally administered
        }
        let tx_free = (0..tx.buffer_count()).rev().collect();
        let mut dev = VirtioNet {
            io,
            irq: f.irq_line,
            mac,
            has_status: wanted & FEATURE_STATUS != 0,
            rx,
            tx,
            tx_free,
            stats: NetStats::default(),
        };
        for id in 0..dev.rx.buffer_count() {
            dev.rx.post(id, BUF_SIZE, DESC_F_WRITE);
        }
        IRQ_IO_BASE.store(io, Ordering::Relaxed);
        outb(io + REG_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_DRIVER_OK);
        dev.rx.notify(io);
        Ok(dev)
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
    let io = IRQ_IO_BASE.load(Ordering::Relaxed);
    io != 0 && inb(io + REG_ISR) & 3 != 0
}

impl NetDevice for VirtioNet {
    fn driver(&self) -> &'static str {
        "virtio-net"
    }

    fn mac(&self) -> [u8; 6] {
        self.mac
    }

    fn link_up(&self) -> bool {
        !self.has_status || inw(self.io + REG_LINK) & LINK_UP != 0
    }

    fn irq(&self) -> u8 {
        self.irq
    }

    fn receive(&mut self, buf: &mut [u8]) -> Option<usize> {
        loop {
            let (id, written) = self.rx.take_used()?;
            let frame_len = written.saturating_sub(NET_HDR);
            let ok = written <= BUF_SIZE && (14..=MAX_FRAME).contains(&frame_len) && frame_len <= buf.len();
            if ok {
                buf[..frame_len].copy_from_slice(&self.rx.buffer(id)[NET_HDR..NET_HDR + frame_len]);
            }
            self.rx.post(id, BUF_SIZE, DESC_F_WRITE);
            self.rx.notify(self.io);
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
        self.tx.notify(self.io);
        self.stats.tx_frames += 1;
        self.stats.tx_bytes += len as u64;
        true
    }

    fn stats(&self) -> NetStats {
        self.stats
    }
}
