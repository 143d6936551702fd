/* The schedule on the running gateway: every second it asks schedule.c
 * what each controlled device should be, and writes the level through
 * gateway_write() when it differs from what was last written, at each
 * switch point, when an override starts or ends, and when a device comes
 * (back) online. Overrides from commands are kept in SQLite so they survive
 * a restart. Every write and every command is recorded in the audit table.
 * Loop thread only. */
#ifndef WARDGW_LIGHTING_H
#define WARDGW_LIGHTING_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "schedule.h"

struct device;
struct gateway;
struct lighting;
struct sqlite3;

/** Start the schedule for @gw (cfg->lighting may be NULL: then nothing runs). */
int lighting_new(struct lighting **out, struct gateway *gw);
void lighting_free(struct lighting *l);
/** @dev went online: bring it to what the schedule wants now. */
void lighting_device_online(struct lighting *l, struct device *dev);
/** A good poll of @dev at @ts_ms (values in dev->last): append the derived
 *  series (lampsScheduled, lampsLitScheduled, lampsDayBurning,
 *  ratedEnergyScheduled, lampsFaulty, lampsKnown) to the store and the rollups. */
void lighting_poll_done(struct lighting *l, struct device *dev, int64_t ts_ms);
/** Drop every device's cached schedule answer (it points into the config
 *  and the override list): call after anything replaces either, e.g. a
 *  reload. The device lookup by index repairs itself. */
void lighting_forget_cache(struct lighting *l);
/** Evaluate now (normally every second). */
void lighting_tick(struct lighting *l, int64_t now_ms);

/**
 * An MQTT message on {prefix}/{gateway}/cmd/lighting: authenticate, check,
 * audit, answer "accepted"/"rejected" on cmd-result/lighting, apply, and
 * answer "done"/"failed" with per-device results after read-back.
 */
void lighting_command(struct lighting *l, const void *payload, size_t len);

/** Store and apply an override; *@id gets its id. 0 or negative errno. */
int lighting_add_override(struct lighting *l, struct sched_override *o, const char *cmd_id);
/** End the overrides aimed exactly at (@scope, @name) at @now_ms; returns how many. */
int lighting_clear_overrides(struct lighting *l, enum sched_scope scope, const char *name, int64_t now_ms);
/** The overrides in force or still to come (config and stored). */
const struct sched_override *lighting_overrides(const struct lighting *l, size_t *n);

/** One audit row (autocommit). @level NaN for none. 0 or negative errno. */
int audit_add(struct sqlite3 *db, int64_t ts_ms, const char *source, const char *cmd_id, const char *action,
	      const char *target, double level, const char *verdict, const char *reason, const char *body);
/** Overrides stored in @db that have not expired at @now_ms, appended to *@v. */
int lighting_load_overrides(struct sqlite3 *db, int64_t now_ms, struct sched_override **v, size_t *n);

/** A reload moves gw->devices: @moved maps each old device (not to be
 *  dereferenced) to its new place (a reload never adds, removes or changes a
 *  device the schedule controls). Loop thread. */
void lighting_devices_moved(struct lighting *l, struct device *(*moved)(void *arg, const struct device *old),
			    void *arg);

#endif

/* --- the technician's views (wardgw schedule, wardgw audit) --- */

/** Print lighting day @day's switch points per program, with the Sun's
 *  times, and the overrides @ov in force that night. */
void lighting_print_schedule(FILE *f, const struct gw_config *cfg, int32_t day,
			     const struct sched_override *ov, size_t nov);
/** Print the last @last audit rows (from @from_ms on), oldest first. 0 or negative errno. */
int lighting_print_audit(FILE *f, struct sqlite3 *db, int64_t from_ms, int last);
