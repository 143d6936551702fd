/* Lamp and cabinet alarms: see lamp_alarm.h. The conditions read the
 * device's last polled values by TALQ metric name, so any profile that
 * names its registers that way gets them. */
#include "lamp_alarm.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "gateway.h"
#include "kpi.h"
#include "log.h"
#include "schedule.h"
#include "senml.h"
#include "store.h"
#include "timeparse.h"

static const char *const names[AL_COUNT] = {
	"lampFailure", "lampUnexpectedOn", "lampVoltageTooHigh", "lampVoltageTooLow", "powerFactorTooLow",
	"relayFailure", "controlGearCommFailure", "cabinetDoorOpen", "supplyLoss", "deviceUnreachable",
};

const char *lamp_alarm_name(enum lamp_alarm a)
{
	return a < AL_COUNT ? names[a] : "?";
}

/* the metrics the conditions read */
enum { M_INSTALLED, M_ON, M_FAILED, M_DOOR, M_SUPPLY, M_RELAY, M_VOLTAGE, M_PF, M_COUNT };
static const char *const metric_names[M_COUNT] = {
	"lampsInstalled", "lampsOn", "lampsFailed", "cabinetDoorOpen", "supplyLoss", "relayFailure",
	"supplyVoltage", "powerFactor",
};

struct alarm_state {
	int cond;               /* the condition as last seen */
	int64_t cond_ms;        /* since when it is so */
	int active;             /* raised (reported) */
	int64_t raised_ms;
	int64_t row;            /* alarm table id while active */
	int lamps;              /* lamps affected (lamp alarms), the most seen */
	char detail[160];
};

struct adev {
	struct device *dev;
	int idx[M_COUNT];       /* profile register index, -1 if absent */
	struct alarm_state a[AL_COUNT];
	/* settle time: lamp failure and day burner wait until values read
	 * after settle_until_ms (a switch, a level change, a supply return) */
	int64_t settle_ms, restrike_ms;
	int64_t settle_until_ms;
	const char *settle_why;     /* what started it, for the log; NULL: settled */
	int supply_was_lost;        /* supply loss last seen (-1 unknown) */
};

struct lamp_alarms {
	struct gateway *gw;
	struct adev *d;
	size_t n;
};

static sqlite3 *db_of(struct lamp_alarms *la)
{
	return store_db(la->gw->store);
}

int lamp_alarms_new(struct lamp_alarms **out, struct gateway *gw, struct device **devs, size_t ndev)
{
	struct lamp_alarms *la = calloc(1, sizeof(*la));
	sqlite3_stmt *st;

	*out = NULL;
	if (!la || !(la->d = calloc(ndev + 1, sizeof(*la->d)))) {
		free(la);
		return -ENOMEM;
	}
	la->gw = gw;
	la->n = ndev;
	for (size_t i = 0; i < ndev; i++) {
		const struct profile *p = devs[i]->conf->profile;
		int settle_s, restrike_s;
		la->d[i].dev = devs[i];
		device_settle(devs[i]->conf, &settle_s, &restrike_s);
		la->d[i].settle_ms = settle_s * 1000LL;
		la->d[i].restrike_ms = restrike_s * 1000LL;
		la->d[i].supply_was_lost = -1;
		for (int m = 0; m < M_COUNT; m++) {
			la->d[i].idx[m] = -1;
			for (size_t r = 0; p && r < p->nregs; r++)
				if (!strcmp(p->regs[r].metric, metric_names[m]))
					la->d[i].idx[m] = (int)r;
		}
	}
	/* alarms still open from before a restart: they go on (and clear later) */
	if (sqlite3_prepare_v2(db_of(la), "SELECT id, device, alarm, raised, lamps FROM alarm WHERE cleared IS NULL",
			       -1, &st, NULL) == SQLITE_OK) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *dev = (const char *)sqlite3_column_text(st, 1), *al = (const char *)sqlite3_column_text(st, 2);
			for (size_t i = 0; dev && al && i < ndev; i++) {
				if (strcmp(la->d[i].dev->conf->name, dev))
					continue;
				for (int a = 0; a < AL_COUNT; a++)
					if (!strcmp(names[a], al)) {
						struct alarm_state *s = &la->d[i].a[a];
						s->active = s->cond = 1;
						s->row = sqlite3_column_int64(st, 0);
						s->raised_ms = s->cond_ms = sqlite3_column_int64(st, 3);
						s->lamps = sqlite3_column_int(st, 4);
					}
			}
		}
		sqlite3_finalize(st);
	}
	*out = la;
	return 0;
}

void lamp_alarms_free(struct lamp_alarms *la)
{
	if (!la)
		return;
	free(la->d);
	free(la);
}

static double val(const struct adev *d, int m)
{
	return d->idx[m] >= 0 && d->dev->last ? d->dev->last[d->idx[m]] : NAN;
}

static void event(struct lamp_alarms *la, struct adev *d, int a, int raised, int64_t now)
{
	struct alarm_state *s = &d->a[a];
	char body[600], esc[340], t[40];

	if (json_escape(esc, sizeof(esc), s->detail) < 0)
		esc[0] = 0;
	int n = snprintf(body, sizeof(body), "{\"kind\":\"alarm\",\"subject\":\"%s\",\"alarm\":\"%s\",\"state\":\"%s\","
			 "\"since\":%lld,\"lamps\":%d,\"detail\":\"%s\"", d->dev->conf->name, names[a],
			 raised ? "raised" : "cleared", (long long)(s->raised_ms / 1000), s->lamps, esc);
	if (n > 0 && (size_t)n < sizeof(body))
		snprintf(body + n, sizeof(body) - (size_t)n, raised ? "}" : ",\"duration_s\":%lld}",
			 (long long)((now - s->raised_ms) / 1000));
	if (la->gw->kpi)
		kpi_event(la->gw->kpi, "alarm", d->dev->conf->name, body);
	time_format(s->raised_ms, t, sizeof(t));
	if (raised)
		log_warn("alarm %s: %s raised: %s", d->dev->conf->name, names[a], s->detail);
	else
		log_info("alarm %s: %s cleared after %lld s", d->dev->conf->name, names[a],
			 (long long)((now - s->raised_ms) / 1000));
}

static void store_raise(struct lamp_alarms *la, struct adev *d, int a)
{
	struct alarm_state *s = &d->a[a];
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db_of(la), "INSERT INTO alarm (device, alarm, raised, lamps, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
			       -1, &st, NULL) != SQLITE_OK) {
		log_err("alarm: cannot store: %s", sqlite3_errmsg(db_of(la)));
		return;
	}
	sqlite3_bind_text(st, 1, d->dev->conf->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, names[a], -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, s->raised_ms);
	sqlite3_bind_int(st, 4, s->lamps);
	sqlite3_bind_text(st, 5, s->detail, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_DONE)
		s->row = sqlite3_last_insert_rowid(db_of(la));
	else
		log_err("alarm: cannot store: %s", sqlite3_errmsg(db_of(la)));
	sqlite3_finalize(st);
}

static void store_clear(struct lamp_alarms *la, struct adev *d, int a, int64_t now)
{
	struct alarm_state *s = &d->a[a];
	sqlite3_stmt *st;

	if (!s->row)
		return;
	if (sqlite3_prepare_v2(db_of(la), "UPDATE alarm SET cleared = ?1, lamps = ?2 WHERE id = ?3", -1, &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int(st, 2, s->lamps);
	sqlite3_bind_int64(st, 3, s->row);
	if (sqlite3_step(st) != SQLITE_DONE)
		log_err("alarm: cannot store the clearing: %s", sqlite3_errmsg(db_of(la)));
	sqlite3_finalize(st);
	s->row = 0;
}

/* One condition through the hysteresis: it must hold (or be gone) for
 * events.hold_s before the alarm is raised (or cleared). @cond < 0: unknown
 * (no data): nothing changes. */
static void step(struct lamp_alarms *la, struct adev *d, int a, int cond, int lamps, const char *detail, int64_t now)
{
	struct alarm_state *s = &d->a[a];
	int64_t hold = (int64_t)la->gw->cfg->event_hold_s * 1000;

	if (cond < 0)
		return;
	if (cond != s->cond) {
		s->cond = cond;
		s->cond_ms = now;
	}
	if (cond && s->active && lamps > s->lamps)
		s->lamps = lamps;
	if (cond && !s->active && now - s->cond_ms >= hold) {
		s->active = 1;
		s->raised_ms = s->cond_ms;
		s->lamps = lamps;
		snprintf(s->detail, sizeof(s->detail), "%s", detail);
		store_raise(la, d, a);
		event(la, d, a, 1, now);
	} else if (!cond && s->active && now - s->cond_ms >= hold) {
		s->active = 0;
		snprintf(s->detail, sizeof(s->detail), "%s", detail);
		store_clear(la, d, a, s->cond_ms);
		event(la, d, a, 0, s->cond_ms);
		s->lamps = 0;
	}
}

static int flag(double v)
{
	return isnan(v) ? -1 : v != 0;
}

/* Lamps switched or re-powered at @now wait @ms before they are judged:
 * only values read after now + ms count. */
static void settle(struct adev *d, int64_t now, int64_t ms, const char *why)
{
	if (now + ms > d->settle_until_ms)
		d->settle_until_ms = now + ms;
	if (ms > 0)
		log_debug("alarm %s: %s: lamp failure and day burner wait %lld s for the lamps to settle",
			  d->dev->conf->name, why, (long long)(ms / 1000));
	d->settle_why = why;
	/* a condition seen before the switch says nothing about the lamps
	 * after it: its hold starts again once they have settled */
	for (int a = AL_LAMP_FAILURE; a <= AL_DAY_BURNER; a++)
		if (!d->a[a].active)
			d->a[a].cond = 0;
}

void lamp_alarms_switched(struct lamp_alarms *la, size_t i, int64_t now, int changed)
{
	if (la && i < la->n)
		settle(&la->d[i], now, changed ? la->d[i].settle_ms : 0, changed ? "switched" : "level confirmed");
}

void lamp_alarms_eval(struct lamp_alarms *la, size_t i, int64_t now, double wanted, int write_failed,
		      int64_t polled_ms, int switching)
{
	const struct lighting_conf *lc = la->gw->cfg->lighting;
	struct adev *d;
	char det[160];

	if (!la || i >= la->n)
		return;
	d = &la->d[i];
	if (d->dev->state == DEV_UNKNOWN)
		return;
	snprintf(det, sizeof(det), "%s", d->dev->reason);
	step(la, d, AL_UNREACHABLE, d->dev->state == DEV_OFFLINE, 0, det, now);
	if (d->dev->state != DEV_ONLINE)
		return;         /* nothing else is known about a device that does not answer */

	double inst = val(d, M_INSTALLED), on = val(d, M_ON), failed = val(d, M_FAILED);
	double volt = val(d, M_VOLTAGE), pf = val(d, M_PF);
	int supply = flag(val(d, M_SUPPLY));

	/* the supply came back: lamps start again (HID lamps must cool down
	 * and restrike, up to 15 minutes) */
	if (supply == 0 && d->supply_was_lost == 1)
		settle(d, now, d->restrike_ms, "supply returned");
	if (supply >= 0)
		d->supply_was_lost = supply;
	/* lamp failure and day burner only on values read after the lamps had
	 * their time since the last switch (and never while a switch waits) */
	if (switching && !d->settle_why)
		settle(d, now, 0, "switching");
	int settled = !switching && polled_ms > d->settle_until_ms;
	if (settled && d->settle_why) {
		log_info("alarm %s: lamps settled (%s); lamp failure and day burner judged again", d->dev->conf->name,
			 d->settle_why);
		d->settle_why = NULL;
	}

	/* should be lit, gives no light: lamps the controller reports failed,
	 * or fewer lit than installed while the schedule wants light */
	int dark = -1;
	if (settled && (!isnan(failed) || (!isnan(inst) && !isnan(on)))) {
		double n = isnan(failed) ? 0 : failed;
		if (!isnan(wanted) && wanted > 0 && !isnan(inst) && !isnan(on) && inst - on > n && supply != 1)
			n = inst - on;
		dark = n > 0 ? (int)n : 0;
		snprintf(det, sizeof(det), "%d of %.0f lamps give no light%s", dark, isnan(inst) ? 0.0 : inst,
			 !isnan(wanted) && wanted > 0 ? " while scheduled on" : "");
		step(la, d, AL_LAMP_FAILURE, dark > 0, dark, det, now);
	}
	/* day burner: lit while the schedule wants them off */
	if (settled && !isnan(on) && !isnan(wanted)) {
		int burning = wanted == 0 && on > 0 ? (int)on : 0;
		snprintf(det, sizeof(det), "%d lamps lit while the schedule wants them off", burning);
		step(la, d, AL_DAY_BURNER, burning > 0, burning, det, now);
	}
	if (!isnan(volt) && supply != 1) {
		snprintf(det, sizeof(det), "supply %.1f V above %.1f V", volt, lc->voltage_max);
		step(la, d, AL_VOLTAGE_HIGH, volt > lc->voltage_max, 0, det, now);
		snprintf(det, sizeof(det), "supply %.1f V below %.1f V", volt, lc->voltage_min);
		step(la, d, AL_VOLTAGE_LOW, volt < lc->voltage_min, 0, det, now);
	}
	if (!isnan(pf)) {
		snprintf(det, sizeof(det), "power factor %.3f below %.2f with lamps lit", pf, lc->pf_min);
		/* the power factor means something only while lamps draw power */
		step(la, d, AL_PF_LOW, !isnan(on) && on > 0 ? pf < lc->pf_min : isnan(on) ? -1 : 0, 0, det, now);
	}
	step(la, d, AL_RELAY, flag(val(d, M_RELAY)), 0, "the controller reports a relay failure", now);
	step(la, d, AL_DOOR, flag(val(d, M_DOOR)), 0, "cabinet door open", now);
	step(la, d, AL_SUPPLY, supply, 0, "the controller reports loss of supply", now);
	step(la, d, AL_GEAR_COMM, write_failed, 0, "a write to the controller was not confirmed by read-back", now);
}

int lamp_alarms_print(FILE *f, sqlite3 *db, int64_t from_ms)
{
	sqlite3_stmt *st;
	int n = 0;

	if (sqlite3_prepare_v2(db, "SELECT device, alarm, raised, cleared, lamps, detail FROM alarm WHERE raised >= ?1"
			       " OR cleared IS NULL ORDER BY raised", -1, &st, NULL) != SQLITE_OK)
		return log_error(-EIO, "alarm: %s", sqlite3_errmsg(db));
	sqlite3_bind_int64(st, 1, from_ms);
	fprintf(f, "%-19s %-19s %-20s %-24s %10s %5s  %s\n", "raised (UTC+7)", "cleared", "device", "alarm", "duration",
		"lamps", "detail");
	while (sqlite3_step(st) == SQLITE_ROW) {
		char r[40], c[40] = "(active)", dur[24] = "-";
		int64_t raised = sqlite3_column_int64(st, 2);
		time_format(raised, r, sizeof(r));
		if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
			int64_t cl = sqlite3_column_int64(st, 3);
			time_format(cl, c, sizeof(c));
			snprintf(dur, sizeof(dur), "%lld s", (long long)((cl - raised) / 1000));
		}
		fprintf(f, "%.19s %-19.19s %-20s %-24s %10s %5d  %s\n", r, c, (const char *)sqlite3_column_text(st, 0),
			(const char *)sqlite3_column_text(st, 1), dur, sqlite3_column_int(st, 4),
			sqlite3_column_text(st, 5) ? (const char *)sqlite3_column_text(st, 5) : "");
		n++;
	}
	sqlite3_finalize(st);
	if (!n)
		fprintf(f, "(no alarms)\n");
	/* mean time to repair: cleared alarms, per kind, weighted per lamp for lamp failures */
	if (sqlite3_prepare_v2(db, "SELECT alarm, COUNT(*), SUM(lamps), AVG(cleared - raised) FROM alarm"
			       " WHERE cleared IS NOT NULL AND raised >= ?1 GROUP BY alarm ORDER BY alarm", -1, &st, NULL) != SQLITE_OK)
		return log_error(-EIO, "alarm: %s", sqlite3_errmsg(db));
	sqlite3_bind_int64(st, 1, from_ms);
	int first = 1;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (first)
			fprintf(f, "\nmean time to repair (cleared alarms)\n");
		first = 0;
		char lamps[32] = "";
		if (sqlite3_column_int(st, 2) > 0)
			snprintf(lamps, sizeof(lamps), " (%d lamps)", sqlite3_column_int(st, 2));
		fprintf(f, "  %-24s %4d alarms%-12s MTTR %.0f s\n", (const char *)sqlite3_column_text(st, 0),
			sqlite3_column_int(st, 1), lamps, sqlite3_column_double(st, 3) / 1000.0);
	}
	sqlite3_finalize(st);
	return 0;
}

void lamp_alarms_devices_moved(struct lamp_alarms *la, struct device *(*moved)(void *arg, const struct device *old),
			       void *arg)
{
	for (size_t i = 0; la && i < la->n; i++) {
		struct device *d = moved(arg, la->d[i].dev);
		if (!d)     /* ops.c keeps every scheduled device, by name */
			BUG("a reload lost a device the lighting schedule controls");
		la->d[i].dev = d;
	}
}
