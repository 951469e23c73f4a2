//! Pipes with Linux's semantics: a 64 KiB buffer; a read blocks until data
//! arrives and returns what is there, or 0 (end of file) once the last
//! writer is gone; a write of at most `PIPE_BUF` bytes goes in whole (never
//! interleaved with another writer's), a larger one in pieces as room
//! appears; writing with no reader left is EPIPE (the caller raises
//! SIGPIPE). `O_NONBLOCK` turns every wait into EAGAIN; a signal that is
//! to end the caller turns it into EINTR.
//!
//! Each end counts its open file descriptions (a descriptor table slot;
//! `dup` shares one, `fork` adds one), so the pipe knows when the last
//! reader or writer is gone.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use embox_abi::Errno;

use crate::hal::sync::IrqMutex;
use crate::sync::WaitQueue;

/// Bytes a pipe holds (Linux's default pipe size).
pub const CAPACITY: usize = 64 * 1024;
/// Writes up to this size are atomic.
pub const PIPE_BUF: usize = 4096;
/// Most pipes at once (each may hold 64 KiB of kernel heap).
const MAX_PIPES: usize = 64;

struct Pipe {
    data: VecDeque<u8>,
    readers: u32,
    writers: u32,
}

struct Pipes {
    pipes: BTreeMap<u32, Pipe>,
    next_id: u32,
}

static PIPES: IrqMutex<Pipes> = IrqMutex::new(Pipes { pipes: BTreeMap::new(), next_id: 1 });
/// Woken on every change: data in or out, an end closed.
static EVENTS: WaitQueue = WaitQueue::new();

/// A new pipe with one reader and one writer; returns its id.
pub fn create() -> Result<u32, Errno> {
    let mut pipes = PIPES.lock();
    if pipes.pipes.len() >= MAX_PIPES {
        return Err(Errno::ENFILE);
    }
    let id = pipes.next_id;
    pipes.next_id = pipes.next_id.wrapping_add(1).max(1);
    pipes.pipes.insert(id, Pipe { data: VecDeque::new(), readers: 1, writers: 1 });
    Ok(id)
}

/// One more open file description of an end (a forked descriptor table).
pub fn add_ref(id: u32, write: bool) {
    if let Some(pipe) = PIPES.lock().pipes.get_mut(&id) {
        if write {
            pipe.writers += 1;
        } else {
            pipe.readers += 1;
        }
    }
}

/// An open file description of an end is closed; the pipe goes with its last one.
pub fn release(id: u32, write: bool) {
    {
        let mut pipes = PIPES.lock();
        if let Some(pipe) = pipes.pipes.get_mut(&id) {
            let count = if write { &mut pipe.writers } else { &mut pipe.readers };
            *count = count.saturating_sub(1);
            if pipe.readers == 0 && pipe.writers == 0 {
                pipes.pipes.remove(&id);
            }
        }
    }
    EVENTS.wake_all();
}

/// Blocks until `ready` holds for the pipe (checked under the lock), the
/// caller is to be interrupted (EINTR), or (nonblocking) at once: EAGAIN.
fn wait_for(id: u32, nonblock: bool, ready: impl Fn(&Pipe) -> bool) -> Result<(), Errno> {
    let check = || PIPES.lock().pipes.get(&id).is_none_or(&ready);
    if check() {
        return Ok(());
    }
    if nonblock {
        return Err(Errno::EAGAIN);
    }
    let mut interrupted = false;
    EVENTS.wait_until(|| {
        interrupted = super::interrupted();
        interrupted || check()
    });
    if interrupted {
        Err(Errno::EINTR)
    } else {
        Ok(())
    }
}

/// Reads up to `max` bytes: what is there, blocking while the pipe is
/// empty and has writers; empty at end of file.
pub fn read(id: u32, max: usize, nonblock: bool) -> Result<Vec<u8>, Errno> {
    if max == 0 {
        return Ok(Vec::new());
    }
    wait_for(id, nonblock, |p| !p.data.is_empty() || p.writers == 0)?;
    let out = {
        let mut pipes = PIPES.lock();
        let pipe = pipes.pipes.get_mut(&id).ok_or(Errno::EBADF)?;
        let n = max.min(pipe.data.len());
        let mut out = Vec::new();
        out.try_reserve_exact(n).map_err(|_| Errno::ENOMEM)?;
        out.extend(pipe.data.drain(..n));
        out
    };
    EVENTS.wake_all();
    Ok(out)
}

/// Writes `data`, blocking for room; returns the bytes written (fewer than
/// asked only when a signal or O_NONBLOCK stopped a large write after some
/// went in). EPIPE when no reader is left.
pub fn write(id: u32, data: &[u8], nonblock: bool) -> Result<usize, Errno> {
    let mut done = 0;
    while done < data.len() {
        let left = data.len() - done;
        // Atomic writes wait for room for all of them; others for any room.
        let need = if data.len() <= PIPE_BUF { left } else { 1 };
        let waited = wait_for(id, nonblock, |p| p.readers == 0 || CAPACITY - p.data.len() >= need);
        if let Err(e) = waited {
            return if done > 0 { Ok(done) } else { Err(e) };
        }
        {
            let mut pipes = PIPES.lock();
            let pipe = pipes.pipes.get_mut(&id).ok_or(Errno::EBADF)?;
            if pipe.readers == 0 {
                return Err(Errno::EPIPE);
            }
            let n = left.min(CAPACITY - pipe.data.len());
            pipe.data.try_reserve(n).map_err(|_| Errno::ENOMEM)?;
            pipe.data.extend(&data[done..done + n]);
            done += n;
        }
        EVENTS.wake_all();
    }
    Ok(done)
}

/// For poll/select: (readable: data or no writer, writable: room and a
/// reader, hung up: no writer left, error: no reader left).
pub fn state(id: u32) -> (bool, bool, bool, bool) {
    match PIPES.lock().pipes.get(&id) {
        Some(p) => (
            !p.data.is_empty() || p.writers == 0,
            p.readers > 0 && CAPACITY - p.data.len() >= PIPE_BUF,
            p.writers == 0,
            p.readers == 0,
        ),
        None => (true, true, true, true),
    }
}

/// Bytes waiting in the pipe (FIONREAD).
pub fn available(id: u32) -> usize {
    PIPES.lock().pipes.get(&id).map_or(0, |p| p.data.len())
}
