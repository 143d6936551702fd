/* The outbox on a real store with a fake link: commit before send, order
 * per lane, priority lane first, delete on ack, resend on failure and on a
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

#include "outbox.h"
#include "store.h"

static char dir[64], path[128];
static int64_t sent[1024];
static char sent_topic[1024][32];
static int nsent, refuse;

static int fake_send(void *arg, int64_t id, const char *topic, const void *payload, size_t len)
{
	if (refuse || nsent >= 1024)
		return -ENOTCONN;
	sent[nsent] = id;
	snprintf(sent_topic[nsent], sizeof(sent_topic[0]), "%s", topic);
	nsent++;
	return 0;
}

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/wardgw-outbox.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/t.db", dir);
	nsent = 0;
	refuse = 0;
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int rows(struct store *st, int lane)
{
	sqlite3_stmt *q;
	int n = -1;

	assert_int_equal(sqlite3_prepare_v2(store_db(st), "SELECT count(*) FROM outbox WHERE lane = ?", -1, &q, NULL),
			 SQLITE_OK);
	sqlite3_bind_int(q, 1, lane);
	if (sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	return n;
}

static struct outbox *open_ob(struct store **st, int window, int64_t max_bytes)
{
	struct outbox *ob;

	assert_int_equal(store_open(st, path), 0);
	assert_int_equal(outbox_new(&ob, *st, &(struct outbox_opts){
		.window = window, .backfill_per_s = 1000000, .max_bytes = max_bytes,
		.max_age_ms = 0, .ack_timeout_ms = 0, .send = fake_send }), 0);
	return ob;
}

static void close_ob(struct store *st, struct outbox *ob)
{
	store_flush(st);
	store_clear_hooks(st);
	outbox_free(ob);
	store_close(st);
}

static void add(struct outbox *ob, enum outbox_lane lane, const char *topic, int i)
{
	char p[32];
	int n = snprintf(p, sizeof(p), "payload %d", i);

	assert_int_equal(outbox_add(ob, lane, topic, p, (size_t)n, 1000 + i), 0);
}

static void test_commit_then_send_in_order(void **state)
{
	struct store *st;
	struct outbox *ob = open_ob(&st, 100, 1 << 20);

	outbox_link_up(ob, 0);
	for (int i = 0; i < 5; i++)
		add(ob, LANE_TELEMETRY, "t/a", i);
	add(ob, LANE_PRIORITY, "k/x", 99);
	assert_int_equal(nsent, 0);              /* nothing leaves before the commit */
	assert_int_equal(store_flush(st), 0);
	assert_int_equal(nsent, 6);
	assert_string_equal(sent_topic[0], "k/x");   /* KPIs and events first */
	for (int i = 2; i < 6; i++)
		assert_true(sent[i] > sent[i - 1]);
	/* acked rows are deleted by the next flush; unacked stay */
	for (int i = 0; i < 4; i++)
		outbox_acked(ob, sent[i], 1);
	assert_int_equal(store_flush(st), 0);
	assert_int_equal(rows(st, LANE_TELEMETRY) + rows(st, LANE_PRIORITY), 2);
	close_ob(st, ob);
}

static void test_failure_and_lost_session_resend(void **state)
{
	struct store *st;
	struct outbox *ob = open_ob(&st, 100, 1 << 20);

	outbox_link_up(ob, 1);
	for (int i = 0; i < 4; i++)
		add(ob, LANE_TELEMETRY, "t/a", i);
	assert_int_equal(store_flush(st), 0);
	assert_int_equal(nsent, 4);
	int64_t second = sent[1];
	outbox_acked(ob, sent[0], 1);
	outbox_acked(ob, second, 0);             /* the link gave it up */
	outbox_pump(ob);
	assert_int_equal(nsent, 5);
	assert_true(sent[4] == second);          /* offered again, only it */
	/* the broker lost the session: everything unacknowledged goes again, in order */
	outbox_link_down(ob);
	outbox_link_up(ob, 0);
	assert_int_equal(nsent, 8);
	assert_true(sent[5] == second && sent[6] < sent[7]);
	close_ob(st, ob);
}

static void test_backlog_survives_reopen(void **state)
{
	struct store *st;
	struct outbox *ob = open_ob(&st, 100, 1 << 20);

	refuse = 1;                               /* broker away */
	for (int i = 0; i < 10; i++)
		add(ob, LANE_TELEMETRY, "t/a", i);
	assert_int_equal(store_flush(st), 0);
	close_ob(st, ob);                         /* gateway stops */
	refuse = 0;
	ob = open_ob(&st, 3, 1 << 20);            /* window of 3 */
	outbox_link_up(ob, 0);
	assert_true(nsent >= 1 && nsent <= 3);
	while (nsent < 10) {
		int before = nsent;
		for (int i = 0; i < before; i++)
			outbox_acked(ob, sent[i], 1);
		outbox_pump(ob);
		assert_true(nsent > before);
	}
	for (int i = 1; i < 10; i++)
		assert_true(sent[i] > sent[i - 1]);
	close_ob(st, ob);
}

static void test_caps_drop_oldest_telemetry_never_kpis(void **state)
{
	struct store *st;
	struct outbox *ob = open_ob(&st, 100, 200);   /* 5 KPIs and about 10 telemetry messages */
	struct outbox_stats s;

	refuse = 1;
	for (int i = 0; i < 5; i++)
		add(ob, LANE_PRIORITY, "k/x", i);
	for (int i = 0; i < 30; i++)
		add(ob, LANE_TELEMETRY, "t/a", i);
	assert_int_equal(store_flush(st), 0);
	outbox_get_stats(ob, &s);
	assert_int_equal(rows(st, LANE_PRIORITY), 5);
	assert_true(s.bytes <= 200);
	assert_true(s.dropped >= 15);
	assert_int_equal((int)s.dropped + rows(st, LANE_TELEMETRY), 30);
	/* the newest telemetry is what is left */
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_prepare_v2(store_db(st), "SELECT max(ts) FROM outbox WHERE lane = 1", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), 1029);
	sqlite3_finalize(q);
	uint64_t dropped = s.dropped;
	close_ob(st, ob);
	/* the count of what was dropped survives a restart */
	ob = open_ob(&st, 100, 200);
	outbox_get_stats(ob, &s);
	assert_true(s.dropped == dropped);
	close_ob(st, ob);
}

/* The store is full and has no raw samples to give up: the outbox gives
 * its oldest telemetry (counted), never KPIs. And while commits fail, the
 * queue in memory is bounded the same way. */
static void test_full_store_takes_telemetry_not_kpis(void **state)
{
	struct store *st;
	struct outbox *ob = open_ob(&st, 100, 1 << 30);
	struct outbox_stats s;

	refuse = 1;
	for (int i = 0; i < 3; i++)
		add(ob, LANE_PRIORITY, "k/x", i);
	for (int i = 0; i < 1500; i++)
		add(ob, LANE_TELEMETRY, "t/a", i);
	assert_int_equal(store_flush(st), 0);
	int n = store_make_room(st, 0);                      /* no samples: the outbox gives */
	assert_true(n > 0 && n <= 1000);
	outbox_get_stats(ob, &s);
	assert_int_equal((int)s.dropped, n);
	assert_int_equal(rows(st, LANE_TELEMETRY), 1500 - n);
	assert_int_equal(rows(st, LANE_PRIORITY), 3);
	assert_int_equal(s.rows, 1503 - n);
	/* the oldest went first */
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_prepare_v2(store_db(st), "SELECT min(ts) FROM outbox WHERE lane = 1", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), 1000 + n);
	sqlite3_finalize(q);
	while ((n = store_make_room(st, 0)) > 0)
		;
	assert_int_equal(n, 0);                           /* KPIs never */
	assert_int_equal(rows(st, LANE_TELEMETRY), 0);
	assert_int_equal(rows(st, LANE_PRIORITY), 3);
	close_ob(st, ob);

	/* the queue in memory: 70 x 1 MiB of telemetry and a KPI, no commit */
	ob = open_ob(&st, 100, 1 << 30);
	size_t big = 1 << 20;
	char *payload = calloc(1, big);
	assert_non_null(payload);
	add(ob, LANE_PRIORITY, "k/y", 1);
	for (int i = 0; i < 70; i++)
		assert_int_equal(outbox_add(ob, LANE_TELEMETRY, "t/b", payload, big, 2000 + i), 0);
	free(payload);
	outbox_get_stats(ob, &s);
	assert_true(s.dropped >= 1500 + 6);
	assert_int_equal(store_flush(st), 0);
	assert_int_equal(rows(st, LANE_PRIORITY), 4);
	assert_true(rows(st, LANE_TELEMETRY) <= 64);
	close_ob(st, ob);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_commit_then_send_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_and_lost_session_resend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backlog_survives_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_caps_drop_oldest_telemetry_never_kpis, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_store_takes_telemetry_not_kpis, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
