/* The status snapshot, /metrics and `wardgw status`: built from a gateway
 * with two devices (one offline), printed back with the right exit codes
 * (healthy, trouble, stale, missing, unreadable). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "config.h"
#include "driver.h"
#include "gateway.h"
#include "status.h"

static struct reg_def regs[] = { { .metric = "lampsOn", .unit = "count" } };
static struct profile prof = { .name = "cab", .regs = regs, .nregs = 1 };
static struct device_conf confs[2];
static struct device devs[2];
static double last[2][1];
static struct gw_config cfg;
static struct gateway gw;

static void setup_gw(void)
{
	memset(&gw, 0, sizeof(gw));
	cfg.gateway_id = "gw-unit";
	cfg.ward = "ward \"7\"";
	cfg.mqtt_uri = "tcp://127.0.0.1:1";
	strcpy(cfg.digest, "0123456789abcdef");
	for (int i = 0; i < 2; i++) {
		confs[i].name = i ? "cab-\"2\"" : "cab-1";
		confs[i].driver = &modbus_tcp_driver;
		confs[i].profile = &prof;
		devs[i].conf = &confs[i];
		devs[i].last = last[i];
		devs[i].state = i ? DEV_OFFLINE : DEV_ONLINE;
		devs[i].last_ok_ms = i ? 0 : wall_ms() - 1000;
		devs[i].changed_ms = wall_ms() - 2000;
		snprintf(devs[i].reason, sizeof(devs[i].reason), "%s", i ? "connect: Connection refused" : "");
	}
	gw.cfg = &cfg;
	gw.devices = devs;
	gw.ndevices = 2;
	gw.started_ms = wall_ms() - 5000;
	gw.stats.ok = 7;
	gw.stats.failed = 3;
}

static char *run_print(const char *path, int stale_s, int *rc)
{
	char *out = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&out, &n), *err = fopen("/dev/null", "w");

	*rc = status_print(path, stale_s, f, err);
	fclose(f);
	fclose(err);
	return out;
}

static void test_snapshot_roundtrip(void **state)
{
	char path[] = "/tmp/wardgw-status-XXXXXX";
	int fd = mkstemp(path), rc;
	char *json, *out;

	assert_true(fd >= 0);
	setup_gw();
	json = status_json(&gw);
	assert_non_null(json);
	assert_non_null(strstr(json, "\"name\":\"cab-\\\"2\\\"\""));
	assert_non_null(strstr(json, "\"state\":\"degraded\""));   /* the source: 1 of 2 online */
	assert_int_equal(write(fd, json, strlen(json)), (ssize_t)strlen(json));
	close(fd);
	out = run_print(path, 15, &rc);
	assert_int_equal(rc, 1);                 /* trouble: a device offline (and no store) */
	assert_non_null(strstr(out, "gateway gw-unit"));
	assert_non_null(strstr(out, "connect: Connection refused"));
	assert_non_null(strstr(out, "modbus-tcp   degraded  2 devices: 1 online 1 offline"));
	free(out);
	/* the same snapshot, read 15 s too late: not running */
	out = run_print(path, -15, &rc);
	assert_int_equal(rc, 3);
	assert_non_null(strstr(out, "NOT RUNNING"));
	free(out);
	free(json);
	unlink(path);
}

/* What decides a rewrite of the snapshot file (health.c): not the last
 * readings or the time, but a state, a reason, the devices listed. */
static void test_snapshot_digest(void **state)
{
	setup_gw();
	uint64_t d0 = status_digest(&gw);
	char *json = status_json(&gw);

	assert_true(d0 != 0);
	assert_non_null(strstr(json, "\"last_ok\":"));
	assert_non_null(strstr(json, "\"devices\":[{"));
	free(json);
	devs[0].last_ok_ms += 1000;     /* a new reading */
	assert_true(status_digest(&gw) == d0);
	devs[0].state = DEV_OFFLINE;     /* a device goes offline */
	uint64_t d1 = status_digest(&gw);
	assert_true(d1 != d0);
	snprintf(devs[0].reason, sizeof(devs[0].reason), "timeout");
	assert_true(status_digest(&gw) != d1);
	devs[0].state = DEV_ONLINE;
	devs[0].reason[0] = 0;
	assert_true(status_digest(&gw) == d0);
	gw.ndevices = 1;
	assert_true(status_digest(&gw) != d0);
	gw.ndevices = 0;                 /* no devices: still an object */
	json = status_json(&gw);
	assert_non_null(strstr(json, "\"devices\":[]}"));
	free(json);
}

/* The device rows are written without jansson: what jansson reads back
 * is what the device had, escapes and Vietnamese included; a byte that is
 * not UTF-8 becomes U+FFFD rather than spoiling the whole file. */
static void test_device_rows_escaped(void **state)
{
	json_error_t err;

	setup_gw();
	snprintf(devs[0].reason, sizeof(devs[0].reason), "%s", "m\u1ea5t k\u1ebft n\u1ed1i \"x\" a\\b\n\t\x01 \xff!");
	char *json = status_json(&gw);
	assert_non_null(json);
	json_t *root = json_loads(json, 0, &err);
	assert_non_null(root);
	json_t *row = json_array_get(json_object_get(root, "devices"), 0);
	assert_string_equal(json_string_value(json_object_get(row, "reason")),
			    "m\u1ea5t k\u1ebft n\u1ed1i \"x\" a\\b\n\t\x01 \xef\xbf\xbd!");
	assert_string_equal(json_string_value(json_object_get(row, "name")), "cab-1");
	assert_string_equal(json_string_value(json_object_get(row, "state")), "online");
	assert_int_equal(json_integer_value(json_object_get(row, "since")), devs[0].changed_ms);
	assert_int_equal(json_integer_value(json_object_get(row, "last_ok")), devs[0].last_ok_ms);
	row = json_array_get(json_object_get(root, "devices"), 1);
	assert_string_equal(json_string_value(json_object_get(row, "name")), "cab-\"2\"");
	assert_string_equal(json_string_value(json_object_get(row, "driver")), "modbus-tcp");
	/* the same bytes jansson writes for a row of valid text */
	assert_non_null(strstr(json, "\"reason\":\"m\u1ea5t k\u1ebft n\u1ed1i \\\"x\\\" a\\\\b\\n\\t\\u0001 "));
	json_decref(root);
	free(json);
}

static void test_print_errors(void **state)
{
	char path[] = "/tmp/wardgw-status-XXXXXX";
	int fd = mkstemp(path), rc;
	char *out;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{\"gateway\":", 11), 11);
	close(fd);
	out = run_print(path, 15, &rc);
	assert_int_equal(rc, 4);
	free(out);
	unlink(path);
	out = run_print(path, 15, &rc);
	assert_int_equal(rc, 3);
	free(out);
}

static void test_metrics(void **state)
{
	char *m;

	setup_gw();
	m = status_metrics(&gw);
	assert_non_null(m);
	assert_non_null(strstr(m, "wardgw_polls_total{result=\"ok\"} 7\n"));
	assert_non_null(strstr(m, "wardgw_poll_errors_total 3\n"));
	assert_non_null(strstr(m, "wardgw_poll_duration_seconds_bucket{le=\"+Inf\"} 0\n"));
	assert_non_null(strstr(m, "wardgw_devices{state=\"offline\"} 1\n"));
	/* label values escaped */
	assert_non_null(strstr(m, "wardgw_device_up{device=\"cab-\\\"2\\\"\"} 0\n"));
	assert_non_null(strstr(m, "# TYPE wardgw_loop_lag_seconds gauge\n"));
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_snapshot_roundtrip),
		cmocka_unit_test(test_snapshot_digest),
		cmocka_unit_test(test_device_rows_escaped),
		cmocka_unit_test(test_print_errors),
		cmocka_unit_test(test_metrics),
	};
	return cmocka_run_group_tests_name("status", tests, NULL, NULL);
}
