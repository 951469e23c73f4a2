//! The small interface every network driver offers: send a frame, receive a
//! frame, the MAC address and the link state. The kernel's own TCP/IP stack
//! (`os::net`, smoltcp) sits on it, and so can LKL's netdev later: neither
//! knows which NIC is underneath.

/// Largest Ethernet frame a driver hands over or accepts (no FCS, no VLAN tag).
pub const MAX_FRAME: usize = 1514;

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
}

pub trait NetDevice: Send {
    /// The driver's name (`virtio-net`).
    fn driver(&self) -> &'static str;
    fn mac(&self) -> [u8; 6];
    fn link_up(&self) -> bool;
    /// The legacy interrupt line the device raises.
    fn irq(&self) -> u8;
    /// Copies the next received frame into `buf` (at least [`MAX_FRAME`]
    /// bytes) and returns its length; `None` when nothing is waiting.
    fn receive(&mut self, buf: &mut [u8]) -> Option<usize>;
    /// True when [`send`](Self::send) would find room.
    fn can_send(&mut self) -> bool;
    /// Lets `fill` build a frame of `len` bytes (at most [`MAX_FRAME`]) in
    /// the device's buffer and queues it. False (nothing sent) when the ring
    /// is full or `len` is too long.
    fn send(&mut self, len: usize, fill: &mut dyn FnMut(&mut [u8])) -> bool;
    fn stats(&self) -> NetStats;
}
