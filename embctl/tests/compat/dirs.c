/* Directory listing through readdir (getdents64), sorted so the order the
 * file system returns does not matter; stat types and sizes. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "compat.h"

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp/compat-dirs";
	char *names[64];
	int n = 0;

	CHECK(mkdir(dir, 0755) == 0 || errno == EEXIST);
	CHECK(chdir(dir) == 0);
	for (int i = 0; i < 12; i++) {
		char name[32];
		snprintf(name, sizeof name, "file-%02d-with-a-longer-name", i);
		int fd = open(name, O_CREAT | O_WRONLY, 0644);
		CHECK(fd >= 0);
		CHECK(write(fd, name, i) == i);
		close(fd);
	}
	CHECK(mkdir("subdir", 0755) == 0);
	DIR *d = opendir(".");
	CHECK(d != NULL);
	struct dirent *e;
	while ((e = readdir(d)) && n < 64) {
		struct stat st;
		char line[300];
		CHECK(lstat(e->d_name, &st) == 0);
		snprintf(line, sizeof line, "%s %s %ld", e->d_name,
			 S_ISDIR(st.st_mode) ? "dir" : S_ISREG(st.st_mode) ? "file" : "other",
			 S_ISDIR(st.st_mode) ? 0L : (long)st.st_size);
		names[n++] = strdup(line);
	}
	closedir(d);
	qsort(names, n, sizeof *names, cmp);
	for (int i = 0; i < n; i++)
		puts(names[i]);
	for (int i = 0; i < 12; i++) {
		char name[32];
		snprintf(name, sizeof name, "file-%02d-with-a-longer-name", i);
		CHECK(unlink(name) == 0);
	}
	CHECK(rmdir("subdir") == 0);
	report("opendir missing", opendir("/no/such/dir") != NULL);
	CHECK(chdir("/") == 0);
	CHECK(rmdir(dir) == 0);
	return 0;
}
