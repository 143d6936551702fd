/* Device health (devhealth), shared by every Modbus driver: turns each poll's outcome
 * into the device's state (online, degraded, offline) with its reason, and
 * the slower, growing retry interval of an offline device.
 *
 *   online    the last poll read every register of the profile;
 *   degraded  the device answers, but not fully: the last poll had some
 *             reads refused (an exception) while others worked, or it was
 *             answering and its last 1..HEALTH_FAILS_OFFLINE-1 polls failed;
 *   offline   HEALTH_FAILS_OFFLINE polls in a row got nothing usable
 *             (timeout, connection refused or closed, CRC errors, every
 *             read refused). It is retried at the poll interval, doubling
 *             up to the device's backoff_max_ms, until it answers.
 * Loop thread only. */
#ifndef WARDGW_DEVHEALTH_H
#define WARDGW_DEVHEALTH_H

#include <stdint.h>

struct device;
struct sink;

#define HEALTH_FAILS_OFFLINE 3

struct dev_health {
	int fails;                  /* polls failed in a row */
	unsigned backoff_ms;        /* current retry interval while offline */
	int64_t retry_at_us;        /* monotonic: no attempt before (0: none) */
};

/**
 * Account one finished poll. @ok: values were read (@partial: some reads
 * failed, @reason says which); otherwise the poll failed for @reason.
 * Sets the device's state and reason through sink_set_state().
 */
void health_poll_done(struct sink *sink, struct device *dev, struct dev_health *h, int ok,
		      int partial, const char *reason);

/** Whether a poll due at monotonic @now_us should be skipped (offline backoff). */
static inline int health_backing_off(const struct dev_health *h, int64_t now_us)
{
	return h->retry_at_us && now_us < h->retry_at_us;
}

#endif
