/* CPU time is counted, not wall time: CLOCK_PROCESS_CPUTIME_ID and
 * CLOCK_THREAD_CPUTIME_ID stand still while the process sleeps and advance
 * while it computes; getrusage (RUSAGE_SELF, RUSAGE_THREAD,
 * RUSAGE_CHILDREN) and times() report the same user and system time, and
 * a child's time joins RUSAGE_CHILDREN when it is waited for. The CPU
 * clocks count nanoseconds, not timer ticks: clock_getres says 1 ns, two
 * reads a little work apart differ by less than a millisecond, and reads
 * are not all whole milliseconds. clock_getcpuclockid and
 * pthread_getcpuclockid give clocks that read the same, another process's
 * too; a pid that names no process is ESRCH. Printed as yes/no against generous
 * bounds (the machine may be loaded). */
#define _GNU_SOURCE
#include "compat.h"
#include <pthread.h>
#include <sys/resource.h>
#include <sys/times.h>
#include <unistd.h>

static long long clock_ms(clockid_t clock)
{
	struct timespec ts;
	CHECK(clock_gettime(clock, &ts) == 0);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static long long usage_ms(int who)
{
	struct rusage ru;
	CHECK(getrusage(who, &ru) == 0);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000LL + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

static volatile unsigned long sink;

/* Computes until `clock` has advanced by `ms`. */
static void spin(clockid_t clock, long ms)
{
	long long until = clock_ms(clock) + ms;
	while (clock_ms(clock) < until)
		for (int i = 0; i < 10000; i++)
			sink += i;
}

static long long spun_thread_ms;
static void *spinner(void *arg)
{
	(void)arg;
	long long before = clock_ms(CLOCK_THREAD_CPUTIME_ID);
	spin(CLOCK_THREAD_CPUTIME_ID, 150);
	spun_thread_ms = clock_ms(CLOCK_THREAD_CPUTIME_ID) - before;
	printf("spinning thread: RUSAGE_THREAD >= 100 ms: %s\n", usage_ms(RUSAGE_THREAD) >= 100 ? "yes" : "no");
	return NULL;
}

static long long clock_ns(clockid_t clock)
{
	struct timespec ts;
	CHECK(clock_gettime(clock, &ts) == 0);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Resolution of a CPU clock: what clock_getres says, and what reads show. */
static void resolution(const char *what, clockid_t clock)
{
	struct timespec res;
	CHECK(clock_getres(clock, &res) == 0);
	int fine_steps = 0, whole_ms = 0;
	for (int round = 0; round < 8; round++) {
		long long before = clock_ns(clock);
		for (int i = 0; i < 2000; i++)
			sink += i;
		long long after = clock_ns(clock);
		fine_steps += after > before && after - before < 1000000;
		whole_ms += after % 1000000 == 0;
	}
	printf("%s: clock_getres %lld ns; a little work reads as under 1 ms (not 0): %s; reads not all whole ms: %s\n", what,
	       (long long)res.tv_sec * 1000000000LL + res.tv_nsec, fine_steps >= 4 ? "yes" : "no", whole_ms < 8 ? "yes" : "no");
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	long hz = sysconf(_SC_CLK_TCK);
	printf("clock ticks per second: %ld\n", hz);
	resolution("process clock", CLOCK_PROCESS_CPUTIME_ID);
	resolution("thread clock", CLOCK_THREAD_CPUTIME_ID);

	long long cpu = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
	sleep_ms(300);
	long long slept = clock_ms(CLOCK_PROCESS_CPUTIME_ID) - cpu;
	printf("300 ms asleep cost under 100 ms of process CPU time: %s\n", slept < 100 ? "yes" : "no");

	cpu = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
	long long usage = usage_ms(RUSAGE_SELF);
	struct tms t0, t1;
	times(&t0);
	spin(CLOCK_PROCESS_CPUTIME_ID, 300);
	times(&t1);
	long long spent = clock_ms(CLOCK_PROCESS_CPUTIME_ID) - cpu;
	long long used = usage_ms(RUSAGE_SELF) - usage;
	long ticks = (t1.tms_utime + t1.tms_stime) - (t0.tms_utime + t0.tms_stime);
	printf("computing 300 ms: process clock %s, getrusage %s, times %s\n", spent >= 300 && spent < 1000 ? "yes" : "no",
	       used >= 250 && used < 1000 ? "yes" : "no", ticks >= 25 && ticks < 100 ? "yes" : "no");
	printf("mostly user time: %s\n", t1.tms_utime - t0.tms_utime >= ticks / 2 ? "yes" : "no");

	/* A second thread computes; the first only waits for it (counted
	 * from after pthread_create: a first clone under QEMU's TCG costs
	 * the creator tens of milliseconds, which the exact clock shows). */
	cpu = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
	pthread_t th;
	CHECK(pthread_create(&th, NULL, spinner, NULL) == 0);
	long long main_thread = clock_ms(CLOCK_THREAD_CPUTIME_ID);
	CHECK(pthread_join(th, NULL) == 0);
	printf("thread clock counted its own 150 ms: %s\n", spun_thread_ms >= 150 && spun_thread_ms < 600 ? "yes" : "no");
	printf("waiting thread's clock under 100 ms: %s\n", clock_ms(CLOCK_THREAD_CPUTIME_ID) - main_thread < 100 ? "yes" : "no");
	printf("process clock counted the thread: %s\n", clock_ms(CLOCK_PROCESS_CPUTIME_ID) - cpu >= 150 ? "yes" : "no");

	/* A child's time joins RUSAGE_CHILDREN and tms_cutime once reaped. */
	printf("children so far: %lld ms\n", usage_ms(RUSAGE_CHILDREN));
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		printf("child starts at zero: %s\n", clock_ms(CLOCK_PROCESS_CPUTIME_ID) < 100 ? "yes" : "no");
		spin(CLOCK_PROCESS_CPUTIME_ID, 200);
		_exit(0);
	}
	int status, r;
	CHECK(waitpid(child, &status, 0) == child);
	long long children = usage_ms(RUSAGE_CHILDREN);
	struct tms t2;
	times(&t2);
	printf("reaped child's 200 ms: getrusage %s, times %s\n", children >= 150 && children < 1000 ? "yes" : "no",
	       t2.tms_cutime + t2.tms_cstime >= 15 ? "yes" : "no");

	/* The clock ids clock_getcpuclockid and pthread_getcpuclockid make. */
	clockid_t own, by_pid, thread;
	CHECK(clock_getcpuclockid(0, &own) == 0 && clock_getcpuclockid(getpid(), &by_pid) == 0);
	CHECK(pthread_getcpuclockid(pthread_self(), &thread) == 0);
	long long process_now = clock_ms(CLOCK_PROCESS_CPUTIME_ID), thread_now = clock_ms(CLOCK_THREAD_CPUTIME_ID);
	printf("clock_getcpuclockid(0) and (getpid()) read as the process clock: %s\n",
	       llabs(clock_ms(own) - process_now) < 50 && llabs(clock_ms(by_pid) - process_now) < 50 ? "yes" : "no");
	printf("pthread_getcpuclockid(self) reads as the thread clock: %s\n", llabs(clock_ms(thread) - thread_now) < 50 ? "yes" : "no");
	int ready[2], done[2];
	CHECK(pipe(ready) == 0 && pipe(done) == 0);
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		spin(CLOCK_PROCESS_CPUTIME_ID, 200);
		char c = 1;
		CHECK(write(ready[1], &c, 1) == 1);
		CHECK(read(done[0], &c, 1) == 1);
		_exit(0);
	}
	char c;
	CHECK(read(ready[0], &c, 1) == 1);
	clockid_t childs;
	CHECK(clock_getcpuclockid(child, &childs) == 0);
	long long child_ms = clock_ms(childs);
	printf("another process's clock counted its 200 ms: %s\n", child_ms >= 200 && child_ms < 1000 ? "yes" : "no");
	CHECK(write(done[1], &c, 1) == 1);
	CHECK(waitpid(child, &status, 0) == child);
	clockid_t none;
	r = clock_getcpuclockid(child, &none);
	printf("clock_getcpuclockid of a reaped child: %s\n", r == 0 ? "ok" : strerror(r));

	struct rusage bad;
	errno = 0;
	r = getrusage(5, &bad);
	printf("getrusage(5): %d %s\n", r, strerror(errno));
	return 0;
}
