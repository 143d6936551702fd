/* The running gateway: one event_base owns the state; drivers poll devices
 * on it and hand each poll's values to the sink (sink.h), whose
 * gateway_poll_done() stores them and publishes them. Everything here runs
 * on the loop thread. */
#ifndef WARDGW_GATEWAY_H
#define WARDGW_GATEWAY_H

#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "device.h"
#include "driver.h"

struct device_conf;
struct event;
struct event_base;
struct gw_config;
struct health;
struct httpd;
struct loopq;
struct outbox;
struct publisher;
struct kpi_engine;
struct lighting;
struct rollup;
struct store;

struct gw_stats {
	uint64_t scheduled;         /* poll slots that came due */
	uint64_t started, ok, failed;
	uint64_t on_time;           /* ok and started close to its slot */
	uint64_t skipped_busy;      /* slot came while the last poll still ran */
	uint64_t skipped_offline;   /* slot fell inside an offline backoff */
	uint64_t requests;
	uint64_t values;
	uint64_t store_errors;
	uint64_t lateness_max_us;
	uint64_t frames_discarded;  /* Modbus frames dropped: wrong id, bad CRC, malformed, incomplete */
};

struct gateway {
	struct gw_config *cfg;
	struct event_base *base;
	struct loopq *q;
	struct store *store;
	struct publisher *pub;      /* the mqtt section: link "ioc", the outbox's link 0 */
	struct gw_link *links;      /* links = ( ... ): the outbox's links 1.. */
	size_t nlinks;
	struct outbox *outbox;
	struct rollup *rollup;
	struct kpi_engine *kpi;
	struct lighting *lighting;  /* the schedule (lighting.h); NULL without lighting = { } */
	struct device *devices;
	size_t ndevices;
	struct event *flush_ev, *prune_ev, *live_ev, *sigint_ev, *sigterm_ev, *stop_ev;
	uint64_t pruned_pass;       /* chunks the retention pass in progress deleted */
	struct event *pump_ev, *tick_ev, *kick_ev;
	int64_t last_status_us;     /* monotonic: the status interval */
	char *status_topic;
	int store_was_failing;
	char *data_dir;             /* for the free-space check */
	int64_t disk_checked_us;    /* monotonic */
	int disk_low;               /* below store.min_free_mb: logged once */
	struct gw_stats stats;
	int live_secs;              /* print live KPIs every N s (0: never) */
	const char *stats_path;     /* JSON stats written at exit */
	int64_t started_ms;
	char *pack_buf;
	size_t pack_size;
	struct sermap_ent *sermap;  /* series id -> device, register (gateway_packs) */
	size_t sermap_cap;
	double *packvals;
	size_t packvals_cap;
	/* operations: health (loop lag, watchdog, status.json), the status
	 * page, reload on SIGHUP */
	struct health *health;
	struct httpd *httpd;
	struct event *sighup_ev;
	struct gw_config **retired;  /* configs replaced by reloads, freed at release */
	size_t nretired;
	int no_poll;                /* tools (wardgw write): drivers start without polling */
	struct coverage_pub *coverage;  /* dead-spot map publisher (coverage { }) */
	struct ingest *ingest;          /* HTTP push ingest (ingest { }) */
	struct environment *env;        /* air quality and flood watch (environment { }) */
	struct sink *sink;              /* what the drivers see of the gateway (sink.h) */
	struct driver_set drv;          /* the drivers' instances */
};

/* One more northbound link (links = ( ... ), docs/province.md). */
struct gw_link {
	struct gateway *gw;
	int idx;                    /* its index in the outbox */
	char *name, *uri;
	char *from, *to;            /* topic prefix: the mqtt section's, this link's */
	unsigned carries;           /* LINK_CARRY_* */
	struct publisher *pub;
};
/** Publish a retained message of kind @kind (LINK_CARRY_MAP...) on the ward's link and every
 * connected link that carries it; the ward link's publisher_send() result. */
int gateway_publish_retained(struct gateway *gw, unsigned kind, const char *topic, const void *payload,
			     size_t len);
/** The kind of a message for the links (LINK_CARRY_*), from its topic. */
unsigned gateway_topic_kind(void *gw, const char *topic);

/** The telemetry packs of one commit log record (outbox_packs_fn; @arg is the gateway). */
int gateway_packs(void *arg, const uint8_t *rec, size_t len,
		  int (*emit)(void *arg, const char *topic, const void *payload, size_t len, int64_t ts_ms),
		  void *emit_arg);

struct gateway_opts {
	int live_secs;
	const char *stats_path;
	int run_secs;               /* stop after N s (0: until a signal) */
};

/** Open the store, connect the publisher and start every driver. 0 or negative errno. */
int gateway_init(struct gateway *gw, struct gw_config *cfg, const struct gateway_opts *o);
/** Run the loop until SIGINT/SIGTERM (or run_secs). */
int gateway_run(struct gateway *gw);
/** Stop drivers, flush the store, say offline, free. Does not free cfg. */
void gateway_release(struct gateway *gw);

/** Set up @d for @conf (store series, rollup slots, topic); loop thread.
 *  0 or negative errno (then gateway_device_release() it). */
int gateway_device_init(struct gateway *gw, struct device *d, const struct device_conf *conf, size_t index);
/** Free what gateway_device_init() allocated. */
void gateway_device_release(struct device *d);

/* --- behind the sink (sink.c); drivers call sink_*() --- */

/** Account a poll that starts @late_us after its slot. */
void gateway_poll_started(struct gateway *gw, struct device *dev, int64_t late_us);
/**
 * A poll finished. @ok: @values (one per profile register, already scaled)
 * are stored and published with time @ts_ms. Otherwise @reason says why.
 * @on_time is the driver's verdict on the poll's timing.
 */
void gateway_poll_done(struct gateway *gw, struct device *dev, int64_t ts_ms,
		       const double *values, int ok, int on_time, const char *reason);
/** Change a device's state; logs once per change, with the reason. */
void gateway_set_state(struct gateway *gw, struct device *dev, enum device_state st,
		       const char *reason);

/**
 * Write @metric of @dev (engineering units) and verify it by read-back,
 * through the device's driver. Returns 0 when queued (@done follows, once,
 * on the loop thread) or without calling @done: -ENOENT (no such metric),
 * -EACCES (the profile does not mark it writable), -ERANGE (outside the
 * register's min/max), -ENOTSUP (the driver cannot write), -EBUSY.
 */
int gateway_write(struct gateway *gw, struct device *dev, const char *metric, double value,
		  gw_write_cb done, void *arg);

/**
 * The quality of @dev's last value of register @reg at wall time @now_ms:
 * Q_STALE when the device is offline or its last good poll is older than
 * three poll intervals, otherwise the quality it was stored with (Q_GOOD,
 * Q_COMM_ERROR for a read that failed, Q_OUT_OF_RANGE outside min/max).
 */
int gateway_value_quality(const struct device *dev, size_t reg, int64_t now_ms);


#endif
