//! `lklhosttest`: drives the host operations through their C entry points
//! the way LKL uses them (`hal::lkl::client`), in every build. Prints one
//! line per area and exits 0 only if every check passed.

use crate::hal::lkl::client::{self, Block, Mutex, Sem, TlsKey, Timer};
use crate::hal::{memory, paging, time};
use crate::sched;
use crate::shell::{Command, Shell};
use crate::println;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering::SeqCst};
use core::time::Duration;

pub(super) fn register() {
    crate::shell::register(Command {
        name: "lklhosttest",
        usage: "lklhosttest",
        summary: "self-test of LKL's host operations (threads, semaphores, mutexes, TLS, timers, memory, jmp_buf)",
        redirects: false,
        run,
    });
}

pub(super) type Check = Result<(), String>;

pub(super) fn ensure(ok: bool, what: impl FnOnce() -> String) -> Check {
    if ok {
        Ok(())
    } else {
        Err(what())
    }
}

fn spawn(body: impl FnOnce() + Send + 'static) -> Result<usize, String> {
    client::thread_create(Box::new(body)).ok_or_else(|| String::from("thread_create returned 0"))
}

fn run(_: &mut Shell, _: &[String]) -> i32 {
    run_areas(
        "lklhosttest",
        &[
            ("threads", &threads),
            ("semaphores", &semaphores),
            ("mutexes", &mutexes),
            ("tls", &tls),
            ("timers", &timers),
            ("timer lateness", &timer_lateness),
            ("memory", &memory_ops),
            ("jmp_buf", &jmp_buf),
            ("time", &clock),
        ],
    )
}

/// Runs a self-test's areas in order and prints `NAME: AREA: ok` or
/// `NAME: AREA: FAILED: why` for each, then a summary; the shell status is
/// 0 when every area passed (shared by `lklhosttest` and `virtiommiotest`).
pub(super) fn run_areas(test: &str, areas: &[(&str, &dyn Fn() -> Check)]) -> i32 {
    let mut failed = 0;
    for (name, area) in areas {
        match area() {
            Ok(()) => println!("{test}: {name}: ok"),
            Err(e) => {
                failed += 1;
                println!("{test}: {name}: FAILED: {e}");
            }
        }
    }
    if failed == 0 {
        println!("{test}: all {} areas passed", areas.len());
        0
    } else {
        println!("{test}: {failed} of {} areas failed", areas.len());
        1
    }
}

/// create/join/self/equal/gettid, exit from deep inside a thread, detach.
fn threads() -> Check {
    let me = client::thread_self();
    ensure(me != 0 && client::thread_equal(me, me), || String::from("thread_self is 0 or not equal to itself"))?;
    ensure(client::gettid() == me as i64, || String::from("gettid differs from thread_self"))?;
    let seen = Arc::new(AtomicUsize::new(0));
    let mut ids = Vec::new();
    for i in 0..4 {
        let seen = seen.clone();
        ids.push(spawn(move || {
            seen.fetch_add(1 << (8 * i), SeqCst);
            // LKL's threads end through thread_exit, often deep in a call chain.
            fn deep(n: u32) {
                if n == 0 {
                    client::thread_exit();
                }
                deep(n - 1)
            }
            deep(5);
        })?);
    }
    for (i, id) in ids.iter().enumerate() {
        ensure(*id != me && !client::thread_equal(*id, me), || alloc::format!("thread {i} has the creator's id"))?;
        ensure(client::thread_join(*id), || alloc::format!("thread_join of thread {i} failed"))?;
    }
    ensure(seen.load(SeqCst) == 0x0101_0101, || alloc::format!("threads ran {:#x}, expected 0x01010101", seen.load(SeqCst)))?;
    ensure(!client::thread_join(ids[0]), || String::from("a second join of the same thread succeeded"))?;
    // A detached thread is reaped at exit: no zombie is left behind.
    let done = Arc::new(Sem::new(0).ok_or("sem_alloc failed")?);
    let d = done.clone();
    let detached = spawn(move || {
        client::thread_detach();
        d.up();
    })?;
    done.down();
    for _ in 0..100 {
        if sched::with_task(detached as u32, |_| ()).is_none() {
            return Ok(());
        }
        sched::yield_now();
    }
    Err(String::from("a detached thread stayed in the task table after it ended"))
}

/// LKL's context switch: two threads hand one "CPU" back and forth with a
/// semaphore each (sem_up the other's, sem_down your own).
fn semaphores() -> Check {
    const ROUNDS: u32 = 200;
    let a = Arc::new(Sem::new(0).ok_or("sem_alloc failed")?);
    let b = Arc::new(Sem::new(0).ok_or("sem_alloc failed")?);
    let trace = Arc::new(crate::hal::sync::IrqMutex::new(Vec::new()));
    let (a2, b2, t2) = (a.clone(), b.clone(), trace.clone());
    let other = spawn(move || {
        for i in 0..ROUNDS {
            b2.down();
            t2.lock().push(2 * i + 1);
            a2.up();
        }
    })?;
    for i in 0..ROUNDS {
        trace.lock().push(2 * i);
        b.up();
        a.down();
    }
    ensure(client::thread_join(other), || String::from("join failed"))?;
    let trace = trace.lock();
    ensure(trace.iter().copied().eq(0..2 * ROUNDS), || String::from("the two threads did not strictly alternate"))?;
    // A count > 0 lets that many downs through without blocking.
    let s = Sem::new(3).ok_or("sem_alloc failed")?;
    s.down();
    s.down();
    s.down();
    Ok(())
}

/// A recursive mutex taken twice by its owner; another thread gets it only
/// after the last unlock. A plain mutex keeps a read-modify-write atomic
/// across yields.
fn mutexes() -> Check {
    let m = Arc::new(Mutex::new(true).ok_or("mutex_alloc failed")?);
    let got = Arc::new(AtomicU32::new(0));
    m.lock();
    m.lock();
    let (m2, g2) = (m.clone(), got.clone());
    let waiter = spawn(move || {
        m2.lock();
        g2.store(1, SeqCst);
        m2.unlock();
    })?;
    for _ in 0..5 {
        sched::yield_now();
    }
    ensure(got.load(SeqCst) == 0, || String::from("another thread took a recursive mutex held twice"))?;
    m.unlock();
    for _ in 0..5 {
        sched::yield_now();
    }
    ensure(got.load(SeqCst) == 0, || String::from("another thread took a recursive mutex after one of two unlocks"))?;
    m.unlock();
    ensure(client::thread_join(waiter), || String::from("join failed"))?;
    ensure(got.load(SeqCst) == 1, || String::from("the waiter never got the mutex"))?;

    let plain = Arc::new(Mutex::new(false).ok_or("mutex_alloc failed")?);
    let counter = Arc::new(AtomicU32::new(0));
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (p, c) = (plain.clone(), counter.clone());
        ids.push(spawn(move || {
            for _ in 0..50 {
                p.lock();
                let v = c.load(SeqCst);
                sched::yield_now();
                c.store(v + 1, SeqCst);
                p.unlock();
            }
        })?);
    }
    for id in ids {
        ensure(client::thread_join(id), || String::from("join failed"))?;
    }
    ensure(counter.load(SeqCst) == 150, || alloc::format!("lost updates under the mutex: {} of 150", counter.load(SeqCst)))
}

static DESTROYED: AtomicUsize = AtomicUsize::new(0);

/// Per-thread values, and the destructor LKL relies on to tear down a
/// thread's host task when the thread ends.
fn tls() -> Check {
    DESTROYED.store(0, SeqCst);
    let key = Arc::new(TlsKey::new(Some(|v| {
        DESTROYED.fetch_add(v, SeqCst);
    }))
    .ok_or("tls_alloc failed")?);
    ensure(key.get() == 0, || String::from("a fresh key has a value"))?;
    ensure(key.set(7) && key.get() == 7, || String::from("tls_set/tls_get on the caller"))?;
    let bad = Arc::new(AtomicU32::new(0));
    let mut ids = Vec::new();
    for i in 1..=3usize {
        let (k, b) = (key.clone(), bad.clone());
        ids.push(spawn(move || {
            if k.get() != 0 {
                b.fetch_add(1, SeqCst);
            }
            k.set(i * 100);
            sched::yield_now();
            if k.get() != i * 100 {
                b.fetch_add(1, SeqCst);
            }
        })?);
    }
    for id in ids {
        ensure(client::thread_join(id), || String::from("join failed"))?;
    }
    ensure(bad.load(SeqCst) == 0, || String::from("a thread saw another thread's value"))?;
    ensure(DESTROYED.load(SeqCst) == 600, || alloc::format!("destructors got {} (expected 100+200+300)", DESTROYED.load(SeqCst)))?;
    ensure(key.get() == 7, || String::from("the caller's value changed"))?;
    key.set(0);
    Ok(())
}

/// One-shot timers: fire once after the delay, re-arming replaces, freeing
/// disarms, and a callback re-arms its own timer (LKL's clockevent does).
fn timers() -> Check {
    let fired = Arc::new(AtomicU32::new(0));
    let sem = Arc::new(Sem::new(0).ok_or("sem_alloc failed")?);
    let (f, s) = (fired.clone(), sem.clone());
    let timer = Timer::new(Box::new(move || {
        f.fetch_add(1, SeqCst);
        s.up();
    }))
    .ok_or("timer_alloc failed")?;
    let start = time::since_boot();
    timer.set_oneshot(20_000_000);
    sem.down();
    let waited = time::since_boot() - start;
    ensure(waited >= Duration::from_millis(20), || alloc::format!("fired after {waited:?}, before its 20 ms"))?;
    ensure(waited < Duration::from_millis(500), || alloc::format!("fired only after {waited:?} (20 ms asked)"))?;
    // Re-arm twice: only the last one fires.
    timer.set_oneshot(50_000_000);
    timer.set_oneshot(5_000_000);
    sem.down();
    sched::sleep(Duration::from_millis(80));
    ensure(fired.load(SeqCst) == 2, || alloc::format!("{} fires after a re-arm (expected 2)", fired.load(SeqCst)))?;
    // Freed before it is due: never fires.
    timer.set_oneshot(10_000_000);
    drop(timer);
    sched::sleep(Duration::from_millis(30));
    ensure(fired.load(SeqCst) == 2, || String::from("a freed timer fired"))?;

    // A chain: each callback re-arms its own timer (as LKL's timer
    // interrupt programs the next event), five times.
    struct Chain {
        timer: crate::hal::sync::IrqMutex<Option<Timer>>,
        left: AtomicU32,
        done: Sem,
    }
    let chain = Arc::new(Chain { timer: crate::hal::sync::IrqMutex::new(None), left: AtomicU32::new(5), done: Sem::new(0).ok_or("sem_alloc failed")? });
    let c = chain.clone();
    let t = Timer::new(Box::new(move || {
        if c.left.fetch_sub(1, SeqCst) > 1 {
            if let Some(t) = c.timer.lock().as_ref() {
                t.set_oneshot(2_000_000);
            }
        } else {
            c.done.up();
        }
    }))
    .ok_or("timer_alloc failed")?;
    t.set_oneshot(2_000_000);
    *chain.timer.lock() = Some(t);
    chain.done.down();
    let t = chain.timer.lock().take();
    drop(t);
    ensure(chain.left.load(SeqCst) == 0, || String::from("the re-arming chain stopped early"))
}

/// How late a short one-shot fires (LKL's 1 ms sleeps and its next timer
/// event ride on it): a figure, printed, not a pass/fail bound, since the
/// machine's load moves it; never early is checked.
fn timer_lateness() -> Check {
    const ASKED: Duration = Duration::from_millis(1);
    const ROUNDS: u32 = 20;
    let sem = Arc::new(Sem::new(0).ok_or("sem_alloc failed")?);
    let s = sem.clone();
    let timer = Timer::new(Box::new(move || s.up())).ok_or("timer_alloc failed")?;
    let (mut total, mut max) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..ROUNDS {
        let start = time::since_boot();
        timer.set_oneshot(ASKED.as_nanos() as u64);
        sem.down();
        let waited = time::since_boot() - start;
        ensure(waited >= ASKED, || alloc::format!("a 1 ms one-shot fired after {waited:?}, early"))?;
        total += waited - ASKED;
        max = max.max(waited - ASKED);
    }
    println!(
        "lklhosttest: timer lateness: a 1 ms one-shot fired {} us late on average, {} us at most ({ROUNDS} rounds, tick {} Hz)",
        (total / ROUNDS).as_micros(),
        max.as_micros(),
        time::timer_hz()
    );
    Ok(())
}

/// mem_alloc (heap) and page_alloc (contiguous frames: LKL's memory).
fn memory_ops() -> Check {
    let mut blocks = Vec::new();
    for (i, size) in [1usize, 100, 4096, 70_000].into_iter().enumerate() {
        let mut b = Block::mem(size).ok_or_else(|| alloc::format!("mem_alloc({size}) failed"))?;
        ensure(b.addr() % 16 == 0, || String::from("mem_alloc block not 16-byte aligned"))?;
        b.as_mut_slice().fill(i as u8);
        blocks.push(b);
    }
    for (i, b) in blocks.iter_mut().enumerate() {
        ensure(b.as_mut_slice().iter().all(|&x| x == i as u8), || String::from("mem_alloc blocks overlap"))?;
    }
    drop(blocks);
    let free_before = memory::frame_stats().free;
    let size = 2 << 20;
    let mut pages = Block::pages(size).ok_or("page_alloc(2 MiB) failed")?;
    ensure(pages.addr() % paging::PAGE_SIZE == 0, || String::from("page_alloc not page-aligned"))?;
    ensure(memory::frame_stats().free == free_before - (size / paging::PAGE_SIZE) as u64, || String::from("page_alloc took the wrong number of frames"))?;
    ensure(pages.is_physically_contiguous(), || String::from("page_alloc memory not in the physical map"))?;
    let slice = pages.as_mut_slice();
    for (i, chunk) in slice.chunks_mut(4096).enumerate() {
        chunk.fill(i as u8);
    }
    ensure(slice.chunks(4096).enumerate().all(|(i, c)| c.iter().all(|&x| x == i as u8)), || String::from("page_alloc memory does not hold data"))?;
    drop(pages);
    ensure(memory::frame_stats().free == free_before, || String::from("page_free did not give the frames back"))
}

fn jmp_buf() -> Check {
    for depth in [0, 1, 10, 100] {
        ensure(client::jump_back(depth), || alloc::format!("jmp_buf_longjmp from {depth} calls deep lost the caller's frame"))?;
    }
    Ok(())
}

/// LKL's time() and the monotonic clock read at (nearly) one instant: the
/// two reads are one after the other, and a tick or another task (LKL's own
/// threads are busy after boot) may run in between; a pair whose monotonic
/// window is wider than 100 µs is read again (a few times at most).
fn clocks_together() -> (u64, Duration) {
    let mut pair = (0, Duration::ZERO);
    for _ in 0..20 {
        let before = time::since_boot();
        let wall = client::time_ns();
        let after = time::since_boot();
        pair = (wall, before);
        if after - before <= Duration::from_micros(100) {
            break;
        }
    }
    pair
}

fn clock() -> Check {
    let (a, t0) = clocks_together();
    sched::sleep(Duration::from_millis(5));
    let (b, t1) = clocks_together();
    ensure(a > 1_600_000_000 * 1_000_000_000, || alloc::format!("time() = {a} ns is before 2020"))?;
    let (wall, mono) = (b - a, (t1 - t0).as_nanos() as u64);
    // Each pair is read within 100 µs of itself (when the retries got
    // one): allow 2 ms.
    ensure(wall + 2_000_000 >= mono && wall <= mono + 2_000_000, || {
        alloc::format!("time() advanced {wall} ns while the monotonic clock advanced {mono} ns")
    })
}
