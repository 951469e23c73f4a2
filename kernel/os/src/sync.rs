//! Blocking synchronisation for tasks: wait queues and counting semaphores
//! (what LKL's host operations and futex-like waits build on).
//!
//! All of it sits on [`sched::block`]/[`sched::wake`]; the check of the
//! condition and the block happen with interrupts masked, so a wake-up from
//! an interrupt handler or another task cannot slip in between.

use crate::hal::{cpu, sync::IrqMutex};
use crate::sched::{self, Pid};
use alloc::collections::VecDeque;

/// Tasks waiting for an event, woken in arrival order.
pub struct WaitQueue {
    waiters: IrqMutex<VecDeque<Pid>>,
}

impl Default for WaitQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl WaitQueue {
    pub const fn new() -> Self {
        Self { waiters: IrqMutex::new(VecDeque::new()) }
    }

    /// Blocks the running task until `ready()` is true. `ready` is checked
    /// with interrupts masked, first and after every wake-up.
    ///
    /// A task woken by something else (a signal's [`sched::wake`]) is still
    /// queued: it is queued once only, and leaves the queue when it stops
    /// waiting, so a later `wake_one` never goes to a task that no longer
    /// waits while a real waiter sleeps on (a lost wake-up).
    pub fn wait_until(&self, mut ready: impl FnMut() -> bool) {
        let me = sched::current_pid();
        let mut queued = false;
        loop {
            let done = cpu::without_interrupts(|| {
                if ready() {
                    if queued {
                        self.waiters.lock().retain(|&p| p != me);
                    }
                    return true;
                }
                let mut waiters = self.waiters.lock();
                if !waiters.contains(&me) {
                    waiters.push_back(me);
                }
                drop(waiters);
                queued = true;
                sched::block(None);
                false
            });
            if done {
                return;
            }
        }
    }

    /// Wakes the longest-waiting task; returns false if none waited.
    pub fn wake_one(&self) -> bool {
        let pid = self.waiters.lock().pop_front();
        match pid {
            Some(pid) => {
                sched::wake(pid);
                true
            }
            None => false,
        }
    }

    /// Wakes every waiting task; returns how many.
    pub fn wake_all(&self) -> usize {
        // Drained in place: the queue keeps its buffer (taking it left an
        // empty one, so every wait after a wake allocated anew: a pipe
        // round trip paid four heap calls for it).
        let mut waiters = self.waiters.lock();
        let n = waiters.len();
        for pid in waiters.drain(..) {
            sched::wake(pid);
        }
        n
    }
}

/// A counting semaphore.
pub struct Semaphore {
    count: IrqMutex<u32>,
    queue: WaitQueue,
}

impl Semaphore {
    pub const fn new(count: u32) -> Self {
        Self { count: IrqMutex::new(count), queue: WaitQueue::new() }
    }

    /// Takes one unit, blocking while there is none.
    pub fn down(&self) {
        self.queue.wait_until(|| {
            let mut count = self.count.lock();
            if *count > 0 {
                *count -= 1;
                true
            } else {
                false
            }
        });
    }

    /// Takes one unit if there is one, without blocking.
    pub fn try_down(&self) -> bool {
        let mut count = self.count.lock();
        if *count > 0 {
            *count -= 1;
            true
        } else {
            false
        }
    }

    /// Gives one unit back and wakes a waiter.
    pub fn up(&self) {
        *self.count.lock() += 1;
        self.queue.wake_one();
    }

    /// Units available now.
    pub fn count(&self) -> u32 {
        *self.count.lock()
    }
}
