//! `#[repr(C)]` structs exchanged with i386 user programs.
//!
//! 32-bit fields are plain integers; 64-bit fields are zerocopy's
//! [`U64`]/[`I64`] (alignment 1), because i386 packs `long long` at 4-byte
//! alignment and a host-native `u64` would not. Every struct's size and the
//! offsets that matter are pinned by the tests below, so the host tests check
//! the same layout the i686 kernel uses.

use zerocopy::little_endian::{I64, U16, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Plain-old-data that can be copied to or from user memory byte for byte.
pub trait UserPod: IntoBytes + FromBytes + Immutable + KnownLayout {}
impl<T: IntoBytes + FromBytes + Immutable + KnownLayout> UserPod for T {}

/// `struct stat64` (`asm/stat.h`), filled by `stat64`/`fstat64`/`fstatat64`.
#[derive(Clone, Copy, Debug, Default, IntoBytes, FromBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Stat64 {
    pub st_dev: U64,
    pub __pad0: [u8; 4],
    /// Low 32 bits of the inode number (the historic field).
    pub __st_ino: u32,
    pub st_mode: u32,
    pub st_nlink: u32,
    pub st_uid: u32,
    pub st_gid: u32,
    pub st_rdev: U64,
    pub __pad3: [u8; 4],
    pub st_size: I64,
    pub st_blksize: u32,
    pub st_blocks: U64,
    pub st_atime: u32,
    pub st_atime_nsec: u32,
    pub st_mtime: u32,
    pub st_mtime_nsec: u32,
    pub st_ctime: u32,
    pub st_ctime_nsec: u32,
    pub st_ino: U64,
}

/// `struct statx_timestamp`.
#[derive(Clone, Copy, Debug, Default, IntoBytes, FromBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct StatxTimestamp {
    pub tv_sec: I64,
    pub tv_nsec: u32,
    pub __reserved: i32,
}

/// `struct statx`, filled by `statx` (glibc and musl try it before `fstatat64`).
#[derive(Clone, Copy, Debug, Default, IntoBytes, FromBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Statx {
    pub stx_mask: u32,
    pub stx_blksize: u32,
    pub stx_attributes: U64,
    pub stx_nlink: u32,
    pub stx_uid: u32,
    pub stx_gid: u32,
    pub stx_mode: u16,
    pub __spare0: u16,
    pub stx_ino: U64,
    pub stx_size: U64,
    pub stx_blocks: U64,
    pub stx_attributes_mask: U64,
    pub stx_atime: StatxTimestamp,
    pub stx_btime: StatxTimestamp,
    pub stx_ctime: StatxTimestamp,
    pub stx_mtime: StatxTimestamp,
    pub stx_rdev_major: u32,
    pub stx_rdev_minor: u32,
    pub stx_dev_major: u32,
    pub stx_dev_minor: u32,
    pub stx_mnt_id: U64,
    pub stx_dio_mem_align: u32,
    pub stx_dio_offset_align: u32,
    pub __spare3: [U64; 12],
}

/// The fixed head of `struct linux_dirent64`; the NUL-terminated name follows
/// and the record is padded to a multiple of 8 bytes (see [`dirent64_reclen`]).
#[derive(Clone, Copy, Debug, Default, IntoBytes, FromBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Dirent64Head {
    pub d_ino: U64,
    pub d_off: I64,
    pub d_reclen: U16,
    pub d_type: u8,
}

/// Size of a `linux_dirent64` record holding a name of `name_len` bytes.
pub const fn dirent64_reclen(name_len: usize) -> usize {
    (core::mem::size_of::<Dirent64Head>() + name_len + 1 + 7) & !7
}

/// Writes one `linux_dirent64` record into the front of `buf` and returns its
/// length, or `None` when `buf` is too small (getdents64 then stops there).
pub fn write_dirent64(buf: &mut [u8], ino: u64, next_off: i64, d_type: u8, name: &[u8]) -> Option<usize> {
    let reclen = dirent64_reclen(name.len());
    let record = buf.get_mut(..reclen)?;
    record.fill(0);
    let head = Dirent64Head { d_ino: ino.into(), d_off: next_off.into(), d_reclen: (reclen as u16).into(), d_type };
    let head_len = core::mem::size_of::<Dirent64Head>();
    record[..head_len].copy_from_slice(head.as_bytes());
    record[head_len..head_len + name.len()].copy_from_slice(name);
    Some(reclen)
}

/// `struct __kernel_timespec`: the time64 variant every modern libc uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, IntoBytes, FromBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Timespec64 {
    pub tv_sec: I64,
    pub tv_nsec: I64,
}

/// The old 32-bit `struct timespec` (`nanosleep`, `clock_gettime`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, IntoBytes, FromBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Timespec32 {
    pub tv_sec: i32,
    pub tv_nsec: i32,
}

/// The old 32-bit `struct timeval` (`gettimeofday`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, IntoBytes, FromBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Timeval32 {
    pub tv_sec: i32,
    pub tv_usec: i32,
}

/// Length of each `struct new_utsname` field, NUL included.
pub const UTS_LEN: usize = 65;

/// `struct new_utsname` (`uname`, syscall 122).
#[derive(Clone, Copy, Debug, IntoBytes, FromBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Utsname {
    pub sysname: [u8; UTS_LEN],
    pub nodename: [u8; UTS_LEN],
    pub release: [u8; UTS_LEN],
    pub version: [u8; UTS_LEN],
    pub machine: [u8; UTS_LEN],
    pub domainname: [u8; UTS_LEN],
}

impl Utsname {
    /// Builds the struct from strings, truncating each to 64 bytes.
    pub fn new(sysname: &str, nodename: &str, release: &str, version: &str, machine: &str) -> Self {
        fn field(s: &str) -> [u8; UTS_LEN] {
            let mut out = [0u8; UTS_LEN];
            let n = s.len().min(UTS_LEN - 1);
            out[..n].copy_from_slice(&s.as_bytes()[..n]);
            out
        }
        Utsname {
            sysname: field(sysname),
            nodename: field(nodename),
            release: field(release),
            version: field(version),
            machine: field(machine),
            domainname: field("(none)"),
        }
    }
}

/// `struct iovec` (`readv`/`writev`).
#[derive(Clone, Copy, Debug, Default, IntoBytes, FromBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Iovec {
    pub iov_base: u32,
    pub iov_len: u32,
}

/// Number of control characters in the kernel's `struct termios`.
pub const NCCS: usize = 19;

/// The kernel's `struct termios` (`TCGETS`/`TCSETS`).
#[derive(Clone, Copy, Debug, Default, IntoBytes, FromBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Termios {
    pub c_iflag: u32,
    pub c_oflag: u32,
    pub c_cflag: u32,
    pub c_lflag: u32,
    pub c_line: u8,
    pub c_cc: [u8; NCCS],
}

impl Termios {
    /// What Linux reports for a freshly opened serial console: cooked mode,
    /// echo on, 38400 baud 8N1, the usual control characters.
    pub fn console_default() -> Self {
        let mut c_cc = [0u8; NCCS];
        let defaults: [u8; 17] = [3, 28, 127, 21, 4, 0, 1, 0, 17, 19, 26, 0, 18, 15, 23, 22, 0];
        c_cc[..defaults.len()].copy_from_slice(&defaults);
        Termios {
            c_iflag: 0o2400,   // ICRNL | IXON
            c_oflag: 0o5,      // OPOST | ONLCR
            c_cflag: 0o277,    // B38400 | CS8 | CREAD
            c_lflag: 0o105073, // ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN
            c_line: 0,
            c_cc,
        }
    }
}

/// `struct winsize` (`TIOCGWINSZ`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, IntoBytes, FromBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Winsize {
    pub ws_row: u16,
    pub ws_col: u16,
    pub ws_xpixel: u16,
    pub ws_ypixel: u16,
}

/// `struct user_desc` (`set_thread_area`/`get_thread_area`); `flags` holds
/// the C bitfields, decoded by the accessors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, IntoBytes, FromBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct UserDesc {
    pub entry_number: u32,
    pub base_addr: u32,
    pub limit: u32,
    pub flags: u32,
}

impl UserDesc {
    pub const fn seg_32bit(&self) -> bool {
        self.flags & 1 != 0
    }
    pub const fn contents(&self) -> u32 {
        (self.flags >> 1) & 3
    }
    pub const fn read_exec_only(&self) -> bool {
        self.flags & 8 != 0
    }
    pub const fn limit_in_pages(&self) -> bool {
        self.flags & 16 != 0
    }
    pub const fn seg_not_present(&self) -> bool {
        self.flags & 32 != 0
    }
    pub const fn useable(&self) -> bool {
        self.flags & 64 != 0
    }
    /// Linux treats this shape as "clear the entry".
    pub const fn is_empty(&self) -> bool {
        self.base_addr == 0
            && self.limit == 0
            && self.contents() == 0
            && self.read_exec_only()
            && !self.seg_32bit()
            && !self.limit_in_pages()
            && self.seg_not_present()
            && !self.useable()
    }
}

/// `struct rlimit64` (`prlimit64`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, IntoBytes, FromBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Rlimit64 {
    pub rlim_cur: U64,
    pub rlim_max: U64,
}

/// The old `struct rlimit` (`getrlimit`/`ugetrlimit`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, IntoBytes, FromBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Rlimit32 {
    pub rlim_cur: u32,
    pub rlim_max: u32,
}

/// The kernel's i386 `struct sigaction` for `rt_sigaction` (mask is the
/// 64-bit kernel sigset, `sigsetsize` = 8).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, IntoBytes, FromBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct KernelSigaction {
    pub sa_handler: u32,
    pub sa_flags: u32,
    pub sa_restorer: u32,
    pub sa_mask: U64,
}

/// `stack_t` (`sigaltstack`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, IntoBytes, FromBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct StackT {
    pub ss_sp: u32,
    pub ss_flags: u32,
    pub ss_size: u32,
}

/// `struct tms` (`times`).
#[derive(Clone, Copy, Debug, Default, IntoBytes, FromBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Tms {
    pub tms_utime: u32,
    pub tms_stime: u32,
    pub tms_cutime: u32,
    pub tms_cstime: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn sizes_match_i386() {
        assert_eq!(size_of::<Stat64>(), 96);
        assert_eq!(size_of::<Statx>(), 256);
        assert_eq!(size_of::<Dirent64Head>(), 19);
        assert_eq!(size_of::<Timespec64>(), 16);
        assert_eq!(size_of::<Timespec32>(), 8);
        assert_eq!(size_of::<Utsname>(), 390);
        assert_eq!(size_of::<Iovec>(), 8);
        assert_eq!(size_of::<Termios>(), 36);
        assert_eq!(size_of::<Winsize>(), 8);
        assert_eq!(size_of::<UserDesc>(), 16);
        assert_eq!(size_of::<Rlimit64>(), 16);
        assert_eq!(size_of::<KernelSigaction>(), 20);
        assert_eq!(size_of::<StackT>(), 12);
    }

    #[test]
    fn stat64_offsets_match_i386() {
        assert_eq!(offset_of!(Stat64, st_mode), 16);
        assert_eq!(offset_of!(Stat64, st_rdev), 32);
        assert_eq!(offset_of!(Stat64, st_size), 44);
        assert_eq!(offset_of!(Stat64, st_blksize), 52);
        assert_eq!(offset_of!(Stat64, st_blocks), 56);
        assert_eq!(offset_of!(Stat64, st_atime), 64);
        assert_eq!(offset_of!(Stat64, st_ino), 88);
    }

    #[test]
    fn statx_offsets_match_linux() {
        assert_eq!(offset_of!(Statx, stx_mode), 28);
        assert_eq!(offset_of!(Statx, stx_ino), 32);
        assert_eq!(offset_of!(Statx, stx_size), 40);
        assert_eq!(offset_of!(Statx, stx_atime), 64);
        assert_eq!(offset_of!(Statx, stx_mtime), 112);
        assert_eq!(offset_of!(Statx, stx_rdev_major), 128);
        assert_eq!(offset_of!(Statx, stx_mnt_id), 144);
    }

    #[test]
    fn dirent64_records_are_8_aligned_and_nul_terminated() {
        assert_eq!(dirent64_reclen(1), 24);
        assert_eq!(dirent64_reclen(4), 24);
        assert_eq!(dirent64_reclen(5), 32);
        let mut buf = [0xffu8; 64];
        let n = write_dirent64(&mut buf, 7, 1, crate::consts::mode::DT_REG, b"hello").unwrap();
        assert_eq!(n, 32);
        assert_eq!(u16::from_le_bytes([buf[16], buf[17]]), 32);
        assert_eq!(buf[18], 8);
        assert_eq!(&buf[19..25], b"hello\0");
        assert!(write_dirent64(&mut buf[..20], 7, 1, 8, b"hello").is_none());
    }

    #[test]
    fn user_desc_empty_shape() {
        let clear = UserDesc { entry_number: 6, base_addr: 0, limit: 0, flags: 8 | 32 };
        assert!(clear.is_empty());
        let tls = UserDesc { entry_number: u32::MAX, base_addr: 0x1000, limit: 0xfffff, flags: 1 | 16 | 64 };
        assert!(!tls.is_empty() && tls.seg_32bit() && tls.limit_in_pages() && tls.useable());
    }

    #[test]
    fn utsname_fields_are_nul_terminated() {
        let u = Utsname::new("Linux", "embox", "6.1.0-embox", "#1", "i686");
        assert_eq!(&u.sysname[..6], b"Linux\0");
        assert_eq!(&u.machine[..5], b"i686\0");
    }
}
