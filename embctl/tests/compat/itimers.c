/* The CPU-time interval timers: ITIMER_VIRTUAL (SIGVTALRM after so much
 * user time) and ITIMER_PROF (SIGPROF after so much user and system
 * time), with getitimer, periodic intervals, the old value setitimer
 * gives back, no virtual time while asleep, no timers in a forked child,
 * and SIGVTALRM's default action. Output is unbuffered and free of times
 * (only facts that hold on any machine are printed). */
#define _GNU_SOURCE
#include "compat.h"
#include <signal.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile int vtalrm, prof;

static void on_vtalrm(int sig)
{
	(void)sig;
	vtalrm++;
}

static void on_prof(int sig)
{
	(void)sig;
	prof++;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Spins in user mode until *counter reaches n (or 30 s of wall time). */
static int spin_until(volatile int *counter, int n)
{
	long long end = now_ms() + 30000;
	volatile unsigned long x = 0;
	while (*counter < n && now_ms() < end)
		for (int i = 0; i < 100000; i++)
			x += i;
	return *counter >= n;
}

/* Spins in system calls until *counter reaches n (or 30 s). */
static int spin_in_calls_until(volatile int *counter, int n)
{
	long long end = now_ms() + 30000;
	while (*counter < n && now_ms() < end)
		for (int i = 0; i < 1000; i++)
			getppid();
	return *counter >= n;
}

static struct itimerval timer(long value_us, long interval_us)
{
	struct itimerval it;
	it.it_value.tv_sec = value_us / 1000000;
	it.it_value.tv_usec = value_us % 1000000;
	it.it_interval.tv_sec = interval_us / 1000000;
	it.it_interval.tv_usec = interval_us % 1000000;
	return it;
}

static long us(struct timeval tv)
{
	return tv.tv_sec * 1000000L + tv.tv_usec;
}

static void handle(int sig, void (*f)(int))
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = f;
	sa.sa_flags = SA_RESTART;
	CHECK(sigaction(sig, &sa, NULL) == 0);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	handle(SIGVTALRM, on_vtalrm);
	handle(SIGPROF, on_prof);
	struct itimerval it, old;

	for (int which = ITIMER_VIRTUAL; which <= ITIMER_PROF; which++) {
		CHECK(getitimer(which, &it) == 0);
		printf("timer %d at start: %ld %ld\n", which, us(it.it_value), us(it.it_interval));
	}

	/* Armed: getitimer shows time left, at most what was set. */
	it = timer(2000000, 500000);
	CHECK(setitimer(ITIMER_VIRTUAL, &it, &old) == 0);
	printf("old value: %ld %ld\n", us(old.it_value), us(old.it_interval));
	CHECK(getitimer(ITIMER_VIRTUAL, &it) == 0);
	printf("armed: about 2 s left: %s, interval %ld\n", us(it.it_value) > 1500000 && us(it.it_value) <= 2500000 ? "yes" : "no",
	       us(it.it_interval));
	it = timer(0, 0);
	CHECK(setitimer(ITIMER_VIRTUAL, &it, &old) == 0);
	printf("disarmed, it had: left > 0: %s, interval %ld\n", us(old.it_value) > 0 ? "yes" : "no", us(old.it_interval));
	CHECK(getitimer(ITIMER_VIRTUAL, &it) == 0);
	printf("then: %ld %ld\n", us(it.it_value), us(it.it_interval));

	/* Periodic SIGVTALRM while the program computes. */
	it = timer(10000, 10000);
	CHECK(setitimer(ITIMER_VIRTUAL, &it, NULL) == 0);
	printf("SIGVTALRM three times: %s\n", spin_until(&vtalrm, 3) ? "yes" : "no");
	it = timer(0, 0);
	CHECK(setitimer(ITIMER_VIRTUAL, &it, NULL) == 0);

	/* SIGPROF counts time in system calls too. */
	it = timer(10000, 10000);
	CHECK(setitimer(ITIMER_PROF, &it, NULL) == 0);
	printf("SIGPROF twice in calls: %s\n", spin_in_calls_until(&prof, 2) ? "yes" : "no");
	it = timer(0, 0);
	CHECK(setitimer(ITIMER_PROF, &it, NULL) == 0);

	/* Asleep, no user time passes. */
	vtalrm = 0;
	it = timer(50000, 0);
	CHECK(setitimer(ITIMER_VIRTUAL, &it, NULL) == 0);
	struct timespec nap = { 0, 200 * 1000000L };
	while (nanosleep(&nap, &nap) < 0 && errno == EINTR)
		;
	CHECK(getitimer(ITIMER_VIRTUAL, &it) == 0);
	printf("after sleeping: fired %d, still armed: %s\n", vtalrm, us(it.it_value) > 0 ? "yes" : "no");
	printf("then it fires once: %s\n", spin_until(&vtalrm, 1) ? "yes" : "no");
	CHECK(getitimer(ITIMER_VIRTUAL, &it) == 0);
	printf("one-shot, now: %ld %ld\n", us(it.it_value), us(it.it_interval));

	/* A forked child has no timers; the default action ends a process. */
	it = timer(3000000, 0);
	CHECK(setitimer(ITIMER_PROF, &it, NULL) == 0);
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		CHECK(getitimer(ITIMER_PROF, &it) == 0);
		if (us(it.it_value) != 0)
			_exit(1);
		signal(SIGVTALRM, SIG_DFL);
		it = timer(20000, 0);
		CHECK(setitimer(ITIMER_VIRTUAL, &it, NULL) == 0);
		volatile int never = 0;
		spin_until(&never, 1);
		_exit(2);
	}
	int status;
	CHECK(waitpid(child, &status, 0) == child);
	describe("child with SIGVTALRM's default action", status);
	it = timer(0, 0);
	CHECK(setitimer(ITIMER_PROF, &it, NULL) == 0);

	/* Errors. */
	errno = 0;
	int r = getitimer(5, &it);
	printf("getitimer(5): %d %s\n", r, strerror(errno));
	it = timer(0, 0);
	it.it_value.tv_usec = 1000000;
	errno = 0;
	r = setitimer(ITIMER_VIRTUAL, &it, NULL);
	printf("usec out of range: %d %s\n", r, strerror(errno));
	printf("done\n");
	return 0;
}
