/* The old i386 sendfile (187) with its 32-bit off_t, as a raw call (glibc
 * calls it for programs built without _FILE_OFFSET_BITS=64, musl never):
 * from an offset (the input's position untouched, the offset advanced), from
 * the input's position, to the end of the file, to stdout; an offset at
 * 2^31 - 1 is EOVERFLOW, one just below it has its count cut to end there,
 * a negative one is EINVAL, a bad offset pointer EFAULT. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "compat.h"

#define NR_SENDFILE 187 /* i386's sendfile, 32-bit offset */

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
