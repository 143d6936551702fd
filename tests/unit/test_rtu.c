/* Modbus RTU framing (CRC-16 against published frames, reply lengths in a
 * stream, unit and CRC checks) and the modbus-rtu device keys: line
 * settings, checks across the devices of one bus, count stepping unit ids. */
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
#include <cmocka.h>

#include "unit_config.h"

#include "budget.h"
#include "config.h"
#include "driver.h"
#include "modbus_rtu.h"
#include "rtu.h"

/* The Modbus over Serial Line spec's example: read 10 holding registers
 * from 0 at unit 1 is 01 03 00 00 00 0A C5 CD. */
static void test_crc_known(void **state)
{
	const uint8_t req[] = { 0x01, 0x03, 0x00, 0x00, 0x00, 0x0A };
	uint8_t f[RTU_MAX_ADU];

	assert_int_equal(rtu_crc16(req, sizeof(req)), 0xCDC5);
	assert_int_equal(rtu_wrap(f, 1, req + 1, 5), 8);
	assert_memory_equal(f, ((const uint8_t[]){ 0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0xC5, 0xCD }), 8);
	/* another published one: 11 03 00 6B 00 03 -> CRC 76 87 */
	const uint8_t r2[] = { 0x11, 0x03, 0x00, 0x6B, 0x00, 0x03 };
	assert_int_equal(rtu_crc16(r2, sizeof(r2)), 0x8776);
	assert_int_equal(rtu_wrap(f, 1, req, 0), -EINVAL);
	uint8_t big[254] = { 3 };
	assert_int_equal(rtu_wrap(f, 1, big, 254), -EINVAL);
	assert_int_equal(rtu_wrap(f, 1, big, 253), 256);
}

static void test_reply_len(void **state)
{
	const uint8_t rd[] = { 0x01, 0x03, 0x04 };
	const uint8_t ex[] = { 0x01, 0x83 };
	const uint8_t wr[] = { 0x01, 0x10 };

	assert_int_equal(rtu_reply_len(rd, 1, 3), 0);
	assert_int_equal(rtu_reply_len(rd, 2, 3), 0);      /* the count is not here yet */
	assert_int_equal(rtu_reply_len(rd, 3, 3), 9);
	assert_int_equal(rtu_reply_len(ex, 2, 3), 5);
	assert_int_equal(rtu_reply_len(wr, 2, 16), 8);
	assert_int_equal(rtu_reply_len(wr, 2, 3), -EBADMSG);    /* another function */
	assert_int_equal(rtu_reply_len(rd, 3, 4), -EBADMSG);
	const uint8_t huge[] = { 0x01, 0x03, 0xFF };
	assert_int_equal(rtu_reply_len(huge, 3, 3), -EBADMSG);  /* longer than any frame */
}

static void test_unwrap(void **state)
{
	uint8_t f[RTU_MAX_ADU];
	const uint8_t pdu[] = { 0x04, 0x04, 0x43, 0x66, 0x00, 0x00 };
	const uint8_t *p;
	size_t n;
	int len = rtu_wrap(f, 7, pdu, sizeof(pdu));

	assert_int_equal(rtu_unwrap(f, (size_t)len, 7, &p, &n), 0);
	assert_int_equal(n, sizeof(pdu));
	assert_memory_equal(p, pdu, n);
	assert_int_equal(rtu_unwrap(f, (size_t)len, 8, &p, &n), -ENOMSG);   /* another unit: a late reply */
	f[3] ^= 0x10;
	assert_int_equal(rtu_unwrap(f, (size_t)len, 7, &p, &n), -EILSEQ);   /* noise: CRC */
	assert_int_equal(rtu_unwrap(f, 3, 7, &p, &n), -EBADMSG);
}

static void test_line_timing(void **state)
{
	struct rtu_conf c = { .baud = 9600, .parity = "N", .data_bits = 8, .stop_bits = 1 };

	assert_int_equal(rtu_char_bits(&c), 10);
	assert_int_equal(rtu_frame_gap_us(&c), 3646);   /* 3.5 x 10 bits at 9600 */
	c.parity = "E";
	assert_int_equal(rtu_char_bits(&c), 11);
	c.baud = 115200;
	assert_int_equal(rtu_frame_gap_us(&c), 1750);   /* fixed above 19200 baud */
	c.frame_gap_ms = 20;
	assert_int_equal(rtu_frame_gap_us(&c), 20000);
}

/* ---------- config ---------- */

static char dir[64];

static void write_file(const char *name, const char *text)
{
	ut_write(dir, name, text, 0644);
}

static char *load(const char *text, int *ret, struct gw_config **cfg_out)
{
	return ut_load(dir, text, ret, cfg_out);
}

static int setup(void **state)
{
	if (ut_mkdir(dir, sizeof(dir), "wardgw-unit") < 0)
		return -1;
	write_file("profiles/meter.conf",
		   "profile = { name = \"meter\"; registers = (\n"
		   "  { metric = \"v\"; table = \"input\"; address = 0; type = \"f32\"; },\n"
		   "  { metric = \"e\"; table = \"input\"; address = 0x156; type = \"f32\"; }\n"
		   "); };\n");
	return 0;
}

static int teardown(void **state)
{
	return ut_rmdir(dir);
}

#define HEAD "gateway = { id = \"gw\"; lat = 11.8; lon = 106.9; };\n"

static void test_rtu_devices(void **state)
{
	struct gw_config *cfg;
	int ret;
	char *errs = load(HEAD "devices = (\n"
			  "  { name = \"m\"; driver = \"modbus-rtu\"; serial = \"/dev/ttyUSB0\"; baud = 19200; parity = \"E\";\n"
			  "    unit = 5; count = 3; profile = \"meter\"; }\n"
			  ");\n", &ret, &cfg);

	assert_int_equal(ret, 0);
	assert_string_equal(errs, "");
	assert_int_equal(cfg->ndevices, 3);
	assert_ptr_equal(cfg->devices[0].driver, &modbus_rtu_driver);
	assert_true(modbus_rtu_is(&cfg->devices[2]));
	const struct rtu_conf *c0 = cfg->devices[0].drv, *c2 = cfg->devices[2].drv;
	assert_string_equal(c0->serial, "/dev/ttyUSB0");
	assert_int_equal(c0->baud, 19200);
	assert_string_equal(c0->parity, "E");
	assert_int_equal(c0->data_bits, 8);
	assert_int_equal(c0->stop_bits, 1);
	assert_int_equal(c0->unit, 5);
	assert_int_equal(c2->unit, 7);          /* count steps the unit id on a bus */
	config_free(cfg);
	free(errs);
}

static void test_rtu_errors(void **state)
{
	int ret;
	char *errs = load(HEAD "devices = (\n"
			  "  { name = \"a\"; driver = \"modbus-rtu\"; serial = \"/dev/ttyUSB0\"; parity = \"X\"; profile = \"meter\"; },\n"
			  "  { name = \"b\"; driver = \"modbus-rtu\"; serial = \"ttyUSB0\"; baud = 9601; profile = \"meter\"; },\n"
			  "  { name = \"c\"; driver = \"modbus-rtu\"; serial = \"/dev/ttyS1\"; baud = 9600; profile = \"meter\"; },\n"
			  "  { name = \"d\"; driver = \"modbus-rtu\"; serial = \"/dev/ttyS1\"; baud = 19200; unit = 2; profile = \"meter\"; },\n"
			  "  { name = \"e\"; driver = \"modbus-rtu\"; serial = \"/dev/ttyS2\"; unit = 0; profile = \"meter\"; },\n"
			  "  { name = \"f\"; driver = \"modbus-rtu\"; serial = \"/dev/ttyS3\"; unit = 200; count = 60; profile = \"meter\"; }\n"
			  ");\n", &ret, NULL);
	char want[512];

	assert_int_equal(ret, -EINVAL);
	snprintf(want, sizeof(want), "%s/gateway.conf:3: device a: parity must be \"N\" (none), \"E\" (even) or \"O\" (odd), got \"X\"", dir);
	assert_non_null(strstr(errs, want));
	snprintf(want, sizeof(want), "%s/gateway.conf:4: device b: serial 'ttyUSB0' must be a device path", dir);
	assert_non_null(strstr(errs, want));
	snprintf(want, sizeof(want), "%s/gateway.conf:4: device b: baud 9601 is not a standard rate", dir);
	assert_non_null(strstr(errs, want));
	snprintf(want, sizeof(want), "%s/gateway.conf:6: device d: /dev/ttyS1 is set to 19200 8N1 here but 9600 8N1 "
		 "for c (line 5); devices on one bus share its line settings", dir);
	assert_non_null(strstr(errs, want));
	assert_non_null(strstr(errs, "unit"));
	snprintf(want, sizeof(want), "%s/gateway.conf:8: device f: count 60 runs the unit past 247", dir);
	assert_non_null(strstr(errs, want));
	free(errs);
}

/* The meter profile reads 2 f32 in two requests: 8 + 9 bytes, 10 bits
 * each at 9600 baud = 17.708 ms, + 3.646 ms gap + 5 ms turnaround. */
static void test_budget(void **state)
{
	struct rtu_conf c = { .baud = 9600, .parity = "N", .data_bits = 8, .stop_bits = 1, .turnaround_ms = 5 };
	struct gw_config *cfg;
	struct bus_budget *b;
	size_t n;
	int ret;

	assert_true(fabs(budget_read_us(&c, 0, 2) - (17 * 10 * 1e6 / 9600 + 3646 + 5000)) < 0.01);
	assert_true(fabs(budget_read_us(&c, 1, 16) - (15 * 10 * 1e6 / 9600 + 3646 + 5000)) < 0.01);
	char *errs = load(HEAD "devices = (\n"
			  "  { name = \"a\"; driver = \"modbus-rtu\"; serial = \"/dev/ttyS1\"; unit = 1; count = 20;\n"
			  "    poll_interval_ms = 1000; timeout_ms = 200; profile = \"meter\"; },\n"
			  "  { name = \"b\"; driver = \"modbus-rtu\"; serial = \"/dev/ttyS2\"; baud = 115200; unit = 1;\n"
			  "    poll_interval_ms = 1000; timeout_ms = 200; profile = \"meter\"; }\n"
			  ");\n", &ret, &cfg);
	assert_int_equal(ret, 0);
	assert_int_equal(budget_compute(cfg, &b, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(b[0].serial, "/dev/ttyS1");
	assert_int_equal(b[0].units, 20);
	assert_true(fabs(b[0].needed_rps - 40.0) < 1e-9);
	double per = 17 * 10 / 9600.0 + 0.003646 + 0.005;
	assert_true(fabs(b[0].req_ms - per * 1000) < 1e-6);
	assert_true(fabs(b[0].possible_rps - 1 / per) < 1e-6);
	assert_true(fabs(b[0].busy - 40 * per) < 1e-9);      /* 105 %: over */
	assert_true(b[0].busy > 1.0);
	assert_true(b[1].busy < 0.1);                       /* 115200 baud: plenty */
	assert_true(fabs(b[1].gap_ms - 1.75) < 1e-9);
	free(b);

	char *txt = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&txt, &len);
	assert_int_equal(budget_report(cfg, f), 1);
	fclose(f);
	assert_non_null(strstr(txt, "bus /dev/ttyS1 9600 8N1: 20 units need 40.0 requests/s; the line carries 37.9/s"));
	assert_non_null(strstr(txt, "warning: bus /dev/ttyS1 9600 8N1 is over its budget: it needs 40.0 requests/s but "
				    "carries 37.9; polls will fall behind. Poll less often (every interval x 1.05: the "
				    "shortest 1000 ms would become 1055 ms)"));
	assert_null(strstr(txt, "warning: bus /dev/ttyS2"));
	free(txt);
	config_free(cfg);
	free(errs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc_known),
		cmocka_unit_test(test_reply_len),
		cmocka_unit_test(test_unwrap),
		cmocka_unit_test(test_line_timing),
		cmocka_unit_test_setup_teardown(test_rtu_devices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rtu_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_budget, setup, teardown),
	};
	return cmocka_run_group_tests_name("rtu", tests, NULL, NULL);
}
