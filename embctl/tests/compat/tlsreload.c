/* Segment registers loaded with a TLS selector whose descriptor is then
 * cleared or made unusable by set_thread_area: Linux reloads the registers
 * on the way back and turns a failing reload into a null selector (data
 * registers) or a signal (ss); the kernel never faults. Usage: tlsreload
 * invalid|fs|gs|es|ds|ss */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

struct user_desc_raw {
    unsigned int entry_number, base_addr, limit, flags;
};
#define F_32BIT 1
#define F_CONTENTS(c) ((c) << 1)
#define F_READ_EXEC_ONLY 8
#define F_LIMIT_IN_PAGES 16
#define F_NOT_PRESENT 32
#define F_USEABLE 64

static int set_thread_area(struct user_desc_raw *d) {
    int ret;
    __asm__ volatile("push %%ebx; mov %2, %%ebx; int $0x80; pop %%ebx"
                     : "=a"(ret) : "0"(243), "r"(d) : "memory");
    return ret;
}

static unsigned int data_word = 0x12345678;

/* A flat writable 32-bit data segment in a free TLS entry: its selector. */
static unsigned short new_segment(struct user_desc_raw *d) {
    memset(d, 0, sizeof *d);
    d->entry_number = -1;
    d->base_addr = 0;
    d->limit = 0xfffff;
    d->flags = F_32BIT | F_LIMIT_IN_PAGES | F_USEABLE;
    int r = set_thread_area(d);
    if (r != 0) {
        printf("set_thread_area: %d\n", r);
        exit(2);
    }
    return d->entry_number * 8 + 3;
}

/* Clears the entry the way libcs do ("empty" user_desc). */
static int clear_segment(struct user_desc_raw *d) {
    unsigned int entry = d->entry_number;
    memset(d, 0, sizeof *d);
    d->entry_number = entry;
    d->flags = F_READ_EXEC_ONLY | F_NOT_PRESENT;
    return set_thread_area(d);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "invalid";
    struct user_desc_raw d;
    unsigned short sel = new_segment(&d), now = 0xffff;
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!strcmp(mode, "invalid")) {
        struct user_desc_raw bad = d;
        bad.flags = F_32BIT | F_LIMIT_IN_PAGES | F_NOT_PRESENT;
        printf("not present: %d\n", set_thread_area(&bad));
        bad = d;
        bad.flags = F_LIMIT_IN_PAGES; /* 16-bit */
        printf("16-bit: %d\n", set_thread_area(&bad));
        bad = d;
        bad.flags = F_32BIT | F_CONTENTS(2) | F_LIMIT_IN_PAGES; /* code */
        printf("code: %d\n", set_thread_area(&bad));
        bad = d;
        bad.flags = F_32BIT | F_CONTENTS(3) | F_LIMIT_IN_PAGES;
        printf("conforming code: %d\n", set_thread_area(&bad));
        bad = d;
        bad.entry_number = 9;
        printf("entry 9: %d\n", set_thread_area(&bad));
        memset(&bad, 0, sizeof bad);
        bad.entry_number = d.entry_number;
        printf("all zero (clears): %d\n", set_thread_area(&bad));
        return 0;
    }
    unsigned int value = 0;
    if (!strcmp(mode, "fs")) {
        __asm__ volatile("mov %w1, %%fs; movl %%fs:(%2), %0" : "=r"(value) : "r"(sel), "r"(&data_word) : "memory");
        printf("read through the new segment: %#x\n", value);
        printf("clear: %d\n", clear_segment(&d));
        __asm__ volatile("mov %%fs, %w0" : "=r"(now));
        /* (Reading through the null fs now faults on a real CPU; QEMU's
         * TCG does not check null data segments, so that is not tested.) */
        printf("fs after clearing: %#x\n", now);
    } else if (!strcmp(mode, "gs")) {
        unsigned short old;
        __asm__ volatile("mov %%gs, %w0" : "=r"(old));
        __asm__ volatile("mov %w1, %%gs; movl %%gs:(%2), %0" : "=r"(value) : "r"(sel), "r"(&data_word) : "memory");
        int r = clear_segment(&d);
        __asm__ volatile("mov %%gs, %w0" : "=r"(now));
        __asm__ volatile("mov %w0, %%gs" : : "r"(old));
        printf("read %#x; clear: %d; gs after clearing: %#x\n", value, r, now);
    } else if (!strcmp(mode, "es")) {
        unsigned short old;
        __asm__ volatile("mov %%es, %w0" : "=r"(old));
        __asm__ volatile("mov %w0, %%es" : : "r"(sel));
        int r = clear_segment(&d);
        __asm__ volatile("mov %%es, %w0" : "=r"(now));
        __asm__ volatile("mov %w0, %%es" : : "r"(old));
        printf("clear: %d; es after clearing: %#x\n", r, now);
    } else if (!strcmp(mode, "ds")) {
        unsigned short old;
        int r;
        unsigned int entry = d.entry_number;
        memset(&d, 0, sizeof d);
        d.entry_number = entry;
        d.flags = F_READ_EXEC_ONLY | F_NOT_PRESENT;
        __asm__ volatile("mov %%ds, %w0" : "=r"(old));
        /* The syscall and the reads of ds are in one asm block: with a null
         * ds no memory may be touched until ds is restored. */
        __asm__ volatile(
            "push %%ebx\n"
            "mov %4, %%ebx\n"
            "mov %w3, %%ds\n"
            "int $0x80\n"
            "mov %%ds, %%ecx\n"
            "mov %w5, %%ds\n"
            "pop %%ebx\n"
            : "=a"(r), "=c"(now)
            : "0"(243), "r"((unsigned int)sel), "r"(&d), "r"((unsigned int)old)
            : "memory");
        (void)sel;
        printf("clear: %d; ds after clearing: %#x\n", r, now & 0xffff);
    } else if (!strcmp(mode, "ss")) {
        /* Prepare the clearing descriptor first: after the call the stack
         * segment is unusable. */
        unsigned int entry = d.entry_number;
        memset(&d, 0, sizeof d);
        d.entry_number = entry;
        d.flags = F_READ_EXEC_ONLY | F_NOT_PRESENT;
        unsigned short old;
        int r;
        __asm__ volatile("mov %%ss, %w0" : "=r"(old));
        printf("loading ss and clearing its descriptor\n");
        __asm__ volatile(
            "push %%ebx\n"
            "mov %3, %%ebx\n"
            "mov %w2, %%ss\n"
            "int $0x80\n"
            "mov %w4, %%ss\n"
            "pop %%ebx\n"
            : "=a"(r)
            : "0"(243), "r"((unsigned int)sel), "r"(&d), "r"((unsigned int)old)
            : "memory");
        printf("survived with ss cleared: %d\n", r);
    } else {
        printf("unknown mode %s\n", mode);
        return 2;
    }
    return 0;
}
