/* The log's repeat limiter: per key (message text), a burst per interval, and
 * the count of what was swallowed reported when the next window opens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "log.h"

static void test_burst_then_suppress(void **state)
{
	struct log_ratelimit rl;
	unsigned sup = 99;
	const uint64_t k1 = 0x1234, k2 = 0x9876;

	log_ratelimit_init(&rl, 60000, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(log_ratelimit_check(&rl, k1, 1000 + i, &sup), 1);
		assert_int_equal(sup, 0);
	}
	for (int i = 0; i < 5; i++)
		assert_int_equal(log_ratelimit_check(&rl, k1, 2000 + i, &sup), 0);
	/* another call site is not affected */
	assert_int_equal(log_ratelimit_check(&rl, k2, 2100, &sup), 1);
	assert_int_equal(sup, 0);
	/* a new window: allowed again, with the 5 swallowed reported once */
	assert_int_equal(log_ratelimit_check(&rl, k1, 61000, &sup), 1);
	assert_int_equal(sup, 5);
	assert_int_equal(log_ratelimit_check(&rl, k1, 61001, &sup), 1);
	assert_int_equal(sup, 0);
}

static void test_unlimited_and_clock_back(void **state)
{
	struct log_ratelimit rl;
	unsigned sup;
	const uint64_t k = 42;

	log_ratelimit_init(&rl, 1000, 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(log_ratelimit_check(&rl, k, i, &sup), 1);
	log_ratelimit_init(&rl, 1000, 1);
	assert_int_equal(log_ratelimit_check(&rl, k, 5000, &sup), 1);
	assert_int_equal(log_ratelimit_check(&rl, k, 5001, &sup), 0);
	/* time going backwards opens a new window rather than muting forever */
	assert_int_equal(log_ratelimit_check(&rl, k, 10, &sup), 1);
	assert_int_equal(sup, 1);
}

static void test_many_keys(void **state)
{
	struct log_ratelimit rl;
	unsigned sup;

	/* more keys than slots: nothing crashes, each key's first line passes */
	log_ratelimit_init(&rl, 60000, 2);
	for (uint64_t i = 0; i < LOG_RL_SLOTS * 2; i++)
		assert_int_equal(log_ratelimit_check(&rl, i * 7919 + 3, 100, &sup), 1);
}

static void test_levels(void **state)
{
	enum log_level l;

	assert_int_equal(log_level_parse("warn", &l), 0);
	assert_int_equal(l, LOG_LVL_WARN);
	assert_int_equal(log_level_parse("loud", &l), -22);
	assert_int_equal(log_configure("warn", "stderr", 10, 60), 0);
	assert_int_equal(log_threshold, LOG_LVL_WARN);
	log_set_cli_delta(1);
	assert_int_equal(log_configure("warn", "stderr", 10, 60), 0);
	assert_int_equal(log_threshold, LOG_LVL_INFO);
	log_set_cli_delta(-5);
	assert_int_equal(log_configure("debug", "stderr", 10, 60), 0);
	assert_int_equal(log_threshold, LOG_LVL_ERROR);
	log_set_cli_delta(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_suppress),
		cmocka_unit_test(test_unlimited_and_clock_back),
		cmocka_unit_test(test_many_keys),
		cmocka_unit_test(test_levels),
	};
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
