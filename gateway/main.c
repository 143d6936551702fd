/* wardgw: the daemon and its subcommands (run, check, query, kpi, probe, scan). */
#include <errno.h>
#include <event2/thread.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "budget.h"
#include "config.h"
#include "gateway.h"
#include "i18n.h"
#include "log.h"
#include "kpi.h"
#include "lamp_alarm.h"
#include "lighting.h"
#include "lighting_cli.h"
#include "probe.h"
#include "rollup.h"
#include "senml.h"
#include "service.h"
#include "status.h"
#include "store.h"
#include <sqlite3.h>
#include "timeparse.h"
#include "version.h"
#include "wtool.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wardgw [run] -c FILE [-v] [--live N] [--stats FILE] [--run-secs N]\n"
		"       wardgw check -c FILE\n"
		"       wardgw status -c FILE\n"
		"       wardgw query -c FILE --device D --metric M [--from T] [--to T] [--format csv|json]\n"
		"       wardgw query -c FILE --device D --metric M --tier minute|hour|day [--from T] [--to T]\n"
		"       wardgw query -c FILE --all [--from T] [--to T]\n"
		"       wardgw kpi -c FILE [--kpi NAME] [--window W] [--at T] [--last N]\n"
		"       wardgw schedule -c FILE [--date YYYY-MM-DD]\n"
		"       wardgw audit -c FILE [--from T] [--last N]\n"
		"       wardgw alarms -c FILE [--from T]\n"
		"       wardgw probe --tcp HOST:PORT | --rtu DEV:BAUD:8N1 | --rtu-tcp HOST:PORT [--unit N]\n"
		"                    --table holding|input|coil|discrete --address A --count C [--timeout-ms T]\n"
		"       wardgw probe -c FILE --device NAME [--timeout-ms T]\n"
		"       wardgw scan --tcp HOST:PORT | --rtu DEV:BAUD:8N1 | --rtu-tcp HOST:PORT [--units 1-247]\n"
		"                   [--table T]\n"
		"                   [--address A] [--timeout-ms T] [-v]\n"
		"       wardgw write -c FILE --device NAME --metric M --value V [-v]\n"
		"       wardgw import-survey -c FILE SURVEY.csv...\n"
		"       wardgw coverage -c FILE [--geojson OUT] [--at T]\n"
		"       wardgw --version | --help\n"
		"\n"
		"  run      poll the configured devices, store and publish (the default)\n"
		"  check    validate the config and its profiles; errors as FILE:LINE: message\n"
		"  status   print the running gateway's health from data_dir/status.json:\n"
		"           link, outbox, store, loop, sources and devices; exit 0 healthy,\n"
		"           1 trouble (link down, a device not online), 3 not running\n"
		"  query    print a stored series; T is epoch seconds, now, -2h/-30m/-7d, or\n"
		"           ISO 8601 (ward time, UTC+7, unless a zone is given); --all: every\n"
		"           series as CSV device,metric,ts_ms,value,quality (default: all time);\n"
		"           --tier: the series' rollups (count, min, max, avg, last, delta)\n"
		"  kpi      print KPI values: the last N closed windows and the open one, or\n"
		"           the window holding time T; W filters by window (15m, 1h, 1d)\n"
		"  schedule print the lighting schedule of a night (default: tonight): sunset,\n"
		"           sunrise, each program's switch points and devices, overrides\n"
		"  alarms   print lamp and cabinet alarms (raised, cleared, duration) and the mean\n"
		"           time to repair per kind; default: the last 7 days and all still active\n"
		"  audit    print the audit of lighting commands and schedule writes (last N, 20)\n"
		"  probe    read registers once and print them decoded as every type and word\n"
		"           order; with -c, read a configured device's profile once\n"
		"  scan     try each unit id with a 1-register read; list those that answer\n"
		"  write    write a writable metric of a configured device (engineering units;\n"
		"           on/off for a bit), read it back and print what the device holds\n"
		"  import-survey  load drive-test CSV rows (time,lat,lon,technology,operator,\n"
		"           rsrp,rsrq,sinr); bad rows are reported by line and skipped\n"
		"  coverage print the ward's 4G/5G coverage and dead spots (GeoJSON to OUT)\n"
		"\n"
		"  -c, --config FILE   configuration (default /etc/wardgw/gateway.conf)\n"
		"  -v, --verbose       more log output (repeat for debug)\n"
		"  -q, --quiet         less log output (errors only with -q against info)\n"
		"  --live N            print the ward's live figures every N seconds\n"
		"  --stats FILE        write poll/publish counters as JSON at exit\n"
		"  --run-secs N        stop after N seconds (tests, benchmarks)\n"
		"  --timeout-ms T      probe: reply timeout (1000 ms; with -c the device's\n"
		"                      timeout_ms); scan: per unit id (200 ms)\n"
		"  --debug             probe, scan: print every Modbus frame (libmodbus)\n");
}

struct args {
	const char *cmd, *config, *device, *metric, *from, *to, *format, *stats, *kpi, *window, *at;
	const char *date, *tier;
	int verbose, live, run_secs, last, quiet, all;
};

static int parse_int_arg(const char *name, const char *s, int lo, int hi, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "wardgw: %s must be %d..%d (got '%s')\n", name, lo, hi, s);
		return -EINVAL;
	}
	*out = (int)v;
	return 0;
}

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "device", required_argument, NULL, 'd' },
		{ "metric", required_argument, NULL, 'm' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "format", required_argument, NULL, 'F' },
		{ "live", required_argument, NULL, 'L' },
		{ "stats", required_argument, NULL, 'S' },
		{ "run-secs", required_argument, NULL, 'R' },
		{ "kpi", required_argument, NULL, 'K' },
		{ "window", required_argument, NULL, 'W' },
		{ "at", required_argument, NULL, 'A' },
		{ "last", required_argument, NULL, 'N' },
		{ "date", required_argument, NULL, 'E' },
		{ "all", no_argument, NULL, 'a' },
		{ "tier", required_argument, NULL, 'T' },
		{ 0 }
	};
	int c;

	memset(a, 0, sizeof(*a));
	a->cmd = "run";
	a->config = "/etc/wardgw/gateway.conf";
	a->format = "csv";
	a->last = argc > 1 && !strcmp(argv[1], "audit") ? 20 : 5;
	if (argc > 1 && argv[1][0] != '-') {
		a->cmd = argv[1];
		argv++;
		argc--;
	}
	while ((c = getopt_long(argc, argv, "c:vqhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': a->config = optarg; break;
		case 'v': a->verbose++; break;
		case 'q': a->quiet++; break;
		case 'h': usage(stdout); exit(0);
		case 'V': printf("wardgw %s\n", WARDGW_VERSION); exit(0);
		case 'd': a->device = optarg; break;
		case 'm': a->metric = optarg; break;
		case 'f': a->from = optarg; break;
		case 't': a->to = optarg; break;
		case 'F': a->format = optarg; break;
		case 'K': a->kpi = optarg; break;
		case 'W': a->window = optarg; break;
		case 'A': a->at = optarg; break;
		case 'E': a->date = optarg; break;
		case 'a': a->all = 1; break;
		case 'T': a->tier = optarg; break;
		case 'N': if (parse_int_arg("--last", optarg, 1, 100000, &a->last)) return -EINVAL; break;
		case 'S': a->stats = optarg; break;
		case 'L': if (parse_int_arg("--live", optarg, 1, 3600, &a->live)) return -EINVAL; break;
		case 'R': if (parse_int_arg("--run-secs", optarg, 1, 100000000, &a->run_secs)) return -EINVAL; break;
		default: usage(stderr); return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "wardgw: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* The flash budget: what the configured polls cost at rest and in writes
 * per day, from the figures measured by `make bench` (history part) and
 * explained in docs/storage.md. */
static void flash_report(const char *file, const struct gw_config *cfg)
{
	double samples = 0, series = 0, commits, rest, rollups, written, snap;

	for (size_t i = 0; i < cfg->ndevices; i++) {
		const struct device_conf *d = &cfg->devices[i];
		double n = d->profile ? (double)d->profile->nregs : 0;
		series += n;
		if (d->poll_interval_ms > 0)
			samples += n * 86400000.0 / d->poll_interval_ms;
	}
	/* a commit per batch_ms while samples arrive */
	commits = samples > 0 ? 86400000.0 / cfg->batch_ms : 0;
	if (commits > samples)
		commits = samples;
	rest = samples * cfg->raw_retention_days * STORE_EST_REST_BYTES;
	/* hours and days also in the rollup_series index (by series, for
	 * wardgw query --tier): their bytes again at rest, and a page of it
	 * written (WAL and copy) per series and hour */
	rollups = series * STORE_EST_ROLLUP_BYTES * (1440.0 * cfg->minute_retention_days +
						     24.0 * cfg->hour_retention_days + cfg->day_retention_days) +
		  series * STORE_EST_ROLLUP_INDEX_BYTES * (24.0 * cfg->hour_retention_days + cfg->day_retention_days);
	written = samples * STORE_EST_WRITTEN_BYTES + commits * STORE_EST_COMMIT_BYTES +
		  series * 1465 * STORE_EST_ROLLUP_BYTES * 2 + series * 25 * 2048.0;
	/* the status snapshot, about 130 bytes a device: rewritten when a
	 * state changes and at least every store.snapshot_max_s (counted
	 * here: the changes depend on the devices) */
	snap = 86400.0 / cfg->snapshot_max_s * (600 + 130.0 * (double)cfg->ndevices);
	printf("%s: flash: %.0f samples/day; at rest %.1f MB of samples (%d days) + %.1f MB of rollups; "
	       "written %.1f MB/day by the store + %.1f MB/day of status snapshots (estimates, docs/storage.md)\n",
	       file, samples, rest / 1e6, cfg->raw_retention_days, rollups / 1e6, written / 1e6, snap / 1e6);
}

static int cmd_check(const struct args *a)
{
	struct gw_config *cfg;
	size_t nregs = 0;

	if (config_load(a->config, stderr, &cfg) < 0) {
		fprintf(stderr, _("%s: configuration is not valid\n"), a->config);
		return 1;
	}
	for (size_t i = 0; i < cfg->ndevices; i++)
		nregs += cfg->devices[i].profile->nregs;
	printf(_("%s: ok: gateway %s, %zu profiles, %zu devices, %zu metrics, config %s\n"), a->config,
	       cfg->gateway_id, cfg->nprofiles, cfg->ndevices, nregs, cfg->digest);
	char warn[512];
	if (config_plaintext_warning(cfg, warn, sizeof(warn)))
		printf("%s\n", warn);
	/* serial buses: can they carry the configured polls? (warnings only) */
	budget_report(cfg, stdout);
	flash_report(a->config, cfg);
	/* each service's summary (lighting, environment, ...) */
	for (const struct service_ops *const *sv = services; *sv; sv++)
		if ((*sv)->report)
			(*sv)->report(cfg, a->config, stdout);
	config_free(cfg);
	return 0;
}

static int cmd_status(const struct args *a)
{
	struct gw_config *cfg;
	char *path;
	int ret;

	if (config_load(a->config, stderr, &cfg) < 0)
		return 4;
	path = config_data_path(cfg, "status.json");
	/* the snapshot is rewritten on change and at least every
	 * store.snapshot_max_s (it says so): three missed ones mean stopped */
	ret = path ? status_print(path, 15, stdout, stderr) : 4;
	free(path);
	config_free(cfg);
	return ret;
}

struct query_out {
	int json;
	size_t n;
};

static int print_row(void *arg, int64_t ts, double v, int q)
{
	struct query_out *o = arg;
	char t[40];

	time_format(ts, t, sizeof(t));
	if (o->json)
		printf("%s\n    {\"t\":\"%s\",\"ts_ms\":%lld,\"v\":", o->n ? "," : "", t, (long long)ts);
	else
		printf("%s,%lld,", t, (long long)ts);
	if (isnan(v))
		printf(o->json ? "null" : "");
	else
		printf("%.12g", v);
	printf(o->json ? ",\"quality\":\"%s\"}" : ",%s\n", quality_name(q));
	o->n++;
	return 0;
}

/* The commands that read the store beside the running gateway (query,
 * kpi, audit, alarms): its path from the config, opened read-only. On
 * failure (logged) *@st is NULL; *@path is the caller's to free either way. */
static int open_reader(const struct gw_config *cfg, struct store **st, char **path)
{
	*st = NULL;
	*path = config_data_path(cfg, cfg->store_path);
	return *path ? store_open_ro(st, *path) : -ENOMEM;
}

/* The same for the commands that need nothing of the config but where the
 * database is (query, audit, alarms): a config with errors elsewhere (being
 * edited, a device not reachable by its profile...) must not hide the
 * history. The errors are printed; *@cfg is NULL then. */
static int open_history(const char *config, const char *cmd, struct gw_config **cfg, struct store **st,
			char **path)
{
	FILE *errs;
	char *buf = NULL;
	size_t len = 0;
	int ret;

	*st = NULL;
	*path = NULL;
	if (!(errs = open_memstream(&buf, &len)))
		return -ENOMEM;
	ret = config_load(config, errs, cfg);
	fclose(errs);
	if (ret == 0) {
		free(buf);
		return open_reader(*cfg, st, path);
	}
	fputs(buf ? buf : "", stderr);
	free(buf);
	if (ret != -EINVAL || !(*path = config_store_path_lenient(config)))
		return ret;
	fprintf(stderr, "wardgw %s: %s has errors (above); reading the history in %s anyway\n", cmd, config, *path);
	return store_open_ro(st, *path);
}

struct all_out {
	struct store *st;
	int64_t from, to;
	const char *dev, *met;
	long n;
	int err;
};

static int print_all_row(void *arg, int64_t ts, double v, int q)
{
	struct all_out *o = arg;

	printf("%s,%s,%lld,", o->dev, o->met, (long long)ts);
	if (!isnan(v))
		printf("%.17g", v);
	printf(",%s\n", quality_name(q));
	o->n++;
	return 0;
}

static int print_series(void *arg, int64_t id, const char *dev, const char *met)
{
	struct all_out *o = arg;
	int rc;

	o->dev = dev;
	o->met = met;
	if ((rc = store_query_id(o->st, id, o->from, o->to, print_all_row, o)) < 0)
		o->err = rc;
	return rc < 0;
}

/* wardgw query --all: every sample of every series, for tests and exports. */
static int query_all(struct store *st, int64_t from, int64_t to)
{
	struct all_out o = { st, from, to, NULL, NULL, 0, 0 };
	int rc;

	printf("device,metric,ts_ms,value,quality\n");
	rc = store_each_series(st, print_series, &o);
	return rc < 0 || o.err < 0 ? 1 : 0;
}


/* CSV: ",v", or "," for a NULL */
static void print_num(const char *sep, double v)
{
	if (isnan(v))
		printf("%s", sep);
	else
		printf("%s%.12g", sep, v);
}

static int print_rollup(void *arg, const struct rollup_row *r)
{
	struct query_out *o = arg;
	double avg = r->count > 0 && !isnan(r->sum) ? r->sum / (double)r->count : NAN;
	char t[40];

	time_format(r->start, t, sizeof(t));
	if (o->json) {
		const double v[] = { r->min, r->max, avg, r->last, r->delta };
		static const char *const k[] = { "min", "max", "avg", "last", "delta" };
		printf("%s\n    {\"t\":\"%s\",\"ts_ms\":%lld,\"count\":%lld", o->n ? "," : "", t, (long long)r->start,
		       (long long)r->count);
		for (int i = 0; i < 5; i++) {
			printf(",\"%s\":", k[i]);
			if (isnan(v[i]))
				printf("null");
			else
				printf("%.12g", v[i]);
		}
		printf("}");
	} else {
		printf("%s,%lld,%lld", t, (long long)r->start, (long long)r->count);
		print_num(",", r->min);
		print_num(",", r->max);
		print_num(",", avg);
		print_num(",", r->last);
		print_num(",", r->delta);
		printf("\n");
	}
	o->n++;
	return 0;
}

/* wardgw query --tier: a series' rollups of one tier (rollup_query). */
static int query_tier(struct store *st, const struct args *a, int tier, int64_t from, int64_t to,
		      struct query_out *o, const char *path)
{
	int64_t id;
	int rc = store_find_series(st, a->device, a->metric, &id);

	if (rc == -ENOENT) {
		fprintf(stderr, "wardgw query: no series %s/%s in %s\n", a->device, a->metric, path);
		return 1;
	}
	if (rc < 0)
		return 1;
	if (o->json) {
		char dev[128], met[128];
		json_escape(dev, sizeof(dev), a->device);
		json_escape(met, sizeof(met), a->metric);
		printf("{\"device\":\"%s\",\"metric\":\"%s\",\"tier\":\"%s\",\"rollups\":[", dev, met, a->tier);
	} else {
		printf("time,ts_ms,count,min,max,avg,last,delta\n");
	}
	rc = rollup_query(st, id, tier, from, to, print_rollup, o);
	if (o->json)
		printf("%s]}\n", o->n ? "\n  " : "");
	return rc < 0 ? 1 : 0;
}

static int cmd_query(const struct args *a)
{
	struct gw_config *cfg = NULL;
	struct store *st = NULL;
	char *path = NULL;
	int64_t now = wall_ms(), from = now - 86400000LL, to = now + 60000;
	struct query_out o = { 0 };
	int ret = 1, rc;

	if (a->all) {
		from = a->from ? from : INT64_MIN;
		to = a->to ? to : INT64_MAX;
	}
	if (!a->all && (!a->device || !a->metric)) {
		fprintf(stderr, "wardgw query: --device and --metric are required (or --all)\n");
		return 2;
	}
	if ((a->from && time_parse(a->from, now, &from) < 0) || (a->to && time_parse(a->to, now, &to) < 0)) {
		fprintf(stderr, "wardgw query: bad time '%s' (use epoch seconds, now, -2h, or 2026-11-23T18:00[:00][+07:00])\n",
			a->from && time_parse(a->from, now, &from) < 0 ? a->from : a->to);
		return 2;
	}
	if (strcmp(a->format, "csv") && strcmp(a->format, "json")) {
		fprintf(stderr, "wardgw query: --format must be csv or json (got '%s')\n", a->format);
		return 2;
	}
	o.json = !strcmp(a->format, "json");
	int tier = -1;
	if (a->tier) {
		static const char *const tiers[NTIERS] = { "minute", "hour", "day" };
		for (int i = 0; i < NTIERS; i++)
			if (!strcmp(a->tier, tiers[i]))
				tier = i;
		if (tier < 0 || a->all) {
			fprintf(stderr, "wardgw query: --tier must be minute, hour or day, without --all (got '%s')\n",
				a->tier);
			return 2;
		}
	}
	if (open_history(a->config, "query", &cfg, &st, &path) < 0)
		goto out;
	if (tier >= 0) {
		ret = query_tier(st, a, tier, from, to, &o, path);
		goto out;
	}
	if (a->all) {
		ret = query_all(st, from, to);
		goto out;
	}
	const char *unit = store_series_unit(st, a->device, a->metric);
	char ubuf[32];
	snprintf(ubuf, sizeof(ubuf), "%s", unit ? unit : "");
	if (o.json) {
		char dev[128], met[128];
		json_escape(dev, sizeof(dev), a->device);
		json_escape(met, sizeof(met), a->metric);
		printf("{\"device\":\"%s\",\"metric\":\"%s\",\"unit\":\"%s\",\"samples\":[", dev, met, ubuf);
	} else {
		printf("time,ts_ms,value,quality\n");
	}
	rc = store_query(st, a->device, a->metric, from, to, print_row, &o);
	if (o.json)
		printf("%s]}\n", o.n ? "\n  " : "");
	if (rc == -ENOENT) {
		fprintf(stderr, "wardgw query: no series %s/%s in %s\n", a->device, a->metric, path);
		goto out;
	}
	ret = rc < 0 ? 1 : 0;
out:
	store_close(st);
	free(path);
	config_free(cfg);
	return ret;
}

static void print_kpi_line(const struct kpi_def *k, int64_t from, int64_t to, double v, int64_t n,
			   int64_t covered_ms, const char *status, long long seq)
{
	char a[40], b[40], val[48], tgt[48] = "-", cov[32] = "", sq[32] = "";

	time_format(from, a, sizeof(a));
	time_format(to, b, sizeof(b));
	if (isfinite(v))
		snprintf(val, sizeof(val), "%.6g %s", v, k->unit ? k->unit : "");
	else
		snprintf(val, sizeof(val), "no data");
	if (k->op != OP_NONE)
		snprintf(tgt, sizeof(tgt), "%s %.6g", k->op == OP_GE ? ">=" : "<=", k->target);
	/* the seconds of the window the gateway ran: a window it was partly
	 * off for is computed from what it stored */
	if (covered_ms >= 0)
		snprintf(cov, sizeof(cov), " covered=%llds", (long long)((covered_ms + 500) / 1000));
	if (seq >= 0)
		snprintf(sq, sizeof(sq), " seq=%lld", seq);
	/* 2026-12-03T14:05:00 .. 14:06:00+07:00; the end's date when it differs */
	a[19] = b[19] = 0;
	printf("%-28s %s .. %s+07:00  %-18s target %-12s %-10s n=%lld%s%s\n", k->name, a,
	       strncmp(a, b, 10) ? b : b + 11, val, tgt, status, (long long)n, cov, sq);
}

static int cmd_kpi(const struct args *a)
{
	struct gw_config *cfg;
	struct store *st = NULL;
	char *path = NULL;
	int64_t now = wall_ms(), at = 0, wfilter = 0;
	int ret = 1, shown = 0;

	if (a->at && time_parse(a->at, now, &at) < 0) {
		fprintf(stderr, "wardgw kpi: bad time '%s' (use epoch seconds, now, -2h, or 2026-11-23T18:00)\n", a->at);
		return 2;
	}
	if (a->window && kpi_window_parse(a->window, &wfilter) < 0) {
		fprintf(stderr, "wardgw kpi: bad window '%s' (use 15m, 1h, 1d ...)\n", a->window);
		return 2;
	}
	if (config_load(a->config, stderr, &cfg) < 0)
		return 1;
	if (open_reader(cfg, &st, &path) < 0)
		goto out;
	if (!cfg->nkpis)
		fprintf(stderr, "wardgw kpi: %s defines no kpis\n", a->config);
	for (size_t i = 0; i < cfg->nkpis; i++) {
		const struct kpi_def *k = &cfg->kpis[i];
		struct kpi_result res;
		sqlite3_stmt *q;
		int64_t from, to;

		if ((a->kpi && strcmp(a->kpi, k->name)) || (wfilter && wfilter != k->window_ms))
			continue;
		shown++;
		from = ward_window_start(a->at ? at : now, k->window_ms);
		to = from + k->window_ms;
		/* stored (closed) windows: the last N, or the one holding --at */
		if (sqlite3_prepare_v2(store_db(st), a->at ?
				       "SELECT start, end, value, n, status, seq FROM kpi_value WHERE kpi = ?1 AND start = ?2" :
				       "SELECT * FROM (SELECT start, end, value, n, status, seq FROM kpi_value WHERE kpi = ?1"
				       " ORDER BY start DESC LIMIT ?3) ORDER BY start", -1, &q, NULL) != SQLITE_OK) {
			fprintf(stderr, "wardgw kpi: %s\n", sqlite3_errmsg(store_db(st)));
			goto out;
		}
		sqlite3_bind_text(q, 1, k->name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, from);
		sqlite3_bind_int(q, 3, a->last);
		int found = 0;
		while (sqlite3_step(q) == SQLITE_ROW) {
			double v = sqlite3_column_type(q, 2) == SQLITE_NULL ? NAN : sqlite3_column_double(q, 2);
			print_kpi_line(k, sqlite3_column_int64(q, 0), sqlite3_column_int64(q, 1), v,
				       sqlite3_column_int64(q, 3),
				       kpi_covered_ms(store_db(st), sqlite3_column_int64(q, 0), sqlite3_column_int64(q, 1)),
				       (const char *)sqlite3_column_text(q, 4), sqlite3_column_int64(q, 5));
			found = sqlite3_column_int64(q, 0) == from;
		}
		sqlite3_finalize(q);
		if (found)
			continue;
		/* the open window (or one not closed yet): computed from what is stored so far */
		if (kpi_compute(store_db(st), cfg, k, kpi_tier(k), from, to, &res) < 0) {
			fprintf(stderr, "wardgw kpi: %s: cannot compute: %s\n", k->name, sqlite3_errmsg(store_db(st)));
			goto out;
		}
		print_kpi_line(k, from, to, res.value, res.n, res.covered_ms, to > now ? "open" : "not closed", -1);
	}
	if (a->kpi && !shown) {
		fprintf(stderr, "wardgw kpi: no KPI named '%s' in %s\n", a->kpi, a->config);
		goto out;
	}
	ret = 0;
out:
	store_close(st);
	free(path);
	config_free(cfg);
	return ret;
}

static int cmd_schedule(const struct args *a)
{
	struct gw_config *cfg;
	struct store *st = NULL;
	struct sched_override *ov = NULL;
	size_t nov = 0;
	char *path = NULL;
	int32_t day = lighting_day(wall_ms());

	if (a->date && parse_ward_date(a->date, &day) < 0) {
		fprintf(stderr, "wardgw schedule: --date must be a date such as 2026-02-17 (got '%s')\n", a->date);
		return 2;
	}
	if (config_load(a->config, stderr, &cfg) < 0)
		return 1;
	if (cfg->lighting) {
		for (size_t i = 0; i < cfg->lighting->noverrides; i++) {
			struct sched_override *nv = realloc(ov, (nov + 1) * sizeof(*nv));
			if (!nv)
				break;
			ov = nv;
			ov[nov++] = cfg->lighting->overrides[i];
		}
		/* the overrides IOC commands left, when the database is there */
		path = config_data_path(cfg, cfg->store_path);
		if (path && access(path, R_OK) == 0 && store_open_ro(&st, path) == 0)
			lighting_load_overrides(store_db(st), 0, &ov, &nov);
	}
	lighting_print_schedule(stdout, cfg, day, ov, nov);
	store_close(st);
	free(ov);
	free(path);
	config_free(cfg);
	return 0;
}

/* wardgw audit and wardgw alarms: read the store (never writing it, so
 * beside the running gateway) and print with @print from time --from (or
 * @from_default). */
static int print_from_store(const struct args *a, const char *cmd, int64_t from_default,
			    int (*print)(sqlite3 *db, int64_t from, const struct args *a))
{
	struct gw_config *cfg = NULL;
	struct store *st = NULL;
	char *path = NULL;
	int64_t from = from_default;
	int ret = 1;

	if (a->from && time_parse(a->from, wall_ms(), &from) < 0) {
		fprintf(stderr, "wardgw %s: bad time '%s' (use epoch seconds, now, -2h, or 2026-11-23T18:00)\n",
			cmd, a->from);
		return 2;
	}
	if (open_history(a->config, cmd, &cfg, &st, &path) < 0)
		goto out;
	ret = print(store_db(st), from, a) < 0;
out:
	store_close(st);
	free(path);
	config_free(cfg);
	return ret;
}

static int print_audit(sqlite3 *db, int64_t from, const struct args *a)
{
	return lighting_print_audit(stdout, db, from, a->last);
}

static int print_alarms(sqlite3 *db, int64_t from, const struct args *a)
{
	return lamp_alarms_print(stdout, db, from);
}

static int cmd_audit(const struct args *a)
{
	return print_from_store(a, "audit", 0, print_audit);
}

static int cmd_alarms(const struct args *a)
{
	return print_from_store(a, "alarms", wall_ms() - 7 * 86400000LL, print_alarms);
}

/* Each device holds a socket; let the process use all it may. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int cmd_run(const struct args *a)
{
	struct gw_config *cfg;
	struct gateway gw;
	struct rlimit rl;
	int ret;

	if (config_load(a->config, stderr, &cfg) < 0) {
		fprintf(stderr, "%s: configuration is not valid; not starting\n", a->config);
		return 1;
	}
	/* the config's level, moved one step per -v (more) or -q (less) */
	log_set_cli_delta(a->verbose - a->quiet);
	log_configure(cfg->log_level, cfg->log_target, cfg->log_repeat_burst, cfg->log_repeat_interval_s);
	char warn[512];
	if (config_plaintext_warning(cfg, warn, sizeof(warn)))
		log_warn("%s", warn);
	raise_nofile();
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < cfg->ndevices + 64)
		log_warn("gateway: open-files limit %llu is below %zu devices + 64; raise LimitNOFILE",
			 (unsigned long long)rl.rlim_cur, cfg->ndevices);
	/* a peer closing a socket must be an error return, not a signal */
	signal(SIGPIPE, SIG_IGN);
	evthread_use_pthreads();
	ret = gateway_init(&gw, cfg, &(struct gateway_opts){ a->live, a->stats, a->run_secs });
	if (ret == 0)
		ret = gateway_run(&gw);
	else
		log_err("gateway: start-up failed: %s", strerror(-ret));
	gateway_release(&gw);
	config_free(cfg);
	return ret < 0 ? 1 : 0;
}

/* wardgw probe and wardgw scan, the technician's tools (gateway/probe.c).
 * Their options differ from the other commands', so they parse their own. */
struct tool_args {
	const char *config, *device, *tcp, *rtu, *unit, *units, *table, *address, *count, *timeout, *rtu_tcp;
	int debug, verbose;
};

static int parse_tool_args(const char *cmd, int argc, char **argv, struct tool_args *a)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "device", required_argument, NULL, 'd' },
		{ "tcp", required_argument, NULL, 'T' },
		{ "rtu", required_argument, NULL, 'R' },
		{ "rtu-tcp", required_argument, NULL, 'Q' },
		{ "unit", required_argument, NULL, 'u' },
		{ "units", required_argument, NULL, 'U' },
		{ "table", required_argument, NULL, 't' },
		{ "address", required_argument, NULL, 'a' },
		{ "count", required_argument, NULL, 'n' },
		{ "timeout-ms", required_argument, NULL, 'o' },
		{ "debug", no_argument, NULL, 'D' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	memset(a, 0, sizeof(*a));
	while ((c = getopt_long(argc, argv, "c:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': a->config = optarg; break;
		case 'd': a->device = optarg; break;
		case 'T': a->tcp = optarg; break;
		case 'R': a->rtu = optarg; break;
		case 'Q': a->rtu_tcp = optarg; break;
		case 'u': a->unit = optarg; break;
		case 'U': a->units = optarg; break;
		case 't': a->table = optarg; break;
		case 'a': a->address = optarg; break;
		case 'n': a->count = optarg; break;
		case 'o': a->timeout = optarg; break;
		case 'D': a->debug = 1; break;
		case 'v': a->verbose++; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "wardgw %s: unexpected argument '%s'\n", cmd, argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* The link (--tcp or --rtu, exactly one), the table and the timeout, shared
 * by probe and scan. */
static int tool_link(const char *cmd, const struct tool_args *a, struct probe_target *t,
		     enum reg_table *table, int *timeout_ms)
{
	char err[256];
	long v;

	if (!!a->tcp + !!a->rtu + !!a->rtu_tcp != 1) {
		fprintf(stderr, "wardgw %s: give either --tcp HOST:PORT or --rtu DEV:BAUD:8N1%s\n", cmd,
			a->tcp || a->rtu || a->rtu_tcp ? ", not both" : " (or --rtu-tcp HOST:PORT)");
		return -EINVAL;
	}
	if (a->rtu_tcp) {
		/* raw RTU frames to a serial server: a TCP address, a line's units */
		if (probe_parse_tcp(a->rtu_tcp, t, err, sizeof(err)) < 0) {
			fprintf(stderr, "wardgw %s: --rtu-tcp %s\n", cmd, err);
			return -EINVAL;
		}
		t->link = PROBE_RTU_TCP;
	} else if ((a->tcp ? probe_parse_tcp(a->tcp, t, err, sizeof(err)) : probe_parse_rtu(a->rtu, t, err, sizeof(err))) < 0) {
		fprintf(stderr, "wardgw %s: %s %s\n", cmd, a->tcp ? "--tcp" : "--rtu", err);
		return -EINVAL;
	}
	if (a->table && reg_table_parse(a->table, table) < 0) {
		fprintf(stderr, "wardgw %s: --table must be holding, input, coil or discrete (got '%s')\n", cmd, a->table);
		return -EINVAL;
	}
	if (a->timeout) {
		if (probe_parse_number("--timeout-ms", a->timeout, 1, 60000, &v, err, sizeof(err)) < 0) {
			fprintf(stderr, "wardgw %s: %s\n", cmd, err);
			return -EINVAL;
		}
		*timeout_ms = (int)v;
	}
	return 0;
}

static int cmd_probe(int argc, char **argv)
{
	struct tool_args a;
	struct probe_read_opts o = { .unit = 1, .timeout_ms = 1000 };
	char err[256];
	long v;
	int ret;

	if (parse_tool_args("probe", argc, argv, &a) < 0)
		return 2;
	if (a.units) {
		fprintf(stderr, "wardgw probe: --units is for scan; probe reads one --unit\n");
		return 2;
	}
	if (a.config || a.device) {
		struct gw_config *cfg;
		int timeout_ms = 0;

		if (!a.config || !a.device) {
			fprintf(stderr, "wardgw probe: -c FILE and --device NAME go together\n");
			return 2;
		}
		if (a.tcp || a.rtu || a.rtu_tcp || a.unit || a.table || a.address || a.count) {
			fprintf(stderr, "wardgw probe: with -c and --device the config says where and what to read; "
				"drop --tcp/--rtu/--unit/--table/--address/--count\n");
			return 2;
		}
		if (a.timeout) {
			if (probe_parse_number("--timeout-ms", a.timeout, 1, 60000, &v, err, sizeof(err)) < 0) {
				fprintf(stderr, "wardgw probe: %s\n", err);
				return 2;
			}
			timeout_ms = (int)v;
		}
		if (config_load(a.config, stderr, &cfg) < 0) {
			fprintf(stderr, "%s: configuration is not valid\n", a.config);
			return 1;
		}
		ret = probe_device(cfg, a.device, timeout_ms, a.debug, stdout, stderr);
		config_free(cfg);
		return ret;
	}
	if (tool_link("probe", &a, &o.target, &o.table, &o.timeout_ms) < 0)
		return 2;
	if (!a.table || !a.address || !a.count) {
		fprintf(stderr, "wardgw probe: --table, --address and --count are required (missing:%s%s%s)\n",
			a.table ? "" : " --table", a.address ? "" : " --address", a.count ? "" : " --count");
		return 2;
	}
	if ((a.unit && probe_parse_unit(a.unit, o.target.link, &o.unit, err, sizeof(err)) < 0) ||
	    probe_parse_number("--address", a.address, 0, 65535, &v, err, sizeof(err)) < 0) {
		fprintf(stderr, "wardgw probe: %s\n", err);
		return 2;
	}
	o.address = (unsigned)v;
	if (probe_parse_number("--count", a.count, 1, reg_table_is_bits(o.table) ? 2000 : 125, &v, err,
			       sizeof(err)) < 0 ||
	    probe_check_span(o.table, o.address, (unsigned long)v, err, sizeof(err)) < 0) {
		fprintf(stderr, "wardgw probe: %s\n", err);
		return 2;
	}
	o.count = (unsigned)v;
	o.debug = a.debug;
	return probe_registers(&o, stdout, stderr);
}

static int cmd_scan(int argc, char **argv)
{
	struct tool_args a;
	struct probe_scan_opts o = { .table = TABLE_HOLDING, .timeout_ms = 200 };
	char err[256];
	long v;

	if (parse_tool_args("scan", argc, argv, &a) < 0)
		return 2;
	if (a.config || a.device || a.unit || a.count) {
		fprintf(stderr, "wardgw scan: takes --tcp or --rtu, --units, --table, --address, --timeout-ms%s\n",
			a.unit ? " (--units, not --unit)" : "");
		return 2;
	}
	if (tool_link("scan", &a, &o.target, &o.table, &o.timeout_ms) < 0)
		return 2;
	if (probe_parse_units(a.units ? a.units : "1-247", o.target.link, o.units, err, sizeof(err)) < 0 ||
	    (a.address && probe_parse_number("--address", a.address, 0, 65535, &v, err, sizeof(err)) < 0)) {
		fprintf(stderr, "wardgw scan: %s\n", err);
		return 2;
	}
	o.address = a.address ? (unsigned)v : 0;
	o.verbose = a.verbose;
	o.debug = a.debug;
	return probe_scan(&o, stdout, stderr);
}

/* wardgw write: one write through the device's driver (gateway/wtool.c). */
static int cmd_write(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "device", required_argument, NULL, 'd' },
		{ "metric", required_argument, NULL, 'm' },
		{ "value", required_argument, NULL, 'x' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *config = "/etc/wardgw/gateway.conf", *device = NULL, *metric = NULL, *value = NULL;
	struct gw_config *cfg = NULL;
	int c, verbose = 0, ret;

	while ((c = getopt_long(argc, argv, "c:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'd': device = optarg; break;
		case 'm': metric = optarg; break;
		case 'x': value = optarg; break;
		case 'v': verbose++; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc || !device || !metric || !value) {
		fprintf(stderr, "wardgw write: needs --device NAME --metric M --value V (and -c FILE)\n");
		return 2;
	}
	/* the tool prints its own one-line verdict; the driver's log only with -v */
	log_threshold = verbose ? LOG_LVL_INFO : LOG_LVL_ERROR;
	if (config_load(config, stderr, &cfg) < 0)
		return 1;
	ret = wtool_write(cfg, device, metric, value, stdout, stderr);
	config_free(cfg);
	return ret;
}

int main(int argc, char **argv)
{
	struct args a;

	i18n_init();
	if (argc > 1 && !strcmp(argv[1], "probe"))
		return cmd_probe(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "scan"))
		return cmd_scan(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "write"))
		return cmd_write(argc - 1, argv + 1);
	/* the services' own subcommands (import-survey, coverage) */
	for (const struct service_ops *const *sv = services; argc > 1 && *sv; sv++)
		for (const struct service_cmd *c = (*sv)->cmds; c && c->name; c++)
			if (!strcmp(argv[1], c->name))
				return c->run(argc - 1, argv + 1);
	if (parse_args(argc, argv, &a) < 0)
		return 2;
	log_adjust_level(a.verbose - a.quiet);   /* for the tools; run applies the config's level */
	if (!strcmp(a.cmd, "run"))
		return cmd_run(&a);
	if (!strcmp(a.cmd, "check"))
		return cmd_check(&a);
	if (!strcmp(a.cmd, "status"))
		return cmd_status(&a);
	if (!strcmp(a.cmd, "query"))
		return cmd_query(&a);
	if (!strcmp(a.cmd, "kpi"))
		return cmd_kpi(&a);
	if (!strcmp(a.cmd, "schedule"))
		return cmd_schedule(&a);
	if (!strcmp(a.cmd, "audit"))
		return cmd_audit(&a);
	if (!strcmp(a.cmd, "alarms"))
		return cmd_alarms(&a);
	fprintf(stderr, "wardgw: unknown command '%s'\n", a.cmd);
	usage(stderr);
	return 2;
}
