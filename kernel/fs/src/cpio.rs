//! Reader for cpio archives in the "newc" format (`cpio -H newc`): 110-byte
//! ASCII headers, names and data padded to 4 bytes, ended by `TRAILER!!!`.

use core::fmt;

const MAGIC: &[u8; 6] = b"070701";
const MAGIC_CRC: &[u8; 6] = b"070702";
const HEADER_LEN: usize = 110;
const TRAILER: &str = "TRAILER!!!";

/// File type bits of `mode`.
pub const S_IFMT: u32 = 0o170000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFLNK: u32 = 0o120000;

/// One archive member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    pub name: &'a str,
    pub mode: u32,
    pub mtime: u32,
    pub data: &'a [u8],
}

/// Why an archive could not be read, with the byte offset of the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpioError {
    BadMagic { offset: usize },
    BadHeader { offset: usize, field: &'static str },
    Truncated { offset: usize },
    BadName { offset: usize },
}

impl fmt::Display for CpioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CpioError::BadMagic { offset } => write!(f, "not a newc cpio header at byte {offset} (expected magic 070701)"),
            CpioError::BadHeader { offset, field } => write!(f, "bad hex in field {field} of the header at byte {offset}"),
            CpioError::Truncated { offset } => write!(f, "archive truncated in the member at byte {offset}"),
            CpioError::BadName { offset } => write!(f, "member name at byte {offset} is not UTF-8 or lacks its NUL"),
        }
    }
}

/// Iterates over the members of an archive, stopping at the trailer.
pub struct Reader<'a> {
    data: &'a [u8],
    offset: usize,
    done: bool,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, offset: 0, done: false }
    }

    fn field(&self, header: &[u8], index: usize, name: &'static str) -> Result<u32, CpioError> {
        let bytes = &header[6 + index * 8..6 + index * 8 + 8];
        let text = core::str::from_utf8(bytes).map_err(|_| CpioError::BadHeader { offset: self.offset, field: name })?;
        u32::from_str_radix(text, 16).map_err(|_| CpioError::BadHeader { offset: self.offset, field: name })
    }

    fn next_entry(&mut self) -> Result<Option<Entry<'a>>, CpioError> {
        let start = self.offset;
        let header = self.data.get(start..start + HEADER_LEN).ok_or(CpioError::Truncated { offset: start })?;
        if &header[..6] != MAGIC && &header[..6] != MAGIC_CRC {
            return Err(CpioError::BadMagic { offset: start });
        }
        let mode = self.field(header, 1, "mode")?;
        let mtime = self.field(header, 5, "mtime")?;
        let file_size = self.field(header, 6, "filesize")? as usize;
        let name_size = self.field(header, 11, "namesize")? as usize;
        let name_start = start + HEADER_LEN;
        let name_bytes = self.data.get(name_start..name_start + name_size).ok_or(CpioError::Truncated { offset: start })?;
        let name = match name_bytes.split_last() {
            Some((0, name)) => core::str::from_utf8(name).map_err(|_| CpioError::BadName { offset: start })?,
            _ => return Err(CpioError::BadName { offset: start }),
        };
        let data_start = align4(name_start + name_size);
        let data = self.data.get(data_start..data_start + file_size).ok_or(CpioError::Truncated { offset: start })?;
        self.offset = align4(data_start + file_size);
        if name == TRAILER {
            return Ok(None);
        }
        Ok(Some(Entry { name, mode, mtime, data }))
    }
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<Entry<'a>, CpioError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_entry() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// Builds a newc archive like `cpio -o -H newc` does.
    pub(crate) fn archive(members: &[(&str, u32, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut push = |name: &str, mode: u32, data: &[u8]| {
            let header = alloc::format!(
                "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
                1, mode, 0, 0, 1, 1_700_000_000u32, data.len(), 0, 0, 0, 0, name.len() + 1, 0
            );
            out.extend_from_slice(header.as_bytes());
            out.extend_from_slice(name.as_bytes());
            out.push(0);
            while out.len() % 4 != 0 {
                out.push(0);
            }
            out.extend_from_slice(data);
            while out.len() % 4 != 0 {
                out.push(0);
            }
        };
        for (name, mode, data) in members {
            push(name, *mode, data);
        }
        push(TRAILER, 0, b"");
        out
    }

    #[test]
    fn reads_members_until_the_trailer() {
        let a = archive(&[(".", S_IFDIR | 0o755, b""), ("etc", S_IFDIR | 0o755, b""), ("etc/motd", S_IFREG | 0o644, b"hello\n")]);
        let entries: Vec<_> = Reader::new(&a).collect::<Result<_, _>>().unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[2].name, "etc/motd");
        assert_eq!(entries[2].data, b"hello\n");
        assert_eq!(entries[2].mode & S_IFMT, S_IFREG);
    }

    #[test]
    fn reports_truncation_and_bad_magic_with_offsets() {
        let a = archive(&[("file", S_IFREG | 0o644, b"0123456789")]);
        let cut = &a[..HEADER_LEN + 8];
        assert_eq!(Reader::new(cut).next(), Some(Err(CpioError::Truncated { offset: 0 })));
        let mut bad = a.clone();
        bad[0] = b'X';
        let err = Reader::new(&bad).next().unwrap().unwrap_err();
        assert_eq!(err, CpioError::BadMagic { offset: 0 });
        assert!(alloc::format!("{err}").contains("070701"));
    }

    #[test]
    fn empty_input_is_truncated_not_a_panic() {
        assert_eq!(Reader::new(b"").next(), Some(Err(CpioError::Truncated { offset: 0 })));
    }
}
