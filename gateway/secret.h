/* One reader for every secret file (the MQTT password, the status page's
 * token and password, the lighting HMAC key, the ingest tokens), with one
 * rule: the file is the gateway's own, no permission for group or others. */
#ifndef WARDGW_SECRET_H
#define WARDGW_SECRET_H

#include <stddef.h>
#include <stdio.h>

/**
 * Open secret file @path for reading. 0 with *@f (the caller fcloses it);
 * -EPERM when group or others have any permission on it; another negative
 * errno when it cannot be opened or examined. On failure @why (@wsz bytes)
 * holds the reason, "PATH is readable by group or others (mode 644): chmod
 * 600 it (owner: the gateway's user)" or "cannot read PATH: why".
 */
int secret_open(const char *path, FILE **f, char *why, size_t wsz);

/**
 * The first line of secret file @path, without its line end, in @buf
 * (@size bytes, NUL-terminated; longer content is cut). 0, -ENODATA when
 * the line is empty, or what secret_open() returns, with @why as there.
 * The caller wipes @buf when done (OPENSSL_cleanse).
 */
int secret_read_line(const char *path, char *buf, size_t size, char *why, size_t wsz);

#endif
