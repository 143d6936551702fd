/* KPI building blocks: ward-day windows across midnight in UTC+7, counter
 * resets and wrap, target status (ok / behind / red flag on the path and
 * past the deadline), availability with gaps, and rollups on a real store. */
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
#include <cmocka.h>

#include "config.h"
#include "kpi.h"
#include "rollup.h"
#include "store.h"
#include "timeparse.h"

static int64_t T(const char *s)
{
	int64_t ms;

	assert_int_equal(time_parse(s, 0, &ms), 0);
	return ms;
}

static void test_windows_ward_midnight(void **state)
{
	/* 06:59 UTC on the 23rd is 13:59 ward time: the ward day began at 00:00+07 */
	assert_int_equal(ward_window_start(T("2026-11-23T06:59:00Z"), 86400000), T("2026-11-23T00:00:00+07:00"));
	/* 17:30 UTC is 00:30 on the 24th in the ward: a new day */
	assert_int_equal(ward_window_start(T("2026-11-23T17:30:00Z"), 86400000), T("2026-11-24T00:00:00+07:00"));
	/* the last minute before ward midnight still belongs to the old day */
	assert_int_equal(ward_window_start(T("2026-11-23T16:59:59Z"), 86400000), T("2026-11-23T00:00:00+07:00"));
	/* 15-minute windows across midnight */
	assert_int_equal(ward_window_start(T("2026-11-24T00:14:59+07:00"), 900000), T("2026-11-24T00:00:00+07:00"));
	assert_int_equal(ward_window_start(T("2026-11-23T23:59:59+07:00"), 900000), T("2026-11-23T23:45:00+07:00"));
	/* 2-hour windows start at even ward hours, not even UTC hours */
	assert_int_equal(ward_window_start(T("2026-11-23T01:30:00+07:00"), 7200000), T("2026-11-23T00:00:00+07:00"));
}

static void test_window_parse(void **state)
{
	int64_t ms;

	assert_int_equal(kpi_window_parse("15m", &ms), 0);
	assert_int_equal(ms, 900000);
	assert_int_equal(kpi_window_parse("1d", &ms), 0);
	assert_int_equal(ms, 86400000);
	assert_int_equal(kpi_window_parse("7m", &ms), -ERANGE);   /* does not divide a day */
	assert_int_equal(kpi_window_parse("2d", &ms), -ERANGE);
	assert_int_equal(kpi_window_parse("h", &ms), -EINVAL);
	assert_int_equal(kpi_window_parse("-1h", &ms), -EINVAL);
	assert_int_equal(kpi_window_parse("1x", &ms), -EINVAL);
}

static void test_counter_delta(void **state)
{
	assert_true(counter_delta(100.0, 100.5, 0) == 0.5);
	/* a u32 counter of 0.01 kWh wraps at 42949672.96 kWh */
	double wrap = 4294967296.0 * 0.01;
	assert_true(fabs(counter_delta(wrap - 1.0, 2.0, wrap) - 3.0) < 1e-6);
	/* a reset (meter replaced or cleared) counts from zero, never negative */
	assert_true(counter_delta(5000.0, 3.0, wrap) == 3.0);
	assert_true(counter_delta(5000.0, 3.0, 0) == 3.0);
	assert_true(counter_delta(5000.0, -1.0, 0) == 0.0);
	assert_true(counter_delta(NAN, 3.0, 0) == 0.0);
}

static void test_status(void **state)
{
	struct kpi_def k = { .op = OP_GE, .target = 0.6 };
	int64_t start = T("2026-01-01"), deadline = T("2026-12-31");

	assert_string_equal(kpi_status(&k, 0.7, start), "ok");
	assert_string_equal(kpi_status(&k, 0.5, start), "behind");
	assert_string_equal(kpi_status(&k, NAN, start), "no_data");
	k.deadline_ms = deadline;
	assert_string_equal(kpi_status(&k, 0.5, deadline + 1), "red_flag");   /* late */
	/* 5G coverage from 20 % to 60 % over the year: by mid-year 40 % is due */
	k.baseline = 0.2;
	k.has_baseline = 1;
	k.start_ms = start;
	int64_t mid = start + (deadline - start) / 2;
	assert_string_equal(kpi_status(&k, 0.35, mid), "behind");     /* 75 % of the way due */
	assert_string_equal(kpi_status(&k, 0.29, mid), "red_flag");   /* under half of it */
	assert_string_equal(kpi_status(&k, 0.61, mid), "ok");
	/* <= targets: energy down from 2400 to 1800 kWh a day */
	struct kpi_def e = { .op = OP_LE, .target = 1800, .baseline = 2400, .has_baseline = 1,
			     .start_ms = start, .deadline_ms = deadline };
	assert_string_equal(kpi_status(&e, 2200, mid), "behind");     /* 200 of the 300 due */
	assert_string_equal(kpi_status(&e, 2300, mid), "red_flag");   /* 100 of 300: under half */
	struct kpi_def none = { .op = OP_NONE };
	assert_string_equal(kpi_status(&none, 1, start), "none");
}

static char dir[64], path[128];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/wardgw-kpi.XXXXXX");
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

static void exec_sql(struct store *st, const char *sql)
{
	assert_int_equal(sqlite3_exec(store_db(st), sql, NULL, NULL, NULL), SQLITE_OK);
}

static void test_availability_with_gaps(void **state)
{
	struct store *st;
	struct device_conf devs[2] = { { .name = "a" }, { .name = "b" } };
	struct gw_config cfg = { .devices = devs, .ndevices = 2 };
	struct kpi_def k = { .name = "av", .agg = AGG_AVAILABILITY, .scale = 1 };
	struct kpi_result r;
	char sql[512];

	assert_int_equal(store_open(&st, path), 0);
	/* window [0, 1000): a online 0..500, offline 500..1000; b online from
	 * 200 (unknown before: the gateway was not running) to 700, then the
	 * gateway stopped (unknown) */
	snprintf(sql, sizeof(sql),
		 "INSERT INTO device_log VALUES ('a', -50, 'online', ''), ('a', 500, 'offline', 'timeout'),"
		 " ('b', 200, 'online', ''), ('b', 700, 'unknown', 'gateway stopped');");
	exec_sql(st, sql);
	assert_int_equal(kpi_compute(store_db(st), &cfg, &k, 0, 0, 1000, &r), 0);
	/* online 500 + 500 of known 1000 + 500 */
	assert_true(fabs(r.value - 1000.0 / 1500.0) < 1e-9);
	assert_int_equal(r.n, 2);
	/* a window where nothing was known has no value */
	assert_int_equal(kpi_compute(store_db(st), &cfg, &k, 0, -3000, -2000, &r), 0);
	assert_true(isnan(r.value));
	store_close(st);
}

/* Minutes from samples, hours from minutes, counter deltas through a reset,
 * and the KPI aggregates over them, on a real store. */
static void test_rollups_and_aggregates(void **state)
{
	struct store *st;
	struct rollup *r;
	int64_t e1, e2, p1;
	long ie1, ie2, ip1;
	int64_t h = T("2026-11-23T10:00:00+07:00");
	char sql[256];

	assert_int_equal(store_open(&st, path), 0);
	/* a database whose rollups are complete up to h */
	snprintf(sql, sizeof(sql), "INSERT INTO meta VALUES ('rollup_minute_done', %lld), ('rollup_hour_done', %lld),"
		 " ('rollup_day_done', %lld)", (long long)h, (long long)h, (long long)ward_window_start(h, 86400000));
	exec_sql(st, sql);
	assert_int_equal(rollup_new(&r, st, 1000), 0);
	assert_int_equal(store_begin(st), 0);
	assert_int_equal(store_series(st, "a", "activeEnergy", "kWh", &e1), 0);
	assert_int_equal(store_series(st, "b", "activeEnergy", "kWh", &e2), 0);
	assert_int_equal(store_series(st, "a", "activePower", "W", &p1), 0);
	assert_int_equal(store_commit(st), 0);
	ie1 = rollup_add_series(r, e1, 1, 100.0);
	ie2 = rollup_add_series(r, e2, 1, 0);
	ip1 = rollup_add_series(r, p1, 0, 0);
	/* a device restarted by a reload finds its slots again; other runs do not */
	int64_t run[3] = { e1, e2, p1 }, tail[2] = { e2, p1 }, swapped[2] = { p1, e2 }, unknown[1] = { p1 + 100 };
	assert_int_equal(rollup_find_run(r, run, 3), ie1);
	assert_int_equal(rollup_find_run(r, tail, 2), ie2);
	assert_int_equal(rollup_find_run(r, swapped, 2), -1);
	assert_int_equal(rollup_find_run(r, unknown, 1), -1);
	assert_int_equal(rollup_find_run(r, run, 0), -1);
	/* device a: 10, 11 (+1), 99.5 (+88.5), wrap to 0.5 (+1.0) ; b: 5, 6, reset to 1 (+1, +1) */
	double ea[] = { 10, 11, 99.5, 0.5 }, eb[] = { 5, 6, 1, 2 };
	for (int i = 0; i < 4; i++) {
		int64_t ts = h + i * 30000;     /* two minutes */
		rollup_sample(r, (size_t)ie1, ts, ea[i]);
		rollup_sample(r, (size_t)ie2, ts, eb[i]);
		rollup_sample(r, (size_t)ip1, ts, 100.0 * (i + 1));
	}
	rollup_tick(r, h + 3600000 + 2000);    /* closes both minutes, and the hour */
	assert_int_equal(store_flush(st), 0);
	assert_int_equal(rollup_done(r, TIER_MINUTE) >= h + 3600000, 1);

	struct device_conf devs[2] = { { .name = "a" }, { .name = "b" } };
	struct gw_config cfg = { .devices = devs, .ndevices = 2 };
	struct kpi_def k = { .name = "e", .metric = "activeEnergy", .agg = AGG_DELTA, .scale = 1 };
	struct kpi_result res;
	assert_int_equal(kpi_compute(store_db(st), &cfg, &k, TIER_MINUTE, h, h + 120000, &res), 0);
	assert_true(fabs(res.value - (1 + 88.5 + 1.0 + 1 + 1 + 1)) < 1e-9);
	/* the hour tier holds the same delta */
	assert_int_equal(kpi_compute(store_db(st), &cfg, &k, TIER_HOUR, h, h + 3600000, &res), 0);
	assert_true(fabs(res.value - 93.5) < 1e-9);
	/* power: mean 250 W for device a; sum over devices = 250; max 400 */
	struct kpi_def p = { .name = "p", .metric = "activePower", .agg = AGG_SUM, .scale = 0.001 };
	assert_int_equal(kpi_compute(store_db(st), &cfg, &p, TIER_HOUR, h, h + 3600000, &res), 0);
	assert_true(fabs(res.value - 0.25) < 1e-9);
	p.agg = AGG_MAX;
	p.scale = 1;
	assert_int_equal(kpi_compute(store_db(st), &cfg, &p, TIER_MINUTE, h, h + 120000, &res), 0);
	assert_true(res.value == 400);
	/* scope: only device b */
	k.device = "b";
	assert_int_equal(kpi_compute(store_db(st), &cfg, &k, TIER_MINUTE, h, h + 120000, &res), 0);
	assert_true(fabs(res.value - 3.0) < 1e-9);
	/* no data in a window: no value */
	assert_int_equal(kpi_compute(store_db(st), &cfg, &k, TIER_MINUTE, h - 600000, h, &res), 0);
	assert_true(isnan(res.value));
	store_clear_hooks(st);
	rollup_free(r);
	store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_windows_ward_midnight),
		cmocka_unit_test(test_window_parse),
		cmocka_unit_test(test_counter_delta),
		cmocka_unit_test(test_status),
		cmocka_unit_test_setup_teardown(test_availability_with_gaps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollups_and_aggregates, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
