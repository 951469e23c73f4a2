/* Helpers shared by the corpus: checks that print what failed and exit 1. */
#ifndef COMPAT_H
#define COMPAT_H
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (!(cond)) {                                                       \
			printf("FAILED %s:%d: %s (errno %d %s)\n", __FILE__, __LINE__, #cond, \
			       errno, strerror(errno));                              \
			exit(1);                                                     \
		}                                                                    \
	} while (0)

/* Prints "what: OK" or "what: errno NAME" so an expected failure is visible. */
static inline void report(const char *what, int ok)
{
	if (ok)
		printf("%s: ok\n", what);
	else
		printf("%s: %s\n", what, strerror(errno));
}
#endif
