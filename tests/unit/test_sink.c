/* The sink (gateway/sink.c), what drivers see of the gateway: counters
 * reach the gateway's stats, coverage samples wait for the store's next
 * transaction (the gateway's position for a NaN one, nothing without a
 * coverage section), posted work runs on the loop or is freed, and pushed
 * readings find their device or say -ENOENT. */
#include <errno.h>
#include <event2/event.h>
#include <math.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "unit_files.h"

#include "config.h"
#include "coverage.h"
#include "gateway.h"
#include "log.h"
#include "loopq.h"
#include "sink.h"
#include "store.h"

static char dir[64];

static int setup(void **state)
{
	log_threshold = LOG_LVL_ERROR;
	return ut_mkdir(dir, sizeof(dir), "wardgw-sink");
}

static int teardown(void **state)
{
	return ut_rmdir(dir);
}

static void test_counters(void **state)
{
	struct gateway gw = { 0 };
	struct sink *s;

	assert_int_equal(sink_new(&s, &gw), 0);
	sink_count(s, SINK_SCHEDULED, 3);
	sink_count(s, SINK_SKIPPED_BUSY, 1);
	sink_count(s, SINK_SKIPPED_OFFLINE, 2);
	sink_count(s, SINK_REQUESTS, 7);
	sink_count(s, SINK_FRAMES_DISCARDED, 5);
	sink_count(s, SINK_REQUESTS, 1);
	assert_int_equal(gw.stats.scheduled, 3);
	assert_int_equal(gw.stats.skipped_busy, 1);
	assert_int_equal(gw.stats.skipped_offline, 2);
	assert_int_equal(gw.stats.requests, 8);
	assert_int_equal(gw.stats.frames_discarded, 5);
	/* a tool's gateway does not poll */
	assert_int_equal(sink_polling(s), 1);
	gw.no_poll = 1;
	assert_int_equal(sink_polling(s), 0);
	/* no loop queue: nothing can be posted */
	assert_int_equal(sink_post(s, NULL, NULL, NULL), -ENOTCONN);
	sink_free(s);
}

static int ran, freed;
static void on_run(void *arg) { ran += *(int *)arg; }
static void on_free(void *arg) { freed += *(int *)arg; }

static void test_post(void **state)
{
	struct gateway gw = { 0 };
	struct sink *s;
	int one = 1, ten = 10;

	gw.base = event_base_new();
	assert_non_null(gw.base);
	assert_int_equal(loopq_new(&gw.q, gw.base), 0);
	assert_int_equal(sink_new(&s, &gw), 0);
	assert_ptr_equal(sink_base(s), gw.base);
	assert_int_equal(sink_post(s, on_run, &one, on_free), 0);
	event_base_loop(gw.base, EVLOOP_NONBLOCK);
	assert_int_equal(ran, 1);
	assert_int_equal(freed, 0);
	/* dropped unrun when the queue goes: its free function instead */
	assert_int_equal(sink_post(s, on_run, &ten, on_free), 0);
	loopq_free(gw.q);
	assert_int_equal(ran, 1);
	assert_int_equal(freed, 10);
	sink_free(s);
	event_base_free(gw.base);
}

static int count_rows(struct store *st, const char *where)
{
	char sql[256];
	sqlite3_stmt *q;
	int n = -1;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM coverage_sample WHERE %s", where);
	if (sqlite3_prepare_v2(store_db(st), sql, -1, &q, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	return n;
}

static void test_coverage(void **state)
{
	struct coverage_conf cc = { 0 };
	struct device_conf dc = { .name = "modem-1" };
	struct gw_config cfg = { .lat = 11.837, .lon = 106.993 };
	struct gateway gw = { 0 };
	struct device dev = { .conf = &dc };
	struct coverage_sample cs = { .ts_ms = 1700000000000, .lat = NAN, .lon = NAN, .tech = RAT_LTE, .op = "452-04",
				      .rsrp = -95, .rsrq = -11, .sinr = NAN };
	struct sink *s;
	char path[128];

	snprintf(path, sizeof(path), "%s/t.db", dir);
	assert_int_equal(store_open(&gw.store, path), 0);
	gw.cfg = &cfg;

	/* without a coverage section nothing is queued */
	assert_int_equal(sink_new(&s, &gw), 0);
	assert_int_equal(sink_coverage(s, &dev, &cs), 0);
	sink_free(s);
	store_clear_hooks(gw.store);

	cfg.coverage = &cc;
	assert_int_equal(sink_new(&s, &gw), 0);
	assert_int_equal(sink_coverage(s, &dev, &cs), 1);          /* the gateway's position */
	cs.ts_ms += 1000;
	cs.lat = 11.84;
	cs.lon = 107.0;
	cs.tech = RAT_NR;
	assert_int_equal(sink_coverage(s, &dev, &cs), 1);          /* its own */
	/* refused: no operator, an operator too long, no RSRP */
	cs.op = "";
	assert_int_equal(sink_coverage(s, &dev, &cs), -EINVAL);
	cs.op = "an operator name far longer than 31 bytes";
	assert_int_equal(sink_coverage(s, &dev, &cs), -EINVAL);
	cs.op = "452-04";
	cs.rsrp = NAN;
	assert_int_equal(sink_coverage(s, &dev, &cs), -EINVAL);
	/* nothing written before the store's next commit */
	assert_int_equal(count_rows(gw.store, "1"), 0);
	assert_int_equal(store_flush(gw.store), 0);
	assert_int_equal(count_rows(gw.store, "source = 'modem-1'"), 2);
	assert_int_equal(count_rows(gw.store, "lat = 11.837 AND lon = 106.993 AND tech = 'LTE' AND operator = '452-04'"
				    " AND rsrp = -95 AND rsrq = -11 AND sinr IS NULL"), 1);
	assert_int_equal(count_rows(gw.store, "lat = 11.84 AND lon = 107.0 AND tech = 'NR'"), 1);
	/* committed ones are not written again */
	assert_int_equal(store_flush(gw.store), 0);
	assert_int_equal(count_rows(gw.store, "1"), 2);
	store_clear_hooks(gw.store);
	sink_free(s);
	store_close(gw.store);
}

static void test_push_unknown(void **state)
{
	struct device_conf a = { .name = "a" }, b = { .name = "b" };
	struct device dev = { .conf = &a };
	struct gateway gw = { .devices = &dev, .ndevices = 1 };
	struct sink *s;
	double v = 1;

	assert_int_equal(sink_new(&s, &gw), 0);
	assert_int_equal(sink_push(s, &b, 1000, &v), -ENOENT);
	sink_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_post),
		cmocka_unit_test_setup_teardown(test_coverage, setup, teardown),
		cmocka_unit_test(test_push_unknown),
	};
	return cmocka_run_group_tests_name("sink", tests, NULL, NULL);
}
