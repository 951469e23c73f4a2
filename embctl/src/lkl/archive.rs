//! The LKL archive read in place, for `lkl-diff`: an index of its entries
//! (checked as extraction checks them) whose contents are decompressed only
//! when needed. Unchanged files are recognised by size and the CRC-32 the
//! archive already stores, so a diff never extracts the whole tree.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use super::extract;
use super::patch::{BaseTree, FileData};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Symlink,
}

#[derive(Debug, Clone)]
pub struct Entry {
    index: usize,
    pub size: u64,
    pub crc32: u32,
    pub mode: u32,
    pub kind: Kind,
}

pub struct ArchiveTree {
    path: PathBuf,
    zip: RefCell<zip::ZipArchive<File>>,
    /// Files and symlinks by path relative to the tree's top directory.
    pub entries: BTreeMap<PathBuf, Entry>,
}

impl ArchiveTree {
    pub fn open(archive: &Path, top: &str) -> Result<Self> {
        let file = File::open(archive).with_context(|| format!("cannot open {}", archive.display()))?;
        let mut zip = zip::ZipArchive::new(file).with_context(|| format!("{} is not a readable zip archive", archive.display()))?;
        let mut entries = BTreeMap::new();
        for index in 0..zip.len() {
            let entry = zip.by_index(index).with_context(|| format!("cannot read entry {index} of {}", archive.display()))?;
            let name = extract::entry_path(&entry, top).map_err(|why| anyhow!("{} refused: {why}", archive.display()))?;
            if entry.is_dir() {
                continue;
            }
            let rel = name.strip_prefix(top).expect("entry_path checked the top directory").to_path_buf();
            let kind = if entry.is_symlink() { Kind::Symlink } else { Kind::File };
            let mode = entry.unix_mode().map(|m| m & 0o777).unwrap_or(0o644);
            entries.insert(rel, Entry { index, size: entry.size(), crc32: entry.crc32(), mode, kind });
        }
        Ok(Self { path: archive.to_path_buf(), zip: RefCell::new(zip), entries })
    }

    /// The decompressed content of an entry (a symlink's content is its target).
    pub fn read(&self, entry: &Entry) -> Result<Vec<u8>> {
        let mut zip = self.zip.borrow_mut();
        let mut file = zip.by_index(entry.index).with_context(|| format!("cannot read {}", self.path.display()))?;
        let mut bytes = Vec::with_capacity(entry.size as usize);
        file.read_to_end(&mut bytes)
            .with_context(|| format!("cannot decompress an entry of {} (corrupt archive?)", self.path.display()))?;
        Ok(bytes)
    }
}

impl BaseTree for ArchiveTree {
    fn read_file(&self, rel: &Path) -> Result<Option<FileData>> {
        match self.entries.get(rel) {
            None => Ok(None),
            Some(entry) if entry.kind == Kind::Symlink => {
                bail!("{} is a symlink in the archive; patches may only change regular files", rel.display())
            }
            Some(entry) => Ok(Some(FileData { bytes: self.read(entry)?, mode: entry.mode })),
        }
    }
}
