/* /proc/self/maps names what each area holds, in Linux's format: the
 * program's segments by its path with their file offsets, the bss and
 * anonymous mappings without a name, [heap] and [stack]; a file mapped
 * with mmap by its path and offset, split by mprotect and munmap with the
 * offsets following. Printed as the sorted set of "perms offset name"
 * (addresses, devices and inodes differ between machines), the program
 * shown as <exe> and other files by their last path element; [vvar] and
 * [vdso] are left out (our kernel has no vDSO). */
#define _GNU_SOURCE
#include "compat.h"
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_LINES 256

static char exe[PATH_MAX];
static char *seen[MAX_LINES];
static int nseen;

static int by_text(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Parses one maps line; CHECKs the format Linux prints. */
static void take_line(const char *line)
{
	unsigned long start, end, offset, inode;
	char perms[5], dev[16];
	int name_at = -1;
	CHECK(sscanf(line, "%lx-%lx %4s %lx %15s %lu %n", &start, &end, perms, &offset, dev, &inode, &name_at) == 6);
	CHECK(start < end && start % 4096 == 0 && end % 4096 == 0);
	CHECK(strlen(dev) == 5 && dev[2] == ':');
	const char *name = name_at >= 0 ? line + name_at : "";
	char clean[PATH_MAX];
	snprintf(clean, sizeof clean, "%s", name);
	clean[strcspn(clean, "\n")] = 0;
	if (!strncmp(clean, "[vvar", 5) || !strcmp(clean, "[vdso]"))
		return;
	const char *shown = clean;
	if (!strcmp(clean, exe))
		shown = "<exe>";
	else if (clean[0] == '/')
		shown = strrchr(clean, '/') + 1;
	else if (clean[0] == 0)
		shown = "anonymous";
	char text[PATH_MAX + 64];
	if (clean[0] == '/')
		snprintf(text, sizeof text, "%s %08lx %s", perms, offset, shown);
	else
		snprintf(text, sizeof text, "%s %s", perms, shown);
	for (int i = 0; i < nseen; i++)
		if (!strcmp(seen[i], text))
			return;
	CHECK(nseen < MAX_LINES);
	seen[nseen++] = strdup(text);
}

static void show(const char *title)
{
	for (int i = 0; i < nseen; i++)
		free(seen[i]);
	nseen = 0;
	FILE *f = fopen("/proc/self/maps", "r");
	CHECK(f != NULL);
	char line[PATH_MAX + 128];
	while (fgets(line, sizeof line, f))
		take_line(line);
	fclose(f);
	qsort(seen, nseen, sizeof seen[0], by_text);
	printf("%s:\n", title);
	for (int i = 0; i < nseen; i++)
		printf("  %s\n", seen[i]);
}

/* Is `addr` inside an area of the maps, and with which perms/offset? */
static int area_of(void *addr, char perms[5], unsigned long *offset)
{
	FILE *f = fopen("/proc/self/maps", "r");
	CHECK(f != NULL);
	char line[PATH_MAX + 128];
	int found = 0;
	while (!found && fgets(line, sizeof line, f)) {
		unsigned long start, end;
		if (sscanf(line, "%lx-%lx %4s %lx", &start, &end, perms, offset) == 4 && start <= (uintptr_t)addr &&
		    (uintptr_t)addr < end)
			found = 1;
	}
	fclose(f);
	return found;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	CHECK(n > 0);
	exe[n] = 0;
	/* A heap for [heap]. */
	char *volatile heap = malloc(200000);
	CHECK(heap != NULL);
	heap[0] = 1;
	show("at start");

	int fd = open(exe, O_RDONLY);
	CHECK(fd >= 0);
	char *three = mmap(NULL, 3 * 4096, PROT_READ, MAP_PRIVATE, fd, 4096);
	CHECK(three != MAP_FAILED);
	char *shared = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 2 * 4096);
	CHECK(shared != MAP_FAILED);
	CHECK(memcmp(three + 4096, shared, 4096) == 0);
	char *anon = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(anon != MAP_FAILED);
	char perms[5];
	unsigned long offset;
	CHECK(area_of(three, perms, &offset));
	printf("private file mapping: %s %08lx\n", perms, offset);
	CHECK(area_of(shared, perms, &offset));
	printf("shared file mapping: %s %08lx\n", perms, offset);
	CHECK(area_of(anon, perms, &offset));
	printf("anonymous mapping: %s %08lx\n", perms, offset);

	CHECK(mprotect(three + 4096, 4096, PROT_NONE) == 0);
	CHECK(area_of(three + 4096, perms, &offset));
	printf("after mprotect, middle page: %s %08lx\n", perms, offset);
	CHECK(area_of(three + 2 * 4096, perms, &offset));
	printf("after mprotect, last page: %s %08lx\n", perms, offset);
	/* (Whether the first page's address is free after is not printed: a
	 * libc may map its own memory there at once.) */
	CHECK(munmap(three, 4096) == 0);
	CHECK(area_of(three + 2 * 4096, perms, &offset));
	printf("after munmap, last page: %s %08lx\n", perms, offset);
	show("with mappings");
	return 0;
}
