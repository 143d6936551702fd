/* Keyed hashes of client MAC addresses, so that Wi-Fi figures can count
 * and follow clients without keeping who they are: a small hash set of
 * HMAC digests with two values each, and the keys (a day key that rotates
 * at ward midnight and is then wiped, a process key for sessions), kept in
 * memory only. Any thread; the keys under their own mutex. */
#ifndef WARDGW_CLIENT_HASH_H
#define WARDGW_CLIENT_HASH_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define CLIENT_HLEN 16          /* bytes of HMAC kept: plenty against collisions in a ward */

/* A set of keyed hashes with two values each (open addressing, grows). */
struct hset {
	unsigned char (*k)[CLIENT_HLEN];
	int64_t *v1, *v2;
	unsigned char *used;
	size_t cap, n;              /* n: entries */
};

/** The values of @h, inserted (both 0) when absent; *@isnew tells which. NULL on ENOMEM. */
int64_t *hset_get(struct hset *s, const unsigned char *h, int *isnew, int64_t **v2);
/** Remove @h (wiping its digest); absent is fine. */
void hset_del(struct hset *s, const unsigned char *h);
/** Wipe every digest and free; the set is empty and usable afterwards. */
void hset_wipe(struct hset *s);

struct client_keys {
	pthread_mutex_t mu;
	unsigned char day[32];      /* HMAC key of the ward day @day_start */
	unsigned char proc[32];     /* HMAC key for this process's lifetime */
	int64_t day_start;          /* -1 before the first rotation */
	int have_proc;
};

#define CLIENT_KEYS_INIT { PTHREAD_MUTEX_INITIALIZER, { 0 }, { 0 }, -1, 0 }

/** Ward midnight (UTC+7) at or before @ms. */
int64_t ward_day_of(int64_t ms);
/** Make sure the day key is @now's: at a new ward day the old key is wiped
 *  and a new random one made. 1 when it rotated, 0 when not, negative errno
 *  when no randomness could be had. */
int client_keys_rotate(struct client_keys *k, int64_t now_ms);
/** HMAC-SHA256(day key or process key, @mac), first CLIENT_HLEN bytes. */
void client_hash_day(struct client_keys *k, const uint8_t mac[6], unsigned char out[CLIENT_HLEN]);
void client_hash_proc(struct client_keys *k, const uint8_t mac[6], unsigned char out[CLIENT_HLEN]);
/** Wipe both keys (stop). */
void client_keys_wipe(struct client_keys *k);

#endif
