//! The GDT: flat ring-0 and ring-3 code/data segments, the TSS, and three
//! thread-local-storage slots for `set_thread_area`.
//!
//! Selectors (fixed, user code may rely on them as on Linux):
//! 0x08 kernel code, 0x10 kernel data, 0x1b user code, 0x23 user data,
//! 0x28 TSS, 0x33/0x3b/0x43 TLS entries 6..=8 (Linux's GDT_ENTRY_TLS_MIN).
//!
//! The TSS is only used for its `esp0`: the kernel stack the CPU switches to
//! on a trap from ring 3. [`set_kernel_stack`] is called on every task switch.
//! A second TSS (0x48) serves the double-fault task gate: a double fault
//! (e.g. a kernel stack overflow) switches to its own stack and page
//! directory, so it is reported instead of resetting the machine.

use core::arch::asm;
use core::cell::UnsafeCell;
use core::mem::size_of;
use core::sync::atomic::{AtomicBool, Ordering};

pub(crate) const KERNEL_CODE: u16 = 0x08;
pub(crate) const KERNEL_DATA: u16 = 0x10;
pub const USER_CODE: u16 = 0x1b;
pub const USER_DATA: u16 = 0x23;
pub(crate) const TSS_SELECTOR: u16 = 0x28;
/// First GDT index of the TLS slots, and how many there are.
pub const TLS_FIRST_ENTRY: usize = 6;
pub const TLS_ENTRIES: usize = 3;

/// Selector of the double-fault TSS.
pub(crate) const DOUBLE_FAULT_TSS_SELECTOR: u16 = ((TLS_FIRST_ENTRY + TLS_ENTRIES) << 3) as u16;

const ENTRIES: usize = TLS_FIRST_ENTRY + TLS_ENTRIES + 1;
const DOUBLE_FAULT_STACK: usize = 8192;

#[repr(C, packed)]
struct Tss {
    link: u32,
    esp0: u32,
    ss0: u32,
    rest: [u32; 22],
    trap: u16,
    iomap_base: u16,
}

#[repr(C, packed)]
struct Pointer {
    limit: u16,
    base: u32,
}

/// Tables the CPU reads; written only with interrupts masked, on one CPU.
struct Tables {
    gdt: UnsafeCell<[u64; ENTRIES]>,
    tss: UnsafeCell<Tss>,
    double_fault_tss: UnsafeCell<Tss>,
}

struct Stack(UnsafeCell<[u128; DOUBLE_FAULT_STACK / 16]>);
// SAFETY: used only by the CPU as the double-fault handler's stack.
unsafe impl Sync for Stack {}
static DOUBLE_FAULT_STACK_MEM: Stack = Stack(UnsafeCell::new([0; DOUBLE_FAULT_STACK / 16]));

// SAFETY: one CPU; every write below happens with interrupts masked.
unsafe impl Sync for Tables {}

static TABLES: Tables = Tables {
    gdt: UnsafeCell::new([0; ENTRIES]),
    tss: UnsafeCell::new(Tss {
        link: 0,
        esp0: 0,
        ss0: KERNEL_DATA as u32,
        rest: [0; 22],
        trap: 0,
        iomap_base: size_of::<Tss>() as u16, // no I/O bitmap: ring 3 gets no ports
    }),
    double_fault_tss: UnsafeCell::new(Tss { link: 0, esp0: 0, ss0: 0, rest: [0; 22], trap: 0, iomap_base: size_of::<Tss>() as u16 }),
};

// Indices into `Tss::rest` (the fields after ss0), as the CPU lays them out.
const T_CR3: usize = 4;
const T_EIP: usize = 5;
const T_EFLAGS: usize = 6;
const T_EAX: usize = 7;
const T_ESP: usize = 11;
const T_EBP: usize = 12;
const T_ES: usize = 15;
const T_CS: usize = 16;
const T_SS: usize = 17;
const T_DS: usize = 18;

/// A segment descriptor from base, limit (20 bits) and access/flag bytes.
pub(crate) const fn descriptor(base: u32, limit: u32, access: u8, flags: u8) -> u64 {
    (limit as u64 & 0xffff)
        | (base as u64 & 0xff_ffff) << 16
        | (access as u64) << 40
        | ((limit as u64 >> 16) & 0xf) << 48
        | ((flags as u64) & 0xf) << 52
        | ((base as u64 >> 24) & 0xff) << 56
}

/// The fields of Linux's `struct user_desc` that describe a segment (what
/// `set_thread_area` and `clone(CLONE_SETTLS)` pass).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TlsSegment {
    pub base: u32,
    /// 20 bits; in pages with `limit_in_pages`.
    pub limit: u32,
    pub seg_32bit: bool,
    /// 0: data, 1: data expanding down, 2 and 3: code.
    pub contents: u32,
    pub read_exec_only: bool,
    pub limit_in_pages: bool,
    pub seg_not_present: bool,
    pub useable: bool,
}

/// What may sit in a TLS slot of the GDT: nothing, or a present, DPL-3,
/// 32-bit data segment (Linux's `tls_desc_okay`). There is no other way to
/// make one, so no TLS selector a program loads can make a segment reload
/// on the way back to ring 3 fault in the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TlsDescriptor(u64);

impl TlsDescriptor {
    /// An empty slot (a selector for it loads as unusable).
    pub const EMPTY: TlsDescriptor = TlsDescriptor(0);

    /// The descriptor Linux's `fill_ldt` builds from `segment`; `None` for
    /// a segment `tls_desc_okay` refuses (not present, 16-bit, or code).
    pub fn new(segment: &TlsSegment) -> Option<Self> {
        if !segment.seg_32bit || segment.contents > 1 || segment.seg_not_present {
            return None;
        }
        let kind = (segment.contents << 2) as u8 | if segment.read_exec_only { 0 } else { 2 };
        let access = 0x80 /* present */ | 0x60 /* DPL 3 */ | 0x10 /* code/data */ | kind;
        let flags = u8::from(segment.useable) | 1 << 2 /* 32-bit */ | (u8::from(segment.limit_in_pages) << 3);
        Some(TlsDescriptor(descriptor(segment.base, segment.limit, access, flags)))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

pub(crate) fn init() {
    let tss_base = TABLES.tss.get() as u32;
    let entries: [u64; ENTRIES] = [
        0,
        descriptor(0, 0xfffff, 0x9a, 0xc), // kernel code: present, ring 0, exec/read; 4K gran, 32-bit
        descriptor(0, 0xfffff, 0x92, 0xc), // kernel data
        descriptor(0, 0xfffff, 0xfa, 0xc), // user code: ring 3
        descriptor(0, 0xfffff, 0xf2, 0xc), // user data
        descriptor(tss_base, size_of::<Tss>() as u32 - 1, 0x89, 0x0), // available 32-bit TSS
        0,
        0,
        0,
        descriptor(TABLES.double_fault_tss.get() as u32, size_of::<Tss>() as u32 - 1, 0x89, 0x0),
    ];
    let pointer = Pointer { limit: (size_of::<[u64; ENTRIES]>() - 1) as u16, base: TABLES.gdt.get() as u32 };
    // SAFETY: boot runs single-threaded with interrupts off; the table is
    // static, so the pointer given to the CPU stays valid. Reloading every
    // segment register with the flat selectors keeps all addresses unchanged.
    unsafe {
        *TABLES.gdt.get() = entries;
        asm!(
            "lgdt [{ptr}]",
            "push {code}",
            "lea {tmp}, [2f]",
            "push {tmp}",
            "retf",
            "2:",
            "mov ds, {data:x}",
            "mov es, {data:x}",
            "mov fs, {data:x}",
            "mov gs, {data:x}",
            "mov ss, {data:x}",
            "ltr {tss:x}",
            ptr = in(reg) &pointer,
            code = const KERNEL_CODE as u32,
            tmp = out(reg) _,
            data = in(reg) KERNEL_DATA as u32,
            tss = in(reg) TSS_SELECTOR as u32,
        );
    }
}

/// Sets the stack the CPU switches to on a trap from ring 3.
pub(crate) fn set_kernel_stack(top: usize) {
    crate::cpu::without_interrupts(|| {
        // SAFETY: interrupts are masked and there is one CPU, so nothing else
        // reads or writes the TSS now; the CPU reads esp0 only on a ring change.
        unsafe { (*TABLES.tss.get()).esp0 = top as u32 }
    })
}

/// Set when a TLS descriptor changes; the trap stubs' return path then
/// reloads segment registers even if their selector is unchanged (the CPU
/// caches a descriptor when its selector is loaded), and clears it. While
/// it is clear, a TLS selector that is already loaded need not be reloaded.
pub(crate) static TLS_CHANGED: AtomicBool = AtomicBool::new(true);

/// Installs a thread-local-storage descriptor (`slot` in 0..TLS_ENTRIES) and
/// returns its selector (RPL 3). The caller reloads the segment register.
///
/// A descriptor that cannot be loaded into a data segment register (empty,
/// or not a present ring-3 data segment) also drops its selector from `fs`
/// and `gs` if they hold it (the kernel keeps the user's fs/gs loaded, and
/// the context switch reloads them): no later reload of a stale selector can
/// fault in kernel mode. Linux's `loadsegment` fixup does the same.
pub(crate) fn set_tls_descriptor(slot: usize, descriptor: TlsDescriptor) -> u16 {
    assert!(slot < TLS_ENTRIES, "TLS slot {slot} out of range");
    let TlsDescriptor(descriptor) = descriptor;
    let index = TLS_FIRST_ENTRY + slot;
    let selector = (index as u16) << 3;
    crate::cpu::without_interrupts(|| {
        // SAFETY: as in `set_kernel_stack`; a TLS slot is never the
        // descriptor of a segment register the kernel itself has loaded.
        let entry = unsafe { &mut (*TABLES.gdt.get())[index] };
        if *entry != descriptor {
            *entry = descriptor;
            TLS_CHANGED.store(true, Ordering::Relaxed);
        }
        if !loadable(descriptor, false) {
            let (fs, gs): (u32, u32);
            // SAFETY: reading segment registers has no side effects.
            unsafe { asm!("mov {0:e}, fs", "mov {1:e}, gs", out(reg) fs, out(reg) gs, options(nomem, nostack, preserves_flags)) };
            // SAFETY: loading the null selector into fs/gs never faults and
            // the kernel does not use fs/gs (it addresses through ds/ss).
            unsafe {
                if fs as u16 & !3 == selector {
                    asm!("mov fs, {0:e}", in(reg) 0u32, options(nomem, nostack, preserves_flags));
                }
                if gs as u16 & !3 == selector {
                    asm!("mov gs, {0:e}", in(reg) 0u32, options(nomem, nostack, preserves_flags));
                }
            }
        }
    });
    selector | 3
}

/// True when `descriptor` can be loaded from ring 3: present, DPL 3, a code
/// or data segment; for a stack (`ss`), a writable data segment.
const fn loadable(descriptor: u64, stack: bool) -> bool {
    let access = (descriptor >> 40) as u8;
    let present_dpl3_segment = access & 0xf0 == 0xf0;
    let is_code = access & 0x08 != 0;
    let writable = access & 0x02 != 0;
    present_dpl3_segment && (!stack || (!is_code && writable)) && (stack || !is_code || writable)
}

/// Whether returning to ring 3 can reload segment `selector` (taken from a
/// trap frame) without faulting. Only the TLS entries change under a
/// running program (`set_thread_area`); any other selector in a frame was
/// loaded by the program itself from a descriptor that never changes.
/// `stack`: the selector is for `ss` (null is not allowed there).
pub fn user_selector_loadable(selector: u32, stack: bool) -> bool {
    let selector = selector as u16;
    let index = (selector >> 3) as usize;
    let in_gdt = selector & 4 == 0;
    if !in_gdt || !(TLS_FIRST_ENTRY..TLS_FIRST_ENTRY + TLS_ENTRIES).contains(&index) {
        return !(stack && index == 0);
    }
    loadable(tls_descriptor(index - TLS_FIRST_ENTRY), stack)
}

/// Reads back the raw TLS descriptor in `slot`.
fn tls_descriptor(slot: usize) -> u64 {
    assert!(slot < TLS_ENTRIES, "TLS slot {slot} out of range");
    // SAFETY: a plain read of a static table on one CPU.
    crate::cpu::without_interrupts(|| unsafe { (*TABLES.gdt.get())[TLS_FIRST_ENTRY + slot] })
}

/// Prepares the double-fault TSS; called once paging is on (it runs with
/// the kernel page directory).
pub(crate) fn init_double_fault(kernel_directory: u32, handler: extern "C" fn() -> !) {
    let stack_top = DOUBLE_FAULT_STACK_MEM.0.get() as u32 + DOUBLE_FAULT_STACK as u32;
    // SAFETY: boot, interrupts off; the CPU reads this TSS only on a double fault.
    unsafe {
        let tss = &mut *TABLES.double_fault_tss.get();
        tss.rest[T_CR3] = kernel_directory;
        tss.rest[T_EIP] = handler as usize as u32;
        tss.rest[T_EFLAGS] = 0x2; // interrupts off
        tss.rest[T_ESP] = stack_top - 20; // as after a call: esp + 4 is 16-byte aligned
        tss.rest[T_EBP] = 0;
        tss.rest[T_CS] = KERNEL_CODE as u32;
        for seg in [T_ES, T_SS, T_DS] {
            tss.rest[seg] = KERNEL_DATA as u32;
        }
    }
}

/// Where the CPU was when the double fault hit (saved in the main TSS by
/// the task switch): eip, esp, eflags, cr3, eax..edi.
pub(crate) fn double_fault_state() -> [u32; 4] {
    // SAFETY: read after the task switch wrote the main TSS; one CPU, nothing runs concurrently.
    let tss = unsafe { &*TABLES.tss.get() };
    let rest = tss.rest;
    [rest[T_EIP], rest[T_ESP], rest[T_EFLAGS], rest[T_EAX]]
}
