//! The Linux i386 syscall layer: `int 0x80` with the number in EAX and up to
//! six arguments in EBX, ECX, EDX, ESI, EDI, EBP; the result (or `-errno`)
//! goes back in EAX.
//!
//! [`TABLE`] is the coverage report and the one place that says how each
//! call is served ([`Serve`]): natively, forwarded to LKL, or emulated.
//! Every served number is there, in order, with the unserved ranges between
//! them as comments. Under `x86/qemu` (or when LKL is not up) every call is
//! native; a process started while LKL is up forwards the `Lkl` rows
//! ([`forward`]). Handlers live one family per file, take the process and
//! the raw arguments, wrap pointers in [`user`] types and return
//! `Result<u32, Errno>`; the only conversion to `-errno` is
//! [`embox_abi::errno::to_eax`] in [`dispatch`] (forwarded calls pass LKL's
//! `-errno` through). An unknown number returns `-ENOSYS` and logs one line
//! naming it and the program.

pub mod args;
pub mod user;

mod dir;
mod exit;
mod fd;
mod forward;
mod futex;
mod lkl_door;
mod ids;
mod io;
mod mm;
mod open;
mod signal;
mod signalfd;
mod socket;
mod stat;
mod system;
mod time;
mod timer;
mod tls;
mod unix;

use core::sync::atomic::{AtomicBool, Ordering};

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

/// How one syscall is served.
#[derive(Clone, Copy)]
enum Serve {
    /// Ours under both templates: memory (brk, mmap, ...), process
    /// lifecycle, signals, TLS, clocks, sleeping, scheduling, and our
    /// per-process descriptor table, working directory and umask.
    Native(Handler),
    /// Forwarded to LKL as [`embox_lkl_abi::route::route`] says (files,
    /// directories, metadata, identity, uname, sockets); the handler serves
    /// it natively (x86/qemu, or a descriptor of ours such as the console).
    Lkl(Handler),
    /// Forwarded to LKL through a translating handler of [`forward`] (the
    /// second); the first serves it natively.
    LklVia(Handler, Handler),
    /// Forwarded to LKL by its route; not served natively (-ENOSYS and the
    /// unknown-syscall log line).
    LklOnly,
    /// Forwarded through a handler of [`forward`]; not served natively.
    LklOnlyVia(Handler),
    /// Neither ours nor LKL's: emulated the same way under both templates.
    Emulated(Handler),
}

use Serve::*;

/// A table [`Handler`] from a handler with typed arguments
/// ([`args::SyscallFn`]): decodes the registers into its argument types,
/// then calls it (inlined: no extra call layer).
macro_rules! sys {
    ($f:path) => {
        |p: &mut $crate::linux::process::Process, regs: &$crate::syscall::Args| -> embox_abi::errno::SysResult {
            $crate::syscall::args::SyscallFn::call($f, p, regs)
        }
    };
}
pub(crate) use sys;

/// Served syscalls, ordered by number. The comments between them list the
/// numbers we do not serve (they return -ENOSYS and log one line).
const TABLE: &[(u32, Serve)] = &[
    (EXIT, Native(sys!(exit::exit))),                          // 1
    (FORK, Native(sys!(exit::fork))),                          // 2
    (READ, Lkl(sys!(io::read))),                               // 3
    (WRITE, Lkl(sys!(io::write))),                             // 4
    (OPEN, Lkl(sys!(open::open))),                             // 5
    (CLOSE, Native(sys!(open::close))),                        // 6
    (WAITPID, Native(sys!(exit::waitpid))),                    // 7
    (CREAT, Lkl(sys!(open::creat))),                           // 8
    (LINK, Lkl(sys!(dir::link))),                              // 9
    (UNLINK, Lkl(sys!(dir::unlink))),                          // 10
    (EXECVE, Native(sys!(exit::execve))),                      // 11
    (CHDIR, LklVia(sys!(dir::chdir), sys!(forward::chdir))),   // 12
    (TIME, Native(sys!(time::time))),                          // 13
    (MKNOD, LklOnly),                                          // 14
    (CHMOD, Lkl(sys!(stat::chmod))),                           // 15
    (LCHOWN, Lkl(sys!(stat::chown))),                          // 16
    // 17..=18: break, oldstat
    (LSEEK, LklVia(sys!(io::lseek), sys!(forward::lseek))),    // 19
    (GETPID, Native(sys!(ids::getpid))),                       // 20
    // 21..=22: mount, umount
    (SETUID, LklOnly),                                         // 23
    (GETUID, Lkl(sys!(ids::getuid))),                          // 24
    // 25..=26: stime, ptrace
    (ALARM, Native(sys!(signal::alarm))),                      // 27
    // 28: oldfstat
    (PAUSE, Native(sys!(signal::pause))),                      // 29
    // 30..=32: utime, stty, gtty
    (ACCESS, Lkl(sys!(stat::access))),                         // 33
    // 34..=35: nice, ftime
    (SYNC, Lkl(sys!(io::sync))),                               // 36
    (KILL, Native(sys!(signal::kill))),                        // 37
    (RENAME, Lkl(sys!(dir::rename))),                          // 38
    (MKDIR, Lkl(sys!(dir::mkdir))),                            // 39
    (RMDIR, Lkl(sys!(dir::rmdir))),                            // 40
    (DUP, Native(sys!(fd::dup))),                              // 41
    (PIPE, LklVia(sys!(fd::pipe), sys!(forward::pipe))),       // 42
    (TIMES, Native(sys!(time::times))),                        // 43
    // 44: prof
    (BRK, Native(sys!(mm::brk))),                              // 45
    (SETGID, LklOnly),                                         // 46
    (GETGID, Lkl(sys!(ids::getgid))),                          // 47
    // 48: signal
    (GETEUID, Lkl(sys!(ids::geteuid))),                        // 49
    (GETEGID, Lkl(sys!(ids::getegid))),                        // 50
    // 51..=53: acct, umount2, lock
    (IOCTL, LklVia(sys!(fd::ioctl), sys!(forward::ioctl))),    // 54
    (FCNTL, LklVia(sys!(fd::fcntl), sys!(forward::fcntl))),    // 55
    // 56: mpx
    (SETPGID, Native(sys!(ids::setpgid))),                     // 57
    // 58..=59: ulimit, oldolduname
    (UMASK, Native(sys!(stat::umask))),                        // 60
    // 61..=62: chroot, ustat
    (DUP2, Native(sys!(fd::dup2))),                            // 63
    (GETPPID, Native(sys!(ids::getppid))),                     // 64
    (GETPGRP, Native(sys!(ids::getpgrp))),                     // 65
    (SETSID, Native(sys!(ids::setsid))),                       // 66
    // 67..=73: sigaction, sgetmask, ssetmask, setreuid, ...
    (SETHOSTNAME, LklOnly),                                    // 74
    (SETRLIMIT, Native(sys!(system::setrlimit))),              // 75
    (GETRLIMIT, Native(sys!(system::getrlimit))),              // 76
    (GETRUSAGE, Native(sys!(system::getrusage))),              // 77
    (GETTIMEOFDAY, Native(sys!(time::gettimeofday))),          // 78
    // 79: settimeofday
    (GETGROUPS, Native(sys!(ids::getgroups))),                 // 80
    // 81..=82: setgroups, select
    (SYMLINK, Lkl(sys!(dir::symlink))),                        // 83
    // 84: oldlstat
    (READLINK, Lkl(sys!(stat::readlink))),                     // 85
    // 86..=89: uselib, swapon, reboot, readdir
    (MMAP, Native(sys!(mm::old_mmap))),                        // 90
    (MUNMAP, Native(sys!(mm::munmap))),                        // 91
    (TRUNCATE, Lkl(sys!(io::truncate))),                       // 92
    (FTRUNCATE, Lkl(sys!(io::ftruncate))),                     // 93
    (FCHMOD, Lkl(sys!(stat::fchmod))),                         // 94
    (FCHOWN, Lkl(sys!(stat::fchown))),                         // 95
    // 96..=98: getpriority, setpriority, profil
    (STATFS, Native(sys!(stat::statfs))),                      // 99
    (FSTATFS, Native(sys!(stat::fstatfs))),                    // 100
    // 101: ioperm
    (SOCKETCALL, LklVia(sys!(socket::socketcall), sys!(forward::socketcall))), // 102
    // 103: syslog
    (SETITIMER, Native(sys!(signal::setitimer))),              // 104
    (GETITIMER, Native(sys!(signal::getitimer))),              // 105
    // 106..=113: stat, lstat, fstat, olduname, ...
    (WAIT4, Native(sys!(exit::wait4))),                        // 114
    // 115: swapoff
    (SYSINFO, Native(sys!(system::sysinfo))),                  // 116
    // 117: ipc
    (FSYNC, Lkl(sys!(io::fsync))),                             // 118
    (SIGRETURN, Native(sys!(signal::sigreturn))),              // 119
    (CLONE, Native(sys!(exit::clone))),                        // 120
    // 121: setdomainname
    (UNAME, Lkl(sys!(system::uname))),                         // 122
    // 123..=124: modify_ldt, adjtimex
    (MPROTECT, Native(sys!(mm::mprotect))),                    // 125
    // 126..=131: sigprocmask, create_module, init_module, delete_module, ...
    (GETPGID, Native(sys!(ids::getpgid))),                     // 132
    (FCHDIR, LklVia(sys!(dir::fchdir), sys!(forward::fchdir))), // 133
    // 134..=139: bdflush, sysfs, personality, afs_syscall, ...
    (_LLSEEK, LklVia(sys!(io::llseek), sys!(forward::llseek_i386))), // 140
    (GETDENTS, LklOnlyVia(sys!(forward::getdents))),           // 141
    (_NEWSELECT, Emulated(sys!(io::select))),                  // 142
    (FLOCK, LklOnly),                                          // 143
    (MSYNC, Native(sys!(mm::msync))),                          // 144
    (READV, LklVia(sys!(io::readv), sys!(forward::readv))),    // 145
    (WRITEV, LklVia(sys!(io::writev), sys!(forward::writev))), // 146
    (GETSID, Native(sys!(ids::getsid))),                       // 147
    (FDATASYNC, Lkl(sys!(io::fsync))),                         // 148
    // 149..=157: _sysctl, mlock, munlock, mlockall, ...
    (SCHED_YIELD, Native(sys!(time::sched_yield))),            // 158
    // 159..=161: sched_get_priority_max, sched_get_priority_min, sched_rr_get_interval
    (NANOSLEEP, Native(sys!(time::nanosleep))),                // 162
    (MREMAP, Native(sys!(mm::mremap))),                        // 163
    // 164..=167: setresuid, getresuid, vm86, query_module
    (POLL, Emulated(sys!(io::poll))),                          // 168
    // 169..=171: nfsservctl, setresgid, getresgid
    (PRCTL, Native(sys!(system::prctl))),                      // 172
    (RT_SIGRETURN, Native(sys!(signal::rt_sigreturn))),        // 173
    (RT_SIGACTION, Native(sys!(signal::rt_sigaction))),        // 174
    (RT_SIGPROCMASK, Native(sys!(signal::rt_sigprocmask))),    // 175
    (RT_SIGPENDING, Native(sys!(signal::rt_sigpending))),      // 176
    (RT_SIGTIMEDWAIT, Native(sys!(signal::rt_sigtimedwait))),  // 177
    (RT_SIGQUEUEINFO, Native(sys!(signal::rt_sigqueueinfo))),  // 178
    (RT_SIGSUSPEND, Native(sys!(signal::rt_sigsuspend))),      // 179
    (PREAD64, Lkl(sys!(io::pread64))),                         // 180
    (PWRITE64, Lkl(sys!(io::pwrite64))),                       // 181
    (CHOWN, Lkl(sys!(stat::chown))),                           // 182
    (GETCWD, Native(sys!(dir::getcwd))),                       // 183
    // 184..=185: capget, capset
    (SIGALTSTACK, Native(sys!(signal::sigaltstack))),          // 186
    (SENDFILE, LklVia(sys!(io::sendfile), sys!(forward::sendfile))), // 187
    // 188..=189: getpmsg, putpmsg
    (VFORK, Native(sys!(exit::vfork))),                        // 190
    (UGETRLIMIT, Native(sys!(system::getrlimit))),             // 191
    (MMAP2, Native(sys!(mm::mmap2))),                          // 192
    (TRUNCATE64, Lkl(sys!(io::truncate64))),                   // 193
    (FTRUNCATE64, Lkl(sys!(io::ftruncate64))),                 // 194
    (STAT64, LklVia(sys!(stat::stat64), sys!(forward::stat64))), // 195
    (LSTAT64, LklVia(sys!(stat::lstat64), sys!(forward::lstat64))), // 196
    (FSTAT64, LklVia(sys!(stat::fstat64), sys!(forward::fstat64))), // 197
    (LCHOWN32, Lkl(sys!(stat::chown))),                        // 198
    (GETUID32, Lkl(sys!(ids::getuid))),                        // 199
    (GETGID32, Lkl(sys!(ids::getgid))),                        // 200
    (GETEUID32, Lkl(sys!(ids::geteuid))),                      // 201
    (GETEGID32, Lkl(sys!(ids::getegid))),                      // 202
    (SETREUID32, LklOnly),                                     // 203
    (SETREGID32, LklOnly),                                     // 204
    (GETGROUPS32, Lkl(sys!(ids::getgroups))),                  // 205
    (SETGROUPS32, LklOnly),                                    // 206
    (FCHOWN32, Lkl(sys!(stat::fchown))),                       // 207
    (SETRESUID32, LklOnly),                                    // 208
    (GETRESUID32, LklOnly),                                    // 209
    (SETRESGID32, LklOnly),                                    // 210
    (GETRESGID32, LklOnly),                                    // 211
    (CHOWN32, Lkl(sys!(stat::chown))),                         // 212
    (SETUID32, LklOnly),                                       // 213
    (SETGID32, LklOnly),                                       // 214
    (SETFSUID32, LklOnly),                                     // 215
    (SETFSGID32, LklOnly),                                     // 216
    // 217..=218: pivot_root, mincore
    (MADVISE, Native(sys!(mm::madvise))),                      // 219
    (GETDENTS64, Lkl(sys!(dir::getdents64))),                  // 220
    (FCNTL64, LklVia(sys!(fd::fcntl), sys!(forward::fcntl))),  // 221
    // 222..=223: -, -
    (GETTID, Native(sys!(ids::gettid))),                       // 224
    // 225..=237: readahead, setxattr, lsetxattr, fsetxattr, ...
    (TKILL, Native(sys!(signal::tkill))),                      // 238
    (SENDFILE64, LklVia(sys!(io::sendfile64), sys!(forward::sendfile64))), // 239
    (FUTEX, Native(sys!(futex::futex32))),                     // 240
    // 241: sched_setaffinity
    (SCHED_GETAFFINITY, Native(sys!(system::sched_getaffinity))), // 242
    (SET_THREAD_AREA, Native(sys!(tls::set_thread_area))),     // 243
    (GET_THREAD_AREA, Native(sys!(tls::get_thread_area))),     // 244
    // 245..=251: io_setup, io_destroy, io_getevents, io_submit, ...
    (EXIT_GROUP, Native(sys!(exit::exit_group))),              // 252
    // 253..=257: lookup_dcookie, epoll_create, epoll_ctl, epoll_wait, ...
    (SET_TID_ADDRESS, Native(sys!(system::set_tid_address))),  // 258
    (TIMER_CREATE, Native(sys!(timer::timer_create))),         // 259
    (TIMER_SETTIME, Native(sys!(timer::timer_settime))),       // 260
    (TIMER_GETTIME, Native(sys!(timer::timer_gettime))),       // 261
    (TIMER_GETOVERRUN, Native(sys!(timer::timer_getoverrun))), // 262
    (TIMER_DELETE, Native(sys!(timer::timer_delete))),         // 263
    // 264: clock_settime
    (CLOCK_GETTIME, Native(sys!(time::clock_gettime32))),      // 265
    (CLOCK_GETRES, Native(sys!(time::clock_getres32))),        // 266
    (CLOCK_NANOSLEEP, Native(sys!(time::clock_nanosleep32))),  // 267
    (STATFS64, Native(sys!(stat::statfs64))),                  // 268
    (FSTATFS64, Native(sys!(stat::fstatfs64))),                // 269
    (TGKILL, Native(sys!(signal::tgkill))),                    // 270
    // 271: utimes
    (FADVISE64_64, Native(sys!(mm::fadvise64_64))),            // 272
    // 273..=283: vserver, mbind, ...
    (WAITID, Native(sys!(exit::waitid))),                      // 284
    // 285..=294: -, add_key, request_key, keyctl, ...
    (OPENAT, Lkl(sys!(open::openat))),                         // 295
    (MKDIRAT, Lkl(sys!(dir::mkdirat))),                        // 296
    (MKNODAT, LklOnly),                                        // 297
    (FCHOWNAT, Lkl(sys!(stat::fchownat))),                     // 298
    // 299: futimesat
    (FSTATAT64, LklVia(sys!(stat::fstatat64), sys!(forward::fstatat64))), // 300
    (UNLINKAT, Lkl(sys!(dir::unlinkat))),                      // 301
    (RENAMEAT, Lkl(sys!(dir::renameat))),                      // 302
    (LINKAT, Lkl(sys!(dir::link))),                            // 303
    (SYMLINKAT, Lkl(sys!(dir::symlinkat))),                    // 304
    (READLINKAT, Lkl(sys!(stat::readlinkat))),                 // 305
    (FCHMODAT, Lkl(sys!(stat::fchmodat))),                     // 306
    (FACCESSAT, Lkl(sys!(stat::faccessat))),                   // 307
    (PSELECT6, Emulated(sys!(io::pselect6))),                  // 308
    (PPOLL, Emulated(sys!(io::ppoll32))),                      // 309
    // 310: unshare
    (SET_ROBUST_LIST, Native(sys!(system::set_robust_list))),  // 311
    (GET_ROBUST_LIST, Native(sys!(system::get_robust_list))),  // 312
    // 313..=319: splice, sync_file_range, tee, vmsplice, ...
    (UTIMENSAT, Lkl(sys!(stat::utimensat))),                   // 320
    (SIGNALFD, Native(sys!(signalfd::signalfd))),              // 321
    // 322..=323: timerfd_create, eventfd
    (FALLOCATE, LklOnly),                                      // 324
    // 325..=326: timerfd_settime, timerfd_gettime
    (SIGNALFD4, Native(sys!(signalfd::signalfd4))),            // 327
    // 328..=329: eventfd2, epoll_create1
    (DUP3, Native(sys!(fd::dup3))),                            // 330
    (PIPE2, LklVia(sys!(fd::pipe2), sys!(forward::pipe2))),    // 331
    // 332..=334: inotify_init1, preadv, pwritev
    (RT_TGSIGQUEUEINFO, Native(sys!(signal::rt_tgsigqueueinfo))), // 335
    // 336..=339: perf_event_open, recvmmsg, fanotify_init, fanotify_mark
    (PRLIMIT64, Native(sys!(system::prlimit64))),              // 340
    // 341..=343: name_to_handle_at, open_by_handle_at, clock_adjtime
    (SYNCFS, LklOnly),                                         // 344
    // 345..=352: sendmmsg, setns, process_vm_readv, process_vm_writev, ...
    (RENAMEAT2, Lkl(sys!(dir::renameat2))),                    // 353
    // 354: seccomp
    (GETRANDOM, Native(sys!(system::getrandom))),              // 355
    // 356..=358: memfd_create, bpf, execveat
    (SOCKET, Lkl(sys!(socket::socket))),                       // 359
    (SOCKETPAIR, LklVia(sys!(socket::socketpair), sys!(forward::socketpair))), // 360
    (BIND, Lkl(sys!(socket::bind))),                           // 361
    (CONNECT, Lkl(sys!(socket::connect))),                     // 362
    (LISTEN, Lkl(sys!(socket::listen))),                       // 363
    (ACCEPT4, Lkl(sys!(socket::accept4))),                     // 364
    (GETSOCKOPT, Lkl(sys!(socket::getsockopt))),               // 365
    (SETSOCKOPT, Lkl(sys!(socket::setsockopt))),               // 366
    (GETSOCKNAME, Lkl(sys!(socket::getsockname))),             // 367
    (GETPEERNAME, Lkl(sys!(socket::getpeername))),             // 368
    (SENDTO, Lkl(sys!(socket::sendto))),                       // 369
    (SENDMSG, LklVia(sys!(socket::sendmsg), sys!(forward::sendmsg))), // 370
    (RECVFROM, Lkl(sys!(socket::recvfrom))),                   // 371
    (RECVMSG, LklVia(sys!(socket::recvmsg), sys!(forward::recvmsg))), // 372
    (SHUTDOWN, Lkl(sys!(socket::shutdown))),                   // 373
    // 374..=382: userfaultfd, membarrier, mlock2, copy_file_range, ...
    (STATX, Lkl(sys!(stat::statx))),                           // 383
    // 384..=385: arch_prctl, io_pgetevents
    (RSEQ, Native(sys!(system::rseq))),                        // 386
    // 387..=402: -, -, -, -, ...
    (CLOCK_GETTIME64, Native(sys!(time::clock_gettime64))),    // 403
    // 404..=405: clock_settime64, clock_adjtime64
    (CLOCK_GETRES_TIME64, Native(sys!(time::clock_getres64))), // 406
    (CLOCK_NANOSLEEP_TIME64, Native(sys!(time::clock_nanosleep64))), // 407
    (TIMER_GETTIME64, Native(sys!(timer::timer_gettime64))),   // 408
    (TIMER_SETTIME64, Native(sys!(timer::timer_settime64))),   // 409
    // 410..=411: timerfd_gettime64, timerfd_settime64
    (UTIMENSAT_TIME64, Lkl(sys!(stat::utimensat))),            // 412
    (PSELECT6_TIME64, Emulated(sys!(io::pselect6_time64))),    // 413
    (PPOLL_TIME64, Emulated(sys!(io::ppoll64))),               // 414
    // 415..=420: -, io_pgetevents_time64, recvmmsg_time64, mq_timedsend_time64, ...
    (RT_SIGTIMEDWAIT_TIME64, Native(sys!(signal::rt_sigtimedwait_time64))), // 421
    (FUTEX_TIME64, Native(sys!(futex::futex64))),              // 422
    // 423..=434: sched_rr_get_interval_time64, pidfd_send_signal, io_uring_setup, io_uring_enter, ...
    (CLONE3, Native(sys!(exit::clone3))),                      // 435
    // 436..=438: close_range, openat2, pidfd_getfd
    (FACCESSAT2, Lkl(sys!(stat::faccessat2))),                 // 439
    // 440..=450: process_madvise, epoll_pwait2, mount_setattr, quotactl_fd, ...
];

/// Highest syscall number plus one.
const NR_LIMIT: usize = 451;

/// [`TABLE`]'s native handlers spread out by number, built at compile time
/// (a direct index keeps the null-syscall path short). Also checks the
/// table is sorted.
const HANDLERS: [Option<Handler>; NR_LIMIT] = {
    let mut out: [Option<Handler>; NR_LIMIT] = [None; NR_LIMIT];
    let mut i = 0;
    while i < TABLE.len() {
        let nr = TABLE[i].0;
        assert!(i == 0 || TABLE[i - 1].0 < nr, "syscall TABLE must be sorted by number, without duplicates");
        out[nr as usize] = match TABLE[i].1 {
            Native(h) | Lkl(h) | LklVia(h, _) | Emulated(h) => Some(h),
            LklOnly | LklOnlyVia(_) => None,
        };
        i += 1;
    }
    out
};

/// How a process that forwards to LKL runs a call.
#[derive(Clone, Copy)]
enum LklEntry {
    Handler(Handler),
    /// The route, and the native handler for descriptors of ours.
    Route(embox_lkl_abi::route::Forward, Handler),
}

/// [`TABLE`] for processes that forward to LKL. Checks at compile time that
/// every `Lkl` row has a route, and that no other row has one.
const LKL_HANDLERS: [Option<LklEntry>; NR_LIMIT] = {
    let mut out: [Option<LklEntry>; NR_LIMIT] = [None; NR_LIMIT];
    let mut i = 0;
    while i < TABLE.len() {
        let nr = TABLE[i].0;
        let route = embox_lkl_abi::route::route(nr);
        out[nr as usize] = Some(match (TABLE[i].1, route) {
            (Lkl(native), Some(f)) => LklEntry::Route(f, native),
            (LklOnly, Some(f)) => LklEntry::Route(f, sys!(forward::enosys)),
            (Lkl(_) | LklOnly, None) => panic!("an Lkl row of the syscall TABLE has no route in embox-lkl-abi"),
            (_, Some(_)) => panic!("a syscall with an LKL route is not an Lkl row of the TABLE"),
            (LklVia(_, h) | LklOnlyVia(h) | Native(h) | Emulated(h), None) => LklEntry::Handler(h),
        });
        i += 1;
    }
    out
};

/// Calls that neither block, nor end the program, nor run long: the trap serves them
/// with interrupts masked, without taking the process out of its table.
const QUICK: &[u32] = &[
    GETPID, GETUID, GETGID, GETEUID, GETEGID, GETUID32, GETGID32, GETEUID32, GETEGID32, GETTID,
    GETTIMEOFDAY, TIME, CLOCK_GETTIME, CLOCK_GETTIME64,
];

/// Forwarded calls with plain-number arguments that never sleep in LKL
/// (beyond the `QUICK` ones that are forwarded): for a process that
/// forwards, the trap hands them to LKL without taking the process out of
/// its table ([`Speed::Forward`]).
const FORWARDED_QUICKLY: &[u32] = &[FCHMOD, FCHOWN, FCHOWN32];

/// How the trap serves a call number (one byte per number: the null
/// call's one check).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Speed {
    /// Taken out of the table, with interrupts on ([`dispatch`]).
    Slow,
    /// Served in place under the table's lock, interrupts masked ([`dispatch`]).
    Quick,
    /// clock_gettime: quick unless it reads a CPU-time clock (which reads
    /// the thread table, which the quick path holds).
    QuickUnlessCpuClock,
    /// For a process that forwards: its LKL route is plain numbers and
    /// descriptors ([`quick_forward`]), and LKL runs it without sleeping,
    /// so the trap stages it under the table's lock and runs it with
    /// interrupts still masked; the slow way otherwise.
    Forward,
}

/// A route the trap can stage from the registers alone: numbers, and
/// descriptors it maps to LKL's, with LKL's value as the result.
const fn is_plain(f: &embox_lkl_abi::route::Forward) -> bool {
    use embox_lkl_abi::route::{Arg, Ret};
    if !matches!(f.ret, Ret::Value | Ret::Id16) || f.args.len() > 6 {
        return false;
    }
    let mut i = 0;
    while i < f.args.len() {
        if !matches!(f.args[i], Arg::Val(_) | Arg::Id16(_) | Arg::SignHigh(_) | Arg::Const(_) | Arg::Fd(_)) {
            return false;
        }
        i += 1;
    }
    true
}

/// `QUICK` by number; `forwarding`: the calls that go to LKL are
/// [`Speed::Forward`] instead (checked here to have plain routes).
const fn quick_table(forwarding: bool) -> [Speed; NR_LIMIT] {
    let mut out = [Speed::Slow; NR_LIMIT];
    let mut i = 0;
    while i < QUICK.len() {
        let nr = QUICK[i] as usize;
        out[nr] = if forwarding && matches!(LKL_HANDLERS[nr], Some(LklEntry::Route(..))) {
            Speed::Forward
        } else if matches!(QUICK[i], CLOCK_GETTIME | CLOCK_GETTIME64) {
            Speed::QuickUnlessCpuClock
        } else {
            Speed::Quick
        };
        i += 1;
    }
    // For a process that forwards, a quick call's handler is the native
    // one (dispatch_quick).
    let mut i = 0;
    while forwarding && i < TABLE.len() {
        if matches!(out[TABLE[i].0 as usize], Speed::Quick | Speed::QuickUnlessCpuClock) {
            assert!(matches!(TABLE[i].1, Native(_) | Emulated(_)), "a quick call must be a Native or Emulated row");
        }
        i += 1;
    }
    if forwarding {
        let mut i = 0;
        while i < FORWARDED_QUICKLY.len() {
            out[FORWARDED_QUICKLY[i] as usize] = Speed::Forward;
            i += 1;
        }
        let mut nr = 0;
        while nr < NR_LIMIT {
            if matches!(out[nr], Speed::Forward) {
                match &LKL_HANDLERS[nr] {
                    Some(LklEntry::Route(f, _)) => {
                        assert!(is_plain(f), "a quickly forwarded call must have a plain LKL route");
                        // lkl_door::syscall_quick does not check it.
                        assert!(!lkl_door::may_sleep(f.lkl_nr), "a quickly forwarded call must not sleep in LKL");
                    }
                    _ => panic!("a quickly forwarded call must be an Lkl row of the syscall TABLE"),
                }
            }
            nr += 1;
        }
    }
    out
}

const IS_QUICK: [Speed; NR_LIMIT] = quick_table(false);
const IS_QUICK_FORWARDING: [Speed; NR_LIMIT] = quick_table(true);

/// The [`Speed::Forward`] calls by number, as the trap stages them: LKL's
/// number and its result's kind in one small entry, so that the id getters
/// read neither [`LKL_HANDLERS`]' route nor its argument list.
const QUICK_FORWARDS: [QuickForward; NR_LIMIT] = {
    let mut out = [QuickForward { lkl_nr: 0, id16: false, args: false }; NR_LIMIT];
    let mut nr = 0;
    while nr < NR_LIMIT {
        if let (Speed::Forward, Some(LklEntry::Route(f, _))) = (IS_QUICK_FORWARDING[nr], &LKL_HANDLERS[nr]) {
            out[nr] = QuickForward {
                lkl_nr: f.lkl_nr,
                id16: matches!(f.ret, embox_lkl_abi::route::Ret::Id16),
                args: !f.args.is_empty(),
            };
        }
        nr += 1;
    }
    out
};

/// Set once a process forwards to LKL (LKL is up): from then on the quick
/// path leaves the forwarded calls alone.
static FORWARDING: AtomicBool = AtomicBool::new(false);

/// Whether a process starting now forwards its `Lkl` calls: LKL is built
/// in and up.
pub fn lkl_forwarding() -> bool {
    let up = lkl_door::is_up();
    if up {
        FORWARDING.store(true, Ordering::Relaxed);
    }
    up
}

/// How the trap serves call `nr` whose first argument is `clock`.
/// Reading a CPU-time clock is not quick: it reads the thread table, which
/// the quick path holds.
#[inline]
pub fn speed(nr: u32, clock: u32) -> Speed {
    let table = if FORWARDING.load(Ordering::Relaxed) { &IS_QUICK_FORWARDING } else { &IS_QUICK };
    match table.get(nr as usize) {
        Some(Speed::QuickUnlessCpuClock) => {
            if time::is_cpu_clock(clock) {
                Speed::Slow
            } else {
                Speed::Quick
            }
        }
        Some(&speed) => speed,
        None => Speed::Slow,
    }
}

/// A [`Speed::Forward`] call staged for LKL from the registers alone (its
/// numbers are in the caller's array).
#[derive(Clone, Copy)]
pub struct QuickForward {
    lkl_nr: u32,
    id16: bool,
    /// Whether the route has arguments to stage ([`forward::plain_ints`]).
    args: bool,
}

/// The numbers LKL gets for a call without arguments (the id getters):
/// nothing to zero on the stack for them.
static NO_ARGS: [isize; 6] = [0; 6];

/// Stages [`Speed::Forward`] call `nr` of `process` into `staged` (the
/// trap holds the table's lock) and gives the numbers LKL gets:
/// `None` when it must go the slow way (the process does not forward, is
/// traced, or a descriptor is not an open LKL one: the native handler or
/// the error comes from [`dispatch`]).
#[inline]
pub fn quick_forward<'a>(process: &Process, nr: u32, args: &Args, staged: &'a mut Option<[isize; 6]>) -> Option<(QuickForward, &'a [isize; 6])> {
    if !process.lkl || process.trace {
        return None;
    }
    let call = *QUICK_FORWARDS.get(nr as usize)?;
    // The id getters take no argument: nothing to stage (quick_table
    // checked that the route is plain).
    if !call.args {
        return Some((call, &NO_ARGS));
    }
    let Some(LklEntry::Route(f, _)) = &LKL_HANDLERS[nr as usize] else {
        return None;
    };
    let ints = staged.insert([0; 6]);
    if !forward::plain_ints(process, f, args, ints) {
        return None;
    }
    Some((call, ints))
}

impl QuickForward {
    /// Runs the call in LKL with the numbers in `ints` (no lock held;
    /// interrupts masked): the value for EAX, or `None` when LKL could not
    /// take it without sleeping first (nothing ran: the caller goes the
    /// slow way).
    #[inline]
    pub fn run(self, ints: &[isize; 6]) -> Option<u32> {
        let ret = lkl_door::syscall_quick(self.lkl_nr, ints)?;
        Some(if ret >= 0 && self.id16 { embox_lkl_abi::route::id32_to_id16(ret as u32) } else { ret as i32 as u32 })
    }
}

/// Calls whose handlers read or replace the user registers (`Process::user_regs`).
pub fn needs_registers(nr: u32) -> bool {
    matches!(nr, FORK | VFORK | CLONE | CLONE3 | EXECVE | SIGRETURN | RT_SIGRETURN | SIGALTSTACK)
}

/// Runs [`Speed::Quick`] call `nr` for `process`; returns the value for
/// EAX. While processes forward, a quick call is a `Native` or `Emulated`
/// row (checked by [`quick_table`]; the forwarded ones are
/// [`Speed::Forward`]), so its handler is the same whether or not the
/// process forwards to LKL: no [`dispatch_lkl`] for the null call of a
/// process that forwards.
#[inline]
pub fn dispatch_quick(process: &mut Process, nr: u32, args: &Args) -> u32 {
    dispatch_native(process, nr, args)
}

/// Runs syscall `nr` for `process`; returns the value for EAX. Inlined into
/// the trap handler (one call layer fewer); tracing and unknown numbers
/// stay out of line.
#[inline]
pub fn dispatch(process: &mut Process, nr: u32, args: &Args) -> u32 {
    if process.lkl {
        return dispatch_lkl(process, nr, args);
    }
    dispatch_native(process, nr, args)
}

/// Call `nr` by the native table ([`HANDLERS`]), traced under `--strace`:
/// how [`dispatch`] serves a process that does not forward and
/// [`dispatch_quick`] serves every quick call. Inlined into both (the quick
/// path gains no call layer).
#[inline]
fn dispatch_native(process: &mut Process, nr: u32, args: &Args) -> u32 {
    let result = to_eax(match HANDLERS.get(nr as usize).copied().flatten() {
        Some(handler) => handler(process, args),
        None => unknown(process, nr),
    });
    if process.trace {
        trace(process, nr, args, result);
    }
    result
}

/// [`dispatch`] for a process that forwards to LKL.
#[inline(never)]
fn dispatch_lkl(process: &mut Process, nr: u32, args: &Args) -> u32 {
    // By reference: copying the route is an 8-byte SSE move, and the
    // kernel's first SSE instruction in a call costs a #NM trap.
    let result = match LKL_HANDLERS.get(nr as usize).and_then(Option::as_ref) {
        Some(LklEntry::Handler(handler)) => to_eax(handler(process, args)),
        Some(LklEntry::Route(route, native)) => match forward::forward(process, route, *native, args) {
            Ok(raw) => raw as u32,
            Err(e) => e.to_ret() as u32,
        },
        None => to_eax(unknown(process, nr)),
    };
    if process.trace {
        trace(process, nr, args, result);
    }
    result
}

/// `load_app --strace`: one log line per call, strace-like.
#[cold]
#[inline(never)]
fn trace(process: &Process, nr: u32, regs: &Args, eax: u32) {
    let [a0, a1, a2, a3, ..] = *regs;
    let name = embox_abi::nr::name(nr).unwrap_or("?");
    let errno = eax as i32;
    let result = if (-4095..0).contains(&errno) { Err(-errno) } else { Ok(eax) };
    let via = if process.lkl && matches!(LKL_HANDLERS.get(nr as usize), Some(Some(LklEntry::Route(..)))) { " [lkl]" } else { "" };
    match result {
        Ok(v) => klog!(
            "{}[{}]: {}({:#x}, {:#x}, {:#x}, {:#x}) = {:#x}{}",
            process.name, process.tid, name, a0, a1, a2, a3, v, via
        ),
        Err(e) => klog!(
            "{}[{}]: {}({:#x}, {:#x}, {:#x}, {:#x}) = -1 {}{}",
            process.name,
            process.tid,
            name,
            a0,
            a1,
            a2,
            a3,
            Errno::from_raw(e).map(Errno::name).unwrap_or("E?"),
            via
        ),
    }
}

#[cold]
#[inline(never)]
fn unknown(process: &mut Process, nr: u32) -> SysResult {
    // One line per number and program: a program probing (or a fuzzer)
    // must not flood the console.
    if process.first_unknown(nr) {
        let name = embox_abi::nr::name(nr).unwrap_or("unassigned");
        klog!("{}[{}]: unknown syscall {} ({}), returning -ENOSYS", process.name, process.pid, nr, name);
    }
    Err(Errno::ENOSYS)
}

/// Releases what an open file holds in the file tree (its last descriptor is gone).
pub fn release_file(file: crate::linux::files::OpenFile) {
    open::release(Some(file));
}

/// A second LKL descriptor for the open file of LKL descriptor `fd` (fork);
/// `fd` itself when LKL cannot give one (logged).
pub fn dup_lkl_fd(fd: i32) -> i32 {
    match forward::call_ints(embox_lkl_abi::nr::DUP, &[fd as isize]) {
        Ok(new) if new >= 0 => new,
        other => {
            klog!("lkl: dup({}) for a forked process failed ({:?}); parent and child share it", fd, other);
            fd
        }
    }
}

/// [`release_file`] for what `FdTable::close` returns.
pub fn release_file_opt(file: Option<crate::linux::files::OpenFile>) {
    open::release(file);
}
