/* The chunk codec: every sample comes back bit for bit (time, value bits,
 * quality) whatever the mode, with the edge values a register or a clock
 * can produce: NaN, ±Inf, -0, counters wrapping, equal and decreasing
 * timestamps, gaps of days, decimals that do not fit the chunk's mode. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "chunk.h"

struct smp {
	int64_t ts;
	double v;
	int q;
};

static uint64_t bits(double v)
{
	uint64_t b;
	memcpy(&b, &v, sizeof(b));
	return b;
}

/* Encode @n samples in @mode, decode, compare; returns the bytes used. */
static size_t roundtrip(int mode, const struct smp *s, size_t n)
{
	struct chunk_enc e;
	struct chunk_dec d;
	const uint8_t *p;
	size_t len;
	int64_t ts;
	double v;
	int q;

	assert_int_equal(chunk_enc_init(&e, mode), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(chunk_enc_add(&e, s[i].ts, s[i].v, s[i].q), 0);
	p = chunk_enc_data(&e, &len);
	assert_int_equal(chunk_dec_init(&d, p, len), 0);
	assert_int_equal(d.n, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(chunk_dec_next(&d, &ts, &v, &q), 1);
		assert_int_equal(ts, s[i].ts);
		if (isnan(s[i].v))
			assert_true(isnan(v));
		else
			assert_true(bits(v) == bits(s[i].v));
		assert_int_equal(q, s[i].q & 0xff);
	}
	assert_int_equal(chunk_dec_next(&d, &ts, &v, &q), 0);
	chunk_enc_release(&e);
	return len;
}

static const struct smp edge[] = {
	{ 1000, 0, 0 }, { 1000, 0, 0 },                 /* equal timestamps */
	{ 999, NAN, 2 }, { 2000, INFINITY, 3 },         /* time going back */
	{ 3000, -INFINITY, 0 }, { 3000, -0.0, 0 },
	{ 86400000LL * 30 + 3000, 4294967295.0, 0 },    /* a gap of 30 days */
	{ 86400000LL * 30 + 4000, 0, 0 },               /* a u32 counter wraps */
	{ 86400000LL * 30 + 5000, 9007199254740993.0, 1 },
	{ INT64_MIN, 1e308, 0 }, { INT64_MAX, -1e-308, 0 },   /* extreme clocks */
	{ 0, 230.1, 255 }, { 1, 5e-324, 0 }, { 2, 1024.5, 7 },
	{ 3, 0.30000000000000004, 0 },
};

static void test_edges_every_mode(void **state)
{
	for (int m = 0; m < CHUNK_NMODES; m++)
		roundtrip(m, edge, sizeof(edge) / sizeof(edge[0]));
}

static void test_counter_wraps(void **state)
{
	struct smp s[400];
	uint64_t c = 4294967295ull - 100000;

	/* a u32 energy counter wrapping, and a u64 one near its top */
	for (int i = 0; i < 200; i++) {
		s[i] = (struct smp){ 1700000000000LL + i * 1000, (double)(uint32_t)c, 0 };
		c += 997;
	}
	for (int i = 200; i < 400; i++)
		s[i] = (struct smp){ 1700000000000LL + i * 1000, (double)(INT64_MAX - 1000 + i) , 0 };
	roundtrip(CHUNK_INT, s, 400);
	roundtrip(CHUNK_XOR, s, 400);
}

/* Gaps, a new poll interval, jitter, time going back: all come back. */
static void test_time_gaps(void **state)
{
	struct smp s[600];
	int64_t t = 1764720000000LL;
	unsigned seed = 11;

	for (int i = 0; i < 600; i++) {
		seed = seed * 1103515245u + 12345u;
		t += i < 100 ? 1000 : i < 200 ? 5000 : i < 300 ? 200 : 1000;
		if (i % 37 == 0)
			t += 3600000;                           /* a gap of an hour */
		if (i == 450)
			t -= 86400000;                          /* the clock steps back a day */
		s[i] = (struct smp){ t + (seed >> 16) % 7, i % 5, i % 97 == 0 };
	}
	for (int m = 0; m < CHUNK_NMODES; m++)
		roundtrip(m, s, 600);
}

static void test_modes(void **state)
{
	int64_t i;

	assert_int_equal(chunk_pick_mode(230, CHUNK_XOR), CHUNK_INT);
	assert_int_equal(chunk_pick_mode(2301 * 0.1, CHUNK_XOR), CHUNK_MUL1);
	assert_true(chunk_mode_fits(CHUNK_MUL1, 2301 * 0.1, &i) && i == 2301);
	assert_int_equal(chunk_pick_mode(230.1, CHUNK_XOR), chunk_mode_fits(CHUNK_MUL1, 230.1, &i) ?
			 CHUNK_MUL1 : CHUNK_DIV1);
	assert_int_equal(chunk_pick_mode(NAN, CHUNK_INT), CHUNK_XOR);
	assert_int_equal(chunk_pick_mode(INFINITY, CHUNK_XOR), CHUNK_XOR);
	assert_int_equal(chunk_pick_mode(1.0 / 3, CHUNK_XOR), CHUNK_XOR);
	/* the preferred mode wins when it fits */
	assert_int_equal(chunk_pick_mode(230, CHUNK_MUL1 + 1), CHUNK_MUL1 + 1);
	assert_false(chunk_mode_fits(CHUNK_INT, -0.0, &i));
	assert_false(chunk_mode_fits(CHUNK_INT, 1e300, &i));
	assert_false(chunk_mode_fits(CHUNK_XOR, 1, &i));
}

/* What a lighting cabinet gives: a steady status word, a rising energy
 * counter at 0.01 kWh, a noisy voltage at 0.1 V, polled every second with
 * a few ms of jitter. The compressed sizes are what docs/storage.md cites. */
static void test_realistic_sizes(void **state)
{
	enum { N = 2000 };
	struct smp *s = calloc(N, sizeof(*s));
	int64_t ts = 1764720000000LL;
	unsigned seed = 7;

	assert_non_null(s);
	for (int i = 0; i < N; i++)
		s[i] = (struct smp){ ts + i * 1000, 3, 0 };
	size_t status = roundtrip(CHUNK_INT, s, N);
	for (int i = 0; i < N; i++) {
		seed = seed * 1103515245u + 12345u;
		s[i] = (struct smp){ ts + i * 1000 + (seed >> 16) % 5, (2300 + (int)((seed >> 8) % 7) - 3) * 0.1, 0 };
	}
	size_t volt = roundtrip(CHUNK_MUL1, s, N);
	for (int i = 0; i < N; i++)
		s[i] = (struct smp){ ts + i * 1000, (123456 + i / 7) * 0.01, 0 };
	size_t energy = roundtrip(CHUNK_MUL1 + 1, s, N);
	print_message("bytes per sample: status %.2f, voltage %.2f, energy %.2f\n",
		      (double)status / N, (double)volt / N, (double)energy / N);
	assert_true(status < N / 2);            /* under 4 bits a sample */
	assert_true(volt < N * 2);
	assert_true(energy < N);
	free(s);
}

static void test_corrupt(void **state)
{
	struct chunk_enc e;
	struct chunk_dec d;
	const uint8_t *p;
	uint8_t bad[64];
	size_t len;
	int64_t ts;
	double v;
	int q, rc = 1;

	assert_int_equal(chunk_dec_init(&d, (const uint8_t *)"\x01", 1), -EINVAL);
	assert_int_equal(chunk_dec_init(&d, (const uint8_t *)"\x09\x00\x00\x00\x00\x00", 6), -EINVAL);
	assert_int_equal(chunk_dec_init(&d, (const uint8_t *)"\x01\x0a\x00\x00\x00\x00", 6), -EINVAL);
	assert_int_equal(chunk_enc_init(&e, CHUNK_NMODES), -EINVAL);
	assert_int_equal(chunk_enc_init(&e, CHUNK_INT), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(chunk_enc_add(&e, i * 1000, i * 7, 0), 0);
	p = chunk_enc_data(&e, &len);
	assert_true(len <= sizeof(bad));
	/* cut short: the decoder stops with an error, never reads past */
	memcpy(bad, p, len);
	assert_int_equal(chunk_dec_init(&d, bad, len - 2), 0);
	while ((rc = chunk_dec_next(&d, &ts, &v, &q)) == 1)
		;
	assert_int_equal(rc, -EINVAL);
	/* a count larger than the bits */
	bad[5] = 0x7f;
	assert_int_equal(chunk_dec_init(&d, bad, len), 0);
	while ((rc = chunk_dec_next(&d, &ts, &v, &q)) == 1)
		;
	assert_int_equal(rc, -EINVAL);
	chunk_enc_release(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_edges_every_mode),
		cmocka_unit_test(test_counter_wraps),
		cmocka_unit_test(test_time_gaps),
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_realistic_sizes),
		cmocka_unit_test(test_corrupt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
