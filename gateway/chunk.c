/* Chunk codec: bit-level coding of one series' samples. Timestamps as
 * delta-of-delta, values as integer deltas or XOR of doubles, quality as a
 * change bit; all arithmetic on time and integers wraps in uint64 so any
 * input, even a clock jumping decades, round-trips without overflow. */
#include "chunk.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double mul_c[5] = { 1, 0.1, 0.01, 0.001, 0.0001 };
static const double pow10_c[5] = { 1, 10, 100, 1000, 10000 };

int chunk_mode_places(int mode)
{
	if (mode >= CHUNK_MUL1 && mode < CHUNK_MUL1 + 4)
		return mode - CHUNK_MUL1 + 1;
	if (mode >= CHUNK_DIV1 && mode < CHUNK_DIV1 + 4)
		return mode - CHUNK_DIV1 + 1;
	return 0;
}

static uint64_t dbits(double v)
{
	uint64_t b;
	memcpy(&b, &v, sizeof(b));
	return b;
}

static double bitsd(uint64_t b)
{
	double v;
	memcpy(&v, &b, sizeof(v));
	return v;
}

static double int_value(int mode, int64_t i)
{
	int k = chunk_mode_places(mode);

	if (mode == CHUNK_INT)
		return (double)i;
	if (mode < CHUNK_DIV1)
		return (double)i * mul_c[k];
	return (double)i / pow10_c[k];
}

int chunk_mode_fits(int mode, double v, int64_t *i)
{
	int k = chunk_mode_places(mode);
	double x;

	if (mode <= CHUNK_XOR || mode >= CHUNK_NMODES || !isfinite(v))
		return 0;
	x = v * pow10_c[k];
	/* 2^53: every integer up to it is exact in a double */
	if (!(x > -9007199254740992.0 && x < 9007199254740992.0))
		return 0;
	*i = (int64_t)llround(x);
	return dbits(int_value(mode, *i)) == dbits(v);
}

int chunk_pick_mode(double v, int prefer)
{
	static const int order[] = { CHUNK_INT, CHUNK_MUL1, CHUNK_DIV1, CHUNK_MUL1 + 1, CHUNK_DIV1 + 1,
				     CHUNK_MUL1 + 2, CHUNK_DIV1 + 2, CHUNK_MUL1 + 3, CHUNK_DIV1 + 3 };
	int64_t i;

	if (prefer > CHUNK_XOR && chunk_mode_fits(prefer, v, &i))
		return prefer;
	for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++)
		if (chunk_mode_fits(order[k], v, &i))
			return order[k];
	return CHUNK_XOR;
}

static uint64_t zig(uint64_t d)
{
	return (d << 1) ^ (uint64_t)-(int64_t)(d >> 63);
}

static uint64_t unzig(uint64_t z)
{
	return (z >> 1) ^ (uint64_t)-(int64_t)(z & 1);
}

_Static_assert(sizeof(struct chunk_enc) == 64, "one chunk_enc per series lives in memory: keep it at 64 bytes");

/* A chunk's largest buffer: its bit count fits 32 bits (chunks close long
 * before: store.chunk_max_bytes is at most a few KiB) */
#define CHUNK_ENC_MAX ((size_t)1 << 28)

static int put(struct chunk_enc *e, uint64_t v, unsigned nbits)
{
	size_t need = CHUNK_HDR + (size_t)((e->nbits + nbits + 7) >> 3);

	if (need > e->cap) {
		/* in 32-byte steps, not doubling: tens of thousands of open
		 * chunks live in memory, each at most about 1 KiB (a realloc
		 * every few dozen samples of a series costs little) */
		size_t ncap = (need + 31) & ~(size_t)31;
		if (ncap > CHUNK_ENC_MAX)
			return -ENOMEM;
		uint8_t *nb = realloc(e->buf, ncap);
		if (!nb)
			return -ENOMEM;
		memset(nb + e->cap, 0, ncap - e->cap);
		e->buf = nb;
		e->cap = ncap;
	}
	while (nbits) {
		uint8_t *byte = &e->buf[CHUNK_HDR + (e->nbits >> 3)];
		unsigned off = (unsigned)(e->nbits & 7), room = 8 - off;
		unsigned take = nbits < room ? nbits : room;
		unsigned bits = (unsigned)(v >> (nbits - take)) & ((1u << take) - 1);
		*byte |= (uint8_t)(bits << (room - take));
		e->nbits += take;
		nbits -= take;
	}
	return 0;
}

static void set_header(struct chunk_enc *e)
{
	e->buf[0] = CHUNK_VERSION;
	e->buf[1] = (uint8_t)e->mode;
	e->buf[2] = (uint8_t)e->n;
	e->buf[3] = (uint8_t)(e->n >> 8);
	e->buf[4] = (uint8_t)(e->n >> 16);
	e->buf[5] = (uint8_t)(e->n >> 24);
}

int chunk_enc_init(struct chunk_enc *e, int mode)
{
	memset(e, 0, sizeof(*e));
	e->lead = 64;           /* no XOR window yet */
	if (mode < 0 || mode >= CHUNK_NMODES)
		return -EINVAL;
	e->mode = mode;
	return 0;
}

void chunk_enc_reset(struct chunk_enc *e, int mode)
{
	uint8_t *buf = e->buf;
	uint32_t cap = e->cap;

	/* a closed chunk's large buffer goes: the next one may stay small */
	if (cap > 256) {
		free(buf);
		buf = NULL;
		cap = 0;
	}
	if (buf)
		memset(buf, 0, cap);
	memset(e, 0, sizeof(*e));
	e->buf = buf;
	e->cap = cap;
	e->lead = 64;
	e->mode = mode >= 0 && mode < CHUNK_NMODES ? mode : CHUNK_XOR;
}

void chunk_enc_release(struct chunk_enc *e)
{
	free(e->buf);
	memset(e, 0, sizeof(*e));
}

/* A zig-zagged integer in the first of @nw widths that holds it, after a
 * unary prefix: level j is j+1 one bits and a zero; the last level (64
 * bits) has no zero when @open_end, so the decoder stops counting there. */
static int put_var(struct chunk_enc *e, uint64_t z, const unsigned *w, unsigned nw, int open_end)
{
	unsigned j = 0;

	while (j + 1 < nw && z >= (1ull << w[j]))
		j++;
	if (open_end && j + 1 == nw)
		return put(e, (1ull << (j + 1)) - 1, j + 1) ?: put(e, z, w[j]);
	return put(e, (1ull << (j + 2)) - 2, j + 2) ?: put(e, z, w[j]);
}

/* Time: each delta is coded against a reference delta, the poll interval,
 * which changes only when a delta strays from it by more than 64 ms (a gap,
 * a new interval); so a poll's few ms of lateness cost 5 bits, where a
 * plain delta-of-delta would see twice the jitter. Seconds take 13 bits,
 * minutes 22. */
#define REF_KEEP 128u
static const unsigned ts_w[5] = { 3, 8, 12, 20, 64 };
/* integers: a noisy reading moving by a few steps in 5 bits */
static const unsigned int_w[5] = { 3, 7, 13, 24, 64 };

static int put_xor(struct chunk_enc *e, uint64_t bits)
{
	uint64_t x = bits ^ e->last_bits;
	int lead, trail, ret;

	e->last_bits = bits;
	if (!x)
		return put(e, 0, 1);
	lead = __builtin_clzll(x);
	trail = __builtin_ctzll(x);
	if (lead >= e->lead && trail >= e->trail)
		return put(e, 0x2, 2) ?: put(e, x >> e->trail, (unsigned)(64 - e->lead - e->trail));
	e->lead = lead;
	e->trail = trail;
	ret = put(e, 0x3, 2) ?: put(e, (uint64_t)lead, 6) ?: put(e, (uint64_t)(63 - lead - trail), 6);
	return ret ?: put(e, x >> trail, (unsigned)(64 - lead - trail));
}

int chunk_enc_add(struct chunk_enc *e, int64_t ts, double v, int q)
{
	int ret;
	int64_t i;

	e->n++;
	if (e->n == 1) {
		e->tmin = e->tmax = ts;
		if ((ret = put(e, (uint64_t)ts, 64)) < 0)
			goto fail;
	} else {
		uint64_t delta = (uint64_t)ts - (uint64_t)e->last_ts;
		uint64_t dod = delta - (uint64_t)e->last_delta;
		if (!dod)
			ret = put(e, 0, 1);
		else
			ret = put_var(e, zig(dod), ts_w, 5, 1);
		if (ret < 0)
			goto fail;
		if (zig(dod) >= REF_KEEP)
			e->last_delta = (int64_t)delta;
		if (ts < e->tmin)
			e->tmin = ts;
		if (ts > e->tmax)
			e->tmax = ts;
	}
	e->last_ts = ts;

	if (e->mode == CHUNK_XOR) {
		ret = e->n == 1 ? put(e, dbits(v), 64) : put_xor(e, dbits(v));
		if (e->n == 1)
			e->last_bits = dbits(v);
	} else if (chunk_mode_fits(e->mode, v, &i)) {
		uint64_t d = (uint64_t)i - (uint64_t)e->last_int;
		e->last_int = i;
		if (!d)
			ret = put(e, 0, 1);
		else
			ret = put_var(e, zig(d), int_w, 5, 0);
	} else if (isnan(v)) {
		ret = put(e, 0x7e, 7);          /* NaN (its payload is not kept) */
	} else {
		ret = put(e, 0x7f, 7) ?: put(e, dbits(v), 64);   /* an exception */
	}
	if (ret < 0)
		goto fail;
	q &= 0xff;
	ret = q == e->last_q ? put(e, 0, 1) : put(e, 0x100 | (unsigned)q, 9);
	if (ret < 0)
		goto fail;
	e->last_q = q;
	set_header(e);
	return 0;
fail:
	/* out of memory: the chunk is unusable; the caller drops it */
	e->n--;
	return ret;
}

const uint8_t *chunk_enc_data(const struct chunk_enc *e, size_t *len)
{
	*len = e->buf ? CHUNK_HDR + (size_t)((e->nbits + 7) >> 3) : 0;
	return e->buf;
}

int chunk_dec_init(struct chunk_dec *d, const uint8_t *p, size_t len)
{
	memset(d, 0, sizeof(*d));
	if (len < CHUNK_HDR || p[0] != CHUNK_VERSION || p[1] >= CHUNK_NMODES)
		return -EINVAL;
	d->p = p + CHUNK_HDR;
	d->len = len - CHUNK_HDR;
	d->nbits = (uint64_t)d->len * 8;
	d->mode = p[1];
	d->lead = 64;
	d->n = (uint32_t)p[2] | (uint32_t)p[3] << 8 | (uint32_t)p[4] << 16 | (uint32_t)p[5] << 24;
	return 0;
}

/* Read @nbits (<= 64) into *@v; -EINVAL past the end. */
static int get(struct chunk_dec *d, unsigned nbits, uint64_t *v)
{
	uint64_t r = 0;

	if (d->bit + nbits > d->nbits)
		return -EINVAL;
	while (nbits) {
		unsigned off = (unsigned)(d->bit & 7), room = 8 - off;
		unsigned take = nbits < room ? nbits : room;
		unsigned byte = d->p[d->bit >> 3];
		r = (r << take) | ((byte >> (room - take)) & ((1u << take) - 1));
		d->bit += take;
		nbits -= take;
	}
	*v = r;
	return 0;
}

/* Count leading 1 bits, at most @max (the unary prefix). */
static int ones(struct chunk_dec *d, int max, int *k)
{
	uint64_t b;

	for (*k = 0; *k < max; (*k)++) {
		if (get(d, 1, &b) < 0)
			return -EINVAL;
		if (!b)
			return 0;
	}
	return 0;
}

int chunk_dec_next(struct chunk_dec *d, int64_t *ts, double *v, int *q)
{
	uint64_t x, z;
	int k;

	if (d->i >= d->n)
		return 0;
	d->i++;
	if (d->i == 1) {
		if (get(d, 64, &x) < 0)
			return -EINVAL;
		d->last_ts = (int64_t)x;
	} else {
		if (ones(d, 5, &k) < 0)
			return -EINVAL;
		if (k == 0)
			z = 0;
		else if (get(d, ts_w[k - 1], &z) < 0)
			return -EINVAL;
		uint64_t delta = (uint64_t)d->last_delta + (k ? unzig(z) : 0);
		if (z >= REF_KEEP)
			d->last_delta = (int64_t)delta;
		d->last_ts = (int64_t)((uint64_t)d->last_ts + delta);
	}
	*ts = d->last_ts;

	if (d->mode == CHUNK_XOR) {
		if (d->i == 1) {
			if (get(d, 64, &d->last_bits) < 0)
				return -EINVAL;
		} else {
			if (ones(d, 2, &k) < 0)
				return -EINVAL;
			if (k == 1) {
				if (d->lead >= 64 || get(d, (unsigned)(64 - d->lead - d->trail), &x) < 0)
					return -EINVAL;
				d->last_bits ^= x << d->trail;
			} else if (k == 2) {
				uint64_t lead, mlen;
				if (get(d, 6, &lead) < 0 || get(d, 6, &mlen) < 0 || lead + mlen > 63)
					return -EINVAL;
				d->lead = (int)lead;
				d->trail = (int)(63 - lead - mlen);
				if (get(d, (unsigned)(mlen + 1), &x) < 0)
					return -EINVAL;
				d->last_bits ^= x << d->trail;
			}
		}
		*v = bitsd(d->last_bits);
	} else {
		if (ones(d, 7, &k) < 0)
			return -EINVAL;
		if (k == 0) {
			*v = int_value(d->mode, d->last_int);
		} else if (k <= 5) {
			if (get(d, int_w[k - 1], &z) < 0)
				return -EINVAL;
			d->last_int = (int64_t)((uint64_t)d->last_int + unzig(z));
			*v = int_value(d->mode, d->last_int);
		} else if (k == 6) {
			*v = NAN;
		} else {
			if (get(d, 64, &x) < 0)
				return -EINVAL;
			*v = bitsd(x);
		}
	}
	if (get(d, 1, &x) < 0)
		return -EINVAL;
	if (x) {
		if (get(d, 8, &x) < 0)
			return -EINVAL;
		d->last_q = (int)x;
	}
	*q = d->last_q;
	return 1;
}
