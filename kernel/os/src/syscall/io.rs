//! Reading and writing: read, write, readv, writev, pread64, pwrite64,
//! lseek, _llseek, fsync/fdatasync/sync, truncate, and the readiness calls
//! (select, poll, ppoll: sockets report and wait for their real state, other
//! descriptors are always ready).
use alloc::vec;

use embox_abi::consts::open::{O_ACCMODE, O_APPEND, O_NONBLOCK, O_RDONLY, O_WRONLY};
use embox_abi::consts::seek::{SEEK_CUR, SEEK_END, SEEK_SET};
use embox_abi::errno::SysResult;
use embox_abi::types::{Iovec, Timespec32, Timespec64, Timeval32};
use embox_abi::Errno;
use zerocopy::little_endian::{I32, I64};

use super::args::{Fd, Off64, Off64Hi};
use super::user::{UserPtr, UserSlice, UserString};
use crate::linux::devproc::{self, Device};
use crate::linux::{env, pipe};
use crate::linux::files::FileKind;
use crate::linux::process::Process;

/// Bytes moved per step between user memory and a file.
const CHUNK: usize = 4096;
/// Most iovecs per readv/writev (IOV_MAX).
const IOV_MAX: u32 = 1024;

fn readable(flags: u32) -> bool {
    flags & O_ACCMODE != O_WRONLY
}

fn writable(flags: u32) -> bool {
    flags & O_ACCMODE != O_RDONLY
}

/// Reads from `fd` into `buf`, at `at` (pread) or at the file offset.
fn read_into(p: &mut Process, fd: u32, buf: UserSlice, at: Option<u64>) -> SysResult {
    let (kind, offset, flags) = p.files.status(fd)?;
    if !readable(flags) {
        return Err(Errno::EBADF);
    }
    match kind {
        FileKind::Console => {
            if at.is_some() {
                return Err(Errno::ESPIPE);
            }
            crate::linux::console_job_control(p, crate::linux::signal::SIGTTIN)?;
            let mut block = [0u8; CHUNK];
            let chunk = &mut block[..(buf.len as usize).min(CHUNK)];
            let n = env::console_read(chunk).ok_or(Errno::EINTR)?;
            p.memory.write(buf.addr, &chunk[..n])?;
            Ok(n as u32)
        }
        FileKind::Dir(_) | FileKind::ProcDir(_) => Err(Errno::EISDIR),
        // Forwarded before it gets here (syscall/forward.rs).
        FileKind::Lkl(_) | FileKind::PipeWrite(_) => Err(Errno::EBADF),
        FileKind::SignalFd(_) if at.is_some() => Err(Errno::ESPIPE),
        FileKind::SignalFd(mask) => super::signalfd::read(p, mask, flags & O_NONBLOCK != 0, buf),
        FileKind::PipeRead(id) => {
            if at.is_some() {
                return Err(Errno::ESPIPE);
            }
            let n = pipe::read_user(id, &mut p.memory, buf.addr, (buf.len as usize).min(pipe::CAPACITY), flags & O_NONBLOCK != 0)?;
            Ok(n as u32)
        }
        FileKind::Socket(_) | FileKind::Unix(_) if at.is_some() => Err(Errno::ESPIPE),
        FileKind::Socket(_) | FileKind::Unix(_) => super::socket::read(p, fd, buf),
        FileKind::Device(Device::Null) => Ok(0),
        FileKind::Device(device) => {
            // Zeros or random bytes, a block at a time (a huge read is short,
            // as Linux's are at most 2 GiB less a page).
            let mut block = [0u8; CHUNK];
            let n = (buf.len as usize).min(CHUNK);
            if device == Device::Random {
                for word in block[..n].chunks_mut(8) {
                    let r = p.next_random().to_le_bytes();
                    word.copy_from_slice(&r[..word.len()]);
                }
            }
            p.memory.write(buf.addr, &block[..n])?;
            Ok(n as u32)
        }
        FileKind::Snapshot(id) => {
            let start = at.unwrap_or(offset);
            let mut block = [0u8; CHUNK];
            let n = devproc::read_snapshot(id, start, &mut block[..(buf.len as usize).min(CHUNK)]);
            p.memory.write(buf.addr, &block[..n])?;
            if at.is_none() {
                p.files.set_offset(fd, start + n as u64)?;
            }
            Ok(n as u32)
        }
        FileKind::File(id) => {
            let start = at.unwrap_or(offset);
            let mut done = 0usize;
            let mut block = [0u8; CHUNK];
            let chunk = &mut block[..(buf.len as usize).min(CHUNK)];
            while done < buf.len as usize {
                let want = chunk.len().min(buf.len as usize - done);
                let n = env::with_vfs(|vfs| vfs.read_at(id, start + done as u64, &mut chunk[..want])).map_err(env::fs_errno)?;
                if n == 0 {
                    break;
                }
                // A fault part way gives the count read so far, as on
                // Linux (and the offset moves by that much); the error
                // only when nothing was read.
                match p.memory.write(buf.addr.wrapping_add(done as u32), &chunk[..n]) {
                    Ok(()) => done += n,
                    Err(e) if done == 0 => return Err(e),
                    Err(_) => break,
                }
            }
            if at.is_none() {
                p.files.set_offset(fd, start + done as u64)?;
            }
            Ok(done as u32)
        }
    }
}

/// Writes `buf` to `fd`, at `at` (pwrite) or at the file offset (the end with O_APPEND).
fn write_from(p: &mut Process, fd: u32, buf: UserSlice, at: Option<u64>) -> SysResult {
    let (kind, offset, flags) = p.files.status(fd)?;
    if !writable(flags) {
        return Err(Errno::EBADF);
    }
    match kind {
        FileKind::Console => {
            if env::console_stops_background_writes() {
                crate::linux::console_job_control(p, crate::linux::signal::SIGTTOU)?;
            }
            let mut block = [0u8; CHUNK];
            let chunk = &mut block[..(buf.len as usize).min(CHUNK)];
            let mut done = 0usize;
            while done < buf.len as usize {
                let n = chunk.len().min(buf.len as usize - done);
                p.memory.read(buf.addr + done as u32, &mut chunk[..n])?;
                env::console_write(&chunk[..n]);
                done += n;
            }
            Ok(done as u32)
        }
        FileKind::Dir(_) | FileKind::ProcDir(_) => Err(Errno::EISDIR),
        // Forwarded before it gets here (syscall/forward.rs).
        FileKind::Lkl(_) | FileKind::PipeRead(_) => Err(Errno::EBADF),
        // Linux's signalfd has no write method.
        FileKind::SignalFd(_) => Err(Errno::EINVAL),
        FileKind::PipeWrite(id) => {
            if at.is_some() {
                return Err(Errno::ESPIPE);
            }
            match pipe::write_user(id, &mut p.memory, buf.addr, buf.len as usize, flags & O_NONBLOCK != 0) {
                Err(Errno::EPIPE) => {
                    super::signal::raise(p, embox_abi::consts::signal::SIGPIPE);
                    Err(Errno::EPIPE)
                }
                other => other.map(|n| n as u32),
            }
        }
        FileKind::Socket(_) | FileKind::Unix(_) if at.is_some() => Err(Errno::ESPIPE),
        FileKind::Socket(_) | FileKind::Unix(_) => super::socket::write(p, fd, buf),
        FileKind::Device(Device::Full) => Err(Errno::ENOSPC),
        // Written bytes vanish (urandom's are not mixed into anything).
        FileKind::Device(_) => Ok(buf.len),
        // Linux's read-only /proc files have no write method.
        FileKind::Snapshot(_) => Err(Errno::EIO),
        FileKind::File(id) => {
            let start = match at {
                Some(pos) => pos,
                None if flags & O_APPEND != 0 => env::with_vfs(|vfs| vfs.metadata(id).size),
                None => offset,
            };
            // A fault or a full file system part way gives the count
            // written so far, as on Linux; the error only when nothing was.
            let mut block = [0u8; CHUNK];
            let chunk = &mut block[..(buf.len as usize).min(CHUNK)];
            let mut done = 0usize;
            while done < buf.len as usize {
                let n = chunk.len().min(buf.len as usize - done);
                let step = p.memory.read(buf.addr.wrapping_add(done as u32), &mut chunk[..n]).and_then(|()| {
                    env::with_vfs(|vfs| vfs.write_at(id, start + done as u64, &chunk[..n])).map_err(env::fs_errno)
                });
                match step {
                    Ok(written) => {
                        done += written;
                        if written < n {
                            break;
                        }
                    }
                    Err(e) if done == 0 => return Err(e),
                    Err(_) => break,
                }
            }
            if at.is_none() {
                p.files.set_offset(fd, start + done as u64)?;
            }
            Ok(done as u32)
        }
    }
}

/// read(fd, buf, count)
pub fn read(p: &mut Process, fd: Fd, buf: UserSlice) -> SysResult {
    read_into(p, fd.0, buf, None)
}

/// write(fd, buf, count)
pub fn write(p: &mut Process, fd: Fd, buf: UserSlice) -> SysResult {
    write_from(p, fd.0, buf, None)
}

/// A file offset or length: negative ones are EINVAL.
fn offset64(off: Off64) -> Result<u64, Errno> {
    if (off.0 as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    Ok(off.0)
}

/// pread64(fd, buf, count, offset_lo, offset_hi)
pub fn pread64(p: &mut Process, fd: Fd, buf: UserSlice, at: Off64) -> SysResult {
    let at = offset64(at)?;
    read_into(p, fd.0, buf, Some(at))
}

/// pwrite64(fd, buf, count, offset_lo, offset_hi)
pub fn pwrite64(p: &mut Process, fd: Fd, buf: UserSlice, at: Off64) -> SysResult {
    let at = offset64(at)?;
    write_from(p, fd.0, buf, Some(at))
}

fn iovecs(p: &mut Process, iov: UserPtr<Iovec>, count: u32) -> Result<alloc::vec::Vec<Iovec>, Errno> {
    if count > IOV_MAX {
        return Err(Errno::EINVAL);
    }
    let mut out = alloc::vec::Vec::with_capacity(count as usize);
    for i in 0..count {
        out.push(iov.at(i).read(&mut p.memory)?);
    }
    Ok(out)
}

/// readv(fd, iov, iovcnt)
pub fn readv(p: &mut Process, fd: Fd, iov: UserPtr<Iovec>, count: u32) -> SysResult {
    let mut total = 0u32;
    for iov in iovecs(p, iov, count)? {
        let n = read_into(p, fd.0, UserSlice::new(iov.iov_base, iov.iov_len), None)?;
        total += n;
        if n < iov.iov_len {
            break;
        }
    }
    Ok(total)
}

/// writev(fd, iov, iovcnt)
pub fn writev(p: &mut Process, fd: Fd, iov: UserPtr<Iovec>, count: u32) -> SysResult {
    let mut total = 0u32;
    for iov in iovecs(p, iov, count)? {
        total += write_from(p, fd.0, UserSlice::new(iov.iov_base, iov.iov_len), None)?;
    }
    Ok(total)
}

/// The new offset for lseek/_llseek; the console accepts any seek (the seed's `lseek(1, 0, 0)`).
fn seek(p: &mut Process, fd: u32, off: i64, whence: u32) -> Result<u64, Errno> {
    let (kind, cur, _) = p.files.status(fd)?;
    let base = match (whence, kind) {
        // signalfd: Linux's noop_llseek.
        (_, FileKind::Console | FileKind::Device(_) | FileKind::SignalFd(_)) => return Ok(0),
        (SEEK_END, FileKind::Snapshot(id)) => devproc::snapshot_len(id) as i64,
        (_, FileKind::PipeRead(_) | FileKind::PipeWrite(_)) => return Err(Errno::ESPIPE),
        (SEEK_SET, _) => 0,
        (SEEK_CUR, _) => cur as i64,
        (SEEK_END, FileKind::File(id)) => env::with_vfs(|vfs| vfs.metadata(id).size) as i64,
        (SEEK_END, FileKind::Dir(_)) => return Err(Errno::EINVAL),
        _ => return Err(Errno::EINVAL),
    };
    let new = base.checked_add(off).filter(|n| *n >= 0).ok_or(Errno::EINVAL)?;
    p.files.set_offset(fd, new as u64)?;
    Ok(new as u64)
}

/// lseek(fd, offset, whence)
pub fn lseek(p: &mut Process, fd: Fd, off: i32, whence: u32) -> SysResult {
    let new = seek(p, fd.0, off as i64, whence)?;
    u32::try_from(new).map_err(|_| Errno::EOVERFLOW)
}

/// _llseek(fd, offset_hi, offset_lo, loff_t *result, whence)
pub fn llseek(p: &mut Process, fd: Fd, off: Off64Hi, result: UserPtr<I64>, whence: u32) -> SysResult {
    let new = seek(p, fd.0, off.0 as i64, whence)?;
    result.write(&mut p.memory, &I64::new(new as i64))?;
    Ok(0)
}

/// fsync/fdatasync: everything is in memory, so any open descriptor is synced.
pub fn fsync(p: &mut Process, fd: Fd) -> SysResult {
    p.files.get(fd.0)?;
    Ok(0)
}

pub fn sync(_p: &mut Process) -> SysResult {
    Ok(0)
}

fn truncate_path(p: &mut Process, path: UserString, len: u64) -> SysResult {
    let path = path.read_path(&mut p.memory)?;
    let path = p.absolute(&path);
    let id = env::with_vfs(|vfs| {
        let id = vfs.lookup(&path)?;
        vfs.truncate(id, len).map(|()| id)
    })
    .map_err(env::fs_errno)?;
    crate::linux::memory::file_truncated(id, len);
    Ok(0)
}

fn truncate_fd(p: &mut Process, fd: u32, len: u64) -> SysResult {
    let f = p.files.get(fd)?;
    match f.kind {
        FileKind::File(id) if writable(f.flags) => {
            env::with_vfs(|vfs| vfs.truncate(id, len)).map_err(env::fs_errno)?;
            crate::linux::memory::file_truncated(id, len);
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// truncate(path, length)
pub fn truncate(p: &mut Process, path: UserString, len: i32) -> SysResult {
    truncate_path(p, path, len as i64 as u64)
}

/// ftruncate(fd, length)
pub fn ftruncate(p: &mut Process, fd: Fd, len: i32) -> SysResult {
    truncate_fd(p, fd.0, len as i64 as u64)
}

/// truncate64(path, length_lo, length_hi)
pub fn truncate64(p: &mut Process, path: UserString, len: Off64) -> SysResult {
    let len = offset64(len)?;
    truncate_path(p, path, len)
}

/// ftruncate64(fd, length_lo, length_hi)
pub fn ftruncate64(p: &mut Process, fd: Fd, len: Off64) -> SysResult {
    let len = offset64(len)?;
    truncate_fd(p, fd.0, len)
}

/// select(nfds, readfds, writefds, exceptfds, timeval): sockets report their
/// real state and a select over sockets waits up to the timeout for one;
/// other descriptors are always ready (files and the console never block
/// for long here). Returns the number of bits left set.
pub fn select(p: &mut Process, nfds: u32, read: FdSet, write: FdSet, except: FdSet, timeout: UserPtr<Timeval32>) -> SysResult {
    let timeout_ms = match timeout.read_opt(&mut p.memory)? {
        None => -1,
        Some(tv) => (i64::from(tv.tv_sec.max(0)) * 1000 + i64::from(tv.tv_usec.max(0)) / 1000).min(i64::from(i32::MAX)) as i32,
    };
    select_for(p, nfds, [read, write, except], timeout_ms)
}

/// An `fd_set` in user memory: `nfds` bits, rounded up to bytes.
type FdSet = UserPtr<u8>;

/// pselect6(nfds, readfds, writefds, exceptfds, timespec, sigmask): select
/// with a timespec (glibc's select); the signal mask argument is not applied.
pub fn pselect6(p: &mut Process, nfds: u32, read: FdSet, write: FdSet, except: FdSet, timeout: UserPtr<Timespec32>) -> SysResult {
    let timeout_ms = ppoll_timeout32(p, timeout)?;
    select_for(p, nfds, [read, write, except], timeout_ms)
}

/// pselect6_time64: pselect6 with a 64-bit timespec.
pub fn pselect6_time64(p: &mut Process, nfds: u32, read: FdSet, write: FdSet, except: FdSet, timeout: UserPtr<Timespec64>) -> SysResult {
    let timeout_ms = ppoll_timeout64(p, timeout)?;
    select_for(p, nfds, [read, write, except], timeout_ms)
}

/// The select family with the timeout in ms (-1: none); `sets` are the
/// read, write and exception sets.
fn select_for(p: &mut Process, nfds: u32, sets: [FdSet; 3], timeout_ms: i32) -> SysResult {
    let nfds = nfds.min(1024);
    let deadline = (timeout_ms >= 0).then(|| crate::hal::time::since_boot() + core::time::Duration::from_millis(timeout_ms as u64));
    let words = nfds.div_ceil(8) as usize;
    let mut asked = [vec![0u8; words], vec![0u8; words]];
    for (set, bits) in sets[..2].iter().zip(asked.iter_mut()) {
        if !set.is_null() {
            p.memory.read(set.addr, bits)?;
        }
    }
    // (fd, socket id, in the read set?, in the write set?)
    let mut sockets = alloc::vec::Vec::new();
    // (fd, LKL descriptor, AF_UNIX socket or pipe end, in the read set?,
    // in the write set?): asked again every millisecond while the call waits.
    let mut lkl_fds = alloc::vec::Vec::new();
    for fd in 0..nfds {
        let (r, w) = (asked[0][fd as usize / 8] & (1 << (fd % 8)) != 0, asked[1][fd as usize / 8] & (1 << (fd % 8)) != 0);
        match (r || w, p.files.get(fd).map(|f| f.kind)) {
            (true, Ok(FileKind::Socket(id))) => sockets.push((fd, id, r, w)),
            (true, Ok(kind @ (FileKind::Lkl(_) | FileKind::Unix(_) | FileKind::SignalFd(_) | FileKind::PipeRead(_) | FileKind::PipeWrite(_)))) => {
                lkl_fds.push((fd, kind, r, w))
            }
            _ => {}
        }
    }
    // The caller's pending signals, for signalfds (read before each scan).
    let pending = core::cell::Cell::new(0u64);
    // `with_lkl` false: LKL's descriptors count as not ready (a scan of ours
    // alone, while the thread is registered for a sleep in LKL).
    let scan = |out: &mut [alloc::vec::Vec<u8>; 2], with_lkl: bool| -> u32 {
        out[0].copy_from_slice(&asked[0]);
        out[1].copy_from_slice(&asked[1]);
        let readiness = sockets.iter().map(|&(fd, id, r, w)| {
            let ready = super::socket::readiness(id);
            (fd, r, w, ready.readable || ready.hangup || ready.error, ready.writable || ready.error)
        });
        let lkl_readiness = lkl_fds.iter().map(|&(fd, kind, r, w)| {
            let revents = match kind {
                FileKind::Lkl(n) if with_lkl => super::forward::poll_now(n, POLLIN | POLLOUT),
                FileKind::Unix(id) => unix_revents(id, POLLIN | POLLOUT),
                FileKind::SignalFd(mask) if pending.get() & mask != 0 => POLLIN,
                FileKind::PipeRead(_) | FileKind::PipeWrite(_) => pipe_revents(kind, POLLIN | POLLOUT),
                _ => 0,
            };
            (fd, r, w, revents & (POLLIN | POLLHUP | POLLERR) != 0, revents & (POLLOUT | POLLERR) != 0)
        });
        for (fd, r, w, readable, writable) in readiness.chain(lkl_readiness) {
            let (i, bit) = (fd as usize / 8, 1u8 << (fd % 8));
            if r && !readable {
                out[0][i] &= !bit;
            }
            if w && !writable {
                out[1][i] &= !bit;
            }
        }
        out.iter().flat_map(|b| b.iter()).map(|b| b.count_ones()).sum()
    };
    let mut out = [vec![0u8; words], vec![0u8; words]];
    pending.set(signal_pending(p));
    let mut ready = scan(&mut out, true);
    // Only LKL's descriptors: the call sleeps in LKL's own poll, woken by
    // LKL, the time being up or a signal (lkl::interrupt). LKL's mixed with
    // ours: asleep in LKL, also woken when one of ours changes
    // (wait::notify kicks it out of LKL: lkl::poll_wake_all). Only ours (sockets, AF_UNIX
    // sockets, pipes, signalfds): the call sleeps until one of them changes
    // (crate::wait), the time is up or a signal is to end it.
    let lkl_only: Option<alloc::vec::Vec<(i32, u16)>> = if sockets.is_empty() {
        lkl_fds
            .iter()
            .map(|&(_, kind, r, w)| match kind {
                FileKind::Lkl(n) => Some((n, if r { POLLIN } else { 0 } | if w { POLLOUT } else { 0 })),
                _ => None,
            })
            .collect()
    } else {
        None
    };
    // The LKL descriptors of the set.
    let lkl_part: alloc::vec::Vec<(i32, u16)> = lkl_fds
        .iter()
        .filter_map(|&(_, kind, r, w)| match kind {
            FileKind::Lkl(n) => Some((n, if r { POLLIN } else { 0 } | if w { POLLOUT } else { 0 })),
            _ => None,
        })
        .collect();
    let any_lkl = !lkl_part.is_empty();
    while ready == 0 && timeout_ms != 0 && any_lkl {
        let now = crate::hal::time::since_boot();
        if deadline.is_some_and(|d| now >= d) {
            break;
        }
        if crate::linux::interrupted() {
            return Err(Errno::EINTR);
        }
        match &lkl_only {
            Some(fds) => super::forward::poll_wait(fds, deadline.map(|d| d - now))?,
            // LKL's and ours: asleep in LKL, woken by LKL or by a change of ours.
            None => {
                let mut probe = [vec![0u8; words], vec![0u8; words]];
                let mut ours_ready = || {
                    pending.set(signal_pending(p));
                    scan(&mut probe, false) > 0
                };
                super::forward::poll_wait_mixed(&lkl_part, deadline.map(|d| d - now), &mut ours_ready)?
            }
        }
        pending.set(signal_pending(p));
        ready = scan(&mut out, true);
    }
    if ready == 0 && timeout_ms != 0 && !any_lkl && !(sockets.is_empty() && lkl_fds.is_empty()) {
        let mut probe = [vec![0u8; words], vec![0u8; words]];
        crate::wait::wait_interruptible(
            || {
                pending.set(signal_pending(p));
                scan(&mut probe, true) > 0
            },
            deadline,
        )?;
        pending.set(signal_pending(p));
        ready = scan(&mut out, true);
    }
    for (set, bits) in sets[..2].iter().zip(out.iter()) {
        if !set.is_null() {
            p.memory.write(set.addr, bits)?;
        }
    }
    if !sets[2].is_null() {
        p.memory.write(sets[2].addr, &vec![0u8; words])?;
    }
    Ok(ready)
}

/// The caller's pending signals (a signalfd's readiness).
fn signal_pending(p: &mut Process) -> u64 {
    crate::linux::pending_now(p) & !crate::linux::signal::UNBLOCKABLE
}

/// poll(fds, nfds, timeout): sockets, pipes and LKL's descriptors report
/// their real state (a poll on them waits up to `timeout` ms for one to
/// become ready: inside LKL's poll when LKL descriptors are among them,
/// woken by LKL or by a change of ours; on ours alone until one changes; ending with EINTR
/// when a signal is to end the caller);
/// every other valid descriptor is ready for what it asked.
pub fn poll(p: &mut Process, fds: UserPtr<PollFd>, n: u32, timeout: i32) -> SysResult {
    poll_for(p, fds, n, timeout)
}

/// A `struct pollfd` (fd, events, revents), as bytes.
type PollFd = [u8; 8];

fn poll_for(p: &mut Process, fds: UserPtr<PollFd>, n: u32, timeout: i32) -> SysResult {
    let n = n.min(1024);
    let deadline = (timeout >= 0).then(|| crate::hal::time::since_boot() + core::time::Duration::from_millis(timeout as u64));
    loop {
        let (ready, watched, lkl) = poll_scan(p, fds, n)?;
        if ready > 0 || timeout == 0 || (watched.is_empty() && !lkl) {
            return Ok(ready);
        }
        if lkl {
            let now = crate::hal::time::since_boot();
            if deadline.is_some_and(|d| now >= d) {
                return Ok(0);
            }
            if crate::linux::interrupted() {
                return Err(Errno::EINTR);
            }
            // Only LKL's descriptors: LKL's own poll sleeps until one is
            // ready, the time is up, or a signal ends it (lkl::interrupt).
            if let Some(lkl_fds) = lkl_only(p, fds, n)? {
                super::forward::poll_wait(&lkl_fds, deadline.map(|d| d - now))?;
                continue;
            }
            // LKL's and ours: asleep in LKL, woken by LKL or by a change of
            // ours (wait::notify kicks it out of LKL: lkl::poll_wake_all).
            let lkl_part = lkl_entries(p, fds, n)?;
            let mut ours_ready = || watched.iter().any(|&(kind, events)| revents_now(p, kind, events) != 0);
            super::forward::poll_wait_mixed(&lkl_part, deadline.map(|d| d - now), &mut ours_ready)?;
            continue;
        }
        // Only ours: sleep until one of them changes (crate::wait).
        let any_ready = || watched.iter().any(|&(kind, events)| revents_now(p, kind, events) != 0);
        if !crate::wait::wait_interruptible(any_ready, deadline)? {
            return poll_scan(p, fds, n).map(|(r, _, _)| r);
        }
    }
}

/// The revents of one of our objects that can change while poll waits.
fn revents_now(p: &mut Process, kind: FileKind, events: u16) -> u16 {
    match kind {
        FileKind::Socket(id) => socket_revents(id, events),
        FileKind::PipeRead(_) | FileKind::PipeWrite(_) => pipe_revents(kind, events),
        FileKind::Unix(id) => unix_revents(id, events),
        FileKind::SignalFd(mask) if super::signalfd::readable(p, mask) => events & POLLIN,
        _ => 0,
    }
}

/// The (LKL descriptor, events) of every entry when all of them (those
/// with fd >= 0) are LKL's; `None` when any is one of ours.
fn lkl_only(p: &mut Process, fds: UserPtr<PollFd>, n: u32) -> Result<Option<alloc::vec::Vec<(i32, u16)>>, Errno> {
    let (lkl, ours) = lkl_entries_and_ours(p, fds, n)?;
    Ok((!ours && !lkl.is_empty()).then_some(lkl))
}

/// The (LKL descriptor, events) of the entries that are LKL's.
fn lkl_entries(p: &mut Process, fds: UserPtr<PollFd>, n: u32) -> Result<alloc::vec::Vec<(i32, u16)>, Errno> {
    lkl_entries_and_ours(p, fds, n).map(|(lkl, _)| lkl)
}

/// The LKL entries, and whether any entry (fd >= 0) is not LKL's.
fn lkl_entries_and_ours(p: &mut Process, fds: UserPtr<PollFd>, n: u32) -> Result<(alloc::vec::Vec<(i32, u16)>, bool), Errno> {
    let mut out = alloc::vec::Vec::new();
    let mut ours = false;
    for i in 0..n {
        let entry = fds.at(i).read(&mut p.memory)?;
        let fd = i32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]);
        if fd < 0 {
            continue;
        }
        match p.files.get(fd as u32).map(|f| f.kind) {
            Ok(FileKind::Lkl(n)) => out.push((n, u16::from_le_bytes([entry[4], entry[5]]))),
            _ => ours = true,
        }
    }
    Ok((out, ours))
}

const POLLIN: u16 = 0x1;
const POLLOUT: u16 = 0x4;
const POLLHUP: u16 = 0x10;
const POLLERR: u16 = 0x8;

/// The revents of a socket in state `r` for the `events` asked.
fn readiness_revents(r: crate::net::socket::Readiness, events: u16) -> u16 {
    (if r.readable { POLLIN } else { 0 } | if r.writable { POLLOUT } else { 0 }) & events | if r.hangup { POLLHUP } else { 0 } | if r.error { POLLERR } else { 0 }
}

fn socket_revents(id: crate::net::socket::SockId, events: u16) -> u16 {
    readiness_revents(super::socket::readiness(id), events)
}

/// An AF_UNIX socket's revents (POLLHUP as Linux's unix_poll reports it).
fn unix_revents(id: crate::net::unix::UnixId, events: u16) -> u16 {
    readiness_revents(crate::net::unix::readiness(id), events)
}

/// A pipe end's revents: POLLIN with data (or no writer left to wait
/// for), POLLHUP once the writers are gone; POLLOUT with room for PIPE_BUF,
/// POLLERR once the readers are gone.
fn pipe_revents(kind: FileKind, events: u16) -> u16 {
    match kind {
        FileKind::PipeRead(id) => {
            let (readable, _, hangup, _) = pipe::state(id);
            let has_data = pipe::available(id) > 0;
            (if readable && (has_data || !hangup) { events & POLLIN } else { 0 }) | if hangup { POLLHUP } else { 0 }
        }
        FileKind::PipeWrite(id) => {
            let (_, writable, _, error) = pipe::state(id);
            (if writable { events & POLLOUT } else { 0 }) | if error { POLLERR } else { 0 }
        }
        _ => 0,
    }
}

/// One pass over the pollfd array: writes revents; returns the ready
/// count, our objects that can change while the call waits (with the
/// events asked), and whether any descriptor is LKL's.
type PollScan = (u32, alloc::vec::Vec<(FileKind, u16)>, bool);
fn poll_scan(p: &mut Process, fds: UserPtr<PollFd>, n: u32) -> Result<PollScan, Errno> {
    let mut ready = 0;
    let mut watched = alloc::vec::Vec::new();
    let mut lkl = false;
    for i in 0..n {
        let at = fds.at(i);
        let entry = at.read(&mut p.memory)?;
        let fd = i32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]);
        let events = u16::from_le_bytes([entry[4], entry[5]]);
        let revents: u16 = if fd < 0 {
            0
        } else {
            match p.files.get(fd as u32).map(|f| f.kind) {
                Err(_) => 0x20, // POLLNVAL
                // LKL's pipes, sockets and files: asked now, and again
                // every millisecond while the call waits (with ours) or
                // in LKL's own poll (LKL's alone).
                Ok(FileKind::Lkl(n)) => {
                    lkl = true;
                    super::forward::poll_now(n, events)
                }
                Ok(kind @ (FileKind::Socket(_) | FileKind::PipeRead(_) | FileKind::PipeWrite(_) | FileKind::Unix(_) | FileKind::SignalFd(_))) => {
                    watched.push((kind, events));
                    revents_now(p, kind, events)
                }
                Ok(_) => events & (POLLIN | POLLOUT),
            }
        };
        if revents != 0 {
            ready += 1;
        }
        p.memory.write(at.addr.wrapping_add(6), &revents.to_le_bytes())?;
    }
    Ok((ready, watched, lkl))
}

/// ppoll(fds, nfds, timespec, sigmask, sigsetsize); the mask is not applied.
pub fn ppoll32(p: &mut Process, fds: UserPtr<PollFd>, n: u32, timeout: UserPtr<Timespec32>) -> SysResult {
    let timeout = ppoll_timeout32(p, timeout)?;
    poll_for(p, fds, n, timeout)
}

/// ppoll_time64: ppoll with a 64-bit timespec.
pub fn ppoll64(p: &mut Process, fds: UserPtr<PollFd>, n: u32, timeout: UserPtr<Timespec64>) -> SysResult {
    let timeout = ppoll_timeout64(p, timeout)?;
    poll_for(p, fds, n, timeout)
}

fn ppoll_timeout32(p: &mut Process, ts: UserPtr<Timespec32>) -> Result<i32, Errno> {
    let ts = ts.read_opt(&mut p.memory)?;
    timeout_ms(ts.map(|ts| (i64::from(ts.tv_sec), i64::from(ts.tv_nsec))))
}

fn ppoll_timeout64(p: &mut Process, ts: UserPtr<Timespec64>) -> Result<i32, Errno> {
    let ts = ts.read_opt(&mut p.memory)?;
    timeout_ms(ts.map(|ts| (ts.tv_sec.get(), ts.tv_nsec.get())))
}

/// A ppoll/pselect timespec (seconds, nanoseconds) in ms; NULL = -1 (forever).
fn timeout_ms(ts: Option<(i64, i64)>) -> Result<i32, Errno> {
    let Some((sec, nsec)) = ts else {
        return Ok(-1);
    };
    if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
        return Err(Errno::EINVAL);
    }
    Ok((sec * 1000 + nsec / 1_000_000).min(i64::from(i32::MAX)) as i32)
}

/// What serves a sendfile once its offset is read: `(out_fd, in_fd, offset,
/// count)` with `offset` None for the input's own position; the bytes sent
/// and the offset after them (meaningful with an offset). The native core is
/// [`sendfile_at`], the forwarded one `forward::sendfile_at`.
pub(super) type SendfileCore = fn(&mut Process, Fd, Fd, Option<i64>, usize) -> Result<(u32, i64), Errno>;

/// sendfile64(out_fd, in_fd, loff_t *offset, count) over `core`: the offset
/// is read first and written back after, even when the call fails, as Linux
/// does (a read-only offset is EFAULT then).
pub(super) fn sendfile64_with(p: &mut Process, out_fd: Fd, in_fd: Fd, offset_ptr: UserPtr<I64>, count: usize, core: SendfileCore) -> SysResult {
    let Some(offset) = offset_ptr.read_opt(&mut p.memory)?.map(|off| off.get()) else {
        return core(p, out_fd, in_fd, None, count).map(|(done, _)| done);
    };
    let sent = sendfile_in_range(p, out_fd, in_fd, offset, count, None).and_then(|count| core(p, out_fd, in_fd, Some(offset), count));
    offset_ptr.write(&mut p.memory, &I64::new(sent.map_or(offset, |(_, end)| end)))?;
    sent.map(|(done, _)| done)
}

/// Linux's `MAX_RW_COUNT` (`INT_MAX` rounded down to a page): the most one
/// read or write moves.
pub(super) const MAX_RW_COUNT: usize = 0x7fff_f000;

/// Linux's `MAX_NON_LFS`: the end of a file that a 32-bit `off_t` reaches.
const MAX_NON_LFS: i64 = i32::MAX as i64;

/// sendfile(out_fd, in_fd, off_t *offset, count), i386's old call with a
/// 32-bit offset, over `core`: as Linux's, an offset at or past 2^31 - 1 is
/// EOVERFLOW and a count that would pass it is cut to end there. Without an
/// offset it is sendfile64 (the input's own position has no such limit).
pub(super) fn sendfile32_with(p: &mut Process, out_fd: Fd, in_fd: Fd, offset_ptr: UserPtr<I32>, count: usize, core: SendfileCore) -> SysResult {
    let Some(offset) = offset_ptr.read_opt(&mut p.memory)? else {
        return core(p, out_fd, in_fd, None, count).map(|(done, _)| done);
    };
    let pos = i64::from(offset.get());
    let sent = sendfile_in_range(p, out_fd, in_fd, pos, count, Some(MAX_NON_LFS)).and_then(|count| core(p, out_fd, in_fd, Some(pos), count));
    // `end` is at most MAX_NON_LFS: it fits.
    offset_ptr.write(&mut p.memory, &I32::new(sent.map_or(pos, |(_, end)| end) as i32))?;
    sent.map(|(done, _)| done)
}

/// The count a sendfile from offset `pos` may move (cut to MAX_RW_COUNT,
/// and to end at `max` when given), or the error Linux's `do_sendfile`
/// gives for an offset out of range: EINVAL below 0, EOVERFLOW at or past
/// `max`. Linux checks the descriptors around those two (the input before
/// EINVAL, the output before EOVERFLOW), and the cores check them only when
/// they move bytes, so an offset out of range asks for the descriptors'
/// errors first ([`sendfile_fd_error`]). Nothing more on the way of a
/// sendfile in range.
fn sendfile_in_range(p: &mut Process, out_fd: Fd, in_fd: Fd, pos: i64, count: usize, max: Option<i64>) -> Result<usize, Errno> {
    let count = count.min(MAX_RW_COUNT);
    if pos < 0 {
        return Err(sendfile_fd_error(p, out_fd, in_fd, false).unwrap_or(Errno::EINVAL));
    }
    match max {
        Some(max) if pos >= max => Err(sendfile_fd_error(p, out_fd, in_fd, true).unwrap_or(Errno::EOVERFLOW)),
        Some(max) if pos + count as i64 > max => Ok((max - pos) as usize),
        _ => Ok(count),
    }
}

/// The first error of Linux's descriptor checks in a sendfile from an
/// offset: the input not open or not readable (EBADF), not readable at an
/// offset (a pipe or socket: ESPIPE); then, with `output`, the output not
/// open or not writable (EBADF). `None` when they pass.
fn sendfile_fd_error(p: &mut Process, out_fd: Fd, in_fd: Fd, output: bool) -> Option<Errno> {
    match sendfile_access(p, in_fd.0) {
        Err(e) => return Some(e),
        Ok((flags, _)) if !readable(flags) => return Some(Errno::EBADF),
        Ok((_, false)) => return Some(Errno::ESPIPE),
        Ok(_) => {}
    }
    match sendfile_access(p, out_fd.0) {
        _ if !output => None,
        Err(e) => Some(e),
        Ok((flags, _)) => (!writable(flags)).then_some(Errno::EBADF),
    }
}

/// Descriptor `fd`'s access mode and whether it can be read at an offset
/// (Linux's FMODE_PREAD: not a pipe, socket or tty); LKL's view for an LKL
/// descriptor.
fn sendfile_access(p: &mut Process, fd: u32) -> Result<(u32, bool), Errno> {
    match p.files.status(fd)? {
        (FileKind::Lkl(n), _, _) => super::forward::access(n),
        (kind, _, flags) => Ok((flags, matches!(kind, FileKind::File(_) | FileKind::Dir(_) | FileKind::Device(_) | FileKind::Snapshot(_)))),
    }
}

/// sendfile64 natively ([`sendfile_at`]).
pub fn sendfile64(p: &mut Process, out_fd: Fd, in_fd: Fd, offset_ptr: UserPtr<I64>, count: usize) -> SysResult {
    sendfile64_with(p, out_fd, in_fd, offset_ptr, count, sendfile_at)
}

/// sendfile (i386's 32-bit offset) natively ([`sendfile_at`]).
pub fn sendfile(p: &mut Process, out_fd: Fd, in_fd: Fd, offset_ptr: UserPtr<I32>, count: usize) -> SysResult {
    sendfile32_with(p, out_fd, in_fd, offset_ptr, count, sendfile_at)
}

/// Copies from a file to any descriptor through a kernel buffer. With
/// `offset`, reads there and leaves the input's file offset alone.
pub(super) fn sendfile_at(p: &mut Process, out_fd: Fd, in_fd: Fd, offset: Option<i64>, count: usize) -> Result<(u32, i64), Errno> {
    let (out_fd, in_fd) = (out_fd.0, in_fd.0);
    let (id, file_offset, flags) = match p.files.get(in_fd)? {
        crate::linux::files::OpenFile { kind: FileKind::File(id), offset, flags, .. } => (id, offset, flags),
        _ => return Err(Errno::EINVAL),
    };
    if !readable(flags) {
        return Err(Errno::EBADF);
    }
    let out = p.files.get(out_fd)?;
    if !writable(out.flags) {
        return Err(Errno::EBADF);
    }
    let start = match offset {
        Some(off) if off < 0 => return Err(Errno::EINVAL),
        Some(off) => off as u64,
        None => file_offset,
    };
    let mut block = [0u8; CHUNK];
    let chunk = &mut block[..count.min(CHUNK)];
    let mut done = 0usize;
    while done < count {
        let want = chunk.len().min(count - done);
        let n = env::with_vfs(|vfs| vfs.read_at(id, start + done as u64, &mut chunk[..want])).map_err(env::fs_errno)?;
        if n == 0 {
            break;
        }
        // A write that stops after some bytes gives the count so far, as
        // Linux; its error only when nothing went.
        let wrote = match write_kernel_bytes(p, out_fd, &chunk[..n]) {
            Ok(wrote) => wrote,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        done += wrote;
        if wrote < n {
            break;
        }
    }
    if offset.is_none() {
        p.files.set_offset(in_fd, start + done as u64)?;
    }
    Ok((done as u32, (start + done as u64) as i64))
}

/// Writes kernel bytes to `fd` at its offset (the console, or a file);
/// returns how many went (fewer than `data` from a non-blocking pipe or
/// socket with less room, or a file system filling up: ENOSPC only when
/// none did).
pub(super) fn write_kernel_bytes(p: &mut Process, fd: u32, data: &[u8]) -> Result<usize, Errno> {
    let (kind, offset, flags) = p.files.status(fd)?;
    let nonblocking = flags & O_NONBLOCK != 0;
    match kind {
        FileKind::Console => {
            env::console_write(data);
            Ok(data.len())
        }
        FileKind::Device(Device::Full) => Err(Errno::ENOSPC),
        FileKind::Device(_) => Ok(data.len()),
        FileKind::Snapshot(_) => Err(Errno::EIO),
        FileKind::Dir(_) | FileKind::ProcDir(_) => Err(Errno::EISDIR),
        FileKind::Lkl(_) | FileKind::PipeRead(_) => Err(Errno::EBADF),
        FileKind::SignalFd(_) => Err(Errno::EINVAL),
        FileKind::PipeWrite(id) => pipe::write(id, data, nonblocking),
        FileKind::Socket(id) => crate::net::socket::send(id, data, None, false),
        FileKind::Unix(id) => crate::net::unix::send(id, data, None, alloc::vec::Vec::new(), nonblocking).0,
        FileKind::File(id) => {
            let at = if flags & O_APPEND != 0 { env::with_vfs(|vfs| vfs.metadata(id).size) } else { offset };
            let written = env::with_vfs(|vfs| vfs.write_at(id, at, data)).map_err(env::fs_errno)?;
            p.files.set_offset(fd, at + written as u64)?;
            if written == 0 && !data.is_empty() {
                return Err(Errno::ENOSPC);
            }
            Ok(written)
        }
    }
}
