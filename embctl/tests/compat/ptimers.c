/* POSIX timers through the raw calls (the same on glibc and musl):
 * timer_create with SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD_ID and without
 * a sigevent (SIGALRM, the id as value), on CLOCK_MONOTONIC and
 * CLOCK_REALTIME (relative and TIMER_ABSTIME); the signal's siginfo
 * (SI_TIMER, timer id, value, overrun), overruns of a periodic timer
 * whose signal is blocked, timer_gettime/timer_settime's old value,
 * timer_getoverrun, timer_delete, ids counting up, and the errors. Output
 * is unbuffered and free of pids and times. */
#define _GNU_SOURCE
#include "compat.h"
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The i386 numbers (musl names the 32-bit ones SYS_timer_settime32). */
#define NR_timer_create 259
#define NR_timer_settime 260
#define NR_timer_gettime 261
#define NR_timer_getoverrun 262
#define NR_timer_delete 263
#define NR_timer_gettime64 408
#define NR_timer_settime64 409

/* The kernel's struct sigevent (i386). */
struct ksigevent {
	int value;
	int signo;
	int notify;
	int tid;
	int pad[12];
};

struct kitimerspec {
	struct {
		long sec, nsec;
	} interval, value;
};

static int create(clockid_t clock, const struct ksigevent *ev, int *id)
{
	return (int)syscall(NR_timer_create, clock, ev, id);
}

static int arm(int id, int flags, long ms, long every_ms, struct kitimerspec *old)
{
	struct kitimerspec t = { { every_ms / 1000, (every_ms % 1000) * 1000000L }, { ms / 1000, (ms % 1000) * 1000000L } };
	return (int)syscall(NR_timer_settime, id, flags, &t, old);
}

static struct ksigevent signal_event(int sig, int value)
{
	struct ksigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.notify = 0; /* SIGEV_SIGNAL */
	ev.signo = sig;
	ev.value = value;
	return ev;
}

/* Prints what a call returned and errno's name (the call made first). */
static void said(const char *what, long r)
{
	printf("%s: %ld %s\n", what, r, r < 0 ? strerror(errno) : "ok");
}

static sigset_t only(int sig)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, sig);
	return set;
}

static void describe_timer_signal(const char *what, const siginfo_t *si, int id, int value)
{
	printf("%s: code %s, timer id right: %s, value %d%s, overrun %d\n", what, si->si_code == SI_TIMER ? "SI_TIMER" : "other",
	       si->si_timerid == id ? "yes" : "no", si->si_value.sival_int, si->si_value.sival_int == value ? " (right)" : "",
	       si->si_overrun);
}

static pid_t waiter_tid;
static int waiter_got;
static void *thread_waiter(void *arg)
{
	(void)arg;
	waiter_tid = (pid_t)syscall(SYS_gettid);
	sigset_t set = only(SIGRTMIN + 2);
	struct timespec wait = { 10, 0 };
	siginfo_t si;
	waiter_got = sigtimedwait(&set, &si, &wait) == SIGRTMIN + 2 && si.si_code == SI_TIMER;
	return NULL;
}

static volatile int alarm_value = -1;
static void on_alarm(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)ctx;
	alarm_value = si->si_value.sival_int;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	sigset_t usr1 = only(SIGUSR1), usr2 = only(SIGUSR2), rt = only(SIGRTMIN + 2);
	CHECK(sigprocmask(SIG_BLOCK, &usr1, NULL) == 0);
	CHECK(sigprocmask(SIG_BLOCK, &usr2, NULL) == 0);
	CHECK(sigprocmask(SIG_BLOCK, &rt, NULL) == 0);

	/* One shot on CLOCK_MONOTONIC. */
	struct ksigevent ev = signal_event(SIGUSR1, 42);
	int first, second;
	CHECK(create(CLOCK_MONOTONIC, &ev, &first) == 0);
	printf("first timer id: %d\n", first);
	struct kitimerspec cur;
	CHECK(syscall(NR_timer_gettime, first, &cur) == 0);
	printf("new timer disarmed: %s\n", cur.value.sec == 0 && cur.value.nsec == 0 ? "yes" : "no");
	CHECK(arm(first, 0, 50, 0, NULL) == 0);
	siginfo_t si;
	CHECK(sigwaitinfo(&usr1, &si) == SIGUSR1);
	describe_timer_signal("one shot", &si, first, 42);
	CHECK(syscall(NR_timer_gettime, first, &cur) == 0);
	printf("expired one shot disarmed: %s\n", cur.value.sec == 0 && cur.value.nsec == 0 ? "yes" : "no");

	/* timer_gettime while armed; timer_settime's old value. */
	CHECK(arm(first, 0, 10000, 2500, NULL) == 0);
	CHECK(syscall(NR_timer_gettime, first, &cur) == 0);
	printf("armed for 10 s: left in (9, 10] s: %s, interval %ld.%03ld s\n",
	       (cur.value.sec == 9 || (cur.value.sec == 10 && cur.value.nsec == 0)) ? "yes" : "no", cur.interval.sec,
	       cur.interval.nsec / 1000000);
	struct kitimerspec old;
	CHECK(arm(first, 0, 0, 0, &old) == 0);
	printf("disarming gave the old value: %s\n", old.value.sec == 9 && old.interval.sec == 2 ? "yes" : "no");
	struct timespec zero = { 0, 0 };
	errno = 0;
	printf("no signal after disarming: %s\n", sigtimedwait(&usr1, &si, &zero) < 0 && errno == EAGAIN ? "yes" : "no");

	/* time64 forms. */
	long long spec64[4] = { 0, 0, 5, 0 }, got64[4];
	CHECK(syscall(NR_timer_settime64, first, 0, spec64, NULL) == 0);
	CHECK(syscall(NR_timer_gettime64, first, got64) == 0);
	printf("timer_gettime64 after 5 s: %s\n", got64[2] == 4 || (got64[2] == 5 && got64[3] == 0) ? "yes" : "no");

	/* A periodic timer whose signal stays blocked: overruns. */
	ev = signal_event(SIGUSR2, 7);
	CHECK(create(CLOCK_MONOTONIC, &ev, &second) == 0);
	printf("ids count up: %s\n", second == first + 1 ? "yes" : "no");
	CHECK(arm(second, 0, 10, 10, NULL) == 0);
	sleep_ms(200);
	CHECK(sigwaitinfo(&usr2, &si) == SIGUSR2);
	int overrun = si.si_overrun;
	printf("periodic, 200 ms blocked: overrun at least 5: %s, timer_getoverrun agrees: %s\n", overrun >= 5 ? "yes" : "no",
	       syscall(NR_timer_getoverrun, second) == overrun ? "yes" : "no");
	CHECK(sigwaitinfo(&usr2, &si) == SIGUSR2);
	printf("next one: overrun small: %s\n", si.si_overrun < 5 ? "yes" : "no");
	CHECK(syscall(NR_timer_delete, second) == 0);
	errno = 0;
	said("deleted: gettime", syscall(NR_timer_gettime, second, &cur));
	errno = 0;
	said("deleted: delete again", syscall(NR_timer_delete, second));
	/* A signal already pending stays pending after the delete (drain it). */
	while (sigtimedwait(&usr2, &si, &zero) == SIGUSR2)
		;

	/* SIGEV_NONE: counts down, signals nothing. */
	struct ksigevent none;
	memset(&none, 0, sizeof none);
	none.notify = 1;
	int quiet;
	CHECK(create(CLOCK_MONOTONIC, &none, &quiet) == 0);
	CHECK(arm(quiet, 0, 30, 0, NULL) == 0);
	CHECK(syscall(NR_timer_gettime, quiet, &cur) == 0);
	printf("SIGEV_NONE armed: %s\n", cur.value.sec == 0 && cur.value.nsec > 0 ? "yes" : "no");
	sleep_ms(60);
	CHECK(syscall(NR_timer_gettime, quiet, &cur) == 0);
	printf("SIGEV_NONE expired quietly: %s\n", cur.value.sec == 0 && cur.value.nsec == 0 ? "yes" : "no");

	/* CLOCK_REALTIME with an absolute time. */
	int wall;
	ev = signal_event(SIGUSR1, 9);
	CHECK(create(CLOCK_REALTIME, &ev, &wall) == 0);
	struct timespec now, mono0, mono1;
	clock_gettime(CLOCK_REALTIME, &now);
	clock_gettime(CLOCK_MONOTONIC, &mono0);
	struct kitimerspec at = { { 0, 0 }, { now.tv_sec, now.tv_nsec } };
	at.value.nsec += 100000000;
	if (at.value.nsec >= 1000000000) {
		at.value.sec++;
		at.value.nsec -= 1000000000;
	}
	CHECK(syscall(NR_timer_settime, wall, 1 /* TIMER_ABSTIME */, &at, NULL) == 0);
	CHECK(sigwaitinfo(&usr1, &si) == SIGUSR1);
	clock_gettime(CLOCK_MONOTONIC, &mono1);
	long waited = (mono1.tv_sec - mono0.tv_sec) * 1000 + (mono1.tv_nsec - mono0.tv_nsec) / 1000000;
	describe_timer_signal("CLOCK_REALTIME absolute", &si, wall, 9);
	printf("not before its time: %s\n", waited >= 90 ? "yes" : "no");
	at.value.sec -= 100;
	CHECK(syscall(NR_timer_settime, wall, 1, &at, NULL) == 0);
	CHECK(sigwaitinfo(&usr1, &si) == SIGUSR1);
	printf("absolute time in the past fires at once: %s\n", si.si_code == SI_TIMER ? "yes" : "no");

	/* SIGEV_THREAD_ID: to one thread. */
	pthread_t t;
	CHECK(pthread_create(&t, NULL, thread_waiter, NULL) == 0);
	while (!__atomic_load_n(&waiter_tid, __ATOMIC_SEQ_CST))
		sched_yield();
	struct ksigevent to_thread = signal_event(SIGRTMIN + 2, 5);
	to_thread.notify = 4; /* SIGEV_THREAD_ID */
	to_thread.tid = waiter_tid;
	int directed;
	CHECK(create(CLOCK_MONOTONIC, &to_thread, &directed) == 0);
	CHECK(arm(directed, 0, 20, 0, NULL) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	printf("SIGEV_THREAD_ID reached the thread: %s\n", waiter_got ? "yes" : "no");
	CHECK(syscall(NR_timer_delete, directed) == 0);

	/* Without a sigevent: SIGALRM with the id as its value. */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_alarm;
	sa.sa_flags = SA_SIGINFO;
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
	int plain;
	CHECK(create(CLOCK_MONOTONIC, NULL, &plain) == 0);
	CHECK(arm(plain, 0, 20, 0, NULL) == 0);
	while (alarm_value < 0)
		pause();
	printf("no sigevent: SIGALRM, value is the id: %s\n", alarm_value == plain ? "yes" : "no");

	/* Errors. */
	int bad;
	struct ksigevent zero_sig = signal_event(0, 0);
	errno = 0;
	said("signal 0", create(CLOCK_MONOTONIC, &zero_sig, &bad));
	errno = 0;
	said("bad clock", create(99, &ev, &bad));
	struct ksigevent stranger = signal_event(SIGUSR1, 0);
	stranger.notify = 4;
	stranger.tid = 999999;
	errno = 0;
	said("SIGEV_THREAD_ID to a stranger", create(CLOCK_MONOTONIC, &stranger, &bad));
	struct ksigevent unknown = signal_event(SIGUSR1, 0);
	unknown.notify = 77;
	errno = 0;
	said("unknown notify", create(CLOCK_MONOTONIC, &unknown, &bad));
	errno = 0;
	said("settime of no timer", arm(12345, 0, 10, 0, NULL));
	struct kitimerspec wrong = { { 0, 0 }, { 0, 1000000000 } };
	errno = 0;
	said("nanoseconds 1e9", syscall(NR_timer_settime, first, 0, &wrong, NULL));
	errno = 0;
	said("getoverrun of no timer", syscall(NR_timer_getoverrun, 12345));
	errno = 0;
	said("create into a bad pointer", create(CLOCK_MONOTONIC, &ev, (int *)16));
	return 0;
}
