/* Lighting schedules: parsing of `lighting = { ... }` and the resolution of
 * the wanted dim level per device at a time. See schedule.h for the model;
 * README "Lighting schedules" for the technician's view. */
#include "schedule.h"

#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <strings.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sun.h"
#include "timeparse.h"

#define DAY_MS 86400000LL

static const char *const wday_names[7] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };

/* --- dates --- */

int32_t civil_day(int y, int m, int d)
{
	y -= m <= 2;
	int32_t era = (y >= 0 ? y : y - 399) / 400;
	int32_t yoe = y - era * 400;
	int32_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int32_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void day_civil(int32_t z, int *y, int *m, int *d)
{
	z += 719468;
	int32_t era = (z >= 0 ? z : z - 146096) / 146097;
	int32_t doe = z - era * 146097;
	int32_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int32_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int32_t mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = yoe + era * 400 + (*m <= 2);
}

static int32_t floor_div(int64_t a, int64_t b)
{
	return (int32_t)(a >= 0 ? a / b : -((-a + b - 1) / b));
}

int32_t ward_day(int64_t t_ms)
{
	return floor_div(t_ms + WARD_UTC_OFFSET_MS, DAY_MS);
}

int32_t lighting_day(int64_t t_ms)
{
	return floor_div(t_ms + WARD_UTC_OFFSET_MS - DAY_MS / 2, DAY_MS);
}

static int64_t day_start_ms(int32_t day)
{
	return (int64_t)day * DAY_MS - WARD_UTC_OFFSET_MS;
}

static int days_in_month(int y, int m)
{
	static const int n[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && ((y % 4 == 0 && y % 100) || y % 400 == 0) ? 29 : n[m - 1];
}

/* "YYYY-MM-DD" (or with @annual "MM-DD"); digits only, real dates only */
static int parse_date_part(const char *s, size_t len, int32_t *out, int *annual)
{
	int y = 2000, m, d;
	char buf[16];

	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = 0;
	for (size_t i = 0; i < len; i++)
		if (!((buf[i] >= '0' && buf[i] <= '9') || ((len == 10 && (i == 4 || i == 7)) || (len == 5 && i == 2))))
			return -EINVAL;
	if (len == 10 && buf[4] == '-' && buf[7] == '-') {
		y = (int)strtol(buf, NULL, 10);
		m = (int)strtol(buf + 5, NULL, 10);
		d = (int)strtol(buf + 8, NULL, 10);
		*annual = 0;
	} else if (len == 5 && buf[2] == '-') {
		m = (int)strtol(buf, NULL, 10);
		d = (int)strtol(buf + 3, NULL, 10);
		*annual = 1;
	} else {
		return -EINVAL;
	}
	if (y < 1970 || y > 2200 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
		return -EINVAL;
	*out = *annual ? m * 100 + d : civil_day(y, m, d);
	return 0;
}

int parse_ward_date(const char *s, int32_t *day)
{
	int annual;

	if (!s || parse_date_part(s, strlen(s), day, &annual) < 0 || annual)
		return -EINVAL;
	return 0;
}

void format_ward_date(int32_t day, char *buf, size_t size)
{
	int y, m, d;

	day_civil(day, &y, &m, &d);
	snprintf(buf, size, "%04d-%02d-%02d", y, m, d);
}

/* "2026-02-16", "2026-02-16..2026-02-22", "04-30", "12-24..01-01" */
static int parse_range(const char *s, struct sched_range *r)
{
	const char *dots = strstr(s, "..");
	int a1, a2;

	if (!dots) {
		if (parse_date_part(s, strlen(s), &r->from, &a1) < 0)
			return -EINVAL;
		r->to = r->from;
		r->annual = a1;
		return 0;
	}
	if (parse_date_part(s, (size_t)(dots - s), &r->from, &a1) < 0 ||
	    parse_date_part(dots + 2, strlen(dots + 2), &r->to, &a2) < 0 || a1 != a2)
		return -EINVAL;
	r->annual = a1;
	if (!a1 && r->to < r->from)
		return -ERANGE;
	return 0;
}

static int range_has(const struct sched_range *r, int32_t day)
{
	if (!r->annual)
		return day >= r->from && day <= r->to;
	int y, m, d;
	day_civil(day, &y, &m, &d);
	int md = m * 100 + d;
	return r->from <= r->to ? md >= r->from && md <= r->to : md >= r->from || md <= r->to;
}

/* --- switch points --- */

/* "18:30", "sunset", "sunset+10", "sunrise-15", "dusk", "dawn+5" */
static int parse_at(const char *s, struct sched_point *p)
{
	static const struct { const char *name; enum sched_anchor a; } names[] = {
		{ "sunset", AT_SUNSET }, { "sunrise", AT_SUNRISE }, { "dusk", AT_DUSK }, { "dawn", AT_DAWN },
	};
	size_t len = strlen(s);

	if (len >= sizeof(p->spec))
		return -EINVAL;
	snprintf(p->spec, sizeof(p->spec), "%s", s);
	if (len == 5 && s[2] == ':' && s[0] >= '0' && s[0] <= '2' && s[1] >= '0' && s[1] <= '9' &&
	    s[3] >= '0' && s[3] <= '5' && s[4] >= '0' && s[4] <= '9') {
		int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
		if (h > 23)
			return -EINVAL;
		p->anchor = AT_FIXED;
		p->minutes = h * 60 + m;
		return 0;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t n = strlen(names[i].name);
		if (strncmp(s, names[i].name, n))
			continue;
		p->anchor = names[i].a;
		p->minutes = 0;
		if (!s[n])
			return 0;
		if (s[n] != '+' && s[n] != '-')
			return -EINVAL;
		char *end;
		long v;
		if (!(s[n + 1] >= '0' && s[n + 1] <= '9'))
			return -EINVAL;
		v = strtol(s + n + 1, &end, 10);
		if (*end || v > 240)
			return -ERANGE;
		p->minutes = s[n] == '-' ? -(int)v : (int)v;
		return 0;
	}
	return -EINVAL;
}

/* --- config --- */

static const char *const lighting_keys[] = { "metric", "retry_s", "programs", "special_days", "calendar",
					     "overrides", "commands", "alarms", "lamp_rated_w", NULL };

/* a string member: NULL when absent (an error when @required) or not a string */
static const char *str_of(struct conf_ctx *ctx, const config_setting_t *g, const char *key, const char *what,
			  int required)
{
	const config_setting_t *m = config_setting_get_member(g, key);

	if (!m) {
		if (required)
			conf_serror(ctx, g, "%s: missing required key '%s'", what, key);
		return NULL;
	}
	if (config_setting_type(m) != CONFIG_TYPE_STRING) {
		conf_serror(ctx, m, "%s must be a string", key);
		return NULL;
	}
	return config_setting_get_string(m);
}

static int level_of(struct conf_ctx *ctx, const config_setting_t *g, const char *what, double *level)
{
	const config_setting_t *m = config_setting_get_member(g, "level");
	double v;

	if (!m) {
		conf_serror(ctx, g, "%s: missing required key 'level' (dim level 0..100 %%; 0 is off)", what);
		return -EINVAL;
	}
	if (conf_number(m, &v) < 0 || !(v >= 0 && v <= 100)) {
		conf_serror(ctx, m, "level must be a dim level 0..100 (%%; 0 is off)");
		return -EINVAL;
	}
	*level = v;
	return 0;
}

/* A list of strings (an array [ ] or a list ( )), each checked by @check. */
static char **names_of(struct conf_ctx *ctx, const config_setting_t *m, const char *key, size_t *n)
{
	char **out;
	int len;

	*n = 0;
	if (!config_setting_is_aggregate(m) || config_setting_is_group(m)) {
		conf_serror(ctx, m, "%s must be a list of strings: %s = [ \"...\", \"...\" ];", key, key);
		return NULL;
	}
	len = config_setting_length(m);
	out = calloc((size_t)len + 1, sizeof(*out));
	for (int i = 0; out && i < len; i++) {
		const config_setting_t *e = config_setting_get_elem(m, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			conf_serror(ctx, e, "%s: each entry must be a string", key);
			continue;
		}
		out[(*n)++] = strdup(config_setting_get_string(e));
	}
	return out;
}

static void free_names(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

static struct sched_range *ranges_of(struct conf_ctx *ctx, const config_setting_t *m, const char *key, size_t *n)
{
	size_t cnt;
	char **v = names_of(ctx, m, key, &cnt);
	struct sched_range *r = calloc(cnt + 1, sizeof(*r));

	*n = 0;
	for (size_t i = 0; r && i < cnt; i++) {
		int rc = parse_range(v[i], &r[*n]);
		if (rc == -ERANGE)
			conf_serror(ctx, config_setting_get_elem(m, (unsigned)i), "%s: '%s' ends before it starts", key, v[i]);
		else if (rc < 0)
			conf_serror(ctx, config_setting_get_elem(m, (unsigned)i),
			     "%s: '%s' must be a date \"2026-02-17\", a range \"2026-02-16..2026-02-22\", or the same "
			     "day every year \"04-30\" / \"12-24..01-01\"", key, v[i]);
		else
			(*n)++;
	}
	free_names(v, cnt);
	return r;
}

static void parse_programs(struct conf_ctx *ctx, const config_setting_t *list, struct lighting_conf *lc)
{
	static const char *const prog_keys[] = { "name", "points", NULL };
	static const char *const point_keys[] = { "at", "level", NULL };
	int n;

	if (!config_setting_is_list(list)) {
		conf_serror(ctx, list, "programs must be a list: programs = ( { name = \"night\"; points = ( ... ); } );");
		return;
	}
	n = config_setting_length(list);
	lc->programs = calloc((size_t)n + 1, sizeof(*lc->programs));
	for (int i = 0; lc->programs && i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i), *pts;
		struct sched_program *p = &lc->programs[lc->nprograms];
		const char *name;

		if (!config_setting_is_group(g)) {
			conf_serror(ctx, g, "a program must be a group { name = \"...\"; points = ( ... ); }");
			continue;
		}
		conf_check_keys(ctx, g, "program", prog_keys);
		p->at = conf_origin_of(ctx, g);
		if (!(name = str_of(ctx, g, "name", "program", 1)))
			continue;
		if (!conf_valid_name(name, 63)) {
			conf_serror(ctx, config_setting_get_member(g, "name"), "program name '%s' must be 1..63 letters, digits, '-', '_' or '.'", name);
			continue;
		}
		for (size_t k = 0; k < lc->nprograms; k++)
			if (!strcmp(lc->programs[k].name, name))
				conf_serror(ctx, g, "duplicate program '%s' (first at line %d)", name, lc->programs[k].at.line);
		p->name = strdup(name);
		lc->nprograms++;
		if (!(pts = config_setting_get_member(g, "points")) || !config_setting_is_list(pts) ||
		    config_setting_length(pts) == 0) {
			conf_serror(ctx, pts ? pts : g, "program %s: points must be a non-empty list: points = ( { at = \"sunset\"; level = 100; }, ... );", name);
			continue;
		}
		int np = config_setting_length(pts);
		p->points = calloc((size_t)np, sizeof(*p->points));
		for (int j = 0; p->points && j < np; j++) {
			const config_setting_t *pg = config_setting_get_elem(pts, (unsigned)j);
			struct sched_point *pt = &p->points[p->npoints];
			const char *at;
			int rc;

			if (!config_setting_is_group(pg)) {
				conf_serror(ctx, pg, "a switch point must be a group { at = \"sunset+10\"; level = 100; }");
				continue;
			}
			conf_check_keys(ctx, pg, "switch point", point_keys);
			pt->at = conf_origin_of(ctx, pg);
			if (!(at = str_of(ctx, pg, "at", "switch point", 1)) || level_of(ctx, pg, "switch point", &pt->level) < 0)
				continue;
			if ((rc = parse_at(at, pt)) < 0) {
				conf_serror(ctx, config_setting_get_member(pg, "at"), rc == -ERANGE ?
				     "at '%s': an offset from the Sun is at most 240 minutes" :
				     "at '%s' must be a ward time \"HH:MM\" or sunset, sunrise, dusk, dawn with an "
				     "optional offset in minutes (\"sunset+10\", \"sunrise-15\")", at);
				continue;
			}
			p->npoints++;
		}
	}
}

static void parse_special(struct conf_ctx *ctx, const config_setting_t *list, struct lighting_conf *lc)
{
	static const char *const keys[] = { "name", "dates", NULL };
	int n;

	if (!config_setting_is_list(list)) {
		conf_serror(ctx, list, "special_days must be a list: special_days = ( { name = \"tet\"; dates = [ \"2026-02-16..2026-02-22\" ]; } );");
		return;
	}
	n = config_setting_length(list);
	lc->special = calloc((size_t)n + 1, sizeof(*lc->special));
	for (int i = 0; lc->special && i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i), *m;
		struct sched_days *sd = &lc->special[lc->nspecial];
		const char *name;

		if (!config_setting_is_group(g)) {
			conf_serror(ctx, g, "a special day set must be a group { name = \"...\"; dates = [ ... ]; }");
			continue;
		}
		conf_check_keys(ctx, g, "special_days", keys);
		sd->at = conf_origin_of(ctx, g);
		if (!(name = str_of(ctx, g, "name", "special_days", 1)))
			continue;
		if (!conf_valid_name(name, 63)) {
			conf_serror(ctx, config_setting_get_member(g, "name"), "special_days name '%s' must be 1..63 letters, digits, '-', '_' or '.'", name);
			continue;
		}
		for (size_t k = 0; k < lc->nspecial; k++)
			if (!strcmp(lc->special[k].name, name))
				conf_serror(ctx, g, "duplicate special_days '%s' (first at line %d)", name, lc->special[k].at.line);
		sd->name = strdup(name);
		if (!(m = config_setting_get_member(g, "dates")))
			conf_serror(ctx, g, "special_days %s: missing required key 'dates'", name);
		else
			sd->ranges = ranges_of(ctx, m, "dates", &sd->nranges);
		lc->nspecial++;
	}
}

static void parse_calendar(struct conf_ctx *ctx, const config_setting_t *list, struct lighting_conf *lc)
{
	static const char *const keys[] = { "program", "special", "dates", "from", "to", "weekdays", "groups",
					    "devices", NULL };
	const struct gw_config *cfg = conf_config(ctx);
	int n;

	if (!config_setting_is_list(list)) {
		conf_serror(ctx, list, "calendar must be a list: calendar = ( { program = \"night\"; }, ... );");
		return;
	}
	n = config_setting_length(list);
	lc->rules = calloc((size_t)n + 1, sizeof(*lc->rules));
	for (int i = 0; lc->rules && i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i), *m;
		struct sched_rule *r = &lc->rules[lc->nrules];
		const char *str, *from, *to;
		int found = 0;

		if (!config_setting_is_group(g)) {
			conf_serror(ctx, g, "a calendar rule must be a group { program = \"...\"; ... }");
			continue;
		}
		conf_check_keys(ctx, g, "calendar rule", keys);
		r->at = conf_origin_of(ctx, g);
		r->special = -1;
		if (!(str = str_of(ctx, g, "program", "calendar rule", 1)))
			continue;
		for (size_t k = 0; k < lc->nprograms; k++)
			if (!strcmp(lc->programs[k].name, str))
				r->program = k, found = 1;
		if (!found) {
			conf_serror(ctx, config_setting_get_member(g, "program"), "no program named '%s' (programs = ( ... ) defines them)", str);
			continue;
		}
		if ((str = str_of(ctx, g, "special", "calendar rule", 0))) {
			for (size_t k = 0; k < lc->nspecial; k++)
				if (!strcmp(lc->special[k].name, str))
					r->special = (long)k;
			if (r->special < 0)
				conf_serror(ctx, config_setting_get_member(g, "special"), "no special_days named '%s'", str);
		}
		if ((m = config_setting_get_member(g, "dates")))
			r->ranges = ranges_of(ctx, m, "dates", &r->nranges);
		from = str_of(ctx, g, "from", "calendar rule", 0);
		to = str_of(ctx, g, "to", "calendar rule", 0);
		if (from || to) {
			struct sched_range rg = { 0, 0, 0 };
			int a1 = 0, a2 = 0;
			if (m)
				conf_serror(ctx, g, "a rule takes either dates = [ ... ] or from/to, not both");
			else if (!from || !to)
				conf_serror(ctx, g, "from and to go together (\"2026-12-01\" .. \"2027-01-05\", or \"12-01\" .. \"01-05\" every year)");
			else if (parse_date_part(from, strlen(from), &rg.from, &a1) < 0 ||
				 parse_date_part(to, strlen(to), &rg.to, &a2) < 0 || a1 != a2)
				conf_serror(ctx, config_setting_get_member(g, "from"), "from/to must both be dates \"2026-12-01\" or both month-days \"12-01\" (got '%s', '%s')", from, to);
			else if (!a1 && rg.to < rg.from)
				conf_serror(ctx, config_setting_get_member(g, "to"), "to '%s' is before from '%s'", to, from);
			else {
				rg.annual = a1;
				r->ranges = calloc(1, sizeof(*r->ranges));
				if (r->ranges) {
					r->ranges[0] = rg;
					r->nranges = 1;
				}
			}
		}
		if ((m = config_setting_get_member(g, "weekdays"))) {
			size_t cnt;
			char **v = names_of(ctx, m, "weekdays", &cnt);
			for (size_t k = 0; k < cnt; k++) {
				int w = -1;
				for (int d = 0; d < 7; d++)
					if (!strcasecmp(v[k], wday_names[d]))
						w = d;
				if (w < 0)
					conf_serror(ctx, config_setting_get_elem(m, (unsigned)k), "weekday '%s' must be one of mon tue wed thu fri sat sun", v[k]);
				else
					r->weekdays |= 1u << w;
			}
			free_names(v, cnt);
		}
		if ((m = config_setting_get_member(g, "groups"))) {
			r->groups = names_of(ctx, m, "groups", &r->ngroups);
			for (size_t k = 0; k < r->ngroups; k++)
				if (!config_group(cfg, r->groups[k]))
					conf_serror(ctx, config_setting_get_elem(m, (unsigned)k), "no group named '%s' (groups = ( ... ) defines them)", r->groups[k]);
		}
		if ((m = config_setting_get_member(g, "devices"))) {
			r->devices = names_of(ctx, m, "devices", &r->ndevices);
			for (size_t k = 0; k < r->ndevices; k++)
				if (!config_device(cfg, r->devices[k]))
					conf_serror(ctx, config_setting_get_elem(m, (unsigned)k), "no device named '%s'", r->devices[k]);
		}
		lc->nrules++;
	}
}

static int parse_time_str(const char *s, int64_t *ms)
{
	/* absolute times only: a relative "-2h" means nothing in a file */
	if (!s || strlen(s) < 10 || !(s[0] >= '0' && s[0] <= '9') || s[4] != '-')
		return -EINVAL;
	return time_parse(s, 0, ms);
}

/* Parse one override target: exactly one of ward = true, group, device. */
static int override_target(struct conf_ctx *ctx, const config_setting_t *g, struct sched_override *o)
{
	const struct gw_config *cfg = conf_config(ctx);
	const char *grp = str_of(ctx, g, "group", "override", 0), *dev = str_of(ctx, g, "device", "override", 0);
	const config_setting_t *w = config_setting_get_member(g, "ward");
	int ward = w && config_setting_type(w) == CONFIG_TYPE_BOOL && config_setting_get_bool(w);

	if (w && config_setting_type(w) != CONFIG_TYPE_BOOL) {
		conf_serror(ctx, w, "ward must be true (the whole ward) or left out");
		return -EINVAL;
	}
	if (!!grp + !!dev + ward != 1) {
		conf_serror(ctx, g, "an override has one target: group = \"...\", device = \"...\" or ward = true");
		return -EINVAL;
	}
	if (grp && !config_group(cfg, grp)) {
		conf_serror(ctx, config_setting_get_member(g, "group"), "no group named '%s'", grp);
		return -EINVAL;
	}
	if (dev && !config_device(cfg, dev)) {
		conf_serror(ctx, config_setting_get_member(g, "device"), "no device named '%s'", dev);
		return -EINVAL;
	}
	o->scope = ward ? SCOPE_WARD : grp ? SCOPE_GROUP : SCOPE_DEVICE;
	snprintf(o->name, sizeof(o->name), "%s", grp ? grp : dev ? dev : "");
	return 0;
}

static void parse_overrides(struct conf_ctx *ctx, const config_setting_t *list, struct lighting_conf *lc)
{
	static const char *const keys[] = { "group", "device", "ward", "level", "start", "expires", "reason", NULL };
	int n;

	if (!config_setting_is_list(list)) {
		conf_serror(ctx, list, "overrides must be a list: overrides = ( { group = \"...\"; level = 100; start = \"...\"; expires = \"...\"; } );");
		return;
	}
	n = config_setting_length(list);
	lc->overrides = calloc((size_t)n + 1, sizeof(*lc->overrides));
	for (int i = 0; lc->overrides && i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		struct sched_override *o = &lc->overrides[lc->noverrides];
		const char *start, *exp, *reason;

		if (!config_setting_is_group(g)) {
			conf_serror(ctx, g, "an override must be a group { group = \"...\"; level = ...; start = ...; expires = ...; }");
			continue;
		}
		conf_check_keys(ctx, g, "override", keys);
		if (override_target(ctx, g, o) < 0 || level_of(ctx, g, "override", &o->level) < 0)
			continue;
		start = str_of(ctx, g, "start", "override", 1);
		exp = str_of(ctx, g, "expires", "override", 1);
		if (!start || !exp)
			continue;
		if (parse_time_str(start, &o->start_ms) < 0) {
			conf_serror(ctx, config_setting_get_member(g, "start"), "start '%s' must be a ward time such as \"2026-12-24T18:00\"", start);
			continue;
		}
		if (parse_time_str(exp, &o->expires_ms) < 0) {
			conf_serror(ctx, config_setting_get_member(g, "expires"), "expires '%s' must be a ward time such as \"2026-12-25T06:00\"", exp);
			continue;
		}
		if (o->expires_ms <= o->start_ms) {
			conf_serror(ctx, config_setting_get_member(g, "expires"), "expires '%s' is not after start '%s'", exp, start);
			continue;
		}
		if ((reason = str_of(ctx, g, "reason", "override", 0)))
			snprintf(o->reason, sizeof(o->reason), "%s", reason);
		o->id = -(int64_t)(lc->noverrides + 1);
		lc->noverrides++;
	}
}

void lighting_conf_parse(struct conf_ctx *ctx, const config_setting_t *s, struct lighting_conf **out)
{
	static const char *const cmd_keys[] = { "key_file", "window_s", NULL };
	const struct gw_config *cfg = conf_config(ctx);
	struct lighting_conf *lc = calloc(1, sizeof(*lc));
	const config_setting_t *m;
	const char *str;
	double v;

	*out = lc;
	if (!lc)
		return;
	lc->at = conf_origin_of(ctx, s);
	lc->retry_s = 60;
	lc->window_s = 120;
	if (!config_setting_is_group(s)) {
		conf_serror(ctx, s, "lighting must be a group: lighting = { programs = ( ... ); calendar = ( ... ); };");
		return;
	}
	conf_check_keys(ctx, s, "lighting", lighting_keys);
	str = str_of(ctx, s, "metric", "lighting", 0);
	lc->metric = strdup(str ? str : "targetLightCommand");
	if ((m = config_setting_get_member(s, "retry_s"))) {
		if (conf_number(m, &v) < 0 || config_setting_type(m) == CONFIG_TYPE_FLOAT || v < 5 || v > 86400)
			conf_serror(ctx, m, "retry_s must be 5..86400 s");
		else
			lc->retry_s = (int)v;
	}
	lc->lamp_rated_w = 100.0;
	if ((m = config_setting_get_member(s, "lamp_rated_w"))) {
		if (conf_number(m, &v) < 0 || !(v >= 1 && v <= 10000))
			conf_serror(ctx, m, "lamp_rated_w must be 1..10000 W (the rated power of one lamp)");
		else
			lc->lamp_rated_w = v;
	}
	int writable = 0, found = 0;
	for (size_t i = 0; i < cfg->nprofiles; i++)
		for (size_t r = 0; r < cfg->profiles[i].nregs; r++)
			if (cfg->profiles[i].regs[r].metric && !strcmp(cfg->profiles[i].regs[r].metric, lc->metric)) {
				found = 1;
				writable |= cfg->profiles[i].regs[r].writable;
			}
	if (!found || !writable)
		conf_serror(ctx, config_setting_get_member(s, "metric") ? config_setting_get_member(s, "metric") : s,
		     "lighting: no profile has a writable register '%s' for the schedule to write%s", lc->metric,
		     found ? " (add writable = true to it)" : "");
	if ((m = config_setting_get_member(s, "programs")))
		parse_programs(ctx, m, lc);
	if ((m = config_setting_get_member(s, "special_days")))
		parse_special(ctx, m, lc);
	if ((m = config_setting_get_member(s, "calendar")))
		parse_calendar(ctx, m, lc);
	else if (lc->nprograms)
		conf_serror(ctx, s, "lighting: programs without a calendar run nowhere; add calendar = ( { program = \"%s\"; } );",
		     lc->programs[0].name);
	if ((m = config_setting_get_member(s, "overrides")))
		parse_overrides(ctx, m, lc);
	lc->voltage_min = 207.0;        /* 230 V - 10 % (IEC 60038) */
	lc->voltage_max = 253.0;        /* 230 V + 10 % */
	lc->pf_min = 0.85;
	if ((m = config_setting_get_member(s, "alarms"))) {
		static const char *const akeys[] = { "voltage_min", "voltage_max", "power_factor_min", NULL };
		static const char *const names[] = { "voltage_min", "voltage_max", "power_factor_min" };
		double *dst[] = { &lc->voltage_min, &lc->voltage_max, &lc->pf_min };
		static const double lo[] = { 0, 0, 0 }, hi[] = { 1000, 1000, 1 };
		if (!config_setting_is_group(m)) {
			conf_serror(ctx, m, "alarms must be a group: alarms = { voltage_min = 207.0; voltage_max = 253.0; power_factor_min = 0.85; };");
		} else {
			conf_check_keys(ctx, m, "lighting.alarms", akeys);
			for (int i = 0; i < 3; i++) {
				const config_setting_t *a = config_setting_get_member(m, names[i]);
				if (!a)
					continue;
				if (conf_number(a, &v) < 0 || !(v >= lo[i] && v <= hi[i]))
					conf_serror(ctx, a, "%s must be a number %g..%g", names[i], lo[i], hi[i]);
				else
					*dst[i] = v;
			}
			if (lc->voltage_min >= lc->voltage_max)
				conf_serror(ctx, m, "voltage_min (%g) must be below voltage_max (%g)", lc->voltage_min, lc->voltage_max);
		}
	}
	if ((m = config_setting_get_member(s, "commands"))) {
		if (!config_setting_is_group(m)) {
			conf_serror(ctx, m, "commands must be a group: commands = { key_file = \"...\"; window_s = 120; };");
		} else {
			conf_check_keys(ctx, m, "lighting.commands", cmd_keys);
			if ((str = str_of(ctx, m, "key_file", "lighting.commands", 1)))
				lc->key_file = strdup(str);
			const config_setting_t *w = config_setting_get_member(m, "window_s");
			if (w && (conf_number(w, &v) < 0 || config_setting_type(w) == CONFIG_TYPE_FLOAT || v < 5 || v > 3600))
				conf_serror(ctx, w, "window_s must be 5..3600 s");
			else if (w)
				lc->window_s = (int)v;
		}
	}
}

void lighting_conf_free(struct lighting_conf *lc)
{
	if (!lc)
		return;
	for (size_t i = 0; i < lc->nprograms; i++) {
		free(lc->programs[i].name);
		free(lc->programs[i].points);
	}
	free(lc->programs);
	for (size_t i = 0; i < lc->nspecial; i++) {
		free(lc->special[i].name);
		free(lc->special[i].ranges);
	}
	free(lc->special);
	for (size_t i = 0; i < lc->nrules; i++) {
		free(lc->rules[i].ranges);
		free_names(lc->rules[i].groups, lc->rules[i].ngroups);
		free_names(lc->rules[i].devices, lc->rules[i].ndevices);
	}
	free(lc->rules);
	free(lc->overrides);
	free(lc->metric);
	free(lc->key_file);
	free(lc);
}

/* --- resolution --- */

int sched_in_group(const struct gw_config *cfg, const char *group, const char *dev)
{
	const struct group_def *g = config_group(cfg, group);

	for (size_t i = 0; g && i < g->ndevices; i++)
		if (!strcmp(g->devices[i], dev))
			return 1;
	return 0;
}

int sched_controls(const struct gw_config *cfg, const struct device_conf *dev)
{
	const struct profile *p = dev->profile;

	if (!cfg->lighting || !p)
		return 0;
	for (size_t i = 0; i < p->nregs; i++)
		if (p->regs[i].writable && !strcmp(p->regs[i].metric, cfg->lighting->metric))
			return 1;
	return 0;
}

void sched_sun_for(const struct gw_config *cfg, int32_t day, struct sched_sun *out)
{
	/* the same few days are asked for again and again: keep them */
	static _Thread_local struct { int32_t day; double lat, lon; struct sched_sun s; int used; } cache[4];
	static _Thread_local unsigned next;
	int64_t r, s, r6, s6, noon = day_start_ms(day) + DAY_MS / 2;

	for (unsigned i = 0; i < 4; i++)
		if (cache[i].used && cache[i].day == day && cache[i].lat == cfg->lat && cache[i].lon == cfg->lon) {
			*out = cache[i].s;
			return;
		}
	memset(out, 0, sizeof(*out));
	if (sun_times(cfg->lat, cfg->lon, noon, SUN_ALT_RISESET, &r, &s) == SUN_OK)
		out->sunset = s;
	if (sun_times(cfg->lat, cfg->lon, noon + DAY_MS, SUN_ALT_RISESET, &r, &s) == SUN_OK)
		out->sunrise = r;
	if (sun_times(cfg->lat, cfg->lon, noon, SUN_ALT_CIVIL, &r6, &s6) == SUN_OK)
		out->dusk = s6;
	if (sun_times(cfg->lat, cfg->lon, noon + DAY_MS, SUN_ALT_CIVIL, &r6, &s6) == SUN_OK)
		out->dawn = r6;
	cache[next % 4].day = day;
	cache[next % 4].lat = cfg->lat;
	cache[next % 4].lon = cfg->lon;
	cache[next % 4].s = *out;
	cache[next % 4].used = 1;
	next++;
}

static int rule_matches(const struct gw_config *cfg, const struct sched_rule *r, const char *dev, int32_t day)
{
	const struct lighting_conf *lc = cfg->lighting;
	int ok;

	if (r->weekdays && !(r->weekdays & (1u << (unsigned)(((day % 7) + 7 + 4) % 7))))
		return 0;
	if (r->special >= 0) {
		const struct sched_days *sd = &lc->special[r->special];
		ok = 0;
		for (size_t i = 0; i < sd->nranges && !ok; i++)
			ok = range_has(&sd->ranges[i], day);
		if (!ok)
			return 0;
	}
	if (r->nranges) {
		ok = 0;
		for (size_t i = 0; i < r->nranges && !ok; i++)
			ok = range_has(&r->ranges[i], day);
		if (!ok)
			return 0;
	}
	if (r->ngroups || r->ndevices) {
		ok = 0;
		for (size_t i = 0; i < r->ngroups && !ok; i++)
			ok = sched_in_group(cfg, r->groups[i], dev);
		for (size_t i = 0; i < r->ndevices && !ok; i++)
			ok = !strcmp(r->devices[i], dev);
		if (!ok)
			return 0;
	}
	return 1;
}

const struct sched_program *sched_program_for(const struct gw_config *cfg, const char *dev, int32_t day,
					      const struct sched_rule **rule)
{
	const struct lighting_conf *lc = cfg->lighting;

	if (rule)
		*rule = NULL;
	for (size_t i = 0; lc && i < lc->nrules; i++)
		if (rule_matches(cfg, &lc->rules[i], dev, day)) {
			if (rule)
				*rule = &lc->rules[i];
			return &lc->programs[lc->rules[i].program];
		}
	return NULL;
}

size_t sched_points(const struct gw_config *cfg, const struct sched_program *p, int32_t day,
		    struct sched_time *out, size_t max)
{
	struct sched_sun sun;
	int64_t base = day_start_ms(day);
	size_t n = 0;

	sched_sun_for(cfg, day, &sun);
	for (size_t i = 0; p && i < p->npoints && n < max; i++) {
		const struct sched_point *pt = &p->points[i];
		int64_t anchor;

		switch (pt->anchor) {
		case AT_FIXED:
			/* 12:00..23:59 is this evening, 00:00..11:59 the next morning */
			anchor = base + (int64_t)pt->minutes * 60000 + (pt->minutes < 720 ? DAY_MS : 0);
			out[n].t_ms = anchor;
			break;
		case AT_SUNSET: anchor = sun.sunset; break;
		case AT_SUNRISE: anchor = sun.sunrise; break;
		case AT_DUSK: anchor = sun.dusk; break;
		default: anchor = sun.dawn; break;
		}
		if (!anchor)
			continue;
		out[n].t_ms = pt->anchor == AT_FIXED ? anchor : anchor + (int64_t)pt->minutes * 60000;
		out[n].level = pt->level;
		out[n].pt = pt;
		n++;
	}
	/* insertion sort, stable: of two points at one time the later-written wins */
	for (size_t i = 1; i < n; i++) {
		struct sched_time t = out[i];
		size_t j = i;
		while (j > 0 && out[j - 1].t_ms > t.t_ms) {
			out[j] = out[j - 1];
			j--;
		}
		out[j] = t;
	}
	return n;
}

int sched_override_applies(const struct gw_config *cfg, const struct sched_override *o, const char *dev)
{
	switch (o->scope) {
	case SCOPE_WARD: return 1;
	case SCOPE_GROUP: return sched_in_group(cfg, o->name, dev);
	default: return !strcmp(o->name, dev);
	}
}

#define MAXPTS 64

int sched_want(const struct gw_config *cfg, const struct device_conf *dev, int64_t t_ms,
	       const struct sched_override *ov, size_t nov, struct sched_want *out)
{
	struct sched_time pts[MAXPTS];
	int32_t day = lighting_day(t_ms);
	const struct sched_program *p;
	size_t n;

	memset(out, 0, sizeof(*out));
	out->level = NAN;
	out->next_ms = INT64_MAX;
	if (!sched_controls(cfg, dev))
		return -ENOENT;

	/* the program: the last point at or before t, today or the day before */
	for (int back = 0; back <= 1 && isnan(out->level); back++) {
		p = sched_program_for(cfg, dev->name, day - back, NULL);
		n = sched_points(cfg, p, day - back, pts, MAXPTS);
		for (size_t i = n; i-- > 0;)
			if (pts[i].t_ms <= t_ms) {
				out->level = pts[i].level;
				out->program = p;
				out->point = pts[i].pt;
				out->since_ms = pts[i].t_ms;
				break;
			}
	}
	for (int fwd = 0; fwd <= 1 && out->next_ms == INT64_MAX; fwd++) {
		p = sched_program_for(cfg, dev->name, day + fwd, NULL);
		n = sched_points(cfg, p, day + fwd, pts, MAXPTS);
		for (size_t i = 0; i < n; i++)
			if (pts[i].t_ms > t_ms) {
				out->next_ms = pts[i].t_ms;
				break;
			}
	}
	if (out->next_ms == INT64_MAX)
		out->next_ms = day_start_ms(day + 2) + DAY_MS / 2;   /* a new lighting day, a new program */

	/* an override of the narrowest scope, then the latest start */
	const struct sched_override *best = NULL;
	for (size_t i = 0; i < nov; i++) {
		const struct sched_override *o = &ov[i];
		if (!sched_override_applies(cfg, o, dev->name))
			continue;
		if (o->start_ms > t_ms && o->start_ms < out->next_ms)
			out->next_ms = o->start_ms;
		if (o->start_ms > t_ms || o->expires_ms <= t_ms)
			continue;
		if (o->expires_ms < out->next_ms)
			out->next_ms = o->expires_ms;
		if (!best || o->scope > best->scope ||
		    (o->scope == best->scope && (o->start_ms > best->start_ms ||
						 (o->start_ms == best->start_ms && o->id > best->id))))
			best = o;
	}
	if (best) {
		out->level = best->level;
		out->program = NULL;
		out->point = NULL;
		out->override = best;
		out->since_ms = best->start_ms;
	}
	return 0;
}

/* The series lighting.c derives from each poll of a controlled device and
 * the schedule (see docs/lighting.md, "KPIs"). Counters are cumulative. */
static const struct { const char *name, *unit; int counter; } derived[] = {
	{ "lampsScheduled", "count", 0 },       /* lamps installed while the schedule wants light, else 0 */
	{ "lampsLitScheduled", "count", 0 },    /* of those, lit */
	{ "lampsDayBurning", "count", 0 },      /* lit while the schedule wants them off */
	{ "ratedEnergyScheduled", "kWh", 1 },   /* lamps x rated W x scheduled time */
	{ "lampsFaulty", "count", 0 },          /* failed, or all of them while the device does not answer */
	{ "lampsKnown", "count", 0 },           /* lamps installed, the last known count even while away */
};

int lighting_derived_metric(const char *metric, const char **unit, int *counter)
{
	for (size_t i = 0; i < sizeof(derived) / sizeof(derived[0]); i++)
		if (!strcmp(derived[i].name, metric)) {
			if (unit)
				*unit = derived[i].unit;
			if (counter)
				*counter = derived[i].counter;
			return 1;
		}
	return 0;
}

const char *sched_scope_name(enum sched_scope s)
{
	return s == SCOPE_WARD ? "ward" : s == SCOPE_GROUP ? "group" : "device";
}

int lighting_alarm_known(const char *name)
{
	static const char *const alarms[] = {
		"lampFailure", "lampUnexpectedOn", "lampVoltageTooHigh", "lampVoltageTooLow", "powerFactorTooLow",
		"relayFailure", "controlGearCommFailure", "cabinetDoorOpen", "supplyLoss", "deviceUnreachable", NULL,
	};
	for (const char *const *a = alarms; *a; a++)
		if (!strcmp(*a, name))
			return 1;
	return 0;
}

const char *lighting_derived_name(size_t i, const char **unit, int *counter)
{
	if (i >= sizeof(derived) / sizeof(derived[0]))
		return NULL;
	*unit = derived[i].unit;
	*counter = derived[i].counter;
	return derived[i].name;
}
