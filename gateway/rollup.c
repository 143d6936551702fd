/* Rollup tiers: minute accumulators in memory, hour and day rows derived in
 * SQL from the tier below inside the store's flush transaction; watermarks
 * in the meta table say which windows are complete. */
#include "rollup.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "store.h"
#include "timeparse.h"

const int64_t rollup_tier_ms[NTIERS] = { 60000, 3600000, 86400000 };
static const char *const done_key[NTIERS] = { "rollup_minute_done", "rollup_hour_done", "rollup_day_done" };

struct acc {                    /* 56 bytes */
	int64_t start;
	double min, max, sum, last, delta;
	uint32_t count;
	uint8_t counter;            /* of the series, kept from minute to minute: */
	uint8_t has_prev;           /* a counter, whose delta needs the value before */
};

struct rser {                   /* 80 bytes: 50,000 of these */
	int64_t id;
	double wrap;
	double prev;
	struct acc a;
};

_Static_assert(sizeof(struct rser) == 80 && sizeof(struct acc) == 56, "50,000 of these live in memory");

struct rrec {                   /* a closed minute waiting to be written: 64 bytes */
	int64_t series;
	struct acc a;
};

struct rollup {
	struct store *st;
	sqlite3 *db;
	int64_t grace_ms;
	struct rser *s;
	size_t n, cap;
	struct rrec *recs;          /* closed minutes, not written yet */
	size_t nrecs, cap_recs;
	size_t off, tx_off;         /* recs before off are written (before tx_off: in this flush) */
	int64_t cut;                /* minutes before this are closed */
	int64_t done[NTIERS], tx_done[NTIERS];
	int saved;              /* the done marks are in the store (a new one: after the first commit) */
	sqlite3_stmt *ins, *derive, *prune;
	uint64_t late;              /* samples whose minute was closed: kept raw only */
	int behind;                 /* the wall clock went back behind cut (said so) */
	uint64_t late_behind;       /* late when it did */
};

double counter_delta(double prev, double cur, double wrap)
{
	if (!isfinite(prev) || !isfinite(cur))
		return 0;
	if (cur >= prev)
		return cur - prev;
	if (wrap > 0 && prev > wrap / 2 && cur < wrap / 2 && wrap - prev + cur >= 0)
		return wrap - prev + cur;
	return cur > 0 ? cur : 0;       /* the meter was reset: it counted from zero */
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t ward_window_start(int64_t t_ms, int64_t len_ms)
{
	int64_t local = t_ms + WARD_UTC_OFFSET_MS;

	return floor_div(local, len_ms) * len_ms - WARD_UTC_OFFSET_MS;
}

static int fail(struct rollup *r, const char *what)
{
	log_err("rollup: %s: %s", what, sqlite3_errmsg(r->db));
	return store_errno(r->st);
}

static void push(struct rollup *r, struct rser *s)
{
	if (r->nrecs == r->cap_recs) {
		size_t ncap = r->cap_recs ? 2 * r->cap_recs : 1024;
		struct rrec *nr = realloc(r->recs, ncap * sizeof(*nr));
		if (!nr) {
			log_err("rollup: out of memory; minute %lld of series %lld not rolled up",
				(long long)s->a.start, (long long)s->id);
			s->a.count = 0;
			return;
		}
		r->recs = nr;
		r->cap_recs = ncap;
	}
	r->recs[r->nrecs].series = s->id;
	r->recs[r->nrecs].a = s->a;
	r->nrecs++;
	s->a.count = 0;
}

void rollup_sample(struct rollup *r, size_t idx, int64_t ts_ms, double v)
{
	struct rser *s;
	int64_t m;

	if (idx >= r->n || !isfinite(v))
		return;
	s = &r->s[idx];
	m = floor_div(ts_ms, 60000) * 60000;
	if (m < r->cut || (s->a.count && m < s->a.start)) {
		r->late++;      /* its minute is closed: kept raw only */
		return;
	}
	if (s->a.count && m > s->a.start)
		push(r, s);
	if (!s->a.count) {
		s->a.start = m;
		s->a.min = s->a.max = v;
		s->a.sum = s->a.last = s->a.delta = 0;
	}
	s->a.count++;
	s->a.sum += v;
	if (v < s->a.min)
		s->a.min = v;
	if (v > s->a.max)
		s->a.max = v;
	s->a.last = v;
	if (s->a.counter) {
		if (s->a.has_prev)
			s->a.delta += counter_delta(s->prev, v, s->wrap);
		s->prev = v;
		s->a.has_prev = 1;
	}
}

void rollup_tick(struct rollup *r, int64_t now_ms)
{
	int64_t cut = floor_div(now_ms - r->grace_ms, 60000) * 60000;

	/* The wall clock went back (an NTP step, a clock set by hand) behind
	 * the minutes already closed. Closed windows stay as they are, never
	 * written twice: what is stamped before the cut is kept raw only, the
	 * cut and so the KPI windows wait until the wall clock gets there
	 * again, and a counter's increase meanwhile goes into the first minute
	 * after (docs/architecture.md, "Time"). */
	if (!r->behind && cut < r->cut - 60000) {
		char at[40];
		time_format(r->cut, at, sizeof(at));
		log_warn("rollup: the wall clock went back %lld s behind the closed minutes: samples stamped before %s"
			 " are kept raw only, not rolled up, until it gets there again",
			 (long long)((r->cut - cut) / 1000), at);
		r->behind = 1;
		r->late_behind = r->late;
	}
	if (cut <= r->cut)
		return;
	if (r->behind) {
		log_info("rollup: the wall clock is past the closed minutes again: %llu samples stamped before were"
			 " kept raw only", (unsigned long long)(r->late - r->late_behind));
		r->behind = 0;
	}
	for (size_t i = 0; i < r->n; i++)
		if (r->s[i].a.count && r->s[i].a.start < cut)
			push(r, &r->s[i]);
	r->cut = cut;
}

uint64_t rollup_late(const struct rollup *r)
{
	return r ? r->late : 0;
}

int64_t rollup_done(const struct rollup *r, int tier)
{
	return r->done[tier];
}

int64_t rollup_tx_done(const struct rollup *r, int tier)
{
	return r->tx_done[tier];
}

/* --- flush hooks --- */

static int ru_dirty(void *arg)
{
	struct rollup *r = arg;

	return r->nrecs > r->off || r->cut > r->done[TIER_MINUTE] || !r->saved;
}

/* Tier @tier's windows that are complete in the tier below, at most @max. */
static int derive(struct rollup *r, int tier, int max)
{
	int64_t len = rollup_tier_ms[tier];
	int64_t w = r->done[tier];

	for (int i = 0; i < max && w + len <= r->tx_done[tier - 1]; i++, w += len) {
		int rc;
		sqlite3_reset(r->derive);
		sqlite3_bind_int(r->derive, 1, tier);
		sqlite3_bind_int64(r->derive, 2, w);
		sqlite3_bind_int64(r->derive, 3, w + len);
		sqlite3_bind_int(r->derive, 4, tier - 1);
		rc = sqlite3_step(r->derive);
		sqlite3_reset(r->derive);
		if (rc != SQLITE_DONE)
			return fail(r, "derive rollup");
	}
	r->tx_done[tier] = w;
	return 0;
}

/* Minute rows written per flush at most: a large gateway's minutes all
 * close together (50,000 rows at 5,000 devices, about 50 ms of the loop in
 * one commit); spread over the flushes that follow (8,000 a flush, about
 * 10 ms, 40,000 a second at store.batch_ms 200), the minute's done mark
 * moving only when all are written. The rows close over the second after
 * the minute (as each device's next poll comes), so they are written about
 * as fast as they come and few wait in memory (at 2,000 a flush, 40,000 of
 * 72 bytes did). store_flush_all writes all. */
#define ROLLUP_ROWS_PER_FLUSH 8000

static int ru_in_tx(void *arg)
{
	struct rollup *r = arg;
	size_t end = r->nrecs;

	if (!store_draining(r->st) && end - r->off > ROLLUP_ROWS_PER_FLUSH)
		end = r->off + ROLLUP_ROWS_PER_FLUSH;
	for (size_t i = r->off; i < end; i++) {
		const struct rrec *e = &r->recs[i];
		int rc;
		sqlite3_reset(r->ins);
		sqlite3_bind_int64(r->ins, 1, e->series);
		sqlite3_bind_int64(r->ins, 2, e->a.start);
		sqlite3_bind_int64(r->ins, 3, e->a.count);
		sqlite3_bind_double(r->ins, 4, e->a.min);
		sqlite3_bind_double(r->ins, 5, e->a.max);
		sqlite3_bind_double(r->ins, 6, e->a.sum);
		sqlite3_bind_double(r->ins, 7, e->a.last);
		if (e->a.counter)
			sqlite3_bind_double(r->ins, 8, e->a.delta);
		else
			sqlite3_bind_null(r->ins, 8);
		rc = sqlite3_step(r->ins);
		sqlite3_reset(r->ins);
		if (rc != SQLITE_DONE)
			return fail(r, "write minute");
	}
	r->tx_off = end;
	/* every minute before the cut is in recs (rollup_tick): done when all are written */
	if (end == r->nrecs)
		r->tx_done[TIER_MINUTE] = r->cut > r->done[TIER_MINUTE] ? r->cut : r->done[TIER_MINUTE];
	else
		r->tx_done[TIER_MINUTE] = r->done[TIER_MINUTE];
	/* a long outage is caught up a day of hours per flush */
	if (derive(r, TIER_HOUR, 24) < 0 || derive(r, TIER_DAY, 2) < 0)
		return -EIO;
	for (int t = 0; t < NTIERS; t++)
		if ((r->tx_done[t] != r->done[t] || !r->saved) && store_meta_put(r->st, done_key[t], r->tx_done[t]) < 0)
			return -EIO;
	return 0;
}

static void ru_committed(void *arg)
{
	struct rollup *r = arg;

	memcpy(r->done, r->tx_done, sizeof(r->done));
	r->saved = 1;
	r->off = r->tx_off;
	/* what is left to the front, so that the array holds what waits,
	 * not all that came since it was last empty */
	if (r->off) {
		memmove(r->recs, r->recs + r->off, (r->nrecs - r->off) * sizeof(*r->recs));
		r->nrecs -= r->off;
		r->off = r->tx_off = 0;
	}
}

static void ru_rolled_back(void *arg)
{
	struct rollup *r = arg;

	memcpy(r->tx_done, r->done, sizeof(r->done));
}

/* --- set-up --- */

long rollup_add_series(struct rollup *r, int64_t series_id, int counter, double wrap)
{
	if (r->n == r->cap) {
		/* a quarter more, not double: 50,000 series are 5 MB of these */
		size_t ncap = r->cap ? r->cap + r->cap / 4 + 256 : 256;
		struct rser *ns = realloc(r->s, ncap * sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		r->s = ns;
		r->cap = ncap;
	}
	memset(&r->s[r->n], 0, sizeof(r->s[0]));
	r->s[r->n].id = series_id;
	r->s[r->n].a.counter = counter != 0;
	r->s[r->n].wrap = wrap;
	return (long)r->n++;
}

long rollup_find_run(const struct rollup *r, const int64_t *ids, size_t n)
{
	if (!r || !n)
		return -1;
	for (size_t i = 0; i + n <= r->n; i++) {
		size_t k = 0;
		if (r->s[i].id != ids[0])
			continue;
		while (k < n && r->s[i + k].id == ids[k])
			k++;
		if (k == n)
			return (long)i;
	}
	return -1;
}

struct feed {
	struct rollup *r;
	size_t idx, fed;
};

static int feed_one(void *arg, int64_t ts, double v, int q)
{
	struct feed *f = arg;

	(void)q;
	if (!isnan(v)) {
		rollup_sample(f->r, f->idx, ts, v);
		f->fed++;
	}
	return 0;
}

int rollup_catch_up(struct rollup *r, int64_t now_ms)
{
	struct feed f = { r, 0, 0 };
	int ret = 0;

	for (size_t i = 0; i < r->n; i++) {
		struct rser *s = &r->s[i];
		if (s->a.counter) {
			double v;
			int rc = store_last_before(r->st, s->id, r->cut, &v);
			if (rc == 0) {
				s->prev = v;
				s->a.has_prev = 1;
			} else if (rc != -ENOENT) {
				ret = rc;
				goto out;
			}
		}
		f.idx = i;
		if ((ret = store_query_id(r->st, s->id, r->cut, now_ms, feed_one, &f)) < 0)
			goto out;
		ret = 0;
	}
	if (f.fed)
		log_info("rollup: rebuilt open minutes from %zu stored samples", f.fed);
out:
	return ret;
}

int rollup_prune(struct rollup *r, int tier, int64_t before_ms, int max_rows)
{
	int rc;

	sqlite3_reset(r->prune);
	sqlite3_bind_int(r->prune, 1, tier);
	sqlite3_bind_int64(r->prune, 2, before_ms);
	sqlite3_bind_int(r->prune, 3, max_rows);
	rc = sqlite3_step(r->prune);
	sqlite3_reset(r->prune);
	if (rc != SQLITE_DONE)
		return fail(r, "prune");
	return sqlite3_changes(r->db);
}

static int prep(struct rollup *r, sqlite3_stmt **st, const char *sql)
{
	if (sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
		return fail(r, "prepare");
	return 0;
}

int rollup_new(struct rollup **out, struct store *st, int64_t grace_ms)
{
	struct rollup *r = calloc(1, sizeof(*r));
	int64_t now;
	int ret;

	*out = NULL;
	if (!r)
		return -ENOMEM;
	r->st = st;
	r->db = store_db(st);
	r->grace_ms = grace_ms;
	if ((ret = prep(r, &r->ins, "INSERT OR REPLACE INTO rollup (tier, series, start, count, min, max, sum, last, delta)"
			" VALUES (0, ?, ?, ?, ?, ?, ?, ?, ?)")) ||
	    /* the last value is the one of the latest window below, found by
	     * its primary key rather than by a correlated scan */
	    (ret = prep(r, &r->derive, "INSERT OR REPLACE INTO rollup (tier, series, start, count, min, max, sum, last, delta)"
			" SELECT ?1, a.series, ?2, a.c, a.mn, a.mx, a.s, b.last, a.d FROM"
			" (SELECT series, sum(count) c, min(min) mn, max(max) mx, sum(sum) s, sum(delta) d, max(start) ls"
			"  FROM rollup WHERE tier = ?4 AND start >= ?2 AND start < ?3 GROUP BY series) a"
			" JOIN rollup b ON b.tier = ?4 AND b.start = a.ls AND b.series = a.series")) ||
	    	    /* oldest first, @max_rows a call: an hour of minute rollups at
	     * 5,000 devices is 3 million rows, not for one statement */
	    (ret = prep(r, &r->prune, "DELETE FROM rollup WHERE tier = ?1 AND start < ?2 AND (start, series) IN"
			" (SELECT start, series FROM rollup WHERE tier = ?1 AND start < ?2 ORDER BY start, series LIMIT ?3)"))) {
		rollup_free(r);
		return ret;
	}
	now = wall_ms();
	/* a new database starts its windows now, and says so at the first
	 * commit (a gateway stopped before its first minute closed finds that
	 * minute again); an old one where it stopped */
	r->saved = store_meta_get(r->st, done_key[0], INT64_MIN) != INT64_MIN;
	r->done[TIER_MINUTE] = store_meta_get(r->st, done_key[0], floor_div(now, 60000) * 60000);
	r->done[TIER_HOUR] = store_meta_get(r->st, done_key[1], floor_div(r->done[0], 3600000) * 3600000);
	r->done[TIER_DAY] = store_meta_get(r->st, done_key[2], ward_window_start(r->done[1], 86400000));
	memcpy(r->tx_done, r->done, sizeof(r->done));
	r->cut = r->done[TIER_MINUTE];
	store_add_hook(st, &(struct store_hook){ ru_dirty, ru_in_tx, ru_committed, ru_rolled_back, r, NULL });
	*out = r;
	return 0;
}

void rollup_free(struct rollup *r)
{
	if (!r)
		return;
	sqlite3_finalize(r->ins);
	sqlite3_finalize(r->derive);
	sqlite3_finalize(r->prune);
	free(r->s);
	free(r->recs);
	free(r);
}

static double col_or_nan(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

int rollup_query(struct store *st, int64_t series, int tier, int64_t from_ms, int64_t to_ms,
		 rollup_row_fn fn, void *arg)
{
	sqlite3 *db = store_db(st);
	sqlite3_stmt *q = NULL;
	int64_t len, lo, hi, n = 0;
	int rc, ret = 0;

	if (tier < 0 || tier >= NTIERS)
		return -EINVAL;
	if (from_ms >= to_ms)
		return 0;
	len = rollup_tier_ms[tier];
	if (tier != TIER_MINUTE) {
		/* hours and days: the rollup_series index holds them by series
		 * (store.c), a year of hours of one series in a few hundred
		 * pages; the tier is spelt out so that SQLite may use it */
		if (sqlite3_prepare_v2(db, tier == TIER_HOUR ?
				       "SELECT start, count, min, max, sum, last, delta FROM rollup INDEXED BY rollup_series"
				       " WHERE series = ?1 AND tier = 1 AND tier > 0 AND start >= ?2 AND start < ?3 ORDER BY start" :
				       "SELECT start, count, min, max, sum, last, delta FROM rollup INDEXED BY rollup_series"
				       " WHERE series = ?1 AND tier = 2 AND tier > 0 AND start >= ?2 AND start < ?3 ORDER BY start",
				       -1, &q, NULL) != SQLITE_OK)
			goto dberr;
		sqlite3_bind_int64(q, 1, series);
		sqlite3_bind_int64(q, 2, from_ms);
		sqlite3_bind_int64(q, 3, to_ms);
	} else {
		/* minutes are keyed (tier, start, series), each minute's rows
		 * written together: a range of start would read every series'
		 * rows. Instead, the minutes the table holds in the range, each
		 * looked up by the whole key. */
		if (sqlite3_prepare_v2(db, "SELECT (SELECT min(start) FROM rollup WHERE tier = 0),"
				       " (SELECT max(start) FROM rollup WHERE tier = 0)", -1, &q, NULL) != SQLITE_OK)
			goto dberr;
		if (sqlite3_step(q) != SQLITE_ROW)
			goto dberr;
		if (sqlite3_column_type(q, 0) == SQLITE_NULL) {
			sqlite3_finalize(q);
			return 0;
		}
		lo = sqlite3_column_int64(q, 0);
		hi = sqlite3_column_int64(q, 1);
		sqlite3_finalize(q);
		q = NULL;
		if (from_ms > lo) {
			lo = ward_window_start(from_ms, len);
			if (lo < from_ms)
				lo += len;
		}
		if (to_ms - 1 < hi)
			hi = to_ms - 1;
		if (lo > hi)
			return 0;
		if (sqlite3_prepare_v2(db, "WITH RECURSIVE w(s) AS (SELECT ?2 UNION ALL SELECT s + ?4 FROM w WHERE s + ?4 <= ?3)"
				       " SELECT r.start, r.count, r.min, r.max, r.sum, r.last, r.delta FROM w"
				       " CROSS JOIN rollup r ON r.tier = 0 AND r.start = w.s AND r.series = ?1", -1, &q,
				       NULL) != SQLITE_OK)
			goto dberr;
		sqlite3_bind_int64(q, 1, series);
		sqlite3_bind_int64(q, 2, lo);
		sqlite3_bind_int64(q, 3, hi);
		sqlite3_bind_int64(q, 4, len);
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct rollup_row row = {
			.start = sqlite3_column_int64(q, 0), .count = sqlite3_column_int64(q, 1),
			.min = col_or_nan(q, 2), .max = col_or_nan(q, 3), .sum = col_or_nan(q, 4),
			.last = col_or_nan(q, 5), .delta = col_or_nan(q, 6),
		};
		n++;
		if (fn(arg, &row))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto dberr;
	sqlite3_finalize(q);
	return (int)(n > INT32_MAX ? INT32_MAX : n);
dberr:
	ret = log_error(-EIO, "rollup query: %s", sqlite3_errmsg(db));
	sqlite3_finalize(q);
	return ret;
}
