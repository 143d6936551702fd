/* Durable outbox on the store's SQLite database. Messages are queued in
 * memory, inserted by the store's flush transaction (with the samples they
 * came from), sent after the commit, and deleted by a later flush once the
 * broker has acknowledged them. Sending walks each lane in id order with a
 * cursor; what is in flight is remembered so the walk skips it, and a
 * failure or a lost session moves the cursor back. */
#include "outbox.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "store.h"

struct msg {
	enum outbox_lane lane;
	char *topic;
	void *payload;
	size_t len;
	int64_t ts;
	int64_t id;                 /* assigned by the insert */
};

/* Messages waiting in memory for a commit (the disk refuses them) at most. */
#define OUTBOX_PEND_MAX_BYTES ((int64_t)64 << 20)

struct flight {
	int64_t id;
	int64_t sent_us;
	enum outbox_lane lane;
};

struct outbox {
	struct store *st;
	sqlite3 *db;
	struct outbox_opts o;
	sqlite3_stmt *ins, *del, *scan, *oldest, *drop_scan;
	struct msg *pend;           /* queued, not committed yet */
	size_t npend, cap_pend;
	int64_t pend_bytes;
	int counts_dirty;           /* dropped counters changed outside a flush */
	struct msg *fresh;          /* committed by the last flush, not offered yet */
	size_t nfresh;
	struct msg *txm;            /* inserted by other hooks in the open transaction */
	size_t ntxm, cap_txm;
	int64_t *acks;              /* acknowledged, to delete */
	size_t nacks, cap_acks, nacks_tx;
	struct flight *fl;
	size_t nfl;
	int64_t cur[2];             /* per lane: every id <= cur was offered */
	int up, hold;
	int64_t up_since_us;
	double tokens;
	int64_t tokens_us;
	int64_t rows, bytes;
	int64_t tx_rows, tx_bytes;  /* changes of the open transaction */
	uint64_t tx_dropped, tx_dropped_bytes;
	struct outbox_stats s;
	int cap_warned;
};

static int64_t now_us(void)
{
	return mono_us();
}

static int64_t now_ms(void)
{
	return wall_ms();
}

static void free_msgs(struct msg *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(m[i].topic);
		free(m[i].payload);
	}
}

static int db_fail(struct outbox *ob, const char *what)
{
	log_err("outbox: %s: %s", what, sqlite3_errmsg(ob->db));
	return store_errno(ob->st);
}

/* --- the flush transaction --- */

static int ob_dirty(void *arg)
{
	struct outbox *ob = arg;

	return ob->npend || ob->nacks;
}

static int in_flight(const struct outbox *ob, int64_t id)
{
	for (size_t i = 0; i < ob->nfl; i++)
		if (ob->fl[i].id == id)
			return 1;
	return 0;
}

/* Acknowledged, waiting for the next flush to delete it: never resend. */
static int acked_pending(const struct outbox *ob, int64_t id)
{
	for (size_t i = 0; i < ob->nacks; i++)
		if (ob->acks[i] == id)
			return 1;
	return 0;
}

/* Delete row @id; adds its size to the transaction's changes. */
static int delete_row(struct outbox *ob, int64_t id, int64_t *freed)
{
	int rc;

	sqlite3_reset(ob->del);
	sqlite3_bind_int64(ob->del, 1, id);
	while ((rc = sqlite3_step(ob->del)) == SQLITE_ROW) {
		*freed += sqlite3_column_int64(ob->del, 0);
		ob->tx_rows--;
		ob->tx_bytes -= sqlite3_column_int64(ob->del, 0);
	}
	sqlite3_reset(ob->del);
	return rc == SQLITE_DONE ? 0 : db_fail(ob, "delete");
}

/* Over a cap: drop the oldest telemetry (never KPIs or events, never what
 * is in flight), at most @max rows per flush. */
static int enforce_caps(struct outbox *ob, int max)
{
	int64_t cut = ob->o.max_age_ms > 0 ? now_ms() - ob->o.max_age_ms : INT64_MIN;
	int64_t after = 0;
	int rc, n = 0;

	while (n < max) {
		int progressed = 0;
		if (ob->bytes + ob->tx_bytes <= ob->o.max_bytes) {
			/* under the byte cap: only age can drop, oldest first */
			sqlite3_reset(ob->oldest);
			rc = sqlite3_step(ob->oldest);
			int old = rc == SQLITE_ROW && sqlite3_column_int64(ob->oldest, 1) < cut;
			sqlite3_reset(ob->oldest);
			if (rc != SQLITE_ROW && rc != SQLITE_DONE)
				return db_fail(ob, "read oldest");
			if (!old)
				break;
		}
		sqlite3_reset(ob->drop_scan);
		sqlite3_bind_int64(ob->drop_scan, 1, after);
		int64_t ids[256], projected = ob->bytes + ob->tx_bytes;
		int k = 0;
		while (k < 256 && (rc = sqlite3_step(ob->drop_scan)) == SQLITE_ROW) {
			int64_t id = sqlite3_column_int64(ob->drop_scan, 0);
			int64_t ts = sqlite3_column_int64(ob->drop_scan, 1);
			after = id;
			if (in_flight(ob, id))
				continue;
			if (projected <= ob->o.max_bytes && ts >= cut)
				break;
			ids[k++] = id;
			projected -= sqlite3_column_int64(ob->drop_scan, 2);
		}
		sqlite3_reset(ob->drop_scan);
		for (int i = 0; i < k; i++) {
			int64_t freed = 0;
			if (delete_row(ob, ids[i], &freed) < 0)
				return -EIO;
			ob->tx_dropped++;
			ob->tx_dropped_bytes += (uint64_t)freed;
			n++;
			progressed = 1;
		}
		if (!progressed)
			break;
	}
	if (ob->bytes + ob->tx_bytes > ob->o.max_bytes && !ob->cap_warned) {
		log_warn("outbox: over its cap of %lld bytes with KPIs and events alone; they are kept",
			 (long long)ob->o.max_bytes);
		ob->cap_warned = 1;
	}
	return n;
}

/* The store is full and holds no raw samples to give up: drop the oldest
 * telemetry (not in flight, not acknowledged), counted like the caps. */
static int ob_make_room(void *arg)
{
	struct outbox *ob = arg;
	int64_t ids[1000];
	int k = 0, rc;

	sqlite3_reset(ob->drop_scan);
	sqlite3_bind_int64(ob->drop_scan, 1, 0);
	while (k < 1000 && (rc = sqlite3_step(ob->drop_scan)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(ob->drop_scan, 0);
		if (!in_flight(ob, id) && !acked_pending(ob, id))
			ids[k++] = id;
	}
	sqlite3_reset(ob->drop_scan);
	if (k == 0 || sqlite3_exec(ob->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return 0;
	for (int i = 0; i < k; i++) {
		int64_t freed = 0;
		if (delete_row(ob, ids[i], &freed) < 0)
			goto fail;
		ob->tx_dropped++;
		ob->tx_dropped_bytes += (uint64_t)freed;
	}
	if (store_meta_put(ob->st, "outbox_dropped", (int64_t)(ob->s.dropped + ob->tx_dropped)) < 0 ||
	    store_meta_put(ob->st, "outbox_dropped_bytes", (int64_t)(ob->s.dropped_bytes + ob->tx_dropped_bytes)) < 0 ||
	    sqlite3_exec(ob->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	log_warn("outbox: the store is full: dropped the %d oldest telemetry messages", k);
	ob->rows += ob->tx_rows;
	ob->bytes += ob->tx_bytes;
	ob->s.dropped += ob->tx_dropped;
	ob->s.dropped_bytes += ob->tx_dropped_bytes;
	ob->tx_rows = ob->tx_bytes = 0;
	ob->tx_dropped = ob->tx_dropped_bytes = 0;
	return k;
fail:
	sqlite3_exec(ob->db, "ROLLBACK", NULL, NULL, NULL);
	ob->tx_rows = ob->tx_bytes = 0;
	ob->tx_dropped = ob->tx_dropped_bytes = 0;
	return 0;
}

static int insert_msg(struct outbox *ob, struct msg *m)
{
	int rc;

	sqlite3_reset(ob->ins);
	sqlite3_bind_int(ob->ins, 1, m->lane);
	sqlite3_bind_text(ob->ins, 2, m->topic, -1, SQLITE_STATIC);
	sqlite3_bind_blob(ob->ins, 3, m->payload, (int)m->len, SQLITE_STATIC);
	sqlite3_bind_int64(ob->ins, 4, m->ts);
	rc = sqlite3_step(ob->ins);
	sqlite3_reset(ob->ins);
	if (rc != SQLITE_DONE)
		return db_fail(ob, "insert");
	m->id = sqlite3_last_insert_rowid(ob->db);
	ob->tx_rows++;
	ob->tx_bytes += (int64_t)(strlen(m->topic) + m->len);
	return 0;
}

static int fill_msg(struct msg *m, enum outbox_lane lane, const char *topic, const void *payload,
		    size_t len, int64_t ts_ms)
{
	m->lane = lane;
	m->topic = strdup(topic);
	m->payload = malloc(len ? len : 1);
	m->len = len;
	m->ts = ts_ms;
	m->id = 0;
	if (!m->topic || !m->payload) {
		free(m->topic);
		free(m->payload);
		return -ENOMEM;
	}
	memcpy(m->payload, payload, len);
	return 0;
}

int outbox_add_tx(struct outbox *ob, enum outbox_lane lane, const char *topic, const void *payload,
		  size_t len, int64_t ts_ms)
{
	struct msg *m;

	if (ob->ntxm == ob->cap_txm) {
		size_t ncap = ob->cap_txm ? 2 * ob->cap_txm : 16;
		struct msg *nm = realloc(ob->txm, ncap * sizeof(*nm));
		if (!nm)
			return -ENOMEM;
		ob->txm = nm;
		ob->cap_txm = ncap;
	}
	m = &ob->txm[ob->ntxm];
	if (fill_msg(m, lane, topic, payload, len, ts_ms) < 0)
		return -ENOMEM;
	ob->ntxm++;
	ob->s.queued++;
	return insert_msg(ob, m);
}

static void ob_rolled_back(void *arg)
{
	struct outbox *ob = arg;

	free_msgs(ob->txm, ob->ntxm);
	ob->ntxm = 0;
	ob->tx_rows = ob->tx_bytes = 0;
	ob->tx_dropped = ob->tx_dropped_bytes = 0;
	ob->nacks_tx = 0;
}

static int ob_in_tx(void *arg)
{
	struct outbox *ob = arg;
	int rc;

	/* tx_rows and tx_bytes already count what other hooks inserted */
	for (size_t i = 0; i < ob->npend; i++) {
		struct msg *m = &ob->pend[i];
		if (insert_msg(ob, m) < 0)
			return -EIO;
	}
	ob->nacks_tx = ob->nacks;
	for (size_t i = 0; i < ob->nacks_tx; i++) {
		int64_t freed = 0;
		if (delete_row(ob, ob->acks[i], &freed) < 0)
			return -EIO;
	}
	if (ob->o.max_bytes > 0 && (rc = enforce_caps(ob, 10000)) < 0)
		return rc;
	if ((ob->tx_dropped || ob->counts_dirty) &&
	    (store_meta_put(ob->st, "outbox_dropped", (int64_t)(ob->s.dropped + ob->tx_dropped)) < 0 ||
	     store_meta_put(ob->st, "outbox_dropped_bytes", (int64_t)(ob->s.dropped_bytes + ob->tx_dropped_bytes)) < 0))
		return -EIO;
	return 0;
}

static void ob_committed(void *arg)
{
	struct outbox *ob = arg;

	ob->rows += ob->tx_rows;
	ob->bytes += ob->tx_bytes;
	if (ob->tx_dropped) {
		log_warn("outbox: over its cap (%lld bytes, %lld s): dropped the %llu oldest telemetry messages",
			 (long long)ob->o.max_bytes, (long long)(ob->o.max_age_ms / 1000),
			 (unsigned long long)ob->tx_dropped);
		ob->s.dropped += ob->tx_dropped;
		ob->s.dropped_bytes += ob->tx_dropped_bytes;
	}
	ob->tx_rows = ob->tx_bytes = 0;
	ob->tx_dropped = ob->tx_dropped_bytes = 0;
	ob->counts_dirty = 0;
	/* acknowledgements that came during the transaction stay for the next */
	if (ob->nacks > ob->nacks_tx)
		memmove(ob->acks, ob->acks + ob->nacks_tx, (ob->nacks - ob->nacks_tx) * sizeof(*ob->acks));
	ob->nacks -= ob->nacks_tx;
	ob->nacks_tx = 0;
	/* what was just committed may be sent now */
	free_msgs(ob->fresh, ob->nfresh);
	free(ob->fresh);
	ob->fresh = ob->pend;
	ob->nfresh = ob->npend;
	ob->pend = NULL;
	ob->npend = ob->cap_pend = 0;
	ob->pend_bytes = 0;
	/* messages other hooks inserted are in the table; the walk sends them */
	free_msgs(ob->txm, ob->ntxm);
	ob->ntxm = 0;
	outbox_pump(ob);
}

/* --- sending --- */

static int offer(struct outbox *ob, enum outbox_lane lane, int64_t id, const char *topic,
		 const void *payload, size_t len)
{
	struct flight *f;

	if (ob->o.send(ob->o.send_arg, id, topic, payload, len) < 0)
		return -EAGAIN;
	f = &ob->fl[ob->nfl++];
	f->id = id;
	f->lane = lane;
	f->sent_us = now_us();
	ob->s.sent++;
	return 0;
}

/* Walk @lane from its cursor, sending while @room allows. Returns sent. */
static int walk(struct outbox *ob, enum outbox_lane lane, size_t room, double *tokens)
{
	int sent = 0, more = 1;

	while (more && ob->up && ob->nfl < room && (!tokens || *tokens >= 1)) {
		int rc, rows = 0;
		more = 0;
		sqlite3_reset(ob->scan);
		sqlite3_bind_int(ob->scan, 1, lane);
		sqlite3_bind_int64(ob->scan, 2, ob->cur[lane]);
		while ((rc = sqlite3_step(ob->scan)) == SQLITE_ROW) {
			int64_t id = sqlite3_column_int64(ob->scan, 0);
			rows++;
			if (in_flight(ob, id) || acked_pending(ob, id)) {
				ob->cur[lane] = id;
				continue;
			}
			if (ob->nfl >= room || (tokens && *tokens < 1))
				break;
			const char *topic = (const char *)sqlite3_column_text(ob->scan, 1);
			const void *payload = sqlite3_column_blob(ob->scan, 2);
			int len = sqlite3_column_bytes(ob->scan, 2);
			if (!topic || offer(ob, lane, id, topic, payload, (size_t)len) < 0)
				break;
			ob->cur[lane] = id;
			sent++;
			if (tokens)
				*tokens -= 1;
		}
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			db_fail(ob, "read backlog");
		more = rc == SQLITE_ROW || rows == 64;
		sqlite3_reset(ob->scan);
		if (rc == SQLITE_ROW)
			break;          /* stopped for room, tokens or the link */
	}
	return sent;
}

static void rewind_lane(struct outbox *ob, enum outbox_lane lane, int64_t id)
{
	if (ob->cur[lane] >= id)
		ob->cur[lane] = id - 1;
}

static void drop_flight(struct outbox *ob, size_t i)
{
	ob->fl[i] = ob->fl[--ob->nfl];
}

void outbox_pump(struct outbox *ob)
{
	size_t window = (size_t)ob->o.window;
	int64_t t = now_us();

	if (!ob->up || ob->hold) {
		/* fresh rows stay in the table; the walk finds them later */
		free_msgs(ob->fresh, ob->nfresh);
		ob->nfresh = 0;
		return;
	}
	/* in flight too long after the link came back: presumed lost */
	if (ob->o.ack_timeout_ms > 0 && t - ob->up_since_us > ob->o.ack_timeout_ms * 1000) {
		for (size_t i = 0; i < ob->nfl;) {
			if (t - ob->fl[i].sent_us > ob->o.ack_timeout_ms * 1000) {
				rewind_lane(ob, ob->fl[i].lane, ob->fl[i].id);
				ob->s.resent++;
				drop_flight(ob, i);
			} else {
				i++;
			}
		}
	}
	/* KPIs and events first, strictly in order, not rate-limited */
	walk(ob, LANE_PRIORITY, window, NULL);
	/* live telemetry next, straight from memory */
	for (size_t i = 0; i < ob->nfresh; i++) {
		struct msg *m = &ob->fresh[i];
		if (m->lane == LANE_TELEMETRY && ob->nfl < window)
			offer(ob, m->lane, m->id, m->topic, m->payload, m->len);
	}
	free_msgs(ob->fresh, ob->nfresh);
	ob->nfresh = 0;
	/* then the backlog, in order, at the backfill rate and in half the
	 * window so that live messages always find room */
	ob->tokens += (double)(t - ob->tokens_us) * ob->o.backfill_per_s / 1e6;
	ob->tokens_us = t;
	if (ob->tokens > ob->o.backfill_per_s)
		ob->tokens = ob->o.backfill_per_s;
	walk(ob, LANE_TELEMETRY, window / 2 ? window / 2 : 1, &ob->tokens);
}

void outbox_acked(struct outbox *ob, int64_t id, int ok)
{
	for (size_t i = 0; i < ob->nfl; i++) {
		if (ob->fl[i].id != id)
			continue;
		if (!ok)
			rewind_lane(ob, ob->fl[i].lane, id);
		drop_flight(ob, i);
		break;
	}
	if (!ok) {
		ob->s.failed++;
		return;
	}
	ob->s.acked++;
	if (ob->nacks == ob->cap_acks) {
		size_t ncap = ob->cap_acks ? 2 * ob->cap_acks : 256;
		int64_t *na = realloc(ob->acks, ncap * sizeof(*na));
		if (!na)
			return;     /* it stays stored and is sent again: a duplicate, not a loss */
		ob->acks = na;
		ob->cap_acks = ncap;
	}
	ob->acks[ob->nacks++] = id;
}

void outbox_link_up(struct outbox *ob, int session_present)
{
	ob->up = 1;
	ob->up_since_us = now_us();
	ob->tokens_us = ob->up_since_us;
	ob->tokens = ob->o.backfill_per_s / 10.0;   /* a tenth of a second's worth to start */
	if (!session_present) {
		/* the broker forgot what was in flight: send it all again */
		ob->nfl = 0;
		ob->cur[0] = ob->cur[1] = 0;
	}
	outbox_pump(ob);
}

void outbox_hold(struct outbox *ob)
{
	ob->hold = 1;
}

void outbox_link_down(struct outbox *ob)
{
	ob->up = 0;
}

int outbox_add(struct outbox *ob, enum outbox_lane lane, const char *topic, const void *payload,
	       size_t len, int64_t ts_ms)
{
	struct msg *m;

	/* commits fail (the disk): keep a bounded queue in memory, dropping
	 * the oldest telemetry first, as the caps on the table do */
	if (ob->pend_bytes + (int64_t)len > OUTBOX_PEND_MAX_BYTES) {
		size_t j = 0, dropped = 0;
		int64_t goal = OUTBOX_PEND_MAX_BYTES - OUTBOX_PEND_MAX_BYTES / 8;
		for (size_t i = 0; i < ob->npend; i++) {
			struct msg *p = &ob->pend[i];
			if (p->lane == LANE_TELEMETRY && ob->pend_bytes + (int64_t)len > goal) {
				ob->pend_bytes -= (int64_t)(strlen(p->topic) + p->len);
				ob->s.dropped++;
				ob->s.dropped_bytes += strlen(p->topic) + p->len;
				free_msgs(p, 1);
				dropped++;
				continue;
			}
			ob->pend[j++] = *p;
		}
		ob->npend = j;
		if (dropped) {
			ob->counts_dirty = 1;
			log_warn("outbox: %lld bytes wait for the store: dropped the %zu oldest telemetry messages",
				 (long long)OUTBOX_PEND_MAX_BYTES, dropped);
		}
	}
	if (ob->npend == ob->cap_pend) {
		size_t ncap = ob->cap_pend ? 2 * ob->cap_pend : 256;
		struct msg *np = realloc(ob->pend, ncap * sizeof(*np));
		if (!np)
			return -ENOMEM;
		ob->pend = np;
		ob->cap_pend = ncap;
	}
	m = &ob->pend[ob->npend];
	if (fill_msg(m, lane, topic, payload, len, ts_ms) < 0)
		return -ENOMEM;
	ob->npend++;
	ob->pend_bytes += (int64_t)(strlen(topic) + len);
	ob->s.queued++;
	return 0;
}

void outbox_get_stats(const struct outbox *ob, struct outbox_stats *st)
{
	*st = ob->s;
	st->rows = ob->rows;
	st->bytes = ob->bytes;
	st->inflight = (int64_t)ob->nfl;
	st->oldest_ms = 0;
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(ob->db, "SELECT min(ts) FROM (SELECT ts FROM outbox ORDER BY id LIMIT 1)",
			       -1, &q, NULL) == SQLITE_OK) {
		if (sqlite3_step(q) == SQLITE_ROW)
			st->oldest_ms = sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
	}
}

static int prep(struct outbox *ob, sqlite3_stmt **st, const char *sql)
{
	if (sqlite3_prepare_v3(ob->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
		return db_fail(ob, "prepare");
	return 0;
}

int outbox_new(struct outbox **out, struct store *st, const struct outbox_opts *o)
{
	struct outbox *ob = calloc(1, sizeof(*ob));
	sqlite3_stmt *q;
	int ret;

	*out = NULL;
	if (!ob)
		return -ENOMEM;
	ob->st = st;
	ob->db = store_db(st);
	ob->o = *o;
	if (ob->o.window < 1)
		ob->o.window = 1;
	ob->fl = calloc((size_t)ob->o.window, sizeof(*ob->fl));
	if (!ob->fl) {
		free(ob);
		return -ENOMEM;
	}
	if ((ret = prep(ob, &ob->ins, "INSERT INTO outbox (lane, topic, payload, ts) VALUES (?,?,?,?)")) ||
	    (ret = prep(ob, &ob->del, "DELETE FROM outbox WHERE id = ? RETURNING length(topic) + length(payload)")) ||
	    (ret = prep(ob, &ob->scan, "SELECT id, topic, payload FROM outbox WHERE lane = ? AND id > ?"
			" ORDER BY id LIMIT 64")) ||
	    (ret = prep(ob, &ob->oldest, "SELECT id, ts FROM outbox WHERE lane = 1 ORDER BY id LIMIT 1")) ||
	    (ret = prep(ob, &ob->drop_scan, "SELECT id, ts, length(topic) + length(payload) FROM outbox"
			" WHERE lane = 1 AND id > ? ORDER BY id LIMIT 256"))) {
		outbox_free(ob);
		return ret;
	}
	if (sqlite3_prepare_v2(ob->db, "SELECT count(*), coalesce(sum(length(topic) + length(payload)), 0)"
			       " FROM outbox", -1, &q, NULL) == SQLITE_OK) {
		if (sqlite3_step(q) == SQLITE_ROW) {
			ob->rows = sqlite3_column_int64(q, 0);
			ob->bytes = sqlite3_column_int64(q, 1);
		}
		sqlite3_finalize(q);
	}
	ob->s.dropped = (uint64_t)store_meta_get(ob->st, "outbox_dropped", 0);
	ob->s.dropped_bytes = (uint64_t)store_meta_get(ob->st, "outbox_dropped_bytes", 0);
	if (ob->rows)
		log_info("outbox: %lld messages (%lld bytes) from before are owed to the IOC",
			 (long long)ob->rows, (long long)ob->bytes);
	store_add_hook(st, &(struct store_hook){ ob_dirty, ob_in_tx, ob_committed, ob_rolled_back, ob, ob_make_room });
	*out = ob;
	return 0;
}

void outbox_free(struct outbox *ob)
{
	if (!ob)
		return;
	sqlite3_finalize(ob->ins);
	sqlite3_finalize(ob->del);
	sqlite3_finalize(ob->scan);
	sqlite3_finalize(ob->oldest);
	sqlite3_finalize(ob->drop_scan);
	free_msgs(ob->pend, ob->npend);
	free(ob->pend);
	free_msgs(ob->fresh, ob->nfresh);
	free(ob->fresh);
	free_msgs(ob->txm, ob->ntxm);
	free(ob->txm);
	free(ob->acks);
	free(ob->fl);
	free(ob);
}
