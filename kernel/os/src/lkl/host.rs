//! LKL's host operations on our own primitives: host threads are scheduler
//! tasks, semaphores are [`sync::Semaphore`], mutexes are built on them,
//! thread-local storage lives in each [`sched::Task`], timers are
//! [`timer::after`] one-shots run by the `timers` thread, time is the RTC at
//! boot plus the PIT clock.

use crate::hal::lkl::{self as hal_lkl, HostMutex, HostSem, HostTimer, ThreadBody, ThreadId, TimerCallback, TlsDestructor, TlsKey};
use crate::hal::sync::IrqMutex;
use crate::sched::{self, Pid};
use crate::sync::Semaphore;
use crate::timer::{self, TimerId};
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use core::time::Duration;

pub(crate) struct Host;

pub(crate) static HOST: Host = Host;

/// LKL's console output, cut into lines for the kernel log.
static PRINT_LINE: IrqMutex<Vec<u8>> = IrqMutex::new(Vec::new());

/// TLS keys: key -> destructor.
static TLS_KEYS: IrqMutex<BTreeMap<usize, Option<TlsDestructor>>> = IrqMutex::new(BTreeMap::new());
static NEXT_TLS_KEY: IrqMutex<usize> = IrqMutex::new(1);

/// LKL reads its task pointer with `tls_get` in every forwarded syscall:
/// the last (task, value) of one key is kept here, readable without the
/// scheduler lock. Pid 0 (the idle task, never an LKL caller) means empty.
/// Pids are never reused, and only a task's own calls (tls_set, a miss, its
/// exit) store its entry, so a hit is always the reader's own current
/// value. Two 32-bit words, read and written together with interrupts
/// masked (one CPU): a 64-bit atomic is an SSE `movq` on i686, and the
/// kernel's first SSE instruction in a syscall costs a #NM trap and a save
/// and restore of the program's FPU state.
static TLS_CACHE_KEY: AtomicUsize = AtomicUsize::new(0);
static TLS_CACHE_PID: AtomicU32 = AtomicU32::new(0);
static TLS_CACHE_VALUE: AtomicUsize = AtomicUsize::new(0);

fn cache_tls(key: usize, pid: Pid, value: usize) {
    // The first key LKL reads (its task key) is the cached one.
    let _ = TLS_CACHE_KEY.compare_exchange(0, key, Ordering::Relaxed, Ordering::Relaxed);
    if TLS_CACHE_KEY.load(Ordering::Relaxed) == key {
        store_cached(pid, value);
    }
}

fn store_cached(pid: Pid, value: usize) {
    crate::hal::cpu::without_interrupts(|| {
        TLS_CACHE_PID.store(pid, Ordering::Relaxed);
        TLS_CACHE_VALUE.store(value, Ordering::Relaxed);
    })
}

/// The cached value of the key if it is `pid`'s.
fn cached(pid: Pid) -> Option<usize> {
    crate::hal::cpu::without_interrupts(|| {
        (TLS_CACHE_PID.load(Ordering::Relaxed) == pid).then(|| TLS_CACHE_VALUE.load(Ordering::Relaxed))
    })
}

fn current() -> ThreadId {
    ThreadId::new(sched::current_pid() as usize).expect("LKL host operation called from the idle task")
}

impl HostSem for Semaphore {
    fn up(&self) {
        Semaphore::up(self)
    }
    fn down(&self) {
        Semaphore::down(self)
    }
}

/// A mutex LKL allocated: taken with one atomic compare-and-swap when free
/// (LKL takes and releases its CPU lock twice in every syscall), and only a
/// contended lock sleeps, on a semaphore used as a wait queue (futex-style:
/// `state` 0 free, 1 held, 2 held and maybe waited for). It does not know
/// its holder: LKL's CPU lock (the one on every call) is not recursive.
struct Mutex {
    state: AtomicU32,
    /// Up once per release of a waited-for lock. A wake-up that finds the
    /// lock taken again just waits again; one that comes before its waiter
    /// sleeps is kept as a count, so none is lost.
    waiters: Semaphore,
}

impl Mutex {
    fn new() -> Self {
        Self { state: AtomicU32::new(0), waiters: Semaphore::new(0) }
    }
}

impl HostMutex for Mutex {
    fn lock(&self) {
        if self.state.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed).is_err() {
            while self.state.swap(2, Ordering::Acquire) != 0 {
                self.waiters.down();
            }
        }
    }

    fn unlock(&self) {
        if self.state.swap(0, Ordering::Release) == 2 {
            self.waiters.up();
        }
    }
}

/// A recursive mutex: a [`Mutex`] that counts its holder's locks.
struct RecursiveMutex {
    inner: Mutex,
    /// The holder's pid (0: none); only its holder writes it.
    owner: AtomicU32,
    /// The holder's lock depth; only its holder touches it.
    depth: AtomicU32,
}

impl HostMutex for RecursiveMutex {
    fn lock(&self) {
        let me = sched::current_pid();
        if self.owner.load(Ordering::Relaxed) == me {
            self.depth.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.inner.lock();
        self.owner.store(me, Ordering::Relaxed);
        self.depth.store(1, Ordering::Relaxed);
    }

    fn unlock(&self) {
        if self.depth.load(Ordering::Relaxed) > 1 {
            self.depth.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        self.depth.store(0, Ordering::Relaxed);
        self.owner.store(0, Ordering::Relaxed);
        self.inner.unlock();
    }
}

/// A one-shot timer: each `set_oneshot` arms a [`timer::after`] callback
/// tagged with a generation, so re-arming or freeing cancels the old one.
struct Timer {
    shared: Arc<TimerShared>,
}

struct TimerShared {
    callback: TimerCallback,
    /// (generation, armed timer); generation u64::MAX = freed.
    armed: IrqMutex<(u64, Option<TimerId>)>,
}

impl HostTimer for Timer {
    fn set_oneshot(&self, delay_ns: u64) {
        let shared = self.shared.clone();
        let mut armed = self.shared.armed.lock();
        if let Some(old) = armed.1.take() {
            timer::cancel(old);
        }
        armed.0 += 1;
        let generation = armed.0;
        armed.1 = Some(timer::after(Duration::from_nanos(delay_ns), move || {
            let current = {
                let mut armed = shared.armed.lock();
                let current = armed.0 == generation;
                if current {
                    armed.1 = None;
                }
                current
            };
            if current {
                super::STATS.timer_fires.fetch_add(1, Ordering::Relaxed);
                (shared.callback)()
            }
        }));
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        let mut armed = self.shared.armed.lock();
        armed.0 = u64::MAX;
        if let Some(old) = armed.1.take() {
            timer::cancel(old);
        }
    }
}

impl hal_lkl::Host for Host {
    fn print(&self, text: &[u8]) {
        let mut line = PRINT_LINE.lock();
        for &b in text {
            if b == b'\n' {
                let s = core::str::from_utf8(&line).unwrap_or("<not UTF-8>");
                super::log_line(s);
                line.clear();
            } else {
                line.push(b);
            }
        }
    }

    fn panic(&self) -> ! {
        crate::hal::report::fatal(format_args!("lkl: Linux panicked (see its messages above)"))
    }

    fn sem_alloc(&self, count: u32) -> Option<Box<dyn HostSem>> {
        Some(Box::new(Semaphore::new(count)))
    }

    fn mutex_alloc(&self, recursive: bool) -> Option<Box<dyn HostMutex>> {
        if recursive {
            Some(Box::new(RecursiveMutex { inner: Mutex::new(), owner: AtomicU32::new(0), depth: AtomicU32::new(0) }))
        } else {
            Some(Box::new(Mutex::new()))
        }
    }

    fn thread_create(&self, body: ThreadBody) -> Option<ThreadId> {
        let pid = crate::hal::cpu::without_interrupts(|| {
            let pid = sched::spawn("lkl", body);
            sched::with_task(pid, |t| t.lkl_thread = true);
            pid
        });
        ThreadId::new(pid as usize)
    }

    fn thread_detach(&self) {
        sched::with_current(|t| t.detached = true);
    }

    fn thread_exit(&self) -> ! {
        sched::exit(0)
    }

    fn thread_join(&self, thread: ThreadId) -> bool {
        sched::wait(thread.get() as Pid).is_some()
    }

    fn thread_self(&self) -> ThreadId {
        current()
    }

    fn tls_alloc(&self, destructor: Option<TlsDestructor>) -> Option<TlsKey> {
        let key = {
            let mut next = NEXT_TLS_KEY.lock();
            let key = *next;
            *next += 1;
            key
        };
        TLS_KEYS.lock().insert(key, destructor);
        TlsKey::new(key)
    }

    fn tls_free(&self, key: TlsKey) {
        TLS_KEYS.lock().remove(&key.get());
        if TLS_CACHE_KEY.load(Ordering::Relaxed) == key.get() {
            store_cached(0, 0);
        }
        // Values other tasks hold for the key are forgotten lazily: a task's
        // (key, value) pair for a freed key is never read or destroyed.
    }

    fn tls_set(&self, key: TlsKey, value: usize) -> bool {
        if !TLS_KEYS.lock().contains_key(&key.get()) {
            return false;
        }
        let pid = sched::with_current(|t| {
            match t.lkl_tls.iter_mut().find(|(k, _)| *k == key.get()) {
                Some(slot) => slot.1 = value,
                None => t.lkl_tls.push((key.get(), value)),
            }
            t.pid
        });
        cache_tls(key.get(), pid, value);
        true
    }

    fn tls_get(&self, key: TlsKey) -> usize {
        let me = sched::current_pid();
        if TLS_CACHE_KEY.load(Ordering::Relaxed) == key.get() {
            if let Some(value) = cached(me) {
                return value;
            }
        }
        let value = sched::with_current(|t| t.lkl_tls.iter().find(|(k, _)| *k == key.get()).map_or(0, |(_, v)| *v));
        cache_tls(key.get(), me, value);
        value
    }

    fn time_ns(&self) -> u64 {
        crate::linux::env::realtime_offset_ns() + crate::hal::time::since_boot_ns()
    }

    fn timer_alloc(&self, callback: TimerCallback) -> Option<Box<dyn HostTimer>> {
        Some(Box::new(Timer { shared: Arc::new(TimerShared { callback, armed: IrqMutex::new((0, None)) }) }))
    }

    fn gettid(&self) -> i32 {
        sched::current_pid() as i32
    }
}

/// Hands LKL host task `value` to task `pid` (which has not run yet): its
/// first `tls_get` of LKL's task key returns it. False when LKL has not read
/// its key yet or there is no such task.
pub(crate) fn set_task_of(pid: Pid, value: usize) -> bool {
    let key = TLS_CACHE_KEY.load(Ordering::Relaxed);
    key != 0
        && sched::with_task(pid, |t| {
            t.lkl_tls.retain(|(k, _)| *k != key);
            t.lkl_tls.push((key, value));
        })
        .is_some()
}

/// Ends LKL host task `value` that no task holds, in the caller's thread,
/// with LKL's own destructor for its task key.
pub(crate) fn end_task(value: usize) {
    let key = TLS_CACHE_KEY.load(Ordering::Relaxed);
    let destructor = TLS_KEYS.lock().get(&key).copied().flatten();
    if let Some(d) = destructor {
        d.call(value);
    }
}

/// Runs the running task's TLS destructors (POSIX order: each non-zero value
/// of a key that has a destructor, value cleared first), as the task exits.
pub(crate) fn run_tls_destructors() {
    // Destructors may set values again (LKL's del_host_task does not, but
    // POSIX allows it): a few rounds, as pthreads does.
    for _ in 0..4 {
        let values = sched::with_current(|t| core::mem::take(&mut t.lkl_tls));
        #[cfg(feature = "lkl")]
        super::interrupt::forget(sched::current_pid());
        super::task::forget(sched::current_pid());
        if cached(sched::current_pid()).is_some() {
            store_cached(0, 0);
        }
        let mut ran = false;
        for (key, value) in values {
            if value == 0 {
                continue;
            }
            let destructor = TLS_KEYS.lock().get(&key).copied().flatten();
            if let Some(d) = destructor {
                d.call(value);
                ran = true;
            }
        }
        if !ran {
            return;
        }
    }
}
