//! The x86 (i386) hardware layer of the Embox kernel.
//!
//! `crate::…` here is the one surface the rest of the kernel sees of the
//! machine: everything that touches ports, control registers, descriptor
//! tables, page tables or raw memory lives in this crate, and nearly every
//! `unsafe` block of the kernel is here, each with a `// SAFETY:` line.
//! `embox-os` builds on the safe API below with `#![deny(unsafe_code)]`.
//!
//! Boot order (see [`init`]): serial → PIT → GDT/TSS → IDT → PIC → multiboot
//! memory map → paging → double-fault TSS → heap and frame allocator →
//! virtio-serial console (output leaves the UART) → timer and serial IRQs
//! unmasked. The multiboot entry point is in
//! [`boot`]; the kernel binary provides `embox_main`, which the entry calls.
#![no_std]

extern crate alloc;

pub mod boot;
pub mod context;
pub mod cpu;
pub mod crash;
pub mod fpu;
pub mod gdt;
pub mod heap;
pub mod idt;
pub mod kstack;
pub mod layout;
pub mod lkl;
mod mem;
pub mod memory;
pub mod paging;
pub mod pci;
pub mod netdev;
pub mod pic;
mod port;
pub mod power;
pub mod report;
pub mod rtc;
pub mod serial;
pub mod sync;
pub mod time;
pub mod trap;
mod uart;
pub mod usermode;
pub mod virtio;
pub mod virtio_console;
pub mod virtio_mmio;
pub mod virtio_net;

pub use boot::BootInfo;

/// Parameters of the hardware bring-up, chosen by the build template.
#[derive(Debug, Clone, Copy)]
pub struct HalConfig {
    /// Kernel heap size in bytes.
    pub heap_bytes: usize,
    /// Timer interrupt rate.
    pub timer_hz: u32,
}

/// Brings the machine up: console, descriptor tables, interrupt controller,
/// timer, paging, heap, frame allocator. Interrupts stay disabled; the caller
/// enables them with [`cpu::enable_interrupts`] once its handlers are set.
///
/// Must be called once, first thing, from `embox_main` with the values the
/// boot entry passed in.
pub fn init(magic: u32, info_phys: u32, config: &HalConfig) -> BootInfo {
    report::set_console_flush(virtio_console::flush);
    boot::mark("_start");
    serial::init();
    boot::mark("serial");
    time::init(config.timer_hz);
    gdt::init();
    idt::init();
    pic::init();
    let mut boot = boot::parse(magic, info_phys);
    boot::mark("gdt/idt/pic");
    paging::init(boot.memory_top());
    gdt::init_double_fault(paging::kernel_directory() as u32, trap::double_fault);
    boot::mark("paging");
    boot.initrd_bytes = memory::init(&boot.ram, boot.initrd, config.heap_bytes);
    boot::mark("memory");
    // Console output leaves the UART as soon as frames for the rings exist
    // (without the device, e.g. a plain `qemu -serial stdio`, the UART stays).
    let pci = pci::scan();
    boot::mark("pci");
    boot.console = virtio_console::start(&pci);
    boot::mark("console");
    time::finish_calibration();
    boot::mark("tsc calibration");
    pic::unmask(time::IRQ);
    pic::unmask(serial::IRQ);
    boot
}
