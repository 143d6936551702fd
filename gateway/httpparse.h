/* Parsers for what an HTTP client sends the status page: the query string,
 * the Authorization header (Basic, Bearer), and the `http.listen` address
 * of the config. Pure functions, bounds-checked, fuzzed
 * (tests/fuzz/fuzz_httpparse.c). */
#ifndef WARDGW_HTTPPARSE_H
#define WARDGW_HTTPPARSE_H

#include <stddef.h>

/**
 * Find @key in the query string @query ("a=1&b=x%20y", no leading '?') and
 * URL-decode its value into @out (NUL-terminated). Returns the value's
 * length, -ENOENT (absent), -ENOSPC (longer than @outlen - 1), -EINVAL
 * (a bad %-escape, or %00). The first occurrence wins.
 */
int http_query_get(const char *query, const char *key, char *out, size_t outlen);

/** "Basic base64(user:pass)" -> @user, @pass. 0, -EINVAL (not Basic, bad
 *  base64, no ':'), -ENOSPC (too long). */
int http_basic_auth(const char *header, char *user, size_t ulen, char *pass, size_t plen);

/** "Bearer TOKEN" -> @tok. 0, -EINVAL, -ENOSPC. */
int http_bearer(const char *header, char *tok, size_t tlen);

/**
 * "127.0.0.1:8088", "[::1]:8088", "localhost:8088", "0.0.0.0:80": the
 * numeric host into @host, the port (1..65535) into @port, and whether the
 * address is loopback only. 0 or -EINVAL (@why says what is wrong).
 */
int http_parse_listen(const char *s, char *host, size_t hostlen, int *port, int *loopback,
		      const char **why);

/**
 * Scan a request head (@len bytes, not NUL-terminated: the request line and
 * the header lines up to and including the blank line) for what must be
 * known before a body is read: the Authorization value into @auth
 * (NUL-terminated; "" when absent or longer than @alen - 1) and whether a
 * body is announced (a Content-Length other than 0, or a
 * Transfer-Encoding). 0, or -EINVAL when the blank line is missing.
 */
int http_head_scan(const char *head, size_t len, char *auth, size_t alen, int *has_body);

/** Constant-time comparison of two NUL-terminated secrets: 1 equal. */
int http_secret_equal(const char *a, const char *b);

#endif
