/* The one token bucket (issue 14 item 4): full at first use, refilled at
 * its rate up to its burst, never below zero; on the monotonic clock, so a
 * wall clock stepped back an hour or forward a day changes nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>

#include "clock.h"
#include "tokenbucket.h"

static void burst_then_rate(void **state)
{
	struct token_bucket b = { 0 };
	double wait = -1;

	for (int i = 0; i < 5; i++)
		assert_int_equal(token_bucket_take(&b, 5, 1, 1000, &wait), 0);
	assert_int_equal(token_bucket_take(&b, 5, 1, 1000, &wait), -EAGAIN);
	assert_true(fabs(wait - 1.0) < 1e-9);
	assert_int_equal(token_bucket_take(&b, 5, 1, 1500, &wait), -EAGAIN);
	assert_true(fabs(wait - 0.5) < 1e-9);
	assert_int_equal(token_bucket_take(&b, 5, 1, 2000, &wait), 0);
	/* a long pause fills it to the burst, no more */
	for (int i = 0; i < 5; i++)
		assert_int_equal(token_bucket_take(&b, 5, 1, 100000, NULL), 0);
	assert_int_equal(token_bucket_take(&b, 5, 1, 100000, NULL), -EAGAIN);
}

static void never_negative(void **state)
{
	struct token_bucket b = { 0 };

	/* hammering an empty bucket keeps it at zero: one token comes back
	 * one interval later, not after paying off a debt */
	for (int i = 0; i < 10; i++)
		token_bucket_take(&b, 2, 2, 0, NULL);
	assert_true(b.tokens >= 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(token_bucket_take(&b, 2, 2, 0, NULL), -EAGAIN);
	assert_true(b.tokens >= 0);
	assert_int_equal(token_bucket_take(&b, 2, 2, 500, NULL), 0);
}

static void time_going_back_is_no_time(void **state)
{
	struct token_bucket b = { 0 };

	assert_int_equal(token_bucket_take(&b, 1, 1, 10000, NULL), 0);
	assert_int_equal(token_bucket_take(&b, 1, 1, 5000, NULL), -EAGAIN);   /* back: nothing refilled */
	assert_true(b.tokens >= 0);
	assert_int_equal(b.at_ms, 10000);
	assert_int_equal(token_bucket_take(&b, 1, 1, 11000, NULL), 0);         /* one second after 10 s */
}

/* The callers pass mono_ms(): step the faked wall clock back an hour and
 * forward a day under a steady flow; the bucket neither stalls nor fills. */
static void wall_steps_do_not_reach_it(void **state)
{
	struct token_bucket b = { 0 };
	int ok = 0, refused = 0;

	clock_fake(1700000000000LL, 1000000);
	for (int i = 0; i < 400; i++) {         /* 4 requests a second for 100 s, 1/s allowed */
		if (i == 100)
			clock_fake_step_wall(-3600000);
		if (i == 200)
			clock_fake_step_wall(86400000);
		if (token_bucket_take(&b, 10, 1, mono_ms(), NULL) == 0)
			ok++;
		else
			refused++;
		assert_true(b.tokens >= 0 && b.tokens <= 10);
		clock_fake_advance(250000);
	}
	clock_real();
	/* the burst of 10 plus one a second for the 99.75 s that passed */
	assert_in_range(ok, 108, 110);
	assert_int_equal(ok + refused, 400);
}

static void burst_lowered_by_a_reload(void **state)
{
	struct token_bucket b = { 0 };

	assert_int_equal(token_bucket_take(&b, 30, 1, 0, NULL), 0);
	/* 29 left, the burst now 3: three more, then none */
	for (int i = 0; i < 3; i++)
		assert_int_equal(token_bucket_take(&b, 3, 1, 0, NULL), 0);
	assert_int_equal(token_bucket_take(&b, 3, 1, 0, NULL), -EAGAIN);
	token_bucket_reset(&b);
	assert_int_equal(token_bucket_take(&b, 3, 1, 0, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(burst_then_rate),
		cmocka_unit_test(never_negative),
		cmocka_unit_test(time_going_back_is_no_time),
		cmocka_unit_test(wall_steps_do_not_reach_it),
		cmocka_unit_test(burst_lowered_by_a_reload),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
