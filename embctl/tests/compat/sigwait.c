/* Waiting for signals instead of catching them: sigtimedwait (glibc's
 * rt_sigtimedwait_time64, musl's rt_sigtimedwait), sigwaitinfo and sigwait
 * take pending signals with their siginfo (lowest first, real-time ones
 * queued), time out with EAGAIN, end with EINTR when a handled signal
 * comes; signalfd/signalfd4 read them as signalfd_siginfo records, are
 * readable for poll and select while one is pending, honour SFD_NONBLOCK
 * and SFD_CLOEXEC, change their mask, and read the reader's own signals
 * after fork. Output is unbuffered and free of pids and times. */
#define _GNU_SOURCE
#include "compat.h"
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/select.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Prints what a call returned and errno's name, the call made first. */
#define SHOW(what, call)                                                   \
	do {                                                               \
		errno = 0;                                                 \
		long long r_ = (long long)(call);                          \
		printf("%s: %lld %s\n", what, r_, r_ < 0 ? strerror(errno) : "ok"); \
	} while (0)

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static int rel(int sig)
{
	return sig >= SIGRTMIN ? sig - SIGRTMIN : -sig;
}

static void block(int sig)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, sig);
	CHECK(sigprocmask(SIG_BLOCK, &set, NULL) == 0);
}

static int queue_to(pid_t pid, int sig, int value)
{
	union sigval v;
	v.sival_int = value;
	return sigqueue(pid, sig, v);
}

static volatile int usr1_caught;
static void on_usr1(int sig)
{
	(void)sig;
	usr1_caught++;
}

static void timed_waits(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN + 3);
	struct timespec zero = { 0, 0 }, short_wait = { 0, 60 * 1000000L }, bad = { 0, 1000000000L };
	siginfo_t si;
	SHOW("nothing pending, no wait", sigtimedwait(&set, &si, &zero));
	long long start = now_ms();
	errno = 0;
	int r = sigtimedwait(&set, &si, &short_wait);
	printf("nothing pending, 60 ms: %d %s, waited long enough: %s\n", r, strerror(errno),
	       now_ms() - start >= 55 ? "yes" : "no");
	SHOW("bad timeout", sigtimedwait(&set, &si, &bad));
	/* The raw 32-bit call (musl's; glibc calls the time64 one). */
	struct {
		int32_t sec, nsec;
	} ts32 = { 0, 0 };
	SHOW("rt_sigtimedwait 32-bit", syscall(SYS_rt_sigtimedwait, &set, &si, &ts32, 8));
	SHOW("bad set size", syscall(SYS_rt_sigtimedwait, &set, &si, &ts32, 4));
}

static void takes_in_order(void)
{
	block(SIGUSR1);
	block(SIGRTMIN);
	block(SIGRTMIN + 1);
	CHECK(queue_to(getpid(), SIGRTMIN + 1, 5) == 0);
	CHECK(queue_to(getpid(), SIGRTMIN, 6) == 0);
	CHECK(queue_to(getpid(), SIGRTMIN + 1, 7) == 0);
	CHECK(kill(getpid(), SIGUSR1) == 0);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGRTMIN);
	sigaddset(&set, SIGRTMIN + 1);
	printf("taken:");
	for (int i = 0; i < 4; i++) {
		siginfo_t si;
		int sig = sigwaitinfo(&set, &si);
		CHECK(sig > 0);
		printf(" %d/%s", rel(sig), si_code_name(si.si_code));
		if (si.si_code == SI_QUEUE)
			printf("/%d", si.si_value.sival_int);
		if (si.si_pid != getpid())
			printf("/wrong-pid");
	}
	printf("\n");
	struct timespec zero = { 0, 0 };
	SHOW("then", sigtimedwait(&set, NULL, &zero));
	/* sigwait: the number only. */
	CHECK(kill(getpid(), SIGRTMIN) == 0);
	int sig = 0;
	CHECK(sigwait(&set, &sig) == 0);
	printf("sigwait: %d\n", rel(sig));
}

/* A child's signals wake a parent blocked in sigwaitinfo. */
static void woken_by_a_child(void)
{
	block(SIGRTMIN + 2);
	block(SIGCHLD);
	pid_t parent = getpid();
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		sleep_ms(50);
		CHECK(queue_to(parent, SIGRTMIN + 2, 77) == 0);
		sleep_ms(20);
		_exit(3);
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN + 2);
	siginfo_t si;
	int sig = sigwaitinfo(&set, &si);
	printf("from the child: %d/%s/%d, sender is the child: %s\n", rel(sig), si_code_name(si.si_code), si.si_value.sival_int,
	       si.si_pid == child ? "yes" : "no");
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sig = sigwaitinfo(&set, &si);
	printf("its end: %s %s status %d, pid right: %s\n", sig == SIGCHLD ? "SIGCHLD" : "?", si_code_name(si.si_code),
	       si.si_status, si.si_pid == child ? "yes" : "no");
	int status;
	CHECK(waitpid(child, &status, 0) == child);
}

/* A handled signal that is not waited for ends the wait with EINTR. */
static void interrupted_by_a_handler(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	sigset_t unblock;
	sigemptyset(&unblock);
	sigaddset(&unblock, SIGUSR1);
	CHECK(sigprocmask(SIG_UNBLOCK, &unblock, NULL) == 0);
	pid_t parent = getpid();
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		sleep_ms(50);
		kill(parent, SIGUSR1);
		_exit(0);
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN + 3);
	/* (musl's sigtimedwait calls again after EINTR: the time is short.) */
	struct timespec ts = { 0, 300 * 1000000L };
	errno = 0;
	int r = sigtimedwait(&set, NULL, &ts);
	printf("interrupted: %d %s, handler ran: %d\n", r, strerror(errno), usr1_caught);
	int status;
	CHECK(waitpid(child, &status, 0) == child);
}

/* A signal for the process goes to the thread waiting for it. */
static void *send_to_process(void *arg)
{
	(void)arg;
	sleep_ms(30);
	CHECK(kill(getpid(), SIGUSR2) == 0);
	return NULL;
}

static void another_thread_sends(void)
{
	block(SIGUSR2);
	pthread_t t;
	CHECK(pthread_create(&t, NULL, send_to_process, NULL) == 0);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	int sig = 0;
	CHECK(sigwait(&set, &sig) == 0);
	printf("from a thread: %s\n", sig == SIGUSR2 ? "SIGUSR2" : "?");
	CHECK(pthread_join(t, NULL) == 0);
}

static void print_records(const char *what, struct signalfd_siginfo *r, int n)
{
	printf("%s:", what);
	for (int i = 0; i < n; i++) {
		printf(" %d/%s", rel(r[i].ssi_signo), si_code_name(r[i].ssi_code));
		if (r[i].ssi_code == SI_QUEUE)
			printf("/%d/%llu", r[i].ssi_int, (unsigned long long)r[i].ssi_ptr);
		if (r[i].ssi_pid != (uint32_t)getpid())
			printf("/other-pid");
	}
	printf("\n");
}

static void signalfd_basics(void)
{
	block(SIGUSR1);
	block(SIGRTMIN);
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGRTMIN);
	int fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	CHECK(fd >= 0);
	printf("cloexec: %d, nonblock: %d\n", (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0, (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
	struct signalfd_siginfo rec[4];
	SHOW("empty read", read(fd, rec, sizeof rec));
	struct pollfd pfd = { fd, POLLIN, 0 };
	printf("poll, nothing pending: %d\n", poll(&pfd, 1, 0));
	CHECK(kill(getpid(), SIGUSR1) == 0);
	CHECK(queue_to(getpid(), SIGRTMIN, 9) == 0);
	CHECK(queue_to(getpid(), SIGRTMIN, 10) == 0);
	CHECK(queue_to(getpid(), SIGRTMIN, 11) == 0);
	pfd.revents = 0;
	int polled = poll(&pfd, 1, 0);
	printf("poll, pending: %d revents %#x\n", polled, pfd.revents);
	fd_set rd;
	FD_ZERO(&rd);
	FD_SET(fd, &rd);
	struct timeval tv = { 0, 0 };
	int selected = select(fd + 1, &rd, NULL, NULL, &tv);
	printf("select, pending: %d %d\n", selected, FD_ISSET(fd, &rd) != 0);
	SHOW("short buffer", read(fd, rec, sizeof rec[0] - 1));
	ssize_t n = read(fd, rec, 3 * sizeof rec[0]);
	printf("read %zd bytes\n", n);
	print_records("records", rec, n / (int)sizeof rec[0]);
	n = read(fd, rec, sizeof rec);
	print_records("the rest", rec, n / (int)sizeof rec[0]);
	pfd.revents = 0;
	printf("poll after: %d\n", poll(&pfd, 1, 0));
	SHOW("write", write(fd, rec, sizeof rec[0]));
	SHOW("lseek", lseek(fd, 0, SEEK_SET));

	/* A new mask through the same descriptor. */
	sigset_t only_rt;
	sigemptyset(&only_rt);
	sigaddset(&only_rt, SIGRTMIN);
	printf("new mask: same fd %d\n", signalfd(fd, &only_rt, 0) == fd);
	CHECK(kill(getpid(), SIGUSR1) == 0);
	pfd.revents = 0;
	printf("poll, only SIGUSR1 pending: %d\n", poll(&pfd, 1, 0));
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	int sig;
	CHECK(sigwait(&set, &sig) == 0);

	/* Errors. */
	int pipefd[2];
	CHECK(pipe(pipefd) == 0);
	SHOW("on a pipe", signalfd(pipefd[0], &mask, 0));
	SHOW("bad flags", signalfd(-1, &mask, 0x10));
	SHOW("bad size", syscall(SYS_signalfd4, -1, &mask, 4, 0));
	SHOW("not open", signalfd(77, &mask, 0));
	close(pipefd[0]);
	close(pipefd[1]);

	/* After fork the child reads its own signals, not the parent's. */
	CHECK(queue_to(getpid(), SIGRTMIN, 12) == 0);
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		errno = 0;
		ssize_t r = read(fd, rec, sizeof rec);
		int empty = r < 0 && errno == EAGAIN;
		CHECK(queue_to(getpid(), SIGRTMIN, 13) == 0);
		r = read(fd, rec, sizeof rec);
		_exit(empty && r == (ssize_t)sizeof rec[0] && rec[0].ssi_int == 13 ? 0 : 1);
	}
	int status;
	CHECK(waitpid(child, &status, 0) == child);
	describe("child's own signals", status);
	n = read(fd, rec, sizeof rec);
	print_records("parent's", rec, n / (int)sizeof rec[0]);
	close(fd);
}

/* A blocking signalfd read and poll wake when the signal comes. */
static void signalfd_blocking(void)
{
	block(SIGRTMIN + 1);
	block(SIGCHLD);
	/* Earlier children's SIGCHLD goes first. */
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	struct timespec zero = { 0, 0 };
	while (sigtimedwait(&chld, NULL, &zero) > 0)
		;
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGRTMIN + 1);
	sigaddset(&mask, SIGCHLD);
	int fd = signalfd(-1, &mask, 0);
	CHECK(fd >= 0);
	pid_t parent = getpid();
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		sleep_ms(50);
		CHECK(queue_to(parent, SIGRTMIN + 1, 21) == 0);
		sleep_ms(50);
		_exit(4);
	}
	struct signalfd_siginfo rec;
	CHECK(read(fd, &rec, sizeof rec) == sizeof rec);
	printf("blocking read: %d/%s/%d, sender is the child: %s\n", rel(rec.ssi_signo), si_code_name(rec.ssi_code), rec.ssi_int,
	       rec.ssi_pid == (uint32_t)child ? "yes" : "no");
	struct pollfd pfd = { fd, POLLIN, 0 };
	int polled = poll(&pfd, 1, 5000);
	printf("poll until the child ends: %d revents %#x\n", polled, pfd.revents);
	CHECK(read(fd, &rec, sizeof rec) == sizeof rec);
	printf("SIGCHLD record: %s %s status %d, pid right: %s\n", rec.ssi_signo == SIGCHLD ? "SIGCHLD" : "?",
	       si_code_name(rec.ssi_code), rec.ssi_status, rec.ssi_pid == (uint32_t)child ? "yes" : "no");
	int status;
	CHECK(waitpid(child, &status, 0) == child);
	close(fd);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	timed_waits();
	takes_in_order();
	woken_by_a_child();
	interrupted_by_a_handler();
	another_thread_sends();
	signalfd_basics();
	signalfd_blocking();
	printf("done\n");
	return 0;
}
