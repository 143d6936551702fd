/* Keyed client hashes (see client_hash.h). No raw MAC is stored here:
 * callers pass one in, get a digest out, and wipe their copy. */
#include "client_hash.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "timeparse.h"



void hset_wipe(struct hset *s)
{
	if (s->k)
		OPENSSL_cleanse(s->k, s->cap * CLIENT_HLEN);
	free(s->k);
	free(s->v1);
	free(s->v2);
	free(s->used);
	memset(s, 0, sizeof(*s));
}

static size_t hslot(const struct hset *s, const unsigned char *h)
{
	size_t i;

	memcpy(&i, h, sizeof(i));
	i %= s->cap;
	while (s->used[i] && memcmp(s->k[i], h, CLIENT_HLEN))
		i = (i + 1) % s->cap;
	return i;
}

/* The slot of @h, inserted (values 0) when absent; NULL on ENOMEM. *@isnew tells. */
int64_t *hset_get(struct hset *s, const unsigned char *h, int *isnew, int64_t **v2)
{
	size_t i;

	if ((s->n + 1) * 2 > s->cap) {
		struct hset ns = { 0 };
		ns.cap = s->cap ? s->cap * 2 : 64;
		ns.k = calloc(ns.cap, CLIENT_HLEN);
		ns.v1 = calloc(ns.cap, sizeof(int64_t));
		ns.v2 = calloc(ns.cap, sizeof(int64_t));
		ns.used = calloc(ns.cap, 1);
		if (!ns.k || !ns.v1 || !ns.v2 || !ns.used) {
			hset_wipe(&ns);
			return NULL;
		}
		for (size_t j = 0; j < s->cap; j++)
			if (s->used[j]) {
				size_t t = hslot(&ns, s->k[j]);
				memcpy(ns.k[t], s->k[j], CLIENT_HLEN);
				ns.v1[t] = s->v1[j];
				ns.v2[t] = s->v2[j];
				ns.used[t] = 1;
				ns.n++;
			}
		hset_wipe(s);
		*s = ns;
	}
	i = hslot(s, h);
	*isnew = !s->used[i];
	if (*isnew) {
		memcpy(s->k[i], h, CLIENT_HLEN);
		s->v1[i] = s->v2[i] = 0;
		s->used[i] = 1;
		s->n++;
	}
	if (v2)
		*v2 = &s->v2[i];
	return &s->v1[i];
}

void hset_del(struct hset *s, const unsigned char *h)
{
	size_t i, j;

	if (!s->cap)
		return;
	i = hslot(s, h);
	if (!s->used[i])
		return;
	/* backward-shift deletion keeps probe chains whole */
	s->used[i] = 0;
	OPENSSL_cleanse(s->k[i], CLIENT_HLEN);
	s->n--;
	for (j = (i + 1) % s->cap; s->used[j]; j = (j + 1) % s->cap) {
		unsigned char k[CLIENT_HLEN];
		int64_t a = s->v1[j], b = s->v2[j];
		memcpy(k, s->k[j], CLIENT_HLEN);
		s->used[j] = 0;
		s->n--;
		size_t t = hslot(s, k);
		memcpy(s->k[t], k, CLIENT_HLEN);
		s->v1[t] = a;
		s->v2[t] = b;
		s->used[t] = 1;
		s->n++;
		OPENSSL_cleanse(k, sizeof(k));
	}
}


int64_t ward_day_of(int64_t ms)
{
	int64_t l = ms + WARD_UTC_OFFSET_MS;
	return (l - ((l % 86400000) + 86400000) % 86400000) - WARD_UTC_OFFSET_MS;
}

static int fill_random(unsigned char *b, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = getrandom(b + got, n - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		got += (size_t)r;
	}
	return 0;
}

static void mac_hash(const unsigned char *key, const uint8_t mac[6], unsigned char out[CLIENT_HLEN])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;

	HMAC(EVP_sha256(), key, 32, mac, 6, md, &len);
	memcpy(out, md, CLIENT_HLEN);
	OPENSSL_cleanse(md, sizeof(md));
}


int client_keys_rotate(struct client_keys *k, int64_t now_ms)
{
	int64_t d = ward_day_of(now_ms);
	int ret = 0;

	pthread_mutex_lock(&k->mu);
	if (d != k->day_start) {
		OPENSSL_cleanse(k->day, sizeof(k->day));
		ret = fill_random(k->day, sizeof(k->day));
		k->day_start = d;
		ret = ret < 0 ? ret : 1;
	}
	if (!k->have_proc && ret >= 0) {
		int rc = fill_random(k->proc, sizeof(k->proc));
		k->have_proc = rc == 0;
		if (rc < 0)
			ret = rc;
	}
	pthread_mutex_unlock(&k->mu);
	return ret;
}

void client_hash_day(struct client_keys *k, const uint8_t mac[6], unsigned char out[CLIENT_HLEN])
{
	pthread_mutex_lock(&k->mu);
	mac_hash(k->day, mac, out);
	pthread_mutex_unlock(&k->mu);
}

void client_hash_proc(struct client_keys *k, const uint8_t mac[6], unsigned char out[CLIENT_HLEN])
{
	pthread_mutex_lock(&k->mu);
	mac_hash(k->proc, mac, out);
	pthread_mutex_unlock(&k->mu);
}

void client_keys_wipe(struct client_keys *k)
{
	pthread_mutex_lock(&k->mu);
	OPENSSL_cleanse(k->day, sizeof(k->day));
	OPENSSL_cleanse(k->proc, sizeof(k->proc));
	k->day_start = -1;
	k->have_proc = 0;
	pthread_mutex_unlock(&k->mu);
}
