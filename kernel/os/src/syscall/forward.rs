//! Syscalls forwarded to LKL (template `x86/lkl-qemu`, LKL up).
//!
//! LKL runs in ring 0 and dereferences whatever address it is given, so a
//! user pointer never reaches it: every user buffer is copied through the
//! checked user-memory layer ([`super::user`], bad pointer = EFAULT) into a
//! bounded, fallibly allocated kernel buffer, LKL gets the kernel buffer,
//! and results are copied back afterwards. How each call's arguments are
//! built is data, [`embox_lkl_abi::route`]; the calls whose data must be
//! rewritten (stat64, getdents, lseek, pipe, fcntl, ioctl, readv/writev,
//! sendfile, socketcall, sendmsg/recvmsg, chdir) have handlers below; `mmap` of an LKL file
//! reads its pages with [`pread`].
//!
//! Descriptors: the process keeps its own table ([`crate::linux::files`]);
//! an LKL file is `FileKind::Lkl(lkl_fd)`. Descriptors on the console (0, 1,
//! 2 unless redirected) or on our own files are served by the native
//! handler, so a program's stdio reaches our console in order and Ctrl-C
//! stops it as under `x86/qemu`. LKL's host tasks share one descriptor table
//! and one working directory (`CLONE_FILES | CLONE_FS` in
//! `arch/lkl/kernel/syscalls.c`), so relative paths are made absolute
//! against our per-process working directory, and creation modes get our
//! per-process umask (LKL's is set to 0 once).

use alloc::vec::Vec;
use core::ffi::CStr;
use core::mem::size_of;
use core::sync::atomic::{AtomicBool, Ordering};

use embox_abi::consts::at::AT_SYMLINK_NOFOLLOW;
use embox_abi::consts::mode::{S_IFBLK, S_IFCHR, S_IFIFO, S_IFREG, S_IFSOCK};
use embox_abi::consts::open::O_CLOEXEC;
use embox_abi::errno::{to_eax, SysResult};
use embox_abi::types::{Iovec, Stat64};
use embox_abi::Errno;
use embox_lkl_abi::route::{self, Arg, Forward, Ret, AT_FDCWD, MAX_IO, MAX_SOCKBUF};
use embox_lkl_abi::{dirent, nr as lkl_nr, socketcall, stat};
use zerocopy::little_endian::{I32, I64};
use zerocopy::FromBytes;

use super::args::{Fd, Off64Hi, SyscallFn};
use super::io::MAX_RW_COUNT;
use super::user::{UserPtr, UserSlice, UserString, PATH_MAX};
use super::{Args, Handler};
use crate::linux::files::{FileKind, OpenFile};
use crate::linux::process::Process;
use super::lkl_door::{self as lkl, Arg as LklArg};

/// The raw result of a forwarded call: LKL's value (`>= 0`, or `-errno`
/// passed through unchanged), or our own error from copying.
pub type Raw = Result<i32, Errno>;

/// A forwarded call's arguments while they are staged in kernel memory.
enum Staged {
    Int(isize),
    In(Vec<u8>),
    Out(Vec<u8>),
    /// NUL-terminated.
    Str(Vec<u8>),
    Null,
}

/// A zeroed kernel buffer of `len` bytes; ENOMEM instead of a panic when
/// the heap cannot give it (the size comes from a syscall argument).
fn buffer(len: usize) -> Result<Vec<u8>, Errno> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| Errno::ENOMEM)?;
    v.resize(len, 0);
    Ok(v)
}

/// `len` bytes of user memory at `addr` in a kernel buffer, each byte
/// written once (no zero fill before the copy); ENOMEM when the heap
/// cannot give it, EFAULT for a bad pointer.
fn stage_in(p: &mut Process, addr: u32, len: usize) -> Result<Vec<u8>, Errno> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| Errno::ENOMEM)?;
    p.memory.read_append(addr, len, &mut v)?;
    Ok(v)
}

/// The LKL descriptor behind our `fd`, or `None` for one of our own files
/// (console, native file tree): the native handler serves those.
fn lkl_fd(p: &Process, fd: u32) -> Result<Option<i32>, Errno> {
    // Its kind only: a copy of the open file would copy its path too.
    Ok(match p.files.kind(fd)? {
        FileKind::Lkl(n) => Some(n),
        _ => None,
    })
}

/// Runs LKL syscall `nr` with the staged arguments.
fn call_staged(nr: u32, staged: &mut [Staged]) -> Raw {
    // On the stack: no heap allocation on the path of every forwarded call.
    let mut args: [LklArg<'_>; 6] = core::array::from_fn(|_| LklArg::Null);
    let n = staged.len();
    if n > args.len() {
        return Err(Errno::EINVAL);
    }
    for (arg, s) in args.iter_mut().zip(staged.iter_mut()) {
        *arg = match s {
            Staged::Int(v) => LklArg::Int(*v),
            Staged::In(b) => LklArg::In(b),
            Staged::Out(b) => LklArg::Out(b),
            Staged::Str(b) => LklArg::Str(CStr::from_bytes_with_nul(b).map_err(|_| Errno::EINVAL)?),
            Staged::Null => LklArg::Null,
        };
    }
    lkl::syscall(nr, &mut args[..n]).map(|r| r as i32)
}

/// An LKL call with plain numbers only (at most six), staged on the stack.
pub fn call_ints(nr: u32, ints: &[isize]) -> Raw {
    if ints.len() > 6 {
        return Err(Errno::EINVAL);
    }
    lkl::syscall_ints(nr, core::array::from_fn(|i| ints.get(i).copied().unwrap_or(0))).map(|r| r as i32)
}

/// The value of a plain-number argument (`None` for the others).
fn plain_value(arg: Arg, a: &Args) -> Option<isize> {
    Some(match arg {
        Arg::Val(i) => a[i as usize] as i32 as isize,
        Arg::Id16(i) => route::id16_to_id32(a[i as usize]) as i32 as isize,
        Arg::SignHigh(i) => route::sign_high(a[i as usize]) as i32 as isize,
        Arg::Const(v) => v as i32 as isize,
        _ => return None,
    })
}

/// Why a plain route's arguments could not all be staged as numbers.
enum NotPlain {
    /// A descriptor is one of ours: the native handler serves the call.
    Ours,
    /// A descriptor is not open.
    Error(Errno),
}

/// Stages a plain route's arguments into `ints` as LKL numbers
/// (descriptors mapped to LKL's), in one pass over the route; `None` when
/// the route is not plain. A descriptor that is ours or not open ends the
/// staging where the general path would stop: every argument before it
/// was a number, which the general path stages without side effects.
#[inline]
fn plain_args(p: &Process, f: &Forward, a: &Args, ints: &mut [isize; 6]) -> Option<Result<(), NotPlain>> {
    if !matches!(f.ret, Ret::Value | Ret::Id16) || f.args.len() > 6 {
        return None;
    }
    for (slot, &arg) in ints.iter_mut().zip(f.args) {
        *slot = match arg {
            Arg::Fd(j) => match lkl_fd(p, a[j as usize]) {
                Ok(Some(n)) => n as isize,
                Ok(None) => return Some(Err(NotPlain::Ours)),
                Err(e) => return Some(Err(NotPlain::Error(e))),
            },
            _ => plain_value(arg, a)?,
        };
    }
    Some(Ok(()))
}

/// The trap's quick forwarded call ([`super::quick_forward`]): stages the
/// numbers LKL gets into `ints` (zeroed by the caller); false when an
/// argument needs more than that or a descriptor is not an open LKL one.
#[inline]
pub fn plain_ints(p: &Process, f: &Forward, a: &Args, ints: &mut [isize; 6]) -> bool {
    matches!(plain_args(p, f, a, ints), Some(Ok(())))
}

/// A route of plain numbers and descriptors whose result is LKL's value
/// (getuid32, close, fsync, dup2, fchmod, ...): staged on the stack, no
/// heap and no copy-back bookkeeping. `None` when the route is not one.
fn forward_plain(p: &mut Process, f: &Forward, native: Handler, a: &Args) -> Option<Raw> {
    let mut ints = [0isize; 6];
    match plain_args(p, f, a, &mut ints)? {
        Ok(()) => {}
        Err(NotPlain::Ours) => return Some(Ok(to_eax(native(p, a)) as i32)),
        Err(NotPlain::Error(e)) => return Some(Err(e)),
    };
    let ret = match lkl::syscall_ints(f.lkl_nr, ints).map(|r| r as i32) {
        Ok(ret) if ret >= 0 && f.ret == Ret::Id16 => Ok(route::id32_to_id16(ret as u32) as i32),
        other => other,
    };
    Some(ret)
}

/// read, write, pread64 and pwrite64 on an LKL descriptor, of any length
/// ([`transfer`]); `None` for the other routes.
fn forward_rw(p: &mut Process, f: &Forward, native: Handler, a: &Args) -> Option<Raw> {
    let (write, positional) = match f.lkl_nr {
        lkl_nr::READ => (false, false),
        lkl_nr::WRITE => (true, false),
        lkl_nr::PREAD64 => (false, true),
        lkl_nr::PWRITE64 => (true, true),
        _ => return None,
    };
    // Like `forward`, a decoder of the raw registers for LKL's route (the
    // native handler gets them typed through the table): name them once.
    let [ours, buf, len, offset_low, offset_high, _] = *a;
    Some(match lkl_fd(p, ours) {
        Ok(Some(fd)) => {
            // i386 pread64/pwrite64: the offset's low word, then its high word.
            let offset = positional.then(|| (offset_low as u64 | (offset_high as u64) << 32) as i64);
            let r = transfer(p, fd, &[(buf, len as usize)], offset, write);
            sigpipe_on_epipe(p, write, r)
        }
        Ok(None) => Ok(to_eax(native(p, a)) as i32),
        Err(e) => Err(e),
    })
}

/// A write that LKL answered EPIPE (a pipe or stream socket without a
/// reader) raises SIGPIPE in the program, as Linux does (LKL's own SIGPIPE
/// goes to the host task, which ignores it: lkl/interrupt.rs).
fn sigpipe_on_epipe(p: &mut Process, write: bool, r: Raw) -> Raw {
    if write && r == Ok(-(Errno::EPIPE as i32)) {
        super::signal::raise(p, embox_abi::consts::signal::SIGPIPE);
    }
    r
}

/// One read or write of LKL descriptor `fd` over the user `ranges`
/// (address, length; one for read/write, the iovecs for readv/writev), at
/// `offset` (pread64/pwrite64) or at the file's position. The bytes go
/// through one kernel buffer of at most MAX_IO bytes, one LKL call per
/// MAX_IO chunk, as long as [`span`] says Linux would move them
/// all in one call; otherwise one call moves at most MAX_IO bytes (a short
/// count, as Linux gives on pipes and sockets). A chunk that comes back
/// short (end of file, a full non-blocking pipe) ends it; an error after
/// some bytes moved gives the count so far, as Linux returns it.
fn transfer(p: &mut Process, fd: i32, ranges: &[(u32, usize)], offset: Option<i64>, write: bool) -> Raw {
    let total = ranges.iter().fold(0usize, |t, r| t.saturating_add(r.1)).min(MAX_RW_COUNT);
    let max_io = MAX_IO as usize;
    let how = if total <= max_io { Span::Whole } else { span(fd, write)? };
    let limit = if how == Span::Capped { max_io } else { total };
    // A regular file moves to the end; a signal waits for it (see Span).
    let mut steady = how == Span::WholeFile;
    let mut buf = Vec::new();
    buf.try_reserve_exact(limit.min(max_io)).map_err(|_| Errno::ENOMEM)?;
    let mut done = 0usize;
    loop {
        let chunk = (limit - done).min(max_io);
        let at = offset.map(|o| o + done as i64);
        let n = match transfer_chunk(p, fd, ranges, done, chunk, at, &mut buf, write, steady) {
            Ok(n) if n >= 0 => n as usize,
            _ if done > 0 => break,
            // A signal that came while the bytes were staged ends the call
            // before LKL runs it; a regular file's read or write is made all
            // the same, and the signal runs after it, as on Linux. The type
            // is asked only then: nothing on the path of every call.
            Ok(n) if n == -(Errno::EINTR as i32) && !steady && span(fd, write)? == Span::WholeFile => {
                steady = true;
                continue;
            }
            other => return other,
        };
        done += n;
        if n < chunk || done == limit {
            break;
        }
    }
    Ok(done as i32)
}

/// Bytes `[from, from + len)` of the user ranges, written to LKL (staged
/// into `buf` first) or read from it (through `buf`, then copied out).
#[allow(clippy::too_many_arguments)]
fn transfer_chunk(p: &mut Process, fd: i32, ranges: &[(u32, usize)], from: usize, len: usize, at: Option<i64>, buf: &mut Vec<u8>, write: bool, steady: bool) -> Raw {
    if write {
        buf.clear();
        gather(p, ranges, from, len, buf)?;
        return rw_call(fd, LklArg::In(buf), len, at, steady);
    }
    // Zero-filled once, then reused (LKL writes into it: it must be
    // initialised memory).
    buf.resize(len, 0);
    let n = rw_call(fd, LklArg::Out(&mut buf[..len]), len, at, steady)?;
    if n > 0 {
        if let Err(e) = scatter(p, ranges, from, &buf[..(n as usize).min(len)]) {
            // Not delivered: the position stays where the program's bytes end.
            unread(fd, at, n as usize);
            return Err(e);
        }
    }
    Ok(n)
}

/// LKL's read/write (pread64/pwrite64 with an offset) of `len` bytes
/// to or from the kernel buffer `data`; `steady`: a signal posted to the
/// thread does not end it ([`lkl::syscall_steady`]).
fn rw_call(fd: i32, data: LklArg<'_>, len: usize, at: Option<i64>, steady: bool) -> Raw {
    let nr = match (&data, at) {
        (LklArg::In(_), None) => lkl_nr::WRITE,
        (LklArg::In(_), Some(_)) => lkl_nr::PWRITE64,
        (_, None) => lkl_nr::READ,
        (_, Some(_)) => lkl_nr::PREAD64,
    };
    let off = at.unwrap_or(0);
    let mut args = [LklArg::Int(fd as isize), data, LklArg::Int(len as isize), LklArg::Int(off as i32 as isize), LklArg::Int((off >> 32) as i32 as isize)];
    let n = if at.is_some() { 5 } else { 3 };
    let args = &mut args[..n];
    if steady { lkl::syscall_steady(nr, args) } else { lkl::syscall(nr, args) }.map(|r| r as i32)
}

/// Calls `each(user address, length, where the piece starts in the run)`
/// for the pieces of `ranges` that hold bytes `[from, from + len)` of their
/// concatenation.
fn pieces(ranges: &[(u32, usize)], from: usize, len: usize, mut each: impl FnMut(u32, usize, usize) -> Result<(), Errno>) -> Result<(), Errno> {
    let (mut skip, mut at) = (from, 0);
    for &(base, size) in ranges {
        if at == len {
            break;
        }
        if skip >= size {
            skip -= size;
            continue;
        }
        let n = (size - skip).min(len - at);
        each(base.wrapping_add(skip as u32), n, at)?;
        at += n;
        skip = 0;
    }
    Ok(())
}

/// Appends bytes `[from, from + len)` of the user ranges to `out`.
fn gather(p: &mut Process, ranges: &[(u32, usize)], from: usize, len: usize, out: &mut Vec<u8>) -> Result<(), Errno> {
    pieces(ranges, from, len, |addr, n, _| p.memory.read_append(addr, n, out))
}

/// Copies `data` into the user ranges from byte `from` of their concatenation.
fn scatter(p: &mut Process, ranges: &[(u32, usize)], from: usize, data: &[u8]) -> Result<(), Errno> {
    pieces(ranges, from, data.len(), |addr, n, at| p.memory.write(addr, &data[at..at + n]))
}

/// How one read or write of more than MAX_IO bytes goes through LKL.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Span {
    /// One call of at most MAX_IO bytes: a read of a pipe, socket or device
    /// returns what is there (a second chunk would wait for more), and a
    /// datagram must stay one datagram.
    Capped,
    /// Chunk after chunk until every byte is moved: writes to pipes,
    /// character devices and stream sockets (a blocking write waits until
    /// all is written; a non-blocking or interrupted one ends at the count
    /// so far, as the loop does).
    Whole,
    /// Chunk after chunk, and a signal does not end it: a regular file or a
    /// block device, which Linux reads or writes to the end before a signal
    /// is delivered (a signal between two chunks, or one pending when the
    /// call reaches LKL, must not cut it short or fail it).
    WholeFile,
}

/// How a read (`write` false) or write of LKL descriptor `fd` longer than
/// MAX_IO goes on Linux ([`Span`]), from its type (an fstat, and for a
/// socket its SO_TYPE). Asked only for transfers longer than MAX_IO, and
/// for a shorter one that a signal stopped before LKL ran it.
fn span(fd: i32, write: bool) -> Result<Span, Errno> {
    let whole = match file_type(fd)? {
        S_IFREG | S_IFBLK => return Ok(Span::WholeFile),
        S_IFIFO | S_IFCHR => write,
        S_IFSOCK => write && socket_type(fd)? == SOCK_STREAM,
        _ => false,
    };
    Ok(if whole { Span::Whole } else { Span::Capped })
}

/// LKL descriptor `fd`'s file type (`st_mode & S_IFMT`), from an fstat.
fn file_type(fd: i32) -> Result<u32, Errno> {
    use embox_abi::consts::mode::S_IFMT;
    let mut st = [0u8; size_of::<stat::LklStat64>()];
    let mut args = [LklArg::Int(fd as isize), LklArg::Out(&mut st)];
    sys(lkl::syscall(lkl_nr::FSTAT64, &mut args).map(|r| r as i32))?;
    Ok(stat::LklStat64::read_from_bytes(&st).map_err(|_| Errno::EIO)?.st_mode & S_IFMT)
}

/// LKL descriptor `fd`'s access mode and status flags (LKL's F_GETFL: our
/// table's copy of an LKL socket's flags is its type) and whether it can be
/// read at an offset (Linux's FMODE_PREAD: not a pipe or socket),
/// for sendfile's error order.
pub(super) fn access(fd: i32) -> Result<(u32, bool), Errno> {
    use embox_abi::consts::fcntl::F_GETFL;
    let flags = sys(call_ints(lkl_nr::FCNTL64, &[fd as isize, F_GETFL as isize]))?;
    Ok((flags, !matches!(file_type(fd)?, S_IFIFO | S_IFSOCK)))
}

const SOCK_STREAM: u32 = 1;
const SO_TYPE: u32 = 3;

/// The type of LKL socket `fd` (SOCK_STREAM, SOCK_DGRAM, ...).
fn socket_type(fd: i32) -> Result<u32, Errno> {
    let (mut value, mut len) = ([0u8; 4], 4u32.to_le_bytes());
    let mut args = [
        LklArg::Int(fd as isize),
        LklArg::Int(SOL_SOCKET as isize),
        LklArg::Int(SO_TYPE as isize),
        LklArg::Out(&mut value),
        LklArg::Out(&mut len),
    ];
    sys(lkl::syscall(lkl_nr::GETSOCKOPT, &mut args).map(|r| r as i32))?;
    Ok(u32::from_le_bytes(value))
}

/// Sets LKL's own umask to 0 once: creation modes arrive with the
/// process's umask already applied.
fn clear_lkl_umask() {
    static DONE: AtomicBool = AtomicBool::new(false);
    if !DONE.swap(true, Ordering::Relaxed) {
        let _ = call_ints(lkl_nr::UMASK, &[0]);
    }
}

/// Reads a path argument: the bytes, NUL-terminated, made absolute against
/// the working directory when relative and `relative_to_cwd`.
fn stage_path(p: &mut Process, addr: u32, relative_to_cwd: bool) -> Result<Vec<u8>, Errno> {
    let raw = p.memory.read_cstr(addr, PATH_MAX)?;
    let absolute = relative_to_cwd && !raw.is_empty() && raw[0] != b'/';
    let mut out = Vec::new();
    let cwd = p.cwd.get();
    out.try_reserve_exact(raw.len() + cwd.len() + 2).map_err(|_| Errno::ENOMEM)?;
    if absolute {
        out.extend_from_slice(cwd.as_bytes());
        if !cwd.ends_with('/') {
            out.push(b'/');
        }
    }
    out.extend_from_slice(&raw);
    if out.len() >= PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    out.push(0);
    Ok(out)
}

/// Where an out-buffer goes back to, after the call.
enum CopyBack {
    /// LKL's result is the byte count (read, readlink, getdents64).
    Counted { staged: usize, addr: u32 },
    /// All of it, on success.
    Whole { staged: usize, addr: u32 },
    /// `count` ids, the result says how many (getgroups).
    Ids { staged: usize, addr: u32 },
    /// A socket address or option and its in/out length.
    Sock { staged: usize, addr: u32, len_addr: u32 },
}

/// Forwards i386 call `a` as `f` says; `native` serves it when a descriptor
/// argument is one of ours rather than LKL's.
pub fn forward(p: &mut Process, f: &Forward, native: Handler, a: &Args) -> Raw {
    if let Some(ret) = forward_plain(p, f, native, a) {
        return ret;
    }
    if let Some(ret) = forward_rw(p, f, native, a) {
        return ret;
    }
    let mut staged: Vec<Staged> = Vec::new();
    staged.try_reserve_exact(f.args.len()).map_err(|_| Errno::ENOMEM)?;
    let mut back: Vec<CopyBack> = Vec::new();
    // Whether the next path is relative to our working directory.
    let mut at_cwd = true;
    let mut opened_path: Option<Vec<u8>> = None;
    // The path of a real directory descriptor, for the new file's own path.
    let mut dir_path: Option<alloc::string::String> = None;
    for arg in f.args {
        let s = match *arg {
            Arg::Val(_) | Arg::Id16(_) | Arg::SignHigh(_) | Arg::Const(_) => Staged::Int(plain_value(*arg, a).unwrap_or(0)),
            Arg::Mode(i) => {
                clear_lkl_umask();
                Staged::Int((a[i as usize] & !p.umask) as isize)
            }
            Arg::Fd(i) => match lkl_fd(p, a[i as usize])? {
                Some(n) => Staged::Int(n as isize),
                None => return Ok(to_eax(native(p, a)) as i32),
            },
            Arg::DirFd(i) => {
                let fd = a[i as usize];
                at_cwd = fd == AT_FDCWD;
                if at_cwd {
                    Staged::Int(AT_FDCWD as i32 as isize)
                } else {
                    match lkl_fd(p, fd)? {
                        Some(n) => {
                            dir_path = Some(p.files.get(fd)?.path.clone());
                            Staged::Int(n as isize)
                        }
                        None => return Ok(to_eax(native(p, a)) as i32),
                    }
                }
            }
            Arg::Cwd => {
                at_cwd = true;
                Staged::Int(AT_FDCWD as i32 as isize)
            }
            Arg::Path(i) => {
                let path = stage_path(p, a[i as usize], at_cwd)?;
                opened_path = Some(path.clone());
                at_cwd = true;
                Staged::Str(path)
            }
            Arg::PathOpt(i) if a[i as usize] == 0 => Staged::Null,
            Arg::PathOpt(i) => Staged::Str(stage_path(p, a[i as usize], at_cwd)?),
            Arg::Str(i) => Staged::Str(stage_path(p, a[i as usize], false)?),
            Arg::In { ptr, len } => Staged::In(stage_in(p, a[ptr as usize], a[len as usize].min(MAX_IO) as usize)?),
            Arg::Out { ptr, len } => {
                back.push(CopyBack::Counted { staged: staged.len(), addr: a[ptr as usize] });
                Staged::Out(buffer(a[len as usize].min(MAX_IO) as usize)?)
            }
            Arg::Len(i) => Staged::Int(a[i as usize].min(MAX_IO) as isize),
            Arg::InFixed { ptr, nullable: true, .. } if a[ptr as usize] == 0 => Staged::Null,
            Arg::InFixed { ptr, size, .. } => Staged::In(stage_in(p, a[ptr as usize], size as usize)?),
            Arg::OutFixed { ptr, size } => {
                if a[ptr as usize] == 0 {
                    return Err(Errno::EFAULT);
                }
                back.push(CopyBack::Whole { staged: staged.len(), addr: a[ptr as usize] });
                Staged::Out(buffer(size as usize)?)
            }
            Arg::OutIds { ptr, count } | Arg::InIds { ptr, count } => {
                let count = a[count as usize] as usize;
                if count > 65536 {
                    return Err(Errno::EINVAL);
                }
                if count == 0 {
                    Staged::Null
                } else if matches!(arg, Arg::InIds { .. }) {
                    Staged::In(stage_in(p, a[ptr as usize], count * 4)?)
                } else {
                    back.push(CopyBack::Ids { staged: staged.len(), addr: a[ptr as usize] });
                    Staged::Out(buffer(count * 4)?)
                }
            }
            Arg::SockBuf { ptr, len_ptr } => {
                let (addr, len_addr) = (a[ptr as usize], a[len_ptr as usize]);
                if addr == 0 {
                    staged.push(Staged::Null);
                    Staged::Null
                } else {
                    let len = UserPtr::<zerocopy::little_endian::U32>::new(len_addr).read(&mut p.memory)?.get();
                    if (len as i32) < 0 {
                        return Err(Errno::EINVAL);
                    }
                    back.push(CopyBack::Sock { staged: staged.len(), addr, len_addr });
                    staged.push(Staged::Out(buffer(len.min(MAX_SOCKBUF) as usize)?));
                    Staged::Out(len.min(MAX_SOCKBUF).to_le_bytes().to_vec())
                }
            }
        };
        staged.push(s);
    }
    // The console keeps being ours when a program opens it by name.
    if matches!(f.ret, Ret::NewFd { .. }) && opened_path.as_deref().is_some_and(|b| is_console_path(&b[..b.len() - 1])) {
        return Ok(to_eax(native(p, a)) as i32);
    }
    let ret = call_staged(f.lkl_nr, &mut staged)?;
    if ret < 0 {
        return Ok(ret);
    }
    for b in &back {
        match *b {
            CopyBack::Counted { staged: i, addr } => {
                if let Staged::Out(buf) = &staged[i] {
                    p.memory.write(addr, &buf[..(ret as usize).min(buf.len())])?;
                }
            }
            CopyBack::Whole { staged: i, addr } => {
                if let Staged::Out(buf) = &staged[i] {
                    p.memory.write(addr, buf)?;
                }
            }
            CopyBack::Ids { staged: i, addr } => {
                if let Staged::Out(buf) = &staged[i] {
                    p.memory.write(addr, &buf[..(ret as usize * 4).min(buf.len())])?;
                }
            }
            CopyBack::Sock { staged: i, addr, len_addr } => {
                if let (Staged::Out(buf), Staged::Out(len)) = (&staged[i], &staged[i + 1]) {
                    let new_len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]);
                    p.memory.write(addr, &buf[..(new_len as usize).min(buf.len())])?;
                    p.memory.write(len_addr, &new_len.to_le_bytes())?;
                }
            }
        }
    }
    match f.ret {
        Ret::Value => Ok(ret),
        Ret::Id16 => Ok(route::id32_to_id16(ret as u32) as i32),
        Ret::NewFd { flags } => {
            let flags = flags.map(|i| a[i as usize]).unwrap_or(0);
            let path = opened_path.map(|b| alloc::string::String::from_utf8_lossy(&b[..b.len() - 1]).into_owned());
            let path = match (path, dir_path) {
                (Some(rel), Some(dir)) if !rel.starts_with('/') => embox_fs::normalize(&dir, &rel),
                (path, _) => path.unwrap_or_default(),
            };
            install(p, ret, flags, path).map(|fd| fd as i32)
        }
    }
}

fn is_console_path(path: &[u8]) -> bool {
    core::str::from_utf8(path).is_ok_and(super::open::is_console)
}

/// Puts LKL descriptor `lkl_fd` into the process's table; closes it in LKL
/// when the table is full.
fn install(p: &mut Process, lkl_fd: i32, flags: u32, path: alloc::string::String) -> Result<u32, Errno> {
    let file = OpenFile { kind: FileKind::Lkl(lkl_fd), offset: 0, flags: flags & !O_CLOEXEC, path };
    p.files.open(file, flags & O_CLOEXEC != 0).inspect_err(|_| close_lkl(lkl_fd))
}

/// Closes an LKL descriptor whose last reference in our table went.
pub fn close_lkl(lkl_fd: i32) {
    let _ = call_ints(lkl_nr::CLOSE, &[lkl_fd as isize]);
}

/// LKL's result as a `SysResult` for the handlers below. Error numbers our
/// `Errno` does not name become EIO (the plain routes pass every value).
fn sys(r: Raw) -> SysResult {
    match r? {
        v if v >= 0 => Ok(v as u32),
        v => Err(Errno::from_raw(-v).unwrap_or(Errno::EIO)),
    }
}

/// The staged path of an `*at` call: absolute when `dirfd` is AT_FDCWD,
/// with the LKL descriptor otherwise. `None`: `dirfd` is one of ours.
fn at_args(p: &mut Process, dirfd: u32, path: u32) -> Result<Option<(isize, Vec<u8>)>, Errno> {
    if dirfd == AT_FDCWD {
        return Ok(Some((AT_FDCWD as i32 as isize, stage_path(p, path, true)?)));
    }
    match lkl_fd(p, dirfd)? {
        Some(n) => Ok(Some((n as isize, stage_path(p, path, false)?))),
        None => Ok(None),
    }
}

/// LKL's `fstatat64` of a staged `*at` path into an i386 `stat64`.
fn stat_at(p: &mut Process, (dfd, path): (isize, Vec<u8>), flags: u32, out: UserPtr<Stat64>) -> SysResult {
    let mut st = [Staged::Int(dfd), Staged::Str(path), Staged::Out(buffer(size_of::<stat::LklStat64>())?), Staged::Int(flags as isize)];
    sys(call_staged(lkl_nr::FSTATAT64, &mut st))?;
    write_stat(p, &st[2], out)
}

fn write_stat(p: &mut Process, staged: &Staged, out: UserPtr<Stat64>) -> SysResult {
    let Staged::Out(buf) = staged else { return Err(Errno::EIO) };
    let lkl = stat::LklStat64::read_from_bytes(buf).map_err(|_| Errno::EIO)?;
    out.write(&mut p.memory, &stat::to_i386(&lkl))?;
    Ok(0)
}

/// stat64(path, buf)
pub fn stat64(p: &mut Process, path: UserString, buf: UserPtr<Stat64>) -> SysResult {
    match at_args(p, AT_FDCWD, path.0)? {
        Some(staged) => stat_at(p, staged, 0, buf),
        None => super::stat::stat64(p, path, buf),
    }
}

/// lstat64(path, buf)
pub fn lstat64(p: &mut Process, path: UserString, buf: UserPtr<Stat64>) -> SysResult {
    match at_args(p, AT_FDCWD, path.0)? {
        Some(staged) => stat_at(p, staged, AT_SYMLINK_NOFOLLOW, buf),
        None => super::stat::lstat64(p, path, buf),
    }
}

/// fstatat64(dirfd, path, buf, flags)
pub fn fstatat64(p: &mut Process, dirfd: Fd, path: UserString, buf: UserPtr<Stat64>, flags: u32) -> SysResult {
    match at_args(p, dirfd.0, path.0)? {
        Some(staged) => stat_at(p, staged, flags, buf),
        None => super::stat::fstatat64(p, dirfd, path, buf, flags),
    }
}

/// fstat64(fd, buf)
pub fn fstat64(p: &mut Process, fd: Fd, buf: UserPtr<Stat64>) -> SysResult {
    let Some(lkl) = lkl_fd(p, fd.0)? else { return super::stat::fstat64(p, fd, buf) };
    let mut st = [Staged::Int(lkl as isize), Staged::Out(buffer(size_of::<stat::LklStat64>())?)];
    sys(call_staged(lkl_nr::FSTAT64, &mut st))?;
    write_stat(p, &st[1], buf)
}

/// i386 `getdents(fd, dirp, count)` (old `linux_dirent`) from LKL's `getdents64`.
pub fn getdents(p: &mut Process, fd: Fd, dirp: UserSlice) -> SysResult {
    let Some(fd) = lkl_fd(p, fd.0)? else { return Err(Errno::ENOTDIR) };
    let count = dirp.len.min(MAX_IO) as usize;
    let mut st = [Staged::Int(fd as isize), Staged::Out(buffer(count)?), Staged::Int(count as isize)];
    let n = sys(call_staged(lkl_nr::GETDENTS64, &mut st))? as usize;
    let Staged::Out(src) = &st[1] else { return Err(Errno::EIO) };
    let mut out = buffer(count)?;
    let len = dirent::dirent64_to_old(&src[..n], &mut out).map_err(|e| match e {
        dirent::DirentError::Overflow => Errno::EOVERFLOW,
        dirent::DirentError::TooSmall => Errno::EINVAL,
        dirent::DirentError::Malformed => Errno::EIO,
    })?;
    UserSlice::new(dirp.addr, count as u32).write_prefix(&mut p.memory, &out[..len])?;
    Ok(len as u32)
}

/// The poll(2) revents of LKL descriptor `fd` for `events`, now (LKL's
/// ppoll with a zero timeout); POLLNVAL (0x20) if LKL cannot answer.
pub fn poll_now(fd: i32, events: u16) -> u16 {
    let mut pollfd = [0u8; 8];
    pollfd[..4].copy_from_slice(&fd.to_le_bytes());
    pollfd[4..6].copy_from_slice(&events.to_le_bytes());
    // Zero seconds, zero nanoseconds (LKL reads 8 bytes on 32-bit builds).
    let zero = [0u8; 16];
    let mut args = [LklArg::Out(&mut pollfd), LklArg::Int(1), LklArg::In(&zero), LklArg::Null, LklArg::Int(8)];
    match lkl::syscall(lkl_nr::PPOLL, &mut args) {
        Ok(r) if r >= 0 => u16::from_le_bytes([pollfd[6], pollfd[7]]),
        _ => 0x20,
    }
}

/// Sleeps in LKL's poll until one of `fds` (LKL descriptor, events) is
/// ready or `timeout` (None: forever) is up; EINTR when a signal ends it.
/// The caller scans again for the revents.
pub fn poll_wait(fds: &[(i32, u16)], timeout: Option<core::time::Duration>) -> Result<(), Errno> {
    ppoll_wait(fds, timeout, None)
}

/// Like [`poll_wait`] for a set that also holds our own objects: the sleep
/// in LKL also ends when one of ours may have changed (`ours_ready` is asked
/// first, then `wait::notify` wakes it); the caller rescans both sides.
pub fn poll_wait_mixed(fds: &[(i32, u16)], timeout: Option<core::time::Duration>, ours_ready: &mut dyn FnMut() -> bool) -> Result<(), Errno> {
    ppoll_wait(fds, timeout, Some(ours_ready))
}

fn ppoll_wait(fds: &[(i32, u16)], timeout: Option<core::time::Duration>, ours_ready: Option<&mut dyn FnMut() -> bool>) -> Result<(), Errno> {
    let mut pollfds = buffer(fds.len() * 8)?;
    for (slot, &(fd, events)) in pollfds.chunks_exact_mut(8).zip(fds) {
        slot[..4].copy_from_slice(&fd.to_le_bytes());
        slot[4..6].copy_from_slice(&events.to_le_bytes());
    }
    // LKL's 32-bit ppoll takes an old_timespec32 (two 32-bit fields).
    let mut ts = [0u8; 8];
    let timed = timeout.map(|t| {
        let secs = t.as_secs().min(i32::MAX as u64) as i32;
        ts[..4].copy_from_slice(&secs.to_le_bytes());
        ts[4..].copy_from_slice(&(t.subsec_nanos() as i32).to_le_bytes());
    });
    let n = fds.len() as isize;
    let mut args = [LklArg::Out(&mut pollfds), LklArg::Int(n), if timed.is_some() { LklArg::In(&ts) } else { LklArg::Null }, LklArg::Null, LklArg::Int(8)];
    let ret = match ours_ready {
        Some(ours_ready) => crate::lkl::poll_mixed(&mut args, ours_ready)?,
        None => lkl::syscall(lkl_nr::PPOLL, &mut args)?,
    };
    match ret {
        r if r == -(Errno::EINTR as isize) => Err(Errno::EINTR),
        _ => Ok(()),
    }
}

/// Reads LKL file `fd` at `offset` into a kernel buffer (mmap of an LKL
/// file copies its pages this way); the bytes read.
pub fn pread(fd: i32, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
    let len = buf.len();
    Ok((sys(rw_call(fd, LklArg::Out(buf), len, Some(offset as i64), false))? as usize).min(len))
}

/// LKL's `llseek` (the only seek of a 32-bit asm-generic kernel); the new offset.
fn llseek(fd: i32, offset: i64, whence: u32) -> Result<u64, Errno> {
    let mut st = [
        Staged::Int(fd as isize),
        Staged::Int((offset >> 32) as i32 as isize),
        Staged::Int(offset as i32 as isize),
        Staged::Out(buffer(8)?),
        Staged::Int(whence as isize),
    ];
    sys(call_staged(lkl_nr::LLSEEK, &mut st))?;
    let Staged::Out(b) = &st[3] else { return Err(Errno::EIO) };
    Ok(u64::from_le_bytes(b[..8].try_into().map_err(|_| Errno::EIO)?))
}

/// lseek(fd, offset, whence)
pub fn lseek(p: &mut Process, fd: Fd, off: i32, whence: u32) -> SysResult {
    let Some(lkl) = lkl_fd(p, fd.0)? else { return super::io::lseek(p, fd, off, whence) };
    let pos = llseek(lkl, off as i64, whence)?;
    u32::try_from(pos).ok().filter(|v| *v <= i32::MAX as u32).ok_or(Errno::EOVERFLOW)
}

/// _llseek(fd, offset_hi, offset_lo, loff_t *result, whence)
pub fn llseek_i386(p: &mut Process, fd: Fd, off: Off64Hi, result: UserPtr<I64>, whence: u32) -> SysResult {
    let Some(lkl) = lkl_fd(p, fd.0)? else { return super::io::llseek(p, fd, off, result, whence) };
    let pos = llseek(lkl, off.0 as i64, whence)?;
    result.write(&mut p.memory, &I64::new(pos as i64))?;
    Ok(0)
}

/// fcntl/fcntl64: descriptor flags and duplication stay in our table;
/// status flags and locks go to LKL for LKL files.
/// fcntl(fd, cmd, arg): `arg` is a pointer for the lock commands.
pub fn fcntl(p: &mut Process, ours: Fd, cmd: u32, arg: u32) -> SysResult {
    use embox_abi::consts::fcntl::*;
    let Some(fd) = lkl_fd(p, ours.0)? else { return super::fd::fcntl(p, ours, cmd, arg) };
    match cmd {
        F_DUPFD | F_DUPFD_CLOEXEC | F_GETFD | F_SETFD => super::fd::fcntl(p, ours, cmd, arg),
        F_GETFL | F_SETFL => sys(call_ints(lkl_nr::FCNTL64, &[fd as isize, cmd as isize, arg as isize])),
        // F_GETLK64/F_SETLK64/F_SETLKW64 (12..=14; asm-generic fcntl.h, same
        // numbers and `struct flock64` layout on i386: 24 bytes, packed at 4).
        12..=14 => {
            let lock_ptr = UserSlice::new(arg, 24);
            let lock = lock_ptr.read_all(&mut p.memory)?;
            let mut st = [Staged::Int(fd as isize), Staged::Int(cmd as isize), Staged::Out(lock)];
            let r = sys(call_staged(lkl_nr::FCNTL64, &mut st))?;
            if let Staged::Out(lock) = &st[2] {
                lock_ptr.write_prefix(&mut p.memory, lock)?;
            }
            Ok(r)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// ioctl: the console's requests natively; for LKL files only the
/// requests whose argument size we know.
/// ioctl(fd, request, arg): `arg` points to an int (FIONREAD, FIONBIO) or
/// a `struct ifreq` for the requests forwarded.
pub fn ioctl(p: &mut Process, ours: Fd, request: u32, arg: u32) -> SysResult {
    use embox_abi::consts::ioctl::FIONREAD;
    const FIONBIO: u32 = 0x5421;
    let Some(fd) = lkl_fd(p, ours.0)? else { return super::fd::ioctl(p, ours, request, arg) };
    let size = match request {
        FIONREAD | FIONBIO => 4,
        // Network interface requests on an LKL socket (busybox ifconfig):
        // a `struct ifreq`, the same 32 bytes on i386 and in LKL.
        // (SIOCGIFCONF, 0x8912, holds a pointer: not forwarded.)
        0x8910 | 0x8913..=0x8927 | 0x8933 | 0x8942 | 0x8943 | 0x8970 | 0x8971 => 32,
        // Terminal requests (an LKL file is never a terminal) and the rest.
        _ => return Err(Errno::ENOTTY),
    };
    let arg_ptr = UserSlice::new(arg, size);
    let mut st = [Staged::Int(fd as isize), Staged::Int(request as isize), Staged::Out(arg_ptr.read_all(&mut p.memory)?)];
    let r = sys(call_staged(lkl_nr::IOCTL, &mut st))?;
    if let Staged::Out(v) = &st[2] {
        arg_ptr.write_prefix(&mut p.memory, v)?;
    }
    Ok(r)
}

/// pipe/pipe2: an LKL pipe, both ends in our table.
/// pipe2(fds, flags)
pub fn pipe2(p: &mut Process, fds: UserPtr<[u32; 2]>, flags: u32) -> SysResult {
    let mut st = [Staged::Out(buffer(8)?), Staged::Int(flags as isize)];
    sys(call_staged(lkl_nr::PIPE2, &mut st))?;
    let (r, w) = fd_pair(&st[0])?;
    let ours_r = install(p, r, flags, "pipe:".into()).inspect_err(|_| close_lkl(w))?;
    let ours_w = match install(p, w, flags | 1, "pipe:".into()) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = p.files.close(ours_r).map(super::release_file_opt);
            return Err(e);
        }
    };
    write_fd_pair(p, fds, ours_r, ours_w)
}

/// The two descriptors LKL wrote (pipe2, socketpair).
fn fd_pair(staged: &Staged) -> Result<(i32, i32), Errno> {
    let Staged::Out(fds) = staged else { return Err(Errno::EIO) };
    let word = |at: usize| fds.get(at..at + 4).and_then(|b| b.try_into().ok()).map(i32::from_le_bytes).ok_or(Errno::EIO);
    Ok((word(0)?, word(4)?))
}

/// Our two descriptors into the caller's `int[2]`.
fn write_fd_pair(p: &mut Process, fds: UserPtr<[u32; 2]>, first: u32, second: u32) -> SysResult {
    fds.write(&mut p.memory, &[first, second])?;
    Ok(0)
}

/// pipe(fds)
pub fn pipe(p: &mut Process, fds: UserPtr<[u32; 2]>) -> SysResult {
    pipe2(p, fds, 0)
}

/// socketpair(domain, type, protocol, sv): both ends in our table.
pub fn socketpair(p: &mut Process, domain: u32, ty: u32, protocol: u32, sv: UserPtr<[u32; 2]>) -> SysResult {
    let mut st = [Staged::Int(domain as isize), Staged::Int(ty as isize), Staged::Int(protocol as isize), Staged::Out(buffer(8)?)];
    sys(call_staged(lkl_nr::SOCKETPAIR, &mut st))?;
    let (x, y) = fd_pair(&st[3])?;
    let ours_x = install(p, x, ty & O_CLOEXEC | 2, "socket:".into()).inspect_err(|_| close_lkl(y))?;
    let ours_y = install(p, y, ty & O_CLOEXEC | 2, "socket:".into())?;
    write_fd_pair(p, sv, ours_x, ours_y)
}

/// socketcall(call, args): the direct call it stands for, its arguments
/// read from user memory and decoded as that call's registers are.
pub fn socketcall(p: &mut Process, call: u32, args: UserPtr<u32>) -> SysResult {
    let d = socketcall::demux(call).ok_or(Errno::EINVAL)?;
    let mut raw = [0u8; 24];
    p.memory.read(args.addr, &mut raw[..d.nargs * 4])?;
    let words: Vec<u32> = raw.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    let regs = socketcall::args_of(&words[..d.nargs]);
    match d.nr {
        embox_abi::nr::SOCKETPAIR => return SyscallFn::call(socketpair, p, &regs),
        embox_abi::nr::SENDMSG => return SyscallFn::call(sendmsg, p, &regs),
        embox_abi::nr::RECVMSG => return SyscallFn::call(recvmsg, p, &regs),
        _ => {}
    }
    match route::route(d.nr) {
        Some(f) => sys(forward(p, &f, super::sys!(enosys), &regs)),
        None => Err(Errno::ENOSYS),
    }
}

/// The native side of a call only LKL serves (reached when a descriptor
/// of ours, such as the console, is given to it).
pub fn enosys(_p: &mut Process) -> SysResult {
    Err(Errno::ENOSYS)
}

/// readv/writev on an LKL file: the whole vector as one read or write
/// ([`transfer`]), so a write of up to MAX_IO bytes stays one LKL write.
fn vector(p: &mut Process, ours: Fd, iov: UserPtr<Iovec>, count: u32, write: bool) -> SysResult {
    let Some(fd) = lkl_fd(p, ours.0)? else {
        return if write { super::io::writev(p, ours, iov, count) } else { super::io::readv(p, ours, iov, count) };
    };
    // UIO_MAXIOV.
    if count > 1024 {
        return Err(Errno::EINVAL);
    }
    let mut iovs = Vec::new();
    iovs.try_reserve_exact(count as usize).map_err(|_| Errno::ENOMEM)?;
    for i in 0..count {
        let v = iov.at(i).read(&mut p.memory)?;
        // A length that is negative as a ssize_t is EINVAL, as on Linux.
        if (v.iov_len as i32) < 0 {
            return Err(Errno::EINVAL);
        }
        iovs.push((v.iov_base, v.iov_len as usize));
    }
    let r = transfer(p, fd, &iovs, None, write);
    sys(sigpipe_on_epipe(p, write, r))
}

/// readv(fd, iov, iovcnt)
pub fn readv(p: &mut Process, fd: Fd, iov: UserPtr<Iovec>, count: u32) -> SysResult {
    vector(p, fd, iov, count, false)
}

/// writev(fd, iov, iovcnt)
pub fn writev(p: &mut Process, fd: Fd, iov: UserPtr<Iovec>, count: u32) -> SysResult {
    vector(p, fd, iov, count, true)
}

/// sendfile64 forwarded ([`sendfile_at`]).
pub fn sendfile64(p: &mut Process, out_fd: Fd, in_fd: Fd, off_ptr: UserPtr<I64>, count: usize) -> SysResult {
    super::io::sendfile64_with(p, out_fd, in_fd, off_ptr, count, sendfile_at)
}

/// sendfile (i386's 32-bit offset) forwarded ([`sendfile_at`]).
pub fn sendfile(p: &mut Process, out_fd: Fd, in_fd: Fd, off_ptr: UserPtr<I32>, count: usize) -> SysResult {
    super::io::sendfile32_with(p, out_fd, in_fd, off_ptr, count, sendfile_at)
}

/// sendfile between any two descriptors when the input is LKL's (else the
/// native core): LKL reads, then the output's own write (the console
/// natively), MAX_IO bytes at a time; from a regular file until `count`
/// bytes are sent, as Linux sends them (see [`Span`]).
fn sendfile_at(p: &mut Process, out_fd: Fd, in_fd: Fd, offset: Option<i64>, count: usize) -> Result<(u32, i64), Errno> {
    let Some(src) = lkl_fd(p, in_fd.0)? else { return super::io::sendfile_at(p, out_fd, in_fd, offset, count) };
    let count = count.min(MAX_RW_COUNT);
    let max_io = MAX_IO as usize;
    let limit = if count <= max_io || span(src, false)? != Span::Capped { count } else { max_io };
    let mut data = buffer(limit.min(max_io))?;
    let mut done = 0usize;
    loop {
        let chunk = (limit - done).min(max_io);
        let n = match rw_call(src, LklArg::Out(&mut data[..chunk]), chunk, offset.map(|o| o + done as i64), false) {
            Ok(n) if n >= 0 => n as usize,
            _ if done > 0 => break,
            other => return sys(other).map(|n| (n, offset.unwrap_or(0))),
        };
        if n == 0 {
            break;
        }
        let written = match write_data(p, out_fd.0, &data[..n]) {
            Ok(w) => w as usize,
            Err(e) => {
                unread(src, offset, n);
                if done > 0 {
                    break;
                }
                return Err(e);
            }
        };
        // The input's position counts the bytes sent, not those read.
        unread(src, offset, n - written.min(n));
        done += written;
        if written < n || n < chunk || done == limit {
            break;
        }
    }
    Ok((done as u32, offset.unwrap_or(0) + done as i64))
}

/// Moves LKL descriptor `fd`'s position back over `n` bytes read but not
/// delivered (reads at an explicit `offset` moved nothing). Best effort: a
/// pipe or socket cannot seek, and its bytes are gone as on Linux.
fn unread(fd: i32, offset: Option<i64>, n: usize) {
    if offset.is_none() && n > 0 {
        let _ = llseek(fd, -(n as i64), embox_abi::consts::seek::SEEK_CUR);
    }
}

/// Writes kernel bytes to descriptor `fd`, whatever it is.
fn write_data(p: &mut Process, fd: u32, data: &[u8]) -> SysResult {
    match lkl_fd(p, fd)? {
        Some(n) => sys(rw_call(n, LklArg::In(data), data.len(), None, false)),
        None => super::io::write_kernel_bytes(p, fd, data).map(|wrote| wrote as u32),
    }
}

/// chdir: LKL checks the directory; the process keeps the path.
pub fn chdir(p: &mut Process, path: UserString) -> SysResult {
    let path = stage_path(p, path.0, true)?;
    enter_dir(p, path)
}

/// fchdir(fd)
pub fn fchdir(p: &mut Process, ours: Fd) -> SysResult {
    let Some(fd) = lkl_fd(p, ours.0)? else { return super::dir::fchdir(p, ours) };
    let mut st = [Staged::Int(fd as isize), Staged::Out(buffer(size_of::<stat::LklStat64>())?)];
    sys(call_staged(lkl_nr::FSTAT64, &mut st))?;
    check_dir(&st[1])?;
    p.cwd.set(p.files.get(ours.0)?.path);
    Ok(0)
}

fn check_dir(staged: &Staged) -> Result<(), Errno> {
    let Staged::Out(buf) = staged else { return Err(Errno::EIO) };
    let st = stat::LklStat64::read_from_bytes(buf).map_err(|_| Errno::EIO)?;
    if st.st_mode & 0o170000 != 0o040000 {
        return Err(Errno::ENOTDIR);
    }
    Ok(())
}

fn enter_dir(p: &mut Process, path: Vec<u8>) -> SysResult {
    let text = core::str::from_utf8(&path[..path.len() - 1]).map_err(|_| Errno::ENOENT)?;
    let normalized = embox_fs::normalize("/", text);
    let mut st = [Staged::Int(AT_FDCWD as i32 as isize), Staged::Str(path), Staged::Out(buffer(size_of::<stat::LklStat64>())?), Staged::Int(0)];
    sys(call_staged(lkl_nr::FSTATAT64, &mut st))?;
    check_dir(&st[2])?;
    let mut access = [Staged::Int(AT_FDCWD as i32 as isize), core::mem::replace(&mut st[1], Staged::Null), Staged::Int(1)];
    sys(call_staged(lkl_nr::FACCESSAT, &mut access))?;
    p.cwd.set(normalized);
    Ok(0)
}

const _: () = assert!(size_of::<stat::LklStat64>() == 104);

/// An i386 `struct msghdr` (28 bytes; LKL's 32-bit `user_msghdr` has the
/// same layout): name, namelen, iov, iovlen, control, controllen, flags.
struct MsgHdr([u32; 7]);

impl MsgHdr {
    fn read(p: &mut Process, addr: u32) -> Result<Self, Errno> {
        let mut raw = [0u8; 28];
        p.memory.read(addr, &mut raw)?;
        let mut words = [0u32; 7];
        for (w, c) in words.iter_mut().zip(raw.chunks_exact(4)) {
            *w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
        Ok(Self(words))
    }

    /// The header LKL gets: the same fields with kernel buffers.
    fn for_lkl(&self, name: &mut [u8], iov: &mut [u8; 8], control: &mut [u8]) -> [u8; 28] {
        let ptr = |b: &mut [u8]| if b.is_empty() { 0 } else { b.as_mut_ptr() as usize as u32 };
        let words = [ptr(name), name.len() as u32, iov.as_mut_ptr() as usize as u32, 1, ptr(control), control.len() as u32, 0];
        let mut out = [0u8; 28];
        for (c, w) in out.chunks_exact_mut(4).zip(words) {
            c.copy_from_slice(&w.to_le_bytes());
        }
        out
    }
}

/// Longest socket address and control data a msghdr may carry (Linux:
/// sizeof(sockaddr_storage); net.core.optmem_max's default).
const MAX_MSG_NAME: u32 = 128;
const MAX_MSG_CONTROL: u32 = 20480;
const SOL_SOCKET: u32 = 1;
const SCM_RIGHTS: u32 = 1;
const MSG_CMSG_CLOEXEC: u32 = 0x4000_0000;

/// The user's iovecs (base, length), their total capped at MAX_IO.
fn msg_iovs(p: &mut Process, m: &MsgHdr) -> Result<(Vec<(u32, usize)>, usize), Errno> {
    use embox_abi::types::Iovec;
    if m.0[3] > 1024 {
        return Err(Errno::EMSGSIZE);
    }
    let mut iovs = Vec::new();
    iovs.try_reserve_exact(m.0[3] as usize).map_err(|_| Errno::ENOMEM)?;
    let mut total = 0usize;
    for i in 0..m.0[3] {
        let v = UserPtr::<Iovec>::new(m.0[2].wrapping_add(i * 8)).read(&mut p.memory)?;
        let take = (v.iov_len as usize).min(MAX_IO as usize - total);
        iovs.push((v.iov_base, take));
        total += take;
    }
    Ok((iovs, total))
}

/// Rewrites the descriptors of SCM_RIGHTS messages in `control` with `map`.
fn map_rights(control: &mut [u8], mut map: impl FnMut(i32) -> Result<i32, Errno>) -> Result<(), Errno> {
    let mut at = 0usize;
    while at + 12 <= control.len() {
        let word = |i: usize| u32::from_le_bytes([control[i], control[i + 1], control[i + 2], control[i + 3]]);
        let (len, level, kind) = (word(at) as usize, word(at + 4), word(at + 8));
        if len < 12 || at + len > control.len() {
            break;
        }
        if level == SOL_SOCKET && kind == SCM_RIGHTS {
            for fd_at in (at + 12..at + len).step_by(4).filter(|i| i + 4 <= at + len) {
                let fd = i32::from_le_bytes([control[fd_at], control[fd_at + 1], control[fd_at + 2], control[fd_at + 3]]);
                control[fd_at..fd_at + 4].copy_from_slice(&map(fd)?.to_le_bytes());
            }
        }
        at += (len + 3) & !3;
    }
    Ok(())
}

/// sendmsg on an LKL socket: the name, the data of every iovec (gathered
/// into one kernel buffer, so it stays one message) and the control data
/// are copied in; SCM_RIGHTS carries our descriptors as LKL's.
pub fn sendmsg(p: &mut Process, ours: Fd, msg: UserPtr<[u32; 7]>, flags: u32) -> SysResult {
    let Some(fd) = lkl_fd(p, ours.0)? else { return super::socket::sendmsg(p, ours, msg, flags) };
    let m = MsgHdr::read(p, msg.addr)?;
    let mut name = if m.0[0] != 0 && m.0[1] != 0 {
        if m.0[1] > MAX_MSG_NAME {
            return Err(Errno::EINVAL);
        }
        stage_in(p, m.0[0], m.0[1] as usize)?
    } else {
        Vec::new()
    };
    let (iovs, total) = msg_iovs(p, &m)?;
    let mut data = Vec::new();
    data.try_reserve_exact(total).map_err(|_| Errno::ENOMEM)?;
    gather(p, &iovs, 0, total, &mut data)?;
    let mut control = if m.0[4] != 0 && m.0[5] != 0 {
        if m.0[5] > MAX_MSG_CONTROL {
            return Err(Errno::ENOMEM);
        }
        let mut b = stage_in(p, m.0[4], m.0[5] as usize)?;
        map_rights(&mut b, |ours| match lkl_fd(p, ours as u32) {
            Ok(Some(n)) => Ok(n),
            _ => Err(Errno::EBADF),
        })?;
        b
    } else {
        Vec::new()
    };
    let mut iov = [0u8; 8];
    iov[..4].copy_from_slice(&(data.as_mut_ptr() as usize as u32).to_le_bytes());
    iov[4..].copy_from_slice(&(total as u32).to_le_bytes());
    // LKL follows the pointers inside the header to `name`, `iov`, `data`
    // and `control`: kernel buffers that live until the call returns.
    let header = m.for_lkl(&mut name, &mut iov, &mut control);
    let mut st = [Staged::Int(fd as isize), Staged::In(header.to_vec()), Staged::Int(flags as isize)];
    sys(call_staged(lkl_nr::SENDMSG, &mut st))
}

/// recvmsg on an LKL socket: LKL fills kernel buffers, which are scattered
/// back into the iovecs; the name, the control data (SCM_RIGHTS
/// descriptors become ours) and their lengths and the flags are written back.
pub fn recvmsg(p: &mut Process, ours: Fd, msg: UserPtr<[u32; 7]>, flags: u32) -> SysResult {
    let Some(fd) = lkl_fd(p, ours.0)? else { return super::socket::recvmsg(p, ours, msg, flags) };
    let m = MsgHdr::read(p, msg.addr)?;
    let mut name = buffer(if m.0[0] != 0 { m.0[1].min(MAX_MSG_NAME) as usize } else { 0 })?;
    let (iovs, total) = msg_iovs(p, &m)?;
    let mut data = buffer(total)?;
    let mut control = buffer(if m.0[4] != 0 { m.0[5].min(MAX_MSG_CONTROL) as usize } else { 0 })?;
    let mut iov = [0u8; 8];
    iov[..4].copy_from_slice(&(data.as_mut_ptr() as usize as u32).to_le_bytes());
    iov[4..].copy_from_slice(&(total as u32).to_le_bytes());
    // As in sendmsg: LKL writes through the header's pointers into these
    // kernel buffers, which live until the call returns.
    let header = m.for_lkl(&mut name, &mut iov, &mut control);
    let mut st = [Staged::Int(fd as isize), Staged::Out(header.to_vec()), Staged::Int(flags as isize)];
    let n = sys(call_staged(lkl_nr::RECVMSG, &mut st))? as usize;
    let Staged::Out(back) = &st[1] else { return Err(Errno::EIO) };
    let field = |i: usize| u32::from_le_bytes([back[i * 4], back[i * 4 + 1], back[i * 4 + 2], back[i * 4 + 3]]);
    let (name_len, control_len, msg_flags) = (field(1), field(5) as usize, field(6));
    scatter(p, &iovs, 0, &data[..n.min(data.len())])?;
    if !name.is_empty() {
        p.memory.write(m.0[0], &name[..(name_len as usize).min(name.len())])?;
    }
    if m.0[0] != 0 {
        p.memory.write(msg.addr.wrapping_add(4), &name_len.to_le_bytes())?;
    }
    let control_len = control_len.min(control.len());
    if control_len > 0 {
        let flags_rights = if flags & MSG_CMSG_CLOEXEC != 0 { O_CLOEXEC | 2 } else { 2 };
        map_rights(&mut control[..control_len], |theirs| install(p, theirs, flags_rights, "socket:".into()).map(|n| n as i32))?;
        p.memory.write(m.0[4], &control[..control_len])?;
    }
    p.memory.write(msg.addr.wrapping_add(20), &(control_len as u32).to_le_bytes())?;
    p.memory.write(msg.addr.wrapping_add(24), &msg_flags.to_le_bytes())?;
    Ok(n as u32)
}
