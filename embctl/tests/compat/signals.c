/* Signals: handlers on real signal frames (signal/sigaction, SA_SIGINFO,
 * SA_NODEFER, SA_RESETHAND, SA_ONSTACK with sigaltstack, SA_RESTART vs
 * EINTR), the mask (sigprocmask, sigpending, sigsuspend, pause), kill to
 * another process, SIGCHLD (and SIG_IGN: no zombies), SIGPIPE, faults
 * caught by handlers (siglongjmp out of SIGSEGV/SIGFPE/SIGILL, SIGTRAP
 * returning), default actions as wait statuses, and hostile frames handed
 * to sigreturn (SIGSEGV, never a kernel fault). Output is unbuffered;
 * nothing printed depends on pids or addresses. */
#define _GNU_SOURCE
#include "compat.h"
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t hits, depth, max_depth, last_sig;
static volatile int last_code, last_pid_ok, last_status, uc_ok;
static char order[64];
static volatile int order_len;

static void on_plain(int sig)
{
	hits++;
	last_sig = sig;
	if (order_len < (int)sizeof order - 1)
		order[order_len++] = '0' + sig % 10;
}

static int blocked(int sig)
{
	sigset_t now;
	CHECK(sigprocmask(SIG_BLOCK, NULL, &now) == 0);
	return sigismember(&now, sig);
}

static volatile int blocked_inside;
static void on_check_mask(int sig)
{
	hits++;
	blocked_inside = blocked(sig) * 10 + blocked(SIGUSR2);
}

static void test_basic_handler(void)
{
	hits = 0;
	CHECK(signal(SIGUSR1, on_plain) != SIG_ERR);
	CHECK(raise(SIGUSR1) == 0);
	CHECK(kill(getpid(), SIGUSR1) == 0);
	printf("basic: %d hits, last signal %d\n", (int)hits, (int)last_sig);

	/* The signal itself and sa_mask are blocked while the handler runs,
	 * and unblocked again after sigreturn. */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_check_mask;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	raise(SIGUSR1);
	printf("mask inside handler: %d (11 = signal and sa_mask blocked); after: %d %d\n", blocked_inside,
	       blocked(SIGUSR1), blocked(SIGUSR2));

	/* The old action comes back from sigaction. */
	struct sigaction old;
	CHECK(sigaction(SIGUSR1, NULL, &old) == 0);
	printf("old action is the handler: %d, sa_mask has SIGUSR2: %d\n", old.sa_handler == on_check_mask,
	       sigismember(&old.sa_mask, SIGUSR2));
	CHECK(sigaction(SIGKILL, &sa, NULL) < 0);
	printf("sigaction(SIGKILL): %s\n", strerror(errno));
	CHECK(sigaction(SIGSTOP, &sa, NULL) < 0);
	printf("sigaction(SIGSTOP): %s\n", strerror(errno));
	CHECK(sigaction(65, &sa, NULL) < 0);
	printf("sigaction(65): %s\n", strerror(errno));
}

static void on_info(int sig, siginfo_t *info, void *ucv)
{
	ucontext_t *uc = ucv;
	hits++;
	last_sig = info->si_signo == sig ? sig : -1;
	last_code = info->si_code;
	last_pid_ok = info->si_pid == getpid();
	uc_ok = uc != NULL && uc->uc_mcontext.gregs[REG_ESP] != 0 && uc->uc_mcontext.gregs[REG_EIP] != 0;
}

/* tgkill without libc's raise (which blocks signals around it). */
static int syscall_tgkill_impl(void)
{
	last_code = 99;
	int r = syscall(SYS_tgkill, getpid(), getpid(), SIGUSR2);
	printf("tgkill: %d, si_code %d (SI_TKILL is -6)\n", r, last_code);
	return r;
}

static void test_siginfo(void)
{
	set_info_handler(SIGUSR2, on_info, 0);
	hits = 0;
	CHECK(kill(getpid(), SIGUSR2) == 0);
	printf("kill: signo ok %d, si_code %d, si_pid is mine %d, ucontext %d\n", last_sig == SIGUSR2, last_code,
	       last_pid_ok, uc_ok);
	CHECK(syscall_tgkill_impl() == 0);
}


static void on_nested(int sig)
{
	hits++;
	depth++;
	if (depth > max_depth)
		max_depth = depth;
	if (hits < 3)
		raise(sig);
	depth--;
}

static void test_nodefer_resethand(void)
{
	hits = depth = max_depth = 0;
	set_handler(SIGUSR1, on_nested, SA_NODEFER);
	raise(SIGUSR1);
	printf("SA_NODEFER: nested %d deep, %d runs\n", (int)max_depth, (int)hits);

	hits = depth = max_depth = 0;
	set_handler(SIGUSR1, on_nested, 0);
	raise(SIGUSR1);
	printf("without SA_NODEFER: %d deep, %d runs (one after the other)\n", (int)max_depth, (int)hits);

	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		hits = 0;
		set_handler(SIGUSR1, on_plain, SA_RESETHAND);
		raise(SIGUSR1);
		struct sigaction now;
		sigaction(SIGUSR1, NULL, &now);
		printf("SA_RESETHAND: handler ran %d, now SIG_DFL %d\n", (int)hits, now.sa_handler == SIG_DFL);
		raise(SIGUSR1);
		printf("not reached\n");
		_exit(0);
	}
	int status;
	CHECK(waitpid(child, &status, 0) == child);
	describe("SA_RESETHAND second signal", status);
}

static void test_mask_and_pending(void)
{
	sigset_t set, old, pending;
	hits = 0;
	order_len = 0;
	set_handler(SIGUSR1, on_plain, 0);
	set_handler(SIGUSR2, on_plain, 0);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	CHECK(sigprocmask(SIG_BLOCK, &set, &old) == 0);
	raise(SIGUSR1);
	raise(SIGUSR1);
	raise(SIGUSR2);
	CHECK(sigpending(&pending) == 0);
	printf("blocked: %d hits, pending USR1 %d USR2 %d TERM %d\n", (int)hits, sigismember(&pending, SIGUSR1),
	       sigismember(&pending, SIGUSR2), sigismember(&pending, SIGTERM));
	CHECK(sigprocmask(SIG_SETMASK, &old, NULL) == 0);
	order[order_len] = 0;
	printf("unblocked: %d hits (standard signals do not queue), order %s\n", (int)hits, order);
	CHECK(sigpending(&pending) == 0);
	printf("pending after: USR1 %d\n", sigismember(&pending, SIGUSR1));

	/* SIGKILL and SIGSTOP cannot be blocked. */
	sigfillset(&set);
	CHECK(sigprocmask(SIG_SETMASK, &set, &old) == 0);
	sigset_t now;
	sigprocmask(SIG_SETMASK, &old, &now);
	printf("fill mask: KILL %d STOP %d USR1 %d\n", sigismember(&now, SIGKILL), sigismember(&now, SIGSTOP),
	       sigismember(&now, SIGUSR1));
	CHECK(sigprocmask(99, &set, NULL) < 0);
	printf("sigprocmask(99): %s\n", strerror(errno));

	/* An ignored pending signal is dropped. */
	CHECK(sigprocmask(SIG_BLOCK, &set, &old) == 0);
	raise(SIGUSR1);
	signal(SIGUSR1, SIG_IGN);
	sigpending(&pending);
	printf("pending then ignored: still pending %d\n", sigismember(&pending, SIGUSR1));
	sigprocmask(SIG_SETMASK, &old, NULL);
}

static void test_sigsuspend_and_kill(void)
{
	int ready[2];
	CHECK(pipe(ready) == 0);
	set_handler(SIGUSR1, on_plain, 0);
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	CHECK(sigprocmask(SIG_BLOCK, &set, &old) == 0);
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		hits = 0;
		CHECK(write(ready[1], "r", 1) == 1);
		sigset_t wait_mask;
		sigemptyset(&wait_mask);
		int r = sigsuspend(&wait_mask);
		printf("child: sigsuspend %d %s, %d hits, USR1 blocked again %d\n", r, strerror(errno), (int)hits,
		       blocked(SIGUSR1));
		CHECK(write(ready[1], "r", 1) == 1);
		r = pause();
		printf("child: pause %d %s, %d hits\n", r, strerror(errno), (int)hits);
		_exit(7);
	}
	char c;
	CHECK(read(ready[0], &c, 1) == 1);
	CHECK(kill(child, SIGUSR1) == 0);
	CHECK(read(ready[0], &c, 1) == 1);
	CHECK(kill(child, 0) == 0);
	/* pause() has the normal mask: USR1 is blocked there, USR2 ends it. */
	sleep_ms(100);
	set_handler(SIGUSR2, on_plain, 0);
	CHECK(kill(child, SIGUSR1) == 0);
	sleep_ms(100);
	CHECK(kill(child, SIGUSR2) == 0);
	int status;
	CHECK(waitpid(child, &status, 0) == child);
	describe("sigsuspend child", status);
	CHECK(kill(child, 0) < 0);
	printf("kill of a reaped child: %s\n", strerror(errno));
	CHECK(kill(999999, SIGTERM) < 0);
	printf("kill(999999): %s\n", strerror(errno));
	CHECK(kill(getpid(), 65) < 0);
	printf("kill(self, 65): %s\n", strerror(errno));
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(ready[0]);
	close(ready[1]);
}

/* A child blocked in read() on a pipe gets SIGUSR1: with SA_RESTART the
 * read goes on and returns the data written later; without, EINTR. */
static void restart_case(int flags)
{
	int ready[2], data[2];
	CHECK(pipe(ready) == 0 && pipe(data) == 0);
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		hits = 0;
		set_handler(SIGUSR1, on_plain, flags);
		CHECK(write(ready[1], "r", 1) == 1);
		char buf[8];
		ssize_t n = read(data[0], buf, sizeof buf);
		printf("child (%s): read %d %s, handler ran %d\n", flags ? "SA_RESTART" : "no SA_RESTART", (int)n,
		       n < 0 ? strerror(errno) : "data", (int)hits);
		_exit(0);
	}
	char c;
	CHECK(read(ready[0], &c, 1) == 1);
	sleep_ms(300);
	CHECK(kill(child, SIGUSR1) == 0);
	sleep_ms(300);
	CHECK(write(data[1], "late", 4) == 4);
	int status;
	CHECK(waitpid(child, &status, 0) == child);
	describe("restart child", status);
	close(ready[0]);
	close(ready[1]);
	close(data[0]);
	close(data[1]);
}

static void test_restart(void)
{
	restart_case(SA_RESTART);
	restart_case(0);

	/* nanosleep is never restarted: EINTR even with SA_RESTART. */
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		set_handler(SIGUSR1, on_plain, SA_RESTART);
		struct timespec ts = { 5, 0 }, rem = { 0, 0 };
		int r = nanosleep(&ts, &rem);
		printf("child: nanosleep %d %s, remaining time left %d\n", r, r ? strerror(errno) : "", rem.tv_sec > 0);
		_exit(0);
	}
	sleep_ms(300);
	kill(child, SIGUSR1);
	int status;
	CHECK(waitpid(child, &status, 0) == child);
	describe("nanosleep child", status);
}

static volatile int chld_code, chld_status, chld_pid_ok;
static volatile pid_t chld_expected;
static void on_chld(int sig, siginfo_t *info, void *uc)
{
	(void)sig;
	(void)uc;
	hits++;
	chld_code = info->si_code;
	chld_status = info->si_status;
	chld_pid_ok = info->si_pid == chld_expected;
}

static void test_sigchld(void)
{
	hits = 0;
	set_info_handler(SIGCHLD, on_chld, SA_RESTART);
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &old);
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0)
		_exit(3);
	chld_expected = child;
	sigset_t none;
	sigemptyset(&none);
	sigsuspend(&none);
	printf("SIGCHLD: %d hits, si_code %d (CLD_EXITED 1), si_status %d, si_pid ok %d\n", (int)hits, chld_code,
	       chld_status, chld_pid_ok);
	int status;
	CHECK(waitpid(child, &status, 0) == child);
	describe("SIGCHLD child", status);

	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		raise(SIGTERM);
		_exit(0);
	}
	chld_expected = child;
	sigsuspend(&none);
	printf("SIGCHLD for a killed child: si_code %d (CLD_KILLED 2), si_status %d\n", chld_code, chld_status);
	CHECK(waitpid(child, &status, 0) == child);
	sigprocmask(SIG_SETMASK, &old, NULL);

	/* SIGCHLD ignored: children leave no zombie, wait finds none. */
	signal(SIGCHLD, SIG_IGN);
	child = fork();
	CHECK(child >= 0);
	if (child == 0)
		_exit(0);
	pid_t r = waitpid(-1, &status, 0);
	printf("SIG_IGN SIGCHLD: waitpid %d %s\n", (int)r, r < 0 ? strerror(errno) : "");
	signal(SIGCHLD, SIG_DFL);
}

static void test_sigpipe(void)
{
	int fds[2];
	CHECK(pipe(fds) == 0);
	close(fds[0]);
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		write(fds[1], "x", 1);
		_exit(0);
	}
	close(fds[1]);
	int status;
	CHECK(waitpid(child, &status, 0) == child);
	describe("write to a pipe with no reader", status);

	CHECK(pipe(fds) == 0);
	close(fds[0]);
	hits = 0;
	set_handler(SIGPIPE, on_plain, 0);
	ssize_t n = write(fds[1], "x", 1);
	printf("SIGPIPE caught: write %d %s, handler ran %d\n", (int)n, strerror(errno), (int)hits);
	signal(SIGPIPE, SIG_IGN);
	n = write(fds[1], "x", 1);
	printf("SIGPIPE ignored: write %d %s\n", (int)n, strerror(errno));
	signal(SIGPIPE, SIG_DFL);
	close(fds[1]);
}

static sigjmp_buf jump;
static volatile int fault_code;
static volatile uintptr_t fault_addr;
static void on_fault(int sig, siginfo_t *info, void *uc)
{
	(void)uc;
	last_sig = sig;
	fault_code = info->si_code;
	fault_addr = (uintptr_t)info->si_addr;
	siglongjmp(jump, 1);
}

static volatile int zero = 0;
static int *volatile bad_ptr = (int *)16;
static int *volatile null_ptr = 0;
static void test_faults(void)
{
	set_info_handler(SIGSEGV, on_fault, 0);
	set_info_handler(SIGFPE, on_fault, 0);
	set_info_handler(SIGILL, on_fault, 0);
	set_info_handler(SIGBUS, on_fault, 0);
	if (sigsetjmp(jump, 1) == 0) {
		*bad_ptr = 1;
		printf("not reached\n");
	}
	printf("SIGSEGV caught: sig %d si_code %d (SEGV_MAPERR 1) si_addr %#lx\n", (int)last_sig, fault_code,
	       (unsigned long)fault_addr);
	char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(ro != MAP_FAILED);
	if (sigsetjmp(jump, 1) == 0) {
		ro[8] = 1;
		printf("not reached\n");
	}
	printf("SIGSEGV on a read-only page: si_code %d (SEGV_ACCERR 2) at the page %d\n", fault_code,
	       fault_addr == (uintptr_t)ro + 8);
	munmap(ro, 4096);
	if (sigsetjmp(jump, 1) == 0) {
		volatile int x = 10 / zero;
		(void)x;
		printf("not reached\n");
	}
	printf("SIGFPE caught: sig %d si_code %d (FPE_INTDIV 1)\n", (int)last_sig, fault_code);
	if (sigsetjmp(jump, 1) == 0) {
		__asm__ volatile("ud2");
		printf("not reached\n");
	}
	printf("SIGILL caught: sig %d si_code %d (ILL_ILLOPN 2)\n", (int)last_sig, fault_code);
	printf("SIGSEGV unblocked after siglongjmp: %d\n", !blocked(SIGSEGV));
	/* Again: the mask was restored by siglongjmp, so a second fault works. */
	if (sigsetjmp(jump, 1) == 0) {
		*null_ptr = 1;
	}
	printf("second SIGSEGV caught: sig %d\n", (int)last_sig);

	hits = 0;
	set_handler(SIGTRAP, on_plain, 0);
	__asm__ volatile("int3");
	printf("SIGTRAP handler returned after int3: %d hits\n", (int)hits);

	/* A fault whose signal is blocked kills (Linux forces it). */
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGSEGV);
		sigprocmask(SIG_BLOCK, &set, NULL);
		*null_ptr = 1;
		_exit(0);
	}
	int status;
	CHECK(waitpid(child, &status, 0) == child);
	describe("fault with SIGSEGV blocked", status);
	signal(SIGSEGV, SIG_DFL);
	signal(SIGFPE, SIG_DFL);
	signal(SIGILL, SIG_DFL);
	signal(SIGBUS, SIG_DFL);
	signal(SIGTRAP, SIG_DFL);
}

static char *alt_base;
static volatile int on_alt, alt_flags;
static void on_altstack_handler(int sig)
{
	(void)sig;
	char local;
	on_alt = &local >= alt_base && &local < alt_base + 65536;
	stack_t now;
	sigaltstack(NULL, &now);
	alt_flags = now.ss_flags;
	hits++;
}

static void test_altstack(void)
{
	alt_base = malloc(65536);
	CHECK(alt_base != NULL);
	stack_t ss = { .ss_sp = alt_base, .ss_flags = 0, .ss_size = 65536 }, old;
	CHECK(sigaltstack(&ss, &old) == 0);
	printf("sigaltstack: old disabled %d\n", (old.ss_flags & SS_DISABLE) != 0);
	set_handler(SIGUSR1, on_altstack_handler, SA_ONSTACK);
	raise(SIGUSR1);
	printf("SA_ONSTACK: on the alternate stack %d, flags inside %d (SS_ONSTACK 1)\n", on_alt, alt_flags);
	set_handler(SIGUSR1, on_altstack_handler, 0);
	raise(SIGUSR1);
	printf("without SA_ONSTACK: on the alternate stack %d\n", on_alt);
	stack_t now;
	sigaltstack(NULL, &now);
	printf("outside: flags %d, size %d\n", now.ss_flags, (int)now.ss_size);
	ss.ss_size = 100;
	int r = sigaltstack(&ss, NULL);
	printf("too small: %d %s\n", r, strerror(errno));
	ss.ss_flags = 99;
	ss.ss_size = 65536;
	r = sigaltstack(&ss, NULL);
	printf("bad flags: %d %s\n", r, strerror(errno));
	ss.ss_flags = SS_DISABLE;
	CHECK(sigaltstack(&ss, NULL) == 0);
	sigaltstack(NULL, &now);
	printf("disabled: %d\n", (now.ss_flags & SS_DISABLE) != 0);
}

/* Handlers that forge the frame sigreturn reads back. */
static int forge;
static void on_forge(int sig, siginfo_t *info, void *ucv)
{
	(void)sig;
	(void)info;
	ucontext_t *uc = ucv;
	switch (forge) {
	case 0: uc->uc_mcontext.gregs[REG_CS] = 0x08; break;  /* kernel code */
	case 1: uc->uc_mcontext.gregs[REG_SS] = 0x10; break;  /* kernel data */
	case 2: uc->uc_mcontext.gregs[REG_EFL] |= 0x3000 | 0x4000 | 0x20000; break; /* IOPL 3, NT, VM: dropped */
	case 3: uc->uc_mcontext.fpregs = (void *)8; break;    /* FPU state at a bad address */
	case 4: uc->uc_mcontext.gregs[REG_EIP] = 0; break;     /* resumes at 0: SIGSEGV in user mode */
	case 5: uc->uc_mcontext.gregs[REG_ESP] = 0x10; break;  /* bad stack: SIGSEGV in user mode */
	}
}

static void test_forged_frames(void)
{
	for (forge = 0; forge < 6; forge++) {
		pid_t child = fork();
		CHECK(child >= 0);
		if (child == 0) {
			set_info_handler(SIGUSR1, on_forge, 0);
			raise(SIGUSR1);
			printf("forged frame %d: survived\n", forge);
			_exit(0);
		}
		int status;
		CHECK(waitpid(child, &status, 0) == child);
		char what[32];
		snprintf(what, sizeof what, "forged frame %d", forge);
		describe(what, status);
	}

	/* A frame that cannot be written (the alternate stack is read-only). */
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		char *ro = mmap(NULL, 65536, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		stack_t ss = { .ss_sp = ro, .ss_flags = 0, .ss_size = 65536 };
		CHECK(sigaltstack(&ss, NULL) == 0);
		set_handler(SIGUSR1, on_plain, SA_ONSTACK);
		raise(SIGUSR1);
		printf("unwritable frame: survived\n");
		_exit(0);
	}
	int status;
	CHECK(waitpid(child, &status, 0) == child);
	describe("unwritable signal frame", status);
}

static void test_default_actions(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGALRM, SIGQUIT, SIGABRT, SIGKILL };
	for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		pid_t child = fork();
		CHECK(child >= 0);
		if (child == 0) {
			for (int s = 1; s < 32; s++)
				signal(s, SIG_DFL);
			sigset_t none;
			sigemptyset(&none);
			sigprocmask(SIG_SETMASK, &none, NULL);
			for (;;)
				pause();
		}
		sleep_ms(50);
		CHECK(kill(child, sigs[i]) == 0);
		int status;
		CHECK(waitpid(child, &status, 0) == child);
		printf("default action of %d: killed %d by %d\n", sigs[i], WIFSIGNALED(status), WTERMSIG(status));
	}
	/* Ignored by default: the child carries on. */
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		raise(SIGCHLD);
		raise(SIGWINCH);
		raise(SIGURG);
		_exit(5);
	}
	int status;
	CHECK(waitpid(child, &status, 0) == child);
	describe("SIGCHLD, SIGWINCH, SIGURG by default", status);
}

static void test_timers(void)
{
	hits = 0;
	set_handler(SIGALRM, on_plain, 0);
	printf("alarm(0) with none armed: %u\n", alarm(0));
	alarm(10);
	unsigned left = alarm(1);
	printf("alarm(1) after alarm(10): %u left\n", left);
	int r = pause();
	printf("pause: %d %s, SIGALRM %d hits\n", r, strerror(errno), (int)hits);

	struct itimerval it = { { 0, 50000 }, { 0, 50000 } }, old, cur;
	CHECK(setitimer(ITIMER_REAL, &it, &old) == 0);
	printf("no timer before: %d\n", old.it_value.tv_sec == 0 && old.it_value.tv_usec == 0);
	hits = 0;
	while (hits < 3)
		pause();
	CHECK(getitimer(ITIMER_REAL, &cur) == 0);
	printf("interval timer: %d ticks, interval %ld us, still armed %d\n", (int)hits, (long)cur.it_interval.tv_usec,
	       cur.it_value.tv_sec != 0 || cur.it_value.tv_usec != 0);
	struct itimerval off;
	memset(&off, 0, sizeof off);
	CHECK(setitimer(ITIMER_REAL, &off, &old) == 0);
	CHECK(getitimer(ITIMER_REAL, &cur) == 0);
	printf("disarmed: old interval %ld us, now %ld %ld\n", (long)old.it_interval.tv_usec, (long)cur.it_value.tv_sec,
	       (long)cur.it_value.tv_usec);
	it.it_value.tv_usec = 1000000;
	r = setitimer(ITIMER_REAL, &it, NULL);
	printf("tv_usec 1000000: %d %s\n", r, strerror(errno));

	/* A one-shot SIGALRM interrupts wait4 (EINTR), or not (SA_RESTART). */
	for (int restart = 0; restart < 2; restart++) {
		pid_t child = fork();
		CHECK(child >= 0);
		if (child == 0) {
			sleep_ms(600);
			_exit(4);
		}
		hits = 0;
		set_handler(SIGALRM, on_plain, restart ? SA_RESTART : 0);
		struct itimerval once = { { 0, 0 }, { 0, 200000 } };
		CHECK(setitimer(ITIMER_REAL, &once, NULL) == 0);
		int status;
		pid_t w = waitpid(child, &status, 0);
		printf("waitpid with SIGALRM (%s): %s, handler ran %d\n", restart ? "SA_RESTART" : "no SA_RESTART",
		       w == child ? "the child" : strerror(errno), (int)hits);
		if (w != child)
			CHECK(waitpid(child, &status, 0) == child);
		describe("waited child", status);
	}

	/* SIGALRM's default action ends the process. */
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		signal(SIGALRM, SIG_DFL);
		struct itimerval once = { { 0, 0 }, { 0, 100000 } };
		setitimer(ITIMER_REAL, &once, NULL);
		for (;;)
			pause();
	}
	int status;
	CHECK(waitpid(child, &status, 0) == child);
	describe("SIGALRM by default", status);
	signal(SIGALRM, SIG_DFL);
}

/* Process groups and sessions, relative to this process (its own group
 * and session differ between a shell job and the test harness). */
static void test_groups(void)
{
	int ready[2];
	CHECK(pipe(ready) == 0);
	pid_t a = fork();
	CHECK(a >= 0);
	if (a == 0) {
		CHECK(setpgid(0, 0) == 0);
		printf("child A: leads its group %d\n", getpgrp() == getpid());
		CHECK(write(ready[1], "a", 1) == 1);
		for (;;)
			pause();
	}
	char c;
	CHECK(read(ready[0], &c, 1) == 1);
	printf("parent sees A's group: %d, parent's group unchanged: %d\n", getpgid(a) == a, getpgid(0) == getpgrp());
	pid_t b = fork();
	CHECK(b >= 0);
	if (b == 0) {
		CHECK(setpgid(0, a) == 0);
		printf("child B: joined A's group %d\n", getpgrp() == a);
		CHECK(write(ready[1], "b", 1) == 1);
		for (;;)
			pause();
	}
	CHECK(read(ready[0], &c, 1) == 1);
	CHECK(kill(-a, SIGTERM) == 0);
	int status;
	CHECK(waitpid(a, &status, 0) == a);
	describe("group kill: A", status);
	CHECK(waitpid(b, &status, 0) == b);
	describe("group kill: B", status);
	CHECK(kill(-a, 0) < 0);
	printf("kill of a group that is gone: %s\n", strerror(errno));
	int r = getpgid(999999);
	printf("getpgid(999999): %d %s\n", r, strerror(errno));
	r = setpgid(0, 999999);
	printf("setpgid into a group that does not exist: %d %s\n", r, strerror(errno));

	pid_t s = fork();
	CHECK(s >= 0);
	if (s == 0) {
		pid_t sid = setsid();
		printf("setsid in a child: new session %d, leads group %d, getsid %d\n", sid == getpid(),
		       getpgrp() == getpid(), getsid(0) == getpid());
		r = setsid();
		printf("setsid again: %d %s\n", r, strerror(errno));
		r = setpgid(0, 0);
		printf("setpgid of a session leader: %d %s\n", r, strerror(errno));
		_exit(0);
	}
	CHECK(waitpid(s, &status, 0) == s);
	describe("setsid child", status);

	/* kill(0, sig) reaches the caller's own group: here a child that made
	 * its own group and forked a grandchild into it. */
	pid_t g = fork();
	CHECK(g >= 0);
	if (g == 0) {
		setpgid(0, 0);
		signal(SIGUSR1, SIG_DFL);
		pid_t gc = fork();
		if (gc == 0) {
			for (;;)
				pause();
		}
		signal(SIGUSR1, SIG_IGN);
		sleep_ms(200);
		kill(0, SIGUSR1);
		int st;
		waitpid(gc, &st, 0);
		describe("grandchild after kill(0, SIGUSR1)", st);
		_exit(0);
	}
	CHECK(waitpid(g, &status, 0) == g);
	describe("kill(0) child", status);
	close(ready[0]);
	close(ready[1]);
}

static volatile int got_int;
static void on_int(int sig)
{
	(void)sig;
	got_int++;
}

/* Kernel-only (needs the console): Ctrl-C interrupts a console read with
 * EINTR and runs the handler; the program is the foreground group; then
 * it waits for Ctrl-\ (SIGQUIT, default action). */
static int console_mode(void)
{
	pid_t fg = tcgetpgrp(0);
	printf("console: foreground group is mine %d\n", fg == getpgrp());
	set_handler(SIGINT, on_int, 0);
	printf("console: type Ctrl-C\n");
	char buf[16];
	ssize_t n = read(0, buf, sizeof buf);
	printf("console: read %d %s, SIGINT handler ran %d\n", (int)n, n < 0 ? strerror(errno) : "", (int)got_int);
	printf("console: type Ctrl-\\\n");
	for (;;)
		if (read(0, buf, sizeof buf) == 0)
			return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 1 && !strcmp(argv[1], "console"))
		return console_mode();
	test_basic_handler();
	test_siginfo();
	test_nodefer_resethand();
	test_mask_and_pending();
	test_sigsuspend_and_kill();
	test_restart();
	test_sigchld();
	test_sigpipe();
	test_faults();
	test_altstack();
	test_forged_frames();
	test_default_actions();
	test_timers();
	test_groups();
	printf("signals: done\n");
	return 0;
}
