//! The `/dev` and `/proc` files glibc and busybox expect, made up by the
//! kernel (the native template has no devtmpfs or procfs; under
//! `x86/lkl-qemu` LKL serves its own, and these are not reached):
//!
//! - devices: `/dev/null`, `/dev/zero`, `/dev/full`, `/dev/random` and
//!   `/dev/urandom` (the console names are in `syscall/open.rs`);
//! - `/proc` snapshots, generated at open as Linux's seq files are:
//!   `/proc/cpuinfo`, `/proc/meminfo`, `/proc/mounts`, `/proc/self/maps`
//!   (and `/proc/PID/...` for the caller's own pid);
//! - `/proc/self` links for readlink and stat: `exe`, `cwd`, `fd/N`, and
//!   the `/proc/self/fd` directory listing them.
//!
//! A snapshot's bytes live in [`SNAPSHOTS`] while a descriptor refers to it.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use embox_abi::Errno;

use super::files::FileKind;
use super::memory::AreaKind;
use super::process::Process;
use crate::hal::sync::IrqMutex;

/// A character device the kernel serves itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// Reads end at once; writes vanish.
    Null,
    /// Reads give zero bytes; writes vanish; mmap is anonymous memory.
    Zero,
    /// Reads give zero bytes; writes fail with ENOSPC.
    Full,
    /// Reads give pseudo-random bytes (`/dev/random` and `/dev/urandom`).
    Random,
}

impl Device {
    /// The device at `path`, if it is one of ours.
    pub fn at(path: &str) -> Option<Device> {
        Some(match path {
            "/dev/null" => Device::Null,
            "/dev/zero" => Device::Zero,
            "/dev/full" => Device::Full,
            "/dev/random" | "/dev/urandom" => Device::Random,
            _ => return None,
        })
    }

    /// Linux's (major, minor) for it (the `mem` driver's numbers).
    pub fn rdev(self) -> (u32, u32) {
        match self {
            Device::Null => (1, 3),
            Device::Zero => (1, 5),
            Device::Full => (1, 7),
            Device::Random => (1, 9),
        }
    }
}

/// Most snapshots open at once (each holds a few KiB of kernel heap).
const MAX_SNAPSHOTS: usize = 256;

struct Snapshot {
    bytes: Vec<u8>,
    refs: u32,
}

static SNAPSHOTS: IrqMutex<Vec<Option<Snapshot>>> = IrqMutex::new(Vec::new());

/// Keeps `bytes` as a snapshot; ENFILE when too many are open.
fn keep(bytes: Vec<u8>) -> Result<u32, Errno> {
    let mut table = SNAPSHOTS.lock();
    let slot = match table.iter().position(Option::is_none) {
        Some(i) => i,
        None if table.len() < MAX_SNAPSHOTS => {
            table.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
            table.push(None);
            table.len() - 1
        }
        None => return Err(Errno::ENFILE),
    };
    table[slot] = Some(Snapshot { bytes, refs: 1 });
    Ok(slot as u32)
}

/// Copies snapshot bytes from `offset` into `buf`; how many there were.
pub fn read_snapshot(id: u32, offset: u64, buf: &mut [u8]) -> usize {
    let table = SNAPSHOTS.lock();
    let Some(Some(s)) = table.get(id as usize) else { return 0 };
    let rest = s.bytes.get(offset.min(s.bytes.len() as u64) as usize..).unwrap_or(&[]);
    let n = rest.len().min(buf.len());
    buf[..n].copy_from_slice(&rest[..n]);
    n
}

/// The snapshot's length (lseek SEEK_END).
pub fn snapshot_len(id: u32) -> u64 {
    SNAPSHOTS.lock().get(id as usize).and_then(Option::as_ref).map_or(0, |s| s.bytes.len() as u64)
}

/// Another open-file slot refers to it (fork).
pub fn add_snapshot_ref(id: u32) {
    if let Some(Some(s)) = SNAPSHOTS.lock().get_mut(id as usize) {
        s.refs += 1;
    }
}

/// A slot referring to it went; the last one frees the bytes.
pub fn release_snapshot(id: u32) {
    let mut table = SNAPSHOTS.lock();
    if let Some(entry) = table.get_mut(id as usize) {
        if let Some(s) = entry {
            s.refs -= 1;
            if s.refs == 0 {
                *entry = None;
            }
        }
    }
}

/// `path` with `/proc/self/` or `/proc/<own pid>/` replaced by `self/`:
/// the part after `/proc/` when it is about the caller.
fn own_proc_path<'a>(p: &Process, path: &'a str) -> Option<&'a str> {
    let rest = path.strip_prefix("/proc/")?;
    let (first, tail) = rest.split_once('/').unwrap_or((rest, ""));
    if first == "self" || first.parse::<u32>() == Ok(p.pid) {
        Some(tail)
    } else {
        None
    }
}

/// What a `/proc/self` link points at: `exe`, `cwd`, `fd/N`.
pub fn proc_link(p: &Process, path: &str) -> Option<Result<String, Errno>> {
    let tail = own_proc_path(p, path)?;
    Some(match tail {
        "exe" => Ok(p.exe.clone()),
        "cwd" => Ok(p.cwd.get()),
        _ => {
            let fd = tail.strip_prefix("fd/")?.parse::<u32>().ok()?;
            p.files.get(fd).map(|f| match f.kind {
                FileKind::PipeRead(id) | FileKind::PipeWrite(id) => alloc::format!("pipe:[{}]", 0x4000_0000u64 + u64::from(id)),
                FileKind::Socket(id) => alloc::format!("socket:[{id}]"),
                FileKind::Unix(id) => alloc::format!("socket:[{}]", id + 0x10000),
                _ => f.path.clone(),
            })
        }
    })
}

/// The contents of a generated `/proc` file at `path`, or None when
/// `path` is not one.
fn generate(p: &Process, path: &str) -> Option<String> {
    let mut out = String::new();
    match path {
        "/proc/cpuinfo" => cpuinfo(&mut out),
        "/proc/meminfo" => meminfo(&mut out),
        "/proc/mounts" | "/proc/self/mounts" => {
            out.push_str("rootfs / rootfs rw 0 0\nproc /proc proc rw,nosuid,nodev,noexec 0 0\n");
        }
        _ => match own_proc_path(p, path)? {
            "maps" => maps(p, &mut out),
            "mounts" => return generate(p, "/proc/mounts"),
            _ => return None,
        },
    }
    Some(out)
}

/// Opens a generated `/proc` file: the snapshot's id, or None when `path`
/// is not one of them.
pub fn open_snapshot(p: &Process, path: &str) -> Option<Result<u32, Errno>> {
    generate(p, path).map(|text| keep(text.into_bytes()))
}

/// Opens a generated `/proc` directory (`/proc/self/fd`): a snapshot of
/// its entry names, one per line; None when `path` is not one.
pub fn open_proc_dir(p: &Process, path: &str) -> Option<Result<u32, Errno>> {
    is_proc_dir(p, path).then(|| {
        // The directory's own descriptor is listed too, as on Linux: it
        // gets the lowest free number.
        let mut fds = p.files.open_fds();
        let own = (0..).find(|n| !fds.contains(n)).unwrap_or(0);
        fds.push(own);
        fds.sort_unstable();
        let mut names = String::new();
        for fd in fds {
            let _ = writeln!(names, "{fd}");
        }
        keep(names.into_bytes())
    })
}

/// True when `path` is a generated `/proc` directory.
pub fn is_proc_dir(p: &Process, path: &str) -> bool {
    own_proc_path(p, path.trim_end_matches('/')) == Some("fd")
}

/// The entry names of a generated directory's snapshot.
pub fn proc_dir_entries(id: u32) -> Vec<String> {
    let table = SNAPSHOTS.lock();
    let Some(Some(s)) = table.get(id as usize) else { return Vec::new() };
    core::str::from_utf8(&s.bytes).unwrap_or("").lines().map(String::from).collect()
}

/// True when `path` names a file of this module (for stat and access).
pub fn is_proc_file(p: &Process, path: &str) -> bool {
    generate(p, path).is_some()
}

/// Linux's names of the CPUID.1:EDX bits, in bit order.
const EDX_FLAGS: [&str; 32] = [
    "fpu", "vme", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic", "", "sep", "mtrr", "pge", "mca", "cmov", "pat",
    "pse36", "pn", "clflush", "", "dts", "acpi", "mmx", "fxsr", "sse", "sse2", "ss", "ht", "tm", "ia64", "pbe",
];

fn cpuinfo(out: &mut String) {
    let vendor = crate::hal::usermode::cpu_vendor();
    let signature = crate::hal::usermode::cpu_signature();
    let hwcap = crate::hal::usermode::hwcap();
    let (family, model, stepping) = ((signature >> 8) & 0xf, (signature >> 4) & 0xf | ((signature >> 12) & 0xf0), signature & 0xf);
    let flags: Vec<&str> = (0..32).filter(|b| hwcap & (1 << b) != 0 && !EDX_FLAGS[*b as usize].is_empty()).map(|b| EDX_FLAGS[b as usize]).collect();
    let _ = write!(
        out,
        "processor\t: 0\nvendor_id\t: {}\ncpu family\t: {family}\nmodel\t\t: {model}\nstepping\t: {stepping}\nflags\t\t: {}\nbogomips\t: 2000.00\n\n",
        core::str::from_utf8(&vendor).unwrap_or("unknown"),
        flags.join(" ")
    );
}

fn meminfo(out: &mut String) {
    let frames = crate::hal::memory::frame_stats();
    let kib = |frames: u64| frames * 4;
    let _ = write!(
        out,
        "MemTotal:       {:8} kB\nMemFree:        {:8} kB\nMemAvailable:   {:8} kB\nBuffers:               0 kB\nCached:                0 kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\n",
        kib(frames.total),
        kib(frames.free),
        kib(frames.free)
    );
}

/// `/proc/self/maps`: one line per area, as Linux prints them: a file's
/// areas with their offset in it and its path, the heap and stack by
/// name, anonymous memory (a program's bss among it) without one. The
/// device is 00:00 (our files have none), the inode a file's node number
/// when the mapping knows it (0 for the program's own segments).
fn maps(p: &Process, out: &mut String) {
    let (heap_start, brk) = p.memory.brk_range();
    for area in p.memory.areas() {
        let bit = |on: bool, c: char| if on { c } else { '-' };
        // Linux's vma_is_initial_heap: an area overlapping the heap (musl's
        // guard pages inside it too).
        let heap = area.kind == AreaKind::Heap || (area.start < brk && area.end > heap_start);
        let name = match (&area.file, area.kind) {
            (Some(file), _) => &*file.path,
            // Linux's name for its shmem object behind shared anonymous memory.
            (None, _) if area.shared => "/dev/zero (deleted)",
            (None, AreaKind::Stack) => "[stack]",
            (None, _) if heap => "[heap]",
            (None, _) => "",
        };
        let offset = area.file.as_ref().map_or(0, |f| u64::from(f.page) * 4096);
        let inode = area.file.as_ref().and_then(|f| f.node).unwrap_or(0);
        let line = alloc::format!(
            "{:08x}-{:08x} {}{}{}{} {:08x} 00:00 {} ",
            area.start,
            area.end,
            bit(area.perms.read, 'r'),
            bit(area.perms.write, 'w'),
            bit(area.perms.exec, 'x'),
            if area.shared { 's' } else { 'p' },
            offset,
            inode
        );
        if name.is_empty() {
            let _ = writeln!(out, "{line}");
        } else {
            let _ = writeln!(out, "{line:<73}{name}");
        }
    }
}
