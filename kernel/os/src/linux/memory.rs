//! A Linux process's address space: the page directory plus the list of
//! areas (program segments, heap, mmap regions, stack) with their rights.
//!
//! Pages of an area are mapped on first touch: a user page fault inside an
//! area, or a kernel copy to or from it (`Mm::frame_for`), maps a
//! zeroed frame. So `brk`, `mmap2` and the 8 MiB stack cost only the pages
//! the program uses. Rights map onto i386 page bits: writable areas get
//! writable user pages, readable/executable ones read-only user pages, and
//! `PROT_NONE` areas supervisor-only pages, which keeps their contents across
//! `mprotect` while any user access faults. (Non-PAE i386 has no execute bit.)

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use embox_abi::Errno;
use embox_elf::Perms;
use embox_hal::memory::{Frame, FrameRef};
use embox_hal::sync::IrqMutex;
pub use embox_uspace::{page_ceil, page_floor, Area, AreaKind, Backing};
use embox_uspace::{AreaError, AreaMap, SharedObject};
use super::env;
use embox_hal::paging::{AddressSpace, Directory, MapError, PageFlags, PAGE_SIZE, USER_END, USER_START};

const PAGE: u32 = PAGE_SIZE as u32;
/// Top of the user stack; one page below the kernel's half stays unmapped.
pub const STACK_TOP: u32 = USER_END as u32 - PAGE;
/// Stack reservation (RLIMIT_STACK).
pub const STACK_SIZE: u32 = 8 << 20;
/// Where a position-independent program's lowest page goes (as Linux i386 without ASLR).
pub const PIE_BASE: u32 = 0x5655_5000;
/// Where a position-independent interpreter (ld-linux.so.2) goes: below
/// the top-down `mmap2` area, so the libraries it maps land above it.
pub const INTERP_BASE: u32 = 0xb7f0_0000;
/// `mmap2` without a hint searches downwards from here.
const MMAP_TOP: u32 = STACK_TOP - STACK_SIZE - 16 * PAGE;
/// Most areas a process may have (Linux's vm.max_map_count is 65530; ours
/// is smaller because the list lives in the kernel heap).
const MAX_AREAS: usize = 4096;
/// Address space kept free above the program break for `brk` to grow into.
const HEAP_GAP: u32 = 64 << 20;

fn errno(e: AreaError) -> Errno {
    match e {
        AreaError::Invalid => Errno::EINVAL,
        AreaError::Exists => Errno::EEXIST,
        AreaError::TooMany | AreaError::NotCovered => Errno::ENOMEM,
    }
}

fn flags_for(perms: Perms) -> PageFlags {
    match (perms.read || perms.write || perms.exec, perms.write) {
        (false, _) => PageFlags::NONE,
        (true, false) => PageFlags::READ,
        (true, true) => PageFlags::READ_WRITE,
    }
}

/// What a page fault in user mode turned out to be.
pub enum FaultResolution {
    /// A page of an area was mapped: resume the program.
    Mapped,
    /// A real access violation: the program gets SIGSEGV.
    Violation,
    /// No frame for the page: the program is killed (SIGKILL, as Linux's OOM killer would).
    OutOfMemory,
    /// A page of a file mapping that lies past the page holding the file's
    /// end: the program gets SIGBUS (BUS_ADRERR), as on Linux.
    PastEndOfFile,
}

/// A piece of a [`ProcessMemory::write_pieces`] write: bytes, or a gap
/// whose bytes stay as they are.
pub enum Piece<'a> {
    Bytes(&'a [u8]),
    Gap(usize),
}

impl Piece<'_> {
    fn len(&self) -> usize {
        match self {
            Piece::Bytes(bytes) => bytes.len(),
            Piece::Gap(len) => *len,
        }
    }
}

/// A futex word's name in the wait queue (see [`ProcessMemory::futex_key`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FutexKey {
    /// The address space ([`ProcessMemory::id`]), or [`SHARED_FRAMES`].
    space: usize,
    /// The user address, or the frame's number plus the word's offset.
    at: u64,
}

/// [`FutexKey::space`] of a word named by its frame: no address space's
/// id (those are addresses of live heap objects, never 0).
const SHARED_FRAMES: usize = 0;

/// A process's memory as its threads hold it: one address space shared by
/// every thread of the group (`clone(CLONE_VM)`), each call taking its lock
/// for the duration of one operation (interrupts are masked meanwhile, so
/// on our one CPU no other thread runs inside it). Dropped with its last
/// thread.
pub struct ProcessMemory {
    mm: Arc<IrqMutex<Mm>>,
}

/// Shared anonymous memory (MAP_SHARED|MAP_ANONYMOUS, a shared mapping of
/// /dev/zero), as Linux's shmem object: its pages, made when first
/// touched in any of the address spaces that map it and kept until the
/// last of those lets go of it, so a fork shares pages neither side has
/// touched yet without allocating them first. Keyed by the id the
/// areas carry (`Area::object`).
struct SharedObjects {
    by_id: BTreeMap<u32, SharedPages>,
    next_id: u32,
}

struct SharedPages {
    pages: BTreeMap<u32, Frame>,
    /// Address spaces with an area on it.
    spaces: u32,
}

/// Taken inside an address space's lock, never the other way round.
static SHARED_OBJECTS: IrqMutex<SharedObjects> = IrqMutex::new(SharedObjects { by_id: BTreeMap::new(), next_id: 0 });

/// The distinct shared objects `areas` map.
fn objects_of<'a>(areas: impl Iterator<Item = &'a Area>) -> Vec<u32> {
    let mut ids: Vec<u32> = areas.filter_map(|a| a.object.map(|o| o.id)).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// One more address space maps each of `ids`.
fn hold_objects(ids: &[u32]) {
    if ids.is_empty() {
        return;
    }
    let mut objects = SHARED_OBJECTS.lock();
    for id in ids {
        if let Some(object) = objects.by_id.get_mut(id) {
            object.spaces += 1;
        }
    }
}

/// One address space less maps each of `ids`; an object nobody maps
/// goes with its pages (dropped after the lock).
fn let_go_of_objects(ids: &[u32]) {
    if ids.is_empty() {
        return;
    }
    let mut gone = Vec::new();
    {
        let mut objects = SHARED_OBJECTS.lock();
        for id in ids {
            if let Some(object) = objects.by_id.get_mut(id) {
                object.spaces -= 1;
                if object.spaces == 0 {
                    gone.extend(objects.by_id.remove(id));
                }
            }
        }
    }
    drop(gone);
}

impl Drop for Mm {
    /// The address space goes (exit, execve): its shared objects have one
    /// mapper less.
    fn drop(&mut self) {
        let_go_of_objects(&objects_of(self.areas().iter()));
    }
}

/// Where [`Mm::move_area`] puts the moved area.
#[derive(Clone, Copy, Debug)]
pub enum Placement {
    /// Exactly here (MREMAP_FIXED).
    At(u32),
    /// Here if it is free (0: no wish), else where there is room.
    Near(u32),
}

/// The address spaces that map one of our files, so a truncation can drop
/// their pages past the file's new end (Linux's unmap_mapping_range): the
/// next touch faults and gets SIGBUS. An address space joins when it first
/// maps such a file (a fork of one joins too); dead ones are pruned then.
static FILE_MAPPERS: IrqMutex<Vec<Weak<IrqMutex<Mm>>>> = IrqMutex::new(Vec::new());

fn join_file_mappers(mm: &Arc<IrqMutex<Mm>>) {
    mm.lock().maps_files = true;
    let mut all = FILE_MAPPERS.lock();
    all.retain(|space| space.strong_count() > 0);
    all.push(Arc::downgrade(mm));
}

/// Our file `node` is now `len` bytes long: every mapping of it loses its
/// pages wholly past the end, shared and private alike (Linux unmaps
/// private copies too), so touching them is SIGBUS as for a fresh
/// mapping. Call without the VFS lock held.
pub fn file_truncated(node: u32, len: u64) {
    let first_gone = u32::try_from(len.div_ceil(u64::from(PAGE))).unwrap_or(u32::MAX);
    let spaces: Vec<Arc<IrqMutex<Mm>>> = FILE_MAPPERS.lock().iter().filter_map(Weak::upgrade).collect();
    for mm in spaces {
        mm.lock().drop_file_pages(node, first_gone);
    }
}

impl ProcessMemory {
    pub fn new() -> Result<Self, Errno> {
        Ok(Self { mm: Arc::new(IrqMutex::new(Mm::new()?)) })
    }

    /// The same address space, for a new thread of the process.
    pub fn share(&self) -> ProcessMemory {
        ProcessMemory { mm: self.mm.clone() }
    }

    /// Threads using this address space.
    pub fn users(&self) -> usize {
        Arc::strong_count(&self.mm)
    }

    /// Names the address space while it lives (futex keys).
    pub fn id(&self) -> usize {
        Arc::as_ptr(&self.mm) as *const () as usize
    }

    /// The page directory, for the task's context.
    pub fn directory(&self) -> Directory {
        self.mm.lock().directory()
    }

    /// The most memory the address space has had mapped at once, in KiB
    /// (getrusage's ru_maxrss).
    pub fn peak_kib(&self) -> u64 {
        (self.mm.lock().space.peak_pages() as u64) * u64::from(PAGE / 1024)
    }

    /// Who waits on the futex word at `addr`: this address space and the
    /// address, or, for a word of a shared area reached without
    /// FUTEX_PRIVATE_FLAG, its frame and offset, the same in every process
    /// that maps the frame (Linux keys such a futex by its page).
    pub fn futex_key(&self, addr: u32, private: bool) -> FutexKey {
        let own = FutexKey { space: self.id(), at: u64::from(addr) };
        if private {
            return own;
        }
        let mut mm = self.mm.lock();
        if !mm.area_at(addr).is_some_and(|a| a.shared) {
            return own;
        }
        let key = match mm.frame_for(page_floor(addr), false) {
            Ok(frame) => FutexKey { space: SHARED_FRAMES, at: frame.id() + u64::from(addr % PAGE) },
            Err(_) => own,
        };
        // A file page not mapped yet: the word was never touched (its
        // value check mapped it, or fails first).
        mm.file_page_wanted = None;
        key
    }

    /// A copy of the area list.
    pub fn areas(&self) -> Vec<Area> {
        self.mm.lock().areas().to_vec()
    }

    /// Where the heap starts and the program break (`[heap]` in
    /// /proc/self/maps is whatever anonymous area overlaps them).
    pub fn brk_range(&self) -> (u32, u32) {
        let mm = self.mm.lock();
        (mm.brk_start, mm.brk)
    }

    pub fn add_area(&mut self, start: u32, end: u32, perms: Perms, kind: AreaKind) -> Result<(), Errno> {
        self.mm.lock().add_area(start, end, perms, kind)
    }

    pub fn add_stack_and_heap(&mut self, brk_start: u32) -> Result<(), Errno> {
        self.mm.lock().add_stack_and_heap(brk_start)
    }

    /// Says which file `[start, start+len)` maps (`/proc/self/maps`).
    pub fn set_file(&mut self, start: u32, len: u32, file: Option<Backing>, shared: bool) -> Result<(), Errno> {
        let end = start.checked_add(page_ceil(len)).ok_or(Errno::EINVAL)?;
        let ours = file.as_ref().is_some_and(|f| f.node.is_some());
        let joins = {
            let mut mm = self.mm.lock();
            mm.areas.set_file(start, end, file, shared).map_err(errno)?;
            ours && !mm.maps_files
        };
        if joins {
            join_file_mappers(&self.mm);
        }
        Ok(())
    }

    /// Makes `[start, start+len)` (fresh areas) shared anonymous memory: a
    /// new object whose pages come when first touched.
    pub fn share_anonymous(&mut self, start: u32, len: u32) -> Result<(), Errno> {
        let end = start.checked_add(page_ceil(len)).ok_or(Errno::EINVAL)?;
        let mut mm = self.mm.lock();
        let id = {
            let mut objects = SHARED_OBJECTS.lock();
            let id = objects.next_id;
            objects.next_id = objects.next_id.wrapping_add(1);
            objects.by_id.insert(id, SharedPages { pages: BTreeMap::new(), spaces: 1 });
            id
        };
        mm.areas.set_shared_object(start, end, SharedObject { id, page: 0 }).map_err(errno)
    }

    /// A forked child's copy-on-write copy (see [`Mm::fork`]).
    pub fn fork(&mut self) -> Result<ProcessMemory, Errno> {
        let child = self.mm.lock().fork()?;
        let maps_files = child.maps_files;
        let child = ProcessMemory { mm: Arc::new(IrqMutex::new(child)) };
        if maps_files {
            join_file_mappers(&child.mm);
        }
        Ok(child)
    }

    /// Resolves a user page fault at `addr` (see [`Mm::resolve_fault`]). A
    /// page of one of our files that is not mapped yet comes from the file
    /// as it is now: its own frame for a shared mapping, a copy for a
    /// private one, SIGBUS past the page holding its end. The VFS is asked
    /// without the address space's lock held (it has its own).
    pub fn resolve_fault(&mut self, addr: u32, write: bool) -> FaultResolution {
        let file_page = self.mm.lock().unmapped_file_page(addr, write);
        match file_page {
            Some(file_page) => self.fault_in_file_page(page_floor(addr), file_page),
            None => self.mm.lock().resolve_fault(addr, write),
        }
    }

    fn fault_in_file_page(&mut self, page: u32, FilePage { node, index, shared }: FilePage) -> FaultResolution {
        let Some(len) = env::with_vfs(|vfs| vfs.file_len(node)) else {
            // The file is gone: the page is the process's own zeros.
            return match self.mm.lock().map_zeroed_if_unmapped(page) {
                Ok(()) => FaultResolution::Mapped,
                Err(Errno::ENOMEM) => FaultResolution::OutOfMemory,
                Err(_) => FaultResolution::Violation,
            };
        };
        if u64::from(index) * u64::from(PAGE) >= len {
            return FaultResolution::PastEndOfFile;
        }
        let mapped = if shared {
            let frame = env::with_vfs(|vfs| vfs.page_mut(node, index).ok().and_then(|p| p.share()));
            frame.ok_or(Errno::ENOMEM).and_then(|frame| self.mm.lock().map_frame_if_unmapped(page, frame))
        } else {
            let mut copy = [0u8; PAGE_SIZE];
            let _ = env::with_vfs(|vfs| vfs.read_at(node, u64::from(index) * u64::from(PAGE), &mut copy));
            self.mm.lock().load_page_if_unmapped(page, &copy)
        };
        match mapped {
            Ok(()) => FaultResolution::Mapped,
            Err(_) => FaultResolution::OutOfMemory,
        }
    }

    pub fn set_brk(&mut self, addr: u32) -> u32 {
        self.mm.lock().set_brk(addr)
    }

    pub fn map_anonymous(&mut self, hint: u32, len: u32, perms: Perms, fixed: bool) -> Result<u32, Errno> {
        self.mm.lock().map_anonymous(hint, len, perms, fixed)
    }

    pub fn unmap(&mut self, addr: u32, len: u32) -> Result<(), Errno> {
        self.mm.lock().unmap(addr, len)
    }

    pub fn move_area(&mut self, old: u32, old_len: u32, new_len: u32, to: Placement, keep_old: bool) -> Result<u32, Errno> {
        self.mm.lock().move_area(old, old_len, new_len, to, keep_old)
    }

    pub fn protect(&mut self, addr: u32, len: u32, perms: Perms) -> Result<(), Errno> {
        self.mm.lock().protect(addr, len, perms)
    }

    pub fn discard(&mut self, addr: u32, len: u32) -> Result<(), Errno> {
        self.mm.lock().discard(addr, len)
    }

    pub fn load_bytes(&mut self, addr: u32, data: &[u8]) -> Result<(), Errno> {
        self.mm.lock().load_bytes(addr, data)
    }

    /// Maps `frame` (a page of a file, for a shared mapping) at `page`, in
    /// an area, with the area's rights: writes reach whatever else maps it.
    pub fn map_frame(&mut self, page: u32, frame: Frame) -> Result<(), Errno> {
        self.mm.lock().map_frame(page, frame)
    }

    /// A copy through the page tables stopped (EFAULT): when at a page of
    /// one of our files that is not mapped yet ([`Mm::frame_for`] notes
    /// it), the page is mapped as a fault maps it (the VFS asked outside
    /// the lock) and the copy runs again, until it is done or fails for
    /// another reason: a call that reads or writes a file mapping reaches
    /// the file, as the program's own accesses do; past the file's end it
    /// is EFAULT, as Linux's copies. Off the common path: a copy that
    /// succeeds never comes here. (Copies are repeatable: they read or
    /// write the same bytes again.)
    #[cold]
    fn copy_again<R>(&mut self, mut f: impl FnMut(&mut Mm) -> Result<R, Errno>) -> Result<R, Errno> {
        loop {
            let Some((page, file_page)) = self.mm.lock().file_page_wanted.take() else { return Err(Errno::EFAULT) };
            match self.fault_in_file_page(page, file_page) {
                FaultResolution::Mapped => {}
                FaultResolution::OutOfMemory => return Err(Errno::ENOMEM),
                _ => return Err(Errno::EFAULT),
            }
            match f(&mut self.mm.lock()) {
                Err(Errno::EFAULT) => continue,
                done => return done,
            }
        }
    }

    pub fn read(&mut self, addr: u32, out: &mut [u8]) -> Result<(), Errno> {
        let first = self.mm.lock().read(addr, out);
        match first {
            Err(Errno::EFAULT) => self.copy_again(|mm| mm.read(addr, out)),
            done => done,
        }
    }

    pub fn write(&mut self, addr: u32, data: &[u8]) -> Result<(), Errno> {
        let first = self.mm.lock().write(addr, data);
        match first {
            Err(Errno::EFAULT) => self.copy_again(|mm| mm.write(addr, data)),
            done => done,
        }
    }

    pub fn read_append(&mut self, addr: u32, len: usize, out: &mut Vec<u8>) -> Result<(), Errno> {
        let kept = out.len();
        let first = self.mm.lock().read_append(addr, len, out);
        match first {
            Err(Errno::EFAULT) => self.copy_again(|mm| {
                out.truncate(kept);
                mm.read_append(addr, len, out)
            }),
            done => done,
        }
    }

    pub fn write_pieces(&mut self, addr: u32, pieces: &[Piece<'_>]) -> Result<(), Errno> {
        let first = self.mm.lock().write_pieces(addr, pieces);
        match first {
            Err(Errno::EFAULT) => self.copy_again(|mm| mm.write_pieces(addr, pieces)),
            done => done,
        }
    }

    /// (A page of one of our files not mapped yet is EFAULT here: `f` is
    /// gone once tried. Signal frames and futex words there were touched
    /// first.)
    pub fn with_frame<R>(&mut self, addr: u32, len: usize, write: bool, f: impl FnOnce(FrameRef<'_>, usize) -> R) -> Result<Option<R>, Errno> {
        let mut mm = self.mm.lock();
        let done = mm.with_frame(addr, len, write, f);
        if done.is_err() {
            mm.file_page_wanted = None;
        }
        done
    }

    pub fn read_cstr(&mut self, addr: u32, max: usize) -> Result<Vec<u8>, Errno> {
        let first = self.mm.lock().read_cstr(addr, max);
        match first {
            Err(Errno::EFAULT) => self.copy_again(|mm| mm.read_cstr(addr, max)),
            done => done,
        }
    }

    /// Reads the aligned 32-bit word at `addr`, runs `f` on it and writes
    /// back what it returns, as one step no other thread can interleave with
    /// (futex compare and FUTEX_WAKE_OP). EFAULT unless readable and
    /// writable; EINVAL if not aligned.
    pub fn update_u32(&mut self, addr: u32, f: impl FnOnce(u32) -> u32) -> Result<u32, Errno> {
        if addr % 4 != 0 {
            return Err(Errno::EINVAL);
        }
        // As with_frame: a page of one of our files not mapped yet is
        // EFAULT here (a futex word there was touched first).
        let mut mm = self.mm.lock();
        let mut bytes = [0u8; 4];
        let done = mm.read(addr, &mut bytes).and_then(|()| {
            let old = u32::from_le_bytes(bytes);
            mm.write(addr, &f(old).to_le_bytes()).map(|()| old)
        });
        if done.is_err() {
            mm.file_page_wanted = None;
        }
        done
    }
}

/// A page of one of our files that a fault needs: which file, which of
/// its pages, and whether the mapping shares the file's own frame.
struct FilePage {
    node: u32,
    index: u32,
    shared: bool,
}

/// The address space itself; threads share it through [`ProcessMemory`].
pub struct Mm {
    space: AddressSpace,
    areas: AreaMap,
    brk_start: u32,
    brk: u32,
    /// It is in [`FILE_MAPPERS`].
    maps_files: bool,
    /// The unmapped file page a copy stopped at ([`ProcessMemory::copy`]).
    file_page_wanted: Option<(u32, FilePage)>,
}

impl Mm {
    fn new() -> Result<Self, Errno> {
        let space = AddressSpace::new().ok_or(Errno::ENOMEM)?;
        Ok(Self { space, areas: AreaMap::new(MAX_AREAS), brk_start: 0, brk: 0, maps_files: false, file_page_wanted: None })
    }

    /// The page directory, for the task's context.
    pub fn directory(&self) -> Directory {
        self.space.directory()
    }

    pub fn areas(&self) -> &[Area] {
        self.areas.areas()
    }

    /// Adds an area (page aligned, free, in user space) without mapping anything yet.
    pub fn add_area(&mut self, start: u32, end: u32, perms: Perms, kind: AreaKind) -> Result<(), Errno> {
        if start < USER_START as u32 || end > STACK_TOP {
            return Err(Errno::EINVAL);
        }
        self.areas.insert(start, end, perms, kind).map_err(errno)
    }

    fn area_at(&self, addr: u32) -> Option<&Area> {
        self.areas.find(addr)
    }

    /// Sets up the stack area and the heap start (just above the program).
    pub fn add_stack_and_heap(&mut self, brk_start: u32) -> Result<(), Errno> {
        let rw = Perms { read: true, write: true, exec: false };
        self.add_area(STACK_TOP - STACK_SIZE, STACK_TOP, rw, AreaKind::Stack)?;
        self.brk_start = page_ceil(brk_start);
        self.brk = self.brk_start;
        Ok(())
    }

    /// The frame backing the page at `page` (page aligned), mapping a zeroed
    /// one first if the page belongs to an area. `write` asks for a page
    /// the program may write.
    fn frame_for(&mut self, page: u32, write: bool) -> Result<FrameRef<'_>, Errno> {
        match self.space.translate(page as usize).map(|(_, flags)| flags) {
            Some(flags) if flags.accessible() && write && !flags.writable() && self.is_copy_on_write(page) => {
                return self.break_copy_on_write(page)
            }
            Some(flags) if !(flags.accessible() && (flags.writable() || !write)) => return Err(Errno::EFAULT),
            Some(_) => {}
            None => {
                let area = self.area_at(page).ok_or(Errno::EFAULT)?;
                let (flags, object_page) = (flags_for(area.perms), area.object_page(page));
                if !flags.accessible() || (write && !flags.writable()) {
                    return Err(Errno::EFAULT);
                }
                if let Some((node, index)) = area.file_page(page) {
                    // One of our files: the VFS has the page (or says it
                    // is past the end), asked outside this lock.
                    self.file_page_wanted = Some((page, FilePage { node, index, shared: area.shared }));
                    return Err(Errno::EFAULT);
                }
                return match object_page {
                    Some((id, index)) => self.map_object_page(page, id, index, flags),
                    None => self.map_zeroed(page, flags),
                };
            }
        }
        self.space.translate(page as usize).map(|(frame, _)| frame).ok_or(Errno::EFAULT)
    }

    /// Frame for the loader: maps the page writable-or-not as its area says,
    /// but always hands it out (the loader writes read-only text).
    fn frame_for_load(&mut self, page: u32) -> Result<FrameRef<'_>, Errno> {
        if self.space.translate(page as usize).is_none() {
            let flags = flags_for(self.area_at(page).ok_or(Errno::EFAULT)?.perms);
            return self.map_zeroed(page, flags);
        }
        self.space.translate(page as usize).map(|(frame, _)| frame).ok_or(Errno::EFAULT)
    }

    /// Maps page `index` of shared object `id` at `page` (made, zeroed, if
    /// nobody touched it yet).
    fn map_object_page(&mut self, page: u32, id: u32, index: u32, flags: PageFlags) -> Result<FrameRef<'_>, Errno> {
        let frame = {
            let mut objects = SHARED_OBJECTS.lock();
            let object = objects.by_id.get_mut(&id).ok_or(Errno::EFAULT)?;
            let frame = match object.pages.entry(index) {
                alloc::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                alloc::collections::btree_map::Entry::Vacant(e) => e.insert(Frame::zeroed().ok_or(Errno::ENOMEM)?),
            };
            frame.view().share().ok_or(Errno::ENOMEM)?
        };
        self.space.map(page as usize, frame, flags).map_err(|(e, _)| match e {
            MapError::OutOfMemory => Errno::ENOMEM,
            MapError::BadAddress | MapError::AlreadyMapped => Errno::EFAULT,
        })
    }

    fn map_zeroed(&mut self, page: u32, flags: PageFlags) -> Result<FrameRef<'_>, Errno> {
        let frame = Frame::zeroed().ok_or(Errno::ENOMEM)?;
        self.space.map(page as usize, frame, flags).map_err(|(e, _)| match e {
            MapError::OutOfMemory => Errno::ENOMEM,
            MapError::BadAddress | MapError::AlreadyMapped => Errno::EFAULT,
        })
    }

    fn map_frame(&mut self, page: u32, frame: Frame) -> Result<(), Errno> {
        let flags = flags_for(self.area_at(page).ok_or(Errno::EFAULT)?.perms);
        drop(self.space.unmap(page as usize));
        self.space.map(page as usize, frame, flags).map(|_| ()).map_err(|(e, _)| match e {
            MapError::OutOfMemory => Errno::ENOMEM,
            MapError::BadAddress | MapError::AlreadyMapped => Errno::EFAULT,
        })
    }

    /// True when `page` is mapped read-only although its area is writable:
    /// its frame is (or was) shared with another process since a fork.
    fn is_copy_on_write(&self, page: u32) -> bool {
        self.area_at(page).is_some_and(|a| flags_for(a.perms).writable())
    }

    /// A write to a copy-on-write page: the process gets a frame of its own
    /// (a copy while another process still shares the old one) mapped writable.
    fn break_copy_on_write(&mut self, page: u32) -> Result<FrameRef<'_>, Errno> {
        let writable = PageFlags::READ_WRITE;
        let (frame, _) = self.space.translate(page as usize).ok_or(Errno::EFAULT)?;
        // A shared mapping's page is the file's (and every mapper's): the
        // write goes to it, never to a copy.
        if !frame.is_shared() || self.area_at(page).is_some_and(|a| a.shared) {
            self.space.protect(page as usize, writable).map_err(|_| Errno::EFAULT)?;
            return self.space.translate(page as usize).map(|(frame, _)| frame).ok_or(Errno::EFAULT);
        }
        let copy = frame.copy().ok_or(Errno::ENOMEM)?;
        // Dropping the old handle drops this process's reference to the shared frame.
        let shared = self.space.unmap(page as usize);
        match self.space.map(page as usize, copy, writable) {
            Ok(_) => {}
            Err(_) => {
                // Cannot happen (the entry was just cleared); keep the old frame.
                if let Some(shared) = shared {
                    let _ = self.space.map(page as usize, shared, PageFlags::READ);
                }
                return Err(Errno::ENOMEM);
            }
        }
        self.space.translate(page as usize).map(|(frame, _)| frame).ok_or(Errno::EFAULT)
    }

    /// The address space of a forked child: the same areas, every mapped
    /// page shared copy-on-write (both sides map it read-only until one
    /// writes), in one pass over the page tables
    /// ([`AddressSpace::fork_copy_on_write`]). ENOMEM, with nothing of the
    /// child left, when frames for its page tables (or page copies) run out.
    fn fork(&mut self) -> Result<Mm, Errno> {
        let space = self.space.fork_copy_on_write().ok_or(Errno::ENOMEM)?;
        // The child maps the same shared objects: their pages not touched
        // yet are made at the first touch, on either side.
        hold_objects(&objects_of(self.areas().iter()));
        Ok(Mm { space, areas: self.areas.clone(), brk_start: self.brk_start, brk: self.brk, maps_files: self.maps_files, file_page_wanted: None })
    }

    /// Unmaps the pages of file `node` from page `first_gone` on, in every
    /// area that maps it ([`file_truncated`]).
    fn drop_file_pages(&mut self, node: u32, first_gone: u32) {
        let gone: Vec<(u32, u32)> = self
            .areas()
            .iter()
            .filter_map(|a| {
                let (area_node, first) = a.file_page(a.start)?;
                let skip = first_gone.saturating_sub(first);
                let from = a.start.saturating_add(skip.saturating_mul(PAGE));
                (area_node == node && from < a.end).then_some((from, a.end))
            })
            .collect();
        for (from, end) in gone {
            self.release_pages(from, end);
        }
    }

    /// Handles a user page fault at `addr`: maps the page when it lies in an
    /// area whose rights allow the access, or gives the process its own copy
    /// of a copy-on-write page it writes.
    pub fn resolve_fault(&mut self, addr: u32, write: bool) -> FaultResolution {
        let page = page_floor(addr);
        if let Some((_, flags)) = self.space.translate(page as usize) {
            if write && flags.accessible() && !flags.writable() && self.is_copy_on_write(page) {
                return match self.break_copy_on_write(page) {
                    Ok(_) => FaultResolution::Mapped,
                    Err(_) => FaultResolution::OutOfMemory,
                };
            }
            return FaultResolution::Violation; // present: a rights violation
        }
        match self.frame_for(page, write) {
            Ok(_) => FaultResolution::Mapped,
            // No frame (or page table) left for a page the program may
            // touch: SIGKILL "out of memory", not a SIGSEGV that reads as
            // a bad address (the 10 M-call fuzz run's seed 1 died so).
            Err(Errno::ENOMEM) => FaultResolution::OutOfMemory,
            Err(_) => FaultResolution::Violation,
        }
    }

    /// The file page behind `addr` when the page is not mapped, lies in an
    /// area mapping one of our files, and the area's rights allow the access.
    fn unmapped_file_page(&self, addr: u32, write: bool) -> Option<FilePage> {
        let page = page_floor(addr);
        if self.space.translate(page as usize).is_some() {
            return None;
        }
        let area = self.area_at(page)?;
        let flags = flags_for(area.perms);
        if !flags.accessible() || (write && !flags.writable()) {
            return None;
        }
        let (node, index) = area.file_page(page)?;
        Some(FilePage { node, index, shared: area.shared })
    }

    /// Maps a file's `frame` at `page` unless another thread mapped the
    /// page meanwhile.
    fn map_frame_if_unmapped(&mut self, page: u32, frame: Frame) -> Result<(), Errno> {
        if self.space.translate(page as usize).is_some() {
            return Ok(());
        }
        self.map_frame(page, frame)
    }

    /// Maps a zeroed page at `page` with its area's rights unless another
    /// thread mapped the page meanwhile.
    fn map_zeroed_if_unmapped(&mut self, page: u32) -> Result<(), Errno> {
        if self.space.translate(page as usize).is_some() {
            return Ok(());
        }
        let flags = flags_for(self.area_at(page).ok_or(Errno::EFAULT)?.perms);
        self.map_zeroed(page, flags).map(|_| ())
    }

    /// Maps a fresh page at `page` holding `bytes` (a private copy of a
    /// file page) unless another thread mapped the page meanwhile.
    fn load_page_if_unmapped(&mut self, page: u32, bytes: &[u8]) -> Result<(), Errno> {
        if self.space.translate(page as usize).is_some() {
            return Ok(());
        }
        self.load_bytes(page, bytes)
    }

    /// Unmaps every mapped page in `[start, end)`, dropping the frames.
    fn release_pages(&mut self, start: u32, end: u32) {
        let mut page = start;
        while page < end {
            drop(self.space.unmap(page as usize));
            page += PAGE;
        }
    }

    /// `brk(addr)`: moves the program break; returns the (new or unchanged)
    /// break. Growing adds an area for the new pages only (other mappings
    /// may sit inside the heap, e.g. musl's guard pages); shrinking unmaps.
    pub fn set_brk(&mut self, addr: u32) -> u32 {
        if addr < self.brk_start {
            return self.brk;
        }
        let (old_end, new_end) = (page_ceil(self.brk), page_ceil(addr));
        if new_end > old_end {
            let rw = Perms { read: true, write: true, exec: false };
            if new_end > MMAP_TOP || self.add_area(old_end, new_end, rw, AreaKind::Heap).is_err() {
                return self.brk;
            }
        } else if new_end < old_end && self.unmap(new_end, old_end - new_end).is_err() {
            return self.brk;
        }
        self.brk = addr;
        addr
    }

    /// Finds `len` free bytes (page multiple) for `mmap2`, top-down,
    /// leaving [`HEAP_GAP`] above the break for the heap to grow.
    fn find_free(&self, len: u32) -> Option<u32> {
        let floor = page_ceil(self.brk).max(USER_START as u32).saturating_add(HEAP_GAP);
        self.areas.find_free(len, floor, MMAP_TOP)
    }

    /// Anonymous `mmap2`: returns the address of a fresh zero-filled area.
    pub fn map_anonymous(&mut self, hint: u32, len: u32, perms: Perms, fixed: bool) -> Result<u32, Errno> {
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        let len = page_ceil(len);
        if len == 0 {
            return Err(Errno::ENOMEM);
        }
        if fixed {
            if hint % PAGE != 0 {
                return Err(Errno::EINVAL);
            }
            let end = hint.checked_add(len).ok_or(Errno::EINVAL)?;
            self.unmap(hint, len)?;
            self.add_area(hint, end, perms, AreaKind::Mmap)?;
            return Ok(hint);
        }
        if hint != 0 && hint % PAGE == 0 {
            if let Some(end) = hint.checked_add(len) {
                if self.add_area(hint, end, perms, AreaKind::Mmap).is_ok() {
                    return Ok(hint);
                }
            }
        }
        let start = self.find_free(len).ok_or(Errno::ENOMEM)?;
        self.add_area(start, start + len, perms, AreaKind::Mmap)?;
        Ok(start)
    }

    /// `munmap`: removes `[addr, addr+len)` from every area and frees its pages.
    pub fn unmap(&mut self, addr: u32, len: u32) -> Result<(), Errno> {
        if addr % PAGE != 0 || len == 0 {
            return Err(Errno::EINVAL);
        }
        let end = addr.checked_add(page_ceil(len)).ok_or(Errno::EINVAL)?;
        if addr < USER_START as u32 || end > STACK_TOP {
            return Err(Errno::EINVAL);
        }
        let touched = objects_of(self.areas().iter().filter(|a| a.start < end && addr < a.end));
        self.areas.remove(addr, end).map_err(errno)?;
        self.release_pages(addr, end);
        if !touched.is_empty() {
            let still = objects_of(self.areas().iter());
            let gone: Vec<u32> = touched.into_iter().filter(|id| !still.contains(id)).collect();
            let_go_of_objects(&gone);
        }
        Ok(())
    }

    /// `mremap` with MREMAP_MAYMOVE: a new area of `new_len` bytes with the
    /// rights of the old one, placed as `to` says (MREMAP_FIXED: whatever
    /// was mapped there goes first, as Linux unmaps it before moving); the old pages move there (no copying), the rest is fresh
    /// zero pages. `keep_old` (MREMAP_DONTUNMAP): the old area stays,
    /// emptied (its pages fault in afresh). Returns the new address. On an
    /// error the pages move back and the new area goes: a failed call
    /// leaves the old memory as it was (a kept new area would be memory
    /// the program does not know it holds).
    pub fn move_area(&mut self, old: u32, old_len: u32, new_len: u32, to: Placement, keep_old: bool) -> Result<u32, Errno> {
        let area = self.area_at(old).ok_or(Errno::EFAULT)?;
        // The moved area maps the same file, from the page `old` held.
        let skipped = (old - area.start) / PAGE;
        let (perms, shared) = (area.perms, area.shared);
        let file = area.file.clone().map(|f| Backing { page: f.page.wrapping_add(skipped), ..f });
        let object = area.object.map(|o| SharedObject { page: o.page.wrapping_add(skipped), ..o });
        let new = match to {
            Placement::At(at) => self.map_anonymous(at, new_len, perms, true)?,
            Placement::Near(hint) => self.map_anonymous(hint, new_len, perms, false)?,
        };
        let _ = match object {
            // The same object, the same pages: this address space already
            // counts as one of its mappers.
            Some(object) => self.areas.set_shared_object(new, new + page_ceil(new_len), object),
            None => self.areas.set_file(new, new + page_ceil(new_len), file, shared),
        };
        let flags = flags_for(perms);
        let moving = old_len.min(new_len);
        let mut moved = self.move_pages(old, new, moving, flags);
        if !keep_old {
            moved = moved.and_then(|()| self.unmap(old, old_len));
        }
        if let Err(e) = moved {
            // The page tables under `old` held these pages a moment ago,
            // so moving them back needs no frame.
            let _ = self.move_pages(new, old, moving, flags);
            let _ = self.unmap(new, new_len);
            return Err(e);
        }
        Ok(new)
    }

    /// Moves the pages mapped in `[from, from+len)` to the same offsets
    /// from `to` (a frame shared since a fork stays read-only there). On
    /// ENOMEM (no frame for a page table) the page that failed stays at
    /// `from`; the ones before it have moved.
    fn move_pages(&mut self, from: u32, to: u32, len: u32, flags: PageFlags) -> Result<(), Errno> {
        let mut offset = 0;
        while offset < len {
            if let Some(frame) = self.space.unmap((from + offset) as usize) {
                let flags = if frame.view().is_shared() { flags.read_only() } else { flags };
                if let Err((_, frame)) = self.space.map((to + offset) as usize, frame, flags) {
                    let _ = self.space.map((from + offset) as usize, frame, flags);
                    return Err(Errno::ENOMEM);
                }
            }
            offset += PAGE;
        }
        Ok(())
    }

    /// `mprotect`: changes the rights of `[addr, addr+len)`, which must be
    /// covered by areas (ENOMEM otherwise, as on Linux).
    pub fn protect(&mut self, addr: u32, len: u32, perms: Perms) -> Result<(), Errno> {
        if addr % PAGE != 0 {
            return Err(Errno::EINVAL);
        }
        let end = addr.checked_add(page_ceil(len)).ok_or(Errno::ENOMEM)?;
        self.areas.set_perms(addr, end, perms).map_err(errno)?;
        let flags = flags_for(perms);
        let mut page = addr;
        while page < end {
            // Pages not mapped yet get the new rights when first touched;
            // a frame shared since a fork stays read-only (copy on write).
            if let Some((frame, _)) = self.space.translate(page as usize) {
                let _ = self.space.protect(page as usize, if frame.is_shared() { flags.read_only() } else { flags });
            }
            page += PAGE;
        }
        Ok(())
    }

    /// `madvise(MADV_DONTNEED)`: drops the pages; private anonymous ones
    /// read as zero again, file pages as the file. Shared anonymous pages
    /// stay (their frames are the only copy other processes share, as
    /// Linux's shmem object keeps them).
    pub fn discard(&mut self, addr: u32, len: u32) -> Result<(), Errno> {
        if addr % PAGE != 0 {
            return Err(Errno::EINVAL);
        }
        let end = addr.checked_add(page_ceil(len)).ok_or(Errno::EINVAL)?;
        let kept: Vec<(u32, u32)> =
            self.areas().iter().filter(|a| a.is_shared_anonymous() && a.start < end && addr < a.end).map(|a| (a.start, a.end)).collect();
        let mut page = addr;
        while page < end {
            match kept.iter().find(|(start, end)| (*start..*end).contains(&page)) {
                Some(&(_, kept_end)) => page = kept_end,
                None => {
                    drop(self.space.unmap(page as usize));
                    page += PAGE;
                }
            }
        }
        Ok(())
    }

    /// Copies `data` into user memory at `addr` as the loader does: ignoring
    /// the page rights (program text is read-only to the program itself).
    pub fn load_bytes(&mut self, addr: u32, data: &[u8]) -> Result<(), Errno> {
        self.copy(addr, data.len(), None, |frame, offset, range| {
            frame.write(offset, &data[range]);
        })
    }

    /// Copies user memory at `addr` into `out`; EFAULT if any byte is not
    /// readable by the program.
    pub fn read(&mut self, addr: u32, out: &mut [u8]) -> Result<(), Errno> {
        let len = out.len();
        self.copy(addr, len, Some(false), |frame, offset, range| {
            frame.read(offset, &mut out[range]);
        })
    }

    /// Appends `len` bytes of user memory at `addr` to `out` (reserved
    /// fallibly first: ENOMEM, never a panic), each byte written once: no
    /// zero fill before the copy, as a `read` into a zeroed buffer has.
    /// EFAULT if any byte is not readable by the program; `out` may then
    /// hold part of the bytes, and the caller drops it.
    pub fn read_append(&mut self, addr: u32, len: usize, out: &mut Vec<u8>) -> Result<(), Errno> {
        out.try_reserve(len).map_err(|_| Errno::ENOMEM)?;
        self.copy(addr, len, Some(false), |frame, offset, range| {
            frame.append_to(offset, range.len(), out);
        })
    }

    /// Copies `data` to user memory at `addr`; EFAULT if any byte is not
    /// writable by the program.
    pub fn write(&mut self, addr: u32, data: &[u8]) -> Result<(), Errno> {
        self.copy(addr, data.len(), Some(true), |frame, offset, range| {
            frame.write(offset, &data[range]);
        })
    }

    /// Writes `pieces`, one after the other, to user memory from `addr` in
    /// one walk (a signal frame is written with one call); EFAULT if any
    /// byte of the whole, gaps included, is not writable by the program.
    pub fn write_pieces(&mut self, addr: u32, pieces: &[Piece<'_>]) -> Result<(), Errno> {
        let len = pieces.iter().map(Piece::len).sum();
        self.copy(addr, len, Some(true), |frame, offset, range| {
            // The bytes of the pieces that fall in `range` of the whole.
            let mut start = 0;
            for piece in pieces {
                let end = start + piece.len();
                let (from, to) = (range.start.max(start), range.end.min(end));
                if let (Piece::Bytes(bytes), true) = (piece, from < to) {
                    frame.write(offset + (from - range.start), &bytes[from - start..to - start]);
                }
                start = end;
            }
        })
    }

    /// Runs `f` on the frame holding the `len` bytes at `addr` and their
    /// offset in it, with the program's rights checked as `read` (or, with
    /// `write`, `write_pieces`) checks them: a page not yet present is
    /// mapped, a copy-on-write one copied. `None`: the bytes do not lie in
    /// one page (the caller copies instead). EFAULT as `read`/`write`.
    pub fn with_frame<R>(&mut self, addr: u32, len: usize, write: bool, f: impl FnOnce(FrameRef<'_>, usize) -> R) -> Result<Option<R>, Errno> {
        if (addr % PAGE) as usize + len > PAGE_SIZE {
            return Ok(None);
        }
        let (mut f, mut out) = (Some(f), None);
        self.copy(addr, len, Some(write), |frame, offset, _| out = f.take().map(|f| f(frame, offset)))?;
        Ok(out)
    }

    /// Walks `[addr, addr+len)` page by page. `access`: None = loader,
    /// Some(write) = the program's rights are checked.
    fn copy(
        &mut self,
        addr: u32,
        len: usize,
        access: Option<bool>,
        mut each: impl FnMut(FrameRef<'_>, usize, core::ops::Range<usize>),
    ) -> Result<(), Errno> {
        let end = (addr as u64) + len as u64;
        if len == 0 {
            return Ok(());
        }
        if (addr as usize) < USER_START || end > USER_END as u64 {
            return Err(Errno::EFAULT);
        }
        let mut done = 0usize;
        while done < len {
            let at = addr + done as u32;
            let page = page_floor(at);
            let offset = (at - page) as usize;
            let chunk = (PAGE_SIZE - offset).min(len - done);
            // A page mapped with the rights asked for (the common case)
            // costs one table walk; the rest goes through frame_for.
            let mapped = match (access, self.space.translate(page as usize)) {
                (Some(write), Some((frame, flags))) if flags.accessible() && (flags.writable() || !write) => {
                    each(frame, offset, done..done + chunk);
                    true
                }
                _ => false,
            };
            if !mapped {
                let frame = match access {
                    None => self.frame_for_load(page)?,
                    Some(write) => self.frame_for(page, write)?,
                };
                each(frame, offset, done..done + chunk);
            }
            done += chunk;
        }
        Ok(())
    }

    /// Reads a NUL-terminated string of at most `max` bytes (without the NUL).
    pub fn read_cstr(&mut self, addr: u32, max: usize) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        let mut at = addr;
        loop {
            let page_left = (PAGE - (at % PAGE)) as usize;
            let mut chunk = [0u8; 256];
            let n = page_left.min(chunk.len());
            self.read(at, &mut chunk[..n])?;
            if let Some(nul) = chunk[..n].iter().position(|&b| b == 0) {
                out.extend_from_slice(&chunk[..nul]);
                return Ok(out);
            }
            out.extend_from_slice(&chunk[..n]);
            if out.len() > max {
                return Err(Errno::ENAMETOOLONG);
            }
            at = at.checked_add(n as u32).ok_or(Errno::EFAULT)?;
        }
    }
}
