/* Drive-test survey rows: "time,lat,lon,technology,operator,rsrp,rsrq,sinr"
 * CSV lines -> a coverage sample. Pure parsing; any thread. */
#ifndef WARDGW_SURVEY_H
#define WARDGW_SURVEY_H

#include <stddef.h>
#include <stdint.h>

#include "at_parse.h"

#define SURVEY_OP_MAX 32

struct survey_row {
	int64_t ts_ms;
	double lat, lon;
	enum rat tech;
	char op[SURVEY_OP_MAX];     /* operator name or MCC-MNC */
	double rsrp;                /* dBm (SS-RSRP for NR) */
	double rsrq, sinr;          /* dB, NaN when the column is empty */
};

/**
 * Parse one CSV line of @len bytes (no newline needed). Returns 0 for a
 * sample, 1 for the header line (first field "time"), 2 for a blank or
 * comment ('#') line, or -EINVAL with a message naming the bad field in
 * @err. Times are epoch seconds or ISO 8601 (ward time unless a zone is
 * given).
 */
int survey_parse_row(const char *line, size_t len, struct survey_row *r, char *err, size_t errsz);

/** "LTE", "4G" -> RAT_LTE; "NR", "5G", "NR5G-SA", "NR5G-NSA" -> RAT_NR (any case); RAT_NONE otherwise. */
enum rat rat_parse(const char *s);

/** An operator name: 1..31 letters, digits, ' ', '-', '_', '.'. */
int survey_valid_operator(const char *s);

#endif
