//! Memory: brk, mmap2 (and the old struct-argument mmap), munmap, mprotect,
//! madvise, mremap, msync. Private file mappings are copies of the file;
//! shared ones of our own files map the file's pages themselves (writes
//! reach the file and every other mapping at once: msync has nothing to
//! write back). Shared writable mappings of LKL's files are ENODEV. A
//! mapping of one of our files past the page holding its end is SIGBUS.
//! Shared anonymous memory stays shared across fork.


use embox_abi::consts::mman::*;
use embox_abi::consts::open::{O_ACCMODE, O_RDWR};
use embox_abi::errno::SysResult;
use embox_abi::Errno;
use embox_elf::Perms;

use super::args::Fd;
use super::user::UserPtr;
use crate::linux::devproc::Device;
use crate::linux::env;
use crate::linux::files::FileKind;
use crate::linux::memory::{page_ceil, Backing, Placement};
use crate::linux::process::Process;

const MADV_DONTNEED: u32 = 4;
const MREMAP_MAYMOVE: u32 = 1;
const MREMAP_FIXED: u32 = 2;
const MREMAP_DONTUNMAP: u32 = 4;

fn perms(prot: u32) -> Perms {
    Perms { read: prot & PROT_READ != 0, write: prot & PROT_WRITE != 0, exec: prot & PROT_EXEC != 0 }
}

/// brk(addr). Addresses of areas (here, and mmap's, munmap's, ...) are
/// plain numbers: the kernel never copies through them.
pub fn brk(p: &mut Process, addr: u32) -> SysResult {
    Ok(p.memory.set_brk(addr))
}

/// The common part of mmap2 and mmap: `offset` in bytes.
fn map(p: &mut Process, addr: u32, len: u32, prot: u32, flags: u32, fd: u32, offset: u64) -> SysResult {
    let kind = flags & (MAP_SHARED | MAP_PRIVATE);
    if kind == 0 || kind == (MAP_SHARED | MAP_PRIVATE) || len == 0 {
        return Err(Errno::EINVAL);
    }
    if flags & MAP_ANONYMOUS != 0 {
        return place_anonymous(p, addr, len, prot, flags);
    }
    // Private mappings are copies: the pages are read from our file tree,
    // or through LKL for an LKL file.
    let file = p.files.get(fd)?;
    let source = match file.kind {
        kind @ (FileKind::File(_) | FileKind::Lkl(_)) => kind,
        // A mapping of /dev/zero is anonymous memory, private or shared
        // (old programs allocate that way).
        FileKind::Device(Device::Zero) => return place_anonymous(p, addr, len, prot, flags),
        FileKind::Dir(_)
        | FileKind::Console
        | FileKind::Socket(_)
        | FileKind::Unix(_)
        | FileKind::PipeRead(_)
        | FileKind::PipeWrite(_)
        | FileKind::Device(_)
        | FileKind::Snapshot(_)
        | FileKind::ProcDir(_)
        | FileKind::SignalFd(_) => return Err(Errno::ENODEV),
    };
    if kind == MAP_SHARED && prot & PROT_WRITE != 0 {
        if !matches!(source, FileKind::File(_)) {
            return Err(Errno::ENODEV);
        }
        if file.flags & O_ACCMODE != O_RDWR {
            return Err(Errno::EACCES);
        }
    }
    if offset % 4096 != 0 {
        return Err(Errno::EINVAL);
    }
    let start = place(p, addr, len, prot, flags)?;
    // Named after the file (its real path for one of ours) with its offset,
    // for /proc/self/maps.
    let (path, node) = match source {
        FileKind::File(id) => (env::with_vfs(|vfs| vfs.path_of(id)).unwrap_or(file.path), Some(id)),
        _ => (file.path, None),
    };
    let backing = Backing { path: path.into(), page: (offset / 4096) as u32, node };
    p.memory.set_file(start, len, Some(backing), kind == MAP_SHARED)?;
    if let (MAP_SHARED, FileKind::File(id)) = (kind, source) {
        return map_file_pages(p, start, len, id, offset);
    }
    // A copy that fails half-way (no frame left, a read error) unmaps the
    // area: the pages copied so far must not stay with the process (the
    // long fuzz run's seed 0xdecaf kept 117 MiB that way after an mmap2 of
    // 1 GiB of a file failed with ENOMEM, then died of it).
    copy_file_pages(p, start, len, source, offset).inspect_err(|_| {
        let _ = p.memory.unmap(start, len);
    })
}

/// Copies the file into the fresh private mapping at `start` (up to `len`
/// bytes or the file's end); returns `start`.
fn copy_file_pages(p: &mut Process, start: u32, len: u32, source: FileKind, offset: u64) -> SysResult {
    let mut chunk = [0u8; 4096];
    let mut done = 0u32;
    while done < len {
        let n = match source {
            FileKind::File(id) => env::with_vfs(|vfs| vfs.read_at(id, offset + done as u64, &mut chunk)).map_err(env::fs_errno)?,
            FileKind::Lkl(lkl_fd) => super::forward::pread(lkl_fd, offset + done as u64, &mut chunk)?,
            _ => 0,
        };
        if n == 0 {
            break;
        }
        let n = n.min((len - done) as usize);
        p.memory.load_bytes(start + done, &chunk[..n])?;
        done += n as u32;
    }
    Ok(start)
}

/// Maps the pages of file `id` from `offset` that lie within its length
/// into `[start, start+len)` (a shared mapping). The pages past the one
/// holding the file's end stay unmapped: touching them is SIGBUS, unless
/// the file has grown by then (`ProcessMemory::resolve_fault`). Returns
/// `start`.
fn map_file_pages(p: &mut Process, start: u32, len: u32, id: embox_fs::NodeId, offset: u64) -> SysResult {
    let size = env::with_vfs(|vfs| vfs.metadata(id).size);
    let pages = size.saturating_sub(offset).div_ceil(4096).min(u64::from(page_ceil(len) / 4096)) as u32;
    let first = (offset / 4096) as u32;
    for i in 0..pages {
        let frame = env::with_vfs(|vfs| vfs.page_mut(id, first + i).map(|page| page.share()));
        let mapped = match frame {
            Ok(Some(frame)) => p.memory.map_frame(start + i * 4096, frame),
            Ok(None) | Err(_) => Err(Errno::ENOMEM),
        };
        if let Err(e) = mapped {
            let _ = p.memory.unmap(start, len);
            return Err(e);
        }
    }
    Ok(start)
}

/// Anonymous memory: a fresh area, which a MAP_SHARED one stays shared
/// with the children the process forks (a shared object's pages, made at
/// the first touch on either side): their writes and the parent's meet.
fn place_anonymous(p: &mut Process, addr: u32, len: u32, prot: u32, flags: u32) -> SysResult {
    let start = place(p, addr, len, prot, flags)?;
    if flags & MAP_SHARED != 0 {
        p.memory.share_anonymous(start, len)?;
    }
    Ok(start)
}

/// A fresh zero-filled area: at `addr` (MAP_FIXED replaces what is there,
/// MAP_FIXED_NOREPLACE fails with EEXIST instead), else near the hint or
/// wherever there is room.
fn place(p: &mut Process, addr: u32, len: u32, prot: u32, flags: u32) -> SysResult {
    if flags & MAP_FIXED != 0 {
        return p.memory.map_anonymous(addr, len, perms(prot), true);
    }
    let start = p.memory.map_anonymous(addr, len, perms(prot), false)?;
    if flags & MAP_FIXED_NOREPLACE != 0 && start != addr {
        p.memory.unmap(start, len)?;
        return Err(Errno::EEXIST);
    }
    Ok(start)
}

/// mmap2(addr, len, prot, flags, fd, pgoff): offset in 4 KiB pages.
pub fn mmap2(p: &mut Process, addr: u32, len: u32, prot: u32, flags: u32, fd: Fd, pgoff: u32) -> SysResult {
    map(p, addr, len, prot, flags, fd.0, pgoff as u64 * 4096)
}

/// The old mmap: one pointer to the six arguments, offset in bytes.
pub fn old_mmap(p: &mut Process, args: UserPtr<[u32; 6]>) -> SysResult {
    let [addr, len, prot, flags, fd, offset] = args.read(&mut p.memory)?;
    map(p, addr, len, prot, flags, fd, offset as u64)
}

/// munmap(addr, len)
pub fn munmap(p: &mut Process, addr: u32, len: u32) -> SysResult {
    p.memory.unmap(addr, len).map(|_| 0)
}

/// mprotect(addr, len, prot)
pub fn mprotect(p: &mut Process, addr: u32, len: u32, prot: u32) -> SysResult {
    p.memory.protect(addr, len, perms(prot)).map(|_| 0)
}

/// madvise: MADV_DONTNEED drops the pages (they read as zero after);
/// every other advice is accepted and ignored.
pub fn madvise(p: &mut Process, addr: u32, len: u32, advice: u32) -> SysResult {
    if addr % 4096 != 0 {
        return Err(Errno::EINVAL);
    }
    if advice == MADV_DONTNEED {
        p.memory.discard(addr, len)?;
    }
    Ok(0)
}

/// mremap(old, old_len, new_len, flags, new_addr): shrinks in place, or
/// moves the pages to a new area with MREMAP_MAYMOVE: at `new_addr` with
/// MREMAP_FIXED (what was there is unmapped first), leaving the old area
/// mapped and empty with MREMAP_DONTUNMAP (same lengths only), with
/// Linux's EINVALs for the combinations it refuses. An `old_len` of 0
/// is EINVAL: Linux gives that for a private mapping and makes a second
/// mapping of a shared one's pages, which we do not (moving 0 bytes once
/// left the new area mapped behind the error: the fuzzer's seed 1 lost
/// 1.5 GiB of address space that way and filled it until memory ran out).
pub fn mremap(p: &mut Process, old: u32, old_len: u32, new_len: u32, flags: u32, new_addr: u32) -> SysResult {
    let (old_len, new_len) = (page_ceil(old_len), page_ceil(new_len));
    if old % 4096 != 0 || new_len == 0 || old.checked_add(old_len).is_none() {
        return Err(Errno::EINVAL);
    }
    let (fixed, keep_old) = (flags & MREMAP_FIXED != 0, flags & MREMAP_DONTUNMAP != 0);
    if flags & !(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP) != 0
        || ((fixed || keep_old) && flags & MREMAP_MAYMOVE == 0)
        || (keep_old && old_len != new_len)
    {
        return Err(Errno::EINVAL);
    }
    if fixed || keep_old {
        // Linux's mremap_to (which DONTUNMAP takes too, `new_addr` then a
        // hint): an aligned range that fits and does not overlap the old
        // one.
        let fits = new_addr.checked_add(new_len).is_some_and(|end| end <= crate::linux::memory::STACK_TOP);
        let overlaps = old.saturating_add(old_len) > new_addr && new_addr.saturating_add(new_len) > old;
        if new_addr % 4096 != 0 || !fits || overlaps {
            return Err(Errno::EINVAL);
        }
    }
    // The old range must start in a mapping (Linux: EFAULT). Without this,
    // a kernel address plus a length wrapped around to the program's text.
    if !p.memory.areas().iter().any(|area| area.start <= old && old < area.end) {
        return Err(Errno::EFAULT);
    }
    if old_len == 0 {
        return Err(Errno::EINVAL);
    }
    if new_len <= old_len && !fixed && !keep_old {
        if new_len < old_len {
            p.memory.unmap(old + new_len, old_len - new_len)?;
        }
        return Ok(old);
    }
    if flags & MREMAP_MAYMOVE == 0 {
        return Err(Errno::ENOMEM);
    }
    let to = if fixed { Placement::At(new_addr) } else { Placement::Near(new_addr) };
    p.memory.move_area(old, old_len, new_len, to, keep_old)
}

/// fadvise64_64(fd, offset, len, advice): advice only (coreutils' sort,
/// wc and cat give it); accepted for any open descriptor, as Linux does
/// for files whose cache it does not tune.
pub fn fadvise64_64(p: &mut Process, fd: Fd) -> SysResult {
    p.files.get(fd.0)?;
    Ok(0)
}

const MS_ASYNC: u32 = 1;
const MS_INVALIDATE: u32 = 2;
const MS_SYNC: u32 = 4;

/// msync(addr, len, flags): a shared mapping's pages are the file's own,
/// so there is nothing to write back; the arguments are checked as Linux
/// does (EINVAL: unaligned, unknown flags, MS_SYNC with MS_ASYNC; ENOMEM:
/// a hole in the range).
pub fn msync(p: &mut Process, addr: u32, len: u32, flags: u32) -> SysResult {
    if addr % 4096 != 0 || flags & !(MS_ASYNC | MS_INVALIDATE | MS_SYNC) != 0 || flags & (MS_ASYNC | MS_SYNC) == MS_ASYNC | MS_SYNC {
        return Err(Errno::EINVAL);
    }
    let end = addr.checked_add(page_ceil(len)).ok_or(Errno::ENOMEM)?;
    let areas = p.memory.areas();
    let mut covered = addr;
    for area in areas.iter().filter(|a| a.end > addr && a.start < end) {
        if area.start > covered {
            return Err(Errno::ENOMEM);
        }
        covered = area.end;
    }
    if covered < end {
        return Err(Errno::ENOMEM);
    }
    Ok(0)
}
