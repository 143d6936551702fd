/* Modbus TCP framing: requests byte for byte, replies valid and broken. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "mbap.h"

static void test_request(void **state)
{
	uint8_t b[MBAP_READ_REQUEST];
	const uint8_t want[] = { 0x00, 0x07, 0x00, 0x00, 0x00, 0x06, 0x01, 0x04, 0x01, 0x56, 0x00, 0x02 };

	assert_int_equal(mbap_read_request(b, 7, 1, TABLE_INPUT, 0x0156, 2), 12);
	assert_memory_equal(b, want, 12);
	mbap_read_request(b, 0xABCD, 9, TABLE_COIL, 0, 2000);
	assert_int_equal(b[7], 0x01);
	assert_int_equal(b[10] << 8 | b[11], 2000);
	assert_int_equal(mbap_read_fc(TABLE_DISCRETE), 0x02);
	assert_int_equal(mbap_read_fc(TABLE_HOLDING), 0x03);
}

static void test_frame_len(void **state)
{
	const uint8_t ok[] = { 0, 1, 0, 0, 0, 7, 1, 3, 4, 0, 1, 0, 2 };
	const uint8_t proto[] = { 0, 1, 0, 1, 0, 7, 1 };
	const uint8_t shortlen[] = { 0, 1, 0, 0, 0, 1, 1 };
	const uint8_t longlen[] = { 0, 1, 0, 0, 0x01, 0x00, 1 };

	assert_int_equal(mbap_frame_len(ok, 6), 0);
	assert_int_equal(mbap_frame_len(ok, sizeof(ok)), 13);
	assert_int_equal(mbap_frame_len(proto, 7), -EBADMSG);
	assert_int_equal(mbap_frame_len(shortlen, 7), -EBADMSG);
	assert_int_equal(mbap_frame_len(longlen, 7), -EBADMSG);
}

static void test_read_reply(void **state)
{
	/* FC03, two registers 0x4366 0x0000 */
	const uint8_t f[] = { 0, 9, 0, 0, 0, 7, 1, 3, 4, 0x43, 0x66, 0x00, 0x00 };
	uint16_t out[2];
	uint8_t exc = 0;

	assert_int_equal(mbap_parse_read_reply(f, sizeof(f), 9, 1, TABLE_HOLDING, 2, out, &exc), 0);
	assert_int_equal(out[0], 0x4366);
	assert_int_equal(out[1], 0);
	/* the same frame is not an answer to FC04, another tid, another unit, another count */
	assert_int_equal(mbap_parse_read_reply(f, sizeof(f), 9, 1, TABLE_INPUT, 2, out, &exc), -EBADMSG);
	assert_int_equal(mbap_parse_read_reply(f, sizeof(f), 8, 1, TABLE_HOLDING, 2, out, &exc), -ENOMSG);
	assert_int_equal(mbap_parse_read_reply(f, sizeof(f), 9, 2, TABLE_HOLDING, 2, out, &exc), -EBADMSG);
	assert_int_equal(mbap_parse_read_reply(f, sizeof(f), 9, 1, TABLE_HOLDING, 1, out, &exc), -EBADMSG);
	/* truncated */
	assert_int_equal(mbap_parse_read_reply(f, sizeof(f) - 1, 9, 1, TABLE_HOLDING, 2, out, &exc), -EBADMSG);
}

static void test_bits_reply(void **state)
{
	/* FC01, 10 coils: 0b00000101, 0b10 -> coils 0, 2 and 9 */
	const uint8_t f[] = { 0, 1, 0, 0, 0, 5, 1, 1, 2, 0x05, 0x02 };
	uint16_t out[10];
	uint8_t exc;

	assert_int_equal(mbap_parse_read_reply(f, sizeof(f), 1, 1, TABLE_COIL, 10, out, &exc), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(out[i], i == 0 || i == 2 || i == 9);
	/* a byte count that does not fit 10 bits */
	assert_int_equal(mbap_parse_read_reply(f, sizeof(f), 1, 1, TABLE_COIL, 17, out, &exc), -EBADMSG);
}

static void test_exception(void **state)
{
	const uint8_t f[] = { 0, 3, 0, 0, 0, 3, 1, 0x84, 0x02 };
	const uint8_t bad[] = { 0, 3, 0, 0, 0, 4, 1, 0x84, 0x02, 0x00 };
	uint16_t out[2];
	uint8_t exc = 0;

	assert_int_equal(mbap_parse_read_reply(f, sizeof(f), 3, 1, TABLE_INPUT, 2, out, &exc), -EREMOTEIO);
	assert_int_equal(exc, 2);
	assert_string_equal(mbap_exception_str(exc), "illegal data address");
	assert_int_equal(mbap_parse_read_reply(bad, sizeof(bad), 3, 1, TABLE_INPUT, 2, out, &exc), -EBADMSG);
	/* an exception for another function code is malformed */
	assert_int_equal(mbap_parse_read_reply(f, sizeof(f), 3, 1, TABLE_HOLDING, 2, out, &exc), -EBADMSG);
}

/* Write requests and their replies, byte by byte (Modbus Application
 * Protocol v1.1b3, 6.5, 6.6, 6.11, 6.12). */
static void test_write_requests(void **state)
{
	uint8_t b[MBAP_MAX_ADU];
	uint8_t exc = 0;
	const uint16_t on[] = { 1 }, val[] = { 0x1234 }, regs[] = { 0x4366, 0x0000 }, bits[] = { 1, 0, 1, 1, 0, 0, 0, 0, 1 };

	assert_int_equal(mbap_write_request(b, 7, 3, 5, 0x0100, on, 1), 12);
	assert_memory_equal(b, ((const uint8_t[]){ 0, 7, 0, 0, 0, 6, 3, 5, 0x01, 0x00, 0xFF, 0x00 }), 12);
	assert_int_equal(mbap_parse_write_reply(b, 12, 7, 3, 5, 0x0100, on, 1, &exc), 0);
	assert_int_equal(mbap_parse_write_reply(b, 12, 8, 3, 5, 0x0100, on, 1, &exc), -ENOMSG);
	assert_int_equal(mbap_write_request(b, 1, 1, 6, 0x0010, val, 1), 12);
	assert_memory_equal(b + 7, ((const uint8_t[]){ 6, 0x00, 0x10, 0x12, 0x34 }), 5);
	assert_int_equal(mbap_parse_write_reply(b, 12, 1, 1, 6, 0x0010, val, 1, &exc), 0);
	b[11] = 0x35;   /* an echo that differs */
	assert_int_equal(mbap_parse_write_reply(b, 12, 1, 1, 6, 0x0010, val, 1, &exc), -EBADMSG);
	assert_int_equal(mbap_write_request(b, 2, 1, 16, 0x0102, regs, 2), 17);
	assert_memory_equal(b + 4, ((const uint8_t[]){ 0, 11, 1, 16, 0x01, 0x02, 0, 2, 4, 0x43, 0x66, 0, 0 }), 13);
	const uint8_t r16[] = { 0, 2, 0, 0, 0, 6, 1, 16, 0x01, 0x02, 0, 2 };
	assert_int_equal(mbap_parse_write_reply(r16, 12, 2, 1, 16, 0x0102, regs, 2, &exc), 0);
	assert_int_equal(mbap_parse_write_reply(r16, 12, 2, 1, 16, 0x0102, regs, 3, &exc), -EBADMSG);
	assert_int_equal(mbap_write_request(b, 3, 1, 15, 0x0013, bits, 9), 7 + 6 + 2);
	assert_memory_equal(b + 7, ((const uint8_t[]){ 15, 0, 0x13, 0, 9, 2, 0x0D, 0x01 }), 8);
	const uint8_t ex[] = { 0, 3, 0, 0, 0, 3, 1, 0x8F, 0x02 };
	assert_int_equal(mbap_parse_write_reply(ex, 9, 3, 1, 15, 0x0013, bits, 9, &exc), -EREMOTEIO);
	assert_int_equal(exc, 0x02);
	/* bad requests refused, not built */
	assert_int_equal(mbap_write_request(b, 1, 1, 5, 0, val, 1), -EINVAL);
	assert_int_equal(mbap_write_request(b, 1, 1, 6, 0, regs, 2), -EINVAL);
	assert_int_equal(mbap_write_request(b, 1, 1, 16, 0, regs, 0), -EINVAL);
	assert_int_equal(mbap_write_request(b, 1, 1, 16, 0xFFFF, regs, 2), -EINVAL);
	assert_int_equal(mbap_write_request(b, 1, 1, 3, 0, regs, 1), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_frame_len),
		cmocka_unit_test(test_read_reply),
		cmocka_unit_test(test_bits_reply),
		cmocka_unit_test(test_exception),
		cmocka_unit_test(test_write_requests),
	};
	return cmocka_run_group_tests_name("mbap", tests, NULL, NULL);
}
