/* The one poll scheduler (issue 14 item 4): slots on the monotonic clock,
 * whole slots skipped after a stall with the phase kept, and a device
 * restarted by a reload resuming its rhythm. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "pollsched.h"

static void on_time(void **state)
{
	int64_t due = 10000000;
	struct timeval tv;

	/* the poll of the 10 s slot finished at 10.3 s: next at 11 s */
	assert_int_equal(poll_schedule_next(&due, 1000000, 10300000, &tv), 0);
	assert_int_equal(due, 11000000);
	assert_int_equal(tv.tv_sec, 0);
	assert_int_equal(tv.tv_usec, 700000);
}

static void late_but_within_a_slot(void **state)
{
	int64_t due = 10000000;
	struct timeval tv;

	/* finished at 11.2 s: the 11 s slot is due now, nothing skipped */
	assert_int_equal(poll_schedule_next(&due, 1000000, 11200000, &tv), 0);
	assert_int_equal(due, 11000000);
	assert_int_equal(tv.tv_sec, 0);
	assert_int_equal(tv.tv_usec, 0);
}

static void stall_skips_whole_slots(void **state)
{
	int64_t due = 10000000;
	struct timeval tv;

	/* the loop stalled until 14.5 s: 11, 12 and 13 are skipped, 14 runs */
	assert_int_equal(poll_schedule_next(&due, 1000000, 14500000, &tv), 3);
	assert_int_equal(due, 14000000);
	assert_int_equal(tv.tv_sec, 0);
	assert_int_equal(tv.tv_usec, 0);
	/* on the phase: the next one is 15 s */
	assert_int_equal(poll_schedule_next(&due, 1000000, 14600000, &tv), 0);
	assert_int_equal(due, 15000000);
	assert_int_equal(tv.tv_usec, 400000);
}

static void rhythm_over_many_slots(void **state)
{
	int64_t due = 0, now = 0;
	struct timeval tv;
	unsigned skipped = 0;

	/* each poll takes 30 ms; 1,000 slots of 200 ms keep their phase */
	for (int i = 0; i < 1000; i++) {
		now = due + 30000;
		skipped += poll_schedule_next(&due, 200000, now, &tv);
		assert_int_equal(due % 200000, 0);
		assert_int_equal((int64_t)tv.tv_sec * 1000000 + tv.tv_usec, 170000);
	}
	assert_int_equal(skipped, 0);
	assert_int_equal(due, 1000 * 200000);
}

static void resume_after_reload(void **state)
{
	assert_int_equal(poll_schedule_resume(0, 5000000, 1000000), 0);          /* none before */
	assert_int_equal(poll_schedule_resume(5300000, 5000000, 1000000), 5300000);
	assert_int_equal(poll_schedule_resume(2300000, 5000000, 1000000), 5300000);  /* same phase */
	assert_int_equal(poll_schedule_resume(5000000, 5000000, 1000000), 5000000);
	/* the interval was 10 s, now 1 s: no later than one new interval */
	assert_int_equal(poll_schedule_resume(14300000, 5000000, 1000000), 5300000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(on_time),
		cmocka_unit_test(late_but_within_a_slot),
		cmocka_unit_test(stall_skips_whole_slots),
		cmocka_unit_test(rhythm_over_many_slots),
		cmocka_unit_test(resume_after_reload),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
