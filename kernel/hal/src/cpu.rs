//! Single instructions: interrupt flag, halt, control registers, TSC (port
//! I/O is in `port`).

use core::arch::asm;

/// True when maskable interrupts are enabled (EFLAGS.IF).
pub fn interrupts_enabled() -> bool {
    let flags: u32;
    // SAFETY: reads EFLAGS through the stack; no other effect.
    unsafe { asm!("pushfd", "pop {}", out(reg) flags, options(preserves_flags)) }
    flags & (1 << 9) != 0
}

pub fn enable_interrupts() {
    // SAFETY: the IDT and PIC are set up by `crate::init` before anyone can call this.
    // Not `nomem`: see `disable_interrupts`.
    unsafe { asm!("sti", options(nostack)) }
}

pub fn disable_interrupts() {
    // SAFETY: masking interrupts cannot break memory safety.
    // Not `nomem`: `cli`/`sti` must be compiler barriers. Interrupt handlers
    // change memory (the serial ring, the ready queue), so a value read before
    // `cli` is stale after it. With `nomem` the compiler kept such a value in
    // a register. The console reader then tested a stale "ring empty" under
    // masked interrupts and blocked with a byte waiting: 1 boot in ~20 lost
    // its input (regression test: kernel_boot.rs
    // `thousands_of_typed_commands_lose_no_input`).
    unsafe { asm!("cli", options(nostack)) }
}

/// Enables interrupts and waits for the next one, atomically (no wake-up is
/// lost between the two: `sti` takes effect after the following instruction).
pub fn wait_for_interrupt() {
    // SAFETY: as for `enable_interrupts`.
    unsafe { asm!("sti", "hlt", options(nostack)) }
}

/// Stops the CPU for good.
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: with interrupts off, `hlt` just stops the CPU.
        unsafe { asm!("cli", "hlt", options(nostack)) }
    }
}

/// The faulting linear address of the last page fault.
pub fn cr2() -> usize {
    let v: usize;
    // SAFETY: reading CR2 has no side effect.
    unsafe { asm!("mov {}, cr2", out(reg) v, options(nomem, nostack, preserves_flags)) }
    v
}

/// The physical address of the active page directory.
pub(crate) fn cr3() -> usize {
    let v: usize;
    // SAFETY: reading CR3 has no side effect.
    unsafe { asm!("mov {}, cr3", out(reg) v, options(nomem, nostack, preserves_flags)) }
    v
}

/// Reads the time-stamp counter.
pub fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: rdtsc only reads a counter.
    unsafe { asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags)) }
    (hi as u64) << 32 | lo as u64
}

/// Runs `f` with interrupts masked, restoring the previous state after.
pub fn without_interrupts<R>(f: impl FnOnce() -> R) -> R {
    let were_enabled = interrupts_enabled();
    disable_interrupts();
    let r = f();
    if were_enabled {
        enable_interrupts();
    }
    r
}
