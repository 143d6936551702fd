/* The environment watch as a service (service.h): its environment { }
 * section, the AQI and flood engines fed by each good poll
 * (environment.c), and their live line. */
#include "service.h"

#include "config.h"
#include "environment.h"
#include "gateway.h"

static void parse(struct conf_ctx *ctx, const struct config_setting_t *s, struct gw_config *cfg)
{
	if (s)
		environment_conf_parse(ctx, s, &cfg->environment);
}

static void conf_free(struct gw_config *cfg)
{
	environment_conf_free(cfg->environment);
	cfg->environment = NULL;
}

static int configured(const struct gw_config *cfg)
{
	return cfg->environment != NULL;
}

static const char *deferred(const struct gw_config *o, const struct gw_config *n)
{
	return environment_conf_equal(o->environment, n->environment) ? NULL : "environment";
}

static int start(struct gateway *gw)
{
	return gw->cfg->environment ? environment_new(&gw->env, gw) : 0;
}

static void stop(struct gateway *gw)
{
	environment_free(gw->env);
	gw->env = NULL;
}

static void poll_done(struct gateway *gw, struct device *dev, int64_t ts_ms)
{
	environment_poll_done(gw->env, dev, ts_ms);
}

static const char *live(struct gateway *gw)
{
	return environment_live(gw->env);
}

const struct service_ops environment_service = {
	.name = "environment",
	.parse = parse,
	.conf_free = conf_free,
	.configured = configured,
	.report = environment_conf_report,
	.phase = SERVICE_DATA,
	.start = start,
	.stop = stop,
	.deferred = deferred,
	.poll_done = poll_done,
	.live = live,
};
