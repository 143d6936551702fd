/* The gateway's own health: loop lag (a periodic timer measures how late it
 * fires), a poll-latency histogram, the systemd watchdog fed from the loop
 * (so a stuck loop gets restarted), and the status snapshot written to
 * data_dir/status.json for `wardgw status`. Loop thread. */
#ifndef WARDGW_HEALTH_H
#define WARDGW_HEALTH_H

#include <stddef.h>
#include <stdint.h>

struct gateway;
struct health;

/* Poll latency buckets, upper bounds in seconds (Prometheus "le"). */
#define HEALTH_NBUCKETS 11
extern const double health_bucket_le[HEALTH_NBUCKETS];

struct health_stats {
	int64_t lag_us, lag_max_us;     /* last, and worst since start */
	int64_t last_tick_us;           /* mono time the lag timer last ran */
	uint64_t lat_bucket[HEALTH_NBUCKETS + 1];   /* cumulative not; last: +Inf */
	uint64_t lat_count;
	double lat_sum_s;
	uint64_t watchdog_pings;
	uint64_t reloads, reload_failures;
	/* the status snapshot: files written, their bytes, looks that found
	 * nothing changed (so nothing written) */
	uint64_t snapshot_writes, snapshot_bytes, snapshot_unchanged;
	/* what the process writes, bytes/s over the last minute: write calls
	 * (/proc/self/io wchar) and what reaches the disk (write_bytes) */
	double write_bps, disk_write_bps;
};

/** Start the timers on @gw's loop; snapshot file @status_path (owned by the
 *  caller's string, copied). 0 or negative errno. */
int health_new(struct health **out, struct gateway *gw, const char *status_path);
void health_free(struct health *h);
/** A poll took @us µs from start to answer. */
void health_poll_latency(struct health *h, int64_t us);
void health_get(const struct health *h, struct health_stats *st);
/** Count a reload (ok or not). */
void health_reload(struct health *h, int ok);
/** Write the snapshot now (also done when it changed, looked at every 5 s,
 *  and at least every store.snapshot_max_s). 0 or negative errno. */
int health_write_snapshot(struct health *h);
/** At most this long (s) between two snapshot files (store.snapshot_max_s). */
int health_snapshot_max_s(const struct health *h);
/** A counter of /proc/self/io ("wchar", "write_bytes"), or 0. */
unsigned long long health_proc_io(const char *key);
/** The snapshot's path. */
const char *health_status_path(const struct health *h);

#endif
