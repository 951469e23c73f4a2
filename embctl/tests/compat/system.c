/* Process facts: ids, uname, getrandom, rlimits (prlimit64), signals
 * (rt_sigaction, rt_sigprocmask, sigaltstack), ioctl errors. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <termios.h>
#include <unistd.h>
#include "compat.h"

static void on_usr1(int sig) { (void)sig; }

int main(void)
{
	printf("uid==euid %d gid==egid %d pid>0 %d ppid>=0 %d\n", getuid() == geteuid(), getgid() == getegid(),
	       getpid() > 0, getppid() >= 0);
	struct utsname u;
	CHECK(uname(&u) == 0);
	printf("sysname %s\n", u.sysname);

	unsigned char r1[16], r2[16];
	CHECK(getrandom(r1, sizeof r1, 0) == 16);
	CHECK(getrandom(r2, sizeof r2, 0) == 16);
	printf("getrandom differs: %d\n", memcmp(r1, r2, 16) != 0);

	struct rlimit rl;
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	printf("nofile cur<=max %d cur>=64 %d\n", rl.rlim_cur <= rl.rlim_max, rl.rlim_cur >= 64);
	CHECK(getrlimit(RLIMIT_STACK, &rl) == 0);
	printf("stack limit >= 1 MiB %d\n", rl.rlim_cur >= (1 << 20));

	struct sigaction sa = { 0 }, old;
	sa.sa_handler = on_usr1;
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	CHECK(sigaction(SIGUSR1, NULL, &old) == 0);
	printf("sigaction kept handler: %d\n", old.sa_handler == on_usr1);
	sigset_t set, oldset;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	CHECK(sigprocmask(SIG_BLOCK, &set, NULL) == 0);
	CHECK(sigprocmask(SIG_SETMASK, NULL, &oldset) == 0);
	printf("SIGUSR2 blocked: %d\n", sigismember(&oldset, SIGUSR2));
	report("sigaction(SIGKILL)", sigaction(SIGKILL, &sa, NULL) == 0);
	static char altstack[16384];
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0 }, oss;
	CHECK(sigaltstack(&ss, NULL) == 0);
	CHECK(sigaltstack(NULL, &oss) == 0);
	printf("sigaltstack size kept: %d\n", oss.ss_size == sizeof altstack);

	/* Kernel memory (0xc0000000 and up on our kernel) is no user buffer. */
	const char *volatile kernel = (const char *)0xc0100000;
	report("write from kernel memory", write(1, kernel, 4) >= 0);
	int zero = open("/tmp/compat-zero", O_CREAT | O_RDWR | O_TRUNC, 0644);
	CHECK(zero >= 0 && write(zero, "abcd", 4) == 4 && lseek(zero, 0, SEEK_SET) == 0);
	report("read into kernel memory", read(zero, (void *)kernel, 4) >= 0);
	close(zero);
	unlink("/tmp/compat-zero");

	int fd = open("/tmp/compat-ioctl", O_CREAT | O_RDWR, 0644);
	CHECK(fd >= 0);
	struct termios t;
	struct winsize ws;
	report("TCGETS on a file", ioctl(fd, TCGETS, &t) == 0);
	report("TIOCGWINSZ on a file", ioctl(fd, TIOCGWINSZ, &ws) == 0);
	report("isatty on a file", isatty(fd));
	close(fd);
	unlink("/tmp/compat-ioctl");
	report("read on a bad fd", read(42, &t, 1) >= 0);
	const char *volatile bad = (const char *)16;
	report("write from a bad pointer", write(1, bad, 4) >= 0);
	return 0;
}
