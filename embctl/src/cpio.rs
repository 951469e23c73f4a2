//! A reproducible cpio "newc" (SVR4, magic 070701) writer for the kernel's
//! initramfs.
//!
//! Reproducible means: the same tree gives the same bytes on any machine.
//! Entries are sorted by path, every parent directory appears before its
//! children, and the metadata that varies between checkouts is fixed: mtime 0,
//! uid/gid 0, inode numbers counted from 1, and the mode reduced to the file
//! type plus 0755 (directories and executables) or 0644 (other files).
//!
//! Names are relative, without a leading `/` or `./` (`bin/linux_hello`); the
//! kernel mounts the archive at `/`.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

const MAGIC: &str = "070701";
const TRAILER: &str = "TRAILER!!!";
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;

/// Where an entry's content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Directory,
    /// A host file, read when the archive is written. `executable` picks 0755.
    File { path: PathBuf, executable: bool },
    /// In-memory content (generated files; the tests use it).
    #[cfg_attr(not(test), allow(dead_code))]
    Bytes { data: Vec<u8>, executable: bool },
    Symlink { target: String },
}

/// The archive's contents: guest path → source. Adding a path again replaces
/// it, so later trees override earlier ones.
#[derive(Debug, Default, Clone)]
pub struct Archive {
    entries: BTreeMap<String, Source>,
}

impl Archive {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `source` at `guest_path` (leading `/` or `./` optional), and its
    /// parent directories.
    pub fn insert(&mut self, guest_path: &str, source: Source) -> Result<()> {
        let name = normalize(guest_path)?;
        let mut parent = String::new();
        for component in name.split('/').collect::<Vec<_>>().split_last().map(|(_, dirs)| dirs).unwrap_or(&[]) {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(component);
            match self.entries.get(&parent) {
                Some(Source::Directory) | None => {
                    self.entries.insert(parent.clone(), Source::Directory);
                }
                Some(_) => bail!("cannot add /{name}: /{parent} is already a file in the initramfs"),
            }
        }
        self.entries.insert(name, source);
        Ok(())
    }

    /// Adds everything under host directory `dir` at the archive root. A
    /// missing directory adds nothing.
    pub fn add_tree(&mut self, dir: &Path) -> Result<()> {
        if !dir.exists() {
            return Ok(());
        }
        self.add_tree_at(dir, "")
    }

    /// Adds everything under host directory `dir` below `guest_dir`.
    pub fn add_tree_under(&mut self, dir: &Path, guest_dir: &str) -> Result<()> {
        let prefix = normalize(guest_dir)?;
        self.insert(&prefix, Source::Directory)?;
        self.add_tree_at(dir, &prefix)
    }

    fn add_tree_at(&mut self, dir: &Path, prefix: &str) -> Result<()> {
        let mut children: Vec<_> = fs::read_dir(dir)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .collect::<io::Result<_>>()
            .with_context(|| format!("cannot list {}", dir.display()))?;
        children.sort_by_key(|e| e.file_name());
        for child in children {
            let Some(name) = child.file_name().to_str().map(str::to_owned) else {
                bail!("{}: file name is not UTF-8; rename it", child.path().display());
            };
            let guest = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
            let path = child.path();
            let meta = fs::symlink_metadata(&path).with_context(|| format!("cannot stat {}", path.display()))?;
            if meta.is_dir() {
                self.insert(&guest, Source::Directory)?;
                self.add_tree_at(&path, &guest)?;
            } else if meta.file_type().is_symlink() {
                let target = fs::read_link(&path).with_context(|| format!("cannot read link {}", path.display()))?;
                self.insert(&guest, Source::Symlink { target: target.to_string_lossy().into_owned() })?;
            } else if meta.is_file() {
                let executable = meta.permissions().mode() & 0o111 != 0;
                self.insert(&guest, Source::File { path, executable })?;
            }
            // Sockets, fifos and devices have no place in the initramfs: skipped.
        }
        Ok(())
    }

    /// Whether `guest_path` is a directory in the archive.
    pub fn is_dir(&self, guest_path: &str) -> bool {
        let is_root = guest_path.split('/').all(|p| p.is_empty() || p == ".");
        is_root || normalize(guest_path).is_ok_and(|name| self.entries.get(&name) == Some(&Source::Directory))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// The whole archive as bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        for (ino, (name, source)) in self.entries.iter().enumerate() {
            let nlink = if *source == Source::Directory { 2 } else { 1 };
            let (mode, data) = match source {
                Source::Directory => (S_IFDIR | 0o755, Vec::new()),
                Source::File { path, executable } => {
                    let data = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
                    (S_IFREG | perm(*executable), data)
                }
                Source::Bytes { data, executable } => (S_IFREG | perm(*executable), data.clone()),
                Source::Symlink { target } => (S_IFLNK | 0o777, target.as_bytes().to_vec()),
            };
            write_entry(&mut out, ino as u32 + 1, mode, nlink, name, &data)?;
        }
        write_entry(&mut out, 0, 0, 1, TRAILER, &[])?;
        Ok(out)
    }

    /// Writes the archive to `dest` atomically (temp file + rename), so a
    /// failed run never leaves a truncated initramfs. Returns whether the
    /// content changed.
    pub fn write_to(&self, dest: &Path) -> Result<bool> {
        let bytes = self.to_bytes()?;
        if fs::read(dest).ok().as_deref() == Some(bytes.as_slice()) {
            return Ok(false);
        }
        let dir = dest.parent().context("initramfs path has no parent directory")?;
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("cannot create a file in {}", dir.display()))?;
        tmp.write_all(&bytes).with_context(|| format!("cannot write {}", tmp.path().display()))?;
        tmp.persist(dest).with_context(|| format!("cannot write {}", dest.display()))?;
        Ok(true)
    }
}

fn perm(executable: bool) -> u32 {
    if executable {
        0o755
    } else {
        0o644
    }
}

/// `/a//b/./c` → `a/b/c`; rejects empty paths and `..`.
fn normalize(guest_path: &str) -> Result<String> {
    let mut parts = Vec::new();
    for part in guest_path.split('/') {
        match part {
            "" | "." => {}
            ".." => bail!("initramfs path {guest_path:?} contains `..`; give an absolute guest path"),
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        bail!("initramfs path {guest_path:?} names the root; give a file path such as /bin/NAME");
    }
    Ok(parts.join("/"))
}

/// One newc header, the NUL-terminated name padded to 4 bytes, the data padded to 4.
fn write_entry(out: &mut Vec<u8>, ino: u32, mode: u32, nlink: u32, name: &str, data: &[u8]) -> Result<()> {
    let filesize = u32::try_from(data.len()).with_context(|| format!("{name}: larger than 4 GiB, too big for cpio newc"))?;
    let namesize = name.len() as u32 + 1;
    // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
    let fields = [ino, mode, 0, 0, nlink, 0, filesize, 0, 0, 0, 0, namesize, 0];
    out.extend_from_slice(MAGIC.as_bytes());
    for field in fields {
        out.extend_from_slice(format!("{field:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
    Ok(())
}

fn pad4(out: &mut Vec<u8>) {
    out.resize(out.len().next_multiple_of(4), 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal newc reader, independent of the writer, to check its output.
    fn parse(mut bytes: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
        let mut entries = Vec::new();
        let total = bytes.len();
        loop {
            assert_eq!(&bytes[..6], b"070701", "magic at offset {}", total - bytes.len());
            let field = |i: usize| u32::from_str_radix(std::str::from_utf8(&bytes[6 + 8 * i..14 + 8 * i]).unwrap(), 16).unwrap();
            let (mode, size, namesize) = (field(1), field(6) as usize, field(11) as usize);
            assert_eq!((field(2), field(3), field(5)), (0, 0, 0), "uid, gid, mtime are zero");
            let name = std::str::from_utf8(&bytes[110..110 + namesize - 1]).unwrap().to_string();
            assert_eq!(bytes[110 + namesize - 1], 0);
            let data_start = (110 + namesize).next_multiple_of(4);
            let data = bytes[data_start..data_start + size].to_vec();
            bytes = &bytes[(data_start + size).next_multiple_of(4)..];
            if name == TRAILER {
                assert!(bytes.is_empty(), "nothing after the trailer");
                return entries;
            }
            entries.push((name, mode, data));
        }
    }

    #[test]
    fn entries_sorted_with_parents_and_fixed_metadata() {
        let mut a = Archive::new();
        a.insert("/bin/linux_hello", Source::Bytes { data: b"\x7fELF".to_vec(), executable: true }).unwrap();
        a.insert("etc/motd", Source::Bytes { data: b"hello\n".to_vec(), executable: false }).unwrap();
        a.insert("./etc/deep/dir/x", Source::Bytes { data: vec![], executable: false }).unwrap();
        let entries = parse(&a.to_bytes().unwrap());
        let names: Vec<_> = entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(names, ["bin", "bin/linux_hello", "etc", "etc/deep", "etc/deep/dir", "etc/deep/dir/x", "etc/motd"]);
        assert_eq!(entries[0].1, 0o040755);
        assert_eq!(entries[1].1, 0o100755);
        assert_eq!(entries[6].1, 0o100644);
        assert_eq!(entries[6].2, b"hello\n");
    }

    #[test]
    fn later_insert_replaces_earlier() {
        let mut a = Archive::new();
        a.insert("/bin/x", Source::Bytes { data: b"old".to_vec(), executable: false }).unwrap();
        a.insert("/bin/x", Source::Bytes { data: b"new".to_vec(), executable: true }).unwrap();
        let entries = parse(&a.to_bytes().unwrap());
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1], ("bin/x".into(), 0o100755, b"new".to_vec()));
    }

    #[test]
    fn file_under_a_file_is_an_error() {
        let mut a = Archive::new();
        a.insert("/bin", Source::Bytes { data: vec![], executable: false }).unwrap();
        let err = a.insert("/bin/x", Source::Directory).unwrap_err();
        assert!(err.to_string().contains("/bin is already a file"), "{err}");
        assert!(a.insert("/../x", Source::Directory).is_err());
        assert!(a.insert("/", Source::Directory).is_err());
    }

    #[test]
    fn tree_is_reproducible_and_keeps_exec_bit_and_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("bin")).unwrap();
        fs::write(root.join("bin/tool"), b"#!/bin/sh\n").unwrap();
        fs::set_permissions(root.join("bin/tool"), fs::Permissions::from_mode(0o700)).unwrap();
        fs::write(root.join("readme"), b"text").unwrap();
        std::os::unix::fs::symlink("readme", root.join("link")).unwrap();
        let mut a = Archive::new();
        a.add_tree(root).unwrap();
        a.add_tree(&root.join("missing")).unwrap();
        let first = a.to_bytes().unwrap();
        // Changing mtimes and permissions beyond the exec bit changes nothing.
        fs::set_permissions(root.join("readme"), fs::Permissions::from_mode(0o600)).unwrap();
        let mut b = Archive::new();
        b.add_tree(root).unwrap();
        assert_eq!(first, b.to_bytes().unwrap());
        let entries = parse(&first);
        let find = |n: &str| entries.iter().find(|e| e.0 == n).unwrap().clone();
        assert_eq!(find("bin/tool").1, 0o100755);
        assert_eq!(find("readme").1, 0o100644);
        assert_eq!(find("link"), ("link".into(), 0o120777, b"readme".to_vec()));
        assert_eq!(first.len() % 4, 0);
    }

    #[test]
    fn write_to_reports_change_and_is_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out/rootfs.cpio");
        let mut a = Archive::new();
        a.insert("/f", Source::Bytes { data: b"1".to_vec(), executable: false }).unwrap();
        assert!(a.write_to(&dest).unwrap());
        assert!(!a.write_to(&dest).unwrap(), "same content is not rewritten");
        assert_eq!(fs::read_dir(dest.parent().unwrap()).unwrap().count(), 1, "no temp file left");
    }
}
