//! signalfd and signalfd4: a descriptor that reads the caller's pending
//! signals of a mask as `struct signalfd_siginfo` records (taking them, as
//! sigtimedwait does), is readable for poll/select while one is pending,
//! and blocks in read unless O_NONBLOCK (EAGAIN). The descriptor holds only
//! the mask: whoever reads it reads its own signals (a forked child its
//! own), as on Linux.

use embox_abi::consts::open::{O_CLOEXEC, O_NONBLOCK, O_RDWR};
use embox_abi::errno::SysResult;
use embox_abi::Errno;
use zerocopy::little_endian::U64;

use super::user::{UserPtr, UserSlice};
use crate::linux::files::{FileKind, OpenFile};
use crate::linux::process::Process;
use crate::linux::signal::{self as sig, SigInfo, UNBLOCKABLE};

/// `sizeof(struct signalfd_siginfo)`.
pub const RECORD_BYTES: usize = 128;
const SFD_CLOEXEC: u32 = O_CLOEXEC;
const SFD_NONBLOCK: u32 = O_NONBLOCK;

/// signalfd(fd, mask, sizemask)
pub fn signalfd(p: &mut Process, fd: u32, mask: UserPtr<U64>, size: u32) -> SysResult {
    signalfd4(p, fd, mask, size, 0)
}

/// signalfd4(fd, mask, sizemask, flags): fd -1 makes a new descriptor;
/// a signalfd's own fd changes its mask (EINVAL for any other file).
/// SIGKILL and SIGSTOP are never read.
pub fn signalfd4(p: &mut Process, fd: u32, mask: UserPtr<U64>, size: u32, flags: u32) -> SysResult {
    if flags & !(SFD_CLOEXEC | SFD_NONBLOCK) != 0 || size != 8 {
        return Err(Errno::EINVAL);
    }
    let mask = mask.read(&mut p.memory)?.get() & !UNBLOCKABLE;
    if fd as i32 != -1 {
        return p.files.update(fd, |f| match f.kind {
            FileKind::SignalFd(_) => {
                f.kind = FileKind::SignalFd(mask);
                Ok(fd)
            }
            _ => Err(Errno::EINVAL),
        })?;
    }
    let file = OpenFile {
        kind: FileKind::SignalFd(mask),
        offset: 0,
        flags: O_RDWR | (flags & SFD_NONBLOCK),
        path: alloc::string::String::from("anon_inode:[signalfd]"),
    };
    p.files.open(file, flags & SFD_CLOEXEC != 0)
}

/// read on a signalfd: as many whole records as fit (EINVAL for less than
/// one), the first waited for unless `nonblock`.
pub fn read(p: &mut Process, mask: u64, nonblock: bool, buf: UserSlice) -> SysResult {
    let room = buf.len as usize / RECORD_BYTES;
    if room == 0 {
        return Err(Errno::EINVAL);
    }
    let timeout = nonblock.then_some(core::time::Duration::ZERO);
    let (signo, info) = super::signal::wait_for_one(p, mask, timeout)?;
    p.memory.write(buf.addr, &record(signo, &info))?;
    let mut done = 1;
    while done < room {
        crate::linux::collect_current(p);
        let Some((signo, info)) = sig::take_first(p, mask & !UNBLOCKABLE) else { break };
        if p.memory.write(buf.addr + (done * RECORD_BYTES) as u32, &record(signo, &info)).is_err() {
            break;
        }
        done += 1;
    }
    Ok((done * RECORD_BYTES) as u32)
}

/// True when a signal of `mask` is pending for the caller (poll's POLLIN).
pub fn readable(p: &mut Process, mask: u64) -> bool {
    crate::linux::pending_now(p) & mask & !UNBLOCKABLE != 0
}

/// A `struct signalfd_siginfo`: the fields Linux's signalfd_copyinfo
/// fills for the signal's kind (a sender's pid and uid; a child's status;
/// a fault's address; a queued value in ssi_int and ssi_ptr).
fn record(signo: u32, info: &SigInfo) -> [u8; RECORD_BYTES] {
    let mut out = [0u8; RECORD_BYTES];
    let mut put = |at: usize, v: u32| out[at..at + 4].copy_from_slice(&v.to_le_bytes());
    put(0, signo);
    put(8, info.code as u32);
    let [a, b, c] = info.fields;
    let fault = matches!(signo, 4 | 5 | 7 | 8 | 11);
    match info.code {
        sig::SI_USER | sig::SI_TKILL => {
            put(12, a);
            put(16, b);
        }
        code if code > 0 && signo == sig::SIGCHLD => {
            put(12, a);
            put(16, b);
            put(40, c); // ssi_status
        }
        code if code > 0 && fault => put(72, a), // ssi_addr (low word)
        crate::linux::posix_timer::SI_TIMER => {
            put(24, a); // ssi_tid: the timer's id
            put(32, b); // ssi_overrun
            put(44, c);
            put(48, c);
        }
        code if code > 0 => {
            put(12, a);
            put(16, b);
        }
        _ => {
            // sigqueue and the like: pid, uid, then the value as ssi_int
            // and ssi_ptr (zero-extended, as a 64-bit kernel gives it).
            put(12, a);
            put(16, b);
            put(44, c);
            put(48, c);
        }
    }
    out
}
