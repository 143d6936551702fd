/* Coverage as a service (service.h): its coverage { } section and the
 * coverage KPIs (coverage.c), the periodic dead-spot map (coverage_pub.c)
 * and its live line. */
#include "service.h"

#include "config.h"
#include "coverage.h"
#include "coverage_cli.h"
#include "coverage_pub.h"
#include "gateway.h"
#include "kpi.h"

static void parse(struct conf_ctx *ctx, const struct config_setting_t *s, struct gw_config *cfg)
{
	if (s)
		coverage_conf_parse(ctx, s, &cfg->coverage);
}

static void conf_free(struct gw_config *cfg)
{
	coverage_conf_free(cfg->coverage);
	cfg->coverage = NULL;
}

static int configured(const struct gw_config *cfg)
{
	return cfg->coverage != NULL;
}

static void kpi_parse(struct conf_ctx *ctx, const struct config_setting_t *s, struct kpi_def *k,
		      const struct gw_config *cfg)
{
	coverage_kpi_parse(ctx, s, k, cfg->coverage);
}

static int compute(struct sqlite3 *db, const struct gw_config *cfg, const struct kpi_def *k,
		       int64_t to_ms, struct kpi_result *out)
{
	return coverage_kpi(db, cfg->coverage, k, to_ms, out);
}

static int start(struct gateway *gw)
{
	return gw->cfg->coverage ? coverage_pub_new(&gw->coverage, gw) : 0;
}

static void stop(struct gateway *gw)
{
	coverage_pub_free(gw->coverage);
	gw->coverage = NULL;
}

static const char *live(struct gateway *gw)
{
	return coverage_pub_live(gw->coverage);
}

static const struct service_cmd cmds[] = {
	{ "import-survey", coverage_cmd_import },
	{ "coverage", coverage_cmd_coverage },
	{ NULL, NULL },
};

const struct service_ops coverage_service = {
	.name = "coverage",
	.standalone = 1,
	.parse = parse,
	.conf_free = conf_free,
	.configured = configured,
	.kpi_agg = AGG_COVERAGE,
	.kpi_parse = kpi_parse,
	.kpi_compute = compute,
	.cmds = cmds,
	.phase = SERVICE_DATA,
	.start = start,
	.stop = stop,
	.live = live,
};
