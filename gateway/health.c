/* Loop lag, poll latency, the systemd watchdog and the status snapshot.
 * One 250 ms timer does all: its lateness is the loop lag, and because it
 * runs on the loop, a loop that is stuck stops feeding the watchdog. */
#include "health.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "gateway.h"
#include "log.h"
#include "sdnotify.h"
#include "status.h"

#define TICK_US 250000
/* The snapshot is looked at this often, and rewritten only when what it
 * shows changed (status_digest) or store.snapshot_max_s has passed since
 * it was last written: it is flash worn for nothing otherwise. */
#define SNAPSHOT_US 5000000
/* The write rate shown: over the last minute (this many checks). */
#define IO_RING 13

const double health_bucket_le[HEALTH_NBUCKETS] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

struct health {
	struct gateway *gw;
	struct event *tick;
	int64_t due_us;
	int64_t wd_every_us, wd_last_us;
	int64_t snap_last_us;       /* last look at the snapshot */
	int64_t snap_written_us;    /* last time it was written */
	uint64_t snap_digest;       /* of what it showed then (0: none yet) */
	char *status_path;
	struct health_stats st;
	int snap_failed;            /* logged once until it works again */
	struct { int64_t us; uint64_t wchar, disk; } io[IO_RING];
	unsigned nio;
};

unsigned long long health_proc_io(const char *key)
{
	FILE *f = fopen("/proc/self/io", "r");
	char line[128];
	size_t k = strlen(key);
	unsigned long long v = 0;

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, k) && line[k] == ':')
			v = strtoull(line + k + 1, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

/* The process's write counters now; the rates over the ring's span. */
static void io_sample(struct health *h, int64_t now)
{
	unsigned i = h->nio % IO_RING, old = h->nio >= IO_RING - 1 ? (h->nio + 1) % IO_RING : 0;

	h->io[i].us = now;
	h->io[i].wchar = health_proc_io("wchar");
	h->io[i].disk = health_proc_io("write_bytes");
	h->nio++;
	if (h->nio < 2 || h->io[i].us <= h->io[old].us)
		return;
	double s = (double)(h->io[i].us - h->io[old].us) / 1e6;
	h->st.write_bps = (double)(h->io[i].wchar - h->io[old].wchar) / s;
	h->st.disk_write_bps = (double)(h->io[i].disk - h->io[old].disk) / s;
}

int health_snapshot_max_s(const struct health *h)
{
	return h && h->gw && h->gw->cfg ? h->gw->cfg->snapshot_max_s : 5;
}

static void arm(struct health *h)
{
	struct timeval tv = { 0, TICK_US };

	h->due_us = mono_us() + TICK_US;
	evtimer_add(h->tick, &tv);
}

static int write_snapshot(struct health *h, uint64_t digest);

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct health *h = arg;
	int64_t now = mono_us();

	h->st.lag_us = now > h->due_us ? now - h->due_us : 0;
	if (h->st.lag_us > h->st.lag_max_us)
		h->st.lag_max_us = h->st.lag_us;
	h->st.last_tick_us = now;
	if (h->wd_every_us && now - h->wd_last_us >= h->wd_every_us) {
		if (sd_notify_send("WATCHDOG=1") > 0)
			h->st.watchdog_pings++;
		h->wd_last_us = now;
	}
	if (now - h->snap_last_us >= SNAPSHOT_US) {
		uint64_t d = status_digest(h->gw);
		io_sample(h, now);
		if (h->snap_failed || !d || d != h->snap_digest ||
		    now - h->snap_written_us >= (int64_t)health_snapshot_max_s(h) * 1000000)
			write_snapshot(h, d);
		else
			h->st.snapshot_unchanged++;
		h->snap_last_us = now;
	}
	arm(h);
}

int health_new(struct health **out, struct gateway *gw, const char *status_path)
{
	struct health *h = calloc(1, sizeof(*h));

	*out = NULL;
	if (!h || !(h->status_path = strdup(status_path)) ||
	    !(h->tick = evtimer_new(gw->base, on_tick, h))) {
		health_free(h);
		return -ENOMEM;
	}
	h->gw = gw;
	/* systemd wants a ping within WatchdogSec; ping at half of it */
	h->wd_every_us = sd_watchdog_usec() / 2;
	h->st.last_tick_us = mono_us();
	h->snap_last_us = mono_us() - SNAPSHOT_US + 1000000;   /* first snapshot after 1 s */
	arm(h);
	*out = h;
	return 0;
}

void health_free(struct health *h)
{
	if (!h)
		return;
	if (h->tick)
		event_free(h->tick);
	free(h->status_path);
	free(h);
}

void health_poll_latency(struct health *h, int64_t us)
{
	double s = (double)us / 1e6;
	size_t i = 0;

	if (!h || us < 0)
		return;
	while (i < HEALTH_NBUCKETS && s > health_bucket_le[i])
		i++;
	h->st.lat_bucket[i]++;
	h->st.lat_count++;
	h->st.lat_sum_s += s;
}

void health_get(const struct health *h, struct health_stats *st)
{
	if (h)
		*st = h->st;
	else
		memset(st, 0, sizeof(*st));
}

void health_reload(struct health *h, int ok)
{
	if (!h)
		return;
	h->st.reloads++;
	h->st.reload_failures += !ok;
}

const char *health_status_path(const struct health *h)
{
	return h->status_path;
}

/* tmp + fsync-free rename: a reader sees the old file or the new one,
 * never half of one. (No fsync: after a power cut a stale or empty
 * snapshot is harmless, and flash should not be worn every 5 s.) */
int health_write_snapshot(struct health *h)
{
	return write_snapshot(h, status_digest(h->gw));
}

/* The snapshot file, whose stable part has @digest. */
static int write_snapshot(struct health *h, uint64_t digest)
{
	char *json = status_json(h->gw), *tmp = NULL;
	FILE *f = NULL;
	int ret = 0;

	if (!json || asprintf(&tmp, "%s.tmp", h->status_path) < 0) {
		if (!h->snap_failed)
			log_warn("status: cannot build the snapshot: out of memory");
		h->snap_failed = 1;
		free(json);
		return -ENOMEM;
	}
	if (!(f = fopen(tmp, "w")) || fputs(json, f) < 0 || fputc('\n', f) < 0) {
		ret = -errno;
		if (f)
			fclose(f);
		f = NULL;
		goto out;
	}
	if (fclose(f) != 0) {
		ret = -errno;
		goto out;
	}
	if (rename(tmp, h->status_path) < 0) {
		ret = -errno;
		goto out;
	}
	h->snap_digest = digest;
	h->snap_written_us = mono_us();
	h->st.snapshot_writes++;
	h->st.snapshot_bytes += strlen(json) + 1;
out:
	if (ret < 0 && !h->snap_failed)
		log_warn("status: cannot write %s: %s", h->status_path, strerror(-ret));
	if (ret < 0)
		unlink(tmp);
	h->snap_failed = ret < 0;
	free(tmp);
	free(json);
	return ret;
}
