/* AT reply framing and the QENG / CESQ parsers (see at_parse.h). A modem
 * sends lines ended by CR LF; between a command and its final result code
 * may come the echo of the command and unsolicited result codes (URCs such
 * as "+CREG: 1" or "RDY") that we count and ignore. */
#include "at_parse.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void at_framer_start(struct at_framer *f, const char *cmd, const char *prefix)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->cmd, sizeof(f->cmd), "%s", cmd ? cmd : "");
	snprintf(f->prefix, sizeof(f->prefix), "%s", prefix ? prefix : "");
}

static int starts(const char *s, const char *p)
{
	return !strncmp(s, p, strlen(p));
}

/* A whole line (NUL-terminated in f->line): returns 1 on a final result. */
static int on_line(struct at_framer *f)
{
	const char *l = f->line;
	char *end;
	long v;

	if (!*l)
		return 0;
	if (!strcmp(l, "OK")) {
		f->final = AT_OK;
		return 1;
	}
	if (!strcmp(l, "ERROR")) {
		f->final = AT_ERROR;
		return 1;
	}
	if (starts(l, "+CME ERROR:") || starts(l, "+CMS ERROR:")) {
		f->final = l[3] == 'E' ? AT_CME_ERROR : AT_CMS_ERROR;
		l += 11;
		while (*l == ' ')
			l++;
		errno = 0;
		v = strtol(l, &end, 10);
		f->cme = (errno || end == l || *end || v < 0 || v > 65535) ? -1 : (int)v;
		return 1;
	}
	if (f->cmd[0] && !strcmp(l, f->cmd))
		return 0;               /* echo (ATE1) */
	if (f->prefix[0] && starts(l, f->prefix)) {
		if (f->nresp >= AT_MAX_LINES) {
			f->dropped++;
			return 0;
		}
		memcpy(f->resp[f->nresp++], l, strlen(l) + 1);
		return 0;
	}
	f->urcs++;
	return 0;
}

int at_framer_feed(struct at_framer *f, const char *buf, size_t len, size_t *used)
{
	size_t i;

	for (i = 0; i < len; i++) {
		char c = buf[i];

		if (f->final != AT_PENDING)
			break;
		if (c == '\r' || c == '\n') {
			if (f->overflow) {
				f->dropped++;
			} else {
				f->line[f->len] = 0;
				if (on_line(f)) {
					i++;
					break;
				}
			}
			f->len = 0;
			f->overflow = 0;
			continue;
		}
		if (c == 0 || f->len + 1 >= sizeof(f->line)) {
			f->overflow = 1;
			continue;
		}
		f->line[f->len++] = c;
	}
	if (used)
		*used = i;
	return f->final != AT_PENDING;
}

const char *rat_name(enum rat r)
{
	return r == RAT_LTE ? "LTE" : r == RAT_NR ? "NR" : "none";
}

#define MAXF 32

/* Split @s at commas into @f (quotes stripped, spaces trimmed). Field count or -EINVAL. */
static int split(const char *s, char buf[AT_LINE_MAX], char *f[MAXF])
{
	size_t n = strlen(s);
	int nf = 0;
	char *p, *q;

	if (n >= AT_LINE_MAX)
		return -EINVAL;
	memcpy(buf, s, n + 1);
	p = buf;
	for (;;) {
		char *comma = strchr(p, ',');
		if (nf >= MAXF)
			return -EINVAL;
		if (comma)
			*comma = 0;
		while (*p == ' ')
			p++;
		q = p + strlen(p);
		while (q > p && q[-1] == ' ')
			*--q = 0;
		if (*p == '"') {
			if (q - p < 2 || q[-1] != '"')
				return -EINVAL;
			q[-1] = 0;
			p++;
			if (strchr(p, '"'))
				return -EINVAL;
		}
		f[nf++] = p;
		if (!comma)
			break;
		p = comma + 1;
	}
	return nf;
}

/* A number in [lo, hi]; "-" or "" is unknown (NaN). 0 or -EINVAL. */
static int fnum(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	if (!*s || !strcmp(s, "-")) {
		*out = NAN;
		return 0;
	}
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

static int digits(const char *s, size_t min, size_t max, char *out)
{
	size_t n = strlen(s);

	if (n < min || n > max)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
	memcpy(out, s, n + 1);
	return 0;
}

void qeng_init(struct qeng_result *r)
{
	memset(r, 0, sizeof(*r));
	r->lte.rsrp = r->lte.rsrq = r->lte.sinr = NAN;
	r->nr.rsrp = r->nr.rsrq = r->nr.sinr = NAN;
	r->lte.pci = r->nr.pci = -1;
}

static int valid_state(const char *s)
{
	return !strcmp(s, "SEARCH") || !strcmp(s, "LIMSRV") || !strcmp(s, "NOCONN") || !strcmp(s, "CONNECT");
}

static int pci_of(const char *s, int *pci)
{
	double v;

	if (fnum(s, 0, 1007, &v) < 0)
		return -EINVAL;
	*pci = isnan(v) ? -1 : (int)v;
	return isnan(v) || v == floor(v) ? 0 : -EINVAL;
}

/* LTE fields from f[0] = "LTE": is_tdd,mcc,mnc,cellid,pcid,earfcn,band,ul_bw,dl_bw,tac,rsrp,rsrq,rssi,sinr,... */
static int parse_lte(char **f, int nf, struct cell_info *c)
{
	if (nf < 15)
		return -EINVAL;
	c->rat = RAT_LTE;
	snprintf(c->mode, sizeof(c->mode), "LTE");
	if (digits(f[2], 3, 3, c->mcc) < 0 || digits(f[3], 2, 3, c->mnc) < 0 || pci_of(f[5], &c->pci) < 0)
		return -EINVAL;
	if (fnum(f[11], -160, -20, &c->rsrp) < 0 || fnum(f[12], -40, 10, &c->rsrq) < 0 ||
	    fnum(f[14], -30, 50, &c->sinr) < 0)
		return -EINVAL;
	return 0;
}

/* NR5G-SA from f[0]: duplex,mcc,mnc,cellid,pcid,tac,arfcn,band,dl_bw,rsrp,rsrq,sinr,... */
static int parse_nr_sa(char **f, int nf, struct cell_info *c)
{
	if (nf < 13)
		return -EINVAL;
	c->rat = RAT_NR;
	snprintf(c->mode, sizeof(c->mode), "NR5G-SA");
	if (digits(f[2], 3, 3, c->mcc) < 0 || digits(f[3], 2, 3, c->mnc) < 0 || pci_of(f[5], &c->pci) < 0)
		return -EINVAL;
	if (fnum(f[10], -160, -20, &c->rsrp) < 0 || fnum(f[11], -45, 20, &c->rsrq) < 0 ||
	    fnum(f[12], -30, 50, &c->sinr) < 0)
		return -EINVAL;
	return 0;
}

/* NR5G-NSA from f[0]: mcc,mnc,pcid,rsrp,sinr,rsrq,... */
static int parse_nr_nsa(char **f, int nf, struct cell_info *c)
{
	if (nf < 7)
		return -EINVAL;
	c->rat = RAT_NR;
	snprintf(c->mode, sizeof(c->mode), "NR5G-NSA");
	if (digits(f[1], 3, 3, c->mcc) < 0 || digits(f[2], 2, 3, c->mnc) < 0 || pci_of(f[3], &c->pci) < 0)
		return -EINVAL;
	if (fnum(f[4], -160, -20, &c->rsrp) < 0 || fnum(f[5], -30, 50, &c->sinr) < 0 ||
	    fnum(f[6], -45, 20, &c->rsrq) < 0)
		return -EINVAL;
	return 0;
}

static int parse_rat(char **f, int nf, struct qeng_result *r)
{
	int rc;

	if (!strcmp(f[0], "LTE")) {
		if ((rc = parse_lte(f, nf, &r->lte)) == 0)
			r->have_lte = 1;
		return rc;
	}
	if (!strcmp(f[0], "NR5G-SA")) {
		if ((rc = parse_nr_sa(f, nf, &r->nr)) == 0)
			r->have_nr = 1;
		return rc;
	}
	if (!strcmp(f[0], "NR5G-NSA")) {
		if ((rc = parse_nr_nsa(f, nf, &r->nr)) == 0)
			r->have_nr = 1;
		return rc;
	}
	/* WCDMA, GSM...: a serving cell we do not measure coverage for */
	return -ENOENT;
}

int qeng_parse_line(const char *line, struct qeng_result *r)
{
	char buf[AT_LINE_MAX], *f[MAXF];
	int nf;

	if (starts(line, "+QENG:"))
		line += 6;
	if ((nf = split(line, buf, f)) < 1)
		return -EINVAL;
	if (!strcmp(f[0], "servingcell")) {
		if (nf < 2 || !valid_state(f[1]))
			return -EINVAL;
		snprintf(r->state, sizeof(r->state), "%s", f[1]);
		if (nf == 2)
			return 0;       /* SEARCH, or the first line of EN-DC */
		return parse_rat(f + 2, nf - 2, r);
	}
	if (!strcmp(f[0], "neighbourcell intra") || !strcmp(f[0], "neighbourcell inter") ||
	    !strcmp(f[0], "neighbourcell"))
		return -ENOENT;
	if (!r->state[0])
		return -EINVAL;  /* a bare RAT line without the servingcell line before it */
	return parse_rat(f, nf, r);
}

/* 3GPP TS 27.007 §8.69: index -> value at the bottom of its step. */
static int cesq_field(const char *s, int max, double base, double step, int optional, double *out)
{
	char *end;
	long v;

	if (optional && !*s) {
		*out = NAN;
		return 0;
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end)
		return -EINVAL;
	if (v == 255) {
		*out = NAN;
		return 0;
	}
	if (v < 0 || v > max)
		return -EINVAL;
	*out = base + step * (double)v;
	return 0;
}

int cesq_parse(const char *line, struct cesq_result *r)
{
	char buf[AT_LINE_MAX], *f[MAXF];
	double dummy;
	int nf;

	r->rsrq = r->rsrp = r->ss_rsrq = r->ss_rsrp = r->ss_sinr = NAN;
	if (!starts(line, "+CESQ:"))
		return -EINVAL;
	nf = split(line + 6, buf, f);
	if (nf != 6 && nf != 9)
		return -EINVAL;
	/* rxlev 0..63/99, ber 0..7/99, rscp 0..96/255, ecno 0..49/255 */
	if (cesq_field(f[0], 63, 0, 1, 0, &dummy) < 0 && strcmp(f[0], "99"))
		return -EINVAL;
	if (cesq_field(f[1], 7, 0, 1, 0, &dummy) < 0 && strcmp(f[1], "99"))
		return -EINVAL;
	if (cesq_field(f[2], 96, 0, 1, 0, &dummy) < 0 || cesq_field(f[3], 49, 0, 1, 0, &dummy) < 0)
		return -EINVAL;
	/* LTE: RSRQ = -20 + 0.5 n (0..34), RSRP = -141 + n (0..97) */
	if (cesq_field(f[4], 34, -20, 0.5, 0, &r->rsrq) < 0 || cesq_field(f[5], 97, -141, 1, 0, &r->rsrp) < 0)
		return -EINVAL;
	if (nf == 9) {
		/* NR: SS-RSRQ -43.5 + 0.5 n (0..127), SS-RSRP -157 + n (0..126, 1 -> -156 dBm),
		 * SS-SINR -23.5 + 0.5 n (0..127) */
		if (cesq_field(f[6], 127, -43.5, 0.5, 1, &r->ss_rsrq) < 0 ||
		    cesq_field(f[7], 126, -157, 1, 1, &r->ss_rsrp) < 0 ||
		    cesq_field(f[8], 127, -23.5, 0.5, 1, &r->ss_sinr) < 0)
			return -EINVAL;
	}
	return 0;
}

int qgpsloc_parse(const char *line, double *lat, double *lon)
{
	char buf[AT_LINE_MAX], *f[MAXF];
	double la, lo, fix;
	int nf;

	if (!starts(line, "+QGPSLOC:"))
		return -EINVAL;
	nf = split(line + 9, buf, f);
	if (nf < 6)
		return -EINVAL;
	if (fnum(f[1], -90, 90, &la) < 0 || fnum(f[2], -180, 180, &lo) < 0 || fnum(f[5], 2, 3, &fix) < 0 ||
	    isnan(la) || isnan(lo) || isnan(fix))
		return -EINVAL;
	*lat = la;
	*lon = lo;
	return 0;
}
