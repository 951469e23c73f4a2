/* AF_UNIX sockets: socketpair (stream and datagram), a stream server bound
 * to a path (a socket node: stat says S_IFSOCK) with listen/connect/accept
 * across fork, abstract names, datagrams sent to a path with the sender's
 * address, getsockname/getpeername, poll readiness, shutdown and end of
 * stream, EPIPE, non-blocking EAGAIN, SCM_RIGHTS, and the errors of
 * connect and bind. Prints what it saw; the same on Linux and in the kernel. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "compat.h"

static socklen_t path_addr(struct sockaddr_un *a, const char *path)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	strcpy(a->sun_path, path);
	return offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1;
}

/* An abstract name unique to this run (the host's abstract names are shared). */
static socklen_t abstract_addr(struct sockaddr_un *a, const char *tag)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	int n = snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "embox-compat-%s-%d", tag, (int)getpid());
	return offsetof(struct sockaddr_un, sun_path) + 1 + n;
}

static void show_name(const char *what, struct sockaddr_un *a, socklen_t len)
{
	if (len <= offsetof(struct sockaddr_un, sun_path))
		printf("%s: family %d, unnamed (len %d)\n", what, a->sun_family, (int)len);
	else if (a->sun_path[0] == 0)
		printf("%s: family %d, abstract (len %d)\n", what, a->sun_family, (int)len);
	else
		printf("%s: family %d, path %s (len %d)\n", what, a->sun_family, a->sun_path, (int)len);
}

static void names(const char *what, int fd)
{
	struct sockaddr_un a;
	socklen_t len = sizeof a;
	char label[64];
	memset(&a, 0, sizeof a);
	snprintf(label, sizeof label, "%s sockname", what);
	if (getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		show_name(label, &a, len);
	else
		report(label, 0);
	len = sizeof a;
	memset(&a, 0, sizeof a);
	snprintf(label, sizeof label, "%s peername", what);
	if (getpeername(fd, (struct sockaddr *)&a, &len) == 0)
		show_name(label, &a, len);
	else
		report(label, 0);
}

static void show_poll(const char *what, int fd)
{
	struct pollfd p = { fd, POLLIN | POLLOUT, 0 };
	int n = poll(&p, 1, 0);
	printf("poll %s: %d%s%s%s\n", what, n, p.revents & POLLIN ? " IN" : "", p.revents & POLLOUT ? " OUT" : "",
	       p.revents & POLLHUP ? " HUP" : "");
}

static void pairs(void)
{
	int sv[2];
	char buf[64];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	names("pair", sv[0]);
	show_poll("fresh pair", sv[0]);
	CHECK(write(sv[0], "hello ", 6) == 6);
	CHECK(send(sv[0], "world", 5, 0) == 5);
	show_poll("pair with data", sv[1]);
	ssize_t n = read(sv[1], buf, sizeof buf);
	printf("stream read: %zd [%.*s]\n", n, (int)n, buf);
	n = recv(sv[1], buf, sizeof buf, MSG_DONTWAIT);
	printf("empty, MSG_DONTWAIT: %zd %s\n", n, n < 0 ? strerror(errno) : "");
	/* Shutting down the write side: the peer reads the rest, then end of stream. */
	CHECK(write(sv[1], "last", 4) == 4);
	CHECK(shutdown(sv[1], SHUT_WR) == 0);
	show_poll("after peer's SHUT_WR", sv[0]);
	n = read(sv[0], buf, sizeof buf);
	printf("before end: %zd [%.*s]\n", n, (int)n, buf);
	printf("at end: %zd\n", read(sv[0], buf, sizeof buf));
	n = send(sv[1], "x", 1, MSG_NOSIGNAL);
	printf("send after SHUT_WR: %zd %s\n", n, n < 0 ? strerror(errno) : "");
	close(sv[1]);
	show_poll("peer closed", sv[0]);
	n = send(sv[0], "x", 1, MSG_NOSIGNAL);
	printf("send to a closed peer: %zd %s\n", n, n < 0 ? strerror(errno) : "");
	signal(SIGPIPE, SIG_IGN);
	n = write(sv[0], "x", 1);
	printf("write to a closed peer (SIGPIPE ignored): %zd %s\n", n, n < 0 ? strerror(errno) : "");
	signal(SIGPIPE, SIG_DFL);
	close(sv[0]);

	/* Datagrams keep their boundaries; a short buffer truncates. */
	CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) == 0);
	printf("cloexec: %d\n", !!(fcntl(sv[0], F_GETFD) & FD_CLOEXEC));
	CHECK(send(sv[0], "one", 3, 0) == 3);
	CHECK(send(sv[0], "two-two", 7, 0) == 7);
	CHECK(send(sv[0], "", 0, 0) == 0);
	printf("dgram 1: %zd\n", recv(sv[1], buf, sizeof buf, 0));
	printf("dgram 2 into 3 bytes: %zd\n", recv(sv[1], buf, 3, 0));
	printf("dgram 3 (empty): %zd\n", recv(sv[1], buf, sizeof buf, 0));
	n = recv(sv[1], buf, sizeof buf, MSG_DONTWAIT);
	printf("dgram MSG_DONTWAIT: %zd %s\n", n, strerror(errno));
	int type;
	socklen_t len = sizeof type;
	CHECK(getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &type, &len) == 0);
	printf("SO_TYPE: %d\n", type);
	close(sv[0]);
	close(sv[1]);
	int r = socketpair(AF_INET, SOCK_STREAM, 0, sv);
	printf("socketpair(AF_INET): %d %s\n", r, strerror(errno));
}

/* A server bound to a path; a forked client connects, both talk, the
 * server sees end of stream when the client closes. */
static void path_server(void)
{
	const char *path = "compat-unix.sock";
	struct sockaddr_un a;
	socklen_t alen = path_addr(&a, path);
	unlink(path);
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(s >= 0);
	errno = 0;
	report("connect before bind", connect(s, (struct sockaddr *)&a, alen) == 0);
	CHECK(bind(s, (struct sockaddr *)&a, alen) == 0);
	struct stat st;
	CHECK(stat(path, &st) == 0);
	printf("socket node: S_ISSOCK %d\n", S_ISSOCK(st.st_mode));
	int again = socket(AF_UNIX, SOCK_STREAM, 0);
	report("bind to the same path", bind(again, (struct sockaddr *)&a, alen) == 0);
	report("connect to a bound, not listening socket", connect(again, (struct sockaddr *)&a, alen) == 0);
	report("open the socket node", open(path, O_RDONLY) >= 0);
	close(again);
	CHECK(listen(s, 4) == 0);
	names("listener", s);
	show_poll("listener, nobody waiting", s);

	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		int c = socket(AF_UNIX, SOCK_STREAM, 0);
		CHECK(connect(c, (struct sockaddr *)&a, alen) == 0);
		char buf[64];
		CHECK(write(c, "ping from the child", 19) == 19);
		ssize_t n = read(c, buf, sizeof buf);
		printf("child got: %.*s\n", (int)n, buf);
		fflush(stdout);
		close(c);
		_exit(0);
	}
	struct pollfd p = { s, POLLIN, 0 };
	int ready = poll(&p, 1, 5000);
	printf("poll listener: %d revents %#x\n", ready, p.revents);
	struct sockaddr_un peer;
	socklen_t plen = sizeof peer;
	int c = accept(s, (struct sockaddr *)&peer, &plen);
	CHECK(c >= 0);
	show_name("accept's peer", &peer, plen);
	names("accepted", c);
	char buf[64];
	ssize_t n = read(c, buf, sizeof buf);
	printf("server got: %.*s\n", (int)n, buf);
	CHECK(write(c, "pong", 4) == 4);
	int status;
	CHECK(waitpid(child, &status, 0) == child);
	describe("client", status);
	printf("after the client closed: %zd\n", read(c, buf, sizeof buf));
	close(c);
	close(s);
	CHECK(unlink(path) == 0);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	report("connect after unlink", connect(s, (struct sockaddr *)&a, alen) == 0);
	report("connect to a regular file", connect(s, (struct sockaddr *)&a, path_addr(&a, "data.txt")) == 0);
	close(s);
}

/* Abstract names: no file; a client that binds is seen by its name. */
static void abstract_names(void)
{
	struct sockaddr_un a, b;
	socklen_t alen = abstract_addr(&a, "srv"), blen = abstract_addr(&b, "cli");
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(bind(s, (struct sockaddr *)&a, alen) == 0);
	CHECK(listen(s, 1) == 0);
	struct sockaddr_un got;
	socklen_t glen = sizeof got;
	CHECK(getsockname(s, (struct sockaddr *)&got, &glen) == 0);
	printf("abstract sockname matches: %d\n", glen == alen && memcmp(&got, &a, alen) == 0);
	int c = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	CHECK(bind(c, (struct sockaddr *)&b, blen) == 0);
	CHECK(connect(c, (struct sockaddr *)&a, alen) == 0);
	glen = sizeof got;
	int d = accept(s, (struct sockaddr *)&got, &glen);
	CHECK(d >= 0);
	printf("accepted peer is the client's name: %d\n", glen == blen && memcmp(&got, &b, blen) == 0);
	char buf[8];
	ssize_t n = read(c, buf, sizeof buf);
	printf("non-blocking read: %zd %s\n", n, n < 0 ? strerror(errno) : "");
	close(d);
	close(c);
	close(s);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	report("connect to the closed abstract name", connect(s, (struct sockaddr *)&a, alen) == 0);
	close(s);
}

/* Datagram sockets bound to paths: sendto a path, recvfrom the sender. */
static void datagrams(void)
{
	struct sockaddr_un a, b, from;
	socklen_t alen = path_addr(&a, "compat-dgram-a.sock"), blen = path_addr(&b, "compat-dgram-b.sock");
	unlink(a.sun_path);
	unlink(b.sun_path);
	int x = socket(AF_UNIX, SOCK_DGRAM, 0), y = socket(AF_UNIX, SOCK_DGRAM, 0), u = socket(AF_UNIX, SOCK_DGRAM, 0);
	CHECK(bind(x, (struct sockaddr *)&a, alen) == 0);
	CHECK(bind(y, (struct sockaddr *)&b, blen) == 0);
	CHECK(sendto(y, "from b", 6, 0, (struct sockaddr *)&a, alen) == 6);
	CHECK(sendto(u, "unnamed", 7, 0, (struct sockaddr *)&a, alen) == 7);
	show_poll("dgram with two queued", x);
	char buf[32];
	socklen_t flen = sizeof from;
	memset(&from, 0, sizeof from);
	ssize_t n = recvfrom(x, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
	printf("recvfrom: %zd [%.*s]\n", n, (int)n, buf);
	show_name("sender", &from, flen);
	flen = sizeof from;
	n = recvfrom(x, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
	printf("recvfrom an unbound sender: %zd [%.*s] addrlen %d\n", n, (int)n, buf, (int)flen);
	CHECK(connect(u, (struct sockaddr *)&b, blen) == 0);
	names("connected dgram", u);
	CHECK(send(u, "to b", 4, 0) == 4);
	n = recv(y, buf, sizeof buf, 0);
	printf("connected dgram: %zd [%.*s]\n", n, (int)n, buf);
	n = send(x, "nowhere", 7, 0);
	printf("send unconnected dgram: %zd %s\n", n, n < 0 ? strerror(errno) : "");
	close(y);
	n = sendto(x, "gone", 4, 0, (struct sockaddr *)&b, blen);
	printf("sendto a closed socket's path: %zd %s\n", n, n < 0 ? strerror(errno) : "");
	close(x);
	close(u);
	unlink(a.sun_path);
	unlink(b.sun_path);
}

/* A pipe's read end and a socket passed with SCM_RIGHTS to another process. */
static void rights(void)
{
	int sv[2], p[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(pipe(p) == 0);
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		close(sv[0]);
		close(p[0]);
		close(p[1]);
		char tag[4] = { 0 };
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(2 * sizeof(int))];
		} ctl;
		struct iovec io = { tag, 3 };
		struct msghdr m = { 0 };
		m.msg_iov = &io;
		m.msg_iovlen = 1;
		m.msg_control = ctl.buf;
		m.msg_controllen = sizeof ctl.buf;
		ssize_t n = recvmsg(sv[1], &m, 0);
		struct cmsghdr *h = CMSG_FIRSTHDR(&m);
		printf("child recvmsg: %zd [%s] cmsg %d level %d type %d fds %d\n", n, tag, h != NULL, h ? h->cmsg_level : -1,
		       h ? h->cmsg_type : -1, h ? (int)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int)) : 0);
		int fds[2];
		memcpy(fds, CMSG_DATA(h), sizeof fds);
		char buf[32];
		n = read(fds[0], buf, sizeof buf);
		printf("child read the passed pipe: %.*s\n", (int)n, buf);
		CHECK(write(fds[1], "via passed socket", 17) == 17);
		fflush(stdout);
		_exit(0);
	}
	close(sv[1]);
	CHECK(write(p[1], "through the pipe", 16) == 16);
	int extra[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, extra) == 0);
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} ctl;
	memset(&ctl, 0, sizeof ctl);
	struct iovec io = { "FDS", 3 };
	struct msghdr m = { 0 };
	m.msg_iov = &io;
	m.msg_iovlen = 1;
	m.msg_control = ctl.buf;
	m.msg_controllen = sizeof ctl.buf;
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(2 * sizeof(int));
	int fds[2] = { p[0], extra[1] };
	memcpy(CMSG_DATA(h), fds, sizeof fds);
	ssize_t sent = sendmsg(sv[0], &m, 0);
	/* Our copies go; the child's stay open. */
	close(p[0]);
	close(extra[1]);
	char buf[32];
	ssize_t n = read(extra[0], buf, sizeof buf);
	printf("parent got through the passed socket: %.*s\n", (int)n, buf);
	int status;
	CHECK(waitpid(child, &status, 0) == child);
	printf("sendmsg with two descriptors: %zd\n", sent);
	describe("receiver", status);
	printf("after the receiver exited: %zd\n", read(extra[0], buf, sizeof buf));
	int bad = 999;
	memcpy(CMSG_DATA(h), &bad, sizeof bad);
	h->cmsg_len = CMSG_LEN(sizeof(int));
	m.msg_controllen = CMSG_SPACE(sizeof(int));
	n = sendmsg(sv[0], &m, MSG_NOSIGNAL);
	printf("sendmsg with a bad descriptor: %zd %s\n", n, n < 0 ? strerror(errno) : "");
	close(extra[0]);
	close(sv[0]);
	close(p[1]);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	pairs();
	path_server();
	abstract_names();
	datagrams();
	rights();
	printf("done\n");
	return 0;
}
