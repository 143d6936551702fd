/* The audit table: one row per schedule write and per IOC command (and
 * its outcome), in the store's database, kept as long as the rollups
 * (pruned by the schedule's tick). Read by wardgw audit (lighting_cli.h). */
#ifndef WARDGW_AUDIT_H
#define WARDGW_AUDIT_H

#include <stdint.h>

struct sqlite3;

/** One audit row (autocommit). @level NaN for none. 0 or negative errno. */
int audit_add(struct sqlite3 *db, int64_t ts_ms, const char *source, const char *cmd_id, const char *action,
	      const char *target, double level, const char *verdict, const char *reason, const char *body);

#endif
