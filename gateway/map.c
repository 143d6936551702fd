/* The ward's map (see map.h). Positions are projected equirectangularly
 * around the middle latitude (a ward is a few km across, so the error is
 * far below a pixel). The dead spots are those the coverage publisher
 * computed last (coverage_pub.h), per technology and operator. */
#include "map.h"

#include <errno.h>
#include <event2/buffer.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "page.h"
#include "coverage.h"
#include "coverage_pub.h"
#include "gateway.h"
#include "i18n.h"

#define MAP_W 600.0
#define MAP_HMAX 600.0
#define MAX_GRID_LINES 120

enum kind { K_DEVICE, K_CABINET, K_HOTSPOT };

static int has_metric(const struct profile *p, const char *m)
{
	for (size_t k = 0; k < p->nregs; k++)
		if (!strcmp(p->regs[k].metric, m))
			return 1;
	return 0;
}

/* What a device is, from what its profile measures. */
static enum kind kind_of(const struct device_conf *c)
{
	if (has_metric(c->profile, "apUp"))
		return K_HOTSPOT;
	if (has_metric(c->profile, "lampsInstalled") || has_metric(c->profile, "targetLightCommand") ||
	    !strncmp(c->profile->name, "lighting", 8))
		return K_CABINET;
	return K_DEVICE;
}

static const char *kind_name(enum kind k)
{
	return k == K_HOTSPOT ? "hotspot" : k == K_CABINET ? "cabinet" : "device";
}

static int has_pos(const struct device_conf *c)
{
	return isfinite(c->lat) && isfinite(c->lon);
}

int map_point_in_ring(const double *ring, size_t n, double lon, double lat)
{
	int in = 0;

	for (size_t i = 0, j = n ? n - 1 : 0; i < n; j = i++) {
		double xi = ring[2 * i], yi = ring[2 * i + 1], xj = ring[2 * j], yj = ring[2 * j + 1];
		if ((yi > lat) != (yj > lat) && lon < (xj - xi) * (lat - yi) / (yj - yi) + xi)
			in = !in;
	}
	return in;
}

void map_check_positions(struct conf_ctx *ctx, const struct gw_config *cfg)
{
	const struct coverage_conf *cov = cfg->coverage;

	for (size_t i = 0; i < cfg->ndevices; i++) {
		const struct device_conf *d = &cfg->devices[i];
		if (isfinite(d->lat) != isfinite(d->lon)) {
			conf_error(ctx, &d->at, _("device %s: give both lat and lon, or neither"), d->name);
			continue;
		}
		if (has_pos(d) && cov && cov->ring && cov->nring >= 4 &&
		    !map_point_in_ring(cov->ring, cov->nring, d->lon, d->lat))
			conf_error(ctx, &d->at, _("device %s: lat %.6f, lon %.6f is outside the ward's boundary "
						  "(coverage.boundary); is it swapped?"), d->name, d->lat, d->lon);
	}
}

/* The frame: a bounding box in lon/lat and its projection onto the SVG. */
struct frame {
	double lon0, lat1;          /* west and north edges */
	double kx, ky;              /* pixels per degree */
	double w, h;
};

static void frame_add(double *bb, double lon, double lat)
{
	if (lon < bb[0]) bb[0] = lon;
	if (lat < bb[1]) bb[1] = lat;
	if (lon > bb[2]) bb[2] = lon;
	if (lat > bb[3]) bb[3] = lat;
}

/* 0 when there is something to draw. */
static int frame_of(struct gateway *gw, struct frame *f)
{
	const struct coverage_conf *cov = gw->cfg->coverage;
	double bb[4] = { INFINITY, INFINITY, -INFINITY, -INFINITY }, coslat, mx, my;

	if (cov && cov->ring)
		for (size_t i = 0; i < cov->nring; i++)
			frame_add(bb, cov->ring[2 * i], cov->ring[2 * i + 1]);
	for (size_t i = 0; i < gw->ndevices; i++)
		if (has_pos(gw->devices[i].conf))
			frame_add(bb, gw->devices[i].conf->lon, gw->devices[i].conf->lat);
	if (!isfinite(bb[0]))
		return -ENOENT;
	/* a margin of 4 %, and at least ~50 m around a single point */
	mx = fmax((bb[2] - bb[0]) * 0.04, 0.0005);
	my = fmax((bb[3] - bb[1]) * 0.04, 0.0005);
	bb[0] -= mx, bb[2] += mx, bb[1] -= my, bb[3] += my;
	coslat = cos((bb[1] + bb[3]) / 2 * M_PI / 180);
	f->lon0 = bb[0];
	f->lat1 = bb[3];
	f->w = MAP_W;
	f->kx = MAP_W / (bb[2] - bb[0]);
	f->ky = f->kx / coslat;
	f->h = (bb[3] - bb[1]) * f->ky;
	if (f->h > MAP_HMAX) {
		double s = MAP_HMAX / f->h;
		f->kx *= s, f->ky *= s, f->w *= s, f->h = MAP_HMAX;
	}
	return 0;
}

#define PX(f, lon) (((lon) - (f)->lon0) * (f)->kx)
#define PY(f, lat) (((f)->lat1 - (lat)) * (f)->ky)

/* The dead spots (per technology and operator), parsed from the last map
 * (features of *@root, which the caller frees). */
static json_t *dead_spots(struct gateway *gw, json_t **root)
{
	const char *gj = coverage_pub_geojson(gw->coverage);
	json_t *out = json_array(), *f;
	size_t i;

	*root = gj ? json_loads(gj, 0, NULL) : NULL;
	if (!out)
		return NULL;
	json_array_foreach(json_object_get(*root, "features"), i, f)
		json_array_append(out, f);
	return out;
}

/* The cells of a MultiPolygon as one path (a square per cell). */
static void path_of(struct evbuffer *b, const struct frame *fr, json_t *geometry)
{
	json_t *poly, *ring, *pos;
	size_t i, j, k;

	json_array_foreach(json_object_get(geometry, "coordinates"), i, poly) {
		ring = json_array_get(poly, 0);
		json_array_foreach(ring, j, pos) {
			double lon = json_number_value(json_array_get(pos, 0)), lat = json_number_value(json_array_get(pos, 1));
			evbuffer_add_printf(b, "%c%.1f %.1f", j ? 'L' : 'M', PX(fr, lon), PY(fr, lat));
		}
		(void)k;
		evbuffer_add_printf(b, "Z");
	}
}

void map_section(struct gateway *gw, struct evbuffer *b, const char *lang, const char *token, const char *query)
{
	const struct coverage_conf *cov = gw->cfg->coverage;
	struct frame fr;
	json_t *root = NULL, *spots, *f;
	size_t i, ncab = 0, nap = 0, nother = 0, placed = 0;

	evbuffer_add_printf(b, "<section id=\"map\"><h2>%s</h2>", _("Map"));
	if (frame_of(gw, &fr) < 0) {
		evbuffer_add_printf(b, "<p class=\"small\">%s</p></section>",
				    _("No boundary and no device positions configured (coverage.boundary; lat and lon "
				      "per device)."));
		return;
	}
	spots = dead_spots(gw, &root);
	evbuffer_add_printf(b, "<svg id=\"ward-map\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %.0f %.0f\" "
			    "role=\"img\">", fr.w, fr.h);
	if (cov && cov->ring) {
		/* the coverage grid: its cells are cell_m squares from the
		 * boundary's south-west corner */
		double west = INFINITY, south = INFINITY, east = -INFINITY, north = -INFINITY;
		for (size_t k = 0; k < cov->nring; k++) {
			west = fmin(west, cov->ring[2 * k]), east = fmax(east, cov->ring[2 * k]);
			south = fmin(south, cov->ring[2 * k + 1]), north = fmax(north, cov->ring[2 * k + 1]);
		}
		double dlat = cov->cell_m / 111320.0, dlon = dlat / cos((south + north) / 2 * M_PI / 180);
		evbuffer_add_printf(b, "<g id=\"grid\" stroke=\"#dde\" stroke-width=\"0.5\">");
		if ((east - west) / dlon < MAX_GRID_LINES && (north - south) / dlat < MAX_GRID_LINES) {
			for (double x = west; x <= east + dlon / 2; x += dlon)
				evbuffer_add_printf(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>", PX(&fr, x),
						    PX(&fr, x), PY(&fr, north), PY(&fr, south));
			for (double y = south; y <= north + dlat / 2; y += dlat)
				evbuffer_add_printf(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>", PX(&fr, west),
						    PX(&fr, east), PY(&fr, y), PY(&fr, y));
		}
		evbuffer_add_printf(b, "</g><polygon id=\"boundary\" fill=\"none\" stroke=\"#246\" stroke-width=\"2\" points=\"");
		for (size_t k = 0; k < cov->nring; k++)
			evbuffer_add_printf(b, "%.1f,%.1f ", PX(&fr, cov->ring[2 * k]), PY(&fr, cov->ring[2 * k + 1]));
		evbuffer_add_printf(b, "\"/>");
	}
	json_array_foreach(spots, i, f) {
		json_t *pr = json_object_get(f, "properties");
		const char *tech = json_string_value(json_object_get(pr, "technology"));
		int nr = tech && !strcmp(tech, "NR");
		evbuffer_add_printf(b, "<path class=\"deadspot\" data-technology=\"%s\" fill=\"%s\" fill-opacity=\"0.45\" "
				    "stroke=\"#b00\" stroke-width=\"0.5\" d=\"", nr ? "NR" : "LTE", nr ? "#e33" : "#f90");
		path_of(b, &fr, json_object_get(f, "geometry"));
		const char *op = json_string_value(json_object_get(pr, "operator"));
		char title[256];
		/* the operator comes from survey files: escaped like all the rest */
		snprintf(title, sizeof(title), _("Dead spot (%s, %s): %lld cells, median %.0f dBm"), nr ? "5G" : "4G",
			 op ? op : "?", (long long)json_integer_value(json_object_get(pr, "cells")),
			 json_number_value(json_object_get(pr, "median_dbm")));
		evbuffer_add_printf(b, "\"><title>");
		html_esc(b, title);
		evbuffer_add_printf(b, "</title></path>");
	}
	for (size_t k = 0; k < gw->ndevices; k++) {
		const struct device *d = &gw->devices[k];
		enum kind kd;
		double x, y;
		if (!has_pos(d->conf))
			continue;
		placed++;
		kd = kind_of(d->conf);
		ncab += kd == K_CABINET;
		nap += kd == K_HOTSPOT;
		nother += kd == K_DEVICE;
		x = PX(&fr, d->conf->lon);
		y = PY(&fr, d->conf->lat);
		evbuffer_add_printf(b, "<a href=\"/device?name=");
		url_enc(b, d->conf->name);
		if (query && strstr(query, "lang="))
			evbuffer_add_printf(b, "&amp;lang=%s", lang);
		if (token) {
			evbuffer_add_printf(b, "&amp;token=");
			url_enc(b, token);
		}
		/* colours and the square's size come from the page's style sheet:
		 * 300 cabinets cost 30 kB, not 50 */
		if (kd == K_CABINET)
			evbuffer_add_printf(b, "\"><rect class=\"dev cabinet %s\" x=\"%.0f\" y=\"%.0f\">",
					    device_state_name(d->state), x - 5, y - 5);
		else
			evbuffer_add_printf(b, "\"><circle class=\"dev %s %s\" cx=\"%.0f\" cy=\"%.0f\" r=\"%d\">",
					    kind_name(kd), device_state_name(d->state), x, y, kd == K_HOTSPOT ? 6 : 4);
		evbuffer_add_printf(b, "<title>");
		html_esc(b, d->conf->name);
		evbuffer_add_printf(b, "</title></%s></a>", kd == K_CABINET ? "rect" : "circle");
	}
	evbuffer_add_printf(b, "</svg><p class=\"small\" id=\"map-legend\">");
	evbuffer_add_printf(b, _("%zu lighting control cabinets (squares), %zu Wi-Fi hotspots (circles), %zu other "
				 "devices; green online, red no connection, orange degraded. %zu coverage dead spots "
				 "(red 5G, orange 4G)."), ncab, nap, nother, spots ? json_array_size(spots) : 0);
	if (placed < gw->ndevices) {
		evbuffer_add_printf(b, " ");
		evbuffer_add_printf(b, ngettext("%zu device has no position.", "%zu devices have no position.", gw->ndevices - placed),
				    gw->ndevices - placed);
	}
	evbuffer_add_printf(b, "</p></section>");
	json_decref(spots);
	json_decref(root);
}

void map_device_facts(const struct device *d, struct evbuffer *b)
{
	if (!has_pos(d->conf))
		return;
	evbuffer_add_printf(b, "<tr><th>%s</th><td>%.6f, %.6f</td></tr>", _("Position (lat, lon)"), d->conf->lat,
			    d->conf->lon);
}

int map_geojson(struct gateway *gw, struct evbuffer *b)
{
	const struct coverage_conf *cov = gw->cfg->coverage;
	json_t *fc = json_object(), *features = json_array(), *root = NULL, *spots, *f;
	char *text = NULL;
	size_t i;
	int ret = -ENOMEM;

	if (!fc || !features)
		goto out;
	if (cov && cov->ring) {
		json_t *ring = json_array();
		for (size_t k = 0; ring && k < cov->nring; k++)
			json_array_append_new(ring, json_pack("[ff]", cov->ring[2 * k], cov->ring[2 * k + 1]));
		json_array_append_new(features, json_pack("{s:s, s:{s:s, s:[o]}, s:{s:s, s:s}}", "type", "Feature",
			"geometry", "type", "Polygon", "coordinates", ring, "properties", "kind", "boundary",
			"name", gw->cfg->ward ? gw->cfg->ward : ""));
	}
	for (size_t k = 0; k < gw->ndevices; k++) {
		const struct device *d = &gw->devices[k];
		if (!has_pos(d->conf))
			continue;
		json_array_append_new(features, json_pack("{s:s, s:{s:s, s:[ff]}, s:{s:s, s:s, s:s, s:s, s:s}}",
			"type", "Feature", "geometry", "type", "Point", "coordinates", d->conf->lon, d->conf->lat,
			"properties", "kind", kind_name(kind_of(d->conf)), "name", d->conf->name, "state",
			device_state_name(d->state), "profile", d->conf->profile->name, "reason", d->reason));
	}
	spots = dead_spots(gw, &root);
	json_array_foreach(spots, i, f) {
		json_t *copy = json_deep_copy(f);
		if (copy) {
			json_object_set_new(json_object_get(copy, "properties"), "kind", json_string("deadspot"));
			json_array_append_new(features, copy);
		}
	}
	json_decref(spots);
	json_object_set_new(fc, "type", json_string("FeatureCollection"));
	json_object_set(fc, "features", features);
	text = json_dumps(fc, JSON_COMPACT | JSON_REAL_PRECISION(10));
	if (text && evbuffer_add(b, text, strlen(text)) == 0)
		ret = 0;
out:
	free(text);
	json_decref(root);
	json_decref(features);
	json_decref(fc);
	return ret;
}
