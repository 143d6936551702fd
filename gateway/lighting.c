/* The schedule at run time (see lighting.h). Writes are asynchronous: a
 * device has at most one write in flight; its answer (read back by the
 * driver) is audited, and a failure is retried after lighting.retry_s.
 * Beside it: IOC commands (lighting_cmd.c), the derived series
 * (lighting_kpi.c), the audit table (audit.c), the CLI views (lighting_cli.c). */
#include "lighting.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/crypto.h>

#include "audit.h"
#include "config.h"
#include "gateway.h"
#include "lamp_alarm.h"
#include "lighting_int.h"
#include "lighting_kpi.h"
#include "log.h"
#include "rejects.h"
#include "secret.h"
#include "rollup.h"
#include "store.h"
#include "tokenbucket.h"

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

struct sqlite3 *lighting_db(struct lighting *l)
{
	return store_db(l->gw->store);
}

/* A device's ldev by its index; the table is a cache: after a reload
 * moved the devices (new addresses, maybe new indexes) a miss falls back to
 * a search and repairs the entry. */
struct ldev *lighting_ldev_of(struct lighting *l, const struct device *dev)
{
	struct ldev *ld = dev->index < l->nby_index ? l->by_index[dev->index] : NULL;

	if (ld && ld->dev == dev)
		return ld;
	ld = NULL;
	for (size_t i = 0; i < l->ndevs && !ld; i++)
		if (l->devs[i].dev == dev)
			ld = &l->devs[i];
	if (dev->index >= l->nby_index) {
		struct ldev **nv = realloc(l->by_index, (dev->index + 1) * sizeof(*nv));
		if (!nv)
			return ld;
		memset(nv + l->nby_index, 0, (dev->index + 1 - l->nby_index) * sizeof(*nv));
		l->by_index = nv;
		l->nby_index = dev->index + 1;
	}
	l->by_index[dev->index] = ld;
	return ld;
}

/* What the schedule wants for @ld at @now (cached, see struct ldev). */
const struct sched_want *lighting_want_of(struct lighting *l, struct ldev *ld, int64_t now)
{
	if (ld->want_gen != l->ov_gen || now < ld->want_at || now >= ld->want.next_ms) {
		if (sched_want(l->cfg, ld->dev->conf, now, l->ov, l->nov, &ld->want) < 0)
			ld->want.level = NAN;
		ld->want_at = now;
		ld->want_gen = l->ov_gen;
	}
	return &ld->want;
}

struct wr {
	struct ldev *ld;
	double level;
	double before;          /* the device's level before the write (%), NaN: unknown */
	char what[200];
	struct cmd_run *cmd;    /* the command this write answers, if any */
	size_t cmd_slot;
};

static void on_written(void *arg, int err, double readback, const char *reason)
{
	struct wr *w = arg;
	struct ldev *ld = w->ld;
	struct lighting *l = ld->l;
	char why[320];
	int64_t now = wall_ms();

	ld->busy = 0;
	if (w->cmd)
		lighting_cmd_target_done(w->cmd, w->cmd_slot, err == 0, isnan(readback) ? NAN : readback * ld->per_unit,
				err == 0 ? NULL : reason && *reason ? reason : strerror(-err));
	if (err == 0) {
		/* the lamps now change (or were confirmed where they are): lamp
		 * failure and day burner wait for them to settle */
		lamp_alarms_switched(l->alarms, (size_t)(ld - l->devs), now, !(w->before == w->level));
		ld->written = w->level;
		ld->force = 0;
		log_info("lighting %s: %s: %.0f %% written and read back", ld->dev->conf->name, w->what, w->level);
		audit_add(lighting_db(l), now, "schedule", NULL, "dim", ld->dev->conf->name, w->level, "done", w->what, NULL);
	} else {
		snprintf(why, sizeof(why), "%s: %s", w->what, reason && *reason ? reason : strerror(-err));
		ld->retry_ms = now + (int64_t)l->cfg->lighting->retry_s * 1000;
		log_warn("lighting %s: writing %.0f %% failed: %s; retrying in %d s", ld->dev->conf->name, w->level,
			 why, l->cfg->lighting->retry_s);
		audit_add(lighting_db(l), now, "schedule", NULL, "dim", ld->dev->conf->name, w->level, "failed", why, NULL);
	}
	free(w);
	/* a command came while this write was in flight: its turn now */
	if (ld->cmd && lighting_evaluate(l, ld, now) <= 0 && ld->cmd) {
		struct cmd_run *r = ld->cmd;
		ld->cmd = NULL;
		lighting_cmd_target_done(r, ld->cmd_slot, 0, NAN, "not written (device offline or nothing to write)");
	}
}

static void describe_want(const struct sched_want *sw, char *buf, size_t size)
{
	if (sw->override)
		snprintf(buf, size, "override %lld (%s%s%s)%s%s", (long long)sw->override->id,
			 sched_scope_name(sw->override->scope), sw->override->name[0] ? " " : "", sw->override->name,
			 sw->override->reason[0] ? ": " : "", sw->override->reason);
	else
		snprintf(buf, size, "program %s at %s", sw->program ? sw->program->name : "?",
			 sw->point ? sw->point->spec : "?");
}

/* The level the device reported at its last poll (%), else the level last
 * written, else NaN. */
static double polled_level(const struct lighting *l, const struct ldev *ld)
{
	const struct profile *p = ld->dev->conf->profile;

	for (size_t r = 0; p && ld->dev->last && r < p->nregs; r++)
		if (!strcmp(p->regs[r].metric, l->cfg->lighting->metric) && !isnan(ld->dev->last[r]))
			return ld->dev->last[r] * ld->per_unit;
	return ld->written;
}

int lighting_evaluate(struct lighting *l, struct ldev *ld, int64_t now)
{
	struct sched_want sw;
	struct wr *w;
	int rc;

	if (ld->busy)
		return -EBUSY;
	if (ld->dev->state != DEV_ONLINE || (now < ld->retry_ms && !ld->cmd))
		return -EAGAIN;
	sw = *lighting_want_of(l, ld, now);
	if (isnan(sw.level))
		return 0;
	ld->next_ms = sw.next_ms;
	if (!ld->force && !ld->cmd && sw.level == ld->written)
		return 0;
	if (!(w = calloc(1, sizeof(*w))))
		return -ENOMEM;
	w->ld = ld;
	w->level = sw.level;
	w->before = polled_level(l, ld);
	describe_want(&sw, w->what, sizeof(w->what));
	if (ld->cmd) {
		w->cmd = ld->cmd;
		w->cmd_slot = ld->cmd_slot;
		ld->cmd = NULL;
		size_t m = strlen(w->what);
		snprintf(w->what + m, sizeof(w->what) - m, " [command %s]", lighting_cmd_id(w->cmd));
	}
	ld->busy = 1;
	ld->pending = sw.level;
	/* a register with unit "/" is a ratio 0..1, any other is in percent */
	rc = gateway_write(l->gw, ld->dev, l->cfg->lighting->metric, sw.level / ld->per_unit, on_written, w);
	if (rc < 0) {
		ld->busy = 0;
		on_written(w, rc, NAN, rc == -ENOTSUP ? "the device's driver cannot write" : NULL);
	}
	return 1;
}

void lighting_tick(struct lighting *l, int64_t now)
{
	if (!l)
		return;
	rejects_tick(l->rejects, now);
	/* forget overrides long gone */
	if (now - l->pruned_ms > 60000 || now < l->pruned_ms) {   /* also after a step back */
		size_t k = 0;
		for (size_t i = 0; i < l->nov; i++)
			if (l->ov[i].expires_ms > now - 60000)
				l->ov[k++] = l->ov[i];
		if (k != l->nov)
			l->ov_gen++;
		l->nov = k;
		l->pruned_ms = now;
		/* ids older than the window cannot come back: their ts is refused;
		 * schedule writes are kept as long as minute rollups, commands and
		 * alarms as long as day rollups */
		static const char *const sql[] = {
			"DELETE FROM cmd_seen WHERE ts < ?1",
			"DELETE FROM audit WHERE source = 'schedule' AND ts < ?1",
			"DELETE FROM audit WHERE ts < ?1",
			"DELETE FROM alarm WHERE cleared < ?1",
		};
		const int64_t before[] = {
			now - 2000LL * l->cfg->lighting->window_s,
			now - 86400000LL * l->cfg->minute_retention_days,
			now - 86400000LL * l->cfg->day_retention_days,
			now - 86400000LL * l->cfg->day_retention_days,
		};
		for (int q = 0; q < 4; q++) {
			sqlite3_stmt *st;
			if (sqlite3_prepare_v2(lighting_db(l), sql[q], -1, &st, NULL) != SQLITE_OK)
				continue;
			sqlite3_bind_int64(st, 1, before[q]);
			if (sqlite3_step(st) != SQLITE_DONE)
				log_err("lighting: pruning: %s", sqlite3_errmsg(lighting_db(l)));
			sqlite3_finalize(st);
		}
	}
	for (size_t i = 0; i < l->ndevs; i++) {
		struct ldev *ld = &l->devs[i];
		lighting_evaluate(l, ld, now);
		double wanted = lighting_want_of(l, ld, now)->level;
		int switching = ld->busy || (!isnan(wanted) && !(wanted == ld->written));
		lamp_alarms_eval(l->alarms, i, now, wanted, now < ld->retry_ms, ld->last_poll_ms, switching);
		lighting_derived_tick(l, ld, now, wanted);
	}
}

void lighting_device_online(struct lighting *l, struct device *dev)
{
	struct ldev *ld = l ? lighting_ldev_of(l, dev) : NULL;

	if (!ld)
		return;
	/* after a restart or a reconnection the device's state is unknown */
	ld->force = 1;
	ld->written = NAN;
	ld->retry_ms = 0;
}

/* The HMAC key: the file's bytes up to the first line end. Like the MQTT
 * password file, it must not be readable by group or others. */
static int load_key(struct lighting *l, const char *path)
{
	char why[600];
	int ret;

	if (!path)
		return 0;
	if ((ret = secret_read_line(path, (char *)l->key, sizeof(l->key), why, sizeof(why))) < 0 && ret != -ENODATA)
		return log_error(ret, "lighting: commands.key_file%s %s", ret == -EPERM ? "" : ":", why);
	l->keylen = strlen((char *)l->key);
	if (l->keylen < 16) {
		OPENSSL_cleanse(l->key, sizeof(l->key));
		l->keylen = 0;
		return log_error(-EINVAL, "lighting: commands.key_file %s: the key must be at least 16 characters "
				 "(e.g. openssl rand -hex 32 > %s)", path, path);
	}
	return 0;
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
	l->by_index = calloc(gw->ndevices + 1, sizeof(*l->by_index));
	l->nby_index = gw->ndevices;
	l->ov_gen = 1;
	token_bucket_reset(&l->reject_answers);
	if (!l->devs || !l->by_index || rejects_new(&l->rejects, store_db(gw->store)) < 0) {
		rejects_free(l->rejects);
		free(l->devs);
		free(l->by_index);
		free(l);
		return -ENOMEM;
	}
	for (size_t i = 0; i < gw->ndevices; i++)
		if (sched_controls(cfg, gw->devices[i].conf)) {
			struct ldev *ld = &l->devs[l->ndevs++];
			ld->l = l;
			ld->dev = &gw->devices[i];
			l->by_index[i] = ld;
			ld->written = NAN;
			ld->force = 1;
			ld->per_unit = 1;
			for (size_t r = 0; r < ld->dev->conf->profile->nregs; r++) {
				const struct reg_def *rd = &ld->dev->conf->profile->regs[r];
				if (!strcmp(rd->metric, cfg->lighting->metric) && rd->unit && !strcmp(rd->unit, "/"))
					ld->per_unit = 100;
			}
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
	if ((ret = lighting_load_overrides(lighting_db(l), wall_ms(), &l->ov, &l->nov)) < 0 ||
	    (ret = load_key(l, cfg->lighting->key_file)) < 0) {
		lighting_free(l);
		return ret;
	}
	struct device **devs = calloc(l->ndevs + 1, sizeof(*devs));
	for (size_t i = 0; devs && i < l->ndevs; i++)
		devs[i] = l->devs[i].dev;
	ret = devs ? lamp_alarms_new(&l->alarms, gw, devs, l->ndevs) : -ENOMEM;
	free(devs);
	if (ret < 0) {
		lighting_free(l);
		return ret;
	}
	if (asprintf(&l->result_topic, "%s/%s/cmd-result/lighting", cfg->topic_prefix, cfg->gateway_id) < 0) {
		l->result_topic = NULL;
		lighting_free(l);
		return -ENOMEM;
	}
	if ((ret = lighting_derived_series(l)) < 0) {
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
	/* commands still waiting for a device: their answers cannot come now */
	for (size_t i = 0; i < l->ndevs; i++)
		if (l->devs[i].cmd) {
			struct cmd_run *r = l->devs[i].cmd;
			l->devs[i].cmd = NULL;
			lighting_cmd_target_done(r, l->devs[i].cmd_slot, 0, NAN, "gateway stopped");
		}
	OPENSSL_cleanse(l->key, sizeof(l->key));
	rejects_free(l->rejects);
	lamp_alarms_free(l->alarms);
	free(l->by_index);
	free(l->result_topic);
	free(l->devs);
	free(l->ov);
	free(l);
}

int lighting_add_override(struct lighting *l, struct sched_override *o, const char *cmd_id)
{
	sqlite3_stmt *st;
	struct sched_override *nv;
	int rc;

	if (sqlite3_prepare_v2(lighting_db(l), "INSERT INTO light_override (scope, name, level, start, expires, reason, cmd_id,"
			       " created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", -1, &st, NULL) != SQLITE_OK)
		return log_error(-EIO, "lighting: cannot store override: %s", sqlite3_errmsg(lighting_db(l)));
	sqlite3_bind_text(st, 1, sched_scope_name(o->scope), -1, SQLITE_STATIC);
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
		return log_error(-EIO, "lighting: cannot store override: %s", sqlite3_errmsg(lighting_db(l)));
	o->id = sqlite3_last_insert_rowid(lighting_db(l));
	if (!(nv = realloc(l->ov, (l->nov + 1) * sizeof(*nv))))
		return -ENOMEM;
	l->ov = nv;
	l->ov[l->nov++] = *o;
	l->ov_gen++;
	return 0;
}

int lighting_clear_overrides(struct lighting *l, enum sched_scope scope, const char *name, int64_t now)
{
	int n = 0;

	for (size_t i = 0; i < l->nov; i++) {
		struct sched_override *o = &l->ov[i];
		if (o->scope != scope || strcmp(o->name, name) || o->expires_ms <= now)
			continue;
		o->expires_ms = now;
		n++;
		l->ov_gen++;
		if (o->id > 0) {
			sqlite3_stmt *st;
			if (sqlite3_prepare_v2(lighting_db(l), "UPDATE light_override SET expires = ?1 WHERE id = ?2", -1, &st,
					       NULL) == SQLITE_OK) {
				sqlite3_bind_int64(st, 1, now);
				sqlite3_bind_int64(st, 2, o->id);
				if (sqlite3_step(st) != SQLITE_DONE)
					log_err("lighting: cannot end override %lld: %s", (long long)o->id,
						sqlite3_errmsg(lighting_db(l)));
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

/* A reload (gateway/ops.c) moves the devices into a new table; the ones
 * the schedule controls are kept as they are (ops refuses a reload that
 * adds, removes or changes one of them), so each has a new address. */
void lighting_devices_moved(struct lighting *l, struct device *(*moved)(void *arg, const struct device *old),
			    void *arg)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->ndevs; i++) {
		struct device *d = moved(arg, l->devs[i].dev);
		if (!d)     /* ops.c keeps every scheduled device, by name */
			BUG("a reload lost a device the lighting schedule controls");
		l->devs[i].dev = d;
	}
	lamp_alarms_devices_moved(l->alarms, moved, arg);
	lighting_forget_cache(l);
}

void lighting_forget_cache(struct lighting *l)
{
	if (l)
		l->ov_gen++;
}
