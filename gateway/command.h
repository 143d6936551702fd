/* IOC lighting commands: the signed envelope and the command inside it.
 * A pure parser (no clock, no state), so it can be fuzzed; the checks that
 * need the clock, the replay store and the config (timestamp window,
 * replayed ids, unknown targets) are lighting.c's. Any thread.
 *
 * Wire format (README "Commands from the IOC"):
 *   {"body": "<the command, JSON text, as a string>", "hmac": "<64 hex>"}
 * hmac = HMAC-SHA256(key, the body's bytes exactly as signed), lowercase or
 * uppercase hex. The body:
 *   {"id": "ioc-000123", "gateway": "phuoc-long", "ts": 1796155838,
 *    "action": "dim", "level": 50, "target": {"group": "north"},
 *    "expires": 1796170238, "reason": "..."}
 * "gateway" is required: it names the gateway (gateway.id) the command is
 * for, inside the signature, so a command captured on one ward's topic is
 * refused by every other ward even when two wards share a key. The parser
 * only reads it; lighting.c compares it with its own id.
 */
#ifndef WARDGW_COMMAND_H
#define WARDGW_COMMAND_H

#include <stddef.h>
#include <stdint.h>

#include "schedule.h"

enum cmd_action { CMD_ON, CMD_OFF, CMD_DIM, CMD_OVERRIDE, CMD_CLEAR };

struct lighting_cmd {
	char id[65];            /* filled as soon as it is readable, even when rejected later */
	char gateway[65];       /* the gateway the command is for */
	int64_t ts_ms;
	enum cmd_action action;
	double level;           /* 0..100 %; on = 100, off = 0 unless given */
	enum sched_scope scope;
	char target[64];        /* group or device name; empty for the ward */
	int lamp;               /* the target was given as "lamp" */
	int64_t expires_ms;     /* 0: not given */
	char reason[96];
	int have_action, have_target;   /* how far a rejected command was read */
	int authentic;          /* the HMAC matched: whatever follows, it came from the key's holder */
};

const char *cmd_action_name(enum cmd_action a);

/**
 * Check the envelope's HMAC with @key and parse the command. Returns 0,
 * or -EACCES (unauthenticated: no or wrong signature), -EINVAL (malformed)
 * or -ERANGE (a value out of range), with the reason in @why.
 */
int lighting_cmd_parse(const void *payload, size_t len, const unsigned char *key, size_t keylen,
		       struct lighting_cmd *c, char *why, size_t wlen);

#endif
