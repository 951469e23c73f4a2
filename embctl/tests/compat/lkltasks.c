/* Processes and threads as LKL sees them (run under x86/lkl-qemu by
 * linux_compat.rs, where /proc and identity calls are LKL's).
 * `lkltasks ids`: a child's /proc/self is its own process, a thread's is its
 *   process's, and a child's setuid leaves its parent's ids alone (the same
 *   output on Linux as root).
 * `lkltasks count`: the number of tasks the kernel has (/proc/loadavg).
 * `lkltasks churn N`: N children that fork, exec this program and exit. */
#include "compat.h"
#include <pthread.h>
#include <unistd.h>

/* "Pid:" (or another field) of /proc/self/status, or -1. */
static long status_field(const char *field)
{
	char line[256];
	long value = -1;
	size_t n = strlen(field);
	FILE *f = fopen("/proc/self/status", "r");
	CHECK(f != NULL);
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, field, n) && line[n] == ':')
			value = strtol(line + n + 1, NULL, 10);
	fclose(f);
	return value;
}

static long thread_tgid;

static void *thread_main(void *arg)
{
	(void)arg;
	thread_tgid = status_field("Tgid");
	return NULL;
}

static int ids(void)
{
	long pid = status_field("Pid");
	int fds[2];
	CHECK(pid > 0 && pipe(fds) == 0);
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		long mine = status_field("Pid");
		CHECK(write(fds[1], &mine, sizeof mine) == sizeof mine);
		report("child setuid(1000)", setuid(1000) == 0);
		printf("child getuid: %u, status Uid: %ld\n", getuid(), status_field("Uid"));
		_exit(0);
	}
	long child_pid = 0;
	CHECK(read(fds[0], &child_pid, sizeof child_pid) == sizeof child_pid);
	int status;
	CHECK(waitpid(child, &status, 0) == child);
	describe("child", status);
	printf("child's /proc/self is its own process: %s\n", child_pid > 0 && child_pid != pid ? "yes" : "no");
	printf("parent getuid after the child's setuid: %u, status Uid: %ld\n", getuid(), status_field("Uid"));
	pthread_t t;
	CHECK(pthread_create(&t, NULL, thread_main, NULL) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	printf("a thread's /proc/self is its process: %s\n", thread_tgid == pid ? "yes" : "no");
	printf("parent /proc/self unchanged: %s\n", status_field("Pid") == pid ? "yes" : "no");
	return 0;
}

static int count(void)
{
	char text[128];
	FILE *f = fopen("/proc/loadavg", "r");
	CHECK(f != NULL && fgets(text, sizeof text, f));
	fclose(f);
	/* "0.00 0.00 0.00 running/total last-pid" */
	char *slash = strchr(text, '/');
	CHECK(slash != NULL);
	printf("tasks: %ld\n", strtol(slash + 1, NULL, 10));
	return 0;
}

static int churn(const char *self, int n)
{
	char path[256];
	snprintf(path, sizeof path, "/bin/%s", strrchr(self, '/') ? strrchr(self, '/') + 1 : self);
	for (int i = 0; i < n; i++) {
		pid_t child = fork();
		CHECK(child >= 0);
		if (child == 0) {
			if (i % 2)
				_exit(0);
			execl(path, path, "exit", (char *)NULL);
			_exit(127);
		}
		int status;
		CHECK(waitpid(child, &status, 0) == child);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	printf("churned %d children\n", n);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	const char *what = argc > 1 ? argv[1] : "ids";
	if (!strcmp(what, "ids"))
		return ids();
	if (!strcmp(what, "count"))
		return count();
	if (!strcmp(what, "churn"))
		return churn(argv[0], argc > 2 ? atoi(argv[2]) : 20);
	if (!strcmp(what, "exit")) {
		/* A forwarded call, so the exec'd program uses its LKL task. */
		return getuid() == 0 ? 0 : 1;
	}
	fprintf(stderr, "usage: lkltasks ids|count|churn N\n");
	return 2;
}
