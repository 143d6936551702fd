/* The IOC command parser: the signed envelope (HMAC-SHA256 over the body's
 * exact bytes), and every class of rejection with its reason. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "command.h"

static const char key[] = "0123456789abcdef0123456789abcdef";

/* The envelope an IOC sends, signed with @k (NULL: no hmac). */
static char *envelope(const char *body, const char *k, int upper)
{
	unsigned char mac[32];
	unsigned len = 0;
	char hex[65];
	json_t *env;
	char *s;

	if (k) {
		HMAC(EVP_sha256(), k, (int)strlen(k), (const unsigned char *)body, strlen(body), mac, &len);
		for (int i = 0; i < 32; i++)
			sprintf(hex + 2 * i, upper ? "%02X" : "%02x", mac[i]);
		env = json_pack("{s:s,s:s}", "body", body, "hmac", hex);
	} else {
		env = json_pack("{s:s}", "body", body);
	}
	s = json_dumps(env, JSON_COMPACT);
	json_decref(env);
	return s;
}

static int parse(const char *msg, struct lighting_cmd *c, char *why)
{
	return lighting_cmd_parse(msg, strlen(msg), (const unsigned char *)key, strlen(key), c, why, 300);
}

static int parse_signed(const char *body, struct lighting_cmd *c, char *why)
{
	char *m = envelope(body, key, 0);
	int rc = parse(m, c, why);
	free(m);
	return rc;
}

static void test_good(void **state)
{
	struct lighting_cmd c;
	char why[300];
	char *m = envelope("{\"id\":\"ioc-1\",\"gateway\":\"gw-1\",\"ts\":1796155838,\"action\":\"dim\",\"level\":70,"
			   "\"target\":{\"group\":\"north\"},\"expires\":1796155898,\"reason\":\"market\"}", key, 1);

	assert_int_equal(parse(m, &c, why), 0);
	free(m);
	assert_string_equal(c.id, "ioc-1");
	assert_string_equal(c.gateway, "gw-1");
	assert_int_equal(c.ts_ms, 1796155838000LL);
	assert_int_equal(c.action, CMD_DIM);
	assert_true(c.level == 70);
	assert_int_equal(c.scope, SCOPE_GROUP);
	assert_string_equal(c.target, "north");
	assert_int_equal(c.expires_ms, 1796155898000LL);
	assert_string_equal(c.reason, "market");

	assert_int_equal(parse_signed("{\"id\":\"a\",\"gateway\":\"gw-1\",\"ts\":1796155838,\"action\":\"on\",\"target\":{\"ward\":true}}", &c, why), 0);
	assert_true(c.level == 100 && c.scope == SCOPE_WARD && c.expires_ms == 0);
	assert_int_equal(parse_signed("{\"id\":\"b\",\"gateway\":\"gw-1\",\"ts\":1796155838,\"action\":\"off\",\"target\":{\"lamp\":\"cab-001\"}}", &c, why), 0);
	assert_true(c.level == 0 && c.scope == SCOPE_DEVICE && c.lamp);
	assert_int_equal(parse_signed("{\"id\":\"c\",\"gateway\":\"gw-1\",\"ts\":1796155838,\"action\":\"clear_override\",\"target\":{\"device\":\"cab-001\"}}", &c, why), 0);
	assert_int_equal(c.action, CMD_CLEAR);
}

static void expect(int want, const char *msg, int sign, const char *needle, const char *id)
{
	struct lighting_cmd c;
	char why[300] = "";
	char *m = sign ? envelope(msg, key, 0) : strdup(msg);
	int rc = parse(m, &c, why);

	free(m);
	if (rc != want || !strstr(why, needle))
		fail_msg("%s: want %d '%s', got %d '%s'", msg, want, needle, rc, why);
	if (id)
		assert_string_equal(c.id, id);
}

static void test_rejections(void **state)
{
	char *m;

	expect(-EINVAL, "", 0, "malformed: empty", NULL);
	expect(-EINVAL, "nope", 0, "malformed: not JSON", "");
	expect(-EINVAL, "[1,2]", 0, "malformed: the message must be", NULL);
	expect(-EINVAL, "{\"body\":\"{}\",\"hmac\":\"00\",\"x\":1}", 0, "unknown envelope key 'x'", NULL);
	expect(-EINVAL, "{\"body\":\"{}\",\"body\":\"{}\"}", 0, "malformed: not JSON", NULL);   /* duplicate keys */
	/* unauthenticated: the id is echoed, nothing else is believed */
	m = envelope("{\"id\":\"ioc-9\",\"gateway\":\"gw-1\",\"ts\":1796155838,\"action\":\"off\",\"target\":{\"ward\":true}}", NULL, 0);
	expect(-EACCES, m, 0, "unauthenticated: no hmac", "ioc-9");
	free(m);
	m = envelope("{\"id\":\"ioc-9\",\"gateway\":\"gw-1\",\"ts\":1796155838,\"action\":\"off\",\"target\":{\"ward\":true}}", "another-key-0123456789", 0);
	expect(-EACCES, m, 0, "hmac does not match", "ioc-9");
	free(m);
	expect(-EACCES, "{\"body\":\"{}\",\"hmac\":\"xyz\"}", 0, "64 hex digits", NULL);
	expect(-EACCES, "{\"body\":\"{}\",\"hmac\":\"zz00000000000000000000000000000000000000000000000000000000000000\"}", 0,
	       "64 hex digits", NULL);
	/* signed but malformed or out of range */
	expect(-EINVAL, "{\"ts\":1796155838,\"action\":\"off\",\"target\":{\"ward\":true}}", 1, "malformed: id must be", NULL);
	expect(-EINVAL, "{\"id\":\"has space\",\"gateway\":\"gw-1\",\"ts\":1796155838}", 1, "malformed: id must be", NULL);
	expect(-EINVAL, "{\"id\":\"a\",\"gateway\":\"gw-1\",\"ts\":1796155838,\"action\":\"off\",\"target\":{\"ward\":true},\"x\":1}", 1, "unknown key 'x'", "a");
	/* the gateway is required (a command signed for one ward must not
	 * be taken by another that shares the key); its value is lighting.c's */
	expect(-EINVAL, "{\"id\":\"a\",\"ts\":1796155838,\"action\":\"off\",\"target\":{\"ward\":true}}", 1,
	       "malformed: no gateway: a command must name the gateway it is for", "a");
	expect(-EINVAL, "{\"id\":\"a\",\"gateway\":7,\"ts\":1796155838,\"action\":\"off\",\"target\":{\"ward\":true}}", 1,
	       "malformed: gateway must be a gateway id", "a");
	expect(-EINVAL, "{\"id\":\"a\",\"gateway\":\"gw 1\",\"ts\":1796155838,\"action\":\"off\",\"target\":{\"ward\":true}}", 1,
	       "malformed: gateway must be a gateway id", "a");
	expect(-EINVAL, "{\"id\":\"a\",\"gateway\":\"gw-1\",\"ts\":12,\"action\":\"off\",\"target\":{\"ward\":true}}", 1, "ts must be", "a");
	expect(-EINVAL, "{\"id\":\"a\",\"gateway\":\"gw-1\",\"ts\":1796155838,\"action\":\"blink\",\"target\":{\"ward\":true}}", 1, "action must be", "a");
	expect(-EINVAL, "{\"id\":\"a\",\"gateway\":\"gw-1\",\"ts\":1796155838,\"action\":\"dim\",\"target\":{\"ward\":true}}", 1, "dim needs a level", "a");
	expect(-ERANGE, "{\"id\":\"a\",\"gateway\":\"gw-1\",\"ts\":1796155838,\"action\":\"dim\",\"level\":-1,\"target\":{\"ward\":true}}", 1, "out of range: level -1", "a");
	expect(-ERANGE, "{\"id\":\"a\",\"gateway\":\"gw-1\",\"ts\":1796155838,\"action\":\"off\",\"level\":50,\"target\":{\"ward\":true}}", 1, "off with level 50", "a");
	expect(-EINVAL, "{\"id\":\"a\",\"gateway\":\"gw-1\",\"ts\":1796155838,\"action\":\"dim\",\"level\":\"5\",\"target\":{\"ward\":true}}", 1, "level must be a number", "a");
	expect(-EINVAL, "{\"id\":\"a\",\"gateway\":\"gw-1\",\"ts\":1796155838,\"action\":\"on\",\"target\":{\"group\":\"a\",\"device\":\"b\"}}", 1, "exactly one", "a");
	expect(-EINVAL, "{\"id\":\"a\",\"gateway\":\"gw-1\",\"ts\":1796155838,\"action\":\"on\",\"target\":{\"street\":\"b\"}}", 1, "unknown target kind", "a");
	expect(-EINVAL, "{\"id\":\"a\",\"gateway\":\"gw-1\",\"ts\":1796155838,\"action\":\"on\",\"target\":{\"ward\":false}}", 1, "ward must be true", "a");
	expect(-EINVAL, "{\"id\":\"a\",\"gateway\":\"gw-1\",\"ts\":1796155838,\"action\":\"on\",\"target\":{\"group\":\"a/b\"}}", 1, "target group must be a name", "a");
	expect(-EINVAL, "{\"id\":\"a\",\"gateway\":\"gw-1\",\"ts\":1796155838,\"action\":\"override\",\"level\":5,\"target\":{\"ward\":true}}", 1, "override needs expires", "a");
	expect(-ERANGE, "{\"id\":\"a\",\"gateway\":\"gw-1\",\"ts\":1796155838,\"action\":\"override\",\"level\":5,\"target\":{\"ward\":true},\"expires\":1796155000}", 1,
	       "expires must be after ts", "a");
	expect(-ERANGE, "{\"id\":\"a\",\"gateway\":\"gw-1\",\"ts\":1796155838,\"action\":\"override\",\"level\":5,\"target\":{\"ward\":true},\"expires\":1799155838}", 1,
	       "at most 31 days", "a");
	expect(-EINVAL, "{\"id\":\"a\",\"gateway\":\"gw-1\",\"ts\":1796155838,\"action\":\"on\",\"target\":{\"ward\":true},\"reason\":\"a\\\"b\"}", 1, "reason must be", "a");
	expect(-EINVAL, "{\"id\":\"a\",\"gateway\":\"gw-1\",\"ts\":1796155838,\"action\":\"clear_override\",\"level\":3,\"target\":{\"ward\":true}}", 1, "takes no level", "a");
}

/* The worked example of docs/lighting.md, byte for byte: it must verify. */
static void test_doc_example(void **state)
{
	static const char k[] = "3f9a1c0e5b7d2468ace013579bdf2468";
	static const char msg[] =
		"{\"body\":\"{\\\"id\\\":\\\"ioc-20261201-0042\\\",\\\"gateway\\\":\\\"phuoc-long\\\",\\\"ts\\\":1796155838,\\\"action\\\":\\\"dim\\\","
		"\\\"level\\\":50,\\\"target\\\":{\\\"group\\\":\\\"north\\\"},\\\"expires\\\":1796170238,"
		"\\\"reason\\\":\\\"festival\\\"}\",\"hmac\":\"9a2fead2604bd99d91216e6f34064abee3b1abb2e0ae1cae5a4bd4ead3c9905d\"}";
	struct lighting_cmd c;
	char why[300] = "";

	if (lighting_cmd_parse(msg, strlen(msg), (const unsigned char *)k, strlen(k), &c, why, sizeof(why)) != 0)
		fail_msg("doc example: %s", why);
	assert_string_equal(c.id, "ioc-20261201-0042");
	assert_string_equal(c.gateway, "phuoc-long");
	assert_true(c.level == 50);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_doc_example),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
