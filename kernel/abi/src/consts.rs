//! Flag and command values of the i386 ABI, grouped by the call that takes them.

/// `open`/`openat` flags (octal, as in `asm-generic/fcntl.h`).
pub mod open {
    pub const O_ACCMODE: u32 = 0o3;
    pub const O_RDONLY: u32 = 0o0;
    pub const O_WRONLY: u32 = 0o1;
    pub const O_RDWR: u32 = 0o2;
    pub const O_CREAT: u32 = 0o100;
    pub const O_EXCL: u32 = 0o200;
    pub const O_NOCTTY: u32 = 0o400;
    pub const O_TRUNC: u32 = 0o1000;
    pub const O_APPEND: u32 = 0o2000;
    pub const O_NONBLOCK: u32 = 0o4000;
    pub const O_LARGEFILE: u32 = 0o100000;
    pub const O_DIRECTORY: u32 = 0o200000;
    pub const O_NOFOLLOW: u32 = 0o400000;
    pub const O_CLOEXEC: u32 = 0o2000000;
    pub const O_PATH: u32 = 0o10000000;
}

/// The `*at` calls' directory argument and flags.
pub mod at {
    pub const AT_FDCWD: i32 = -100;
    pub const AT_SYMLINK_NOFOLLOW: u32 = 0x100;
    pub const AT_REMOVEDIR: u32 = 0x200;
    pub const AT_SYMLINK_FOLLOW: u32 = 0x400;
    pub const AT_NO_AUTOMOUNT: u32 = 0x800;
    pub const AT_EMPTY_PATH: u32 = 0x1000;
}

/// `fcntl64` commands and the descriptor flag.
pub mod fcntl {
    pub const F_DUPFD: u32 = 0;
    pub const F_GETFD: u32 = 1;
    pub const F_SETFD: u32 = 2;
    pub const F_GETFL: u32 = 3;
    pub const F_SETFL: u32 = 4;
    pub const F_DUPFD_CLOEXEC: u32 = 1030;
    pub const FD_CLOEXEC: u32 = 1;
}

/// `lseek`/`_llseek` whence.
pub mod seek {
    pub const SEEK_SET: u32 = 0;
    pub const SEEK_CUR: u32 = 1;
    pub const SEEK_END: u32 = 2;
}

/// `mmap2`/`mprotect` protections and mapping flags.
pub mod mman {
    pub const PROT_NONE: u32 = 0;
    pub const PROT_READ: u32 = 1;
    pub const PROT_WRITE: u32 = 2;
    pub const PROT_EXEC: u32 = 4;
    pub const MAP_SHARED: u32 = 0x01;
    pub const MAP_PRIVATE: u32 = 0x02;
    pub const MAP_FIXED: u32 = 0x10;
    pub const MAP_ANONYMOUS: u32 = 0x20;
    pub const MAP_NORESERVE: u32 = 0x4000;
    pub const MAP_STACK: u32 = 0x20000;
    pub const MAP_FIXED_NOREPLACE: u32 = 0x100000;
    pub const MAP_FAILED: u32 = u32::MAX;
}

/// Terminal ioctls on the console.
pub mod ioctl {
    pub const TCGETS: u32 = 0x5401;
    pub const TCSETS: u32 = 0x5402;
    pub const TCSETSW: u32 = 0x5403;
    pub const TCSETSF: u32 = 0x5404;
    pub const TIOCGPGRP: u32 = 0x540F;
    pub const TIOCSPGRP: u32 = 0x5410;
    pub const TIOCGWINSZ: u32 = 0x5413;
    pub const TIOCSWINSZ: u32 = 0x5414;
    pub const FIONREAD: u32 = 0x541B;
}

/// File type bits of `st_mode` and `d_type` values.
pub mod mode {
    pub const S_IFMT: u32 = 0o170000;
    pub const S_IFSOCK: u32 = 0o140000;
    pub const S_IFLNK: u32 = 0o120000;
    pub const S_IFREG: u32 = 0o100000;
    pub const S_IFBLK: u32 = 0o060000;
    pub const S_IFDIR: u32 = 0o040000;
    pub const S_IFCHR: u32 = 0o020000;
    pub const S_IFIFO: u32 = 0o010000;

    pub const DT_UNKNOWN: u8 = 0;
    pub const DT_FIFO: u8 = 1;
    pub const DT_CHR: u8 = 2;
    pub const DT_DIR: u8 = 4;
    pub const DT_BLK: u8 = 6;
    pub const DT_REG: u8 = 8;
    pub const DT_LNK: u8 = 10;
    pub const DT_SOCK: u8 = 12;

    /// The `d_type` for a file whose `st_mode` is `mode`.
    pub const fn dtype_of(mode: u32) -> u8 {
        match mode & S_IFMT {
            S_IFIFO => DT_FIFO,
            S_IFCHR => DT_CHR,
            S_IFDIR => DT_DIR,
            S_IFBLK => DT_BLK,
            S_IFREG => DT_REG,
            S_IFLNK => DT_LNK,
            S_IFSOCK => DT_SOCK,
            _ => DT_UNKNOWN,
        }
    }
}

/// Clock ids for `clock_gettime64` and friends.
pub mod clock {
    pub const CLOCK_REALTIME: u32 = 0;
    pub const CLOCK_MONOTONIC: u32 = 1;
    pub const CLOCK_PROCESS_CPUTIME_ID: u32 = 2;
    pub const CLOCK_THREAD_CPUTIME_ID: u32 = 3;
    pub const CLOCK_MONOTONIC_RAW: u32 = 4;
    pub const CLOCK_REALTIME_COARSE: u32 = 5;
    pub const CLOCK_MONOTONIC_COARSE: u32 = 6;
    pub const CLOCK_BOOTTIME: u32 = 7;
    pub const TIMER_ABSTIME: u32 = 1;
}

/// Signal numbers (the ones the kernel raises itself) and `sigprocmask` hows.
pub mod signal {
    pub const SIGHUP: u32 = 1;
    pub const SIGINT: u32 = 2;
    pub const SIGQUIT: u32 = 3;
    pub const SIGILL: u32 = 4;
    pub const SIGTRAP: u32 = 5;
    pub const SIGABRT: u32 = 6;
    pub const SIGBUS: u32 = 7;
    pub const SIGFPE: u32 = 8;
    pub const SIGKILL: u32 = 9;
    pub const SIGSEGV: u32 = 11;
    pub const SIGPIPE: u32 = 13;
    pub const SIGTERM: u32 = 15;
    pub const SIGSTOP: u32 = 19;
    /// Highest signal number (`_NSIG`).
    pub const NSIG: u32 = 64;

    pub const SIG_BLOCK: u32 = 0;
    pub const SIG_UNBLOCK: u32 = 1;
    pub const SIG_SETMASK: u32 = 2;

    pub const SS_ONSTACK: u32 = 1;
    pub const SS_DISABLE: u32 = 2;
    pub const MINSIGSTKSZ: u32 = 2048;

    /// The short name a shell prints for a fatal signal.
    pub const fn name(sig: u32) -> &'static str {
        match sig {
            SIGHUP => "SIGHUP",
            SIGINT => "SIGINT",
            SIGQUIT => "SIGQUIT",
            SIGILL => "SIGILL",
            SIGTRAP => "SIGTRAP",
            SIGABRT => "SIGABRT",
            SIGBUS => "SIGBUS",
            SIGFPE => "SIGFPE",
            SIGKILL => "SIGKILL",
            SIGSEGV => "SIGSEGV",
            SIGPIPE => "SIGPIPE",
            SIGTERM => "SIGTERM",
            SIGSTOP => "SIGSTOP",
            10 => "SIGUSR1",
            12 => "SIGUSR2",
            14 => "SIGALRM",
            16 => "SIGSTKFLT",
            17 => "SIGCHLD",
            18 => "SIGCONT",
            20 => "SIGTSTP",
            21 => "SIGTTIN",
            22 => "SIGTTOU",
            23 => "SIGURG",
            24 => "SIGXCPU",
            25 => "SIGXFSZ",
            26 => "SIGVTALRM",
            27 => "SIGPROF",
            28 => "SIGWINCH",
            29 => "SIGIO",
            30 => "SIGPWR",
            31 => "SIGSYS",
            _ => "a real-time signal",
        }
    }
}

/// `prlimit64` resources.
pub mod rlimit {
    pub const RLIMIT_CPU: u32 = 0;
    pub const RLIMIT_FSIZE: u32 = 1;
    pub const RLIMIT_DATA: u32 = 2;
    pub const RLIMIT_STACK: u32 = 3;
    pub const RLIMIT_CORE: u32 = 4;
    pub const RLIMIT_NOFILE: u32 = 7;
    pub const RLIMIT_AS: u32 = 9;
    pub const RLIMIT_SIGPENDING: u32 = 11;
    pub const RLIM_NLIMITS: u32 = 16;
    pub const RLIM_INFINITY: u64 = u64::MAX;
}

/// Auxiliary vector keys (`linux/auxvec.h`) placed on the initial stack.
pub mod auxv {
    pub const AT_NULL: u32 = 0;
    pub const AT_PHDR: u32 = 3;
    pub const AT_PHENT: u32 = 4;
    pub const AT_PHNUM: u32 = 5;
    pub const AT_PAGESZ: u32 = 6;
    pub const AT_BASE: u32 = 7;
    pub const AT_FLAGS: u32 = 8;
    pub const AT_ENTRY: u32 = 9;
    pub const AT_UID: u32 = 11;
    pub const AT_EUID: u32 = 12;
    pub const AT_GID: u32 = 13;
    pub const AT_EGID: u32 = 14;
    pub const AT_PLATFORM: u32 = 15;
    pub const AT_HWCAP: u32 = 16;
    pub const AT_CLKTCK: u32 = 17;
    pub const AT_SECURE: u32 = 23;
    pub const AT_RANDOM: u32 = 25;
    pub const AT_HWCAP2: u32 = 26;
    pub const AT_EXECFN: u32 = 31;
}

/// `getrandom` flags.
pub mod random {
    pub const GRND_NONBLOCK: u32 = 1;
    pub const GRND_RANDOM: u32 = 2;
    pub const GRND_INSECURE: u32 = 4;
}

/// `statx` mask bits.
pub mod statx {
    pub const STATX_TYPE: u32 = 0x1;
    pub const STATX_MODE: u32 = 0x2;
    pub const STATX_NLINK: u32 = 0x4;
    pub const STATX_UID: u32 = 0x8;
    pub const STATX_GID: u32 = 0x10;
    pub const STATX_ATIME: u32 = 0x20;
    pub const STATX_MTIME: u32 = 0x40;
    pub const STATX_CTIME: u32 = 0x80;
    pub const STATX_INO: u32 = 0x100;
    pub const STATX_SIZE: u32 = 0x200;
    pub const STATX_BLOCKS: u32 = 0x400;
    /// Everything `struct stat` holds.
    pub const STATX_BASIC_STATS: u32 = 0x7ff;
}
