//! Descriptor operations: dup, dup2, dup3, fcntl/fcntl64, ioctl.

use embox_abi::consts::fcntl::*;
use embox_abi::consts::ioctl::*;
use embox_abi::consts::open::{O_ACCMODE, O_APPEND, O_CLOEXEC, O_NONBLOCK};
use embox_abi::errno::SysResult;
use embox_abi::types::{Termios, Winsize};
use embox_abi::Errno;

use super::open::release;
use super::args::Fd;
use super::user::UserPtr;
use crate::linux::env;
use crate::linux::files::FileKind;
use crate::linux::process::Process;

pub fn dup(p: &mut Process, fd: Fd) -> SysResult {
    p.files.dup_from(fd.0, 0, false)
}

pub fn dup2(p: &mut Process, old: Fd, new: Fd) -> SysResult {
    release(p.files.dup_to(old.0, new.0, false)?);
    Ok(new.0)
}

pub fn dup3(p: &mut Process, old: Fd, new: Fd, flags: u32) -> SysResult {
    if old == new || flags & !O_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    release(p.files.dup_to(old.0, new.0, flags & O_CLOEXEC != 0)?);
    Ok(new.0)
}

/// fcntl/fcntl64(fd, cmd, arg). Record locks are not served (EINVAL).
/// fcntl(fd, cmd, arg): `arg` is a number for every command served.
pub fn fcntl(p: &mut Process, fd: Fd, cmd: u32, arg: u32) -> SysResult {
    let fd = fd.0;
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
/// ioctl(fd, request, arg): `arg` is a pointer whose type the request
/// says, so each arm makes its own `UserPtr`.
pub fn ioctl(p: &mut Process, fd: Fd, request: u32, arg: u32) -> SysResult {
    let fd = fd.0;
    if p.files.get(fd)?.kind != FileKind::Console {
        return Err(Errno::ENOTTY);
    }
    match request {
        TCGETS => {
            UserPtr::<Termios>::new(arg).write(&mut p.memory, &env::console_termios())?;
            Ok(0)
        }
        TCSETS | TCSETSW | TCSETSF => {
            crate::linux::console_job_control(p, crate::linux::signal::SIGTTOU)?;
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
            crate::linux::console_job_control(p, crate::linux::signal::SIGTTOU)?;
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
pub fn pipe2(p: &mut Process, fds: UserPtr<[u32; 2]>, flags: u32) -> SysResult {
    use crate::linux::files::OpenFile;
    use embox_abi::consts::open::{O_RDONLY, O_WRONLY};
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
pub fn pipe(p: &mut Process, fds: UserPtr<[u32; 2]>) -> SysResult {
    pipe2(p, fds, 0)
}
