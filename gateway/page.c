/* The status page's content (see page.h). Everything is answered from
 * memory and bounded SQLite reads: the ward's charts read hourly rollups
 * (one indexed range for all of them), a device's charts its own minute
 * rollups and the raw samples not rolled up yet. Everything put in HTML is
 * escaped; every query parameter is length-checked and matched against the
 * config, never used as is. */
#include "page.h"

#include <errno.h>
#include <event2/buffer.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "coverage.h"
#include "environment.h"
#include "gateway.h"
#include "health.h"
#include "httpparse.h"
#include "httpconf.h"
#include "i18n.h"
#include "kpi.h"
#include "map.h"
#include "outbox.h"
#include "publisher.h"
#include "rollup.h"
#include "store.h"
#include "timeparse.h"
#include "version.h"

#define CHART_W 600
#define CHART_H 150
#define CHART_BUCKETS 288
#define WARD_HOURS 24
#define MAX_PROBLEMS 50         /* offline/degraded devices listed in "needs a person" */
#define MAX_ALARMS 30
#define MAX_EVENTS 12
#define KPI_REFRESH_MS 5000     /* KPI windows recomputed at most this often while devices change state */

/* The ward's charts and energy: per hour, 48 h back (yesterday whole). */
enum { WC_POWER, WC_ENERGY, WC_FAILED, WC_CLIENTS, WC_N };
static const char *const ward_metric[WC_N] = { "activePower", "activeEnergy", "lampsFailed", "clients" };
#define HOURS_KEPT 48

struct kpi_row;

/* What changes only when an hour or a minute closes, or a device changes
 * state, is computed once for all the requests in between: the hourly
 * ward figures (keyed by the hour rollups' progress) and the KPI windows
 * (keyed by the minute rollups' progress and the devices' state changes,
 * at most every KPI_REFRESH_MS while states keep changing). */
struct page_cache {
	const void *cfg, *devices;
	int64_t hour_done;
	int64_t hour_base;                  /* start of hourly[.][0] */
	double hourly[WC_N][HOURS_KEPT];
	unsigned char have[WC_N][HOURS_KEPT];
	int64_t minute_done, state_sig, computed_ms;
	const void *kpi_cfg;
	struct kpi_row *rows;
	size_t nrows;
};

/* What one request needs along the way. */
struct page {
	struct page_cache *cache;
	struct gateway *gw;
	struct evbuffer *b;
	const char *query;
	const char *token;          /* kept in links when it came in the query */
	const char *lang;
	int64_t now;
};

void html_esc(struct evbuffer *b, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': evbuffer_add(b, "&amp;", 5); break;
		case '<': evbuffer_add(b, "&lt;", 4); break;
		case '>': evbuffer_add(b, "&gt;", 4); break;
		case '"': evbuffer_add(b, "&quot;", 6); break;
		case '\'': evbuffer_add(b, "&#39;", 5); break;
		default: evbuffer_add(b, s, 1);
		}
	}
}

/* Percent-encode everything but unreserved characters (links). */
void url_enc(struct evbuffer *b, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~')
			evbuffer_add(b, s, 1);
		else
			evbuffer_add_printf(b, "%%%02X", c);
	}
}

/* An href to @path with one optional parameter, the language when it was
 * chosen in the query, and the token when it came in the query. */
static void href(struct page *p, const char *path, const char *key, const char *val)
{
	const char *sep = "?";
	char lang[8];

	evbuffer_add_printf(p->b, "%s", path);
	if (key) {
		evbuffer_add_printf(p->b, "%s%s=", sep, key);
		url_enc(p->b, val);
		sep = "&amp;";
	}
	if (p->query && http_query_get(p->query, "lang", lang, sizeof(lang)) >= 0 &&
	    (!strcmp(lang, "vi") || !strcmp(lang, "en")) && (!key || strcmp(key, "lang"))) {
		evbuffer_add_printf(p->b, "%slang=%s", sep, lang);
		sep = "&amp;";
	}
	if (p->token) {
		evbuffer_add_printf(p->b, "%stoken=", sep);
		url_enc(p->b, p->token);
	}
}

static void age(char *buf, size_t n, int64_t then_ms, int64_t now_ms)
{
	int64_t s = (now_ms - then_ms) / 1000;

	if (then_ms <= 0)
		snprintf(buf, n, "%s", _("never"));
	else if (s < 120)
		snprintf(buf, n, _("%llds ago"), (long long)s);
	else if (s < 7200)
		snprintf(buf, n, _("%lldm ago"), (long long)(s / 60));
	else if (s < 172800)
		snprintf(buf, n, _("%lldh ago"), (long long)(s / 3600));
	else
		snprintf(buf, n, _("%lldd ago"), (long long)(s / 86400));
}

/* Device states and KPI statuses for people; the class names stay English. */
static const char *state_words(enum device_state s)
{
	switch (s) {
	case DEV_ONLINE: return _("online");
	case DEV_OFFLINE: return _("offline (no connection)");
	case DEV_DEGRADED: return _("degraded");
	default: return _("unknown");
	}
}

static const char *status_words(const char *st)
{
	if (!strcmp(st, "ok")) return _("on target");
	if (!strcmp(st, "behind")) return _("behind");
	if (!strcmp(st, "red_flag")) return _("RED FLAG");
	if (!strcmp(st, "none")) return _("no target");
	return _("no data yet");
}

static const char css[] =
	"body{font:15px/1.4 system-ui,sans-serif;margin:0 auto;max-width:64em;padding:.5em;color:#222}"
	"h1{font-size:1.3em;margin:.2em 0}h2{font-size:1.1em;margin:1em 0 .3em;border-bottom:2px solid #246}"
	"h3{font-size:1em;margin:.6em 0 .2em}a{color:#135}"
	".wrap{overflow-x:auto}table{border-collapse:collapse;width:100%}"
	"td,th{border-bottom:1px solid #ddd;padding:.15em .4em;text-align:left;vertical-align:top}"
	"th{background:#f3f3f3}.online,.ok{color:#060}.offline,.red_flag,.down{color:#b00;font-weight:bold}"
	".behind,.degraded,.unknown{color:#a60}.small{font-size:.85em;color:#555}"
	".flag{background:#fde8e8;border-left:6px solid #b00;padding:.3em .6em;margin:.3em 0}"
	".tiles{display:flex;flex-wrap:wrap;gap:.5em}.tile{flex:1 1 11em;border:1px solid #ccd;"
	"border-radius:4px;padding:.3em .6em;background:#f8f9fc}.tile b{font-size:1.25em}"
	"#devices td{white-space:nowrap}#devices td.why{white-space:normal}"
	".charts{display:flex;flex-wrap:wrap;gap:.5em}.charts figure{flex:1 1 20em;margin:0}"
	"figcaption{font-size:.9em}"
	"svg{width:100%;height:auto;background:#fafafa;border:1px solid #ddd}#ward-map{max-width:36em;display:block}"
	"#ward-map .dev{stroke:#000;fill:#e90}#ward-map rect.dev{width:10px;height:10px}"
	"#ward-map .dev.online{fill:#2a2}#ward-map .dev.offline{fill:#c00}"
	"select,button{font-size:1em;margin:.2em 0}";

static void head(struct page *p, const char *title)
{
	struct gateway *gw = p->gw;
	struct publisher_stats ps = { 0 };
	struct outbox_stats os = { 0 };
	struct health_stats hs;
	const char *why = "";
	char t[40], up[40];
	int failing = store_failing(gw->store, &why);

	if (gw->pub)
		publisher_get_stats(gw->pub, &ps);
	outbox_get_stats(gw->outbox, &os);
	health_get(gw->health, &hs);
	time_format(p->now, t, sizeof(t));
	age(up, sizeof(up), gw->started_ms, p->now);
	evbuffer_add_printf(p->b, "<!DOCTYPE html><html lang=\"%s\"><head><meta charset=\"utf-8\">"
			    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>", p->lang);
	html_esc(p->b, title);
	evbuffer_add_printf(p->b, " &middot; wardgw ");
	html_esc(p->b, gw->cfg->gateway_id);
	evbuffer_add_printf(p->b, "</title><style>%s</style></head><body><h1>", css);
	html_esc(p->b, title);
	evbuffer_add_printf(p->b, "</h1><p class=\"small\">");
	html_esc(p->b, gw->cfg->ward);
	evbuffer_add_printf(p->b, " &middot; ");
	html_esc(p->b, gw->cfg->gateway_id);
	evbuffer_add_printf(p->b, " &middot; wardgw %s &middot; ", WARDGW_VERSION);
	evbuffer_add_printf(p->b, _("config %s, started %s, page of %.19s"), gw->cfg->digest, up, t);
	evbuffer_add_printf(p->b, " &middot; <a href=\"");
	href(p, "/", "lang", strcmp(p->lang, "vi") ? "vi" : "en");
	/* the other language, named in itself */
	evbuffer_add_printf(p->b, "\">%s</a></p><p class=\"small\">", strcmp(p->lang, "vi") ? "Tiếng Việt" : "English");
	evbuffer_add_printf(p->b, _("IOC link <b class=\"%s\">%s</b>, outbox %lld messages (%lld kB), "
				    "%llu dropped, store <b class=\"%s\">%s</b>"),
			    ps.connected ? "ok" : "down", ps.connected ? _("up") : _("down"), (long long)os.rows,
			    (long long)(os.bytes / 1024), (unsigned long long)os.dropped, failing ? "down" : "ok",
			    failing ? _("failing") : _("ok"));
	if (failing) {
		evbuffer_add_printf(p->b, " (");
		html_esc(p->b, why);
		evbuffer_add_printf(p->b, ")");
	}
	/* the other northbound links (links = ( ... )) */
	for (size_t i = 0; i < gw->nlinks; i++) {
		struct outbox_link_stats ls;
		struct publisher_stats lp = { 0 };
		if (outbox_link_get_stats(gw->outbox, gw->links[i].idx, &ls) < 0)
			continue;
		if (gw->links[i].pub)
			publisher_get_stats(gw->links[i].pub, &lp);
		evbuffer_add_printf(p->b, ", ");
		evbuffer_add_printf(p->b, _("link %s <b class=\"%s\">%s</b> (owes %lld messages, telemetry of %lld commits)"),
				    ls.name, lp.connected ? "ok" : "down", lp.connected ? _("up") : _("down"),
				    (long long)ls.prio_backlog, (long long)ls.tele_lag);
	}
	evbuffer_add_printf(p->b, ", ");
	evbuffer_add_printf(p->b, _("loop lag %.1f ms"), (double)hs.lag_us / 1000.0);
	/* the flash budget, measured (docs/storage.md) */
	evbuffer_add_printf(p->b, ", ");
	evbuffer_add_printf(p->b, _("writes %.1f kB/s (%.1f kB/s to disk)"), hs.write_bps / 1000.0,
			    hs.disk_write_bps / 1000.0);
	evbuffer_add_printf(p->b, "</p>");
}

static void foot(struct page *p)
{
	evbuffer_add_printf(p->b, "<p class=\"small\"><a href=\"");
	href(p, "/", NULL, NULL);
	evbuffer_add_printf(p->b, "\">%s</a> &middot; <a href=\"", _("Ward"));
	href(p, "/map.geojson", NULL, NULL);
	evbuffer_add_printf(p->b, "\">/map.geojson</a> &middot; <a href=\"");
	href(p, "/metrics", NULL, NULL);
	evbuffer_add_printf(p->b, "\">/metrics</a> &middot; <a href=\"");
	href(p, "/status.json", NULL, NULL);
	evbuffer_add_printf(p->b, "\">/status.json</a></p></body></html>\n");
}

/* --- the ward --- */

/* One KPI as the page shows it: the last closed window (what the IOC got)
 * and the open window so far (from the rollups). */
struct kpi_row {
	const struct kpi_def *k;
	double closed, open;        /* NaN: none */
	char closed_status[16];     /* "" when no window closed yet */
	const char *open_status;
	int64_t closed_start;
	int rank;                   /* 0 red flag, 1 behind, 2 the rest */
};

static int rank_of(const char *st)
{
	return !strcmp(st, "red_flag") ? 0 : !strcmp(st, "behind") ? 1 : 2;
}

static const struct gw_config *kpi_config(struct gateway *gw)
{
	/* the KPIs the engine computes: those of the config it started with
	 * (a reload defers KPI changes to the next restart) */
	return gw->nretired ? gw->retired[0] : gw->cfg;
}

/* A signature of the devices' states: changes when any of them changes. */
static int64_t state_sig(struct gateway *gw)
{
	int64_t sig = (int64_t)gw->ndevices;

	for (size_t i = 0; i < gw->ndevices; i++)
		sig = sig * 31 + gw->devices[i].changed_ms + gw->devices[i].state;
	return sig;
}

/* The KPIs' windows (cached, see struct page_cache); statuses against the
 * clock are worked out at each render. A copy the caller frees. */
static struct kpi_row *kpi_rows(struct page *p, size_t *n)
{
	struct gateway *gw = p->gw;
	struct page_cache *c = p->cache;
	const struct gw_config *kc = kpi_config(gw);
	sqlite3 *db = store_db(gw->store);
	sqlite3_stmt *q = NULL;
	int64_t mdone = rollup_done(gw->rollup, TIER_MINUTE), sig = state_sig(gw);
	struct kpi_row *rows;

	*n = 0;
	/* a big ward always has a device changing state somewhere: those
	 * changes reach the KPI windows within KPI_REFRESH_MS */
	if (c->rows && c->kpi_cfg == kc && c->minute_done == mdone &&
	    (c->state_sig == sig || p->now - c->computed_ms < KPI_REFRESH_MS) && p->now >= c->computed_ms)
		goto copy;
	free(c->rows);
	c->nrows = 0;
	c->kpi_cfg = NULL;
	if (!(c->rows = calloc(kc->nkpis ? kc->nkpis : 1, sizeof(*c->rows))))
		return NULL;
	if (sqlite3_prepare_v2(db, "SELECT start, value, status FROM kpi_value WHERE kpi = ?1 ORDER BY start DESC LIMIT 1",
			       -1, &q, NULL) != SQLITE_OK)
		q = NULL;
	for (size_t i = 0; i < kc->nkpis; i++) {
		struct kpi_row *r = &c->rows[i];
		const struct kpi_def *k = &kc->kpis[i];
		struct kpi_result res;
		int64_t from = ward_window_start(p->now, k->window_ms);

		r->k = k;
		r->closed = r->open = NAN;
		if (q) {
			sqlite3_reset(q);
			sqlite3_bind_text(q, 1, k->name, -1, SQLITE_STATIC);
			if (sqlite3_step(q) == SQLITE_ROW) {
				const char *st = (const char *)sqlite3_column_text(q, 2);
				r->closed_start = sqlite3_column_int64(q, 0);
				if (sqlite3_column_type(q, 1) != SQLITE_NULL)
					r->closed = sqlite3_column_double(q, 1);
				snprintf(r->closed_status, sizeof(r->closed_status), "%s", st ? st : "no_data");
			}
		}
		if (kpi_compute(db, kc, k, kpi_tier(k), from, from + k->window_ms, &res) == 0)
			r->open = res.value;
	}
	sqlite3_finalize(q);
	c->nrows = kc->nkpis;
	c->kpi_cfg = kc;
	c->minute_done = mdone;
	c->state_sig = sig;
	c->computed_ms = p->now;
copy:
	if (!(rows = malloc((c->nrows ? c->nrows : 1) * sizeof(*rows))))
		return NULL;
	memcpy(rows, c->rows, c->nrows * sizeof(*rows));
	for (size_t i = 0; i < c->nrows; i++) {
		struct kpi_row *r = &rows[i];
		r->open_status = kpi_status(r->k, r->open, p->now);
		/* the worse of the two decides where the KPI is listed */
		r->rank = rank_of(r->open_status);
		if (r->closed_status[0] && rank_of(r->closed_status) < r->rank)
			r->rank = rank_of(r->closed_status);
	}
	*n = c->nrows;
	return rows;
}

static int cmp_kpi_row(const void *a, const void *b)
{
	const struct kpi_row *x = a, *y = b;

	if (x->rank != y->rank)
		return x->rank - y->rank;
	return x < y ? -1 : x > y;
}

static void value_text(char *buf, size_t n, const struct kpi_def *k, double v)
{
	if (!isfinite(v))
		snprintf(buf, n, "-");
	else if (k->unit && strcmp(k->unit, "/"))
		snprintf(buf, n, "%.4g %s", v, k->unit);
	else if ((k->unit && !strcmp(k->unit, "/")) || k->agg == AGG_AVAILABILITY || k->agg == AGG_RATIO ||
		 k->agg == AGG_COVERAGE || k->agg == AGG_SAVINGS)
		/* a ratio (SenML "/") reads as a percentage */
		snprintf(buf, n, "%.1f %%", v * 100.0 / (k->scale ? k->scale : 1));
	else
		snprintf(buf, n, "%.4g", v);
}

static void target_text(char *buf, size_t n, const struct kpi_def *k)
{
	char v[40];

	if (k->op == OP_NONE) {
		snprintf(buf, n, "-");
		return;
	}
	value_text(v, sizeof(v), k, k->target);
	snprintf(buf, n, "%s %s", k->op == OP_GE ? "&ge;" : "&le;", v);
}

static void red_flags(struct page *p, const struct kpi_row *rows, size_t n)
{
	for (size_t i = 0; i < n && rows[i].rank == 0; i++) {
		const struct kpi_row *r = &rows[i];
		char v[48], t[64], d[40] = "";
		double shown = isfinite(r->open) ? r->open : r->closed;

		value_text(v, sizeof(v), r->k, shown);
		target_text(t, sizeof(t), r->k);
		if (r->k->deadline_ms)
			time_format(r->k->deadline_ms, d, sizeof(d));
		evbuffer_add_printf(p->b, "<p class=\"flag red_flag\">&#9873; %s: ", _("RED FLAG"));
		html_esc(p->b, r->k->name);
		evbuffer_add_printf(p->b, " ");
		/* t holds an entity we put there ourselves and a number */
		evbuffer_add_printf(p->b, _("is %s, target %s"), v, t);
		if (d[0])
			evbuffer_add_printf(p->b, _(", deadline %.10s"), d);
		evbuffer_add_printf(p->b, "</p>");
	}
}

static void kpi_table(struct page *p, const struct kpi_row *rows, size_t n)
{
	evbuffer_add_printf(p->b, "<h3>%s</h3><div class=\"wrap\"><table id=\"kpis\"><tr><th>%s</th><th>%s</th>"
			    "<th>%s</th><th>%s</th><th>%s</th><th>%s</th></tr>", _("Ward KPIs"), _("KPI"),
			    _("Value (last window)"), _("So far (open window)"), _("Target"), _("Deadline"), _("Status"));
	for (size_t i = 0; i < n; i++) {
		const struct kpi_row *r = &rows[i];
		const char *st = r->closed_status[0] ? r->closed_status : r->open_status;
		char c[48], o[48], t[64], d[40] = "-";

		value_text(c, sizeof(c), r->k, r->closed);
		value_text(o, sizeof(o), r->k, r->open);
		target_text(t, sizeof(t), r->k);
		if (r->k->deadline_ms) {
			time_format(r->k->deadline_ms, d, sizeof(d));
			d[10] = 0;
		}
		evbuffer_add_printf(p->b, "<tr><td>");
		html_esc(p->b, r->k->name);
		evbuffer_add_printf(p->b, " <span class=\"small\">");
		html_esc(p->b, r->k->window_str);
		evbuffer_add_printf(p->b, "</span></td><td>%s</td><td>%s <span class=\"small %s\">%s</span></td>"
				    "<td>%s</td><td>%s</td><td class=\"%s\">%s%s</td></tr>",
				    c, o, r->open_status, status_words(r->open_status), t, d, st,
				    !strcmp(st, "red_flag") ? "&#9873; " : "", status_words(st));
	}
	if (!n)
		evbuffer_add_printf(p->b, "<tr><td colspan=\"6\">%s</td></tr>", _("no KPIs configured"));
	evbuffer_add_printf(p->b, "</table></div>");
}

/* Sum of the devices' last good values of @metric; *@n devices have it. */
static double sum_last(struct gateway *gw, const char *metric, size_t *n, size_t *fresh)
{
	double s = 0;

	*n = 0;
	if (fresh)
		*fresh = 0;
	for (size_t i = 0; i < gw->ndevices; i++) {
		const struct device *d = &gw->devices[i];
		const struct profile *pr = d->conf->profile;
		for (size_t k = 0; k < pr->nregs; k++)
			if (!strcmp(pr->regs[k].metric, metric)) {
				(*n)++;
				if (!isnan(d->last[k])) {
					s += d->last[k];
					if (fresh && d->state == DEV_ONLINE && d->last[k] >= 0.5)
						(*fresh)++;
				}
				break;
			}
	}
	return s;
}

struct series_slot {
	int64_t series;
	int slot;
};

static int cmp_slot(const void *a, const void *b)
{
	const struct series_slot *x = a, *y = b;

	return (x->series > y->series) - (x->series < y->series);
}

/* The hourly ward figures over the last 48 closed hours: per hour, the sum
 * over devices of each hour's mean (or delta, for energy), from one range
 * of the hour rollups, matched to the ward metrics' series in memory. The
 * first page reads 48 hours; later ones only the hours closed since. */
static void load_hourly(struct page *p)
{
	struct gateway *gw = p->gw;
	struct page_cache *c = p->cache;
	int64_t done = rollup_done(gw->rollup, TIER_HOUR);
	struct series_slot *ss = NULL;
	size_t nss = 0, cap = 0;
	sqlite3_stmt *q;

	int64_t from, base = done - done % 3600000 - (int64_t)HOURS_KEPT * 3600000;

	done -= done % 3600000;
	if (c->cfg == gw->cfg && c->devices == gw->devices && c->hour_done == done)
		return;
	if (c->cfg == gw->cfg && c->devices == gw->devices && c->hour_done >= 0 && done > c->hour_done &&
	    done - c->hour_done < (int64_t)HOURS_KEPT * 3600000) {
		/* the hours that closed since: shift, and read only those */
		int shift = (int)((done - c->hour_done) / 3600000);
		for (int w = 0; w < WC_N; w++) {
			memmove(c->hourly[w], c->hourly[w] + shift, (HOURS_KEPT - shift) * sizeof(c->hourly[w][0]));
			memmove(c->have[w], c->have[w] + shift, (HOURS_KEPT - shift) * sizeof(c->have[w][0]));
			memset(c->hourly[w] + HOURS_KEPT - shift, 0, shift * sizeof(c->hourly[w][0]));
			memset(c->have[w] + HOURS_KEPT - shift, 0, shift * sizeof(c->have[w][0]));
		}
		from = c->hour_done;
	} else {
		memset(c->hourly, 0, sizeof(c->hourly));
		memset(c->have, 0, sizeof(c->have));
		from = base;
	}
	c->hour_base = base;
	c->hour_done = done;
	c->cfg = gw->cfg;
	c->devices = gw->devices;
	for (size_t i = 0; i < gw->ndevices; i++) {
		const struct profile *pr = gw->devices[i].conf->profile;
		for (size_t k = 0; k < pr->nregs; k++)
			for (int w = 0; w < WC_N; w++)
				if (!strcmp(pr->regs[k].metric, ward_metric[w])) {
					if (nss == cap) {
						struct series_slot *n = realloc(ss, (cap = cap ? 2 * cap : 64) * sizeof(*ss));
						if (!n)
							goto out;
						ss = n;
					}
					ss[nss].series = gw->devices[i].series[k];
					ss[nss++].slot = w;
				}
	}
	if (!nss)
		goto out;
	qsort(ss, nss, sizeof(*ss), cmp_slot);
	if (sqlite3_prepare_v2(store_db(gw->store), "SELECT start, series, sum / count, delta FROM rollup"
			       " WHERE tier = 1 AND start >= ?1 AND start < ?2 AND count > 0", -1, &q, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(q, 1, from);
	sqlite3_bind_int64(q, 2, done);
	while (sqlite3_step(q) == SQLITE_ROW) {
		struct series_slot key = { .series = sqlite3_column_int64(q, 1) }, *hit;
		int64_t h = (sqlite3_column_int64(q, 0) - c->hour_base) / 3600000;
		if (h < 0 || h >= HOURS_KEPT || !(hit = bsearch(&key, ss, nss, sizeof(*ss), cmp_slot)))
			continue;
		/* a series measured under two ward metrics does not exist: one slot each */
		c->hourly[hit->slot][h] += sqlite3_column_double(q, hit->slot == WC_ENERGY ? 3 : 2);
		c->have[hit->slot][h] = 1;
	}
	sqlite3_finalize(q);
out:
	free(ss);
}

/* Energy (sum of hourly deltas) of the closed hours in [from, to); NaN without any. */
static double energy(struct page *p, int64_t from, int64_t to)
{
	struct page_cache *c = p->cache;
	double sum = 0;
	int any = 0;

	for (int h = 0; h < HOURS_KEPT; h++) {
		int64_t t = c->hour_base + (int64_t)h * 3600000;
		if (t >= from && t < to && c->have[WC_ENERGY][h]) {
			sum += c->hourly[WC_ENERGY][h];
			any = 1;
		}
	}
	return any ? sum : NAN;
}

static const struct kpi_row *coverage_row(const struct kpi_row *rows, size_t n, int tech)
{
	for (size_t i = 0; i < n; i++)
		if (rows[i].k->agg == AGG_COVERAGE && rows[i].k->technology == tech && rows[i].k->figure == COV_AREA &&
		    !strcmp(rows[i].k->coverage_op ? rows[i].k->coverage_op : "any", "any"))
			return &rows[i];
	return NULL;
}

static void tile_coverage(struct page *p, const struct kpi_row *r, const char *label)
{
	char v[48], t[64];
	const char *st;

	if (!r)
		return;
	st = isfinite(r->open) ? r->open_status : r->closed_status[0] ? r->closed_status : "no_data";
	value_text(v, sizeof(v), r->k, isfinite(r->open) ? r->open : r->closed);
	target_text(t, sizeof(t), r->k);
	evbuffer_add_printf(p->b, "<div class=\"tile\">%s<br><b>%s</b> <span class=\"small\">", label, v);
	evbuffer_add_printf(p->b, _("target %s"), t);
	evbuffer_add_printf(p->b, "</span><br><span class=\"%s\">%s%s</span></div>", st,
			    !strcmp(st, "red_flag") ? "&#9873; " : "", status_words(st));
}

static void tiles(struct page *p, const struct kpi_row *rows, size_t nrows)
{
	struct gateway *gw = p->gw;
	size_t n, online = 0, aps, up;
	double installed, on, failed, clients;
	int64_t today = ward_window_start(p->now, 86400000);

	for (size_t i = 0; i < gw->ndevices; i++)
		online += gw->devices[i].state == DEV_ONLINE;
	evbuffer_add_printf(p->b, "<div class=\"tiles\" id=\"tiles\">");
	evbuffer_add_printf(p->b, "<div class=\"tile\">%s<br><b>%zu / %zu</b><br><span class=\"small\">",
			    _("Devices online"), online, gw->ndevices);
	evbuffer_add_printf(p->b, ngettext("%zu needs a person", "%zu need a person", gw->ndevices - online),
			    gw->ndevices - online);
	evbuffer_add_printf(p->b, "</span></div>");
	installed = sum_last(gw, "lampsInstalled", &n, NULL);
	if (n) {
		size_t nf;
		on = sum_last(gw, "lampsOn", &nf, NULL);
		failed = sum_last(gw, "lampsFailed", &nf, NULL);
		evbuffer_add_printf(p->b, "<div class=\"tile\" id=\"lamps\">%s<br><b>%.0f</b> %s<br>", _("Lamps"),
				    installed, _("installed"));
		evbuffer_add_printf(p->b, _("%.0f on, <span class=\"%s\">%.0f failed</span>"), on,
				    failed > 0 ? "behind" : "ok", failed);
		evbuffer_add_printf(p->b, "<br><span class=\"small\">");
		evbuffer_add_printf(p->b, _("in %zu lighting control cabinets"), n);
		evbuffer_add_printf(p->b, "</span></div>");
	}
	sum_last(gw, "activeEnergy", &n, NULL);
	if (n) {
		char a[32] = "-", b[32] = "-", c[32] = "-", upto[40];
		double e_today, e_yday, e_ysame;
		load_hourly(p);
		/* closed hours only: today up to the last full hour, against
		 * yesterday up to the same hour and yesterday whole */
		e_today = energy(p, today, p->cache->hour_done);
		e_yday = energy(p, today - 86400000, today);
		e_ysame = energy(p, today - 86400000, p->cache->hour_done - 86400000);
		if (isfinite(e_today))
			snprintf(a, sizeof(a), "%.1f kWh", e_today);
		if (isfinite(e_yday))
			snprintf(b, sizeof(b), "%.1f kWh", e_yday);
		if (isfinite(e_ysame))
			snprintf(c, sizeof(c), "%.1f kWh", e_ysame);
		time_format(p->cache->hour_done, upto, sizeof(upto));
		evbuffer_add_printf(p->b, "<div class=\"tile\" id=\"energy\">%s<br><b>%s</b> <span class=\"small\">",
				    _("Energy today"), a);
		evbuffer_add_printf(p->b, _("to %.5s"), upto + 11);
		evbuffer_add_printf(p->b, "</span><br><span class=\"small\">");
		evbuffer_add_printf(p->b, _("yesterday %s (by this time %s)"), b, c);
		evbuffer_add_printf(p->b, "</span></div>");
	}
	sum_last(gw, "apUp", &aps, &up);
	if (aps) {
		clients = sum_last(gw, "clients", &n, NULL);
		evbuffer_add_printf(p->b, "<div class=\"tile\" id=\"hotspots\">%s<br><b>%zu / %zu</b> %s<br>"
				    "<span class=\"small\">", _("Wi-Fi hotspots"), up, aps, _("up"));
		evbuffer_add_printf(p->b, _("%.0f clients now"), clients);
		evbuffer_add_printf(p->b, "</span></div>");
	}
	tile_coverage(p, coverage_row(rows, nrows, RAT_NR), _("5G coverage"));
	tile_coverage(p, coverage_row(rows, nrows, RAT_LTE), _("4G coverage"));
	evbuffer_add_printf(p->b, "</div>");
}

/* A chart of points (x already in 0..CHART_W), with a min..max band when
 * @lo and @hi are given; @bars draws bars instead of a line. */
static void svg_chart(struct evbuffer *b, const char *id, const double *xs, const double *mean, const double *lo,
		      const double *hi, int n, int bars, const char *left, const char *right)
{
	double ymin = INFINITY, ymax = -INFINITY;

	for (int i = 0; i < n; i++) {
		double a = lo ? lo[i] : mean[i], z = hi ? hi[i] : mean[i];
		if (a < ymin) ymin = a;
		if (z > ymax) ymax = z;
	}
	if (bars && ymin > 0)
		ymin = 0;
	if (n && ymin == ymax) {
		ymin -= 1;
		ymax += 1;
	}
#define Y(v) (10.0 + (ymax - (v)) / (ymax - ymin) * (CHART_H - 20))
	evbuffer_add_printf(b, "<svg id=\"%s\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" "
			    "viewBox=\"0 0 %d %d\" role=\"img\">", id, CHART_W, CHART_H + 20);
	for (int g = 0; g <= 4; g++)
		evbuffer_add_printf(b, "<line x1=\"0\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>",
				    CHART_W, 10.0 + g * (CHART_H - 20) / 4.0, 10.0 + g * (CHART_H - 20) / 4.0);
	if (n > 0) {
		if (bars) {
			double w = CHART_W / (double)WARD_HOURS * 0.8;
			for (int i = 0; i < n; i++)
				evbuffer_add_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#579\"/>",
						    xs[i] - w / 2, Y(mean[i]), w, Y(ymin) - Y(mean[i]));
		} else {
			if (lo && hi) {
				evbuffer_add_printf(b, "<polygon fill=\"#cde\" stroke=\"none\" points=\"");
				for (int i = 0; i < n; i++)
					evbuffer_add_printf(b, "%.1f,%.1f ", xs[i], Y(hi[i]));
				for (int i = n - 1; i >= 0; i--)
					evbuffer_add_printf(b, "%.1f,%.1f ", xs[i], Y(lo[i]));
				evbuffer_add_printf(b, "\"/>");
			}
			evbuffer_add_printf(b, "<polyline fill=\"none\" stroke=\"#246\" stroke-width=\"1.5\" points=\"");
			for (int i = 0; i < n; i++)
				evbuffer_add_printf(b, "%.1f,%.1f ", xs[i], Y(mean[i]));
			/* the latest point, visible even when it is the only one */
			evbuffer_add_printf(b, "\"/><circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#246\"/>", xs[n - 1],
					    Y(mean[n - 1]));
		}
		evbuffer_add_printf(b, "<text x=\"4\" y=\"20\" font-size=\"16\">%.6g</text>"
				    "<text x=\"4\" y=\"%d\" font-size=\"16\">%.6g</text>", ymax, CHART_H - 12, ymin);
	} else {
		evbuffer_add_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"14\" text-anchor=\"middle\">", CHART_W / 2,
				    CHART_H / 2);
		html_esc(b, _("no data yet"));
		evbuffer_add_printf(b, "</text>");
	}
	evbuffer_add_printf(b, "<text x=\"2\" y=\"%d\" font-size=\"16\">", CHART_H + 14);
	html_esc(b, left);
	evbuffer_add_printf(b, "</text><text x=\"%d\" y=\"%d\" font-size=\"16\" text-anchor=\"end\">", CHART_W - 2,
			    CHART_H + 14);
	html_esc(b, right);
	evbuffer_add_printf(b, "</text></svg>");
#undef Y
}

/* The ward's charts over 24 h: the hourly figures (cached), plus "now"
 * from the devices' last values. */
static void ward_charts(struct page *p)
{
	struct gateway *gw = p->gw;
	double val[WC_N][WARD_HOURS + 1];
	int have[WC_N][WARD_HOURS + 1], present[WC_N] = { 0 };
	int64_t end = p->now - p->now % 3600000, from = end - (int64_t)WARD_HOURS * 3600000;
	size_t n;
	int any = 0;

	memset(val, 0, sizeof(val));
	memset(have, 0, sizeof(have));
	for (int c = 0; c < WC_N; c++) {
		double s = sum_last(gw, ward_metric[c], &n, NULL);
		present[c] = n > 0;
		any |= present[c];
		if (n && c != WC_ENERGY) {
			val[c][WARD_HOURS] = s;
			have[c][WARD_HOURS] = 1;
		}
	}
	if (!any)
		return;
	load_hourly(p);
	for (int c = 0; c < WC_N; c++)
		for (int h = 0; h < HOURS_KEPT; h++) {
			int64_t k = (p->cache->hour_base + (int64_t)h * 3600000 - from) / 3600000;
			if (p->cache->have[c][h] && k >= 0 && k < WARD_HOURS) {
				val[c][k] = p->cache->hourly[c][h];
				have[c][k] = 1;
			}
		}
	evbuffer_add_printf(p->b, "<h3>%s</h3><div class=\"charts\">", _("Last 24 hours"));
	for (int c = 0; c < WC_N; c++) {
		double xs[WARD_HOURS + 1], ys[WARD_HOURS + 1];
		int np = 0;
		const char *title[WC_N] = { _("Ward power (W, hourly mean)"), _("Ward energy (kWh per hour)"),
					    _("Lamps failed"), _("Clients on the hotspots") };
		char id[32];

		if (!present[c])
			continue;
		for (int h = 0; h <= WARD_HOURS; h++)
			if (have[c][h]) {
				xs[np] = ((double)h + (h < WARD_HOURS ? 0.5 : 0)) / WARD_HOURS * CHART_W;
				if (xs[np] > CHART_W - 3)
					xs[np] = CHART_W - 3;
				ys[np++] = val[c][h];
			}
		snprintf(id, sizeof(id), "ward-%s", ward_metric[c]);
		evbuffer_add_printf(p->b, "<figure><figcaption>%s</figcaption>", title[c]);
		svg_chart(p->b, id, xs, ys, NULL, NULL, np, c == WC_ENERGY, "-24h", _("now"));
		evbuffer_add_printf(p->b, "</figure>");
	}
	evbuffer_add_printf(p->b, "</div>");
}

/* --- what needs a person --- */

static void problems(struct page *p)
{
	struct gateway *gw = p->gw;
	size_t shown = 0, total = 0;

	evbuffer_add_printf(p->b, "<h3>%s</h3><div class=\"wrap\"><table id=\"problems\"><tr><th>%s</th><th>%s</th>"
			    "<th>%s</th><th>%s</th></tr>", _("Devices offline or degraded"), _("Device"), _("State"),
			    _("Since"), _("Why"));
	for (size_t i = 0; i < gw->ndevices; i++) {
		const struct device *d = &gw->devices[i];
		char s[40];
		if (d->state == DEV_ONLINE)
			continue;
		if (++total > MAX_PROBLEMS)
			continue;
		shown++;
		age(s, sizeof(s), d->changed_ms, p->now);
		evbuffer_add_printf(p->b, "<tr><td><a href=\"");
		href(p, "/device", "name", d->conf->name);
		evbuffer_add_printf(p->b, "\">");
		html_esc(p->b, d->conf->name);
		evbuffer_add_printf(p->b, "</a></td><td class=\"%s\">%s</td><td>%s</td><td class=\"small\">",
				    device_state_name(d->state), state_words(d->state), d->changed_ms ? s : "-");
		html_esc(p->b, d->reason[0] ? d->reason : "-");
		evbuffer_add_printf(p->b, "</td></tr>");
	}
	if (!total)
		evbuffer_add_printf(p->b, "<tr><td colspan=\"4\" class=\"ok\">%s</td></tr>", _("every device is online"));
	evbuffer_add_printf(p->b, "</table></div>");
	if (total > shown) {
		evbuffer_add_printf(p->b, "<p class=\"small\"><a href=\"");
		href(p, "/", "state", "problem");
		evbuffer_add_printf(p->b, "#devices\">");
		evbuffer_add_printf(p->b, _("all %zu in the device table"), total);
		evbuffer_add_printf(p->b, "</a></p>");
	}
}

static void alarms(struct page *p, const char *device)
{
	sqlite3_stmt *q;
	int n = 0;

	evbuffer_add_printf(p->b, "<h3>%s</h3><div class=\"wrap\"><table id=\"alarms\"><tr><th>%s</th><th>%s</th>"
			    "<th>%s</th><th>%s</th></tr>", _("Open alarms"), _("Device"), _("Alarm"), _("Age"),
			    _("Detail"));
	if (sqlite3_prepare_v2(store_db(p->gw->store), "SELECT device, alarm, raised, lamps, detail FROM alarm"
			       " WHERE cleared IS NULL AND (?1 IS NULL OR device = ?1) ORDER BY raised LIMIT ?2",
			       -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_text(q, 1, device, -1, SQLITE_STATIC);
		sqlite3_bind_int(q, 2, MAX_ALARMS);
		while (sqlite3_step(q) == SQLITE_ROW) {
			const char *dev = (const char *)sqlite3_column_text(q, 0);
			char a[40];
			age(a, sizeof(a), sqlite3_column_int64(q, 2), p->now);
			evbuffer_add_printf(p->b, "<tr><td><a href=\"");
			href(p, "/device", "name", dev ? dev : "");
			evbuffer_add_printf(p->b, "\">");
			html_esc(p->b, dev);
			/* the alarm's TALQ name is an interface name: kept as it is */
			evbuffer_add_printf(p->b, "</a></td><td class=\"behind\">");
			html_esc(p->b, (const char *)sqlite3_column_text(q, 1));
			evbuffer_add_printf(p->b, "</td><td>%s</td><td class=\"small\">", a);
			if (sqlite3_column_int(q, 3) > 0) {
				evbuffer_add_printf(p->b, ngettext("%d lamp", "%d lamps", sqlite3_column_int(q, 3)),
						    sqlite3_column_int(q, 3));
				evbuffer_add_printf(p->b, " ");
			}
			html_esc(p->b, (const char *)sqlite3_column_text(q, 4));
			evbuffer_add_printf(p->b, "</td></tr>");
			n++;
		}
		sqlite3_finalize(q);
	}
	if (!n)
		evbuffer_add_printf(p->b, "<tr><td colspan=\"4\" class=\"ok\">%s</td></tr>", _("no open alarms"));
	evbuffer_add_printf(p->b, "</table></div>");
}

static void events(struct page *p, const char *subject)
{
	sqlite3_stmt *q;
	int n = 0;

	evbuffer_add_printf(p->b, "<h3>%s</h3><div class=\"wrap\"><table id=\"events\"><tr><th>%s</th><th>%s</th>"
			    "<th>%s</th><th>%s</th></tr>", _("Last events"), _("Time"), _("Kind"), _("Subject"),
			    _("Detail"));
	if (sqlite3_prepare_v2(store_db(p->gw->store), "SELECT ts, kind, subject, substr(body, 1, 200) FROM event_log"
			       " WHERE ?1 IS NULL OR subject = ?1 ORDER BY id DESC LIMIT ?2", -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_text(q, 1, subject, -1, SQLITE_STATIC);
		sqlite3_bind_int(q, 2, MAX_EVENTS);
		while (sqlite3_step(q) == SQLITE_ROW) {
			char t[40];
			time_format(sqlite3_column_int64(q, 0), t, sizeof(t));
			evbuffer_add_printf(p->b, "<tr><td class=\"small\">%.19s</td><td>", t);
			html_esc(p->b, (const char *)sqlite3_column_text(q, 1));
			evbuffer_add_printf(p->b, "</td><td>");
			html_esc(p->b, (const char *)sqlite3_column_text(q, 2));
			evbuffer_add_printf(p->b, "</td><td class=\"small\">");
			html_esc(p->b, (const char *)sqlite3_column_text(q, 3));
			evbuffer_add_printf(p->b, "</td></tr>");
			n++;
		}
		sqlite3_finalize(q);
	}
	if (!n)
		evbuffer_add_printf(p->b, "<tr><td colspan=\"4\">%s</td></tr>", _("none stored"));
	evbuffer_add_printf(p->b, "</table></div>");
}

/* --- the device table --- */

static const char *first_group(const struct gw_config *cfg, const char *device)
{
	for (size_t g = 0; g < cfg->ngroups; g++)
		for (size_t i = 0; i < cfg->groups[g].ndevices; i++)
			if (!strcmp(cfg->groups[g].devices[i], device))
				return cfg->groups[g].name;
	return NULL;
}

static int in_group(const struct group_def *g, const char *device)
{
	for (size_t i = 0; i < g->ndevices; i++)
		if (!strcmp(g->devices[i], device))
			return 1;
	return 0;
}

/* state=all|problem|online|offline|degraded|unknown */
static int state_matches(const char *f, enum device_state s)
{
	if (!f[0] || !strcmp(f, "all"))
		return 1;
	if (!strcmp(f, "problem"))
		return s != DEV_ONLINE;
	return !strcmp(f, device_state_name(s));
}

static void device_table(struct page *p)
{
	struct gateway *gw = p->gw;
	static const char *const states[] = { "all", "problem", "online", "offline", "degraded", "unknown" };
	char st[16] = "", grp[128] = "", lang[8];
	const struct group_def *g = NULL;
	size_t shown = 0;
	int bad = 0;

	if (p->query) {
		int r = http_query_get(p->query, "state", st, sizeof(st));
		if (r == -ENOSPC || r == -EINVAL)
			st[0] = 0, bad = 1;
		r = http_query_get(p->query, "group", grp, sizeof(grp));
		if (r == -ENOSPC || r == -EINVAL)
			grp[0] = 0, bad = 1;
	}
	if (st[0]) {
		int known = 0;
		for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
			known |= !strcmp(st, states[i]);
		if (!known)
			st[0] = 0, bad = 1;
	}
	if (grp[0] && strcmp(grp, "all") && !(g = config_group(gw->cfg, grp)))
		bad = 1;
	evbuffer_add_printf(p->b, "<section id=\"device-list\"><h2>%s</h2>", _("Devices"));
	/* a plain GET form: filters work without JavaScript */
	evbuffer_add_printf(p->b, "<form method=\"get\" action=\"/#devices\"><label>%s <select name=\"state\">",
			    _("State"));
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		const char *words[] = { _("all"), _("needs a person"), _("online"), _("offline (no connection)"),
					_("degraded"), _("unknown") };
		evbuffer_add_printf(p->b, "<option value=\"%s\"%s>%s</option>", states[i],
				    !strcmp(st[0] ? st : "all", states[i]) ? " selected" : "", words[i]);
	}
	evbuffer_add_printf(p->b, "</select></label> <label>%s <select name=\"group\"><option value=\"all\">%s</option>",
			    _("Group"), _("all"));
	for (size_t i = 0; i < gw->cfg->ngroups; i++) {
		evbuffer_add_printf(p->b, "<option%s>", g == &gw->cfg->groups[i] ? " selected" : "");
		html_esc(p->b, gw->cfg->groups[i].name);
		evbuffer_add_printf(p->b, "</option>");
	}
	evbuffer_add_printf(p->b, "</select></label>");
	if (p->query && http_query_get(p->query, "lang", lang, sizeof(lang)) >= 0 &&
	    (!strcmp(lang, "vi") || !strcmp(lang, "en")))
		evbuffer_add_printf(p->b, "<input type=\"hidden\" name=\"lang\" value=\"%s\">", lang);
	if (p->token) {
		evbuffer_add_printf(p->b, "<input type=\"hidden\" name=\"token\" value=\"");
		html_esc(p->b, p->token);
		evbuffer_add_printf(p->b, "\">");
	}
	evbuffer_add_printf(p->b, " <button>%s</button></form>", _("Filter"));
	if (bad)
		evbuffer_add_printf(p->b, "<p class=\"behind\">%s</p>", _("unknown filter ignored"));
	evbuffer_add_printf(p->b, "<div class=\"wrap\"><table id=\"devices\"><tr><th>%s</th><th>%s</th><th>%s</th>"
			    "<th>%s</th><th>%s</th><th>%s</th></tr>", _("Device"), _("State"), _("Group"), _("Profile"),
			    _("Last reading"), _("Last error"));
	for (size_t i = 0; i < gw->ndevices; i++) {
		const struct device *d = &gw->devices[i];
		const char *dg;
		char a[40];

		if (!state_matches(st, d->state) || (g && !in_group(g, d->conf->name)))
			continue;
		shown++;
		dg = g ? g->name : first_group(gw->cfg, d->conf->name);
		age(a, sizeof(a), d->last_ok_ms, p->now);
		evbuffer_add_printf(p->b, "<tr><td><a href=\"");
		href(p, "/device", "name", d->conf->name);
		evbuffer_add_printf(p->b, "\">");
		html_esc(p->b, d->conf->name);
		evbuffer_add_printf(p->b, "</a></td><td class=\"%s\">%s</td><td>", device_state_name(d->state),
				    state_words(d->state));
		html_esc(p->b, dg ? dg : "-");
		evbuffer_add_printf(p->b, "</td><td>");
		html_esc(p->b, d->conf->profile->name);
		evbuffer_add_printf(p->b, "</td><td>%s</td><td class=\"why small\">", a);
		html_esc(p->b, d->state == DEV_ONLINE ? "" : d->reason);
		evbuffer_add_printf(p->b, "</td></tr>");
	}
	evbuffer_add_printf(p->b, "</table></div><p class=\"small\">");
	evbuffer_add_printf(p->b, _("%zu of %zu devices shown"), shown, gw->ndevices);
	evbuffer_add_printf(p->b, "</p></section>");
}

/* Sections of the ward page, in order. Another part of the ward joins the
 * page by adding its function here (the environment section, AQI and
 * flood, goes after the ward's own figures). */
struct kpi_rows {
	struct kpi_row *rows;
	size_t n;
};

static void section_ward(struct page *p, struct kpi_rows *k)
{
	evbuffer_add_printf(p->b, "<section id=\"ward\"><h2>%s</h2>", _("The ward"));
	red_flags(p, k->rows, k->n);
	tiles(p, k->rows, k->n);
	kpi_table(p, k->rows, k->n);
	ward_charts(p);
	evbuffer_add_printf(p->b, "</section>");
}

static void section_attention(struct page *p, struct kpi_rows *k)
{
	evbuffer_add_printf(p->b, "<section id=\"attention\"><h2>%s</h2>", _("Needs a person"));
	problems(p);
	alarms(p, NULL);
	events(p, NULL);
	evbuffer_add_printf(p->b, "</section>");
}

static void section_map(struct page *p, struct kpi_rows *k)
{
	map_section(p->gw, p->b, p->lang, p->token, p->query);
}

/* air quality (VN_AQI) and flood watch, when the config has them */
static void section_environment(struct page *p, struct kpi_rows *k)
{
	environment_html(p->gw->env, p->b);
}

static void section_devices(struct page *p, struct kpi_rows *k)
{
	device_table(p);
}

static void (*const sections[])(struct page *, struct kpi_rows *) = {
	section_ward,
	section_environment,
	section_attention,
	section_map,
	section_devices,
};

static void ward_page(struct page *p)
{
	struct kpi_rows k;

	k.rows = kpi_rows(p, &k.n);
	if (k.rows)
		qsort(k.rows, k.n, sizeof(*k.rows), cmp_kpi_row);
	else
		k.n = 0;
	head(p, p->gw->cfg->ward && *p->gw->cfg->ward ? p->gw->cfg->ward : p->gw->cfg->gateway_id);
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
		sections[i](p, &k);
	foot(p);
	free(k.rows);
}

/* --- a device's page --- */

/* One series over the chart span: 288 buckets (min, mean, max) from its
 * minute rollups (one primary-key lookup per minute) and, for the minutes
 * not rolled up yet, its raw samples. */

/* Raw samples after the rolled-up minutes, into the chart's buckets. */
struct chart_raw {
	int64_t from, bucket;
	double *amin, *amax, *asum;
	int64_t *acnt;
};

static int chart_raw_row(void *arg, int64_t ts, double v, int q)
{
	struct chart_raw *c = arg;
	int64_t k = (ts - c->from) / c->bucket;

	(void)q;
	if (k < 0 || k >= CHART_BUCKETS || !isfinite(v))
		return 0;
	if (!c->acnt[k] || v < c->amin[k]) c->amin[k] = v;
	if (!c->acnt[k] || v > c->amax[k]) c->amax[k] = v;
	c->asum[k] = (c->acnt[k] ? c->asum[k] : 0) + v;
	c->acnt[k]++;
	return 0;
}

static void device_chart(struct page *p, const struct device *dev, size_t reg, int64_t span)
{
	struct gateway *gw = p->gw;
	sqlite3 *db = store_db(gw->store);
	int64_t from = p->now - span, bucket = span / CHART_BUCKETS;
	int64_t roll_end = rollup_done(gw->rollup, TIER_MINUTE), from_m = from - from % 60000;
	double xs[CHART_BUCKETS], mean[CHART_BUCKETS], lo[CHART_BUCKETS], hi[CHART_BUCKETS];
	double amin[CHART_BUCKETS], amax[CHART_BUCKETS], asum[CHART_BUCKETS];
	int64_t acnt[CHART_BUCKETS] = { 0 };
	sqlite3_stmt *q;
	char id[48], left[24];
	int n = 0;

	if (roll_end > p->now)
		roll_end = p->now;
	if (roll_end > from_m &&
	    sqlite3_prepare_v2(db, "WITH RECURSIVE m(t) AS (SELECT ?2 UNION ALL SELECT t + 60000 FROM m WHERE t + 60000 < ?3)"
			       " SELECT r.start, r.count, r.min, r.max, r.sum FROM m CROSS JOIN rollup r"
			       " ON r.tier = 0 AND r.start = m.t AND r.series = ?1 WHERE r.count > 0", -1, &q, NULL) == SQLITE_OK) {
		int rows = 0;
		sqlite3_bind_int64(q, 1, dev->series[reg]);
		sqlite3_bind_int64(q, 2, from_m);
		sqlite3_bind_int64(q, 3, roll_end);
		while (sqlite3_step(q) == SQLITE_ROW) {
			int64_t t = sqlite3_column_int64(q, 0), c = sqlite3_column_int64(q, 1);
			double mn = sqlite3_column_double(q, 2), mx = sqlite3_column_double(q, 3), sm = sqlite3_column_double(q, 4);
			int64_t k = (t < from ? 0 : t - from) / bucket;
			rows++;
			if (k >= CHART_BUCKETS || !isfinite(mn) || !isfinite(mx) || !isfinite(sm))
				continue;
			if (!acnt[k] || mn < amin[k]) amin[k] = mn;
			if (!acnt[k] || mx > amax[k]) amax[k] = mx;
			asum[k] = (acnt[k] ? asum[k] : 0) + sm;
			acnt[k] += c;
		}
		sqlite3_finalize(q);
		/* no rollups at all (samples imported, or a fresh store): raw only */
		if (!rows)
			roll_end = from;
	} else {
		roll_end = from;
	}
	if (roll_end < from)
		roll_end = from;
	struct chart_raw cr = { from, bucket, amin, amax, asum, acnt };
	store_query_id(gw->store, dev->series[reg], roll_end, INT64_MAX, chart_raw_row, &cr);
	for (int k = 0; k < CHART_BUCKETS; k++) {
		if (!acnt[k])
			continue;
		xs[n] = ((double)k + 0.5) / CHART_BUCKETS * CHART_W;
		mean[n] = asum[k] / (double)acnt[k];
		lo[n] = amin[k];
		hi[n] = amax[k];
		n++;
	}
	snprintf(id, sizeof(id), "chart-%zu", reg);
	snprintf(left, sizeof(left), "-%lldh", (long long)(span / 3600000));
	svg_chart(p->b, id, xs, mean, lo, hi, n, 0, left, _("now"));
}

static void device_page(struct page *p)
{
	struct gateway *gw = p->gw;
	char name[128] = "", a[40], s[40];
	const struct device *d = NULL;
	const struct profile *pr;
	int64_t span = (int64_t)http_chart_hours(gw->cfg) * 3600000;
	const char *grp;

	if (p->query && http_query_get(p->query, "name", name, sizeof(name)) >= 0)
		for (size_t i = 0; i < gw->ndevices && !d; i++)
			if (!strcmp(gw->devices[i].conf->name, name))
				d = &gw->devices[i];
	if (!d) {
		head(p, _("No such device"));
		evbuffer_add_printf(p->b, "<p class=\"behind\">");
		evbuffer_add_printf(p->b, "%s ", _("No device has this name:"));
		html_esc(p->b, name);
		evbuffer_add_printf(p->b, "</p>");
		foot(p);
		return;
	}
	pr = d->conf->profile;
	head(p, d->conf->name);
	age(a, sizeof(a), d->last_ok_ms, p->now);
	age(s, sizeof(s), d->changed_ms, p->now);
	grp = first_group(gw->cfg, d->conf->name);
	evbuffer_add_printf(p->b, "<p><a href=\"");
	href(p, "/", NULL, NULL);
	evbuffer_add_printf(p->b, "\">&larr; %s</a></p><table id=\"facts\"><tr><th>%s</th><td class=\"%s\">%s",
			    _("Ward"), _("State"), device_state_name(d->state), state_words(d->state));
	evbuffer_add_printf(p->b, " <span class=\"small\">%s</span></td></tr><tr><th>%s</th><td class=\"small\">",
			    d->changed_ms ? s : "", _("Last error"));
	html_esc(p->b, d->reason[0] ? d->reason : "-");
	evbuffer_add_printf(p->b, "</td></tr><tr><th>%s</th><td>%s</td></tr><tr><th>%s</th><td>", _("Last reading"), a,
			    _("Driver, profile"));
	html_esc(p->b, d->conf->driver->name);
	evbuffer_add_printf(p->b, ", ");
	html_esc(p->b, pr->name);
	if (pr->description) {
		evbuffer_add_printf(p->b, " <span class=\"small\">(");
		html_esc(p->b, pr->description);
		evbuffer_add_printf(p->b, ")</span>");
	}
	evbuffer_add_printf(p->b, "</td></tr><tr><th>%s</th><td>", _("Group"));
	html_esc(p->b, grp ? grp : "-");
	evbuffer_add_printf(p->b, "</td></tr>");
	map_device_facts(d, p->b);
	evbuffer_add_printf(p->b, "</table>");

	evbuffer_add_printf(p->b, "<h2>%s</h2><div class=\"wrap\"><table id=\"values\"><tr><th>%s</th><th>%s</th>"
			    "<th>%s</th></tr>", _("Values now"), _("Metric"), _("Value"), _("Quality"));
	for (size_t k = 0; k < pr->nregs; k++) {
		char v[48] = "-";
		if (!isnan(d->last[k]))
			snprintf(v, sizeof(v), "%.6g", d->last[k]);
		evbuffer_add_printf(p->b, "<tr><td><a href=\"#m%zu\">", k);
		html_esc(p->b, pr->regs[k].metric);
		evbuffer_add_printf(p->b, "</a></td><td>%s ", v);
		html_esc(p->b, pr->regs[k].unit);
		evbuffer_add_printf(p->b, "</td><td>%s</td></tr>", quality_name(gateway_value_quality(d, k, p->now)));
	}
	evbuffer_add_printf(p->b, "</table></div><h2>");
	evbuffer_add_printf(p->b, _("Last %d hours"), http_chart_hours(gw->cfg));
	evbuffer_add_printf(p->b, "</h2><div class=\"charts\">");
	for (size_t k = 0; k < pr->nregs; k++) {
		evbuffer_add_printf(p->b, "<figure id=\"m%zu\"><figcaption>", k);
		html_esc(p->b, pr->regs[k].metric);
		if (pr->regs[k].unit) {
			evbuffer_add_printf(p->b, " (");
			html_esc(p->b, pr->regs[k].unit);
			evbuffer_add_printf(p->b, ")");
		}
		evbuffer_add_printf(p->b, "</figcaption>");
		device_chart(p, d, k, span);
		evbuffer_add_printf(p->b, "</figure>");
	}
	evbuffer_add_printf(p->b, "</div><p class=\"small\">%s</p>", _("band: min to max, line: mean"));
	alarms(p, d->conf->name);
	events(p, d->conf->name);
	foot(p);
}

int page_handles(const char *path)
{
	return !strcmp(path, "/") || !strcmp(path, "/device") || !strcmp(path, "/map.geojson");
}

struct page_cache *page_cache_new(void)
{
	struct page_cache *c = calloc(1, sizeof(*c));

	if (c)
		c->hour_done = -1;
	return c;
}

void page_cache_free(struct page_cache *c)
{
	if (!c)
		return;
	free(c->rows);
	free(c);
}

int page_render(struct gateway *gw, struct page_cache *c, const struct page_request *rq, struct evbuffer *b,
		struct page_reply *rp)
{
	struct page p = { .cache = c, .gw = gw, .b = b, .query = rq->query, .token = rq->token, .now = wall_ms() };
	char lang[8];

	rp->status = 200;
	rp->reason = "OK";
	rp->type = "text/html; charset=utf-8";
	if (!strcmp(rq->path, "/map.geojson")) {
		rp->type = "application/geo+json";
		rp->lang = NULL;
		return map_geojson(gw, b);
	}
	/* ?lang= (a link on the page) before Accept-Language before the process's */
	if (rq->query && http_query_get(rq->query, "lang", lang, sizeof(lang)) >= 0 &&
	    (!strcmp(lang, "vi") || !strcmp(lang, "en")))
		p.lang = !strcmp(lang, "vi") ? "vi" : "en";
	else
		p.lang = i18n_pick_lang(rq->accept_language, i18n_process_lang());
	rp->lang = p.lang;
	i18n_begin(p.lang);
	if (!strcmp(rq->path, "/device"))
		device_page(&p);
	else
		ward_page(&p);
	i18n_end();
	return 0;
}
