/* A configured device at run time, whatever its driver: what the gateway
 * keeps of it (state, last values, store series) and what a driver may
 * read of it (its config, its phase). Drivers see this and the sink
 * (sink.h), nothing else of the gateway. */
#ifndef WARDGW_DEVICE_H
#define WARDGW_DEVICE_H

#include <stddef.h>
#include <stdint.h>

struct device_conf;

/* online, degraded and offline are defined in health.h */
enum device_state { DEV_UNKNOWN, DEV_ONLINE, DEV_OFFLINE, DEV_DEGRADED };
const char *device_state_name(enum device_state s);

/* A configured device at run time, whatever its driver. */
struct device {
	const struct device_conf *conf;
	size_t index;
	enum device_state state;
	char reason[160];           /* why it is offline (or the last error) */
	int64_t *series;            /* store ids, one per profile register */
	size_t rseries;             /* index of the first register in the rollup */
	enum device_state reported; /* last state sent as an event */
	int64_t changed_ms;         /* when state last changed */
	double *last;               /* last values, NaN until read */
	unsigned char *lastq;       /* quality of each last value (enum quality) */
	int64_t last_ok_ms;         /* wall clock of the last good poll */
	int64_t last_ok_us;         /* the same on the monotonic clock, for silences */
	char *topic;                /* telemetry topic */
	char *bn;                   /* SenML base name */
	void *drv;                  /* the driver's per-device state */
	int64_t poll_started_us;    /* mono time of the poll in progress (latency) */
	int64_t due_us;             /* mono time of its next poll slot, kept by the
				     * driver (0: none); a restart by a reload
				     * keeps the phase (poll_schedule_resume) */
};

#endif
