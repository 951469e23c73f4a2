/* Prints a greeting with one write(2), then makes the seed's two console
 * calls, lseek(1, 0, SEEK_SET) and fsync(1). Our kernel's console accepts
 * both, as the seed's did; Linux refuses them on a pipe or a tty (ESPIPE,
 * EINVAL), so each failure is reported on stderr and the exit status is the
 * number of calls that failed. */
#include "linux_syscall.h"

void main(char *app)
{
	static const char msg[] = "Hello from a Linux binary!\n";
	long err;
	int failed = 0;

	sys_write(1, msg, sizeof(msg) - 1);
	err = sys_lseek(1, 0, 0);
	if (err < 0) {
		report_error(app, "lseek(1, 0, SEEK_SET)", err);
		failed++;
	}
	err = sys_fsync(1);
	if (err < 0) {
		report_error(app, "fsync(1)", err);
		failed++;
	}
	sys_exit(failed);
}
