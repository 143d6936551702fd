/* Inside the lighting schedule, shared by its files and by nothing else:
 * lighting.c (the schedule at run time: writes, overrides), lighting_cmd.c
 * (IOC commands), lighting_kpi.c (the derived series). The rest of the
 * gateway sees only lighting.h and the small headers beside it. Loop thread. */
#ifndef WARDGW_LIGHTING_INT_H
#define WARDGW_LIGHTING_INT_H

#include <stddef.h>
#include <stdint.h>

#include "schedule.h"
#include "tokenbucket.h"

struct cmd_run;
struct device;
struct gateway;
struct lamp_alarms;
struct rejects;
struct sqlite3;

#define NDERIVED 6              /* schedule.c's derived series */

struct ldev {
	struct lighting *l;
	struct cmd_run *cmd;    /* a command waits for this device's write */
	size_t cmd_slot;
	struct device *dev;
	double written;         /* level last written and read back; NaN: unknown */
	double pending;         /* level of the write in flight */
	int busy;
	int force;              /* write even if equal (device came back) */
	int64_t retry_ms;       /* not before this after a failure */
	int64_t next_ms;        /* the schedule's next change */
	/* derived series for the KPIs (schedule.c's lighting_derived_name order) */
	int64_t dseries[NDERIVED];
	long drollup[NDERIVED];
	int64_t last_append_ms; /* derived samples: at each poll, or each poll interval while away */
	int64_t last_tick_ms;
	int64_t last_poll_ms;
	double installed;       /* lampsInstalled last reported; NaN until then */
	double rated_kwh;       /* ratedEnergyScheduled, cumulative since start */
	int mi[3];              /* lampsInstalled, lampsOn, lampsFailed register indexes (-1: none) */
	double per_unit;        /* % per register unit: 100 for a ratio ("/"), 1 for percent */
	/* the schedule's answer, good from want_at until want.next_ms while
	 * the overrides are unchanged (want_gen): a tick costs nothing between
	 * switch points, whatever the size of the calendar and the groups */
	struct sched_want want;
	int64_t want_at;
	unsigned want_gen;      /* 0: not computed */
};

struct lighting {
	struct gateway *gw;
	const struct gw_config *cfg;
	struct ldev *devs;
	size_t ndevs;
	struct sched_override *ov;
	size_t nov;
	unsigned ov_gen;            /* bumped whenever ov changes (cached answers go) */
	struct ldev **by_index;     /* device index -> its ldev, or NULL (a cache, see ldev_of) */
	size_t nby_index;
	int64_t pruned_ms;
	struct lamp_alarms *alarms;
	struct token_bucket reject_answers;   /* answers to rejected commands: 30, 1 per second */
	uint64_t reject_unanswered;
	struct rejects *rejects;    /* the bounded audit of unauthenticated messages */
	unsigned char key[256];     /* HMAC key for IOC commands */
	size_t keylen;
	char *result_topic;
};

/* lighting.c */
/** The store's database (audit, overrides, replay store). */
struct sqlite3 *lighting_db(struct lighting *l);
/** @dev's controlled-device state; NULL when the schedule does not control it. */
struct ldev *lighting_ldev_of(struct lighting *l, const struct device *dev);
/** What the schedule wants for @ld at @now (cached, see struct ldev). */
const struct sched_want *lighting_want_of(struct lighting *l, struct ldev *ld, int64_t now);
/**
 * Write what the schedule wants now if it differs from what was written
 * (or the device must be brought to it); a command waiting on the device
 * (ld->cmd) is answered by this write. 1: a write is on its way; 0:
 * nothing to do; -EBUSY / -EAGAIN: not now (in flight, offline, backing off).
 */
int lighting_evaluate(struct lighting *l, struct ldev *ld, int64_t now);

/* lighting_cmd.c: a command waits for the write of a device. */
/** The write for target @slot of @r is over (@ok, @readback in %, NaN
 *  unknown, else @reason); the last one answers the command. */
void lighting_cmd_target_done(struct cmd_run *r, size_t slot, int ok, double readback, const char *reason);
/** The command's id, for the log and the audit. */
const char *lighting_cmd_id(const struct cmd_run *r);

#endif
