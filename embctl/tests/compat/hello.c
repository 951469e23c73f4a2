/* stdio on the console: printf, puts, fputs to stderr, fflush, exit status. */
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	printf("hello from %s libc, %d args\n", argc > 1 ? argv[1] : "?", argc);
	for (int i = 0; i < argc; i++)
		printf("argv[%d] = \"%s\"\n", i == 0 ? 0 : i, i == 0 ? "(name)" : argv[i]);
	puts("puts works");
	fflush(stdout);
	write(1, "raw write works\n", 16);
	return 7;
}
