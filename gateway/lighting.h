/* The schedule on the running gateway: every second it asks schedule.c
 * what each controlled device should be, and writes the level through
 * gateway_write() when it differs from what was last written, at each
 * switch point, when an override starts or ends, and when a device comes
 * (back) online. Overrides from commands are kept in SQLite so they survive
 * a restart. Every write and every command is recorded in the audit table.
 * Loop thread only. Beside it, each with its header: IOC commands
 * (lighting_cmd.h), the derived series (lighting_kpi.h), the audit table
 * (audit.h), the technician's views (lighting_cli.h); lighting_service.c
 * puts it in the service table. */
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
/** Drop every device's cached schedule answer (it points into the config
 *  and the override list): call after anything replaces either, e.g. a
 *  reload. The device lookup by index repairs itself. */
void lighting_forget_cache(struct lighting *l);
/** Evaluate now (normally every second). */
void lighting_tick(struct lighting *l, int64_t now_ms);

/** Store and apply an override; *@id gets its id. 0 or negative errno. */
int lighting_add_override(struct lighting *l, struct sched_override *o, const char *cmd_id);
/** End the overrides aimed exactly at (@scope, @name) at @now_ms; returns how many. */
int lighting_clear_overrides(struct lighting *l, enum sched_scope scope, const char *name, int64_t now_ms);
/** The overrides in force or still to come (config and stored). */
const struct sched_override *lighting_overrides(const struct lighting *l, size_t *n);

/** Overrides stored in @db that have not expired at @now_ms, appended to *@v. */
int lighting_load_overrides(struct sqlite3 *db, int64_t now_ms, struct sched_override **v, size_t *n);

/** A reload moves gw->devices: @moved maps each old device (not to be
 *  dereferenced) to its new place (a reload never adds, removes or changes a
 *  device the schedule controls). Loop thread. */
void lighting_devices_moved(struct lighting *l, struct device *(*moved)(void *arg, const struct device *old),
			    void *arg);

#endif
