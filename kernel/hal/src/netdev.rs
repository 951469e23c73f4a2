//! The small interface every network driver offers: send a frame, receive a
//! frame, the MAC address and the link state. The kernel's own TCP/IP stack
//! (`os::net`, smoltcp) sits on it, and so can LKL's netdev later: neither
//! knows which NIC is underneath.
//!
//! Offloads: a driver may let the device finish TCP checksums and cut large
//! TCP segments into wire-sized ones (TSO), and receive the sending host's
//! coalesced segments whole, with checksums the host vouches for. Under TCG
//! every frame costs a device exit and an interrupt or two, so one 16 KiB
//! frame instead of eleven 1 460-byte ones is what counts. The stack says
//! what the device is to finish in each frame ([`TxOffload`]); the driver
//! says whether a received frame's checksums still need checking
//! ([`Received`]).

/// Largest Ethernet frame a driver hands over or accepts without offloads
/// (no FCS, no VLAN tag).
pub const MAX_FRAME: usize = 1514;
/// Largest frame with large receive or segmentation offload: an Ethernet
/// header and a 64 KiB IPv4 packet.
pub const MAX_LARGE_FRAME: usize = 14 + 65535;
/// Largest frame sent with segmentation offload: a whole 64 KiB IPv4
/// packet, as Linux sends. QEMU writes each frame to the TAP in one
/// `writev` and the host segments it (or takes it whole over its own
/// loopback-like path), so four times fewer frames, kicks and host writes
/// per MiB than with 16 KiB. (Sockets whose send buffer is 64 KiB must not
/// use segments that large: smoltcp's Nagle test holds data back while a
/// segment is in flight unless a full one can go; see the OS's net device.)
pub const MAX_TSO_FRAME: usize = MAX_LARGE_FRAME;

/// Counters a driver keeps (shown by `ifconfig`).
#[derive(Debug, Clone, Copy, Default)]
pub struct NetStats {
    pub rx_frames: u64,
    pub rx_bytes: u64,
    pub tx_frames: u64,
    pub tx_bytes: u64,
    /// Frames dropped because they did not fit (too long or too short).
    pub rx_dropped: u64,
    /// Sends refused because the transmit ring was full.
    pub tx_busy: u64,
    /// Frames too long for the link that the device was not to segment
    /// (dropped, as a link drops them).
    pub tx_dropped: u64,
    /// Device interrupts (the line raised by this device).
    pub interrupts: u64,
    /// Times the driver told the device about new transmit buffers (a port
    /// write: a VM exit each).
    pub tx_kicks: u64,
    /// Frames sent for the device to segment (TSO) or received coalesced.
    pub tx_large: u64,
    pub rx_large: u64,
}

/// What a driver's device does for the stack (all false: plain frames of
/// at most [`MAX_FRAME`] bytes, checksums done by the stack).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Offloads {
    /// Received frames may come with TCP/UDP checksums left unfilled by the
    /// sending host or already checked by the device; [`Received::checksum_trusted`]
    /// says which frames still need checking.
    pub rx_checksum: bool,
    /// The device completes TCP checksums of sent frames ([`TxOffload::checksum`]).
    pub tx_checksum: bool,
    /// Received frames may be up to [`MAX_LARGE_FRAME`] bytes (the host's
    /// coalesced TCP segments).
    pub rx_large: bool,
    /// The device cuts TCP frames up to [`MAX_TSO_FRAME`] bytes into
    /// segments ([`TxOffload::segment`]).
    pub tx_segmentation: bool,
}

impl Offloads {
    /// Largest frame `receive` may return.
    pub fn max_rx_frame(&self) -> usize {
        if self.rx_large { MAX_LARGE_FRAME } else { MAX_FRAME }
    }

    /// Largest frame `send` accepts.
    pub fn max_tx_frame(&self) -> usize {
        if self.tx_segmentation { MAX_TSO_FRAME } else { MAX_FRAME }
    }
}

/// A received frame.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    pub len: usize,
    /// The frame's TCP/UDP checksum needs no check: the device checked it,
    /// or the sending host left it for the receiver of a local hop (it may
    /// then be incomplete). False for every frame without `rx_checksum`.
    pub checksum_trusted: bool,
}

/// A received frame where the device wrote it, lent to the stack by
/// [`NetDevice::lend`]: the stack reads (and may patch) it in place and
/// hands it back with [`NetDevice::give_back`], which gives the buffer to
/// the device again (until then the device has one receive buffer less).
pub struct RxFrame {
    pub info: Received,
    pub(crate) buffer: crate::virtio::LentBuffer,
    /// Where the frame starts in the buffer (after the device's header).
    pub(crate) start: usize,
}

impl RxFrame {
    /// The frame, `info.len` bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.buffer.bytes(self.start + self.info.len)[self.start..]
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        let start = self.start;
        &mut self.buffer.bytes_mut(start + self.info.len)[start..]
    }
}

/// What the device is to finish in a sent frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxOffload {
    /// (start, offset): the device sums the frame from byte `start` on and
    /// stores the result at `start + offset`, where the stack left the
    /// pseudo-header's sum (needs `tx_checksum`).
    pub checksum: Option<(u16, u16)>,
    /// (segment payload bytes, header bytes): the device cuts the TCP frame
    /// into segments of that payload, each with the first `header` bytes
    /// (Ethernet, IPv4 and TCP headers) adjusted (needs `tx_segmentation`).
    pub segment: Option<(u16, u16)>,
}

pub trait NetDevice: Send {
    /// The driver's name (`virtio-net`).
    fn driver(&self) -> &'static str;
    fn mac(&self) -> [u8; 6];
    fn link_up(&self) -> bool;
    /// The legacy interrupt line the device raises.
    fn irq(&self) -> u8;
    /// What the device finishes for the stack.
    fn offloads(&self) -> Offloads {
        Offloads::default()
    }
    /// Copies the next received frame into `buf` (at least
    /// [`Offloads::max_rx_frame`] bytes); `None` when nothing is waiting.
    fn receive(&mut self, buf: &mut [u8]) -> Option<Received>;
    /// Whether the driver lends received frames ([`lend`](Self::lend)),
    /// which saves the copy [`receive`](Self::receive) makes.
    fn lends(&self) -> bool {
        false
    }
    /// The next received frame, in the driver's own buffer (see
    /// [`RxFrame`]); `None` when nothing is waiting or the driver does not
    /// lend. Frames come in the order they arrived, as from `receive`.
    fn lend(&mut self) -> Option<RxFrame> {
        None
    }
    /// Takes back a frame [`lend`](Self::lend) gave.
    fn give_back(&mut self, _frame: RxFrame) {}
    /// True when [`send`](Self::send) would find room.
    fn can_send(&mut self) -> bool;
    /// Lets `fill` build a frame of `len` bytes (at most
    /// [`Offloads::max_tx_frame`]) in the device's buffer and say what the
    /// device is to finish in it, and queues it. False (nothing sent) when
    /// the ring is full or `len` is too long, or when the frame is longer
    /// than [`MAX_FRAME`] and not to be segmented.
    fn send(&mut self, len: usize, fill: &mut dyn FnMut(&mut [u8]) -> TxOffload) -> bool;
    /// While held (`true`), frames [`send`](Self::send) queues wait for the
    /// release (`false`) to be announced to the device: one notification
    /// (a VM exit) for a burst instead of one per frame. By default, and
    /// when not held, every send announces its frame.
    fn hold_kicks(&mut self, _hold: bool) {}
    fn stats(&self) -> NetStats;
}
