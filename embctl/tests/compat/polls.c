/* poll and select on a pipe and a file: readiness before and after a write,
 * a timeout that expires, hang-up after the writer closes. Under x86/lkl-qemu
 * the pipe and the file are LKL's, so this checks that poll/select ask LKL. */
#include <fcntl.h>
#include <poll.h>
#include <sys/select.h>
#include <unistd.h>
#include "compat.h"

static int select_one(int fd, int for_write, long usec)
{
	fd_set set;
	struct timeval tv = { 0, usec };
	FD_ZERO(&set);
	FD_SET(fd, &set);
	int n = for_write ? select(fd + 1, NULL, &set, NULL, &tv) : select(fd + 1, &set, NULL, NULL, &tv);
	return n * 10 + FD_ISSET(fd, &set);
}

int main(void)
{
	int fds[2];
	char c;
	CHECK(pipe(fds) == 0);
	struct pollfd p[2] = { { fds[0], POLLIN, 0 }, { fds[1], POLLOUT, 0 } };
	int n = poll(p, 2, 0);
	printf("empty pipe: %d, read end %#x, write end %#x\n", n, p[0].revents, p[1].revents);
	n = poll(p, 1, 30);
	printf("30 ms on the empty read end: %d %#x\n", n, p[0].revents);
	printf("select on the empty read end: %d\n", select_one(fds[0], 0, 20000));
	printf("select on the write end: %d\n", select_one(fds[1], 1, 20000));
	CHECK(write(fds[1], "x", 1) == 1);
	n = poll(p, 1, -1);
	printf("after a write: %d %#x\n", n, p[0].revents);
	printf("select after a write: %d\n", select_one(fds[0], 0, 20000));
	CHECK(read(fds[0], &c, 1) == 1);
	close(fds[1]);
	p[0].revents = 0;
	n = poll(p, 1, 100);
	printf("writer closed: %d %#x\n", n, p[0].revents);
	printf("select with the writer closed: %d\n", select_one(fds[0], 0, 20000));
	close(fds[0]);

	int f = open("/tmp/compat-polls", O_CREAT | O_RDWR | O_TRUNC, 0644);
	CHECK(f >= 0);
	struct pollfd pf = { f, POLLIN | POLLOUT, 0 };
	n = poll(&pf, 1, 0);
	printf("regular file: %d %#x\n", n, pf.revents);
	close(f);
	unlink("/tmp/compat-polls");
	printf("polls done\n");
	return 0;
}
