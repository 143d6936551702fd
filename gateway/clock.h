/* The gateway's one clock: wall time for timestamps (what a sample, an
 * audit row or a log line says happened when), monotonic time for every
 * interval, timeout, rate limit and schedule step. Tests drive it: unit
 * tests fake both clocks, integration tests shift the wall clock through
 * a file named by WARDGW_TEST_WALL_OFFSET_FILE (docs/architecture.md, "Time"). */
#ifndef WARDGW_CLOCK_H
#define WARDGW_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/** Wall time, ms since the epoch (plus the test offset, if any). Any thread. */
int64_t wall_ms(void);
/** Monotonic time in µs: never steps, whatever the wall clock does. Any thread. */
int64_t mono_us(void);
/** Monotonic time in ms. Any thread. */
int64_t mono_ms(void);

/**
 * Initialise @cv to wait on CLOCK_MONOTONIC, for clock_deadline(); 0 or a
 * negative errno. The caller owns @cv (pthread_cond_destroy()).
 */
int clock_cond_init(pthread_cond_t *cv);
/**
 * The absolute CLOCK_MONOTONIC time @ms from now in *@ts, for
 * pthread_cond_timedwait() on a condition made by clock_cond_init(). It
 * reads the kernel's clock, not the faked one: a thread really waits.
 */
void clock_deadline(struct timespec *ts, int64_t ms);

/**
 * The file shifting the wall clock (WARDGW_TEST_WALL_OFFSET_FILE), or NULL
 * in production. The file holds a signed offset in ms, read again at most
 * every 100 ms; a missing or unreadable file means no offset.
 */
const char *clock_offset_file(void);

/* Unit tests only: both clocks stop at the given values and move only
 * when told; clock_real() gives back the kernel's clocks. Not thread-safe
 * against readers on other threads. */
void clock_fake(int64_t wall_ms, int64_t mono_us);
/** Advance both faked clocks by @us (time passing). */
void clock_fake_advance(int64_t us);
/** Step the faked wall clock alone by @ms (an NTP step; monotonic unmoved). */
void clock_fake_step_wall(int64_t ms);
void clock_real(void);

#endif
