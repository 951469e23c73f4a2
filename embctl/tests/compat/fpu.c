/* The x87 and SSE state survives syscalls, sleeps (task switches), demand
 * paging and timer interrupts: values sit in xmm0-7 and the eight x87
 * registers, with non-default MXCSR and x87 control words, while raw
 * `int $0x80` calls run; afterwards every register must read back the same.
 * Catches a kernel that clobbers user FPU registers (its own code uses SSE)
 * or mixes up two tasks' FPU states. Signal handlers that use the FPU and
 * SSE themselves (after a kill to itself and after a page fault) leave the
 * interrupted state as it was: the frame saves it, a handler starts with a
 * clean FPU, sigreturn restores what the frame holds (a handler's edit of
 * the saved xmm0 included). */
#include <stdint.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "compat.h"

/* -m32 alone targets i386 without SSE: let the asm name xmm registers. */
#pragma GCC target("sse2")

struct fpu_image {
	uint32_t xmm[8][4];
	double x87[8];
	uint32_t mxcsr;
	uint16_t fcw;
} __attribute__((aligned(16)));

/* Round toward zero, flush to zero (all exceptions masked); x87: round up, 53-bit precision, exceptions masked. */
#define TEST_MXCSR 0xff80u
#define TEST_FCW 0x0a7fu

static void fill(struct fpu_image *in, uint32_t seed)
{
	memset(in, 0, sizeof(*in));
	for (int r = 0; r < 8; r++)
		for (int w = 0; w < 4; w++)
			in->xmm[r][w] = seed * 2654435761u + (uint32_t)(r * 4 + w) * 40503u;
	for (int r = 0; r < 8; r++)
		in->x87[r] = (double)seed + r * 0.125 + 1e-3;
	in->mxcsr = TEST_MXCSR;
	in->fcw = TEST_FCW;
}

/* Loads the state, runs one `int $0x80` (or a write to `touch` when nr is
 * 0: a page fault in the kernel's demand paging), stores the state back. */
static long call_with_state(const struct fpu_image *in, struct fpu_image *out, long nr, long a1, long a2,
			    long a3, volatile char *touch)
{
	uint32_t saved_mxcsr;
	uint16_t saved_fcw;
	long ret = nr;
	__asm__ volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(saved_mxcsr), "=m"(saved_fcw));
	__asm__ volatile(
		"movdqa 0(%%esi), %%xmm0\n\t"
		"movdqa 16(%%esi), %%xmm1\n\t"
		"movdqa 32(%%esi), %%xmm2\n\t"
		"movdqa 48(%%esi), %%xmm3\n\t"
		"movdqa 64(%%esi), %%xmm4\n\t"
		"movdqa 80(%%esi), %%xmm5\n\t"
		"movdqa 96(%%esi), %%xmm6\n\t"
		"movdqa 112(%%esi), %%xmm7\n\t"
		"fninit\n\t"
		"fldl 128(%%esi)\n\t"
		"fldl 136(%%esi)\n\t"
		"fldl 144(%%esi)\n\t"
		"fldl 152(%%esi)\n\t"
		"fldl 160(%%esi)\n\t"
		"fldl 168(%%esi)\n\t"
		"fldl 176(%%esi)\n\t"
		"fldl 184(%%esi)\n\t"
		"ldmxcsr 192(%%esi)\n\t"
		"fldcw 196(%%esi)\n\t"
		"test %%eax, %%eax\n\t"
		"jz 1f\n\t"
		"int $0x80\n\t"
		"jmp 2f\n"
		"1:\n\t"
		"movb $1, (%%ecx)\n"
		"2:\n\t"
		"stmxcsr 192(%%edi)\n\t"
		"fnstcw 196(%%edi)\n\t"
		"fstpl 184(%%edi)\n\t"
		"fstpl 176(%%edi)\n\t"
		"fstpl 168(%%edi)\n\t"
		"fstpl 160(%%edi)\n\t"
		"fstpl 152(%%edi)\n\t"
		"fstpl 144(%%edi)\n\t"
		"fstpl 136(%%edi)\n\t"
		"fstpl 128(%%edi)\n\t"
		"movdqa %%xmm0, 0(%%edi)\n\t"
		"movdqa %%xmm1, 16(%%edi)\n\t"
		"movdqa %%xmm2, 32(%%edi)\n\t"
		"movdqa %%xmm3, 48(%%edi)\n\t"
		"movdqa %%xmm4, 64(%%edi)\n\t"
		"movdqa %%xmm5, 80(%%edi)\n\t"
		"movdqa %%xmm6, 96(%%edi)\n\t"
		"movdqa %%xmm7, 112(%%edi)\n\t"
		: "+a"(ret)
		: "b"(a1), "c"(nr ? a2 : (long)touch), "d"(a3), "S"(in), "D"(out)
		: "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "st", "st(1)",
		  "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)");
	__asm__ volatile("ldmxcsr %0\n\tfldcw %1" : : "m"(saved_mxcsr), "m"(saved_fcw));
	return ret;
}

static int same(const struct fpu_image *a, const struct fpu_image *b)
{
	return memcmp(a->xmm, b->xmm, sizeof(a->xmm)) == 0 && memcmp(a->x87, b->x87, sizeof(a->x87)) == 0 &&
	       (a->mxcsr & ~0x3fu) == (b->mxcsr & ~0x3fu) && a->fcw == b->fcw;
}

/* Runs `count` calls, each with a different state; prints one line. */
static void run(const char *what, int count, long nr, long a1, long a2, long a3, volatile char *touch,
		size_t touch_step)
{
	static struct fpu_image in, out;
	int bad = 0;
	fflush(stdout); /* the writes below go straight to fd 1 */
	for (int i = 0; i < count; i++) {
		fill(&in, (uint32_t)(i + 1) * 7919u + (uint32_t)nr);
		memset(&out, 0xa5, sizeof(out));
		call_with_state(&in, &out, nr, a1, a2, a3, touch ? touch + (size_t)i * touch_step : 0);
		if (!same(&in, &out))
			bad++;
	}
	printf("%s x%d: %s\n", what, count, bad ? "FPU/SSE state CHANGED" : "state kept");
	if (bad)
		exit(1);
}

/* A long user-mode loop keeping values in xmm registers, so timer
 * interrupts (and any preemption) hit while they are live. */
static void spin_with_live_xmm(void)
{
	uint32_t result[4] __attribute__((aligned(16)));
	static const uint32_t one[4] __attribute__((aligned(16))) = {1, 2, 3, 4};
	unsigned n = 3000000;
	__asm__ volatile("pxor %%xmm0, %%xmm0\n\t"
			 "movdqa %2, %%xmm1\n"
			 "1:\n\t"
			 "paddd %%xmm1, %%xmm0\n\t"
			 "dec %1\n\t"
			 "jnz 1b\n\t"
			 "movdqa %%xmm0, %0\n\t"
			 : "=m"(result), "+r"(n)
			 : "m"(*one)
			 : "xmm0", "xmm1", "cc");
	int ok = result[0] == 3000000u && result[1] == 6000000u && result[2] == 9000000u && result[3] == 12000000u;
	printf("3000000 paddd with live xmm: %s\n", ok ? "state kept" : "FPU/SSE state CHANGED");
	if (!ok)
		exit(1);
}

/* The i386 kernel's ucontext and sigcontext (libc-neutral): the FPU state
 * a signal frame saves is at sigcontext's fpstate, an fsave header of 112
 * bytes and then the fxsave image. */
struct k_sigcontext {
	uint32_t gs, fs, es, ds, edi, esi, ebp, esp, ebx, edx, ecx, eax, trapno, err, eip, cs, eflags, esp_at_signal,
		ss, fpstate, oldmask, cr2;
};
struct k_ucontext {
	uint32_t flags, link, ss_sp, ss_flags, ss_size;
	struct k_sigcontext mc;
};
#define FXSAVE_AT 112

static volatile uint32_t handler_mxcsr, handler_fcw, frame_mxcsr, frame_fcw, frame_xmm0;
static volatile int edit_frame, handled;

/* What a handler that computes with the FPU and SSE leaves behind: other
 * values in every register, another rounding mode and precision. */
static void clobber_fpu(void)
{
	static const uint32_t junk[4] __attribute__((aligned(16))) = {0xdeadbeef, 0x12345678, 0x0badf00d, 0xfeedface};
	static const uint32_t mxcsr = 0x7f80;
	static const uint16_t fcw = 0x0c7f;
	__asm__ volatile("movdqa %0, %%xmm0\n\tmovdqa %0, %%xmm1\n\tmovdqa %0, %%xmm2\n\tmovdqa %0, %%xmm3\n\t"
			 "movdqa %0, %%xmm4\n\tmovdqa %0, %%xmm5\n\tmovdqa %0, %%xmm6\n\tmovdqa %0, %%xmm7\n\t"
			 "fninit\n\tfldpi\n\tfldpi\n\tfldpi\n\tfldpi\n\tfldpi\n\tfldpi\n\tfldpi\n\tfldpi\n\t"
			 "ldmxcsr %1\n\tfldcw %2"
			 :
			 : "m"(junk), "m"(mxcsr), "m"(fcw)
			 : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "st", "st(1)", "st(2)",
			   "st(3)", "st(4)", "st(5)", "st(6)", "st(7)");
}

/* Records the FPU state the handler starts with and the one its frame
 * saved, edits the frame's xmm0 when asked, then clobbers the registers. */
/* The MXCSR and x87 control word a handler starts with. */
static void record_handler_state(void)
{
	uint32_t mxcsr;
	uint16_t fcw;
	__asm__ volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(mxcsr), "=m"(fcw));
	handler_mxcsr = mxcsr;
	handler_fcw = fcw;
}

static void on_signal_info(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	(void)si;
	record_handler_state();
	struct k_ucontext *uc = ucv;
	unsigned char *fp = (unsigned char *)(uintptr_t)uc->mc.fpstate;
	if (fp) {
		memcpy((void *)&frame_fcw, fp + FXSAVE_AT, 2);
		memcpy((void *)&frame_mxcsr, fp + FXSAVE_AT + 24, 4);
		memcpy((void *)&frame_xmm0, fp + FXSAVE_AT + 160, 4);
		if (edit_frame) {
			uint32_t flipped = ~frame_xmm0;
			memcpy(fp + FXSAVE_AT + 160, &flipped, 4);
		}
	}
	handled++;
	clobber_fpu();
}

static void on_signal(int sig)
{
	(void)sig;
	record_handler_state();
	handled++;
	clobber_fpu();
}

/* A write to a PROT_NONE page: the handler opens it and clobbers the FPU;
 * the write is retried. */
static void on_fault(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	CHECK(mprotect((void *)((uintptr_t)si->si_addr & ~4095u), 4096, PROT_READ | PROT_WRITE) == 0);
	handled++;
	clobber_fpu();
}

static void signals_keep_fpu_state(void)
{
	set_handler(SIGUSR2, on_signal, 0);
	set_info_handler(SIGUSR1, on_signal_info, 0);
	set_info_handler(SIGSEGV, on_fault, 0);

	handled = 0;
	run("kill to itself, SA_SIGINFO handler clobbers FPU/SSE", 100, SYS_kill, getpid(), SIGUSR1, 0, 0, 0);
	printf("SA_SIGINFO handler starts with mxcsr %#x fcw %#x; the frame saved mxcsr %#x fcw %#x (%d handled)\n",
	       handler_mxcsr, handler_fcw, frame_mxcsr, frame_fcw, handled);
	handled = 0;
	run("kill to itself, plain handler clobbers FPU/SSE", 100, SYS_kill, getpid(), SIGUSR2, 0, 0, 0);
	printf("plain handler starts with mxcsr %#x fcw %#x (%d handled)\n", handler_mxcsr, handler_fcw, handled);

	size_t page = 4096;
	int pages = 16;
	char *closed = mmap(0, page * pages, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(closed != MAP_FAILED);
	handled = 0;
	run("write fault, handler clobbers FPU/SSE", pages, 0, 0, 0, 0, closed, page);
	printf("faults handled: %d\n", handled);

	/* On an alternate stack whose top is 64 bytes past a page boundary
	 * the saved FPU image straddles the two pages. */
	char *alt = mmap(0, page * 5, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(alt != MAP_FAILED);
	stack_t ss = {.ss_sp = alt, .ss_size = 4 * page + 64, .ss_flags = 0};
	CHECK(sigaltstack(&ss, NULL) == 0);
	set_info_handler(SIGUSR1, on_signal_info, SA_ONSTACK);
	handled = 0;
	run("kill to itself on a page-straddling alternate stack, handler clobbers FPU/SSE", 20, SYS_kill, getpid(),
	    SIGUSR1, 0, 0, 0);
	printf("alternate stack: the frame saved mxcsr %#x fcw %#x (%d handled)\n", frame_mxcsr, frame_fcw, handled);
	set_info_handler(SIGUSR1, on_signal_info, 0);

	/* sigreturn takes the state from the frame: the handler's edit of the
	 * saved xmm0 is what the program resumes with. */
	static struct fpu_image in, out;
	fill(&in, 4242);
	edit_frame = 1;
	call_with_state(&in, &out, SYS_kill, getpid(), SIGUSR1, 0, 0);
	edit_frame = 0;
	int edited = out.xmm[0][0] == ~in.xmm[0][0];
	out.xmm[0][0] = in.xmm[0][0];
	printf("handler's edit of the frame's xmm0: %s; the rest %s\n", edited ? "restored" : "LOST",
	       same(&in, &out) ? "state kept" : "FPU/SSE state CHANGED");
}

int main(void)
{
	static char text[] = ".";
	struct timespec nap = {0, 20 * 1000 * 1000};
	char uts[6 * 65];
	run("getpid", 2000, SYS_getpid, 0, 0, 0, 0, 0);
	run("uname", 200, SYS_uname, (long)uts, 0, 0, 0, 0);
	run("write", 50, SYS_write, 1, (long)text, 1, 0, 0);
	run("nanosleep 20 ms", 5, SYS_nanosleep, (long)&nap, 0, 0, 0, 0);
	size_t page = 4096;
	int pages = 64;
	char *fresh = mmap(0, page * pages, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(fresh != MAP_FAILED);
	run("first touch of a fresh page", pages, 0, 0, 0, 0, fresh, page);
	spin_with_live_xmm();
	/* And libc's own SSE use (memcpy, printf of doubles) still computes right. */
	double x = 1.0;
	for (int i = 0; i < 20; i++)
		x = x * 1.5 + 0.25;
	printf("double arithmetic: %.6f\n", x);
	signals_keep_fpu_state();
	return 0;
}
