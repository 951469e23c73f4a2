//! Sockets for Linux programs on the kernel's stack: TCP and UDP over IPv4,
//! in kernel terms (ids, endpoints, byte slices, `Errno`). The syscall layer
//! (`syscall/socket.rs`) copies user memory and maps descriptors to ids.
//!
//! A listening TCP socket keeps a pool of smoltcp sockets listening on its
//! port, on eth0 and (when bound to any address or 127.0.0.1) on lo; `accept`
//! takes one that finished its handshake and puts a fresh listener in its
//! place. A UDP socket has one smoltcp socket in each set, bound to the same
//! port, so it hears both 127.0.0.1 and the NIC; it sends through the set of
//! the destination. Blocking calls wait with [`super::wait_interruptible`]:
//! a signal that is to end the caller ends them with EINTR (the signal code
//! restarts them after an SA_RESTART handler).
//!
//! Errors as on Linux: a send on a connection the peer reset gives
//! ECONNRESET once, then EPIPE (the syscall layer raises SIGPIPE unless
//! MSG_NOSIGNAL); closing a connection with unread data, or data arriving
//! for a closed one, resets it (RST) instead of a graceful close.

use super::{kick, wait_interruptible, with_stack, Stack};
use crate::hal::time;
use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use core::net::Ipv4Addr;
use core::time::Duration;
use embox_abi::Errno;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::{tcp, udp};
use smoltcp::wire::{IpAddress, IpEndpoint, IpListenEndpoint};

pub type SockId = u32;

const TCP_BUFFER: usize = 64 * 1024;
/// Receive buffer of a TCP socket on eth0: the window the peer may fill
/// before it waits for us. With 64 KiB the host sent a window, waited for
/// the reader to drain it and for our window update, and sent the next
/// (stop and wait). With 128 KiB it still sent two 64 KiB frames and
/// waited; 512 KiB keeps eight in flight, so QEMU reads the TAP while we
/// copy: container -> guest 46 -> 77 MiB/s in one run at load 5 (Linux's
/// 92), guest instructions per MiB 252 k -> 161 k (fewer ACKs and rounds),
/// interrupts per MiB 9.6 -> 5.5. A listening socket's first
/// [`WIDE_LISTENERS`] listeners per interface have it; further ones (a
/// larger backlog) have [`TCP_RX_BUFFER_ETH_NARROW`]: smoltcp allocates a
/// socket's buffers whole, before any connection comes.
const TCP_RX_BUFFER_ETH: usize = 512 * 1024;
const TCP_RX_BUFFER_ETH_NARROW: usize = 128 * 1024;
const WIDE_LISTENERS: usize = 2;
/// Send buffer of a TCP socket `connect`ed over eth0: all the data it may
/// have in flight (smoltcp keeps no congestion window here), so with 64 KiB
/// a sender waited a round trip (our interrupt, the net thread's turn on a
/// loaded CPU, the ACK) per 64 KiB. Listeners keep 64 KiB: a pool of them
/// is allocated before any connection comes.
const TCP_TX_BUFFER_CONNECTED_ETH: usize = 256 * 1024;
const UDP_PACKETS: usize = 32;
const UDP_BUFFER: usize = 64 * 1024;
/// Listeners per interface of a listening socket, at most.
const MAX_BACKLOG: usize = 8;
/// How long `connect` tries.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
const EPHEMERAL: core::ops::RangeInclusive<u16> = 49152..=65535;

/// A smoltcp socket in one of the two sets: (on lo?, handle).
type Placed = (bool, SocketHandle);

enum Tcp {
    /// Not connected: maybe bound to an address/port.
    Idle { bound: Option<(Option<Ipv4Addr>, u16)> },
    Listening { addr: Option<Ipv4Addr>, port: u16, pool: Vec<Placed> },
    Connected(Placed),
}

struct Udp {
    eth: SocketHandle,
    lo: SocketHandle,
    port: u16,
    addr: Option<Ipv4Addr>,
    peer: Option<IpEndpoint>,
}

enum Sock {
    /// `quiet`: no reset is left to report (reported once as ECONNRESET,
    /// or the program shut its sending side down itself: EPIPE then).
    Tcp { state: Tcp, read_shut: bool, nodelay: bool, quiet: bool },
    Udp(Udp),
}

/// The sockets of Linux programs (kept with the stack, under its lock).
#[derive(Default)]
pub struct Table {
    socks: BTreeMap<SockId, Sock>,
    /// Open file descriptions per socket beyond the first (a forked
    /// descriptor table holds one more); the socket goes with its last.
    extra_refs: BTreeMap<SockId, u32>,
    next_id: SockId,
    next_port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Stream,
    Datagram,
}

/// What poll/select would report.
#[derive(Debug, Clone, Copy, Default)]
pub struct Readiness {
    pub readable: bool,
    pub writable: bool,
    pub hangup: bool,
    /// An error is pending (POLLERR): a reset not reported yet, or an
    /// AF_UNIX peer gone with our data unread.
    pub error: bool,
}

fn stack<R>(f: impl FnOnce(&mut Stack) -> Result<R, Errno>) -> Result<R, Errno> {
    with_stack(f).unwrap_or(Err(Errno::ENETDOWN))
}

impl Stack {
    /// A connection found closed without our doing: ECONNRESET the first
    /// time (the peer reset it, or it timed out), EPIPE after that.
    fn reset_error(&mut self, id: SockId) -> Errno {
        match self.table.socks.get_mut(&id) {
            Some(Sock::Tcp { quiet: quiet @ false, .. }) => {
                *quiet = true;
                Errno::ECONNRESET
            }
            _ => Errno::EPIPE,
        }
    }

    fn sock(&mut self, id: SockId) -> Result<&mut Sock, Errno> {
        self.table.socks.get_mut(&id).ok_or(Errno::EBADF)
    }

    fn set(&mut self, on_lo: bool) -> &mut smoltcp::iface::SocketSet<'static> {
        if on_lo {
            &mut self.lo_sockets
        } else {
            &mut self.sockets
        }
    }

    fn tcp(&mut self, (on_lo, h): Placed) -> &mut tcp::Socket<'static> {
        self.set(on_lo).get_mut::<tcp::Socket>(h)
    }

    fn port_in_use(&self, port: u16) -> bool {
        self.table.socks.values().any(|s| match s {
            Sock::Tcp { state: Tcp::Listening { port: p, .. }, .. } | Sock::Tcp { state: Tcp::Idle { bound: Some((_, p)) }, .. } => *p == port,
            Sock::Udp(u) => u.port == port,
            _ => false,
        })
    }

    fn ephemeral_port(&mut self) -> Result<u16, Errno> {
        for _ in EPHEMERAL {
            let t = &mut self.table;
            t.next_port = if EPHEMERAL.contains(&t.next_port) && t.next_port < *EPHEMERAL.end() { t.next_port + 1 } else { *EPHEMERAL.start() };
            let candidate = t.next_port;
            if !self.port_in_use(candidate) {
                return Ok(candidate);
            }
        }
        Err(Errno::EADDRINUSE)
    }
}

/// A TCP socket with buffers of `rx` and `tx` bytes; ENOMEM when the
/// heap has no room for them (how many a program asks for is its choice:
/// sockets, listen backlogs).
fn new_tcp(nodelay: bool, rx: usize, tx: usize) -> Result<tcp::Socket<'static>, Errno> {
    let mut s = tcp::Socket::new(tcp::SocketBuffer::new(zeroed(rx)?), tcp::SocketBuffer::new(zeroed(tx)?));
    s.set_nagle_enabled(!nodelay);
    Ok(s)
}

/// `len` zero bytes, or ENOMEM.
fn zeroed(len: usize) -> Result<Vec<u8>, Errno> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| Errno::ENOMEM)?;
    v.resize(len, 0);
    Ok(v)
}

fn new_udp() -> udp::Socket<'static> {
    udp::Socket::new(
        udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; UDP_PACKETS], vec![0; UDP_BUFFER]),
        udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; UDP_PACKETS], vec![0; UDP_BUFFER]),
    )
}

/// A new socket.
pub fn create(kind: Kind) -> Result<SockId, Errno> {
    stack(|s| {
        let sock = match kind {
            Kind::Stream => Sock::Tcp { state: Tcp::Idle { bound: None }, read_shut: false, nodelay: false, quiet: false },
            Kind::Datagram => {
                let eth = s.sockets.add(new_udp());
                let lo = s.lo_sockets.add(new_udp());
                Sock::Udp(Udp { eth, lo, port: 0, addr: None, peer: None })
            }
        };
        s.table.next_id += 1;
        let id = s.table.next_id;
        s.table.socks.insert(id, sock);
        Ok(id)
    })
}

/// `bind(addr:port)`; port 0 picks an ephemeral port.
pub fn bind(id: SockId, addr: Ipv4Addr, port: u16) -> Result<(), Errno> {
    stack(|s| {
        let local_ok = addr.is_unspecified() || addr.is_loopback() || s.iface.ip_addrs().iter().any(|c| c.address() == IpAddress::Ipv4(addr));
        if !local_ok {
            return Err(Errno::EADDRNOTAVAIL);
        }
        if port != 0 && s.port_in_use(port) {
            return Err(Errno::EADDRINUSE);
        }
        let port = if port == 0 { s.ephemeral_port()? } else { port };
        let addr = (!addr.is_unspecified()).then_some(addr);
        match s.sock(id)? {
            Sock::Tcp { state: state @ Tcp::Idle { bound: None }, .. } => {
                *state = Tcp::Idle { bound: Some((addr, port)) };
                Ok(())
            }
            Sock::Tcp { .. } => Err(Errno::EINVAL),
            Sock::Udp(u) if u.port != 0 => Err(Errno::EINVAL),
            Sock::Udp(u) => {
                let (eth, lo) = (u.eth, u.lo);
                u.port = port;
                u.addr = addr;
                let ep = IpListenEndpoint { addr: addr.map(IpAddress::Ipv4), port };
                let lo_ep = IpListenEndpoint { addr: None, port };
                s.sockets.get_mut::<udp::Socket>(eth).bind(ep).map_err(|_| Errno::EINVAL)?;
                s.lo_sockets.get_mut::<udp::Socket>(lo).bind(lo_ep).map_err(|_| Errno::EINVAL)?;
                Ok(())
            }
        }
    })
}

/// A listener of a pool; `wide`: one of the first [`WIDE_LISTENERS`] on
/// its interface.
fn add_listener(s: &mut Stack, on_lo: bool, wide: bool, addr: Option<Ipv4Addr>, port: u16, nodelay: bool) -> Result<Placed, Errno> {
    let rx = match (on_lo, wide) {
        (true, _) => TCP_BUFFER,
        (false, true) => TCP_RX_BUFFER_ETH,
        (false, false) => TCP_RX_BUFFER_ETH_NARROW,
    };
    let mut sock = new_tcp(nodelay, rx, TCP_BUFFER)?;
    let addr = if on_lo { None } else { addr.filter(|a| !a.is_loopback()) };
    sock.listen(IpListenEndpoint { addr: addr.map(IpAddress::Ipv4), port }).map_err(|_| Errno::EINVAL)?;
    Ok((on_lo, s.set(on_lo).add(sock)))
}

/// `listen(backlog)` on a TCP socket (bound now to an ephemeral port if unbound).
pub fn listen(id: SockId, backlog: u32) -> Result<(), Errno> {
    stack(|s| {
        let (bound, nodelay) = match s.sock(id)? {
            Sock::Tcp { state: Tcp::Listening { .. }, .. } => return Ok(()),
            Sock::Tcp { state: Tcp::Idle { bound }, nodelay, .. } => (*bound, *nodelay),
            Sock::Tcp { .. } => return Err(Errno::EINVAL),
            Sock::Udp(_) => return Err(Errno::EOPNOTSUPP),
        };
        let (addr, port) = match bound {
            Some(b) => b,
            None => (None, s.ephemeral_port()?),
        };
        let per_iface = (backlog as usize).clamp(1, MAX_BACKLOG);
        let mut pool = Vec::new();
        let on_eth = addr.is_none_or(|a| !a.is_loopback());
        let on_lo = addr.is_none_or(|a| a.is_loopback());
        for i in 0..per_iface {
            for lo in [false, true] {
                if !(if lo { on_lo } else { on_eth }) {
                    continue;
                }
                match add_listener(s, lo, i < WIDE_LISTENERS, addr, port, nodelay) {
                    Ok(placed) => pool.push(placed),
                    Err(e) => {
                        for (lo, h) in pool {
                            s.set(lo).remove(h);
                        }
                        return Err(e);
                    }
                }
            }
        }
        if let Sock::Tcp { state, .. } = s.sock(id)? {
            *state = Tcp::Listening { addr, port, pool };
        }
        Ok(())
    })
}

/// One step of `accept`: a connection that finished its handshake, if any.
fn try_accept(s: &mut Stack, id: SockId) -> Result<Option<(SockId, IpEndpoint)>, Errno> {
    let (addr, port, pool, nodelay) = match s.sock(id)? {
        Sock::Tcp { state: Tcp::Listening { addr, port, pool }, nodelay, .. } => (*addr, *port, pool.clone(), *nodelay),
        _ => return Err(Errno::EINVAL),
    };
    for (i, placed) in pool.iter().enumerate() {
        let sock = s.tcp(*placed);
        match sock.state() {
            tcp::State::Listen | tcp::State::SynReceived => continue,
            tcp::State::Closed => {
                let _ = sock.listen(IpListenEndpoint { addr: None, port });
                continue;
            }
            _ => {}
        }
        let peer = sock.remote_endpoint().unwrap_or(IpEndpoint::new(IpAddress::v4(0, 0, 0, 0), 0));
        let wide = pool[..i].iter().filter(|p| p.0 == placed.0).count() < WIDE_LISTENERS;
        let fresh = add_listener(s, placed.0, wide, addr, port, nodelay)?;
        if let Sock::Tcp { state: Tcp::Listening { pool, .. }, .. } = s.sock(id)? {
            pool[i] = fresh;
        }
        s.table.next_id += 1;
        let new_id = s.table.next_id;
        s.table.socks.insert(new_id, Sock::Tcp { state: Tcp::Connected(*placed), read_shut: false, nodelay, quiet: false });
        return Ok(Some((new_id, peer)));
    }
    Ok(None)
}

/// `accept`: waits (unless `nonblocking`) for a connection.
pub fn accept(id: SockId, nonblocking: bool) -> Result<(SockId, IpEndpoint), Errno> {
    loop {
        if let Some(got) = stack(|s| try_accept(s, id))? {
            kick();
            return Ok(got);
        }
        if nonblocking {
            return Err(Errno::EAGAIN);
        }
        wait_interruptible(|| readiness(id).map_or(true, |r| r.readable), None)?;
    }
}

/// `connect` to `to:port`.
pub fn connect(id: SockId, to: Ipv4Addr, port: u16, nonblocking: bool) -> Result<(), Errno> {
    let placed = stack(|s| {
        let on_lo = to.is_loopback();
        let routable = on_lo || s.routes_to(to);
        match s.sock(id)? {
            Sock::Udp(_) if !routable => return Err(Errno::ENETUNREACH),
            Sock::Udp(u) => {
                u.peer = Some(IpEndpoint::new(IpAddress::Ipv4(to), port));
                return Ok(None);
            }
            Sock::Tcp { state: Tcp::Connected(_), .. } => return Err(Errno::EISCONN),
            Sock::Tcp { state: Tcp::Listening { .. }, .. } => return Err(Errno::EINVAL),
            Sock::Tcp { state: Tcp::Idle { .. }, .. } => {}
        }
        let (bound, nodelay) = match s.sock(id)? {
            Sock::Tcp { state: Tcp::Idle { bound }, nodelay, .. } => (*bound, *nodelay),
            _ => unreachable!(),
        };
        let local_port = match bound {
            Some((_, p)) => p,
            None => s.ephemeral_port()?,
        };
        let mut sock = match on_lo {
            true => new_tcp(nodelay, TCP_BUFFER, TCP_BUFFER)?,
            false => new_tcp(nodelay, TCP_RX_BUFFER_ETH, TCP_TX_BUFFER_CONNECTED_ETH)?,
        };
        sock.set_timeout(Some(smoltcp::time::Duration::from_secs(CONNECT_TIMEOUT.as_secs())));
        let remote = IpEndpoint::new(IpAddress::Ipv4(to), port);
        let result = if on_lo {
            sock.connect(s.lo.context(), remote, local_port)
        } else {
            sock.connect(s.iface.context(), remote, local_port)
        };
        result.map_err(|e| match e {
            tcp::ConnectError::Unaddressable => Errno::ENETUNREACH,
            tcp::ConnectError::InvalidState => Errno::EISCONN,
        })?;
        let placed = (on_lo, s.set(on_lo).add(sock));
        if let Sock::Tcp { state, .. } = s.sock(id)? {
            *state = Tcp::Connected(placed);
        }
        Ok(Some(placed))
    })?;
    let Some(placed) = placed else { return Ok(()) };
    kick();
    if nonblocking {
        return Err(Errno::EINPROGRESS);
    }
    let started = time::since_boot();
    let state = |s: &mut Stack| s.tcp(placed).state();
    wait_interruptible(
        || with_stack(|s| !matches!(state(s), tcp::State::SynSent | tcp::State::SynReceived)).unwrap_or(true),
        Some(started + CONNECT_TIMEOUT + Duration::from_secs(1)),
    )?;
    let st = with_stack(state).unwrap_or(tcp::State::Closed);
    match st {
        tcp::State::SynSent | tcp::State::SynReceived => Err(Errno::ETIMEDOUT),
        tcp::State::Closed if time::since_boot() - started >= CONNECT_TIMEOUT => Err(Errno::ETIMEDOUT),
        tcp::State::Closed => {
            // Back to unconnected so the program may close or retry.
            let _ = stack(|s| {
                s.set(placed.0).remove(placed.1);
                if let Sock::Tcp { state, .. } = s.sock(id)? {
                    *state = Tcp::Idle { bound: None };
                }
                Ok(())
            });
            Err(Errno::ECONNREFUSED)
        }
        _ => Ok(()),
    }
}

/// Where bytes to send come from: fills the slice with the bytes from the
/// given offset on (user memory, copied by the syscall layer straight into
/// the socket's buffer); an error (EFAULT) ends the call.
pub type Source<'a> = dyn FnMut(usize, &mut [u8]) -> Result<(), Errno> + 'a;
/// Where received bytes go: called with successive pieces, straight from
/// the socket's buffer (the syscall layer copies them to user memory); an
/// error (EFAULT) ends the call and leaves a TCP stream's bytes queued.
pub type Sink<'a> = dyn FnMut(&[u8]) -> Result<(), Errno> + 'a;

/// [`send_from`] for bytes in kernel memory.
pub fn send(id: SockId, data: &[u8], to: Option<(Ipv4Addr, u16)>, nonblocking: bool) -> Result<usize, Errno> {
    let mut source = |at: usize, room: &mut [u8]| {
        room.copy_from_slice(&data[at..at + room.len()]);
        Ok(())
    };
    send_from(id, data.len(), &mut source, to, nonblocking)
}

/// Sends `len` bytes from `source` on a connected TCP socket or a
/// connected/addressed UDP socket. Blocking TCP sends send everything (or
/// fail); non-blocking send what fits.
pub fn send_from(id: SockId, len: usize, source: &mut Source, to: Option<(Ipv4Addr, u16)>, nonblocking: bool) -> Result<usize, Errno> {
    let mut done = 0;
    loop {
        let step = stack(|s| send_step(s, id, done, len, source, to));
        match step {
            Ok(Some(n)) => {
                done += n;
                kick();
                if done == len || n > 0 && nonblocking || is_udp(id) {
                    return Ok(done);
                }
            }
            Err(_) | Ok(None) if done > 0 => return Ok(done),
            Err(e) => return Err(e),
            Ok(None) if nonblocking => return Err(Errno::EAGAIN),
            Ok(None) => {}
        }
        match wait_interruptible(|| room_to_send(id), None) {
            Err(e) if done == 0 => return Err(e),
            Err(_) => return Ok(done),
            Ok(_) => {}
        }
    }
}

/// Whether a blocked sender should look again: a TCP send buffer half
/// empty (as Linux wakes writers: one copy then fills many segments, where
/// waking on every acknowledgement would copy one or two), a connection
/// that can no longer send, or a UDP socket with room.
fn room_to_send(id: SockId) -> bool {
    with_stack(|s| match s.table.socks.get(&id) {
        Some(Sock::Tcp { state: Tcp::Connected(p), .. }) => {
            let p = *p;
            let sock = s.tcp(p);
            let connecting = matches!(sock.state(), tcp::State::SynSent | tcp::State::SynReceived);
            !connecting && !sock.may_send() || sock.send_capacity() - sock.send_queue() >= sock.send_capacity() / 2
        }
        Some(Sock::Udp(u)) => {
            let eth = u.eth;
            s.sockets.get::<udp::Socket>(eth).can_send()
        }
        _ => true,
    })
    .unwrap_or(true)
}

fn is_udp(id: SockId) -> bool {
    with_stack(|s| matches!(s.table.socks.get(&id), Some(Sock::Udp(_)))).unwrap_or(false)
}

/// Queues what fits of bytes `from..len` of `source`: `Some(n)`, or `None`
/// when nothing fits now.
fn send_step(s: &mut Stack, id: SockId, from: usize, len: usize, source: &mut Source, to: Option<(Ipv4Addr, u16)>) -> Result<Option<usize>, Errno> {
    match s.sock(id)? {
        Sock::Tcp { state: Tcp::Connected(placed), .. } => {
            let placed = *placed;
            let sock = s.tcp(placed);
            if !sock.may_send() {
                let state = sock.state();
                return match state {
                    tcp::State::SynSent | tcp::State::SynReceived => Ok(None),
                    tcp::State::Closed => Err(s.reset_error(id)),
                    _ => Err(Errno::EPIPE),
                };
            }
            let peer_closed = sock.state() == tcp::State::CloseWait;
            let sent = match fill_tcp(sock, from, len, source) {
                Ok(0) if from < len => Ok(None),
                Ok(n) => Ok(Some(n)),
                Err(e) => Err(e),
            };
            // Sending after the peer's FIN: its reset then means EPIPE on
            // Linux (a closed peer), not ECONNRESET.
            if peer_closed {
                if let Sock::Tcp { quiet, .. } = s.sock(id)? {
                    *quiet = true;
                }
            }
            sent
        }
        Sock::Tcp { .. } => Err(Errno::ENOTCONN),
        Sock::Udp(u) => {
            let dest = match to.map(|(a, p)| IpEndpoint::new(IpAddress::Ipv4(a), p)).or(u.peer) {
                Some(d) => d,
                None => return Err(Errno::EDESTADDRREQ),
            };
            if len > UDP_BUFFER / 2 {
                return Err(Errno::EMSGSIZE);
            }
            let (eth, lo, port) = (u.eth, u.lo, u.port);
            let IpAddress::Ipv4(dest_addr) = dest.addr;
            if !dest_addr.is_loopback() && !s.routes_to(dest_addr) {
                return Err(Errno::ENETUNREACH);
            }
            if port == 0 {
                let port = s.ephemeral_port()?;
                if let Sock::Udp(u) = s.sock(id)? {
                    u.port = port;
                }
                s.sockets.get_mut::<udp::Socket>(eth).bind(port).map_err(|_| Errno::EINVAL)?;
                s.lo_sockets.get_mut::<udp::Socket>(lo).bind(port).map_err(|_| Errno::EINVAL)?;
            }
            let sock = match dest_addr.is_loopback() {
                true => s.lo_sockets.get_mut::<udp::Socket>(lo),
                false => s.sockets.get_mut::<udp::Socket>(eth),
            };
            if !sock.can_send() {
                return Ok(None);
            }
            // Read whole before it is queued: a datagram is never sent in part.
            let mut data = Vec::new();
            data.try_reserve_exact(len).map_err(|_| Errno::ENOMEM)?;
            data.resize(len, 0);
            source(0, &mut data)?;
            match sock.send_slice(&data, dest) {
                Ok(()) => Ok(Some(len)),
                Err(udp::SendError::BufferFull) => Ok(None),
                Err(udp::SendError::Unaddressable) => Err(Errno::ENETUNREACH),
            }
        }
    }
}

/// Queues bytes `from..len` of `source` in a TCP socket's send buffer, as
/// many as fit, copied straight into it (a ring: up to two pieces); the
/// number queued. The first piece's error is the call's; a later one ends
/// it with what was queued.
fn fill_tcp(sock: &mut tcp::Socket, from: usize, len: usize, source: &mut Source) -> Result<usize, Errno> {
    let mut done = 0;
    while from + done < len {
        let mut failed = None;
        let queued = sock.send(|room| {
            let take = room.len().min(len - from - done);
            match source(from + done, &mut room[..take]) {
                Ok(()) => (take, take),
                Err(e) => {
                    failed = Some(e);
                    (0, 0)
                }
            }
        });
        match (queued, failed) {
            (Err(_), _) if done == 0 => return Err(Errno::EPIPE),
            (_, Some(e)) if done == 0 => return Err(e),
            (Ok(n), None) if n > 0 => done += n,
            _ => break,
        }
    }
    Ok(done)
}

/// Moves up to `max` received bytes of a TCP socket to `sink`, straight
/// from its receive buffer (a ring: up to two pieces); the number moved.
/// Bytes the sink refused stay queued.
fn drain_tcp(sock: &mut tcp::Socket, max: usize, sink: &mut Sink) -> Result<usize, Errno> {
    let mut done = 0;
    while done < max {
        let mut failed = None;
        let moved = sock.recv(|bytes| {
            let take = bytes.len().min(max - done);
            match sink(&bytes[..take]) {
                Ok(()) => (take, take),
                Err(e) => {
                    failed = Some(e);
                    (0, 0)
                }
            }
        });
        match (moved, failed) {
            (_, Some(e)) if done == 0 => return Err(e),
            (Ok(n), None) if n > 0 => done += n,
            _ => break,
        }
    }
    Ok(done)
}

/// Receives at most `max` bytes into `sink`: `(bytes, sender)`; 0 bytes =
/// end of stream (TCP). A datagram longer than `max` is cut, as on Linux.
pub fn recv(id: SockId, max: usize, sink: &mut Sink, nonblocking: bool, peek: bool) -> Result<(usize, Option<IpEndpoint>), Errno> {
    loop {
        let step = stack(|s| recv_step(s, id, max, sink, peek))?;
        if let Some(got) = step {
            kick(); // the window may have opened
            return Ok(got);
        }
        if nonblocking {
            return Err(Errno::EAGAIN);
        }
        wait_interruptible(|| readiness(id).map_or(true, |r| r.readable || r.hangup), None)?;
    }
}

fn recv_step(s: &mut Stack, id: SockId, max: usize, sink: &mut Sink, peek: bool) -> Result<Option<(usize, Option<IpEndpoint>)>, Errno> {
    match s.sock(id)? {
        Sock::Tcp { read_shut: true, .. } => Ok(Some((0, None))),
        Sock::Tcp { state: Tcp::Connected(placed), .. } => {
            let placed = *placed;
            let sock = s.tcp(placed);
            let peer = sock.remote_endpoint();
            if sock.can_recv() {
                let n = match peek {
                    true => {
                        let bytes = sock.peek(max).unwrap_or(&[]);
                        sink(bytes)?;
                        bytes.len()
                    }
                    false => drain_tcp(sock, max, sink)?,
                };
                return Ok(Some((n, peer)));
            }
            let (state, may_recv) = (sock.state(), sock.may_recv());
            match state {
                tcp::State::SynSent | tcp::State::SynReceived => Ok(None),
                _ if may_recv => Ok(None),
                tcp::State::Closed => match s.reset_error(id) {
                    Errno::ECONNRESET => Err(Errno::ECONNRESET),
                    _ => Ok(Some((0, peer))),
                },
                _ => Ok(Some((0, peer))),
            }
        }
        Sock::Tcp { .. } => Err(Errno::ENOTCONN),
        Sock::Udp(u) => {
            let (eth, lo) = (u.eth, u.lo);
            for sock in [s.sockets.get_mut::<udp::Socket>(eth), s.lo_sockets.get_mut::<udp::Socket>(lo)] {
                let got = if peek { sock.peek().map(|(bytes, meta)| (bytes, *meta)) } else { sock.recv() };
                if let Ok((bytes, meta)) = got {
                    let n = bytes.len().min(max);
                    sink(&bytes[..n])?;
                    return Ok(Some((n, Some(meta.endpoint))));
                }
            }
            Ok(None)
        }
    }
}

/// What poll/select would report for the socket.
pub fn readiness(id: SockId) -> Result<Readiness, Errno> {
    stack(|s| {
        let r = match s.sock(id)? {
            Sock::Tcp { state: Tcp::Idle { .. }, .. } => Readiness { hangup: true, ..Default::default() },
            Sock::Tcp { state: Tcp::Listening { pool, .. }, .. } => {
                let pool = pool.clone();
                let ready = pool.iter().any(|p| !matches!(s.tcp(*p).state(), tcp::State::Listen | tcp::State::SynReceived | tcp::State::Closed));
                Readiness { readable: ready, ..Default::default() }
            }
            Sock::Tcp { state: Tcp::Connected(p), read_shut, quiet, .. } => {
                let (p, read_shut, quiet) = (*p, *read_shut, *quiet);
                let sock = s.tcp(p);
                let connecting = matches!(sock.state(), tcp::State::SynSent | tcp::State::SynReceived);
                Readiness {
                    readable: read_shut || sock.can_recv() || (!connecting && !sock.may_recv()),
                    writable: sock.can_send(),
                    hangup: !connecting && !sock.may_send() && !sock.may_recv(),
                    error: sock.state() == tcp::State::Closed && !quiet,
                }
            }
            Sock::Udp(u) => {
                let (eth, lo) = (u.eth, u.lo);
                let readable = s.sockets.get::<udp::Socket>(eth).can_recv() || s.lo_sockets.get::<udp::Socket>(lo).can_recv();
                let writable = s.sockets.get::<udp::Socket>(eth).can_send();
                Readiness { readable, writable, ..Default::default() }
            }
        };
        Ok(r)
    })
}

/// `shutdown(how)`: 0 = no more receives, 1 = no more sends (FIN), 2 = both.
pub fn shutdown(id: SockId, how: u32) -> Result<(), Errno> {
    if how > 2 {
        return Err(Errno::EINVAL);
    }
    stack(|s| match s.sock(id)? {
        Sock::Tcp { state: Tcp::Connected(p), read_shut, quiet, .. } => {
            let p = *p;
            if how != 1 {
                *read_shut = true;
            }
            if how != 0 {
                *quiet = true;
                s.tcp(p).close();
            }
            Ok(())
        }
        Sock::Tcp { .. } => Err(Errno::ENOTCONN),
        Sock::Udp(_) => Ok(()),
    })?;
    kick();
    Ok(())
}

/// The socket's own address: `(addr, port)`.
pub fn local_name(id: SockId) -> Result<(Ipv4Addr, u16), Errno> {
    stack(|s| {
        let unspecified = Ipv4Addr::UNSPECIFIED;
        Ok(match s.sock(id)? {
            Sock::Tcp { state: Tcp::Idle { bound }, .. } => bound.map_or((unspecified, 0), |(a, p)| (a.unwrap_or(unspecified), p)),
            Sock::Tcp { state: Tcp::Listening { addr, port, .. }, .. } => (addr.unwrap_or(unspecified), *port),
            Sock::Tcp { state: Tcp::Connected(p), .. } => {
                let p = *p;
                match s.tcp(p).local_endpoint() {
                    Some(IpEndpoint { addr: IpAddress::Ipv4(a), port }) => (a, port),
                    None => (unspecified, 0),
                }
            }
            Sock::Udp(u) => (u.addr.unwrap_or(unspecified), u.port),
        })
    })
}

/// The connected peer: `(addr, port)`.
pub fn peer_name(id: SockId) -> Result<(Ipv4Addr, u16), Errno> {
    stack(|s| match s.sock(id)? {
        Sock::Tcp { state: Tcp::Connected(p), .. } => {
            let p = *p;
            match s.tcp(p).remote_endpoint() {
                Some(IpEndpoint { addr: IpAddress::Ipv4(a), port }) => Ok((a, port)),
                None => Err(Errno::ENOTCONN),
            }
        }
        Sock::Udp(Udp { peer: Some(IpEndpoint { addr: IpAddress::Ipv4(a), port }), .. }) => Ok((*a, *port)),
        _ => Err(Errno::ENOTCONN),
    })
}

/// TCP_NODELAY.
pub fn set_nodelay(id: SockId, on: bool) -> Result<(), Errno> {
    stack(|s| match s.sock(id)? {
        Sock::Tcp { state, nodelay, .. } => {
            *nodelay = on;
            if let Tcp::Connected(p) = state {
                let p = *p;
                s.tcp(p).set_nagle_enabled(!on);
            }
            Ok(())
        }
        Sock::Udp(_) => Err(Errno::ENOPROTOOPT),
    })
}

pub fn kind(id: SockId) -> Result<Kind, Errno> {
    stack(|s| {
        Ok(match s.sock(id)? {
            Sock::Tcp { .. } => Kind::Stream,
            Sock::Udp(_) => Kind::Datagram,
        })
    })
}

/// One more open file description of the socket (a forked descriptor
/// table): [`close`] then ends it only with the last one.
pub fn add_ref(id: SockId) {
    let _ = with_stack(|s| {
        if s.table.socks.contains_key(&id) {
            *s.table.extra_refs.entry(id).or_insert(0) += 1;
        }
    });
}

/// An open file description of the socket was closed. With the last one a
/// connection is closed gracefully (its smoltcp socket goes once closed),
/// listeners and UDP sockets go now.
pub fn close(id: SockId) {
    let _ = with_stack(|s| {
        if let Some(extra) = s.table.extra_refs.get_mut(&id) {
            *extra -= 1;
            if *extra == 0 {
                s.table.extra_refs.remove(&id);
            }
            return;
        }
        let Some(sock) = s.table.socks.remove(&id) else { return };
        match sock {
            // Unread data: a reset, as on Linux, so the peer learns it was lost.
            Sock::Tcp { state: Tcp::Connected(p), .. } if s.tcp(p).recv_queue() > 0 => {
                s.tcp(p).abort();
                s.orphan_reset(p.0, p.1);
            }
            Sock::Tcp { state: Tcp::Connected(p), .. } => {
                s.tcp(p).close();
                s.orphan(p.0, p.1);
            }
            // Connections not accepted yet are reset.
            Sock::Tcp { state: Tcp::Listening { pool, .. }, .. } => {
                for (on_lo, h) in pool {
                    s.set(on_lo).get_mut::<tcp::Socket>(h).abort();
                    s.orphan_reset(on_lo, h);
                }
            }
            Sock::Tcp { state: Tcp::Idle { .. }, .. } => {}
            Sock::Udp(u) => {
                s.orphan_udp(false, u.eth);
                s.orphan_udp(true, u.lo);
            }
        }
    });
    kick();
}

