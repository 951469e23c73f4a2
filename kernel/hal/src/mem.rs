//! The C memory functions the compiler's code calls (`core` on this target
//! expects them from libc, which a kernel does not have). In assembly: LLVM
//! reserves esi on i686, and a Rust loop could be turned back into a call to
//! the very function it implements. Bulk copies move 4 bytes per step, which
//! matters under QEMU's TCG (memmove too when it copies forwards, which is
//! safe whenever the destination starts at or below the source; only an
//! overlapping copy to a higher address goes backwards, a byte at a time).

use core::arch::global_asm;

global_asm!(
    r#"
.section .text.mem, "ax"
.global memcpy
memcpy:
    push esi
    push edi
    mov edi, [esp + 12]
    mov esi, [esp + 16]
    mov ecx, [esp + 20]
    mov eax, edi
    mov edx, ecx
    shr ecx, 2
    rep movsd
    mov ecx, edx
    and ecx, 3
    rep movsb
    pop edi
    pop esi
    ret

.global memmove
memmove:
    push esi
    push edi
    mov edi, [esp + 12]
    mov esi, [esp + 16]
    mov ecx, [esp + 20]
    mov eax, edi
    cmp edi, esi
    jbe 1f
    lea edx, [esi + ecx]
    cmp edi, edx
    jae 1f
    lea esi, [esi + ecx - 1]
    lea edi, [edi + ecx - 1]
    std
    rep movsb
    cld
    jmp 2f
1:
    mov edx, ecx
    shr ecx, 2
    rep movsd
    mov ecx, edx
    and ecx, 3
    rep movsb
2:
    pop edi
    pop esi
    ret

.global memset
memset:
    push edi
    mov edi, [esp + 8]
    movzx eax, byte ptr [esp + 12]
    mov ecx, [esp + 16]
    mov edx, edi
    imul eax, eax, 0x01010101
    push ecx
    shr ecx, 2
    rep stosd
    pop ecx
    and ecx, 3
    rep stosb
    mov eax, edx
    pop edi
    ret

.global memcmp
.global bcmp
memcmp:
bcmp:
    push esi
    push edi
    mov esi, [esp + 12]
    mov edi, [esp + 16]
    mov ecx, [esp + 20]
    xor eax, eax
    repe cmpsb
    je 3f
    movzx eax, byte ptr [esi - 1]
    movzx edx, byte ptr [edi - 1]
    sub eax, edx
3:
    pop edi
    pop esi
    ret
"#
);

// The prebuilt `alloc` for this target was compiled for unwinding and still
// names these two symbols, although the kernel aborts on panic and never
// unwinds. Give them a body that traps, should that ever change.
global_asm!(
    r#"
.section .text.mem, "ax"
.global _Unwind_Resume
_Unwind_Resume:
.global rust_eh_personality
rust_eh_personality:
    ud2
"#
);
