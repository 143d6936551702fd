/* Push driver ("push"): devices that are not polled but push their readings
 * to the gateway's HTTP ingest endpoint (hotspot controllers of other
 * brands). Each has a profile like any device, so its values are ordinary
 * series with rollups and KPIs; poll_interval_ms is the interval it is
 * expected to push at: silent for three of them, it goes offline. */
#include "driver.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "gateway.h"

struct push_conf {
	int unused;
};

static const struct opt push_opts[] = { { 0 } };

struct push_dev {
	struct gateway *gw;
	struct device *dev;
	struct event *ev;
	int64_t since_us;           /* monotonic: when it started listening */
};

static struct push_dev **pdevs;
static size_t npdevs;

static void on_check(evutil_socket_t fd, short what, void *arg)
{
	struct push_dev *p = arg;
	int64_t iv = p->dev->conf->poll_interval_ms, last = p->dev->last_ok_us ? p->dev->last_ok_us : p->since_us;
	int64_t silent_ms = (mono_us() - last) / 1000;
	char why[96];

	/* a silence is an interval: the monotonic clock, whatever the wall says */
	if (silent_ms > 3 * iv && p->dev->state != DEV_OFFLINE) {
		snprintf(why, sizeof(why), "no push for %lld s", (long long)(silent_ms / 1000));
		gateway_set_state(p->gw, p->dev, DEV_OFFLINE, why);
	}
}

static int push_start(struct gateway *gw, struct event_base *base)
{
	size_t n = 0;

	for (size_t i = 0; i < gw->ndevices; i++)
		n += gw->devices[i].conf->driver == &push_driver;
	if (!n)
		return 0;
	if (!(pdevs = calloc(n, sizeof(*pdevs))))
		return -ENOMEM;
	for (size_t i = 0; i < gw->ndevices; i++) {
		struct device *dev = &gw->devices[i];
		struct push_dev *p;
		struct timeval tv;

		if (dev->conf->driver != &push_driver)
			continue;
		if (!(p = calloc(1, sizeof(*p))))
			return -ENOMEM;
		pdevs[npdevs++] = p;
		p->gw = gw;
		p->dev = dev;
		p->since_us = mono_us();
		dev->drv = p;
		tv.tv_sec = dev->conf->poll_interval_ms / 1000;
		tv.tv_usec = (dev->conf->poll_interval_ms % 1000) * 1000;
		if (!(p->ev = event_new(base, -1, EV_PERSIST, on_check, p)) || event_add(p->ev, &tv) < 0)
			return -ENOMEM;
	}
	return 0;
}

static void push_stop(struct gateway *gw)
{
	for (size_t i = 0; i < npdevs; i++) {
		if (pdevs[i]->ev)
			event_free(pdevs[i]->ev);
		pdevs[i]->dev->drv = NULL;
		free(pdevs[i]);
	}
	free(pdevs);
	pdevs = NULL;
	npdevs = 0;
	(void)gw;
}

const struct driver_ops push_driver = {
	.name = "push",
	.opts = push_opts,
	.conf_size = sizeof(struct push_conf),
	.start = push_start,
	.stop = push_stop,
};
