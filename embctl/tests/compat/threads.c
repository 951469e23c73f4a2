/* Threads: pthread_create/join/detach, mutexes, condition variables (with
 * timeouts), per-thread TLS (__thread), many threads at once, the raw futex
 * operations (WAIT/WAKE/REQUEUE/CMP_REQUEUE/WAKE_OP/BITSET, EAGAIN,
 * ETIMEDOUT), gettid/getpid, exit of one thread while others block, and
 * exit_group ending threads that block. Output is deterministic: no tids,
 * no times, only facts that must hold on Linux too.
 *
 * Modes (argv[1]): none = the whole corpus; `mainexit` (the first thread
 * calls pthread_exit, the last one ends the process), `groupexit` (exit()
 * while other threads block in a mutex, a futex and a sleep), `execthread`
 * (execve from a second thread), `hello` (what execthread runs).
 * Kernel-only: `bomb` (create threads until EAGAIN, then join them all). */
#define _GNU_SOURCE
#include "compat.h"
#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* <linux/futex.h>'s values (musl-gcc has no kernel headers). */
#define FUTEX_WAIT_PRIVATE 128
#define FUTEX_WAKE_PRIVATE 129
#define FUTEX_REQUEUE_PRIVATE 131
#define FUTEX_CMP_REQUEUE_PRIVATE 132
#define FUTEX_WAKE_OP_PRIVATE 133
#define FUTEX_WAIT_BITSET_PRIVATE 137
#define FUTEX_BITSET_MATCH_ANY 0xffffffffu
#define FUTEX_OP_ADD 1
#define FUTEX_OP_CMP_EQ 0
#define FUTEX_OP(op, oparg, cmp, cmparg) \
	((((op) & 0xf) << 28) | (((cmp) & 0xf) << 24) | (((oparg) & 0xfff) << 12) | ((cmparg) & 0xfff))

/* musl's timespec has a 64-bit time_t: it goes to futex_time64; glibc's
 * (32-bit by default) to futex. */
static long futex(uint32_t *addr, int op, uint32_t val, const struct timespec *ts, uint32_t *addr2, uint32_t val3)
{
	long nr = sizeof(ts->tv_sec) == 8 ? 422 /* futex_time64 */ : SYS_futex;
	return syscall(nr, addr, op, val, ts, addr2, val3);
}

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static long elapsed_ms(const struct timespec *from)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - from->tv_sec) * 1000 + (now.tv_nsec - from->tv_nsec) / 1000000;
}

/* --- create, join, return values, ids --- */

static pid_t main_pid;

static void *identify(void *arg)
{
	long n = (long)arg;
	int same_pid = getpid() == main_pid;
	int own_tid = syscall(SYS_gettid) != main_pid;
	return (void *)(n * 100 + same_pid * 10 + own_tid);
}

static void create_and_join(void)
{
	pthread_t t[4];
	for (long i = 0; i < 4; i++)
		CHECK(pthread_create(&t[i], NULL, identify, (void *)i) == 0);
	for (int i = 0; i < 4; i++) {
		void *ret;
		CHECK(pthread_join(t[i], &ret) == 0);
		printf("thread %d returned %ld\n", i, (long)ret);
	}
	printf("main: gettid == getpid: %d\n", syscall(SYS_gettid) == getpid());
}

/* --- mutexes --- */

static pthread_mutex_t counter_lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;

static void *add_many(void *arg)
{
	for (int i = 0; i < 20000; i++) {
		pthread_mutex_lock(&counter_lock);
		long v = counter;
		if (i % 1000 == 0)
			sched_yield(); /* give the others a go while holding it */
		counter = v + 1;
		pthread_mutex_unlock(&counter_lock);
	}
	return arg;
}

static void mutexes(void)
{
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		CHECK(pthread_create(&t[i], NULL, add_many, NULL) == 0);
	for (int i = 0; i < 4; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	printf("mutex counter: %ld\n", counter);
	CHECK(pthread_mutex_trylock(&counter_lock) == 0);
	printf("trylock of a held mutex: %s\n", strerror(pthread_mutex_trylock(&counter_lock)));
	pthread_mutex_unlock(&counter_lock);

	pthread_mutexattr_t attr;
	pthread_mutex_t rec;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&rec, &attr);
	CHECK(pthread_mutex_lock(&rec) == 0 && pthread_mutex_lock(&rec) == 0);
	CHECK(pthread_mutex_unlock(&rec) == 0 && pthread_mutex_unlock(&rec) == 0);
	printf("recursive mutex: ok\n");
}

/* --- condition variables: a bounded queue, and timeouts --- */

#define QUEUE 4
static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_not_empty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t q_not_full = PTHREAD_COND_INITIALIZER;
static int queue[QUEUE], q_len, q_head;

static void *producer(void *arg)
{
	for (int i = 1; i <= 500; i++) {
		pthread_mutex_lock(&q_lock);
		while (q_len == QUEUE)
			pthread_cond_wait(&q_not_full, &q_lock);
		queue[(q_head + q_len++) % QUEUE] = i;
		pthread_cond_signal(&q_not_empty);
		pthread_mutex_unlock(&q_lock);
	}
	return arg;
}

static void *consumer(void *arg)
{
	long sum = 0;
	for (int i = 0; i < 250; i++) {
		pthread_mutex_lock(&q_lock);
		while (q_len == 0)
			pthread_cond_wait(&q_not_empty, &q_lock);
		sum += queue[q_head];
		q_head = (q_head + 1) % QUEUE;
		q_len--;
		pthread_cond_signal(&q_not_full);
		pthread_mutex_unlock(&q_lock);
	}
	return (void *)sum;
}

static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
static int flag_set;
static pthread_cond_t flag_cond = PTHREAD_COND_INITIALIZER;

static void *set_flag_later(void *arg)
{
	nap_ms(30);
	pthread_mutex_lock(&q_lock);
	flag_set = 1;
	pthread_cond_broadcast(&flag_cond);
	pthread_mutex_unlock(&q_lock);
	return arg;
}

static void condition_variables(void)
{
	pthread_t p, c1, c2;
	CHECK(pthread_create(&c1, NULL, consumer, NULL) == 0);
	CHECK(pthread_create(&c2, NULL, consumer, NULL) == 0);
	CHECK(pthread_create(&p, NULL, producer, NULL) == 0);
	void *s1, *s2;
	CHECK(pthread_join(p, NULL) == 0);
	CHECK(pthread_join(c1, &s1) == 0 && pthread_join(c2, &s2) == 0);
	printf("queue: consumed sum %ld\n", (long)s1 + (long)s2);

	/* A timed wait nobody signals ends with ETIMEDOUT, not early. */
	struct timespec start, deadline;
	clock_gettime(CLOCK_MONOTONIC, &start);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_nsec += 50 * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&q_lock);
	int rc = pthread_cond_timedwait(&never, &q_lock, &deadline);
	pthread_mutex_unlock(&q_lock);
	long waited = elapsed_ms(&start);
	printf("timedwait: %s, waited >= 45 ms: %d, < 2 s: %d\n", strerror(rc), waited >= 45, waited < 2000);

	/* A timed wait that is signalled in time returns 0. */
	pthread_t t;
	CHECK(pthread_create(&t, NULL, set_flag_later, NULL) == 0);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 5;
	pthread_mutex_lock(&q_lock);
	rc = 0;
	while (!flag_set && rc == 0)
		rc = pthread_cond_timedwait(&flag_cond, &q_lock, &deadline);
	pthread_mutex_unlock(&q_lock);
	CHECK(pthread_join(t, NULL) == 0);
	printf("signalled timedwait: %s, flag %d\n", strerror(rc), flag_set);
}

/* --- TLS --- */

static __thread int tls_value = 7;
static __thread char tls_name[16] = "main";

static void *tls_worker(void *arg)
{
	long n = (long)arg;
	int initial = tls_value;
	tls_value = (int)n * 11;
	snprintf(tls_name, sizeof tls_name, "worker%ld", n);
	nap_ms(5); /* the others run and write their own copies meanwhile */
	return (void *)(long)(initial == 7 && tls_value == (int)n * 11 && strcmp(tls_name + 6, "") != 0 &&
			      tls_name[6] == '0' + n);
}

static void thread_local_storage(void)
{
	pthread_t t[5];
	tls_value = 99;
	for (long i = 0; i < 5; i++)
		CHECK(pthread_create(&t[i], NULL, tls_worker, (void *)i) == 0);
	int all = 1;
	for (int i = 0; i < 5; i++) {
		void *ok;
		CHECK(pthread_join(t[i], &ok) == 0);
		all &= (long)ok == 1;
	}
	printf("tls: each thread its own copy: %d, main's still %d %s\n", all, tls_value, tls_name);
}

/* --- many threads, detached threads --- */

static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static int done_count;

static void *count_done(void *arg)
{
	pthread_mutex_lock(&done_lock);
	done_count++;
	pthread_cond_signal(&done_cond);
	pthread_mutex_unlock(&done_lock);
	return arg;
}

static void *small_work(void *arg)
{
	nap_ms(2);
	return (void *)((long)arg * 2);
}

static void many_and_detached(void)
{
	enum { MANY = 40 };
	pthread_t t[MANY];
	for (long i = 0; i < MANY; i++)
		CHECK(pthread_create(&t[i], NULL, small_work, (void *)i) == 0);
	long sum = 0;
	for (int i = 0; i < MANY; i++) {
		void *r;
		CHECK(pthread_join(t[i], &r) == 0);
		sum += (long)r;
	}
	printf("%d threads at once: sum %ld\n", MANY, sum);

	for (int round = 0; round < 3; round++) {
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		for (int i = 0; i < 10; i++) {
			pthread_t d;
			CHECK(pthread_create(&d, &attr, count_done, NULL) == 0);
		}
		pthread_attr_destroy(&attr);
	}
	pthread_mutex_lock(&done_lock);
	while (done_count < 30)
		pthread_cond_wait(&done_cond, &done_lock);
	pthread_mutex_unlock(&done_lock);
	printf("detached threads finished: %d\n", done_count);
	nap_ms(20); /* let them finish exiting */
	/* One more round of create/join after the detached ones went. */
	pthread_t again;
	CHECK(pthread_create(&again, NULL, small_work, (void *)21) == 0);
	void *r;
	CHECK(pthread_join(again, &r) == 0);
	printf("after detached: %ld\n", (long)r);
}

/* --- raw futex operations --- */

static uint32_t word, word2;
static int woken_count, about_to_wait;

static void *futex_waiter(void *arg)
{
	uint32_t *w = arg;
	__atomic_fetch_add(&about_to_wait, 1, __ATOMIC_SEQ_CST);
	long r = futex(w, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	__atomic_fetch_add(&woken_count, 1, __ATOMIC_SEQ_CST);
	return (void *)r;
}

/* Returns once n waiters are (about to be) asleep on the word: each counts
 * itself just before its futex call, and a short nap covers the rest. */
static void wait_for_waiters(int n)
{
	while (__atomic_load_n(&about_to_wait, __ATOMIC_SEQ_CST) < n)
		nap_ms(1);
	__atomic_store_n(&about_to_wait, 0, __ATOMIC_SEQ_CST);
	nap_ms(20);
}

static void raw_futex(void)
{
	word = 1;
	errno = 0;
	long r = futex(&word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	printf("futex wait on a changed value: %ld %s\n", r, strerror(errno));

	struct timespec ts = { 0, 20 * 1000000L }, start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	word = 0;
	errno = 0;
	r = futex(&word, FUTEX_WAIT_PRIVATE, 0, &ts, NULL, 0);
	long waited = elapsed_ms(&start);
	printf("futex wait with timeout: %ld %s, waited >= 18 ms: %d\n", r, strerror(errno), waited >= 18);

	struct timespec abs;
	clock_gettime(CLOCK_MONOTONIC, &abs);
	abs.tv_nsec += 20 * 1000000L;
	if (abs.tv_nsec >= 1000000000L) {
		abs.tv_sec++;
		abs.tv_nsec -= 1000000000L;
	}
	errno = 0;
	r = futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 0, &abs, NULL, FUTEX_BITSET_MATCH_ANY);
	printf("futex wait_bitset absolute timeout: %ld %s\n", r, strerror(errno));
	errno = 0;
	r = futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 0, NULL, NULL, 0);
	printf("futex wait_bitset with bitset 0: %ld %s\n", r, strerror(errno));
	errno = 0;
	r = futex((uint32_t *)8, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	printf("futex wait on a bad address: %ld %s\n", r, strerror(errno));
	printf("futex wake with no waiters: %ld\n", futex(&word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0));

	/* Three waiters: wake one, then the rest. */
	pthread_t t[3];
	word = 0;
	woken_count = 0;
	for (int i = 0; i < 3; i++)
		CHECK(pthread_create(&t[i], NULL, futex_waiter, &word) == 0);
	wait_for_waiters(3);
	printf("futex wake 1 of 3: %ld\n", futex(&word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0));
	nap_ms(10);
	printf("woken so far: %d\n", __atomic_load_n(&woken_count, __ATOMIC_SEQ_CST));
	printf("futex wake the rest: %ld\n", futex(&word, FUTEX_WAKE_PRIVATE, 10, NULL, NULL, 0));
	for (int i = 0; i < 3; i++) {
		void *ret;
		CHECK(pthread_join(t[i], &ret) == 0);
		CHECK((long)ret == 0);
	}

	/* Requeue: wake one, move the other two to word2, then wake those there. */
	woken_count = 0;
	for (int i = 0; i < 3; i++)
		CHECK(pthread_create(&t[i], NULL, futex_waiter, &word) == 0);
	wait_for_waiters(3);
	errno = 0;
	r = futex(&word, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)2L, &word2, 5);
	printf("cmp_requeue with a wrong value: %ld %s\n", r, strerror(errno));
	r = futex(&word, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)2L, &word2, 0);
	printf("cmp_requeue: %ld\n", r);
	nap_ms(10);
	printf("woken so far: %d\n", __atomic_load_n(&woken_count, __ATOMIC_SEQ_CST));
	printf("wake on the old word: %ld\n", futex(&word, FUTEX_WAKE_PRIVATE, 10, NULL, NULL, 0));
	printf("wake on the new word: %ld\n", futex(&word2, FUTEX_WAKE_PRIVATE, 10, NULL, NULL, 0));
	for (int i = 0; i < 3; i++)
		CHECK(pthread_join(t[i], NULL) == 0);

	/* Plain requeue and wake_op. */
	woken_count = 0;
	for (int i = 0; i < 2; i++)
		CHECK(pthread_create(&t[i], NULL, futex_waiter, &word) == 0);
	wait_for_waiters(2);
	printf("requeue: %ld\n", futex(&word, FUTEX_REQUEUE_PRIVATE, 0, (void *)1L, &word2, 0));
	printf("wake on the new word: %ld\n", futex(&word2, FUTEX_WAKE_PRIVATE, 10, NULL, NULL, 0));
	word2 = 5;
	/* word2 += 3 (old value 5), wake 10 on word, and 10 on word2 if old == 5. */
	r = futex(&word, FUTEX_WAKE_OP_PRIVATE, 10, (void *)10L, &word2,
		  FUTEX_OP(FUTEX_OP_ADD, 3, FUTEX_OP_CMP_EQ, 5));
	printf("wake_op: %ld, word2 now %u\n", r, word2);
	for (int i = 0; i < 2; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	printf("woken in all: %d\n", woken_count);
}

/* --- one thread exits while others block --- */

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate = PTHREAD_COND_INITIALIZER;
static int gate_open;

static void *wait_at_gate(void *arg)
{
	pthread_mutex_lock(&gate_lock);
	while (!gate_open)
		pthread_cond_wait(&gate, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
	return arg;
}

static void *exit_early(void *arg)
{
	pthread_exit((void *)((long)arg + 1));
}

static void exit_while_others_block(void)
{
	pthread_t w[3], e;
	for (int i = 0; i < 3; i++)
		CHECK(pthread_create(&w[i], NULL, wait_at_gate, (void *)(long)i) == 0);
	CHECK(pthread_create(&e, NULL, exit_early, (void *)41L) == 0);
	void *r;
	CHECK(pthread_join(e, &r) == 0);
	printf("pthread_exit value: %ld\n", (long)r);
	nap_ms(10);
	pthread_mutex_lock(&gate_lock);
	gate_open = 1;
	pthread_cond_broadcast(&gate);
	pthread_mutex_unlock(&gate_lock);
	long sum = 0;
	for (int i = 0; i < 3; i++) {
		CHECK(pthread_join(w[i], &r) == 0);
		sum += (long)r;
	}
	printf("gate waiters returned: %ld\n", sum);
}

/* --- modes --- */

static void *finish_later(void *arg)
{
	nap_ms(30);
	printf("last thread: main is gone, finishing\n");
	fflush(stdout);
	return arg;
}

static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static uint32_t never_word;

static void *block_on_mutex(void *arg)
{
	pthread_mutex_lock(&held);
	return arg;
}

static void *block_on_futex(void *arg)
{
	futex(&never_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	return arg;
}

static void *block_in_sleep(void *arg)
{
	sleep(100);
	return arg;
}

static void *spin(void *arg)
{
	for (volatile unsigned long i = 0;; i++)
		;
	return arg;
}

static char self_exe[256];

static void *exec_from_thread(void *arg)
{
	char *argv[] = { self_exe, "hello", NULL };
	execvp(self_exe, argv);
	printf("execv failed: %s\n", strerror(errno));
	return arg;
}

static void *idle_forever(void *arg)
{
	for (;;)
		sleep(100);
	return arg;
}

/* More threads than the old 64-entry limit (which counted threads):
 * 100 threads that all wait at a barrier, so they live at once. */
#define MANY 100
static pthread_barrier_t many_barrier;
static void *at_barrier(void *arg)
{
	pthread_barrier_wait(&many_barrier);
	return arg;
}

static int many_threads(void)
{
	pthread_t t[MANY];
	pthread_attr_t attr;
	CHECK(pthread_attr_init(&attr) == 0);
	CHECK(pthread_attr_setstacksize(&attr, 64 * 1024) == 0);
	CHECK(pthread_barrier_init(&many_barrier, NULL, MANY + 1) == 0);
	int created = 0, joined = 0;
	for (int i = 0; i < MANY; i++)
		if (pthread_create(&t[i], &attr, at_barrier, (void *)(long)i) == 0)
			created++;
	if (created != MANY) {
		printf("many threads: only %d created\n", created);
		return 1;
	}
	pthread_barrier_wait(&many_barrier);
	for (int i = 0; i < MANY; i++) {
		void *r;
		if (pthread_join(t[i], &r) == 0 && r == (void *)(long)i)
			joined++;
	}
	printf("many threads: %d alive at once, %d joined\n", created + 1, joined);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	main_pid = getpid();
	const char *mode = argc > 1 ? argv[1] : "";
	if (strcmp(mode, "hello") == 0) {
		printf("exec'd from a thread: one thread left, pid == tid: %d\n", syscall(SYS_gettid) == getpid());
		return 3;
	}
	if (strcmp(mode, "many") == 0)
		return many_threads();
	if (strcmp(mode, "mainexit") == 0) {
		pthread_t t;
		CHECK(pthread_create(&t, NULL, finish_later, NULL) == 0);
		printf("main thread: pthread_exit\n");
		pthread_exit(NULL);
	}
	if (strcmp(mode, "groupexit") == 0) {
		pthread_t t;
		pthread_mutex_lock(&held);
		CHECK(pthread_create(&t, NULL, block_on_mutex, NULL) == 0);
		CHECK(pthread_create(&t, NULL, block_on_futex, NULL) == 0);
		CHECK(pthread_create(&t, NULL, block_in_sleep, NULL) == 0);
		CHECK(pthread_create(&t, NULL, spin, NULL) == 0);
		nap_ms(50);
		printf("exit(5) with four threads blocked or spinning\n");
		exit(5);
	}
	if (strcmp(mode, "execthread") == 0) {
		snprintf(self_exe, sizeof self_exe, "%s", argv[0]);
		pthread_t t, idle;
		CHECK(pthread_create(&idle, NULL, idle_forever, NULL) == 0);
		CHECK(pthread_create(&t, NULL, exec_from_thread, NULL) == 0);
		pthread_join(t, NULL);
		printf("not reached\n");
		return 1;
	}
	if (strcmp(mode, "bomb") == 0) {
		static pthread_t t[4096];
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, 64 * 1024);
		int n = 0, rc = 0;
		while (n < 4096 && (rc = pthread_create(&t[n], &attr, wait_at_gate, NULL)) == 0)
			n++;
		printf("thread bomb: stopped after some threads with %s\n", strerror(rc));
		pthread_mutex_lock(&gate_lock);
		gate_open = 1;
		pthread_cond_broadcast(&gate);
		pthread_mutex_unlock(&gate_lock);
		for (int i = 0; i < n; i++)
			CHECK(pthread_join(t[i], NULL) == 0);
		CHECK(pthread_create(&t[0], NULL, small_work, (void *)1) == 0);
		CHECK(pthread_join(t[0], NULL) == 0);
		printf("thread bomb: all joined, a new thread runs again\n");
		return 0;
	}
	create_and_join();
	mutexes();
	condition_variables();
	thread_local_storage();
	many_and_detached();
	raw_futex();
	exit_while_others_block();
	printf("threads: done\n");
	return 0;
}
