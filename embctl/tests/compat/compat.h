/* Helpers shared by the corpus: checks that print what failed and exit 1. */
#ifndef COMPAT_H
#define COMPAT_H
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

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

/* Installs `fn` for `sig` with sa_flags `flags` and an empty mask. */
static inline void set_handler(int sig, void (*fn)(int), int flags)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = fn;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(sig, &sa, NULL) == 0);
}

/* Installs the SA_SIGINFO handler `fn` for `sig` with sa_flags `flags`
 * (SA_SIGINFO added) and an empty mask. */
static inline void set_info_handler(int sig, void (*fn)(int, siginfo_t *, void *), int flags)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = fn;
	sa.sa_flags = SA_SIGINFO | flags;
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(sig, &sa, NULL) == 0);
}

/* Prints how a child ended, as a wait status says. */
static inline void describe(const char *what, int status)
{
	if (WIFEXITED(status))
		printf("%s: exited %d\n", what, WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		printf("%s: killed by signal %d\n", what, WTERMSIG(status));
	else
		printf("%s: status %#x\n", what, status);
}

/* A short name for a siginfo's si_code (the ones the corpus sends). */
static inline const char *si_code_name(int code)
{
	switch (code) {
	case SI_USER:
		return "user";
	case SI_QUEUE:
		return "queue";
	case SI_TKILL:
		return "tkill";
	case CLD_EXITED:
		return "exited";
	default:
		return "other";
	}
}
/* Sleeps `ms` milliseconds, the rest again after a signal's handler. */
static inline void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}
#endif
