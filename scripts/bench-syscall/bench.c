/* Syscall benchmark, one static i386 binary for our kernel and a Linux guest.
 *   bench null N    N getpid calls through int $0x80: ns per call
 *   bench getuid N  N getuid32 calls (forwarded to LKL under x86/lkl-qemu)
 *   bench write MIB write MIB MiB to /tmp/bench.out in 64 KiB writes: MiB/s
 *   bench signal N  N SIGUSR1s sent to itself (kill through int $0x80), each
 *                   delivered to a handler that returns through sigreturn
 *   bench switch N  two threads of one process sched_yield to each other N
 *                   times each: ns per context switch (a yield included)
 *   bench futex N   N futex wake round trips between two threads (A wakes
 *                   B, B wakes A; each sleeps in FUTEX_WAIT): ns per trip
 * As a Linux guest's init (pid 1, no arguments) it runs `null 1000000`,
 * `signal 100000`, `switch 100000` and `futex 100000`, then powers the
 * guest off. */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* n calls of syscall nr (no arguments) through int $0x80 */
static void calls(const char *what, long nr, long n)
{
	double t0 = now();
	for (long i = 0; i < n; i++) {
		long r;
		__asm__ volatile("int $0x80" : "=a"(r) : "0"(nr) : "memory");
	}
	double t = now() - t0;
	printf("%s: %ld calls in %.3f s: %.1f ns/call\n", what, n, t, t / n * 1e9);
}

static void null_calls(long n)
{
	calls("null syscall", 20 /* getpid */, n);
}

static volatile long handled;

static void on_usr1(int sig)
{
	(void)sig;
	handled++;
}

/* n rounds of: kill(self, SIGUSR1) through int $0x80, the handler on a
 * signal frame, sigreturn back: the cost of one delivered signal. */
static void signal_delivery(long n)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) < 0) {
		perror("sigaction");
		exit(1);
	}
	long me = getpid();
	handled = 0;
	double t0 = now();
	for (long i = 0; i < n; i++) {
		long r;
		__asm__ volatile("int $0x80" : "=a"(r) : "0"(37L /* kill */), "b"(me), "c"((long)SIGUSR1) : "memory");
	}
	double t = now() - t0;
	printf("signal delivery: %ld signals in %.3f s: %.1f ns/signal%s\n", n, t, t / n * 1e9,
	       handled == n ? "" : " (handler count wrong)");
}

static void write_throughput(long mib)
{
	static char buf[64 * 1024];
	memset(buf, 'x', sizeof buf);
	int fd = open("/tmp/bench.out", O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (fd < 0) {
		perror("open /tmp/bench.out");
		exit(1);
	}
	double t0 = now();
	for (long i = 0; i < mib * 16; i++)
		if (write(fd, buf, sizeof buf) != sizeof buf) {
			perror("write");
			exit(1);
		}
	double t = now() - t0;
	close(fd);
	unlink("/tmp/bench.out");
	printf("write to /tmp: %ld MiB in %.3f s: %.1f MiB/s\n", mib, t, mib / t);
}

static void *yield_n(void *arg)
{
	for (long i = 0, n = (long)arg; i < n; i++)
		sched_yield();
	return NULL;
}

/* One CPU: with two runnable threads every sched_yield switches to the other. */
static void thread_switches(long n)
{
	pthread_t other;
	double t0 = now();
	if (pthread_create(&other, NULL, yield_n, (void *)n) != 0) {
		perror("pthread_create");
		exit(1);
	}
	yield_n((void *)n);
	pthread_join(other, NULL);
	double t = now() - t0;
	printf("thread switch: %ld sched_yield switches in %.3f s: %.1f ns/switch\n", 2 * n, t, t / (2 * n) * 1e9);
}

static uint32_t ping, pong;

static void futex_call(uint32_t *word, int op, uint32_t val)
{
	syscall(SYS_futex, word, op, val, NULL, NULL, 0);
}

/* Sleeps until *word is 1, then sets it back to 0. */
static void take(uint32_t *word)
{
	while (!__atomic_load_n(word, __ATOMIC_ACQUIRE))
		futex_call(word, 128 /* FUTEX_WAIT_PRIVATE */, 0);
	__atomic_store_n(word, 0, __ATOMIC_RELAXED);
}

/* Sets *word to 1 and wakes its sleeper. */
static void give(uint32_t *word)
{
	__atomic_store_n(word, 1, __ATOMIC_RELEASE);
	futex_call(word, 129 /* FUTEX_WAKE_PRIVATE */, 1);
}

static void *ponger(void *arg)
{
	for (long i = 0, n = (long)arg; i < n; i++) {
		take(&ping);
		give(&pong);
	}
	return NULL;
}

static void futex_round_trips(long n)
{
	pthread_t other;
	if (pthread_create(&other, NULL, ponger, (void *)n) != 0) {
		perror("pthread_create");
		exit(1);
	}
	double t0 = now();
	for (long i = 0; i < n; i++) {
		give(&ping);
		take(&pong);
	}
	double t = now() - t0;
	pthread_join(other, NULL);
	printf("futex wake round trip: %ld trips in %.3f s: %.1f ns/trip\n", n, t, t / n * 1e9);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (getpid() == 1) { /* init of the Linux guest: get a console first */
		mkdir("/dev", 0755);
		mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
		int fd = open("/dev/console", O_RDWR);
		dup2(fd, 0), dup2(fd, 1), dup2(fd, 2);
		null_calls(1000000);
		signal_delivery(100000);
		thread_switches(100000);
		futex_round_trips(100000);
		reboot(RB_POWER_OFF);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "null"))
		null_calls(atol(argv[2]));
	else if (argc == 3 && !strcmp(argv[1], "getuid"))
		calls("getuid32 syscall", 199, atol(argv[2]));
	else if (argc == 3 && !strcmp(argv[1], "write"))
		write_throughput(atol(argv[2]));
	else if (argc == 3 && !strcmp(argv[1], "signal"))
		signal_delivery(atol(argv[2]));
	else if (argc == 3 && !strcmp(argv[1], "switch"))
		thread_switches(atol(argv[2]));
	else if (argc == 3 && !strcmp(argv[1], "futex"))
		futex_round_trips(atol(argv[2]));
	else {
		fprintf(stderr, "usage: bench null N | bench getuid N | bench write MIB | bench signal N | bench switch N | bench futex N\n");
		return 2;
	}
	return 0;
}
