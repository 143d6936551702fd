/* Durable outbox on the store's SQLite database (outbox.h).
 *
 * Priority lane: messages are queued in memory, inserted by the store's
 * flush transaction (with the samples they came from), sent after the
 * commit, and deleted by a later flush once every link has had them
 * acknowledged. Each link walks the table in id order with a cursor; what
 * is in flight is remembered so the walk skips it, and a failure or a lost
 * session moves the cursor back. A link's "done" mark (every row up to it
 * acknowledged) is kept in meta, so that after a restart a link does not
 * get again what it already had while another link still owes it.
 *
 * Telemetry lane: the store's commit log records (store_log_*). Per link,
 * the records after its cursor are tracked in @tr (sorted by id): a
 * record's packs, their state (unsent, in flight, acknowledged). @bnext:
 * the backlog walk has seen every record up to it (each is tracked, or
 * done and forgotten). Live records (committed while the link is up) are
 * tracked at once, whatever bnext is; the walk passes over them. The
 * cursor is the record before the first tracked one not done, or bnext. */
#include "outbox.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
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
#define MAX_LINKS 8
/* A telemetry pack's id: -(record << PACK_BITS | index) - 1. */
#define PACK_BITS 24
#define PACK_MAX ((1 << PACK_BITS) - 1)

struct flight {
	int64_t id;
	int64_t sent_us;
};

enum { P_UNSENT = 0, P_FLIGHT = 1, P_ACKED = 2 };

struct pack {
	char *topic;
	void *payload;
	size_t len;
	unsigned char st;
};

struct trec {
	int64_t id;
	int64_t len;                /* the record's bytes */
	struct pack *p;             /* NULL once done */
	size_t n, nacked, nunsent;
	int done;
	int live;                   /* tracked at its commit: its rest is not backlog */
};

struct link {
	char name[40];
	char key_t[56], key_p[56];  /* meta keys of the cursors */
	outbox_send_fn send;
	void *send_arg;
	unsigned carries;
	int window;
	struct flight *fl;
	size_t nfl;
	int up;
	int64_t up_since_us;
	double tokens;
	int64_t tokens_us;
	uint64_t sent, acked, failed, resent;
	/* priority lane */
	int64_t pcur;               /* every id <= pcur was offered (or acked before) */
	int64_t pdone;              /* every id <= pdone acknowledged (persisted) */
	int64_t pdone_saved, pdone_tx;
	int64_t *packed;            /* acknowledged ids above pdone */
	size_t npacked, cap_packed;
	/* telemetry lane */
	int64_t tcur, tcur_saved, tcur_tx;
	int64_t bnext;
	struct trec *tr;
	size_t ntr, cap_tr;
	int64_t held_bytes;         /* bytes of the records after tcur */
};

struct outbox {
	struct store *st;
	sqlite3 *db;
	struct outbox_opts o;
	sqlite3_stmt *ins, *del, *scan;
	struct msg *pend;           /* queued, not committed yet */
	size_t npend, cap_pend;
	int64_t pend_bytes;
	int counts_dirty;           /* dropped counters changed outside a flush */
	int pend_warned;
	int stale_checked;          /* cursors of links gone from the config deleted */
	int64_t cursor_at_us;       /* monotonic: cursors last written */
	int cursor_force;           /* backlog dropped: write the cursors (and free the log) now */
	int cursor_tx;              /* this transaction writes them */
	struct msg *txm;            /* inserted by other hooks in the open transaction */
	size_t ntxm, cap_txm;
	int64_t *acks;              /* acknowledged by some link: delete when all have */
	size_t nacks, cap_acks, nacks_tx;
	struct link *l[MAX_LINKS];
	int nl;
	int hold;
	int64_t last_log;           /* the newest commit log record */
	int64_t rows, bytes;
	int64_t tx_rows, tx_bytes;  /* changes of the open transaction */
	uint64_t tx_dropped, tx_dropped_bytes;
	struct outbox_stats s;
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

static void free_packs(struct trec *r)
{
	for (size_t i = 0; r->p && i < r->n; i++) {
		free(r->p[i].topic);
		free(r->p[i].payload);
	}
	free(r->p);
	r->p = NULL;
}

static int db_fail(struct outbox *ob, const char *what)
{
	log_err("outbox: %s: %s", what, sqlite3_errmsg(ob->db));
	return store_errno(ob->st);
}

static int64_t pack_id(int64_t rec, size_t idx)
{
	return -((rec << PACK_BITS | (int64_t)idx) + 1);
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* --- per link bookkeeping --- */

static int in_flight(const struct link *l, int64_t id)
{
	for (size_t i = 0; i < l->nfl; i++)
		if (l->fl[i].id == id)
			return 1;
	return 0;
}

static int acked_by(const struct link *l, int64_t id)
{
	if (id <= l->pdone)
		return 1;
	for (size_t i = 0; i < l->npacked; i++)
		if (l->packed[i] == id)
			return 1;
	return 0;
}

/* pdone: the lowest priority id in flight, less one, or pcur. */
static void update_pdone(struct link *l)
{
	int64_t m = l->pcur;

	for (size_t i = 0; i < l->nfl; i++)
		if (l->fl[i].id > 0 && l->fl[i].id - 1 < m)
			m = l->fl[i].id - 1;
	if (m > l->pdone)
		l->pdone = m;
	size_t j = 0;
	for (size_t i = 0; i < l->npacked; i++)
		if (l->packed[i] > l->pdone)
			l->packed[j++] = l->packed[i];
	l->npacked = j;
}

static struct trec *find_rec(struct link *l, int64_t id)
{
	size_t lo = 0, hi = l->ntr;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (l->tr[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < l->ntr && l->tr[lo].id == id ? &l->tr[lo] : NULL;
}

/* Track record @id (above every tracked one, or inserted in order). */
static struct trec *add_rec(struct link *l, int64_t id, int64_t len)
{
	size_t at = l->ntr;

	if (l->ntr == l->cap_tr) {
		size_t ncap = l->cap_tr ? 2 * l->cap_tr : 64;
		struct trec *nt = realloc(l->tr, ncap * sizeof(*nt));
		if (!nt)
			return NULL;
		l->tr = nt;
		l->cap_tr = ncap;
	}
	while (at > 0 && l->tr[at - 1].id > id)
		at--;
	memmove(l->tr + at + 1, l->tr + at, (l->ntr - at) * sizeof(*l->tr));
	l->ntr++;
	memset(&l->tr[at], 0, sizeof(l->tr[at]));
	l->tr[at].id = id;
	l->tr[at].len = len;
	return &l->tr[at];
}

static void rec_check_done(struct trec *r)
{
	if (!r->done && r->nacked == r->n) {
		r->done = 1;
		free_packs(r);
	}
}

/* Drop the leading records that are done and that the walk has passed. */
static void drop_done(struct link *l)
{
	size_t k = 0;

	while (k < l->ntr && l->tr[k].done && l->tr[k].id <= l->bnext) {
		l->held_bytes -= l->tr[k].len;
		k++;
	}
	if (k) {
		memmove(l->tr, l->tr + k, (l->ntr - k) * sizeof(*l->tr));
		l->ntr -= k;
	}
}

/* Forget the done records the walk has passed; the cursor follows. */
static void advance_tcur(struct link *l)
{
	drop_done(l);
	/* live records right after bnext: the walk has nothing to read there */
	for (size_t i = 0; i < l->ntr; i++) {
		if (l->tr[i].id <= l->bnext)
			continue;
		if (l->tr[i].id != l->bnext + 1)
			break;
		l->bnext = l->tr[i].id;
	}
	drop_done(l);
	int64_t c = l->ntr && l->tr[0].id <= l->bnext ? l->tr[0].id - 1 : l->bnext;
	if (c > l->tcur)
		l->tcur = c;
	if (l->held_bytes < 0)
		l->held_bytes = 0;
}

/* --- building a record's packs --- */

struct collect {
	struct pack *p;
	size_t n, cap;
	int err;
};

static int collect_one(void *arg, const char *topic, const void *payload, size_t len, int64_t ts)
{
	struct collect *c = arg;

	if (c->n >= PACK_MAX) {
		c->err = -E2BIG;
		return c->err;
	}
	if (c->n == c->cap) {
		size_t ncap = c->cap ? 2 * c->cap : 16;
		struct pack *np = realloc(c->p, ncap * sizeof(*np));
		if (!np)
			return c->err = -ENOMEM;
		c->p = np;
		c->cap = ncap;
	}
	struct pack *p = &c->p[c->n];
	p->topic = strdup(topic);
	p->payload = malloc(len ? len : 1);
	p->len = len;
	p->st = P_UNSENT;
	if (!p->topic || !p->payload) {
		free(p->topic);
		free(p->payload);
		return c->err = -ENOMEM;
	}
	memcpy(p->payload, payload, len);
	c->n++;
	return 0;
}

static int count_one(void *arg, const char *topic, const void *payload, size_t len, int64_t ts)
{
	uint64_t *c = arg;

	c[0]++;
	c[1] += strlen(topic) + len;
	return 0;
}

/* The packs of record @rec into @r (tracked, packs not yet built). */
static int build_rec(struct outbox *ob, struct trec *r, const uint8_t *rec, size_t len)
{
	struct collect c = { 0 };
	int ret = ob->o.packs(ob->o.packs_arg, rec, len, collect_one, &c);

	if (ret < 0 || c.err < 0) {
		struct trec tmp = { .p = c.p, .n = c.n };
		free_packs(&tmp);
		if ((ret < 0 ? ret : c.err) == -ENOMEM)
			return -ENOMEM;
		log_err("outbox: commit log record %lld: its telemetry cannot be rebuilt (%s); skipped",
			(long long)r->id, strerror(-(ret < 0 ? ret : c.err)));
		r->n = r->nacked = 0;
		rec_check_done(r);
		return 0;
	}
	r->p = c.p;
	r->n = r->nunsent = c.n;
	r->nacked = 0;
	rec_check_done(r);
	return 0;
}

/* --- the flush transaction --- */

/* A telemetry cursor is written at most this often (it costs a page per
 * commit otherwise; a SIGKILL with the broker up resends at most this much
 * acknowledged telemetry), and always when stopping or when it was never
 * written. */
#define CURSOR_PERSIST_MS 1000

static int cursor_due(const struct outbox *ob)
{
	return ob->hold || ob->cursor_force || now_us() - ob->cursor_at_us >= CURSOR_PERSIST_MS * 1000LL;
}

static int ob_dirty(void *arg)
{
	struct outbox *ob = arg;

	if (ob->npend || ob->nacks || ob->counts_dirty)
		return 1;
	for (int i = 0; i < ob->nl; i++)
		if ((ob->l[i]->tcur != ob->l[i]->tcur_saved && cursor_due(ob)) || ob->l[i]->pdone != ob->l[i]->pdone_saved)
			return 1;
	return 0;
}

/* Delete row @id; adds its size to the transaction's changes. */
static int delete_row(struct outbox *ob, int64_t id)
{
	int rc;

	sqlite3_reset(ob->del);
	sqlite3_bind_int64(ob->del, 1, id);
	while ((rc = sqlite3_step(ob->del)) == SQLITE_ROW) {
		ob->tx_rows--;
		ob->tx_bytes -= sqlite3_column_int64(ob->del, 0);
	}
	sqlite3_reset(ob->del);
	return rc == SQLITE_DONE ? 0 : db_fail(ob, "delete");
}

static int first_ts(void *arg, int64_t series, int64_t ts, double v, int q)
{
	*(int64_t *)arg = ts;
	return 1;
}

/* Drop the oldest untracked telemetry records of @l (after bnext), at most
 * @max, while over the byte cap or older than the age cap (@force: the
 * store is full, @max whatever the caps). Packs dropped, or negative errno. */
static int drop_oldest(struct outbox *ob, struct link *l, int max, int force)
{
	int64_t cut = ob->o.max_age_ms > 0 ? now_ms() - ob->o.max_age_ms : INT64_MIN;
	int n = 0;

	while (n < max) {
		int64_t id;
		uint8_t *data;
		size_t len;
		int rc;
		int over = ob->o.max_bytes > 0 && l->held_bytes > ob->o.max_bytes;
		if (!over && cut == INT64_MIN && !force)
			break;
		rc = store_log_next(ob->st, l->bnext, &id, &data, &len);
		if (rc <= 0)
			return rc < 0 ? rc : n;
		struct trec *r = find_rec(l, id);
		if (r) {
			/* live, tracked: the walk passes it as usual */
			free(data);
			break;
		}
		int64_t ts = INT64_MAX;
		store_log_walk(data, len, first_ts, &ts);
		if (!over && !force && ts >= cut) {
			free(data);
			break;
		}
		uint64_t c[2] = { 0, 0 };
		if (ob->o.packs)
			ob->o.packs(ob->o.packs_arg, data, len, count_one, c);
		free(data);
		ob->tx_dropped += c[0];
		ob->tx_dropped_bytes += c[1];
		ob->cursor_force = 1;
		l->bnext = id;
		l->held_bytes -= (int64_t)len;
		advance_tcur(l);
		n++;
	}
	return n;
}

/* The store is full and holds no raw samples to give up: drop the oldest
 * telemetry backlog (counted like the caps). */
static int ob_make_room(void *arg)
{
	struct outbox *ob = arg;
	int n = 0;

	for (int i = 0; i < ob->nl; i++) {
		struct link *l = ob->l[i];
		if (!(l->carries & CARRY_TELEMETRY) || l->bnext >= ob->last_log)
			continue;
		int k = drop_oldest(ob, l, 16, 1);
		if (k > 0)
			n += k;
	}
	if (n) {
		log_warn("outbox: the store is full: dropped the %d oldest commits of telemetry backlog (%llu packs)",
			 n, (unsigned long long)ob->tx_dropped);
		ob->s.dropped += ob->tx_dropped;
		ob->s.dropped_bytes += ob->tx_dropped_bytes;
		ob->counts_dirty = 1;
	}
	ob->tx_dropped = ob->tx_dropped_bytes = 0;
	return n;
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

	if (lane != LANE_PRIORITY)
		return -EINVAL;     /* telemetry is the store's commit log */
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

	ob->cursor_tx = 0;
	free_msgs(ob->txm, ob->ntxm);
	ob->ntxm = 0;
	ob->tx_rows = ob->tx_bytes = 0;
	ob->tx_dropped = ob->tx_dropped_bytes = 0;
	ob->nacks_tx = 0;
}

static unsigned lane_links(const struct outbox *ob)
{
	unsigned m = 0;

	for (int i = 0; i < ob->nl; i++)
		if (ob->l[i]->carries & (CARRY_KPI | CARRY_EVENT))
			m |= 1u << i;
	return m;
}

static int ob_in_tx(void *arg)
{
	struct outbox *ob = arg;
	unsigned prio = lane_links(ob);
	int rc;

	/* tx_rows and tx_bytes already count what other hooks inserted */
	for (size_t i = 0; i < ob->npend; i++)
		if (insert_msg(ob, &ob->pend[i]) < 0)
			return -EIO;
	/* a row goes when every link that carries the lane has had it */
	ob->nacks_tx = ob->nacks;
	for (size_t i = 0; i < ob->nacks_tx; i++) {
		int all = 1;
		for (int k = 0; k < ob->nl && all; k++)
			if ((prio & (1u << k)) && !acked_by(ob->l[k], ob->acks[i]))
				all = 0;
		if (all && delete_row(ob, ob->acks[i]) < 0)
			return -EIO;
	}
	if (!ob->stale_checked) {
		/* the cursors of links no longer configured hold nothing back */
		char sql[600] = "DELETE FROM meta WHERE (key LIKE 'outbox_tcur:%' OR key LIKE 'outbox_pdone:%')";
		for (int k = 0; k < ob->nl; k++) {
			size_t n = strlen(sql);
			snprintf(sql + n, sizeof(sql) - n, " AND key NOT IN ('%s', '%s')", ob->l[k]->key_t, ob->l[k]->key_p);
		}
		if (sqlite3_exec(ob->db, sql, NULL, NULL, NULL) != SQLITE_OK)
			return db_fail(ob, "forget old links");
	}
	for (int k = 0; k < ob->nl; k++) {
		struct link *l = ob->l[k];
		if ((l->carries & CARRY_TELEMETRY) && l->bnext < ob->last_log &&
		    (ob->o.max_bytes > 0 || ob->o.max_age_ms > 0) &&
		    (rc = drop_oldest(ob, l, 10000, 0)) < 0)
			return rc;
		l->tcur_tx = l->tcur_saved;
		if (l->tcur != l->tcur_saved && (cursor_due(ob) || l->tcur_saved < 0)) {
			l->tcur_tx = l->tcur;
			ob->cursor_tx = 1;
			if (store_meta_put(ob->st, l->key_t, l->tcur_tx) < 0)
				return -EIO;
		}
		l->pdone_tx = l->pdone;
		if (ob->nl > 1 && l->pdone_tx != l->pdone_saved && store_meta_put(ob->st, l->key_p, l->pdone_tx) < 0)
			return -EIO;
	}
	/* this transaction's checkpoint, if any, may empty the log up to the
	 * cursors it writes */
	if (ob->o.packs) {
		int64_t keep = INT64_MAX;
		for (int k = 0; k < ob->nl; k++)
			if (ob->l[k]->carries & CARRY_TELEMETRY)
				keep = min64(keep, ob->l[k]->tcur_tx);
		store_log_hold(ob->st, keep);
	}
	if ((ob->tx_dropped || ob->counts_dirty) &&
	    (store_meta_put(ob->st, "outbox_dropped", (int64_t)(ob->s.dropped + ob->tx_dropped)) < 0 ||
	     store_meta_put(ob->st, "outbox_dropped_bytes", (int64_t)(ob->s.dropped_bytes + ob->tx_dropped_bytes)) < 0))
		return -EIO;
	return 0;
}

static void hold_log(struct outbox *ob)
{
	int64_t keep = INT64_MAX;

	if (!ob->o.packs)
		return;
	for (int i = 0; i < ob->nl; i++)
		if (ob->l[i]->carries & CARRY_TELEMETRY)
			keep = min64(keep, ob->l[i]->tcur_saved);
	store_log_hold(ob->st, keep);
}

static void offer_live(struct outbox *ob, struct link *l, int64_t id, const uint8_t *rec, size_t len);

static void ob_committed(void *arg)
{
	struct outbox *ob = arg;
	const uint8_t *rec;
	size_t rlen;
	int64_t id = store_log_last(ob->st, &rec, &rlen);

	ob->rows += ob->tx_rows;
	ob->bytes += ob->tx_bytes;
	if (ob->tx_dropped) {
		log_warn("outbox: over its cap (%lld bytes, %lld s): dropped the %llu oldest telemetry packs",
			 (long long)ob->o.max_bytes, (long long)(ob->o.max_age_ms / 1000),
			 (unsigned long long)ob->tx_dropped);
		ob->s.dropped += ob->tx_dropped;
		ob->s.dropped_bytes += ob->tx_dropped_bytes;
	}
	ob->tx_rows = ob->tx_bytes = 0;
	ob->tx_dropped = ob->tx_dropped_bytes = 0;
	ob->counts_dirty = 0;
	for (int k = 0; k < ob->nl; k++) {
		ob->l[k]->tcur_saved = ob->l[k]->tcur_tx;
		ob->l[k]->pdone_saved = ob->l[k]->pdone_tx;
	}
	if (ob->cursor_tx) {
		ob->cursor_at_us = now_us();
		ob->cursor_force = 0;
	}
	ob->cursor_tx = 0;
	hold_log(ob);
	/* acknowledgements that came during the transaction stay for the next */
	if (ob->nacks > ob->nacks_tx)
		memmove(ob->acks, ob->acks + ob->nacks_tx, (ob->nacks - ob->nacks_tx) * sizeof(*ob->acks));
	ob->nacks -= ob->nacks_tx;
	ob->nacks_tx = 0;
	ob->pend_warned = 0;
	ob->stale_checked = 1;
	free_msgs(ob->pend, ob->npend);
	free(ob->pend);
	ob->pend = NULL;
	ob->npend = ob->cap_pend = 0;
	ob->pend_bytes = 0;
	free_msgs(ob->txm, ob->ntxm);
	ob->ntxm = 0;
	/* the commit's telemetry: live, from the record just written */
	if (id > 0 && ob->o.packs) {
		ob->last_log = id;
		for (int k = 0; k < ob->nl; k++) {
			struct link *l = ob->l[k];
			if (!(l->carries & CARRY_TELEMETRY))
				continue;
			l->held_bytes += (int64_t)rlen;
			if (l->up && !ob->hold)
				offer_live(ob, l, id, rec, rlen);
		}
	}
	outbox_pump(ob);
}

/* --- sending --- */

static int offer(struct link *l, int64_t id, const char *topic, const void *payload, size_t len)
{
	struct flight *f;

	if ((size_t)l->window <= l->nfl || l->send(l->send_arg, id, topic, payload, len) < 0)
		return -EAGAIN;
	f = &l->fl[l->nfl++];
	f->id = id;
	f->sent_us = now_us();
	l->sent++;
	return 0;
}

static void offer_packs(struct link *l, struct trec *r, size_t room, double *tokens)
{
	for (size_t i = 0; r->p && i < r->n && r->nunsent && l->nfl < room && (!tokens || *tokens >= 1); i++) {
		struct pack *p = &r->p[i];
		if (p->st != P_UNSENT)
			continue;
		if (offer(l, pack_id(r->id, i), p->topic, p->payload, p->len) < 0)
			break;
		p->st = P_FLIGHT;
		r->nunsent--;
		if (tokens)
			*tokens -= 1;
	}
}

#define LIVE_PENDING_MAX 32

/* Live records with packs not sent yet. */
static int live_pending(const struct link *l)
{
	int n = 0;

	for (size_t i = 0; i < l->ntr; i++)
		n += l->tr[i].live && l->tr[i].nunsent > 0 && l->tr[i].p;
	return n;
}

/* Live packs a call at most: the rest go at the next turn of the loop
 * (opts.kick), poll timers in between */
#define LIVE_BURST 100

static size_t burst_room(const struct link *l)
{
	size_t room = l->nfl + LIVE_BURST;

	return room < (size_t)l->window ? room : (size_t)l->window;
}

/* The rest of live records that did not fit the window or the burst, in
 * order, not rate-limited (they are live, not backlog). */
static void live_rest(struct link *l)
{
	size_t room = burst_room(l);

	for (size_t i = 0; i < l->ntr && l->nfl < room; i++) {
		struct trec *r = &l->tr[i];
		if (!r->live || !r->nunsent || !r->p)
			continue;
		offer_packs(l, r, room, NULL);
		if (r->nunsent)
			break;
	}
}

/* Live packs wait and the window has room: pump again soon. */
static void maybe_kick(struct outbox *ob)
{
	if (!ob->o.kick)
		return;
	for (int k = 0; k < ob->nl; k++) {
		struct link *l = ob->l[k];
		if (l->up && !ob->hold && l->nfl < (size_t)l->window && live_pending(l)) {
			ob->o.kick(ob->o.kick_arg);
			return;
		}
	}
}

/* Record @id was just committed and @l is up: its packs go now, from memory. */
static void offer_live(struct outbox *ob, struct link *l, int64_t id, const uint8_t *rec, size_t len)
{
	struct trec *r;

	/* the window is full: the backlog walk will read it from the store */
	if (l->nfl >= (size_t)l->window)
		return;
	if (!(r = add_rec(l, id, (int64_t)len)))
		return;
	r->live = 1;
	if (build_rec(ob, r, rec, len) < 0) {
		/* no memory: forget it, the walk reads it again */
		l->ntr--;
		memmove(r, r + 1, (size_t)(l->tr + l->ntr - r) * sizeof(*r));
		return;
	}
	/* the rest of a record that does not fit the window goes as the
	 * window frees (live_rest); while the broker is slower than the polls,
	 * at most LIVE_PENDING_MAX records wait in memory, later ones are
	 * left to the backlog walk */
	if (r->n && live_pending(l) >= LIVE_PENDING_MAX) {
		free_packs(r);
		l->ntr--;
		memmove(r, r + 1, (size_t)(l->tr + l->ntr - r) * sizeof(*r));
		return;
	}
	/* in order: the older live records first, then this one (tracked
	 * now), a burst in all; what is left goes on the pumps that follow */
	size_t room = burst_room(l);
	live_rest(l);
	if (r->n && r->nunsent == r->n && l->nfl < room && live_pending(l) == 1) {
		/* nothing went, with room left (the link refused): untrack it,
		 * the walk reads it later */
		free_packs(r);
		l->ntr--;
		memmove(r, r + 1, (size_t)(l->tr + l->ntr - r) * sizeof(*r));
	}
	advance_tcur(l);
}

static void mark_acked(struct outbox *ob, struct link *l, int64_t id);

/* Walk the priority rows from @l's cursor, sending while @room allows. */
static int walk_prio(struct outbox *ob, struct link *l, size_t room)
{
	int sent = 0, more = 1;

	while (more && l->up && l->nfl < room) {
		int rc, rows = 0;
		more = 0;
		sqlite3_reset(ob->scan);
		sqlite3_bind_int64(ob->scan, 1, l->pcur);
		while ((rc = sqlite3_step(ob->scan)) == SQLITE_ROW) {
			int64_t id = sqlite3_column_int64(ob->scan, 0);
			rows++;
			if (in_flight(l, id) || acked_by(l, id)) {
				l->pcur = id;
				continue;
			}
			const char *topic = (const char *)sqlite3_column_text(ob->scan, 1);
			if (topic && ob->o.kind && !(ob->o.kind(ob->o.kind_arg, topic) & l->carries)) {
				/* not for this link: done as far as it is concerned */
				l->pcur = id;
				mark_acked(ob, l, id);
				continue;
			}
			if (l->nfl >= room)
				break;
			const void *payload = sqlite3_column_blob(ob->scan, 2);
			int len = sqlite3_column_bytes(ob->scan, 2);
			if (!topic || offer(l, id, topic, payload, (size_t)len) < 0)
				break;
			l->pcur = id;
			sent++;
		}
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			db_fail(ob, "read backlog");
		more = rc == SQLITE_ROW || rows == 64;
		sqlite3_reset(ob->scan);
		if (rc == SQLITE_ROW)
			break;          /* stopped for room or the link */
	}
	update_pdone(l);
	return sent;
}

/* The telemetry backlog of @l, in record order: first what is tracked up
 * to bnext and not sent, then the records after bnext, read from the store. */
static void walk_tele(struct outbox *ob, struct link *l, size_t room, double *tokens)
{
	for (;;) {
		int pending = 0;
		for (size_t i = 0; i < l->ntr && l->tr[i].id <= l->bnext; i++) {
			struct trec *r = &l->tr[i];
			if (!r->nunsent || !r->p || r->live)
				continue;
			offer_packs(l, r, room, tokens);
			if (r->nunsent) {
				pending = 1;
				break;
			}
		}
		if (pending || l->nfl >= room || *tokens < 1 || l->bnext >= ob->last_log)
			break;
		/* the next record: tracked (live) or from the store */
		struct trec *r = find_rec(l, l->bnext + 1);
		if (r) {
			l->bnext = r->id;
			advance_tcur(l);
			continue;
		}
		int64_t id;
		uint8_t *data;
		size_t len;
		int rc = store_log_next(ob->st, l->bnext, &id, &data, &len);
		if (rc <= 0) {
			if (rc == 0)
				l->bnext = ob->last_log;    /* nothing more stored */
			advance_tcur(l);
			break;
		}
		if ((r = find_rec(l, id))) {
			free(data);
			l->bnext = id;
			advance_tcur(l);
			continue;
		}
		r = add_rec(l, id, (int64_t)len);
		if (!r || build_rec(ob, r, data, len) < 0) {
			if (r) {
				l->ntr--;
				memmove(r, r + 1, (size_t)(l->tr + l->ntr - r) * sizeof(*r));
			}
			free(data);
			break;
		}
		free(data);
		l->bnext = id;
		advance_tcur(l);
	}
}

static void resend_later(struct link *l, int64_t id)
{
	if (id > 0) {
		if (l->pcur >= id)
			l->pcur = id - 1;
		return;
	}
	int64_t v = -id - 1;
	struct trec *r = find_rec(l, v >> PACK_BITS);
	size_t idx = (size_t)(v & PACK_MAX);
	if (r && r->p && idx < r->n && r->p[idx].st == P_FLIGHT) {
		r->p[idx].st = P_UNSENT;
		r->nunsent++;
	}
}

static void drop_flight(struct link *l, size_t i)
{
	l->fl[i] = l->fl[--l->nfl];
}

static void pump_link(struct outbox *ob, struct link *l)
{
	size_t window = (size_t)l->window;
	int64_t t = now_us();

	if (!l->up || ob->hold)
		return;
	/* in flight too long after the link came back: presumed lost */
	if (ob->o.ack_timeout_ms > 0 && t - l->up_since_us > ob->o.ack_timeout_ms * 1000) {
		for (size_t i = 0; i < l->nfl;) {
			if (t - l->fl[i].sent_us > ob->o.ack_timeout_ms * 1000) {
				resend_later(l, l->fl[i].id);
				l->resent++;
				ob->s.resent++;
				drop_flight(l, i);
			} else {
				i++;
			}
		}
	}
	/* KPIs and events first, strictly in order, not rate-limited */
	if (l->carries & (CARRY_KPI | CARRY_EVENT))
		walk_prio(ob, l, window);
	/* live telemetry went at the commit; the backlog, in order, at the
	 * backfill rate and in half the window so that live packs always
	 * find room */
	if (!(l->carries & CARRY_TELEMETRY) || !ob->o.packs)
		return;
	live_rest(l);
	l->tokens += (double)(t - l->tokens_us) * ob->o.backfill_per_s / 1e6;
	l->tokens_us = t;
	if (l->tokens > ob->o.backfill_per_s)
		l->tokens = ob->o.backfill_per_s;
	walk_tele(ob, l, window / 2 ? window / 2 : 1, &l->tokens);
}

void outbox_pump(struct outbox *ob)
{
	for (int i = 0; i < ob->nl; i++)
		pump_link(ob, ob->l[i]);
	maybe_kick(ob);
}

static void note_ack(struct outbox *ob, int64_t id)
{
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

/* Priority row @id is done for @l (acknowledged, or not for this link). */
static void mark_acked(struct outbox *ob, struct link *l, int64_t id)
{
	if (l->npacked == l->cap_packed) {
		size_t ncap = l->cap_packed ? 2 * l->cap_packed : 64;
		int64_t *np = realloc(l->packed, ncap * sizeof(*np));
		if (np) {
			l->packed = np;
			l->cap_packed = ncap;
		}
	}
	if (l->npacked < l->cap_packed && id > l->pdone)
		l->packed[l->npacked++] = id;
	note_ack(ob, id);
}

void outbox_acked(struct outbox *ob, int link, int64_t id, int ok)
{
	struct link *l;
	int found = 0;

	if (link < 0 || link >= ob->nl)
		return;
	l = ob->l[link];
	for (size_t i = 0; i < l->nfl; i++) {
		if (l->fl[i].id != id)
			continue;
		if (!ok)
			resend_later(l, id);
		drop_flight(l, i);
		found = 1;
		break;
	}
	if (!ok) {
		l->failed++;
		ob->s.failed++;
		return;
	}
	l->acked++;
	ob->s.acked++;
	if (id > 0) {
		mark_acked(ob, l, id);
		update_pdone(l);
		return;
	}
	int64_t v = -id - 1;
	struct trec *r = find_rec(l, v >> PACK_BITS);
	size_t idx = (size_t)(v & PACK_MAX);
	if (!r || !r->p || idx >= r->n || r->p[idx].st == P_ACKED)
		return;
	if (r->p[idx].st == P_UNSENT)
		r->nunsent--;   /* given up on, then acknowledged after all */
	(void)found;
	r->p[idx].st = P_ACKED;
	r->nacked++;
	rec_check_done(r);
	advance_tcur(l);
}

void outbox_link_up(struct outbox *ob, int link, int session_present)
{
	struct link *l;

	if (link < 0 || link >= ob->nl)
		return;
	l = ob->l[link];
	l->up = 1;
	l->up_since_us = now_us();
	l->tokens_us = l->up_since_us;
	l->tokens = ob->o.backfill_per_s / 10.0;   /* a tenth of a second's worth to start */
	if (!session_present) {
		/* the broker forgot what was in flight: send it all again */
		for (size_t i = 0; i < l->nfl; i++)
			resend_later(l, l->fl[i].id);
		l->nfl = 0;
		l->pcur = l->pdone;
	}
	outbox_pump(ob);
}

void outbox_hold(struct outbox *ob)
{
	ob->hold = 1;
}

void outbox_link_down(struct outbox *ob, int link)
{
	if (link >= 0 && link < ob->nl)
		ob->l[link]->up = 0;
}

int outbox_add(struct outbox *ob, enum outbox_lane lane, const char *topic, const void *payload,
	       size_t len, int64_t ts_ms)
{
	struct msg *m;

	if (lane != LANE_PRIORITY)
		return -EINVAL;     /* telemetry is the store's commit log */
	/* commits fail (the disk): KPIs and events wait in memory, never dropped */
	if (ob->pend_bytes + (int64_t)len > OUTBOX_PEND_MAX_BYTES && !ob->pend_warned) {
		log_warn("outbox: %lld bytes of KPIs and events wait for the store", (long long)ob->pend_bytes);
		ob->pend_warned = 1;
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

static int64_t link_backlog_oldest(const struct outbox *ob, const struct link *l)
{
	int64_t id, ts = 0;
	uint8_t *data;
	size_t len;

	if (l->tcur >= ob->last_log || store_log_next(ob->st, l->tcur, &id, &data, &len) <= 0)
		return 0;
	store_log_walk(data, len, first_ts, &ts);
	free(data);
	return ts;
}

void outbox_get_stats(const struct outbox *ob, struct outbox_stats *st)
{
	*st = ob->s;
	st->rows = ob->rows;
	st->bytes = ob->bytes;
	st->inflight = 0;
	st->sent = 0;
	st->tele_records = st->tele_bytes = 0;
	const struct link *slow = NULL;
	for (int i = 0; i < ob->nl; i++) {
		const struct link *l = ob->l[i];
		st->inflight += (int64_t)l->nfl;
		st->sent += l->sent;
		if ((l->carries & CARRY_TELEMETRY) && ob->o.packs && (!slow || l->tcur < slow->tcur))
			slow = l;
	}
	if (slow) {
		st->tele_records = ob->last_log > slow->tcur ? ob->last_log - slow->tcur : 0;
		st->tele_bytes = slow->held_bytes;
		st->bytes += slow->held_bytes;
	}
	st->oldest_ms = 0;
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(ob->db, "SELECT min(ts) FROM (SELECT ts FROM outbox ORDER BY id LIMIT 1)",
			       -1, &q, NULL) == SQLITE_OK) {
		if (sqlite3_step(q) == SQLITE_ROW)
			st->oldest_ms = sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
	}
	if (slow) {
		int64_t t = link_backlog_oldest(ob, slow);
		if (t && (!st->oldest_ms || t < st->oldest_ms))
			st->oldest_ms = t;
	}
}

int outbox_link_get_stats(const struct outbox *ob, int link, struct outbox_link_stats *st)
{
	const struct link *l;

	memset(st, 0, sizeof(*st));
	if (link < 0 || link >= ob->nl)
		return -ENOENT;
	l = ob->l[link];
	st->name = l->name;
	st->up = l->up;
	st->inflight = (int64_t)l->nfl;
	st->sent = l->sent;
	st->acked = l->acked;
	st->failed = l->failed;
	st->resent = l->resent;
	if (l->carries & (CARRY_KPI | CARRY_EVENT)) {
		sqlite3_stmt *q;
		if (sqlite3_prepare_v2(ob->db, "SELECT count(*) FROM outbox WHERE id > ?", -1, &q, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(q, 1, l->pdone);
			if (sqlite3_step(q) == SQLITE_ROW)
				st->prio_backlog = sqlite3_column_int64(q, 0) - (int64_t)l->npacked;
			sqlite3_finalize(q);
		}
	}
	if ((l->carries & CARRY_TELEMETRY) && ob->o.packs) {
		st->tele_cursor = l->tcur;
		st->tele_lag = ob->last_log > l->tcur ? ob->last_log - l->tcur : 0;
		st->tele_bytes = l->held_bytes;
	}
	return 0;
}

int outbox_nlinks(const struct outbox *ob)
{
	return ob->nl;
}

static int prep(struct outbox *ob, sqlite3_stmt **st, const char *sql)
{
	if (sqlite3_prepare_v3(ob->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
		return db_fail(ob, "prepare");
	return 0;
}

static int valid_name(const char *s)
{
	if (!s || !*s || strlen(s) > 32)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return 0;
	return 1;
}

int outbox_link_add(struct outbox *ob, const struct outbox_link_opts *lo)
{
	struct link *l;

	if (ob->nl >= MAX_LINKS)
		return -ENOSPC;
	if (!valid_name(lo->name) || !lo->send)
		return -EINVAL;
	for (int i = 0; i < ob->nl; i++)
		if (!strcmp(ob->l[i]->name, lo->name))
			return -EEXIST;
	if (!(l = calloc(1, sizeof(*l))))
		return -ENOMEM;
	snprintf(l->name, sizeof(l->name), "%s", lo->name);
	snprintf(l->key_t, sizeof(l->key_t), "outbox_tcur:%s", lo->name);
	snprintf(l->key_p, sizeof(l->key_p), "outbox_pdone:%s", lo->name);
	l->send = lo->send;
	l->send_arg = lo->send_arg;
	l->carries = lo->carries ? lo->carries & CARRY_ALL : CARRY_ALL;
	l->window = lo->window < 1 ? 1 : lo->window;
	l->fl = calloc((size_t)l->window, sizeof(*l->fl));
	if (!l->fl) {
		free(l);
		return -ENOMEM;
	}
	/* a link without a cursor (new, or the database is from before the
	 * commit log was the outbox, when telemetry went through the outbox
	 * table) starts at what is stored now: it owes nothing from before */
	int64_t recs = 0, bytes = 0, last = 0;
	int64_t saved = store_meta_get(ob->st, l->key_t, -1);
	store_log_held(ob->st, saved < 0 ? 0 : saved, &recs, &bytes, &last);
	if (last > ob->last_log)
		ob->last_log = last;
	if (saved < 0) {
		l->tcur = last;
		l->tcur_saved = -1;     /* written by the next flush */
	} else {
		l->tcur = saved;
		l->tcur_saved = saved;
		l->held_bytes = bytes;
	}
	l->tcur_tx = l->tcur_saved;
	l->bnext = l->tcur;
	l->pdone = store_meta_get(ob->st, l->key_p, 0);
	l->pdone_saved = l->pdone_tx = l->pdone;
	l->pcur = l->pdone;
	ob->l[ob->nl++] = l;
	if ((l->carries & CARRY_TELEMETRY) && ob->o.packs && ob->last_log > l->tcur)
		log_info("outbox: telemetry of %lld commits (%lld bytes) from before is owed to the %s link",
			 (long long)(ob->last_log - l->tcur), (long long)l->held_bytes,
			 strcmp(l->name, "ioc") ? l->name : "IOC");
	hold_log(ob);
	return ob->nl - 1;
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
	/* old telemetry rows (before the commit log was the outbox) are sent
	 * with the priority rows, in order */
	if ((ret = prep(ob, &ob->ins, "INSERT INTO outbox (lane, topic, payload, ts) VALUES (?,?,?,?)")) ||
	    (ret = prep(ob, &ob->del, "DELETE FROM outbox WHERE id = ? RETURNING length(topic) + length(payload)")) ||
	    (ret = prep(ob, &ob->scan, "SELECT id, topic, payload FROM outbox WHERE id > ? ORDER BY id LIMIT 64"))) {
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
	if ((ret = outbox_link_add(ob, &(struct outbox_link_opts){ .name = "ioc", .window = o->window,
			.carries = CARRY_ALL, .send = o->send, .send_arg = o->send_arg })) < 0) {
		outbox_free(ob);
		return ret;
	}
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
	free_msgs(ob->pend, ob->npend);
	free(ob->pend);
	free_msgs(ob->txm, ob->ntxm);
	free(ob->txm);
	free(ob->acks);
	for (int i = 0; i < ob->nl; i++) {
		struct link *l = ob->l[i];
		for (size_t k = 0; k < l->ntr; k++)
			free_packs(&l->tr[k]);
		free(l->tr);
		free(l->packed);
		free(l->fl);
		free(l);
	}
	free(ob);
}
