/* The environment domain (see environment.h): hourly means of each site's
 * parameters, VN_AQI at each closed hour and day, flood levels at each
 * water reading. Values and their SenML packs are computed on the loop and
 * written in the store's next transaction by this module's hook, so a value,
 * its sequence number and the message that carries it commit together. */
#include "environment.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>
#include <libconfig.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "kpi.h"
#include "log.h"
#include "outbox.h"
#include "page.h"
#include "senml.h"
#include "store.h"
#include "timeparse.h"

/* ---------- configuration ---------- */

static const char *const src_keys[ENV_NSRC] = { "pm25", "pm10", "o3", "co", "so2", "no2", "water_depth" };
/* the metric a source reads when only a device is named */
static const char *const src_default_metric[ENV_NSRC] = { "pm25", "pm10", "o3", "co", "so2", "no2", "waterDepth" };

static const char *const kpi_keys[ENV_NKPI + 1] = { "aqi_hour", "aqi_day", "good_days_share", "flood_hours_day", NULL };
static const char *const kpi_units[ENV_NKPI] = { NULL, NULL, "/", "h" };

static const struct opt env_opts[] = {
	{ "hour_s", OPT_INT, offsetof(struct environment_conf, hour_s), 1, 3600, 3600, NULL, 0 },
	{ "hour_min_coverage", OPT_DOUBLE, offsetof(struct environment_conf, hour_min_coverage), 0, 1, 0.75, NULL, 0 },
	{ "day_min_hours", OPT_INT, offsetof(struct environment_conf, day_min_hours), 1, 24, 18, NULL, 0 },
	{ "eight_hour_min", OPT_INT, offsetof(struct environment_conf, eight_hour_min), 1, 8, 6, NULL, 0 },
	{ "share_days", OPT_INT, offsetof(struct environment_conf, share_days), 1, 366, 30, NULL, 0 },
	{ 0 }
};
static const char *const env_extra[] = { "sites", "targets", NULL };
static const char *const site_keys[] = { "name", "pm25", "pm10", "o3", "co", "so2", "no2", "water_depth",
					 "flood_levels", "flood_hysteresis", NULL };

static int number(const config_setting_t *m, double *v)
{
	switch (config_setting_type(m)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		*v = (double)config_setting_get_int64(m);
		return 0;
	case CONFIG_TYPE_FLOAT:
		*v = config_setting_get_float(m);
		return isfinite(*v) ? 0 : -EINVAL;
	default:
		return -EINVAL;
	}
}

/* "DEVICE" or "DEVICE/METRIC": a device of the config and a metric of its profile. */
static void parse_source(struct conf_ctx *ctx, const config_setting_t *m, int k, struct env_source *src)
{
	struct gw_config *cfg = conf_config(ctx);
	struct conf_origin at = conf_origin_of(ctx, m);
	const char *s = config_setting_get_string(m), *slash;
	const struct device_conf *d;
	int found = 0;

	src->at = at;
	if (!s || !*s) {
		conf_error(ctx, &at, "%s must name a device: \"DEVICE\" or \"DEVICE/METRIC\"", src_keys[k]);
		return;
	}
	slash = strchr(s, '/');
	src->device = slash ? strndup(s, (size_t)(slash - s)) : strdup(s);
	src->metric = strdup(slash ? slash + 1 : src_default_metric[k]);
	if (!src->device || !src->metric)
		return;
	if (!(d = config_device(cfg, src->device))) {
		conf_error(ctx, &at, "%s: no device named '%s'", src_keys[k], src->device);
		return;
	}
	for (size_t i = 0; d->profile && i < d->profile->nregs; i++)
		found |= !strcmp(d->profile->regs[i].metric, src->metric);
	if (d->profile && !found)
		conf_error(ctx, &at, "%s: profile '%s' of device '%s' has no metric '%s'%s", src_keys[k],
			   d->profile->name, src->device, src->metric,
			   slash ? "" : " (name it: \"DEVICE/METRIC\")");
}

static void parse_site(struct conf_ctx *ctx, const config_setting_t *s, struct environment_conf *c,
		       struct env_site *site)
{
	const config_setting_t *m;
	const char *name;
	struct conf_origin at = conf_origin_of(ctx, s);
	int any_pm = 0;

	site->at = at;
	if (!config_setting_is_group(s)) {
		conf_error(ctx, &at, "a site must be a group { name = \"...\"; pm25 = \"DEVICE\"; ... }");
		return;
	}
	conf_check_keys(ctx, s, "site", site_keys);
	if (!config_setting_lookup_string(s, "name", &name) || !conf_valid_name(name, 48)) {
		conf_error(ctx, &at, "site: name must be 1..48 letters, digits, '-', '_' or '.' (it names KPI streams)");
	} else {
		for (size_t i = 0; i < c->nsites; i++)
			if (!strcmp(c->sites[i].name, name))
				conf_error(ctx, &at, "duplicate site '%s' (first at line %d)", name, c->sites[i].at.line);
		if (!strcmp(name, "ward"))
			conf_error(ctx, &at, "site name 'ward' is taken by the ward-wide figures");
		site->name = strdup(name);
	}
	for (int k = 0; k < ENV_NSRC; k++)
		if ((m = config_setting_get_member(s, src_keys[k]))) {
			parse_source(ctx, m, k, &site->src[k]);
			any_pm |= k == AQI_PM25 || k == AQI_PM10;
		}
	for (int k = 0; k < AQI_NPOLL; k++)
		if (site->src[k].device && !any_pm) {
			conf_error(ctx, &at, "site '%s': VN_AQI needs pm25 or pm10 (Decision 1459/QĐ-TCMT 2.1); %s alone gives no AQI",
				   site->name ? site->name : "?", src_keys[k]);
			break;
		}
	site->flood.hysteresis = 2.0;
	site->flood.max_gap_ms = 0;
	if ((m = config_setting_get_member(s, "flood_levels"))) {
		struct conf_origin la = conf_origin_of(ctx, m);
		int n = config_setting_length(m);
		if (!config_setting_is_array(m) && !config_setting_is_list(m)) {
			conf_error(ctx, &la, "flood_levels must be an array of depths: [ 10.0, 20.0, 30.0 ]");
		} else if (n < 1 || n > FLOOD_MAX_LEVELS) {
			conf_error(ctx, &la, "flood_levels must list 1..%d depths (got %d)", FLOOD_MAX_LEVELS, n);
		} else {
			for (int i = 0; i < n; i++)
				if (number(config_setting_get_elem(m, (unsigned)i), &site->flood.levels[i]) < 0)
					conf_error(ctx, &la, "flood_levels: element %d is not a number", i + 1);
			site->flood.nlevels = n;
		}
	} else if (site->src[ENV_WATER].device) {
		/* a common first alert: 10, 20, 30 cm of water over the road */
		site->flood.levels[0] = 10;
		site->flood.levels[1] = 20;
		site->flood.levels[2] = 30;
		site->flood.nlevels = 3;
	}
	if ((m = config_setting_get_member(s, "flood_hysteresis")) && number(m, &site->flood.hysteresis) < 0) {
		struct conf_origin ha = conf_origin_of(ctx, m);
		conf_error(ctx, &ha, "flood_hysteresis must be a number");
	}
	if (site->flood.nlevels && !site->src[ENV_WATER].device)
		conf_error(ctx, &at, "site '%s': flood_levels without water_depth", site->name ? site->name : "?");
	if (site->src[ENV_WATER].device && site->flood.nlevels) {
		char why[200];
		if (flood_conf_check(&site->flood, why, sizeof(why)) < 0)
			conf_error(ctx, &at, "site '%s': %s", site->name ? site->name : "?", why);
	}
	for (int k = 0; k < ENV_NSRC; k++)
		if (site->src[k].device)
			return;
	conf_error(ctx, &at, "site '%s' reads nothing: give pm25/pm10 (air) or water_depth (flood)",
		   site->name ? site->name : "?");
}

void environment_conf_parse(struct conf_ctx *ctx, const config_setting_t *s, struct environment_conf **out)
{
	struct environment_conf *c = calloc(1, sizeof(*c));
	const config_setting_t *list, *t;

	*out = c;
	if (!c)
		return;
	c->at = conf_origin_of(ctx, s);
	for (int k = 0; k < ENV_NKPI; k++)
		c->kpi[k].scale = 1.0;
	conf_apply_section(ctx, s, "environment", env_opts, env_extra, c);
	if (!config_setting_is_group(s))
		return;
	list = config_setting_get_member(s, "sites");
	if (!list || !config_setting_is_list(list) || config_setting_length(list) < 1) {
		conf_error(ctx, &c->at, "environment: sites must be a list of at least one site: sites = ( { name = \"...\"; ... } );");
	} else {
		int n = config_setting_length(list);
		c->sites = calloc((size_t)n, sizeof(*c->sites));
		for (int i = 0; c->sites && i < n; i++) {
			parse_site(ctx, config_setting_get_elem(list, (unsigned)i), c, &c->sites[c->nsites]);
			c->nsites++;
		}
	}
	if ((t = config_setting_get_member(s, "targets"))) {
		struct conf_origin ta = conf_origin_of(ctx, t);
		if (!config_setting_is_group(t)) {
			conf_error(ctx, &ta, "environment: targets must be a group: targets = { aqi_day = { op = \"<=\"; value = 100; }; };");
		} else {
			conf_check_keys(ctx, t, "targets", kpi_keys);
			for (int k = 0; k < ENV_NKPI; k++) {
				const config_setting_t *g = config_setting_get_member(t, kpi_keys[k]);
				if (g)
					conf_parse_target(ctx, g, &c->kpi[k]);
			}
		}
	}
	/* a sensor silent for three poll intervals stops the flooded-time clock */
	for (size_t i = 0; i < c->nsites; i++) {
		const struct device_conf *d = c->sites[i].src[ENV_WATER].device ?
			config_device(conf_config(ctx), c->sites[i].src[ENV_WATER].device) : NULL;
		if (d)
			c->sites[i].flood.max_gap_ms = 3 * (int64_t)d->poll_interval_ms;
	}
}

void environment_conf_free(struct environment_conf *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nsites; i++) {
		free(c->sites[i].name);
		for (int k = 0; k < ENV_NSRC; k++) {
			free(c->sites[i].src[k].device);
			free(c->sites[i].src[k].metric);
		}
	}
	free(c->sites);
	conf_free_section(env_opts, c);
	free(c);
}

static int str_same(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

int environment_conf_equal(const struct environment_conf *a, const struct environment_conf *b)
{
	if (!a || !b)
		return a == b;
	if (a->hour_s != b->hour_s || a->hour_min_coverage != b->hour_min_coverage ||
	    a->day_min_hours != b->day_min_hours || a->eight_hour_min != b->eight_hour_min ||
	    a->share_days != b->share_days || a->nsites != b->nsites)
		return 0;
	for (int k = 0; k < ENV_NKPI; k++)
		if (a->kpi[k].op != b->kpi[k].op || a->kpi[k].target != b->kpi[k].target ||
		    a->kpi[k].deadline_ms != b->kpi[k].deadline_ms || a->kpi[k].start_ms != b->kpi[k].start_ms ||
		    a->kpi[k].has_baseline != b->kpi[k].has_baseline || a->kpi[k].baseline != b->kpi[k].baseline)
			return 0;
	for (size_t i = 0; i < a->nsites; i++) {
		const struct env_site *x = &a->sites[i], *y = &b->sites[i];
		if (!str_same(x->name, y->name) || x->flood.nlevels != y->flood.nlevels ||
		    x->flood.hysteresis != y->flood.hysteresis)
			return 0;
		for (int l = 0; l < x->flood.nlevels; l++)
			if (x->flood.levels[l] != y->flood.levels[l])
				return 0;
		for (int k = 0; k < ENV_NSRC; k++)
			if (!str_same(x->src[k].device, y->src[k].device) || !str_same(x->src[k].metric, y->src[k].metric))
				return 0;
	}
	return 1;
}

void environment_conf_report(const struct gw_config *cfg, const char *path, FILE *out)
{
	const struct environment_conf *c = cfg->environment;
	size_t air = 0, water = 0;
	int first = 1;

	if (!c)
		return;
	for (size_t i = 0; i < c->nsites; i++) {
		int a = 0;
		for (int k = 0; k < AQI_NPOLL; k++)
			a |= c->sites[i].src[k].device != NULL;
		air += a;
		water += c->sites[i].src[ENV_WATER].device != NULL;
	}
	fprintf(out, "%s: environment: %zu sites (%zu air quality, %zu flood), AQI hour %d s%s; targets:", path,
		c->nsites, air, water, c->hour_s, c->hour_s == 3600 ? "" : " (not 3600: for demonstrations, not VN_AQI)");
	for (int k = 0; k < ENV_NKPI; k++)
		if (c->kpi[k].op != OP_NONE) {
			fprintf(out, "%s %s", first ? "" : ",", kpi_keys[k]);
			first = 0;
		}
	fprintf(out, "%s\n", first ? " none" : "");
	/* a register map no manual stands behind: say which readings rest on one */
	for (size_t i = 0; i < c->nsites; i++)
		for (int k = 0; k < ENV_NSRC; k++) {
			const struct device_conf *d = c->sites[i].src[k].device ?
				config_device(cfg, c->sites[i].src[k].device) : NULL;
			if (d && d->profile && !strncmp(d->profile->name, "generic-", 8))
				fprintf(out, "%s: environment: site %s reads %s from %s through the generic profile %s: "
					"check it with `wardgw probe -c %s --device %s`\n", path, c->sites[i].name, src_keys[k],
					d->name, d->profile->name, path, d->name);
		}
}

/* ---------- run time ---------- */

#define RING 48             /* hourly means kept: 24 + 7 for a day's 8-hour means, and then some */
#define MAX_DAYS 366

struct stream {
	char name[128];
	int kpi;                    /* enum env_kpi: unit and target */
	int64_t seq;
	char status[12];
	int64_t last_end;           /* end of the last window stored */
};

struct site_rt {
	const struct env_site *c;
	/* the open hour */
	double sum[ENV_NSRC];
	int64_t n[ENV_NSRC];
	int64_t need[ENV_NSRC];     /* readings an hourly mean needs */
	/* closed hours, by slot */
	int64_t ring_slot[AQI_NPOLL][RING];
	double ring_mean[AQI_NPOLL][RING];
	struct aqi_result last;     /* of the last closed hour */
	int has_air;
	int prev_band;              /* band of the last hour with an AQI, 0: none yet */
	int band_hours[7];          /* hours in each band, this day */
	struct aqi_result day;      /* the last closed day */
	/* flood */
	struct flood_state fl;
	const char *wunit;          /* the depth's unit, from the profile */
	int day_episodes;
	double day_peak;
	struct stream s_hour, s_day, s_flood;
};

/* What one device feeds: 16 bytes for the many devices that feed nothing. */
struct devmatch {
	const struct device_conf *conf;   /* the device these matches are for (reloads replace it) */
	unsigned n;
	struct src_match { int site, k; size_t reg; } *m;   /* NULL when n is 0 */
};

struct pend {
	char *stream, *pack;
	int64_t start, end, seq, n;
	double value;
	char status[12];
};

struct pend_hour {
	int site, k;
	int64_t slot, n;
	double mean;
};

struct environment {
	struct gateway *gw;
	const struct environment_conf *c;
	sqlite3 *db;
	struct site_rt *sites;
	size_t nsites;
	int64_t hour_ms;
	int64_t slot;               /* the open hour */
	struct event *ev;
	char *topic;
	struct devmatch *dm;        /* by device index */
	size_t ndm;
	/* ward-wide */
	struct stream w_hour, w_day, w_good, w_flood;
	int w_prev_band;
	int w_band_hours[7];
	int w_aqi;                  /* last hour's */
	const char *w_site;         /* the site behind it */
	int w_day_aqi;
	int day_aqi[MAX_DAYS];      /* the ward's daily AQIs, newest last (-1: none) */
	size_t nday;
	/* waiting for the store's transaction */
	struct pend *pend;
	size_t npend, cap_pend;
	struct pend_hour *ph;
	size_t nph, cap_ph;
	size_t tx_npend, tx_nph;    /* what the open transaction holds */
	int64_t prune_before;       /* env_value rows to drop (0: none) */
	sqlite3_stmt *ins_val, *ins_hour;
	char live[768];
};

static int64_t floor_div(int64_t a, int64_t b)
{
	return a >= 0 ? a / b : -((-a + b - 1) / b);
}

static int64_t slot_of(const struct environment *e, int64_t ts)
{
	return floor_div(ts + WARD_UTC_OFFSET_MS, e->hour_ms);
}

static int64_t slot_start(const struct environment *e, int64_t slot)
{
	return slot * e->hour_ms - WARD_UTC_OFFSET_MS;
}

static double ring_get(const struct site_rt *s, int k, int64_t slot)
{
	int i = (int)(((slot % RING) + RING) % RING);

	return s->ring_slot[k][i] == slot ? s->ring_mean[k][i] : NAN;
}

static void ring_put(struct site_rt *s, int k, int64_t slot, double mean)
{
	int i = (int)(((slot % RING) + RING) % RING);

	s->ring_slot[k][i] = slot;
	s->ring_mean[k][i] = mean;
}

static void stream_init(struct environment *e, struct stream *st, const char *site, int kpi)
{
	sqlite3_stmt *q;

	snprintf(st->name, sizeof(st->name), "environment.%s.%s", site, kpi_keys[kpi]);
	st->kpi = kpi;
	if (sqlite3_prepare_v2(e->db, "SELECT seq, status, end FROM env_value WHERE stream = ?1 ORDER BY seq DESC LIMIT 1",
			       -1, &q, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_text(q, 1, st->name, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW) {
		st->seq = sqlite3_column_int64(q, 0);
		snprintf(st->status, sizeof(st->status), "%s",
			 sqlite3_column_text(q, 1) ? (const char *)sqlite3_column_text(q, 1) : "");
		st->last_end = sqlite3_column_int64(q, 2);
	}
	sqlite3_finalize(q);
}

static void add_rec(json_t *a, const char *name, const char *suffix, const char *unit, double v, const char *vs)
{
	char n[200];
	json_t *o = json_object();

	snprintf(n, sizeof(n), "%s%s", name, suffix);
	json_object_set_new(o, "n", json_string(n));
	if (unit)
		json_object_set_new(o, "u", json_string(unit));
	if (!vs && !isfinite(v)) {
		json_decref(o);         /* SenML has no "no value": leave the record out */
		return;
	}
	if (vs)
		json_object_set_new(o, "vs", json_string(vs));
	else
		json_object_set_new(o, "v", json_real(v));
	json_array_append_new(a, o);
}

static void add_band(json_t *a, const char *name, int aqi)
{
	const struct aqi_band *b = aqi_band_of(aqi);

	if (!b)
		return;
	add_rec(a, name, "/band", NULL, 0, b->name);
	add_rec(a, name, "/band_index", "count", b->index, NULL);
	add_rec(a, name, "/colour", NULL, 0, b->hex);
}

static void add_subs(json_t *a, const char *name, const struct aqi_result *r)
{
	char suf[24];

	if (r->dominant >= 0)
		add_rec(a, name, "/dominant", NULL, 0, aqi_pollutant_name(r->dominant));
	for (int p = 0; p < AQI_NPOLL; p++)
		if (!isnan(r->sub[p])) {
			snprintf(suf, sizeof(suf), "/sub/%s", aqi_pollutant_name(p));
			add_rec(a, name, suf, NULL, round(r->sub[p] * 100) / 100, NULL);
		}
}

/*
 * One closed window of @st: value @v (NaN: no data), @n inputs, @extra
 * SenML records (consumed). Assigns the next sequence number, the target
 * status (a change is a "kpi" event, as for the other domains) and queues
 * the row and its pack for the store's next transaction.
 */
static void emit(struct environment *e, struct stream *st, int64_t start, int64_t end, double v, int64_t n,
		 json_t *extra)
{
	const struct kpi_def *k = &e->c->kpi[st->kpi];
	const char *unit = kpi_units[st->kpi];
	const char *status = kpi_status(k, v, end);
	json_t *a = json_array(), *base = json_object();
	char bn[160];
	struct pend *p;

	if (e->npend == e->cap_pend) {
		size_t ncap = e->cap_pend ? 2 * e->cap_pend : 32;
		struct pend *np = realloc(e->pend, ncap * sizeof(*np));
		if (!np) {
			log_err("environment: out of memory: %s window lost", st->name);
			json_decref(extra);
			json_decref(a);
			json_decref(base);
			return;
		}
		e->pend = np;
		e->cap_pend = ncap;
	}
	snprintf(bn, sizeof(bn), "urn:dev:wardgw:%s:kpi:", e->gw->cfg->gateway_id);
	json_object_set_new(base, "bn", json_string(bn));
	json_object_set_new(base, "bt", json_real((double)end / 1000.0));
	json_object_set_new(base, "n", json_string(st->name));
	if (unit)
		json_object_set_new(base, "u", json_string(unit));
	if (isfinite(v))
		json_object_set_new(base, "v", json_real(v));
	else
		json_object_set_new(base, "vs", json_string("no_data"));
	json_array_append_new(a, base);
	add_rec(a, st->name, "/seq", "count", (double)(st->seq + 1), NULL);
	add_rec(a, st->name, "/start", "s", (double)start / 1000.0, NULL);
	add_rec(a, st->name, "/end", "s", (double)end / 1000.0, NULL);
	add_rec(a, st->name, "/n", "count", (double)n, NULL);
	if (k->op != OP_NONE) {
		add_rec(a, st->name, "/target", unit, k->target, NULL);
		add_rec(a, st->name, "/op", NULL, 0, k->op == OP_GE ? ">=" : "<=");
		if (k->deadline_ms)
			add_rec(a, st->name, "/deadline", "s", (double)k->deadline_ms / 1000.0, NULL);
	}
	add_rec(a, st->name, "/status", NULL, 0, status);
	if (extra) {
		json_array_extend(a, extra);
		json_decref(extra);
	}
	/* RFC 9100: a pack with a secondary unit (h, ug/m3, cm ...) says so */
	for (size_t i = 0; i < json_array_size(a); i++)
		if (senml_secondary_unit(json_string_value(json_object_get(json_array_get(a, i), "u")))) {
			json_object_set_new(base, "bver", json_integer(26));
			break;
		}
	p = &e->pend[e->npend];
	memset(p, 0, sizeof(*p));
	p->pack = json_dumps(a, JSON_COMPACT | JSON_REAL_PRECISION(12));
	json_decref(a);
	p->stream = strdup(st->name);
	if (!p->pack || !p->stream) {
		free(p->pack);
		free(p->stream);
		log_err("environment: out of memory: %s window lost", st->name);
		return;
	}
	p->start = start;
	p->end = end;
	p->seq = ++st->seq;
	p->n = n;
	p->value = v;
	snprintf(p->status, sizeof(p->status), "%s", status);
	e->npend++;
	st->last_end = end;
	if (k->op != OP_NONE && st->status[0] && strcmp(st->status, status)) {
		json_t *ev = json_pack("{s:s,s:s,s:s,s:s,s:o,s:f,s:s,s:I}", "kind", "kpi", "subject", st->name,
				       "status", status, "previous", st->status,
				       "value", isfinite(v) ? json_real(v) : json_null(), "target", k->target,
				       "op", k->op == OP_GE ? ">=" : "<=", "window_end", (json_int_t)(end / 1000));
		char *body = ev ? json_dumps(ev, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;
		if (body)
			kpi_event(e->gw->kpi, "kpi", st->name, body);
		free(body);
		json_decref(ev);
		log_info("kpi %s: %s -> %s", st->name, st->status, status);
	}
	snprintf(st->status, sizeof(st->status), "%s", status);
}

static void band_event(struct environment *e, const char *subject, int *prev, const struct aqi_result *r,
		       int64_t start, int64_t end)
{
	const struct aqi_band *b = aqi_band_of(r->aqi), *pb = aqi_band_at(*prev);
	json_t *ev;
	char *body;

	if (!b)
		return;
	if (pb && pb != b) {
		ev = json_pack("{s:s,s:s,s:i,s:i,s:s,s:s,s:i,s:s,s:s,s:I,s:I}", "kind", "aqi", "subject", subject,
			       "aqi", r->aqi, "band", b->index, "band_name", b->name, "colour", b->hex,
			       "previous", pb->index, "previous_name", pb->name,
			       "dominant", r->dominant >= 0 ? aqi_pollutant_name(r->dominant) : "",
			       "hour_start", (json_int_t)(start / 1000), "hour_end", (json_int_t)(end / 1000));
		body = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
		if (body)
			kpi_event(e->gw->kpi, "aqi", subject, body);
		log_info("environment %s: air quality %s -> %s (AQI %d)", subject, pb->name, b->name, r->aqi);
		free(body);
		json_decref(ev);
	}
	*prev = b->index;
}

static void queue_hour(struct environment *e, int site, int k, int64_t slot, double mean, int64_t n)
{
	if (e->nph == e->cap_ph) {
		size_t ncap = e->cap_ph ? 2 * e->cap_ph : 64;
		struct pend_hour *np = realloc(e->ph, ncap * sizeof(*np));
		if (!np)
			return;     /* only the restart's history loses it */
		e->ph = np;
		e->cap_ph = ncap;
	}
	e->ph[e->nph++] = (struct pend_hour){ site, k, slot, n, mean };
}

static void build_live(struct environment *e);

static void close_day(struct environment *e, int64_t day)
{
	int64_t first = day * 24, start = slot_start(e, first), end = slot_start(e, first + 24);
	int wmax = -1;
	struct aqi_result wr = { .aqi = -1, .dominant = -1 };
	double wflood = 0;
	int64_t wepisodes = 0, nflood = 0;
	char suf[24];

	for (size_t i = 0; i < e->nsites; i++) {
		struct site_rt *s = &e->sites[i];
		if (s->has_air) {
			double h[AQI_NPOLL][31];
			for (int k = 0; k < AQI_NPOLL; k++)
				for (int j = 0; j < 31; j++)
					h[k][j] = ring_get(s, k, first - 7 + j);
			const size_t dm = (size_t)e->c->day_min_hours;
			struct aqi_day_input in = {
				.pm25_24h = aqi_mean(h[AQI_PM25] + 7, 24, dm),
				.pm10_24h = aqi_mean(h[AQI_PM10] + 7, 24, dm),
				.o3_1h_max = aqi_max(h[AQI_O3] + 7, 24),
				.o3_8h_max = aqi_max_8h(h[AQI_O3], (size_t)e->c->eight_hour_min, NULL),
				.co_1h_max = aqi_max(h[AQI_CO] + 7, 24),
				.so2_1h_max = aqi_max(h[AQI_SO2] + 7, 24),
				.no2_1h_max = aqi_max(h[AQI_NO2] + 7, 24),
			};
			aqi_daily(&in, &s->day);
			json_t *x = json_array();
			add_band(x, s->s_day.name, s->day.aqi);
			add_subs(x, s->s_day.name, &s->day);
			int hours = 0;
			for (int b = 1; b <= 6; b++) {
				snprintf(suf, sizeof(suf), "/hours_band%d", b);
				add_rec(x, s->s_day.name, suf, "h", s->band_hours[b], NULL);
				hours += s->band_hours[b];
			}
			emit(e, &s->s_day, start, end, s->day.aqi >= 0 ? s->day.aqi : NAN, hours, x);
			memset(s->band_hours, 0, sizeof(s->band_hours));
			if (s->day.aqi > wmax) {
				wmax = s->day.aqi;
				wr = s->day;
			}
		}
		if (s->c->src[ENV_WATER].device) {
			double wet_h = (double)flood_take_wet(&s->c->flood, &s->fl, end) / (double)e->hour_ms;
			json_t *x = json_array();
			add_rec(x, s->s_flood.name, "/episodes", "count", s->day_episodes, NULL);
			add_rec(x, s->s_flood.name, "/peak", s->wunit, s->day_peak, NULL);
			add_rec(x, s->s_flood.name, "/level_now", "count", s->fl.level, NULL);
			emit(e, &s->s_flood, start, end, wet_h, s->day_episodes, x);
			wflood += wet_h;
			wepisodes += s->day_episodes;
			nflood++;
			s->day_episodes = s->fl.level > 0;     /* an episode running on into the new day */
			s->day_peak = s->fl.level > 0 ? s->fl.depth : NAN;
		}
	}
	if (e->c->nsites && e->w_day.name[0]) {
		json_t *x = json_array();
		int hours = 0;
		add_band(x, e->w_day.name, wmax);
		add_subs(x, e->w_day.name, &wr);
		for (int b = 1; b <= 6; b++) {
			snprintf(suf, sizeof(suf), "/hours_band%d", b);
			add_rec(x, e->w_day.name, suf, "h", e->w_band_hours[b], NULL);
			hours += e->w_band_hours[b];
		}
		memset(e->w_band_hours, 0, sizeof(e->w_band_hours));
		emit(e, &e->w_day, start, end, wmax >= 0 ? wmax : NAN, hours, x);
		e->w_day_aqi = wmax;
		/* the share of the last share_days days in the two best bands (AQI <= 100) */
		if (e->nday == MAX_DAYS) {
			memmove(e->day_aqi, e->day_aqi + 1, (MAX_DAYS - 1) * sizeof(int));
			e->nday--;
		}
		e->day_aqi[e->nday++] = wmax;
		int good = 0, known = 0;
		for (size_t j = e->nday > (size_t)e->c->share_days ? e->nday - (size_t)e->c->share_days : 0; j < e->nday; j++)
			if (e->day_aqi[j] >= 0) {
				known++;
				good += e->day_aqi[j] <= 100;
			}
		x = json_array();
		add_rec(x, e->w_good.name, "/days", "count", known, NULL);
		add_rec(x, e->w_good.name, "/good_days", "count", good, NULL);
		emit(e, &e->w_good, start, end, known ? (double)good / known : NAN, known, x);
	}
	if (nflood) {
		json_t *x = json_array();
		add_rec(x, e->w_flood.name, "/episodes", "count", (double)wepisodes, NULL);
		add_rec(x, e->w_flood.name, "/sites", "count", (double)nflood, NULL);
		emit(e, &e->w_flood, start, end, wflood, nflood, x);
	}
	/* rows of env_value older than the hour rollups' retention go */
	e->prune_before = end - (int64_t)e->gw->cfg->hour_retention_days * 86400000;
}

static void close_hour(struct environment *e, int64_t slot)
{
	int64_t start = slot_start(e, slot), end = slot_start(e, slot + 1);
	struct aqi_result wr = { .aqi = -1, .dominant = -1 };
	const char *wsite = NULL;
	int64_t wn = 0;

	for (size_t i = 0; i < e->nsites; i++) {
		struct site_rt *s = &e->sites[i];
		if (!s->has_air)
			continue;
		double hist[AQI_NPOLL][12];
		const double *h[AQI_NPOLL] = { 0 };
		int64_t nin = 0;
		for (int k = 0; k < AQI_NPOLL; k++) {
			if (!s->c->src[k].device)
				continue;
			double mean = s->n[k] >= s->need[k] && s->n[k] > 0 ? s->sum[k] / (double)s->n[k] : NAN;
			ring_put(s, k, slot, mean);
			if (!isnan(mean)) {
				queue_hour(e, (int)i, k, slot, mean, s->n[k]);
				nin++;
			}
			s->sum[k] = 0;
			s->n[k] = 0;
			for (int j = 0; j < 12; j++)
				hist[k][j] = ring_get(s, k, slot - j);
			h[k] = hist[k];
		}
		aqi_hourly(h, &s->last);
		json_t *x = json_array();
		add_band(x, s->s_hour.name, s->last.aqi);
		add_subs(x, s->s_hour.name, &s->last);
		if (h[AQI_PM25])
			add_rec(x, s->s_hour.name, "/nowcast/pm25", "ug/m3", aqi_nowcast(h[AQI_PM25]), NULL);
		if (h[AQI_PM10])
			add_rec(x, s->s_hour.name, "/nowcast/pm10", "ug/m3", aqi_nowcast(h[AQI_PM10]), NULL);
		emit(e, &s->s_hour, start, end, s->last.aqi >= 0 ? s->last.aqi : NAN, nin, x);
		if (s->last.aqi >= 0) {
			s->band_hours[aqi_band_of(s->last.aqi)->index]++;
			band_event(e, s->c->name, &s->prev_band, &s->last, start, end);
			if (s->last.aqi > wr.aqi) {
				wr = s->last;
				wsite = s->c->name;
			}
			wn++;
		}
	}
	if (e->w_hour.name[0]) {
		json_t *x = json_array();
		add_band(x, e->w_hour.name, wr.aqi);
		add_subs(x, e->w_hour.name, &wr);
		if (wsite)
			add_rec(x, e->w_hour.name, "/site", NULL, 0, wsite);
		emit(e, &e->w_hour, start, end, wr.aqi >= 0 ? wr.aqi : NAN, wn, x);
		e->w_aqi = wr.aqi;
		e->w_site = wsite;
		if (wr.aqi >= 0) {
			e->w_band_hours[aqi_band_of(wr.aqi)->index]++;
			band_event(e, "ward", &e->w_prev_band, &wr, start, end);
		}
	}
	if (floor_div(slot + 1, 24) != floor_div(slot, 24))
		close_day(e, floor_div(slot, 24));
}

/* Close every hour before @slot (at most RING of them: older ones are
 * missing anyway) and open @slot. */
static void advance(struct environment *e, int64_t slot)
{
	if (slot <= e->slot)
		return;
	if (slot - e->slot > RING)
		e->slot = slot - RING;
	for (; e->slot < slot; e->slot++)
		close_hour(e, e->slot);
	build_live(e);
}

static void flood_reading(struct environment *e, struct site_rt *s, int64_t ts, double depth)
{
	struct flood_event ev;
	static const char *const kinds[] = { "", "raised", "lowered", "cleared" };
	json_t *o;
	char *body;

	if (flood_update(&s->c->flood, &s->fl, ts, depth, &ev) <= 0) {
		if (s->fl.level > 0 && (isnan(s->day_peak) || depth > s->day_peak))
			s->day_peak = depth;
		return;
	}
	if (ev.kind == FLOOD_RAISED && ev.previous == 0)
		s->day_episodes++;
	if (s->fl.level > 0 && (isnan(s->day_peak) || depth > s->day_peak))
		s->day_peak = depth;
	o = json_pack("{s:s,s:s,s:s,s:i,s:i,s:f,s:f,s:s,s:I,s:I}", "kind", "flood", "subject", s->c->name,
		      "state", kinds[ev.kind], "level", ev.level, "previous", ev.previous, "depth", ev.depth,
		      "threshold", ev.threshold, "unit", s->wunit ? s->wunit : "", "ts", (json_int_t)(ev.ts / 1000),
		      "episode_start", (json_int_t)(ev.ep_start / 1000));
	if (o && ev.kind == FLOOD_CLEARED) {
		json_object_set_new(o, "duration_s", json_integer(ev.ep_duration_ms / 1000));
		json_object_set_new(o, "peak", json_real(ev.ep_peak));
		json_object_set_new(o, "max_level", json_integer(ev.ep_max_level));
	}
	body = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
	if (body)
		kpi_event(e->gw->kpi, "flood", s->c->name, body);
	free(body);
	json_decref(o);
	if (ev.kind == FLOOD_CLEARED)
		log_info("environment %s: flood cleared (%.1f) after %lld s, peak %.1f %s, highest level %d",
			 s->c->name, ev.depth, (long long)(ev.ep_duration_ms / 1000), ev.ep_peak,
			 s->wunit ? s->wunit : "", ev.ep_max_level);
	else
		log_info("environment %s: flood level %d %s (%.1f %s, threshold %.1f)", s->c->name, ev.level,
			 kinds[ev.kind], ev.depth, s->wunit ? s->wunit : "", ev.threshold);
	build_live(e);
}

/* The sources read from device @dev (cached per device index; a reload
 * that replaced the device's config is seen by its new conf pointer). */
static const struct devmatch *match(struct environment *e, const struct device *dev)
{
	struct devmatch *m;

	if (dev->index >= e->ndm) {
		size_t n = dev->index + 16;
		struct devmatch *nd = realloc(e->dm, n * sizeof(*nd));
		if (!nd)
			return NULL;
		memset(nd + e->ndm, 0, (n - e->ndm) * sizeof(*nd));
		e->dm = nd;
		e->ndm = n;
	}
	m = &e->dm[dev->index];
	if (m->conf == dev->conf)
		return m;
	m->conf = dev->conf;
	m->n = 0;
	free(m->m);
	m->m = NULL;
	for (size_t i = 0; i < e->nsites; i++)
		for (int k = 0; k < ENV_NSRC; k++) {
			const struct env_source *src = &e->sites[i].c->src[k];
			const struct profile *p = dev->conf->profile;
			if (!src->device || strcmp(src->device, dev->conf->name) || !p)
				continue;
			for (size_t r = 0; r < p->nregs; r++)
				if (!strcmp(p->regs[r].metric, src->metric)) {
					struct src_match *nm = realloc(m->m, (m->n + 1) * sizeof(*nm));
					if (!nm)
						return m;   /* what matched so far */
					m->m = nm;
					m->m[m->n].site = (int)i;
					m->m[m->n].k = k;
					m->m[m->n].reg = r;
					m->n++;
					if (k == ENV_WATER)
						e->sites[i].wunit = p->regs[r].unit;
					/* readings an hourly mean needs: a share of those expected */
					int64_t expect = e->hour_ms / (dev->conf->poll_interval_ms > 0 ? dev->conf->poll_interval_ms : 1000);
					int64_t need = (int64_t)floor(e->c->hour_min_coverage * (double)expect);
					e->sites[i].need[k] = need < 1 ? 1 : need;
					break;
				}
		}
	return m;
}

void environment_poll_done(struct environment *e, const struct device *dev, int64_t ts_ms)
{
	const struct devmatch *m;
	int64_t slot;
	unsigned i;

	if (!e || !(m = match(e, dev)) || !m->n)
		return;
	slot = slot_of(e, ts_ms);
	if (slot > e->slot)
		advance(e, slot);
	for (i = 0; i < m->n; i++) {
		struct site_rt *s = &e->sites[m->m[i].site];
		int k = m->m[i].k;
		double v = dev->last[m->m[i].reg];
		/* only good values: not failed, not outside the register's min/max */
		if (isnan(v) || (dev->lastq && dev->lastq[m->m[i].reg] != Q_GOOD))
			continue;
		if (k == ENV_WATER) {
			flood_reading(e, s, ts_ms, v);
		} else if (slot == e->slot && v >= 0) {
			s->sum[k] += v;
			s->n[k]++;
		}
	}
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct environment *e = arg;

	advance(e, slot_of(e, wall_ms()));
}

/* ---------- the store's transaction ---------- */

static int en_dirty(void *arg)
{
	struct environment *e = arg;

	return e->npend || e->nph || e->prune_before;
}

static int en_in_tx(void *arg)
{
	struct environment *e = arg;
	int rc;

	e->tx_npend = e->npend;
	e->tx_nph = e->nph;
	for (size_t i = 0; i < e->tx_npend; i++) {
		const struct pend *p = &e->pend[i];
		sqlite3_reset(e->ins_val);
		sqlite3_bind_text(e->ins_val, 1, p->stream, -1, SQLITE_STATIC);
		sqlite3_bind_int64(e->ins_val, 2, p->start);
		sqlite3_bind_int64(e->ins_val, 3, p->end);
		sqlite3_bind_int64(e->ins_val, 4, p->seq);
		if (isfinite(p->value))
			sqlite3_bind_double(e->ins_val, 5, p->value);
		else
			sqlite3_bind_null(e->ins_val, 5);
		sqlite3_bind_int64(e->ins_val, 6, p->n);
		sqlite3_bind_text(e->ins_val, 7, p->status, -1, SQLITE_STATIC);
		sqlite3_bind_text(e->ins_val, 8, p->pack, -1, SQLITE_STATIC);
		rc = sqlite3_step(e->ins_val);
		sqlite3_reset(e->ins_val);
		if (rc != SQLITE_DONE)
			return log_error(store_errno(e->gw->store), "environment: write %s: %s", p->stream,
					 sqlite3_errmsg(e->db));
		if (e->gw->outbox && outbox_add_tx(e->gw->outbox, LANE_PRIORITY, e->topic, p->pack, strlen(p->pack),
						   p->end) < 0)
			return -EIO;
	}
	for (size_t i = 0; i < e->tx_nph; i++) {
		const struct pend_hour *h = &e->ph[i];
		sqlite3_reset(e->ins_hour);
		sqlite3_bind_text(e->ins_hour, 1, e->sites[h->site].c->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(e->ins_hour, 2, src_keys[h->k], -1, SQLITE_STATIC);
		sqlite3_bind_int64(e->ins_hour, 3, e->hour_ms);
		sqlite3_bind_int64(e->ins_hour, 4, h->slot);
		sqlite3_bind_double(e->ins_hour, 5, h->mean);
		sqlite3_bind_int64(e->ins_hour, 6, h->n);
		rc = sqlite3_step(e->ins_hour);
		sqlite3_reset(e->ins_hour);
		if (rc != SQLITE_DONE)
			return log_error(store_errno(e->gw->store), "environment: write hourly mean: %s",
					 sqlite3_errmsg(e->db));
	}
	if (e->prune_before) {
		sqlite3_stmt *q;
		if (sqlite3_prepare_v2(e->db, "DELETE FROM env_value WHERE end < ?1", -1, &q, NULL) != SQLITE_OK)
			return -EIO;
		sqlite3_bind_int64(q, 1, e->prune_before);
		rc = sqlite3_step(q);
		sqlite3_finalize(q);
		if (rc != SQLITE_DONE)
			return -EIO;
		if (sqlite3_prepare_v2(e->db, "DELETE FROM env_hour WHERE hour_ms != ?1 OR slot < ?2", -1, &q,
				       NULL) != SQLITE_OK)
			return -EIO;
		sqlite3_bind_int64(q, 1, e->hour_ms);
		sqlite3_bind_int64(q, 2, e->slot - RING);
		rc = sqlite3_step(q);
		sqlite3_finalize(q);
		if (rc != SQLITE_DONE)
			return -EIO;
	}
	return 0;
}

static void en_committed(void *arg)
{
	struct environment *e = arg;

	/* what was added during the transaction stays for the next */
	for (size_t i = 0; i < e->tx_npend; i++) {
		free(e->pend[i].stream);
		free(e->pend[i].pack);
	}
	if (e->tx_npend) {
		memmove(e->pend, e->pend + e->tx_npend, (e->npend - e->tx_npend) * sizeof(*e->pend));
		e->npend -= e->tx_npend;
	}
	if (e->tx_nph) {
		memmove(e->ph, e->ph + e->tx_nph, (e->nph - e->tx_nph) * sizeof(*e->ph));
		e->nph -= e->tx_nph;
	}
	e->tx_npend = e->tx_nph = 0;
	e->prune_before = 0;
}

static void en_rolled_back(void *arg)
{
	struct environment *e = arg;

	/* everything stays queued, with its sequence numbers, for the next flush */
	e->tx_npend = e->tx_nph = 0;
}

/* ---------- views ---------- */

static void build_live(struct environment *e)
{
	size_t off = 0;
	char *p = e->live;
	size_t sz = sizeof(e->live);

#define ADD(...) do { if (off < sz) off += (size_t)snprintf(p + off, sz - off, __VA_ARGS__); } while (0)
	ADD("environment");
	if (e->w_aqi >= 0)
		ADD("  ward AQI %d %s (%s)", e->w_aqi, aqi_band_of(e->w_aqi)->name, e->w_site ? e->w_site : "-");
	if (e->w_day_aqi >= 0)
		ADD("  day %d %s", e->w_day_aqi, aqi_band_of(e->w_day_aqi)->name);
	for (size_t i = 0; i < e->nsites; i++) {
		const struct site_rt *s = &e->sites[i];
		ADD("  |  %s", s->c->name);
		if (s->has_air) {
			if (s->last.aqi >= 0)
				ADD(" AQI %d %s %s", s->last.aqi, aqi_band_of(s->last.aqi)->name,
				    aqi_pollutant_name(s->last.dominant));
			else
				ADD(" AQI -");
		}
		if (s->c->src[ENV_WATER].device) {
			if (isnan(s->fl.depth))
				ADD(" water -");
			else if (s->fl.level)
				ADD(" FLOOD level %d %.1f %s", s->fl.level, s->fl.depth, s->wunit ? s->wunit : "");
			else
				ADD(" water %.1f %s", s->fl.depth, s->wunit ? s->wunit : "");
		}
	}
#undef ADD
}

const char *environment_live(const struct environment *e)
{
	return e && e->live[0] ? e->live : NULL;
}

static void aqi_cell(struct evbuffer *b, int aqi)
{
	const struct aqi_band *band = aqi_band_of(aqi);

	if (!band) {
		evbuffer_add_printf(b, "<td>-</td>");
		return;
	}
	/* the decision's colour; dark text on the light bands */
	evbuffer_add_printf(b, "<td class=\"aqi aqi%d\" style=\"background:%s;color:%s\"><b>%d</b> %s</td>",
			    band->index, band->hex, band->index <= 3 ? "#000" : "#fff", aqi, band->name);
}

void environment_html(const struct environment *e, struct evbuffer *b)
{
	if (!e)
		return;
	evbuffer_add_printf(b, "<h2>Environment: air quality (VN_AQI) and flood watch</h2><div class=\"wrap\">"
			    "<table id=\"environment\"><tr><th>Site</th><th>AQI last hour</th><th>Dominant</th>"
			    "<th>AQI last day</th><th>Water</th><th>Flood</th></tr><tr><td><b>ward</b></td>");
	aqi_cell(b, e->w_aqi);
	evbuffer_add_printf(b, "<td>");
	html_esc(b, e->w_site ? e->w_site : "-");
	evbuffer_add_printf(b, "</td>");
	aqi_cell(b, e->w_day_aqi);
	evbuffer_add_printf(b, "<td></td><td></td></tr>");
	for (size_t i = 0; i < e->nsites; i++) {
		const struct site_rt *s = &e->sites[i];
		evbuffer_add_printf(b, "<tr><td>");
		html_esc(b, s->c->name);
		evbuffer_add_printf(b, "</td>");
		if (s->has_air) {
			aqi_cell(b, s->last.aqi);
			evbuffer_add_printf(b, "<td>%s</td>", s->last.dominant >= 0 ? aqi_pollutant_name(s->last.dominant) : "-");
			aqi_cell(b, s->day.aqi);
		} else {
			evbuffer_add_printf(b, "<td></td><td></td><td></td>");
		}
		if (s->c->src[ENV_WATER].device && !isnan(s->fl.depth)) {
			char since[40] = "";
			if (s->fl.level)
				time_format(s->fl.ep_start, since, sizeof(since));
			evbuffer_add_printf(b, "<td>%.1f ", s->fl.depth);
			html_esc(b, s->wunit);
			evbuffer_add_printf(b, "</td><td class=\"%s\">%s",
					    s->fl.level ? "red_flag" : "ok", s->fl.level ? "level " : "dry");
			if (s->fl.level)
				evbuffer_add_printf(b, "%d (&ge; %g) since %.19s", s->fl.level,
						    s->c->flood.levels[s->fl.level - 1], since);
			evbuffer_add_printf(b, "</td></tr>");
		} else {
			evbuffer_add_printf(b, "<td>%s</td><td></td></tr>", s->c->src[ENV_WATER].device ? "-" : "");
		}
	}
	evbuffer_add_printf(b, "</table></div><p class=\"small\">VN_AQI per Decision 1459/QĐ-TCMT (Vietnam Environment "
			    "Administration, 2019): hourly AQI with the NowCast of PM, bands and colours of its Table 1. "
			    "Hour length %lld s.</p>", (long long)(e->hour_ms / 1000));
}

/* ---------- life cycle ---------- */

static int db_init(sqlite3 *db)
{
	const char *sql =
		"CREATE TABLE IF NOT EXISTS env_value (stream TEXT NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL,"
		" seq INTEGER NOT NULL, value REAL, n INTEGER, status TEXT, pack TEXT, PRIMARY KEY (stream, seq));"
		"CREATE INDEX IF NOT EXISTS env_value_end ON env_value (end);"
		"CREATE TABLE IF NOT EXISTS env_hour (site TEXT NOT NULL, param TEXT NOT NULL, hour_ms INTEGER NOT NULL,"
		" slot INTEGER NOT NULL, mean REAL, n INTEGER, PRIMARY KEY (site, param, hour_ms, slot));";
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		log_err("environment: cannot create its tables: %s", err ? err : "?");
		sqlite3_free(err);
		return -EIO;
	}
	return 0;
}

/* The hourly means, the last bands and the ward's daily AQIs of before a restart. */
static void restore(struct environment *e)
{
	sqlite3_stmt *q;

	if (sqlite3_prepare_v2(e->db, "SELECT site, param, slot, mean FROM env_hour WHERE hour_ms = ?1 AND slot >= ?2",
			       -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(q, 1, e->hour_ms);
		sqlite3_bind_int64(q, 2, e->slot - RING);
		while (sqlite3_step(q) == SQLITE_ROW) {
			const char *site = (const char *)sqlite3_column_text(q, 0);
			const char *param = (const char *)sqlite3_column_text(q, 1);
			for (size_t i = 0; site && param && i < e->nsites; i++)
				for (int k = 0; k < AQI_NPOLL && !strcmp(e->sites[i].c->name, site); k++)
					if (!strcmp(src_keys[k], param))
						ring_put(&e->sites[i], k, sqlite3_column_int64(q, 2), sqlite3_column_double(q, 3));
		}
		sqlite3_finalize(q);
	}
	if (sqlite3_prepare_v2(e->db, "SELECT value FROM env_value WHERE stream = ?1 ORDER BY seq DESC LIMIT 1", -1, &q,
			       NULL) == SQLITE_OK) {
		for (size_t i = 0; i <= e->nsites; i++) {
			struct stream *st = i < e->nsites ? &e->sites[i].s_hour : &e->w_hour;
			int *prev = i < e->nsites ? &e->sites[i].prev_band : &e->w_prev_band;
			sqlite3_reset(q);
			sqlite3_bind_text(q, 1, st->name, -1, SQLITE_STATIC);
			if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL &&
			    aqi_band_of((int)sqlite3_column_double(q, 0)))
				*prev = aqi_band_of((int)sqlite3_column_double(q, 0))->index;
		}
		sqlite3_finalize(q);
	}
	if (sqlite3_prepare_v2(e->db, "SELECT value FROM (SELECT value, seq FROM env_value WHERE stream = ?1"
			       " ORDER BY seq DESC LIMIT ?2) ORDER BY seq", -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_text(q, 1, e->w_day.name, -1, SQLITE_STATIC);
		sqlite3_bind_int(q, 2, MAX_DAYS);
		while (sqlite3_step(q) == SQLITE_ROW && e->nday < MAX_DAYS)
			e->day_aqi[e->nday++] = sqlite3_column_type(q, 0) == SQLITE_NULL ? -1 : (int)sqlite3_column_double(q, 0);
		sqlite3_finalize(q);
	}
}

int environment_new(struct environment **out, struct gateway *gw)
{
	const struct environment_conf *c = gw->cfg->environment;
	struct environment *e;
	struct timeval tv;
	int ret;

	*out = NULL;
	if (!c)
		return 0;
	if (!(e = calloc(1, sizeof(*e))))
		return -ENOMEM;
	e->gw = gw;
	e->c = c;
	e->db = store_db(gw->store);
	e->hour_ms = (int64_t)c->hour_s * 1000;
	e->slot = slot_of(e, wall_ms());
	e->w_aqi = e->w_day_aqi = -1;
	if ((ret = db_init(e->db)) < 0)
		goto fail;
	ret = -ENOMEM;
	if (asprintf(&e->topic, "%s/%s/kpi/environment", gw->cfg->topic_prefix, gw->cfg->gateway_id) < 0) {
		e->topic = NULL;
		goto fail;
	}
	if (!(e->sites = calloc(c->nsites ? c->nsites : 1, sizeof(*e->sites))))
		goto fail;
	e->nsites = c->nsites;
	int air = 0, water = 0;
	for (size_t i = 0; i < c->nsites; i++) {
		struct site_rt *s = &e->sites[i];
		s->c = &c->sites[i];
		s->last.aqi = s->day.aqi = -1;
		s->last.dominant = s->day.dominant = -1;
		s->day_peak = NAN;
		flood_init(&s->fl);
		for (int k = 0; k < AQI_NPOLL; k++)
			for (int j = 0; j < RING; j++)
				s->ring_slot[k][j] = INT64_MIN;     /* no hour */
		for (int k = 0; k < AQI_NPOLL; k++) {
			s->has_air |= s->c->src[k].device != NULL;
			s->need[k] = 1;
		}
		air += s->has_air;
		water += s->c->src[ENV_WATER].device != NULL;
		stream_init(e, &s->s_hour, s->c->name, ENV_AQI_HOUR);
		stream_init(e, &s->s_day, s->c->name, ENV_AQI_DAY);
		stream_init(e, &s->s_flood, s->c->name, ENV_FLOOD_HOURS);
	}
	if (air) {
		stream_init(e, &e->w_hour, "ward", ENV_AQI_HOUR);
		stream_init(e, &e->w_day, "ward", ENV_AQI_DAY);
		stream_init(e, &e->w_good, "ward", ENV_GOOD_DAYS);
	}
	if (water)
		stream_init(e, &e->w_flood, "ward", ENV_FLOOD_HOURS);
	restore(e);
	if (sqlite3_prepare_v3(e->db, "INSERT OR REPLACE INTO env_value (stream, start, end, seq, value, n, status, pack)"
			       " VALUES (?,?,?,?,?,?,?,?)", -1, SQLITE_PREPARE_PERSISTENT, &e->ins_val, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(e->db, "INSERT OR REPLACE INTO env_hour (site, param, hour_ms, slot, mean, n)"
			       " VALUES (?,?,?,?,?,?)", -1, SQLITE_PREPARE_PERSISTENT, &e->ins_hour, NULL) != SQLITE_OK) {
		log_err("environment: prepare: %s", sqlite3_errmsg(e->db));
		ret = -EIO;
		goto fail;
	}
	/* look at the clock often enough to close an hour within a tenth of it */
	int64_t tick = e->hour_ms / 10 < 1000 ? e->hour_ms / 10 : 1000;
	tv.tv_sec = tick / 1000;
	tv.tv_usec = (tick % 1000) * 1000;
	ret = -ENOMEM;
	if (!(e->ev = event_new(gw->base, -1, EV_PERSIST, on_timer, e)) || event_add(e->ev, &tv) < 0)
		goto fail;
	/* last: nothing after it can fail, so the store never keeps a freed hook */
	if ((ret = store_add_hook(gw->store, &(struct store_hook){ en_dirty, en_in_tx, en_committed, en_rolled_back,
								  e, NULL })) < 0) {
		log_err("environment: cannot join the store's transactions: %s", strerror(-ret));
		goto fail;
	}
	build_live(e);
	log_info("environment: %zu sites (%d air, %d water), AQI hour %d s, publishing on %s", c->nsites, air, water,
		 c->hour_s, e->topic);
	*out = e;
	return 0;
fail:
	environment_free(e);
	return ret;
}

void environment_free(struct environment *e)
{
	if (!e)
		return;
	if (e->ev)
		event_free(e->ev);
	sqlite3_finalize(e->ins_val);
	sqlite3_finalize(e->ins_hour);
	for (size_t i = 0; i < e->npend; i++) {
		free(e->pend[i].stream);
		free(e->pend[i].pack);
	}
	free(e->pend);
	free(e->ph);
	for (size_t i = 0; i < e->ndm; i++)
		free(e->dm[i].m);
	free(e->dm);
	free(e->sites);
	free(e->topic);
	free(e);
}
