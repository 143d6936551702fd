/* Register decoding: bytes to values for every type and order. Used by the
 * Modbus TCP driver, the RTU buses and the probe tool alike. */
#include "decode.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <string.h>

static const char *const type_names[TYPE_COUNT] = {
	"u16", "s16", "u32", "s32", "u64", "s64", "f32", "f64", "bit",
};
static const char *const table_names[TABLE_COUNT] = {
	"coil", "discrete", "holding", "input",
};

static const char *const orders16[] = { "AB", "BA", NULL };
static const char *const orders32[] = { "ABCD", "BADC", "CDAB", "DCBA", NULL };
static const char *const orders64[] = {
	"ABCDEFGH", "BADCFEHG", "CDABGHEF", "DCBAHGFE",
	"EFGHABCD", "FEHGBADC", "GHEFCDAB", "HGFEDCBA", NULL,
};

unsigned reg_type_words(enum reg_type t)
{
	switch (t) {
	case TYPE_U32: case TYPE_S32: case TYPE_F32: return 2;
	case TYPE_U64: case TYPE_S64: case TYPE_F64: return 4;
	default: return 1;
	}
}

const char *reg_type_name(enum reg_type t)
{
	return (unsigned)t < TYPE_COUNT ? type_names[t] : NULL;
}

const char *reg_table_name(enum reg_table t)
{
	return (unsigned)t < TABLE_COUNT ? table_names[t] : NULL;
}

int reg_type_parse(const char *s, enum reg_type *out)
{
	for (unsigned i = 0; i < TYPE_COUNT; i++)
		if (!strcmp(s, type_names[i])) {
			*out = (enum reg_type)i;
			return 0;
		}
	return -EINVAL;
}

int reg_table_parse(const char *s, enum reg_table *out)
{
	for (unsigned i = 0; i < TABLE_COUNT; i++)
		if (!strcmp(s, table_names[i])) {
			*out = (enum reg_table)i;
			return 0;
		}
	return -EINVAL;
}

static const char *const *orders_for(enum reg_type t)
{
	switch (reg_type_words(t)) {
	case 2: return orders32;
	case 4: return orders64;
	default: return orders16;
	}
}

const char *reg_order_choices(enum reg_type t)
{
	switch (reg_type_words(t)) {
	case 2: return "ABCD BADC CDAB DCBA";
	case 4: return "ABCDEFGH BADCFEHG CDABGHEF DCBAHGFE EFGHABCD FEHGBADC GHEFCDAB HGFEDCBA";
	default: return "AB BA";
	}
}

int reg_order_parse(const char *s, enum reg_type t, struct reg_order *out)
{
	const char *const *names = orders_for(t);
	unsigned n = 2 * reg_type_words(t);

	if (!s)
		s = names[0];
	for (; *names; names++) {
		if (strcmp(s, *names))
			continue;
		out->nbytes = (uint8_t)n;
		/* wire byte i carries value byte s[i]-'A' */
		for (unsigned i = 0; i < n; i++)
			out->src[s[i] - 'A'] = (uint8_t)i;
		return 0;
	}
	return -EINVAL;
}

/* The value's bytes in big-endian order, gathered from the wire order. */
static uint64_t gather(const struct reg_order *o, const uint16_t *words)
{
	uint8_t wire[8];
	uint64_t v = 0;

	for (unsigned i = 0; i < o->nbytes / 2u; i++) {
		wire[2 * i] = (uint8_t)(words[i] >> 8);
		wire[2 * i + 1] = (uint8_t)(words[i] & 0xff);
	}
	for (unsigned i = 0; i < o->nbytes; i++)
		v = (v << 8) | wire[o->src[i]];
	return v;
}

static void scatter(const struct reg_order *o, uint64_t v, uint16_t *words)
{
	uint8_t wire[8];

	for (unsigned i = 0; i < o->nbytes; i++)
		wire[o->src[i]] = (uint8_t)(v >> (8 * (o->nbytes - 1 - i)));
	for (unsigned i = 0; i < o->nbytes / 2u; i++)
		words[i] = (uint16_t)(wire[2 * i] << 8 | wire[2 * i + 1]);
}

double reg_decode(enum reg_type t, const struct reg_order *o, unsigned bit,
		  const uint16_t *words)
{
	uint64_t raw;

	if (t == TYPE_BIT)
		return (words[0] >> (bit & 15)) & 1;
	raw = gather(o, words);
	switch (t) {
	case TYPE_U16: return (double)(uint16_t)raw;
	case TYPE_S16: return (double)(int16_t)(uint16_t)raw;
	case TYPE_U32: return (double)(uint32_t)raw;
	case TYPE_S32: return (double)(int32_t)(uint32_t)raw;
	case TYPE_U64: return (double)raw;
	case TYPE_S64: return (double)(int64_t)raw;
	case TYPE_F32: {
		uint32_t u = (uint32_t)raw;
		float f;
		memcpy(&f, &u, sizeof(f));
		return f;
	}
	case TYPE_F64: {
		double d;
		memcpy(&d, &raw, sizeof(d));
		return d;
	}
	default:
		return NAN;
	}
}

static uint64_t clamp_int(double v, double lo, double hi)
{
	if (isnan(v))
		return 0;
	v = round(v);
	if (v < lo) v = lo;
	if (v > hi) v = hi;
	return v < 0 ? (uint64_t)(int64_t)v : (uint64_t)v;
}

void reg_encode(enum reg_type t, const struct reg_order *o, double v, uint16_t *words)
{
	uint64_t raw = 0;

	switch (t) {
	case TYPE_BIT:
		if (v != 0)
			words[0] = 1;
		else
			words[0] = 0;
		return;
	case TYPE_U16: raw = clamp_int(v, 0, 65535.0); break;
	case TYPE_S16: raw = (uint16_t)(int16_t)clamp_int(v, -32768.0, 32767.0); break;
	case TYPE_U32: raw = clamp_int(v, 0, 4294967295.0); break;
	case TYPE_S32: raw = (uint32_t)(int32_t)clamp_int(v, -2147483648.0, 2147483647.0); break;
	case TYPE_U64: raw = clamp_int(v, 0, 18446744073709549568.0); break;
	case TYPE_S64: raw = clamp_int(v, -9223372036854775808.0, 9223372036854774784.0); break;
	case TYPE_F32: {
		float f = (float)v;
		uint32_t u;
		memcpy(&u, &f, sizeof(u));
		raw = u;
		break;
	}
	case TYPE_F64:
		memcpy(&raw, &v, sizeof(raw));
		break;
	default:
		return;
	}
	scatter(o, raw, words);
}

int reg_encode_checked(enum reg_type t, const struct reg_order *o, double v, uint16_t *words)
{
	double r = round(v), lo, hi;

	if (!isfinite(v))
		return -EINVAL;
	switch (t) {
	case TYPE_BIT:
		if (v != 0 && v != 1)
			return -ERANGE;
		words[0] = (uint16_t)v;
		return 0;
	case TYPE_F32:
		if (fabs(v) > FLT_MAX)
			return -ERANGE;
		reg_encode(t, o, v, words);
		return 0;
	case TYPE_F64:
		reg_encode(t, o, v, words);
		return 0;
	case TYPE_U16: lo = 0; hi = 65535.0; break;
	case TYPE_S16: lo = -32768.0; hi = 32767.0; break;
	case TYPE_U32: lo = 0; hi = 4294967295.0; break;
	case TYPE_S32: lo = -2147483648.0; hi = 2147483647.0; break;
	/* the largest doubles below 2^64 and 2^63: nothing above converts */
	case TYPE_U64: lo = 0; hi = 18446744073709549568.0; break;
	case TYPE_S64: lo = -9223372036854775808.0; hi = 9223372036854774784.0; break;
	default: return -EINVAL;
	}
	if (r < lo || r > hi)
		return -ERANGE;
	reg_encode(t, o, r, words);
	return 0;
}
