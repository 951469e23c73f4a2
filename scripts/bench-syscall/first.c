/* The first instruction of this program reads CLOCK_PROCESS_CPUTIME_ID,
 * which our kernel counts from the moment load_app starts: so it prints
 * the time from `load_app` to the program's first instruction (plus one
 * syscall). No libc: built like the seed programs (-nostdlib -emain). */
#include "../../third-party/lkl/linux_syscall.h"

#define SYS_clock_gettime64 403
#define CLOCK_PROCESS_CPUTIME_ID 2

void main(void)
{
	long long ts[2];
	char out[64];
	int i = sizeof(out);
	syscall3(SYS_clock_gettime64, CLOCK_PROCESS_CPUTIME_ID, (long)ts, 0);
	unsigned long us = (unsigned long)ts[0] * 1000000 + (unsigned long)ts[1] / 1000;
	out[--i] = '\n';
	out[--i] = 's';
	out[--i] = 'u';
	out[--i] = ' ';
	do {
		out[--i] = '0' + us % 10;
		us /= 10;
	} while (us);
	put_str(1, "load_app to first instruction: ");
	sys_write(1, &out[i], sizeof(out) - i);
	sys_exit(0);
}
