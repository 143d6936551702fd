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
#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

enum kind { K_CABINET, K_SDM120, K_DDS238, K_SDM630, K_PM, K_TH, K_NOISE, K_WATER };
static const char *const kind_names[] = { "cabinet", "sdm120", "dds238", "sdm630", "pm", "th", "noise", "water" };

#define MAX_LAMPS 64
#define STORE_BASE 0x100
#define STORE_REGS 0x80
#define STORE_COILS 0x10
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
	/* faults injected through the control port ("set I ..."); -1 / NaN: as simulated */
	int door, supply_lost, relay_fault, stuck_on;
	double volt_fixed, pf_fixed;
	/* lamps take switch_delay s to follow a switch or level change (HID
	 * warm-up, LED fade): until then they show sw_from */
	double switch_delay, sw_at;
	int sw_target, sw_from;
	/* integrated counters */
	double energy_kwh, import_kwh, op_hours, last_t;
	int switch_count;
	uint64_t served;
	/* environment sensors: their ordinal among their kind, and a value
	 * fixed through the control port ("env I V"; NaN: the episode) */
	int ord;
	double env_fixed;
	/* a plain register store every kind has, for writes (FC05/06/15/16):
	 * holding 0x0100..0x017F and coils 0x0100..0x010F */
	uint16_t store[STORE_REGS];
	uint8_t coils[STORE_COILS];
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
/* --obey: a written dim level holds until the next write (the gateway is
 * the only programme), instead of until the built-in programme's next switch */
static int obey;
/* --lamp-watts: rated power per lamp; --steady: no noise (exact figures) */
static double lamp_w = 100.0;
static double switch_delay;     /* --switch-delay */
static int steady;
static double speed = 1.0, start_t, failure_rate = 0.0005;
static struct timespec t0;
static unsigned seed = 1;
static uint64_t requests, exceptions, writes;
#define MAX_WRITE 1968

/* ---------- the simulated world ---------- */

/* --env-period: seconds of real time per pollution episode and flood rise */
static double env_period = 600;

/* Real seconds since start: the environment sensors follow their own
 * episode whatever the lighting clock's speed (0 with --freeze). */
static double env_elapsed(void)
{
	struct timespec t;

	if (frozen)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9;
}

/* Piecewise linear through (x, y) points, x ascending in [0, 1]. */
static double ramp(double x, const double (*pt)[2], int n)
{
	for (int i = 1; i < n; i++)
		if (x <= pt[i][0])
			return pt[i - 1][1] + (pt[i][1] - pt[i - 1][1]) * (x - pt[i - 1][0]) / (pt[i][0] - pt[i - 1][0]);
	return pt[n - 1][1];
}

/* PM2.5 in µg/m³ of PM sensor @ord: a clean baseline, an episode rising
 * over 40 % of the period to a peak (Rất xấu at the first sensor, lower at
 * the others) and falling back over 30 %. */
static double env_pm25(int ord, double el)
{
	const double peak = 210.0 - 60.0 * (ord % 3);
	const double pt[][2] = { { 0, 12 }, { 0.1, 12 }, { 0.5, peak }, { 0.8, 12 }, { 1, 12 } };
	double x = fmod(el / env_period + 0.1 * ord, 1.0);

	return ramp(x, pt, 5) * (1.0 + 0.03 * sin(el / 7.0 + ord));
}

/* Water over the road in cm at water sensor @ord: dry, a rain-driven rise
 * to 40 cm and the water draining away. */
static double env_depth(int ord, double el)
{
	static const double pt[][2] = { { 0, 0 }, { 0.3, 0 }, { 0.55, 40 }, { 0.85, 0 }, { 1, 0 } };
	double x = fmod(el / env_period + 0.5 + 0.2 * ord, 1.0);

	return ramp(x, pt, 5);
}

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

/* The level the lamps give: what the cabinet drives them at, reached
 * switch_delay s after it changed. A welded contactor (stuck_on) lights
 * them whatever the level; no supply, no light. */
static int lamp_level(struct dev *d, double t)
{
	int want = d->supply_lost ? 0 : d->stuck_on ? 100 : level_now(d, t);

	if (d->sw_target < 0) {                 /* first look: as if always so */
		d->sw_target = d->sw_from = want;
		d->sw_at = -INFINITY;
	} else if (want != d->sw_target) {
		d->sw_from = t - d->sw_at >= d->switch_delay ? d->sw_target : d->sw_from;
		d->sw_target = want;
		d->sw_at = t;
	}
	return t - d->sw_at >= d->switch_delay ? d->sw_target : d->sw_from;
}

static double cabinet_power(struct dev *d, double t, int *lit_out)
{
	int level = lamp_level(d, t);
	int lit = level > 0 ? d->nlamps - failed_count(d) : 0;
	double noise = steady ? 1.0 : 1.0 + 0.02 * sin(t / 97.0 + d->idx);

	*lit_out = lit;
	return lit * lamp_w * level / 100.0 * noise;
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
	double v = steady ? 230.0 : 228.0 + 4.0 * sin(t / 600.0 + d->idx);
	double f = 50.0 + 0.05 * sin(t / 300.0 + d->idx);

	memset(h, 0, 0x200 * sizeof(*h));
	memset(in, 0, 0x200 * sizeof(*in));
	advance(d, t);
	if (d->kind == K_CABINET) {
		int lit;
		double p = cabinet_power(d, t, &lit);
		double pf = lit ? (isnan(d->pf_fixed) ? 0.95 : d->pf_fixed) : 0.0;
		if (!isnan(d->volt_fixed))
			v = d->volt_fixed;
		if (d->supply_lost)
			v = 0;
		uint32_t e = (uint32_t)(d->energy_kwh * 100.0);
		uint32_t oh = (uint32_t)d->op_hours;
		h[0] = (uint16_t)d->nlamps;
		h[1] = (uint16_t)lit;
		h[2] = (uint16_t)failed_count(d);
		h[3] = (uint16_t)(lit ? lamp_level(d, t) : 0);
		/* one cabinet in 17 has its door open, unless set */
		h[4] = (uint16_t)((d->door >= 0 ? d->door : d->idx % 17 == 16) | d->supply_lost << 1 | d->relay_fault << 2);
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
		/* per lamp: status word at 0x0040+i (bit 0 lit, bit 1 lampFailure),
		 * dim level in % at 0x0080+i */
		int lv = lamp_level(d, t);
		for (int i = 0; i < d->nlamps && i < MAX_LAMPS; i++) {
			int on = lv > 0 && !d->failed_at[i];
			h[0x40 + i] = (uint16_t)(on | (d->failed_at[i] != 0) << 1);
			h[0x80 + i] = (uint16_t)(on ? lv : 0);
		}
	} else if (d->kind == K_SDM630) {
		double p = meter_power(d, t);
		for (int ph = 0; ph < 3; ph++) {
			double vp = v + ph - 1.0;
			put_f32(&in[0x00 + 2 * ph], vp);
			put_f32(&in[0x06 + 2 * ph], p / 3 / (vp * 0.93));
			put_f32(&in[0x0C + 2 * ph], p / 3);
		}
		put_f32(&in[0x34], p);
		put_f32(&in[0x3E], 0.93);
		put_f32(&in[0x46], f);
		put_f32(&in[0x48], d->import_kwh);
		put_f32(&in[0x4A], 0.0);
		put_f32(&in[0x156], d->energy_kwh);
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
	memcpy(h + STORE_BASE, d->store, sizeof(d->store));
	double el = env_elapsed(), fx = d->env_fixed;
	if (d->kind == K_PM) {
		/* Siemens QSA2700: holding registers 257, 258 (PM2.5, PM10 in
		 * µg/m³, 0..500) and 260 (status, 0 normal), numbered from 1 */
		double pm25 = isnan(fx) ? env_pm25(d->ord, el) : fx;
		h[0x100] = clamp16(pm25 > 500 ? 500 : pm25);
		h[0x101] = clamp16(pm25 * 1.5 + 5 > 500 ? 500 : pm25 * 1.5 + 5);
		h[0x103] = 0;
	} else if (d->kind == K_TH) {
		/* Renke RS-WS-N01: humidity 0x0000, temperature 0x0001, x10 */
		double temp = isnan(fx) ? 28.0 + 4.0 * sin(el / 300.0 + d->ord) : fx;
		h[0] = clamp16((75.0 - 10.0 * sin(el / 300.0 + d->ord)) * 10.0);
		h[1] = (uint16_t)(int16_t)lround(temp * 10.0);
	} else if (d->kind == K_NOISE) {
		double db = isnan(fx) ? 58.0 + 8.0 * sin(el / 90.0 + d->ord) : fx;
		h[0] = clamp16(db * 10.0);
	} else if (d->kind == K_WATER) {
		/* a 0..100 cm level transmitter on a 4-20 mA to Modbus converter
		 * that reports the loop current in µA */
		double cm = isnan(fx) ? env_depth(d->ord, el) : fx;
		h[0] = clamp16(4000.0 + cm / 100.0 * 16000.0);
	}
}

static int in_store(unsigned a, unsigned n, unsigned size)
{
	return a >= STORE_BASE && a + n <= STORE_BASE + size;
}

/* Coil or discrete input @a: coil 0 is a cabinet's relay, discrete input 0
 * its door contact, coils 0x100.. the store. */
static unsigned bit_at(const struct dev *d, int fc, unsigned a, const uint16_t *h)
{
	if (fc == 1 && in_store(a, 1, STORE_COILS))
		return d->coils[a - STORE_BASE];
	if (a != 0)
		return 0;
	return fc == 1 ? (unsigned)d->relay_on : (unsigned)(h[4] & 1);
}

/* Readable ranges per device kind and table (fc 1..4). */
static int in_map(const struct dev *d, int fc, unsigned a, unsigned n)
{
	unsigned end = a + n;

	if ((fc == 3 && in_store(a, n, STORE_REGS)) || (fc == 1 && in_store(a, n, STORE_COILS)))
		return 1;
	switch (d->kind) {
	case K_CABINET:
		if (fc == 3)
			return end <= 0x11 || (a >= 0x40 && end <= 0x40 + 2u * MAX_LAMPS);
		return (fc == 1 || fc == 2) && end <= 1;
	case K_SDM120:
		/* --holes: like meters that refuse reads touching addresses
		 * they do not implement, 0x0020..0x0045 are missing */
		if (holes && fc == 4 && a < 0x46 && end > 0x20)
			return 0;
		return fc == 4 && (end <= 0x50 || (a >= 0x156 && end <= 0x158));
	case K_DDS238:
		return fc == 3 && end <= 0x16;
	case K_SDM630:
		return fc == 4 && (end <= 0x50 || (a >= 0x156 && end <= 0x158));
	case K_PM:
		return fc == 3 && a >= 0x100 && end <= 0x104;
	case K_TH:
		return fc == 3 && end <= 2;
	case K_NOISE:
	case K_WATER:
		return fc == 3 && end <= 1;
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
			memset(out + 9, 0, nb);
			for (unsigned i = 0; i < n; i++)
				out[9 + i / 8] |= (uint8_t)(bit_at(d, fc, a + i, h) << (i % 8));
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
	case 5: case 6: case 15: case 16: {
		/* a DDS238 takes writes only with function 16, as the real one */
		if (d->kind == K_DDS238 && fc != 16)
			return exception(out, req, 0x01);
		unsigned cnt = 1, vals[MAX_WRITE];
		if (fc == 15 || fc == 16) {
			unsigned nb = fc == 15 ? (n + 7) / 8 : 2 * n;
			cnt = n;
			if (n == 0 || n > (fc == 15 ? 1968u : 123u) || len < 13 || req[12] != nb || len != 13 + nb)
				return exception(out, req, 0x03);
			for (unsigned i = 0; i < n; i++)
				vals[i] = fc == 15 ? (unsigned)(req[13 + i / 8] >> (i % 8)) & 1 : get16(req + 13 + 2 * i);
		} else if (fc == 5) {
			if (n != 0xFF00 && n != 0)
				return exception(out, req, 0x03);
			vals[0] = n == 0xFF00;
		} else {
			vals[0] = n;
		}
		int coil = fc == 5 || fc == 15;
		/* check every address and value before changing anything */
		for (unsigned i = 0; i < cnt; i++) {
			unsigned ad = a + i;
			if (coil && in_store(ad, 1, STORE_COILS))
				continue;
			if (!coil && in_store(ad, 1, STORE_REGS))
				continue;
			if (d->kind == K_CABINET && coil && ad == 0)
				continue;
			if (d->kind == K_CABINET && !coil && ad == 0x10) {
				if (vals[i] > 100)
					return exception(out, req, 0x03);
				continue;
			}
			return exception(out, req, 0x02);
		}
		advance(d, t);
		for (unsigned i = 0; i < cnt; i++) {
			unsigned ad = a + i;
			if (coil && ad == 0)
				d->relay_on = (int)vals[i];
			else if (coil)
				d->coils[ad - STORE_BASE] = (uint8_t)vals[i];
			else if (ad == 0x10 && !in_store(ad, 1, STORE_REGS)) {
				d->override_level = (int)vals[i];
				d->override_until = obey ? INFINITY : next_switch(t);
			} else
				d->store[ad - STORE_BASE] = (uint16_t)vals[i];
		}
		writes++;
		/* 05/06 echo the request; 15/16 answer address and count */
		memcpy(out, req, 12);
		put16(out + 4, 6);
		return 12;
	}
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

/* Take every waiting connection on @lfd, each read by @cb, for device @d
 * (NULL: the gateway port, whose frames name their unit). */
static void accept_all(evutil_socket_t lfd, struct dev *d, event_callback_fn cb)
{
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
		c->ev = event_new(base, fd, EV_READ | EV_PERSIST, cb, c);
		event_add(c->ev, NULL);
	}
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
	accept_all(lfd, arg, on_conn);
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

/* ---------- Modbus RTU on a pseudo-terminal ----------
 * --rtu-pty FILE: every device answers on one serial bus (a pty; the
 * gateway opens the slave side, whose path goes to FILE), device i as unit
 * first_unit + i. --line BAUD:8N1 gives the bus its settings: replies take
 * the time the frames would take on the wire, and a gateway whose port is
 * set otherwise gets what a real line gives: garbage (CRC errors) for a
 * wrong baud rate, silence for a wrong frame (stop bits; a pty cannot
 * show parity or data bits, Linux forces them to 8N). */

static int rtu_master = -1, rtu_slave = -1, first_unit = 1;
static int line_baud, line_data = 8, line_stop = 1, turnaround_ms;
static char line_parity = 'N';
static uint8_t rtu_buf[512], rtu_out[260];
static size_t rtu_len, rtu_olen;
static struct event *rtu_ev, *rtu_idle_ev, *rtu_reply_ev;
static uint64_t rtu_crc_bad, rtu_mismatch;

static uint16_t crc16(const uint8_t *p, size_t n)
{
	uint16_t crc = 0xFFFF;

	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int b = 0; b < 8; b++)
			crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xA001) : (uint16_t)(crc >> 1);
	}
	return crc;
}

static speed_t baud_const(int baud)
{
	switch (baud) {
	case 1200: return B1200; case 2400: return B2400; case 4800: return B4800;
	case 9600: return B9600; case 19200: return B19200; case 38400: return B38400;
	case 57600: return B57600; case 115200: return B115200; case 230400: return B230400;
	default: return 0;
	}
}

/* 0: the port matches the line; 1: wrong baud (garbage); 2: wrong frame (silence). */
static int line_mismatch(void)
{
	struct termios t;

	if (!line_baud || tcgetattr(rtu_master, &t) < 0)
		return 0;
	if (cfgetospeed(&t) != baud_const(line_baud))
		return 1;
	/* Linux forces a pty to 8 bits without parity (pty_set_termios), so
	 * of the frame only the stop bits show */
	int stop = (t.c_cflag & CSTOPB) ? 2 : 1;
	if (stop != line_stop)
		return 2;
	return 0;
}

static void on_rtu_reply(evutil_socket_t fd, short what, void *arg)
{
	if (rtu_olen && write(rtu_master, rtu_out, rtu_olen) < 0)
		return;
	rtu_olen = 0;
}

/* Length of the request frame at the start of the buffer: 0 if more bytes
 * are needed, -1 if it cannot be a request. */
static int rtu_frame_len(const uint8_t *b, size_t n)
{
	if (n < 2)
		return 0;
	switch (b[1]) {
	case 1: case 2: case 3: case 4: case 5: case 6: return 8;
	case 15: case 16: return n < 7 ? 0 : 9 + b[6];
	default: return -1;
	}
}

static void rtu_request(const uint8_t *f, size_t flen)
{
	uint8_t req[260], out[260];
	size_t olen;
	int mm;

	requests++;
	if (crc16(f, flen - 2) != (uint16_t)(f[flen - 2] | f[flen - 1] << 8)) {
		rtu_crc_bad++;
		return;         /* a slave ignores a frame with a bad CRC */
	}
	int idx = f[0] - first_unit;
	if (f[0] == 0 || idx < 0 || idx >= ndevs)
		return;         /* nobody there: silence */
	struct dev *d = &devs[idx];
	d->served++;
	if (d->muted || d->dead)
		return;
	if ((mm = line_mismatch()) == 2) {
		rtu_mismatch++;
		return;         /* framing errors: the slave hears nothing */
	}
	/* the PDU in an MBAP frame for answer(): tid 0, unit the sim's own */
	memset(req, 0, 7);
	put16(req + 4, (unsigned)(flen - 3 + 1));
	req[6] = (uint8_t)unit_id;
	memcpy(req + 7, f + 1, flen - 3);
	olen = answer(d, req, 7 + flen - 3, out);
	rtu_out[0] = f[0];
	memcpy(rtu_out + 1, out + 7, olen - 7);
	rtu_olen = 1 + olen - 7;
	uint16_t crc = crc16(rtu_out, rtu_olen);
	rtu_out[rtu_olen++] = (uint8_t)crc;
	rtu_out[rtu_olen++] = (uint8_t)(crc >> 8);
	if (mm == 1) {
		rtu_mismatch++;
		/* what a wrong baud rate makes of it (the address, function and count
		 * kept, so the gateway's complaint is the CRC) */
		for (size_t i = 3; i < rtu_olen; i++)
			rtu_out[i] = (uint8_t)(rtu_out[i] * 7 + 0x5A);
	}
	/* the frames' time on the wire, then the slave's turnaround */
	long us = (long)(d->delay_ms ? d->delay_ms : global_delay) * 1000 + turnaround_ms * 1000L;
	if (line_baud)
		us += (long)((flen + rtu_olen) * (1.0 + line_data + (line_parity != 'N') + line_stop) * 1e6 / line_baud);
	struct timeval tv = { us / 1000000, us % 1000000 };
	evtimer_add(rtu_reply_ev, &tv);
}

static void on_rtu_idle(evutil_socket_t fd, short what, void *arg)
{
	rtu_len = 0;    /* a frame cut short: the silence ends it */
}

static void on_rtu(evutil_socket_t fd, short what, void *arg)
{
	ssize_t n = read(rtu_master, rtu_buf + rtu_len, sizeof(rtu_buf) - rtu_len);
	struct timeval idle = { 0, 100000 };
	int flen;

	if (n <= 0)
		return;
	rtu_len += (size_t)n;
	while ((flen = rtu_frame_len(rtu_buf, rtu_len)) != 0) {
		if (flen < 0 || (size_t)flen > sizeof(rtu_buf)) {
			rtu_len = 0;
			break;
		}
		if (rtu_len < (size_t)flen)
			break;
		rtu_request(rtu_buf, (size_t)flen);
		memmove(rtu_buf, rtu_buf + flen, rtu_len - (size_t)flen);
		rtu_len -= (size_t)flen;
	}
	evtimer_add(rtu_idle_ev, &idle);
}

static int rtu_open(const char *file)
{
	struct termios t;
	const char *name;
	FILE *f;

	rtu_master = posix_openpt(O_RDWR | O_NOCTTY);
	if (rtu_master < 0 || grantpt(rtu_master) < 0 || unlockpt(rtu_master) < 0 || !(name = ptsname(rtu_master)))
		return -errno;
	/* held open so the master never sees a hang-up between the gateway's
	 * opens; raw, so no byte is taken for a control character */
	rtu_slave = open(name, O_RDWR | O_NOCTTY);
	if (rtu_slave < 0 || tcgetattr(rtu_slave, &t) < 0)
		return -errno;
	cfmakeraw(&t);
	tcsetattr(rtu_slave, TCSANOW, &t);
	fcntl(rtu_master, F_SETFL, fcntl(rtu_master, F_GETFL) | O_NONBLOCK);
	rtu_ev = event_new(base, rtu_master, EV_READ | EV_PERSIST, on_rtu, NULL);
	rtu_idle_ev = evtimer_new(base, on_rtu_idle, NULL);
	rtu_reply_ev = evtimer_new(base, on_rtu_reply, NULL);
	event_add(rtu_ev, NULL);
	if (!(f = fopen(file, "w")))
		return -errno;
	fprintf(f, "%s\n", name);
	fclose(f);
	printf("wardgw-sim: rtu on %s, units %d-%d\n", name, first_unit, first_unit + ndevs - 1);
	return 0;
}

/* ---------- a Modbus TCP gateway in front of a serial bus ----------
 * --gateway-port P: one more port, where device i answers as unit
 * first_unit + i on one shared connection, as behind a serial gateway or a
 * DTU. --gateway-framing mbap (default): Modbus TCP, an unknown unit gets
 * exception 0x0B; rtu: raw RTU frames with CRC (a transparent serial
 * server), an unknown unit is silent. A muted device is silent on both. */

static int gw_rtu;

static void gw_send(struct conn *c, struct dev *d, const uint8_t *out, size_t olen)
{
	int delay = d && d->delay_ms ? d->delay_ms : global_delay;

	if (delay <= 0) {
		send_reply(c, out, olen);
		return;
	}
	struct pending *p = calloc(1, sizeof(*p));
	struct timeval tv = { delay / 1000, (delay % 1000) * 1000 };
	if (!p)
		return;
	p->c = c;
	memcpy(p->out, out, olen);
	p->len = olen;
	p->ev = evtimer_new(base, on_delayed, p);
	p->next = pending_list;
	pending_list = p;
	evtimer_add(p->ev, &tv);
}

/* One request PDU for @unit; the reply PDU into @out, 0 for silence. */
static size_t gw_answer(unsigned unit, const uint8_t *pdu, size_t pdulen, uint8_t *out, struct dev **dp)
{
	uint8_t req[260], rep[260];
	int idx = (int)unit - first_unit;

	*dp = NULL;
	if (unit == 0 || idx < 0 || idx >= ndevs) {
		if (gw_rtu)
			return 0;
		out[0] = (uint8_t)(pdu[0] | 0x80);
		out[1] = 0x0B;
		exceptions++;
		return 2;
	}
	struct dev *d = *dp = &devs[idx];
	d->served++;
	if (d->muted || d->dead)
		return 0;
	memset(req, 0, 7);
	put16(req + 4, (unsigned)(pdulen + 1));
	req[6] = (uint8_t)unit_id;
	memcpy(req + 7, pdu, pdulen);
	size_t olen = answer(d, req, 7 + pdulen, rep);
	memcpy(out, rep + 7, olen - 7);
	return olen - 7;
}

static void gw_drop(struct conn *c)
{
	for (struct pending *p = pending_list; p; p = p->next)
		if (p->c == c)
			p->c = NULL;
	conn_close(c);
}

static void on_gw_conn(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	ssize_t n = recv(fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
	uint8_t out[260], pdu[260];
	struct dev *d;

	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		gw_drop(c);
		return;
	}
	c->len += (size_t)n;
	for (;;) {
		size_t flen, plen;
		if (gw_rtu) {
			int l = rtu_frame_len(c->buf, c->len);
			if (l < 0) {
				c->len = 0;
				return;
			}
			if (l == 0 || c->len < (size_t)l)
				return;
			flen = (size_t)l;
			requests++;
			if (crc16(c->buf, flen - 2) == (uint16_t)(c->buf[flen - 2] | c->buf[flen - 1] << 8) &&
			    (plen = gw_answer(c->buf[0], c->buf + 1, flen - 3, pdu, &d))) {
				out[0] = c->buf[0];
				memcpy(out + 1, pdu, plen);
				uint16_t crc = crc16(out, plen + 1);
				out[plen + 1] = (uint8_t)crc;
				out[plen + 2] = (uint8_t)(crc >> 8);
				gw_send(c, d, out, plen + 3);
			}
		} else {
			if (c->len < 7)
				return;
			unsigned l = get16(c->buf + 4);
			if (get16(c->buf + 2) != 0 || l < 2 || l > 254) {
				gw_drop(c);
				return;
			}
			if (c->len < 6 + l)
				return;
			flen = 6 + l;
			requests++;
			if ((plen = gw_answer(c->buf[6], c->buf + 7, l - 1, pdu, &d))) {
				memcpy(out, c->buf, 7);
				put16(out + 4, (unsigned)(plen + 1));
				memcpy(out + 7, pdu, plen);
				gw_send(c, d, out, 7 + plen);
			}
		}
		memmove(c->buf, c->buf + flen, c->len - flen);
		c->len -= flen;
	}
}

static void on_gw_accept(evutil_socket_t lfd, short what, void *arg)
{
	accept_all(lfd, NULL, on_gw_conn);
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
		P("targetLightCommand", h[0x10] * 0.01);
	} else if (d->kind == K_SDM630) {
		static const char *const ph[3] = { "L1", "L2", "L3" };
		char n[40];
		for (int i = 0; i < 3; i++) {
			snprintf(n, sizeof(n), "supplyVoltage.%s", ph[i]);
			P(n, f32_of(&in[0x00 + 2 * i]));
			snprintf(n, sizeof(n), "supplyCurrent.%s", ph[i]);
			P(n, f32_of(&in[0x06 + 2 * i]));
			snprintf(n, sizeof(n), "activePower.%s", ph[i]);
			P(n, f32_of(&in[0x0C + 2 * i]));
		}
		P("activePower", f32_of(&in[0x34]));
		P("powerFactor", f32_of(&in[0x3E]));
		P("frequency", f32_of(&in[0x46]));
		P("importEnergy", f32_of(&in[0x48]));
		P("exportEnergy", f32_of(&in[0x4A]));
		P("activeEnergy", f32_of(&in[0x156]));
	} else if (d->kind == K_SDM120) {
		P("supplyVoltage", f32_of(&in[0x00]));
		P("supplyCurrent", f32_of(&in[0x06]));
		P("activePower", f32_of(&in[0x0C]));
		P("powerFactor", f32_of(&in[0x1E]));
		P("frequency", f32_of(&in[0x46]));
		P("importEnergy", f32_of(&in[0x48]));
		P("activeEnergy", f32_of(&in[0x156]));
	} else if (d->kind == K_PM) {
		P("pm25", h[0x100]);
		P("pm10", h[0x101]);
		P("sensorStatus", h[0x103]);
	} else if (d->kind == K_TH) {
		P("relativeHumidity", h[0] * 0.1);
		P("temperature", (int16_t)h[1] * 0.1);
	} else if (d->kind == K_NOISE) {
		P("noise", h[0] * 0.1);
	} else if (d->kind == K_WATER) {
		P("waterDepth", h[0] * 0.00625 - 25.0);
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
		ctl_reply(fd, "requests=%llu\nexceptions=%llu\nwrites=%llu\n", (unsigned long long)requests,
			  (unsigned long long)exceptions, (unsigned long long)writes);
		ctl_reply(fd, "rtu_crc_bad=%llu\nrtu_mismatch=%llu\nOK\n", (unsigned long long)rtu_crc_bad,
			  (unsigned long long)rtu_mismatch);
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
	} else if (!strcmp(cmd, "env")) {
		/* fix the sensor's main value (PM2.5 µg/m³, °C, dB, cm), or "off" */
		char *end;
		double v = a2 ? strtod(a2, &end) : NAN;
		if (d->kind < K_PM || !a2 || (strcmp(a2, "off") && (*end || !isfinite(v) || v < -50 || v > 5000))) {
			ctl_reply(fd, "ERR env takes an environment sensor and a value -50..5000 or off\n");
			return;
		}
		d->env_fixed = strcmp(a2, "off") ? v : NAN;
	} else if (!strcmp(cmd, "get")) {
		ctl_get(fd, d);
	} else if (!strcmp(cmd, "lamps")) {
		/* what lighting-cabinet-lamps.conf reads: lampNN.* for 16 lamps */
		uint16_t h[0x200], in[0x200];
		if (d->kind != K_CABINET) {
			ctl_reply(fd, "ERR lamps takes a cabinet\n");
			return;
		}
		image(d, sim_now(), h, in);
		for (int i = 0; i < 16; i++) {
			ctl_reply(fd, "lamp%02d.actualLightState=%.17g\n", i + 1, h[0x80 + i] * 0.01);
			ctl_reply(fd, "lamp%02d.lampFailure=%d\n", i + 1, (h[0x40 + i] >> 1) & 1);
		}
	} else if (!strcmp(cmd, "served")) {
		ctl_reply(fd, "served=%llu\n", (unsigned long long)d->served);
	} else if (!strcmp(cmd, "set")) {
		/* set I door|supply_lost|relay_fault|stuck_on 0|1|auto, set I voltage|pf X|auto */
		char *a3 = strtok_r(NULL, " \t\r", &save), *end = NULL;
		double x = a3 && strcmp(a3, "auto") ? strtod(a3, &end) : NAN;
		int bad = !a2 || !a3 || (end && (*end || end == a3)) || d->kind != K_CABINET;
		int flag = isnan(x) ? -1 : (int)x;
		if (!bad && !strcmp(a2, "voltage") && (isnan(x) || (x >= 0 && x <= 6553)))
			d->volt_fixed = x;
		else if (!bad && !strcmp(a2, "switch_delay") && x >= 0 && x <= 7200) {
			/* a switch already done stays done under the new delay */
			if (sim_now() - d->sw_at >= d->switch_delay || lamp_level(d, sim_now()) == d->sw_target) {
				d->sw_from = d->sw_target;
				d->sw_at = -INFINITY;
			}
			d->switch_delay = x;
		}
		else if (!bad && !strcmp(a2, "pf") && (isnan(x) || (x >= 0 && x <= 1)))
			d->pf_fixed = x;
		else if (!bad && (flag == -1 || flag == 0 || flag == 1) && (x == flag || isnan(x))) {
			advance(d, sim_now());
			if (!strcmp(a2, "door"))
				d->door = flag;
			else if (!strcmp(a2, "supply_lost"))
				d->supply_lost = flag > 0;
			else if (!strcmp(a2, "relay_fault"))
				d->relay_fault = flag > 0;
			else if (!strcmp(a2, "stuck_on"))
				d->stuck_on = flag > 0;
			else
				bad = 1;
		} else
			bad = 1;
		if (bad) {
			ctl_reply(fd, "ERR set takes a cabinet and door|supply_lost|relay_fault|stuck_on 0|1|auto, "
				  "or voltage V|auto, pf X|auto, switch_delay S\n");
			return;
		}
	} else if (!strcmp(cmd, "reg")) {
		/* reg I holding|coil ADDR [N]: raw words (or bits) as the device holds them */
		char *a3 = strtok_r(NULL, " \t\r", &save), *a4 = strtok_r(NULL, " \t\r", &save), *end;
		int holding = a2 && !strcmp(a2, "holding"), coil = a2 && !strcmp(a2, "coil");
		unsigned long ad = a3 ? strtoul(a3, &end, 0) : 0, cnt = 1;
		if (!(holding || coil) || !a3 || *end || ad > 0xFFFF ||
		    (a4 && ((cnt = strtoul(a4, &end, 0)) < 1 || *end || cnt > 125 || ad + cnt > 0x10000))) {
			ctl_reply(fd, "ERR reg takes a device, holding|coil, an address and a count 1..125\n");
			return;
		}
		uint16_t h[0x200], in[0x200];
		image(d, sim_now(), h, in);
		for (unsigned long k = ad; k < ad + cnt; k++) {
			unsigned v = coil ? bit_at(d, 1, (unsigned)k, h) : k < 0x200 ? h[k] : 0;
			ctl_reply(fd, "0x%04lx=0x%04x\n", k, v);
		}
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
	/* the address the simulator listens on (--bind before --ctl) */
	if (inet_pton(AF_INET, bind_addr, &sa.sin_addr) != 1)
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
		"  --dds238 N           Hiking DDS238-like meters (1), then\n"
		"  --sdm630 N           Eastron SDM630-like three-phase meters (0), then\n"
		"  --pm N               Siemens QSA2700-like PM2.5/PM10 sensors (0), then\n"
		"  --th N               Renke RS-WS-N01-like temperature/humidity sensors (0), then\n"
		"  --noise N            generic RS485 noise sensors, dB x10 (0), then\n"
		"  --water N            water-level transmitters behind a 4-20 mA converter, uA (0)\n"
		"  --env-period S       real seconds per pollution episode and flood rise (600)\n"
		"  --unit ID            Modbus unit id the devices answer (1; 255 always)\n"
		"  --delay-ms D         answer every request D ms late (0)\n"
		"  --dead LIST          device indexes (0-based, comma-separated) that never answer\n"
		"  --refuse LIST        device indexes whose port is not listened on\n"
		"  --speed X            simulated clock speed (1)\n"
		"  --start EPOCH        simulated clock start, seconds (now)\n"
		"  --seed S             seed for lamp counts and failures (1)\n"
		"  --freeze             values never change (exact comparisons in tests)\n"
		"  --holes              SDM120s refuse (0x02) reads touching 0x0020..0x0045\n"
		"  --lamp-watts W       rated power per lamp (100 W)\n"
		"  --switch-delay S     cabinets' lamps follow a switch or level change S seconds\n"
		"                       late (warm-up, fade; 0)\n"
		"  --steady             no noise: 230.0 V, power factor 0.95, power = lamps x W x level\n"
		"  --obey               a written dim level (holding 0x0010) holds until the next\n"
		"                       write, not until the built-in programme's next switch\n"
		"  --failure-rate R     lamp failures per lamp per simulated hour (0.0005)\n"
		"  --control PORT       text control port on the bind address\n"
		"  --pidfile F          write the process id to F\n"
		"  --rtu-pty FILE       serve every device as Modbus RTU on one pseudo-terminal\n"
		"                       (its path written to FILE); device i is unit first+i\n"
		"  --first-unit N       the first device's unit id on the RTU bus (1)\n"
		"  --line BAUD:8N1      the RTU bus's settings: replies take the frames' wire time,\n"
		"                       a port set to another baud rate gets garbage (CRC errors),\n"
		"                       other stop bits get silence (a pty hides parity; default:\n"
		"                       no check)\n"
		"  --turnaround-ms T    RTU: each reply starts T ms after its request (0)\n"
		"  --gateway-port P     also serve every device on port P by unit id (first+i),\n"
		"                       like a Modbus TCP gateway in front of a serial bus\n"
		"  --gateway-framing F  mbap (default; unknown unit: exception 0x0B) or rtu (raw\n"
		"                       RTU frames with CRC, a serial server; unknown unit: silence)\n"
		"control commands: mute I, unmute I, delay I MS, refuse I, accept I,\n"
		"  fail I LAMP, repair I LAMP, set I door|supply_lost|relay_fault|stuck_on 0|1|auto,\n"
		"  set I voltage V|auto, set I pf X|auto, set I switch_delay S, get I, lamps I,\n"
		"  served I, reg I holding|coil ADDR [N], list, stats\n"
		"writes (05/06/15/16) go to holding 0x0100..0x017F and coils 0x0100..0x010F of\n"
		"  every device, a cabinet's relay (coil 0) and override level (holding 0x0010);\n"
		"  a DDS238 accepts only function 16\n");
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
	double v, ncab = 10, nsdm = 1, ndds = 1, nsdm630 = 0, base_port = 15020, ctl_port = 0, gw_port = 0;
	double npm = 0, nth = 0, nnoise = 0, nwater = 0;
	const char *dead = NULL, *refuse = NULL, *pidfile = NULL, *rtu_file = NULL;
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
		if (!strcmp(o, "--obey")) {
			obey = 1;
			continue;
		}
		if (!strcmp(o, "--steady")) {
			steady = 1;
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
		else if (!strcmp(o, "--sdm630")) num(o, a, 0, 60000, &nsdm630);
		else if (!strcmp(o, "--pm")) num(o, a, 0, 1000, &npm);
		else if (!strcmp(o, "--th")) num(o, a, 0, 1000, &nth);
		else if (!strcmp(o, "--noise")) num(o, a, 0, 1000, &nnoise);
		else if (!strcmp(o, "--water")) num(o, a, 0, 1000, &nwater);
		else if (!strcmp(o, "--env-period")) num(o, a, 1, 86400 * 7, &env_period);
		else if (!strcmp(o, "--unit")) { num(o, a, 0, 255, &v); unit_id = (int)v; }
		else if (!strcmp(o, "--delay-ms")) { num(o, a, 0, 60000, &v); global_delay = (int)v; }
		else if (!strcmp(o, "--speed")) num(o, a, 0.001, 100000, &speed);
		else if (!strcmp(o, "--start")) num(o, a, 0, 4e9, &start_t);
		else if (!strcmp(o, "--seed")) { num(o, a, 0, 4294967295.0, &v); seed = (unsigned)v; }
		else if (!strcmp(o, "--failure-rate")) num(o, a, 0, 1, &failure_rate);
		else if (!strcmp(o, "--lamp-watts")) num(o, a, 1, 10000, &lamp_w);
		else if (!strcmp(o, "--switch-delay")) num(o, a, 0, 7200, &switch_delay);
		else if (!strcmp(o, "--control")) num(o, a, 1, 65535, &ctl_port);
		else if (!strcmp(o, "--dead")) dead = a;
		else if (!strcmp(o, "--refuse")) refuse = a;
		else if (!strcmp(o, "--pidfile")) pidfile = a;
		else if (!strcmp(o, "--rtu-pty")) rtu_file = a;
		else if (!strcmp(o, "--gateway-port")) num(o, a, 1, 65535, &gw_port);
		else if (!strcmp(o, "--gateway-framing")) {
			if (strcmp(a, "mbap") && strcmp(a, "rtu")) {
				fprintf(stderr, "wardgw-sim: --gateway-framing takes mbap or rtu (got '%s')\n", a);
				return 2;
			}
			gw_rtu = !strcmp(a, "rtu");
		}
		else if (!strcmp(o, "--first-unit")) { num(o, a, 1, 247, &v); first_unit = (int)v; }
		else if (!strcmp(o, "--turnaround-ms")) { num(o, a, 0, 1000, &v); turnaround_ms = (int)v; }
		else if (!strcmp(o, "--line")) {
			char *end, *c;
			long bd = strtol(a, &end, 10);
			c = end;
			if (bd <= 0 || !baud_const((int)bd) || *c != ':' || strlen(c) != 4 || c[1] < '5' || c[1] > '8' ||
			    !strchr("NEO", c[2]) || (c[3] != '1' && c[3] != '2')) {
				fprintf(stderr, "wardgw-sim: --line takes BAUD:8N1 (1200..230400, N/E/O; got '%s')\n", a);
				return 2;
			}
			line_baud = (int)bd;
			line_data = c[1] - '0';
			line_parity = c[2];
			line_stop = c[3] - '0';
		}
		else {
			fprintf(stderr, "wardgw-sim: unknown option %s\n", o);
			usage(stderr);
			return 2;
		}
	}
	ndevs = (int)(ncab + nsdm + ndds + nsdm630 + npm + nth + nnoise + nwater);
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
		d->kind = i < ncab ? K_CABINET : i < ncab + nsdm ? K_SDM120 : i < ncab + nsdm + ndds ? K_DDS238 : K_SDM630;
		/* then the environment sensors, in option order */
		{
			double k0 = ncab + nsdm + ndds + nsdm630, n[4] = { npm, nth, nnoise, nwater };
			for (int k = 0; k < 4 && i >= k0; k0 += n[k], k++)
				if (i < k0 + n[k]) {
					d->kind = (enum kind)(K_PM + k);
					d->ord = i - (int)k0;
				}
		}
		d->env_fixed = NAN;
		d->port = (int)base_port + i;
		d->lfd = -1;
		d->relay_on = 1;
		d->override_level = -1;
		d->door = -1;
		d->volt_fixed = d->pf_fixed = NAN;
		d->switch_delay = switch_delay;
		d->sw_target = -1;
		d->nlamps = 20 + (int)(hash01((unsigned)i, 7, 0) * 41);
		/* counters start somewhere plausible, different per device */
		d->energy_kwh = 1000.0 + hash01((unsigned)i, 11, 0) * 50000.0;
		d->import_kwh = d->energy_kwh * 0.9;
		d->op_hours = floor(hash01((unsigned)i, 13, 0) * 20000.0);
		d->switch_count = (int)(hash01((unsigned)i, 17, 0) * 3000.0);
		d->last_t = start_t;
		d->dead = dead_f[i];
		if (!rtu_file && !refuse_f[i] && dev_listen(d) < 0) {
			fprintf(stderr, "wardgw-sim: cannot listen on %s:%d: %s\n", bind_addr, d->port, strerror(errno));
			free(dead_f);
			free(refuse_f);
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
	if (gw_port > 0) {
		int gfd;
		if (listen_on((int)gw_port, &gfd) < 0) {
			fprintf(stderr, "wardgw-sim: cannot listen on gateway port %.0f: %s\n", gw_port, strerror(errno));
			return 1;
		}
		event_add(event_new(base, gfd, EV_READ | EV_PERSIST, on_gw_accept, NULL), NULL);
		printf("wardgw-sim: gateway on %s:%.0f (%s), units %d-%d\n", bind_addr, gw_port, gw_rtu ? "rtu" : "mbap",
		       first_unit, first_unit + ndevs - 1);
	}
	if (rtu_file && rtu_open(rtu_file) < 0) {
		fprintf(stderr, "wardgw-sim: cannot open a pseudo-terminal for --rtu-pty: %s\n", strerror(errno));
		return 1;
	}
	if (rtu_file)
		printf("wardgw-sim: ready %d devices on %s\n", ndevs, ptsname(rtu_master));
	else
		printf("wardgw-sim: ready %d devices on %s:%d-%d\n", ndevs, bind_addr, (int)base_port,
		       (int)base_port + ndevs - 1);
	fflush(stdout);
	event_base_dispatch(base);
	return 0;
}
