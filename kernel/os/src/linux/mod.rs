//! Running unmodified Linux i386 programs: `load_app` loads an ELF from the
//! file tree into a fresh address space ([`loader`]), starts it in ring 3
//! as a task of its own, serves its `int 0x80` calls
//! ([`crate::syscall`]) and turns its faults into signals ([`fault`]).
//!
//! Each thread of each program has its [`Process`] in [`PROCESSES`], keyed
//! by its task's pid (the tid). A trap from the thread takes it out for the
//! duration of the call (so the handler runs with interrupts enabled and no
//! lock held) and puts it back; only the thread's own task ever touches it.
//! What threads share (memory, files, ...) sits behind locks of its own.
//!
//! Thread groups: the first thread (tid = pid) carries the process's
//! bookkeeping (parent, zombie status, vfork). Another thread's `exit` just
//! removes it; the first thread's `exit` waits, parked, until the others
//! are gone, then ends the process. `exit_group`, a fatal signal or an
//! execve marks every other thread `ending`: each ends quietly at its next
//! entry into the kernel (a thread spinning in ring 3 at the next timer
//! interrupt, a blocked one is woken).
//!
//! Signals ([`signal`]): one sent to a process waits in the set its
//! threads share (Linux's shared_pending), and one of its threads that
//! does not block it is woken to take it; one sent to a thread is posted
//! to that thread's entry. The thread takes it in on its way back to
//! ring 3 (the end of its call, or an interrupt that caught it in user
//! mode) and acts on it there: a handler's frame, or the end of the whole
//! process. A signal every thread blocks stays in the shared set for the
//! first thread that unblocks or waits for it.

pub mod futex;

pub mod devproc;
pub mod env;
pub mod exec;
pub mod fault;
pub mod files;
pub mod itimer;
pub mod loader;
pub mod memory;
pub mod pipe;
pub mod posix_timer;
pub mod process;
pub mod signal;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use embox_abi::Errno;

use crate::hal::sync::IrqMutex;
use crate::hal::trap::{self, TrapFrame};
use crate::hal::{cpu, idt};
use crate::shell::{self, Command, Redirects, Shell};
use crate::sync::WaitQueue;
use crate::{println, sched};
use memory::FaultResolution;
use embox_abi::types::UserDesc;
use process::{Ending, Process};
use signal::{bit, SigInfo};

/// A thread in the table: running, or (the first thread of a process) a
/// zombie waiting for its parent. The process-wide fields are the first
/// thread's (`pid == tgid`).
struct Entry {
    /// The thread's id: its task's pid.
    pid: sched::Pid,
    /// Its process (thread group): the first thread's pid.
    tgid: sched::Pid,
    /// `None` while a trap of that thread has it out, and once it ended.
    process: Option<Box<Process>>,
    /// The parent: a process of this table, or (for the program `load_app`
    /// started, and orphans) a task that is not a Linux process.
    ppid: sched::Pid,
    /// Set when it ended, until the parent reaps it with wait4/waitid.
    zombie: Option<Ending>,
    /// Signals sent to it (kill, the console, a child's end, a timer) and
    /// not yet taken in: the thread takes them on its way back to ring 3.
    posted: u64,
    /// The `siginfo` of each posted standard signal.
    posted_info: [SigInfo; 64],
    /// The thread's queue of real-time signals (its process's too):
    /// posting one queues it there at once.
    rt_queue: signal::RtQueue,
    /// Its process's shared pending set (the same as its `Process`'s).
    shared_pending: signal::SharedPending,
    /// Signals of the shared set this thread was chosen to take (woken
    /// for): they end its blocking calls, as `posted` ones do.
    shared_chosen: u64,
    /// Signals to drop from the thread's own pending set when it next
    /// takes in what was posted (a SIGCONT sent to the process discards
    /// every thread's pending stop signals, a stop signal their SIGCONT;
    /// a thread in a call has its `Process` out of the table).
    flush_private: u64,
    /// The signals that end a blocking call of the thread (unblocked, not
    /// ignored), as of its last trap ([`signal::interrupting`]); while the
    /// process is in the table it is computed afresh.
    interrupting: u64,
    /// The signals the thread waits for in sigtimedwait or a signalfd
    /// read: posting one wakes it, blocked or ignored ([`await_signals`]).
    awaited: u64,
    /// First thread: SIGCHLD is ignored or has SA_NOCLDWAIT (as of its
    /// last trap): the process's children leave no zombie.
    no_zombies: bool,
    /// The signals the thread's dispositions ignore, and the version of
    /// the dispositions ([`process::Shared::version`]) that and
    /// `no_zombies` were computed from (0: never).
    ignored: u64,
    dispositions_version: u32,
    /// First thread: the process group and session.
    pgid: sched::Pid,
    sid: sched::Pid,
    /// A parent suspended in vfork until this child execs or ends.
    vfork_parent: Option<sched::Pid>,
    /// Its group is going (exit_group, a fatal signal, execve in another
    /// thread): the thread ends quietly at its next entry into the kernel.
    ending: bool,
    /// First thread: how the whole process ends, once exit_group or a
    /// fatal signal said so (else the first thread's own exit status).
    group_exit: Option<Ending>,
    /// First thread: it ended and waits for the other threads to go.
    parked: bool,
    /// First thread: SIGCHLD has SA_NOCLDSTOP (as of its last trap): its
    /// children's stops and continues send it no SIGCHLD.
    no_cldstop: bool,
    /// First thread: the whole process is stopped (SIGSTOP, SIGTSTP,
    /// SIGTTIN, SIGTTOU) until a SIGCONT or SIGKILL.
    stopped: bool,
    /// First thread: a stop or continue its parent's wait has not yet
    /// reported (WUNTRACED, WCONTINUED).
    job_event: Option<JobEvent>,
    /// The thread is to stop at its next return to ring 3 (its group is
    /// stopping).
    stop_pending: bool,
    /// CPU time of the thread in user mode, and in the kernel (a call or a
    /// fault of its), in nanoseconds, a timer tick at a time: samples that
    /// split the task's exact run time ([`thread_times`]); exact
    /// themselves once the first thread has ended (a zombie's).
    user_ns: u64,
    system_ns: u64,
    /// First thread: what loading the program took (load_app does it in
    /// the shell's task), counted as the program's system time.
    load_ns: u64,
    /// First thread: what its process's ended threads used.
    ended_threads: Usage,
    /// First thread: what its children that ended and were waited for
    /// used (RUSAGE_CHILDREN), theirs included.
    children: Usage,
    /// Page faults of the thread's that mapped a page (ru_minflt).
    min_flt: u64,
    /// The task's (voluntary, involuntary) switches, kept when the first
    /// thread ends (its task goes).
    switches: (u64, u64),
    /// First thread: the most memory (KiB) the process's earlier address
    /// spaces had mapped (before an execve) and, once it ended, its last.
    maxrss_kib: u64,
    /// First thread: ITIMER_VIRTUAL and ITIMER_PROF ([`CpuTimer`]).
    cpu_timers: [Option<CpuTimer>; 2],
}

/// What getrusage and wait4 report: CPU time in nanoseconds, the peak
/// memory, page faults and context switches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub user_ns: u64,
    pub system_ns: u64,
    /// The most memory mapped at once, in KiB: of several processes the
    /// largest, not a sum (Linux's maxrss).
    pub maxrss_kib: u64,
    pub min_flt: u64,
    pub nvcsw: u64,
    pub nivcsw: u64,
}

impl core::ops::Add for Usage {
    type Output = Usage;
    fn add(self, o: Usage) -> Usage {
        Usage {
            user_ns: self.user_ns + o.user_ns,
            system_ns: self.system_ns + o.system_ns,
            maxrss_kib: self.maxrss_kib.max(o.maxrss_kib),
            min_flt: self.min_flt + o.min_flt,
            nvcsw: self.nvcsw + o.nvcsw,
            nivcsw: self.nivcsw + o.nivcsw,
        }
    }
}

/// An interval timer that counts the process's CPU time (ITIMER_VIRTUAL:
/// user time; ITIMER_PROF: user and system time), a timer tick at a time.
#[derive(Clone, Copy, Debug)]
struct CpuTimer {
    left_ns: u64,
    interval_ns: u64,
}

/// A change of a process's run state that wait reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobEvent {
    Stopped(u32),
    Continued,
}

impl Entry {
    fn new(pid: sched::Pid, tgid: sched::Pid, process: Box<Process>, ppid: sched::Pid, group: (sched::Pid, sched::Pid)) -> Self {
        let mut entry = Entry {
            pid,
            tgid,
            process: None,
            ppid,
            zombie: None,
            posted: 0,
            posted_info: [SigInfo::default(); 64],
            rt_queue: process.rt_queue.share(),
            shared_pending: process.shared_pending.share(),
            shared_chosen: 0,
            flush_private: 0,
            interrupting: 0,
            awaited: 0,
            no_zombies: false,
            ignored: 0,
            dispositions_version: 0,
            pgid: group.0,
            sid: group.1,
            vfork_parent: None,
            ending: false,
            group_exit: None,
            parked: false,
            no_cldstop: false,
            stopped: false,
            job_event: None,
            stop_pending: false,
            user_ns: 0,
            system_ns: 0,
            load_ns: 0,
            ended_threads: Usage::default(),
            children: Usage::default(),
            min_flt: 0,
            switches: (0, 0),
            maxrss_kib: 0,
            cpu_timers: [None; 2],
        };
        entry.mirror(&process);
        entry.process = Some(process);
        entry
    }

    /// Copies what others need to know of the thread's signal state while
    /// a call of its has the process out of the table. Runs on every
    /// syscall's way out, so what comes from the dispositions (64 of
    /// them, under their lock) is recomputed only when they changed.
    fn mirror(&mut self, process: &Process) {
        let version = process.sigactions.version();
        if self.dispositions_version != version {
            self.dispositions_version = version;
            self.ignored = signal::ignored(process);
            let chld = process.sigactions.read(|all| all[signal::SIGCHLD as usize - 1]);
            self.no_zombies = chld.sa_handler == signal::SIG_IGN || chld.sa_flags & signal::SA_NOCLDWAIT != 0;
            self.no_cldstop = chld.sa_flags & signal::SA_NOCLDSTOP != 0;
        }
        self.interrupting = signal::interrupting_given(self.ignored, process.sigmask);
    }

    /// The signals that end a blocking call of the thread now.
    fn interrupting_now(&self) -> u64 {
        self.process.as_deref().map_or(self.interrupting, signal::interrupting) | self.awaited
    }

    /// The signals posted to the thread, and those of its process's shared
    /// set it was chosen to take and that are still there.
    fn posted_to_it(&self) -> u64 {
        let chosen = if self.shared_chosen != 0 { self.shared_chosen & self.shared_pending.pending() } else { 0 };
        self.posted | chosen
    }

    /// The thread must stop what it waits for: its group is going, or a
    /// signal is posted that it does not block or ignore.
    fn interrupted(&self) -> bool {
        if self.ending || self.stop_pending || self.zombie.is_some() {
            return self.ending || self.stop_pending;
        }
        let posted = self.posted_to_it();
        posted != 0 && posted & self.interrupting_now() != 0
    }

    /// Drops the signals of `set` from the thread's own pending set: now
    /// when its process sits in the table, else when it next takes in
    /// what was posted ([`collect`]).
    fn flush(&mut self, set: u64) {
        match self.process.as_deref_mut() {
            Some(process) => process.pending &= !set,
            None => self.flush_private |= set,
        }
    }

    /// The first thread of its process, which stands for the process.
    fn is_leader(&self) -> bool {
        self.pid == self.tgid
    }

    /// The thread must end (or stop) at its next entry into the kernel;
    /// blocking calls end early.
    fn must_stop(&self) -> bool {
        self.ending || self.stop_pending
    }

    /// The one check on the way back to ring 3: the thread must end or
    /// stop, or a signal is posted that it acts on now.
    fn needs_attention(&self) -> bool {
        if self.must_stop() {
            return true;
        }
        let posted = self.posted_to_it();
        posted != 0 && posted & self.interrupting_now() != 0
    }
}

static PROCESSES: IrqMutex<Vec<Entry>> = IrqMutex::new(Vec::new());

/// Woken whenever a process ends or execs: parents in wait4/waitid and vfork.
static CHILD_EVENTS: WaitQueue = WaitQueue::new();

/// Most processes (thread groups, zombies included) at once: past it fork
/// fails with EAGAIN (a fork bomb stops here).
pub const MAX_PROCESSES: usize = 64;

/// Most threads of all processes at once: past it clone fails with EAGAIN.
/// Each needs a kernel stack (256 slots in all); the rest stay for the
/// kernel's own tasks (shell, timers, network, telnet sessions, LKL).
pub const MAX_THREADS: usize = 192;

/// The pid orphans are given as their parent (Linux's init; here the shell).
pub const INIT_PID: sched::Pid = 1;

/// True when the running thread is to stop waiting (its group is going,
/// or a signal came that it neither blocks nor ignores): sleeps and
/// blocking calls (futex waits among them) end early with EINTR.
pub fn interrupted() -> bool {
    let pid = sched::current_pid();
    PROCESSES.lock().iter().any(|e| e.pid == pid && e.interrupted())
}

/// The group of `me` is ending with `ending` (exit_group, a fatal signal):
/// every other thread ends quietly at its next entry into the kernel.
fn end_group(me: &mut Process, ending: Ending) {
    cpu::without_interrupts(|| {
        let mut table = PROCESSES.lock();
        if let Some(leader) = table.iter_mut().find(|e| e.pid == me.pid) {
            leader.group_exit.get_or_insert(ending);
        }
        end_other_threads(&mut table, me.pid, sched::current_pid())
    });
}

/// Marks every thread of group `tgid` but `me` as ending and wakes it;
/// true if there was one.
fn end_other_threads(table: &mut [Entry], tgid: sched::Pid, me: sched::Pid) -> bool {
    let mut any = false;
    for thread in table.iter_mut().filter(|e| e.tgid == tgid && e.pid != me) {
        thread.ending = true;
        any = true;
        sched::wake(thread.pid);
        crate::lkl::interrupt(thread.pid);
    }
    any
}

/// execve in a thread of a process with several: the other threads end
/// first (the first thread, if it is not the caller, stays parked as the
/// process's stand-in until the process ends). Returns when they are gone.
pub fn end_threads_for_exec(me: &mut Process) {
    if me.memory.users() == 1 {
        return;
    }
    // The task's pid, not `me.tid`: after an execve in a second thread the
    // two differ.
    let (tgid, tid) = (me.pid, sched::current_pid());
    cpu::without_interrupts(|| end_other_threads(&mut PROCESSES.lock(), tgid, tid));
    CHILD_EVENTS.wait_until(|| {
        let table = PROCESSES.lock();
        !table.iter().any(|e| e.tgid == tgid && e.pid != tid && !(e.is_leader() && e.parked))
    });
}

/// True when `tid` is a live thread of process `tgid`.
pub fn is_thread_of(tgid: sched::Pid, tid: sched::Pid) -> bool {
    cpu::without_interrupts(|| PROCESSES.lock().iter().any(|e| e.pid == tid && e.tgid == tgid && e.zombie.is_none() && !e.parked))
}

/// True when a live process `pid` exists.
pub fn exists(pid: sched::Pid) -> bool {
    PROCESSES.lock().iter().any(|e| e.pid == pid && e.is_leader() && e.zombie.is_none())
}

/// The parent of process `pid`.
pub fn parent_of(pid: sched::Pid) -> sched::Pid {
    PROCESSES.lock().iter().find(|e| e.pid == pid).map_or(INIT_PID, |e| e.ppid)
}

/// Posts `sig` to the thread's entry: the thread takes it in on its way
/// back to ring 3; a blocking call it would interrupt is woken. A
/// real-time signal is queued (EAGAIN: a sigqueue past RLIMIT_SIGPENDING).
fn post_signal(entry: &mut Entry, sig: u32, info: SigInfo) -> Result<(), Errno> {
    if sig == 0 || sig > embox_abi::consts::signal::NSIG || entry.zombie.is_some() {
        return Ok(());
    }
    if sig >= signal::SIGRTMIN {
        entry.rt_queue.push(sig, info)?;
    } else if entry.posted & bit(sig) == 0 {
        entry.posted_info[sig as usize - 1] = info;
    }
    entry.posted |= bit(sig);
    if entry.interrupting_now() & bit(sig) != 0 {
        sched::wake(entry.pid);
        crate::lkl::interrupt(entry.pid);
    }
    // A poll/select on a signalfd waits for the signal even while it is blocked.
    crate::wait::notify();
    Ok(())
}

/// Posts a signal for process `tgid` to its shared pending set and wakes
/// the first of its threads that neither blocks nor ignores it (or waits
/// for it) to take it, as Linux's complete_signal does; with none, it
/// waits there for a thread that unblocks it. False when the process has
/// no live thread; EAGAIN when a queued signal is past the limit.
fn post_to_process(table: &mut [Entry], tgid: sched::Pid, sig: u32, info: SigInfo) -> Result<bool, Errno> {
    if sig == 0 || sig > embox_abi::consts::signal::NSIG {
        return Ok(table.iter().any(|e| e.pid == tgid && e.is_leader() && e.zombie.is_none()));
    }
    let live = |e: &Entry| e.tgid == tgid && e.zombie.is_none() && !e.parked && !e.ending;
    let Some(any) = table.iter().position(live) else {
        return Ok(table.iter().any(|e| e.pid == tgid && e.is_leader() && e.zombie.is_none()));
    };
    table[any].shared_pending.post(sig, info)?;
    if let Some(chosen) = table.iter_mut().find(|e| live(e) && e.interrupting_now() & bit(sig) != 0) {
        chosen.shared_chosen |= bit(sig);
        sched::wake(chosen.pid);
        crate::lkl::interrupt(chosen.pid);
    }
    // A poll/select on a signalfd waits for the signal even while it is blocked.
    crate::wait::notify();
    Ok(true)
}

/// How process `tgid` takes SIGCHLD: (leaves no zombies: SIG_IGN or
/// SA_NOCLDWAIT; wants no stop/continue notices: SA_NOCLDSTOP). Read from
/// a thread in the table, else the first thread's mirror.
fn child_policy(table: &[Entry], tgid: sched::Pid) -> (bool, bool) {
    if let Some(p) = table.iter().filter(|e| e.tgid == tgid).find_map(|e| e.process.as_deref()) {
        let chld = p.sigactions.read(|all| all[signal::SIGCHLD as usize - 1]);
        let no_zombies = chld.sa_handler == signal::SIG_IGN || chld.sa_flags & signal::SA_NOCLDWAIT != 0;
        return (no_zombies, chld.sa_flags & signal::SA_NOCLDSTOP != 0);
    }
    table.iter().find(|e| e.pid == tgid).map_or((false, false), |e| (e.no_zombies, e.no_cldstop))
}

/// Whether process `tgid` leaves no zombies (SIGCHLD ignored or
/// SA_NOCLDWAIT).
fn ignores_children(table: &[Entry], tgid: sched::Pid) -> bool {
    child_policy(table, tgid).0
}

/// Process `pid` stopped (CLD_STOPPED, with the signal) or continued
/// (CLD_CONTINUED): its parent gets SIGCHLD unless it asked for
/// SA_NOCLDSTOP (or ignores SIGCHLD), and its waits are woken by the caller.
fn notify_stop_or_continue(table: &mut [Entry], pid: sched::Pid, event: JobEvent) {
    let Some(ppid) = table.iter().find(|e| e.pid == pid && e.is_leader()).map(|e| e.ppid) else { return };
    if !table.iter().any(|e| e.pid == ppid && e.is_leader() && e.zombie.is_none()) {
        return;
    }
    let (code, status) = match event {
        JobEvent::Stopped(sig) => (signal::CLD_STOPPED, sig),
        JobEvent::Continued => (signal::CLD_CONTINUED, signal::SIGCONT),
    };
    let chld = table
        .iter()
        .filter(|e| e.tgid == ppid)
        .find_map(|e| e.process.as_deref())
        .map(|p| p.sigactions.read(|all| all[signal::SIGCHLD as usize - 1].sa_handler == signal::SIG_IGN));
    let ignored = chld.unwrap_or(false);
    if !ignored && !child_policy(table, ppid).1 {
        let _ = post_to_process(table, ppid, signal::SIGCHLD, SigInfo::child(pid, code, status));
    }
}

/// What sending `sig` to process `tgid` does at once, before any thread
/// takes it (Linux's prepare_signal): a stop signal cancels a pending
/// SIGCONT; SIGCONT cancels pending stop signals and, when the process is
/// stopped, continues every thread of it (its handler, if any, runs after).
/// SIGKILL wakes a stopped process so that it can die.
fn prepare_signal(table: &mut [Entry], tgid: sched::Pid, sig: u32) {
    if signal::STOP_SIGNALS & bit(sig) != 0 {
        for e in table.iter_mut().filter(|e| e.tgid == tgid) {
            e.posted &= !bit(signal::SIGCONT);
            e.shared_pending.discard(bit(signal::SIGCONT));
            e.flush(bit(signal::SIGCONT));
        }
    } else if sig == signal::SIGCONT {
        let mut was_stopped = false;
        for e in table.iter_mut().filter(|e| e.tgid == tgid && e.zombie.is_none()) {
            e.posted &= !signal::STOP_SIGNALS;
            e.shared_pending.discard(signal::STOP_SIGNALS);
            e.flush(signal::STOP_SIGNALS);
            e.stop_pending = false;
            if e.is_leader() && e.stopped {
                e.stopped = false;
                e.job_event = Some(JobEvent::Continued);
                was_stopped = true;
            }
        }
        if was_stopped {
            notify_stop_or_continue(table, tgid, JobEvent::Continued);
            STOPPED.wake_all();
        }
    } else if sig == embox_abi::consts::signal::SIGKILL {
        STOPPED.wake_all();
    }
}

/// Stopped threads wait here for SIGCONT or SIGKILL.
static STOPPED: WaitQueue = WaitQueue::new();

/// True when process group `pgid` of session `sid` is orphaned: no member
/// has a parent in another group of the same session (job-control stop
/// signals then do nothing, and a read from the terminal is EIO). The
/// program `load_app` starts leads its own session with the `embox>`
/// shell as its parent, which is no Linux process: its group is orphaned,
/// as a login shell's is under init.
fn orphaned(table: &[Entry], pgid: sched::Pid, sid: sched::Pid) -> bool {
    !table.iter().filter(|e| e.is_leader() && e.pgid == pgid && e.zombie.is_none()).any(|e| {
        table.iter().any(|parent| parent.pid == e.ppid && parent.is_leader() && parent.zombie.is_none() && parent.pgid != pgid && parent.sid == sid)
    })
}

/// The running thread `tid` of process `tgid` acts on stop signal `sig`
/// (its default action): the whole process stops, its parent is told
/// (wait's WUNTRACED, SIGCHLD with CLD_STOPPED), and the thread waits until
/// a SIGCONT or SIGKILL comes, then takes in what was posted meanwhile.
/// SIGTSTP, SIGTTIN and SIGTTOU do nothing to an orphaned process group.
fn stop_group(tid: sched::Pid, process: &mut Process, sig: u32) {
    let tgid = process.pid;
    let stops = cpu::without_interrupts(|| {
        let mut table = PROCESSES.lock();
        let Some(leader) = table.iter().position(|e| e.pid == tgid && e.is_leader()) else { return false };
        if sig != embox_abi::consts::signal::SIGSTOP && orphaned(&table, table[leader].pgid, table[leader].sid) {
            return false;
        }
        if !table[leader].stopped {
            table[leader].stopped = true;
            table[leader].job_event = Some(JobEvent::Stopped(sig));
            for e in table.iter_mut().filter(|e| e.tgid == tgid && e.pid != tid && !e.parked) {
                e.stop_pending = true;
                sched::wake(e.pid);
                crate::lkl::interrupt(e.pid);
            }
            notify_stop_or_continue(&mut table, tgid, JobEvent::Stopped(sig));
        }
        true
    });
    if stops {
        CHILD_EVENTS.wake_all();
        wait_while_stopped(tid, tgid);
        collect(tid, process);
    }
}

/// Blocks thread `tid` while process `tgid` is stopped (until SIGCONT, a
/// SIGKILL posted to it, or the end of its group).
fn wait_while_stopped(tid: sched::Pid, tgid: sched::Pid) {
    STOPPED.wait_until(|| {
        let mut table = PROCESSES.lock();
        let stopped = table.iter().any(|e| e.pid == tgid && e.is_leader() && e.stopped);
        let Some(me) = table.iter_mut().find(|e| e.pid == tid) else { return true };
        me.stop_pending = false;
        !stopped || me.ending || (me.posted | me.shared_pending.pending()) & bit(embox_abi::consts::signal::SIGKILL) != 0
    });
}

/// Which processes a kill is for.
#[derive(Clone, Copy)]
pub enum Target {
    Pid(sched::Pid),
    Group(sched::Pid),
    /// Every process but init and the sender.
    All { except: sched::Pid },
    /// One thread (tkill; tgkill names its process too).
    Thread { tgid: Option<sched::Pid>, tid: sched::Pid },
}

/// Sends `sig` to what `target` names (signal 0 only checks that it
/// exists). ESRCH when nothing matches.
pub fn send_signal(target: Target, sig: u32, info: SigInfo) -> Result<(), Errno> {
    let sent = cpu::without_interrupts(|| {
        let mut table = PROCESSES.lock();
        if let Target::Thread { tgid, tid } = target {
            let group = table
                .iter()
                .find(|e| e.pid == tid && tgid.is_none_or(|g| g == e.tgid) && e.zombie.is_none() && !e.parked)
                .map(|e| e.tgid)
                .ok_or(Errno::ESRCH)?;
            if sig != 0 {
                prepare_signal(&mut table, group, sig);
            }
            if let Some(entry) = table.iter_mut().find(|e| e.pid == tid) {
                post_signal(entry, sig, info)?;
            }
            return Ok(());
        }
        if let Target::Pid(pid) = target {
            // One process (kill to a pid, the common case): no list to build.
            if !table.iter().any(|e| e.pid == pid && e.is_leader() && e.zombie.is_none()) {
                return Err(Errno::ESRCH);
            }
            if sig != 0 {
                prepare_signal(&mut table, pid, sig);
            }
            post_to_process(&mut table, pid, sig, info)?;
            return Ok(());
        }
        let processes: Vec<sched::Pid> = table
            .iter()
            .filter(|e| e.is_leader() && e.zombie.is_none())
            .filter(|e| match target {
                Target::Pid(pid) => e.pid == pid,
                Target::Group(pgid) => e.pgid == pgid,
                Target::All { except } => e.pid != except && e.pid != INIT_PID,
                Target::Thread { .. } => false,
            })
            .map(|e| e.pid)
            .collect();
        for &tgid in &processes {
            if sig != 0 {
                prepare_signal(&mut table, tgid, sig);
            }
            // kill's signals never fail for want of queue room.
            let _ = post_to_process(&mut table, tgid, sig, info);
        }
        if processes.is_empty() {
            Err(Errno::ESRCH)
        } else {
            Ok(())
        }
    });
    CHILD_EVENTS.wake_all();
    sent
}

/// Takes the signals posted to thread `pid` into its pending set. True
/// when its process is stopping and the thread must stop too.
fn collect(pid: sched::Pid, process: &mut Process) -> bool {
    cpu::without_interrupts(|| {
        let mut table = PROCESSES.lock();
        let Some(entry) = table.iter_mut().find(|e| e.pid == pid) else { return false };
        process.pending &= !core::mem::take(&mut entry.flush_private);
        let posted = core::mem::take(&mut entry.posted);
        // Chosen for shared signals it now blocks (it blocked them since):
        // another thread takes them, as Linux's retarget_shared_pending.
        let blocked_now = core::mem::take(&mut entry.shared_chosen) & entry.shared_pending.pending() & process.sigmask;
        // Real-time signals are in the queue already: their bits only say so.
        process.pending |= posted & !signal::STANDARD_SIGNALS;
        let mut standard = posted & signal::STANDARD_SIGNALS;
        while standard != 0 {
            let sig = standard.trailing_zeros() + 1;
            standard &= standard - 1;
            let _ = signal::post(process, sig, entry.posted_info[sig as usize - 1]);
        }
        signal::sync_queued(process);
        let stopping = entry.stop_pending;
        if blocked_now != 0 {
            retarget(&mut table, process.pid, pid, blocked_now);
        }
        stopping
    })
}

/// Wakes another thread of process `tgid` than `from` for each signal of
/// `set` in its shared set: the first that neither blocks nor ignores it.
fn retarget(table: &mut [Entry], tgid: sched::Pid, from: sched::Pid, set: u64) {
    let mut left = set;
    while left != 0 {
        let sig_bit = left & left.wrapping_neg();
        left &= left - 1;
        let wants = |e: &Entry| e.tgid == tgid && e.pid != from && e.zombie.is_none() && !e.parked && !e.ending && e.interrupting_now() & sig_bit != 0;
        if let Some(other) = table.iter_mut().find(|e| wants(e)) {
            other.shared_chosen |= sig_bit;
            sched::wake(other.pid);
            crate::lkl::interrupt(other.pid);
        }
    }
}

/// [`collect`] for the running thread (sigsuspend, sigpending).
pub fn collect_current(process: &mut Process) {
    collect(sched::current_pid(), process);
}

/// The signals pending for the running thread, with those posted to it
/// and not yet taken in (a signalfd's readiness; taking them in here would
/// hide them from the checks that end a blocking call).
pub fn pending_now(process: &Process) -> u64 {
    let pid = sched::current_pid();
    let posted = cpu::without_interrupts(|| PROCESSES.lock().iter().find(|e| e.pid == pid).map_or(0, |e| e.posted));
    ((process.pending | posted) & signal::STANDARD_SIGNALS) | process.rt_queue.pending() | process.shared_pending.pending()
}

/// The running thread waits for the signals of `set` (sigtimedwait, a
/// signalfd read; 0 when it no longer does): one posted to it wakes it even
/// while blocked or ignored, and one sent to its process comes to it, as
/// Linux's temporary unblocking does.
pub fn await_signals(set: u64) {
    let pid = sched::current_pid();
    cpu::without_interrupts(|| {
        if let Some(entry) = PROCESSES.lock().iter_mut().find(|e| e.pid == pid) {
            entry.awaited = set;
        }
    });
}

/// The running thread's group is going or stopping: a wait must end now.
pub fn must_stop() -> bool {
    let pid = sched::current_pid();
    cpu::without_interrupts(|| PROCESSES.lock().iter().any(|e| e.pid == pid && e.must_stop()))
}

/// Publishes the running thread's signal mask and dispositions (a call
/// that blocks after changing them, such as sigsuspend).
pub fn publish_signal_state(process: &Process) {
    let pid = sched::current_pid();
    cpu::without_interrupts(|| {
        if let Some(entry) = PROCESSES.lock().iter_mut().find(|e| e.pid == pid) {
            entry.mirror(process);
        }
    });
}

/// The process group and session of process `pid`, in the table.
fn group_in(table: &[Entry], pid: sched::Pid) -> Option<(sched::Pid, sched::Pid)> {
    table.iter().find(|e| e.pid == pid && e.is_leader()).map(|e| (e.pgid, e.sid))
}

/// The process group and session of process `pid` (live or zombie).
pub fn group_of(pid: sched::Pid) -> Option<(sched::Pid, sched::Pid)> {
    cpu::without_interrupts(|| group_in(&PROCESSES.lock(), pid))
}

/// setpgid(pid, pgid) from process `caller`: `pid` is the caller or a
/// child of it, in the caller's session and not a session leader; the
/// group is its own pid or one that exists in that session.
pub fn set_group(caller: sched::Pid, pid: sched::Pid, pgid: sched::Pid) -> Result<(), Errno> {
    cpu::without_interrupts(|| {
        let mut table = PROCESSES.lock();
        let (_, caller_sid) = group_in(&table, caller).ok_or(Errno::ESRCH)?;
        let target = table.iter().find(|e| e.pid == pid && e.is_leader() && e.zombie.is_none()).ok_or(Errno::ESRCH)?;
        if pid != caller && target.ppid != caller {
            return Err(Errno::ESRCH);
        }
        if target.sid != caller_sid || target.sid == pid {
            return Err(Errno::EPERM);
        }
        let exists = table.iter().any(|e| e.is_leader() && e.pgid == pgid && e.sid == caller_sid);
        if pgid != pid && !exists {
            return Err(Errno::EPERM);
        }
        if let Some(entry) = table.iter_mut().find(|e| e.pid == pid && e.is_leader()) {
            entry.pgid = pgid;
        }
        Ok(())
    })
}

/// setsid() for process `pid`: EPERM when it leads a process group.
pub fn new_session(pid: sched::Pid) -> Result<sched::Pid, Errno> {
    cpu::without_interrupts(|| {
        let mut table = PROCESSES.lock();
        if table.iter().any(|e| e.is_leader() && e.pgid == pid && e.zombie.is_none()) {
            return Err(Errno::EPERM);
        }
        let entry = table.iter_mut().find(|e| e.pid == pid && e.is_leader()).ok_or(Errno::ESRCH)?;
        entry.pgid = pid;
        entry.sid = pid;
        Ok(pid)
    })
}

/// The console's foreground process group: Ctrl-C, Ctrl-\ and Ctrl-Z go to it.
static FOREGROUND: IrqMutex<sched::Pid> = IrqMutex::new(0);
/// The session the console is the controlling terminal of: the one the
/// program `load_app` started last leads.
static CONSOLE_SESSION: IrqMutex<sched::Pid> = IrqMutex::new(0);

/// Job control on the console for process `p` (the caller), as Linux's
/// tty_check_change and job_control: a process of the console's session
/// outside its foreground group that reads (`sig` = SIGTTIN) or changes
/// the terminal (SIGTTOU: tcsetpgrp, tcsetattr; a write with TOSTOP set)
/// signals its whole group
/// and gets EINTR (the call restarts once the group is continued, or after
/// a handler with SA_RESTART). A blocked or ignored SIGTTOU lets the change
/// through; a blocked or ignored SIGTTIN, or an orphaned group, is EIO.
pub fn console_job_control(p: &Process, sig: u32) -> Result<(), Errno> {
    let session = *CONSOLE_SESSION.lock();
    let Some((pgid, sid)) = group_of(p.pid) else { return Ok(()) };
    if sid != session || pgid == foreground_group() {
        return Ok(());
    }
    let shielded = p.sigmask & bit(sig) != 0 || p.sigactions.read(|all| all[sig as usize - 1].sa_handler == signal::SIG_IGN);
    if shielded {
        return if sig == signal::SIGTTOU { Ok(()) } else { Err(Errno::EIO) };
    }
    let sent = cpu::without_interrupts(|| {
        let mut table = PROCESSES.lock();
        if orphaned(&table, pgid, sid) {
            return false;
        }
        let members: Vec<sched::Pid> =
            table.iter().filter(|e| e.is_leader() && e.pgid == pgid && e.zombie.is_none()).map(|e| e.pid).collect();
        for tgid in members {
            prepare_signal(&mut table, tgid, sig);
            let _ = post_to_process(&mut table, tgid, sig, SigInfo::kernel());
        }
        true
    });
    if sent {
        Err(Errno::EINTR)
    } else {
        Err(Errno::EIO)
    }
}

/// tcgetpgrp on the console.
pub fn foreground_group() -> sched::Pid {
    *FOREGROUND.lock()
}

/// tcsetpgrp on the console from process `caller`: the group must exist
/// (ESRCH) in the caller's session (EPERM).
pub fn set_foreground_group(caller: sched::Pid, pgid: sched::Pid) -> Result<(), Errno> {
    cpu::without_interrupts(|| {
        let table = PROCESSES.lock();
        let (_, sid) = group_in(&table, caller).ok_or(Errno::ESRCH)?;
        // A zombie is still in its group until reaped (the first process
        // of a pipeline may have ended before the last one takes the
        // terminal for the group).
        let live_group = |e: &&Entry| e.is_leader() && e.pgid == pgid;
        if !table.iter().any(|e| live_group(&e)) {
            return Err(Errno::ESRCH);
        }
        if !table.iter().filter(live_group).any(|e| e.sid == sid) {
            return Err(Errno::EPERM);
        }
        *FOREGROUND.lock() = pgid;
        Ok(())
    })
}

/// The tty's hook (interrupt context): Ctrl-C sends SIGINT, Ctrl-\
/// SIGQUIT and Ctrl-Z SIGTSTP to the console's foreground process group
/// (when ISIG is on). True when it signalled a process.
fn on_console_signal(sig: u32) -> bool {
    // Raw mode without ISIG (a line editor): the key is input, not a signal.
    if !env::console_signals_enabled() {
        return false;
    }
    let group = foreground_group();
    let mut table = PROCESSES.lock();
    let processes: Vec<sched::Pid> =
        table.iter().filter(|e| e.is_leader() && e.pgid == group && e.zombie.is_none()).map(|e| e.pid).collect();
    let signalled = !processes.is_empty();
    for tgid in processes {
        prepare_signal(&mut table, tgid, sig);
        let _ = post_to_process(&mut table, tgid, sig, SigInfo::kernel());
    }
    drop(table);
    CHILD_EVENTS.wake_all();
    signalled
}

/// ITIMER_VIRTUAL's and ITIMER_PROF's index in [`Entry::cpu_timers`] and
/// the signal each sends.
pub const ITIMER_VIRTUAL: usize = 0;
pub const ITIMER_PROF: usize = 1;
const CPU_TIMER_SIGNALS: [u32; 2] = [26, 27]; // SIGVTALRM, SIGPROF

/// The timer tick (interrupt context): charges the tick to the running
/// thread, as user time while its process sits in the table (ring 3) and
/// as system time while a call or fault of its has it out, and runs its
/// process's ITIMER_VIRTUAL (user time) and ITIMER_PROF (both).
pub fn cpu_tick() {
    let tid = sched::current_pid();
    let mut table = PROCESSES.lock();
    let Some(i) = table.iter().position(|e| e.pid == tid) else { return };
    let user = table[i].process.is_some();
    let tick = tick_ns();
    if user {
        table[i].user_ns += tick;
    } else {
        table[i].system_ns += tick;
    }
    let tgid = table[i].tgid;
    let leader = if table[i].is_leader() { Some(i) } else { table.iter().position(|e| e.pid == tgid && e.is_leader()) };
    let Some(leader) = leader else { return };
    let mut expired = [false; 2];
    for (which, slot) in table[leader].cpu_timers.iter_mut().enumerate() {
        let Some(timer) = slot else { continue };
        if which == ITIMER_VIRTUAL && !user {
            continue;
        }
        if timer.left_ns > tick {
            timer.left_ns -= tick;
            continue;
        }
        expired[which] = true;
        if timer.interval_ns == 0 {
            *slot = None;
        } else {
            // The next round counts from this expiry (Linux adds the
            // interval to the expiry time).
            timer.left_ns = (timer.left_ns + timer.interval_ns).saturating_sub(tick).max(1);
        }
    }
    for (which, sig) in CPU_TIMER_SIGNALS.iter().enumerate() {
        if expired[which] {
            let _ = post_to_process(&mut table, tgid, *sig, SigInfo::kernel());
        }
    }
    // POSIX timers on CPU clocks: due on the tick after their clock passed
    // the deadline, as Linux's run_posix_cpu_timers (one relaxed load
    // while none is armed anywhere).
    if posix_timer::cpu_timers_armed() {
        let (thread, process) = (thread_times(&table[i]), process_times(&table, tgid));
        drop(table);
        posix_timer::cpu_tick(tid, tgid, thread, process);
    }
}

/// Whose CPU time [`cpu_time`] reports.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum CpuTimeOf {
    /// The process of the running thread (all its threads).
    Process,
    /// The running thread.
    Thread,
    /// The process's children that ended and were waited for.
    Children,
}

/// CPU time (user, system) in nanoseconds, as getrusage, times and the
/// CPU-time clocks report it.
pub fn cpu_time(of: CpuTimeOf) -> (u64, u64) {
    let tid = sched::current_pid();
    cpu::without_interrupts(|| {
        let table = PROCESSES.lock();
        let Some(me) = table.iter().find(|e| e.pid == tid) else { return (0, 0) };
        let tgid = me.tgid;
        match of {
            CpuTimeOf::Thread => thread_times(me),
            CpuTimeOf::Process => process_times(&table, tgid),
            CpuTimeOf::Children => table.iter().find(|e| e.pid == tgid && e.is_leader()).map_or((0, 0), |e| (e.children.user_ns, e.children.system_ns)),
        }
    })
}

/// A CPU-time clock, resolved: whose time it counts and which part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuClock {
    /// A thread (`per_thread`) or a process (its first thread's pid).
    pub pid: sched::Pid,
    pub per_thread: bool,
    /// User time only (the VIRT kind); else user plus system.
    pub user_only: bool,
}

impl CpuClock {
    /// The clock's reading from a (user, system) pair.
    pub fn value(self, (user, system): (u64, u64)) -> u64 {
        if self.user_only {
            user
        } else {
            user + system
        }
    }
}

/// The CPU clock a clock id names for the running thread:
/// CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID, or the ids
/// clock_getcpuclockid and pthread_getcpuclockid make (Linux's encoding
/// `~pid << 3 | per-thread << 2 | kind`, kind 0 user and system time, 1
/// user time, 2 run time, 3 invalid; pid 0 meaning the caller). A
/// per-thread clock must name a thread of the caller's process; a process
/// clock may name any process. EINVAL otherwise, as Linux's pid_for_clock.
pub fn cpu_clock(clock: u32) -> Result<CpuClock, Errno> {
    let me = sched::current_pid();
    cpu::without_interrupts(|| resolve_cpu_clock(&PROCESSES.lock(), me, clock)).ok_or(Errno::EINVAL)
}

/// What `clock` reads now, in nanoseconds (both steps of [`cpu_clock`] and
/// [`cpu_clock_ns`] under one lock). EINVAL: no such clock.
pub fn cpu_clock_now(clock: u32) -> Result<u64, Errno> {
    let me = sched::current_pid();
    cpu::without_interrupts(|| {
        let table = PROCESSES.lock();
        let c = resolve_cpu_clock(&table, me, clock)?;
        read_cpu_clock(&table, c).map(|times| c.value(times))
    })
    .ok_or(Errno::EINVAL)
}

/// What CPU clock `c` reads now, in nanoseconds; None once its thread or
/// process is gone.
pub fn cpu_clock_ns(c: CpuClock) -> Option<u64> {
    cpu::without_interrupts(|| read_cpu_clock(&PROCESSES.lock(), c).map(|times| c.value(times)))
}

fn resolve_cpu_clock(table: &[Entry], me: sched::Pid, clock: u32) -> Option<CpuClock> {
    use embox_abi::consts::clock::{CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID};
    let my_tgid = table.iter().find(|e| e.pid == me)?.tgid;
    let (target, per_thread, user_only) = match clock {
        CLOCK_PROCESS_CPUTIME_ID => (0, false, false),
        CLOCK_THREAD_CPUTIME_ID => (0, true, false),
        _ if (clock as i32) < 0 && clock & 3 != 3 => (!((clock as i32) >> 3) as u32, clock & 4 != 0, clock & 3 == 1),
        _ => return None,
    };
    let pid = if per_thread {
        let tid = if target == 0 { me } else { target };
        table.iter().find(|e| e.pid == tid && e.tgid == my_tgid)?.pid
    } else {
        let pid = if target == 0 { my_tgid } else { target };
        table.iter().find(|e| e.pid == pid && e.is_leader())?.pid
    };
    Some(CpuClock { pid, per_thread, user_only })
}

fn read_cpu_clock(table: &[Entry], c: CpuClock) -> Option<(u64, u64)> {
    if c.per_thread {
        table.iter().find(|e| e.pid == c.pid).map(thread_times)
    } else {
        table.iter().any(|e| e.pid == c.pid && e.is_leader()).then(|| process_times(table, c.pid))
    }
}

/// The CPU time of process `tgid`: its threads' and its ended threads'.
fn process_times(table: &[Entry], tgid: sched::Pid) -> (u64, u64) {
    table.iter().filter(|e| e.tgid == tgid).fold((0, 0), |(u, s), e| {
        let (user, system) = thread_times(e);
        (u + user + e.ended_threads.user_ns, s + system + e.ended_threads.system_ns)
    })
}

/// getrusage's figures for the running thread (`of` as for [`cpu_time`]);
/// `own_peak_kib` is its address space's peak (the process's maxrss is
/// the larger of it and its earlier address spaces', for the thread too,
/// as Linux).
pub fn usage(of: CpuTimeOf, own_peak_kib: u64) -> Usage {
    let tid = sched::current_pid();
    cpu::without_interrupts(|| {
        let table = PROCESSES.lock();
        let Some(me) = table.iter().find(|e| e.pid == tid) else { return Usage::default() };
        let Some(leader) = table.iter().find(|e| e.pid == me.tgid && e.is_leader()) else { return Usage::default() };
        let maxrss = Usage { maxrss_kib: leader.maxrss_kib.max(own_peak_kib), ..Usage::default() };
        match of {
            CpuTimeOf::Thread => thread_usage(me) + maxrss,
            CpuTimeOf::Process => table.iter().filter(|e| e.tgid == me.tgid).fold(maxrss, |sum, e| sum + thread_usage(e) + e.ended_threads),
            CpuTimeOf::Children => leader.children,
        }
    })
}

/// What one thread used (a zombie: its times as kept at its end).
fn thread_usage(e: &Entry) -> Usage {
    let ((user_ns, system_ns), (nvcsw, nivcsw)) = match e.zombie {
        Some(_) => ((e.user_ns, e.system_ns), e.switches),
        None => (thread_times(e), sched::switches(e.pid).unwrap_or(e.switches)),
    };
    Usage { user_ns, system_ns, maxrss_kib: 0, min_flt: e.min_flt, nvcsw, nivcsw }
}

/// A thread's (user, system) CPU time in nanoseconds: its task's exact run
/// time (the scheduler's, to the nanosecond), split between user and
/// system in the proportion of the tick samples, as Linux's cputime_adjust
/// does (all user time while no system tick was seen), plus the load time.
fn thread_times(e: &Entry) -> (u64, u64) {
    let (user, system) = (e.user_ns, e.system_ns);
    let Some(runtime) = sched::runtime_ns(e.pid) else {
        return (user, system + e.load_ns);
    };
    let system_share = match (user, system) {
        (_, 0) => 0,
        (0, _) => runtime,
        _ => (runtime as u128 * system as u128 / (user as u128 + system as u128)) as u64,
    };
    (runtime - system_share, system_share + e.load_ns)
}

fn tick_ns() -> u64 {
    1_000_000_000 / u64::from(crate::hal::time::timer_hz().max(1))
}

/// Process `tgid`'s CPU-time timer `which` ([`ITIMER_VIRTUAL`],
/// [`ITIMER_PROF`]): (time left, interval); zeros when disarmed.
pub fn cpu_timer(tgid: sched::Pid, which: usize) -> (core::time::Duration, core::time::Duration) {
    use core::time::Duration;
    cpu::without_interrupts(|| {
        let table = PROCESSES.lock();
        let timer = table.iter().find(|e| e.pid == tgid && e.is_leader()).and_then(|e| e.cpu_timers[which]);
        timer.map_or((Duration::ZERO, Duration::ZERO), |t| (Duration::from_nanos(t.left_ns), Duration::from_nanos(t.interval_ns)))
    })
}

/// Arms (value > 0) or disarms process `tgid`'s CPU-time timer `which`;
/// returns what [`cpu_timer`] said before.
pub fn set_cpu_timer(tgid: sched::Pid, which: usize, value: core::time::Duration, interval: core::time::Duration) -> (core::time::Duration, core::time::Duration) {
    let old = cpu_timer(tgid, which);
    cpu::without_interrupts(|| {
        let mut table = PROCESSES.lock();
        if let Some(leader) = table.iter_mut().find(|e| e.pid == tgid && e.is_leader()) {
            // One tick more, as Linux's set_cpu_itimer adds: the tick
            // under way is partly spent.
            leader.cpu_timers[which] = (!value.is_zero())
                .then(|| CpuTimer { left_ns: value.as_nanos() as u64 + tick_ns(), interval_ns: interval.as_nanos() as u64 });
        }
    });
    old
}

/// Ends the running thread quietly if its group is going.
fn stop_if_ending(pid: sched::Pid, process: Box<Process>) -> Box<Process> {
    let ending = cpu::without_interrupts(|| PROCESSES.lock().iter().any(|e| e.pid == pid && e.ending));
    if ending {
        let status = process.exit_status.unwrap_or(Ending::Killed(embox_abi::consts::signal::SIGKILL));
        finish_thread(pid, process, status)
    }
    process
}

/// Ends the process with the signal `fatal` names, with one log line
/// saying why.
fn die(pid: sched::Pid, process: Box<Process>, fatal: signal::Fatal, frame: Option<&TrapFrame>) -> ! {
    use embox_abi::consts::signal::{SIGINT, SIGQUIT};
    let info = fatal.info;
    if fatal.bad_frame {
        fault::report_bad_frame(&process);
    } else if frame.is_some() {
        fault::report_signal(&process, fatal.sig, frame);
    } else if (info.code == signal::SI_USER || info.code == signal::SI_TKILL) && info.fields[0] == process.pid {
        fault::report_signal(&process, fatal.sig, None);
    } else if info.code == signal::SI_KERNEL && (fatal.sig == SIGINT || fatal.sig == SIGQUIT) {
        fault::report_interrupt(&process, fatal.sig);
    } else {
        fault::report_killed(&process, fatal.sig);
    }
    finish(pid, process, Ending::Killed(fatal.sig))
}

/// Takes posted signals in and acts on them before `frame` returns to
/// ring 3 (`syscall`: the call it returns from). Ends the process when a
/// signal says so.
fn deliver(pid: sched::Pid, mut process: Box<Process>, frame: &mut TrapFrame, syscall: Option<u32>) -> Box<Process> {
    let mut stopped = false;
    if collect(pid, &mut process) {
        // Another thread stopped the process: this one stops with it.
        stopped = true;
        wait_while_stopped(pid, process.pid);
        collect(pid, &mut process);
    }
    if signal::pending(&process) == 0 && process.saved_mask.is_none() && !stopped {
        return process;
    }
    let mut stop = |p: &mut Process, sig: u32| {
        stopped = true;
        stop_group(pid, p, sig);
    };
    match signal::deliver(&mut process, frame, syscall, &mut stop) {
        // A stopped thread whose group ended meanwhile ends here.
        Ok(()) if stopped => stop_if_ending(pid, process),
        Ok(()) => process,
        Err(fatal) => die(pid, process, fatal, None),
    }
}

/// After an interrupt that caught a thread in ring 3: it ends if its group
/// is going, and takes what was posted to it meanwhile (another process's
/// kill, Ctrl-C, a timer).
fn irq_return(frame: &mut TrapFrame) {
    let tid = sched::current_pid();
    let waiting = PROCESSES.lock().iter().any(|e| e.pid == tid && e.process.is_some() && e.needs_attention());
    if !waiting {
        return;
    }
    let Some((pid, process)) = take_current() else { return };
    let process = deliver(pid, process, frame, None);
    put_back(pid, process);
}

/// Exit status when the program cannot be found (as in POSIX shells).
const STATUS_NOT_FOUND: i32 = 127;
/// Exit status when the file is there but cannot be run.
const STATUS_CANNOT_EXECUTE: i32 = 126;

/// The environment every program starts with.
const ENVIRONMENT: [&[u8]; 4] = [b"PATH=/bin:/", b"HOME=/", b"TERM=vt100", b"SHELL=/bin/sh"];

/// Opens the syscall gate, takes the user-fault vectors, adds `load_app`.
pub fn init() {
    trap::set_syscall_handler(syscall_trap);
    idt::set_user_gate(idt::UserGate::Syscall);
    // int3 and into from ring 3 raise their own exceptions (SIGTRAP,
    // SIGSEGV), as on Linux, instead of a general protection fault.
    idt::set_user_gate(idt::UserGate::Breakpoint);
    idt::set_user_gate(idt::UserGate::Overflow);
    trap::set_user_fault_handler(fault_trap);
    crate::tty::set_interrupt_hook(on_console_signal);
    trap::set_user_return_hook(irq_return);
    shell::register(Command {
        name: "load_app",
        usage: "load_app [--strace] PROGRAM [ARGS...] [< INPUT] [> OUTPUT]",
        summary: "run a Linux i386 program (bare names are looked up in / and /bin)",
        redirects: true,
        run: load_app_command,
    });
}

/// Takes the running thread's process out of the table for its trap (one
/// lock, one pass); a thread whose group is going ends here instead
/// ([`stop_if_ending`]).
fn take_current() -> Option<(sched::Pid, Box<Process>)> {
    let tid = sched::current_pid();
    let (process, must_stop) = {
        let mut table = PROCESSES.lock();
        let entry = table.iter_mut().find(|e| e.pid == tid && e.process.is_some())?;
        (entry.process.take()?, entry.must_stop())
    };
    Some((tid, if must_stop { stop_if_ending(tid, process) } else { process }))
}

/// The common way out of a call, under one lock: the call did not end
/// the thread or fail with EINTR (which may restart), the thread's group
/// is not going, and no signal is posted to it or pending and unblocked.
/// Then the process goes straight back (Ok); else it is handed back for
/// the full way out. Interrupts masked.
/// `tls_changed`: the call may have changed the thread's TLS descriptors
/// (or its registers), so a segment selector in the frame may no longer
/// load; otherwise they are as the program left them on entry (each
/// thread's TLS entries are its own and reinstalled on every switch to it),
/// and the check is skipped.
fn put_back_quickly(pid: sched::Pid, process: Box<Process>, frame: &mut TrapFrame, tls_changed: bool) -> Result<(), Box<Process>> {
    let deliverable = signal::pending(&process) & !(process.sigmask & !signal::UNBLOCKABLE);
    if process.exit_status.is_some() || frame.return_value() == Errno::EINTR.to_ret() as u32 || deliverable != 0 || process.saved_mask.is_some() {
        return Err(process);
    }
    if tls_changed && !frame.repair_user_segments() {
        return Err(process);
    }
    let mut table = PROCESSES.lock();
    match table.iter_mut().find(|e| e.pid == pid) {
        Some(entry) if !entry.must_stop() && entry.posted == 0 && entry.shared_chosen == 0 => {
            entry.mirror(&process);
            entry.process = Some(process);
            Ok(())
        }
        _ => Err(process),
    }
}

/// Puts the thread's process back after its trap.
fn put_back(pid: sched::Pid, process: Box<Process>) {
    put_back_with(pid, process, |_| {});
}

/// [`put_back`], updating the thread's entry with `f` in the same pass.
fn put_back_with(pid: sched::Pid, process: Box<Process>, f: impl FnOnce(&mut Entry)) {
    let mut table = PROCESSES.lock();
    if let Some(entry) = table.iter_mut().find(|e| e.pid == pid) {
        entry.mirror(&process);
        entry.process = Some(process);
        f(entry);
    }
}

/// `int 0x80` from ring 3 (called by the trap stub, interrupts masked).
extern "C" fn syscall_trap(frame: &mut TrapFrame) {
    use crate::syscall::Speed;
    let args = frame.syscall_args();
    let nr = frame.syscall_number();
    let speed = crate::syscall::speed(nr, args[0]);
    if speed == Speed::Quick {
        // Short calls that never block or exit: served in place, under one
        // lock with interrupts masked (the null-syscall path).
        let tid = sched::current_pid();
        let mut table = PROCESSES.lock_masked();
        if let Some(process) = quick_process(&mut table, tid) {
            frame.set_return(crate::syscall::dispatch_quick(process, nr, &args));
            return;
        }
    } else if speed == Speed::Forward && forward_quickly(frame, nr, &args) {
        return;
    }
    let Some((pid, mut process)) = take_current() else {
        frame.set_return(embox_abi::Errno::ENOSYS.to_ret() as u32);
        return;
    };
    let sigreturn = matches!(nr, embox_abi::nr::SIGRETURN | embox_abi::nr::RT_SIGRETURN);
    let needs_regs = crate::syscall::needs_registers(nr);
    if sigreturn && !process.trace {
        // Straight on the frame, interrupts masked (it reads a few user
        // pages and never blocks).
        signal::return_from_handler(&mut process, frame, nr == embox_abi::nr::RT_SIGRETURN);
    } else {
        if needs_regs {
            process.user_regs = Some(*frame);
        }
        cpu::enable_interrupts();
        let result = crate::syscall::dispatch(&mut process, nr, &args);
        cpu::disable_interrupts();
        if needs_regs {
            if let Some(regs) = process.user_regs.take() {
                *frame = regs;
            }
        }
        frame.set_return(result);
    }
    // sigreturn's registers came from user memory and were checked by
    // set_user_registers, whose sanitizing includes repair_user_segments' check.
    let tls_changed = (needs_regs && !sigreturn) || nr == embox_abi::nr::SET_THREAD_AREA;
    leave_call(pid, process, frame, nr, tls_changed);
}

/// The calling thread's process, left in the table, when nothing waits for
/// it on the way back to ring 3 (the quick paths' one check): its group is
/// not going, nothing is posted to it, and its process's shared set holds
/// no signal it takes.
#[inline]
fn quick_process(table: &mut [Entry], tid: sched::Pid) -> Option<&mut Process> {
    let entry = table.iter_mut().find(|e| e.pid == tid && !e.must_stop() && e.posted == 0)?;
    let shared = entry.shared_pending.pending();
    entry.process.as_deref_mut().filter(|p| shared & !(p.sigmask & !signal::UNBLOCKABLE) == 0)
}

/// A [`crate::syscall::Speed::Forward`] call: staged under the table's
/// lock, as the quick path checks, then run in LKL with interrupts still
/// masked and the process left in the table (no take-out, no put-back,
/// no interrupts on and off). If LKL blocked (its CPU was held), other
/// tasks ran and may have posted a signal or ended the group: the way out
/// is then the slow path's. False: nothing ran; the slow path serves it.
/// Inlined into `syscall_trap` when LKL is built in: out of line, its call
/// layer and second frame cost a quick forwarded getuid32 ~23 guest
/// instructions, and the null call did not get slower (x86/lkl-qemu,
/// -icount). Without LKL no call is `Forward`: out of line, as inlined it
/// cost the null call 2 instructions (x86/qemu).
#[cfg_attr(feature = "lkl", inline(always))]
#[cfg_attr(not(feature = "lkl"), inline(never))]
fn forward_quickly(frame: &mut TrapFrame, nr: u32, args: &crate::syscall::Args) -> bool {
    let tid = sched::current_pid();
    let mut staged = None;
    let (call, ints) = {
        let mut table = PROCESSES.lock_masked();
        match quick_process(&mut table, tid).and_then(|p| crate::syscall::quick_forward(p, nr, args, &mut staged)) {
            Some(call) => call,
            None => return false,
        }
    };
    let switches = sched::context_switches();
    let Some(result) = call.run(ints) else {
        return false;
    };
    frame.set_return(result);
    if sched::context_switches() != switches {
        if let Some((pid, process)) = take_current() {
            leave_call(pid, process, frame, nr, false);
        }
    }
    true
}

/// The way out of a call whose result is in `frame`, with the thread's
/// process taken out of the table: straight back when nothing waits
/// ([`put_back_quickly`]); else the thread ends, stops or takes its signals.
/// `tls_changed`: as for [`put_back_quickly`]. Inlined: it is the slow
/// path's tail, and a call layer there cost signal delivery and switches.
#[inline(always)]
fn leave_call(pid: sched::Pid, process: Box<Process>, frame: &mut TrapFrame, nr: u32, tls_changed: bool) {
    let Err(process) = put_back_quickly(pid, process, frame, tls_changed) else {
        return;
    };
    let process = stop_if_ending(pid, process);
    if let Some(ending) = process.exit_status {
        if process.exit_thread_only {
            finish_thread(pid, process, ending);
        }
        finish(pid, process, ending);
    }
    // As in put_back_quickly: only a call that may have changed the
    // thread's TLS descriptors or registers can leave a selector in the
    // frame that no longer loads (a signal kill to itself saves ~80
    // instructions).
    if tls_changed && !frame.repair_user_segments() {
        // Its stack segment lost its descriptor: iretd would fault.
        fault::report_bad_stack_segment(&process, frame.user_stack_segment());
        finish(pid, process, Ending::Killed(embox_abi::consts::signal::SIGSEGV));
    }
    let process = deliver(pid, process, frame, Some(nr));
    put_back(pid, process);
}

/// A CPU exception in ring 3: demand paging, copy on write, or a fatal signal.
fn fault_trap(frame: &mut TrapFrame) {
    let Some((pid, mut process)) = take_current() else {
        trap::fatal_trap(frame);
    };
    let (sig, info) = match fault::try_demand_page(&mut process, frame) {
        FaultResolution::Mapped => {
            put_back_with(pid, process, |entry| entry.min_flt += 1);
            return;
        }
        FaultResolution::OutOfMemory => {
            fault::report_out_of_memory(&process, frame);
            finish(pid, process, Ending::Killed(embox_abi::consts::signal::SIGKILL))
        }
        FaultResolution::PastEndOfFile => fault::past_end_of_file(),
        FaultResolution::Violation => (fault::signal_for(frame.vector()), fault::siginfo_for(&process, frame)),
    };
    if let Err(fatal) = signal::post_fault(&mut process, sig, info) {
        die(pid, process, fatal, Some(frame));
    }
    let process = deliver(pid, process, frame, None);
    put_back(pid, process);
}

/// Ends the running program's whole process with `ending` (exit_group, a
/// fatal signal): the other threads end too, then [`finish_thread`].
fn finish(pid: sched::Pid, mut process: Box<Process>, ending: Ending) -> ! {
    end_group(&mut process, ending);
    finish_thread(pid, process, ending)
}

/// Ends the running thread (`exit`). Its clear-child-tid word is zeroed
/// and a futex waiter on it woken (pthread_join). Another thread just goes;
/// the first thread waits, parked, for the others, then ends the process:
/// the last reference to its files and memory goes, a zombie is left for
/// its parent (or nothing, when the parent is not a Linux process), its
/// children go to [`INIT_PID`], and the task ends.
fn finish_thread(pid: sched::Pid, process: Box<Process>, ending: Ending) -> ! {
    let mut process = process;
    // Other threads, or other processes sharing memory with this one
    // (process-shared robust mutexes), may wait on locks it still holds:
    // the last thread's list is walked too, as Linux does.
    let (head, tid) = (process.robust_list.0, process.tid);
    futex::release_robust_list(&mut process.memory, tid, head);
    if process.clear_child_tid != 0 && process.memory.users() > 1 {
        let at = process.clear_child_tid;
        if process.memory.write(at, &0u32.to_le_bytes()).is_ok() {
            futex::wake(&process.memory, at, false, 1, futex::BITSET_ANY);
        }
    }
    let tgid = process.pid;
    let peak_kib = process.memory.peak_kib();
    // Back on the kernel's page directory before the memory goes. The TLS
    // descriptors stay: fs/gs may hold their selectors until the task's end.
    sched::with_current(|t| {
        if let Some(ctx) = t.context() {
            ctx.set_page_directory(crate::hal::paging::Directory::KERNEL);
        }
    });
    drop(process);
    if pid != tgid {
        cpu::disable_interrupts();
        let mut table = PROCESSES.lock();
        // What it used stays with the process.
        let used = table.iter().find(|e| e.pid == pid).map_or(Usage::default(), thread_usage);
        if let Some(leader) = table.iter_mut().find(|e| e.pid == tgid && e.is_leader()) {
            leader.ended_threads = leader.ended_threads + used;
            leader.maxrss_kib = leader.maxrss_kib.max(peak_kib);
        }
        table.retain(|e| e.pid != pid);
        drop(table);
        CHILD_EVENTS.wake_all();
        sched::exit(ending.shell_status());
    }
    cpu::without_interrupts(|| {
        if let Some(leader) = PROCESSES.lock().iter_mut().find(|e| e.pid == pid) {
            leader.parked = true;
        }
    });
    CHILD_EVENTS.wake_all();
    CHILD_EVENTS.wait_until(|| !PROCESSES.lock().iter().any(|e| e.tgid == tgid && e.pid != pid));
    // From here to the task's end nothing may run in between: a parent that
    // sees the zombie may count on the task being gone.
    cpu::disable_interrupts();
    let ending = PROCESSES.lock().iter().find(|e| e.pid == pid).and_then(|e| e.group_exit).unwrap_or(ending);
    itimer::clear(pid);
    posix_timer::clear(pid);
    {
        let mut table = PROCESSES.lock();
        let ppid = table.iter().find(|e| e.pid == pid).map_or(INIT_PID, |e| e.ppid);
        let parent_lives = table.iter().any(|e| e.pid == ppid && e.is_leader() && e.zombie.is_none());
        let keep_zombie = parent_lives && !ignores_children(&table, ppid);
        // The zombie keeps its exact times and its switches: its task is
        // about to go.
        if let Some(entry) = table.iter_mut().find(|e| e.pid == pid) {
            (entry.user_ns, entry.system_ns) = thread_times(entry);
            entry.load_ns = 0;
            entry.switches = sched::switches(pid).unwrap_or(entry.switches);
            entry.maxrss_kib = entry.maxrss_kib.max(peak_kib);
        }
        if parent_lives {
            let (code, status) = match ending {
                Ending::Exited(code) => (signal::CLD_EXITED, code as u32),
                Ending::Killed(sig) => (signal::CLD_KILLED, sig),
            };
            let _ = post_to_process(&mut table, ppid, signal::SIGCHLD, SigInfo::child(pid, code, status));
        }
        if keep_zombie {
            if let Some(entry) = table.iter_mut().find(|e| e.pid == pid) {
                entry.zombie = Some(ending);
                entry.cpu_timers = [None; 2];
                entry.posted = 0;
                entry.rt_queue.discard(!0);
                entry.shared_pending.discard(!0);
                entry.ending = false;
                entry.stopped = false;
                entry.job_event = None;
                entry.vfork_parent = None;
            }
        } else {
            table.retain(|e| e.pid != pid);
        }
        // Orphans go to init; those already ended are reaped now.
        table.retain(|e| e.ppid != pid || e.zombie.is_none());
        for child in table.iter_mut().filter(|e| e.ppid == pid) {
            child.ppid = INIT_PID;
        }
        for entry in table.iter_mut().filter(|e| e.vfork_parent == Some(pid)) {
            entry.vfork_parent = None;
        }
    }
    CHILD_EVENTS.wake_all();
    sched::exit(ending.shell_status())
}

/// How `clone` asks for a new process (fork and vfork take the defaults).
#[derive(Default, Clone, Copy)]
pub struct ForkOptions {
    /// The parent waits until the child execs or ends.
    pub vfork: bool,
    /// The child's stack pointer (clone's `newsp`; 0 = the parent's).
    pub stack: u32,
    /// CLONE_CHILD_SETTID: the child's pid is written there in its memory.
    pub child_settid: Option<u32>,
    /// CLONE_CHILD_CLEARTID: the child's clear-child-tid address.
    pub child_cleartid: Option<u32>,
    /// CLONE_PARENT_SETTID: the child's pid is written there in the parent's memory.
    pub parent_settid: Option<u32>,
}

/// `fork`/`vfork`/`clone` of a process: a child that resumes from the same
/// call with 0 in EAX. Returns the child's pid. EAGAIN past
/// [`MAX_PROCESSES`] or without a kernel stack slot, ENOMEM without memory
/// for the copy.
pub fn fork(parent: &mut Process, options: ForkOptions) -> Result<u32, Errno> {
    let vfork = options.vfork;
    let regs = child_registers(parent, options.stack, true)?;
    let started = env::monotonic().as_nanos() as u64;
    // The pid is known only once the task exists: the child is built
    // first (with a placeholder) and named after.
    let child = parent.fork(0, started)?;
    let directory = child.memory.directory();
    let name = parent.name.clone();
    let parent_pid = parent.pid;
    // The child's own LKL process, cloned from ours (credentials copied).
    let mut lkl_task = if parent.lkl { crate::lkl::task::clone(false) } else { None };
    // The task and its table entry appear together: the child must not run
    // (and trap) before the table knows it.
    let mut child = Some(child);
    let spawned = cpu::without_interrupts(|| -> Result<sched::Pid, Errno> {
        let pid = start_user_task(&name, regs, directory, None)?;
        if let Some(task) = lkl_task.take() {
            task.hand_to(pid);
        }
        let mut process = Box::new(child.take().expect("the child is built"));
        process.pid = pid;
        process.tid = pid;
        if let Some(at) = options.child_cleartid {
            process.clear_child_tid = at;
        }
        if let Some(at) = options.child_settid {
            let _ = process.memory.write(at, &pid.to_le_bytes());
        }
        let mut table = PROCESSES.lock();
        let group = group_in(&table, parent_pid).unwrap_or((pid, pid));
        let mut entry = Entry::new(pid, pid, process, parent_pid, group);
        entry.vfork_parent = vfork.then_some(parent_pid);
        table.push(entry);
        Ok(pid)
    });
    // On failure the unborn child's files and memory go with it.
    let pid = spawned?;
    if let Some(at) = options.parent_settid {
        let _ = parent.memory.write(at, &pid.to_le_bytes());
    }
    if vfork {
        // The parent waits until the child execs or ends (Linux's vfork
        // contract; the memory is copy-on-write here, not shared).
        let me = sched::current_pid();
        CHILD_EVENTS.wait_until(|| {
            let table = PROCESSES.lock();
            !table.iter().any(|e| e.pid == pid && e.vfork_parent == Some(parent_pid))
                || table.iter().any(|e| e.pid == me && e.interrupted())
        });
    }
    Ok(pid)
}

/// The registers a new process (`process`) or thread starts with: the
/// caller's at the call, 0 in EAX, and `stack` (unless 0) as its stack
/// pointer. EAGAIN past [`MAX_PROCESSES`] processes or [`MAX_THREADS`]
/// threads.
fn child_registers(parent: &Process, stack: u32, process: bool) -> Result<TrapFrame, Errno> {
    let (processes, threads) = cpu::without_interrupts(|| {
        let table = PROCESSES.lock();
        (table.iter().filter(|e| e.is_leader()).count(), table.iter().filter(|e| e.zombie.is_none()).count())
    });
    if (process && processes >= MAX_PROCESSES) || threads >= MAX_THREADS {
        return Err(Errno::EAGAIN);
    }
    let mut regs = parent.user_regs.ok_or(Errno::ENOSYS)?;
    regs.set_return(0);
    if stack != 0 {
        regs.set_user_sp(stack);
    }
    Ok(regs)
}

/// A detached task that enters ring 3 with `regs` on page directory
/// `directory`, with the caller's TLS descriptors (and `tls`, a slot and
/// descriptor, on top). No kernel stack: EAGAIN when all slots are taken,
/// ENOMEM when frames ran out. Call with interrupts masked, and enter the
/// task in the table before they are enabled again.
fn start_user_task(name: &str, regs: TrapFrame, directory: crate::hal::paging::Directory, tls: Option<(usize, crate::hal::gdt::TlsDescriptor)>) -> Result<sched::Pid, Errno> {
    let inherited = sched::with_current(|t| t.context().map(|c| c.tls_descriptors())).unwrap_or_default();
    let no_stack = || if crate::hal::memory::frame_stats().free < 16 { Errno::ENOMEM } else { Errno::EAGAIN };
    let pid = sched::try_spawn(name, move || crate::hal::usermode::enter_user_frame(&regs)).ok_or_else(no_stack)?;
    sched::with_task(pid, |t| {
        t.detached = true;
        if let Some(ctx) = t.context() {
            ctx.set_page_directory(directory);
            for (slot, d) in inherited.iter().enumerate() {
                ctx.set_tls_descriptor(slot, *d);
            }
            if let Some((slot, d)) = tls {
                ctx.set_tls_descriptor(slot, d);
            }
        }
    });
    Ok(pid)
}

/// How `clone(CLONE_THREAD)` asks for a new thread.
#[derive(Default, Clone, Copy)]
pub struct ThreadOptions {
    /// The thread's stack pointer (clone's `newsp`; 0 = the caller's).
    pub stack: u32,
    /// CLONE_SETTLS: a TLS entry (slot, GDT descriptor, what
    /// get_thread_area gives back) installed for the new thread only.
    pub tls: Option<(usize, crate::hal::gdt::TlsDescriptor, Option<UserDesc>)>,
    /// CLONE_CHILD_SETTID: the thread's tid is written there.
    pub child_settid: Option<u32>,
    /// CLONE_CHILD_CLEARTID: zeroed and futex-woken when the thread ends.
    pub child_cleartid: Option<u32>,
    /// CLONE_PARENT_SETTID: the thread's tid is written there (before
    /// either runs on).
    pub parent_settid: Option<u32>,
}

/// `clone(CLONE_VM|CLONE_THREAD|...)`: a new thread of the caller's
/// process, resuming from the same call with 0 in EAX on its own stack.
/// Returns its tid. EAGAIN past [`MAX_THREADS`] threads or
/// without a kernel stack slot, ENOMEM without frames for one.
pub fn spawn_thread(parent: &mut Process, options: ThreadOptions) -> Result<u32, Errno> {
    let regs = child_registers(parent, options.stack, false)?;
    let directory = parent.memory.directory();
    let name = parent.name.clone();
    let (tgid, ppid) = (parent.pid, parent_of(parent.pid));
    // A thread of the caller's LKL process.
    let mut lkl_task = if parent.lkl { crate::lkl::task::clone(true) } else { None };
    let tid = cpu::without_interrupts(|| -> Result<sched::Pid, Errno> {
        let tid = start_user_task(&name, regs, directory, options.tls.map(|(slot, d, _)| (slot, d)))?;
        if let Some(task) = lkl_task.take() {
            task.hand_to(tid);
        }
        let mut thread = Box::new(parent.new_thread(tid));
        if let Some((slot, _, desc)) = options.tls {
            thread.tls[slot] = desc;
        }
        if let Some(at) = options.child_cleartid {
            thread.clear_child_tid = at;
        }
        // Both writes land before the thread can run (interrupts are
        // masked): a thread that ends at once must find its tid there to
        // clear, or pthread_join would wait for a tid written after.
        for at in [options.parent_settid, options.child_settid].into_iter().flatten() {
            let _ = thread.memory.write(at, &tid.to_le_bytes());
        }
        let mut table = PROCESSES.lock();
        let group = group_in(&table, tgid).unwrap_or((tgid, tgid));
        table.push(Entry::new(tid, tgid, thread, ppid, group));
        Ok(tid)
    })?;
    Ok(tid)
}

/// Which children a wait call is for.
#[derive(Clone, Copy)]
pub enum WaitFor {
    Any,
    Pid(sched::Pid),
    /// The children in this process group.
    Group(sched::Pid),
}

/// What a wait call reports (wait4's options, waitid's WEXITED, WSTOPPED,
/// WCONTINUED, WNOHANG, WNOWAIT).
#[derive(Clone, Copy, Default)]
pub struct WaitOptions {
    pub exited: bool,
    pub stopped: bool,
    pub continued: bool,
    pub no_hang: bool,
    /// Leave the child waitable (WNOWAIT).
    pub keep: bool,
}

/// What a wait call found.
pub enum Waited {
    /// A child ended (and was reaped unless `keep`).
    Ended { pid: sched::Pid, ending: Ending, used: Usage },
    /// A child stopped or continued (reported once, unless `keep`).
    Job { pid: sched::Pid, event: JobEvent },
    /// WNOHANG: children exist but none has anything to report.
    NothingYet,
}

/// wait4/waitid: waits for a child of `parent` to end (or stop, or
/// continue, as `options` ask). ECHILD when it has none (that match),
/// EINTR when a signal is to end the caller.
pub fn wait_child(parent: sched::Pid, which: WaitFor, options: WaitOptions) -> Result<Waited, Errno> {
    let me = sched::current_pid();
    let matches = move |e: &Entry| {
        e.ppid == parent
            && e.is_leader()
            && match which {
                WaitFor::Any => true,
                WaitFor::Pid(pid) => e.pid == pid,
                WaitFor::Group(pgid) => e.pgid == pgid,
            }
    };
    let reportable = move |e: &Entry| {
        (options.exited && e.zombie.is_some())
            || match e.job_event {
                Some(JobEvent::Stopped(_)) => options.stopped && e.stopped,
                Some(JobEvent::Continued) => options.continued,
                None => false,
            }
    };
    loop {
        let found = cpu::without_interrupts(|| {
            let mut table = PROCESSES.lock();
            if !table.iter().any(|e| matches(e)) {
                return Some(Err(Errno::ECHILD));
            }
            if let Some(i) = table.iter().position(|e| matches(e) && reportable(e)) {
                let pid = table[i].pid;
                if let (true, Some(ending)) = (options.exited, table[i].zombie) {
                    // What it used and its reaped children's (wait4's
                    // rusage); reaping adds it to the parent's
                    // RUSAGE_CHILDREN.
                    let child = &table[i];
                    let used = thread_usage(child) + child.ended_threads + child.children + Usage { maxrss_kib: child.maxrss_kib, ..Usage::default() };
                    if !options.keep {
                        table.remove(i);
                        if let Some(me) = table.iter_mut().find(|e| e.pid == parent && e.is_leader()) {
                            me.children = me.children + used;
                        }
                    }
                    return Some(Ok(Waited::Ended { pid, ending, used }));
                }
                let event = table[i].job_event.expect("a reportable job event");
                if !options.keep {
                    table[i].job_event = None;
                }
                return Some(Ok(Waited::Job { pid, event }));
            }
            if options.no_hang {
                return Some(Ok(Waited::NothingYet));
            }
            if table.iter().any(|e| e.pid == me && e.interrupted()) {
                return Some(Err(Errno::EINTR));
            }
            None
        });
        if let Some(result) = found {
            return result;
        }
        CHILD_EVENTS.wait_until(|| {
            let table = PROCESSES.lock();
            table.iter().any(|e| (matches(e) && reportable(e)) || (e.pid == me && e.interrupted()))
                || !table.iter().any(|e| matches(e))
        });
    }
}

/// A process called execve successfully: a parent waiting in vfork resumes.
/// `old_peak_kib`: the peak of the address space it left (the process's
/// maxrss keeps it, as Linux's).
pub fn exec_done(pid: sched::Pid, old_peak_kib: u64) {
    cpu::without_interrupts(|| {
        if let Some(entry) = PROCESSES.lock().iter_mut().find(|e| e.pid == pid) {
            entry.vfork_parent = None;
            entry.maxrss_kib = entry.maxrss_kib.max(old_peak_kib);
        }
    });
    CHILD_EVENTS.wake_all();
}

/// Finds the program: a path with a slash as given (relative to the shell's
/// directory), a bare name in `/` and then `/bin`.
fn resolve(sh: &Shell, name: &str) -> Option<String> {
    let candidates: Vec<String> = if name.contains('/') {
        alloc::vec![sh.path(name)]
    } else {
        alloc::vec![alloc::format!("/{name}"), alloc::format!("/bin/{name}")]
    };
    // A program file first; else a directory of that name, which `start`
    // refuses with "is a directory".
    let file = candidates.iter().find(|path| env::is_program_file(path));
    let exists = |path: &&String| env::with_vfs(|vfs| vfs.lookup(path).is_ok());
    file.or_else(|| candidates.iter().find(exists)).cloned()
}

/// How `load_app` starts a program.
#[derive(Default)]
pub struct Options {
    /// Standard input and output: the console, or the files the shell line's
    /// `< FILE` and `> FILE` named.
    pub redirects: Redirects,
    /// `--strace`: log each syscall with its arguments and result.
    pub trace: bool,
}

fn load_app_command(sh: &mut Shell, words: &[String]) -> i32 {
    let trace = words.first().is_some_and(|w| w == "--strace");
    let words = if trace { &words[1..] } else { words };
    let args = words.to_vec();
    let redirects = core::mem::take(&mut sh.redirects);
    let Some(name) = args.first() else {
        println!("usage: load_app [--strace] PROGRAM [ARGS...] [< INPUT] [> OUTPUT]");
        return shell::STATUS_USAGE;
    };
    let Some(path) = resolve(sh, name) else {
        println!("load_app: {name}: not found in / or /bin");
        return STATUS_NOT_FOUND;
    };
    match start(&path, &args, &sh.cwd, &Options { redirects, trace }) {
        Ok(pid) => sched::wait(pid).unwrap_or(STATUS_CANNOT_EXECUTE),
        Err(reason) => {
            println!("load_app: {path}: cannot run: {reason}");
            STATUS_CANNOT_EXECUTE
        }
    }
}

/// CPUID.1:EDX for `AT_HWCAP`, as Linux reports it.
fn hwcap() -> u32 {
    crate::hal::usermode::hwcap()
}

/// Loads `path` and starts it as a new task; returns the task's pid.
pub fn start(path: &str, args: &[String], cwd: &str, options: &Options) -> Result<sched::Pid, String> {
    let redirects = &options.redirects;
    // The load counts as the program's system time from here, so a program
    // reading CLOCK_PROCESS_CPUTIME_ID first thing measures load_app's own
    // cost (the benchmark does).
    let started = env::monotonic().as_nanos() as u64;
    let image = open_program(path)?;
    let seed = cpu::rdtsc();
    let mut random = [0u8; 16];
    random[..8].copy_from_slice(&seed.to_le_bytes());
    random[8..].copy_from_slice(&(seed.rotate_left(29) ^ 0x9e37_79b9_7f4a_7c15).to_le_bytes());
    let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    let loaded = loader::load(&*image, path, &argv, &ENVIRONMENT, random, hwcap(), &open_program)?;
    drop(image);
    let mut files = files::FdTable::with_console();
    if let Some(input) = &redirects.stdin {
        redirect(&mut files, 0, input, embox_abi::consts::open::O_RDONLY)?;
    }
    if let Some(output) = &redirects.stdout {
        redirect(&mut files, 1, output, embox_abi::consts::open::O_WRONLY | embox_abi::consts::open::O_CREAT | embox_abi::consts::open::O_TRUNC)?;
    }
    let (entry, stack, directory) = (loaded.entry, loaded.stack, loaded.memory.directory());
    let name = args[0].rsplit('/').next().unwrap_or(&args[0]);
    let lkl = crate::syscall::lkl_forwarding();
    // The program's own LKL process, a child of the caller's host task.
    let mut lkl_task = if lkl { crate::lkl::task::clone(false) } else { None };
    // The body never returns (enter_user): whatever it captures must be
    // dropped before that call, or it leaks with every load_app.
    let lkl_name = lkl.then(|| String::from(name));
    let pid = cpu::without_interrupts(|| {
        let pid = sched::spawn(name, move || {
            if let Some(lkl_name) = lkl_name {
                crate::lkl::task::name(&lkl_name);
            }
            crate::hal::usermode::enter_user(entry, stack)
        });
        if let Some(task) = lkl_task.take() {
            task.hand_to(pid);
        }
        sched::with_task(pid, |t| {
            if let Some(ctx) = t.context() {
                ctx.set_page_directory(directory);
            }
        });
        let mut process = Process::new(pid, String::from(name), loaded.memory, seed ^ 0x5851_f42d_4c95_7f2d, started);
        process.cwd.set(String::from(cwd));
        process.exe = String::from(path);
        process.files = files::Files::new(files);
        process.trace = options.trace;
        process.lkl = lkl;
        let mut entry = Entry::new(pid, pid, Box::new(process), sched::current_pid(), (pid, pid));
        // Loading it was done for it: its system time (Linux's execve runs
        // in the process), which CLOCK_PROCESS_CPUTIME_ID then starts from.
        entry.load_ns = (env::monotonic().as_nanos() as u64).saturating_sub(started);
        PROCESSES.lock().push(entry);
        // The shell's job is the console's foreground group, in a session
        // of its own with the console as its terminal, in the default mode.
        *FOREGROUND.lock() = pid;
        *CONSOLE_SESSION.lock() = pid;
        env::reset_console_termios();
        pid
    });
    Ok(pid)
}

/// Opens a program (or its interpreter) for the loader. Natively the
/// loader reads the file a page at a time; LKL's file system hands over
/// the whole file.
pub fn open_program(path: &str) -> Result<Box<dyn loader::Image>, String> {
    if crate::lkl::is_up() {
        Ok(Box::new(env::read_program(path)?))
    } else {
        Ok(Box::new(ProgramFile::open(path)?))
    }
}

/// A program file in the VFS, held open while it loads and read a page at
/// a time (a large program is never copied whole into the kernel heap).
struct ProgramFile {
    id: embox_fs::NodeId,
    len: usize,
}

impl ProgramFile {
    fn open(path: &str) -> Result<Self, String> {
        env::with_vfs(|vfs| {
            let id = vfs.lookup(path)?;
            let meta = vfs.metadata(id);
            if meta.kind == embox_fs::FileKind::Directory {
                return Err(embox_fs::FsError::IsADirectory);
            }
            vfs.open(id);
            Ok(ProgramFile { id, len: meta.size as usize })
        })
        .map_err(|e| match e {
            embox_fs::FsError::IsADirectory => String::from("is a directory"),
            e => alloc::format!("{e}"),
        })
    }
}

impl loader::Image for ProgramFile {
    fn len(&self) -> usize {
        self.len
    }
    fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<usize, String> {
        env::with_vfs(|vfs| vfs.read_at(self.id, offset as u64, buf)).map_err(|e| alloc::format!("{e}"))
    }
}

impl Drop for ProgramFile {
    fn drop(&mut self) {
        env::with_vfs(|vfs| vfs.close(self.id));
    }
}

/// Points descriptor `fd` at the file `path` (opened with `flags`).
fn redirect(files: &mut files::FdTable, fd: u32, path: &str, flags: u32) -> Result<(), String> {
    use embox_abi::consts::open::{O_ACCMODE, O_CREAT, O_TRUNC};
    let id = env::with_vfs(|vfs| {
        let id = match vfs.lookup(path) {
            Err(embox_fs::FsError::NotFound) if flags & O_CREAT != 0 => vfs.create_file(path, 0o644, false)?,
            other => other?,
        };
        if vfs.metadata(id).kind != embox_fs::FileKind::File {
            return Err(embox_fs::FsError::IsADirectory);
        }
        if flags & O_TRUNC != 0 {
            vfs.truncate(id, 0)?;
        }
        vfs.open(id);
        Ok(id)
    })
    .map_err(|e| alloc::format!("{path}: {e}"))?;
    if let Ok(Some(old)) = files.close(fd) {
        crate::syscall::release_file(old);
    }
    let file = files::OpenFile { kind: files::FileKind::File(id), offset: 0, flags: flags & O_ACCMODE, path: String::from(path) };
    files.open(file, false).map(|_| ()).map_err(|e| alloc::format!("{path}: {}", e.name()))
}
