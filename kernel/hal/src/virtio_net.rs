//! virtio-net over legacy (transitional) virtio-PCI (see [`crate::virtio`]):
//! the NIC this kernel drives on QEMU (`-device virtio-net-pci`).
//!
//! Why virtio and not e1000: a frame costs one descriptor and at most one
//! notify instead of a dozen emulated register accesses, which is what counts
//! under TCG, and the same device is what LKL's virtio drivers expect. MAC
//! and STATUS are negotiated; over a TAP also the checksum, segmentation
//! and mergeable-buffer offloads (12-byte header; see [`crate::netdev`]).
//!
//! Every descriptor owns a buffer (2 KiB plain; with the offloads receive
//! buffers that hold a whole 64 KiB frame, and 16 KiB transmit ones).
//! Receive buffers are lent to the stack with their frame
//! ([`NetDevice::lend`]: smoltcp reads the frame where the device wrote it)
//! and posted again when it gives them back; transmit descriptors are
//! recycled from the used ring. While the stack holds kicks ([`NetDevice::hold_kicks`]: a
//! poll round), sent frames are announced to the device once, at the end.
//!
//! Interrupts, which cost most under TCG: the transmit queue never
//! interrupts (finished descriptors are reclaimed when the next frame is
//! sent). The receive queue interrupts only when the ring was found empty:
//! while frames keep coming, [`NetDevice::receive`] drains them with the
//! device's interrupts off, and turns them back on (then looks again) once
//! the ring is empty, as Linux's NAPI does. Every caller polls until
//! `receive` says None (smoltcp's `Interface::poll` does).

use crate::netdev::{NetDevice, NetStats, Offloads, Received, RxFrame, TxOffload, MAX_FRAME, MAX_LARGE_FRAME, MAX_TSO_FRAME};
use crate::pci::Function;
use crate::virtio::{Direction, LentBuffer, Legacy, Queue, VENDOR_VIRTIO};
use alloc::vec::Vec;

use crate::sync::{IrqMutex, SplitU64};

/// Transitional virtio-net (legacy interface present).
const DEVICE_NET_LEGACY: u16 = 0x1000;

// Device configuration offsets.
const CONFIG_MAC: u16 = 0x00;
const CONFIG_LINK: u16 = 0x06;

/// The device completes checksums of frames we send (NEEDS_CSUM).
const FEATURE_CSUM: u32 = 1 << 0;
/// We accept frames with partial or device-checked checksums.
const FEATURE_GUEST_CSUM: u32 = 1 << 1;
const FEATURE_MAC: u32 = 1 << 5;
/// We accept coalesced TCP/IPv4 frames (up to 64 KiB).
const FEATURE_GUEST_TSO4: u32 = 1 << 7;
/// The device segments our large TCP/IPv4 frames.
const FEATURE_HOST_TSO4: u32 = 1 << 11;
/// A received frame may span several receive buffers (`num_buffers`).
const FEATURE_MRG_RXBUF: u32 = 1 << 15;
const FEATURE_STATUS: u32 = 1 << 16;
const LINK_UP: u16 = 1;
/// The offloads, negotiated all together or not at all (TSO needs the
/// checksum offloads, large receive needs the mergeable buffers).
const FEATURES_OFFLOAD: u32 = FEATURE_CSUM | FEATURE_GUEST_CSUM | FEATURE_GUEST_TSO4 | FEATURE_HOST_TSO4 | FEATURE_MRG_RXBUF;

// `struct virtio_net_hdr` fields.
const HDR_F_NEEDS_CSUM: u8 = 1;
const HDR_F_DATA_VALID: u8 = 2;
const HDR_GSO_TCPV4: u8 = 1;

const RX_QUEUE: u16 = 0;
const TX_QUEUE: u16 = 1;
/// `struct virtio_net_hdr` without mergeable buffers.
const NET_HDR: usize = 10;
/// With mergeable buffers (legacy: on both queues): `num_buffers` added.
const NET_HDR_MRG: usize = 12;
/// Plain buffers: a header and a frame of at most [`MAX_FRAME`] bytes.
const BUF_SIZE: usize = 2048;
/// Receive buffers with the offloads: the header and a whole 64 KiB frame,
/// so that every frame is in one buffer (mergeable buffers negotiated, but
/// never more than one per frame) and can be lent as it is. (Linux posts
/// page-sized buffers and chains the pages into one packet; smoltcp wants
/// the frame in one slice, which cost a copy per frame with 4 KiB buffers;
/// QEMU also pops one descriptor per frame instead of up to 17.)
const RX_BUF_SIZE_LARGE: usize = NET_HDR_MRG + MAX_LARGE_FRAME;
/// Receive buffers with the offloads (68 KiB each: 2.1 MiB). Enough for the
/// peer's window (smoltcp's 512 KiB, eight full frames) several times over.
const RX_BUFFERS_LARGE: u16 = 32;
/// Transmit buffers with TSO: a header and the largest frame.
const TX_BUF_SIZE_TSO: usize = NET_HDR_MRG + MAX_TSO_FRAME;
/// Buffers per queue at most (the device's queue may be larger).
const MAX_BUFFERS: u16 = 128;
/// Transmit buffers with TSO (64 KiB each, 1.6 MiB: a connected socket's
/// 256 KiB send buffer is four of them, an accepted one's 64 KiB four
/// 16 KiB segments; the rest carry ACKs and other flows).
const TX_BUFFERS_TSO: u16 = 24;

/// The device the IRQ handler acknowledges (None: none started).
static IRQ_DEVICE: IrqMutex<Option<Legacy>> = IrqMutex::new(None);
/// Interrupts the device raised.
static INTERRUPTS: SplitU64 = SplitU64::new(0);

/// A virtio-net device, started.
pub struct VirtioNet {
    dev: Legacy,
    irq: u8,
    mac: [u8; 6],
    has_status: bool,
    offloads: Offloads,
    /// Header length on both queues (10, or 12 with mergeable buffers).
    hdr_len: usize,
    mergeable: bool,
    rx: Queue,
    tx: Queue,
    /// Transmit descriptors the device is not holding.
    tx_free: Vec<u16>,
    /// [`NetDevice::hold_kicks`]: sends do not notify the device.
    hold_kicks: bool,
    /// Frames queued since the device was last notified.
    unannounced: bool,
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
    /// Finds the first virtio-net function among `functions` and starts it;
    /// with `offload`, asks for checksum and segmentation offloads (granted
    /// when QEMU's backend is a TAP with virtio-net headers).
    pub fn probe(functions: &[Function], offload: bool) -> Result<VirtioNet, ProbeError> {
        let f = functions
            .iter()
            .find(|f| f.vendor == VENDOR_VIRTIO && f.device == DEVICE_NET_LEGACY)
            .ok_or(ProbeError::NotFound)?;
        if f.irq_line == 0 || f.irq_line >= 16 {
            return Err(ProbeError::NoIrq);
        }
        let dev = Legacy::begin(f).ok_or(ProbeError::NoIoBar)?;
        let offered = dev.features();
        let mut wanted = FEATURE_MAC | FEATURE_STATUS;
        if offload && offered & FEATURES_OFFLOAD == FEATURES_OFFLOAD {
            wanted |= FEATURES_OFFLOAD;
        }
        let accepted = dev.negotiate(wanted);
        let on = accepted & FEATURES_OFFLOAD == FEATURES_OFFLOAD;
        let offloads = Offloads { rx_checksum: on, tx_checksum: on, rx_large: on, tx_segmentation: on };
        let (rx_size, rx_count, tx_size, tx_count) = match on {
            true => (RX_BUF_SIZE_LARGE, RX_BUFFERS_LARGE, TX_BUF_SIZE_TSO, TX_BUFFERS_TSO),
            false => (BUF_SIZE, MAX_BUFFERS, BUF_SIZE, MAX_BUFFERS),
        };
        let queues = (|| {
            let rx = Queue::new_lending(&dev, RX_QUEUE, rx_count, rx_size)?;
            let tx = Queue::new(&dev, TX_QUEUE, tx_count, tx_size)?;
            Some((rx, tx))
        })();
        let Some((rx, tx)) = queues else {
            dev.fail();
            return Err(ProbeError::NoQueue);
        };
        let mut mac = [0u8; 6];
        if accepted & FEATURE_MAC != 0 {
            for (i, b) in mac.iter_mut().enumerate() {
                *b = dev.config8(CONFIG_MAC + i as u16);
            }
        } else {
            mac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]; // QEMU's default, locally administered
        }
        let tx_free = (0..tx.buffer_count()).rev().collect();
        let mergeable = accepted & FEATURE_MRG_RXBUF != 0;
        let mut net = VirtioNet {
            dev,
            irq: f.irq_line,
            mac,
            has_status: accepted & FEATURE_STATUS != 0,
            offloads,
            hdr_len: if mergeable { NET_HDR_MRG } else { NET_HDR },
            mergeable,
            rx,
            tx,
            tx_free,
            hold_kicks: false,
            unannounced: false,
            stats: NetStats::default(),
        };
        net.tx.suppress_interrupts();
        for buffer in net.rx.unposted() {
            net.rx.post_lent(buffer, rx_size, Direction::DeviceWrites);
        }
        *IRQ_DEVICE.lock() = Some(dev);
        dev.ready();
        net.rx.notify(&dev);
        Ok(net)
    }

    /// Returns finished transmit descriptors to the free list; with none
    /// left, tells the device about the frames it has not been told of, or
    /// it would never free them.
    fn reclaim_tx(&mut self) {
        while let Some((id, _)) = self.tx.take_used() {
            self.tx_free.push(id);
        }
        if self.tx_free.is_empty() {
            self.announce_tx();
        }
    }

    /// Notifies the device of queued frames it was not told of.
    fn announce_tx(&mut self) {
        if core::mem::take(&mut self.unannounced) && self.tx.notify(&self.dev) {
            self.stats.tx_kicks += 1;
        }
    }

    /// Gives a receive buffer back to the device.
    fn repost(&mut self, buffer: LentBuffer) {
        let size = self.rx.buf_size();
        self.rx.post_lent(buffer, size, Direction::DeviceWrites);
    }
}

/// Interrupt context: reads (and so clears) the device's interrupt status.
/// True when the device had raised the (possibly shared) line.
pub fn acknowledge_interrupt() -> bool {
    let raised = IRQ_DEVICE.lock().is_some_and(|dev| dev.acknowledge_interrupt());
    if raised {
        INTERRUPTS.fetch_add(1);
    }
    raised
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

    fn offloads(&self) -> Offloads {
        self.offloads
    }

    fn receive(&mut self, buf: &mut [u8]) -> Option<Received> {
        loop {
            let frame = self.lend()?;
            let len = frame.info.len;
            let fits = len <= buf.len();
            if fits {
                buf[..len].copy_from_slice(frame.bytes());
            }
            let info = frame.info;
            self.give_back(frame);
            match fits {
                true => return Some(info),
                false => self.stats.rx_dropped += 1,
            }
        }
    }

    fn lends(&self) -> bool {
        true
    }

    fn lend(&mut self) -> Option<RxFrame> {
        loop {
            let Some((buffer, written)) = self.rx.take_used_lent() else {
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
            let hdr_len = self.hdr_len;
            let mut hdr = [0u8; NET_HDR_MRG];
            let header_written = written >= hdr_len && written <= self.rx.buf_size();
            if header_written {
                hdr[..hdr_len].copy_from_slice(buffer.bytes(hdr_len));
            }
            // Every buffer holds a whole frame; one that came in pieces
            // anyway (the device writes them all before it publishes the
            // used index) cannot be lent in one slice and is dropped.
            let pieces = if self.mergeable { u16::from_le_bytes([hdr[10], hdr[11]]) } else { 1 };
            for _ in 1..pieces {
                match self.rx.take_used_lent() {
                    Some((rest, _)) => self.repost(rest),
                    None => break,
                }
            }
            let max = self.offloads.max_rx_frame();
            let len = written.wrapping_sub(hdr_len);
            if !header_written || pieces != 1 || !(14..=max).contains(&len) {
                self.stats.rx_dropped += 1;
                self.repost(buffer);
                self.rx.notify(&self.dev);
                continue;
            }
            self.stats.rx_frames += 1;
            self.stats.rx_bytes += len as u64;
            if len > MAX_FRAME {
                self.stats.rx_large += 1;
            }
            let checksum_trusted = self.offloads.rx_checksum && hdr[0] & (HDR_F_NEEDS_CSUM | HDR_F_DATA_VALID) != 0;
            return Some(RxFrame { info: Received { len, checksum_trusted }, buffer, start: hdr_len });
        }
    }

    fn give_back(&mut self, frame: RxFrame) {
        self.repost(frame.buffer);
        self.rx.notify(&self.dev);
    }

    fn can_send(&mut self) -> bool {
        self.reclaim_tx();
        !self.tx_free.is_empty()
    }

    fn send(&mut self, len: usize, fill: &mut dyn FnMut(&mut [u8]) -> TxOffload) -> bool {
        let hdr_len = self.hdr_len;
        if len > self.offloads.max_tx_frame() || hdr_len + len > self.tx.buf_size() || !self.can_send() {
            self.stats.tx_busy += 1;
            return false;
        }
        let Some(id) = self.tx_free.pop() else { return false };
        let buffer = self.tx.buffer(id);
        let offload = fill(&mut buffer[hdr_len..hdr_len + len]);
        let mut hdr = [0u8; NET_HDR_MRG];
        if let (Some((start, offset)), true) = (offload.checksum, self.offloads.tx_checksum) {
            hdr[0] = HDR_F_NEEDS_CSUM;
            hdr[6..8].copy_from_slice(&start.to_le_bytes());
            hdr[8..10].copy_from_slice(&offset.to_le_bytes());
            if let (Some((mss, header)), true) = (offload.segment, self.offloads.tx_segmentation) {
                hdr[1] = HDR_GSO_TCPV4;
                hdr[2..4].copy_from_slice(&header.to_le_bytes());
                hdr[4..6].copy_from_slice(&mss.to_le_bytes());
                self.stats.tx_large += 1;
            }
        }
        if len > MAX_FRAME && hdr[1] != HDR_GSO_TCPV4 {
            self.tx_free.push(id);
            self.stats.tx_dropped += 1;
            return false;
        }
        buffer[..hdr_len].copy_from_slice(&hdr[..hdr_len]);
        self.tx.post(id, hdr_len + len, Direction::DeviceReads);
        self.unannounced = true;
        if !self.hold_kicks {
            self.announce_tx();
        }
        self.stats.tx_frames += 1;
        self.stats.tx_bytes += len as u64;
        true
    }

    fn hold_kicks(&mut self, hold: bool) {
        self.hold_kicks = hold;
        if !hold {
            self.announce_tx();
        }
    }

    fn stats(&self) -> NetStats {
        NetStats { interrupts: INTERRUPTS.load(), ..self.stats }
    }
}

// A frame must fit one receive buffer.
const _: () = assert!(MAX_LARGE_FRAME + NET_HDR_MRG <= RX_BUF_SIZE_LARGE && MAX_FRAME + NET_HDR_MRG <= BUF_SIZE);
