/* A small TCP/UDP tool for the kernel's socket tests and benchmarks, built
 * static for i386 (gcc -m32 -static). Every mode prints one result line.
 *
 *   netprog server PORT [CONNS]        TCP echo server on 0.0.0.0:PORT, CONNS connections
 *   netprog client HOST PORT MSG [N]   sends MSG N times, half-closes, checks the echo
 *   netprog sink PORT                  accepts one connection, counts bytes to EOF
 *   netprog source HOST PORT MIB       connects and sends MIB MiB, prints the rate
 *   netprog loop PORT MIB [CHUNK]      a forked child sends MIB MiB over 127.0.0.1 in
 *                                      CHUNK-byte writes (64 KiB); the parent reads them
 *                                      and prints the rate (under -icount shift=0 the
 *                                      guest's clock counts instructions)
 *   The three bulk modes mark where their transfer starts and ends with
 *   `xchg %bx,%bx`, a no-op that scripts/lib/insn-marks.c (a QEMU plugin)
 *   answers with the guest's instruction count so far: bench-net.sh's
 *   instructions per MiB, which the machine's load does not move.
 *   netprog udp-echo PORT [N]          answers N datagrams on 0.0.0.0:PORT
 *   netprog udp-ping HOST PORT MSG     sends one datagram, waits (poll, 5 s) for the echo
 *   netprog listeners PORT N BACKLOG   N TCP sockets listening on PORT, PORT+1, ... with
 *                                      BACKLOG each (kept open), prints how many did and
 *                                      why the others did not
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) { perror(what); exit(1); }

/* See the header: a no-op marker for the instruction-counting plugin. */
static void mark(void) { __asm__ volatile("xchg %%bx, %%bx" ::: "memory"); }

static double now(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return tv.tv_sec + tv.tv_usec / 1e6;
}

static struct sockaddr_in addr_of(const char *host, int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) { fprintf(stderr, "bad address %s\n", host); exit(2); }
    return a;
}

static int listener(int port) {
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (s < 0) die("socket");
    if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) die("setsockopt");
    struct sockaddr_in a = addr_of("0.0.0.0", port);
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
    if (listen(s, 4) < 0) die("listen");
    struct sockaddr_in me; socklen_t len = sizeof me;
    if (getsockname(s, (struct sockaddr *)&me, &len) < 0) die("getsockname");
    printf("listening on port %d\n", ntohs(me.sin_port));
    fflush(stdout);
    return s;
}

static int connected(const char *host, int port) {
    int s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (s < 0) die("socket");
    struct sockaddr_in a = addr_of(host, port);
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
    return s;
}

static int accept_one(int s) {
    struct sockaddr_in peer; socklen_t len = sizeof peer;
    int c = accept(s, (struct sockaddr *)&peer, &len);
    if (c < 0) die("accept");
    char ip[32];
    inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip);
    printf("connection from %s\n", ip);
    fflush(stdout);
    return c;
}

int main(int argc, char **argv) {
    static char buf[65536];
    if (argc >= 3 && !strcmp(argv[1], "server")) {
        int s = listener(atoi(argv[2])), conns = argc > 3 ? atoi(argv[3]) : 1;
        for (int i = 0; i < conns; i++) {
            int c = accept_one(s);
            long total = 0;
            ssize_t n;
            while ((n = read(c, buf, sizeof buf)) > 0) {
                for (ssize_t off = 0; off < n;) {
                    ssize_t w = write(c, buf + off, n - off);
                    if (w <= 0) die("write");
                    off += w;
                }
                total += n;
            }
            if (n < 0) die("read");
            close(c);
            printf("served %ld bytes\n", total);
        }
        close(s);
        return 0;
    }
    if (argc >= 5 && !strcmp(argv[1], "client")) {
        int s = connected(argv[2], atoi(argv[3])), times = argc > 5 ? atoi(argv[5]) : 1;
        size_t len = strlen(argv[4]);
        long sent = 0, got = 0;
        for (int i = 0; i < times; i++) {
            if (send(s, argv[4], len, 0) != (ssize_t)len) die("send");
            sent += len;
        }
        if (shutdown(s, SHUT_WR) < 0) die("shutdown");
        ssize_t n;
        long bad = 0;
        while ((n = recv(s, buf, sizeof buf, 0)) > 0) {
            for (ssize_t i = 0; i < n; i++)
                if (buf[i] != argv[4][(got + i) % len]) bad++;
            got += n;
        }
        if (n < 0) die("recv");
        close(s);
        printf("echo %s: sent %ld, received %ld, %ld wrong\n", sent == got && !bad ? "ok" : "FAILED", sent, got, bad);
        return sent == got && !bad ? 0 : 1;
    }
    if (argc >= 3 && !strcmp(argv[1], "sink")) {
        int s = listener(atoi(argv[2]));
        int c = accept_one(s);
        long total = 0;
        ssize_t n;
        double t0 = now();
        mark();
        while ((n = read(c, buf, sizeof buf)) > 0) total += n;
        mark();
        double dt = now() - t0;
        printf("received %ld bytes in %.3f s: %.2f MiB/s\n", total, dt, total / dt / 1048576);
        return n < 0;
    }
    if (argc >= 5 && !strcmp(argv[1], "source")) {
        int s = connected(argv[2], atoi(argv[3]));
        long total = atol(argv[4]) * 1048576, done = 0;
        memset(buf, 'x', sizeof buf);
        double t0 = now();
        mark();
        while (done < total) {
            ssize_t w = write(s, buf, total - done < (long)sizeof buf ? total - done : (long)sizeof buf);
            if (w <= 0) die("write");
            done += w;
        }
        /* Done when the peer has it all (it closes at EOF), not when the
         * last byte is in our send buffer: a large buffer would otherwise
         * hide the rest of the work from the time and the marks. */
        if (shutdown(s, SHUT_WR) < 0) die("shutdown");
        while (read(s, buf, sizeof buf) > 0) {}
        mark();
        close(s);
        double dt = now() - t0;
        printf("sent %ld bytes in %.3f s: %.2f MiB/s\n", done, dt, done / dt / 1048576);
        return 0;
    }
    if (argc >= 4 && !strcmp(argv[1], "loop")) {
        int s = listener(atoi(argv[2]));
        long total = atol(argv[3]) * 1048576, chunk = argc > 4 ? atol(argv[4]) : (long)sizeof buf;
        if (chunk < 1 || chunk > (long)sizeof buf) { fprintf(stderr, "bad chunk %ld\n", chunk); return 2; }
        struct sockaddr_in me; socklen_t len = sizeof me;
        if (getsockname(s, (struct sockaddr *)&me, &len) < 0) die("getsockname");
        pid_t child = fork();
        if (child < 0) die("fork");
        if (child == 0) {
            close(s);
            int c = connected("127.0.0.1", ntohs(me.sin_port));
            memset(buf, 'x', sizeof buf);
            for (long done = 0; done < total;) {
                ssize_t w = write(c, buf, total - done < chunk ? total - done : chunk);
                if (w <= 0) die("write");
                done += w;
            }
            close(c);
            _exit(0);
        }
        int c = accept(s, NULL, NULL);
        if (c < 0) die("accept");
        long got = 0;
        ssize_t n;
        double t0 = now();
        mark();
        while ((n = read(c, buf, sizeof buf)) > 0) got += n;
        mark();
        double dt = now() - t0;
        int status;
        waitpid(child, &status, 0);
        printf("loopback: %ld bytes in %.3f s: %.2f MiB/s (%ld-byte writes)\n", got, dt, got / dt / 1048576, chunk);
        return n < 0 || got != total || status != 0;
    }
    if (argc >= 5 && !strcmp(argv[1], "listeners")) {
        int port = atoi(argv[2]), n = atoi(argv[3]), backlog = atoi(argv[4]), ok = 0;
        for (int i = 0; i < n; i++) {
            int s = socket(AF_INET, SOCK_STREAM, 0);
            if (s < 0) { printf("socket %d: %s\n", i, strerror(errno)); continue; }
            struct sockaddr_in a = addr_of("0.0.0.0", port + i);
            if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) { printf("bind %d: %s\n", i, strerror(errno)); continue; }
            if (listen(s, backlog) < 0) { printf("listen %d: %s\n", i, strerror(errno)); close(s); continue; }
            ok++;
        }
        printf("listeners: %d listening, %d refused\n", ok, n - ok);
        return 0;
    }
    if (argc >= 3 && !strcmp(argv[1], "udp-echo")) {
        int s = socket(AF_INET, SOCK_DGRAM, 0), n = argc > 3 ? atoi(argv[3]) : 1;
        struct sockaddr_in a = addr_of("0.0.0.0", atoi(argv[2]));
        if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
        printf("udp on port %d\n", atoi(argv[2]));
        fflush(stdout);
        for (int i = 0; i < n; i++) {
            struct sockaddr_in peer; socklen_t len = sizeof peer;
            ssize_t got = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&peer, &len);
            if (got < 0) die("recvfrom");
            if (sendto(s, buf, got, 0, (struct sockaddr *)&peer, len) != got) die("sendto");
        }
        printf("udp echoed %d\n", n);
        return 0;
    }
    if (argc >= 5 && !strcmp(argv[1], "udp-ping")) {
        int s = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in a = addr_of(argv[2], atoi(argv[3]));
        if (sendto(s, argv[4], strlen(argv[4]), 0, (struct sockaddr *)&a, sizeof a) < 0) die("sendto");
        struct pollfd p = { .fd = s, .events = POLLIN };
        if (poll(&p, 1, 5000) != 1) { printf("udp-ping: no answer\n"); return 1; }
        ssize_t n = recv(s, buf, sizeof buf - 1, 0);
        if (n < 0) die("recv");
        buf[n] = 0;
        printf("udp answer: %s\n", buf);
        return strcmp(buf, argv[4]) != 0;
    }
    fprintf(stderr, "usage: see the comment at the top of netprog.c\n");
    return 2;
}
