//! Booting LKL (the `lkl-boot` task) and giving it our root file system.

use super::{finish_boot, State};
use crate::hal::lkl::{kernel, Arg};
use crate::hal::time;
use crate::klog;
use alloc::ffi::CString;
use alloc::string::String;
use embox_fs::cpio;

// LKL's syscall numbers (asm-generic, the same on every LKL architecture).
const NR_MKDIRAT: u32 = 34;
const NR_FCHMODAT: u32 = 53;
const NR_SYMLINKAT: u32 = 36;
const NR_MOUNT: u32 = 40;
const NR_OPENAT: u32 = 56;
const NR_CLOSE: u32 = 57;
const NR_READ: u32 = 63;
const NR_WRITE: u32 = 64;
const NR_SYSINFO: u32 = 179;
const AT_FDCWD: isize = -100;
const O_WRONLY_CREAT_TRUNC: isize = 0o1 | 0o100 | 0o1000;
const EEXIST: isize = 17;
const ENODEV: isize = 19;

pub(super) fn run(memory_mib: u32, cmdline: &str) {
    // LKL's card (with --net), announced on its command line.
    let devices = super::netdev::command_line();
    let start = time::since_boot();
    // build.rs refuses a command line with a NUL.
    let cmdline = CString::new(alloc::format!("{cmdline} {}", devices.to_str().unwrap_or_default())).unwrap_or_default();
    if let Err(e) = kernel::start(memory_mib, &cmdline) {
        klog!("lkl: lkl_start_kernel failed: error {e}; Linux syscalls will not be forwarded");
        finish_boot(State::Failed(e));
        return;
    }
    let booted = time::since_boot() - start;
    klog!("lkl: booted in {}.{:03} ms ({} MiB of memory)", booted.as_millis(), booted.as_micros() % 1000, memory_mib);
    if !kernel::enable_quick() {
        klog!("lkl: this LKL has no quick syscall route (patches/lkl-tree not applied): every call takes lkl_syscall");
    }

    let start = time::since_boot();
    for (fs, dir) in [("proc", "/proc"), ("sysfs", "/sys"), ("devtmpfs", "/dev")] {
        match mount(fs, dir) {
            Ok(()) => {}
            // Not configured into this LKL (e.g. no CONFIG_DEVTMPFS): dmesg only.
            Err(ENODEV) => crate::klog::record(format_args!("lkl: {fs} is not built into this LKL; {dir} stays empty")),
            Err(e) => klog!("lkl: mounting {fs} on {dir} failed: error {e}"),
        }
    }
    // LKL can reclaim nothing (its files are ramfs, there is no swap), so
    // kswapd gives up on its zone and never lowers a watermark boost again:
    // after the first time a program filled LKL's memory, 4 MiB of its 32
    // stayed out of reach (tests/linux_compat.rs lkl_survives_a_full_file_system).
    if let Err(e) = write_file("/proc/sys/vm/watermark_boost_factor", b"0", 0o644) {
        klog!("lkl: turning LKL's watermark boost off failed: error {e}");
    }
    // Our native tree always has a world-writable /tmp (programs and the
    // corpus create their scratch directories there). LKL's is a tmpfs with
    // a size: a program that fills it gets ENOSPC, and LKL keeps the rest of
    // its memory for pipes, sockets and processes (LKL has no MMU, so its
    // tmpfs is ramfs; patches/lkl-tree/lkl-ramfs-size-limit.patch gives
    // ramfs size=). Mounted before the copy, so whatever the initramfs
    // brings under /tmp is in it.
    let initramfs = crate::vfs::initramfs();
    let size = tmp_size(initramfs.map_or(0, |a| a.len()));
    let options = c_path(&alloc::format!("size={}k,mode=1777", size / 1024));
    match mount_with("tmpfs", "/tmp", Arg::Str(&options)) {
        Ok(()) => klog!("lkl: /tmp is a tmpfs of {} KiB", size / 1024),
        Err(e) => {
            klog!("lkl: mounting a tmpfs on /tmp failed: error {e}; /tmp is part of the root, without a limit");
            if let Err(e) = mkdir("/tmp", 0o1777).and_then(|()| chmod("/tmp", 0o1777)) {
                klog!("lkl: creating /tmp failed: error {e}");
            }
        }
    }
    match initramfs {
        Some(archive) => match copy_initramfs(archive) {
            Ok((entries, bytes)) => {
                let took = time::since_boot() - start;
                klog!(
                    "lkl: root file system: {} initramfs entries ({} KiB) copied in {}.{:03} ms",
                    entries,
                    bytes / 1024,
                    took.as_millis(),
                    took.as_micros() % 1000
                );
            }
            Err(message) => klog!("lkl: copying the initramfs into LKL failed: {message}"),
        },
        None => klog!("lkl: no initramfs to copy; LKL's root holds only /proc, /sys, /dev, /tmp"),
    }
    super::netdev::configure();
    super::task::init();
    super::interrupt::init();
    finish_boot(State::Up);
}

fn sys(nr: u32, args: &mut [Arg<'_>]) -> Result<isize, isize> {
    let ret = kernel::syscall(nr, args);
    if ret < 0 {
        Err(-ret)
    } else {
        Ok(ret)
    }
}

fn c_path(path: &str) -> CString {
    CString::new(path).unwrap_or_else(|_| c"/.invalid-name".into())
}

fn mkdir(path: &str, mode: u32) -> Result<(), isize> {
    let p = c_path(path);
    match sys(NR_MKDIRAT, &mut [Arg::Int(AT_FDCWD), Arg::Str(&p), Arg::Int(mode as isize)]) {
        Ok(_) | Err(EEXIST) => Ok(()),
        Err(e) => Err(e),
    }
}

/// chmod: mkdirat's mode passes through LKL's umask, so sticky and
/// world-writable bits are set afterwards.
fn chmod(path: &str, mode: u32) -> Result<(), isize> {
    let p = c_path(path);
    sys(NR_FCHMODAT, &mut [Arg::Int(AT_FDCWD), Arg::Str(&p), Arg::Int(mode as isize)]).map(|_| ())
}

fn mkdir_parents(path: &str) -> Result<(), isize> {
    for (i, _) in path.match_indices('/').skip(1) {
        mkdir(&path[..i], 0o755)?;
    }
    Ok(())
}

fn mount(fstype: &str, dir: &str) -> Result<(), isize> {
    mount_with(fstype, dir, Arg::Null)
}

/// [`mount`] with file-system options (`data`: a C string, or Null).
fn mount_with(fstype: &str, dir: &str, data: Arg<'_>) -> Result<(), isize> {
    mkdir(dir, 0o755)?;
    let (source, target, fstype) = (c_path(fstype), c_path(dir), c_path(fstype));
    sys(NR_MOUNT, &mut [Arg::Str(&source), Arg::Str(&target), Arg::Str(&fstype), Arg::Int(0), data]).map(|_| ())
}

/// Memory LKL keeps beyond its watermarks when /tmp is full: pipes (64 KiB
/// each when full), socket buffers, the tasks of forked processes. Small:
/// with the corpus's 14 MiB initramfs in 32 MiB, every MiB here is one less
/// for /tmp.
const TMP_RESERVE: usize = 2 << 20;
/// /tmp's least size, whatever LKL has.
const TMP_MIN: usize = 1 << 20;

/// The size of LKL's /tmp, in bytes: LKL's free memory less the initramfs
/// about to be copied (`initramfs` bytes of archive), LKL's `min_free_kbytes`
/// (below it allocations fail) and [`TMP_RESERVE`].
fn tmp_size(initramfs: usize) -> usize {
    // asm-generic struct sysinfo with LKL's 32-bit longs: freeram at 20,
    // mem_unit at 52.
    let mut info = [0u8; 64];
    let free = match sys(NR_SYSINFO, &mut [Arg::Out(&mut info)]) {
        Ok(_) => {
            let word = |at: usize| u32::from_le_bytes([info[at], info[at + 1], info[at + 2], info[at + 3]]) as usize;
            word(20).saturating_mul(word(52).max(1))
        }
        Err(_) => 0,
    };
    let mut text = [0u8; 16];
    let min_free = read_file("/proc/sys/vm/min_free_kbytes", &mut text)
        .ok()
        .and_then(|n| core::str::from_utf8(&text[..n]).ok()?.trim().parse::<usize>().ok())
        .unwrap_or(0)
        * 1024;
    free.saturating_sub(initramfs + min_free + TMP_RESERVE).max(TMP_MIN)
}

/// Reads the start of `path` in LKL's tree into `buf`; the bytes read.
fn read_file(path: &str, buf: &mut [u8]) -> Result<usize, isize> {
    let p = c_path(path);
    let fd = sys(NR_OPENAT, &mut [Arg::Int(AT_FDCWD), Arg::Str(&p), Arg::Int(0), Arg::Int(0)])?;
    let n = buf.len();
    let read = sys(NR_READ, &mut [Arg::Int(fd), Arg::Out(buf), Arg::Int(n as isize)]);
    let _ = sys(NR_CLOSE, &mut [Arg::Int(fd)]);
    read.map(|n| n as usize)
}

/// Creates (or truncates) `path` in LKL's tree with `mode` and writes `data` to it.
fn write_file(path: &str, data: &[u8], mode: isize) -> Result<(), isize> {
    const EIO: isize = 5;
    let p = c_path(path);
    let fd = sys(NR_OPENAT, &mut [Arg::Int(AT_FDCWD), Arg::Str(&p), Arg::Int(O_WRONLY_CREAT_TRUNC), Arg::Int(mode)])?;
    let mut rest = data;
    let written = loop {
        if rest.is_empty() {
            break Ok(());
        }
        let n = rest.len();
        match sys(NR_WRITE, &mut [Arg::Int(fd), Arg::In(rest), Arg::Int(n as isize)]) {
            Ok(0) => break Err(EIO), // no progress
            Ok(written) => rest = &rest[written as usize..],
            Err(e) => break Err(e),
        }
    };
    let _ = sys(NR_CLOSE, &mut [Arg::Int(fd)]);
    written
}

/// Replays the newc archive into LKL's root (a ramfs): directories, files
/// with their permission bits, symlinks. Returns (entries, file bytes).
fn copy_initramfs(archive: &[u8]) -> Result<(usize, usize), String> {
    let (mut entries, mut bytes) = (0, 0);
    for entry in cpio::Reader::new(archive) {
        let entry = entry.map_err(|e| alloc::format!("{e}"))?;
        let path = embox_fs::normalize("/", entry.name);
        if path == "/" {
            continue;
        }
        let fail = |what: &str, e: isize| alloc::format!("{what} {path}: error {e}");
        mkdir_parents(&path).map_err(|e| fail("mkdir parents of", e))?;
        let permissions = (entry.mode & 0o7777) as isize;
        let p = c_path(&path);
        match entry.mode & cpio::S_IFMT {
            cpio::S_IFDIR => mkdir(&path, entry.mode & 0o7777).map_err(|e| fail("mkdir", e))?,
            cpio::S_IFLNK => {
                let target = CString::new(entry.data).map_err(|_| fail("symlink target of", 22))?;
                match sys(NR_SYMLINKAT, &mut [Arg::Str(&target), Arg::Int(AT_FDCWD), Arg::Str(&p)]) {
                    Ok(_) | Err(EEXIST) => {}
                    Err(e) => return Err(fail("symlink", e)),
                }
            }
            cpio::S_IFREG => {
                write_file(&path, entry.data, permissions).map_err(|e| fail("write", e))?;
                bytes += entry.data.len();
            }
            _ => continue, // device nodes, fifos: not in our initramfs
        }
        entries += 1;
    }
    Ok((entries, bytes))
}
