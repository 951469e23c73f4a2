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

use super::{may_sleep, Arg};
use crate::hal::lkl::kernel;
use crate::hal::sync::IrqMutex;
use crate::sched::{self, Pid};
use crate::sync::WaitQueue;
use alloc::collections::{BTreeMap, VecDeque};
use core::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

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
const SIGPIPE: isize = 13;
const SIG_IGN: u32 = 1;
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
    /// In LKL's ppoll for a poll/select that also waits on our own objects
    /// ([`poll_mixed`]): [`poll_wake_all`] kicks it out.
    in_poll: bool,
    /// [`poll_wake_all`] kicked it: the call ends so the caller rescans.
    poll_woken: bool,
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
    // A write to a pipe or socket without a reader makes LKL send SIGPIPE
    // to the host task; nothing ever takes it, and pending it ended every
    // later sleep of that task in LKL at once (EINTR). Ignored there, it is
    // never queued; the syscall layer raises the program's own SIGPIPE on
    // EPIPE (forward.rs).
    action[..4].copy_from_slice(&SIG_IGN.to_le_bytes());
    let r = kernel::syscall(NR_RT_SIGACTION, &mut [Arg::Int(SIGPIPE), Arg::In(&action), Arg::Null, Arg::Int(8)]);
    if r < 0 {
        crate::klog!("lkl: ignoring SIGPIPE in LKL failed ({r}); a write without a reader may cut a later blocking call");
    }
    HOST_TGID.store(tgid as i32, Ordering::Release);
    let pid = sched::spawn("lkl-kick", kicker);
    sched::with_task(pid, |t| t.detached = true);
}

/// Runs LKL syscall `nr` for the calling thread so that a signal posted to
/// it meanwhile ends the call: `-EINTR` then.
pub(super) fn syscall(nr: u32, args: &mut [Arg<'_>]) -> isize {
    interruptible(nr, || kernel::syscall(nr, args))
}

/// [`syscall`] with plain numbers ([`kernel::syscall_ints`]).
pub(super) fn syscall_ints(nr: u32, ints: [isize; 6]) -> isize {
    interruptible(nr, || kernel::syscall_ints(nr, ints))
}

/// Runs `call` (LKL syscall `nr`), again after a late kick, so that a
/// signal posted to the thread meanwhile ends a call that may sleep.
fn interruptible(nr: u32, mut call: impl FnMut() -> isize) -> isize {
    if HOST_TGID.load(Ordering::Relaxed) == 0 || !may_sleep(nr) {
        return call();
    }
    let me = sched::current_pid();
    learn_tid(me);
    loop {
        if let Some(t) = THREADS.lock().get_mut(&me) {
            t.in_call = true;
        }
        // A signal posted before `in_call` was set sent no kick.
        if crate::linux::interrupted() {
            take_back_kicks(me);
            return -EINTR;
        }
        let ret = call();
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

/// Makes sure the thread's LKL tid is known (LKL `gettid` in its context,
/// asked once), so that a kick can reach it.
fn learn_tid(me: Pid) {
    let known = THREADS.lock().get(&me).map_or(0, |t| t.lkl_tid);
    if known == 0 {
        let tid = kernel::syscall(NR_GETTID, &mut []) as i32;
        THREADS.lock().entry(me).or_default().lkl_tid = tid;
    }
}

/// Threads in [`poll_mixed`] now: [`poll_wake_all`] does nothing else when 0.
static POLLERS: AtomicUsize = AtomicUsize::new(0);

/// LKL's `ppoll` (`args` as LKL takes them) for a poll/select whose set also
/// holds our own objects (pipes, AF_UNIX sockets, signalfds, our sockets):
/// the thread sleeps in LKL, woken by LKL when one of its descriptors is
/// ready, by the time running out, by a signal (as every call that may sleep
/// in LKL), or by [`poll_wake_all`] when one of ours may have changed. LKL's
/// result, or 0 when woken for ours (the caller rescans both sides), or
/// -EINTR. `ours_ready` is asked once the thread is registered, so a change
/// between the caller's scan and the sleep still ends the sleep.
pub(super) fn poll_mixed(args: &mut [Arg<'_>], ours_ready: &mut dyn FnMut() -> bool) -> isize {
    if HOST_TGID.load(Ordering::Relaxed) == 0 {
        // No kicks (their set-up failed at boot): LKL cannot be woken for
        // ours, so the caller rescans every millisecond.
        let _ = crate::linux::env::sleep(core::time::Duration::from_millis(1));
        return 0;
    }
    let me = sched::current_pid();
    learn_tid(me);
    {
        let mut threads = THREADS.lock();
        let t = threads.entry(me).or_default();
        t.in_call = true;
        t.in_poll = true;
        t.poll_woken = false;
    }
    POLLERS.fetch_add(1, Ordering::AcqRel);
    let ret = if crate::linux::interrupted() {
        -EINTR
    } else if ours_ready() {
        0
    } else {
        super::STATS.poll_sleeps.fetch_add(1, Ordering::Relaxed);
        kernel::syscall(embox_lkl_abi::nr::PPOLL, args)
    };
    let woken = {
        let mut threads = THREADS.lock();
        threads.get_mut(&me).is_some_and(|t| {
            t.in_poll = false;
            core::mem::take(&mut t.poll_woken)
        })
    };
    POLLERS.fetch_sub(1, Ordering::AcqRel);
    take_back_kicks(me);
    let interrupted = ret == -EINTR || (-ERESTART_LAST..=-ERESTART_FIRST).contains(&ret);
    if !interrupted {
        return ret;
    }
    if crate::linux::interrupted() || !woken {
        // A signal of ours, or LKL's own: the call ends with EINTR (a late
        // kick with no signal pending makes the caller rescan, harmlessly).
        return if crate::linux::interrupted() { -EINTR } else { 0 };
    }
    super::STATS.poll_wakes.fetch_add(1, Ordering::Relaxed);
    0
}

/// One of our own objects (pipe, AF_UNIX socket, signalfd, socket) may have
/// become ready (`crate::wait::notify`): every thread in [`poll_mixed`] is
/// kicked out of LKL's ppoll to rescan. Never blocks; any context.
pub fn poll_wake_all() {
    if POLLERS.load(Ordering::Acquire) == 0 {
        return;
    }
    let mut queued = false;
    let mut threads = THREADS.lock();
    for (&pid, t) in threads.iter_mut() {
        if t.in_poll && !t.poll_woken {
            t.poll_woken = true;
            if t.in_call && !t.kick_queued {
                t.kick_queued = true;
                QUEUE.lock().push_back(pid);
                queued = true;
            }
        }
    }
    drop(threads);
    if queued {
        KICKER.wake_all();
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
