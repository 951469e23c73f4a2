//! The OS services of the Embox kernel, on top of the safe API of
//! `embox-hal`: kernel log ([`klog`]), tasks and the scheduler ([`sched`]),
//! the file tree ([`vfs`]), the console ([`tty`]) and the [`shell`].
//!
//! No `unsafe` here (`#![deny(unsafe_code)]`): whatever needs it belongs in
//! the hal.
#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

pub mod klog;
pub mod linux;
pub mod lkl;
pub mod net;
pub mod sched;
pub mod shell;
pub mod sync;
pub mod syscall;
pub mod sysinfo;
pub mod timer;
pub mod tty;
pub mod vfs;
pub mod wait;

pub use embox_hal as hal;

use hal::sync::IrqMutex;

/// Build-time configuration, from the template.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub heap_bytes: usize,
    pub timer_hz: u32,
    pub template: &'static str,
    /// LKL's memory in MiB (template `[kernel] lkl_memory_mib`; used with the `lkl` feature).
    pub lkl_memory_mib: u32,
    /// More of LKL's command line (template `[kernel] lkl_cmdline`).
    pub lkl_cmdline: &'static str,
    pub net: net::NetConfig,
}

static CONFIG: IrqMutex<Config> = IrqMutex::new(Config {
    heap_bytes: 0,
    timer_hz: 0,
    template: "",
    lkl_memory_mib: 0,
    lkl_cmdline: "",
    net: net::NetConfig { address: "", gateway: "", dhcp: false, telnet_port: 0, kernel_address: "" },
});

/// The configuration the kernel was built with.
pub fn config() -> Config {
    *CONFIG.lock()
}

/// Boots the kernel: hardware, memory, file tree, scheduler, then the shell
/// as a task; the boot context becomes the idle task. Never returns.
pub fn start(magic: u32, info: u32, config: &Config) -> ! {
    let boot = hal::init(magic, info, &hal::HalConfig { heap_bytes: config.heap_bytes, timer_hz: config.timer_hz });
    *CONFIG.lock() = *config;
    let frames = hal::memory::frame_stats();
    klog!(
        "Embox {} (template {}): {} MiB RAM, heap {} KiB, {} free frames, timer {} Hz",
        env!("CARGO_PKG_VERSION"),
        config.template,
        boot.ram.total() >> 20,
        config.heap_bytes / 1024,
        frames.free,
        hal::time::timer_hz()
    );
    if let Some(used) = boot.ram_used_if_capped() {
        klog!("memory: only the first {} MiB of RAM are used (the kernel's physical map ends there)", used >> 20);
    }
    match boot.console {
        Ok(()) => klog!("console: output through virtio-serial port 1, input on COM1"),
        Err(hal::virtio_console::ProbeError::NotFound) => klog!("console: COM1 (no virtio-serial device)"),
        Err(e) => klog!("console: COM1 ({e})"),
    }
    if !boot.cmdline.as_str().is_empty() {
        klog!("command line: {}", boot.cmdline.as_str());
    }
    vfs::init(boot.initrd_bytes);
    hal::boot::mark("vfs");
    sched::init();
    hal::boot::mark("sched");
    tty::init();
    linux::init();
    timer::init();
    hal::boot::mark("tty/linux/timer");
    lkl::init(config.lkl_memory_mib, config.lkl_cmdline);
    hal::boot::mark("lkl");
    net::init(&config.net);
    hal::boot::mark("net");
    sched::spawn("shell", shell_task);
    hal::cpu::enable_interrupts();
    sched::idle_loop()
}

fn shell_task() {
    let motd = vfs::with(|fs| fs.lookup("/etc/motd").and_then(|id| fs.read_all(id, 64 * 1024)));
    if let Ok(text) = motd {
        tty::write(&text);
    }
    if let lkl::State::Failed(e) = lkl::wait_booted() {
        klog!("lkl: not running (error {e}); programs are served natively");
    }
    hal::boot::mark("shell task");
    let mut text = alloc::string::String::new();
    hal::boot::phases(|name, d| text.push_str(&alloc::format!(" {name} {}.{:03}", d.as_micros() / 1000, d.as_micros() % 1000)));
    klog!("boot phases (ms):{text}");
    klog!("shell: ready");
    shell::Shell::new().run()
}

/// The kernel's panic handler: report and stop.
pub fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    hal::report::fatal(format_args!("{}", info))
}
