/* A seeded syscall fuzzer: `fuzz SEED CALLS` makes CALLS random system
 * calls (numbers 0-450) with arguments drawn from pools that hit the
 * kernel's edges: valid writable buffers, read-only strings, NULL, unmapped
 * and kernel addresses, odd lengths, file descriptors, and paths under
 * /tmp/fz (plus a few that must fail). The same seed gives the same calls.
 *
 * Calls that would end or stall the fuzzer itself are left out: exit,
 * fork/clone/exec, signals to itself, sleeping and blocking waits
 * (rt_sigtimedwait among them), pipes and signalfds (a read of an empty
 * one would wait forever), set_thread_area (the libc's
 * TLS), brk and sigreturn.
 * Other calls may block as they would on Linux (seed 0xdecaf's call
 * 1 506 164 was a recvmsg on one of its own sockets with nothing to read),
 * so a watchdog interval timer (SIGALRM every 100 ms, handler without
 * SA_RESTART) ends any blocked call with EINTR; the fuzzer checks that it
 * does before it starts, and unblocks SIGALRM after every call that may
 * have blocked it. Every 64 calls it unmaps what its mmap, mmap2 and mremap
 * calls mapped: pages that calls filled (mlock, reads into a mapping) would
 * otherwise pile up until memory runs out (seed 1 filled the 128 MiB by
 * its 2.5 millionth call and was killed: "out of memory for a page").
 * Standard input, output and error are closed first, so no random call
 * reaches the console; the report goes to /dev/console at the end. It then
 * removes /tmp/fz, closes every descriptor and exits 0: afterwards the
 * kernel must hold no more heap or frames than before.
 *
 * Not part of the differential corpus (Linux would run it differently).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define SCRATCH ((char *)0x60000000)
#define SCRATCH_SIZE (64 * 1024)

static uint64_t state;

static uint32_t next(void)
{
	/* xorshift64* */
	state ^= state >> 12;
	state ^= state << 25;
	state ^= state >> 27;
	return (uint32_t)((state * 0x2545F4914F6CDD1DULL) >> 32);
}

static const char long_path[] =
	"/tmp/fz/"
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

static const char *const paths[] = {
	"/tmp/fz", "/tmp/fz/a", "/tmp/fz/b/", "/tmp/fz/a/c", "/tmp/fz/d", "/tmp/fz/./a",
	"/tmp/fz/a/..", "/tmp/fz/l", "/tmp/fz/a/../d", "", "/nonexistent/x", "/tmp/fz/\xff\xfe",
	long_path, "tmp/fz/a",
};
/* No path may lead outside /tmp/fz to anything a call could move, fill or
 * remove: the run must leave the tree as it found it. (Calls write into the
 * scratch buffers too, and later calls may take those bytes as paths: the
 * working directory stays /tmp/fz, the buffers are wiped every 64 calls,
 * and whatever appears in / or /tmp during the run is removed at the end.) */
#define NPATHS (sizeof paths / sizeof paths[0])

/* Moves a value off the fuzzer's own image, heap and stack (where a call
 * writing through it would corrupt the fuzzer, not test the kernel). */
static uint32_t away(uint32_t v)
{
	if ((v >= 0x08000000u && v < 0x10000000u) || (v >= 0x50000000u && v < 0x58000000u) ||
	    (v >= 0xa0000000u && v < 0xc0000000u))
		return v ^ 0x40000000u;
	return v;
}

/* An address for the memory-management calls: never the fuzzer's own. */
static uint32_t area_arg(void)
{
	switch (next() % 5) {
	case 0: return (uint32_t)(uintptr_t)SCRATCH + (next() % SCRATCH_SIZE & ~0xfffu);
	case 1: return 0x70000000u + (next() & 0xfff000);
	case 2: return 0xc0000000u + (next() & 0x3ffff000);
	case 3: return 0;
	default: {
		uint32_t v = away(next());
		return v < 0x10000000u ? v + 0x40000000u : v;
	}
	}
}

/* A length for a memory-management call at `addr`: the range may reach
 * into the kernel half or nowhere, never down into the fuzzer's image and
 * heap (below 0x10000000) or its stack and mappings (0xa0000000 up). */
static uint32_t area_len(uint32_t addr, uint32_t len)
{
	if (addr < 0x10000000u)
		return len % 0x10000u;
	if (addr < 0xa0000000u && len > 0xa0000000u - addr)
		return 0xa0000000u - addr;
	return len;
}

/* A value for one argument. */
static uint32_t arg(void)
{
	uint32_t r = next();
	switch (r % 16) {
	case 0: return 0;
	case 1: return (uint32_t)(uintptr_t)SCRATCH + (next() % SCRATCH_SIZE);      /* valid buffer */
	case 2: return (uint32_t)(uintptr_t)SCRATCH + SCRATCH_SIZE - (next() % 64); /* runs off the end */
	case 3: return (uint32_t)(uintptr_t)paths[next() % NPATHS];              /* read-only string */
	case 4: return 0xc0000000u + (next() & 0x3fffffff);                        /* kernel */
	case 5: return 0x70000000u + (next() & 0xfffff);                           /* unmapped */
	case 6: return next() % 8;                                                 /* small: fds, flags */
	case 7: return next() % 64;
	case 8: return next() % 4097;                                              /* odd lengths */
	case 9: return 0xffffffffu - (next() % 8);                                 /* -1 and friends */
	case 10: return 1u << (next() % 32);
	case 11: return (uint32_t)(uintptr_t)SCRATCH;
	case 12: return next() % 0x10000;
	case 13: return 0x80000000u + (next() % 16);
	default: return away(next());
	}
}

/* Calls the fuzzer must not make (see the header). */
static int excluded(uint32_t nr)
{
	static const uint16_t list[] = {
		1, 2, 11, 12, 26, 42, 331, 27, 29, 37, 45, 48, 61, 67, 72, 75, 90, 82, 88, 101, 104, 110, 113, 119, 120, 123, 133, 142, 162, 166, 168,
		173, 174, 177, 178, 179, 190, 238, 240, 243, 252, 256, 259, 260, 261, 262, 263, 264, 265, 266, 267, 270, 282, 283,
		308, 309, 319, 321, 322, 325, 326, 327, 335, 358, 407, 408, 409, 410, 411, 413, 414, 416, 417, 418, 419, 420, 421, 422,
		424, 435, 441, 447,
	};
	for (unsigned i = 0; i < sizeof list / sizeof list[0]; i++)
		if (list[i] == nr)
			return 1;
	return 0;
}

/* Memory-management calls: their address arguments come from area_arg. */
static int is_mm(uint32_t nr)
{
	return nr == 90 || nr == 91 || nr == 125 || nr == 144 || nr == 150 || nr == 151 || nr == 163 || nr == 192 ||
	       nr == 218 || nr == 219 || nr == 257 || nr == 380;
}

static int32_t raw_syscall(uint32_t nr, uint32_t a, uint32_t b, uint32_t c, uint32_t d, uint32_t e, uint32_t f)
{
	int32_t ret;
	uint32_t args[3] = {a, f, nr};
	/* ebx and ebp are loaded from memory inside the block (one may be the
	 * frame pointer, the other the PIC register). */
	__asm__ volatile("push %%ebp\n\t"
			 "push %%ebx\n\t"
			 "mov 4(%%eax), %%ebp\n\t"
			 "mov 0(%%eax), %%ebx\n\t"
			 "mov 8(%%eax), %%eax\n\t"
			 "int $0x80\n\t"
			 "pop %%ebx\n\t"
			 "pop %%ebp"
			 : "=a"(ret)
			 : "a"(args), "c"(b), "d"(c), "S"(d), "D"(e)
			 : "memory");
	return ret;
}

/* Removes `path` and everything below it; says what it could not remove
 * (on `out`) and returns how many of those there were. */
static int remove_tree(const char *path, int out)
{
	int failed = 0;
	/* unlink first: lstat fails with EOVERFLOW on a file over 2 GiB. */
	if (unlink(path) == 0 || errno == ENOENT)
		return 0;
	if (errno == EISDIR) {
		/* Names first, then removal: never loops on an entry that stays. */
		char names[16][256];
		int n = 0, more = 1;
		while (more && failed == 0) {
			DIR *dir = opendir(path);
			struct dirent *e;
			n = 0;
			more = 0;
			if (!dir) {
				dprintf(out, "fuzz: cannot list %s: %s\n", path, strerror(errno));
				return 1;
			}
			while ((e = readdir(dir))) {
				if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
					continue;
				if (n == 16) {
					more = 1;
					break;
				}
				snprintf(names[n++], sizeof names[0], "%s", e->d_name);
			}
			closedir(dir);
			char child[1024];
			int count = n;
			for (int i = 0; i < count; i++) {
				if (snprintf(child, sizeof child, "%s/%s", path, names[i]) >= (int)sizeof child)
					continue;
				failed += remove_tree(child, out);
			}
		}
		if (rmdir(path) != 0) {
			dprintf(out, "fuzz: cannot remove directory %s: %s\n", path, strerror(errno));
			failed++;
		}
	} else {
		dprintf(out, "fuzz: cannot remove %s: %s\n", path, strerror(errno));
		failed++;
	}
	return failed;
}

/* Names in a directory (at most 64), to find what a run added there. */
struct listing {
	int n;
	char names[64][256];
};

static void list(const char *path, struct listing *l)
{
	DIR *dir = opendir(path);
	struct dirent *e;
	l->n = 0;
	while (dir && (e = readdir(dir)) && l->n < 64)
		snprintf(l->names[l->n++], sizeof l->names[0], "%s", e->d_name);
	if (dir)
		closedir(dir);
}

/* Removes what appeared in `path` since `before` was listed. */
static int remove_added(const char *path, const struct listing *before, int out)
{
	struct listing now;
	char child[600];
	int failed = 0;
	list(path, &now);
	for (int i = 0; i < now.n; i++) {
		int known = 0;
		for (int j = 0; j < before->n && !known; j++)
			known = !strcmp(now.names[i], before->names[j]);
		if (known)
			continue;
		snprintf(child, sizeof child, "%s/%s", path, now.names[i]);
		dprintf(out, "fuzz: removing %s (made by the run)\n", child);
		failed += remove_tree(child, out);
	}
	return failed;
}

/* The watchdog: SIGALRM every WATCHDOG_MS while the calls run. */
#define WATCHDOG_MS 100
static volatile sig_atomic_t in_call;
static volatile unsigned long interrupted; /* watchdog signals that came during a call */

static void on_watchdog(int sig)
{
	(void)sig;
	if (in_call)
		interrupted++;
}

static void watchdog(long ms)
{
	struct itimerval it = { { 0, ms * 1000 }, { 0, ms * 1000 } };
	setitimer(ITIMER_REAL, &it, NULL);
}

static void unblock_watchdog(void)
{
	sigset_t alarm;
	sigemptyset(&alarm);
	sigaddset(&alarm, SIGALRM);
	sigprocmask(SIG_UNBLOCK, &alarm, NULL);
}

/* Starts the watchdog; false if it does not end a read that blocks. */
static int start_watchdog(void)
{
	struct sigaction sa;
	int fds[2];
	char c;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_watchdog; /* no SA_RESTART: blocked calls end with EINTR */
	if (sigaction(SIGALRM, &sa, NULL) != 0 || pipe(fds) != 0)
		return 0;
	watchdog(WATCHDOG_MS);
	int ended = read(fds[0], &c, 1) < 0 && errno == EINTR;
	close(fds[0]);
	close(fds[1]);
	return ended;
}

/* What the run's own mmap, mmap2 and mremap calls mapped since the last
 * unmap_all (the last MAPPINGS of them). */
#define MAPPINGS 64
static struct {
	uint32_t addr, len;
} mapped[MAPPINGS];
static unsigned nmapped;

static void note_mapping(uint32_t addr, uint32_t len)
{
	mapped[nmapped++ % MAPPINGS].addr = addr;
	mapped[(nmapped - 1) % MAPPINGS].len = len;
}

static void unmap_all(void)
{
	for (unsigned i = 0; i < nmapped && i < MAPPINGS; i++)
		munmap((void *)(uintptr_t)mapped[i].addr, mapped[i].len);
	nmapped = 0;
}

static void remap_scratch(void)
{
	mmap(SCRATCH, SCRATCH_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
}

int main(int argc, char **argv)
{
	uint32_t seed = argc > 1 ? strtoul(argv[1], NULL, 0) : 1;
	unsigned long calls = argc > 2 ? strtoul(argv[2], NULL, 0) : 10000;
	/* `fuzz SEED CALLS FROM`: print each call from number FROM on before
	 * making it (to find the one that fails). */
	unsigned long verbose_from = argc > 3 ? strtoul(argv[3], NULL, 0) : (unsigned long)-1;
	unsigned long counts[4] = {0}; /* ok, error, excluded-skips, remaps */
	static uint32_t old_mmap_args[6]; /* the old mmap's arguments (see below) */
	struct timespec t0, t1;

	static struct listing root, tmp;
	state = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)seed << 17) ^ seed;
	remap_scratch();
	mkdir("/tmp/fz", 0777);
	list("/", &root);
	list("/tmp", &tmp);
	if (chdir("/tmp/fz") != 0)
		return 2;
	if (!start_watchdog()) {
		dprintf(2, "fuzz: the watchdog (SIGALRM every %d ms) did not end a blocked read\n", WATCHDOG_MS);
		return 5;
	}
	close(0);
	close(1);
	close(2);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned long i = 0; i < calls; i++) {
		uint32_t nr = next() % 451;
		if (excluded(nr)) {
			counts[2]++;
			i--;
			continue;
		}
		uint32_t a = arg(), b = arg(), c = arg(), d = arg(), e = arg(), f = arg();
		if (is_mm(nr)) {
			a = area_arg();
			b = area_len(a, b);
			e = area_arg(); /* mremap's new address and new length */
			c = area_len(e, area_len(a, c));
		}
		if (nr == 340)
			c = 0; /* prlimit64: read limits, never lower them */
		if (nr == 90) {
			/* The old mmap reads its six arguments from memory. Taken from
			 * the scratch bytes they could map over the fuzzer's own stack
			 * (the 10-million-call run lost its stack that way: SIGSEGV,
			 * status 139), so they are drawn as for mmap2; a NULL or kernel
			 * pointer still goes in as it is. */
			uint32_t at = area_arg();
			old_mmap_args[0] = area_arg();
			old_mmap_args[1] = area_len(old_mmap_args[0], arg());
			old_mmap_args[2] = arg();
			old_mmap_args[3] = arg();
			old_mmap_args[4] = arg();
			old_mmap_args[5] = arg();
			a = at == 0 || at >= 0xc0000000u ? at : (uint32_t)(uintptr_t)old_mmap_args;
		}
		if (i >= verbose_from) {
			int out = open("/dev/console", O_WRONLY);
			dprintf(out, "fuzz: call %lu: %u(%#x, %#x, %#x, %#x, %#x, %#x)\n", i, nr, a, b, c, d, e, f);
			close(out);
		}
		in_call = 1;
		int32_t r = raw_syscall(nr, a, b, c, d, e, f);
		in_call = 0;
		if (nr == 69 || nr == 126 || nr == 175) /* ssetmask, sigprocmask, rt_sigprocmask */
			unblock_watchdog();
		if (!(r < 0 && r > -4096) && (nr == 90 || nr == 192 || nr == 163))
			note_mapping((uint32_t)r, nr == 163 ? c : nr == 192 ? b : a == (uint32_t)(uintptr_t)old_mmap_args ? old_mmap_args[1] : 0);
		counts[r < 0 && r > -4096 ? 1 : 0]++;
		if (i % 64 == 63) {
			/* munmap, mprotect and mremap may have taken the scratch area
			 * (and unmap_all may unmap it). */
			unmap_all();
			remap_scratch();
			counts[3]++;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	watchdog(0);
	for (int fd = 0; fd < 1024; fd++)
		close(fd);
	chdir("/");
	umask(022);
	double secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	int out = open("/dev/console", O_WRONLY);
	if (out < 0)
		return 3;
	if (remove_tree("/tmp/fz", out) + remove_added("/tmp", &tmp, out) + remove_added("/", &root, out) != 0)
		return 4;
	dprintf(out, "fuzz: seed %u: %lu calls (%lu ok, %lu errors) in %.3f s: %.0f calls/s; %lu watchdog signals during a call\n",
		seed, calls, counts[0], counts[1], secs, secs > 0 ? calls / secs : 0.0, interrupted);
	close(out);
	return 0;
}
