//! File status: stat64, lstat64, fstat64, fstatat64, statx, access,
//! faccessat(2), readlink(at), and the permission calls (chmod family,
//! which succeed without enforcing anything: every program runs as root),
//! umask, utimensat.

use embox_abi::consts::at::{AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW};
use embox_abi::consts::mode::{S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFREG};

/// Pipes' inode numbers start here (far from the file tree's).
const PIPE_INO_BASE: u64 = 0x4000_0000;
use embox_abi::consts::statx::STATX_BASIC_STATS;
use embox_abi::errno::SysResult;
use embox_abi::types::{Stat64, Statx, StatxTimestamp};
use embox_abi::Errno;
use embox_fs::Metadata;

use super::open::resolve_at;
use super::args::Fd;
use super::user::{UserPtr, UserSlice, UserString};
use crate::linux::devproc::{self, Device};
use crate::linux::env;
use crate::linux::files::FileKind;
use crate::linux::process::Process;

/// Device number of the in-memory file system (major 0, minor 1, like a tmpfs).
const FS_DEV: u64 = 1;
/// The console's device number: major 5, minor 1 (`/dev/console`).
const CONSOLE_RDEV: (u32, u32) = (5, 1);
const CONSOLE_INO: u64 = 3;
/// `devproc` devices' inode numbers: this plus the minor number.
const DEVICE_INO_BASE: u64 = 0x3000_0000;
/// Every generated /proc file's inode number.
const PROC_INO: u64 = 0x3100_0000;

/// What stat reports, in one place for stat64 and statx.
struct Status {
    ino: u64,
    mode: u32,
    nlink: u32,
    size: u64,
    rdev: (u32, u32),
    mtime: u64,
}

impl Status {
    fn of(meta: &Metadata) -> Self {
        Status { ino: meta.ino as u64, mode: meta.mode(), nlink: meta.nlink, size: meta.size, rdev: (0, 0), mtime: meta.mtime }
    }

    /// A pipe end: a FIFO with its own inode number, no size.
    fn pipe(id: u32) -> Self {
        Status { ino: PIPE_INO_BASE + id as u64, mode: S_IFIFO | 0o600, nlink: 1, size: 0, rdev: (0, 0), mtime: 0 }
    }

    fn console() -> Self {
        Status { ino: CONSOLE_INO, mode: S_IFCHR | 0o620, nlink: 1, size: 0, rdev: CONSOLE_RDEV, mtime: 0 }
    }

    /// A device of `devproc`: character device, rw for everyone.
    fn device(device: Device) -> Self {
        Status { ino: DEVICE_INO_BASE + u64::from(device.rdev().1), mode: S_IFCHR | 0o666, nlink: 1, size: 0, rdev: device.rdev(), mtime: 0 }
    }

    /// A generated /proc file: read-only, size 0 (as Linux's /proc files).
    fn generated() -> Self {
        Status { ino: PROC_INO, mode: S_IFREG | 0o444, nlink: 1, size: 0, rdev: (0, 0), mtime: 0 }
    }

    /// A generated /proc directory: r-x for everyone.
    fn generated_dir() -> Self {
        Status { ino: PROC_INO + 1, mode: S_IFDIR | 0o555, nlink: 2, size: 0, rdev: (0, 0), mtime: 0 }
    }

    fn stat64(&self) -> Stat64 {
        let t = self.mtime as u32;
        Stat64 {
            st_dev: FS_DEV.into(),
            __st_ino: self.ino as u32,
            st_mode: self.mode,
            st_nlink: self.nlink,
            st_rdev: (((self.rdev.0 << 8) | self.rdev.1) as u64).into(),
            st_size: (self.size as i64).into(),
            st_blksize: 4096,
            st_blocks: self.size.div_ceil(512).into(),
            st_atime: t,
            st_mtime: t,
            st_ctime: t,
            st_ino: self.ino.into(),
            ..Stat64::default()
        }
    }

    fn statx(&self) -> Statx {
        let t = StatxTimestamp { tv_sec: (self.mtime as i64).into(), ..StatxTimestamp::default() };
        Statx {
            stx_mask: STATX_BASIC_STATS,
            stx_blksize: 4096,
            stx_nlink: self.nlink,
            stx_mode: self.mode as u16,
            stx_ino: self.ino.into(),
            stx_size: self.size.into(),
            stx_blocks: self.size.div_ceil(512).into(),
            stx_atime: t,
            stx_btime: t,
            stx_ctime: t,
            stx_mtime: t,
            stx_rdev_major: self.rdev.0,
            stx_rdev_minor: self.rdev.1,
            stx_dev_major: 0,
            stx_dev_minor: FS_DEV as u32,
            ..Statx::default()
        }
    }
}

fn status_of_path(p: &Process, path: &str, follow: bool) -> Result<Status, Errno> {
    if matches!(path, "/dev/console" | "/dev/tty" | "/dev/ttyS0") {
        return Ok(Status::console());
    }
    if let Some(device) = Device::at(path) {
        return Ok(Status::device(device));
    }
    if devproc::is_proc_file(p, path) {
        return Ok(Status::generated());
    }
    if devproc::is_proc_dir(p, path) {
        return Ok(Status::generated_dir());
    }
    if let Some(target) = devproc::proc_link(p, path) {
        let target = target?;
        if !follow {
            return Ok(Status { ino: 0, mode: S_IFLNK | 0o777, nlink: 1, size: target.len() as u64, rdev: (0, 0), mtime: 0 });
        }
        // A descriptor's link may name a pipe or socket: not a path.
        return if target.starts_with('/') { status_of_path(p, &target, true) } else { Err(Errno::ENOENT) };
    }
    env::with_vfs(|vfs| {
        let id = if follow { vfs.lookup(path)? } else { vfs.lookup_nofollow(path)? };
        Ok(Status::of(&vfs.metadata(id)))
    })
    .map_err(env::fs_errno)
}

fn status_of_fd(p: &Process, fd: u32) -> Result<Status, Errno> {
    match p.files.get(fd)?.kind {
        FileKind::Console => Ok(Status::console()),
        // S_IFSOCK, inode = socket id (as Linux's sockfs numbers them)
        FileKind::Socket(id) => Ok(Status { ino: u64::from(id), mode: 0o140000 | 0o777, nlink: 1, size: 0, rdev: (0, 0), mtime: 0 }),
        FileKind::Unix(id) => Ok(Status { ino: u64::from(id) + 0x10000, mode: 0o140000 | 0o777, nlink: 1, size: 0, rdev: (0, 0), mtime: 0 }),
        FileKind::PipeRead(id) | FileKind::PipeWrite(id) => Ok(Status::pipe(id)),
        FileKind::Device(device) => Ok(Status::device(device)),
        FileKind::Snapshot(_) => Ok(Status::generated()),
        FileKind::ProcDir(_) => Ok(Status::generated_dir()),
        // An anonymous inode: no file type bits, rw for the owner (Linux's).
        FileKind::SignalFd(_) => Ok(Status { ino: PROC_INO + 2, mode: 0o600, nlink: 1, size: 0, rdev: (0, 0), mtime: 0 }),
        FileKind::File(id) | FileKind::Dir(id) => Ok(env::with_vfs(|vfs| Status::of(&vfs.metadata(id)))),
        // Forwarded before it gets here (syscall/forward.rs).
        FileKind::Lkl(_) => Err(Errno::EBADF),
    }
}

/// The status `*at` calls ask about: a path relative to `dirfd`, or the
/// descriptor itself with AT_EMPTY_PATH and an empty path.
fn status_at(p: &mut Process, dirfd: Fd, path: UserString, flags: u32) -> Result<Status, Errno> {
    let path = path.read_path_or_empty(&mut p.memory)?;
    if path.is_empty() {
        if flags & AT_EMPTY_PATH == 0 {
            return Err(Errno::ENOENT);
        }
        return status_of_fd(p, dirfd.0);
    }
    let path = resolve_at(p, dirfd, &path)?;
    status_of_path(p, &path, flags & AT_SYMLINK_NOFOLLOW == 0)
}

/// stat64(path, buf)
pub fn stat64(p: &mut Process, path: UserString, buf: UserPtr<Stat64>) -> SysResult {
    let path = path.read_path(&mut p.memory)?;
    let path = p.absolute(&path);
    let st = status_of_path(p, &path, true)?.stat64();
    buf.write(&mut p.memory, &st)?;
    Ok(0)
}

/// lstat64(path, buf)
pub fn lstat64(p: &mut Process, path: UserString, buf: UserPtr<Stat64>) -> SysResult {
    let path = path.read_path(&mut p.memory)?;
    let path = p.absolute(&path);
    let st = status_of_path(p, &path, false)?.stat64();
    buf.write(&mut p.memory, &st)?;
    Ok(0)
}

/// fstat64(fd, buf)
pub fn fstat64(p: &mut Process, fd: Fd, buf: UserPtr<Stat64>) -> SysResult {
    let st = status_of_fd(p, fd.0)?.stat64();
    buf.write(&mut p.memory, &st)?;
    Ok(0)
}

/// fstatat64(dirfd, path, buf, flags)
pub fn fstatat64(p: &mut Process, dirfd: Fd, path: UserString, buf: UserPtr<Stat64>, flags: u32) -> SysResult {
    let st = status_at(p, dirfd, path, flags)?.stat64();
    buf.write(&mut p.memory, &st)?;
    Ok(0)
}

/// statx(dirfd, path, flags, mask, buf)
pub fn statx(p: &mut Process, dirfd: Fd, path: UserString, flags: u32, _mask: u32, buf: UserPtr<Statx>) -> SysResult {
    let st = status_at(p, dirfd, path, flags)?.statx();
    buf.write(&mut p.memory, &st)?;
    Ok(0)
}

/// `struct statfs64` on i386 (packed to 4: type, bsize, five 64-bit
/// counts, fsid, namelen, frsize, flags, spare[4]) and `struct statfs`
/// (the same with 32-bit counts).
const STATFS64_BYTES: usize = 84;
const STATFS_BYTES: usize = 64;
const TMPFS_MAGIC: u32 = 0x0102_1994;
const PROC_SUPER_MAGIC: u32 = 0x9fa0;

/// The file system's figures as statfs gives them, as words: type, block
/// size, blocks, free, available, files, free files, namelen, fragment
/// size. The tree is a tmpfs sized by its limits (/proc a procfs).
fn fs_figures(path: Option<&str>) -> [u64; 9] {
    let (limits, pages, nodes) = env::with_vfs(|vfs| vfs.usage());
    let blocks = limits.max_pages.min(u32::MAX as usize) as u64;
    let files = limits.max_nodes.min(u32::MAX as usize) as u64;
    let proc = path.is_some_and(|p| p == "/proc" || p.starts_with("/proc/"));
    let fs_type = if proc { PROC_SUPER_MAGIC } else { TMPFS_MAGIC } as u64;
    [fs_type, 4096, blocks, blocks.saturating_sub(pages as u64), blocks.saturating_sub(pages as u64), files, files.saturating_sub(nodes as u64), 255, 4096]
}

/// `struct statfs64` (`wide`) or `struct statfs` bytes of `f`.
fn statfs_bytes(f: [u64; 9], wide: bool) -> [u8; STATFS64_BYTES] {
    let mut out = [0u8; STATFS64_BYTES];
    let mut at = 0;
    let mut put = |v: u64, bytes: usize| {
        out[at..at + bytes].copy_from_slice(&v.to_le_bytes()[..bytes]);
        at += bytes;
    };
    let count = if wide { 8 } else { 4 };
    put(f[0], 4);
    put(f[1], 4);
    for &v in &f[2..7] {
        put(v, count);
    }
    put(0, 8); // f_fsid
    put(f[7], 4);
    put(f[8], 4);
    out
}

fn write_statfs(p: &mut Process, path: Option<&str>, size: Option<u32>, buf: u32) -> SysResult {
    let (wide, bytes) = match size {
        Some(size) if size as usize == STATFS64_BYTES => (true, STATFS64_BYTES),
        Some(_) => return Err(Errno::EINVAL),
        None => (false, STATFS_BYTES),
    };
    let out = statfs_bytes(fs_figures(path), wide);
    p.memory.write(buf, &out[..bytes])?;
    Ok(0)
}

/// statfs64(path, size, buf): the file system `path` is on (coreutils' df
/// and ls ask). EINVAL unless `size` is the struct's.
pub fn statfs64(p: &mut Process, path: UserString, size: u32, buf: UserPtr<[u8; STATFS64_BYTES]>) -> SysResult {
    let path = path.read_path(&mut p.memory)?;
    let path = p.absolute(&path);
    status_of_path(p, &path, true)?;
    write_statfs(p, Some(&path), Some(size), buf.addr)
}

/// fstatfs64(fd, size, buf)
pub fn fstatfs64(p: &mut Process, fd: Fd, size: u32, buf: UserPtr<[u8; STATFS64_BYTES]>) -> SysResult {
    let path = fd_path(p, fd)?;
    write_statfs(p, Some(&path), Some(size), buf.addr)
}

/// The path of open descriptor `fd`, for fstatfs. An LKL descriptor (under
/// x86/lkl-qemu) is answered like statfs of its path, which is served here
/// too: the same figures either way.
fn fd_path(p: &Process, fd: Fd) -> Result<alloc::string::String, Errno> {
    let file = p.files.get(fd.0)?;
    if !matches!(file.kind, FileKind::Lkl(_)) {
        status_of_fd(p, fd.0)?;
    }
    Ok(file.path.clone())
}

/// statfs(path, buf): 32-bit counts.
pub fn statfs(p: &mut Process, path: UserString, buf: UserPtr<[u8; STATFS_BYTES]>) -> SysResult {
    let path = path.read_path(&mut p.memory)?;
    let path = p.absolute(&path);
    status_of_path(p, &path, true)?;
    write_statfs(p, Some(&path), None, buf.addr)
}

/// fstatfs(fd, buf)
pub fn fstatfs(p: &mut Process, fd: Fd, buf: UserPtr<[u8; STATFS_BYTES]>) -> SysResult {
    let path = fd_path(p, fd)?;
    write_statfs(p, Some(&path), None, buf.addr)
}

fn exists_at(p: &mut Process, dirfd: Fd, path: UserString) -> SysResult {
    let path = path.read_path(&mut p.memory)?;
    let path = resolve_at(p, dirfd, &path)?;
    status_of_path(p, &path, true)?;
    Ok(0)
}

/// access(path, mode): everything is allowed to root; the file must exist.
pub fn access(p: &mut Process, path: UserString) -> SysResult {
    exists_at(p, Fd::CWD, path)
}

/// faccessat(dirfd, path, mode)
pub fn faccessat(p: &mut Process, dirfd: Fd, path: UserString) -> SysResult {
    exists_at(p, dirfd, path)
}

/// faccessat2(dirfd, path, mode, flags)
pub fn faccessat2(p: &mut Process, dirfd: Fd, path: UserString) -> SysResult {
    exists_at(p, dirfd, path)
}

fn readlink_at(p: &mut Process, dirfd: Fd, path: UserString, buf: UserSlice) -> SysResult {
    let path = path.read_path(&mut p.memory)?;
    let path = resolve_at(p, dirfd, &path)?;
    let target = match devproc::proc_link(p, &path) {
        Some(target) => target?,
        None => env::with_vfs(|vfs| vfs.readlink(&path).map(alloc::string::String::from)).map_err(env::fs_errno)?,
    };
    let n = target.len().min(buf.len as usize);
    buf.write_prefix(&mut p.memory, &target.as_bytes()[..n])?;
    Ok(n as u32)
}

/// readlink(path, buf, size)
pub fn readlink(p: &mut Process, path: UserString, buf: UserSlice) -> SysResult {
    readlink_at(p, Fd::CWD, path, buf)
}

/// readlinkat(dirfd, path, buf, size)
pub fn readlinkat(p: &mut Process, dirfd: Fd, path: UserString, buf: UserSlice) -> SysResult {
    readlink_at(p, dirfd, path, buf)
}

/// Sets the permission bits of the node at `path` (absolute).
fn change_mode(path: &str, mode: u32) -> SysResult {
    env::with_vfs(|vfs| {
        let id = vfs.lookup(path)?;
        vfs.set_permissions(id, mode);
        Ok(0)
    })
    .map_err(env::fs_errno)
}

/// chmod(path, mode)
pub fn chmod(p: &mut Process, path: UserString, mode: u32) -> SysResult {
    fchmodat(p, Fd::CWD, path, mode)
}

/// fchmod(fd, mode): the file the descriptor was opened by.
pub fn fchmod(p: &mut Process, fd: Fd, mode: u32) -> SysResult {
    let path = p.files.get(fd.0)?.path.clone();
    if !path.starts_with('/') || path.starts_with("/dev/") {
        return Ok(0); // the console and other devices keep their modes
    }
    change_mode(&path, mode)
}

/// fchmodat(dirfd, path, mode)
pub fn fchmodat(p: &mut Process, dirfd: Fd, path: UserString, mode: u32) -> SysResult {
    let path = path.read_path(&mut p.memory)?;
    let path = resolve_at(p, dirfd, &path)?;
    change_mode(&path, mode)
}

/// umask(mask): sets the file-creation mask, returns the old one.
pub fn umask(p: &mut Process, mask: u32) -> SysResult {
    Ok(core::mem::replace(&mut p.umask, mask & 0o777))
}


/// utimensat(dirfd, path, times, flags): the file must exist; times are not
/// kept (the in-memory tree records none after boot).
pub fn utimensat(p: &mut Process, dirfd: Fd, path: UserString) -> SysResult {
    if path.0 == 0 {
        p.files.get(dirfd.0)?;
        return Ok(0);
    }
    exists_at(p, dirfd, path)
}

/// chown family: everything belongs to root; the file must exist.
/// chown(path, owner, group)
pub fn chown(p: &mut Process, path: UserString) -> SysResult {
    exists_at(p, Fd::CWD, path)
}

/// fchown(fd, owner, group)
pub fn fchown(p: &mut Process, fd: Fd) -> SysResult {
    p.files.get(fd.0)?;
    Ok(0)
}

/// fchownat(dirfd, path, owner, group, flags)
pub fn fchownat(p: &mut Process, dirfd: Fd, path: UserString) -> SysResult {
    exists_at(p, dirfd, path)
}
