/* libFuzzer target: the store's two decoders of bytes read from the
 * database file (a copied, truncated or corrupted file is outside input):
 * a chunk (gateway/chunk.c) and a commit log record (store_log_walk). Each
 * decoded chunk sample is encoded again and must decode the same. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chunk.h"
#include "store.h"

static int count(void *arg, int64_t series, int64_t ts, double v, int q)
{
	(*(size_t *)arg)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct chunk_dec d, d2;
	struct chunk_enc e;
	size_t n = 0, len;
	int64_t ts, ts2;
	double v, v2;
	int q, q2, r;

	store_log_walk(data, size, count, &n);
	if (chunk_dec_init(&d, data, size) < 0)
		return 0;
	chunk_enc_init(&e, d.mode);
	while ((r = chunk_dec_next(&d, &ts, &v, &q)) == 1)
		if (chunk_enc_add(&e, ts, v, q) < 0)
			abort();
	const uint8_t *p = chunk_enc_data(&e, &len);
	if (e.n) {
		struct chunk_dec a;
		if (chunk_dec_init(&d2, p, len) < 0 || chunk_dec_init(&a, data, size) < 0)
			abort();
		for (uint32_t i = 0; i < e.n; i++) {
			if (chunk_dec_next(&a, &ts, &v, &q) != 1 || chunk_dec_next(&d2, &ts2, &v2, &q2) != 1)
				abort();
			if (ts != ts2 || q != q2 || (isnan(v) ? !isnan(v2) : memcmp(&v, &v2, sizeof(v)) != 0))
				abort();
		}
	}
	chunk_enc_release(&e);
	return 0;
}
