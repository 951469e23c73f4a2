/* The /dev and /proc files glibc and busybox rely on: /dev/null, /dev/zero,
 * /dev/full, /dev/urandom (reads, writes, stat, mmap of /dev/zero),
 * /proc/self/exe, /proc/self/fd/N, /proc/self/cwd, /proc/self/maps,
 * /proc/cpuinfo, /proc/meminfo, /proc/mounts. Only facts that hold on any
 * Linux are printed (no sizes, addresses or CPU names). */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "compat.h"

static void device(const char *path, unsigned major_no, unsigned minor_no)
{
	struct stat st;
	CHECK(stat(path, &st) == 0);
	printf("%s: %s %u:%u\n", path, S_ISCHR(st.st_mode) ? "char device" : "not a char device",
	       major(st.st_rdev), minor(st.st_rdev));
}

/* Reads the whole file; returns its length (NUL-terminated in buf). */
static int slurp(const char *path, char *buf, int size)
{
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	int len = 0, n;
	while (len < size - 1 && (n = read(fd, buf + len, size - 1 - len)) > 0)
		len += n;
	buf[len] = 0;
	close(fd);
	return len;
}

static const char *base(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

static char text[65536];

int main(int argc, char **argv)
{
	(void)argc;
	char buf[64];
	int fd = open("/dev/null", O_RDWR);
	CHECK(fd >= 0);
	printf("/dev/null: read %zd, write %zd\n", read(fd, buf, sizeof buf), write(fd, "gone", 4));
	close(fd);

	fd = open("/dev/zero", O_RDONLY);
	CHECK(fd >= 0);
	memset(buf, 'x', sizeof buf);
	ssize_t n = read(fd, buf, sizeof buf);
	int zeros = 1;
	for (int i = 0; i < (int)sizeof buf; i++)
		zeros &= buf[i] == 0;
	printf("/dev/zero: read %zd, all zero %s\n", n, zeros ? "yes" : "no");
	char *z = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	CHECK(z != MAP_FAILED);
	printf("/dev/zero mmap: reads %d, writable %s\n", z[4097], (z[5] = 7) == 7 ? "yes" : "no");
	munmap(z, 8192);
	close(fd);

	fd = open("/dev/full", O_WRONLY);
	CHECK(fd >= 0);
	report("/dev/full write", write(fd, "x", 1) == 1);
	close(fd);

	fd = open("/dev/urandom", O_RDONLY);
	CHECK(fd >= 0);
	unsigned char r1[32], r2[32];
	CHECK(read(fd, r1, sizeof r1) == sizeof r1 && read(fd, r2, sizeof r2) == sizeof r2);
	printf("/dev/urandom: two reads differ %s\n", memcmp(r1, r2, sizeof r1) ? "yes" : "no");
	close(fd);

	device("/dev/null", 1, 3);
	device("/dev/zero", 1, 5);
	device("/dev/full", 1, 7);
	device("/dev/urandom", 1, 9);

	char link[256];
	n = readlink("/proc/self/exe", link, sizeof link - 1);
	CHECK(n > 0);
	link[n] = 0;
	printf("/proc/self/exe: absolute %s, names %s\n", link[0] == '/' ? "yes" : "no",
	       strcmp(base(link), base(argv[0])) == 0 ? "argv[0]" : link);
	CHECK(chdir("/") == 0);
	n = readlink("/proc/self/cwd", link, sizeof link - 1);
	CHECK(n > 0);
	link[n] = 0;
	printf("/proc/self/cwd after chdir(\"/\"): %s\n", link);
	fd = open("/dev/null", O_RDONLY);
	snprintf(buf, sizeof buf, "/proc/self/fd/%d", fd);
	n = readlink(buf, link, sizeof link - 1);
	CHECK(n > 0);
	link[n] = 0;
	printf("/proc/self/fd/N of /dev/null: %s\n", link);
	close(fd);
	/* /proc/self/fd lists every descriptor, its own included. */
	int nullfd = open("/dev/null", O_RDONLY);
	DIR *fds = opendir("/proc/self/fd");
	CHECK(fds != NULL);
	int seen = 0, count = 0;
	struct dirent *e;
	while ((e = readdir(fds)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		int n = atoi(e->d_name);
		count++;
		if (n <= 2 || n == nullfd || n == dirfd(fds))
			seen |= n == nullfd ? 8 : n == dirfd(fds) ? 16 : 1 << n;
	}
	closedir(fds);
	close(nullfd);
	/* Not the count: a host's test runner may pass down descriptors. */
	printf("/proc/self/fd: lists 0 1 2 %s, an open fd %s, its own %s, entries %s\n", (seen & 7) == 7 ? "yes" : "no",
	       seen & 8 ? "yes" : "no", seen & 16 ? "yes" : "no", count >= 5 ? "5 or more" : "too few");
	struct stat st;
	CHECK(stat("/proc/self/fd", &st) == 0 && S_ISDIR(st.st_mode));
	CHECK(stat("/proc/self/exe", &st) == 0);
	printf("stat /proc/self/exe: regular %s\n", S_ISREG(st.st_mode) ? "yes" : "no");
	CHECK(lstat("/proc/self/exe", &st) == 0);
	printf("lstat /proc/self/exe: symlink %s\n", S_ISLNK(st.st_mode) ? "yes" : "no");

	slurp("/proc/self/maps", text, sizeof text);
	printf("/proc/self/maps: [stack] %s, [heap] or program %s, r-xp %s\n", strstr(text, "[stack]") ? "yes" : "no",
	       strstr(text, base(argv[0])) ? "yes" : "no", strstr(text, "r-xp") ? "yes" : "no");
	slurp("/proc/cpuinfo", text, sizeof text);
	printf("/proc/cpuinfo: processor %s, vendor_id %s, flags with fpu %s\n", strncmp(text, "processor\t: 0", 13) == 0 ? "yes" : "no",
	       strstr(text, "\nvendor_id\t: ") ? "yes" : "no", strstr(text, "\nflags\t\t: fpu") ? "yes" : "no");
	slurp("/proc/meminfo", text, sizeof text);
	printf("/proc/meminfo: MemTotal first %s, MemFree %s\n", strncmp(text, "MemTotal:", 9) == 0 ? "yes" : "no",
	       strstr(text, "\nMemFree:") ? "yes" : "no");
	slurp("/proc/mounts", text, sizeof text);
	printf("/proc/mounts: a root line %s, proc %s\n", strstr(text, " / ") ? "yes" : "no",
	       strstr(text, "proc /proc proc ") ? "yes" : "no");
	fd = open("/proc/cpuinfo", O_WRONLY);
	CHECK(fd >= 0);
	report("write to /proc/cpuinfo", write(fd, "x", 1) == 1);
	close(fd);
	return 0;
}
