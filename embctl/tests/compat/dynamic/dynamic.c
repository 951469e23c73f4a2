/* A dynamically linked program (built with the host's plain `gcc -m32`, a
 * PIE on Debian): ld-linux.so.2 maps libc.so.6 with file-backed mmap and
 * mprotect, relocates, runs constructors; the program then uses libc, loads
 * libm.so.6 with dlopen, exec's itself, and exits through atexit handlers.
 * Run natively and in our kernel with the same libraries; outputs compared. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int constructed;

__attribute__((constructor)) static void early(void)
{
	constructed = 42;
}

static void bye(void)
{
	puts("atexit handler ran");
}

static int by_value(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "child") == 0) {
		printf("exec'd dynamic child: argv[2] = %s\n", argc > 2 ? argv[2] : "?");
		return 3;
	}
	printf("constructor ran: %d\n", constructed);
	atexit(bye);

	int v[] = { 5, 3, 9, 1, 7 };
	qsort(v, 5, sizeof v[0], by_value);
	printf("qsort: %d %d %d %d %d\n", v[0], v[1], v[2], v[3], v[4]);
	printf("strtod: %.3f\n", strtod("2.71828", NULL));

	/* Above glibc's mmap threshold: an anonymous mapping of its own. */
	size_t big = 1 << 20;
	char *p = malloc(big);
	if (!p)
		return 1;
	memset(p, 'x', big);
	printf("malloc 1 MiB: %s\n", p[big - 1] == 'x' ? "ok" : "bad");
	free(p);

	void *libm = dlopen("libm.so.6", RTLD_NOW);
	if (!libm) {
		printf("dlopen libm.so.6: %s\n", dlerror());
		return 1;
	}
	double (*cosine)(double) = (double (*)(double))dlsym(libm, "cos");
	double (*root)(double) = (double (*)(double))dlsym(libm, "sqrt");
	printf("dlsym cos(0) = %.1f, sqrt(2) = %.6f\n", cosine ? cosine(0.0) : -1.0, root ? root(2.0) : -1.0);
	dlclose(libm);
	void *none = dlopen("libnothere.so.9", RTLD_NOW);
	printf("dlopen of a missing library: %s\n", none ? "loaded?!" : "NULL");

	if (argc > 1 && strcmp(argv[1], "exec") == 0) {
		fflush(stdout);
		char *args[] = { "dynamic", "child", "from-exec", NULL };
		execvp("dynamic", args);
		perror("execvp");
		return 1;
	}
	return 0;
}
