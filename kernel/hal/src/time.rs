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
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crate::sync::SplitU64;
use core::time::Duration;

const PIT_HZ: u64 = 1_193_182;
// SAFETY: the 8254 PIT's channel 0 and command ports on the PC; only this module drives the PIT.
const CH0: Port<u8> = unsafe { Port::new(0x40) };
// SAFETY: as above.
const CMD: Port<u8> = unsafe { Port::new(0x43) };
pub const IRQ: u8 = 0;

static TICKS: SplitU64 = SplitU64::new(0);
static DIVISOR: AtomicU32 = AtomicU32::new(0);
static LAST_NS: SplitU64 = SplitU64::new(0);
/// TSC at the start of the clock, and nanoseconds per TSC count as a
/// 32.32 fixed-point factor (0: no TSC rate, use the tick count).
static TSC_START: SplitU64 = SplitU64::new(0);
static NS_PER_TSC_32: SplitU64 = SplitU64::new(0);
/// PIT channel 2 (its gate and output are bits 0 and 5 of port 0x61).
// SAFETY: as above (channel 2).
const CH2: Port<u8> = unsafe { Port::new(0x42) };
// SAFETY: port B of the PC's system control (channel 2's gate, the speaker); only the calibration uses it.
const PORT_B: Port<u8> = unsafe { Port::new(0x61) };
/// Shortest calibration window: 2 ms of PIT counts (long enough for 0.1%
/// at any TSC rate; boot work fills it, see [`init`]).
const CALIBRATION_COUNTS: u64 = PIT_HZ * 2 / 1000;
/// Shortest window for the provisional rate boot may start with
/// ([`finish_calibration`]): 0.2 ms, 238 counts (0.42% quantization).
const PROVISIONAL_COUNTS: u64 = PIT_HZ / 5000;
/// Whether a window is open: the timer tick then polls it ([`handle_irq`]).
static CALIBRATING: AtomicBool = AtomicBool::new(false);
static TICK_HOOK: IrqMutex<Option<fn()>> = IrqMutex::new(None);

/// Starts channel 0 as a rate generator at `hz` (clamped to 19..=100000),
/// and the TSC calibration window on channel 2, which the first boot mark
/// to find it long enough closes ([`poll_calibration`]), else
/// [`finish_calibration`] (the window overlaps boot work instead of being a
/// busy wait of its own). Timestamps count from the
/// kernel's first instruction.
pub fn init(hz: u32) {
    let divisor = (PIT_HZ / hz.clamp(19, 100_000) as u64) as u32;
    DIVISOR.store(divisor, Ordering::Relaxed);
    CMD.write(0x34); // channel 0, lobyte/hibyte, mode 2
    CH0.write(divisor as u8);
    CH0.write((divisor >> 8) as u8);
    *CALIBRATION.lock() = Some(start_window());
    CALIBRATING.store(true, Ordering::Relaxed);
}

/// The open calibration window: port B as boot found it, and channel 2's
/// first reading (see [`read_channel2`]).
static CALIBRATION: IrqMutex<Option<(u8, Window)>> = IrqMutex::new(None);

/// A window's first channel 2 reading (see [`read_channel2`]), and whether
/// channel 2's output bit works (low right after it was started).
type Window = ((u64, u64, u64), bool);

/// Gates channel 2 on (speaker off) and starts it counting down from 0xffff
/// (mode 0: its output, bit 5 of port B, goes high when it reaches 0, after
/// 55 ms); returns port B's old value and the window.
fn start_window() -> (u8, Window) {
    let port_b = PORT_B.read();
    PORT_B.write((port_b & !0x02) | 0x01); // gate on, speaker off
    CMD.write(0xb0); // channel 2, lobyte/hibyte, mode 0
    CH2.write(0xff);
    CH2.write(0xff);
    let first = read_channel2();
    (port_b, (first, PORT_B.read() & 0x20 == 0))
}

/// Called at the end of each boot phase ([`crate::boot::mark`]) and, after
/// boot, on every timer tick while a window is open: one channel 2
/// reading, which closes the window when it qualifies ([`precise`]), or
/// starts a new window when channel 2 ran out or nears its run-out (a boot
/// slower than 55 ms: TCG on a loaded host), so that [`finish_calibration`]
/// rarely has to wait.
pub(crate) fn poll_calibration() {
    let mut calibration = CALIBRATION.lock();
    let Some((port_b, start)) = *calibration else { return };
    match read_window(start) {
        Ok((sample, _)) if precise(sample) => {
            *calibration = None;
            CALIBRATING.store(false, Ordering::Relaxed);
            drop(calibration);
            PORT_B.write(port_b);
            set_rate(sample);
        }
        Ok((_, false)) => {}
        _ => *calibration = Some((port_b, start_window().1)),
    }
}

/// Makes sure the TSC has a rate before boot goes on (log timestamps,
/// timers): the window's own if a boot mark closed it or it qualifies now;
/// else a provisional rate from a window of at least [`PROVISIONAL_COUNTS`]
/// read within 0.5% (under 1% all told), while the window stays open and
/// the timer tick closes it later with the precise rate.
///
/// Why not wait for the precise window here: boot work before this point
/// is about 0.2 M instructions, so under `-icount` (1 ns per instruction)
/// the 2 ms window was 1.9 M instructions of busy waiting, 90% of the boot.
/// Under TCG boot marks usually close the window before this point.
/// If channel 2 ran out meanwhile, one window is measured by polling.
pub(crate) fn finish_calibration() {
    let mut calibration = CALIBRATION.lock();
    let Some((port_b, start)) = *calibration else { return };
    for _ in 0..10_000_000u32 {
        match read_window(start) {
            Ok((sample, _)) if precise(sample) => break,
            Ok((sample, _)) if roughly_precise(sample) => {
                drop(calibration);
                set_rate(sample);
                return;
            }
            Ok((_, false)) => {}
            // Channel 2 nears its run-out (or ran out): this window cannot
            // qualify any more (its first reading was slow: the host took
            // the vCPU away), so measure a fresh one below.
            Ok((_, true)) | Err(()) => break,
        }
    }
    *calibration = None;
    CALIBRATING.store(false, Ordering::Relaxed);
    drop(calibration);
    let sample = close_window(start).or_else(|| close_window(start_window().1));
    PORT_B.write(port_b);
    if let Some(sample) = sample {
        set_rate(sample);
    } // else no channel 2: the tick clock stays
}

/// A window's measure: its two readings' total width, TSC cycles, PIT counts.
type Sample = (u64, u64, u64);

fn set_rate((_, cycles, counts): Sample) {
    if cycles < 1000 {
        return; // no usable TSC
    }
    let window_ns = counts * 1_000_000_000 / PIT_HZ;
    NS_PER_TSC_32.store((((window_ns as u128) << 32) / cycles as u128) as u64);
    TSC_START.store(crate::boot::entry_tsc());
}

/// Channel 2's count below which a window is near its run-out (about
/// 3.4 ms before 0).
const RUN_OUT_MARGIN: u64 = 0x1000;

/// The window spans at least [`CALIBRATION_COUNTS`] and its two readings
/// took under 0.1% of it.
fn precise((width, cycles, counts): Sample) -> bool {
    counts >= CALIBRATION_COUNTS && width < cycles / 1000
}

/// Good enough to start with ([`finish_calibration`]): at least
/// [`PROVISIONAL_COUNTS`], readings within 0.5% of the window.
fn roughly_precise((width, cycles, counts): Sample) -> bool {
    counts >= PROVISIONAL_COUNTS && width < cycles / 200
}

/// One reading of the window from `start`: `Err` if channel 2 ran out (its
/// output went high, or the count is above the first reading: it wrapped;
/// the count no longer says how long); else the sample and whether channel
/// 2 nears its run-out.
fn read_window(((t0, c0, w0), out_works): Window) -> Result<(Sample, bool), ()> {
    let (t1, c1, w1) = read_channel2();
    if (out_works && PORT_B.read() & 0x20 != 0) || c1 > c0 {
        return Err(());
    }
    let counts = c0.saturating_sub(c1);
    Ok(((w0 + w1, t1.wrapping_sub(t0), counts), c1 < RUN_OUT_MARGIN))
}

/// Polls channel 2 until the window from `start` is [`precise`] and spans
/// at least [`CALIBRATION_COUNTS`].
///
/// Why the window grows instead of being measured again: under TCG a port
/// read costs microseconds of host time, so a 2 ms window rarely met the
/// 0.1% bound, and each retry was another 2 ms busy wait (up to three).
/// A longer window meets it, and boot work already filled most of it.
/// Near channel 2's run-out the best reading so far is taken; `None` if it
/// ran out before any reading, or never counted.
fn close_window(start: Window) -> Option<Sample> {
    let mut best: Option<Sample> = None;
    for _ in 0..10_000_000u32 {
        let Ok((sample, running_out)) = read_window(start) else { return best };
        if sample.2 >= CALIBRATION_COUNTS {
            if precise(sample) {
                return Some(sample);
            }
            // Lower width per cycle: the better reading.
            if best.is_none_or(|b| u128::from(sample.0) * u128::from(b.1) < u128::from(b.0) * u128::from(sample.1)) {
                best = Some(sample);
            }
        }
        if running_out {
            return best;
        }
    }
    best
}

/// A count of TSC cycles in nanoseconds; None without a calibrated TSC.
/// (The scheduler stamps each switch with a bare `cpu::rdtsc` and converts
/// only when a CPU-time clock is read: `since_boot_ns` at every switch
/// cost the thread switch ~150 more guest instructions.)
pub fn cycles_ns(cycles: u64) -> Option<u64> {
    let factor = NS_PER_TSC_32.load();
    (factor != 0).then(|| ((cycles as u128 * factor as u128) >> 32) as u64)
}

/// A TSC count as time (zero without a calibrated TSC).
pub(crate) fn tsc_duration(cycles: u64) -> Duration {
    Duration::from_nanos(((cycles as u128 * NS_PER_TSC_32.load() as u128) >> 32) as u64)
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
    TICKS.load()
}

/// Time since the timer started, monotonic, from the TSC (tick resolution
/// if no TSC rate could be measured).
pub fn since_boot() -> Duration {
    Duration::from_nanos(since_boot_ns())
}

/// [`since_boot`] in nanoseconds. Callers that compute in ns take this: a
/// `Duration` splits the count with a 64-bit division (`__udivdi3` on
/// i686) that `as_nanos` multiplies back.
pub fn since_boot_ns() -> u64 {
    let factor = NS_PER_TSC_32.load();
    let ns = if factor == 0 {
        let divisor = DIVISOR.load(Ordering::Relaxed).max(1) as u64;
        ticks() * divisor * 1_000_000_000 / PIT_HZ
    } else {
        let cycles = rdtsc().wrapping_sub(TSC_START.load());
        ((cycles as u128 * factor as u128) >> 32) as u64
    };
    // Monotonic even if the TSC were to step back (it does not under QEMU).
    let last = LAST_NS.fetch_max(ns);
    ns.max(last)
}

pub(crate) fn handle_irq() {
    TICKS.fetch_add(1);
    if CALIBRATING.load(Ordering::Relaxed) {
        poll_calibration();
    }
}

pub(crate) fn run_tick_hook() {
    let hook = *TICK_HOOK.lock();
    if let Some(hook) = hook {
        hook();
    }
}
