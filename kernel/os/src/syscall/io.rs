//! Reading and writing: read, write, readv, writev, pread64, pwrite64,
//! lseek, _llseek, fsync/fdatasync/sync, truncate, and the readiness calls
//! (select, poll, ppoll) that report every descriptor ready.

use alloc::vec;

use embox_abi::consts::open::{O_ACCMODE, O_APPEND, O_RDONLY, O_WRONLY};
use embox_abi::consts::seek::{SEEK_CUR, SEEK_END, SEEK_SET};
use embox_abi::errno::SysResult;
use embox_abi::types::Iovec;
use embox_abi::Errno;
use zerocopy::little_endian::I64;

use super::user::{UserPtr, UserSlice, UserString};
use super::Args;
use crate::linux::env;
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
    let (kind, offset, flags) = {
        let f = p.files.get(fd)?;
        (f.kind, f.offset, f.flags)
    };
    if !readable(flags) {
        return Err(Errno::EBADF);
    }
    match kind {
        FileKind::Console => {
            if at.is_some() {
                return Err(Errno::ESPIPE);
            }
            let mut chunk = vec![0u8; (buf.len as usize).min(CHUNK)];
            let n = env::console_read(&mut chunk);
            p.memory.write(buf.addr, &chunk[..n])?;
            Ok(n as u32)
        }
        FileKind::Dir(_) => Err(Errno::EISDIR),
        // Forwarded before it gets here (syscall/forward.rs).
        FileKind::Lkl(_) => Err(Errno::EBADF),
        FileKind::File(id) => {
            let start = at.unwrap_or(offset);
            let mut done = 0usize;
            let mut chunk = vec![0u8; (buf.len as usize).min(CHUNK)];
            while done < buf.len as usize {
                let want = chunk.len().min(buf.len as usize - done);
                let n = env::with_vfs(|vfs| vfs.read_at(id, start + done as u64, &mut chunk[..want])).map_err(env::fs_errno)?;
                if n == 0 {
                    break;
                }
                p.memory.write(buf.addr + done as u32, &chunk[..n])?;
                done += n;
            }
            if at.is_none() {
                p.files.get_mut(fd)?.offset = start + done as u64;
            }
            Ok(done as u32)
        }
    }
}

/// Writes `buf` to `fd`, at `at` (pwrite) or at the file offset (the end with O_APPEND).
fn write_from(p: &mut Process, fd: u32, buf: UserSlice, at: Option<u64>) -> SysResult {
    let (kind, offset, flags) = {
        let f = p.files.get(fd)?;
        (f.kind, f.offset, f.flags)
    };
    if !writable(flags) {
        return Err(Errno::EBADF);
    }
    let mut chunk = vec![0u8; (buf.len as usize).min(CHUNK)];
    match kind {
        FileKind::Console => {
            let mut done = 0usize;
            while done < buf.len as usize {
                let n = chunk.len().min(buf.len as usize - done);
                p.memory.read(buf.addr + done as u32, &mut chunk[..n])?;
                env::console_write(&chunk[..n]);
                done += n;
            }
            Ok(done as u32)
        }
        FileKind::Dir(_) => Err(Errno::EISDIR),
        // Forwarded before it gets here (syscall/forward.rs).
        FileKind::Lkl(_) => Err(Errno::EBADF),
        FileKind::File(id) => {
            let start = match at {
                Some(pos) => pos,
                None if flags & O_APPEND != 0 => env::with_vfs(|vfs| vfs.metadata(id).size),
                None => offset,
            };
            let mut done = 0usize;
            while done < buf.len as usize {
                let n = chunk.len().min(buf.len as usize - done);
                p.memory.read(buf.addr + done as u32, &mut chunk[..n])?;
                env::with_vfs(|vfs| vfs.write_at(id, start + done as u64, &chunk[..n])).map_err(env::fs_errno)?;
                done += n;
            }
            if at.is_none() {
                p.files.get_mut(fd)?.offset = start + done as u64;
            }
            Ok(done as u32)
        }
    }
}

pub fn read(p: &mut Process, a: &Args) -> SysResult {
    read_into(p, a[0], UserSlice::new(a[1], a[2]), None)
}

pub fn write(p: &mut Process, a: &Args) -> SysResult {
    write_from(p, a[0], UserSlice::new(a[1], a[2]), None)
}

fn offset64(lo: u32, hi: u32) -> Result<u64, Errno> {
    let off = ((hi as u64) << 32 | lo as u64) as i64;
    if off < 0 {
        return Err(Errno::EINVAL);
    }
    Ok(off as u64)
}

/// pread64(fd, buf, count, offset_lo, offset_hi)
pub fn pread64(p: &mut Process, a: &Args) -> SysResult {
    let at = offset64(a[3], a[4])?;
    read_into(p, a[0], UserSlice::new(a[1], a[2]), Some(at))
}

pub fn pwrite64(p: &mut Process, a: &Args) -> SysResult {
    let at = offset64(a[3], a[4])?;
    write_from(p, a[0], UserSlice::new(a[1], a[2]), Some(at))
}

fn iovecs(p: &mut Process, addr: u32, count: u32) -> Result<alloc::vec::Vec<Iovec>, Errno> {
    if count > IOV_MAX {
        return Err(Errno::EINVAL);
    }
    let mut out = alloc::vec::Vec::with_capacity(count as usize);
    for i in 0..count {
        out.push(UserPtr::<Iovec>::new(addr + i * 8).read(&mut p.memory)?);
    }
    Ok(out)
}

pub fn readv(p: &mut Process, a: &Args) -> SysResult {
    let mut total = 0u32;
    for iov in iovecs(p, a[1], a[2])? {
        let n = read_into(p, a[0], UserSlice::new(iov.iov_base, iov.iov_len), None)?;
        total += n;
        if n < iov.iov_len {
            break;
        }
    }
    Ok(total)
}

pub fn writev(p: &mut Process, a: &Args) -> SysResult {
    let mut total = 0u32;
    for iov in iovecs(p, a[1], a[2])? {
        total += write_from(p, a[0], UserSlice::new(iov.iov_base, iov.iov_len), None)?;
    }
    Ok(total)
}

/// The new offset for lseek/_llseek; the console accepts any seek (the seed's `lseek(1, 0, 0)`).
fn seek(p: &mut Process, fd: u32, off: i64, whence: u32) -> Result<u64, Errno> {
    let (kind, cur) = {
        let f = p.files.get(fd)?;
        (f.kind, f.offset)
    };
    let base = match (whence, kind) {
        (_, FileKind::Console) => return Ok(0),
        (SEEK_SET, _) => 0,
        (SEEK_CUR, _) => cur as i64,
        (SEEK_END, FileKind::File(id)) => env::with_vfs(|vfs| vfs.metadata(id).size) as i64,
        (SEEK_END, FileKind::Dir(_)) => return Err(Errno::EINVAL),
        _ => return Err(Errno::EINVAL),
    };
    let new = base.checked_add(off).filter(|n| *n >= 0).ok_or(Errno::EINVAL)?;
    p.files.get_mut(fd)?.offset = new as u64;
    Ok(new as u64)
}

pub fn lseek(p: &mut Process, a: &Args) -> SysResult {
    let new = seek(p, a[0], a[1] as i32 as i64, a[2])?;
    u32::try_from(new).map_err(|_| Errno::EOVERFLOW)
}

/// _llseek(fd, offset_hi, offset_lo, loff_t *result, whence)
pub fn llseek(p: &mut Process, a: &Args) -> SysResult {
    let off = ((a[1] as u64) << 32 | a[2] as u64) as i64;
    let new = seek(p, a[0], off, a[4])?;
    UserPtr::<I64>::new(a[3]).write(&mut p.memory, &I64::new(new as i64))?;
    Ok(0)
}

/// fsync/fdatasync: everything is in memory, so any open descriptor is synced.
pub fn fsync(p: &mut Process, a: &Args) -> SysResult {
    p.files.get(a[0])?;
    Ok(0)
}

pub fn sync(_p: &mut Process, _a: &Args) -> SysResult {
    Ok(0)
}

fn truncate_path(p: &mut Process, path: u32, len: u64) -> SysResult {
    let path = UserString(path).read_path(&mut p.memory)?;
    let path = p.absolute(&path);
    env::with_vfs(|vfs| {
        let id = vfs.lookup(&path)?;
        vfs.truncate(id, len)
    })
    .map_err(env::fs_errno)?;
    Ok(0)
}

fn truncate_fd(p: &mut Process, fd: u32, len: u64) -> SysResult {
    let f = p.files.get(fd)?;
    match f.kind {
        FileKind::File(id) if writable(f.flags) => {
            env::with_vfs(|vfs| vfs.truncate(id, len)).map_err(env::fs_errno)?;
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

pub fn truncate(p: &mut Process, a: &Args) -> SysResult {
    truncate_path(p, a[0], a[1] as i32 as i64 as u64)
}

pub fn ftruncate(p: &mut Process, a: &Args) -> SysResult {
    truncate_fd(p, a[0], a[1] as i32 as i64 as u64)
}

pub fn truncate64(p: &mut Process, a: &Args) -> SysResult {
    let len = offset64(a[1], a[2])?;
    truncate_path(p, a[0], len)
}

pub fn ftruncate64(p: &mut Process, a: &Args) -> SysResult {
    let len = offset64(a[1], a[2])?;
    truncate_fd(p, a[0], len)
}

/// select: every descriptor asked about is ready (files and the console
/// never block for long here); returns the number of descriptors given.
pub fn select(p: &mut Process, a: &Args) -> SysResult {
    let nfds = a[0].min(1024);
    let mut ready = 0;
    for set in [a[1], a[2]] {
        if set == 0 {
            continue;
        }
        let mut bits = vec![0u8; nfds.div_ceil(8) as usize];
        p.memory.read(set, &mut bits)?;
        ready += bits.iter().map(|b| b.count_ones()).sum::<u32>();
    }
    if a[3] != 0 {
        let bits = vec![0u8; nfds.div_ceil(8) as usize];
        p.memory.write(a[3], &bits)?;
    }
    Ok(ready)
}

/// poll(fds, nfds, timeout): marks every valid descriptor ready for what it asked.
pub fn poll(p: &mut Process, a: &Args) -> SysResult {
    let (addr, n) = (a[0], a[1].min(1024));
    let mut ready = 0;
    for i in 0..n {
        let at = addr + i * 8;
        let mut entry = [0u8; 8];
        p.memory.read(at, &mut entry)?;
        let fd = i32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]);
        let events = u16::from_le_bytes([entry[4], entry[5]]);
        let revents: u16 = if fd < 0 {
            0
        } else if p.files.get(fd as u32).is_err() {
            0x20 // POLLNVAL
        } else {
            events & (0x1 | 0x4) // POLLIN | POLLOUT
        };
        if revents != 0 {
            ready += 1;
        }
        p.memory.write(at + 6, &revents.to_le_bytes())?;
    }
    Ok(ready)
}

pub fn ppoll32(p: &mut Process, a: &Args) -> SysResult {
    poll(p, a)
}

pub fn ppoll64(p: &mut Process, a: &Args) -> SysResult {
    poll(p, a)
}

/// sendfile64(out_fd, in_fd, loff_t *offset, count): copies from a file to
/// any descriptor through a kernel buffer. With `offset`, reads there and
/// updates it instead of the input's file offset.
pub fn sendfile64(p: &mut Process, a: &Args) -> SysResult {
    let (out_fd, in_fd, offset_ptr, count) = (a[0], a[1], UserPtr::<I64>::new(a[2]), a[3] as usize);
    let (id, file_offset, flags) = match *p.files.get(in_fd)? {
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
    let start = match offset_ptr.read_opt(&mut p.memory)? {
        Some(off) if off.get() < 0 => return Err(Errno::EINVAL),
        Some(off) => off.get() as u64,
        None => file_offset,
    };
    let mut chunk = vec![0u8; count.min(CHUNK)];
    let mut done = 0usize;
    while done < count {
        let want = chunk.len().min(count - done);
        let n = env::with_vfs(|vfs| vfs.read_at(id, start + done as u64, &mut chunk[..want])).map_err(env::fs_errno)?;
        if n == 0 {
            break;
        }
        write_kernel_bytes(p, out_fd, &chunk[..n])?;
        done += n;
    }
    match offset_ptr.is_null() {
        true => p.files.get_mut(in_fd)?.offset = start + done as u64,
        false => offset_ptr.write(&mut p.memory, &I64::new((start + done as u64) as i64))?,
    }
    Ok(done as u32)
}

/// Writes kernel bytes to `fd` at its offset (the console, or a file).
pub(super) fn write_kernel_bytes(p: &mut Process, fd: u32, data: &[u8]) -> Result<(), Errno> {
    let (kind, offset, flags) = {
        let f = p.files.get(fd)?;
        (f.kind, f.offset, f.flags)
    };
    match kind {
        FileKind::Console => env::console_write(data),
        FileKind::Dir(_) => return Err(Errno::EISDIR),
        FileKind::Lkl(_) => return Err(Errno::EBADF),
        FileKind::File(id) => {
            let at = if flags & O_APPEND != 0 { env::with_vfs(|vfs| vfs.metadata(id).size) } else { offset };
            env::with_vfs(|vfs| vfs.write_at(id, at, data)).map_err(env::fs_errno)?;
            p.files.get_mut(fd)?.offset = at + data.len() as u64;
        }
    }
    Ok(())
}
