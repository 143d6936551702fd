/* Config errors: every kind of mistake is reported at its FILE:LINE, all of
 * them at once; valid files fill the struct with defaults and overrides. */
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
#include "driver.h"

static char dir[64];

static const char good_profile[] =
	"profile = {\n"
	"  name = \"meter\";\n"
	"  registers = (\n"
	"    { metric = \"supplyVoltage\"; table = \"input\"; address = 0x0000; type = \"f32\"; unit = \"V\"; },\n"
	"    { metric = \"activeEnergy\"; table = \"holding\"; address = 10; type = \"u32\"; order = \"CDAB\"; scale = 0.01; unit = \"kWh\"; },\n"
	"    { metric = \"door\"; table = \"holding\"; address = 4; type = \"bit\"; bit = 3; }\n"
	"  );\n"
	"};\n";

static void write_file(const char *name, const char *text)
{
	ut_write(dir, name, text, 0644);
}

static int setup(void **state)
{
	if (ut_mkdir(dir, sizeof(dir), "wardgw-unit") < 0)
		return -1;
	write_file("profiles/meter.conf", good_profile);
	return 0;
}

static int teardown(void **state)
{
	return ut_rmdir(dir);
}

/* Load gateway.conf (written from @text) and return the error text. */
static char *load(const char *text, int *ret, struct gw_config **cfg_out)
{
	return ut_load(dir, text, ret, cfg_out);
}

/* Assert that @errs has a line "<dir>/<file>:<line>: <msg...>". */
static void expect(const char *errs, const char *file, int line, const char *msg)
{
	ut_expect(errs, dir, file, line, msg);
}

#define HEAD "gateway = { id = \"gw\"; lat = 11.8; lon = 106.9; };\n"
#define DEV "devices = ( { name = \"d\"; host = \"127.0.0.1\"; profile = \"meter\"; } );\n"

static void test_valid(void **state)
{
	int ret;
	struct gw_config *cfg;
	char *errs = load(HEAD
			  "mqtt = { topic_prefix = \"dongnai/ward\"; };\n"
			  "device_defaults = { poll_interval_ms = 5000; timeout_ms = 800; };\n"
			  "devices = (\n"
			  "  { name = \"m\"; count = 3; host = \"127.0.0.1\"; port = 1502; profile = \"meter\"; },\n"
			  "  { name = \"x\"; host = \"10.0.0.2\"; unit = 7; profile = \"meter\"; timeout_ms = 100; }\n"
			  ");\n", &ret, &cfg);

	assert_int_equal(ret, 0);
	assert_string_equal(errs, "");
	assert_string_equal(cfg->gateway_id, "gw");
	assert_true(cfg->lat == 11.8 && cfg->lon == 106.9);
	assert_int_equal(cfg->raw_retention_days, 14);      /* defaults */
	assert_int_equal(cfg->batch_ms, 200);
	assert_string_equal(cfg->mqtt_uri, "tcp://127.0.0.1:1883");
	assert_int_equal(cfg->mqtt_qos, 1);
	assert_string_equal(cfg->topic_prefix, "dongnai/ward");
	assert_int_equal(cfg->ndevices, 4);
	assert_string_equal(cfg->devices[0].name, "m-001");
	assert_string_equal(cfg->devices[2].name, "m-003");
	assert_int_equal(cfg->devices[2].poll_interval_ms, 5000);  /* device_defaults */
	assert_int_equal(cfg->devices[3].timeout_ms, 100);          /* override */
	assert_int_equal(cfg->devices[3].poll_interval_ms, 5000);
	assert_ptr_equal(cfg->devices[3].driver, &modbus_tcp_driver);
	assert_ptr_equal(cfg->devices[0].profile, config_profile(cfg, "meter"));
	assert_ptr_equal(config_device(cfg, "m-002"), &cfg->devices[1]);
	assert_null(config_device(cfg, "m"));
	assert_int_equal(strlen(cfg->digest), 16);
	const struct profile *p = config_profile(cfg, "meter");
	assert_int_equal(p->nregs, 3);
	assert_int_equal(p->regs[1].address, 10);
	assert_int_equal(p->regs[1].type, TYPE_U32);
	assert_int_equal(p->regs[1].order.src[0], 2);   /* CDAB: value byte A is wire byte 2 */
	assert_true(p->regs[1].scale == 0.01);
	assert_string_equal(p->regs[1].unit, "kWh");
	assert_int_equal(p->regs[2].type, TYPE_BIT);
	assert_int_equal(p->regs[2].bit, 3);
	assert_int_equal(p->regs[0].at.line, 4);
	config_free(cfg);
	free(errs);
}

static void test_ports_step_with_count(void **state)
{
	int ret;
	struct gw_config *cfg;
	char *errs = load(HEAD "devices = ( { name = \"m\"; count = 3; host = \"h\"; port = 1502; profile = \"meter\"; } );\n",
			  &ret, &cfg);

	assert_int_equal(ret, 0);
	/* the driver's own struct starts with host, then port */
	struct { char *host; int port; } *c0 = cfg->devices[0].drv, *c2 = cfg->devices[2].drv;
	assert_int_equal(c0->port, 1502);
	assert_int_equal(c2->port, 1504);
	config_free(cfg);
	free(errs);
}

static void test_syntax(void **state)
{
	int ret;
	char *errs = load(HEAD "store = { path = \"x\" \n batch_ms = ; };\n" DEV, &ret, NULL);

	assert_int_equal(ret, -EINVAL);
	expect(errs, "gateway.conf", 3, "syntax error");
	free(errs);
}

static void test_unknown_key(void **state)
{
	int ret;
	char *errs = load(HEAD "stor = { path = \"x\"; };\n" DEV, &ret, NULL);

	assert_int_equal(ret, -EINVAL);
	expect(errs, "gateway.conf", 2, "unknown key 'stor' in the top level (did you mean 'store'?)");
	free(errs);
}

static void test_bad_value_and_range(void **state)
{
	int ret;
	char *errs = load(HEAD
			  "mqtt = { qos = 2;\n"
			  "  keepalive = \"thirty\"; };\n"
			  "store = { batch_ms = 1.5; };\n" DEV, &ret, NULL);

	assert_int_equal(ret, -EINVAL);
	expect(errs, "gateway.conf", 2, "qos must be 0..1 (got 2)");
	expect(errs, "gateway.conf", 3, "keepalive must be a number");
	expect(errs, "gateway.conf", 4, "batch_ms must be a whole number (got 1.5)");
	free(errs);
}

static void test_missing_required(void **state)
{
	int ret;
	char *errs = load("gateway = { id = \"gw\"; lat = 1.0; };\n"
			  "devices = ( { name = \"d\"; profile = \"meter\"; } );\n", &ret, NULL);

	assert_int_equal(ret, -EINVAL);
	expect(errs, "gateway.conf", 1, "gateway: missing required key 'lon'");
	expect(errs, "gateway.conf", 2, "device d: missing required key 'host'");
	free(errs);
}

static void test_profile_missing_and_duplicates(void **state)
{
	int ret;
	char *errs = load(HEAD
			  "devices = (\n"
			  "  { name = \"a\"; host = \"h\"; profile = \"meterr\"; },\n"
			  "  { name = \"a\"; host = \"h\"; profile = \"meter\"; }\n"
			  ");\n", &ret, NULL);

	assert_int_equal(ret, -EINVAL);
	expect(errs, "gateway.conf", 3, "device a: no profile named 'meterr' in profiles (did you mean 'meter'?)");
	expect(errs, "gateway.conf", 4, "device name 'a' is used twice (also at line 3)");
	free(errs);
}

/* Lamp settle times: the lamp type's defaults, a profile's, a device's. */
static void test_lamp_settle(void **state)
{
	int ret, settle, restrike;
	struct gw_config *cfg;
	char *errs;

	write_file("profiles/hid.conf", "profile = { name = \"hid\"; lamp_type = \"hid\";\n"
		   "  registers = ( { metric = \"lampsOn\"; table = \"holding\"; address = 1; type = \"u16\"; } ); };\n");
	errs = load(HEAD
		    "devices = (\n"
		    "  { name = \"led\"; host = \"h\"; profile = \"meter\"; },\n"
		    "  { name = \"sodium\"; host = \"h\"; profile = \"hid\"; },\n"
		    "  { name = \"quick\"; host = \"h\"; profile = \"hid\"; settle_s = 120; },\n"
		    "  { name = \"fade\"; host = \"h\"; profile = \"meter\"; settle_s = 5; restrike_s = 60; }\n"
		    ");\n", &ret, &cfg);
	assert_int_equal(ret, 0);
	device_settle(config_device(cfg, "led"), &settle, &restrike);
	assert_int_equal(settle, SETTLE_LED_S);
	assert_int_equal(restrike, SETTLE_LED_S);
	device_settle(config_device(cfg, "sodium"), &settle, &restrike);
	assert_int_equal(settle, SETTLE_HID_S);
	assert_int_equal(restrike, RESTRIKE_HID_S);
	device_settle(config_device(cfg, "quick"), &settle, &restrike);
	assert_int_equal(settle, 120);
	assert_int_equal(restrike, RESTRIKE_HID_S);
	device_settle(config_device(cfg, "fade"), &settle, &restrike);
	assert_int_equal(settle, 5);
	assert_int_equal(restrike, 60);
	config_free(cfg);
	free(errs);

	errs = load(HEAD
		    "devices = (\n"
		    "  { name = \"a\"; host = \"h\"; profile = \"meter\"; lamp_type = \"sodium\"; },\n"
		    "  { name = \"b\"; host = \"h\"; profile = \"meter\"; settle_s = -1; }\n"
		    ");\n", &ret, NULL);
	assert_int_equal(ret, -EINVAL);
	expect(errs, "gateway.conf", 3, "lamp_type must be \"led\" or \"hid\" (sodium, metal halide) (got 'sodium')");
	expect(errs, "gateway.conf", 4, "settle_s must be 0..7200 (got -1)");
	free(errs);
	write_file("profiles/hid.conf", "profile = { name = \"hid\"; lamp_type = \"hps\"; settle_s = 1.5;\n"
		   "  registers = ( { metric = \"lampsOn\"; table = \"holding\"; address = 1; type = \"u16\"; } ); };\n");
	errs = load(HEAD DEV, &ret, NULL);
	unlink(strcat(strcpy((char[256]){ 0 }, dir), "/profiles/hid.conf"));
	assert_int_equal(ret, -EINVAL);
	expect(errs, "profiles/hid.conf", 1, "lamp_type must be \"led\" or \"hid\" (sodium, metal halide) (got 'hps')");
	expect(errs, "profiles/hid.conf", 1, "settle_s must be a whole number of seconds 0..7200");
	free(errs);
}

static void test_duplicate_profile(void **state)
{
	int ret;
	char *errs;

	write_file("profiles/zz-copy.conf", good_profile);
	errs = load(HEAD DEV, &ret, NULL);
	unlink(strcat(strcpy((char[256]){ 0 }, dir), "/profiles/zz-copy.conf"));
	assert_int_equal(ret, -EINVAL);
	expect(errs, "profiles/zz-copy.conf", 1, "profile 'meter' is defined twice");
	free(errs);
}

static void test_register_errors(void **state)
{
	int ret;
	char *errs;

	write_file("profiles/bad.conf",
		   "profile = {\n"
		   "  name = \"bad\";\n"
		   "  registers = (\n"
		   "    { metric = \"a\"; table = \"input\"; address = 0; type = \"float\"; },\n"
		   "    { metric = \"b\"; table = \"input\"; address = 0; type = \"u16\"; order = \"CDAB\"; },\n"
		   "    { metric = \"c\"; table = \"holding\"; address = 0xFFFF; type = \"u32\"; },\n"
		   "    { metric = \"d\"; table = \"holding\"; address = 1; type = \"u16\"; bit = 2; },\n"
		   "    { metric = \"e\"; table = \"holding\"; address = 1; scale = 0; },\n"
		   "    { metric = \"a\"; table = \"coil\"; address = 1; type = \"u16\"; },\n"
		   "    { metric = \"g\"; table = \"holding\"; address = 1; type = \"bit\"; }\n"
		   "  );\n"
		   "};\n");
	errs = load(HEAD DEV, &ret, NULL);
	unlink(strcat(strcpy((char[256]){ 0 }, dir), "/profiles/bad.conf"));
	assert_int_equal(ret, -EINVAL);
	expect(errs, "profiles/bad.conf", 4, "type must be one of u16 s16 u32 s32 u64 s64 f32 f64 bit (got 'float')");
	expect(errs, "profiles/bad.conf", 5, "order 'CDAB' does not fit a u16; use one of AB BA");
	expect(errs, "profiles/bad.conf", 6, "address must be 0..65534 for a u32 (got 65535)");
	expect(errs, "profiles/bad.conf", 7, "bit applies only to type \"bit\"");
	expect(errs, "profiles/bad.conf", 8, "scale must be a non-zero number");
	expect(errs, "profiles/bad.conf", 9, "a coil register is a single bit");
	expect(errs, "profiles/bad.conf", 9, "metric 'a' appears twice in profile bad (first at line 4)");
	expect(errs, "profiles/bad.conf", 10, "register g: type \"bit\" needs 'bit' (0..15)");
	free(errs);
}

static void test_cross_field_and_all_sorted(void **state)
{
	int ret, n = 0, last = 0;
	char *errs = load(HEAD
			  "log = { level = \"loud\"; };\n"
			  "mqtt = { uri = \"http://x\"; };\n"
			  "devices = ( { name = \"d\"; host = \"h\"; profile = \"meter\";\n"
			  "  poll_interval_ms = 500; timeout_ms = 500; } );\n", &ret, NULL);

	assert_int_equal(ret, -EINVAL);
	expect(errs, "gateway.conf", 2, "log level must be error, warn, info or debug (got 'loud')");
	expect(errs, "gateway.conf", 3, "mqtt uri 'http://x' must start with tcp://");
	expect(errs, "gateway.conf", 4, "device d: timeout_ms (500) must be less than poll_interval_ms (500)");
	/* all three reported, in line order */
	for (char *l = errs; (l = strstr(l, "gateway.conf:")); l++) {
		int line = atoi(l + strlen("gateway.conf:"));
		assert_true(line >= last);
		last = line;
		n++;
	}
	assert_int_equal(n, 3);
	free(errs);
}

static void test_missing_file(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *errs = open_memstream(&buf, &len);
	struct gw_config *cfg = (void *)1;

	assert_true(config_load("/nonexistent/wardgw.conf", errs, &cfg) < 0);
	fclose(errs);
	assert_null(cfg);
	assert_non_null(strstr(buf, "/nonexistent/wardgw.conf: cannot read"));
	free(buf);
}


/* Issue 15 item 16: a gateway that only keeps coverage or takes pushes needs
 * no Modbus device; with nothing at all it is still refused. */
static void test_no_devices(void **state)
{
	int ret;
	struct gw_config *cfg;
	char *errs = load(HEAD "coverage = { boundary = ( [106.0, 11.0], [106.01, 11.0], [106.01, 11.01] ); };\n",
			  &ret, &cfg);

	assert_string_equal(errs, "");
	assert_int_equal(ret, 0);
	assert_int_equal(cfg->ndevices, 0);
	config_free(cfg);
	free(errs);
	errs = load(HEAD, &ret, NULL);
	assert_int_equal(ret, -EINVAL);
	assert_non_null(strstr(errs, "no 'devices' list, no 'coverage' and no 'ingest': nothing to do"));
	free(errs);
}

/* Issue 15 item 16: the unknown-driver error lists every driver there is. */
static void test_unknown_driver_lists_all(void **state)
{
	int ret;
	char *errs = load(HEAD "devices = ( { name = \"d\";\n driver = \"modbus-udp\"; host = \"h\"; profile = \"meter\"; } );\n",
			  &ret, NULL);

	assert_int_equal(ret, -EINVAL);
	expect(errs, "gateway.conf", 3, "unknown driver 'modbus-udp' (known: modbus-tcp, modbus-rtu, modem, hostapd, push)");
	free(errs);
}

/* Issue 15 item 16 (fuzz finding ubsan-qsort-null-no-profiles): a profiles
 * folder without any *.conf is no error of its own, and no qsort(NULL). */
static void test_empty_profiles_dir(void **state)
{
	int ret;
	char sub[128];
	char *errs;

	snprintf(sub, sizeof(sub), "%s/empty", dir);
	mkdir(sub, 0755);
	errs = load(HEAD "profiles_dir = \"empty\";\n" DEV, &ret, NULL);
	assert_int_equal(ret, -EINVAL);
	expect(errs, "gateway.conf", 3, "device d: no profile named 'meter' in");
	free(errs);
}

/* A password over tcp:// is refused unless the config says it is meant;
 * then it loads with a warning at the password_file line. */
static void test_plaintext_password(void **state)
{
	int ret;
	struct gw_config *cfg;
	char buf[512];
	char *errs;

	write_file("mqtt.pw", "secret\n");
	errs = load(HEAD "mqtt = { uri = \"tcp://10.0.0.9:1883\"; username = \"gw\";\n"
		    "  password_file = \"mqtt.pw\"; };\n" DEV, &ret, NULL);
	assert_int_equal(ret, -EINVAL);
	expect(errs, "gateway.conf", 3, "mqtt: password_file over tcp:// sends the password in clear text");
	free(errs);

	errs = load(HEAD "mqtt = { uri = \"ssl://10.0.0.9:8883\"; username = \"gw\";\n"
		    "  password_file = \"mqtt.pw\"; };\n" DEV, &ret, &cfg);
	assert_int_equal(ret, 0);
	assert_null(config_plaintext_warning(cfg, buf, sizeof(buf)));
	config_free(cfg);
	free(errs);

	errs = load(HEAD "mqtt = { uri = \"mqtt://10.0.0.9\"; username = \"gw\";\n"
		    "  password_file = \"mqtt.pw\"; allow_plaintext_password = true; };\n" DEV, &ret, &cfg);
	assert_int_equal(ret, 0);
	assert_string_equal(errs, "");
	assert_non_null(config_plaintext_warning(cfg, buf, sizeof(buf)));
	assert_non_null(strstr(buf, "gateway.conf:3: warning: mqtt password sent in clear text over mqtt://10.0.0.9"));
	config_free(cfg);
	free(errs);
}

/* mqtt.uris: the nodes of a cluster, in order; uri keeps working; each
 * mistake at its file:line. */
static void test_mqtt_uris(void **state)
{
	int ret;
	struct gw_config *cfg;
	char *errs;
	static const struct {
		const char *mqtt;
		int line;
		const char *msg;
	} bad[] = {
		{ "uri = \"tcp://a:1883\";\n  uris = [ \"tcp://b:1883\" ];", 4,
		  "mqtt: uri and uris are both given" },
		{ "uris = [ ];", 3, "mqtt: uris is empty" },
		{ "uris = \"tcp://a:1883\";", 3, "mqtt: uris must be a list of broker addresses" },
		{ "uris = [ \"tcp://a:1883\",\n  \"http://b:1883\" ];", 4,
		  "mqtt: uris entry 2 'http://b:1883' must start with tcp://, ssl://, mqtt:// or mqtts://" },
		{ "uris = [ \"tcp://a:1883\", \"ssl://b:8883\" ];", 3,
		  "mqtt: uris entry 2 'ssl://b:8883' is TLS but entry 1 is plain text" },
		{ "uris = [ \"mqtts://a:8883\", \"mqtt://b\" ];", 3,
		  "mqtt: uris entry 2 'mqtt://b' is plain text but entry 1 is TLS" },
		{ "uris = [ \"tcp://a:1883\", \"tcp://a:1883\" ];", 3, "mqtt: uris entry 2 'tcp://a:1883' repeats entry 1" },
		{ "uris = [ \"tcp://a:0\" ];", 3, "mqtt: uris entry 1 'tcp://a:0' port must be 1..65535 (got '0')" },
		{ "uris = [ \"tcp://a:70000\" ];", 3, "mqtt: uris entry 1 'tcp://a:70000' port must be 1..65535 (got '70000')" },
		{ "uris = [ \"tcp://a:18x3\" ];", 3, "mqtt: uris entry 1 'tcp://a:18x3' port must be 1..65535 (got '18x3')" },
		{ "uris = [ \"tcp://:1883\" ];", 3, "mqtt: uris entry 1 'tcp://:1883' needs a host" },
		{ "uris = [ \"tcp://a:1883/x\" ];", 3, "mqtt: uris entry 1 'tcp://a:1883/x' needs a host" },
		{ "uris = ( \"tcp://a:1883\", 5 );", 3, "mqtt: uris entry 2 must be a string in double quotes" },
		{ "uris = [ \"tcp://a b:1883\" ];", 3, "mqtt: uris entry 1 'tcp://a b:1883' must be at most 255 characters without spaces" },
		{ "uris = [ \"tcp://n1:1\", \"tcp://n2:1\", \"tcp://n3:1\", \"tcp://n4:1\", \"tcp://n5:1\", \"tcp://n6:1\",\n"
		  "\"tcp://n7:1\", \"tcp://n8:1\", \"tcp://n9:1\", \"tcp://n10:1\", \"tcp://n11:1\", \"tcp://n12:1\",\n"
		  "\"tcp://n13:1\", \"tcp://n14:1\", \"tcp://n15:1\", \"tcp://n16:1\", \"tcp://n17:1\" ];", 3, /* the list's line */
		  "mqtt: uris lists 17 addresses; at most 16 are supported" },
		{ "urls = [ \"tcp://a:1883\" ];", 3, "unknown key 'urls' in mqtt (did you mean 'uris'?)" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[1024];

		snprintf(text, sizeof(text), HEAD "mqtt = {\n  %s };\n" DEV, bad[i].mqtt);
		errs = load(text, &ret, NULL);
		assert_int_equal(ret, -EINVAL);
		expect(errs, "gateway.conf", bad[i].line, bad[i].msg);
		free(errs);
	}

	/* three nodes, IPv6 too; uri becomes the first; a list of one is fine */
	errs = load(HEAD "mqtt = { uris = [ \"tcp://10.0.0.1:1883\", \"tcp://[fd00::2]:1883\", \"mqtt://n3\" ];\n"
		    "  connect_timeout_s = 3; };\n" DEV, &ret, &cfg);
	assert_int_equal(ret, 0);
	assert_string_equal(errs, "");
	assert_int_equal(cfg->mqtt_nuris, 3);
	assert_string_equal(cfg->mqtt_uris[0], "tcp://10.0.0.1:1883");
	assert_string_equal(cfg->mqtt_uris[1], "tcp://[fd00::2]:1883");
	assert_string_equal(cfg->mqtt_uris[2], "mqtt://n3");
	assert_string_equal(cfg->mqtt_uri, "tcp://10.0.0.1:1883");
	assert_int_equal(cfg->mqtt_connect_timeout_s, 3);
	config_free(cfg);
	free(errs);

	/* uri alone: no list; the default connect timeout */
	errs = load(HEAD "mqtt = { uri = \"ssl://a:8883\"; };\n" DEV, &ret, &cfg);
	assert_int_equal(ret, 0);
	assert_null(cfg->mqtt_uris);
	assert_int_equal(cfg->mqtt_nuris, 0);
	assert_string_equal(cfg->mqtt_uri, "ssl://a:8883");
	assert_int_equal(cfg->mqtt_connect_timeout_s, 10);
	config_free(cfg);
	free(errs);

	/* a password over a list of plain-text nodes is refused as over one */
	write_file("mqtt.pw", "secret\n");
	errs = load(HEAD "mqtt = { uris = [ \"tcp://a:1883\", \"tcp://b:1883\" ]; username = \"gw\";\n"
		    "  password_file = \"mqtt.pw\"; };\n" DEV, &ret, NULL);
	assert_int_equal(ret, -EINVAL);
	expect(errs, "gateway.conf", 3, "mqtt: password_file over tcp:// sends the password in clear text");
	free(errs);
}

/* A link of links = ( ... ) takes uri or uris like the mqtt section. */
static void test_link_uris(void **state)
{
	int ret;
	struct gw_config *cfg;
	char *errs;

	errs = load(HEAD "links = ( { name = \"province\";\n"
		    "  uris = [ \"tcp://n1:1883\", \"tcp://n2:1883\" ]; connect_timeout_s = 4; } );\n" DEV, &ret, &cfg);
	assert_int_equal(ret, 0);
	assert_string_equal(errs, "");
	assert_int_equal(cfg->nlinks, 1);
	assert_int_equal(cfg->links[0].nuris, 2);
	assert_string_equal(cfg->links[0].uris[1], "tcp://n2:1883");
	assert_string_equal(cfg->links[0].uri, "tcp://n1:1883");
	assert_int_equal(cfg->links[0].connect_timeout_s, 4);
	config_free(cfg);
	free(errs);

	errs = load(HEAD "links = ( { name = \"province\"; uri = \"tcp://n1:1883\";\n"
		    "  uris = [ \"tcp://n2:1883\" ]; } );\n" DEV, &ret, NULL);
	assert_int_equal(ret, -EINVAL);
	expect(errs, "gateway.conf", 3, "province: uri and uris are both given");
	free(errs);

	errs = load(HEAD "links = ( { name = \"province\"; topic_prefix = \"p\"; } );\n" DEV, &ret, NULL);
	assert_int_equal(ret, -EINVAL);
	expect(errs, "gateway.conf", 2, "link: uri = \"tcp://...\" or uris = [ \"tcp://...\", ... ] is required");
	free(errs);
}

static void test_shipped_configs(void **state)
{
	const char *files[] = { "config/gateway.conf", "config/example-field.conf" };

	for (size_t i = 0; i < 2; i++) {
		char *buf = NULL;
		size_t len = 0;
		FILE *errs = open_memstream(&buf, &len);
		struct gw_config *cfg;
		int ret = config_load(files[i], errs, &cfg);
		fclose(errs);
		if (ret)
			fprintf(stderr, "%s", buf);
		assert_int_equal(ret, 0);
		assert_true(cfg->ndevices > 0);
		config_free(cfg);
		free(buf);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_ports_step_with_count),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_bad_value_and_range),
		cmocka_unit_test(test_missing_required),
		cmocka_unit_test(test_profile_missing_and_duplicates),
		cmocka_unit_test(test_duplicate_profile),
		cmocka_unit_test(test_lamp_settle),
		cmocka_unit_test(test_register_errors),
		cmocka_unit_test(test_cross_field_and_all_sorted),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_shipped_configs),
		cmocka_unit_test(test_no_devices),
		cmocka_unit_test(test_unknown_driver_lists_all),
		cmocka_unit_test(test_empty_profiles_dir),
		cmocka_unit_test(test_plaintext_password),
		cmocka_unit_test(test_mqtt_uris),
		cmocka_unit_test(test_link_uris),
	};
	return cmocka_run_group_tests_name("config", tests, setup, teardown);
}
