# KVM probe guest: multiboot (a.out kludge) flat binary loaded at 1 MiB.
# Sets up a GDT (ring 0/3 code+data, TSS), an IDT (every vector -> fail,
# 0x80 -> ok, DPL 3), drops to ring 3 with iret, does int 0x80, and the
# ring-0 handler reports over COM1 and isa-debug-exit (iobase 0xf4).
        .code32
        .set BASE, 0x100000
        .globl start
start:
header:
        .long 0x1BADB002                 # multiboot magic
        .long 0x00010000                 # flags: address fields valid (a.out kludge)
        .long -(0x1BADB002 + 0x00010000) # checksum
        .long BASE                       # header_addr
        .long BASE                       # load_addr
        .long file_end - start + BASE    # load_end_addr
        .long stack0_top  # bss_end_addr: IDT and stacks, zeroed
        .long entry - start + BASE       # entry_addr
entry:
        cli
        lgdt gdtr - start + BASE
        ljmp $0x08, $(reload - start + BASE)
reload:
        mov $0x10, %ax
        mov %ax, %ds
        mov %ax, %es
        mov %ax, %ss
        mov %ax, %fs
        mov %ax, %gs
        mov $(stack0_top), %esp
        # TSS descriptor base = tss (patched at run time: low 24 bits + high 8)
        mov $(tss - start + BASE), %eax
        mov $(gdt_tss - start + BASE), %edi
        mov %ax, 2(%edi)
        shr $16, %eax
        mov %al, 4(%edi)
        mov %ah, 7(%edi)
        mov $0x28, %ax
        ltr %ax
        # IDT: 256 interrupt gates to fail (DPL 0), then vector 0x80 -> ok (DPL 3)
        mov $(idt), %edi
        mov $(fail - start + BASE), %ebx
        mov $256, %ecx
1:      mov %ebx, %eax
        mov %ax, (%edi)
        movw $0x08, 2(%edi)
        movw $0x8E00, 4(%edi)
        shr $16, %eax
        mov %ax, 6(%edi)
        add $8, %edi
        loop 1b
        mov $(idt + 0x80 * 8), %edi
        mov $(ok - start + BASE), %eax
        mov %ax, (%edi)
        movw $0xEE00, 4(%edi)
        shr $16, %eax
        mov %ax, 6(%edi)
        lidt idtr - start + BASE
        # iret to ring 3: ss, esp, eflags, cs, eip
        push $0x23
        push $(stack3_top)
        push $0x002
        push $0x1B
        push $(user - start + BASE)
        iret
user:
        int $0x80
2:      jmp 2b
ok:     mov $'K', %al
        mov $0x10, %bl                   # exit status (0x10 << 1) | 1 = 33
        jmp report
fail:   mov $'F', %al
        mov $0x11, %bl                   # exit status 35
report: mov $0x3f8, %dx
        out %al, %dx
        mov $'\n', %al
        out %al, %dx
        mov $0xf4, %dx
        mov %bl, %al
        out %al, %dx
3:      hlt
        jmp 3b

        .p2align 3
gdt:    .quad 0
        .quad 0x00CF9A000000FFFF         # 0x08 ring 0 code
        .quad 0x00CF92000000FFFF         # 0x10 ring 0 data
        .quad 0x00CFFA000000FFFF         # 0x18 ring 3 code
        .quad 0x00CFF2000000FFFF         # 0x20 ring 3 data
gdt_tss:
        .quad 0x0000890000000067         # 0x28 32-bit TSS, limit 0x67, base patched
gdt_end:
gdtr:   .word gdt_end - gdt - 1
        .long gdt - start + BASE
idtr:   .word 256 * 8 - 1
        .long idt
        .p2align 2
tss:    .long 0                          # link
        .long stack0_top  # esp0
        .long 0x10                       # ss0
        .fill 23, 4, 0
        .word 0, 104                     # trap, iomap base (no bitmap)
file_end:
        # Not in the file: the loader zeroes load_end_addr..bss_end_addr.
        # Addresses below are absolute (already include BASE).
        .set idt, BASE + 0x1000                 # 256 gates
        .set stack3_top, idt + 0x800 + 0x100    # ring-3 stack
        .set stack0_top, stack3_top + 0x100     # ring-0 stack (TSS esp0)
