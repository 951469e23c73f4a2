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
