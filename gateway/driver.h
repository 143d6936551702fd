/* The driver table: each kind of source (Modbus TCP now; RTU buses, Wi-Fi,
 * modems, ingest later) is a const struct driver_ops, listed statically in
 * driver.c, like libmodbus's backends. Data flows one way:
 * driver -> readings -> store -> publisher. */
#ifndef WARDGW_DRIVER_H
#define WARDGW_DRIVER_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct conf_ctx;
struct config_setting_t;
struct device_conf;
struct gateway;
struct opt;
struct device;
struct gw_config;

/* The answer to a write: @err 0 when the value was written and read back
 * equal; otherwise a negative errno and @reason ("exception 0x02",
 * "read back 40 after writing 50", ...). @readback is NaN when unknown.
 * Called exactly once, on the loop thread. */
typedef void (*gw_write_cb)(void *arg, int err, double readback, const char *reason);

struct driver_ops {
	const char *name;
	/* Driver-specific device keys (terminated by an entry with name NULL)
	 * and the size of the struct they fill; config.c parses them with the
	 * common option machinery, so every error has its file:line. */
	const struct opt *opts;
	size_t conf_size;
	/* Cross-field checks on one parsed device; report with conf_error(). */
	void (*check)(struct conf_ctx *ctx, const struct device_conf *dev);
	/* Create the runtime instance for every device of this driver and
	 * start it on the loop. Returns 0 or a negative errno. */
	int (*start)(struct gateway *gw, struct event_base *base);
	/* Stop polling and release every instance. Loop thread. */
	void (*stop)(struct gateway *gw);
	/* Write profile register @reg of @dev (value in engineering units:
	 * the driver undoes scale and offset, encodes type and order, picks
	 * the function code) and read it back. Returns 0 when queued (then
	 * @done follows) or a negative errno without calling @done. NULL:
	 * the driver cannot write. Loop thread. */
	int (*write)(struct gateway *gw, struct device *dev, size_t reg, double value,
		     gw_write_cb done, void *arg);
	/* Optional, for reload (SIGHUP) without restarting unchanged devices.
	 * start_device: create and start the instance of one device (already
	 * in gw->devices, set up). stop_device: stop and release one device's
	 * instance (dev->drv = NULL). move_device: @dev, still running, now
	 * lives at a new address in gw->devices (and dev->conf points at an
	 * equal device_conf of the new config): follow it. A driver without
	 * all three has all its devices restarted by a reload through stop()
	 * and start(). Loop thread. */
	int (*start_device)(struct gateway *gw, struct device *dev);
	void (*stop_device)(struct gateway *gw, struct device *dev);
	void (*move_device)(struct gateway *gw, struct device *dev);
	/* Checks across all devices (a shared serial bus's settings, unit ids
	 * on one bus); report with conf_error(). May be NULL. */
	void (*check_all)(struct conf_ctx *ctx, const struct gw_config *cfg);
	/* The live view (wardgw run --live): one line into @buf; > 0 when
	 * written, 0 for none. May be NULL. Loop thread. */
	int (*live)(struct gateway *gw, char *buf, size_t len);
};

extern const struct driver_ops modbus_tcp_driver;
extern const struct driver_ops modbus_rtu_driver;
extern const struct driver_ops modem_driver;
extern const struct driver_ops hostapd_driver;
extern const struct driver_ops push_driver;

/** Find a driver by name; NULL if there is none. */
const struct driver_ops *driver_find(const char *name);
/** The NULL-terminated list of all drivers. */
extern const struct driver_ops *const drivers[];

#endif
