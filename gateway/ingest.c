/* HTTP push ingest (see ingest.h). Requests are handled on the loop thread
 * by evhttp: the body is parsed and validated whole before anything is
 * applied; the device values go to the store (the same path as a poll), and
 * the batch id and the coverage samples are written in the store's next
 * flush, the same transaction as those values. The answer waits for that
 * commit: a 200 means the batch is on disk, and a batch whose id is stored
 * is stored whole. */
#include "ingest.h"
#include "i18n.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <libconfig.h>
#include <math.h>
#include <openssl/crypto.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "driver.h"
#include "gateway.h"
#include "log.h"
#include "store.h"
#include "secret.h"
#include "sink.h"
#include "survey.h"
#include "tokenbucket.h"
#include "httpguard.h"

/* --- config --- */

#define OFF(f) offsetof(struct ingest_conf, f)
static const struct opt ingest_opts[] = {
	{ "listen", OPT_STRING, OFF(listen), 0, 0, 0, "127.0.0.1:8089", 0 },
	{ "token_file", OPT_STRING, OFF(token_file), 0, 0, 0, NULL, 1 },
	{ "max_body_bytes", OPT_INT, OFF(max_body_bytes), 256, 16777216, 262144, NULL, 0 },
	{ "max_readings", OPT_INT, OFF(max_readings), 1, 100000, 1000, NULL, 0 },
	{ "rate_per_min", OPT_INT, OFF(rate_per_min), 1, 100000, 60, NULL, 0 },
	{ "burst", OPT_INT, OFF(burst), 1, 100000, 10, NULL, 0 },
	/* connections open at once (all, one address) and a whole request's time */
	{ "max_connections", OPT_INT, OFF(max_conns), 1, 100000, 256, NULL, 0 },
	{ "max_connections_per_address", OPT_INT, OFF(max_per_peer), 1, 100000, 64, NULL, 0 },
	{ "request_timeout_s", OPT_INT, OFF(request_timeout_s), 1, 3600, 10, NULL, 0 },
	{ 0 }
};

static int load_tokens(struct ingest_conf *c, char *why, size_t wsz)
{
	FILE *f;
	char line[512], err[600];
	int lineno = 0;

	int ret = secret_open(c->token_file, &f, err, sizeof(err));

	if (ret < 0) {
		snprintf(why, wsz, "token_file%s %s", ret == -EPERM ? "" : ":", err);
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char name[64], secret[256], extra[2];
		struct ingest_token *nt;
		int n;

		lineno++;
		if (line[strspn(line, " \t\r\n")] == 0 || line[strspn(line, " \t")] == '#')
			continue;
		n = sscanf(line, "%63s %255s %1s", name, secret, extra);
		if (n != 2 || !survey_valid_operator(name) || strlen(secret) < 16) {
			snprintf(why, wsz, "%s:%d: want 'NAME TOKEN' (a name of letters, digits, -, _ or . and a token of 16 or more characters)",
				 c->token_file, lineno);
			fclose(f);
			return -1;
		}
		nt = realloc(c->tokens, (c->ntokens + 1) * sizeof(*nt));
		if (!nt)
			break;
		c->tokens = nt;
		nt[c->ntokens].name = strdup(name);
		nt[c->ntokens].secret = strdup(secret);
		c->ntokens++;
		OPENSSL_cleanse(secret, sizeof(secret));
	}
	OPENSSL_cleanse(line, sizeof(line));
	fclose(f);
	if (!c->ntokens) {
		snprintf(why, wsz, "token_file %s holds no token", c->token_file);
		return -1;
	}
	return 0;
}

void ingest_conf_parse(struct conf_ctx *ctx, const config_setting_t *s, struct ingest_conf **out)
{
	struct ingest_conf *c = calloc(1, sizeof(*c));
	struct conf_origin at = conf_origin_of(ctx, s);
	char why[700], *colon, *end;
	long port;

	*out = c;
	if (!c)
		return;
	conf_apply_section(ctx, s, "ingest", ingest_opts, NULL, c);
	if (!config_setting_is_group(s))
		return;
	colon = c->listen ? strrchr(c->listen, ':') : NULL;
	port = colon ? strtol(colon + 1, &end, 10) : -1;
	if (!colon || colon == c->listen || *end || port < 1 || port > 65535) {
		conf_error(ctx, &at, _("ingest: listen must be HOST:PORT, e.g. \"127.0.0.1:8089\" (got '%s')"),
			   c->listen ? c->listen : "");
	} else {
		c->host = strndup(c->listen, (size_t)(colon - c->listen));
		c->port = (int)port;
	}
	if (c->token_file) {
		config_setting_t *tf = config_setting_get_member(s, "token_file");
		struct conf_origin to = conf_origin_of(ctx, tf);
		conf_resolve_path(ctx, &c->token_file);
		if (load_tokens(c, why, sizeof(why)) < 0)
			conf_error(ctx, &to, "%s", why);
	}
}

void ingest_conf_free(struct ingest_conf *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->ntokens; i++) {
		free(c->tokens[i].name);
		if (c->tokens[i].secret) {
			OPENSSL_cleanse(c->tokens[i].secret, strlen(c->tokens[i].secret));
			free(c->tokens[i].secret);
		}
	}
	free(c->tokens);
	free(c->host);
	conf_free_section(ingest_opts, c);
	free(c);
}

/* --- parsing and validation --- */

static void err(json_t *errors, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void err(json_t *errors, const char *field, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (json_array_size(errors) < 100)
		json_array_append_new(errors, json_pack("{s:s,s:s}", "field", field, "message", msg));
}

static int valid_id(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '_' || c == '.' || c == ':'))
			return 0;
	}
	return 1;
}

/* A required (or optional: NaN when absent or null) number in [lo, hi]. */
static int num(json_t *o, const char *key, const char *field, double lo, double hi, int optional, double *out,
	       json_t *errors)
{
	json_t *v = json_object_get(o, key);
	char f[96];

	snprintf(f, sizeof(f), "%s.%s", field, key);
	*out = NAN;
	if (!v || json_is_null(v)) {
		if (optional)
			return 0;
		err(errors, f, "is required");
		return -1;
	}
	if (!json_is_number(v)) {
		err(errors, f, "must be a number");
		return -1;
	}
	*out = json_number_value(v);
	if (!isfinite(*out) || *out < lo || *out > hi) {
		err(errors, f, "must be %.15g..%.15g (got %.15g)", lo, hi, *out);
		return -1;
	}
	return 0;
}

static void unknown_keys(json_t *o, const char *field, const char *const *known, json_t *errors)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) {
		int ok = 0;
		for (const char *const *q = known; *q && !ok; q++)
			ok = !strcmp(k, *q);
		if (!ok) {
			char f[160];
			snprintf(f, sizeof(f), "%s%s%.60s", field, *field ? "." : "", k);
			err(errors, f, "unknown field");
		}
	}
}

static int parse_reading(json_t *o, const char *field, const struct gw_config *cfg, int64_t now_ms,
			 struct ingest_reading *r, json_t *errors)
{
	static const char *const dev_keys[] = { "type", "device", "ts", "values", NULL };
	static const char *const cov_keys[] = { "type", "ts", "lat", "lon", "technology", "operator", "rsrp", "rsrq", "sinr", NULL };
	const char *type;
	double ts;
	size_t before = json_array_size(errors);
	char f[96];

	if (!json_is_object(o)) {
		err(errors, field, "must be an object");
		return -1;
	}
	type = json_string_value(json_object_get(o, "type"));
	snprintf(f, sizeof(f), "%s.type", field);
	if (!type || (strcmp(type, "device") && strcmp(type, "coverage"))) {
		err(errors, f, "must be \"device\" or \"coverage\"");
		return -1;
	}
	r->coverage = !strcmp(type, "coverage");
	unknown_keys(o, field, r->coverage ? cov_keys : dev_keys, errors);
	/* a week back (a controller catching up) to five minutes ahead (clock skew) */
	if (num(o, "ts", field, (double)(now_ms / 1000 - 7 * 86400), (double)(now_ms / 1000 + 300), 0, &ts, errors) == 0)
		r->ts_ms = (int64_t)llround(ts * 1000);
	if (!r->coverage) {
		json_t *vals = json_object_get(o, "values"), *v;
		const char *name = json_string_value(json_object_get(o, "device")), *k;
		snprintf(f, sizeof(f), "%s.device", field);
		r->dev = name ? config_device(cfg, name) : NULL;
		if (!r->dev || r->dev->driver != &push_driver) {
			err(errors, f, name ? "no device '%.60s' with driver \"push\" in the config" : "is required (a string)", name);
			return -1;
		}
		for (int i = 0; i < INGEST_MAX_VALUES; i++)
			r->values[i] = NAN;
		snprintf(f, sizeof(f), "%s.values", field);
		if (!json_is_object(vals) || !json_object_size(vals)) {
			err(errors, f, "must be an object of metric: number, e.g. {\"clients\": 12}");
			return -1;
		}
		json_object_foreach(vals, k, v) {
			const struct profile *p = r->dev->profile;
			size_t i;
			char vf[160];
			snprintf(vf, sizeof(vf), "%s.values.%.60s", field, k);
			for (i = 0; i < p->nregs && strcmp(p->regs[i].metric, k); i++)
				;
			if (i == p->nregs || i >= INGEST_MAX_VALUES) {
				err(errors, vf, "profile %s has no metric '%.60s'", p->name, k);
				continue;
			}
			if (!json_is_number(v) || !isfinite(json_number_value(v))) {
				err(errors, vf, "must be a number");
				continue;
			}
			r->values[i] = json_number_value(v);
			const struct reg_def *d = &p->regs[i];
			if ((!isnan(d->min) && r->values[i] < d->min) || (!isnan(d->max) && r->values[i] > d->max))
				err(errors, vf, "must be %g..%g (got %g)", d->min, d->max, r->values[i]);
		}
	} else {
		struct coverage_sample *s = &r->cov;
		const char *tech = json_string_value(json_object_get(o, "technology"));
		const char *op = json_string_value(json_object_get(o, "operator"));
		memset(s, 0, sizeof(*s));
		num(o, "lat", field, -90, 90, 0, &s->lat, errors);
		num(o, "lon", field, -180, 180, 0, &s->lon, errors);
		snprintf(f, sizeof(f), "%s.technology", field);
		if (!tech || (s->tech = rat_parse(tech)) == RAT_NONE)
			err(errors, f, "must be \"LTE\" (4G) or \"NR\" (5G)");
		snprintf(f, sizeof(f), "%s.operator", field);
		if (!op || !survey_valid_operator(op))
			err(errors, f, "must be 1..31 letters, digits, ' ', '-', '_' or '.'");
		else
			snprintf(r->op, sizeof(r->op), "%s", op);
		/* 3GPP TS 27.007 reporting ranges */
		num(o, "rsrp", field, s->tech == RAT_NR ? -157 : -141, s->tech == RAT_NR ? -31 : -44, 0, &s->rsrp, errors);
		num(o, "rsrq", field, -43.5, 20, 1, &s->rsrq, errors);
		num(o, "sinr", field, -23.5, 40, 1, &s->sinr, errors);
		s->ts_ms = r->ts_ms;
	}
	return json_array_size(errors) > before ? -1 : 0;
}

int ingest_parse(const char *body, size_t len, const struct gw_config *cfg, int64_t now_ms,
		 struct ingest_batch *b, json_t *errors)
{
	static const char *const top_keys[] = { "batch_id", "readings", NULL };
	const struct ingest_conf *ic = cfg->ingest;
	json_error_t je;
	json_t *root, *rd;
	const char *id;
	size_t n;
	int ret = -EINVAL;

	memset(b, 0, sizeof(*b));
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		err(errors, "", "not JSON: %s at line %d column %d", je.text, je.line, je.column);
		return -EINVAL;
	}
	if (!json_is_object(root)) {
		err(errors, "", "must be an object {\"batch_id\": ..., \"readings\": [...]}");
		goto out;
	}
	unknown_keys(root, "", top_keys, errors);
	id = json_string_value(json_object_get(root, "batch_id"));
	if (!id || !valid_id(id))
		err(errors, "batch_id", "is required: 1..64 letters, digits, '-', '_', '.' or ':' (an id per batch, reused when the batch is resent)");
	else
		snprintf(b->id, sizeof(b->id), "%s", id);
	rd = json_object_get(root, "readings");
	n = json_array_size(rd);
	if (!json_is_array(rd) || !n || n > (size_t)(ic ? ic->max_readings : 1000)) {
		err(errors, "readings", "must be a list of 1..%d readings", ic ? ic->max_readings : 1000);
		goto out;
	}
	if (!(b->r = calloc(n, sizeof(*b->r)))) {
		ret = -ENOMEM;
		goto out;
	}
	b->n = n;
	for (size_t i = 0; i < n; i++) {
		char f[32];
		snprintf(f, sizeof(f), "readings[%zu]", i);
		parse_reading(json_array_get(rd, i), f, cfg, now_ms, &b->r[i], errors);
		b->r[i].cov.op = b->r[i].op;
	}
	ret = json_array_size(errors) ? -EINVAL : 0;
out:
	json_decref(root);
	if (ret < 0)
		ingest_batch_release(b);
	return ret;
}

void ingest_batch_release(struct ingest_batch *b)
{
	free(b->r);
	b->r = NULL;
	b->n = 0;
}

/* --- the server --- */

/* A batch applied to the store's buffers, answered when they commit. */
struct pending {
	struct evhttp_request *req;     /* ours to answer (evhttp keeps it until then) */
	char *source;                   /* the token's name */
	struct ingest_batch b;
	size_t ncov;
};

/* Batches waiting for a commit; more are answered 503 at once. */
#define MAX_PENDING 256

struct ingest {
	struct gateway *gw;
	struct evhttp *http;
	struct httpguard *guard;
	struct token_bucket *buckets;   /* per token: its rate limit */
	size_t nbuckets;
	uint64_t accepted, duplicates, rejected;
	struct pending pend[MAX_PENDING];
	size_t npend;
	sqlite3_stmt *ins_batch, *find_batch;
};

static void reply_json(struct evhttp_request *req, int code, const char *reason, json_t *body)
{
	struct evbuffer *out = evbuffer_new();
	char *s = json_dumps(body, JSON_COMPACT);

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	if (out && s)
		evbuffer_add_printf(out, "%s\n", s);
	evhttp_send_reply(req, code, reason, out);
	if (out)
		evbuffer_free(out);
	free(s);
	json_decref(body);
}

static void reply_error(struct evhttp_request *req, int code, const char *reason, const char *msg)
{
	reply_json(req, code, reason, json_pack("{s:s,s:[{s:s,s:s}]}", "error", reason, "errors", "field", "",
						"message", msg));
}

/* The token of an Authorization value, by constant-time comparison; -1
 * when none matches. */
static int token_of(struct ingest *in, const char *h)
{
	const struct ingest_conf *c = in->gw->cfg->ingest;
	size_t n;
	int found = -1;

	if (!c || !h || strncasecmp(h, "Bearer ", 7))
		return -1;
	h += 7;
	n = strlen(h);
	for (size_t i = 0; i < c->ntokens; i++) {
		size_t sl = strlen(c->tokens[i].secret);
		if (sl == n && CRYPTO_memcmp(h, c->tokens[i].secret, n) == 0)
			found = (int)i;
	}
	return found;
}

static int authorise(struct ingest *in, struct evhttp_request *req)
{
	return token_of(in, evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization"));
}

/* The guard's check on the headers, before a body is read. */
static int early_auth(void *arg, const char *authorization)
{
	struct ingest *in = arg;

	return in->gw->cfg->ingest && token_of(in, authorization) >= 0;
}

/* Token @t's rate limit, on the monotonic clock; -1 with the whole
 * seconds to wait in *@retry_s. */
static int take_token(struct ingest *in, int t, double *retry_s)
{
	const struct ingest_conf *c = in->gw->cfg->ingest;

	if (token_bucket_take(&in->buckets[t], c->burst, c->rate_per_min / 60.0, mono_ms(), retry_s) < 0) {
		*retry_s = ceil(*retry_s);
		return -1;
	}
	return 0;
}

/* Whether @token's batch @id is stored: 1, 0, or negative errno. */
static int stored_before(struct ingest *in, const char *token, const char *id)
{
	int rc;

	sqlite3_reset(in->find_batch);
	sqlite3_bind_text(in->find_batch, 1, token, -1, SQLITE_STATIC);
	sqlite3_bind_text(in->find_batch, 2, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(in->find_batch);
	sqlite3_reset(in->find_batch);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -EIO;
}

/* Hand a validated batch's device values to the store's buffer (as a poll
 * would) and keep the batch for the next flush, which writes its id and
 * coverage samples in the same transaction. */
static void apply(struct ingest *in, struct pending *p)
{
	for (size_t i = 0; i < p->b.n; i++) {
		const struct ingest_reading *r = &p->b.r[i];
		if (r->coverage)
			continue;
		sink_push(in->gw->sink, r->dev, r->ts_ms, r->values);
	}
}

static void pending_release(struct pending *p)
{
	free(p->source);
	ingest_batch_release(&p->b);
	memset(p, 0, sizeof(*p));
}

/* --- store hooks: the batches of this flush --- */

static int in_dirty(void *arg)
{
	struct ingest *in = arg;

	return in->npend > 0;
}

static int in_in_tx(void *arg)
{
	struct ingest *in = arg;
	sqlite3 *db = store_db(in->gw->store);
	int rc;

	for (size_t k = 0; k < in->npend; k++) {
		struct pending *p = &in->pend[k];
		sqlite3_reset(in->ins_batch);
		sqlite3_bind_text(in->ins_batch, 1, p->source, -1, SQLITE_STATIC);
		sqlite3_bind_text(in->ins_batch, 2, p->b.id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(in->ins_batch, 3, wall_ms());
		sqlite3_bind_int64(in->ins_batch, 4, (int64_t)p->b.n);
		rc = sqlite3_step(in->ins_batch);
		sqlite3_reset(in->ins_batch);
		if (rc != SQLITE_DONE)
			return log_error(-EIO, "ingest: batch %s from %s: %s", p->b.id, p->source, sqlite3_errmsg(db));
		p->ncov = 0;
		for (size_t i = 0; i < p->b.n; i++)
			if (p->b.r[i].coverage) {
				if ((rc = coverage_insert(db, &p->b.r[i].cov, p->source)) < 0)
					return log_error(-EIO, "ingest: batch %s from %s: coverage: %s", p->b.id,
							 p->source, sqlite3_errmsg(db));
				p->ncov += (size_t)rc;
			}
	}
	return 0;
}

static void in_committed(void *arg)
{
	struct ingest *in = arg;

	for (size_t k = 0; k < in->npend; k++) {
		struct pending *p = &in->pend[k];
		in->accepted++;
		log_debug("ingest: batch %s from %s: %zu readings", p->b.id, p->source, p->b.n);
		reply_json(p->req, 200, "OK", json_pack("{s:s,s:s,s:I,s:I}", "status", "accepted", "batch_id", p->b.id,
							"readings", (json_int_t)p->b.n, "coverage_samples",
							(json_int_t)p->ncov));
		pending_release(p);
	}
	in->npend = 0;
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct ingest *in = arg;
	const struct ingest_conf *c = in->gw->cfg->ingest;
	struct evbuffer *body = evhttp_request_get_input_buffer(req);
	struct ingest_batch b;
	json_t *errors;
	double retry;
	size_t len;
	int t, rc;
	char ra[16];

	httpguard_request(in->guard, req);

	if (!c) {                       /* a reload took the section away */
		reply_error(req, 503, "Service Unavailable", "ingest is not configured (restart the gateway to close it)");
		return;
	}
	if (c->ntokens != in->nbuckets) {
		/* a reload changed the tokens: their rate limits start afresh */
		struct token_bucket *nb = calloc(c->ntokens, sizeof(*nb));
		if (!nb) {
			reply_error(req, 503, "Service Unavailable", "out of memory");
			return;
		}
		free(in->buckets);
		in->buckets = nb;
		in->nbuckets = c->ntokens;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST");
		reply_error(req, 405, "Method Not Allowed", "use POST");
		return;
	}
	if ((t = authorise(in, req)) < 0) {
		in->rejected++;
		httpguard_auth_failed(in->guard, req);
		evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Bearer realm=\"wardgw\"");
		reply_error(req, 401, "Unauthorized", "missing or unknown bearer token (Authorization: Bearer ...)");
		return;
	}
	if (take_token(in, t, &retry) < 0) {
		in->rejected++;
		snprintf(ra, sizeof(ra), "%.0f", retry);
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", ra);
		reply_error(req, 429, "Too Many Requests", "rate limit for this token reached; see Retry-After");
		return;
	}
	len = evbuffer_get_length(body);
	if (len > (size_t)c->max_body_bytes) {
		in->rejected++;
		reply_error(req, 413, "Payload Too Large", "body larger than ingest.max_body_bytes");
		return;
	}
	errors = json_array();
	rc = ingest_parse(len ? (const char *)evbuffer_pullup(body, -1) : "", len, in->gw->cfg, wall_ms(), &b, errors);
	if (rc < 0) {
		in->rejected++;
		reply_json(req, 400, "Bad Request", json_pack("{s:s,s:o}", "error", "validation", "errors", errors));
		return;
	}
	json_decref(errors);
	for (size_t k = 0; k < in->npend; k++)
		if (!strcmp(in->pend[k].source, c->tokens[t].name) && !strcmp(in->pend[k].b.id, b.id)) {
			/* sent again before the first one was stored */
			evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
			reply_error(req, 503, "Service Unavailable", "this batch is being stored; send it again for its status");
			ingest_batch_release(&b);
			return;
		}
	if ((rc = stored_before(in, c->tokens[t].name, b.id)) != 0) {
		if (rc > 0) {
			in->duplicates++;
			reply_json(req, 200, "OK", json_pack("{s:s,s:s}", "status", "duplicate", "batch_id", b.id));
		} else {
			log_err("ingest: batch %s from %s: %s", b.id, c->tokens[t].name,
				sqlite3_errmsg(store_db(in->gw->store)));
			reply_error(req, 503, "Service Unavailable", "the store cannot be read; nothing was applied, send it again");
		}
		ingest_batch_release(&b);
		return;
	}
	if (in->npend == MAX_PENDING) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
		reply_error(req, 503, "Service Unavailable", "too many batches waiting for the store; nothing was applied, send it again");
		ingest_batch_release(&b);
		return;
	}
	struct pending *p = &in->pend[in->npend];
	if (!(p->source = strdup(c->tokens[t].name))) {
		reply_error(req, 503, "Service Unavailable", "out of memory");
		ingest_batch_release(&b);
		return;
	}
	p->req = req;
	p->b = b;
	in->npend++;
	/* answered by in_committed() after the next flush */
	apply(in, p);
}

int ingest_new(struct ingest **out, struct gateway *gw)
{
	const struct ingest_conf *c = gw->cfg->ingest;
	struct ingest *in = calloc(1, sizeof(*in));
	char *err = NULL;

	*out = NULL;
	if (!in)
		return -ENOMEM;
	in->gw = gw;
	in->buckets = calloc(c->ntokens, sizeof(*in->buckets));
	in->nbuckets = c->ntokens;
	if (!in->buckets || coverage_db_init(store_db(gw->store)) < 0 ||
	    sqlite3_exec(store_db(gw->store), "CREATE TABLE IF NOT EXISTS ingest_batch(source TEXT NOT NULL,"
			 " batch_id TEXT NOT NULL, received INTEGER NOT NULL, readings INTEGER NOT NULL,"
			 " PRIMARY KEY(source, batch_id))", NULL, NULL, &err) != SQLITE_OK) {
		log_err("ingest: cannot prepare its tables: %s", err ? err : "out of memory");
		sqlite3_free(err);
		ingest_free(in);
		return -EIO;
	}
	if (sqlite3_prepare_v3(store_db(gw->store), "INSERT OR IGNORE INTO ingest_batch(source, batch_id, received, readings)"
			       " VALUES (?1, ?2, ?3, ?4)", -1, SQLITE_PREPARE_PERSISTENT, &in->ins_batch, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(store_db(gw->store), "SELECT 1 FROM ingest_batch WHERE source = ?1 AND batch_id = ?2",
			       -1, SQLITE_PREPARE_PERSISTENT, &in->find_batch, NULL) != SQLITE_OK) {
		log_err("ingest: cannot prepare: %s", sqlite3_errmsg(store_db(gw->store)));
		ingest_free(in);
		return -EIO;
	}
	if (store_add_hook(gw->store, &(struct store_hook){ in_dirty, in_in_tx, in_committed, NULL, in, NULL }) < 0) {
		ingest_free(in);
		return log_error(-ENOSPC, "ingest: no room for its store hook");
	}
	in->http = evhttp_new(gw->base);
	if (!in->http) {
		ingest_free(in);
		return -ENOMEM;
	}
	/* one byte over the limit is enough to know; evhttp answers 413 itself */
	evhttp_set_max_body_size(in->http, c->max_body_bytes);
	evhttp_set_max_headers_size(in->http, 8192);
	evhttp_set_timeout(in->http, 10);
	evhttp_set_allowed_methods(in->http, EVHTTP_REQ_POST | EVHTTP_REQ_GET);
	evhttp_set_cb(in->http, "/v1/readings", on_request, in);
	struct httpguard_opts go = { "ingest", (unsigned)c->max_conns, (unsigned)c->max_per_peer,
				     c->request_timeout_s, early_auth, in };
	int ret = httpguard_new(&in->guard, gw->base, in->http, &go);
	if (ret < 0 || (ret = httpguard_bind(in->guard, c->host, c->port)) < 0) {
		ingest_free(in);
		return log_error(ret == -ENOMEM ? ret : -EADDRINUSE, "ingest: cannot listen on %s: %s", c->listen,
				 strerror(-ret));
	}
	log_info("ingest: listening on http://%s/v1/readings, %zu tokens", c->listen, c->ntokens);
	*out = in;
	return 0;
}

const struct httpguard *ingest_guard(const struct ingest *in)
{
	return in ? in->guard : NULL;
}

void ingest_free(struct ingest *in)
{
	if (!in)
		return;
	/* batches never committed (the last flush failed): their values may
	 * still be in the store's buffer, their ids are not stored; answered
	 * before evhttp frees the connections that hold the requests */
	for (size_t k = 0; k < in->npend; k++) {
		reply_error(in->pend[k].req, 503, "Service Unavailable",
			    "the gateway stopped before the batch was stored; send it again");
		pending_release(&in->pend[k]);
	}
	in->npend = 0;
	sqlite3_finalize(in->ins_batch);
	sqlite3_finalize(in->find_batch);
	if (in->http)
		evhttp_free(in->http);
	httpguard_free(in->guard);     /* after the server: it drops the connections' last references */
	free(in->buckets);
	free(in);
}
