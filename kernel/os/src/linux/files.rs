//! A process's descriptor table. Descriptors point at open-file slots with a
//! reference count, so `dup` and friends share the offset and status flags
//! as on Linux, while `FD_CLOEXEC` stays per descriptor.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use embox_abi::Errno;
use embox_fs::NodeId;

use crate::hal::sync::IrqMutex;

/// Most descriptors a process may have (RLIMIT_NOFILE).
pub const MAX_FDS: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// The serial console (a tty: TCGETS works, lseek and fsync succeed).
    Console,
    /// A regular file of the VFS.
    File(NodeId),
    /// A directory opened for getdents64; the offset counts entries.
    Dir(NodeId),
    /// The read end of a pipe ([`super::pipe`]).
    PipeRead(u32),
    /// The write end of a pipe.
    PipeWrite(u32),
    /// A descriptor of LKL's (`x86/lkl-qemu`): file, directory, pipe or
    /// socket; LKL keeps its offset and flags (`syscall/forward.rs`).
    Lkl(i32),
    /// A socket of the kernel's TCP/IP (`crate::net::socket`).
    Socket(crate::net::socket::SockId),
    /// An AF_UNIX socket (`crate::net::unix`).
    Unix(crate::net::unix::UnixId),
    /// `/dev/null`, `/dev/zero`, ... ([`super::devproc`]).
    Device(super::devproc::Device),
    /// A generated `/proc` file's snapshot ([`super::devproc`]).
    Snapshot(u32),
    /// A generated `/proc` directory (`/proc/self/fd`): its snapshot holds
    /// one entry name per line ([`super::devproc`]).
    ProcDir(u32),
    /// A signalfd with its mask: reads the reader's pending signals of it
    /// (`syscall/signalfd.rs`).
    SignalFd(u64),
}

#[derive(Clone, Debug)]
pub struct OpenFile {
    pub kind: FileKind,
    /// Byte offset (files) or entry index (directories).
    pub offset: u64,
    /// Access mode and status flags (`O_APPEND`, `O_NONBLOCK`, ...).
    pub flags: u32,
    /// The path it was opened by, for fd-relative calls and messages.
    pub path: String,
}

#[derive(Clone)]
struct Slot {
    file: OpenFile,
    refs: u32,
}

#[derive(Clone, Copy)]
struct Fd {
    slot: usize,
    cloexec: bool,
}

#[derive(Default, Clone)]
pub struct FdTable {
    fds: Vec<Option<Fd>>,
    slots: Vec<Option<Slot>>,
}

impl FdTable {
    /// Descriptors 0, 1 and 2 on the console, as a shell would leave them.
    pub fn with_console() -> Self {
        let mut t = FdTable::default();
        let console = OpenFile { kind: FileKind::Console, offset: 0, flags: embox_abi::consts::open::O_RDWR, path: "/dev/console".into() };
        let fd = t.open(console, false).expect("empty table has room");
        t.dup_to(fd, 1, false).expect("fd 1");
        t.dup_to(fd, 2, false).expect("fd 2");
        t
    }

    fn lowest_free(&self, from: usize) -> Result<usize, Errno> {
        (from..MAX_FDS).find(|&i| self.fds.get(i).is_none_or(Option::is_none)).ok_or(Errno::EMFILE)
    }

    fn set(&mut self, fd: usize, entry: Fd) {
        if self.fds.len() <= fd {
            self.fds.resize(fd + 1, None);
        }
        self.fds[fd] = Some(entry);
    }

    /// Installs a new open file at the lowest free descriptor.
    pub fn open(&mut self, file: OpenFile, cloexec: bool) -> Result<u32, Errno> {
        let fd = self.lowest_free(0)?;
        let slot = match self.slots.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        self.slots[slot] = Some(Slot { file, refs: 1 });
        self.set(fd, Fd { slot, cloexec });
        Ok(fd as u32)
    }

    fn entry(&self, fd: u32) -> Result<Fd, Errno> {
        self.fds.get(fd as usize).copied().flatten().ok_or(Errno::EBADF)
    }

    pub fn get(&self, fd: u32) -> Result<&OpenFile, Errno> {
        let e = self.entry(fd)?;
        Ok(&self.slots[e.slot].as_ref().expect("descriptor points at a live slot").file)
    }

    /// The open descriptors, lowest first (`/proc/self/fd`).
    pub fn open_fds(&self) -> Vec<u32> {
        (0..self.fds.len() as u32).filter(|&fd| self.entry(fd).is_ok()).collect()
    }

    pub fn get_mut(&mut self, fd: u32) -> Result<&mut OpenFile, Errno> {
        let e = self.entry(fd)?;
        Ok(&mut self.slots[e.slot].as_mut().expect("descriptor points at a live slot").file)
    }

    /// Closes `fd`; returns the open file when this was its last descriptor
    /// (the caller then releases the VFS node).
    pub fn close(&mut self, fd: u32) -> Result<Option<OpenFile>, Errno> {
        let e = self.entry(fd)?;
        self.fds[fd as usize] = None;
        let slot = self.slots[e.slot].as_mut().expect("live slot");
        slot.refs -= 1;
        if slot.refs == 0 {
            return Ok(self.slots[e.slot].take().map(|s| s.file));
        }
        Ok(None)
    }

    /// `dup`/`F_DUPFD`: a new descriptor >= `min` for the same open file.
    pub fn dup_from(&mut self, fd: u32, min: u32, cloexec: bool) -> Result<u32, Errno> {
        let e = self.entry(fd)?;
        let new = self.lowest_free(min as usize)?;
        self.slots[e.slot].as_mut().expect("live slot").refs += 1;
        self.set(new, Fd { slot: e.slot, cloexec });
        Ok(new as u32)
    }

    /// `dup2`/`dup3`: makes `new` refer to `fd`'s open file, closing what
    /// `new` referred to. Returns the file that lost its last descriptor.
    pub fn dup_to(&mut self, fd: u32, new: u32, cloexec: bool) -> Result<Option<OpenFile>, Errno> {
        let e = self.entry(fd)?;
        if new as usize >= MAX_FDS {
            return Err(Errno::EBADF);
        }
        if fd == new {
            return Ok(None);
        }
        let released = if self.entry(new).is_ok() { self.close(new)? } else { None };
        self.slots[e.slot].as_mut().expect("live slot").refs += 1;
        self.set(new as usize, Fd { slot: e.slot, cloexec });
        Ok(released)
    }

    pub fn cloexec(&self, fd: u32) -> Result<bool, Errno> {
        Ok(self.entry(fd)?.cloexec)
    }

    pub fn set_cloexec(&mut self, fd: u32, on: bool) -> Result<(), Errno> {
        let e = self.entry(fd)?;
        self.set(fd as usize, Fd { cloexec: on, ..e });
        Ok(())
    }

    /// The table of a forked child: the same descriptors and flags; each
    /// open file of the file tree is opened once more (the child closes it
    /// on its own).
    /// (Offsets are copied, not shared, until open files are shared objects.)
    pub fn fork(&self) -> FdTable {
        let mut child = self.clone();
        for slot in child.slots.iter_mut().flatten() {
            retain(&mut slot.file);
        }
        child
    }

    /// Closes the descriptors marked close-on-exec (execve); returns the
    /// files whose last descriptor went.
    pub fn close_on_exec(&mut self) -> Vec<OpenFile> {
        let mut released = Vec::new();
        for fd in 0..self.fds.len() as u32 {
            if self.cloexec(fd) == Ok(true) {
                if let Ok(Some(f)) = self.close(fd) {
                    released.push(f);
                }
            }
        }
        released
    }

    /// Closes everything; returns the files whose last descriptor went.
    pub fn close_all(&mut self) -> Vec<OpenFile> {
        let mut released = Vec::new();
        for fd in 0..self.fds.len() as u32 {
            if let Ok(Some(f)) = self.close(fd) {
                released.push(f);
            }
        }
        released
    }
}

/// Takes one more reference on what `file` refers to, for a second open
/// file description of it (a forked table, a descriptor passed over an
/// AF_UNIX socket): each is released on its own.
pub fn retain(file: &mut OpenFile) {
    match file.kind {
        FileKind::File(id) | FileKind::Dir(id) => super::env::with_vfs(|vfs| vfs.open(id)),
        // All processes share LKL's one descriptor table: the copy gets its
        // own LKL descriptor for the same open file, so its close does not
        // close the original's.
        FileKind::Lkl(fd) => file.kind = FileKind::Lkl(crate::syscall::dup_lkl_fd(fd)),
        FileKind::PipeRead(id) => super::pipe::add_ref(id, false),
        FileKind::PipeWrite(id) => super::pipe::add_ref(id, true),
        FileKind::Snapshot(id) | FileKind::ProcDir(id) => super::devproc::add_snapshot_ref(id),
        FileKind::Socket(id) => crate::net::socket::add_ref(id),
        FileKind::Unix(id) => crate::net::unix::add_ref(id),
        FileKind::Console | FileKind::Device(_) | FileKind::SignalFd(_) => {}
    }
}

/// A process's descriptor table as its threads hold it: one table shared by
/// every thread of the group (`clone(CLONE_FILES)`), locked for one
/// operation at a time. When the last thread lets go, every open file is
/// released.
pub struct Files {
    table: Arc<IrqMutex<Owned>>,
}

/// The table behind [`Files`]: releasing its files is its drop.
struct Owned(FdTable);

impl Drop for Owned {
    fn drop(&mut self) {
        for file in self.0.close_all() {
            crate::syscall::release_file(file);
        }
    }
}

impl Files {
    pub fn new(table: FdTable) -> Self {
        Files { table: Arc::new(IrqMutex::new(Owned(table))) }
    }

    /// The same table, for a new thread of the process.
    pub fn share(&self) -> Files {
        Files { table: self.table.clone() }
    }

    /// A forked child's table (see [`FdTable::fork`]).
    pub fn fork(&self) -> Files {
        let child = self.table.lock().0.fork();
        Files::new(child)
    }

    pub fn open(&mut self, file: OpenFile, cloexec: bool) -> Result<u32, Errno> {
        self.table.lock().0.open(file, cloexec)
    }

    /// A copy of the open file of `fd` (its offset as of now).
    pub fn get(&self, fd: u32) -> Result<OpenFile, Errno> {
        self.table.lock().0.get(fd).cloned()
    }

    /// The open descriptors, lowest first.
    pub fn open_fds(&self) -> Vec<u32> {
        self.table.lock().0.open_fds()
    }

    /// What `fd` is, its offset and flags, without copying its path (the
    /// read and write paths: no heap traffic per call).
    pub fn status(&self, fd: u32) -> Result<(FileKind, u64, u32), Errno> {
        self.table.lock().0.get(fd).map(|f| (f.kind, f.offset, f.flags))
    }

    /// What `fd` is, without copying the rest.
    pub fn kind(&self, fd: u32) -> Result<FileKind, Errno> {
        self.table.lock().0.get(fd).map(|f| f.kind)
    }

    /// Runs `f` on the open file of `fd` (to move its offset or change its
    /// flags); `f` must not block.
    pub fn update<R>(&mut self, fd: u32, f: impl FnOnce(&mut OpenFile) -> R) -> Result<R, Errno> {
        let mut table = self.table.lock();
        Ok(f(table.0.get_mut(fd)?))
    }

    pub fn set_offset(&mut self, fd: u32, offset: u64) -> Result<(), Errno> {
        self.update(fd, |f| f.offset = offset)
    }

    pub fn close(&mut self, fd: u32) -> Result<Option<OpenFile>, Errno> {
        self.table.lock().0.close(fd)
    }

    pub fn dup_from(&mut self, fd: u32, min: u32, cloexec: bool) -> Result<u32, Errno> {
        self.table.lock().0.dup_from(fd, min, cloexec)
    }

    pub fn dup_to(&mut self, fd: u32, new: u32, cloexec: bool) -> Result<Option<OpenFile>, Errno> {
        self.table.lock().0.dup_to(fd, new, cloexec)
    }

    pub fn cloexec(&self, fd: u32) -> Result<bool, Errno> {
        self.table.lock().0.cloexec(fd)
    }

    pub fn set_cloexec(&mut self, fd: u32, on: bool) -> Result<(), Errno> {
        self.table.lock().0.set_cloexec(fd, on)
    }

    pub fn close_on_exec(&mut self) -> Vec<OpenFile> {
        self.table.lock().0.close_on_exec()
    }
}
