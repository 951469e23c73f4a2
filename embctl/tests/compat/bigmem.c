/* Large but valid programs: a 1 GiB bss (mapped on demand, as on Linux)
 * and 11 MiB of initialised data in the file itself. Touches a few pages
 * of each and checks what it reads. */
#include <stdio.h>

#define BSS_SIZE (1u << 30)
#define DATA_SIZE (11u << 20)

static char bss[BSS_SIZE];
/* Non-zero and global, so it lands in .data (in the file), not in .bss. */
char data[DATA_SIZE] = {1, [DATA_SIZE / 2] = 2, [DATA_SIZE - 1] = 3};

int main(void)
{
	unsigned sum = 0;
	volatile char *d = data;
	for (unsigned at = 0; at < BSS_SIZE; at += BSS_SIZE / 8)
		bss[at] = 1;
	for (unsigned at = 0; at < BSS_SIZE; at += BSS_SIZE / 8)
		sum += bss[at];
	bss[BSS_SIZE - 1] = 5;
	printf("bss: %u MiB, %u pages touched, last byte %d\n", BSS_SIZE >> 20, sum + 1, bss[BSS_SIZE - 1]);
	printf("data: %u MiB, bytes %d %d %d\n", DATA_SIZE >> 20, d[0], d[DATA_SIZE / 2], d[DATA_SIZE - 1]);
	return 0;
}
