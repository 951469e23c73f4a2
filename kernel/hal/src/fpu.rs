//! Lazy FPU/SSE switching: user state is saved only when the kernel or
//! another task actually needs the registers.
//!
//! Saving the x87/SSE state (`fxsave`/`fxrstor`) on every trap cost about
//! 440 ns of a ~1100 ns null syscall under TCG, and a syscall like getpid
//! never touches the FPU. So:
//!
//! - While a task runs in ring 3 the registers hold its user state, and that
//!   task's [`FpuArea`] is the *owner* ([`OWNER`]).
//! - A trap from ring 3 leaves the registers alone and sets CR0.TS. Kernel
//!   code that then uses x87/SSE (the prebuilt `core` uses SSE2) raises #NM
//!   (vector 7); its stub saves the owner's state into the owner's area,
//!   resets the registers, clears the owner and CR0.TS, and resumes.
//! - Going back to ring 3, the stub clears TS if the registers still hold
//!   the current task's state, and otherwise saves the owner's (another
//!   task's) state and restores the current task's from its area.
//! - A trap from kernel code with TS clear saves the registers on the stack
//!   as before (kernel code may have live SSE values); with TS set the kernel
//!   code is not using them, so nothing is saved.
//!
//! Invariant while the kernel runs: OWNER != 0 implies CR0.TS is set, so no
//! kernel instruction can overwrite a user state that is not saved. The
//! context switch only records the next task's area ([`CURRENT`]); an owned
//! state stays in the registers until someone needs them.

use core::arch::global_asm;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, Ordering};

/// Address of the [`FpuArea`] whose user state is live in the registers and
/// not saved anywhere (0: none).
pub(crate) static OWNER: AtomicU32 = AtomicU32::new(0);
/// Address of the running context's [`FpuArea`].
pub(crate) static CURRENT: AtomicU32 = AtomicU32::new(0);
/// MXCSR at reset: all exceptions masked, round to nearest.
static DEFAULT_MXCSR: u32 = 0x1f80;

/// One task's saved user x87/SSE state (the `fxsave` image).
#[repr(C, align(16))]
pub struct FpuArea(UnsafeCell<[u8; 512]>);

impl FpuArea {
    pub const fn new() -> Self {
        Self(UnsafeCell::new([0; 512]))
    }

    fn address(&self) -> u32 {
        self.0.get() as u32
    }

    /// Makes this the running context's area.
    pub(crate) fn make_current(&self) {
        CURRENT.store(self.address(), Ordering::Relaxed);
    }

    /// Forgets the live state if it is this area's (the area is going away).
    /// Interrupts must be masked.
    pub(crate) fn disown(&self) {
        // The registers keep a stale state with TS set: the next user of the
        // FPU gets #NM, which finds no owner and just resets them.
        let _ = OWNER.compare_exchange(self.address(), 0, Ordering::Relaxed, Ordering::Relaxed);
    }
}

impl Default for FpuArea {
    fn default() -> Self {
        Self::new()
    }
}

global_asm!(
    r#"
.section .text.traps, "ax"

# #NM (vector 7). In kernel mode: the kernel wants the FPU while CR0.TS is
# set. Save the owner's user state (if any), hand the kernel clean
# registers, and retry the instruction. From ring 3 (never expected: user
# code always runs with TS clear) it is reported like any user fault.
.global embox_trap_7
embox_trap_7:
    test byte ptr [esp + 4], 3
    jnz 1f
    push eax
    clts
    mov eax, dword ptr [{owner}]
    test eax, eax
    jz 2f
    fxsave [eax]
    mov dword ptr [{owner}], 0
2:
    fninit
    ldmxcsr dword ptr [{mxcsr}]
    pop eax
    iretd
1:
    push 0
    push 7
    jmp embox_trap_common

# The current task takes the registers, TS clear: another owner's live
# state is saved first. Returns the current task's area in eax (the
# caller restores it, or resets the registers for a fresh program).
# Interrupts masked. Keeps every register but eax and flags.
.global embox_fpu_claim
embox_fpu_claim:
    clts
    mov eax, dword ptr [{owner}]
    cmp eax, dword ptr [{current}]
    je 5f
    test eax, eax
    jz 6f
    fxsave [eax]
6:
    mov eax, dword ptr [{current}]
    mov dword ptr [{owner}], eax
5:
    ret
"#,
    owner = sym OWNER,
    current = sym CURRENT,
    mxcsr = sym DEFAULT_MXCSR,
);

/// Size of an `fxsave` image.
pub const FXSAVE_BYTES: usize = 512;

/// The running task's user x87/SSE state as an `fxsave` image (what a
/// signal frame saves). Interrupts are masked while it is read.
pub fn read_user_state(out: &mut [u8; FXSAVE_BYTES]) {
    crate::cpu::without_interrupts(|| {
        let current = CURRENT.load(Ordering::Relaxed);
        if current == 0 {
            return;
        }
        if OWNER.load(Ordering::Relaxed) == current {
            // SAFETY: the registers hold this task's live user state and
            // `current` is its 16-byte aligned 512-byte area; TS is cleared
            // only for the fxsave and set again, keeping the invariant that
            // an owned state makes kernel FPU use raise #NM. The registers
            // keep the state (the owner stays), the area gets a copy.
            unsafe {
                core::arch::asm!(
                    "clts",
                    "fxsave [{area}]",
                    "mov {t}, cr0",
                    "or {t}, 8",
                    "mov cr0, {t}",
                    area = in(reg) current,
                    t = out(reg) _,
                    options(nostack)
                )
            }
        }
        // SAFETY: `current` is the running context's FpuArea (512 bytes),
        // which nothing else writes while interrupts are masked.
        unsafe { core::ptr::copy_nonoverlapping(current as *const u8, out.as_mut_ptr(), FXSAVE_BYTES) }
    })
}

/// Replaces the running task's user x87/SSE state (sigreturn, or the clean
/// state a signal handler starts with); the return to ring 3 loads it.
/// MXCSR is masked to the bits the CPU supports, so `fxrstor` cannot fault
/// on a value that came from user memory.
pub fn write_user_state(image: &[u8; FXSAVE_BYTES]) {
    crate::cpu::without_interrupts(|| {
        let current = CURRENT.load(Ordering::Relaxed);
        if current == 0 {
            return;
        }
        let mut copy = *image;
        // SAFETY: reads the MXCSR_MASK field (offset 28) of the running
        // context's area, last written by fxsave (0 there means 0xffbf).
        let mask = unsafe { core::ptr::read((current as *const u8).add(28) as *const u32) };
        let mask = if mask == 0 { 0xffbf } else { mask };
        let mxcsr = u32::from_le_bytes([copy[24], copy[25], copy[26], copy[27]]) & mask;
        copy[24..28].copy_from_slice(&mxcsr.to_le_bytes());
        copy[28..32].copy_from_slice(&mask.to_le_bytes());
        // SAFETY: `current` is the running context's 512-byte FpuArea; with
        // interrupts masked nothing else reads or writes it meanwhile.
        unsafe { core::ptr::copy_nonoverlapping(copy.as_ptr(), current as *mut u8, FXSAVE_BYTES) }
        // The registers' copy is stale now: the return to ring 3 sees no
        // owner and restores this area (embox_fpu_claim + fxrstor).
        let _ = OWNER.compare_exchange(current, 0, Ordering::Relaxed, Ordering::Relaxed);
    })
}

/// The state a program or signal handler starts with: x87 as after
/// `fninit` (control word 0x37f, all registers empty), MXCSR 0x1f80.
pub fn initial_user_state() -> [u8; FXSAVE_BYTES] {
    let mut image = [0u8; FXSAVE_BYTES];
    image[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
    image[24..28].copy_from_slice(&DEFAULT_MXCSR.to_le_bytes());
    image
}
