//! The PIT (8254) timer: periodic IRQ 0 at the template's rate, and
//! timestamps since boot with sub-tick resolution read from the PIT counter.

use crate::cpu::{inb, outb};
use crate::{pic, sync::IrqMutex};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use core::time::Duration;

const PIT_HZ: u64 = 1_193_182;
const CH0: u16 = 0x40;
const CMD: u16 = 0x43;
pub const IRQ: u8 = 0;

static TICKS: AtomicU64 = AtomicU64::new(0);
static DIVISOR: AtomicU32 = AtomicU32::new(0);
static LAST_NS: AtomicU64 = AtomicU64::new(0);
static TICK_HOOK: IrqMutex<Option<fn()>> = IrqMutex::new(None);

/// Starts channel 0 as a rate generator at `hz` (clamped to 19..=100000).
/// Timestamps count from here, the first thing boot does.
pub fn init(hz: u32) {
    let divisor = (PIT_HZ / hz.clamp(19, 100_000) as u64) as u32;
    DIVISOR.store(divisor, Ordering::Relaxed);
    outb(CMD, 0x34); // channel 0, lobyte/hibyte, mode 2
    outb(CH0, divisor as u8);
    outb(CH0, (divisor >> 8) as u8);
}

/// Timer interrupt rate actually programmed.
pub fn timer_hz() -> u32 {
    (PIT_HZ / DIVISOR.load(Ordering::Relaxed).max(1) as u64) as u32
}

/// Sets the function called (in interrupt context, after end-of-interrupt)
/// on every tick: the scheduler's preemption point.
pub fn set_tick_hook(hook: fn()) {
    *TICK_HOOK.lock() = Some(hook);
}

/// Number of timer interrupts since boot.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// Time since the timer started, monotonic, with PIT-counter resolution (~1 µs).
pub fn since_boot() -> Duration {
    crate::cpu::without_interrupts(read_clock)
}

fn read_clock() -> Duration {
    let divisor = DIVISOR.load(Ordering::Relaxed) as u64;
    if divisor == 0 {
        return Duration::ZERO;
    }
    outb(CMD, 0x00); // latch channel 0
    let lo = inb(CH0) as u64;
    let hi = inb(CH0) as u64;
    let count = (hi << 8 | lo).min(divisor);
    let mut ticks = TICKS.load(Ordering::Relaxed);
    let elapsed_counts = divisor - count;
    // The counter wrapped but IRQ 0 is not serviced yet: count that tick.
    if pic::is_pending(IRQ) && elapsed_counts < divisor / 2 {
        ticks += 1;
    }
    let counts = ticks * divisor + elapsed_counts;
    let ns = counts * 1_000_000_000 / PIT_HZ;
    let last = LAST_NS.fetch_max(ns, Ordering::Relaxed);
    Duration::from_nanos(ns.max(last))
}

pub(crate) fn handle_irq() {
    TICKS.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn run_tick_hook() {
    let hook = *TICK_HOOK.lock();
    if let Some(hook) = hook {
        hook();
    }
}
