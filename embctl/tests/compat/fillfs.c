/* Fills a file system until a write fails (tests/linux_compat.rs's
 * lkl_survives_a_full_file_system: LKL's /tmp has a size, ENOSPC; its root
 * has none, so filling it runs LKL out of memory, ENOMEM), makes 100 KiB of
 * room and sendfiles 200 KiB into it (the count written, then the error),
 * then removes the file and checks that the file system works again.
 * Kernel-only, not differential: Linux says ENOSPC only when its /tmp is
 * really full (on a 1 MiB tmpfs it prints the same sendfile lines).
 * Argument: the directory (default /tmp). */
#define _GNU_SOURCE
#include "compat.h"
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (64 * 1024)
/* Stops there without an error (a host's /tmp is far larger than LKL). */
#define LIMIT_MIB 256
/* Room made in the full file system for the sendfile that follows. */
#define ROOM (100 * 1024)

static const char *errno_name(int e)
{
	switch (e) {
	case ENOSPC: return "ENOSPC";
	case ENOMEM: return "ENOMEM";
	case EFBIG: return "EFBIG";
	case EDQUOT: return "EDQUOT";
	default: return strerror(e);
	}
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	const char *dir = argc > 1 ? argv[1] : "/tmp";
	char fill[256], after[256], source[256];
	snprintf(fill, sizeof fill, "%s/fill", dir);
	snprintf(after, sizeof after, "%s/after-fill", dir);
	snprintf(source, sizeof source, "%s/sendfile-source", dir);
	static char chunk[CHUNK];
	memset(chunk, 'x', sizeof chunk);
	/* What sendfile copies once the file system is full (more than ROOM). */
	int src = open(source, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(src >= 0);
	for (int i = 0; i < 4; i++)
		CHECK(write(src, chunk, sizeof chunk) == (ssize_t)sizeof chunk);
	CHECK(lseek(src, 0, SEEK_SET) == 0);
	int fd = open(fill, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	long long total = 0;
	int full = 0;
	for (;;) {
		ssize_t n = write(fd, chunk, sizeof chunk);
		if (n < 0) {
			printf("write failed: %s\n", errno_name(errno));
			full = 1;
			break;
		}
		if (n == 0) {
			printf("write wrote nothing\n");
			break;
		}
		total += n;
		if (total >= (long long)LIMIT_MIB << 20) {
			printf("no error after %d MiB\n", LIMIT_MIB);
			break;
		}
	}
	printf("filled %lld KiB\n", total >> 10);
	if (full) {
		/* ROOM bytes free again: a sendfile of more sends what fits and
		 * returns that count; the next one, with no room, the error. */
		CHECK(ftruncate(fd, total - ROOM) == 0);
		CHECK(lseek(fd, 0, SEEK_END) == total - ROOM);
		ssize_t n = sendfile(fd, src, NULL, 2 * ROOM + 1);
		printf("sendfile into %d KiB of room: %zd%s%s\n", ROOM / 1024, n, n < 0 ? " " : "",
		       n < 0 ? errno_name(errno) : "");
		n = sendfile(fd, src, NULL, 2 * ROOM + 1);
		printf("sendfile with no room: %zd%s%s\n", n, n < 0 ? " " : "", n < 0 ? errno_name(errno) : "");
	}
	CHECK(close(fd) == 0);
	CHECK(close(src) == 0);
	CHECK(unlink(fill) == 0);
	CHECK(unlink(source) == 0);
	/* The memory the file held is back: a new file is written and read. */
	const char text[] = "written after the fill\n";
	fd = open(after, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK(write(fd, text, sizeof text - 1) == (ssize_t)(sizeof text - 1));
	char back[sizeof text] = {0};
	CHECK(pread(fd, back, sizeof text - 1, 0) == (ssize_t)(sizeof text - 1));
	CHECK(close(fd) == 0);
	CHECK(unlink(after) == 0);
	printf("read back: %s", back);
	return 0;
}
