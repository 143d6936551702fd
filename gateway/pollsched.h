/* One poll scheduler for the drivers that poll on a fixed rhythm
 * (modbus-tcp, modbus-rtu): slots on the monotonic clock, so a wall clock
 * stepped back or forward neither stalls polling nor bunches it up. */
#ifndef WARDGW_POLLSCHED_H
#define WARDGW_POLLSCHED_H

#include <stdint.h>
#include <sys/time.h>

/**
 * The slot after the one due at *@due_us, every @interval_us (> 0), at
 * monotonic @now_us: *@due_us moves one interval on, and further by whole
 * slots while the next one would already be due as well (the loop was
 * stalled: those are skipped, not run back to back). Returns the number
 * of slots skipped; *@tv is the delay from @now_us to the new *@due_us
 * (zero when it is already due), for evtimer_add().
 */
unsigned poll_schedule_next(int64_t *due_us, int64_t interval_us, int64_t now_us, struct timeval *tv);

/**
 * Where a device restarted at monotonic @now_us (a reload) resumes the
 * rhythm it had, its next slot having been @due_us: the first slot at or
 * after @now_us on that phase, every @interval_us, and never later than
 * one interval from now (an interval made shorter). 0 when it had no slot.
 */
int64_t poll_schedule_resume(int64_t due_us, int64_t now_us, int64_t interval_us);

#endif
