/* statfs, fstatfs (statfs64/fstatfs64 underneath in glibc and musl on
 * i386; coreutils' df and ls call them): what holds on any Linux file
 * system, not the figures (they differ between machines): block and
 * fragment sizes, name length, counts that add up, the same answer through
 * a descriptor, /proc a procfs, and the errors. */
#define _GNU_SOURCE
#include "compat.h"
#include <fcntl.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	struct statfs s, f;
	CHECK(statfs(".", &s) == 0);
	printf("statfs .: bsize>0 %d, frsize>0 %d, namelen %ld, bfree<=blocks %d, bavail<=bfree %d, ffree<=files %d\n",
	       s.f_bsize > 0, s.f_frsize > 0, (long)s.f_namelen, s.f_bfree <= s.f_blocks, s.f_bavail <= s.f_bfree,
	       s.f_ffree <= s.f_files);
	int fd = open(".", O_RDONLY | O_DIRECTORY);
	CHECK(fd >= 0);
	CHECK(fstatfs(fd, &f) == 0);
	printf("fstatfs .: same type %d, same block size %d\n", f.f_type == s.f_type, f.f_bsize == s.f_bsize);
	close(fd);
	CHECK(statfs("/proc/meminfo", &f) == 0);
	printf("statfs /proc/meminfo: procfs %d\n", f.f_type == 0x9fa0);
	/* i386's struct statfs64 is 84 bytes; its first word is the type. */
	unsigned int s64[21];
	report("statfs missing", statfs("no/such/dir", &s) == 0);
	report("fstatfs bad fd", fstatfs(-1, &s) == 0);
	/* The raw call checks the struct size it is given. */
	long r = syscall(SYS_statfs64, "/proc/meminfo", sizeof s64, s64);
	printf("raw statfs64 /proc/meminfo: %ld, procfs %d\n", r, s64[0] == 0x9fa0);
	r = syscall(SYS_statfs64, ".", 10, s64);
	printf("statfs64 with size 10: %ld %s\n", r, r < 0 ? strerror(errno) : "");
	r = syscall(SYS_statfs64, ".", sizeof s64, NULL);
	printf("statfs64 to NULL: %ld %s\n", r, r < 0 ? strerror(errno) : "");
	return 0;
}
