/* Times given on the command line: epoch seconds, "now", relative ("-2h",
 * "-30m", "-7d", "-45s") or ISO 8601 local ward time (UTC+7 unless a zone
 * is given). */
#ifndef WARDGW_TIMEPARSE_H
#define WARDGW_TIMEPARSE_H

#include <stdint.h>

/* Ward time: Asia/Ho_Chi_Minh, UTC+7 all year (no DST since 1975). */
#define WARD_UTC_OFFSET_MS (7 * 3600 * 1000LL)

/** Parse @s relative to @now_ms into ms since the epoch. 0 or -EINVAL. */
int time_parse(const char *s, int64_t now_ms, int64_t *out_ms);
/** Format @ms as ISO 8601 in ward time (+07:00) into @buf (>= 32 bytes). */
void time_format(int64_t ms, char *buf, unsigned long size);

#endif
