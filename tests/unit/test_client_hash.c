/* Keyed client hashes: the same MAC gives the same digest within a ward
 * day and a different one the next day; the old day key is gone after the
 * rotation and both keys after the wipe; the hash set counts, grows and
 * deletes without losing entries. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "client_hash.h"

/* 2026-11-23 00:00 ward time (UTC+7) */
#define MIDNIGHT 1795366800000LL

static int zero(const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

static void test_rotation(void **state)
{
	struct client_keys k = CLIENT_KEYS_INIT;
	const uint8_t mac[6] = { 0x02, 0x5a, 0, 1, 2, 3 }, other[6] = { 0x02, 0x5a, 0, 1, 2, 4 };
	unsigned char h1[CLIENT_HLEN], h2[CLIENT_HLEN], h3[CLIENT_HLEN], p1[CLIENT_HLEN], p2[CLIENT_HLEN];
	unsigned char old[32];

	assert_int_equal(ward_day_of(MIDNIGHT + 3600000), MIDNIGHT);
	assert_int_equal(ward_day_of(MIDNIGHT - 1), MIDNIGHT - 86400000LL);
	assert_int_equal(client_keys_rotate(&k, MIDNIGHT + 1000), 1);
	assert_false(zero(k.day, sizeof(k.day)));
	client_hash_day(&k, mac, h1);
	client_hash_proc(&k, mac, p1);
	assert_int_equal(client_keys_rotate(&k, MIDNIGHT + 86399999), 0);   /* same ward day */
	client_hash_day(&k, mac, h2);
	assert_memory_equal(h1, h2, CLIENT_HLEN);
	client_hash_day(&k, other, h3);
	assert_memory_not_equal(h1, h3, CLIENT_HLEN);
	/* nothing of the MAC shows in its digest */
	assert_null(memmem(h1, CLIENT_HLEN, mac, 3));
	memcpy(old, k.day, sizeof(old));
	assert_int_equal(client_keys_rotate(&k, MIDNIGHT + 86400000), 1);   /* the next day */
	assert_memory_not_equal(old, k.day, sizeof(old));
	client_hash_day(&k, mac, h2);
	assert_memory_not_equal(h1, h2, CLIENT_HLEN);
	client_hash_proc(&k, mac, p2);
	assert_memory_equal(p1, p2, CLIENT_HLEN);        /* the process key does not rotate */
	client_keys_wipe(&k);
	assert_true(zero(k.day, sizeof(k.day)));
	assert_true(zero(k.proc, sizeof(k.proc)));
	assert_int_equal(k.day_start, -1);
}

static void test_set(void **state)
{
	struct hset s = { 0 };
	unsigned char h[CLIENT_HLEN];
	int isnew;
	int64_t *v, *v2;

	for (int i = 0; i < 1000; i++) {
		memset(h, 0, sizeof(h));
		memcpy(h, &i, sizeof(i));
		h[8] = (unsigned char)(i * 7);
		assert_non_null(v = hset_get(&s, h, &isnew, &v2));
		assert_true(isnew);
		*v = i;
		*v2 = -i;
	}
	assert_int_equal(s.n, 1000);
	/* delete the even ones; the odd ones keep their values */
	for (int i = 0; i < 1000; i += 2) {
		memset(h, 0, sizeof(h));
		memcpy(h, &i, sizeof(i));
		h[8] = (unsigned char)(i * 7);
		hset_del(&s, h);
	}
	assert_int_equal(s.n, 500);
	for (int i = 0; i < 1000; i++) {
		memset(h, 0, sizeof(h));
		memcpy(h, &i, sizeof(i));
		h[8] = (unsigned char)(i * 7);
		assert_non_null(v = hset_get(&s, h, &isnew, &v2));
		if (i % 2) {
			assert_false(isnew);
			assert_int_equal(*v, i);
			assert_int_equal(*v2, -i);
		} else {
			assert_true(isnew);
			assert_int_equal(*v, 0);
		}
	}
	assert_int_equal(s.n, 1000);
	hset_del(&s, (const unsigned char *)"absent-absent-ab");
	assert_int_equal(s.n, 1000);
	hset_wipe(&s);
	assert_int_equal(s.n, 0);
	assert_null(s.k);
	assert_non_null(hset_get(&s, h, &isnew, NULL));   /* usable after a wipe */
	assert_true(isnew);
	hset_wipe(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_set),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
