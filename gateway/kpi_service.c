/* The KPIs as a service (service.h): the kpis = ( ... ) section, its
 * definitions (struct kpi_def in cfg->kpis, which kpi.c computes) and their
 * checks against the devices' metrics, the groups, the alarms the services
 * raise and the aggregates a service computes (coverage). It comes last in
 * the table, so its section is parsed after every other service's. The KPI
 * engine itself (kpi.c) stays on the core's data path: gateway.c makes it
 * between the store and the outbox (rollup -> KPI -> outbox). */
#include "service.h"

#include "config.h"
#include "i18n.h"
#include "timeparse.h"

#include <errno.h>
#include <libconfig.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char *const kpi_keys[] = {
	"name", "domain", "metric", "denominator", "unit", "window", "aggregate", "group", "device",
	"target", "scale", "technology", "operator", "figure", NULL,
};
static const char *const target_keys[] = { "op", "value", "deadline", "baseline", "start", NULL };
static const char *const agg_names[] = {
	[AGG_SUM] = "sum", [AGG_MEAN] = "mean", [AGG_MIN] = "min", [AGG_MAX] = "max", [AGG_LAST] = "last",
	[AGG_DELTA] = "delta", [AGG_RATIO] = "ratio", [AGG_AVAILABILITY] = "availability",
	[AGG_SAVINGS] = "savings", [AGG_MTTR] = "mttr",
	[AGG_COVERAGE] = "coverage", [AGG_DELTA_RATIO] = "delta_ratio",
};

const char *kpi_agg_name(enum kpi_agg a)
{
	return a <= AGG_DELTA_RATIO ? agg_names[a] : "?";
}

/* "15m", "1h", "1d": a window that divides a day (or is one day). */
int kpi_window_parse(const char *s, int64_t *ms)
{
	char *end;
	long n;
	int64_t unit;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno || end == s || n <= 0 || n > 1440)
		return -EINVAL;
	if (!strcmp(end, "m") || !strcmp(end, "min"))
		unit = 60000;
	else if (!strcmp(end, "h"))
		unit = 3600000;
	else if (!strcmp(end, "d"))
		unit = 86400000;
	else
		return -EINVAL;
	*ms = n * unit;
	if (*ms > 86400000 || 86400000 % *ms)
		return -ERANGE;
	return 0;
}

static int metric_known(const struct gw_config *cfg, const char *metric, const char **unit)
{
	int counter;
	/* series a service derives for devices (the lighting schedule's) */
	for (const struct service_ops *const *sv = services; *sv; sv++)
		if ((*sv)->derived_metric && (*sv)->derived_metric(cfg, metric, unit, &counter))
			return 1 + counter;
	for (size_t d = 0; d < cfg->ndevices; d++) {
		const struct profile *p = cfg->devices[d].profile;
		for (size_t r = 0; p && r < p->nregs; r++)
			if (p->regs[r].metric && !strcmp(p->regs[r].metric, metric)) {
				if (unit)
					*unit = p->regs[r].unit;
				return 1 + p->regs[r].counter;
			}
	}
	return 0;
}

/* An alarm some service raises (the lamp alarms: lampFailure, ...). */
static int alarm_known(const char *name)
{
	for (const struct service_ops *const *sv = services; *sv; sv++)
		if ((*sv)->alarm_known && (*sv)->alarm_known(name))
			return 1;
	return 0;
}

static int parse_date(const char *s, int64_t *ms)
{
	return time_parse(s, 0, ms);
}

static void parse_target(struct conf_ctx *ctx, const config_setting_t *t, struct kpi_def *k)
{
	const char *op, *str;
	config_setting_t *m;
	double v;

	if (!config_setting_is_group(t)) {
		conf_serror(ctx, t, _("target must be a group: target = { op = \">=\"; value = 0.95; };"));
		return;
	}
	conf_check_keys(ctx, t, "target", target_keys);
	if ((op = conf_get_str(ctx, t, "op", 1))) {
		if (!strcmp(op, ">="))
			k->op = OP_GE;
		else if (!strcmp(op, "<="))
			k->op = OP_LE;
		else
			conf_serror(ctx, config_setting_get_member(t, "op"), _("target op must be \">=\" or \"<=\" (got '%s')"), op);
	}
	if (!(m = config_setting_get_member(t, "value")))
		conf_serror(ctx, t, _("target: missing required key 'value'"));
	else if (conf_number(m, &v) < 0 || !isfinite(v))
		conf_serror(ctx, m, _("target value must be a number"));
	else
		k->target = v;
	if ((str = conf_get_str(ctx, t, "deadline", 0)) && parse_date(str, &k->deadline_ms) < 0)
		conf_serror(ctx, config_setting_get_member(t, "deadline"), _("deadline must be a date such as \"2026-12-31\" (got '%s')"), str);
	if ((str = conf_get_str(ctx, t, "start", 0)) && parse_date(str, &k->start_ms) < 0)
		conf_serror(ctx, config_setting_get_member(t, "start"), _("start must be a date such as \"2026-01-01\" (got '%s')"), str);
	if ((m = config_setting_get_member(t, "baseline"))) {
		if (conf_number(m, &v) < 0 || !isfinite(v))
			conf_serror(ctx, m, _("baseline must be a number"));
		else {
			k->baseline = v;
			k->has_baseline = 1;
		}
	}
	if (k->has_baseline != (k->start_ms != 0))
		conf_serror(ctx, t, _("target: baseline and start go together (the path to the target starts at baseline on start)"));
	if (k->has_baseline && !k->deadline_ms)
		conf_serror(ctx, t, _("target: a baseline needs a deadline (the path ends at the target on the deadline)"));
	if (k->start_ms && k->deadline_ms && k->start_ms >= k->deadline_ms)
		conf_serror(ctx, t, _("target: start must be before the deadline"));
}

void conf_parse_target(struct conf_ctx *ctx, const config_setting_t *t, struct kpi_def *k)
{
	parse_target(ctx, t, k);
}

static void parse(struct conf_ctx *ctx, const config_setting_t *list, struct gw_config *cfg)
{
	int n;

	if (!list)
		return;
	n = config_setting_length(list);
	if (!config_setting_is_list(list)) {
		conf_serror(ctx, list, _("kpis must be a list: kpis = ( { name = \"...\"; ... } );"));
		return;
	}
	cfg->kpis = calloc((size_t)n + 1, sizeof(*cfg->kpis));
	for (int i = 0; i < n && cfg->kpis; i++) {
		config_setting_t *s = config_setting_get_elem(list, (unsigned)i), *m;
		struct kpi_def *k = &cfg->kpis[cfg->nkpis];
		const char *str, *unit = NULL;
		double v;
		int ok = 1, kind;

		if (!config_setting_is_group(s)) {
			conf_serror(ctx, s, _("a KPI must be a group { name = \"...\"; ... }"));
			continue;
		}
		conf_check_keys(ctx, s, "kpi", kpi_keys);
		memset(k, 0, sizeof(*k));
		k->at = conf_origin_of(ctx, s);
		k->scale = 1.0;
		if ((str = conf_get_str(ctx, s, "name", 1)) && conf_valid_name(str, 63)) {
			for (size_t j = 0; j < cfg->nkpis; j++)
				if (cfg->kpis[j].name && !strcmp(cfg->kpis[j].name, str)) {
					conf_serror(ctx, s, _("duplicate KPI '%s' (first at line %d)"), str, cfg->kpis[j].at.line);
					ok = 0;
				}
			k->name = strdup(str);
		} else {
			if (str)
				conf_serror(ctx, config_setting_get_member(s, "name"), _("KPI name '%s' must be 1..63 letters, digits, '-', '_' or '.'"), str);
			ok = 0;
		}
		str = conf_get_str(ctx, s, "domain", 0);
		if (str && !conf_valid_name(str, 32)) {
			conf_serror(ctx, config_setting_get_member(s, "domain"), _("domain '%s' must be 1..32 letters, digits, '-', '_' or '.' (it is a topic level)"), str);
			ok = 0;
		}
		k->domain = strdup(str ? str : "lighting");
		k->agg = AGG_MEAN;
		if ((str = conf_get_str(ctx, s, "aggregate", 1))) {
			int found = 0;
			for (int a = 0; a <= AGG_DELTA_RATIO; a++)
				if (!strcmp(str, agg_names[a])) {
					k->agg = (enum kpi_agg)a;
					found = 1;
				}
			if (!found) {
				conf_serror(ctx, config_setting_get_member(s, "aggregate"),
				       _("aggregate must be sum, mean, min, max, last, delta, ratio, delta_ratio, availability, savings, mttr or coverage (got '%s')"), str);
				ok = 0;
			}
		} else {
			ok = 0;
		}
		if ((str = conf_get_str(ctx, s, "window", 1))) {
			int rc = kpi_window_parse(str, &k->window_ms);
			if (rc < 0) {
				conf_serror(ctx, config_setting_get_member(s, "window"), rc == -ERANGE ?
				       _("window '%s' must divide a day evenly (15m, 30m, 1h, 2h, 1d ...)") :
				       _("window must be a number of minutes, hours or days such as \"15m\", \"1h\", \"1d\" (got '%s')"), str);
				ok = 0;
			}
			k->window_str = strdup(str);
		} else {
			ok = 0;
		}
		/* an aggregate a service computes (coverage) takes that service's keys */
		for (const struct service_ops *const *sv = services; *sv; sv++)
			if ((*sv)->kpi_parse && (*sv)->kpi_agg == (int)k->agg)
				(*sv)->kpi_parse(ctx, s, k, cfg);
		str = conf_get_str(ctx, s, "metric", k->agg != AGG_AVAILABILITY && k->agg != AGG_COVERAGE);
		if (str) {
			if (k->agg == AGG_COVERAGE)
				conf_serror(ctx, config_setting_get_member(s, "metric"), _("coverage KPIs take a technology and a figure, not a metric"));
			else if (k->agg == AGG_AVAILABILITY)
				conf_serror(ctx, config_setting_get_member(s, "metric"), _("availability counts devices online; it takes no metric"));
			else if (k->agg == AGG_MTTR) {
				if (!alarm_known(str))
					conf_serror(ctx, config_setting_get_member(s, "metric"), _("mttr: '%s' is not an alarm "
					       "(lampFailure, lampUnexpectedOn, cabinetDoorOpen, deviceUnreachable, ...)"), str);
				unit = "s";
			} else if (!(kind = metric_known(cfg, str, &unit)))
				conf_serror(ctx, config_setting_get_member(s, "metric"), _("no profile of a configured device has a metric '%s'"), str);
			else if ((k->agg == AGG_DELTA || k->agg == AGG_SAVINGS || k->agg == AGG_DELTA_RATIO) && kind != 2)
				conf_serror(ctx, config_setting_get_member(s, "metric"),
				       _("aggregate delta needs a counter: mark register '%s' with counter = true in its profile"), str);
			k->metric = strdup(str);
		}
		str = conf_get_str(ctx, s, "denominator", k->agg == AGG_RATIO || k->agg == AGG_SAVINGS || k->agg == AGG_DELTA_RATIO);
		if (str) {
			int dk;
			if (k->agg != AGG_RATIO && k->agg != AGG_SAVINGS && k->agg != AGG_DELTA_RATIO)
				conf_serror(ctx, config_setting_get_member(s, "denominator"),
				       _("denominator applies only to aggregates ratio, delta_ratio and savings"));
			else if (!(dk = metric_known(cfg, str, NULL)))
				conf_serror(ctx, config_setting_get_member(s, "denominator"), _("no profile of a configured device has a metric '%s'"), str);
			else if ((k->agg == AGG_SAVINGS || k->agg == AGG_DELTA_RATIO) && dk != 2)
				conf_serror(ctx, config_setting_get_member(s, "denominator"),
				       _("aggregate %s needs counters: mark register '%s' with counter = true in its profile"),
				       k->agg == AGG_SAVINGS ? "savings" : "delta_ratio", str);
			k->denominator = strdup(str);
		}
		if ((str = conf_get_str(ctx, s, "group", 0))) {
			if (!config_group(cfg, str))
				conf_serror(ctx, config_setting_get_member(s, "group"), _("no group named '%s' (groups = ( ... ) defines them)"), str);
			k->group = strdup(str);
		}
		if ((str = conf_get_str(ctx, s, "device", 0))) {
			if (!config_device(cfg, str))
				conf_serror(ctx, config_setting_get_member(s, "device"), _("no device named '%s'"), str);
			if (k->group)
				conf_serror(ctx, config_setting_get_member(s, "device"), _("a KPI has one scope: a group or a device, not both"));
			k->device = strdup(str);
		}
		if ((m = config_setting_get_member(s, "scale"))) {
			if (conf_number(m, &v) < 0 || !isfinite(v) || v == 0)
				conf_serror(ctx, m, _("scale must be a non-zero number"));
			else
				k->scale = v;
		}
		if ((str = conf_get_str(ctx, s, "unit", 0)))
			k->unit = strdup(str);
		else if (k->agg == AGG_AVAILABILITY || k->agg == AGG_RATIO || k->agg == AGG_SAVINGS || k->agg == AGG_COVERAGE)
			k->unit = strdup("/");
		else if (unit && k->scale == 1.0)
			k->unit = strdup(unit);
		if ((m = config_setting_get_member(s, "target")))
			parse_target(ctx, m, k);
		(void)ok;
		cfg->nkpis++;
	}
}

static void conf_free(struct gw_config *cfg)
{
	for (size_t i = 0; cfg->kpis && i < cfg->nkpis; i++) {
		struct kpi_def *k = &cfg->kpis[i];
		free(k->name);
		free(k->domain);
		free(k->metric);
		free(k->denominator);
		free(k->unit);
		free(k->window_str);
		free(k->group);
		free(k->device);
		free(k->coverage_op);
	}
	free(cfg->kpis);
	cfg->kpis = NULL;
	cfg->nkpis = 0;
}

static int configured(const struct gw_config *cfg)
{
	return cfg->nkpis > 0;
}

const struct service_ops kpi_service = {
	.name = "kpis",
	.parse = parse,
	.conf_free = conf_free,
	.configured = configured,
	.phase = SERVICE_DATA,
};
