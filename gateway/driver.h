/* The driver table: each kind of source (Modbus TCP, RTU buses, modems,
 * hostapd access points, pushed devices) is a const struct driver_ops,
 * listed statically in driver.c, like libmodbus's backends. A running
 * gateway makes one instance of each driver (struct driver, which the
 * driver's own state embeds first); an instance owns everything it runs
 * and reaches the gateway only through its sink (sink.h). Data flows one
 * way: driver -> sink -> store -> publisher. See docs/architecture.md,
 * "Drivers". */
#ifndef WARDGW_DRIVER_H
#define WARDGW_DRIVER_H

#include <stddef.h>
#include <stdint.h>

struct conf_ctx;
struct device_conf;
struct device;
struct gw_config;
struct opt;
struct sink;

/* The answer to a write: @err 0 when the value was written and read back
 * equal; otherwise a negative errno and @reason ("exception 0x02",
 * "read back 40 after writing 50", ...). @readback is NaN when unknown.
 * Called exactly once, on the loop thread. */
typedef void (*gw_write_cb)(void *arg, int err, double readback, const char *reason);

/* One driver's instance; each driver's state starts with it. */
struct driver {
	const struct driver_ops *ops;
	struct sink *sink;          /* borrowed: outlives the instance */
};

struct driver_ops {
	const char *name;
	/* Driver-specific device keys (terminated by an entry with name NULL)
	 * and the size of the struct they fill; config.c parses them with the
	 * common option machinery, so every error has its file:line. */
	const struct opt *opts;
	size_t conf_size;
	/* Cross-field checks on one parsed device; report with conf_error(). */
	void (*check)(struct conf_ctx *ctx, const struct device_conf *dev);
	/* Checks across all devices (a shared serial bus's settings, unit ids
	 * on one bus); report with conf_error(). May be NULL. */
	void (*check_all)(struct conf_ctx *ctx, const struct gw_config *cfg);

	/* The instance: new() makes it with no device (0 or negative errno;
	 * *out set only on success); free() releases it, every device having
	 * been stopped (stop_device) before. Work still in flight on a worker
	 * may outlive it, detached: it finishes on its own copies and is
	 * dropped, never delivered. Loop thread. */
	int (*new)(struct driver **out, struct sink *sink);
	void (*free)(struct driver *drv);
	/* Device by device, at start and on reload (SIGHUP):
	 * start_device: create and start @dev's runtime state (dev->drv); the
	 * first poll keeps dev->due_us's phase when a reload restarts it.
	 * stop_device: stop and release it (dev->drv = NULL); its results
	 * still queued are dropped; a write in flight is answered -ECANCELED.
	 * move_device: @dev, still running, now lives at a new address (and
	 * dev->conf points at an equal device_conf of the new config):
	 * follow it. Other devices of the instance are not disturbed.
	 * Loop thread. */
	int (*start_device)(struct driver *drv, struct device *dev);
	void (*stop_device)(struct driver *drv, struct device *dev);
	void (*move_device)(struct driver *drv, struct device *dev);
	/* After a batch of start/stop/move (start-up, each reload): spread
	 * the first polls, log a summary, drop what no device uses any more.
	 * May be NULL. Loop thread. */
	void (*settle)(struct driver *drv);
	/* Write profile register @reg of @dev (value in engineering units:
	 * the driver undoes scale and offset, encodes type and order, picks
	 * the function code) and read it back. Returns 0 when queued (then
	 * @done follows) or a negative errno without calling @done. NULL:
	 * the driver cannot write. Loop thread. */
	int (*write)(struct driver *drv, struct device *dev, size_t reg, double value,
		     gw_write_cb done, void *arg);
	/* One line for the live view (--live) over @devs, the gateway's
	 * devices; its length, 0 for nothing to say. May be NULL. */
	int (*live)(struct driver *drv, const struct device *devs, size_t ndevs, char *buf, size_t len);
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
#define NDRIVERS 5

/* The running instances, one per driver of the table. */
struct driver_set {
	struct driver *inst[NDRIVERS];
};

/** Make an instance of every driver, each with @sink. 0 or negative errno
 *  (then driver_set_release() what was made). Loop thread. */
int driver_set_init(struct driver_set *set, struct sink *sink);
/** Free every instance (stopping their devices). Loop thread. */
void driver_set_release(struct driver_set *set);
/** The instance of @ops, NULL if none. */
struct driver *driver_set_get(const struct driver_set *set, const struct driver_ops *ops);
/** Call every instance's settle(). */
void driver_set_settle(const struct driver_set *set);

#endif
