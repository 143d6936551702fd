/* The poll scheduler (pollsched.h). */
#include "pollsched.h"

int64_t poll_schedule_resume(int64_t t, int64_t now_us, int64_t interval_us)
{
	if (t <= 0 || interval_us <= 0)
		return 0;
	if (t < now_us)
		t += (now_us - t + interval_us - 1) / interval_us * interval_us;
	if (t > now_us + interval_us)
		t = now_us + (t - now_us) % interval_us;
	return t;
}

unsigned poll_schedule_next(int64_t *due_us, int64_t interval_us, int64_t now_us, struct timeval *tv)
{
	unsigned skipped = 0;
	int64_t d;

	if (interval_us <= 0)
		interval_us = 1;
	*due_us += interval_us;
	if (*due_us + interval_us <= now_us) {
		/* fell behind by whole slots: skip them, keeping the phase */
		int64_t n = (now_us - *due_us) / interval_us;
		*due_us += n * interval_us;
		skipped = n > UINT32_MAX ? UINT32_MAX : (unsigned)n;
	}
	d = *due_us - now_us;
	if (d < 0)
		d = 0;
	tv->tv_sec = (time_t)(d / 1000000);
	tv->tv_usec = (suseconds_t)(d % 1000000);
	return skipped;
}
