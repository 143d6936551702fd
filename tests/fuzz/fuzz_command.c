/* libFuzzer target: the IOC lighting command parser. Each input is tried
 * twice: as the raw MQTT message (envelope parsing and the HMAC check), and
 * as a command body wrapped in an envelope correctly signed here, so the
 * body parser behind the signature is reached too. */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"

static const unsigned char key[] = "fuzz-key-0123456789abcdef";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lighting_cmd c;
	char why[300], hex[65];
	unsigned char mac[32];
	unsigned maclen = 0;

	lighting_cmd_parse(data, size, key, sizeof(key) - 1, &c, why, sizeof(why));

	if (!HMAC(EVP_sha256(), key, sizeof(key) - 1, data, size, mac, &maclen) || maclen != 32)
		return 0;
	for (int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", mac[i]);
	json_t *env = json_pack("{s:s%,s:s}", "body", (const char *)data, size, "hmac", hex);
	char *msg = env ? json_dumps(env, JSON_COMPACT) : NULL;
	if (msg)
		lighting_cmd_parse(msg, strlen(msg), key, sizeof(key) - 1, &c, why, sizeof(why));
	free(msg);
	json_decref(env);
	return 0;
}
