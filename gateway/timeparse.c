/* Time parsing and formatting for the command line tools. The ward runs on
 * Asia/Ho_Chi_Minh (UTC+7, no DST), so that offset is fixed here rather than
 * taken from the machine's TZ. */
#include "timeparse.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WARD_OFFSET_S (7 * 3600)

static int64_t days_from_civil(int y, unsigned m, unsigned d)
{
	/* proleptic Gregorian, days since 1970-01-01 */
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int parse_uint(const char **p, int digits, int *out)
{
	int v = 0;

	for (int i = 0; i < digits; i++) {
		if (!isdigit((unsigned char)**p))
			return -EINVAL;
		v = v * 10 + (**p - '0');
		(*p)++;
	}
	*out = v;
	return 0;
}

int time_parse(const char *s, int64_t now_ms, int64_t *out_ms)
{
	char *end;
	int y, mo, d, h = 0, mi = 0, se = 0, off = WARD_OFFSET_S;
	const char *p = s;

	if (!s || !*s)
		return -EINVAL;
	if (!strcmp(s, "now")) {
		*out_ms = now_ms;
		return 0;
	}
	if (s[0] == '-' && isdigit((unsigned char)s[1])) {
		errno = 0;
		long long n = strtoll(s + 1, &end, 10);
		int64_t unit;
		if (errno || end == s + 1 || end[0] == 0 || end[1] != 0 || n > 100000000LL)
			return -EINVAL;
		switch (*end) {
		case 's': unit = 1000; break;
		case 'm': unit = 60000; break;
		case 'h': unit = 3600000; break;
		case 'd': unit = 86400000; break;
		default: return -EINVAL;
		}
		*out_ms = now_ms - (int64_t)n * unit;
		return 0;
	}
	if (strlen(s) <= 12 && strspn(s, "0123456789") == strlen(s)) {
		errno = 0;
		long long v = strtoll(s, &end, 10);
		if (errno || *end)
			return -EINVAL;
		*out_ms = (int64_t)v * 1000;
		return 0;
	}
	if (parse_uint(&p, 4, &y) || *p++ != '-' || parse_uint(&p, 2, &mo) || *p++ != '-' ||
	    parse_uint(&p, 2, &d))
		return -EINVAL;
	if (*p == 'T' || *p == ' ') {
		p++;
		if (parse_uint(&p, 2, &h) || *p++ != ':' || parse_uint(&p, 2, &mi))
			return -EINVAL;
		if (*p == ':') {
			p++;
			if (parse_uint(&p, 2, &se))
				return -EINVAL;
		}
	}
	if (*p == 'Z') {
		off = 0;
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om;
		if (parse_uint(&p, 2, &oh) || *p++ != ':' || parse_uint(&p, 2, &om) || oh > 14 || om > 59)
			return -EINVAL;
		off = sign * (oh * 3600 + om * 60);
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
		return -EINVAL;
	*out_ms = ((days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se) - off) * 1000;
	return 0;
}

void time_format(int64_t ms, char *buf, unsigned long size)
{
	time_t t = (time_t)(ms / 1000) + WARD_OFFSET_S;
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03d+07:00", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}
