//! Paging: the kernel's mappings and per-process address spaces.
//!
//! Virtual layout (every page directory shares the kernel parts):
//!
//! | range                      | what                                          |
//! |----------------------------|-----------------------------------------------|
//! | `0..USER_START` | identity map of low memory and the kernel image (page 0 left unmapped to catch null pointers; code and read-only data read-only); supervisor only. 4 MiB, or 16 MiB with the `lkl` feature (LKL's `lkl.o` makes the image ~8 MiB) |
//! | `USER_START..0xc000_0000` | user space ([`USER_START`]..[`USER_END`]), 4 KiB pages, per address space |
//! | `0xc000_0000..0xf000_0000` | all RAM (up to 768 MiB) at [`PHYS_MAP_BASE`]` + phys`, 4 MiB global pages; supervisor only |
//! | `0xf000_0000..0xf100_0000` | kernel stacks with guard pages ([`crate::kstack`]); supervisor only |
//!
//! The kernel heap, kernel stacks, page tables and the initramfs are reached
//! through the physical map. Kernel entries are global (CR4.PGE), so
//! switching CR3 between address spaces keeps them in the TLB.

use crate::memory::{self, Frame, FrameRef};
use crate::layout::{kernel_image, kernel_readonly};
use core::arch::asm;
use core::cell::UnsafeCell;

pub use crate::layout::{PAGE_SIZE, USER_END, USER_START};
use crate::layout::{phys_to_virt, PHYS_MAP_BASE, PHYS_MAP_LIMIT};

/// Page tables of the identity map (4 MiB each).
const LOW_TABLES: usize = USER_START >> 22;

/// What a program may do with one of its pages: nothing (a reserved,
/// PROT_NONE page), read, or read and write. (Writable but inaccessible
/// cannot be expressed: i386 has no such page.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageFlags {
    writable: bool,
    user: bool,
}

impl PageFlags {
    /// Reserved: any access by the program faults.
    pub const NONE: PageFlags = PageFlags { writable: false, user: false };
    pub const READ: PageFlags = PageFlags { writable: false, user: true };
    pub const READ_WRITE: PageFlags = PageFlags { writable: true, user: true };

    /// The program may read the page.
    pub fn accessible(self) -> bool {
        self.user
    }

    /// The program may write the page.
    pub fn writable(self) -> bool {
        self.writable
    }

    /// The same rights without write access (a page shared copy-on-write).
    pub fn read_only(self) -> PageFlags {
        PageFlags { writable: false, ..self }
    }
}

/// One entry of a page directory or page table: a frame's address and its
/// flag bits. The only code that knows the i386 bit layout; everything else
/// builds entries with the constructors, which say what the entry is for.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(transparent)]
pub(crate) struct Entry(u32);

impl Entry {
    const PRESENT: u32 = 1 << 0;
    const WRITABLE: u32 = 1 << 1;
    const USER: u32 = 1 << 2;
    const HUGE: u32 = 1 << 7;
    const GLOBAL: u32 = 1 << 8;
    const FLAGS: u32 = 0xfff;

    /// Not present: maps nothing.
    pub(crate) const EMPTY: Entry = Entry(0);

    fn new(frame: u64, flags: u32) -> Entry {
        debug_assert!(frame % PAGE_SIZE as u64 == 0 && frame < 1 << 32, "frame {frame:#x} is not a 32-bit page address");
        Entry(frame as u32 | flags)
    }

    /// A 4 KiB kernel page (supervisor only, global: kept in the TLB across
    /// address-space switches).
    pub(crate) fn kernel_page(frame: u64, writable: bool) -> Entry {
        Entry::new(frame, Self::PRESENT | Self::GLOBAL | if writable { Self::WRITABLE } else { 0 })
    }

    /// A directory entry for a page table of kernel pages.
    pub(crate) fn kernel_table(table: u64) -> Entry {
        Entry::new(table, Self::PRESENT | Self::WRITABLE)
    }

    /// A directory entry mapping 4 MiB of RAM for the kernel (CR4.PSE).
    fn kernel_huge_page(frame: u64) -> Entry {
        Entry::new(frame, Self::PRESENT | Self::WRITABLE | Self::HUGE | Self::GLOBAL)
    }

    /// A directory entry for a page table of user pages (the pages' own
    /// entries decide the rights).
    fn user_table(table: u64) -> Entry {
        Entry::new(table, Self::PRESENT | Self::WRITABLE | Self::USER)
    }

    /// A user-space page with `flags`.
    fn user_page(frame: u64, flags: PageFlags) -> Entry {
        Entry::new(frame, Self::PRESENT | Self::page_bits(flags))
    }

    fn page_bits(flags: PageFlags) -> u32 {
        (if flags.writable { Self::WRITABLE } else { 0 }) | if flags.user { Self::USER } else { 0 }
    }

    pub(crate) fn is_present(self) -> bool {
        self.0 & Self::PRESENT != 0
    }

    /// The physical address the entry points at (a frame or a page table).
    pub(crate) fn frame(self) -> u64 {
        (self.0 & !Self::FLAGS) as u64
    }

    /// The rights of a user-space page entry.
    fn page_flags(self) -> PageFlags {
        PageFlags { writable: self.0 & Self::WRITABLE != 0, user: self.0 & Self::USER != 0 }
    }

    /// The same page with other rights.
    fn with_page_flags(self, flags: PageFlags) -> Entry {
        Entry::user_page(self.frame(), flags)
    }

    /// The same page, not writable.
    fn read_only(self) -> Entry {
        Entry(self.0 & !Self::WRITABLE)
    }
}

/// A page directory or page table.
#[repr(C, align(4096))]
pub(crate) struct Table(pub(crate) [Entry; 1024]);

impl Table {
    pub(crate) const EMPTY: Table = Table([Entry::EMPTY; 1024]);

    /// The index of the first entry at or after `from` that is not empty
    /// (zero). Fork and exit walk whole tables, mostly empty: `repe scasd`
    /// counts as one guest instruction per entry under TCG, a Rust loop as
    /// about ten.
    fn next_used(&self, from: usize) -> Option<usize> {
        if from >= self.0.len() {
            return None;
        }
        let rest: usize;
        let found: u8;
        // SAFETY: scans entries `from..1024` of this table (ecx of them from
        // edi upwards; the direction flag is clear in kernel code), reading
        // only; eax stays zero, the value compared against.
        unsafe {
            core::arch::asm!(
                "repe scasd",
                "setne {found}",
                found = out(reg_byte) found,
                inout("edi") self.0.as_ptr().add(from) => _,
                inout("ecx") self.0.len() - from => rest,
                in("eax") 0u32,
                options(nostack, readonly)
            )
        }
        // scasd stops one past the non-empty entry it found.
        (found != 0).then(|| self.0.len() - rest - 1)
    }
}

struct KernelTables {
    directory: UnsafeCell<Table>,
    low: UnsafeCell<[Table; LOW_TABLES]>,
}
// SAFETY: written once at boot, before interrupts are enabled; read-only after.
unsafe impl Sync for KernelTables {}

static KERNEL: KernelTables = KernelTables {
    directory: UnsafeCell::new(Table::EMPTY),
    low: UnsafeCell::new([const { Table::EMPTY }; LOW_TABLES]),
};

/// Physical address of the kernel's page directory.
pub(crate) fn kernel_directory() -> u64 {
    KERNEL.directory.get() as u64
}

/// Builds the kernel mappings and turns paging on. `memory_top` is the end of
/// RAM; the physical map covers it (capped at [`PHYS_MAP_LIMIT`]).
pub(crate) fn init(memory_top: u64) {
    let image = kernel_image();
    if image.end > USER_START as u64 {
        crate::report::fatal(format_args!("kernel image ends at {:#x}, beyond the {} MiB low map", image.end, USER_START >> 20));
    }
    let top = memory_top.min(PHYS_MAP_LIMIT);
    // SAFETY: boot is single-threaded with interrupts off and paging off; the
    // tables are static and 4 KiB aligned, so their addresses are their
    // physical addresses. The identity map covers all code and data in use
    // (kernel image, boot stack, descriptor tables), so execution continues
    // unchanged when CR0.PG is set.
    unsafe {
        // Kernel code and read-only data are mapped read-only (CR0.WP makes
        // that hold in ring 0 too), so a stray write into them faults.
        let readonly = kernel_readonly();
        let low = &mut *KERNEL.low.get();
        let entries = low.iter_mut().flat_map(|t| t.0.iter_mut());
        for (i, entry) in entries.enumerate().skip(1) {
            let addr = (i * PAGE_SIZE) as u64;
            *entry = Entry::kernel_page(addr, !(readonly.start..readonly.end).contains(&addr));
        }
        let dir = &mut *KERNEL.directory.get();
        for (i, table) in low.iter().enumerate() {
            dir.0[i] = Entry::kernel_table(table as *const Table as u64);
        }
        let huge_pages = top.div_ceil(1 << 22) as usize;
        for i in 0..huge_pages {
            dir.0[PHYS_MAP_BASE / (1 << 22) + i] = Entry::kernel_huge_page((i as u64) << 22);
        }
        crate::kstack::init(dir);
        asm!(
            "mov eax, cr4",
            "or eax, 0x90", // PSE | PGE
            "mov cr4, eax",
            "mov cr3, {dir}",
            "mov eax, cr0",
            "or eax, 0x80010000", // PG | WP
            "mov cr0, eax",
            dir = in(reg) KERNEL.directory.get() as u32,
            out("eax") _,
            options(nostack)
        );
    }
}

/// Error from [`AddressSpace::map`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// The address is not page aligned or not in user space.
    BadAddress,
    /// A page is already mapped there.
    AlreadyMapped,
    /// No frame left for a page table.
    OutOfMemory,
}

/// Names a page directory for a task's context (what CR3 gets while it
/// runs): the kernel's, or an [`AddressSpace`]'s. An opaque token, not an
/// address; the owner keeps the address space alive while a context uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Directory(pub(crate) u64);

impl Directory {
    /// The kernel's own directory (no user mappings).
    pub const KERNEL: Directory = Directory(0);
}

/// A page directory: user mappings of its own, kernel mappings shared.
pub struct AddressSpace {
    directory: u64,
    /// User pages mapped now, and the most there ever were (getrusage's
    /// ru_maxrss, Linux's hiwater_rss).
    resident: usize,
    peak: usize,
}

/// The table at physical address `phys`, through the physical map.
fn table_at(phys: u64) -> *mut Table {
    phys_to_virt(phys) as *mut Table
}

impl AddressSpace {
    /// A new address space with no user mappings.
    pub fn new() -> Option<Self> {
        let directory = memory::alloc_zeroed_frame()?;
        // SAFETY: `directory` is a fresh frame owned by this object; the
        // kernel directory is only read (it is not written after boot).
        unsafe {
            let new = &mut (*table_at(directory)).0;
            let kernel = &*KERNEL.directory.get();
            new[..LOW_TABLES].copy_from_slice(&kernel.0[..LOW_TABLES]);
            new[USER_END >> 22..].copy_from_slice(&kernel.0[USER_END >> 22..]);
        }
        Some(Self { directory, resident: 0, peak: 0 })
    }

    /// User pages mapped now.
    pub fn resident_pages(&self) -> usize {
        self.resident
    }

    /// The most user pages this space has had mapped at once (a forked
    /// child starts from its parent's, as Linux copies hiwater_rss).
    pub fn peak_pages(&self) -> usize {
        self.peak
    }

    /// The page directory, for a task's context.
    pub fn directory(&self) -> Directory {
        Directory(self.directory)
    }

    fn is_active(&self) -> bool {
        crate::cpu::cr3() as u64 == self.directory
    }

    /// The page table entry for `virt`, creating the table if `create`.
    fn entry(&mut self, virt: usize, create: bool) -> Result<&mut Entry, MapError> {
        if virt % PAGE_SIZE != 0 || !(USER_START..USER_END).contains(&virt) {
            return Err(MapError::BadAddress);
        }
        // SAFETY: the directory frame belongs to this object.
        let dir = unsafe { &mut *table_at(self.directory) };
        let pde = &mut dir.0[virt >> 22];
        if !pde.is_present() {
            if !create {
                return Err(MapError::BadAddress);
            }
            let table = memory::alloc_zeroed_frame().ok_or(MapError::OutOfMemory)?;
            *pde = Entry::user_table(table);
        }
        // SAFETY: user-range directory entries point at tables this object
        // allocated; `&mut self` makes the borrow exclusive.
        Ok(unsafe { &mut (*table_at(pde.frame())).0[(virt >> 12) & 1023] })
    }

    /// The present entry of the page holding `virt` (user space), if any.
    fn present_entry(&self, virt: usize) -> Option<Entry> {
        if !(USER_START..USER_END).contains(&virt) {
            return None;
        }
        // SAFETY: read-only walk of tables owned by this object.
        let pde = unsafe { (*table_at(self.directory)).0[virt >> 22] };
        if !pde.is_present() {
            return None;
        }
        // SAFETY: user-range directory entries point at tables this object allocated.
        let pte = unsafe { (*table_at(pde.frame())).0[(virt >> 12) & 1023] };
        pte.is_present().then_some(pte)
    }

    /// Maps the page at `virt` (user space, page aligned) to `frame`; the
    /// address space keeps the frame until [`unmap`](Self::unmap) gives it
    /// back (or drops it when the space goes). On failure the frame comes
    /// back with the error.
    pub fn map(&mut self, virt: usize, frame: Frame, flags: PageFlags) -> Result<FrameRef<'_>, (MapError, Frame)> {
        let entry = match self.entry(virt, true) {
            Ok(entry) => entry,
            Err(e) => return Err((e, frame)),
        };
        if entry.is_present() {
            return Err((MapError::AlreadyMapped, frame));
        }
        let phys = frame.into_raw();
        *entry = Entry::user_page(phys, flags);
        self.resident += 1;
        self.peak = self.peak.max(self.resident);
        // SAFETY: the entry now holds the frame's reference until unmap or
        // drop, which cannot happen while the view borrows `self`.
        Ok(unsafe { FrameRef::from_raw(phys) })
    }

    /// Changes the permissions of a mapped page.
    pub fn protect(&mut self, virt: usize, flags: PageFlags) -> Result<(), MapError> {
        let entry = self.entry(virt, false)?;
        if !entry.is_present() {
            return Err(MapError::BadAddress);
        }
        *entry = entry.with_page_flags(flags);
        self.flush(virt);
        Ok(())
    }

    /// Unmaps the page at `virt`, returning the frame it mapped.
    pub fn unmap(&mut self, virt: usize) -> Option<Frame> {
        let entry = self.entry(virt, false).ok()?;
        let old = core::mem::replace(entry, Entry::EMPTY);
        if !old.is_present() {
            return None;
        }
        self.resident -= 1;
        self.flush(virt);
        // SAFETY: a present user entry holds the reference `map` took; the
        // entry is cleared, so the reference passes to the returned handle.
        Some(unsafe { Frame::from_raw(old.frame()) })
    }

    /// The frame and permissions of the page holding `virt`.
    pub fn translate(&self, virt: usize) -> Option<(FrameRef<'_>, PageFlags)> {
        let pte = self.present_entry(virt)?;
        // SAFETY: the entry keeps the frame while `self` is borrowed (the view's lifetime).
        Some((unsafe { FrameRef::from_raw(pte.frame()) }, pte.page_flags()))
    }

    /// A copy-on-write copy of the user mappings, for a forked child, in
    /// one pass over the present page tables under one lock of the frame
    /// allocator: each mapped frame gets one more reference and is mapped
    /// read-only on both sides, so the first write on either side faults
    /// (the owner then copies it, or takes it back writable once it is no
    /// longer shared). A frame whose count is full is copied at once.
    /// None when frames for the child's tables or copies run out; the
    /// parent's pages may then be left read-only, which costs each one
    /// fault, nothing else.
    pub fn fork_copy_on_write(&mut self) -> Option<AddressSpace> {
        let mut child = AddressSpace::new()?;
        (child.resident, child.peak) = (self.resident, self.peak);
        // SAFETY: both directories belong to their objects; `&mut self`
        // makes the parent's exclusive, and the child is not shared yet.
        let (parent_dir, child_dir) = unsafe { (&*table_at(self.directory), &mut *table_at(child.directory)) };
        let complete = memory::with_allocator(|frames| {
            for (index, pde) in parent_dir.0.iter().enumerate().take(USER_END >> 22).skip(USER_START >> 22) {
                if !pde.is_present() {
                    continue;
                }
                let Some(table) = frames.alloc() else { return false };
                child_dir.0[index] = Entry::user_table(table);
                // SAFETY: user-range directory entries point at tables their
                // object allocated; the child's table is the frame just
                // allocated, distinct from every parent table.
                let (parent_table, child_table) = unsafe { (&mut *table_at(pde.frame()), &mut *table_at(table)) };
                *child_table = Table::EMPTY;
                let mut used = parent_table.next_used(0);
                while let Some(i) = used {
                    let own = &mut parent_table.0[i];
                    if own.is_present() {
                        child_table.0[i] = if frames.share(own.frame()) {
                            *own = own.read_only();
                            *own
                        } else if let Some(frame) = frames.alloc() {
                            // SAFETY: `frame` was just allocated and is distinct
                            // from the mapped frame, which this space holds; the
                            // physical map covers both.
                            unsafe {
                                core::ptr::copy_nonoverlapping(phys_to_virt(own.frame()) as *const u8, phys_to_virt(frame) as *mut u8, PAGE_SIZE)
                            };
                            Entry::user_page(frame, own.page_flags())
                        } else {
                            return false;
                        };
                    }
                    used = parent_table.next_used(i + 1);
                }
            }
            true
        });
        if self.is_active() {
            // SAFETY: reloading CR3 with its own value only drops the
            // non-global TLB entries (the parent's writable ones among them).
            unsafe { asm!("mov {t}, cr3", "mov cr3, {t}", t = out(reg) _, options(nostack)) }
        }
        // An incomplete child is dropped here, giving back what it holds.
        complete.then_some(child)
    }

    fn flush(&self, virt: usize) {
        if self.is_active() {
            // SAFETY: invalidating a TLB entry has no memory-safety effect.
            unsafe { asm!("invlpg [{}]", in(reg) virt, options(nostack, preserves_flags)) }
        }
    }
}

impl Drop for AddressSpace {
    /// Drops the frames still mapped (the space's references to them), then
    /// frees the user page tables and the directory.
    fn drop(&mut self) {
        if self.is_active() {
            activate_kernel();
        }
        // SAFETY: the directory frame belongs to this object and is no longer active.
        let dir = unsafe { &*table_at(self.directory) };
        // One lock of the allocator for every frame (an exit's teardown).
        memory::with_allocator(|frames| {
            let mut free = |frame: u64| assert!(frames.free(frame), "free of frame {frame:#x} that is not allocated");
            for pde in &dir.0[USER_START >> 22..USER_END >> 22] {
                if !pde.is_present() {
                    continue;
                }
                // SAFETY: user-range directory entries point at tables this object allocated.
                let table = unsafe { &*table_at(pde.frame()) };
                let mut used = table.next_used(0);
                while let Some(i) = used {
                    let pte = table.0[i];
                    if pte.is_present() {
                        // A present entry holds the reference `map` (or a
                        // fork) took; the table goes away with it, so the
                        // reference is dropped once.
                        free(pte.frame());
                    }
                    used = table.next_used(i + 1);
                }
                free(pde.frame());
            }
            free(self.directory);
        });
    }
}

/// Switches back to the kernel's own page directory.
pub(crate) fn activate_kernel() {
    // SAFETY: the kernel directory maps everything the kernel uses.
    unsafe { asm!("mov cr3, {}", in(reg) kernel_directory() as u32, options(nostack)) }
}
