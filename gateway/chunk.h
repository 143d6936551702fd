/* Series chunks: the compressed form of one series' samples, written to the
 * store once as one row (docs/storage.md describes the format). Timestamps
 * are delta-of-delta coded (against the poll interval rather than the last
 * delta), values either as integer deltas (integers and
 * decimal fixed point, what Modbus registers scale to) or XOR-coded doubles
 * (Gorilla), quality flags as "same as before" bits. Pure code, any thread. */
#ifndef WARDGW_CHUNK_H
#define WARDGW_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#define CHUNK_VERSION 1
#define CHUNK_HDR 6              /* version, mode, sample count (u32 LE) */

/* Value modes: how a chunk codes its values. */
enum {
	CHUNK_XOR = 0,           /* XOR of the IEEE-754 bits, any double */
	CHUNK_INT = 1,           /* v = i (an integer) */
	CHUNK_MUL1 = 2,          /* v = i * 0.1 .. i * 0.0001 (modes 2..5) */
	CHUNK_DIV1 = 6,          /* v = i / 10 .. i / 10000 (modes 6..9) */
	CHUNK_NMODES = 10
};

/** Decimal places of @mode (0 for CHUNK_XOR and CHUNK_INT). */
int chunk_mode_places(int mode);
/** Whether @mode codes @v exactly (bit for bit); its integer in *@i. */
int chunk_mode_fits(int mode, double v, int64_t *i);
/**
 * The mode a new chunk starting with @v should use: @prefer when it fits,
 * else the integer mode with the fewest decimal places that fits, else
 * CHUNK_XOR.
 */
int chunk_pick_mode(double v, int prefer);

/* An open chunk being appended to. The caller owns the struct. */
struct chunk_enc {               /* 64 bytes: one per series lives in memory */
	uint8_t *buf;            /* header + bits */
	int64_t tmin, tmax;      /* of the samples so far */
	int64_t last_ts, last_delta;   /* last_delta: the reference delta */
	union {                  /* a chunk has one mode: */
		int64_t last_int;        /* integer modes */
		uint64_t last_bits;      /* XOR */
	};
	uint32_t cap;
	uint32_t nbits;          /* bits written after the header */
	uint32_t n;
	uint8_t mode;
	uint8_t lead, trail;     /* XOR window of the last value */
	uint8_t last_q;
};

/** Start an empty chunk of @mode. 0 or -EINVAL. */
int chunk_enc_init(struct chunk_enc *e, int mode);
/** Append one sample (any order of time, any double, quality 0..255). 0 or -ENOMEM. */
int chunk_enc_add(struct chunk_enc *e, int64_t ts, double v, int q);
/** The chunk's bytes so far (header included); valid until the next add. */
const uint8_t *chunk_enc_data(const struct chunk_enc *e, size_t *len);
/** Empty the chunk for reuse with @mode; keeps the buffer. */
void chunk_enc_reset(struct chunk_enc *e, int mode);
void chunk_enc_release(struct chunk_enc *e);

/* Reading a chunk's bytes; borrows them. */
struct chunk_dec {
	const uint8_t *p;
	size_t len;
	uint64_t bit, nbits;
	uint32_t n, i;
	int mode;
	int64_t last_ts, last_delta, last_int;
	uint64_t last_bits;
	int lead, trail, last_q;
};

/** 0, or -EINVAL when @p is not a chunk of a version this wardgw reads. */
int chunk_dec_init(struct chunk_dec *d, const uint8_t *p, size_t len);
/** The next sample: 1, 0 at the end, -EINVAL when the bytes are corrupt. */
int chunk_dec_next(struct chunk_dec *d, int64_t *ts, double *v, int *q);

#endif
