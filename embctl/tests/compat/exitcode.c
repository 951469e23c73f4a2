/* Exit statuses and fatal faults: `exitcode N` exits with N through exit();
 * `exitcode segv|kernel|ill|fpe|cli|int3|abort` dies (`spin` loops) by the signal the fault (or
 * abort) raises, which a shell reports as status 128+signal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "0";
	fflush(stdout);
	if (!strcmp(what, "segv"))
		return *(volatile int *)0;
	if (!strcmp(what, "kernel"))
		return *(volatile int *)0xc0100000;
	if (!strcmp(what, "ill"))
		__asm__ volatile("ud2");
	if (!strcmp(what, "fpe")) /* in assembly: gcc turns 1/x into compares */
		__asm__ volatile("xor %%edx, %%edx\n\tmov $1, %%eax\n\tdiv %%ecx" ::"c"(0) : "eax", "edx");
	if (!strcmp(what, "cli"))
		__asm__ volatile("cli");
	if (!strcmp(what, "int3")) /* a breakpoint: SIGTRAP, not SIGSEGV */
		__asm__ volatile("int3");
	if (!strcmp(what, "spin")) /* until Ctrl-C */
		for (volatile unsigned long n = 0;; n++)
			;
	if (!strcmp(what, "abort")) /* raise(SIGABRT) through tgkill */
		abort();
	if (!strcmp(what, "exit_group"))
		_exit(atoi(argc > 2 ? argv[2] : "0"));
	printf("exiting with %d\n", atoi(what));
	exit(atoi(what));
}
