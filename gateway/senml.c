/* SenML JSON encoding by hand: a pack per poll is the hot path of
 * publishing, and the shape is fixed, so no JSON library is needed here. */
#include "senml.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Secondary units (RFC 8798) we may emit; the rest of our units (V, A, W,
 * Hz, Cel, count, /, %RH, dBm ...) are primary SenML units or RFC 8428's. */
static const char *const secondary[] = {
	"kWh", "Wh", "h", "min", "ms", "kW", "mA", "mV", "kV", "kVA", "kvar", "dBm", "KiB",
	"ug/m3", "cm", "mm", "ppm", NULL,
};

int senml_secondary_unit(const char *unit)
{
	for (const char *const *u = secondary; unit && *u; u++)
		if (!strcmp(*u, unit))
			return 1;
	return 0;
}

int json_escape(char *buf, size_t size, const char *s)
{
	size_t o = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char tmp[8];
		const char *rep = NULL;
		size_t l;

		if (c == '"')
			rep = "\\\"";
		else if (c == '\\')
			rep = "\\\\";
		else if (c < 0x20) {
			snprintf(tmp, sizeof(tmp), "\\u%04x", c);
			rep = tmp;
		}
		l = rep ? strlen(rep) : 1;
		if (o + l >= size)
			return -ENOSPC;
		if (rep)
			memcpy(buf + o, rep, l);
		else
			buf[o] = (char)c;
		o += l;
	}
	if (o < size)
		buf[o] = 0;
	return (int)o;
}

struct out {
	char *buf;
	size_t size, len;
	int err;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->err)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->size - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->size - o->len)
		o->err = -ENOSPC;
	else
		o->len += (size_t)n;
}

static void put_str(struct out *o, const char *s)
{
	int n;

	if (o->err)
		return;
	n = json_escape(o->buf + o->len, o->size - o->len, s);
	if (n < 0)
		o->err = n;
	else
		o->len += (size_t)n;
}

int senml_pack(char *buf, size_t size, const char *bn, int64_t bt_ms,
	       const struct senml_rec *recs, size_t n)
{
	struct out o = { buf, size, 0, 0 };
	int secondary_used = 0, first = 1;

	if (size == 0)
		return -ENOSPC;
	for (size_t i = 0; i < n; i++)
		if (isfinite(recs[i].value) && senml_secondary_unit(recs[i].unit))
			secondary_used = 1;
	put(&o, "[");
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(recs[i].value))
			continue;
		put(&o, "%s{", first ? "" : ",");
		if (first) {
			put(&o, "\"bn\":\"");
			put_str(&o, bn);
			put(&o, "\",\"bt\":%lld.%03lld,", (long long)(bt_ms / 1000), (long long)(bt_ms % 1000));
			if (secondary_used)
				put(&o, "\"bver\":26,");
		}
		first = 0;
		put(&o, "\"n\":\"");
		put_str(&o, recs[i].name);
		put(&o, "\",");
		if (recs[i].unit && *recs[i].unit) {
			put(&o, "\"u\":\"");
			put_str(&o, recs[i].unit);
			put(&o, "\",");
		}
		put(&o, "\"v\":%.12g}", recs[i].value);
	}
	put(&o, "]");
	return o.err ? o.err : (int)o.len;
}
