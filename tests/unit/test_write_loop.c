/* Writes in the daemon: the modbus-tcp driver polling a device every 100 ms
 * on a libevent loop while gateway_write() queues writes to it, against a
 * small Modbus TCP server on the same loop. Every write is answered once,
 * read back equal and lands in the server's registers; polls go on in
 * between (one request on the connection at a time); bad writes are
 * refused before anything is sent. In-process, on loopback, about 1.2 s. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <math.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "driver.h"
#include "gateway.h"
#include "sink.h"
#include "log.h"
#include "rollup.h"
#include "store.h"

/* ---- the server: holding registers 0..0x1FF, FC03, FC06, FC16 ---- */

static uint16_t regs[0x200];
static unsigned reads, writes, in_flight, max_in_flight, accepted;
static struct event_base *base;

struct sconn {
	int fd;
	struct event *ev;
	uint8_t buf[600];
	size_t len;
};

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static unsigned get16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static void on_sconn(evutil_socket_t fd, short what, void *arg)
{
	struct sconn *c = arg;
	ssize_t n = recv(fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);

	if (n <= 0) {
		event_free(c->ev);
		close(c->fd);
		free(c);
		return;
	}
	c->len += (size_t)n;
	/* more than one request before an answer would be pipelining */
	in_flight = 0;
	while (c->len >= 7 && c->len >= 6 + get16(c->buf + 4)) {
		uint8_t *q = c->buf, out[300];
		size_t flen = 6 + get16(q + 4), olen = 12;
		unsigned a = get16(q + 8), cnt = get16(q + 10);
		if (++in_flight > max_in_flight)
			max_in_flight = in_flight;
		memcpy(out, q, 12);
		if (q[7] == 3 && a + cnt <= 0x200) {
			reads++;
			out[8] = (uint8_t)(2 * cnt);
			for (unsigned i = 0; i < cnt; i++)
				put16(out + 9 + 2 * i, regs[a + i]);
			put16(out + 4, 3 + 2 * cnt);
			olen = 9 + 2 * cnt;
		} else if (q[7] == 6 && a < 0x200) {
			writes++;
			regs[a] = (uint16_t)cnt;
		} else if (q[7] == 16 && a + cnt <= 0x200 && flen == 13 + 2 * cnt) {
			writes++;
			for (unsigned i = 0; i < cnt; i++)
				regs[a + i] = (uint16_t)get16(q + 13 + 2 * i);
			put16(out + 4, 6);
		} else {
			put16(out + 4, 3);
			out[7] = (uint8_t)(q[7] | 0x80);
			out[8] = 2;
			olen = 9;
		}
		if (send(fd, out, olen, MSG_NOSIGNAL) < 0)
			return;
		memmove(c->buf, c->buf + flen, c->len - flen);
		c->len -= flen;
	}
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
	struct sconn *c;

	if (fd < 0 || !(c = calloc(1, sizeof(*c)))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	c->fd = fd;
	c->ev = event_new(base, fd, EV_READ | EV_PERSIST, on_sconn, c);
	event_add(c->ev, NULL);
	accepted++;
}

/* ---- the test ---- */

static struct gateway gw;
static int answered, good, bad;
static double last_readback;

static void on_written(void *arg, int err, double readback, const char *reason)
{
	double want = *(double *)arg;

	answered++;
	if (err == 0 && readback == want)
		good++;
	else {
		bad++;
		fprintf(stderr, "write %g: err %d, read back %g: %s\n", want, err, readback, reason ? reason : "");
	}
	last_readback = readback;
}

static double values[64];
static int nwrites;

static void on_writer(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = { 0, 15000 };

	if (nwrites < 40) {
		/* a u16 (function 6) and an f32 (function 16) in turn */
		values[nwrites] = nwrites % 2 ? 100.0 + nwrites : -1.5 * nwrites;
		assert_int_equal(gateway_write(&gw, &gw.devices[0], nwrites % 2 ? "setpoint" : "level",
					       values[nwrites], on_written, &values[nwrites]), 0);
		nwrites++;
		evtimer_add(arg, &tv);
	}
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(base);
}

static void test_writes_between_polls(void **state)
{
	char dir[] = "/tmp/wardgw-wloop.XXXXXX", path[256], cmd[300];
	struct sockaddr_in sa = { 0 };
	socklen_t sl = sizeof(sa);
	struct gw_config *cfg = NULL;
	struct store *st = NULL;
	struct rollup *ru = NULL;
	FILE *f;
	int lfd, one = 1;

	log_threshold = LOG_LVL_ERROR;
	assert_non_null(mkdtemp(dir));
	base = event_base_new();
	assert_non_null(base);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 8), 0);
	getsockname(lfd, (struct sockaddr *)&sa, &sl);
	struct event *lev = event_new(base, lfd, EV_READ | EV_PERSIST, on_accept, NULL);
	event_add(lev, NULL);

	snprintf(path, sizeof(path), "%s/profiles", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/profiles/w.conf", dir);
	f = fopen(path, "w");
	fputs("profile = { name = \"w\"; registers = (\n"
	      "  { metric = \"setpoint\"; table = \"holding\"; address = 0x0100; type = \"u16\"; writable = true; },\n"
	      "  { metric = \"level\"; table = \"holding\"; address = 0x0102; type = \"f32\"; writable = true; min = -100.0; },\n"
	      "  { metric = \"ro\"; table = \"holding\"; address = 0x0104; type = \"u16\"; }\n"
	      "); };\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/gw.conf", dir);
	f = fopen(path, "w");
	fprintf(f, "gateway = { id = \"t\"; lat = 11.8; lon = 106.9; data_dir = \"%s\"; };\n"
		"devices = ( { name = \"d\"; host = \"127.0.0.1\"; port = %d; profile = \"w\"; poll_interval_ms = 100;"
		" timeout_ms = 50; } );\n", dir, ntohs(sa.sin_port));
	fclose(f);
	assert_int_equal(config_load(path, stderr, &cfg), 0);
	snprintf(path, sizeof(path), "%s/t.db", dir);
	assert_int_equal(store_open(&st, path), 0);
	assert_int_equal(rollup_new(&ru, st, 0), 0);

	/* the gateway as gateway_init builds it, minus publisher and KPIs */
	struct device dev = { 0 };
	int64_t series[3] = { 0 };
	double last[3] = { NAN, NAN, NAN };
	unsigned char lastq[3] = { 0 };
	memset(&gw, 0, sizeof(gw));
	gw.cfg = cfg;
	gw.base = base;
	gw.store = st;
	gw.rollup = ru;
	dev.conf = &cfg->devices[0];
	dev.series = series;
	dev.last = last;
	dev.lastq = lastq;
	dev.rseries = 1000;     /* not in the rollup: not its business here */
	gw.devices = &dev;
	gw.ndevices = 1;
	/* the driver's instance behind a sink, as gateway_init makes them */
	assert_int_equal(sink_new(&gw.sink, &gw), 0);
	assert_int_equal(driver_set_init(&gw.drv, gw.sink), 0);
	assert_int_equal(driver_start_device(&gw.drv, &dev), 0);
	driver_set_settle(&gw.drv);

	/* refused before anything is sent */
	assert_int_equal(gateway_write(&gw, &dev, "ro", 1, on_written, NULL), -EACCES);
	assert_int_equal(gateway_write(&gw, &dev, "nosuch", 1, on_written, NULL), -ENOENT);
	assert_int_equal(gateway_write(&gw, &dev, "level", -101, on_written, NULL), -ERANGE);
	assert_int_equal(gateway_write(&gw, &dev, "setpoint", 70000, on_written, NULL), -ERANGE);

	struct event *wev = evtimer_new(base, on_writer, NULL);
	event_assign(wev, base, -1, 0, on_writer, wev);
	struct timeval start = { 0, 30000 }, stop = { 1, 200000 };
	evtimer_add(wev, &start);
	struct event *sev = evtimer_new(base, on_stop, NULL);
	evtimer_add(sev, &stop);
	event_base_dispatch(base);

	assert_int_equal(nwrites, 40);
	assert_int_equal(answered, 40);
	assert_int_equal(good, 40);
	assert_int_equal(bad, 0);
	assert_int_equal(writes, 40);
	/* the last ones are in the registers: 139 at 0x0100, -57.0 f32 at 0x0102 */
	assert_int_equal(regs[0x100], 139);
	assert_int_equal(regs[0x102], 0xC264);
	assert_int_equal(regs[0x103], 0x0000);
	/* polls went on between the writes (about 12 in 1.2 s at 100 ms), and
	 * never two requests at once on the connection */
	assert_true(gw.stats.ok >= 9);
	assert_int_equal(gw.stats.failed, 0);
	assert_true(reads >= gw.stats.ok + 40);     /* polls plus one read-back per write */
	assert_int_equal(max_in_flight, 1);
	assert_true(dev.last[0] == 139.0 || dev.last[0] == 137.0);

	driver_stop_device(&gw.drv, &dev);
	driver_set_release(&gw.drv);
	sink_free(gw.sink);
	/* the server sees the driver hang up and frees its side */
	for (int i = 0; i < 10; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(accepted, 1);      /* one connection for everything */
	event_free(wev);
	event_free(sev);
	event_free(lev);
	close(lfd);
	/* as gateway_release: flush, detach the rollup, then close */
	store_flush(st);
	store_clear_hooks(st);
	rollup_free(ru);
	store_close(st);
	config_free(cfg);
	event_base_free(base);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writes_between_polls),
	};
	return cmocka_run_group_tests_name("write_loop", tests, NULL, NULL);
}
