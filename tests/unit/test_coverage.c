/* The coverage engine on small hand-made grids: the median of a cell is
 * taken in linear power, cells outside the ward and samples outside the
 * window do not count, dead cells merge by the configured adjacency; and
 * the coverage config's errors at FILE:LINE. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "unit_files.h"
#include <sqlite3.h>

#include "config.h"
#include "coverage.h"
#include "survey.h"

#define LAT0 11.0
#define LON0 106.0
#define EARTH_R 6371008.8
#define NOW 1795400000000LL

static char dir[64];

static void write_file(const char *name, const char *text)
{
	ut_write(dir, name, text, 0644);
}

static int setup(void **state)
{
	if (ut_mkdir(dir, sizeof(dir), "wardgw-unit") < 0)
		return -1;
	write_file("profiles/m.conf", "profile = { name = \"m\"; registers = ( { metric = \"x\"; table = \"input\"; address = 0; type = \"u16\"; } ); };\n");
	return 0;
}

static int teardown(void **state)
{
	return ut_rmdir(dir);
}

/* A 4 x 3-cell ward of 100 m cells around (LAT0, LON0). */
static struct coverage_conf *ward(int adjacency)
{
	struct coverage_conf *c = calloc(1, sizeof(*c));
	double ky = EARTH_R * M_PI / 180, kx = ky * cos(LAT0 * M_PI / 180);
	double w = 200 / kx, h = 150 / ky;
	double ring[] = { LON0 - w, LAT0 - h, LON0 + w, LAT0 - h, LON0 + w, LAT0 + h, LON0 - w, LAT0 + h, LON0 - w, LAT0 - h };

	c->cell_m = 100;
	c->window_days = 30;
	c->lte_rsrp_min = -110;
	c->nr_rsrp_min = -105;
	c->adjacency = adjacency;
	c->ring = malloc(sizeof(ring));
	memcpy(c->ring, ring, sizeof(ring));
	c->nring = 5;
	return c;
}

static void put(sqlite3 *db, int ix, int iy, const char *tech, const char *op, double rsrp, int64_t ts)
{
	double ky = EARTH_R * M_PI / 180, kx = ky * cos(LAT0 * M_PI / 180);
	struct coverage_sample s = {
		.ts_ms = ts, .lat = LAT0 + ((iy + 0.5) * 100 - 150) / ky, .lon = LON0 + ((ix + 0.5) * 100 - 200) / kx,
		.tech = rat_parse(tech), .op = op, .rsrp = rsrp, .rsrq = NAN, .sinr = NAN,
	};
	assert_int_equal(coverage_insert(db, &s, "test"), 1);
}

static void test_linear_median(void **state)
{
	struct coverage_conf *c = ward(8);
	struct coverage_report *r;
	const struct coverage_group *g;
	sqlite3 *db;
	int64_t t = NOW - 3600000;

	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(coverage_db_init(db), 0);
	/* cell (0,0): -100 and -125 -> linear mean -102.99 dBm: covered (the mean in dB, -112.5, would not be) */
	put(db, 0, 0, "LTE", "A", -100, t++);
	put(db, 0, 0, "LTE", "A", -125, t++);
	/* cell (1,0): three samples, median -111: dead */
	put(db, 1, 0, "LTE", "A", -90, t++);
	put(db, 1, 0, "LTE", "A", -111, t++);
	put(db, 1, 0, "LTE", "A", -130, t++);
	/* cell (3,2): exactly the threshold is covered */
	put(db, 3, 2, "LTE", "A", -110, t++);
	/* too old for the 30-day window */
	put(db, 2, 2, "LTE", "A", -140, NOW - 31 * 86400000LL);
	/* operator B covers cell (1,0): "any" counts it covered */
	put(db, 1, 0, "LTE", "B", -80, t++);
	assert_int_equal(coverage_compute(db, c, NOW, &r), 0);
	assert_int_equal(coverage_ward_cells(r), 12);
	g = coverage_find(r, RAT_LTE, "A");
	assert_non_null(g);
	assert_int_equal(g->measured, 3);
	assert_int_equal(g->covered, 2);
	assert_int_equal(g->samples, 6);
	assert_int_equal(g->samples_ok, 3);
	assert_int_equal(g->nclusters, 1);
	assert_int_equal(g->clusters[0].ncells, 1);
	assert_int_equal(g->clusters[0].samples, 3);
	assert_true(fabs(g->clusters[0].median_dbm - -111) < 1e-9);
	assert_true(fabs(coverage_area_pct(g) - 200.0 / 3) < 1e-9);
	assert_true(fabs(coverage_measured_pct(r, g) - 25) < 1e-9);
	g = coverage_find(r, RAT_LTE, "any");
	assert_non_null(g);
	assert_int_equal(g->measured, 3);
	assert_int_equal(g->covered, 3);
	assert_null(coverage_find(r, RAT_NR, "any"));
	char *gj = coverage_geojson(r);
	assert_non_null(gj);
	assert_non_null(strstr(gj, "\"type\":\"FeatureCollection\""));
	free(gj);
	coverage_report_free(r);
	sqlite3_close(db);
	coverage_conf_free(c);
}


/* Issue 15 item 16: "any" has the dead spots no operator covers (it had
 * none at all, whatever the cells). */
static void test_any_dead_spots(void **state)
{
	struct coverage_conf *c = ward(8);
	struct coverage_report *r;
	const struct coverage_group *g;
	sqlite3 *db;
	int64_t t = NOW - 3600000;

	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(coverage_db_init(db), 0);
	/* cells (0,0) and (1,0): dead for both operators; (3,2): dead for A only */
	put(db, 0, 0, "LTE", "A", -120, t++);
	put(db, 1, 0, "LTE", "A", -125, t++);
	put(db, 3, 2, "LTE", "A", -130, t++);
	put(db, 0, 0, "LTE", "B", -115, t++);
	put(db, 1, 0, "LTE", "B", -118, t++);
	put(db, 3, 2, "LTE", "B", -90, t++);
	assert_int_equal(coverage_compute(db, c, NOW, &r), 0);
	g = coverage_find(r, RAT_LTE, "A");
	assert_int_equal(g->nclusters, 2);
	g = coverage_find(r, RAT_LTE, "any");
	assert_non_null(g);
	assert_int_equal(g->measured, 3);
	assert_int_equal(g->covered, 1);
	assert_int_equal(g->nclusters, 1);
	assert_int_equal(g->clusters[0].ncells, 2);
	assert_int_equal(g->clusters[0].samples, 4);
	assert_true(g->clusters[0].median_dbm < -110);
	char *gj = coverage_geojson(r);
	assert_non_null(strstr(gj, "\"operator\":\"any\""));
	free(gj);
	coverage_report_free(r);
	sqlite3_close(db);
	coverage_conf_free(c);
}

static void test_adjacency(void **state)
{
	sqlite3 *db;
	int64_t t = NOW - 3600000;

	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(coverage_db_init(db), 0);
	/* NR threshold -105: dead (0,0) and (1,1) touch at a corner; (3,0) alone */
	put(db, 0, 0, "NR", "A", -106, t++);
	put(db, 1, 1, "NR", "A", -120, t++);
	put(db, 3, 0, "NR", "A", -130, t++);
	put(db, 1, 0, "NR", "A", -105, t++);
	for (int adj = 4; adj <= 8; adj += 4) {
		struct coverage_conf *c = ward(adj);
		struct coverage_report *r;
		const struct coverage_group *g;
		assert_int_equal(coverage_compute(db, c, NOW, &r), 0);
		g = coverage_find(r, RAT_NR, "A");
		assert_non_null(g);
		assert_int_equal(g->measured, 4);
		assert_int_equal(g->covered, 1);
		assert_int_equal(g->nclusters, adj == 8 ? 2 : 3);
		coverage_report_free(r);
		coverage_conf_free(c);
	}
	/* a sample outside the ward is not a cell of it */
	struct coverage_sample s = { .ts_ms = t++, .lat = LAT0 + 0.01, .lon = LON0, .tech = RAT_NR, .op = "A",
				     .rsrp = -140, .rsrq = NAN, .sinr = NAN };
	assert_int_equal(coverage_insert(db, &s, "test"), 1);
	assert_int_equal(coverage_insert(db, &s, "test"), 0);  /* duplicate */
	struct coverage_conf *c = ward(8);
	struct coverage_report *r;
	assert_int_equal(coverage_compute(db, c, NOW, &r), 0);
	assert_int_equal(coverage_find(r, RAT_NR, "A")->samples, 4);
	coverage_report_free(r);
	coverage_conf_free(c);
	sqlite3_close(db);
}

static char *load_err(const char *coverage)
{
	char path[128], conf[2048];
	struct gw_config *cfg = NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *errs = open_memstream(&buf, &len);

	snprintf(conf, sizeof(conf),
		 "gateway = { id = \"g\"; lat = 11.0; lon = 106.0; };\n"
		 "profiles_dir = \"profiles\";\n"
		 "devices = ( { name = \"d\"; host = \"127.0.0.1\"; profile = \"m\"; } );\n"
		 "%s\n", coverage);
	write_file("gw.conf", conf);
	snprintf(path, sizeof(path), "%s/gw.conf", dir);
	int rc = config_load(path, errs, &cfg);
	fclose(errs);
	if (rc == 0) {
		assert_non_null(cfg->coverage);
		config_free(cfg);
	}
	return buf;
}

static void expect(const char *coverage, const char *msg)
{
	char *e = load_err(coverage);
	if (!strstr(e, msg))
		fail_msg("config '%s': got '%s', want '%s'", coverage, e, msg);
	free(e);
}

static void test_config(void **state)
{
	char *e = load_err("coverage = { boundary = ( [106.0, 11.0], [106.01, 11.0], [106.01, 11.01] ); };");
	assert_string_equal(e, "");
	free(e);
	expect("coverage = { cell_m = 100.0; };", "gw.conf:4: coverage: the ward boundary is required");
	expect("coverage = {\n adjacency = 6;\n boundary = ( [106.0, 11.0], [106.01, 11.0], [106.01, 11.01] ); };",
	       "gw.conf:4: coverage: adjacency must be 4");
	expect("coverage = {\n boundary = ( [106.0, 11.0], [106.01, 11.0] ); };", "gw.conf:5: boundary: a boundary needs at least 3");
	expect("coverage = {\n boundary = ( [11.0, 106.0], [11.01, 106.0], [11.01, 106.01] ); };", "lat -90..90");
	expect("coverage = {\n boundary = ( [106.0, 11.0], [107.01, 11.0], [107.01, 11.01] ); };", "more than 0.5 degrees");
	expect("coverage = {\n boundary = (\n [106.0, 11.0],\n [106, 11] ); };", "gw.conf:7: boundary position 2 must be [lon, lat]");
	expect("coverage = {\n boundary_file = \"nope.geojson\"; };", "gw.conf:5: boundary_file");
	expect("coverage = {\n cel_m = 50.0; boundary_file = \"x\"; };", "unknown key 'cel_m' in coverage (did you mean 'cell_m'?)");
	write_file("ward.geojson", "{\"type\":\"FeatureCollection\",\"features\":[{\"type\":\"Feature\",\"geometry\":{\"type\":\"Polygon\","
		   "\"coordinates\":[[[106.0,11.0],[106.01,11.0],[106.01,11.01],[106.0,11.0]]]}}]}");
	e = load_err("coverage = { boundary_file = \"ward.geojson\"; };");
	assert_string_equal(e, "");
	free(e);
	write_file("bad.geojson", "{\"type\":\"Point\",\"coordinates\":[106.0,11.0]}");
	expect("coverage = {\n boundary_file = \"bad.geojson\"; };", "no Polygon or MultiPolygon");
	expect("coverage = { boundary_file = \"ward.geojson\"; };\nkpis = (\n { name = \"k\"; aggregate = \"coverage\"; window = \"1d\"; technology = \"3G\"; } );",
	       "gw.conf:6: technology must be \"LTE\" (4G) or \"NR\" (5G) (got '3G')");
	expect("coverage = { boundary_file = \"ward.geojson\"; };\nkpis = (\n { name = \"k\"; aggregate = \"coverage\"; window = \"1d\"; technology = \"NR\"; figure = \"population\"; } );",
	       "figure population needs coverage.population_file");
	expect("kpis = (\n { name = \"k\"; aggregate = \"coverage\"; window = \"1d\"; technology = \"NR\"; } );",
	       "aggregate coverage needs a coverage { ... } section");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_linear_median),
		cmocka_unit_test(test_adjacency),
		cmocka_unit_test(test_any_dead_spots),
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
