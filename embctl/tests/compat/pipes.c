/* Pipes between processes: pipe/pipe2, fork, dup2, EOF when the last
 * writer closes, PIPE_BUF atomicity with two writers, a 1 MiB transfer,
 * O_NONBLOCK (EAGAIN), EPIPE with SIGPIPE ignored, death by SIGPIPE,
 * fstat (S_ISFIFO), lseek (ESPIPE), poll (POLLIN, POLLHUP). */
#define _GNU_SOURCE
#include "compat.h"
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static ssize_t read_full(int fd, char *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = read(fd, buf + done, len - done);
		if (n <= 0)
			return n < 0 ? n : (ssize_t)done;
		done += n;
	}
	return done;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	int fds[2], status;
	char buf[8192];

	/* Parent to child, EOF after close. */
	CHECK(pipe(fds) == 0);
	struct stat st;
	CHECK(fstat(fds[0], &st) == 0);
	printf("fifo: %d\n", S_ISFIFO(st.st_mode));
	errno = 0;
	off_t r = lseek(fds[0], 0, SEEK_SET);
	printf("lseek on a pipe: %ld %s\n", (long)r, strerror(errno));
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[1]);
		long total = 0;
		ssize_t n;
		while ((n = read(fds[0], buf, sizeof buf)) > 0)
			total += n;
		printf("child read %ld bytes, then EOF (%zd)\n", total, n);
		_exit(0);
	}
	close(fds[0]);
	for (int i = 0; i < 3; i++)
		CHECK(write(fds[1], "hello pipe\n", 11) == 11);
	close(fds[1]);
	CHECK(waitpid(pid, &status, 0) == pid);
	describe("reader", status);

	/* Child's stdout through a pipe (dup2), read by the parent. */
	CHECK(pipe2(fds, O_CLOEXEC) == 0);
	printf("pipe2 O_CLOEXEC: %d\n", fcntl(fds[0], F_GETFD) == FD_CLOEXEC);
	pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		printf("line from the child\n");
		_exit(3);
	}
	close(fds[1]);
	ssize_t n = read_full(fds[0], buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = 0;
	printf("parent got: %s", buf);
	close(fds[0]);
	CHECK(waitpid(pid, &status, 0) == pid);
	describe("writer", status);

	/* Two writers of PIPE_BUF blocks: never interleaved; 1 MiB in all. */
	CHECK(pipe(fds) == 0);
	for (int w = 0; w < 2; w++) {
		if (fork() == 0) {
			close(fds[0]);
			char block[PIPE_BUF];
			memset(block, w ? 'b' : 'a', sizeof block);
			for (int i = 0; i < 128; i++)
				CHECK(write(fds[1], block, sizeof block) == sizeof block);
			_exit(0);
		}
	}
	close(fds[1]);
	int blocks = 0, mixed = 0;
	while ((n = read_full(fds[0], buf, PIPE_BUF)) == PIPE_BUF) {
		blocks++;
		for (int i = 1; i < PIPE_BUF; i++)
			if (buf[i] != buf[0])
				mixed = 1;
	}
	printf("blocks %d, mixed %d, tail %zd\n", blocks, mixed, n);
	close(fds[0]);
	while (wait(&status) > 0)
		;

	/* Non-blocking: EAGAIN on an empty pipe and on a full one. */
	CHECK(pipe2(fds, O_NONBLOCK) == 0);
	r = read(fds[0], buf, 1);
	printf("empty non-blocking read: %ld %s\n", (long)r, strerror(errno));
	long filled = 0;
	while ((n = write(fds[1], buf, sizeof buf)) > 0)
		filled += n;
	printf("full after %ld bytes: %s\n", filled, strerror(errno));
	struct pollfd pfd = { fds[0], POLLIN, 0 };
	int ready = poll(&pfd, 1, 0);
	printf("poll readable: %d revents %#x\n", ready, pfd.revents);
	close(fds[1]);
	while (read(fds[0], buf, sizeof buf) > 0)
		;
	pfd.revents = 0;
	ready = poll(&pfd, 1, 100);
	printf("poll after the writer closed: %d revents %#x\n", ready, pfd.revents);
	close(fds[0]);

	/* No reader: EPIPE with SIGPIPE ignored; killed by SIGPIPE otherwise. */
	CHECK(pipe(fds) == 0);
	close(fds[0]);
	signal(SIGPIPE, SIG_IGN);
	r = write(fds[1], "x", 1);
	printf("write without a reader: %ld %s\n", (long)r, strerror(errno));
	signal(SIGPIPE, SIG_DFL);
	pid = fork();
	if (pid == 0) {
		write(fds[1], "x", 1);
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	describe("writer without a reader", status);
	close(fds[1]);

	/* A blocked reader wakes when data comes later. */
	CHECK(pipe(fds) == 0);
	pid = fork();
	if (pid == 0) {
		struct timespec ts = { 0, 200 * 1000000L };
		nanosleep(&ts, NULL);
		write(fds[1], "late", 4);
		_exit(0);
	}
	close(fds[1]);
	n = read(fds[0], buf, sizeof buf);
	printf("blocked read got %zd bytes\n", n);
	CHECK(waitpid(pid, &status, 0) == pid);
	close(fds[0]);
	return 0;
}
