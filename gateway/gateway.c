/* The gateway at run time: builds the devices from the config, owns the
 * loop, the store and the publisher, and turns each finished poll into
 * stored samples and a SenML pack for the IOC. */
#include "gateway.h"
#include "i18n.h"

#include <errno.h>
#include <event2/event.h>
#include <math.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include "config.h"
#include "driver.h"
#include "log.h"
#include "loopq.h"
#include "kpi.h"
#include "ops.h"
#include "outbox.h"
#include "secret.h"
#include "service.h"
#include "rollup.h"
#include "publisher.h"
#include "sdnotify.h"
#include "senml.h"
#include "sink.h"
#include "store.h"
#include "version.h"

/* retention: chunks and rollup rows deleted a call, and the pause between
 * calls while a pass goes on (a call looks at 500 series, a few ms; at
 * 5,000 devices a pass is 100 calls, 20 s, and an hour's expiry there,
 * ~900,000 chunks and 3 million minute rollups, is done in a few minutes) */
#define PRUNE_BATCH 1000
#define ROLLUP_PRUNE_BATCH 5000
#define PRUNE_AGAIN_MS 200

const char *device_state_name(enum device_state s)
{
	switch (s) {
	case DEV_ONLINE: return "online";
	case DEV_OFFLINE: return "offline";
	case DEV_DEGRADED: return "degraded";
	default: return "unknown";
	}
}

void gateway_set_state(struct gateway *gw, struct device *dev, enum device_state st,
		       const char *reason)
{
	if (dev->state == st) {
		if (reason)
			snprintf(dev->reason, sizeof(dev->reason), "%s", reason);
		return;
	}
	/* a state change is logged once; repeats of the same failure are not */
	if (st == DEV_ONLINE && dev->state == DEV_UNKNOWN)
		log_debug("device %s: online", dev->conf->name);   /* first contact: not news */
	else if (st == DEV_DEGRADED)
		log_info("device %s: degraded: %s", dev->conf->name, reason ? reason : "no reason given");
	else if (st == DEV_ONLINE)
		log_info("device %s: online", dev->conf->name);
	else
		log_warn("device %s: %s: %s", dev->conf->name, device_state_name(st),
			 reason ? reason : "no reason given");
	dev->state = st;
	dev->changed_ms = wall_ms();
	snprintf(dev->reason, sizeof(dev->reason), "%s", reason ? reason : "");
	if (gw->kpi)
		kpi_device_state(gw->kpi, dev->conf->name, dev->changed_ms, device_state_name(st), dev->reason);
	if (st == DEV_ONLINE)
		services_device_online(gw, dev);
}

int gateway_write(struct gateway *gw, struct device *dev, const char *metric, double value,
		  gw_write_cb done, void *arg)
{
	const struct profile *p = dev->conf->profile;

	for (size_t i = 0; p && i < p->nregs; i++) {
		const struct reg_def *r = &p->regs[i];
		if (strcmp(r->metric, metric))
			continue;
		if (!r->writable)
			return -EACCES;
		if (!isfinite(value) || (!isnan(r->min) && value < r->min) || (!isnan(r->max) && value > r->max))
			return -ERANGE;
		struct driver *drv = driver_set_get(&gw->drv, dev->conf->driver);
		if (!dev->conf->driver->write || !drv)
			return -ENOTSUP;
		return dev->conf->driver->write(drv, dev, i, value, done, arg);
	}
	return -ENOENT;
}

int gateway_value_quality(const struct device *dev, size_t reg, int64_t now_ms)
{
	if (dev->state == DEV_OFFLINE || !dev->last_ok_ms ||
	    now_ms - dev->last_ok_ms > 3 * (int64_t)dev->conf->poll_interval_ms)
		return Q_STALE;
	return dev->lastq ? dev->lastq[reg] : Q_GOOD;
}

void gateway_poll_started(struct gateway *gw, struct device *dev, int64_t late_us)
{
	gw->stats.started++;
	dev->poll_started_us = mono_us();
	if (late_us > 0 && (uint64_t)late_us > gw->stats.lateness_max_us)
		gw->stats.lateness_max_us = (uint64_t)late_us;
}

void gateway_poll_done(struct gateway *gw, struct device *dev, int64_t ts_ms,
		       const double *values, int ok, int on_time, const char *reason)
{
	const struct profile *pr = dev->conf->profile;
	if (dev->poll_started_us) {
		services_polled(gw, dev, mono_us() - dev->poll_started_us);
		dev->poll_started_us = 0;
	}
	if (!ok) {
		gw->stats.failed++;
		snprintf(dev->reason, sizeof(dev->reason), "%s", reason ? reason : "");
		return;
	}
	gw->stats.ok++;
	gw->stats.on_time += on_time != 0;
	dev->last_ok_ms = ts_ms;
	dev->last_ok_us = mono_us();
	for (size_t i = 0; i < pr->nregs; i++) {
		const struct reg_def *r = &pr->regs[i];
		/* NaN: its read failed while others worked (a degraded poll) */
		int q = isnan(values[i]) ? Q_COMM_ERROR :
			(!isnan(r->min) && values[i] < r->min) || (!isnan(r->max) && values[i] > r->max) ?
			Q_OUT_OF_RANGE : Q_GOOD;
		dev->last[i] = values[i];
		if (dev->lastq)
			dev->lastq[i] = (unsigned char)q;
		if (store_append(gw->store, dev->series[i], ts_ms, values[i], q) < 0)
			gw->stats.store_errors++;
		/* rollups and KPIs only from good values */
		if (q == Q_GOOD)
			rollup_sample(gw->rollup, dev->rseries + i, ts_ms, values[i]);
		gw->stats.values++;
	}
	services_poll_done(gw, dev, ts_ms);
	/* the telemetry pack is not queued: the store's commit log holds
	 * these samples, and the outbox builds the packs of each commit from
	 * it (gateway_packs), live and after an outage alike */
}

/* The SenML packs of one poll of @dev (values in profile order, NaN: not
 * read), as they have always been published: one pack per poll, profiles
 * longer than 256 registers in parts. */
static int device_packs(struct gateway *gw, const struct device *dev, int64_t ts_ms, const double *values,
			outbox_emit_fn emit, void *emit_arg)
{
	const struct profile *pr = dev->conf->profile;
	struct senml_rec recs[256];
	size_t n = 0;
	int len, ret;

	for (size_t i = 0; i < pr->nregs; i++) {
		recs[n].name = pr->regs[i].metric;
		recs[n].unit = pr->regs[i].unit;
		recs[n].value = values[i];
		if (++n < sizeof(recs) / sizeof(recs[0]) && i + 1 < pr->nregs)
			continue;
		len = senml_pack(gw->pack_buf, gw->pack_size, dev->bn, ts_ms, recs, n);
		if (len > 0) {
			if ((ret = emit(emit_arg, dev->topic, gw->pack_buf, (size_t)len, ts_ms)) != 0)
				return ret;
		} else {
			log_err("device %s: SenML pack does not fit %zu bytes", dev->conf->name, gw->pack_size);
		}
		n = 0;
	}
	return 0;
}

/* Which device and register each series is, for the commit log's samples. */
struct sermap_ent {
	uint32_t dev;       /* index + 1; 0: not a device register */
	uint32_t reg;
};

static int sermap_build(struct gateway *gw)
{
	int64_t max = -1;
	size_t maxregs = 1;

	for (size_t i = 0; i < gw->ndevices; i++) {
		const struct device *d = &gw->devices[i];
		if (!d->series || !d->conf || !d->conf->profile)
			continue;
		if (d->conf->profile->nregs > maxregs)
			maxregs = d->conf->profile->nregs;
		for (size_t k = 0; k < d->conf->profile->nregs; k++)
			if (d->series[k] > max)
				max = d->series[k];
	}
	if ((size_t)(max + 1) > gw->sermap_cap) {
		struct sermap_ent *nm = realloc(gw->sermap, (size_t)(max + 1) * sizeof(*nm));
		if (!nm)
			return -ENOMEM;
		gw->sermap = nm;
		gw->sermap_cap = (size_t)(max + 1);
	}
	if (maxregs > gw->packvals_cap) {
		double *nv = realloc(gw->packvals, maxregs * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		gw->packvals = nv;
		gw->packvals_cap = maxregs;
	}
	memset(gw->sermap, 0, gw->sermap_cap * sizeof(*gw->sermap));
	for (size_t i = 0; i < gw->ndevices; i++) {
		const struct device *d = &gw->devices[i];
		if (!d->series || !d->conf || !d->conf->profile || !d->topic || !d->bn)
			continue;
		for (size_t k = 0; k < d->conf->profile->nregs; k++)
			if (d->series[k] >= 0 && (size_t)d->series[k] < gw->sermap_cap) {
				gw->sermap[d->series[k]].dev = (uint32_t)(i + 1);
				gw->sermap[d->series[k]].reg = (uint32_t)k;
			}
	}
	return 0;
}

struct packs_walk {
	struct gateway *gw;
	outbox_emit_fn emit;
	void *emit_arg;
	int64_t dev;        /* index + 1 of the poll being gathered, 0: none */
	int64_t ts;
	int64_t lastreg;
	int err;
};

static int packs_flush(struct packs_walk *w)
{
	int ret = 0;

	if (w->dev) {
		const struct device *d = &w->gw->devices[w->dev - 1];
		ret = device_packs(w->gw, d, w->ts, w->gw->packvals, w->emit, w->emit_arg);
		w->dev = 0;
	}
	return ret;
}

static int packs_sample(void *arg, int64_t series, int64_t ts, double v, int q)
{
	struct packs_walk *w = arg;
	struct gateway *gw = w->gw;
	int ret;

	if (series < 0 || (size_t)series >= gw->sermap_cap || !gw->sermap[series].dev)
		return 0;       /* not a device's register (a derived series) */
	int64_t dev = gw->sermap[series].dev;
	int64_t reg = gw->sermap[series].reg;
	/* a poll's registers are stored together, in profile order, at one time */
	if (w->dev && (dev != w->dev || ts != w->ts || reg <= w->lastreg) && (ret = packs_flush(w)) != 0)
		return ret;
	if (!w->dev) {
		const struct device *d = &gw->devices[dev - 1];
		for (size_t k = 0; k < d->conf->profile->nregs; k++)
			gw->packvals[k] = NAN;
		w->dev = dev;
		w->ts = ts;
	}
	gw->packvals[reg] = v;
	w->lastreg = reg;
	return 0;
}

int gateway_packs(void *arg, const uint8_t *rec, size_t len, outbox_emit_fn emit, void *emit_arg)
{
	struct gateway *gw = arg;
	struct packs_walk w = { .gw = gw, .emit = emit, .emit_arg = emit_arg };
	int ret;

	if ((ret = sermap_build(gw)) < 0)
		return ret;
	ret = store_log_walk(rec, len, packs_sample, &w);
	if (ret < 0)
		return ret;
	if (ret > 0)
		return -ret;
	ret = packs_flush(&w);
	return ret > 0 ? -ret : ret;
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct gateway *gw = arg;

	if (store_flush(gw->store) < 0)
		gw->stats.store_errors++;
}

static void on_prune(evutil_socket_t fd, short what, void *arg)
{
	struct gateway *gw = arg;
	int64_t before = wall_ms() - (int64_t)gw->cfg->raw_retention_days * 86400000;
	int done = 1, more = 0;
	int n = store_prune(gw->store, before, PRUNE_BATCH, &done);

	if (n > 0) {
		gw->pruned_pass += n;
		log_debug("store: pruned %d chunks older than %d days", n, gw->cfg->raw_retention_days);
	}
	more = n >= 0 && !done;
	int days[NTIERS] = { gw->cfg->minute_retention_days, gw->cfg->hour_retention_days,
			     gw->cfg->day_retention_days };
	for (int t = 0; t < NTIERS; t++)
		if (rollup_prune(gw->rollup, t, wall_ms() - (int64_t)days[t] * 86400000, ROLLUP_PRUNE_BATCH) >=
		    ROLLUP_PRUNE_BATCH)
			more = 1;
	/* a pass goes on in short calls rather than blocking the loop; once
	 * over, the next in an hour */
	struct timeval tv = { more ? 0 : 3600, more ? PRUNE_AGAIN_MS * 1000 : 0 };
	if (!more && gw->pruned_pass) {
		log_debug("store: retention pass over: %llu chunks older than %d days deleted",
			 (unsigned long long)gw->pruned_pass, gw->cfg->raw_retention_days);
		gw->pruned_pass = 0;
	}
	evtimer_add(gw->prune_ev, &tv);
}

static double sum_metric(struct gateway *gw, const char *metric, int *found)
{
	double sum = 0;

	for (size_t i = 0; i < gw->ndevices; i++) {
		struct device *d = &gw->devices[i];
		const struct profile *p = d->conf->profile;
		if (d->state != DEV_ONLINE)
			continue;
		for (size_t k = 0; k < p->nregs; k++)
			if (!strcmp(p->regs[k].metric, metric) && !isnan(d->last[k])) {
				sum += d->last[k];
				(*found)++;
			}
	}
	return sum;
}

/* The live view of `make run`: the ward's figures from the latest values. */
static void on_live(evutil_socket_t fd, short what, void *arg)
{
	struct gateway *gw = arg;
	size_t online = 0;
	int f1 = 0, f2 = 0, f3 = 0, f4 = 0, f5 = 0;
	struct publisher_stats ps = { 0 };
	char t[32];
	time_t now = (time_t)(wall_ms() / 1000);
	struct tm tm;

	for (size_t i = 0; i < gw->ndevices; i++)
		online += gw->devices[i].state == DEV_ONLINE;
	double installed = sum_metric(gw, "lampsInstalled", &f1);
	double on = sum_metric(gw, "lampsOn", &f2);
	double failed = sum_metric(gw, "lampsFailed", &f3);
	double power = sum_metric(gw, "activePower", &f4);
	double energy = sum_metric(gw, "activeEnergy", &f5);
	if (gw->pub)
		publisher_get_stats(gw->pub, &ps);
	localtime_r(&now, &tm);
	strftime(t, sizeof(t), "%H:%M:%S", &tm);
	size_t offline = 0;
	for (size_t i = 0; i < gw->ndevices; i++)
		offline += gw->devices[i].state == DEV_OFFLINE;
	/* on time: of the polls that ran and answered, those that started on
	 * their slot; the slots of offline devices (backing off) are no
	 * timing fault and are shown apart */
	printf(_("%s  devices online %zu/%zu  lamps on %.0f/%.0f  failed %.0f (%.1f %%)  "
		 "power %.2f kW  energy %.1f kWh  polls ok %llu failed %llu on-time %.1f %% (%llu/%llu)  "
		 "offline %zu devices (%llu slots skipped)  mqtt %s sent %llu\n"),
	       t, online, gw->ndevices, on, installed, failed, installed > 0 ? 100.0 * failed / installed : 0.0,
	       power / 1000.0, energy, (unsigned long long)gw->stats.ok, (unsigned long long)gw->stats.failed,
	       gw->stats.ok + gw->stats.skipped_busy ?
	       100.0 * (double)gw->stats.on_time / (double)(gw->stats.ok + gw->stats.skipped_busy) : 0.0,
	       (unsigned long long)gw->stats.on_time, (unsigned long long)(gw->stats.ok + gw->stats.skipped_busy),
	       offline, (unsigned long long)gw->stats.skipped_offline, ps.connected ? _("up") : _("down"),
	       (unsigned long long)ps.sent);
	/* the drivers' own lines (the access points'), then the services' */
	char wl[256];
	for (size_t i = 0; i < NDRIVERS; i++) {
		struct driver *d = gw->drv.inst[i];
		if (d && d->ops->live && d->ops->live(d, gw->devices, gw->ndevices, wl, sizeof(wl)) > 0)
			printf("%s  %s\n", t, wl);
	}
	services_live(gw, t, stdout);
	fflush(stdout);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
	struct gateway *gw = arg;

	log_info("gateway %s: stopping (%s)", gw->cfg->gateway_id,
		 fd == SIGINT ? "SIGINT" : fd == SIGTERM ? "SIGTERM" : "run time over");
	sd_notify_send("STOPPING=1");
	event_base_loopbreak(gw->base);
}

static int mkdir_p(const char *path)
{
	char *tmp = strdup(path);
	int ret = 0;

	if (!tmp)
		return -ENOMEM;
	for (char *p = tmp + 1; ; p++) {
		if (*p == '/' || !*p) {
			char c = *p;
			*p = 0;
			if (mkdir(tmp, 0750) < 0 && errno != EEXIST) {
				ret = -errno;
				break;
			}
			*p = c;
			if (!c)
				break;
		}
	}
	free(tmp);
	return ret;
}

static int send_tracked(void *arg, int64_t id, const char *topic, const void *payload, size_t len)
{
	struct gateway *gw = arg;

	return gw->pub ? publisher_send_tracked(gw->pub, id, topic, payload, len) : -ENOTCONN;
}

static void on_link(void *arg, int up, int session_present)
{
	struct gateway *gw = arg;

	if (up)
		outbox_link_up(gw->outbox, 0, session_present);
	else
		outbox_link_down(gw->outbox, 0);
}

static void on_message(void *arg, const char *topic, const void *payload, size_t len)
{
	struct gateway *gw = arg;

	const struct service_ops *sv = services_commands(gw->cfg);

	if (sv)
		sv->command(gw, payload, len);
}

static void on_ack(void *arg, int64_t id, int ok)
{
	struct gateway *gw = arg;

	outbox_acked(gw->outbox, 0, id, ok);
}

static void on_pump(evutil_socket_t fd, short what, void *arg)
{
	struct gateway *gw = arg;

	outbox_pump(gw->outbox);
}

/* The outbox has live packs left after a burst: the next turn of the loop. */
static void kick_pump(void *arg)
{
	struct gateway *gw = arg;

	if (gw->kick_ev && !event_pending(gw->kick_ev, EV_TIMEOUT, NULL))
		event_active(gw->kick_ev, EV_TIMEOUT, 0);
}

/* --- more northbound links (links = ( ... )) --- */

unsigned gateway_topic_kind(void *arg, const char *topic)
{
	struct gateway *gw = arg;
	const char *p = topic;
	size_t pl = strlen(gw->cfg->topic_prefix), gl = strlen(gw->cfg->gateway_id);

	/* <prefix>/<gateway id>/<kind>/... */
	if (!strncmp(p, gw->cfg->topic_prefix, pl) && p[pl] == '/' && !strncmp(p + pl + 1, gw->cfg->gateway_id, gl) &&
	    p[pl + 1 + gl] == '/')
		p += pl + gl + 2;
	if (!strncmp(p, "kpi/", 4))
		return LINK_CARRY_KPI;
	if (!strncmp(p, "telemetry/", 10))
		return LINK_CARRY_TELEMETRY;
	if (!strncmp(p, "coverage/", 9))
		return LINK_CARRY_MAP;
	if (!strcmp(p, "status"))
		return LINK_CARRY_STATUS;
	return LINK_CARRY_EVENT;    /* event/..., cmd-result/... */
}

/* @topic with this link's prefix in place of the mqtt section's. */
static const char *link_topic(const struct gw_link *l, const char *topic, char *buf, size_t size)
{
	size_t fl = strlen(l->from);

	if (strncmp(topic, l->from, fl) || topic[fl] != '/' || !strcmp(l->from, l->to))
		return topic;
	if ((size_t)snprintf(buf, size, "%s%s", l->to, topic + fl) >= size)
		return NULL;
	return buf;
}

static int link_send(void *arg, int64_t id, const char *topic, const void *payload, size_t len)
{
	struct gw_link *l = arg;
	char buf[1024];
	const char *t = link_topic(l, topic, buf, sizeof(buf));

	if (!t)
		return -ENAMETOOLONG;
	return l->pub ? publisher_send_tracked(l->pub, id, t, payload, len) : -ENOTCONN;
}

int gateway_publish_retained(struct gateway *gw, unsigned kind, const char *topic, const void *payload,
			     size_t len)
{
	char buf[1024];
	int ret = gw->pub ? publisher_send(gw->pub, topic, payload, len, 1) : -ENOTCONN;

	for (size_t i = 0; i < gw->nlinks; i++) {
		struct gw_link *l = &gw->links[i];
		const char *t = link_topic(l, topic, buf, sizeof(buf));
		if ((l->carries & kind) && l->pub && t && publisher_connected(l->pub))
			publisher_send(l->pub, t, payload, len, 1);
	}
	return ret;
}

static void on_link_n(void *arg, int up, int session_present)
{
	struct gw_link *l = arg;

	if (up)
		outbox_link_up(l->gw->outbox, l->idx, session_present);
	else
		outbox_link_down(l->gw->outbox, l->idx);
}

static void on_ack_n(void *arg, int64_t id, int ok)
{
	struct gw_link *l = arg;

	outbox_acked(l->gw->outbox, l->idx, id, ok);
}

static void on_message_n(void *arg, const char *topic, const void *payload, size_t len)
{
	struct gw_link *l = arg;
	const struct service_ops *sv = services_commands(l->gw->cfg);

	if (sv)
		sv->command(l->gw, payload, len);
}

/* The links' cursors in the outbox: before the first flush. */
static int add_links(struct gateway *gw)
{
	struct gw_config *c = gw->cfg;

	if (!c->nlinks)
		return 0;
	gw->links = calloc(c->nlinks, sizeof(*gw->links));
	if (!gw->links)
		return -ENOMEM;
	for (size_t i = 0; i < c->nlinks; i++) {
		const struct link_conf *lc = &c->links[i];
		struct gw_link *l = &gw->links[gw->nlinks];
		int idx;
		l->gw = gw;
		l->name = strdup(lc->name);
		l->uri = strdup(lc->uri);
		l->from = strdup(c->topic_prefix);
		l->to = strdup(lc->topic_prefix ? lc->topic_prefix : c->topic_prefix);
		l->carries = lc->carries;
		gw->nlinks++;
		if (!l->name || !l->uri || !l->from || !l->to)
			return -ENOMEM;
		idx = outbox_link_add(gw->outbox, &(struct outbox_link_opts){ .name = lc->name,
			.window = lc->max_inflight, .carries = lc->carries, .send = link_send, .send_arg = l });
		if (idx < 0)
			return log_error(idx, "link %s: %s", lc->name, strerror(-idx));
		l->idx = idx;
	}
	return 0;
}

/* One link's publisher, for the mqtt section's link ("ioc", @name NULL)
 * and each of links = ( ... ) alike: its retained status topic and
 * payloads (naming the link when it has a @name), client id, password,
 * broker addresses, callbacks (@arg) and, with @commands, the command
 * topic under @prefix. @what names it in errors ("mqtt", "link NAME"). */
static int link_publisher(struct gateway *gw, const struct link_conf *lc, const char *name, const char *prefix,
			  const char *what, int commands, void (*on_up)(void *, int, int),
			  void (*on_acked)(void *, int64_t, int),
			  void (*on_msg)(void *, const char *, const void *, size_t), void *arg,
			  struct publisher **out)
{
	struct gw_config *c = gw->cfg;
	struct publisher_opts o = { 0 };
	char *topic = NULL, *online = NULL, *offline = NULL, *cid = NULL, *pw = NULL, *cmd = NULL;
	char named[96] = "";
	int ret = -ENOMEM;

	if (name)
		snprintf(named, sizeof(named), ",\"link\":\"%s\"", name);
	if (asprintf(&topic, "%s/%s/status", prefix, c->gateway_id) < 0)
		topic = NULL;
	if (asprintf(&online, "{\"state\":\"online\",\"version\":\"%s\",\"started\":%lld,\"config\":\"%s\","
		     "\"devices\":%zu%s}", WARDGW_VERSION, (long long)(gw->started_ms / 1000), c->digest,
		     gw->ndevices, named) < 0)
		online = NULL;
	if (asprintf(&offline, "{\"state\":\"offline\",\"version\":\"%s\",\"started\":%lld%s}",
		     WARDGW_VERSION, (long long)(gw->started_ms / 1000), named) < 0)
		offline = NULL;
	if (lc->client_id)
		cid = strdup(lc->client_id);
	else if (asprintf(&cid, "wardgw-%s%s%s", c->gateway_id, name ? "-" : "", name ? name : "") < 0)
		cid = NULL;
	if (!topic || !online || !offline || !cid)
		goto out;
	if (lc->password_file) {
		char buf[256], why[600];
		/* an empty password file is an empty password, as it always was */
		if ((ret = secret_read_line(lc->password_file, buf, sizeof(buf), why, sizeof(why))) < 0 &&
		    ret != -ENODATA) {
			ret = log_error(ret, "%s: password_file%s %s", what, ret == -EPERM ? "" : ":", why);
			goto out;
		}
		ret = -ENOMEM;
		pw = strdup(buf);
		OPENSSL_cleanse(buf, sizeof(buf));
		if (!pw)
			goto out;
	}
	o.uri = lc->uri;
	o.uris = (const char *const *)lc->uris;
	o.nuris = lc->nuris;
	o.connect_timeout = lc->connect_timeout_s;
	o.client_id = cid;
	o.username = lc->username;
	o.password = pw;
	o.keepalive = lc->keepalive;
	o.qos = lc->qos;
	o.buffer = lc->buffer;
	o.clean_session = lc->clean_session;
	o.max_inflight = lc->max_inflight;
	o.ca_file = lc->ca_file;
	o.cert_file = lc->cert_file;
	o.key_file = lc->key_file;
	o.verify_hostname = lc->verify_hostname;
	o.on_link = on_up;
	o.on_ack = on_acked;
	o.cb_arg = arg;
	o.status_topic = topic;
	o.online_payload = online;
	o.offline_payload = offline;
	/* IOC commands for a service (the lighting schedule's) */
	const struct service_ops *sv = services_commands(c);
	if (commands && sv && asprintf(&cmd, "%s/%s/%s", prefix, c->gateway_id, sv->command_topic) >= 0) {
		o.subscribe_topic = cmd;
		o.on_message = on_msg;
	}
	ret = publisher_new(out, &o, gw->base, gw->q);
out:
	free(topic);
	free(online);
	free(offline);
	free(cid);
	free(pw);
	free(cmd);
	return ret;
}

static int start_link(struct gateway *gw, struct gw_link *l, const struct link_conf *lc)
{
	char what[64];

	snprintf(what, sizeof(what), "link %s", l->name);
	return link_publisher(gw, lc, l->name, l->to, what, lc->commands, on_link_n, on_ack_n, on_message_n, l,
			      &l->pub);
}

static void free_links(struct gateway *gw)
{
	for (size_t i = 0; i < gw->nlinks; i++) {
		struct gw_link *l = &gw->links[i];
		publisher_free(l->pub);
		free(l->name);
		free(l->uri);
		free(l->from);
		free(l->to);
	}
	free(gw->links);
	gw->links = NULL;
	gw->nlinks = 0;
}

/* Device online/offline events, with hysteresis: a state must last
 * events.hold_s before it is reported, so a flapping device is one event,
 * not a flood; a state equal to the last reported one is not reported. */
static void device_events(struct gateway *gw, int64_t now)
{
	for (size_t i = 0; i < gw->ndevices; i++) {
		struct device *d = &gw->devices[i];
		char body[512], reason[340];

		if (d->state == DEV_UNKNOWN || d->state == d->reported)
			continue;
		if (d->reported == DEV_UNKNOWN && d->state == DEV_ONLINE) {
			d->reported = DEV_ONLINE;      /* first contact is not news */
			continue;
		}
		if (now - d->changed_ms < (int64_t)gw->cfg->event_hold_s * 1000)
			continue;
		if (json_escape(reason, sizeof(reason), d->reason) < 0)
			reason[0] = 0;
		snprintf(body, sizeof(body), "{\"kind\":\"device\",\"subject\":\"%s\",\"state\":\"%s\","
			 "\"previous\":\"%s\",\"reason\":\"%s\",\"since\":%lld}", d->conf->name,
			 device_state_name(d->state), device_state_name(d->reported), reason,
			 (long long)(d->changed_ms / 1000));
		kpi_event(gw->kpi, "device", d->conf->name, body);
		d->reported = d->state;
	}
}

/* The retained status, refreshed: link, outbox depth and drops, store health. */
static void refresh_status(struct gateway *gw, int64_t now)
{
	struct outbox_stats os;
	const char *why = "";
	char *json = NULL, why_esc[200];
	size_t online = 0;
	int failing = store_failing(gw->store, &why);

	for (size_t i = 0; i < gw->ndevices; i++)
		online += gw->devices[i].state == DEV_ONLINE;
	outbox_get_stats(gw->outbox, &os);
	if (json_escape(why_esc, sizeof(why_esc), why) < 0)
		why_esc[0] = 0;
	if (asprintf(&json, "{\"state\":\"online\",\"version\":\"%s\",\"started\":%lld,\"config\":\"%s\","
		     "\"devices\":%zu,\"devices_online\":%zu,\"outbox\":{\"messages\":%lld,\"bytes\":%lld,"
		     "\"oldest\":%lld,\"dropped\":%llu,\"dropped_bytes\":%llu},\"store\":{\"ok\":%s,\"error\":\"%s\","
		     "\"pruned_early\":%llu,\"samples_dropped\":%llu},\"ts\":%lld}",
		     WARDGW_VERSION, (long long)(gw->started_ms / 1000), gw->cfg->digest,
		     gw->ndevices, online, (long long)os.rows, (long long)os.bytes, (long long)(os.oldest_ms / 1000),
		     (unsigned long long)os.dropped, (unsigned long long)os.dropped_bytes,
		     failing ? "false" : "true", why_esc, (unsigned long long)store_pruned_early(gw->store),
		     (unsigned long long)store_dropped(gw->store), (long long)(now / 1000)) < 0)
		return;
	if (gw->pub)
		publisher_set_online(gw->pub, json);
	for (size_t i = 0; i < gw->nlinks; i++)
		if ((gw->links[i].carries & LINK_CARRY_STATUS) && gw->links[i].pub)
			publisher_set_online(gw->links[i].pub, json);
	free(json);
	gw->last_status_us = mono_us();
}

/* Keep store.min_free_mb free on the data disk: below it, retention is
 * applied early (the oldest raw samples go, their pages are reused, so the
 * database stops growing) instead of waiting for SQLite to hit ENOSPC. */
static void check_disk(struct gateway *gw)
{
	struct statvfs v;
	int64_t free_b, want = (int64_t)gw->cfg->store_min_free_mb << 20;

	int64_t t = mono_us();

	if (!want || !gw->data_dir || (gw->disk_checked_us && t - gw->disk_checked_us < 10000000))
		return;
	gw->disk_checked_us = t;
	if (statvfs(gw->data_dir, &v) < 0)
		return;
	free_b = (int64_t)v.f_bavail * (int64_t)v.f_frsize;
	if (free_b >= want) {
		if (gw->disk_low)
			log_info("store: %lld MB free on %s again", (long long)(free_b >> 20), gw->data_dir);
		gw->disk_low = 0;
		return;
	}
	if (!gw->disk_low)
		log_warn("store: only %lld MB free on %s (store.min_free_mb = %d): applying retention early",
			 (long long)(free_b >> 20), gw->data_dir, gw->cfg->store_min_free_mb);
	gw->disk_low = 1;
	/* in proportion to the deficit (and to what arrived since the last
	 * check, which the store adds), not a fixed share */
	store_make_room(gw->store, want - free_b);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct gateway *gw = arg;
	int64_t now = wall_ms();
	const char *why = "";
	int failing = store_failing(gw->store, &why);

	rollup_tick(gw->rollup, now);
	device_events(gw, now);
	services_tick(gw, now);
	check_disk(gw);
	if (failing != gw->store_was_failing) {
		char body[400], esc[200];
		if (json_escape(esc, sizeof(esc), why) < 0)
			esc[0] = 0;
		snprintf(body, sizeof(body), "{\"kind\":\"store\",\"subject\":\"store\",\"state\":\"%s\","
			 "\"error\":\"%s\"}", failing ? "failing" : "ok", esc);
		kpi_event(gw->kpi, "store", "store", body);
		gw->store_was_failing = failing;
		refresh_status(gw, now);
	}
	if (!gw->last_status_us || mono_us() - gw->last_status_us >= (int64_t)gw->cfg->status_interval_s * 1000000)
		refresh_status(gw, now);
}

/* The mqtt section's link, "ioc": the same as any link's, its settings
 * read from the section. */
static int start_publisher(struct gateway *gw)
{
	struct gw_config *c = gw->cfg;
	const struct link_conf lc = {
		.uri = c->mqtt_uri, .uris = c->mqtt_uris, .nuris = c->mqtt_nuris,
		.connect_timeout_s = c->mqtt_connect_timeout_s, .client_id = c->mqtt_client_id,
		.username = c->mqtt_username, .password_file = c->mqtt_password_file,
		.ca_file = c->mqtt_ca_file, .cert_file = c->mqtt_cert_file, .key_file = c->mqtt_key_file,
		.verify_hostname = c->mqtt_verify_hostname, .qos = c->mqtt_qos, .keepalive = c->mqtt_keepalive,
		.clean_session = c->mqtt_clean_session, .max_inflight = c->mqtt_max_inflight,
		.buffer = c->mqtt_buffer,
	};

	return link_publisher(gw, &lc, NULL, c->topic_prefix, "mqtt", 1, on_link, on_ack, on_message, gw, &gw->pub);
}

int gateway_device_init(struct gateway *gw, struct device *d, const struct device_conf *conf, size_t index)
{
	struct gw_config *c = gw->cfg;
	const struct profile *p = conf->profile;
	int ret = 0;

	memset(d, 0, sizeof(*d));
	d->conf = conf;
	d->index = index;
	d->series = calloc(p->nregs ? p->nregs : 1, sizeof(*d->series));
	d->last = calloc(p->nregs ? p->nregs : 1, sizeof(*d->last));
	d->lastq = calloc(p->nregs ? p->nregs : 1, 1);
	if (asprintf(&d->topic, "%s/%s/telemetry/%s", c->topic_prefix, c->gateway_id, conf->name) < 0)
		d->topic = NULL;
	if (asprintf(&d->bn, "urn:dev:wardgw:%s:%s:", c->gateway_id, conf->name) < 0)
		d->bn = NULL;
	if (!d->series || !d->last || !d->lastq || !d->topic || !d->bn)
		return -ENOMEM;
	for (size_t k = 0; k < p->nregs && !ret; k++) {
		d->last[k] = NAN;
		ret = store_series(gw->store, conf->name, p->regs[k].metric, p->regs[k].unit, &d->series[k]);
	}
	if (ret < 0)
		return ret;
	/* a device a reload restarts keeps its rollup slots: its open minutes
	 * and its counters' last values go on, and no slot is left behind
	 * (a changed profile has other series, so it gets new ones) */
	long run = rollup_find_run(gw->rollup, d->series, p->nregs);
	if (run >= 0) {
		d->rseries = (size_t)run;
		return 0;
	}
	for (size_t k = 0; k < p->nregs && !ret; k++) {
		const struct reg_def *r = &p->regs[k];
		long idx;
		/* an unsigned counter wraps at 2^bits (times its scale) */
		double wrap = r->type == TYPE_U16 ? 65536.0 : r->type == TYPE_U32 ? 4294967296.0 :
			      r->type == TYPE_U64 ? 18446744073709551616.0 : 0;
		idx = rollup_add_series(gw->rollup, d->series[k], r->counter, wrap * fabs(r->scale));
		if (idx < 0)
			ret = (int)idx;
		else if (k == 0)
			d->rseries = (size_t)idx;
	}
	return ret;
}

void gateway_device_release(struct device *d)
{
	free(d->series);
	free(d->last);
	free(d->lastq);
	free(d->topic);
	free(d->bn);
	d->series = NULL;
	d->last = NULL;
	d->lastq = NULL;
	d->topic = NULL;
	d->bn = NULL;
}

static int init_devices(struct gateway *gw)
{
	struct gw_config *c = gw->cfg;
	int ret = 0;

	gw->ndevices = c->ndevices;
	gw->devices = calloc(c->ndevices ? c->ndevices : 1, sizeof(*gw->devices));
	if (!gw->devices)
		return -ENOMEM;
	if ((ret = store_begin(gw->store)) < 0)
		return ret;
	for (size_t i = 0; i < c->ndevices && !ret; i++)
		ret = gateway_device_init(gw, &gw->devices[i], &c->devices[i], i);
	if (ret < 0) {
		store_commit(gw->store);
		return ret;
	}
	return store_commit(gw->store);
}

/* libevent's own messages (accept errors when no callback is set, evdns
 * giving up on a nameserver) go through the log module and its limiter,
 * not to stderr raw. */
static void on_libevent_log(int severity, const char *msg)
{
	if (severity >= EVENT_LOG_WARN)
		log_warn("libevent: %s", msg);
	else if (severity == EVENT_LOG_MSG)
		log_info("libevent: %s", msg);
}

int gateway_init(struct gateway *gw, struct gw_config *cfg, const struct gateway_opts *o)
{
	char *path = NULL, *dir = NULL;
	int ret;
	struct timeval tv;

	memset(gw, 0, sizeof(*gw));
	event_set_log_callback(on_libevent_log);
	gw->cfg = cfg;
	gw->live_secs = o ? o->live_secs : 0;
	gw->stats_path = o ? o->stats_path : NULL;
	if (clock_offset_file())
		log_warn("clock: wall time shifted by the offset in %s (WARDGW_TEST_WALL_OFFSET_FILE: for tests only)",
			 clock_offset_file());
	gw->started_ms = wall_ms();
	gw->pack_size = 64 * 1024;
	gw->pack_buf = malloc(gw->pack_size);
	gw->base = event_base_new();
	if (!gw->base || !gw->pack_buf)
		return log_error(-ENOMEM, "gateway: cannot create the event loop");
	if ((ret = loopq_new(&gw->q, gw->base)) < 0)
		return ret;

	dir = config_data_path(cfg, ".");
	if (!dir || (ret = mkdir_p(dir)) < 0) {
		ret = log_error(dir ? ret : -ENOMEM, "gateway: cannot create data_dir %s: %s",
				dir ? dir : "?", strerror(dir ? -ret : ENOMEM));
		goto out;
	}
	path = config_data_path(cfg, cfg->store_path);
	if (!path || (ret = store_open(&gw->store, path)) < 0)
		goto out;
	if ((ret = store_set_limit(gw->store, (int64_t)cfg->store_max_db_mb << 20)) < 0)
		goto out;
	/* the directory that holds the database, for the free-space check */
	if ((gw->data_dir = strdup(path)) != NULL) {
		char *slash = strrchr(gw->data_dir, '/');
		if (slash)
			*(slash == gw->data_dir ? slash + 1 : slash) = 0;
		else
			strcpy(gw->data_dir, ".");
	}
	/* store hooks run in this order: rollups, KPIs (which read them), outbox */
	int64_t grace = 0;
	for (size_t i = 0; i < cfg->ndevices; i++)
		if (cfg->devices[i].timeout_ms > grace)
			grace = cfg->devices[i].timeout_ms;
	if ((ret = rollup_new(&gw->rollup, gw->store, grace + 2000)) < 0)
		goto out;
	if ((ret = kpi_new(&gw->kpi, cfg, gw->store, gw->rollup)) < 0)
		goto out;
	if ((ret = init_devices(gw)) < 0)
		goto out;
	/* services that register series of their own (the lighting schedule's
	 * derived series) before the rollups catch up */
	if ((ret = services_start(gw, SERVICE_SERIES)) < 0)
		goto out;
	if ((ret = rollup_catch_up(gw->rollup, wall_ms())) < 0)
		goto out;
	/* after a crash the last logged states would run on through the time
	 * the gateway was not there: end them at its last sign of life */
	kpi_gateway_start(gw->kpi, gw->started_ms);
	ret = outbox_new(&gw->outbox, gw->store, &(struct outbox_opts){
		.window = cfg->mqtt_max_inflight,
		.backfill_per_s = cfg->outbox_backfill_per_s,
		.max_bytes = (int64_t)cfg->outbox_max_mb * 1024 * 1024,
		.max_age_ms = (int64_t)cfg->outbox_max_age_days * 86400000,
		.ack_timeout_ms = (int64_t)cfg->outbox_ack_timeout_s * 1000,
		.send = send_tracked, .send_arg = gw, .packs = gateway_packs, .packs_arg = gw,
		.kind = gateway_topic_kind, .kind_arg = gw, .kick = kick_pump, .kick_arg = gw });
	if (ret < 0)
		goto out;
	if ((ret = add_links(gw)) < 0)
		goto out;
	kpi_set_outbox(gw->kpi, gw->outbox);
	if ((ret = start_publisher(gw)) < 0)
		goto out;
	for (size_t i = 0; i < gw->nlinks; i++)
		if ((ret = start_link(gw, &gw->links[i], &cfg->links[i])) < 0)
			goto out;
	/* services that take or make data (coverage map, push ingest, environment) */
	if ((ret = services_start(gw, SERVICE_DATA)) < 0)
		goto out;
	/* the drivers: one instance each, every device started on its own */
	if ((ret = sink_new(&gw->sink, gw)) < 0 || (ret = driver_set_init(&gw->drv, gw->sink)) < 0)
		goto out;
	for (size_t i = 0; i < gw->ndevices; i++)
		if ((ret = driver_start_device(&gw->drv, &gw->devices[i])) < 0) {
			log_err("device %s: cannot start: %s", gw->devices[i].conf->name, strerror(-ret));
			goto out;
		}
	driver_set_settle(&gw->drv);
	if ((ret = gateway_ops_init(gw)) < 0)
		goto out;

	gw->flush_ev = event_new(gw->base, -1, EV_PERSIST, on_flush, gw);
	tv.tv_sec = cfg->batch_ms / 1000;
	tv.tv_usec = (cfg->batch_ms % 1000) * 1000;
	event_add(gw->flush_ev, &tv);
	gw->tick_ev = event_new(gw->base, -1, EV_PERSIST, on_tick, gw);
	tv.tv_sec = 1;
	tv.tv_usec = 0;
	event_add(gw->tick_ev, &tv);
	gw->pump_ev = event_new(gw->base, -1, EV_PERSIST, on_pump, gw);
	gw->kick_ev = event_new(gw->base, -1, 0, on_pump, gw);
	tv.tv_sec = 0;
	tv.tv_usec = 100000;
	event_add(gw->pump_ev, &tv);
	gw->prune_ev = evtimer_new(gw->base, on_prune, gw);
	tv.tv_sec = 5;
	tv.tv_usec = 0;
	evtimer_add(gw->prune_ev, &tv);
	if (gw->live_secs > 0) {
		gw->live_ev = event_new(gw->base, -1, EV_PERSIST, on_live, gw);
		tv.tv_sec = gw->live_secs;
		event_add(gw->live_ev, &tv);
	}
	gw->sigint_ev = evsignal_new(gw->base, SIGINT, on_stop, gw);
	gw->sigterm_ev = evsignal_new(gw->base, SIGTERM, on_stop, gw);
	event_add(gw->sigint_ev, NULL);
	event_add(gw->sigterm_ev, NULL);
	if (o && o->run_secs > 0) {
		gw->stop_ev = evtimer_new(gw->base, on_stop, gw);
		tv.tv_sec = o->run_secs;
		evtimer_add(gw->stop_ev, &tv);
	}
	log_info("gateway %s: %zu devices, store %s, mqtt %s, config %s", cfg->gateway_id,
		 gw->ndevices, path, cfg->mqtt_uri, cfg->digest);
	ret = 0;
out:
	free(path);
	free(dir);
	return ret;
}

int gateway_run(struct gateway *gw)
{
	char msg[128];

	snprintf(msg, sizeof(msg), "READY=1\nSTATUS=polling %zu devices", gw->ndevices);
	sd_notify_send(msg);
	return event_base_dispatch(gw->base) < 0 ? -EIO : 0;
}

static void write_stats(struct gateway *gw)
{
	struct rusage ru;
	struct publisher_stats ps = { 0 };
	FILE *f;

	if (!gw->stats_path)
		return;
	f = fopen(gw->stats_path, "w");
	if (!f) {
		log_err("gateway: cannot write stats %s: %s", gw->stats_path, strerror(errno));
		return;
	}
	getrusage(RUSAGE_SELF, &ru);
	if (gw->pub)
		publisher_get_stats(gw->pub, &ps);
	fprintf(f, "{\"devices\":%zu,\"scheduled\":%llu,\"started\":%llu,\"ok\":%llu,\"failed\":%llu,"
		"\"on_time\":%llu,\"skipped_busy\":%llu,\"skipped_offline\":%llu,\"requests\":%llu,"
		"\"values\":%llu,\"store_errors\":%llu,\"lateness_max_us\":%llu,\"mqtt_sent\":%llu,"
		"\"mqtt_failed\":%llu,\"mqtt_delivered\":%llu,\"cpu_user_ms\":%ld,\"cpu_sys_ms\":%ld,"
		"\"max_rss_kb\":%ld}\n",
		gw->ndevices, (unsigned long long)gw->stats.scheduled, (unsigned long long)gw->stats.started,
		(unsigned long long)gw->stats.ok, (unsigned long long)gw->stats.failed,
		(unsigned long long)gw->stats.on_time, (unsigned long long)gw->stats.skipped_busy,
		(unsigned long long)gw->stats.skipped_offline, (unsigned long long)gw->stats.requests,
		(unsigned long long)gw->stats.values, (unsigned long long)gw->stats.store_errors,
		(unsigned long long)gw->stats.lateness_max_us, (unsigned long long)ps.sent,
		(unsigned long long)ps.failed, (unsigned long long)ps.delivered,
		ru.ru_utime.tv_sec * 1000 + ru.ru_utime.tv_usec / 1000,
		ru.ru_stime.tv_sec * 1000 + ru.ru_stime.tv_usec / 1000, ru.ru_maxrss);
	fclose(f);
}

/* Stopping: commit what is queued, let it go out, and wait a moment for
 * the acknowledgements of what is in flight, so that a clean restart sends
 * nothing twice. What is not acknowledged stays stored and goes next time. */
static void drain_inflight(struct gateway *gw)
{
	struct outbox_stats os;
	int64_t until = mono_us() + 3000000;

	if (!gw->outbox || !gw->store)
		return;
	store_flush(gw->store);
	outbox_hold(gw->outbox);
	for (;;) {
		outbox_get_stats(gw->outbox, &os);
		if (!os.inflight || !gw->pub || !publisher_connected(gw->pub) || mono_us() > until)
			break;
		struct timeval tv = { 0, 20000 };
		event_base_loopexit(gw->base, &tv);
		event_base_dispatch(gw->base);
	}
	store_flush(gw->store);
}

void gateway_release(struct gateway *gw)
{
	for (size_t i = 0; gw->devices && i < gw->ndevices; i++)
		driver_stop_device(&gw->drv, &gw->devices[i]);
	driver_set_release(&gw->drv);
	/* a clean stop ends every device's state: its time off is not downtime */
	for (size_t i = 0; gw->kpi && i < gw->ndevices; i++)
		kpi_device_state(gw->kpi, gw->devices[i].conf->name, wall_ms(), "unknown", "gateway stopped");
	if (gw->kpi)
		kpi_gateway_stop(gw->kpi, wall_ms());
	drain_inflight(gw);
	write_stats(gw);
	/* last flush with every module still there, then detach them */
	if (gw->store) {
		store_flush_all(gw->store);      /* the rollups' last minutes too */
		store_clear_hooks(gw->store);
	}
	gateway_ops_release(gw);
	services_stop(gw);              /* after the drivers: no write answer can follow */
	sink_free(gw->sink);
	publisher_free(gw->pub);
	free_links(gw);
	outbox_free(gw->outbox);
	kpi_free(gw->kpi);
	rollup_free(gw->rollup);
	store_close(gw->store);
	loopq_free(gw->q);
	if (gw->flush_ev) event_free(gw->flush_ev);
	if (gw->pump_ev) event_free(gw->pump_ev);
	if (gw->kick_ev) event_free(gw->kick_ev);
	if (gw->tick_ev) event_free(gw->tick_ev);
	if (gw->prune_ev) event_free(gw->prune_ev);
	if (gw->live_ev) event_free(gw->live_ev);
	if (gw->sigint_ev) event_free(gw->sigint_ev);
	if (gw->sigterm_ev) event_free(gw->sigterm_ev);
	if (gw->stop_ev) event_free(gw->stop_ev);
	for (size_t i = 0; gw->devices && i < gw->ndevices; i++)
		gateway_device_release(&gw->devices[i]);
	free(gw->devices);
	free(gw->pack_buf);
	free(gw->sermap);
	free(gw->packvals);
	free(gw->data_dir);
	if (gw->base)
		event_base_free(gw->base);
	gateway_ops_free_configs(gw);
	memset(gw, 0, sizeof(*gw));
}
