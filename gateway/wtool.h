/* `wardgw write`: the technician's write of one metric of a configured
 * device by name, through the same driver code path the daemon uses
 * (encode, function code, read-back and verify), printing the read-back. */
#ifndef WARDGW_WTOOL_H
#define WARDGW_WTOOL_H

#include <stdio.h>

struct gw_config;

/**
 * Write @value_str (a number, or on/off/true/false for a bit) to @metric of
 * device @name of @cfg and print the read-back to @out. Returns 0 when the
 * write was read back equal, 1 after one line on @errs naming the cause
 * (unknown device or metric, not writable, out of range, exception, timeout,
 * read-back differs), 2 for a value that is not a number.
 */
int wtool_write(const struct gw_config *cfg, const char *name, const char *metric,
		const char *value_str, FILE *out, FILE *errs);

/** Parse a value for a write: a finite number, or on/off/true/false. 0 or -EINVAL. */
int wtool_parse_value(const char *s, double *out);

#endif
