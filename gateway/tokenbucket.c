/* The token bucket (tokenbucket.h). */
#include "tokenbucket.h"

#include <errno.h>

void token_bucket_reset(struct token_bucket *b)
{
	b->tokens = 0;
	b->at_ms = 0;
	b->primed = 0;
}

int token_bucket_take(struct token_bucket *b, double burst, double per_s, int64_t now_ms, double *wait_s)
{
	if (burst < 1)
		burst = 1;
	if (!b->primed) {
		b->tokens = burst;
		b->at_ms = now_ms;
		b->primed = 1;
	}
	if (now_ms > b->at_ms) {
		b->tokens += (double)(now_ms - b->at_ms) * per_s / 1000.0;
		b->at_ms = now_ms;
	}
	if (b->tokens > burst)      /* also a burst lowered by a reload */
		b->tokens = burst;
	if (b->tokens < 1) {
		if (wait_s)
			*wait_s = per_s > 0 ? (1 - b->tokens) / per_s : 0;
		return -EAGAIN;
	}
	b->tokens -= 1;
	return 0;
}
