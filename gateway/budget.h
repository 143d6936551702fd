/* Bus budget: whether each serial bus can carry the polls its devices are
 * configured for. From the baud rate and frame format, the planned reads
 * (frame sizes), the silence between frames and the slaves' turnaround,
 * the time every request takes on the line; from the poll intervals, the
 * requests per second needed. `wardgw check` prints both and warns when a
 * bus is over its budget, instead of letting polls silently fall behind. */
#ifndef WARDGW_BUDGET_H
#define WARDGW_BUDGET_H

#include <stddef.h>
#include <stdio.h>

struct gw_config;
struct rtu_conf;
struct profile;

struct bus_budget {
	const char *serial;
	const struct rtu_conf *line;    /* the first device's settings */
	size_t units;
	double needed_rps;          /* requests per second the intervals ask for */
	double busy;                /* share of each second the line is in use (1.0 = full) */
	double possible_rps;        /* requests per second the line carries, at these sizes */
	double req_ms;              /* mean time per request */
	double wire_ms, gap_ms, turnaround_ms;  /* its parts, per request */
	double min_interval_ms;     /* the shortest interval that fits, all devices scaled alike */
};

/** Time one read of @count registers (bits) takes on @line, in µs: request
 *  and reply on the wire, the silence before the request, the turnaround. */
double budget_read_us(const struct rtu_conf *line, int bits, unsigned count);

/**
 * The budget of every serial bus of @cfg into a new array (*@out, free()),
 * *@n entries. 0 or -ENOMEM.
 */
int budget_compute(const struct gw_config *cfg, struct bus_budget **out, size_t *n);

/**
 * Print one line per serial bus ("bus /dev/ttyUSB0 9600 8N1: 3 units need
 * 6.0 requests/s, the line carries 21.7 (28 % busy)") and a "warning:" line
 * for each bus over its budget (busy > 100 %), with what to change.
 * Returns the number of warnings.
 */
int budget_report(const struct gw_config *cfg, FILE *out);

#endif
