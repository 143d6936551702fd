/* Health, status page and reload, wired to the gateway's loop. */
#include "ops.h"

#include <errno.h>
#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "gateway.h"
#include "health.h"
#include "httpd.h"
#include "kpi.h"
#include "log.h"
#include "sdnotify.h"

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
	for (size_t i = 0; i < gw->nretired; i++)
		config_free(gw->retired[i]);
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

int gateway_reload(struct gateway *gw)
{
	struct gw_config *ncfg = NULL;
	char *errs = NULL;
	int64_t t0 = mono_us();
	int ret;

	sd_notify_send("RELOADING=1");
	log_info("reload: reading %s", gw->cfg->path);
	ret = parse_config(gw->cfg->path, &ncfg, &errs);
	if (ret < 0) {
		reload_refused(gw, errs);
		health_reload(gw->health, 0);
		goto out;
	}
	log_configure(ncfg->log_level, ncfg->log_target, ncfg->log_repeat_burst, ncfg->log_repeat_interval_s);
	log_info("reload: %s is valid (%s); log settings applied, other changes at the next restart",
		 ncfg->path, ncfg->digest);
	config_free(ncfg);
	health_reload(gw->health, 1);
	ret = 0;
out:
	log_info("reload: done in %.1f ms", (double)(mono_us() - t0) / 1000.0);
	sd_notify_send("READY=1");
	free(errs);
	return ret;
}
