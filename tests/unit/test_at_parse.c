/* AT replies: framing (echo, URCs, OK/ERROR/+CME ERROR, split reads),
 * Quectel QENG servingcell lines for LTE, NR5G-SA and EN-DC, CESQ with 255. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "at_parse.h"

static void test_framer(void **state)
{
	struct at_framer f;
	const char *reply = "AT+CESQ\r\r\n+CREG: 1\r\n\r\n+CESQ: 99,99,255,255,20,58\r\n\r\nRDY\r\nOK\r\nAT";
	size_t used;

	at_framer_start(&f, "AT+CESQ", "+CESQ:");
	/* byte by byte, as a slow serial line delivers it */
	int done = 0;
	size_t i;
	for (i = 0; i < strlen(reply) && !done; i++) {
		done = at_framer_feed(&f, reply + i, 1, &used);
		assert_int_equal(used, 1);
	}
	assert_true(done);
	assert_string_equal(reply + i, "\nAT");  /* what follows OK\r is not consumed */
	assert_int_equal(f.final, AT_OK);
	assert_int_equal(f.nresp, 1);
	assert_string_equal(f.resp[0], "+CESQ: 99,99,255,255,20,58");
	assert_int_equal(f.urcs, 2);            /* +CREG and RDY */

	at_framer_start(&f, "AT+QENG=\"servingcell\"", "+QENG:");
	const char *err = "AT+QENG=\"servingcell\"\r\n+CME ERROR: 10\r\n";
	assert_int_equal(at_framer_feed(&f, err, strlen(err), &used), 1);
	assert_int_equal(f.final, AT_CME_ERROR);
	assert_int_equal(f.cme, 10);
	assert_int_equal(used, strlen(err) - 1);  /* the LF after CR is left for the next reply, which skips it */

	at_framer_start(&f, "AT+CESQ", "+CESQ:");
	assert_int_equal(at_framer_feed(&f, "\r\nERROR\r\n", 9, &used), 1);
	assert_int_equal(f.final, AT_ERROR);

	at_framer_start(&f, "AT", "");
	assert_int_equal(at_framer_feed(&f, "+CME ERROR: SIM not inserted\r\n", 30, &used), 1);
	assert_int_equal(f.final, AT_CME_ERROR);
	assert_int_equal(f.cme, -1);

	/* no final yet: pending, partial line kept */
	at_framer_start(&f, "AT+CESQ", "+CESQ:");
	assert_int_equal(at_framer_feed(&f, "+CESQ: 1,2", 10, &used), 0);
	assert_int_equal(f.nresp, 0);
	assert_int_equal(at_framer_feed(&f, "\r\nO", 3, &used), 0);
	assert_int_equal(f.nresp, 1);
	assert_int_equal(at_framer_feed(&f, "K\r", 2, &used), 1);
}

static void test_framer_garbage(void **state)
{
	struct at_framer f;
	char big[3000];
	size_t used;

	at_framer_start(&f, "AT+CESQ", "+CESQ:");
	memset(big, 'x', sizeof(big));
	assert_int_equal(at_framer_feed(&f, big, sizeof(big), &used), 0);
	assert_int_equal(at_framer_feed(&f, "\r\n", 2, &used), 0);
	assert_int_equal(f.dropped, 1);
	for (int i = 0; i < 20; i++)
		at_framer_feed(&f, "+CESQ: 1\r\n", 10, &used);
	assert_int_equal(f.nresp, AT_MAX_LINES);
	assert_int_equal(f.dropped, 1 + 20 - AT_MAX_LINES);
	/* a NUL byte spoils the line, not the framer */
	assert_int_equal(at_framer_feed(&f, "O\0K\r\nOK\r\n", 9, &used), 1);
	assert_int_equal(f.final, AT_OK);
}

static void test_qeng_lte(void **state)
{
	struct qeng_result r;

	qeng_init(&r);
	assert_int_equal(qeng_parse_line("+QENG: \"servingcell\",\"NOCONN\",\"LTE\",\"FDD\",452,04,1A2D001,123,1850,3,5,5,1A2B,-95,-10,-65,15,10,220,-", &r), 0);
	assert_string_equal(r.state, "NOCONN");
	assert_true(r.have_lte);
	assert_false(r.have_nr);
	assert_int_equal(r.lte.rat, RAT_LTE);
	assert_string_equal(r.lte.mcc, "452");
	assert_string_equal(r.lte.mnc, "04");
	assert_int_equal(r.lte.pci, 123);
	assert_true(r.lte.rsrp == -95);
	assert_true(r.lte.rsrq == -10);
	assert_true(r.lte.sinr == 15);

	qeng_init(&r);
	assert_int_equal(qeng_parse_line("+QENG: \"servingcell\",\"LIMSRV\",\"LTE\",\"TDD\",452,01,5F1A0,7,38950,40,5,5,2B,-121,-17,-90,-3,2,-,-", &r), 0);
	assert_string_equal(r.state, "LIMSRV");
	assert_true(r.lte.rsrp == -121);

	qeng_init(&r);
	assert_int_equal(qeng_parse_line("+QENG: \"servingcell\",\"SEARCH\"", &r), 0);
	assert_string_equal(r.state, "SEARCH");
	assert_false(r.have_lte);
}

static void test_qeng_nr(void **state)
{
	struct qeng_result r;

	qeng_init(&r);
	assert_int_equal(qeng_parse_line("+QENG: \"servingcell\",\"NOCONN\",\"NR5G-SA\",\"TDD\",452,04,E2C6C3001,501,2D,627264,78,12,-88,-11,21,1,-", &r), 0);
	assert_true(r.have_nr);
	assert_string_equal(r.nr.mode, "NR5G-SA");
	assert_int_equal(r.nr.pci, 501);
	assert_true(r.nr.rsrp == -88);
	assert_true(r.nr.rsrq == -11);
	assert_true(r.nr.sinr == 21);

	/* EN-DC: three lines */
	qeng_init(&r);
	assert_int_equal(qeng_parse_line("+QENG: \"servingcell\",\"CONNECT\"", &r), 0);
	assert_int_equal(qeng_parse_line("+QENG: \"LTE\",\"FDD\",452,02,2C3E01,88,1850,3,5,5,3A1,-101,-12,-70,9,12,150,-", &r), 0);
	assert_int_equal(qeng_parse_line("+QENG: \"NR5G-NSA\",452,02,390,-97,14,-11,643296,78,12,1", &r), 0);
	assert_true(r.have_lte && r.have_nr);
	assert_string_equal(r.nr.mode, "NR5G-NSA");
	assert_string_equal(r.nr.mnc, "02");
	assert_true(r.lte.rsrp == -101);
	assert_true(r.nr.rsrp == -97);
	assert_true(r.nr.sinr == 14);
	assert_true(r.nr.rsrq == -11);

	/* "-" for a value the modem does not know */
	qeng_init(&r);
	assert_int_equal(qeng_parse_line("+QENG: \"servingcell\",\"NOCONN\",\"NR5G-SA\",\"TDD\",452,04,E2C6C3001,501,2D,627264,78,12,-88,-,-,1,-", &r), 0);
	assert_true(isnan(r.nr.rsrq) && isnan(r.nr.sinr));
}

static void test_qeng_garbage(void **state)
{
	struct qeng_result r;
	const char *bad[] = {
		"", "+QENG:", "+QENG: \"servingcell\"", "+QENG: \"servingcell\",\"BOGUS\"",
		"+QENG: \"servingcell\",\"NOCONN\",\"LTE\",\"FDD\",452,04",
		"+QENG: \"servingcell\",\"NOCONN\",\"LTE\",\"FDD\",45x,04,1A2D001,123,1850,3,5,5,1A2B,-95,-10,-65,15",
		"+QENG: \"servingcell\",\"NOCONN\",\"LTE\",\"FDD\",452,04,1A2D001,123,1850,3,5,5,1A2B,-295,-10,-65,15",
		"+QENG: \"servingcell\",\"NOCONN\",\"LTE\",\"FDD\",452,04,1A2D001,123,1850,3,5,5,1A2B,-95dBm,-10,-65,15",
		"+QENG: \"servingcell\",\"NOCONN\",\"LTE\",\"FDD\",452,04,1A2D001,12.5,1850,3,5,5,1A2B,-95,-10,-65,15",
		"+QENG: \"servingcell,\"NOCONN\"", "+QENG: \"servingcell\",\"NOCONN\",\"NR5G-SA\",\"TDD\",452",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		qeng_init(&r);
		assert_int_equal(qeng_parse_line(bad[i], &r), -EINVAL);
	}
	/* a RAT line with no servingcell line before it */
	qeng_init(&r);
	assert_int_equal(qeng_parse_line("+QENG: \"NR5G-NSA\",452,02,390,-97,14,-11", &r), -EINVAL);
	qeng_init(&r);
	assert_int_equal(qeng_parse_line("+QENG: \"neighbourcell intra\",\"LTE\",1850,88,-12,-101,-70,0,-,-,-,-,-", &r), -ENOENT);
	assert_int_equal(qeng_parse_line("+QENG: \"servingcell\",\"NOCONN\",\"WCDMA\",452,04,1,2,3", &r), -ENOENT);
}

static void test_cesq(void **state)
{
	struct cesq_result c;

	assert_int_equal(cesq_parse("+CESQ: 99,99,255,255,20,58", &c), 0);
	assert_true(c.rsrq == -10.0);
	assert_true(c.rsrp == -83.0);
	assert_true(isnan(c.ss_rsrp));
	assert_int_equal(cesq_parse("+CESQ: 99,99,255,255,255,255", &c), 0);
	assert_true(isnan(c.rsrp) && isnan(c.rsrq));
	assert_int_equal(cesq_parse("+CESQ: 99,99,255,255,34,97,60,70,80", &c), 0);
	assert_true(c.rsrp == -44.0);
	assert_true(c.rsrq == -3.0);
	assert_true(c.ss_rsrq == -13.5);
	assert_true(c.ss_rsrp == -87.0);
	assert_true(c.ss_sinr == 16.5);
	assert_int_equal(cesq_parse("+CESQ: 99,99,255,255,0,0,255,1,255", &c), 0);
	assert_true(c.rsrp == -141.0);
	assert_true(c.ss_rsrp == -156.0);
	assert_true(isnan(c.ss_sinr));

	const char *bad[] = {
		"", "+CESQ:", "+CESQ: 99,99,255,255,20", "+CESQ: 99,99,255,255,20,98",
		"+CESQ: 99,99,255,255,35,58", "+CESQ: 99,99,255,255,20,-1", "+CESQ: 99,99,255,255,20,5x",
		"+CESQ: 99,99,255,255,20,58,1,127,1", "+CESQ: 99,99,255,255,20,58,1", "CESQ: 99,99,255,255,20,58",
		"+CESQ: 64,99,255,255,20,58", "+CESQ: 99,99,255,255,20,58,1,2,3,4",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cesq_parse(bad[i], &c), -EINVAL);
}

static void test_qgpsloc(void **state)
{
	double lat = 0, lon = 0;

	assert_int_equal(qgpsloc_parse("+QGPSLOC: 061951.000,11.83540,106.99034,0.7,62.2,3,0.00,0.0,0.0,011226,09", &lat, &lon), 0);
	assert_true(lat == 11.8354 && lon == 106.99034);
	assert_int_equal(qgpsloc_parse("+QGPSLOC: 061951.000,11.83540,106.99034,0.7,62.2,1,0.00,0.0,0.0,011226,09", &lat, &lon), -EINVAL);
	assert_int_equal(qgpsloc_parse("+QGPSLOC: 061951.000,91.0,106.99034,0.7,62.2,2", &lat, &lon), -EINVAL);
	assert_int_equal(qgpsloc_parse("+QGPSLOC: 061951.000,1153.3,N", &lat, &lon), -EINVAL);
	assert_int_equal(qgpsloc_parse("+CME ERROR: 516", &lat, &lon), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_framer),
		cmocka_unit_test(test_framer_garbage),
		cmocka_unit_test(test_qeng_lte),
		cmocka_unit_test(test_qeng_nr),
		cmocka_unit_test(test_qeng_garbage),
		cmocka_unit_test(test_cesq),
		cmocka_unit_test(test_qgpsloc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
