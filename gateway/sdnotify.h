/* systemd's readiness protocol, without libsystemd: one datagram per state
 * ("READY=1", "WATCHDOG=1", "RELOADING=1", "STOPPING=1") to $NOTIFY_SOCKET.
 * Does nothing when the variable is not set (not run by systemd). */
#ifndef WARDGW_SDNOTIFY_H
#define WARDGW_SDNOTIFY_H

#include <stdint.h>

/** Send @state (e.g. "READY=1\nSTATUS=polling 54 devices"). 1 sent, 0 no
 *  socket configured, negative errno. Any thread; never blocks. */
int sd_notify_send(const char *state);
/** The watchdog interval systemd asked for ($WATCHDOG_USEC, for this pid),
 *  in µs; 0 when there is none. */
int64_t sd_watchdog_usec(void);

#endif
