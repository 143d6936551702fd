/* `wardgw import-survey` loads drive-test files into the store's
 * coverage_sample table; `wardgw coverage` prints the ward's coverage and
 * writes the dead spots as GeoJSON. Both work beside a running daemon
 * (SQLite WAL, busy timeout). */
#include "coverage_cli.h"

#include <errno.h>
#include <getopt.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "coverage.h"
#include "gateway.h"
#include "log.h"
#include "store.h"
#include "timeparse.h"

struct cli_args {
	const char *config, *geojson, *at;
};

static int parse(const char *cmd, int argc, char **argv, struct cli_args *a, int want_files)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "geojson", required_argument, NULL, 'g' },
		{ "at", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	memset(a, 0, sizeof(*a));
	a->config = "/etc/wardgw/gateway.conf";
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': a->config = optarg; break;
		case 'g': a->geojson = optarg; break;
		case 'a': a->at = optarg; break;
		case 'h':
			printf(want_files ? "usage: wardgw import-survey -c FILE SURVEY.csv...\n"
					  : "usage: wardgw coverage -c FILE [--geojson OUT] [--at T]\n");
			exit(0);
		default:
			return -EINVAL;
		}
	}
	if (want_files && optind >= argc) {
		fprintf(stderr, "wardgw %s: give one or more survey CSV files\n", cmd);
		return -EINVAL;
	}
	if (!want_files && optind < argc) {
		fprintf(stderr, "wardgw %s: unexpected argument '%s'\n", cmd, argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* The daemon's database; import-survey may come first, so the data
 * directory is created as the daemon would (mode 0750). */
static int open_store(const struct gw_config *cfg, struct store **st, int create)
{
	char *path = config_data_path(cfg, cfg->store_path);
	int rc;

	if (!path)
		return -ENOMEM;
	for (char *p = path + 1; create && *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(path, 0750) < 0 && errno != EEXIST)
			fprintf(stderr, "wardgw: cannot create %s: %s\n", path, strerror(errno));
		*p = '/';
	}
	rc = store_open(st, path);
	free(path);
	return rc;
}

int coverage_cmd_import(int argc, char **argv)
{
	struct cli_args a;
	struct gw_config *cfg = NULL;
	struct store *st = NULL;
	int ret = 1;

	if (parse("import-survey", argc, argv, &a, 1) < 0)
		return 2;
	if (config_load(a.config, stderr, &cfg) < 0)
		return 1;
	if (open_store(cfg, &st, 1) < 0)
		goto out;
	ret = 0;
	for (int i = optind; i < argc; i++) {
		struct survey_import r;
		if (coverage_import_survey(store_db(st), argv[i], stderr, &r) < 0) {
			ret = 1;
			continue;
		}
		if (r.already)
			continue;
		printf("%s: %zu rows: %zu imported, %zu already stored, %zu bad (skipped)\n", argv[i], r.rows,
		       r.inserted, r.duplicates, r.bad);
	}
out:
	store_close(st);
	config_free(cfg);
	return ret;
}

int coverage_cmd_coverage(int argc, char **argv)
{
	struct cli_args a;
	struct gw_config *cfg = NULL;
	struct store *st = NULL;
	struct coverage_report *r = NULL;
	int64_t now = wall_ms();
	char *gj = NULL;
	int ret = 1;

	if (parse("coverage", argc, argv, &a, 0) < 0)
		return 2;
	if (a.at && time_parse(a.at, now, &now) < 0) {
		fprintf(stderr, "wardgw coverage: bad time '%s' (use epoch seconds, now, -2h, or 2026-11-23T18:00)\n", a.at);
		return 2;
	}
	if (config_load(a.config, stderr, &cfg) < 0)
		return 1;
	if (!cfg->coverage) {
		fprintf(stderr, "wardgw coverage: %s has no coverage { ... } section (the ward boundary and thresholds)\n",
			a.config);
		goto out;
	}
	if (open_store(cfg, &st, 0) < 0 || coverage_compute(store_db(st), cfg->coverage, now, &r) < 0)
		goto out;
	coverage_print(r, stdout);
	if (a.geojson) {
		FILE *f;
		if (!(gj = coverage_geojson(r))) {
			fprintf(stderr, "wardgw coverage: out of memory\n");
			goto out;
		}
		if (!(f = fopen(a.geojson, "w")) || fputs(gj, f) < 0 || fputc('\n', f) < 0 || fclose(f) != 0) {
			fprintf(stderr, "wardgw coverage: cannot write %s: %s\n", a.geojson, strerror(errno));
			goto out;
		}
	}
	ret = 0;
out:
	free(gj);
	coverage_report_free(r);
	store_close(st);
	config_free(cfg);
	return ret;
}
