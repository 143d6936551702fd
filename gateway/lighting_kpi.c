/* The lighting schedule's derived series (see lighting_kpi.h). */
#include "lighting_kpi.h"

#include <math.h>
#include <string.h>

#include "config.h"
#include "gateway.h"
#include "lighting_int.h"
#include "rollup.h"
#include "senml.h"
#include "store.h"

int lighting_derived_series(struct lighting *l)
{
	static const char *const m[3] = { "lampsInstalled", "lampsOn", "lampsFailed" };
	int ret = store_begin(l->gw->store);

	for (size_t i = 0; ret == 0 && i < l->ndevs; i++) {
		struct ldev *ld = &l->devs[i];
		const struct profile *p = ld->dev->conf->profile;
		const char *name, *unit;
		int counter;
		for (int k = 0; k < 3; k++) {
			ld->mi[k] = -1;
			for (size_t r = 0; r < p->nregs; r++)
				if (!strcmp(p->regs[r].metric, m[k]))
					ld->mi[k] = (int)r;
		}
		ld->installed = NAN;
		for (size_t k = 0; ret == 0 && k < NDERIVED && (name = lighting_derived_name(k, &unit, &counter)); k++) {
			ld->drollup[k] = -1;
			if ((ret = store_series(l->gw->store, ld->dev->conf->name, name, unit, &ld->dseries[k])) < 0)
				break;
			if (l->gw->rollup && (ld->drollup[k] = rollup_add_series(l->gw->rollup, ld->dseries[k], counter, 0)) < 0)
				ret = (int)ld->drollup[k];
		}
	}
	int c = store_commit(l->gw->store);
	return ret < 0 ? ret : c;
}

static void append_derived(struct lighting *l, struct ldev *ld, int64_t ts_ms, const double *v)
{
	for (int k = 0; k < NDERIVED; k++) {
		store_append(l->gw->store, ld->dseries[k], ts_ms, v[k], Q_GOOD);
		if (ld->drollup[k] >= 0)
			rollup_sample(l->gw->rollup, (size_t)ld->drollup[k], ts_ms, v[k]);
	}
	ld->last_append_ms = ts_ms;
}

void lighting_poll_done(struct lighting *l, struct device *dev, int64_t ts_ms)
{
	struct ldev *ld = l ? lighting_ldev_of(l, dev) : NULL;
	double v[NDERIVED];

	if (!ld || ld->mi[0] < 0 || ld->mi[1] < 0)
		return;
	const struct sched_want sw = *lighting_want_of(l, ld, ts_ms);
	double inst = dev->last[ld->mi[0]], on = dev->last[ld->mi[1]];
	double failed = ld->mi[2] >= 0 ? dev->last[ld->mi[2]] : 0;
	int lit_wanted = !isnan(sw.level) && sw.level > 0;
	if (isnan(inst) || isnan(on))
		return;
	ld->installed = inst;
	/* rated energy between two good polls; a longer gap was counted by
	 * lighting_derived_tick() while the device was away */
	if (ld->last_poll_ms && lit_wanted && ts_ms > ld->last_poll_ms &&
	    ts_ms - ld->last_poll_ms <= 3LL * dev->conf->poll_interval_ms)
		ld->rated_kwh += inst * l->cfg->lighting->lamp_rated_w * (double)(ts_ms - ld->last_poll_ms) / 3.6e9;
	ld->last_poll_ms = ts_ms;
	v[0] = lit_wanted ? inst : 0;
	v[1] = lit_wanted ? (on < inst ? on : inst) : 0;
	v[2] = !isnan(sw.level) && sw.level == 0 ? on : 0;
	v[3] = ld->rated_kwh;
	v[4] = isnan(failed) ? 0 : failed;
	v[5] = inst;
	append_derived(l, ld, ts_ms, v);
}

/* its meter catches up when it is back */
void lighting_derived_tick(struct lighting *l, struct ldev *ld, int64_t now, double wanted)
{
	int64_t dt = ld->last_tick_ms ? now - ld->last_tick_ms : 0;
	double v[NDERIVED];

	ld->last_tick_ms = now;
	if (isnan(ld->installed))
		return;
	if (ld->dev->state != DEV_ONLINE && !isnan(wanted) && wanted > 0 && dt > 0 && dt <= 10000)
		ld->rated_kwh += ld->installed * l->cfg->lighting->lamp_rated_w * (double)dt / 3.6e9;
	if (ld->dev->state == DEV_ONLINE || now - ld->last_append_ms < ld->dev->conf->poll_interval_ms)
		return;
	v[0] = !isnan(wanted) && wanted > 0 ? ld->installed : 0;
	v[1] = 0;
	v[2] = 0;
	v[3] = ld->rated_kwh;
	v[4] = ld->installed;
	v[5] = ld->installed;
	append_derived(l, ld, now, v);
}
