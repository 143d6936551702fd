/* Sensors in public areas: the ward's air quality as VN_AQI (aqi.h) and
 * its flood watch (flood.h), per site and for the ward. Readings of the
 * configured sensors come from gateway_poll_done(); each closed hour gives
 * the hourly AQI of every site, each closed day the daily AQI, the hours
 * in each band, the share of good days and the hours flooded. Every value
 * is stored (table env_value) with a per-stream sequence number and target
 * status and queued in the outbox on {prefix}/{gw}/kpi/environment as
 * SenML; AQI band changes and flood levels are events. Loop thread. */
#ifndef WARDGW_ENVIRONMENT_H
#define WARDGW_ENVIRONMENT_H

#include <stdint.h>
#include <stdio.h>

#include "aqi.h"
#include "config.h"
#include "flood.h"

struct config_setting_t;
struct conf_ctx;
struct device;
struct evbuffer;
struct gateway;
struct environment;

/* What a site reads: the six VN_AQI parameters, then the water depth. */
enum { ENV_WATER = AQI_NPOLL, ENV_NSRC };

struct env_source {
	char *device, *metric;      /* NULL device: not measured at this site */
	struct conf_origin at;
};

struct env_site {
	char *name;
	struct env_source src[ENV_NSRC];
	struct flood_conf flood;    /* with a water depth */
	struct conf_origin at;
};

/* The KPIs that may carry a target (environment = { targets = { ... } }). */
enum env_kpi { ENV_AQI_HOUR, ENV_AQI_DAY, ENV_GOOD_DAYS, ENV_FLOOD_HOURS, ENV_NKPI };

struct environment_conf {
	int hour_s;                 /* length of an AQI hour: 3600 (shorter only for demos and tests) */
	double hour_min_coverage;   /* share of expected readings an hourly mean needs */
	int day_min_hours;          /* hourly means a 24-hour mean needs */
	int eight_hour_min;         /* hourly means an 8-hour mean needs */
	int share_days;             /* days behind the share of good days */
	struct env_site *sites;
	size_t nsites;
	struct kpi_def kpi[ENV_NKPI];   /* name, unit and target of each KPI */
	struct conf_origin at;
};

/** Parse environment = { ... } (config.c calls it; errors go to @ctx). */
void environment_conf_parse(struct conf_ctx *ctx, const struct config_setting_t *s, struct environment_conf **out);
void environment_conf_free(struct environment_conf *c);
/**
 * `wardgw check`'s line about the section: sites, the AQI hour (with a note
 * when it is not 3600 s), targets, and the sources read through a generic
 * profile (register maps no manual stands behind). Nothing without one.
 */
void environment_conf_report(const struct gw_config *cfg, const char *path, FILE *out);
/** Whether @a and @b (either may be NULL) configure the same sites, sources, levels and targets. */
int environment_conf_equal(const struct environment_conf *a, const struct environment_conf *b);

/** Start on @gw (its store, outbox and kpi engine exist). 0 or negative errno. */
int environment_new(struct environment **out, struct gateway *gw);
void environment_free(struct environment *e);
/** A poll of @dev succeeded at @ts_ms (its last values are set); NULL @e: nothing. */
void environment_poll_done(struct environment *e, const struct device *dev, int64_t ts_ms);
/** The figures as one line for `--live`, or NULL before the first. */
const char *environment_live(const struct environment *e);
/** The status page's section (HTML) into @b; nothing for a NULL @e. */
void environment_html(const struct environment *e, struct evbuffer *b);

#endif
