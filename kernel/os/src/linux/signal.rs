//! Signal delivery, as Linux i386 does it: on the way back to ring 3 (after
//! a syscall, a fault, or an interrupt that caught the program in user
//! mode) each pending signal the mask lets through is acted on. Ignored
//! ones are dropped, a default action that ends the program ends it, and a
//! handler runs on a signal frame built on the user stack (or the
//! alternate stack) with Linux's layout (`struct sigframe` /
//! `struct rt_sigframe`), so glibc's and musl's restorers return through
//! sigreturn / rt_sigreturn, which restore the registers from that frame.
//! Everything the kernel reads back from user memory is checked: a frame
//! that cannot be written or read gives SIGSEGV, and restored registers go
//! through `TrapFrame::set_user_registers` (user selectors only, sane
//! eflags), so a forged frame can never reach ring 0.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicUsize, Ordering};

use embox_abi::consts::signal::*;
use embox_abi::nr;
use embox_abi::Errno;

use crate::hal::sync::{IrqMutex, SplitU64};

use crate::hal::fpu::{self, FXSAVE_BYTES};
use crate::hal::paging::PAGE_SIZE;
use crate::hal::trap::{HandlerEntry, TrapFrame, UserRegisters};

use super::memory::Piece;
use super::process::Process;

pub const SIG_DFL: u32 = 0;
pub const SIG_IGN: u32 = 1;

pub const SA_NOCLDSTOP: u32 = 0x0000_0001;
pub const SA_NOCLDWAIT: u32 = 0x0000_0002;
pub const SA_SIGINFO: u32 = 0x0000_0004;
pub const SA_RESTORER: u32 = 0x0400_0000;
pub const SA_ONSTACK: u32 = 0x0800_0000;
pub const SA_RESTART: u32 = 0x1000_0000;
pub const SA_NODEFER: u32 = 0x4000_0000;
pub const SA_RESETHAND: u32 = 0x8000_0000;

pub const SIGUSR1: u32 = 10;
pub const SIGUSR2: u32 = 12;
pub const SIGALRM: u32 = 14;
pub const SIGCHLD: u32 = 17;
pub const SIGCONT: u32 = 18;
pub const SIGTSTP: u32 = 20;
pub const SIGTTIN: u32 = 21;
pub const SIGTTOU: u32 = 22;

/// The first real-time signal (the kernel's; glibc keeps 32 and 33 for
/// itself and calls 34 SIGRTMIN, musl 35). Real-time signals queue: every
/// one sent is delivered, with its own siginfo, oldest first.
pub const SIGRTMIN: u32 = 32;
/// Signals 1..=31, which do not queue (a second one while one is pending
/// is merged).
pub const STANDARD_SIGNALS: u64 = (1 << (SIGRTMIN - 1)) - 1;

/// `si_code` values.
pub const SI_USER: i32 = 0;
pub const SI_KERNEL: i32 = 0x80;
pub const SI_QUEUE: i32 = -1;
pub const SI_TKILL: i32 = -6;
pub const CLD_EXITED: i32 = 1;
pub const CLD_KILLED: i32 = 2;
pub const CLD_STOPPED: i32 = 5;
pub const CLD_CONTINUED: i32 = 6;
pub const SEGV_MAPERR: i32 = 1;
pub const SEGV_ACCERR: i32 = 2;
pub const ILL_ILLOPN: i32 = 2;
pub const FPE_INTDIV: i32 = 1;
pub const BUS_ADRERR: i32 = 2;

/// The one bit of `sig` in a 64-bit set.
pub const fn bit(sig: u32) -> u64 {
    1u64 << (sig - 1)
}

/// Signals no mask can block and no handler can catch.
pub const UNBLOCKABLE: u64 = bit(SIGKILL) | bit(SIGSTOP);

/// The signals whose default action stops the process.
pub const STOP_SIGNALS: u64 = bit(SIGSTOP) | bit(SIGTSTP) | bit(SIGTTIN) | bit(SIGTTOU);

/// What a signal does when its disposition is SIG_DFL.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DefaultAction {
    Terminate,
    /// Terminate (a core dump on Linux, when core files are enabled).
    Core,
    Ignore,
    Stop,
    Continue,
}

pub fn default_action(sig: u32) -> DefaultAction {
    use DefaultAction::*;
    match sig {
        SIGQUIT | SIGILL | SIGTRAP | SIGABRT | SIGBUS | SIGFPE | SIGSEGV | 24 | 25 | 31 => Core,
        SIGCHLD | 23 | 28 => Ignore, // SIGCHLD, SIGURG, SIGWINCH
        SIGCONT => Continue,
        SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => Stop,
        _ => Terminate,
    }
}

/// The interesting fields of a `siginfo_t` (the union's first three words
/// after signo/errno/code: pid and uid of a sender, plus a child's status;
/// or the fault address).
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct SigInfo {
    pub code: i32,
    pub fields: [u32; 3],
}

impl SigInfo {
    /// Sent by process `pid` (kill: SI_USER; tkill/tgkill: SI_TKILL).
    pub fn from_process(pid: u32, code: i32) -> Self {
        SigInfo { code, fields: [pid, 0, 0] }
    }
    /// Sent by the kernel (the console, a timer).
    pub fn kernel() -> Self {
        SigInfo { code: SI_KERNEL, fields: [0; 3] }
    }
    /// A fault at `addr`.
    pub fn fault(code: i32, addr: u32) -> Self {
        SigInfo { code, fields: [addr, 0, 0] }
    }
    /// SIGCHLD for child `pid` that exited with `status` (or was killed by it).
    pub fn child(pid: u32, code: i32, status: u32) -> Self {
        SigInfo { code, fields: [pid, 0, status] }
    }
    /// What a program gave rt_sigqueueinfo/rt_tgsigqueueinfo: its code and
    /// the union's first three words (sigqueue: pid, uid, value), as Linux
    /// passes them on.
    pub fn from_user(bytes: &[u8; SIGINFO_BYTES]) -> Self {
        SigInfo { code: get(bytes, 8) as i32, fields: [get(bytes, 12), get(bytes, 16), get(bytes, 20)] }
    }

    /// The 128-byte `siginfo_t` of i386.
    pub fn bytes(&self, sig: u32) -> [u8; SIGINFO_BYTES] {
        let mut out = [0u8; SIGINFO_BYTES];
        put(&mut out, 0, sig);
        put(&mut out, 8, self.code as u32);
        for (i, v) in self.fields.iter().enumerate() {
            put(&mut out, 12 + 4 * i, *v);
        }
        out
    }
}

pub const SIGINFO_BYTES: usize = 128;

/// RLIMIT_SIGPENDING's ceiling here (and its default): the most
/// real-time signals queued at once. Linux counts them per user; every
/// process here runs as root, so the count is kernel-wide, checked against
/// the receiving process's limit (as Linux checks the receiver's). Each
/// queued signal costs heap, so no program can use more than this.
pub const MAX_QUEUED_SIGNALS: u64 = 1024;

/// Real-time signals queued in the whole kernel.
static QUEUED: AtomicUsize = AtomicUsize::new(0);

/// A process's RLIMIT_SIGPENDING (soft, hard), shared by its threads.
pub struct SigPendingLimit {
    cur: SplitU64,
    max: SplitU64,
}

impl SigPendingLimit {
    pub fn new(cur: u64, max: u64) -> Arc<Self> {
        Arc::new(SigPendingLimit { cur: SplitU64::new(cur), max: SplitU64::new(max) })
    }
    pub fn get(&self) -> (u64, u64) {
        (self.cur.load(), self.max.load())
    }
    /// setrlimit: EINVAL when soft > hard, EPERM above the kernel's ceiling.
    pub fn set(&self, cur: u64, max: u64) -> Result<(), Errno> {
        if cur > max {
            return Err(Errno::EINVAL);
        }
        if max > MAX_QUEUED_SIGNALS {
            return Err(Errno::EPERM);
        }
        self.cur.store(cur);
        self.max.store(max);
        Ok(())
    }
}

/// One thread's queued real-time signals, oldest first, shared between its
/// [`Process`] and its entry in the thread table (a signal sent while the
/// thread is in a call lands here at once). The pending bits are hints
/// that make the thread look; this queue says what is really pending.
pub struct RtQueue {
    items: Arc<IrqMutex<RtItems>>,
    /// The process's RLIMIT_SIGPENDING.
    pub limit: Arc<SigPendingLimit>,
}

struct RtItems {
    queue: VecDeque<(u32, SigInfo)>,
    /// Signals sent past the limit by kill (or the kernel): pending
    /// without their siginfo, as on Linux.
    lost: u64,
}

impl Drop for RtItems {
    fn drop(&mut self) {
        QUEUED.fetch_sub(self.queue.len(), Ordering::Relaxed);
    }
}

impl RtQueue {
    pub fn new(limit: Arc<SigPendingLimit>) -> Self {
        RtQueue { items: Arc::new(IrqMutex::new(RtItems { queue: VecDeque::new(), lost: 0 })), limit }
    }

    /// The same queue (the thread table's handle on it).
    pub fn share(&self) -> Self {
        RtQueue { items: self.items.clone(), limit: self.limit.clone() }
    }

    /// Queues real-time signal `sig`. Past the limit (or without heap) a
    /// sigqueue's is EAGAIN; kill's and the kernel's are still pending,
    /// without their siginfo (Linux's rule).
    pub fn push(&self, sig: u32, info: SigInfo) -> Result<(), Errno> {
        let limit = self.limit.get().0.min(MAX_QUEUED_SIGNALS) as usize;
        let mut items = self.items.lock();
        let counted = QUEUED
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < limit).then_some(n + 1))
            .is_ok();
        if counted && items.queue.try_reserve(1).is_ok() {
            items.queue.push_back((sig, info));
            return Ok(());
        }
        if counted {
            QUEUED.fetch_sub(1, Ordering::Relaxed);
        }
        if info.code == SI_USER || info.code == SI_KERNEL {
            items.lost |= bit(sig);
            Ok(())
        } else {
            Err(Errno::EAGAIN)
        }
    }

    /// The real-time signals really pending.
    pub fn pending(&self) -> u64 {
        let items = self.items.lock();
        items.queue.iter().fold(items.lost, |set, (sig, _)| set | bit(*sig))
    }

    /// Takes the oldest instance of `sig`: its siginfo (SI_USER with no
    /// sender when it was sent past the limit), and whether another is
    /// still queued. `None`: nothing of `sig` is pending. Taking the last
    /// queued one also drops a lost one, as Linux's collect_signal does.
    fn take(&self, sig: u32) -> Option<(SigInfo, bool)> {
        let mut items = self.items.lock();
        let mut found = items.queue.iter().enumerate().filter(|(_, (s, _))| *s == sig).map(|(i, _)| i);
        match (found.next(), found.next()) {
            (Some(i), more) => {
                let (_, info) = items.queue.remove(i).expect("an index just found");
                QUEUED.fetch_sub(1, Ordering::Relaxed);
                if more.is_none() {
                    items.lost &= !bit(sig);
                }
                Some((info, more.is_some()))
            }
            (None, _) if items.lost & bit(sig) != 0 => {
                items.lost &= !bit(sig);
                Some((SigInfo::from_process(0, SI_USER), false))
            }
            (None, _) => None,
        }
    }

    /// Drops every queued instance of the signals in `set`.
    pub fn discard(&self, set: u64) {
        let mut items = self.items.lock();
        let before = items.queue.len();
        items.queue.retain(|(sig, _)| set & bit(*sig) == 0);
        QUEUED.fetch_sub(before - items.queue.len(), Ordering::Relaxed);
        items.lost &= !set;
    }
}

/// The signals sent to a process as a whole (kill, sigqueue, SIGCHLD, the
/// console, timers) and not yet taken by one of its threads: Linux's
/// `signal->shared_pending`. Every thread of the group and its table entry
/// hold the same set; a thread takes a signal from it when it acts on it
/// (delivery, sigtimedwait, a signalfd read), so one a thread blocks waits
/// here for any other thread, including one started later.
pub struct SharedPending(Arc<SharedSet>);

struct SharedSet {
    /// What is pending (standard signals, and real-time ones queued), for
    /// checks that take no lock; written only under `standard`'s lock.
    bits: SplitU64,
    /// The standard signals pending and the siginfo of each.
    standard: IrqMutex<(u64, [SigInfo; SIGRTMIN as usize])>,
    /// The queued real-time signals (and the process's RLIMIT_SIGPENDING).
    rt: RtQueue,
}

impl SharedPending {
    pub fn new(limit: Arc<SigPendingLimit>) -> Self {
        SharedPending(Arc::new(SharedSet {
            bits: SplitU64::new(0),
            standard: IrqMutex::new((0, [SigInfo::default(); SIGRTMIN as usize])),
            rt: RtQueue::new(limit),
        }))
    }

    /// The same set, for another thread of the group or its table entry.
    pub fn share(&self) -> Self {
        SharedPending(self.0.clone())
    }

    /// The signals pending in the set (no lock).
    pub fn pending(&self) -> u64 {
        self.0.bits.load()
    }

    /// Runs `f` on the standard signals under the set's lock, then makes
    /// the lock-free bits say what is pending. `touches`: the signals `f`
    /// may change; the queue of real-time ones is read again (under its
    /// own lock) only when they are among them, as a kill's standard
    /// signal is not.
    fn update<R>(&self, touches: u64, f: impl FnOnce(&mut (u64, [SigInfo; SIGRTMIN as usize]), &RtQueue) -> R) -> R {
        let mut standard = self.0.standard.lock();
        let result = f(&mut standard, &self.0.rt);
        let rt = if touches & !STANDARD_SIGNALS != 0 { self.0.rt.pending() } else { self.0.bits.load() & !STANDARD_SIGNALS };
        self.0.bits.store(standard.0 | rt);
        result
    }

    /// Makes `sig` pending for the process: a standard signal merges with
    /// one pending, a real-time one queues (EAGAIN: a sigqueue past the
    /// limit). SIGCONT drops pending stop signals and a stop signal a
    /// pending SIGCONT, as sending them does.
    pub fn post(&self, sig: u32, info: SigInfo) -> Result<(), Errno> {
        self.update(bit(sig), |(set, infos), rt| {
            if sig >= SIGRTMIN {
                return rt.push(sig, info);
            }
            if sig == SIGCONT {
                *set &= !STOP_SIGNALS;
            } else if STOP_SIGNALS & bit(sig) != 0 {
                *set &= !bit(SIGCONT);
            }
            if *set & bit(sig) == 0 {
                infos[sig as usize - 1] = info;
            }
            *set |= bit(sig);
            Ok(())
        })
    }

    /// Takes one instance of `sig`, if one is pending.
    pub fn take(&self, sig: u32) -> Option<SigInfo> {
        if self.pending() & bit(sig) == 0 {
            return None;
        }
        self.update(bit(sig), |(set, infos), rt| {
            if sig >= SIGRTMIN {
                return rt.take(sig).map(|(info, _)| info);
            }
            let was = *set & bit(sig) != 0;
            *set &= !bit(sig);
            was.then(|| infos[sig as usize - 1])
        })
    }

    /// Drops the pending signals of `set` (they became ignored, a stop
    /// was cancelled, the process ended).
    pub fn discard(&self, set: u64) {
        if self.pending() & set == 0 {
            return;
        }
        self.update(set, |(standard, _), rt| {
            *standard &= !set;
            if set & !STANDARD_SIGNALS != 0 {
                rt.discard(set);
            }
        })
    }
}

/// Makes `p`'s pending bits of real-time signals say what its queue holds
/// (a bit posted for an instance already taken goes).
pub fn sync_queued(p: &mut Process) {
    if p.pending & !STANDARD_SIGNALS != 0 {
        p.pending = (p.pending & STANDARD_SIGNALS) | p.rt_queue.pending();
    }
}

/// The signals pending for thread `p`: its own and its process's.
pub fn pending(p: &Process) -> u64 {
    p.pending | p.shared_pending.pending()
}

/// Takes signal `sig` off `p`'s pending sets (the thread's own first, then
/// the process's): its siginfo, or `None` when nothing of it was really
/// pending (a stale bit of a real-time signal). A POSIX timer's signal
/// carries the expiries counted since it was posted (si_overrun).
pub fn take(p: &mut Process, sig: u32) -> Option<SigInfo> {
    let mut info = take_posted(p, sig)?;
    if info.code == super::posix_timer::SI_TIMER {
        info.fields[1] = super::posix_timer::delivered(p.pid, info.fields[0]);
    }
    Some(info)
}

fn take_posted(p: &mut Process, sig: u32) -> Option<SigInfo> {
    if p.pending & bit(sig) != 0 {
        if sig < SIGRTMIN {
            p.pending &= !bit(sig);
            return Some(p.siginfo[sig as usize - 1]);
        }
        let taken = p.rt_queue.take(sig);
        if !matches!(taken, Some((_, true))) {
            p.pending &= !bit(sig);
        }
        if let Some((info, _)) = taken {
            return Some(info);
        }
    }
    p.shared_pending.take(sig)
}

/// Takes the lowest pending signal of `set` (sigtimedwait, signalfd).
pub fn take_first(p: &mut Process, set: u64) -> Option<(u32, SigInfo)> {
    loop {
        let ready = pending(p) & set;
        if ready == 0 {
            return None;
        }
        let sig = ready.trailing_zeros() + 1;
        if let Some(info) = take(p, sig) {
            return Some((sig, info));
        }
    }
}

/// Drops the pending signals of `set` (they became ignored): the thread's
/// own and its process's.
pub fn discard(p: &mut Process, set: u64) {
    p.pending &= !set;
    if set & !STANDARD_SIGNALS != 0 {
        p.rt_queue.discard(set);
    }
    p.shared_pending.discard(set);
}


/// `struct sigcontext` (i386): gs fs es ds edi esi ebp esp ebx edx ecx eax
/// trapno err eip cs eflags esp_at_signal ss fpstate oldmask cr2.
const SIGCONTEXT_BYTES: usize = 88;
const SC_FPSTATE: usize = 76;
const SC_OLDMASK: usize = 80;
/// `struct _fpstate_32`: the legacy fsave header (112 bytes), then the
/// `fxsave` image, then padding (624 bytes in all).
const FPSTATE_BYTES: usize = 624;
const FXSAVE_OFFSET: usize = 112;
/// `struct sigframe`: pretcode, sig, sigcontext, an unused fpstate,
/// extramask (the mask's high word), retcode.
const SIGFRAME_SC: usize = 8;
const SIGFRAME_EXTRAMASK: usize = SIGFRAME_SC + SIGCONTEXT_BYTES + FPSTATE_BYTES;
const SIGFRAME_RETCODE: usize = SIGFRAME_EXTRAMASK + 4;
const SIGFRAME_BYTES: usize = SIGFRAME_RETCODE + 8;
/// `struct rt_sigframe`: pretcode, sig, pinfo, puc, siginfo, ucontext
/// (flags, link, stack_t, sigcontext, 64-bit mask), retcode.
const RT_INFO: usize = 16;
const RT_UC: usize = RT_INFO + SIGINFO_BYTES;
const RT_UC_STACK: usize = RT_UC + 8;
const RT_UC_SC: usize = RT_UC_STACK + 12;
const RT_UC_MASK: usize = RT_UC_SC + SIGCONTEXT_BYTES;
const RT_RETCODE: usize = RT_UC_MASK + 8;
const RT_SIGFRAME_BYTES: usize = RT_RETCODE + 8;
/// `popl %eax; movl $__NR_sigreturn, %eax; int $0x80`
const SIGRETURN_CODE: [u8; 8] = [0x58, 0xb8, nr::SIGRETURN as u8, 0, 0, 0, 0xcd, 0x80];
/// `movl $__NR_rt_sigreturn, %eax; int $0x80`
const RT_SIGRETURN_CODE: [u8; 8] = [0xb8, nr::RT_SIGRETURN as u8, 0, 0, 0, 0xcd, 0x80, 0];

fn put(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn get(buf: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

/// The registers as a `struct sigcontext`.
fn sigcontext(f: &TrapFrame, fpstate: u32, oldmask: u32, cr2: u32) -> [u8; SIGCONTEXT_BYTES] {
    let r = f.user_registers();
    let mut sc = [0u8; SIGCONTEXT_BYTES];
    let words = [
        r.gs, r.fs, r.es, r.ds, r.edi, r.esi, r.ebp, r.esp, r.ebx, r.edx, r.ecx, r.eax, f.vector(), f.error_code(), r.eip, r.cs,
        r.eflags, r.esp, r.ss, fpstate, oldmask, cr2,
    ];
    for (i, w) in words.iter().enumerate() {
        put(&mut sc, 4 * i, *w);
    }
    sc
}

/// The registers a `struct sigcontext` holds (`set_user_registers`
/// sanitizes them).
fn sigcontext_registers(sc: &[u8]) -> UserRegisters {
    UserRegisters {
        gs: get(sc, 0),
        fs: get(sc, 4),
        es: get(sc, 8),
        ds: get(sc, 12),
        edi: get(sc, 16),
        esi: get(sc, 20),
        ebp: get(sc, 24),
        esp: get(sc, 28),
        ebx: get(sc, 32),
        edx: get(sc, 36),
        ecx: get(sc, 40),
        eax: get(sc, 44),
        eip: get(sc, 56),
        cs: get(sc, 60),
        eflags: get(sc, 64),
        ss: get(sc, 72),
    }
}

/// The part of an fxsave image the fsave header is made from (up to the
/// last x87 register).
const FX_HEADER_SOURCE: usize = 160;

/// The head of a `struct _fpstate_32` for the FPU state `fx` (the fsave
/// header with the control, status and tag words and the x87 registers,
/// magic 0 = FXSR), from the image's first [`FX_HEADER_SOURCE`] bytes; the
/// fxsave image itself follows it at FXSAVE_OFFSET.
fn fpstate_header(fx: &[u8; FX_HEADER_SOURCE]) -> [u8; FXSAVE_OFFSET] {
    let mut out = [0u8; FXSAVE_OFFSET];
    let fcw = u16::from_le_bytes([fx[0], fx[1]]) as u32;
    let fsw = u16::from_le_bytes([fx[2], fx[3]]) as u32;
    put(&mut out[..], 0, fcw | 0xffff_0000);
    put(&mut out[..], 4, fsw | 0xffff_0000);
    put(&mut out[..], 8, 0xffff_ffff); // tag: the fxsave image holds the real one
    put(&mut out[..], 12, get(fx, 8)); // fpu ip
    put(&mut out[..], 16, get(fx, 12) & 0xffff); // cs
    put(&mut out[..], 20, get(fx, 16)); // operand pointer
    put(&mut out[..], 24, get(fx, 20) & 0xffff);
    for reg in 0..8 {
        out[28 + reg * 10..38 + reg * 10].copy_from_slice(&fx[32 + reg * 16..42 + reg * 16]);
    }
    out[108..110].copy_from_slice(&fx[2..4]); // status
    out[110..112].copy_from_slice(&0u16.to_le_bytes()); // magic: FXSR data follows
    out
}

/// Why a program must end instead of resuming.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fatal {
    pub sig: u32,
    pub info: SigInfo,
    /// The signal frame could not be written (or read back): SIGSEGV.
    pub bad_frame: bool,
}

/// Which calls restart after a handler with SA_RESTART (Linux's
/// -ERESTARTSYS ones); the others (sleeps, pause, sigsuspend, poll,
/// select) fail with EINTR whenever a handler ran.
fn restartable(nr: u32) -> bool {
    use embox_abi::nr::*;
    matches!(
        nr,
        READ | WRITE | READV | WRITEV | PREAD64 | PWRITE64 | OPEN | OPENAT | IOCTL | FCNTL | FCNTL64 | WAIT4 | WAITPID
            | WAITID | SOCKETCALL | SENDTO | RECVFROM | SENDMSG | RECVMSG | ACCEPT4 | CONNECT | FLOCK | FUTEX | FUTEX_TIME64
    )
}

/// Calls that never restart, even when the signal that ended them ran no
/// handler (a stop and a continue): Linux returns plain -EINTR from them,
/// not an -ERESTART code. Nor sigreturn: the eax it restored is the
/// interrupted call's, already dealt with.
fn never_restarts(nr: u32) -> bool {
    use embox_abi::nr::*;
    matches!(nr, SIGRETURN | RT_SIGRETURN | RT_SIGTIMEDWAIT | RT_SIGTIMEDWAIT_TIME64 | EPOLL_WAIT | EPOLL_PWAIT | EPOLL_PWAIT2)
}

/// Signals whose default action does nothing a blocked call would notice:
/// ignore (SIGCHLD, SIGURG, SIGWINCH) and continue. A stop signal ends the
/// call (the process stops on its way out) and the call restarts once
/// continued.
const QUIET_BY_DEFAULT: u64 = bit(SIGCHLD) | bit(23) | bit(28) | bit(SIGCONT);

/// The signals that end a blocking call of `p`: neither blocked nor
/// ignored (SIGKILL always).
pub fn interrupting(p: &Process) -> u64 {
    interrupting_given(ignored(p), p.sigmask)
}

/// [`interrupting`] from the ignored set ([`ignored`]) and the mask.
pub fn interrupting_given(ignored: u64, sigmask: u64) -> u64 {
    (!ignored & !sigmask) | bit(SIGKILL)
}

/// The signals `p`'s dispositions ignore (explicitly, or by default and
/// quietly). Reads the shared dispositions in place, under their lock.
pub fn ignored(p: &Process) -> u64 {
    p.sigactions.read(|all| {
        let mut ignored = 0u64;
        for (i, action) in all.iter().enumerate() {
            let sig_bit = 1u64 << i;
            if action.sa_handler == SIG_IGN || (action.sa_handler == SIG_DFL && QUIET_BY_DEFAULT & sig_bit != 0) {
                ignored |= sig_bit;
            }
        }
        ignored
    })
}

/// Signals whose sending does nothing but make them pending (Linux's
/// prepare_signal acts on the stop signals, SIGCONT and SIGKILL at once,
/// for the whole process).
pub fn posted_plainly(sig: u32) -> bool {
    sig != 0 && sig <= NSIG && (STOP_SIGNALS | bit(SIGCONT) | bit(SIGKILL)) & bit(sig) == 0
}

/// Makes `sig` pending for `p` (standard signals do not queue: a second
/// one while pending is merged; real-time ones do, EAGAIN past the limit).
/// SIGCONT discards pending stop signals and a stop signal a pending
/// SIGCONT, as sending them does.
pub fn post(p: &mut Process, sig: u32, info: SigInfo) -> Result<(), Errno> {
    if sig == 0 || sig > NSIG {
        return Ok(());
    }
    if sig >= SIGRTMIN {
        p.rt_queue.push(sig, info)?;
        p.pending |= bit(sig);
        return Ok(());
    }
    if sig == SIGCONT {
        p.pending &= !STOP_SIGNALS;
    } else if STOP_SIGNALS & bit(sig) != 0 {
        p.pending &= !bit(SIGCONT);
    }
    if p.pending & bit(sig) == 0 {
        p.siginfo[sig as usize - 1] = info;
    }
    p.pending |= bit(sig);
    Ok(())
}

/// A fault raised `sig`: with a handler the program gets it (even if
/// blocked or ignored Linux forces it: the handler is reset and the
/// program dies); without one it ends.
pub fn post_fault(p: &mut Process, sig: u32, info: SigInfo) -> Result<(), Fatal> {
    let action = p.sigactions.read(|all| all[sig as usize - 1]);
    if action.sa_handler <= SIG_IGN || p.sigmask & bit(sig) != 0 {
        return Err(Fatal { sig, info, bad_frame: false });
    }
    let _ = post(p, sig, info);
    Ok(())
}

/// Acts on every pending signal the mask lets through before `frame`
/// returns to ring 3. `syscall`: the call this return ends (its result
/// is in eax), for SA_RESTART. Handlers nest as on Linux: the signal
/// set up last runs first. A stop signal's default action is `stop`
/// (the process stops; it returns once continued, with what was posted
/// meanwhile taken in).
pub fn deliver(p: &mut Process, frame: &mut TrapFrame, mut syscall: Option<u32>, stop: &mut dyn FnMut(&mut Process, u32)) -> Result<(), Fatal> {
    let eintr = Errno::EINTR.to_ret() as u32;
    // After sigsuspend the first frame saves the mask from before the call.
    let mut restore = p.saved_mask.take();
    for _ in 0..NSIG {
        let ready = pending(p) & !(p.sigmask & !UNBLOCKABLE);
        if ready == 0 {
            break;
        }
        let sig = ready.trailing_zeros() + 1;
        let Some(info) = take(p, sig) else { continue };
        let action = p.sigactions.read(|all| all[sig as usize - 1]);
        let caught = action.sa_handler > SIG_IGN && sig != SIGKILL && sig != SIGSTOP;
        if !caught {
            if action.sa_handler == SIG_IGN && sig != SIGKILL && sig != SIGSTOP {
                continue;
            }
            match default_action(sig) {
                DefaultAction::Ignore | DefaultAction::Continue => continue,
                DefaultAction::Stop => {
                    stop(p, sig);
                    continue;
                }
                DefaultAction::Terminate | DefaultAction::Core => return Err(Fatal { sig, info, bad_frame: false }),
            }
        }
        if let Some(nr) = syscall.take() {
            if frame.return_value() == eintr && restartable(nr) && action.sa_flags & SA_RESTART != 0 {
                frame.restart_syscall(nr);
            }
        }
        let oldmask = restore.take().unwrap_or(p.sigmask);
        setup_frame(p, frame, sig, &info, &action, oldmask).map_err(|_| Fatal { sig: SIGSEGV, info: SigInfo::kernel(), bad_frame: true })?;
        let mut mask = p.sigmask | action.sa_mask.get();
        if action.sa_flags & SA_NODEFER == 0 {
            mask |= bit(sig);
        }
        p.sigmask = mask & !UNBLOCKABLE;
        if action.sa_flags & SA_RESETHAND != 0 {
            p.sigactions.with(|all| all[sig as usize - 1] = Default::default());
        }
    }
    if let Some(mask) = restore {
        p.sigmask = mask;
    }
    // A blocking call ended by a signal that then ran no handler (it was
    // ignored meanwhile, or it stopped the process): the call starts
    // again, as on Linux (-ERESTARTNOHAND and the like), unless it is
    // one that never restarts.
    if let Some(nr) = syscall {
        if frame.return_value() == eintr && !never_restarts(nr) {
            frame.restart_syscall(nr);
        }
    }
    Ok(())
}

/// True when `sp` lies on the alternate signal stack.
fn on_altstack(p: &Process, sp: u32) -> bool {
    p.altstack.ss_flags & SS_DISABLE == 0 && sp.wrapping_sub(p.altstack.ss_sp) < p.altstack.ss_size
}

/// `sigaltstack`'s view of the current stack: SS_ONSTACK while on it,
/// SS_DISABLE without one, else 0.
pub fn altstack_flags(p: &Process, sp: u32) -> u32 {
    if p.altstack.ss_flags & SS_DISABLE != 0 {
        SS_DISABLE
    } else if on_altstack(p, sp) {
        SS_ONSTACK
    } else {
        0
    }
}

/// Builds the signal frame for `sig` and points the registers at the handler.
fn setup_frame(p: &mut Process, frame: &mut TrapFrame, sig: u32, info: &SigInfo, action: &embox_abi::types::KernelSigaction, oldmask: u64) -> Result<(), Errno> {
    let sp = frame.user_sp();
    let nested = on_altstack(p, sp);
    let mut top = sp;
    let mut entering = false;
    if action.sa_flags & SA_ONSTACK != 0 && p.altstack.ss_flags & SS_DISABLE == 0 && !nested {
        top = p.altstack.ss_sp.wrapping_add(p.altstack.ss_size);
        entering = true;
    }
    let rt = action.sa_flags & SA_SIGINFO != 0;
    let size = if rt { RT_SIGFRAME_BYTES } else { SIGFRAME_BYTES } as u32;
    let fp_at = top.checked_sub(FPSTATE_BYTES as u32).ok_or(Errno::EFAULT)? & !63;
    let at = ((fp_at.checked_sub(size).ok_or(Errno::EFAULT)?.wrapping_add(4)) & !15).wrapping_sub(4);
    if (nested || entering) && !on_altstack(p, at) {
        return Err(Errno::EFAULT); // the alternate stack would overflow
    }
    let restorer = |retcode: usize| if action.sa_flags & SA_RESTORER != 0 { action.sa_restorer } else { at + retcode as u32 };
    let cr2 = if frame.vector() == crate::hal::trap::PAGE_FAULT as u32 { info.fields[0] } else { 0 };
    let sc = sigcontext(frame, fp_at, oldmask as u32, cr2);
    // A frame in one page (the common case) takes one walk: the FPU image
    // goes from the registers straight into place (one fxsave), the rest
    // is written around it. Otherwise the frame, the gap up to the FPU
    // state and the state (its header, then the image read where the
    // task's state is saved) go out in one checked write. A signal is on
    // the path the benchmarks time, and every byte copied (or zeroed)
    // costs under TCG.
    let gap = (fp_at - at - size) as usize;
    let span = (fp_at - at) as usize + FPSTATE_BYTES;
    let write = |p: &mut Process, own: &[u8], unused: usize, tail: &[u8]| {
        let placed = p.memory.with_frame(at, span, true, |frame, base| {
            let fp = base + (fp_at - at) as usize;
            fpu::save_user_state_to(fpu::UserImage::new(frame, fp + FXSAVE_OFFSET)?);
            let mut fx = [0u8; FX_HEADER_SOURCE];
            frame.read(fp + FXSAVE_OFFSET, &mut fx);
            frame.write(fp, &fpstate_header(&fx));
            frame.write(base, own);
            frame.write(base + own.len() + unused, tail);
            Some(())
        })?;
        if placed.flatten().is_some() {
            return Ok(());
        }
        fpu::with_user_state(|fx| {
            let mut source = [0u8; FX_HEADER_SOURCE];
            source.copy_from_slice(&fx[..FX_HEADER_SOURCE]);
            let header = fpstate_header(&source);
            let pieces = [Piece::Bytes(own), Piece::Gap(unused), Piece::Bytes(tail), Piece::Gap(gap), Piece::Bytes(&header), Piece::Bytes(fx)];
            p.memory.write_pieces(at, &pieces)
        })
    };
    if rt {
        let mut own = [0u8; RT_SIGFRAME_BYTES];
        put(&mut own, 0, restorer(RT_RETCODE));
        put(&mut own, 4, sig);
        put(&mut own, 8, at + RT_INFO as u32);
        put(&mut own, 12, at + RT_UC as u32);
        own[RT_INFO..RT_INFO + SIGINFO_BYTES].copy_from_slice(&info.bytes(sig));
        put(&mut own, RT_UC_STACK, p.altstack.ss_sp);
        put(&mut own, RT_UC_STACK + 4, altstack_flags(p, sp));
        put(&mut own, RT_UC_STACK + 8, p.altstack.ss_size);
        own[RT_UC_SC..RT_UC_SC + SIGCONTEXT_BYTES].copy_from_slice(&sc);
        own[RT_UC_MASK..RT_UC_MASK + 8].copy_from_slice(&oldmask.to_le_bytes());
        own[RT_RETCODE..RT_RETCODE + 8].copy_from_slice(&RT_SIGRETURN_CODE);
        write(p, &own, 0, &[])?;
    } else {
        // A sigframe's head (pretcode, sig, sigcontext) and tail
        // (extramask, retcode) around its own fpstate, which is left alone
        // as Linux does.
        let mut head = [0u8; SIGFRAME_SC + SIGCONTEXT_BYTES];
        put(&mut head, 0, restorer(SIGFRAME_RETCODE));
        put(&mut head, 4, sig);
        head[SIGFRAME_SC..].copy_from_slice(&sc);
        let mut tail = [0u8; SIGFRAME_BYTES - SIGFRAME_EXTRAMASK];
        put(&mut tail, 0, (oldmask >> 32) as u32);
        tail[SIGFRAME_RETCODE - SIGFRAME_EXTRAMASK..].copy_from_slice(&SIGRETURN_CODE);
        write(p, &head, FPSTATE_BYTES, &tail)?;
    }
    let (info_at, uc_at) = if rt { (at + RT_INFO as u32, at + RT_UC as u32) } else { (0, 0) };
    frame.enter_handler(&HandlerEntry { ip: action.sa_handler, sp: at, regparm: [sig, info_at, uc_at] });
    // The handler starts with a clean FPU (reset in the registers);
    // sigreturn brings the old one back.
    fpu::reset_user_state();
    Ok(())
}

/// Reads back the FPU state a frame saved (none: the initial state),
/// straight into the task's FPU area. On an error the program ends.
fn restore_fpstate(p: &mut Process, fp_at: u32) -> Result<(), Errno> {
    if fp_at == 0 {
        return fpu::load_user_state(|area| {
            *area = fpu::initial_user_state();
            Ok(())
        });
    }
    let image_at = fp_at.checked_add(FXSAVE_OFFSET as u32).ok_or(Errno::EFAULT)?;
    fpu::load_user_state(|area| p.memory.read(image_at, area))
}

/// Reads back what sigreturn needs of a frame: `parts` (an address and a
/// buffer each), and the FPU image whose `struct _fpstate_32` address is
/// the word at `fpstate_word` of the first part (its sigcontext's
/// fpstate). When all of it lies in the page of the first part (the
/// common case) that is one walk, and the image goes straight into the
/// registers (one fxrstor, if it is aligned and its MXCSR one the CPU
/// takes); otherwise part by part, the image through the task's area
/// (MXCSR masked). EFAULT: the program ends.
fn read_back(p: &mut Process, parts: &mut [(u32, &mut [u8])], fpstate_word: usize) -> Result<(), Errno> {
    let page = parts[0].0 & !(PAGE_SIZE as u32 - 1);
    let in_page = |at: u32, len: usize| at >= page && (at - page) as usize + len <= PAGE_SIZE;
    let mut fp_at = None;
    if parts.iter().all(|(at, buf)| in_page(*at, buf.len())) {
        let loaded = p.memory.with_frame(page, PAGE_SIZE, false, |frame, _| {
            for (at, buf) in parts.iter_mut() {
                frame.read((*at - page) as usize, buf);
            }
            let fp = get(parts[0].1, fpstate_word);
            fp_at = Some(fp);
            let image_at = fp.wrapping_add(FXSAVE_OFFSET as u32);
            fp != 0 && in_page(image_at, FXSAVE_BYTES) && fpu::UserImage::new(frame, (image_at - page) as usize).is_some_and(fpu::load_user_state_from)
        })?;
        if loaded == Some(true) {
            return Ok(());
        }
    }
    let fp_at = match fp_at {
        Some(fp) => fp,
        None => {
            for (at, buf) in parts.iter_mut() {
                p.memory.read(*at, buf)?;
            }
            get(parts[0].1, fpstate_word)
        }
    };
    restore_fpstate(p, fp_at)
}

/// `sigreturn` (119): the handler of a non-SA_SIGINFO signal returned
/// through its restorer, which popped the signal number: the frame is at
/// esp - 8. Restores the registers, FPU state and mask. Err: the frame is
/// bad (SIGSEGV).
fn sigreturn(p: &mut Process, regs: &mut TrapFrame) -> Result<(), ()> {
    let at = regs.user_sp().wrapping_sub(8);
    let mut sc = [0u8; SIGCONTEXT_BYTES];
    let mut high = [0u8; 4];
    let parts: &mut [(u32, &mut [u8])] = &mut [(at.wrapping_add(SIGFRAME_SC as u32), &mut sc), (at.wrapping_add(SIGFRAME_EXTRAMASK as u32), &mut high)];
    read_back(p, parts, SC_FPSTATE).map_err(|_| ())?;
    let mask = get(&sc, SC_OLDMASK) as u64 | (u32::from_le_bytes(high) as u64) << 32;
    finish_return(p, regs, &sc, mask)
}

/// `rt_sigreturn` (173): the frame is at esp - 4 (the handler's `ret`
/// popped pretcode). Restores registers, FPU state, mask and the
/// alternate stack.
fn rt_sigreturn(p: &mut Process, regs: &mut TrapFrame) -> Result<(), ()> {
    let at = regs.user_sp().wrapping_sub(4);
    let mut uc = [0u8; RT_RETCODE - RT_UC];
    let base = RT_UC;
    read_back(p, &mut [(at.wrapping_add(RT_UC as u32), &mut uc)], RT_UC_SC - base + SC_FPSTATE).map_err(|_| ())?;
    let stack = &uc[RT_UC_STACK - base..RT_UC_STACK - base + 12];
    let sc: [u8; SIGCONTEXT_BYTES] = uc[RT_UC_SC - base..RT_UC_SC - base + SIGCONTEXT_BYTES].try_into().map_err(|_| ())?;
    let mask = u64::from_le_bytes(uc[RT_UC_MASK - base..RT_UC_MASK - base + 8].try_into().map_err(|_| ())?);
    let (ss_sp, ss_flags, ss_size) = (get(stack, 0), get(stack, 4), get(stack, 8));
    finish_return(p, regs, &sc, mask)?;
    // The alternate stack as the handler left it in uc_stack (errors
    // ignored, as Linux's restore_altstack does).
    let _ = set_altstack(p, regs.user_sp(), ss_sp, ss_flags, ss_size);
    Ok(())
}

/// sigreturn (`rt`: rt_sigreturn) on `regs`, the trap's own frame (the
/// syscall trap's way for them: no copy of the registers through
/// `Process::user_regs`, no table dispatch; a signal's way back is on the
/// path the benchmarks time). A bad frame ends the program with SIGSEGV:
/// no handler can catch it, its registers are gone.
pub fn return_from_handler(p: &mut Process, regs: &mut TrapFrame, rt: bool) {
    let restored = if rt { rt_sigreturn(p, regs) } else { sigreturn(p, regs) };
    if restored.is_err() {
        super::fault::report_bad_frame(p);
        p.exit_status = Some(super::process::Ending::Killed(SIGSEGV));
    }
}

/// The registers and mask of a frame whose FPU state `read_back` restored.
fn finish_return(p: &mut Process, regs: &mut TrapFrame, sc: &[u8; SIGCONTEXT_BYTES], mask: u64) -> Result<(), ()> {
    if !regs.set_user_registers(&sigcontext_registers(sc)) {
        return Err(());
    }
    p.sigmask = mask & !UNBLOCKABLE;
    Ok(())
}

/// `sigaltstack`'s change: EPERM while running on it, EINVAL for unknown
/// flags, ENOMEM below MINSIGSTKSZ.
pub fn set_altstack(p: &mut Process, sp: u32, ss_sp: u32, ss_flags: u32, ss_size: u32) -> Result<(), Errno> {
    if on_altstack(p, sp) {
        return Err(Errno::EPERM);
    }
    if ss_flags & !(SS_DISABLE | SS_ONSTACK) != 0 {
        return Err(Errno::EINVAL);
    }
    if ss_flags & SS_DISABLE != 0 {
        p.altstack = embox_abi::types::StackT { ss_sp: 0, ss_flags: SS_DISABLE, ss_size: 0 };
        return Ok(());
    }
    if ss_size < MINSIGSTKSZ {
        return Err(Errno::ENOMEM);
    }
    p.altstack = embox_abi::types::StackT { ss_sp, ss_flags: 0, ss_size };
    Ok(())
}
