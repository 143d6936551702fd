/* The SQLite store on a real file: schema, series ids, batched round trip,
 * retention, reopening, and refusing a newer schema. */
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

#include "store.h"

static char dir[64], path[128];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/wardgw-store.XXXXXX");
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

static int sql_int(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int v = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

struct rows {
	int n;
	int64_t ts[16];
	double v[16];
	int q[16];
};

static int collect(void *arg, int64_t ts, double v, int q)
{
	struct rows *r = arg;

	if (r->n < 16) {
		r->ts[r->n] = ts;
		r->v[r->n] = v;
		r->q[r->n] = q;
	}
	r->n++;
	return 0;
}

static void test_roundtrip(void **state)
{
	struct store *s;
	int64_t a, b, a2;
	struct rows r = { 0 };

	remove(path);
	assert_int_equal(store_open(&s, path), 0);
	assert_int_equal(sql_int("PRAGMA user_version"), STORE_SCHEMA_VERSION);
	assert_int_equal(store_series(s, "cab-001", "activePower", "W", &a), 0);
	assert_int_equal(store_series(s, "cab-001", "supplyVoltage", "V", &b), 0);
	assert_int_equal(store_series(s, "cab-001", "activePower", "W", &a2), 0);
	assert_true(a == a2 && a != b);
	assert_string_equal(store_series_unit(s, "cab-001", "supplyVoltage"), "V");

	assert_int_equal(store_append(s, a, 3000, 30.5, Q_GOOD), 0);
	assert_int_equal(store_append(s, a, 1000, 10.5, Q_GOOD), 0);
	assert_int_equal(store_append(s, b, 1000, 230, Q_GOOD), 0);
	assert_int_equal(store_append(s, a, 2000, NAN, Q_COMM_ERROR), 0);
	assert_int_equal(store_pending(s), 4);
	/* nothing is on disk before the flush */
	assert_int_equal(sql_int("SELECT count(*) FROM sample"), 0);
	assert_int_equal(store_flush(s), 0);
	assert_int_equal(store_pending(s), 0);
	assert_int_equal(sql_int("SELECT count(*) FROM sample"), 4);

	assert_int_equal(store_query(s, "cab-001", "activePower", 0, 5000, collect, &r), 0);
	assert_int_equal(r.n, 3);
	assert_true(r.ts[0] == 1000 && r.v[0] == 10.5 && r.q[0] == Q_GOOD);
	assert_true(r.ts[1] == 2000 && isnan(r.v[1]) && r.q[1] == Q_COMM_ERROR);
	assert_true(r.ts[2] == 3000 && r.v[2] == 30.5);
	/* bounds are inclusive */
	memset(&r, 0, sizeof(r));
	assert_int_equal(store_query(s, "cab-001", "activePower", 2000, 3000, collect, &r), 0);
	assert_int_equal(r.n, 2);
	/* a known series with nothing in range is not an error; an unknown one is */
	memset(&r, 0, sizeof(r));
	assert_int_equal(store_query(s, "cab-001", "activePower", 5000, 6000, collect, &r), 0);
	assert_int_equal(r.n, 0);
	assert_int_equal(store_query(s, "cab-009", "activePower", 0, 6000, collect, &r), -ENOENT);
	assert_int_equal(store_query(s, "cab-001", "nothing", 0, 6000, collect, &r), -ENOENT);
	store_close(s);

	/* reopening keeps the data and does not migrate again */
	assert_int_equal(store_open(&s, path), 0);
	memset(&r, 0, sizeof(r));
	assert_int_equal(store_query(s, "cab-001", "supplyVoltage", 0, 5000, collect, &r), 0);
	assert_true(r.n == 1 && r.v[0] == 230);
	assert_int_equal(store_series(s, "cab-001", "activePower", "W", &a2), 0);
	assert_int_equal(a2, a);
	store_close(s);
}

static void test_close_flushes(void **state)
{
	struct store *s;
	int64_t a;

	remove(path);
	assert_int_equal(store_open(&s, path), 0);
	assert_int_equal(store_series(s, "d", "m", NULL, &a), 0);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(store_append(s, a, i, i, Q_GOOD), 0);
	store_close(s);
	assert_int_equal(sql_int("SELECT count(*) FROM sample"), 10000);
	assert_int_equal(sql_int("SELECT sum(value = ts) FROM sample"), 10000);
}

static void test_prune(void **state)
{
	struct store *s;
	int64_t a, b;

	remove(path);
	assert_int_equal(store_open(&s, path), 0);
	assert_int_equal(store_prune(s, 1000, 100), 0);     /* empty table */
	assert_int_equal(store_series(s, "d", "a", NULL, &a), 0);
	assert_int_equal(store_series(s, "d", "b", NULL, &b), 0);
	for (int t = 0; t < 100; t++) {
		store_append(s, a, t * 10, t, Q_GOOD);
		store_append(s, b, t * 10, t, Q_GOOD);
	}
	assert_int_equal(store_flush(s), 0);
	/* older than 300: t = 0..29, two series -> 60 rows, 25 at a time */
	assert_int_equal(store_prune(s, 300, 25), 25);
	assert_int_equal(store_prune(s, 300, 25), 25);
	assert_int_equal(store_prune(s, 300, 25), 10);
	assert_int_equal(store_prune(s, 300, 25), 0);
	assert_int_equal(sql_int("SELECT count(*) FROM sample"), 140);
	assert_int_equal(sql_int("SELECT min(ts) FROM sample"), 300);
	assert_int_equal(store_prune(s, 0, 25), 0);
	assert_int_equal(store_prune(s, 100000, 1000), 140);
	store_close(s);
}

/* A store capped by store.max_db_mb never fails a flush while there are old
 * raw samples to give up: the oldest go (counted), the newest all stay,
 * nothing newer than the rollup watermark goes, and the file is sound. */
static void test_full_prunes_early(void **state)
{
	struct store *s;
	int64_t id[10];
	const int64_t ticks = 8000, mark = 6000 * 1000;   /* rolled up below t = 6000 s */

	remove(path);
	assert_int_equal(store_open(&s, path), 0);
	assert_int_equal(store_set_limit(s, 1 << 20), 0);
	for (int k = 0; k < 10; k++) {
		char m[16];
		snprintf(m, sizeof(m), "m%d", k % 10);
		assert_int_equal(store_series(s, "d", m, NULL, &id[k]), 0);
	}
	assert_int_equal(store_meta_put(s, "rollup_minute_done", mark), 0);
	for (int64_t t = 0; t < ticks; t++) {
		for (int k = 0; k < 10; k++)
			store_append(s, id[k], t * 1000, (double)t, Q_GOOD);
		if (t % 10 == 9)
			assert_int_equal(store_flush(s), 0);
	}
	assert_int_equal(store_failing(s, NULL), 0);
	assert_true(store_pruned_early(s) > 0);
	assert_int_equal(store_dropped(s), 0);
	uint64_t pruned = store_pruned_early(s);
	store_close(s);
	/* everything not pruned is there: pruned + kept = written */
	assert_int_equal(sql_int("SELECT count(*) FROM sample") + (int)pruned, (int)ticks * 10);
	/* nothing at or past the watermark went */
	assert_true(sql_int("SELECT min(ts) FROM sample") < mark);
	assert_int_equal(sql_int("SELECT max(ts) FROM sample"), (int)(ticks - 1) * 1000);
	assert_true(sql_int("PRAGMA page_count") * 4096 <= (1 << 20));
	assert_int_equal(sql_int("SELECT value FROM meta WHERE key = 'store_pruned_early'"), (int)pruned);
	/* the count survives a restart */
	assert_int_equal(store_open(&s, path), 0);
	assert_int_equal(store_pruned_early(s), pruned);
	store_close(s);
	char ok[16] = "";
	sqlite3 *db;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	snprintf(ok, sizeof(ok), "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_string_equal(ok, "ok");
}

/* Nothing rolled up yet: the store refuses to prune what no rollup holds,
 * the flush fails with -ENOSPC and the samples wait in memory. */
static void test_full_keeps_unrolled(void **state)
{
	struct store *s;
	int64_t a;
	int ret = 0;

	remove(path);
	assert_int_equal(store_open(&s, path), 0);
	assert_int_equal(store_set_limit(s, 1 << 20), 0);
	assert_int_equal(store_series(s, "d", "a", NULL, &a), 0);
	assert_int_equal(store_meta_put(s, "rollup_minute_done", 0), 0);
	for (int64_t t = 0; t < 200000 && ret == 0; t++) {
		store_append(s, a, t, (double)t, Q_GOOD);
		if (t % 100 == 99)
			ret = store_flush(s);
	}
	assert_int_equal(ret, -ENOSPC);
	const char *why = NULL;
	assert_int_equal(store_failing(s, &why), 1);
	assert_non_null(strstr(why, "full"));
	assert_non_null(strstr(why, "store.max_db_mb = 1"));
	assert_int_equal(store_pending(s), 100);
	assert_int_equal(store_pruned_early(s), 0);
	/* room again (a larger cap): the waiting samples go in */
	assert_int_equal(store_set_limit(s, 4 << 20), 0);
	assert_int_equal(store_flush(s), 0);
	assert_int_equal(store_failing(s, NULL), 0);
	assert_int_equal(store_pending(s), 0);
	store_close(s);
	assert_int_equal(sql_int("SELECT count(*) = max(value) + 1 FROM sample"), 1);
}

static void test_newer_schema_refused(void **state)
{
	struct store *s;
	sqlite3 *db;

	remove(path);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_true(store_open(&s, path) < 0);
	assert_int_equal(sql_int("PRAGMA user_version"), 99);   /* left alone */
}

static void test_quality_names(void **state)
{
	assert_string_equal(quality_name(Q_GOOD), "good");
	assert_string_equal(quality_name(Q_COMM_ERROR), "comm_error");
	assert_string_equal(quality_name(42), "unknown");
}

/* A reader (wardgw query) never creates the file, reads what the writer
 * committed while the writer keeps it open, and writes nothing. */
static void test_read_only(void **state)
{
	struct store *w, *r;
	struct rows got = { 0 };
	int64_t id;

	remove(path);
	assert_int_equal(store_open_ro(&r, path), -ENOENT);
	assert_null(r);
	assert_int_equal(access(path, F_OK), -1);

	assert_int_equal(store_open(&w, path), 0);
	assert_int_equal(store_series(w, "cab-001", "lampsOn", "count", &id), 0);
	assert_int_equal(store_append(w, id, 1000, 7, 0), 0);
	assert_int_equal(store_flush(w), 0);
	assert_int_equal(store_open_ro(&r, path), 0);
	assert_int_equal(store_query(r, "cab-001", "lampsOn", 0, 2000, collect, &got), 0);
	assert_int_equal(got.n, 1);
	assert_true(got.v[0] == 7);
	store_close(r);
	store_close(w);
	assert_int_equal(sql_int("SELECT count(*) FROM sample"), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_close_flushes),
		cmocka_unit_test(test_prune),
		cmocka_unit_test(test_full_prunes_early),
		cmocka_unit_test(test_full_keeps_unrolled),
		cmocka_unit_test(test_newer_schema_refused),
		cmocka_unit_test(test_read_only),
		cmocka_unit_test(test_quality_names),
	};
	return cmocka_run_group_tests_name("store", tests, setup, teardown);
}
