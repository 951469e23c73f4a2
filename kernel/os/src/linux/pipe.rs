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
//!
//! The bytes sit in a ring that grows up to [`CAPACITY`] as needed; read
//! and write copy between it and user memory directly (one copy each way,
//! as Linux's pipe pages do), at most [`STEP`] bytes per hold of the lock.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use embox_abi::Errno;

use super::memory::ProcessMemory;
use crate::hal::sync::IrqMutex;
use crate::sync::WaitQueue;

/// Bytes a pipe holds (Linux's default pipe size).
pub const CAPACITY: usize = 64 * 1024;
/// Writes up to this size are atomic.
pub const PIPE_BUF: usize = 4096;
/// Most pipes at once (each may hold 64 KiB of kernel heap).
const MAX_PIPES: usize = 64;
/// Most bytes copied per hold of the pipes' lock (interrupts are masked
/// meanwhile).
const STEP: usize = 16 * 1024;
/// The ring's first size.
const FIRST_RING: usize = 4096;

struct Pipe {
    /// The ring: `len` bytes from `head`, wrapping at `ring.len()`.
    ring: Vec<u8>,
    head: usize,
    len: usize,
    readers: u32,
    writers: u32,
}

impl Pipe {
    fn room(&self) -> usize {
        CAPACITY - self.len
    }

    /// Makes the ring hold at least `want` bytes (at most CAPACITY),
    /// keeping its contents; ENOMEM when the heap has no room.
    fn grow_to(&mut self, want: usize) -> Result<(), Errno> {
        if want <= self.ring.len() {
            return Ok(());
        }
        let size = want.next_power_of_two().clamp(FIRST_RING, CAPACITY);
        let mut ring = Vec::new();
        ring.try_reserve_exact(size).map_err(|_| Errno::ENOMEM)?;
        ring.resize(size, 0);
        let (a, b) = self.slices(self.head, self.len);
        ring[..a.len()].copy_from_slice(a);
        ring[a.len()..a.len() + b.len()].copy_from_slice(b);
        self.ring = ring;
        self.head = 0;
        Ok(())
    }

    /// The ring's `len` bytes from `start` as at most two slices.
    fn slices(&self, start: usize, len: usize) -> (&[u8], &[u8]) {
        if len == 0 {
            return (&[], &[]);
        }
        let first = len.min(self.ring.len() - start);
        (&self.ring[start..start + first], &self.ring[..len - first])
    }
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
    pipes.pipes.insert(id, Pipe { ring: Vec::new(), head: 0, len: 0, readers: 1, writers: 1 });
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
    crate::wait::changed(&EVENTS);
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

/// Reads up to `len` bytes into user memory at `addr`: what is there,
/// blocking while the pipe is empty and has writers; 0 at end of file.
/// EFAULT (nothing taken) when the buffer cannot be written.
pub fn read_user(id: u32, memory: &mut ProcessMemory, addr: u32, len: usize, nonblock: bool) -> Result<usize, Errno> {
    if len == 0 {
        return Ok(0);
    }
    wait_for(id, nonblock, |p| p.len != 0 || p.writers == 0)?;
    let mut done = 0;
    loop {
        let step = {
            let mut pipes = PIPES.lock();
            let pipe = pipes.pipes.get_mut(&id).ok_or(Errno::EBADF)?;
            let n = (len - done).min(pipe.len).min(STEP);
            let (a, b) = pipe.slices(pipe.head, n);
            let copied = memory.write(addr + done as u32, a).and_then(|()| memory.write(addr + (done + a.len()) as u32, b));
            if let Err(e) = copied {
                drop(pipes);
                return if done > 0 { Ok(done) } else { Err(e) };
            }
            pipe.head = (pipe.head + n) % pipe.ring.len().max(1);
            pipe.len -= n;
            n
        };
        done += step;
        if step < STEP || done == len {
            break;
        }
    }
    crate::wait::changed(&EVENTS);
    Ok(done)
}

/// Writes `len` bytes from user memory at `addr`, blocking for room;
/// returns the bytes written (see [`write_with`]).
pub fn write_user(id: u32, memory: &mut ProcessMemory, addr: u32, len: usize, nonblock: bool) -> Result<usize, Errno> {
    write_with(id, len, nonblock, |at, out| memory.read(addr + at as u32, out))
}

/// Writes kernel bytes `data` (see [`write_with`]).
pub fn write(id: u32, data: &[u8], nonblock: bool) -> Result<usize, Errno> {
    write_with(id, data.len(), nonblock, |at, out| {
        out.copy_from_slice(&data[at..at + out.len()]);
        Ok(())
    })
}

/// Writes `len` bytes, `fill(at, out)` copying bytes `at..at + out.len()`
/// into the ring, blocking for room; returns the bytes written (fewer than
/// asked only when a signal or O_NONBLOCK stopped a large write after some
/// went in, or the source faulted after some). EPIPE when no reader is left.
fn write_with(id: u32, len: usize, nonblock: bool, mut fill: impl FnMut(usize, &mut [u8]) -> Result<(), Errno>) -> Result<usize, Errno> {
    let mut done = 0;
    while done < len {
        let left = len - done;
        // Atomic writes wait for room for all of them; others for any room.
        let need = if len <= PIPE_BUF { left } else { 1 };
        let waited = wait_for(id, nonblock, |p| p.readers == 0 || p.room() >= need);
        if let Err(e) = waited {
            return if done > 0 { Ok(done) } else { Err(e) };
        }
        let copied = {
            let mut pipes = PIPES.lock();
            let pipe = pipes.pipes.get_mut(&id).ok_or(Errno::EBADF)?;
            if pipe.readers == 0 {
                return Err(Errno::EPIPE);
            }
            let n = left.min(pipe.room()).min(STEP.max(need));
            pipe.grow_to(pipe.len + n)?;
            let size = pipe.ring.len();
            let tail = (pipe.head + pipe.len) % size;
            let first = n.min(size - tail);
            let filled = fill(done, &mut pipe.ring[tail..tail + first]).and_then(|()| fill(done + first, &mut pipe.ring[..n - first]));
            if filled.is_ok() {
                pipe.len += n;
            }
            filled.map(|()| n)
        };
        match copied {
            Ok(n) => done += n,
            Err(_) if done > 0 => {
                crate::wait::changed(&EVENTS);
                return Ok(done);
            }
            Err(e) => return Err(e),
        }
        crate::wait::changed(&EVENTS);
    }
    Ok(done)
}

/// For poll/select: (readable: data or no writer, writable: room and a
/// reader, hung up: no writer left, error: no reader left).
pub fn state(id: u32) -> (bool, bool, bool, bool) {
    match PIPES.lock().pipes.get(&id) {
        Some(p) => (
            p.len != 0 || p.writers == 0,
            p.readers > 0 && p.room() >= PIPE_BUF,
            p.writers == 0,
            p.readers == 0,
        ),
        None => (true, true, true, true),
    }
}

/// Bytes waiting in the pipe (FIONREAD).
pub fn available(id: u32) -> usize {
    PIPES.lock().pipes.get(&id).map_or(0, |p| p.len)
}
