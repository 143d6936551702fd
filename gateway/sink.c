/* The sink behind the drivers: turns what a driver reports into the
 * gateway's work (gateway_poll_done() stores and publishes, state changes
 * go to the KPIs and the schedule), keeps the poll counters, and queues
 * coverage samples for the store's next transaction. */
#include "sink.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "coverage.h"
#include "gateway.h"
#include "log.h"
#include "loopq.h"
#include "store.h"
#include "survey.h"

/* Coverage samples waiting for the next commit; beyond this (a store
 * failing for a long time) the oldest go. */
#define COVERAGE_PENDING_MAX 4096

struct pending_cov {
	struct coverage_sample s;
	char op[SURVEY_OP_MAX];
	char source[64];
};

struct sink {
	struct gateway *gw;
	struct pending_cov *cov;
	size_t ncov, cov_cap;
	uint64_t cov_dropped;
};

static int cov_dirty(void *arg)
{
	struct sink *s = arg;

	return s->ncov > 0;
}

static int cov_in_tx(void *arg)
{
	struct sink *s = arg;
	sqlite3 *db = store_db(s->gw->store);

	for (size_t i = 0; i < s->ncov; i++)
		if (coverage_insert(db, &s->cov[i].s, s->cov[i].source) < 0)
			return log_error(-EIO, "coverage: sample from %s not stored: %s", s->cov[i].source,
					 sqlite3_errmsg(db));
	return 0;
}

static void cov_committed(void *arg)
{
	struct sink *s = arg;

	s->ncov = 0;
}

int sink_new(struct sink **out, struct gateway *gw)
{
	struct sink *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->gw = gw;
	if (gw->store && gw->cfg && gw->cfg->coverage) {
		if (coverage_db_init(store_db(gw->store)) < 0 ||
		    store_add_hook(gw->store, &(struct store_hook){ cov_dirty, cov_in_tx, cov_committed, NULL, s,
								    NULL }) < 0) {
			free(s);
			return log_error(-EIO, "gateway: cannot queue coverage samples in the store");
		}
	}
	*out = s;
	return 0;
}

void sink_free(struct sink *s)
{
	if (!s)
		return;
	if (s->ncov)
		log_warn("coverage: %zu samples not stored (the store did not commit)", s->ncov);
	free(s->cov);
	free(s);
}

struct event_base *sink_base(struct sink *s)
{
	return s->gw->base;
}

int sink_polling(const struct sink *s)
{
	return !s->gw->no_poll;
}

void sink_poll_started(struct sink *s, struct device *dev, int64_t late_us)
{
	gateway_poll_started(s->gw, dev, late_us);
}

void sink_poll_done(struct sink *s, struct device *dev, int64_t ts_ms, const double *values, int ok,
		    int on_time, const char *reason)
{
	gateway_poll_done(s->gw, dev, ts_ms, values, ok, on_time, reason);
}

void sink_set_state(struct sink *s, struct device *dev, enum device_state st, const char *reason)
{
	gateway_set_state(s->gw, dev, st, reason);
}

int sink_push(struct sink *s, const struct device_conf *conf, int64_t ts_ms, const double *values)
{
	struct gateway *gw = s->gw;

	for (size_t k = 0; k < gw->ndevices; k++) {
		struct device *dev = &gw->devices[k];
		if (dev->conf != conf)
			continue;
		gateway_poll_started(gw, dev, 0);
		gateway_poll_done(gw, dev, ts_ms, values, 1, 0, NULL);
		gateway_set_state(gw, dev, DEV_ONLINE, NULL);
		return 0;
	}
	return -ENOENT;
}

void sink_count(struct sink *s, enum sink_counter c, uint64_t n)
{
	struct gw_stats *st = &s->gw->stats;

	switch (c) {
	case SINK_SCHEDULED: st->scheduled += n; break;
	case SINK_SKIPPED_BUSY: st->skipped_busy += n; break;
	case SINK_SKIPPED_OFFLINE: st->skipped_offline += n; break;
	case SINK_REQUESTS: st->requests += n; break;
	case SINK_FRAMES_DISCARDED: st->frames_discarded += n; break;
	}
}

int sink_post(struct sink *s, void (*fn)(void *arg), void *arg, void (*free_fn)(void *arg))
{
	return s->gw->q ? loopq_post(s->gw->q, fn, arg, free_fn) : -ENOTCONN;
}

int sink_coverage(struct sink *s, const struct device *dev, const struct coverage_sample *cs)
{
	const struct gw_config *cfg = s->gw->cfg;
	struct pending_cov *p;

	if (!cfg || !cfg->coverage || !s->gw->store)
		return 0;
	if (!cs->op || !cs->op[0] || strlen(cs->op) >= SURVEY_OP_MAX || !isfinite(cs->rsrp))
		return -EINVAL;
	if (s->ncov == COVERAGE_PENDING_MAX) {
		/* the store has not committed for a long time: the oldest go */
		memmove(s->cov, s->cov + 1, (s->ncov - 1) * sizeof(*s->cov));
		s->ncov--;
		if (!s->cov_dropped++)
			log_warn("coverage: the store does not commit; dropping the oldest samples");
	}
	if (s->ncov == s->cov_cap) {
		size_t n = s->cov_cap ? s->cov_cap * 2 : 16;
		struct pending_cov *nc = realloc(s->cov, n * sizeof(*nc));
		if (!nc)
			return -ENOMEM;
		s->cov = nc;
		s->cov_cap = n;
	}
	p = &s->cov[s->ncov++];
	p->s = *cs;
	snprintf(p->op, sizeof(p->op), "%s", cs->op);
	p->s.op = p->op;
	snprintf(p->source, sizeof(p->source), "%s", dev->conf->name);
	if (!isfinite(p->s.lat) || !isfinite(p->s.lon)) {
		p->s.lat = cfg->lat;
		p->s.lon = cfg->lon;
	}
	return 1;
}

/* Starting, stopping and moving one device on its driver's instance:
 * here, on the gateway's side, since the device's driver is in its config. */
int driver_start_device(const struct driver_set *set, struct device *dev)
{
	struct driver *d = driver_set_get(set, dev->conf->driver);

	return d ? d->ops->start_device(d, dev) : -ENODEV;
}

void driver_stop_device(const struct driver_set *set, struct device *dev)
{
	struct driver *d = driver_set_get(set, dev->conf->driver);

	if (d && dev->drv)
		d->ops->stop_device(d, dev);
}

void driver_move_device(const struct driver_set *set, struct device *dev)
{
	struct driver *d = driver_set_get(set, dev->conf->driver);

	if (d && dev->drv)
		d->ops->move_device(d, dev);
}
