//! What the Linux layer uses of the rest of the kernel, in one place: the
//! file tree, the console, clocks, sleeping, and the running task's TLS.

use core::time::Duration;

use embox_abi::types::{Termios, Winsize};
use embox_abi::Errno;
use embox_fs::{FsError, Vfs};

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

const CTRL_C: u8 = 3;
const CTRL_D: u8 = 4;
const BACKSPACE: u8 = 8;
const DELETE: u8 = 127;

/// Reads a line from the console in cooked mode: echoes input, handles
/// backspace, returns at newline (included) or when `buf` is full; Ctrl-D
/// at the start of a line is end of file (0 bytes).
/// `None`: a signal interrupted the read before any byte came (EINTR; a
/// Ctrl-C drops the line typed so far, as the tty's ISIG does).
pub fn console_read(buf: &mut [u8]) -> Option<usize> {
    let echo = CONSOLE.lock().termios.c_lflag & 0o10 != 0; // ECHO
    let mut n = 0;
    while n < buf.len() {
        let b = match tty::read_byte_unless(super::interrupted) {
            None if n == 0 => return None,
            None => return Some(n),
            Some(b'\r') => b'\n',
            Some(b) => b,
        };
        match b {
            CTRL_C => return None, // SIGINT is posted: handled, or the program ends
            CTRL_D if n == 0 => return Some(0),
            CTRL_D => return Some(n),
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
pub fn set_tls_descriptor(slot: usize, descriptor: u64) {
    sched::with_current(|t| {
        if let Some(ctx) = t.context() {
            ctx.set_tls_descriptor(slot, descriptor);
        }
    });
}
