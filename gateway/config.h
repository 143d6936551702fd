/* Configuration: parses gateway.conf and the profile files with libconfig
 * into a struct gw_config. Every value remembers its file and line, and every
 * mistake is reported as "FILE:LINE: message" — all of them, not the first.
 * Options are declared in tables (name, type, bounds, default, required);
 * checks across fields run afterwards. */
#ifndef WARDGW_CONFIG_H
#define WARDGW_CONFIG_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "decode.h"

struct config_setting_t;
struct driver_ops;
struct lighting_conf;
struct coverage_conf;
struct ingest_conf;
struct environment_conf;
struct http_conf;

enum opt_type { OPT_INT, OPT_DOUBLE, OPT_STRING, OPT_BOOL };

/* One key of a config group. Numbers are checked against [min, max]. */
struct opt {
	const char *name;
	enum opt_type type;
	size_t offset;          /* into the struct being filled */
	double min, max;
	double def;             /* default for numbers and bools */
	const char *def_str;    /* default for strings (NULL: none) */
	int required;
};

/* Where a value came from. */
struct conf_origin {
	const char *file;       /* interned in the config; valid while it lives */
	int line;
};

/* What a northbound link publishes (LINK_CARRY_* bits; the outbox's CARRY_*). */
enum {
	LINK_CARRY_KPI = 1, LINK_CARRY_EVENT = 2, LINK_CARRY_MAP = 4, LINK_CARRY_TELEMETRY = 8,
	LINK_CARRY_STATUS = 16, LINK_CARRY_ALL = 31,
};

/* One entry of links = ( ... ): another broker, with its own identity,
 * topics and delivery cursors. The mqtt section is the link "ioc". */
struct link_conf {
	char *name;                 /* [a-z0-9_-], unique, not "ioc" */
	char *uri;                  /* with uris: their first entry */
	char **uris;                /* uris = [ ... ]: a cluster's nodes; NULL: uri alone */
	size_t nuris;
	int connect_timeout_s;      /* per broker address tried */
	char *client_id;            /* default wardgw-<gateway id>-<name> */
	char *username, *password_file;
	int allow_plaintext;
	char *ca_file, *cert_file, *key_file;
	int verify_hostname;
	int qos, keepalive, clean_session, max_inflight, buffer;
	char *topic_prefix;         /* default: the mqtt section's */
	unsigned carries;           /* LINK_CARRY_* */
	int commands;               /* subscribe to the command topic here */
	struct conf_origin at;
};
/** Parse a carries word list entry: its LINK_CARRY_* bit, or 0 when unknown. */
unsigned config_carry_word(const char *w);

struct reg_def {
	char *metric;
	char *unit;             /* SenML unit, may be NULL */
	enum reg_table table;
	enum reg_type type;
	struct reg_order order;
	uint16_t address;
	unsigned bit;
	double scale, offset;
	int counter;            /* cumulative: rollups keep deltas */
	int writable;           /* may be written (gateway_write) */
	double min, max;        /* valid range (NaN: unbounded); outside: out_of_range */
	struct conf_origin at;
};

/** A register's value from its words (at d->address): decoded, scaled, offset. */
static inline double reg_def_value(const struct reg_def *d, const uint16_t *words)
{
	return reg_decode(d->type, &d->order, d->bit, words) * d->scale + d->offset;
}

/**
 * The words to write for engineering value @value of register @d: scale and
 * offset undone, rounded for integer types, then type and order encoded
 * (reg_encode_checked). A TYPE_BIT of a holding register sets words[0] to
 * 0 or 1; the caller merges it into the register. 0, -EINVAL or -ERANGE.
 */
static inline int reg_def_encode(const struct reg_def *d, double value, uint16_t *words)
{
	return reg_encode_checked(d->type, &d->order, (value - d->offset) / d->scale, words);
}

struct profile {
	char *name;
	char *description;
	struct reg_def *regs;
	size_t nregs;
	int write_function;     /* 6: FC05/06 for one coil/register; 16: always FC15/16 */
	/* lamps behind the device: how long they take to settle after a switch
	 * (lamp_alarm.c); NULL / -1: the defaults of the lamp type */
	char *lamp_type;        /* "led" or "hid" */
	int settle_s, restrike_s;
	struct conf_origin at;
};

enum kpi_agg { AGG_SUM, AGG_MEAN, AGG_MIN, AGG_MAX, AGG_LAST, AGG_DELTA, AGG_RATIO, AGG_AVAILABILITY,
	       AGG_SAVINGS,     /* 1 - delta(metric) / delta(denominator), counters (dimming savings) */
	       AGG_MTTR,        /* mean time to repair of the alarms named by metric, cleared in the window */
	       AGG_COVERAGE, AGG_DELTA_RATIO };
enum kpi_op { OP_NONE, OP_GE, OP_LE };

struct kpi_def {
	char *name;             /* stream name, unique */
	char *domain;           /* topic level: lighting, wifi, coverage... */
	char *metric, *denominator;
	char *unit;
	char *window_str;
	int64_t window_ms;
	enum kpi_agg agg;
	char *group, *device;   /* scope; neither: the whole ward */
	enum kpi_op op;
	double target;
	double baseline;        /* with start: where the path to the target begins */
	int has_baseline;
	int64_t start_ms, deadline_ms;  /* 0 when not set */
	double scale;           /* value multiplier (e.g. 0.001 for W -> kW) */
	/* aggregate coverage: a figure of the coverage engine (coverage.h) */
	int technology;         /* enum rat */
	char *coverage_op;      /* operator, "any" by default */
	int figure;             /* enum coverage_figure */
	struct conf_origin at;
};

struct group_def {
	char *name;
	char **devices;
	size_t ndevices;
	struct conf_origin at;
};

/* Keys every device has, whatever its driver. */
struct device_conf {
	char *name;
	char *driver_name;
	char *profile_name;
	int poll_interval_ms;
	int timeout_ms;
	int backoff_max_ms;
	int count;              /* expanded at parse time; 1 afterwards */
	char *lamp_type;        /* overrides the profile's; NULL: the profile's */
	int settle_s, restrike_s;       /* -1: the profile's or the lamp type's */
	double lat, lon;        /* WGS84 position for the map; NaN when not given */
	const struct driver_ops *driver;
	const struct profile *profile;
	void *drv;              /* the driver's own keys, conf_size bytes */
	struct conf_origin at;
};

struct gw_config {
	char *path;
	char *gateway_id;
	char *ward;
	double lat, lon;
	char *data_dir;
	char *log_level;

	char *store_path;           /* relative paths are under data_dir */
	int raw_retention_days;
	int batch_ms;

	char *mqtt_uri;             /* with uris: the first of them */
	char **mqtt_uris;           /* uris = [ ... ]: a cluster's nodes, tried in order; NULL: uri alone */
	size_t mqtt_nuris;
	char *mqtt_client_id;
	char *mqtt_username;
	char *mqtt_password_file;
	int mqtt_allow_plaintext;   /* password_file over tcp:// accepted on purpose */
	struct conf_origin mqtt_password_at;
	char *topic_prefix;
	int mqtt_qos;
	int mqtt_keepalive;
	int mqtt_connect_timeout_s; /* per broker address tried */
	int mqtt_buffer;            /* untracked messages kept while the broker is away */
	int mqtt_clean_session;
	int mqtt_max_inflight;
	char *mqtt_ca_file, *mqtt_cert_file, *mqtt_key_file;
	int mqtt_verify_hostname;
	int status_interval_s;

	struct link_conf *links;    /* links = ( ... ): more northbound links (issue 13) */
	size_t nlinks;

	int outbox_max_mb;
	int outbox_max_age_days;
	int outbox_backfill_per_s;
	int outbox_ack_timeout_s;

	int minute_retention_days, hour_retention_days, day_retention_days;
	int store_max_db_mb;        /* 0: the disk is the limit */
	int store_min_free_mb;      /* keep free on the data disk (0: no check) */
	int snapshot_max_s;         /* status.json: rewritten on change, at least this often */
	int event_hold_s;           /* a state must last this long to be an event */

	struct kpi_def *kpis;
	size_t nkpis;
	struct group_def *groups;
	size_t ngroups;

	char *profiles_dir;
	struct profile *profiles;
	size_t nprofiles;
	struct device_conf *devices;
	size_t ndevices;

	/* The services' sections (service.h), each parsed and freed by its
	 * service and opaque here; NULL when the section is absent. */
	struct lighting_conf *lighting;  /* lighting = { ... } (schedule.h) */
	struct coverage_conf *coverage; /* coverage { ... } (coverage.h) */
	struct ingest_conf *ingest;     /* ingest { ... } (ingest.h) */
	struct environment_conf *environment; /* environment { ... } (environment.h) */
	struct http_conf *http;         /* the status page, http { ... } (httpconf.h) */

	char digest[17];            /* first 16 hex of SHA-256 of all files read */
	char **files;               /* interned file names */
	size_t nfiles;

	/* operations (log target and repeats) */
	char *log_target;           /* "stderr" or "syslog" */
	int log_repeat_burst;       /* same message at most this often per interval (0: no limit) */
	int log_repeat_interval_s;
};

/* Lamp settle times (s) by lamp type; see docs/lighting.md. */
#define SETTLE_LED_S    30      /* LED drivers fade in (DALI fade times up to 90 s, most under 10 s) */
#define SETTLE_HID_S    300     /* sodium and metal-halide lamps warm up for 3-5 minutes */
#define RESTRIKE_HID_S  900     /* and need up to 15 minutes to restrike after a supply dip */

/**
 * How long @d's lamps take to settle after a switch or level change
 * (*@settle_s) and after the supply returns (*@restrike_s): the device's
 * keys, else its profile's, else the defaults of its lamp type.
 */
void device_settle(const struct device_conf *d, int *settle_s, int *restrike_s);

/* Error collection while parsing; opaque outside config.c. */
struct conf_ctx;

/**
 * Parse @path (and the profiles it points at) into a new config. On success
 * returns 0 and *@out owns the result (config_free()). On failure every error
 * has been printed to @errs as "FILE:LINE: message" lines, *@out is NULL and
 * the return is -EINVAL (bad content) or -ENOENT (file missing).
 */
int config_load(const char *path, FILE *errs, struct gw_config **out);
void config_free(struct gw_config *cfg);

/** Record an error at a setting's file:line (for drivers' check hooks). */
void conf_error(struct conf_ctx *ctx, const struct conf_origin *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* For modules that parse a section of their own (schedule.c): where a
 * setting is, the unknown-key check with "did you mean", the name rule of
 * topics and rows, and the config being filled. */
struct conf_origin conf_origin_of(struct conf_ctx *ctx, const struct config_setting_t *s);
void conf_check_keys(struct conf_ctx *ctx, const struct config_setting_t *group, const char *what,
		     const char *const *keys);
int conf_valid_name(const char *s, size_t max);
/** conf_error() at setting @s (its file:line), the message at most 511 bytes. */
void conf_serror(struct conf_ctx *ctx, const struct config_setting_t *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/** An int, int64 or float setting as a double: 0, or -EINVAL for another type. */
int conf_number(const struct config_setting_t *s, double *out);
/** Member @key of group @s as a string; NULL (and an error) when it is not a
 *  string, or missing and @required. */
const char *conf_get_str(struct conf_ctx *ctx, const struct config_setting_t *s, const char *key, int required);
struct gw_config *conf_config(struct conf_ctx *ctx);
/* For modules that parse a section of their own (coverage.c, ...). */
/** Set @opts' defaults in @dst, apply @group's keys, and report unknown keys
 *  (besides @opts, the names in @extra, which the caller parses itself). */
void conf_apply_section(struct conf_ctx *ctx, const struct config_setting_t *group, const char *what,
			const struct opt *opts, const char *const *extra, void *dst);
/** Free the strings @opts put into @dst. */
void conf_free_section(const struct opt *opts, void *dst);
/** Parse a KPI target group { op; value; deadline; baseline; start; } into @k
 *  (op, target, dates). In kpi_service.c, with the kpis section. */
void conf_parse_target(struct conf_ctx *ctx, const struct config_setting_t *t, struct kpi_def *k);
/** The path of the config file being parsed (for paths relative to it). */
const char *conf_path(const struct conf_ctx *ctx);
/** Make *@path (malloc'd) absolute against the config file's directory. */
void conf_resolve_path(struct conf_ctx *ctx, char **path);

/* At most this many broker addresses in one link's uris = [ ... ]. */
#define CONFIG_MAX_URIS 16

/** Whether mqtt.uri is a plain-text scheme (tcp://, mqtt://). */
int config_plaintext_uri(const struct gw_config *cfg);
/** The warning for a password sent in clear text on purpose
 *  (allow_plaintext_password), written into @buf; NULL when there is none. */
const char *config_plaintext_warning(const struct gw_config *cfg, char *buf, size_t len);

/** Whether @a and @b poll alike: the common keys, the profile's content and
 *  the driver's own keys (through its option table). For reloads. */
int config_device_equal(const struct device_conf *a, const struct device_conf *b);

/** Find a device or profile by name; NULL if absent. */
const struct device_conf *config_device(const struct gw_config *cfg, const char *name);
const struct profile *config_profile(const struct gw_config *cfg, const char *name);

const struct group_def *config_group(const struct gw_config *cfg, const char *name);
/* The kpis section's helpers (kpi_service.c). */
/** "15m", "1h", "1d" -> ms; -EINVAL (syntax) or -ERANGE (does not divide a day). */
int kpi_window_parse(const char *s, int64_t *ms);
const char *kpi_agg_name(enum kpi_agg a);

/** Resolve @p against the config's data_dir (absolute paths pass through).
 *  Returns a malloc'd string. */
char *config_data_path(const struct gw_config *cfg, const char *p);
/**
 * The database path that @path names (gateway.data_dir, store.path, their
 * defaults), read leniently: only a syntax error or an unreadable file stops
 * it, so the history stays readable while the rest of the file is being
 * fixed (wardgw query, kpi, audit). malloc'd, or NULL.
 */
char *config_store_path_lenient(const char *path);

#endif
