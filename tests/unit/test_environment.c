/* The environment = { } section (gateway/environment.c): a valid one fills
 * sites, sources, flood levels and targets with their defaults; every
 * mistake is reported at its FILE:LINE. */
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

#include "unit_config.h"

#include "config.h"
#include "environment.h"

static char dir[64];

static int setup(void **state)
{
	if (ut_mkdir(dir, sizeof(dir), "wardgw-env") < 0)
		return -1;
	ut_write(dir, "profiles/aq.conf",
		 "profile = { name = \"aq\"; registers = (\n"
		 "  { metric = \"pm25\"; table = \"holding\"; address = 0; type = \"u16\"; unit = \"ug/m3\"; },\n"
		 "  { metric = \"pm10\"; table = \"holding\"; address = 1; type = \"u16\"; unit = \"ug/m3\"; },\n"
		 "  { metric = \"ozone\"; table = \"holding\"; address = 2; type = \"u16\"; unit = \"ug/m3\"; } ); };\n", 0644);
	ut_write(dir, "profiles/wl.conf",
		 "profile = { name = \"wl\"; registers = (\n"
		 "  { metric = \"waterDepth\"; table = \"holding\"; address = 0; type = \"u16\"; unit = \"cm\"; } ); };\n", 0644);
	return 0;
}

static int teardown(void **state)
{
	return ut_rmdir(dir);
}

/* gateway.conf: 4 lines of preamble, so the environment section starts at line 5. */
static char *load(const char *env, int *ret, struct gw_config **out)
{
	char *text = NULL, *buf;

	assert_true(asprintf(&text,
			     "gateway = { id = \"g\"; ward = \"w\"; lat = 11.8; lon = 106.9; data_dir = \"/tmp\"; };\n"
			     "devices = ( { name = \"aq-1\"; host = \"127.0.0.1\"; port = 502; profile = \"aq\"; },\n"
			     "  { name = \"wl-1\"; host = \"127.0.0.1\"; port = 503; profile = \"wl\"; poll_interval_ms = 2000; } );\n"
			     "mqtt = { uri = \"tcp://127.0.0.1:1883\"; };\n"
			     "%s\n", env) > 0);
	buf = ut_load(dir, text, ret, out);
	free(text);
	return buf;
}

static void expect(const char *errs, int line, const char *msg)
{
	ut_expect(errs, dir, "gateway.conf", line, msg);
}

static void test_valid(void **state)
{
	struct gw_config *cfg;
	int ret;
	char *errs = load("environment = {\n"
			  "  sites = ( { name = \"market\"; pm25 = \"aq-1\"; pm10 = \"aq-1\"; o3 = \"aq-1/ozone\"; },\n"
			  "            { name = \"underpass\"; water_depth = \"wl-1\"; } );\n"
			  "  targets = { aqi_day = { op = \"<=\"; value = 100.0; }; good_days_share = { op = \">=\"; value = 0.8; }; };\n"
			  "};", &ret, &cfg);

	if (ret)
		fprintf(stderr, "%s", errs);
	assert_int_equal(ret, 0);
	const struct environment_conf *c = cfg->environment;
	assert_non_null(c);
	assert_int_equal(c->hour_s, 3600);
	assert_true(fabs(c->hour_min_coverage - 0.75) < 1e-12);
	assert_int_equal(c->day_min_hours, 18);
	assert_int_equal(c->eight_hour_min, 6);
	assert_int_equal(c->share_days, 30);
	assert_int_equal(c->nsites, 2);
	assert_string_equal(c->sites[0].name, "market");
	assert_string_equal(c->sites[0].src[AQI_PM25].device, "aq-1");
	assert_string_equal(c->sites[0].src[AQI_PM25].metric, "pm25");
	assert_string_equal(c->sites[0].src[AQI_O3].metric, "ozone");
	assert_null(c->sites[0].src[AQI_NO2].device);
	assert_null(c->sites[0].src[ENV_WATER].device);
	/* default flood levels 10/20/30, hysteresis 2, clock stops after 3 polls */
	assert_string_equal(c->sites[1].src[ENV_WATER].metric, "waterDepth");
	assert_int_equal(c->sites[1].flood.nlevels, 3);
	assert_true(c->sites[1].flood.levels[2] == 30);
	assert_true(c->sites[1].flood.hysteresis == 2);
	assert_int_equal(c->sites[1].flood.max_gap_ms, 6000);
	assert_int_equal(c->kpi[ENV_AQI_DAY].op, OP_LE);
	assert_true(c->kpi[ENV_AQI_DAY].target == 100);
	assert_int_equal(c->kpi[ENV_GOOD_DAYS].op, OP_GE);
	assert_int_equal(c->kpi[ENV_AQI_HOUR].op, OP_NONE);
	free(errs);
	config_free(cfg);
}

static void test_errors(void **state)
{
	int ret;
	char *errs = load("environment = {\n"                                       /* 5 */
			  "  hour_s = 0;\n"                                           /* 6 */
			  "  sites = ( { name = \"a\"; pm25 = \"nope\"; },\n"         /* 7 */
			  "    { name = \"b\"; pm25 = \"aq-1/pm1\"; },\n"             /* 8 */
			  "    { name = \"c\"; o3 = \"aq-1/ozone\"; },\n"             /* 9 */
			  "    { name = \"a\"; water_depth = \"wl-1\"; flood_levels = [ 20.0, 10.0 ]; },\n" /* 10 */
			  "    { name = \"ward\"; water_depth = \"wl-1\"; flood_hysteresis = 15.0; },\n" /* 11 */
			  "    { name = \"e\"; pm25 = \"aq-1\"; flood_levels = [ 10.0 ]; colour = 1; },\n" /* 12 */
			  "    { name = \"f\"; } );\n"                                /* 13 */
			  "  targets = { aqi_week = { op = \"<=\"; value = 1.0; }; aqi_day = { op = \"<\"; value = 1.0; }; };\n" /* 14 */
			  "};", &ret, NULL);

	assert_int_equal(ret, -EINVAL);
	expect(errs, 6, "hour_s must be 1..3600 (got 0)");
	expect(errs, 7, "pm25: no device named 'nope'");
	expect(errs, 8, "pm25: profile 'aq' of device 'aq-1' has no metric 'pm1'");
	expect(errs, 9, "site 'c': VN_AQI needs pm25 or pm10");
	expect(errs, 10, "duplicate site 'a' (first at line 7)");
	expect(errs, 10, "site 'a': flood_levels must rise");
	expect(errs, 11, "site name 'ward' is taken");
	expect(errs, 11, "site 'ward': flood_hysteresis must be 0 or more and below the first level 10");
	expect(errs, 12, "unknown key 'colour'");
	expect(errs, 12, "site 'e': flood_levels without water_depth");
	expect(errs, 13, "site 'f' reads nothing");
	expect(errs, 14, "unknown key 'aqi_week'");
	expect(errs, 14, "target op must be \">=\" or \"<=\"");
	free(errs);

	errs = load("environment = { sites = ( ); };", &ret, NULL);
	assert_int_equal(ret, -EINVAL);
	expect(errs, 5, "environment: sites must be a list of at least one site");
	free(errs);
	errs = load("environment = { sites = ( { name = \"x\"; water_depth = \"wl-1\"; flood_levels = [ 1.0, 2.0, 3.0, 4.0, 5.0 ]; } ); };",
		    &ret, NULL);
	assert_int_equal(ret, -EINVAL);
	expect(errs, 5, "flood_levels must list 1..4 depths (got 5)");
	free(errs);
}

/* A reload compares sections: what changed waits for a restart (ops.c). */
static void test_equal(void **state)
{
	struct gw_config *a, *b, *c;
	int ret;
	const char *base = "environment = { sites = ( { name = \"m\"; pm25 = \"aq-1\"; },\n"
			   "  { name = \"u\"; water_depth = \"wl-1\"; flood_levels = [ 10.0, 20.0 ]; } ); };";

	free(load(base, &ret, &a));
	assert_int_equal(ret, 0);
	free(load(base, &ret, &b));
	assert_int_equal(ret, 0);
	free(load("environment = { sites = ( { name = \"m\"; pm25 = \"aq-1\"; },\n"
		  "  { name = \"u\"; water_depth = \"wl-1\"; flood_levels = [ 10.0, 25.0 ]; } ); };", &ret, &c));
	assert_int_equal(ret, 0);
	assert_true(environment_conf_equal(a->environment, b->environment));
	assert_false(environment_conf_equal(a->environment, c->environment));
	assert_false(environment_conf_equal(a->environment, NULL));
	assert_true(environment_conf_equal(NULL, NULL));
	config_free(a);
	config_free(b);
	config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_equal),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
