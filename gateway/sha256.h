/* SHA-256 (FIPS 180-4), for digests that need no OpenSSL: the config's
 * digest is taken at every start and reload, and OpenSSL 3's first digest
 * sets up its provider (2 MB of libcrypto pages) in a gateway that may
 * never use TLS or signed commands. */
#ifndef WARDGW_SHA256_H
#define WARDGW_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct sha256 {
	uint32_t h[8];
	uint64_t len;           /* bytes so far */
	uint8_t buf[64];
	size_t nbuf;
};

void sha256_init(struct sha256 *c);
void sha256_update(struct sha256 *c, const void *data, size_t n);
void sha256_final(struct sha256 *c, uint8_t out[32]);

#endif
