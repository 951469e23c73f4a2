/* TCP over 127.0.0.1 when the peer goes away, and signals ending blocking
 * socket calls: a write after the peer closed succeeds, the next one (the
 * peer answered with a reset) is EPIPE with SIGPIPE, or ECONNRESET first
 * when the peer reset a connection it had not read; MSG_NOSIGNAL and an
 * ignored SIGPIPE give EPIPE alone, the default SIGPIPE kills. A signal
 * ends a blocking recv, accept and send (EINTR, or the part already sent),
 * SA_RESTART restarts the recv, a fatal signal ends a blocked accept.
 * Needs a network stack: our kernel runs it with `embctl run --net`.
 * `tcperr accept` only waits in accept (for Ctrl-C on the console). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <poll.h>
#include "compat.h"

static volatile int pipes, usr1;

static void on_pipe(int sig)
{
	(void)sig;
	pipes++;
}

static void on_usr1(int sig)
{
	(void)sig;
	usr1++;
}

/* Time for a FIN or a reset to arrive over loopback. */
static void settle(void)
{
	usleep(400000);
}

/* Whether poll says POLLERR (a pending error: a reset not reported yet). */
static void show_pollerr(const char *what, int fd)
{
	struct pollfd p = { fd, POLLIN | POLLOUT, 0 };
	CHECK(poll(&p, 1, 0) >= 0);
	printf("%s: POLLERR %s\n", what, (p.revents & POLLERR) ? "set" : "clear");
}

static int listener(struct sockaddr_in *a)
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(l >= 0);
	memset(a, 0, sizeof *a);
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(l, (struct sockaddr *)a, sizeof *a) == 0);
	socklen_t n = sizeof *a;
	CHECK(getsockname(l, (struct sockaddr *)a, &n) == 0);
	CHECK(listen(l, 4) == 0);
	return l;
}

/* A connection: the client end in *c, the accepted end returned. */
static int connection(int l, struct sockaddr_in *a, int *c)
{
	*c = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(*c >= 0);
	CHECK(connect(*c, (struct sockaddr *)a, sizeof *a) == 0);
	int s = accept(l, NULL, NULL);
	CHECK(s >= 0);
	return s;
}

static void attempt(const char *what, int fd, int flags)
{
	int before = pipes;
	ssize_t n = send(fd, "data", 4, flags);
	if (n >= 0)
		printf("%s: sent %d", what, (int)n);
	else
		printf("%s: %s", what, strerror(errno));
	printf(", SIGPIPE %s\n", pipes > before ? "caught" : "not raised");
}

/* A child that sends `sig` to its parent after `ms`, then (if `fd` >= 0)
 * writes "late" on fd after as long again. */
static pid_t signal_parent_later(int sig, int ms, int fd)
{
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		usleep(ms * 1000);
		kill(getppid(), sig);
		if (fd >= 0) {
			usleep(ms * 1000);
			if (write(fd, "late", 4) != 4)
				_exit(1);
		}
		_exit(0);
	}
	return pid;
}

static void reap(pid_t pid)
{
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
}

int main(int argc, char **argv)
{
	struct sockaddr_in a;
	int l = listener(&a), c, s, status;
	if (argc > 1 && !strcmp(argv[1], "accept")) {
		printf("waiting in accept\n");
		fflush(stdout);
		accept(l, NULL, NULL);
		return 0;
	}
	char buf[16];
	set_handler(SIGPIPE, on_pipe, 0);

	/* The peer closes (FIN); our first write makes it reset. */
	s = connection(l, &a, &c);
	close(s);
	settle();
	printf("recv after the peer closed: %d\n", (int)recv(c, buf, sizeof buf, 0));
	attempt("send after the peer closed", c, 0);
	settle();
	attempt("send after its reset", c, 0);
	attempt("send with MSG_NOSIGNAL", c, MSG_NOSIGNAL);
	int before = pipes;
	errno = 0;
	int wrote = (int)write(c, "x", 1);
	printf("write: %d %s, SIGPIPE %s\n", wrote, strerror(errno), pipes > before ? "caught" : "not raised");
	printf("recv after the reset: %d\n", (int)recv(c, buf, sizeof buf, 0));
	close(c);

	/* The peer closes without reading what we sent: it resets at once. */
	s = connection(l, &a, &c);
	CHECK(send(c, "unread", 6, 0) == 6);
	settle();
	show_pollerr("before the reset", c);
	close(s);
	settle();
	show_pollerr("after the peer reset", c);
	attempt("send after the peer reset", c, 0);
	show_pollerr("after the reset was reported", c);
	attempt("send again", c, 0);
	close(c);

	/* Ignored SIGPIPE: EPIPE alone. Default SIGPIPE: death. */
	s = connection(l, &a, &c);
	close(s);
	settle();
	attempt("send after the peer closed", c, 0);
	settle();
	signal(SIGPIPE, SIG_IGN);
	attempt("send with SIGPIPE ignored", c, 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		send(c, "data", 4, 0);
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	describe("send with the default SIGPIPE", status);
	close(c);
	set_handler(SIGPIPE, on_pipe, 0);

	/* A signal ends a blocking recv (EINTR), or it restarts (SA_RESTART). */
	s = connection(l, &a, &c);
	set_handler(SIGUSR1, on_usr1, 0);
	pid = signal_parent_later(SIGUSR1, 300, s);
	errno = 0;
	ssize_t n = recv(c, buf, sizeof buf, 0);
	printf("recv: %d %s, handler ran %d\n", (int)n, n < 0 ? strerror(errno) : "", usr1);
	reap(pid);
	printf("then recv: %d\n", (int)recv(c, buf, sizeof buf, 0));
	set_handler(SIGUSR1, on_usr1, SA_RESTART);
	pid = signal_parent_later(SIGUSR1, 300, s);
	n = recv(c, buf, sizeof buf, 0);
	printf("recv with SA_RESTART: %d, handler ran %d\n", (int)n, usr1);
	reap(pid);

	/* A blocking send into a peer that does not read: the part sent. */
	set_handler(SIGUSR1, on_usr1, 0);
	size_t big = 16 << 20;
	char *data = calloc(1, big);
	CHECK(data != NULL);
	pid = signal_parent_later(SIGUSR1, 500, -1);
	n = send(c, data, big, 0);
	printf("send interrupted: %s, handler ran %d\n", n > 0 && (size_t)n < big ? "a part was sent" : strerror(errno), usr1);
	reap(pid);
	free(data);
	close(c);
	close(s);

	/* A blocking accept: EINTR; a fatal signal ends it. */
	pid = signal_parent_later(SIGUSR1, 300, -1);
	errno = 0;
	int got = accept(l, NULL, NULL);
	printf("accept: %d %s, handler ran %d\n", got, got < 0 ? strerror(errno) : "", usr1);
	reap(pid);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* SIGINT's default action, whatever was inherited: a shell that
		 * starts the test in the background ignores SIGINT for it, and
		 * the child then sat in accept forever on the host. */
		signal(SIGINT, SIG_DFL);
		accept(l, NULL, NULL);
		_exit(0);
	}
	usleep(300000);
	kill(pid, SIGINT);
	CHECK(waitpid(pid, &status, 0) == pid);
	describe("accept and SIGINT", status);
	close(l);
	printf("tcperr done\n");
	return 0;
}
