/* The service table (service.h): every part that is not a driver is found
 * by its section name, config.c hands it its section (errors at the
 * section's FILE:LINE), asks it about derived metrics, and knows its
 * section name at the top level; the status page's http { } is parsed by
 * its service into struct http_conf. */
#include <errno.h>
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
#include "httpconf.h"
#include "service.h"

static char dir[64];

static const char profile[] =
	"profile = {\n"
	"  name = \"cab\";\n"
	"  registers = (\n"
	"    { metric = \"targetLightCommand\"; table = \"holding\"; address = 0; type = \"u16\"; unit = \"%\"; writable = true; },\n"
	"    { metric = \"lampsInstalled\"; table = \"input\"; address = 1; type = \"u16\"; },\n"
	"    { metric = \"lampsOn\"; table = \"input\"; address = 2; type = \"u16\"; }\n"
	"  );\n"
	"};\n";

#define HEAD "gateway = { id = \"gw\"; lat = 11.8; lon = 106.9; };\n" \
	"devices = ( { name = \"c1\"; host = \"127.0.0.1\"; profile = \"cab\"; } );\n"
#define LIGHTING "lighting = {\n" \
	"  programs = ( { name = \"night\"; points = ( { at = \"18:00\"; level = 100; }, { at = \"06:00\"; level = 0; } ); } );\n" \
	"  calendar = ( { program = \"night\"; } );\n" \
	"};\n"

static int setup(void **state)
{
	if (ut_mkdir(dir, sizeof(dir), "wardgw-unit") < 0)
		return -1;
	ut_write(dir, "profiles/cab.conf", profile, 0644);
	return 0;
}

static int teardown(void **state)
{
	return ut_rmdir(dir);
}

/* Load gateway.conf (written from @text); the error text, malloc'd. */
static char *load(const char *text, int *ret, struct gw_config **cfg_out)
{
	return ut_load(dir, text, ret, cfg_out);
}

static void expect(const char *errs, int line, const char *msg)
{
	ut_expect(errs, dir, "gateway.conf", line, msg);
}

/* Each section name once; each found by its name; the ones that run
 * have a stop for their start. */
static void test_table(void **state)
{
	size_t n = 0;

	for (const struct service_ops *const *s = services; *s; s++, n++) {
		if ((*s)->name) {
			assert_ptr_equal(service_find((*s)->name), *s);
			for (const struct service_ops *const *t = s + 1; *t; t++)
				assert_true(!(*t)->name || strcmp((*s)->name, (*t)->name));
			assert_non_null((*s)->parse);
			assert_non_null((*s)->conf_free);
		}
		assert_true(!(*s)->start == !(*s)->stop);
		assert_true(!(*s)->command_topic == !(*s)->command);
	}
	assert_true(n >= 6);
	assert_ptr_equal(service_find("lighting"), &lighting_service);
	assert_ptr_equal(service_find("http"), &http_service);
	assert_null(service_find("mqtt"));      /* the core's, not a service's */
	assert_null(service_find("nope"));
}

/* A section goes to its service; without it, nothing is configured. */
static void test_sections(void **state)
{
	int ret;
	struct gw_config *cfg;
	char *errs = load(HEAD LIGHTING, &ret, &cfg);

	assert_string_equal(errs, "");
	assert_int_equal(ret, 0);
	assert_true(lighting_service.configured(cfg));
	assert_false(coverage_service.configured(cfg));
	assert_false(http_service.configured(cfg));
	assert_null(cfg->http);
	assert_int_equal(http_chart_hours(cfg), 24);
	/* MQTT commands go to the lighting service when it is configured */
	assert_ptr_equal(services_commands(cfg), &lighting_service);
	assert_string_equal(lighting_service.command_topic, "cmd/lighting");
	config_free(cfg);
	free(errs);

	errs = load(HEAD, &ret, &cfg);
	assert_int_equal(ret, 0);
	assert_false(lighting_service.configured(cfg));
	assert_null(services_commands(cfg));
	config_free(cfg);
	free(errs);
}

/* A typo in a service's section name: "did you mean" names the service. */
static void test_top_level_names(void **state)
{
	int ret;
	char *errs = load(HEAD "lightin = { };\n" "enviroment = { };\n", &ret, NULL);

	assert_int_equal(ret, -EINVAL);
	expect(errs, 3, "unknown key 'lightin' in the top level (did you mean 'lighting'?)");
	expect(errs, 4, "unknown key 'enviroment' in the top level (did you mean 'environment'?)");
	free(errs);
}

/* The schedule's derived series are metrics a KPI may use, only with a
 * lighting section; the lamp alarms are known to mttr KPIs. */
static void test_derived_metrics(void **state)
{
	static const char kpi[] =
		"kpis = ( { name = \"sched\"; metric = \"lampsScheduled\"; aggregate = \"mean\"; window = \"1h\"; },\n"
		"         { name = \"mttr\"; metric = \"lampFailure\"; aggregate = \"mttr\"; window = \"1d\"; } );\n";
	char text[2048];
	int ret;
	struct gw_config *cfg;
	char *errs;

	snprintf(text, sizeof(text), "%s%s%s", HEAD, LIGHTING, kpi);
	errs = load(text, &ret, &cfg);
	assert_string_equal(errs, "");
	assert_int_equal(ret, 0);
	assert_int_equal(cfg->nkpis, 2);
	config_free(cfg);
	free(errs);

	snprintf(text, sizeof(text), "%s%s", HEAD, kpi);
	errs = load(text, &ret, NULL);
	assert_int_equal(ret, -EINVAL);
	expect(errs, 3, "no profile of a configured device has a metric 'lampsScheduled'");
	assert_null(strstr(errs, "lampFailure"));
	free(errs);
}

/* The kpis section belongs to the KPI service: last in the table (its
 * parse sees every other section), its errors at the section's lines, the
 * top level's "did you mean" from its name, nothing left after conf_free. */
static void test_kpis(void **state)
{
	static const char kpi[] =
		"kpis = ( { name = \"on\"; metric = \"lampsOn\"; aggregate = \"last\"; window = \"15m\"; } );\n";
	char text[2048];
	const struct service_ops *const *s = services;
	int ret;
	struct gw_config *cfg;
	char *errs;

	assert_ptr_equal(service_find("kpis"), &kpi_service);
	while (s[1])
		s++;
	assert_ptr_equal(*s, &kpi_service);

	snprintf(text, sizeof(text), "%s%s", HEAD, kpi);
	errs = load(text, &ret, &cfg);
	assert_string_equal(errs, "");
	assert_int_equal(ret, 0);
	assert_true(kpi_service.configured(cfg));
	assert_int_equal(cfg->nkpis, 1);
	assert_string_equal(cfg->kpis[0].name, "on");
	assert_int_equal(cfg->kpis[0].window_ms, 15 * 60000);
	kpi_service.conf_free(cfg);
	assert_null(cfg->kpis);
	assert_false(kpi_service.configured(cfg));
	config_free(cfg);
	free(errs);

	errs = load(HEAD, &ret, &cfg);
	assert_int_equal(ret, 0);
	assert_false(kpi_service.configured(cfg));
	config_free(cfg);
	free(errs);

	errs = load(HEAD "kpis = { };\n" "kpi = ( );\n", &ret, NULL);
	assert_int_equal(ret, -EINVAL);
	expect(errs, 3, "kpis must be a list: kpis = ( { name = \"...\"; ... } );");
	expect(errs, 4, "unknown key 'kpi' in the top level (did you mean 'kpis'?)");
	free(errs);
}

/* http { }: defaults, and its checks at the section's lines. */
static void test_http(void **state)
{
	int ret;
	struct gw_config *cfg;
	char *errs = load(HEAD "http = { chart_hours = 48; };\n", &ret, &cfg);

	assert_string_equal(errs, "");
	assert_int_equal(ret, 0);
	assert_non_null(cfg->http);
	assert_true(http_service.configured(cfg));
	assert_string_equal(cfg->http->listen, "127.0.0.1:8088");
	assert_int_equal(cfg->http->chart_hours, 48);
	assert_int_equal(http_chart_hours(cfg), 48);
	assert_int_equal(cfg->http->max_conns, 64);
	assert_int_equal(cfg->http->at.line, 3);
	config_free(cfg);
	free(errs);

	errs = load(HEAD "http = {\n  listen = \"0.0.0.0:8088\";\n  user = \"tech\";\n  chart_hours = 0;\n  colour = 1;\n};\n",
		    &ret, NULL);
	assert_int_equal(ret, -EINVAL);
	expect(errs, 3, "http: user and password_file go together (basic auth)");
	expect(errs, 4, "http listens on 0.0.0.0:8088, which is not loopback: set token_file");
	expect(errs, 6, "chart_hours");
	expect(errs, 7, "unknown key 'colour' in http");
	free(errs);

	errs = load(HEAD "http = 5;\n", &ret, NULL);
	assert_int_equal(ret, -EINVAL);
	expect(errs, 3, "http must be a group: http = { ... };");
	free(errs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_top_level_names),
		cmocka_unit_test(test_derived_metrics),
		cmocka_unit_test(test_kpis),
		cmocka_unit_test(test_http),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
