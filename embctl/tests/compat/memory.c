/* Memory: malloc small and large (brk and mmap2), realloc, calloc; mmap
 * anonymous, mprotect, madvise, munmap, mremap; brk growth and shrink. */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "compat.h"

/* How many areas /proc/self/maps lists (read without malloc, so the count
 * only moves when a call maps something). */
static int areas(void)
{
	char buf[4096];
	int fd = open("/proc/self/maps", O_RDONLY), lines = 0;
	ssize_t n;
	CHECK(fd >= 0);
	while ((n = read(fd, buf, sizeof buf)) > 0)
		for (ssize_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
	close(fd);
	return lines;
}

int main(void)
{
	unsigned long sum = 0;
	char *small[100];
	for (int i = 0; i < 100; i++) {
		small[i] = malloc(100 + i);
		CHECK(small[i] != NULL);
		memset(small[i], i, 100 + i);
	}
	for (int i = 0; i < 100; i++) {
		sum += (unsigned char)small[i][99 + i];
		free(small[i]);
	}
	printf("small blocks sum %lu\n", sum);

	size_t big = 8 << 20;
	char *p = malloc(big);
	CHECK(p != NULL);
	memset(p, 0xab, big);
	p = realloc(p, big * 2);
	CHECK(p != NULL);
	printf("realloc kept data: %d\n", (unsigned char)p[big - 1] == 0xab);
	free(p);

	int *z = calloc(1 << 16, sizeof(int));
	CHECK(z != NULL);
	int zero = 1;
	for (int i = 0; i < 1 << 16; i++)
		zero &= z[i] == 0;
	printf("calloc zeroed: %d\n", zero);
	free(z);

	/* The raw brk call: musl's sbrk() refuses to grow on purpose. */
	char *brk0 = (char *)syscall(SYS_brk, 0);
	char *brk1 = (char *)syscall(SYS_brk, brk0 + (64 << 10));
	CHECK(brk1 == brk0 + (64 << 10));
	memset(brk0, 1, 64 << 10);
	printf("brk grew 64 KiB\n");
	CHECK((char *)syscall(SYS_brk, brk0) == brk0);

	size_t len = 16 * 4096;
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED);
	printf("mmap page aligned: %d, zeroed: %d\n", ((unsigned long)m & 4095) == 0, m[len - 1] == 0);
	memset(m, 7, len);
	CHECK(mprotect(m, 4096, PROT_READ) == 0);
	printf("still readable: %d\n", m[0] == 7);
	CHECK(madvise(m, len, MADV_DONTNEED) == 0 || errno == ENOSYS);
	CHECK(munmap(m + 4096, len - 4096) == 0);
	CHECK(munmap(m, 4096) == 0);
	char *fixed = mmap(m, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	CHECK(fixed == m);
	fixed[0] = 1;
	munmap(fixed, 4096);
	/* mremap of 0 bytes of a private mapping is EINVAL and maps nothing (our
	 * kernel once kept the new area behind the error: the fuzzer's seed 1
	 * ran out of memory so); unknown flags are EINVAL. */
	char *r = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(r != MAP_FAILED);
	int before = areas();
	report("mremap of 0 bytes", mremap(r, 0, 16 << 20, MREMAP_MAYMOVE) != MAP_FAILED);
	report("mremap with an unknown flag", mremap(r, 4096, 8192, MREMAP_MAYMOVE | 0x100) != MAP_FAILED);
	printf("areas after the failed mremaps: %s\n", areas() == before ? "as before" : "more");
	r[0] = 5;
	char *moved = mremap(r, 4096, 64 << 10, MREMAP_MAYMOVE);
	CHECK(moved != MAP_FAILED);
	printf("mremap moved the data: %d, grown part zeroed: %d\n", moved[0] == 5, moved[(64 << 10) - 1] == 0);
	CHECK(munmap(moved, 64 << 10) == 0);
	report("mmap of a bad fd", mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 99, 0) != MAP_FAILED);
	report("munmap unaligned", munmap(m + 1, 4096) == 0);
	return 0;
}
