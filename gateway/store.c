/* SQLite history: schema with migrations, samples in compressed per-series
 * chunks (chunk.c) written once when they close, the open chunks made
 * durable by a compact commit log replayed at start (docs/storage.md),
 * retention by whole chunks, queries. SQLite's errors are converted to
 * errno here and logged once with sqlite3_errmsg. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chunk.h"
#include "clock.h"
#include "log.h"

struct sample {
	int64_t series, ts;
	double v;
	int q;
};

/* One series' open chunk and where it stands in the commit log. */
struct shead {
	struct chunk_enc enc;   /* the open chunk (enc.n may be 0) */
	uint64_t seq0;          /* samples of the series before the open chunk */
	int64_t log_id;         /* its head row holds every sample of the log records up to this id */
	uint64_t logseq;        /* replay: the next log sample's number */
	int sticky;             /* integer mode of the last chunk, kept for the next */
	unsigned char escal;    /* chunks closed early to widen the mode */
	unsigned char dirty;    /* changed since the last checkpoint */
};

struct store {
	sqlite3 *db;
	char *path;
	int readonly;               /* store_open_ro(): never written */
	sqlite3_stmt *meta_get, *meta_put;
	sqlite3_stmt *find_dev, *add_dev, *find_ser, *add_ser, *query, *unit, *find_id;
	sqlite3_stmt *log_ins, *chunk_ins, *head_put, *chunks_in, *head_get, *log_all, *closed_since, *closed_one;
	sqlite3_stmt *log_max, *log_sizes, *chunk_max_id;
	struct shead *heads;        /* by series id */
	size_t nheads;
	int64_t max_series;         /* the largest series id seen */
	size_t chunk_max;           /* a chunk closes at this many bytes (store_chunk_max_bytes) */
	int need_reload;            /* a failed commit left the open chunks ahead of the database */
	uint8_t *logbuf;            /* the commit log record being built */
	size_t loglen, logcap;
	int64_t log_bytes;          /* commit log written since the last checkpoint */
	uint64_t written;           /* bytes of rows written (log, chunks, heads), all time */
	uint64_t written_at_room;   /* ... when room was last made */
	int64_t room_at;            /* monotonic s of that */
	int64_t ckpt_at;            /* monotonic s of the last checkpoint in a flush */
	uint64_t chunks_written;
	int64_t log_id;             /* the record the last commit wrote, 0 for none */
	int64_t walk_id;            /* replay: the id of the record being walked */
	int64_t log_low;            /* no record at or below this id but the newest (0: unknown) */
	struct ckround {            /* the rolling checkpoint (checkpoint_step) */
		int on;                 /* a round is under way */
		int restart;            /* a failed flush ended one: start again at once */
		size_t cursor;          /* the next series whose head it writes */
		int64_t r0;             /* the newest record when it started */
		int64_t chunk0;         /* the newest chunk when it started */
		int64_t bytes;          /* log bytes written after r0 */
		size_t per_flush;       /* heads written a flush (0: all at once) */
	} rnd;
	int64_t log_hold;           /* a checkpoint keeps the records after this id */
	sqlite3_stmt *log_next, *log_held;
	struct sample *buf;
	size_t head, len, cap;  /* ring buffer */
	uint64_t dropped;
	int failing;            /* commits fail: log the change, not every try */
	char fail_why[200];
	uint64_t pruned_early;  /* raw samples deleted early for room (persisted) */
	int64_t prune_next;     /* store_prune: the first series of its next slice */
	int64_t limit_bytes;    /* store.max_db_mb, 0: the disk is the limit */
	int fail_code;          /* SQLite's extended code of the failure described */
	int quiet_full;         /* a full store is about to make room: no alarm yet */
	int64_t room_logged;    /* monotonic s of the last "made room" warning */
	uint64_t room_unlogged; /* rows pruned early since that warning */
	char unit_buf[32];
	struct store_hook hooks[STORE_MAX_HOOKS];
	int nhooks;
	int draining;           /* store_flush_all */
	struct walcopy {        /* the WAL copied into the database off the loop */
		pthread_t th;
		pthread_mutex_t mu;
		pthread_cond_t cv;
		sqlite3 *db;            /* its own connection */
		int running, want, stop;
		int pages;              /* copy when the WAL holds this many pages */
		uint64_t copies;
	} wc;
};

/* Buffer this many samples at most while the disk refuses commits. */
#define STORE_BUF_MAX (1u << 20)

/* A chunk closes at whichever comes first: its bytes (four rows fill a
 * 4 KiB page), its samples, the time it spans (so retention by whole
 * chunks stays within 2 h of exact). */
#define CHUNK_MAX_BYTES 960
/* ... but the open chunks of a large gateway (50,000 series at 5,000
 * devices) stay within this much memory together: their size limit shrinks
 * to CHUNK_OPEN_BUDGET / series, not below CHUNK_MIN_BYTES (more rows and
 * index entries per sample, a little more at rest and written) */
#define CHUNK_OPEN_BUDGET (16u << 20)
#define CHUNK_MIN_BYTES 256
#define CHUNK_MAX_N 4096
#define CHUNK_MAX_SPAN_MS (2 * 3600 * 1000LL)
/* A checkpoint (every open chunk written, the log emptied) when the log
 * has grown to twice the open chunks' size, at least this. */
#define CKPT_MIN_BYTES (256 << 10)
/* ... and at least this often (s) while there is a log: a slow gateway's
 * replay and retention need not wait for the log to grow */
#define CKPT_MAX_S 3600
/* store_prune: series looked at in one call (a few ms on a cold cache) */
#define PRUNE_SLICE 500
/* A checkpoint is a round over the series that writes the changed heads of
 * this many a flush (docs/storage.md, "The rolling checkpoint"): 50,000
 * series (5,000 devices) in 25 flushes, 5 s at store.batch_ms 200, rather
 * than 8-12 MB in one commit; below this many changed heads a round is one
 * flush, as a checkpoint always was. */
#define CKPT_HEADS_PER_FLUSH 2000
/* The records a round leaves behind its mark are deleted about this many
 * bytes a flush (log_trim): deleting a round's log at once (16 MB at 5,000
 * devices) took 30-120 ms of one commit, about 7 us a KiB; a flush adds one
 * record (40 KB at 5,000 devices). Fewer, larger steps: each step rewrites
 * the log's and the freelist's pages once more. */
#define LOG_TRIM_BYTES (512 << 10)

/* The page size of a new database file, and the WAL's size at which
 * SQLite copies it into the database (set_wal_size). */
#define STORE_PAGE_SIZE_STR "1024"
#define STORE_WAL_BYTES (4LL << 20)

/* Each migration moves the schema from version i to i+1. */
static const char *const migrations[] = {
	"CREATE TABLE device (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
	"CREATE TABLE metric (id INTEGER PRIMARY KEY,"
	"  device_id INTEGER NOT NULL REFERENCES device(id),"
	"  name TEXT NOT NULL, unit TEXT, UNIQUE (device_id, name));"
	/* no primary key and one index: each index costs ~2.5 us per row
	 * here (FINDINGS.md: index design decides ingest speed). Rows are
	 * appended in time order, so retention walks rowids instead of
	 * keeping a second index on ts. */
	"CREATE TABLE sample (series INTEGER NOT NULL, ts INTEGER NOT NULL,"
	"  value REAL, quality INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX sample_series_ts ON sample (series, ts);",

	/* 2: what the IOC is owed (outbox), rollups, KPI windows, device
	 * state history, events, and a few counters that outlive restarts.
	 * AUTOINCREMENT: outbox ids never go back, even after the table
	 * empties, because delivery order and cursors rest on them. */
	"CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, lane INTEGER NOT NULL,"
	"  topic TEXT NOT NULL, payload BLOB NOT NULL, ts INTEGER NOT NULL);"
	"CREATE INDEX outbox_lane ON outbox (lane, id);"
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE rollup (tier INTEGER NOT NULL, series INTEGER NOT NULL, start INTEGER NOT NULL,"
	"  count INTEGER NOT NULL, min REAL, max REAL, sum REAL, last REAL, delta REAL,"
	"  PRIMARY KEY (tier, start, series)) WITHOUT ROWID;"
	"CREATE TABLE kpi_value (kpi TEXT NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL,"
	"  seq INTEGER NOT NULL, value REAL, n INTEGER NOT NULL, target REAL, op TEXT, status TEXT NOT NULL,"
	"  PRIMARY KEY (kpi, start)) WITHOUT ROWID;"
	"CREATE TABLE device_log (device TEXT NOT NULL, ts INTEGER NOT NULL, state TEXT NOT NULL, reason TEXT);"
	"CREATE INDEX device_log_dev_ts ON device_log (device, ts);"
	"CREATE TABLE event_log (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, kind TEXT NOT NULL,"
	"  subject TEXT NOT NULL, body TEXT NOT NULL);",

	/* 3 (lighting): overrides that outlive a restart, the audit of every
	 * command and schedule write, the ids of commands already seen (replay
	 * store, pruned past the timestamp window). */
	"CREATE TABLE light_override (id INTEGER PRIMARY KEY AUTOINCREMENT, scope TEXT NOT NULL,"
	"  name TEXT NOT NULL, level REAL NOT NULL, start INTEGER NOT NULL, expires INTEGER NOT NULL,"
	"  reason TEXT, cmd_id TEXT, created INTEGER NOT NULL);"
	"CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, source TEXT NOT NULL,"
	"  cmd_id TEXT, action TEXT, target TEXT, level REAL, verdict TEXT NOT NULL, reason TEXT, body TEXT);"
	"CREATE INDEX audit_ts ON audit (ts);"
	"CREATE TABLE cmd_seen (id TEXT PRIMARY KEY, ts INTEGER NOT NULL) WITHOUT ROWID;",

	/* 4 (lighting): lamp and cabinet alarms, raised and cleared, for the
	 * alarm history and the mean time to repair. */
	"CREATE TABLE alarm (id INTEGER PRIMARY KEY AUTOINCREMENT, device TEXT NOT NULL, alarm TEXT NOT NULL,"
	"  raised INTEGER NOT NULL, cleared INTEGER, lamps INTEGER NOT NULL DEFAULT 0, detail TEXT);"
	"CREATE INDEX alarm_open ON alarm (cleared, device);"
	"CREATE INDEX alarm_kind ON alarm (alarm, cleared);",

	/* 5: samples in compressed chunks (docs/storage.md). chunk: closed
	 * chunks, written once, with the series' sample count after them
	 * (seq; a replay finds the chunks closed since a checkpoint by id:
	 * ids are never reused because the newest chunk is never deleted, and
	 * SQLite gives max(id) + 1; AUTOINCREMENT would cost a page write per
	 * commit); head: the open chunk of each series as of the
	 * last checkpoint and the sample counts the log replay needs;
	 * headlog: one row per commit since that checkpoint. The rows of the
	 * old sample table are converted by convert_samples() in the same
	 * transaction. */
	"CREATE TABLE chunk (id INTEGER PRIMARY KEY, series INTEGER NOT NULL,"
	"  t0 INTEGER NOT NULL, t1 INTEGER NOT NULL, n INTEGER NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL);"
	"CREATE INDEX chunk_series ON chunk (series, t1);"
	"CREATE TABLE head (series INTEGER PRIMARY KEY, seq_ckpt INTEGER NOT NULL, seq0 INTEGER NOT NULL, data BLOB);"
	"CREATE TABLE headlog (id INTEGER PRIMARY KEY, data BLOB NOT NULL);",

	/* 6: the rolling checkpoint. head.log_id: the commit log record up to
	 * which the head row holds its series' samples (a head is written in
	 * a flush after that flush's record and its samples), so that a
	 * checkpoint can write the heads a few thousand a flush: a replay
	 * skips, per series, the records up to its log_id. 0: as of
	 * meta['store_ckpt_log'], what every head row of schema 5 means. */
	"ALTER TABLE head ADD COLUMN log_id INTEGER NOT NULL DEFAULT 0;",
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == STORE_SCHEMA_VERSION,
	       "a new migration needs STORE_SCHEMA_VERSION raised with it");

const char *quality_name(int q)
{
	switch (q) {
	case Q_GOOD: return "good";
	case Q_STALE: return "stale";
	case Q_COMM_ERROR: return "comm_error";
	case Q_OUT_OF_RANGE: return "out_of_range";
	default: return "unknown";
	}
}

static int db_err(struct store *s, const char *what)
{
	int code = sqlite3_errcode(s->db);
	int err = code == SQLITE_FULL ? -ENOSPC : code == SQLITE_BUSY || code == SQLITE_LOCKED ? -EBUSY :
		  code == SQLITE_READONLY ? -EROFS : code == SQLITE_NOMEM ? -ENOMEM : -EIO;
	if (s->quiet_full)      /* making room on a full disk: the caller reports */
		return err;
	return log_error(err, "store %s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

static int exec(struct store *s, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_err("store %s: %s", s->path, msg ? msg : "error");
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

static int schema_version(struct store *s);
static int convert_samples(struct store *s);

static int migrate(struct store *s)
{
	int version = 0, ret;
	int target = (int)(sizeof(migrations) / sizeof(migrations[0]));

	if ((version = schema_version(s)) < 0)
		return version;
	if (version > target)
		return log_error(-EPROTO, "store %s: schema version %d is newer than this wardgw knows (%d)",
				 s->path, version, target);
	for (; version < target; version++) {
		char pragma[64];
		if ((ret = exec(s, "BEGIN IMMEDIATE")) < 0)
			return ret;
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", version + 1);
		if (exec(s, migrations[version]) < 0 || (version + 1 == 5 && convert_samples(s) < 0) ||
		    exec(s, pragma) < 0) {
			exec(s, "ROLLBACK");
			return log_error(-EIO, "store %s: migration to schema %d failed", s->path, version + 1);
		}
		if ((ret = exec(s, "COMMIT")) < 0)
			return ret;
	}
	return 0;
}

/* Indexes that only speed reading up, created where missing (a file of
 * schema 5 made before them gets them at the next start; readers of any
 * version read it as before). rollup_series: the hourly and daily rollups
 * by series, covering, so that a year of one series' hours (rollup_query,
 * wardgw query --tier hour) reads a few hundred pages, not a row in each
 * of 8,760 pages among every series' rows; it costs a page write per
 * series per hour, and the hours' and days' bytes again at rest. */
static int ensure_indexes(struct store *s)
{
	sqlite3_stmt *st;
	int have, ret;

	if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'rollup_series'",
			       -1, &st, NULL) != SQLITE_OK)
		return db_err(s, "read the schema");
	have = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
	sqlite3_finalize(st);
	if (have)
		return 0;
	if (sqlite3_prepare_v2(s->db, "SELECT EXISTS (SELECT 1 FROM rollup WHERE tier > 0)", -1, &st, NULL) != SQLITE_OK)
		return db_err(s, "read the rollups");
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0))
		log_info("store %s: indexing the hourly and daily rollups by series (once)", s->path);
	sqlite3_finalize(st);
	if ((ret = exec(s, "CREATE INDEX IF NOT EXISTS rollup_series ON rollup"
			" (series, tier, start, count, min, max, sum, last, delta) WHERE tier > 0")) < 0)
		return ret;
	return 0;
}

static int prep(struct store *s, sqlite3_stmt **st, const char *sql)
{
	if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
		return db_err(s, "prepare");
	return 0;
}

/* The schema version of an open database; negative errno. */
static int schema_version(struct store *s)
{
	sqlite3_stmt *st;
	int version = 0;

	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return db_err(s, "read schema version");
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	else
		version = db_err(s, "read schema version");
	sqlite3_finalize(st);
	return version;
}

/* Write @e as a closed chunk of @series with @ins (series, t0, t1, n, seq,
 * data); @seq: the series' samples up to its end. */
static int write_chunk(struct store *s, sqlite3_stmt *ins, int64_t series, const struct chunk_enc *e, uint64_t seq)
{
	size_t len;
	const uint8_t *p = chunk_enc_data(e, &len);
	int rc;

	sqlite3_reset(ins);
	sqlite3_bind_int64(ins, 1, series);
	sqlite3_bind_int64(ins, 2, e->tmin);
	sqlite3_bind_int64(ins, 3, e->tmax);
	sqlite3_bind_int64(ins, 4, e->n);
	sqlite3_bind_int64(ins, 5, (int64_t)seq);
	sqlite3_bind_blob(ins, 6, p, (int)len, SQLITE_STATIC);
	rc = sqlite3_step(ins);
	sqlite3_reset(ins);
	if (rc != SQLITE_DONE)
		return db_err(s, "write chunk");
	s->written += len + 24;
	s->chunks_written++;
	return 0;
}

/* Whether @h's open chunk must close before (@ts, @v) joins it: full, too
 * long a span (a late batch or a clock step starts a chunk of its own), or
 * a value with more decimals than its mode codes (the series' mode widens,
 * at most 4 times, so a status word never churns). */
static int must_close(struct shead *h, int64_t ts, double v, size_t max_bytes)
{
	const struct chunk_enc *e = &h->enc;
	size_t len;
	int64_t lo, hi, i;

	if (!e->n)
		return 0;
	chunk_enc_data(e, &len);
	if (len >= max_bytes || e->n >= CHUNK_MAX_N)
		return 1;
	lo = ts < e->tmin ? ts : e->tmin;
	hi = ts > e->tmax ? ts : e->tmax;
	if ((uint64_t)hi - (uint64_t)lo > (uint64_t)CHUNK_MAX_SPAN_MS)
		return 1;
	if (e->mode != CHUNK_XOR && isfinite(v) && !chunk_mode_fits(e->mode, v, &i) && h->escal < 4) {
		int m = chunk_pick_mode(v, CHUNK_XOR);
		if (m != CHUNK_XOR && chunk_mode_places(m) > chunk_mode_places(e->mode)) {
			h->escal++;
			h->sticky = m;
			return 1;
		}
	}
	return 0;
}

static void start_chunk(struct shead *h, double v)
{
	int m = chunk_pick_mode(v, h->sticky);

	if (m != CHUNK_XOR)
		h->sticky = m;
	chunk_enc_reset(&h->enc, m);
}

/* Today's schema (4) kept one row per sample: put each series' rows into
 * chunks, oldest first, and drop the table. Inside the migration's
 * transaction, so a crash half-way leaves schema 4 untouched. */
static int convert_samples(struct store *s)
{
	sqlite3_stmt *rd = NULL, *ins = NULL, *cnt = NULL;
	struct shead h = { 0 };
	int64_t total = 0, done = 0, cur = INT64_MIN;
	int ret = 0, rc;

	if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM sample", -1, &cnt, NULL) != SQLITE_OK ||
	    sqlite3_step(cnt) != SQLITE_ROW) {
		ret = db_err(s, "count samples");
		goto out;
	}
	total = sqlite3_column_int64(cnt, 0);
	sqlite3_finalize(cnt);
	cnt = NULL;
	if (sqlite3_prepare_v2(s->db, "SELECT series, ts, value, quality FROM sample ORDER BY series, ts",
			       -1, &rd, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "INSERT INTO chunk (series, t0, t1, n, seq, data) VALUES (?,?,?,?,?,?)",
			       -1, &ins, NULL) != SQLITE_OK) {
		ret = db_err(s, "convert samples");
		goto out;
	}
	if (total)
		log_info("store %s: converting %lld samples to compressed chunks (schema 5)", s->path,
			 (long long)total);
	/* a progress line every 10 %, at most one per 100,000 samples */
	int64_t step = total / 10 > 100000 ? total / 10 : 100000;
	chunk_enc_init(&h.enc, CHUNK_XOR);
	while ((rc = sqlite3_step(rd)) == SQLITE_ROW) {
		int64_t series = sqlite3_column_int64(rd, 0), ts = sqlite3_column_int64(rd, 1);
		double v = sqlite3_column_type(rd, 2) == SQLITE_NULL ? NAN : sqlite3_column_double(rd, 2);
		int q = sqlite3_column_int(rd, 3);
		if (series != cur || must_close(&h, ts, v, CHUNK_MAX_BYTES)) {
			h.seq0 += h.enc.n;
			if (h.enc.n && (ret = write_chunk(s, ins, cur, &h.enc, h.seq0)) < 0)
				goto out;
			if (series != cur) {
				h.sticky = 0;
				h.escal = 0;
				h.seq0 = 0;
			}
			cur = series;
			start_chunk(&h, v);
		}
		if ((ret = chunk_enc_add(&h.enc, ts, v, q)) < 0)
			goto out;
		if (++done % step == 0)
			log_info("store %s: converted %lld of %lld samples (%lld %%)", s->path, (long long)done,
				 (long long)total, (long long)(done * 100 / total));
	}
	if (rc != SQLITE_DONE) {
		ret = db_err(s, "read samples");
		goto out;
	}
	if (h.enc.n && (ret = write_chunk(s, ins, cur, &h.enc, h.seq0 + h.enc.n)) < 0)
		goto out;
	sqlite3_finalize(rd);
	rd = NULL;
	if ((ret = exec(s, "DROP TABLE sample")) < 0)
		goto out;
	/* the converted chunks are no business of a replay */
	if ((ret = exec(s, "INSERT OR REPLACE INTO meta (key, value) VALUES ('store_ckpt_chunk',"
			" (SELECT coalesce(max(id), 0) FROM chunk))")) < 0)
		goto out;
	if (total)
		log_info("store %s: converted all %lld samples into %llu chunks", s->path, (long long)total,
			 (unsigned long long)s->chunks_written);
out:
	chunk_enc_release(&h.enc);
	sqlite3_finalize(cnt);
	sqlite3_finalize(rd);
	sqlite3_finalize(ins);
	return ret;
}

/* Switching to WAL needs a moment alone with the file; a reader that
 * opened it at the same instant (wardgw query while the gateway starts)
 * can make SQLite answer "locked" without waiting, so try for a while. */
static int set_wal(struct store *s)
{
	for (int tries = 0;; tries++) {
		char *msg = NULL;
		int rc = sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, &msg);
		if (rc == SQLITE_OK)
			return 0;
		if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || tries >= 50) {
			log_err("store %s: set WAL mode: %s", s->path, msg ? msg : sqlite3_errstr(rc));
			sqlite3_free(msg);
			return rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? -EBUSY : -EIO;
		}
		sqlite3_free(msg);
		sqlite3_sleep(100);
	}
}

/* The WAL is copied into the database (SQLite's checkpoint) when it holds
 * STORE_WAL_BYTES, whatever the page size: 4 MiB, SQLite's default at 4 KiB
 * pages, so that a page written by many commits is copied once, and a
 * power cut (the WAL is synced at that copy) risks no more than before.
 * The copy (and its two fsyncs) is not done by the commit that fills the
 * WAL, on the loop, as SQLite's automatic checkpoint would, but by a
 * thread of the store's own with a connection of its own
 * (PRAGMA wal_checkpoint(PASSIVE): it never waits for the writer nor makes
 * it wait); the writer's automatic checkpoint is off. Should the thread
 * not start, SQLite's automatic checkpoint does it, as before. */
static void *walcopy_main(void *arg)
{
	struct store *s = arg;
	struct walcopy *w = &s->wc;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->want && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->stop)
			break;
		w->want = 0;
		pthread_mutex_unlock(&w->mu);
		int nlog = 0, ncopied = 0;
		int rc = sqlite3_wal_checkpoint_v2(w->db, "main", SQLITE_CHECKPOINT_PASSIVE, &nlog, &ncopied);
		if (rc != SQLITE_OK && rc != SQLITE_BUSY)
			log_warn("store %s: copy the WAL into the database: %s", s->path, sqlite3_errmsg(w->db));
		pthread_mutex_lock(&w->mu);
		w->copies++;
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* After each commit (SQLite's WAL hook, on the loop): wake the copier when
 * the WAL holds enough pages. The WAL starts over only when a commit
 * begins with all of it copied; should the thread never catch up (a disk
 * slower than the commits), the commit copies it, as SQLite's automatic
 * checkpoint did, at WALCOPY_LOOP_AT times the size. */
#define WALCOPY_LOOP_AT 8

static int walcopy_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct walcopy *w = arg;

	if (pages >= WALCOPY_LOOP_AT * w->pages) {
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		return SQLITE_OK;
	}
	if (pages >= w->pages) {
		pthread_mutex_lock(&w->mu);
		w->want = 1;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
	}
	return SQLITE_OK;
}

static void walcopy_stop(struct store *s)
{
	struct walcopy *w = &s->wc;

	if (w->running) {
		pthread_mutex_lock(&w->mu);
		w->stop = 1;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->th, NULL);
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		w->running = 0;
		if (s->db)
			sqlite3_wal_hook(s->db, NULL, NULL);
	}
	if (w->db) {
		sqlite3_close(w->db);
		w->db = NULL;
	}
}

/* 0 when the thread copies the WAL, < 0 when SQLite must (the caller
 * leaves the automatic checkpoint on). */
static int walcopy_start(struct store *s, int pages)
{
	struct walcopy *w = &s->wc;

	/* a connection that has read nothing has not opened the WAL yet: its
	 * checkpoint would copy nothing (and say -1 frames) */
	if (sqlite3_open_v2(s->path, &w->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK ||
	    sqlite3_exec(w->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	if (pthread_mutex_init(&w->mu, NULL) != 0)
		goto fail;
	if (pthread_cond_init(&w->cv, NULL) != 0) {
		pthread_mutex_destroy(&w->mu);
		goto fail;
	}
	w->pages = pages;
	if (pthread_create(&w->th, NULL, walcopy_main, s) != 0) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		goto fail;
	}
	w->running = 1;
	sqlite3_wal_hook(s->db, walcopy_hook, w);   /* replaces the automatic checkpoint */
	return 0;
fail:
	log_warn("store %s: no thread to copy the WAL (%s): SQLite copies it at commits",
		 s->path, w->db ? sqlite3_errmsg(w->db) : "out of memory");
	if (w->db) {
		sqlite3_close(w->db);
		w->db = NULL;
	}
	return -1;
}

static int set_wal_size(struct store *s)
{
	sqlite3_stmt *st;
	int64_t page = 4096;
	char sql[64];

	if (sqlite3_prepare_v2(s->db, "PRAGMA page_size", -1, &st, NULL) != SQLITE_OK)
		return db_err(s, "read the page size");
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0)
		page = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (!getenv("WARDGW_STORE_WAL_ON_LOOP") && walcopy_start(s, (int)(STORE_WAL_BYTES / page)) == 0)
		return 0;
	snprintf(sql, sizeof(sql), "PRAGMA wal_autocheckpoint = %lld", (long long)(STORE_WAL_BYTES / page));
	return exec(s, sql);
}

/* ---- the commit log: one record per commit, the samples it committed ---- */

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t r = 0;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (*p >= end)
			return -EINVAL;
		uint8_t b = *(*p)++;
		r |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = r;
			return 0;
		}
	}
	return -EINVAL;
}

static uint64_t zz(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)-(int64_t)((uint64_t)v >> 63);
}

static int64_t unzz(uint64_t z)
{
	return (int64_t)((z >> 1) ^ (uint64_t)-(int64_t)(z & 1));
}

/* A record: a version byte (1), varint count, then per sample a varint
 * head: the series' difference from the sample before's, less one,
 * zig-zagged, shifted left 2, | 2 when the time changed, | 1 when the
 * quality is not good; then the time's difference (zig-zag varint) and
 * the quality byte when flagged; then the value as a tag (low 3 bits: 0 raw
 * double follows, 1..5 an integer with 0..4 decimals scaled like the
 * chunk's "mul" modes, 6 NaN; the integer in the high bits). A poll's
 * metrics (next series, same time, good) cost one byte plus the value. */
#define LOG_VERSION 1
static int log_build(struct store *s)
{
	int64_t pseries = 0, pts = 0;
	size_t need = 10 + s->len * 40;

	if (need > s->logcap) {
		uint8_t *nb = realloc(s->logbuf, need);
		if (!nb)
			return -ENOMEM;
		s->logbuf = nb;
		s->logcap = need;
	}
	uint8_t *p = s->logbuf;
	size_t n = 0;
	p[n++] = LOG_VERSION;
	n += put_varint(p + n, s->len);
	for (size_t i = 0; i < s->len; i++) {
		const struct sample *e = &s->buf[(s->head + i) % s->cap];
		int64_t iv;
		int kind = 0;
		uint64_t h = zz((int64_t)((uint64_t)e->series - (uint64_t)pseries - 1)) << 2;
		h |= (e->ts != pts) << 1 | (e->q != 0);
		n += put_varint(p + n, h);
		if (e->ts != pts)
			n += put_varint(p + n, zz((int64_t)((uint64_t)e->ts - (uint64_t)pts)));
		if (e->q)
			p[n++] = (uint8_t)e->q;
		pseries = e->series;
		pts = e->ts;
		if (isnan(e->v))
			kind = 6;
		else if (chunk_mode_fits(CHUNK_INT, e->v, &iv))
			kind = 1;
		else
			for (int k = 0; k < 4 && !kind; k++)
				if (chunk_mode_fits(CHUNK_MUL1 + k, e->v, &iv))
					kind = 2 + k;
		if (kind == 6) {
			p[n++] = 6;
		} else if (kind) {
			n += put_varint(p + n, zz(iv) << 3 | (uint64_t)kind);
		} else {
			uint64_t b;
			memcpy(&b, &e->v, sizeof(b));
			p[n++] = 0;
			for (int k = 0; k < 8; k++)
				p[n++] = (uint8_t)(b >> (8 * k));
		}
	}
	s->loglen = n;
	return 0;
}

typedef store_log_fn log_fn;

int store_log_walk(const uint8_t *p, size_t len, store_log_fn fn, void *arg)
{
	const uint8_t *end = p + len;
	uint64_t count, x, h;
	int64_t series = 0, ts = 0;
	int ret;

	if (!p || len < 1 || *p++ != LOG_VERSION || get_varint(&p, end, &count) < 0)
		return -EINVAL;
	for (uint64_t i = 0; i < count; i++) {
		double v;
		int q = 0;
		if (get_varint(&p, end, &h) < 0)
			return -EINVAL;
		series = (int64_t)((uint64_t)series + (uint64_t)unzz(h >> 2) + 1);
		if (h & 2) {
			if (get_varint(&p, end, &x) < 0)
				return -EINVAL;
			ts = (int64_t)((uint64_t)ts + (uint64_t)unzz(x));
		}
		if (h & 1) {
			if (p >= end)
				return -EINVAL;
			q = *p++;
		}
		if (get_varint(&p, end, &x) < 0)
			return -EINVAL;
		int kind = (int)(x & 7);
		if (kind == 6) {
			v = NAN;
		} else if (kind >= 1 && kind <= 5) {
			int64_t iv = unzz(x >> 3);
			v = kind == 1 ? (double)iv : (double)iv * (kind == 2 ? 0.1 : kind == 3 ? 0.01 : kind == 4 ? 0.001 : 0.0001);
		} else if (kind == 0 && x == 0) {
			uint64_t b = 0;
			if (end - p < 8)
				return -EINVAL;
			for (int k = 0; k < 8; k++)
				b |= (uint64_t)p[k] << (8 * k);
			p += 8;
			memcpy(&v, &b, sizeof(v));
		} else {
			return -EINVAL;
		}
		if ((ret = fn(arg, series, ts, v, q)) != 0)
			return ret;
	}
	return 0;
}

/* ---- open chunks ---- */

size_t store_chunk_max_bytes(size_t nseries)
{
	size_t b = nseries ? CHUNK_OPEN_BUDGET / nseries : CHUNK_MAX_BYTES;

	return b > CHUNK_MAX_BYTES ? CHUNK_MAX_BYTES : b < CHUNK_MIN_BYTES ? CHUNK_MIN_BYTES : b;
}

static struct shead *head_get(struct store *s, int64_t series)
{
	if (series < 0 || series > (1LL << 30))
		return NULL;
	if (series > s->max_series) {
		s->max_series = series;
		s->chunk_max = store_chunk_max_bytes((size_t)series);
	}
	if ((size_t)series >= s->nheads) {
		/* a quarter more than needed, not the next power of two:
		 * 50,000 series are 7 MB of these */
		size_t n = (size_t)series + (size_t)series / 4 + 64;
		struct shead *nh = realloc(s->heads, n * sizeof(*nh));
		if (!nh)
			return NULL;
		memset(nh + s->nheads, 0, (n - s->nheads) * sizeof(*nh));
		for (size_t i = s->nheads; i < n; i++)
			nh[i].enc.lead = 64;
		s->heads = nh;
		s->nheads = n;
	}
	return &s->heads[series];
}

static void heads_free(struct store *s)
{
	for (size_t i = 0; i < s->nheads; i++)
		chunk_enc_release(&s->heads[i].enc);
	free(s->heads);
	s->heads = NULL;
	s->nheads = 0;
}

/* Write @h's head row: what a replay needs to resume it; @h->log_id is
 * the newest record whose samples it holds. */
static int head_write(struct store *s, int64_t series, struct shead *h)
{
	size_t len;
	const uint8_t *p = chunk_enc_data(&h->enc, &len);
	int rc;

	sqlite3_reset(s->head_put);
	sqlite3_bind_int64(s->head_put, 1, series);
	/* samples up to its end: a replay numbers the log's after @log_id from there */
	sqlite3_bind_int64(s->head_put, 2, (int64_t)(h->seq0 + h->enc.n));
	sqlite3_bind_int64(s->head_put, 3, (int64_t)h->seq0);
	if (h->enc.n)
		sqlite3_bind_blob(s->head_put, 4, p, (int)len, SQLITE_STATIC);
	else
		sqlite3_bind_null(s->head_put, 4);
	sqlite3_bind_int64(s->head_put, 5, h->log_id);
	rc = sqlite3_step(s->head_put);
	sqlite3_reset(s->head_put);
	if (rc != SQLITE_DONE)
		return db_err(s, "write head");
	s->written += (h->enc.n ? len : 0) + 24;
	return 0;
}

/* One sample into its series' open chunk; a chunk that closes is written
 * (inside the caller's transaction). */
static int head_add(struct store *s, int64_t series, int64_t ts, double v, int q)
{
	struct shead *h = head_get(s, series);
	int ret;

	if (!h)
		return -ENOMEM;
	if (must_close(h, ts, v, s->chunk_max)) {
		/* the chunk's seq tells a replay these samples are in it */
		if ((ret = write_chunk(s, s->chunk_ins, series, &h->enc, h->seq0 + h->enc.n)) < 0)
			return ret;
		h->seq0 += h->enc.n;
		h->enc.n = 0;
	}
	if (!h->enc.n)
		start_chunk(h, v);
	if ((ret = chunk_enc_add(&h->enc, ts, v, q)) < 0)
		return ret;
	h->dirty = 1;
	return 0;
}

/* One value of @st (max(id) of a table). 0 or negative errno. */
static int query_int(struct store *s, sqlite3_stmt *st, int64_t *v)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		*v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : db_err(s, "read the newest id");
}

/* Series @i's head row, when its open chunk changed since it was last
 * written: it holds every sample of the log records up to @upto (the
 * newest, whose samples head_add has taken). 1 written, 0 not, or
 * negative errno. */
static int head_flush(struct store *s, size_t i, int64_t upto)
{
	struct shead *h = &s->heads[i];
	int ret;

	if (!h->dirty)
		return 0;
	h->log_id = upto;
	if ((ret = head_write(s, (int64_t)i, h)) < 0)
		return ret;
	h->dirty = 0;
	return 1;
}

/* The checkpoint's mark: a replay reads the log after @upto and the chunks
 * after @chunk. With @trim_all, the records up to @upto go at once, but not
 * those a link still owes its broker (store_log_hold), nor the newest, so
 * that record ids never come back (SQLite gives max(id) + 1); otherwise
 * log_trim deletes them a few a flush. */
static int ckpt_mark(struct store *s, int64_t upto, int64_t chunk, int trim_all)
{
	char sql[400];

	if (trim_all) {
		snprintf(sql, sizeof(sql), "DELETE FROM headlog WHERE id <= %lld AND id < (SELECT max(id) FROM headlog)",
			 (long long)(upto < s->log_hold ? upto : s->log_hold));
		if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
			return db_err(s, "empty the commit log");
	}
	snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO meta (key, value) VALUES ('store_ckpt_log', %lld);"
		 "INSERT OR REPLACE INTO meta (key, value) VALUES ('store_ckpt_chunk', %lld)",
		 (long long)upto, (long long)chunk);
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_err(s, "mark the checkpoint");
	return 0;
}

/* Delete the oldest records behind the mark that no link owes its broker
 * (never the newest), about LOG_TRIM_BYTES of them (at least one). Inside
 * the flush's transaction: the mark read here is the one this commit makes
 * durable. 0 or negative errno. */
static int log_trim(struct store *s)
{
	int64_t bound = store_meta_get(s, "store_ckpt_log", 0), cut = s->log_low, bytes = 0;
	char sql[160];
	int rc = SQLITE_DONE;

	if (bound > s->log_hold)
		bound = s->log_hold;
	if (bound <= s->log_low)
		return 0;
	sqlite3_reset(s->log_sizes);
	sqlite3_bind_int64(s->log_sizes, 1, s->log_low);
	while (bytes < LOG_TRIM_BYTES && (rc = sqlite3_step(s->log_sizes)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(s->log_sizes, 0);
		if (id > bound) {
			rc = SQLITE_DONE;
			break;
		}
		cut = id;
		bytes += sqlite3_column_int64(s->log_sizes, 1);
	}
	sqlite3_reset(s->log_sizes);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_err(s, "size the commit log");
	if (bytes < LOG_TRIM_BYTES)
		cut = bound;    /* nothing else up to the bound */
	if (bytes > 0) {
		snprintf(sql, sizeof(sql), "DELETE FROM headlog WHERE id <= %lld AND id < (SELECT max(id) FROM headlog)",
			 (long long)cut);
		if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
			return db_err(s, "trim the commit log");
	}
	s->log_low = cut;
	return 0;
}

/* Every open chunk that changed into its head row at once, the log
 * emptied (a clean stop, the open, a full disk, retention): ends a round
 * under way. */
static int checkpoint(struct store *s)
{
	int64_t upto = 0, chunk = 0;
	int ret;

	if ((ret = query_int(s, s->log_max, &upto)) < 0 || (ret = query_int(s, s->chunk_max_id, &chunk)) < 0)
		return ret;
	for (size_t i = 0; i < s->nheads; i++)
		if ((ret = head_flush(s, i, upto)) < 0)
			return ret;
	if ((ret = ckpt_mark(s, upto, chunk, 1)) < 0)
		return ret;
	s->log_bytes = 0;
	s->rnd.on = s->rnd.restart = 0;
	return 0;
}

/* One flush's part of a rolling checkpoint (docs/storage.md): the changed
 * heads of the next series, rnd.per_flush of them (all of them when
 * draining). A round starts with the newest record, r0, and the newest
 * chunk; once it has passed every series, each head holds its samples up
 * to r0 at least (written after r0 in this round, or unchanged since a
 * write that held all of them), so the log goes up to r0, and every chunk
 * up to the newest at the start closed before a head that follows it was
 * written. A crash before that leaves the previous mark: the replay starts
 * there and skips, series by series, what each head holds. 1 when the
 * round is complete (the caller ends it once committed), 0, or negative
 * errno. */
static int checkpoint_step(struct store *s)
{
	struct ckround *r = &s->rnd;
	size_t quota = s->draining ? SIZE_MAX : r->per_flush;
	size_t end = (size_t)s->max_series + 1 < s->nheads ? (size_t)s->max_series + 1 : s->nheads;
	int64_t upto = 0;
	int ret;

	if ((ret = query_int(s, s->log_max, &upto)) < 0)
		return ret;
	if (!r->on) {
		if ((ret = query_int(s, s->chunk_max_id, &r->chunk0)) < 0)
			return ret;
		r->on = 1;
		r->restart = 0;
		r->cursor = 0;
		r->r0 = upto;
		r->bytes = 0;
	}
	for (; r->cursor < end && quota; r->cursor++) {
		if ((ret = head_flush(s, r->cursor, upto)) < 0)
			return ret;
		quota -= (size_t)ret;
	}
	if (r->cursor < end)
		return 0;
	if ((ret = ckpt_mark(s, r->r0, r->chunk0, 0)) < 0)
		return ret;
	return 1;
}

static int replay_one(void *arg, int64_t series, int64_t ts, double v, int q)
{
	struct store *s = arg;
	struct shead *h = head_get(s, series);

	if (!h)
		return -ENOMEM;
	/* in its head row (written after this record in a rolling round),
	 * not numbered: the head's count starts after it */
	if (s->walk_id <= h->log_id)
		return 0;
	/* the next checkpoint must renumber this series, even when all its
	 * logged samples are in chunks already */
	h->dirty = 1;
	/* already in a chunk closed since the checkpoint, or in the head */
	if (h->logseq++ < h->seq0 + h->enc.n)
		return 0;
	return head_add(s, series, ts, v, q);
}

/* Rebuild the open chunks from the database: the head rows, then the
 * commit log after them; with @ckpt, then a checkpoint so the log starts
 * empty. Inside a transaction. Log samples read, or negative errno. */
static int heads_load(struct store *s, int ckpt)
{
	int64_t n = 0;
	int rc, ret = 0;

	heads_free(s);
	s->log_bytes = 0;
	sqlite3_reset(s->head_get);
	sqlite3_bind_int64(s->head_get, 1, INT64_MIN);
	sqlite3_bind_int64(s->head_get, 2, INT64_MAX);
	while ((rc = sqlite3_step(s->head_get)) == SQLITE_ROW) {
		int64_t series = sqlite3_column_int64(s->head_get, 0);
		struct shead *h = head_get(s, series);
		struct chunk_dec d;
		int64_t ts;
		double v;
		int q, r;
		if (!h) {
			ret = -ENOMEM;
			break;
		}
		h->logseq = (uint64_t)sqlite3_column_int64(s->head_get, 1);
		h->seq0 = (uint64_t)sqlite3_column_int64(s->head_get, 2);
		h->log_id = sqlite3_column_int64(s->head_get, 4);
		if (sqlite3_column_type(s->head_get, 3) == SQLITE_NULL)
			continue;
		if (chunk_dec_init(&d, sqlite3_column_blob(s->head_get, 3),
				   (size_t)sqlite3_column_bytes(s->head_get, 3)) < 0) {
			log_err("store %s: the open chunk of series %lld is unreadable; its samples are lost",
				s->path, (long long)series);
			h->seq0 = h->logseq;
			continue;
		}
		chunk_enc_reset(&h->enc, d.mode);
		while ((r = chunk_dec_next(&d, &ts, &v, &q)) == 1)
			if ((ret = chunk_enc_add(&h->enc, ts, v, q)) < 0)
				break;
		if (ret < 0)
			break;
		if (r < 0)
			log_err("store %s: the open chunk of series %lld is cut short", s->path, (long long)series);
		if (d.mode != CHUNK_XOR)
			h->sticky = d.mode;
	}
	sqlite3_reset(s->head_get);
	if (ret < 0)
		return ret;
	if (rc != SQLITE_DONE)
		return db_err(s, "read heads");
	/* chunks closed since the checkpoint hold the head's samples and
	 * some of the log's: start each such series after its last one */
	sqlite3_reset(s->closed_since);
	sqlite3_bind_int64(s->closed_since, 1, store_meta_get(s, "store_ckpt_chunk", 0));
	while ((rc = sqlite3_step(s->closed_since)) == SQLITE_ROW) {
		struct shead *h = head_get(s, sqlite3_column_int64(s->closed_since, 0));
		uint64_t seq = (uint64_t)sqlite3_column_int64(s->closed_since, 1);
		if (!h) {
			ret = -ENOMEM;
			break;
		}
		if (seq > h->seq0) {
			h->seq0 = seq;
			chunk_enc_reset(&h->enc, h->enc.mode);
		}
	}
	sqlite3_reset(s->closed_since);
	if (ret < 0)
		return ret;
	if (rc != SQLITE_DONE)
		return db_err(s, "read closed chunks");
	sqlite3_reset(s->log_all);
	sqlite3_bind_int64(s->log_all, 1, store_meta_get(s, "store_ckpt_log", 0));
	while ((rc = sqlite3_step(s->log_all)) == SQLITE_ROW) {
		const uint8_t *p = sqlite3_column_blob(s->log_all, 1);
		size_t len = (size_t)sqlite3_column_bytes(s->log_all, 1);
		uint64_t cnt;
		s->walk_id = sqlite3_column_int64(s->log_all, 0);
		const uint8_t *q = p ? p + 1 : NULL;
		if (p && len > 1 && get_varint(&q, p + len, &cnt) == 0)
			n += (int64_t)cnt;
		s->log_bytes += (int64_t)len;
		if ((ret = store_log_walk(p, len, replay_one, s)) < 0) {
			if (ret != -EINVAL)
				break;
			log_err("store %s: a commit log record is corrupt; replayed what came before", s->path);
			ret = 0;
		}
	}
	sqlite3_reset(s->log_all);
	if (ret < 0)
		return ret;
	if (rc != SQLITE_DONE)
		return db_err(s, "read the commit log");
	if (ckpt && (ret = checkpoint(s)) < 0)
		return ret;
	s->need_reload = 0;
	return (int)(n > INT32_MAX ? INT32_MAX : n);
}

static int open_db(struct store **out, const char *path, int readonly)
{
	struct store *s = calloc(1, sizeof(*s));
	int ret;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->path = strdup(path);
	s->readonly = readonly;
	s->log_hold = INT64_MAX;
	s->chunk_max = CHUNK_MAX_BYTES;
	s->rnd.per_flush = CKPT_HEADS_PER_FLUSH;
	/* heads a checkpoint writes a flush, 0 all at once (benchmarks and
	 * tests compare) */
	const char *env = getenv("WARDGW_STORE_CKPT_HEADS");
	if (env && *env) {
		char *end;
		errno = 0;
		long v = strtol(env, &end, 10);
		if (errno || *end || v < 0 || v > 100000000)
			log_warn("store %s: WARDGW_STORE_CKPT_HEADS must be 0..100000000 (got '%s'); using %d",
				 path, env, CKPT_HEADS_PER_FLUSH);
		else
			s->rnd.per_flush = (size_t)v;
	}
	if (readonly && access(path, F_OK) < 0) {
		ret = log_error(-ENOENT, "store %s: no database yet (the gateway creates it when it first runs)", path);
		goto fail;
	}
	if (sqlite3_open_v2(path, &s->db, readonly ? SQLITE_OPEN_READONLY :
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		ret = s->db ? db_err(s, "open") : -ENOMEM;
		goto fail;
	}
	sqlite3_busy_timeout(s->db, 2000);
	if (readonly) {
		/* a reader never creates or migrates: that is the gateway's */
		if ((ret = schema_version(s)) < 0)
			goto fail;
		int target = (int)(sizeof(migrations) / sizeof(migrations[0]));
		if (ret != target) {
			ret = log_error(-EAGAIN, "store %s: schema version %d, this wardgw reads %d%s", path, ret,
					target, ret < target ?
					" (start the gateway once to create or upgrade it)" : "");
			goto fail;
		}
		/* pages read through a mapping, not a read() each: a year of
		 * one series' hourly rollups is 8,760 seeks (rollup_query) */
		if ((ret = exec(s, "PRAGMA mmap_size = 268435456")) < 0)
			goto fail;
	} else {
		/* 1 KiB pages for a new file (an existing one keeps its own):
		 * each commit rewrites a few pages that its samples only touch
		 * (page 1, the freelist, a leaf of the chunk index per chunk
		 * that closes), and SQLite writes whole pages to the WAL and
		 * again at its checkpoint; 4 KiB pages cost 31-39 bytes written
		 * per sample, 1 KiB 22-24 (docs/storage.md, bench-history) */
		if ((ret = exec(s, "PRAGMA page_size = " STORE_PAGE_SIZE_STR)) < 0)
			goto fail;
		/* WAL with synchronous=NORMAL: a commit survives a crash of the
		 * process; a power cut loses at most the last commits */
		if ((ret = set_wal(s)) < 0)
			goto fail;
		if ((ret = set_wal_size(s)) < 0)
			goto fail;
		if ((ret = migrate(s)) < 0)
			goto fail;
		if ((ret = ensure_indexes(s)) < 0)
			goto fail;
	}
	if ((ret = prep(s, &s->find_dev, "SELECT id FROM device WHERE name = ?")) ||
	    (ret = prep(s, &s->add_dev, "INSERT INTO device (name) VALUES (?)")) ||
	    (ret = prep(s, &s->find_ser, "SELECT id FROM metric WHERE device_id = ? AND name = ?")) ||
	    (ret = prep(s, &s->add_ser, "INSERT INTO metric (device_id, name, unit) VALUES (?,?,?)")) ||
	    (ret = prep(s, &s->meta_get, "SELECT value FROM meta WHERE key = ?")) ||
	    (ret = prep(s, &s->meta_put, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)")) ||
	    (ret = prep(s, &s->find_id, "SELECT m.id FROM metric m JOIN device d ON d.id = m.device_id"
			" WHERE d.name = ? AND m.name = ?")) ||
	    (ret = prep(s, &s->unit, "SELECT m.unit FROM metric m JOIN device d ON d.id = m.device_id"
			" WHERE d.name = ? AND m.name = ?")) ||
	    (ret = prep(s, &s->log_ins, "INSERT INTO headlog (data) VALUES (?)")) ||
	    (ret = prep(s, &s->chunk_ins, "INSERT INTO chunk (series, t0, t1, n, seq, data) VALUES (?,?,?,?,?,?)")) ||
	    /* by id (the rowid), not through chunk_series: that would read
	     * every chunk of a large history at each start */
	    (ret = prep(s, &s->closed_since, "SELECT series, max(seq) FROM chunk NOT INDEXED WHERE id > ? GROUP BY series")) ||
	    (ret = prep(s, &s->closed_one, "SELECT max(seq) FROM chunk WHERE series = ? AND id > ?")) ||
	    (ret = prep(s, &s->head_put, "INSERT OR REPLACE INTO head (series, seq_ckpt, seq0, data, log_id)"
			" VALUES (?,?,?,?,?)")) ||
	    (ret = prep(s, &s->head_get, "SELECT series, seq_ckpt, seq0, data, log_id FROM head WHERE series BETWEEN ? AND ?")) ||
	    (ret = prep(s, &s->log_all, "SELECT id, data FROM headlog WHERE id > ? ORDER BY id")) ||
	    (ret = prep(s, &s->log_max, "SELECT coalesce(max(id), 0) FROM headlog")) ||
	    (ret = prep(s, &s->log_sizes, "SELECT id, length(data) FROM headlog WHERE id > ? ORDER BY id")) ||
	    (ret = prep(s, &s->chunk_max_id, "SELECT coalesce(max(id), 0) FROM chunk")) ||
	    (ret = prep(s, &s->log_next, "SELECT id, data FROM headlog WHERE id > ? ORDER BY id LIMIT 1")) ||
	    (ret = prep(s, &s->log_held, "SELECT count(*), coalesce(sum(length(data)), 0), coalesce(max(id), 0)"
			" FROM headlog WHERE id > ?")) ||
	    (ret = prep(s, &s->chunks_in, "SELECT data FROM chunk WHERE series = ? AND t1 >= ? AND t0 <= ?")))
		goto fail;
	if (!readonly) {
		/* the records the links still owe their brokers (outbox.c keeps
		 * its cursors in meta as outbox_tcur:<link>) survive the
		 * checkpoint below; the outbox sets the hold from then on */
		sqlite3_stmt *h;
		if (sqlite3_prepare_v2(s->db, "SELECT min(value) FROM meta WHERE key LIKE 'outbox_tcur:%'",
				       -1, &h, NULL) == SQLITE_OK) {
			if (sqlite3_step(h) == SQLITE_ROW && sqlite3_column_type(h, 0) != SQLITE_NULL)
				s->log_hold = sqlite3_column_int64(h, 0);
			sqlite3_finalize(h);
		}
		if ((ret = exec(s, "BEGIN IMMEDIATE")) < 0)
			goto fail;
		if ((ret = heads_load(s, 1)) < 0 || (ret = exec(s, "COMMIT")) < 0) {
			exec(s, "ROLLBACK");
			goto fail;
		}
		if (ret > 0)
			log_info("store %s: replayed %d samples from the commit log", path, ret);
	}
	s->pruned_early = (uint64_t)store_meta_get(s, "store_pruned_early", 0);
	s->ckpt_at = mono_ms() / 1000;  /* the open just checkpointed */
	*out = s;
	return 0;
fail:
	store_close(s);
	return ret;
}

int store_open(struct store **out, const char *path)
{
	return open_db(out, path, 0);
}

int store_open_ro(struct store **out, const char *path)
{
	return open_db(out, path, 1);
}

void store_close(struct store *s)
{
	if (!s)
		return;
	if (s->db && s->log_all && !s->readonly) {
		store_flush_all(s);
		/* a clean stop leaves nothing to replay */
		if (!s->failing && !s->need_reload && exec(s, "BEGIN") == 0) {
			if (checkpoint(s) < 0 || exec(s, "COMMIT") < 0)
				exec(s, "ROLLBACK");
		}
	}
	walcopy_stop(s);        /* before the writer's close, which copies the rest */
	sqlite3_finalize(s->find_dev);
	sqlite3_finalize(s->add_dev);
	sqlite3_finalize(s->find_ser);
	sqlite3_finalize(s->add_ser);
	sqlite3_finalize(s->find_id);
	sqlite3_finalize(s->query);
	sqlite3_finalize(s->unit);
	sqlite3_finalize(s->meta_get);
	sqlite3_finalize(s->meta_put);
	sqlite3_finalize(s->log_ins);
	sqlite3_finalize(s->chunk_ins);
	sqlite3_finalize(s->head_put);
	sqlite3_finalize(s->head_get);
	sqlite3_finalize(s->log_all);
	sqlite3_finalize(s->log_next);
	sqlite3_finalize(s->log_held);
	sqlite3_finalize(s->chunks_in);
	sqlite3_finalize(s->closed_since);
	sqlite3_finalize(s->closed_one);
	sqlite3_finalize(s->log_max);
	sqlite3_finalize(s->log_sizes);
	sqlite3_finalize(s->chunk_max_id);
	sqlite3_close(s->db);
	heads_free(s);
	free(s->logbuf);
	free(s->buf);
	free(s->path);
	free(s);
}
static int find_or_add(struct store *s, sqlite3_stmt *find, sqlite3_stmt *add, int64_t parent,
		       const char *name, const char *unit, int64_t *id)
{
	int rc, b = 1;

	sqlite3_reset(find);
	if (parent >= 0)
		sqlite3_bind_int64(find, b++, parent);
	sqlite3_bind_text(find, b, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(find);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(find, 0);
		sqlite3_reset(find);
		return 0;
	}
	sqlite3_reset(find);
	if (rc != SQLITE_DONE)
		return db_err(s, "look up series");
	b = 1;
	sqlite3_reset(add);
	if (parent >= 0)
		sqlite3_bind_int64(add, b++, parent);
	sqlite3_bind_text(add, b++, name, -1, SQLITE_STATIC);
	if (parent >= 0)
		sqlite3_bind_text(add, b, unit, -1, SQLITE_STATIC);
	rc = sqlite3_step(add);
	sqlite3_reset(add);
	if (rc != SQLITE_DONE)
		return db_err(s, "add series");
	*id = sqlite3_last_insert_rowid(s->db);
	return 0;
}

int store_series(struct store *s, const char *device, const char *metric,
		 const char *unit, int64_t *id)
{
	int64_t dev;
	int ret = find_or_add(s, s->find_dev, s->add_dev, -1, device, NULL, &dev);

	if (ret < 0)
		return ret;
	return find_or_add(s, s->find_ser, s->add_ser, dev, metric, unit, id);
}


int store_append(struct store *s, int64_t series, int64_t ts_ms, double v, int quality)
{
	if (quality < 0 || quality > 255 || series < 0 || series > (1LL << 30))
		return -EINVAL;
	if (s->len == s->cap) {
		if (s->cap >= STORE_BUF_MAX) {
			/* the disk has refused commits for a long time: drop
			 * the oldest sample, and count it */
			s->head = (s->head + 1) % s->cap;
			s->len--;
			s->dropped++;
		} else {
			size_t ncap = s->cap ? 2 * s->cap : 4096;
			struct sample *nb = malloc(ncap * sizeof(*nb));
			if (!nb)
				return -ENOMEM;
			for (size_t i = 0; i < s->len; i++)
				nb[i] = s->buf[(s->head + i) % s->cap];
			free(s->buf);
			s->buf = nb;
			s->cap = ncap;
			s->head = 0;
		}
	}
	struct sample *e = &s->buf[(s->head + s->len) % s->cap];
	e->series = series;
	e->ts = ts_ms;
	e->v = v;
	e->q = quality;
	s->len++;
	return 0;
}

int store_begin(struct store *s)
{
	return exec(s, "BEGIN");
}

int store_commit(struct store *s)
{
	return exec(s, "COMMIT");
}

struct sqlite3 *store_db(struct store *s)
{
	return s->db;
}

int store_add_hook(struct store *s, const struct store_hook *h)
{
	if (s->nhooks >= STORE_MAX_HOOKS)
		BUG("too many store hooks");
	s->hooks[s->nhooks++] = *h;
	return 0;
}

int64_t store_meta_get(struct store *s, const char *key, int64_t def)
{
	int64_t v = def;

	sqlite3_reset(s->meta_get);
	sqlite3_bind_text(s->meta_get, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(s->meta_get) == SQLITE_ROW)
		v = sqlite3_column_int64(s->meta_get, 0);
	sqlite3_reset(s->meta_get);
	return v;
}

int store_meta_put(struct store *s, const char *key, int64_t v)
{
	int rc;

	sqlite3_reset(s->meta_put);
	sqlite3_bind_text(s->meta_put, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s->meta_put, 2, v);
	rc = sqlite3_step(s->meta_put);
	sqlite3_reset(s->meta_put);
	return rc == SQLITE_DONE ? 0 : db_err(s, "save meta");
}

void store_clear_hooks(struct store *s)
{
	s->nhooks = 0;
}

int store_errno(struct store *s)
{
	int code = sqlite3_errcode(s->db);

	return code == SQLITE_FULL ? -ENOSPC : code == SQLITE_BUSY || code == SQLITE_LOCKED ? -EBUSY :
	       code == SQLITE_READONLY || code == SQLITE_CANTOPEN ? -EROFS : code == SQLITE_NOMEM ? -ENOMEM : -EIO;
}

int store_failing(const struct store *s, const char **why)
{
	if (why)
		*why = s->failing ? s->fail_why : "";
	return s->failing;
}


/* What the file system says to a write next to the database: 0, or the
 * errno (EROFS, ENOSPC, EIO...). SQLite's own "disk I/O error" does not
 * keep it reliably. */
static int probe_dir(const struct store *s)
{
	char probe[PATH_MAX];
	int fd, err = 0;

	if (snprintf(probe, sizeof(probe), "%s.probe", s->path) >= (int)sizeof(probe))
		return 0;
	fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno;
	if (write(fd, "wardgw", 6) != 6)
		err = errno ? errno : EIO;
	close(fd);
	unlink(probe);
	return err;
}

/* SQLite's message, and the system's when a write failed ("disk I/O
 * error: Read-only file system"), so a technician knows which. */
static void describe(struct store *s, char *buf, size_t size, const char *what)
{
	int code = sqlite3_errcode(s->db);
	int sys = code == SQLITE_IOERR || code == SQLITE_FULL || code == SQLITE_READONLY ||
		  code == SQLITE_CANTOPEN ? probe_dir(s) : 0;

	if (sys)
		snprintf(buf, size, "%s: %s: %s", what, sqlite3_errmsg(s->db), strerror(sys));
	else if (code == SQLITE_FULL && s->limit_bytes)
		snprintf(buf, size, "%s: %s (store.max_db_mb = %lld)", what, sqlite3_errmsg(s->db),
			 (long long)(s->limit_bytes >> 20));
	else
		snprintf(buf, size, "%s: %s", what, sqlite3_errmsg(s->db));
}

static int flush_failed(struct store *s, const char *what)
{
	int err = store_errno(s);
	char why[sizeof(s->fail_why)];

	s->log_low = 0;         /* what log_trim deleted is back */
	/* the heads written in this round's flushes so far are committed, but
	 * the round's mark moves only with its last: start it over */
	if (s->rnd.on) {
		s->rnd.on = 0;
		s->rnd.restart = 1;
	}

	if (s->quiet_full && err == -ENOSPC) {
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		for (int i = 0; i < s->nhooks; i++)
			if (s->hooks[i].rolled_back)
				s->hooks[i].rolled_back(s->hooks[i].arg);
		return err;
	}
	/* describe (and probe the disk) once per episode and cause, not on
	 * every retry: the probe writes a file */
	int code = sqlite3_extended_errcode(s->db);
	if (!s->failing || (err != -EBUSY && code != s->fail_code)) {
		describe(s, why, sizeof(why), what);
		if (!s->failing)
			log_err("store %s: %s; %zu samples kept in memory, retrying", s->path, why, s->len);
		else
			log_err("store %s: still failing, now %s", s->path, why);
		snprintf(s->fail_why, sizeof(s->fail_why), "%s", why);
		s->fail_code = code;
	}
	s->failing = 1;
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	for (int i = 0; i < s->nhooks; i++)
		if (s->hooks[i].rolled_back)
			s->hooks[i].rolled_back(s->hooks[i].arg);
	return err;
}

/* The database or the disk is full: apply retention early. Delete the
 * oldest closed chunks (in the order they closed) that the minute rollups
 * already hold until about
 * @want bytes are free inside the file (SQLite reuses freed pages, so room
 * already free counts), and at least what was written since the last
 * call, so a store on a full disk stops growing whatever the ingest rate;
 * when there are none, let the hooks give up what they can (the outbox:
 * its oldest telemetry). Returns samples (or rows) deleted, 0 if nothing
 * could go, or negative errno. */
int store_make_room(struct store *s, int64_t want)
{
	sqlite3_stmt *sel = NULL, *del = NULL, *fl = NULL;
	int64_t freed = 0, cut, free_pages = 0, page = 4096;
	int64_t mono_s = mono_ms() / 1000;
	int64_t n = 0, target = want;
	int ret = 0, rc;

	/* what was written since the last call, when that was a recent one
	 * (the disk check every 10 s, or the retries of one commit) */
	if (s->room_at && mono_s - s->room_at <= 30)
		target += (int64_t)(s->written - s->written_at_room);
	s->room_at = mono_s;

	if (sqlite3_prepare_v2(s->db, "SELECT (SELECT freelist_count FROM pragma_freelist_count),"
			       " (SELECT page_size FROM pragma_page_size)", -1, &fl, NULL) == SQLITE_OK &&
	    sqlite3_step(fl) == SQLITE_ROW) {
		free_pages = sqlite3_column_int64(fl, 0);
		page = sqlite3_column_int64(fl, 1);
	}
	sqlite3_finalize(fl);
	target -= free_pages * page;
	if (target < 64 * 1024)
		target = 64 * 1024;
	s->written_at_room = s->written;
	/* never what no rollup holds yet: after a restart the minute
	 * rollups are rebuilt from the samples past the watermark */
	cut = store_meta_get(s, "rollup_minute_done", INT64_MAX);
	/* only chunks closed before the last checkpoint: the commit log may
	 * still hold the samples of those closed since, and a reader or a
	 * replay would bring them back; never the newest (ids stay unique) */
	if (sqlite3_prepare_v2(s->db, "SELECT id, n, length(data) FROM chunk WHERE t1 < ? AND id <= ?"
			       " AND id < (SELECT max(id) FROM chunk) ORDER BY id",
			       -1, &sel, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "DELETE FROM chunk WHERE id = ?", -1, &del, NULL) != SQLITE_OK) {
		ret = db_err(s, "make room");
		goto out;
	}
	if (exec(s, "BEGIN") < 0) {
		ret = -EIO;
		goto out;
	}
	/* pick first, then delete: a statement reading the table it deletes
	 * from may see rows twice */
	sqlite3_bind_int64(sel, 1, cut);
	sqlite3_bind_int64(sel, 2, store_meta_get(s, "store_ckpt_chunk", 0));
	size_t npick = 0, cap = 0;
	struct pick { int64_t id, n; } *picks = NULL;
	while (freed < target && (rc = sqlite3_step(sel)) == SQLITE_ROW) {
		if (npick == cap) {
			cap = cap ? 2 * cap : 256;
			struct pick *np = realloc(picks, cap * sizeof(*np));
			if (!np) {
				ret = -ENOMEM;
				break;
			}
			picks = np;
		}
		picks[npick++] = (struct pick){ sqlite3_column_int64(sel, 0), sqlite3_column_int64(sel, 1) };
		freed += sqlite3_column_int64(sel, 2) + 40;   /* the row and its two index entries */
	}
	sqlite3_reset(sel);
	for (size_t i = 0; i < npick && ret == 0; i++) {
		sqlite3_bind_int64(del, 1, picks[i].id);
		rc = sqlite3_step(del);
		sqlite3_reset(del);
		if (rc != SQLITE_DONE)
			ret = db_err(s, "make room");
		else if (sqlite3_changes(s->db) == 1)
			n += picks[i].n;
	}
	free(picks);
	if (ret < 0 || exec(s, "COMMIT") < 0) {
		exec(s, "ROLLBACK");
		ret = ret < 0 ? ret : -EIO;
		n = 0;
		goto out;
	}
	if (n > 0) {
		int64_t now_s = mono_ms() / 1000;
		s->pruned_early += (uint64_t)n;
		s->room_unlogged += (uint64_t)n;
		store_meta_put(s, "store_pruned_early", (int64_t)s->pruned_early);
		/* a capped store does this every few seconds: warn once a minute */
		if (!s->room_logged || now_s - s->room_logged >= 60) {
			log_warn("store %s: full: deleted the %llu oldest samples early to make room "
				 "(%llu in all; the rollups keep their aggregates)", s->path,
				 (unsigned long long)s->room_unlogged, (unsigned long long)s->pruned_early);
			s->room_logged = now_s;
			s->room_unlogged = 0;
		}
		ret = n > INT32_MAX ? INT32_MAX : (int)n;
		goto out;
	}
	for (int i = 0; i < s->nhooks && n == 0; i++)
		if (s->hooks[i].make_room && (rc = s->hooks[i].make_room(s->hooks[i].arg)) > 0)
			n = rc;
	ret = (int)n;
out:
	sqlite3_finalize(sel);
	sqlite3_finalize(del);
	return ret;
}

static int flush_once(struct store *s, int force_ckpt);

int store_flush(struct store *s)
{
	int dirty = s->len > 0, ret;

	for (int i = 0; i < s->nhooks && !dirty; i++)
		dirty = s->hooks[i].dirty(s->hooks[i].arg);
	if (!dirty)
		return 0;
	/* full: make room and try again at once, so nothing waits in memory;
	 * only when no room can be made is the store failing. The room
	 * wanted: this commit's size, twice (WAL and database), and more. */
	s->quiet_full = 1;
	ret = flush_once(s, 0);
	if (ret == -ENOSPC && s->log_bytes > 0)
		ret = flush_once(s, 1);         /* emptying the log frees its pages */
	for (int tries = 0; ret == -ENOSPC && tries < 3 &&
	     store_make_room(s, (int64_t)s->len * 20 + (256 << 10)) > 0; tries++)
		ret = flush_once(s, 1);
	s->quiet_full = 0;
	if (ret == -ENOSPC)
		ret = flush_once(s, 0);
	return ret;
}

int store_flush_all(struct store *s)
{
	int ret;

	s->draining = 1;
	ret = store_flush(s);
	s->draining = 0;
	return ret;
}

uint64_t store_wal_copies(struct store *s)
{
	uint64_t n = 0;

	if (s && s->wc.running) {
		pthread_mutex_lock(&s->wc.mu);
		n = s->wc.copies;
		pthread_mutex_unlock(&s->wc.mu);
	}
	return n;
}

int store_ckpt_round(const struct store *s, int64_t *cursor)
{
	if (cursor)
		*cursor = s->rnd.on ? (int64_t)s->rnd.cursor : 0;
	return s->rnd.on;
}

int store_draining(const struct store *s)
{
	return s && s->draining;
}

/* The open chunks' bytes (to decide on a checkpoint). */
static int64_t open_bytes(const struct store *s)
{
	int64_t n = 0;

	for (size_t i = 0; i < s->nheads; i++)
		if (s->heads[i].enc.n)
			n += CHUNK_HDR + (int64_t)((s->heads[i].enc.nbits + 7) >> 3);
	return n;
}

static int flush_once(struct store *s, int force_ckpt)
{
	int rc;

	if (sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return flush_failed(s, "begin");
	s->log_id = 0;
	if (s->need_reload && heads_load(s, 0) < 0)
		return flush_failed(s, "reload the open chunks");
	if (s->len) {
		/* the commit log first: these samples are durable with the commit */
		if (log_build(s) < 0)
			return flush_failed(s, "build the commit log");
		sqlite3_reset(s->log_ins);
		sqlite3_bind_blob(s->log_ins, 1, s->logbuf, (int)s->loglen, SQLITE_STATIC);
		rc = sqlite3_step(s->log_ins);
		sqlite3_reset(s->log_ins);
		if (rc != SQLITE_DONE)
			return flush_failed(s, "insert");   /* samples stay buffered */
		s->log_id = sqlite3_last_insert_rowid(s->db);
		s->written += s->loglen + 16;
		s->log_bytes += (int64_t)s->loglen;
		if (s->rnd.on)
			s->rnd.bytes += (int64_t)s->loglen;
	}
	for (int i = 0; i < s->nhooks; i++)
		if (s->hooks[i].in_tx(s->hooks[i].arg) < 0)
			return flush_failed(s, "write");
	/* from here on the open chunks change: a failure reloads them */
	s->need_reload = 1;
	for (size_t i = 0; i < s->len; i++) {
		const struct sample *e = &s->buf[(s->head + i) % s->cap];
		if (head_add(s, e->series, e->ts, e->v, e->q) < 0)
			return flush_failed(s, "write chunks");
	}
	int64_t mono_s = mono_ms() / 1000;
	int round_done = 0;
	int due = s->rnd.on || s->rnd.restart ||
		  (s->log_bytes >= CKPT_MIN_BYTES && s->log_bytes >= 2 * open_bytes(s)) ||
		  (s->log_bytes > 0 && mono_s - s->ckpt_at >= CKPT_MAX_S);
	if (force_ckpt || (due && !s->rnd.per_flush)) {
		/* all at once (WARDGW_STORE_CKPT_HEADS=0: as before rounds) */
		if (checkpoint(s) < 0)
			return flush_failed(s, "checkpoint");
		s->ckpt_at = mono_s;
	} else if (due) {
		/* a round of the rolling checkpoint starts or goes on */
		if ((round_done = checkpoint_step(s)) < 0)
			return flush_failed(s, "checkpoint");
	}
	if (log_trim(s) < 0)
		return flush_failed(s, "checkpoint");
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		return flush_failed(s, "commit");
	if (round_done) {
		/* what is left to replay: the records after r0 */
		s->rnd.on = 0;
		s->log_bytes = s->rnd.bytes;
		s->ckpt_at = mono_s;
	}
	s->need_reload = 0;
	for (int i = 0; i < s->nhooks; i++)
		s->hooks[i].committed(s->hooks[i].arg);
	if (s->failing)
		log_info("store %s: commits work again (%zu samples written, %llu dropped meanwhile)",
			 s->path, s->len, (unsigned long long)s->dropped);
	s->failing = 0;
	s->head = 0;
	s->len = 0;
	return 0;
}

int store_set_limit(struct store *s, int64_t max_bytes)
{
	sqlite3_stmt *st;
	int64_t page = 4096, pages;
	char sql[64];

	if (sqlite3_prepare_v2(s->db, "PRAGMA page_size", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			page = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	/* SQLite's own ceiling when there is none: 2^32 - 2 pages */
	pages = max_bytes > 0 ? max_bytes / page : 4294967294LL;
	if (pages < 64)
		pages = 64;
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld", (long long)pages);
	if (exec(s, sql) < 0)
		return -EIO;
	s->limit_bytes = max_bytes > 0 ? max_bytes : 0;
	return 0;
}


uint64_t store_pruned_early(const struct store *s)
{
	return s->pruned_early;
}

size_t store_pending(const struct store *s)
{
	return s->len;
}

uint64_t store_dropped(const struct store *s)
{
	return s->dropped;
}

uint64_t store_written(const struct store *s)
{
	return s->written;
}

/* A checkpoint in a transaction of its own (between flushes). */
static int checkpoint_now(struct store *s)
{
	if (s->readonly || s->need_reload)
		return 0;
	if (exec(s, "BEGIN") < 0)
		return -EIO;
	if (checkpoint(s) < 0 || exec(s, "COMMIT") < 0) {
		exec(s, "ROLLBACK");
		s->need_reload = 1;     /* the heads' counts moved on without the rows */
		s->rnd.restart = 1;
		s->log_low = 0;
		return -EIO;
	}
	return 0;
}

int store_prune(struct store *s, int64_t before_ms, int max_rows, int *done)
{
	sqlite3_stmt *st;
	int64_t lo = s->prune_next, hi = lo + PRUNE_SLICE, last = 0;
	int rc, n;

	*done = 0;
	if (sqlite3_prepare_v2(s->db, "SELECT coalesce(max(id), 0) FROM metric", -1, &st, NULL) != SQLITE_OK)
		return db_err(s, "prune");
	if (sqlite3_step(st) == SQLITE_ROW)
		last = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);

	/* chunks past retention closed since the last checkpoint (a late
	 * batch): checkpoint first, so that they can go too */
	if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM metric m CROSS JOIN chunk c ON c.series = m.id AND c.t1 < ?1"
			       " WHERE m.id >= ?3 AND m.id < ?4 AND c.id > ?2 LIMIT 1", -1, &st, NULL) != SQLITE_OK)
		return db_err(s, "prune");
	sqlite3_bind_int64(st, 1, before_ms);
	sqlite3_bind_int64(st, 2, store_meta_get(s, "store_ckpt_chunk", 0));
	sqlite3_bind_int64(st, 3, lo);
	sqlite3_bind_int64(st, 4, hi);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		checkpoint_now(s);

	/* whole chunks whose newest sample is older than the cut: however
	 * late a sample arrived or whatever the clock did, a chunk goes only
	 * when all it holds is past retention */
	/* (not those closed since the last checkpoint, nor the newest: see
	 * store_make_room and the schema) */
	/* series by series through chunk_series (an index on t1 alone would
	 * cost a page write per commit), PRUNE_SLICE series a call: at
	 * 50,000 series one pass is 50,000 index seeks, hundreds of ms on a
	 * cold cache, which the loop must not wait for in one go */
	if (sqlite3_prepare_v2(s->db, "DELETE FROM chunk WHERE id IN"
			       " (SELECT c.id FROM metric m CROSS JOIN chunk c ON c.series = m.id AND c.t1 < ?1"
			       "  WHERE m.id >= ?4 AND m.id < ?5 AND c.id <= ?2 AND c.id < (SELECT max(id) FROM chunk)"
			       "  LIMIT ?3)", -1, &st, NULL) != SQLITE_OK)
		return db_err(s, "prune");
	sqlite3_bind_int64(st, 1, before_ms);
	sqlite3_bind_int64(st, 2, store_meta_get(s, "store_ckpt_chunk", 0));
	sqlite3_bind_int(st, 3, max_rows);
	sqlite3_bind_int64(st, 4, lo);
	sqlite3_bind_int64(st, 5, hi);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_err(s, "prune");
	n = sqlite3_changes(s->db);
	if (n >= max_rows)
		return n;               /* this slice again: it may hold more */
	if (hi > last) {
		s->prune_next = 0;      /* the pass is over */
		*done = 1;
	} else {
		s->prune_next = hi;
	}
	return n;
}

/* ---- reading ---- */

struct qrow {
	int64_t ts;
	double v;
	int q;
	uint32_t order;
};

struct qset {
	struct qrow *r;
	size_t n, cap;
	int64_t from, to, series;
	uint64_t seq, skip;         /* log samples of the series: numbered, the first @skip are stored elsewhere */
	int64_t lid, rec;           /* records up to @lid are in the head; the record walked */
	int err;
};

static int qadd(struct qset *qs, int64_t ts, double v, int q)
{
	if (ts < qs->from || ts > qs->to)
		return 0;
	if (qs->n == qs->cap) {
		size_t ncap = qs->cap ? 2 * qs->cap : 1024;
		struct qrow *nr = realloc(qs->r, ncap * sizeof(*nr));
		if (!nr)
			return qs->err = -ENOMEM;
		qs->r = nr;
		qs->cap = ncap;
	}
	qs->r[qs->n] = (struct qrow){ ts, v, q, (uint32_t)qs->n };
	qs->n++;
	return 0;
}

static int qadd_chunk(struct qset *qs, const void *p, int len)
{
	struct chunk_dec d;
	int64_t ts;
	double v;
	int q, r;

	if (!p || chunk_dec_init(&d, p, (size_t)len) < 0)
		return -EINVAL;
	while ((r = chunk_dec_next(&d, &ts, &v, &q)) == 1)
		if (qadd(qs, ts, v, q) < 0)
			return qs->err;
	return r;
}

static int qadd_log(void *arg, int64_t series, int64_t ts, double v, int q)
{
	struct qset *qs = arg;

	if (series != qs->series || qs->rec <= qs->lid)
		return 0;
	if (qs->seq++ < qs->skip)
		return 0;
	return qadd(qs, ts, v, q);
}

static int qcmp(const void *a, const void *b)
{
	const struct qrow *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

int store_query_id(struct store *s, int64_t series, int64_t from_ms, int64_t to_ms, store_row_fn fn, void *arg)
{
	struct qset qs = { .from = from_ms, .to = to_ms, .series = series };
	int rc, ret = 0, bad = 0;

	/* one read transaction: chunks, head and log from the same commit */
	int own_tx = sqlite3_get_autocommit(s->db);
	if (own_tx && exec(s, "BEGIN") < 0)
		return -EIO;
	sqlite3_reset(s->chunks_in);
	sqlite3_bind_int64(s->chunks_in, 1, series);
	sqlite3_bind_int64(s->chunks_in, 2, from_ms);
	sqlite3_bind_int64(s->chunks_in, 3, to_ms);
	while ((rc = sqlite3_step(s->chunks_in)) == SQLITE_ROW)
		if (qadd_chunk(&qs, sqlite3_column_blob(s->chunks_in, 0), sqlite3_column_bytes(s->chunks_in, 0)) < 0)
			bad++;
	sqlite3_reset(s->chunks_in);
	if (rc != SQLITE_DONE) {
		ret = db_err(s, "query");
		goto out;
	}
	/* the last chunk closed since the checkpoint, if any: the head's
	 * samples and the log's before its end are in the chunks */
	uint64_t closed = 0;
	sqlite3_reset(s->closed_one);
	sqlite3_bind_int64(s->closed_one, 1, series);
	sqlite3_bind_int64(s->closed_one, 2, store_meta_get(s, "store_ckpt_chunk", 0));
	if (sqlite3_step(s->closed_one) == SQLITE_ROW)
		closed = (uint64_t)sqlite3_column_int64(s->closed_one, 0);
	sqlite3_reset(s->closed_one);
	sqlite3_reset(s->head_get);
	sqlite3_bind_int64(s->head_get, 1, series);
	sqlite3_bind_int64(s->head_get, 2, series);
	rc = sqlite3_step(s->head_get);
	if (rc == SQLITE_ROW) {
		qs.seq = (uint64_t)sqlite3_column_int64(s->head_get, 1);
		qs.skip = (uint64_t)sqlite3_column_int64(s->head_get, 2);
		qs.lid = sqlite3_column_int64(s->head_get, 4);
	}
	if (closed > qs.skip) {
		qs.skip = closed;
	} else if (rc == SQLITE_ROW) {
		if (sqlite3_column_type(s->head_get, 3) != SQLITE_NULL) {
			struct chunk_dec d;
			const void *p = sqlite3_column_blob(s->head_get, 3);
			int len = sqlite3_column_bytes(s->head_get, 3);
			if (chunk_dec_init(&d, p, (size_t)len) == 0)
				qs.skip += d.n;
			if (qadd_chunk(&qs, p, len) < 0)
				bad++;
		}
	}
	sqlite3_reset(s->head_get);
	if (qs.err) {
		ret = qs.err;
		goto out;
	}
	sqlite3_reset(s->log_all);
	sqlite3_bind_int64(s->log_all, 1, store_meta_get(s, "store_ckpt_log", 0));
	while ((rc = sqlite3_step(s->log_all)) == SQLITE_ROW) {
		qs.rec = sqlite3_column_int64(s->log_all, 0);
		if (store_log_walk(sqlite3_column_blob(s->log_all, 1), (size_t)sqlite3_column_bytes(s->log_all, 1),
			     qadd_log, &qs) < 0 && !qs.err)
			bad++;
	}
	sqlite3_reset(s->log_all);
	if (qs.err) {
		ret = qs.err;
		goto out;
	}
	if (bad)
		log_warn("store %s: %d unreadable chunks or log records of series %lld skipped", s->path, bad,
			 (long long)series);
	/* chunks may overlap (late samples, clock steps): time order, ties
	 * in the order they were stored */
	for (size_t i = 1; i < qs.n; i++)
		if (qcmp(&qs.r[i - 1], &qs.r[i]) > 0) {
			qsort(qs.r, qs.n, sizeof(*qs.r), qcmp);
			break;
		}
	for (size_t i = 0; i < qs.n; i++)
		if (fn(arg, qs.r[i].ts, qs.r[i].v, qs.r[i].q))
			break;
	ret = (int)(qs.n > INT32_MAX ? INT32_MAX : qs.n);
out:
	if (own_tx)
		exec(s, "COMMIT");
	free(qs.r);
	return ret;
}

int store_find_series(struct store *s, const char *device, const char *metric, int64_t *id)
{
	int rc;

	sqlite3_reset(s->find_id);
	sqlite3_bind_text(s->find_id, 1, device, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->find_id, 2, metric, -1, SQLITE_STATIC);
	rc = sqlite3_step(s->find_id);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(s->find_id, 0);
	sqlite3_reset(s->find_id);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? -ENOENT : db_err(s, "look up series");
}

int store_each_series(struct store *s, int (*fn)(void *arg, int64_t id, const char *device,
						 const char *metric), void *arg)
{
	sqlite3_stmt *st;
	int rc, ret = 0;

	if (sqlite3_prepare_v2(s->db, "SELECT m.id, d.name, m.name FROM metric m JOIN device d ON d.id = m.device_id"
			       " ORDER BY d.name, m.name", -1, &st, NULL) != SQLITE_OK)
		return db_err(s, "list series");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (fn(arg, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
		       (const char *)sqlite3_column_text(st, 2)))
			break;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = db_err(s, "list series");
	sqlite3_finalize(st);
	return ret;
}

int store_query(struct store *s, const char *device, const char *metric,
		int64_t from_ms, int64_t to_ms, store_row_fn fn, void *arg)
{
	int64_t id;
	int ret = store_find_series(s, device, metric, &id);

	if (ret < 0)
		return ret;
	ret = store_query_id(s, id, from_ms, to_ms, fn, arg);
	return ret < 0 ? ret : 0;
}

int store_last_before(struct store *s, int64_t series, int64_t before_ms, double *v)
{
	struct last { int64_t ts; double v; int found; } l = { 0 };
	sqlite3_stmt *st;
	int rc, ret = 0;

	/* newest chunks first; stop once a chunk ends before what was found */
	if (sqlite3_prepare_v2(s->db, "SELECT t1, data FROM chunk WHERE series = ? AND t0 < ? ORDER BY t1 DESC",
			       -1, &st, NULL) != SQLITE_OK)
		return db_err(s, "read the last value");
	sqlite3_bind_int64(st, 1, series);
	sqlite3_bind_int64(st, 2, before_ms);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct chunk_dec d;
		int64_t ts;
		double x;
		int q;
		if (l.found && sqlite3_column_int64(st, 0) < l.ts)
			break;
		if (chunk_dec_init(&d, sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1)) < 0)
			continue;
		while (chunk_dec_next(&d, &ts, &x, &q) == 1)
			if (ts < before_ms && !isnan(x) && (!l.found || ts >= l.ts))
				l = (struct last){ ts, x, 1 };
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = db_err(s, "read the last value");
	sqlite3_finalize(st);
	if (ret < 0)
		return ret;
	/* the open chunk, which the gateway holds in memory */
	if (!s->readonly && (size_t)series < s->nheads && s->heads[series].enc.n) {
		struct chunk_dec d;
		size_t len;
		const uint8_t *p = chunk_enc_data(&s->heads[series].enc, &len);
		int64_t ts;
		double x;
		int q;
		if (chunk_dec_init(&d, p, len) == 0)
			while (chunk_dec_next(&d, &ts, &x, &q) == 1)
				if (ts < before_ms && !isnan(x) && (!l.found || ts >= l.ts))
					l = (struct last){ ts, x, 1 };
	}
	if (!l.found)
		return -ENOENT;
	*v = l.v;
	return 0;
}

const char *store_series_unit(struct store *s, const char *device, const char *metric)
{
	const char *u = NULL;

	sqlite3_reset(s->unit);
	sqlite3_bind_text(s->unit, 1, device, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->unit, 2, metric, -1, SQLITE_STATIC);
	if (sqlite3_step(s->unit) == SQLITE_ROW && sqlite3_column_text(s->unit, 0)) {
		snprintf(s->unit_buf, sizeof(s->unit_buf), "%s", (const char *)sqlite3_column_text(s->unit, 0));
		u = s->unit_buf;
	}
	sqlite3_reset(s->unit);
	return u;
}

/* ---- the commit log as the telemetry outbox ---- */

int64_t store_log_last(const struct store *s, const uint8_t **p, size_t *len)
{
	if (!s->log_id) {
		*p = NULL;
		*len = 0;
		return 0;
	}
	*p = s->logbuf;
	*len = s->loglen;
	return s->log_id;
}

void store_log_hold(struct store *s, int64_t keep_after)
{
	s->log_hold = keep_after;
}

int store_log_next(struct store *s, int64_t after, int64_t *id, uint8_t **data, size_t *len)
{
	int rc, ret = 0;

	*data = NULL;
	*len = 0;
	sqlite3_reset(s->log_next);
	sqlite3_bind_int64(s->log_next, 1, after);
	rc = sqlite3_step(s->log_next);
	if (rc == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(s->log_next, 1);
		const void *p = sqlite3_column_blob(s->log_next, 1);
		*id = sqlite3_column_int64(s->log_next, 0);
		*data = malloc(n ? n : 1);
		if (!*data) {
			ret = -ENOMEM;
		} else {
			if (n)
				memcpy(*data, p, n);
			*len = n;
			ret = 1;
		}
	} else if (rc != SQLITE_DONE) {
		ret = db_err(s, "read the commit log");
	}
	sqlite3_reset(s->log_next);
	return ret;
}

int store_log_held(struct store *s, int64_t after, int64_t *records, int64_t *bytes, int64_t *last)
{
	int rc, ret = 0;

	*records = *bytes = 0;
	*last = after;
	sqlite3_reset(s->log_held);
	sqlite3_bind_int64(s->log_held, 1, after);
	rc = sqlite3_step(s->log_held);
	if (rc == SQLITE_ROW) {
		*records = sqlite3_column_int64(s->log_held, 0);
		*bytes = sqlite3_column_int64(s->log_held, 1);
		if (*records)
			*last = sqlite3_column_int64(s->log_held, 2);
	} else {
		ret = db_err(s, "size the commit log");
	}
	sqlite3_reset(s->log_held);
	return ret;
}
