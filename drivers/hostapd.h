/* The hostapd driver's extras for the daemon (the driver itself is
 * hostapd_driver in driver.h). */
#ifndef WARDGW_HOSTAPD_H
#define WARDGW_HOSTAPD_H

#include <stddef.h>

struct gateway;

/** The ward's Wi-Fi figures now as one line for --live. Its length, 0 without hostapd devices. Loop thread. */
int hostapd_live(struct gateway *gw, char *buf, size_t n);

#endif
