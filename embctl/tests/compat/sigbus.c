/* SIGBUS past the end of a mapped file: in a shared and in a private
 * mapping of a 5000-byte file on /tmp, the page holding the end reads
 * (zeros past it), every page after it is SIGBUS (BUS_ADRERR, si_addr the
 * byte touched) for reads and writes, and siglongjmp out of the handler
 * carries on. Once the file grows, the same pages map the file's new
 * bytes; once it shrinks (ftruncate, O_TRUNC), the pages wholly past
 * its new end are SIGBUS again, in a private mapping too. A mapping of an empty file is SIGBUS from its first byte. Output
 * is unbuffered and free of pids and addresses. */
#define _GNU_SOURCE
#include "compat.h"
#include <fcntl.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096

static sigjmp_buf back;
static volatile char *base;
static volatile long fault_offset;
static volatile int fault_code;

static void on_bus(int sig, siginfo_t *info, void *context)
{
	(void)sig;
	(void)context;
	fault_offset = (char *)info->si_addr - (char *)base;
	fault_code = info->si_code;
	siglongjmp(back, 1);
}

/* Reads (or writes) byte `offset` of `map`; prints what happened. */
static void touch(const char *what, char *map, long offset, int write)
{
	base = map;
	fault_offset = -1;
	if (sigsetjmp(back, 1) == 0) {
		if (write)
			((volatile char *)map)[offset] = 'w';
		int value = ((volatile char *)map)[offset];
		printf("%s %s at %ld: %d\n", what, write ? "write" : "read", offset, value);
	} else {
		printf("%s %s at %ld: SIGBUS code %s at %ld\n", what, write ? "write" : "read", offset,
		       fault_code == BUS_ADRERR ? "BUS_ADRERR" : "other", fault_offset);
	}
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	const char *dir = argc > 1 ? argv[1] : "/tmp";
	set_info_handler(SIGBUS, on_bus, 0);

	char path[128];
	snprintf(path, sizeof path, "%s/sigbus-%d.dat", dir, (int)getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	static char bytes[5000];
	memset(bytes, 'f', sizeof bytes);
	CHECK(write(fd, bytes, sizeof bytes) == (ssize_t)sizeof bytes);

	/* Calls that copy into or out of a shared mapping reach the file, in
	 * pages the program never touched (also one the file grew by after
	 * the mmap); past the page holding its end they are EFAULT. */
	char *fresh = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(fresh != MAP_FAILED);
	int p[2];
	CHECK(pipe(p) == 0 && write(p[1], "pipe data", 9) == 9);
	printf("read() into an untouched page of the mapping: %zd\n", read(p[0], fresh + PAGE + 10, 9));
	char back[10] = { 0 };
	CHECK(pread(fd, back, 9, PAGE + 10) == 9);
	printf("the file has it: %s\n", back);
	printf("write() from another untouched page: %zd\n", write(p[1], fresh + 100, 5));
	CHECK(read(p[0], back, 5) == 5);
	printf("it wrote the file's bytes: %.5s\n", back);
	CHECK(write(p[1], "more", 4) == 4);
	errno = 0;
	ssize_t r = read(p[0], fresh + 2 * PAGE, 4);
	printf("read() into a page past the end: %zd %s\n", r, strerror(errno));
	errno = 0;
	r = write(p[1], fresh + 3 * PAGE, 4);
	printf("write() from a page past the end: %zd %s\n", r, strerror(errno));
	/* The file grows under the mapping: a copy into the new page
	 * reaches the file. */
	CHECK(ftruncate(fd, 3 * PAGE) == 0 && write(p[1], "grown", 5) == 5);
	printf("read() into the page the file grew by: %zd\n", read(p[0], fresh + 2 * PAGE + 20, 5));
	CHECK(pread(fd, back, 5, 2 * PAGE + 20) == 5);
	printf("the file has it: %.5s\n", back);
	CHECK(close(p[0]) == 0 && close(p[1]) == 0 && munmap(fresh, 4 * PAGE) == 0);
	CHECK(ftruncate(fd, sizeof bytes) == 0 && pwrite(fd, "ffffffffff", 10, PAGE + 10) == 10);

	char *shared = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	char *private = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	CHECK(shared != MAP_FAILED && private != MAP_FAILED);
	long offsets[] = { 0, 4999, 5000, PAGE * 2 - 1, PAGE * 2, PAGE * 2 + 123, PAGE * 4 - 1 };
	for (unsigned i = 0; i < sizeof offsets / sizeof *offsets; i++) {
		touch("shared", shared, offsets[i], 0);
		touch("private", private, offsets[i], 0);
	}
	touch("shared", shared, PAGE * 3 + 8, 1);
	touch("private", private, PAGE * 3 + 8, 1);
	touch("shared", shared, 4000, 1);

	/* The file grows to three pages: page 2 is the file's now. */
	CHECK(ftruncate(fd, 3 * PAGE) == 0);
	touch("grown shared", shared, PAGE * 2 + 5, 0);
	touch("grown shared", shared, PAGE * 2 + 6, 1);
	char c = 0;
	CHECK(pread(fd, &c, 1, PAGE * 2 + 6) == 1);
	printf("pread sees the write through the grown mapping: %s\n", c == 'w' ? "yes" : "no");
	touch("grown private", private, PAGE * 2 + 6, 0);
	touch("grown shared", shared, PAGE * 3, 0);

	/* The file shrinks under its mappings: their pages wholly past the
	 * new end go (private copies too), the page holding the end stays;
	 * O_TRUNC does the same; growing again maps zeros. */
	CHECK(ftruncate(fd, PAGE + 100) == 0);
	touch("shrunk shared", shared, 10, 0);
	touch("shrunk shared", shared, PAGE + 50, 0);
	touch("shrunk shared", shared, PAGE + 200, 0);
	touch("shrunk shared", shared, PAGE * 2 + 5, 0);
	touch("shrunk shared", shared, PAGE * 2 + 7, 1);
	touch("shrunk private", private, 10, 0);
	touch("shrunk private", private, PAGE * 2 + 6, 0);
	touch("shrunk private", private, PAGE * 3 + 8, 0);
	CHECK(ftruncate(fd, 3 * PAGE) == 0);
	touch("regrown shared", shared, PAGE * 2 + 6, 0);
	touch("regrown private", private, PAGE * 2 + 6, 0);
	int tfd = open(path, O_WRONLY | O_TRUNC);
	CHECK(tfd >= 0);
	touch("O_TRUNC shared", shared, 10, 0);
	touch("O_TRUNC private", private, 10, 0);
	CHECK(close(tfd) == 0 && ftruncate(fd, 3 * PAGE) == 0);

	/* An empty file. */
	char empty_path[160];
	snprintf(empty_path, sizeof empty_path, "%s.empty", path);
	int efd = open(empty_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(efd >= 0);
	char *none = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, efd, 0);
	CHECK(none != MAP_FAILED);
	touch("empty file", none, 0, 0);

	/* Without a handler, SIGBUS kills. */
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		signal(SIGBUS, SIG_DFL);
		((volatile char *)shared)[PAGE * 3 + 1] = 1;
		_exit(0);
	}
	int status;
	CHECK(waitpid(child, &status, 0) == child);
	describe("child touching past the end without a handler", status);

	CHECK(unlink(path) == 0 && unlink(empty_path) == 0);
	return 0;
}
