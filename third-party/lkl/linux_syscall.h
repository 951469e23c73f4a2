/*
 * Raw Linux i386 syscalls through `int $0x80`, for the seed's test programs.
 * They are linked with -nostdlib and entered at main() through -emain: no
 * libc, no startup code. At entry the Linux initial stack has argc at (%esp),
 * so a cdecl main(char *app, char *arg) sees argv[0] and argv[1] as its
 * arguments (argc sits in the return-address slot). main must never return:
 * it ends with sys_exit().
 */
#ifndef LINUX_SYSCALL_H
#define LINUX_SYSCALL_H

#define SYS_exit 1
#define SYS_read 3
#define SYS_write 4
#define SYS_open 5
#define SYS_close 6
#define SYS_lseek 19
#define SYS_fsync 118
#define SYS_getdents64 220

#define O_RDONLY 0
#define O_DIRECTORY 0200000

static inline long syscall3(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "0"(nr), "b"(a), "c"(b), "d"(c) : "memory");
	return ret;
}

static inline long sys_write(int fd, const void *buf, unsigned long len) { return syscall3(SYS_write, fd, (long)buf, len); }
static inline long sys_read(int fd, void *buf, unsigned long len) { return syscall3(SYS_read, fd, (long)buf, len); }
static inline long sys_open(const char *path, int flags) { return syscall3(SYS_open, (long)path, flags, 0); }
static inline long sys_close(int fd) { return syscall3(SYS_close, fd, 0, 0); }
static inline long sys_lseek(int fd, long off, int whence) { return syscall3(SYS_lseek, fd, off, whence); }
static inline long sys_fsync(int fd) { return syscall3(SYS_fsync, fd, 0, 0); }
static inline long sys_getdents64(int fd, void *buf, unsigned long len) { return syscall3(SYS_getdents64, fd, (long)buf, len); }

static inline __attribute__((noreturn)) void sys_exit(int status)
{
	for (;;)
		syscall3(SYS_exit, status, 0, 0);
}

static inline unsigned long str_len(const char *s)
{
	unsigned long n = 0;
	while (s[n])
		n++;
	return n;
}

static inline void put_str(int fd, const char *s) { sys_write(fd, s, str_len(s)); }

/* Prints "APP: WHAT: error N" on stderr (no strerror without libc). */
static inline void report_error(const char *app, const char *what, long err)
{
	char digits[12];
	int i = sizeof(digits);
	unsigned long n = (unsigned long)(-err);
	digits[--i] = '\0';
	do {
		digits[--i] = '0' + n % 10;
		n /= 10;
	} while (n && i > 0);
	put_str(2, app);
	put_str(2, ": ");
	put_str(2, what);
	put_str(2, ": error ");
	put_str(2, &digits[i]);
	put_str(2, "\n");
}

#endif
