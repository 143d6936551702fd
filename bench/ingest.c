/* Ingest benchmark (`make bench`, BENCH_ONLY=ingest): how many samples per
 * second the store (gateway/store.c) commits to SQLite, against the
 * smallest C loop that writes the same rows into the same table.
 *
 *   build/bench-ingest [-n SAMPLES] [-d DEVICES] [-m METRICS] [-b BATCH] [-r ROUNDS]
 *                      [-D DIR] [-x] [-P SQL] [-v EVERY]
 *
 * Rows come in poll order: for each one-second tick, for each device, its
 * metrics, time increasing. Every variant starts from a fresh database file
 * in DIR and commits one transaction per BATCH samples, the gateway's
 * default (batch_ms 200 ms at DEVICES x METRICS samples per second):
 *
 *   store    store_open(), store_series() for every series (in
 *            store_begin/commit, not timed), then store_append() and a
 *            store_flush() every BATCH samples. No hooks: no outbox, no KPIs.
 *   minimal  sqlite3_open, the PRAGMAs and the sample table and index of
 *            store.c, one prepared INSERT, BEGIN/COMMIT every BATCH rows.
 *   rollup   as store, with the rollup module attached (gateway/rollup.h):
 *            rollup_sample() per sample, rollup_tick() per tick, minutes
 *            written by the store's flush, as in the gateway. -x skips it.
 *
 * The variants run alternately, ROUNDS times, and the median of each is
 * reported (the machine is shared and noisy). Wall time is CLOCK_MONOTONIC,
 * CPU time CLOCK_PROCESS_CPUTIME_ID, from the first append to the last
 * commit; opening, creating series and closing are not timed. "written
 * B/row" is what the process wrote (WAL frames and checkpoints) per sample.
 * -P runs a what-if statement (a PRAGMA) on every variant's connection;
 * -v prints the rate as the table grows. Exit status 3: store below 70 %
 * of the minimal loop.
 */
#include <errno.h>
#include <getopt.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "rollup.h"
#include "store.h"

enum { V_STORE, V_MINIMAL, V_ROLLUP, NVARIANTS };
static const char *const vname[NVARIANTS] = { "store", "minimal", "store+rollup" };

struct opts {
	long samples, devices, metrics, batch, rounds;
	const char *pragma;     /* what-if SQL run on every variant's handle after opening, or NULL */
	const char *dir;
	int rollup;
	long trace;             /* print the rate every this many samples (-v), 0: no */
};

struct result {
	double wall_s, cpu_s;
	double wbytes;          /* bytes written (write(2) and friends, /proc/self/io wchar) */
	long rows;
};

/* Bytes this process has written so far (page cache included), or 0. */
static double io_written(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	char line[128];
	double v = 0;

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "wchar:", 6))
			v = atof(line + 6);
	if (f)
		fclose(f);
	return v;
}

static int what_if(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (!sql || sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	fprintf(stderr, "bench-ingest: -P %s: %s\n", sql, msg ? msg : "error");
	sqlite3_free(msg);
	return -EINVAL;
}

static double clock_s(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* -v: the rate over the last o->trace samples, to see it change as the table grows. */
static void trace(const struct opts *o, const char *what, long n)
{
	static double t0, c0;
	double t, c;

	if (!o->trace || n % o->trace)
		return;
	t = clock_s(CLOCK_MONOTONIC);
	c = clock_s(CLOCK_PROCESS_CPUTIME_ID);
	if (n > o->trace)
		fprintf(stderr, "  %-13s rows %9ld: %8.0f rows/s wall %8.0f rows/s CPU over the last %ld\n", what, n,
			(double)o->trace / (t - t0), (double)o->trace / (c - c0), o->trace);
	t0 = t;
	c0 = c;
}

static int64_t wall_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The sample of (tick, device, metric): the device's slot in the second
 * (first polls are spread over the interval) and a u16-like value. */
static int64_t sample_ts(int64_t base, long tick, long dev, long ndev)
{
	return base + (int64_t)tick * 1000 + (int64_t)dev * 1000 / ndev;
}

static double sample_v(long tick, long dev, long m)
{
	return (double)((tick * 31 + dev * 7 + m * 1013) & 0xffff);
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

static int run_store(const struct opts *o, const char *path, int with_rollup, struct result *r)
{
	struct store *st;
	struct rollup *ru = NULL;
	long nser = o->devices * o->metrics;
	int64_t *ids = malloc((size_t)nser * sizeof(*ids));
	long *ridx = malloc((size_t)nser * sizeof(*ridx));
	char dev[32], met[32];
	int ret;

	if (!ids || !ridx) {
		free(ids);
		free(ridx);
		return -ENOMEM;
	}
	remove_db(path);
	if ((ret = store_open(&st, path)) < 0)
		goto out;
	if ((ret = what_if(store_db(st), o->pragma)) < 0)
		goto out_close;
	if (with_rollup && (ret = rollup_new(&ru, st, 2500)) < 0)   /* grace: timeout 500 ms + 2 s */
		goto out_close;
	if ((ret = store_begin(st)) < 0)
		goto out_close;
	for (long d = 0; d < o->devices; d++)
		for (long m = 0; m < o->metrics; m++) {
			snprintf(dev, sizeof(dev), "cab%04ld", d);
			snprintf(met, sizeof(met), "r%ld", m);
			if ((ret = store_series(st, dev, met, NULL, &ids[d * o->metrics + m])) < 0)
				goto out_close;
			if (ru && (ridx[d * o->metrics + m] = rollup_add_series(ru, ids[d * o->metrics + m], 0, 0)) < 0) {
				ret = -ENOMEM;
				goto out_close;
			}
		}
	if ((ret = store_commit(st)) < 0)
		goto out_close;

	/* samples from now on, so that the rollups take them as current */
	int64_t base = (wall_now_ms() / 1000 + 1) * 1000;
	long n = 0, inbatch = 0, ticks = (o->samples + nser - 1) / nser;
	double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), b0 = io_written();
	for (long t = 0; t < ticks && n < o->samples; t++) {
		if (ru)
			rollup_tick(ru, base + (int64_t)t * 1000);
		for (long d = 0; d < o->devices && n < o->samples; d++) {
			int64_t ts = sample_ts(base, t, d, o->devices);
			for (long m = 0; m < o->metrics && n < o->samples; m++, n++) {
				long i = d * o->metrics + m;
				double v = sample_v(t, d, m);
				if ((ret = store_append(st, ids[i], ts, v, Q_GOOD)) < 0)
					goto out_close;
				if (ru)
					rollup_sample(ru, (size_t)ridx[i], ts, v);
				if (++inbatch == o->batch) {
					if ((ret = store_flush(st)) < 0)
						goto out_close;
					inbatch = 0;
				}
				trace(o, ru ? "store+rollup" : "store", n + 1);
			}
		}
	}
	if ((ret = store_flush(st)) < 0)
		goto out_close;
	r->wall_s = clock_s(CLOCK_MONOTONIC) - w0;
	r->cpu_s = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
	r->wbytes = io_written() - b0;
	r->rows = n;
out_close:
	if (ret < 0)
		fprintf(stderr, "bench-ingest: %s: %s\n", path, strerror(-ret));
	store_clear_hooks(st);
	rollup_free(ru);
	store_close(st);
out:
	free(ids);
	free(ridx);
	remove_db(path);
	return ret;
}

static int sql(sqlite3 *db, const char *s)
{
	char *msg = NULL;

	if (sqlite3_exec(db, s, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "bench-ingest: %s: %s\n", s, msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* The minimal loop: the same table, index and PRAGMAs as store.c, one
 * prepared INSERT, a transaction per batch. */
static int run_minimal(const struct opts *o, const char *path, struct result *r)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *ins = NULL;
	long nser = o->devices * o->metrics;
	int ret = -1;

	remove_db(path);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK ||
	    what_if(db, o->pragma) < 0 ||
	    sql(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;") < 0 ||
	    sql(db, "CREATE TABLE sample (series INTEGER NOT NULL, ts INTEGER NOT NULL,"
		"  value REAL, quality INTEGER NOT NULL DEFAULT 0);"
		"CREATE INDEX sample_series_ts ON sample (series, ts);") < 0)
		goto out;
	if (sqlite3_prepare_v2(db, "INSERT INTO sample (series, ts, value, quality) VALUES (?,?,?,?)",
			       -1, &ins, NULL) != SQLITE_OK) {
		fprintf(stderr, "bench-ingest: prepare: %s\n", sqlite3_errmsg(db));
		goto out;
	}

	int64_t base = (wall_now_ms() / 1000 + 1) * 1000;
	long n = 0, inbatch = 0, ticks = (o->samples + nser - 1) / nser;
	double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), b0 = io_written();
	if (sql(db, "BEGIN") < 0)
		goto out;
	for (long t = 0; t < ticks && n < o->samples; t++)
		for (long d = 0; d < o->devices && n < o->samples; d++) {
			int64_t ts = sample_ts(base, t, d, o->devices);
			for (long m = 0; m < o->metrics && n < o->samples; m++, n++) {
				sqlite3_bind_int64(ins, 1, d * o->metrics + m + 1);
				sqlite3_bind_int64(ins, 2, ts);
				sqlite3_bind_double(ins, 3, sample_v(t, d, m));
				sqlite3_bind_int(ins, 4, Q_GOOD);
				if (sqlite3_step(ins) != SQLITE_DONE) {
					fprintf(stderr, "bench-ingest: insert: %s\n", sqlite3_errmsg(db));
					goto out;
				}
				sqlite3_reset(ins);
				if (++inbatch == o->batch) {
					if (sql(db, "COMMIT") < 0 || sql(db, "BEGIN") < 0)
						goto out;
					inbatch = 0;
				}
				trace(o, "minimal", n + 1);
			}
		}
	if (sql(db, "COMMIT") < 0)
		goto out;
	r->wall_s = clock_s(CLOCK_MONOTONIC) - w0;
	r->cpu_s = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
	r->wbytes = io_written() - b0;
	r->rows = n;
	ret = 0;
out:
	sqlite3_finalize(ins);
	sqlite3_close(db);
	remove_db(path);
	return ret;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, long n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static long env_or(const char *name, long def)
{
	const char *s = getenv(name);

	return s && *s ? atol(s) : def;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench-ingest [-n SAMPLES] [-d DEVICES] [-m METRICS] [-b BATCH] [-r ROUNDS]"
		" [-P SQL] [-D DIR] [-v EVERY] [-x]\n"
		"  defaults: -n 2000000 -d 1000 -m 10 -b 2000 (gateway batch_ms 200 at 1000 x 10 samples/s)"
		" -r 3 -D $TMPDIR or /tmp;\n  -x: no store+rollup variant; -P: SQL run on every variant's"
		" connection after opening, a what-if (e.g. \"PRAGMA cache_size=-65536\"; page_size takes\n"
		"  effect on the minimal loop only, whose database is still empty then);\n"
		"  -v EVERY: print each variant's rate over every EVERY samples to stderr (how it changes as the table grows).\n"
		" Environment: BENCH_INGEST_N, BENCH_INGEST_BATCH, BENCH_INGEST_ROUNDS.\n");
}

int main(int argc, char **argv)
{
	struct opts o = {
		.samples = env_or("BENCH_INGEST_N", 2000000), .devices = 1000, .metrics = 10,
		.batch = env_or("BENCH_INGEST_BATCH", 2000), .rounds = env_or("BENCH_INGEST_ROUNDS", 3),
		.dir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", .rollup = 1,
	};
	int c;

	while ((c = getopt(argc, argv, "n:d:m:b:r:P:D:v:xh")) != -1) {
		switch (c) {
		case 'n': o.samples = atol(optarg); break;
		case 'd': o.devices = atol(optarg); break;
		case 'm': o.metrics = atol(optarg); break;
		case 'b': o.batch = atol(optarg); break;
		case 'r': o.rounds = atol(optarg); break;
		case 'P': o.pragma = optarg; break;
		case 'D': o.dir = optarg; break;
		case 'x': o.rollup = 0; break;
		case 'v': o.trace = atol(optarg); break;
		default: usage(); return c == 'h' ? 0 : 2;
		}
	}
	if (o.samples < 1 || o.devices < 1 || o.metrics < 1 || o.batch < 1 || o.rounds < 1 || o.rounds > 99) {
		usage();
		return 2;
	}
	log_set_level_name("warn");

	char tmpl[4096], path[4200];
	snprintf(tmpl, sizeof(tmpl), "%s/wardgw-ingest.XXXXXX", o.dir);
	if (!mkdtemp(tmpl)) {
		fprintf(stderr, "bench-ingest: mkdtemp %s: %s\n", tmpl, strerror(errno));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/bench.db", tmpl);

	int nv = o.rollup ? NVARIANTS : V_ROLLUP;
	double rate[NVARIANTS][100], cpu_rate[NVARIANTS][100], wpr[NVARIANTS][100];
	printf("ingest: %ld samples, %ld devices x %ld metrics in poll order, a commit every %ld samples, "
	       "%ld rounds, SQLite %s, database in %s%s%s\n", o.samples, o.devices, o.metrics, o.batch,
	       o.rounds, sqlite3_libversion(), o.dir, o.pragma ? ", what-if: " : "", o.pragma ? o.pragma : "");
	printf("%-6s %-13s %12s %12s %9s %14s\n", "round", "variant", "rows/s wall", "rows/s CPU", "wall s",
	       "written B/row");
	for (long k = 0; k < o.rounds; k++)
		for (int v = 0; v < nv; v++) {
			/* alternate the order too, so neither always runs first */
			int var = (int)((v + k) % nv);
			struct result r = { 0 };
			int ret = var == V_MINIMAL ? run_minimal(&o, path, &r) : run_store(&o, path, var == V_ROLLUP, &r);
			if (ret < 0) {
				rmdir(tmpl);
				return 1;
			}
			rate[var][k] = (double)r.rows / r.wall_s;
			cpu_rate[var][k] = (double)r.rows / r.cpu_s;
			wpr[var][k] = r.wbytes / (double)r.rows;
			printf("%-6ld %-13s %12.0f %12.0f %9.2f %14.0f\n", k + 1, vname[var], rate[var][k],
			       cpu_rate[var][k], r.wall_s, wpr[var][k]);
			fflush(stdout);
		}
	rmdir(tmpl);

	double med[NVARIANTS], cmed[NVARIANTS], wmed[NVARIANTS];
	for (int v = 0; v < nv; v++) {
		med[v] = median(rate[v], o.rounds);
		cmed[v] = median(cpu_rate[v], o.rounds);
		wmed[v] = median(wpr[v], o.rounds);
	}
	printf("\nmedian of %ld rounds:\n", o.rounds);
	for (int v = 0; v < nv; v++)
		printf("  %-13s %10.0f rows/s wall  %10.0f rows/s CPU  (%.2f us CPU per row, %.0f bytes written per row)\n",
		       vname[v], med[v], cmed[v], 1e6 / cmed[v], wmed[v]);
	double ratio = 100 * med[V_STORE] / med[V_MINIMAL];
	printf("  store / minimal = %.1f %% (wall), %.1f %% (CPU)   goal >= 70 %%: %s\n", ratio,
	       100 * cmed[V_STORE] / cmed[V_MINIMAL], ratio >= 70 ? "met" : "NOT met");
	if (o.rollup)
		printf("  store+rollup / minimal = %.1f %% (wall), %.1f %% (CPU)\n", 100 * med[V_ROLLUP] / med[V_MINIMAL],
		       100 * cmed[V_ROLLUP] / cmed[V_MINIMAL]);
	printf("reproduce: build/bench-ingest -n %ld -d %ld -m %ld -b %ld -r %ld%s%s%s%s\n", o.samples, o.devices,
	       o.metrics, o.batch, o.rounds, o.rollup ? "" : " -x", o.pragma ? " -P '" : "", o.pragma ? o.pragma : "",
	       o.pragma ? "'" : "");
	return ratio >= 70 ? 0 : 3;
}
