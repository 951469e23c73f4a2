/* Syscall benchmark, one static i386 binary for our kernel and a Linux guest.
 *   bench null N    N getpid calls through int $0x80: ns per call
 *   bench getuid N  N getuid32 calls (forwarded to LKL under x86/lkl-qemu)
 *   bench write MIB write MIB MiB to /tmp/bench.out in 64 KiB writes: MiB/s
 *   bench signal N  N SIGUSR1s sent to itself (kill through int $0x80), each
 *                   delivered to a handler that returns through sigreturn
 *   bench switch N  two threads of one process sched_yield to each other N
 *                   times each: ns per context switch (a yield included)
 *   bench pswitch N two processes (a fork) sched_yield to each other N
 *                   times each: ns per context switch between processes
 *                   (address spaces change; a yield included)
 *   bench futex N   N futex wake round trips between two threads (A wakes
 *                   B, B wakes A; each sleeps in FUTEX_WAIT): ns per trip
 *   bench fork N    N times fork, the child _exits at once, the parent
 *                   waits for it: ns per fork+exit+wait
 *   bench exec N P  N times fork, the child execs the tiny static program
 *                   P (which exits at once), the parent waits: ns per
 *                   fork+execve+wait
 *   bench pipe N    N one-byte round trips between two processes over two
 *                   pipes (parent writes, child echoes): ns per trip
 *   bench pipethru MIB  a child writes MIB MiB into a pipe in 64 KiB
 *                   writes, the parent reads it: MiB/s
 * As a Linux guest's init (pid 1, no arguments) it runs `null 1000000`,
 * `signal 100000`, `switch 100000`, `pswitch 100000`, `futex 100000`, `fork 2000`,
 * `exec 1000 /tiny`, `pipe 20000` and `pipethru 16` (or only the one
 * named after `--` on its kernel command line), then powers the guest
 * off. */
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
#include <sys/wait.h>
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

static void wait_child(pid_t pid);
static pid_t fork_or_die(void);

/* The same between two processes: every switch changes address spaces. */
static void process_switches(long n)
{
	double t0 = now();
	pid_t pid = fork_or_die();
	if (pid == 0) {
		yield_n((void *)n);
		_exit(0);
	}
	yield_n((void *)n);
	wait_child(pid);
	double t = now() - t0;
	printf("process switch: %ld sched_yield switches in %.3f s: %.1f ns/switch\n", 2 * n, t, t / (2 * n) * 1e9);
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

static void wait_child(pid_t pid)
{
	int status;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "child %d did not exit with 0 (status %#x)\n", (int)pid, status);
		exit(1);
	}
}

static pid_t fork_or_die(void)
{
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	return pid;
}

static void fork_exit_wait(long n)
{
	double t0 = now();
	for (long i = 0; i < n; i++) {
		pid_t pid = fork_or_die();
		if (pid == 0)
			_exit(0);
		wait_child(pid);
	}
	double t = now() - t0;
	printf("fork+exit+wait: %ld in %.3f s: %.1f ns/fork\n", n, t, t / n * 1e9);
}

static void fork_exec_wait(long n, const char *path)
{
	char *argv[] = { (char *)path, NULL };
	char *envp[] = { NULL };
	double t0 = now();
	for (long i = 0; i < n; i++) {
		pid_t pid = fork_or_die();
		if (pid == 0) {
			execve(path, argv, envp);
			_exit(127);
		}
		wait_child(pid);
	}
	double t = now() - t0;
	printf("fork+execve+wait: %ld in %.3f s: %.1f ns/exec\n", n, t, t / n * 1e9);
}

static void pipe_or_die(int fds[2])
{
	if (pipe(fds) < 0) {
		perror("pipe");
		exit(1);
	}
}

/* n one-byte round trips: the parent writes to the child, the child
 * writes the byte back. */
static void pipe_round_trips(long n)
{
	int to_child[2], to_parent[2];
	pipe_or_die(to_child);
	pipe_or_die(to_parent);
	pid_t pid = fork_or_die();
	char c = 'x';
	if (pid == 0) {
		for (long i = 0; i < n; i++)
			if (read(to_child[0], &c, 1) != 1 || write(to_parent[1], &c, 1) != 1)
				_exit(1);
		_exit(0);
	}
	double t0 = now();
	for (long i = 0; i < n; i++)
		if (write(to_child[1], &c, 1) != 1 || read(to_parent[0], &c, 1) != 1) {
			perror("pipe round trip");
			exit(1);
		}
	double t = now() - t0;
	wait_child(pid);
	close(to_child[0]), close(to_child[1]), close(to_parent[0]), close(to_parent[1]);
	printf("pipe round trip: %ld trips in %.3f s: %.1f ns/trip\n", n, t, t / n * 1e9);
}

/* A child writes mib MiB in 64 KiB writes; the parent reads all of it. */
static void pipe_throughput(long mib)
{
	static char buf[64 * 1024];
	int fds[2];
	pipe_or_die(fds);
	double t0 = now();
	pid_t pid = fork_or_die();
	if (pid == 0) {
		close(fds[0]);
		memset(buf, 'p', sizeof buf);
		for (long i = 0; i < mib * 16; i++)
			if (write(fds[1], buf, sizeof buf) != sizeof buf)
				_exit(1);
		_exit(0);
	}
	close(fds[1]);
	long long total = 0;
	ssize_t got;
	while ((got = read(fds[0], buf, sizeof buf)) > 0)
		total += got;
	double t = now() - t0;
	wait_child(pid);
	close(fds[0]);
	if (total != mib * 1024 * 1024) {
		fprintf(stderr, "pipe throughput: read %lld bytes, wanted %ld MiB\n", total, mib);
		exit(1);
	}
	printf("pipe throughput: %ld MiB in %.3f s: %.1f MiB/s\n", mib, t, mib / t);
}

/* Runs the benchmark argv names; 2 for a bad command line. */
static int run(int argc, char **argv)
{
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
	else if (argc == 3 && !strcmp(argv[1], "pswitch"))
		process_switches(atol(argv[2]));
	else if (argc == 3 && !strcmp(argv[1], "futex"))
		futex_round_trips(atol(argv[2]));
	else if (argc == 3 && !strcmp(argv[1], "fork"))
		fork_exit_wait(atol(argv[2]));
	else if (argc == 4 && !strcmp(argv[1], "exec"))
		fork_exec_wait(atol(argv[2]), argv[3]);
	else if (argc == 3 && !strcmp(argv[1], "pipe"))
		pipe_round_trips(atol(argv[2]));
	else if (argc == 3 && !strcmp(argv[1], "pipethru"))
		pipe_throughput(atol(argv[2]));
	else {
		fprintf(stderr, "usage: bench null N | bench getuid N | bench write MIB | bench signal N | bench switch N | bench pswitch N\n"
		                "       bench futex N\n"
		                "       bench fork N | bench exec N PROGRAM | bench pipe N | bench pipethru MIB\n");
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (getpid() == 1) { /* init of the Linux guest: get a console first */
		mkdir("/dev", 0755);
		mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
		int fd = open("/dev/console", O_RDWR);
		dup2(fd, 0), dup2(fd, 1), dup2(fd, 2);
		if (argc > 1) { /* one benchmark, named after `--` on the kernel command line */
			run(argc, argv);
		} else {
			null_calls(1000000);
			signal_delivery(100000);
			thread_switches(100000);
			process_switches(100000);
			futex_round_trips(100000);
			fork_exit_wait(2000);
			fork_exec_wait(1000, "/tiny");
			pipe_round_trips(20000);
			pipe_throughput(16);
		}
		reboot(RB_POWER_OFF);
		return 0;
	}
	return run(argc, argv);
}
