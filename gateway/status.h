/* What the running gateway says about itself: the status snapshot (JSON,
 * also written to data_dir/status.json and read by `wardgw status`) and the
 * Prometheus text for /metrics. Builders run on the loop thread; the
 * printer runs in the `status` command. */
#ifndef WARDGW_STATUS_H
#define WARDGW_STATUS_H

#include <stdint.h>
#include <stdio.h>

struct gateway;

/** The snapshot as one JSON object (malloc'd), NULL on ENOMEM. */
char *status_json(struct gateway *gw);
/** A hash of what the snapshot shows that does not move by itself (states,
 *  reasons, link, store, reloads: no times or counters); 0 on ENOMEM. */
uint64_t status_digest(struct gateway *gw);
/** Prometheus text exposition format 0.0.4 (malloc'd), NULL on ENOMEM. */
char *status_metrics(struct gateway *gw);

/**
 * `wardgw status`: print the snapshot at @path for a person. Returns the
 * exit code: 0 running and healthy, 1 running with trouble (link down, a
 * device not online, store failing), 3 not running (no snapshot, or one
 * older than @stale_s seconds, or than three times the snapshot's own
 * interval_s when that is longer), 4 unreadable snapshot.
 */
int status_print(const char *path, int stale_s, FILE *out, FILE *err);

#endif
