//! Socket system calls for Linux programs: socketcall (102) and the direct
//! calls i386 also has (359..=373), on the kernel's own TCP/IP
//! (`crate::net::socket`). IPv4 TCP and UDP; `AF_INET` addresses only.
//! User memory goes through the checked layer (`UserPtr`/`UserSlice`), so a
//! bad pointer is EFAULT; buffers are sized by the call but copied in bounded
//! chunks.

use alloc::format;
use alloc::vec::Vec;
use core::net::Ipv4Addr;

use embox_abi::consts::open::{O_CLOEXEC, O_NONBLOCK, O_RDWR};
use embox_abi::errno::SysResult;
use embox_abi::Errno;
use zerocopy::little_endian::U32;

use super::args::{Fd, SyscallFn};
use super::user::{UserPtr, UserSlice};
use super::Args;
use crate::linux::files::{FileKind, OpenFile};
use crate::linux::memory::ProcessMemory;
use crate::linux::process::Process;
use super::unix;
use crate::net::socket::{self as net, Kind, SockId};
use crate::net::unix::UnixId;

const AF_INET: u16 = 2;
const SOCK_STREAM: u32 = 1;
const SOCK_DGRAM: u32 = 2;
const SOCK_TYPE_MASK: u32 = 0xf;
const IPPROTO_TCP: u32 = 6;
const IPPROTO_UDP: u32 = 17;
const SOL_SOCKET: u32 = 1;
const SO_TYPE: u32 = 3;
const SO_PEERCRED: u32 = 17;
const SOCK_SEQPACKET: u32 = 5;
const SO_ERROR: u32 = 4;
const SO_SNDBUF: u32 = 7;
const SO_RCVBUF: u32 = 8;
const TCP_NODELAY: u32 = 1;
const MSG_PEEK: u32 = 2;
const MSG_DONTWAIT: u32 = 0x40;
/// Socket options accepted and ignored (SO_REUSEADDR, SO_BROADCAST,
/// SO_KEEPALIVE, SO_LINGER, SO_REUSEPORT, SO_RCVTIMEO, SO_SNDTIMEO, ...).
const SO_IGNORED: &[u32] = &[2, 6, 7, 8, 9, 13, 15, 20, 21];
/// Bytes copied per step between user memory and a socket.
const CHUNK: usize = 64 * 1024;

/// The socket behind `fd`, and whether it is non-blocking.
fn socket_of(p: &Process, fd: u32) -> Result<(SockId, bool), Errno> {
    let f = p.files.get(fd)?;
    match f.kind {
        FileKind::Socket(id) => Ok((id, f.flags & O_NONBLOCK != 0)),
        _ => Err(Errno::ENOTSOCK),
    }
}

/// The AF_UNIX socket behind `fd`, if it is one, and whether it is
/// non-blocking (those calls go to `syscall/unix.rs`).
fn unix_of(p: &Process, fd: u32) -> Option<(UnixId, bool)> {
    match p.files.get(fd) {
        Ok(f) => match f.kind {
            FileKind::Unix(id) => Some((id, f.flags & O_NONBLOCK != 0)),
            _ => None,
        },
        Err(_) => None,
    }
}

/// Reads a `sockaddr_in`.
fn read_addr(p: &mut Process, addr: u32, len: u32) -> Result<(Ipv4Addr, u16), Errno> {
    if len < 8 {
        return Err(Errno::EINVAL);
    }
    let mut raw = [0u8; 8];
    p.memory.read(addr, &mut raw)?;
    if u16::from_le_bytes([raw[0], raw[1]]) != AF_INET {
        return Err(Errno::EAFNOSUPPORT);
    }
    Ok((Ipv4Addr::new(raw[4], raw[5], raw[6], raw[7]), u16::from_be_bytes([raw[2], raw[3]])))
}

/// Writes a `sockaddr_in` to `addr` (if not NULL), truncated to `*len_ptr`,
/// and the full length to `*len_ptr`.
fn write_addr(p: &mut Process, addr: u32, len_ptr: u32, (ip, port): (Ipv4Addr, u16)) -> Result<(), Errno> {
    if addr == 0 {
        return Ok(());
    }
    let len_ptr = UserPtr::<U32>::new(len_ptr);
    let room = len_ptr.read(&mut p.memory)?.get();
    let mut raw = [0u8; 16];
    raw[..2].copy_from_slice(&AF_INET.to_le_bytes());
    raw[2..4].copy_from_slice(&port.to_be_bytes());
    raw[4..8].copy_from_slice(&ip.octets());
    p.memory.write(addr, &raw[..(room as usize).min(16)])?;
    len_ptr.write(&mut p.memory, &U32::new(16))
}

fn install(p: &mut Process, id: SockId, flags: u32) -> SysResult {
    let file = OpenFile { kind: FileKind::Socket(id), offset: 0, flags: O_RDWR | (flags & O_NONBLOCK), path: format!("socket:[{id}]") };
    match p.files.open(file, flags & O_CLOEXEC != 0) {
        Ok(fd) => Ok(fd),
        Err(e) => {
            net::close(id);
            Err(e)
        }
    }
}

fn socket_call(p: &mut Process, domain: u32, ty: u32, protocol: u32) -> SysResult {
    if domain == unix::AF_UNIX {
        return unix::socket(p, ty, protocol);
    }
    if domain != u32::from(AF_INET) {
        return Err(Errno::EAFNOSUPPORT);
    }
    let kind = match (ty & SOCK_TYPE_MASK, protocol) {
        (SOCK_STREAM, 0 | IPPROTO_TCP) => Kind::Stream,
        (SOCK_DGRAM, 0 | IPPROTO_UDP) => Kind::Datagram,
        (SOCK_STREAM | SOCK_DGRAM, _) => return Err(Errno::EPROTONOSUPPORT),
        _ => return Err(Errno::EPROTONOSUPPORT),
    };
    let id = net::create(kind)?;
    install(p, id, ty & !SOCK_TYPE_MASK)
}

fn bind_call(p: &mut Process, fd: u32, addr: u32, len: u32) -> SysResult {
    if let Some((id, _)) = unix_of(p, fd) {
        return unix::bind(p, id, addr, len);
    }
    let (id, _) = socket_of(p, fd)?;
    let (ip, port) = read_addr(p, addr, len)?;
    net::bind(id, ip, port).map(|()| 0)
}

fn connect_call(p: &mut Process, fd: u32, addr: u32, len: u32) -> SysResult {
    if let Some((id, nonblocking)) = unix_of(p, fd) {
        return unix::connect(p, id, nonblocking, addr, len);
    }
    let (id, nonblocking) = socket_of(p, fd)?;
    let (ip, port) = read_addr(p, addr, len)?;
    net::connect(id, ip, port, nonblocking).map(|()| 0)
}

fn listen_call(p: &mut Process, fd: u32, backlog: u32) -> SysResult {
    if let Some((id, _)) = unix_of(p, fd) {
        return unix::listen(p, id, backlog);
    }
    let (id, _) = socket_of(p, fd)?;
    net::listen(id, backlog).map(|()| 0)
}

fn accept_call(p: &mut Process, fd: u32, addr: u32, len_ptr: u32, flags: u32) -> SysResult {
    if flags & !(O_NONBLOCK | O_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    if let Some((id, nonblocking)) = unix_of(p, fd) {
        return unix::accept(p, id, nonblocking, addr, len_ptr, flags);
    }
    let (id, nonblocking) = socket_of(p, fd)?;
    let (new_id, peer) = net::accept(id, nonblocking)?;
    let smoltcp::wire::IpAddress::Ipv4(ip) = peer.addr;
    if let Err(e) = write_addr(p, addr, len_ptr, (ip, peer.port)) {
        net::close(new_id);
        return Err(e);
    }
    install(p, new_id, flags)
}

fn name_call(p: &mut Process, fd: u32, addr: u32, len_ptr: u32, peer: bool) -> SysResult {
    if let Some((id, _)) = unix_of(p, fd) {
        return unix::name(p, id, addr, len_ptr, peer);
    }
    let (id, _) = socket_of(p, fd)?;
    let name = if peer { net::peer_name(id)? } else { net::local_name(id)? };
    write_addr(p, addr, len_ptr, name).map(|()| 0)
}

/// Sends `buf` (optionally to an address), in bounded chunks; EPIPE raises
/// SIGPIPE unless MSG_NOSIGNAL.
fn send_call(p: &mut Process, fd: u32, buf: UserSlice, flags: u32, to: Option<(u32, u32)>) -> SysResult {
    if let Some((id, nonblocking)) = unix_of(p, fd) {
        return unix::send(p, id, nonblocking, buf, flags, to);
    }
    let result = send_inet(p, fd, buf, flags, to);
    super::unix::sigpipe(p, result, flags)
}

fn send_inet(p: &mut Process, fd: u32, buf: UserSlice, flags: u32, to: Option<(u32, u32)>) -> SysResult {
    let (id, nonblocking) = socket_of(p, fd)?;
    let to = match to {
        Some((addr, len)) if addr != 0 => Some(read_addr(p, addr, len)?),
        _ => None,
    };
    let nonblocking = nonblocking || flags & MSG_DONTWAIT != 0;
    // Straight from user memory into the socket's buffer.
    let mut source = |at: usize, room: &mut [u8]| p.memory.read(buf.addr + at as u32, room);
    let sent = net::send_from(id, buf.len as usize, &mut source, to, nonblocking)?;
    Ok(sent as u32)
}

/// A receive sink that writes the bytes across `iovs`, in order, straight
/// from the socket's buffer into user memory.
fn scatter<'a>(memory: &'a mut ProcessMemory, iovs: &'a [UserSlice]) -> impl FnMut(&[u8]) -> Result<(), Errno> + 'a {
    let (mut index, mut offset) = (0usize, 0u32);
    move |mut bytes: &[u8]| {
        while let (Some(v), false) = (iovs.get(index), bytes.is_empty()) {
            let take = ((v.len - offset) as usize).min(bytes.len());
            memory.write(v.addr + offset, &bytes[..take])?;
            bytes = &bytes[take..];
            offset += take as u32;
            if offset == v.len {
                (index, offset) = (index + 1, 0);
            }
        }
        Ok(())
    }
}

/// Receives into `buf`; writes the sender's address when asked.
fn recv_call(p: &mut Process, fd: u32, buf: UserSlice, flags: u32, from: Option<(u32, u32)>) -> SysResult {
    if let Some((id, nonblocking)) = unix_of(p, fd) {
        return unix::recv(p, id, nonblocking, buf, flags, from);
    }
    let (id, nonblocking) = socket_of(p, fd)?;
    let nonblocking = nonblocking || flags & MSG_DONTWAIT != 0;
    let iovs = [buf];
    let (n, sender) = net::recv(id, buf.len as usize, &mut scatter(&mut p.memory, &iovs), nonblocking, flags & MSG_PEEK != 0)?;
    if let (Some((addr, len_ptr)), Some(sender)) = (from, sender) {
        let smoltcp::wire::IpAddress::Ipv4(ip) = sender.addr;
        write_addr(p, addr, len_ptr, (ip, sender.port))?;
    }
    Ok(n as u32)
}

/// `read` on a socket descriptor.
pub(super) fn read(p: &mut Process, fd: u32, buf: UserSlice) -> SysResult {
    recv_call(p, fd, buf, 0, None)
}

/// `write` on a socket descriptor.
pub(super) fn write(p: &mut Process, fd: u32, buf: UserSlice) -> SysResult {
    send_call(p, fd, buf, 0, None)
}

/// The readiness of a socket descriptor for poll/select.
pub fn readiness(id: SockId) -> net::Readiness {
    net::readiness(id).unwrap_or(net::Readiness { readable: true, writable: true, hangup: true, error: false })
}

fn shutdown_call(p: &mut Process, fd: u32, how: u32) -> SysResult {
    if let Some((id, _)) = unix_of(p, fd) {
        return crate::net::unix::shutdown(id, how).map(|()| 0);
    }
    let (id, _) = socket_of(p, fd)?;
    net::shutdown(id, how).map(|()| 0)
}

fn setsockopt_call(p: &mut Process, fd: u32, level: u32, name: u32, val: u32, len: u32) -> SysResult {
    if unix_of(p, fd).is_some() {
        return match (level, name) {
            (SOL_SOCKET, n) if SO_IGNORED.contains(&n) => Ok(0),
            _ => Err(Errno::ENOPROTOOPT),
        };
    }
    let (id, _) = socket_of(p, fd)?;
    let value = if len >= 4 && val != 0 { UserPtr::<U32>::new(val).read(&mut p.memory)?.get() } else { 0 };
    match (level, name) {
        (SOL_SOCKET, n) if SO_IGNORED.contains(&n) => Ok(0),
        (IPPROTO_TCP, TCP_NODELAY) => net::set_nodelay(id, value != 0).map(|()| 0),
        _ => Err(Errno::ENOPROTOOPT),
    }
}

fn getsockopt_call(p: &mut Process, fd: u32, level: u32, name: u32, val: u32, len_ptr: u32) -> SysResult {
    let unix = unix_of(p, fd);
    let sock_type = match unix {
        Some((id, _)) => match crate::net::unix::kind(id)? {
            crate::net::unix::Type::Stream => SOCK_STREAM,
            crate::net::unix::Type::Datagram => SOCK_DGRAM,
            crate::net::unix::Type::SeqPacket => SOCK_SEQPACKET,
        },
        None => match net::kind(socket_of(p, fd)?.0)? {
            Kind::Stream => SOCK_STREAM,
            Kind::Datagram => SOCK_DGRAM,
        },
    };
    if (level, name) == (SOL_SOCKET, SO_PEERCRED) {
        // AF_UNIX only; an inet socket has no peer credentials ({0, -1, -1}).
        let cred = match unix {
            Some((id, _)) => super::unix::peer_cred_bytes(id)?,
            None => [0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        };
        let len = UserPtr::<U32>::new(len_ptr);
        let room = (len.read(&mut p.memory)?.get() as usize).min(cred.len());
        p.memory.write(val, &cred[..room])?;
        return len.write(&mut p.memory, &U32::new(room as u32)).map(|()| 0);
    }
    let value: u32 = match (level, name) {
        (SOL_SOCKET, SO_TYPE) => sock_type,
        (SOL_SOCKET, SO_ERROR) => 0,
        (SOL_SOCKET, SO_SNDBUF | SO_RCVBUF) => 64 * 1024,
        (SOL_SOCKET, n) if SO_IGNORED.contains(&n) => 0,
        (IPPROTO_TCP, TCP_NODELAY) => 0,
        _ => return Err(Errno::ENOPROTOOPT),
    };
    let len = UserPtr::<U32>::new(len_ptr);
    if len.read(&mut p.memory)?.get() < 4 {
        return Err(Errno::EINVAL);
    }
    UserPtr::<U32>::new(val).write(&mut p.memory, &U32::new(value))?;
    len.write(&mut p.memory, &U32::new(4)).map(|()| 0)
}

/// `struct msghdr` (i386): name, namelen, iov, iovlen, control, controllen, flags.
pub(super) fn read_msghdr(p: &mut Process, msg: u32) -> Result<[u32; 7], Errno> {
    let mut raw = [0u8; 28];
    p.memory.read(msg, &mut raw)?;
    let mut out = [0u32; 7];
    for (i, v) in out.iter_mut().enumerate() {
        *v = u32::from_le_bytes(raw[i * 4..i * 4 + 4].try_into().unwrap());
    }
    Ok(out)
}

/// The iovecs of a msghdr as (addr, len) pairs.
pub(super) fn read_iovecs(p: &mut Process, iov: u32, count: u32) -> Result<Vec<UserSlice>, Errno> {
    if count > 1024 {
        return Err(Errno::EMSGSIZE);
    }
    let mut out = Vec::new();
    for i in 0..count {
        let mut raw = [0u8; 8];
        p.memory.read(iov + 8 * i, &mut raw)?;
        out.push(UserSlice::new(u32::from_le_bytes(raw[..4].try_into().unwrap()), u32::from_le_bytes(raw[4..].try_into().unwrap())));
    }
    Ok(out)
}

fn sendmsg_call(p: &mut Process, fd: u32, msg: u32, flags: u32) -> SysResult {
    if let Some((id, nonblocking)) = unix_of(p, fd) {
        return unix::sendmsg(p, id, nonblocking, msg, flags);
    }
    let (id, nonblocking) = socket_of(p, fd)?;
    let [name, namelen, iov, iovlen, ..] = read_msghdr(p, msg)?;
    let to = if name != 0 { Some(read_addr(p, name, namelen)?) } else { None };
    let mut data = Vec::new();
    for v in read_iovecs(p, iov, iovlen)? {
        if data.len() + v.len as usize > 16 * CHUNK {
            return Err(Errno::EMSGSIZE);
        }
        let start = data.len();
        data.resize(start + v.len as usize, 0);
        p.memory.read(v.addr, &mut data[start..])?;
    }
    let result = net::send(id, &data, to, nonblocking || flags & MSG_DONTWAIT != 0).map(|n| n as u32);
    super::unix::sigpipe(p, result, flags)
}

fn recvmsg_call(p: &mut Process, fd: u32, msg: u32, flags: u32) -> SysResult {
    if let Some((id, nonblocking)) = unix_of(p, fd) {
        return unix::recvmsg(p, id, nonblocking, msg, flags);
    }
    let (id, nonblocking) = socket_of(p, fd)?;
    let [name, _namelen, iov, iovlen, ..] = read_msghdr(p, msg)?;
    let iovs = read_iovecs(p, iov, iovlen)?;
    let total: usize = iovs.iter().map(|v| v.len as usize).sum();
    let nonblocking = nonblocking || flags & MSG_DONTWAIT != 0;
    let (n, sender) = net::recv(id, total, &mut scatter(&mut p.memory, &iovs), nonblocking, flags & MSG_PEEK != 0)?;
    if let (true, Some(sender)) = (name != 0, sender) {
        let smoltcp::wire::IpAddress::Ipv4(ip) = sender.addr;
        write_addr(p, name, msg + 4, (ip, sender.port))?;
    }
    // msg_controllen = 0, msg_flags = 0
    p.memory.write(msg + 20, &[0u8; 8])?;
    Ok(n as u32)
}

/// Arguments each socketcall number takes (index = call number).
const SOCKETCALL_ARGS: [u32; 21] = [0, 3, 3, 3, 2, 3, 3, 3, 4, 4, 4, 6, 6, 2, 5, 5, 3, 3, 4, 5, 4];

/// socketcall(call, args): the multiplexed form i386 glibc uses. The
/// arguments, read from user memory, are decoded as the direct calls'
/// registers are (words past a call's count read as zero: send and recv are
/// sendto and recvfrom without an address, accept is accept4 without flags).
pub fn socketcall(p: &mut Process, call: u32, args: UserPtr<u32>) -> SysResult {
    let count = *SOCKETCALL_ARGS.get(call as usize).filter(|n| **n > 0).ok_or(Errno::EINVAL)?;
    let mut raw = [0u8; 24];
    p.memory.read(args.addr, &mut raw[..4 * count as usize])?;
    let mut regs: Args = [0; 6];
    for (v, word) in regs.iter_mut().zip(raw.chunks_exact(4)) {
        *v = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
    }
    let regs = &regs;
    match call {
        1 => SyscallFn::call(socket, p, regs),
        2 => SyscallFn::call(bind, p, regs),
        3 => SyscallFn::call(connect, p, regs),
        4 => SyscallFn::call(listen, p, regs),
        5 | 18 => SyscallFn::call(accept4, p, regs),
        6 => SyscallFn::call(getsockname, p, regs),
        7 => SyscallFn::call(getpeername, p, regs),
        8 => SyscallFn::call(socketpair, p, regs),
        9 | 11 => SyscallFn::call(sendto, p, regs),
        10 | 12 => SyscallFn::call(recvfrom, p, regs),
        13 => SyscallFn::call(shutdown, p, regs),
        14 => SyscallFn::call(setsockopt, p, regs),
        15 => SyscallFn::call(getsockopt, p, regs),
        16 => SyscallFn::call(sendmsg, p, regs),
        17 => SyscallFn::call(recvmsg, p, regs),
        _ => Err(Errno::ENOSYS), // recvmmsg, sendmmsg
    }
}

/// A `struct sockaddr` in user memory (its first 16 bytes: `sockaddr_in`).
type SockAddr = [u8; 16];
/// A `struct msghdr` (i386): name, namelen, iov, iovlen, control, controllen, flags.
type MsgHdr = [u32; 7];

/// socket(domain, type, protocol)
pub fn socket(p: &mut Process, domain: u32, ty: u32, protocol: u32) -> SysResult {
    socket_call(p, domain, ty, protocol)
}
/// socketpair(domain, type, protocol, sv): AF_UNIX only, as on Linux.
pub fn socketpair(p: &mut Process, domain: u32, ty: u32, protocol: u32, sv: UserPtr<[U32; 2]>) -> SysResult {
    if domain != unix::AF_UNIX {
        return Err(Errno::EOPNOTSUPP);
    }
    unix::socketpair(p, ty, protocol, sv)
}
/// bind(fd, addr, addrlen)
pub fn bind(p: &mut Process, fd: Fd, addr: UserSlice) -> SysResult {
    bind_call(p, fd.0, addr.addr, addr.len)
}
/// connect(fd, addr, addrlen)
pub fn connect(p: &mut Process, fd: Fd, addr: UserSlice) -> SysResult {
    connect_call(p, fd.0, addr.addr, addr.len)
}
/// listen(fd, backlog)
pub fn listen(p: &mut Process, fd: Fd, backlog: u32) -> SysResult {
    listen_call(p, fd.0, backlog)
}
/// accept4(fd, addr, addrlen_ptr, flags)
pub fn accept4(p: &mut Process, fd: Fd, addr: UserPtr<SockAddr>, len: UserPtr<U32>, flags: u32) -> SysResult {
    accept_call(p, fd.0, addr.addr, len.addr, flags)
}
/// getsockopt(fd, level, name, value, len_ptr)
pub fn getsockopt(p: &mut Process, fd: Fd, level: u32, name: u32, value: UserPtr<U32>, len: UserPtr<U32>) -> SysResult {
    getsockopt_call(p, fd.0, level, name, value.addr, len.addr)
}
/// setsockopt(fd, level, name, value, len)
pub fn setsockopt(p: &mut Process, fd: Fd, level: u32, name: u32, value: UserSlice) -> SysResult {
    setsockopt_call(p, fd.0, level, name, value.addr, value.len)
}
/// getsockname(fd, addr, addrlen_ptr)
pub fn getsockname(p: &mut Process, fd: Fd, addr: UserPtr<SockAddr>, len: UserPtr<U32>) -> SysResult {
    name_call(p, fd.0, addr.addr, len.addr, false)
}
/// getpeername(fd, addr, addrlen_ptr)
pub fn getpeername(p: &mut Process, fd: Fd, addr: UserPtr<SockAddr>, len: UserPtr<U32>) -> SysResult {
    name_call(p, fd.0, addr.addr, len.addr, true)
}
/// sendto(fd, buf, len, flags, dest, addrlen); no address (NULL) for send.
pub fn sendto(p: &mut Process, fd: Fd, buf: UserSlice, flags: u32, to: UserSlice) -> SysResult {
    send_call(p, fd.0, buf, flags, Some((to.addr, to.len)))
}
/// sendmsg(fd, msg, flags)
pub fn sendmsg(p: &mut Process, fd: Fd, msg: UserPtr<MsgHdr>, flags: u32) -> SysResult {
    sendmsg_call(p, fd.0, msg.addr, flags)
}
/// recvfrom(fd, buf, len, flags, src, addrlen_ptr); no address (NULL) for recv.
pub fn recvfrom(p: &mut Process, fd: Fd, buf: UserSlice, flags: u32, from: UserPtr<SockAddr>, len: UserPtr<U32>) -> SysResult {
    recv_call(p, fd.0, buf, flags, Some((from.addr, len.addr)))
}
/// recvmsg(fd, msg, flags)
pub fn recvmsg(p: &mut Process, fd: Fd, msg: UserPtr<MsgHdr>, flags: u32) -> SysResult {
    recvmsg_call(p, fd.0, msg.addr, flags)
}
/// shutdown(fd, how)
pub fn shutdown(p: &mut Process, fd: Fd, how: u32) -> SysResult {
    shutdown_call(p, fd.0, how)
}
