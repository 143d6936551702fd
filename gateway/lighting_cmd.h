/* Lighting commands from the IOC (MQTT {prefix}/{gateway}/cmd/lighting):
 * verify (HMAC, gateway, time window, replay store; command.c parses),
 * audit, answer "accepted"/"rejected" on cmd-result/lighting, apply as an
 * override, and answer "done"/"failed" with per-device results after the
 * drivers' read-back. Loop thread. */
#ifndef WARDGW_LIGHTING_CMD_H
#define WARDGW_LIGHTING_CMD_H

#include <stddef.h>

struct lighting;

/** An MQTT message on the command topic (@payload NULL: too large to read). */
void lighting_command(struct lighting *l, const void *payload, size_t len);

#endif
