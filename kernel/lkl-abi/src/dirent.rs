//! i386's old `getdents` on top of LKL's `getdents64`.
//!
//! LKL (asm-generic) has only `getdents64`. i386's `getdents` fills
//! `struct linux_dirent` (`fs/readdir.c`): `unsigned long d_ino, d_off;
//! unsigned short d_reclen; char d_name[]`, then a NUL, then `d_type` in
//! the record's last byte, records aligned to 4 (`sizeof(long)`). Each old
//! record is shorter than the `linux_dirent64` one it comes from (head 10
//! vs 19 bytes, alignment 4 vs 8), so what one `getdents64` of `count`
//! bytes returns always fits in the caller's `count` bytes.

use embox_abi::types::Dirent64Head;
use zerocopy::FromBytes;

/// Offset of `d_name` in the old `struct linux_dirent` on i386.
pub const OLD_DIRENT_NAME: usize = 10;

/// Length of an old record holding a name of `name_len` bytes:
/// `ALIGN(offsetof(d_name) + namlen + 2, sizeof(long))` as `filldir` computes it.
pub const fn old_reclen(name_len: usize) -> usize {
    (OLD_DIRENT_NAME + name_len + 2 + 3) & !3
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirentError {
    /// A record in the input is cut short or inconsistent.
    Malformed,
    /// The output buffer is too small for the next record.
    TooSmall,
    /// An inode or offset does not fit in 32 bits (Linux returns EOVERFLOW).
    Overflow,
}

/// Rewrites the `linux_dirent64` records in `src` as old `linux_dirent`
/// records into `dst`; returns the bytes written.
pub fn dirent64_to_old(src: &[u8], dst: &mut [u8]) -> Result<usize, DirentError> {
    let head_len = core::mem::size_of::<Dirent64Head>();
    let (mut at, mut out) = (0usize, 0usize);
    while at < src.len() {
        let head = Dirent64Head::read_from_prefix(&src[at..])
            .map_err(|_| DirentError::Malformed)?
            .0;
        let reclen = head.d_reclen.get() as usize;
        let record = src
            .get(at..at + reclen)
            .filter(|_| reclen > head_len)
            .ok_or(DirentError::Malformed)?;
        let name_area = &record[head_len..];
        let name_len = name_area
            .iter()
            .position(|&b| b == 0)
            .ok_or(DirentError::Malformed)?;
        let ino = u32::try_from(head.d_ino.get()).map_err(|_| DirentError::Overflow)?;
        let off = u32::try_from(head.d_off.get()).map_err(|_| DirentError::Overflow)?;
        let len = old_reclen(name_len);
        let rec = dst.get_mut(out..out + len).ok_or(DirentError::TooSmall)?;
        rec.fill(0);
        rec[0..4].copy_from_slice(&ino.to_le_bytes());
        rec[4..8].copy_from_slice(&off.to_le_bytes());
        rec[8..10].copy_from_slice(&(len as u16).to_le_bytes());
        rec[OLD_DIRENT_NAME..OLD_DIRENT_NAME + name_len].copy_from_slice(&name_area[..name_len]);
        rec[len - 1] = head.d_type;
        at += reclen;
        out += len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use embox_abi::types::{dirent64_reclen, write_dirent64};

    fn records(entries: &[(u64, i64, u8, &str)]) -> Vec<u8> {
        let mut buf = vec![0u8; 4096];
        let mut at = 0;
        for (ino, off, ty, name) in entries {
            at += write_dirent64(&mut buf[at..], *ino, *off, *ty, name.as_bytes()).unwrap();
        }
        buf.truncate(at);
        buf
    }

    #[test]
    fn reclen_matches_filldir() {
        // "." : 10 + 1 + 2 = 13 -> 16; "abc": 15 -> 16; "abcd": 16.
        assert_eq!(old_reclen(1), 16);
        assert_eq!(old_reclen(3), 16);
        assert_eq!(old_reclen(4), 16);
        assert_eq!(old_reclen(5), 20);
        for n in 0..300 {
            assert!(
                old_reclen(n) < dirent64_reclen(n),
                "old records are always shorter"
            );
        }
    }

    #[test]
    fn converts_records() {
        let src = records(&[(1, 1, 4, "."), (2, 2, 4, ".."), (77, 3, 8, "hello.txt")]);
        let mut dst = vec![0xaau8; src.len()];
        let n = dirent64_to_old(&src, &mut dst).unwrap();
        assert_eq!(n, 16 + 16 + 24);
        // third record: ino 77, off 3, reclen 24, name, NUL, type 8 (DT_REG) last
        let r = &dst[32..56];
        assert_eq!(u32::from_le_bytes(r[0..4].try_into().unwrap()), 77);
        assert_eq!(u32::from_le_bytes(r[4..8].try_into().unwrap()), 3);
        assert_eq!(u16::from_le_bytes(r[8..10].try_into().unwrap()), 24);
        assert_eq!(&r[10..19], b"hello.txt");
        assert_eq!(r[19], 0);
        assert_eq!(r[23], 8);
        assert_eq!(dst[15], 4, "d_type of '.' is DT_DIR in the last byte");
    }

    #[test]
    fn any_getdents64_result_fits_its_own_count() {
        let names: Vec<String> = (0..40).map(|i| "n".repeat(i % 17 + 1)).collect();
        let entries: Vec<_> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (i as u64 + 1, i as i64 + 1, 8u8, n.as_str()))
            .collect();
        let src = records(&entries);
        let mut dst = vec![0u8; src.len()];
        assert!(dirent64_to_old(&src, &mut dst).unwrap() <= src.len());
    }

    #[test]
    fn rejects_what_does_not_fit() {
        let big_ino = records(&[(1 << 32, 1, 8, "x")]);
        assert_eq!(
            dirent64_to_old(&big_ino, &mut [0; 64]),
            Err(DirentError::Overflow)
        );
        let ok = records(&[(5, 1, 8, "name")]);
        assert_eq!(
            dirent64_to_old(&ok, &mut [0; 8]),
            Err(DirentError::TooSmall)
        );
        assert_eq!(
            dirent64_to_old(&ok[..ok.len() - 4], &mut [0; 64]),
            Err(DirentError::Malformed)
        );
        let mut zero_len = ok.clone();
        zero_len[16] = 0;
        zero_len[17] = 0;
        assert_eq!(
            dirent64_to_old(&zero_len, &mut [0; 64]),
            Err(DirentError::Malformed)
        );
    }
}
