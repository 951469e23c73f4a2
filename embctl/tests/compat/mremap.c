/* mremap's MREMAP_FIXED and MREMAP_DONTUNMAP: the pages move to the
 * address asked for (what was mapped there goes, what lies past the new
 * length stays), growing and shrinking on the way; DONTUNMAP leaves the
 * old range mapped and reading as zeros, with or without FIXED; and the
 * combinations Linux refuses (EINVAL). Whether a page is mapped is asked
 * with msync, ENOMEM for a hole. DONTUNMAP always passes a new address
 * (NULL: no wish): glibc reads one for it, and Linux checks it. */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <unistd.h>
#include "compat.h"

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

#define PAGE 4096

static char *map(long pages, char fill)
{
	char *m = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED);
	for (long i = 0; i < pages; i++)
		memset(m + i * PAGE, fill + i, PAGE);
	return m;
}

static const char *mapped(void *at)
{
	return msync(at, PAGE, MS_ASYNC) == 0 ? "mapped" : errno == ENOMEM ? "unmapped" : strerror(errno);
}

static void refused(const char *what, void *r)
{
	printf("%s: %s\n", what, r == MAP_FAILED ? strerror(errno) : "accepted");
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	/* FIXED onto a mapping of four pages: three move there, the fourth
	 * page of the target stays. */
	char *a = map(3, 'a'), *target = map(4, 'T');
	char *r = mremap(a, 3 * PAGE, 3 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, target);
	printf("FIXED: at the address asked: %s, data moved: %s, old range %s, the target's fourth page kept: %s\n", r == target ? "yes" : "no",
	       target[0] == 'a' && target[2 * PAGE + 5] == 'c' ? "yes" : "no", mapped(a), target[3 * PAGE] == 'T' + 3 ? "yes" : "no");

	/* FIXED growing into a free range, and shrinking. */
	char *b = map(1, 'g');
	char *free_range = map(4, 'x');
	CHECK(munmap(free_range, 4 * PAGE) == 0);
	r = mremap(b, PAGE, 3 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, free_range);
	printf("FIXED growing: at the address asked: %s, data moved: %s, the new pages zero: %s\n", r == free_range ? "yes" : "no",
	       free_range[7] == 'g' ? "yes" : "no", free_range[PAGE] == 0 && free_range[3 * PAGE - 1] == 0 ? "yes" : "no");
	char *c = map(3, 's');
	r = mremap(c, 3 * PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, target);
	printf("FIXED shrinking: at the address asked: %s, data moved: %s, the target's second page %s, old range %s %s\n",
	       r == target ? "yes" : "no", target[1] == 's' ? "yes" : "no", mapped(target + PAGE), mapped(c), mapped(c + 2 * PAGE));

	/* DONTUNMAP: the pages move, the old range stays mapped and empty. */
	char *d = map(2, 'd');
	r = mremap(d, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL);
	printf("DONTUNMAP: moved elsewhere: %s, data moved: %s, old range %s and zero: %s\n", r != MAP_FAILED && r != d ? "yes" : "no",
	       r != MAP_FAILED && r[0] == 'd' && r[PAGE] == 'e' ? "yes" : "no", mapped(d), d[0] == 0 && d[PAGE] == 0 ? "yes" : "no");
	char *e = map(1, 'e');
	r = mremap(e, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_DONTUNMAP | MREMAP_FIXED, free_range);
	printf("DONTUNMAP|FIXED: at the address asked: %s, data moved: %s, old range %s\n", r == free_range ? "yes" : "no",
	       free_range[0] == 'e' ? "yes" : "no", mapped(e));

	/* The combinations Linux refuses. */
	char *f = map(2, 'f');
	refused("FIXED without MAYMOVE", mremap(f, PAGE, PAGE, MREMAP_FIXED, target));
	refused("FIXED at an unaligned address", mremap(f, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, target + 1));
	refused("FIXED overlapping the old range", mremap(f, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, f + PAGE));
	refused("DONTUNMAP without MAYMOVE", mremap(f, PAGE, PAGE, MREMAP_DONTUNMAP, NULL));
	refused("DONTUNMAP changing the length", mremap(f, PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL));
	printf("after the refusals: data in place: %s\n", f[0] == 'f' && f[PAGE] == 'g' ? "yes" : "no");
	return 0;
}
