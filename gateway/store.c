/* SQLite history: schema with migrations, batched inserts with prepared
 * statements, retention, queries. SQLite's errors are converted to errno
 * here and logged once with sqlite3_errmsg. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

struct sample {
	int64_t series, ts;
	double v;
	int q;
};

struct store {
	sqlite3 *db;
	char *path;
	int readonly;               /* store_open_ro(): never written */
	sqlite3_stmt *meta_get, *meta_put;
	sqlite3_stmt *ins, *find_dev, *add_dev, *find_ser, *add_ser, *prune, *query, *unit, *ts_at, *last_row;
	struct sample *buf;
	size_t head, len, cap;  /* ring buffer */
	uint64_t dropped;
	int failing;            /* commits fail: log the change, not every try */
	char fail_why[200];
	uint64_t pruned_early;  /* raw samples deleted early for room (persisted) */
	int64_t limit_bytes;    /* store.max_db_mb, 0: the disk is the limit */
	int fail_code;          /* SQLite's extended code of the failure described */
	int quiet_full;         /* a full store is about to make room: no alarm yet */
	int64_t room_logged;    /* monotonic s of the last "made room" warning */
	uint64_t room_unlogged; /* rows pruned early since that warning */
	char unit_buf[32];
	struct store_hook hooks[STORE_MAX_HOOKS];
	int nhooks;
};

/* Buffer this many samples at most while the disk refuses commits. */
#define STORE_BUF_MAX (1u << 20)

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
		if (exec(s, migrations[version]) < 0 || exec(s, pragma) < 0) {
			exec(s, "ROLLBACK");
			return log_error(-EIO, "store %s: migration to schema %d failed", s->path, version + 1);
		}
		if ((ret = exec(s, "COMMIT")) < 0)
			return ret;
	}
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

static int open_db(struct store **out, const char *path, int readonly)
{
	struct store *s = calloc(1, sizeof(*s));
	int ret;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->path = strdup(path);
	s->readonly = readonly;
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
	} else {
		/* WAL with synchronous=NORMAL: a commit survives a crash of the
		 * process; a power cut loses at most the last commits */
		if ((ret = set_wal(s)) < 0)
			goto fail;
		if ((ret = migrate(s)) < 0)
			goto fail;
	}
	if ((ret = prep(s, &s->ins, "INSERT INTO sample (series, ts, value, quality) VALUES (?,?,?,?)")) ||
	    (ret = prep(s, &s->find_dev, "SELECT id FROM device WHERE name = ?")) ||
	    (ret = prep(s, &s->add_dev, "INSERT INTO device (name) VALUES (?)")) ||
	    (ret = prep(s, &s->find_ser, "SELECT id FROM metric WHERE device_id = ? AND name = ?")) ||
	    (ret = prep(s, &s->add_ser, "INSERT INTO metric (device_id, name, unit) VALUES (?,?,?)")) ||
	    (ret = prep(s, &s->prune, "DELETE FROM sample WHERE rowid IN "
			"(SELECT rowid FROM sample WHERE rowid <= ? ORDER BY rowid LIMIT ?)")) ||
	    (ret = prep(s, &s->ts_at, "SELECT rowid, ts FROM sample WHERE rowid >= ? ORDER BY rowid LIMIT 1")) ||
	    (ret = prep(s, &s->last_row, "SELECT max(rowid) FROM sample")) ||
	    (ret = prep(s, &s->meta_get, "SELECT value FROM meta WHERE key = ?")) ||
	    (ret = prep(s, &s->meta_put, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)")) ||
	    (ret = prep(s, &s->query, "SELECT s.ts, s.value, s.quality FROM sample s"
			" JOIN metric m ON m.id = s.series JOIN device d ON d.id = m.device_id"
			" WHERE d.name = ? AND m.name = ? AND s.ts BETWEEN ? AND ? ORDER BY s.ts")) ||
	    (ret = prep(s, &s->unit, "SELECT m.unit FROM metric m JOIN device d ON d.id = m.device_id"
			" WHERE d.name = ? AND m.name = ?")))
		goto fail;
	s->pruned_early = (uint64_t)store_meta_get(s, "store_pruned_early", 0);
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
	if (s->db && s->ins && !s->readonly)
		store_flush(s);
	sqlite3_finalize(s->ins);
	sqlite3_finalize(s->find_dev);
	sqlite3_finalize(s->add_dev);
	sqlite3_finalize(s->find_ser);
	sqlite3_finalize(s->add_ser);
	sqlite3_finalize(s->prune);
	sqlite3_finalize(s->query);
	sqlite3_finalize(s->unit);
	sqlite3_finalize(s->ts_at);
	sqlite3_finalize(s->last_row);
	sqlite3_finalize(s->meta_get);
	sqlite3_finalize(s->meta_put);
	sqlite3_close(s->db);
	free(s->buf);
	free(s->path);
	free(s);
}

/* Look up (or insert) one id with a find and an add statement. */
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

static int row_at(struct store *s, int64_t rowid, int64_t *found, int64_t *ts);

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
 * oldest raw samples (those the minute rollups already hold), about 2 % of
 * them a time; when there are none, let the hooks give up what they can
 * (the outbox: its oldest telemetry). Returns rows deleted, 0 if nothing
 * could go, or negative errno. */
int store_make_room(struct store *s)
{
	int64_t first = 0, last = 0, ts, cut;
	int n = 0, ret;

	if (row_at(s, 0, &first, &ts) == 0 && sqlite3_step(s->last_row) == SQLITE_ROW)
		last = sqlite3_column_int64(s->last_row, 0);
	sqlite3_reset(s->last_row);
	if (last >= first && first > 0) {
		int64_t chunk = (last - first + 1) / 50;
		if (chunk < 1000)
			chunk = 1000;
		if (chunk > 200000)
			chunk = 200000;
		/* never what no rollup holds yet: after a restart the minute
		 * rollups are rebuilt from the raw samples past the watermark */
		cut = store_meta_get(s, "rollup_minute_done", INT64_MAX);
		if ((ret = store_prune(s, cut, (int)chunk)) < 0)
			return ret;
		n = ret;
	}
	if (n > 0) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		s->pruned_early += (uint64_t)n;
		s->room_unlogged += (uint64_t)n;
		store_meta_put(s, "store_pruned_early", (int64_t)s->pruned_early);
		/* a capped store does this every few seconds: warn once a minute */
		if (!s->room_logged || now.tv_sec - s->room_logged >= 60) {
			log_warn("store %s: full: deleted the %llu oldest raw samples early to make room "
				 "(%llu in all; the rollups keep their aggregates)", s->path,
				 (unsigned long long)s->room_unlogged, (unsigned long long)s->pruned_early);
			s->room_logged = now.tv_sec;
			s->room_unlogged = 0;
		}
		return n;
	}
	for (int i = 0; i < s->nhooks && n == 0; i++)
		if (s->hooks[i].make_room && (ret = s->hooks[i].make_room(s->hooks[i].arg)) > 0)
			n = ret;
	return n;
}

static int flush_once(struct store *s);

int store_flush(struct store *s)
{
	int dirty = s->len > 0, ret;

	for (int i = 0; i < s->nhooks && !dirty; i++)
		dirty = s->hooks[i].dirty(s->hooks[i].arg);
	if (!dirty)
		return 0;
	/* full: make room and try again at once, so nothing waits in memory;
	 * only when no room can be made is the store failing */
	s->quiet_full = 1;
	ret = flush_once(s);
	for (int tries = 0; ret == -ENOSPC && tries < 3 && store_make_room(s) > 0; tries++)
		ret = flush_once(s);
	s->quiet_full = 0;
	if (ret == -ENOSPC)
		ret = flush_once(s);
	return ret;
}

static int flush_once(struct store *s)
{
	if (sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return flush_failed(s, "begin");
	for (size_t i = 0; i < s->len; i++) {
		const struct sample *e = &s->buf[(s->head + i) % s->cap];
		sqlite3_bind_int64(s->ins, 1, e->series);
		sqlite3_bind_int64(s->ins, 2, e->ts);
		if (e->v == e->v)
			sqlite3_bind_double(s->ins, 3, e->v);
		else
			sqlite3_bind_null(s->ins, 3);
		sqlite3_bind_int(s->ins, 4, e->q);
		int rc = sqlite3_step(s->ins);
		sqlite3_reset(s->ins);
		if (rc != SQLITE_DONE)
			return flush_failed(s, "insert");   /* samples stay buffered */
	}
	for (int i = 0; i < s->nhooks; i++)
		if (s->hooks[i].in_tx(s->hooks[i].arg) < 0)
			return flush_failed(s, "write");
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		return flush_failed(s, "commit");
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

/* The first row at or after @rowid: its rowid and time. 0, -ENOENT, or -EIO. */
static int row_at(struct store *s, int64_t rowid, int64_t *found, int64_t *ts)
{
	int rc;

	sqlite3_reset(s->ts_at);
	sqlite3_bind_int64(s->ts_at, 1, rowid);
	rc = sqlite3_step(s->ts_at);
	if (rc == SQLITE_ROW) {
		*found = sqlite3_column_int64(s->ts_at, 0);
		*ts = sqlite3_column_int64(s->ts_at, 1);
	}
	sqlite3_reset(s->ts_at);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? -ENOENT : db_err(s, "prune lookup");
}

int store_prune(struct store *s, int64_t before_ms, int max_rows)
{
	int64_t lo, hi, r, ts, cut;
	int rc, ret;

	/* rows are appended in time order: binary-search the last rowid older
	 * than the cut-off, then delete from the start up to it */
	if ((ret = row_at(s, 0, &lo, &ts)) < 0)
		return ret == -ENOENT ? 0 : ret;
	if (ts >= before_ms)
		return 0;
	sqlite3_reset(s->last_row);
	if (sqlite3_step(s->last_row) != SQLITE_ROW) {
		sqlite3_reset(s->last_row);
		return db_err(s, "prune");
	}
	hi = sqlite3_column_int64(s->last_row, 0);
	sqlite3_reset(s->last_row);
	cut = lo;
	while (lo <= hi) {
		int64_t mid = lo + (hi - lo) / 2;
		if ((ret = row_at(s, mid, &r, &ts)) < 0)
			return ret == -ENOENT ? 0 : ret;
		if (ts < before_ms) {
			cut = r;
			lo = r + 1;
		} else {
			hi = mid - 1;
		}
	}
	sqlite3_reset(s->prune);
	sqlite3_bind_int64(s->prune, 1, cut);
	sqlite3_bind_int(s->prune, 2, max_rows);
	rc = sqlite3_step(s->prune);
	sqlite3_reset(s->prune);
	if (rc != SQLITE_DONE)
		return db_err(s, "prune");
	return sqlite3_changes(s->db);
}

int store_query(struct store *s, const char *device, const char *metric,
		int64_t from_ms, int64_t to_ms, store_row_fn fn, void *arg)
{
	int rc, n = 0, ret = 0;

	sqlite3_reset(s->query);
	sqlite3_bind_text(s->query, 1, device, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->query, 2, metric, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s->query, 3, from_ms);
	sqlite3_bind_int64(s->query, 4, to_ms);
	while ((rc = sqlite3_step(s->query)) == SQLITE_ROW) {
		double v = sqlite3_column_type(s->query, 1) == SQLITE_NULL ? NAN : sqlite3_column_double(s->query, 1);
		n++;
		if (fn(arg, sqlite3_column_int64(s->query, 0), v, sqlite3_column_int(s->query, 2)))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = db_err(s, "query");
	sqlite3_reset(s->query);
	if (!ret && !n) {
		/* distinguish "no such series" from "no samples in range" */
		sqlite3_stmt *st = s->unit;
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, metric, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_ROW)
			return -ENOENT;
	}
	return ret;
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
