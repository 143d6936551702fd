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
#include "sink.h"
#include "gateway.h"
#include "kpi.h"
#include "log.h"
#include "sdnotify.h"
#include "service.h"
#include "store.h"

static void on_sighup(evutil_socket_t fd, short what, void *arg)
{
	gateway_reload(arg);
}

int gateway_ops_init(struct gateway *gw)
{
	int ret;

	/* the health watch and the status page */
	if ((ret = services_start(gw, SERVICE_OPS)) < 0)
		return ret;
	gw->sighup_ev = evsignal_new(gw->base, SIGHUP, on_sighup, gw);
	if (!gw->sighup_ev || event_add(gw->sighup_ev, NULL) < 0)
		return -ENOMEM;
	return 0;
}

void gateway_ops_release(struct gateway *gw)
{
	/* the services (health, status page) stop in gateway_release() */
	if (gw->sighup_ev)
		event_free(gw->sighup_ev);
	gw->sighup_ev = NULL;
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

/* Where a device went in a reload, for services that point at devices (the
 * lighting schedule): the device of the same name in the new table, kept
 * running or restarted with an equal config (a service's refuse hook
 * refuses a reload that would change one it depends on). Called before the old table
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

/* A service that cannot take the new config without a restart: its reason. */
static const char *service_refuses(const struct gw_config *o, const struct gw_config *n, char *why, size_t len)
{
	const char *r;

	for (const struct service_ops *const *sv = services; *sv; sv++)
		if ((*sv)->refuse && (r = (*sv)->refuse(o, n, why, len)))
			return r;
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
	int links = o->nlinks != n->nlinks;
	for (size_t i = 0; !links && i < o->nlinks; i++)
		links = !str_eq(o->links[i].name, n->links[i].name) || !str_eq(o->links[i].uri, n->links[i].uri) ||
			!str_eq(o->links[i].topic_prefix, n->links[i].topic_prefix) ||
			o->links[i].carries != n->links[i].carries || o->links[i].nuris != n->links[i].nuris;
	for (size_t i = 0; !links && i < o->nlinks; i++)
		for (size_t k = 0; !links && k < o->links[i].nuris; k++)
			links = !str_eq(o->links[i].uris[k], n->links[i].uris[k]);
	if (links)
		strcat(what, " links");
	if (kpis)
		strcat(what, " kpis");
	if (groups)
		strcat(what, " groups");
	/* the services' sections read once (ingest's listener, environment) */
	for (const struct service_ops *const *sv = services; *sv; sv++) {
		const char *d = (*sv)->deferred ? (*sv)->deferred(o, n) : NULL;
		if (d && strlen(what) + strlen(d) + 2 < sizeof(what)) {
			strcat(what, " ");
			strcat(what, d);
		}
	}
	if (what[0])
		log_warn("reload: changes to%s take effect at the next restart", what);
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
			if (config_device_equal(od[i].conf, c)) {
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

	/* stop the old devices that go or change, each on its own: the
	 * others of their driver (a bus, a link) run on */
	for (size_t i = 0; i < on; i++) {
		if (old_kept[i])
			continue;
		driver_stop_device(&gw->drv, &od[i]);
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
	for (const struct service_ops *const *sv = services; *sv; sv++)
		if ((*sv)->devices_moved)
			(*sv)->devices_moved(gw, device_moved, &map);
	gw->devices = nd;
	gw->ndevices = nn;
	free(od);
	nd = NULL;
	for (size_t j = 0; j < nn; j++) {
		struct device *dv = &gw->devices[j];
		if (keep[j] >= 0)
			driver_move_device(&gw->drv, dv);
		else if ((ret = driver_start_device(&gw->drv, dv)) < 0)
			log_err("reload: device %s: cannot start: %s", dv->conf->name, strerror(-ret));
	}
	driver_set_settle(&gw->drv);
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

/* The reload is over (@ok, or refused): each service hears it (the health
 * watch counts it and shows it in status.json). */
static void reloaded(struct gateway *gw, int ok)
{
	for (const struct service_ops *const *sv = services; *sv; sv++)
		if ((*sv)->reloaded)
			(*sv)->reloaded(gw, ok);
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
	if ((fixed = restart_only(gw->cfg, ncfg)) || (fixed = service_refuses(gw->cfg, ncfg, lwhy, sizeof(lwhy)))) {
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
	for (const struct service_ops *const *sv = services; *sv; sv++)
		if ((*sv)->reload)
			(*sv)->reload(gw, gw->cfg);
	reloaded(gw, 1);
	log_info("reload: config %s applied in %.1f ms: %zu devices kept running, %zu added, %zu removed, "
		 "%zu restarted", gw->cfg->digest, (double)(mono_us() - t0) / 1000.0, kept, added, removed, changed);
	ret = 0;
	goto out;
refused:
	reloaded(gw, 0);
out:
	config_free(ncfg);
	sd_notify_send("READY=1");
	free(errs);
	return ret;
}
