//! `jmp_buf_set` / `jmp_buf_longjmp`: LKL's setjmp/longjmp.
//!
//! LKL's scheduler uses them to leave a host thread's call chain from deep
//! inside `schedule()` (`thread_sched_jb`, `del_host_task`): `jmp_buf_set(b, f)`
//! records the callee-saved registers, the stack pointer and the return
//! address in `b`, then calls `f`; `jmp_buf_longjmp(b, v)` from anywhere
//! below `f` on the same stack makes that `jmp_buf_set` call return. We keep
//! six words at the start of LKL's `struct lkl_jmp_buf` (128 longs):
//! ebx, esi, edi, ebp, the stack pointer after return, the return address.

use core::arch::global_asm;

global_asm!(
    r#"
.section .text.lkl_jmp, "ax"
.global embox_lkl_jmp_buf_set
embox_lkl_jmp_buf_set:
    push ebp
    mov ebp, esp
    mov eax, [ebp + 8]
    mov ecx, [ebp + 12]
    mov [eax + 0], ebx
    mov [eax + 4], esi
    mov [eax + 8], edi
    mov edx, [ebp]
    mov [eax + 12], edx
    lea edx, [ebp + 8]
    mov [eax + 16], edx
    mov edx, [ebp + 4]
    mov [eax + 20], edx
    # C code may assume a 16-byte aligned stack at a call.
    and esp, -16
    call ecx
    mov esp, ebp
    pop ebp
    ret

.global embox_lkl_jmp_buf_longjmp
embox_lkl_jmp_buf_longjmp:
    mov eax, [esp + 4]
    mov ebx, [eax + 0]
    mov esi, [eax + 4]
    mov edi, [eax + 8]
    mov ebp, [eax + 12]
    mov esp, [eax + 16]
    jmp dword ptr [eax + 20]
"#
);

/// LKL's `struct lkl_jmp_buf`: 128 longs (we use the first six).
#[repr(C)]
pub struct JmpBuf {
    buf: [usize; 128],
}

impl JmpBuf {
    pub const fn new() -> Self {
        Self { buf: [0; 128] }
    }
}

impl Default for JmpBuf {
    fn default() -> Self {
        Self::new()
    }
}

extern "C" {
    pub(crate) fn embox_lkl_jmp_buf_set(jmpb: *mut JmpBuf, f: extern "C" fn());
    pub(crate) fn embox_lkl_jmp_buf_longjmp(jmpb: *mut JmpBuf, val: core::ffi::c_int) -> !;
}
