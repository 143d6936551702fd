/* The status page. Every request is answered on the loop from memory and a
 * few bounded SQLite reads (LIMITs on indexed ranges), so a page costs
 * milliseconds, not a poll slot. Everything put in HTML is escaped. */
#include "httpd.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "gateway.h"
#include "health.h"
#include "httpparse.h"
#include "kpi.h"
#include "log.h"
#include "outbox.h"
#include "publisher.h"
#include "rollup.h"
#include "status.h"
#include "store.h"
#include "timeparse.h"
#include "version.h"

#define MAX_QUERY 1024
#define CHART_W 600
#define CHART_H 180
#define CHART_BUCKETS 288
#define MAX_ROWS 300            /* device rows on the page (problems first) */

struct httpd {
	struct gateway *gw;
	struct evhttp *http;
	char host[64], listen[80];
	int port;
	char *token;
	char *user, *pass;
	uint64_t requests, refused;
};

/* A secret file must be the gateway's own: not readable by group or others. */
static int read_secret(const char *path, char **out)
{
	FILE *f = fopen(path, "r");
	char buf[256];
	size_t n;
	struct stat st;

	if (!f)
		return -errno;
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077)) {
		fclose(f);
		return -EPERM;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	buf[strcspn(buf, "\r\n")] = 0;
	if (!buf[0])
		return -ENODATA;
	return (*out = strdup(buf)) ? 0 : -ENOMEM;
}

static void esc(struct evbuffer *b, const char *s)
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

/* For links: percent-encode everything but unreserved characters. */
static void urlenc(struct evbuffer *b, const char *s)
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

static void age(char *buf, size_t n, int64_t then_ms, int64_t now_ms)
{
	int64_t s = (now_ms - then_ms) / 1000;

	if (then_ms <= 0)
		snprintf(buf, n, "never");
	else if (s < 120)
		snprintf(buf, n, "%llds ago", (long long)s);
	else if (s < 7200)
		snprintf(buf, n, "%lldm ago", (long long)(s / 60));
	else if (s < 172800)
		snprintf(buf, n, "%lldh ago", (long long)(s / 3600));
	else
		snprintf(buf, n, "%lldd ago", (long long)(s / 86400));
}

static void reply(struct evhttp_request *req, int code, const char *reason, const char *type,
		  struct evbuffer *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'");
	evhttp_send_reply(req, code, reason, body);
}

static void reply_text(struct evhttp_request *req, int code, const char *reason, const char *text)
{
	struct evbuffer *b = evbuffer_new();

	if (b)
		evbuffer_add_printf(b, "%s\n", text);
	reply(req, code, reason, "text/plain; charset=utf-8", b);
	if (b)
		evbuffer_free(b);
}

/* Token (Bearer or ?token=) or basic auth, as configured; nothing
 * configured: open (the config check allows that on loopback only). */
static int authorized(struct httpd *h, struct evhttp_request *req, const char *query, int *via_query)
{
	const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	char a[300], b[300];

	*via_query = 0;
	if (!h->token && !h->user)
		return 1;
	if (h->token && auth && http_bearer(auth, a, sizeof(a)) == 0 && http_secret_equal(a, h->token))
		return 1;
	if (h->token && query && http_query_get(query, "token", a, sizeof(a)) >= 0 &&
	    http_secret_equal(a, h->token)) {
		*via_query = 1;
		return 1;
	}
	if (h->user && auth && http_basic_auth(auth, a, sizeof(a), b, sizeof(b)) == 0 &&
	    http_secret_equal(a, h->user) & http_secret_equal(b, h->pass))
		return 1;
	return 0;
}

static const char css[] =
	"body{font:15px/1.4 system-ui,sans-serif;margin:0 auto;max-width:60em;padding:.5em;color:#222}"
	"h1{font-size:1.3em;margin:.2em 0}h2{font-size:1.1em;margin:1em 0 .3em}"
	".wrap{overflow-x:auto}table{border-collapse:collapse;width:100%}"
	"td,th{border-bottom:1px solid #ddd;padding:.25em .4em;text-align:left;vertical-align:top}"
	"th{background:#f3f3f3}.online,.ok{color:#060}.offline,.red_flag,.down{color:#b00;font-weight:bold}"
	".behind,.degraded,.unknown{color:#a60}.small{font-size:.85em;color:#555}"
	"svg{width:100%;height:auto;background:#fafafa;border:1px solid #ddd}"
	"select,button{font-size:1em;margin:.2em 0}";

static void page_header(struct httpd *h, struct evbuffer *b, int64_t now)
{
	struct gateway *gw = h->gw;
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
	time_format(now, t, sizeof(t));
	age(up, sizeof(up), gw->started_ms, now);
	evbuffer_add_printf(b, "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
			    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
			    "<title>wardgw ");
	esc(b, gw->cfg->gateway_id);
	evbuffer_add_printf(b, "</title><style>%s</style></head><body><h1>wardgw ", css);
	esc(b, gw->cfg->gateway_id);
	evbuffer_add_printf(b, "</h1><p class=\"small\">");
	esc(b, gw->cfg->ward);
	evbuffer_add_printf(b, " &middot; wardgw %s &middot; config %s &middot; started %s &middot; %s</p>",
			    WARDGW_VERSION, gw->cfg->digest, up, t);
	evbuffer_add_printf(b, "<p>Link <b class=\"%s\">%s</b> &middot; outbox %lld messages (%lld kB), "
			    "%llu dropped &middot; store <b class=\"%s\">%s</b>",
			    ps.connected ? "ok" : "down", ps.connected ? "up" : "down", (long long)os.rows,
			    (long long)(os.bytes / 1024), (unsigned long long)os.dropped,
			    failing ? "down" : "ok", failing ? "failing" : "ok");
	if (failing) {
		evbuffer_add_printf(b, " (");
		esc(b, why);
		evbuffer_add_printf(b, ")");
	}
	evbuffer_add_printf(b, " &middot; loop lag %.1f ms</p>", (double)hs.lag_us / 1000.0);
}

static void device_row(struct evbuffer *b, const struct device *d, int64_t now)
{
	const struct profile *p = d->conf->profile;
	char a[40], s[40];

	age(a, sizeof(a), d->last_ok_ms, now);
	age(s, sizeof(s), d->changed_ms, now);
	evbuffer_add_printf(b, "<tr><td>");
	esc(b, d->conf->name);
	evbuffer_add_printf(b, "<br><span class=\"small\">");
	esc(b, d->conf->driver->name);
	evbuffer_add_printf(b, " &middot; ");
	esc(b, p->name);
	evbuffer_add_printf(b, "</span></td><td class=\"%s\">%s<br><span class=\"small\">%s</span></td><td>%s</td><td>",
			    device_state_name(d->state), device_state_name(d->state), d->changed_ms ? s : "", a);
	evbuffer_add_printf(b, "<span class=\"small\">");
	for (size_t k = 0; k < p->nregs && k < 4; k++) {
		char v[48];
		if (isnan(d->last[k]))
			snprintf(v, sizeof(v), "-");
		else
			snprintf(v, sizeof(v), "%.6g", d->last[k]);
		esc(b, p->regs[k].metric);
		evbuffer_add_printf(b, " %s ", v);
		esc(b, p->regs[k].unit);
		evbuffer_add_printf(b, "<br>");
	}
	if (p->nregs > 4)
		evbuffer_add_printf(b, "(%zu more)", p->nregs - 4);
	evbuffer_add_printf(b, "</span></td><td class=\"small\">");
	esc(b, d->reason[0] ? d->reason : "-");
	evbuffer_add_printf(b, "</td></tr>");
}

/* Devices that are not online first (that is what a technician came
 * for), then the others, at most MAX_ROWS rows so a big ward's page stays
 * small and quick. */
static void page_devices(struct httpd *h, struct evbuffer *b, int64_t now)
{
	struct gateway *gw = h->gw;
	size_t online = 0, rows = 0;

	for (size_t i = 0; i < gw->ndevices; i++)
		online += gw->devices[i].state == DEV_ONLINE;
	evbuffer_add_printf(b, "<h2>Devices: %zu of %zu online</h2><div class=\"wrap\"><table id=\"devices\">"
			    "<tr><th>Device</th><th>State</th><th>Last reading</th><th>Values</th><th>Last error</th></tr>",
			    online, gw->ndevices);
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < gw->ndevices && rows < MAX_ROWS; i++)
			if ((gw->devices[i].state == DEV_ONLINE) == pass) {
				device_row(b, &gw->devices[i], now);
				rows++;
			}
	evbuffer_add_printf(b, "</table></div>");
	if (rows < gw->ndevices)
		evbuffer_add_printf(b, "<p class=\"small\">%zu more devices, all online, not listed "
				    "(<code>wardgw status</code> lists every one).</p>", gw->ndevices - rows);
}

static void page_kpis(struct httpd *h, struct evbuffer *b, int64_t now)
{
	struct gateway *gw = h->gw;
	sqlite3 *db = store_db(gw->store);
	sqlite3_stmt *q = NULL;
	/* the KPIs the engine computes: those of the config it started with
	 * (a reload defers KPI changes to the next restart) */
	const struct gw_config *kc = gw->nretired ? gw->retired[0] : gw->cfg;

	if (!kc->nkpis)
		return;
	evbuffer_add_printf(b, "<h2>KPIs</h2><div class=\"wrap\"><table id=\"kpis\"><tr><th>KPI</th><th>Window</th>"
			    "<th>Last window</th><th>Target</th><th>Status</th><th>Open window so far</th></tr>");
	if (sqlite3_prepare_v2(db, "SELECT start, value, status FROM kpi_value WHERE kpi = ?1 ORDER BY start DESC LIMIT 1",
			       -1, &q, NULL) != SQLITE_OK)
		q = NULL;
	for (size_t i = 0; i < kc->nkpis; i++) {
		const struct kpi_def *k = &kc->kpis[i];
		char val[48] = "no window closed yet", tgt[48] = "-", t[40] = "", open[64] = "-";
		struct kpi_result res;
		int64_t from = ward_window_start(now, k->window_ms);
		const char *status = "no_data";
		char stbuf[24];

		if (q) {
			sqlite3_reset(q);
			sqlite3_bind_text(q, 1, k->name, -1, SQLITE_STATIC);
			if (sqlite3_step(q) == SQLITE_ROW) {
				time_format(sqlite3_column_int64(q, 0), t, sizeof(t));
				if (sqlite3_column_type(q, 1) != SQLITE_NULL)
					snprintf(val, sizeof(val), "%.6g %s", sqlite3_column_double(q, 1), k->unit ? k->unit : "");
				else
					snprintf(val, sizeof(val), "no data");
				snprintf(stbuf, sizeof(stbuf), "%s", (const char *)sqlite3_column_text(q, 2));
				status = stbuf;
			}
		}
		if (k->op != OP_NONE)
			snprintf(tgt, sizeof(tgt), "%s %.6g", k->op == OP_GE ? "&ge;" : "&le;", k->target);
		evbuffer_add_printf(b, "<tr><td>");
		esc(b, k->name);
		evbuffer_add_printf(b, "<br><span class=\"small\">");
		esc(b, kpi_agg_name(k->agg));
		evbuffer_add_printf(b, " ");
		esc(b, k->metric);
		evbuffer_add_printf(b, "</span></td><td>");
		esc(b, k->window_str);
		evbuffer_add_printf(b, "<br><span class=\"small\">");
		esc(b, t);
		evbuffer_add_printf(b, "</span></td><td>");
		esc(b, val);
		/* tgt holds an entity we put there ourselves and a number */
		evbuffer_add_printf(b, "</td><td>%s</td><td class=\"", tgt);
		esc(b, status);
		evbuffer_add_printf(b, "\">%s", !strcmp(status, "red_flag") ? "&#9873; " : "");
		esc(b, status);
		/* the open window from the rollups so far (bounded by the window:
		 * at most a day of hourly or a window of minute rows) */
		if (kpi_compute(db, kc, k, kpi_tier(k), from, from + k->window_ms, &res) == 0) {
			const char *st = kpi_status(k, res.value, now);
			if (isfinite(res.value))
				snprintf(open, sizeof(open), "%.6g %s", res.value, k->unit ? k->unit : "");
			else
				snprintf(open, sizeof(open), "no data yet");
			evbuffer_add_printf(b, "</td><td>");
			esc(b, open);
			evbuffer_add_printf(b, "<br><span class=\"small %s\">", !strcmp(st, "red_flag") ? "red_flag" : "");
			esc(b, st);
			evbuffer_add_printf(b, "</span>");
		} else {
			evbuffer_add_printf(b, "</td><td>-");
		}
		evbuffer_add_printf(b, "</td></tr>");
	}
	sqlite3_finalize(q);
	evbuffer_add_printf(b, "</table></div>");
}

static void page_events(struct httpd *h, struct evbuffer *b)
{
	sqlite3_stmt *q;
	int n = 0;

	evbuffer_add_printf(b, "<h2>Recent events</h2><div class=\"wrap\"><table id=\"events\"><tr><th>Time</th>"
			    "<th>Kind</th><th>Subject</th><th>Detail</th></tr>");
	if (sqlite3_prepare_v2(store_db(h->gw->store), "SELECT ts, kind, subject, substr(body, 1, 300) FROM event_log"
			       " ORDER BY id DESC LIMIT 15", -1, &q, NULL) == SQLITE_OK) {
		while (sqlite3_step(q) == SQLITE_ROW) {
			char t[40];
			time_format(sqlite3_column_int64(q, 0), t, sizeof(t));
			evbuffer_add_printf(b, "<tr><td class=\"small\">%.19s</td><td>", t);
			esc(b, (const char *)sqlite3_column_text(q, 1));
			evbuffer_add_printf(b, "</td><td>");
			esc(b, (const char *)sqlite3_column_text(q, 2));
			evbuffer_add_printf(b, "</td><td class=\"small\">");
			esc(b, (const char *)sqlite3_column_text(q, 3));
			evbuffer_add_printf(b, "</td></tr>");
			n++;
		}
		sqlite3_finalize(q);
	}
	if (!n)
		evbuffer_add_printf(b, "<tr><td colspan=\"4\">none stored</td></tr>");
	evbuffer_add_printf(b, "</table></div>");
}

/* The chart: 288 buckets (min, mean, max) of one series, from its minute
 * rollups and, for the minutes not rolled up yet, its raw samples. */
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

static void page_chart(struct httpd *h, struct evbuffer *b, const char *query, int token_in_query,
		       int64_t now)
{
	struct gateway *gw = h->gw;
	char dname[128] = "", mname[128] = "", tok[300] = "";
	const struct device *dev = NULL;
	size_t reg = 0;
	int64_t span = (int64_t)gw->cfg->http_chart_hours * 3600000, from = now - span;
	int64_t bucket = span / CHART_BUCKETS;
	sqlite3_stmt *q;
	double xs[CHART_BUCKETS], mean[CHART_BUCKETS], lo[CHART_BUCKETS], hi[CHART_BUCKETS];
	double ymin = INFINITY, ymax = -INFINITY;
	int n = 0;

	if (!gw->ndevices)
		return;
	if (query && http_query_get(query, "device", dname, sizeof(dname)) >= 0) {
		for (size_t i = 0; i < gw->ndevices && !dev; i++)
			if (!strcmp(gw->devices[i].conf->name, dname))
				dev = &gw->devices[i];
	}
	if (!dev)
		dev = &gw->devices[0];
	if (query && http_query_get(query, "metric", mname, sizeof(mname)) >= 0)
		for (size_t k = 0; k < dev->conf->profile->nregs; k++)
			if (!strcmp(dev->conf->profile->regs[k].metric, mname))
				reg = k;
	if (token_in_query && query)
		http_query_get(query, "token", tok, sizeof(tok));
	const struct reg_def *r = &dev->conf->profile->regs[reg];

	evbuffer_add_printf(b, "<h2>Last %d hours: ", gw->cfg->http_chart_hours);
	esc(b, dev->conf->name);
	evbuffer_add_printf(b, " ");
	esc(b, r->metric);
	evbuffer_add_printf(b, "</h2><form method=\"get\" action=\"/\">");
	if (tok[0]) {
		evbuffer_add_printf(b, "<input type=\"hidden\" name=\"token\" value=\"");
		esc(b, tok);
		evbuffer_add_printf(b, "\">");
	}
	if (gw->ndevices > MAX_ROWS) {
		/* a list of thousands of options would outweigh the page */
		evbuffer_add_printf(b, "<input name=\"device\" size=\"16\" value=\"");
		esc(b, dev->conf->name);
		evbuffer_add_printf(b, "\">");
	} else {
		evbuffer_add_printf(b, "<select name=\"device\">");
		for (size_t i = 0; i < gw->ndevices; i++) {
			evbuffer_add_printf(b, "<option%s>", &gw->devices[i] == dev ? " selected" : "");
			esc(b, gw->devices[i].conf->name);
			evbuffer_add_printf(b, "</option>");
		}
		evbuffer_add_printf(b, "</select>");
	}
	evbuffer_add_printf(b, " <select name=\"metric\">");
	for (size_t k = 0; k < dev->conf->profile->nregs; k++) {
		evbuffer_add_printf(b, "<option%s>", k == reg ? " selected" : "");
		esc(b, dev->conf->profile->regs[k].metric);
		evbuffer_add_printf(b, "</option>");
	}
	evbuffer_add_printf(b, "</select> <button>Show</button></form>");

	/* minutes already rolled up: one primary-key lookup per minute (1,440
	 * for a day, whatever the poll rate); the minutes after: raw samples */
	int64_t roll_end = rollup_done(gw->rollup, TIER_MINUTE), from_m = from - from % 60000;
	double amin[CHART_BUCKETS], amax[CHART_BUCKETS], asum[CHART_BUCKETS];
	int64_t acnt[CHART_BUCKETS] = { 0 };
	sqlite3 *db = store_db(gw->store);

	if (roll_end > now)
		roll_end = now;
	if (roll_end > from_m &&
	    sqlite3_prepare_v2(db, "WITH RECURSIVE m(t) AS (SELECT ?2 UNION ALL SELECT t + 60000 FROM m WHERE t + 60000 < ?3)"
			       " SELECT r.start, r.count, r.min, r.max, r.sum FROM m CROSS JOIN rollup r"
			       " ON r.tier = 0 AND r.start = m.t AND r.series = ?1 WHERE r.count > 0", -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(q, 1, dev->series[reg]);
		sqlite3_bind_int64(q, 2, from_m);
		sqlite3_bind_int64(q, 3, roll_end);
		int rows = 0;
		while (sqlite3_step(q) == SQLITE_ROW) {
			int64_t t = sqlite3_column_int64(q, 0), c = sqlite3_column_int64(q, 1);
			rows++;
			double mn = sqlite3_column_double(q, 2), mx = sqlite3_column_double(q, 3), sm = sqlite3_column_double(q, 4);
			int64_t k = (t < from ? 0 : t - from) / bucket;
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
		if (lo[n] < ymin) ymin = lo[n];
		if (hi[n] > ymax) ymax = hi[n];
		n++;
	}
	if (ymin == ymax) {
		ymin -= 1;
		ymax += 1;
	}
	/* a 10 px margin above and below the data */
#define Y(v) (10.0 + (ymax - (v)) / (ymax - ymin) * (CHART_H - 20))
	evbuffer_add_printf(b, "<svg id=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
			    "role=\"img\" aria-label=\"chart\">", CHART_W, CHART_H + 20);
	for (int g = 0; g <= 4; g++)
		evbuffer_add_printf(b, "<line x1=\"0\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>",
				    CHART_W, 10.0 + g * (CHART_H - 20) / 4.0, 10.0 + g * (CHART_H - 20) / 4.0);
	if (n > 0) {
		evbuffer_add_printf(b, "<polygon fill=\"#cde\" stroke=\"none\" points=\"");
		for (int i = 0; i < n; i++)
			evbuffer_add_printf(b, "%.1f,%.1f ", xs[i], Y(hi[i]));
		for (int i = n - 1; i >= 0; i--)
			evbuffer_add_printf(b, "%.1f,%.1f ", xs[i], Y(lo[i]));
		evbuffer_add_printf(b, "\"/><polyline fill=\"none\" stroke=\"#246\" stroke-width=\"1.5\" points=\"");
		for (int i = 0; i < n; i++)
			evbuffer_add_printf(b, "%.1f,%.1f ", xs[i], Y(mean[i]));
		/* the latest point, visible even when it is the only one */
		evbuffer_add_printf(b, "\"/><circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#246\"/>", xs[n - 1],
				    Y(mean[n - 1]));
		evbuffer_add_printf(b, "<text x=\"4\" y=\"20\" font-size=\"11\">%.6g</text>"
				    "<text x=\"4\" y=\"%d\" font-size=\"11\">%.6g</text>", ymax, CHART_H - 12, ymin);
	} else {
		evbuffer_add_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"14\" text-anchor=\"middle\">no samples yet</text>",
				    CHART_W / 2, CHART_H / 2);
	}
	evbuffer_add_printf(b, "<text x=\"2\" y=\"%d\" font-size=\"11\">-%dh</text>"
			    "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">-%dh</text>"
			    "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">now</text></svg>",
			    CHART_H + 14, gw->cfg->http_chart_hours, CHART_W / 2, CHART_H + 14,
			    gw->cfg->http_chart_hours / 2, CHART_W - 2, CHART_H + 14);
#undef Y
	evbuffer_add_printf(b, "<p class=\"small\">%d points of %lld min (band: min..max, line: mean), ",
			    n, (long long)(bucket / 60000));
	esc(b, r->unit ? r->unit : "no unit");
	evbuffer_add_printf(b, ". <a href=\"/metrics");
	if (tok[0]) {
		evbuffer_add_printf(b, "?token=");
		urlenc(b, tok);
	}
	evbuffer_add_printf(b, "\">/metrics</a></p>");
}

static void serve_page(struct httpd *h, struct evhttp_request *req, const char *query, int token_in_query)
{
	struct evbuffer *b = evbuffer_new();
	int64_t t0 = mono_us(), now = wall_ms();
	char timing[64];

	if (!b) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	page_header(h, b, now);
	page_devices(h, b, now);
	page_kpis(h, b, now);
	page_chart(h, b, query, token_in_query, now);
	page_events(h, b);
	evbuffer_add_printf(b, "</body></html>\n");
	snprintf(timing, sizeof(timing), "render;dur=%.2f", (double)(mono_us() - t0) / 1000.0);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Server-Timing", timing);
	reply(req, 200, "OK", "text/html; charset=utf-8", b);
	evbuffer_free(b);
}

static void serve_healthz(struct httpd *h, struct evhttp_request *req)
{
	struct health_stats hs;
	const char *why = "";
	sqlite3_stmt *q;
	int db_ok = 0;

	health_get(h->gw->health, &hs);
	/* the store answers a read, and its last commit worked */
	if (sqlite3_prepare_v2(store_db(h->gw->store), "SELECT count(*) FROM meta", -1, &q, NULL) == SQLITE_OK) {
		db_ok = sqlite3_step(q) == SQLITE_ROW;
		sqlite3_finalize(q);
	}
	if (!db_ok || store_failing(h->gw->store, &why))
		reply_text(req, 503, "Service Unavailable", db_ok ? "store failing" : "store unreadable");
	else if (mono_us() - hs.last_tick_us > 5000000 || hs.lag_us > 5000000)
		reply_text(req, 503, "Service Unavailable", "loop stalled");
	else
		reply_text(req, 200, "OK", "ok");
}

static void serve_blob(struct evhttp_request *req, char *text, const char *type)
{
	struct evbuffer *b = evbuffer_new();

	if (!text || !b) {
		free(text);
		if (b)
			evbuffer_free(b);
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	evbuffer_add(b, text, strlen(text));
	free(text);
	reply(req, 200, "OK", type, b);
	evbuffer_free(b);
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct httpd *h = arg;
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *path = u ? evhttp_uri_get_path(u) : NULL, *query = u ? evhttp_uri_get_query(u) : NULL;
	int via_query;

	h->requests++;
	if (!path || !*path)
		path = "/";
	if (query && strlen(query) > MAX_QUERY) {
		reply_text(req, 414, "URI Too Long", "query string too long");
		return;
	}
	if (!strcmp(path, "/healthz")) {
		serve_healthz(h, req);
		return;
	}
	if (!authorized(h, req, query, &via_query)) {
		h->refused++;
		evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
				  h->user ? "Basic realm=\"wardgw\", charset=\"UTF-8\"" : "Bearer realm=\"wardgw\"");
		reply_text(req, 401, "Unauthorized", "authorization required");
		return;
	}
	if (!strcmp(path, "/"))
		serve_page(h, req, query, via_query);
	else if (!strcmp(path, "/metrics"))
		serve_blob(req, status_metrics(h->gw), "text/plain; version=0.0.4; charset=utf-8");
	else if (!strcmp(path, "/status.json"))
		serve_blob(req, status_json(h->gw), "application/json");
	else
		reply_text(req, 404, "Not Found", "not found: try /, /metrics, /healthz, /status.json");
}

int httpd_prepare(struct httpd **out, struct gateway *gw, const struct gw_config *c)
{
	struct httpd *h = calloc(1, sizeof(*h));
	const char *why, *file = NULL;
	int loopback, ret;

	*out = NULL;
	if (!h)
		return -ENOMEM;
	h->gw = gw;
	if (http_parse_listen(c->http_listen, h->host, sizeof(h->host), &h->port, &loopback, &why) < 0) {
		ret = log_error(-EINVAL, "http: %s (got '%s')", why, c->http_listen);
		goto fail;
	}
	snprintf(h->listen, sizeof(h->listen), "%s", c->http_listen);
	if ((c->http_token_file && (ret = read_secret(file = c->http_token_file, &h->token)) < 0) ||
	    (c->http_password_file && (ret = read_secret(file = c->http_password_file, &h->pass)) < 0)) {
		if (ret == -EPERM)
			log_err("http: %s is readable by group or others; chmod 600 it (owner: the gateway's user)", file);
		else
			log_err("http: cannot read %s: %s", file, ret == -ENODATA ? "empty" : strerror(-ret));
		goto fail;
	}
	if (c->http_user && !(h->user = strdup(c->http_user))) {
		ret = -ENOMEM;
		goto fail;
	}
	if (!(h->http = evhttp_new(gw->base))) {
		ret = -ENOMEM;
		goto fail;
	}
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(h->http, 8192);
	evhttp_set_max_body_size(h->http, 1024);
	evhttp_set_timeout(h->http, 10);
	evhttp_set_gencb(h->http, on_request, h);
	*out = h;
	return 0;
fail:
	httpd_free(h);
	return ret;
}

int httpd_listen(struct httpd *h)
{
	if (!evhttp_bind_socket_with_handle(h->http, h->host, (ev_uint16_t)h->port))
		return log_error(-EADDRINUSE, "http: cannot listen on %s: %s", h->listen, strerror(errno));
	log_info("http: status page on http://%s/%s", h->listen,
		 h->token ? " (token required)" : h->user ? " (basic auth)" : "");
	return 0;
}

int httpd_same_address(const struct httpd *h, const struct gw_config *c)
{
	char host[64];
	const char *why;
	int port, lb;

	return h && c->http_listen && http_parse_listen(c->http_listen, host, sizeof(host), &port, &lb, &why) == 0 &&
	       !strcmp(host, h->host) && port == h->port;
}

int httpd_new(struct httpd **out, struct gateway *gw)
{
	struct httpd *h;
	int ret;

	*out = NULL;
	if ((ret = httpd_prepare(&h, gw, gw->cfg)) < 0)
		return ret;
	if ((ret = httpd_listen(h)) < 0) {
		httpd_free(h);
		return ret;
	}
	*out = h;
	return 0;
}

void httpd_free(struct httpd *h)
{
	if (!h)
		return;
	if (h->http)
		evhttp_free(h->http);
	free(h->token);
	free(h->user);
	free(h->pass);
	free(h);
}
