/* The durable outbox: everything bound for the northbound links is durable
 * in SQLite (in the store's flush transaction) before it is published.
 * Two lanes:
 *  - priority (KPIs, events, command answers): rows of the `outbox` table,
 *    never dropped, always in order, deleted once every link that carries
 *    them has had the broker's PUBACK;
 *  - telemetry: no row per pack. The store's commit log is the outbox: a
 *    commit's packs go out live from memory, and each link keeps a
 *    delivery cursor (the last commit log record whose every pack its
 *    broker acknowledged, table meta, written in the flush transaction
 *    when it moves). After an outage or a restart the backlog is rebuilt
 *    from the records after the cursor, in order, by the same function
 *    that builds the live packs (so: same topics, same payloads), at
 *    backfill_per_s, oldest dropped first when the caps are hit.
 * Several links (issue 13): each has its own window, cursors and state.
 * Loop thread. docs/storage.md, "The store as the outbox". */
#ifndef WARDGW_OUTBOX_H
#define WARDGW_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

struct outbox;
struct store;

enum outbox_lane { LANE_PRIORITY = 0, LANE_TELEMETRY = 1 };

/* How the outbox hands a message to a link: 0 when taken (an ack or a
 * failure for @id will follow through outbox_acked()), negative when not.
 * Ids > 0 are outbox rows, ids < 0 telemetry packs. */
typedef int (*outbox_send_fn)(void *arg, int64_t id, const char *topic, const void *payload,
			      size_t len);
/* One telemetry pack, from outbox_packs_fn. 0 to go on. */
typedef int (*outbox_emit_fn)(void *arg, const char *topic, const void *payload, size_t len,
			      int64_t ts_ms);
/* Turn one commit log record (store_log_walk) into the telemetry packs the
 * polls of that commit published, in order, through @emit. 0 or negative
 * errno (-EINVAL: the record is corrupt). */
typedef int (*outbox_packs_fn)(void *arg, const uint8_t *rec, size_t len, outbox_emit_fn emit,
			       void *emit_arg);

/* What a link carries (bit mask). */
enum {
	CARRY_KPI = 1, CARRY_EVENT = 2, CARRY_MAP = 4, CARRY_TELEMETRY = 8, CARRY_STATUS = 16,
	CARRY_ALL = 31,
};

struct outbox_link_opts {
	const char *name;           /* [a-z0-9_-], "ioc" for the mqtt section; the cursor's key */
	int window;                 /* messages in flight at most */
	unsigned carries;           /* CARRY_*; 0 means CARRY_ALL */
	outbox_send_fn send;
	void *send_arg;
};

struct outbox_opts {
	int window;                 /* link 0 ("ioc"): messages in flight at most */
	int backfill_per_s;         /* backlog messages per second, per link */
	int64_t max_bytes;          /* cap on stored messages and telemetry backlog */
	int64_t max_age_ms;         /* telemetry older than this is dropped */
	int64_t ack_timeout_ms;     /* in flight this long after a connect: resend */
	outbox_send_fn send;        /* link 0 */
	void *send_arg;
	outbox_packs_fn packs;      /* NULL: no telemetry lane */
	void *packs_arg;
	/* what a priority message is (a CARRY_* bit, from its topic); NULL:
	 * every link carries every message */
	unsigned (*kind)(void *arg, const char *topic);
	void *kind_arg;
	/* live telemetry goes LIVE_BURST packs a call; with more to send, the
	 * outbox asks for outbox_pump() soon (the next turn of the loop), so
	 * that a commit of 1,000 packs does not hold the loop in one go;
	 * NULL: the next pump or commit sends the rest */
	void (*kick)(void *arg);
	void *kick_arg;
};

struct outbox_stats {
	int64_t rows, bytes;        /* priority rows stored, their bytes plus the telemetry backlog's */
	int64_t inflight;
	uint64_t queued, sent, acked, resent, failed;
	uint64_t dropped;           /* telemetry packs dropped for the caps, all time */
	uint64_t dropped_bytes;
	int64_t oldest_ms;          /* time of the oldest stored message, 0 if none */
	int64_t tele_records;       /* commit log records the slowest link still owes */
	int64_t tele_bytes;         /* ... and their bytes */
};

struct outbox_link_stats {
	const char *name;
	int up;
	int64_t inflight;
	uint64_t sent, acked, failed, resent;
	int64_t prio_backlog;       /* priority rows this link has not had acknowledged */
	int64_t tele_cursor;        /* last commit log record fully acknowledged */
	int64_t tele_lag;           /* records committed after it */
	int64_t tele_bytes;         /* their bytes */
};

/** Attach to @st (tables created by its migrations) with link 0 ("ioc"); reads cursors and counters. */
int outbox_new(struct outbox **out, struct store *st, const struct outbox_opts *o);
/** Another link; its index (> 0) or negative errno. Before the first flush. */
int outbox_link_add(struct outbox *ob, const struct outbox_link_opts *lo);
int outbox_nlinks(const struct outbox *ob);
/** Finalize statements. Call store_clear_hooks() and flush first. */
void outbox_free(struct outbox *ob);
/** Queue a priority message; it is committed by the next store flush, then sent. 0, -EINVAL or -ENOMEM. */
int outbox_add(struct outbox *ob, enum outbox_lane lane, const char *topic, const void *payload,
	       size_t len, int64_t ts_ms);
/** From another store hook's in_tx: insert now, in the open transaction. */
int outbox_add_tx(struct outbox *ob, enum outbox_lane lane, const char *topic, const void *payload,
		  size_t len, int64_t ts_ms);
/** Link @link came up; @session_present: the broker kept our session. */
void outbox_link_up(struct outbox *ob, int link, int session_present);
void outbox_link_down(struct outbox *ob, int link);
/** Send nothing new (stopping: wait for what is in flight). */
void outbox_hold(struct outbox *ob);
/** The broker of @link acknowledged (@ok) or the link gave up on (!@ok) message @id. */
void outbox_acked(struct outbox *ob, int link, int64_t id, int ok);
/** Send what the windows and the backfill rate allow; call often (timer). */
void outbox_pump(struct outbox *ob);
void outbox_get_stats(const struct outbox *ob, struct outbox_stats *st);
/** One link's state. 0 or -ENOENT. */
int outbox_link_get_stats(const struct outbox *ob, int link, struct outbox_link_stats *st);

#endif
