/* wardgw-sim survey: writes a drive-test CSV over a rectangular ward of
 * COLS x ROWS cells of CELL m around LAT,LON (and the ward as GeoJSON),
 * with a known layout so the coverage figures can be worked out by hand:
 *   - the top row (north) is not measured;
 *   - NR dead zone: columns 2..4 of rows 2..3, plus the cell (5, 4) that
 *     touches it only at a corner (one cluster with 8-adjacency, two with 4);
 *   - NR: 5 samples per measured cell, -125..-116 dBm in the dead zone,
 *     -100..-75 elsewhere, except that row 0 has one weak sample (-115) of
 *     its five (the cell's median stays covered, the sample does not);
 *   - LTE: one sample per measured cell, all -95..-80 dBm (covered);
 *   - one NR sample outside the ward (ignored); with --bad, two bad rows.
 * Row 0 is the south edge, column 0 the west edge. */
#include "sim_survey.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EARTH_R 6371008.8

static uint64_t rng = 88172645463325252ULL;

static double rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (double)(rng >> 11) / 9007199254740992.0;
}

int sim_survey_dead(int ix, int iy)
{
	return (ix >= 2 && ix <= 4 && iy >= 2 && iy <= 3) || (ix == 5 && iy == 4);
}

static int arg_num(const char *o, const char *a, double lo, double hi, double *v)
{
	char *end;

	if (!a)
		return fprintf(stderr, "wardgw-sim survey: %s needs a value\n", o), -EINVAL;
	errno = 0;
	*v = strtod(a, &end);
	if (errno || *end || !isfinite(*v) || *v < lo || *v > hi)
		return fprintf(stderr, "wardgw-sim survey: %s must be %g..%g (got '%s')\n", o, lo, hi, a), -EINVAL;
	return 0;
}

int sim_survey_main(int argc, char **argv)
{
	double lat0 = 11.8370, lon0 = 106.9930, cell = 100, cols = 10, rows = 8, t0 = 0, v;
	const char *out = NULL, *boundary = NULL;
	int bad = 0, line = 1;
	FILE *f;

	for (int i = 1; i < argc; i++) {
		const char *o = argv[i], *a = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(o, "--out") && a)
			out = argv[++i];
		else if (!strcmp(o, "--boundary") && a)
			boundary = argv[++i];
		else if (!strcmp(o, "--bad"))
			bad = 1;
		else if (!strcmp(o, "--lat") && !arg_num(o, a, -80, 80, &lat0))
			i++;
		else if (!strcmp(o, "--lon") && !arg_num(o, a, -180, 180, &lon0))
			i++;
		else if (!strcmp(o, "--cell") && !arg_num(o, a, 10, 1000, &cell))
			i++;
		else if (!strcmp(o, "--cols") && !arg_num(o, a, 7, 100, &cols))
			i++;
		else if (!strcmp(o, "--rows") && !arg_num(o, a, 6, 100, &rows))
			i++;
		else if (!strcmp(o, "--time") && !arg_num(o, a, 1e9, 4e9, &t0))
			i++;
		else if (!strcmp(o, "--seed") && !arg_num(o, a, 1, 1e15, &v)) {
			rng = (uint64_t)v * 2654435761ULL + 1;
			i++;
		} else {
			fprintf(stderr, "usage: wardgw-sim survey --out FILE [--boundary FILE.geojson] [--bad]\n"
					"         [--lat 11.8370] [--lon 106.9930] [--cell 100] [--cols 10] [--rows 8]\n"
					"         [--time EPOCH] [--seed N]\n");
			return 2;
		}
	}
	if (!out)
		return fprintf(stderr, "wardgw-sim survey: --out FILE is required\n"), 2;
	if (!t0)
		t0 = (double)time(NULL) - 86400;
	int nx = (int)cols, ny = (int)rows;
	double ky = EARTH_R * M_PI / 180, kx = ky * cos(lat0 * M_PI / 180);
	double w = nx * cell, h = ny * cell;
	double lon_w = lon0 - w / 2 / kx, lat_s = lat0 - h / 2 / ky;
	double lon_e = lon0 + w / 2 / kx, lat_n = lat0 + h / 2 / ky;

	if (boundary) {
		if (!(f = fopen(boundary, "w")))
			return fprintf(stderr, "wardgw-sim survey: %s: %s\n", boundary, strerror(errno)), 1;
		fprintf(f, "{\"type\":\"Feature\",\"properties\":{\"name\":\"simulated ward\"},\"geometry\":"
			   "{\"type\":\"Polygon\",\"coordinates\":[[[%.9f,%.9f],[%.9f,%.9f],[%.9f,%.9f],[%.9f,%.9f],[%.9f,%.9f]]]}}\n",
			lon_w, lat_s, lon_e, lat_s, lon_e, lat_n, lon_w, lat_n, lon_w, lat_s);
		fclose(f);
	}
	if (!(f = fopen(out, "w")))
		return fprintf(stderr, "wardgw-sim survey: %s: %s\n", out, strerror(errno)), 1;
	fprintf(f, "time,lat,lon,technology,operator,rsrp,rsrq,sinr\n");
	long t = (long)t0;
	for (int iy = 0; iy < ny - 1; iy++)
		for (int ix = 0; ix < nx; ix++) {
			for (int k = 0; k < 6; k++) {
				/* within the middle 60 % of the cell, clear of its edges */
				double x = (ix + 0.2 + 0.6 * rnd()) * cell, y = (iy + 0.2 + 0.6 * rnd()) * cell;
				double lon = lon_w + x / kx, lat = lat_s + y / ky, rsrp;
				const char *tech = k < 5 ? "NR" : "LTE";
				if (k == 5)
					rsrp = -95 + 15 * rnd();
				else if (sim_survey_dead(ix, iy))
					rsrp = -125 + 9 * rnd();
				else if (iy == 0 && k == 0)
					rsrp = -115;
				else
					rsrp = -100 + 25 * rnd();
				fprintf(f, "%ld,%.8f,%.8f,%s,Viettel,%.1f,%.1f,%.1f\n", t++, lat, lon, tech, rsrp,
					-15 + 8 * rnd(), -5 + 25 * rnd());
				line++;
				if (bad && line == 10) {
					fprintf(f, "%ld,%.8f,%.8f,NR,Viettel,-300,-10,5\n", t++, lat, lon);
					line++;
				}
			}
		}
	/* north of the ward: outside the boundary, ignored */
	fprintf(f, "%ld,%.8f,%.8f,NR,Viettel,-130.0,-18.0,-3.0\n", t++, lat_n + 200 / ky, lon0);
	line++;
	if (bad) {
		fprintf(f, "not,a,row\n");
		line++;
	}
	fclose(f);
	fprintf(stderr, "wardgw-sim survey: %d lines in %s; ward %.6f,%.6f .. %.6f,%.6f (lon,lat), %d x %d cells of %g m\n",
		line, out, lon_w, lat_s, lon_e, lat_n, nx, ny, cell);
	return 0;
}
