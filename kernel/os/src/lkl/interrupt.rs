//! Interrupting a call blocked inside LKL.
//!
//! A forwarded call that sleeps in LKL (a read on an LKL pipe or socket,
//! accept, connect, flock) sleeps in LKL's scheduler, on its host task's
//! semaphore: our own wake-up does not reach it. So when a signal is posted
//! to a thread that is inside such a call ([`interrupt`]), the `lkl-kick`
//! task sends the thread's LKL host task a signal *inside LKL*
//! (`tkill(task, KICK)`; host tasks are in several LKL processes, see
//! [`super::task`]). LKL has no user-mode signal delivery, so
//! the kick only does what a signal does to a sleeping Linux task: its
//! interruptible wait ends and the call returns -ERESTARTSYS (or -EINTR).
//! The caller then takes the kick back out of LKL's pending set
//! (`rt_sigtimedwait` with a zero timeout) and reports EINTR, which our
//! signal delivery turns into a handler run, a restart (SA_RESTART) or the
//! process's end. A kick that lands after the call had finished anyway is
//! taken back out the same way; a call it interrupted although no signal of
//! ours is pending is simply made again.
//!
//! LKL ignores a signal whose action is SIG_DFL in a kernel thread (its host
//! tasks are kernel threads), so at boot [`init`] gives KICK an action in
//! LKL (a dummy handler address that is never called).

use super::Arg;
use crate::hal::lkl::kernel;
use crate::hal::sync::IrqMutex;
use crate::sched::{self, Pid};
use crate::sync::WaitQueue;
use alloc::collections::{BTreeMap, VecDeque};
use core::sync::atomic::{AtomicI32, Ordering};

// LKL's (asm-generic) numbers.
const NR_TKILL: u32 = 130;
const NR_RT_SIGACTION: u32 = 134;
const NR_GETPID: u32 = 172;
const NR_GETTID: u32 = 178;
const NR_RT_SIGTIMEDWAIT_TIME64: u32 = 421;
const EINTR: isize = 4;
/// -ERESTARTSYS .. -ERESTART_RESTARTBLOCK: kernel-internal "interrupted".
const ERESTART_FIRST: isize = 512;
const ERESTART_LAST: isize = 516;

/// The signal LKL sees (SIGURG: no meaning for LKL's kernel threads).
const KICK: isize = 23;
/// The action LKL records for KICK: any value but SIG_DFL (0) and SIG_IGN
/// (1); LKL never calls it.
const KICK_HANDLER: u32 = 0x1000;

/// host0's LKL pid once [`init`] gave KICK its action; 0 before (or when
/// that failed: no kicks then).
static HOST_TGID: AtomicI32 = AtomicI32::new(0);

#[derive(Default)]
struct Thread {
    /// Its LKL host task's tid (LKL `gettid` in its context, asked once).
    lkl_tid: i32,
    /// Inside a call that may sleep in LKL.
    in_call: bool,
    /// A kick is queued or being sent.
    kick_queued: bool,
    /// Kicks sent and not yet taken back out of LKL.
    kicks_sent: u32,
}

static THREADS: IrqMutex<BTreeMap<Pid, Thread>> = IrqMutex::new(BTreeMap::new());
static QUEUE: IrqMutex<VecDeque<Pid>> = IrqMutex::new(VecDeque::new());
static KICKER: WaitQueue = WaitQueue::new();
static KICKED: WaitQueue = WaitQueue::new();

/// At the end of LKL's boot (from the boot task): KICK gets an action in
/// LKL, and the `lkl-kick` task starts.
pub(super) fn init() {
    let tgid = kernel::syscall(NR_GETPID, &mut []);
    if tgid <= 0 {
        crate::klog!("lkl: getpid in LKL failed ({tgid}); blocked LKL calls cannot be interrupted");
        return;
    }
    // asm-generic struct sigaction: handler, flags, (restorer,) mask; zeros
    // beyond the handler whatever the layout.
    let mut action = [0u8; 32];
    action[..4].copy_from_slice(&KICK_HANDLER.to_le_bytes());
    let r = kernel::syscall(NR_RT_SIGACTION, &mut [Arg::Int(KICK), Arg::In(&action), Arg::Null, Arg::Int(8)]);
    if r < 0 {
        crate::klog!("lkl: rt_sigaction in LKL failed ({r}); blocked LKL calls cannot be interrupted");
        return;
    }
    HOST_TGID.store(tgid as i32, Ordering::Release);
    let pid = sched::spawn("lkl-kick", kicker);
    sched::with_task(pid, |t| t.detached = true);
}

/// The calls that may sleep in LKL (LKL's numbers).
fn may_sleep(nr: u32) -> bool {
    use embox_lkl_abi::nr::*;
    // read 63, readv 65, pread64 67, openat 56 (a FIFO), sendfile 71,
    // accept 202; the rest are named in embox_lkl_abi.
    matches!(nr, 56 | 63 | 64 | 65 | 71 | 202)
        || [WRITEV, PREAD64, PWRITE64, PPOLL, FLOCK, FCNTL64, CONNECT, SENDTO, RECVFROM, SENDMSG, RECVMSG, ACCEPT4].contains(&nr)
}

/// Runs LKL syscall `nr` for the calling thread so that a signal posted to
/// it meanwhile ends the call: `-EINTR` then.
pub(super) fn syscall(nr: u32, args: &mut [Arg<'_>]) -> isize {
    if HOST_TGID.load(Ordering::Relaxed) == 0 || !may_sleep(nr) {
        return kernel::syscall(nr, args);
    }
    let me = sched::current_pid();
    let known = THREADS.lock().get(&me).map_or(0, |t| t.lkl_tid);
    if known == 0 {
        let tid = kernel::syscall(NR_GETTID, &mut []) as i32;
        THREADS.lock().entry(me).or_default().lkl_tid = tid;
    }
    loop {
        if let Some(t) = THREADS.lock().get_mut(&me) {
            t.in_call = true;
        }
        // A signal posted before `in_call` was set sent no kick.
        if crate::linux::interrupted() {
            take_back_kicks(me);
            return -EINTR;
        }
        let ret = kernel::syscall(nr, args);
        let kicked = take_back_kicks(me);
        let interrupted = ret == -EINTR || (-ERESTART_LAST..=-ERESTART_FIRST).contains(&ret);
        if !interrupted {
            return ret;
        }
        if !kicked || crate::linux::interrupted() {
            return -EINTR;
        }
        // Our kick, and no signal for us: a late kick; the call goes again.
    }
}

/// Ends the thread's call: waits for a kick in flight, takes every kick it
/// was sent back out of LKL's pending set. True if there was one.
fn take_back_kicks(me: Pid) -> bool {
    KICKED.wait_until(|| {
        let mut threads = THREADS.lock();
        let Some(t) = threads.get_mut(&me) else { return true };
        t.in_call = false;
        !t.kick_queued
    });
    let sent = THREADS.lock().get_mut(&me).map_or(0, |t| core::mem::take(&mut t.kicks_sent));
    for _ in 0..sent {
        let set = (1u64 << (KICK - 1)).to_le_bytes();
        let zero = [0u8; 16];
        let _ = kernel::syscall(NR_RT_SIGTIMEDWAIT_TIME64, &mut [Arg::In(&set), Arg::Null, Arg::In(&zero), Arg::Int(8)]);
    }
    sent > 0
}

/// A signal was posted to thread `pid` that ends its blocking call: if it is
/// inside a call that may sleep in LKL, have it kicked. Called with
/// interrupts masked (from signal posting); does not block.
pub fn interrupt(pid: Pid) {
    let queue = {
        let mut threads = THREADS.lock();
        match threads.get_mut(&pid) {
            Some(t) if t.in_call && !t.kick_queued => {
                t.kick_queued = true;
                true
            }
            _ => false,
        }
    };
    if queue {
        QUEUE.lock().push_back(pid);
        KICKER.wake_all();
    }
}

/// The thread `pid` ended: forget it.
pub fn forget(pid: Pid) {
    THREADS.lock().remove(&pid);
}

fn kicker() {
    loop {
        let mut next = None;
        KICKER.wait_until(|| {
            next = QUEUE.lock().pop_front();
            next.is_some()
        });
        let Some(pid) = next else { continue };
        let tid = THREADS.lock().get(&pid).map_or(0, |t| t.lkl_tid);
        let sent = tid > 0 && kernel::syscall(NR_TKILL, &mut [Arg::Int(tid as isize), Arg::Int(KICK)]) == 0;
        if let Some(t) = THREADS.lock().get_mut(&pid) {
            t.kick_queued = false;
            t.kicks_sent += sent as u32;
        }
        KICKED.wake_all();
    }
}
