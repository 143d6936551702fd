/* Config errors of the Wi-Fi and coverage sources at FILE:LINE: modem,
 * hostapd and push devices, the ingest section, delta_ratio KPIs. */
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

#include "unit_files.h"

#include "config.h"
#include "ingest.h"

static char dir[64];

static void write_file(const char *name, const char *text, int mode)
{
	ut_write(dir, name, text, (mode_t)mode);
}

static int setup(void **state)
{
	char p[128], cmd[300];

	snprintf(dir, sizeof(dir), "/tmp/wardgw-unit.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(p, sizeof(p), "%s/profiles", dir);
	mkdir(p, 0700);
	snprintf(cmd, sizeof(cmd), "cp config/profiles/wifi-ap.conf config/profiles/cell-modem.conf '%s/profiles/'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	return ut_rmdir(dir);
}

/* Load a config whose 4th line on is @rest; the errors, "" when valid. */
static char *load(const char *rest, struct gw_config **keep)
{
	char path[128], conf[4096];
	struct gw_config *cfg = NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *errs = open_memstream(&buf, &len);

	snprintf(conf, sizeof(conf),
		 "gateway = { id = \"g\"; lat = 11.0; lon = 106.0; };\n"
		 "profiles_dir = \"profiles\";\n"
		 "mqtt = { uri = \"tcp://127.0.0.1:1883\"; };\n"
		 "%s\n", rest);
	write_file("gw.conf", conf, 0600);
	snprintf(path, sizeof(path), "%s/gw.conf", dir);
	config_load(path, errs, &cfg);
	fclose(errs);
	if (keep)
		*keep = cfg;
	else
		config_free(cfg);
	return buf;
}

static void expect(const char *rest, const char *msg)
{
	char *e = load(rest, NULL);
	if (!strstr(e, msg))
		fail_msg("config '%s': got '%s', want '%s'", rest, e, msg);
	free(e);
}

static void test_devices(void **state)
{
	struct gw_config *cfg;
	char *e = load("devices = (\n"
		       " { name = \"m\"; driver = \"modem\"; profile = \"cell-modem\"; port = \"tty0\"; poll_interval_ms = 10000; timeout_ms = 1000; },\n"
		       " { name = \"ap\"; driver = \"hostapd\"; profile = \"wifi-ap\"; ctrl_path = \"/run/hostapd/wlan0\"; poll_interval_ms = 5000; },\n"
		       " { name = \"p\"; driver = \"push\"; profile = \"wifi-ap\"; } );\n"
		       "kpis = ( { name = \"k\"; aggregate = \"delta_ratio\"; metric = \"sessionSeconds\"; denominator = \"sessionsEnded\"; window = \"1d\"; } );",
		       &cfg);
	assert_string_equal(e, "");
	free(e);
	/* a relative port is relative to the config file */
	const struct device_conf *m = config_device(cfg, "m");
	assert_non_null(m);
	char want[128];
	snprintf(want, sizeof(want), "%s/tty0", dir);
	assert_string_equal(*(char **)m->drv, want);
	assert_string_equal(cfg->kpis[0].unit, "s");
	config_free(cfg);

	expect("devices = (\n { name = \"m\"; driver = \"modem\"; profile = \"cell-modem\"; port = \"/dev/ttyUSB2\"; baud = 12345; poll_interval_ms = 10000; } );",
	       "gw.conf:5: device m: baud must be 9600");
	expect("devices = (\n { name = \"m\"; driver = \"modem\"; profile = \"cell-modem\"; port = \"/dev/ttyUSB2\"; poll_interval_ms = 1000; timeout_ms = 500; } );",
	       "must exceed 3 x timeout_ms");
	expect("devices = (\n { name = \"m\"; driver = \"modem\"; profile = \"cell-modem\"; port = \"/dev/ttyUSB2\"; lat = 11.0; poll_interval_ms = 10000; } );",
	       "give both lat and lon");
	expect("devices = (\n { name = \"m\"; driver = \"modem\"; profile = \"cell-modem\"; poll_interval_ms = 10000; } );",
	       "missing required key 'port'");
	expect("devices = (\n { name = \"ap\"; driver = \"hostapd\"; profile = \"wifi-ap\"; ctrl_path = \"/run/hostapd/wlan0\"; poll_interval_ms = 1000; timeout_ms = 500; } );",
	       "gw.conf:5: device ap: poll_interval_ms (1000) must exceed 4 x timeout_ms (500)");
	expect("devices = (\n { name = \"ap\"; driver = \"hostapd\"; profile = \"wifi-ap\"; ctrl_path = \"/run/hostapd/wlan0\"; local_dir = \"/a/very/long/directory/name/for/unix/sockets/x\"; poll_interval_ms = 5000; } );",
	       "local_dir must be at most 40 bytes");
	expect("devices = ( { name = \"p\"; driver = \"push\"; profile = \"wifi-ap\"; } );\n"
	       "kpis = (\n { name = \"k\"; aggregate = \"delta_ratio\"; metric = \"sessionSeconds\"; denominator = \"clients\"; window = \"1d\"; } );",
	       "gw.conf:6: aggregate delta_ratio needs counters: mark register 'clients'");
}

static void test_ingest(void **state)
{
	struct gw_config *cfg;
	char *e;

	write_file("tokens", "# sources\nsurvey-app 0123456789abcdef0123\n", 0600);
	e = load("devices = ( { name = \"p\"; driver = \"push\"; profile = \"wifi-ap\"; } );\n"
		 "ingest = { token_file = \"tokens\"; };", &cfg);
	assert_string_equal(e, "");
	free(e);
	assert_string_equal(cfg->ingest->host, "127.0.0.1");
	assert_int_equal(cfg->ingest->port, 8089);
	assert_int_equal(cfg->ingest->ntokens, 1);
	assert_string_equal(cfg->ingest->tokens[0].name, "survey-app");
	config_free(cfg);
	expect("devices = ( { name = \"p\"; driver = \"push\"; profile = \"wifi-ap\"; } );\n"
	       "ingest = {\n listen = \"8089\"; token_file = \"tokens\"; };", "gw.conf:5: ingest: listen must be HOST:PORT");
	expect("devices = ( { name = \"p\"; driver = \"push\"; profile = \"wifi-ap\"; } );\n"
	       "ingest = { listen = \"127.0.0.1:8089\"; };", "ingest: missing required key 'token_file'");
	write_file("tokens", "survey-app short\n", 0600);
	expect("devices = ( { name = \"p\"; driver = \"push\"; profile = \"wifi-ap\"; } );\n"
	       "ingest = {\n token_file = \"tokens\"; };", "tokens:1: want 'NAME TOKEN'");
	write_file("tokens", "survey-app 0123456789abcdef0123\n", 0640);
	expect("devices = ( { name = \"p\"; driver = \"push\"; profile = \"wifi-ap\"; } );\n"
	       "ingest = {\n token_file = \"tokens\"; };", "gw.conf:6: token_file");
	expect("devices = ( { name = \"p\"; driver = \"push\"; profile = \"wifi-ap\"; } );\n"
	       "ingest = {\n token_file = \"tokens\"; };", "is readable by group or others (mode 640)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_devices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ingest, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
