/* The lighting schedule as a service (service.h): its lighting { } section
 * (parsed by schedule.c), the run-time schedule and IOC commands
 * (lighting.c), the derived series and the lamp alarms it names for KPIs,
 * and what a reload may not change under it. */
#include "service.h"

#include <stdio.h>

#include "config.h"
#include "gateway.h"
#include "i18n.h"
#include "lighting.h"
#include "lighting_cmd.h"
#include "lighting_kpi.h"
#include "schedule.h"

static void parse(struct conf_ctx *ctx, const struct config_setting_t *s, struct gw_config *cfg)
{
	if (s)
		lighting_conf_parse(ctx, s, &cfg->lighting);
}

static void conf_free(struct gw_config *cfg)
{
	lighting_conf_free(cfg->lighting);
	cfg->lighting = NULL;
}

static int configured(const struct gw_config *cfg)
{
	return cfg->lighting != NULL;
}

/* Series the schedule derives for each device it controls. */
static int derived_metric(const struct gw_config *cfg, const char *metric, const char **unit, int *counter)
{
	return cfg->lighting && lighting_derived_metric(metric, unit, counter);
}

static void report(const struct gw_config *cfg, const char *path, FILE *out)
{
	size_t ctl = 0;

	if (!cfg->lighting)
		return;
	for (size_t i = 0; i < cfg->ndevices; i++)
		ctl += sched_controls(cfg, &cfg->devices[i]);
	fprintf(out, _("%s: lighting: %zu programs, %zu calendar rules, %zu overrides, %zu devices switched; "
		       "IOC commands %s\n"), path, cfg->lighting->nprograms, cfg->lighting->nrules,
		cfg->lighting->noverrides, ctl, cfg->lighting->key_file ? _("on") : _("off (no commands.key_file)"));
}

static int start(struct gateway *gw)
{
	return lighting_new(&gw->lighting, gw);
}

static void stop(struct gateway *gw)
{
	lighting_free(gw->lighting);    /* after the drivers: no write answer can follow */
	gw->lighting = NULL;
}


/* The schedule keeps per-device state made at start-up (register indexes,
 * derived series, pending writes): the devices it controls must stay as
 * they are. Writes the device's name (or the section) into @why and
 * returns it when a reload would add, remove or change one. */
static const char *refuse(const struct gw_config *o, const struct gw_config *n, char *why, size_t len)
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
			if (!e || !sched_controls(b, e) || !config_device_equal(d, e)) {
				snprintf(why, len, "device %s, which the lighting schedule controls,", d->name);
				return why;
			}
		}
	}
	return NULL;
}

static void devices_moved(struct gateway *gw, service_moved_fn moved, void *arg)
{
	lighting_devices_moved(gw->lighting, moved, arg);
}

static void device_online(struct gateway *gw, struct device *dev)
{
	lighting_device_online(gw->lighting, dev);
}

static void poll_done(struct gateway *gw, struct device *dev, int64_t ts_ms)
{
	lighting_poll_done(gw->lighting, dev, ts_ms);
}

static void tick(struct gateway *gw, int64_t now_ms)
{
	lighting_tick(gw->lighting, now_ms);
}

static void command(struct gateway *gw, const void *payload, size_t len)
{
	lighting_command(gw->lighting, payload, len);
}

const struct service_ops lighting_service = {
	.name = "lighting",
	.parse = parse,
	.conf_free = conf_free,
	.configured = configured,
	.derived_metric = derived_metric,
	.alarm_known = lighting_alarm_known,
	.report = report,
	.phase = SERVICE_SERIES,
	.start = start,
	.stop = stop,
	.refuse = refuse,
	.devices_moved = devices_moved,
	.device_online = device_online,
	.poll_done = poll_done,
	.tick = tick,
	.command_topic = "cmd/lighting",
	.command = command,
};
