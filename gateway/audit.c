/* The audit table (see audit.h). */
#include "audit.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>

#include "log.h"

int audit_add(sqlite3 *db, int64_t ts_ms, const char *source, const char *cmd_id, const char *action,
	      const char *target, double level, const char *verdict, const char *reason, const char *body)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, "INSERT INTO audit (ts, source, cmd_id, action, target, level, verdict, reason, body)"
			       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", -1, &st, NULL) != SQLITE_OK)
		return log_error(-EIO, "audit: cannot prepare: %s", sqlite3_errmsg(db));
	sqlite3_bind_int64(st, 1, ts_ms);
	sqlite3_bind_text(st, 2, source, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, cmd_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, action, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, target, -1, SQLITE_TRANSIENT);
	if (isnan(level))
		sqlite3_bind_null(st, 6);
	else
		sqlite3_bind_double(st, 6, level);
	sqlite3_bind_text(st, 7, verdict, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 8, reason, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 9, body, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return log_error(-EIO, "audit: cannot record %s %s: %s", source, verdict, sqlite3_errmsg(db));
	return 0;
}
