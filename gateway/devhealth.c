/* Device health: poll outcomes to states and the offline backoff (see
 * devhealth.h for the definitions of online, degraded and offline). */
#include "devhealth.h"

#include <stdio.h>

#include "clock.h"
#include "config.h"
#include "device.h"
#include "sink.h"

void health_poll_done(struct sink *sink, struct device *dev, struct dev_health *h, int ok,
		      int partial, const char *reason)
{
	if (ok) {
		h->fails = 0;
		h->backoff_ms = 0;
		h->retry_at_us = 0;
		sink_set_state(sink, dev, partial ? DEV_DEGRADED : DEV_ONLINE, partial ? reason : NULL);
		return;
	}
	h->fails++;
	if (h->fails >= HEALTH_FAILS_OFFLINE) {
		/* poll an offline device at a growing, capped interval */
		unsigned cap = (unsigned)dev->conf->backoff_max_ms;
		unsigned base = (unsigned)dev->conf->poll_interval_ms;
		h->backoff_ms = h->backoff_ms ? h->backoff_ms * 2 : base;
		if (h->backoff_ms > cap)
			h->backoff_ms = cap;
		h->retry_at_us = mono_us() + (int64_t)h->backoff_ms * 1000;
		sink_set_state(sink, dev, DEV_OFFLINE, reason);
	} else if (dev->state == DEV_ONLINE || dev->state == DEV_DEGRADED) {
		/* answering until now: not offline yet, but not well */
		sink_set_state(sink, dev, DEV_DEGRADED, reason);
	} else {
		snprintf(dev->reason, sizeof(dev->reason), "%s", reason ? reason : "");
	}
}
