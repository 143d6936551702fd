/* The outbox on a real store with fake links: commit before send, priority
 * lane first and in order, rows deleted once every link acknowledged them;
 * telemetry built from the commit log (one pack per sample here), live and
 * after a restart, per link cursors in meta, resend on failure and on a
 * lost session, caps that drop the oldest telemetry and never KPIs. */
#include <errno.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sys/wait.h>
#include <unistd.h>

#include "outbox.h"
#include "store.h"

#define MAXS 4096
struct fake {
	int64_t id[MAXS];
	char topic[MAXS][32];
	char payload[MAXS][48];
	int n, refuse;
};
static struct fake L[2];
static char dir[64], path[128];

static int fake_send(void *arg, int64_t id, const char *topic, const void *payload, size_t len)
{
	struct fake *f = arg;

	if (f->refuse || f->n >= MAXS)
		return -ENOTCONN;
	f->id[f->n] = id;
	snprintf(f->topic[f->n], sizeof(f->topic[0]), "%s", topic);
	snprintf(f->payload[f->n], sizeof(f->payload[0]), "%.*s", (int)len, (const char *)payload);
	f->n++;
	return 0;
}

/* One pack per sample: topic t/<series>, payload "<ts> <value>". */
struct pw { outbox_emit_fn emit; void *arg; };
static int pack_one(void *arg, int64_t series, int64_t ts, double v, int q)
{
	struct pw *w = arg;
	char t[32], p[48];

	snprintf(t, sizeof(t), "t/%lld", (long long)series);
	int n = snprintf(p, sizeof(p), "%lld %g", (long long)ts, v);
	return w->emit(w->arg, t, p, (size_t)n, ts);
}

static int fake_packs(void *arg, const uint8_t *rec, size_t len, outbox_emit_fn emit, void *emit_arg)
{
	struct pw w = { emit, emit_arg };
	int ret = store_log_walk(rec, len, pack_one, &w);

	return ret > 0 ? -ret : ret;
}

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/wardgw-outbox.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/t.db", dir);
	memset(L, 0, sizeof(L));
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int64_t sql_int(struct store *st, const char *sql)
{
	sqlite3_stmt *q;
	int64_t n = -1;

	assert_int_equal(sqlite3_prepare_v2(store_db(st), sql, -1, &q, NULL), SQLITE_OK);
	if (sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return n;
}

static struct outbox *open_ob(struct store **st, int window, int64_t max_bytes, int two)
{
	struct outbox *ob;

	assert_int_equal(store_open(st, path), 0);
	assert_int_equal(outbox_new(&ob, *st, &(struct outbox_opts){
		.window = window, .backfill_per_s = 1000000, .max_bytes = max_bytes,
		.max_age_ms = 0, .ack_timeout_ms = 0, .send = fake_send, .send_arg = &L[0],
		.packs = fake_packs }), 0);
	if (two)
		assert_int_equal(outbox_link_add(ob, &(struct outbox_link_opts){ .name = "province", .window = window,
			.carries = CARRY_KPI | CARRY_TELEMETRY, .send = fake_send, .send_arg = &L[1] }), 1);
	return ob;
}

static void close_ob(struct store *st, struct outbox *ob)
{
	outbox_hold(ob);                          /* stopping, as the gateway does: cursors written */
	store_flush(st);
	store_clear_hooks(st);
	outbox_free(ob);
	store_close(st);
}

static void kpi(struct outbox *ob, int i)
{
	char p[32];
	int n = snprintf(p, sizeof(p), "kpi %d", i);

	assert_int_equal(outbox_add(ob, LANE_PRIORITY, "k/x", p, (size_t)n, 1000 + i), 0);
}

/* @n samples of series 1 from time @t0, one commit */
static void samples(struct store *st, int64_t t0, int n)
{
	for (int i = 0; i < n; i++)
		assert_int_equal(store_append(st, 1, t0 + i, (double)(t0 + i), 0), 0);
	assert_int_equal(store_flush(st), 0);
}

static void ack_all(struct outbox *ob, int link, int from)
{
	for (int i = from; i < L[link].n; i++)
		outbox_acked(ob, link, L[link].id[i], 1);
}

/* The telemetry payloads link @k got, in order, are t0..t0+n-1, once each. */
static void assert_tele(int k, int64_t t0, int n)
{
	int64_t want = t0;

	for (int i = 0; i < L[k].n; i++) {
		if (L[k].id[i] > 0)
			continue;
		long long ts;
		assert_int_equal(sscanf(L[k].payload[i], "%lld", &ts), 1);
		assert_int_equal(ts, want);
		want++;
	}
	assert_int_equal(want, t0 + n);
}

static void test_commit_then_send_in_order(void **state)
{
	struct store *st;
	struct outbox *ob = open_ob(&st, 100, 1 << 20, 0);

	outbox_link_up(ob, 0, 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(store_append(st, 1, 2000 + i, 2000 + i, 0), 0);
	kpi(ob, 99);
	assert_int_equal(L[0].n, 0);              /* nothing leaves before the commit */
	assert_int_equal(outbox_add(ob, LANE_TELEMETRY, "t/a", "x", 1, 1), -EINVAL);
	assert_int_equal(store_flush(st), 0);
	assert_int_equal(L[0].n, 6);
	/* live telemetry goes at the commit, the KPI with the pump right after */
	assert_tele(0, 2000, 5);
	int kpis = 0;
	for (int i = 0; i < 6; i++)
		kpis += !strcmp(L[0].topic[i], "k/x");
	assert_int_equal(kpis, 1);
	assert_string_equal(L[0].payload[0], "2000 2000");
	/* no telemetry row: the outbox table holds the KPI only */
	assert_int_equal(sql_int(st, "SELECT count(*) FROM outbox"), 1);
	ack_all(ob, 0, 0);
	assert_int_equal(store_flush(st), 0);
	assert_int_equal(sql_int(st, "SELECT count(*) FROM outbox"), 0);
	/* the cursor is written at most once a second, and when stopping */
	assert_true(sql_int(st, "SELECT value FROM meta WHERE key = 'outbox_tcur:ioc'") <
		    sql_int(st, "SELECT max(id) FROM headlog"));
	outbox_hold(ob);
	assert_int_equal(store_flush(st), 0);
	/* the cursor: the record is acknowledged */
	assert_int_equal(sql_int(st, "SELECT value FROM meta WHERE key = 'outbox_tcur:ioc'"),
			 sql_int(st, "SELECT max(id) FROM headlog"));
	struct outbox_link_stats ls;
	assert_int_equal(outbox_link_get_stats(ob, 0, &ls), 0);
	assert_string_equal(ls.name, "ioc");
	assert_int_equal(ls.tele_lag, 0);
	assert_int_equal(ls.acked, 6);
	close_ob(st, ob);
}

/* A commit of many packs goes a burst at a time: the outbox asks for a
 * pump (kick) while live packs wait and the window has room, the rest go
 * on those pumps, in order, once each; a commit that comes meanwhile
 * waits behind the older record. */
static int kicks;
static void count_kick(void *arg)
{
	(void)arg;
	kicks++;
}

static void test_live_in_bursts(void **state)
{
	struct store *st;
	struct outbox *ob;

	assert_int_equal(store_open(&st, path), 0);
	assert_int_equal(outbox_new(&ob, st, &(struct outbox_opts){
		.window = 2000, .backfill_per_s = 1000000, .max_bytes = 1 << 24,
		.send = fake_send, .send_arg = &L[0], .packs = fake_packs,
		.kick = count_kick }), 0);
	outbox_link_up(ob, 0, 0);
	kicks = 0;
	samples(st, 10000, 1000);
	assert_true(L[0].n >= 100 && L[0].n <= 200);     /* a burst or two, not all */
	assert_true(kicks >= 1);
	int pumps = 0;
	samples(st, 11000, 50);                           /* waits behind the first */
	while (kicks && pumps < 100) {
		kicks = 0;
		int before = L[0].n;
		outbox_pump(ob);
		pumps++;
		assert_true(L[0].n - before <= 200);
	}
	assert_int_equal(kicks, 0);
	assert_true(pumps >= 4);
	assert_int_equal(L[0].n, 1050);
	assert_tele(0, 10000, 1050);
	ack_all(ob, 0, 0);
	outbox_pump(ob);
	assert_int_equal(kicks, 0);                       /* nothing waits: no kick */
	close_ob(st, ob);
}

static void test_failure_and_lost_session_resend(void **state)
{
	struct store *st;
	struct outbox *ob = open_ob(&st, 100, 1 << 20, 0);

	outbox_link_up(ob, 0, 1);
	samples(st, 3000, 4);
	assert_int_equal(L[0].n, 4);
	int64_t second = L[0].id[1];
	outbox_acked(ob, 0, L[0].id[0], 1);
	outbox_acked(ob, 0, second, 0);          /* the link gave it up */
	outbox_pump(ob);
	assert_int_equal(L[0].n, 5);
	assert_true(L[0].id[4] == second);       /* offered again, only it */
	/* the broker lost the session: everything unacknowledged goes again, in order */
	outbox_link_down(ob, 0);
	outbox_link_up(ob, 0, 0);
	assert_int_equal(L[0].n, 8);
	assert_true(L[0].id[5] == second);
	assert_string_equal(L[0].payload[6], "3002 3002");
	assert_string_equal(L[0].payload[7], "3003 3003");
	close_ob(st, ob);
}

/* A commit with more packs than the window: the rest goes live as the
 * window frees, not at the backlog's rate. */
static void test_live_record_larger_than_window(void **state)
{
	struct store *st;
	struct outbox *ob;

	assert_int_equal(store_open(&st, path), 0);
	assert_int_equal(outbox_new(&ob, st, &(struct outbox_opts){
		.window = 3, .backfill_per_s = 1, .max_bytes = 1 << 20, .send = fake_send, .send_arg = &L[0],
		.packs = fake_packs }), 0);
	outbox_link_up(ob, 0, 1);
	samples(st, 4000, 10);
	assert_int_equal(L[0].n, 3);
	for (int round = 0; round < 5 && L[0].n < 10; round++) {
		ack_all(ob, 0, 0);
		outbox_pump(ob);
	}
	assert_int_equal(L[0].n, 10);
	assert_tele(0, 4000, 10);
	ack_all(ob, 0, 0);
	struct outbox_link_stats ls;
	outbox_link_get_stats(ob, 0, &ls);
	assert_int_equal(ls.tele_lag, 0);
	close_ob(st, ob);
}

/* The broker is away for many commits, checkpoints happen, the gateway
 * stops (and, the second time, is killed: no clean close); after the
 * restart the backlog is rebuilt from the commit log, in order, complete. */
static void test_backlog_survives_reopen(void **state)
{
	struct store *st;
	struct outbox *ob = open_ob(&st, 100, 1 << 30, 0);

	outbox_link_up(ob, 0, 0);
	samples(st, 10000, 3);                    /* live, acknowledged */
	ack_all(ob, 0, 0);
	assert_int_equal(store_flush(st), 0);
	outbox_link_down(ob, 0);
	L[0].refuse = 1;
	for (int c = 0; c < 40; c++)              /* 40 commits of 50 */
		samples(st, 10003 + c * 50, 50);
	close_ob(st, ob);                         /* a clean stop checkpoints */
	L[0].refuse = 0;
	L[0].n = 0;
	ob = open_ob(&st, 3, 1 << 30, 0);         /* window of 3 */
	assert_int_equal(sql_int(st, "SELECT count(*) FROM outbox"), 0);
	struct outbox_stats os;
	outbox_get_stats(ob, &os);
	assert_int_equal(os.tele_records, 40);
	assert_int_equal(os.oldest_ms, 10003);
	outbox_link_up(ob, 0, 0);
	assert_true(L[0].n >= 1 && L[0].n <= 3);
	while (L[0].n < 2000) {
		int before = L[0].n;
		ack_all(ob, 0, 0);
		outbox_pump(ob);
		assert_true(L[0].n > before);
	}
	assert_tele(0, 10003, 2000);
	close_ob(st, ob);
}

static int64_t sql_db(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	int64_t n = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
	if (sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return n;
}

/* SIGKILL with a backlog: a child process stores commits while its link is
 * down and dies without closing; the records survive the next open's
 * checkpoint and the restarted outbox sends them all. */
static void test_backlog_survives_crash(void **state)
{
	struct store *st;
	struct outbox *ob;
	pid_t pid = fork();

	if (pid == 0) {
		ob = open_ob(&st, 100, 1 << 30, 0);
		outbox_link_up(ob, 0, 0);
		samples(st, 500, 2);
		ack_all(ob, 0, 0);
		usleep(1100 * 1000);              /* past the cursor's write interval */
		store_flush(st);
		outbox_link_down(ob, 0);
		for (int c = 0; c < 30; c++)
			samples(st, 502 + c * 10, 10);
		_exit(0);                         /* no close, no checkpoint */
	}
	int status;
	assert_true(waitpid(pid, &status, 0) == pid && WIFEXITED(status));
	assert_int_equal(sql_db("SELECT value FROM meta WHERE key = 'outbox_tcur:ioc'"), 1);
	ob = open_ob(&st, 50, 1 << 30, 0);
	outbox_link_up(ob, 0, 0);
	while (L[0].n < 300) {
		int before = L[0].n;
		ack_all(ob, 0, 0);
		outbox_pump(ob);
		assert_true(L[0].n > before);
	}
	assert_tele(0, 502, 300);
	ack_all(ob, 0, 0);
	close_ob(st, ob);
	/* all acknowledged: the log is emptied but for its newest record */
	assert_int_equal(sql_db("SELECT count(*) FROM headlog"), 1);
}

static void test_caps_drop_oldest_telemetry_never_kpis(void **state)
{
	struct store *st;
	struct outbox *ob = open_ob(&st, 100, 2000, 0);
	struct outbox_stats s;

	L[0].refuse = 1;
	for (int i = 0; i < 5; i++)
		kpi(ob, i);
	for (int c = 0; c < 30; c++)
		samples(st, 100000 + c * 20, 20);
	outbox_get_stats(ob, &s);
	assert_int_equal(sql_int(st, "SELECT count(*) FROM outbox"), 5);
	assert_true(s.tele_bytes <= 2000 + 200);     /* checked before each commit: one record over at most */
	assert_true(s.dropped >= 20 * 10);
	assert_int_equal(s.dropped % 20, 0);      /* whole commits */
	uint64_t dropped = s.dropped;
	close_ob(st, ob);
	/* the count survives a restart; what is left is the newest, in order */
	L[0].refuse = 0;
	ob = open_ob(&st, 1000, 2000, 0);
	outbox_get_stats(ob, &s);
	assert_true(s.dropped >= dropped && s.dropped <= dropped + 20);   /* the stopping flush may drop one more commit */
	dropped = s.dropped;
	outbox_link_up(ob, 0, 0);
	int kpis = 0;
	for (int i = 0; i < L[0].n; i++)
		kpis += L[0].id[i] > 0;
	assert_int_equal(kpis, 5);
	assert_tele(0, 100000 + (int64_t)dropped, 600 - (int)dropped);
	close_ob(st, ob);
}

/* The store is full and has no raw samples to give up: the outbox gives
 * its oldest telemetry backlog (counted), never KPIs. */
static void test_full_store_takes_telemetry_not_kpis(void **state)
{
	struct store *st;
	struct outbox *ob = open_ob(&st, 100, 1 << 30, 0);
	struct outbox_stats s;

	L[0].refuse = 1;
	for (int i = 0; i < 3; i++)
		kpi(ob, i);
	for (int c = 0; c < 20; c++)
		samples(st, 7000 + c * 10, 10);
	int n = store_make_room(st, 0);                   /* no closed chunks: the outbox gives */
	assert_true(n > 0);
	outbox_get_stats(ob, &s);
	assert_int_equal((int)s.dropped, 10 * n);
	assert_int_equal(sql_int(st, "SELECT count(*) FROM outbox"), 3);
	while ((n = store_make_room(st, 0)) > 0)
		;
	assert_int_equal(n, 0);                           /* KPIs never */
	outbox_get_stats(ob, &s);
	assert_int_equal(s.tele_records, 0);
	assert_int_equal((int)s.dropped, 200);
	assert_int_equal(sql_int(st, "SELECT count(*) FROM outbox"), 3);
	close_ob(st, ob);
}

/* Two links: the second is away; the first gets everything at once, the
 * KPI rows stay until the second has them too, and the second gets its
 * backlog in order when it returns, after a restart on the way. */
static void test_two_links_own_cursors(void **state)
{
	struct store *st;
	struct outbox *ob = open_ob(&st, 100, 1 << 30, 1);

	outbox_link_up(ob, 0, 0);
	L[1].refuse = 1;
	for (int c = 0; c < 10; c++) {
		kpi(ob, c);
		samples(st, 20000 + c * 5, 5);
		ack_all(ob, 0, 0);
	}
	assert_int_equal(store_flush(st), 0);
	assert_tele(0, 20000, 50);
	assert_int_equal(L[1].n, 0);
	assert_int_equal(sql_int(st, "SELECT count(*) FROM outbox"), 10);   /* the province owes them */
	struct outbox_link_stats a, b;
	outbox_link_get_stats(ob, 0, &a);
	outbox_link_get_stats(ob, 1, &b);
	assert_int_equal(a.tele_lag, 0);
	assert_int_equal(a.prio_backlog, 0);
	assert_int_equal(b.tele_lag, 10);
	assert_int_equal(b.prio_backlog, 10);
	assert_string_equal(b.name, "province");
	close_ob(st, ob);
	L[1].refuse = 0;
	L[0].n = 0;
	ob = open_ob(&st, 100, 1 << 30, 1);
	outbox_link_up(ob, 0, 1);
	assert_int_equal(L[0].n, 0);              /* the ward link had everything */
	outbox_link_up(ob, 1, 0);
	for (int i = 0; i < 20 && L[1].n < 60; i++) {
		ack_all(ob, 1, 0);
		outbox_pump(ob);
	}
	assert_int_equal(L[1].n, 60);
	assert_tele(1, 20000, 50);
	int64_t prev = 0;
	for (int i = 0; i < L[1].n; i++)
		if (L[1].id[i] > 0) {
			assert_true(L[1].id[i] > prev);   /* KPIs in order */
			prev = L[1].id[i];
		}
	ack_all(ob, 1, 0);
	assert_int_equal(store_flush(st), 0);
	assert_int_equal(sql_int(st, "SELECT count(*) FROM outbox"), 0);
	/* an unknown link name is refused, a duplicate too */
	assert_int_equal(outbox_link_add(ob, &(struct outbox_link_opts){ .name = "Bad name", .send = fake_send }), -EINVAL);
	assert_int_equal(outbox_link_add(ob, &(struct outbox_link_opts){ .name = "province", .send = fake_send }), -EEXIST);
	close_ob(st, ob);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_commit_then_send_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_in_bursts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_and_lost_session_resend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_record_larger_than_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backlog_survives_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backlog_survives_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_caps_drop_oldest_telemetry_never_kpis, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_store_takes_telemetry_not_kpis, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_links_own_cursors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
