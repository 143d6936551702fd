/* Lighting schedules: the `lighting = { ... }` section of the config
 * (programs of switch points, a calendar of rules, special days,
 * overrides) and the answer to "what dim level should this device have at
 * time T". A program describes one night, a "lighting day" from noon to
 * the next noon, so a programme from sunset to the next sunrise is one
 * program. Pure functions of the config, any thread; lighting.c applies
 * them on the running gateway. */
#ifndef WARDGW_SCHEDULE_H
#define WARDGW_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct conf_ctx;
struct config_setting_t;

enum sched_anchor { AT_FIXED, AT_SUNSET, AT_SUNRISE, AT_DUSK, AT_DAWN };

/* One switch point: "18:30", "sunset+10", "sunrise-15", "dusk", "dawn". */
struct sched_point {
	enum sched_anchor anchor;
	int minutes;            /* AT_FIXED: minutes after midnight; otherwise the offset */
	double level;           /* dim level 0..100 % */
	char spec[24];          /* as written, for printing */
	struct conf_origin at;
};

struct sched_program {
	char *name;
	struct sched_point *points;
	size_t npoints;
	struct conf_origin at;
};

/* A date, a range of dates, or the same every year (month-day). */
struct sched_range {
	int32_t from, to;       /* days since 1970-01-01 (ward dates), inclusive */
	int annual;             /* from/to are month*100+day, every year */
};

struct sched_days {
	char *name;
	struct sched_range *ranges;
	size_t nranges;
	struct conf_origin at;
};

/* A calendar rule: all of its conditions hold, the first such rule wins. */
struct sched_rule {
	size_t program;         /* index in programs */
	long special;           /* index in special_days, or -1 */
	struct sched_range *ranges;  /* from/to or dates; none: any date */
	size_t nranges;
	unsigned weekdays;      /* bit 0 Sunday .. bit 6 Saturday; 0: any */
	char **groups;          /* config groups; none: every device */
	size_t ngroups;
	char **devices;
	size_t ndevices;
	struct conf_origin at;
};

enum sched_scope { SCOPE_WARD, SCOPE_GROUP, SCOPE_DEVICE };

struct sched_override {
	int64_t id;             /* >0: stored (a command); <0: from the config */
	enum sched_scope scope;
	char name[64];          /* group or device; empty for the ward */
	double level;
	int64_t start_ms, expires_ms;
	char reason[96];
};

struct lighting_conf {
	char *metric;           /* the writable register the schedule writes */
	int retry_s;            /* a failed write is tried again after this */
	double lamp_rated_w;    /* rated power of one lamp, W (dimming savings) */
	struct sched_program *programs;
	size_t nprograms;
	struct sched_days *special;
	size_t nspecial;
	struct sched_rule *rules;
	size_t nrules;
	struct sched_override *overrides;
	size_t noverrides;
	/* alarm thresholds (lighting.alarms) */
	double voltage_min, voltage_max;    /* V; outside: lampVoltageTooLow/TooHigh */
	double pf_min;                      /* powerFactorTooLow below this while lamps are lit */
	/* IOC commands (cmd/lighting) */
	char *key_file;         /* HMAC key; NULL: commands are refused */
	int window_s;           /* a command's ts must be within this of now */
	struct conf_origin at;
};

/** Parse `lighting = { ... }` (after devices and groups). Errors through @ctx. */
void lighting_conf_parse(struct conf_ctx *ctx, const struct config_setting_t *s, struct lighting_conf **out);
void lighting_conf_free(struct lighting_conf *lc);

/** Does the schedule control @dev (its profile has lighting.metric, writable)? */
int sched_controls(const struct gw_config *cfg, const struct device_conf *dev);
/** Is @dev in config group @group? */
int sched_in_group(const struct gw_config *cfg, const char *group, const char *dev);

/** Ward date (days since 1970-01-01, UTC+7) of @t_ms, and of its lighting day (noon to noon). */
int32_t ward_day(int64_t t_ms);
int32_t lighting_day(int64_t t_ms);
/** Days since 1970-01-01 of a civil date; parse "YYYY-MM-DD" (0 or -EINVAL). */
int32_t civil_day(int y, int m, int d);
int parse_ward_date(const char *s, int32_t *day);
void format_ward_date(int32_t day, char *buf, size_t size);

/* The Sun for a lighting day: sunset and civil dusk on its date, sunrise
 * and dawn the next morning; 0 where the Sun does not cross (polar). */
struct sched_sun { int64_t sunset, dusk, sunrise, dawn; };
void sched_sun_for(const struct gw_config *cfg, int32_t day, struct sched_sun *out);

/** The calendar's program for @dev on lighting day @day; NULL when no rule matches. */
const struct sched_program *sched_program_for(const struct gw_config *cfg, const char *dev, int32_t day,
					      const struct sched_rule **rule);

struct sched_time {
	int64_t t_ms;
	double level;
	const struct sched_point *pt;
};
/** The switch points of @p on lighting day @day, in time order, into @out
 *  (at most @max); returns how many. Astronomical points are dropped on a
 *  day the Sun does not cross. */
size_t sched_points(const struct gw_config *cfg, const struct sched_program *p, int32_t day,
		    struct sched_time *out, size_t max);

struct sched_want {
	double level;           /* NaN: nothing wants anything (leave the lamps alone) */
	const struct sched_program *program;    /* the program that set it (NULL for an override) */
	const struct sched_point *point;
	const struct sched_override *override;  /* the override that set it, or NULL */
	int64_t since_ms;       /* when this level began */
	int64_t next_ms;        /* the next moment the answer may change */
};

/**
 * What @dev should be at @t_ms: the active override of the narrowest scope
 * (device, then group, then ward; the latest start among equals), else the
 * calendar's program (the last switch point at or before @t_ms, from the
 * previous lighting day if none yet today). @ov: overrides from the config
 * and the store. 0, or -ENOENT when @dev is not controlled.
 */
int sched_want(const struct gw_config *cfg, const struct device_conf *dev, int64_t t_ms,
	       const struct sched_override *ov, size_t nov, struct sched_want *out);

/** Is @metric a series the schedule derives per controlled device (for
 *  KPIs)? Its unit and whether it is a counter. */
int lighting_derived_metric(const char *metric, const char **unit, int *counter);
/** The @i-th derived series (NULL past the last). */
const char *lighting_derived_name(size_t i, const char **unit, int *counter);
/** Is @name an alarm (lamp_alarm.c's TALQ names)? */
int lighting_alarm_known(const char *name);

/** "ward", "group" or "device" (the audit's and the override table's words). */
const char *sched_scope_name(enum sched_scope s);
/** Does @o apply to @dev? */
int sched_override_applies(const struct gw_config *cfg, const struct sched_override *o, const char *dev);

#endif
