/* sha256.c: the FIPS 180-4 examples, and the same digests as OpenSSL's for
 * every length around the block and padding edges, fed whole and in
 * uneven pieces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "sha256.h"

static void hex(const uint8_t *d, char *out)
{
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void check(const char *msg, const char *want)
{
	struct sha256 c;
	uint8_t d[32];
	char h[65];

	sha256_init(&c);
	sha256_update(&c, msg, strlen(msg));
	sha256_final(&c, d);
	hex(d, h);
	assert_string_equal(h, want);
}

static void test_vectors(void **state)
{
	check("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	check("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	check("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	/* a million 'a' */
	struct sha256 c;
	uint8_t d[32];
	char h[65], a[1000];
	memset(a, 'a', sizeof(a));
	sha256_init(&c);
	for (int i = 0; i < 1000; i++)
		sha256_update(&c, a, sizeof(a));
	sha256_final(&c, d);
	hex(d, h);
	assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_as_openssl(void **state)
{
	uint8_t buf[300], d[32], o[32];
	unsigned olen = 0;
	uint32_t x = 12345;

	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (uint8_t)(x >> 16);
	}
	for (size_t n = 0; n <= sizeof(buf); n++) {
		struct sha256 c;
		sha256_init(&c);
		/* in pieces of 1, 2, 3, ... bytes */
		for (size_t off = 0, k = 1; off < n; off += k, k++)
			sha256_update(&c, buf + off, off + k <= n ? k : n - off);
		sha256_final(&c, d);
		assert_int_equal(EVP_Digest(buf, n, o, &olen, EVP_sha256(), NULL), 1);
		assert_int_equal(olen, 32);
		assert_memory_equal(d, o, 32);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_as_openssl),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
