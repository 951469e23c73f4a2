/* More of AF_UNIX: SOCK_SEQPACKET (a connection that keeps message
 * boundaries: socketpair, and listen/connect/accept on a path), SO_PEERCRED
 * (the peer's pid, uid and gid at connect or socketpair time; the client
 * checks its server's pid and says so by its exit status), and
 * a stream socket closed with unread data: its peer's next read (once the
 * queue is empty) is ECONNRESET, its sends EPIPE, and poll says POLLERR
 * until that error was read. */
#define _GNU_SOURCE
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "compat.h"

static void show_recv(const char *what, int fd, size_t room)
{
	char buf[64];
	struct iovec iov = { buf, room };
	struct msghdr m = { 0 };
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	errno = 0;
	ssize_t n = recvmsg(fd, &m, 0);
	if (n < 0) {
		printf("%s: %s\n", what, strerror(errno));
		return;
	}
	printf("%s: %d \"%.*s\"%s\n", what, (int)n, (int)n, buf, m.msg_flags & MSG_TRUNC ? " truncated" : "");
}

static void show_cred(const char *what, int fd, pid_t pid)
{
	struct ucred c;
	socklen_t len = sizeof c;
	memset(&c, 0x55, sizeof c);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &len) != 0) {
		printf("%s: %s\n", what, strerror(errno));
		return;
	}
	printf("%s: len %d, pid %s, uid %s, gid %s\n", what, (int)len, c.pid == pid ? "right" : "wrong",
	       c.uid == getuid() ? "right" : "wrong", c.gid == getgid() ? "right" : "wrong");
}

static void show_pollerr(const char *what, int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };
	CHECK(poll(&p, 1, 0) >= 0);
	printf("%s: POLLERR %s\n", what, (p.revents & POLLERR) ? "set" : "clear");
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp";
	int sv[2], type;
	socklen_t len = sizeof type;

	/* SEQPACKET pair: boundaries kept, truncation, end of stream. */
	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
	CHECK(getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &type, &len) == 0);
	printf("type is SOCK_SEQPACKET: %s\n", type == SOCK_SEQPACKET ? "yes" : "no");
	CHECK(send(sv[0], "one", 3, 0) == 3);
	CHECK(send(sv[0], "two", 3, 0) == 3);
	CHECK(send(sv[0], "a longer message", 16, 0) == 16);
	CHECK(send(sv[0], "", 0, 0) == 0);
	show_recv("first", sv[1], 64);
	show_recv("second", sv[1], 64);
	show_recv("into 5 bytes", sv[1], 5);
	show_recv("empty message", sv[1], 64);
	struct pollfd p = { sv[1], POLLIN, 0 };
	printf("poll with nothing queued: %d\n", poll(&p, 1, 0));
	show_cred("pair's peer", sv[1], getpid());
	close(sv[0]);
	show_recv("after the peer closed", sv[1], 64);
	signal(SIGPIPE, SIG_IGN);
	errno = 0;
	int r = (int)send(sv[1], "x", 1, 0);
	printf("send to the closed peer: %d %s\n", r, strerror(errno));
	close(sv[1]);

	/* SEQPACKET server on a path, a client in a child. */
	struct sockaddr_un a = { AF_UNIX, "" };
	snprintf(a.sun_path, sizeof a.sun_path, "%s/unixmore-%d.sock", dir, (int)getpid());
	unlink(a.sun_path);
	int l = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	CHECK(l >= 0);
	CHECK(bind(l, (struct sockaddr *)&a, sizeof a) == 0);
	CHECK(listen(l, 2) == 0);
	int stream = socket(AF_UNIX, SOCK_STREAM, 0);
	errno = 0;
	r = connect(stream, (struct sockaddr *)&a, sizeof a);
	printf("stream connect to a seqpacket server: %d %s\n", r, strerror(errno));
	close(stream);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int c = socket(AF_UNIX, SOCK_SEQPACKET, 0);
		CHECK(c >= 0);
		CHECK(connect(c, (struct sockaddr *)&a, sizeof a) == 0);
		struct ucred cred;
		socklen_t clen = sizeof cred;
		CHECK(getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0);
		if (cred.pid != getppid())
			_exit(3);
		CHECK(send(c, "hello", 5, 0) == 5);
		CHECK(send(c, "world!", 6, 0) == 6);
		char ack[8];
		CHECK(recv(c, ack, sizeof ack, 0) == 3);
		_exit(0);
	}
	int s = accept(l, NULL, NULL);
	CHECK(s >= 0);
	show_cred("server's peer (the client)", s, pid);
	show_recv("from the client", s, 64);
	show_recv("then", s, 64);
	CHECK(send(s, "ack", 3, 0) == 3);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	describe("client", status);
	show_recv("after the client exited", s, 64);
	close(s);
	close(l);
	unlink(a.sun_path);

	/* Unconnected: SO_PEERCRED has no peer. */
	int lone = socket(AF_UNIX, SOCK_STREAM, 0);
	struct ucred c;
	len = sizeof c;
	CHECK(getsockopt(lone, SOL_SOCKET, SO_PEERCRED, &c, &len) == 0);
	printf("unconnected: pid %d uid %d gid %d\n", (int)c.pid, (int)c.uid, (int)c.gid);
	close(lone);

	/* A stream socket closed with unread data: its peer gets ECONNRESET
	 * once (after what was queued for it), then end of stream. */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(send(sv[0], "unread", 6, 0) == 6);
	CHECK(send(sv[1], "queued", 6, 0) == 6);
	show_pollerr("before the close", sv[0]);
	close(sv[1]);
	show_pollerr("peer closed with our data unread", sv[0]);
	show_recv("what was queued", sv[0], 64);
	show_recv("then", sv[0], 64);
	show_pollerr("after the error was read", sv[0]);
	show_recv("and then", sv[0], 64);
	close(sv[0]);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(send(sv[0], "unread", 6, 0) == 6);
	close(sv[1]);
	errno = 0;
	r = (int)send(sv[0], "x", 1, 0);
	printf("send: %d %s\n", r, strerror(errno));
	errno = 0;
	r = (int)send(sv[0], "x", 1, 0);
	printf("send again: %d %s\n", r, strerror(errno));
	close(sv[0]);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	close(sv[1]);
	show_recv("closed with nothing unread", sv[0], 64);
	close(sv[0]);
	printf("unixmore done\n");
	return 0;
}
