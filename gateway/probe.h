/* The technician's tools behind `wardgw probe` and `wardgw scan`: read a
 * device's registers once and show them decoded every way the gateway can
 * decode them, read a configured device's profile once, and find which unit
 * ids answer on a line. Blocking libmodbus calls, one request at a time, as
 * suits a command-line tool; the daemon never calls these. */
#ifndef WARDGW_PROBE_H
#define WARDGW_PROBE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "decode.h"

struct gw_config;

/* PROBE_RTU_TCP: raw RTU frames over TCP (a serial server or DTU in
 * transparent mode); host and port as for TCP, unit ids as on a line. */
enum probe_link { PROBE_TCP, PROBE_RTU, PROBE_RTU_TCP };

/* Where the device is: a TCP host and port, or a serial line. */
struct probe_target {
	enum probe_link link;
	char host[256];         /* TCP: name or address (an IPv6 one without brackets) */
	int port;               /* TCP: 1..65535 */
	char dev[256];          /* RTU: serial device path */
	int baud;               /* RTU: a standard rate */
	char parity;            /* RTU: 'N', 'E' or 'O' */
	int data_bits;          /* RTU: 5..8 */
	int stop_bits;          /* RTU: 1 or 2 */
};

/* What `probe --tcp|--rtu` reads. */
struct probe_read_opts {
	struct probe_target target;
	int unit;
	enum reg_table table;
	unsigned address, count;
	int timeout_ms;
	int debug;              /* libmodbus prints every frame */
};

/* What `scan` tries. */
struct probe_scan_opts {
	struct probe_target target;
	unsigned char units[256];   /* 1: try this unit id */
	enum reg_table table;
	unsigned address;
	int timeout_ms;             /* per unit */
	int verbose;                /* also list units that did not answer */
	int debug;
};

/*
 * Parsers of the command line. Each returns 0, or -EINVAL with a message
 * for the technician in @err (no prefix, no newline). They never touch the
 * network and are safe on any input (fuzzed by tests/fuzz/fuzz_probe_args.c).
 */

/** "HOST:PORT", "HOST" (port 502) or "[IPV6]:PORT" into @t (link PROBE_TCP). */
int probe_parse_tcp(const char *s, struct probe_target *t, char *err, size_t errlen);
/** "DEV:BAUD:8N1" (data bits 5..8, parity N/E/O, stop bits 1..2) or
 *  "DEV:BAUD" (8N1) into @t (link PROBE_RTU). */
int probe_parse_rtu(const char *s, struct probe_target *t, char *err, size_t errlen);
/** A unit id list: "1-247", "3", "1,3,10-20". Sets @units[id] = 1 for each;
 *  ids must be 0..247 or 255 over TCP, 1..247 over RTU (0 is broadcast).
 *  Returns the number of ids (> 0) or -EINVAL. */
int probe_parse_units(const char *s, enum probe_link link, unsigned char units[256],
		      char *err, size_t errlen);
/** One unit id for @link, as probe_parse_units allows them. */
int probe_parse_unit(const char *s, enum probe_link link, int *out, char *err, size_t errlen);
/** A number in @lo..@hi, decimal or 0x-hex (never octal); @name is the
 *  option named in the message. */
int probe_parse_number(const char *name, const char *s, long lo, long hi, long *out,
		       char *err, size_t errlen);
/** A read of @count registers (1..125) or bits (1..2000) of @t from
 *  @address must end at 65536 at most. */
int probe_check_span(enum reg_table t, unsigned long address, unsigned long count,
		     char *err, size_t errlen);

/**
 * `wardgw probe --tcp|--rtu`: read once and print the registers and every
 * decoding of them to @out. Returns 0, or 1 after one line on @errs naming
 * the cause (cannot connect, no reply, exception 0x02 (illegal data address)...).
 */
int probe_registers(const struct probe_read_opts *o, FILE *out, FILE *errs);

/**
 * Print @count registers (bits: 0/1 words) read from @table at @address:
 * each register raw (hex, u16/s16 in both byte orders, bits), then at every
 * start address where they fit the 32-bit and 64-bit types in every order
 * decode.h knows, decoded by reg_decode(). No I/O but @out.
 */
void probe_print_words(FILE *out, enum reg_table t, unsigned address, const uint16_t *words,
		       unsigned count);

/**
 * `wardgw probe -c FILE --device NAME`: read every register of the device's
 * profile once (the plan of gateway/plan.c, contiguous reads) and print each
 * metric's value scaled as the gateway does, its unit and quality. A
 * @timeout_ms of 0 takes the device's own. Returns 0 when every read
 * worked, 1 otherwise (unknown device, no connection, a failed read).
 */
int probe_device(const struct gw_config *cfg, const char *name, int timeout_ms, int debug,
		 FILE *out, FILE *errs);

/**
 * Up to @max device names of @cfg that look like @name (edit distance or a
 * common part), best first, into @out. Returns how many.
 */
size_t probe_similar_devices(const struct gw_config *cfg, const char *name, const char **out,
			     size_t max);

/**
 * `wardgw scan`: a 1-register (or 1-bit) read per unit id; prints each unit
 * that answers, with data or with an exception, and a summary. Exceptions
 * 0x0A/0x0B come from a TCP gateway in front of a serial line and mean no
 * device answered there; they are not counted as answers. Returns 0 when
 * some unit answered, 1 when none did or the line failed.
 */
int probe_scan(const struct probe_scan_opts *o, FILE *out, FILE *errs);

#endif
