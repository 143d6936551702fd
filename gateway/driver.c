/* The static list of drivers the gateway knows, and the set of their
 * running instances. */
#include "driver.h"

#include <errno.h>
#include <string.h>

#include "device.h"

const struct driver_ops *const drivers[] = {
	&modbus_tcp_driver,
	&modbus_rtu_driver,
	&modem_driver,
	&hostapd_driver,
	&push_driver,
	NULL,
};

_Static_assert(sizeof(drivers) / sizeof(drivers[0]) == NDRIVERS + 1, "NDRIVERS is the length of drivers[]");

const struct driver_ops *driver_find(const char *name)
{
	for (const struct driver_ops *const *d = drivers; *d; d++)
		if (!strcmp((*d)->name, name))
			return *d;
	return NULL;
}

int driver_set_init(struct driver_set *set, struct sink *sink)
{
	int ret;

	memset(set, 0, sizeof(*set));
	for (size_t i = 0; i < NDRIVERS; i++) {
		if ((ret = drivers[i]->new(&set->inst[i], sink)) < 0)
			return ret;
		set->inst[i]->ops = drivers[i];
		set->inst[i]->sink = sink;
	}
	return 0;
}

void driver_set_release(struct driver_set *set)
{
	for (size_t i = 0; i < NDRIVERS; i++)
		if (set->inst[i])
			drivers[i]->free(set->inst[i]);
	memset(set, 0, sizeof(*set));
}

struct driver *driver_set_get(const struct driver_set *set, const struct driver_ops *ops)
{
	for (size_t i = 0; i < NDRIVERS; i++)
		if (drivers[i] == ops)
			return set->inst[i];
	return NULL;
}

void driver_set_settle(const struct driver_set *set)
{
	for (size_t i = 0; i < NDRIVERS; i++)
		if (set->inst[i] && drivers[i]->settle)
			drivers[i]->settle(set->inst[i]);
}
