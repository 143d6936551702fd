/* The page's language from Accept-Language (q-values, wildcards, malformed
 * headers), and the map's point-in-boundary test. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "i18n.h"
#include "map.h"

static void test_accept_language(void **state)
{
	assert_string_equal(i18n_pick_lang(NULL, "en"), "en");
	assert_string_equal(i18n_pick_lang("", "en"), "en");
	assert_string_equal(i18n_pick_lang("vi", "en"), "vi");
	assert_string_equal(i18n_pick_lang("vi-VN,vi;q=0.9,en-US;q=0.8,en;q=0.7", "en"), "vi");
	assert_string_equal(i18n_pick_lang("en-US,en;q=0.9,vi;q=0.8", "vi"), "en");
	assert_string_equal(i18n_pick_lang("fr-FR, vi;q=0.5, en;q=0.4", "en"), "vi");
	assert_string_equal(i18n_pick_lang("en;q=0.2, VI ; q=0.7", "en"), "vi");
	assert_string_equal(i18n_pick_lang("fr, de", "vi"), "vi");
	/* q=0: not acceptable */
	assert_string_equal(i18n_pick_lang("vi;q=0", "en"), "en");
	assert_string_equal(i18n_pick_lang("*;q=0.5, en;q=0.1", "vi"), "vi");
	assert_string_equal(i18n_pick_lang("vi;q=1.000", "en"), "vi");
	assert_string_equal(i18n_pick_lang("vi;q=0.001,en;q=0", "en"), "vi");
	/* more than three decimals is not a qvalue */
	assert_string_equal(i18n_pick_lang("vi;q=0.5,en;q=0.0009", "vi"), "vi");
	assert_string_equal(i18n_pick_lang("vi;q=0.5,en;q=0.0009", "en"), "en");
	/* malformed: the fallback, whatever came before */
	assert_string_equal(i18n_pick_lang("vi;q=2", "en"), "en");
	assert_string_equal(i18n_pick_lang("vi;x=1", "en"), "en");
	assert_string_equal(i18n_pick_lang("vi;q=", "en"), "en");
	assert_string_equal(i18n_pick_lang("vi<script>", "en"), "en");
	assert_string_equal(i18n_pick_lang(",,,", "en"), "en");
	assert_string_equal(i18n_pick_lang("vi-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "en"), "en");
}

static void test_many_entries(void **state)
{
	char h[2048] = "";

	for (int i = 0; i < 64; i++)
		strcat(h, "fr,");
	strcat(h, "vi");
	/* 65 entries: refused as a whole */
	assert_string_equal(i18n_pick_lang(h, "en"), "en");
	h[0] = 0;
	for (int i = 0; i < 63; i++)
		strcat(h, "fr,");
	strcat(h, "vi");        /* 64 entries */
	assert_string_equal(i18n_pick_lang(h, "en"), "vi");
}

static void test_point_in_ring(void **state)
{
	/* a square and an L shape, closed rings of lon/lat */
	const double sq[] = { 106.0, 11.0, 106.01, 11.0, 106.01, 11.01, 106.0, 11.01, 106.0, 11.0 };
	const double l[] = { 0, 0, 2, 0, 2, 1, 1, 1, 1, 2, 0, 2, 0, 0 };

	assert_true(map_point_in_ring(sq, 5, 106.005, 11.005));
	assert_false(map_point_in_ring(sq, 5, 106.02, 11.005));
	assert_false(map_point_in_ring(sq, 5, 11.005, 106.005));   /* swapped */
	assert_true(map_point_in_ring(l, 7, 0.5, 1.5));
	assert_true(map_point_in_ring(l, 7, 1.5, 0.5));
	assert_false(map_point_in_ring(l, 7, 1.5, 1.5));          /* the notch */
	assert_false(map_point_in_ring(l, 0, 0.5, 0.5));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accept_language),
		cmocka_unit_test(test_many_entries),
		cmocka_unit_test(test_point_in_ring),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
