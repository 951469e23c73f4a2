/* A signal sent to the process (kill, sigqueue) waits in a set the
 * threads share (Linux's shared_pending), not in one thread's: a thread
 * that did not exist when it was sent, or that was not chosen, sees it in
 * sigtimedwait, a signalfd, sigpending and sigsuspend; delivery goes to a
 * thread that does not block it (one that unblocks it later takes it at
 * once). A sigtimedwait ended by a stop and a continue returns EINTR.
 * Output is unbuffered and free of pids and times. */
#define _GNU_SOURCE
#include "compat.h"
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pid_t tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static sigset_t only(int sig)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, sig);
	return set;
}

static volatile pid_t handled_in;
static volatile int handled;
static void on_signal(int sig)
{
	(void)sig;
	handled_in = tid();
	handled++;
}

/* Runs `fn` in a new thread (which inherits the caller's mask) and joins it. */
static void in_thread(void *(*fn)(void *))
{
	pthread_t t;
	CHECK(pthread_create(&t, NULL, fn, NULL) == 0);
	CHECK(pthread_join(t, NULL) == 0);
}

static void *timedwait_thread(void *arg)
{
	(void)arg;
	sigset_t set = only(SIGUSR1);
	struct timespec zero = { 0, 0 };
	siginfo_t si;
	errno = 0;
	int r = sigtimedwait(&set, &si, &zero);
	printf("other thread's sigtimedwait: %s, code %s\n", r == SIGUSR1 ? "SIGUSR1" : strerror(errno),
	       r == SIGUSR1 ? si_code_name(si.si_code) : "-");
	errno = 0;
	r = sigtimedwait(&set, &si, &zero);
	printf("taken once: %s\n", r < 0 && errno == EAGAIN ? "yes" : "no");
	return NULL;
}

static void *queue_thread(void *arg)
{
	(void)arg;
	sigset_t set = only(SIGRTMIN + 1);
	struct timespec zero = { 0, 0 };
	siginfo_t si;
	for (int i = 0; i < 3; i++) {
		int r = sigtimedwait(&set, &si, &zero);
		if (r < 0)
			printf("queued value %d: %s\n", i, strerror(errno));
		else
			printf("queued value %d: %d %s\n", i, si.si_value.sival_int, si_code_name(si.si_code));
	}
	return NULL;
}

static void *signalfd_thread(void *arg)
{
	(void)arg;
	sigset_t set = only(SIGUSR2);
	int fd = signalfd(-1, &set, SFD_NONBLOCK);
	CHECK(fd >= 0);
	struct signalfd_siginfo rec;
	ssize_t n = read(fd, &rec, sizeof rec);
	printf("other thread's signalfd read: %s\n", n == sizeof rec && rec.ssi_signo == SIGUSR2 ? "SIGUSR2" : strerror(errno));
	errno = 0;
	n = read(fd, &rec, sizeof rec);
	printf("then: %s\n", n < 0 ? strerror(errno) : "a record");
	close(fd);
	return NULL;
}

static void *sigpending_thread(void *arg)
{
	(void)arg;
	sigset_t set;
	CHECK(sigpending(&set) == 0);
	printf("other thread's sigpending has SIGUSR1: %s\n", sigismember(&set, SIGUSR1) ? "yes" : "no");
	return NULL;
}

static volatile pid_t suspend_tid;
static void *sigsuspend_thread(void *arg)
{
	(void)arg;
	suspend_tid = tid();
	sigset_t none;
	sigemptyset(&none);
	int r = sigsuspend(&none);
	printf("other thread's sigsuspend: %d %s, handler ran there: %s\n", r, strerror(errno),
	       handled == 1 && handled_in == suspend_tid ? "yes" : "no");
	return NULL;
}

/* Every thread blocks SIGUSR1 but one, which waits in pause: the
 * process's signal goes to it. */
static volatile int waiter_ready;
static volatile pid_t waiter_tid;
static void *unblocked_waiter(void *arg)
{
	(void)arg;
	waiter_tid = tid();
	sigset_t set = only(SIGUSR1);
	CHECK(pthread_sigmask(SIG_UNBLOCK, &set, NULL) == 0);
	waiter_ready = 1;
	while (!handled)
		pause();
	return NULL;
}

static void *late_unblocker(void *arg)
{
	(void)arg;
	pid_t me = tid();
	sigset_t set = only(SIGUSR1);
	CHECK(pthread_sigmask(SIG_UNBLOCK, &set, NULL) == 0);
	printf("unblocking thread took it at once: %s\n", handled == 1 && handled_in == me ? "yes" : "no");
	return NULL;
}

static void stop_and_continue(void)
{
	int ready[2];
	CHECK(pipe(ready) == 0);
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		sigset_t set = only(SIGUSR1);
		CHECK(sigprocmask(SIG_BLOCK, &set, NULL) == 0);
		struct timespec wait = { 20, 0 };
		CHECK(write(ready[1], "r", 1) == 1);
		errno = 0;
		int r = sigtimedwait(&set, NULL, &wait);
		printf("sigtimedwait after stop and continue: %d %s\n", r, r < 0 ? strerror(errno) : "signal");
		_exit(0);
	}
	char c;
	CHECK(read(ready[0], &c, 1) == 1);
	sleep_ms(300); /* the child is in sigtimedwait by now */
	CHECK(kill(child, SIGSTOP) == 0);
	int status;
	CHECK(waitpid(child, &status, WUNTRACED) == child);
	printf("child stopped: %s\n", WIFSTOPPED(status) ? "yes" : "no");
	CHECK(kill(child, SIGCONT) == 0);
	CHECK(waitpid(child, &status, 0) == child);
	describe("child", status);
	close(ready[0]);
	close(ready[1]);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	set_handler(SIGUSR1, on_signal, 0);
	sigset_t usr1 = only(SIGUSR1), usr2 = only(SIGUSR2), rt = only(SIGRTMIN + 1);
	CHECK(sigprocmask(SIG_BLOCK, &usr1, NULL) == 0);
	CHECK(sigprocmask(SIG_BLOCK, &usr2, NULL) == 0);
	CHECK(sigprocmask(SIG_BLOCK, &rt, NULL) == 0);

	/* Sent before the thread exists; the thread takes it. */
	CHECK(kill(getpid(), SIGUSR1) == 0);
	in_thread(sigpending_thread);
	in_thread(timedwait_thread);
	sigset_t pending;
	CHECK(sigpending(&pending) == 0);
	printf("still pending for the main thread: %s\n", sigismember(&pending, SIGUSR1) ? "yes" : "no");

	for (int i = 0; i < 3; i++) {
		union sigval v = { .sival_int = 10 + i };
		CHECK(sigqueue(getpid(), SIGRTMIN + 1, v) == 0);
	}
	in_thread(queue_thread);

	CHECK(kill(getpid(), SIGUSR2) == 0);
	in_thread(signalfd_thread);

	CHECK(kill(getpid(), SIGUSR1) == 0);
	in_thread(sigsuspend_thread);
	CHECK(sigpending(&pending) == 0);
	printf("after the thread's handler, pending: %s\n", sigismember(&pending, SIGUSR1) ? "yes" : "no");

	/* The one thread that does not block it gets it. */
	handled = 0;
	handled_in = 0;
	pthread_t t;
	CHECK(pthread_create(&t, NULL, unblocked_waiter, NULL) == 0);
	while (!waiter_ready)
		sched_yield();
	CHECK(kill(getpid(), SIGUSR1) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	printf("handler ran in the thread that does not block it: %s (%d)\n", handled_in == waiter_tid ? "yes" : "no",
	       handled);

	/* Every thread blocks it; the first to unblock it takes it. */
	handled = 0;
	handled_in = 0;
	CHECK(kill(getpid(), SIGUSR1) == 0);
	in_thread(late_unblocker);
	printf("main thread's handler ran: %s\n", handled == 1 && handled_in == getpid() ? "yes" : "no");

	stop_and_continue();
	printf("done\n");
	return 0;
}
