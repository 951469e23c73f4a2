/* One read or write larger than 64 KiB (the most one forwarded LKL call
 * copies): write/read/pwrite/pread/writev/readv/sendfile of a regular file
 * move every byte in one call, as Linux does; a non-blocking pipe takes what
 * fits (a short count); a blocking pipe write waits for its reader until all
 * is written; a buffer whose second half is unmapped moves the first half.
 * A signal (no SA_RESTART) cuts no regular file's read or write, short or long. */
#define _GNU_SOURCE
/* 64-bit off_t: glibc calls sendfile64 (sendfile32.c calls the old 32-bit one, 187). */
#define _FILE_OFFSET_BITS 64
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>
#include "compat.h"

#define MIB (1024 * 1024)

static unsigned char src[2 * MIB], dst[2 * MIB];

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 7 + i / 4093);
}

/* Whether `n` bytes at `p` are the pattern from position `from`. */
static int same(const unsigned char *p, size_t n, size_t from)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != pattern(from + i))
			return 0;
	return 1;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp/compat-bigio";
	struct stat st;

	for (size_t i = 0; i < sizeof src; i++)
		src[i] = pattern(i);
	mkdir(dir, 0755);
	CHECK(chdir(dir) == 0);

	int fd = open("big", O_CREAT | O_TRUNC | O_RDWR, 0644);
	CHECK(fd >= 0);
	printf("write 1 MiB: %zd\n", write(fd, src, MIB));
	CHECK(fstat(fd, &st) == 0);
	printf("size: %ld\n", (long)st.st_size);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	ssize_t n = read(fd, dst, MIB + 4096);
	printf("read 1 MiB + 4 KiB at 0: %zd, same: %d, position %ld\n", n, same(dst, MIB, 0), (long)lseek(fd, 0, SEEK_CUR));

	/* pwrite the pattern shifted by 300001 over [300001, 500001). */
	printf("pwrite 200000 at 300001: %zd\n", pwrite(fd, src + 300001, 200000, 300001));
	n = pread(fd, dst, 700000, 250000);
	printf("pread 700000 at 250000: %zd, same: %d, position %ld\n", n, same(dst, 700000, 250000), (long)lseek(fd, 0, SEEK_CUR));

	/* writev at the end: three pieces, 140001 bytes. */
	CHECK(lseek(fd, 0, SEEK_END) == MIB);
	struct iovec wiov[3] = { { src + MIB, 40000 }, { src + MIB + 40000, 100000 }, { src + MIB + 140000, 1 } };
	printf("writev 40000+100000+1: %zd\n", writev(fd, wiov, 3));
	CHECK(lseek(fd, MIB - 5, SEEK_SET) == MIB - 5);
	memset(dst, 0, sizeof dst);
	struct iovec riov[2] = { { dst, 70000 }, { dst + 70000, 100000 } };
	n = readv(fd, riov, 2);
	printf("readv 70000+100000 at 1 MiB - 5: %zd, same: %d\n", n, same(dst, (size_t)n, MIB - 5));

	/* sendfile the whole file into a second one, from an offset and from the position. */
	int out = open("copy", O_CREAT | O_TRUNC | O_RDWR, 0644);
	CHECK(out >= 0);
	off_t off = 0;
	n = sendfile(out, fd, &off, 2 * MIB);
	printf("sendfile 2 MiB from offset 0: %zd, offset now %ld\n", n, (long)off);
	CHECK(lseek(fd, 100, SEEK_SET) == 100);
	n = sendfile(out, fd, NULL, 300000);
	printf("sendfile 300000 from position 100: %zd, position now %ld\n", n, (long)lseek(fd, 0, SEEK_CUR));
	CHECK(lseek(out, 0, SEEK_SET) == 0);
	memset(dst, 0, sizeof dst);
	n = read(out, dst, 2 * MIB);
	printf("copy: %zd bytes, same: %d\n", n, same(dst, MIB + 140001, 0) && same(dst + MIB + 140001, 300000, 100));
	close(out);

	/* A buffer whose second 64 KiB are unmapped: the first 64 KiB move. */
	unsigned char *m = mmap(NULL, 2 * 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED);
	memcpy(m, src, 65536);
	CHECK(munmap(m + 65536, 65536) == 0);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	printf("write from a half-unmapped 128 KiB: %zd\n", write(fd, m, 2 * 65536));
	n = read(fd, m, 2 * 65536);
	printf("read into a half-unmapped 128 KiB: %zd, position %ld\n", n, (long)lseek(fd, 0, SEEK_CUR));
	n = write(fd, m + 65536, 100000);
	printf("write from an unmapped buffer: %zd %s\n", n, strerror(errno));
	close(fd);

	/* Signals (no SA_RESTART) every 200 us do not cut a regular file's
	 * write or read short: Linux moves every byte, then runs the handler. */
	set_handler(SIGALRM, on_alarm, 0);
	struct itimerval every = {{0, 200}, {0, 200}}, stop = {{0, 0}, {0, 0}};
	fd = open("signalled", O_CREAT | O_TRUNC | O_RDWR, 0644);
	CHECK(fd >= 0);
	CHECK(setitimer(ITIMER_REAL, &every, NULL) == 0);
	ssize_t w = 0, r = 0;
	for (int i = 0; i < 4; i++) {
		/* Over the same 2 MiB: LKL's memory under x86/lkl-qemu is small. */
		CHECK(lseek(fd, 0, SEEK_SET) == 0);
		w += write(fd, src, 2 * MIB);
		r += pread(fd, dst, 2 * MIB, 0);
	}
	CHECK(setitimer(ITIMER_REAL, &stop, NULL) == 0);
	printf("4 writes and reads of 2 MiB under a 200 us timer: %zd %zd, same: %d\n", w, r,
	       same(dst, 2 * MIB, 0));
	close(fd);
	CHECK(unlink("signalled") == 0);

	/* Nor does one that comes while a write or read of 64 KiB or less (one
	 * forwarded LKL call) is under way, before it reached the file. */
	fd = open("signalled", O_CREAT | O_TRUNC | O_RDWR, 0644);
	CHECK(fd >= 0);
	alarms = 0;
	CHECK(setitimer(ITIMER_REAL, &every, NULL) == 0);
	int cut = 0;
	for (int i = 0; i < 300; i++) {
		CHECK(lseek(fd, 0, SEEK_SET) == 0);
		cut += write(fd, src + i, 65536) != 65536;
		CHECK(lseek(fd, 0, SEEK_SET) == 0);
		cut += read(fd, dst, 65536) != 65536;
		cut += pwrite(fd, src, 4096, 65536) != 4096;
		cut += pread(fd, dst + 65536, 4096, 65536) != 4096;
	}
	CHECK(setitimer(ITIMER_REAL, &stop, NULL) == 0);
	printf("1200 writes and reads of 64 or 4 KiB under a 200 us timer: %d cut, signals: %s, same: %d\n", cut,
	       alarms ? "yes" : "no", same(dst, 65536, 299) && same(dst + 65536, 4096, 0));
	close(fd);
	CHECK(unlink("signalled") == 0);

	/* A non-blocking pipe takes what fits; reads give what is there. */
	int p[2];
	CHECK(pipe2(p, O_NONBLOCK) == 0);
	printf("non-blocking pipe write 1 MiB: %zd\n", write(p[1], src, MIB));
	n = read(p[0], dst, MIB);
	printf("pipe read 1 MiB: %zd, same: %d\n", n, same(dst, (size_t)n, 0));
	n = read(p[0], dst, MIB);
	printf("empty pipe read: %zd %s\n", n, strerror(errno));
	close(p[0]), close(p[1]);

	/* A blocking pipe write of 300000 bytes waits for its reader. */
	CHECK(pipe(p) == 0);
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		close(p[1]);
		size_t got = 0;
		while ((n = read(p[0], dst + got, sizeof dst - got)) > 0)
			got += (size_t)n;
		_exit(got == 300000 && same(dst, got, 0) ? 0 : 1);
	}
	close(p[0]);
	printf("blocking pipe write 300000: %zd\n", write(p[1], src, 300000));
	close(p[1]);
	int status;
	CHECK(waitpid(child, &status, 0) == child);
	describe("reader", status);
	return 0;
}
