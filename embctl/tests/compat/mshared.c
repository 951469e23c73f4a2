/* MAP_SHARED file mappings on /tmp: writes through the mapping reach the
 * file (read and pread see them, the size stays), write() reaches the
 * mapping, a forked child's writes (through the inherited mapping or one
 * of its own) reach the parent's, read-only shared mappings see later
 * writes, private mappings stay private; msync and munmap keep the data;
 * PROT_WRITE on a read-only descriptor is EACCES. Output is free of pids. */
#define _GNU_SOURCE
#include "compat.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE 4096

static void said(const char *what, long r)
{
	printf("%s: %ld %s\n", what, r, r < 0 ? strerror(errno) : "ok");
}

static const char *yes(int ok)
{
	return ok ? "yes" : "no";
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	char path[64];
	snprintf(path, sizeof path, "/tmp/mshared-%d.dat", (int)getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	static char page[PAGE];
	for (int i = 0; i < 3; i++) {
		memset(page, 'a' + i, sizeof page);
		CHECK(write(fd, page, sizeof page) == PAGE);
	}
	char *map = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(map != MAP_FAILED);
	printf("mapping reads the file: %s\n", yes(map[0] == 'a' && map[PAGE] == 'b' && map[2 * PAGE + 5] == 'c'));

	memcpy(map + 10, "through the mapping", 19);
	char buf[32] = { 0 };
	CHECK(pread(fd, buf, 19, 10) == 19);
	printf("pread sees a write through the mapping: %s\n", yes(!memcmp(buf, "through the mapping", 19)));
	CHECK(pwrite(fd, "by pwrite", 9, PAGE + 20) == 9);
	printf("the mapping sees pwrite: %s\n", yes(!memcmp(map + PAGE + 20, "by pwrite", 9)));

	/* A second mapping of the same file in the same process. */
	char *again = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, PAGE);
	CHECK(again != MAP_FAILED);
	map[PAGE + 100] = 'Z';
	printf("a second mapping sees the first's write: %s\n", yes(again[100] == 'Z'));

	/* A private mapping stays private. */
	char *own = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	CHECK(own != MAP_FAILED);
	own[0] = 'P';
	printf("a private mapping's write stays private: %s\n", yes(map[0] == 'a'));
	map[1] = 'S';
	CHECK(munmap(own, PAGE) == 0);

	/* Another process: through the inherited mapping, and its own. */
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		memcpy(map + 2 * PAGE, "child wrote here", 16);
		int cfd = open(path, O_RDWR);
		CHECK(cfd >= 0);
		char *mine = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, cfd, 2 * PAGE);
		CHECK(mine != MAP_FAILED);
		memcpy(mine + 100, "and through its own", 19);
		CHECK(msync(mine, PAGE, MS_SYNC) == 0);
		CHECK(munmap(mine, PAGE) == 0);
		_exit(0);
	}
	int status;
	CHECK(waitpid(child, &status, 0) == child);
	describe("child", status);
	printf("parent sees the child's write through the inherited mapping: %s\n", yes(!memcmp(map + 2 * PAGE, "child wrote here", 16)));
	printf("parent sees the child's write through its own mapping: %s\n", yes(!memcmp(map + 2 * PAGE + 100, "and through its own", 19)));
	/* And the other way round, after the fork. */
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		for (int i = 0; i < 200 && map[3 * PAGE - 1] != '!'; i++)
			sleep_ms(10);
		printf("child sees the parent's write after the fork: %s\n", yes(map[3 * PAGE - 1] == '!'));
		_exit(0);
	}
	map[3 * PAGE - 1] = '!';
	CHECK(waitpid(child, &status, 0) == child);

	said("msync MS_SYNC", msync(map, 3 * PAGE, MS_SYNC));
	said("msync MS_ASYNC", msync(map, PAGE, MS_ASYNC));
	said("msync MS_SYNC|MS_ASYNC", msync(map, PAGE, MS_SYNC | MS_ASYNC));
	said("msync unaligned", msync(map + 1, PAGE, MS_SYNC));
	CHECK(munmap(map, 3 * PAGE) == 0);
	CHECK(munmap(again, PAGE) == 0);

	struct stat st;
	CHECK(fstat(fd, &st) == 0);
	printf("size unchanged: %lld\n", (long long)st.st_size);
	char whole[3 * PAGE];
	CHECK(pread(fd, whole, sizeof whole, 0) == sizeof whole);
	printf("after munmap the file holds every write: %s\n",
	       yes(whole[1] == 'S' && !memcmp(whole + 10, "through the mapping", 19) && whole[PAGE + 100] == 'Z' &&
		   !memcmp(whole + 2 * PAGE, "child wrote here", 16) && whole[3 * PAGE - 1] == '!'));

	/* Read-only shared mappings: see later writes; PROT_WRITE needs O_RDWR. */
	int ro = open(path, O_RDONLY);
	CHECK(ro >= 0);
	char *view = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, ro, 0);
	CHECK(view != MAP_FAILED);
	CHECK(pwrite(fd, "later", 5, 0) == 5);
	printf("read-only shared mapping sees a later write: %s\n", yes(!memcmp(view, "later", 5)));
	errno = 0;
	void *w = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0);
	said("PROT_WRITE shared on O_RDONLY", w == MAP_FAILED ? -1 : 0);
	errno = 0;
	w = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro, 0);
	said("PROT_WRITE private on O_RDONLY", w == MAP_FAILED ? -1 : 0);
	CHECK(munmap(view, PAGE) == 0);
	close(ro);
	close(fd);
	CHECK(unlink(path) == 0);
	return 0;
}
