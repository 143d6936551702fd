/* Decoding of every register type and order against known values. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "decode.h"

static double dec(enum reg_type t, const char *order, const uint16_t *w)
{
	struct reg_order o;

	assert_int_equal(reg_order_parse(order, t, &o), 0);
	return reg_decode(t, &o, 0, w);
}

/* Eastron SDM120 voltage: f32 ABCD 0x4366 0x0000 = 230.0 V */
static void test_sdm120_voltage(void **state)
{
	const uint16_t w[] = { 0x4366, 0x0000 };

	assert_true(dec(TYPE_F32, "ABCD", w) == 230.0);
	assert_true(dec(TYPE_F32, NULL, w) == 230.0);
	/* the same bytes read as low word first are something else */
	assert_true(dec(TYPE_F32, "CDAB", w) != 230.0);
}

/* Hiking DDS238-2 active power: s16 0xFFFE = -2 W */
static void test_dds238_power(void **state)
{
	const uint16_t w[] = { 0xFFFE };

	assert_true(dec(TYPE_S16, NULL, w) == -2.0);
	assert_true(dec(TYPE_U16, NULL, w) == 65534.0);
}

/* DDS238 energy u32 big-endian in 0.01 kWh: 0x0001 0x86A0 = 100000 -> 1000.00 kWh */
static void test_dds238_energy(void **state)
{
	const uint16_t w[] = { 0x0001, 0x86A0 };

	assert_true(dec(TYPE_U32, NULL, w) * 0.01 == 1000.0);
}

static void test_orders32(void **state)
{
	/* 0x11223344 laid out in each 32-bit order */
	const uint16_t abcd[] = { 0x1122, 0x3344 }, badc[] = { 0x2211, 0x4433 },
		       cdab[] = { 0x3344, 0x1122 }, dcba[] = { 0x4433, 0x2211 };

	assert_true(dec(TYPE_U32, "ABCD", abcd) == (double)0x11223344);
	assert_true(dec(TYPE_U32, "BADC", badc) == (double)0x11223344);
	assert_true(dec(TYPE_U32, "CDAB", cdab) == (double)0x11223344);
	assert_true(dec(TYPE_U32, "DCBA", dcba) == (double)0x11223344);
	const uint16_t neg[] = { 0xFFFF, 0xFFFE };
	assert_true(dec(TYPE_S32, "ABCD", neg) == -2.0);
}

static void test_orders64(void **state)
{
	/* 0x0102030405060708 in all eight 64-bit orders */
	static const struct { const char *o; uint16_t w[4]; } cases[] = {
		{ "ABCDEFGH", { 0x0102, 0x0304, 0x0506, 0x0708 } },
		{ "BADCFEHG", { 0x0201, 0x0403, 0x0605, 0x0807 } },
		{ "CDABGHEF", { 0x0304, 0x0102, 0x0708, 0x0506 } },
		{ "DCBAHGFE", { 0x0403, 0x0201, 0x0807, 0x0605 } },
		{ "EFGHABCD", { 0x0506, 0x0708, 0x0102, 0x0304 } },
		{ "FEHGBADC", { 0x0605, 0x0807, 0x0201, 0x0403 } },
		{ "GHEFCDAB", { 0x0708, 0x0506, 0x0304, 0x0102 } },
		{ "HGFEDCBA", { 0x0807, 0x0605, 0x0403, 0x0201 } },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_true(dec(TYPE_U64, cases[i].o, cases[i].w) == (double)0x0102030405060708ULL);
	/* f64 1.0 = 0x3FF0000000000000, and s64 -1 */
	const uint16_t one[] = { 0x3FF0, 0, 0, 0 }, m1[] = { 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF };
	assert_true(dec(TYPE_F64, NULL, one) == 1.0);
	assert_true(dec(TYPE_S64, NULL, m1) == -1.0);
	const uint16_t one_le[] = { 0, 0, 0, 0xF03F };
	assert_true(dec(TYPE_F64, "HGFEDCBA", one_le) == 1.0);
}

static void test_bits_and_u16_order(void **state)
{
	struct reg_order o;
	const uint16_t w[] = { 0x0005 };

	assert_int_equal(reg_order_parse(NULL, TYPE_BIT, &o), 0);
	assert_true(reg_decode(TYPE_BIT, &o, 0, w) == 1.0);
	assert_true(reg_decode(TYPE_BIT, &o, 1, w) == 0.0);
	assert_true(reg_decode(TYPE_BIT, &o, 2, w) == 1.0);
	const uint16_t sw[] = { 0x3412 };
	assert_true(dec(TYPE_U16, "BA", sw) == (double)0x1234);
}

static void test_bad_orders(void **state)
{
	struct reg_order o;

	assert_int_equal(reg_order_parse("CDAB", TYPE_U16, &o), -EINVAL);
	assert_int_equal(reg_order_parse("ABCD", TYPE_U64, &o), -EINVAL);
	assert_int_equal(reg_order_parse("ACBD", TYPE_U32, &o), -EINVAL);
	assert_int_equal(reg_order_parse("", TYPE_F32, &o), -EINVAL);
}

static void test_encode_roundtrip(void **state)
{
	const char *o32[] = { "ABCD", "BADC", "CDAB", "DCBA" };
	uint16_t w[4];
	struct reg_order o;

	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(reg_order_parse(o32[i], TYPE_F32, &o), 0);
		reg_encode(TYPE_F32, &o, 230.0, w);
		assert_true(reg_decode(TYPE_F32, &o, 0, w) == 230.0);
		reg_encode(TYPE_S32, &o, -123456, w);
		assert_true(reg_decode(TYPE_S32, &o, 0, w) == -123456.0);
	}
	assert_int_equal(reg_order_parse(NULL, TYPE_F32, &o), 0);
	reg_encode(TYPE_F32, &o, 230.0, w);
	assert_int_equal(w[0], 0x4366);
	assert_int_equal(w[1], 0x0000);
	assert_int_equal(reg_order_parse("GHEFCDAB", TYPE_F64, &o), 0);
	reg_encode(TYPE_F64, &o, -1.5e10, w);
	assert_true(reg_decode(TYPE_F64, &o, 0, w) == -1.5e10);
	assert_int_equal(reg_order_parse(NULL, TYPE_S16, &o), 0);
	reg_encode(TYPE_S16, &o, -40000, w);   /* saturates */
	assert_true(reg_decode(TYPE_S16, &o, 0, w) == -32768.0);
}

static void test_names(void **state)
{
	enum reg_type t;
	enum reg_table tb;

	assert_int_equal(reg_type_parse("f64", &t), 0);
	assert_int_equal(t, TYPE_F64);
	assert_int_equal(reg_type_parse("float", &t), -EINVAL);
	assert_int_equal(reg_table_parse("input", &tb), 0);
	assert_int_equal(tb, TABLE_INPUT);
	assert_int_equal(reg_table_parse("inputs", &tb), -EINVAL);
	assert_int_equal(reg_type_words(TYPE_F64), 4);
	assert_int_equal(reg_type_words(TYPE_S32), 2);
	assert_int_equal(reg_type_words(TYPE_BIT), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sdm120_voltage),
		cmocka_unit_test(test_dds238_power),
		cmocka_unit_test(test_dds238_energy),
		cmocka_unit_test(test_orders32),
		cmocka_unit_test(test_orders64),
		cmocka_unit_test(test_bits_and_u16_order),
		cmocka_unit_test(test_bad_orders),
		cmocka_unit_test(test_encode_roundtrip),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests_name("decode", tests, NULL, NULL);
}
