/* The probe tool's parsers (--tcp, --rtu, --units, numbers, spans), its
 * decoding table (the known value 230.0 = 0x4366 0x0000) and its "did you
 * mean" for device names. No network. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "probe.h"

static char err[256];

static void test_tcp(void **state)
{
	struct probe_target t;

	assert_int_equal(probe_parse_tcp("10.20.1.40:502", &t, err, sizeof(err)), 0);
	assert_int_equal(t.link, PROBE_TCP);
	assert_string_equal(t.host, "10.20.1.40");
	assert_int_equal(t.port, 502);
	assert_int_equal(probe_parse_tcp("meter-7.ward.local:1502", &t, err, sizeof(err)), 0);
	assert_string_equal(t.host, "meter-7.ward.local");
	assert_int_equal(t.port, 1502);
	/* the port may be left out: 502 */
	assert_int_equal(probe_parse_tcp("192.168.1.9", &t, err, sizeof(err)), 0);
	assert_int_equal(t.port, 502);
	assert_int_equal(probe_parse_tcp("[fe80::1%eth0]:5020", &t, err, sizeof(err)), 0);
	assert_string_equal(t.host, "fe80::1%eth0");
	assert_int_equal(t.port, 5020);
	assert_int_equal(probe_parse_tcp("[::1]", &t, err, sizeof(err)), 0);
	assert_int_equal(t.port, 502);

	const struct { const char *s, *says; } bad[] = {
		{ "", "empty" },
		{ ":502", "host is missing" },
		{ "host:", "port after ':' is missing" },
		{ "host:abc", "port must be a number" },
		{ "host:0", "port must be 1..65535" },
		{ "host:65536", "port must be 1..65535" },
		{ "host:-1", "port must be a number" },
		{ "host: 502", "port must be a number" },
		{ "host:502x", "port must be a number" },
		{ "fe80::1:502", "brackets" },
		{ "[fe80::1", "no ']'" },
		{ "[fe80::1]502", "expected ':PORT'" },
		{ "[]:502", "host is missing" },
		{ "bad host:502", "character" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_int_equal(probe_parse_tcp(bad[i].s, &t, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].says))
			fail_msg("'%s': message '%s' lacks '%s'", bad[i].s, err, bad[i].says);
	}
	assert_int_equal(probe_parse_tcp(NULL, &t, NULL, 0), -EINVAL);
}

static void test_rtu(void **state)
{
	struct probe_target t;

	assert_int_equal(probe_parse_rtu("/dev/ttyUSB0:9600:8N1", &t, err, sizeof(err)), 0);
	assert_int_equal(t.link, PROBE_RTU);
	assert_string_equal(t.dev, "/dev/ttyUSB0");
	assert_int_equal(t.baud, 9600);
	assert_int_equal(t.data_bits, 8);
	assert_int_equal(t.parity, 'N');
	assert_int_equal(t.stop_bits, 1);
	assert_int_equal(probe_parse_rtu("/dev/ttyS1:19200:8e1", &t, err, sizeof(err)), 0);
	assert_int_equal(t.parity, 'E');
	assert_int_equal(t.baud, 19200);
	assert_int_equal(probe_parse_rtu("/dev/ttyS1:2400:7O2", &t, err, sizeof(err)), 0);
	assert_int_equal(t.parity, 'O');
	assert_int_equal(t.data_bits, 7);
	assert_int_equal(t.stop_bits, 2);
	/* no frame: 8N1 */
	assert_int_equal(probe_parse_rtu("/dev/ttyAMA0:115200", &t, err, sizeof(err)), 0);
	assert_int_equal(t.baud, 115200);
	assert_int_equal(t.parity, 'N');
	assert_int_equal(t.data_bits, 8);
	/* a device path with ':' in it (udev's by-path names) */
	assert_int_equal(probe_parse_rtu("/dev/serial/by-path/pci-0000:00:14.0-usb-0:1:1.0-port0:9600:8E1",
					 &t, err, sizeof(err)), 0);
	assert_string_equal(t.dev, "/dev/serial/by-path/pci-0000:00:14.0-usb-0:1:1.0-port0");
	assert_int_equal(t.baud, 9600);
	assert_int_equal(t.parity, 'E');

	const struct { const char *s, *says; } bad[] = {
		{ "", "empty" },
		{ "/dev/ttyUSB0", "baud rate is missing" },
		{ "/dev/ttyUSB0:", "nothing after" },
		{ "/dev/ttyUSB0:9600:", "nothing after" },
		{ "/dev/ttyUSB0:96O0:8N1", "'96O0' is not a number" },
		{ "/dev/ttyUSB0:fast", "'fast' is not a number" },
		{ "/dev/ttyUSB0:9601:8N1", "not a standard rate" },
		{ "/dev/ttyUSB0:0:8N1", "not a standard rate" },
		{ "/dev/ttyUSB0:99999999999:8N1", "too large" },
		{ "/dev/ttyUSB0:9600:8X1", "parity 'X' must be N (none), E (even) or O (odd)" },
		{ "/dev/ttyUSB0:9600:9N1", "data bits must be 5..8" },
		{ "/dev/ttyUSB0:9600:8N3", "stop bits must be 1 or 2" },
		{ "/dev/ttyUSB0:9600:8N", "e.g. 8N1" },
		{ "/dev/ttyUSB0:9600:8N1x", "e.g. 8N1" },
		{ "ttyUSB0:9600:8N1", "not a device path" },
		{ ":9600:8N1", "serial device is missing" },
		{ "/dev/ttyUSB0::8N1", "baud rate is missing" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_int_equal(probe_parse_rtu(bad[i].s, &t, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].says))
			fail_msg("'%s': message '%s' lacks '%s'", bad[i].s, err, bad[i].says);
	}
}

static void test_units(void **state)
{
	unsigned char u[256];
	int one;

	assert_int_equal(probe_parse_units("1-247", PROBE_RTU, u, err, sizeof(err)), 247);
	assert_int_equal(u[0], 0);
	assert_int_equal(u[1], 1);
	assert_int_equal(u[247], 1);
	assert_int_equal(u[248], 0);
	assert_int_equal(probe_parse_units("1,3,10-12,3", PROBE_TCP, u, err, sizeof(err)), 5);
	assert_true(u[1] && u[3] && u[10] && u[11] && u[12] && !u[2] && !u[13]);
	assert_int_equal(probe_parse_units("0,255", PROBE_TCP, u, err, sizeof(err)), 2);
	assert_int_equal(probe_parse_units("0x10-0x11", PROBE_TCP, u, err, sizeof(err)), 2);
	assert_true(u[16] && u[17]);

	const struct { const char *s; enum probe_link l; const char *says; } bad[] = {
		{ "", PROBE_TCP, "empty" },
		{ "1,,3", PROBE_TCP, "empty entry" },
		{ "1,", PROBE_TCP, "empty entry" },
		{ "5-3", PROBE_TCP, "backwards" },
		{ "1-", PROBE_TCP, "empty" },
		{ "-3", PROBE_TCP, "empty" },
		{ "a-b", PROBE_TCP, "must be a number" },
		{ "256", PROBE_TCP, "0..255" },
		{ "240-250", PROBE_TCP, "unit 248 cannot be read over TCP" },
		{ "0-3", PROBE_RTU, "0 is broadcast" },
		{ "255", PROBE_RTU, "use 1..247" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_int_equal(probe_parse_units(bad[i].s, bad[i].l, u, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].says))
			fail_msg("'%s': message '%s' lacks '%s'", bad[i].s, err, bad[i].says);
	}
	assert_int_equal(probe_parse_unit("3", PROBE_RTU, &one, err, sizeof(err)), 0);
	assert_int_equal(one, 3);
	assert_int_equal(probe_parse_unit("255", PROBE_TCP, &one, err, sizeof(err)), 0);
	assert_int_equal(probe_parse_unit("0", PROBE_RTU, &one, err, sizeof(err)), -EINVAL);
	assert_int_equal(probe_parse_unit("250", PROBE_TCP, &one, err, sizeof(err)), -EINVAL);
}

static void test_numbers_and_spans(void **state)
{
	long v;

	assert_int_equal(probe_parse_number("--address", "0x0156", 0, 65535, &v, err, sizeof(err)), 0);
	assert_int_equal(v, 0x156);
	/* a leading zero is decimal, never octal */
	assert_int_equal(probe_parse_number("--address", "010", 0, 65535, &v, err, sizeof(err)), 0);
	assert_int_equal(v, 10);
	assert_int_equal(probe_parse_number("--address", "65536", 0, 65535, &v, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--address must be 0..65535"));
	assert_int_equal(probe_parse_number("--count", "-1", 1, 125, &v, err, sizeof(err)), -EINVAL);
	assert_int_equal(probe_parse_number("--count", "0x", 1, 125, &v, err, sizeof(err)), -EINVAL);
	assert_int_equal(probe_parse_number("--count", "99999999999999999999999", 1, 125, &v, err, sizeof(err)),
			 -EINVAL);

	assert_int_equal(probe_check_span(TABLE_HOLDING, 0, 125, err, sizeof(err)), 0);
	assert_int_equal(probe_check_span(TABLE_HOLDING, 0, 126, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "1..125"));
	assert_int_equal(probe_check_span(TABLE_COIL, 0, 2000, err, sizeof(err)), 0);
	assert_int_equal(probe_check_span(TABLE_DISCRETE, 0, 2001, err, sizeof(err)), -EINVAL);
	assert_int_equal(probe_check_span(TABLE_INPUT, 0, 0, err, sizeof(err)), -EINVAL);
	assert_int_equal(probe_check_span(TABLE_INPUT, 65535, 1, err, sizeof(err)), 0);
	assert_int_equal(probe_check_span(TABLE_INPUT, 65535, 2, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "past the last address"));
	assert_int_equal(probe_check_span(TABLE_INPUT, 65412, 125, err, sizeof(err)), -EINVAL);
	assert_int_equal(probe_check_span(TABLE_INPUT, 65411, 125, err, sizeof(err)), 0);
}

/* The line of the table that starts with @addr (or is a continuation of
 * it, for later orders) and shows @order. */
static char *row(char *text, const char *section, const char *addr, const char *order, char *out, size_t len)
{
	char *p = strstr(text, section), *line;
	int in = 0;

	assert_non_null(p);
	for (line = strtok(p, "\n"); line; line = strtok(NULL, "\n")) {
		char a[16] = "", o[16] = "";
		if (line[0] == '0')
			in = sscanf(line, "%15s %15s", a, o) == 2 && !strcmp(a, addr);
		else if (line[0] == ' ')
			sscanf(line, "%15s", o);
		if (in && !strcmp(o, order)) {
			snprintf(out, len, "%s", line);
			return out;
		}
	}
	return NULL;
}

static void test_print(void **state)
{
	/* 230.0 as f32 ABCD is 0x4366 0x0000; after it, 1.0 as f64 ABCDEFGH */
	const uint16_t w[] = { 0x4366, 0x0000, 0x3ff0, 0x0000, 0x0000, 0x0000 };
	char *buf = NULL, *copy, line[256], f[32], u[32], s[32], o[16], a[16];
	size_t len = 0;
	FILE *f_out = open_memstream(&buf, &len);

	assert_non_null(f_out);
	probe_print_words(f_out, TABLE_INPUT, 0x10, w, 6);
	fclose(f_out);
	/* every register raw */
	assert_non_null(strstr(buf, "0x0010   0x4366   17254   17254   26179   26179  0100 0011 0110 0110"));
	assert_non_null(strstr(buf, "0x0015   0x0000"));

	copy = strdup(buf);
	assert_non_null(row(copy, "32-bit", "0x0010", "ABCD", line, sizeof(line)));
	free(copy);
	assert_int_equal(sscanf(line, "%15s %15s %31s %31s %31s", a, o, u, s, f), 5);
	assert_string_equal(u, "1130758144");
	assert_string_equal(s, "1130758144");
	assert_string_equal(f, "230");
	/* the same registers low word first are not 230 */
	copy = strdup(buf);
	assert_non_null(row(copy, "32-bit", "0x0010", "CDAB", line, sizeof(line)));
	free(copy);
	assert_int_equal(sscanf(line, "%15s %31s %31s %31s", o, u, s, f), 4);
	assert_string_equal(u, "17254");
	/* every start address: the pair at 0x0011..0x0012 too */
	copy = strdup(buf);
	assert_non_null(row(copy, "32-bit", "0x0011", "ABCD", line, sizeof(line)));
	free(copy);
	copy = strdup(buf);
	assert_null(row(copy, "32-bit", "0x0015", "ABCD", line, sizeof(line)));
	free(copy);
	/* 64-bit: 1.0 at 0x0012, all eight orders listed */
	copy = strdup(buf);
	assert_non_null(row(copy, "64-bit", "0x0012", "ABCDEFGH", line, sizeof(line)));
	free(copy);
	assert_int_equal(sscanf(line, "%15s %15s %31s %31s %31s", a, o, u, s, f), 5);
	assert_string_equal(f, "1");
	const char *orders[] = { "BADCFEHG", "CDABGHEF", "DCBAHGFE", "EFGHABCD", "FEHGBADC", "GHEFCDAB", "HGFEDCBA" };
	for (size_t i = 0; i < 7; i++) {
		copy = strdup(buf);
		assert_non_null(row(copy, "64-bit", "0x0012", orders[i], line, sizeof(line)));
		free(copy);
	}
	/* past 2^53 a u64 is marked as rounded */
	copy = strdup(buf);
	assert_non_null(row(copy, "64-bit", "0x0010", "ABCDEFGH", line, sizeof(line)));
	free(copy);
	assert_non_null(strchr(line, '~'));
	free(buf);

	/* bits: 0/1 per address, eight a row */
	const uint16_t bits[] = { 1, 0, 0, 1, 0, 0, 0, 0, 1 };
	buf = NULL;
	f_out = open_memstream(&buf, &len);
	probe_print_words(f_out, TABLE_COIL, 0, bits, 9);
	fclose(f_out);
	assert_non_null(strstr(buf, "0x0000    1  0  0  1  0  0  0  0\n0x0008    1\n"));
	assert_null(strstr(buf, "32-bit"));
	free(buf);
}

static void test_similar(void **state)
{
	struct device_conf devs[] = {
		{ .name = "cabinet-001" }, { .name = "cabinet-002" }, { .name = "meter-sdm-01" },
		{ .name = "meter-dds-01" }, { .name = "wifi-park" },
	};
	struct gw_config cfg = { .devices = devs, .ndevices = 5 };
	const char *out[5];
	size_t n;

	n = probe_similar_devices(&cfg, "cabinet-01", out, 5);
	assert_int_equal(n, 2);
	assert_string_equal(out[0], "cabinet-001");
	n = probe_similar_devices(&cfg, "meter-sdm-1", out, 5);
	assert_true(n >= 1);
	assert_string_equal(out[0], "meter-sdm-01");
	n = probe_similar_devices(&cfg, "sdm", out, 5);
	assert_int_equal(n, 1);
	assert_string_equal(out[0], "meter-sdm-01");
	n = probe_similar_devices(&cfg, "CABINET-002", out, 1);
	assert_int_equal(n, 1);
	assert_string_equal(out[0], "cabinet-002");
	assert_int_equal(probe_similar_devices(&cfg, "xyzzy-street", out, 5), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp),
		cmocka_unit_test(test_rtu),
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_numbers_and_spans),
		cmocka_unit_test(test_print),
		cmocka_unit_test(test_similar),
	};
	return cmocka_run_group_tests_name("probe", tests, NULL, NULL);
}
