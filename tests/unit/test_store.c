/* The SQLite store on a real file: schema, series ids, batched round trip,
 * chunks and the commit log replayed after a crash, retention by whole
 * chunks with late batches and clock steps, early retention in proportion
 * to the deficit, reopening, and refusing a newer schema. */
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "rollup.h"
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

/* Every stored sample of series "d"/@m, read by a separate reader. */
struct all {
	int64_t n, min_ts, max_ts, bad;
	double sum;
};

static int count_row(void *arg, int64_t ts, double v, int q)
{
	struct all *a = arg;

	if (!a->n || ts < a->min_ts)
		a->min_ts = ts;
	if (!a->n || ts > a->max_ts)
		a->max_ts = ts;
	a->n++;
	a->sum += v;
	return 0;
}

static struct all stored(const char *dev, const char *m)
{
	struct store *r;
	struct all a = { 0 };

	assert_int_equal(store_open_ro(&r, path), 0);
	int rc = store_query(r, dev, m, INT64_MIN, INT64_MAX, count_row, &a);
	assert_true(rc == 0 || rc == -ENOENT);
	store_close(r);
	return a;
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
	/* nothing is on disk before the flush, then one log record */
	assert_int_equal(sql_int("SELECT count(*) FROM headlog"), 0);
	assert_int_equal(stored("cab-001", "activePower").n, 0);
	assert_int_equal(store_flush(s), 0);
	assert_int_equal(store_pending(s), 0);
	assert_int_equal(sql_int("SELECT count(*) FROM headlog"), 1);
	assert_int_equal(stored("cab-001", "activePower").n, 3);

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
	struct all got = stored("d", "m");
	assert_int_equal(got.n, 10000);
	assert_true(got.sum == 9999.0 * 10000 / 2);
	/* a clean stop leaves nothing to replay: the newest record stays (ids
	 * never come back: the outbox's cursors count on it), behind the mark */
	assert_int_equal(sql_int("SELECT count(*) FROM headlog WHERE id > (SELECT value FROM meta"
				 " WHERE key = 'store_ckpt_log')"), 0);
	assert_int_equal(sql_int("SELECT count(*) FROM headlog"), 1);
	int64_t newest = sql_int("SELECT max(id) FROM headlog");

	/* records after the hold survive checkpoints; the next id follows the newest */
	assert_int_equal(store_open(&s, path), 0);
	store_log_hold(s, newest);
	for (int k = 0; k < 3; k++) {
		assert_int_equal(store_append(s, a, 20000 + k, k, Q_GOOD), 0);
		assert_int_equal(store_flush(s), 0);
	}
	const uint8_t *rec;
	size_t rlen;
	assert_int_equal(store_log_last(s, &rec, &rlen), newest + 3);
	/* a link's cursor in meta (outbox.c) holds them at the next open too */
	assert_int_equal(store_meta_put(s, "outbox_tcur:x", newest + 1), 0);
	store_close(s);
	assert_int_equal(sql_int("SELECT count(*) FROM headlog"), 3);
	assert_int_equal(sql_int("SELECT min(id) FROM headlog"), newest + 1);
	assert_int_equal(store_open(&s, path), 0);
	int64_t id, nrec, bytes, last;
	uint8_t *data;
	size_t len;
	assert_int_equal(store_log_held(s, newest + 1, &nrec, &bytes, &last), 0);
	assert_int_equal(nrec, 2);
	assert_int_equal(last, newest + 3);
	assert_int_equal(store_log_next(s, newest + 1, &id, &data, &len), 1);
	assert_int_equal(id, newest + 2);
	free(data);
	assert_int_equal(store_log_next(s, newest + 3, &id, &data, &len), 0);
	store_close(s);
	got = stored("d", "m");
	assert_int_equal(got.n, 10003);         /* kept records are not replayed twice */
}

/* SIGKILL: a child writes and flushes, closing many chunks on the way
 * (and checkpointing), then dies without closing. Every flushed sample is
 * there once, in order, after the replay, and after a second restart. */
static void test_crash_replay(void **state)
{
	enum { NS = 20, PER = 30000 };
	struct store *s;
	int64_t id[NS];
	int status;

	remove(path);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (store_open(&s, path) < 0)
			_exit(2);
		for (int k = 0; k < NS; k++) {
			char m[16];
			snprintf(m, sizeof(m), "m%d", k);
			if (store_series(s, "d", m, NULL, &id[k]) < 0)
				_exit(3);
		}
		for (int t = 0; t < PER; t++) {
			for (int k = 0; k < NS; k++)
				store_append(s, id[k], 1700000000000LL + t * 1000LL, k == 0 ? t * 0.1 : (double)(t % 97) + k * 1e-3, 0);
			if (t % 50 == 49 && store_flush(s) < 0)
				_exit(4);
		}
		/* two small commits after the last one that may have
		 * checkpointed: the log holds something to replay */
		for (int k = 0; k < 2; k++) {
			store_append(s, id[1 + k], 1700000000000LL + PER * 1000LL, 1, 0);
			if (store_flush(s) < 0)
				_exit(5);
		}
		/* these are never flushed: lost, as the contract allows */
		store_append(s, id[0], 1, 1, 0);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(sql_int("SELECT count(*) FROM headlog") > 0);
	for (int round = 0; round < 2; round++) {
		assert_int_equal(store_open(&s, path), 0);
		store_close(s);
		for (int k = 0; k < NS; k++) {
			char m[16];
			snprintf(m, sizeof(m), "m%d", k);
			struct all a = stored("d", m);
			int extra = k == 1 || k == 2;
			assert_int_equal(a.n, PER + extra);
			assert_int_equal(a.min_ts, 1700000000000LL);
			assert_int_equal(a.max_ts, 1700000000000LL + (PER - 1 + extra) * 1000LL);
		}
	}
	assert_true(sql_int("SELECT count(*) FROM chunk") > NS);
}

static int64_t in_range_count(const char *m, int64_t from, int64_t to)
{
	struct store *r;
	struct all a = { 0 };

	assert_int_equal(store_open_ro(&r, path), 0);
	assert_int_equal(store_query(r, "d", m, from, to, count_row, &a), 0);
	store_close(r);
	return a.n;
}

/* Retention by time drops whole chunks, and none that holds a sample
 * inside retention, whatever order samples came in: 10 days at one a
 * minute, a week-old batch, 10 more days, a clock stepping back a day;
 * with 14 days kept, nothing newer than the cut goes. */
static void test_prune_late_and_clock_step(void **state)
{
	const int64_t day = 86400000LL, t0 = 1760000000000LL;
	struct store *s;
	int64_t a;
	int64_t n = 0, n_new = 0;
	int done;

	remove(path);
	assert_int_equal(store_open(&s, path), 0);
	assert_int_equal(store_prune(s, t0, 100, &done), 0);     /* empty */
	assert_int_equal(done, 1);
	assert_int_equal(store_series(s, "d", "a", NULL, &a), 0);
#define PUT(ts) do { store_append(s, a, (ts), (double)(n % 50), Q_GOOD); n++; \
		     if (n % 500 == 0) assert_int_equal(store_flush(s), 0); } while (0)
	for (int64_t t = t0; t < t0 + 10 * day; t += 60000)
		PUT(t);
	for (int64_t t = t0 + 3 * day; t < t0 + 3 * day + 3600000; t += 60000)   /* a week late */
		PUT(t);
	for (int64_t t = t0 + 10 * day; t < t0 + 20 * day; t += 60000)
		PUT(t);
	for (int64_t t = t0 + 19 * day; t < t0 + 20 * day; t += 60000)          /* the clock steps back */
		PUT(t);
#undef PUT
	assert_int_equal(store_flush(s), 0);
	const int64_t cut = t0 + 20 * day - 14 * day;
	n_new = in_range_count("a", cut, INT64_MAX);
	assert_int_equal(n_new, (14 * day / 60000) + day / 60000);
	int chunks = sql_int("SELECT count(*) FROM chunk");
	int total = 0, r;
	while ((r = store_prune(s, cut, 7, &done)) > 0 || (r == 0 && !done))
		total += r;
	assert_int_equal(r, 0);
	assert_int_equal(done, 1);
	assert_true(total > 0 && total < chunks);
	/* nothing inside retention went, the late batch (older) did */
	assert_int_equal(in_range_count("a", cut, INT64_MAX), n_new);
	assert_int_equal(in_range_count("a", t0 + 3 * day, t0 + 3 * day + 3600000), 0);
	/* what stays before the cut is at most one chunk's span per series */
	assert_true(in_range_count("a", INT64_MIN, cut - 1) <= 2 * 3600 / 60 + 1);
	assert_int_equal(store_prune(s, cut, 7, &done), 0);
	assert_int_equal(done, 1);
	store_close(s);
	assert_int_equal(in_range_count("a", cut, INT64_MAX), n_new);
}

/* Random doubles: about 8 bytes a sample even compressed, to fill a file. */
static double noise(unsigned *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return (double)(*seed >> 8) / 3.0;
}

/* Retention at a large ward: a call looks at a slice of the series, so
 * that no call walks all of them; a pass over 4,500 series takes several
 * calls, says when it is over, and deletes every chunk past the cut and
 * none inside it. */
static void test_prune_in_slices(void **state)
{
	const int64_t hour = 3600000LL, t0 = 1760000000000LL;
	enum { NS = 4500 };
	struct store *s;
	int64_t id[NS];
	char name[32], sql[160];
	int done, r, calls = 0, total = 0;

	remove(path);
	assert_int_equal(store_open(&s, path), 0);
	for (int i = 0; i < NS; i++) {
		snprintf(name, sizeof(name), "d%d", i);
		assert_int_equal(store_series(s, name, "a", NULL, &id[i]), 0);
	}
	/* 12 h at one sample every 10 min: chunks close on their span */
	for (int64_t t = t0; t < t0 + 12 * hour; t += 600000) {
		for (int i = 0; i < NS; i++)
			assert_int_equal(store_append(s, id[i], t, (double)(i % 7), Q_GOOD), 0);
		assert_int_equal(store_flush(s), 0);
	}
	assert_int_equal(store_flush_all(s), 0);
	const int64_t cut = t0 + 6 * hour;
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM chunk WHERE t1 < %lld", (long long)cut);
	int old = sql_int(sql);
	snprintf(sql, sizeof(sql), "SELECT sum(n) FROM chunk WHERE t1 >= %lld", (long long)cut);
	int kept = sql_int(sql);
	assert_true(old >= NS);
	do {
		r = store_prune(s, cut, 100000, &done);
		assert_true(r >= 0);
		total += r;
		calls++;
	} while (!done && calls < 100);
	assert_int_equal(done, 1);
	assert_true(calls >= NS / 500);         /* slices, not one walk */
	assert_int_equal(total, old);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM chunk WHERE t1 < %lld", (long long)cut);
	assert_int_equal(sql_int(sql), 0);
	snprintf(sql, sizeof(sql), "SELECT sum(n) FROM chunk WHERE t1 >= %lld", (long long)cut);
	assert_int_equal(sql_int(sql), kept);
	/* a small limit: the same slice again until it is empty */
	assert_int_equal(store_prune(s, cut + 3 * hour, 5, &done), 5);
	assert_int_equal(done, 0);
	total = 5;
	calls = 0;
	while (!done && calls++ < 100000) {
		r = store_prune(s, cut + 3 * hour, 5, &done);
		assert_true(r >= 0);
		total += r;
	}
	assert_int_equal(done, 1);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM chunk WHERE t1 < %lld", (long long)(cut + 3 * hour));
	assert_int_equal(sql_int(sql), 0);
	assert_true(total > 0);
	store_close(s);
}

/* issue 15 item 8: early retention on a full disk makes room in proportion
 * to the deficit. A store below store.min_free_mb is checked every 10 s;
 * 3,750 samples a second arrive. Each check frees what came in since the
 * last, so the file stops growing, and a larger deficit frees more. */
static void test_make_room_keeps_up(void **state)
{
	struct store *s;
	int64_t id[10];
	unsigned seed = 1;
	int64_t t = 1760000000000LL, pages[40];

	remove(path);
	assert_int_equal(store_open(&s, path), 0);
	for (int k = 0; k < 10; k++) {
		char m[16];
		snprintf(m, sizeof(m), "m%d", k);
		assert_int_equal(store_series(s, "d", m, NULL, &id[k]), 0);
	}
	assert_int_equal(store_meta_put(s, "rollup_minute_done", INT64_MAX), 0);
	for (int round = 0; round < 40; round++) {
		/* 10 s at 3,750 samples/s, committed every 200 ms */
		for (int tick = 0; tick < 50; tick++) {
			for (int i = 0; i < 750; i++) {
				store_append(s, id[i % 10], t, noise(&seed), Q_GOOD);
				if (i % 10 == 9)
					t += 20;
			}
			assert_int_equal(store_flush(s), 0);
		}
		/* the disk is low from round 10 on, by a fixed deficit */
		if (round >= 10)
			assert_true(store_make_room(s, 0) > 0);
		pages[round] = sql_int("PRAGMA page_count");
	}
	/* growth stops: the last 20 rounds add less than 10 % of one round's data */
	int64_t per_round = (pages[9] - pages[4]) / 5;
	print_message("pages: %lld %lld %lld %lld %lld\n", (long long)pages[4], (long long)pages[9],
		      (long long)pages[19], (long long)pages[29], (long long)pages[39]);
	assert_true(per_round > 20);
	assert_true(pages[39] - pages[19] < per_round * 2);
	/* a deficit of 2 MB frees about 2 MB, not a fixed share */
	uint64_t before = store_pruned_early(s);
	int n2 = store_make_room(s, 2 << 20);
	assert_true(n2 > 0);
	int free2 = sql_int("PRAGMA freelist_count");
	assert_true((int64_t)free2 * sql_int("PRAGMA page_size") >= (1 << 20));
	assert_true(store_pruned_early(s) - before >= (2u << 20) / 16);   /* <= 16 bytes a sample here */
	store_close(s);
}

/* A store capped by store.max_db_mb never fails a flush while there are old
 * raw samples to give up: the oldest go (counted), the newest all stay,
 * nothing newer than the rollup watermark goes, and the file is sound. */
static void test_full_prunes_early(void **state)
{
	struct store *s;
	int64_t id[10];
	const int64_t ticks = 20000, mark = 15000 * 1000;   /* rolled up below t = 15000 s */

	remove(path);
	assert_int_equal(store_open(&s, path), 0);
	assert_int_equal(store_set_limit(s, 1 << 20), 0);
	for (int k = 0; k < 10; k++) {
		char m[16];
		snprintf(m, sizeof(m), "m%d", k % 10);
		assert_int_equal(store_series(s, "d", m, NULL, &id[k]), 0);
	}
	assert_int_equal(store_meta_put(s, "rollup_minute_done", mark), 0);
	unsigned seed = 3;
	for (int64_t t = 0; t < ticks; t++) {
		for (int k = 0; k < 10; k++)
			store_append(s, id[k], t * 1000, k ? noise(&seed) : (double)t, Q_GOOD);
		if (t % 10 == 9)
			assert_int_equal(store_flush(s), 0);
	}
	assert_int_equal(store_failing(s, NULL), 0);
	assert_true(store_pruned_early(s) > 0);
	assert_int_equal(store_dropped(s), 0);
	uint64_t pruned = store_pruned_early(s);
	store_close(s);
	/* everything not pruned is there: pruned + kept = written */
	int64_t kept = 0;
	for (int k = 0; k < 10; k++) {
		char m[16];
		snprintf(m, sizeof(m), "m%d", k);
		struct all a = stored("d", m);
		kept += a.n;
		assert_int_equal(a.max_ts, (ticks - 1) * 1000);
		/* nothing at or past the watermark went */
		assert_int_equal(in_range_count(m, mark, INT64_MAX), ticks - mark / 1000);
	}
	assert_int_equal(kept + (int64_t)pruned, ticks * 10);
	assert_true(sql_int("PRAGMA page_count") * sql_int("PRAGMA page_size") <= (1 << 20));
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
	unsigned seed = 5;
	int64_t put = 0;
	for (int64_t t = 0; t < 400000 && ret == 0; t++, put++) {
		store_append(s, a, t, noise(&seed), Q_GOOD);
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
	assert_int_equal(stored("d", "a").n, put);
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

struct rrows {
	int n;
	int64_t start[64];
	int64_t count[64];
	double min[64], last[64];
};

static int take_rollup(void *arg, const struct rollup_row *r)
{
	struct rrows *rr = arg;

	if (rr->n < 64) {
		rr->start[rr->n] = r->start;
		rr->count[rr->n] = r->count;
		rr->min[rr->n] = r->min;
		rr->last[rr->n] = r->last;
	}
	rr->n++;
	return rr->n >= 50;     /* non-zero stops */
}

/* rollup_query (wardgw query --tier): one series' windows of a tier, by
 * primary key, oldest first; [from, to) on the window start; windows
 * missing, other series and tiers left out; NULL as NaN; a reader. */
static int64_t count_rows(struct store *s, const char *sql)
{
	sqlite3_stmt *st;
	int64_t n = -1;

	assert_int_equal(sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* 20,000 series' minutes close together: written 8,000 a flush, the
 * minute's done mark moving only with the last; rows of the next minute
 * that close meanwhile wait behind them and are written once each;
 * store_flush_all writes them all at once; retention deletes them oldest
 * first, a limit a call. */
static void test_rollup_spread(void **state)
{
	struct store *s;
	struct rollup *r;
	/* a minute boundary two minutes ahead of the wall clock (rollup_new
	 * closes the minutes before it) */
	const int64_t m0 = ((int64_t)time(NULL) / 60 + 2) * 60000;
	char sql[200];
	enum { NS = 20000, PER = 8000 };

	remove(path);
	assert_int_equal(store_open(&s, path), 0);
	assert_int_equal(rollup_new(&r, s, 0), 0);
	for (int i = 0; i < NS; i++)
		assert_int_equal(rollup_add_series(r, 100 + i, 0, 0), i);
	for (int i = 0; i < NS; i++)
		rollup_sample(r, (size_t)i, m0 + 1000, i);
	rollup_tick(r, m0 + 60000);
	int64_t done0 = rollup_done(r, TIER_MINUTE);
	assert_true(done0 < m0 + 60000);
	assert_int_equal(store_flush(s), 0);
	assert_int_equal(count_rows(s, "SELECT count(*) FROM rollup WHERE tier = 0"), PER);
	assert_true(rollup_done(r, TIER_MINUTE) == done0);
	/* the next minute closes while the first is being written */
	for (int i = 0; i < NS; i++)
		rollup_sample(r, (size_t)i, m0 + 61000, i + 1);
	rollup_tick(r, m0 + 120000);
	assert_int_equal(store_flush(s), 0);
	assert_int_equal(count_rows(s, "SELECT count(*) FROM rollup WHERE tier = 0"), 2 * PER);
	assert_true(rollup_done(r, TIER_MINUTE) == done0);
	int flushes = 2;
	while (count_rows(s, "SELECT count(*) FROM rollup WHERE tier = 0") < 2 * NS && flushes < 20) {
		assert_true(rollup_done(r, TIER_MINUTE) == done0);
		assert_int_equal(store_flush(s), 0);
		flushes++;
	}
	assert_int_equal(flushes, (2 * NS + PER - 1) / PER);
	assert_true(rollup_done(r, TIER_MINUTE) == m0 + 120000);
	assert_int_equal(count_rows(s, "SELECT value FROM meta WHERE key = 'rollup_minute_done'"), m0 + 120000);
	/* every row once, with its value */
	snprintf(sql, sizeof(sql), "SELECT count(DISTINCT series) FROM rollup WHERE tier = 0 AND start = %lld"
		 " AND min = series - 100", (long long)m0);
	assert_int_equal(count_rows(s, sql), NS);
	snprintf(sql, sizeof(sql), "SELECT count(DISTINCT series) FROM rollup WHERE tier = 0 AND start = %lld"
		 " AND min = series - 99", (long long)(m0 + 60000));
	assert_int_equal(count_rows(s, sql), NS);
	/* the next minute, at a stop: all in one flush */
	for (int i = 0; i < NS; i++)
		rollup_sample(r, (size_t)i, m0 + 121000, i);
	rollup_tick(r, m0 + 180000);
	assert_int_equal(store_flush_all(s), 0);
	assert_int_equal(count_rows(s, "SELECT count(*) FROM rollup WHERE tier = 0"), 3 * NS);
	assert_true(rollup_done(r, TIER_MINUTE) == m0 + 180000);
	assert_int_equal(store_flush(s), 0);   /* nothing left */
	assert_int_equal(count_rows(s, "SELECT count(*) FROM rollup WHERE tier = 0"), 3 * NS);
	/* retention: the oldest minute goes, oldest first, at most the limit a
	 * call; nothing of the newer ones */
	assert_int_equal(rollup_prune(r, TIER_MINUTE, m0 + 60000, 15000), 15000);
	assert_int_equal(count_rows(s, "SELECT count(*) FROM rollup WHERE tier = 0"), 3 * NS - 15000);
	assert_int_equal(rollup_prune(r, TIER_MINUTE, m0 + 60000, 15000), NS - 15000);
	assert_int_equal(rollup_prune(r, TIER_MINUTE, m0 + 60000, 15000), 0);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM rollup WHERE tier = 0 AND start = %lld", (long long)(m0 + 60000));
	assert_int_equal(count_rows(s, sql), NS);
	assert_int_equal(count_rows(s, "SELECT count(*) FROM rollup WHERE tier = 0"), 2 * NS);
	store_clear_hooks(s);
	rollup_free(r);
	store_close(s);
}

/* The WAL is copied into the database by the store's thread, not by a
 * commit (SQLite's automatic checkpoint is off): it happens while commits
 * go on, the WAL stays near its 4 MiB instead of growing with every
 * commit, and the file stays whole. */
static void append_random(struct store *s, int64_t id, int64_t *ts, uint64_t *x)
{
	for (int i = 0; i < 5000; i++) {
		*x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
		double v;
		memcpy(&v, x, sizeof(v));
		if (!isfinite(v))
			v = (double)(*x >> 11);
		assert_int_equal(store_append(s, id, (*ts)++, v, 0), 0);
	}
	assert_int_equal(store_flush(s), 0);
}

static void test_wal_copied_off_loop(void **state)
{
	struct store *s;
	int64_t id, ts = 1764720000000LL;
	struct stat st;
	uint64_t x = 88172645463325252ULL;
	char wal[160];

	snprintf(wal, sizeof(wal), "%s-wal", path);
	remove(path);
	assert_int_equal(store_open(&s, path), 0);
	assert_int_equal(store_series(s, "d", "m", NULL, &id), 0);
	assert_int_equal(store_flush(s), 0);
	assert_int_equal(store_wal_copies(s), 0);
	/* random doubles (8 raw bytes each in the log) until the thread has
	 * copied once (at 4 MiB of WAL); at most 200 MB */
	int k1 = 0;
	for (; k1 < 4000 && store_wal_copies(s) == 0; k1++)
		append_random(s, id, &ts, &x);
	assert_true(store_wal_copies(s) > 0);
	assert_int_equal(stat(wal, &st), 0);
	off_t w1 = st.st_size;
	/* as much again three times, a commit every 20 ms (the gateway: 200):
	 * the WAL starts over after a copy, so it ends far below the size it
	 * would have without one (w1 + what these commits add) */
	for (int k = 0; k < 3 * k1; k++) {
		append_random(s, id, &ts, &x);
		usleep(20000);
	}
	assert_true(store_wal_copies(s) >= 2);
	assert_int_equal(stat(wal, &st), 0);
	print_message("WAL %lld bytes at the first copy (%d commits), %lld after %d more, %llu copies\n",
		      (long long)w1, k1, (long long)st.st_size, 3 * k1, (unsigned long long)store_wal_copies(s));
	assert_true(st.st_size < 2 * w1);
	assert_int_equal(count_rows(s, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check != 'ok'"), 0);
	store_close(s);
}

static void test_rollup_query(void **state)
{
	struct store *s;
	struct rrows rr = { 0 };
	int64_t id[3];
	const int64_t h0 = 1764720000000LL;     /* an hour boundary */

	remove(path);
	assert_int_equal(store_open(&s, path), 0);
	assert_int_equal(rollup_query(s, 1, TIER_HOUR, 0, INT64_MAX, take_rollup, &rr), 0);   /* empty */
	for (int k = 0; k < 3; k++) {
		char m[16];
		snprintf(m, sizeof(m), "m%d", k);
		assert_int_equal(store_series(s, "d", m, NULL, &id[k]), 0);
	}
	sqlite3 *db = store_db(s);
	sqlite3_stmt *ins;
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO rollup (tier, series, start, count, min, max, sum, last, delta)"
					    " VALUES (?, ?, ?, ?, ?, 9, 90, ?, NULL)", -1, &ins, NULL), SQLITE_OK);
	/* 24 hours of the three series, hour 5 missing for the middle one, a
	 * minute row and a day row beside them */
	for (int h = 0; h < 24; h++)
		for (int k = 0; k < 3; k++) {
			if (h == 5 && k == 1)
				continue;
			sqlite3_bind_int(ins, 1, TIER_HOUR);
			sqlite3_bind_int64(ins, 2, id[k]);
			sqlite3_bind_int64(ins, 3, h0 + h * 3600000LL);
			sqlite3_bind_int(ins, 4, 60 + k);
			if (h == 7)
				sqlite3_bind_null(ins, 5);
			else
				sqlite3_bind_double(ins, 5, h + k * 100);
			sqlite3_bind_double(ins, 6, h * 10 + k);
			assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
			sqlite3_reset(ins);
		}
	for (int t = 0; t < 3; t += 2) {
		sqlite3_bind_int(ins, 1, t);
		sqlite3_bind_int64(ins, 2, id[1]);
		sqlite3_bind_int64(ins, 3, h0 + 6 * 3600000LL);
		sqlite3_bind_int(ins, 4, 1);
		sqlite3_bind_double(ins, 5, -1);
		sqlite3_bind_double(ins, 6, -1);
		assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
		sqlite3_reset(ins);
	}
	sqlite3_finalize(ins);
	store_close(s);

	assert_int_equal(store_open_ro(&s, path), 0);
	/* from inside hour 2 (starts from hour 3 on), to the start of hour 10 (excluded) */
	assert_int_equal(rollup_query(s, id[1], TIER_HOUR, h0 + 2 * 3600000LL + 1, h0 + 10 * 3600000LL, take_rollup, &rr), 6);
	assert_int_equal(rr.n, 6);
	const int want[] = { 3, 4, 6, 7, 8, 9 };
	for (int i = 0; i < 6; i++) {
		assert_int_equal(rr.start[i], h0 + want[i] * 3600000LL);
		assert_int_equal(rr.count[i], 61);
		assert_true(rr.last[i] == want[i] * 10 + 1);
		if (want[i] == 7)
			assert_true(isnan(rr.min[i]));
		else
			assert_true(rr.min[i] == want[i] + 100);
	}
	/* all time, from far before to far after: 23 hours; the day tier: its one row */
	rr.n = 0;
	assert_int_equal(rollup_query(s, id[1], TIER_HOUR, INT64_MIN, INT64_MAX, take_rollup, &rr), 23);
	assert_int_equal(rr.start[0], h0);
	assert_int_equal(rr.start[22], h0 + 23 * 3600000LL);
	rr.n = 0;
	assert_int_equal(rollup_query(s, id[1], TIER_DAY, INT64_MIN, INT64_MAX, take_rollup, &rr), 1);
	assert_true(rr.min[0] == -1);
	/* the callback stops it */
	rr.n = 0;
	assert_int_equal(rollup_query(s, id[0], TIER_HOUR, INT64_MIN, INT64_MAX, take_rollup, &rr), 24);
	rr.n = 40;
	assert_int_equal(rollup_query(s, id[0], TIER_HOUR, INT64_MIN, INT64_MAX, take_rollup, &rr), 10);
	/* nothing in range, a bad tier */
	assert_int_equal(rollup_query(s, id[0], TIER_HOUR, h0 + 30 * 3600000LL, INT64_MAX, take_rollup, &rr), 0);
	assert_int_equal(rollup_query(s, id[0], 7, 0, 1, take_rollup, &rr), -EINVAL);
	store_close(s);
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
	assert_int_equal(stored("cab-001", "lampsOn").n, 1);
}

/* a value that changes now and then: a chunk holds it in a few bits, so
 * that the log, not the open chunks, grows and checkpoints come */
static double rbig(int k, int f)
{
	return k + f / 16;
}

/* A test that failed left its WAL behind: start clean. */
static void rremove(void)
{
	char p[160];

	remove(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	remove(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	remove(p);
}

/* ---- the rolling checkpoint (docs/storage.md) ----
 * A deterministic stream: RS series (the last ones created only at flush
 * RF_NEW), RJ samples of each a flush (times a minute apart, so that
 * chunks close by their span every 12 flushes), some series idle for long
 * stretches (their turn in a round finds nothing to write), integers,
 * decimals, floats, NaN and other qualities. */
enum { RS = 600, RS_NEW = 550, RJ = 10, RF_NEW = 40, RHEADS = 100 };
static const int64_t RT0 = 1764720000000LL;

static int rhas(int k, int f)
{
	if (k >= RS_NEW && f < RF_NEW)
		return 0;
	if (k % 50 == 7)
		return f % 20 == 0;
	return (f + k) % 5 != 0;
}

static int64_t rts(int k, int f, int j)
{
	return RT0 + ((int64_t)f * RJ + j) * 60000 + k % 7;
}

static double rval(int k, int f, int j, int *q)
{
	int64_t n = (int64_t)f * RJ + j;

	*q = j == 5 && k % 9 == 0 ? Q_STALE : Q_GOOD;
	switch (k % 4) {
	case 0: return k;
	case 1:
		if (n % 97 == 0) {
			*q = Q_COMM_ERROR;
			return NAN;
		}
		return (double)((n * 37 + k * 11) % 500);
	case 2: return (double)((n * 13 + k) % 1000) * 0.1;
	default: return (double)(float)((double)n * 0.37 + k);
	}
}

/* One flush's worth of the stream (0: appended; the caller flushes). */
static int rappend(struct store *s, const int64_t *id, int f)
{
	for (int k = 0; k < RS; k++) {
		if (!rhas(k, f))
			continue;
		for (int j = 0; j < RJ; j++) {
			int q;
			double v = rval(k, f, j, &q);
			if (store_append(s, id[k], rts(k, f, j), v, q) < 0)
				return -1;
		}
	}
	return 0;
}

static int rseries(struct store *s, int64_t *id, int from, int to)
{
	for (int k = from; k < to; k++) {
		char m[16];
		snprintf(m, sizeof(m), "m%03d", k);
		if (store_series(s, "r", m, NULL, &id[k]) < 0)
			return -1;
	}
	return 0;
}

struct rgot {
	int64_t *ts;
	double *v;
	int *q;
	size_t n, cap;
};

static int rcollect(void *arg, int64_t ts, double v, int q)
{
	struct rgot *g = arg;

	if (g->n == g->cap) {
		g->cap = g->cap ? 2 * g->cap : 1024;
		g->ts = realloc(g->ts, g->cap * sizeof(*g->ts));
		g->v = realloc(g->v, g->cap * sizeof(*g->v));
		g->q = realloc(g->q, g->cap * sizeof(*g->q));
		assert_non_null(g->ts);
		assert_non_null(g->v);
		assert_non_null(g->q);
	}
	g->ts[g->n] = ts;
	g->v[g->n] = v;
	g->q[g->n] = q;
	g->n++;
	return 0;
}

/* Series @k read through @r holds exactly the samples of flushes
 * 0..@flushes-1, once each, in order, with their values and qualities. */
static void rcheck_series(struct store *r, int k, int flushes)
{
	struct rgot g = { 0 };
	char m[16];
	size_t i = 0;

	snprintf(m, sizeof(m), "m%03d", k);
	int rc = store_query(r, "r", m, INT64_MIN, INT64_MAX, rcollect, &g);
	assert_true(rc == 0 || (rc == -ENOENT && k >= RS_NEW && flushes <= RF_NEW));
	for (int f = 0; f < flushes; f++) {
		if (!rhas(k, f))
			continue;
		for (int j = 0; j < RJ; j++, i++) {
			int q;
			double v = rval(k, f, j, &q);
			if (i >= g.n)
				fail_msg("series %d: %zu samples, flush %d sample %d missing", k, g.n, f, j);
			if (g.ts[i] != rts(k, f, j) || g.q[i] != q || (isnan(v) ? !isnan(g.v[i]) : g.v[i] != v))
				fail_msg("series %d sample %zu (flush %d, %d): got %lld %g q%d, want %lld %g q%d", k, i, f, j,
					 (long long)g.ts[i], g.v[i], g.q[i], (long long)rts(k, f, j), v, q);
		}
	}
	if (g.n != i)
		fail_msg("series %d: %zu samples, want %zu", k, g.n, i);
	free(g.ts);
	free(g.v);
	free(g.q);
}

/* Every series of the stream after @flushes committed flushes, by a reader. */
static void rcheck_all(int flushes)
{
	struct store *r;

	assert_int_equal(store_open_ro(&r, path), 0);
	for (int k = 0; k < RS; k++)
		rcheck_series(r, k, flushes);
	store_close(r);
}

enum rmode { R_MID, R_AFTER, R_FAIL };

/* Fail the head writes of the store's connection while the table fail_heads
 * says so (a temporary trigger: the failure lands in the middle of a
 * flush, after the open chunks changed, as a full disk would). */
static int rinject(struct store *s, int on)
{
	char sql[300];

	snprintf(sql, sizeof(sql), "CREATE TEMP TABLE IF NOT EXISTS fail_heads (x INTEGER);"
		 "CREATE TEMP TRIGGER IF NOT EXISTS fail_head BEFORE INSERT ON main.head"
		 " WHEN EXISTS (SELECT 1 FROM fail_heads) BEGIN SELECT RAISE(ABORT, 'injected'); END;"
		 "DELETE FROM fail_heads;%s", on ? "INSERT INTO fail_heads VALUES (1);" : "");
	return sqlite3_exec(store_db(s), sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* The writer, in a child: the stream until the moment @mode asks for,
 * then _exit without closing (SIGKILL: no flush, no checkpoint). Writes
 * the flushes committed to @fd; exit code 0, or where it went wrong. */
static void rwriter(enum rmode mode, int fd)
{
	struct store *s;
	int64_t id[RS];
	int rounds = 0, in_round = 0, failed = 0, restarted = 0;

	setenv("WARDGW_STORE_CKPT_HEADS", "100", 1);
	if (store_open(&s, path) < 0 || rseries(s, id, 0, RS_NEW) < 0)
		_exit(2);
	for (int f = 0; f < 400; f++) {
		if (f == RF_NEW && rseries(s, id, RS_NEW, RS) < 0)
			_exit(3);
		int64_t mark = store_meta_get(s, "store_ckpt_log", 0), cur0 = 0;
		int was = store_ckpt_round(s, &cur0);
		if (rappend(s, id, f) < 0)
			_exit(4);
		if (mode == R_FAIL && !failed && rounds >= 2 && was && cur0 > 0) {
			/* a flush fails in the middle of a round: nothing of it
			 * is committed, the round starts over */
			if (rinject(s, 1) < 0 || store_flush(s) >= 0)
				_exit(5);
			if (store_ckpt_round(s, NULL) || store_meta_get(s, "store_ckpt_log", 0) != mark ||
			    store_pending(s) == 0 || rinject(s, 0) < 0)
				_exit(6);
			failed = 1;
		}
		if (store_flush(s) < 0)
			_exit(7);
		int64_t cur;
		int on = store_ckpt_round(s, &cur);
		if (failed == 1) {
			/* the next flush restarted the round from the first
			 * series: it wrote heads before where it had got to */
			const uint8_t *p;
			size_t len;
			sqlite3_stmt *st;
			int64_t first = INT64_MAX;
			if (sqlite3_prepare_v2(store_db(s), "SELECT min(series) FROM head WHERE log_id = ?", -1, &st,
					       NULL) != SQLITE_OK)
				_exit(8);
			sqlite3_bind_int64(st, 1, store_log_last(s, &p, &len));
			if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
				first = sqlite3_column_int64(st, 0);
			sqlite3_finalize(st);
			if (!on || first >= cur0)
				_exit(8);
			failed = 2;
			restarted = 1;
		}
		int64_t nmark = store_meta_get(s, "store_ckpt_log", 0);
		if (nmark != mark) {
			/* a round completed: the mark is where it started,
			 * before this flush's record */
			const uint8_t *p;
			size_t len;
			if (nmark >= store_log_last(s, &p, &len) && was)
				_exit(9);
			rounds++;
			in_round = 0;
		} else if (on) {
			in_round++;
		}
		int stop = mode == R_MID ? rounds >= 3 && on && in_round >= 2 :
			   mode == R_AFTER ? rounds >= 3 && nmark != mark :
			   restarted && rounds >= 4 && on && in_round >= 2;
		if (stop) {
			int32_t n = f + 1;
			/* appended, never flushed: lost, as the contract allows */
			rappend(s, id, f + 1);
			if (write(fd, &n, sizeof(n)) != sizeof(n))
				_exit(10);
			_exit(0);
		}
	}
	_exit(11);
}

/* Run @writer in a child that ends with _exit(0) after writing the number
 * of flushes it committed to @fd; that number, read back. */
static int32_t rfork(void (*writer)(enum rmode, int), enum rmode mode)
{
	int fds[2], status;
	int32_t flushes = 0;

	rremove();
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		writer(mode, fds[1]);
		_exit(12);
	}
	close(fds[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(read(fds[0], &flushes, sizeof(flushes)), sizeof(flushes));
	close(fds[0]);
	return flushes;
}

static void rcrash(enum rmode mode)
{
	int32_t flushes = rfork(rwriter, mode);
	struct store *s;

	print_message("crashed after %d flushes; %d log records, %d heads past the mark\n", flushes,
		      sql_int("SELECT count(*) FROM headlog"),
		      sql_int("SELECT count(*) FROM head WHERE log_id > (SELECT value FROM meta WHERE key = 'store_ckpt_log')"));
	if (mode != R_AFTER)   /* mid-round: heads written after the mark */
		assert_true(sql_int("SELECT count(*) FROM head WHERE log_id >"
				    " (SELECT value FROM meta WHERE key = 'store_ckpt_log')") > 0);
	/* a reader of the crashed file, then the writer's replay, twice */
	rcheck_all(flushes);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(store_open(&s, path), 0);
		store_close(s);
		rcheck_all(flushes);
	}
}

static void test_rolling_crash_mid_round(void **state)
{
	rcrash(R_MID);
}

static void test_rolling_crash_after_round(void **state)
{
	rcrash(R_AFTER);
}

static void test_rolling_failed_flush(void **state)
{
	rcrash(R_FAIL);
}

/* 5,000 series with the default spread: a round writes at most 2,000
 * heads a flush, takes several flushes, moves the mark only with its last;
 * a reader in the middle of it reads every committed sample once. */
static void test_rolling_reader(void **state)
{
	enum { NS = 5000 };
	struct store *s, *r;
	static int64_t id[NS];
	char sql[200];
	int f = 0, flushes_in_round = 0;
	int64_t cur = 0;

	rremove();
	unsetenv("WARDGW_STORE_CKPT_HEADS");
	assert_int_equal(store_open(&s, path), 0);
	assert_int_equal(store_begin(s), 0);
	for (int k = 0; k < NS; k++) {
		char m[16];
		snprintf(m, sizeof(m), "m%04d", k);
		assert_int_equal(store_series(s, "big", m, NULL, &id[k]), 0);
	}
	assert_int_equal(store_commit(s), 0);
#define FEED() do { for (int k = 0; k < NS; k++) \
			    assert_int_equal(store_append(s, id[k], RT0 + f * 1000LL, rbig(k, f), 0), 0); \
		    f++; assert_int_equal(store_flush(s), 0); } while (0)
	int64_t mark = store_meta_get(s, "store_ckpt_log", 0);
	while (!store_ckpt_round(s, &cur)) {
		FEED();
		assert_true(f < 200);
	}
	/* the round's first flush: some heads, at most 2,000, the mark unmoved */
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM head WHERE log_id = (SELECT max(id) FROM headlog)");
	int first = (int)count_rows(s, sql);
	print_message("round started at flush %d: %d heads written, cursor %lld\n", f, first, (long long)cur);
	assert_true(first > 0 && first <= 2000);
	assert_int_equal(store_meta_get(s, "store_ckpt_log", 0), mark);
	/* a reader in the middle of it */
	assert_int_equal(store_open_ro(&r, path), 0);
	for (int k = 0; k < NS; k += k < 1990 || k > 2010 ? 97 : 1) {
		struct all a = { 0 };
		char m[16];
		snprintf(m, sizeof(m), "m%04d", k);
		assert_int_equal(store_query(r, "big", m, INT64_MIN, INT64_MAX, count_row, &a), 0);
		assert_int_equal(a.n, f);
		assert_int_equal(a.min_ts, RT0);
		assert_int_equal(a.max_ts, RT0 + (f - 1) * 1000LL);
		double sum = 0;
		for (int g = 0; g < f; g++)
			sum += rbig(k, g);
		assert_true(a.sum == sum);
	}
	while (store_ckpt_round(s, NULL)) {
		FEED();
		flushes_in_round++;
		assert_int_equal(count_rows(s, sql) <= 2000, 1);
		if (store_ckpt_round(s, NULL))
			assert_int_equal(store_meta_get(s, "store_ckpt_log", 0), mark);
	}
	/* 5,000 changed heads, 2,000 a flush: the round's first and two more */
	assert_true(flushes_in_round >= 2);
	assert_true(store_meta_get(s, "store_ckpt_log", 0) > mark);
	/* a link owes its broker every record from here on (an outage):
	 * rounds go on, nothing it owes goes */
	const char *behind_sql = "SELECT coalesce(sum(length(data)), 0) FROM headlog"
				 " WHERE id <= (SELECT value FROM meta WHERE key = 'store_ckpt_log')";
	int64_t held = count_rows(s, "SELECT max(id) FROM headlog");
	store_log_hold(s, held);
	for (int rounds = 0; count_rows(s, behind_sql) < (3 << 20); ) {
		int64_t m0 = store_meta_get(s, "store_ckpt_log", 0);
		FEED();
		rounds += store_meta_get(s, "store_ckpt_log", 0) != m0;
		assert_true(rounds < 40);
	}
	snprintf(sql, sizeof(sql), "SELECT (SELECT max(id) FROM headlog) - %lld - count(*) FROM headlog WHERE id > %lld",
		 (long long)held, (long long)held);
	assert_int_equal(count_rows(s, sql), 0);
	/* it catches up: what is behind the mark goes, 512 KiB and a record
	 * at most a flush, until nothing but the newest is left of it */
	store_log_hold(s, INT64_MAX);
	int64_t behind = count_rows(s, behind_sql), steps = 0;
	while (behind > 0) {
		int64_t m0 = store_meta_get(s, "store_ckpt_log", 0);
		FEED();
		int64_t b2 = count_rows(s, behind_sql);
		if (store_meta_get(s, "store_ckpt_log", 0) == m0) {
			print_message("behind the mark: %lld bytes\n", (long long)b2);
			assert_true(b2 < behind && behind - b2 <= (512 << 10) + (64 << 10));
			steps++;
		}
		behind = b2;
		assert_true(steps < 100);
	}
	assert_true(steps >= 4);
	for (int k = 0; k < NS; k += 101) {
		struct all a = { 0 };
		char m[16];
		snprintf(m, sizeof(m), "m%04d", k);
		assert_int_equal(store_query(r, "big", m, INT64_MIN, INT64_MAX, count_row, &a), 0);
		assert_int_equal(a.n, f);
		memset(&a, 0, sizeof(a));
		assert_int_equal(store_query(s, "big", m, INT64_MIN, INT64_MAX, count_row, &a), 0);
		assert_int_equal(a.n, f);
	}
	store_close(r);
	/* a round under way when the gateway stops: the stop writes the rest */
	while (!store_ckpt_round(s, NULL))
		FEED();
	store_close(s);
	assert_int_equal(sql_int("SELECT count(*) FROM headlog WHERE id > (SELECT value FROM meta"
				 " WHERE key = 'store_ckpt_log')"), 0);
	assert_int_equal(sql_int("SELECT count(*) FROM head WHERE log_id != (SELECT value FROM meta"
				 " WHERE key = 'store_ckpt_log')"), 0);
	assert_int_equal(stored("big", "m4999").n, f);
#undef FEED
}

/* A schema-5 gateway's writes: a small gateway, every checkpoint one
 * flush, so every head holds what the mark says, as schema 5 wrote them;
 * then a restart and a few flushes, the log left to replay. */
static void schema5_writer(enum rmode mode, int fd)
{
	int64_t id[RS];
	struct store *s;

	(void)mode;
	unsetenv("WARDGW_STORE_CKPT_HEADS");
	if (store_open(&s, path) < 0 || rseries(s, id, 0, RS) < 0)
		_exit(2);
	int f = 0;
	for (; f < 30; f++)
		if (rappend(s, id, f) < 0 || store_flush(s) < 0)
			_exit(3);
	store_close(s);
	if (store_open(&s, path) < 0)
		_exit(4);
	for (; f < 33; f++)
		if (rappend(s, id, f) < 0 || store_flush(s) < 0)
			_exit(5);
	int32_t n = f;
	if (write(fd, &n, sizeof(n)) != sizeof(n))
		_exit(6);
	_exit(0);
}

/* Schema 5 (no head.log_id) with a log to replay, as a gateway of that
 * version leaves it after a SIGKILL: converted in place, nothing lost. */
static void test_migrate_schema5(void **state)
{
	int32_t flushes = rfork(schema5_writer, R_MID);
	struct store *s;

	assert_true(sql_int("SELECT count(*) FROM headlog WHERE id > (SELECT value FROM meta"
			    " WHERE key = 'store_ckpt_log')") > 0);
	assert_true(sql_int("SELECT count(*) FROM head WHERE log_id > (SELECT value FROM meta"
			    " WHERE key = 'store_ckpt_log')") == 0);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "ALTER TABLE head DROP COLUMN log_id; PRAGMA user_version = 5",
				      NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(sql_int("SELECT count(*) FROM pragma_table_info('head') WHERE name = 'log_id'"), 0);
	/* a reader of this version refuses it until the gateway converts it */
	struct store *r;
	assert_int_equal(store_open_ro(&r, path), -EAGAIN);
	assert_int_equal(store_open(&s, path), 0);
	store_close(s);
	assert_int_equal(sql_int("PRAGMA user_version"), STORE_SCHEMA_VERSION);
	assert_int_equal(sql_int("SELECT count(*) FROM pragma_table_info('head') WHERE name = 'log_id'"), 1);
	rcheck_all(flushes);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_close_flushes),
		cmocka_unit_test(test_crash_replay),
		cmocka_unit_test(test_prune_late_and_clock_step),
		cmocka_unit_test(test_prune_in_slices),
		cmocka_unit_test(test_make_room_keeps_up),
		cmocka_unit_test(test_full_prunes_early),
		cmocka_unit_test(test_full_keeps_unrolled),
		cmocka_unit_test(test_newer_schema_refused),
		cmocka_unit_test(test_read_only),
		cmocka_unit_test(test_rollup_query),
		cmocka_unit_test(test_rollup_spread),
		cmocka_unit_test(test_wal_copied_off_loop),
		cmocka_unit_test(test_quality_names),
		cmocka_unit_test(test_rolling_reader),
		cmocka_unit_test(test_rolling_crash_mid_round),
		cmocka_unit_test(test_rolling_crash_after_round),
		cmocka_unit_test(test_rolling_failed_flush),
		cmocka_unit_test(test_migrate_schema5),
	};
	return cmocka_run_group_tests_name("store", tests, setup, teardown);
}
