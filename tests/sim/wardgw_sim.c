/* wardgw-sim: a simulated ward for tests, `make run` and the benchmark.
 * One process serves many Modbus TCP devices on consecutive loopback ports
 * (lighting cabinets, SDM120-like and DDS238-like meters) on one libevent
 * loop, with a text control port to break and mend devices. */
#include "sim_hostapd.h"
#include "sim_modem.h"
#include "sim_survey.h"
#include <errno.h>
#include <event2/event.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum kind { K_CABINET, K_SDM120, K_DDS238 };
static const char *const kind_names[] = { "cabinet", "sdm120", "dds238" };

#define MAX_LAMPS 64
#define LAMP_W 100.0
#define REPAIR_S (6 * 3600)
#define LOCAL_OFFSET_S (7 * 3600)

struct dev {
	int idx;
	enum kind kind;
	int port;
	int lfd;                    /* listening socket, -1 when refused */
	struct event *lev;
	int muted, delay_ms, dead;
	/* cabinet state */
	int nlamps;
	double failed_at[MAX_LAMPS];    /* sim time of failure, 0 = working */
	int relay_on;
	int override_level;         /* -1: none */
	double override_until;
	int was_lit;
	/* integrated counters */
	double energy_kwh, import_kwh, op_hours, last_t;
	int switch_count;
	uint64_t served;
};

struct conn {
	int fd;
	struct dev *d;
	struct event *ev;
	uint8_t buf[1024];
	size_t len;
};

struct pending {
	struct conn *c;         /* NULL once the connection closed */
	struct event *ev;
	uint8_t out[260];
	size_t len;
	struct pending *next;
};

static struct event_base *base;
static struct dev *devs;
static int ndevs;
static const char *bind_addr = "127.0.0.1";
static int unit_id = 1, global_delay, frozen, holes;
static double speed = 1.0, start_t, failure_rate = 0.0005;
static struct timespec t0;
static unsigned seed = 1;
static uint64_t requests, exceptions;

/* ---------- the simulated world ---------- */

static double sim_now(void)
{
	struct timespec t;

	if (frozen)
		return start_t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return start_t + speed * ((double)(t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9);
}

/* Deterministic pseudo-random in [0,1) from integers. */
static double hash01(unsigned a, unsigned b, unsigned c)
{
	uint64_t x = (uint64_t)a * 0x9E3779B97F4A7C15ULL ^ (uint64_t)b * 0xC2B2AE3D27D4EB4FULL ^
		     (uint64_t)c * 0x165667B19E3779F9ULL ^ seed;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return (double)(x >> 11) / 9007199254740992.0;
}

static int minute_of_day(double t)
{
	long s = (long)floor(t) + LOCAL_OFFSET_S;

	return (int)(((s % 86400) + 86400) % 86400 / 60);
}

/* The programme: on 18:00-06:00, 100 % until 22:00, 50 % until 04:30. */
static int schedule_level(double t)
{
	int m = minute_of_day(t);

	if (m >= 18 * 60 || m < 6 * 60)
		return (m >= 22 * 60 || m < 4 * 60 + 30) ? 50 : 100;
	return 0;
}

static double next_switch(double t)
{
	static const int points[] = { 4 * 60 + 30, 6 * 60, 18 * 60, 22 * 60 };
	int m = minute_of_day(t);
	double day = t - fmod(t + LOCAL_OFFSET_S, 86400.0);

	for (int i = 0; i < 4; i++)
		if (points[i] > m)
			return day + points[i] * 60.0;
	return day + 86400.0 + points[0] * 60.0;
}

static int failed_count(const struct dev *d)
{
	int n = 0;

	for (int i = 0; i < d->nlamps; i++)
		n += d->failed_at[i] != 0;
	return n;
}

static int level_now(struct dev *d, double t)
{
	if (d->override_level >= 0 && t < d->override_until)
		return d->override_level;
	d->override_level = -1;
	return d->relay_on ? schedule_level(t) : 0;
}

static double cabinet_power(struct dev *d, double t, int *lit_out)
{
	int level = level_now(d, t);
	int lit = level > 0 ? d->nlamps - failed_count(d) : 0;
	double noise = 1.0 + 0.02 * sin(t / 97.0 + d->idx);

	*lit_out = lit;
	return lit * LAMP_W * level / 100.0 * noise;
}

static double meter_power(const struct dev *d, double t)
{
	if (d->kind == K_DDS238)
		return 50.0 + 150.0 * sin(t / 1800.0 + d->idx);   /* exports at times */
	return 800.0 + 400.0 * sin(t / 3600.0 + d->idx);
}

/* Bring a device's counters and failures up to sim time t. */
static void advance(struct dev *d, double t)
{
	double dt = t - d->last_t;
	int lit = 0;
	double p;

	if (dt <= 0)
		return;
	if (d->kind == K_CABINET) {
		p = cabinet_power(d, d->last_t, &lit);
		for (int i = 0; i < d->nlamps; i++) {
			if (d->failed_at[i] && t - d->failed_at[i] > REPAIR_S)
				d->failed_at[i] = 0;
			else if (!d->failed_at[i] && failure_rate > 0 &&
				 hash01((unsigned)d->idx, (unsigned)i, (unsigned)(t / 60)) < failure_rate * dt / 3600.0)
				d->failed_at[i] = t;
		}
		if (lit > 0)
			d->op_hours += dt / 3600.0;
		if (lit > 0 && !d->was_lit)
			d->switch_count++;
		d->was_lit = lit > 0;
	} else {
		p = meter_power(d, d->last_t);
		if (p > 0)
			d->import_kwh += p * dt / 3.6e6;
	}
	d->energy_kwh += fabs(p) * dt / 3.6e6;
	d->last_t = t;
}

static void put_f32(uint16_t *r, double v)
{
	float f = (float)v;
	uint32_t u;

	memcpy(&u, &f, 4);
	r[0] = (uint16_t)(u >> 16);
	r[1] = (uint16_t)u;
}

static uint16_t clamp16(double v)
{
	return v < 0 ? 0 : v > 65535 ? 65535 : (uint16_t)lround(v);
}

/* The register image of a device at sim time t: holding or input table,
 * 0x200 registers. */
static void image(struct dev *d, double t, uint16_t *h, uint16_t *in)
{
	double v = 228.0 + 4.0 * sin(t / 600.0 + d->idx);
	double f = 50.0 + 0.05 * sin(t / 300.0 + d->idx);

	memset(h, 0, 0x200 * sizeof(*h));
	memset(in, 0, 0x200 * sizeof(*in));
	advance(d, t);
	if (d->kind == K_CABINET) {
		int lit;
		double p = cabinet_power(d, t, &lit);
		double pf = lit ? 0.95 : 0.0;
		uint32_t e = (uint32_t)(d->energy_kwh * 100.0);
		uint32_t oh = (uint32_t)d->op_hours;
		h[0] = (uint16_t)d->nlamps;
		h[1] = (uint16_t)lit;
		h[2] = (uint16_t)failed_count(d);
		h[3] = (uint16_t)(lit ? level_now(d, t) : 0);
		h[4] = (uint16_t)(d->idx % 17 == 16);   /* one cabinet in 17 has its door open */
		h[5] = (uint16_t)(int16_t)lround((30.0 + 4.0 * sin(t / 5000.0 + d->idx)) * 10.0);
		h[6] = clamp16(v * 10.0);
		h[7] = clamp16(pf > 0 ? p / (v * pf) * 100.0 : 0);
		put_f32(&h[8], p);
		h[10] = (uint16_t)e;            /* CDAB: low word first */
		h[11] = (uint16_t)(e >> 16);
		h[12] = clamp16(pf * 1000.0);
		h[13] = (uint16_t)(oh >> 16);
		h[14] = (uint16_t)oh;
		h[15] = (uint16_t)d->switch_count;
		h[16] = (uint16_t)level_now(d, t);
	} else if (d->kind == K_SDM120) {
		double p = meter_power(d, t);
		put_f32(&in[0x00], v);
		put_f32(&in[0x06], p / (v * 0.93));
		put_f32(&in[0x0C], p);
		put_f32(&in[0x1E], 0.93);
		put_f32(&in[0x46], f);
		put_f32(&in[0x48], d->import_kwh);
		put_f32(&in[0x156], d->energy_kwh);
	} else {
		double p = meter_power(d, t);
		uint32_t e = (uint32_t)(d->energy_kwh * 100.0);
		h[0] = (uint16_t)(e >> 16);
		h[1] = (uint16_t)e;
		h[0x0C] = clamp16(v * 10.0);
		h[0x0D] = clamp16(fabs(p) / (v * 0.9) * 100.0);
		h[0x0E] = (uint16_t)(int16_t)lround(p);
		h[0x10] = 900;
		h[0x11] = clamp16(f * 100.0);
	}
}

/* Readable ranges per device kind and table (fc 1..4). */
static int in_map(const struct dev *d, int fc, unsigned a, unsigned n)
{
	unsigned end = a + n;

	switch (d->kind) {
	case K_CABINET:
		if (fc == 3)
			return end <= 0x11;
		return (fc == 1 || fc == 2) && end <= 1;
	case K_SDM120:
		/* --holes: like meters that refuse reads touching addresses
		 * they do not implement, 0x0020..0x0045 are missing */
		if (holes && fc == 4 && a < 0x46 && end > 0x20)
			return 0;
		return fc == 4 && (end <= 0x50 || (a >= 0x156 && end <= 0x158));
	case K_DDS238:
		return fc == 3 && end <= 0x16;
	}
	return 0;
}

/* ---------- Modbus TCP server ---------- */

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static unsigned get16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static size_t exception(uint8_t *out, const uint8_t *req, int code)
{
	memcpy(out, req, 7);
	put16(out + 4, 3);
	out[7] = (uint8_t)(req[7] | 0x80);
	out[8] = (uint8_t)code;
	exceptions++;
	return 9;
}

/* Answer one request frame (7-byte MBAP + PDU, already length-checked). */
static size_t answer(struct dev *d, const uint8_t *req, size_t len, uint8_t *out)
{
	uint16_t h[0x200], in[0x200];
	int fc = req[7];
	unsigned a, n;
	double t = sim_now();

	if (req[6] != unit_id && req[6] != 255)
		return exception(out, req, 0x0B);
	if (len < 12 && fc >= 1 && fc <= 16)
		return exception(out, req, 0x03);
	a = get16(req + 8);
	n = get16(req + 10);
	memcpy(out, req, 7);
	out[7] = (uint8_t)fc;
	switch (fc) {
	case 1: case 2: case 3: case 4: {
		int bits = fc <= 2;
		if (n == 0 || n > (bits ? 2000u : 125u))
			return exception(out, req, 0x03);
		if (!in_map(d, fc, a, n))
			return exception(out, req, 0x02);
		image(d, t, h, in);
		if (bits) {
			unsigned nb = (n + 7) / 8;
			/* coil 0 is the relay, discrete input 0 the door contact */
			unsigned v = fc == 1 ? (unsigned)d->relay_on : (unsigned)(h[4] & 1);
			memset(out + 9, 0, nb);
			out[9] = (uint8_t)v;
			out[8] = (uint8_t)nb;
			put16(out + 4, 3 + nb);
			return 9 + nb;
		}
		const uint16_t *src = fc == 4 ? in : h;
		out[8] = (uint8_t)(2 * n);
		for (unsigned i = 0; i < n; i++)
			put16(out + 9 + 2 * i, src[a + i]);
		put16(out + 4, 3 + 2 * n);
		return 9 + 2 * n;
	}
	case 5:
		if (d->kind != K_CABINET || a != 0)
			return exception(out, req, 0x02);
		if (n != 0xFF00 && n != 0)
			return exception(out, req, 0x03);
		advance(d, t);
		d->relay_on = n == 0xFF00;
		memcpy(out, req, 12);
		return 12;
	case 6:
	case 16: {
		unsigned v = n;
		if (fc == 16) {
			if (n != 1 || len != 15 || req[12] != 2)
				return exception(out, req, 0x03);   /* one register only */
			v = get16(req + 13);
		}
		if (d->kind != K_CABINET || a != 0x10)
			return exception(out, req, 0x02);
		if (v > 100)
			return exception(out, req, 0x03);
		advance(d, t);
		d->override_level = (int)v;
		d->override_until = next_switch(t);
		memcpy(out, req, 12);
		if (fc == 16) {
			put16(out + 4, 6);
			put16(out + 10, 1);
		}
		return 12;
	}
	case 15:
		return exception(out, req, d->kind == K_CABINET ? 0x03 : 0x02);
	default:
		return exception(out, req, 0x01);
	}
}

static void conn_close(struct conn *c)
{
	event_free(c->ev);
	close(c->fd);
	c->fd = -1;
	free(c);
}

static void send_reply(struct conn *c, const uint8_t *out, size_t len)
{
	if (send(c->fd, out, len, MSG_NOSIGNAL) < 0 && errno != EAGAIN)
		return;
}

static struct pending *pending_list;

static void on_delayed(evutil_socket_t fd, short what, void *arg)
{
	struct pending *p = arg, **pp;

	if (p->c)
		send_reply(p->c, p->out, p->len);
	for (pp = &pending_list; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	event_free(p->ev);
	free(p);
}

static void on_conn(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	ssize_t n = recv(fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);

	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		for (struct pending *p = pending_list; p; p = p->next)
			if (p->c == c)
				p->c = NULL;
		conn_close(c);
		return;
	}
	c->len += (size_t)n;
	while (c->len >= 7) {
		unsigned l = get16(c->buf + 4);
		uint8_t out[260];
		size_t olen;

		if (get16(c->buf + 2) != 0 || l < 2 || l > 254) {
			for (struct pending *p = pending_list; p; p = p->next)
				if (p->c == c)
					p->c = NULL;
			conn_close(c);
			return;
		}
		if (c->len < 6 + l)
			break;
		requests++;
		c->d->served++;
		if (!c->d->muted && !c->d->dead) {
			olen = answer(c->d, c->buf, 6 + l, out);
			int delay = c->d->delay_ms ? c->d->delay_ms : global_delay;
			if (delay <= 0) {
				send_reply(c, out, olen);
			} else {
				struct pending *p = calloc(1, sizeof(*p));
				struct timeval tv = { delay / 1000, (delay % 1000) * 1000 };
				if (p) {
					p->c = c;
					memcpy(p->out, out, olen);
					p->len = olen;
					p->ev = evtimer_new(base, on_delayed, p);
					p->next = pending_list;
					pending_list = p;
					evtimer_add(p->ev, &tv);
				}
			}
		}
		memmove(c->buf, c->buf + 6 + l, c->len - (6 + l));
		c->len -= 6 + l;
	}
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct dev *d = arg;

	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int one = 1;
		if (fd < 0)
			return;
		struct conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
		c->d = d;
		c->ev = event_new(base, fd, EV_READ | EV_PERSIST, on_conn, c);
		event_add(c->ev, NULL);
	}
}

static int listen_on(int port, int *out)
{
	struct sockaddr_in sa = { 0 };
	int one = 1, fd;

	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, bind_addr, &sa.sin_addr) != 1)
		return -EINVAL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 256) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	*out = fd;
	return 0;
}

static int dev_listen(struct dev *d)
{
	int ret = listen_on(d->port, &d->lfd);

	if (ret < 0)
		return ret;
	d->lev = event_new(base, d->lfd, EV_READ | EV_PERSIST, on_accept, d);
	event_add(d->lev, NULL);
	return 0;
}

static void dev_refuse(struct dev *d)
{
	if (d->lfd < 0)
		return;
	event_free(d->lev);
	close(d->lfd);
	d->lfd = -1;
	/* existing connections of this device are closed as well */
	d->dead = 1;
}

/* ---------- control port ---------- */

struct ctl {
	int fd;
	struct event *ev;
	char buf[512];
	size_t len;
};

static void ctl_reply(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ctl_reply(int fd, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0 && send(fd, line, (size_t)(n < (int)sizeof(line) ? n : (int)sizeof(line) - 1), MSG_NOSIGNAL) < 0)
		return;
}

static int parse_index(const char *s, int *out)
{
	char *end;
	long v;

	if (!s)
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v >= ndevs)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

static double f32_of(const uint16_t *r)
{
	uint32_t u = (uint32_t)r[0] << 16 | r[1];
	float f;

	memcpy(&f, &u, 4);
	return f;
}

/* Print what the registers encode, scaled exactly as the profiles say. */
static void ctl_get(int fd, struct dev *d)
{
	uint16_t h[0x200], in[0x200];

	image(d, sim_now(), h, in);
#define P(name, val) ctl_reply(fd, "%s=%.17g\n", name, (double)(val))
	if (d->kind == K_CABINET) {
		P("lampsInstalled", h[0]);
		P("lampsOn", h[1]);
		P("lampsFailed", h[2]);
		P("actualLightState", h[3] * 0.01);
		P("cabinetDoorOpen", h[4] & 1);
		P("supplyLoss", (h[4] >> 1) & 1);
		P("relayFailure", (h[4] >> 2) & 1);
		P("temperature", (int16_t)h[5] * 0.1);
		P("supplyVoltage", h[6] * 0.1);
		P("supplyCurrent", h[7] * 0.01);
		P("activePower", f32_of(&h[8]));
		P("activeEnergy", ((uint32_t)h[11] << 16 | h[10]) * 0.01);
		P("powerFactor", h[12] * 0.001);
		P("operatingHours", (uint32_t)h[13] << 16 | h[14]);
		P("switchOnCounter", h[15]);
	} else if (d->kind == K_SDM120) {
		P("supplyVoltage", f32_of(&in[0x00]));
		P("supplyCurrent", f32_of(&in[0x06]));
		P("activePower", f32_of(&in[0x0C]));
		P("powerFactor", f32_of(&in[0x1E]));
		P("frequency", f32_of(&in[0x46]));
		P("importEnergy", f32_of(&in[0x48]));
		P("activeEnergy", f32_of(&in[0x156]));
	} else {
		P("activeEnergy", ((uint32_t)h[0] << 16 | h[1]) * 0.01);
		P("supplyVoltage", h[0x0C] * 0.1);
		P("supplyCurrent", h[0x0D] * 0.01);
		P("activePower", (int16_t)h[0x0E]);
		P("powerFactor", h[0x10] * 0.001);
		P("frequency", h[0x11] * 0.01);
	}
#undef P
}

static void ctl_command(int fd, char *line)
{
	char *save = NULL;
	char *cmd = strtok_r(line, " \t\r", &save);
	char *a1 = strtok_r(NULL, " \t\r", &save);
	char *a2 = strtok_r(NULL, " \t\r", &save);
	int i = 0;

	if (!cmd) {
		ctl_reply(fd, "ERR empty command\n");
		return;
	}
	if (!strcmp(cmd, "list")) {
		for (int k = 0; k < ndevs; k++)
			ctl_reply(fd, "%d %s %d %s\n", k, kind_names[devs[k].kind], devs[k].port,
				  devs[k].lfd < 0 ? "refused" : devs[k].muted ? "muted" : "ok");
		ctl_reply(fd, "OK\n");
		return;
	}
	if (!strcmp(cmd, "stats")) {
		ctl_reply(fd, "requests=%llu\nexceptions=%llu\nOK\n", (unsigned long long)requests,
			  (unsigned long long)exceptions);
		return;
	}
	if (parse_index(a1, &i) < 0) {
		ctl_reply(fd, "ERR device index must be 0..%d\n", ndevs - 1);
		return;
	}
	struct dev *d = &devs[i];
	if (!strcmp(cmd, "mute")) {
		d->muted = 1;
	} else if (!strcmp(cmd, "unmute")) {
		d->muted = 0;
	} else if (!strcmp(cmd, "delay")) {
		char *end;
		long ms = a2 ? strtol(a2, &end, 10) : -1;
		if (!a2 || *end || ms < 0 || ms > 60000) {
			ctl_reply(fd, "ERR delay takes 0..60000 ms\n");
			return;
		}
		d->delay_ms = (int)ms;
	} else if (!strcmp(cmd, "refuse")) {
		dev_refuse(d);
	} else if (!strcmp(cmd, "accept")) {
		d->dead = 0;
		if (d->lfd < 0 && dev_listen(d) < 0) {
			ctl_reply(fd, "ERR cannot listen on %d: %s\n", d->port, strerror(errno));
			return;
		}
	} else if (!strcmp(cmd, "fail") || !strcmp(cmd, "repair")) {
		char *end;
		long lamp = a2 ? strtol(a2, &end, 10) : -1;
		if (d->kind != K_CABINET || !a2 || *end || lamp < 0 || lamp >= d->nlamps) {
			ctl_reply(fd, "ERR %s takes a cabinet and a lamp 0..%d\n", cmd, d->nlamps - 1);
			return;
		}
		advance(d, sim_now());
		d->failed_at[lamp] = !strcmp(cmd, "fail") ? (sim_now() > 0 ? sim_now() : 1) : 0;
	} else if (!strcmp(cmd, "get")) {
		ctl_get(fd, d);
	} else {
		ctl_reply(fd, "ERR unknown command '%s'\n", cmd);
		return;
	}
	ctl_reply(fd, "OK\n");
}

static void on_ctl(evutil_socket_t fd, short what, void *arg)
{
	struct ctl *c = arg;
	ssize_t n = recv(fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
	char *nl;

	if (n <= 0) {
		if (n < 0 && errno == EAGAIN)
			return;
		event_free(c->ev);
		close(c->fd);
		free(c);
		return;
	}
	c->len += (size_t)n;
	c->buf[c->len] = 0;
	while ((nl = strchr(c->buf, '\n'))) {
		*nl = 0;
		ctl_command(fd, c->buf);
		memmove(c->buf, nl + 1, c->len - (size_t)(nl + 1 - c->buf) + 1);
		c->len -= (size_t)(nl + 1 - c->buf);
	}
	if (c->len >= sizeof(c->buf) - 1) {
		ctl_reply(fd, "ERR line too long\n");
		c->len = 0;
	}
}

static void on_ctl_accept(evutil_socket_t lfd, short what, void *arg)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct ctl *c;

	if (fd < 0 || !(c = calloc(1, sizeof(*c)))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	c->fd = fd;
	c->ev = event_new(base, fd, EV_READ | EV_PERSIST, on_ctl, c);
	event_add(c->ev, NULL);
}

/* Client mode: send one command to a running simulator. */
static int ctl_client(int port, int argc, char **argv)
{
	struct sockaddr_in sa = { 0 };
	char cmd[512] = "", buf[4096];
	size_t have = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	for (int i = 0; i < argc; i++) {
		if (strlen(cmd) + strlen(argv[i]) + 2 >= sizeof(cmd))
			return 2;
		strcat(cmd, argv[i]);
		strcat(cmd, i + 1 < argc ? " " : "\n");
	}
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "wardgw-sim: cannot reach the control port %d: %s\n", port, strerror(errno));
		return 1;
	}
	if (send(fd, cmd, strlen(cmd), 0) < 0)
		return 1;
	for (;;) {
		ssize_t n = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);
		char *line, *nl;
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = 0;
		line = buf;
		while ((nl = strchr(line, '\n'))) {
			*nl = 0;
			if (!strcmp(line, "OK")) {
				close(fd);
				return 0;
			}
			if (!strncmp(line, "ERR", 3)) {
				fprintf(stderr, "%s\n", line);
				close(fd);
				return 1;
			}
			printf("%s\n", line);
			line = nl + 1;
		}
		have = strlen(line);
		memmove(buf, line, have + 1);
		if (have >= sizeof(buf) - 1)
			have = 0;
	}
	close(fd);
	fprintf(stderr, "wardgw-sim: control connection closed without OK\n");
	return 1;
}

/* ---------- options ---------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wardgw-sim [options]          serve a simulated ward\n"
		"       wardgw-sim --ctl PORT CMD...  send a control command\n"
		"  --bind ADDR          IPv4 address to listen on (127.0.0.1)\n"
		"  --base-port P        first device port (15020); devices take P, P+1, ...\n"
		"  --cabinets N         lighting cabinets (10), then\n"
		"  --sdm120 N           Eastron SDM120-like meters (1), then\n"
		"  --dds238 N           Hiking DDS238-like meters (1)\n"
		"  --unit ID            Modbus unit id the devices answer (1; 255 always)\n"
		"  --delay-ms D         answer every request D ms late (0)\n"
		"  --dead LIST          device indexes (0-based, comma-separated) that never answer\n"
		"  --refuse LIST        device indexes whose port is not listened on\n"
		"  --speed X            simulated clock speed (1)\n"
		"  --start EPOCH        simulated clock start, seconds (now)\n"
		"  --seed S             seed for lamp counts and failures (1)\n"
		"  --freeze             values never change (exact comparisons in tests)\n"
		"  --holes              SDM120s refuse (0x02) reads touching 0x0020..0x0045\n"
		"  --failure-rate R     lamp failures per lamp per simulated hour (0.0005)\n"
		"  --control PORT       text control port on the bind address\n"
		"  --pidfile F          write the process id to F\n"
		"control commands: mute I, unmute I, delay I MS, refuse I, accept I,\n"
		"  fail I LAMP, repair I LAMP, get I, list, stats\n");
}

static int num(const char *opt, const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s ? s : "", &end);
	if (!s || errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "wardgw-sim: %s must be %g..%g (got '%s')\n", opt, lo, hi, s ? s : "");
		exit(2);
	}
	*out = v;
	return 0;
}

static void mark_list(const char *opt, const char *list, int *flags, int n)
{
	char *copy = strdup(list), *save = NULL;

	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		double v;
		num(opt, t, 0, n - 1, &v);
		flags[(int)v] = 1;
	}
	free(copy);
}

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(base);
}

int main(int argc, char **argv)
{
	double v, ncab = 10, nsdm = 1, ndds = 1, base_port = 15020, ctl_port = 0;
	const char *dead = NULL, *refuse = NULL, *pidfile = NULL;
	struct rlimit rl;
	int ctl_fd = -1;

	if (argc > 1 && !strcmp(argv[1], "survey"))
		return sim_survey_main(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "modem"))
		return sim_modem_main(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "hostapd"))
		return sim_hostapd_main(argc - 1, argv + 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	start_t = (double)time(NULL);
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i], *a = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(o, "--ctl")) {
			num(o, a, 1, 65535, &v);
			if (i + 2 >= argc) {
				fprintf(stderr, "wardgw-sim: --ctl PORT needs a command\n");
				return 2;
			}
			return ctl_client((int)v, argc - i - 2, argv + i + 2);
		}
		if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(o, "--holes")) {
			holes = 1;
			continue;
		}
		if (!strcmp(o, "--freeze")) {
			frozen = 1;
			continue;
		}
		if (!a) {
			fprintf(stderr, "wardgw-sim: unknown option or missing value: %s\n", o);
			usage(stderr);
			return 2;
		}
		i++;
		if (!strcmp(o, "--bind")) bind_addr = a;
		else if (!strcmp(o, "--base-port")) num(o, a, 1, 65535, &base_port);
		else if (!strcmp(o, "--cabinets")) num(o, a, 0, 60000, &ncab);
		else if (!strcmp(o, "--sdm120")) num(o, a, 0, 60000, &nsdm);
		else if (!strcmp(o, "--dds238")) num(o, a, 0, 60000, &ndds);
		else if (!strcmp(o, "--unit")) { num(o, a, 0, 255, &v); unit_id = (int)v; }
		else if (!strcmp(o, "--delay-ms")) { num(o, a, 0, 60000, &v); global_delay = (int)v; }
		else if (!strcmp(o, "--speed")) num(o, a, 0.001, 100000, &speed);
		else if (!strcmp(o, "--start")) num(o, a, 0, 4e9, &start_t);
		else if (!strcmp(o, "--seed")) { num(o, a, 0, 4294967295.0, &v); seed = (unsigned)v; }
		else if (!strcmp(o, "--failure-rate")) num(o, a, 0, 1, &failure_rate);
		else if (!strcmp(o, "--control")) num(o, a, 1, 65535, &ctl_port);
		else if (!strcmp(o, "--dead")) dead = a;
		else if (!strcmp(o, "--refuse")) refuse = a;
		else if (!strcmp(o, "--pidfile")) pidfile = a;
		else {
			fprintf(stderr, "wardgw-sim: unknown option %s\n", o);
			usage(stderr);
			return 2;
		}
	}
	ndevs = (int)(ncab + nsdm + ndds);
	if (ndevs == 0 || base_port + ndevs - 1 > 65535) {
		fprintf(stderr, "wardgw-sim: %d devices from port %.0f do not fit below 65536\n", ndevs, base_port);
		return 2;
	}
	/* a listener and a connection per device */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < (rlim_t)(2 * ndevs + 32)) {
			fprintf(stderr, "wardgw-sim: %d devices need %d descriptors; the limit is %llu\n", ndevs,
				2 * ndevs + 32, (unsigned long long)rl.rlim_cur);
			return 1;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	devs = calloc((size_t)ndevs, sizeof(*devs));
	int *dead_f = calloc((size_t)ndevs, sizeof(int)), *refuse_f = calloc((size_t)ndevs, sizeof(int));
	if (!base || !devs || !dead_f || !refuse_f)
		return 1;
	if (dead)
		mark_list("--dead", dead, dead_f, ndevs);
	if (refuse)
		mark_list("--refuse", refuse, refuse_f, ndevs);
	for (int i = 0; i < ndevs; i++) {
		struct dev *d = &devs[i];
		d->idx = i;
		d->kind = i < ncab ? K_CABINET : i < ncab + nsdm ? K_SDM120 : K_DDS238;
		d->port = (int)base_port + i;
		d->lfd = -1;
		d->relay_on = 1;
		d->override_level = -1;
		d->nlamps = 20 + (int)(hash01((unsigned)i, 7, 0) * 41);
		/* counters start somewhere plausible, different per device */
		d->energy_kwh = 1000.0 + hash01((unsigned)i, 11, 0) * 50000.0;
		d->import_kwh = d->energy_kwh * 0.9;
		d->op_hours = floor(hash01((unsigned)i, 13, 0) * 20000.0);
		d->switch_count = (int)(hash01((unsigned)i, 17, 0) * 3000.0);
		d->last_t = start_t;
		d->dead = dead_f[i];
		if (!refuse_f[i] && dev_listen(d) < 0) {
			fprintf(stderr, "wardgw-sim: cannot listen on %s:%d: %s\n", bind_addr, d->port, strerror(errno));
			return 1;
		}
	}
	free(dead_f);
	free(refuse_f);
	if (ctl_port > 0) {
		if (listen_on((int)ctl_port, &ctl_fd) < 0) {
			fprintf(stderr, "wardgw-sim: cannot listen on control port %.0f: %s\n", ctl_port, strerror(errno));
			return 1;
		}
		struct event *cev = event_new(base, ctl_fd, EV_READ | EV_PERSIST, on_ctl_accept, NULL);
		event_add(cev, NULL);
	}
	if (pidfile) {
		FILE *f = fopen(pidfile, "w");
		if (f) {
			fprintf(f, "%d\n", (int)getpid());
			fclose(f);
		}
	}
	struct event *s1 = evsignal_new(base, SIGINT, on_signal, NULL);
	struct event *s2 = evsignal_new(base, SIGTERM, on_signal, NULL);
	event_add(s1, NULL);
	event_add(s2, NULL);
	printf("wardgw-sim: ready %d devices on %s:%d-%d\n", ndevs, bind_addr, (int)base_port,
	       (int)base_port + ndevs - 1);
	fflush(stdout);
	event_base_dispatch(base);
	return 0;
}
