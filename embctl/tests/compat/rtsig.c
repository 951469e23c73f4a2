/* Real-time signals: SIGRTMIN..SIGRTMAX queue (every one sent is
 * delivered, oldest first, lowest signal first) with their values:
 * sigqueue (rt_sigqueueinfo) and rt_tgsigqueueinfo hand si_value, si_pid,
 * si_uid and si_code to SA_SIGINFO handlers; standard signals merge; the
 * queue is bounded by RLIMIT_SIGPENDING (sigqueue gets EAGAIN past it,
 * kill's signal is still pending); EPERM for a forged si_code to another
 * process. Output is unbuffered and free of pids. */
#define _GNU_SOURCE
#include "compat.h"
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* The handler's record: "sig/code/value" per delivery. */
static char log_buf[2048];
static volatile int log_len;
static volatile pid_t expected_pid;
static volatile int pid_ok = 1;

static void on_signal(int sig, siginfo_t *info, void *uc)
{
	(void)uc;
	const char *name = sig == SIGUSR1 ? "USR1" : sig >= SIGRTMIN ? "RT" : "?";
	int rel = sig >= SIGRTMIN ? sig - SIGRTMIN : 0;
	if (info->si_signo != sig)
		pid_ok = 0;
	if (info->si_code == SI_QUEUE || info->si_code == SI_USER || info->si_code == SI_TKILL) {
		if (info->si_pid != expected_pid || info->si_uid != getuid())
			pid_ok = 0;
	}
	if (info->si_code == SI_QUEUE)
		log_len += snprintf(log_buf + log_len, sizeof log_buf - log_len, " %s%d/%s/%d", name, rel,
				    si_code_name(info->si_code), info->si_value.sival_int);
	else
		log_len += snprintf(log_buf + log_len, sizeof log_buf - log_len, " %s%d/%s", name, rel,
				    si_code_name(info->si_code));
}

static void flush_log(const char *what)
{
	printf("%s:%s\n", what, log_buf);
	log_len = 0;
	log_buf[0] = 0;
}

static void install(int sig)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO;
	/* One handler at a time: the order of deliveries is the queue's. */
	sigfillset(&sa.sa_mask);
	CHECK(sigaction(sig, &sa, NULL) == 0);
}

static sigset_t rt_set(void)
{
	sigset_t set;
	sigemptyset(&set);
	for (int s = SIGRTMIN; s <= SIGRTMIN + 4; s++)
		sigaddset(&set, s);
	sigaddset(&set, SIGUSR1);
	return set;
}

static int queue_to(pid_t pid, int sig, int value)
{
	union sigval v;
	v.sival_int = value;
	return sigqueue(pid, sig, v);
}

static void order_and_values(void)
{
	sigset_t set = rt_set(), pending;
	CHECK(sigprocmask(SIG_BLOCK, &set, NULL) == 0);
	expected_pid = getpid();
	CHECK(queue_to(getpid(), SIGRTMIN + 1, 10) == 0);
	CHECK(queue_to(getpid(), SIGRTMIN, 20) == 0);
	CHECK(queue_to(getpid(), SIGRTMIN + 1, 11) == 0);
	CHECK(kill(getpid(), SIGRTMIN) == 0);
	CHECK(queue_to(getpid(), SIGRTMIN + 1, 12) == 0);
	CHECK(kill(getpid(), SIGUSR1) == 0);
	CHECK(kill(getpid(), SIGUSR1) == 0);
	CHECK(queue_to(getpid(), SIGRTMIN + 4, -7) == 0);
	CHECK(sigpending(&pending) == 0);
	printf("pending: usr1 %d rt0 %d rt1 %d rt2 %d rt4 %d\n", sigismember(&pending, SIGUSR1),
	       sigismember(&pending, SIGRTMIN), sigismember(&pending, SIGRTMIN + 1),
	       sigismember(&pending, SIGRTMIN + 2), sigismember(&pending, SIGRTMIN + 4));
	CHECK(sigprocmask(SIG_UNBLOCK, &set, NULL) == 0);
	flush_log("delivered");
	CHECK(sigpending(&pending) == 0);
	printf("pending after: rt1 %d\n", sigismember(&pending, SIGRTMIN + 1));
	printf("sender pid and uid right: %s\n", pid_ok ? "yes" : "no");
}

static void to_thread_with_tgsigqueueinfo(void)
{
	sigset_t set = rt_set();
	CHECK(sigprocmask(SIG_BLOCK, &set, NULL) == 0);
	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_signo = SIGRTMIN + 2;
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value.sival_int = 42;
	expected_pid = getpid();
	pid_t tid = syscall(SYS_gettid);
	CHECK(syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, SIGRTMIN + 2, &si) == 0);
	si.si_value.sival_int = 43;
	CHECK(syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, SIGRTMIN + 2, &si) == 0);
	CHECK(syscall(SYS_rt_tgsigqueueinfo, getpid(), 0x3fffffff, SIGRTMIN + 2, &si) == -1);
	printf("tgsigqueueinfo to no such thread: %s\n", strerror(errno));
	CHECK(sigprocmask(SIG_UNBLOCK, &set, NULL) == 0);
	flush_log("to this thread");
}

/* A child sends its parent values; the parent sees the child as sender. */
static void from_a_child(void)
{
	sigset_t set = rt_set();
	CHECK(sigprocmask(SIG_BLOCK, &set, NULL) == 0);
	pid_t parent = getpid();
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		for (int i = 0; i < 3; i++)
			CHECK(queue_to(parent, SIGRTMIN + 3, 100 + i) == 0);
		/* A forged si_code (kill's) to another process is refused. */
		siginfo_t si;
		memset(&si, 0, sizeof si);
		si.si_code = SI_USER;
		errno = 0;
		int r = syscall(SYS_rt_sigqueueinfo, parent, SIGRTMIN + 3, &si);
		_exit(r == -1 && errno == EPERM ? 0 : 1);
	}
	int status;
	CHECK(waitpid(child, &status, 0) == child);
	describe("child", status);
	expected_pid = child;
	CHECK(sigprocmask(SIG_UNBLOCK, &set, NULL) == 0);
	flush_log("from the child");
	printf("sender was the child: %s\n", pid_ok ? "yes" : "no");
	pid_ok = 1;
}

/* RLIMIT_SIGPENDING bounds the queue: sigqueue fails with EAGAIN past
 * it; kill's real-time signal is still pending (without its value). Linux
 * counts queued signals per user, and other programs of the same user may
 * hold some: with a limit of 0 nothing queues, with 8 at most 8 do. */
static void queue_limit(void)
{
	struct rlimit old, none, small = { 8, 8 }, bad = { 9, 8 }, now;
	CHECK(getrlimit(RLIMIT_SIGPENDING, &old) == 0);
	none.rlim_cur = 0;
	none.rlim_max = old.rlim_max;
	printf("limit 0: %s\n", setrlimit(RLIMIT_SIGPENDING, &none) == 0 ? "ok" : strerror(errno));
	sigset_t set = rt_set();
	CHECK(sigprocmask(SIG_BLOCK, &set, NULL) == 0);
	printf("sigqueue: %s\n", queue_to(getpid(), SIGRTMIN + 2, 1) == 0 ? "ok" : strerror(errno));
	printf("kill: %s\n", kill(getpid(), SIGRTMIN + 2) == 0 ? "ok" : strerror(errno));
	printf("kill again: %s\n", kill(getpid(), SIGRTMIN + 2) == 0 ? "ok" : strerror(errno));
	expected_pid = getpid();
	CHECK(sigprocmask(SIG_UNBLOCK, &set, NULL) == 0);
	flush_log("without room");
	pid_ok = 1;

	printf("limit 8: %s\n", setrlimit(RLIMIT_SIGPENDING, &small) == 0 ? "ok" : strerror(errno));
	CHECK(getrlimit(RLIMIT_SIGPENDING, &now) == 0);
	printf("limit now: %lu %lu\n", (unsigned long)now.rlim_cur, (unsigned long)now.rlim_max);
	printf("soft above hard: %s\n", setrlimit(RLIMIT_SIGPENDING, &bad) == 0 ? "ok" : strerror(errno));
	CHECK(sigprocmask(SIG_BLOCK, &set, NULL) == 0);
	int queued = 0;
	while (queued < 100 && queue_to(getpid(), SIGRTMIN + 2, queued) == 0)
		queued++;
	printf("queued 1 to 8: %s, then: %s\n", queued >= 1 && queued <= 8 ? "yes" : "no", strerror(errno));
	CHECK(sigprocmask(SIG_UNBLOCK, &set, NULL) == 0);
	char want[512];
	int len = 0;
	for (int i = 0; i < queued; i++)
		len += snprintf(want + len, sizeof want - len, " RT2/queue/%d", i);
	printf("drained in order: %s\n", strcmp(want, log_buf) == 0 ? "yes" : log_buf);
	log_len = 0;
	log_buf[0] = 0;
	/* Room again once they are taken. */
	CHECK(sigprocmask(SIG_BLOCK, &set, NULL) == 0);
	printf("queue after draining: %s\n", queue_to(getpid(), SIGRTMIN + 2, 1) == 0 ? "ok" : strerror(errno));
	CHECK(sigprocmask(SIG_UNBLOCK, &set, NULL) == 0);
	flush_log("then");
	pid_ok = 1;
}

/* Ignoring a real-time signal drops every queued instance of it. */
static void ignore_drops_the_queue(void)
{
	sigset_t set = rt_set(), pending;
	CHECK(sigprocmask(SIG_BLOCK, &set, NULL) == 0);
	for (int i = 0; i < 3; i++)
		CHECK(queue_to(getpid(), SIGRTMIN + 4, i) == 0);
	CHECK(signal(SIGRTMIN + 4, SIG_IGN) != SIG_ERR);
	CHECK(sigpending(&pending) == 0);
	printf("ignored, still pending: %d\n", sigismember(&pending, SIGRTMIN + 4));
	install(SIGRTMIN + 4);
	CHECK(sigprocmask(SIG_UNBLOCK, &set, NULL) == 0);
	flush_log("after ignoring");
}

/* Bad signal numbers. */
static void errors(void)
{
	union sigval v = { 0 };
	errno = 0;
	printf("sigqueue of signal 65: %s\n", sigqueue(getpid(), 65, v) == 0 ? "ok" : strerror(errno));
	printf("sigqueue of signal 0: %s\n", sigqueue(getpid(), 0, v) == 0 ? "ok" : strerror(errno));
	errno = 0;
	printf("sigqueue with a bad siginfo: %s\n",
	       syscall(SYS_rt_sigqueueinfo, getpid(), SIGRTMIN, (void *)16) == 0 ? "ok" : strerror(errno));
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	printf("rt signals: %d of them\n", SIGRTMAX - SIGRTMIN + 1);
	for (int s = SIGRTMIN; s <= SIGRTMIN + 4; s++)
		install(s);
	install(SIGUSR1);
	order_and_values();
	to_thread_with_tgsigqueueinfo();
	from_a_child();
	queue_limit();
	ignore_drops_the_queue();
	errors();
	printf("done\n");
	return 0;
}
