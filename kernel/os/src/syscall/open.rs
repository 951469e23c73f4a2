//! Opening and closing: open, openat, creat, close.

use alloc::string::String;

use embox_abi::consts::at::AT_FDCWD;
use embox_abi::consts::open::*;
use embox_abi::errno::SysResult;
use embox_abi::Errno;
use embox_fs::{FileKind as NodeKind, FsError};

use super::args::Fd;
use super::user::UserString;
use crate::linux::devproc::{self, Device};
use crate::linux::env;
use crate::linux::files::{FileKind, OpenFile};
use crate::linux::process::Process;

/// The absolute path of `path` relative to directory descriptor `dirfd`
/// (`AT_FDCWD` = the working directory), as the `*at` calls take them.
pub(super) fn resolve_at(p: &mut Process, dirfd: Fd, path: &str) -> Result<String, Errno> {
    if path.starts_with('/') || dirfd.0 as i32 == AT_FDCWD {
        return Ok(p.absolute(path));
    }
    let f = p.files.get(dirfd.0)?;
    match f.kind {
        FileKind::Dir(_) => Ok(embox_fs::join(&f.path, path)),
        _ => Err(Errno::ENOTDIR),
    }
}

/// Names the console device can be opened by.
pub(super) fn is_console(path: &str) -> bool {
    matches!(path, "/dev/console" | "/dev/tty" | "/dev/ttyS0" | "/dev/stdout" | "/dev/stderr" | "/dev/stdin")
}

fn open_path(p: &mut Process, path: String, flags: u32, mode: u32) -> SysResult {
    let cloexec = flags & O_CLOEXEC != 0;
    let status = flags & !(O_CLOEXEC | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC);
    if is_console(&path) {
        let file = OpenFile { kind: FileKind::Console, offset: 0, flags: status, path };
        return p.files.open(file, cloexec);
    }
    if let Some(device) = Device::at(&path) {
        let file = OpenFile { kind: FileKind::Device(device), offset: 0, flags: status, path };
        return p.files.open(file, cloexec);
    }
    if let Some(listing) = devproc::open_proc_dir(p, &path) {
        if flags & O_ACCMODE != O_RDONLY || flags & O_CREAT != 0 {
            return Err(Errno::EISDIR);
        }
        let id = listing?;
        let file = OpenFile { kind: FileKind::ProcDir(id), offset: 0, flags: status, path };
        return p.files.open(file, cloexec).inspect_err(|_| devproc::release_snapshot(id));
    }
    if let Some(snapshot) = devproc::open_snapshot(p, &path) {
        // Root may open them for writing, as on Linux; writes give EIO.
        let id = snapshot?;
        let file = OpenFile { kind: FileKind::Snapshot(id), offset: 0, flags: status, path };
        return p.files.open(file, cloexec).inspect_err(|_| devproc::release_snapshot(id));
    }
    let umask = p.umask;
    let id = env::with_vfs(|vfs| -> Result<_, FsError> {
        let id = if flags & O_CREAT != 0 {
            match vfs.lookup(&path) {
                Ok(_) if flags & O_EXCL != 0 => return Err(FsError::AlreadyExists),
                Ok(id) => id,
                Err(FsError::NotFound) => vfs.create_file(&path, mode & 0o7777 & !umask, true)?,
                Err(e) => return Err(e),
            }
        } else if flags & O_NOFOLLOW != 0 {
            vfs.lookup_nofollow(&path)?
        } else {
            vfs.lookup(&path)?
        };
        Ok(id)
    })
    .map_err(env::fs_errno)?;
    let kind = env::with_vfs(|vfs| vfs.metadata(id).kind);
    let kind = match kind {
        NodeKind::Directory => {
            if flags & O_ACCMODE != O_RDONLY || flags & O_CREAT != 0 {
                return Err(Errno::EISDIR);
            }
            FileKind::Dir(id)
        }
        NodeKind::File => {
            if flags & O_DIRECTORY != 0 {
                return Err(Errno::ENOTDIR);
            }
            if flags & O_TRUNC != 0 && flags & O_ACCMODE != O_RDONLY {
                env::with_vfs(|vfs| vfs.truncate(id, 0)).map_err(env::fs_errno)?;
                crate::linux::memory::file_truncated(id, 0);
            }
            FileKind::File(id)
        }
        NodeKind::Symlink => return Err(Errno::ELOOP),
        // A socket node is reached with connect, not open (as on Linux).
        NodeKind::Socket => return Err(Errno::ENXIO),
    };
    // A directory keeps its canonical path: the `*at` calls and fchdir
    // resolve against it.
    let path = match kind {
        FileKind::Dir(id) => env::with_vfs(|vfs| vfs.path_of(id)).unwrap_or(path),
        _ => path,
    };
    let file = OpenFile { kind, offset: 0, flags: status, path };
    let fd = p.files.open(file, cloexec)?;
    env::with_vfs(|vfs| vfs.open(id));
    Ok(fd)
}

/// open(path, flags, mode)
pub fn open(p: &mut Process, path: UserString, flags: u32, mode: u32) -> SysResult {
    let path = path.read_path(&mut p.memory)?;
    let path = p.absolute(&path);
    open_path(p, path, flags, mode)
}

/// openat(dirfd, path, flags, mode)
pub fn openat(p: &mut Process, dirfd: Fd, path: UserString, flags: u32, mode: u32) -> SysResult {
    let path = path.read_path(&mut p.memory)?;
    let path = resolve_at(p, dirfd, &path)?;
    open_path(p, path, flags, mode)
}

/// creat(path, mode)
pub fn creat(p: &mut Process, path: UserString, mode: u32) -> SysResult {
    let path = path.read_path(&mut p.memory)?;
    let path = p.absolute(&path);
    open_path(p, path, O_CREAT | O_WRONLY | O_TRUNC, mode)
}

/// Releases the VFS node of a file whose last descriptor was closed.
pub(super) fn release(file: Option<OpenFile>) {
    match file {
        Some(OpenFile { kind: FileKind::File(id) | FileKind::Dir(id), .. }) => env::with_vfs(|vfs| vfs.close(id)),
        Some(OpenFile { kind: FileKind::Lkl(fd), .. }) => super::forward::close_lkl(fd),
        Some(OpenFile { kind: FileKind::Socket(id), .. }) => crate::net::socket::close(id),
        Some(OpenFile { kind: FileKind::Unix(id), .. }) => crate::net::unix::close(id),
        Some(OpenFile { kind: FileKind::PipeRead(id), .. }) => crate::linux::pipe::release(id, false),
        Some(OpenFile { kind: FileKind::PipeWrite(id), .. }) => crate::linux::pipe::release(id, true),
        Some(OpenFile { kind: FileKind::Snapshot(id) | FileKind::ProcDir(id), .. }) => devproc::release_snapshot(id),
        _ => {}
    }
}

pub fn close(p: &mut Process, fd: Fd) -> SysResult {
    release(p.files.close(fd.0)?);
    Ok(0)
}
