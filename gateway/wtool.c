/* `wardgw write`: one write of a configured device's metric, on a private
 * event loop with the device's own driver started in no-poll mode, so the
 * technician exercises exactly the daemon's write path. */
#include "wtool.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "gateway.h"
#include "log.h"
#include "loopq.h"
#include "probe.h"
#include "sink.h"

struct wresult {
	struct event_base *base;
	int done, err;
	double readback;
	char reason[192];
};

static void on_written(void *arg, int err, double readback, const char *reason)
{
	struct wresult *r = arg;

	r->done = 1;
	r->err = err;
	r->readback = readback;
	snprintf(r->reason, sizeof(r->reason), "%s", reason ? reason : "");
	event_base_loopbreak(r->base);
}

static void on_guard(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

int wtool_parse_value(const char *s, double *out)
{
	static const char *const on[] = { "on", "true", NULL }, *const off[] = { "off", "false", NULL };
	char *end;
	double v;

	for (int i = 0; on[i]; i++) {
		if (!strcasecmp(s, on[i])) {
			*out = 1;
			return 0;
		}
		if (!strcasecmp(s, off[i])) {
			*out = 0;
			return 0;
		}
	}
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v))
		return -EINVAL;
	*out = v;
	return 0;
}

static const struct reg_def *find_reg(const struct profile *p, const char *metric)
{
	for (size_t i = 0; i < p->nregs; i++)
		if (!strcmp(p->regs[i].metric, metric))
			return &p->regs[i];
	return NULL;
}

static void list_writable(const struct profile *p, FILE *errs)
{
	int n = 0;

	for (size_t i = 0; i < p->nregs; i++)
		if (p->regs[i].writable)
			fprintf(errs, "%s%s", n++ ? ", " : "; writable metrics: ", p->regs[i].metric);
	if (!n)
		fprintf(errs, "; profile %s marks no register writable", p->name);
	fprintf(errs, "\n");
}

int wtool_write(const struct gw_config *cfg, const char *name, const char *metric,
		const char *value_str, FILE *out, FILE *errs)
{
	const struct device_conf *dc = config_device(cfg, name);
	struct gateway gw;
	struct device dev;
	struct wresult r = { 0 };
	struct event *guard = NULL;
	const struct reg_def *d;
	double value;
	int ret = 1, started = 0;

	if (wtool_parse_value(value_str, &value) < 0) {
		fprintf(errs, "wardgw write: --value must be a number, or on/off/true/false (got '%s')\n", value_str);
		return 2;
	}
	if (!dc) {
		const char *close[3];
		size_t n = probe_similar_devices(cfg, name, close, 3);
		fprintf(errs, "wardgw write: no device named '%s' in %s", name, cfg->path);
		for (size_t i = 0; i < n; i++)
			fprintf(errs, "%s%s", i ? ", " : "; did you mean ", close[i]);
		fprintf(errs, "%s\n", n ? "?" : "");
		return 1;
	}
	if (!(d = find_reg(dc->profile, metric))) {
		fprintf(errs, "wardgw write: %s (profile %s) has no metric '%s'", name, dc->profile->name, metric);
		list_writable(dc->profile, errs);
		return 1;
	}
	if (!d->writable) {
		fprintf(errs, "wardgw write: %s %s is not writable (profile %s, %s:%d has no 'writable = true;')",
			name, metric, dc->profile->name, d->at.file, d->at.line);
		list_writable(dc->profile, errs);
		return 1;
	}
	if ((!isnan(d->min) && value < d->min) || (!isnan(d->max) && value > d->max)) {
		fprintf(errs, "wardgw write: %s %s: %g is outside the profile's range %g..%g %s\n", name, metric,
			value, d->min, d->max, d->unit ? d->unit : "");
		return 1;
	}
	uint16_t w[4];
	if (reg_def_encode(d, value, w) < 0) {
		fprintf(errs, "wardgw write: %s %s: %g does not fit a %s register (scale %g, offset %g)%s\n", name,
			metric, value, reg_type_name(d->type), d->scale, d->offset,
			d->type == TYPE_BIT ? ": a bit takes 0 or 1 (off/on)" : "");
		return 1;
	}

	memset(&gw, 0, sizeof(gw));
	memset(&dev, 0, sizeof(dev));
	gw.cfg = (struct gw_config *)cfg;
	gw.no_poll = 1;
	/* serial drivers answer from their bus threads */
	evthread_use_pthreads();
	gw.base = r.base = event_base_new();
	if (!gw.base) {
		fprintf(errs, "wardgw write: out of memory\n");
		return 1;
	}
	dev.conf = dc;
	dev.state = DEV_UNKNOWN;
	gw.devices = &dev;
	gw.ndevices = 1;
	if (!dc->driver->write) {
		fprintf(errs, "wardgw write: %s: driver %s cannot write\n", name, dc->driver->name);
		goto out;
	}
	/* the driver's instance, with a sink on this private gateway (no
	 * store, no publisher: nothing but the write's answer comes back) */
	if ((ret = loopq_new(&gw.q, gw.base)) < 0 || (ret = sink_new(&gw.sink, &gw)) < 0 ||
	    (ret = driver_set_init(&gw.drv, gw.sink)) < 0 || (ret = driver_start_device(&gw.drv, &dev)) < 0) {
		fprintf(errs, "wardgw write: %s: cannot start driver %s: %s\n", name, dc->driver->name, strerror(-ret));
		ret = 1;
		goto out;
	}
	started = 1;
	driver_set_settle(&gw.drv);
	ret = gateway_write(&gw, &dev, metric, value, on_written, &r);
	if (ret < 0) {
		fprintf(errs, "wardgw write: %s %s: %s\n", name, metric, strerror(-ret));
		ret = 1;
		goto out;
	}
	/* every stage has the device's timeout; this only guards the tool */
	struct timeval tv = { dc->timeout_ms * 4 / 1000 + 2, 0 };
	guard = evtimer_new(gw.base, on_guard, gw.base);
	if (guard)
		evtimer_add(guard, &tv);
	event_base_dispatch(gw.base);
	if (!r.done) {
		fprintf(errs, "wardgw write: %s %s: no answer in %ld s\n", name, metric, (long)tv.tv_sec);
		ret = 1;
		goto out;
	}
	if (r.err) {
		fprintf(errs, "wardgw write: %s %s = %g: %s\n", name, metric, value, r.reason);
		ret = 1;
		goto out;
	}
	fprintf(out, "%s %s = %.10g %s (read back; wrote %.10g to %s 0x%04x as %s", name, metric, r.readback,
		d->unit ? d->unit : "", value, reg_table_name(d->table), d->address, reg_type_name(d->type));
	if (reg_type_words(d->type) > 1 || d->type == TYPE_U16 || d->type == TYPE_S16) {
		char o[9] = { 0 };
		for (unsigned i = 0; i < d->order.nbytes; i++)
			o[d->order.src[i]] = (char)('A' + i);
		fprintf(out, " %s", o);
	}
	fprintf(out, ")\n");
	ret = 0;
out:
	if (started)
		driver_stop_device(&gw.drv, &dev);
	driver_set_release(&gw.drv);
	sink_free(gw.sink);
	if (gw.q)
		loopq_free(gw.q);
	if (guard)
		event_free(guard);
	event_base_free(gw.base);
	return ret;
}
