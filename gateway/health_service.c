/* The gateway's health watch as a service (service.h): loop lag, poll
 * latency, the watchdog and status.json (health.c). It has no section. */
#include "service.h"

#include <errno.h>
#include <stdlib.h>

#include "config.h"
#include "gateway.h"
#include "health.h"

static int start(struct gateway *gw)
{
	char *path = config_data_path(gw->cfg, "status.json");
	int ret;

	if (!path)
		return -ENOMEM;
	ret = health_new(&gw->health, gw, path);
	free(path);
	return ret;
}

static void stop(struct gateway *gw)
{
	health_free(gw->health);
	gw->health = NULL;
}

static void polled(struct gateway *gw, struct device *dev, int64_t latency_us)
{
	health_poll_latency(gw->health, latency_us);
}

/* Count the reload and show its outcome in status.json at once. */
static void reloaded(struct gateway *gw, int ok)
{
	health_reload(gw->health, ok);
	health_write_snapshot(gw->health);
}

const struct service_ops health_service = {
	.phase = SERVICE_OPS,
	.start = start,
	.stop = stop,
	.polled = polled,
	.reloaded = reloaded,
};
