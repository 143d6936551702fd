/* Lighting schedules: resolution across midnight, the calendar's
 * precedence (first matching rule), special days, overrides with expiry and
 * their precedence, and config errors at FILE:LINE. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "unit_files.h"

#include "config.h"
#include "schedule.h"
#include "sun.h"
#include "timeparse.h"

static char dir[64];

static const char profile[] =
	"profile = { name = \"cab\"; registers = (\n"
	"  { metric = \"lampsOn\"; table = \"holding\"; address = 1; type = \"u16\"; },\n"
	"  { metric = \"targetLightCommand\"; table = \"holding\"; address = 16; type = \"u16\"; scale = 0.01;\n"
	"    writable = true; min = 0.0; max = 1.0; }\n"
	"); };\n"
	;
static const char meter[] =
	"profile = { name = \"meter\"; registers = (\n"
	"  { metric = \"activePower\"; table = \"holding\"; address = 0; type = \"u16\"; }\n"
	"); };\n";

static const char head[] =
	"gateway = { id = \"t\"; lat = 10.9574; lon = 106.8427; };\n"
	"profiles_dir = \"profiles\";\n"
	"devices = ( { name = \"c1\"; profile = \"cab\"; host = \"127.0.0.1\"; },\n"
	"            { name = \"c2\"; profile = \"cab\"; host = \"127.0.0.1\"; },\n"
	"            { name = \"m1\"; profile = \"meter\"; host = \"127.0.0.1\"; } );\n"
	"groups = ( { name = \"market\"; devices = [ \"c2\" ]; } );\n";

static void write_file(const char *name, const char *text)
{
	ut_write(dir, name, text, 0644);
}

static int setup(void **state)
{
	if (ut_mkdir(dir, sizeof(dir), "wardgw-sched") < 0)
		return -1;
	write_file("profiles/cab.conf", profile);
	write_file("profiles/meter.conf", meter);
	return 0;
}

static int teardown(void **state)
{
	return ut_rmdir(dir);
}

/* Load head + @lighting; return the error text (caller frees). */
static char *load(const char *lighting, int *ret, struct gw_config **out)
{
	char path[256], *buf = NULL, *text = NULL;
	size_t len = 0;
	FILE *errs = open_memstream(&buf, &len);

	assert_true(asprintf(&text, "%s%s", head, lighting) > 0);
	write_file("gateway.conf", text);
	free(text);
	snprintf(path, sizeof(path), "%s/gateway.conf", dir);
	*ret = config_load(path, errs, out);
	fclose(errs);
	return buf;
}

static struct gw_config *load_ok(const char *lighting)
{
	struct gw_config *cfg = NULL;
	int ret;
	char *errs = load(lighting, &ret, &cfg);

	if (ret != 0)
		fail_msg("config errors:\n%s", errs);
	free(errs);
	return cfg;
}

/* ward time -> ms */
static int64_t at(const char *s)
{
	int64_t v;

	assert_int_equal(time_parse(s, 0, &v), 0);
	return v;
}

static const char night[] =
	"lighting = {\n"
	"  programs = ( { name = \"night\"; points = ( { at = \"sunset\"; level = 100; },\n"
	"                 { at = \"23:00\"; level = 50; }, { at = \"sunrise-15\"; level = 0; } ); } );\n"
	"  calendar = ( { program = \"night\"; } );\n"
	"};\n";

static double want(const struct gw_config *cfg, const char *dev, int64_t t, const struct sched_override *ov,
		   size_t nov, struct sched_want *w)
{
	struct sched_want tmp;

	if (!w)
		w = &tmp;
	assert_int_equal(sched_want(cfg, config_device(cfg, dev), t, ov, nov, w), 0);
	return w->level;
}

static void test_across_midnight(void **state)
{
	struct gw_config *cfg = load_ok(night);
	struct sched_want w;
	int64_t rise, set, rise2, set2;

	/* the Sun at Biên Hòa on 2026-11-23 and the morning after */
	assert_int_equal(sun_times(cfg->lat, cfg->lon, ward_noon_ms(2026, 11, 23), SUN_ALT_RISESET, &rise, &set), SUN_OK);
	assert_int_equal(sun_times(cfg->lat, cfg->lon, ward_noon_ms(2026, 11, 24), SUN_ALT_RISESET, &rise2, &set2), SUN_OK);

	/* afternoon: the previous night's last point (off) still holds */
	assert_true(want(cfg, "c1", at("2026-11-23T15:00"), NULL, 0, &w) == 0);
	assert_int_equal(w.next_ms, set);
	/* at sunset on */
	assert_true(want(cfg, "c1", set, NULL, 0, &w) == 100);
	assert_int_equal(w.since_ms, set);
	assert_string_equal(w.program->name, "night");
	assert_int_equal(w.next_ms, at("2026-11-23T23:00"));
	assert_true(want(cfg, "c1", set - 1000, NULL, 0, NULL) == 0);
	/* 23:00 dims; it lasts across midnight into the next date */
	assert_true(want(cfg, "c1", at("2026-11-23T23:00"), NULL, 0, NULL) == 50);
	assert_true(want(cfg, "c1", at("2026-11-24T00:30"), NULL, 0, &w) == 50);
	assert_int_equal(w.since_ms, at("2026-11-23T23:00"));
	assert_int_equal(w.next_ms, rise2 - 15 * 60000);
	/* 15 minutes before the next morning's sunrise: off */
	assert_true(want(cfg, "c1", rise2 - 15 * 60000, NULL, 0, NULL) == 0);
	assert_true(want(cfg, "c1", at("2026-11-24T11:59"), NULL, 0, &w) == 0);
	assert_int_equal(w.since_ms, rise2 - 15 * 60000);
	/* the sensor-less meter is not controlled */
	assert_int_equal(sched_want(cfg, config_device(cfg, "m1"), set, NULL, 0, &w), -ENOENT);
	/* 12:00 starts a new lighting day */
	assert_int_equal(lighting_day(at("2026-11-24T11:59")), civil_day(2026, 11, 23));
	assert_int_equal(lighting_day(at("2026-11-24T12:00")), civil_day(2026, 11, 24));
	config_free(cfg);
}

static void test_calendar_precedence(void **state)
{
	struct gw_config *cfg = load_ok(
		"lighting = {\n"
		"  programs = ( { name = \"night\"; points = ( { at = \"18:00\"; level = 100; }, { at = \"06:00\"; level = 0; } ); },\n"
		"               { name = \"tet\"; points = ( { at = \"17:00\"; level = 100; }, { at = \"07:00\"; level = 0; } ); },\n"
		"               { name = \"weekend\"; points = ( { at = \"18:00\"; level = 80; }, { at = \"06:00\"; level = 0; } ); },\n"
		"               { name = \"xmas\"; points = ( { at = \"18:00\"; level = 90; }, { at = \"06:00\"; level = 0; } ); } );\n"
		"  special_days = ( { name = \"tet\"; dates = [ \"2026-02-16..2026-02-22\" ]; } );\n"
		"  calendar = ( { special = \"tet\"; program = \"tet\"; },\n"
		"               { dates = [ \"12-24..01-01\" ]; program = \"xmas\"; },\n"
		"               { groups = [ \"market\" ]; weekdays = [ \"sat\", \"sun\" ]; program = \"weekend\"; },\n"
		"               { devices = [ \"c1\" ]; program = \"night\"; } );\n"
		"};\n");

	/* Tết beats every later rule, for both devices */
	assert_true(want(cfg, "c1", at("2026-02-17T17:30"), NULL, 0, NULL) == 100);
	assert_true(want(cfg, "c2", at("2026-02-17T17:30"), NULL, 0, NULL) == 100);
	/* a plain Saturday: c2 (market) runs weekend, c1 night */
	assert_true(want(cfg, "c2", at("2026-11-21T19:00"), NULL, 0, NULL) == 80);
	assert_true(want(cfg, "c1", at("2026-11-21T19:00"), NULL, 0, NULL) == 100);
	assert_true(want(cfg, "c1", at("2026-11-21T17:30"), NULL, 0, NULL) == 0);
	/* a Monday: no rule for c2; Sunday night's last point (off at 06:00) holds */
	struct sched_want w;
	assert_true(want(cfg, "c2", at("2026-11-23T19:00"), NULL, 0, &w) == 0);
	assert_string_equal(w.program->name, "weekend");
	/* a Tuesday: no rule that night nor the night before: left alone */
	assert_true(isnan(want(cfg, "c2", at("2026-11-24T19:00"), NULL, 0, NULL)));
	/* the annual range wraps the year end, every year */
	assert_true(want(cfg, "c2", at("2027-01-01T19:00"), NULL, 0, NULL) == 90);
	assert_true(want(cfg, "c1", at("2030-12-24T19:00"), NULL, 0, NULL) == 90);
	assert_true(want(cfg, "c1", at("2030-01-02T19:00"), NULL, 0, NULL) == 100);
	/* a morning belongs to the night before: Tết's last night (02-22) runs
	 * to 07:00 on 02-23, though the date 02-23 is no longer Tết */
	assert_true(want(cfg, "c1", at("2026-02-23T06:30"), NULL, 0, NULL) == 100);
	assert_true(want(cfg, "c1", at("2026-02-23T07:00"), NULL, 0, NULL) == 0);
	config_free(cfg);
}

static void test_overrides(void **state)
{
	struct gw_config *cfg = load_ok(night);
	struct sched_override ov[4] = {
		{ .id = 1, .scope = SCOPE_WARD, .level = 30, .start_ms = at("2026-11-23T20:00"), .expires_ms = at("2026-11-23T22:00") },
		{ .id = 2, .scope = SCOPE_GROUP, .name = "market", .level = 70, .start_ms = at("2026-11-23T20:30"), .expires_ms = at("2026-11-23T21:30") },
		{ .id = 3, .scope = SCOPE_DEVICE, .name = "c2", .level = 10, .start_ms = at("2026-11-23T21:00"), .expires_ms = at("2026-11-23T21:10") },
		{ .id = 4, .scope = SCOPE_WARD, .level = 40, .start_ms = at("2026-11-23T20:15"), .expires_ms = at("2026-11-23T20:45") },
	};
	struct sched_want w;

	/* before any: the program, and the next change is the first start */
	assert_true(want(cfg, "c2", at("2026-11-23T19:00"), ov, 4, &w) == 100);
	assert_null(w.override);
	assert_int_equal(w.next_ms, at("2026-11-23T20:00"));
	/* the ward override */
	assert_true(want(cfg, "c1", at("2026-11-23T20:05"), ov, 4, &w) == 30);
	assert_int_equal(w.override->id, 1);
	/* two ward overrides: the later start wins */
	assert_true(want(cfg, "c1", at("2026-11-23T20:20"), ov, 4, &w) == 40);
	/* a group beats the ward, for its members only */
	assert_true(want(cfg, "c2", at("2026-11-23T20:35"), ov, 4, &w) == 70);
	assert_true(want(cfg, "c1", at("2026-11-23T20:35"), ov, 4, NULL) == 40);
	/* a device beats its group */
	assert_true(want(cfg, "c2", at("2026-11-23T21:05"), ov, 4, &w) == 10);
	assert_int_equal(w.next_ms, at("2026-11-23T21:10"));
	/* expiry: back to the group, then the ward, then the program */
	assert_true(want(cfg, "c2", at("2026-11-23T21:10"), ov, 4, NULL) == 70);
	assert_true(want(cfg, "c2", at("2026-11-23T21:30"), ov, 4, NULL) == 30);
	assert_true(want(cfg, "c2", at("2026-11-23T22:00"), ov, 4, &w) == 100);
	assert_null(w.override);
	config_free(cfg);
}

static void test_config_overrides_and_days(void **state)
{
	struct gw_config *cfg = load_ok(
		"lighting = {\n"
		"  programs = ( { name = \"n\"; points = ( { at = \"dusk\"; level = 100; }, { at = \"dawn+5\"; level = 0; } ); } );\n"
		"  calendar = ( { program = \"n\"; from = \"2026-11-01\"; to = \"2026-11-30\"; } );\n"
		"  overrides = ( { group = \"market\"; level = 20; start = \"2026-11-23T19:00\"; expires = \"2026-11-23T20:00\"; reason = \"fair\"; } );\n"
		"};\n");
	const struct lighting_conf *lc = cfg->lighting;

	assert_int_equal(lc->noverrides, 1);
	assert_string_equal(lc->overrides[0].reason, "fair");
	assert_true(want(cfg, "c2", at("2026-11-23T19:30"), lc->overrides, 1, NULL) == 20);
	assert_true(want(cfg, "c1", at("2026-11-23T19:30"), lc->overrides, 1, NULL) == 100);
	/* outside from/to: nothing */
	assert_true(isnan(want(cfg, "c1", at("2026-12-02T19:30"), NULL, 0, NULL)));
	assert_int_equal(lc->retry_s, 60);
	assert_int_equal(lc->window_s, 120);
	assert_string_equal(lc->metric, "targetLightCommand");
	config_free(cfg);
}

/* Tromsø at midsummer: no sunset, so the astronomical points are dropped
 * and the fixed ones still run; in the dark season no sunrise either. */
static void test_polar(void **state)
{
	char path[256], *buf = NULL;
	size_t len = 0;
	FILE *errs = open_memstream(&buf, &len);
	struct gw_config *cfg = NULL;
	struct sched_time pts[8];
	const char *text =
		"gateway = { id = \"t\"; lat = 69.6492; lon = 18.9553; };\n"
		"profiles_dir = \"profiles\";\n"
		"devices = ( { name = \"c1\"; profile = \"cab\"; host = \"127.0.0.1\"; } );\n"
		"lighting = {\n"
		"  programs = ( { name = \"n\"; points = ( { at = \"sunset\"; level = 100; }, { at = \"23:00\"; level = 30; },\n"
		"                 { at = \"sunrise\"; level = 0; } ); } );\n"
		"  calendar = ( { program = \"n\"; } );\n"
		"};\n";

	write_file("polar.conf", text);
	snprintf(path, sizeof(path), "%s/polar.conf", dir);
	assert_int_equal(config_load(path, errs, &cfg), 0);
	fclose(errs);
	free(buf);
	const struct sched_program *p = sched_program_for(cfg, "c1", civil_day(2026, 6, 21), NULL);
	assert_non_null(p);
	assert_int_equal(sched_points(cfg, p, civil_day(2026, 6, 21), pts, 8), 1);
	assert_true(pts[0].level == 30);
	/* late September: all three, in time order; in ward time (UTC+7)
	 * Tromsø's sunset (16:43 UTC) comes after 23:00, so it sorts second */
	assert_int_equal(sched_points(cfg, p, civil_day(2026, 9, 23), pts, 8), 3);
	assert_true(pts[0].t_ms < pts[1].t_ms && pts[1].t_ms < pts[2].t_ms);
	assert_true(pts[0].level == 30 && pts[1].level == 100 && pts[2].level == 0);
	config_free(cfg);
}

static void expect_error(const char *lighting, const char *needle)
{
	int ret;
	char *errs = load(lighting, &ret, &(struct gw_config *){ NULL });

	assert_int_equal(ret, -EINVAL);
	if (!strstr(errs, needle))
		fail_msg("want '%s' in:\n%s", needle, errs);
	free(errs);
}

static void test_errors(void **state)
{
	/* head has 6 lines: lighting starts at line 7 */
	expect_error("lighting = {\n programs = ( { name = \"n\"; points = ( { at = \"sunset+x\"; level = 10; } ); } );\n"
		     " calendar = ( { program = \"n\"; } );\n};\n",
		     "gateway.conf:8: at 'sunset+x' must be a ward time");
	expect_error("lighting = {\n programs = ( { name = \"n\"; points = ( { at = \"25:00\"; level = 10; } ); } );\n"
		     " calendar = ( { program = \"n\"; } );\n};\n", "at '25:00' must be");
	expect_error("lighting = {\n programs = ( { name = \"n\"; points = ( { at = \"sunset\"; level = 150; } ); } );\n"
		     " calendar = ( { program = \"n\"; } );\n};\n", "gateway.conf:8: level must be a dim level 0..100");
	expect_error("lighting = {\n programs = ( { name = \"n\"; points = ( { at = \"sunset\"; level = 10; } ); } );\n"
		     " calendar = ( { program = \"m\"; } );\n};\n", "gateway.conf:9: no program named 'm'");
	expect_error("lighting = {\n programs = ( { name = \"n\"; points = ( { at = \"sunset\"; level = 10; } ); } );\n"
		     " calendar = ( { program = \"n\"; groups = [ \"nord\" ]; } );\n};\n", "no group named 'nord'");
	expect_error("lighting = {\n programs = ( { name = \"n\"; points = ( { at = \"sunset\"; level = 10; } ); } );\n"
		     " calendar = ( { program = \"n\"; weekdays = [ \"sun\", \"funday\" ]; } );\n};\n", "weekday 'funday'");
	expect_error("lighting = {\n special_days = ( { name = \"tet\"; dates = [ \"2026-02-30\" ]; } );\n};\n",
		     "gateway.conf:8: dates: '2026-02-30' must be a date");
	expect_error("lighting = {\n overrides = ( { ward = true; level = 5; start = \"2026-11-23T20:00\"; expires = \"2026-11-23T19:00\"; } );\n};\n",
		     "expires '2026-11-23T19:00' is not after start");
	expect_error("lighting = {\n overrides = ( { group = \"market\"; device = \"c1\"; level = 5; start = \"2026-11-23T20:00\"; expires = \"2026-11-23T21:00\"; } );\n};\n",
		     "an override has one target");
	expect_error("lighting = {\n metric = \"lampsOn\";\n};\n", "no profile has a writable register 'lampsOn' for the schedule to write (add writable = true");
	expect_error("lighting = {\n programes = ();\n};\n", "unknown key 'programes' in lighting (did you mean 'programs'?)");
	expect_error("lighting = {\n commands = { key_file = \"/k\"; window_s = 1; };\n};\n", "window_s must be 5..3600");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_across_midnight),
		cmocka_unit_test(test_calendar_precedence),
		cmocka_unit_test(test_overrides),
		cmocka_unit_test(test_config_overrides_and_days),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_polar),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
