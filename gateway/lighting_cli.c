/* wardgw schedule and wardgw audit (see lighting_cli.h). */
#include "lighting_cli.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>

#include "config.h"
#include "log.h"
#include "schedule.h"
#include "timeparse.h"

static void hm(int64_t ms, char *buf, size_t size)
{
	char t[40];

	if (!ms) {
		snprintf(buf, size, "--:--");
		return;
	}
	time_format(ms, t, sizeof(t));
	snprintf(buf, size, "%.5s", t + 11);
}

static const char *const wday3[7] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };

void lighting_print_schedule(FILE *f, const struct gw_config *cfg, int32_t day,
			     const struct sched_override *ov, size_t nov)
{
	const struct lighting_conf *lc = cfg->lighting;
	struct sched_sun sun;
	char d0[16], d1[16], a[8], b[8], c[8], e[8];
	size_t ndev = 0;

	if (!lc) {
		fprintf(f, "%s: no lighting = { ... } section: the gateway switches no lamps\n", cfg->path);
		return;
	}
	sched_sun_for(cfg, day, &sun);
	format_ward_date(day, d0, sizeof(d0));
	format_ward_date(day + 1, d1, sizeof(d1));
	fprintf(f, "lighting day %s (%s) to %s, at %.4f %c %.4f %c, ward time UTC+7 (Asia/Ho_Chi_Minh)\n", d0,
		wday3[((day % 7) + 7 + 4) % 7], d1, fabs(cfg->lat), cfg->lat >= 0 ? 'N' : 'S', fabs(cfg->lon),
		cfg->lon >= 0 ? 'E' : 'W');
	hm(sun.sunset, a, sizeof(a));
	hm(sun.dusk, b, sizeof(b));
	hm(sun.dawn, c, sizeof(c));
	hm(sun.sunrise, e, sizeof(e));
	fprintf(f, "  %s  sunset %s  dusk %s    %s  dawn %s  sunrise %s", d0, a, b, d1, c, e);
	if (sun.sunset && sun.sunrise)
		fprintf(f, "    night %lld h %02lld min\n", (long long)((sun.sunrise - sun.sunset) / 3600000),
			(long long)((sun.sunrise - sun.sunset) / 60000 % 60));
	else
		fprintf(f, "    (the Sun does not cross the horizon)\n");

	/* one block per program, with the devices it runs that night */
	for (size_t pi = 0; pi <= lc->nprograms; pi++) {
		const struct sched_program *p = pi < lc->nprograms ? &lc->programs[pi] : NULL;
		size_t n = 0;
		for (size_t i = 0; i < cfg->ndevices; i++) {
			const struct device_conf *dc = &cfg->devices[i];
			if (!sched_controls(cfg, dc) || sched_program_for(cfg, dc->name, day, NULL) != p)
				continue;
			if (!n)
				fprintf(f, p ? "\nprogram %s for " : "\nno calendar rule (left alone): ", p ? p->name : "");
			if (n < 8)
				fprintf(f, "%s%s", n ? ", " : "", dc->name);
			n++;
			ndev++;
		}
		if (!n)
			continue;
		if (n > 8)
			fprintf(f, " and %zu more", n - 8);
		fprintf(f, " (%zu device%s)\n", n, n == 1 ? "" : "s");
		if (!p)
			continue;
		struct sched_time pts[64];
		size_t np = sched_points(cfg, p, day, pts, 64);
		for (size_t i = 0; i < np; i++) {
			char t[40];
			time_format(pts[i].t_ms, t, sizeof(t));
			fprintf(f, "  %.10s %.5s  %-12s %5.0f %%%s\n", t, t + 11, pts[i].pt->spec, pts[i].level,
				pts[i].level == 0 ? "  off" : "");
		}
		if (np < p->npoints)
			fprintf(f, "  (%zu astronomical points dropped: no sunset or sunrise)\n", p->npoints - np);
	}
	if (!ndev)
		fprintf(f, "\nno device's profile has a writable '%s': nothing is switched\n", lc->metric);

	int64_t from = sun.sunset ? sun.sunset - 6 * 3600000LL : 0, to = from + 24 * 3600000LL;
	int shown = 0;
	for (size_t i = 0; i < nov; i++) {
		const struct sched_override *o = &ov[i];
		char s1[40], s2[40];
		if (o->expires_ms <= from || o->start_ms >= to)
			continue;
		if (!shown++)
			fprintf(f, "\noverrides (win over the programs while in force):\n");
		time_format(o->start_ms, s1, sizeof(s1));
		time_format(o->expires_ms, s2, sizeof(s2));
		fprintf(f, "  %s %-6s %-20s %5.0f %%  %.16s .. %.16s  %s%s\n", o->id > 0 ? "stored" : "config",
			sched_scope_name(o->scope), o->scope == SCOPE_WARD ? "(whole ward)" : o->name, o->level, s1, s2,
			o->reason, o->id > 0 ? "" : "");
	}
}

int lighting_print_audit(FILE *f, sqlite3 *db, int64_t from_ms, int last)
{
	sqlite3_stmt *st;
	int n = 0;

	if (sqlite3_prepare_v2(db, "SELECT * FROM (SELECT id, ts, source, cmd_id, action, target, level, verdict, reason"
			       " FROM audit WHERE ts >= ?1 ORDER BY id DESC LIMIT ?2) ORDER BY id", -1, &st, NULL) != SQLITE_OK)
		return log_error(-EIO, "audit: %s", sqlite3_errmsg(db));
	sqlite3_bind_int64(st, 1, from_ms);
	sqlite3_bind_int(st, 2, last);
	fprintf(f, "%-19s %-8s %-24s %-14s %-22s %6s  %-9s %s\n", "time (UTC+7)", "source", "command id", "action", "target",
		"level", "verdict", "reason");
	while (sqlite3_step(st) == SQLITE_ROW) {
		char t[40], lv[16] = "-";
		time_format(sqlite3_column_int64(st, 1), t, sizeof(t));
		if (sqlite3_column_type(st, 6) != SQLITE_NULL)
			snprintf(lv, sizeof(lv), "%.0f %%", sqlite3_column_double(st, 6));
		/* every column may hold text from outside (a junk message's
		 * id or reason): escaped, one line each, no terminal control */
		char c[9][1200];
		for (int i = 2; i <= 8; i++) {
			const char *v = (const char *)sqlite3_column_text(st, i);
			log_escape(c[i], sizeof(c[i]), v ? v : "-", v ? (size_t)sqlite3_column_bytes(st, i) : 1);
		}
		fprintf(f, "%.19s %-8s %-24.64s %-14s %-22.64s %6s  %-9s %s\n", t, c[2], c[3], c[4], c[5], lv,
			c[7], c[8]);
		n++;
	}
	sqlite3_finalize(st);
	if (!n)
		fprintf(f, "(no audit rows%s)\n", from_ms ? " in that time" : "");
	return 0;
}
