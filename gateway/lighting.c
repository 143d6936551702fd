/* The schedule at run time (see lighting.h). Writes are asynchronous: a
 * device has at most one write in flight; its answer (read back by the
 * driver) is audited, and a failure is retried after lighting.retry_s. */
#include "lighting.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "gateway.h"
#include "log.h"
#include "store.h"
#include "timeparse.h"

struct ldev {
	struct lighting *l;
	struct device *dev;
	double written;         /* level last written and read back; NaN: unknown */
	double pending;         /* level of the write in flight */
	int busy;
	int force;              /* write even if equal (device came back) */
	int64_t retry_ms;       /* not before this after a failure */
	int64_t next_ms;        /* the schedule's next change */
};

struct lighting {
	struct gateway *gw;
	const struct gw_config *cfg;
	struct ldev *devs;
	size_t ndevs;
	struct sched_override *ov;
	size_t nov;
	int64_t pruned_ms;
};

static const char *scope_name(enum sched_scope s)
{
	return s == SCOPE_WARD ? "ward" : s == SCOPE_GROUP ? "group" : "device";
}

int audit_add(sqlite3 *db, int64_t ts_ms, const char *source, const char *cmd_id, const char *action,
	      const char *target, double level, const char *verdict, const char *reason, const char *body)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, "INSERT INTO audit (ts, source, cmd_id, action, target, level, verdict, reason, body)"
			       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", -1, &st, NULL) != SQLITE_OK)
		return log_error(-EIO, "audit: cannot prepare: %s", sqlite3_errmsg(db));
	sqlite3_bind_int64(st, 1, ts_ms);
	sqlite3_bind_text(st, 2, source, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, cmd_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, action, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, target, -1, SQLITE_TRANSIENT);
	if (isnan(level))
		sqlite3_bind_null(st, 6);
	else
		sqlite3_bind_double(st, 6, level);
	sqlite3_bind_text(st, 7, verdict, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 8, reason, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 9, body, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return log_error(-EIO, "audit: cannot record %s %s: %s", source, verdict, sqlite3_errmsg(db));
	return 0;
}

int lighting_load_overrides(sqlite3 *db, int64_t now_ms, struct sched_override **v, size_t *n)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, "SELECT id, scope, name, level, start, expires, reason FROM light_override"
			       " WHERE expires > ?1 ORDER BY id", -1, &st, NULL) != SQLITE_OK)
		return log_error(-EIO, "lighting: cannot read overrides: %s", sqlite3_errmsg(db));
	sqlite3_bind_int64(st, 1, now_ms);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct sched_override *nv = realloc(*v, (*n + 1) * sizeof(*nv)), *o;
		const char *scope = (const char *)sqlite3_column_text(st, 1);
		if (!nv) {
			sqlite3_finalize(st);
			return -ENOMEM;
		}
		*v = nv;
		o = &nv[*n];
		memset(o, 0, sizeof(*o));
		o->id = sqlite3_column_int64(st, 0);
		o->scope = scope && !strcmp(scope, "ward") ? SCOPE_WARD : scope && !strcmp(scope, "group") ? SCOPE_GROUP : SCOPE_DEVICE;
		snprintf(o->name, sizeof(o->name), "%s", (const char *)sqlite3_column_text(st, 2) ?: "");
		o->level = sqlite3_column_double(st, 3);
		o->start_ms = sqlite3_column_int64(st, 4);
		o->expires_ms = sqlite3_column_int64(st, 5);
		snprintf(o->reason, sizeof(o->reason), "%s", (const char *)sqlite3_column_text(st, 6) ?: "");
		(*n)++;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : log_error(-EIO, "lighting: cannot read overrides: %s", sqlite3_errmsg(db));
}

static struct sqlite3 *db_of(struct lighting *l)
{
	return store_db(l->gw->store);
}

static struct ldev *ldev_of(struct lighting *l, const struct device *dev)
{
	for (size_t i = 0; i < l->ndevs; i++)
		if (l->devs[i].dev == dev)
			return &l->devs[i];
	return NULL;
}

struct wr {
	struct ldev *ld;
	double level;
	char what[200];
};

static void on_written(void *arg, int err, double readback, const char *reason)
{
	struct wr *w = arg;
	struct ldev *ld = w->ld;
	struct lighting *l = ld->l;
	char why[320];
	int64_t now = wall_ms();

	ld->busy = 0;
	if (err == 0) {
		ld->written = w->level;
		ld->force = 0;
		log_info("lighting %s: %s: %.0f %% written and read back", ld->dev->conf->name, w->what, w->level);
		audit_add(db_of(l), now, "schedule", NULL, "dim", ld->dev->conf->name, w->level, "done", w->what, NULL);
	} else {
		snprintf(why, sizeof(why), "%s: %s", w->what, reason && *reason ? reason : strerror(-err));
		ld->retry_ms = now + (int64_t)l->cfg->lighting->retry_s * 1000;
		log_warn("lighting %s: writing %.0f %% failed: %s; retrying in %d s", ld->dev->conf->name, w->level,
			 why, l->cfg->lighting->retry_s);
		audit_add(db_of(l), now, "schedule", NULL, "dim", ld->dev->conf->name, w->level, "failed", why, NULL);
	}
	free(w);
}

static void describe_want(const struct sched_want *sw, char *buf, size_t size)
{
	if (sw->override)
		snprintf(buf, size, "override %lld (%s%s%s)%s%s", (long long)sw->override->id,
			 scope_name(sw->override->scope), sw->override->name[0] ? " " : "", sw->override->name,
			 sw->override->reason[0] ? ": " : "", sw->override->reason);
	else
		snprintf(buf, size, "program %s at %s", sw->program ? sw->program->name : "?",
			 sw->point ? sw->point->spec : "?");
}

static void evaluate(struct lighting *l, struct ldev *ld, int64_t now)
{
	struct sched_want sw;
	struct wr *w;
	int rc;

	if (ld->busy || ld->dev->state != DEV_ONLINE || now < ld->retry_ms)
		return;
	if (sched_want(l->cfg, ld->dev->conf, now, l->ov, l->nov, &sw) < 0 || isnan(sw.level))
		return;
	ld->next_ms = sw.next_ms;
	if (!ld->force && sw.level == ld->written)
		return;
	if (!(w = calloc(1, sizeof(*w))))
		return;
	w->ld = ld;
	w->level = sw.level;
	describe_want(&sw, w->what, sizeof(w->what));
	ld->busy = 1;
	ld->pending = sw.level;
	/* the register is a ratio 0..1 (TALQ dim level 0..100 %) */
	rc = gateway_write(l->gw, ld->dev, l->cfg->lighting->metric, sw.level / 100.0, on_written, w);
	if (rc < 0) {
		ld->busy = 0;
		on_written(w, rc, NAN, rc == -ENOTSUP ? "the device's driver cannot write" : NULL);
	}
}

void lighting_tick(struct lighting *l, int64_t now)
{
	if (!l)
		return;
	/* forget overrides long gone */
	if (now - l->pruned_ms > 60000) {
		size_t k = 0;
		for (size_t i = 0; i < l->nov; i++)
			if (l->ov[i].expires_ms > now - 60000)
				l->ov[k++] = l->ov[i];
		l->nov = k;
		l->pruned_ms = now;
	}
	for (size_t i = 0; i < l->ndevs; i++)
		evaluate(l, &l->devs[i], now);
}

void lighting_device_online(struct lighting *l, struct device *dev)
{
	struct ldev *ld = l ? ldev_of(l, dev) : NULL;

	if (!ld)
		return;
	/* after a restart or a reconnection the device's state is unknown */
	ld->force = 1;
	ld->written = NAN;
	ld->retry_ms = 0;
}

int lighting_new(struct lighting **out, struct gateway *gw)
{
	struct lighting *l;
	const struct gw_config *cfg = gw->cfg;
	int ret;

	*out = NULL;
	if (!cfg->lighting)
		return 0;
	if (!(l = calloc(1, sizeof(*l))))
		return -ENOMEM;
	l->gw = gw;
	l->cfg = cfg;
	l->devs = calloc(gw->ndevices + 1, sizeof(*l->devs));
	if (!l->devs) {
		free(l);
		return -ENOMEM;
	}
	for (size_t i = 0; i < gw->ndevices; i++)
		if (sched_controls(cfg, gw->devices[i].conf)) {
			struct ldev *ld = &l->devs[l->ndevs++];
			ld->l = l;
			ld->dev = &gw->devices[i];
			ld->written = NAN;
			ld->force = 1;
		}
	for (size_t i = 0; i < cfg->lighting->noverrides; i++) {
		struct sched_override *nv = realloc(l->ov, (l->nov + 1) * sizeof(*nv));
		if (!nv) {
			lighting_free(l);
			return -ENOMEM;
		}
		l->ov = nv;
		l->ov[l->nov++] = cfg->lighting->overrides[i];
	}
	if ((ret = lighting_load_overrides(db_of(l), wall_ms(), &l->ov, &l->nov)) < 0) {
		lighting_free(l);
		return ret;
	}
	log_info("lighting: schedule controls %zu devices; %zu programs, %zu calendar rules, %zu overrides",
		 l->ndevs, cfg->lighting->nprograms, cfg->lighting->nrules, l->nov);
	*out = l;
	return 0;
}

void lighting_free(struct lighting *l)
{
	if (!l)
		return;
	free(l->devs);
	free(l->ov);
	free(l);
}

int lighting_add_override(struct lighting *l, struct sched_override *o, const char *cmd_id)
{
	sqlite3_stmt *st;
	struct sched_override *nv;
	int rc;

	if (sqlite3_prepare_v2(db_of(l), "INSERT INTO light_override (scope, name, level, start, expires, reason, cmd_id,"
			       " created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", -1, &st, NULL) != SQLITE_OK)
		return log_error(-EIO, "lighting: cannot store override: %s", sqlite3_errmsg(db_of(l)));
	sqlite3_bind_text(st, 1, scope_name(o->scope), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, o->name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_double(st, 3, o->level);
	sqlite3_bind_int64(st, 4, o->start_ms);
	sqlite3_bind_int64(st, 5, o->expires_ms);
	sqlite3_bind_text(st, 6, o->reason, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 7, cmd_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 8, wall_ms());
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return log_error(-EIO, "lighting: cannot store override: %s", sqlite3_errmsg(db_of(l)));
	o->id = sqlite3_last_insert_rowid(db_of(l));
	if (!(nv = realloc(l->ov, (l->nov + 1) * sizeof(*nv))))
		return -ENOMEM;
	l->ov = nv;
	l->ov[l->nov++] = *o;
	return 0;
}

int lighting_clear_overrides(struct lighting *l, enum sched_scope scope, const char *name)
{
	int64_t now = wall_ms();
	int n = 0;

	for (size_t i = 0; i < l->nov; i++) {
		struct sched_override *o = &l->ov[i];
		if (o->scope != scope || strcmp(o->name, name) || o->expires_ms <= now)
			continue;
		o->expires_ms = now;
		n++;
		if (o->id > 0) {
			sqlite3_stmt *st;
			if (sqlite3_prepare_v2(db_of(l), "UPDATE light_override SET expires = ?1 WHERE id = ?2", -1, &st,
					       NULL) == SQLITE_OK) {
				sqlite3_bind_int64(st, 1, now);
				sqlite3_bind_int64(st, 2, o->id);
				if (sqlite3_step(st) != SQLITE_DONE)
					log_err("lighting: cannot end override %lld: %s", (long long)o->id,
						sqlite3_errmsg(db_of(l)));
				sqlite3_finalize(st);
			}
		}
	}
	return n;
}

const struct sched_override *lighting_overrides(const struct lighting *l, size_t *n)
{
	*n = l ? l->nov : 0;
	return l ? l->ov : NULL;
}

/* --- wardgw schedule / wardgw audit --- */

static void hm(int64_t ms, char *buf, size_t size)
{
	char t[40];

	if (!ms) {
		snprintf(buf, size, "--:--");
		return;
	}
	time_format(ms, t, sizeof(t));
	snprintf(buf, size, "%.5s", t + 11);
}

static const char *const wday3[7] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };

void lighting_print_schedule(FILE *f, const struct gw_config *cfg, int32_t day,
			     const struct sched_override *ov, size_t nov)
{
	const struct lighting_conf *lc = cfg->lighting;
	struct sched_sun sun;
	char d0[16], d1[16], a[8], b[8], c[8], e[8];
	size_t ndev = 0;

	if (!lc) {
		fprintf(f, "%s: no lighting = { ... } section: the gateway switches no lamps\n", cfg->path);
		return;
	}
	sched_sun_for(cfg, day, &sun);
	format_ward_date(day, d0, sizeof(d0));
	format_ward_date(day + 1, d1, sizeof(d1));
	fprintf(f, "lighting day %s (%s) to %s, at %.4f %c %.4f %c, ward time UTC+7 (Asia/Ho_Chi_Minh)\n", d0,
		wday3[((day % 7) + 7 + 4) % 7], d1, fabs(cfg->lat), cfg->lat >= 0 ? 'N' : 'S', fabs(cfg->lon),
		cfg->lon >= 0 ? 'E' : 'W');
	hm(sun.sunset, a, sizeof(a));
	hm(sun.dusk, b, sizeof(b));
	hm(sun.dawn, c, sizeof(c));
	hm(sun.sunrise, e, sizeof(e));
	fprintf(f, "  %s  sunset %s  dusk %s    %s  dawn %s  sunrise %s", d0, a, b, d1, c, e);
	if (sun.sunset && sun.sunrise)
		fprintf(f, "    night %lld h %02lld min\n", (long long)((sun.sunrise - sun.sunset) / 3600000),
			(long long)((sun.sunrise - sun.sunset) / 60000 % 60));
	else
		fprintf(f, "    (the Sun does not cross the horizon)\n");

	/* one block per program, with the devices it runs that night */
	for (size_t pi = 0; pi <= lc->nprograms; pi++) {
		const struct sched_program *p = pi < lc->nprograms ? &lc->programs[pi] : NULL;
		size_t n = 0;
		for (size_t i = 0; i < cfg->ndevices; i++) {
			const struct device_conf *dc = &cfg->devices[i];
			if (!sched_controls(cfg, dc) || sched_program_for(cfg, dc->name, day, NULL) != p)
				continue;
			if (!n)
				fprintf(f, p ? "\nprogram %s for " : "\nno calendar rule (left alone): ", p ? p->name : "");
			if (n < 8)
				fprintf(f, "%s%s", n ? ", " : "", dc->name);
			n++;
			ndev++;
		}
		if (!n)
			continue;
		if (n > 8)
			fprintf(f, " and %zu more", n - 8);
		fprintf(f, " (%zu device%s)\n", n, n == 1 ? "" : "s");
		if (!p)
			continue;
		struct sched_time pts[64];
		size_t np = sched_points(cfg, p, day, pts, 64);
		for (size_t i = 0; i < np; i++) {
			char t[40];
			time_format(pts[i].t_ms, t, sizeof(t));
			fprintf(f, "  %.10s %.5s  %-12s %5.0f %%%s\n", t, t + 11, pts[i].pt->spec, pts[i].level,
				pts[i].level == 0 ? "  off" : "");
		}
		if (np < p->npoints)
			fprintf(f, "  (%zu astronomical points dropped: no sunset or sunrise)\n", p->npoints - np);
	}
	if (!ndev)
		fprintf(f, "\nno device's profile has a writable '%s': nothing is switched\n", lc->metric);

	int64_t from = sun.sunset ? sun.sunset - 6 * 3600000LL : 0, to = from + 24 * 3600000LL;
	int shown = 0;
	for (size_t i = 0; i < nov; i++) {
		const struct sched_override *o = &ov[i];
		char s1[40], s2[40];
		if (o->expires_ms <= from || o->start_ms >= to)
			continue;
		if (!shown++)
			fprintf(f, "\noverrides (win over the programs while in force):\n");
		time_format(o->start_ms, s1, sizeof(s1));
		time_format(o->expires_ms, s2, sizeof(s2));
		fprintf(f, "  %s %-6s %-20s %5.0f %%  %.16s .. %.16s  %s%s\n", o->id > 0 ? "stored" : "config",
			scope_name(o->scope), o->scope == SCOPE_WARD ? "(whole ward)" : o->name, o->level, s1, s2,
			o->reason, o->id > 0 ? "" : "");
	}
}

int lighting_print_audit(FILE *f, sqlite3 *db, int64_t from_ms, int last)
{
	sqlite3_stmt *st;
	int n = 0;

	if (sqlite3_prepare_v2(db, "SELECT * FROM (SELECT id, ts, source, cmd_id, action, target, level, verdict, reason"
			       " FROM audit WHERE ts >= ?1 ORDER BY id DESC LIMIT ?2) ORDER BY id", -1, &st, NULL) != SQLITE_OK)
		return log_error(-EIO, "audit: %s", sqlite3_errmsg(db));
	sqlite3_bind_int64(st, 1, from_ms);
	sqlite3_bind_int(st, 2, last);
	fprintf(f, "%-19s %-8s %-24s %-14s %-22s %6s  %-9s %s\n", "time (UTC+7)", "source", "command id", "action", "target",
		"level", "verdict", "reason");
	while (sqlite3_step(st) == SQLITE_ROW) {
		char t[40], lv[16] = "-";
		time_format(sqlite3_column_int64(st, 1), t, sizeof(t));
		if (sqlite3_column_type(st, 6) != SQLITE_NULL)
			snprintf(lv, sizeof(lv), "%.0f %%", sqlite3_column_double(st, 6));
#define COL(i) (sqlite3_column_text(st, i) ? (const char *)sqlite3_column_text(st, i) : "-")
		fprintf(f, "%.19s %-8s %-24.64s %-14s %-22.64s %6s  %-9s %s\n", t, COL(2), COL(3), COL(4), COL(5), lv,
			COL(7), COL(8));
#undef COL
		n++;
	}
	sqlite3_finalize(st);
	if (!n)
		fprintf(f, "(no audit rows%s)\n", from_ms ? " in that time" : "");
	return 0;
}
