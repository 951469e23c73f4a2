/*
 * LKL's quick syscall route (patches/lkl-tree/lkl-syscall-quick.patch) under
 * real concurrency: built against LKL's own POSIX host library (host threads
 * are pthreads on the machine's cores, not our one-CPU kernel), eight threads
 * make getuid/getpid calls through the quick route, falling back to
 * lkl_syscall as the kernel does, and every 500th call blocks in LKL (a pipe
 * read woken by its partner thread's write, after a nanosleep), while LKL's
 * timers run. Every result is checked; it prints how many calls took each
 * route. Run by embctl/tests/kernel_lkl.rs (needs an LKL tree).
 */
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <lkl.h>
#include <lkl_host.h>

typedef int (*quick_route)(lkl_thread_t self, long no, long *params, long *ret);

static quick_route quick;
static long uid;
static long quick_calls, full_calls;
static int pipes[4][2];

static void fail(long thread, const char *what, long got)
{
	fprintf(stderr, "quickstress: thread %ld: %s (%ld)\n", thread, what, got);
	exit(1);
}

static long call(long no, long a0, long a1, long a2)
{
	long params[6] = { a0, a1, a2, 0, 0, 0 }, ret;

	if (quick((lkl_thread_t)pthread_self(), no, params, &ret)) {
		__sync_fetch_and_add(&quick_calls, 1);
		return ret;
	}
	__sync_fetch_and_add(&full_calls, 1);
	return lkl_syscall(no, params);
}

static void *worker(void *arg)
{
	long id = (long)arg, pid = call(__lkl__NR_getpid, 0, 0, 0), i, r;
	int *pipe = pipes[id / 2];
	char c = 'x';

	for (i = 0; i < 20000; i++) {
		r = call(__lkl__NR_getuid, 0, 0, 0);
		if (r != uid)
			fail(id, "getuid", r);
		r = call(__lkl__NR_getpid, 0, 0, 0);
		if (r != pid)
			fail(id, "getpid changed", r);
		if (i % 500)
			continue;
		if (id % 2 == 0) {
			struct lkl_timespec ts = { 0, 200000 };

			call(__lkl__NR_nanosleep, (long)&ts, 0, 0);
			r = call(__lkl__NR_write, pipe[1], (long)&c, 1);
			if (r != 1)
				fail(id, "pipe write", r);
		} else {
			c = 0;
			r = call(__lkl__NR_read, pipe[0], (long)&c, 1);
			if (r != 1 || c != 'x')
				fail(id, "pipe read", r);
		}
	}
	return NULL;
}

int main(void)
{
	long params[6] = { 0 }, entry;
	pthread_t threads[8];
	int i, ret;

	ret = lkl_start_kernel(&lkl_host_ops, "mem=32M loglevel=0");
	if (ret)
		fail(-1, "lkl_start_kernel", ret);
	entry = lkl_syscall(__lkl__NR_arch_specific_syscall + 2, params);
	if (entry <= 0)
		fail(-1, "no quick route in this LKL", entry);
	quick = (quick_route)entry;
	uid = call(__lkl__NR_getuid, 0, 0, 0);
	for (i = 0; i < 4; i++) {
		long pipe_params[6] = { (long)pipes[i], 0 };

		ret = lkl_syscall(__lkl__NR_pipe2, pipe_params);
		if (ret)
			fail(-1, "pipe2", ret);
	}
	for (i = 0; i < 8; i++)
		pthread_create(&threads[i], NULL, worker, (void *)(long)i);
	for (i = 0; i < 8; i++)
		pthread_join(threads[i], NULL);
	printf("quickstress ok: %ld quick, %ld full\n", quick_calls, full_calls);
	lkl_sys_halt();
	return 0;
}
