//! The GDT: flat ring-0 and ring-3 code/data segments, the TSS, and three
//! thread-local-storage slots for `set_thread_area`.
//!
//! Selectors (fixed, user code may rely on them as on Linux):
//! 0x08 kernel code, 0x10 kernel data, 0x1b user code, 0x23 user data,
//! 0x28 TSS, 0x33/0x3b/0x43 TLS entries 6..=8 (Linux's GDT_ENTRY_TLS_MIN).
//!
//! The TSS is only used for its `esp0`: the kernel stack the CPU switches to
//! on a trap from ring 3. [`set_kernel_stack`] is called on every task switch.

use core::arch::asm;
use core::cell::UnsafeCell;
use core::mem::size_of;

pub const KERNEL_CODE: u16 = 0x08;
pub const KERNEL_DATA: u16 = 0x10;
pub const USER_CODE: u16 = 0x1b;
pub const USER_DATA: u16 = 0x23;
pub const TSS_SELECTOR: u16 = 0x28;
/// First GDT index of the TLS slots, and how many there are.
pub const TLS_FIRST_ENTRY: usize = 6;
pub const TLS_ENTRIES: usize = 3;

const ENTRIES: usize = TLS_FIRST_ENTRY + TLS_ENTRIES;

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
}

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
};

/// A segment descriptor from base, limit (20 bits) and access/flag bytes.
pub const fn descriptor(base: u32, limit: u32, access: u8, flags: u8) -> u64 {
    (limit as u64 & 0xffff)
        | (base as u64 & 0xff_ffff) << 16
        | (access as u64) << 40
        | ((limit as u64 >> 16) & 0xf) << 48
        | ((flags as u64) & 0xf) << 52
        | ((base as u64 >> 24) & 0xff) << 56
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
pub fn set_kernel_stack(top: usize) {
    crate::cpu::without_interrupts(|| {
        // SAFETY: interrupts are masked and there is one CPU, so nothing else
        // reads or writes the TSS now; the CPU reads esp0 only on a ring change.
        unsafe { (*TABLES.tss.get()).esp0 = top as u32 }
    })
}

/// Installs a thread-local-storage descriptor (`slot` in 0..TLS_ENTRIES) and
/// returns its selector (RPL 3). The caller reloads the segment register.
pub fn set_tls_descriptor(slot: usize, descriptor: u64) -> u16 {
    assert!(slot < TLS_ENTRIES, "TLS slot {slot} out of range");
    let index = TLS_FIRST_ENTRY + slot;
    crate::cpu::without_interrupts(|| {
        // SAFETY: as in `set_kernel_stack`; a TLS slot is never the
        // descriptor of a segment register the kernel itself has loaded.
        unsafe { (*TABLES.gdt.get())[index] = descriptor }
    });
    (index as u16) << 3 | 3
}

/// Reads back a TLS descriptor (for saving it across task switches).
pub fn tls_descriptor(slot: usize) -> u64 {
    assert!(slot < TLS_ENTRIES, "TLS slot {slot} out of range");
    // SAFETY: a plain read of a static table on one CPU.
    crate::cpu::without_interrupts(|| unsafe { (*TABLES.gdt.get())[TLS_FIRST_ENTRY + slot] })
}
