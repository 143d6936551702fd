/* The technician's views of the lighting schedule: wardgw schedule (a
 * night's switch points per program, with the Sun's times and the
 * overrides) and wardgw audit (the audit table). Read only; any thread. */
#ifndef WARDGW_LIGHTING_CLI_H
#define WARDGW_LIGHTING_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct gw_config;
struct sched_override;
struct sqlite3;

/** Print lighting day @day's switch points per program, with the Sun's
 *  times, and the overrides @ov in force that night. */
void lighting_print_schedule(FILE *f, const struct gw_config *cfg, int32_t day,
			     const struct sched_override *ov, size_t nov);
/** Print the last @last audit rows (from @from_ms on), oldest first. 0 or negative errno. */
int lighting_print_audit(FILE *f, struct sqlite3 *db, int64_t from_ms, int last);

#endif
