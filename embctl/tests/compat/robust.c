/* Robust mutexes: a thread that ends while it holds one (its robust list,
 * set_robust_list) leaves it marked owner-died, so the next locker gets
 * EOWNERDEAD (and a locker already waiting is woken); the mutex can be
 * made consistent and used again. A plain mutex left locked stays locked.
 * glibc leaves the list to the kernel; musl walks it itself at
 * pthread_exit, so the kernel's walk matters most for glibc. Output is
 * unbuffered and free of pids. */
#define _GNU_SOURCE
#include "compat.h"
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t robust, plain = PTHREAD_MUTEX_INITIALIZER;
static int held[2];

/* Takes the robust mutex (and the plain one, the first time), says so,
 * and ends. */
static void *holder(void *arg)
{
	long linger_ms = (long)arg;
	CHECK(pthread_mutex_lock(&robust) == 0);
	if (linger_ms == 0)
		CHECK(pthread_mutex_lock(&plain) == 0);
	CHECK(write(held[1], "h", 1) == 1);
	sleep_ms(linger_ms);
	return NULL; /* ends holding both */
}

static const char *name(int r)
{
	return r == 0 ? "ok" : r == EOWNERDEAD ? "EOWNERDEAD" : r == EBUSY ? "EBUSY" : r == ENOTRECOVERABLE ? "ENOTRECOVERABLE" : strerror(r);
}

static void init_robust(void)
{
	pthread_mutexattr_t attr;
	CHECK(pthread_mutexattr_init(&attr) == 0);
	CHECK(pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) == 0);
	CHECK(pthread_mutex_init(&robust, &attr) == 0);
	CHECK(pthread_mutexattr_destroy(&attr) == 0);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	CHECK(pipe(held) == 0);
	init_robust();

	/* The owner is gone before anyone asks. */
	pthread_t t;
	char c;
	CHECK(pthread_create(&t, NULL, holder, (void *)0L) == 0);
	CHECK(read(held[0], &c, 1) == 1);
	CHECK(pthread_join(t, NULL) == 0);
	printf("plain mutex of a dead owner: %s\n", name(pthread_mutex_trylock(&plain)));
	int r = pthread_mutex_lock(&robust);
	printf("robust mutex of a dead owner: %s\n", name(r));
	if (r == EOWNERDEAD)
		printf("made consistent: %s\n", name(pthread_mutex_consistent(&robust)));
	printf("unlock: %s\n", name(pthread_mutex_unlock(&robust)));
	printf("lock again: %s\n", name(pthread_mutex_lock(&robust)));
	printf("unlock: %s\n", name(pthread_mutex_unlock(&robust)));

	/* A locker already waiting is woken when the owner ends. */
	CHECK(pthread_create(&t, NULL, holder, (void *)100L) == 0);
	CHECK(read(held[0], &c, 1) == 1);
	r = pthread_mutex_lock(&robust);
	printf("waiting locker: %s\n", name(r));
	/* Left inconsistent: unlocking makes it unusable. */
	printf("unlock without making it consistent: %s\n", name(pthread_mutex_unlock(&robust)));
	printf("then: %s\n", name(pthread_mutex_lock(&robust)));
	CHECK(pthread_join(t, NULL) == 0);

	/* The registered list of this thread. */
	void *head = NULL;
	size_t len = 0;
	r = syscall(SYS_get_robust_list, 0, &head, &len);
	printf("get_robust_list: %d, length %zu\n", r, len);
	errno = 0;
	r = syscall(SYS_set_robust_list, head, len + 1);
	printf("set_robust_list with a bad length: %d %s\n", r, strerror(errno));
	printf("done\n");
	return 0;
}
