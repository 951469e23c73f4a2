//! The AF_UNIX side of the socket calls (`syscall/socket.rs` dispatches
//! here by the descriptor's kind): `sockaddr_un` in and out, socket nodes
//! in the VFS for path names, SCM_RIGHTS control messages; the sockets
//! themselves are `crate::net::unix`.

use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use embox_abi::consts::open::{O_CLOEXEC, O_NONBLOCK, O_RDWR};
use embox_abi::errno::SysResult;
use embox_abi::Errno;
use embox_fs::{FileKind as NodeKind, FsError};
use zerocopy::little_endian::U32;

use super::user::{UserPtr, UserSlice};
use crate::linux::env;
use crate::linux::files::{self, FileKind, OpenFile};
use crate::linux::process::Process;
use crate::net::unix::{self, Address, Key, Type, UnixId};

pub const AF_UNIX: u32 = 1;
/// `offsetof(struct sockaddr_un, sun_path)`.
const PATH_AT: usize = 2;
const SUN_PATH: usize = 108;
const SOL_SOCKET: u32 = 1;
const SCM_RIGHTS: u32 = 1;
/// Most descriptors one message may pass (Linux's SCM_MAX_FD).
const MAX_RIGHTS: usize = 253;
const MSG_PEEK: u32 = 0x2;
const MSG_CTRUNC: u32 = 0x8;
const MSG_TRUNC: u32 = 0x20;
const MSG_DONTWAIT: u32 = 0x40;
const MSG_NOSIGNAL: u32 = 0x4000;
const MSG_CMSG_CLOEXEC: u32 = 0x4000_0000;
/// Bytes copied per step between user memory and a stream socket.
const CHUNK: usize = 64 * 1024;

/// A new descriptor for the socket (closing it again if the table is full).
fn install(p: &mut Process, id: UnixId, flags: u32) -> SysResult {
    let file = OpenFile { kind: FileKind::Unix(id), offset: 0, flags: O_RDWR | (flags & O_NONBLOCK), path: format!("socket:[{}]", id + 0x10000) };
    p.files.open(file, flags & O_CLOEXEC != 0).inspect_err(|_| unix::close(id))
}

/// The caller's credentials for SO_PEERCRED (uid and gid are always 0 here).
fn cred(p: &Process) -> unix::Cred {
    unix::Cred { pid: p.pid, uid: 0, gid: 0 }
}

/// SO_PEERCRED's `struct ucred`: {0, -1, -1} without a peer, as on Linux.
pub fn peer_cred_bytes(id: UnixId) -> Result<[u8; 12], Errno> {
    let c = unix::peer_cred(id)?.unwrap_or(unix::Cred { pid: 0, uid: u32::MAX, gid: u32::MAX });
    let mut out = [0u8; 12];
    out[..4].copy_from_slice(&c.pid.to_le_bytes());
    out[4..8].copy_from_slice(&c.uid.to_le_bytes());
    out[8..].copy_from_slice(&c.gid.to_le_bytes());
    Ok(out)
}

fn socket_type(ty: u32, protocol: u32) -> Result<Type, Errno> {
    if protocol != 0 {
        return Err(Errno::EPROTONOSUPPORT);
    }
    match ty & 0xf {
        1 => Ok(Type::Stream),
        2 => Ok(Type::Datagram),
        5 => Ok(Type::SeqPacket),
        _ => Err(Errno::ESOCKTNOSUPPORT),
    }
}

/// socket(AF_UNIX, type, protocol)
pub fn socket(p: &mut Process, ty: u32, protocol: u32) -> SysResult {
    let id = unix::create(socket_type(ty, protocol)?)?;
    install(p, id, ty)
}

/// socketpair(AF_UNIX, type, protocol, sv)
pub fn socketpair(p: &mut Process, ty: u32, protocol: u32, sv: UserPtr<[U32; 2]>) -> SysResult {
    let (a, b) = unix::pair(socket_type(ty, protocol)?, cred(p))?;
    let fa = match install(p, a, ty) {
        Ok(fd) => fd,
        Err(e) => {
            unix::close(b);
            return Err(e);
        }
    };
    let fb = match install(p, b, ty) {
        Ok(fd) => fd,
        Err(e) => {
            super::open::release(p.files.close(fa).ok().flatten());
            return Err(e);
        }
    };
    if let Err(e) = sv.write(&mut p.memory, &[U32::new(fa), U32::new(fb)]) {
        super::open::release(p.files.close(fa).ok().flatten());
        super::open::release(p.files.close(fb).ok().flatten());
        return Err(e);
    }
    Ok(0)
}

/// A `sockaddr_un` as given: the `sun_path` bytes (`len - 2` of them).
fn read_sun_path(p: &mut Process, addr: u32, len: u32) -> Result<Vec<u8>, Errno> {
    let len = len as usize;
    if !(PATH_AT..=PATH_AT + SUN_PATH).contains(&len) {
        return Err(Errno::EINVAL);
    }
    let mut raw = vec![0u8; len];
    p.memory.read(addr, &mut raw)?;
    if u32::from(u16::from_le_bytes([raw[0], raw[1]])) != AF_UNIX {
        return Err(Errno::EINVAL);
    }
    Ok(raw.split_off(PATH_AT))
}

/// A path name: the bytes before the first NUL, as a string.
fn path_of(sun_path: &[u8]) -> Result<&str, Errno> {
    let end = sun_path.iter().position(|b| *b == 0).unwrap_or(sun_path.len());
    core::str::from_utf8(&sun_path[..end]).map_err(|_| Errno::ENOENT)
}

/// What a connect or sendto names: a socket node or an abstract name.
fn key_of(p: &mut Process, sun_path: &[u8]) -> Result<Key, Errno> {
    match sun_path.first() {
        None => Err(Errno::EINVAL),
        Some(0) => Ok(Key::Abstract(sun_path.to_vec())),
        Some(_) => {
            let path = p.absolute(path_of(sun_path)?);
            env::with_vfs(|vfs| {
                let node = vfs.lookup(&path)?;
                Ok((node, vfs.metadata(node).kind))
            })
            .map_err(env::fs_errno)
            .and_then(|(node, kind)| if kind == NodeKind::Socket { Ok(Key::Node(node)) } else { Err(Errno::ECONNREFUSED) })
        }
    }
}

pub fn bind(p: &mut Process, id: UnixId, addr: u32, len: u32) -> SysResult {
    let sun_path = read_sun_path(p, addr, len)?;
    let address = match sun_path.first() {
        // No name: an abstract one of five hex digits (Linux's autobind).
        None => {
            let name = format!("\0{:05x}", id & 0xfffff).into_bytes();
            Address { key: Key::Abstract(name.clone()), path: name }
        }
        Some(0) => Address { key: Key::Abstract(sun_path.clone()), path: sun_path },
        Some(_) => {
            let shown = path_of(&sun_path)?;
            let path = p.absolute(shown);
            let mode = 0o777 & !p.umask;
            let node = env::with_vfs(|vfs| {
                let node = vfs.mksock(&path, mode)?;
                vfs.open(node);
                Ok(node)
            })
            .map_err(|e| if e == FsError::AlreadyExists { Errno::EADDRINUSE } else { env::fs_errno(e) })?;
            let mut named = shown.as_bytes().to_vec();
            named.push(0);
            let address = Address { path: named, key: Key::Node(node) };
            return unix::bind(id, address).map(|()| 0).inspect_err(|_| {
                env::with_vfs(|vfs| {
                    let _ = vfs.unlink(&path);
                    vfs.close(node);
                })
            });
        }
    };
    unix::bind(id, address).map(|()| 0)
}

pub fn connect(p: &mut Process, id: UnixId, nonblocking: bool, addr: u32, len: u32) -> SysResult {
    let sun_path = read_sun_path(p, addr, len)?;
    let key = key_of(p, &sun_path)?;
    unix::connect(id, &key, nonblocking, cred(p)).map(|()| 0)
}

pub fn listen(p: &mut Process, id: UnixId, backlog: u32) -> SysResult {
    unix::listen(id, backlog, cred(p)).map(|()| 0)
}

/// Writes a `sockaddr_un` holding `name` (None: unnamed, the family only)
/// to `addr`, truncated to `*len_ptr`, and its full length to `*len_ptr`.
fn write_name(p: &mut Process, addr: u32, len_ptr: u32, name: Option<&[u8]>) -> Result<(), Errno> {
    if addr == 0 {
        return Ok(());
    }
    let len_ptr = UserPtr::<U32>::new(len_ptr);
    let room = len_ptr.read(&mut p.memory)?.get() as usize;
    let mut raw = (AF_UNIX as u16).to_le_bytes().to_vec();
    raw.extend_from_slice(name.unwrap_or_default());
    p.memory.write(addr, &raw[..room.min(raw.len())])?;
    len_ptr.write(&mut p.memory, &U32::new(raw.len() as u32))
}

pub fn accept(p: &mut Process, id: UnixId, nonblocking: bool, addr: u32, len_ptr: u32, flags: u32) -> SysResult {
    let (new_id, peer) = unix::accept(id, nonblocking)?;
    if let Err(e) = write_name(p, addr, len_ptr, peer.as_deref()) {
        unix::close(new_id);
        return Err(e);
    }
    install(p, new_id, flags)
}

pub fn name(p: &mut Process, id: UnixId, addr: u32, len_ptr: u32, peer: bool) -> SysResult {
    let name = if peer { unix::peer_name(id)? } else { unix::local_name(id)? };
    write_name(p, addr, len_ptr, name.as_deref()).map(|()| 0)
}

/// EPIPE from a send raises SIGPIPE unless MSG_NOSIGNAL (AF_UNIX and TCP).
pub(super) fn sigpipe(p: &mut Process, result: SysResult, flags: u32) -> SysResult {
    if result == Err(Errno::EPIPE) && flags & MSG_NOSIGNAL == 0 {
        super::signal::raise(p, embox_abi::consts::signal::SIGPIPE);
    }
    result
}

/// Sends the bytes of `bufs` (and `rights`) as one datagram or as a stream.
fn send_bufs(p: &mut Process, id: UnixId, nonblocking: bool, bufs: &[UserSlice], flags: u32, to: Option<Key>, rights: Vec<OpenFile>) -> SysResult {
    let nonblocking = nonblocking || flags & MSG_DONTWAIT != 0;
    let Some(total) = total_len(bufs) else {
        release_all(rights);
        return Err(Errno::EINVAL);
    };
    // Datagrams and seqpacket messages go whole.
    let datagram = unix::kind(id)? != Type::Stream;
    if datagram && total > unix::MAX_DATAGRAM {
        release_all(rights);
        return Err(Errno::EMSGSIZE);
    }
    // A datagram goes whole; a stream in chunks of at most CHUNK bytes.
    let step = if datagram { total } else { total.min(CHUNK) };
    let mut data = Vec::new();
    if data.try_reserve_exact(step).is_err() {
        release_all(rights);
        return Err(Errno::ENOMEM);
    }
    let mut rights = Some(rights);
    let mut done = 0usize;
    let mut pieces = bufs.iter().flat_map(|b| (0..b.len).step_by(CHUNK).map(move |at| UserSlice::new(b.addr.wrapping_add(at), (b.len - at).min(CHUNK as u32))));
    let mut pending: Option<UserSlice> = None;
    let result = loop {
        data.clear();
        while data.len() < step {
            let Some(piece) = pending.take().or_else(|| pieces.next()) else { break };
            let take = (piece.len as usize).min(step - data.len());
            let start = data.len();
            data.resize(start + take, 0);
            if let Err(e) = p.memory.read(piece.addr, &mut data[start..]) {
                release_all(rights.take().unwrap_or_default());
                return if done > 0 { Ok(done as u32) } else { Err(e) };
            }
            if take < piece.len as usize {
                pending = Some(UserSlice::new(piece.addr.wrapping_add(take as u32), piece.len - take as u32));
            }
        }
        let (sent, unsent) = unix::send(id, &data, to.as_ref(), rights.take().unwrap_or_default(), nonblocking);
        release_all(unsent);
        match sent {
            Ok(n) => done += n,
            Err(e) if done == 0 => break Err(e),
            Err(_) => break Ok(done as u32),
        }
        if done >= total || datagram || nonblocking {
            break Ok(done as u32);
        }
    };
    sigpipe(p, result, flags)
}

/// The bytes of all the buffers; None past `ssize_t` (EINVAL, as on Linux).
fn total_len(bufs: &[UserSlice]) -> Option<usize> {
    bufs.iter().try_fold(0usize, |sum, b| sum.checked_add(b.len as usize)).filter(|t| *t <= i32::MAX as usize)
}

fn release_all(files: Vec<OpenFile>) {
    for f in files {
        super::release_file(f);
    }
}

pub fn send(p: &mut Process, id: UnixId, nonblocking: bool, buf: UserSlice, flags: u32, to: Option<(u32, u32)>) -> SysResult {
    let to = match to {
        Some((addr, len)) if addr != 0 => {
            let sun_path = read_sun_path(p, addr, len)?;
            Some(key_of(p, &sun_path)?)
        }
        _ => None,
    };
    send_bufs(p, id, nonblocking, &[buf], flags, to, Vec::new())
}

/// Reads into `bufs` (one message or stream bytes); returns the count,
/// the sender and the passed files, and sets MSG_TRUNC in `msg_flags`.
fn recv_bufs(p: &mut Process, id: UnixId, nonblocking: bool, bufs: &[UserSlice], flags: u32, msg_flags: &mut u32) -> Result<(usize, unix::Received), Errno> {
    let total = total_len(bufs).ok_or(Errno::EINVAL)?;
    let want = if unix::kind(id)? != Type::Stream { total.min(unix::MAX_DATAGRAM) } else { total.min(CHUNK) };
    let mut buf = Vec::new();
    buf.try_reserve_exact(want).map_err(|_| Errno::ENOMEM)?;
    buf.resize(want, 0);
    let got = unix::recv(id, &mut buf, nonblocking || flags & MSG_DONTWAIT != 0, flags & MSG_PEEK != 0)?;
    let mut off = 0;
    for b in bufs {
        if off == got.len {
            break;
        }
        let take = (b.len as usize).min(got.len - off);
        if let Err(e) = p.memory.write(b.addr, &buf[off..off + take]) {
            release_all(got.rights);
            return Err(e);
        }
        off += take;
    }
    if got.full_len > got.len {
        *msg_flags |= MSG_TRUNC;
    }
    let n = if flags & MSG_TRUNC != 0 { got.full_len } else { got.len };
    Ok((n, got))
}

pub fn recv(p: &mut Process, id: UnixId, nonblocking: bool, buf: UserSlice, flags: u32, from: Option<(u32, u32)>) -> SysResult {
    let (n, got) = recv_bufs(p, id, nonblocking, &[buf], flags, &mut 0)?;
    release_all(got.rights);
    if let Some((addr, len_ptr)) = from.filter(|(addr, _)| *addr != 0) {
        match got.from {
            Some(name) => write_name(p, addr, len_ptr, Some(&name))?,
            // An unnamed sender: no address at all (Linux: addrlen 0).
            None => UserPtr::<U32>::new(len_ptr).write(&mut p.memory, &U32::new(0))?,
        }
    }
    Ok(n as u32)
}

/// The SCM_RIGHTS descriptors of a control buffer, each as a new reference
/// to its open file. Other control messages are ignored.
fn read_rights(p: &mut Process, control: u32, len: u32) -> Result<Vec<OpenFile>, Errno> {
    if control == 0 || len == 0 {
        return Ok(Vec::new());
    }
    if len > 4096 {
        return Err(Errno::ENOBUFS);
    }
    let mut raw = vec![0u8; len as usize];
    p.memory.read(control, &mut raw)?;
    let word = |at: usize| u32::from_le_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]);
    let mut rights = Vec::new();
    let mut at = 0;
    while at + 12 <= raw.len() {
        let cmsg_len = word(at) as usize;
        if cmsg_len < 12 || at + cmsg_len > raw.len() {
            release_all(rights);
            return Err(Errno::EINVAL);
        }
        if word(at + 4) == SOL_SOCKET && word(at + 8) == SCM_RIGHTS {
            for i in 0..(cmsg_len - 12) / 4 {
                let fd = word(at + 12 + 4 * i);
                let file = match p.files.get(fd) {
                    Ok(f) if rights.len() < MAX_RIGHTS => f.clone(),
                    Ok(_) => Err(Errno::EINVAL).inspect_err(|_| release_all(core::mem::take(&mut rights)))?,
                    Err(e) => Err(e).inspect_err(|_| release_all(core::mem::take(&mut rights)))?,
                };
                let mut file = file;
                files::retain(&mut file);
                rights.push(file);
            }
        }
        at += (cmsg_len + 3) & !3;
    }
    Ok(rights)
}

pub fn sendmsg(p: &mut Process, id: UnixId, nonblocking: bool, msg: u32, flags: u32) -> SysResult {
    let [name, namelen, iov, iovlen, control, controllen, _] = super::socket::read_msghdr(p, msg)?;
    let to = if name != 0 {
        let sun_path = read_sun_path(p, name, namelen)?;
        Some(key_of(p, &sun_path)?)
    } else {
        None
    };
    let bufs = super::socket::read_iovecs(p, iov, iovlen)?;
    let rights = read_rights(p, control, controllen)?;
    send_bufs(p, id, nonblocking, &bufs, flags, to, rights)
}

pub fn recvmsg(p: &mut Process, id: UnixId, nonblocking: bool, msg: u32, flags: u32) -> SysResult {
    let [name, _namelen, iov, iovlen, control, controllen, _] = super::socket::read_msghdr(p, msg)?;
    let bufs = super::socket::read_iovecs(p, iov, iovlen)?;
    let mut msg_flags = 0;
    let (n, got) = recv_bufs(p, id, nonblocking, &bufs, flags, &mut msg_flags)?;
    if name != 0 {
        match &got.from {
            Some(from) => write_name(p, name, msg + 4, Some(from))?,
            None => p.memory.write(msg + 4, &0u32.to_le_bytes())?,
        }
    }
    // The passed descriptors: as many as the control buffer holds, the
    // others closed (MSG_CTRUNC).
    let room = if control == 0 || controllen < 12 { 0 } else { (controllen as usize - 12) / 4 };
    let mut fds = Vec::new();
    let mut rights = got.rights.into_iter();
    for file in rights.by_ref().take(room) {
        match p.files.open(file.clone(), flags & MSG_CMSG_CLOEXEC != 0) {
            Ok(fd) => fds.push(fd),
            Err(_) => {
                super::release_file(file);
                msg_flags |= MSG_CTRUNC;
            }
        }
    }
    let rest: Vec<OpenFile> = rights.collect();
    if !rest.is_empty() {
        msg_flags |= MSG_CTRUNC;
        release_all(rest);
    }
    let mut used = 0u32;
    if !fds.is_empty() {
        let mut cmsg = Vec::new();
        cmsg.extend_from_slice(&(12 + 4 * fds.len() as u32).to_le_bytes());
        cmsg.extend_from_slice(&SOL_SOCKET.to_le_bytes());
        cmsg.extend_from_slice(&SCM_RIGHTS.to_le_bytes());
        for fd in &fds {
            cmsg.extend_from_slice(&fd.to_le_bytes());
        }
        p.memory.write(control, &cmsg)?;
        used = cmsg.len() as u32;
    }
    p.memory.write(msg + 20, &used.to_le_bytes())?;
    p.memory.write(msg + 24, &msg_flags.to_le_bytes())?;
    Ok(n as u32)
}
