//! AF_UNIX sockets, in kernel terms (ids, names, byte slices, `Errno`); the
//! syscall layer (`syscall/unix.rs`) copies user memory and maps
//! descriptors to ids. They need no NIC: they work with networking off.
//!
//! Every socket is an endpoint with a receive queue of messages. A stream
//! send appends bytes to the peer's queue (a read takes bytes across
//! messages); a datagram send appends one message (a read takes one, the
//! rest of it is dropped). A message may carry open files (SCM_RIGHTS),
//! each holding a reference until it is received or the queue goes.
//!
//! Names: a path names a socket node of the VFS (`bind` creates it; the
//! node stays open while the socket lives, so unlinking it only stops new
//! connections), or an abstract name (leading NUL byte) lives only here.
//! `connect` to a listening stream socket queues a new endpoint for
//! `accept`, already connected (as Linux does), so connect never waits for
//! accept unless the backlog is full.
//!
//! SOCK_SEQPACKET is a stream's connection (listen/connect/accept, end of
//! stream, EPIPE) carrying datagrams' messages (one per read, the rest of
//! it dropped). SO_PEERCRED: the peer's credentials as of `socketpair`,
//! `connect` (the accepted end) or `listen` (the connecting end). A stream
//! socket closed with unread data leaves its peer an ECONNRESET for its
//! next read once the queue is empty, as Linux does.
//!
//! Blocking calls wait on one queue woken on every change; a signal that is
//! to end the caller ends the wait with EINTR, `O_NONBLOCK` with EAGAIN.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use embox_abi::Errno;
use embox_fs::NodeId;

use super::socket::Readiness;
use crate::hal::sync::IrqMutex;
use crate::linux::files::OpenFile;
use crate::sync::WaitQueue;

pub type UnixId = u32;

/// Bytes a stream socket's queue holds before senders wait.
const STREAM_CAPACITY: usize = 208 * 1024;
/// Messages and bytes a datagram socket's queue holds before senders wait.
const DGRAM_MESSAGES: usize = 64;
const DGRAM_CAPACITY: usize = 208 * 1024;
/// Largest datagram (Linux: the send buffer less overhead).
pub const MAX_DATAGRAM: usize = 200 * 1024;
/// Most AF_UNIX sockets at once.
const MAX_SOCKETS: usize = 1024;
/// Longest listen backlog.
const MAX_BACKLOG: usize = 128;

/// Messages a SOCK_SEQPACKET queue holds before senders wait (bytes as a stream's).
const PACKET_MESSAGES: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Stream,
    Datagram,
    SeqPacket,
}

impl Type {
    /// Stream and SOCK_SEQPACKET: connected pairs, listen/accept, end of stream.
    fn connected(self) -> bool {
        self != Type::Datagram
    }
}

/// A process's credentials as SO_PEERCRED reports them (`struct ucred`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cred {
    pub pid: u32,
    pub uid: u32,
    pub gid: u32,
}

/// What a name refers to: a socket node of the VFS or an abstract name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    Node(NodeId),
    Abstract(Vec<u8>),
}

/// A bound address: the bytes of `sun_path` as the program gave them
/// (what getsockname returns) and what they name.
#[derive(Debug, Clone)]
pub struct Address {
    pub path: Vec<u8>,
    pub key: Key,
}

/// One queued message: its bytes (stream: the part not yet read), who sent
/// it (datagrams), and the open files passed with it.
struct Message {
    data: Vec<u8>,
    from: Option<Vec<u8>>,
    rights: Vec<OpenFile>,
}

enum State {
    Unconnected,
    Listening { backlog: usize, pending: VecDeque<UnixId> },
    /// Stream: the other end. Datagram: the default destination.
    Connected(UnixId),
}

struct Endpoint {
    ty: Type,
    /// Open file descriptions (a forked table or a passed descriptor adds one).
    refs: u32,
    address: Option<Address>,
    state: State,
    queue: VecDeque<Message>,
    queued: usize,
    /// No more data will arrive (the peer shut down writing or closed).
    read_shut: bool,
    /// No more sends (we shut down writing, or the peer closed).
    write_shut: bool,
    /// A stream peer is gone (POLLHUP; sends are EPIPE).
    peer_gone: bool,
    /// Our credentials as of `listen` (given to connecting sockets).
    cred: Option<Cred>,
    /// The peer's credentials (SO_PEERCRED).
    peer_cred: Option<Cred>,
    /// An error for the next read once the queue is empty (Linux's sk_err):
    /// ECONNRESET when the peer closed with data unread.
    error: Option<Errno>,
}

struct Table {
    sockets: BTreeMap<UnixId, Endpoint>,
    names: BTreeMap<Key, UnixId>,
    next_id: UnixId,
}

static TABLE: IrqMutex<Table> = IrqMutex::new(Table { sockets: BTreeMap::new(), names: BTreeMap::new(), next_id: 1 });
/// Woken on every change: data in or out, a connection, a close.
static EVENTS: WaitQueue = WaitQueue::new();

impl Table {
    fn get(&mut self, id: UnixId) -> Result<&mut Endpoint, Errno> {
        self.sockets.get_mut(&id).ok_or(Errno::EBADF)
    }

    fn add(&mut self, ty: Type) -> Result<UnixId, Errno> {
        if self.sockets.len() >= MAX_SOCKETS {
            return Err(Errno::ENFILE);
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let endpoint = Endpoint {
            ty,
            refs: 1,
            address: None,
            state: State::Unconnected,
            queue: VecDeque::new(),
            queued: 0,
            read_shut: false,
            write_shut: false,
            peer_gone: false,
            cred: None,
            peer_cred: None,
            error: None,
        };
        self.sockets.insert(id, endpoint);
        Ok(id)
    }
}

/// Waits until `ready` holds (under the lock), EINTR when a signal is to
/// end the caller, EAGAIN at once when non-blocking. `ready` returning an
/// error ends the wait with it.
fn wait_for(nonblocking: bool, mut ready: impl FnMut(&mut Table) -> Result<bool, Errno>) -> Result<(), Errno> {
    if ready(&mut TABLE.lock())? {
        return Ok(());
    }
    if nonblocking {
        return Err(Errno::EAGAIN);
    }
    let mut outcome = Ok(());
    EVENTS.wait_until(|| {
        if crate::linux::interrupted() {
            outcome = Err(Errno::EINTR);
            return true;
        }
        match ready(&mut TABLE.lock()) {
            Ok(done) => done,
            Err(e) => {
                outcome = Err(e);
                true
            }
        }
    });
    outcome
}

/// A new socket.
pub fn create(ty: Type) -> Result<UnixId, Errno> {
    TABLE.lock().add(ty)
}

/// Two sockets connected to each other, made by `cred`.
pub fn pair(ty: Type, cred: Cred) -> Result<(UnixId, UnixId), Errno> {
    let mut t = TABLE.lock();
    let a = t.add(ty)?;
    let b = match t.add(ty) {
        Ok(b) => b,
        Err(e) => {
            t.sockets.remove(&a);
            return Err(e);
        }
    };
    for (me, peer) in [(a, b), (b, a)] {
        let e = t.get(me)?;
        e.state = State::Connected(peer);
        e.peer_cred = Some(cred);
    }
    Ok((a, b))
}

pub fn kind(id: UnixId) -> Result<Type, Errno> {
    Ok(TABLE.lock().get(id)?.ty)
}

/// `bind` to an address; for a path the caller made the socket node
/// (`key` = its node), and must remove it again when this fails.
pub fn bind(id: UnixId, address: Address) -> Result<(), Errno> {
    let mut t = TABLE.lock();
    if t.get(id)?.address.is_some() {
        return Err(Errno::EINVAL);
    }
    if t.names.contains_key(&address.key) {
        return Err(Errno::EADDRINUSE);
    }
    t.names.insert(address.key.clone(), id);
    t.get(id)?.address = Some(address);
    Ok(())
}

/// `listen` by `cred` (what connecting sockets see as their peer's).
pub fn listen(id: UnixId, backlog: u32, cred: Cred) -> Result<(), Errno> {
    let mut t = TABLE.lock();
    let e = t.get(id)?;
    e.cred = Some(cred);
    let backlog = (backlog as usize).clamp(1, MAX_BACKLOG);
    match (&mut e.state, e.ty) {
        (_, Type::Datagram) => Err(Errno::EOPNOTSUPP),
        (State::Listening { backlog: b, .. }, _) => {
            *b = backlog;
            Ok(())
        }
        (State::Connected(_), _) => Err(Errno::EINVAL),
        (State::Unconnected, _) if e.address.is_none() => Err(Errno::EINVAL),
        (State::Unconnected, _) => {
            e.state = State::Listening { backlog, pending: VecDeque::new() };
            Ok(())
        }
    }
}

/// The socket a name refers to: ECONNREFUSED when nothing is bound to it.
fn lookup(t: &Table, key: &Key) -> Result<UnixId, Errno> {
    t.names.get(key).copied().filter(|id| t.sockets.contains_key(id)).ok_or(Errno::ECONNREFUSED)
}

/// `connect` by `cred`: a stream or seqpacket socket to a listening one of
/// its type (a new endpoint is queued for its accept), a datagram socket
/// sets its default destination.
pub fn connect(id: UnixId, key: &Key, nonblocking: bool, cred: Cred) -> Result<(), Errno> {
    let ty = kind(id)?;
    if ty == Type::Datagram {
        let mut t = TABLE.lock();
        let target = lookup(&t, key)?;
        if t.get(target)?.ty != Type::Datagram {
            return Err(Errno::EPROTOTYPE);
        }
        t.get(id)?.state = State::Connected(target);
        return Ok(());
    }
    let mut server = 0;
    wait_for(nonblocking, |t| {
        match t.get(id)?.state {
            State::Unconnected => {}
            State::Connected(_) => return Err(Errno::EISCONN),
            State::Listening { .. } => return Err(Errno::EINVAL),
        }
        server = lookup(t, key)?;
        let listener = t.get(server)?;
        if listener.ty != ty {
            return Err(Errno::EPROTOTYPE);
        }
        match &listener.state {
            State::Listening { backlog, pending } => Ok(pending.len() < *backlog),
            _ => Err(Errno::ECONNREFUSED),
        }
    })?;
    let mut t = TABLE.lock();
    let (address, server_cred) = {
        let server = t.get(server)?;
        (server.address.clone(), server.cred)
    };
    let accepted = t.add(ty)?;
    let a = t.get(accepted)?;
    a.address = address;
    a.state = State::Connected(id);
    a.peer_cred = Some(cred);
    let me = t.get(id)?;
    me.state = State::Connected(accepted);
    me.peer_cred = server_cred;
    if let State::Listening { pending, .. } = &mut t.get(server)?.state {
        pending.push_back(accepted);
    }
    drop(t);
    crate::wait::changed(&EVENTS);
    Ok(())
}

/// `accept`: the next queued connection and the peer's address (if bound).
pub fn accept(id: UnixId, nonblocking: bool) -> Result<(UnixId, Option<Vec<u8>>), Errno> {
    let mut got = None;
    wait_for(nonblocking, |t| {
        let State::Listening { pending, .. } = &mut t.get(id)?.state else { return Err(Errno::EINVAL) };
        got = pending.pop_front();
        Ok(got.is_some())
    })?;
    let accepted = got.ok_or(Errno::EAGAIN)?;
    let mut t = TABLE.lock();
    let peer = match t.get(accepted)?.state {
        State::Connected(peer) => t.sockets.get(&peer).and_then(|p| p.address.as_ref()).map(|a| a.path.clone()),
        _ => None,
    };
    Ok((accepted, peer))
}

/// Sends `data` (and `rights`, with the first bytes) to the peer or, for a
/// datagram socket, to `to` (or its default destination). A blocking stream
/// send queues all of it. Returns the bytes queued, and the rights that
/// were not queued (on error, or with no bytes to carry them), which the
/// caller releases.
pub fn send(id: UnixId, data: &[u8], to: Option<&Key>, rights: Vec<OpenFile>, nonblocking: bool) -> (Result<usize, Errno>, Vec<OpenFile>) {
    let mut rights = Some(rights);
    let result = match kind(id) {
        Err(e) => Err(e),
        Ok(Type::Datagram) => send_datagram(id, data, to, &mut rights, nonblocking),
        Ok(Type::Stream) if data.is_empty() => stream_peer(&mut TABLE.lock(), id, to.is_some()).map(|_| 0),
        Ok(Type::Stream) => send_stream(id, data, to.is_some(), &mut rights, nonblocking),
        Ok(Type::SeqPacket) => send_packet(id, data, to.is_some(), &mut rights, nonblocking),
    };
    (result, rights.unwrap_or_default())
}

fn send_datagram(id: UnixId, data: &[u8], to: Option<&Key>, rights: &mut Option<Vec<OpenFile>>, nonblocking: bool) -> Result<usize, Errno> {
    if data.len() > MAX_DATAGRAM {
        return Err(Errno::EMSGSIZE);
    }
    let mut target = 0;
    wait_for(nonblocking, |t| {
        let me = t.get(id)?;
        if me.write_shut {
            return Err(Errno::EPIPE);
        }
        target = match (to, &me.state) {
            (Some(key), _) => lookup(t, key)?,
            (None, State::Connected(peer)) => *peer,
            (None, _) => return Err(Errno::ENOTCONN),
        };
        let peer = t.sockets.get(&target).ok_or(Errno::ECONNREFUSED)?;
        if peer.ty != Type::Datagram {
            return Err(Errno::EPROTOTYPE);
        }
        Ok(peer.queue.len() < DGRAM_MESSAGES && peer.queued + data.len() <= DGRAM_CAPACITY)
    })?;
    let mut copy = Vec::new();
    copy.try_reserve_exact(data.len()).map_err(|_| Errno::ENOMEM)?;
    copy.extend_from_slice(data);
    let mut t = TABLE.lock();
    let from = t.get(id)?.address.as_ref().map(|a| a.path.clone());
    let peer = t.get(target).map_err(|_| Errno::ECONNREFUSED)?;
    peer.queued += copy.len();
    peer.queue.push_back(Message { data: copy, from, rights: rights.take().unwrap_or_default() });
    drop(t);
    crate::wait::changed(&EVENTS);
    Ok(data.len())
}

/// The connected peer of a stream socket that may send.
fn stream_peer(t: &mut Table, id: UnixId, addressed: bool) -> Result<UnixId, Errno> {
    let me = t.get(id)?;
    match me.state {
        State::Connected(_) if addressed => Err(Errno::EISCONN),
        _ if me.write_shut || me.peer_gone => Err(Errno::EPIPE),
        State::Connected(peer) => Ok(peer),
        _ if addressed => Err(Errno::EOPNOTSUPP),
        _ => Err(Errno::ENOTCONN),
    }
}

fn send_stream(id: UnixId, data: &[u8], addressed: bool, rights: &mut Option<Vec<OpenFile>>, nonblocking: bool) -> Result<usize, Errno> {
    let mut done = 0;
    loop {
        let mut peer = 0;
        let waited = wait_for(nonblocking, |t| {
            peer = stream_peer(t, id, addressed)?;
            let p = t.get(peer).map_err(|_| Errno::EPIPE)?;
            Ok(p.read_shut || p.queued < STREAM_CAPACITY)
        });
        if let Err(e) = waited {
            return if done > 0 { Ok(done) } else { Err(e) };
        }
        let mut t = TABLE.lock();
        let p = t.get(peer).map_err(|_| Errno::EPIPE)?;
        if p.read_shut {
            return if done > 0 { Ok(done) } else { Err(Errno::EPIPE) };
        }
        let n = (data.len() - done).min(STREAM_CAPACITY - p.queued);
        let mut copy = Vec::new();
        copy.try_reserve_exact(n).map_err(|_| Errno::ENOMEM)?;
        copy.extend_from_slice(&data[done..done + n]);
        p.queued += n;
        p.queue.push_back(Message { data: copy, from: None, rights: rights.take().unwrap_or_default() });
        done += n;
        drop(t);
        crate::wait::changed(&EVENTS);
        if done == data.len() || nonblocking {
            return Ok(done);
        }
    }
}

/// One SOCK_SEQPACKET message to the connected peer, whole.
fn send_packet(id: UnixId, data: &[u8], addressed: bool, rights: &mut Option<Vec<OpenFile>>, nonblocking: bool) -> Result<usize, Errno> {
    if data.len() > MAX_DATAGRAM {
        return Err(Errno::EMSGSIZE);
    }
    let mut peer = 0;
    wait_for(nonblocking, |t| {
        peer = stream_peer(t, id, addressed)?;
        let p = t.get(peer).map_err(|_| Errno::EPIPE)?;
        Ok(p.read_shut || (p.queue.len() < PACKET_MESSAGES && p.queued + data.len() <= STREAM_CAPACITY))
    })?;
    let mut copy = Vec::new();
    copy.try_reserve_exact(data.len()).map_err(|_| Errno::ENOMEM)?;
    copy.extend_from_slice(data);
    let mut t = TABLE.lock();
    let p = t.get(peer).map_err(|_| Errno::EPIPE)?;
    if p.read_shut {
        return Err(Errno::EPIPE);
    }
    p.queued += copy.len();
    p.queue.push_back(Message { data: copy, from: None, rights: rights.take().unwrap_or_default() });
    drop(t);
    crate::wait::changed(&EVENTS);
    Ok(data.len())
}

/// What a receive got.
pub struct Received {
    /// Bytes copied into the buffer.
    pub len: usize,
    /// The datagram's full length (more than `len` when it was truncated).
    pub full_len: usize,
    /// The sender's address, if it had one (datagrams).
    pub from: Option<Vec<u8>>,
    pub rights: Vec<OpenFile>,
}

/// Receives into `buf`: a stream read takes what is queued (0 at end of
/// stream; it stops after a message that carried open files), a datagram
/// read takes one message (what does not fit is dropped).
pub fn recv(id: UnixId, buf: &mut [u8], nonblocking: bool, peek: bool) -> Result<Received, Errno> {
    wait_for(nonblocking, |t| {
        let me = t.get(id)?;
        if me.ty.connected() && !matches!(me.state, State::Connected(_)) {
            return Err(if matches!(me.state, State::Listening { .. }) { Errno::EINVAL } else { Errno::ENOTCONN });
        }
        Ok(!me.queue.is_empty() || me.read_shut || me.error.is_some() || (me.ty == Type::Stream && buf.is_empty()))
    })?;
    let mut t = TABLE.lock();
    let me = t.get(id)?;
    if me.queue.is_empty() {
        if let Some(e) = me.error.take() {
            return Err(e);
        }
    }
    let mut got = Received { len: 0, full_len: 0, from: None, rights: Vec::new() };
    match me.ty {
        Type::Datagram | Type::SeqPacket => {
            if let Some(m) = me.queue.front() {
                got.len = m.data.len().min(buf.len());
                got.full_len = m.data.len();
                got.from = m.from.clone();
                buf[..got.len].copy_from_slice(&m.data[..got.len]);
                if !peek {
                    if let Some(m) = me.queue.pop_front() {
                        me.queued -= m.data.len();
                        got.rights = m.rights;
                    }
                }
            }
        }
        Type::Stream if peek => {
            for m in me.queue.iter() {
                let n = m.data.len().min(buf.len() - got.len);
                buf[got.len..got.len + n].copy_from_slice(&m.data[..n]);
                got.len += n;
                if got.len == buf.len() {
                    break;
                }
            }
        }
        Type::Stream => {
            while got.len < buf.len() {
                let Some(m) = me.queue.front_mut() else { break };
                if !m.rights.is_empty() && got.len > 0 {
                    break;
                }
                got.rights.append(&mut m.rights);
                let n = m.data.len().min(buf.len() - got.len);
                buf[got.len..got.len + n].copy_from_slice(&m.data[..n]);
                m.data.drain(..n);
                got.len += n;
                me.queued -= n;
                if m.data.is_empty() {
                    me.queue.pop_front();
                }
                if !got.rights.is_empty() {
                    break;
                }
            }
        }
    }
    got.full_len = got.full_len.max(got.len);
    drop(t);
    crate::wait::changed(&EVENTS);
    Ok(got)
}

/// What poll/select would report (as Linux's unix_poll/unix_dgram_poll).
pub fn readiness(id: UnixId) -> Readiness {
    let t = TABLE.lock();
    let Some(me) = t.sockets.get(&id) else { return Readiness { readable: true, writable: true, hangup: true, error: false } };
    let (listening, incoming) = match &me.state {
        State::Listening { pending, .. } => (true, !pending.is_empty()),
        _ => (false, false),
    };
    let peer_full = match me.state {
        State::Connected(peer) => t.sockets.get(&peer).is_some_and(|p| match me.ty {
            Type::Stream => p.queued >= STREAM_CAPACITY && !p.read_shut,
            Type::SeqPacket => (p.queue.len() >= PACKET_MESSAGES || p.queued >= STREAM_CAPACITY) && !p.read_shut,
            Type::Datagram => p.queue.len() >= DGRAM_MESSAGES || p.queued >= DGRAM_CAPACITY,
        }),
        _ => false,
    };
    Readiness {
        readable: !me.queue.is_empty() || me.read_shut || incoming,
        writable: !listening && !peer_full,
        hangup: (me.read_shut && me.write_shut) || (me.ty.connected() && matches!(me.state, State::Unconnected)),
        error: me.error.is_some(),
    }
}

/// `shutdown(how)`: 0 = no more receives, 1 = no more sends, 2 = both; a
/// stream peer sees the other half.
pub fn shutdown(id: UnixId, how: u32) -> Result<(), Errno> {
    if how > 2 {
        return Err(Errno::EINVAL);
    }
    let (read, write) = (how != 1, how != 0);
    let mut t = TABLE.lock();
    let me = t.get(id)?;
    me.read_shut |= read;
    me.write_shut |= write;
    if let (true, State::Connected(peer)) = (me.ty.connected(), &me.state) {
        let peer = *peer;
        if let Ok(p) = t.get(peer) {
            p.write_shut |= read;
            p.read_shut |= write;
        }
    }
    drop(t);
    crate::wait::changed(&EVENTS);
    Ok(())
}

/// The bound address (`sun_path` bytes), if any.
pub fn local_name(id: UnixId) -> Result<Option<Vec<u8>>, Errno> {
    Ok(TABLE.lock().get(id)?.address.as_ref().map(|a| a.path.clone()))
}

/// The connected peer's address (None: the peer is unnamed).
pub fn peer_name(id: UnixId) -> Result<Option<Vec<u8>>, Errno> {
    let mut t = TABLE.lock();
    match t.get(id)?.state {
        State::Connected(peer) => Ok(t.sockets.get(&peer).and_then(|p| p.address.as_ref()).map(|a| a.path.clone())),
        _ => Err(Errno::ENOTCONN),
    }
}

/// SO_PEERCRED: the peer's credentials (None: not connected).
pub fn peer_cred(id: UnixId) -> Result<Option<Cred>, Errno> {
    Ok(TABLE.lock().get(id)?.peer_cred)
}

/// One more open file description of the socket (a forked table, a
/// descriptor passed in a message).
pub fn add_ref(id: UnixId) {
    if let Some(e) = TABLE.lock().sockets.get_mut(&id) {
        e.refs += 1;
    }
}

/// An open file description of the socket was closed. With the last one
/// the socket goes: its name is freed, a stream peer sees end of stream
/// (and EPIPE on send; ECONNRESET first on a read if we left data unread),
/// connections not yet accepted go too (their peers get ECONNRESET), and
/// the open files still queued are released.
pub fn close(id: UnixId) {
    let mut released = Vec::new();
    let mut nodes = Vec::new();
    {
        let mut t = TABLE.lock();
        let Some(e) = t.sockets.get_mut(&id) else { return };
        e.refs -= 1;
        if e.refs > 0 {
            return;
        }
        // (socket, never accepted?)
        let mut gone = alloc::vec![(id, false)];
        while let Some((id, embryo)) = gone.pop() {
            let Some(e) = t.sockets.remove(&id) else { continue };
            if let Some(a) = e.address {
                if t.names.get(&a.key) == Some(&id) {
                    t.names.remove(&a.key);
                    if let Key::Node(node) = a.key {
                        nodes.push(node);
                    }
                }
            }
            match e.state {
                State::Connected(peer) if e.ty.connected() => {
                    if let Some(p) = t.sockets.get_mut(&peer) {
                        p.peer_gone = true;
                        p.read_shut = true;
                        p.write_shut = true;
                        if embryo || !e.queue.is_empty() {
                            p.error = Some(Errno::ECONNRESET);
                        }
                    }
                }
                State::Listening { pending, .. } => gone.extend(pending.into_iter().map(|p| (p, true))),
                _ => {}
            }
            released.extend(e.queue.into_iter().flat_map(|m| m.rights));
        }
    }
    for node in nodes {
        crate::linux::env::with_vfs(|vfs| vfs.close(node));
    }
    for file in released {
        crate::syscall::release_file(file);
    }
    crate::wait::changed(&EVENTS);
}
