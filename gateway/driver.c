/* The static list of drivers the gateway knows. */
#include "driver.h"

#include <string.h>

const struct driver_ops *const drivers[] = {
	&modbus_tcp_driver,
	&modbus_rtu_driver,
	&modem_driver,
	&hostapd_driver,
	&push_driver,
	NULL,
};

const struct driver_ops *driver_find(const char *name)
{
	for (const struct driver_ops *const *d = drivers; *d; d++)
		if (!strcmp((*d)->name, name))
			return *d;
	return NULL;
}
