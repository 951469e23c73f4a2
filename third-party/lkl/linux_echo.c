/* Prints its first argument and a newline: `linux_echo "Hello, World!"`. */
#include "linux_syscall.h"

void main(char *app, char *arg)
{
	(void)app;
	if (arg)
		put_str(1, arg);
	sys_write(1, "\n", 1);
	sys_exit(0);
}
