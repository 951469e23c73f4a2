//! `struct stat64` as LKL fills it, and its conversion to i386's.
//!
//! LKL's 32-bit `fstatat64`/`fstat64` (slots 79/80) fill the asm-generic
//! `struct stat64` (`include/uapi/asm-generic/stat.h`, the
//! `__BITS_PER_LONG != 64` branch): 104 bytes, 64-bit inode at offset 8.
//! i386 programs expect x86's `struct stat64` (`arch/x86/include/uapi/asm/stat.h`):
//! 96 bytes, the low inode bits at 12 and the full inode at the end. Both
//! are built by the kernel's `cp_new_stat64` from the same `kstat`, so the
//! device numbers are encoded the same way and copy across unchanged.

use embox_abi::types::Stat64;
use zerocopy::little_endian::{I64, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// asm-generic `struct stat64` on a 32-bit build (i386 packs `long long` at
/// 4 bytes, hence the unaligned 64-bit fields).
#[derive(Clone, Copy, Debug, Default, IntoBytes, FromBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct LklStat64 {
    pub st_dev: U64,
    pub st_ino: U64,
    pub st_mode: u32,
    pub st_nlink: u32,
    pub st_uid: u32,
    pub st_gid: u32,
    pub st_rdev: U64,
    pub __pad1: U64,
    pub st_size: I64,
    pub st_blksize: i32,
    pub __pad2: i32,
    pub st_blocks: I64,
    pub st_atime: i32,
    pub st_atime_nsec: u32,
    pub st_mtime: i32,
    pub st_mtime_nsec: u32,
    pub st_ctime: i32,
    pub st_ctime_nsec: u32,
    pub __unused4: u32,
    pub __unused5: u32,
}

/// LKL's `stat64` as an i386 program's `stat64`.
pub fn to_i386(s: &LklStat64) -> Stat64 {
    let ino = s.st_ino.get();
    Stat64 {
        st_dev: s.st_dev,
        __pad0: [0; 4],
        __st_ino: ino as u32,
        st_mode: s.st_mode,
        st_nlink: s.st_nlink,
        st_uid: s.st_uid,
        st_gid: s.st_gid,
        st_rdev: s.st_rdev,
        __pad3: [0; 4],
        st_size: s.st_size,
        st_blksize: s.st_blksize as u32,
        st_blocks: U64::new(s.st_blocks.get() as u64),
        st_atime: s.st_atime as u32,
        st_atime_nsec: s.st_atime_nsec,
        st_mtime: s.st_mtime as u32,
        st_mtime_nsec: s.st_mtime_nsec,
        st_ctime: s.st_ctime as u32,
        st_ctime_nsec: s.st_ctime_nsec,
        st_ino: U64::new(ino),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    /// Offsets of asm-generic `struct stat64` as `gcc -m32` lays it out
    /// (`include/uapi/asm-generic/stat.h`; checked with offsetof against the
    /// 6.0 tree's header).
    #[test]
    fn lkl_stat64_layout() {
        assert_eq!(size_of::<LklStat64>(), 104);
        assert_eq!(offset_of!(LklStat64, st_ino), 8);
        assert_eq!(offset_of!(LklStat64, st_mode), 16);
        assert_eq!(offset_of!(LklStat64, st_nlink), 20);
        assert_eq!(offset_of!(LklStat64, st_uid), 24);
        assert_eq!(offset_of!(LklStat64, st_gid), 28);
        assert_eq!(offset_of!(LklStat64, st_rdev), 32);
        assert_eq!(offset_of!(LklStat64, st_size), 48);
        assert_eq!(offset_of!(LklStat64, st_blksize), 56);
        assert_eq!(offset_of!(LklStat64, st_blocks), 64);
        assert_eq!(offset_of!(LklStat64, st_atime), 72);
        assert_eq!(offset_of!(LklStat64, st_atime_nsec), 76);
        assert_eq!(offset_of!(LklStat64, st_mtime), 80);
        assert_eq!(offset_of!(LklStat64, st_ctime), 88);
        assert_eq!(offset_of!(LklStat64, __unused5), 100);
    }

    /// The same offsets as `gcc -m32` computes them from the tree's own
    /// header, when `EMBCTL_LKL_TREE` names a tree (and gcc can build i386).
    #[test]
    #[cfg_attr(not(lkl_tree), ignore = "needs a real LKL tree: set EMBCTL_LKL_TREE=DIR when building the tests (CI has none)")]
    fn lkl_stat64_layout_matches_the_tree() {
        let Some(tree) = std::env::var_os("EMBCTL_LKL_TREE") else {
            eprintln!("SKIPPED lkl_stat64_layout_matches_the_tree: EMBCTL_LKL_TREE is not set (no asm-generic/stat.h to compile)");
            return;
        };
        let dir = std::env::temp_dir().join(format!("lkl-abi-stat-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fields = ["st_ino", "st_mode", "st_nlink", "st_uid", "st_gid", "st_rdev", "st_size", "st_blksize", "st_blocks", "st_atime", "st_atime_nsec", "st_mtime", "st_mtime_nsec", "st_ctime", "st_ctime_nsec"];
        let mut c = String::from("#include <stdio.h>\n#include <stddef.h>\n#include <asm-generic/stat.h>\nint main(void) {\n printf(\"size %zu\\n\", sizeof(struct stat64));\n");
        for f in fields {
            c.push_str(&format!(" printf(\"{f} %zu\\n\", offsetof(struct stat64, {f}));\n"));
        }
        c.push_str(" return 0;\n}\n");
        std::fs::write(dir.join("t.c"), c).unwrap();
        let include = std::path::Path::new(&tree).join("include/uapi");
        let built = std::process::Command::new("gcc")
            .args(["-m32", "-o"])
            .arg(dir.join("t"))
            .arg("-I")
            .arg(&include)
            .arg(dir.join("t.c"))
            .status();
        if !built.is_ok_and(|s| s.success()) {
            eprintln!("SKIPPED lkl_stat64_layout_matches_the_tree: `gcc -m32` cannot build against {}", include.display());
            return;
        }
        let out = std::process::Command::new(dir.join("t")).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let value = |name: &str| -> usize {
            text.lines().find_map(|l| l.strip_prefix(name)?.trim().parse().ok()).unwrap_or_else(|| panic!("{name} missing in {text}"))
        };
        assert_eq!(value("size "), size_of::<LklStat64>());
        let ours = [
            offset_of!(LklStat64, st_ino),
            offset_of!(LklStat64, st_mode),
            offset_of!(LklStat64, st_nlink),
            offset_of!(LklStat64, st_uid),
            offset_of!(LklStat64, st_gid),
            offset_of!(LklStat64, st_rdev),
            offset_of!(LklStat64, st_size),
            offset_of!(LklStat64, st_blksize),
            offset_of!(LklStat64, st_blocks),
            offset_of!(LklStat64, st_atime),
            offset_of!(LklStat64, st_atime_nsec),
            offset_of!(LklStat64, st_mtime),
            offset_of!(LklStat64, st_mtime_nsec),
            offset_of!(LklStat64, st_ctime),
            offset_of!(LklStat64, st_ctime_nsec),
        ];
        for (f, off) in fields.iter().zip(ours) {
            assert_eq!(value(&format!("{f} ")), off, "{f}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn converts_every_field() {
        let lkl = LklStat64 {
            st_dev: U64::new(0x0803),
            st_ino: U64::new(0x1_0000_0042),
            st_mode: 0o100644,
            st_nlink: 2,
            st_uid: 1000,
            st_gid: 100,
            st_rdev: U64::new(0x0401),
            st_size: I64::new(5_000_000_000),
            st_blksize: 4096,
            st_blocks: I64::new(9_765_632),
            st_atime: 1_700_000_001,
            st_atime_nsec: 11,
            st_mtime: 1_700_000_002,
            st_mtime_nsec: 22,
            st_ctime: 1_700_000_003,
            st_ctime_nsec: 33,
            ..Default::default()
        };
        // Through bytes, as the kernel receives it from LKL.
        let lkl = LklStat64::read_from_bytes(lkl.as_bytes()).unwrap();
        let s = to_i386(&lkl);
        assert_eq!(s.st_dev.get(), 0x0803);
        assert_eq!(s.st_ino.get(), 0x1_0000_0042);
        assert_eq!(s.__st_ino, 0x42, "the historic field holds the low 32 bits");
        assert_eq!(
            (s.st_mode, s.st_nlink, s.st_uid, s.st_gid),
            (0o100644, 2, 1000, 100)
        );
        assert_eq!(s.st_rdev.get(), 0x0401);
        assert_eq!(s.st_size.get(), 5_000_000_000);
        assert_eq!(s.st_blksize, 4096);
        assert_eq!(s.st_blocks.get(), 9_765_632);
        assert_eq!((s.st_atime, s.st_atime_nsec), (1_700_000_001, 11));
        assert_eq!((s.st_mtime, s.st_mtime_nsec), (1_700_000_002, 22));
        assert_eq!((s.st_ctime, s.st_ctime_nsec), (1_700_000_003, 33));
        // Byte-level: the i386 buffer a program reads (layout pinned by embox-abi's tests).
        let b = s.as_bytes();
        assert_eq!(&b[88..96], &0x1_0000_0042u64.to_le_bytes());
        assert_eq!(&b[44..52], &5_000_000_000i64.to_le_bytes());
    }
}
