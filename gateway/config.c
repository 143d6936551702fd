/* Configuration parser: libconfig files -> struct gw_config, with option
 * tables, every error at FILE:LINE, and cross-field checks at the end. A
 * reload parses into a new struct; the caller swaps it in only when whole. */
#include "config.h"
#include "i18n.h"

#include <dirent.h>
#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "service.h"
#include "sha256.h"

struct conf_err {
	const char *file;
	int line;
	unsigned seq;
	char *msg;
};

struct conf_ctx {
	FILE *errs;
	unsigned nerrors;
	struct conf_err *err;
	struct gw_config *cfg;
	struct sha256 digest;
	const char *cur_file;   /* the file being parsed (config_read gives no name) */
};

#define OFF(type, field) offsetof(type, field)
#define NOLIM -1e300, 1e300

static const struct opt gateway_opts[] = {
	{ "id", OPT_STRING, OFF(struct gw_config, gateway_id), 0, 0, 0, NULL, 1 },
	{ "ward", OPT_STRING, OFF(struct gw_config, ward), 0, 0, 0, "", 0 },
	{ "data_dir", OPT_STRING, OFF(struct gw_config, data_dir), 0, 0, 0, "/var/lib/wardgw", 0 },
	{ "lat", OPT_DOUBLE, OFF(struct gw_config, lat), -90, 90, 0, NULL, 1 },
	{ "lon", OPT_DOUBLE, OFF(struct gw_config, lon), -180, 180, 0, NULL, 1 },
	{ 0 }
};

static const struct opt log_opts[] = {
	{ "level", OPT_STRING, OFF(struct gw_config, log_level), 0, 0, 0, "info", 0 },
	{ "target", OPT_STRING, OFF(struct gw_config, log_target), 0, 0, 0, "stderr", 0 },
	{ "repeat_burst", OPT_INT, OFF(struct gw_config, log_repeat_burst), 0, 100000, 10, NULL, 0 },
	{ "repeat_interval_s", OPT_INT, OFF(struct gw_config, log_repeat_interval_s), 1, 86400, 60, NULL, 0 },
	{ 0 }
};

static const struct opt store_opts[] = {
	{ "path", OPT_STRING, OFF(struct gw_config, store_path), 0, 0, 0, "wardgw.db", 0 },
	{ "raw_retention_days", OPT_INT, OFF(struct gw_config, raw_retention_days), 1, 3650, 14, NULL, 0 },
	{ "batch_ms", OPT_INT, OFF(struct gw_config, batch_ms), 10, 10000, 200, NULL, 0 },
	{ "minute_retention_days", OPT_INT, OFF(struct gw_config, minute_retention_days), 1, 36500, 90, NULL, 0 },
	{ "hour_retention_days", OPT_INT, OFF(struct gw_config, hour_retention_days), 1, 36500, 1826, NULL, 0 },
	{ "day_retention_days", OPT_INT, OFF(struct gw_config, day_retention_days), 1, 36500, 1826, NULL, 0 },
	{ "max_db_mb", OPT_INT, OFF(struct gw_config, store_max_db_mb), 0, 1048576, 0, NULL, 0 },
	{ "min_free_mb", OPT_INT, OFF(struct gw_config, store_min_free_mb), 0, 1048576, 64, NULL, 0 },
	{ "snapshot_max_s", OPT_INT, OFF(struct gw_config, snapshot_max_s), 5, 3600, 60, NULL, 0 },
	{ 0 }
};

static const struct opt mqtt_opts[] = {
	{ "uri", OPT_STRING, OFF(struct gw_config, mqtt_uri), 0, 0, 0, "tcp://127.0.0.1:1883", 0 },
	{ "client_id", OPT_STRING, OFF(struct gw_config, mqtt_client_id), 0, 0, 0, NULL, 0 },
	{ "username", OPT_STRING, OFF(struct gw_config, mqtt_username), 0, 0, 0, NULL, 0 },
	{ "password_file", OPT_STRING, OFF(struct gw_config, mqtt_password_file), 0, 0, 0, NULL, 0 },
	/* a password over tcp:// crosses the network in clear text: only when said so */
	{ "allow_plaintext_password", OPT_BOOL, OFF(struct gw_config, mqtt_allow_plaintext), 0, 1, 0, NULL, 0 },
	{ "topic_prefix", OPT_STRING, OFF(struct gw_config, topic_prefix), 0, 0, 0, "ward", 0 },
	{ "qos", OPT_INT, OFF(struct gw_config, mqtt_qos), 0, 1, 1, NULL, 0 },
	{ "keepalive", OPT_INT, OFF(struct gw_config, mqtt_keepalive), 5, 3600, 30, NULL, 0 },
	{ "connect_timeout_s", OPT_INT, OFF(struct gw_config, mqtt_connect_timeout_s), 1, 300, 10, NULL, 0 },
	{ "buffer_messages", OPT_INT, OFF(struct gw_config, mqtt_buffer), 0, 100000, 1000, NULL, 0 },
	{ "clean_session", OPT_BOOL, OFF(struct gw_config, mqtt_clean_session), 0, 1, 0, NULL, 0 },
	{ "max_inflight", OPT_INT, OFF(struct gw_config, mqtt_max_inflight), 1, 65535, 500, NULL, 0 },
	{ "ca_file", OPT_STRING, OFF(struct gw_config, mqtt_ca_file), 0, 0, 0, NULL, 0 },
	{ "cert_file", OPT_STRING, OFF(struct gw_config, mqtt_cert_file), 0, 0, 0, NULL, 0 },
	{ "key_file", OPT_STRING, OFF(struct gw_config, mqtt_key_file), 0, 0, 0, NULL, 0 },
	{ "verify_hostname", OPT_BOOL, OFF(struct gw_config, mqtt_verify_hostname), 0, 1, 1, NULL, 0 },
	{ "status_interval_s", OPT_INT, OFF(struct gw_config, status_interval_s), 5, 86400, 60, NULL, 0 },
	{ 0 }
};

/* links = ( { ... } ): like mqtt, per link (issue 13, docs/province.md) */
static const struct opt link_opts[] = {
	{ "name", OPT_STRING, OFF(struct link_conf, name), 0, 0, 0, NULL, 1 },
	{ "uri", OPT_STRING, OFF(struct link_conf, uri), 0, 0, 0, NULL, 0 },
	{ "connect_timeout_s", OPT_INT, OFF(struct link_conf, connect_timeout_s), 1, 300, 10, NULL, 0 },
	{ "client_id", OPT_STRING, OFF(struct link_conf, client_id), 0, 0, 0, NULL, 0 },
	{ "username", OPT_STRING, OFF(struct link_conf, username), 0, 0, 0, NULL, 0 },
	{ "password_file", OPT_STRING, OFF(struct link_conf, password_file), 0, 0, 0, NULL, 0 },
	{ "allow_plaintext_password", OPT_BOOL, OFF(struct link_conf, allow_plaintext), 0, 1, 0, NULL, 0 },
	{ "topic_prefix", OPT_STRING, OFF(struct link_conf, topic_prefix), 0, 0, 0, NULL, 0 },
	{ "qos", OPT_INT, OFF(struct link_conf, qos), 0, 1, 1, NULL, 0 },
	{ "keepalive", OPT_INT, OFF(struct link_conf, keepalive), 5, 3600, 30, NULL, 0 },
	{ "buffer_messages", OPT_INT, OFF(struct link_conf, buffer), 0, 100000, 1000, NULL, 0 },
	{ "clean_session", OPT_BOOL, OFF(struct link_conf, clean_session), 0, 1, 0, NULL, 0 },
	{ "max_inflight", OPT_INT, OFF(struct link_conf, max_inflight), 1, 65535, 500, NULL, 0 },
	{ "ca_file", OPT_STRING, OFF(struct link_conf, ca_file), 0, 0, 0, NULL, 0 },
	{ "cert_file", OPT_STRING, OFF(struct link_conf, cert_file), 0, 0, 0, NULL, 0 },
	{ "key_file", OPT_STRING, OFF(struct link_conf, key_file), 0, 0, 0, NULL, 0 },
	{ "verify_hostname", OPT_BOOL, OFF(struct link_conf, verify_hostname), 0, 1, 1, NULL, 0 },
	{ "commands", OPT_BOOL, OFF(struct link_conf, commands), 0, 1, 0, NULL, 0 },
	{ 0 }
};
static const char *const link_lists[] = { "carries", "uris", NULL };
static void parse_link_uris(struct conf_ctx *ctx, const config_setting_t *s, const char *what, char **uri,
			    char ***uris, size_t *n);
static void free_uris(char **uris, size_t n);

static const struct opt outbox_opts[] = {
	{ "max_mb", OPT_INT, OFF(struct gw_config, outbox_max_mb), 1, 1000000, 512, NULL, 0 },
	{ "max_age_days", OPT_INT, OFF(struct gw_config, outbox_max_age_days), 1, 3650, 30, NULL, 0 },
	{ "backfill_per_s", OPT_INT, OFF(struct gw_config, outbox_backfill_per_s), 1, 1000000, 500, NULL, 0 },
	{ "ack_timeout_s", OPT_INT, OFF(struct gw_config, outbox_ack_timeout_s), 5, 3600, 60, NULL, 0 },
	{ 0 }
};

static const struct opt events_opts[] = {
	{ "hold_s", OPT_INT, OFF(struct gw_config, event_hold_s), 0, 86400, 30, NULL, 0 },
	{ 0 }
};


static const struct opt top_opts[] = {
	{ "profiles_dir", OPT_STRING, OFF(struct gw_config, profiles_dir), 0, 0, 0, "profiles", 0 },
	{ 0 }
};

/* Groups (and lists) allowed at the top level besides top_opts; the
 * services' sections (service.h) come on top. */
static const char *const top_groups[] = {
	"gateway", "log", "store", "mqtt", "outbox", "events", "groups", "device_defaults", "devices",
	"links", NULL,
};

static const struct opt device_opts[] = {
	{ "name", OPT_STRING, OFF(struct device_conf, name), 0, 0, 0, NULL, 1 },
	{ "driver", OPT_STRING, OFF(struct device_conf, driver_name), 0, 0, 0, "modbus-tcp", 0 },
	{ "profile", OPT_STRING, OFF(struct device_conf, profile_name), 0, 0, 0, NULL, 1 },
	{ "poll_interval_ms", OPT_INT, OFF(struct device_conf, poll_interval_ms), 100, 86400000, 1000, NULL, 0 },
	{ "timeout_ms", OPT_INT, OFF(struct device_conf, timeout_ms), 10, 60000, 500, NULL, 0 },
	{ "backoff_max_ms", OPT_INT, OFF(struct device_conf, backoff_max_ms), 100, 3600000, 30000, NULL, 0 },
	{ "count", OPT_INT, OFF(struct device_conf, count), 1, 100000, 1, NULL, 0 },
	{ "lamp_type", OPT_STRING, OFF(struct device_conf, lamp_type), 0, 0, 0, NULL, 0 },
	{ "settle_s", OPT_INT, OFF(struct device_conf, settle_s), 0, 7200, -1, NULL, 0 },
	{ "restrike_s", OPT_INT, OFF(struct device_conf, restrike_s), 0, 7200, -1, NULL, 0 },
	{ "lat", OPT_DOUBLE, OFF(struct device_conf, lat), -90, 90, NAN, NULL, 0 },
	{ "lon", OPT_DOUBLE, OFF(struct device_conf, lon), -180, 180, NAN, NULL, 0 },
	{ 0 }
};

/* Register keys are parsed by hand (their checks depend on each other), but
 * the unknown-key check uses this list. */
static const char *const reg_keys[] = {
	"metric", "table", "address", "type", "order", "bit", "scale", "offset", "unit", "counter", "writable", "min", "max", NULL,
};
static const char *const profile_keys[] = {
	"name", "description", "registers", "write_function", "lamp_type", "settle_s", "restrike_s", NULL,
};

static int lamp_type_ok(const char *t)
{
	return !strcmp(t, "led") || !strcmp(t, "hid");
}

void device_settle(const struct device_conf *d, int *settle_s, int *restrike_s)
{
	const struct profile *p = d->profile;
	const char *type = d->lamp_type ? d->lamp_type : p && p->lamp_type ? p->lamp_type : "led";
	int hid = !strcmp(type, "hid");

	*settle_s = d->settle_s >= 0 ? d->settle_s : p && p->settle_s >= 0 ? p->settle_s : hid ? SETTLE_HID_S : SETTLE_LED_S;
	*restrike_s = d->restrike_s >= 0 ? d->restrike_s : p && p->restrike_s >= 0 ? p->restrike_s
		      : hid ? RESTRIKE_HID_S : *settle_s;
}

/* Errors are collected and printed sorted by file and line at the end, so a
 * technician reads them top to bottom like the file. */
void conf_error(struct conf_ctx *ctx, const struct conf_origin *at, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;
	struct conf_err *n = realloc(ctx->err, (ctx->nerrors + 1) * sizeof(*n));

	if (!n)
		return;
	ctx->err = n;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	n[ctx->nerrors].file = at ? at->file : NULL;
	n[ctx->nerrors].line = at ? at->line : 0;
	n[ctx->nerrors].seq = ctx->nerrors;
	n[ctx->nerrors].msg = msg;
	ctx->nerrors++;
}

static int cmp_err(const void *a, const void *b)
{
	const struct conf_err *x = a, *y = b;
	int c = strcmp(x->file ? x->file : "", y->file ? y->file : "");

	if (c)
		return c;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : 1;
}

static void print_errors(struct conf_ctx *ctx)
{
	if (!ctx->nerrors)
		return;
	qsort(ctx->err, ctx->nerrors, sizeof(*ctx->err), cmp_err);
	for (unsigned i = 0; i < ctx->nerrors; i++) {
		struct conf_err *e = &ctx->err[i];
		const struct conf_err *p = i ? &ctx->err[i - 1] : NULL;
		/* the same mistake seen once per device (device_defaults): once */
		if (p && p->file == e->file && p->line == e->line && p->msg && e->msg && !strcmp(p->msg, e->msg))
			;
		else if (e->file && e->line > 0)
			fprintf(ctx->errs, "%s:%d: %s\n", e->file, e->line, e->msg ? e->msg : "error");
		else
			fprintf(ctx->errs, "%s: %s\n", e->file ? e->file : ctx->cfg->path,
				e->msg ? e->msg : "error");
	}
	for (unsigned i = 0; i < ctx->nerrors; i++)
		free(ctx->err[i].msg);
	free(ctx->err);
	ctx->err = NULL;
}

static const char *intern_file(struct conf_ctx *ctx, const char *f)
{
	struct gw_config *cfg = ctx->cfg;

	if (!f)
		return ctx->cur_file ? ctx->cur_file : cfg->nfiles ? cfg->files[0] : "?";
	for (size_t i = 0; i < cfg->nfiles; i++)
		if (!strcmp(cfg->files[i], f))
			return cfg->files[i];
	char **n = realloc(cfg->files, (cfg->nfiles + 1) * sizeof(*n));
	if (!n)
		return "?";
	cfg->files = n;
	n[cfg->nfiles] = strdup(f);
	return n[cfg->nfiles] ? n[cfg->nfiles++] : "?";
}

static struct conf_origin origin(struct conf_ctx *ctx, const config_setting_t *s)
{
	struct conf_origin o;

	o.file = intern_file(ctx, config_setting_source_file(s));
	o.line = (int)config_setting_source_line(s);
	return o;
}

void conf_serror(struct conf_ctx *ctx, const config_setting_t *s, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	struct conf_origin o = origin(ctx, s);

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conf_error(ctx, &o, "%s", msg);
}

/* Levenshtein distance, for "did you mean"; names are short. */
static unsigned edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned row[64];

	if (la > 63 || lb > 63)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		row[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		unsigned prev = row[0];
		row[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned cur = row[j];
			unsigned best = prev + (a[i - 1] != b[j - 1]);
			if (row[j] + 1 < best) best = row[j] + 1;
			if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
			row[j] = best;
			prev = cur;
		}
	}
	return row[lb];
}

/* Report every member of @group not named in the tables or name lists. */
static void check_unknown(struct conf_ctx *ctx, const config_setting_t *group, const char *what,
			  const struct opt *t1, const struct opt *t2, const char *const *names)
{
	int n = config_setting_length(group);

	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(group, (unsigned)i);
		const char *key = config_setting_name(m);
		const char *best = NULL;
		unsigned bestd = 3;
		int known = 0;

		if (!key)
			continue;
		for (const struct opt *t = t1; t && t->name && !known; t++) {
			known = !strcmp(t->name, key);
			if (!known && edit_distance(key, t->name) < bestd)
				bestd = edit_distance(key, t->name), best = t->name;
		}
		for (const struct opt *t = t2; t && t->name && !known; t++) {
			known = !strcmp(t->name, key);
			if (!known && edit_distance(key, t->name) < bestd)
				bestd = edit_distance(key, t->name), best = t->name;
		}
		for (const char *const *k = names; k && *k && !known; k++) {
			known = !strcmp(*k, key);
			if (!known && edit_distance(key, *k) < bestd)
				bestd = edit_distance(key, *k), best = *k;
		}
		if (known)
			continue;
		if (best)
			conf_serror(ctx, m, _("unknown key '%s' in %s (did you mean '%s'?)"), key, what, best);
		else
			conf_serror(ctx, m, _("unknown key '%s' in %s"), key, what);
	}
}

int conf_number(const config_setting_t *s, double *out)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:   *out = config_setting_get_int(s); return 0;
	case CONFIG_TYPE_INT64: *out = (double)config_setting_get_int64(s); return 0;
	case CONFIG_TYPE_FLOAT: *out = config_setting_get_float(s); return 0;
	default: return -EINVAL;
	}
}

static void fmt_num(char *buf, size_t n, double v)
{
	snprintf(buf, n, "%.15g", v);
}

static void set_defaults(const struct opt *opts, void *dst)
{
	for (const struct opt *o = opts; o->name; o++) {
		char *p = (char *)dst + o->offset;
		switch (o->type) {
		case OPT_INT: case OPT_BOOL: *(int *)p = (int)o->def; break;
		case OPT_DOUBLE: *(double *)p = o->def; break;
		case OPT_STRING:
			free(*(char **)p);
			*(char **)p = o->def_str ? strdup(o->def_str) : NULL;
			break;
		}
	}
}

/* Apply the keys of @opts found in @group onto @dst (defaults are set by the
 * caller). A required key that is missing is reported at the group. */
static void apply_opts(struct conf_ctx *ctx, const config_setting_t *group, const char *what,
		       const struct opt *opts, void *dst, int check_required)
{
	for (const struct opt *o = opts; o->name; o++) {
		config_setting_t *s = group ? config_setting_get_member(group, o->name) : NULL;
		char *p = (char *)dst + o->offset;
		double v;

		if (!s) {
			if (check_required && o->required) {
				if (group)
					conf_serror(ctx, group, _("%s: missing required key '%s'"), what, o->name);
				else
					conf_error(ctx, NULL, _("missing required section '%s' with key '%s'"), what, o->name);
			}
			continue;
		}
		switch (o->type) {
		case OPT_STRING:
			if (config_setting_type(s) != CONFIG_TYPE_STRING) {
				conf_serror(ctx, s, _("%s must be a string in double quotes"), o->name);
				break;
			}
			free(*(char **)p);
			*(char **)p = strdup(config_setting_get_string(s));
			break;
		case OPT_BOOL:
			if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
				conf_serror(ctx, s, _("%s must be true or false"), o->name);
				break;
			}
			*(int *)p = config_setting_get_bool(s);
			break;
		case OPT_INT:
		case OPT_DOUBLE:
			if (conf_number(s, &v) < 0) {
				conf_serror(ctx, s, _("%s must be a number"), o->name);
				break;
			}
			if (o->type == OPT_INT && config_setting_type(s) == CONFIG_TYPE_FLOAT) {
				conf_serror(ctx, s, _("%s must be a whole number (got %g)"), o->name, v);
				break;
			}
			if (!isfinite(v) || v < o->min || v > o->max) {
				char lo[32], hi[32], got[32];
				fmt_num(lo, sizeof(lo), o->min);
				fmt_num(hi, sizeof(hi), o->max);
				fmt_num(got, sizeof(got), v);
				conf_serror(ctx, s, _("%s must be %s..%s (got %s)"), o->name, lo, hi, got);
				break;
			}
			if (o->type == OPT_INT)
				*(int *)p = (int)v;
			else
				*(double *)p = v;
			break;
		}
	}
}

static void free_opts(const struct opt *opts, void *dst)
{
	for (const struct opt *o = opts; o->name; o++)
		if (o->type == OPT_STRING) {
			free(*(char **)((char *)dst + o->offset));
			*(char **)((char *)dst + o->offset) = NULL;
		}
}

/* Names that end up in MQTT topics and SQL rows: keep them plain. */
static int valid_name(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return 0;
	return 1;
}

/* libconfig reads from a file we hash at the same time, so the digest covers
 * exactly what was parsed. */
static int read_file_digest(struct conf_ctx *ctx, config_t *lc, const char *path)
{
	FILE *f = fopen(path, "r");
	char buf[4096];
	size_t n;

	if (!f)
		return -errno;
	ctx->cur_file = intern_file(ctx, path);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		sha256_update(&ctx->digest, buf, n);
	rewind(f);
	int ok = config_read(lc, f);
	fclose(f);
	if (!ok) {
		struct conf_origin o = {
			intern_file(ctx, config_error_file(lc) ? config_error_file(lc) : path),
			config_error_line(lc)
		};
		conf_error(ctx, &o, _("syntax error: %s"), config_error_text(lc));
		return -EINVAL;
	}
	return 0;
}

static void parse_register(struct conf_ctx *ctx, const config_setting_t *s, struct reg_def *r)
{
	const char *str;
	double v;
	config_setting_t *m;

	memset(r, 0, sizeof(*r));
	r->at = origin(ctx, s);
	r->scale = 1.0;
	r->min = NAN;
	r->max = NAN;
	if (!config_setting_is_group(s)) {
		conf_serror(ctx, s, _("a register must be a group { metric = ...; }"));
		return;
	}
	check_unknown(ctx, s, "register", NULL, NULL, reg_keys);

	if (!config_setting_lookup_string(s, "metric", &str))
		conf_serror(ctx, s, _("register: missing required key 'metric' (a string)"));
	else if (!valid_name(str, 63))
		conf_serror(ctx, config_setting_get_member(s, "metric"),
		       _("metric '%s' must be 1..63 letters, digits, '-', '_' or '.'"), str);
	else
		r->metric = strdup(str);

	int table_ok = 0;
	r->table = TABLE_HOLDING;
	if (!config_setting_lookup_string(s, "table", &str))
		conf_serror(ctx, s, _("register %s: missing required key 'table' (coil, discrete, holding or input)"),
		       r->metric ? r->metric : "?");
	else if (reg_table_parse(str, &r->table) < 0)
		conf_serror(ctx, config_setting_get_member(s, "table"),
		       _("table must be coil, discrete, holding or input (got '%s')"), str);
	else
		table_ok = 1;

	r->type = reg_table_is_bits(r->table) ? TYPE_BIT : TYPE_U16;
	if ((m = config_setting_get_member(s, "type"))) {
		if (config_setting_type(m) != CONFIG_TYPE_STRING)
			conf_serror(ctx, m, _("type must be a string, one of u16 s16 u32 s32 u64 s64 f32 f64 bit"));
		else if (reg_type_parse(config_setting_get_string(m), &r->type) < 0)
			conf_serror(ctx, m, _("type must be one of u16 s16 u32 s32 u64 s64 f32 f64 bit (got '%.64s')"),
			       config_setting_get_string(m));
		else if (table_ok && reg_table_is_bits(r->table) && r->type != TYPE_BIT)
			conf_serror(ctx, m, _("a %s register is a single bit: type must be \"bit\" (got '%s')"),
			       reg_table_name(r->table), reg_type_name(r->type));
	}

	if (!(m = config_setting_get_member(s, "address")))
		conf_serror(ctx, s, _("register %s: missing required key 'address'"), r->metric ? r->metric : "?");
	else if (conf_number(m, &v) < 0 || config_setting_type(m) == CONFIG_TYPE_FLOAT)
		conf_serror(ctx, m, _("address must be a whole number (e.g. 0x0156)"));
	else if (v < 0 || v + reg_type_words(r->type) - 1 > 65535)
		conf_serror(ctx, m, _("address must be 0..%u for a %s (got %.0f)"),
		       65536 - reg_type_words(r->type), reg_type_name(r->type), v);
	else
		r->address = (uint16_t)v;

	str = NULL;
	if ((m = config_setting_get_member(s, "order"))) {
		if (config_setting_type(m) != CONFIG_TYPE_STRING)
			conf_serror(ctx, m, _("order must be a string such as \"ABCD\""));
		else
			str = config_setting_get_string(m);
		if (str && (r->type == TYPE_BIT || reg_table_is_bits(r->table)))
			conf_serror(ctx, m, _("order does not apply to a bit"));
	}
	if (reg_order_parse(str, r->type, &r->order) < 0)
		conf_serror(ctx, m, _("order '%s' does not fit a %s; use one of %s"), str,
		       reg_type_name(r->type), reg_order_choices(r->type));

	if ((m = config_setting_get_member(s, "bit"))) {
		if (r->type != TYPE_BIT || reg_table_is_bits(r->table))
			conf_serror(ctx, m, _("bit applies only to type \"bit\" on a holding or input register"));
		else if (conf_number(m, &v) < 0 || config_setting_type(m) == CONFIG_TYPE_FLOAT || v < 0 || v > 15)
			conf_serror(ctx, m, _("bit must be 0..15"));
		else
			r->bit = (unsigned)v;
	} else if (r->type == TYPE_BIT && !reg_table_is_bits(r->table)) {
		conf_serror(ctx, s, _("register %s: type \"bit\" needs 'bit' (0..15)"), r->metric ? r->metric : "?");
	}

	if ((m = config_setting_get_member(s, "scale"))) {
		if (conf_number(m, &v) < 0 || !isfinite(v) || v == 0)
			conf_serror(ctx, m, _("scale must be a non-zero number"));
		else
			r->scale = v;
	}
	if ((m = config_setting_get_member(s, "offset"))) {
		if (conf_number(m, &v) < 0 || !isfinite(v))
			conf_serror(ctx, m, _("offset must be a number"));
		else
			r->offset = v;
	}
	if ((m = config_setting_get_member(s, "counter"))) {
		if (config_setting_type(m) != CONFIG_TYPE_BOOL)
			conf_serror(ctx, m, _("counter must be true or false"));
		else
			r->counter = config_setting_get_bool(m);
	}
	if ((m = config_setting_get_member(s, "writable"))) {
		if (config_setting_type(m) != CONFIG_TYPE_BOOL)
			conf_serror(ctx, m, _("writable must be true or false"));
		else if ((r->writable = config_setting_get_bool(m)) && table_ok &&
			 (r->table == TABLE_INPUT || r->table == TABLE_DISCRETE))
			conf_serror(ctx, m, _("a %s register is read-only in Modbus: writable needs a holding register or a coil"),
			       reg_table_name(r->table));
	}
	static const char *const bound_keys[2] = { "min", "max" };
	double *bounds[2] = { &r->min, &r->max };
	for (int i = 0; i < 2; i++) {
		if (!(m = config_setting_get_member(s, bound_keys[i])))
			continue;
		if (conf_number(m, &v) < 0 || !isfinite(v))
			conf_serror(ctx, m, _("%s must be a number (in the register's units, after scale)"), bound_keys[i]);
		else
			*bounds[i] = v;
	}
	if (r->min > r->max)
		conf_serror(ctx, config_setting_get_member(s, "max"), _("max (%g) is below min (%g)"), r->max, r->min);
	if ((m = config_setting_get_member(s, "unit"))) {
		if (config_setting_type(m) != CONFIG_TYPE_STRING)
			conf_serror(ctx, m, _("unit must be a string (a SenML unit such as \"V\" or \"kWh\")"));
		else if (strlen(config_setting_get_string(m)) > 15 ||
			 strpbrk(config_setting_get_string(m), "\"\\"))
			conf_serror(ctx, m, _("unit must be at most 15 characters, no quotes or backslashes"));
		else
			r->unit = strdup(config_setting_get_string(m));
	}
}

static void free_profile(struct profile *p)
{
	for (size_t i = 0; i < p->nregs; i++) {
		free(p->regs[i].metric);
		free(p->regs[i].unit);
	}
	free(p->regs);
	free(p->name);
	free(p->description);
	free(p->lamp_type);
}

static void parse_profile_file(struct conf_ctx *ctx, const char *path)
{
	struct gw_config *cfg = ctx->cfg;
	config_t lc;
	config_setting_t *ps, *regs, *m;
	const char *str;

	config_init(&lc);
	if (read_file_digest(ctx, &lc, path) < 0)
		goto out;
	ps = config_lookup(&lc, "profile");
	if (!ps || !config_setting_is_group(ps)) {
		struct conf_origin o = { intern_file(ctx, path), 1 };
		conf_error(ctx, &o, _("a profile file must contain 'profile = { name = ...; registers = (...); };'"));
		goto out;
	}
	check_unknown(ctx, config_root_setting(&lc), "profile file", NULL, NULL,
		      (const char *const[]){ "profile", NULL });
	check_unknown(ctx, ps, "profile", NULL, NULL, profile_keys);

	struct profile *np = realloc(cfg->profiles, (cfg->nprofiles + 1) * sizeof(*np));
	if (!np)
		goto out;
	cfg->profiles = np;
	struct profile *p = &np[cfg->nprofiles++];
	memset(p, 0, sizeof(*p));
	p->at = origin(ctx, ps);

	if (!config_setting_lookup_string(ps, "name", &str))
		conf_serror(ctx, ps, _("profile: missing required key 'name' (a string)"));
	else if (!valid_name(str, 63))
		conf_serror(ctx, config_setting_get_member(ps, "name"),
		       _("profile name '%s' must be 1..63 letters, digits, '-', '_' or '.'"), str);
	else
		p->name = strdup(str);
	if (config_setting_lookup_string(ps, "description", &str))
		p->description = strdup(str);
	p->write_function = 6;
	if ((m = config_setting_get_member(ps, "write_function"))) {
		double wf;
		if (conf_number(m, &wf) < 0 || (wf != 6 && wf != 16))
			conf_serror(ctx, m, _("write_function must be 6 (05/06 for one coil or register, 15/16 for more) "
			       "or 16 (always 15/16, for devices that accept only those)"));
		else
			p->write_function = (int)wf;
	}
	p->settle_s = p->restrike_s = -1;
	if ((m = config_setting_get_member(ps, "lamp_type"))) {
		if (config_setting_type(m) != CONFIG_TYPE_STRING || !lamp_type_ok(config_setting_get_string(m)))
			conf_serror(ctx, m, "lamp_type must be \"led\" or \"hid\" (sodium, metal halide)%s%s%s",
			       config_setting_type(m) == CONFIG_TYPE_STRING ? " (got '" : "",
			       config_setting_type(m) == CONFIG_TYPE_STRING ? config_setting_get_string(m) : "",
			       config_setting_type(m) == CONFIG_TYPE_STRING ? "')" : "");
		else
			p->lamp_type = strdup(config_setting_get_string(m));
	}
	for (int k = 0; k < 2; k++) {
		const char *key = k ? "restrike_s" : "settle_s";
		double v;
		if (!(m = config_setting_get_member(ps, key)))
			continue;
		if (conf_number(m, &v) < 0 || config_setting_type(m) == CONFIG_TYPE_FLOAT || v < 0 || v > 7200)
			conf_serror(ctx, m, "%s must be a whole number of seconds 0..7200", key);
		else
			*(k ? &p->restrike_s : &p->settle_s) = (int)v;
	}

	regs = config_setting_get_member(ps, "registers");
	if (!regs || !(config_setting_is_list(regs) || config_setting_is_array(regs))) {
		conf_serror(ctx, regs ? regs : ps, _("profile %s: 'registers' must be a list ( {...}, {...} )"),
		       p->name ? p->name : "?");
		goto out;
	}
	int n = config_setting_length(regs);
	if (n == 0)
		conf_serror(ctx, regs, _("profile %s has no registers"), p->name ? p->name : "?");
	p->regs = calloc((size_t)n + 1, sizeof(*p->regs));
	if (!p->regs)
		goto out;
	for (int i = 0; i < n; i++) {
		m = config_setting_get_elem(regs, (unsigned)i);
		parse_register(ctx, m, &p->regs[p->nregs]);
		struct reg_def *r = &p->regs[p->nregs++];
		for (size_t j = 0; r->metric && j + 1 < p->nregs; j++)
			if (p->regs[j].metric && !strcmp(p->regs[j].metric, r->metric))
				conf_error(ctx, &r->at, _("metric '%s' appears twice in profile %s (first at line %d)"),
					   r->metric, p->name ? p->name : "?", p->regs[j].at.line);
	}
out:
	config_destroy(&lc);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

static char *join_path(const char *dir, const char *p)
{
	char *out;

	if (p[0] == '/')
		return strdup(p);
	if (asprintf(&out, "%s/%s", dir, p) < 0)
		return NULL;
	return out;
}

static void load_profiles(struct conf_ctx *ctx, const config_setting_t *where)
{
	struct gw_config *cfg = ctx->cfg;
	char *cdir = dir_of(cfg->path);
	char *dir = cdir ? join_path(cdir, cfg->profiles_dir) : NULL;
	char **names = NULL;
	size_t n = 0;
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *e;

	if (!d) {
		struct conf_origin o = where ? origin(ctx, where) : (struct conf_origin){ cfg->files[0], 0 };
		conf_error(ctx, &o, _("profiles_dir '%s': %s"), dir ? dir : cfg->profiles_dir, strerror(errno));
		goto out;
	}
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l < 6 || strcmp(e->d_name + l - 5, ".conf") || e->d_name[0] == '.')
			continue;
		char **nn = realloc(names, (n + 1) * sizeof(*nn));
		if (!nn)
			break;
		names = nn;
		names[n++] = join_path(dir, e->d_name);
	}
	closedir(d);
	/* sorted, so errors and the digest do not depend on directory order
	 * (no qsort of a NULL array: a folder without profiles is valid) */
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++)
		if (names[i])
			parse_profile_file(ctx, names[i]);
	ctx->cur_file = cfg->files[0];
	for (size_t i = 0; i < cfg->nprofiles; i++)
		for (size_t j = 0; j < i; j++)
			if (cfg->profiles[i].name && cfg->profiles[j].name &&
			    !strcmp(cfg->profiles[i].name, cfg->profiles[j].name))
				conf_error(ctx, &cfg->profiles[i].at, _("profile '%s' is defined twice (also at %s:%d)"),
					   cfg->profiles[i].name, cfg->profiles[j].at.file, cfg->profiles[j].at.line);
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(dir);
	free(cdir);
}

const struct profile *config_profile(const struct gw_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nprofiles; i++)
		if (cfg->profiles[i].name && !strcmp(cfg->profiles[i].name, name))
			return &cfg->profiles[i];
	return NULL;
}

const struct device_conf *config_device(const struct gw_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->ndevices; i++)
		if (cfg->devices[i].name && !strcmp(cfg->devices[i].name, name))
			return &cfg->devices[i];
	return NULL;
}

static void free_device(struct device_conf *d)
{
	if (d->driver && d->drv)
		free_opts(d->driver->opts, d->drv);
	free(d->drv);
	free_opts(device_opts, d);
}

/* Copy a device's settings into a fresh one (strings duplicated). */
static int clone_device(const struct device_conf *src, struct device_conf *dst)
{
	*dst = *src;
	dst->drv = NULL;
	for (const struct opt *o = device_opts; o->name; o++)
		if (o->type == OPT_STRING) {
			char **p = (char **)((char *)dst + o->offset);
			*p = *p ? strdup(*p) : NULL;
		}
	if (src->driver) {
		dst->drv = malloc(src->driver->conf_size);
		if (!dst->drv)
			return -ENOMEM;
		memcpy(dst->drv, src->drv, src->driver->conf_size);
		for (const struct opt *o = src->driver->opts; o->name; o++)
			if (o->type == OPT_STRING) {
				char **p = (char **)((char *)dst->drv + o->offset);
				*p = *p ? strdup(*p) : NULL;
			}
	}
	return 0;
}

static void parse_devices(struct conf_ctx *ctx, const config_setting_t *list,
			  const struct device_conf *defaults, const config_setting_t *defs)
{
	struct gw_config *cfg = ctx->cfg;
	int n = config_setting_length(list);

	for (int i = 0; i < n; i++) {
		config_setting_t *s = config_setting_get_elem(list, (unsigned)i);
		struct device_conf dev;

		if (!config_setting_is_group(s)) {
			conf_serror(ctx, s, _("each device must be a group { name = ...; }"));
			continue;
		}
		const char *nm = NULL;
		char what[96];
		config_setting_lookup_string(s, "name", &nm);
		snprintf(what, sizeof(what), "device %s", nm ? nm : "(no name)");
		clone_device(defaults, &dev);
		dev.at = origin(ctx, s);
		apply_opts(ctx, s, what, device_opts, &dev, 1);
		dev.driver = dev.driver_name ? driver_find(dev.driver_name) : NULL;
		if (!dev.driver) {
			config_setting_t *m = config_setting_get_member(s, "driver");
			char known[160];
			size_t kl = 0;
			known[0] = 0;
			for (const struct driver_ops *const *k = drivers; *k && kl < sizeof(known); k++)
				kl += (size_t)snprintf(known + kl, sizeof(known) - kl, "%s%s", kl ? ", " : "", (*k)->name);
			conf_serror(ctx, m ? m : s, _("unknown driver '%.64s' (known: %s)"),
			       dev.driver_name ? dev.driver_name : "", known);
			check_unknown(ctx, s, "device", device_opts, NULL, NULL);
			free_device(&dev);
			continue;
		}
		dev.drv = calloc(1, dev.driver->conf_size);
		set_defaults(dev.driver->opts, dev.drv);
		/* driver keys in device_defaults (max_gap, port...) come first;
		 * a device's own keys override them */
		if (defs)
			apply_opts(ctx, defs, "device_defaults", dev.driver->opts, dev.drv, 0);
		apply_opts(ctx, s, what, dev.driver->opts, dev.drv, 1);
		check_unknown(ctx, s, "device", device_opts, dev.driver->opts, NULL);
		if (dev.lamp_type && !lamp_type_ok(dev.lamp_type))
			conf_serror(ctx, config_setting_get_member(s, "lamp_type") ? config_setting_get_member(s, "lamp_type")
			       : defs ? config_setting_get_member(defs, "lamp_type") : s,
			       _("lamp_type must be \"led\" or \"hid\" (sodium, metal halide) (got '%s')"), dev.lamp_type);
		if (dev.name && !valid_name(dev.name, 56))
			conf_serror(ctx, config_setting_get_member(s, "name"),
			       _("device name '%s' must be 1..56 letters, digits, '-', '_' or '.'"), dev.name);
		if (dev.profile_name && !(dev.profile = config_profile(cfg, dev.profile_name))) {
			const char *best = NULL;
			unsigned bd = 4;
			for (size_t k = 0; k < cfg->nprofiles; k++)
				if (cfg->profiles[k].name && edit_distance(dev.profile_name, cfg->profiles[k].name) < bd)
					bd = edit_distance(dev.profile_name, cfg->profiles[k].name),
					best = cfg->profiles[k].name;
			conf_serror(ctx, config_setting_get_member(s, "profile"),
			       _("device %s: no profile named '%s' in %s%s%s%s"), dev.name ? dev.name : "?",
			       dev.profile_name, cfg->profiles_dir, best ? " (did you mean '" : "",
			       best ? best : "", best ? "'?)" : "");
		}
		if (dev.timeout_ms >= dev.poll_interval_ms)
			conf_serror(ctx, s, _("device %s: timeout_ms (%d) must be less than poll_interval_ms (%d)"),
			       dev.name ? dev.name : "?", dev.timeout_ms, dev.poll_interval_ms);

		/* "count = N" expands into N devices named NAME-001.. (wider
		 * numbers past 999), the
		 * driver bumping its address per instance (e.g. the port). */
		int count = dev.count;
		for (int k = 0; k < count; k++) {
			struct device_conf *nd = realloc(cfg->devices, (cfg->ndevices + 1) * sizeof(*nd));
			if (!nd)
				break;
			cfg->devices = nd;
			struct device_conf *d = &nd[cfg->ndevices++];
			clone_device(&dev, d);
			d->count = 1;
			if (count > 1) {
				char *name = NULL;
				int width = count >= 10000 ? 5 : count >= 1000 ? 4 : 3;
				if (asprintf(&name, "%s-%0*d", dev.name ? dev.name : "?", width, k + 1) < 0)
					name = NULL;
				free(d->name);
				d->name = name;
				if (d->driver && d->driver->opts) {
					/* the first int option named "port" steps with k;
					 * on a serial bus (no port) the unit id does */
					const char *step = "port";
					for (const struct opt *o = d->driver->opts; o->name; o++)
						if (!strcmp(o->name, "serial"))
							step = "unit";
					for (const struct opt *o = d->driver->opts; o->name; o++)
						if (o->type == OPT_INT && !strcmp(o->name, step)) {
							int *port = (int *)((char *)d->drv + o->offset);
							if (*port + k > (step[0] == 'p' ? 65535 : (int)o->max)) {
								conf_serror(ctx, s, _("device %s: count %d runs the %s past %d"),
								       dev.name ? dev.name : "?", count, step,
								       step[0] == 'p' ? 65535 : (int)o->max);
								k = count;
								break;
							}
							*port += k;
						}
				}
			}
			if (d->driver->check)
				d->driver->check(ctx, d);
		}
		free_device(&dev);
	}
}

static void check_cross(struct conf_ctx *ctx)
{
	struct gw_config *cfg = ctx->cfg;

	for (size_t i = 0; i < cfg->ndevices; i++) {
		const struct device_conf *a = &cfg->devices[i];
		for (size_t j = 0; j < i && a->name; j++) {
			const struct device_conf *b = &cfg->devices[j];
			if (b->name && !strcmp(a->name, b->name)) {
				conf_error(ctx, &a->at, _("device name '%s' is used twice (also at line %d)"),
					   a->name, b->at.line);
				break;
			}
		}
	}
	if (cfg->ndevices > 20000)
		conf_error(ctx, NULL, _("%zu devices configured; at most 20000 are supported"), cfg->ndevices);
	for (const struct driver_ops *const *d = drivers; *d; d++)
		if ((*d)->check_all)
			(*d)->check_all(ctx, cfg);
}

int config_plaintext_uri(const struct gw_config *cfg)
{
	const char *u = cfg->mqtt_uri ? cfg->mqtt_uri : "tcp://";

	return !strncmp(u, "tcp://", 6) || !strncmp(u, "mqtt://", 7);
}

const char *config_plaintext_warning(const struct gw_config *cfg, char *buf, size_t len)
{
	if (!cfg->mqtt_password_file || !config_plaintext_uri(cfg))
		return NULL;
	snprintf(buf, len, "%s:%d: warning: mqtt password sent in clear text over %s "
		 "(allow_plaintext_password = true)", cfg->mqtt_password_at.file ? cfg->mqtt_password_at.file : cfg->path,
		 cfg->mqtt_password_at.line, cfg->mqtt_uri ? cfg->mqtt_uri : "tcp://");
	return buf;
}

static void check_gateway(struct conf_ctx *ctx, config_t *lc)
{
	struct gw_config *cfg = ctx->cfg;
	config_setting_t *g = config_lookup(lc, "gateway");
	config_setting_t *m = config_lookup(lc, "mqtt");

	if (cfg->gateway_id && !valid_name(cfg->gateway_id, 64))
		conf_serror(ctx, config_setting_get_member(g, "id"),
		       _("gateway id '%s' must be 1..64 letters, digits, '-', '_' or '.' (it is an MQTT topic level)"),
		       cfg->gateway_id);
	if (cfg->topic_prefix) {
		const char *p = cfg->topic_prefix;
		size_t l = strlen(p);
		if (l == 0 || l > 128 || strpbrk(p, "+#") || p[0] == '/' || p[l - 1] == '/')
			conf_serror(ctx, m && config_setting_get_member(m, "topic_prefix") ?
			       config_setting_get_member(m, "topic_prefix") : config_root_setting(lc),
			       _("topic_prefix '%s' must be 1..128 characters without '+', '#' or a leading/trailing '/'"), p);
	}
	if (cfg->mqtt_uri && strncmp(cfg->mqtt_uri, "tcp://", 6) && strncmp(cfg->mqtt_uri, "ssl://", 6) &&
	    strncmp(cfg->mqtt_uri, "mqtt://", 7) && strncmp(cfg->mqtt_uri, "mqtts://", 8))
		conf_serror(ctx, config_setting_get_member(m, "uri"),
		       _("mqtt uri '%s' must start with tcp://, ssl://, mqtt:// or mqtts://"), cfg->mqtt_uri);
	if (cfg->mqtt_password_file && config_plaintext_uri(cfg)) {
		config_setting_t *pf = config_setting_get_member(m, "password_file");
		cfg->mqtt_password_at = origin(ctx, pf ? pf : m);
		if (!cfg->mqtt_allow_plaintext)
			conf_serror(ctx, pf ? pf : m, _("mqtt: password_file over %.*s sends the password in clear text: use "
			       "ssl:// (or mqtts://) with ca_file, or set allow_plaintext_password = true if the link "
			       "to the broker is trusted"), (int)(strstr(cfg->mqtt_uri, "://") - cfg->mqtt_uri + 3),
			       cfg->mqtt_uri);
	}
	if (cfg->log_level && strcmp(cfg->log_level, "error") && strcmp(cfg->log_level, "warn") &&
	    strcmp(cfg->log_level, "info") && strcmp(cfg->log_level, "debug"))
		conf_serror(ctx, config_lookup(lc, "log.level"), _("log level must be error, warn, info or debug (got '%s')"),
		       cfg->log_level);
	if (cfg->log_target && strcmp(cfg->log_target, "stderr") && strcmp(cfg->log_target, "syslog"))
		conf_serror(ctx, config_lookup(lc, "log.target"), _("log target must be stderr or syslog (got '%s')"),
		       cfg->log_target);
}

/* --- groups (the KPIs' scopes; the kpis section is kpi_service.c's) --- */

static const char *const group_keys[] = { "name", "devices", NULL };
const char *conf_get_str(struct conf_ctx *ctx, const config_setting_t *s, const char *key, int required)
{
	config_setting_t *m = config_setting_get_member(s, key);

	if (!m) {
		if (required)
			conf_serror(ctx, s, _("missing required key '%s'"), key);
		return NULL;
	}
	if (config_setting_type(m) != CONFIG_TYPE_STRING) {
		conf_serror(ctx, m, _("%s must be a string in double quotes"), key);
		return NULL;
	}
	return config_setting_get_string(m);
}

static void parse_groups(struct conf_ctx *ctx, const config_setting_t *list)
{
	struct gw_config *cfg = ctx->cfg;
	int n = config_setting_length(list);

	if (!config_setting_is_list(list)) {
		conf_serror(ctx, list, _("groups must be a list: groups = ( { name = \"...\"; devices = [ ... ]; } );"));
		return;
	}
	cfg->groups = calloc((size_t)n + 1, sizeof(*cfg->groups));
	for (int i = 0; i < n && cfg->groups; i++) {
		config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		struct group_def *gd = &cfg->groups[cfg->ngroups];
		const char *name;
		config_setting_t *devs;

		if (!config_setting_is_group(g)) {
			conf_serror(ctx, g, _("a group must be { name = \"...\"; devices = [ ... ]; }"));
			continue;
		}
		check_unknown(ctx, g, "group", NULL, NULL, group_keys);
		gd->at = origin(ctx, g);
		if (!(name = conf_get_str(ctx, g, "name", 1)))
			continue;
		if (!valid_name(name, 63)) {
			conf_serror(ctx, config_setting_get_member(g, "name"), _("group name '%s' must be 1..63 letters, digits, '-', '_' or '.'"), name);
			continue;
		}
		for (size_t k = 0; k < cfg->ngroups; k++)
			if (!strcmp(cfg->groups[k].name, name))
				conf_serror(ctx, g, _("duplicate group '%s' (first at line %d)"), name, cfg->groups[k].at.line);
		devs = config_setting_get_member(g, "devices");
		if (!devs || !config_setting_is_array(devs)) {
			conf_serror(ctx, devs ? devs : g, _("group %s: devices must be an array of device names: [ \"cab-001\", ... ]"), name);
			continue;
		}
		gd->name = strdup(name);
		gd->devices = calloc((size_t)config_setting_length(devs) + 1, sizeof(char *));
		for (int k = 0; gd->devices && k < config_setting_length(devs); k++) {
			const char *d = config_setting_get_string_elem(devs, k);
			if (!d) {
				conf_serror(ctx, devs, _("group %s: devices must be strings"), name);
				break;
			}
			if (!config_device(cfg, d)) {
				conf_serror(ctx, devs, _("group %s: no device named '%s'"), name, d);
				continue;
			}
			gd->devices[gd->ndevices++] = strdup(d);
		}
		cfg->ngroups++;
	}
}

const struct group_def *config_group(const struct gw_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->ngroups; i++)
		if (!strcmp(cfg->groups[i].name, name))
			return &cfg->groups[i];
	return NULL;
}

static void free_groups(struct gw_config *cfg)
{
	for (size_t i = 0; cfg->groups && i < cfg->ngroups; i++) {
		for (size_t k = 0; k < cfg->groups[i].ndevices; k++)
			free(cfg->groups[i].devices[k]);
		free(cfg->groups[i].devices);
		free(cfg->groups[i].name);
	}
	free(cfg->groups);
}

unsigned config_carry_word(const char *w)
{
	static const char *const words[] = { "kpi", "event", "map", "telemetry", "status", NULL };

	for (unsigned i = 0; words[i]; i++)
		if (!strcmp(w, words[i]))
			return 1u << i;
	return 0;
}

static int valid_link_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 32)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return 0;
	return 1;
}

/* links = ( { name = "province"; uri = "..."; carries = [ ... ]; ... } ); */
static void parse_links(struct conf_ctx *ctx, config_setting_t *list)
{
	struct gw_config *cfg = ctx->cfg;
	int n;

	if (!config_setting_is_list(list)) {
		conf_serror(ctx, list, _("links must be a list: links = ( { name = ...; uri = ...; } );"));
		return;
	}
	n = config_setting_length(list);
	if (n > 7) {
		conf_serror(ctx, list, _("%d links: at most 7 besides the mqtt section"), n);
		return;
	}
	cfg->links = calloc(n ? (size_t)n : 1, sizeof(*cfg->links));
	if (!cfg->links) {
		conf_serror(ctx, list, _("out of memory"));
		return;
	}
	for (int i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
		struct link_conf *l = &cfg->links[cfg->nlinks++];
		config_setting_t *c;

		set_defaults(link_opts, l);
		l->carries = LINK_CARRY_ALL;
		l->at = origin(ctx, e);
		if (!config_setting_is_group(e)) {
			conf_serror(ctx, e, _("a link must be a group: { name = \"province\"; uri = \"tcp://...\"; }"));
			continue;
		}
		apply_opts(ctx, e, "link", link_opts, l, 1);
		check_unknown(ctx, e, "link", link_opts, NULL, link_lists);
		/* uri, or uris = [ ... ]: the nodes of a cluster (as in mqtt) */
		parse_link_uris(ctx, e, l->name ? l->name : "link", &l->uri, &l->uris, &l->nuris);
		if (!l->uri)
			conf_serror(ctx, e, _("link: uri = \"tcp://...\" or uris = [ \"tcp://...\", ... ] is required"));
		if (l->name) {
			config_setting_t *ns = config_setting_get_member(e, "name");
			if (!valid_link_name(l->name))
				conf_serror(ctx, ns, _("link name '%s' must be 1..32 of a-z, 0-9, '-', '_'"), l->name);
			else if (!strcmp(l->name, "ioc"))
				conf_serror(ctx, ns, _("link name 'ioc' is the mqtt section's; give this link another name"));
			for (size_t k = 0; k + 1 < cfg->nlinks; k++)
				if (cfg->links[k].name && !strcmp(cfg->links[k].name, l->name))
					conf_serror(ctx, ns, _("link '%s' is defined twice (first at line %d)"), l->name,
					       cfg->links[k].at.line);
		}
		if (l->uri && strncmp(l->uri, "tcp://", 6) && strncmp(l->uri, "ssl://", 6) &&
		    strncmp(l->uri, "mqtt://", 7) && strncmp(l->uri, "mqtts://", 8))
			conf_serror(ctx, config_setting_get_member(e, "uri"),
			       _("link uri '%s' must start with tcp://, ssl://, mqtt:// or mqtts://"), l->uri);
		if (l->password_file && l->uri && (!strncmp(l->uri, "tcp://", 6) || !strncmp(l->uri, "mqtt://", 7)) &&
		    !l->allow_plaintext)
			conf_serror(ctx, config_setting_get_member(e, "password_file"),
			       _("link: password_file over a plain-text uri sends the password in clear text: use "
			       "ssl:// with ca_file, or set allow_plaintext_password = true"));
		if (l->topic_prefix) {
			size_t pl = strlen(l->topic_prefix);
			if (pl == 0 || pl > 128 || strpbrk(l->topic_prefix, "+#") || l->topic_prefix[0] == '/' ||
			    l->topic_prefix[pl - 1] == '/')
				conf_serror(ctx, config_setting_get_member(e, "topic_prefix"),
				       _("topic_prefix '%s' must be 1..128 characters without '+', '#' or a leading/trailing '/'"),
				       l->topic_prefix);
		}
		if ((c = config_setting_get_member(e, "carries"))) {
			int m = config_setting_length(c);
			if (!config_setting_is_array(c) && !config_setting_is_list(c)) {
				conf_serror(ctx, c, _("carries must be a list of words: [ \"kpi\", \"event\", \"map\", "
					       "\"telemetry\", \"status\" ]"));
				continue;
			}
			l->carries = 0;
			for (int k = 0; k < m; k++) {
				config_setting_t *w = config_setting_get_elem(c, (unsigned)k);
				const char *word = config_setting_type(w) == CONFIG_TYPE_STRING ?
						   config_setting_get_string(w) : NULL;
				unsigned bit = word ? config_carry_word(word) : 0;
				if (!bit)
					conf_serror(ctx, w, _("carries: unknown word '%s' (kpi, event, map, telemetry, status)"),
					       word ? word : "?");
				l->carries |= bit;
			}
			if (!l->carries && m == 0)
				conf_serror(ctx, c, _("carries is empty: this link would publish nothing"));
		}
	}
}

static void free_links(struct gw_config *cfg)
{
	for (size_t i = 0; i < cfg->nlinks; i++) {
		free_uris(cfg->links[i].uris, cfg->links[i].nuris);
		free_opts(link_opts, &cfg->links[i]);
	}
	free(cfg->links);
	cfg->links = NULL;
	cfg->nlinks = 0;
}

/* Keys of a link's group that are not in mqtt_opts (parsed by parse_link_uris). */
static const char *const link_keys[] = { "uris", NULL };

static void free_uris(char **uris, size_t n)
{
	for (size_t i = 0; uris && i < n; i++)
		free(uris[i]);
	free(uris);
}

/* A broker address: scheme://host[:port], the port 1..65535 when given.
 * 0 plain text (tcp://, mqtt://), 1 TLS (ssl://, mqtts://), -1 with @why. */
static int broker_uri_kind(const char *u, char *why, size_t wlen)
{
	static const char *const scheme[] = { "tcp://", "mqtt://", "ssl://", "mqtts://" };
	const char *h = NULL, *port = NULL;
	size_t hlen;
	int kind = -1;

	for (int i = 0; i < 4 && !h; i++)
		if (!strncmp(u, scheme[i], strlen(scheme[i]))) {
			h = u + strlen(scheme[i]);
			kind = i >= 2;
		}
	if (!h) {
		snprintf(why, wlen, _("must start with tcp://, ssl://, mqtt:// or mqtts://"));
		return -1;
	}
	if (strlen(u) > 255 || strpbrk(u, " \t\r\n")) {
		snprintf(why, wlen, _("must be at most 255 characters without spaces"));
		return -1;
	}
	if (*h == '[') {
		const char *e = strchr(h, ']');
		hlen = e ? (size_t)(e - h + 1) : 0;
		port = e && e[1] == ':' ? e + 2 : NULL;
		if (e && e[1] && e[1] != ':')
			hlen = 0;
	} else {
		const char *c = strchr(h, ':');
		hlen = c ? (size_t)(c - h) : strlen(h);
		port = c ? c + 1 : NULL;
	}
	if (hlen == 0 || strchr(h, '/')) {
		snprintf(why, wlen, _("needs a host: scheme://host:port"));
		return -1;
	}
	if (port) {
		char *end;
		errno = 0;
		long v = strtol(port, &end, 10);
		if (!*port || *end || errno || v < 1 || v > 65535 || *port == '+' || *port == '-') {
			snprintf(why, wlen, _("port must be 1..65535 (got '%s')"), port);
			return -1;
		}
	}
	return kind;
}

/* One link's broker addresses in group @s (the mqtt section; each of
 * several links may use it too): either `uri` (one broker, its value, or
 * its default, already in *@uri) or `uris = [ "tcp://a:1883", ... ]`, the
 * nodes of a cluster, which the publisher hands to Paho as serverURIs. With
 * uris, *@uris and *@n own a copy of the list and *@uri is replaced by its
 * first entry, so what reads one address (the plain-text password check,
 * status) goes on working. Both, an empty list, a bad or repeated address,
 * plain and TLS mixed, or more than CONFIG_MAX_URIS: errors at file:line. */
static void parse_link_uris(struct conf_ctx *ctx, const config_setting_t *s, const char *what, char **uri,
			    char ***uris, size_t *n)
{
	const config_setting_t *l = config_setting_get_member(s, "uris");
	int len, kind0 = -1;
	char **v;

	*uris = NULL;
	*n = 0;
	if (!l)
		return;
	if (config_setting_get_member(s, "uri")) {
		conf_serror(ctx, l, _("%s: uri and uris are both given: one broker is uri = \"...\", "
				 "the nodes of a cluster are uris = [ \"...\", ... ]"), what);
		return;
	}
	if (!config_setting_is_array(l) && !config_setting_is_list(l)) {
		conf_serror(ctx, l, _("%s: uris must be a list of broker addresses: uris = [ \"tcp://a:1883\", \"tcp://b:1883\" ]"),
		       what);
		return;
	}
	if ((len = config_setting_length(l)) == 0) {
		conf_serror(ctx, l, _("%s: uris is empty: list at least one broker address"), what);
		return;
	}
	if (len > CONFIG_MAX_URIS) {
		conf_serror(ctx, l, _("%s: uris lists %d addresses; at most %d are supported"), what, len, CONFIG_MAX_URIS);
		return;
	}
	if (!(v = calloc((size_t)len, sizeof(*v))))
		return;
	for (int i = 0; i < len; i++) {
		const config_setting_t *e = config_setting_get_elem(l, (unsigned)i);
		const char *u = e && config_setting_type(e) == CONFIG_TYPE_STRING ? config_setting_get_string(e) : NULL;
		char why[160];
		int kind;

		if (!u) {
			conf_serror(ctx, e ? e : l, _("%s: uris entry %d must be a string in double quotes"), what, i + 1);
			goto bad;
		}
		if ((kind = broker_uri_kind(u, why, sizeof(why))) < 0) {
			conf_serror(ctx, e, _("%s: uris entry %d '%s' %s"), what, i + 1, u, why);
			goto bad;
		}
		if (kind0 >= 0 && kind != kind0) {
			conf_serror(ctx, e, _("%s: uris entry %d '%s' is %s but entry 1 is %s: the nodes of one link are "
					 "all plain tcp:// or all TLS ssl://"), what, i + 1, u, kind ? "TLS" : "plain text",
			       kind0 ? "TLS" : "plain text");
			goto bad;
		}
		kind0 = kind;
		for (int k = 0; k < i; k++)
			if (!strcmp(v[k], u)) {
				conf_serror(ctx, e, _("%s: uris entry %d '%s' repeats entry %d"), what, i + 1, u, k + 1);
				goto bad;
			}
		if (!(v[i] = strdup(u)))
			goto bad;
	}
	free(*uri);
	*uri = strdup(v[0]);
	*uris = v;
	*n = (size_t)len;
	return;
bad:
	free_uris(v, (size_t)len);
}

static void section(struct conf_ctx *ctx, config_t *lc, const char *name, const struct opt *opts,
		    void *dst, int required)
{
	config_setting_t *s = config_lookup(lc, name);

	set_defaults(opts, dst);
	if (s && !config_setting_is_group(s)) {
		conf_serror(ctx, s, _("%s must be a group: %s = { ... };"), name, name);
		return;
	}
	if (!s && !required)
		return;
	apply_opts(ctx, s, name, opts, dst, 1);
	if (s)
		check_unknown(ctx, s, name, opts, NULL, opts == mqtt_opts ? link_keys : NULL);
}

/* Whether a service that works without devices (coverage, ingest) is set up. */
static int standalone_section(config_t *lc)
{
	for (const struct service_ops *const *sv = services; *sv; sv++)
		if ((*sv)->standalone && (*sv)->name && config_lookup(lc, (*sv)->name))
			return 1;
	return 0;
}

/* The top level: the core's keys and groups, and each service's section. */
static void check_top(struct conf_ctx *ctx, config_t *lc)
{
	const char *names[sizeof(top_groups) / sizeof(top_groups[0]) + 32];
	size_t n = 0;

	for (const char *const *g = top_groups; *g; g++)
		names[n++] = *g;
	for (const struct service_ops *const *sv = services; *sv && n < sizeof(names) / sizeof(names[0]) - 1; sv++)
		if ((*sv)->name)
			names[n++] = (*sv)->name;
	names[n] = NULL;
	check_unknown(ctx, config_root_setting(lc), "the top level", top_opts, NULL, names);
}

int config_load(const char *path, FILE *errs, struct gw_config **out)
{
	struct conf_ctx ctx = { .errs = errs };
	struct gw_config *cfg = calloc(1, sizeof(*cfg));
	struct device_conf defaults;
	config_t lc;
	config_setting_t *s;
	uint8_t md[32];
	int ret = 0;

	*out = NULL;
	if (!cfg)
		return -ENOMEM;
	config_init(&lc);
	memset(&defaults, 0, sizeof(defaults));
	ctx.cfg = cfg;
	sha256_init(&ctx.digest);
	cfg->path = strdup(path);
	intern_file(&ctx, path);

	ret = read_file_digest(&ctx, &lc, path);
	if (ret == -ENOENT || ret == -EACCES || ret == -EISDIR) {
		fprintf(errs, "%s: cannot read: %s\n", path, strerror(-ret));
		goto out;
	}
	if (ret < 0)
		goto out;

	check_top(&ctx, &lc);
	section(&ctx, &lc, "gateway", gateway_opts, cfg, 1);
	section(&ctx, &lc, "log", log_opts, cfg, 0);
	section(&ctx, &lc, "store", store_opts, cfg, 0);
	section(&ctx, &lc, "mqtt", mqtt_opts, cfg, 0);
	if ((s = config_lookup(&lc, "mqtt")) && config_setting_is_group(s))
		parse_link_uris(&ctx, s, "mqtt", &cfg->mqtt_uri, &cfg->mqtt_uris, &cfg->mqtt_nuris);
	section(&ctx, &lc, "outbox", outbox_opts, cfg, 0);
	if ((s = config_lookup(&lc, "links")))
		parse_links(&ctx, s);
	section(&ctx, &lc, "events", events_opts, cfg, 0);
	set_defaults(top_opts, cfg);
	apply_opts(&ctx, config_root_setting(&lc), "top level", top_opts, cfg, 1);
	check_gateway(&ctx, &lc);

	load_profiles(&ctx, config_lookup(&lc, "profiles_dir"));

	set_defaults(device_opts, &defaults);
	if ((s = config_lookup(&lc, "device_defaults"))) {
		static const struct opt *const none = NULL;
		(void)none;
		apply_opts(&ctx, s, "device_defaults", device_opts, &defaults, 0);
		const struct driver_ops *dd = defaults.driver_name ? driver_find(defaults.driver_name) : NULL;
		check_unknown(&ctx, s, "device_defaults", device_opts, dd ? dd->opts : NULL, NULL);
		if (config_setting_get_member(s, "name") || config_setting_get_member(s, "count"))
			conf_serror(&ctx, s, _("device_defaults cannot set 'name' or 'count'"));
	}
	s = config_lookup(&lc, "devices");
	/* a gateway that only takes pushes (ingest) or keeps coverage needs no
	 * device to poll; with neither, it would do nothing */
	if (!s && !standalone_section(&lc))
		conf_error(&ctx, &(struct conf_origin){ cfg->files[0], 0 },
			   _("no 'devices' list, no 'coverage' and no 'ingest': nothing to do "
			   "(add devices = ( { name = ...; } );)"));
	else if (!s)
		;
	else if (!config_setting_is_list(s))
		conf_serror(&ctx, s, _("devices must be a list: devices = ( { ... }, { ... } );"));
	else
		parse_devices(&ctx, s, &defaults, config_lookup(&lc, "device_defaults"));
	check_cross(&ctx);
	if ((s = config_lookup(&lc, "groups")))
		parse_groups(&ctx, s);
	for (const struct service_ops *const *sv = services; *sv; sv++)
		if ((*sv)->name && (*sv)->parse)
			(*sv)->parse(&ctx, config_lookup(&lc, (*sv)->name), cfg);
	for (const struct service_ops *const *sv = services; *sv; sv++)
		if ((*sv)->check)
			(*sv)->check(&ctx, cfg);

	sha256_final(&ctx.digest, md);
	for (unsigned i = 0; i < 8; i++)
		sprintf(cfg->digest + 2 * i, "%02x", md[i]);
	ret = ctx.nerrors ? -EINVAL : 0;
out:
	print_errors(&ctx);
	free_opts(device_opts, &defaults);
	config_destroy(&lc);
	if (ret < 0) {
		/* the first line of a bare path has line 0: print plainly */
		config_free(cfg);
		return ret;
	}
	*out = cfg;
	return 0;
}

void config_free(struct gw_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->ndevices; i++)
		free_device(&cfg->devices[i]);
	free(cfg->devices);
	for (size_t i = 0; i < cfg->nprofiles; i++)
		free_profile(&cfg->profiles[i]);
	free(cfg->profiles);
	free_opts(gateway_opts, cfg);
	free_opts(log_opts, cfg);
	free_opts(store_opts, cfg);
	free_opts(mqtt_opts, cfg);
	free_links(cfg);
	free_uris(cfg->mqtt_uris, cfg->mqtt_nuris);
	free_opts(outbox_opts, cfg);
	free_opts(events_opts, cfg);
	for (const struct service_ops *const *sv = services; *sv; sv++)
		if ((*sv)->conf_free)
			(*sv)->conf_free(cfg);
	free_groups(cfg);
	free_opts(top_opts, cfg);
	for (size_t i = 0; i < cfg->nfiles; i++)
		free(cfg->files[i]);
	free(cfg->files);
	free(cfg->path);
	free(cfg);
}

/* --- comparing configs (reload) --- */

static int eq_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Same value with NaN equal to NaN (unbounded min/max). */
static int eq_num(double a, double b)
{
	return a == b || (isnan(a) && isnan(b));
}

static int profile_equal(const struct profile *a, const struct profile *b)
{
	if (!eq_str(a->name, b->name) || a->nregs != b->nregs)
		return 0;
	for (size_t i = 0; i < a->nregs; i++) {
		const struct reg_def *x = &a->regs[i], *y = &b->regs[i];
		if (!eq_str(x->metric, y->metric) || !eq_str(x->unit, y->unit) || x->table != y->table ||
		    x->type != y->type || x->order.nbytes != y->order.nbytes ||
		    memcmp(x->order.src, y->order.src, sizeof(x->order.src)) || x->address != y->address ||
		    x->bit != y->bit || !eq_num(x->scale, y->scale) || !eq_num(x->offset, y->offset) ||
		    x->counter != y->counter || x->writable != y->writable || !eq_num(x->min, y->min) ||
		    !eq_num(x->max, y->max))
			return 0;
	}
	return 1;
}

/* Everything that makes a device poll differently: the common keys, the
 * profile's content and the driver's own keys (through its option table). */
int config_device_equal(const struct device_conf *a, const struct device_conf *b)
{
	if (!eq_str(a->name, b->name) || a->driver != b->driver || a->poll_interval_ms != b->poll_interval_ms ||
	    a->timeout_ms != b->timeout_ms || a->backoff_max_ms != b->backoff_max_ms ||
	    !profile_equal(a->profile, b->profile))
		return 0;
	for (const struct opt *o = a->driver->opts; o && o->name; o++) {
		const char *x = (const char *)a->drv + o->offset, *y = (const char *)b->drv + o->offset;
		switch (o->type) {
		case OPT_INT: case OPT_BOOL:
			if (*(const int *)x != *(const int *)y)
				return 0;
			break;
		case OPT_DOUBLE:
			if (!eq_num(*(const double *)x, *(const double *)y))
				return 0;
			break;
		case OPT_STRING:
			if (!eq_str(*(char *const *)x, *(char *const *)y))
				return 0;
			break;
		}
	}
	return 1;
}

char *config_data_path(const struct gw_config *cfg, const char *p)
{
	/* a relative data_dir is relative to the config file, so a checkout
	 * runs the same from any working directory */
	char *cdir = dir_of(cfg->path);
	char *data = cdir ? join_path(cdir, cfg->data_dir ? cfg->data_dir : ".") : NULL;
	char *out = data ? join_path(data, p) : NULL;

	free(data);
	free(cdir);
	return out;
}

char *config_store_path_lenient(const char *path)
{
	struct gw_config c = { 0 };
	config_t lc;
	const char *v;
	char *out = NULL;

	config_init(&lc);
	if (!config_read_file(&lc, path))
		goto out;
	c.path = (char *)path;
	c.data_dir = config_lookup_string(&lc, "gateway.data_dir", &v) && v[0] ? (char *)v : "/var/lib/wardgw";
	out = config_data_path(&c, config_lookup_string(&lc, "store.path", &v) && v[0] ? v : "wardgw.db");
out:
	config_destroy(&lc);
	return out;
}

/* --- for modules that parse their own section (schedule.c, coverage.c, ingest.c) --- */

void conf_apply_section(struct conf_ctx *ctx, const config_setting_t *group, const char *what,
			const struct opt *opts, const char *const *extra, void *dst)
{
	set_defaults(opts, dst);
	if (!group)
		return;
	if (!config_setting_is_group(group)) {
		conf_serror(ctx, group, _("%s must be a group: %s = { ... };"), what, what);
		return;
	}
	apply_opts(ctx, group, what, opts, dst, 1);
	check_unknown(ctx, group, what, opts, NULL, extra);
}

void conf_free_section(const struct opt *opts, void *dst)
{
	free_opts(opts, dst);
}

struct conf_origin conf_origin_of(struct conf_ctx *ctx, const config_setting_t *s)
{
	return origin(ctx, s);
}

void conf_check_keys(struct conf_ctx *ctx, const struct config_setting_t *group, const char *what,
		     const char *const *keys)
{
	check_unknown(ctx, group, what, NULL, NULL, keys);
}

int conf_valid_name(const char *s, size_t max)
{
	return valid_name(s, max);
}

struct gw_config *conf_config(struct conf_ctx *ctx)
{
	return ctx->cfg;
}

const char *conf_path(const struct conf_ctx *ctx)
{
	return ctx->cfg->path;
}

void conf_resolve_path(struct conf_ctx *ctx, char **path)
{
	char *dir, *abs;

	if (!*path || (*path)[0] == '/' || !(*path)[0])
		return;
	dir = dir_of(ctx->cfg->path);
	abs = dir ? join_path(dir, *path) : NULL;
	free(dir);
	if (abs) {
		free(*path);
		*path = abs;
	}
}
