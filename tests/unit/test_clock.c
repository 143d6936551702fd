/* The one clock (issue 14 item 3): the faked clocks move only when told, a
 * wall step leaves monotonic time alone, the test offset file shifts the
 * wall clock (and junk in it does not), and a condition made by
 * clock_cond_init() times out on the monotonic clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "unit_files.h"

static char dir[64];

static void fake_moves_only_when_told(void **state)
{
	clock_fake(1700000000000LL, 5000000);
	assert_int_equal(wall_ms(), 1700000000000LL);
	assert_int_equal(mono_us(), 5000000);
	assert_int_equal(mono_ms(), 5000);
	clock_fake_advance(1500000);            /* 1.5 s pass */
	assert_int_equal(wall_ms(), 1700000001500LL);
	assert_int_equal(mono_us(), 6500000);
	clock_fake_step_wall(-3600000);         /* NTP steps back an hour */
	assert_int_equal(wall_ms(), 1700000001500LL - 3600000);
	assert_int_equal(mono_us(), 6500000);
	clock_fake_step_wall(86400000);         /* and forward a day */
	assert_int_equal(wall_ms(), 1700000001500LL - 3600000 + 86400000);
	assert_int_equal(mono_us(), 6500000);
	clock_real();
}

static void real_clocks_are_the_kernels(void **state)
{
	struct timespec r, m;
	int64_t w = wall_ms(), u = mono_us();

	clock_gettime(CLOCK_REALTIME, &r);
	clock_gettime(CLOCK_MONOTONIC, &m);
	/* the offset file is named but not written yet: no offset */
	assert_true(llabs((int64_t)r.tv_sec * 1000 + r.tv_nsec / 1000000 - w) < 1000);
	assert_true(llabs((int64_t)m.tv_sec * 1000000 + m.tv_nsec / 1000 - u) < 1000000);
	assert_true(mono_us() >= u);
}

static void offset_file_shifts_wall_time(void **state)
{
	char path[128];
	struct timespec r, pause = { 0, 150 * 1000000L };   /* past the 100 ms re-read */
	int64_t w;

	snprintf(path, sizeof(path), "%s/offset", dir);
	assert_non_null(clock_offset_file());
	assert_string_equal(clock_offset_file(), path);

	ut_write(dir, "offset", "-3600000\n", 0600);
	nanosleep(&pause, NULL);
	w = wall_ms();
	clock_gettime(CLOCK_REALTIME, &r);
	assert_true(llabs((int64_t)r.tv_sec * 1000 + r.tv_nsec / 1000000 - 3600000 - w) < 1000);

	ut_write(dir, "offset", "86400000", 0600);
	nanosleep(&pause, NULL);
	w = wall_ms();
	clock_gettime(CLOCK_REALTIME, &r);
	assert_true(llabs((int64_t)r.tv_sec * 1000 + r.tv_nsec / 1000000 + 86400000 - w) < 1000);

	ut_write(dir, "offset", "12 hours", 0600);   /* junk: no offset */
	nanosleep(&pause, NULL);
	w = wall_ms();
	clock_gettime(CLOCK_REALTIME, &r);
	assert_true(llabs((int64_t)r.tv_sec * 1000 + r.tv_nsec / 1000000 - w) < 1000);

	ut_write(dir, "offset", "99999999999999999999", 0600);   /* out of range: none */
	nanosleep(&pause, NULL);
	w = wall_ms();
	clock_gettime(CLOCK_REALTIME, &r);
	assert_true(llabs((int64_t)r.tv_sec * 1000 + r.tv_nsec / 1000000 - w) < 1000);
}

static void condition_waits_on_monotonic_time(void **state)
{
	pthread_cond_t cv;
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	struct timespec ts, a, b;

	assert_int_equal(clock_cond_init(&cv), 0);
	clock_deadline(&ts, 50);
	clock_gettime(CLOCK_MONOTONIC, &a);
	pthread_mutex_lock(&mu);
	assert_int_equal(pthread_cond_timedwait(&cv, &mu, &ts), ETIMEDOUT);
	pthread_mutex_unlock(&mu);
	clock_gettime(CLOCK_MONOTONIC, &b);
	int64_t waited = ((int64_t)b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	assert_true(waited >= 45);
	/* a deadline on CLOCK_REALTIME would be decades away from this one */
	assert_true(llabs((int64_t)ts.tv_sec - a.tv_sec) < 5);
	pthread_cond_destroy(&cv);
	/* a deadline in the past is now */
	clock_deadline(&ts, -5);
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_true(ts.tv_sec <= a.tv_sec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fake_moves_only_when_told),
		cmocka_unit_test(real_clocks_are_the_kernels),
		cmocka_unit_test(condition_waits_on_monotonic_time),
		cmocka_unit_test(offset_file_shifts_wall_time),
	};
	int ret;

	char path[128];

	if (ut_mkdir(dir, sizeof(dir), "wardgw-clock") < 0)
		return 1;
	/* read once per process, at the first reading of the clock */
	snprintf(path, sizeof(path), "%s/offset", dir);
	setenv("WARDGW_TEST_WALL_OFFSET_FILE", path, 1);
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	ut_rmdir(dir);
	return ret;
}
