/* Issue 15 item 3: junk on the command topic cannot fill the disk. Per
 * source and minute the first few unauthenticated messages are audit rows,
 * the rest one counting row; the rows are kept a week and capped in number;
 * the audit grows by a few KB per 1,000 junk messages, not by 350 KB. */
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "unit_files.h"

#include "rejects.h"
#include "store.h"

static char dir[64], path[128];

static int setup(void **state)
{
	if (ut_mkdir(dir, sizeof(dir), "wardgw-rejects") < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/t.db", dir);
	return 0;
}

static int teardown(void **state)
{
	return ut_rmdir(dir);
}

static int64_t one(struct store *st, const char *sql)
{
	sqlite3_stmt *q;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(store_db(st), sql, -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return v;
}

static void test_flood_is_bounded(void **state)
{
	struct store *st;
	struct rejects *r;
	const int64_t t0 = 1796000000000LL / 60000 * 60000;      /* a minute's start */
	char junk[400];
	int own = 0;

	assert_int_equal(store_open(&st, path), 0);
	assert_int_equal(rejects_new(&r, store_db(st)), 0);
	memset(junk, 'x', sizeof(junk) - 1);
	junk[sizeof(junk) - 1] = 0;
	/* 1,000 junk messages within one minute */
	for (int i = 0; i < 1000; i++)
		own += rejects_add(r, t0 + i * 50, REJECTS_SOURCE_MQTT, NULL, "malformed: not JSON", junk, strlen(junk));
	assert_int_equal(own, REJECTS_ROWS_PER_MIN);
	rejects_tick(r, t0 + 50000);
	assert_int_equal(one(st, "SELECT count(*) FROM audit"), REJECTS_ROWS_PER_MIN + 1);
	/* the counting row says how many more */
	assert_int_equal(one(st, "SELECT count(*) FROM audit WHERE reason LIKE '+990 more unauthenticated messages%'"), 1);
	/* a row keeps at most the start of the message */
	assert_int_equal(one(st, "SELECT max(length(body)) FROM audit"), REJECTS_BODY_BYTES);
	int64_t bytes = one(st, "SELECT sum(length(ts) + length(source) + ifnull(length(cmd_id), 0) +"
			    " ifnull(length(reason), 0) + ifnull(length(body), 0) + length(verdict)) FROM audit");
	print_message("audit: %lld bytes of rows for 1,000 junk messages in one minute\n", (long long)bytes);
	assert_true(bytes < 5000);
	/* the next minute starts again; the first minute's count was written */
	for (int i = 0; i < 15; i++)
		rejects_add(r, t0 + 60000 + i, REJECTS_SOURCE_MQTT, "x-1", "unauthenticated: no hmac", "{}", 2);
	rejects_free(r);
	assert_int_equal(one(st, "SELECT count(*) FROM audit"), 2 * (REJECTS_ROWS_PER_MIN + 1));
	assert_int_equal(one(st, "SELECT count(*) FROM audit WHERE reason LIKE '+5 more%'"), 1);
	assert_int_equal(one(st, "SELECT count(*) FROM audit WHERE cmd_id = 'x-1'"), REJECTS_ROWS_PER_MIN);
	store_close(st);
}

static void test_retention_and_cap(void **state)
{
	struct store *st;
	struct rejects *r;
	const int64_t now = 1796000000000LL;
	char sql[512];

	assert_int_equal(store_open(&st, path), 0);
	/* a week and a day of old rows, the cap plus 500 recent ones, and a
	 * signed command's row that is none of this module's business */
	snprintf(sql, sizeof(sql),
		 "INSERT INTO audit (ts, source, verdict, reason) VALUES (%lld, 'mqtt', 'rejected', 'old');"
		 "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
		 " INSERT INTO audit (ts, source, verdict, reason) SELECT %lld + i, 'mqtt', 'rejected', 'recent' FROM n;"
		 "INSERT INTO audit (ts, source, cmd_id, verdict, reason) VALUES (%lld, 'ioc', 'c-1', 'rejected', 'replayed');",
		 (long long)(now - (REJECTS_KEEP_DAYS + 1) * 86400000LL), REJECTS_MAX_ROWS + 500,
		 (long long)(now - 3600000), (long long)(now - (REJECTS_KEEP_DAYS + 1) * 86400000LL));
	assert_int_equal(sqlite3_exec(store_db(st), sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(rejects_new(&r, store_db(st)), 0);
	rejects_tick(r, now);
	assert_int_equal(one(st, "SELECT count(*) FROM audit WHERE source = 'mqtt'"), REJECTS_MAX_ROWS);
	assert_int_equal(one(st, "SELECT count(*) FROM audit WHERE reason = 'old'"), 0);
	/* the newest are kept */
	snprintf(sql, sizeof(sql), "SELECT max(ts) FROM audit WHERE source = 'mqtt'");
	assert_int_equal(one(st, sql), now - 3600000 + REJECTS_MAX_ROWS + 500);
	assert_int_equal(one(st, "SELECT count(*) FROM audit WHERE source = 'ioc'"), 1);
	rejects_free(r);
	store_close(st);
}

/* The wall clock steps back an hour after a prune: the next tick prunes
 * again rather than waiting an hour for the minute to pass. */
static void test_prune_after_step_back(void **state)
{
	struct store *st;
	struct rejects *r;
	const int64_t now = 1796000000000LL;
	char sql[400];

	assert_int_equal(store_open(&st, path), 0);
	assert_int_equal(rejects_new(&r, store_db(st)), 0);
	rejects_tick(r, now);                   /* the minute's prune: nothing yet */
	snprintf(sql, sizeof(sql),
		 "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
		 " INSERT INTO audit (ts, source, verdict, reason) SELECT %lld + i, 'mqtt', 'rejected', 'r' FROM n;",
		 REJECTS_MAX_ROWS + 100, (long long)(now - 7200000));
	assert_int_equal(sqlite3_exec(store_db(st), sql, NULL, NULL, NULL), SQLITE_OK);
	rejects_tick(r, now + 1000);            /* within the minute: not yet */
	assert_int_equal(one(st, "SELECT count(*) FROM audit WHERE source = 'mqtt'"), REJECTS_MAX_ROWS + 100);
	rejects_tick(r, now - 3600000);         /* NTP steps back an hour */
	assert_int_equal(one(st, "SELECT count(*) FROM audit WHERE source = 'mqtt'"), REJECTS_MAX_ROWS);
	rejects_free(r);
	store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_flood_is_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retention_and_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune_after_step_back, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
