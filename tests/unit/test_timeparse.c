/* Command-line times: epoch, relative, ISO 8601 in ward time (UTC+7). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "timeparse.h"

#define NOW 1795400000000LL

static int64_t parse(const char *s)
{
	int64_t v = -1;

	assert_int_equal(time_parse(s, NOW, &v), 0);
	return v;
}

static void test_forms(void **state)
{
	assert_int_equal(parse("now"), NOW);
	assert_int_equal(parse("1700000000"), 1700000000000LL);
	assert_int_equal(parse("-2h"), NOW - 7200000);
	assert_int_equal(parse("-30m"), NOW - 1800000);
	assert_int_equal(parse("-7d"), NOW - 7 * 86400000LL);
	assert_int_equal(parse("-45s"), NOW - 45000);
	/* 2026-11-23 18:00 in Ho Chi Minh City is 11:00 UTC */
	assert_int_equal(parse("2026-11-23T11:00:00Z"), 1795431600000LL);
	assert_int_equal(parse("2026-11-23T18:00"), 1795431600000LL);
	assert_int_equal(parse("2026-11-23 18:00:00+07:00"), 1795431600000LL);
	assert_int_equal(parse("2026-11-23T11:00:00+00:00"), 1795431600000LL);
	assert_int_equal(parse("2026-11-23"), 1795431600000LL - 18 * 3600000LL);
	assert_int_equal(parse("2024-02-29T07:00"), 1709164800000LL);
}

static void test_rejects(void **state)
{
	const char *bad[] = { "", "yesterday", "-5x", "-h", "2026-13-01", "2026-11-23T25:00",
			      "2026-11-23T18:00+7", "2026-11-23X", "12abc", "-2h3" };
	int64_t v;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(time_parse(bad[i], NOW, &v), -EINVAL);
	assert_int_equal(time_parse(NULL, NOW, &v), -EINVAL);
}

static void test_format(void **state)
{
	char buf[40];

	time_format(1795431600123LL, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-23T18:00:00.123+07:00");
	int64_t back;
	assert_int_equal(time_parse("2026-11-23T18:00:00+07:00", 0, &back), 0);
	assert_int_equal(back, 1795431600000LL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_format),
	};
	return cmocka_run_group_tests_name("timeparse", tests, NULL, NULL);
}
