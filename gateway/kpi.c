/* KPI windows and events, computed and queued inside the store's flush
 * transaction so that a KPI value, its sequence number and the message that
 * carries it to the IOC are committed together or not at all. */
#include "kpi.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "outbox.h"
#include "rollup.h"
#include "senml.h"
#include "service.h"
#include "store.h"

struct kstate {
	const struct kpi_def *d;
	int saved;                  /* kpi.<name>.done is in the store */
	int64_t done, tx_done;
	int64_t seq, tx_seq;
	char status[12], tx_status[12];
	char *topic;
};

struct pend_log {
	char *device, *state, *reason;
	int64_t ts;
};

struct pend_event {
	char *kind, *subject, *body;
	int64_t ts;
};

struct kpi_engine {
	const struct gw_config *cfg;
	struct store *st;
	sqlite3 *db;
	struct rollup *r;
	struct outbox *ob;
	struct kstate *k;
	size_t nk;
	struct pend_log *logs;
	size_t nlogs, cap_logs;
	struct pend_event *evs;
	size_t nevs, cap_evs;
	int64_t event_seq, tx_event_seq;
	int64_t alive_ms, tx_alive_ms;  /* last sign of life written (meta gateway_alive) */
	sqlite3_stmt *ins_val, *ins_log, *ins_event;
};

/* The last sign of life is rewritten at most this often while committing,
 * and an idle gateway commits for it at least this often: after a crash the
 * gateway's downtime is known to within about a second (five when idle). */
#define ALIVE_EVERY_MS 1000
#define ALIVE_IDLE_MS 5000
/* Catching up closes windows on the loop thread: at most 500 per KPI and
 * about this much time per flush (each KPI closes at least one), so that
 * a day of one-minute windows after a wall clock step forward, or a long
 * outage, does not hold the loop past the rollup grace and make the polls
 * in flight late. */
#define CATCH_UP_US 500000

const char *kpi_status(const struct kpi_def *k, double v, int64_t at_ms)
{
	int met;

	if (k->op == OP_NONE)
		return "none";
	if (isnan(v))
		return "no_data";
	met = k->op == OP_GE ? v >= k->target : v <= k->target;
	if (met)
		return "ok";
	if (k->deadline_ms && at_ms > k->deadline_ms)
		return "red_flag";
	if (k->has_baseline && k->deadline_ms > k->start_ms && k->target != k->baseline) {
		/* the plan's straight path from baseline (on start) to target (on
		 * the deadline): less than half of the way expected by now is a
		 * red flag */
		double due = (double)(at_ms - k->start_ms) / (double)(k->deadline_ms - k->start_ms);
		double done = (v - k->baseline) / (k->target - k->baseline);
		if (due < 0)
			due = 0;
		if (due > 1)
			due = 1;
		if (done < 0.5 * due)
			return "red_flag";
	}
	return "behind";
}

int kpi_tier(const struct kpi_def *k)
{
	return k->window_ms % 3600000 == 0 ? TIER_HOUR : TIER_MINUTE;
}

static int in_scope(const struct gw_config *cfg, const struct kpi_def *k, const char *device)
{
	if (!config_device(cfg, device))
		return 0;
	if (k->device)
		return !strcmp(k->device, device);
	if (k->group) {
		const struct group_def *g = config_group(cfg, k->group);
		for (size_t i = 0; g && i < g->ndevices; i++)
			if (!strcmp(g->devices[i], device))
				return 1;
		return 0;
	}
	return 1;
}

/* Time online and time known (online or offline) of @device within
 * [from, to), from its state log; while the gateway was not running the
 * state is unknown and counts for neither. */
static int online_ms(sqlite3 *db, const char *device, int64_t from, int64_t to, int64_t *out, int64_t *known)
{
	sqlite3_stmt *st;
	/* rows of one time in the order they were written: a restart's marker
	 * can share its time with the last row of the run before */
	const char *sql = "SELECT ts, state, r FROM (SELECT ts, state, rowid r FROM device_log WHERE device = ?1"
			  " AND ts < ?2 ORDER BY ts DESC, rowid DESC LIMIT 1) UNION ALL SELECT ts, state, rowid"
			  " FROM device_log WHERE device = ?1 AND ts >= ?2 AND ts < ?3 ORDER BY 1, 3";
	int64_t t = from, sum = 0, kn = 0;
	int on = 0, off = 0, rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, from);
	sqlite3_bind_int64(st, 3, to);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t ts = sqlite3_column_int64(st, 0);
		const char *s = (const char *)sqlite3_column_text(st, 1);
		if (ts < from)
			ts = from;
		if (on)
			sum += ts - t;
		if (on || off)
			kn += ts - t;
		t = ts;
		/* a degraded device answers: it counts as available */
		on = s && (!strcmp(s, "online") || !strcmp(s, "degraded"));
		off = s && !strcmp(s, "offline");
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return -EIO;
	if (on)
		sum += to - t;
	if (on || off)
		kn += to - t;
	*out = sum;
	*known = kn;
	return 0;
}

int64_t kpi_covered_ms(sqlite3 *db, int64_t from, int64_t to)
{
	sqlite3_stmt *st;
	int64_t on = 0, known = 0;
	int any = 0;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM device_log WHERE device = ?1 AND ts < ?2 LIMIT 1", -1, &st,
			       NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, KPI_GATEWAY_LOG, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, to);
	any = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	if (!any || online_ms(db, KPI_GATEWAY_LOG, from, to, &on, &known) < 0)
		return -1;
	return on;
}

int kpi_compute(sqlite3 *db, const struct gw_config *cfg, const struct kpi_def *k, int tier,
		int64_t from, int64_t to, struct kpi_result *out)
{
	sqlite3_stmt *st;
	int rc;

	out->value = NAN;
	out->n = 0;
	/* of an open window, the part that is past */
	int64_t now = wall_ms();
	out->covered_ms = kpi_covered_ms(db, from, to < now ? to : now > from ? now : from);
	/* an aggregate a service computes (coverage) */
	for (const struct service_ops *const *sv = services; *sv; sv++)
		if ((*sv)->kpi_compute && (*sv)->kpi_agg == (int)k->agg)
			return (*sv)->kpi_compute(db, cfg, k, to, out);
	if (k->agg == AGG_AVAILABILITY) {
		int64_t on = 0, total = 0;
		for (size_t i = 0; i < cfg->ndevices; i++) {
			int64_t ms, known;
			if (!in_scope(cfg, k, cfg->devices[i].name))
				continue;
			if (online_ms(db, cfg->devices[i].name, from, to, &ms, &known) < 0)
				return -EIO;
			on += ms;
			total += known;
			out->n += known > 0;
		}
		if (total)
			out->value = (double)on / (double)total * k->scale;
		return 0;
	}
	if (k->agg == AGG_MTTR) {
		/* alarms of that kind cleared in the window; a lamp alarm counts
		 * once per lamp it affected */
		double wsum = 0, w = 0;
		if (sqlite3_prepare_v2(db, "SELECT device, raised, cleared, lamps FROM alarm WHERE alarm = ?1"
				       " AND cleared >= ?2 AND cleared < ?3", -1, &st, NULL) != SQLITE_OK)
			return -EIO;
		sqlite3_bind_text(st, 1, k->metric, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, from);
		sqlite3_bind_int64(st, 3, to);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *device = (const char *)sqlite3_column_text(st, 0);
			int lamps = sqlite3_column_int(st, 3);
			if (!device || !in_scope(cfg, k, device))
				continue;
			double dur = (double)(sqlite3_column_int64(st, 2) - sqlite3_column_int64(st, 1)) / 1000.0;
			wsum += dur * (lamps > 0 ? lamps : 1);
			w += lamps > 0 ? lamps : 1;
			out->n++;
		}
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return -EIO;
		if (w > 0)
			out->value = wsum / w * k->scale;
		return 0;
	}
	if (sqlite3_prepare_v2(db, "SELECT r.series, m.name, d.name, r.count, r.min, r.max, r.sum, r.last, r.delta"
			       " FROM rollup r JOIN metric m ON m.id = r.series JOIN device d ON d.id = m.device_id"
			       " WHERE r.tier = ? AND r.start >= ? AND r.start < ? AND m.name IN (?, ?)"
			       " ORDER BY r.series, r.start", -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int(st, 1, tier);
	sqlite3_bind_int64(st, 2, from);
	sqlite3_bind_int64(st, 3, to);
	sqlite3_bind_text(st, 4, k->metric, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, k->denominator ? k->denominator : k->metric, -1, SQLITE_STATIC);

	/* per series: count, sum, last; across series: the aggregate */
	int64_t cur = -1, n = 0, cnt = 0;
	double ssum = 0, last = NAN, num = 0, den = 0, total = 0, total_sum = 0, mn = INFINITY, mx = -INFINITY;
	double delta = 0, den_delta = 0;
	int is_den = 0, any = 0;
	for (;;) {
		rc = sqlite3_step(st);
		int64_t series = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -2;
		if (series != cur && cur != -1 && cnt > 0) {
			/* close the previous series */
			double mean = ssum / (double)cnt;
			if (k->agg == AGG_RATIO) {
				if (is_den)
					den += mean;
				else
					num += mean;
			} else if (k->agg == AGG_SUM) {
				total += mean;
			} else if (k->agg == AGG_LAST) {
				total += last;
			}
			any = 1;
		}
		if (rc != SQLITE_ROW)
			break;
		if (series != cur) {
			cur = series;
			cnt = 0;
			ssum = 0;
			last = NAN;
		}
		const char *metric = (const char *)sqlite3_column_text(st, 1);
		const char *device = (const char *)sqlite3_column_text(st, 2);
		if (!metric || !device || !in_scope(cfg, k, device))
			continue;
		is_den = k->denominator && !strcmp(metric, k->denominator) && strcmp(metric, k->metric);
		int64_t c = sqlite3_column_int64(st, 3);
		cnt += c;
		ssum += sqlite3_column_double(st, 6);
		last = sqlite3_column_double(st, 7);
		if (is_den) {
			if (sqlite3_column_type(st, 8) != SQLITE_NULL)
				den_delta += sqlite3_column_double(st, 8);
			continue;
		}
		n += c;
		total_sum += sqlite3_column_double(st, 6);
		if (sqlite3_column_double(st, 4) < mn)
			mn = sqlite3_column_double(st, 4);
		if (sqlite3_column_double(st, 5) > mx)
			mx = sqlite3_column_double(st, 5);
		if (sqlite3_column_type(st, 8) != SQLITE_NULL)
			delta += sqlite3_column_double(st, 8);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return -EIO;
	out->n = n;
	if (!n || !any)
		return 0;
	switch (k->agg) {
	case AGG_SUM:
	case AGG_LAST: out->value = total; break;
	case AGG_MEAN: out->value = total_sum / (double)n; break;
	case AGG_MIN: out->value = mn; break;
	case AGG_MAX: out->value = mx; break;
	case AGG_DELTA: out->value = delta; break;
	case AGG_RATIO: out->value = den > 0 ? num / den : NAN; break;
	case AGG_SAVINGS: out->value = den_delta > 0 ? 1.0 - delta / den_delta : NAN; break;
	case AGG_DELTA_RATIO: out->value = den_delta > 0 ? delta / den_delta : NAN; break;
	case AGG_AVAILABILITY:
	case AGG_COVERAGE:
	case AGG_MTTR: break;
	}
	out->value *= k->scale;
	return 0;
}

/* --- the engine --- */

static int fail(struct kpi_engine *e, const char *what)
{
	log_err("kpi: %s: %s", what, sqlite3_errmsg(e->db));
	return store_errno(e->st);
}

static void add_rec(json_t *a, const char *name, const char *suffix, const char *unit, double v, const char *vs)
{
	char n[160];
	json_t *o = json_object();

	snprintf(n, sizeof(n), "%s%s", name, suffix);
	json_object_set_new(o, "n", json_string(n));
	if (unit)
		json_object_set_new(o, "u", json_string(unit));
	if (vs)
		json_object_set_new(o, "vs", json_string(vs));
	else
		json_object_set_new(o, "v", json_real(v));
	json_array_append_new(a, o);
}

/* The SenML pack of one KPI window. */
static char *kpi_pack(const struct gw_config *cfg, const struct kpi_def *k, int64_t from, int64_t to,
		      int64_t seq, const struct kpi_result *res, const char *status)
{
	json_t *a = json_array(), *base = json_object();
	char bn[160];
	char *out;

	snprintf(bn, sizeof(bn), "urn:dev:wardgw:%s:kpi:", cfg->gateway_id);
	json_object_set_new(base, "bn", json_string(bn));
	json_object_set_new(base, "bt", json_real((double)to / 1000.0));
	if (senml_secondary_unit(k->unit))
		json_object_set_new(base, "bver", json_integer(26));
	json_object_set_new(base, "n", json_string(k->name));
	if (k->unit)
		json_object_set_new(base, "u", json_string(k->unit));
	if (isfinite(res->value))
		json_object_set_new(base, "v", json_real(res->value));
	else
		json_object_set_new(base, "vs", json_string("no_data"));
	json_array_append_new(a, base);
	add_rec(a, k->name, "/seq", "count", (double)seq, NULL);
	add_rec(a, k->name, "/start", "s", (double)from / 1000.0, NULL);
	add_rec(a, k->name, "/end", "s", (double)to / 1000.0, NULL);
	add_rec(a, k->name, "/n", "count", (double)res->n, NULL);
	/* how much of the window the gateway saw: a window it was partly
	 * off for is still computed, from what it stored */
	if (res->covered_ms >= 0)
		add_rec(a, k->name, "/covered", "s", (double)res->covered_ms / 1000.0, NULL);
	if (k->op != OP_NONE) {
		add_rec(a, k->name, "/target", k->unit, k->target, NULL);
		add_rec(a, k->name, "/op", NULL, 0, k->op == OP_GE ? ">=" : "<=");
		if (k->deadline_ms)
			add_rec(a, k->name, "/deadline", "s", (double)k->deadline_ms / 1000.0, NULL);
	}
	add_rec(a, k->name, "/status", NULL, 0, status);
	out = json_dumps(a, JSON_COMPACT | JSON_REAL_PRECISION(12));
	json_decref(a);
	return out;
}

static int write_event(struct kpi_engine *e, const char *kind, const char *subject, const char *body,
		       int64_t ts)
{
	char topic[256], *msg = NULL;
	int rc;

	e->tx_event_seq++;
	if (asprintf(&msg, "{\"seq\":%lld,%s", (long long)e->tx_event_seq, body[0] == '{' ? body + 1 : "}") < 0)
		return -ENOMEM;
	sqlite3_reset(e->ins_event);
	sqlite3_bind_int64(e->ins_event, 1, ts);
	sqlite3_bind_text(e->ins_event, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(e->ins_event, 3, subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(e->ins_event, 4, msg, -1, SQLITE_STATIC);
	rc = sqlite3_step(e->ins_event);
	sqlite3_reset(e->ins_event);
	if (rc != SQLITE_DONE) {
		free(msg);
		return fail(e, "write event");
	}
	snprintf(topic, sizeof(topic), "%s/%s/event/%s", e->cfg->topic_prefix, e->cfg->gateway_id, kind);
	rc = e->ob ? outbox_add_tx(e->ob, LANE_PRIORITY, topic, msg, strlen(msg), ts) : 0;
	free(msg);
	return rc < 0 ? -EIO : 0;
}

static int close_window(struct kpi_engine *e, struct kstate *s, int64_t from, int64_t to)
{
	const struct kpi_def *k = s->d;
	struct kpi_result res;
	const char *status;
	char *pack;
	int rc;

	if (kpi_compute(e->db, e->cfg, k, kpi_tier(k), from, to, &res) < 0)
		return fail(e, "compute");
	status = kpi_status(k, res.value, to);
	s->tx_seq++;
	sqlite3_reset(e->ins_val);
	sqlite3_bind_text(e->ins_val, 1, k->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(e->ins_val, 2, from);
	sqlite3_bind_int64(e->ins_val, 3, to);
	sqlite3_bind_int64(e->ins_val, 4, s->tx_seq);
	if (isfinite(res.value))
		sqlite3_bind_double(e->ins_val, 5, res.value);
	else
		sqlite3_bind_null(e->ins_val, 5);
	sqlite3_bind_int64(e->ins_val, 6, res.n);
	if (k->op != OP_NONE) {
		sqlite3_bind_double(e->ins_val, 7, k->target);
		sqlite3_bind_text(e->ins_val, 8, k->op == OP_GE ? ">=" : "<=", -1, SQLITE_STATIC);
	} else {
		sqlite3_bind_null(e->ins_val, 7);
		sqlite3_bind_null(e->ins_val, 8);
	}
	sqlite3_bind_text(e->ins_val, 9, status, -1, SQLITE_STATIC);
	rc = sqlite3_step(e->ins_val);
	sqlite3_reset(e->ins_val);
	if (rc != SQLITE_DONE)
		return fail(e, "write value");
	if (e->ob && (pack = kpi_pack(e->cfg, k, from, to, s->tx_seq, &res, status))) {
		rc = outbox_add_tx(e->ob, LANE_PRIORITY, s->topic, pack, strlen(pack), to);
		free(pack);
		if (rc < 0)
			return -EIO;
	}
	/* a change of status is an event; the first window sets the baseline */
	if (k->op != OP_NONE && s->tx_status[0] && strcmp(s->tx_status, status)) {
		char body[512], v[32];
		snprintf(v, sizeof(v), isfinite(res.value) ? "%.12g" : "null", res.value);
		snprintf(body, sizeof(body), "{\"kind\":\"kpi\",\"subject\":\"%s\",\"status\":\"%s\",\"previous\":\"%s\","
			 "\"value\":%s,\"target\":%.12g,\"op\":\"%s\",\"window_end\":%lld}", k->name, status,
			 s->tx_status, v, k->target, k->op == OP_GE ? ">=" : "<=", (long long)(to / 1000));
		if (write_event(e, "kpi", k->name, body, to) < 0)
			return -EIO;
		log_info("kpi %s: %s -> %s (%s)", k->name, s->tx_status, status, v);
	}
	snprintf(s->tx_status, sizeof(s->tx_status), "%s", status);
	return 0;
}

static int ke_dirty(void *arg)
{
	struct kpi_engine *e = arg;

	int64_t now = wall_ms();

	/* the mark is a wall time (the next start compares it with its own):
	 * a wall clock stepped back writes a fresh one rather than none */
	if (e->nlogs || e->nevs || now - e->alive_ms >= ALIVE_IDLE_MS || now < e->alive_ms)
		return 1;
	for (size_t i = 0; i < e->nk; i++)
		if (!e->k[i].saved)
			return 1;
	return 0;
}

static int ke_in_tx(void *arg)
{
	struct kpi_engine *e = arg;
	int rc;

	for (size_t i = 0; i < e->nlogs; i++) {
		struct pend_log *l = &e->logs[i];
		sqlite3_reset(e->ins_log);
		sqlite3_bind_text(e->ins_log, 1, l->device, -1, SQLITE_STATIC);
		sqlite3_bind_int64(e->ins_log, 2, l->ts);
		sqlite3_bind_text(e->ins_log, 3, l->state, -1, SQLITE_STATIC);
		sqlite3_bind_text(e->ins_log, 4, l->reason, -1, SQLITE_STATIC);
		rc = sqlite3_step(e->ins_log);
		sqlite3_reset(e->ins_log);
		if (rc != SQLITE_DONE)
			return fail(e, "write device log");
	}
	for (size_t i = 0; i < e->nevs; i++)
		if (write_event(e, e->evs[i].kind, e->evs[i].subject, e->evs[i].body, e->evs[i].ts) < 0)
			return -EIO;
	int64_t t0 = mono_us();
	for (size_t i = 0; i < e->nk; i++) {
		struct kstate *s = &e->k[i];
		int64_t w = s->d->window_ms, wm = rollup_tx_done(e->r, kpi_tier(s->d));
		int64_t start = s->tx_done;
		/* a gateway that was off for long catches up by instalments */
		for (int n = 0; n < 500 && s->tx_done + w <= wm && (n == 0 || mono_us() - t0 < CATCH_UP_US);
		     n++, s->tx_done += w)
			if (close_window(e, s, s->tx_done, s->tx_done + w) < 0)
				return -EIO;
		/* the first window's start too: a window open when the gateway
		 * stops is computed when it comes back, whenever that is */
		if (s->tx_done != start || !s->saved) {
			char key[96];
			snprintf(key, sizeof(key), "kpi.%s.done", s->d->name);
			if (store_meta_put(e->st, key, s->tx_done) < 0)
				return -EIO;
		}
	}
	if (e->tx_event_seq != e->event_seq && store_meta_put(e->st, "event_seq", e->tx_event_seq) < 0)
		return -EIO;
	int64_t now = wall_ms();
	if (now - e->alive_ms >= ALIVE_EVERY_MS || now < e->alive_ms) {
		if (store_meta_put(e->st, "gateway_alive", now) < 0)
			return -EIO;
		e->tx_alive_ms = now;
	}
	return 0;
}

static void clear_pending(struct kpi_engine *e)
{
	for (size_t i = 0; i < e->nlogs; i++) {
		free(e->logs[i].device);
		free(e->logs[i].state);
		free(e->logs[i].reason);
	}
	e->nlogs = 0;
	for (size_t i = 0; i < e->nevs; i++) {
		free(e->evs[i].kind);
		free(e->evs[i].subject);
		free(e->evs[i].body);
	}
	e->nevs = 0;
}

static void ke_committed(void *arg)
{
	struct kpi_engine *e = arg;

	for (size_t i = 0; i < e->nk; i++) {
		e->k[i].saved = 1;
		e->k[i].done = e->k[i].tx_done;
		e->k[i].seq = e->k[i].tx_seq;
		memcpy(e->k[i].status, e->k[i].tx_status, sizeof(e->k[i].status));
	}
	e->event_seq = e->tx_event_seq;
	e->alive_ms = e->tx_alive_ms;
	clear_pending(e);
}

static void ke_rolled_back(void *arg)
{
	struct kpi_engine *e = arg;

	for (size_t i = 0; i < e->nk; i++) {
		e->k[i].tx_done = e->k[i].done;
		e->k[i].tx_seq = e->k[i].seq;
		memcpy(e->k[i].tx_status, e->k[i].status, sizeof(e->k[i].status));
	}
	e->tx_event_seq = e->event_seq;
	e->tx_alive_ms = e->alive_ms;
}

void kpi_device_state(struct kpi_engine *e, const char *device, int64_t ts_ms, const char *state,
		      const char *reason)
{
	struct pend_log *l;

	if (e->nlogs == e->cap_logs) {
		size_t ncap = e->cap_logs ? 2 * e->cap_logs : 64;
		struct pend_log *nl = realloc(e->logs, ncap * sizeof(*nl));
		if (!nl)
			return;
		e->logs = nl;
		e->cap_logs = ncap;
	}
	l = &e->logs[e->nlogs];
	l->device = strdup(device);
	l->state = strdup(state);
	l->reason = strdup(reason ? reason : "");
	l->ts = ts_ms;
	if (l->device && l->state && l->reason)
		e->nlogs++;
}

void kpi_gateway_start(struct kpi_engine *e, int64_t now_ms)
{
	sqlite3_stmt *st;
	int64_t mark = INT64_MIN;
	int clean = 0;

	/* how the previous run ended: its last gateway row */
	if (sqlite3_prepare_v2(e->db, "SELECT state FROM device_log WHERE device = ?1 ORDER BY ts DESC, rowid DESC"
			       " LIMIT 1", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, KPI_GATEWAY_LOG, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			clean = sqlite3_column_text(st, 0) && !strcmp((const char *)sqlite3_column_text(st, 0), "unknown");
		sqlite3_finalize(st);
	}
	if (!clean) {
		/* rows of the dead process are all at or before its last commit,
		 * or at most a second after its last written sign of life */
		mark = store_meta_get(e->st, "gateway_alive", INT64_MIN);
		if (sqlite3_prepare_v2(e->db, "SELECT max(ts) FROM device_log", -1, &st, NULL) == SQLITE_OK) {
			if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL &&
			    sqlite3_column_int64(st, 0) > mark)
				mark = sqlite3_column_int64(st, 0);
			sqlite3_finalize(st);
		}
		if (mark > now_ms)      /* a clock that went back */
			mark = now_ms;
	}
	if (mark != INT64_MIN) {
		for (size_t i = 0; i < e->cfg->ndevices; i++)
			kpi_device_state(e, e->cfg->devices[i].name, mark, "unknown", "gateway restarted");
		kpi_device_state(e, KPI_GATEWAY_LOG, mark, "unknown", "gateway stopped without a trace (crash or power cut)");
		log_info("kpi: the previous run ended without a stop; its last sign of life was %.1f s ago",
			 (double)(now_ms - mark) / 1000.0);
	}
	kpi_device_state(e, KPI_GATEWAY_LOG, now_ms, "online", "gateway started");
	e->alive_ms = e->tx_alive_ms = 0;
}

void kpi_gateway_stop(struct kpi_engine *e, int64_t now_ms)
{
	kpi_device_state(e, KPI_GATEWAY_LOG, now_ms, "unknown", "gateway stopped");
}

void kpi_event(struct kpi_engine *e, const char *kind, const char *subject, const char *body)
{
	struct pend_event *v;

	if (e->nevs == e->cap_evs) {
		size_t ncap = e->cap_evs ? 2 * e->cap_evs : 64;
		struct pend_event *nv = realloc(e->evs, ncap * sizeof(*nv));
		if (!nv)
			return;
		e->evs = nv;
		e->cap_evs = ncap;
	}
	v = &e->evs[e->nevs];
	v->kind = strdup(kind);
	v->subject = strdup(subject);
	v->body = strdup(body);
	v->ts = wall_ms();
	if (v->kind && v->subject && v->body)
		e->nevs++;
}

void kpi_set_outbox(struct kpi_engine *e, struct outbox *ob)
{
	e->ob = ob;
}

static int prep(struct kpi_engine *e, sqlite3_stmt **st, const char *sql)
{
	if (sqlite3_prepare_v3(e->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
		return fail(e, "prepare");
	return 0;
}

int kpi_new(struct kpi_engine **out, const struct gw_config *cfg, struct store *st, struct rollup *r)
{
	struct kpi_engine *e = calloc(1, sizeof(*e));
	int64_t now = wall_ms();
	int ret;

	*out = NULL;
	if (!e)
		return -ENOMEM;
	e->cfg = cfg;
	e->st = st;
	e->db = store_db(st);
	e->r = r;
	e->nk = cfg->nkpis;
	e->k = calloc(e->nk ? e->nk : 1, sizeof(*e->k));
	if (!e->k) {
		free(e);
		return -ENOMEM;
	}
	if ((ret = prep(e, &e->ins_val, "INSERT OR REPLACE INTO kpi_value (kpi, start, end, seq, value, n, target, op, status)"
			" VALUES (?,?,?,?,?,?,?,?,?)")) ||
	    (ret = prep(e, &e->ins_log, "INSERT INTO device_log (device, ts, state, reason) VALUES (?,?,?,?)")) ||
	    (ret = prep(e, &e->ins_event, "INSERT INTO event_log (ts, kind, subject, body) VALUES (?,?,?,?)"))) {
		kpi_free(e);
		return ret;
	}
	for (size_t i = 0; i < e->nk; i++) {
		struct kstate *s = &e->k[i];
		char key[96];
		sqlite3_stmt *q;
		s->d = &cfg->kpis[i];
		snprintf(key, sizeof(key), "kpi.%s.done", s->d->name);
		/* a new KPI starts with the window that is open now, and says so
		 * at the first commit */
		s->done = store_meta_get(e->st, key, INT64_MIN);
		s->saved = s->done != INT64_MIN;
		if (!s->saved)
			s->done = ward_window_start(now, s->d->window_ms);
		if (sqlite3_prepare_v2(e->db, "SELECT seq, status FROM kpi_value WHERE kpi = ? ORDER BY seq DESC LIMIT 1",
				       -1, &q, NULL) == SQLITE_OK) {
			sqlite3_bind_text(q, 1, s->d->name, -1, SQLITE_STATIC);
			if (sqlite3_step(q) == SQLITE_ROW) {
				s->seq = sqlite3_column_int64(q, 0);
				snprintf(s->status, sizeof(s->status), "%s",
					 sqlite3_column_text(q, 1) ? (const char *)sqlite3_column_text(q, 1) : "");
			}
			sqlite3_finalize(q);
		}
		s->tx_done = s->done;
		s->tx_seq = s->seq;
		memcpy(s->tx_status, s->status, sizeof(s->status));
		if (asprintf(&s->topic, "%s/%s/kpi/%s", cfg->topic_prefix, cfg->gateway_id, s->d->domain) < 0) {
			s->topic = NULL;
			kpi_free(e);
			return -ENOMEM;
		}
	}
	e->event_seq = e->tx_event_seq = store_meta_get(e->st, "event_seq", 0);
	store_add_hook(st, &(struct store_hook){ ke_dirty, ke_in_tx, ke_committed, ke_rolled_back, e, NULL });
	*out = e;
	return 0;
}

void kpi_free(struct kpi_engine *e)
{
	if (!e)
		return;
	sqlite3_finalize(e->ins_val);
	sqlite3_finalize(e->ins_log);
	sqlite3_finalize(e->ins_event);
	clear_pending(e);
	free(e->logs);
	free(e->evs);
	for (size_t i = 0; i < e->nk; i++)
		free(e->k[i].topic);
	free(e->k);
	free(e);
}
