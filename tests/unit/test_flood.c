/* Flood watch (gateway/flood.c): levels raised at their depth and cleared a
 * hysteresis below it, episodes with start, duration, peak and highest
 * level, flooded time per day with a stopped clock for a silent sensor. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "flood.h"

static const struct flood_conf conf = { { 10, 20, 30 }, 3, 2.0, 180000 };

struct step {
	int64_t s;          /* time, seconds */
	double depth;
	int changed;        /* 1: an event */
	enum flood_kind kind;
	int level;
	double threshold;
};

static void test_levels_and_episode(void **st)
{
	(void)st;
	static const struct step steps[] = {
		{ 0, 0.0, 0, 0, 0, 0 },
		{ 60, 9.9, 0, 0, 0, 0 },
		{ 120, 10.0, 1, FLOOD_RAISED, 1, 10 },      /* reached: raised */
		{ 180, 8.0, 0, 0, 1, 0 },                   /* 10 - 2: still level 1 */
		{ 240, 21.0, 1, FLOOD_RAISED, 2, 20 },
		{ 300, 35.0, 1, FLOOD_RAISED, 3, 30 },
		{ 360, 28.0, 0, 0, 3, 0 },                  /* 30 - 2 */
		{ 420, 27.9, 1, FLOOD_LOWERED, 2, 30 },
		{ 480, 8.5, 1, FLOOD_LOWERED, 1, 20 },      /* below 18, above 8 */
		{ 540, 7.9, 1, FLOOD_CLEARED, 0, 10 },
		{ 600, 9.99, 0, 0, 0, 0 },                  /* dry again: 10 to re-raise */
	};
	struct flood_state s;
	struct flood_event ev;

	flood_init(&s);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		int rc = flood_update(&conf, &s, steps[i].s * 1000, steps[i].depth, &ev);
		if (rc != steps[i].changed || s.level != steps[i].level)
			fail_msg("t=%lld depth %.2f: rc %d level %d, want %d level %d", (long long)steps[i].s,
				 steps[i].depth, rc, s.level, steps[i].changed, steps[i].level);
		if (!rc)
			continue;
		assert_int_equal(ev.kind, steps[i].kind);
		assert_int_equal(ev.level, steps[i].level);
		assert_true(ev.threshold == steps[i].threshold);
		assert_true(ev.depth == steps[i].depth);
		assert_int_equal(ev.ts, steps[i].s * 1000);
		if (ev.kind == FLOOD_CLEARED) {
			assert_int_equal(ev.previous, 1);
			assert_int_equal(ev.ep_start, 120000);
			assert_int_equal(ev.ep_duration_ms, 420000);
			assert_true(ev.ep_peak == 35.0);
			assert_int_equal(ev.ep_max_level, 3);
		}
	}
	/* flooded from 120 s to 540 s */
	assert_int_equal(flood_take_wet(&conf, &s, 660000), 420000);
	assert_int_equal(flood_take_wet(&conf, &s, 720000), 0);
}

static void test_jump_and_new_episode(void **st)
{
	(void)st;
	struct flood_state s;
	struct flood_event ev;

	flood_init(&s);
	assert_int_equal(flood_update(&conf, &s, 1000, 2, &ev), 0);
	/* straight to the top level */
	assert_int_equal(flood_update(&conf, &s, 2000, 31, &ev), 1);
	assert_int_equal(ev.kind, FLOOD_RAISED);
	assert_int_equal(ev.previous, 0);
	assert_int_equal(ev.level, 3);
	assert_true(ev.threshold == 30);
	/* and straight back to dry */
	assert_int_equal(flood_update(&conf, &s, 5000, 0, &ev), 1);
	assert_int_equal(ev.kind, FLOOD_CLEARED);
	assert_int_equal(ev.previous, 3);
	assert_true(ev.threshold == 30);
	assert_int_equal(ev.ep_duration_ms, 3000);
	assert_true(ev.ep_peak == 31);
	/* a second episode starts afresh */
	assert_int_equal(flood_update(&conf, &s, 9000, 12, &ev), 1);
	assert_int_equal(flood_update(&conf, &s, 10000, 15, &ev), 0);
	assert_int_equal(flood_update(&conf, &s, 11000, 1, &ev), 1);
	assert_int_equal(ev.ep_start, 9000);
	assert_true(ev.ep_peak == 15);
	assert_int_equal(ev.ep_max_level, 1);
}

static void test_wet_time(void **st)
{
	(void)st;
	struct flood_state s;
	struct flood_event ev;

	flood_init(&s);
	/* flooded at 100 s, day ends at 300 s: 200 s that day, the rest the next */
	flood_update(&conf, &s, 100000, 12, &ev);
	flood_update(&conf, &s, 200000, 12, &ev);
	assert_int_equal(flood_take_wet(&conf, &s, 300000), 200000);
	flood_update(&conf, &s, 350000, 12, &ev);
	flood_update(&conf, &s, 400000, 0, &ev);    /* cleared */
	flood_update(&conf, &s, 500000, 0, &ev);
	assert_int_equal(flood_take_wet(&conf, &s, 600000), 100000);
	/* a sensor that falls silent while flooded counts max_gap_ms, not more */
	flood_update(&conf, &s, 700000, 25, &ev);
	assert_int_equal(flood_take_wet(&conf, &s, 10000000), 180000);
	/* bad input is refused and changes nothing */
	assert_int_equal(flood_update(&conf, &s, 10000001, NAN, &ev), -EINVAL);
	assert_int_equal(flood_update(&conf, &s, 500, 0, &ev), -EINVAL);
	assert_int_equal(s.level, 2);
}

static void test_conf_check(void **st)
{
	(void)st;
	char why[160];
	struct flood_conf c = { { 10, 20, 30 }, 3, 2, 0 };

	assert_int_equal(flood_conf_check(&c, why, sizeof(why)), 0);
	c.levels[1] = 10;
	assert_int_equal(flood_conf_check(&c, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "must rise"));
	c.levels[1] = 20;
	c.hysteresis = 10;
	assert_int_equal(flood_conf_check(&c, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "hysteresis"));
	c.hysteresis = 1;
	c.levels[0] = -1;
	assert_int_equal(flood_conf_check(&c, why, sizeof(why)), -EINVAL);
	c.levels[0] = 5;
	c.nlevels = 0;
	assert_int_equal(flood_conf_check(&c, why, sizeof(why)), -EINVAL);
	c.nlevels = 5;
	assert_int_equal(flood_conf_check(&c, why, sizeof(why)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_levels_and_episode),
		cmocka_unit_test(test_jump_and_new_episode),
		cmocka_unit_test(test_wet_time),
		cmocka_unit_test(test_conf_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
