/* The program `bench exec` runs: exits at once (exit(0) through int $0x80),
 * static, no libc, a few hundred bytes: fork+execve+wait measures the
 * kernel, not a C library's start-up. */
void _start(void)
{
	__asm__ volatile("int $0x80" : : "a"(1 /* exit */), "b"(0));
	for (;;)
		;
}
