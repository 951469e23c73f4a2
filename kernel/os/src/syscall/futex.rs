//! futex (both the 32-bit and the time64 form): WAIT, WAKE, REQUEUE,
//! CMP_REQUEUE, WAKE_OP, WAIT_BITSET and WAKE_BITSET, private or not
//! (keyed by address space and address, or by frame for shared memory
//! without FUTEX_PRIVATE_FLAG: `linux::futex`).
//! WAIT's timeout is relative; WAIT_BITSET's is absolute, on
//! CLOCK_MONOTONIC or, with FUTEX_CLOCK_REALTIME, CLOCK_REALTIME. The
//! priority-inheritance operations are not served (ENOSYS).

use embox_abi::errno::SysResult;
use embox_abi::types::{Timespec32, Timespec64};
use embox_abi::Errno;

use super::time::{ns_of32, ns_of64};
use super::user::UserPtr;
use crate::linux::env;
use crate::linux::futex;
use crate::linux::process::Process;

const FUTEX_WAIT: u32 = 0;
const FUTEX_WAKE: u32 = 1;
const FUTEX_REQUEUE: u32 = 3;
const FUTEX_CMP_REQUEUE: u32 = 4;
const FUTEX_WAKE_OP: u32 = 5;
const FUTEX_WAIT_BITSET: u32 = 9;
const FUTEX_WAKE_BITSET: u32 = 10;
const FUTEX_PRIVATE_FLAG: u32 = 128;
const FUTEX_CLOCK_REALTIME: u32 = 256;

/// futex(uaddr, op, val, timeout or val2, uaddr2, val3) with a `timespec32`.
pub fn futex32(p: &mut Process, uaddr: UserPtr<u32>, op: u32, val: u32, timeout: u32, uaddr2: UserPtr<u32>, val3: u32) -> SysResult {
    let call = Call { addr: uaddr.addr, op, val, timeout, addr2: uaddr2.addr, val3 };
    futex(p, call, |p, at| ns_of32(&UserPtr::<Timespec32>::new(at).read(&mut p.memory)?))
}

/// futex_time64: the same with a 64-bit `timespec`.
pub fn futex64(p: &mut Process, uaddr: UserPtr<u32>, op: u32, val: u32, timeout: u32, uaddr2: UserPtr<u32>, val3: u32) -> SysResult {
    let call = Call { addr: uaddr.addr, op, val, timeout, addr2: uaddr2.addr, val3 };
    futex(p, call, |p, at| ns_of64(&UserPtr::<Timespec64>::new(at).read(&mut p.memory)?))
}

/// One futex call's arguments. `timeout` is a pointer to a timespec for the
/// waits and a count (val2) for the requeues, so it stays a number here.
struct Call {
    addr: u32,
    op: u32,
    val: u32,
    timeout: u32,
    addr2: u32,
    val3: u32,
}

fn futex(p: &mut Process, call: Call, read_timespec: fn(&mut Process, u32) -> Result<u64, Errno>) -> SysResult {
    let Call { addr, op, val, timeout, addr2, val3 } = call;
    let realtime = op & FUTEX_CLOCK_REALTIME != 0;
    let private = op & FUTEX_PRIVATE_FLAG != 0;
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    if realtime && cmd != FUTEX_WAIT && cmd != FUTEX_WAIT_BITSET {
        return Err(Errno::ENOSYS);
    }
    let now = env::monotonic().as_nanos() as u64;
    match cmd {
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            let bitset = if cmd == FUTEX_WAIT { futex::BITSET_ANY } else { val3 };
            let deadline = match timeout {
                0 => None,
                at => {
                    let ns = read_timespec(p, at)?;
                    Some(match (cmd, realtime) {
                        // WAIT: relative, whatever the clock.
                        (FUTEX_WAIT, _) => now.saturating_add(ns),
                        (_, false) => ns,
                        (_, true) => ns.saturating_sub(env::realtime_offset_ns()),
                    })
                }
            };
            futex::wait(&mut p.memory, addr, private, val, bitset, deadline).map(|()| 0)
        }
        FUTEX_WAKE => Ok(futex::wake(&p.memory, addr, private, val, futex::BITSET_ANY)),
        FUTEX_WAKE_BITSET if val3 == 0 => Err(Errno::EINVAL),
        FUTEX_WAKE_BITSET => Ok(futex::wake(&p.memory, addr, private, val, val3)),
        // For these the timeout argument is a count (val2).
        FUTEX_REQUEUE => futex::requeue(&mut p.memory, (addr, addr2), private, val, timeout, None),
        FUTEX_CMP_REQUEUE => futex::requeue(&mut p.memory, (addr, addr2), private, val, timeout, Some(val3)),
        FUTEX_WAKE_OP => futex::wake_op(&mut p.memory, (addr, addr2), private, (val, timeout), val3),
        _ => Err(Errno::ENOSYS),
    }
}
