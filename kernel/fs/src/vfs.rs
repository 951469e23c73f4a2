//! The in-memory file tree.
//!
//! Nodes live in a map keyed by [`NodeId`] (also their inode number); ids are
//! never reused, so a handle to a removed file cannot reach a newer one. A
//! node is freed when it has no directory entry and no open handle
//! ([`Vfs::open`]/[`Vfs::close`]), as in POSIX.

use crate::cpio::{self, CpioError};
use crate::path::split_last;
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// A node's identity (and inode number).
pub type NodeId = u32;

const ROOT: NodeId = 1;
const MAX_SYMLINK_DEPTH: u32 = 8;
const MAX_NAME: usize = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Directory,
    File,
    Symlink,
}

/// Why a file operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsError {
    NotFound,
    NotADirectory,
    IsADirectory,
    AlreadyExists,
    NotEmpty,
    /// Renaming a directory into itself, removing `/`, a bad name.
    Invalid,
    /// Too many levels of symbolic links.
    Loop,
    NameTooLong,
    /// The kernel heap cannot hold the file's new size.
    NoSpace,
}

impl FsError {
    /// The Linux errno value for this error.
    pub fn errno(self) -> i32 {
        match self {
            FsError::NotFound => 2,
            FsError::NotADirectory => 20,
            FsError::IsADirectory => 21,
            FsError::AlreadyExists => 17,
            FsError::NotEmpty => 39,
            FsError::Invalid => 22,
            FsError::Loop => 40,
            FsError::NameTooLong => 36,
            FsError::NoSpace => 28,
        }
    }
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FsError::NotFound => "No such file or directory",
            FsError::NotADirectory => "Not a directory",
            FsError::IsADirectory => "Is a directory",
            FsError::AlreadyExists => "File exists",
            FsError::NotEmpty => "Directory not empty",
            FsError::Invalid => "Invalid argument",
            FsError::Loop => "Too many levels of symbolic links",
            FsError::NameTooLong => "File name too long",
            FsError::NoSpace => "No space left on device",
        })
    }
}

/// What `stat` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metadata {
    pub ino: NodeId,
    pub kind: FileKind,
    /// Permission bits (`0o7777` part of the mode).
    pub permissions: u32,
    pub size: u64,
    pub nlink: u32,
    /// Seconds since the epoch (from the archive; 0 for files made at run time).
    pub mtime: u64,
}

impl Metadata {
    /// The full `st_mode`: file type bits and permissions.
    pub fn mode(&self) -> u32 {
        let kind = match self.kind {
            FileKind::Directory => cpio::S_IFDIR,
            FileKind::File => cpio::S_IFREG,
            FileKind::Symlink => cpio::S_IFLNK,
        };
        kind | self.permissions
    }
}

/// One directory entry, as `read_dir` lists them (sorted by name, without
/// `.` and `..`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub ino: NodeId,
    pub kind: FileKind,
}

enum Data {
    /// Bytes of the initramfs, shared until the first write.
    Borrowed(&'static [u8]),
    Owned(Vec<u8>),
}

impl Data {
    fn bytes(&self) -> &[u8] {
        match self {
            Data::Borrowed(b) => b,
            Data::Owned(v) => v,
        }
    }
    fn make_owned(&mut self) -> &mut Vec<u8> {
        if let Data::Borrowed(b) = self {
            *self = Data::Owned(b.to_vec());
        }
        match self {
            Data::Owned(v) => v,
            Data::Borrowed(_) => unreachable!(),
        }
    }
}

enum Content {
    Dir(BTreeMap<String, NodeId>),
    File(Data),
    Symlink(String),
}

struct Node {
    content: Content,
    permissions: u32,
    mtime: u64,
    /// The directory holding this node (itself for `/`).
    parent: NodeId,
    /// Directory entries naming this node (0 once unlinked).
    links: u32,
    opens: u32,
}

/// Zero-extends `file` to `len` bytes, failing (instead of aborting the
/// kernel) when the heap cannot hold it: a user program filling /tmp gets
/// ENOSPC.
fn grow(file: &mut Vec<u8>, len: usize) -> Result<(), FsError> {
    if file.len() < len {
        file.try_reserve(len - file.len()).map_err(|_| FsError::NoSpace)?;
        file.resize(len, 0);
    }
    Ok(())
}

/// The file tree.
pub struct Vfs {
    nodes: BTreeMap<NodeId, Node>,
    next_id: NodeId,
}

impl Default for Vfs {
    fn default() -> Self {
        Self::new()
    }
}

impl Vfs {
    /// An empty tree: `/` and a world-writable `/tmp`.
    pub fn new() -> Self {
        let mut vfs = Self { nodes: BTreeMap::new(), next_id: ROOT + 1 };
        vfs.nodes.insert(
            ROOT,
            Node { content: Content::Dir(BTreeMap::new()), permissions: 0o755, mtime: 0, parent: ROOT, links: 1, opens: 0 },
        );
        vfs.mkdir("/tmp", 0o1777).expect("fresh tree has no /tmp");
        vfs
    }

    /// Adds every member of a newc archive under `/` (member `etc/motd`
    /// becomes `/etc/motd`), creating missing parent directories. Returns
    /// the number of members. File data stays in `archive`.
    pub fn mount_cpio(&mut self, archive: &'static [u8]) -> Result<usize, CpioError> {
        let mut count = 0;
        for entry in cpio::Reader::new(archive) {
            let entry = entry?;
            count += 1;
            let path = crate::normalize("/", entry.name);
            if path == "/" {
                continue;
            }
            let permissions = entry.mode & 0o7777;
            let _ = self.mkdir_all(split_last(&path).map_or("/", |(p, _)| p));
            let result = match entry.mode & cpio::S_IFMT {
                cpio::S_IFDIR => self.mkdir_all(&path).map(|id| self.node_mut(id).permissions = permissions),
                cpio::S_IFLNK => core::str::from_utf8(entry.data)
                    .map_err(|_| FsError::Invalid)
                    .and_then(|target| self.symlink(target, &path).map(|_| ())),
                _ => self.insert(&path, Content::File(Data::Borrowed(entry.data)), permissions).map(|id| {
                    self.node_mut(id).mtime = entry.mtime as u64;
                }),
            };
            // A member that clashes with an earlier one (same name twice) is skipped.
            let _ = result;
        }
        Ok(count)
    }

    fn node(&self, id: NodeId) -> &Node {
        self.nodes.get(&id).expect("NodeId of a freed node")
    }

    fn node_mut(&mut self, id: NodeId) -> &mut Node {
        self.nodes.get_mut(&id).expect("NodeId of a freed node")
    }

    fn dir(&self, id: NodeId) -> Result<&BTreeMap<String, NodeId>, FsError> {
        match &self.node(id).content {
            Content::Dir(d) => Ok(d),
            _ => Err(FsError::NotADirectory),
        }
    }

    fn dir_mut(&mut self, id: NodeId) -> Result<&mut BTreeMap<String, NodeId>, FsError> {
        match &mut self.node_mut(id).content {
            Content::Dir(d) => Ok(d),
            _ => Err(FsError::NotADirectory),
        }
    }

    fn resolve_from(&self, start: NodeId, path: &str, follow_last: bool, depth: &mut u32) -> Result<NodeId, FsError> {
        let mut cur = if path.starts_with('/') { ROOT } else { start };
        let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
        for (i, comp) in comps.iter().enumerate() {
            if comp.len() > MAX_NAME {
                return Err(FsError::NameTooLong);
            }
            let dir = self.dir(cur)?;
            if *comp == ".." {
                cur = self.node(cur).parent;
                continue;
            }
            let child = *dir.get(*comp).ok_or(FsError::NotFound)?;
            let last = i + 1 == comps.len();
            if let Content::Symlink(target) = &self.node(child).content {
                if !last || follow_last {
                    *depth += 1;
                    if *depth > MAX_SYMLINK_DEPTH {
                        return Err(FsError::Loop);
                    }
                    cur = self.resolve_from(cur, target, true, depth)?;
                    continue;
                }
            }
            cur = child;
        }
        Ok(cur)
    }

    /// Finds the node at an absolute path, following symbolic links.
    pub fn lookup(&self, path: &str) -> Result<NodeId, FsError> {
        self.resolve_from(ROOT, path, true, &mut 0)
    }

    /// Like [`lookup`](Self::lookup) but a final symbolic link is not followed.
    pub fn lookup_nofollow(&self, path: &str) -> Result<NodeId, FsError> {
        self.resolve_from(ROOT, path, false, &mut 0)
    }

    /// The parent directory and the new name for creating `path`.
    fn parent_of<'p>(&self, path: &'p str) -> Result<(NodeId, &'p str), FsError> {
        let trimmed = path.trim_end_matches('/');
        let (parent, name) = match trimmed.rfind('/') {
            Some(0) => ("/", &trimmed[1..]),
            Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
            None => return Err(FsError::Invalid),
        };
        if name.is_empty() || name == "." || name == ".." {
            return Err(if trimmed.is_empty() { FsError::AlreadyExists } else { FsError::Invalid });
        }
        if name.len() > MAX_NAME {
            return Err(FsError::NameTooLong);
        }
        let dir = self.lookup(parent)?;
        self.dir(dir)?;
        Ok((dir, name))
    }

    fn insert(&mut self, path: &str, content: Content, permissions: u32) -> Result<NodeId, FsError> {
        let (parent, name) = self.parent_of(path)?;
        if self.dir(parent)?.contains_key(name) {
            return Err(FsError::AlreadyExists);
        }
        let id = self.next_id;
        self.next_id += 1;
        self.nodes.insert(id, Node { content, permissions, mtime: 0, parent, links: 1, opens: 0 });
        self.dir_mut(parent)?.insert(name.to_string(), id);
        Ok(id)
    }

    /// Creates a directory.
    pub fn mkdir(&mut self, path: &str, permissions: u32) -> Result<NodeId, FsError> {
        self.insert(path, Content::Dir(BTreeMap::new()), permissions & 0o7777)
    }

    /// Creates a directory and its missing parents (`mkdir -p`).
    pub fn mkdir_all(&mut self, path: &str) -> Result<NodeId, FsError> {
        let mut cur = String::new();
        let mut id = ROOT;
        for comp in path.split('/').filter(|c| !c.is_empty()) {
            cur.push('/');
            cur.push_str(comp);
            id = match self.lookup(&cur) {
                Ok(id) => {
                    self.dir(id)?;
                    id
                }
                Err(FsError::NotFound) => self.mkdir(&cur, 0o755)?,
                Err(e) => return Err(e),
            };
        }
        Ok(id)
    }

    /// Opens or creates a regular file. With `exclusive`, an existing file
    /// is an error (`O_EXCL`).
    /// `chmod`: sets the permission bits (`0o7777` part) of a node.
    pub fn set_permissions(&mut self, id: NodeId, permissions: u32) {
        self.node_mut(id).permissions = permissions & 0o7777;
    }

    pub fn create_file(&mut self, path: &str, permissions: u32, exclusive: bool) -> Result<NodeId, FsError> {
        match self.lookup(path) {
            Ok(_) if exclusive => Err(FsError::AlreadyExists),
            Ok(id) => match self.node(id).content {
                Content::Dir(_) => Err(FsError::IsADirectory),
                _ => Ok(id),
            },
            Err(FsError::NotFound) => self.insert(path, Content::File(Data::Owned(Vec::new())), permissions & 0o7777),
            Err(e) => Err(e),
        }
    }

    /// Creates a symbolic link at `path` pointing to `target`.
    pub fn symlink(&mut self, target: &str, path: &str) -> Result<NodeId, FsError> {
        self.insert(path, Content::Symlink(target.to_string()), 0o777)
    }

    /// The target of the symbolic link at `path` (not followed).
    pub fn readlink(&self, path: &str) -> Result<&str, FsError> {
        match &self.node(self.lookup_nofollow(path)?).content {
            Content::Symlink(t) => Ok(t),
            _ => Err(FsError::Invalid),
        }
    }

    pub fn metadata(&self, id: NodeId) -> Metadata {
        let node = self.node(id);
        let (kind, size) = match &node.content {
            Content::Dir(d) => (FileKind::Directory, d.len() as u64),
            Content::File(data) => (FileKind::File, data.bytes().len() as u64),
            Content::Symlink(t) => (FileKind::Symlink, t.len() as u64),
        };
        let nlink = if kind == FileKind::Directory { 2 + self.subdir_count(id) } else { node.links };
        Metadata { ino: id, kind, permissions: node.permissions, size, nlink, mtime: node.mtime }
    }

    fn subdir_count(&self, id: NodeId) -> u32 {
        self.dir(id).map_or(0, |d| d.values().filter(|c| matches!(self.node(**c).content, Content::Dir(_))).count() as u32)
    }

    /// The directory holding `id` (`/` for `/`).
    pub fn parent(&self, id: NodeId) -> NodeId {
        self.node(id).parent
    }

    /// The whole contents of a regular file.
    pub fn file_data(&self, id: NodeId) -> Result<&[u8], FsError> {
        match &self.node(id).content {
            Content::File(d) => Ok(d.bytes()),
            Content::Dir(_) => Err(FsError::IsADirectory),
            Content::Symlink(_) => Err(FsError::Invalid),
        }
    }

    /// Reads from `offset`; returns the number of bytes read (0 at the end).
    pub fn read_at(&self, id: NodeId, offset: u64, buf: &mut [u8]) -> Result<usize, FsError> {
        let data = self.file_data(id)?;
        let start = (offset.min(data.len() as u64)) as usize;
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }

    fn file_mut(&mut self, id: NodeId) -> Result<&mut Vec<u8>, FsError> {
        match &mut self.node_mut(id).content {
            Content::File(d) => Ok(d.make_owned()),
            Content::Dir(_) => Err(FsError::IsADirectory),
            Content::Symlink(_) => Err(FsError::Invalid),
        }
    }

    /// Writes at `offset`, filling any gap with zeros; returns `data.len()`.
    pub fn write_at(&mut self, id: NodeId, offset: u64, data: &[u8]) -> Result<usize, FsError> {
        let file = self.file_mut(id)?;
        let start = usize::try_from(offset).map_err(|_| FsError::Invalid)?;
        let end = start.checked_add(data.len()).ok_or(FsError::Invalid)?;
        grow(file, end)?;
        file[start..end].copy_from_slice(data);
        Ok(data.len())
    }

    /// Sets a file's length (cutting or zero-extending).
    pub fn truncate(&mut self, id: NodeId, len: u64) -> Result<(), FsError> {
        let len = usize::try_from(len).map_err(|_| FsError::Invalid)?;
        let file = self.file_mut(id)?;
        grow(file, len)?;
        file.truncate(len);
        Ok(())
    }

    /// Lists a directory, sorted by name.
    pub fn read_dir(&self, id: NodeId) -> Result<Vec<DirEntry>, FsError> {
        Ok(self
            .dir(id)?
            .iter()
            .map(|(name, &child)| DirEntry { name: name.clone(), ino: child, kind: self.metadata(child).kind })
            .collect())
    }

    /// Marks a node open: it survives removal until [`close`](Self::close).
    pub fn open(&mut self, id: NodeId) {
        self.node_mut(id).opens += 1;
    }

    pub fn close(&mut self, id: NodeId) {
        let node = self.node_mut(id);
        node.opens = node.opens.saturating_sub(1);
        self.free_if_unused(id);
    }

    fn free_if_unused(&mut self, id: NodeId) {
        if let Some(node) = self.nodes.get(&id) {
            if node.links == 0 && node.opens == 0 {
                self.nodes.remove(&id);
            }
        }
    }

    fn detach(&mut self, path: &str, want_dir: bool) -> Result<(), FsError> {
        let (parent, name) = self.parent_of(path)?;
        let id = *self.dir(parent)?.get(name).ok_or(FsError::NotFound)?;
        match (&self.node(id).content, want_dir) {
            (Content::Dir(d), true) if !d.is_empty() => return Err(FsError::NotEmpty),
            (Content::Dir(_), false) => return Err(FsError::IsADirectory),
            (Content::Dir(_), true) => {}
            (_, true) => return Err(FsError::NotADirectory),
            (_, false) => {}
        }
        self.dir_mut(parent)?.remove(name);
        self.node_mut(id).links -= 1;
        self.free_if_unused(id);
        Ok(())
    }

    /// Removes a file or symbolic link.
    pub fn unlink(&mut self, path: &str) -> Result<(), FsError> {
        self.detach(path, false)
    }

    /// Removes an empty directory.
    pub fn rmdir(&mut self, path: &str) -> Result<(), FsError> {
        if path.trim_end_matches('/').is_empty() {
            return Err(FsError::Invalid);
        }
        self.detach(path, true)
    }

    /// Renames `from` to `to`, replacing a file (or an empty directory) there.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), FsError> {
        let (from_parent, from_name) = self.parent_of(from)?;
        let id = *self.dir(from_parent)?.get(from_name).ok_or(FsError::NotFound)?;
        let (to_parent, to_name) = self.parent_of(to)?;
        let is_dir = matches!(self.node(id).content, Content::Dir(_));
        // A directory cannot move below itself.
        let mut p = to_parent;
        loop {
            if p == id {
                return Err(FsError::Invalid);
            }
            if p == ROOT {
                break;
            }
            p = self.node(p).parent;
        }
        if let Some(&existing) = self.dir(to_parent)?.get(to_name) {
            if existing == id {
                return Ok(());
            }
            let target_is_dir = matches!(self.node(existing).content, Content::Dir(_));
            match (is_dir, target_is_dir) {
                (true, false) => return Err(FsError::NotADirectory),
                (false, true) => return Err(FsError::IsADirectory),
                _ => self.detach(to, target_is_dir)?,
            }
        }
        self.dir_mut(from_parent)?.remove(from_name);
        self.dir_mut(to_parent)?.insert(to_name.to_string(), id);
        self.node_mut(id).parent = to_parent;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpio::{tests::archive, S_IFDIR, S_IFLNK, S_IFREG};
    use alloc::boxed::Box;

    fn mounted() -> Vfs {
        let a = archive(&[
            (".", S_IFDIR | 0o755, b""),
            ("./etc", S_IFDIR | 0o755, b""),
            ("./etc/motd", S_IFREG | 0o644, b"Welcome\n"),
            ("bin/hello", S_IFREG | 0o755, b"\x7fELF"),
            ("bin/hi", S_IFLNK | 0o777, b"hello"),
        ]);
        let mut vfs = Vfs::new();
        assert_eq!(vfs.mount_cpio(Box::leak(a.into_boxed_slice())).unwrap(), 5);
        vfs
    }

    fn names(vfs: &Vfs, path: &str) -> Vec<String> {
        vfs.read_dir(vfs.lookup(path).unwrap()).unwrap().into_iter().map(|e| e.name).collect()
    }

    #[test]
    fn archive_members_appear_under_root_with_implicit_parents() {
        let vfs = mounted();
        assert_eq!(names(&vfs, "/"), ["bin", "etc", "tmp"]);
        let motd = vfs.lookup("/etc/motd").unwrap();
        assert_eq!(vfs.file_data(motd).unwrap(), b"Welcome\n");
        let meta = vfs.metadata(motd);
        assert_eq!((meta.kind, meta.size, meta.mode()), (FileKind::File, 8, 0o100644));
        assert_eq!(vfs.metadata(vfs.lookup("/bin").unwrap()).kind, FileKind::Directory);
    }

    #[test]
    fn symlinks_resolve_relative_to_their_directory() {
        let mut vfs = mounted();
        assert_eq!(vfs.lookup("/bin/hi").unwrap(), vfs.lookup("/bin/hello").unwrap());
        assert_eq!(vfs.metadata(vfs.lookup_nofollow("/bin/hi").unwrap()).kind, FileKind::Symlink);
        assert_eq!(vfs.readlink("/bin/hi").unwrap(), "hello");
        vfs.symlink("/tmp/loop", "/tmp/loop").unwrap();
        assert_eq!(vfs.lookup("/tmp/loop"), Err(FsError::Loop));
    }

    #[test]
    fn writes_copy_archive_data_and_extend_with_zeros() {
        let mut vfs = mounted();
        let motd = vfs.lookup("/etc/motd").unwrap();
        vfs.write_at(motd, 10, b"!").unwrap();
        assert_eq!(vfs.file_data(motd).unwrap(), b"Welcome\n\0\0!");
        let mut buf = [0u8; 4];
        assert_eq!(vfs.read_at(motd, 9, &mut buf).unwrap(), 2);
        assert_eq!(vfs.read_at(motd, 100, &mut buf).unwrap(), 0);
        vfs.truncate(motd, 3).unwrap();
        assert_eq!(vfs.file_data(motd).unwrap(), b"Wel");
    }

    #[test]
    fn tmp_files_create_rename_unlink() {
        let mut vfs = mounted();
        let f = vfs.create_file("/tmp/a", 0o644, true).unwrap();
        assert_eq!(vfs.create_file("/tmp/a", 0o644, true), Err(FsError::AlreadyExists));
        assert_eq!(vfs.create_file("/tmp/a", 0o644, false), Ok(f));
        assert_eq!(vfs.create_file("/nodir/a", 0o644, false), Err(FsError::NotFound));
        assert_eq!(vfs.create_file("/etc/motd/x", 0o644, false), Err(FsError::NotADirectory));
        vfs.mkdir("/tmp/d", 0o755).unwrap();
        vfs.rename("/tmp/a", "/tmp/d/b").unwrap();
        assert_eq!(names(&vfs, "/tmp/d"), ["b"]);
        assert_eq!(vfs.rename("/tmp/d", "/tmp/d/e"), Err(FsError::Invalid));
        assert_eq!(vfs.rmdir("/tmp/d"), Err(FsError::NotEmpty));
        assert_eq!(vfs.unlink("/tmp/d"), Err(FsError::IsADirectory));
        vfs.unlink("/tmp/d/b").unwrap();
        vfs.rmdir("/tmp/d").unwrap();
        assert_eq!(names(&vfs, "/tmp"), Vec::<String>::new());
        assert_eq!(vfs.rmdir("/"), Err(FsError::Invalid));
    }

    #[test]
    fn unlinked_open_file_lives_until_closed() {
        let mut vfs = mounted();
        let f = vfs.create_file("/tmp/x", 0o600, false).unwrap();
        vfs.write_at(f, 0, b"data").unwrap();
        vfs.open(f);
        vfs.unlink("/tmp/x").unwrap();
        assert_eq!(vfs.lookup("/tmp/x"), Err(FsError::NotFound));
        assert_eq!(vfs.file_data(f).unwrap(), b"data");
        vfs.close(f);
        assert!(!vfs.nodes.contains_key(&f));
    }

    #[test]
    fn dotdot_walks_up_and_stops_at_root() {
        let vfs = mounted();
        assert_eq!(vfs.lookup("/etc/../bin/./hello").unwrap(), vfs.lookup("/bin/hello").unwrap());
        assert_eq!(vfs.lookup("/../..").unwrap(), ROOT);
        assert_eq!(vfs.parent(vfs.lookup("/etc").unwrap()), ROOT);
    }
}
