//! The IDT and the assembly trap entry stubs.
//!
//! Vectors 0..=31 (CPU exceptions), 32..=47 (PIC IRQs) and 0x80 have stubs;
//! each pushes a uniform [`TrapFrame`](crate::trap::TrapFrame) and calls
//! `crate::trap::dispatch`. A user program's FPU/SSE state is switched
//! lazily (see [`crate::fpu`]): a trap from ring 3 leaves it in the registers
//! and sets CR0.TS, so it is saved only if kernel code touches the FPU. A
//! trap that interrupts kernel code using the FPU saves it (`fxsave`) below
//! the frame and restores it on the way out (the kernel is compiled without
//! SSE, so this is a safety net).
//!
//! All gates are ring-0 interrupt gates (IF cleared on entry) except those
//! opened to user mode with [`set_user_gate`] (DPL 3): the syscall layer
//! opens 0x80 that way.

use core::arch::{asm, global_asm};
use core::cell::UnsafeCell;

/// Vector of the Linux syscall gate (left closed until the syscall layer opens it).
pub use crate::trap::SYSCALL_VECTOR;

global_asm!(
    r#"
.macro TRAP_NOERR n
.global embox_trap_\n
embox_trap_\n:
    push 0
    push \n
    jmp embox_trap_common
.endm
.macro TRAP_ERR n
.global embox_trap_\n
embox_trap_\n:
    push \n
    jmp embox_trap_common
.endm

# Loads the kernel data selector into \seg unless it holds a flat one
# (the user's first: syscalls come from ring 3).
.macro LOAD_FLAT_DATA seg
    mov eax, \seg
    cmp ax, 0x23
    je 81f
    cmp ax, 0x10
    je 81f
    mov eax, 0x10
    mov \seg, eax
81:
.endm
# Reloads \seg from the frame slot at esp+\off, unless the register already
# holds that selector and its descriptor cannot have changed since it was
# loaded: one that never changes (null, 0x10, 0x23), or any while no TLS
# descriptor has changed (gdt::TLS_CHANGED). After set_thread_area the
# reload picks up the new descriptor, as on Linux.
.macro RESTORE_SEGMENT seg, off
    movzx eax, word ptr [esp + \off]
    mov ecx, \seg
    cmp ax, cx
    jne 82f
    cmp byte ptr [{tls_changed}], 0
    je 83f
    test eax, eax
    je 83f
    cmp eax, 0x10
    je 83f
    cmp eax, 0x23
    je 83f
82:
    mov \seg, eax
83:
.endm
# RESTORE_SEGMENT while no TLS descriptor changed: reload \seg only if the
# frame holds another selector.
.macro RESTORE_CHANGED_SEGMENT seg, off
    movzx eax, word ptr [esp + \off]
    mov ecx, \seg
    cmp ax, cx
    je 84f
    mov \seg, eax
84:
.endm

.section .text.traps, "ax"
# Vector 7 (#NM) has its own stub: crate::fpu.
.irp n, 0,1,2,3,4,5,6,9,15,16,18,19,20,22,23,24,25,26,27,28,31
TRAP_NOERR \n
.endr
.irp n, 8,10,11,12,13,14,17,21,29,30
TRAP_ERR \n
.endr
.irp n, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,128
TRAP_NOERR \n
.endr

.global embox_trap_common
embox_trap_common:
    pushad
    # 32-bit segment pushes (0x1e, 0x06, 0x0f 0xa0, 0x0f 0xa8): in Intel
    # syntax LLVM assembles `push ds` as a 16-bit push.
    .byte 0x1e
    .byte 0x06
    .byte 0x0f, 0xa0
    .byte 0x0f, 0xa8
    # Segment loads are costly under TCG, so only load what must change:
    # ds/es stay if they hold a flat selector (kernel 0x10 or user 0x23,
    # both base 0 and never rewritten). fs/gs keep the user's TLS selectors;
    # the context switch saves and restores fs/gs per task, so no task ever
    # runs with another task's TLS selector loaded.
    LOAD_FLAT_DATA ds
    LOAD_FLAT_DATA es
    cld
    mov ebp, esp
    # The frame's cs: which ring the trap came from.
    test byte ptr [esp + {frame_cs}], 3
    jz 71f
    # From ring 3: the user's FPU/SSE state stays in the registers (lazy
    # switching, see crate::fpu); CR0.TS makes any kernel use of them raise
    # #NM, whose stub saves the state first.
    mov eax, cr0
    or eax, 8
    mov cr0, eax
    and esp, 0xfffffff0
    sub esp, 12
    push ebp
    # int 0x80 (only ring 3 can reach it) goes straight to the syscall layer.
    cmp dword ptr [ebp + {frame_vector}], 0x80
    je 74f
    call {dispatch}
    jmp 75f
74:
    # The registered handler (crate::trap::set_syscall_handler), called
    # directly; none yet: the trap is fatal.
    mov eax, dword ptr [{syscall_handler}]
    test eax, eax
    jz 76f
    call eax
    jmp 75f
76:
    call {dispatch_syscall}
75:
    mov esp, ebp
    # Back to ring 3: the registers must hold this task's state, TS clear.
    # (Handlers return with interrupts masked; make sure of it here.)
    cli
    mov eax, dword ptr [{fpu_owner}]
    cmp eax, dword ptr [{fpu_current}]
    jne 72f
    clts
    jmp embox_trap_return
72:
    # Another state took the registers (or was saved): restore ours.
    call embox_fpu_claim
    fxrstor [eax]
    jmp embox_trap_return
71:
    # From kernel code. With CR0.TS set the interrupted code is not using
    # the FPU (any use would have trapped), so there is nothing of its to
    # save; with TS clear it may hold live SSE values: save them below the
    # frame, so handlers may use SSE and every task keeps its kernel FPU
    # state on its own kernel stack across preemption.
    mov eax, cr0
    test al, 8
    jnz 73f
    sub esp, 512
    and esp, 0xfffffff0
    fxsave [esp]
    sub esp, 12
    push ebp
    call {dispatch}
    add esp, 16
    # If TS got set meanwhile (another task entered the kernel from ring 3),
    # this raises #NM, which saves that task's state first.
    fxrstor [esp]
    mov esp, ebp
    jmp embox_trap_return
73:
    and esp, 0xfffffff0
    sub esp, 12
    push ebp
    call {dispatch}
    mov esp, ebp
.global embox_trap_return
embox_trap_return:
    # The flag is tested once: the common case (no set_thread_area since
    # the last trap return) only compares selectors.
    cmp byte ptr [{tls_changed}], 0
    jne 77f
    RESTORE_CHANGED_SEGMENT gs, {frame_gs}
    RESTORE_CHANGED_SEGMENT fs, {frame_fs}
    RESTORE_CHANGED_SEGMENT es, {frame_es}
    RESTORE_CHANGED_SEGMENT ds, {frame_ds}
78:
    add esp, {frame_segments}
    popad
    add esp, 8
    iretd
77:
    RESTORE_SEGMENT gs, {frame_gs}
    RESTORE_SEGMENT fs, {frame_fs}
    RESTORE_SEGMENT es, {frame_es}
    RESTORE_SEGMENT ds, {frame_ds}
    # Every segment register now caches its current descriptor.
    mov byte ptr [{tls_changed}], 0
    jmp 78b

.section .rodata.traps, "a"
.balign 4
.global embox_trap_table
embox_trap_table:
.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
.long embox_trap_\n
.endr
.irp n, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47
.long embox_trap_\n
.endr
.long embox_trap_128
"#,
    dispatch = sym crate::trap::dispatch,
    fpu_owner = sym crate::fpu::OWNER,
    fpu_current = sym crate::fpu::CURRENT,
    tls_changed = sym crate::gdt::TLS_CHANGED,
    dispatch_syscall = sym crate::trap::dispatch_syscall,
    syscall_handler = sym crate::trap::SYSCALL_HANDLER,
    frame_cs = const crate::trap::FRAME_CS,
    frame_vector = const crate::trap::FRAME_VECTOR,
    frame_gs = const crate::trap::FRAME_GS,
    frame_fs = const crate::trap::FRAME_FS,
    frame_es = const crate::trap::FRAME_ES,
    frame_ds = const crate::trap::FRAME_DS,
    frame_segments = const crate::trap::FRAME_SEGMENTS_BYTES,
);

extern "C" {
    /// Stub addresses for vectors 0..=47, then 0x80.
    static embox_trap_table: [u32; 49];
}

#[repr(C, packed)]
struct Pointer {
    limit: u16,
    base: u32,
}

struct Idt(UnsafeCell<[u64; 256]>);
// SAFETY: written only at boot and with interrupts masked, on one CPU.
unsafe impl Sync for Idt {}
static IDT: Idt = Idt(UnsafeCell::new([0; 256]));

fn gate(handler: u32, dpl: u8) -> u64 {
    let type_attr: u64 = 0x8e | ((dpl as u64 & 3) << 5); // present, 32-bit interrupt gate
    (handler as u64 & 0xffff)
        | (crate::gdt::KERNEL_CODE as u64) << 16
        | type_attr << 40
        | ((handler as u64 >> 16) & 0xffff) << 48
}

fn stub(vector: u8) -> u32 {
    let index = match vector {
        0..=47 => vector as usize,
        SYSCALL_VECTOR => 48,
        _ => panic!("no trap stub for vector {vector:#x}"),
    };
    // SAFETY: the table is immutable data defined in the assembly above.
    unsafe { embox_trap_table[index] }
}

pub(crate) fn init() {
    for vector in 0..=47u8 {
        set_gate(vector, stub(vector), 0);
    }
    // Double fault: a task gate to the double-fault TSS (own stack), so even
    // a kernel stack overflow is reported instead of resetting the machine.
    let task_gate = (crate::gdt::DOUBLE_FAULT_TSS_SELECTOR as u64) << 16 | 0x85u64 << 40;
    // SAFETY: boot, interrupts off.
    unsafe { (*IDT.0.get())[8] = task_gate };
    let pointer = Pointer { limit: (256 * 8 - 1) as u16, base: IDT.0.get() as u32 };
    // SAFETY: the IDT is static, so the CPU's pointer to it stays valid.
    unsafe { asm!("lidt [{}]", in(reg) &pointer, options(readonly, nostack, preserves_flags)) }
}

fn set_gate(vector: u8, handler: u32, dpl: u8) {
    let g = gate(handler, dpl);
    crate::cpu::without_interrupts(|| {
        // SAFETY: interrupts are masked on the one CPU while the entry changes.
        unsafe { (*IDT.0.get())[vector as usize] = g }
    });
}

/// The vectors a program may raise with `int n` (any other `int n` from
/// ring 3 is a general protection fault).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserGate {
    /// `int 0x80`, the Linux system call.
    Syscall,
    /// `int3` (#BP): SIGTRAP.
    Breakpoint,
    /// `into` (#OF): SIGSEGV.
    Overflow,
}

/// Opens `gate` to `int n` from ring 3 (a DPL-3 interrupt gate).
pub fn set_user_gate(gate: UserGate) {
    let vector = match gate {
        UserGate::Syscall => SYSCALL_VECTOR,
        UserGate::Breakpoint => 3,
        UserGate::Overflow => 4,
    };
    set_gate(vector, stub(vector), 3);
}
