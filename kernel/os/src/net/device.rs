//! smoltcp's `Device` on top of the hal's [`NetDevice`] interface.
//!
//! Received frames are read where the device wrote them when it lends
//! them ([`NetDevice::lend`]; virtio-net does), and copied otherwise (LKL's
//! port of a shared NIC).
//!
//! With the NIC's offloads ([`Offloads`]), TCP checksums are neither
//! computed nor checked here (the device finishes ours; the host's are
//! vouched for, or left partial on the local hop, and the few frames that
//! come unvouched are checked in [`Nic`] before smoltcp sees them), and TCP
//! segments up to 16 KiB go to the device whole, which cuts them to the
//! peer's MSS: smoltcp sizes segments by the MSS the peer announced, so the
//! MSS option of a peer's SYN is raised to ours on the way in and the real
//! one kept per connection for the device ([`Flows`]).

use crate::hal::netdev::{NetDevice, NetStats, Offloads, Received, RxFrame, TxOffload, MAX_FRAME};
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::net::Ipv4Addr;
use smoltcp::phy::{self, Checksum, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetFrame, EthernetProtocol, IpAddress, IpProtocol, Ipv4Packet, TcpPacket, UdpPacket};

/// The NIC as smoltcp sees it.
pub struct Nic {
    pub dev: Box<dyn NetDevice>,
    offloads: Offloads,
    /// The device lends its frames ([`NetDevice::lend`]): smoltcp reads
    /// them in the device's buffers. Otherwise each is copied into one of
    /// `spare`.
    lends: bool,
    /// Receive buffers to reuse (one frame is copied out of the ring into
    /// one), each `offloads.max_rx_frame()` long.
    spare: Vec<Vec<u8>>,
    /// Lent frames smoltcp is done with, for the device at the next receive.
    returned: Vec<RxFrame>,
    flows: Flows,
}

/// The MSS each peer announced, by (peer address, peer port, our port), for
/// the connections whose SYN had it raised (TSO only).
type Flows = BTreeMap<(Ipv4Addr, u16, u16), u16>;
/// Connections remembered at most (the table starts over when full; a
/// forgotten one is cut to the link's own segment size, its usual MSS).
const MAX_FLOWS: usize = 256;
/// TCP header offsets.
const TCP_FLAGS: usize = 13;
const TCP_CHECKSUM: usize = 16;
const TCP_SYN: u8 = 2;
const TCP_ACK: u8 = 0x10;
/// The MSS an accepted connection's peer is made to announce: a quarter of
/// the accepted socket's 64 KiB send buffer. A full-sized segment would be
/// the whole buffer, and smoltcp's Nagle test holds data back while a
/// segment is in flight unless a full one can go, so a writer would wait
/// for each ACK (as writers did over loopback with its 64 KiB MTU).
const ACCEPTED_MSS: u16 = 16 * 1024;
const TCP_OPTION_MSS: u8 = 2;
/// IPv4 bytes of a plain frame.
const LINK_IP_MTU: usize = MAX_FRAME - 14;

impl Nic {
    pub fn new(dev: Box<dyn NetDevice>) -> Self {
        let offloads = dev.offloads();
        let lends = dev.lends();
        Self { dev, offloads, lends, spare: Vec::new(), returned: Vec::new(), flows: Flows::new() }
    }

    /// eth0 without a NIC: nothing arrives and nothing can be sent, so the
    /// stack (and with it 127.0.0.1) runs without one, as Linux's does.
    pub fn absent() -> Self {
        Self::new(Box::new(NoNic))
    }

    /// False for [`Nic::absent`].
    pub fn present(&self) -> bool {
        self.dev.driver() != NoNic.driver()
    }

    /// What the NIC does for the stack (ifconfig shows it).
    pub fn offloads(&self) -> Offloads {
        self.offloads
    }

    /// Gives the device back the frames smoltcp is done with.
    pub fn give_back_frames(&mut self) {
        for frame in self.returned.drain(..) {
            self.dev.give_back(frame);
        }
    }

    /// The next received frame, lent or copied.
    fn next_frame(&mut self) -> Option<Frame> {
        if self.lends {
            return self.dev.lend().map(Frame::Lent);
        }
        let mut buf = self.spare.pop().unwrap_or_else(|| alloc::vec![0; self.offloads.max_rx_frame()]);
        match self.dev.receive(&mut buf) {
            Some(got) => Some(Frame::Copied(buf, got)),
            None => {
                self.spare.push(buf);
                None
            }
        }
    }

    /// Done with a frame: back to the device, or its buffer for reuse.
    fn recycle(frame: Frame, spare: &mut Vec<Vec<u8>>, returned: &mut Vec<RxFrame>) {
        match frame {
            Frame::Lent(lent) => returned.push(lent),
            Frame::Copied(buf, _) if spare.len() < 4 => spare.push(buf),
            Frame::Copied(..) => {}
        }
    }
}

/// A received frame: lent by the device, or copied into a buffer of ours.
enum Frame {
    Lent(RxFrame),
    Copied(Vec<u8>, Received),
}

impl Frame {
    fn info(&self) -> Received {
        match self {
            Frame::Lent(f) => f.info,
            Frame::Copied(_, info) => *info,
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Frame::Lent(f) => f.bytes(),
            Frame::Copied(buf, info) => &buf[..info.len],
        }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            Frame::Lent(f) => f.bytes_mut(),
            Frame::Copied(buf, info) => &mut buf[..info.len],
        }
    }
}

/// The device of [`Nic::absent`].
struct NoNic;

impl NetDevice for NoNic {
    fn driver(&self) -> &'static str {
        "none"
    }

    fn mac(&self) -> [u8; 6] {
        [0x02, 0, 0, 0, 0, 0] // locally administered; never on a wire
    }

    fn link_up(&self) -> bool {
        false
    }

    fn irq(&self) -> u8 {
        0
    }

    fn receive(&mut self, _buf: &mut [u8]) -> Option<Received> {
        None
    }

    fn can_send(&mut self) -> bool {
        false
    }

    fn send(&mut self, _len: usize, _fill: &mut dyn FnMut(&mut [u8]) -> TxOffload) -> bool {
        false
    }

    fn stats(&self) -> NetStats {
        NetStats::default()
    }
}

pub struct RxToken<'a> {
    /// None once consumed.
    frame: Option<Frame>,
    spare: &'a mut Vec<Vec<u8>>,
    returned: &'a mut Vec<RxFrame>,
}

pub struct TxToken<'a> {
    dev: &'a mut dyn NetDevice,
    offloads: Offloads,
    flows: &'a Flows,
}

impl phy::Device for Nic {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        self.give_back_frames();
        let frame = loop {
            let mut frame = self.next_frame()?;
            if self.offloads.rx_checksum && !frame.info().checksum_trusted && !transport_checksum_ok(frame.bytes()) {
                Self::recycle(frame, &mut self.spare, &mut self.returned);
                continue; // as smoltcp would drop it
            }
            if self.offloads.tx_segmentation {
                raise_peer_mss(frame.bytes_mut(), &mut self.flows);
            }
            break frame;
        };
        let tx = TxToken { dev: &mut *self.dev, offloads: self.offloads, flows: &self.flows };
        Some((RxToken { frame: Some(frame), spare: &mut self.spare, returned: &mut self.returned }, tx))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        let offloads = self.offloads;
        self.dev.can_send().then(|| TxToken { dev: &mut *self.dev, offloads, flows: &self.flows })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let o = self.offloads;
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = o.max_tx_frame();
        caps.max_burst_size = Some(32);
        caps.checksum.tcp = match (o.rx_checksum, o.tx_checksum) {
            (true, true) => Checksum::None,
            (true, false) => Checksum::Tx,
            (false, true) => Checksum::Rx,
            (false, false) => Checksum::Both,
        };
        if o.rx_checksum {
            caps.checksum.udp = Checksum::Tx;
        }
        caps
    }
}

/// Where the IPv4 packet of an Ethernet frame starts, if it is an
/// unfragmented one with consistent lengths.
fn ipv4_start(frame: &[u8]) -> Option<usize> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return None;
    }
    let start = EthernetFrame::<&[u8]>::header_len();
    let ip = Ipv4Packet::new_checked(&frame[start..]).ok()?;
    (!ip.more_frags() && ip.frag_offset() == 0).then_some(start)
}

/// The IPv4 packet of an Ethernet frame, if it is one (see [`ipv4_start`]).
fn ipv4_of(frame: &mut [u8]) -> Option<Ipv4Packet<&mut [u8]>> {
    let start = ipv4_start(frame)?;
    Some(Ipv4Packet::new_unchecked(&mut frame[start..]))
}

/// False when `frame` is a TCP or UDP packet over IPv4 whose checksum is
/// wrong (what smoltcp checks when the device does not).
fn transport_checksum_ok(frame: &[u8]) -> bool {
    let Some(start) = ipv4_start(frame) else { return true };
    let ip = Ipv4Packet::new_unchecked(&frame[start..]);
    let (src, dst) = (IpAddress::Ipv4(ip.src_addr()), IpAddress::Ipv4(ip.dst_addr()));
    match ip.next_header() {
        IpProtocol::Tcp => TcpPacket::new_checked(ip.payload()).map_or(true, |t| t.verify_checksum(&src, &dst)),
        IpProtocol::Udp => UdpPacket::new_checked(ip.payload()).map_or(true, |u| u.verify_checksum(&src, &dst)),
        _ => true,
    }
}

/// In a peer's SYN: remembers the MSS option's value for the connection and
/// raises it to ours, so that smoltcp sends segments that large (the device
/// cuts them to the remembered MSS). Ours is the whole 64 KiB packet in the
/// SYN-ACK answering our `connect` (a connected socket's send buffer is
/// 256 KiB), [`ACCEPTED_MSS`] in a SYN to our listeners (an accepted
/// socket's is 64 KiB). The checksum is not adjusted: smoltcp does not check
/// TCP checksums with the offloads.
fn raise_peer_mss(frame: &mut [u8], flows: &mut Flows) {
    let Some(mut ip) = ipv4_of(frame) else { return };
    if ip.next_header() != IpProtocol::Tcp {
        return;
    }
    let peer = ip.src_addr();
    let tcp = ip.payload_mut();
    if tcp.len() < 20 || tcp[TCP_FLAGS] & TCP_SYN == 0 {
        return;
    }
    let ours = if tcp[TCP_FLAGS] & TCP_ACK != 0 { (MAX_TSO_IP_MTU - 40) as u16 } else { ACCEPTED_MSS };
    let header = (usize::from(tcp[12] >> 4) * 4).min(tcp.len());
    let mut at = 20;
    while at < header {
        match tcp[at] {
            0 => break,
            1 => at += 1,
            kind => {
                let len = tcp.get(at + 1).map_or(0, |l| usize::from(*l));
                if len < 2 || at + len > header {
                    break;
                }
                if kind == TCP_OPTION_MSS && len == 4 {
                    let mss = u16::from_be_bytes([tcp[at + 2], tcp[at + 3]]);
                    if flows.len() >= MAX_FLOWS {
                        flows.clear();
                    }
                    let key = (peer, u16::from_be_bytes([tcp[0], tcp[1]]), u16::from_be_bytes([tcp[2], tcp[3]]));
                    flows.insert(key, mss);
                    tcp[at + 2..at + 4].copy_from_slice(&ours.max(mss).to_be_bytes());
                    return;
                }
                at += len;
            }
        }
    }
}

/// IPv4 MTU smoltcp is given with TSO (see `MAX_TSO_FRAME`).
const MAX_TSO_IP_MTU: usize = crate::hal::netdev::MAX_TSO_FRAME - 14;

/// For a TCP frame over IPv4 smoltcp just built without its checksum: the
/// pseudo-header's sum in the checksum field and what the device is to
/// finish (the checksum; segmenting when the payload is more than the
/// peer's MSS or a plain frame).
fn prepare_tx(frame: &mut [u8], flows: &Flows) -> TxOffload {
    let Some(mut ip) = ipv4_of(frame) else { return TxOffload::default() };
    if ip.next_header() != IpProtocol::Tcp {
        return TxOffload::default();
    }
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let ip_header = usize::from(ip.header_len());
    let tcp = ip.payload_mut();
    if tcp.len() < 20 {
        return TxOffload::default();
    }
    let tcp_len = tcp.len();
    let mut sum = u32::from(u8::from(IpProtocol::Tcp)) + tcp_len as u32;
    for half in src.octets().chunks(2).chain(dst.octets().chunks(2)) {
        sum += u32::from(u16::from_be_bytes([half[0], half[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    tcp[TCP_CHECKSUM..TCP_CHECKSUM + 2].copy_from_slice(&(sum as u16).to_be_bytes());
    let tcp_header = usize::from(tcp[12] >> 4) * 4;
    let payload = tcp_len.saturating_sub(tcp_header);
    let plain = LINK_IP_MTU - ip_header - tcp_header;
    let key = (dst, u16::from_be_bytes([tcp[2], tcp[3]]), u16::from_be_bytes([tcp[0], tcp[1]]));
    let mss = flows.get(&key).map_or(plain, |m| usize::from(*m).min(plain)).max(1);
    let start = 14 + ip_header;
    TxOffload {
        checksum: Some((start as u16, TCP_CHECKSUM as u16)),
        segment: (payload > mss).then_some((mss as u16, (start + tcp_header) as u16)),
    }
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(mut self, f: F) -> R {
        let frame = self.frame.take().expect("an RxToken holds its frame until consumed");
        let r = f(frame.bytes());
        Nic::recycle(frame, self.spare, self.returned);
        r
    }
}

impl Drop for RxToken<'_> {
    /// A token smoltcp drops unconsumed still gives its frame back: a lent
    /// one would otherwise leave the device a receive buffer short for good.
    fn drop(&mut self) {
        if let Some(frame) = self.frame.take() {
            Nic::recycle(frame, self.spare, self.returned);
        }
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut f = Some(f);
        let mut result = None;
        let offloads = self.offloads;
        let flows = self.flows;
        let sent = self.dev.send(len, &mut |buf| {
            result = f.take().map(|f| f(buf));
            match offloads.tx_checksum {
                true => prepare_tx(buf, flows),
                false => TxOffload::default(),
            }
        });
        match result {
            Some(r) => r,
            // The ring filled up since `transmit` said there was room (it
            // cannot: one task polls at a time); build the frame anyway and
            // drop it, as a full NIC queue would.
            None => {
                debug_assert!(!sent);
                let mut scratch = alloc::vec![0; len];
                (f.take().expect("closure unused"))(&mut scratch)
            }
        }
    }
}

/// The loopback device (127.0.0.0/8): what is sent is received by the next
/// poll. Unlike smoltcp's `Loopback` it reuses the packets' buffers (no
/// allocation and zeroing per packet) and its MTU is ours: see [`LO_MTU`].
pub struct Lo {
    queue: VecDeque<Vec<u8>>,
    /// Buffers of received packets, back from their receive tokens.
    returned: Vec<Vec<u8>>,
    /// Buffers for the next packets sent.
    spare: Vec<Vec<u8>>,
}

/// The loopback MTU. smoltcp's Nagle test holds back data while a segment
/// is in flight unless a full segment (MSS = MTU - 40) can go; with
/// Linux's 64 KiB MTU and 64 KiB socket buffers a full segment is the whole
/// window, which is seldom free, so writers stalled on acknowledgements
/// (the guest idled more than half the time). 16 KiB segments, four per
/// window: 8.35 -> 17.97 MiB/s over 127.0.0.1 in one boot (TCG).
const LO_MTU: usize = 16 * 1024 + 40;
/// Buffers kept for reuse at most.
const LO_SPARE: usize = 8;

impl Lo {
    pub fn new() -> Self {
        Self { queue: VecDeque::new(), returned: Vec::new(), spare: Vec::new() }
    }

    fn refill(&mut self) {
        if self.spare.is_empty() {
            core::mem::swap(&mut self.spare, &mut self.returned);
        }
    }
}

pub struct LoRxToken<'a> {
    frame: Vec<u8>,
    returned: &'a mut Vec<Vec<u8>>,
}

pub struct LoTxToken<'a> {
    queue: &'a mut VecDeque<Vec<u8>>,
    spare: &'a mut Vec<Vec<u8>>,
}

impl phy::Device for Lo {
    type RxToken<'a> = LoRxToken<'a>;
    type TxToken<'a> = LoTxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(LoRxToken<'_>, LoTxToken<'_>)> {
        self.refill();
        let frame = self.queue.pop_front()?;
        Some((LoRxToken { frame, returned: &mut self.returned }, LoTxToken { queue: &mut self.queue, spare: &mut self.spare }))
    }

    fn transmit(&mut self, _now: Instant) -> Option<LoTxToken<'_>> {
        self.refill();
        Some(LoTxToken { queue: &mut self.queue, spare: &mut self.spare })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = LO_MTU;
        caps.checksum = phy::ChecksumCapabilities::ignored();
        caps
    }
}

impl phy::RxToken for LoRxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(&self.frame);
        if self.returned.len() < LO_SPARE {
            self.returned.push(self.frame);
        }
        r
    }
}

impl phy::TxToken for LoTxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = self.spare.pop().unwrap_or_default();
        // Only bytes beyond the buffer's last length are zeroed; smoltcp
        // writes the whole packet.
        frame.resize(len, 0);
        let r = f(&mut frame);
        self.queue.push_back(frame);
        r
    }
}
