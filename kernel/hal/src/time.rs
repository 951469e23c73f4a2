//! The PIT (8254) timer: periodic IRQ 0 at the template's rate (the
//! scheduler's tick), and timestamps since boot from the TSC, calibrated
//! against PIT channel 2 at start-up.
//!
//! Why not the PIT counter between ticks: under TCG the counter follows
//! the host clock while QEMU raises IRQ 0 late, so a read just after a
//! wrap saw neither the wrap nor the interrupt and went back a tick; held
//! monotonic, the clock then stood still for up to a millisecond, and short
//! intervals read as 0 (`load_app to first instruction: 0 us`). The TSC
//! needs no interrupt and resolves nanoseconds.

use crate::port::Port;
use crate::sync::IrqMutex;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use core::time::Duration;

const PIT_HZ: u64 = 1_193_182;
// SAFETY: the 8254 PIT's channel 0 and command ports on the PC; only this module drives the PIT.
const CH0: Port<u8> = unsafe { Port::new(0x40) };
// SAFETY: as above.
const CMD: Port<u8> = unsafe { Port::new(0x43) };
pub const IRQ: u8 = 0;

static TICKS: AtomicU64 = AtomicU64::new(0);
static DIVISOR: AtomicU32 = AtomicU32::new(0);
static LAST_NS: AtomicU64 = AtomicU64::new(0);
/// TSC at the start of the clock, and nanoseconds per TSC count as a
/// 32.32 fixed-point factor (0: no TSC rate, use the tick count).
static TSC_START: AtomicU64 = AtomicU64::new(0);
static NS_PER_TSC_32: AtomicU64 = AtomicU64::new(0);
/// PIT channel 2 (its gate and output are bits 0 and 5 of port 0x61).
// SAFETY: as above (channel 2).
const CH2: Port<u8> = unsafe { Port::new(0x42) };
// SAFETY: port B of the PC's system control (channel 2's gate, the speaker); only the calibration uses it.
const PORT_B: Port<u8> = unsafe { Port::new(0x61) };
/// Calibration window: 2 ms of PIT counts (long enough for 0.1% at any
/// TSC rate, short enough not to show in the boot time).
const CALIBRATION_COUNTS: u64 = PIT_HZ * 2 / 1000;
static TICK_HOOK: IrqMutex<Option<fn()>> = IrqMutex::new(None);

/// Starts channel 0 as a rate generator at `hz` (clamped to 19..=100000).
/// Timestamps count from here, the first thing boot does.
pub fn init(hz: u32) {
    let divisor = (PIT_HZ / hz.clamp(19, 100_000) as u64) as u32;
    DIVISOR.store(divisor, Ordering::Relaxed);
    CMD.write(0x34); // channel 0, lobyte/hibyte, mode 2
    CH0.write(divisor as u8);
    CH0.write((divisor >> 8) as u8);
    calibrate_tsc();
}

/// Counts TSC cycles over [`CALIBRATION_COUNTS`] of PIT channel 2 (polled:
/// no interrupt is needed this early). Both ends are counter reads, each
/// bracketed by two TSC reads: a vCPU preempted by the host while polling
/// (common under TCG on a loaded machine) only lengthens the window, it
/// does not skew the rate. Up to three tries (one when its reads were
/// quick), the tightest kept.
fn calibrate_tsc() {
    let port_b = PORT_B.read();
    PORT_B.write((port_b & !0x02) | 0x01); // gate on, speaker off
    let mut best: Option<(u64, u64, u64)> = None; // (bracket width, cycles, counts)
    for _ in 0..3 {
        CMD.write(0xb0); // channel 2, lobyte/hibyte, mode 0: counts down from 0xffff
        CH2.write(0xff);
        CH2.write(0xff);
        let (t0, c0, w0) = read_channel2();
        let mut end = None;
        for _ in 0..10_000_000u32 {
            let (t1, c1, w1) = read_channel2();
            if c0.saturating_sub(c1) >= CALIBRATION_COUNTS {
                end = Some((t1, c1, w1));
                break;
            }
        }
        let Some((t1, c1, w1)) = end else { break };
        let sample = (w0 + w1, t1.wrapping_sub(t0), c0 - c1);
        if best.is_none_or(|b| sample.0 < b.0) {
            best = Some(sample);
        }
        if sample.0 < sample.1 / 1000 {
            break; // both reads took under 0.1% of the window: good enough
        }
    }
    PORT_B.write(port_b);
    let Some((_, cycles, counts)) = best else { return }; // no channel 2: the tick clock stays
    if cycles < 1000 {
        return; // no usable TSC
    }
    let window_ns = counts * 1_000_000_000 / PIT_HZ;
    NS_PER_TSC_32.store((((window_ns as u128) << 32) / cycles as u128) as u64, Ordering::Relaxed);
    TSC_START.store(rdtsc(), Ordering::Relaxed);
}

/// Channel 2's count, with the TSC halfway through reading it and the
/// cycles the read took.
fn read_channel2() -> (u64, u64, u64) {
    let before = rdtsc();
    CMD.write(0x80); // latch channel 2
    let lo = CH2.read() as u64;
    let hi = CH2.read() as u64;
    let after = rdtsc();
    let width = after.wrapping_sub(before);
    (before.wrapping_add(width / 2), hi << 8 | lo, width)
}

fn rdtsc() -> u64 {
    crate::cpu::rdtsc()
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

/// Time since the timer started, monotonic, in nanoseconds from the TSC
/// (tick resolution if no TSC rate could be measured).
pub fn since_boot() -> Duration {
    let factor = NS_PER_TSC_32.load(Ordering::Relaxed);
    let ns = if factor == 0 {
        let divisor = DIVISOR.load(Ordering::Relaxed).max(1) as u64;
        ticks() * divisor * 1_000_000_000 / PIT_HZ
    } else {
        let cycles = rdtsc().wrapping_sub(TSC_START.load(Ordering::Relaxed));
        ((cycles as u128 * factor as u128) >> 32) as u64
    };
    // Monotonic even if the TSC were to step back (it does not under QEMU).
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
