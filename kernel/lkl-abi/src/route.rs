//! How each forwarded i386 syscall becomes an LKL call: the LKL number and,
//! for each LKL argument, where it comes from and what the kernel must copy.
//!
//! The kernel's forwarder (`os/src/syscall/forward.rs`) walks [`Forward::args`]
//! in order: it copies every user buffer in through the checked user-memory
//! layer into a kernel buffer, passes LKL the kernel buffer's address, and
//! copies the out-buffers back after the call. A raw user pointer never
//! reaches LKL. Errno values pass through unchanged: i386 and asm-generic
//! share `asm-generic/errno-base.h` and `asm-generic/errno.h`.
//!
//! Calls whose data must be rewritten, not just copied (stat64, getdents,
//! lseek, pipe, fcntl, ioctl, readv/writev, socketcall) have [`route`] return
//! `None` and are emulated by the kernel with the helpers of this crate.

use embox_abi::nr as i386;

use crate::nr as lkl;

/// `AT_FDCWD` (`include/uapi/linux/fcntl.h`), the same on both sides.
pub const AT_FDCWD: u32 = -100i32 as u32;
/// `AT_SYMLINK_NOFOLLOW` (`include/uapi/linux/fcntl.h`).
pub const AT_SYMLINK_NOFOLLOW: u32 = 0x100;
/// `AT_REMOVEDIR` (`include/uapi/linux/fcntl.h`).
pub const AT_REMOVEDIR: u32 = 0x200;
/// `O_WRONLY | O_CREAT | O_TRUNC` (`include/uapi/asm-generic/fcntl.h`; x86
/// uses the asm-generic open flags, so every `O_*` value passes unchanged).
pub const CREAT_FLAGS: u32 = 0o1 | 0o100 | 0o1000;
/// Largest buffer one forwarded LKL call copies. The kernel's read, write,
/// pread64, pwrite64, readv, writev and sendfile64 loop over such chunks
/// where Linux moves every byte in one call (regular files); other routes
/// with an `In`/`Out` buffer are capped at it.
pub const MAX_IO: u32 = 64 * 1024;
/// Largest socket address or option buffer copied.
pub const MAX_SOCKBUF: u32 = 256;

/// Where one LKL argument comes from. `u8` fields index the i386 arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// The i386 argument, unchanged (flags, modes, counts, offset halves).
    Val(u8),
    /// A 16-bit uid/gid of the old i386 calls: `0xffff` ("unchanged") becomes -1.
    Id16(u8),
    /// The high word of a signed 32-bit offset (for the `sys32_*` (low, high) pairs).
    SignHigh(u8),
    /// A constant.
    Const(u32),
    /// A creation mode: the process's umask is applied (LKL's own umask is
    /// shared by every process and kept at 0).
    Mode(u8),
    /// One of our descriptors, replaced by the LKL descriptor it stands for.
    Fd(u8),
    /// The directory descriptor of an `*at` call: `AT_FDCWD` stays (the next
    /// path is then made absolute against our working directory, since LKL's
    /// working directory is shared by all processes), others map like `Fd`.
    DirFd(u8),
    /// `AT_FDCWD` for a call that has no directory argument.
    Cwd,
    /// A path (NUL-terminated, copied in, made absolute against our
    /// working directory unless the preceding `DirFd` is a real descriptor;
    /// an empty path passes as it is, for `AT_EMPTY_PATH`). NULL is EFAULT:
    /// LKL would read address 0.
    Path(u8),
    /// Like `Path`, but NULL passes as NULL: only for calls that test for
    /// NULL before reading (`utimensat` on the descriptor itself).
    PathOpt(u8),
    /// A string copied in as it is (a symlink's target).
    Str(u8),
    /// `len` bytes copied in; `len` is the i386 argument `len`, at most [`MAX_IO`].
    In { ptr: u8, len: u8 },
    /// A buffer of `len` bytes copied out after the call (LKL's result is
    /// the byte count it filled).
    Out { ptr: u8, len: u8 },
    /// The length of an `In`/`Out` buffer: the i386 argument capped at [`MAX_IO`].
    Len(u8),
    /// A fixed-size struct copied in; NULL passes as NULL only when `nullable`.
    InFixed { ptr: u8, size: u16, nullable: bool },
    /// A fixed-size struct copied out when the call succeeds.
    OutFixed { ptr: u8, size: u16 },
    /// An array of `count` (i386 argument) 4-byte ids, copied out (getgroups).
    OutIds { ptr: u8, count: u8 },
    /// An array of `count` 4-byte ids copied in (setgroups).
    InIds { ptr: u8, count: u8 },
    /// A buffer whose length is in a `socklen_t` the caller points at
    /// (accept, getsockname, getsockopt, recvfrom): `*len` bytes copied in
    /// size, the buffer and the new length copied out. Two LKL arguments.
    /// Both pointers may be NULL.
    SockBuf { ptr: u8, len_ptr: u8 },
}

/// What the kernel does with LKL's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ret {
    /// Passed back as it is.
    Value,
    /// A new LKL descriptor: installed in our descriptor table, our number
    /// returned. `cloexec` says which i386 argument holds `O_CLOEXEC` /
    /// `SOCK_CLOEXEC` (the same bit, 0o2000000).
    NewFd { flags: Option<u8> },
    /// A uid/gid for the old 16-bit calls (`high2lowuid`: above 65535 -> 65534).
    Id16,
}

/// One forwarded call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forward {
    pub lkl_nr: u32,
    pub args: &'static [Arg],
    pub ret: Ret,
}

const fn fwd(lkl_nr: u32, args: &'static [Arg]) -> Forward {
    Forward {
        lkl_nr,
        args,
        ret: Ret::Value,
    }
}

const fn fwd_fd(lkl_nr: u32, args: &'static [Arg], flags: Option<u8>) -> Forward {
    Forward {
        lkl_nr,
        args,
        ret: Ret::NewFd { flags },
    }
}

use Arg::*;

const UTSNAME: u16 = 390;
const STATX: u16 = 256;
const TIMESPEC32_PAIR: u16 = 16;
const TIMESPEC64_PAIR: u16 = 32;

/// The LKL call for i386 syscall `nr`, or `None` when it is not forwarded
/// as a plain copy (served natively, emulated, or not served).
pub const fn route(nr: u32) -> Option<Forward> {
    Some(match nr {
        i386::READ => fwd(lkl::READ, &[Fd(0), Out { ptr: 1, len: 2 }, Len(2)]),
        i386::WRITE => fwd(lkl::WRITE, &[Fd(0), In { ptr: 1, len: 2 }, Len(2)]),
        i386::OPEN => fwd_fd(lkl::OPENAT, &[Cwd, Path(0), Val(1), Mode(2)], Some(1)),
        i386::CREAT => fwd_fd(
            lkl::OPENAT,
            &[Cwd, Path(0), Const(CREAT_FLAGS), Mode(1)],
            None,
        ),
        i386::LINK => fwd(lkl::LINKAT, &[Cwd, Path(0), Cwd, Path(1), Const(0)]),
        i386::UNLINK => fwd(lkl::UNLINKAT, &[Cwd, Path(0), Const(0)]),
        i386::MKNOD => fwd(lkl::MKNODAT, &[Cwd, Path(0), Mode(1), Val(2)]),
        i386::CHMOD => fwd(lkl::FCHMODAT, &[Cwd, Path(0), Val(1)]),
        i386::LCHOWN => fwd(
            lkl::FCHOWNAT,
            &[Cwd, Path(0), Id16(1), Id16(2), Const(AT_SYMLINK_NOFOLLOW)],
        ),
        i386::GETUID => Forward {
            lkl_nr: lkl::GETUID,
            args: &[],
            ret: Ret::Id16,
        },
        i386::ACCESS => fwd(lkl::FACCESSAT, &[Cwd, Path(0), Val(1)]),
        i386::SYNC => fwd(lkl::SYNC, &[]),
        i386::RENAME => fwd(lkl::RENAMEAT, &[Cwd, Path(0), Cwd, Path(1)]),
        i386::MKDIR => fwd(lkl::MKDIRAT, &[Cwd, Path(0), Mode(1)]),
        i386::RMDIR => fwd(lkl::UNLINKAT, &[Cwd, Path(0), Const(AT_REMOVEDIR)]),
        i386::SETGID => fwd(lkl::SETGID, &[Id16(0)]),
        i386::GETGID => Forward {
            lkl_nr: lkl::GETGID,
            args: &[],
            ret: Ret::Id16,
        },
        i386::GETEUID => Forward {
            lkl_nr: lkl::GETEUID,
            args: &[],
            ret: Ret::Id16,
        },
        i386::GETEGID => Forward {
            lkl_nr: lkl::GETEGID,
            args: &[],
            ret: Ret::Id16,
        },
        i386::SETUID => fwd(lkl::SETUID, &[Id16(0)]),
        i386::SETHOSTNAME => fwd(lkl::SETHOSTNAME, &[In { ptr: 0, len: 1 }, Len(1)]),
        i386::SYMLINK => fwd(lkl::SYMLINKAT, &[Str(0), Cwd, Path(1)]),
        i386::READLINK => fwd(
            lkl::READLINKAT,
            &[Cwd, Path(0), Out { ptr: 1, len: 2 }, Len(2)],
        ),
        i386::TRUNCATE => fwd(lkl::TRUNCATE64, &[Path(0), Val(1), SignHigh(1)]),
        i386::FTRUNCATE => fwd(lkl::FTRUNCATE64, &[Fd(0), Val(1), SignHigh(1)]),
        i386::FCHMOD => fwd(lkl::FCHMOD, &[Fd(0), Val(1)]),
        i386::FCHOWN => fwd(lkl::FCHOWN, &[Fd(0), Id16(1), Id16(2)]),
        i386::FSYNC => fwd(lkl::FSYNC, &[Fd(0)]),
        i386::UNAME => fwd(
            lkl::UNAME,
            &[OutFixed {
                ptr: 0,
                size: UTSNAME,
            }],
        ),
        i386::FLOCK => fwd(lkl::FLOCK, &[Fd(0), Val(1)]),
        i386::FDATASYNC => fwd(lkl::FDATASYNC, &[Fd(0)]),
        i386::PREAD64 => fwd(
            lkl::PREAD64,
            &[Fd(0), Out { ptr: 1, len: 2 }, Len(2), Val(3), Val(4)],
        ),
        i386::PWRITE64 => fwd(
            lkl::PWRITE64,
            &[Fd(0), In { ptr: 1, len: 2 }, Len(2), Val(3), Val(4)],
        ),
        i386::CHOWN => fwd(lkl::FCHOWNAT, &[Cwd, Path(0), Id16(1), Id16(2), Const(0)]),
        i386::TRUNCATE64 => fwd(lkl::TRUNCATE64, &[Path(0), Val(1), Val(2)]),
        i386::FTRUNCATE64 => fwd(lkl::FTRUNCATE64, &[Fd(0), Val(1), Val(2)]),
        i386::LCHOWN32 => fwd(
            lkl::FCHOWNAT,
            &[Cwd, Path(0), Val(1), Val(2), Const(AT_SYMLINK_NOFOLLOW)],
        ),
        i386::GETUID32 => fwd(lkl::GETUID, &[]),
        i386::GETGID32 => fwd(lkl::GETGID, &[]),
        i386::GETEUID32 => fwd(lkl::GETEUID, &[]),
        i386::GETEGID32 => fwd(lkl::GETEGID, &[]),
        i386::SETREUID32 => fwd(lkl::SETREUID, &[Val(0), Val(1)]),
        i386::SETREGID32 => fwd(lkl::SETREGID, &[Val(0), Val(1)]),
        i386::GETGROUPS32 => fwd(lkl::GETGROUPS, &[Val(0), OutIds { ptr: 1, count: 0 }]),
        i386::SETGROUPS32 => fwd(lkl::SETGROUPS, &[Val(0), InIds { ptr: 1, count: 0 }]),
        i386::FCHOWN32 => fwd(lkl::FCHOWN, &[Fd(0), Val(1), Val(2)]),
        i386::SETRESUID32 => fwd(lkl::SETRESUID, &[Val(0), Val(1), Val(2)]),
        i386::GETRESUID32 => fwd(
            lkl::GETRESUID,
            &[
                OutFixed { ptr: 0, size: 4 },
                OutFixed { ptr: 1, size: 4 },
                OutFixed { ptr: 2, size: 4 },
            ],
        ),
        i386::SETRESGID32 => fwd(lkl::SETRESGID, &[Val(0), Val(1), Val(2)]),
        i386::GETRESGID32 => fwd(
            lkl::GETRESGID,
            &[
                OutFixed { ptr: 0, size: 4 },
                OutFixed { ptr: 1, size: 4 },
                OutFixed { ptr: 2, size: 4 },
            ],
        ),
        i386::CHOWN32 => fwd(lkl::FCHOWNAT, &[Cwd, Path(0), Val(1), Val(2), Const(0)]),
        i386::SETUID32 => fwd(lkl::SETUID, &[Val(0)]),
        i386::SETGID32 => fwd(lkl::SETGID, &[Val(0)]),
        i386::SETFSUID32 => fwd(lkl::SETFSUID, &[Val(0)]),
        i386::SETFSGID32 => fwd(lkl::SETFSGID, &[Val(0)]),
        i386::GETDENTS64 => fwd(lkl::GETDENTS64, &[Fd(0), Out { ptr: 1, len: 2 }, Len(2)]),
        i386::FALLOCATE => fwd(
            lkl::FALLOCATE,
            &[Fd(0), Val(1), Val(2), Val(3), Val(4), Val(5)],
        ),
        i386::OPENAT => fwd_fd(lkl::OPENAT, &[DirFd(0), Path(1), Val(2), Mode(3)], Some(2)),
        i386::MKDIRAT => fwd(lkl::MKDIRAT, &[DirFd(0), Path(1), Mode(2)]),
        i386::MKNODAT => fwd(lkl::MKNODAT, &[DirFd(0), Path(1), Mode(2), Val(3)]),
        i386::FCHOWNAT => fwd(lkl::FCHOWNAT, &[DirFd(0), Path(1), Val(2), Val(3), Val(4)]),
        i386::UNLINKAT => fwd(lkl::UNLINKAT, &[DirFd(0), Path(1), Val(2)]),
        i386::RENAMEAT => fwd(lkl::RENAMEAT, &[DirFd(0), Path(1), DirFd(2), Path(3)]),
        i386::LINKAT => fwd(lkl::LINKAT, &[DirFd(0), Path(1), DirFd(2), Path(3), Val(4)]),
        i386::SYMLINKAT => fwd(lkl::SYMLINKAT, &[Str(0), DirFd(1), Path(2)]),
        i386::READLINKAT => fwd(
            lkl::READLINKAT,
            &[DirFd(0), Path(1), Out { ptr: 2, len: 3 }, Len(3)],
        ),
        i386::FCHMODAT => fwd(lkl::FCHMODAT, &[DirFd(0), Path(1), Val(2)]),
        i386::FACCESSAT => fwd(lkl::FACCESSAT, &[DirFd(0), Path(1), Val(2)]),
        i386::UTIMENSAT => fwd(
            lkl::UTIMENSAT,
            &[
                DirFd(0),
                PathOpt(1),
                InFixed {
                    ptr: 2,
                    size: TIMESPEC32_PAIR,
                    nullable: true,
                },
                Val(3),
            ],
        ),
        i386::SYNCFS => fwd(lkl::SYNCFS, &[Fd(0)]),
        i386::RENAMEAT2 => fwd(
            lkl::RENAMEAT2,
            &[DirFd(0), Path(1), DirFd(2), Path(3), Val(4)],
        ),
        i386::STATX => fwd(
            lkl::STATX,
            &[
                DirFd(0),
                Path(1),
                Val(2),
                Val(3),
                OutFixed {
                    ptr: 4,
                    size: STATX,
                },
            ],
        ),
        i386::UTIMENSAT_TIME64 => fwd(
            lkl::UTIMENSAT_TIME64,
            &[
                DirFd(0),
                PathOpt(1),
                InFixed {
                    ptr: 2,
                    size: TIMESPEC64_PAIR,
                    nullable: true,
                },
                Val(3),
            ],
        ),
        i386::FACCESSAT2 => fwd(lkl::FACCESSAT2, &[DirFd(0), Path(1), Val(2), Val(3)]),
        // Sockets: the direct i386 calls (socketcall is demultiplexed onto these).
        i386::SOCKET => fwd_fd(lkl::SOCKET, &[Val(0), Val(1), Val(2)], Some(1)),
        i386::BIND => fwd(lkl::BIND, &[Fd(0), In { ptr: 1, len: 2 }, Len(2)]),
        i386::CONNECT => fwd(lkl::CONNECT, &[Fd(0), In { ptr: 1, len: 2 }, Len(2)]),
        i386::LISTEN => fwd(lkl::LISTEN, &[Fd(0), Val(1)]),
        i386::ACCEPT4 => fwd_fd(
            lkl::ACCEPT4,
            &[Fd(0), SockBuf { ptr: 1, len_ptr: 2 }, Val(3)],
            Some(3),
        ),
        i386::GETSOCKOPT => fwd(
            lkl::GETSOCKOPT,
            &[Fd(0), Val(1), Val(2), SockBuf { ptr: 3, len_ptr: 4 }],
        ),
        i386::SETSOCKOPT => fwd(
            lkl::SETSOCKOPT,
            &[Fd(0), Val(1), Val(2), In { ptr: 3, len: 4 }, Len(4)],
        ),
        i386::GETSOCKNAME => fwd(lkl::GETSOCKNAME, &[Fd(0), SockBuf { ptr: 1, len_ptr: 2 }]),
        i386::GETPEERNAME => fwd(lkl::GETPEERNAME, &[Fd(0), SockBuf { ptr: 1, len_ptr: 2 }]),
        i386::SENDTO => fwd(
            lkl::SENDTO,
            &[
                Fd(0),
                In { ptr: 1, len: 2 },
                Len(2),
                Val(3),
                In { ptr: 4, len: 5 },
                Len(5),
            ],
        ),
        i386::RECVFROM => fwd(
            lkl::RECVFROM,
            &[
                Fd(0),
                Out { ptr: 1, len: 2 },
                Len(2),
                Val(3),
                SockBuf { ptr: 4, len_ptr: 5 },
            ],
        ),
        i386::SHUTDOWN => fwd(lkl::SHUTDOWN, &[Fd(0), Val(1)]),
        _ => return None,
    })
}

/// The number of LKL arguments `args` produce (a `SockBuf` makes two).
pub const fn lkl_arg_count(args: &[Arg]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < args.len() {
        n += match args[i] {
            SockBuf { .. } => 2,
            _ => 1,
        };
        i += 1;
    }
    n
}

/// `Id16`: the old calls' "unchanged" value 0xffff is -1 for the 32-bit calls.
pub const fn id16_to_id32(v: u32) -> u32 {
    if v & 0xffff == 0xffff {
        u32::MAX
    } else {
        v & 0xffff
    }
}

/// `Ret::Id16`: `high2lowuid` with the default overflow id 65534.
pub const fn id32_to_id16(v: u32) -> u32 {
    if v > 0xffff {
        65534
    } else {
        v
    }
}

/// `SignHigh`: the high word of a sign-extended 32-bit offset.
pub const fn sign_high(v: u32) -> u32 {
    if (v as i32) < 0 {
        u32::MAX
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg_index(a: &Arg) -> Vec<u8> {
        match *a {
            Val(i) | Id16(i) | SignHigh(i) | Mode(i) | Fd(i) | DirFd(i) | Path(i) | PathOpt(i)
            | Str(i) | Len(i) => vec![i],
            In { ptr, len } | Out { ptr, len } => vec![ptr, len],
            InFixed { ptr, .. } | OutFixed { ptr, .. } => vec![ptr],
            OutIds { ptr, count } | InIds { ptr, count } => vec![ptr, count],
            SockBuf { ptr, len_ptr } => vec![ptr, len_ptr],
            Const(_) | Cwd => vec![],
        }
    }

    #[test]
    fn every_route_is_well_formed() {
        let mut routed = 0;
        for nr in 0..500 {
            let Some(f) = route(nr) else { continue };
            routed += 1;
            assert!(lkl_arg_count(f.args) <= 6, "{nr}: LKL takes six arguments");
            for a in f.args {
                for i in arg_index(a) {
                    assert!(i < 6, "{nr}: argument {i}");
                }
            }
            // Each buffer's length argument is also passed (capped) to LKL.
            for a in f.args {
                if let In { len, .. } | Out { len, .. } = a {
                    assert!(f.args.contains(&Len(*len)), "{nr}: buffer without its Len");
                }
            }
            // A path follows its directory argument (or stands alone).
            for (k, a) in f.args.iter().enumerate() {
                if let Path(_) | PathOpt(_) = a {
                    let before = k.checked_sub(1).map(|j| f.args[j]);
                    assert!(
                        matches!(before, None | Some(Cwd) | Some(DirFd(_))),
                        "{nr}: path after {before:?}"
                    );
                }
            }
            assert!(
                crate::nr::ALL.iter().any(|(_, _, v)| *v == f.lkl_nr),
                "{nr}: LKL number {} not in nr::ALL",
                f.lkl_nr
            );
        }
        assert!(routed > 80, "only {routed} routes");
    }

    #[test]
    fn path_calls_without_dirfd_become_at_calls() {
        assert_eq!(route(i386::OPEN).unwrap().lkl_nr, 56);
        assert_eq!(
            route(i386::OPEN).unwrap().args,
            &[Cwd, Path(0), Val(1), Mode(2)]
        );
        assert_eq!(route(i386::MKDIR).unwrap().lkl_nr, 34);
        assert_eq!(
            route(i386::RMDIR).unwrap().args,
            &[Cwd, Path(0), Const(0x200)]
        );
        assert_eq!(route(i386::UNLINK).unwrap().args, &[Cwd, Path(0), Const(0)]);
        assert_eq!(route(i386::RENAME).unwrap().lkl_nr, 38);
        assert_eq!(route(i386::ACCESS).unwrap().lkl_nr, 48);
        assert_eq!(route(i386::READLINK).unwrap().lkl_nr, 78);
        assert_eq!(route(i386::CHMOD).unwrap().lkl_nr, 53);
        assert_eq!(
            route(i386::LCHOWN32).unwrap().args[4],
            Const(AT_SYMLINK_NOFOLLOW)
        );
        assert_eq!(
            route(i386::SYMLINK).unwrap().args,
            &[Str(0), Cwd, Path(1)],
            "the link target stays as written"
        );
        assert_eq!(route(i386::CREAT).unwrap().args[2], Const(0o1101));
    }

    #[test]
    fn descriptors_and_offsets() {
        assert_eq!(route(i386::READ).unwrap().args[0], Fd(0));
        assert_eq!(
            route(i386::OPENAT).unwrap().ret,
            Ret::NewFd { flags: Some(2) }
        );
        assert_eq!(
            route(i386::SOCKET).unwrap().ret,
            Ret::NewFd { flags: Some(1) }
        );
        // i386 pread64 passes (lo, hi) as LKL's sys32_pread64 wants them.
        assert_eq!(route(i386::PREAD64).unwrap().args[3..], [Val(3), Val(4)]);
        assert_eq!(
            route(i386::FTRUNCATE).unwrap().args,
            &[Fd(0), Val(1), SignHigh(1)]
        );
        assert_eq!(sign_high(-5i32 as u32), u32::MAX);
        assert_eq!(sign_high(5), 0);
    }

    #[test]
    fn old_16bit_ids() {
        assert_eq!(id16_to_id32(0xffff), u32::MAX);
        assert_eq!(id16_to_id32(0xffff_ffff), u32::MAX);
        assert_eq!(id16_to_id32(1000), 1000);
        assert_eq!(id32_to_id16(70000), 65534);
        assert_eq!(id32_to_id16(0), 0);
        assert_eq!(route(i386::GETUID).unwrap().ret, Ret::Id16);
        assert_eq!(route(i386::GETUID32).unwrap().ret, Ret::Value);
    }

    /// What stays ours or is emulated has no plain route.
    #[test]
    fn native_and_emulated_calls_have_no_route() {
        for nr in [
            i386::BRK,
            i386::MMAP2,
            i386::MUNMAP,
            i386::MPROTECT,
            i386::EXIT_GROUP,
            i386::GETPID,
            i386::RT_SIGACTION,
            i386::SET_THREAD_AREA,
            i386::CLOCK_GETTIME,
            i386::NANOSLEEP,
            i386::SCHED_YIELD,
            i386::STAT64,
            i386::FSTAT64,
            i386::LSTAT64,
            i386::FSTATAT64,
            i386::GETDENTS,
            i386::_LLSEEK,
            i386::LSEEK,
            i386::FCNTL64,
            i386::IOCTL,
            i386::PIPE,
            i386::SOCKETCALL,
            i386::CLOSE,
            i386::DUP2,
            i386::CHDIR,
            i386::GETCWD,
            i386::UMASK,
        ] {
            assert_eq!(route(nr), None, "{nr}");
        }
    }
}
