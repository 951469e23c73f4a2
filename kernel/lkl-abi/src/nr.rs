//! LKL's syscall numbers on a 32-bit build.
//!
//! LKL uses the asm-generic table (`include/uapi/asm-generic/unistd.h`,
//! pulled in by `arch/lkl/include/uapi/asm/unistd.h`), where
//! `__BITS_PER_LONG == 32` picks the 32-bit names for the `__NR3264_*`
//! slots: slot 79 is `fstatat64`, 80 `fstat64`, 62 `llseek`, 25 `fcntl64`,
//! 45/46 `truncate64`/`ftruncate64`. `arch/lkl/include/asm/unistd_32.h`
//! then overrides some slots with `sys32_*` wrappers that take 64-bit
//! offsets as (low, high) pairs, exactly as i386 passes them
//! (`arch/lkl/kernel/syscalls_32.c`).
//!
//! Linux 6.0's asm-generic table has no path calls without a directory
//! descriptor (open, mkdir, unlink, ... are gone even though LKL still
//! defines `__ARCH_WANT_SYSCALL_NO_AT`), no `getdents`, `pipe`, `dup2`,
//! `poll` or `select`: those are translated to their `*at`/newer forms.
//!
//! `tests::numbers_match_the_tree` checks every number here against the
//! header of a real tree when `EMBCTL_LKL_TREE` names one.

/// Each constant with the header name it comes from.
macro_rules! numbers {
    ($($name:ident = $value:literal, $header:literal;)*) => {
        $(#[doc = concat!("`", $header, "`")] pub const $name: u32 = $value;)*
        /// (our name, header macro, value), for the header check.
        pub const ALL: &[(&str, &str, u32)] = &[$((stringify!($name), $header, $value)),*];
    };
}

numbers! {
    GETCWD = 17, "__NR_getcwd";
    DUP = 23, "__NR_dup";
    DUP3 = 24, "__NR_dup3";
    FCNTL64 = 25, "__NR3264_fcntl";
    IOCTL = 29, "__NR_ioctl";
    FLOCK = 32, "__NR_flock";
    MKNODAT = 33, "__NR_mknodat";
    MKDIRAT = 34, "__NR_mkdirat";
    UNLINKAT = 35, "__NR_unlinkat";
    SYMLINKAT = 36, "__NR_symlinkat";
    LINKAT = 37, "__NR_linkat";
    RENAMEAT = 38, "__NR_renameat";
    TRUNCATE64 = 45, "__NR3264_truncate";
    FTRUNCATE64 = 46, "__NR3264_ftruncate";
    FALLOCATE = 47, "__NR_fallocate";
    FACCESSAT = 48, "__NR_faccessat";
    CHDIR = 49, "__NR_chdir";
    FCHDIR = 50, "__NR_fchdir";
    FCHMOD = 52, "__NR_fchmod";
    FCHMODAT = 53, "__NR_fchmodat";
    FCHOWNAT = 54, "__NR_fchownat";
    FCHOWN = 55, "__NR_fchown";
    OPENAT = 56, "__NR_openat";
    CLOSE = 57, "__NR_close";
    PIPE2 = 59, "__NR_pipe2";
    GETDENTS64 = 61, "__NR_getdents64";
    LLSEEK = 62, "__NR3264_lseek";
    READ = 63, "__NR_read";
    WRITE = 64, "__NR_write";
    READV = 65, "__NR_readv";
    WRITEV = 66, "__NR_writev";
    PREAD64 = 67, "__NR_pread64";
    PWRITE64 = 68, "__NR_pwrite64";
    PPOLL = 73, "__NR_ppoll";
    READLINKAT = 78, "__NR_readlinkat";
    FSTATAT64 = 79, "__NR3264_fstatat";
    FSTAT64 = 80, "__NR3264_fstat";
    SYNC = 81, "__NR_sync";
    FSYNC = 82, "__NR_fsync";
    FDATASYNC = 83, "__NR_fdatasync";
    UTIMENSAT = 88, "__NR_utimensat";
    SETREGID = 143, "__NR_setregid";
    SETGID = 144, "__NR_setgid";
    SETREUID = 145, "__NR_setreuid";
    SETUID = 146, "__NR_setuid";
    SETRESUID = 147, "__NR_setresuid";
    GETRESUID = 148, "__NR_getresuid";
    SETRESGID = 149, "__NR_setresgid";
    GETRESGID = 150, "__NR_getresgid";
    SETFSUID = 151, "__NR_setfsuid";
    SETFSGID = 152, "__NR_setfsgid";
    GETGROUPS = 158, "__NR_getgroups";
    SETGROUPS = 159, "__NR_setgroups";
    UNAME = 160, "__NR_uname";
    SETHOSTNAME = 161, "__NR_sethostname";
    UMASK = 166, "__NR_umask";
    GETUID = 174, "__NR_getuid";
    GETEUID = 175, "__NR_geteuid";
    GETGID = 176, "__NR_getgid";
    GETEGID = 177, "__NR_getegid";
    SOCKET = 198, "__NR_socket";
    SOCKETPAIR = 199, "__NR_socketpair";
    BIND = 200, "__NR_bind";
    LISTEN = 201, "__NR_listen";
    CONNECT = 203, "__NR_connect";
    GETSOCKNAME = 204, "__NR_getsockname";
    GETPEERNAME = 205, "__NR_getpeername";
    SENDTO = 206, "__NR_sendto";
    RECVFROM = 207, "__NR_recvfrom";
    SETSOCKOPT = 208, "__NR_setsockopt";
    GETSOCKOPT = 209, "__NR_getsockopt";
    SHUTDOWN = 210, "__NR_shutdown";
    SENDMSG = 211, "__NR_sendmsg";
    RECVMSG = 212, "__NR_recvmsg";
    ACCEPT4 = 242, "__NR_accept4";
    SYNCFS = 267, "__NR_syncfs";
    RENAMEAT2 = 276, "__NR_renameat2";
    STATX = 291, "__NR_statx";
    UTIMENSAT_TIME64 = 412, "__NR_utimensat_time64";
    FACCESSAT2 = 439, "__NR_faccessat2";
}

#[cfg(test)]
mod tests {
    use super::ALL;
    use std::collections::HashMap;

    /// `#define NAME VALUE` lines of the header (plain numbers only).
    fn defines(text: &str) -> HashMap<String, u32> {
        let mut out = HashMap::new();
        for line in text.lines() {
            let mut words = line.split_whitespace();
            if words.next() != Some("#define") {
                continue;
            }
            if let (Some(name), Some(value)) = (words.next(), words.next()) {
                if let Ok(v) = value.parse() {
                    out.insert(name.to_string(), v);
                }
            }
        }
        out
    }

    #[test]
    fn numbers_are_unique() {
        let mut seen = HashMap::new();
        for (name, _, value) in ALL {
            assert!(
                seen.insert(*value, *name).is_none(),
                "{name} reuses {value}"
            );
        }
    }

    /// Every number against the tree's own header, when a tree is given.
    #[test]
    #[cfg_attr(not(lkl_tree), ignore = "needs a real LKL tree: set EMBCTL_LKL_TREE=DIR when building the tests (CI has none)")]
    fn numbers_match_the_tree() {
        let Some(tree) = std::env::var_os("EMBCTL_LKL_TREE") else {
            eprintln!("SKIPPED numbers_match_the_tree: EMBCTL_LKL_TREE is not set (no LKL tree to read asm-generic/unistd.h from)");
            return;
        };
        let path = std::path::Path::new(&tree).join("include/uapi/asm-generic/unistd.h");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let defs = defines(&text);
        for (name, header, value) in ALL {
            assert_eq!(
                defs.get(*header),
                Some(value),
                "{name}: {header} in {}",
                path.display()
            );
        }
        // The 32-bit build must keep the calls that need no translation of
        // time types (LKL defines __ARCH_WANT_TIME32_SYSCALLS).
        let arch = std::fs::read_to_string(
            std::path::Path::new(&tree).join("arch/lkl/include/uapi/asm/unistd.h"),
        )
        .unwrap();
        assert!(
            arch.contains("__ARCH_WANT_TIME32_SYSCALLS"),
            "LKL's unistd.h no longer wants the time32 calls"
        );
        assert!(
            arch.contains("__ARCH_WANT_RENAMEAT"),
            "LKL's unistd.h no longer has renameat"
        );
    }
}
