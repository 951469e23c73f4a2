//! QEMU as data: the `qemu-system-i386` command line for a kernel run, and
//! what QEMU's exit status means. Pure functions, no I/O; `run` executes them.
//!
//! The kernel and QEMU agree on one exit protocol: an `isa-debug-exit` device
//! at I/O port 0xf4. Writing `v` there makes QEMU exit with `(v << 1) | 1`, so
//! the kernel's `poweroff` (0x10) shows as 33 and a kernel fault (0x11) as 35;
//! neither can collide with QEMU's own 0 (clean shutdown / reset under
//! `-no-reboot`) and 1 (QEMU itself failed).

use std::fmt;

/// The QEMU binary inside the build image.
pub const QEMU_BINARY: &str = "qemu-system-i386";
/// I/O port of the isa-debug-exit device (the kernel writes its status here).
pub const DEBUG_EXIT_PORT: u16 = 0xf4;
/// Value the kernel writes on `poweroff`.
pub const DEBUG_EXIT_POWEROFF: u8 = 0x10;
/// Value the kernel writes after a fatal kernel fault.
pub const DEBUG_EXIT_FAULT: u8 = 0x11;
/// TCP port of QEMU's gdb stub (`-s`).
pub const GDB_PORT: u16 = 1234;

/// Which accelerator QEMU uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// How the serial console is wired to QEMU's stdio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SerialConsole {
    /// A user at a terminal: the QEMU monitor is multiplexed on stdio so
    /// ctrl-a x quits and ctrl-a c reaches the monitor, as in plain QEMU.
    Interactive,
    /// A script drives the console: raw bytes both ways, no escape key, so
    /// no byte the script types can be taken for a monitor command.
    Scripted,
}

/// The firmware QEMU starts the machine with, before it jumps to `-kernel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    /// qboot (Debian's qemu-system-data ships it): sets up only what a
    /// kernel loaded by QEMU needs and jumps to it. Under TCG QEMU start to
    /// our kernel's first instruction took about half of SeaBIOS's time
    /// (it translates half as much code: no POST, no option ROMs). It leaves
    /// PCI I/O BARs unassigned; our kernel assigns them (hal/src/pci.rs).
    Qboot,
    /// QEMU's default, SeaBIOS: a full PC BIOS (a Linux guest expects one).
    SeaBios,
}

/// Everything that varies between kernel runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QemuRun {
    /// Kernel image path as QEMU sees it (inside the container).
    pub kernel: String,
    /// Initramfs path as QEMU sees it; passed as the multiboot module.
    pub initrd: String,
    pub memory_mib: u32,
    pub accel: Accel,
    pub console: SerialConsole,
    /// Start halted and wait for gdb on [`GDB_PORT`] (`-s -S`).
    pub gdb: bool,
    /// A kernel command line (`-append`): only a Linux guest takes one
    /// (`run --linux-guest`); ours is a multiboot kernel configured by its template.
    pub append: Option<String>,
    pub firmware: Firmware,
    /// Appended as they are (`run --qemu-arg`, for benchmarks).
    pub extra: Vec<String>,
}

impl QemuRun {
    /// The full argv, program name first.
    pub fn argv(&self) -> Vec<String> {
        let mut argv: Vec<String> = vec![QEMU_BINARY.into()];
        let mut push = |args: &[&str]| argv.extend(args.iter().map(|a| a.to_string()));
        // Only the devices this line names: no default NIC (with its iPXE
        // ROM), VGA, floppy or CD-ROM to set up, and no host config file.
        push(&["-nodefaults", "-no-user-config"]);
        if self.firmware == Firmware::Qboot {
            push(&["-bios", "qboot.rom"]);
            // Nor machine parts our kernel never uses: ACPI tables (QEMU
            // builds them at start-up), the HPET, SMM and the VMware port.
            // QEMU start to kernel entry, 15 boots alternated under TCG:
            // min 61 -> 45 ms, median 99 -> 92 ms.
            push(&["-machine", "pc,acpi=off,hpet=off,smm=off,vmport=off"]);
        }
        push(&["-kernel", &self.kernel]);
        push(&["-initrd", &self.initrd]);
        if let Some(append) = &self.append {
            push(&["-append", append]);
        }
        push(&["-m", &self.memory_mib.to_string()]);
        push(&["-accel", self.accel.as_str()]);
        push(&[
            "-serial",
            match self.console {
                SerialConsole::Interactive => "mon:stdio",
                SerialConsole::Scripted => "stdio",
            },
        ]);
        // No monitor of its own and no display: stdio carries only the serial
        // console (plus the multiplexed monitor in interactive mode).
        push(&["-display", "none", "-monitor", "none"]);
        // Console output: the kernel prints through a virtio-serial port once it
        // has started it (a virtqueue buffer per host write instead of one
        // emulated UART write per byte), into QEMU's own stdout, so both
        // streams reach the same terminal or pipe in order. Input stays on
        // the serial port.
        // `ioeventfd=off`: QEMU handles a notify inside the guest's port
        // write instead of passing it to its main loop through an eventfd,
        // so the kernel's start-up handshake is not left waiting for that
        // thread, and setting DRIVER_OK does not set up an eventfd per
        // queue (under TCG the kernel's `console` boot phase took 20-48 ms
        // of wall time with them, 0.3-3 ms without). `max_ports=2` (ports 0
        // and 1): 6 queues instead of 64.
        push(&["-device", "virtio-serial-pci,ioeventfd=off,max_ports=2", "-chardev", "file,id=console,path=/proc/self/fd/1"]);
        // A port, not `virtconsole`: QEMU drops a virtconsole's output when
        // stdout is full, while a port waits for it.
        push(&["-device", "virtserialport,nr=1,chardev=console,name=embox.console"]);
        // A triple fault or a kernel reset ends the run instead of looping.
        push(&["-no-reboot"]);
        push(&["-device", &format!("isa-debug-exit,iobase={DEBUG_EXIT_PORT:#x},iosize=0x04")]);
        if self.gdb {
            push(&["-s", "-S"]);
        }
        argv.extend(self.extra.iter().cloned());
        argv
    }

    /// The argv as one shell-quoted line, for logs and error messages.
    pub fn command_line(&self) -> String {
        shell_join(&self.argv())
    }
}

/// qemu-system-i386 refuses more ("at most 2047 MB RAM can be simulated").
pub const MAX_MEMORY_MIB: u32 = 2047;
/// The kernel's default heap when the template sets no `heap_kib` (kernel/kernel/build.rs).
pub const DEFAULT_HEAP_KIB: u32 = 8192;
/// RAM the kernel needs besides its heap: the first MiB, the kernel image, its
/// boot structures and first frames (measured: 12 MiB leaves 8064 KiB for an 8 MiB heap).
const FIXED_MIB: u32 = 5;

/// The least guest memory that boots a kernel with this heap and initramfs.
pub fn min_memory_mib(heap_kib: u32, initramfs_bytes: u64) -> u32 {
    heap_kib.div_ceil(1024) + FIXED_MIB + initramfs_bytes.div_ceil(1 << 20) as u32
}

/// Why `memory_mib` cannot boot, if it cannot; `source` says where the value came from.
pub fn check_memory(memory_mib: u32, heap_kib: u32, initramfs_bytes: u64, source: &str) -> Result<(), String> {
    let least = min_memory_mib(heap_kib, initramfs_bytes);
    if memory_mib < least {
        return Err(format!(
            "{source} = {memory_mib} MiB is too little: the kernel needs at least {least} MiB \
             ({heap_kib} KiB heap + {FIXED_MIB} MiB for the kernel + {} MiB initramfs); give -m {least} or more",
            initramfs_bytes.div_ceil(1 << 20)
        ));
    }
    if memory_mib > MAX_MEMORY_MIB {
        return Err(format!(
            "{source} = {memory_mib} MiB is too much: qemu-system-i386 simulates at most {MAX_MEMORY_MIB} MiB; give -m {MAX_MEMORY_MIB} or less"
        ));
    }
    Ok(())
}

/// What a QEMU exit status says about the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QemuExit {
    /// The kernel powered off (`poweroff`, isa-debug-exit 0x10 → 33).
    PowerOff,
    /// The kernel reported a fatal fault (isa-debug-exit 0x11 → 35).
    KernelFault,
    /// QEMU exited 0: the guest reset (reboot, triple fault) under
    /// `-no-reboot`, or the user quit with ctrl-a x.
    Shutdown,
    /// The kernel wrote another value to the debug-exit port.
    DebugExit(u8),
    /// QEMU itself failed (bad arguments, missing kernel image, no KVM…).
    QemuError,
    /// QEMU was killed by a signal (128 + signal, as the container reports it).
    Killed(i32),
    /// Any other status.
    Other(i64),
}

impl QemuExit {
    pub fn decode(status: i64) -> QemuExit {
        match status {
            0 => QemuExit::Shutdown,
            1 => QemuExit::QemuError,
            s if s == debug_exit_status(DEBUG_EXIT_POWEROFF) => QemuExit::PowerOff,
            s if s == debug_exit_status(DEBUG_EXIT_FAULT) => QemuExit::KernelFault,
            // The debug-exit statuses are odd numbers up to 255; 128+N for small N
            // are also odd sometimes, but a signal death is far likelier there.
            129..=159 => QemuExit::Killed((status - 128) as i32),
            s if (3..=255).contains(&s) && s % 2 == 1 => QemuExit::DebugExit(((s - 1) / 2) as u8),
            s => QemuExit::Other(s),
        }
    }

    /// True when the run ended the way a user who asked for it expects.
    pub fn is_success(self) -> bool {
        matches!(self, QemuExit::PowerOff | QemuExit::Shutdown)
    }

    /// The exit code embctl itself returns for this run.
    pub fn embctl_exit_code(self) -> u8 {
        match self {
            QemuExit::PowerOff | QemuExit::Shutdown => 0,
            QemuExit::KernelFault => 2,
            QemuExit::DebugExit(_) | QemuExit::QemuError | QemuExit::Other(_) => 1,
            QemuExit::Killed(sig) => (128 + sig).clamp(1, 255) as u8,
        }
    }
}

/// `embctl run --help`'s exit-status section; `embctl_exit_code` and
/// `run::run_scripted` produce exactly these (the unit test below checks).
pub const RUN_EXIT_STATUSES: &str = "\
Exit status:
  0        the kernel powered off (every --cmd finished), or QEMU quit normally (ctrl-a x)
  1        embctl failed (engine, image, build, bad flag value), a --cmd timed out,
           --check-status saw a non-zero status, or QEMU itself failed
  2        the kernel stopped on a fatal fault (its report is on the console);
           also a command line clap refused (its message says which)
  128+N    QEMU was killed by signal N";

impl fmt::Display for QemuExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QemuExit::PowerOff => write!(f, "the kernel powered off"),
            QemuExit::KernelFault => write!(
                f,
                "kernel fault: the kernel stopped on a fatal exception (QEMU exit 35); its report is on the console above"
            ),
            QemuExit::Shutdown => write!(f, "QEMU exited normally (guest reset or ctrl-a x)"),
            QemuExit::DebugExit(v) => write!(
                f,
                "the kernel wrote {v:#x} to the debug-exit port (QEMU exit {}), which is neither poweroff (0x10) nor fault (0x11)",
                debug_exit_status(*v)
            ),
            QemuExit::QemuError => write!(
                f,
                "QEMU failed to start or run (exit 1); its message is above — check the kernel image with `embctl build`"
            ),
            QemuExit::Killed(sig) => write!(f, "QEMU was killed by signal {sig}"),
            QemuExit::Other(s) => write!(f, "QEMU exited with unexpected status {s}"),
        }
    }
}

/// The status QEMU exits with when the guest writes `value` to isa-debug-exit.
pub fn debug_exit_status(value: u8) -> i64 {
    (i64::from(value) << 1) | 1
}

/// Joins argv into one line a POSIX shell would split back into the same words.
pub fn shell_join(argv: &[String]) -> String {
    argv.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" ")
}

fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> QemuRun {
        QemuRun {
            kernel: "/ws/build/base/bin/embox".into(),
            initrd: "/ws/build/base/rootfs.cpio".into(),
            memory_mib: 128,
            accel: Accel::Tcg,
            console: SerialConsole::Scripted,
            gdb: false,
            append: None,
            firmware: Firmware::Qboot,
            extra: Vec::new(),
        }
    }

    /// The value following `flag` in argv.
    fn value_of<'a>(argv: &'a [String], flag: &str) -> Option<&'a str> {
        argv.iter().position(|a| a == flag).map(|i| argv[i + 1].as_str())
    }

    #[test]
    fn argv_has_kernel_initrd_memory_and_exit_device() {
        let argv = sample().argv();
        assert_eq!(argv[0], "qemu-system-i386");
        assert_eq!(value_of(&argv, "-kernel"), Some("/ws/build/base/bin/embox"));
        assert_eq!(value_of(&argv, "-initrd"), Some("/ws/build/base/rootfs.cpio"));
        assert_eq!(value_of(&argv, "-m"), Some("128"));
        assert_eq!(value_of(&argv, "-accel"), Some("tcg"));
        assert_eq!(value_of(&argv, "-display"), Some("none"));
        let devices: Vec<&str> = argv.iter().zip(&argv[1..]).filter(|(f, _)| *f == "-device").map(|(_, v)| v.as_str()).collect();
        assert!(devices.contains(&"isa-debug-exit,iobase=0xf4,iosize=0x04"), "{devices:?}");
        assert!(devices.contains(&"virtserialport,nr=1,chardev=console,name=embox.console"), "{devices:?}");
        assert!(devices.contains(&"virtio-serial-pci,ioeventfd=off,max_ports=2"), "{devices:?}");
        assert_eq!(value_of(&argv, "-chardev"), Some("file,id=console,path=/proc/self/fd/1"));
        assert!(argv.contains(&"-no-reboot".to_string()));
        assert!(!argv.contains(&"-S".to_string()));
        assert!(!argv.contains(&"-append".to_string()), "our multiboot kernel takes no command line");
        assert_eq!(value_of(&argv, "-bios"), Some("qboot.rom"));
        assert_eq!(value_of(&argv, "-machine"), Some("pc,acpi=off,hpet=off,smm=off,vmport=off"));
        assert!(argv.contains(&"-nodefaults".to_string()) && argv.contains(&"-no-user-config".to_string()));
    }

    #[test]
    fn seabios_is_qemus_default_firmware() {
        let mut run = sample();
        run.firmware = Firmware::SeaBios;
        assert_eq!(value_of(&run.argv(), "-bios"), None);
        assert_eq!(value_of(&run.argv(), "-machine"), None, "a Linux guest gets QEMU's whole PC");
    }

    #[test]
    fn a_linux_guest_gets_its_command_line() {
        let mut run = sample();
        run.append = Some("console=ttyS0 quiet".into());
        assert_eq!(value_of(&run.argv(), "-append"), Some("console=ttyS0 quiet"));
    }

    #[test]
    fn extra_arguments_come_last_as_given() {
        let mut run = sample();
        run.extra = vec!["-plugin".into(), "/ws/build/bench/insn-marks.so,out=x".into()];
        let argv = run.argv();
        assert_eq!(&argv[argv.len() - 2..], ["-plugin", "/ws/build/bench/insn-marks.so,out=x"]);
    }

    #[test]
    fn console_mode_selects_serial_backend() {
        let mut run = sample();
        assert_eq!(value_of(&run.argv(), "-serial"), Some("stdio"));
        run.console = SerialConsole::Interactive;
        assert_eq!(value_of(&run.argv(), "-serial"), Some("mon:stdio"));
    }

    #[test]
    fn kvm_and_gdb_flags() {
        let mut run = sample();
        run.accel = Accel::Kvm;
        run.gdb = true;
        run.memory_mib = 256;
        let argv = run.argv();
        assert_eq!(value_of(&argv, "-accel"), Some("kvm"));
        assert_eq!(value_of(&argv, "-m"), Some("256"));
        let s = argv.iter().position(|a| a == "-s").expect("-s present");
        assert_eq!(argv[s + 1], "-S");
    }

    #[test]
    fn exit_codes_decode_per_protocol() {
        assert_eq!(debug_exit_status(DEBUG_EXIT_POWEROFF), 33);
        assert_eq!(debug_exit_status(DEBUG_EXIT_FAULT), 35);
        assert_eq!(QemuExit::decode(33), QemuExit::PowerOff);
        assert_eq!(QemuExit::decode(35), QemuExit::KernelFault);
        assert_eq!(QemuExit::decode(0), QemuExit::Shutdown);
        assert_eq!(QemuExit::decode(1), QemuExit::QemuError);
        assert_eq!(QemuExit::decode(137), QemuExit::Killed(9));
        assert_eq!(QemuExit::decode(5), QemuExit::DebugExit(2));
        assert_eq!(QemuExit::decode(2), QemuExit::Other(2));
        assert_eq!(QemuExit::decode(-1), QemuExit::Other(-1));
    }

    #[test]
    fn embctl_exit_codes() {
        assert_eq!(QemuExit::PowerOff.embctl_exit_code(), 0);
        assert_eq!(QemuExit::Shutdown.embctl_exit_code(), 0);
        assert_ne!(QemuExit::KernelFault.embctl_exit_code(), 0);
        assert_ne!(QemuExit::QemuError.embctl_exit_code(), 0);
        assert_eq!(QemuExit::Killed(9).embctl_exit_code(), 137);
        assert!(QemuExit::KernelFault.to_string().contains("kernel fault"));
    }

    #[test]
    fn memory_below_the_heap_or_above_qemus_limit_is_refused() {
        // Measured: -m 12 panics (no room for the 8 MiB heap), -m 16 boots, -m 2048 is refused by QEMU.
        assert!(check_memory(12, 8192, 7324, "-m").unwrap_err().contains("at least 14 MiB"));
        assert!(check_memory(8, 8192, 0, "-m").is_err());
        assert!(check_memory(0, 8192, 0, "memory_mib").unwrap_err().starts_with("memory_mib = 0 MiB is too little"));
        check_memory(16, 8192, 7324, "-m").unwrap();
        check_memory(2047, 8192, 7324, "-m").unwrap();
        assert!(check_memory(2048, 8192, 0, "-m").unwrap_err().contains("at most 2047 MiB"));
        // A big --add needs room too.
        assert!(check_memory(16, 8192, 40 << 20, "-m").is_err());
    }

    #[test]
    fn run_help_lists_every_exit_code() {
        let documented = |code: u8| {
            RUN_EXIT_STATUSES.lines().any(|l| l.trim_start().starts_with(&format!("{code} ")))
                || (code > 128 && RUN_EXIT_STATUSES.contains("128+N"))
        };
        for exit in [
            QemuExit::PowerOff,
            QemuExit::Shutdown,
            QemuExit::KernelFault,
            QemuExit::QemuError,
            QemuExit::DebugExit(3),
            QemuExit::Other(7),
            QemuExit::Killed(15),
        ] {
            assert!(documented(exit.embctl_exit_code()), "{exit:?} -> {} is not in RUN_EXIT_STATUSES", exit.embctl_exit_code());
        }
    }

    #[test]
    fn command_line_quotes_only_what_needs_it() {
        let argv = vec!["gdb".to_string(), "-ex".into(), "target remote 1.2.3.4:1234".into(), "it's".into()];
        assert_eq!(shell_join(&argv), r"gdb -ex 'target remote 1.2.3.4:1234' 'it'\''s'");
    }
}
