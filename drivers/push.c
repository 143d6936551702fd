/* Push driver ("push"): devices that are not polled but push their readings
 * to the gateway's HTTP ingest endpoint (hotspot controllers of other
 * brands). Each has a profile like any device, so its values are ordinary
 * series with rollups and KPIs; poll_interval_ms is the interval it is
 * expected to push at: silent for three of them, it goes offline. The
 * readings themselves reach the gateway through the sink (ingest.c). */
#include "driver.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "config.h"
#include "device.h"
#include "sink.h"

struct push_conf {
	int unused;
};

static const struct opt push_opts[] = { { 0 } };

/* The instance holds nothing but the interface: each device's watch is
 * its own. */
struct push_driver {
	struct driver base;
};

struct push_dev {
	struct sink *sink;
	struct device *dev;
	struct event *ev;
	int64_t since_us;           /* monotonic: when it started listening */
};

static void on_check(evutil_socket_t fd, short what, void *arg)
{
	struct push_dev *p = arg;
	int64_t iv = p->dev->conf->poll_interval_ms, last = p->dev->last_ok_us ? p->dev->last_ok_us : p->since_us;
	int64_t silent_ms = (mono_us() - last) / 1000;
	char why[96];

	/* a silence is an interval: the monotonic clock, whatever the wall says */
	if (silent_ms > 3 * iv && p->dev->state != DEV_OFFLINE) {
		snprintf(why, sizeof(why), "no push for %lld s", (long long)(silent_ms / 1000));
		sink_set_state(p->sink, p->dev, DEV_OFFLINE, why);
	}
}

static int push_new(struct driver **out, struct sink *sink)
{
	struct push_driver *pd = calloc(1, sizeof(*pd));

	if (!pd)
		return -ENOMEM;
	*out = &pd->base;
	return 0;
}

static void push_stop_device(struct driver *drv, struct device *dev)
{
	struct push_dev *p = dev->drv;

	if (!p)
		return;
	if (p->ev)
		event_free(p->ev);
	free(p);
	dev->drv = NULL;
}

static int push_start_device(struct driver *drv, struct device *dev)
{
	struct push_dev *p = calloc(1, sizeof(*p));
	struct timeval tv;

	if (!p)
		return -ENOMEM;
	p->sink = drv->sink;
	p->dev = dev;
	p->since_us = mono_us();
	dev->drv = p;
	tv.tv_sec = dev->conf->poll_interval_ms / 1000;
	tv.tv_usec = (dev->conf->poll_interval_ms % 1000) * 1000;
	if (!(p->ev = event_new(sink_base(drv->sink), -1, EV_PERSIST, on_check, p)) || event_add(p->ev, &tv) < 0) {
		push_stop_device(drv, dev);
		return -ENOMEM;
	}
	return 0;
}

static void push_move_device(struct driver *drv, struct device *dev)
{
	struct push_dev *p = dev->drv;

	if (p)
		p->dev = dev;
}

static void push_free(struct driver *drv)
{
	/* the gateway stops every device before; nothing else is held */
	free(drv);
}

const struct driver_ops push_driver = {
	.name = "push",
	.opts = push_opts,
	.conf_size = sizeof(struct push_conf),
	.new = push_new,
	.free = push_free,
	.start_device = push_start_device,
	.stop_device = push_stop_device,
	.move_device = push_move_device,
};
