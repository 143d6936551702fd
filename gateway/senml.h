/* SenML JSON (RFC 8428) packs for the IOC: one pack per poll of a device,
 * with a base name, base time and one record per metric. */
#ifndef WARDGW_SENML_H
#define WARDGW_SENML_H

#include <stddef.h>
#include <stdint.h>

struct senml_rec {
	const char *name;
	const char *unit;   /* may be NULL */
	double value;       /* NaN is written as no value ("vs" absent, skipped) */
};

/**
 * Write a pack into @buf: base name @bn, base time @bt_ms (seconds with
 * millisecond precision on the wire). Records with a non-finite value are
 * left out. Sets "bver" to 26 (RFC 9100 secondary-units feature) when a unit
 * is one of RFC 8798's secondary units (kWh, h, ...). Returns the length
 * (without NUL) or -ENOSPC when @size is too small.
 */
int senml_pack(char *buf, size_t size, const char *bn, int64_t bt_ms,
	       const struct senml_rec *recs, size_t n);

/** True when @unit is a SenML secondary unit (RFC 8798) rather than a primary one. */
int senml_secondary_unit(const char *unit);

/** Append @s to @buf as a JSON string body (no quotes), escaped; returns bytes written or -ENOSPC. */
int json_escape(char *buf, size_t size, const char *s);

#endif
