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

/* Writes wait in a short queue per device and take the connection between
 * polls: a poll that comes due during a write starts right after it. */
#define WRITE_QUEUE_MAX 32

enum wstage { W_PREREAD, W_WRITE, W_READBACK };

struct mbwrite {
	struct mbwrite *next;
	size_t reg;                 /* profile register index */
	double value;               /* engineering units, as asked */
	uint16_t words[4];          /* the registers (or one coil) to write */
	uint16_t count;
	uint8_t fc;                 /* 5, 6, 15 or 16 */
	int merge_bit;              /* a bit of a holding register: read, set, write */
	enum wstage stage;
	gw_write_cb done;
	void *arg;
};

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
	struct mbwrite *wq, *wq_tail;   /* queued writes */
	size_t nwq;
	struct mbwrite *wr;         /* the write that has the connection */
	int poll_deferred;          /* a poll came due during a write */
	int64_t deferred_due_us;
	uint16_t rb[4];             /* pre-read / read-back words */
};

static struct mbdev **mbdevs;
static size_t nmbdevs;

static void on_io(evutil_socket_t fd, short what, void *arg);
static int resolve(struct mbdev *m, char *why, size_t len);
static void on_tick(evutil_socket_t fd, short what, void *arg);
static void next_op(struct mbdev *m);
static void write_done(struct mbdev *m, int err, double readback, const char *reason);
static void send_write_stage(struct mbdev *m);
static void handle_write_frame(struct mbdev *m, size_t flen);
static void start_connect(struct mbdev *m);

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

static void finish_poll(struct mbdev *m, int ok, const char *reason);

static void finish(struct mbdev *m, int ok, const char *reason)
{
	finish_poll(m, ok, reason);
	next_op(m);
}

static void finish_poll(struct mbdev *m, int ok, const char *reason)
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
	if (m->wr)
		write_done(m, -EIO, NAN, why);
	else
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
	if (m->wr) {
		handle_write_frame(m, flen);
		return;
	}
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

	if (m->wr) {
		char why[96];
		snprintf(why, sizeof(why), "%s within %d ms", m->cs == C_CONNECTING ? "no connection" : "no reply",
			 m->dev->conf->timeout_ms);
		close_conn(m);
		write_done(m, -ETIMEDOUT, NAN, why);
		return;
	}
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
		if (m->wr)
			send_write_stage(m);
		else
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

/* Start the poll of the slot due at @due_us. */
static void start_poll(struct mbdev *m, int64_t due_us)
{
	struct gateway *gw = m->gw;
	int64_t late = mono_us() - due_us;
	int64_t slack = (int64_t)m->dev->conf->poll_interval_ms * 50;   /* 5 % in µs */
	char why[160];

	m->polling = 1;
	m->on_time = late <= (slack > ON_TIME_US ? slack : ON_TIME_US);
	m->cur = 0;
	m->wall_start_ms = wall_ms();
	for (size_t i = 0; i < m->plan.nregs; i++)
		m->values[i] = NAN;
	gateway_poll_started(gw, m->dev, late);
	if (m->cs != C_CLOSED)
		send_read(m);
	else if (m->resolved || resolve(m, why, sizeof(why)) == 0)
		start_connect(m);
	else
		fail(m, 0, "%s", why);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct mbdev *m = arg;
	struct gateway *gw = m->gw;
	int64_t now = mono_us();

	gw->stats.scheduled++;
	if (m->polling || m->poll_deferred) {
		gw->stats.skipped_busy++;
	} else if (m->retry_at_us && now < m->retry_at_us) {
		gw->stats.skipped_offline++;
	} else if (m->wr) {
		m->poll_deferred = 1;   /* right after the write */
		m->deferred_due_us = m->due_us;
	} else {
		start_poll(m, m->due_us);
	}
	schedule_next(m);
}

/* ---------- writes ---------- */

/* The connection is free: a deferred poll first, then the next write. */
static void next_op(struct mbdev *m)
{
	char why[160];

	if (m->polling || m->wr)
		return;
	if (m->poll_deferred) {
		m->poll_deferred = 0;
		start_poll(m, m->deferred_due_us);
		return;
	}
	if (!m->wq)
		return;
	m->wr = m->wq;
	m->wq = m->wr->next;
	if (!m->wq)
		m->wq_tail = NULL;
	m->nwq--;
	m->wr->next = NULL;
	m->wr->stage = m->wr->merge_bit ? W_PREREAD : W_WRITE;
	if (m->cs != C_CLOSED)
		send_write_stage(m);
	else if (m->resolved || resolve(m, why, sizeof(why)) == 0)
		start_connect(m);
	else
		write_done(m, -EHOSTUNREACH, NAN, why);
}

/* The write in progress has its answer: hand it to the caller (who may
 * queue another from the callback), then let the connection go on. */
static void write_done(struct mbdev *m, int err, double readback, const char *reason)
{
	struct mbwrite *w = m->wr;

	m->wr = NULL;
	evtimer_del(m->tmo);
	if (m->cs == C_WAITING)
		m->cs = C_IDLE;
	if (err)
		log_warn("modbus %s: write %s = %g failed: %s", m->dev->conf->name,
			 m->dev->conf->profile->regs[w->reg].metric, w->value, reason);
	else
		log_info("modbus %s: wrote %s = %g (read back %g)", m->dev->conf->name,
			 m->dev->conf->profile->regs[w->reg].metric, w->value, readback);
	w->done(w->arg, err, readback, err ? reason : NULL);
	free(w);
	next_op(m);
}

static void send_adu(struct mbdev *m, const uint8_t *req, size_t len)
{
	ssize_t n = send(m->fd, req, len, MSG_NOSIGNAL);

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

static void send_write_stage(struct mbdev *m)
{
	struct mbwrite *w = m->wr;
	const struct reg_def *d = &m->dev->conf->profile->regs[w->reg];
	uint8_t req[MBAP_MAX_ADU];
	int len;

	m->tid++;
	if (w->stage == W_WRITE)
		len = mbap_write_request(req, m->tid, (uint8_t)m->c->unit, w->fc, d->address, w->words, w->count);
	else
		len = (int)mbap_read_request(req, m->tid, (uint8_t)m->c->unit, d->table, d->address,
					     w->stage == W_PREREAD ? 1 : w->count);
	if (len < 0) {
		write_done(m, -EINVAL, NAN, "cannot build the request");
		return;
	}
	send_adu(m, req, (size_t)len);
}

static void handle_write_frame(struct mbdev *m, size_t flen)
{
	struct mbwrite *w = m->wr;
	const struct reg_def *d = &m->dev->conf->profile->regs[w->reg];
	uint8_t exc = 0;
	char why[160];
	int ret;

	if (w->stage == W_WRITE)
		ret = mbap_parse_write_reply(m->rbuf, flen, m->tid, (uint8_t)m->c->unit, w->fc, d->address,
					     w->words, w->count, &exc);
	else
		ret = mbap_parse_read_reply(m->rbuf, flen, m->tid, (uint8_t)m->c->unit, d->table,
					    w->stage == W_PREREAD ? 1 : w->count, m->rb, &exc);
	memmove(m->rbuf, m->rbuf + flen, m->rlen - flen);
	m->rlen -= flen;
	if (ret == -ENOMSG)
		return;
	const char *what = w->stage == W_WRITE ? "writing" : w->stage == W_PREREAD ? "reading before a bit write" : "reading back";
	if (ret == -EREMOTEIO) {
		snprintf(why, sizeof(why), "exception 0x%02x (%s) %s %s 0x%04x (function %u)", exc,
			 mbap_exception_str(exc), what, reg_table_name(d->table), d->address,
			 w->stage == W_WRITE ? w->fc : mbap_read_fc(d->table));
		write_done(m, -EREMOTEIO, NAN, why);
		return;
	}
	if (ret < 0) {
		snprintf(why, sizeof(why), "malformed reply %s %s 0x%04x", what, reg_table_name(d->table), d->address);
		close_conn(m);
		write_done(m, -EBADMSG, NAN, why);
		return;
	}
	switch (w->stage) {
	case W_PREREAD: {
		uint16_t mask = (uint16_t)(1u << d->bit);
		w->words[0] = (uint16_t)((m->rb[0] & ~mask) | (w->words[0] ? mask : 0));
		w->stage = W_WRITE;
		send_write_stage(m);
		return;
	}
	case W_WRITE:
		w->stage = W_READBACK;
		send_write_stage(m);
		return;
	case W_READBACK:
		break;
	}
	double rb = reg_def_value(d, m->rb);
	int same;
	if (w->merge_bit)
		same = ((m->rb[0] ^ w->words[0]) >> d->bit & 1) == 0;
	else
		same = !memcmp(m->rb, w->words, w->count * sizeof(*w->words));
	if (!same) {
		snprintf(why, sizeof(why), "read back %.10g after writing %.10g", rb, w->value);
		write_done(m, -EIO, rb, why);
		return;
	}
	write_done(m, 0, rb, NULL);
}

static int mbtcp_write(struct gateway *gw, struct device *dev, size_t reg, double value,
		       gw_write_cb done, void *arg)
{
	struct mbdev *m = dev->drv;
	const struct profile *p = dev->conf->profile;
	const struct reg_def *d;
	struct mbwrite *w;
	int ret;

	if (!m || reg >= p->nregs)
		return -EINVAL;
	d = &p->regs[reg];
	if (d->table != TABLE_HOLDING && d->table != TABLE_COIL)
		return -EACCES;
	if (m->nwq >= WRITE_QUEUE_MAX)
		return -EBUSY;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	if ((ret = reg_def_encode(d, value, w->words)) < 0) {
		free(w);
		return ret;
	}
	w->reg = reg;
	w->value = value;
	w->done = done;
	w->arg = arg;
	w->count = (uint16_t)reg_type_words(d->type);
	if (d->table == TABLE_COIL) {
		w->fc = p->write_function == 16 ? 15 : 5;
	} else {
		w->merge_bit = d->type == TYPE_BIT;
		w->fc = w->count == 1 && p->write_function != 16 ? 6 : 16;
	}
	if (m->wq_tail)
		m->wq_tail->next = w;
	else
		m->wq = w;
	m->wq_tail = w;
	m->nwq++;
	next_op(m);
	return 0;
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
	if (m->wr) {
		m->wq_tail = m->wq ? m->wq_tail : m->wr;
		m->wr->next = m->wq;
		m->wq = m->wr;
		m->wr = NULL;
	}
	while (m->wq) {
		struct mbwrite *w = m->wq;
		m->wq = w->next;
		w->done(w->arg, -ECANCELED, NAN, "the gateway is stopping");
		free(w);
	}
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

static int mbtcp_start(struct gateway *gw, struct event_base *base)
{
	size_t n = 0, k = 0;
	int64_t now = mono_us();

	for (size_t i = 0; i < gw->ndevices; i++)
		n += gw->devices[i].conf->driver == &modbus_tcp_driver;
	if (!n)
		return 0;
	mbdevs = calloc(n, sizeof(*mbdevs));
	if (!mbdevs)
		return -ENOMEM;
	for (size_t i = 0; i < gw->ndevices; i++) {
		struct device *dev = &gw->devices[i];
		const struct profile *p = dev->conf->profile;
		struct mbdev *m;
		unsigned maxcount = 1;
		int ret;

		if (dev->conf->driver != &modbus_tcp_driver)
			continue;
		m = calloc(1, sizeof(*m));
		if (!m)
			return -ENOMEM;
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
		m->values = calloc(p->nregs, sizeof(*m->values));
		m->io = event_new(base, -1, 0, on_io, m);
		m->tick = evtimer_new(base, on_tick, m);
		m->tmo = evtimer_new(base, on_timeout, m);
		if (!m->words || !m->values || !m->io || !m->tick || !m->tmo)
			return -ENOMEM;
		if (!m->c->host[0] || resolve(m, (char[160]){ 0 }, 160) < 0)
			log_warn("modbus %s: cannot resolve %s yet; will retry", dev->conf->name, m->c->host);
		/* spread first polls over one interval so the ward is not
		 * polled in one burst every period */
		int64_t interval = (int64_t)dev->conf->poll_interval_ms * 1000;
		m->due_us = now + interval * (int64_t)k / (int64_t)n;
		k++;
		int64_t d = m->due_us - now;
		struct timeval tv = { (time_t)(d / 1000000), (suseconds_t)(d % 1000000) };
		if (!gw->no_poll)
			evtimer_add(m->tick, &tv);
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
	.write = mbtcp_write,
};
