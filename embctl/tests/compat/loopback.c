/* UDP and TCP over 127.0.0.1 in a system without a network card: Linux
 * always has its loopback interface, so socket(AF_INET, ...) works and
 * datagrams and connections to 127.0.0.1 get through; our kernel runs it
 * without `--net`. `loopback offhost` (kernel only: the host has routes)
 * tries a destination off the machine, for which there is no route then. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include "compat.h"

static struct sockaddr_in loopback(unsigned short port)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(port);
	return a;
}

/* The socket's bound address (port 0 bound an ephemeral one). */
static struct sockaddr_in bound(int fd)
{
	struct sockaddr_in a;
	socklen_t n = sizeof a;
	CHECK(getsockname(fd, (struct sockaddr *)&a, &n) == 0);
	return a;
}

/* Receives one datagram on `fd` and says what and from where. */
static void show_datagram(const char *what, int fd, unsigned short sender_port)
{
	char buf[64];
	struct sockaddr_in from;
	socklen_t n = sizeof from;
	ssize_t got = recvfrom(fd, buf, sizeof buf - 1, 0, (struct sockaddr *)&from, &n);
	CHECK(got >= 0);
	buf[got] = 0;
	printf("%s: %zd bytes \"%s\" from %s, the sender's port %s\n", what, got, buf, inet_ntoa(from.sin_addr),
	       ntohs(from.sin_port) == sender_port ? "yes" : "no");
}

static void udp(void)
{
	int server = socket(AF_INET, SOCK_DGRAM, 0);
	report("udp socket", server >= 0);
	CHECK(server >= 0);
	struct sockaddr_in a = loopback(0);
	report("udp bind 127.0.0.1:0", bind(server, (struct sockaddr *)&a, sizeof a) == 0);
	a = bound(server);
	printf("udp bound to %s, ephemeral port %s\n", inet_ntoa(a.sin_addr), ntohs(a.sin_port) ? "yes" : "no");

	int client = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(client >= 0);
	report("udp sendto", sendto(client, "ping", 4, 0, (struct sockaddr *)&a, sizeof a) == 4);
	unsigned short client_port = ntohs(bound(client).sin_port);
	show_datagram("udp server got", server, client_port);

	report("udp connect", connect(client, (struct sockaddr *)&a, sizeof a) == 0);
	report("udp send", send(client, "connected", 9, 0) == 9);
	show_datagram("udp server got", server, client_port);

	struct sockaddr_in back = loopback(client_port);
	report("udp reply", sendto(server, "pong", 4, 0, (struct sockaddr *)&back, sizeof back) == 4);
	show_datagram("udp client got", client, ntohs(a.sin_port));
	close(client);
	close(server);
}

static void tcp(void)
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	report("tcp socket", l >= 0);
	CHECK(l >= 0);
	struct sockaddr_in a = loopback(0);
	CHECK(bind(l, (struct sockaddr *)&a, sizeof a) == 0);
	a = bound(l);
	report("tcp listen", listen(l, 1) == 0);
	int c = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(c >= 0);
	report("tcp connect", connect(c, (struct sockaddr *)&a, sizeof a) == 0);
	int s = accept(l, NULL, NULL);
	report("tcp accept", s >= 0);
	CHECK(s >= 0);
	CHECK(write(c, "hello", 5) == 5);
	char buf[16] = { 0 };
	ssize_t got = read(s, buf, sizeof buf - 1);
	CHECK(got >= 0);
	printf("tcp server read %zd bytes \"%s\"\n", got, buf);
	close(c);
	printf("tcp server read after close: %zd\n", read(s, buf, sizeof buf));
	close(s);
	close(l);
}

/* Kernel only: no NIC, so no route off the machine. */
static void offhost(void)
{
	struct sockaddr_in far;
	memset(&far, 0, sizeof far);
	far.sin_family = AF_INET;
	far.sin_addr.s_addr = inet_addr("198.51.100.1");
	far.sin_port = htons(9);
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(u >= 0);
	report("udp sendto 198.51.100.1", sendto(u, "x", 1, 0, (struct sockaddr *)&far, sizeof far) == 1);
	report("udp connect 198.51.100.1", connect(u, (struct sockaddr *)&far, sizeof far) == 0);
	int t = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(t >= 0);
	report("tcp connect 198.51.100.1", connect(t, (struct sockaddr *)&far, sizeof far) == 0);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 1 && !strcmp(argv[1], "offhost")) {
		offhost();
		return 0;
	}
	udp();
	tcp();
	return 0;
}
