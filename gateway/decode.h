/* Register decoding shared by every Modbus transport: turns the raw words
 * (or bits) a device returned into a value, by type, word/byte order, scale
 * and offset. The bytes are ordered here, never by libmodbus's helpers. */
#ifndef WARDGW_DECODE_H
#define WARDGW_DECODE_H

#include <stddef.h>
#include <stdint.h>

enum reg_table { TABLE_COIL, TABLE_DISCRETE, TABLE_HOLDING, TABLE_INPUT, TABLE_COUNT };

enum reg_type {
	TYPE_U16, TYPE_S16, TYPE_U32, TYPE_S32, TYPE_U64, TYPE_S64,
	TYPE_F32, TYPE_F64, TYPE_BIT, TYPE_COUNT
};

/*
 * A byte order names where each byte of the big-endian value stands on the
 * wire: "CDAB" means the wire carries bytes C, D, A, B, i.e. the low word
 * first. 16-bit types take AB/BA, 32-bit ABCD/BADC/CDAB/DCBA and 64-bit the
 * eight word/byte permutations (ABCDEFGH ... HGFEDCBA).
 */
struct reg_order {
	uint8_t nbytes;     /* 2, 4 or 8 */
	uint8_t src[8];     /* value byte i (big-endian) comes from wire byte src[i] */
};

/** Register width of a type in 16-bit words (a bit of a register is 1). */
unsigned reg_type_words(enum reg_type t);
/** Names for config and output: "u16", "holding", ... ; NULL when out of range. */
const char *reg_type_name(enum reg_type t);
const char *reg_table_name(enum reg_table t);
/** Parse a name; 0 or -EINVAL. */
int reg_type_parse(const char *s, enum reg_type *out);
int reg_table_parse(const char *s, enum reg_table *out);
/** True for coils and discrete inputs, which are read as bits. */
static inline int reg_table_is_bits(enum reg_table t) { return t == TABLE_COIL || t == TABLE_DISCRETE; }

/**
 * Parse an order name for a type ("ABCD", "CDAB", ...); NULL @s means the
 * Modbus default (big-endian). Returns 0, or -EINVAL when the name is not a
 * valid order for that type's width.
 */
int reg_order_parse(const char *s, enum reg_type t, struct reg_order *out);
/** The valid order names for a type, space separated (for error messages). */
const char *reg_order_choices(enum reg_type t);

/**
 * Decode one value from @words (registers as received, host order of each
 * 16-bit word already taken from the big-endian wire). @bit picks the bit for
 * TYPE_BIT. Returns the raw value before scale/offset.
 */
double reg_decode(enum reg_type t, const struct reg_order *o, unsigned bit,
		  const uint16_t *words);

/** Encode the raw value @v into registers, the inverse of reg_decode (for the
 *  simulator-free tests and for writes). Rounds integers; saturates to range. */
void reg_encode(enum reg_type t, const struct reg_order *o, double v, uint16_t *words);

/**
 * Encode the raw value @v (before scale/offset) for a write: like
 * reg_encode, but integers are rounded to the nearest and a value the type
 * cannot hold is refused instead of saturated. TYPE_BIT takes 0 or 1 and
 * sets words[0] to it. Returns 0, -EINVAL (NaN or infinite) or -ERANGE.
 */
int reg_encode_checked(enum reg_type t, const struct reg_order *o, double v, uint16_t *words);

#endif
