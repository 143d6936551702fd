/* SenML packs: parsed back with jansson and checked field by field. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "senml.h"

static void test_pack(void **state)
{
	const struct senml_rec recs[] = {
		{ "supplyVoltage", "V", 230.5 },
		{ "skipped", "A", NAN },
		{ "activePower", "W", -2 },
		{ "cabinetDoorOpen", NULL, 1 },
	};
	char buf[1024];
	int n = senml_pack(buf, sizeof(buf), "urn:dev:wardgw:gw:cab-001:", 1763895723418LL, recs, 4);
	json_error_t err;
	json_t *j;

	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(buf));
	j = json_loads(buf, 0, &err);
	assert_non_null(j);
	assert_int_equal(json_array_size(j), 3);    /* NaN left out */
	json_t *r0 = json_array_get(j, 0);
	assert_string_equal(json_string_value(json_object_get(r0, "bn")), "urn:dev:wardgw:gw:cab-001:");
	assert_true(fabs(json_number_value(json_object_get(r0, "bt")) - 1763895723.418) < 1e-6);
	assert_null(json_object_get(r0, "bver"));   /* only primary units */
	assert_string_equal(json_string_value(json_object_get(r0, "n")), "supplyVoltage");
	assert_string_equal(json_string_value(json_object_get(r0, "u")), "V");
	assert_true(json_number_value(json_object_get(r0, "v")) == 230.5);
	json_t *r1 = json_array_get(j, 1);
	assert_null(json_object_get(r1, "bn"));
	assert_string_equal(json_string_value(json_object_get(r1, "n")), "activePower");
	assert_true(json_number_value(json_object_get(r1, "v")) == -2);
	json_t *r2 = json_array_get(j, 2);
	assert_null(json_object_get(r2, "u"));
	json_decref(j);
}

static void test_secondary_unit_sets_bver(void **state)
{
	const struct senml_rec recs[] = { { "activeEnergy", "kWh", 12345.67 } };
	char buf[256];
	json_t *j;

	assert_true(senml_pack(buf, sizeof(buf), "x:", 1000, recs, 1) > 0);
	j = json_loads(buf, 0, NULL);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(j, 0), "bver")), 26);
	assert_true(json_number_value(json_object_get(json_array_get(j, 0), "v")) == 12345.67);
	json_decref(j);
	assert_true(senml_secondary_unit("kWh"));
	assert_false(senml_secondary_unit("W"));
	assert_false(senml_secondary_unit(NULL));
}

static void test_escaping(void **state)
{
	const struct senml_rec recs[] = { { "we\"ird\\name\n", "V", 1 } };
	char buf[256];
	json_t *j;

	assert_true(senml_pack(buf, sizeof(buf), "b\"n:", 0, recs, 1) > 0);
	j = json_loads(buf, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "n")), "we\"ird\\name\n");
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "bn")), "b\"n:");
	json_decref(j);
}

static void test_too_small(void **state)
{
	const struct senml_rec recs[] = { { "supplyVoltage", "V", 230 }, { "activePower", "W", 10 } };
	char full[256];
	int n = senml_pack(full, sizeof(full), "bn:", 1000, recs, 2);

	assert_true(n > 0);
	for (size_t size = 0; size <= (size_t)n; size++) {
		char *buf = malloc(size + 1);
		buf[size] = 0x5A;   /* canary just past the buffer */
		assert_int_equal(senml_pack(buf, size, "bn:", 1000, recs, 2), -ENOSPC);
		assert_int_equal((unsigned char)buf[size], 0x5A);
		free(buf);
	}
	char exact[256];
	assert_int_equal(senml_pack(exact, (size_t)n + 1, "bn:", 1000, recs, 2), n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pack),
		cmocka_unit_test(test_secondary_unit_sets_bver),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_too_small),
	};
	return cmocka_run_group_tests_name("senml", tests, NULL, NULL);
}
