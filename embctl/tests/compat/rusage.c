/* getrusage's and wait4's counters besides CPU time: ru_maxrss covers
 * memory touched and does not shrink when it goes, ru_minflt
 * counts the pages touched (per thread for RUSAGE_THREAD), ru_majflt
 * stays put for anonymous memory, ru_nvcsw counts sleeps (not ru_nivcsw),
 * and a reaped child's figures come back from wait4 and RUSAGE_CHILDREN.
 * Printed as yes/no against generous bounds: the host and our kernel
 * count differently in detail (file pages, huge pages, the libc's own
 * faults), not in kind. The host's maxrss is read from per-CPU RSS
 * counters that can lag a few hundred KiB behind under load, and a host
 * under load can take a major fault on a file page of its own: the
 * bounds leave room for both (seen in lkl_corpus_matches_linux at load
 * 8-10: the host printed "maxrss 4 MiB or more: no", "majflt unchanged:
 * no"). */
#define _GNU_SOURCE
#include "compat.h"
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#define MIB (1024 * 1024)
#define PAGE 4096

static struct rusage usage(int who)
{
	struct rusage ru;
	CHECK(getrusage(who, &ru) == 0);
	return ru;
}

static const char *yes(int ok)
{
	return ok ? "yes" : "no";
}

/* Maps `mib` MiB and writes one byte in each page; returns the mapping. */
static char *touch(long mib)
{
	char *m = mmap(NULL, mib * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED);
	/* One fault per page on the host too (no transparent huge pages). */
	madvise(m, mib * MIB, MADV_NOHUGEPAGE);
	for (long i = 0; i < mib * MIB; i += PAGE)
		m[i] = 1;
	return m;
}

static long thread_minflt;
static void *toucher(void *arg)
{
	(void)arg;
	long before = usage(RUSAGE_THREAD).ru_minflt;
	char *m = touch(2);
	thread_minflt = usage(RUSAGE_THREAD).ru_minflt - before;
	CHECK(munmap(m, 2 * MIB) == 0);
	return NULL;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	struct rusage a = usage(RUSAGE_SELF);
	printf("maxrss above 0: %s\n", yes(a.ru_maxrss > 0));

	char *m = touch(4);
	struct rusage b = usage(RUSAGE_SELF);
	/* Not "grew by 4 MiB": Linux's maxrss starts from the peak of the
	 * address space execve left (here the test harness's, forked). */
	printf("touching 4 MiB: maxrss 3 MiB or more: %s, minflt +900 or more: %s, majflt +16 or fewer: %s\n",
	       yes(b.ru_maxrss >= 3 * 1024), yes(b.ru_minflt - a.ru_minflt >= 900), yes(b.ru_majflt - a.ru_majflt <= 16));
	CHECK(munmap(m, 4 * MIB) == 0);
	struct rusage c = usage(RUSAGE_SELF);
	printf("after munmap: maxrss kept: %s\n", yes(c.ru_maxrss >= b.ru_maxrss));
	printf("RUSAGE_THREAD: maxrss is the process's: %s\n", yes(usage(RUSAGE_THREAD).ru_maxrss == c.ru_maxrss));

	/* Another thread's faults are its own, and the process's. */
	long main_before = usage(RUSAGE_THREAD).ru_minflt, self_before = usage(RUSAGE_SELF).ru_minflt;
	pthread_t th;
	CHECK(pthread_create(&th, NULL, toucher, NULL) == 0);
	CHECK(pthread_join(th, NULL) == 0);
	printf("a thread touching 2 MiB: its minflt +450 or more: %s, the main thread's under +200: %s, the process's +450 or more: %s\n",
	       yes(thread_minflt >= 450), yes(usage(RUSAGE_THREAD).ru_minflt - main_before < 200),
	       yes(usage(RUSAGE_SELF).ru_minflt - self_before >= 450));

	/* Sleeping gives the CPU up: voluntary switches. */
	struct rusage d = usage(RUSAGE_SELF);
	for (int i = 0; i < 20; i++)
		sleep_ms(1);
	struct rusage e = usage(RUSAGE_SELF);
	printf("20 sleeps: nvcsw +10 or more: %s, nivcsw grew less: %s\n", yes(e.ru_nvcsw - d.ru_nvcsw >= 10),
	       yes(e.ru_nivcsw - d.ru_nivcsw < e.ru_nvcsw - d.ru_nvcsw));

	/* A child that touches 8 MiB and sleeps: wait4's rusage and then
	 * RUSAGE_CHILDREN report it. */
	struct rusage before_children = usage(RUSAGE_CHILDREN);
	printf("no children yet: maxrss %ld, minflt %ld, nvcsw %ld\n", before_children.ru_maxrss, before_children.ru_minflt,
	       before_children.ru_nvcsw);
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		touch(8);
		for (int i = 0; i < 5; i++)
			sleep_ms(1);
		_exit(0);
	}
	int status;
	struct rusage ru;
	CHECK(wait4(child, &status, 0, &ru) == child);
	printf("wait4's rusage: maxrss 7 MiB or more: %s, minflt 1800 or more: %s, nvcsw 3 or more: %s\n", yes(ru.ru_maxrss >= 7 * 1024),
	       yes(ru.ru_minflt >= 1800), yes(ru.ru_nvcsw >= 3));
	struct rusage children = usage(RUSAGE_CHILDREN);
	printf("RUSAGE_CHILDREN agrees: %s %s %s\n", yes(children.ru_maxrss == ru.ru_maxrss), yes(children.ru_minflt == ru.ru_minflt),
	       yes(children.ru_nvcsw == ru.ru_nvcsw));
	return 0;
}
