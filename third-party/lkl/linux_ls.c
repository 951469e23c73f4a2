/* Lists a directory with getdents64, one entry a line: a type column
 * (d directory, - regular, l symlink, c/b device, p fifo, s socket, ? unknown)
 * then the name. `linux_ls [DIR]`, default ".". */
#include "linux_syscall.h"

struct linux_dirent64 {
	unsigned long long d_ino;
	long long d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static char type_char(unsigned char d_type)
{
	switch (d_type) {
	case 4: return 'd';
	case 8: return '-';
	case 10: return 'l';
	case 2: return 'c';
	case 6: return 'b';
	case 1: return 'p';
	case 12: return 's';
	default: return '?';
	}
}

void main(char *app, char *dir)
{
	char buf[1024] __attribute__((aligned(8)));
	long fd, n, off;

	if (!dir)
		dir = ".";
	fd = sys_open(dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		report_error(app, dir, fd);
		sys_exit(1);
	}
	while ((n = sys_getdents64(fd, buf, sizeof(buf))) > 0) {
		for (off = 0; off < n;) {
			struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
			char line[2] = { type_char(d->d_type), ' ' };
			sys_write(1, line, 2);
			put_str(1, d->d_name);
			sys_write(1, "\n", 1);
			off += d->d_reclen;
		}
	}
	if (n < 0) {
		report_error(app, "getdents64", n);
		sys_exit(1);
	}
	sys_close(fd);
	sys_exit(0);
}
