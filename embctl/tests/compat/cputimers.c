/* POSIX timers and sleeps on CPU-time clocks, through the libc calls:
 * timer_create on CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID and
 * the clocks clock_getcpuclockid and pthread_getcpuclockid make (a
 * child's too), with SIGEV_SIGNAL, SIGEV_THREAD_ID, SIGEV_THREAD and
 * SIGEV_NONE: no expiry while the clock's owner sleeps, the expiry once
 * it has computed that long, timer_gettime counting CPU time, overruns of
 * a periodic timer whose signal is blocked; clock_nanosleep on a process
 * CPU clock (relative, TIMER_ABSTIME, interrupted) and its errors. Output
 * is unbuffered and free of pids and times: yes/no against generous
 * bounds (the machine may be loaded; CPU timers fire on a tick). */
#define _GNU_SOURCE
#include "compat.h"
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#ifndef sigev_notify_thread_id /* glibc before 2.35 */
#define sigev_notify_thread_id _sigev_un._tid
#endif

static volatile unsigned long sink;

static long long clock_ms(clockid_t clock)
{
	struct timespec ts;
	CHECK(clock_gettime(clock, &ts) == 0);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void work(void)
{
	for (int i = 0; i < 10000; i++)
		sink += i;
}

/* Computes until `clock` has advanced by `ms` or `*stop` is set. */
static void spin_until(clockid_t clock, long ms, volatile int *stop)
{
	long long until = clock_ms(clock) + ms;
	while (clock_ms(clock) < until && !(stop && *stop))
		work();
}

static volatile int fired, fired_tid, fired_code;
static void on_timer(int sig, siginfo_t *si, void *ctx)
{
	(void)sig, (void)ctx;
	fired++;
	fired_tid = (int)syscall(SYS_gettid);
	fired_code = si->si_code;
}

static timer_t make_timer(clockid_t clock, int notify, int sig, int tid)
{
	struct sigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.sigev_notify = notify;
	ev.sigev_signo = sig;
	ev.sigev_value.sival_int = 7;
	ev.sigev_notify_thread_id = tid;
	timer_t t;
	CHECK(timer_create(clock, &ev, &t) == 0);
	return t;
}

static void arm_ms(timer_t t, int flags, long long ms, long every_ms)
{
	struct itimerspec its = { { every_ms / 1000, (every_ms % 1000) * 1000000L }, { ms / 1000, (ms % 1000) * 1000000L } };
	CHECK(timer_settime(t, flags, &its, NULL) == 0);
}

static long long left_ms(timer_t t)
{
	struct itimerspec its;
	CHECK(timer_gettime(t, &its) == 0);
	return its.it_value.tv_sec * 1000LL + its.it_value.tv_nsec / 1000000;
}

static const char *yes(int ok)
{
	return ok ? "yes" : "no";
}

/* A thread that computes until told to stop; it says its tid first. */
static volatile int spinner_tid, spinner_stop;
static void *spinner(void *arg)
{
	(void)arg;
	spinner_tid = (int)syscall(SYS_gettid);
	while (!spinner_stop)
		work();
	return NULL;
}

static pthread_t start_spinner(void)
{
	pthread_t th;
	spinner_tid = 0;
	spinner_stop = 0;
	CHECK(pthread_create(&th, NULL, spinner, NULL) == 0);
	while (!spinner_tid)
		sched_yield();
	return th;
}

static void stop_spinner(pthread_t th)
{
	spinner_stop = 1;
	CHECK(pthread_join(th, NULL) == 0);
}

static volatile int thread_notified;
static void on_thread_notify(union sigval v)
{
	thread_notified = v.sival_int;
}

/* timer_create on `clock` must fail: prints the error. */
static void create_fails(const char *what, clockid_t clock)
{
	struct sigevent none = { .sigev_notify = SIGEV_NONE };
	timer_t t;
	errno = 0;
	int r = timer_create(clock, &none, &t);
	printf("timer_create(%s): %d %s\n", what, r, strerror(errno));
}

static void on_alarm(int sig)
{
	(void)sig;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	set_info_handler(SIGUSR1, on_timer, 0);
	int me = (int)syscall(SYS_gettid);

	/* The process clock, SIGEV_SIGNAL: nothing while asleep, then the
	 * expiry once the process has computed 200 ms. (Generous: under
	 * QEMU's TCG on a loaded host, time the host takes the virtual CPU
	 * away counts to the guest thread that was running, even one that
	 * only woke to sleep again.) */
	timer_t t = make_timer(CLOCK_PROCESS_CPUTIME_ID, SIGEV_SIGNAL, SIGUSR1, 0);
	long long start = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
	arm_ms(t, 0, 200, 0);
	long long left = left_ms(t);
	printf("process clock timer: armed, 0 < time left <= 200 ms: %s\n", yes(left > 0 && left <= 200));
	sleep_ms(150);
	/* Checked against the clock itself, not the sleep: a loaded host
	 * can charge the sleeper for stolen time (see above). */
	long long used = clock_ms(CLOCK_PROCESS_CPUTIME_ID) - start;
	left = left_ms(t);
	printf("process clock timer: 150 ms asleep, not fired before 200 ms of CPU: %s, time left + CPU used = 200 ms: %s\n",
	       yes(!fired || used >= 200), yes(fired || (left + used >= 190 && left + used <= 210)));
	while (!fired && clock_ms(CLOCK_PROCESS_CPUTIME_ID) - start < 2000)
		work();
	long long at = clock_ms(CLOCK_PROCESS_CPUTIME_ID) - start;
	printf("process clock timer: fired once, in the computing thread, SI_TIMER: %s %s %s; after 200-800 ms of CPU: %s\n",
	       yes(fired == 1), yes(fired_tid == me), yes(fired_code == SI_TIMER), yes(at >= 200 && at < 800));
	printf("process clock timer: one-shot now disarmed: %s\n", yes(left_ms(t) == 0));
	CHECK(timer_delete(t) == 0);

	/* SIGEV_NONE on the process clock: timer_gettime counts CPU time. */
	t = make_timer(CLOCK_PROCESS_CPUTIME_ID, SIGEV_NONE, 0, 0);
	arm_ms(t, 0, 1000, 0);
	sleep_ms(100);
	left = left_ms(t);
	printf("SIGEV_NONE: 100 ms asleep leaves over 900 ms: %s\n", yes(left > 900 && left <= 1000));
	spin_until(CLOCK_PROCESS_CPUTIME_ID, 100, NULL);
	left = left_ms(t);
	printf("SIGEV_NONE: 100 ms computing leaves 400-900 ms: %s\n", yes(left >= 400 && left <= 900));
	struct itimerspec old, zero = { { 0, 0 }, { 0, 0 } };
	CHECK(timer_settime(t, 0, &zero, &old) == 0);
	printf("SIGEV_NONE: disarming returns the time left: %s\n", yes(old.it_value.tv_sec * 1000LL + old.it_value.tv_nsec / 1000000 <= left));
	CHECK(timer_delete(t) == 0);

	/* A periodic timer whose signal is blocked: its expiries while the
	 * signal waits are overruns. */
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	CHECK(sigprocmask(SIG_BLOCK, &usr1, NULL) == 0);
	t = make_timer(CLOCK_PROCESS_CPUTIME_ID, SIGEV_SIGNAL, SIGUSR1, 0);
	arm_ms(t, 0, 10, 10);
	spin_until(CLOCK_PROCESS_CPUTIME_ID, 100, NULL);
	siginfo_t si;
	CHECK(sigwaitinfo(&usr1, &si) == SIGUSR1);
	printf("periodic: SI_TIMER, value 7: %s %s; overrun 4-15: %s; timer_getoverrun agrees: %s\n", yes(si.si_code == SI_TIMER),
	       yes(si.si_value.sival_int == 7), yes(si.si_overrun >= 4 && si.si_overrun <= 15), yes(timer_getoverrun(t) == si.si_overrun));
	CHECK(timer_delete(t) == 0);
	CHECK(sigprocmask(SIG_UNBLOCK, &usr1, NULL) == 0);

	/* The thread clock: another thread's computing does not move it
	 * (armed after pthread_create: a first clone under QEMU's TCG costs
	 * its creator tens of milliseconds). */
	fired = 0;
	pthread_t th = start_spinner();
	t = make_timer(CLOCK_THREAD_CPUTIME_ID, SIGEV_SIGNAL, SIGUSR1, 0);
	arm_ms(t, 0, 100, 0);
	long long own_before = clock_ms(CLOCK_THREAD_CPUTIME_ID);
	sleep_ms(150);
	stop_spinner(th);
	/* Not fired unless this thread's own clock did reach 100 ms (a
	 * loaded host can charge the sleeper for stolen time). */
	printf("thread clock timer: another thread computing 150 ms, not fired before its own 100 ms: %s\n",
	       yes(!fired || clock_ms(CLOCK_THREAD_CPUTIME_ID) - own_before >= 100));
	start = clock_ms(CLOCK_THREAD_CPUTIME_ID);
	while (!fired && clock_ms(CLOCK_THREAD_CPUTIME_ID) - start < 2000)
		work();
	printf("thread clock timer: fired once its own thread computed: %s\n", yes(fired == 1));
	CHECK(timer_delete(t) == 0);

	/* Another thread's clock (pthread_getcpuclockid), SIGEV_THREAD_ID to
	 * that thread. */
	fired = 0;
	th = start_spinner();
	clockid_t its_clock;
	CHECK(pthread_getcpuclockid(th, &its_clock) == 0);
	t = make_timer(its_clock, SIGEV_THREAD_ID, SIGUSR1, spinner_tid);
	arm_ms(t, 0, 30, 0);
	for (int i = 0; i < 200 && !fired; i++)
		sleep_ms(10);
	int tid = spinner_tid;
	stop_spinner(th);
	printf("another thread's clock, SIGEV_THREAD_ID: fired once, in that thread: %s %s\n", yes(fired == 1), yes(fired_tid == tid));
	CHECK(timer_delete(t) == 0);

	/* SIGEV_THREAD: the libc's helper thread calls the function. */
	struct sigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.sigev_notify = SIGEV_THREAD;
	ev.sigev_notify_function = on_thread_notify;
	ev.sigev_value.sival_int = 9;
	CHECK(timer_create(CLOCK_PROCESS_CPUTIME_ID, &ev, &t) == 0);
	arm_ms(t, 0, 20, 0);
	start = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
	while (!thread_notified && clock_ms(CLOCK_PROCESS_CPUTIME_ID) - start < 2000)
		work();
	for (int i = 0; i < 200 && !thread_notified; i++)
		sleep_ms(10);
	printf("SIGEV_THREAD: the function ran with value 9: %s\n", yes(thread_notified == 9));
	CHECK(timer_delete(t) == 0);

	/* A child's process clock (clock_getcpuclockid): the parent's timer
	 * fires while the parent waits and the child computes. */
	sigset_t usr2;
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	CHECK(sigprocmask(SIG_BLOCK, &usr2, NULL) == 0);
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		spin_until(CLOCK_PROCESS_CPUTIME_ID, 5000, NULL);
		_exit(3);
	}
	clockid_t child_clock;
	CHECK(clock_getcpuclockid(child, &child_clock) == 0);
	t = make_timer(child_clock, SIGEV_SIGNAL, SIGUSR2, 0);
	arm_ms(t, 0, 30, 0);
	struct timespec ten = { 10, 0 };
	int got = sigtimedwait(&usr2, &si, &ten);
	printf("a child's clock: the parent's timer fired: %s, SI_TIMER: %s\n", yes(got == SIGUSR2), yes(got == SIGUSR2 && si.si_code == SI_TIMER));
	CHECK(kill(child, SIGKILL) == 0);
	int status;
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(timer_delete(t) == 0);
	CHECK(sigprocmask(SIG_UNBLOCK, &usr2, NULL) == 0);

	/* clock_nanosleep on the process clock returns once the process
	 * has computed that long (another thread computes meanwhile). */
	th = start_spinner();
	start = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
	int r = clock_nanosleep(CLOCK_PROCESS_CPUTIME_ID, 0, &(struct timespec){ 0, 60000000 }, NULL);
	long long spent = clock_ms(CLOCK_PROCESS_CPUTIME_ID) - start;
	printf("clock_nanosleep(process clock, 60 ms): %d, after 60-600 ms of CPU: %s\n", r, yes(spent >= 60 && spent < 600));
	struct timespec deadline;
	CHECK(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &deadline) == 0);
	deadline.tv_nsec += 40000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	r = clock_nanosleep(CLOCK_PROCESS_CPUTIME_ID, TIMER_ABSTIME, &deadline, NULL);
	struct timespec now;
	CHECK(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now) == 0);
	printf("clock_nanosleep(process clock, TIMER_ABSTIME): %d, not before the deadline: %s\n", r,
	       yes(now.tv_sec > deadline.tv_sec || (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec)));
	r = clock_nanosleep(its_clock, 0, &(struct timespec){ 0, 1000000 }, NULL);
	printf("clock_nanosleep(an ended thread's clock): %s\n", r == 0 ? "0" : strerror(r));
	CHECK(pthread_getcpuclockid(th, &its_clock) == 0);
	start = clock_ms(its_clock);
	r = clock_nanosleep(its_clock, 0, &(struct timespec){ 0, 30000000 }, NULL);
	printf("clock_nanosleep(another thread's clock, 30 ms): %d, that thread computed 30 ms: %s\n", r, yes(clock_ms(its_clock) - start >= 30));
	stop_spinner(th);

	/* Nothing else computes: only a signal ends the sleep. */
	set_handler(SIGALRM, on_alarm, 0);
	struct itimerval alarm_in = { { 0, 0 }, { 0, 100000 } };
	CHECK(setitimer(ITIMER_REAL, &alarm_in, NULL) == 0);
	struct timespec rem = { 0, 0 };
	r = clock_nanosleep(CLOCK_PROCESS_CPUTIME_ID, 0, &(struct timespec){ 5, 0 }, &rem);
	printf("clock_nanosleep(process clock, 5 s) alone: %s, 4-5 s left: %s\n", r == 0 ? "0" : strerror(r),
	       yes(rem.tv_sec == 4 || (rem.tv_sec == 5 && rem.tv_nsec == 0)));

	/* The errors. */
	clockid_t own;
	CHECK(pthread_getcpuclockid(pthread_self(), &own) == 0);
	r = clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &(struct timespec){ 0, 1000 }, NULL);
	printf("clock_nanosleep(CLOCK_THREAD_CPUTIME_ID): %s\n", strerror(r));
	r = clock_nanosleep(own, 0, &(struct timespec){ 0, 1000 }, NULL);
	printf("clock_nanosleep(own thread's clock id): %s\n", strerror(r));
	create_fails("a clock of no process", ((~(clockid_t)999999) << 3) | 2);
	create_fails("a thread clock of no thread of ours", ((~(clockid_t)999999) << 3) | 6);
	create_fails("CPU clock kind 3", ((~(clockid_t)0) << 3) | 3);
	return 0;
}
