/* The status snapshot (JSON), the /metrics text, and the `status` printer.
 * Generic over devices: each device's state is whatever
 * device_state_name() calls it, and each driver is a source. */
#include "status.h"
#include "i18n.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "gateway.h"
#include "health.h"
#include "httpd.h"
#include "httpguard.h"
#include "ingest.h"
#include "outbox.h"
#include "publisher.h"
#include "rollup.h"
#include "store.h"
#include "timeparse.h"
#include "version.h"

#define MAX_STATES 16

struct state_count {
	const char *name;
	size_t n;
};

static void count_state(struct state_count *c, size_t *nc, const char *name)
{
	for (size_t i = 0; i < *nc; i++)
		if (!strcmp(c[i].name, name)) {
			c[i].n++;
			return;
		}
	if (*nc < MAX_STATES) {
		c[*nc].name = name;
		c[(*nc)++].n = 1;
	}
}

/* Every northbound link: "ioc" (the mqtt section) and links = ( ... ).
 * With @stable, only each link's name, state, node and connects (what the
 * snapshot's digest looks at). */
static json_t *links_json(struct gateway *gw, int stable)
{
	json_t *a = json_array();
	int n = gw->outbox ? outbox_nlinks(gw->outbox) : 0;

	for (int i = 0; a && i < n; i++) {
		struct outbox_link_stats ls;
		struct publisher_stats ps = { 0 };
		struct publisher *pub = i == 0 ? gw->pub : (size_t)i <= gw->nlinks ? gw->links[i - 1].pub : NULL;
		const char *uri = i == 0 ? gw->cfg->mqtt_uri : (size_t)i <= gw->nlinks ? gw->links[i - 1].uri : "";
		if (outbox_link_get_stats(gw->outbox, i, &ls) < 0)
			continue;
		if (pub)
			publisher_get_stats(pub, &ps);
		if (stable) {
			/* a link that moved to another node, or went down and came
			 * back between two looks, is a change too */
			json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:I}", "name", ls.name, "state",
							   ps.connected ? "up" : "down", "server",
							   ps.server ? ps.server : "", "connects",
							   (json_int_t)ps.connects));
			continue;
		}
		/* server: the node of its uris the link is on (or was last on), since server_since (ms) */
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			"name", ls.name, "uri", uri ? uri : "", "state", ps.connected ? "up" : "down",
			"server", ps.server ? ps.server : "", "server_since", (json_int_t)ps.server_since_ms,
			"sent", (json_int_t)ls.sent, "acked", (json_int_t)ls.acked, "failed", (json_int_t)ls.failed,
			"inflight", (json_int_t)ls.inflight, "backlog_messages", (json_int_t)ls.prio_backlog,
			"telemetry_cursor", (json_int_t)ls.tele_cursor, "telemetry_commits", (json_int_t)ls.tele_lag,
			"telemetry_bytes", (json_int_t)ls.tele_bytes, "connects", (json_int_t)ps.connects,
			"disconnects", (json_int_t)ps.disconnects));
	}
	return a ? a : json_array();
}

#define FNV_START 14695981039346656037ull

static uint64_t fnv(uint64_t h, const void *p, size_t n)     /* FNV-1a */
{
	for (const unsigned char *c = p; n--; c++)
		h = (h ^ *c) * 1099511628211ull;
	return h;
}

/* The length of the UTF-8 sequence at @s (1-4), 0 when it is not one. */
static int utf8_len(const unsigned char *s)
{
	int n = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;

	for (int i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* overlong forms, surrogates, past U+10FFFF */
	if ((n == 2 && s[0] < 0xc2) || (n == 3 && s[0] == 0xe0 && s[1] < 0xa0) ||
	    (n == 3 && s[0] == 0xed && s[1] >= 0xa0) || (n == 4 && s[0] == 0xf0 && s[1] < 0x90) ||
	    (n == 4 && (s[0] > 0xf4 || (s[0] == 0xf4 && s[1] >= 0x90))))
		return 0;
	return n;
}

/* @s as a JSON string, as jansson writes it (JSON_COMPACT); a byte that is
 * not UTF-8 becomes U+FFFD, where jansson would refuse the whole value. */
static void json_str(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	while (*p) {
		int n = utf8_len(p);
		if (!n) {
			fputs("\xef\xbf\xbd", f);
			p++;
			continue;
		}
		if (n > 1) {
			fwrite(p, 1, (size_t)n, f);
			p += n;
			continue;
		}
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\b': fputs("\\b", f); break;
		case '\f': fputs("\\f", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (*p < 0x20)
				fprintf(f, "\\u%04X", *p);
			else
				fputc(*p, f);
		}
		p++;
	}
	fputc('"', f);
}

/* The snapshot; with @stable, only what does not move while nothing
 * happens (no time, counters, lags, last readings): what decides whether
 * the snapshot file must be rewritten (health.c). */
static char *build_json(struct gateway *gw, int stable, uint64_t *digest)
{
	struct outbox_stats os = { 0 };
	struct publisher_stats ps = { 0 };
	struct health_stats hs;
	const char *why = "";
	json_t *root, *srcs;
	char *out = NULL, *head = NULL;
	size_t outlen = 0;
	FILE *f = NULL;
	int failing = gw->store ? store_failing(gw->store, &why) : 1;

	if (gw->outbox)
		outbox_get_stats(gw->outbox, &os);
	if (gw->pub)
		publisher_get_stats(gw->pub, &ps);
	health_get(gw->health, &hs);
	srcs = json_array();
	/* sources: the drivers in use, with their devices' states */
	for (const struct driver_ops *const *drv = drivers; srcs && *drv; drv++) {
		struct state_count c[MAX_STATES];
		size_t nc = 0, n = 0;
		json_t *states = json_object();

		for (size_t i = 0; i < gw->ndevices; i++)
			if (gw->devices[i].conf->driver == *drv) {
				n++;
				count_state(c, &nc, device_state_name(gw->devices[i].state));
			}
		if (!n) {
			json_decref(states);
			continue;
		}
		for (size_t k = 0; k < nc; k++)
			json_object_set_new(states, c[k].name, json_integer((json_int_t)c[k].n));
		size_t online = 0;
		for (size_t k = 0; k < nc; k++)
			if (!strcmp(c[k].name, "online"))
				online = c[k].n;
		json_array_append_new(srcs, json_pack("{s:s, s:I, s:o, s:s}", "driver", (*drv)->name,
						      "devices", (json_int_t)n, "states", states, "state",
						      online == n ? "ok" : online ? "degraded" : "down"));
	}
	root = json_pack("{s:s, s:s, s:s, s:i, s:I, s:I, s:s, s:i,"
			 " s:{s:s, s:s, s:s, s:I, s:I, s:I, s:I},"
			 " s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I},"
			 " s:{s:b, s:s, s:I, s:I},"
			 " s:{s:f, s:f, s:I, s:I},"
			 " s:o}",
		"gateway", gw->cfg->gateway_id, "ward", gw->cfg->ward ? gw->cfg->ward : "",
		"version", WARDGW_VERSION, "pid", (int)getpid(),
		"started", (json_int_t)gw->started_ms, "ts", (json_int_t)(stable ? 0 : wall_ms()),
		"config", gw->cfg->digest, "interval_s", health_snapshot_max_s(gw->health),
		"link", "state", ps.connected ? "up" : "down", "uri", gw->cfg->mqtt_uri,
		"server", ps.server ? ps.server : "", "server_since", (json_int_t)ps.server_since_ms,
		"sent", (json_int_t)ps.sent, "connects", (json_int_t)ps.connects,
		"disconnects", (json_int_t)ps.disconnects,
		"outbox", "messages", (json_int_t)os.rows, "bytes", (json_int_t)os.bytes,
		"inflight", (json_int_t)os.inflight, "oldest", (json_int_t)os.oldest_ms,
		"dropped", (json_int_t)os.dropped, "telemetry_commits", (json_int_t)os.tele_records,
		"telemetry_bytes", (json_int_t)os.tele_bytes,
		"store", "ok", !failing, "error", why ? why : "",
		"pending", (json_int_t)(gw->store ? store_pending(gw->store) : 0),
		"samples_dropped", (json_int_t)(gw->store ? store_dropped(gw->store) : 0),
		"loop", "lag_ms", (double)hs.lag_us / 1000.0, "lag_max_ms", (double)hs.lag_max_us / 1000.0,
		"reloads", (json_int_t)hs.reloads, "reload_failures", (json_int_t)hs.reload_failures,
		"sources", srcs ? srcs : json_array());
	if (!root)
		return NULL;
	if (stable) {
		/* only what does not move by itself (counters, gauges, times
		 * do, and so would whatever is added later): a list of what
		 * stays, not of what goes */
		static const char *const keep[] = {
			"gateway", "ward", "version", "pid", "started", "config", "interval_s", "sources",
			"link.state", "link.uri", "link.server", "link.connects", "store.ok", "store.error",
			"loop.reloads", "loop.reload_failures",
		};
		const char *k, *k2;
		json_t *v, *v2;
		void *tmp, *tmp2;
		json_object_foreach_safe(root, tmp, k, v) {
			int inner = 0, whole = 0;
			size_t kl = strlen(k);
			for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
				whole |= !strcmp(keep[i], k);
				inner |= !strncmp(keep[i], k, kl) && keep[i][kl] == '.';
			}
			if (whole)
				continue;
			if (!inner || !json_is_object(v)) {
				json_object_del(root, k);
				continue;
			}
			json_object_foreach_safe(v, tmp2, k2, v2) {
				int kept = 0;
				for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
					kept |= !strncmp(keep[i], k, kl) && keep[i][kl] == '.' && !strcmp(keep[i] + kl + 1, k2);
				if (!kept)
					json_object_del(v, k2);
			}
		}
	}
	json_object_set_new(root, "links", links_json(gw, stable));
	head = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (!head)
		return NULL;
	if (digest) {
		/* the devices' part of the digest from their fields, not from
		 * their JSON: at 5,000 devices, every 5 s */
		uint64_t h = fnv(FNV_START, head, strlen(head));
		for (size_t i = 0; i < gw->ndevices; i++) {
			const struct device *d = &gw->devices[i];
			const char *st = device_state_name(d->state);
			h = fnv(h, d->conf->name, strlen(d->conf->name) + 1);
			h = fnv(h, d->conf->driver->name, strlen(d->conf->driver->name) + 1);
			h = fnv(h, st, strlen(st) + 1);
			h = fnv(h, d->reason, strlen(d->reason) + 1);
			h = fnv(h, &d->changed_ms, sizeof(d->changed_ms));
		}
		*digest = h ? h : 1;
		free(head);
		return NULL;
	}
	/* the devices one row at a time, written here rather than through a
	 * JSON tree (5,000 devices are 4 MB as one tree, and a tree a row
	 * costs 5,000 of them): "{...}" becomes "{...,"devices":[row,...]}" */
	if (!(f = open_memstream(&out, &outlen)))
		goto fail;
	fwrite(head, 1, strlen(head) - 1, f);
	fputs(",\"devices\":[", f);
	for (size_t i = 0; i < gw->ndevices; i++) {
		const struct device *d = &gw->devices[i];
		if (i)
			fputc(',', f);
		fputs("{\"name\":", f);
		json_str(f, d->conf->name);
		fputs(",\"driver\":", f);
		json_str(f, d->conf->driver->name);
		fputs(",\"state\":", f);
		json_str(f, device_state_name(d->state));
		fputs(",\"reason\":", f);
		json_str(f, d->reason);
		fprintf(f, ",\"since\":%lld", (long long)d->changed_ms);
		if (!stable)
			fprintf(f, ",\"last_ok\":%lld", (long long)d->last_ok_ms);
		fputc('}', f);
	}
	fputs("]}", f);
	if (fclose(f) != 0) {
		f = NULL;
		goto fail;
	}
	free(head);
	return out;
fail:
	if (f)
		fclose(f);
	free(out);
	free(head);
	return NULL;
}

char *status_json(struct gateway *gw)
{
	return build_json(gw, 0, NULL);
}

uint64_t status_digest(struct gateway *gw)
{
	uint64_t h = 0;

	build_json(gw, 1, &h);
	return h;
}

/* Label values: backslash, quote and newline escaped (names are plain
 * already, but the format says so). */
static void label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

/* Per link, labelled link="...". */
static void links_metrics(FILE *f, struct gateway *gw)
{
	static const struct { const char *name, *type, *help; } m[] = {
		{ "wardgw_link_up", "gauge", "1 while the link is connected to its broker." },
		{ "wardgw_link_sent_total", "counter", "Messages the outbox handed to the link." },
		{ "wardgw_link_acked_total", "counter", "Messages the link's broker acknowledged." },
		{ "wardgw_link_failed_total", "counter", "Messages the link gave up on (sent again later)." },
		{ "wardgw_link_inflight", "gauge", "Messages sent on the link, awaiting acknowledgement." },
		{ "wardgw_link_backlog_messages", "gauge", "KPI, event and answer messages the link still owes." },
		{ "wardgw_link_telemetry_lag_commits", "gauge", "Commits whose telemetry the link still owes." },
		{ "wardgw_link_telemetry_backlog_bytes", "gauge", "Commit log bytes of that telemetry." },
		{ "wardgw_link_connects_total", "counter", "Successful connections of the link to its broker." },
		{ "wardgw_link_disconnects_total", "counter", "Connections of the link lost." },
		{ "wardgw_link_server_info", "gauge", "The node of its uris the link is on (or was last on): 1 while connected." },
	};
	int n = gw->outbox ? outbox_nlinks(gw->outbox) : 0;

	for (size_t k = 0; k < sizeof(m) / sizeof(m[0]); k++) {
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", m[k].name, m[k].help, m[k].name, m[k].type);
		for (int i = 0; i < n; i++) {
			struct outbox_link_stats ls;
			struct publisher_stats ps = { 0 };
			struct publisher *pub = i == 0 ? gw->pub : (size_t)i <= gw->nlinks ? gw->links[i - 1].pub : NULL;
			if (outbox_link_get_stats(gw->outbox, i, &ls) < 0)
				continue;
			if (pub)
				publisher_get_stats(pub, &ps);
			long long v = k == 0 ? ps.connected : k == 1 ? (long long)ls.sent : k == 2 ? (long long)ls.acked :
				      k == 3 ? (long long)ls.failed : k == 4 ? ls.inflight : k == 5 ? ls.prio_backlog :
				      k == 6 ? ls.tele_lag : k == 7 ? ls.tele_bytes : k == 8 ? (long long)ps.connects :
				      k == 9 ? (long long)ps.disconnects : ps.connected;
			if (k == 10 && !ps.server)
				continue;       /* never connected: no node to name */
			fprintf(f, "%s{link=\"", m[k].name);
			label(f, ls.name);
			if (k == 10) {
				fputs("\",uri=\"", f);
				label(f, ps.server);
			}
			fprintf(f, "\"} %lld\n", v);
		}
	}
}

char *status_metrics(struct gateway *gw)
{
	struct outbox_stats os = { 0 };
	struct publisher_stats ps = { 0 };
	struct health_stats hs;
	struct state_count c[MAX_STATES];
	size_t nc = 0, sz = 0;
	char *buf = NULL;
	const char *why;
	FILE *f = open_memstream(&buf, &sz);
	uint64_t cum = 0;

	if (!f)
		return NULL;
	if (gw->outbox)
		outbox_get_stats(gw->outbox, &os);
	if (gw->pub)
		publisher_get_stats(gw->pub, &ps);
	health_get(gw->health, &hs);
#define COUNTER(n, help, v) fprintf(f, "# HELP " n " " help "\n# TYPE " n " counter\n" n " %llu\n", \
				    (unsigned long long)(v))
#define GAUGE(n, help, fmt, v) fprintf(f, "# HELP " n " " help "\n# TYPE " n " gauge\n" n " " fmt "\n", (v))
	fprintf(f, "# HELP wardgw_info Version and config digest.\n# TYPE wardgw_info gauge\n"
		"wardgw_info{version=\"%s\",gateway=\"", WARDGW_VERSION);
	label(f, gw->cfg->gateway_id);
	fprintf(f, "\",config=\"%s\"} 1\n", gw->cfg->digest);
	GAUGE("wardgw_start_time_seconds", "Start time of the gateway, Unix seconds.", "%lld",
	      (long long)(gw->started_ms / 1000));
	fprintf(f, "# HELP wardgw_polls_total Finished polls by result.\n# TYPE wardgw_polls_total counter\n"
		"wardgw_polls_total{result=\"ok\"} %llu\nwardgw_polls_total{result=\"failed\"} %llu\n",
		(unsigned long long)gw->stats.ok, (unsigned long long)gw->stats.failed);
	COUNTER("wardgw_poll_errors_total", "Polls that failed (timeout, exception, connection).", gw->stats.failed);
	COUNTER("wardgw_polls_skipped_total", "Poll slots skipped (busy or offline backoff).",
		gw->stats.skipped_busy + gw->stats.skipped_offline);
	COUNTER("wardgw_values_total", "Values stored.", gw->stats.values);
	COUNTER("wardgw_modbus_frames_discarded_total",
		"Modbus frames dropped (wrong transaction id or unit, bad CRC, malformed, incomplete).",
		gw->stats.frames_discarded);
	fprintf(f, "# HELP wardgw_poll_duration_seconds Time from a poll's start to its answer.\n"
		"# TYPE wardgw_poll_duration_seconds histogram\n");
	for (int i = 0; i < HEALTH_NBUCKETS; i++) {
		cum += hs.lat_bucket[i];
		fprintf(f, "wardgw_poll_duration_seconds_bucket{le=\"%g\"} %llu\n", health_bucket_le[i],
			(unsigned long long)cum);
	}
	cum += hs.lat_bucket[HEALTH_NBUCKETS];
	fprintf(f, "wardgw_poll_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
		"wardgw_poll_duration_seconds_sum %.6f\nwardgw_poll_duration_seconds_count %llu\n",
		(unsigned long long)cum, hs.lat_sum_s, (unsigned long long)hs.lat_count);
	GAUGE("wardgw_outbox_messages", "KPI, event and answer messages stored for the IOC, not yet acknowledged.", "%lld", (long long)os.rows);
	GAUGE("wardgw_outbox_bytes", "Bytes stored for the IOC, not yet acknowledged (messages and telemetry backlog).", "%lld", (long long)os.bytes);
	GAUGE("wardgw_outbox_telemetry_commits", "Commit log records whose telemetry the slowest link still owes.",
	      "%lld", (long long)os.tele_records);
	GAUGE("wardgw_outbox_inflight", "Messages sent and awaiting acknowledgement.", "%lld", (long long)os.inflight);
	COUNTER("wardgw_outbox_dropped_total", "Telemetry messages dropped for the outbox caps.", os.dropped);
	COUNTER("wardgw_store_samples_dropped_total", "Samples dropped because the disk refused commits.",
		gw->store ? store_dropped(gw->store) : 0);
	COUNTER("wardgw_store_pruned_early_total", "Raw samples deleted early because the store was full.",
		gw->store ? store_pruned_early(gw->store) : 0);
	COUNTER("wardgw_store_errors_total", "Store write errors.", gw->stats.store_errors);
	COUNTER("wardgw_rollup_late_samples_total", "Samples stamped in a minute already closed (late, or after the"
		" wall clock went back): stored raw, not rolled up.", rollup_late(gw->rollup));
	/* the flash budget (docs/storage.md): what the store asked SQLite to
	 * write, and what the whole process wrote (WAL, checkpoints, status
	 * file, logs to files), as the kernel counts it */
	COUNTER("wardgw_store_written_bytes_total", "Bytes of rows the store wrote (commit log, chunks, heads).",
		gw->store ? store_written(gw->store) : 0);
	COUNTER("wardgw_process_written_bytes_total", "Bytes the process wrote (write calls, /proc/self/io wchar).",
		health_proc_io("wchar"));
	COUNTER("wardgw_process_disk_written_bytes_total", "Bytes the process caused to be written to disk"
		" (/proc/self/io write_bytes).", health_proc_io("write_bytes"));
	GAUGE("wardgw_process_write_bytes_per_second", "Bytes the process wrote per second over the last minute"
	      " (wchar).", "%.0f", hs.write_bps);
	GAUGE("wardgw_process_disk_write_bytes_per_second", "Bytes the process caused to be written to disk per"
	      " second over the last minute (write_bytes).", "%.0f", hs.disk_write_bps);
	COUNTER("wardgw_status_snapshot_writes_total", "Status snapshot files written (status.json).",
		hs.snapshot_writes);
	COUNTER("wardgw_status_snapshot_written_bytes_total", "Bytes of status snapshot files written.",
		hs.snapshot_bytes);
	COUNTER("wardgw_status_snapshot_unchanged_total", "Looks at the status snapshot that found nothing"
		" changed, so wrote nothing.", hs.snapshot_unchanged);
	GAUGE("wardgw_store_ok", "1 when the last store commit worked.", "%d",
	      gw->store && !store_failing(gw->store, &why));
	GAUGE("wardgw_mqtt_connected", "1 while connected to the broker.", "%d", ps.connected);
	COUNTER("wardgw_mqtt_sent_total", "MQTT messages handed to the client.", ps.sent);
	COUNTER("wardgw_mqtt_connects_total", "Successful broker connections.", ps.connects);
	COUNTER("wardgw_mqtt_disconnects_total", "Broker connections lost.", ps.disconnects);
	if (ps.server) {
		/* which node of a cluster (mqtt.uris) the link is on, or was last on */
		fprintf(f, "# HELP wardgw_mqtt_server_info The broker address the link is on (or was last on).\n"
			"# TYPE wardgw_mqtt_server_info gauge\nwardgw_mqtt_server_info{uri=\"");
		label(f, ps.server);
		fprintf(f, "\"} %d\n", ps.connected);
	}
	links_metrics(f, gw);
	GAUGE("wardgw_loop_lag_seconds", "How late the 250 ms loop timer last fired.", "%.6f", (double)hs.lag_us / 1e6);
	GAUGE("wardgw_loop_lag_max_seconds", "Worst loop timer lateness since start.", "%.6f",
	      (double)hs.lag_max_us / 1e6);
	COUNTER("wardgw_reloads_total", "Config reloads tried (SIGHUP).", hs.reloads);
	COUNTER("wardgw_reload_failures_total", "Config reloads refused (invalid config).", hs.reload_failures);
	httpguard_metrics(f, httpd_guard(gw->httpd), ingest_guard(gw->ingest));
	for (size_t i = 0; i < gw->ndevices; i++)
		count_state(c, &nc, device_state_name(gw->devices[i].state));
	fprintf(f, "# HELP wardgw_devices Configured devices by state.\n# TYPE wardgw_devices gauge\n");
	for (size_t k = 0; k < nc; k++)
		fprintf(f, "wardgw_devices{state=\"%s\"} %zu\n", c[k].name, c[k].n);
	fprintf(f, "# HELP wardgw_device_up 1 when the device answered its last poll.\n"
		"# TYPE wardgw_device_up gauge\n");
	for (size_t i = 0; i < gw->ndevices; i++) {
		fputs("wardgw_device_up{device=\"", f);
		label(f, gw->devices[i].conf->name);
		fprintf(f, "\"} %d\n", gw->devices[i].state == DEV_ONLINE);
	}
	fprintf(f, "# HELP wardgw_device_last_ok_seconds Time of the device's last good poll, Unix seconds.\n"
		"# TYPE wardgw_device_last_ok_seconds gauge\n");
	for (size_t i = 0; i < gw->ndevices; i++) {
		fputs("wardgw_device_last_ok_seconds{device=\"", f);
		label(f, gw->devices[i].conf->name);
		fprintf(f, "\"} %.3f\n", (double)gw->devices[i].last_ok_ms / 1000.0);
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static const char *js(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

static long long ji(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

/* States and link words for people (the snapshot keeps the English names). */
static const char *state_words(const char *s)
{
	static const char *const words[][2] = {
		{ "online", N_("online") }, { "offline", N_("offline") }, { "degraded", N_("degraded") },
		{ "unknown", N_("unknown") }, { "up", N_("up") }, { "down", N_("down") }, { "ok", N_("ok") },
	};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strcmp(s, words[i][0]))
			return _(words[i][1]);
	return s;
}

static void age(char *buf, size_t n, long long then_ms, long long now_ms)
{
	long long s = (now_ms - then_ms) / 1000;

	if (then_ms <= 0)
		snprintf(buf, n, "%s", _("never"));
	else if (s < 120)
		snprintf(buf, n, _("%llds ago"), s);
	else if (s < 7200)
		snprintf(buf, n, _("%lldm ago"), s / 60);
	else if (s < 172800)
		snprintf(buf, n, _("%lldh ago"), s / 3600);
	else
		snprintf(buf, n, _("%lldd ago"), s / 86400);
}

/* Whether @pid is a wardgw process (not a process that got its number
 * after the gateway stopped). */
static int is_wardgw(int pid)
{
	char p[64], comm[32] = "";
	FILE *f;

	if (pid <= 0)
		return 0;
	snprintf(p, sizeof(p), "/proc/%d/comm", pid);
	if (!(f = fopen(p, "r")))
		return 0;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = 0;
	fclose(f);
	return !strncmp(comm, "wardgw", 6);
}

int status_print(const char *path, int stale_s, FILE *out, FILE *err)
{
	json_error_t je;
	json_t *root = json_load_file(path, 0, &je), *v;
	long long now = wall_ms(), ts;
	char a[40], b[40];
	int ret = 0, pid;
	size_t i;

	if (!root) {
		if (errno == ENOENT || strstr(je.text, "unable to open")) {
			fprintf(err, _("wardgw status: %s; is the gateway running?\n"), je.text);
			return 3;
		}
		fprintf(err, "wardgw status: %s:%d: %s\n", path, je.line, je.text);
		return 4;
	}
	ts = ji(root, "ts");
	pid = (int)ji(root, "pid");
	/* a snapshot is rewritten when it changes, and at least every
	 * interval_s: three of those missed mean it cannot be written */
	if (stale_s > 0 && ji(root, "interval_s") > 0 && ji(root, "interval_s") <= 3600 &&
	    3 * ji(root, "interval_s") > stale_s)
		stale_s = 3 * (int)ji(root, "interval_s");
	time_format(ts, a, sizeof(a));
	fprintf(out, _("gateway %s (%s), wardgw %s, pid %d, config %s\n"), js(root, "gateway"), js(root, "ward"),
		js(root, "version"), pid, js(root, "config"));
	time_format(ji(root, "started"), b, sizeof(b));
	fprintf(out, _("  snapshot  %s (%llds old), started %s\n"), a, (now - ts) / 1000, b);
	int gone = pid > 0 && kill(pid, 0) < 0 && errno == ESRCH;
	if (now - ts > (long long)stale_s * 1000 && !gone && is_wardgw(pid)) {
		/* alive, but the snapshot is not rewritten: a full or read-only
		 * data disk, not a stopped gateway */
		struct statvfs vs;
		char dir[512], fr[64] = "";
		snprintf(dir, sizeof(dir), "%s", path);
		if (strrchr(dir, '/'))
			*strrchr(dir, '/') = 0;
		if (statvfs(dir, &vs) == 0)
			snprintf(fr, sizeof(fr), _("; %llu kB free there"),
				 (unsigned long long)vs.f_bavail * vs.f_frsize / 1024);
		age(a, sizeof(a), ts, now);
		fprintf(out, _("  RUNNING (pid %d), but it cannot write its snapshot: the last is from %s "
			"(disk full or read-only? %s%s); the figures below are from then\n"), pid, a, path, fr);
		ret = 1;
	} else if (now - ts > (long long)stale_s * 1000 || gone) {
		age(a, sizeof(a), ts, now);
		fprintf(out, _("  NOT RUNNING: the last snapshot is from %s%s\n"), a, gone ? _(" and its process is gone") : "");
		ret = 3;
	}
	v = json_object_get(root, "link");
	/* the node it is on, with mqtt.uris (a cluster) the one Paho took */
	fprintf(out, _("  link      %s (%s), %lld sent, %lld connects\n"), state_words(js(v, "state")),
		*js(v, "server") ? js(v, "server") : js(v, "uri"), ji(v, "sent"), ji(v, "connects"));
	if (strcmp(js(v, "state"), "up") && !ret)
		ret = 1;
	v = json_object_get(root, "outbox");
	age(a, sizeof(a), ji(v, "oldest"), ts);
	fprintf(out, _("  outbox    %lld messages (%lld bytes), %lld in flight, oldest %s, %lld dropped\n"),
		ji(v, "messages"), ji(v, "bytes"), ji(v, "inflight"), ji(v, "messages") ? a : "-",
		ji(v, "dropped"));
	if (ji(v, "telemetry_commits"))
		fprintf(out, _("            telemetry of %lld commits (%lld bytes) owed\n"), ji(v, "telemetry_commits"),
			ji(v, "telemetry_bytes"));
	v = json_object_get(root, "links");
	for (size_t i = 0; json_array_size(v) > 1 && i < json_array_size(v); i++) {
		json_t *l = json_array_get(v, i);
		/* the node it is on, with uris (a cluster) the one Paho took */
		fprintf(out, _("  link %-8s %s (%s), %lld sent, %lld acknowledged, %lld in flight, owes %lld messages and "
			"telemetry of %lld commits (%lld bytes)\n"), js(l, "name"), state_words(js(l, "state")),
			*js(l, "server") ? js(l, "server") : js(l, "uri"), ji(l, "sent"), ji(l, "acked"), ji(l, "inflight"), ji(l, "backlog_messages"),
			ji(l, "telemetry_commits"), ji(l, "telemetry_bytes"));
		if (strcmp(js(l, "state"), "up") && !ret)
			ret = 1;
	}
	v = json_object_get(root, "store");
	fprintf(out, _("  store     %s%s%s, %lld buffered, %lld samples dropped\n"),
		json_is_true(json_object_get(v, "ok")) ? _("ok") : _("FAILING"), *js(v, "error") ? ": " : "",
		js(v, "error"), ji(v, "pending"), ji(v, "samples_dropped"));
	if (!json_is_true(json_object_get(v, "ok")) && !ret)
		ret = 1;
	v = json_object_get(root, "loop");
	fprintf(out, _("  loop      lag %.1f ms (worst %.1f ms), %lld reloads (%lld refused)\n"),
		json_number_value(json_object_get(v, "lag_ms")), json_number_value(json_object_get(v, "lag_max_ms")),
		ji(v, "reloads"), ji(v, "reload_failures"));
	fprintf(out, "%s\n", _("sources:"));
	json_array_foreach(json_object_get(root, "sources"), i, v) {
		const char *k;
		json_t *n;
		fprintf(out, _("  %-12s %-9s %lld devices:"), js(v, "driver"), state_words(js(v, "state")), ji(v, "devices"));
		json_object_foreach(json_object_get(v, "states"), k, n)
			fprintf(out, " %lld %s", (long long)json_integer_value(n), state_words(k));
		fputc('\n', out);
	}
	fprintf(out, "%s\n  %-24s %-12s %-10s %-12s %-12s %s\n", _("devices:"), _("NAME"), _("DRIVER"), _("STATE"),
		_("SINCE"), _("LAST READING"), _("LAST ERROR"));
	json_array_foreach(json_object_get(root, "devices"), i, v) {
		/* ages as of the snapshot, when they were true */
		age(a, sizeof(a), ji(v, "since"), ts);
		age(b, sizeof(b), ji(v, "last_ok"), ts);
		fprintf(out, "  %-24s %-12s %-10s %-12s %-12s %s\n", js(v, "name"), js(v, "driver"), state_words(js(v, "state")),
			ji(v, "since") ? a : "-", b, *js(v, "reason") ? js(v, "reason") : "-");
		if (strcmp(js(v, "state"), "online") && !ret)
			ret = 1;
	}
	json_decref(root);
	return ret;
}
