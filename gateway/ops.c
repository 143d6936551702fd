/* Health, status page and reload, wired to the gateway's loop. */
#include "ops.h"

#include <errno.h>
#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "driver.h"
#include "gateway.h"
#include "health.h"
#include "httpd.h"
#include "environment.h"
#include "ingest.h"
#include "kpi.h"
#include "lighting.h"
#include "log.h"
#include "schedule.h"
#include "sdnotify.h"
#include "store.h"

static void on_sighup(evutil_socket_t fd, short what, void *arg)
{
	gateway_reload(arg);
}

int gateway_ops_init(struct gateway *gw)
{
	char *path = config_data_path(gw->cfg, "status.json");
	int ret;

	if (!path)
		return -ENOMEM;
	ret = health_new(&gw->health, gw, path);
	free(path);
	if (ret < 0)
		return ret;
	if (gw->cfg->http_listen && (ret = httpd_new(&gw->httpd, gw)) < 0)
		return ret;
	gw->sighup_ev = evsignal_new(gw->base, SIGHUP, on_sighup, gw);
	if (!gw->sighup_ev || event_add(gw->sighup_ev, NULL) < 0)
		return -ENOMEM;
	return 0;
}

void gateway_ops_release(struct gateway *gw)
{
	httpd_free(gw->httpd);
	gw->httpd = NULL;
	if (gw->sighup_ev)
		event_free(gw->sighup_ev);
	gw->sighup_ev = NULL;
	health_free(gw->health);
	gw->health = NULL;
}

void gateway_ops_free_configs(struct gateway *gw)
{
	/* the first config is the caller's (gateway_init's cfg); the others,
	 * and the current one after a reload, came from reloads */
	if (!gw->nretired)
		return;
	for (size_t i = 1; i < gw->nretired; i++)
		config_free(gw->retired[i]);
	config_free(gw->cfg);
	gw->cfg = gw->retired[0];
	free(gw->retired);
	gw->retired = NULL;
	gw->nretired = 0;
}

/* Parse @path like `wardgw check`; the errors come back as lines. */
static int parse_config(const char *path, struct gw_config **out, char **errs)
{
	size_t n = 0;
	FILE *f = open_memstream(errs, &n);
	int ret;

	if (!f)
		return -ENOMEM;
	ret = config_load(path, f, out);
	fclose(f);
	return ret;
}

/* A refused reload: each error logged with its FILE:LINE, and one event
 * for the IOC with the first few. */
static void reload_refused(struct gateway *gw, const char *errs)
{
	json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:[]}", "kind", "config", "subject", "config",
				 "state", "rejected", "file", gw->cfg->path, "errors");
	json_t *list = body ? json_object_get(body, "errors") : NULL;
	char *copy = strdup(errs ? errs : ""), *save = NULL, *dump;
	size_t n = 0;

	for (char *line = copy ? strtok_r(copy, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
		log_err("reload: %s", line);
		if (list && n++ < 10)
			json_array_append_new(list, json_string(line));
	}
	log_err("reload: %s is not valid; the running configuration (%s) stays", gw->cfg->path, gw->cfg->digest);
	if (body && (dump = json_dumps(body, JSON_COMPACT))) {
		kpi_event(gw->kpi, "config", "config", dump);
		free(dump);
	}
	json_decref(body);
	free(copy);
}

static int str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Same value with NaN equal to NaN (unbounded min/max). */
static int num_eq(double a, double b)
{
	return a == b || (isnan(a) && isnan(b));
}

static int profile_equal(const struct profile *a, const struct profile *b)
{
	if (!str_eq(a->name, b->name) || a->nregs != b->nregs)
		return 0;
	for (size_t i = 0; i < a->nregs; i++) {
		const struct reg_def *x = &a->regs[i], *y = &b->regs[i];
		if (!str_eq(x->metric, y->metric) || !str_eq(x->unit, y->unit) || x->table != y->table ||
		    x->type != y->type || x->order.nbytes != y->order.nbytes ||
		    memcmp(x->order.src, y->order.src, sizeof(x->order.src)) || x->address != y->address ||
		    x->bit != y->bit || !num_eq(x->scale, y->scale) || !num_eq(x->offset, y->offset) ||
		    x->counter != y->counter || x->writable != y->writable || !num_eq(x->min, y->min) ||
		    !num_eq(x->max, y->max))
			return 0;
	}
	return 1;
}

/* Everything that makes a device poll differently: the common keys, the
 * profile's content and the driver's own keys (through its option table). */
static int device_equal(const struct device_conf *a, const struct device_conf *b)
{
	if (!str_eq(a->name, b->name) || a->driver != b->driver || a->poll_interval_ms != b->poll_interval_ms ||
	    a->timeout_ms != b->timeout_ms || a->backoff_max_ms != b->backoff_max_ms ||
	    !profile_equal(a->profile, b->profile))
		return 0;
	for (const struct opt *o = a->driver->opts; o && o->name; o++) {
		const char *x = (const char *)a->drv + o->offset, *y = (const char *)b->drv + o->offset;
		switch (o->type) {
		case OPT_INT: case OPT_BOOL:
			if (*(const int *)x != *(const int *)y)
				return 0;
			break;
		case OPT_DOUBLE:
			if (!num_eq(*(const double *)x, *(const double *)y))
				return 0;
			break;
		case OPT_STRING:
			if (!str_eq(*(char *const *)x, *(char *const *)y))
				return 0;
			break;
		}
	}
	return 1;
}

/* Where a device went in a reload, for modules that point at devices (the
 * lighting schedule): the device of the same name in the new table, kept
 * running or restarted with an equal config (lighting_fixed() refuses a
 * reload that would change a scheduled one). Called before the old table
 * is freed. */
struct device_map {
	const struct device *old;
	size_t nold;
	struct device *now;
	size_t nnow;
};

static struct device *device_moved(void *arg, const struct device *old)
{
	const struct device_map *m = arg;

	if (old < m->old || old >= m->old + m->nold)
		return NULL;
	for (size_t j = 0; j < m->nnow; j++)
		if (!strcmp(m->now[j].conf->name, old->conf->name))
			return &m->now[j];
	return NULL;
}

static int per_device(const struct driver_ops *d)
{
	return d->start_device && d->stop_device && d->move_device;
}

/* What a running gateway cannot change under its feet: the names in every
 * topic and row, and where the data lives. NULL when nothing of it changed. */
static const char *restart_only(const struct gw_config *o, const struct gw_config *n)
{
	if (!str_eq(o->gateway_id, n->gateway_id))
		return "gateway.id";
	if (!str_eq(o->topic_prefix, n->topic_prefix))
		return "mqtt.topic_prefix";
	if (!str_eq(o->data_dir, n->data_dir))
		return "gateway.data_dir";
	if (!str_eq(o->store_path, n->store_path))
		return "store.path";
	return NULL;
}

/* The lighting schedule keeps per-device state made at start-up (register
 * indexes, derived series, pending writes): the devices it controls must
 * stay as they are. Writes the device's name (or the section) into @why
 * and returns it when a reload would add, remove or change one. */
static const char *lighting_fixed(const struct gw_config *o, const struct gw_config *n, char *why, size_t len)
{
	if (!o->lighting && !n->lighting)
		return NULL;
	if (!o->lighting != !n->lighting) {
		snprintf(why, len, "the lighting section");
		return why;
	}
	for (int pass = 0; pass < 2; pass++) {
		const struct gw_config *a = pass ? n : o, *b = pass ? o : n;
		for (size_t i = 0; i < a->ndevices; i++) {
			const struct device_conf *d = &a->devices[i], *e = config_device(b, d->name);
			if (!sched_controls(a, d))
				continue;
			if (!e || !sched_controls(b, e) || !device_equal(d, e)) {
				snprintf(why, len, "device %s, which the lighting schedule controls,", d->name);
				return why;
			}
		}
	}
	return NULL;
}

/* Sections read once at start-up: say that their change waits. */
static void note_deferred(const struct gw_config *o, const struct gw_config *n)
{
	char what[200] = "";
	int kpis = o->nkpis != n->nkpis, groups = o->ngroups != n->ngroups;

	for (size_t i = 0; !kpis && i < o->nkpis; i++)
		kpis = !str_eq(o->kpis[i].name, n->kpis[i].name) || o->kpis[i].window_ms != n->kpis[i].window_ms ||
		       o->kpis[i].agg != n->kpis[i].agg || !str_eq(o->kpis[i].metric, n->kpis[i].metric) ||
		       !num_eq(o->kpis[i].target, n->kpis[i].target) || o->kpis[i].op != n->kpis[i].op;
	for (size_t i = 0; !groups && i < o->ngroups; i++)
		groups = !str_eq(o->groups[i].name, n->groups[i].name) || o->groups[i].ndevices != n->groups[i].ndevices;
	int uris = o->mqtt_nuris != n->mqtt_nuris || o->mqtt_connect_timeout_s != n->mqtt_connect_timeout_s;

	for (size_t i = 0; !uris && i < o->mqtt_nuris; i++)
		uris = !str_eq(o->mqtt_uris[i], n->mqtt_uris[i]);
	if (uris || !str_eq(o->mqtt_uri, n->mqtt_uri) || !str_eq(o->mqtt_client_id, n->mqtt_client_id) ||
	    !str_eq(o->mqtt_username, n->mqtt_username) || !str_eq(o->mqtt_password_file, n->mqtt_password_file) ||
	    o->mqtt_qos != n->mqtt_qos || o->mqtt_keepalive != n->mqtt_keepalive ||
	    !str_eq(o->mqtt_ca_file, n->mqtt_ca_file) || !str_eq(o->mqtt_cert_file, n->mqtt_cert_file) ||
	    !str_eq(o->mqtt_key_file, n->mqtt_key_file) || o->mqtt_max_inflight != n->mqtt_max_inflight)
		strcat(what, " mqtt");
	if (o->outbox_max_mb != n->outbox_max_mb || o->outbox_max_age_days != n->outbox_max_age_days ||
	    o->outbox_backfill_per_s != n->outbox_backfill_per_s || o->outbox_ack_timeout_s != n->outbox_ack_timeout_s)
		strcat(what, " outbox");
	if (o->store_max_db_mb != n->store_max_db_mb || o->batch_ms != n->batch_ms)
		strcat(what, " store.max_db_mb/batch_ms");
	if (!o->ingest != !n->ingest ||
	    (o->ingest && (!str_eq(o->ingest->listen, n->ingest->listen) ||
			   o->ingest->max_body_bytes != n->ingest->max_body_bytes)))
		strcat(what, " ingest.listen/max_body_bytes");
	if (kpis)
		strcat(what, " kpis");
	if (!environment_conf_equal(o->environment, n->environment))
		strcat(what, " environment");
	if (groups)
		strcat(what, " groups");
	if (what[0])
		log_warn("reload: changes to%s take effect at the next restart", what);
}

/* The status page: set up again on every reload, so that a new token or
 * password file (rotated secrets) applies. The new one is prepared before
 * the old one goes; a page that cannot be prepared leaves the old running. */
static void reload_http(struct gateway *gw, const struct gw_config *n)
{
	struct httpd *nh = NULL;

	if (!n->http_listen) {
		if (gw->httpd)
			log_info("http: status page off (no http section)");
		httpd_free(gw->httpd);
		gw->httpd = NULL;
		return;
	}
	if (httpd_prepare(&nh, gw, n) < 0) {
		log_err("reload: http: the status page keeps its old settings");
		return;
	}
	if (httpd_same_address(gw->httpd, n)) {
		/* the port must be free for the new listener */
		httpd_free(gw->httpd);
		gw->httpd = NULL;
	}
	if (httpd_listen(nh) < 0) {
		httpd_free(nh);
		if (gw->httpd)
			log_err("reload: http: the status page stays on its old address");
		else
			log_err("reload: http: no status page until the next reload");
		return;
	}
	httpd_free(gw->httpd);
	gw->httpd = nh;
}

/* The device part of a reload. Everything that can fail (store series for
 * new devices) happens before anything running is touched. */
static int apply_devices(struct gateway *gw, struct gw_config *ncfg, size_t *added, size_t *removed,
			 size_t *changed, size_t *kept)
{
	size_t on = gw->ndevices, nn = ncfg->ndevices;
	struct device *od = gw->devices, *nd = calloc(nn ? nn : 1, sizeof(*nd));
	/* keep[j]: the old device that new device j continues, or -1 */
	long *keep = calloc(nn ? nn : 1, sizeof(*keep));
	/* was[j]: the old device of new device j's name, restarted, or -1 */
	long *was = calloc(nn ? nn : 1, sizeof(*was));
	char *old_kept = calloc(on ? on : 1, 1);
	int ret = 0;
	int64_t now = wall_ms();

	*added = *removed = *changed = *kept = 0;
	if (!nd || !keep || !was || !old_kept) {
		ret = -ENOMEM;
		goto fail;
	}
	for (size_t j = 0; j < nn; j++) {
		const struct device_conf *c = &ncfg->devices[j];
		keep[j] = was[j] = -1;
		for (size_t i = 0; i < on; i++) {
			if (strcmp(od[i].conf->name, c->name))
				continue;
			if (device_equal(od[i].conf, c) && per_device(c->driver)) {
				keep[j] = (long)i;
				old_kept[i] = 1;
			} else {
				was[j] = (long)i;
				(*changed)++;
			}
			break;
		}
	}
	/* new and changed devices: set up, while nothing runs differently yet */
	if ((ret = store_begin(gw->store)) < 0)
		goto fail;
	for (size_t j = 0; j < nn && !ret; j++)
		if (keep[j] < 0 && (ret = gateway_device_init(gw, &nd[j], &ncfg->devices[j], j)) == 0 && was[j] >= 0)
			nd[j].due_us = od[was[j]].due_us;   /* restarted: same slots as before */
	int committed = store_commit(gw->store);
	if (ret >= 0 && committed < 0) {
		/* the new series rows are not stored: nothing may use them; a
		 * transaction left open would fail every later flush */
		sqlite3_exec(store_db(gw->store), "ROLLBACK", NULL, NULL, NULL);
		ret = committed;
	}
	if (ret < 0)
		goto fail;

	/* stop: whole drivers without per-device ops, and the old devices that go */
	for (const struct driver_ops *const *d = drivers; *d; d++)
		if (!per_device(*d))
			(*d)->stop(gw);
	for (size_t i = 0; i < on; i++) {
		if (old_kept[i])
			continue;
		if (per_device(od[i].conf->driver))
			od[i].conf->driver->stop_device(gw, &od[i]);
		kpi_device_state(gw->kpi, od[i].conf->name, now, "unknown", "stopped by reload");
		gateway_device_release(&od[i]);
	}
	/* the kept ones move into the new array as they are */
	for (size_t j = 0; j < nn; j++) {
		if (keep[j] < 0)
			continue;
		nd[j] = od[keep[j]];
		nd[j].conf = &ncfg->devices[j];
		nd[j].index = j;
		(*kept)++;
	}
	struct device_map map = { od, on, nd, nn };
	lighting_devices_moved(gw->lighting, device_moved, &map);
	gw->devices = nd;
	gw->ndevices = nn;
	free(od);
	nd = NULL;
	for (size_t j = 0; j < nn; j++) {
		struct device *dv = &gw->devices[j];
		if (keep[j] >= 0)
			dv->conf->driver->move_device(gw, dv);
		else if (per_device(dv->conf->driver) && (ret = dv->conf->driver->start_device(gw, dv)) < 0)
			log_err("reload: device %s: cannot start: %s", dv->conf->name, strerror(-ret));
	}
	for (const struct driver_ops *const *d = drivers; *d; d++)
		if (!per_device(*d) && (ret = (*d)->start(gw, gw->base)) < 0)
			log_err("reload: driver %s: cannot start: %s", (*d)->name, strerror(-ret));
	*added = nn - *kept - *changed;
	*removed = on - *kept - *changed;
	ret = 0;
	goto out;
fail:
	for (size_t j = 0; nd && j < nn; j++)
		if (keep && keep[j] < 0)
			gateway_device_release(&nd[j]);
	free(nd);
out:
	free(keep);
	free(was);
	free(old_kept);
	return ret;
}

int gateway_reload(struct gateway *gw)
{
	struct gw_config *ncfg = NULL, **nr;
	char *errs = NULL;
	const char *fixed;
	int64_t t0 = mono_us();
	size_t added, removed, changed, kept;
	int ret;

	sd_notify_send("RELOADING=1");
	log_info("reload: reading %s", gw->cfg->path);
	ret = parse_config(gw->cfg->path, &ncfg, &errs);
	if (ret < 0) {
		reload_refused(gw, errs);
		goto refused;
	}
	char lwhy[160];
	if ((fixed = restart_only(gw->cfg, ncfg)) || (fixed = lighting_fixed(gw->cfg, ncfg, lwhy, sizeof(lwhy)))) {
		char line[300];
		snprintf(line, sizeof(line), "%s: %s cannot change while running; restart the gateway "
			 "(systemctl restart wardgw)", ncfg->path, fixed);
		reload_refused(gw, line);
		ret = -EINVAL;
		goto refused;
	}
	/* the start-up config stays alive: the KPI engine, the lighting
	 * schedule and the publisher point into it (their sections wait for a
	 * restart); a config that a reload brought in is freed when the next
	 * one replaces it (the running devices point into the new one) */
	nr = gw->nretired ? gw->retired : realloc(gw->retired, (gw->nretired + 1) * sizeof(*nr));
	if (!nr) {
		ret = log_error(-ENOMEM, "reload: out of memory; the running configuration stays");
		goto refused;
	}
	gw->retired = nr;
	if ((ret = apply_devices(gw, ncfg, &added, &removed, &changed, &kept)) < 0) {
		log_err("reload: cannot set up the new devices: %s; the running configuration stays", strerror(-ret));
		goto refused;
	}
	note_deferred(gw->cfg, ncfg);
	if (!gw->nretired)
		gw->retired[gw->nretired++] = gw->cfg;
	else
		config_free(gw->cfg);
	gw->cfg = ncfg;
	ncfg = NULL;
	log_configure(gw->cfg->log_level, gw->cfg->log_target, gw->cfg->log_repeat_burst,
		      gw->cfg->log_repeat_interval_s);
	reload_http(gw, gw->cfg);
	health_reload(gw->health, 1);
	log_info("reload: config %s applied in %.1f ms: %zu devices kept running, %zu added, %zu removed, "
		 "%zu restarted", gw->cfg->digest, (double)(mono_us() - t0) / 1000.0, kept, added, removed, changed);
	ret = 0;
	goto out;
refused:
	health_reload(gw->health, 0);
out:
	config_free(ncfg);
	health_write_snapshot(gw->health);
	sd_notify_send("READY=1");
	free(errs);
	return ret;
}
