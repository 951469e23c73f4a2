//! System facts and per-process settings: uname, rlimits (getrlimit,
//! ugetrlimit, prlimit64), getrusage, getrandom, and the calls libc makes
//! at start-up: set_tid_address, set_robust_list, rseq.

use alloc::vec;

use embox_abi::consts::rlimit::*;
use embox_abi::errno::SysResult;
use embox_abi::types::{Rlimit32, Rlimit64, Utsname};
use embox_abi::Errno;

use super::user::{UserPtr, UserSlice};
use crate::linux::files::MAX_FDS;
use crate::linux::memory::STACK_SIZE;
use crate::linux::process::Process;

/// What uname reports. The release looks like a modern Linux so that libcs
/// which check the kernel version ("FATAL: kernel too old") are satisfied.
pub const SYSNAME: &str = "Linux";
pub const NODENAME: &str = "embox";
pub const RELEASE: &str = "6.1.0-embox";
pub const VERSION: &str = "#1 Embox Rust kernel";
pub const MACHINE: &str = "i686";

/// uname(buf)
pub fn uname(p: &mut Process, buf: UserPtr<Utsname>) -> SysResult {
    let u = Utsname::new(SYSNAME, NODENAME, RELEASE, VERSION, MACHINE);
    buf.write(&mut p.memory, &u)?;
    Ok(0)
}

/// The limits we enforce (or that describe what we give), by resource.
fn limit(p: &Process, resource: u32) -> Result<(u64, u64), Errno> {
    match resource {
        RLIMIT_SIGPENDING => Ok(p.rt_queue.limit.get()),
        RLIMIT_STACK => Ok((STACK_SIZE as u64, RLIM_INFINITY)),
        RLIMIT_NOFILE => Ok((MAX_FDS as u64, MAX_FDS as u64)),
        RLIMIT_CORE => Ok((0, RLIM_INFINITY)),
        r if r < RLIM_NLIMITS => Ok((RLIM_INFINITY, RLIM_INFINITY)),
        _ => Err(Errno::EINVAL),
    }
}

/// getrlimit/ugetrlimit(resource, struct rlimit *): 32-bit values, infinity saturates.
pub fn getrlimit(p: &mut Process, resource: u32, rlim: UserPtr<Rlimit32>) -> SysResult {
    let (cur, max) = limit(p, resource)?;
    let clamp = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    rlim.write(&mut p.memory, &Rlimit32 { rlim_cur: clamp(cur), rlim_max: clamp(max) })?;
    Ok(0)
}

/// prlimit64(pid, resource, new, old): RLIMIT_SIGPENDING is kept and
/// enforced; other new limits are accepted and not enforced.
pub fn prlimit64(p: &mut Process, pid: u32, resource: u32, new: UserPtr<Rlimit64>, old: UserPtr<Rlimit64>) -> SysResult {
    if pid != 0 && pid != p.pid {
        return Err(Errno::ESRCH);
    }
    let (cur, max) = limit(p, resource)?;
    if let Some(new) = new.read_opt(&mut p.memory)? {
        set_limit(p, resource, new.rlim_cur.get(), new.rlim_max.get())?;
    }
    old.write_opt(&mut p.memory, &Rlimit64 { rlim_cur: cur.into(), rlim_max: max.into() })?;
    Ok(0)
}

/// A new (soft, hard) limit for `resource`: EINVAL when soft > hard.
fn set_limit(p: &mut Process, resource: u32, cur: u64, max: u64) -> Result<(), Errno> {
    if cur > max {
        return Err(Errno::EINVAL);
    }
    if resource == RLIMIT_SIGPENDING {
        p.rt_queue.limit.set(cur, max)?;
    }
    Ok(())
}

/// setrlimit(resource, struct rlimit *): 32-bit values, all ones is infinity.
pub fn setrlimit(p: &mut Process, resource: u32, rlim: UserPtr<Rlimit32>) -> SysResult {
    limit(p, resource)?;
    let new = rlim.read(&mut p.memory)?;
    let widen = |v: u32| if v == u32::MAX { RLIM_INFINITY } else { v as u64 };
    set_limit(p, resource, widen(new.rlim_cur), widen(new.rlim_max))?;
    Ok(0)
}

/// getrusage(who, struct rusage *): RUSAGE_SELF (0), RUSAGE_CHILDREN (-1)
/// or RUSAGE_THREAD (1); user and system time, the rest zero (72 bytes on
/// i386).
pub fn getrusage(p: &mut Process, who: i32, usage: UserPtr<[u8; RUSAGE_BYTES]>) -> SysResult {
    let of = match who {
        0 => crate::linux::CpuTimeOf::Process,
        -1 => crate::linux::CpuTimeOf::Children,
        1 => crate::linux::CpuTimeOf::Thread,
        _ => return Err(Errno::EINVAL),
    };
    let peak_kib = if of == crate::linux::CpuTimeOf::Children { 0 } else { p.memory.peak_kib() };
    usage.write(&mut p.memory, &rusage(crate::linux::usage(of, peak_kib)))?;
    Ok(0)
}

/// `sizeof(struct rusage)` on i386.
pub const RUSAGE_BYTES: usize = 72;

/// A `struct rusage` (i386): user and system time as two timevals, then
/// fourteen longs of which we keep maxrss (KiB), minflt, nvcsw and nivcsw;
/// majflt stays 0 (no fault here waits for I/O: file pages are in memory,
/// what Linux counts as minor too), the rest are 0 as on Linux.
pub fn rusage(u: crate::linux::Usage) -> [u8; RUSAGE_BYTES] {
    let mut words = [0u32; RUSAGE_BYTES / 4];
    let timeval = |ns: u64| [(ns / 1_000_000_000) as u32, ((ns % 1_000_000_000) / 1000) as u32];
    let long = |n: u64| n.min(i32::MAX as u64) as u32;
    [words[0], words[1]] = timeval(u.user_ns);
    [words[2], words[3]] = timeval(u.system_ns);
    words[4] = long(u.maxrss_kib);
    words[8] = long(u.min_flt);
    words[16] = long(u.nvcsw);
    words[17] = long(u.nivcsw);
    let mut out = [0u8; RUSAGE_BYTES];
    for (bytes, w) in out.chunks_exact_mut(4).zip(words) {
        bytes.copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// getrandom(buf, len, flags): bytes from the process's generator.
pub fn getrandom(p: &mut Process, buf: UserSlice, flags: u32) -> SysResult {
    let out = UserSlice::new(buf.addr, buf.len.min(1 << 20));
    if flags & !7 != 0 {
        return Err(Errno::EINVAL);
    }
    // Through a small buffer on the stack: the length a program asks for
    // never sizes a kernel allocation. A fault after some bytes gives the
    // count written so far, as Linux does.
    let mut block = [0u8; 256];
    let mut done = 0u32;
    while done < out.len {
        let n = (out.len - done).min(block.len() as u32) as usize;
        for chunk in block[..n].chunks_mut(8) {
            let r = p.next_random().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
        match p.memory.write(out.addr.wrapping_add(done), &block[..n]) {
            Ok(()) => done += n as u32,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}

/// set_tid_address(tidptr): the word zeroed and futex-woken when the
/// thread ends; returns the caller's tid.
pub fn set_tid_address(p: &mut Process, tidptr: UserPtr<u32>) -> SysResult {
    p.clear_child_tid = tidptr.addr;
    Ok(p.tid)
}

/// `sizeof(struct robust_list_head)` on i386.
const ROBUST_LIST_HEAD_SIZE: u32 = 12;

/// `struct robust_list_head` (list, futex_offset, list_op_pending); read
/// when the thread ends.
type RobustListHead = [u32; 3];

/// set_robust_list(head, len): kept for get_robust_list and walked when
/// the thread ends: locks it still holds are marked FUTEX_OWNER_DIED and a
/// waiter woken, so the next locker gets EOWNERDEAD.
pub fn set_robust_list(p: &mut Process, head: UserPtr<RobustListHead>, len: u32) -> SysResult {
    if len != ROBUST_LIST_HEAD_SIZE {
        return Err(Errno::EINVAL);
    }
    p.robust_list = (head.addr, len);
    Ok(0)
}

/// get_robust_list(tid, head_ptr, len_ptr): the caller's own (tid 0 or
/// its own tid); another thread's: ESRCH (not kept where we can reach it).
pub fn get_robust_list(p: &mut Process, tid: u32, head_ptr: UserPtr<u32>, len_ptr: UserPtr<u32>) -> SysResult {
    if tid != 0 && tid != p.tid {
        return Err(Errno::ESRCH);
    }
    let (head, len) = p.robust_list;
    head_ptr.write(&mut p.memory, &head)?;
    len_ptr.write(&mut p.memory, &if head == 0 { ROBUST_LIST_HEAD_SIZE } else { len })?;
    Ok(0)
}

/// rseq(rseq, len, flags, sig): registration succeeds; the kernel writes
/// CPU 0 into cpu_id_start/cpu_id once (one CPU, no migration, and no
/// preemption inside critical sections can move it elsewhere).
pub fn rseq(p: &mut Process, rseq: UserPtr<[u32; 2]>, len: u32, flags: u32) -> SysResult {
    const RSEQ_FLAG_UNREGISTER: u32 = 1;
    if flags & RSEQ_FLAG_UNREGISTER != 0 {
        return Ok(0);
    }
    if len < 32 || rseq.addr % 32 != 0 {
        return Err(Errno::EINVAL);
    }
    // cpu_id_start and cpu_id, the struct's first two words.
    rseq.write(&mut p.memory, &[0, 0])?;
    Ok(0)
}

/// prctl(option, ...): the task name (PR_SET_NAME/PR_GET_NAME, used by
/// busybox); other options are not served (EINVAL, as for unknown options).
/// The second argument of the options served is a 16-byte task name.
pub fn prctl(p: &mut Process, option: u32, name_buf: UserPtr<[u8; 16]>) -> SysResult {
    const PR_SET_NAME: u32 = 15;
    const PR_GET_NAME: u32 = 16;
    match option {
        PR_SET_NAME => {
            let name = p.memory.read_cstr(name_buf.addr, 16).unwrap_or_default();
            p.name = alloc::string::String::from_utf8_lossy(&name[..name.len().min(15)]).into_owned();
            Ok(0)
        }
        PR_GET_NAME => {
            let mut out = [0u8; 16];
            let n = p.name.len().min(15);
            out[..n].copy_from_slice(&p.name.as_bytes()[..n]);
            name_buf.write(&mut p.memory, &out)?;
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// sched_getaffinity(pid, size, mask): one CPU, CPU 0. Returns the bytes written.
pub fn sched_getaffinity(p: &mut Process, _pid: u32, size: u32, mask_ptr: UserPtr<u8>) -> SysResult {
    if size < 4 || size % 4 != 0 {
        return Err(Errno::EINVAL);
    }
    let mut mask = vec![0u8; size.min(128) as usize];
    mask[0] = 1;
    p.memory.write(mask_ptr.addr, &mask)?;
    Ok(mask.len() as u32)
}

/// sysinfo(info): uptime and memory from the frame allocator (i386 layout, 64 bytes).
pub fn sysinfo(p: &mut Process, info: UserPtr<[u8; 64]>) -> SysResult {
    let frames = crate::hal::memory::frame_stats();
    let uptime = crate::linux::env::monotonic().as_secs() as u32;
    let words: [u32; 10] = [
        uptime,
        0, 0, 0, // load averages
        frames.total as u32, // totalram, in pages (mem_unit below)
        frames.free as u32,  // freeram
        0, 0, 0, 0,          // shared, buffer, totalswap, freeswap
    ];
    let mut out = [0u8; 64];
    for (i, w) in words.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
    }
    out[40..42].copy_from_slice(&1u16.to_le_bytes()); // procs
    out[52..56].copy_from_slice(&4096u32.to_le_bytes()); // mem_unit
    info.write(&mut p.memory, &out)?;
    Ok(0)
}
