/* IOC lighting commands (see lighting_cmd.h). */
#include "lighting_cmd.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "command.h"
#include "config.h"
#include "gateway.h"
#include "lighting.h"
#include "lighting_int.h"
#include "log.h"
#include "outbox.h"
#include "rejects.h"
#include "senml.h"
#include "timeparse.h"
#include "tokenbucket.h"

/* A command being carried out: one result per target device. */
struct cmd_result {
	const struct ldev *ld;
	int done, ok;
	double readback;        /* %, NaN unknown */
	char reason[160];
};

struct cmd_run {
	struct lighting *l;
	struct lighting_cmd c;
	size_t n, pending;
	struct cmd_result *res;
};

static void publish_result(struct lighting *l, const char *json)
{
	if (l->gw->outbox && outbox_add(l->gw->outbox, LANE_PRIORITY, l->result_topic, json, strlen(json), wall_ms()) < 0)
		log_err("lighting: cannot queue a command result on %s", l->result_topic);
}

static void target_str(const struct lighting_cmd *c, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%s", c->scope == SCOPE_WARD ? "ward" : c->lamp ? "lamp" : sched_scope_name(c->scope),
		 c->scope == SCOPE_WARD ? "" : " ", c->target);
}

/* reject: audit, log, answer; nothing is written. What passed the HMAC
 * check is audited in full; what did not is junk as far as anyone knows,
 * from the MQTT topic rather than the IOC, and its audit is bounded
 * (rejects.h) so that a flood cannot fill the disk. */
static void reject(struct lighting *l, const struct lighting_cmd *c, const char *why, const char *body,
		   size_t blen)
{
	char id[80] = "null", esc[300], tgt[80], *json = NULL;
	int64_t now = wall_ms();

	if (c->id[0])
		snprintf(id, sizeof(id), "\"%s\"", c->id);
	target_str(c, tgt, sizeof(tgt));
	if (c->authentic)
		audit_add(lighting_db(l), now, "ioc", c->id[0] ? c->id : NULL, c->have_action ? cmd_action_name(c->action) : NULL,
			  c->have_target ? tgt : NULL, c->have_action ? c->level : NAN, "rejected", why, body);
	else
		rejects_add(l->rejects, now, REJECTS_SOURCE_MQTT, c->id, why, body, blen);
	/* a flood of bad messages must not fill the log nor the outbox's
	 * priority lane (never dropped): answers and log lines are
	 * rate-limited, the audit keeps every one */
	if (token_bucket_take(&l->reject_answers, 30, 1, mono_ms(), NULL) < 0) {
		if (l->reject_unanswered++ % 100 == 0)
			log_warn("lighting: more than 30 rejected commands in a burst; answering at most one per second "
				 "(%llu unanswered so far, all in the audit)", (unsigned long long)l->reject_unanswered);
		return;
	}
	log_warn("lighting: command %s rejected: %s", c->id[0] ? c->id : "(no id)", why);
	if (json_escape(esc, sizeof(esc), why) < 0)
		snprintf(esc, sizeof(esc), "rejected");
	if (asprintf(&json, "{\"id\":%s,\"state\":\"rejected\",\"reason\":\"%s\",\"ts\":%lld}", id, esc,
		     (long long)(now / 1000)) >= 0) {
		publish_result(l, json);
		free(json);
	}
}

static void cmd_finish(struct cmd_run *r)
{
	struct lighting *l = r->l;
	char *json = NULL;
	size_t cap = 256 + r->n * 256, off;
	int all = 1, nok = 0;
	int64_t now = wall_ms();
	char tgt[80], summary[200];

	for (size_t i = 0; i < r->n; i++) {
		all &= r->res[i].ok;
		nok += r->res[i].ok;
	}
	if (!(json = malloc(cap)))
		goto out;
	off = (size_t)snprintf(json, cap, "{\"id\":\"%s\",\"state\":\"%s\",\"action\":\"%s\",\"results\":[", r->c.id,
			       all ? "done" : "failed", cmd_action_name(r->c.action));
	for (size_t i = 0; i < r->n && off < cap; i++) {
		const struct cmd_result *x = &r->res[i];
		char esc[340], rb[32] = "null";
		if (json_escape(esc, sizeof(esc), x->reason) < 0)
			esc[0] = 0;
		if (!isnan(x->readback))
			snprintf(rb, sizeof(rb), "%.6g", x->readback);
		off += (size_t)snprintf(json + off, cap - off, "%s{\"device\":\"%s\",\"state\":\"%s\",\"readback\":%s%s%s%s}",
					i ? "," : "", x->ld->dev->conf->name, x->ok ? "done" : "failed", rb,
					x->ok ? "" : ",\"reason\":\"", x->ok ? "" : esc, x->ok ? "" : "\"");
	}
	if (off < cap)
		snprintf(json + off, cap - off, "],\"ts\":%lld}", (long long)(now / 1000));
	publish_result(l, json);
	target_str(&r->c, tgt, sizeof(tgt));
	snprintf(summary, sizeof(summary), "%d of %zu devices written and read back", nok, r->n);
	for (size_t i = 0; i < r->n && !all; i++)
		if (!r->res[i].ok) {
			size_t m = strlen(summary);
			snprintf(summary + m, sizeof(summary) - m, "; %s: %s", r->res[i].ld->dev->conf->name, r->res[i].reason);
			break;
		}
	audit_add(lighting_db(l), now, "ioc", r->c.id, cmd_action_name(r->c.action), tgt, r->c.level, all ? "done" : "failed",
		  summary, NULL);
	log_info("lighting: command %s %s: %s", r->c.id, all ? "done" : "failed", summary);
out:
	free(json);
	free(r->res);
	free(r);
}

const char *lighting_cmd_id(const struct cmd_run *r)
{
	return r->c.id;
}

void lighting_cmd_target_done(struct cmd_run *r, size_t slot, int ok, double readback, const char *reason)
{
	struct cmd_result *x = &r->res[slot];

	if (x->done)
		return;
	x->done = 1;
	x->ok = ok;
	x->readback = readback;
	snprintf(x->reason, sizeof(x->reason), "%.159s", reason ? reason : "");
	if (--r->pending == 0)
		cmd_finish(r);
}

static int targets_of(struct lighting *l, const struct lighting_cmd *c, struct ldev ***out, size_t *n, char *why,
		      size_t wlen)
{
	const struct gw_config *cfg = l->cfg;
	struct ldev **v = calloc(l->ndevs + 1, sizeof(*v));

	*n = 0;
	*out = v;
	if (!v)
		return -ENOMEM;
	if (c->scope == SCOPE_GROUP && !config_group(cfg, c->target)) {
		snprintf(why, wlen, "unknown target: no group '%s'", c->target);
		return -ENOENT;
	}
	if (c->scope == SCOPE_DEVICE && !config_device(cfg, c->target)) {
		snprintf(why, wlen, "unknown target: no %s '%s'", c->lamp ? "lamp" : "device", c->target);
		return -ENOENT;
	}
	for (size_t i = 0; i < l->ndevs; i++) {
		const char *name = l->devs[i].dev->conf->name;
		if (c->scope == SCOPE_WARD || (c->scope == SCOPE_GROUP && sched_in_group(cfg, c->target, name)) ||
		    (c->scope == SCOPE_DEVICE && !strcmp(c->target, name)))
			v[(*n)++] = &l->devs[i];
	}
	if (!*n) {
		snprintf(why, wlen, "unknown target: %s%s%s has no device whose profile has a writable %s",
			 c->scope == SCOPE_WARD ? "the ward" : c->target, "", "", cfg->lighting->metric);
		return -ENOENT;
	}
	return 0;
}

/* The replay store: an id is accepted once. 1 when seen before (*@when
 * its time), 0 when new (and now remembered), negative on a store error. */
static int seen_before(struct lighting *l, const char *id, int64_t now, int64_t *when)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(lighting_db(l), "SELECT ts FROM cmd_seen WHERE id = ?1", -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*when = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (sqlite3_prepare_v2(lighting_db(l), "INSERT INTO cmd_seen (id, ts) VALUES (?1, ?2)", -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, now);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

void lighting_command(struct lighting *l, const void *payload, size_t len)
{
	struct lighting_cmd c;
	char why[300], body[4096];
	int64_t now = wall_ms(), when = 0;
	struct ldev **tg = NULL;
	size_t ntg = 0;
	struct cmd_run *r = NULL;
	int rc;

	if (!l)
		return;
	if (!payload) {
		/* too big to be read (publisher.h): no id, no signature checked */
		memset(&c, 0, sizeof(c));
		snprintf(why, sizeof(why), "too large: %zu bytes (at most 65536); not read", len);
		reject(l, &c, why, NULL, 0);
		return;
	}
	/* the raw message, for the audit (bounded, NUL-free) */
	snprintf(body, sizeof(body), "%.*s", (int)(len < sizeof(body) ? len : sizeof(body) - 1), (const char *)payload);
	if (!l->keylen) {
		memset(&c, 0, sizeof(c));
		lighting_cmd_parse(payload, len, NULL, 0, &c, why, sizeof(why));
		c.authentic = 0;
		reject(l, &c, "commands are disabled: lighting.commands.key_file is not set", body, strlen(body));
		return;
	}
	if ((rc = lighting_cmd_parse(payload, len, l->key, l->keylen, &c, why, sizeof(why))) < 0) {
		reject(l, &c, why, body, strlen(body));
		return;
	}
	/* before the replay store: a command meant for another gateway must
	 * not use up its id here */
	if (strcmp(c.gateway, l->cfg->gateway_id)) {
		snprintf(why, sizeof(why), "wrong gateway: the command is for gateway '%s', this is '%s'", c.gateway,
			 l->cfg->gateway_id);
		reject(l, &c, why, body, strlen(body));
		return;
	}
	if (llabs(now - c.ts_ms) > (int64_t)l->cfg->lighting->window_s * 1000) {
		snprintf(why, sizeof(why), "expired: ts is %lld s %s the gateway's clock (window %d s)",
			 (long long)(llabs(now - c.ts_ms) / 1000), c.ts_ms < now ? "behind" : "ahead of",
			 l->cfg->lighting->window_s);
		reject(l, &c, why, body, strlen(body));
		return;
	}
	if ((rc = seen_before(l, c.id, now, &when)) != 0) {
		char t[40];
		time_format(when, t, sizeof(t));
		if (rc > 0)
			snprintf(why, sizeof(why), "replayed: id %s was already received at %s", c.id, t);
		else
			snprintf(why, sizeof(why), "cannot check the replay store: %s", sqlite3_errmsg(lighting_db(l)));
		reject(l, &c, why, body, strlen(body));
		return;
	}
	if (c.expires_ms && c.expires_ms <= now) {
		reject(l, &c, "out of range: expires is already past", body, strlen(body));
		return;
	}
	if ((rc = targets_of(l, &c, &tg, &ntg, why, sizeof(why))) < 0) {
		reject(l, &c, rc == -ENOMEM ? "out of memory" : why, body, strlen(body));
		free(tg);
		return;
	}

	/* accepted */
	char tgt[80], *json = NULL;
	target_str(&c, tgt, sizeof(tgt));
	audit_add(lighting_db(l), now, "ioc", c.id, cmd_action_name(c.action), tgt, c.level, "accepted", c.reason, body);
	log_info("lighting: command %s accepted: %s %s%s", c.id, cmd_action_name(c.action), tgt,
		 isnan(c.level) ? "" : "");
	if (asprintf(&json, "{\"id\":\"%s\",\"state\":\"accepted\",\"devices\":%zu,\"ts\":%lld}", c.id, ntg,
		     (long long)(now / 1000)) >= 0) {
		publish_result(l, json);
		free(json);
	}

	if (c.action == CMD_CLEAR) {
		lighting_clear_overrides(l, c.scope, c.scope == SCOPE_WARD ? "" : c.target, now);
	} else {
		struct sched_override o = { 0 };
		o.scope = c.scope;
		snprintf(o.name, sizeof(o.name), "%s", c.scope == SCOPE_WARD ? "" : c.target);
		o.level = c.level;
		o.start_ms = now;
		o.expires_ms = c.expires_ms;
		if (!o.expires_ms) {
			/* on/off/dim without expires: until the schedule's next switch point */
			int64_t next = INT64_MAX;
			for (size_t i = 0; i < ntg; i++) {
				struct sched_want sw;
				if (sched_want(l->cfg, tg[i]->dev->conf, now, NULL, 0, &sw) == 0 && sw.next_ms < next)
					next = sw.next_ms;
			}
			o.expires_ms = next == INT64_MAX || next - now > 86400000LL ? now + 86400000LL : next;
		}
		snprintf(o.reason, sizeof(o.reason), "command %.40s%s%.40s", c.id, c.reason[0] ? ": " : "", c.reason);
		if (lighting_add_override(l, &o, c.id) < 0) {
			audit_add(lighting_db(l), now, "ioc", c.id, cmd_action_name(c.action), tgt, c.level, "failed",
				  "cannot store the override", NULL);
			free(tg);
			return;
		}
	}

	if (!(r = calloc(1, sizeof(*r))) || !(r->res = calloc(ntg, sizeof(*r->res)))) {
		free(r);
		free(tg);
		return;
	}
	r->l = l;
	r->c = c;
	r->n = r->pending = ntg;
	for (size_t i = 0; i < ntg; i++) {
		r->res[i].ld = tg[i];
		r->res[i].readback = NAN;
	}
	/* hold one reference while starting, so a synchronous answer cannot finish it early */
	r->pending++;
	for (size_t i = 0; i < ntg; i++) {
		struct ldev *ld = tg[i];
		if (ld->cmd) {
			struct cmd_run *old = ld->cmd;
			ld->cmd = NULL;
			lighting_cmd_target_done(old, ld->cmd_slot, 0, NAN, "superseded by a later command");
		}
		if (ld->dev->state != DEV_ONLINE) {
			char reason[260];
			snprintf(reason, sizeof(reason), "device %s%s%.160s; the gateway writes it when it is back",
				 device_state_name(ld->dev->state), ld->dev->reason[0] ? ": " : "", ld->dev->reason);
			lighting_cmd_target_done(r, i, 0, NAN, reason);
			continue;
		}
		ld->cmd = r;
		ld->cmd_slot = i;
		ld->force = 1;
		rc = lighting_evaluate(l, ld, now);
		if (rc == -EBUSY)
			continue;       /* answered when the write in flight is done */
		if (rc <= 0 && ld->cmd == r) {
			ld->cmd = NULL;
			lighting_cmd_target_done(r, i, 0, NAN, rc == 0 ? "nothing to write: no program and no override applies"
							  : "not written now");
		}
	}
	free(tg);
	if (--r->pending == 0)
		cmd_finish(r);
}
