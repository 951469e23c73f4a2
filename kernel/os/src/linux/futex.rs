//! Futex wait queues: threads sleeping on a 32-bit word of user memory
//! until another thread wakes that word (glibc's and musl's mutexes,
//! condition variables, pthread_join and the clear-child-tid wake).
//!
//! A waiter is keyed by its address space and the user address, so private
//! and shared futexes of one process meet; a word of shared memory (a
//! shared mapping, MAP_SHARED|MAP_ANONYMOUS across fork) reached without
//! FUTEX_PRIVATE_FLAG is keyed by its frame instead, so the processes that
//! share it meet there ([`ProcessMemory::futex_key`]: process-shared
//! mutexes, semaphores and robust locks).
//! Checking the word and queueing happen with interrupts masked: on our one
//! CPU no waker can slip in between, which is the futex contract (no lost
//! wake-up).

use alloc::vec::Vec;

use embox_abi::Errno;

use super::memory::{FutexKey, ProcessMemory};
use crate::hal::sync::IrqMutex;
use crate::hal::{cpu, time};
use crate::sched::{self, Pid};

/// FUTEX_BITSET_MATCH_ANY: what plain WAIT and WAKE use.
pub const BITSET_ANY: u32 = u32::MAX;

struct Waiter {
    key: FutexKey,
    tid: Pid,
    bitset: u32,
}

/// Every thread waiting on a futex. A woken waiter is taken out of it by
/// its waker, so "no longer queued" means "woken".
static WAITERS: IrqMutex<Vec<Waiter>> = IrqMutex::new(Vec::new());

/// FUTEX_WAIT / FUTEX_WAIT_BITSET: sleeps while the word at `addr` holds
/// `expected`, until a wake whose bitset meets `bitset`, the monotonic
/// clock reaching `deadline_ns` (ETIMEDOUT), or the thread being
/// interrupted (EINTR: [`super::interrupted`], the signal hook). EAGAIN at
/// once when the word differs; EFAULT when it cannot be read; EINVAL when
/// it is not aligned or `bitset` is 0. `private`: FUTEX_PRIVATE_FLAG.
pub fn wait(memory: &mut ProcessMemory, addr: u32, private: bool, expected: u32, bitset: u32, deadline_ns: Option<u64>) -> Result<(), Errno> {
    if addr % 4 != 0 || bitset == 0 {
        return Err(Errno::EINVAL);
    }
    let tid = sched::current_pid();
    cpu::without_interrupts(|| -> Result<(), Errno> {
        let mut word = [0u8; 4];
        memory.read(addr, &mut word)?;
        if u32::from_le_bytes(word) != expected {
            return Err(Errno::EAGAIN);
        }
        let key = memory.futex_key(addr, private);
        let mut waiters = WAITERS.lock();
        waiters.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        waiters.push(Waiter { key, tid, bitset });
        Ok(())
    })?;
    loop {
        let outcome = cpu::without_interrupts(|| {
            let interrupted = super::interrupted();
            // The clock only for a wait with a timeout (a round trip's wait has none).
            let now = deadline_ns.map(|_| crate::hal::time::since_boot_ns()).unwrap_or(0);
            let mut waiters = WAITERS.lock();
            let Some(at) = waiters.iter().position(|w| w.tid == tid) else {
                return Some(Ok(()));
            };
            let timed_out = deadline_ns.is_some_and(|d| now >= d);
            if timed_out || interrupted {
                waiters.swap_remove(at);
                return Some(Err(if timed_out { Errno::ETIMEDOUT } else { Errno::EINTR }));
            }
            drop(waiters);
            sched::block(deadline_ns.map(|d| tick_at(d, now)));
            None
        });
        if let Some(result) = outcome {
            return result;
        }
    }
}

/// The timer tick at or after monotonic time `deadline` (now is `now`).
fn tick_at(deadline: u64, now: u64) -> u64 {
    let hz = time::timer_hz() as u64;
    let ticks = ((deadline - now) as u128 * hz as u128).div_ceil(1_000_000_000) as u64;
    time::ticks() + ticks.max(1)
}

/// FUTEX_WAKE / FUTEX_WAKE_BITSET: wakes up to `count` threads waiting on
/// `addr` whose bitset meets `bitset`, oldest first; returns how many.
pub fn wake(memory: &ProcessMemory, addr: u32, private: bool, count: u32, bitset: u32) -> u32 {
    cpu::without_interrupts(|| take_waiters(memory.futex_key(addr, private), count, bitset))
}

/// Takes up to `count` matching waiters out of the queue and wakes them
/// (interrupts masked); returns how many. No allocation: this is the
/// round trip's hot path.
fn take_waiters(key: FutexKey, count: u32, bitset: u32) -> u32 {
    let mut woken = 0;
    let mut waiters = WAITERS.lock();
    let mut i = 0;
    while i < waiters.len() && woken < count {
        let w = &waiters[i];
        if w.key == key && w.bitset & bitset != 0 {
            // The scheduler's lock nests inside ours (never the other way).
            sched::wake(waiters.remove(i).tid);
            woken += 1;
        } else {
            i += 1;
        }
    }
    woken
}

/// FUTEX_REQUEUE / FUTEX_CMP_REQUEUE: wakes up to `wake_count` waiters on
/// `addr` and moves up to `requeue_count` more to wait on `addr2`; with
/// `expected`, EAGAIN (nothing done) unless the word at `addr` holds it.
/// Returns how many were woken or moved (as Linux does for both).
pub fn requeue(memory: &mut ProcessMemory, (addr, addr2): (u32, u32), private: bool, wake_count: u32, requeue_count: u32, expected: Option<u32>) -> Result<u32, Errno> {
    if addr % 4 != 0 || addr2 % 4 != 0 {
        return Err(Errno::EINVAL);
    }
    cpu::without_interrupts(|| {
        if let Some(expected) = expected {
            let mut word = [0u8; 4];
            memory.read(addr, &mut word)?;
            if u32::from_le_bytes(word) != expected {
                return Err(Errno::EAGAIN);
            }
        }
        let (key, key2) = (memory.futex_key(addr, private), memory.futex_key(addr2, private));
        let woken = take_waiters(key, wake_count, BITSET_ANY);
        let mut moved = 0;
        for w in WAITERS.lock().iter_mut() {
            if moved == requeue_count {
                break;
            }
            if w.key == key {
                w.key = key2;
                moved += 1;
            }
        }
        Ok(woken + moved)
    })
}

/// FUTEX_WAKE_OP: applies the operation `op` encodes to the word at
/// `addr2` (one step), wakes up to `count` waiters on `addr`, and, if the
/// word's old value passes `op`'s comparison, up to `count2` on `addr2`.
pub fn wake_op(memory: &mut ProcessMemory, (addr, addr2): (u32, u32), private: bool, (count, count2): (u32, u32), op: u32) -> Result<u32, Errno> {
    let sign_extend_12 = |v: u32| ((v << 20) as i32 >> 20) as u32;
    let (kind, cmp) = ((op >> 28) & 7, (op >> 24) & 15);
    let mut oparg = sign_extend_12((op >> 12) & 0xfff);
    let cmparg = sign_extend_12(op & 0xfff);
    if op & (8 << 28) != 0 {
        // FUTEX_OP_OPARG_SHIFT: the argument is a bit number.
        if oparg > 31 {
            return Err(Errno::EINVAL);
        }
        oparg = 1 << oparg;
    }
    let apply = match kind {
        0 => |_old: u32, arg: u32| arg,          // FUTEX_OP_SET
        1 => |old: u32, arg: u32| old.wrapping_add(arg), // FUTEX_OP_ADD
        2 => |old: u32, arg: u32| old | arg,     // FUTEX_OP_OR
        3 => |old: u32, arg: u32| old & !arg,    // FUTEX_OP_ANDN
        4 => |old: u32, arg: u32| old ^ arg,     // FUTEX_OP_XOR
        _ => return Err(Errno::ENOSYS),
    };
    cpu::without_interrupts(|| {
        let old = memory.update_u32(addr2, |old| apply(old, oparg))?;
        let (a, b) = (old as i32, cmparg as i32);
        let passes = match cmp {
            0 => a == b,
            1 => a != b,
            2 => a < b,
            3 => a <= b,
            4 => a > b,
            5 => a >= b,
            _ => return Err(Errno::ENOSYS),
        };
        let mut woken = take_waiters(memory.futex_key(addr, private), count, BITSET_ANY);
        if passes {
            woken += take_waiters(memory.futex_key(addr2, private), count2, BITSET_ANY);
        }
        Ok(woken)
    })
}

/// `futex_offset` and the three words of a `struct robust_list_head`.
const ROBUST_HEAD_BYTES: usize = 12;
/// Linux's ROBUST_LIST_LIMIT: a longer (or circular) list is cut there.
const ROBUST_LIST_LIMIT: u32 = 2048;
const FUTEX_WAITERS: u32 = 0x8000_0000;
const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
const FUTEX_TID_MASK: u32 = 0x3fff_ffff;

/// A thread that ends (exit, exit_group, a fatal signal) with a robust
/// list at `head` (set_robust_list): every lock it still holds on the list,
/// and the one it was taking or releasing (`list_op_pending`), is marked
/// FUTEX_OWNER_DIED and one waiter woken, so the next locker gets
/// EOWNERDEAD (Linux's exit_robust_list). Every word is read through the
/// checked user copies and the walk stops at the first bad pointer or after
/// ROBUST_LIST_LIMIT entries: a forged list costs a bounded walk, nothing
/// more.
pub fn release_robust_list(memory: &mut ProcessMemory, tid: u32, head: u32) {
    let word = |memory: &mut ProcessMemory, at: u32| -> Option<u32> {
        let mut b = [0u8; 4];
        memory.read(at, &mut b).ok().map(|()| u32::from_le_bytes(b))
    };
    let mut h = [0u8; ROBUST_HEAD_BYTES];
    if head == 0 || memory.read(head, &mut h).is_err() {
        return;
    }
    let field = |i: usize| u32::from_le_bytes([h[4 * i], h[4 * i + 1], h[4 * i + 2], h[4 * i + 3]]);
    let (mut entry, offset, pending) = (field(0), field(1), field(2));
    let mut limit = ROBUST_LIST_LIMIT;
    while entry & !1 != head {
        // The next entry first: handling this one may free it.
        let next = word(memory, entry & !1);
        if entry & !1 != pending & !1 {
            futex_death(memory, (entry & !1).wrapping_add(offset), tid, entry & 1 != 0, false);
        }
        let Some(next) = next else { return };
        entry = next;
        limit -= 1;
        if limit == 0 {
            break;
        }
    }
    if pending & !1 != 0 {
        futex_death(memory, (pending & !1).wrapping_add(offset), tid, pending & 1 != 0, true);
    }
}

/// Linux's handle_futex_death for the lock word at `addr` of dead thread
/// `tid` (`pi`: a priority-inheritance futex, which we only mark).
fn futex_death(memory: &mut ProcessMemory, addr: u32, tid: u32, pi: bool, pending: bool) {
    if addr % 4 != 0 {
        return;
    }
    cpu::without_interrupts(|| {
        let mut seen = 0;
        let Ok(_) = memory.update_u32(addr, |old| {
            seen = old;
            if old & FUTEX_TID_MASK == tid {
                (old & FUTEX_WAITERS) | FUTEX_OWNER_DIED
            } else {
                old
            }
        }) else {
            return;
        };
        // A pending unlock that got as far as storing 0 may have left a
        // waiter asleep: wake one (Linux does the same).
        let owned = seen & FUTEX_TID_MASK == tid;
        if (pending && !pi && seen == 0) || (owned && !pi && seen & FUTEX_WAITERS != 0) {
            // Not private: the lock may live in memory shared with
            // another process (a process-shared robust mutex).
            take_waiters(memory.futex_key(addr, false), 1, BITSET_ANY);
        }
    });
}
