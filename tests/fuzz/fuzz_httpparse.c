/* libFuzzer target: the status page's parsers of client input (query
 * string, Authorization header, the request head scanned before a body is
 * read) and of the http.listen config value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "httpparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), out[64], u[32], p[32], host[64];
	const char *why;
	int port, lb;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	http_query_get(s, "device", out, sizeof(out));
	http_query_get(s, "token", out, 1);
	http_basic_auth(s, u, sizeof(u), p, sizeof(p));
	http_bearer(s, out, sizeof(out));
	if (http_parse_listen(s, host, sizeof(host), &port, &lb, &why) == 0 && (port < 1 || port > 65535))
		abort();
	http_secret_equal(s, "secret");
	/* the raw bytes, not the NUL-terminated copy: a head may hold NULs */
	int body;
	char auth[40];
	if (http_head_scan((const char *)data, size, auth, sizeof(auth), &body) == 0 &&
	    strlen(auth) >= sizeof(auth))
		abort();
	free(s);
	return 0;
}
