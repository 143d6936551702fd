/* Periodic dead-spot map for the IOC (see coverage_pub.h). A map computed
 * while the link is down is kept (only the newest) and sent when the link
 * is back; the next interval replaces it anyway. */
#include "coverage_pub.h"
#include "i18n.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "coverage.h"
#include "gateway.h"
#include "kpi.h"
#include "log.h"
#include "publisher.h"
#include "store.h"
#include "timeparse.h"

struct coverage_pub {
	struct gateway *gw;
	struct event *ev;
	char *topic;
	char *pending;              /* computed, not yet handed to the link */
	char *last;                 /* the last map computed, for the status page */
	int64_t next_us;            /* next computation, monotonic */
	int failing;                /* the last computation failed: logged once */
	char live[512];             /* the last figures, for --live */
};

/* A KPI status for people (the published status keeps its English name). */
static const char *status_words(const char *st)
{
	if (!strcmp(st, "ok"))
		return _("on target");
	if (!strcmp(st, "behind"))
		return _("behind");
	if (!strcmp(st, "red_flag"))
		return _("RED FLAG");
	return st;
}

static void summarise(struct coverage_pub *p, const struct coverage_report *r)
{
	size_t off = 0, nd = 0;

	off += (size_t)snprintf(p->live, sizeof(p->live), _("coverage (%d cells)"), coverage_ward_cells(r));
	for (size_t i = 0; i < coverage_ngroups(r); i++)
		nd += coverage_group_at(r, i)->nclusters;
	for (int t = RAT_NR; t >= RAT_LTE && off < sizeof(p->live); t--) {
		const struct coverage_group *g = coverage_find(r, (enum rat)t, "any");
		if (!g)
			continue;
		off += (size_t)snprintf(p->live + off, sizeof(p->live) - off,
					_("  %s %.1f %% of measured cells >= %g dBm, %.1f %% of the ward measured, %.1f %% of samples"),
					t == RAT_NR ? "5G" : "4G", coverage_area_pct(g), g->threshold,
					coverage_measured_pct(r, g), coverage_samples_pct(g));
		/* the ward plan's target for this figure, if one is configured */
		const struct gw_config *cfg = p->gw->cfg;
		for (size_t k = 0; k < cfg->nkpis && off < sizeof(p->live); k++) {
			const struct kpi_def *d = &cfg->kpis[k];
			if (d->agg != AGG_COVERAGE || d->technology != t || d->figure != COV_AREA || d->op == OP_NONE ||
			    strcmp(d->coverage_op ? d->coverage_op : "any", "any"))
				continue;
			char dl[40] = "";
			if (d->deadline_ms)
				time_format(d->deadline_ms, dl, sizeof(dl));
			off += (size_t)snprintf(p->live + off, sizeof(p->live) - off, _(" (target %s %.0f %%%s%.10s: %s)"),
						d->op == OP_GE ? ">=" : "<=", d->target * 100 / d->scale,
						d->deadline_ms ? _(" by ") : "", dl,
						status_words(kpi_status(d, coverage_area_pct(g) / 100 * d->scale, wall_ms())));
			break;
		}
	}
	if (off < sizeof(p->live))
		snprintf(p->live + off, sizeof(p->live) - off, _("%s  dead spots %zu"),
			 coverage_ngroups(r) ? "" : _("  no samples yet"), nd);
}

static void compute(struct coverage_pub *p, int64_t now)
{
	const struct coverage_conf *c = p->gw->cfg->coverage;
	struct coverage_report *r;
	char *gj;

	p->next_us = mono_us() + (int64_t)c->publish_interval_s * 1000000;
	if (coverage_compute(store_db(p->gw->store), c, now, &r) < 0) {
		if (!p->failing)
			log_warn("coverage: cannot compute the ward's coverage; retrying every %d s",
				 c->publish_interval_s);
		p->failing = 1;
		return;
	}
	if (p->failing)
		log_info("coverage: computed again");
	p->failing = 0;
	summarise(p, r);
	gj = coverage_geojson(r);
	if (gj) {
		size_t nd = 0;
		for (size_t i = 0; i < coverage_ngroups(r); i++)
			nd += coverage_group_at(r, i)->nclusters;
		log_debug("coverage: %zu dead spots, %zu bytes of GeoJSON", nd, strlen(gj));
		free(p->pending);
		p->pending = gj;
		free(p->last);
		p->last = strdup(gj);
	}
	coverage_report_free(r);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct coverage_pub *p = arg;
	int64_t now = wall_ms();

	if (!p->gw->cfg->coverage)      /* a reload took the section away */
		return;
	if (mono_us() >= p->next_us)
		compute(p, now);
	/* the ward's link, and every other link that carries the map */
	if (p->pending && p->gw->pub && publisher_connected(p->gw->pub) &&
	    gateway_publish_retained(p->gw, LINK_CARRY_MAP, p->topic, p->pending, strlen(p->pending)) == 0) {
		free(p->pending);
		p->pending = NULL;
	}
}

int coverage_pub_new(struct coverage_pub **out, struct gateway *gw)
{
	struct coverage_pub *p = calloc(1, sizeof(*p));
	struct timeval tv = { 1, 0 };

	*out = NULL;
	if (!p)
		return -ENOMEM;
	p->gw = gw;
	if (asprintf(&p->topic, "%s/%s/coverage/deadspots", gw->cfg->topic_prefix, gw->cfg->gateway_id) < 0) {
		free(p);
		return -ENOMEM;
	}
	if (coverage_db_init(store_db(gw->store)) < 0) {
		coverage_pub_free(p);
		return -EIO;
	}
	p->next_us = mono_us() + 1000000;
	p->ev = event_new(gw->base, -1, EV_PERSIST, on_timer, p);
	if (!p->ev || event_add(p->ev, &tv) < 0) {
		coverage_pub_free(p);
		return -ENOMEM;
	}
	*out = p;
	return 0;
}

void coverage_pub_free(struct coverage_pub *p)
{
	if (!p)
		return;
	if (p->ev)
		event_free(p->ev);
	free(p->pending);
	free(p->last);
	free(p->topic);
	free(p);
}

const char *coverage_pub_live(const struct coverage_pub *p)
{
	return p && p->live[0] ? p->live : NULL;
}

const char *coverage_pub_geojson(const struct coverage_pub *p)
{
	return p ? p->last : NULL;
}
