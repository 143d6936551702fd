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
#include <sys/stat.h>
#include <openssl/crypto.h>

#include "command.h"
#include "config.h"
#include "gateway.h"
#include "lamp_alarm.h"
#include "log.h"
#include "outbox.h"
#include "rejects.h"
#include "secret.h"
#include "senml.h"
#include "rollup.h"
#include "store.h"
#include "timeparse.h"
#include "tokenbucket.h"

struct cmd_run;

#define NDERIVED 6              /* schedule.c's derived series */

struct ldev {
	struct lighting *l;
	struct cmd_run *cmd;    /* a command waits for this device's write */
	size_t cmd_slot;
	struct device *dev;
	double written;         /* level last written and read back; NaN: unknown */
	double pending;         /* level of the write in flight */
	int busy;
	int force;              /* write even if equal (device came back) */
	int64_t retry_ms;       /* not before this after a failure */
	int64_t next_ms;        /* the schedule's next change */
	/* derived series for the KPIs (schedule.c's lighting_derived_name order) */
	int64_t dseries[NDERIVED];
	long drollup[NDERIVED];
	int64_t last_append_ms; /* derived samples: at each poll, or each poll interval while away */
	int64_t last_tick_ms;
	int64_t last_poll_ms;
	double installed;       /* lampsInstalled last reported; NaN until then */
	double rated_kwh;       /* ratedEnergyScheduled, cumulative since start */
	int mi[3];              /* lampsInstalled, lampsOn, lampsFailed register indexes (-1: none) */
	double per_unit;        /* % per register unit: 100 for a ratio ("/"), 1 for percent */
	/* the schedule's answer, good from want_at until want.next_ms while
	 * the overrides are unchanged (want_gen): a tick costs nothing between
	 * switch points, whatever the size of the calendar and the groups */
	struct sched_want want;
	int64_t want_at;
	unsigned want_gen;      /* 0: not computed */
};

struct lighting {
	struct gateway *gw;
	const struct gw_config *cfg;
	struct ldev *devs;
	size_t ndevs;
	struct sched_override *ov;
	size_t nov;
	unsigned ov_gen;            /* bumped whenever ov changes (cached answers go) */
	struct ldev **by_index;     /* device index -> its ldev, or NULL (a cache, see ldev_of) */
	size_t nby_index;
	int64_t pruned_ms;
	struct lamp_alarms *alarms;
	struct token_bucket reject_answers;   /* answers to rejected commands: 30, 1 per second */
	uint64_t reject_unanswered;
	struct rejects *rejects;    /* the bounded audit of unauthenticated messages */
	unsigned char key[256];     /* HMAC key for IOC commands */
	size_t keylen;
	char *result_topic;
};

/* A command being carried out: one result per target device. */
struct cmd_result {
	const struct ldev *ld;
	int done, ok;
	double readback;        /* %, NaN unknown */
	char reason[160];
};

struct cmd_run {
	struct lighting *l;
	struct lighting_cmd c;
	size_t n, pending;
	struct cmd_result *res;
};

static void cmd_target_done(struct cmd_run *r, size_t slot, int ok, double readback, const char *reason);

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

/* A device's ldev by its index; the table is a cache: after a reload
 * moved the devices (new addresses, maybe new indexes) a miss falls back to
 * a search and repairs the entry. */
static struct ldev *ldev_of(struct lighting *l, const struct device *dev)
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
static const struct sched_want *want_of(struct lighting *l, struct ldev *ld, int64_t now)
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

static int evaluate(struct lighting *l, struct ldev *ld, int64_t now);
static void derived_tick(struct lighting *l, struct ldev *ld, int64_t now, double wanted);

static void on_written(void *arg, int err, double readback, const char *reason)
{
	struct wr *w = arg;
	struct ldev *ld = w->ld;
	struct lighting *l = ld->l;
	char why[320];
	int64_t now = wall_ms();

	ld->busy = 0;
	if (w->cmd)
		cmd_target_done(w->cmd, w->cmd_slot, err == 0, isnan(readback) ? NAN : readback * ld->per_unit,
				err == 0 ? NULL : reason && *reason ? reason : strerror(-err));
	if (err == 0) {
		/* the lamps now change (or were confirmed where they are): lamp
		 * failure and day burner wait for them to settle */
		lamp_alarms_switched(l->alarms, (size_t)(ld - l->devs), now, !(w->before == w->level));
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
	/* a command came while this write was in flight: its turn now */
	if (ld->cmd && evaluate(l, ld, now) <= 0 && ld->cmd) {
		struct cmd_run *r = ld->cmd;
		ld->cmd = NULL;
		cmd_target_done(r, ld->cmd_slot, 0, NAN, "not written (device offline or nothing to write)");
	}
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

/* Write what the schedule wants now if it differs from what was written
 * (or the device must be brought to it). A command waiting on the device
 * (ld->cmd) is answered by this write. 1: a write is on its way; 0:
 * nothing to do; -EBUSY / -EAGAIN: not now (in flight, offline, backing off). */
static int evaluate(struct lighting *l, struct ldev *ld, int64_t now)
{
	struct sched_want sw;
	struct wr *w;
	int rc;

	if (ld->busy)
		return -EBUSY;
	if (ld->dev->state != DEV_ONLINE || (now < ld->retry_ms && !ld->cmd))
		return -EAGAIN;
	sw = *want_of(l, ld, now);
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
		snprintf(w->what + m, sizeof(w->what) - m, " [command %s]", w->cmd->c.id);
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
			if (sqlite3_prepare_v2(db_of(l), sql[q], -1, &st, NULL) != SQLITE_OK)
				continue;
			sqlite3_bind_int64(st, 1, before[q]);
			if (sqlite3_step(st) != SQLITE_DONE)
				log_err("lighting: pruning: %s", sqlite3_errmsg(db_of(l)));
			sqlite3_finalize(st);
		}
	}
	for (size_t i = 0; i < l->ndevs; i++) {
		struct ldev *ld = &l->devs[i];
		evaluate(l, ld, now);
		double wanted = want_of(l, ld, now)->level;
		int switching = ld->busy || (!isnan(wanted) && !(wanted == ld->written));
		lamp_alarms_eval(l->alarms, i, now, wanted, now < ld->retry_ms, ld->last_poll_ms, switching);
		derived_tick(l, ld, now, wanted);
	}
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

/* The series derived per controlled device (lampsScheduled, ...), in the
 * store and the rollups like the profile's own, so KPIs can aggregate them. */
static int derived_series(struct lighting *l)
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
	struct ldev *ld = l ? ldev_of(l, dev) : NULL;
	double v[NDERIVED];

	if (!ld || ld->mi[0] < 0 || ld->mi[1] < 0)
		return;
	const struct sched_want sw = *want_of(l, ld, ts_ms);
	double inst = dev->last[ld->mi[0]], on = dev->last[ld->mi[1]];
	double failed = ld->mi[2] >= 0 ? dev->last[ld->mi[2]] : 0;
	int lit_wanted = !isnan(sw.level) && sw.level > 0;
	if (isnan(inst) || isnan(on))
		return;
	ld->installed = inst;
	/* rated energy between two good polls; a longer gap was counted by
	 * derived_tick() while the device was away */
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

/* Each second, for a device that does not answer: the rated energy of its
 * lamps the schedule wants on (its meter catches up when it is back), and
 * once per poll interval its lamps count as scheduled, not lit and faulty. */
static void derived_tick(struct lighting *l, struct ldev *ld, int64_t now, double wanted)
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
	if ((ret = lighting_load_overrides(db_of(l), wall_ms(), &l->ov, &l->nov)) < 0 ||
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
	if ((ret = derived_series(l)) < 0) {
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
			cmd_target_done(r, l->devs[i].cmd_slot, 0, NAN, "gateway stopped");
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
		/* every column may hold text from outside (a junk message's
		 * id or reason): escaped, one line each, no terminal control */
		char c[9][1200];
		for (int i = 2; i <= 8; i++) {
			const char *v = (const char *)sqlite3_column_text(st, i);
			log_escape(c[i], sizeof(c[i]), v ? v : "-", v ? (size_t)sqlite3_column_bytes(st, i) : 1);
		}
		fprintf(f, "%.19s %-8s %-24.64s %-14s %-22.64s %6s  %-9s %s\n", t, c[2], c[3], c[4], c[5], lv,
			c[7], c[8]);
		n++;
	}
	sqlite3_finalize(st);
	if (!n)
		fprintf(f, "(no audit rows%s)\n", from_ms ? " in that time" : "");
	return 0;
}

/* --- commands from the IOC --- */

static void publish_result(struct lighting *l, const char *json)
{
	if (l->gw->outbox && outbox_add(l->gw->outbox, LANE_PRIORITY, l->result_topic, json, strlen(json), wall_ms()) < 0)
		log_err("lighting: cannot queue a command result on %s", l->result_topic);
}

static void target_str(const struct lighting_cmd *c, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%s", c->scope == SCOPE_WARD ? "ward" : c->lamp ? "lamp" : scope_name(c->scope),
		 c->scope == SCOPE_WARD ? "" : " ", c->target);
}

/* reject: audit, log, answer; nothing is written. What passed the HMAC
 * check is audited in full; what did not is junk as far as anyone knows,
 * from the MQTT topic rather than the IOC, and its audit is bounded
 * (rejects.h) so that a flood cannot fill the disk. */
static void reject(struct lighting *l, const struct lighting_cmd *c, const char *why, const char *body,
		   size_t blen)
{
	char id[80] = "null", esc[300], tgt[80], *json = NULL;
	int64_t now = wall_ms();

	if (c->id[0])
		snprintf(id, sizeof(id), "\"%s\"", c->id);
	target_str(c, tgt, sizeof(tgt));
	if (c->authentic)
		audit_add(db_of(l), now, "ioc", c->id[0] ? c->id : NULL, c->have_action ? cmd_action_name(c->action) : NULL,
			  c->have_target ? tgt : NULL, c->have_action ? c->level : NAN, "rejected", why, body);
	else
		rejects_add(l->rejects, now, REJECTS_SOURCE_MQTT, c->id, why, body, blen);
	/* a flood of bad messages must not fill the log nor the outbox's
	 * priority lane (never dropped): answers and log lines are
	 * rate-limited, the audit keeps every one */
	if (token_bucket_take(&l->reject_answers, 30, 1, mono_ms(), NULL) < 0) {
		if (l->reject_unanswered++ % 100 == 0)
			log_warn("lighting: more than 30 rejected commands in a burst; answering at most one per second "
				 "(%llu unanswered so far, all in the audit)", (unsigned long long)l->reject_unanswered);
		return;
	}
	log_warn("lighting: command %s rejected: %s", c->id[0] ? c->id : "(no id)", why);
	if (json_escape(esc, sizeof(esc), why) < 0)
		snprintf(esc, sizeof(esc), "rejected");
	if (asprintf(&json, "{\"id\":%s,\"state\":\"rejected\",\"reason\":\"%s\",\"ts\":%lld}", id, esc,
		     (long long)(now / 1000)) >= 0) {
		publish_result(l, json);
		free(json);
	}
}

static void cmd_finish(struct cmd_run *r)
{
	struct lighting *l = r->l;
	char *json = NULL;
	size_t cap = 256 + r->n * 256, off;
	int all = 1, nok = 0;
	int64_t now = wall_ms();
	char tgt[80], summary[200];

	for (size_t i = 0; i < r->n; i++) {
		all &= r->res[i].ok;
		nok += r->res[i].ok;
	}
	if (!(json = malloc(cap)))
		goto out;
	off = (size_t)snprintf(json, cap, "{\"id\":\"%s\",\"state\":\"%s\",\"action\":\"%s\",\"results\":[", r->c.id,
			       all ? "done" : "failed", cmd_action_name(r->c.action));
	for (size_t i = 0; i < r->n && off < cap; i++) {
		const struct cmd_result *x = &r->res[i];
		char esc[340], rb[32] = "null";
		if (json_escape(esc, sizeof(esc), x->reason) < 0)
			esc[0] = 0;
		if (!isnan(x->readback))
			snprintf(rb, sizeof(rb), "%.6g", x->readback);
		off += (size_t)snprintf(json + off, cap - off, "%s{\"device\":\"%s\",\"state\":\"%s\",\"readback\":%s%s%s%s}",
					i ? "," : "", x->ld->dev->conf->name, x->ok ? "done" : "failed", rb,
					x->ok ? "" : ",\"reason\":\"", x->ok ? "" : esc, x->ok ? "" : "\"");
	}
	if (off < cap)
		snprintf(json + off, cap - off, "],\"ts\":%lld}", (long long)(now / 1000));
	publish_result(l, json);
	target_str(&r->c, tgt, sizeof(tgt));
	snprintf(summary, sizeof(summary), "%d of %zu devices written and read back", nok, r->n);
	for (size_t i = 0; i < r->n && !all; i++)
		if (!r->res[i].ok) {
			size_t m = strlen(summary);
			snprintf(summary + m, sizeof(summary) - m, "; %s: %s", r->res[i].ld->dev->conf->name, r->res[i].reason);
			break;
		}
	audit_add(db_of(l), now, "ioc", r->c.id, cmd_action_name(r->c.action), tgt, r->c.level, all ? "done" : "failed",
		  summary, NULL);
	log_info("lighting: command %s %s: %s", r->c.id, all ? "done" : "failed", summary);
out:
	free(json);
	free(r->res);
	free(r);
}

static void cmd_target_done(struct cmd_run *r, size_t slot, int ok, double readback, const char *reason)
{
	struct cmd_result *x = &r->res[slot];

	if (x->done)
		return;
	x->done = 1;
	x->ok = ok;
	x->readback = readback;
	snprintf(x->reason, sizeof(x->reason), "%.159s", reason ? reason : "");
	if (--r->pending == 0)
		cmd_finish(r);
}

static int targets_of(struct lighting *l, const struct lighting_cmd *c, struct ldev ***out, size_t *n, char *why,
		      size_t wlen)
{
	const struct gw_config *cfg = l->cfg;
	struct ldev **v = calloc(l->ndevs + 1, sizeof(*v));

	*n = 0;
	*out = v;
	if (!v)
		return -ENOMEM;
	if (c->scope == SCOPE_GROUP && !config_group(cfg, c->target)) {
		snprintf(why, wlen, "unknown target: no group '%s'", c->target);
		return -ENOENT;
	}
	if (c->scope == SCOPE_DEVICE && !config_device(cfg, c->target)) {
		snprintf(why, wlen, "unknown target: no %s '%s'", c->lamp ? "lamp" : "device", c->target);
		return -ENOENT;
	}
	for (size_t i = 0; i < l->ndevs; i++) {
		const char *name = l->devs[i].dev->conf->name;
		if (c->scope == SCOPE_WARD || (c->scope == SCOPE_GROUP && sched_in_group(cfg, c->target, name)) ||
		    (c->scope == SCOPE_DEVICE && !strcmp(c->target, name)))
			v[(*n)++] = &l->devs[i];
	}
	if (!*n) {
		snprintf(why, wlen, "unknown target: %s%s%s has no device whose profile has a writable %s",
			 c->scope == SCOPE_WARD ? "the ward" : c->target, "", "", cfg->lighting->metric);
		return -ENOENT;
	}
	return 0;
}

/* The replay store: an id is accepted once. 1 when seen before (*@when
 * its time), 0 when new (and now remembered), negative on a store error. */
static int seen_before(struct lighting *l, const char *id, int64_t now, int64_t *when)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db_of(l), "SELECT ts FROM cmd_seen WHERE id = ?1", -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*when = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (sqlite3_prepare_v2(db_of(l), "INSERT INTO cmd_seen (id, ts) VALUES (?1, ?2)", -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, now);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

void lighting_command(struct lighting *l, const void *payload, size_t len)
{
	struct lighting_cmd c;
	char why[300], body[4096];
	int64_t now = wall_ms(), when = 0;
	struct ldev **tg = NULL;
	size_t ntg = 0;
	struct cmd_run *r = NULL;
	int rc;

	if (!l)
		return;
	if (!payload) {
		/* too big to be read (publisher.h): no id, no signature checked */
		memset(&c, 0, sizeof(c));
		snprintf(why, sizeof(why), "too large: %zu bytes (at most 65536); not read", len);
		reject(l, &c, why, NULL, 0);
		return;
	}
	/* the raw message, for the audit (bounded, NUL-free) */
	snprintf(body, sizeof(body), "%.*s", (int)(len < sizeof(body) ? len : sizeof(body) - 1), (const char *)payload);
	if (!l->keylen) {
		memset(&c, 0, sizeof(c));
		lighting_cmd_parse(payload, len, NULL, 0, &c, why, sizeof(why));
		c.authentic = 0;
		reject(l, &c, "commands are disabled: lighting.commands.key_file is not set", body, strlen(body));
		return;
	}
	if ((rc = lighting_cmd_parse(payload, len, l->key, l->keylen, &c, why, sizeof(why))) < 0) {
		reject(l, &c, why, body, strlen(body));
		return;
	}
	/* before the replay store: a command meant for another gateway must
	 * not use up its id here */
	if (strcmp(c.gateway, l->cfg->gateway_id)) {
		snprintf(why, sizeof(why), "wrong gateway: the command is for gateway '%s', this is '%s'", c.gateway,
			 l->cfg->gateway_id);
		reject(l, &c, why, body, strlen(body));
		return;
	}
	if (llabs(now - c.ts_ms) > (int64_t)l->cfg->lighting->window_s * 1000) {
		snprintf(why, sizeof(why), "expired: ts is %lld s %s the gateway's clock (window %d s)",
			 (long long)(llabs(now - c.ts_ms) / 1000), c.ts_ms < now ? "behind" : "ahead of",
			 l->cfg->lighting->window_s);
		reject(l, &c, why, body, strlen(body));
		return;
	}
	if ((rc = seen_before(l, c.id, now, &when)) != 0) {
		char t[40];
		time_format(when, t, sizeof(t));
		if (rc > 0)
			snprintf(why, sizeof(why), "replayed: id %s was already received at %s", c.id, t);
		else
			snprintf(why, sizeof(why), "cannot check the replay store: %s", sqlite3_errmsg(db_of(l)));
		reject(l, &c, why, body, strlen(body));
		return;
	}
	if (c.expires_ms && c.expires_ms <= now) {
		reject(l, &c, "out of range: expires is already past", body, strlen(body));
		return;
	}
	if ((rc = targets_of(l, &c, &tg, &ntg, why, sizeof(why))) < 0) {
		reject(l, &c, rc == -ENOMEM ? "out of memory" : why, body, strlen(body));
		free(tg);
		return;
	}

	/* accepted */
	char tgt[80], *json = NULL;
	target_str(&c, tgt, sizeof(tgt));
	audit_add(db_of(l), now, "ioc", c.id, cmd_action_name(c.action), tgt, c.level, "accepted", c.reason, body);
	log_info("lighting: command %s accepted: %s %s%s", c.id, cmd_action_name(c.action), tgt,
		 isnan(c.level) ? "" : "");
	if (asprintf(&json, "{\"id\":\"%s\",\"state\":\"accepted\",\"devices\":%zu,\"ts\":%lld}", c.id, ntg,
		     (long long)(now / 1000)) >= 0) {
		publish_result(l, json);
		free(json);
	}

	if (c.action == CMD_CLEAR) {
		lighting_clear_overrides(l, c.scope, c.scope == SCOPE_WARD ? "" : c.target, now);
	} else {
		struct sched_override o = { 0 };
		o.scope = c.scope;
		snprintf(o.name, sizeof(o.name), "%s", c.scope == SCOPE_WARD ? "" : c.target);
		o.level = c.level;
		o.start_ms = now;
		o.expires_ms = c.expires_ms;
		if (!o.expires_ms) {
			/* on/off/dim without expires: until the schedule's next switch point */
			int64_t next = INT64_MAX;
			for (size_t i = 0; i < ntg; i++) {
				struct sched_want sw;
				if (sched_want(l->cfg, tg[i]->dev->conf, now, NULL, 0, &sw) == 0 && sw.next_ms < next)
					next = sw.next_ms;
			}
			o.expires_ms = next == INT64_MAX || next - now > 86400000LL ? now + 86400000LL : next;
		}
		snprintf(o.reason, sizeof(o.reason), "command %.40s%s%.40s", c.id, c.reason[0] ? ": " : "", c.reason);
		if (lighting_add_override(l, &o, c.id) < 0) {
			audit_add(db_of(l), now, "ioc", c.id, cmd_action_name(c.action), tgt, c.level, "failed",
				  "cannot store the override", NULL);
			free(tg);
			return;
		}
	}

	if (!(r = calloc(1, sizeof(*r))) || !(r->res = calloc(ntg, sizeof(*r->res)))) {
		free(r);
		free(tg);
		return;
	}
	r->l = l;
	r->c = c;
	r->n = r->pending = ntg;
	for (size_t i = 0; i < ntg; i++) {
		r->res[i].ld = tg[i];
		r->res[i].readback = NAN;
	}
	/* hold one reference while starting, so a synchronous answer cannot finish it early */
	r->pending++;
	for (size_t i = 0; i < ntg; i++) {
		struct ldev *ld = tg[i];
		if (ld->cmd) {
			struct cmd_run *old = ld->cmd;
			ld->cmd = NULL;
			cmd_target_done(old, ld->cmd_slot, 0, NAN, "superseded by a later command");
		}
		if (ld->dev->state != DEV_ONLINE) {
			char reason[260];
			snprintf(reason, sizeof(reason), "device %s%s%.160s; the gateway writes it when it is back",
				 device_state_name(ld->dev->state), ld->dev->reason[0] ? ": " : "", ld->dev->reason);
			cmd_target_done(r, i, 0, NAN, reason);
			continue;
		}
		ld->cmd = r;
		ld->cmd_slot = i;
		ld->force = 1;
		rc = evaluate(l, ld, now);
		if (rc == -EBUSY)
			continue;       /* answered when the write in flight is done */
		if (rc <= 0 && ld->cmd == r) {
			ld->cmd = NULL;
			cmd_target_done(r, i, 0, NAN, rc == 0 ? "nothing to write: no program and no override applies"
							  : "not written now");
		}
	}
	free(tg);
	if (--r->pending == 0)
		cmd_finish(r);
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
