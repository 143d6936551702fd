/* The audit of messages nobody could authenticate (junk on the command
 * topic): bounded in rate and in total so that a flood cannot fill the disk
 * nor push samples out. Per source and minute, the first few are audit rows
 * of their own, the rest one row with their count; such rows are kept a
 * short time and their number is capped. Commands that passed the HMAC check
 * are not counted here: they keep their full audit (lighting.c). Loop thread. */
#ifndef WARDGW_REJECTS_H
#define WARDGW_REJECTS_H

#include <stddef.h>
#include <stdint.h>

struct sqlite3;
struct rejects;

/* The source of messages from the MQTT command topic that did not pass the
 * HMAC check (the IOC is the source only of what it signed). */
#define REJECTS_SOURCE_MQTT "mqtt"

/* Rows of their own per source and minute; the rest of the minute is counted in one row. */
#define REJECTS_ROWS_PER_MIN 10
/* How long these rows are kept, and how many at most (about 400 bytes each). */
#define REJECTS_KEEP_DAYS 7
#define REJECTS_MAX_ROWS 20000
/* Bytes of an unauthenticated message kept in its row. */
#define REJECTS_BODY_BYTES 256

/** A counter for the audit rows of unauthenticated messages in @db (borrowed). */
int rejects_new(struct rejects **out, struct sqlite3 *db);
/** Write what is counted but not yet written, then free. */
void rejects_free(struct rejects *r);
/**
 * One unauthenticated message from @source at @now_ms, refused for @why;
 * @body (@len bytes, may be NULL) is its raw start. Returns 1 when it got a
 * row of its own, 0 when it was only counted, negative errno on a store
 * error (logged).
 */
int rejects_add(struct rejects *r, int64_t now_ms, const char *source, const char *id, const char *why,
		const char *body, size_t len);
/** Once a second or so: write the count of the open minute when it changed,
 *  apply the retention and the cap. */
void rejects_tick(struct rejects *r, int64_t now_ms);
/** Messages counted since start, and those only counted (no row of their own). */
uint64_t rejects_total(const struct rejects *r);
uint64_t rejects_folded(const struct rejects *r);

#endif
