/* Rollups: per series, per minute (tier 0), hour (tier 1) and ward day
 * (tier 2, local midnight UTC+7): count, min, max, sum, last and, for
 * counters, the delta (resets and wrap-around never make it negative).
 * Minutes are accumulated in memory and written by the store's flush;
 * hours and days are computed from the tier below when they close. After a
 * restart the open minutes are rebuilt from the raw samples. Loop thread. */
#ifndef WARDGW_ROLLUP_H
#define WARDGW_ROLLUP_H

#include <stddef.h>
#include <stdint.h>

struct rollup;
struct store;

enum { TIER_MINUTE = 0, TIER_HOUR = 1, TIER_DAY = 2, NTIERS = 3 };

/** Tier lengths in ms; tier 2 windows start at ward midnight. */
extern const int64_t rollup_tier_ms[NTIERS];

/**
 * The increase of a counter from @prev to @cur. A decrease is a wrap when
 * @wrap > 0 and the counter was in the top half of its range (the increase
 * is then wrap - prev + cur), otherwise a reset to zero (the increase is cur).
 * Never negative.
 */
double counter_delta(double prev, double cur, double wrap);

/** Start of the window of length @len_ms containing @t_ms, aligned to ward midnight. */
int64_t ward_window_start(int64_t t_ms, int64_t len_ms);

/** @grace_ms: how late a sample may come for its minute (max timeout + margin). */
int rollup_new(struct rollup **out, struct store *st, int64_t grace_ms);
void rollup_free(struct rollup *r);
/** Register a series (start-up); returns its index for rollup_sample(). */
long rollup_add_series(struct rollup *r, int64_t series_id, int counter, double wrap);
/**
 * The index of a run of @n series already registered with these ids, in
 * this order (a device restarted by a reload: its open minutes and its
 * counters' last values go on), or -1 when there is none. Loop thread.
 */
long rollup_find_run(const struct rollup *r, const int64_t *ids, size_t n);
/** Rebuild open minutes and counters' last values from raw samples. */
int rollup_catch_up(struct rollup *r, int64_t now_ms);
void rollup_sample(struct rollup *r, size_t idx, int64_t ts_ms, double v);
/**
 * Close minutes that ended before @now_ms - grace; they are written by the
 * next flush. A wall clock that went back behind the closed minutes closes
 * nothing until it gets there again (logged once each way).
 */
void rollup_tick(struct rollup *r, int64_t now_ms);
/** Samples stamped in a minute already closed (late, or after a wall clock step back): kept raw only. */
uint64_t rollup_late(const struct rollup *r);
/** Every window of @tier that ends at or before this is written (committed). */
int64_t rollup_done(const struct rollup *r, int tier);
/** The same inside the open flush transaction (for later hooks). */
int64_t rollup_tx_done(const struct rollup *r, int tier);
/** Delete rollups of @tier older than @before_ms, oldest first, at most
 * @max_rows a call. Rows deleted or negative errno. */
int rollup_prune(struct rollup *r, int tier, int64_t before_ms, int max_rows);

/** One stored rollup window (NaN for a NULL). */
struct rollup_row {
	int64_t start;          /* the window's start, ms */
	int64_t count;
	double min, max, sum, last, delta;
};
typedef int (*rollup_row_fn)(void *arg, const struct rollup_row *row);
/**
 * The rows of @tier of @series whose window starts in [@from_ms, @to_ms),
 * oldest first, to @fn (non-zero stops). Read only (wardgw query --tier,
 * beside the gateway): one seek by primary key per window, so a year of
 * hours of one series costs 8,760 seeks whatever the number of series.
 * Rows given, or negative errno.
 */
int rollup_query(struct store *st, int64_t series, int tier, int64_t from_ms, int64_t to_ms,
		 rollup_row_fn fn, void *arg);

#endif
