/* hostapd control-interface text -> structs (see hostapd_parse.h). Replies
 * are at most a few KiB; every number goes through strtoll with an end
 * pointer and a range, every copy is bounded. */
#include "hostapd_parse.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Next line of [*p, end): sets the line start and length (without CR/LF), advances *p. 0 at the end. */
static int next_line(const char **p, const char *end, const char **ls, size_t *ll)
{
	const char *s = *p, *e;

	if (s >= end)
		return 0;
	e = memchr(s, '\n', (size_t)(end - s));
	if (!e)
		e = end;
	*ls = s;
	*ll = (size_t)(e - s);
	if (*ll && s[*ll - 1] == '\r')
		(*ll)--;
	*p = e < end ? e + 1 : end;
	return 1;
}

static int num(const char *s, size_t n, int64_t lo, int64_t hi, int64_t *out)
{
	char tmp[32], *endp;
	long long v;

	if (!n || n >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, s, n);
	tmp[n] = 0;
	errno = 0;
	v = strtoll(tmp, &endp, 10);
	if (errno || endp != tmp + n || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

static int key_is(const char *k, size_t kl, const char *want)
{
	return strlen(want) == kl && !memcmp(k, want, kl);
}

/* "name[N]" with N in 0..HOSTAPD_MAX_BSS-1 */
static int key_indexed(const char *k, size_t kl, const char *stem)
{
	size_t sl = strlen(stem);
	int64_t i;

	if (kl < sl + 3 || memcmp(k, stem, sl) || k[sl] != '[' || k[kl - 1] != ']')
		return -1;
	if (num(k + sl + 1, kl - sl - 2, 0, HOSTAPD_MAX_BSS - 1, &i) < 0)
		return -1;
	return (int)i;
}

int hostapd_parse_status(const char *buf, size_t len, struct hostapd_status *out)
{
	const char *p = buf, *end = buf + len, *l;
	size_t ll;
	int have_state = 0;
	unsigned seen = 0;

	memset(out, 0, sizeof(*out));
	out->chan_util_avg = -1;
	while (next_line(&p, end, &l, &ll)) {
		const char *eq = ll ? memchr(l, '=', ll) : NULL;
		const char *v;
		size_t kl, vl;
		int64_t x;
		int i;

		if (!ll)
			continue;
		if (!eq)
			return -EINVAL;
		kl = (size_t)(eq - l);
		v = eq + 1;
		vl = ll - kl - 1;
		if (key_is(l, kl, "state")) {
			if (!vl || vl >= sizeof(out->state))
				return -EINVAL;
			for (size_t j = 0; j < vl; j++)
				if (!((v[j] >= 'A' && v[j] <= 'Z') || v[j] == '_'))
					return -EINVAL;
			memcpy(out->state, v, vl);
			out->state[vl] = 0;
			out->enabled = !strcmp(out->state, "ENABLED");
			have_state = 1;
		} else if (key_is(l, kl, "freq")) {
			if (num(v, vl, 0, 100000, &x) < 0)
				return -EINVAL;
			out->freq = (int)x;
		} else if (key_is(l, kl, "channel")) {
			if (num(v, vl, 0, 255, &x) < 0)
				return -EINVAL;
			out->channel = (int)x;
		} else if (key_is(l, kl, "chan_util_avg")) {
			if (num(v, vl, 0, 255, &x) < 0)
				return -EINVAL;
			out->chan_util_avg = (int)x;
		} else if ((i = key_indexed(l, kl, "num_sta")) >= 0) {
			if (num(v, vl, 0, 65535, &x) < 0)
				return -EINVAL;
			out->num_sta += (int)x;
		} else if ((i = key_indexed(l, kl, "ssid")) >= 0) {
			if (!(seen & (1u << i))) {
				seen |= 1u << i;
				out->nbss++;
			}
		}
	}
	return have_state ? 0 : -EINVAL;
}

int mac_parse(const char *s, size_t len, uint8_t mac[6])
{
	if (len != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		unsigned v = 0;
		for (int j = 0; j < 2; j++) {
			char c = s[i * 3 + j];
			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v |= (unsigned)(c - 'a' + 10);
			else if (c >= 'A' && c <= 'F')
				v |= (unsigned)(c - 'A' + 10);
			else
				return -EINVAL;
		}
		if (i < 5 && s[i * 3 + 2] != ':')
			return -EINVAL;
		mac[i] = (uint8_t)v;
	}
	return 0;
}

static int parse_flags(const char *v, size_t vl, unsigned *flags)
{
	size_t i = 0;

	*flags = 0;
	while (i < vl) {
		const char *close;
		size_t n;

		if (v[i] != '[')
			return -EINVAL;
		close = memchr(v + i, ']', vl - i);
		if (!close)
			return -EINVAL;
		n = (size_t)(close - (v + i + 1));
		if (n == 4 && !memcmp(v + i + 1, "AUTH", 4))
			*flags |= STA_AUTH;
		else if (n == 5 && !memcmp(v + i + 1, "ASSOC", 5))
			*flags |= STA_ASSOC;
		else if (n == 10 && !memcmp(v + i + 1, "AUTHORIZED", 10))
			*flags |= STA_AUTHORIZED;
		i = (size_t)(close - v) + 1;
	}
	return 0;
}

int hostapd_parse_sta(const char *buf, size_t len, struct hostapd_sta *out)
{
	const char *p = buf, *end = buf + len, *l;
	size_t ll;

	memset(out, 0, sizeof(*out));
	out->rx_bytes = out->tx_bytes = out->inactive_msec = out->connected_time = -1;
	if (!next_line(&p, end, &l, &ll))
		return -ENOENT;
	if ((ll == 4 && !memcmp(l, "FAIL", 4)) || ll == 0)
		return -ENOENT;
	if (mac_parse(l, ll, out->mac) < 0)
		return -EINVAL;
	while (next_line(&p, end, &l, &ll)) {
		const char *eq = ll ? memchr(l, '=', ll) : NULL;
		const char *v;
		size_t kl, vl;
		int64_t x;

		if (!ll)
			continue;
		if (!eq)
			return -EINVAL;
		kl = (size_t)(eq - l);
		v = eq + 1;
		vl = ll - kl - 1;
		if (key_is(l, kl, "flags")) {
			if (parse_flags(v, vl, &out->flags) < 0)
				return -EINVAL;
		} else if (key_is(l, kl, "rx_bytes") || key_is(l, kl, "tx_bytes")) {
			if (num(v, vl, 0, INT64_MAX, &x) < 0)
				return -EINVAL;
			*(l[0] == 'r' ? &out->rx_bytes : &out->tx_bytes) = x;
		} else if (key_is(l, kl, "signal")) {
			if (num(v, vl, -150, 20, &x) < 0)
				return -EINVAL;
			out->signal = (int)x;
			out->has_signal = 1;
		} else if (key_is(l, kl, "inactive_msec")) {
			if (num(v, vl, 0, INT64_MAX, &x) < 0)
				return -EINVAL;
			out->inactive_msec = x;
		} else if (key_is(l, kl, "connected_time")) {
			if (num(v, vl, 0, INT64_MAX, &x) < 0)
				return -EINVAL;
			out->connected_time = x;
		}
	}
	return 0;
}

int hostapd_parse_event(const char *buf, size_t len, struct hostapd_event *out)
{
	static const struct { const char *name; enum hostapd_event_kind kind; int mac; } kinds[] = {
		{ "AP-STA-CONNECTED", HEV_CONNECTED, 1 },
		{ "AP-STA-DISCONNECTED", HEV_DISCONNECTED, 1 },
		{ "AP-ENABLED", HEV_AP_ENABLED, 0 },
		{ "AP-DISABLED", HEV_AP_DISABLED, 0 },
	};
	const char *s = buf, *end = buf + len;
	int64_t lvl;

	memset(out, 0, sizeof(*out));
	out->level = -1;
	while (end > s && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	if (s < end && *s == '<') {
		const char *gt = memchr(s, '>', (size_t)(end - s));
		if (!gt || num(s + 1, (size_t)(gt - s - 1), 0, 9, &lvl) < 0)
			return -EINVAL;
		out->level = (int)lvl;
		s = gt + 1;
	}
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t n = strlen(kinds[i].name);
		if ((size_t)(end - s) < n || memcmp(s, kinds[i].name, n))
			continue;
		if (s + n < end && s[n] != ' ')
			continue;               /* a longer name */
		out->kind = kinds[i].kind;
		if (!kinds[i].mac)
			return 0;
		/* "AP-STA-CONNECTED aa:bb:cc:dd:ee:ff[ keyid=... p2p_dev_addr=...]" */
		if (s + n + 18 > end || s[n] != ' ')
			return -EINVAL;
		if (mac_parse(s + n + 1, 17, out->mac) < 0)
			return -EINVAL;
		if (s + n + 18 < end && s[n + 18] != ' ')
			return -EINVAL;
		return 0;
	}
	return -ENOENT;
}
