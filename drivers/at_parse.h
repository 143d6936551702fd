/* Pure parsers for a cellular modem's AT replies: the framing of one
 * command's reply (echo, URCs mixed in, OK / ERROR / +CME ERROR), Quectel's
 * AT+QENG="servingcell" lines (LTE, NR5G-SA, NR5G-NSA) and 3GPP AT+CESQ.
 * No I/O; any thread. */
#ifndef WARDGW_AT_PARSE_H
#define WARDGW_AT_PARSE_H

#include <stddef.h>

enum at_final { AT_PENDING = 0, AT_OK, AT_ERROR, AT_CME_ERROR, AT_CMS_ERROR };

#define AT_LINE_MAX 512
#define AT_MAX_LINES 8

/* Collects the reply to one command from bytes as they arrive. */
struct at_framer {
	char cmd[64];               /* the command sent, for dropping its echo */
	char prefix[24];            /* information lines start with this ("+QENG:") */
	char line[AT_LINE_MAX];     /* the line being assembled */
	size_t len;
	int overflow;               /* the current line is too long: dropped */
	char resp[AT_MAX_LINES][AT_LINE_MAX];
	size_t nresp;
	enum at_final final;
	int cme;                    /* +CME ERROR code, -1 when given as text */
	unsigned urcs;              /* unsolicited lines seen (ignored) */
	unsigned dropped;           /* over-long or surplus lines dropped */
};

/** Start collecting the reply to @cmd (without CR); lines starting with
 *  @prefix are the information response. */
void at_framer_start(struct at_framer *f, const char *cmd, const char *prefix);
/** Feed @len bytes. Returns 1 once the final result code has arrived (the
 *  bytes after it are not consumed: *@used says how many were), 0 for more. */
int at_framer_feed(struct at_framer *f, const char *buf, size_t len, size_t *used);

enum rat { RAT_NONE = 0, RAT_LTE, RAT_NR };
const char *rat_name(enum rat r);   /* "LTE", "NR" */

/* One serving cell. Values NaN when unknown. */
struct cell_info {
	enum rat rat;
	char mode[12];              /* "LTE", "NR5G-SA", "NR5G-NSA" */
	char mcc[4], mnc[4];        /* digits, as reported ("04" keeps its zero) */
	int pci;                    /* -1 when unknown */
	double rsrp, rsrq, sinr;    /* dBm, dB, dB */
};

struct qeng_result {
	char state[12];             /* SEARCH, LIMSRV, NOCONN, CONNECT; "" if none */
	struct cell_info lte, nr;
	int have_lte, have_nr;
};

/** Reset @r before the lines of one reply. */
void qeng_init(struct qeng_result *r);
/** Parse one +QENG: line (with or without the "+QENG: " prefix) into @r.
 *  0, -ENOENT (not a servingcell line, e.g. neighbourcell), -EINVAL (garbage). */
int qeng_parse_line(const char *line, struct qeng_result *r);

struct cesq_result {
	double rsrq, rsrp;          /* LTE, NaN for 255 (unknown) */
	double ss_rsrq, ss_rsrp, ss_sinr; /* NR, NaN when unknown or not given */
};

/** Parse "+CESQ: rxlev,ber,rscp,ecno,rsrq,rsrp[,ss_rsrq,ss_rsrp,ss_sinr]".
 *  0 or -EINVAL (wrong field count, a value outside its 3GPP TS 27.007 range). */
int cesq_parse(const char *line, struct cesq_result *r);

/** Parse Quectel "+QGPSLOC: <utc>,<lat>,<lon>,<hdop>,<alt>,<fix>,..." as
 *  answered to AT+QGPSLOC=2 (degrees). 0 with a 2D/3D fix, -EINVAL otherwise. */
int qgpsloc_parse(const char *line, double *lat, double *lon);

#endif
