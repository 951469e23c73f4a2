/* Files in a scratch directory: open/creat, write/read, pread64/pwrite64,
 * readv/writev, lseek, fstat/stat, rename, unlink, mkdir/rmdir, getcwd/chdir,
 * dup/dup2/dup3/fcntl, O_APPEND, fchmod/fchown (under LKL the trap hands
 * these to LKL without taking the process out of its table), the old 16-bit
 * getuid, errors (ENOENT, EEXIST, ENOTEMPTY, EBADF). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include "compat.h"

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp/compat-files";
	char buf[256], cwd[256];
	struct stat st;

	mkdir(dir, 0755);
	CHECK(chdir(dir) == 0);
	CHECK(getcwd(cwd, sizeof cwd) != NULL);
	printf("cwd ends with dir: %d\n", strcmp(cwd + strlen(cwd) - strlen(dir), dir) == 0);

	int fd = open("a.txt", O_CREAT | O_TRUNC | O_RDWR, 0644);
	CHECK(fd >= 0);
	CHECK(write(fd, "hello world\n", 12) == 12);
	CHECK(pwrite(fd, "HELLO", 5, 0) == 5);
	CHECK(lseek(fd, 0, SEEK_CUR) == 12);
	CHECK(pread(fd, buf, 11, 0) == 11);
	buf[11] = 0;
	printf("pread: %s\n", buf);
	struct iovec iov[2] = { { "one ", 4 }, { "two\n", 4 } };
	CHECK(writev(fd, iov, 2) == 8);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	char a[6] = { 0 }, b[15] = { 0 };
	struct iovec riov[2] = { { a, 5 }, { b, 14 } };
	CHECK(readv(fd, riov, 2) == 19);
	printf("readv: [%s] [%.14s]\n", a, b);
	CHECK(fstat(fd, &st) == 0);
	printf("size %ld regular %d mode %o\n", (long)st.st_size, S_ISREG(st.st_mode), st.st_mode & 0777);
	CHECK(fchmod(fd, 0640) == 0);
	CHECK(fstat(fd, &st) == 0);
	printf("after fchmod: mode %o\n", st.st_mode & 0777);
	CHECK(fchown(fd, geteuid(), getegid()) == 0);
	report("fchmod on a closed descriptor", fchmod(99, 0600) == 0);
	report("fchown on a closed descriptor", fchown(99, 0, 0) == 0);
	/* i386's getuid (24) and getuid32 (199) */
	printf("getuid == getuid32: %d\n", syscall(24) == syscall(199));
	CHECK(lseek(fd, 0, SEEK_END) == 20);

	int d = dup(fd);
	CHECK(d > fd);
	CHECK(dup2(fd, 10) == 10);
	CHECK(dup3(fd, 11, O_CLOEXEC) == 11);
	printf("cloexec on 11: %d, on 10: %d\n", fcntl(11, F_GETFD) & FD_CLOEXEC, fcntl(10, F_GETFD) & FD_CLOEXEC);
	int e = fcntl(fd, F_DUPFD, 20);
	printf("F_DUPFD >= 20: %d\n", e >= 20);
	printf("O_RDWR in F_GETFL: %d\n", (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR);
	close(d), close(10), close(11), close(e);
	CHECK(close(fd) == 0);
	report("close again", close(fd) == 0);

	fd = open("a.txt", O_WRONLY | O_APPEND);
	CHECK(fd >= 0);
	CHECK(write(fd, "end\n", 4) == 4);
	close(fd);
	CHECK(stat("a.txt", &st) == 0);
	printf("after append: %ld\n", (long)st.st_size);

	CHECK(rename("a.txt", "b.txt") == 0);
	/* A trailing slash asks for a directory; ".." is resolved in the tree. */
	report("open file with a trailing slash", open("b.txt/", O_RDONLY) >= 0);
	report("open missing/..", open("missing/..", O_RDONLY) >= 0);
	report("open file/..", open("b.txt/..", O_RDONLY) >= 0);
	CHECK(mkdir("keep", 0755) == 0);
	CHECK(mkdir("keep/inner", 0755) == 0);
	report("rename keep/inner/.. fails", rename("keep/inner/..", "moved") != 0);
	report("keep still there", stat("keep/inner", &st) == 0);
	CHECK(rmdir("keep/inner") == 0);
	CHECK(rmdir("keep") == 0);
	report("open old name", open("a.txt", O_RDONLY) >= 0);
	report("exclusive create", open("b.txt", O_CREAT | O_EXCL | O_WRONLY, 0644) >= 0);
	CHECK(mkdir("sub", 0755) == 0);
	report("mkdir twice", mkdir("sub", 0755) == 0);
	int s = open("sub/c.txt", O_CREAT | O_WRONLY, 0600);
	CHECK(s >= 0);
	close(s);
	report("rmdir non-empty", rmdir("sub") == 0);
	CHECK(unlink("sub/c.txt") == 0);
	CHECK(rmdir("sub") == 0);
	report("stat removed", stat("sub", &st) == 0);
	report("read on a directory fd", read(open(".", O_RDONLY | O_DIRECTORY), buf, 1) >= 0);
	CHECK(unlink("b.txt") == 0);
	CHECK(chdir("/") == 0);
	CHECK(rmdir(dir) == 0);
	printf("files done\n");
	return 0;
}
