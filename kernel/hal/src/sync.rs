//! The kernel's one lock: a mutex that masks interrupts while held.
//!
//! There is one CPU, so masking interrupts is all the exclusion needed; it
//! also makes the lock usable from interrupt handlers without deadlock.
//! Locking a mutex that is already held (recursion from the same path, or a
//! fault handler touching state the faulting code held) panics with a clear
//! message instead of aliasing.

use crate::cpu;
use core::cell::{Cell, UnsafeCell};
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicU32, Ordering};

pub struct IrqMutex<T> {
    locked: Cell<bool>,
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` is serialised: one CPU, interrupts masked while a
// guard exists, and `locked` refuses a second guard.
unsafe impl<T: Send> Sync for IrqMutex<T> {}
// SAFETY: moving the mutex moves the value; `T: Send` makes that fine.
unsafe impl<T: Send> Send for IrqMutex<T> {}

impl<T> IrqMutex<T> {
    pub const fn new(value: T) -> Self {
        Self { locked: Cell::new(false), value: UnsafeCell::new(value) }
    }

    /// Locks, masking interrupts until the guard is dropped.
    ///
    /// Panics if the mutex is already held.
    #[track_caller]
    #[inline]
    pub fn lock(&self) -> IrqGuard<'_, T> {
        self.try_lock().expect("IrqMutex locked twice (recursive lock)")
    }

    /// Locks for code that runs with interrupts masked and keeps them so (a
    /// trap handler entered through an interrupt gate): the interrupt flag
    /// is neither saved nor restored, and stays clear after the guard goes.
    /// The syscall quick path saves the instructions.
    ///
    /// Panics if the mutex is already held.
    #[track_caller]
    #[inline]
    pub fn lock_masked(&self) -> IrqGuard<'_, T> {
        cpu::disable_interrupts();
        assert!(!self.locked.get(), "IrqMutex locked twice (recursive lock)");
        self.locked.set(true);
        IrqGuard { mutex: self, were_enabled: false }
    }

    /// Locks unless the mutex is already held (used by fault reporting,
    /// which must not panic inside a panic).
    #[inline]
    pub fn try_lock(&self) -> Option<IrqGuard<'_, T>> {
        let were_enabled = cpu::interrupts_enabled();
        cpu::disable_interrupts();
        if self.locked.get() {
            if were_enabled {
                cpu::enable_interrupts();
            }
            return None;
        }
        self.locked.set(true);
        Some(IrqGuard { mutex: self, were_enabled })
    }
}

pub struct IrqGuard<'a, T> {
    mutex: &'a IrqMutex<T>,
    were_enabled: bool,
}

impl<T> Deref for IrqGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard is the only one (see `try_lock`).
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T> DerefMut for IrqGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: this guard is the only one (see `try_lock`).
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T> Drop for IrqGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.mutex.locked.set(false);
        if self.were_enabled {
            cpu::enable_interrupts();
        }
    }
}

/// A 64-bit value shared without a lock (with interrupt handlers too), as
/// two 32-bit words: the kernel's `AtomicU64`. The kernel is compiled
/// without SSE (kernel/.cargo/config.toml), and there LLVM moves an i686
/// `AtomicU64` with the x87 `fild`/`fistp`: under lazy FPU switching
/// (`crate::fpu`) the first FPU instruction in a trap costs a #NM trap and
/// an fxsave of the program's state, and the way out an fxrstor. One CPU:
/// writers mask interrupts, so only a reader that an interrupt's write
/// splits can see a torn pair; it sees the high word move and reads again
/// (the low word is written first).
pub struct SplitU64 {
    low: AtomicU32,
    high: AtomicU32,
}

impl SplitU64 {
    pub const fn new(value: u64) -> Self {
        Self { low: AtomicU32::new(value as u32), high: AtomicU32::new((value >> 32) as u32) }
    }

    #[inline]
    pub fn load(&self) -> u64 {
        loop {
            let high = self.high.load(Ordering::Acquire);
            let low = self.low.load(Ordering::Acquire);
            if self.high.load(Ordering::Acquire) == high {
                return u64::from(high) << 32 | u64::from(low);
            }
        }
    }

    /// Writes with interrupts masked.
    #[inline]
    pub fn store(&self, value: u64) {
        cpu::without_interrupts(|| self.store_masked(value))
    }

    /// Adds `delta` (wrapping) and returns the value before.
    #[inline]
    pub fn fetch_add(&self, delta: u64) -> u64 {
        cpu::without_interrupts(|| {
            let old = self.load();
            self.store_masked(old.wrapping_add(delta));
            old
        })
    }

    /// Keeps the larger of the value and `value`; returns the value before.
    #[inline]
    pub fn fetch_max(&self, value: u64) -> u64 {
        cpu::without_interrupts(|| {
            let old = self.load();
            if value > old {
                self.store_masked(value);
            }
            old
        })
    }

    fn store_masked(&self, value: u64) {
        self.low.store(value as u32, Ordering::Release);
        self.high.store((value >> 32) as u32, Ordering::Release);
    }
}
