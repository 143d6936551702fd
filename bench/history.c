/* History benchmark (`make bench`, BENCH_ONLY=history): what the store
 * costs as history grows, chunked layout (gateway/store.c, schema 6) and
 * today's row-per-sample layout (schema 4, kept here only) side by side.
 *
 *   build/bench-history [-d DEVICES] [-H HISTORY] [-O OLD_HISTORY] [-s SECONDS] [-D DIR] [-R]
 *
 * (-R: the chunked layout only, without the slow row-layout parts.
 *  -C: only the checkpoint of the open chunks, rolling against one commit,
 *  each flush timed;
 *  -G DB: only generate HISTORY samples ending now into a gateway's
 *  database DB, named as the gateway names DEVICES cabinets of the bench10
 *  profile; scripts/bench.sh then runs the gateway on it.)
 *
 * The profile: DEVICES lighting cabinets (default 1,000) of 8 metrics each,
 * polled every second, with realistic values: a steady status word, lamps
 * on (changes a few times a day), a noisy supply voltage at 0.1 V, a noisy
 * current at 0.01 A, an active power as float32 (XOR-coded), a rising energy
 * counter at 0.01 kWh, a slowly drifting temperature at 0.1 °C, a noisy
 * power factor at 0.001. Polls are a few ms late at random.
 *
 * 1. At rest: one hour of the profile (100 devices) stored through the
 *    store, closed; bytes of chunk per sample for each kind of metric, and
 *    the whole file per sample; the same samples as rows of today's layout.
 * 2. Steady state: SECONDS (default 600) of the profile at 1 s, a commit
 *    every 200 ms of samples (store.batch_ms default), fast-forwarded;
 *    every byte the process writes (/proc/self/io wchar: WAL, checkpoints)
 *    per stored sample, and CPU per sample, on an empty store and on one
 *    holding HISTORY samples (default 1e9) written by a generator straight
 *    into the chunk format; today's layout on an empty table and on one
 *    holding OLD_HISTORY rows (default 5e6; filling it is slow).
 * 3. Queries: 24 h of one series at 1 s (86,400 points) through a reader,
 *    as wardgw query reads, in both layouts with their history; a year of
 *    hourly rollups of one series (8,760 rows) in a store holding a year
 *    of hours of ROLLUP_SERIES series (-Y, default 1,000), as
 *    `wardgw query --tier hour` reads it (rollup_query), beside a range
 *    scan of the rollup table's primary key.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "chunk.h"
#include "log.h"
#include "outbox.h"
#include "rollup.h"
#include "senml.h"
#include "store.h"

#define NKIND 8
static const char *const kind_name[NKIND] = {
	"status word", "lamps on", "voltage 0.1 V", "current 0.01 A", "power f32", "energy counter",
	"temperature", "power factor",
};

struct opts {
	long devices, seconds, rollup_series;
	double history, old_history;
	const char *dir;
	int no_rows;            /* -R: chunks only */
	int ckpt;               /* -C: the checkpoint part only */
};

static double clock_s(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double io_written(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	char line[128];
	double v = 0;

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "wchar:", 6))
			v = strtod(line + 6, NULL);
	if (f)
		fclose(f);
	return v;
}

static uint32_t rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*s >> 33);
}

/* The value of metric kind @k of device @d at second @t (a pure function
 * of them, so the generator and the live stream agree). */
static double value(int k, long d, int64_t t)
{
	uint64_t s = (uint64_t)t * 1000003u + (uint64_t)d * 7919u + (uint64_t)k;
	rnd(&s);
	switch (k) {
	case 0: return 3;
	case 1: return (double)(((t / 3600) % 24) < 12 ? 24 : 0);
	case 2: return (2300 + (int)(rnd(&s) % 7) - 3) * 0.1;
	case 3: return (420 + (int)(rnd(&s) % 11) - 5) * 0.01;
	case 4: return (double)(float)(950.0 + (rnd(&s) % 1000) / 37.0);
	case 5: return (double)(100000 + d * 10 + t / 40) * 0.01;
	case 6: return (300 + (int)((t / 600) % 40)) * 0.1;
	default: return (950 + (int)(rnd(&s) % 9)) * 0.001;
	}
}

static int64_t poll_ts(int64_t base_ms, long d, int64_t t)
{
	uint64_t s = (uint64_t)t * 31u + (uint64_t)d;
	return base_ms + t * 1000 + (int64_t)(rnd(&s) % 4);
}

static void remove_db(const char *path)
{
	char p[4200];

	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

static int sql(sqlite3 *db, const char *s)
{
	char *msg = NULL;

	if (sqlite3_exec(db, s, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "bench-history: %s: %s\n", s, msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int64_t sql_int(sqlite3 *db, const char *s)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, s, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int64_t file_bytes(sqlite3 *db)
{
	return (sql_int(db, "PRAGMA page_count") - sql_int(db, "PRAGMA freelist_count")) * sql_int(db, "PRAGMA page_size");
}

/* ---- the chunked store ---- */

struct live {
	struct store *st;
	int64_t *ids;
	long devices;
	int nmet;               /* metrics per device (NKIND, or the gateway's profile) */
	void (*after_flush)(void *arg);     /* the telemetry outbox part: PUBACKs arrive */
	void *after_arg;
	struct ftimes *ft;      /* -C: each flush timed */
};

/* -C: each flush's wall time, and whether it wrote a part of a checkpoint
 * (a round of the rolling checkpoint under way, or the mark moved). */
struct ftimes {
	double *ms;
	unsigned char *ckpt;
	size_t n, cap;
	int rounds;
};

static int timed_flush(struct live *l)
{
	struct ftimes *ft = l->ft;
	int64_t mark = store_meta_get(l->st, "store_ckpt_log", 0);
	int on = store_ckpt_round(l->st, NULL);
	double t0 = clock_s(CLOCK_MONOTONIC);
	int ret = store_flush(l->st);
	double ms = (clock_s(CLOCK_MONOTONIC) - t0) * 1e3;
	int moved = store_meta_get(l->st, "store_ckpt_log", 0) != mark;

	if (ft->n == ft->cap) {
		size_t ncap = ft->cap ? 2 * ft->cap : 4096;
		double *nm = realloc(ft->ms, ncap * sizeof(*nm));
		unsigned char *nc = nm ? realloc(ft->ckpt, ncap) : NULL;
		if (nm)
			ft->ms = nm;
		if (!nc)
			return -ENOMEM;
		ft->ckpt = nc;
		ft->cap = ncap;
	}
	ft->ms[ft->n] = ms;
	ft->ckpt[ft->n] = on || moved || store_ckpt_round(l->st, NULL);
	ft->n++;
	ft->rounds += moved;
	return ret;
}

/* -G: the series as the gateway names them ("cab" x count = N: cab-0001..,
 * profile bench10: r0..r9), so that it finds the generated history. */
static const char *gw_db;

static int live_open(struct live *l, const char *path, long devices, int fresh)
{
	char dev[32], met[32];
	int ret;

	if (fresh)
		remove_db(path);
	l->devices = devices;
	l->nmet = gw_db ? 10 : NKIND;
	l->ids = calloc((size_t)devices * (size_t)l->nmet, sizeof(*l->ids));
	if (!l->ids)
		return -ENOMEM;
	if ((ret = store_open(&l->st, path)) < 0)
		return ret;
	if ((ret = store_begin(l->st)) < 0)
		return ret;
	for (long d = 0; d < devices; d++)
		for (int k = 0; k < l->nmet; k++) {
			if (gw_db) {
				int width = devices >= 10000 ? 5 : devices >= 1000 ? 4 : 3;
				snprintf(dev, sizeof(dev), "cab-%0*ld", width, d + 1);
				snprintf(met, sizeof(met), "r%d", k);
			} else {
				snprintf(dev, sizeof(dev), "cab-%04ld", d);
				snprintf(met, sizeof(met), "k%d", k);
			}
			if ((ret = store_series(l->st, dev, met, NULL, &l->ids[d * l->nmet + k])) < 0)
				return ret;
		}
	return store_commit(l->st);
}

static void live_close(struct live *l)
{
	store_close(l->st);
	free(l->ids);
	l->st = NULL;
	l->ids = NULL;
}

/* Copy the WAL into the database now: before a measurement, so that it
 * starts with an empty WAL, and after it, so that it counts the copies of
 * every page it wrote (SQLite's checkpoint, due later anyway). */
static void wal_checkpoint(struct live *l, const char *mode)
{
	char q[64];

	snprintf(q, sizeof(q), "PRAGMA wal_checkpoint(%s)", mode);
	sqlite3_exec(store_db(l->st), q, NULL, NULL, NULL);
}

/* @secs seconds of the profile from second @t0, a flush per 200 ms of samples. */
static int live_feed(struct live *l, int64_t base, int64_t t0, long secs)
{
	long per_flush = l->devices / 5 > 0 ? l->devices / 5 : 1;
	int ret;

	for (int64_t t = t0; t < t0 + secs; t++)
		for (long d = 0; d < l->devices; d++) {
			int64_t ts = poll_ts(base, d, t);
			for (int k = 0; k < NKIND; k++)
				if ((ret = store_append(l->st, l->ids[d * NKIND + k], ts, value(k, d, t), Q_GOOD)) < 0)
					return ret;
			if ((d + 1) % per_flush == 0) {
				if ((ret = l->ft ? timed_flush(l) : store_flush(l->st)) < 0)
					return ret;
				if (l->after_flush)
					l->after_flush(l->after_arg);
			}
		}
	return store_flush(l->st);
}

static int put_chunk(sqlite3 *db, sqlite3_stmt *ins, int64_t series, struct chunk_enc *e)
{
	size_t len;
	const uint8_t *p = chunk_enc_data(e, &len);

	sqlite3_bind_int64(ins, 1, series);
	sqlite3_bind_int64(ins, 2, e->tmin);
	sqlite3_bind_int64(ins, 3, e->tmax);
	sqlite3_bind_int64(ins, 4, e->n);
	sqlite3_bind_blob(ins, 5, p, (int)len, SQLITE_STATIC);
	if (sqlite3_step(ins) != SQLITE_DONE) {
		fprintf(stderr, "bench-history: generate: %s\n", sqlite3_errmsg(db));
		sqlite3_reset(ins);
		return -EIO;
	}
	sqlite3_reset(ins);
	chunk_enc_reset(e, CHUNK_XOR);
	return 0;
}

/* The generator: @secs seconds of history of every series before second
 * @t_end, encoded straight into closed chunks (as the store would close
 * them: store_chunk_max_bytes, 4,096 samples or 2 h) and inserted as rows;
 * with @heads, each series' last chunk is left open (its head row, as a
 * checkpoint leaves it), so that a gateway started on the file holds the
 * open chunks of a steady state from its first second. */
static int generate(struct live *l, int64_t base, int64_t t_end, int64_t secs, int heads)
{
	size_t max_bytes = store_chunk_max_bytes((size_t)l->devices * (size_t)l->nmet);
	sqlite3_stmt *hput = NULL;
	sqlite3 *db = store_db(l->st);
	sqlite3_stmt *ins;
	struct chunk_enc e;
	long rows = 0;
	int ret = 0;

	if (sqlite3_prepare_v2(db, "INSERT INTO chunk (series, t0, t1, n, seq, data) VALUES (?,?,?,?,0,?)", -1, &ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO head (series, seq_ckpt, seq0, data) VALUES (?,?,0,?)", -1, &hput,
			       NULL) != SQLITE_OK)
		return -EIO;
	chunk_enc_init(&e, CHUNK_XOR);
	if (sql(db, "BEGIN") < 0)
		return -EIO;
	for (long d = 0; d < l->devices; d++)
		for (int k = 0; k < l->nmet; k++) {
			int64_t series = l->ids[d * l->nmet + k];
			for (int64_t t = t_end - secs; t < t_end; t++) {
				double v = value(k % NKIND, d, t);
				int64_t ts = poll_ts(base, d, t), i;
				size_t len;
				chunk_enc_data(&e, &len);
				if (e.n && (len >= max_bytes || e.n >= 4096 || ts - e.tmin > 7200000 ||
					    (e.mode != CHUNK_XOR && !chunk_mode_fits(e.mode, v, &i)))) {
					if ((ret = put_chunk(db, ins, series, &e)) < 0)
						goto out;
					if (++rows % 20000 == 0 && (sql(db, "COMMIT") < 0 || sql(db, "BEGIN") < 0)) {
						ret = -EIO;
						goto out;
					}
				}
				if (!e.n)
					chunk_enc_reset(&e, chunk_pick_mode(v, CHUNK_XOR));
				if ((ret = chunk_enc_add(&e, ts, v, 0)) < 0)
					goto out;
			}
			if (e.n && heads) {
				size_t len;
				const uint8_t *p = chunk_enc_data(&e, &len);
				sqlite3_bind_int64(hput, 1, series);
				sqlite3_bind_int64(hput, 2, e.n);
				sqlite3_bind_blob(hput, 3, p, (int)len, SQLITE_STATIC);
				if (sqlite3_step(hput) != SQLITE_DONE) {
					ret = -EIO;
					goto out;
				}
				sqlite3_reset(hput);
				chunk_enc_reset(&e, CHUNK_XOR);
			} else if (e.n && (ret = put_chunk(db, ins, series, &e)) < 0) {
				goto out;
			}
		}
	/* as after a checkpoint: a start need not look at these */
	if (sql(db, "COMMIT") < 0 ||
	    sql(db, "INSERT OR REPLACE INTO meta (key, value) VALUES ('store_ckpt_chunk', (SELECT coalesce(max(id), 0) FROM chunk))") < 0)
		ret = -EIO;
out:
	chunk_enc_release(&e);
	sqlite3_finalize(ins);
	sqlite3_finalize(hput);
	return ret;
}

/* ---- today's layout (schema 4's sample table), for comparison only ---- */

struct old {
	sqlite3 *db;
	sqlite3_stmt *ins;
};

static int old_open(struct old *o, const char *path)
{
	remove_db(path);
	if (sqlite3_open(path, &o->db) != SQLITE_OK ||
	    sql(o->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;") < 0 ||
	    sql(o->db, "CREATE TABLE sample (series INTEGER NOT NULL, ts INTEGER NOT NULL,"
		"  value REAL, quality INTEGER NOT NULL DEFAULT 0);"
		"CREATE INDEX sample_series_ts ON sample (series, ts);") < 0 ||
	    sqlite3_prepare_v2(o->db, "INSERT INTO sample (series, ts, value, quality) VALUES (?,?,?,?)", -1,
			       &o->ins, NULL) != SQLITE_OK)
		return -EIO;
	return 0;
}

static void old_close(struct old *o)
{
	sqlite3_finalize(o->ins);
	sqlite3_close(o->db);
}

static int old_feed(struct old *o, long devices, int64_t base, int64_t t0, long secs)
{
	long per_flush = devices / 5 > 0 ? devices / 5 : 1;

	if (sql(o->db, "BEGIN") < 0)
		return -EIO;
	for (int64_t t = t0; t < t0 + secs; t++)
		for (long d = 0; d < devices; d++) {
			int64_t ts = poll_ts(base, d, t);
			for (int k = 0; k < NKIND; k++) {
				sqlite3_bind_int64(o->ins, 1, d * NKIND + k + 1);
				sqlite3_bind_int64(o->ins, 2, ts);
				sqlite3_bind_double(o->ins, 3, value(k, d, t));
				sqlite3_bind_int(o->ins, 4, 0);
				if (sqlite3_step(o->ins) != SQLITE_DONE)
					return -EIO;
				sqlite3_reset(o->ins);
			}
			if ((d + 1) % per_flush == 0 && (sql(o->db, "COMMIT") < 0 || sql(o->db, "BEGIN") < 0))
				return -EIO;
		}
	return sql(o->db, "COMMIT");
}

struct cost {
	double wbytes, cpu_s, samples;
};

static struct cost measure_begin(void)
{
	return (struct cost){ io_written(), clock_s(CLOCK_PROCESS_CPUTIME_ID), 0 };
}

static void measure_end(struct cost *c, double samples)
{
	c->wbytes = io_written() - c->wbytes;
	c->cpu_s = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c->cpu_s;
	c->samples = samples;
}

/* ---- the telemetry outbox: bytes written per sample, broker up and down ----
 * The commit log as the outbox (outbox.c, the code as committed: live
 * packs from memory, a per-link cursor in meta) against today's previous
 * layout (kept here only): every pack a row of the outbox table, inserted
 * in the flush transaction, deleted by the next flush once acknowledged. */
struct tele {
	struct live *l;
	long *dev_of;           /* series id -> device + 1 */
	size_t ndev_of;
	int up;
	struct outbox *ob;      /* the commit log as the outbox */
	int64_t *ids;           /* sent, to acknowledge after the flush */
	size_t nids, cap;
	sqlite3_stmt *ins, *del;        /* the outbox table (previous layout) */
	int64_t first, last;    /* rows of the last flush (previous layout) */
};

struct tele_walk {
	struct tele *t;
	outbox_emit_fn emit;
	void *arg;
	long dev;
	int64_t ts;
	struct senml_rec recs[NKIND];
	size_t n;
	char names[NKIND][8];
};

static int tele_flush_pack(struct tele_walk *w)
{
	char buf[2048], bn[64], topic[64];
	int len;

	if (!w->n)
		return 0;
	snprintf(bn, sizeof(bn), "urn:dev:wardgw:bench:cab-%04ld:", w->dev - 1);
	snprintf(topic, sizeof(topic), "ward/bench/telemetry/cab-%04ld", w->dev - 1);
	len = senml_pack(buf, sizeof(buf), bn, w->ts, w->recs, w->n);
	w->n = 0;
	return len > 0 ? w->emit(w->arg, topic, buf, (size_t)len, w->ts) : 0;
}

static int tele_sample(void *arg, int64_t series, int64_t ts, double v, int q)
{
	struct tele_walk *w = arg;
	long dev = series >= 0 && (size_t)series < w->t->ndev_of ? w->t->dev_of[series] : 0;
	int ret;

	if (!dev)
		return 0;
	if ((dev != w->dev || ts != w->ts || w->n == NKIND) && (ret = tele_flush_pack(w)) != 0)
		return ret;
	w->dev = dev;
	w->ts = ts;
	snprintf(w->names[w->n], sizeof(w->names[0]), "k%zu", w->n);
	w->recs[w->n].name = w->names[w->n];
	w->recs[w->n].unit = "V";
	w->recs[w->n].value = v;
	w->n++;
	return 0;
}

/* One SenML pack per poll of a device, as the gateway builds them. */
static int tele_packs(void *arg, const uint8_t *rec, size_t len, outbox_emit_fn emit, void *emit_arg)
{
	struct tele_walk w = { .t = arg, .emit = emit, .arg = emit_arg };
	int ret = store_log_walk(rec, len, tele_sample, &w);

	if (ret == 0)
		ret = tele_flush_pack(&w);
	return ret > 0 ? -ret : ret;
}

static int tele_send(void *arg, int64_t id, const char *topic, const void *payload, size_t len)
{
	struct tele *t = arg;

	if (!t->up)
		return -ENOTCONN;
	if (t->nids == t->cap) {
		size_t ncap = t->cap ? 2 * t->cap : 1024;
		int64_t *n = realloc(t->ids, ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		t->ids = n;
		t->cap = ncap;
	}
	t->ids[t->nids++] = id;
	return 0;
}

/* PUBACKs for everything sent come before the next flush. */
static void tele_acks(void *arg)
{
	struct tele *t = arg;

	for (size_t i = 0; t->ob && i < t->nids; i++)
		outbox_acked(t->ob, 0, t->ids[i], 1);
	t->nids = 0;
}

/* The previous layout: each pack a row, deleted by the next flush. */
static int old_emit(void *arg, const char *topic, const void *payload, size_t len, int64_t ts)
{
	struct tele *t = arg;

	sqlite3_bind_int(t->ins, 1, 1);
	sqlite3_bind_text(t->ins, 2, topic, -1, SQLITE_STATIC);
	sqlite3_bind_blob(t->ins, 3, payload, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(t->ins, 4, ts);
	int rc = sqlite3_step(t->ins);
	sqlite3_reset(t->ins);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static int old_dirty(void *arg) { return 0; }
static void old_committed(void *arg) { }

static int old_in_tx(void *arg)
{
	struct tele *t = arg;
	const uint8_t *rec;
	size_t len;
	sqlite3 *db = store_db(t->l->st);

	if (t->up && t->last >= t->first && t->first > 0) {
		sqlite3_bind_int64(t->del, 1, t->first);
		sqlite3_bind_int64(t->del, 2, t->last);
		int rc = sqlite3_step(t->del);
		sqlite3_reset(t->del);
		if (rc != SQLITE_DONE)
			return -EIO;
	}
	if (!store_log_last(t->l->st, &rec, &len))
		return 0;
	int64_t before = sqlite3_last_insert_rowid(db);
	int ret = tele_packs(t, rec, len, old_emit, t);
	t->first = before + 1;
	t->last = sqlite3_last_insert_rowid(db);
	return ret;
}

/* Bytes written per stored sample with the telemetry outbox: @mode 0 the
 * commit log (this code), 1 the outbox table (the previous layout); @up:
 * the broker acknowledges everything, or is away for the whole window. */
static int tele_cost(const char *path, long devices, int64_t base, long secs, int mode, int up, struct cost *c)
{
	struct live l = { 0 };
	struct tele t = { .l = &l, .up = up };
	int ret;

	if ((ret = live_open(&l, path, devices, 1)) < 0)
		return ret;
	t.ndev_of = 1;
	for (long i = 0; i < devices * NKIND; i++)
		if ((size_t)l.ids[i] + 1 > t.ndev_of)
			t.ndev_of = (size_t)l.ids[i] + 1;
	t.dev_of = calloc(t.ndev_of, sizeof(*t.dev_of));
	if (!t.dev_of)
		return -ENOMEM;
	for (long i = 0; i < devices * NKIND; i++)
		t.dev_of[l.ids[i]] = i / NKIND + 1;
	if (mode == 0) {
		ret = outbox_new(&t.ob, l.st, &(struct outbox_opts){ .window = 1000000, .backfill_per_s = 500,
			.max_bytes = (int64_t)512 << 20, .max_age_ms = 0, .send = tele_send,
			.send_arg = &t, .packs = tele_packs, .packs_arg = &t });
		if (ret < 0)
			return ret;
		if (up)
			outbox_link_up(t.ob, 0, 1);
	} else {
		sqlite3 *db = store_db(l.st);
		if (sqlite3_prepare_v2(db, "INSERT INTO outbox (lane, topic, payload, ts) VALUES (?,?,?,?)", -1, &t.ins, NULL) ||
		    sqlite3_prepare_v2(db, "DELETE FROM outbox WHERE id BETWEEN ? AND ?", -1, &t.del, NULL))
			return -EIO;
		store_add_hook(l.st, &(struct store_hook){ old_dirty, old_in_tx, old_committed, NULL, &t, NULL });
	}
	l.after_flush = tele_acks;
	l.after_arg = &t;
	if ((ret = live_feed(&l, base, 0, secs / 4)) < 0)
		return ret;
	*c = measure_begin();
	if ((ret = live_feed(&l, base, secs / 4, secs)) < 0)
		return ret;
	measure_end(c, (double)devices * NKIND * secs);
	store_flush(l.st);
	store_clear_hooks(l.st);
	outbox_free(t.ob);
	sqlite3_finalize(t.ins);
	sqlite3_finalize(t.del);
	live_close(&l);
	free(t.dev_of);
	free(t.ids);
	return 0;
}

static int count_row(void *arg, int64_t ts, double v, int q)
{
	(*(long *)arg)++;
	return 0;
}

static double query_ms(const char *path, int64_t from, int64_t to, long *n)
{
	struct store *r;
	double t0 = clock_s(CLOCK_MONOTONIC);

	*n = 0;
	if (store_open_ro(&r, path) < 0)
		return -1;
	store_query(r, "cab-0000", "k2", from, to, count_row, n);
	store_close(r);
	return (clock_s(CLOCK_MONOTONIC) - t0) * 1000;
}

static double old_query_ms(sqlite3 *db, int64_t from, int64_t to, long *n)
{
	sqlite3_stmt *st;
	double t0 = clock_s(CLOCK_MONOTONIC);

	*n = 0;
	if (sqlite3_prepare_v2(db, "SELECT ts, value, quality FROM sample WHERE series = 3 AND ts BETWEEN ? AND ? ORDER BY ts",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, from);
	sqlite3_bind_int64(st, 2, to);
	while (sqlite3_step(st) == SQLITE_ROW)
		(*n)++;
	sqlite3_finalize(st);
	return (clock_s(CLOCK_MONOTONIC) - t0) * 1000;
}

static int count_rollup(void *arg, const struct rollup_row *row)
{
	(*(long *)arg)++;
	return 0;
}

/* A year of hourly rollups of @nser series ending at @end_ms, written as
 * the gateway writes them (each hour's rows together), into the store at
 * @path; then the year of one series read through a reader as wardgw
 * query --tier hour does (rollup_query), and by a range of start as a
 * plain query on the primary key would. */
static int rollup_year(const char *path, long nser, int64_t end_ms, double *ms, long *n, double *scan_ms,
		       long *scan_n, double *gen_s)
{
	struct store *st;
	sqlite3_stmt *ins, *q;
	int64_t hours = 8760, t0 = (end_ms / 3600000 - hours) * 3600000, id = 0;
	double g0 = clock_s(CLOCK_MONOTONIC);

	remove_db(path);
	if (store_open(&st, path) < 0)
		return -EIO;
	for (long k = 0; k < nser; k++) {
		char dev[32], met[32];
		snprintf(dev, sizeof(dev), "ru-%04ld", k / 10);
		snprintf(met, sizeof(met), "r%ld", k % 10);
		if (store_series(st, dev, met, NULL, &id) < 0)
			return -EIO;
	}
	sqlite3 *db = store_db(st);
	if (sqlite3_prepare_v2(db, "INSERT INTO rollup (tier, series, start, count, min, max, sum, last, delta)"
			       " VALUES (1, ?, ?, 3600, ?, ?, ?, ?, ?)", -1, &ins, NULL) != SQLITE_OK || sql(db, "BEGIN") < 0)
		return -EIO;
	for (int64_t h = 0; h < hours; h++) {
		for (long k = 1; k <= nser; k++) {
			double v = value((int)(k % NKIND), k, h * 3600);
			sqlite3_bind_int64(ins, 1, k);
			sqlite3_bind_int64(ins, 2, t0 + h * 3600000);
			sqlite3_bind_double(ins, 3, v - 1);
			sqlite3_bind_double(ins, 4, v + 1);
			sqlite3_bind_double(ins, 5, v * 3600);
			sqlite3_bind_double(ins, 6, v);
			sqlite3_bind_double(ins, 7, k % NKIND == 5 ? 0.9 : 0);
			if (sqlite3_step(ins) != SQLITE_DONE) {
				fprintf(stderr, "bench-history: rollups: %s\n", sqlite3_errmsg(db));
				return -EIO;
			}
			sqlite3_reset(ins);
		}
		if (h % 500 == 499 && (sql(db, "COMMIT") < 0 || sql(db, "BEGIN") < 0))
			return -EIO;
	}
	sqlite3_finalize(ins);
	if (sql(db, "COMMIT") < 0)
		return -EIO;
	store_close(st);
	*gen_s = clock_s(CLOCK_MONOTONIC) - g0;

	/* the reader, as wardgw query --tier hour */
	double q0 = clock_s(CLOCK_MONOTONIC);
	*n = 0;
	if (store_open_ro(&st, path) < 0 || rollup_query(st, nser / 2, TIER_HOUR, end_ms - 366 * 86400000LL, end_ms,
							 count_rollup, n) < 0)
		return -EIO;
	store_close(st);
	*ms = (clock_s(CLOCK_MONOTONIC) - q0) * 1000;
	/* a range of start, the series filtered: every series' rows read */
	q0 = clock_s(CLOCK_MONOTONIC);
	*scan_n = 0;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT start, count, min, max, sum, last, delta FROM rollup"
			       " WHERE tier = 1 AND series = ?1 AND start >= ?2 AND start < ?3", -1, &q, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(q, 1, nser / 2);
	sqlite3_bind_int64(q, 2, end_ms - 366 * 86400000LL);
	sqlite3_bind_int64(q, 3, end_ms);
	while (sqlite3_step(q) == SQLITE_ROW)
		(*scan_n)++;
	sqlite3_finalize(q);
	sqlite3_close(db);
	*scan_ms = (clock_s(CLOCK_MONOTONIC) - q0) * 1000;
	remove_db(path);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The @q quantile of @n values (sorted in place). */
static double quantile(double *v, size_t n, double q)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	size_t i = (size_t)(q * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

/* -C: the checkpoint of the open chunks at DEVICES x 8 series, each flush
 * timed: the rolling checkpoint (2,000 heads a flush, the store's default)
 * against all of them in one commit (WARDGW_STORE_CKPT_HEADS=0, as before),
 * same stream; 120 s of warm-up, then SECONDS measured. */
static int ckpt_part(const char *path, long devices, long secs, int64_t base)
{
	static const char *const mode[2] = { "2000", "0" };
	static const char *const name[2] = { "rolling, 2,000 heads a flush", "one commit (before)" };

	printf("history: the open chunks' checkpoint, %ld devices x %d metrics (%ld series) at 1 s, a commit per 200 ms,"
	       " 120 s warm-up, then %ld s measured; wall ms per flush (commit included)\n", devices, NKIND,
	       devices * NKIND, secs);
	printf("  %-30s %7s %6s %6s %8s %8s %8s %10s %10s %10s\n", "checkpoint", "flushes", "ckpt", "rounds",
	       "median", "p99", "max", "ckpt med", "ckpt max", "written B/s");
	for (int m = 0; m < 2; m++) {
		struct live l = { 0 };
		struct ftimes ft = { 0 };
		setenv("WARDGW_STORE_CKPT_HEADS", mode[m], 1);
		if (live_open(&l, path, devices, 1) < 0 || live_feed(&l, base, 0, 120) < 0)
			return -1;
		wal_checkpoint(&l, "TRUNCATE");
		l.ft = &ft;
		struct cost c = measure_begin();
		if (live_feed(&l, base, 120, secs) < 0)
			return -1;
		wal_checkpoint(&l, "PASSIVE");
		measure_end(&c, (double)devices * NKIND * secs);
		live_close(&l);
		remove_db(path);
		double *all = malloc((ft.n + 1) * sizeof(*all)), *ck = malloc((ft.n + 1) * sizeof(*ck));
		size_t nck = 0;
		if (!all || !ck)
			return -1;
		for (size_t i = 0; i < ft.n; i++) {
			all[i] = ft.ms[i];
			if (ft.ckpt[i])
				ck[nck++] = ft.ms[i];
		}
		double med = quantile(all, ft.n, 0.5), p99 = quantile(all, ft.n, 0.99), mx = quantile(all, ft.n, 1);
		double cmed = quantile(ck, nck, 0.5), cmx = quantile(ck, nck, 1);
		printf("  %-30s %7zu %6zu %6d %8.1f %8.1f %8.1f %10.1f %10.1f %10.1f\n", name[m], ft.n, nck, ft.rounds,
		       med, p99, mx, cmed, cmx, c.wbytes / c.samples);
		free(all);
		free(ck);
		free(ft.ms);
		free(ft.ckpt);
	}
	unsetenv("WARDGW_STORE_CKPT_HEADS");
	return 0;
}

static void print_cost(const char *layout, const char *history, const struct cost *c)
{
	printf("  %-22s %-28s %10.1f %12.2f %12.0f\n", layout, history, c->wbytes / c->samples,
	       c->cpu_s / c->samples * 1e9, c->samples / c->cpu_s);
}

int main(int argc, char **argv)
{
	struct opts o = { .devices = 1000, .seconds = 600, .history = 1e9, .old_history = 5e6, .rollup_series = 1000,
			  .dir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp" };
	char tmpl[4096], path[4200], opath[4200];
	int c, ret = 1;

	while ((c = getopt(argc, argv, "d:H:O:s:D:RG:Y:Ch")) != -1) {
		switch (c) {
		case 'd': o.devices = strtol(optarg, NULL, 10); break;
		case 'H': o.history = strtod(optarg, NULL); break;
		case 'O': o.old_history = strtod(optarg, NULL); break;
		case 's': o.seconds = strtol(optarg, NULL, 10); break;
		case 'D': o.dir = optarg; break;
		case 'R': o.no_rows = 1; break;
		case 'C': o.ckpt = 1; break;
		case 'Y': o.rollup_series = strtol(optarg, NULL, 10); break;
		case 'G': gw_db = optarg; break;
		default:
			fprintf(stderr, "usage: bench-history [-d DEVICES] [-H HISTORY] [-O OLD_HISTORY] [-s SECONDS] [-D DIR] [-R] [-Y ROLLUP_SERIES] [-C]\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (o.devices < 1 || o.devices > 100000 || o.seconds < 10 || o.history < 0 || o.old_history < 0 ||
	    o.rollup_series < 1 || o.rollup_series > 100000)
		return 2;
	log_set_level_name("warn");
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (gw_db) {
		/* a gateway's database with DEVICES x 10 series (bench10) and
		 * HISTORY samples ending now, for the poll benchmark with history */
		struct live l = { 0 };
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		int64_t now_s = (int64_t)now.tv_sec, secs = (int64_t)(o.history / (o.devices * 10.0));
		double g0 = clock_s(CLOCK_MONOTONIC);
		if (live_open(&l, gw_db, o.devices, 1) < 0 || generate(&l, 0, now_s - 1, secs, 1) < 0) {
			fprintf(stderr, "bench-history: cannot generate %s\n", gw_db);
			return 1;
		}
		live_close(&l);
		printf("history: generated %.3g samples (%lld s of %ld devices x 10 metrics) into %s in %.0f s\n",
		       (double)secs * o.devices * 10, (long long)secs, o.devices, gw_db, clock_s(CLOCK_MONOTONIC) - g0);
		return 0;
	}
	snprintf(tmpl, sizeof(tmpl), "%s/wardgw-history.XXXXXX", o.dir);
	if (!mkdtemp(tmpl)) {
		fprintf(stderr, "bench-history: mkdtemp %s: %s\n", tmpl, strerror(errno));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/chunks.db", tmpl);
	snprintf(opath, sizeof(opath), "%s/rows.db", tmpl);
	const int64_t base = 1764720000000LL;     /* 2025-12-03 00:00 UTC */
	long nser = o.devices * NKIND;
	if (o.ckpt) {
		ret = ckpt_part(path, o.devices, o.seconds, base) < 0;
		goto out;
	}

	/* 1. at rest */
	{
		struct live l = { 0 };
		struct old od = { 0 };
		long dev = o.devices < 100 ? o.devices : 100, secs = 3600;
		if (live_open(&l, path, dev, 1) < 0 || live_feed(&l, base, 0, secs) < 0)
			goto out;
		live_close(&l);
		sqlite3 *db;
		sqlite3_open(path, &db);
		double n = (double)dev * NKIND * secs;
		printf("history: at rest, 1 h of %ld devices x %d metrics at 1 s (%.0f samples)\n", dev, NKIND, n);
		printf("  %-16s %14s\n", "metric", "B/sample");
		for (int k = 0; k < NKIND; k++) {
			char q[512];
			snprintf(q, sizeof(q), "SELECT (SELECT coalesce(sum(length(c.data)), 0) FROM chunk c JOIN metric m ON m.id = c.series"
				 " WHERE m.name = 'k%d') + (SELECT coalesce(sum(length(h.data)), 0) FROM head h JOIN metric m"
				 " ON m.id = h.series WHERE m.name = 'k%d')", k, k);
			printf("  %-16s %14.3f\n", kind_name[k], (double)sql_int(db, q) / (n / NKIND));
		}
		double chunked = (double)file_bytes(db) / n;
		sqlite3_close(db);
		printf("  %-16s %14.3f   (the whole file: chunks, heads, rows, indexes)\n", "all, chunks", chunked);
		if (!o.no_rows) {
			if (old_open(&od, opath) < 0 || old_feed(&od, dev, base, 0, secs) < 0)
				goto out;
			double rows = (double)file_bytes(od.db) / n;
			old_close(&od);
			printf("  %-16s %14.3f   (today's layout: a row and an index entry per sample)\n", "all, rows", rows);
		}
	}

	/* 2. steady state, empty and with history */
	printf("history: steady state, %ld devices x %d metrics at 1 s, %ld s fast-forwarded (%ld samples),"
	       " a commit per 200 ms of samples\n", o.devices, NKIND, o.seconds, nser * o.seconds);
	printf("  %-22s %-28s %10s %12s %12s\n", "layout", "history", "written B/s", "CPU ns/s", "samples/s CPU");
	struct cost ce, ch, oe = { 0 }, oh = { 0 };
	double rows_e = 0, rows_h = 0;
	int64_t hist_secs = (int64_t)(o.history / (double)nser);
	{
		struct live l = { 0 };
		if (live_open(&l, path, o.devices, 1) < 0 || (getenv("EXP_SQL") && sql(store_db(l.st), getenv("EXP_SQL"))) || live_feed(&l, base, 0, o.seconds / 4) < 0)
			goto out;
		wal_checkpoint(&l, "TRUNCATE");
		ce = measure_begin();
		uint64_t w0 = store_written(l.st);
		if (live_feed(&l, base, o.seconds / 4, o.seconds) < 0)
			goto out;
		wal_checkpoint(&l, "PASSIVE");
		measure_end(&ce, (double)nser * o.seconds);
		rows_e = (double)(store_written(l.st) - w0) / ce.samples;
		live_close(&l);
		print_cost("chunks (schema 6)", "empty", &ce);
	}
	double gen_s = 0, query = -1;
	long qn = 0;
	{
		struct live l = { 0 };
		double g0 = clock_s(CLOCK_MONOTONIC);
		if (live_open(&l, path, o.devices, 1) < 0 || generate(&l, base, 0, hist_secs, 0) < 0)
			goto out;
		gen_s = clock_s(CLOCK_MONOTONIC) - g0; if (getenv("EXP_SQL")) sql(store_db(l.st), getenv("EXP_SQL"));
		if (live_feed(&l, base, 0, o.seconds / 4) < 0)
			goto out;
		wal_checkpoint(&l, "TRUNCATE");
		ch = measure_begin();
		uint64_t w0 = store_written(l.st);
		if (live_feed(&l, base, o.seconds / 4, o.seconds) < 0)
			goto out;
		wal_checkpoint(&l, "PASSIVE");
		measure_end(&ch, (double)nser * o.seconds);
		rows_h = (double)(store_written(l.st) - w0) / ch.samples;
		live_close(&l);
		char h[64];
		snprintf(h, sizeof(h), "%.3g samples (generated)", (double)hist_secs * nser);
		print_cost("chunks (schema 6)", h, &ch);
		int64_t to = base + (o.seconds + o.seconds / 4) * 1000LL;
		query = query_ms(path, to - 86400000, to, &qn);
		sqlite3 *db;
		sqlite3_open(path, &db);
		printf("  (generated %.3g samples in %.0f s; file %.0f MB, %.3f B/sample with the live data)\n",
		       (double)hist_secs * nser, gen_s, (double)file_bytes(db) / 1048576,
		       (double)file_bytes(db) / ((double)hist_secs * nser + (double)nser * (o.seconds + o.seconds / 4)));
		sqlite3_close(db);
		remove_db(path);
	}
	double oquery = -1;
	long oqn = 0;
	if (!o.no_rows) {
		struct old od = { 0 };
		if (old_open(&od, opath) < 0 || old_feed(&od, o.devices, base, 0, o.seconds / 4) < 0)
			goto out;
		oe = measure_begin();
		if (old_feed(&od, o.devices, base, o.seconds / 4, o.seconds) < 0)
			goto out;
		measure_end(&oe, (double)nser * o.seconds);
		old_close(&od);
		print_cost("rows (schema 4)", "empty", &oe);
		long osecs = (long)(o.old_history / (double)nser);
		if (old_open(&od, opath) < 0 || old_feed(&od, o.devices, base, -osecs, osecs) < 0 ||
		    old_feed(&od, o.devices, base, 0, o.seconds / 4) < 0)
			goto out;
		oh = measure_begin();
		if (old_feed(&od, o.devices, base, o.seconds / 4, o.seconds) < 0)
			goto out;
		measure_end(&oh, (double)nser * o.seconds);
		char h[64];
		snprintf(h, sizeof(h), "%.3g rows", (double)osecs * nser);
		print_cost("rows (schema 4)", h, &oh);
		int64_t to = base + (o.seconds + o.seconds / 4) * 1000LL;
		oquery = old_query_ms(od.db, to - 86400000, to, &oqn);
		old_close(&od);
		remove_db(opath);
	}
	/* 2b. the telemetry outbox, broker up and broker away, empty store */
	{
		static const char *const name[2] = { "commit log + cursor", "outbox table (before)" };
		struct cost tc[2][2];
		printf("history: with the telemetry outbox (one SenML pack per poll), %ld devices, %ld s, empty store\n",
		       o.devices, o.seconds);
		printf("  %-22s %-28s %10s %12s %12s\n", "telemetry outbox", "broker", "written B/s", "CPU ns/s", "samples/s CPU");
		for (int mode = 0; mode < 2; mode++)
			for (int up = 1; up >= 0; up--) {
				if (tele_cost(path, o.devices, base, o.seconds, mode, up, &tc[mode][up]) < 0)
					goto out;
				print_cost(name[mode], up ? "up (all acknowledged)" : "away (outage)", &tc[mode][up]);
				remove_db(path);
			}
		printf("  goals (issue 12): <= 32 B written per sample with the broker up, <= 64 B during an outage\n");
	}
	printf("  CPU per sample, history / empty: chunks %.2f", ch.cpu_s / ce.cpu_s);
	if (!o.no_rows)
		printf(", rows %.2f", oh.cpu_s / oe.cpu_s);
	printf("\n");
	printf("  chunks: of the bytes written per sample, %.1f (empty) and %.1f (history) are the rows the store wrote"
	       " (commit log, chunks, checkpoints); the rest is SQLite's pages, WAL and checkpoints\n", rows_e, rows_h);
	printf("history: query 24 h of one series (a reader, as wardgw query): chunks %.1f ms for %ld points", query, qn);
	if (!o.no_rows)
		printf("; rows %.1f ms for %ld points", oquery, oqn);
	printf("\n");
	{
		char rpath[4200];
		double rms = -1, sms = -1, gs = 0;
		long rn = 0, sn = 0;
		snprintf(rpath, sizeof(rpath), "%s/rollups.db", tmpl);
		if (rollup_year(rpath, o.rollup_series, base, &rms, &rn, &sms, &sn, &gs) < 0)
			goto out;
		printf("history: query a year of hourly rollups of one series (a reader, as wardgw query --tier hour),"
		       " %ld series x 8760 h in the file (written in %.0f s): %.1f ms for %ld rows;"
		       " a range scan of start: %.1f ms for %ld rows\n", o.rollup_series, gs, rms, rn, sms, sn);
	}
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		printf("history: peak RSS of this process %.1f MB (%ld series' open chunks in memory, SQLite's cache)\n",
		       (double)ru.ru_maxrss / 1024, nser);
	ret = 0;
out:
	remove_db(path);
	remove_db(opath);
	rmdir(tmpl);
	if (ret)
		fprintf(stderr, "bench-history: failed\n");
	return ret;
}
