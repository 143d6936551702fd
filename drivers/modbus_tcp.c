/* Modbus TCP driver, spoken on the libevent loop with non-blocking sockets.
 * Devices at one host:port share one connection (a link): a Modbus TCP
 * gateway with many unit ids behind it, or a serial server / DTU that
 * forwards raw RTU frames (framing = "rtu", CRC checked here). A link
 * carries one request at a time; the devices that want it wait in line.
 * It never waits with select(), so there is no ceiling at FD_SETSIZE, and
 * a dead or slow device costs nothing but its own timer (and, on a shared
 * link, its own timeout). */
#include <errno.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
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
#include "i18n.h"
#include "driver.h"
#include "device.h"
#include "devhealth.h"
#include "log.h"
#include "mbap.h"
#include "plan.h"
#include "pollsched.h"
#include "rtu.h"
#include "clock.h"
#include "sink.h"

/* A poll is on time when it starts within this of its slot (or 5 % of the
 * interval, if larger). */
#define ON_TIME_US 50000

struct mbtcp_conf {
	char *host;
	int port;
	int unit;
	int max_gap;
	int max_regs;
	char *framing;          /* "mbap" (Modbus TCP) or "rtu" (RTU frames over TCP) */
};

static const struct opt mbtcp_opts[] = {
	{ "host", OPT_STRING, offsetof(struct mbtcp_conf, host), 0, 0, 0, NULL, 1 },
	{ "port", OPT_INT, offsetof(struct mbtcp_conf, port), 1, 65535, 502, NULL, 0 },
	{ "unit", OPT_INT, offsetof(struct mbtcp_conf, unit), 0, 255, 1, NULL, 0 },
	/* one read may span this many unused registers (0: contiguous only) */
	{ "max_gap", OPT_INT, offsetof(struct mbtcp_conf, max_gap), 0, 124, 0, NULL, 0 },
	/* the device's limit of registers per request */
	{ "max_regs", OPT_INT, offsetof(struct mbtcp_conf, max_regs), 1, 125, 125, NULL, 0 },
	{ "framing", OPT_STRING, offsetof(struct mbtcp_conf, framing), 0, 0, 0, "mbap", 0 },
	{ 0 }
};

/* C_QUIET: RTU framing on a shared link after a timeout: nothing is sent
 * until the line has been silent for timeout_ms, what comes meanwhile is
 * dropped (RTU has no transaction id: a late reply would otherwise be
 * taken for the answer to the next device's request). */
enum conn_state { C_CLOSED, C_CONNECTING, C_IDLE, C_WAITING, C_QUIET };

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

struct mbdev;
struct mbtcp;

/* What a link or a device keeps to say what went wrong: allocated when
 * something does (5,000 healthy devices keep none) */
#define NOTE_LEN 120
#define PARTIAL_LEN 160

/* One TCP connection, shared by the devices at its host:port. */
struct mblink {
	struct mbtcp *drv;          /* the instance that owns it */
	struct sink *sink;
	char *host;                 /* a copy: the device that made the link may go in a reload */
	int port;
	int rtu;                    /* RTU framing */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int resolved;
	struct dnsq *dnsq;          /* a name being resolved (evdns), or NULL */
	void (*dns_send)(struct mbdev *);       /* the owner's send, once resolved */
	evutil_socket_t fd;
	enum conn_state cs;
	struct event *io, *tmo;     /* io is persistent while connected */
	uint16_t tid;
	uint8_t expect_fc;          /* function of the request in flight */
	/* a reply's bytes: while its bytes are read, a buffer on the stack
	 * (rbuf); between two reads of one reply, @held (allocated then):
	 * 5,000 devices do not keep 5,000 buffers for the few replies that
	 * come in pieces */
	uint8_t *rbuf, *held;
	size_t rlen;
	int64_t deadline_us;
	int crc_errors;             /* RTU: bad frames seen for the request in flight */
	unsigned max_adu;           /* the longest reply the request in flight can have */
	char *note;                 /* the first thing wrong seen for it (NULL or "": none;
				     * NOTE_LEN bytes, allocated when first needed) */
	int64_t quiet_us, quiet_until_us, quiet_max_us;   /* C_QUIET: length, silent until, give up at */
	void (*pending)(struct mbdev *);        /* the owner's send, held while quiet */
	struct mbdev *owner;        /* the device whose request has the link */
	struct mbdev *waitq, *waitq_tail;
	int giving;
	size_t ndevs;
};

struct mbdev {
	struct device *dev;
	struct sink *sink;
	const struct mbtcp_conf *c;
	struct mblink *L;
	struct mbdev *wnext;        /* in the link's wait line */
	int queued;
	struct plan plan;
	struct event *tick;
	size_t cur;                 /* index of the read in flight */
	uint16_t *words;
	double *values;
	unsigned char *no_gap;      /* per register: refused in a gapped read */
	int64_t due_us;             /* slot of the poll in progress / next */
	int64_t wall_start_ms;
	struct dev_health health;   /* state, failures in a row, offline backoff */
	int reads_ok, reads_failed; /* of the poll in progress */
	char *partial;              /* why a read of this poll failed (PARTIAL_LEN,
				     * allocated when first needed) */
	int polling, on_time;
	struct mbwrite *wq, *wq_tail;   /* queued writes */
	size_t nwq;
	struct mbwrite *wr;         /* the write that has the connection */
	int poll_deferred;          /* a poll came due while the link was busy */
	int64_t deferred_due_us;
	uint16_t rb[4];             /* pre-read / read-back words */
};

/* The driver's instance: its devices and their links, and the resolver
 * they share. Nothing of it is global: two instances (a gateway and the
 * write tool, or two gateways in one test) do not meet. */
struct mbtcp {
	struct driver base;
	struct mbdev **devs;
	size_t ndevs;
	struct mblink **links;
	size_t nlinks;
	struct evdns_base *dns;
	int settled;                /* the first settle() spread the first polls */
};

static void on_io(evutil_socket_t fd, short what, void *arg);
static int resolve_numeric(struct mblink *L);
static void start_resolve(struct mbdev *m, void (*send_it)(struct mbdev *));
static void on_tick(evutil_socket_t fd, short what, void *arg);
static void next_op(struct mbdev *m);
static void write_done(struct mbdev *m, int err, double readback, const char *reason);
static void send_write_stage(struct mbdev *m);
static void handle_write_frame(struct mbdev *m, const uint8_t *pdu, size_t pdulen);
static void start_connect(struct mbdev *m);

static void close_conn(struct mblink *L)
{
	if (L->fd >= 0) {
		event_del(L->io);
		close(L->fd);
		L->fd = -1;
	}
	if (L->tmo)
		evtimer_del(L->tmo);
	L->cs = C_CLOSED;
	L->rlen = 0;
	if (!L->rbuf) {             /* (while reading, on_readable lets it go) */
		free(L->held);
		L->held = NULL;
	}
}

static void go(struct mbdev *m, void (*send_it)(struct mbdev *));

/* The quiet period is over (or the connection was closed): the owner's
 * held request goes out. */
static void quiet_over(struct mblink *L)
{
	void (*send_it)(struct mbdev *) = L->pending;

	if (L->cs == C_QUIET)
		L->cs = C_IDLE;
	L->pending = NULL;
	if (send_it && L->owner)
		go(L->owner, send_it);
}

/* A frame dropped while waiting for the reply in flight: counted, and the
 * first one's story kept for the reason if no valid reply comes. */
static void discard(struct mblink *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void discard(struct mblink *L, const char *fmt, ...)
{
	va_list ap;

	sink_count(L->sink, SINK_FRAMES_DISCARDED, 1);
	if (L->note && L->note[0])
		return;
	if (!L->note && !(L->note = malloc(NOTE_LEN)))
		return;         /* the reason says less */
	va_start(ap, fmt);
	vsnprintf(L->note, NOTE_LEN, fmt, ap);
	va_end(ap);
}

/* The longest reply to the request PDU @pdu (an ADU, MBAP or RTU). */
static unsigned reply_max(const uint8_t *pdu, int rtu)
{
	unsigned count = (unsigned)pdu[3] << 8 | pdu[4], body;

	switch (pdu[0]) {
	case 1: case 2: body = 2 + (count + 7) / 8; break;
	case 3: case 4: body = 2 + 2 * count; break;
	default: body = 5; break;       /* writes: the echo */
	}
	return rtu ? 1 + body + 2 : 7 + body;
}

/* ---------- the link's line of devices ---------- */

/* Whether @m has the link now; if not it waits in line for it. */
static int link_take(struct mbdev *m)
{
	struct mblink *L = m->L;

	if (L->owner == m)
		return 1;
	if (!L->owner) {
		L->owner = m;
		return 1;
	}
	if (!m->queued) {
		m->queued = 1;
		m->wnext = NULL;
		if (L->waitq_tail)
			L->waitq_tail->wnext = m;
		else
			L->waitq = m;
		L->waitq_tail = m;
	}
	return 0;
}

/* @m is done with the link for now: the next device in line takes it.
 * A loop, not recursion, so a long line of failing devices is flat. */
static void link_give(struct mbdev *m)
{
	struct mblink *L = m->L;

	if (L->owner == m)
		L->owner = NULL;
	if (L->giving)
		return;
	L->giving = 1;
	while (!L->owner && L->waitq) {
		struct mbdev *n = L->waitq;
		L->waitq = n->wnext;
		if (!L->waitq)
			L->waitq_tail = NULL;
		n->queued = 0;
		L->owner = n;
		next_op(n);
	}
	L->giving = 0;
}

/* The connect or request timeout; a timer, so the socket's epoll
 * registration is not touched per request. */
static void arm_timeout(struct mblink *L)
{
	int64_t left = L->deadline_us - mono_us();
	struct timeval tv;

	if (left < 0)
		left = 0;
	tv.tv_sec = (time_t)(left / 1000000);
	tv.tv_usec = (suseconds_t)(left % 1000000);
	evtimer_add(L->tmo, &tv);
}

static void schedule_next(struct mbdev *m)
{
	struct timeval tv;
	unsigned skipped = poll_schedule_next(&m->due_us, (int64_t)m->dev->conf->poll_interval_ms * 1000,
					      mono_us(), &tv);

	sink_count(m->sink, SINK_SCHEDULED, skipped);
	sink_count(m->sink, SINK_SKIPPED_BUSY, skipped);
	m->dev->due_us = m->due_us;
	evtimer_add(m->tick, &tv);
}

static void finish(struct mbdev *m, int ok, const char *reason)
{
	struct mblink *L = m->L;

	m->polling = 0;
	if (L->cs != C_QUIET)       /* the quiet period keeps its timer */
		evtimer_del(L->tmo);
	if (L->cs == C_WAITING)
		L->cs = C_IDLE;
	sink_poll_done(m->sink, m->dev, m->wall_start_ms, m->values, ok, m->on_time, reason);
	health_poll_done(m->sink, m->dev, &m->health, ok, ok && reason, reason);
	next_op(m);
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
		close_conn(m->L);
	if (m->wr)
		write_done(m, -EIO, NAN, why);
	else
		finish(m, 0, why);
}

/* Send one request PDU, framed for the link. */
static void send_pdu(struct mbdev *m, const uint8_t *pdu, size_t pdulen)
{
	struct mblink *L = m->L;
	uint8_t adu[MBAP_MAX_ADU];
	ssize_t n;
	int len;

	if (L->rtu) {
		len = rtu_wrap(adu, (uint8_t)m->c->unit, pdu, pdulen);
	} else {
		L->tid++;
		adu[0] = (uint8_t)(L->tid >> 8);
		adu[1] = (uint8_t)L->tid;
		adu[2] = adu[3] = 0;
		adu[4] = (uint8_t)((pdulen + 1) >> 8);
		adu[5] = (uint8_t)(pdulen + 1);
		adu[6] = (uint8_t)m->c->unit;
		memcpy(adu + 7, pdu, pdulen);
		len = (int)(7 + pdulen);
	}
	if (len < 0) {
		fail(m, 0, "request too long");
		return;
	}
	L->expect_fc = pdu[0];
	L->crc_errors = 0;
	if (L->note)
		L->note[0] = 0;
	L->max_adu = reply_max(pdu, L->rtu);
	n = send(L->fd, adu, (size_t)len, MSG_NOSIGNAL);
	if (n != (ssize_t)len) {
		fail(m, 1, "send: %s", n < 0 ? strerror(errno) : "short write");
		return;
	}
	sink_count(m->sink, SINK_REQUESTS, 1);
	L->cs = C_WAITING;
	L->rlen = 0;
	L->deadline_us = mono_us() + (int64_t)m->dev->conf->timeout_ms * 1000;
	arm_timeout(L);
}

static void send_read(struct mbdev *m)
{
	const struct plan_read *r = &m->plan.reads[m->cur];
	uint8_t pdu[5];

	send_pdu(m, pdu, mb_read_pdu(pdu, r->table, r->start, r->count));
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
	m->reads_ok = m->reads_failed = 0;
	send_read(m);
}

static void handle_read_pdu(struct mbdev *m, const uint8_t *pdu, size_t pdulen)
{
	const struct plan_read *r = &m->plan.reads[m->cur];
	uint8_t exc = 0;
	int ret = mb_parse_read_pdu(pdu, pdulen, r->table, r->count, m->words, &exc);

	if (ret == -EREMOTEIO && exc == 0x02 && plan_read_has_gap(&m->plan, r, m->dev->conf->profile->regs)) {
		split_read(m, r);
		return;
	}
	if (ret == -EREMOTEIO && exc != 0x0A && exc != 0x0B) {
		/* the device answers, but not this read: its metrics stay
		 * comm_error and the others are still read (a degraded poll) */
		m->reads_failed++;
		if (!m->partial && !(m->partial = malloc(PARTIAL_LEN))) {
			fail(m, 0, "out of memory");
			return;
		}
		snprintf(m->partial, PARTIAL_LEN, "exception 0x%02x (%s) reading %u %s at 0x%04x", exc,
			 mbap_exception_str(exc), r->count, reg_table_name(r->table), r->start);
		goto next;
	}
	if (ret == -EREMOTEIO) {
		/* a TCP gateway says nobody answered behind it */
		fail(m, 0, "exception 0x%02x (%s) reading %u %s at 0x%04x", exc, mbap_exception_str(exc), r->count,
		     reg_table_name(r->table), r->start);
		return;
	}
	if (ret < 0) {
		fail(m, 1, "malformed reply to %s read at 0x%04x", reg_table_name(r->table), r->start);
		return;
	}
	decode_read(m, r);
	m->reads_ok++;
next:
	if (++m->cur < m->plan.nreads) {
		send_read(m);
		return;
	}
	if (!m->reads_ok) {
		fail(m, 0, "%s", m->partial);
		return;
	}
	finish(m, 1, m->reads_failed ? m->partial : NULL);
}

/* One whole frame at the start of rbuf, for the link's owner. */
static void handle_frame(struct mblink *L, size_t flen)
{
	struct mbdev *m = L->owner;
	uint8_t frame[MBAP_MAX_ADU];
	const uint8_t *pdu = NULL;
	size_t pdulen = 0;
	int ret;

	/* take it out of the buffer first: handling may send the next request */
	memcpy(frame, L->rbuf, flen);
	memmove(L->rbuf, L->rbuf + flen, L->rlen - flen);
	L->rlen -= flen;
	if (L->rtu) {
		ret = rtu_unwrap(frame, flen, (uint8_t)m->c->unit, &pdu, &pdulen);
		if (ret == -EILSEQ) {
			/* noise, or a serial side at another baud rate or
			 * parity; what follows may still be our reply */
			L->crc_errors++;
			sink_count(L->sink, SINK_FRAMES_DISCARDED, 1);
			L->rlen = 0;
			return;
		}
	} else {
		ret = (((unsigned)frame[0] << 8) | frame[1]) != L->tid ? -ENOMSG : frame[6] != m->c->unit ? -EBADMSG : 0;
		pdu = frame + 7;
		pdulen = flen - 7;
	}
	if (ret == -ENOMSG) {
		/* a late answer to a request we gave up on: wait for ours */
		if (L->rtu)
			discard(L, "dropped a reply from unit %u", frame[0]);
		else
			discard(L, "dropped a reply with transaction id %u (sent %u)",
				((unsigned)frame[0] << 8) | frame[1], L->tid);
		return;
	}
	if (ret < 0) {
		fail(m, 1, "malformed reply (unit %u, not %d)", frame[L->rtu ? 0 : 6], m->c->unit);
		return;
	}
	if (m->wr)
		handle_write_frame(m, pdu, pdulen);
	else
		handle_read_pdu(m, pdu, pdulen);
}

static void read_frames(struct mblink *L)
{
	for (;;) {
		ssize_t n = recv(L->fd, L->rbuf + L->rlen, MBAP_MAX_ADU - L->rlen, 0);
		if (n == 0) {
			fail(L->owner, 1, "connection closed by the device");
			return;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;         /* the rest comes later */
			if (errno == EINTR)
				continue;
			fail(L->owner, 1, "recv: %s", strerror(errno));
			return;
		}
		L->rlen += (size_t)n;
		for (;;) {
			int flen = L->rtu ? rtu_reply_len(L->rbuf, L->rlen, L->expect_fc) : mbap_frame_len(L->rbuf, L->rlen);
			if (flen < 0 && L->rtu) {
				/* not the start of our reply: drop it, keep waiting */
				L->crc_errors++;
				sink_count(L->sink, SINK_FRAMES_DISCARDED, 1);
				L->rlen = 0;
				break;
			}
			if (flen < 0) {
				sink_count(L->sink, SINK_FRAMES_DISCARDED, 1);
				fail(L->owner, 1, "malformed MBAP header");
				return;
			}
			if (!L->rtu && (unsigned)flen > L->max_adu) {
				/* no reply to this request is that long: the stream
				 * cannot be trusted any more */
				sink_count(L->sink, SINK_FRAMES_DISCARDED, 1);
				fail(L->owner, 1, "malformed reply: MBAP length field %d, a reply to this request has at "
				     "most %u", flen - 6, L->max_adu - 6);
				return;
			}
			if (flen == 0 || L->rlen < (size_t)flen)
				break;
			handle_frame(L, (size_t)flen);
			if (L->cs != C_WAITING)
				return;     /* done, failed or closed */
		}
		if (L->rlen == MBAP_MAX_ADU) {
			fail(L->owner, 1, "malformed reply: frame larger than %d bytes", MBAP_MAX_ADU);
			return;
		}
	}
}

static void on_readable(struct mblink *L)
{
	uint8_t buf[MBAP_MAX_ADU];

	if (L->rlen)
		memcpy(buf, L->held, L->rlen);
	L->rbuf = buf;
	read_frames(L);
	L->rbuf = NULL;
	if (!L->rlen) {
		free(L->held);
		L->held = NULL;
		return;
	}
	/* a reply begun: its bytes wait for the rest */
	if (!L->held && !(L->held = malloc(MBAP_MAX_ADU))) {
		L->rlen = 0;
		fail(L->owner, 1, "out of memory for a reply");
		return;
	}
	memcpy(L->held, buf, L->rlen);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct mblink *L = arg;
	struct mbdev *m = L->owner;
	int to;
	char why[160];

	if (L->cs == C_QUIET) {
		int64_t now = mono_us();
		if (now >= L->quiet_until_us) {
			quiet_over(L);
		} else {
			L->deadline_us = L->quiet_until_us;
			arm_timeout(L);
		}
		return;
	}
	to = m->dev->conf->timeout_ms;

	if (L->cs == C_CONNECTING)
		snprintf(why, sizeof(why), "connect timed out after %d ms", to);
	else if (L->crc_errors)
		snprintf(why, sizeof(why), "CRC error in the reply (%d bad frame%s within %d ms): wrong baud rate or "
			 "parity on the serial side, or noise on the line", L->crc_errors, L->crc_errors > 1 ? "s" : "", to);
	else if (L->note && L->note[0])
		snprintf(why, sizeof(why), "no valid reply within %d ms: %s", to, L->note);
	else if (L->rlen && L->cs == C_WAITING) {
		int flen = L->rtu ? rtu_reply_len(L->held, L->rlen, L->expect_fc) : mbap_frame_len(L->held, L->rlen);
		/* before its header is whole, the length a reply to this request has */
		snprintf(why, sizeof(why), "no whole reply within %d ms: %zu of %u bytes came", to, L->rlen,
			 flen > 0 ? (unsigned)flen : L->max_adu);
		sink_count(L->sink, SINK_FRAMES_DISCARDED, 1);
	} else
		snprintf(why, sizeof(why), "no reply within %d ms", to);
	/* alone on its connection the device may be confused: start afresh;
	 * a shared one stays up for the others: with MBAP late replies are
	 * told by their transaction id; with RTU framing the link waits for
	 * silence first, dropping what comes */
	if (L->cs == C_CONNECTING || L->ndevs == 1) {
		close_conn(L);
	} else if (L->rtu) {
		int64_t now = mono_us();
		L->cs = C_QUIET;
		L->rlen = 0;
		L->pending = NULL;
		L->quiet_us = (int64_t)to * 1000;
		L->quiet_until_us = now + L->quiet_us;
		L->quiet_max_us = now + 4 * L->quiet_us;
		L->deadline_us = L->quiet_until_us;
		arm_timeout(L);
	} else {
		evtimer_del(L->tmo);
		L->cs = C_IDLE;
	}
	if (m->wr)
		write_done(m, -ETIMEDOUT, NAN, why);
	else
		finish(m, 0, why);
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
	struct mblink *L = arg;
	struct mbdev *m = L->owner;

	if (L->cs == C_CONNECTING) {
		int err = 0;
		socklen_t l = sizeof(err);
		getsockopt(L->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err) {
			fail(m, 1, "connect: %s", strerror(err));
			return;
		}
		/* from now on one persistent read registration per connection */
		event_assign(L->io, sink_base(L->sink), L->fd, EV_READ | EV_PERSIST, on_io, L);
		event_add(L->io, NULL);
		L->cs = C_IDLE;
		if (m->wr)
			send_write_stage(m);
		else
			send_read(m);
		return;
	}
	if (L->cs == C_WAITING) {
		on_readable(L);
		return;
	}
	if (L->cs == C_QUIET) {
		/* a late reply, or noise: dropped, and the silence starts again;
		 * a line that never goes quiet gets a new connection */
		uint8_t junk[256];
		ssize_t n = recv(L->fd, junk, sizeof(junk), 0);
		int64_t now = mono_us();
		if (n > 0) {
			sink_count(L->sink, SINK_FRAMES_DISCARDED, 1);
			L->quiet_until_us = now + L->quiet_us;
		}
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || (n > 0 && now >= L->quiet_max_us)) {
			close_conn(L);
			quiet_over(L);
		}
		return;
	}
	/* data while idle: a late reply after a timeout, dropped; EOF: the
	 * device closed, start afresh at the next request */
	uint8_t junk[256];
	ssize_t n = recv(L->fd, junk, sizeof(junk), 0);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		close_conn(L);
}

static void start_connect(struct mbdev *m)
{
	struct mblink *L = m->L;
	int one = 1;

	L->fd = socket(L->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (L->fd < 0) {
		fail(m, 0, "socket: %s", strerror(errno));
		return;
	}
	setsockopt(L->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	L->deadline_us = mono_us() + (int64_t)m->dev->conf->timeout_ms * 1000;
	if (connect(L->fd, (struct sockaddr *)&L->addr, L->addrlen) < 0 && errno != EINPROGRESS) {
		fail(m, 1, "connect: %s", strerror(errno));
		return;
	}
	/* completion (or refusal) shows as writability */
	L->cs = C_CONNECTING;
	event_assign(L->io, sink_base(L->sink), L->fd, EV_WRITE, on_io, L);
	event_add(L->io, NULL);
	arm_timeout(L);
}

/* Connected: send the owner's request; else connect (resolving first). */
static void go(struct mbdev *m, void (*send_it)(struct mbdev *))
{
	struct mblink *L = m->L;

	if (L->cs == C_QUIET)
		L->pending = send_it;   /* after the silence */
	else if (L->cs != C_CLOSED)
		send_it(m);
	else if (L->resolved)
		start_connect(m);
	else if (L->dnsq)
		L->dns_send = send_it;  /* the name is being resolved */
	else
		start_resolve(m, send_it);
}

/* Start the poll of the slot due at @due_us; @m has the link. */
static void start_poll(struct mbdev *m, int64_t due_us)
{
	int64_t late = mono_us() - due_us;
	int64_t slack = (int64_t)m->dev->conf->poll_interval_ms * 50;   /* 5 % in µs */

	m->polling = 1;
	m->on_time = late <= (slack > ON_TIME_US ? slack : ON_TIME_US);
	m->cur = 0;
	m->reads_ok = m->reads_failed = 0;
	m->wall_start_ms = wall_ms();
	for (size_t i = 0; i < m->plan.nregs; i++)
		m->values[i] = NAN;
	sink_poll_started(m->sink, m->dev, late);
	go(m, send_read);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct mbdev *m = arg;
	int64_t now = mono_us();

	sink_count(m->sink, SINK_SCHEDULED, 1);
	if (m->polling || m->poll_deferred) {
		sink_count(m->sink, SINK_SKIPPED_BUSY, 1);
	} else if (health_backing_off(&m->health, now)) {
		sink_count(m->sink, SINK_SKIPPED_OFFLINE, 1);
	} else {
		/* now, or as soon as the link (or a write) lets it */
		m->poll_deferred = 1;
		m->deferred_due_us = m->due_us;
		next_op(m);
	}
	schedule_next(m);
}

/* What @m wants next, when it can have the link: its due poll first, then
 * the next write; with nothing to do it lets the link go. */
static void next_op(struct mbdev *m)
{
	if (m->polling || m->wr)
		return;
	if (!m->poll_deferred && !m->wq) {
		link_give(m);
		return;
	}
	if (!link_take(m))
		return;
	if (m->poll_deferred) {
		m->poll_deferred = 0;
		start_poll(m, m->deferred_due_us);
		return;
	}
	m->wr = m->wq;
	m->wq = m->wr->next;
	if (!m->wq)
		m->wq_tail = NULL;
	m->nwq--;
	m->wr->next = NULL;
	m->wr->stage = m->wr->merge_bit ? W_PREREAD : W_WRITE;
	go(m, send_write_stage);
}

/* ---------- writes ---------- */

/* The write in progress has its answer: hand it to the caller (who may
 * queue another from the callback), then let the connection go on. */
static void write_done(struct mbdev *m, int err, double readback, const char *reason)
{
	struct mbwrite *w = m->wr;
	struct mblink *L = m->L;

	m->wr = NULL;
	if (L->cs != C_QUIET)
		evtimer_del(L->tmo);
	if (L->cs == C_WAITING)
		L->cs = C_IDLE;
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

static void send_write_stage(struct mbdev *m)
{
	struct mbwrite *w = m->wr;
	const struct reg_def *d = &m->dev->conf->profile->regs[w->reg];
	uint8_t pdu[MB_MAX_PDU];
	int len;

	if (w->stage == W_WRITE)
		len = mb_write_pdu(pdu, w->fc, d->address, w->words, w->count);
	else
		len = (int)mb_read_pdu(pdu, d->table, d->address, w->stage == W_PREREAD ? 1 : w->count);
	if (len < 0) {
		write_done(m, -EINVAL, NAN, "cannot build the request");
		return;
	}
	send_pdu(m, pdu, (size_t)len);
}

static void handle_write_frame(struct mbdev *m, const uint8_t *pdu, size_t pdulen)
{
	struct mbwrite *w = m->wr;
	const struct reg_def *d = &m->dev->conf->profile->regs[w->reg];
	uint8_t exc = 0;
	char why[160];
	int ret;

	if (w->stage == W_WRITE)
		ret = mb_parse_write_pdu(pdu, pdulen, w->fc, d->address, w->words, w->count, &exc);
	else
		ret = mb_parse_read_pdu(pdu, pdulen, d->table, w->stage == W_PREREAD ? 1 : w->count, m->rb, &exc);
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
		close_conn(m->L);
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

static int mbtcp_write(struct driver *drv, struct device *dev, size_t reg, double value,
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

/* Host names are resolved when first needed, on the loop through
 * libevent's evdns (getaddrinfo would block the loop for as long as a DNS
 * server takes not to answer), and again after a failure; a name that
 * does not resolve makes that device offline, not the gateway fail.
 * Numeric addresses need no resolver. */
struct dnsq {
	struct mblink *L;           /* NULL: the link went (the answer is dropped) */
	struct evdns_getaddrinfo_request *req;
	int in_call, done;
};

static int resolve_numeric(struct mblink *L)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	char port[8];

	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%d", L->port);
	if (getaddrinfo(L->host, port, &hints, &res) || !res || res->ai_addrlen > sizeof(L->addr)) {
		if (res)
			freeaddrinfo(res);
		return -EHOSTUNREACH;
	}
	memcpy(&L->addr, res->ai_addr, res->ai_addrlen);
	L->addrlen = res->ai_addrlen;
	L->resolved = 1;
	freeaddrinfo(res);
	return 0;
}

static void on_resolved(int result, struct evutil_addrinfo *res, void *arg)
{
	struct dnsq *q = arg;
	struct mblink *L = q->L;
	void (*send_it)(struct mbdev *) = NULL;
	char why[160] = "";

	q->done = 1;
	if (L) {
		send_it = L->dns_send;
		L->dns_send = NULL;
		L->dnsq = NULL;
		if (result == 0 && res && res->ai_addrlen <= sizeof(L->addr)) {
			memcpy(&L->addr, res->ai_addr, res->ai_addrlen);
			L->addrlen = (socklen_t)res->ai_addrlen;
			L->resolved = 1;
		} else {
			snprintf(why, sizeof(why), "cannot resolve %s: %s", L->host,
				 result ? evutil_gai_strerror(result) : "no address");
		}
	}
	if (res)
		evutil_freeaddrinfo(res);
	if (!q->in_call)
		free(q);
	if (!L || !L->owner || !send_it)
		return;
	if (L->resolved)
		go(L->owner, send_it);
	else
		fail(L->owner, 0, "%s", why);
}

static void start_resolve(struct mbdev *m, void (*send_it)(struct mbdev *))
{
	struct mblink *L = m->L;
	struct evutil_addrinfo hints = { 0 };
	struct evdns_getaddrinfo_request *r;
	struct dnsq *q;
	char port[8];

	if (resolve_numeric(L) == 0) {
		start_connect(m);
		return;
	}
	struct evdns_base **dns = &L->drv->dns;

	if (!*dns && (*dns = evdns_base_new(sink_base(L->sink), EVDNS_BASE_INITIALIZE_NAMESERVERS)) != NULL) {
		/* a poll waits for the name: not for long */
		evdns_base_set_option(*dns, "timeout:", "2");
		evdns_base_set_option(*dns, "attempts:", "2");
	}
	if (!*dns || !(q = calloc(1, sizeof(*q)))) {
		fail(m, 0, "cannot resolve %s: no resolver (/etc/resolv.conf)", L->host);
		return;
	}
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%d", L->port);
	q->L = L;
	L->dnsq = q;
	L->dns_send = send_it;
	q->in_call = 1;
	/* may answer at once (a name in /etc/hosts, an error): then the
	 * callback has run and q is ours to free */
	r = evdns_getaddrinfo(*dns, L->host, port, &hints, on_resolved, q);
	q->in_call = 0;
	if (q->done)
		free(q);
	else
		q->req = r;
}

static void free_mbdev(struct mbdev *m)
{
	if (!m)
		return;
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
	if (m->tick)
		event_free(m->tick);
	plan_release(&m->plan);
	free(m->no_gap);
	free(m->partial);
	free(m->words);
	free(m->values);
	free(m);
}

static void free_link(struct mblink *L)
{
	if (L->dnsq) {
		/* its answer is dropped; cancelling calls back with EAI_CANCEL */
		struct dnsq *q = L->dnsq;
		L->dnsq = NULL;
		q->L = NULL;
		if (q->req)
			evdns_getaddrinfo_cancel(q->req);
	}
	close_conn(L);
	if (L->io)
		event_free(L->io);
	if (L->tmo)
		event_free(L->tmo);
	free(L->host);
	free(L->held);
	free(L->note);
	free(L);
}

static struct mblink *link_for(struct mbtcp *t, const struct mbtcp_conf *c)
{
	struct event_base *base = sink_base(t->base.sink);
	struct mblink *L;

	for (size_t i = 0; i < t->nlinks; i++)
		if (t->links[i]->port == c->port && !strcmp(t->links[i]->host, c->host))
			return t->links[i];
	struct mblink **nl = realloc(t->links, (t->nlinks + 1) * sizeof(*nl));
	if (!nl)
		return NULL;
	t->links = nl;
	if (!(L = calloc(1, sizeof(*L))))
		return NULL;
	L->drv = t;
	L->sink = t->base.sink;
	L->fd = -1;
	if (!(L->host = strdup(c->host))) {
		free(L);
		return NULL;
	}
	L->port = c->port;
	L->rtu = !strcmp(c->framing, "rtu");
	L->io = event_new(base, -1, 0, on_io, L);
	L->tmo = evtimer_new(base, on_timeout, L);
	if (!L->io || !L->tmo) {
		free_link(L);
		return NULL;
	}
	t->links[t->nlinks++] = L;
	return L;
}

static void leave_link(struct mbdev *m);

/* Arm @m's first poll @first_us from now. */
static void arm_first(struct mbdev *m, int64_t first_us)
{
	struct timeval tv = { (time_t)(first_us / 1000000), (suseconds_t)(first_us % 1000000) };

	m->due_us = m->dev->due_us = mono_us() + first_us;
	if (sink_polling(m->sink))
		evtimer_add(m->tick, &tv);
}

/* Take @m out of the instance's list and free it (its link left). */
static void drop_mbdev(struct mbtcp *t, struct mbdev *m)
{
	for (size_t i = 0; i < t->ndevs; i++)
		if (t->devs[i] == m) {
			t->devs[i] = t->devs[--t->ndevs];
			break;
		}
	leave_link(m);
	free_mbdev(m);
}

/* Create @dev's instance on its host:port's link. Its first poll: on its
 * old slots when a reload restarts it (a reload that restarts every device
 * must not poll them all at once); at start-up spread over one interval
 * by settle(); added by a reload: soon, but not all in the same instant. */
static int mbtcp_start_device(struct driver *drv, struct device *dev)
{
	struct mbtcp *t = (struct mbtcp *)drv;
	const struct profile *p = dev->conf->profile;
	struct mbdev *m, **nl;
	unsigned maxcount = 1;
	int ret = -ENOMEM;

	m = calloc(1, sizeof(*m));
	nl = m ? realloc(t->devs, (t->ndevs + 1) * sizeof(*t->devs)) : NULL;
	if (!nl) {
		free(m);
		return -ENOMEM;
	}
	t->devs = nl;
	t->devs[t->ndevs++] = m;
	m->dev = dev;
	m->sink = drv->sink;
	m->c = dev->conf->drv;
	dev->drv = m;
	if (!(m->L = link_for(t, m->c)))
		goto fail;
	m->L->ndevs++;
	m->no_gap = calloc(p->nregs ? p->nregs : 1, 1);
	if (!m->no_gap)
		goto fail;
	if ((ret = plan_build_ex(&m->plan, p->regs, p->nregs, (unsigned)m->c->max_gap,
				 (unsigned)m->c->max_regs, NULL)) < 0)
		goto fail;
	ret = -ENOMEM;
	for (size_t r = 0; r < m->plan.nreads; r++)
		if (m->plan.reads[r].count > maxcount)
			maxcount = m->plan.reads[r].count;
	m->words = calloc(maxcount, sizeof(*m->words));
	m->values = calloc(p->nregs ? p->nregs : 1, sizeof(*m->values));
	m->tick = evtimer_new(sink_base(drv->sink), on_tick, m);
	if (!m->words || !m->values || !m->tick)
		goto fail;
	/* a numeric address now; a name at the first poll, on the loop */
	if (m->L->ndevs == 1 && !m->L->resolved && resolve_numeric(m->L) < 0 && !m->c->host[0])
		log_warn("modbus %s: host is empty; will retry", dev->conf->name);
	int64_t now = mono_us();
	int64_t resume = poll_schedule_resume(dev->due_us, now, (int64_t)dev->conf->poll_interval_ms * 1000);
	if (resume)
		arm_first(m, resume - now);
	else if (t->settled)
		arm_first(m, 50000 + (int64_t)(dev->index % 20) * 10000);
	return 0;
fail:
	dev->drv = NULL;
	drop_mbdev(t, m);
	return ret;
}

/* Start-up: the first polls spread over one interval, so the ward is not
 * polled in one burst every period; then what runs, in the log. */
static void mbtcp_settle(struct driver *drv)
{
	struct mbtcp *t = (struct mbtcp *)drv;
	size_t shared = 0, k = 0;

	if (t->settled)
		return;
	t->settled = 1;
	if (!t->ndevs)
		return;
	for (size_t i = 0; i < t->ndevs; i++) {
		struct mbdev *m = t->devs[i];
		int64_t interval = (int64_t)m->dev->conf->poll_interval_ms * 1000;
		if (!m->due_us)
			arm_first(m, interval * (int64_t)k++ / (int64_t)t->ndevs);
	}
	for (size_t i = 0; i < t->nlinks; i++)
		if (t->links[i]->ndevs > 1) {
			shared++;
			log_info("modbus-tcp %s:%d: %zu devices share one connection%s", t->links[i]->host,
				 t->links[i]->port, t->links[i]->ndevs, t->links[i]->rtu ? " (RTU framing)" : "");
		}
	log_info("modbus-tcp: %zu devices on %zu connections (%zu shared)", t->ndevs, t->nlinks, shared);
}

/* Take @m out of its link: out of the line, and if its request has the
 * link, that request is abandoned (the connection closed, so a late reply
 * cannot be taken for the next device's) and the next in line goes on. */
static void leave_link(struct mbdev *m)
{
	struct mblink *L = m->L;

	if (!L)
		return;
	if (m->queued) {
		struct mbdev **pp = &L->waitq, *prev = NULL;
		while (*pp && *pp != m) {
			prev = *pp;
			pp = &(*pp)->wnext;
		}
		if (*pp) {
			*pp = m->wnext;
			if (L->waitq_tail == m)
				L->waitq_tail = prev;
		}
		m->queued = 0;
	}
	if (L->owner == m) {
		close_conn(L);
		L->pending = NULL;
	}
	if (L->ndevs)
		L->ndevs--;
	if (!L->ndevs) {
		struct mbtcp *t = L->drv;
		for (size_t i = 0; i < t->nlinks; i++)
			if (t->links[i] == L) {
				t->links[i] = t->links[--t->nlinks];
				break;
			}
		free_link(L);
	} else {
		link_give(m);       /* the next device in line takes the link */
	}
	m->L = NULL;
}

static void mbtcp_stop_device(struct driver *drv, struct device *dev)
{
	struct mbdev *m = dev->drv;

	dev->drv = NULL;    /* a cancelled write's answer may write again: refused */
	if (m)
		drop_mbdev((struct mbtcp *)drv, m);
}

static void mbtcp_move_device(struct driver *drv, struct device *dev)
{
	struct mbdev *m = dev->drv;

	if (!m)
		return;
	m->dev = dev;
	m->c = dev->conf->drv;
}

static int mbtcp_new(struct driver **out, struct sink *sink)
{
	struct mbtcp *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	*out = &t->base;
	return 0;
}

static void mbtcp_free(struct driver *drv)
{
	struct mbtcp *t = (struct mbtcp *)drv;

	/* devices left (the gateway stops them all first) go now, without
	 * handing their links on */
	for (size_t i = 0; i < t->ndevs; i++) {
		if (t->devs[i]->dev)
			t->devs[i]->dev->drv = NULL;
		free_mbdev(t->devs[i]);
	}
	t->ndevs = 0;
	while (t->nlinks)
		free_link(t->links[--t->nlinks]);
	if (t->dns)
		evdns_base_free(t->dns, 0);
	free(t->links);
	free(t->devs);
	free(t);
}

static void mbtcp_check(struct conf_ctx *ctx, const struct device_conf *dev)
{
	const struct mbtcp_conf *c = dev->drv;

	if (c->host && !*c->host)
		conf_error(ctx, &dev->at, _("device %s: host is empty"), dev->name ? dev->name : "?");
	if (c->framing && strcmp(c->framing, "mbap") && strcmp(c->framing, "rtu"))
		conf_error(ctx, &dev->at, _("device %s: framing must be \"mbap\" (Modbus TCP) or \"rtu\" (RTU frames "
			   "over TCP, for serial servers and DTUs), got \"%s\""), dev->name ? dev->name : "?", c->framing);
	if (c->framing && !strcmp(c->framing, "rtu") && (c->unit < 1 || c->unit > 247))
		conf_error(ctx, &dev->at, _("device %s: unit %d cannot be addressed on a serial line (1..247)"),
			   dev->name ? dev->name : "?", c->unit);
}

/* Devices at one host:port share a connection, so one framing. (Two
 * devices may name one unit id: two register sets at different intervals.) */
static void mbtcp_check_all(struct conf_ctx *ctx, const struct gw_config *cfg)
{
	for (size_t i = 0; i < cfg->ndevices; i++) {
		const struct device_conf *a = &cfg->devices[i];
		const struct mbtcp_conf *ca = a->drv;
		if (a->driver != &modbus_tcp_driver || !ca->host || !ca->framing)
			continue;
		for (size_t j = 0; j < i; j++) {
			const struct device_conf *b = &cfg->devices[j];
			const struct mbtcp_conf *cb = b->drv;
			if (b->driver != &modbus_tcp_driver || !cb->host || !cb->framing || ca->port != cb->port ||
			    strcmp(ca->host, cb->host))
				continue;
			/* against the first device there only: one error per device */
			if (strcmp(ca->framing, cb->framing))
				conf_error(ctx, &a->at, _("device %s: framing \"%s\" on %s:%d, but %s (line %d) there uses \"%s\"; "
					   "devices at one host:port share its connection"), a->name, ca->framing, ca->host,
					   ca->port, b->name, b->at.line, cb->framing);
			break;
		}
	}
}

const struct driver_ops modbus_tcp_driver = {
	.name = "modbus-tcp",
	.opts = mbtcp_opts,
	.conf_size = sizeof(struct mbtcp_conf),
	.check = mbtcp_check,
	.check_all = mbtcp_check_all,
	.new = mbtcp_new,
	.free = mbtcp_free,
	.start_device = mbtcp_start_device,
	.stop_device = mbtcp_stop_device,
	.move_device = mbtcp_move_device,
	.settle = mbtcp_settle,
	.write = mbtcp_write,
};
