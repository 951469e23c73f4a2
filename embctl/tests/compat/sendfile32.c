/* The old i386 sendfile (187) with its 32-bit off_t, as a raw call (glibc
 * calls it for programs built without _FILE_OFFSET_BITS=64, musl never):
 * from an offset (the input's position untouched, the offset advanced), from
 * the input's position, to the end of the file, to stdout; an offset at
 * 2^31 - 1 is EOVERFLOW, one just below it has its count cut to end there,
 * a negative one is EINVAL, a bad offset pointer EFAULT; when several errors
 * apply, Linux's order (sendfile64's too). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "compat.h"

#define NR_SENDFILE 187 /* i386's sendfile, 32-bit offset */
#define NR_SENDFILE64 239

static long sendfile32(int out, int in, int32_t *offset, unsigned long count)
{
	return syscall(NR_SENDFILE, out, in, offset, count);
}

/* Runs sendfile32(out, in, offset, count) and prints its result, the offset
 * after it and the input's position. */
static void show(const char *what, int out, int in, int32_t *offset, unsigned long count)
{
	long ret = sendfile32(out, in, offset, count);

	if (ret < 0)
		printf("%s: %s\n", what, strerror(errno));
	else
		printf("%s: %ld, offset %ld, input position %ld\n", what, ret, offset ? (long)*offset : -1L,
		       (long)lseek(in, 0, SEEK_CUR));
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp/compat-sendfile32";
	char data[1000];

	mkdir(dir, 0755);
	CHECK(chdir(dir) == 0);
	for (int i = 0; i < (int)sizeof data; i++)
		data[i] = 'a' + i % 26;
	int in = open("in", O_CREAT | O_TRUNC | O_RDWR, 0644);
	CHECK(in >= 0);
	CHECK(write(in, data, sizeof data) == (ssize_t)sizeof data);
	CHECK(lseek(in, 0, SEEK_SET) == 0);
	int out = open("out", O_CREAT | O_TRUNC | O_RDWR, 0644);
	CHECK(out >= 0);

	int32_t offset = 100;
	show("300 from offset 100", out, in, &offset, 300);
	show("250 from the position", out, in, NULL, 250);
	offset = 900;
	show("500 from offset 900", out, in, &offset, 500);
	offset = 2147483647;
	show("from offset 2^31-1", out, in, &offset, 10);
	offset = 2147483647 - 256;
	show("4096 from offset 2^31-257", out, in, &offset, 4096);
	offset = -1;
	show("from offset -1", out, in, &offset, 10);
	show("bad offset pointer", out, in, (int32_t *)8, 10);
	int wronly = open("out", O_WRONLY);
	CHECK(wronly >= 0);
	show("from a write-only input", out, wronly, NULL, 10);

	/* Several errors at once: Linux checks the input (EBADF, then ESPIPE),
	 * a negative offset (EINVAL), the output (EBADF), then 2^31 - 1
	 * (EOVERFLOW); the offset is written back even when the call fails. */
	int rdonly = open("in", O_RDONLY), p[2];
	CHECK(rdonly >= 0 && pipe(p) == 0);
	CHECK(write(p[1], "x", 1) == 1);
	enum { GOOD, BAD, WRONLY, RDONLY, PIPE };
	const int fds[] = { [GOOD] = -1, [BAD] = 99, [WRONLY] = wronly, [RDONLY] = rdonly, [PIPE] = p[0] };
	const int32_t far = 2147483647, below = -1;
	const struct { const char *what; int out, in; int32_t offset; } both[] = {
		{ "bad input, offset 2^31-1", GOOD, BAD, far },
		{ "write-only input, offset 2^31-1", GOOD, WRONLY, far },
		{ "pipe input, offset 2^31-1", GOOD, PIPE, far },
		{ "pipe input, offset -1", BAD, PIPE, below },
		{ "bad output, offset 2^31-1", BAD, GOOD, far },
		{ "read-only output, offset 2^31-1", RDONLY, GOOD, far },
		{ "bad output, offset -1", BAD, GOOD, below },
		{ "bad input, offset -1", GOOD, BAD, below },
	};
	for (size_t i = 0; i < sizeof both / sizeof both[0]; i++) {
		offset = both[i].offset;
		show(both[i].what, both[i].out == GOOD ? out : fds[both[i].out], both[i].in == GOOD ? in : fds[both[i].in],
		     &offset, 10);
	}
	int32_t *readonly = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(readonly != MAP_FAILED);
	show("bad input, read-only offset", out, 99, readonly, 10);
	show("read-only offset", out, in, readonly, 10);
	printf("input position after it: %ld\n", (long)lseek(in, 0, SEEK_CUR));
	int64_t offset64 = -1;
	long r = syscall(NR_SENDFILE64, 99, in, &offset64, 10);
	printf("sendfile64, bad output, offset -1: %ld %s\n", r, r < 0 ? strerror(errno) : "");
	offset64 = -1;
	r = syscall(NR_SENDFILE64, out, 99, &offset64, 10);
	printf("sendfile64, bad input, offset -1: %ld %s\n", r, r < 0 ? strerror(errno) : "");
	r = syscall(NR_SENDFILE64, out, p[0], &offset64, 10);
	printf("sendfile64, pipe input, offset -1: %ld %s\n", r, r < 0 ? strerror(errno) : "");
	close(rdonly), close(p[0]), close(p[1]);

	struct stat st;
	CHECK(fstat(out, &st) == 0);
	char copy[1000];
	CHECK(pread(out, copy, 650, 0) == 650);
	printf("output: %ld bytes, as sent: %d\n", (long)st.st_size,
	       !memcmp(copy, data + 100, 300) && !memcmp(copy + 300, data, 250) &&
		       !memcmp(copy + 550, data + 900, 100));

	fflush(stdout);
	offset = 26;
	long sent = sendfile32(1, in, &offset, 26);
	printf("\nto stdout: %ld, offset %ld\n", sent, (long)offset);
	return 0;
}
