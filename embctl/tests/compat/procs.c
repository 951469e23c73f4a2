/* Processes: fork (copy on write), vfork, execve (argv/envp, close-on-exec,
 * #! scripts, exec chains), exit statuses through wait4/waitpid/waitid
 * (WNOHANG, signals, ECHILD), getppid, orphans re-parented, kill.
 * argv[1] is a scratch directory. The program finds itself through PATH
 * (the test puts its directory first) for execvp. Output is unbuffered so
 * nothing is printed twice by a child that inherits a buffer.
 *
 * Kernel-only modes: `forkbomb` (fork until the process limit: EAGAIN) and
 * `forkoom` (fill memory, then fork until ENOMEM), `touchall` (touch more
 * pages than there is memory: the kernel kills it with SIGKILL), `mapbig`
 * (a private mapping of a 1 GiB file fails and leaves memory as it was). */
#define _GNU_SOURCE
#include "compat.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int global_counter = 1;

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* This program's own path: /proc/self/exe, or argv[0] searched in PATH. */
static void self_path(const char *argv0, char *out, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", out, size - 1);
	if (n > 0) {
		out[n] = 0;
		return;
	}
	const char *path = getenv("PATH");
	CHECK(path != NULL);
	char dirs[1024];
	snprintf(dirs, sizeof dirs, "%s", path);
	for (char *dir = strtok(dirs, ":"); dir; dir = strtok(NULL, ":")) {
		snprintf(out, size, "%s/%s", dir, argv0);
		if (access(out, X_OK) == 0)
			return;
	}
	CHECK(!"found myself in PATH");
}

static void test_fork_and_cow(void)
{
	pid_t parent = getpid();
	char *heap = malloc(64 * 1024);
	CHECK(heap != NULL);
	memset(heap, 'p', 64 * 1024);
	int on_stack = 10;
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		printf("child: parent is my parent: %d\n", getppid() == parent);
		printf("child: my pid differs: %d\n", getpid() != parent);
		global_counter = 2;
		on_stack = 20;
		memset(heap, 'c', 64 * 1024);
		printf("child: sees its writes: %d %d %c%c\n", global_counter, on_stack, heap[0], heap[65535]);
		_exit(7);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	describe("fork child", status);
	printf("parent: memory unchanged: %d %d %c%c\n", global_counter, on_stack, heap[0], heap[65535]);
	free(heap);
}

static void test_wait_variants(void)
{
	int status;
	pid_t pid = fork();
	if (pid == 0) {
		nap_ms(300);
		_exit(3);
	}
	printf("WNOHANG before exit: %d\n", waitpid(pid, &status, WNOHANG));
	CHECK(wait4(pid, &status, 0, NULL) == pid);
	describe("wait4", status);

	pid = fork();
	if (pid == 0)
		_exit(42);
	siginfo_t info;
	memset(&info, 0xff, sizeof info);
	CHECK(waitid(P_PID, pid, &info, WEXITED) == 0);
	printf("waitid: signo %d code %d status %d pid ok %d\n", info.si_signo, info.si_code, info.si_status,
	       info.si_pid == pid);

	pid = fork();
	if (pid == 0) {
		kill(getpid(), SIGKILL);
		_exit(1);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	describe("self-kill", status);

	pid = fork();
	if (pid == 0) {
		*(volatile int *)0 = 1;
		_exit(1);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	describe("segfault", status);

	pid = fork();
	if (pid == 0) {
		nap_ms(5000);
		_exit(1);
	}
	nap_ms(50);
	CHECK(kill(pid, SIGTERM) == 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	describe("killed by parent", status);

	int sum = 0;
	for (int i = 1; i <= 5; i++) {
		if (fork() == 0)
			_exit(i);
	}
	for (int i = 0; i < 5; i++) {
		CHECK(wait(&status) > 0);
		sum += WEXITSTATUS(status);
	}
	printf("five children, statuses sum %d\n", sum);
	int r = wait(&status);
	printf("no children left: %d %s\n", r, strerror(errno));
	r = kill(99999, SIGTERM);
	printf("kill of a missing process: %d %s\n", r, strerror(errno));
}

static void test_vfork(void)
{
	int status;
	pid_t pid = vfork();
	if (pid == 0)
		_exit(5);
	CHECK(waitpid(pid, &status, 0) == pid);
	describe("vfork child", status);
}

static void test_orphan(const char *dir)
{
	char done[512];
	snprintf(done, sizeof done, "%s/orphan-done", dir);
	unlink(done);
	pid_t child = fork();
	if (child == 0) {
		pid_t me = getpid();
		if (fork() == 0) {
			for (int i = 0; i < 200 && getppid() == me; i++)
				nap_ms(10);
			printf("grandchild: re-parented: %d\n", getppid() != me);
			close(open(done, O_CREAT | O_WRONLY, 0644));
			_exit(0);
		}
		_exit(0);
	}
	int status;
	CHECK(waitpid(child, &status, 0) == child);
	for (int i = 0; i < 300 && access(done, F_OK) != 0; i++)
		nap_ms(10);
	printf("orphan finished: %d\n", access(done, F_OK) == 0);
}

static void test_exec(const char *argv0, const char *dir)
{
	int status;
	char self[512];
	self_path(argv0, self, sizeof self);

	/* argv and envp handed over; close-on-exec honoured. */
	char keep_path[512], drop_path[512];
	snprintf(keep_path, sizeof keep_path, "%s/keep", dir);
	snprintf(drop_path, sizeof drop_path, "%s/drop", dir);
	int keep = open(keep_path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	int drop = open(drop_path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(keep >= 0 && drop >= 0);
	pid_t pid = fork();
	if (pid == 0) {
		char kfd[16], dfd[16];
		snprintf(kfd, sizeof kfd, "%d", keep);
		snprintf(dfd, sizeof dfd, "%d", drop);
		char *args[] = { (char *)argv0, "exec-check", kfd, dfd, "two words", NULL };
		char *env[] = { "FOO=bar", "EMPTY=", NULL };
		execve(self, args, env);
		printf("execve failed: %s\n", strerror(errno));
		_exit(99);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	describe("exec-check", status);
	close(keep);
	close(drop);

	/* A chain of execs through PATH. */
	pid = fork();
	if (pid == 0) {
		execlp(argv0, argv0, "chain", "3", NULL);
		_exit(99);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	describe("chain", status);

	/* A #! script naming this program as its interpreter, with an argument. */
	char script[512];
	snprintf(script, sizeof script, "%s/script", dir);
	FILE *f = fopen(script, "w");
	CHECK(f != NULL);
	fprintf(f, "#!%s shebang-arg\nthis line is not read\n", self);
	fclose(f);
	CHECK(chmod(script, 0755) == 0);
	pid = fork();
	if (pid == 0) {
		execl(script, "script-argv0", "x", "y", NULL);
		printf("script exec failed: %s\n", strerror(errno));
		_exit(99);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	describe("script", status);

	/* Failures leave the caller running. */
	char *none[] = { "nothing", NULL };
	int r = execve("/no/such/program", none, none);
	printf("execve missing: %d %s\n", r, strerror(errno));
	CHECK(chmod(script, 0644) == 0);
	r = execve(script, none, none);
	printf("execve not executable: %d %s\n", r, strerror(errno));
	snprintf(script, sizeof script, "%s/garbage", dir);
	f = fopen(script, "w");
	fprintf(f, "\x01\x02garbage");
	fclose(f);
	CHECK(chmod(script, 0755) == 0);
	r = execve(script, none, none);
	printf("execve garbage: %d %s\n", r, strerror(errno));
}

static int exec_check(int argc, char **argv)
{
	int keep = atoi(argv[2]), drop = atoi(argv[3]);
	printf("exec-check: argc %d argv[4] '%s'\n", argc, argv[4]);
	printf("exec-check: FOO=%s EMPTY=%s HOME set %d\n", getenv("FOO"), getenv("EMPTY"), getenv("HOME") != NULL);
	printf("exec-check: kept fd open %d, cloexec fd closed %d\n", fcntl(keep, F_GETFD) >= 0,
	       fcntl(drop, F_GETFD) < 0 && errno == EBADF);
	return 11;
}

static const char *errno_name(int err)
{
	return err == EAGAIN ? "EAGAIN" : err == ENOMEM ? "ENOMEM" : strerror(err);
}

#define MAX_KIDS 1000

/* Forks children that wait, until fork fails; then ends them all. */
static int fork_until_failure(const char *what, int expected)
{
	static pid_t kids[MAX_KIDS];
	int n = 0;
	pid_t pid;
	while (n < MAX_KIDS && (pid = fork()) >= 0) {
		if (pid == 0) {
			nap_ms(60000);
			_exit(0);
		}
		kids[n++] = pid;
	}
	int err = errno;
	printf("%s: fork failed after %s children with %s\n", what, n >= 10 ? "10 or more" : "fewer than 10",
	       n == MAX_KIDS ? "nothing" : errno_name(err));
	for (int i = 0; i < n; i++)
		kill(kids[i], SIGKILL);
	int status, reaped = 0;
	while (wait(&status) > 0)
		reaped += WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
	printf("%s: all %s children reaped, killed by SIGKILL\n", what, reaped == n ? "the" : "NOT the");
	return n < MAX_KIDS && err == expected ? 0 : 1;
}

static int forkbomb(void)
{
	return fork_until_failure("fork bomb", EAGAIN);
}

/* Touch most free memory, then fork (children hold no new pages) until
 * fork fails: the page tables and stack of one more child do not fit. */
/* Touches 16 MiB more than the free memory, a page at a time (kernel only:
 * on Linux the OOM killer may pick another process). */
static int touchall(void)
{
	struct sysinfo si;
	CHECK(sysinfo(&si) == 0);
	unsigned long size = si.freeram * si.mem_unit + (16 << 20);
	char *big = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(big != MAP_FAILED);
	for (unsigned long i = 0; i < size; i += 4096)
		big[i] = 1;
	printf("touchall: %lu MiB touched, more than there is\n", size >> 20);
	return 0;
}

/* A private mapping of a 1 GiB sparse file: our kernel copies it, so it
 * fails with ENOMEM (kernel only: Linux maps it lazily), and the pages
 * copied before the failure must not stay with the process. */
static int mapbig(void)
{
	struct sysinfo si;
	CHECK(sysinfo(&si) == 0);
	unsigned long before = si.freeram * si.mem_unit;
	int fd = open("/tmp/mapbig", O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK(unlink("/tmp/mapbig") == 0);
	CHECK(ftruncate(fd, 1 << 30) == 0);
	void *m = mmap(NULL, 1 << 30, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	int err = errno;
	CHECK(sysinfo(&si) == 0);
	unsigned long after = si.freeram * si.mem_unit;
	printf("mapbig: %s, free memory %s\n", m == MAP_FAILED ? errno_name(err) : "mapped",
	       after + (8 << 20) >= before ? "as before" : "LOST");
	return 0;
}

static int forkoom(void)
{
	struct sysinfo si;
	CHECK(sysinfo(&si) == 0);
	unsigned long free_bytes = si.freeram * si.mem_unit;
	unsigned long fill = free_bytes > (6 << 20) ? free_bytes - (6 << 20) : 0;
	char *big = mmap(NULL, fill, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(big != MAP_FAILED);
	for (unsigned long i = 0; i < fill; i += 4096)
		big[i] = 1;
	int result = fork_until_failure("memory full", ENOMEM);
	/* With the children gone, a fork works again, and its copy-on-write
	 * write to one page succeeds. */
	int status;
	pid_t pid = fork();
	if (pid == 0) {
		big[0] = 2;
		_exit(big[0]);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	describe("memory full: fork after the children ended", status);
	return result;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc >= 5 && strcmp(argv[1], "exec-check") == 0)
		return exec_check(argc, argv);
	if (argc >= 3 && strcmp(argv[1], "chain") == 0) {
		int left = atoi(argv[2]);
		printf("chain %d\n", left);
		if (left == 0)
			return 12;
		char next[16];
		snprintf(next, sizeof next, "%d", left - 1);
		execlp(argv[0], argv[0], "chain", next, NULL);
		return 99;
	}
	if (argc >= 2 && strcmp(argv[1], "shebang-arg") == 0) {
		printf("script: argc %d argv[1] %s argv[3] %s argv[4] %s\n", argc, argv[1], argv[3], argv[4]);
		return 13;
	}
	if (argc >= 2 && strcmp(argv[1], "forkbomb") == 0)
		return forkbomb();
	if (argc >= 2 && strcmp(argv[1], "forkoom") == 0)
		return forkoom();
	if (argc >= 2 && strcmp(argv[1], "touchall") == 0)
		return touchall();
	if (argc >= 2 && strcmp(argv[1], "mapbig") == 0)
		return mapbig();
	if (argc < 2) {
		printf("usage: procs SCRATCH_DIR\n");
		return 2;
	}
	const char *dir = argv[1];
	mkdir(dir, 0755);
	test_fork_and_cow();
	test_wait_variants();
	test_vfork();
	test_orphan(dir);
	test_exec(argv[0], dir);
	return 0;
}
