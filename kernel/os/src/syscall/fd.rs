//! Descriptor operations: dup, dup2, dup3, fcntl/fcntl64, ioctl.

use embox_abi::consts::fcntl::*;
use embox_abi::consts::ioctl::*;
use embox_abi::consts::open::{O_ACCMODE, O_APPEND, O_CLOEXEC, O_NONBLOCK};
use embox_abi::errno::SysResult;
use embox_abi::types::{Termios, Winsize};
use embox_abi::Errno;

use super::open::release;
use super::user::UserPtr;
use super::Args;
use crate::linux::env;
use crate::linux::files::FileKind;
use crate::linux::process::Process;

pub fn dup(p: &mut Process, a: &Args) -> SysResult {
    p.files.dup_from(a[0], 0, false)
}

pub fn dup2(p: &mut Process, a: &Args) -> SysResult {
    release(p.files.dup_to(a[0], a[1], false)?);
    Ok(a[1])
}

pub fn dup3(p: &mut Process, a: &Args) -> SysResult {
    if a[0] == a[1] || a[2] & !O_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    release(p.files.dup_to(a[0], a[1], a[2] & O_CLOEXEC != 0)?);
    Ok(a[1])
}

/// fcntl/fcntl64(fd, cmd, arg). Record locks are not served (EINVAL).
pub fn fcntl(p: &mut Process, a: &Args) -> SysResult {
    let (fd, cmd, arg) = (a[0], a[1], a[2]);
    match cmd {
        F_DUPFD => p.files.dup_from(fd, arg, false),
        F_DUPFD_CLOEXEC => p.files.dup_from(fd, arg, true),
        F_GETFD => Ok(u32::from(p.files.cloexec(fd)?)),
        F_SETFD => p.files.set_cloexec(fd, arg & FD_CLOEXEC != 0).map(|_| 0),
        F_GETFL => Ok(p.files.get(fd)?.flags),
        F_SETFL => {
            // Only these status flags may change; the access mode stays.
            let changeable = O_APPEND | O_NONBLOCK;
            p.files.update(fd, |f| f.flags = (f.flags & (O_ACCMODE | !changeable)) | (arg & changeable))?;
            Ok(0)
        }
        _ => {
            p.files.get(fd)?;
            Err(Errno::EINVAL)
        }
    }
}

/// ioctl(fd, request, arg): terminal requests on the console; ENOTTY for
/// anything else, as Linux answers for regular files.
pub fn ioctl(p: &mut Process, a: &Args) -> SysResult {
    let (fd, request, arg) = (a[0], a[1], a[2]);
    if p.files.get(fd)?.kind != FileKind::Console {
        return Err(Errno::ENOTTY);
    }
    match request {
        TCGETS => {
            UserPtr::<Termios>::new(arg).write(&mut p.memory, &env::console_termios())?;
            Ok(0)
        }
        TCSETS | TCSETSW | TCSETSF => {
            let t = UserPtr::<Termios>::new(arg).read(&mut p.memory)?;
            env::set_console_termios(t);
            Ok(0)
        }
        TIOCGWINSZ => {
            UserPtr::<Winsize>::new(arg).write(&mut p.memory, &env::console_winsize())?;
            Ok(0)
        }
        TIOCSWINSZ => {
            UserPtr::<Winsize>::new(arg).read(&mut p.memory)?;
            Ok(0)
        }
        TIOCGPGRP => {
            let group = crate::linux::foreground_group();
            UserPtr::<zerocopy::little_endian::U32>::new(arg).write(&mut p.memory, &group.into())?;
            Ok(0)
        }
        TIOCSPGRP => {
            let group = UserPtr::<zerocopy::little_endian::U32>::new(arg).read(&mut p.memory)?.get();
            if (group as i32) < 0 {
                return Err(Errno::EINVAL);
            }
            crate::linux::set_foreground_group(p.pid, group).map(|()| 0)
        }
        FIONREAD => {
            UserPtr::<zerocopy::little_endian::U32>::new(arg).write(&mut p.memory, &0.into())?;
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// pipe2(fds, flags): a pipe; fds[0] reads, fds[1] writes. O_CLOEXEC and
/// O_NONBLOCK apply to both ends.
pub fn pipe2(p: &mut Process, a: &Args) -> SysResult {
    use crate::linux::files::OpenFile;
    use embox_abi::consts::open::{O_RDONLY, O_WRONLY};
    let (fds, flags) = (UserPtr::<[u32; 2]>::new(a[0]), a[1]);
    if flags & !(O_CLOEXEC | O_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let cloexec = flags & O_CLOEXEC != 0;
    let id = crate::linux::pipe::create()?;
    let end = |kind, access| OpenFile { kind, offset: 0, flags: access | (flags & O_NONBLOCK), path: "pipe:".into() };
    let read = match p.files.open(end(FileKind::PipeRead(id), O_RDONLY), cloexec) {
        Ok(fd) => fd,
        Err(e) => {
            crate::linux::pipe::release(id, false);
            crate::linux::pipe::release(id, true);
            return Err(e);
        }
    };
    let write = match p.files.open(end(FileKind::PipeWrite(id), O_WRONLY), cloexec) {
        Ok(fd) => fd,
        Err(e) => {
            release(p.files.close(read).ok().flatten());
            crate::linux::pipe::release(id, true);
            return Err(e);
        }
    };
    if let Err(e) = fds.write(&mut p.memory, &[read, write]) {
        release(p.files.close(read).ok().flatten());
        release(p.files.close(write).ok().flatten());
        return Err(e);
    }
    Ok(0)
}

/// pipe(fds): pipe2 without flags.
pub fn pipe(p: &mut Process, a: &Args) -> SysResult {
    pipe2(p, &[a[0], 0, 0, 0, 0, 0])
}
