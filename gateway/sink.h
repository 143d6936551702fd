/* The sink: everything a driver may ask of the gateway, and nothing more.
 * A driver instance gets one at new() (struct driver's sink) and hands it
 * each poll's outcome, each device state change, its counters and its
 * coverage samples; threads post work to the loop through it. Behind it
 * the gateway stores (store -> outbox -> publisher), keeps KPIs and the
 * lighting schedule up to date. Loop thread unless said otherwise. */
#ifndef WARDGW_SINK_H
#define WARDGW_SINK_H

#include <stdint.h>

#include "device.h"

struct coverage_sample;
struct device_conf;
struct event_base;
struct gateway;
struct sink;

/** The sink of @gw (owned by the caller, freed with sink_free()). 0 or -ENOMEM. */
int sink_new(struct sink **out, struct gateway *gw);
void sink_free(struct sink *s);

/** The loop the driver runs its events on. */
struct event_base *sink_base(struct sink *s);
/** 0 when devices must not be polled (the write tool starts a driver to
 *  write only), else 1. */
int sink_polling(const struct sink *s);

/** A poll of @dev starts @late_us after its slot. */
void sink_poll_started(struct sink *s, struct device *dev, int64_t late_us);
/**
 * A poll of @dev finished. @ok: @values (one per profile register, already
 * scaled, NaN for a register not read) are stored and published with time
 * @ts_ms; otherwise @reason says why. @on_time: the driver's verdict on
 * the poll's timing (slot-driven drivers only; 0 otherwise).
 */
void sink_poll_done(struct sink *s, struct device *dev, int64_t ts_ms, const double *values, int ok,
		    int on_time, const char *reason);
/** @dev is now @st (logged once per change, with @reason). */
void sink_set_state(struct sink *s, struct device *dev, enum device_state st, const char *reason);
/**
 * Readings pushed for the device configured as @conf (HTTP ingest, for
 * the push driver's devices): @values at @ts_ms, as a poll that worked;
 * the device is online. -ENOENT when no running device has that config.
 */
int sink_push(struct sink *s, const struct device_conf *conf, int64_t ts_ms, const double *values);

/* The gateway's poll counters (stats.json, status page, `make run`). */
enum sink_counter {
	SINK_SCHEDULED,             /* poll slots that came due */
	SINK_SKIPPED_BUSY,          /* a slot came while the last poll still ran */
	SINK_SKIPPED_OFFLINE,       /* a slot fell inside an offline backoff */
	SINK_REQUESTS,              /* requests sent on a wire */
	SINK_FRAMES_DISCARDED,      /* frames dropped: wrong id, bad CRC, malformed */
};
/** Add @n to counter @c. */
void sink_count(struct sink *s, enum sink_counter c, uint64_t n);

/**
 * Run @fn(@arg) on the loop thread soon. Any thread. If it is dropped
 * unrun (the gateway stops), @free_fn(@arg) runs instead. 0 or -ENOMEM
 * (then neither runs).
 */
int sink_post(struct sink *s, void (*fn)(void *arg), void *arg, void (*free_fn)(void *arg));

/**
 * A radio measurement at a place, from device @dev (a modem): stored with
 * the next commit, in the same transaction as the samples, as coverage
 * samples are (coverage.h). A NaN position is the gateway's. Nothing is
 * stored without a coverage section. 1 when queued, 0 when not wanted,
 * negative errno.
 */
int sink_coverage(struct sink *s, const struct device *dev, const struct coverage_sample *cs);

struct driver_set;
/** Start @dev on its driver's instance. 0 or negative errno. */
int driver_start_device(const struct driver_set *set, struct device *dev);
/** Stop @dev on its driver's instance (nothing if it does not run). */
void driver_stop_device(const struct driver_set *set, struct device *dev);
/** @dev kept running moved to a new address. */
void driver_move_device(const struct driver_set *set, struct device *dev);

#endif
