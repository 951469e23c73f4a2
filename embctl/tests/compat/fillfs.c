/* Fills a file system until a write fails (tests/linux_compat.rs's
 * lkl_survives_a_full_file_system: LKL's /tmp has a size, ENOSPC; its root
 * has none, so filling it runs LKL out of memory, ENOMEM), then removes the
 * file and checks that the file system works again. Kernel-only, not differential: Linux says ENOSPC
 * only when its /tmp is really full. Argument: the directory (default /tmp). */
#define _GNU_SOURCE
#include "compat.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (64 * 1024)
/* Stops there without an error (a host's /tmp is far larger than LKL). */
#define LIMIT_MIB 256

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
	char fill[256], after[256];
	snprintf(fill, sizeof fill, "%s/fill", dir);
	snprintf(after, sizeof after, "%s/after-fill", dir);
	static char chunk[CHUNK];
	memset(chunk, 'x', sizeof chunk);
	int fd = open(fill, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	long long total = 0;
	for (;;) {
		ssize_t n = write(fd, chunk, sizeof chunk);
		if (n < 0) {
			printf("write failed: %s\n", errno_name(errno));
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
	CHECK(close(fd) == 0);
	CHECK(unlink(fill) == 0);
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
