//! Multiboot (v1) entry: the header QEMU's `-kernel` looks for, the first
//! instructions, and the boot information the loader leaves us.
//!
//! `_start` runs with paging off and a flat 32-bit segment setup from the
//! loader. It sets the boot stack, clears `.bss`, turns SSE on (the i686
//! target's `core` uses SSE2, so this must precede any Rust code) and calls
//! `embox_main(magic, info)`, which the kernel binary defines.

use core::arch::global_asm;
use embox_mm::{PhysRange, RegionList};

const MULTIBOOT_MAGIC: u32 = 0x1bad_b002;
/// Flags: page-align modules (bit 0), provide the memory map (bit 1).
const MULTIBOOT_FLAGS: u32 = 0b11;
const LOADER_MAGIC: u32 = 0x2bad_b002;

/// Size of the stack the boot code (and later the idle task) runs on.
pub const BOOT_STACK_SIZE: usize = 64 * 1024;

global_asm!(
    r#"
.section .multiboot, "a"
.balign 4
.long {magic}
.long {flags}
.long {checksum}

.section .data.entry_tsc, "aw"
.balign 8
.global embox_entry_tsc
embox_entry_tsc:
.quad 0

.section .boot_stack, "aw", @nobits
.balign 16
.global embox_boot_stack_bottom
embox_boot_stack_bottom:
.skip {stack_size}
.global embox_boot_stack_top
embox_boot_stack_top:

.section .text.boot, "ax"
.global _start
_start:
    cli
    cld
    mov esp, offset embox_boot_stack_top
    mov esi, ebx
    mov ebx, eax
    rdtsc
    mov [embox_entry_tsc], eax
    mov [embox_entry_tsc + 4], edx
    mov edx, ebx
    mov edi, offset __bss_start
    mov ecx, offset __bss_end
    sub ecx, edi
    shr ecx, 2
    xor eax, eax
    rep stosd
    mov eax, cr0
    and eax, 0xfffffffb
    or eax, 0x22
    mov cr0, eax
    mov eax, cr4
    or eax, 0x600
    mov cr4, eax
    fninit
    sub esp, 8
    push esi
    push edx
    call embox_main
2:
    cli
    hlt
    jmp 2b
"#,
    magic = const MULTIBOOT_MAGIC,
    flags = const MULTIBOOT_FLAGS,
    checksum = const 0u32.wrapping_sub(MULTIBOOT_MAGIC + MULTIBOOT_FLAGS),
    stack_size = const BOOT_STACK_SIZE,
);

extern "C" {
    static embox_boot_stack_bottom: u8;
    static embox_boot_stack_top: u8;
    static embox_entry_tsc: u64;
}

/// The TSC at the kernel's first instruction (read before `.bss` is
/// cleared; `.data` keeps it): where boot timestamps count from.
pub(crate) fn entry_tsc() -> u64 {
    // SAFETY: written once by `_start` before any Rust code runs, never after.
    unsafe { core::ptr::read_volatile(&raw const embox_entry_tsc) }
}

/// Boot phases and the TSC at their end, for [`phases`].
static PHASES: crate::sync::IrqMutex<([(&str, u64); 16], usize)> = crate::sync::IrqMutex::new(([("", 0); 16], 0));

/// Records that the boot phase `name` ended now (the first 16 are kept),
/// and lets the TSC calibration window close if it is long enough.
pub fn mark(name: &'static str) {
    let tsc = crate::cpu::rdtsc();
    crate::time::poll_calibration();
    let mut phases = PHASES.lock();
    let (list, n) = &mut *phases;
    if *n < list.len() {
        list[*n] = (name, tsc);
        *n += 1;
    }
}

/// The recorded boot phases in order, each with how long it took (from the
/// previous mark, the first from kernel entry).
pub fn phases(mut each: impl FnMut(&'static str, core::time::Duration)) {
    let phases = PHASES.lock();
    let (list, n) = *phases;
    drop(phases);
    let mut last = entry_tsc();
    for &(name, tsc) in &list[..n] {
        each(name, crate::time::tsc_duration(tsc.wrapping_sub(last)));
        last = tsc;
    }
}

/// Physical (= virtual, identity-mapped) range of the boot stack.
pub fn boot_stack() -> (usize, usize) {
    (&raw const embox_boot_stack_bottom as usize, &raw const embox_boot_stack_top as usize)
}

/// What the loader told us, copied out of its structures at boot.
#[derive(Debug, Clone)]
pub struct BootInfo {
    /// Usable RAM (memory map type 1), before anything is taken out.
    pub ram: RegionList<32>,
    /// Physical range of the first module (the initramfs), if any.
    pub initrd: Option<PhysRange>,
    /// The kernel command line (`-append`), up to 255 bytes.
    pub cmdline: heapless_str::Str256,
    /// Set by `init` from `memory::init`: the initramfs bytes, mapped.
    pub initrd_bytes: Option<&'static [u8]>,
    /// Set by `init`: whether console output goes through virtio-serial
    /// (else the UART, and why).
    pub console: Result<(), crate::virtio_console::ProbeError>,
}

impl BootInfo {
    /// End of the highest usable RAM byte.
    pub fn memory_top(&self) -> u64 {
        self.ram.as_slice().last().map_or(0, |r| r.end)
    }

    /// When RAM reaches past what the kernel's physical map covers: the
    /// bytes of it that are used.
    pub fn ram_used_if_capped(&self) -> Option<u64> {
        (self.memory_top() > crate::layout::PHYS_MAP_LIMIT).then_some(crate::layout::PHYS_MAP_LIMIT)
    }
}

/// A small fixed-capacity string, so boot needs no heap.
pub mod heapless_str {
    #[derive(Clone, Copy)]
    pub struct Str256 {
        bytes: [u8; 256],
        len: usize,
    }
    impl Str256 {
        pub const fn new() -> Self {
            Self { bytes: [0; 256], len: 0 }
        }
        pub fn push_bytes(&mut self, b: &[u8]) {
            let n = b.len().min(256 - self.len);
            self.bytes[self.len..self.len + n].copy_from_slice(&b[..n]);
            self.len += n;
        }
        pub fn as_str(&self) -> &str {
            core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
        }
    }
    impl core::fmt::Debug for Str256 {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            core::fmt::Debug::fmt(self.as_str(), f)
        }
    }
}

#[repr(C)]
struct MultibootInfo {
    flags: u32,
    mem_lower: u32,
    mem_upper: u32,
    boot_device: u32,
    cmdline: u32,
    mods_count: u32,
    mods_addr: u32,
    syms: [u32; 4],
    mmap_length: u32,
    mmap_addr: u32,
}

#[repr(C)]
struct Module {
    start: u32,
    end: u32,
    string: u32,
    reserved: u32,
}

#[repr(C, packed)]
struct MmapEntry {
    size: u32,
    addr: u64,
    len: u64,
    kind: u32,
}

/// Reads the multiboot information (paging is still off: physical addresses
/// are directly usable).
pub(crate) fn parse(magic: u32, info_phys: u32) -> BootInfo {
    if magic != LOADER_MAGIC {
        crate::report::fatal(format_args!(
            "not started by a multiboot loader (magic {magic:#x}); boot with qemu-system-i386 -kernel"
        ));
    }
    let mut boot = BootInfo { ram: RegionList::new(), initrd: None, cmdline: heapless_str::Str256::new(), initrd_bytes: None, console: Err(crate::virtio_console::ProbeError::NotFound) };
    // SAFETY: a multiboot loader (checked by the magic) passes a valid info
    // structure; with paging off its physical address is directly readable.
    let info = unsafe { &*(info_phys as *const MultibootInfo) };
    if info.flags & (1 << 6) != 0 {
        let mut offset = 0;
        while offset + 4 <= info.mmap_length {
            // SAFETY: the entry lies within the loader's map [mmap_addr, +mmap_length).
            let entry = unsafe { core::ptr::read_unaligned((info.mmap_addr + offset) as *const MmapEntry) };
            if entry.kind == 1 {
                boot.ram.add(PhysRange::new(entry.addr, entry.addr.saturating_add(entry.len)));
            }
            offset += entry.size + 4;
        }
    } else if info.flags & 1 != 0 {
        boot.ram.add(PhysRange::new(0, info.mem_lower as u64 * 1024));
        boot.ram.add(PhysRange::new(0x10_0000, 0x10_0000 + info.mem_upper as u64 * 1024));
    }
    if info.flags & (1 << 3) != 0 && info.mods_count > 0 {
        // SAFETY: mods_addr points at mods_count module entries (multiboot spec).
        let module = unsafe { &*(info.mods_addr as *const Module) };
        boot.initrd = Some(PhysRange::new(module.start as u64, module.end as u64));
    }
    if info.flags & (1 << 2) != 0 && info.cmdline != 0 {
        let mut p = info.cmdline as *const u8;
        // SAFETY: the command line is a NUL-terminated string from the loader.
        unsafe {
            while *p != 0 {
                boot.cmdline.push_bytes(&[*p]);
                p = p.add(1);
            }
        }
    }
    boot
}
