/* Device health: the online / degraded / offline transitions of
 * gateway/health.c, the growing capped retry interval, and the quality of
 * a last value (stale, or as stored). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "gateway.h"
#include "sink.h"
#include "devhealth.h"
#include "log.h"
#include "store.h"

static struct gateway gw;
static struct sink *sink;
static struct device_conf dc;
static struct device dev;
static struct dev_health h;

static int setup(void **state)
{
	memset(&gw, 0, sizeof(gw));
	sink_free(sink);
	sink = NULL;
	assert_int_equal(sink_new(&sink, &gw), 0);
	memset(&dc, 0, sizeof(dc));
	memset(&dev, 0, sizeof(dev));
	memset(&h, 0, sizeof(h));
	dc.name = "cab";
	dc.poll_interval_ms = 1000;
	dc.backoff_max_ms = 5000;
	dev.conf = &dc;
	log_threshold = LOG_LVL_ERROR;
	return 0;
}

static void test_states(void **state)
{
	/* never answered: failures stay unknown until the third */
	health_poll_done(sink, &dev, &h, 0, 0, "no reply within 300 ms");
	health_poll_done(sink, &dev, &h, 0, 0, "no reply within 300 ms");
	assert_int_equal(dev.state, DEV_UNKNOWN);
	assert_false(health_backing_off(&h, mono_us()));
	health_poll_done(sink, &dev, &h, 0, 0, "no reply within 300 ms");
	assert_int_equal(dev.state, DEV_OFFLINE);
	assert_string_equal(dev.reason, "no reply within 300 ms");
	assert_int_equal(h.backoff_ms, 1000);
	assert_true(health_backing_off(&h, mono_us()));
	/* each further failure doubles the retry interval, up to the cap */
	health_poll_done(sink, &dev, &h, 0, 0, "connect: Connection refused");
	assert_int_equal(h.backoff_ms, 2000);
	health_poll_done(sink, &dev, &h, 0, 0, "connect: Connection refused");
	health_poll_done(sink, &dev, &h, 0, 0, "connect: Connection refused");
	assert_int_equal(h.backoff_ms, 5000);
	assert_string_equal(dev.reason, "connect: Connection refused");
	/* the first good poll: online, no backoff */
	health_poll_done(sink, &dev, &h, 1, 0, NULL);
	assert_int_equal(dev.state, DEV_ONLINE);
	assert_int_equal(h.fails, 0);
	assert_false(health_backing_off(&h, mono_us()));
	/* a partial poll: degraded with the failed read as reason */
	health_poll_done(sink, &dev, &h, 1, 1, "exception 0x02 (illegal data address) reading 1 holding at 0x0190");
	assert_int_equal(dev.state, DEV_DEGRADED);
	assert_string_equal(dev.reason, "exception 0x02 (illegal data address) reading 1 holding at 0x0190");
	health_poll_done(sink, &dev, &h, 1, 0, NULL);
	assert_int_equal(dev.state, DEV_ONLINE);
	/* answering, then one or two failures: degraded, not yet offline */
	health_poll_done(sink, &dev, &h, 0, 0, "CRC error in the reply");
	assert_int_equal(dev.state, DEV_DEGRADED);
	health_poll_done(sink, &dev, &h, 0, 0, "CRC error in the reply");
	assert_int_equal(dev.state, DEV_DEGRADED);
	assert_false(health_backing_off(&h, mono_us()));
	health_poll_done(sink, &dev, &h, 0, 0, "CRC error in the reply");
	assert_int_equal(dev.state, DEV_OFFLINE);
	assert_string_equal(device_state_name(DEV_DEGRADED), "degraded");
}

static void test_quality(void **state)
{
	unsigned char q[2] = { Q_GOOD, Q_OUT_OF_RANGE };
	int64_t now = wall_ms();

	dev.lastq = q;
	assert_int_equal(gateway_value_quality(&dev, 0, now), Q_STALE);     /* never read */
	dev.last_ok_ms = now - 500;
	dev.state = DEV_ONLINE;
	assert_int_equal(gateway_value_quality(&dev, 0, now), Q_GOOD);
	assert_int_equal(gateway_value_quality(&dev, 1, now), Q_OUT_OF_RANGE);
	dev.state = DEV_DEGRADED;
	assert_int_equal(gateway_value_quality(&dev, 1, now), Q_OUT_OF_RANGE);
	dev.last_ok_ms = now - 3500;                                        /* three intervals ago */
	assert_int_equal(gateway_value_quality(&dev, 0, now), Q_STALE);
	dev.last_ok_ms = now - 500;
	dev.state = DEV_OFFLINE;
	assert_int_equal(gateway_value_quality(&dev, 0, now), Q_STALE);
	assert_string_equal(quality_name(Q_STALE), "stale");
}

static int teardown_all(void **state)
{
	sink_free(sink);
	sink = NULL;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_states, setup),
		cmocka_unit_test_setup(test_quality, setup),
	};
	return cmocka_run_group_tests_name("health", tests, NULL, teardown_all);
}
