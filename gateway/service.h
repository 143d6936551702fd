/* The service table: every part of the gateway that is not a driver (the
 * lighting schedule, coverage, push ingest, environment, the status page,
 * the health watch, the KPI definitions) is a const struct service_ops, listed statically in
 * service.c, beside the driver table (driver.h). The core (config.c,
 * gateway.c, ops.c, main.c) loops over the table and knows no part by name:
 * config.c hands each part its own section, gateway.c its events.
 * Like collectd's plugins: the daemon holds the list, each plugin its keys. */
#ifndef WARDGW_SERVICE_H
#define WARDGW_SERVICE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct conf_ctx;
struct config_setting_t;
struct device;
struct gateway;
struct gw_config;
struct kpi_def;
struct kpi_result;
struct opt;
struct sqlite3;

/* When a service starts in gateway_init(), in this order. */
enum service_phase {
	SERVICE_SERIES,     /* after the devices are set up, before the rollups
			     * catch up: registers store series of its own */
	SERVICE_DATA,       /* after the publisher, before the drivers start */
	SERVICE_OPS,        /* after the drivers: watches and shows (health, page) */
};

/* A subcommand of the wardgw tool that a service brings:
 * `wardgw NAME ARGS...` runs @run(argc, argv) with argv[0] = NAME and
 * exits with what it returns. */
struct service_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
};

/* Maps a device of the old table to its place in the new one (reload). */
typedef struct device *(*service_moved_fn)(void *arg, const struct device *old);

/* Every hook may be NULL. Config hooks run while parsing (any thread that
 * parses); run-time hooks on the loop thread. A service keeps its parsed
 * state behind an opaque pointer of its own in struct gw_config (filled by
 * parse, freed by conf_free) and its running state behind one in struct
 * gateway (made by start, freed by stop); the core never looks inside. */
struct service_ops {
	const char *name;           /* its config section; NULL: it has none */
	/* The section's plain keys (NULL-terminated table), parsed by the
	 * service through conf_apply_section(): for documentation and tools. */
	const struct opt *opts;
	/* The gateway has work without any device when the section is there
	 * (it takes pushes, keeps coverage). */
	int standalone;

	/* --- configuration (config.c) --- */
	/* Parse the section @s (NULL: the file has none; set defaults) into
	 * @cfg's pointer of this service. Errors with conf_error() or through
	 * conf_apply_section(), each at its file:line. After devices and
	 * groups, in table order (the KPIs, last, see every other section). */
	void (*parse)(struct conf_ctx *ctx, const struct config_setting_t *s, struct gw_config *cfg);
	/* Checks across sections, once everything is parsed. */
	void (*check)(struct conf_ctx *ctx, const struct gw_config *cfg);
	/* Free what parse put into @cfg. */
	void (*conf_free)(struct gw_config *cfg);
	/* Whether @cfg configures the service (its section is there). */
	int (*configured)(const struct gw_config *cfg);
	/* A series the service derives for devices (not in any profile):
	 * 1 when @metric is one, with its *@unit and *@counter. */
	int (*derived_metric)(const struct gw_config *cfg, const char *metric, const char **unit, int *counter);
	/* Whether @name is an alarm the service raises (KPI aggregate mttr). */
	int (*alarm_known)(const char *name);
	/* The KPI aggregate the service computes (enum kpi_agg), its keys of
	 * a kpis entry, and its value for the window ending at @to_ms (kpi.c
	 * has set out->covered_ms). 0 or a negative errno. */
	int kpi_agg;
	void (*kpi_parse)(struct conf_ctx *ctx, const struct config_setting_t *s, struct kpi_def *k,
			  const struct gw_config *cfg);
	int (*kpi_compute)(struct sqlite3 *db, const struct gw_config *cfg, const struct kpi_def *k,
			   int64_t to_ms, struct kpi_result *out);
	/* wardgw check: one summary line (or none) on @out. */
	void (*report)(const struct gw_config *cfg, const char *path, FILE *out);
	/* Its subcommands of the wardgw tool (NULL-terminated; NULL: none). */
	const struct service_cmd *cmds;

	/* --- run time (gateway.c, ops.c), loop thread --- */
	enum service_phase phase;
	/* Start on @gw (gw->cfg); 0 or a negative errno (the gateway stops). */
	int (*start)(struct gateway *gw);
	/* Stop and free; also after a start that failed half-way. */
	void (*stop)(struct gateway *gw);
	/* Reload (SIGHUP) with new config @n, not yet in gw->cfg:
	 * refuse: a reason (written into @why) when @n cannot be applied
	 *   without a restart, else NULL; nothing is changed then.
	 * deferred: the keys whose change waits for the next restart, or NULL.
	 * devices_moved: gw->devices is being replaced (old devices are not to
	 *   be dereferenced; @moved gives each one's new place).
	 * reload: apply @n (now gw->cfg).
	 * reloaded: the reload is over, @ok or refused. */
	const char *(*refuse)(const struct gw_config *o, const struct gw_config *n, char *why, size_t len);
	const char *(*deferred)(const struct gw_config *o, const struct gw_config *n);
	void (*devices_moved)(struct gateway *gw, service_moved_fn moved, void *arg);
	void (*reload)(struct gateway *gw, const struct gw_config *n);
	void (*reloaded)(struct gateway *gw, int ok);
	/* Events of the core: a device came online; any poll ended
	 * (@latency_us from its start); a good poll's values are in dev->last;
	 * the one-second tick. */
	void (*device_online)(struct gateway *gw, struct device *dev);
	void (*polled)(struct gateway *gw, struct device *dev, int64_t latency_us);
	void (*poll_done)(struct gateway *gw, struct device *dev, int64_t ts_ms);
	void (*tick)(struct gateway *gw, int64_t now_ms);
	/* MQTT commands on {prefix}/{gateway}/@command_topic, subscribed
	 * when the service is configured. */
	const char *command_topic;
	void (*command)(struct gateway *gw, const void *payload, size_t len);
	/* The live view: one line for `wardgw run --live`, or NULL. */
	const char *(*live)(struct gateway *gw);
};

extern const struct service_ops lighting_service;
extern const struct service_ops coverage_service;
extern const struct service_ops ingest_service;
extern const struct service_ops environment_service;
extern const struct service_ops health_service;
extern const struct service_ops http_service;
extern const struct service_ops kpi_service;

/** The NULL-terminated list of all services, in start order (stop: reverse). */
extern const struct service_ops *const services[];
/** Find a service by its section name; NULL if there is none. */
const struct service_ops *service_find(const char *name);

/* --- for the core: one call per event, over the whole table --- */

/** Start the services of @phase in table order. 0 or the first negative errno. */
int services_start(struct gateway *gw, enum service_phase phase);
/** Stop every service, in reverse table order. */
void services_stop(struct gateway *gw);
void services_device_online(struct gateway *gw, struct device *dev);
void services_polled(struct gateway *gw, struct device *dev, int64_t latency_us);
void services_poll_done(struct gateway *gw, struct device *dev, int64_t ts_ms);
void services_tick(struct gateway *gw, int64_t now_ms);
/** The service whose commands arrive on MQTT for @cfg (configured, with a
 *  command_topic); NULL when none. */
const struct service_ops *services_commands(const struct gw_config *cfg);
/** Print each service's live line, prefixed with @t. */
void services_live(struct gateway *gw, const char *t, FILE *out);

#endif
