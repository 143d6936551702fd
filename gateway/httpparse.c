/* Query strings, Authorization headers and listen addresses: every length
 * checked before a copy, every number parsed with strtol and range checks. */
#include "httpparse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* Decode [s, s+n) into out (at most outlen-1 bytes); length or negative errno. */
static int url_decode(const char *s, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '+')
			c = ' ';
		else if (c == '%') {
			int h, l;
			if (i + 2 >= n)
				return -EINVAL;
			h = hexval(s[i + 1]);
			l = hexval(s[i + 2]);
			if (h < 0 || l < 0 || (h == 0 && l == 0))
				return -EINVAL;
			c = (char)(h * 16 + l);
			i += 2;
		}
		if (o + 1 >= outlen)
			return -ENOSPC;
		out[o++] = c;
	}
	if (outlen)
		out[o] = 0;
	return (int)o;
}

int http_query_get(const char *query, const char *key, char *out, size_t outlen)
{
	char kbuf[64];

	if (!outlen)
		return -ENOSPC;
	out[0] = 0;
	for (const char *p = query; p && *p;) {
		const char *amp = strchr(p, '&'), *end = amp ? amp : p + strlen(p);
		const char *eq = memchr(p, '=', (size_t)(end - p));
		const char *kend = eq ? eq : end;
		int kl = url_decode(p, (size_t)(kend - p), kbuf, sizeof(kbuf));

		if (kl >= 0 && !strcmp(kbuf, key))
			return eq ? url_decode(eq + 1, (size_t)(end - eq - 1), out, outlen) : 0;
		p = amp ? amp + 1 : end;
	}
	return -ENOENT;
}

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

/* Strict base64 with padding; decoded length or negative errno. */
static int b64_decode(const char *s, char *out, size_t outlen)
{
	size_t n = strlen(s), o = 0;

	if (n % 4)
		return -EINVAL;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;
		for (int k = 0; k < 4; k++) {
			if (s[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
			} else if (pad || (v[k] = b64val(s[i + k])) < 0) {
				return -EINVAL;
			}
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
		for (int k = 0; k < 3 - pad; k++) {
			if (o + 1 >= outlen)
				return -ENOSPC;
			out[o++] = (char)(w >> (16 - 8 * k));
		}
	}
	out[o] = 0;
	return (int)o;
}

static const char *scheme(const char *h, const char *name)
{
	size_t l = strlen(name);

	if (!h || strncasecmp(h, name, l) || h[l] != ' ')
		return NULL;
	h += l;
	while (*h == ' ')
		h++;
	return h;
}

int http_basic_auth(const char *header, char *user, size_t ulen, char *pass, size_t plen)
{
	const char *b = scheme(header, "Basic");
	char buf[512], *colon;
	int n;

	if (!b || !ulen || !plen)
		return -EINVAL;
	if ((n = b64_decode(b, buf, sizeof(buf))) < 0)
		return n;
	if (memchr(buf, 0, (size_t)n) || !(colon = strchr(buf, ':')))
		return -EINVAL;
	*colon = 0;
	if (strlen(buf) >= ulen || strlen(colon + 1) >= plen)
		return -ENOSPC;
	strcpy(user, buf);
	strcpy(pass, colon + 1);
	return 0;
}

int http_bearer(const char *header, char *tok, size_t tlen)
{
	const char *b = scheme(header, "Bearer");
	size_t n;

	if (!b || !*b || !tlen)
		return -EINVAL;
	n = strcspn(b, " \t");
	if (b[n])
		return -EINVAL;
	if (n >= tlen)
		return -ENOSPC;
	memcpy(tok, b, n + 1);
	return 0;
}

int http_parse_listen(const char *s, char *host, size_t hostlen, int *port, int *loopback,
		      const char **why)
{
	const char *colon, *h = s;
	size_t hl;
	char buf[64];
	unsigned char addr[16];
	char *end;
	long p;

	*why = "listen must be HOST:PORT with a numeric address, e.g. \"127.0.0.1:8088\" or \"[::1]:8088\"";
	if (!s || !*s)
		return -EINVAL;
	if (*s == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || rb[1] != ':')
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -EINVAL;
		hl = (size_t)(colon - s);
	}
	if (!hl || hl >= sizeof(buf) || hl >= hostlen)
		return -EINVAL;
	memcpy(buf, h, hl);
	buf[hl] = 0;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || p < 1 || p > 65535) {
		*why = "listen port must be 1..65535";
		return -EINVAL;
	}
	if (!strcmp(buf, "localhost"))
		strcpy(buf, "127.0.0.1");
	if (*s == '[') {
		if (inet_pton(AF_INET6, buf, addr) != 1)
			return -EINVAL;
		static const unsigned char one[16] = { [15] = 1 };
		*loopback = !memcmp(addr, one, 16);
	} else {
		if (inet_pton(AF_INET, buf, addr) != 1)
			return -EINVAL;
		*loopback = addr[0] == 127;
	}
	strcpy(host, buf);
	*port = (int)p;
	return 0;
}

int http_secret_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;

	/* time depends on the length of what the client sent, not on where
	 * it first differs from the secret */
	for (size_t i = 0; i < lb; i++)
		d |= (unsigned char)(b[i] ^ (i < la ? a[i] : 0));
	return d == 0;
}

/* Whether the header line @l (@n bytes) is "@name:"; then its value, with
 * the blanks around it trimmed, in @v / @vn. */
static int header_is(const char *l, size_t n, const char *name, const char **v, size_t *vn)
{
	size_t k = strlen(name);

	if (n <= k || l[k] != ':' || strncasecmp(l, name, k))
		return 0;
	l += k + 1;
	n -= k + 1;
	while (n && (*l == ' ' || *l == '\t')) {
		l++;
		n--;
	}
	while (n && (l[n - 1] == ' ' || l[n - 1] == '\t' || l[n - 1] == '\r'))
		n--;
	*v = l;
	*vn = n;
	return 1;
}

int http_head_scan(const char *head, size_t len, char *auth, size_t alen, int *has_body)
{
	const char *p = head, *end = head + len, *v;
	size_t vn;
	int first = 1;

	if (alen)
		auth[0] = 0;
	*has_body = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n;

		if (!nl)
			return -EINVAL;
		n = (size_t)(nl - p);
		if (n && p[n - 1] == '\r')
			n--;
		if (!n)
			return 0;       /* the blank line: the head is whole */
		if (!first) {
			if (header_is(p, n, "Authorization", &v, &vn)) {
				if (alen && vn < alen && !memchr(v, 0, vn)) {
					memcpy(auth, v, vn);
					auth[vn] = 0;
				} else if (alen) {
					auth[0] = 0;
				}
			} else if (header_is(p, n, "Content-Length", &v, &vn)) {
				/* anything but a plain 0 may carry a body */
				if (vn != 1 || v[0] != '0')
					*has_body = 1;
			} else if (header_is(p, n, "Transfer-Encoding", &v, &vn)) {
				*has_body = 1;
			}
		}
		first = 0;
		p = nl + 1;
	}
	return -EINVAL;
}
