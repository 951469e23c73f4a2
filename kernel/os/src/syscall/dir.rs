//! Directories and names: getdents64, mkdir(at), rmdir, unlink(at),
//! rename(at, at2), chdir, fchdir, getcwd.

use alloc::vec;
use alloc::vec::Vec;

use embox_abi::consts::at::AT_REMOVEDIR;
use embox_abi::consts::mode::{DT_DIR, DT_LNK, DT_REG};
use embox_abi::errno::SysResult;
use embox_abi::types::write_dirent64;
use embox_abi::Errno;
use embox_fs::FileKind as NodeKind;

use super::open::resolve_at;
use super::args::Fd;
use super::user::{UserSlice, UserString};
use crate::linux::{devproc, env};
use crate::linux::files::FileKind;
use crate::linux::process::Process;

fn dtype(kind: NodeKind) -> u8 {
    match kind {
        NodeKind::Directory => DT_DIR,
        NodeKind::File => DT_REG,
        NodeKind::Symlink => DT_LNK,
        NodeKind::Socket => embox_abi::consts::mode::DT_SOCK,
    }
}

/// getdents64(fd, dirp, count): `.` and `..` first, then the entries by name.
/// The descriptor's offset is the index of the next entry.
pub fn getdents64(p: &mut Process, fd: Fd, out: UserSlice) -> SysResult {
    let fd = fd.0;
    let file = p.files.get(fd)?;
    let index = file.offset as usize;
    let entries: Vec<(u64, u8, alloc::string::String)> = match file.kind {
        FileKind::Dir(id) => env::with_vfs(|vfs| -> Result<_, embox_fs::FsError> {
            let parent = vfs.parent(id);
            let mut all = vec![(id as u64, DT_DIR, ".".into()), (parent as u64, DT_DIR, "..".into())];
            all.extend(vfs.read_dir(id)?.into_iter().map(|e| (e.ino as u64, dtype(e.kind), e.name)));
            Ok(all)
        })
        .map_err(env::fs_errno)?,
        // /proc/self/fd: one link per descriptor (inode numbers made up).
        FileKind::ProcDir(id) => {
            let mut all = vec![(1, DT_DIR, ".".into()), (2, DT_DIR, "..".into())];
            all.extend(devproc::proc_dir_entries(id).into_iter().enumerate().map(|(i, name)| (3 + i as u64, DT_LNK, name)));
            all
        }
        _ => return Err(Errno::ENOTDIR),
    };
    let mut buf = Vec::new();
    let len = (out.len as usize).min(64 * 1024);
    buf.try_reserve_exact(len).map_err(|_| Errno::ENOMEM)?;
    buf.resize(len, 0);
    let mut used = 0;
    let mut next = index;
    for (ino, d_type, name) in entries.iter().skip(index) {
        match write_dirent64(&mut buf[used..], *ino, (next + 1) as i64, *d_type, name.as_bytes()) {
            Some(n) => {
                used += n;
                next += 1;
            }
            None if used == 0 => return Err(Errno::EINVAL),
            None => break,
        }
    }
    out.write_prefix(&mut p.memory, &buf[..used])?;
    p.files.set_offset(fd, next as u64)?;
    Ok(used as u32)
}

fn path_at(p: &mut Process, dirfd: Fd, path: UserString) -> Result<alloc::string::String, Errno> {
    let path = path.read_path(&mut p.memory)?;
    resolve_at(p, dirfd, &path)
}

fn mkdir_at(p: &mut Process, dirfd: Fd, path: UserString, mode: u32) -> SysResult {
    let path = path_at(p, dirfd, path)?;
    let mode = mode & 0o7777 & !p.umask;
    env::with_vfs(|vfs| vfs.mkdir(&path, mode)).map_err(env::fs_errno)?;
    Ok(0)
}

/// mkdir(path, mode)
pub fn mkdir(p: &mut Process, path: UserString, mode: u32) -> SysResult {
    mkdir_at(p, Fd::CWD, path, mode)
}

/// mkdirat(dirfd, path, mode)
pub fn mkdirat(p: &mut Process, dirfd: Fd, path: UserString, mode: u32) -> SysResult {
    mkdir_at(p, dirfd, path, mode)
}

/// rmdir(path)
pub fn rmdir(p: &mut Process, path: UserString) -> SysResult {
    let path = path_at(p, Fd::CWD, path)?;
    env::with_vfs(|vfs| vfs.rmdir(&path)).map_err(env::fs_errno)?;
    Ok(0)
}

/// unlink(path)
pub fn unlink(p: &mut Process, path: UserString) -> SysResult {
    let path = path_at(p, Fd::CWD, path)?;
    env::with_vfs(|vfs| vfs.unlink(&path)).map_err(env::fs_errno)?;
    Ok(0)
}

/// unlinkat(dirfd, path, flags): AT_REMOVEDIR makes it rmdir.
pub fn unlinkat(p: &mut Process, dirfd: Fd, path: UserString, flags: u32) -> SysResult {
    let path = path_at(p, dirfd, path)?;
    if flags & AT_REMOVEDIR != 0 {
        env::with_vfs(|vfs| vfs.rmdir(&path)).map_err(env::fs_errno)?;
    } else {
        env::with_vfs(|vfs| vfs.unlink(&path)).map_err(env::fs_errno)?;
    }
    Ok(0)
}

fn rename_at(p: &mut Process, olddir: Fd, old: UserString, newdir: Fd, new: UserString, flags: u32) -> SysResult {
    if flags != 0 {
        return Err(Errno::EINVAL); // RENAME_NOREPLACE/EXCHANGE/WHITEOUT not served
    }
    let from = path_at(p, olddir, old)?;
    let to = path_at(p, newdir, new)?;
    env::with_vfs(|vfs| vfs.rename(&from, &to)).map_err(env::fs_errno)?;
    Ok(0)
}

/// rename(old, new)
pub fn rename(p: &mut Process, old: UserString, new: UserString) -> SysResult {
    rename_at(p, Fd::CWD, old, Fd::CWD, new, 0)
}

/// renameat(olddirfd, old, newdirfd, new)
pub fn renameat(p: &mut Process, olddir: Fd, old: UserString, newdir: Fd, new: UserString) -> SysResult {
    rename_at(p, olddir, old, newdir, new, 0)
}

/// renameat2(olddirfd, old, newdirfd, new, flags)
pub fn renameat2(p: &mut Process, olddir: Fd, old: UserString, newdir: Fd, new: UserString, flags: u32) -> SysResult {
    rename_at(p, olddir, old, newdir, new, flags)
}

fn change_dir(p: &mut Process, path: alloc::string::String) -> SysResult {
    // The canonical path (no `..`, no links), as getcwd reports it.
    let (kind, canonical) = env::with_vfs(|vfs| {
        let id = vfs.lookup(&path)?;
        Ok((vfs.metadata(id).kind, vfs.path_of(id)?))
    })
    .map_err(env::fs_errno)?;
    if kind != NodeKind::Directory {
        return Err(Errno::ENOTDIR);
    }
    p.cwd.set(canonical);
    Ok(0)
}

/// chdir(path)
pub fn chdir(p: &mut Process, path: UserString) -> SysResult {
    let path = path_at(p, Fd::CWD, path)?;
    change_dir(p, path)
}

/// fchdir(fd)
pub fn fchdir(p: &mut Process, fd: Fd) -> SysResult {
    let f = p.files.get(fd.0)?;
    match f.kind {
        FileKind::Dir(_) => change_dir(p, f.path),
        _ => Err(Errno::ENOTDIR),
    }
}

/// getcwd(buf, size): the path with its NUL; ERANGE when it does not fit.
pub fn getcwd(p: &mut Process, buf: UserSlice) -> SysResult {
    let mut bytes = p.cwd.get().into_bytes();
    bytes.push(0);
    if bytes.len() > buf.len as usize {
        return Err(Errno::ERANGE);
    }
    buf.write_prefix(&mut p.memory, &bytes)?;
    Ok(bytes.len() as u32)
}

fn symlink_at(p: &mut Process, target: UserString, dirfd: Fd, path: UserString) -> SysResult {
    let target = target.read_path(&mut p.memory)?;
    let path = path_at(p, dirfd, path)?;
    env::with_vfs(|vfs| vfs.symlink(&target, &path)).map_err(env::fs_errno)?;
    Ok(0)
}

/// symlink(target, path)
pub fn symlink(p: &mut Process, target: UserString, path: UserString) -> SysResult {
    symlink_at(p, target, Fd::CWD, path)
}

/// symlinkat(target, dirfd, path)
pub fn symlinkat(p: &mut Process, target: UserString, dirfd: Fd, path: UserString) -> SysResult {
    symlink_at(p, target, dirfd, path)
}

/// link/linkat: the in-memory tree has no hard links (EPERM, as file
/// systems without them answer).
pub fn link(_p: &mut Process) -> SysResult {
    Err(Errno::EPERM)
}
