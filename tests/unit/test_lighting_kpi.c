/* The lighting aggregates of the KPI engine on a real store: dimming
 * savings (1 - delta(energy) / delta(rated energy), counters with a reset)
 * and the mean time to repair from the alarm table, per lamp, in scope. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "kpi.h"
#include "rollup.h"
#include "store.h"
#include "timeparse.h"

static char dir[64], path[128];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/wardgw-lkpi.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/t.db", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int64_t T(const char *s)
{
	int64_t ms;

	assert_int_equal(time_parse(s, 0, &ms), 0);
	return ms;
}

static void test_savings(void **state)
{
	struct store *st;
	struct rollup *r;
	int64_t ea, ra, eb, rb, h = T("2026-11-23T19:00:00+07:00");
	char sql[256];

	assert_int_equal(store_open(&st, path), 0);
	snprintf(sql, sizeof(sql), "INSERT INTO meta VALUES ('rollup_minute_done', %lld)", (long long)h);
	assert_int_equal(sqlite3_exec(store_db(st), sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(rollup_new(&r, st, 1000), 0);
	assert_int_equal(store_begin(st), 0);
	assert_int_equal(store_series(st, "a", "activeEnergy", "kWh", &ea), 0);
	assert_int_equal(store_series(st, "a", "ratedEnergyScheduled", "kWh", &ra), 0);
	assert_int_equal(store_series(st, "b", "activeEnergy", "kWh", &eb), 0);
	assert_int_equal(store_series(st, "b", "ratedEnergyScheduled", "kWh", &rb), 0);
	assert_int_equal(store_commit(st), 0);
	long iea = rollup_add_series(r, ea, 1, 0), ira = rollup_add_series(r, ra, 1, 0);
	long ieb = rollup_add_series(r, eb, 1, 0), irb = rollup_add_series(r, rb, 1, 0);
	/* a at full power: energy +2, rated +2; b dimmed to a third: energy +1,
	 * rated +3 through a restart of its counter (7 -> 1 counts +1, then +2) */
	double e_a[] = { 100, 101, 102 }, r_a[] = { 0, 1, 2 };
	double e_b[] = { 50, 50.5, 51 }, r_b[] = { 7, 1, 3 };
	for (int i = 0; i < 3; i++) {
		int64_t ts = h + i * 20000;
		rollup_sample(r, (size_t)iea, ts, e_a[i]);
		rollup_sample(r, (size_t)ira, ts, r_a[i]);
		rollup_sample(r, (size_t)ieb, ts, e_b[i]);
		rollup_sample(r, (size_t)irb, ts, r_b[i]);
	}
	rollup_tick(r, h + 120000);
	assert_int_equal(store_flush(st), 0);

	struct device_conf devs[2] = { { .name = "a" }, { .name = "b" } };
	struct gw_config cfg = { .devices = devs, .ndevices = 2 };
	struct kpi_def k = { .name = "s", .metric = "activeEnergy", .denominator = "ratedEnergyScheduled",
			     .agg = AGG_SAVINGS, .scale = 1 };
	struct kpi_result res;
	assert_int_equal(kpi_compute(store_db(st), &cfg, &k, TIER_MINUTE, h, h + 60000, &res), 0);
	/* energy 2 + 1 = 3 of rated 2 + 3 = 5 */
	assert_true(fabs(res.value - (1.0 - 3.0 / 5.0)) < 1e-9);
	k.device = "b";
	assert_int_equal(kpi_compute(store_db(st), &cfg, &k, TIER_MINUTE, h, h + 60000, &res), 0);
	assert_true(fabs(res.value - (1.0 - 1.0 / 3.0)) < 1e-9);
	k.device = "a";
	assert_int_equal(kpi_compute(store_db(st), &cfg, &k, TIER_MINUTE, h, h + 60000, &res), 0);
	assert_true(fabs(res.value) < 1e-9);
	/* no rated energy (not scheduled): no value, not a division by zero */
	assert_int_equal(kpi_compute(store_db(st), &cfg, &k, TIER_MINUTE, h - 60000, h, &res), 0);
	assert_true(isnan(res.value));
	store_clear_hooks(st);
	rollup_free(r);
	store_close(st);
}

static void test_mttr(void **state)
{
	struct store *st;
	int64_t h = T("2026-11-23T00:00:00+07:00");
	char sql[512];

	assert_int_equal(store_open(&st, path), 0);
	/* a: 1 lamp, repaired in 2 h; b: 3 lamps, repaired in 4 h; a door
	 * (not a lamp alarm); one still open; one cleared outside the window */
	snprintf(sql, sizeof(sql),
		 "INSERT INTO alarm (device, alarm, raised, cleared, lamps) VALUES"
		 " ('a', 'lampFailure', %lld, %lld, 1), ('b', 'lampFailure', %lld, %lld, 3),"
		 " ('a', 'cabinetDoorOpen', %lld, %lld, 0), ('b', 'lampFailure', %lld, NULL, 2),"
		 " ('a', 'lampFailure', %lld, %lld, 1)",
		 (long long)h, (long long)(h + 7200000), (long long)h, (long long)(h + 4 * 3600000),
		 (long long)h, (long long)(h + 600000), (long long)h, (long long)(h - 86400000), (long long)(h - 3600000));
	assert_int_equal(sqlite3_exec(store_db(st), sql, NULL, NULL, NULL), SQLITE_OK);

	struct device_conf devs[2] = { { .name = "a" }, { .name = "b" } };
	struct gw_config cfg = { .devices = devs, .ndevices = 2 };
	struct kpi_def k = { .name = "m", .metric = "lampFailure", .agg = AGG_MTTR, .scale = 1.0 / 3600 };
	struct kpi_result res;
	assert_int_equal(kpi_compute(store_db(st), &cfg, &k, TIER_HOUR, h, h + 86400000, &res), 0);
	/* per lamp: (1 x 2 h + 3 x 4 h) / 4 lamps = 3.5 h */
	assert_true(fabs(res.value - 3.5) < 1e-9);
	assert_int_equal(res.n, 2);
	k.device = "a";
	assert_int_equal(kpi_compute(store_db(st), &cfg, &k, TIER_HOUR, h, h + 86400000, &res), 0);
	assert_true(fabs(res.value - 2.0) < 1e-9);
	k.device = NULL;
	k.metric = "cabinetDoorOpen";
	assert_int_equal(kpi_compute(store_db(st), &cfg, &k, TIER_HOUR, h, h + 86400000, &res), 0);
	assert_true(fabs(res.value - 600000.0 / 3600000.0) < 1e-9);
	/* nothing repaired: no value */
	assert_int_equal(kpi_compute(store_db(st), &cfg, &k, TIER_HOUR, h + 86400000, h + 2 * 86400000, &res), 0);
	assert_true(isnan(res.value));
	store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_savings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mttr, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
