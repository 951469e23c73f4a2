//! Tasks and the preemptive round-robin scheduler.
//!
//! Every task is a kernel thread with its own kernel stack
//! ([`hal::context::Context`]). The timer tick preempts the running task when
//! its time slice is over and another is ready; tasks also give up the CPU
//! when they block (console input, [`sleep`], [`wait`]) or exit. The boot
//! context becomes the idle task (pid 0), which halts until an interrupt
//! whenever nothing else is ready.
//!
//! User programs (added by the Linux-compat layer) run as tasks too: their
//! page directory and TLS descriptors hang off the task's context, so the
//! switch installs them, and the TSS `esp0` points at the task's kernel stack.

use crate::hal::{context::{self, Context}, cpu, sync::IrqMutex, time};
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::sync::Arc;
use core::fmt::Write;
use core::time::Duration;

pub type Pid = u32;

/// Ticks a task may run before another ready task gets the CPU.
const TIME_SLICE_TICKS: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Running,
    Ready,
    /// Waiting for an event (input, a child's exit) or until a tick count.
    Blocked { until_tick: Option<u64> },
    /// Finished with this status, waiting to be reaped by [`wait`].
    Zombie(i32),
}

impl State {
    pub fn name(&self) -> &'static str {
        match self {
            State::Running => "running",
            State::Ready => "ready",
            State::Blocked { until_tick: Some(_) } => "sleeping",
            State::Blocked { until_tick: None } => "blocked",
            State::Zombie(_) => "zombie",
        }
    }
}

/// A task as `ps` and the rest of the kernel see it.
pub struct Task {
    pub pid: Pid,
    pub name: String,
    pub state: State,
    /// The task is an LKL host thread: LKL created it (`thread_create`), or
    /// it called into LKL and LKL keeps its host task in the task's TLS.
    pub lkl_thread: bool,
    /// The task's LKL host TLS: (key, value) pairs set by `tls_set`.
    pub lkl_tls: alloc::vec::Vec<(usize, usize)>,
    /// Reap at exit instead of keeping a zombie for [`wait`] (LKL's
    /// `thread_detach`).
    pub detached: bool,
    /// Timer ticks spent running.
    pub cpu_ticks: u64,
    /// TSC cycles spent running, up to the last time it got the CPU
    /// (`Scheduler::running_since`; the CPU-time clocks: exact, where
    /// `cpu_ticks` counts whole ticks).
    run_cycles: u64,
    /// Times it gave up the CPU to wait (blocked), and times it was made to
    /// (preempted, or sched_yield): getrusage's ru_nvcsw and ru_nivcsw.
    voluntary_switches: u64,
    involuntary_switches: u64,
    /// Tasks waiting in [`wait`] for this one.
    waiter: Option<Pid>,
    /// `None` once the task has exited.
    context: Option<Arc<Context>>,
}

impl Task {
    /// The task's execution context (page directory, TLS), while it lives.
    pub fn context(&self) -> Option<&Context> {
        self.context.as_deref()
    }
}

struct Scheduler {
    tasks: BTreeMap<Pid, Task>,
    ready: VecDeque<Pid>,
    current: Pid,
    next_pid: Pid,
    slice_left: u32,
    /// The TSC when the running task got the CPU.
    running_since: u64,
}

static SCHED: IrqMutex<Option<Scheduler>> = IrqMutex::new(None);
/// `Scheduler::current`, readable without the scheduler lock: LKL asks for
/// it (thread_self) several times in every forwarded syscall. Written only
/// with the lock held, next to `current`.
static CURRENT: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(IDLE);
/// Context switches so far (wrapping): a caller that ran with interrupts
/// masked and sees the same count afterwards knows no other task ran.
static SWITCHES: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

/// [`SWITCHES`] now.
#[inline]
pub fn context_switches() -> u32 {
    SWITCHES.load(core::sync::atomic::Ordering::Relaxed)
}

const IDLE: Pid = 0;

/// Turns the running boot code into the idle task and installs the timer and
/// exit hooks. Interrupts are still off.
pub(crate) fn init() {
    let idle = Task {
        pid: IDLE,
        name: String::from("idle"),
        state: State::Running,
        lkl_thread: false,
        lkl_tls: alloc::vec::Vec::new(),
        detached: false,
        cpu_ticks: 0,
        run_cycles: 0,
        voluntary_switches: 0,
        involuntary_switches: 0,
        waiter: None,
        context: Some(Context::boot()),
    };
    let mut tasks = BTreeMap::new();
    tasks.insert(IDLE, idle);
    *SCHED.lock() = Some(Scheduler { tasks, ready: VecDeque::new(), current: IDLE, next_pid: 1, slice_left: TIME_SLICE_TICKS, running_since: 0 });
    time::set_tick_hook(tick);
    context::set_thread_exit_hook(|| exit(0));
    crate::hal::report::set_task_reporter(report_current);
}

fn with<R>(f: impl FnOnce(&mut Scheduler) -> R) -> R {
    let mut guard = SCHED.lock();
    f(guard.as_mut().expect("scheduler used before sched::init"))
}

/// Starts a kernel thread running `body`; returns its pid.
pub fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> Pid {
    add_task(name, Context::new(body))
}

/// As [`spawn`], or None when no kernel stack is left (a user program's
/// fork gets an error, the kernel carries on).
pub fn try_spawn(name: &str, body: impl FnOnce() + Send + 'static) -> Option<Pid> {
    Some(add_task(name, Context::try_new(body)?))
}

fn add_task(name: &str, ctx: Arc<Context>) -> Pid {
    let (parent, pid) = with(|s| {
        let pid = s.next_pid;
        s.next_pid += 1;
        s.tasks.insert(
            pid,
            Task {
                pid,
                name: String::from(name),
                state: State::Ready,
                lkl_thread: false,
                lkl_tls: alloc::vec::Vec::new(),
                detached: false,
                cpu_ticks: 0,
                run_cycles: 0,
                voluntary_switches: 0,
                involuntary_switches: 0,
                waiter: None,
                context: Some(ctx),
            },
        );
        s.ready.push_back(pid);
        (s.current, pid)
    });
    crate::tty::inherit(parent, pid);
    pid
}

/// The word that holds the running task's pid (LKL's thread_self, read
/// without a call: `crate::hal::lkl::set_thread_word`).
pub(crate) fn current_pid_word() -> &'static core::sync::atomic::AtomicU32 {
    &CURRENT
}

/// The running task's pid.
pub fn current_pid() -> Pid {
    CURRENT.load(core::sync::atomic::Ordering::Relaxed)
}

/// Runs `f` on the running task (to read or set its fields).
pub fn with_current<R>(f: impl FnOnce(&mut Task) -> R) -> R {
    with(|s| {
        let pid = s.current;
        f(s.tasks.get_mut(&pid).expect("current task missing"))
    })
}

/// Runs `f` on task `pid`, if it exists.
pub fn with_task<R>(pid: Pid, f: impl FnOnce(&mut Task) -> R) -> Option<R> {
    with(|s| s.tasks.get_mut(&pid).map(f))
}

/// Nanoseconds task `pid` has spent running (up to now if it runs), or
/// None once it is gone (or without a calibrated TSC).
pub fn runtime_ns(pid: Pid) -> Option<u64> {
    let cycles = with(|s| {
        let task = s.tasks.get(&pid)?;
        let running = if s.current == pid { cpu::rdtsc().wrapping_sub(s.running_since) } else { 0 };
        Some(task.run_cycles + running)
    })?;
    time::cycles_ns(cycles)
}

/// Task `pid`'s (voluntary, involuntary) context switches, None once it
/// is gone.
pub fn switches(pid: Pid) -> Option<(u64, u64)> {
    with(|s| s.tasks.get(&pid).map(|t| (t.voluntary_switches, t.involuntary_switches)))
}

/// One line per task, for `ps`.
#[derive(Debug, Clone)]
pub struct TaskInfo {
    pub pid: Pid,
    pub name: String,
    pub state: &'static str,
    /// An LKL host thread (see [`Task::lkl_thread`]).
    pub lkl_thread: bool,
    /// The LKL TLS keys the task has values for.
    pub lkl_tls_keys: alloc::vec::Vec<usize>,
    pub cpu_ticks: u64,
}

pub fn tasks() -> alloc::vec::Vec<TaskInfo> {
    with(|s| {
        s.tasks
            .values()
            .map(|t| TaskInfo {
                pid: t.pid,
                name: t.name.clone(),
                state: t.state.name(),
                lkl_thread: t.lkl_thread || t.lkl_tls.iter().any(|(_, v)| *v != 0),
                lkl_tls_keys: t.lkl_tls.iter().filter(|(_, v)| *v != 0).map(|(k, _)| *k).collect(),
                cpu_ticks: t.cpu_ticks,
            })
            .collect()
    })
}

/// The contexts to switch from and to ([`pick_next`]).
type Switch = Option<(Option<Arc<Context>>, Arc<Context>)>;

/// Picks the next task and switches to it. The caller has already set the
/// current task's state (Ready tasks go back in the queue).
fn schedule() {
    // Masked from the pick to the switch: a tick in between would pick again.
    cpu::without_interrupts(|| {
        let switch = with(pick_next);
        switch_to(switch);
    });
}

/// Picks the task to run after the current one, whose state the caller
/// has set (Ready tasks go back in the queue); None: keep running it.
fn pick_next(s: &mut Scheduler) -> Switch {
    let prev = s.current;
    let prev_task = s.tasks.get_mut(&prev).expect("current task missing");
    if prev_task.state == State::Running {
        return None; // nothing changed: keep running
    }
    if prev_task.state == State::Ready {
        prev_task.involuntary_switches += 1;
        if prev != IDLE {
            s.ready.push_back(prev);
        }
    } else {
        prev_task.voluntary_switches += 1;
    }
    // Its CPU time, to the cycle (the task is in hand: no second lookup
    // on the switch path).
    prev_task.run_cycles += cpu::rdtsc().wrapping_sub(s.running_since);
    let from = prev_task.context.clone();
    Some((from, run_next_ready(s)))
}

/// Makes the first ready task (or idle) the running one with a fresh time
/// slice, and returns the context to switch to.
fn run_next_ready(s: &mut Scheduler) -> Arc<Context> {
    let next = s.ready.pop_front().unwrap_or(IDLE);
    SWITCHES.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    s.current = next;
    CURRENT.store(next, core::sync::atomic::Ordering::Relaxed);
    s.slice_left = TIME_SLICE_TICKS;
    let next_task = s.tasks.get_mut(&next).expect("ready task missing");
    next_task.state = State::Running;
    s.running_since = cpu::rdtsc();
    next_task.context.clone().expect("ready task without context")
}

/// Switches as [`pick_next`] decided.
fn switch_to(switch: Switch) {
    match switch {
        None => {}
        Some((Some(from), to)) => context::switch(&from, &to),
        Some((None, to)) => {
            // The previous task exited: its context was handed to exit().
            drop(to);
            unreachable!("schedule() from an exited task")
        }
    }
}

/// Gives the CPU to another ready task, if any (one pass under the lock).
pub fn yield_now() {
    cpu::without_interrupts(|| {
        let switch = with(|s| {
            if s.ready.is_empty() {
                return None;
            }
            let cur = s.current;
            s.tasks.get_mut(&cur).expect("current task missing").state = State::Ready;
            pick_next(s)
        });
        switch_to(switch);
    });
}

/// Blocks the running task until [`wake`] (or the tick `until_tick`).
/// Call with interrupts masked after checking the condition, so a wake-up
/// between the check and the block is not lost.
pub fn block(until_tick: Option<u64>) {
    cpu::without_interrupts(|| {
        let switch = with(|s| {
            let cur = s.current;
            s.tasks.get_mut(&cur).expect("current task missing").state = State::Blocked { until_tick };
            pick_next(s)
        });
        switch_to(switch);
    });
}

/// Makes a blocked task ready (no effect on other states).
pub fn wake(pid: Pid) {
    with(|s| wake_locked(s, pid));
}

fn wake_locked(s: &mut Scheduler, pid: Pid) {
    if let Some(t) = s.tasks.get_mut(&pid) {
        if let State::Blocked { .. } = t.state {
            t.state = State::Ready;
            if pid != IDLE {
                s.ready.push_back(pid);
            }
        }
    }
}

/// Makes blocked task `pid` ready at the head of the queue; false if it
/// was not blocked (already ready or running: nothing to hurry).
fn wake_first(s: &mut Scheduler, pid: Pid) -> bool {
    match s.tasks.get_mut(&pid) {
        Some(t) if pid != IDLE && matches!(t.state, State::Blocked { .. }) => {
            t.state = State::Ready;
            s.ready.push_front(pid);
            true
        }
        _ => false,
    }
}

/// Sleeps for at least `duration` (rounded up to timer ticks).
pub fn sleep(duration: Duration) {
    let hz = time::timer_hz() as u128;
    let ticks = (duration.as_nanos() * hz).div_ceil(1_000_000_000) as u64;
    let until = time::ticks() + ticks.max(1);
    while time::ticks() < until {
        cpu::without_interrupts(|| block(Some(until)));
    }
}

/// Ends the running task with `status`; a task in [`wait`] for it wakes.
/// The task's LKL TLS destructors run first (in the task, as LKL expects).
pub fn exit(status: i32) -> ! {
    crate::lkl::host::run_tls_destructors();
    drop(crate::tty::detach(current_pid()));
    cpu::disable_interrupts();
    let (from, to) = with(|s| {
        let pid = s.current;
        let task = s.tasks.get_mut(&pid).expect("current task missing");
        assert!(pid != IDLE, "the idle task cannot exit");
        task.state = State::Zombie(status);
        let from = task.context.take().expect("running task without context");
        let (waiter, detached) = (task.waiter, task.detached);
        if let Some(w) = waiter {
            wake_locked(s, w);
        }
        if detached && waiter.is_none() {
            s.tasks.remove(&pid);
        }
        (from, run_next_ready(s))
    });
    context::exit_to(from, to)
}

/// Waits for task `pid` to exit and returns its status (None: no such task).
pub fn wait(pid: Pid) -> Option<i32> {
    loop {
        let done = cpu::without_interrupts(|| {
            let me = current_pid();
            let state = with(|s| {
                let t = s.tasks.get_mut(&pid)?;
                if let State::Zombie(status) = t.state {
                    s.tasks.remove(&pid);
                    return Some(Some(status));
                }
                t.waiter = Some(me);
                Some(None)
            });
            match state {
                None => Some(None),
                Some(Some(status)) => Some(Some(status)),
                Some(None) => {
                    block(None);
                    None
                }
            }
        });
        if let Some(result) = done {
            return result;
        }
    }
}

/// Timer tick (interrupt context): wake sleepers whose time came, account
/// the running task, preempt it when its slice is over.
fn tick() {
    let now = time::ticks();
    let preempt = with(|s| {
        // Wake sleepers whose time came (no allocation: this runs every tick).
        for t in s.tasks.values_mut() {
            if matches!(t.state, State::Blocked { until_tick: Some(u) } if u <= now) {
                t.state = State::Ready;
                if t.pid != IDLE {
                    s.ready.push_back(t.pid);
                }
            }
        }
        // A due timer's service runs next, not after the running task's
        // slice (up to 10 ticks: LKL's timer interrupts came 20-60 ms late
        // while an LKL thread was busy).
        let timer_due = crate::timer::tick().is_some_and(|pid| wake_first(s, pid));
        let cur = s.current;
        if let Some(t) = s.tasks.get_mut(&cur) {
            t.cpu_ticks += 1;
        }
        s.slice_left = s.slice_left.saturating_sub(1);
        let idle_with_work = cur == IDLE && !s.ready.is_empty();
        if (s.slice_left == 0 || idle_with_work || timer_due) && !s.ready.is_empty() {
            if let Some(t) = s.tasks.get_mut(&cur) {
                t.state = State::Ready;
            }
            true
        } else {
            false
        }
    });
    // CPU time and the CPU-time interval timers of Linux processes.
    crate::linux::cpu_tick();
    if preempt {
        schedule();
    }
}

/// The idle task's body: halt until an interrupt, run whatever became ready.
pub(crate) fn idle_loop() -> ! {
    loop {
        cpu::disable_interrupts();
        let has_work = with(|s| !s.ready.is_empty());
        if has_work {
            with_current(|t| t.state = State::Ready);
            schedule();
            cpu::enable_interrupts();
        } else {
            cpu::wait_for_interrupt();
        }
    }
}

/// Fault reports: name the running task (without locking twice).
fn report_current(out: &mut dyn Write) {
    match SCHED.try_lock() {
        Some(guard) => match guard.as_ref().and_then(|s| s.tasks.get(&s.current)) {
            Some(t) => {
                let _ = writeln!(out, "  task: {} (pid {}, lkl_thread={})", t.name, t.pid, t.lkl_thread);
            }
            None => {
                let _ = writeln!(out, "  task: unknown");
            }
        },
        None => {
            let _ = writeln!(out, "  task: unknown (the fault hit inside the scheduler)");
        }
    }
}
