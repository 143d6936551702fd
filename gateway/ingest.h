/* Push ingest over HTTP (libevent evhttp on the gateway's loop): hotspot
 * controllers of other brands and survey apps POST JSON batches of readings
 * (values of "push" devices; coverage samples) to /v1/readings with a
 * bearer token. Strict validation with an error per field, a size limit, a
 * rate limit per token, and all or nothing per batch; a batch_id seen before
 * from the same token is acknowledged and not applied again. */
#ifndef WARDGW_INGEST_H
#define WARDGW_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "coverage.h"

struct conf_ctx;
struct config_setting_t;
struct gateway;
struct gw_config;
struct device_conf;
struct ingest;
struct httpguard;
typedef struct json_t json_t;

struct ingest_token {
	char *name;                 /* the source, in logs and the batch table */
	char *secret;
};

/* The ingest { ... } section. */
struct ingest_conf {
	char *listen;               /* "127.0.0.1:8089" */
	char *host;
	int port;
	char *token_file;
	int max_body_bytes;
	int max_readings;
	int rate_per_min;           /* batches per token */
	int burst;
	int max_conns, max_per_peer, request_timeout_s;
	struct ingest_token *tokens;
	size_t ntokens;
};

void ingest_conf_parse(struct conf_ctx *ctx, const struct config_setting_t *s, struct ingest_conf **out);
void ingest_conf_free(struct ingest_conf *c);

#define INGEST_MAX_VALUES 64

struct ingest_reading {
	int coverage;               /* 1: a coverage sample; 0: a device's values */
	const struct device_conf *dev;
	int64_t ts_ms;
	double values[INGEST_MAX_VALUES];   /* per profile register, NaN when not given */
	struct coverage_sample cov;
	char op[32];
};

struct ingest_batch {
	char id[65];
	struct ingest_reading *r;
	size_t n;
};

/**
 * Parse and validate a request body against @cfg. Returns 0 with @b filled
 * (ingest_batch_release() it), or -EINVAL with every problem appended to
 * @errors as {"field": "readings[2].rsrp", "message": "..."}. Pure; any thread.
 */
int ingest_parse(const char *body, size_t len, const struct gw_config *cfg, int64_t now_ms,
		 struct ingest_batch *b, json_t *errors);
void ingest_batch_release(struct ingest_batch *b);

/** Listen on cfg->ingest (loop thread). 0 or negative errno (logged). */
int ingest_new(struct ingest **out, struct gateway *gw);
void ingest_free(struct ingest *in);
/** Its connection limits' counters (httpguard.h); NULL for NULL. */
const struct httpguard *ingest_guard(const struct ingest *in);

#endif
