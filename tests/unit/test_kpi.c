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
#include <time.h>
#include <cmocka.h>

#include "clock.h"
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


static int64_t meta_of(struct store *st, const char *key)
{
	return store_meta_get(st, key, INT64_MIN);
}

static void query_row(struct store *st, const char *sql, int64_t *a, int64_t *b)
{
	sqlite3_stmt *q;

	assert_int_equal(sqlite3_prepare_v2(store_db(st), sql, -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	*a = sqlite3_column_int64(q, 0);
	if (b)
		*b = sqlite3_column_int64(q, 1);
	sqlite3_finalize(q);
}

/* Issue 15 item 1: a gateway started a few seconds after a window boundary
 * and killed a few seconds before the next one computes that window when it
 * comes back, with the next sequence number, its samples (n) and the seconds
 * it ran (covered). Before, neither the KPI's nor the rollups' progress was
 * stored until a window closed, and the window was skipped. */
static void test_window_open_at_stop(void **state)
{
	struct store *st;
	struct rollup *r;
	struct kpi_engine *e;
	struct device_conf devs[1] = { { .name = "a" } };
	struct kpi_def kd = { .name = "p", .domain = "lighting", .metric = "activePower", .agg = AGG_SUM,
			      .window_ms = 60000, .scale = 1 };
	struct gw_config cfg = { .devices = devs, .ndevices = 1, .kpis = &kd, .nkpis = 1,
				 .topic_prefix = "ward", .gateway_id = "gw" };
	int64_t w, id, seq, n, v;
	long slot;
	char sql[256];

	assert_int_equal(store_open(&st, path), 0);
	w = wall_ms() / 60000 * 60000;      /* the window open now */
	/* an older window of this KPI, published with seq 7 */
	snprintf(sql, sizeof(sql), "INSERT INTO kpi_value VALUES ('p', %lld, %lld, 7, 1.0, 1, NULL, NULL, 'none')",
		 (long long)(w - 120000), (long long)(w - 60000));
	exec_sql(st, sql);

	/* run 1: from w + 2 s to w + 50 s, one sample a second */
	assert_int_equal(rollup_new(&r, st, 1000), 0);
	assert_int_equal(kpi_new(&e, &cfg, st, r), 0);
	assert_int_equal(store_begin(st), 0);
	assert_int_equal(store_series(st, "a", "activePower", "W", &id), 0);
	assert_int_equal(store_commit(st), 0);
	slot = rollup_add_series(r, id, 0, 0);
	kpi_gateway_start(e, w + 2000);
	for (int i = 2; i <= 50; i++) {
		assert_int_equal(store_append(st, id, w + i * 1000, 100.0, 0), 0);
		rollup_sample(r, (size_t)slot, w + i * 1000, 100.0);
	}
	assert_int_equal(store_flush(st), 0);
	assert_int_equal(meta_of(st, "kpi.p.done"), w);
	assert_int_equal(meta_of(st, "rollup_minute_done"), w);
	/* SIGKILL: nothing more is written; its last commit was at w + 50 s */
	store_clear_hooks(st);
	kpi_free(e);
	rollup_free(r);
	snprintf(sql, sizeof(sql), "UPDATE meta SET value = %lld WHERE key = 'gateway_alive'", (long long)(w + 50000));
	exec_sql(st, sql);
	store_close(st);

	/* run 2, after the boundary: the minute is rebuilt from the samples */
	assert_int_equal(store_open(&st, path), 0);
	assert_int_equal(rollup_new(&r, st, 1000), 0);
	assert_int_equal(store_series(st, "a", "activePower", "W", &id), 0);
	slot = rollup_add_series(r, id, 0, 0);
	assert_int_equal(rollup_catch_up(r, w + 70000), 0);
	assert_int_equal(kpi_new(&e, &cfg, st, r), 0);
	kpi_gateway_start(e, w + 70000);
	rollup_tick(r, w + 62000);
	assert_int_equal(store_flush(st), 0);
	snprintf(sql, sizeof(sql), "SELECT seq, n FROM kpi_value WHERE kpi = 'p' AND start = %lld AND end = %lld",
		 (long long)w, (long long)(w + 60000));
	query_row(st, sql, &seq, &n);
	assert_int_equal(seq, 8);
	assert_int_equal(n, 49);
	snprintf(sql, sizeof(sql), "SELECT value FROM kpi_value WHERE kpi = 'p' AND start = %lld", (long long)w);
	query_row(st, sql, &v, NULL);
	assert_int_equal(v, 100);
	/* the gateway ran from w + 2 s to its last sign of life at w + 50 s */
	assert_int_equal(kpi_covered_ms(store_db(st), w, w + 60000), 48000);
	store_clear_hooks(st);
	kpi_free(e);
	rollup_free(r);
	store_close(st);
}

/* Issue 15 item 2: after a SIGKILL late in a minute, the restart ends every
 * device's state at the dead run's last sign of life, after the rows it
 * wrote later that minute, not at the minute's start: the time the gateway
 * was not there is neither online nor offline. A clean stop adds nothing. */
static void test_availability_after_crash(void **state)
{
	struct store *st;
	struct rollup *r;
	struct kpi_engine *e;
	struct device_conf devs[2] = { { .name = "a" }, { .name = "b" } };
	struct kpi_def av = { .name = "av", .agg = AGG_AVAILABILITY, .scale = 1, .window_ms = 60000,
			      .domain = "lighting" };
	struct gw_config cfg = { .devices = devs, .ndevices = 2, .kpis = &av, .nkpis = 1,
				 .topic_prefix = "ward", .gateway_id = "gw" };
	struct kpi_result res;
	int64_t t0 = T("2026-11-23T10:00:00+07:00"), cnt;
	char sql[768];

	assert_int_equal(store_open(&st, path), 0);
	/* the dead run: started at t0, a online all along, b offline 20..40 s,
	 * its last commit at t0 + 57 s */
	snprintf(sql, sizeof(sql),
		 "INSERT INTO device_log VALUES ('@gateway', %lld, 'online', 'gateway started'),"
		 " ('a', %lld, 'online', ''), ('b', %lld, 'online', ''), ('b', %lld, 'offline', 'timeout'),"
		 " ('b', %lld, 'online', '');"
		 "INSERT INTO meta VALUES ('gateway_alive', %lld);",
		 (long long)t0, (long long)(t0 + 1000), (long long)(t0 + 1000), (long long)(t0 + 20000),
		 (long long)(t0 + 40000), (long long)(t0 + 57000));
	exec_sql(st, sql);
	assert_int_equal(rollup_new(&r, st, 1000), 0);
	assert_int_equal(kpi_new(&e, &cfg, st, r), 0);
	kpi_gateway_start(e, t0 + 70000);
	assert_int_equal(store_flush(st), 0);
	assert_int_equal(kpi_compute(store_db(st), &cfg, &av, TIER_MINUTE, t0, t0 + 60000, &res), 0);
	/* a: 56 of 56 s, b: 36 of 56 s */
	assert_true(fabs(res.value - 92.0 / 112.0) < 1e-9);
	assert_int_equal(res.n, 2);
	assert_int_equal(res.covered_ms, 57000);
	/* the next minute: the gateway ran its last 50 s, no device was known */
	assert_int_equal(kpi_compute(store_db(st), &cfg, &av, TIER_MINUTE, t0 + 60000, t0 + 120000, &res), 0);
	assert_true(isnan(res.value));
	assert_int_equal(res.n, 0);
	assert_int_equal(res.covered_ms, 50000);

	/* a clean stop, then a start: no marker for the devices */
	kpi_gateway_stop(e, t0 + 200000);
	assert_int_equal(store_flush(st), 0);
	store_clear_hooks(st);
	kpi_free(e);
	assert_int_equal(kpi_new(&e, &cfg, st, r), 0);
	kpi_gateway_start(e, t0 + 260000);
	assert_int_equal(store_flush(st), 0);
	query_row(st, "SELECT count(*) FROM device_log WHERE reason = 'gateway restarted'", &cnt, NULL);
	assert_int_equal(cnt, 2);       /* the crash's two, no more */
	assert_int_equal(kpi_covered_ms(store_db(st), t0 + 180000, t0 + 240000), 20000);
	store_clear_hooks(st);
	kpi_free(e);
	rollup_free(r);
	store_close(st);
}

/* One sample a second of an energy counter (+1 each) and a power gauge,
 * stamped by the faked wall clock; the loop's tick and a flush every 5 s,
 * as the gateway does. */
struct stepper {
	struct store *st;
	struct rollup *r;
	int64_t ide, idp;
	long se, sp;
	double energy;
};

static void run_for(struct stepper *s, int seconds)
{
	for (int i = 0; i < seconds; i++) {
		clock_fake_advance(1000000);
		int64_t ts = wall_ms();
		s->energy += 1;
		assert_int_equal(store_append(s->st, s->ide, ts, s->energy, 0), 0);
		assert_int_equal(store_append(s->st, s->idp, ts, 100.0, 0), 0);
		rollup_sample(s->r, (size_t)s->se, ts, s->energy);
		rollup_sample(s->r, (size_t)s->sp, ts, 100.0);
		rollup_tick(s->r, wall_ms());
		if (i % 5 == 4)
			assert_int_equal(store_flush(s->st), 0);
	}
	assert_int_equal(store_flush(s->st), 0);
}

static int64_t count_of(struct store *st, const char *sql)
{
	int64_t n;

	query_row(st, sql, &n, NULL);
	return n;
}

/* Issue 14 item 3: rollups and KPI windows across a wall clock step back of
 * one hour and forward of one day (docs/architecture.md, "Time"). Back: no
 * closed minute is written again and no KPI window closes until the wall
 * clock is where it was; the samples stamped in the repeated hour are raw
 * only (counted late); the counter's increase meanwhile lands in the first
 * minute after. Forward: every skipped window is closed once, with no data,
 * and the sequence goes on without a gap. Throughout, the energy counter's
 * whole increase is in the minute rollups: nothing is lost, nothing twice. */
static void test_windows_across_clock_steps(void **state)
{
	struct stepper s = { 0 };
	struct kpi_engine *e;
	struct device_conf devs[1] = { { .name = "a" } };
	struct kpi_def kd[2] = {
		{ .name = "e", .domain = "lighting", .metric = "activeEnergy", .agg = AGG_DELTA, .window_ms = 60000, .scale = 1 },
		{ .name = "p", .domain = "lighting", .metric = "activePower", .agg = AGG_SUM, .window_ms = 60000, .scale = 1 },
	};
	struct gw_config cfg = { .devices = devs, .ndevices = 1, .kpis = kd, .nkpis = 2,
				 .topic_prefix = "ward", .gateway_id = "gw" };
	int64_t w0 = T("2026-11-23T10:00:00+07:00"), done, n1, late, e_sum;

	clock_fake(w0, 5000000000LL);
	assert_int_equal(store_open(&s.st, path), 0);
	assert_int_equal(rollup_new(&s.r, s.st, 1000), 0);
	assert_int_equal(kpi_new(&e, &cfg, s.st, s.r), 0);
	assert_int_equal(store_begin(s.st), 0);
	assert_int_equal(store_series(s.st, "a", "activeEnergy", "kWh", &s.ide), 0);
	assert_int_equal(store_series(s.st, "a", "activePower", "W", &s.idp), 0);
	assert_int_equal(store_commit(s.st), 0);
	s.se = rollup_add_series(s.r, s.ide, 1, 0);
	s.sp = rollup_add_series(s.r, s.idp, 0, 0);
	kpi_gateway_start(e, wall_ms());

	/* three minutes and a bit: minutes 0..2 closed, KPI windows 1..3 */
	run_for(&s, 185);
	done = rollup_done(s.r, TIER_MINUTE);
	assert_int_equal(done, w0 + 180000);
	n1 = count_of(s.st, "SELECT count(*) FROM kpi_value WHERE kpi = 'e'");
	assert_int_equal(n1, 3);
	exec_sql(s.st, "CREATE TEMP TABLE before_step AS SELECT * FROM rollup WHERE tier = 0");
	exec_sql(s.st, "CREATE TEMP TABLE kpi_before AS SELECT * FROM kpi_value");

	/* one hour back: for the hour that repeats nothing closes */
	late = (int64_t)rollup_late(s.r);
	clock_fake_step_wall(-3600000);
	run_for(&s, 600);
	assert_int_equal(rollup_done(s.r, TIER_MINUTE), done);
	assert_int_equal(count_of(s.st, "SELECT count(*) FROM kpi_value WHERE kpi = 'e'"), n1);
	assert_true((int64_t)rollup_late(s.r) - late >= 2 * 590);
	/* until the wall clock is where it was: then minutes close again */
	run_for(&s, 3000 + 120);
	assert_true(rollup_done(s.r, TIER_MINUTE) > done);
	/* the closed minutes and KPI windows from before the step are as they were */
	assert_int_equal(count_of(s.st, "SELECT count(*) FROM (SELECT * FROM before_step EXCEPT"
				  " SELECT * FROM rollup WHERE tier = 0)"), 0);
	assert_int_equal(count_of(s.st, "SELECT count(*) FROM (SELECT * FROM kpi_before EXCEPT"
				  " SELECT * FROM kpi_value)"), 0);
	/* no window between: the first one after starts where the last one before ended */
	assert_int_equal(count_of(s.st, "SELECT min(start) FROM kpi_value WHERE kpi = 'e' AND seq = 4"), w0 + 180000);

	/* one day forward: the day's windows are closed once each, without data */
	done = rollup_done(s.r, TIER_MINUTE);
	clock_fake_step_wall(86400000);
	for (int i = 0; i < 6; i++)
		run_for(&s, 10);
	assert_true(rollup_done(s.r, TIER_MINUTE) >= done + 86400000);
	int64_t last = count_of(s.st, "SELECT max(end) FROM kpi_value WHERE kpi = 'e'");
	assert_true(last >= done + 86400000);
	/* every window from the start to the last, once, in sequence */
	assert_int_equal(count_of(s.st, "SELECT count(*) FROM kpi_value WHERE kpi = 'e'"), (last - w0) / 60000);
	assert_int_equal(count_of(s.st, "SELECT max(seq) FROM kpi_value WHERE kpi = 'e'"), (last - w0) / 60000);
	assert_int_equal(count_of(s.st, "SELECT count(*) FROM kpi_value a JOIN kpi_value b ON a.kpi = b.kpi"
				  " AND b.seq = a.seq + 1 AND b.start != a.end"), 0);
	assert_true(count_of(s.st, "SELECT count(*) FROM kpi_value WHERE kpi = 'p' AND value IS NULL")
		    >= 1440 - 2);

	/* nothing lost: the counter rose by one a sample; every increase but
	 * the first sample's is in the minutes closed so far or the open one */
	rollup_tick(s.r, wall_ms() + 120000);
	assert_int_equal(store_flush(s.st), 0);
	query_row(s.st, "SELECT CAST(sum(delta) AS INTEGER) FROM rollup WHERE tier = 0", &e_sum, NULL);
	assert_int_equal(e_sum, (int64_t)s.energy - 1);
	store_clear_hooks(s.st);
	kpi_free(e);
	rollup_free(s.r);
	store_close(s.st);
	clock_real();
}

/* What the integration tests' driven clock (lib.sh clock_next_minute)
 * relies on: the wall clock moved to half a second after the next minute
 * boundary does not close the minute at once, so a sample taken just
 * before the move and handed over just after still counts in it; the
 * minute closes once the grace has passed, with both samples. */
static void test_driven_clock_closes_a_minute(void **state)
{
	struct store *st;
	struct rollup *r;
	int64_t w0 = T("2026-11-23T10:00:00+07:00"), id, count, late;
	long slot;

	clock_fake(w0 + 20000, 7000000000LL);
	assert_int_equal(store_open(&st, path), 0);
	assert_int_equal(rollup_new(&r, st, 2500), 0);
	assert_int_equal(store_series(st, "a", "activePower", "W", &id), 0);
	slot = rollup_add_series(r, id, 0, 0);
	rollup_sample(r, (size_t)slot, wall_ms(), 100.0);
	clock_fake_advance(1000000);
	int64_t before = wall_ms();             /* a poll started before the move */
	clock_fake_step_wall(w0 + 60500 - wall_ms());
	rollup_tick(r, wall_ms());
	rollup_sample(r, (size_t)slot, before, 300.0);
	assert_int_equal(store_flush(st), 0);
	assert_int_equal(rollup_done(r, TIER_MINUTE), w0);
	clock_fake_advance(2100000);            /* past the grace */
	rollup_tick(r, wall_ms());
	assert_int_equal(store_flush(st), 0);
	assert_int_equal(rollup_done(r, TIER_MINUTE), w0 + 60000);
	query_row(st, "SELECT count FROM rollup WHERE tier = 0", &count, NULL);
	assert_int_equal(count, 2);
	late = (int64_t)rollup_late(r);
	assert_int_equal(late, 0);
	store_clear_hooks(st);
	rollup_free(r);
	store_close(st);
	clock_real();
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
		cmocka_unit_test_setup_teardown(test_window_open_at_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_availability_after_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_windows_across_clock_steps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_driven_clock_closes_a_minute, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
