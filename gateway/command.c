/* The IOC's lighting command: envelope, HMAC-SHA256 check over the body's
 * exact bytes (constant-time compare), then a strict parse of the body:
 * known keys only, each of its type and range. See command.h. */
#include "command.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAX_EXPIRES_S (31LL * 86400)

const char *cmd_action_name(enum cmd_action a)
{
	static const char *const n[] = { "on", "off", "dim", "override", "clear_override" };
	return a <= CMD_CLEAR ? n[a] : "?";
}

static int say(int err, char *why, size_t wlen, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int say(int err, char *why, size_t wlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, wlen, fmt, ap);
	va_end(ap);
	return err;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int plain_name(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (!n || n > max)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '-' || *s == '_' || *s == '.' || *s == ':'))
			return 0;
	return 1;
}

/* seconds since the epoch as a JSON number -> ms; -1 when not one */
static int64_t secs_of(const json_t *v)
{
	double d;

	if (json_is_integer(v))
		d = (double)json_integer_value(v);
	else if (json_is_real(v))
		d = json_real_value(v);
	else
		return -1;
	if (!isfinite(d) || d < 1e9 || d > 1e10)   /* 2001 .. 2286 */
		return -1;
	return (int64_t)llround(d * 1000.0);
}

static int parse_target(const json_t *t, struct lighting_cmd *c, char *why, size_t wlen)
{
	const char *key;
	json_t *v;
	int n = 0;

	if (!json_is_object(t))
		return say(-EINVAL, why, wlen, "malformed: target must be an object: {\"group\": \"...\"}, "
			   "{\"device\": \"...\"}, {\"lamp\": \"...\"} or {\"ward\": true}");
	json_object_foreach((json_t *)t, key, v) {
		n++;
		if (!strcmp(key, "ward")) {
			if (!json_is_true(v))
				return say(-EINVAL, why, wlen, "malformed: target ward must be true");
			c->scope = SCOPE_WARD;
			c->target[0] = 0;
			continue;
		}
		if (strcmp(key, "group") && strcmp(key, "device") && strcmp(key, "lamp"))
			return say(-EINVAL, why, wlen, "malformed: unknown target kind '%.32s' (group, device, lamp or ward)", key);
		if (!json_is_string(v) || !plain_name(json_string_value(v), 63))
			return say(-EINVAL, why, wlen, "malformed: target %s must be a name of 1..63 letters, digits, '-', '_', '.'", key);
		c->scope = !strcmp(key, "group") ? SCOPE_GROUP : SCOPE_DEVICE;
		c->lamp = !strcmp(key, "lamp");
		snprintf(c->target, sizeof(c->target), "%s", json_string_value(v));
	}
	if (n != 1)
		return say(-EINVAL, why, wlen, "malformed: target must name exactly one of group, device, lamp, ward");
	return 0;
}

static int parse_body(const char *body, size_t blen, struct lighting_cmd *c, char *why, size_t wlen)
{
	static const char *const keys[] = { "id", "gateway", "ts", "action", "level", "target", "expires", "reason", NULL };
	json_error_t jerr;
	json_t *root = json_loadb(body, blen, JSON_REJECT_DUPLICATES, &jerr), *v;
	const char *key, *s;
	int ret = 0, found;

	if (!root)
		return say(-EINVAL, why, wlen, "malformed: body is not JSON: %.80s", jerr.text);
	if (!json_is_object(root)) {
		ret = say(-EINVAL, why, wlen, "malformed: body must be a JSON object");
		goto out;
	}
	/* the id first, so that even a rejection can name the command */
	v = json_object_get(root, "id");
	if (!json_is_string(v) || !plain_name(json_string_value(v), 64)) {
		ret = say(-EINVAL, why, wlen, "malformed: id must be a string of 1..64 letters, digits, '-', '_', '.', ':'");
		goto out;
	}
	snprintf(c->id, sizeof(c->id), "%s", json_string_value(v));
	json_object_foreach(root, key, v) {
		found = 0;
		for (const char *const *k = keys; *k; k++)
			found |= !strcmp(*k, key);
		if (!found) {
			ret = say(-EINVAL, why, wlen, "malformed: unknown key '%.32s'", key);
			goto out;
		}
	}
	/* required, so that a command signed for one ward cannot be replayed
	 * on another that shares its key: there is no default to fall back on */
	v = json_object_get(root, "gateway");
	if (!v) {
		ret = say(-EINVAL, why, wlen, "malformed: no gateway: a command must name the gateway it is for "
			  "(\"gateway\": \"<gateway.id>\")");
		goto out;
	}
	if (!json_is_string(v) || !plain_name(json_string_value(v), 64)) {
		ret = say(-EINVAL, why, wlen, "malformed: gateway must be a gateway id of 1..64 letters, digits, '-', '_', '.'");
		goto out;
	}
	snprintf(c->gateway, sizeof(c->gateway), "%s", json_string_value(v));
	if ((c->ts_ms = secs_of(json_object_get(root, "ts"))) < 0) {
		ret = say(-EINVAL, why, wlen, "malformed: ts must be the time of the command in seconds since the epoch");
		goto out;
	}
	v = json_object_get(root, "action");
	s = json_is_string(v) ? json_string_value(v) : "";
	found = 0;
	for (int a = CMD_ON; a <= CMD_CLEAR; a++)
		if (!strcmp(s, cmd_action_name((enum cmd_action)a))) {
			c->action = (enum cmd_action)a;
			found = 1;
		}
	if (!found) {
		ret = say(-EINVAL, why, wlen, "malformed: action must be on, off, dim, override or clear_override");
		goto out;
	}
	c->have_action = 1;
	c->level = c->action == CMD_ON ? 100 : c->action == CMD_OFF ? 0 : NAN;
	if ((v = json_object_get(root, "level"))) {
		if (!json_is_number(v) || !isfinite(json_number_value(v))) {
			ret = say(-EINVAL, why, wlen, "malformed: level must be a number (dim level 0..100 %%)");
			goto out;
		}
		if (c->action == CMD_CLEAR) {
			ret = say(-EINVAL, why, wlen, "malformed: clear_override takes no level");
			goto out;
		}
		c->level = json_number_value(v);
		if (!(c->level >= 0 && c->level <= 100)) {
			ret = say(-ERANGE, why, wlen, "out of range: level %g must be 0..100 %%", c->level);
			goto out;
		}
		if ((c->action == CMD_ON && c->level == 0) || (c->action == CMD_OFF && c->level != 0)) {
			ret = say(-ERANGE, why, wlen, "out of range: %s with level %g; use dim", cmd_action_name(c->action), c->level);
			goto out;
		}
	} else if (c->action == CMD_DIM || c->action == CMD_OVERRIDE) {
		ret = say(-EINVAL, why, wlen, "malformed: %s needs a level 0..100", cmd_action_name(c->action));
		goto out;
	}
	if ((ret = parse_target(json_object_get(root, "target"), c, why, wlen)) < 0)
		goto out;
	c->have_target = 1;
	if ((v = json_object_get(root, "expires"))) {
		if ((c->expires_ms = secs_of(v)) < 0) {
			ret = say(-EINVAL, why, wlen, "malformed: expires must be a time in seconds since the epoch");
			goto out;
		}
		if (c->action == CMD_CLEAR) {
			ret = say(-EINVAL, why, wlen, "malformed: clear_override takes no expires");
			goto out;
		}
		if (c->expires_ms <= c->ts_ms || c->expires_ms - c->ts_ms > MAX_EXPIRES_S * 1000) {
			ret = say(-ERANGE, why, wlen, "out of range: expires must be after ts and at most 31 days later");
			goto out;
		}
	} else if (c->action == CMD_OVERRIDE) {
		ret = say(-EINVAL, why, wlen, "malformed: override needs expires (seconds since the epoch)");
		goto out;
	}
	if ((v = json_object_get(root, "reason"))) {
		if (!json_is_string(v) || json_string_length(v) > 95 || strpbrk(json_string_value(v), "\"\\\n\r\t")) {
			ret = say(-EINVAL, why, wlen, "malformed: reason must be a string of at most 95 characters without quotes, backslashes or control characters");
			goto out;
		}
		snprintf(c->reason, sizeof(c->reason), "%s", json_string_value(v));
		for (char *p = c->reason; *p; p++)
			if ((unsigned char)*p < 0x20)
				*p = ' ';
	}
out:
	json_decref(root);
	return ret;
}

int lighting_cmd_parse(const void *payload, size_t len, const unsigned char *key, size_t keylen,
		       struct lighting_cmd *c, char *why, size_t wlen)
{
	json_error_t jerr;
	json_t *env, *body, *mac;
	unsigned char want[EVP_MAX_MD_SIZE], got[32];
	unsigned wantlen = 0;
	const char *hex, *k;
	json_t *v;
	int ret;

	memset(c, 0, sizeof(*c));
	c->level = NAN;
	if (!payload || !len)
		return say(-EINVAL, why, wlen, "malformed: empty message");
	if (!(env = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &jerr)))
		return say(-EINVAL, why, wlen, "malformed: not JSON: %.80s", jerr.text);
	body = json_object_get(env, "body");
	mac = json_object_get(env, "hmac");
	if (!json_is_object(env) || !json_is_string(body)) {
		ret = say(-EINVAL, why, wlen, "malformed: the message must be {\"body\": \"<command JSON as a string>\", \"hmac\": \"<64 hex>\"}");
		goto out;
	}
	json_object_foreach(env, k, v)
		if (strcmp(k, "body") && strcmp(k, "hmac")) {
			ret = say(-EINVAL, why, wlen, "malformed: unknown envelope key '%.32s' (body, hmac)", k);
			goto out;
		}
	/* nothing of an unsigned body is believed; only its id is echoed */
	if (!mac) {
		ret = say(-EACCES, why, wlen, "unauthenticated: no hmac");
		goto id_only;
	}
	hex = json_is_string(mac) ? json_string_value(mac) : "";
	if (strlen(hex) != 64) {
		ret = say(-EACCES, why, wlen, "unauthenticated: hmac must be 64 hex digits (HMAC-SHA256)");
		goto id_only;
	}
	for (int i = 0; i < 32; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			ret = say(-EACCES, why, wlen, "unauthenticated: hmac must be 64 hex digits (HMAC-SHA256)");
			goto id_only;
		}
		got[i] = (unsigned char)(hi << 4 | lo);
	}
	if (!key || !keylen || !HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)json_string_value(body),
				     json_string_length(body), want, &wantlen) || wantlen != 32 ||
	    CRYPTO_memcmp(want, got, 32) != 0) {
		ret = say(-EACCES, why, wlen, "unauthenticated: hmac does not match the body (wrong key, or the body changed)");
		goto id_only;
	}
	c->authentic = 1;
	ret = parse_body(json_string_value(body), json_string_length(body), c, why, wlen);
	goto out;
id_only: {
		json_t *b = json_loadb(json_string_value(body), json_string_length(body), 0, NULL);
		json_t *id = json_object_get(b, "id");
		if (json_is_string(id) && plain_name(json_string_value(id), 64))
			snprintf(c->id, sizeof(c->id), "%s", json_string_value(id));
		json_decref(b);
	}
out:
	json_decref(env);
	return ret;
}
