/* Encoding for writes: engineering value -> register words, for every type
 * and order, against known wire images; scale/offset undone; out-of-range
 * values refused, never saturated. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "decode.h"

static void enc(enum reg_type t, const char *order, double v, uint16_t *w)
{
	struct reg_order o;

	assert_int_equal(reg_order_parse(order, t, &o), 0);
	assert_int_equal(reg_encode_checked(t, &o, v, w), 0);
}

static void expect_words(const uint16_t *got, const uint16_t *want, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(got[i], want[i]);
}

/* 0x11223344 in each 32-bit order, and 230.0 f32 = 0x4366 0x0000 */
static void test_orders32(void **state)
{
	static const struct { const char *order; uint16_t w[2]; } cases[] = {
		{ "ABCD", { 0x1122, 0x3344 } }, { "BADC", { 0x2211, 0x4433 } },
		{ "CDAB", { 0x3344, 0x1122 } }, { "DCBA", { 0x4433, 0x2211 } },
	};
	uint16_t w[2];

	for (size_t i = 0; i < 4; i++) {
		enc(TYPE_U32, cases[i].order, (double)0x11223344, w);
		expect_words(w, cases[i].w, 2);
	}
	enc(TYPE_F32, "ABCD", 230.0, w);
	expect_words(w, (const uint16_t[]){ 0x4366, 0x0000 }, 2);
	enc(TYPE_F32, "CDAB", 230.0, w);
	expect_words(w, (const uint16_t[]){ 0x0000, 0x4366 }, 2);
	enc(TYPE_F32, "BADC", 230.0, w);
	expect_words(w, (const uint16_t[]){ 0x6643, 0x0000 }, 2);
	enc(TYPE_F32, "DCBA", 230.0, w);
	expect_words(w, (const uint16_t[]){ 0x0000, 0x6643 }, 2);
	enc(TYPE_S32, "ABCD", -2, w);
	expect_words(w, (const uint16_t[]){ 0xFFFF, 0xFFFE }, 2);
	enc(TYPE_S32, "CDAB", -2, w);
	expect_words(w, (const uint16_t[]){ 0xFFFE, 0xFFFF }, 2);
}

static void test_orders16(void **state)
{
	uint16_t w[1];

	enc(TYPE_U16, "AB", 0x1234, w);
	assert_int_equal(w[0], 0x1234);
	enc(TYPE_U16, "BA", 0x1234, w);
	assert_int_equal(w[0], 0x3412);
	enc(TYPE_S16, NULL, -2, w);        /* the DDS238's active power */
	assert_int_equal(w[0], 0xFFFE);
	enc(TYPE_S16, "BA", -2, w);
	assert_int_equal(w[0], 0xFEFF);
	enc(TYPE_U16, NULL, 41.6, w);      /* rounded to the nearest */
	assert_int_equal(w[0], 42);
	enc(TYPE_BIT, NULL, 1, w);
	assert_int_equal(w[0], 1);
}

static void test_orders64(void **state)
{
	static const struct { const char *order; uint16_t w[4]; } cases[] = {
		{ "ABCDEFGH", { 0x0102, 0x0304, 0x0506, 0x0708 } },
		{ "BADCFEHG", { 0x0201, 0x0403, 0x0605, 0x0807 } },
		{ "CDABGHEF", { 0x0304, 0x0102, 0x0708, 0x0506 } },
		{ "DCBAHGFE", { 0x0403, 0x0201, 0x0807, 0x0605 } },
		{ "EFGHABCD", { 0x0506, 0x0708, 0x0102, 0x0304 } },
		{ "FEHGBADC", { 0x0605, 0x0807, 0x0201, 0x0403 } },
		{ "GHEFCDAB", { 0x0708, 0x0506, 0x0304, 0x0102 } },
		{ "HGFEDCBA", { 0x0807, 0x0605, 0x0403, 0x0201 } },
	};
	uint16_t w[4];

	/* 0x0102030405060708 is not exact in a double; use the u64 as f64's
	 * bits instead, which is */
	for (size_t i = 0; i < 8; i++) {
		uint64_t bits = 0x0102030405060708ULL;
		double d;
		memcpy(&d, &bits, sizeof(d));
		enc(TYPE_F64, cases[i].order, d, w);
		expect_words(w, cases[i].w, 4);
		struct reg_order o;
		assert_int_equal(reg_order_parse(cases[i].order, TYPE_F64, &o), 0);
		assert_true(reg_decode(TYPE_F64, &o, 0, w) == d);
	}
	enc(TYPE_S64, "ABCDEFGH", -3, w);
	expect_words(w, (const uint16_t[]){ 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFD }, 4);
	enc(TYPE_U64, "GHEFCDAB", 65536.0 * 65536.0 + 5, w);
	expect_words(w, (const uint16_t[]){ 0x0005, 0x0000, 0x0001, 0x0000 }, 4);
}

/* Every type and order: decode(encode(v)) == v */
static void test_roundtrip_all(void **state)
{
	static const char *const o16[] = { "AB", "BA" };
	static const char *const o32[] = { "ABCD", "BADC", "CDAB", "DCBA" };
	static const char *const o64[] = { "ABCDEFGH", "BADCFEHG", "CDABGHEF", "DCBAHGFE",
					   "EFGHABCD", "FEHGBADC", "GHEFCDAB", "HGFEDCBA" };
	static const struct { enum reg_type t; double v; } vals[] = {
		{ TYPE_U16, 65535 }, { TYPE_S16, -32768 }, { TYPE_U32, 4000000000.0 },
		{ TYPE_S32, -2000000000.0 }, { TYPE_F32, -1.5 }, { TYPE_U64, 1e15 },
		{ TYPE_S64, -1e15 }, { TYPE_F64, 3.141592653589793 },
	};
	uint16_t w[4];
	struct reg_order o;

	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		unsigned nw = reg_type_words(vals[i].t);
		const char *const *names = nw == 1 ? o16 : nw == 2 ? o32 : o64;
		size_t n = nw == 1 ? 2 : nw == 2 ? 4 : 8;
		for (size_t k = 0; k < n; k++) {
			assert_int_equal(reg_order_parse(names[k], vals[i].t, &o), 0);
			assert_int_equal(reg_encode_checked(vals[i].t, &o, vals[i].v, w), 0);
			assert_true(reg_decode(vals[i].t, &o, 0, w) == vals[i].v);
		}
	}
}

static void test_refused(void **state)
{
	struct reg_order o;
	uint16_t w[4] = { 0xAAAA, 0xAAAA, 0xAAAA, 0xAAAA };

	assert_int_equal(reg_order_parse(NULL, TYPE_U16, &o), 0);
	assert_int_equal(reg_encode_checked(TYPE_U16, &o, 65536, w), -ERANGE);
	assert_int_equal(reg_encode_checked(TYPE_U16, &o, -1, w), -ERANGE);
	assert_int_equal(reg_encode_checked(TYPE_U16, &o, NAN, w), -EINVAL);
	assert_int_equal(reg_encode_checked(TYPE_U16, &o, INFINITY, w), -EINVAL);
	assert_int_equal(w[0], 0xAAAA);     /* untouched when refused */
	assert_int_equal(reg_encode_checked(TYPE_S16, &o, 32768, w), -ERANGE);
	assert_int_equal(reg_encode_checked(TYPE_S16, &o, -32768.4, w), 0);
	assert_int_equal(reg_encode_checked(TYPE_BIT, &o, 2, w), -ERANGE);
	assert_int_equal(reg_order_parse(NULL, TYPE_U32, &o), 0);
	assert_int_equal(reg_encode_checked(TYPE_U32, &o, 4294967296.0, w), -ERANGE);
	assert_int_equal(reg_encode_checked(TYPE_S32, &o, 2147483648.0, w), -ERANGE);
	assert_int_equal(reg_encode_checked(TYPE_F32, &o, 1e39, w), -ERANGE);
	assert_int_equal(reg_order_parse(NULL, TYPE_U64, &o), 0);
	assert_int_equal(reg_encode_checked(TYPE_U64, &o, 1.9e19, w), -ERANGE);
}

/* Scale and offset undone: 229.8 V at scale 0.1 is 2298; -5.0 Cel with
 * offset -40 and scale 0.5 is 70. */
static void test_reg_def(void **state)
{
	struct reg_def d = { .type = TYPE_U16, .scale = 0.1, .offset = 0 };
	uint16_t w[2];

	assert_int_equal(reg_order_parse(NULL, TYPE_U16, &d.order), 0);
	assert_int_equal(reg_def_encode(&d, 229.8, w), 0);
	assert_int_equal(w[0], 2298);
	assert_true(fabs(reg_def_value(&d, w) - 229.8) < 1e-9);
	d.scale = 0.5;
	d.offset = -40;
	assert_int_equal(reg_def_encode(&d, -5.0, w), 0);
	assert_int_equal(w[0], 70);
	assert_int_equal(reg_def_encode(&d, -41.0, w), -ERANGE);   /* raw -2 */
	d = (struct reg_def){ .type = TYPE_U32, .scale = 0.01 };
	assert_int_equal(reg_order_parse("CDAB", TYPE_U32, &d.order), 0);
	assert_int_equal(reg_def_encode(&d, 1000.0, w), 0);        /* 100000 = 0x000186A0 */
	expect_words(w, (const uint16_t[]){ 0x86A0, 0x0001 }, 2);
	assert_true(reg_def_value(&d, w) == 1000.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_orders32),
		cmocka_unit_test(test_orders16),
		cmocka_unit_test(test_orders64),
		cmocka_unit_test(test_roundtrip_all),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_reg_def),
	};
	return cmocka_run_group_tests_name("encode", tests, NULL, NULL);
}
