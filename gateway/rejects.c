/* Unauthenticated messages in the audit: a few rows per source and minute,
 * one counting row for the rest, a short retention and a cap. Written
 * straight to the audit table, outside the store's flush transaction, as
 * the rest of the audit is (lighting.c). */
#include "rejects.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct src {
	char name[24];
	int64_t minute;             /* start of the minute counted */
	unsigned rows;              /* rows of their own in it */
	uint64_t folded;            /* counted in its counting row */
	int64_t row_id;             /* the counting row, 0: none yet */
	int dirty;                  /* folded changed since written */
	char last_why[160];
};

#define NSRC 4

struct rejects {
	sqlite3 *db;
	struct src src[NSRC];
	uint64_t total, folded;
	int64_t pruned_ms;
};

int rejects_new(struct rejects **out, sqlite3 *db)
{
	struct rejects *r = calloc(1, sizeof(*r));

	*out = r;
	if (!r)
		return -ENOMEM;
	r->db = db;
	return 0;
}

static int insert(struct rejects *r, int64_t ts, const char *source, const char *id, const char *why,
		  const char *body, size_t len, int64_t *rowid)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(r->db, "INSERT INTO audit (ts, source, cmd_id, verdict, reason, body)"
			       " VALUES (?1, ?2, ?3, 'rejected', ?4, ?5)", -1, &st, NULL) != SQLITE_OK)
		return log_error(-EIO, "audit: cannot prepare: %s", sqlite3_errmsg(r->db));
	sqlite3_bind_int64(st, 1, ts);
	sqlite3_bind_text(st, 2, source, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, id && id[0] ? id : NULL, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, why, -1, SQLITE_TRANSIENT);
	if (body)
		sqlite3_bind_text(st, 5, body, (int)(len < REJECTS_BODY_BYTES ? len : REJECTS_BODY_BYTES),
				  SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, 5);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return log_error(-EIO, "audit: cannot record a rejected message: %s", sqlite3_errmsg(r->db));
	*rowid = sqlite3_last_insert_rowid(r->db);
	return 0;
}

static void fold_text(const struct src *s, char *buf, size_t size)
{
	snprintf(buf, size, "+%llu more unauthenticated messages in this minute, counted, not kept (last: %s)",
		 (unsigned long long)s->folded, s->last_why);
}

/* Write the counting row of @s's minute. */
static int sync_src(struct rejects *r, struct src *s)
{
	char text[300];
	sqlite3_stmt *st;
	int rc;

	if (!s->dirty)
		return 0;
	fold_text(s, text, sizeof(text));
	if (!s->row_id) {
		int ret = insert(r, s->minute + 59999, s->name, NULL, text, NULL, 0, &s->row_id);
		if (ret == 0)
			s->dirty = 0;
		return ret;
	}
	if (sqlite3_prepare_v2(r->db, "UPDATE audit SET reason = ?1 WHERE id = ?2", -1, &st, NULL) != SQLITE_OK)
		return log_error(-EIO, "audit: cannot prepare: %s", sqlite3_errmsg(r->db));
	sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, s->row_id);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return log_error(-EIO, "audit: cannot count rejected messages: %s", sqlite3_errmsg(r->db));
	s->dirty = 0;
	return 0;
}

static struct src *find(struct rejects *r, const char *source)
{
	struct src *free_slot = NULL, *oldest = &r->src[0];

	for (int i = 0; i < NSRC; i++) {
		struct src *s = &r->src[i];
		if (s->name[0] && !strcmp(s->name, source))
			return s;
		if (!s->name[0] && !free_slot)
			free_slot = s;
		if (s->minute < oldest->minute)
			oldest = s;
	}
	if (!free_slot) {
		sync_src(r, oldest);
		free_slot = oldest;
	}
	memset(free_slot, 0, sizeof(*free_slot));
	snprintf(free_slot->name, sizeof(free_slot->name), "%s", source);
	return free_slot;
}

int rejects_add(struct rejects *r, int64_t now_ms, const char *source, const char *id, const char *why,
		const char *body, size_t len)
{
	struct src *s = find(r, source);
	int64_t minute = now_ms / 60000 * 60000;
	int64_t rowid;
	int ret;

	r->total++;
	if (minute != s->minute) {
		sync_src(r, s);
		s->minute = minute;
		s->rows = 0;
		s->folded = 0;
		s->row_id = 0;
		s->dirty = 0;
	}
	if (s->rows < REJECTS_ROWS_PER_MIN) {
		s->rows++;
		ret = insert(r, now_ms, source, id, why, body, len, &rowid);
		return ret < 0 ? ret : 1;
	}
	s->folded++;
	r->folded++;
	s->dirty = 1;
	snprintf(s->last_why, sizeof(s->last_why), "%s", why);
	return 0;
}

void rejects_tick(struct rejects *r, int64_t now_ms)
{
	sqlite3_stmt *st;

	if (!r)
		return;
	for (int i = 0; i < NSRC; i++)
		if (r->src[i].name[0])
			sync_src(r, &r->src[i]);
	/* once a minute; a wall clock stepped back prunes at once and
	 * counts the minute from there, rather than waiting for it to catch up */
	if (now_ms - r->pruned_ms < 60000 && now_ms >= r->pruned_ms)
		return;
	r->pruned_ms = now_ms;
	/* the rows of unauthenticated messages only (the other sources of the
	 * audit, ioc and schedule, have their own retention) */
	if (sqlite3_prepare_v2(r->db, "DELETE FROM audit WHERE source = ?3 AND (ts < ?1 OR id <= (SELECT id FROM audit"
			       " WHERE source = ?3 ORDER BY id DESC LIMIT 1 OFFSET ?2))", -1, &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(st, 1, now_ms - REJECTS_KEEP_DAYS * 86400000LL);
	sqlite3_bind_int(st, 2, REJECTS_MAX_ROWS);
	sqlite3_bind_text(st, 3, REJECTS_SOURCE_MQTT, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		log_warn("audit: cannot prune the rows of rejected messages: %s", sqlite3_errmsg(r->db));
	sqlite3_finalize(st);
}

uint64_t rejects_total(const struct rejects *r)
{
	return r ? r->total : 0;
}

uint64_t rejects_folded(const struct rejects *r)
{
	return r ? r->folded : 0;
}

void rejects_free(struct rejects *r)
{
	if (!r)
		return;
	for (int i = 0; i < NSRC; i++)
		if (r->src[i].name[0])
			sync_src(r, &r->src[i]);
	free(r);
}
