//! Lazy FPU/SSE switching: user state is saved only when the kernel or
//! another task actually needs the registers.
//!
//! Saving the x87/SSE state (`fxsave`/`fxrstor`) on every trap cost about
//! 440 ns of a ~1100 ns null syscall under TCG, and a syscall like getpid
//! never touches the FPU. So:
//!
//! - While a task runs in ring 3 the registers hold its user state, and that
//!   task's [`FpuArea`] is the *owner* ([`OWNER`]).
//! - A trap from ring 3 leaves the registers alone and sets CR0.TS. The
//!   kernel is compiled without SSE and uses no x87 (kernel/.cargo/config.toml,
//!   [`crate::sync::SplitU64`]), so normally nothing more happens. Kernel
//!   code that did use x87/SSE would raise #NM (vector 7); its stub saves
//!   the owner's state into the owner's area, resets the registers, clears
//!   the owner and CR0.TS, and resumes.
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
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crate::memory::FrameRef;

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

# The current task takes the registers (embox_fpu_claim) and gets the clean
# user state a program or signal handler starts with: fninit, the default
# MXCSR, zeroed xmm registers. Interrupts masked; TS is left clear. Keeps
# every register but eax, flags and the FPU/SSE ones.
.global embox_fpu_reset
embox_fpu_reset:
    call embox_fpu_claim
    fninit
    ldmxcsr dword ptr [{mxcsr}]
    xorps xmm0, xmm0
    xorps xmm1, xmm1
    xorps xmm2, xmm2
    xorps xmm3, xmm3
    xorps xmm4, xmm4
    xorps xmm5, xmm5
    xorps xmm6, xmm6
    xorps xmm7, xmm7
    ret

# The current task takes the registers (embox_fpu_claim) and loads the
# fxsave image at edx (a signal frame's, checked by the caller). Interrupts
# masked; TS is left clear. Keeps every register but eax, flags and the
# FPU/SSE ones.
.global embox_fpu_load
embox_fpu_load:
    call embox_fpu_claim
    fxrstor [edx]
    ret
"#,
    owner = sym OWNER,
    current = sym CURRENT,
    mxcsr = sym DEFAULT_MXCSR,
);

/// Saves the user x87/SSE state the registers hold at `at` (`fxsave`),
/// clearing CR0.TS only for that and setting it again (an owned state
/// keeps TS set while the kernel runs). The registers keep the state.
///
/// # Safety
/// `at` is 16-byte aligned with 512 writable bytes that no Rust reference
/// points into, and interrupts are masked.
unsafe fn fxsave_to(at: usize) {
    // SAFETY: the caller's contract; clts/fxsave/cr0 are ring-0
    // instructions with no other effect than on TS and `at`'s bytes.
    unsafe {
        core::arch::asm!(
            "clts",
            "fxsave [{at}]",
            "mov {t}, cr0",
            "or {t}, 8",
            "mov cr0, {t}",
            at = in(reg) at,
            t = out(reg) _,
            options(nostack)
        );
    }
}

/// Size of an `fxsave` image.
pub const FXSAVE_BYTES: usize = 512;

/// Set while [`with_user_state`] lends the running task's area out: the
/// functions that would hand the registers back to the task (and so let
/// `#NM` write the area) refuse meanwhile.
static LENT: AtomicBool = AtomicBool::new(false);

/// Runs `f` on the running task's user x87/SSE state as an `fxsave` image
/// (what a signal frame saves), read in place in the task's own area: one
/// `fxsave` puts it there when the registers hold it (a context switch may
/// have saved it there already). No copy: a signal is on the path
/// the benchmarks time. The registers no longer count as holding it (the
/// return to ring 3 restores it from the area), so nothing writes the area
/// while `f` reads it: only the owner's area is ever saved into, and this
/// task cannot become the owner before `f` returns ([`reset_user_state`]
/// and [`load_user_state`] panic inside `f`; the return to ring 3 cannot
/// happen there).
pub fn with_user_state<R>(f: impl FnOnce(&[u8; FXSAVE_BYTES]) -> R) -> R {
    let current = crate::cpu::without_interrupts(|| {
        let current = CURRENT.load(Ordering::Relaxed);
        if current != 0 && OWNER.load(Ordering::Relaxed) == current {
            // SAFETY: the registers hold this task's live user state and
            // `current` is its 16-byte aligned 512-byte area, which no Rust
            // reference points into now; interrupts are masked. With the
            // owner cleared the registers' copy is stale, which no one else
            // reads.
            unsafe { fxsave_to(current as usize) };
            OWNER.store(0, Ordering::Relaxed);
        }
        current
    });
    if current == 0 {
        return f(&initial_user_state());
    }
    LENT.store(true, Ordering::Relaxed);
    // SAFETY: `current` is the running task's FpuArea, not the owner (see
    // above), so neither #NM nor a context switch writes it while `f` runs,
    // and `LENT` stops this task from taking the registers back meanwhile.
    let r = f(unsafe { &*(current as *const [u8; FXSAVE_BYTES]) });
    LENT.store(false, Ordering::Relaxed);
    r
}

/// Replaces the running task's user x87/SSE state with the `fxsave` image
/// `fill` writes into the task's own area (sigreturn reads it there
/// straight from the signal frame); the return to ring 3 loads it. After
/// `fill`'s error the state is undefined: the caller ends the program.
/// MXCSR is masked to the bits the CPU supports, so `fxrstor` cannot fault
/// on a value that came from user memory. Interrupts are masked meanwhile.
pub fn load_user_state<E>(fill: impl FnOnce(&mut [u8; FXSAVE_BYTES]) -> Result<(), E>) -> Result<(), E> {
    assert!(!LENT.load(Ordering::Relaxed), "the FPU area is lent out");
    crate::cpu::without_interrupts(|| {
        let current = CURRENT.load(Ordering::Relaxed);
        if current == 0 {
            return Ok(());
        }
        // SAFETY: `current` is the running context's 512-byte FpuArea; with
        // interrupts masked nothing else reads or writes it meanwhile, and
        // the registers' copy (if they held it) is disowned below before
        // anything could save over it. MXCSR_MASK (offset 28) was last
        // written by fxsave (0 there means 0xffbf).
        let area = unsafe { &mut *(current as *mut [u8; FXSAVE_BYTES]) };
        let mask = u32::from_le_bytes([area[28], area[29], area[30], area[31]]);
        let mask = if mask == 0 { 0xffbf } else { mask };
        // The registers' copy is stale from now on: the return to ring 3
        // sees no owner and restores this area (embox_fpu_claim + fxrstor).
        let _ = OWNER.compare_exchange(current, 0, Ordering::Relaxed, Ordering::Relaxed);
        fill(area)?;
        let mxcsr = u32::from_le_bytes([area[24], area[25], area[26], area[27]]) & mask;
        area[24..28].copy_from_slice(&mxcsr.to_le_bytes());
        area[28..32].copy_from_slice(&mask.to_le_bytes());
        Ok(())
    })
}

/// Where a signal frame's FPU image sits: an `fxsave` image's 512 bytes at
/// `offset` of a frame of the program's memory, 16-byte aligned (what
/// `fxsave`/`fxrstor` demand) and inside the one frame. The caller found
/// the frame by walking the program's page tables with the access checked
/// (writable to save into, readable to load from), so a bad address was
/// EFAULT (SIGSEGV) before this; the CPU reaches the frame through the
/// physical map, where it cannot fault.
#[derive(Clone, Copy)]
pub struct UserImage<'a> {
    frame: FrameRef<'a>,
    offset: usize,
}

impl<'a> UserImage<'a> {
    /// The image at `offset` of `frame`; `None` unless 16-byte aligned and
    /// inside the frame (the caller then copies through the task's area).
    pub fn new(frame: FrameRef<'a>, offset: usize) -> Option<Self> {
        (offset % 16 == 0 && offset + FXSAVE_BYTES <= crate::layout::PAGE_SIZE).then_some(UserImage { frame, offset })
    }

    fn address(&self) -> usize {
        self.frame.mapped_address(self.offset, FXSAVE_BYTES)
    }
}

/// Saves the running task's user x87/SSE state into `image` (a signal
/// frame being built): one `fxsave` straight there when the registers hold
/// it, a copy of the task's area when a switch saved it there, the initial
/// state for a task with no area. No copy through the area on the common
/// path: a signal is on the path the benchmarks time. The registers keep
/// the state (and the task stays their owner).
pub fn save_user_state_to(image: UserImage<'_>) {
    crate::cpu::without_interrupts(|| {
        let current = CURRENT.load(Ordering::Relaxed);
        if current == 0 {
            image.frame.write(image.offset, &initial_user_state());
        } else if OWNER.load(Ordering::Relaxed) == current {
            // SAFETY: the registers hold this task's user state; `image`
            // is 16-byte aligned and its 512 bytes lie in one frame of the
            // physical map (UserImage::new), frame memory no Rust
            // reference points into; interrupts are masked.
            unsafe { fxsave_to(image.address()) };
        } else {
            // SAFETY: `current` is the running task's 512-byte area, which
            // holds its state (it is not the owner, so a switch or #NM
            // saved it there); with interrupts masked nothing writes it.
            let area = unsafe { &*(current as *const [u8; FXSAVE_BYTES]) };
            image.frame.write(image.offset, area);
        }
    })
}

/// Makes `image` (handed back by sigreturn) the running task's user
/// x87/SSE state, loaded with one `fxrstor` straight into the registers.
/// False, with nothing changed, when its MXCSR has bits the CPU does not
/// support (`fxrstor` would fault in ring 0): the caller then goes through
/// [`load_user_state`], which masks them.
pub fn load_user_state_from(image: UserImage<'_>) -> bool {
    assert!(!LENT.load(Ordering::Relaxed), "the FPU area is lent out");
    crate::cpu::without_interrupts(|| {
        let current = CURRENT.load(Ordering::Relaxed);
        if current == 0 {
            return false;
        }
        let mut mxcsr = [0u8; 4];
        image.frame.read(image.offset + 24, &mut mxcsr);
        let mxcsr = u32::from_le_bytes(mxcsr);
        // SAFETY: `current` is the running task's area; the bytes read are
        // the MXCSR_MASK its last fxsave wrote (0 there means 0xffbf).
        let area = unsafe { &*(current as *const [u8; FXSAVE_BYTES]) };
        let mask = u32::from_le_bytes([area[28], area[29], area[30], area[31]]);
        let mask = if mask == 0 { 0xffbf } else { mask };
        if mxcsr & !mask != 0 {
            return false;
        }
        // SAFETY: interrupts are masked, so no other thread can change the
        // image between the MXCSR check above and the fxrstor (one CPU).
        // embox_fpu_claim saves another owner's live state into its area,
        // makes this task the owner and clears TS; fxrstor then reads the
        // 16-byte aligned image inside one frame of the physical map
        // (UserImage::new), whose MXCSR was checked, so it cannot fault.
        // TS is set again: an owned state keeps TS set in the kernel; the
        // return to ring 3 sees this task as the owner and clears it.
        unsafe { take_registers(embox_fpu_load, image.address()) };
        true
    })
}

/// Gives the running task the clean user state a signal handler starts
/// with ([`initial_user_state`]) in the registers themselves: `fninit`,
/// the default MXCSR and zeroed xmm registers (what Linux's handler gets),
/// instead of an image copied through memory. The state they held must
/// have been saved first ([`with_user_state`]).
pub fn reset_user_state() {
    assert!(!LENT.load(Ordering::Relaxed), "the FPU area is lent out");
    crate::cpu::without_interrupts(|| {
        if CURRENT.load(Ordering::Relaxed) == 0 {
            return;
        }
        // SAFETY: embox_fpu_reset (interrupts masked) saves another task's
        // live state into its area and makes this task the owner with TS
        // clear, and resets the registers; TS is set again, keeping the
        // invariant that an owned state makes kernel FPU use raise #NM.
        // The owner stays: the return to ring 3 just clears TS.
        unsafe { take_registers(embox_fpu_reset, 0) }
    })
}

unsafe extern "C" {
    fn embox_fpu_reset();
    fn embox_fpu_load();
}

/// Runs `routine` (embox_fpu_reset, or embox_fpu_load with the image at
/// `image`, in edx), which makes the current task the owner of the
/// registers with TS clear and gives them new contents, then sets TS
/// again: an owned state keeps TS set while the kernel runs.
///
/// # Safety
/// Interrupts are masked; for embox_fpu_load, `image` is a 16-byte
/// aligned 512-byte fxsave image that `fxrstor` takes without a fault.
unsafe fn take_registers(routine: unsafe extern "C" fn(), image: usize) {
    // SAFETY: the caller's contract; the routines keep every register but
    // eax, flags and the FPU/SSE ones (declared clobbered here).
    unsafe {
        core::arch::asm!(
            "call {routine}",
            "mov {t}, cr0",
            "or {t}, 8",
            "mov cr0, {t}",
            routine = in(reg) routine,
            in("edx") image,
            t = out(reg) _,
            out("eax") _,
            out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
            out("xmm4") _, out("xmm5") _, out("xmm6") _, out("xmm7") _,
            out("st(0)") _, out("st(1)") _, out("st(2)") _, out("st(3)") _,
            out("st(4)") _, out("st(5)") _, out("st(6)") _, out("st(7)") _,
        )
    }
}

/// The state a program or signal handler starts with: x87 as after
/// `fninit` (control word 0x37f, all registers empty), MXCSR 0x1f80.
pub fn initial_user_state() -> [u8; FXSAVE_BYTES] {
    let mut image = [0u8; FXSAVE_BYTES];
    image[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
    image[24..28].copy_from_slice(&DEFAULT_MXCSR.to_le_bytes());
    image
}
