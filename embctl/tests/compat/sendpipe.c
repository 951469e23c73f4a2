/* sendfile that stops after some bytes returns the count so far, as
 * Linux: into a non-blocking pipe with room for 64 KiB of a 100 KiB file
 * (the file's offset moves by what went), again into the full pipe
 * (EAGAIN: nothing went), and after one page was read (one page goes,
 * the explicit offset moving by it, the file's not). The scratch
 * directory is argv[1]. */
#define _GNU_SOURCE
#include "compat.h"
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIZE (100 * 1024)

static void said(const char *what, ssize_t r)
{
	if (r < 0)
		printf("%s: -1 %s\n", what, strerror(errno));
	else
		printf("%s: %zd\n", what, r);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	const char *dir = argc > 1 ? argv[1] : "/tmp/compat-sendpipe";
	mkdir(dir, 0755);
	char path[256];
	snprintf(path, sizeof path, "%s/sendpipe-%d", dir, (int)getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	static char data[SIZE];
	for (int i = 0; i < SIZE; i++)
		data[i] = (char)(i * 7);
	CHECK(write(fd, data, SIZE) == SIZE && lseek(fd, 0, SEEK_SET) == 0);

	int p[2];
	CHECK(pipe(p) == 0 && fcntl(p[1], F_SETFL, O_NONBLOCK) == 0);
	said("sendfile of 100 KiB into a non-blocking pipe", sendfile(p[1], fd, NULL, SIZE));
	printf("the file's offset: %ld\n", (long)lseek(fd, 0, SEEK_CUR));
	said("again into the full pipe", sendfile(p[1], fd, NULL, SIZE));
	static char page[4096];
	CHECK(read(p[0], page, sizeof page) == sizeof page);
	printf("the pipe's first page is the file's: %s\n", memcmp(page, data, sizeof page) ? "no" : "yes");
	off_t off = 8192; /* page aligned: Linux's pipe takes whole pages of the file */
	said("with an offset, after one page was read", sendfile(p[1], fd, &off, 10000));
	printf("the offset: %ld, the file's offset: %ld\n", (long)off, (long)lseek(fd, 0, SEEK_CUR));

	CHECK(unlink(path) == 0);
	rmdir(dir);
	return 0;
}
