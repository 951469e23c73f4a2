//! The in-memory file tree.
//!
//! Nodes live in a map keyed by [`NodeId`] (also their inode number); ids are
//! never reused, so a handle to a removed file cannot reach a newer one. A
//! node is freed when it has no directory entry and no open handle
//! ([`Vfs::open`]/[`Vfs::close`]), as in POSIX.

use crate::cpio::{self, CpioError};
use crate::pages::{HeapPage, Page, PagedData, PAGE_SIZE};
use crate::path::split_last;
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// A node's identity (and inode number).
pub type NodeId = u32;

const ROOT: NodeId = 1;
/// `st_mode` file type of a socket.
pub const S_IFSOCK: u32 = 0o140000;
const MAX_SYMLINK_DEPTH: u32 = 8;
const MAX_NAME: usize = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Directory,
    File,
    Symlink,
    /// A socket node (`bind` of an AF_UNIX socket to a path).
    Socket,
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
    /// The tree's size or node limit is reached, or memory is exhausted.
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
            FileKind::Socket => S_IFSOCK,
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

enum Data<P> {
    /// Bytes of the initramfs, shared until the first write.
    Borrowed(&'static [u8]),
    /// Written data, in pages of the tree's [`PageStore`].
    Paged(PagedData<P>),
}

impl<P> Data<P> {
    fn len(&self) -> u64 {
        match self {
            Data::Borrowed(b) => b.len() as u64,
            Data::Paged(p) => p.len,
        }
    }
}

enum Content<P> {
    Dir(BTreeMap<String, NodeId>),
    File(Data<P>),
    Symlink(String),
    /// A socket node: a name for an AF_UNIX socket; its state is the kernel's.
    Socket,
}

struct Node<P> {
    content: Content<P>,
    permissions: u32,
    mtime: u64,
    /// The directory holding this node (itself for `/`).
    parent: NodeId,
    /// Directory entries naming this node (0 once unlinked).
    links: u32,
    opens: u32,
}

/// How much the tree may hold, like tmpfs's `size=` and `nr_inodes=`:
/// beyond them creating a node or writing file data fails with ENOSPC
/// instead of exhausting the kernel's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Pages of file data (a symbolic link counts as one page).
    pub max_pages: usize,
    /// Directories, files and links, `/` included.
    pub max_nodes: usize,
}

impl Limits {
    /// No limit but the memory pages come from.
    pub const UNLIMITED: Limits = Limits { max_pages: usize::MAX, max_nodes: usize::MAX };
}

/// The file tree.
pub struct Vfs<P: Page = HeapPage> {
    nodes: BTreeMap<NodeId, Node<P>>,
    next_id: NodeId,
    limits: Limits,
    /// Pages charged against `limits.max_pages`.
    pages_used: usize,
}

impl Default for Vfs<HeapPage> {
    fn default() -> Self {
        Self::new()
    }
}

impl Vfs<HeapPage> {
    /// An empty tree: `/` and a world-writable `/tmp`, file data in the heap
    /// and no limits (host tests).
    pub fn new() -> Self {
        Self::with_limits(Limits::UNLIMITED)
    }
}

impl<P: Page> Vfs<P> {
    /// An empty tree whose file data lives in pages of type `P`, within `limits`.
    pub fn with_limits(limits: Limits) -> Self {
        let mut vfs = Self { nodes: BTreeMap::new(), next_id: ROOT + 1, limits, pages_used: 0 };
        vfs.nodes.insert(
            ROOT,
            Node { content: Content::Dir(BTreeMap::new()), permissions: 0o755, mtime: 0, parent: ROOT, links: 1, opens: 0 },
        );
        vfs.mkdir("/tmp", 0o1777).expect("fresh tree has no /tmp");
        vfs
    }

    /// What the tree holds against its limits, for statfs: (limits, pages
    /// of file data used, nodes used).
    pub fn usage(&self) -> (Limits, usize, usize) {
        (self.limits, self.pages_used, self.nodes.len())
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

    fn node(&self, id: NodeId) -> &Node<P> {
        self.nodes.get(&id).expect("NodeId of a freed node")
    }

    fn node_mut(&mut self, id: NodeId) -> &mut Node<P> {
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

    /// Finds the node at an absolute path, following symbolic links. A
    /// trailing slash asks for a directory (`file/` is NotADirectory).
    pub fn lookup(&self, path: &str) -> Result<NodeId, FsError> {
        let id = self.resolve_from(ROOT, path, true, &mut 0)?;
        self.check_trailing_slash(path, id)
    }

    /// Like [`lookup`](Self::lookup) but a final symbolic link is not
    /// followed (unless a trailing slash asks for its directory).
    pub fn lookup_nofollow(&self, path: &str) -> Result<NodeId, FsError> {
        if path.len() > 1 && path.ends_with('/') {
            return self.lookup(path);
        }
        self.resolve_from(ROOT, path, false, &mut 0)
    }

    fn check_trailing_slash(&self, path: &str, id: NodeId) -> Result<NodeId, FsError> {
        if path.ends_with('/') && !matches!(self.node(id).content, Content::Dir(_)) {
            return Err(FsError::NotADirectory);
        }
        Ok(id)
    }

    /// The canonical absolute path of a node still linked in the tree (no
    /// `.`, `..` or symbolic links), e.g. for `getcwd`.
    pub fn path_of(&self, id: NodeId) -> Result<String, FsError> {
        let mut names: Vec<&str> = Vec::new();
        let mut cur = id;
        while cur != ROOT {
            let node = self.nodes.get(&cur).ok_or(FsError::NotFound)?;
            // A node open after its last name went keeps the id of its old
            // directory, which may be freed since (rmdir): no path, not a
            // panic (the long fuzz run's seed 2 mmap'ed such a file).
            let parent = match self.nodes.get(&node.parent) {
                Some(Node { content: Content::Dir(d), .. }) => d,
                _ => return Err(FsError::NotFound),
            };
            let name = parent.iter().find(|(_, &child)| child == cur).map(|(n, _)| n.as_str());
            names.push(name.ok_or(FsError::NotFound)?);
            cur = node.parent;
        }
        let mut out = String::new();
        for name in names.iter().rev() {
            out.push('/');
            out.push_str(name);
        }
        if out.is_empty() {
            out.push('/');
        }
        Ok(out)
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

    fn insert(&mut self, path: &str, content: Content<P>, permissions: u32) -> Result<NodeId, FsError> {
        let (parent, name) = self.parent_of(path)?;
        if self.dir(parent)?.contains_key(name) {
            return Err(FsError::AlreadyExists);
        }
        let charge = usize::from(matches!(content, Content::Symlink(_)));
        if self.nodes.len() >= self.limits.max_nodes || self.pages_used + charge > self.limits.max_pages {
            return Err(FsError::NoSpace);
        }
        self.pages_used += charge;
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
            Err(FsError::NotFound) if path.ends_with('/') => Err(FsError::IsADirectory),
            Err(FsError::NotFound) => self.insert(path, Content::File(Data::Paged(PagedData::default())), permissions & 0o7777),
            Err(e) => Err(e),
        }
    }

    /// Creates a socket node at `path` (an existing name is `AlreadyExists`,
    /// which `bind` reports as EADDRINUSE).
    pub fn mksock(&mut self, path: &str, permissions: u32) -> Result<NodeId, FsError> {
        if path.ends_with('/') {
            return Err(FsError::NotFound);
        }
        self.insert(path, Content::Socket, permissions & 0o7777)
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
            Content::File(data) => (FileKind::File, data.len()),
            Content::Symlink(t) => (FileKind::Symlink, t.len() as u64),
            Content::Socket => (FileKind::Socket, 0),
        };
        let nlink = if kind == FileKind::Directory { 2 + self.subdir_count(id) } else { node.links };
        Metadata { ino: id, kind, permissions: node.permissions, size, nlink, mtime: node.mtime }
    }

    /// The length of regular file `id`; `None` once the node is gone (a
    /// mapping outlives the file's last link and open) or is no file.
    pub fn file_len(&self, id: NodeId) -> Option<u64> {
        match &self.nodes.get(&id)?.content {
            Content::File(data) => Some(data.len()),
            _ => None,
        }
    }

    fn subdir_count(&self, id: NodeId) -> u32 {
        self.dir(id).map_or(0, |d| d.values().filter(|c| matches!(self.node(**c).content, Content::Dir(_))).count() as u32)
    }

    /// The directory holding `id` (`/` for `/`).
    pub fn parent(&self, id: NodeId) -> NodeId {
        self.node(id).parent
    }

    fn data(&self, id: NodeId) -> Result<&Data<P>, FsError> {
        match &self.node(id).content {
            Content::File(d) => Ok(d),
            Content::Dir(_) => Err(FsError::IsADirectory),
            Content::Symlink(_) | Content::Socket => Err(FsError::Invalid),
        }
    }

    /// The whole contents of a regular file of at most `max` bytes (a small
    /// file the kernel itself reads, like `/etc/motd`); NoSpace if larger or
    /// the heap cannot hold it.
    pub fn read_all(&self, id: NodeId, max: usize) -> Result<Vec<u8>, FsError> {
        let len = self.data(id)?.len();
        if len > max as u64 {
            return Err(FsError::NoSpace);
        }
        let mut out = Vec::new();
        out.try_reserve_exact(len as usize).map_err(|_| FsError::NoSpace)?;
        out.resize(len as usize, 0);
        let n = self.read_at(id, 0, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    /// Reads from `offset`; returns the number of bytes read (0 at the end).
    pub fn read_at(&self, id: NodeId, offset: u64, buf: &mut [u8]) -> Result<usize, FsError> {
        let data = self.data(id)?;
        let start = offset.min(data.len());
        let n = (buf.len() as u64).min(data.len() - start) as usize;
        match data {
            Data::Borrowed(b) => buf[..n].copy_from_slice(&b[start as usize..start as usize + n]),
            Data::Paged(p) => {
                let mut done = 0;
                while done < n {
                    let at = start + done as u64;
                    let (index, off) = ((at / PAGE_SIZE as u64) as u32, (at % PAGE_SIZE as u64) as usize);
                    let chunk = (PAGE_SIZE - off).min(n - done);
                    match p.pages.get(&index) {
                        Some(page) => page.read(off, &mut buf[done..done + chunk]),
                        None => buf[done..done + chunk].fill(0),
                    }
                    done += chunk;
                }
            }
        }
        Ok(n)
    }

    /// The paged data of file `id`, copying the first `keep` bytes of
    /// initramfs data into pages first (copy on write). On failure nothing
    /// changes.
    fn paged(&mut self, id: NodeId, keep: u64) -> Result<&mut PagedData<P>, FsError> {
        let borrowed = match &self.node(id).content {
            Content::File(Data::Borrowed(b)) => Some(*b),
            Content::File(Data::Paged(_)) => None,
            Content::Dir(_) => return Err(FsError::IsADirectory),
            Content::Symlink(_) | Content::Socket => return Err(FsError::Invalid),
        };
        if let Some(bytes) = borrowed {
            let bytes = &bytes[..(keep.min(bytes.len() as u64)) as usize];
            let mut copy = PagedData { len: bytes.len() as u64, pages: BTreeMap::new() };
            for (index, chunk) in bytes.chunks(PAGE_SIZE).enumerate() {
                match self.new_page() {
                    Ok(mut page) => {
                        page.write(0, chunk);
                        copy.pages.insert(index as u32, page);
                    }
                    Err(e) => {
                        self.free_pages(core::mem::take(&mut copy.pages));
                        return Err(e);
                    }
                }
            }
            self.node_mut(id).content = Content::File(Data::Paged(copy));
        }
        match &mut self.node_mut(id).content {
            Content::File(Data::Paged(p)) => Ok(p),
            _ => unreachable!("made paged above"),
        }
    }

    /// A zeroed page charged against the size limit.
    fn new_page(&mut self) -> Result<P, FsError> {
        if self.pages_used >= self.limits.max_pages {
            return Err(FsError::NoSpace);
        }
        let page = P::zeroed().ok_or(FsError::NoSpace)?;
        self.pages_used += 1;
        Ok(page)
    }

    /// Drops `pages` (which frees them) and uncharges them.
    fn free_pages(&mut self, pages: BTreeMap<u32, P>) {
        self.pages_used -= pages.len();
        drop(pages);
    }

    /// The page of file `id` that holds bytes `index * PAGE_SIZE..`, made
    /// (zeroed, charged against the size limit) where the file has a hole:
    /// a shared mapping maps the file's own pages. The file's length does
    /// not change.
    pub fn page_mut(&mut self, id: NodeId, index: u32) -> Result<&mut P, FsError> {
        let keep = self.data(id)?.len();
        if !self.paged(id, keep)?.pages.contains_key(&index) {
            let page = self.new_page()?;
            self.paged(id, keep)?.pages.insert(index, page);
        }
        self.paged(id, keep)?.pages.get_mut(&index).ok_or(FsError::NoSpace)
    }

    /// Writes at `offset`, leaving a hole (zeros) before it; returns the
    /// number of bytes written: fewer than `data.len()` when the size limit
    /// or memory runs out part way (NoSpace if not one byte fits).
    pub fn write_at(&mut self, id: NodeId, offset: u64, data: &[u8]) -> Result<usize, FsError> {
        let end = offset.checked_add(data.len() as u64).ok_or(FsError::Invalid)?;
        if end / PAGE_SIZE as u64 > u32::MAX as u64 {
            return Err(FsError::NoSpace);
        }
        let keep = self.data(id)?.len();
        self.paged(id, keep)?;
        let mut done = 0usize;
        let mut error = None;
        while done < data.len() {
            let at = offset + done as u64;
            let (index, off) = ((at / PAGE_SIZE as u64) as u32, (at % PAGE_SIZE as u64) as usize);
            let chunk = (PAGE_SIZE - off).min(data.len() - done);
            if !self.paged(id, keep)?.pages.contains_key(&index) {
                match self.new_page() {
                    Ok(page) => {
                        self.paged(id, keep)?.pages.insert(index, page);
                    }
                    Err(e) => {
                        error = Some(e);
                        break;
                    }
                }
            }
            if let Some(page) = self.paged(id, keep)?.pages.get_mut(&index) {
                page.write(off, &data[done..done + chunk]);
            }
            done += chunk;
        }
        let file = self.paged(id, keep)?;
        file.len = file.len.max(offset + done as u64);
        match error {
            Some(e) if done == 0 && !data.is_empty() => Err(e),
            _ => Ok(done),
        }
    }

    /// Sets a file's length (cutting, or extending with a hole of zeros).
    pub fn truncate(&mut self, id: NodeId, len: u64) -> Result<(), FsError> {
        if len / PAGE_SIZE as u64 > u32::MAX as u64 {
            return Err(FsError::NoSpace);
        }
        let old_len = self.paged(id, len)?.len;
        // Pages wholly past the end go; the tail of the last one is zeroed
        // so a later extension reads zeros there.
        let first_gone = len.div_ceil(PAGE_SIZE as u64);
        loop {
            let file = self.paged(id, len)?;
            let page = match file.pages.last_key_value() {
                Some((&index, _)) if index as u64 >= first_gone => file.pages.pop_last().map(|(_, page)| page),
                _ => None,
            };
            match page {
                Some(page) => {
                    drop(page);
                    self.pages_used -= 1;
                }
                None => break,
            }
        }
        let tail = (len % PAGE_SIZE as u64) as usize;
        let file = self.paged(id, len)?;
        file.len = len;
        if tail != 0 && len < old_len {
            if let Some(page) = file.pages.get_mut(&((len / PAGE_SIZE as u64) as u32)) {
                const ZEROS: [u8; PAGE_SIZE] = [0; PAGE_SIZE];
                page.write(tail, &ZEROS[tail..]);
            }
        }
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
                if let Some(node) = self.nodes.remove(&id) {
                    match node.content {
                        Content::File(Data::Paged(data)) => self.free_pages(data.pages),
                        Content::Symlink(_) => self.pages_used -= 1,
                        _ => {}
                    }
                }
            }
        }
    }

    /// Pages of file data in use (symbolic links count one each) and the
    /// limit, for `free` and the tests.
    pub fn pages(&self) -> (usize, usize) {
        (self.pages_used, self.limits.max_pages)
    }

    fn detach(&mut self, path: &str, want_dir: bool) -> Result<(), FsError> {
        let (parent, name) = self.parent_of(path)?;
        let id = *self.dir(parent)?.get(name).ok_or(FsError::NotFound)?;
        self.check_trailing_slash(path, id)?;
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
        self.check_trailing_slash(from, id)?;
        let (to_parent, to_name) = self.parent_of(to)?;
        let is_dir = matches!(self.node(id).content, Content::Dir(_));
        if to.ends_with('/') && !is_dir {
            return Err(FsError::NotADirectory);
        }
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
        assert_eq!(vfs.read_all(motd, 100).unwrap(), b"Welcome\n");
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
    fn socket_nodes_have_a_name_and_no_data() {
        let mut vfs = mounted();
        let id = vfs.mksock("/tmp/sock", 0o755).unwrap();
        assert_eq!(vfs.mksock("/tmp/sock", 0o755), Err(FsError::AlreadyExists));
        assert_eq!(vfs.mksock("/etc/motd", 0o755), Err(FsError::AlreadyExists));
        assert_eq!(vfs.mksock("/nowhere/sock", 0o755), Err(FsError::NotFound));
        let meta = vfs.metadata(id);
        assert_eq!((meta.kind, meta.size, meta.mode()), (FileKind::Socket, 0, S_IFSOCK | 0o755));
        assert_eq!(vfs.read_at(id, 0, &mut [0u8; 4]), Err(FsError::Invalid));
        vfs.unlink("/tmp/sock").unwrap();
        assert_eq!(vfs.lookup("/tmp/sock"), Err(FsError::NotFound));
    }

    #[test]
    fn writes_copy_archive_data_and_extend_with_zeros() {
        let mut vfs = mounted();
        let motd = vfs.lookup("/etc/motd").unwrap();
        vfs.write_at(motd, 10, b"!").unwrap();
        assert_eq!(vfs.read_all(motd, 100).unwrap(), b"Welcome\n\0\0!");
        let mut buf = [0u8; 4];
        assert_eq!(vfs.read_at(motd, 9, &mut buf).unwrap(), 2);
        assert_eq!(vfs.read_at(motd, 100, &mut buf).unwrap(), 0);
        vfs.truncate(motd, 3).unwrap();
        assert_eq!(vfs.read_all(motd, 100).unwrap(), b"Wel");
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
    fn an_unlinked_open_file_in_a_removed_directory_has_no_path() {
        let mut vfs = mounted();
        vfs.mkdir("/tmp/d", 0o755).unwrap();
        let f = vfs.create_file("/tmp/d/x", 0o600, false).unwrap();
        vfs.open(f);
        vfs.unlink("/tmp/d/x").unwrap();
        vfs.rmdir("/tmp/d").unwrap();
        assert_eq!(vfs.path_of(f), Err(FsError::NotFound));
        assert_eq!(vfs.metadata(f).kind, FileKind::File);
        vfs.close(f);
    }

    #[test]
    fn unlinked_open_file_lives_until_closed() {
        let mut vfs = mounted();
        let f = vfs.create_file("/tmp/x", 0o600, false).unwrap();
        vfs.write_at(f, 0, b"data").unwrap();
        vfs.open(f);
        vfs.unlink("/tmp/x").unwrap();
        assert_eq!(vfs.lookup("/tmp/x"), Err(FsError::NotFound));
        assert_eq!(vfs.read_all(f, 100).unwrap(), b"data");
        vfs.close(f);
        assert!(!vfs.nodes.contains_key(&f));
    }

    fn limited(max_pages: usize, max_nodes: usize) -> Vfs {
        Vfs::with_limits(Limits { max_pages, max_nodes })
    }

    #[test]
    fn file_data_fills_pages_up_to_the_limit_then_short_write_then_enospc() {
        let mut vfs = limited(3, 100);
        let f = vfs.create_file("/tmp/f", 0o644, false).unwrap();
        let block = [7u8; 5000];
        assert_eq!(vfs.write_at(f, 0, &block), Ok(5000));
        assert_eq!(vfs.pages(), (2, 3));
        assert_eq!(vfs.write_at(f, 5000, &[8u8; 8000]), Ok(3 * 4096 - 5000), "a short write up to the limit");
        assert_eq!(vfs.write_at(f, 3 * 4096, b"x"), Err(FsError::NoSpace));
        assert_eq!(vfs.metadata(f).size, 3 * 4096);
        // Rewriting pages that exist needs no new ones.
        assert_eq!(vfs.write_at(f, 0, b"again"), Ok(5));
        vfs.unlink("/tmp/f").unwrap();
        assert_eq!(vfs.pages(), (0, 3), "pages come back when the file goes");
        let g = vfs.create_file("/tmp/g", 0o644, false).unwrap();
        assert_eq!(vfs.write_at(g, 0, &[1u8; 3 * 4096]), Ok(3 * 4096));
    }

    #[test]
    fn holes_read_as_zero_and_cost_no_pages() {
        let mut vfs = limited(4, 100);
        let f = vfs.create_file("/tmp/sparse", 0o644, false).unwrap();
        assert_eq!(vfs.write_at(f, 1 << 30, b"end"), Ok(3));
        assert_eq!(vfs.pages().0, 1);
        assert_eq!(vfs.metadata(f).size, (1 << 30) + 3);
        let mut buf = [9u8; 8];
        assert_eq!(vfs.read_at(f, (1 << 30) - 5, &mut buf), Ok(8));
        assert_eq!(&buf, b"\0\0\0\0\0end");
        assert_eq!(vfs.write_at(f, u64::MAX - 1, b"xx"), Err(FsError::Invalid));
        assert_eq!(vfs.write_at(f, 1 << 50, b"x"), Err(FsError::NoSpace));
    }

    #[test]
    fn truncate_frees_pages_and_zeroes_the_cut_tail() {
        let mut vfs = limited(10, 100);
        let f = vfs.create_file("/tmp/t", 0o644, false).unwrap();
        vfs.write_at(f, 0, &[5u8; 3 * 4096]).unwrap();
        vfs.truncate(f, 10).unwrap();
        assert_eq!(vfs.pages().0, 1);
        vfs.truncate(f, 4096).unwrap();
        let mut buf = [1u8; 4];
        assert_eq!(vfs.read_at(f, 10, &mut buf), Ok(4));
        assert_eq!(buf, [0; 4], "bytes cut off come back as zeros");
        assert_eq!(vfs.read_all(f, 1 << 20).unwrap()[..10], [5u8; 10]);
        assert_eq!(vfs.read_all(f, 100), Err(FsError::NoSpace), "larger than asked for");
    }

    #[test]
    fn initramfs_files_are_copied_on_write_within_the_limit() {
        let a = archive(&[("big", S_IFREG | 0o644, &[3u8; 9000])]);
        let mut vfs = limited(2, 100);
        vfs.mount_cpio(Box::leak(a.into_boxed_slice())).unwrap();
        let big = vfs.lookup("/big").unwrap();
        assert_eq!(vfs.write_at(big, 0, b"x"), Err(FsError::NoSpace), "3 pages to copy, limit 2");
        assert_eq!(vfs.read_all(big, 1 << 20).unwrap(), [3u8; 9000], "unchanged after the failed copy");
        assert_eq!(vfs.pages().0, 0);
        // O_TRUNC of a large initramfs file copies nothing.
        vfs.truncate(big, 0).unwrap();
        assert_eq!((vfs.metadata(big).size, vfs.pages().0), (0, 0));
    }

    #[test]
    fn the_node_limit_is_enospc() {
        let mut vfs = limited(100, 4);
        vfs.create_file("/tmp/a", 0o644, false).unwrap();
        vfs.mkdir("/tmp/d", 0o755).unwrap();
        assert_eq!(vfs.create_file("/tmp/b", 0o644, false), Err(FsError::NoSpace));
        assert_eq!(vfs.symlink("/x", "/tmp/l"), Err(FsError::NoSpace));
        vfs.unlink("/tmp/a").unwrap();
        vfs.symlink("/x", "/tmp/l").unwrap();
        assert_eq!(vfs.pages().0, 1, "a link costs a page");
        vfs.unlink("/tmp/l").unwrap();
        assert_eq!(vfs.pages().0, 0);
    }

    #[test]
    fn a_trailing_slash_wants_a_directory() {
        let mut vfs = mounted();
        assert_eq!(vfs.lookup("/bin/hello/"), Err(FsError::NotADirectory));
        assert_eq!(vfs.lookup("/bin/"), vfs.lookup("/bin"));
        assert_eq!(vfs.create_file("/tmp/new/", 0o644, false), Err(FsError::IsADirectory));
        assert_eq!(vfs.unlink("/bin/hello/"), Err(FsError::NotADirectory));
        assert_eq!(vfs.rename("/bin/hello/", "/tmp/x"), Err(FsError::NotADirectory));
        assert_eq!(vfs.rename("/bin/hello", "/tmp/x/"), Err(FsError::NotADirectory));
        assert!(vfs.lookup("/bin/hello").is_ok());
    }

    #[test]
    fn dotdot_is_resolved_in_the_tree_not_lexically() {
        let mut vfs = mounted();
        vfs.mkdir("/tmp/a", 0o755).unwrap();
        vfs.mkdir("/tmp/a/b", 0o755).unwrap();
        vfs.symlink("/etc", "/tmp/a/link").unwrap();
        // ".." after a link is the parent of its target.
        assert_eq!(vfs.lookup("/tmp/a/link/.."), Ok(ROOT));
        assert_eq!(vfs.lookup("/bin/hello/.."), Err(FsError::NotADirectory));
        assert_eq!(vfs.lookup("/tmp/a/nothing/.."), Err(FsError::NotFound));
        // Renaming "b/.." must not rename /tmp/a.
        assert_eq!(vfs.rename("/tmp/a/b/..", "/tmp/c"), Err(FsError::Invalid));
        assert!(vfs.lookup("/tmp/a/b").is_ok());
        assert_eq!(vfs.path_of(vfs.lookup("/tmp/a/link/../etc/./").unwrap()).unwrap(), "/etc");
        assert_eq!(vfs.path_of(ROOT).unwrap(), "/");
    }

    #[test]
    fn dotdot_walks_up_and_stops_at_root() {
        let vfs = mounted();
        assert_eq!(vfs.lookup("/etc/../bin/./hello").unwrap(), vfs.lookup("/bin/hello").unwrap());
        assert_eq!(vfs.lookup("/../..").unwrap(), ROOT);
        assert_eq!(vfs.parent(vfs.lookup("/etc").unwrap()), ROOT);
    }
}
