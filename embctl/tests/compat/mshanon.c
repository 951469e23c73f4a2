/* MAP_SHARED|MAP_ANONYMOUS memory across fork: a forked child and its
 * parent see each other's writes (in pages touched before the fork and in
 * pages nobody had touched), private memory stays private, a shared
 * mapping of /dev/zero is shared too, MADV_DONTNEED keeps the shared
 * data. Its real use: a process-shared semaphore, a process-shared mutex
 * guarding a counter three processes increment, and a process-shared
 * robust mutex whose holder dies (exits, or execs) leaving it
 * owner-died (EOWNERDEAD for the next locker, a waiting locker woken).
 * After execve the new image maps no shared memory. 1 GiB of it, far
 * more than the guest's RAM, forks and shares the pages either side
 * touches. Output is unbuffered
 * and free of pids and addresses. */
#define _GNU_SOURCE
#include "compat.h"
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096
#define ROUNDS 2000

struct shared {
	pthread_mutex_t lock;
	pthread_mutex_t robust;
	sem_t go;
	long counter;
};

static const char *yes(int ok)
{
	return ok ? "yes" : "no";
}

/* An absolute CLOCK_REALTIME deadline `ms` from now (for the timed waits:
 * a lost cross-process wake-up reads as ETIMEDOUT, not a hang). */
static struct timespec in_ms(long ms)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

/* Prints the perms, offset and name of the /proc/self/maps line of the
 * mapping at `addr`. */
static void maps_line(const char *what, void *addr)
{
	FILE *f = fopen("/proc/self/maps", "r");
	CHECK(f != NULL);
	char line[512], perms[8], name[256];
	unsigned long start, end, offset;
	while (fgets(line, sizeof line, f)) {
		name[0] = 0;
		if (sscanf(line, "%lx-%lx %7s %lx %*s %*s %255[^\n]", &start, &end, perms, &offset, name) >= 4 && start == (unsigned long)addr)
			printf("%s: %s %08lx %s\n", what, perms, offset, name);
	}
	fclose(f);
}

/* How many shared ('s') mappings /proc/self/maps lists. */
static int shared_mappings(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	CHECK(f != NULL);
	char line[512], perms[8];
	int n = 0;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "%*s %7s", perms) == 1 && perms[3] == 's')
			n++;
	fclose(f);
	return n;
}

static const char *lock_result(int r)
{
	return r == 0 ? "locked" : r == EOWNERDEAD ? "EOWNERDEAD" : r == ETIMEDOUT ? "ETIMEDOUT" : strerror(r);
}

static void wait_child(const char *what, pid_t child)
{
	int status;
	CHECK(waitpid(child, &status, 0) == child);
	describe(what, status);
}

/* Locks the robust mutex (the next locker after its owner died gets
 * EOWNERDEAD), makes it consistent and unlocks it. */
static void take_robust(const char *what, struct shared *s)
{
	struct timespec deadline = in_ms(5000);
	int r = pthread_mutex_timedlock(&s->robust, &deadline);
	printf("%s: %s\n", what, lock_result(r));
	if (r == EOWNERDEAD)
		CHECK(pthread_mutex_consistent(&s->robust) == 0);
	if (r == 0 || r == EOWNERDEAD)
		CHECK(pthread_mutex_unlock(&s->robust) == 0);
}

static void add_to_counter(struct shared *s)
{
	for (int i = 0; i < ROUNDS; i++) {
		struct timespec deadline = in_ms(5000);
		CHECK(pthread_mutex_timedlock(&s->lock, &deadline) == 0);
		long seen = s->counter;
		/* Give the others a turn while holding the lock: they sleep
		 * on it (a futex wait in another process) until we wake them. */
		if (i % 50 == 0)
			sched_yield();
		s->counter = seen + 1;
		CHECK(pthread_mutex_unlock(&s->lock) == 0);
	}
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 1 && !strcmp(argv[1], "after-exec")) {
		printf("after exec: shared mappings left: %d\n", shared_mappings());
		return 0;
	}
	char *a = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char *own = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(a != MAP_FAILED && own != MAP_FAILED);
	maps_line("shared anonymous mapping", a);
	a[0] = 'P'; /* pages 1 and 2 stay untouched until after the fork */
	own[0] = 'p';

	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		int saw = a[0] == 'P' && a[PAGE] == 0;
		a[1] = 'c';
		a[PAGE] = 'C';
		a[2 * PAGE + 7] = 'D';
		own[0] = 'q';
		_exit(saw ? 0 : 3);
	}
	wait_child("child that saw the parent's page", child);
	printf("parent sees the child's write to a page touched before fork: %s\n", yes(a[1] == 'c'));
	printf("parent sees the child's writes to pages untouched before fork: %s\n", yes(a[PAGE] == 'C' && a[2 * PAGE + 7] == 'D'));
	printf("private memory stays private: %s\n", yes(own[0] == 'p'));

	CHECK(madvise(a, 3 * PAGE, MADV_DONTNEED) == 0);
	printf("MADV_DONTNEED keeps the shared data: %s\n", yes(a[0] == 'P' && a[PAGE] == 'C'));

	int zero = open("/dev/zero", O_RDWR);
	CHECK(zero >= 0);
	char *z = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, zero, 0);
	CHECK(z != MAP_FAILED);
	close(zero);
	maps_line("shared /dev/zero mapping", z);
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		z[5] = 'z';
		_exit(0);
	}
	wait_child("child writing /dev/zero's mapping", child);
	printf("parent sees it: %s\n", yes(z[5] == 'z'));

	/* The real use: process-shared synchronisation in shared memory. */
	struct shared *s = (struct shared *)(a + 2 * PAGE + 64);
	pthread_mutexattr_t attr;
	CHECK(pthread_mutexattr_init(&attr) == 0);
	CHECK(pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED) == 0);
	CHECK(pthread_mutex_init(&s->lock, &attr) == 0);
	CHECK(pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) == 0);
	CHECK(pthread_mutex_init(&s->robust, &attr) == 0);
	CHECK(sem_init(&s->go, 1, 0) == 0);
	s->counter = 0;

	/* A child sleeping on a semaphore the parent posts after a write. */
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		struct timespec deadline = in_ms(5000);
		if (sem_timedwait(&s->go, &deadline) != 0)
			_exit(4);
		_exit(a[100] == 'L' ? 0 : 5);
	}
	sleep_ms(50);
	a[100] = 'L';
	CHECK(sem_post(&s->go) == 0);
	wait_child("child woken by the parent's sem_post, seeing its write", child);

	pid_t adders[2];
	for (int i = 0; i < 2; i++) {
		adders[i] = fork();
		CHECK(adders[i] >= 0);
		if (adders[i] == 0) {
			add_to_counter(s);
			_exit(0);
		}
	}
	add_to_counter(s);
	wait_child("first adder", adders[0]);
	wait_child("second adder", adders[1]);
	printf("counter after three processes added %d each under a shared mutex: %ld\n", ROUNDS, s->counter);

	/* A process that exits holding the robust mutex. */
	int held[2];
	CHECK(pipe(held) == 0);
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		CHECK(pthread_mutex_lock(&s->robust) == 0);
		_exit(0);
	}
	wait_child("child that exits holding the robust mutex", child);
	take_robust("parent locks it after", s);
	take_robust("and again", s);

	/* The parent already waits for the lock when its holder dies. */
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		CHECK(pthread_mutex_lock(&s->robust) == 0);
		CHECK(write(held[1], "h", 1) == 1);
		sleep_ms(100);
		_exit(0);
	}
	char c;
	CHECK(read(held[0], &c, 1) == 1);
	take_robust("parent waiting while the holder exits", s);
	wait_child("that holder", child);

	/* The holder execs: the old image's locks die with it. */
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		CHECK(pthread_mutex_lock(&s->robust) == 0);
		execl("/proc/self/exe", argv[0], "after-exec", (char *)NULL);
		printf("FAILED execl: %s\n", strerror(errno));
		_exit(6);
	}
	wait_child("child that execs holding the robust mutex", child);
	take_robust("parent locks it after the exec", s);

	printf("the shared data is still there: %s\n", yes(a[0] == 'P' && a[1] == 'c' && a[PAGE] == 'C'));
	CHECK(munmap(a, 3 * PAGE) == 0);
	printf("shared mappings after munmap: %d\n", shared_mappings());

	/* Far more shared anonymous memory than the machine has: only the
	 * pages touched cost memory, across a fork too, on either side. */
	size_t huge = (size_t)1 << 30;
	char *big = mmap(NULL, huge, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(big != MAP_FAILED);
	big[0] = 1;
	big[huge - 1] = 2;
	child = fork();
	if (child == 0) {
		big[1000 * PAGE] = 7;
		big[huge / 2] = 8;
		_exit(big[0] + big[huge - 1]);
	}
	printf("fork with 1 GiB of shared anonymous memory mapped: %s\n", child > 0 ? "ok" : strerror(errno));
	if (child < 0)
		return 1;
	wait_child("child writing into the 1 GiB", child);
	printf("its writes seen, and untouched pages zero: %s %s\n", yes(big[1000 * PAGE] == 7 && big[huge / 2] == 8),
	       yes(big[huge / 4] == 0));
	CHECK(munmap(big, huge) == 0);
	return 0;
}
