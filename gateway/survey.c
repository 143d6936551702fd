/* Survey CSV rows (see survey.h). Each field is checked on its own so the
 * technician reads which one is wrong: "lat 91.2 is outside -90..90". */
#include "survey.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "timeparse.h"

#define NFIELDS 8

enum rat rat_parse(const char *s)
{
	if (!strcasecmp(s, "LTE") || !strcasecmp(s, "4G"))
		return RAT_LTE;
	if (!strcasecmp(s, "NR") || !strcasecmp(s, "5G") || !strcasecmp(s, "NR5G-SA") ||
	    !strcasecmp(s, "NR5G-NSA"))
		return RAT_NR;
	return RAT_NONE;
}

int survey_valid_operator(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= SURVEY_OP_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != ' ' && c != '-' && c != '_' && c != '.')
			return 0;
	}
	return 1;
}

static int num(const char *name, const char *s, double lo, double hi, int optional, double *out,
	       char *err, size_t errsz)
{
	char *end;
	double v;

	if (!*s) {
		if (optional) {
			*out = NAN;
			return 0;
		}
		snprintf(err, errsz, "%s is empty", name);
		return -EINVAL;
	}
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v)) {
		snprintf(err, errsz, "%s '%.40s' is not a number", name, s);
		return -EINVAL;
	}
	if (v < lo || v > hi) {
		snprintf(err, errsz, "%s %g is outside %g..%g", name, v, lo, hi);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int survey_parse_row(const char *line, size_t len, struct survey_row *r, char *err, size_t errsz)
{
	char buf[512], *f[NFIELDS], *p;
	int nf = 0;

	err[0] = 0;
	memset(r, 0, sizeof(*r));
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len >= sizeof(buf)) {
		snprintf(err, errsz, "line longer than %zu bytes", sizeof(buf) - 1);
		return -EINVAL;
	}
	if (memchr(line, 0, len)) {
		snprintf(err, errsz, "NUL byte in line");
		return -EINVAL;
	}
	memcpy(buf, line, len);
	buf[len] = 0;
	p = buf;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p || *p == '#')
		return 2;
	for (;;) {
		char *comma = strchr(p, ','), *q;
		if (nf == NFIELDS) {
			snprintf(err, errsz, "more than %d fields", NFIELDS);
			return -EINVAL;
		}
		if (comma)
			*comma = 0;
		while (*p == ' ' || *p == '\t')
			p++;
		q = p + strlen(p);
		while (q > p && (q[-1] == ' ' || q[-1] == '\t'))
			*--q = 0;
		if (*p == '"' && q - p >= 2 && q[-1] == '"') {
			q[-1] = 0;
			p++;
		}
		f[nf++] = p;
		if (!comma)
			break;
		p = comma + 1;
	}
	if (!strcasecmp(f[0], "time"))
		return 1;
	if (nf != NFIELDS) {
		snprintf(err, errsz, "%d fields, want 8: time,lat,lon,technology,operator,rsrp,rsrq,sinr", nf);
		return -EINVAL;
	}
	if (time_parse(f[0], 0, &r->ts_ms) < 0 || f[0][0] == '-' || !strcmp(f[0], "now")) {
		snprintf(err, errsz, "time '%.40s' is not epoch seconds or ISO 8601", f[0]);
		return -EINVAL;
	}
	if (num("lat", f[1], -90, 90, 0, &r->lat, err, errsz) < 0 ||
	    num("lon", f[2], -180, 180, 0, &r->lon, err, errsz) < 0)
		return -EINVAL;
	if ((r->tech = rat_parse(f[3])) == RAT_NONE) {
		snprintf(err, errsz, "technology '%.20s' is not LTE/4G or NR/5G", f[3]);
		return -EINVAL;
	}
	if (!survey_valid_operator(f[4])) {
		snprintf(err, errsz, "operator '%.40s' must be 1..31 letters, digits, ' ', '-', '_' or '.'", f[4]);
		return -EINVAL;
	}
	snprintf(r->op, sizeof(r->op), "%s", f[4]);
	/* ranges: 3GPP TS 27.007 reporting ranges (LTE -141..-44, NR -157..-31) */
	if (num(r->tech == RAT_NR ? "rsrp (SS-RSRP)" : "rsrp", f[5], r->tech == RAT_NR ? -157 : -141,
		r->tech == RAT_NR ? -31 : -44, 0, &r->rsrp, err, errsz) < 0)
		return -EINVAL;
	if (num("rsrq", f[6], -43.5, 20, 1, &r->rsrq, err, errsz) < 0 ||
	    num("sinr", f[7], -23.5, 40, 1, &r->sinr, err, errsz) < 0)
		return -EINVAL;
	return 0;
}
