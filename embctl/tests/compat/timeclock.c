/* Clocks and sleep, time64 variants: clock_gettime (REALTIME, MONOTONIC),
 * gettimeofday, time, nanosleep, clock_nanosleep, clock_getres. Only
 * relations are printed, never the times themselves. */
#include <sys/time.h>
#include <time.h>
#include "compat.h"

static long long ns(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }

int main(void)
{
	struct timespec a, b, res;
	struct timeval tv;
	CHECK(clock_gettime(CLOCK_MONOTONIC, &a) == 0);
	struct timespec d = { 0, 20 * 1000 * 1000 };
	CHECK(nanosleep(&d, NULL) == 0);
	CHECK(clock_gettime(CLOCK_MONOTONIC, &b) == 0);
	long long slept = ns(b) - ns(a);
	printf("nanosleep 20ms: %s\n", slept >= 20000000LL && slept < 2000000000LL ? "ok" : "wrong");
	CHECK(clock_nanosleep(CLOCK_MONOTONIC, 0, &d, NULL) == 0);
	struct timespec c;
	CHECK(clock_gettime(CLOCK_MONOTONIC, &c) == 0);
	printf("clock_nanosleep: %s\n", ns(c) - ns(b) >= 20000000LL ? "ok" : "wrong");
	CHECK(clock_gettime(CLOCK_REALTIME, &a) == 0);
	CHECK(gettimeofday(&tv, NULL) == 0);
	time_t t = time(NULL);
	printf("realtime after 2020: %d, consistent: %d\n", a.tv_sec > 1577836800, t - a.tv_sec < 5 && tv.tv_sec - a.tv_sec < 5);
	CHECK(clock_getres(CLOCK_MONOTONIC, &res) == 0);
	printf("resolution under 10ms: %d\n", res.tv_sec == 0 && res.tv_nsec > 0 && res.tv_nsec <= 10000000);
	printf("time_t is 64-bit: %d\n", (int)sizeof(time_t) == 8);
	return 0;
}
