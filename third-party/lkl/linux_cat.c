/* Copies a file to standard output: `linux_cat PATH`. */
#include "linux_syscall.h"

void main(char *app, char *path)
{
	char buf[512];
	long fd, n;

	if (!path) {
		put_str(2, "usage: linux_cat PATH\n");
		sys_exit(2);
	}
	fd = sys_open(path, O_RDONLY);
	if (fd < 0) {
		report_error(app, path, fd);
		sys_exit(1);
	}
	while ((n = sys_read(fd, buf, sizeof(buf))) > 0) {
		if (sys_write(1, buf, n) != n) {
			report_error(app, "write", -5);
			sys_exit(1);
		}
	}
	if (n < 0) {
		report_error(app, path, n);
		sys_exit(1);
	}
	sys_close(fd);
	sys_exit(0);
}
