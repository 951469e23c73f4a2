//! The Linux i386 syscall layer: `int 0x80` with the number in EAX and up to
//! six arguments in EBX, ECX, EDX, ESI, EDI, EBP; the result (or `-errno`)
//! goes back in EAX.
//!
//! [`TABLE`] is the coverage report: every served number, in order, with
//! the unserved ranges between them as comments. Handlers live one family
//! per file, take the process and the raw arguments, wrap pointers in
//! [`user`] types and return `Result<u32, Errno>`; the only conversion to
//! `-errno` is [`embox_abi::errno::to_eax`] in [`dispatch`]. An unknown
//! number returns `-ENOSYS` and logs one line naming it and the program.

pub mod user;

mod dir;
mod exit;
mod fd;
mod ids;
mod io;
mod mm;
mod open;
mod signal;
mod stat;
mod system;
mod time;
mod tls;

use embox_abi::errno::{to_eax, SysResult};
use embox_abi::nr::*;
use embox_abi::Errno;

use crate::klog;
use crate::linux::process::Process;

/// The six argument registers, in order.
pub type Args = [u32; 6];
/// Handlers borrow the arguments: passing the array by value made every call
/// copy it with SSE moves, which would make the null syscall save the user's
/// FPU state (see `hal::fpu`).
pub type Handler = fn(&mut Process, &Args) -> SysResult;

/// Served syscalls, ordered by number. The comments between them list the
/// numbers we do not serve (they return -ENOSYS and log one line).
const TABLE: &[(u32, Handler)] = &[
    (EXIT, exit::exit),                                   // 1
    // 2: fork
    (READ, io::read),                                     // 3
    (WRITE, io::write),                                   // 4
    (OPEN, open::open),                                   // 5
    (CLOSE, open::close),                                 // 6
    (WAITPID, exit::wait4),                               // 7
    (CREAT, open::creat),                                 // 8
    (LINK, dir::link),                                    // 9
    (UNLINK, dir::unlink),                                // 10
    // 11: execve
    (CHDIR, dir::chdir),                                  // 12
    (TIME, time::time),                                   // 13
    // 14: mknod
    (CHMOD, stat::chmod),                                 // 15
    (LCHOWN, stat::chown),                                // 16
    // 17..=18: break, oldstat
    (LSEEK, io::lseek),                                   // 19
    (GETPID, ids::getpid),                                // 20
    // 21..=23: mount, umount, setuid
    (GETUID, ids::getuid),                                // 24
    // 25..=32: stime, ptrace, alarm, oldfstat, ...
    (ACCESS, stat::access),                               // 33
    // 34..=35: nice, ftime
    (SYNC, io::sync),                                     // 36
    (KILL, signal::kill),                                 // 37
    (RENAME, dir::rename),                                // 38
    (MKDIR, dir::mkdir),                                  // 39
    (RMDIR, dir::rmdir),                                  // 40
    (DUP, fd::dup),                                       // 41
    // 42: pipe
    (TIMES, time::times),                                 // 43
    // 44: prof
    (BRK, mm::brk),                                       // 45
    // 46: setgid
    (GETGID, ids::getgid),                                // 47
    // 48: signal
    (GETEUID, ids::geteuid),                              // 49
    (GETEGID, ids::getegid),                              // 50
    // 51..=53: acct, umount2, lock
    (IOCTL, fd::ioctl),                                   // 54
    (FCNTL, fd::fcntl),                                   // 55
    // 56: mpx
    (SETPGID, ids::setpgid),                              // 57
    // 58..=59: ulimit, oldolduname
    (UMASK, stat::umask),                                 // 60
    // 61..=62: chroot, ustat
    (DUP2, fd::dup2),                                     // 63
    (GETPPID, ids::getppid),                              // 64
    (GETPGRP, ids::getpgrp),                              // 65
    (SETSID, ids::setsid),                                // 66
    // 67..=75: sigaction, sgetmask, ssetmask, setreuid, ...
    (GETRLIMIT, system::getrlimit),                       // 76
    (GETRUSAGE, system::getrusage),                       // 77
    (GETTIMEOFDAY, time::gettimeofday),                   // 78
    // 79: settimeofday
    (GETGROUPS, ids::getgroups),                          // 80
    // 81..=82: setgroups, select
    (SYMLINK, dir::symlink),                              // 83
    // 84: oldlstat
    (READLINK, stat::readlink),                           // 85
    // 86..=89: uselib, swapon, reboot, readdir
    (MMAP, mm::old_mmap),                                 // 90
    (MUNMAP, mm::munmap),                                 // 91
    (TRUNCATE, io::truncate),                             // 92
    (FTRUNCATE, io::ftruncate),                           // 93
    (FCHMOD, stat::fchmod),                               // 94
    (FCHOWN, stat::fchown),                               // 95
    // 96..=113: getpriority, setpriority, profil, statfs, ...
    (WAIT4, exit::wait4),                                 // 114
    // 115: swapoff
    (SYSINFO, system::sysinfo),                           // 116
    // 117: ipc
    (FSYNC, io::fsync),                                   // 118
    // 119..=121: sigreturn, clone, setdomainname
    (UNAME, system::uname),                               // 122
    // 123..=124: modify_ldt, adjtimex
    (MPROTECT, mm::mprotect),                             // 125
    // 126..=131: sigprocmask, create_module, init_module, delete_module, ...
    (GETPGID, ids::getpgid),                              // 132
    (FCHDIR, dir::fchdir),                                // 133
    // 134..=139: bdflush, sysfs, personality, afs_syscall, ...
    (_LLSEEK, io::llseek),                                // 140
    // 141: getdents
    (_NEWSELECT, io::select),                             // 142
    // 143: flock
    (MSYNC, mm::msync),                                   // 144
    (READV, io::readv),                                   // 145
    (WRITEV, io::writev),                                 // 146
    (GETSID, ids::getsid),                                // 147
    (FDATASYNC, io::fsync),                               // 148
    // 149..=157: _sysctl, mlock, munlock, mlockall, ...
    (SCHED_YIELD, time::sched_yield),                     // 158
    // 159..=161: sched_get_priority_max, sched_get_priority_min, sched_rr_get_interval
    (NANOSLEEP, time::nanosleep),                         // 162
    (MREMAP, mm::mremap),                                 // 163
    // 164..=167: setresuid, getresuid, vm86, query_module
    (POLL, io::poll),                                     // 168
    // 169..=171: nfsservctl, setresgid, getresgid
    (PRCTL, system::prctl),                               // 172
    // 173: rt_sigreturn
    (RT_SIGACTION, signal::rt_sigaction),                 // 174
    (RT_SIGPROCMASK, signal::rt_sigprocmask),             // 175
    // 176..=179: rt_sigpending, rt_sigtimedwait, rt_sigqueueinfo, rt_sigsuspend
    (PREAD64, io::pread64),                               // 180
    (PWRITE64, io::pwrite64),                             // 181
    (CHOWN, stat::chown),                                 // 182
    (GETCWD, dir::getcwd),                                // 183
    // 184..=185: capget, capset
    (SIGALTSTACK, signal::sigaltstack),                   // 186
    // 187..=190: sendfile, getpmsg, putpmsg, vfork
    (UGETRLIMIT, system::getrlimit),                      // 191
    (MMAP2, mm::mmap2),                                   // 192
    (TRUNCATE64, io::truncate64),                         // 193
    (FTRUNCATE64, io::ftruncate64),                       // 194
    (STAT64, stat::stat64),                               // 195
    (LSTAT64, stat::lstat64),                             // 196
    (FSTAT64, stat::fstat64),                             // 197
    (LCHOWN32, stat::chown),                              // 198
    (GETUID32, ids::getuid),                              // 199
    (GETGID32, ids::getgid),                              // 200
    (GETEUID32, ids::geteuid),                            // 201
    (GETEGID32, ids::getegid),                            // 202
    // 203..=204: setreuid32, setregid32
    (GETGROUPS32, ids::getgroups),                        // 205
    // 206: setgroups32
    (FCHOWN32, stat::fchown),                             // 207
    // 208..=211: setresuid32, getresuid32, setresgid32, getresgid32
    (CHOWN32, stat::chown),                               // 212
    // 213..=218: setuid32, setgid32, setfsuid32, setfsgid32, ...
    (MADVISE, mm::madvise),                               // 219
    (GETDENTS64, dir::getdents64),                        // 220
    (FCNTL64, fd::fcntl),                                 // 221
    // 222..=223: -, -
    (GETTID, ids::gettid),                                // 224
    // 225..=237: readahead, setxattr, lsetxattr, fsetxattr, ...
    (TKILL, signal::tkill),                               // 238
    (SENDFILE64, io::sendfile64),                         // 239
    (FUTEX, time::futex),                                 // 240
    // 241: sched_setaffinity
    (SCHED_GETAFFINITY, system::sched_getaffinity),       // 242
    (SET_THREAD_AREA, tls::set_thread_area),              // 243
    (GET_THREAD_AREA, tls::get_thread_area),              // 244
    // 245..=251: io_setup, io_destroy, io_getevents, io_submit, ...
    (EXIT_GROUP, exit::exit_group),                       // 252
    // 253..=257: lookup_dcookie, epoll_create, epoll_ctl, epoll_wait, ...
    (SET_TID_ADDRESS, system::set_tid_address),           // 258
    // 259..=264: timer_create, timer_settime, timer_gettime, timer_getoverrun, ...
    (CLOCK_GETTIME, time::clock_gettime32),               // 265
    (CLOCK_GETRES, time::clock_getres32),                 // 266
    (CLOCK_NANOSLEEP, time::clock_nanosleep32),           // 267
    // 268..=269: statfs64, fstatfs64
    (TGKILL, signal::tgkill),                             // 270
    // 271..=294: utimes, fadvise64_64, vserver, mbind, ...
    (OPENAT, open::openat),                               // 295
    (MKDIRAT, dir::mkdirat),                              // 296
    // 297: mknodat
    (FCHOWNAT, stat::fchownat),                           // 298
    // 299: futimesat
    (FSTATAT64, stat::fstatat64),                         // 300
    (UNLINKAT, dir::unlinkat),                            // 301
    (RENAMEAT, dir::renameat),                            // 302
    (LINKAT, dir::link),                                  // 303
    (SYMLINKAT, dir::symlinkat),                          // 304
    (READLINKAT, stat::readlinkat),                       // 305
    (FCHMODAT, stat::fchmodat),                           // 306
    (FACCESSAT, stat::faccessat),                         // 307
    // 308: pselect6
    (PPOLL, io::ppoll32),                                 // 309
    // 310: unshare
    (SET_ROBUST_LIST, system::set_robust_list),           // 311
    // 312..=319: get_robust_list, splice, sync_file_range, tee, ...
    (UTIMENSAT, stat::utimensat),                         // 320
    // 321..=329: signalfd, timerfd_create, eventfd, fallocate, ...
    (DUP3, fd::dup3),                                     // 330
    // 331..=339: pipe2, inotify_init1, preadv, pwritev, ...
    (PRLIMIT64, system::prlimit64),                       // 340
    // 341..=352: name_to_handle_at, open_by_handle_at, clock_adjtime, syncfs, ...
    (RENAMEAT2, dir::renameat2),                          // 353
    // 354: seccomp
    (GETRANDOM, system::getrandom),                       // 355
    // 356..=382: memfd_create, bpf, execveat, socket, ...
    (STATX, stat::statx),                                 // 383
    // 384..=385: arch_prctl, io_pgetevents
    (RSEQ, system::rseq),                                 // 386
    // 387..=402: -, -, -, -, ...
    (CLOCK_GETTIME64, time::clock_gettime64),             // 403
    // 404..=405: clock_settime64, clock_adjtime64
    (CLOCK_GETRES_TIME64, time::clock_getres64),          // 406
    (CLOCK_NANOSLEEP_TIME64, time::clock_nanosleep64),    // 407
    // 408..=411: timer_gettime64, timer_settime64, timerfd_gettime64, timerfd_settime64
    (UTIMENSAT_TIME64, stat::utimensat),                  // 412
    // 413: pselect6_time64
    (PPOLL_TIME64, io::ppoll64),                          // 414
    // 415..=421: -, io_pgetevents_time64, recvmmsg_time64, mq_timedsend_time64, ...
    (FUTEX_TIME64, time::futex),                          // 422
    // 423..=438: sched_rr_get_interval_time64, pidfd_send_signal, io_uring_setup, io_uring_enter, ...
    (FACCESSAT2, stat::faccessat2),                       // 439
    // 440..=450: process_madvise, epoll_pwait2, mount_setattr, quotactl_fd, ...
];

/// Highest syscall number plus one.
const NR_LIMIT: usize = 451;

/// [`TABLE`] spread out by number, built at compile time (a direct index
/// keeps the null-syscall path short). Also checks the table is sorted.
const HANDLERS: [Option<Handler>; NR_LIMIT] = {
    let mut out: [Option<Handler>; NR_LIMIT] = [None; NR_LIMIT];
    let mut i = 0;
    while i < TABLE.len() {
        let nr = TABLE[i].0;
        assert!(i == 0 || TABLE[i - 1].0 < nr, "syscall TABLE must be sorted by number, without duplicates");
        out[nr as usize] = Some(TABLE[i].1);
        i += 1;
    }
    out
};

/// Calls that neither block, nor end the program, nor run long: the trap serves them
/// with interrupts masked, without taking the process out of its table.
const QUICK: &[u32] = &[
    GETPID, GETUID, GETGID, GETEUID, GETEGID, GETPPID, GETPGRP, GETUID32, GETGID32, GETEUID32, GETEGID32, GETTID,
    GETTIMEOFDAY, TIME, CLOCK_GETTIME, CLOCK_GETTIME64,
];

const IS_QUICK: [bool; NR_LIMIT] = {
    let mut out = [false; NR_LIMIT];
    let mut i = 0;
    while i < QUICK.len() {
        out[QUICK[i] as usize] = true;
        i += 1;
    }
    out
};

pub fn is_quick(nr: u32) -> bool {
    IS_QUICK.get(nr as usize).copied().unwrap_or(false)
}

/// Runs syscall `nr` for `process`; returns the value for EAX. Inlined into
/// the trap handler (one call layer fewer); tracing and unknown numbers
/// stay out of line.
#[inline]
pub fn dispatch(process: &mut Process, nr: u32, args: &Args) -> u32 {
    let result = match HANDLERS.get(nr as usize).copied().flatten() {
        Some(handler) => handler(process, args),
        None => unknown(process, nr),
    };
    if process.trace {
        trace(process, nr, args, &result);
    }
    to_eax(result)
}

/// `load_app --strace`: one log line per call, strace-like.
#[cold]
#[inline(never)]
fn trace(process: &Process, nr: u32, a: &Args, result: &SysResult) {
    let name = embox_abi::nr::name(nr).unwrap_or("?");
    match result {
        Ok(v) => klog!(
            "{}[{}]: {}({:#x}, {:#x}, {:#x}, {:#x}) = {:#x}",
            process.name, process.pid, name, a[0], a[1], a[2], a[3], v
        ),
        Err(e) => klog!(
            "{}[{}]: {}({:#x}, {:#x}, {:#x}, {:#x}) = -1 {}",
            process.name, process.pid, name, a[0], a[1], a[2], a[3], e.name()
        ),
    }
}

#[cold]
#[inline(never)]
fn unknown(process: &Process, nr: u32) -> SysResult {
    let name = embox_abi::nr::name(nr).unwrap_or("unassigned");
    klog!("{}[{}]: unknown syscall {} ({}), returning -ENOSYS", process.name, process.pid, nr, name);
    Err(Errno::ENOSYS)
}

/// Releases what an open file holds in the file tree (its last descriptor is gone).
pub fn release_file(file: crate::linux::files::OpenFile) {
    open::release(Some(file));
}
