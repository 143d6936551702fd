/* The local history: SQLite in WAL mode. Samples (series, time in ms, value,
 * quality) are buffered in memory and committed in one transaction per
 * flush, as one compact commit-log record; each series' samples gather in
 * a compressed chunk (chunk.h) written once as one row when it closes
 * (docs/storage.md). Devices and metrics are rows of their own. Loop
 * thread only. */
#ifndef WARDGW_STORE_H
#define WARDGW_STORE_H

#include <stddef.h>
#include <stdint.h>

struct store;

enum quality { Q_GOOD = 0, Q_STALE = 1, Q_COMM_ERROR = 2, Q_OUT_OF_RANGE = 3 };
const char *quality_name(int q);

#define STORE_SCHEMA_VERSION 6

/* What the store costs, measured by `make bench` (BENCH_ONLY=history) and
 * used by `wardgw check` for the flash budget (docs/storage.md): bytes at
 * rest per sample (whole file), bytes written per sample and per commit at
 * steady state (WAL and checkpoints included), and per rollup row. */
#define STORE_EST_REST_BYTES 1.85
#define STORE_EST_WRITTEN_BYTES 21.5
#define STORE_EST_COMMIT_BYTES 1500.0
#define STORE_EST_ROLLUP_BYTES 38.3
/* ... and per hour or day row again in the rollup_series index */
#define STORE_EST_ROLLUP_INDEX_BYTES 54.0

/** The size (bytes) at which a chunk closes in a store of @nseries series:
 *  960, less for a large gateway, so that the open chunks stay within
 *  16 MiB together (docs/storage.md). */
size_t store_chunk_max_bytes(size_t nseries);

/** Open (creating and migrating) the database at @path. 0 or negative errno. */
int store_open(struct store **out, const char *path);
/**
 * Open an existing database for reading only (wardgw query, kpi, status...):
 * never creates, migrates or writes it, so it can run beside the gateway.
 * -ENOENT when there is no database yet, -EAGAIN when its schema is not the
 * one this wardgw reads. Errors are logged.
 */
int store_open_ro(struct store **out, const char *path);
/** Flush what is buffered, then close. */
void store_close(struct store *s);

/** The id of (device, metric), created on first use; unit is recorded. */
int store_series(struct store *s, const char *device, const char *metric,
		 const char *unit, int64_t *id);

/**
 * Buffer one sample; it is durable after the next store_flush(). When the
 * buffer is full (the disk refused several flushes) the oldest buffered
 * samples are dropped and counted. 0 or -ENOMEM.
 */
int store_append(struct store *s, int64_t series, int64_t ts_ms, double v, int quality);
/** Group many store_series() calls in one transaction (start-up). */
int store_begin(struct store *s);
int store_commit(struct store *s);

/** Commit buffered samples in one transaction. 0, or negative errno (kept for retry). */
int store_flush(struct store *s);
/* store_flush until the modules have written everything they hold
 * (the minute rollups spread a minute's rows over several flushes; at a
 * stop they go at once). */
int store_flush_all(struct store *s);
/* 1 inside store_flush_all: a module writes everything in this flush. */
int store_draining(const struct store *s);
/**
 * Whether a round of the rolling checkpoint (docs/storage.md) is under way:
 * 1, or 0; @cursor (may be NULL) gets the series id it has reached. Loop
 * thread; for tests and the status.
 */
int store_ckpt_round(const struct store *s, int64_t *cursor);
/* Times the store's thread has copied the WAL into the database. */
uint64_t store_wal_copies(struct store *s);
/**
 * Cap the database file at @max_bytes (0: no cap but the disk). When a
 * commit finds the database or the disk full, the oldest raw samples that
 * the minute rollups already hold are deleted early (and counted), and the
 * commit is tried again. 0 or negative errno.
 */
int store_set_limit(struct store *s, int64_t max_bytes);
/**
 * Apply retention early: delete the oldest closed chunks (only what the
 * minute rollups hold) until about @want bytes, plus what the store wrote
 * since the last call, less the room already free in the file, are free;
 * or when there are none, what the hooks give up. Samples (or rows)
 * deleted, 0 when nothing could go, or negative errno.
 */
int store_make_room(struct store *s, int64_t want);
/** Bytes of rows the store has written (log, chunks, heads), all time. */
uint64_t store_written(const struct store *s);
/** Raw samples deleted early because the store was full, all time. */
uint64_t store_pruned_early(const struct store *s);
/** Samples buffered, and dropped so far because the buffer overflowed. */
size_t store_pending(const struct store *s);
uint64_t store_dropped(const struct store *s);

/**
 * Delete the closed chunks whose every sample is older than @before_ms;
 * whatever order samples came in, none newer than the cut goes. One call
 * looks at a slice of the series (a few thousand) and deletes at most
 * @max_rows chunks, so that a call stays short at any size; the next call
 * goes on where it stopped. *@done is set to 1 when a call ends a pass
 * over every series (the next call starts another). Returns chunks
 * deleted or negative errno.
 */
int store_prune(struct store *s, int64_t before_ms, int max_rows, int *done);

typedef int (*store_row_fn)(void *arg, int64_t ts_ms, double v, int quality);
/**
 * Call @fn for each sample of device/metric in [from, to] in time order; a
 * non-zero return from @fn stops. -ENOENT when the series does not exist.
 */
int store_query(struct store *s, const char *device, const char *metric,
		int64_t from_ms, int64_t to_ms, store_row_fn fn, void *arg);
/** The same by series id; samples in range (>= 0) or negative errno. */
int store_query_id(struct store *s, int64_t series, int64_t from_ms, int64_t to_ms,
		   store_row_fn fn, void *arg);
/** Call @fn for every series (by device, then metric name) until it returns non-zero. 0 or negative errno. */
int store_each_series(struct store *s, int (*fn)(void *arg, int64_t id, const char *device,
						 const char *metric), void *arg);
/** The id of device/metric: 0, -ENOENT, or negative errno. */
int store_find_series(struct store *s, const char *device, const char *metric, int64_t *id);
/**
 * The newest non-NaN value of @series before @before_ms (the gateway's
 * store: closed chunks and the open chunk in memory). 0, -ENOENT, or
 * negative errno.
 */
int store_last_before(struct store *s, int64_t series, int64_t before_ms, double *v);

/* Other modules (the outbox, rollups, KPIs) write in the same transaction as
 * the samples, so one commit makes a poll's samples and what it queued for the
 * IOC durable together. */
struct sqlite3;
struct store_hook {
	int (*dirty)(void *arg);        /* has work: flush even without samples */
	int (*in_tx)(void *arg);        /* inside BEGIN..COMMIT; < 0 rolls back */
	void (*committed)(void *arg);   /* after COMMIT succeeded */
	void (*rolled_back)(void *arg); /* the transaction failed (may be NULL) */
	void *arg;
	/* the disk is full and the raw samples are gone: free what you can
	 * (rows deleted, 0 for none). Outside a transaction; may be NULL. */
	int (*make_room)(void *arg);
};
/** The database handle, for modules that keep tables in it. Loop thread. */
struct sqlite3 *store_db(struct store *s);
/** Run @h on every flush (at most STORE_MAX_HOOKS); @h is copied. */
int store_add_hook(struct store *s, const struct store_hook *h);
#define STORE_MAX_HOOKS 8
/** A counter or watermark that outlives restarts (table meta); @def when absent. */
int64_t store_meta_get(struct store *s, const char *key, int64_t def);
/** Set it; inside a hook's transaction it commits with the rest. 0 or negative errno. */
int store_meta_put(struct store *s, const char *key, int64_t v);
typedef int (*store_log_fn)(void *arg, int64_t series, int64_t ts, double v, int quality);
/**
 * Parse one commit log record (docs/storage.md) from the database: @fn for
 * each sample until it returns non-zero (that value is returned). 0, or
 * -EINVAL when the record is corrupt (never reads past @len).
 */
int store_log_walk(const uint8_t *p, size_t len, store_log_fn fn, void *arg);
/*
 * The commit log is the telemetry outbox (docs/storage.md, "The store as
 * the outbox"): each link keeps a cursor (the last record whose telemetry
 * its broker acknowledged) and the store keeps the records after the
 * lowest cursor, where a checkpoint would have deleted them.
 */
/** The record id the last commit wrote (0: none) and its bytes (valid until the next flush). */
int64_t store_log_last(const struct store *s, const uint8_t **p, size_t *len);
/** Checkpoints keep every record with an id above @keep_after (INT64_MAX: none). */
void store_log_hold(struct store *s, int64_t keep_after);
/** The first record after @after: 1 (@data malloc'd, the caller frees it), 0 none, or negative errno. */
int store_log_next(struct store *s, int64_t after, int64_t *id, uint8_t **data, size_t *len);
/** Records after @after: how many, their bytes, the newest id (@after when none). 0 or negative errno. */
int store_log_held(struct store *s, int64_t after, int64_t *records, int64_t *bytes, int64_t *last);
/** Forget all hooks (before their owners are freed). */
void store_clear_hooks(struct store *s);
/** Last SQLite error of the store's handle, as a negative errno. */
int store_errno(struct store *s);
/** Whether the last flush failed (disk full, read-only...), and why. */
int store_failing(const struct store *s, const char **why);

/** Unit recorded for a series, or NULL; valid until the next store call. */
const char *store_series_unit(struct store *s, const char *device, const char *metric);

#endif
