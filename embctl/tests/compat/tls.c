/* Thread-local storage through set_thread_area: __thread variables (and
 * errno, which libc keeps in TLS) are per-thread data reached via %gs. */
#include <unistd.h>
#include "compat.h"

static __thread int counter = 41;
static __thread char name[16] = "tls-initial";
static __thread long zeroed[64];

int main(void)
{
	counter++;
	strcpy(name, "tls-changed");
	long s = 0;
	for (int i = 0; i < 64; i++)
		s += zeroed[i];
	printf("counter %d name %s zeroed-sum %ld\n", counter, name, s);
	errno = 0;
	close(-1);
	printf("errno after close(-1): %s\n", errno == EBADF ? "EBADF" : "other");
	return 0;
}
