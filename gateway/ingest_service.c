/* Push ingest as a service (service.h): its ingest { } section and the
 * HTTP endpoint that takes readings and coverage samples (ingest.c). */
#include "service.h"

#include <string.h>

#include "config.h"
#include "gateway.h"
#include "ingest.h"

static void parse(struct conf_ctx *ctx, const struct config_setting_t *s, struct gw_config *cfg)
{
	if (s)
		ingest_conf_parse(ctx, s, &cfg->ingest);
}

static void conf_free(struct gw_config *cfg)
{
	ingest_conf_free(cfg->ingest);
	cfg->ingest = NULL;
}

static int configured(const struct gw_config *cfg)
{
	return cfg->ingest != NULL;
}

static int str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* The listener is made once: a new address or body limit waits. */
static const char *deferred(const struct gw_config *o, const struct gw_config *n)
{
	if (!o->ingest != !n->ingest ||
	    (o->ingest && (!str_eq(o->ingest->listen, n->ingest->listen) ||
			   o->ingest->max_body_bytes != n->ingest->max_body_bytes)))
		return "ingest.listen/max_body_bytes";
	return NULL;
}

static int start(struct gateway *gw)
{
	return gw->cfg->ingest ? ingest_new(&gw->ingest, gw) : 0;
}

static void stop(struct gateway *gw)
{
	ingest_free(gw->ingest);
	gw->ingest = NULL;
}

const struct service_ops ingest_service = {
	.name = "ingest",
	.standalone = 1,
	.parse = parse,
	.conf_free = conf_free,
	.configured = configured,
	.phase = SERVICE_DATA,
	.start = start,
	.stop = stop,
	.deferred = deferred,
};
