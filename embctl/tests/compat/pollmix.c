/* select and poll on a set that mixes a pipe with a signalfd: under
 * x86/lkl-qemu the pipe is LKL's and the signalfd ours, so each wait below
 * must sleep and be woken by whichever side becomes ready:
 *   - nothing happens: the 200 ms timeout ends it;
 *   - a child writes to the pipe after 200 ms (LKL's side wakes it);
 *   - a child sends SIGUSR1 (blocked, read through the signalfd) after
 *     200 ms (our side wakes it).
 * Each line says what was ready and whether the wait took 150..1500 ms.
 * kernel tests read LKL's call count around it (`lklstat`): it must stay
 * flat while the waits sleep. */
#include <poll.h>
#include <signal.h>
#include <sys/select.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "compat.h"

static long ms_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* A child that, after 200 ms, writes a byte to `fd` (fd >= 0) or sends
 * SIGUSR1 to its parent. */
static pid_t later(int fd)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		usleep(200000);
		if (fd >= 0)
			CHECK(write(fd, "x", 1) == 1);
		else
			kill(parent, SIGUSR1);
		_exit(0);
	}
	return pid;
}

static const char *took(long start)
{
	long ms = ms_now() - start;
	return ms >= 150 && ms <= 1500 ? "on time" : "NOT on time";
}

static void by_select(const char *what, int pipe_rd, int sfd, long timeout_ms)
{
	fd_set set;
	FD_ZERO(&set);
	FD_SET(pipe_rd, &set);
	FD_SET(sfd, &set);
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	long start = ms_now();
	int n = select((pipe_rd > sfd ? pipe_rd : sfd) + 1, &set, NULL, NULL, timeout_ms >= 0 ? &tv : NULL);
	printf("select, %s: %d, pipe %d, signalfd %d, %s\n", what, n, FD_ISSET(pipe_rd, &set) != 0,
	       FD_ISSET(sfd, &set) != 0, took(start));
}

static void by_poll(const char *what, int pipe_rd, int sfd, int timeout_ms)
{
	struct pollfd p[2] = { { pipe_rd, POLLIN, 0 }, { sfd, POLLIN, 0 } };
	long start = ms_now();
	int n = poll(p, 2, timeout_ms);
	printf("poll, %s: %d, pipe %#x, signalfd %#x, %s\n", what, n, p[0].revents, p[1].revents, took(start));
}

/* Empties what woke the wait: the pipe's byte or the signal. */
static void drain(int pipe_rd, int sfd)
{
	struct pollfd p[2] = { { pipe_rd, POLLIN, 0 }, { sfd, POLLIN, 0 } };
	CHECK(poll(p, 2, 0) >= 0);
	char c;
	if (p[0].revents & POLLIN)
		CHECK(read(pipe_rd, &c, 1) == 1);
	if (p[1].revents & POLLIN) {
		struct signalfd_siginfo si;
		CHECK(read(sfd, &si, sizeof si) == sizeof si);
	}
}

int main(void)
{
	int fds[2];
	CHECK(pipe(fds) == 0);
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	CHECK(sigprocmask(SIG_BLOCK, &usr1, NULL) == 0);
	int sfd = signalfd(-1, &usr1, 0);
	CHECK(sfd >= 0);

	by_select("nothing, 200 ms timeout", fds[0], sfd, 200);
	by_poll("nothing, 200 ms timeout", fds[0], sfd, 200);

	pid_t child = later(fds[1]);
	by_select("pipe written after 200 ms", fds[0], sfd, -1);
	CHECK(waitpid(child, NULL, 0) == child);
	drain(fds[0], sfd);
	child = later(fds[1]);
	by_poll("pipe written after 200 ms", fds[0], sfd, 5000);
	CHECK(waitpid(child, NULL, 0) == child);
	drain(fds[0], sfd);

	child = later(-1);
	by_select("SIGUSR1 after 200 ms", fds[0], sfd, 5000);
	CHECK(waitpid(child, NULL, 0) == child);
	drain(fds[0], sfd);
	child = later(-1);
	by_poll("SIGUSR1 after 200 ms", fds[0], sfd, -1);
	CHECK(waitpid(child, NULL, 0) == child);
	drain(fds[0], sfd);
	return 0;
}
