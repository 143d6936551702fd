/* One token bucket for every rate limit (ingest batches per token, answers
 * to rejected lighting commands): refilled from the monotonic clock, so a
 * wall clock stepped back or forward neither drains it nor fills it. */
#ifndef WARDGW_TOKENBUCKET_H
#define WARDGW_TOKENBUCKET_H

#include <stdint.h>

/* The caller owns it; zeroed (or token_bucket_reset()) it is full at its
 * first use. Not thread-safe: one owner thread (the loop). */
struct token_bucket {
	double tokens;
	int64_t at_ms;              /* monotonic ms of the last refill */
	int primed;
};

/** Forget the past: the bucket is full at its next use. */
void token_bucket_reset(struct token_bucket *b);

/**
 * Take one token at monotonic @now_ms from a bucket holding at most @burst
 * tokens (>= 1) and refilled with @per_s tokens a second (> 0). Returns 0,
 * or -EAGAIN when none is left, then *@wait_s (if not NULL) says how long
 * until one is. The level never goes below zero nor above @burst; a @now_ms
 * before the last refill counts as no time passed.
 */
int token_bucket_take(struct token_bucket *b, double burst, double per_s, int64_t now_ms, double *wait_s);

#endif
