/* The status page's parsers: query strings, Authorization headers, listen
 * addresses; bounds and bad input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "httpparse.h"

static void test_query(void **state)
{
	char v[16];

	assert_int_equal(http_query_get("device=cab-001&metric=activePower", "metric", v, sizeof(v)), 11);
	assert_string_equal(v, "activePower");
	assert_int_equal(http_query_get("a=x%20y+z&b=2", "a", v, sizeof(v)), 5);
	assert_string_equal(v, "x y z");
	assert_int_equal(http_query_get("a=1&a=2", "a", v, sizeof(v)), 1);
	assert_string_equal(v, "1");
	assert_int_equal(http_query_get("flag&b=2", "flag", v, sizeof(v)), 0);
	assert_int_equal(http_query_get("a=1", "b", v, sizeof(v)), -ENOENT);
	assert_int_equal(http_query_get("", "b", v, sizeof(v)), -ENOENT);
	assert_int_equal(http_query_get("a=%4", "a", v, sizeof(v)), -EINVAL);
	assert_int_equal(http_query_get("a=%zz", "a", v, sizeof(v)), -EINVAL);
	assert_int_equal(http_query_get("a=%00", "a", v, sizeof(v)), -EINVAL);
	assert_int_equal(http_query_get("a=0123456789abcdef", "a", v, sizeof(v)), -ENOSPC);
	assert_int_equal(http_query_get("a=0123456789abcde", "a", v, sizeof(v)), 15);
	assert_int_equal(http_query_get("%61=ok", "a", v, sizeof(v)), 2);
}

static void test_auth(void **state)
{
	char u[16], p[16], t[16];

	assert_int_equal(http_basic_auth("Basic dGVjaDpzZWNyZXQ=", u, sizeof(u), p, sizeof(p)), 0);
	assert_string_equal(u, "tech");
	assert_string_equal(p, "secret");
	assert_int_equal(http_basic_auth("basic dGVjaDpzZWNyZXQ=", u, sizeof(u), p, sizeof(p)), 0);
	assert_int_equal(http_basic_auth("Basic dGVjaA==", u, sizeof(u), p, sizeof(p)), -EINVAL);   /* no ':' */
	assert_int_equal(http_basic_auth("Basic dGVja", u, sizeof(u), p, sizeof(p)), -EINVAL);
	assert_int_equal(http_basic_auth("Basic ****", u, sizeof(u), p, sizeof(p)), -EINVAL);
	assert_int_equal(http_basic_auth("Basic ab=c", u, sizeof(u), p, sizeof(p)), -EINVAL);
	assert_int_equal(http_basic_auth("Bearer x", u, sizeof(u), p, sizeof(p)), -EINVAL);
	/* "tech:0123456789abcdefgh": the password does not fit 16 bytes */
	assert_int_equal(http_basic_auth("Basic dGVjaDowMTIzNDU2Nzg5YWJjZGVmZ2g=", u, sizeof(u), p, sizeof(p)), -ENOSPC);
	assert_int_equal(http_bearer("Bearer abc", t, sizeof(t)), 0);
	assert_string_equal(t, "abc");
	assert_int_equal(http_bearer("Bearer ", t, sizeof(t)), -EINVAL);
	assert_int_equal(http_bearer("Bearer a b", t, sizeof(t)), -EINVAL);
	assert_int_equal(http_bearer("Bearer 0123456789abcdef", t, sizeof(t)), -ENOSPC);
	assert_int_equal(http_secret_equal("abc", "abc"), 1);
	assert_int_equal(http_secret_equal("abc", "abd"), 0);
	assert_int_equal(http_secret_equal("ab", "abc"), 0);
	assert_int_equal(http_secret_equal("abcd", "abc"), 0);
}

/* The head scanned before a body is read: the Authorization value, and
 * whether a body comes; a head without its blank line is not whole. */
static void test_head_scan(void **state)
{
	char auth[32];
	int body;
	static const char h1[] = "POST /v1/readings HTTP/1.1\r\nHost: x\r\nauthorization:  Bearer abc \r\n"
				 "Content-Length: 100000\r\n\r\n{\"body\"";
	static const char h2[] = "GET / HTTP/1.1\nContent-Length: 0\n\n";
	static const char h3[] = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nAuthorization: Bearer "
				 "0123456789012345678901234567890123456789\r\n\r\n";
	static const char h4[] = "POST / HTTP/1.1\r\nAuthorization: Bearer abc\r\nContent-Length: 5\r\n";
	static const char h5[] = "Authorization: Bearer in-the-request-line\r\nX: y\r\n\r\n";

	assert_int_equal(http_head_scan(h1, sizeof(h1) - 1, auth, sizeof(auth), &body), 0);
	assert_string_equal(auth, "Bearer abc");
	assert_int_equal(body, 1);
	assert_int_equal(http_head_scan(h2, sizeof(h2) - 1, auth, sizeof(auth), &body), 0);
	assert_string_equal(auth, "");
	assert_int_equal(body, 0);
	assert_int_equal(http_head_scan(h3, sizeof(h3) - 1, auth, sizeof(auth), &body), 0);
	assert_string_equal(auth, "");          /* too long for the buffer: none */
	assert_int_equal(body, 1);
	assert_int_equal(http_head_scan(h4, sizeof(h4) - 1, auth, sizeof(auth), &body), -EINVAL);
	assert_int_equal(http_head_scan(h5, sizeof(h5) - 1, auth, sizeof(auth), &body), 0);
	assert_string_equal(auth, "");          /* the first line is the request line */
}

static void test_listen(void **state)
{
	char h[64];
	const char *why;
	int port, lb;

	assert_int_equal(http_parse_listen("127.0.0.1:8088", h, sizeof(h), &port, &lb, &why), 0);
	assert_string_equal(h, "127.0.0.1");
	assert_int_equal(port, 8088);
	assert_int_equal(lb, 1);
	assert_int_equal(http_parse_listen("localhost:80", h, sizeof(h), &port, &lb, &why), 0);
	assert_int_equal(lb, 1);
	assert_int_equal(http_parse_listen("0.0.0.0:8088", h, sizeof(h), &port, &lb, &why), 0);
	assert_int_equal(lb, 0);
	assert_int_equal(http_parse_listen("[::1]:8088", h, sizeof(h), &port, &lb, &why), 0);
	assert_string_equal(h, "::1");
	assert_int_equal(lb, 1);
	assert_int_equal(http_parse_listen("[::]:8088", h, sizeof(h), &port, &lb, &why), 0);
	assert_int_equal(lb, 0);
	assert_int_equal(http_parse_listen("10.0.0.1:0", h, sizeof(h), &port, &lb, &why), -EINVAL);
	assert_int_equal(http_parse_listen("10.0.0.1:65536", h, sizeof(h), &port, &lb, &why), -EINVAL);
	assert_int_equal(http_parse_listen("10.0.0.1:80x", h, sizeof(h), &port, &lb, &why), -EINVAL);
	assert_int_equal(http_parse_listen("gw.local:80", h, sizeof(h), &port, &lb, &why), -EINVAL);
	assert_int_equal(http_parse_listen("::1:80", h, sizeof(h), &port, &lb, &why), -EINVAL);
	assert_int_equal(http_parse_listen("8088", h, sizeof(h), &port, &lb, &why), -EINVAL);
	assert_int_equal(http_parse_listen(":8088", h, sizeof(h), &port, &lb, &why), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_listen),
		cmocka_unit_test(test_head_scan),
	};
	return cmocka_run_group_tests_name("httpparse", tests, NULL, NULL);
}
