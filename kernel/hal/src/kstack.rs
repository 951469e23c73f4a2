//! Kernel stacks with guard pages.
//!
//! Every task's kernel stack is a 64 KiB slot in a region of kernel virtual
//! memory above the physical map ([`REGION_BASE`]): the lowest page of a
//! slot stays unmapped, the rest is backed by frames. Overflowing a stack
//! hits the guard page; the page fault cannot push its frame on that stack
//! either, so it becomes a double fault, which runs on its own stack and
//! reports the overflow (see `trap::double_fault`). The region's page tables
//! are made at boot and shared by every address space.

use crate::layout;
use crate::paging::{Entry, Table};
use crate::{memory, sync::IrqMutex};
use core::cell::UnsafeCell;

/// Start of the kernel stack region (just above the physical map).
pub const REGION_BASE: usize = layout::PHYS_MAP_BASE + layout::PHYS_MAP_LIMIT as usize;
/// Bytes per slot, guard page included.
pub const SLOT_SIZE: usize = 64 * 1024;
/// Usable bytes of a stack.
pub const STACK_SIZE: usize = SLOT_SIZE - layout::PAGE_SIZE;
const TABLES: usize = 4;
const SLOTS: usize = TABLES * 4 * 1024 * 1024 / SLOT_SIZE;
const PAGES_PER_SLOT: usize = SLOT_SIZE / layout::PAGE_SIZE;

struct Tables(UnsafeCell<[Table; TABLES]>);
// SAFETY: entries change only under the SLOTS_USED lock (interrupts masked, one CPU).
unsafe impl Sync for Tables {}
static PAGE_TABLES: Tables = Tables(UnsafeCell::new([const { Table::EMPTY }; TABLES]));

/// Bit set = slot in use.
static SLOTS_USED: IrqMutex<[u64; SLOTS / 64]> = IrqMutex::new([0; SLOTS / 64]);

/// Installs the region's page tables in the kernel page directory (before
/// any address space copies the kernel part of it).
pub(crate) fn init(directory: &mut Table) {
    for i in 0..TABLES {
        // SAFETY: only the address of the static table is taken.
        let table = unsafe { &raw const (*PAGE_TABLES.0.get())[i] } as u64;
        directory.0[REGION_BASE / (4 << 20) + i] = Entry::kernel_table(table);
    }
}

/// A kernel stack; its frames are freed when it is dropped.
pub struct KernelStack {
    slot: usize,
}

impl KernelStack {
    /// Maps a new stack. Panics when all slots or frames are used (a kernel
    /// with that many threads has a bug worth stopping for).
    pub fn new() -> Self {
        Self::try_new().expect("out of kernel stack slots or memory for a kernel stack")
    }

    /// Maps a new stack, or None when every slot or the frames are taken
    /// (what a user program's fork or clone gets: EAGAIN / ENOMEM, never a panic).
    pub fn try_new() -> Option<Self> {
        let slot = {
            let mut used = SLOTS_USED.lock();
            let slot = (0..SLOTS).find(|s| used[s / 64] & (1 << (s % 64)) == 0)?;
            used[slot / 64] |= 1 << (slot % 64);
            slot
        };
        // From here the slot is ours: on a missing frame, dropping the
        // stack frees the pages mapped so far and the slot.
        let stack = Self { slot };
        for page in 1..PAGES_PER_SLOT {
            let frame = memory::alloc_frame()?;
            let _guard = SLOTS_USED.lock();
            set_entry(slot * PAGES_PER_SLOT + page, Entry::kernel_page(frame, true));
        }
        Some(stack)
    }

    /// One past the highest byte of the stack.
    pub fn top(&self) -> usize {
        REGION_BASE + (self.slot + 1) * SLOT_SIZE
    }
}

impl Default for KernelStack {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for KernelStack {
    fn drop(&mut self) {
        let mut used = SLOTS_USED.lock();
        for page in 1..PAGES_PER_SLOT {
            let index = self.slot * PAGES_PER_SLOT + page;
            let old = set_entry(index, Entry::EMPTY);
            if !old.is_present() {
                continue; // never mapped (try_new ran out of frames)
            }
            let virt = REGION_BASE + index * layout::PAGE_SIZE;
            // SAFETY: invalidating a TLB entry has no memory-safety effect.
            unsafe { core::arch::asm!("invlpg [{}]", in(reg) virt, options(nostack, preserves_flags)) };
            memory::free_frame(old.frame());
        }
        used[self.slot / 64] &= !(1 << (self.slot % 64));
    }
}

fn set_entry(index: usize, value: Entry) -> Entry {
    // SAFETY: callers hold the SLOTS_USED lock and own the slot of `index`.
    unsafe { core::mem::replace(&mut (*PAGE_TABLES.0.get())[index / 1024].0[index % 1024], value) }
}

/// True if `addr` is in the guard page of a stack slot.
pub fn is_guard_page(addr: usize) -> bool {
    (REGION_BASE..REGION_BASE + SLOTS * SLOT_SIZE).contains(&addr) && (addr - REGION_BASE) % SLOT_SIZE < layout::PAGE_SIZE
}
