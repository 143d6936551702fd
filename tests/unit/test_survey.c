/* Survey CSV rows: good rows, the header, and each kind of bad field. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "survey.h"

static int parse(const char *l, struct survey_row *r, char *err)
{
	return survey_parse_row(l, strlen(l), r, err, 128);
}

static void test_rows(void **state)
{
	struct survey_row r;
	char err[128];

	assert_int_equal(parse("time,lat,lon,technology,operator,rsrp,rsrq,sinr\n", &r, err), 1);
	assert_int_equal(parse("\n", &r, err), 2);
	assert_int_equal(parse("# drive test 2026-11-20\n", &r, err), 2);
	assert_int_equal(parse("1795400000,10.8012,106.7101,LTE,Viettel,-97.5,-11,12.5\r\n", &r, err), 0);
	assert_int_equal(r.ts_ms, 1795400000000LL);
	assert_true(r.lat == 10.8012 && r.lon == 106.7101);
	assert_int_equal(r.tech, RAT_LTE);
	assert_string_equal(r.op, "Viettel");
	assert_true(r.rsrp == -97.5 && r.rsrq == -11 && r.sinr == 12.5);
	assert_int_equal(parse("2026-11-23T18:00,10.8,106.7,5G,\"VNPT\",-120,,", &r, err), 0);
	assert_int_equal(r.ts_ms, 1795431600000LL);
	assert_int_equal(r.tech, RAT_NR);
	assert_string_equal(r.op, "VNPT");
	assert_true(isnan(r.rsrq) && isnan(r.sinr));
	assert_int_equal(parse(" 1795400000 , 10.8 , 106.7 , nr5g-nsa , 45204 , -150 , -12 , 3 ", &r, err), 0);
	assert_int_equal(r.tech, RAT_NR);
	assert_string_equal(r.op, "45204");
}

static void test_bad(void **state)
{
	struct survey_row r;
	char err[128];
	const struct { const char *line, *msg; } bad[] = {
		{ "1795400000,10.8,106.7,LTE,Viettel,-97", "6 fields" },
		{ "1795400000,10.8,106.7,LTE,Viettel,-97,-11,12,9", "more than 8" },
		{ "yesterday,10.8,106.7,LTE,Viettel,-97,-11,12", "time 'yesterday'" },
		{ "-2h,10.8,106.7,LTE,Viettel,-97,-11,12", "time '-2h'" },
		{ "1795400000,91.2,106.7,LTE,Viettel,-97,-11,12", "lat 91.2 is outside -90..90" },
		{ "1795400000,10.8,abc,LTE,Viettel,-97,-11,12", "lon 'abc' is not a number" },
		{ "1795400000,10.8,106.7,3G,Viettel,-97,-11,12", "technology '3G'" },
		{ "1795400000,10.8,106.7,LTE,,-97,-11,12", "operator ''" },
		{ "1795400000,10.8,106.7,LTE,Viet;tel,-97,-11,12", "operator 'Viet;tel'" },
		{ "1795400000,10.8,106.7,LTE,Viettel,-150,-11,12", "rsrp -150 is outside -141..-44" },
		{ "1795400000,10.8,106.7,NR,Viettel,-20,-11,12", "rsrp (SS-RSRP) -20 is outside -157..-31" },
		{ "1795400000,10.8,106.7,LTE,Viettel,,-11,12", "rsrp is empty" },
		{ "1795400000,10.8,106.7,LTE,Viettel,-97,-11,nan", "sinr 'nan' is not a number" },
		{ "1795400000,10.8,106.7,LTE,Viettel,-97,-50,3", "rsrq -50 is outside" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i].line, &r, err), -EINVAL);
		if (!strstr(err, bad[i].msg))
			fail_msg("'%s': got '%s', want '%s'", bad[i].line, err, bad[i].msg);
	}
	char longl[700];
	memset(longl, '1', sizeof(longl) - 1);
	longl[sizeof(longl) - 1] = 0;
	assert_int_equal(parse(longl, &r, err), -EINVAL);
	assert_int_equal(survey_parse_row("1\0,2", 4, &r, err, sizeof(err)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
