/* sendmsg/recvmsg on a Unix socket pair: several iovecs gathered into one
 * datagram and scattered back, a truncated datagram (MSG_TRUNC), and a
 * descriptor passed with SCM_RIGHTS. Under x86/lkl-qemu the sockets are
 * LKL's, so this checks how msghdr is carried to LKL and back. */
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include "compat.h"

int main(void)
{
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0);

	char a[] = "one ", b[] = "two ", c[] = "three";
	struct iovec out[3] = { { a, 4 }, { b, 4 }, { c, 5 } };
	struct msghdr m = { 0 };
	m.msg_iov = out;
	m.msg_iovlen = 3;
	printf("sendmsg: %zd\n", sendmsg(sv[0], &m, 0));

	char x[6] = { 0 }, y[16] = { 0 };
	struct iovec in[2] = { { x, 5 }, { y, sizeof y - 1 } };
	struct msghdr r = { 0 };
	r.msg_iov = in;
	r.msg_iovlen = 2;
	ssize_t n = recvmsg(sv[1], &r, 0);
	printf("recvmsg: %zd [%s] [%s] flags %#x\n", n, x, y, r.msg_flags);

	CHECK(sendmsg(sv[0], &m, 0) == 13);
	char small[4] = { 0 };
	struct iovec one = { small, 3 };
	r.msg_iov = &one;
	r.msg_iovlen = 1;
	n = recvmsg(sv[1], &r, 0);
	printf("truncated: %zd [%s] MSG_TRUNC %d\n", n, small, !!(r.msg_flags & MSG_TRUNC));

	/* A pipe's read end through the socket, read from the received copy. */
	int p[2];
	CHECK(pipe(p) == 0);
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	memset(&ctl, 0, sizeof ctl);
	struct msghdr s = { 0 };
	char tag = 'F';
	struct iovec t = { &tag, 1 };
	s.msg_iov = &t;
	s.msg_iovlen = 1;
	s.msg_control = ctl.buf;
	s.msg_controllen = sizeof ctl.buf;
	struct cmsghdr *h = CMSG_FIRSTHDR(&s);
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(h), &p[0], sizeof(int));
	printf("sendmsg with a descriptor: %zd\n", sendmsg(sv[0], &s, 0));
	close(p[0]);

	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} got;
	memset(&got, 0, sizeof got);
	char tag2 = 0;
	struct iovec t2 = { &tag2, 1 };
	struct msghdr g = { 0 };
	g.msg_iov = &t2;
	g.msg_iovlen = 1;
	g.msg_control = got.buf;
	g.msg_controllen = sizeof got.buf;
	n = recvmsg(sv[1], &g, 0);
	struct cmsghdr *gh = CMSG_FIRSTHDR(&g);
	int fd = -1;
	if (gh && gh->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(gh), sizeof(int));
	printf("recvmsg with a descriptor: %zd tag %c rights %d\n", n, tag2, fd >= 0);
	CHECK(write(p[1], "through", 7) == 7);
	char via[8] = { 0 };
	printf("read through the passed descriptor: %zd [%s]\n", read(fd, via, 7), via);

	struct msghdr bad = { 0 };
	bad.msg_iov = (struct iovec *)8;
	bad.msg_iovlen = 1;
	report("sendmsg with a bad iovec", sendmsg(sv[0], &bad, 0) >= 0);
	printf("msgs done\n");
	return 0;
}
