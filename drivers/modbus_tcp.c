/* Modbus TCP driver, spoken on the libevent loop with non-blocking sockets
 * (one connection per device, one request in flight per connection). It
 * never waits with select(), so there is no ceiling at FD_SETSIZE, and a
 * dead or slow device costs nothing but its own timer. */
#include <errno.h>
#include <event2/event.h>
#include <math.h>
#include <stdarg.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "driver.h"
#include "gateway.h"
#include "log.h"
#include "mbap.h"
#include "plan.h"

/* Consecutive failures before a device is declared offline. */
#define FAILS_OFFLINE 3
/* A poll is on time when it starts within this of its slot (or 5 % of the
 * interval, if larger). */
#define ON_TIME_US 50000

struct mbtcp_conf {
	char *host;
	int port;
	int unit;
	int max_gap;
	int max_regs;
};

static const struct opt mbtcp_opts[] = {
	{ "host", OPT_STRING, offsetof(struct mbtcp_conf, host), 0, 0, 0, NULL, 1 },
	{ "port", OPT_INT, offsetof(struct mbtcp_conf, port), 1, 65535, 502, NULL, 0 },
	{ "unit", OPT_INT, offsetof(struct mbtcp_conf, unit), 0, 255, 1, NULL, 0 },
	/* one read may span this many unused registers (0: contiguous only) */
	{ "max_gap", OPT_INT, offsetof(struct mbtcp_conf, max_gap), 0, 124, 0, NULL, 0 },
	/* the device's limit of registers per request */
	{ "max_regs", OPT_INT, offsetof(struct mbtcp_conf, max_regs), 1, 125, 125, NULL, 0 },
	{ 0 }
};

enum conn_state { C_CLOSED, C_CONNECTING, C_IDLE, C_WAITING };

struct mbdev {
	struct device *dev;
	struct gateway *gw;
	const struct mbtcp_conf *c;
	struct plan plan;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	evutil_socket_t fd;
	enum conn_state cs;
	struct event *io, *tmo, *tick;   /* io is persistent while connected */
	uint16_t tid;
	size_t cur;                 /* index of the read in flight */
	uint8_t rbuf[MBAP_MAX_ADU];
	size_t rlen;
	uint16_t *words;
	double *values;
	unsigned char *no_gap;      /* per register: refused in a gapped read */
	int64_t due_us;             /* slot of the poll in progress / next */
	int64_t deadline_us;        /* the request's timeout */
	int64_t wall_start_ms;
	int64_t retry_at_us;        /* offline backoff: no attempt before */
	unsigned backoff_ms;
	int fails;
	int polling, on_time;
	int resolved;               /* addr holds the device's address */
};

static struct mbdev **mbdevs;
static size_t nmbdevs;

static void on_io(evutil_socket_t fd, short what, void *arg);
static int resolve(struct mbdev *m, char *why, size_t len);
static void on_tick(evutil_socket_t fd, short what, void *arg);

static void close_conn(struct mbdev *m)
{
	if (m->fd >= 0) {
		event_del(m->io);
		close(m->fd);
		m->fd = -1;
	}
	if (m->tmo)
		evtimer_del(m->tmo);
	m->cs = C_CLOSED;
	m->rlen = 0;
}

/* The connect or request timeout; a timer, so the socket's epoll
 * registration is not touched per request. */
static void arm_timeout(struct mbdev *m)
{
	int64_t left = m->deadline_us - mono_us();
	struct timeval tv;

	if (left < 0)
		left = 0;
	tv.tv_sec = (time_t)(left / 1000000);
	tv.tv_usec = (suseconds_t)(left % 1000000);
	evtimer_add(m->tmo, &tv);
}

static void schedule_next(struct mbdev *m)
{
	int64_t interval = (int64_t)m->dev->conf->poll_interval_ms * 1000;
	int64_t now = mono_us();
	struct timeval tv;

	m->due_us += interval;
	/* fell behind by whole slots (the loop was stalled): skip them */
	while (m->due_us + interval <= now) {
		m->due_us += interval;
		m->gw->stats.scheduled++;
		m->gw->stats.skipped_busy++;
	}
	int64_t d = m->due_us - now;
	if (d < 0)
		d = 0;
	tv.tv_sec = (time_t)(d / 1000000);
	tv.tv_usec = (suseconds_t)(d % 1000000);
	evtimer_add(m->tick, &tv);
}

static void finish(struct mbdev *m, int ok, const char *reason)
{
	struct device *dev = m->dev;
	struct gateway *gw = m->gw;

	m->polling = 0;
	evtimer_del(m->tmo);
	if (m->cs == C_WAITING)
		m->cs = C_IDLE;
	gateway_poll_done(gw, dev, m->wall_start_ms, m->values, ok, m->on_time, reason);
	if (ok) {
		m->fails = 0;
		m->backoff_ms = 0;
		m->retry_at_us = 0;
		gateway_set_state(gw, dev, DEV_ONLINE, NULL);
		return;
	}
	m->fails++;
	if (m->fails >= FAILS_OFFLINE) {
		/* poll an offline device at a growing, capped interval */
		unsigned cap = (unsigned)dev->conf->backoff_max_ms;
		unsigned base = (unsigned)dev->conf->poll_interval_ms;
		m->backoff_ms = m->backoff_ms ? m->backoff_ms * 2 : base;
		if (m->backoff_ms > cap)
			m->backoff_ms = cap;
		m->retry_at_us = mono_us() + (int64_t)m->backoff_ms * 1000;
		gateway_set_state(gw, dev, DEV_OFFLINE, reason);
	} else {
		snprintf(dev->reason, sizeof(dev->reason), "%s", reason);
	}
}

static void fail(struct mbdev *m, int close_it, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(struct mbdev *m, int close_it, const char *fmt, ...)
{
	char why[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (close_it)
		close_conn(m);
	finish(m, 0, why);
}

static void send_read(struct mbdev *m)
{
	const struct plan_read *r = &m->plan.reads[m->cur];
	uint8_t req[MBAP_READ_REQUEST];
	size_t len;
	ssize_t n;

	m->tid++;
	len = mbap_read_request(req, m->tid, (uint8_t)m->c->unit, r->table, r->start, r->count);
	n = send(m->fd, req, len, MSG_NOSIGNAL);
	if (n != (ssize_t)len) {
		fail(m, 1, "send: %s", n < 0 ? strerror(errno) : "short write");
		return;
	}
	m->gw->stats.requests++;
	m->cs = C_WAITING;
	m->rlen = 0;
	m->deadline_us = mono_us() + (int64_t)m->dev->conf->timeout_ms * 1000;
	arm_timeout(m);
}

static void decode_read(struct mbdev *m, const struct plan_read *r)
{
	const struct profile *p = m->dev->conf->profile;

	for (size_t k = 0; k < r->nregs; k++) {
		size_t idx = m->plan.order[r->first + k];
		const struct reg_def *d = &p->regs[idx];
		m->values[idx] = reg_def_value(d, m->words + (d->address - r->start));
	}
}

/* The device refused a read across a gap (exception 0x02: some address in
 * it does not exist): read those registers without gaps from now on, and
 * start this poll again with the new plan. Each refusal flags more
 * registers, so this ends. */
static void split_read(struct mbdev *m, const struct plan_read *r)
{
	const struct profile *p = m->dev->conf->profile;
	struct plan np;
	unsigned table = r->table, start = r->start, count = r->count;

	for (size_t k = 0; k < r->nregs; k++)
		m->no_gap[m->plan.order[r->first + k]] = 1;
	if (plan_build_ex(&np, p->regs, p->nregs, (unsigned)m->c->max_gap, (unsigned)m->c->max_regs,
			  m->no_gap) < 0) {
		fail(m, 0, "out of memory");
		return;
	}
	plan_release(&m->plan);
	m->plan = np;
	log_warn("modbus %s: exception 0x02 for %u %s from 0x%04x across unused addresses: "
		 "reading that range without gaps from now on (%zu requests per poll)",
		 m->dev->conf->name, count, reg_table_name((enum reg_table)table), start, m->plan.nreads);
	m->cur = 0;
	send_read(m);
}

static void handle_frame(struct mbdev *m, size_t flen)
{
	const struct plan_read *r = &m->plan.reads[m->cur];
	uint8_t exc = 0;
	int ret = mbap_parse_read_reply(m->rbuf, flen, m->tid, (uint8_t)m->c->unit, r->table,
					r->count, m->words, &exc);

	/* keep any bytes after this frame (there should be none) */
	memmove(m->rbuf, m->rbuf + flen, m->rlen - flen);
	m->rlen -= flen;
	if (ret == -ENOMSG)
		return;     /* a late answer to a request we gave up on: wait for ours */
	if (ret == -EREMOTEIO && exc == 0x02 && plan_read_has_gap(&m->plan, r, m->dev->conf->profile->regs)) {
		split_read(m, r);
		return;
	}
	if (ret == -EREMOTEIO) {
		fail(m, 0, "exception 0x%02x (%s) reading %u %s at 0x%04x", exc, mbap_exception_str(exc),
		     r->count, reg_table_name(r->table), r->start);
		return;
	}
	if (ret < 0) {
		fail(m, 1, "malformed reply to %s read at 0x%04x", reg_table_name(r->table), r->start);
		return;
	}
	decode_read(m, r);
	if (++m->cur < m->plan.nreads) {
		send_read(m);
		return;
	}
	finish(m, 1, NULL);
}

static void on_readable(struct mbdev *m)
{
	for (;;) {
		ssize_t n = recv(m->fd, m->rbuf + m->rlen, sizeof(m->rbuf) - m->rlen, 0);
		if (n == 0) {
			fail(m, 1, "connection closed by the device");
			return;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;         /* the rest comes later */
			if (errno == EINTR)
				continue;
			fail(m, 1, "recv: %s", strerror(errno));
			return;
		}
		m->rlen += (size_t)n;
		for (;;) {
			int flen = mbap_frame_len(m->rbuf, m->rlen);
			if (flen < 0) {
				fail(m, 1, "malformed MBAP header");
				return;
			}
			if (flen == 0 || m->rlen < (size_t)flen)
				break;
			handle_frame(m, (size_t)flen);
			if (m->cs != C_WAITING)
				return;     /* done, failed or closed */
		}
		if (m->rlen == sizeof(m->rbuf)) {
			fail(m, 1, "malformed reply: frame larger than %zu bytes", sizeof(m->rbuf));
			return;
		}
	}
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct mbdev *m = arg;

	if (m->cs == C_CONNECTING)
		fail(m, 1, "connect timed out after %d ms", m->dev->conf->timeout_ms);
	else
		fail(m, 1, "no reply within %d ms", m->dev->conf->timeout_ms);
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
	struct mbdev *m = arg;

	if (m->cs == C_CONNECTING) {
		int err = 0;
		socklen_t l = sizeof(err);
		getsockopt(m->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err) {
			fail(m, 1, "connect: %s", strerror(err));
			return;
		}
		/* from now on one persistent read registration per connection */
		event_assign(m->io, m->gw->base, m->fd, EV_READ | EV_PERSIST, on_io, m);
		event_add(m->io, NULL);
		m->cs = C_IDLE;
		send_read(m);
		return;
	}
	if (m->cs == C_WAITING) {
		on_readable(m);
		return;
	}
	/* data or EOF while idle: a late reply after a timeout, or the device
	 * closed; either way start afresh on the next poll */
	close_conn(m);
}

static void start_connect(struct mbdev *m)
{
	int one = 1;

	m->fd = socket(m->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (m->fd < 0) {
		fail(m, 0, "socket: %s", strerror(errno));
		return;
	}
	setsockopt(m->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	m->deadline_us = mono_us() + (int64_t)m->dev->conf->timeout_ms * 1000;
	if (connect(m->fd, (struct sockaddr *)&m->addr, m->addrlen) < 0 && errno != EINPROGRESS) {
		fail(m, 1, "connect: %s", strerror(errno));
		return;
	}
	/* completion (or refusal) shows as writability */
	m->cs = C_CONNECTING;
	event_assign(m->io, m->gw->base, m->fd, EV_WRITE, on_io, m);
	event_add(m->io, NULL);
	arm_timeout(m);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct mbdev *m = arg;
	struct gateway *gw = m->gw;
	int64_t now = mono_us();
	int64_t late = now - m->due_us;
	int64_t slack = (int64_t)m->dev->conf->poll_interval_ms * 50;   /* 5 % in µs */

	gw->stats.scheduled++;
	if (m->polling) {
		gw->stats.skipped_busy++;
	} else if (m->retry_at_us && now < m->retry_at_us) {
		gw->stats.skipped_offline++;
	} else {
		m->polling = 1;
		m->on_time = late <= (slack > ON_TIME_US ? slack : ON_TIME_US);
		m->cur = 0;
		m->wall_start_ms = wall_ms();
		for (size_t i = 0; i < m->plan.nregs; i++)
			m->values[i] = NAN;
		gateway_poll_started(gw, m->dev, late);
		char why[160];
		if (m->cs != C_CLOSED)
			send_read(m);
		else if (m->resolved || resolve(m, why, sizeof(why)) == 0)
			start_connect(m);
		else
			fail(m, 0, "%s", why);
	}
	schedule_next(m);
}

/* Host names are resolved when first needed and again after a failure;
 * a name that does not resolve makes that device offline, not the gateway
 * fail. (getaddrinfo blocks, but only for a device whose address is not
 * known yet, at most once per backoff interval.) */
static int resolve(struct mbdev *m, char *why, size_t len)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	char port[8];
	int rc;

	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%d", m->c->port);
	rc = getaddrinfo(m->c->host, port, &hints, &res);
	if (rc || !res || res->ai_addrlen > sizeof(m->addr)) {
		snprintf(why, len, "cannot resolve %s: %s", m->c->host, rc ? gai_strerror(rc) : "no address");
		if (res)
			freeaddrinfo(res);
		return -EHOSTUNREACH;
	}
	memcpy(&m->addr, res->ai_addr, res->ai_addrlen);
	m->addrlen = res->ai_addrlen;
	m->resolved = 1;
	freeaddrinfo(res);
	return 0;
}

static void free_mbdev(struct mbdev *m)
{
	if (!m)
		return;
	close_conn(m);
	if (m->io)
		event_free(m->io);
	if (m->tmo)
		event_free(m->tmo);
	if (m->tick)
		event_free(m->tick);
	plan_release(&m->plan);
	free(m->no_gap);
	free(m->words);
	free(m->values);
	free(m);
}

/* Create and start one device's instance; its first poll comes @first_us
 * from now. */
static int start_one(struct gateway *gw, struct event_base *base, struct device *dev, int64_t first_us)
{
	const struct profile *p = dev->conf->profile;
	struct mbdev *m, **nl;
	unsigned maxcount = 1;
	int ret;

	m = calloc(1, sizeof(*m));
	nl = m ? realloc(mbdevs, (nmbdevs + 1) * sizeof(*mbdevs)) : NULL;
	if (!nl) {
		free(m);
		return -ENOMEM;
	}
	mbdevs = nl;
	mbdevs[nmbdevs++] = m;
	m->dev = dev;
	m->gw = gw;
	m->c = dev->conf->drv;
	m->fd = -1;
	dev->drv = m;
	m->no_gap = calloc(p->nregs ? p->nregs : 1, 1);
	if (!m->no_gap)
		return -ENOMEM;
	if ((ret = plan_build_ex(&m->plan, p->regs, p->nregs, (unsigned)m->c->max_gap,
				 (unsigned)m->c->max_regs, NULL)) < 0)
		return ret;
	for (size_t r = 0; r < m->plan.nreads; r++)
		if (m->plan.reads[r].count > maxcount)
			maxcount = m->plan.reads[r].count;
	m->words = calloc(maxcount, sizeof(*m->words));
	m->values = calloc(p->nregs ? p->nregs : 1, sizeof(*m->values));
	m->io = event_new(base, -1, 0, on_io, m);
	m->tick = evtimer_new(base, on_tick, m);
	m->tmo = evtimer_new(base, on_timeout, m);
	if (!m->words || !m->values || !m->io || !m->tick || !m->tmo)
		return -ENOMEM;
	if (!m->c->host[0] || resolve(m, (char[160]){ 0 }, 160) < 0)
		log_warn("modbus %s: cannot resolve %s yet; will retry", dev->conf->name, m->c->host);
	m->due_us = mono_us() + first_us;
	struct timeval tv = { (time_t)(first_us / 1000000), (suseconds_t)(first_us % 1000000) };
	evtimer_add(m->tick, &tv);
	return 0;
}

static int mbtcp_start(struct gateway *gw, struct event_base *base)
{
	size_t n = 0, k = 0;
	int ret;

	for (size_t i = 0; i < gw->ndevices; i++)
		n += gw->devices[i].conf->driver == &modbus_tcp_driver;
	if (!n)
		return 0;
	for (size_t i = 0; i < gw->ndevices; i++) {
		struct device *dev = &gw->devices[i];

		if (dev->conf->driver != &modbus_tcp_driver)
			continue;
		/* spread first polls over one interval so the ward is not
		 * polled in one burst every period */
		int64_t interval = (int64_t)dev->conf->poll_interval_ms * 1000;
		if ((ret = start_one(gw, base, dev, interval * (int64_t)k / (int64_t)n)) < 0)
			return ret;
		k++;
	}
	log_info("modbus-tcp: %zu devices", nmbdevs);
	return 0;
}

static void mbtcp_stop(struct gateway *gw)
{
	for (size_t i = 0; i < nmbdevs; i++) {
		if (mbdevs[i]->dev)
			mbdevs[i]->dev->drv = NULL;
		free_mbdev(mbdevs[i]);
	}
	free(mbdevs);
	mbdevs = NULL;
	nmbdevs = 0;
}

/* Reload: one device at a time. */
static int mbtcp_start_device(struct gateway *gw, struct device *dev)
{
	/* first poll soon, but not all added devices in the same instant */
	return start_one(gw, gw->base, dev, 50000 + (int64_t)(dev->index % 20) * 10000);
}

static void mbtcp_stop_device(struct gateway *gw, struct device *dev)
{
	for (size_t i = 0; i < nmbdevs; i++) {
		if (mbdevs[i] != dev->drv)
			continue;
		free_mbdev(mbdevs[i]);
		mbdevs[i] = mbdevs[--nmbdevs];
		break;
	}
	dev->drv = NULL;
}

static void mbtcp_move_device(struct gateway *gw, struct device *dev)
{
	struct mbdev *m = dev->drv;

	if (!m)
		return;
	m->dev = dev;
	m->c = dev->conf->drv;
}

static void mbtcp_check(struct conf_ctx *ctx, const struct device_conf *dev)
{
	const struct mbtcp_conf *c = dev->drv;

	if (c->host && !*c->host)
		conf_error(ctx, &dev->at, "device %s: host is empty", dev->name ? dev->name : "?");
}

const struct driver_ops modbus_tcp_driver = {
	.name = "modbus-tcp",
	.opts = mbtcp_opts,
	.conf_size = sizeof(struct mbtcp_conf),
	.check = mbtcp_check,
	.start = mbtcp_start,
	.stop = mbtcp_stop,
	.start_device = mbtcp_start_device,
	.stop_device = mbtcp_stop_device,
	.move_device = mbtcp_move_device,
};
