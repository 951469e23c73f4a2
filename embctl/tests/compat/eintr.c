/* A signal interrupts a read that blocks: EINTR after a handler without
 * SA_RESTART, a restart with SA_RESTART, death by a fatal signal, and no
 * stale interruption of the next blocking read; a recvmsg(MSG_PEEK |
 * MSG_TRUNC) with nothing to read on a datagram socket (like the one the
 * syscall fuzzer's seed 0xdecaf blocked in) ends the same way. Under x86/lkl-qemu the pipe
 * and the socket are LKL's and the read sleeps inside LKL. */
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include "compat.h"

static volatile int handled;

static void on_alarm(int sig)
{
	(void)sig;
	handled++;
}

static void alarm_in_ms(long ms)
{
	struct itimerval it = { { 0, 0 }, { ms / 1000, (ms % 1000) * 1000 } };
	CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
}

/* A child that writes one byte to `fd` after `ms` milliseconds. */
static pid_t write_later(int fd, long ms)
{
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		usleep(ms * 1000);
		CHECK(write(fd, "x", 1) == 1);
		_exit(0);
	}
	return pid;
}

static void interrupted_read(const char *what, int rfd)
{
	char c;
	handled = 0;
	alarm_in_ms(100);
	errno = 0;
	ssize_t n = read(rfd, &c, 1);
	printf("%s: read %zd, %s, handler ran %d\n", what, n, n < 0 ? strerror(errno) : "no error", handled);
}

static void interrupted_recvmsg(const char *what, int fd)
{
	char data[16];
	struct iovec iov = { data, sizeof data };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	handled = 0;
	alarm_in_ms(100);
	errno = 0;
	ssize_t n = recvmsg(fd, &msg, MSG_PEEK | MSG_TRUNC | MSG_DONTROUTE);
	printf("%s: recvmsg %zd, %s, handler ran %d\n", what, n, n < 0 ? strerror(errno) : "no error", handled);
}

int main(void)
{
	int fds[2], sv[2], status;
	char c;
	CHECK(pipe(fds) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	set_handler(SIGALRM, on_alarm, 0);
	interrupted_read("pipe, no SA_RESTART", fds[0]);
	interrupted_read("socket, no SA_RESTART", sv[0]);
	int dgram[2];
	CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, dgram) == 0);
	interrupted_recvmsg("unix datagram socket", dgram[0]);
	close(dgram[0]);
	close(dgram[1]);

	struct pollfd pfd = { fds[0], POLLIN, 0 };
	handled = 0;
	alarm_in_ms(100);
	int r = poll(&pfd, 1, -1);
	printf("poll on the pipe: %d, %s, handler ran %d\n", r, r < 0 ? strerror(errno) : "no error", handled);

	/* Nothing stale: the next reads block until the data comes. */
	pid_t child = write_later(fds[1], 200);
	printf("pipe, then data: read %zd\n", read(fds[0], &c, 1));
	CHECK(waitpid(child, &status, 0) == child);
	child = write_later(fds[1], 200);
	r = poll(&pfd, 1, 5000);
	printf("poll, then data: %d %#x\n", r, pfd.revents);
	CHECK(read(fds[0], &c, 1) == 1);
	CHECK(waitpid(child, &status, 0) == child);

	/* SA_RESTART: the handler runs, the read goes on and gets the data. */
	set_handler(SIGALRM, on_alarm, SA_RESTART);
	handled = 0;
	child = write_later(sv[1], 300);
	alarm_in_ms(100);
	ssize_t n = read(sv[0], &c, 1);
	printf("socket, SA_RESTART: read %zd '%c', handler ran %d\n", n, n == 1 ? c : '?', handled);
	CHECK(waitpid(child, &status, 0) == child);

	/* A fatal signal ends a process blocked in a read. */
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		read(fds[0], &c, 1);
		_exit(3);
	}
	usleep(100000);
	CHECK(kill(child, SIGTERM) == 0);
	CHECK(waitpid(child, &status, 0) == child);
	describe("blocked reader after SIGTERM", status);
	return 0;
}
