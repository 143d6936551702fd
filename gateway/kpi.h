/* KPI engine: the ward's KPIs from the configured definitions, one value per
 * closed window (aligned to ward midnight), computed from the rollups and
 * the device state log inside the store's flush transaction, stored in
 * kpi_value with a per-stream sequence number and target status, and queued
 * for the IOC in the outbox's priority lane. Also the events (device
 * online/offline with hysteresis, KPI status changes). Loop thread. */
#ifndef WARDGW_KPI_H
#define WARDGW_KPI_H

#include <stdint.h>

struct gw_config;
struct kpi_def;
struct kpi_engine;
struct outbox;
struct rollup;
struct sqlite3;
struct store;

/** ok / behind / red_flag for @v at @at_ms against @k's target; "none" without one, "no_data" for NaN. */
const char *kpi_status(const struct kpi_def *k, double v, int64_t at_ms);

struct kpi_result {
	double value;               /* NaN when there was no data */
	int64_t n;                  /* samples (or devices, for availability) */
	int64_t covered_ms;         /* of the window, how long the gateway ran; -1 unknown */
};

/* The gateway's own runs in device_log, under a name no device can have
 * (names are [A-Za-z0-9._-]): "online" while it runs, "unknown" from its
 * stop (or, after a crash, from its last sign of life). */
#define KPI_GATEWAY_LOG "@gateway"

/**
 * Compute @k over [@from, @to) from the database @db (rollups of @tier,
 * device_log). Works on a daemon's database or a read-only copy. 0 or
 * negative errno.
 */
int kpi_compute(struct sqlite3 *db, const struct gw_config *cfg, const struct kpi_def *k, int tier,
		int64_t from, int64_t to, struct kpi_result *out);
/** How long the gateway ran in [@from, @to) (ms), from its runs in
 *  device_log; -1 when they were not logged then (an older database). */
int64_t kpi_covered_ms(struct sqlite3 *db, int64_t from, int64_t to);
/** The rollup tier a KPI reads: hours when its window is whole hours, else minutes. */
int kpi_tier(const struct kpi_def *k);

int kpi_new(struct kpi_engine **out, const struct gw_config *cfg, struct store *st, struct rollup *r);
/** The outbox created after the engine (hooks run in creation order). */
void kpi_set_outbox(struct kpi_engine *e, struct outbox *ob);
void kpi_free(struct kpi_engine *e);
/** Record a device state change now (for availability). */
void kpi_device_state(struct kpi_engine *e, const char *device, int64_t ts_ms, const char *state,
		      const char *reason);
/**
 * The gateway starts at @now_ms: when the previous run did not log its stop
 * (a crash, a power cut), end every device's state and the gateway's run at
 * the previous run's last sign of life (its last commit, or the latest
 * state it logged, whichever is later), then log this run's start. Its
 * downtime is then neither online nor offline time. Before the first flush.
 */
void kpi_gateway_start(struct kpi_engine *e, int64_t now_ms);
/** A clean stop at @now_ms: the gateway's run ends (devices: kpi_device_state()). */
void kpi_gateway_stop(struct kpi_engine *e, int64_t now_ms);
/** Queue an event: stored in event_log and sent on {prefix}/{gw}/event/{kind}. @body is JSON. */
void kpi_event(struct kpi_engine *e, const char *kind, const char *subject, const char *body);

#endif
