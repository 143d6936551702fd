/* Modbus RTU on serial lines (RS-485/RS-232) through libmodbus: one worker
 * thread per bus (serial device path), every unit id on it served in turn
 * by that one arbiter, results handed to the loop through a loopq. */
#ifndef WARDGW_MODBUS_RTU_H
#define WARDGW_MODBUS_RTU_H

struct gw_config;
struct device_conf;

/* A modbus-rtu device's own keys (config/example-field.conf documents them).
 * Devices with the same `serial` path share a bus and must agree on the
 * line settings. */
struct rtu_conf {
	char *serial;           /* device path, e.g. /dev/ttyUSB0 */
	int baud;
	char *parity;           /* "N", "E" or "O" */
	int data_bits, stop_bits;
	int rs485;              /* ask the port for RS-485 mode (TIOCSRS485) */
	int unit;               /* 1..247 */
	int max_gap, max_regs;
	int frame_gap_ms;       /* silence between frames; 0: 3.5 characters */
	int turnaround_ms;      /* the slaves' typical reply delay (bus budget) */
};

/** Whether @dev is a modbus-rtu device (its drv is a struct rtu_conf). */
int modbus_rtu_is(const struct device_conf *dev);

/** Bits on the wire per character: start + data + parity + stop. */
unsigned rtu_char_bits(const struct rtu_conf *c);
/** The silence between frames in µs: frame_gap_ms, or 3.5 characters
 *  (1750 µs at more than 19200 baud, as the Modbus serial line spec says). */
long rtu_frame_gap_us(const struct rtu_conf *c);

#endif
