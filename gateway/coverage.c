/* Coverage engine (see coverage.h): samples -> grid over the ward -> per
 * cell median in linear power -> covered / dead cells -> KPIs and dead-spot
 * clusters as GeoJSON. The grid is a local equirectangular projection
 * around the centre of the ward's bounding box: at ward scale (a few km)
 * its distortion is far below one cell. */
#include "coverage.h"
#include "i18n.h"

#include <errno.h>
#include <jansson.h>
#include <libconfig.h>
#include <math.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "kpi.h"
#include "log.h"
#include "survey.h"
#include "timeparse.h"

#define EARTH_R 6371008.8       /* mean radius, m */
#define MAX_CELLS (1 << 20)     /* a ward at 10 m cells is ~50k; this caps a mistake */
#define MAX_RING 10000

/* --- config --- */

#define OFF(f) offsetof(struct coverage_conf, f)
static const struct opt coverage_opts[] = {
	{ "cell_m", OPT_DOUBLE, OFF(cell_m), 10, 1000, 100, NULL, 0 },
	{ "window_days", OPT_INT, OFF(window_days), 1, 3650, 30, NULL, 0 },
	{ "lte_rsrp_min", OPT_DOUBLE, OFF(lte_rsrp_min), -141, -44, -110, NULL, 0 },
	{ "nr_rsrp_min", OPT_DOUBLE, OFF(nr_rsrp_min), -156, -31, -110, NULL, 0 },
	{ "adjacency", OPT_INT, OFF(adjacency), 4, 8, 8, NULL, 0 },
	{ "publish_interval_s", OPT_INT, OFF(publish_interval_s), 10, 86400, 300, NULL, 0 },
	{ "boundary_file", OPT_STRING, OFF(boundary_file), 0, 0, 0, NULL, 0 },
	{ "population_file", OPT_STRING, OFF(population_file), 0, 0, 0, NULL, 0 },
	{ 0 }
};
static const char *const coverage_extra[] = { "boundary", NULL };

static char *rel_to(const char *base_file, const char *p)
{
	const char *slash = strrchr(base_file, '/');
	size_t dl = slash ? (size_t)(slash - base_file) : 1;
	char *out;

	if (p[0] == '/')
		return strdup(p);
	out = malloc(dl + strlen(p) + 2);
	if (!out)
		return NULL;
	if (slash)
		memcpy(out, base_file, dl);
	else
		out[0] = '.';
	out[dl] = '/';
	strcpy(out + dl + 1, p);
	return out;
}

/* A ring of lon/lat: ranges, at least a triangle, closed (closed here if not), not huge. */
static const char *ring_check(double **ring, size_t *n)
{
	double *r = *ring, minx = 1e9, maxx = -1e9, miny = 1e9, maxy = -1e9;

	for (size_t i = 0; i < *n; i++) {
		double lon = r[2 * i], lat = r[2 * i + 1];
		if (!isfinite(lon) || !isfinite(lat) || lon < -180 || lon > 180 || lat < -90 || lat > 90)
			return "a position is not [lon, lat] with lon -180..180 and lat -90..90";
		minx = fmin(minx, lon), maxx = fmax(maxx, lon);
		miny = fmin(miny, lat), maxy = fmax(maxy, lat);
	}
	if (*n && (r[0] != r[2 * (*n - 1)] || r[1] != r[2 * (*n - 1) + 1])) {
		double *nr = realloc(r, (*n + 1) * 2 * sizeof(double));
		if (!nr)
			return "out of memory";
		nr[2 * *n] = nr[0];
		nr[2 * *n + 1] = nr[1];
		*ring = nr;
		(*n)++;
	}
	if (*n < 4)
		return "a boundary needs at least 3 distinct positions";
	if (maxx - minx <= 0 || maxy - miny <= 0)
		return "the boundary has no area";
	if (maxx - minx > 0.5 || maxy - miny > 0.5)
		return "the boundary spans more than 0.5 degrees (a ward is a few km across; is it [lon, lat]?)";
	return NULL;
}

static int ring_from_json(json_t *coords, double **ring, size_t *n)
{
	size_t m = json_array_size(coords);

	if (!json_is_array(coords) || m > MAX_RING)
		return -EINVAL;
	*ring = calloc(m + 1, 2 * sizeof(double));
	if (!*ring)
		return -ENOMEM;
	for (size_t i = 0; i < m; i++) {
		json_t *p = json_array_get(coords, i);
		if (!json_is_array(p) || json_array_size(p) < 2 || !json_is_number(json_array_get(p, 0)) ||
		    !json_is_number(json_array_get(p, 1)))
			return -EINVAL;
		(*ring)[2 * i] = json_number_value(json_array_get(p, 0));
		(*ring)[2 * i + 1] = json_number_value(json_array_get(p, 1));
	}
	*n = m;
	return 0;
}

/* The outer ring of the first polygon in a GeoJSON Polygon, MultiPolygon,
 * Feature or FeatureCollection. Message for the technician, or NULL. */
static const char *load_geojson_ring(const char *path, double **ring, size_t *n, char *msg, size_t msz)
{
	json_error_t e;
	json_t *root = json_load_file(path, 0, &e), *g;
	const char *type, *err = NULL;

	if (!root) {
		snprintf(msg, msz, "%s:%d: %s", path, e.line, e.text);
		return msg;
	}
	g = root;
	type = json_string_value(json_object_get(g, "type"));
	if (type && !strcmp(type, "FeatureCollection")) {
		g = json_array_get(json_object_get(g, "features"), 0);
		type = json_string_value(json_object_get(g, "type"));
	}
	if (type && !strcmp(type, "Feature")) {
		g = json_object_get(g, "geometry");
		type = json_string_value(json_object_get(g, "type"));
	}
	if (type && !strcmp(type, "Polygon"))
		g = json_array_get(json_object_get(g, "coordinates"), 0);
	else if (type && !strcmp(type, "MultiPolygon"))
		g = json_array_get(json_array_get(json_object_get(g, "coordinates"), 0), 0);
	else
		g = NULL;
	if (!g)
		err = "no Polygon or MultiPolygon in it (a Feature, a FeatureCollection or a geometry)";
	else if (ring_from_json(g, ring, n) < 0)
		err = "the polygon's coordinates are not a list of [lon, lat] positions";
	if (err) {
		snprintf(msg, msz, "%s: %s", path, err);
		err = msg;
	}
	json_decref(root);
	return err;
}

void coverage_conf_parse(struct conf_ctx *ctx, const config_setting_t *s, struct coverage_conf **out)
{
	struct coverage_conf *c = calloc(1, sizeof(*c));
	config_setting_t *b;
	struct conf_origin at = conf_origin_of(ctx, s);
	char msg[600];
	const char *err;

	*out = c;
	if (!c) {
		conf_error(ctx, &at, _("coverage: out of memory"));
		return;
	}
	c->at = at;
	conf_apply_section(ctx, s, "coverage", coverage_opts, coverage_extra, c);
	if (!config_setting_is_group(s))
		return;
	if (c->adjacency != 4 && c->adjacency != 8)
		conf_error(ctx, &at, _("coverage: adjacency must be 4 (edges) or 8 (edges and corners) (got %d)"),
			   c->adjacency);
	b = config_setting_get_member(s, "boundary");
	if (b && c->boundary_file) {
		struct conf_origin bo = conf_origin_of(ctx, b);
		conf_error(ctx, &bo, _("coverage: give boundary or boundary_file, not both"));
		return;
	}
	if (b) {
		struct conf_origin bo = conf_origin_of(ctx, b);
		int m = config_setting_length(b);
		if (!config_setting_is_list(b) && !config_setting_is_array(b)) {
			conf_error(ctx, &bo, _("boundary must be a list of [lon, lat] pairs: boundary = ( [106.70, 10.80], [106.71, 10.80], ... );"));
			return;
		}
		if (m > MAX_RING) {
			conf_error(ctx, &bo, _("boundary has %d positions (at most %d)"), m, MAX_RING);
			return;
		}
		c->ring = calloc((size_t)m + 1, 2 * sizeof(double));
		for (int i = 0; c->ring && i < m; i++) {
			config_setting_t *p = config_setting_get_elem(b, (unsigned)i);
			struct conf_origin po = conf_origin_of(ctx, p);
			config_setting_t *x, *y;
			if (!config_setting_is_array(p) || config_setting_length(p) != 2 ||
			    !(x = config_setting_get_elem(p, 0)) || !(y = config_setting_get_elem(p, 1)) ||
			    config_setting_type(x) != CONFIG_TYPE_FLOAT || config_setting_type(y) != CONFIG_TYPE_FLOAT) {
				conf_error(ctx, &po, _("boundary position %d must be [lon, lat] in decimal degrees, e.g. [106.7012, 10.8021]"), i + 1);
				return;
			}
			c->ring[2 * i] = config_setting_get_float(x);
			c->ring[2 * i + 1] = config_setting_get_float(y);
		}
		c->nring = (size_t)m;
		if ((err = ring_check(&c->ring, &c->nring)))
			conf_error(ctx, &bo, _("boundary: %s"), err);
	} else if (c->boundary_file) {
		config_setting_t *f = config_setting_get_member(s, "boundary_file");
		struct conf_origin fo = conf_origin_of(ctx, f);
		char *path = rel_to(conf_path(ctx), c->boundary_file);
		if (!path)
			return;
		free(c->boundary_file);
		c->boundary_file = path;
		if ((err = load_geojson_ring(path, &c->ring, &c->nring, msg, sizeof(msg))) ||
		    (err = ring_check(&c->ring, &c->nring)))
			conf_error(ctx, &fo, _("boundary_file %s"), err == msg ? msg : err);
	} else {
		conf_error(ctx, &at, _("coverage: the ward boundary is required: boundary = ( [lon, lat], ... ); or boundary_file = \"ward.geojson\";"));
	}
	if (c->population_file) {
		char *path = rel_to(conf_path(ctx), c->population_file);
		free(c->population_file);
		c->population_file = path;
	}
}

void coverage_conf_free(struct coverage_conf *c)
{
	if (!c)
		return;
	conf_free_section(coverage_opts, c);
	free(c->ring);
	free(c);
}

/* --- samples --- */

int coverage_db_init(sqlite3 *db)
{
	char *err = NULL;
	int rc = sqlite3_exec(db,
		"CREATE TABLE IF NOT EXISTS coverage_sample("
		" ts INTEGER NOT NULL, lat REAL NOT NULL, lon REAL NOT NULL, tech TEXT NOT NULL,"
		" operator TEXT NOT NULL, rsrp REAL NOT NULL, rsrq REAL, sinr REAL, source TEXT NOT NULL,"
		" UNIQUE(ts, lat, lon, tech, operator));"
		"CREATE INDEX IF NOT EXISTS coverage_sample_ts ON coverage_sample(ts);"
		"CREATE TABLE IF NOT EXISTS coverage_file("
		" sha256 TEXT PRIMARY KEY, path TEXT NOT NULL, rows INTEGER NOT NULL, imported INTEGER NOT NULL);",
		NULL, NULL, &err);

	if (rc != SQLITE_OK) {
		log_err("coverage: cannot create tables: %s", err ? err : sqlite3_errstr(rc));
		sqlite3_free(err);
		return -EIO;
	}
	return 0;
}

static void bind_opt(sqlite3_stmt *q, int i, double v)
{
	if (isfinite(v))
		sqlite3_bind_double(q, i, v);
	else
		sqlite3_bind_null(q, i);
}

static int insert_stmt(sqlite3 *db, const struct coverage_sample *s, const char *source, sqlite3_stmt *q)
{
	int rc;

	sqlite3_reset(q);
	sqlite3_bind_int64(q, 1, s->ts_ms);
	sqlite3_bind_double(q, 2, s->lat);
	sqlite3_bind_double(q, 3, s->lon);
	sqlite3_bind_text(q, 4, rat_name(s->tech), -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, s->op, -1, SQLITE_TRANSIENT);
	sqlite3_bind_double(q, 6, s->rsrp);
	bind_opt(q, 7, s->rsrq);
	bind_opt(q, 8, s->sinr);
	sqlite3_bind_text(q, 9, source, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(q);
	if (rc != SQLITE_DONE)
		return log_error(-EIO, "coverage: insert sample: %s", sqlite3_errmsg(db));
	return sqlite3_changes(db) > 0;
}

#define INSERT_SQL "INSERT OR IGNORE INTO coverage_sample(ts, lat, lon, tech, operator, rsrp, rsrq, sinr, source)" \
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"

int coverage_insert(sqlite3 *db, const struct coverage_sample *s, const char *source)
{
	sqlite3_stmt *q;
	int rc;

	if (sqlite3_prepare_v2(db, INSERT_SQL, -1, &q, NULL) != SQLITE_OK)
		return log_error(-EIO, "coverage: prepare insert: %s", sqlite3_errmsg(db));
	rc = insert_stmt(db, s, source, q);
	sqlite3_finalize(q);
	return rc;
}

static int file_sha256(FILE *f, char hex[65])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char buf[65536], d[EVP_MAX_MD_SIZE];
	unsigned dl = 0;
	size_t n;

	if (!md)
		return -ENOMEM;
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		EVP_DigestUpdate(md, buf, n);
	EVP_DigestFinal_ex(md, d, &dl);
	EVP_MD_CTX_free(md);
	for (unsigned i = 0; i < dl && i < 32; i++)
		sprintf(hex + 2 * i, "%02x", d[i]);
	hex[64] = 0;
	if (ferror(f))
		return -EIO;
	rewind(f);
	return 0;
}

int coverage_import_survey(sqlite3 *db, const char *path, FILE *errs, struct survey_import *out)
{
	FILE *f = fopen(path, "rb");
	sqlite3_stmt *ins = NULL, *q = NULL;
	char hex[65], *line = NULL, err[160];
	size_t cap = 0;
	ssize_t len;
	long lineno = 0;
	int ret = 0, in_tx = 0;

	memset(out, 0, sizeof(*out));
	if (!f)
		return log_error(-errno, "import-survey %s: cannot open: %s", path, strerror(errno));
	if ((ret = file_sha256(f, hex)) < 0) {
		log_err("import-survey %s: cannot read: %s", path, strerror(-ret));
		goto out;
	}
	if ((ret = coverage_db_init(db)) < 0)
		goto out;
	if (sqlite3_prepare_v2(db, "SELECT path, imported FROM coverage_file WHERE sha256 = ?1", -1, &q, NULL) != SQLITE_OK)
		goto db_err;
	sqlite3_bind_text(q, 1, hex, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW) {
		char when[40];
		time_format(sqlite3_column_int64(q, 1), when, sizeof(when));
		fprintf(errs, "%s: already imported on %.19s (as %s); nothing to do\n", path, when,
			(const char *)sqlite3_column_text(q, 0));
		out->already = 1;
		goto out;
	}
	sqlite3_finalize(q);
	q = NULL;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto db_err;
	in_tx = 1;
	if (sqlite3_prepare_v2(db, INSERT_SQL, -1, &ins, NULL) != SQLITE_OK)
		goto db_err;
	while ((len = getline(&line, &cap, f)) >= 0) {
		struct survey_row r;
		int rc;

		lineno++;
		rc = survey_parse_row(line, (size_t)len, &r, err, sizeof(err));
		if (rc > 0)
			continue;
		out->rows++;
		if (rc < 0) {
			char esc[1024];
			/* the reason quotes the row: escaped, one line, no terminal control */
			log_escape(esc, sizeof(esc), err, strlen(err));
			fprintf(errs, "%s:%ld: %s (row skipped)\n", path, lineno, esc);
			out->bad++;
			continue;
		}
		struct coverage_sample s = { r.ts_ms, r.lat, r.lon, r.tech, r.op, r.rsrp, r.rsrq, r.sinr };
		if ((rc = insert_stmt(db, &s, "survey", ins)) < 0) {
			ret = rc;
			goto out;
		}
		if (rc)
			out->inserted++;
		else
			out->duplicates++;
	}
	if (ferror(f)) {
		ret = log_error(-EIO, "import-survey %s: read error at line %ld", path, lineno + 1);
		goto out;
	}
	if (sqlite3_prepare_v2(db, "INSERT INTO coverage_file(sha256, path, rows, imported) VALUES (?1, ?2, ?3, ?4)",
			       -1, &q, NULL) != SQLITE_OK)
		goto db_err;
	sqlite3_bind_text(q, 1, hex, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 3, (int64_t)out->inserted);
	sqlite3_bind_int64(q, 4, wall_ms());
	if (sqlite3_step(q) != SQLITE_DONE)
		goto db_err;
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto db_err;
	in_tx = 0;
	goto out;
db_err:
	ret = log_error(-EIO, "import-survey %s: database: %s", path, sqlite3_errmsg(db));
out:
	if (in_tx)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_finalize(ins);
	sqlite3_finalize(q);
	free(line);
	fclose(f);
	return ret;
}

/* --- the grid --- */

struct grid {
	double lat0, lon0;          /* projection centre */
	double kx, ky;              /* m per degree of lon, lat */
	double x0, y0;              /* south-west corner of the grid, m */
	double cell;
	int nx, ny;
	unsigned char *in_ward;     /* per cell: its centre is inside the boundary */
	double *px, *py;            /* the boundary, projected */
	size_t np;
};

static int inside(const struct grid *g, double x, double y)
{
	int in = 0;

	for (size_t i = 0, j = g->np - 1; i < g->np; j = i++)
		if ((g->py[i] > y) != (g->py[j] > y) &&
		    x < (g->px[j] - g->px[i]) * (y - g->py[i]) / (g->py[j] - g->py[i]) + g->px[i])
			in = !in;
	return in;
}

static void grid_free(struct grid *g)
{
	free(g->in_ward);
	free(g->px);
	free(g->py);
}

static int grid_init(struct grid *g, const struct coverage_conf *c)
{
	double minlon = 1e9, maxlon = -1e9, minlat = 1e9, maxlat = -1e9, maxx = -1e300, maxy = -1e300;

	memset(g, 0, sizeof(*g));
	for (size_t i = 0; i < c->nring; i++) {
		minlon = fmin(minlon, c->ring[2 * i]), maxlon = fmax(maxlon, c->ring[2 * i]);
		minlat = fmin(minlat, c->ring[2 * i + 1]), maxlat = fmax(maxlat, c->ring[2 * i + 1]);
	}
	g->lat0 = (minlat + maxlat) / 2;
	g->lon0 = (minlon + maxlon) / 2;
	g->ky = EARTH_R * M_PI / 180;
	g->kx = g->ky * cos(g->lat0 * M_PI / 180);
	g->cell = c->cell_m;
	g->np = c->nring;
	g->px = calloc(g->np, sizeof(double));
	g->py = calloc(g->np, sizeof(double));
	if (!g->px || !g->py)
		return -ENOMEM;
	g->x0 = g->y0 = 1e300;
	for (size_t i = 0; i < g->np; i++) {
		g->px[i] = (c->ring[2 * i] - g->lon0) * g->kx;
		g->py[i] = (c->ring[2 * i + 1] - g->lat0) * g->ky;
		g->x0 = fmin(g->x0, g->px[i]), g->y0 = fmin(g->y0, g->py[i]);
		maxx = fmax(maxx, g->px[i]), maxy = fmax(maxy, g->py[i]);
	}
	/* a hair of slack so a boundary that is a whole number of cells does
	 * not get an extra row of rounding error */
	g->nx = (int)ceil((maxx - g->x0) / g->cell - 1e-9);
	g->ny = (int)ceil((maxy - g->y0) / g->cell - 1e-9);
	if (g->nx < 1)
		g->nx = 1;
	if (g->ny < 1)
		g->ny = 1;
	if ((int64_t)g->nx * g->ny > MAX_CELLS)
		return log_error(-E2BIG, "coverage: %d x %d cells of %g m is more than %d; use a larger cell_m",
				 g->nx, g->ny, g->cell, MAX_CELLS);
	g->in_ward = calloc((size_t)g->nx * (size_t)g->ny, 1);
	if (!g->in_ward)
		return -ENOMEM;
	for (int iy = 0; iy < g->ny; iy++)
		for (int ix = 0; ix < g->nx; ix++)
			g->in_ward[iy * g->nx + ix] = (unsigned char)inside(g, g->x0 + (ix + 0.5) * g->cell,
									 g->y0 + (iy + 0.5) * g->cell);
	return 0;
}

/* The cell holding (lat, lon), or -1 outside the grid or the ward. */
static int cell_of(const struct grid *g, double lat, double lon)
{
	double x = (lon - g->lon0) * g->kx - g->x0, y = (lat - g->lat0) * g->ky - g->y0;
	int ix, iy;

	if (!(x >= 0) || !(y >= 0))
		return -1;
	ix = (int)(x / g->cell);
	iy = (int)(y / g->cell);
	if (ix >= g->nx || iy >= g->ny || !g->in_ward[iy * g->nx + ix])
		return -1;
	return iy * g->nx + ix;
}

static void cell_lonlat(const struct grid *g, double x, double y, double *lon, double *lat)
{
	*lon = g->lon0 + (g->x0 + x) / g->kx;
	*lat = g->lat0 + (g->y0 + y) / g->ky;
}

/* --- the report --- */

struct coverage_report {
	struct grid g;
	const struct coverage_conf *conf;
	int ward_cells;
	int has_pop;
	int64_t from_ms, to_ms;
	struct coverage_group *groups;
	size_t ngroups;
};

struct pair {
	int cell;
	double mw;
};

static int cmp_pair(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;

	if (x->cell != y->cell)
		return x->cell < y->cell ? -1 : 1;
	return (x->mw > y->mw) - (x->mw < y->mw);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median of sorted linear values (mean of the middle two for an even count), in dBm. */
static double median_dbm(const double *v, size_t n)
{
	double m = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;

	return 10 * log10(m);
}

static double threshold(const struct coverage_conf *c, enum rat t)
{
	return t == RAT_NR ? c->nr_rsrp_min : c->lte_rsrp_min;
}

/* Population per cell from "lat,lon,population" rows. */
static int load_population(const struct coverage_report *r, const char *path, double *pop)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	long lineno = 0;
	int ret = 0;

	if (!f)
		return log_error(-errno, "coverage: population_file %s: %s", path, strerror(errno));
	while (getline(&line, &cap, f) >= 0) {
		double v[3];
		char *p = line, *end;
		int i;

		lineno++;
		if (lineno == 1 && !strncmp(line, "lat", 3))
			continue;
		if (line[strspn(line, " \t\r\n")] == 0 || line[0] == '#')
			continue;
		for (i = 0; i < 3; i++) {
			errno = 0;
			v[i] = strtod(p, &end);
			if (errno || end == p || !isfinite(v[i]))
				break;
			p = end + strspn(end, " \t");
			if (i < 2 && *p++ != ',')
				break;
		}
		if (i < 3 || p[strspn(p, " \t\r\n")] || v[0] < -90 || v[0] > 90 || v[1] < -180 || v[1] > 180 ||
		    v[2] < 0 || v[2] > 1e7) {
			ret = log_error(-EINVAL, "coverage: %s:%ld: want lat,lon,population (population 0..1e7)",
					path, lineno);
			break;
		}
		int c = cell_of(&r->g, v[0], v[1]);
		if (c >= 0)
			pop[c] += v[2];
	}
	free(line);
	fclose(f);
	return ret;
}

static int push_group(struct coverage_report *r, enum rat tech, const char *op)
{
	struct coverage_group *ng = realloc(r->groups, (r->ngroups + 1) * sizeof(*ng));

	if (!ng)
		return -ENOMEM;
	r->groups = ng;
	memset(&ng[r->ngroups], 0, sizeof(*ng));
	ng[r->ngroups].tech = tech;
	snprintf(ng[r->ngroups].op, sizeof(ng->op), "%s", op);
	ng[r->ngroups].threshold = threshold(r->conf, tech);
	r->ngroups++;
	return 0;
}

/* Dead cells (state 1) of one group -> clusters, using the per-cell sample runs. */
static int cluster(struct coverage_report *r, struct coverage_group *grp, unsigned char *state,
		   const struct pair *pairs, const size_t *start, const int *count)
{
	const struct grid *g = &r->g;
	size_t ncell = (size_t)g->nx * (size_t)g->ny;
	int *stack = malloc(ncell * sizeof(int)), *tmp = malloc(ncell * sizeof(int));
	double *vals = NULL;
	size_t nvals_cap = 0;
	int ret = 0;

	if (!stack || !tmp) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t c0 = 0; c0 < ncell; c0++) {
		struct coverage_cluster *cl, *ncl;
		size_t sp = 0, nv = 0;
		double sx = 0, sy = 0;

		if (state[c0] != 1)
			continue;
		ncl = realloc(grp->clusters, (grp->nclusters + 1) * sizeof(*ncl));
		if (!ncl) {
			ret = -ENOMEM;
			break;
		}
		grp->clusters = ncl;
		cl = &ncl[grp->nclusters++];
		memset(cl, 0, sizeof(*cl));
		state[c0] = 2;
		stack[sp++] = (int)c0;
		while (sp) {
			int c = stack[--sp], cx = c % g->nx, cy = c / g->nx;
			tmp[cl->ncells++] = c;
			for (int dy = -1; dy <= 1; dy++)
				for (int dx = -1; dx <= 1; dx++) {
					int nx = cx + dx, ny = cy + dy, n;
					if ((!dx && !dy) || (r->conf->adjacency == 4 && dx && dy))
						continue;
					if (nx < 0 || ny < 0 || nx >= g->nx || ny >= g->ny)
						continue;
					n = ny * g->nx + nx;
					if (state[n] == 1) {
						state[n] = 2;
						stack[sp++] = n;
					}
				}
		}
		if (!(cl->cells = malloc(cl->ncells * sizeof(int)))) {
			ret = -ENOMEM;
			break;
		}
		memcpy(cl->cells, tmp, cl->ncells * sizeof(int));
		for (size_t i = 0; i < cl->ncells; i++) {
			int c = cl->cells[i];
			if (nv + (size_t)count[c] > nvals_cap) {
				size_t nc = (nv + (size_t)count[c]) * 2;
				double *nvp = realloc(vals, nc * sizeof(double));
				if (!nvp) {
					ret = -ENOMEM;
					goto out;
				}
				vals = nvp;
				nvals_cap = nc;
			}
			for (int k = 0; k < count[c]; k++)
				vals[nv++] = pairs[start[c] + (size_t)k].mw;
			sx += (c % g->nx + 0.5) * g->cell;
			sy += (c / g->nx + 0.5) * g->cell;
		}
		qsort(vals, nv, sizeof(double), cmp_double);
		cl->samples = (int64_t)nv;
		cl->median_dbm = median_dbm(vals, nv);
		cell_lonlat(g, sx / (double)cl->ncells, sy / (double)cl->ncells, &cl->lon, &cl->lat);
	}
out:
	free(vals);
	free(tmp);
	free(stack);
	return ret;
}

int coverage_compute(sqlite3 *db, const struct coverage_conf *c, int64_t now_ms, struct coverage_report **out)
{
	struct coverage_report *r = calloc(1, sizeof(*r));
	sqlite3_stmt *q = NULL;
	struct pair *pairs = NULL;
	size_t npairs = 0, cap = 0, ncell;
	double *pop = NULL;
	/* per technology: best state over operators, for the "any" group */
	unsigned char *any_state[3] = { NULL, NULL, NULL };
	int64_t any_samples[3] = { 0 }, any_ok[3] = { 0 };
	/* and every operator's samples, for the medians of its dead spots */
	struct pair *any_pairs[3] = { NULL, NULL, NULL };
	size_t any_n[3] = { 0 };
	size_t *start = NULL;
	int *count = NULL;
	unsigned char *state = NULL;
	int ret, rc;

	*out = NULL;
	if (!r)
		return -ENOMEM;
	r->conf = c;
	r->to_ms = now_ms;
	r->from_ms = now_ms - (int64_t)c->window_days * 86400000LL;
	if ((ret = grid_init(&r->g, c)) < 0)
		goto out;
	ncell = (size_t)r->g.nx * (size_t)r->g.ny;
	for (size_t i = 0; i < ncell; i++)
		r->ward_cells += r->g.in_ward[i];
	if (c->population_file) {
		if (!(pop = calloc(ncell, sizeof(double)))) {
			ret = -ENOMEM;
			goto out;
		}
		if ((ret = load_population(r, c->population_file, pop)) < 0)
			goto out;
		r->has_pop = 1;
	}
	start = calloc(ncell, sizeof(size_t));
	count = calloc(ncell, sizeof(int));
	state = calloc(ncell, 1);
	for (int t = 1; t <= 2; t++)
		any_state[t] = calloc(ncell, 1);
	if (!start || !count || !state || !any_state[1] || !any_state[2]) {
		ret = -ENOMEM;
		goto out;
	}
	if ((ret = coverage_db_init(db)) < 0)
		goto out;
	if (sqlite3_prepare_v2(db, "SELECT tech, operator, lat, lon, rsrp FROM coverage_sample"
			       " WHERE ts >= ?1 AND ts <= ?2 ORDER BY tech, operator", -1, &q, NULL) != SQLITE_OK) {
		ret = log_error(-EIO, "coverage: query samples: %s", sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_bind_int64(q, 1, r->from_ms);
	sqlite3_bind_int64(q, 2, r->to_ms);
	rc = sqlite3_step(q);
	while (rc == SQLITE_ROW) {
		char tech[8], op[32];
		enum rat t;
		struct coverage_group *grp;

		snprintf(tech, sizeof(tech), "%s", (const char *)sqlite3_column_text(q, 0));
		snprintf(op, sizeof(op), "%s", (const char *)sqlite3_column_text(q, 1));
		t = rat_parse(tech);
		npairs = 0;
		if ((ret = push_group(r, t, op)) < 0)
			goto out;
		grp = &r->groups[r->ngroups - 1];
		/* the rows of this (tech, operator) */
		for (; rc == SQLITE_ROW; rc = sqlite3_step(q)) {
			const char *t2 = (const char *)sqlite3_column_text(q, 0), *o2 = (const char *)sqlite3_column_text(q, 1);
			double rsrp = sqlite3_column_double(q, 4);
			int cell;

			if (!t2 || !o2 || strcmp(t2, tech) || strcmp(o2, op))
				break;
			cell = cell_of(&r->g, sqlite3_column_double(q, 2), sqlite3_column_double(q, 3));
			if (cell < 0 || t == RAT_NONE)
				continue;       /* outside the ward */
			grp->samples++;
			grp->samples_ok += rsrp >= grp->threshold;
			if (npairs == cap) {
				size_t nc = cap ? cap * 2 : 4096;
				struct pair *np = realloc(pairs, nc * sizeof(*np));
				if (!np) {
					ret = -ENOMEM;
					goto out;
				}
				pairs = np;
				cap = nc;
			}
			pairs[npairs].cell = cell;
			pairs[npairs++].mw = pow(10, rsrp / 10);
		}
		if (t == RAT_NONE) {
			r->ngroups--;
			continue;
		}
		any_samples[t] += grp->samples;
		any_ok[t] += grp->samples_ok;
		if (npairs) {
			struct pair *np = realloc(any_pairs[t], (any_n[t] + npairs) * sizeof(*np));
			if (!np) {
				ret = -ENOMEM;
				goto out;
			}
			any_pairs[t] = np;
			memcpy(np + any_n[t], pairs, npairs * sizeof(*np));
			any_n[t] += npairs;
		}
		qsort(pairs, npairs, sizeof(*pairs), cmp_pair);
		memset(count, 0, ncell * sizeof(int));
		memset(state, 0, ncell);
		double thr_mw = pow(10, grp->threshold / 10) * (1 - 1e-9);
		for (size_t i = 0; i < npairs;) {
			size_t j = i;
			double vals_mid;
			while (j < npairs && pairs[j].cell == pairs[i].cell)
				j++;
			int cell = pairs[i].cell;
			size_t n = j - i;
			start[cell] = i;
			count[cell] = (int)n;
			vals_mid = n % 2 ? pairs[i + n / 2].mw : (pairs[i + n / 2 - 1].mw + pairs[i + n / 2].mw) / 2;
			grp->measured++;
			if (pop)
				grp->pop_measured += pop[cell];
			if (vals_mid >= thr_mw) {
				grp->covered++;
				state[cell] = 3;
				if (pop)
					grp->pop_covered += pop[cell];
			} else {
				state[cell] = 1;
			}
			if (state[cell] > any_state[t][cell])
				any_state[t][cell] = state[cell];   /* covered (3) beats dead (1) */
			i = j;
		}
		if ((ret = cluster(r, grp, state, pairs, start, count)) < 0)
			goto out;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		ret = log_error(-EIO, "coverage: query samples: %s", sqlite3_errmsg(db));
		goto out;
	}
	/* "any": a cell is covered when some operator covers it */
	for (int t = 1; t <= 2; t++) {
		struct coverage_group *grp;
		int seen = 0;
		for (size_t i = 0; i < r->ngroups; i++)
			seen += r->groups[i].tech == (enum rat)t;
		if (!seen)
			continue;
		if ((ret = push_group(r, (enum rat)t, "any")) < 0)
			goto out;
		grp = &r->groups[r->ngroups - 1];
		grp->samples = any_samples[t];
		grp->samples_ok = any_ok[t];
		for (size_t cell = 0; cell < ncell; cell++) {
			if (!any_state[t][cell])
				continue;
			grp->measured++;
			if (pop)
				grp->pop_measured += pop[cell];
			if (any_state[t][cell] == 3) {
				grp->covered++;
				if (pop)
					grp->pop_covered += pop[cell];
			}
		}
		/* dead spots of "any": cells no operator covers, clustered like
		 * an operator's, their medians over every operator's samples */
		if (any_n[t])
			qsort(any_pairs[t], any_n[t], sizeof(struct pair), cmp_pair);
		memset(count, 0, ncell * sizeof(int));
		for (size_t i = 0; i < any_n[t];) {
			size_t j = i;
			while (j < any_n[t] && any_pairs[t][j].cell == any_pairs[t][i].cell)
				j++;
			start[any_pairs[t][i].cell] = i;
			count[any_pairs[t][i].cell] = (int)(j - i);
			i = j;
		}
		if ((ret = cluster(r, grp, any_state[t], any_pairs[t], start, count)) < 0)
			goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(q);
	free(pairs);
	free(pop);
	free(start);
	free(count);
	free(state);
	free(any_state[1]);
	free(any_state[2]);
	free(any_pairs[1]);
	free(any_pairs[2]);
	if (ret < 0) {
		coverage_report_free(r);
		return ret;
	}
	*out = r;
	return 0;
}

void coverage_report_free(struct coverage_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->ngroups; i++) {
		for (size_t k = 0; k < r->groups[i].nclusters; k++)
			free(r->groups[i].clusters[k].cells);
		free(r->groups[i].clusters);
	}
	free(r->groups);
	grid_free(&r->g);
	free(r);
}

size_t coverage_ngroups(const struct coverage_report *r)
{
	return r->ngroups;
}

const struct coverage_group *coverage_group_at(const struct coverage_report *r, size_t i)
{
	return i < r->ngroups ? &r->groups[i] : NULL;
}

const struct coverage_group *coverage_find(const struct coverage_report *r, enum rat tech, const char *op)
{
	for (size_t i = 0; i < r->ngroups; i++)
		if (r->groups[i].tech == tech && !strcmp(r->groups[i].op, op))
			return &r->groups[i];
	return NULL;
}

int coverage_ward_cells(const struct coverage_report *r)
{
	return r->ward_cells;
}

double coverage_area_pct(const struct coverage_group *g)
{
	return g->measured ? 100.0 * g->covered / g->measured : NAN;
}

double coverage_measured_pct(const struct coverage_report *r, const struct coverage_group *g)
{
	return r->ward_cells ? 100.0 * g->measured / r->ward_cells : NAN;
}

double coverage_samples_pct(const struct coverage_group *g)
{
	return g->samples ? 100.0 * (double)g->samples_ok / (double)g->samples : NAN;
}

double coverage_pop_pct(const struct coverage_group *g)
{
	return g->pop_measured > 0 ? 100.0 * g->pop_covered / g->pop_measured : NAN;
}

/* --- output --- */

static json_t *num7(double v)
{
	return json_real(round(v * 1e7) / 1e7);
}

static json_t *num_or_null(double v, double scale)
{
	return isfinite(v) ? json_real(round(v * scale) / scale) : json_null();
}

static json_t *position(const struct grid *g, double x, double y)
{
	double lon, lat;

	cell_lonlat(g, x, y, &lon, &lat);
	return json_pack("[oo]", num7(lon), num7(lat));
}

char *coverage_geojson(const struct coverage_report *r)
{
	const struct grid *g = &r->g;
	json_t *root = json_object(), *features = json_array(), *summary = json_array();
	char *out = NULL;

	if (!root || !features || !summary)
		goto out;
	for (size_t i = 0; i < r->ngroups; i++) {
		const struct coverage_group *grp = &r->groups[i];
		json_array_append_new(summary, json_pack("{s:s,s:s,s:f,s:i,s:i,s:i,s:I,s:I,s:o,s:o,s:o,s:o,s:i}",
			"technology", rat_name(grp->tech), "operator", grp->op, "threshold_dbm", grp->threshold,
			"ward_cells", r->ward_cells, "measured_cells", grp->measured, "covered_cells", grp->covered,
			"samples", (json_int_t)grp->samples, "samples_ok", (json_int_t)grp->samples_ok,
			"area_pct", num_or_null(coverage_area_pct(grp), 100),
			"measured_pct", num_or_null(coverage_measured_pct(r, grp), 100),
			"samples_pct", num_or_null(coverage_samples_pct(grp), 100),
			"population_pct", num_or_null(r->has_pop ? coverage_pop_pct(grp) : NAN, 100),
			"dead_spots", (int)grp->nclusters));
		/* the map has the "any" dead spots (holes no operator covers)
		 * only when they can differ from the one operator's */
		size_t nops = 0;
		for (size_t j = 0; j < r->ngroups; j++)
			nops += r->groups[j].tech == grp->tech && strcmp(r->groups[j].op, "any");
		for (size_t k = 0; k < grp->nclusters && (strcmp(grp->op, "any") || nops > 1); k++) {
			const struct coverage_cluster *cl = &grp->clusters[k];
			json_t *polys = json_array();
			for (size_t j = 0; j < cl->ncells; j++) {
				int c = cl->cells[j];
				double x = (c % g->nx) * g->cell, y = (c / g->nx) * g->cell;
				/* RFC 7946 §3.1.6: exterior rings counterclockwise */
				json_array_append_new(polys, json_pack("[[ooooo]]",
					position(g, x, y), position(g, x + g->cell, y), position(g, x + g->cell, y + g->cell),
					position(g, x, y + g->cell), position(g, x, y)));
			}
			json_array_append_new(features, json_pack("{s:s,s:{s:s,s:o},s:{s:s,s:s,s:i,s:I,s:o,s:f,s:f,s:[oo]}}",
				"type", "Feature",
				"geometry", "type", "MultiPolygon", "coordinates", polys,
				"properties", "technology", rat_name(grp->tech), "operator", grp->op,
				"cells", (int)cl->ncells, "samples", (json_int_t)cl->samples,
				"median_dbm", num_or_null(cl->median_dbm, 10), "threshold_dbm", grp->threshold,
				"area_m2", (double)cl->ncells * g->cell * g->cell,
				"centroid", num7(cl->lon), num7(cl->lat)));
		}
	}
	json_object_set_new(root, "type", json_string("FeatureCollection"));
	json_object_set_new(root, "features", features);
	features = NULL;
	/* foreign members (RFC 7946 §6.1): what the map shows and how it was made */
	json_object_set_new(root, "window", json_pack("{s:I,s:I}", "start", (json_int_t)(r->from_ms / 1000),
						      "end", (json_int_t)(r->to_ms / 1000)));
	json_object_set_new(root, "cell_m", json_real(g->cell));
	json_object_set_new(root, "adjacency", json_integer(r->conf->adjacency));
	json_object_set_new(root, "coverage", summary);
	summary = NULL;
	out = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(12));
out:
	json_decref(features);
	json_decref(summary);
	json_decref(root);
	return out;
}

static void pct(char *b, size_t n, double v)
{
	if (isfinite(v))
		snprintf(b, n, "%.1f %%", v);
	else
		snprintf(b, n, "-");
}

void coverage_print(const struct coverage_report *r, FILE *f)
{
	char a[40], b[40];

	time_format(r->from_ms, a, sizeof(a));
	time_format(r->to_ms, b, sizeof(b));
	fprintf(f, "coverage %.16s .. %.16s, cells of %g m, ward %d cells (%.2f km2), dead spots: %d-adjacent cells merged\n",
		a, b, r->g.cell, r->ward_cells, r->ward_cells * r->g.cell * r->g.cell / 1e6, r->conf->adjacency);
	if (!r->ngroups) {
		fprintf(f, "no samples inside the ward in the window\n");
		return;
	}
	fprintf(f, "%-4s %-16s %8s %9s %9s %9s %9s %9s %10s %5s\n", "tech", "operator", "min dBm", "measured",
		"share", "covered", "area", "samples", ">= min", "dead");
	for (size_t i = 0; i < r->ngroups; i++) {
		const struct coverage_group *g = &r->groups[i];
		char area[16], share[16], samp[16], popb[16];
		pct(area, sizeof(area), coverage_area_pct(g));
		pct(share, sizeof(share), coverage_measured_pct(r, g));
		pct(samp, sizeof(samp), coverage_samples_pct(g));
		fprintf(f, "%-4s %-16s %8g %9d %9s %9d %9s %9lld %10s %5zu", rat_name(g->tech), g->op, g->threshold,
			g->measured, share, g->covered, area, (long long)g->samples, samp, g->nclusters);
		if (r->has_pop) {
			pct(popb, sizeof(popb), coverage_pop_pct(g));
			fprintf(f, "  population %s", popb);
		}
		fputc('\n', f);
	}
	for (size_t i = 0; i < r->ngroups; i++)
		for (size_t k = 0; k < r->groups[i].nclusters; k++) {
			const struct coverage_cluster *cl = &r->groups[i].clusters[k];
			fprintf(f, "dead spot %s %s: %zu cells around %.6f,%.6f (lat,lon), median %.1f dBm over %lld samples\n",
				rat_name(r->groups[i].tech), r->groups[i].op, cl->ncells, cl->lat, cl->lon,
				cl->median_dbm, (long long)cl->samples);
		}
}

/* --- coverage KPIs --- */

static const char *const figure_names[] = {
	[COV_AREA] = "area", [COV_MEASURED] = "measured", [COV_SAMPLES] = "samples", [COV_POPULATION] = "population",
};

void coverage_kpi_parse(struct conf_ctx *ctx, const config_setting_t *s, struct kpi_def *k,
			const struct coverage_conf *cov)
{
	config_setting_t *m;
	struct conf_origin at = conf_origin_of(ctx, s);
	const char *v;

	if (!cov)
		conf_error(ctx, &at, _("aggregate coverage needs a coverage { ... } section (the ward boundary)"));
	if (!config_setting_get_member(s, "domain")) {
		free(k->domain);
		k->domain = strdup("coverage");
	}
	m = config_setting_get_member(s, "technology");
	v = m ? config_setting_get_string(m) : NULL;
	if (!m) {
		conf_error(ctx, &at, _("aggregate coverage: missing required key 'technology' (\"LTE\" or \"NR\")"));
	} else {
		struct conf_origin mo = conf_origin_of(ctx, m);
		if (!v || (k->technology = (int)rat_parse(v)) == RAT_NONE)
			conf_error(ctx, &mo, _("technology must be \"LTE\" (4G) or \"NR\" (5G) (got '%s')"), v ? v : "not a string");
	}
	m = config_setting_get_member(s, "operator");
	v = m ? config_setting_get_string(m) : "any";
	if (!v || (strcmp(v, "any") && !survey_valid_operator(v))) {
		struct conf_origin mo = conf_origin_of(ctx, m);
		conf_error(ctx, &mo, _("operator must be \"any\" or an operator name as in the samples (1..31 letters, digits, ' ', '-', '_', '.')"));
	} else {
		k->coverage_op = strdup(v);
	}
	k->figure = COV_AREA;
	if ((m = config_setting_get_member(s, "figure"))) {
		struct conf_origin mo = conf_origin_of(ctx, m);
		int found = 0;
		v = config_setting_get_string(m);
		for (int i = 0; v && i <= COV_POPULATION; i++)
			if (!strcmp(v, figure_names[i])) {
				k->figure = i;
				found = 1;
			}
		if (!found)
			conf_error(ctx, &mo, _("figure must be area, measured, samples or population (got '%s')"), v ? v : "not a string");
		else if (k->figure == COV_POPULATION && cov && !cov->population_file)
			conf_error(ctx, &mo, _("figure population needs coverage.population_file"));
	}
}

int coverage_kpi(sqlite3 *db, const struct coverage_conf *cov, const struct kpi_def *k, int64_t to_ms,
		 struct kpi_result *out)
{
	struct coverage_report *r;
	const struct coverage_group *g;
	double pct = NAN;
	int rc;

	out->value = NAN;
	out->n = 0;
	if (!cov)
		return -EINVAL;
	if ((rc = coverage_compute(db, cov, to_ms, &r)) < 0)
		return rc;
	g = coverage_find(r, (enum rat)k->technology, k->coverage_op ? k->coverage_op : "any");
	if (g) {
		switch ((enum coverage_figure)k->figure) {
		case COV_AREA: pct = coverage_area_pct(g); break;
		case COV_MEASURED: pct = coverage_measured_pct(r, g); break;
		case COV_SAMPLES: pct = coverage_samples_pct(g); break;
		case COV_POPULATION: pct = coverage_pop_pct(g); break;
		}
		out->n = g->samples;
	}
	if (isfinite(pct))
		out->value = pct / 100.0 * k->scale;
	coverage_report_free(r);
	return 0;
}
