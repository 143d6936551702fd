/* The durable outbox: everything bound for the IOC is committed to SQLite
 * (in the store's flush transaction) before it is published, and deleted
 * only when the broker's PUBACK for it arrives. Two lanes: KPIs and events
 * (never dropped, always in order) and telemetry (live first, backlog
 * rate-limited, oldest dropped first when the caps are hit). Loop thread. */
#ifndef WARDGW_OUTBOX_H
#define WARDGW_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

struct outbox;
struct store;

enum outbox_lane { LANE_PRIORITY = 0, LANE_TELEMETRY = 1 };

/* How the outbox hands a message to the link: 0 when taken (an ack or a
 * failure for @id will follow through outbox_acked()), negative when not. */
typedef int (*outbox_send_fn)(void *arg, int64_t id, const char *topic, const void *payload,
			      size_t len);

struct outbox_opts {
	int window;                 /* messages in flight at most */
	int backfill_per_s;         /* backlog messages per second */
	int64_t max_bytes;          /* cap on stored messages (topic + payload) */
	int64_t max_age_ms;         /* telemetry older than this is dropped */
	int64_t ack_timeout_ms;     /* in flight this long after a connect: resend */
	outbox_send_fn send;
	void *send_arg;
};

struct outbox_stats {
	int64_t rows, bytes;        /* stored, not yet acknowledged */
	int64_t inflight;
	uint64_t queued, sent, acked, resent, failed;
	uint64_t dropped;           /* telemetry dropped for the caps, all time */
	uint64_t dropped_bytes;
	int64_t oldest_ms;          /* time of the oldest stored message, 0 if none */
};

/** Attach to @st (tables created by its migrations); reads depth and counters. */
int outbox_new(struct outbox **out, struct store *st, const struct outbox_opts *o);
/** Finalize statements. Call store_clear_hooks() and flush first. */
void outbox_free(struct outbox *ob);
/** Queue a message; it is committed by the next store flush, then sent. 0 or -ENOMEM. */
int outbox_add(struct outbox *ob, enum outbox_lane lane, const char *topic, const void *payload,
	       size_t len, int64_t ts_ms);
/** From another store hook's in_tx: insert now, in the open transaction. */
int outbox_add_tx(struct outbox *ob, enum outbox_lane lane, const char *topic, const void *payload,
		  size_t len, int64_t ts_ms);
/** The link came up; @session_present: the broker kept our session. */
void outbox_link_up(struct outbox *ob, int session_present);
void outbox_link_down(struct outbox *ob);
/** Send nothing new (stopping: wait for what is in flight). */
void outbox_hold(struct outbox *ob);
/** The broker acknowledged (@ok) or the link gave up on (!@ok) message @id. */
void outbox_acked(struct outbox *ob, int64_t id, int ok);
/** Send what the window and the backfill rate allow; call often (timer). */
void outbox_pump(struct outbox *ob);
void outbox_get_stats(const struct outbox *ob, struct outbox_stats *st);

#endif
