//! What the Linux layer uses of the rest of the kernel, in one place: the
//! file tree, the console, clocks, sleeping, and the running task's TLS.

use core::time::Duration;

use embox_abi::types::{Termios, Winsize};
use embox_abi::Errno;
use crate::vfs::Vfs;
use embox_fs::FsError;

use crate::hal::sync::IrqMutex;
use crate::{sched, tty, vfs};

/// Runs `f` on the file tree (interrupts are masked meanwhile: keep it short).
pub fn with_vfs<R>(f: impl FnOnce(&mut Vfs) -> R) -> R {
    vfs::with(f)
}

/// True if `path` is a regular file a program can be loaded from: in LKL's
/// file system when LKL is up (the initramfs is copied there at boot), else
/// in the native tree. `load_app` finds programs the same way under both
/// templates.
pub fn is_program_file(path: &str) -> bool {
    if crate::lkl::is_up() {
        return crate::lkl::fs::is_file(path);
    }
    vfs::with(|vfs| vfs.lookup(path).map(|id| vfs.metadata(id).kind == embox_fs::FileKind::File).unwrap_or(false))
}

/// The bytes of the program file `path` (from where [`is_program_file`] looks).
pub fn read_program(path: &str) -> Result<alloc::vec::Vec<u8>, alloc::string::String> {
    if crate::lkl::is_up() {
        return crate::lkl::fs::read_file(path).map_err(|e| alloc::format!("LKL could not read it (errno {e})"));
    }
    vfs::with(|vfs| vfs.lookup(path).and_then(|id| vfs.read_all(id, usize::MAX))).map_err(|e| alloc::format!("{e}"))
}

/// The errno for a file-system error.
pub fn fs_errno(e: FsError) -> Errno {
    match e {
        FsError::NotFound => Errno::ENOENT,
        FsError::NotADirectory => Errno::ENOTDIR,
        FsError::IsADirectory => Errno::EISDIR,
        FsError::AlreadyExists => Errno::EEXIST,
        FsError::NotEmpty => Errno::ENOTEMPTY,
        FsError::Invalid => Errno::EINVAL,
        FsError::Loop => Errno::ELOOP,
        FsError::NameTooLong => Errno::ENAMETOOLONG,
        FsError::NoSpace => Errno::ENOSPC,
    }
}

pub fn console_write(bytes: &[u8]) {
    tty::write(bytes);
}

const BACKSPACE: u8 = 8;
const DELETE: u8 = 127;
/// termios bits the console honours.
const ISIG: u32 = 0o1;
const ICANON: u32 = 0o2;
const ECHO: u32 = 0o10;
const ICRNL: u32 = 0o400;
/// c_cc indexes.
const VINTR: usize = 0;
const VQUIT: usize = 1;
const VEOF: usize = 4;
const VSUSP: usize = 10;

/// Reads from the console as its termios says. Canonical mode (ICANON):
/// a line, echoed, with backspace, returned at newline (included) or when
/// `buf` is full; the EOF key at the start of a line is end of file (0
/// bytes). Raw mode: the bytes typed, at least one (waiting for it), no
/// line editing, echoed only with ECHO.
/// `None`: a signal interrupted the read before any byte came (EINTR; with
/// ISIG the interrupt, quit and suspend keys are signals, not input, and
/// drop the line typed so far).
pub fn console_read(buf: &mut [u8]) -> Option<usize> {
    let t = console_termios();
    let (canonical, echo) = (t.c_lflag & ICANON != 0, t.c_lflag & ECHO != 0);
    let signal_keys = [t.c_cc[VINTR], t.c_cc[VQUIT], t.c_cc[VSUSP]];
    let mut n = 0;
    while n < buf.len() {
        let next = if n > 0 && !canonical {
            // Raw mode: what is already there, without waiting for more.
            if !tty::on_console() {
                break;
            }
            match tty::read_byte_unless(|| true) {
                Some(b) => Some(b),
                None => break,
            }
        } else {
            tty::read_byte_unless(super::interrupted)
        };
        let b = match next {
            None if n == 0 => return None,
            None => return Some(n),
            Some(b'\r') if t.c_iflag & ICRNL != 0 => b'\n',
            Some(b) => b,
        };
        if t.c_lflag & ISIG != 0 && b != 0 && signal_keys.contains(&b) {
            // The signal is posted: handled, stopped, or the program ends.
            return None;
        }
        if !canonical {
            buf[n] = b;
            n += 1;
            if echo {
                tty::write(if b == b'\n' { b"\r\n" } else { core::slice::from_ref(&buf[n - 1]) });
            }
            continue;
        }
        match b {
            b if b == t.c_cc[VEOF] && n == 0 => return Some(0),
            b if b == t.c_cc[VEOF] => return Some(n),
            BACKSPACE | DELETE => {
                if n > 0 {
                    n -= 1;
                    if echo {
                        tty::write(b"\x08 \x08");
                    }
                }
            }
            _ => {
                buf[n] = b;
                n += 1;
                if echo {
                    tty::write(if b == b'\n' { b"\r\n" } else { core::slice::from_ref(&buf[n - 1]) });
                }
                if b == b'\n' {
                    break;
                }
            }
        }
    }
    Some(n)
}

struct ConsoleState {
    termios: Termios,
}

static CONSOLE: IrqMutex<ConsoleState> = IrqMutex::new(ConsoleState {
    termios: Termios { c_iflag: 0, c_oflag: 0, c_cflag: 0, c_lflag: 0, c_line: 0, c_cc: [0; embox_abi::types::NCCS] },
});

/// Console termios (the Linux default for a serial console until a program sets one).
pub fn console_termios() -> Termios {
    let mut state = CONSOLE.lock();
    if state.termios.c_cflag == 0 {
        state.termios = Termios::console_default();
    }
    state.termios
}

pub fn set_console_termios(t: Termios) {
    CONSOLE.lock().termios = t;
}

/// Back to the default mode (a new program on the console: a program
/// killed in raw mode must not leave the next one without Ctrl-C).
pub fn reset_console_termios() {
    CONSOLE.lock().termios = Termios::console_default();
}

/// ISIG: the interrupt, quit and suspend keys send signals.
pub fn console_signals_enabled() -> bool {
    console_termios().c_lflag & ISIG != 0
}

/// TOSTOP: a background process that writes to the console gets SIGTTOU.
pub fn console_stops_background_writes() -> bool {
    const TOSTOP: u32 = 0o400;
    console_termios().c_lflag & TOSTOP != 0
}

/// The serial console has no size of its own: report the classic 80x24.
pub fn console_winsize() -> Winsize {
    Winsize { ws_row: 24, ws_col: 80, ws_xpixel: 0, ws_ypixel: 0 }
}

pub fn monotonic() -> Duration {
    crate::hal::time::since_boot()
}

static REALTIME_OFFSET_NS: IrqMutex<Option<u64>> = IrqMutex::new(None);

/// Wall-clock time at boot in ns since the epoch (the RTC, read once).
pub fn realtime_offset_ns() -> u64 {
    if let Some(offset) = *REALTIME_OFFSET_NS.lock() {
        return offset;
    }
    let now = crate::hal::rtc::unix_time() * 1_000_000_000;
    let offset = now.saturating_sub(monotonic().as_nanos() as u64);
    *REALTIME_OFFSET_NS.lock() = Some(offset);
    offset
}

const SLEEP_SLICE: Duration = Duration::from_millis(20);

/// Sleeps at least `d` by the monotonic clock (the scheduler counts whole
/// timer ticks, and the current tick may be nearly over when we start).
/// Returns the time left when a signal ended it early (`None`: slept it out).
pub fn sleep(d: Duration) -> Option<Duration> {
    let deadline = monotonic() + d;
    loop {
        let now = monotonic();
        if now >= deadline {
            return None;
        }
        if super::interrupted() {
            return Some(deadline - now);
        }
        // In slices, so Ctrl-C ends a long sleep promptly.
        sched::sleep((deadline - now).min(SLEEP_SLICE));
    }
}

/// Blocks until a signal that interrupts the running program is posted
/// (sigsuspend, pause).
pub fn wait_for_signal() {
    crate::hal::cpu::without_interrupts(|| {
        if !super::interrupted() {
            sched::block(None);
        }
    });
}

pub fn yield_now() {
    sched::yield_now();
}

/// Installs a TLS descriptor for the running task (kept across switches).
pub fn set_tls_descriptor(slot: usize, descriptor: crate::hal::gdt::TlsDescriptor) {
    sched::with_current(|t| {
        if let Some(ctx) = t.context() {
            ctx.set_tls_descriptor(slot, descriptor);
        }
    });
}
