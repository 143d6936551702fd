/* The technician's probe and scan tools. They talk through libmodbus,
 * blocking, one request at a time (simplicity wins over scale here), and
 * decode with gateway/decode.c exactly as the gateway does, so what a probe
 * shows is what the gateway would store. */
#include "probe.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <modbus.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "driver.h"
#include "mbap.h"
#include "plan.h"
#include "store.h"

static int bad(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (err && len) {
		va_start(ap, fmt);
		vsnprintf(err, len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* snprintf whose truncation of a long host or device name is fine. */
static void say(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static int all_digits(const char *s, size_t n)
{
	if (!n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

int probe_parse_number(const char *name, const char *s, long lo, long hi, long *out,
		       char *err, size_t errlen)
{
	const char *p = s;
	unsigned long long v;
	char *end;
	int base = 10;

	if (!s || !*s)
		return bad(err, errlen, "%s is empty; it must be a number %ld..%ld", name, lo, hi);
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	/* strtoull would take spaces, signs and (base 0) octal; a technician
	 * typing 010 means ten */
	if (base == 16 ? !isxdigit((unsigned char)*p) : !isdigit((unsigned char)*p))
		return bad(err, errlen, "%s must be a number (got '%s')", name, s);
	errno = 0;
	v = strtoull(p, &end, base);
	if (errno || *end)
		return bad(err, errlen, "%s must be a number %ld..%ld (got '%s')", name, lo, hi, s);
	if (v < (unsigned long long)lo || v > (unsigned long long)hi)
		return bad(err, errlen, "%s must be %ld..%ld (got '%s')", name, lo, hi, s);
	*out = (long)v;
	return 0;
}

static int host_char_ok(char c, int bracketed)
{
	if (isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_')
		return 1;
	return bracketed && (c == ':' || c == '%');
}

int probe_parse_tcp(const char *s, struct probe_target *t, char *err, size_t errlen)
{
	const char *host, *port = NULL, *colon;
	size_t hlen;
	int bracketed = 0;
	long v;

	memset(t, 0, sizeof(*t));
	t->link = PROBE_TCP;
	t->port = 502;
	if (!s || !*s)
		return bad(err, errlen, "--tcp is empty; use HOST:PORT, e.g. 10.20.1.40:502");
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close)
			return bad(err, errlen, "'%s': no ']' after the IPv6 address; use [ADDRESS]:PORT", s);
		host = s + 1;
		hlen = (size_t)(close - host);
		bracketed = 1;
		if (close[1] == ':')
			port = close + 2;
		else if (close[1])
			return bad(err, errlen, "'%s': expected ':PORT' after ']'", s);
	} else {
		colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':'))
			return bad(err, errlen, "'%s': an IPv6 address goes in brackets, e.g. [fe80::1]:502", s);
		host = s;
		hlen = colon ? (size_t)(colon - s) : strlen(s);
		if (colon)
			port = colon + 1;
	}
	if (!hlen)
		return bad(err, errlen, "'%s': the host is missing; use HOST:PORT, e.g. 10.20.1.40:502", s);
	if (hlen >= sizeof(t->host))
		return bad(err, errlen, "the host in --tcp is longer than %zu characters", sizeof(t->host) - 1);
	for (size_t i = 0; i < hlen; i++)
		if (!host_char_ok(host[i], bracketed))
			return bad(err, errlen, "'%s': the host has a character that cannot be in a host name "
				   "or address (0x%02x)", s, (unsigned char)host[i]);
	memcpy(t->host, host, hlen);
	t->host[hlen] = 0;
	if (port) {
		if (!*port)
			return bad(err, errlen, "'%s': the port after ':' is missing", s);
		if (probe_parse_number("the port", port, 1, 65535, &v, err, errlen) < 0)
			return -EINVAL;
		t->port = (int)v;
	}
	return 0;
}

/* Rates the Linux serial drivers (and libmodbus's table of them) know;
 * libmodbus would quietly use 9600 for any other. */
static const long std_bauds[] = {
	110, 300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200,
	230400, 460800, 500000, 576000, 921600, 1000000,
};

int probe_parse_rtu(const char *s, struct probe_target *t, char *err, size_t errlen)
{
	const char *last, *baud, *frame = NULL;
	size_t dlen, blen;
	long v;
	int known = 0;

	memset(t, 0, sizeof(*t));
	t->link = PROBE_RTU;
	t->parity = 'N';
	t->data_bits = 8;
	t->stop_bits = 1;
	if (!s || !*s)
		return bad(err, errlen, "--rtu is empty; use DEVICE:BAUD:FRAME, e.g. /dev/ttyUSB0:9600:8N1");
	last = strrchr(s, ':');
	if (!last)
		return bad(err, errlen, "'%s': the baud rate is missing; use DEVICE:BAUD:FRAME, "
			   "e.g. /dev/ttyUSB0:9600:8N1", s);
	if (!last[1])
		return bad(err, errlen, "'%s': nothing after the last ':'; use DEVICE:BAUD:FRAME, "
			   "e.g. /dev/ttyUSB0:9600:8N1", s);
	if (all_digits(last + 1, strlen(last + 1)) || last == s) {
		baud = last + 1;        /* DEVICE:BAUD, 8N1 */
		blen = strlen(baud);
		dlen = (size_t)(last - s);
	} else {
		/* DEVICE:BAUD:FRAME; the device path itself may hold ':'
		 * (/dev/serial/by-path/...), so fields are taken from the right */
		const char *p = last;
		frame = last + 1;
		while (p > s && p[-1] != ':')
			p--;
		if (p == s) {
			/* one ':' only: what follows is the baud rate */
			baud = last + 1;
			blen = strlen(baud);
			dlen = (size_t)(last - s);
			frame = NULL;
		} else {
			baud = p;
			blen = (size_t)(last - p);
			dlen = (size_t)(p - 1 - s);
		}
	}
	if (!dlen)
		return bad(err, errlen, "'%s': the serial device is missing, e.g. /dev/ttyUSB0:9600:8N1", s);
	if (dlen >= sizeof(t->dev))
		return bad(err, errlen, "the serial device in --rtu is longer than %zu characters", sizeof(t->dev) - 1);
	if (s[0] != '/')
		return bad(err, errlen, "'%.*s' is not a device path; use e.g. /dev/ttyUSB0:9600:8N1", (int)dlen, s);
	memcpy(t->dev, s, dlen);
	t->dev[dlen] = 0;
	if (!blen)
		return bad(err, errlen, "'%s': the baud rate is missing, e.g. /dev/ttyUSB0:9600:8N1", s);
	if (!all_digits(baud, blen))
		return bad(err, errlen, "'%s': the baud rate '%.*s' is not a number", s, (int)blen, baud);
	if (blen > 7)
		return bad(err, errlen, "'%s': the baud rate '%.*s' is too large", s, (int)blen, baud);
	v = strtol(baud, NULL, 10);
	for (size_t i = 0; i < sizeof(std_bauds) / sizeof(std_bauds[0]); i++)
		known |= std_bauds[i] == v;
	if (!known)
		return bad(err, errlen, "baud rate %ld is not a standard rate; use 1200, 2400, 4800, 9600, "
			   "19200, 38400, 57600 or 115200 (or 300, 600, 230400, 460800, 921600...)", v);
	t->baud = (int)v;
	if (!frame)
		return 0;
	if (strlen(frame) != 3)
		return bad(err, errlen, "frame '%s' must be data bits, parity and stop bits, e.g. 8N1, 8E1, 7O2",
			   frame);
	if (frame[0] < '5' || frame[0] > '8')
		return bad(err, errlen, "frame '%s': data bits must be 5..8 (usually 8)", frame);
	switch (toupper((unsigned char)frame[1])) {
	case 'N': case 'E': case 'O':
		t->parity = (char)toupper((unsigned char)frame[1]);
		break;
	default:
		return bad(err, errlen, "frame '%s': parity '%c' must be N (none), E (even) or O (odd)",
			   frame, isprint((unsigned char)frame[1]) ? frame[1] : '?');
	}
	if (frame[2] != '1' && frame[2] != '2')
		return bad(err, errlen, "frame '%s': stop bits must be 1 or 2", frame);
	t->data_bits = frame[0] - '0';
	t->stop_bits = frame[2] - '0';
	return 0;
}

/* libmodbus sets unit ids 0..247 and 255 (MODBUS_TCP_SLAVE) only; on a
 * serial line 0 is the broadcast address, which nobody answers. */
static int unit_ok(long u, enum probe_link link, char *err, size_t errlen)
{
	if ((link == PROBE_RTU || link == PROBE_RTU_TCP) && (u < 1 || u > 247))
		return bad(err, errlen, "unit %ld cannot be read on a serial line; use 1..247 (0 is broadcast)", u);
	if (link == PROBE_TCP && (u < 0 || (u > 247 && u != 255)))
		return bad(err, errlen, "unit %ld cannot be read over TCP; use 0..247 or 255", u);
	return 0;
}

int probe_parse_unit(const char *s, enum probe_link link, int *out, char *err, size_t errlen)
{
	long v;

	if (probe_parse_number("--unit", s, 0, 255, &v, err, errlen) < 0 || unit_ok(v, link, err, errlen) < 0)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

int probe_parse_units(const char *s, enum probe_link link, unsigned char units[256],
		      char *err, size_t errlen)
{
	char tok[32];
	const char *p = s;
	int n = 0;

	memset(units, 0, 256);
	if (!s || !*s)
		return bad(err, errlen, "--units is empty; use e.g. 1-247 or 1,3,10-20");
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char *dash;
		long lo, hi;

		if (!len)
			return bad(err, errlen, "--units '%s' has an empty entry; use e.g. 1-247 or 1,3,10-20", s);
		if (len >= sizeof(tok))
			return bad(err, errlen, "--units '%s': entry '%.*s' is too long", s, (int)len, p);
		memcpy(tok, p, len);
		tok[len] = 0;
		dash = strchr(tok, '-');
		if (dash)
			*dash = 0;
		if (probe_parse_number("a unit id", tok, 0, 255, &lo, err, errlen) < 0)
			return -EINVAL;
		hi = lo;
		if (dash && probe_parse_number("a unit id", dash + 1, 0, 255, &hi, err, errlen) < 0)
			return -EINVAL;
		if (hi < lo)
			return bad(err, errlen, "--units: range %ld-%ld runs backwards", lo, hi);
		for (long u = lo; u <= hi; u++) {
			if (unit_ok(u, link, err, errlen) < 0)
				return -EINVAL;
			n += !units[u];
			units[u] = 1;
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	return n;
}

int probe_check_span(enum reg_table t, unsigned long address, unsigned long count,
		     char *err, size_t errlen)
{
	unsigned long max = reg_table_is_bits(t) ? PLAN_MAX_BITS : PLAN_MAX_REGS;

	if (count < 1 || count > max)
		return bad(err, errlen, "--count must be 1..%lu for %s (got %lu)", max,
			   reg_table_is_bits(t) ? "bits" : "registers", count);
	if (address > 65535)
		return bad(err, errlen, "--address must be 0..65535 (0x0000..0xFFFF), got %lu", address);
	if (address + count > 65536)
		return bad(err, errlen, "--address 0x%04lx + --count %lu runs past the last address 0xFFFF",
			   address, count);
	return 0;
}

/* ---- talking to the device ---- */

static void target_str(const struct probe_target *t, char *buf, size_t len)
{
	if (t->link == PROBE_RTU)
		snprintf(buf, len, "%s %d %d%c%d", t->dev, t->baud, t->data_bits, t->parity, t->stop_bits);
	else if (t->link == PROBE_RTU_TCP)
		snprintf(buf, len, "%s:%d (RTU over TCP)", t->host, t->port);
	else if (strchr(t->host, ':'))
		snprintf(buf, len, "[%s]:%d", t->host, t->port);
	else
		snprintf(buf, len, "%s:%d", t->host, t->port);
}

/* Errors as the technician should read them: the exception by its code and
 * name (the gateway's words, from drivers/mbap.c), a timeout with its
 * length, anything else in libmodbus's words. */
static void describe(int err, int timeout_ms, char *buf, size_t len)
{
	if (err >= EMBXILFUN && err <= EMBXGTAR) {
		unsigned code = (unsigned)(err - MODBUS_ENOBASE);
		const char *name = mbap_exception_str((uint8_t)code);

		if (!strcmp(name, "unknown exception"))
			name = modbus_strerror(err);
		snprintf(buf, len, "exception 0x%02x (%s)", code, name);
	} else if (err == ETIMEDOUT) {
		snprintf(buf, len, "no reply within %d ms", timeout_ms);
	} else if (err == EMBBADDATA || err == EMBMDATA) {
		snprintf(buf, len, "the reply is not a Modbus answer to this request (%s); --debug shows its bytes",
			 modbus_strerror(err));
	} else if (err == EMBBADCRC) {
		snprintf(buf, len, "%s: wrong baud rate or parity, or noise on the line", modbus_strerror(err));
	} else {
		snprintf(buf, len, "%s", modbus_strerror(err));
	}
}

static const char *table_noun(enum reg_table t, unsigned long n)
{
	switch (t) {
	case TABLE_COIL: return n == 1 ? "coil" : "coils";
	case TABLE_DISCRETE: return n == 1 ? "discrete input" : "discrete inputs";
	case TABLE_INPUT: return n == 1 ? "input register" : "input registers";
	default: return n == 1 ? "holding register" : "holding registers";
	}
}

/* RTU over TCP through libmodbus: libmodbus has no such backend, so the
 * tool opens a pseudo-terminal, lets libmodbus speak RTU on its slave side
 * (framing, CRC, timeouts as on a serial line) and copies bytes between
 * the master side and the TCP connection on a small thread. */
struct bridge {
	int master, sock, stop[2];
	pthread_t th;
	int running;
};
static struct bridge bridge = { -1, -1, { -1, -1 }, 0, 0 };

static void *bridge_main(void *arg)
{
	struct bridge *b = arg;
	uint8_t buf[512];

	for (;;) {
		struct pollfd p[3] = { { b->master, POLLIN, 0 }, { b->sock, POLLIN, 0 }, { b->stop[0], POLLIN, 0 } };
		if (poll(p, 3, -1) < 0)
			continue;
		if (p[2].revents)
			break;
		for (int i = 0; i < 2; i++) {
			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t n = read(i ? b->sock : b->master, buf, sizeof(buf));
			if (n <= 0) {
				if (i == 1)
					return NULL;    /* the server hung up: libmodbus sees silence */
				continue;
			}
			if (write(i ? b->master : b->sock, buf, (size_t)n) != n)
				return NULL;
		}
	}
	return NULL;
}

static void bridge_close(void)
{
	if (bridge.running) {
		if (write(bridge.stop[1], "x", 1) < 0)
			(void)0;
		pthread_join(bridge.th, NULL);
		bridge.running = 0;
	}
	if (bridge.master >= 0)
		close(bridge.master);
	if (bridge.sock >= 0)
		close(bridge.sock);
	if (bridge.stop[0] >= 0) {
		close(bridge.stop[0]);
		close(bridge.stop[1]);
	}
	bridge.master = bridge.sock = bridge.stop[0] = bridge.stop[1] = -1;
}

/* Connect to @ip:@port and open the pty; the slave's path into @slave. */
static int bridge_open(const char *ip, const char *port, int timeout_ms, char *slave, size_t slen,
		       char *err, size_t len)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	const char *name;

	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(ip, port, &hints, &res) || !res)
		return bad(err, len, "cannot resolve %s", ip);
	bridge.sock = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (bridge.sock >= 0) {
		struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
		setsockopt(bridge.sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	if (bridge.sock < 0 || connect(bridge.sock, res->ai_addr, res->ai_addrlen) < 0) {
		int e = errno;
		freeaddrinfo(res);
		bridge_close();
		return bad(err, len, "cannot connect to %s:%s: %s", ip, port,
			   e == EINPROGRESS || e == EAGAIN ? "no answer" : strerror(e));
	}
	freeaddrinfo(res);
	bridge.master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (bridge.master < 0 || grantpt(bridge.master) < 0 || unlockpt(bridge.master) < 0 ||
	    !(name = ptsname(bridge.master)) || pipe(bridge.stop) < 0) {
		bridge_close();
		return bad(err, len, "cannot open a pseudo-terminal for RTU over TCP: %s", strerror(errno));
	}
	snprintf(slave, slen, "%s", name);
	if (pthread_create(&bridge.th, NULL, bridge_main, &bridge) != 0) {
		bridge_close();
		return bad(err, len, "cannot start the RTU over TCP bridge");
	}
	bridge.running = 1;
	return 0;
}

/* A connected context, or NULL with the reason in @err. */
static modbus_t *link_open(const struct probe_target *t, int unit, int timeout_ms, int debug,
			   char *err, size_t len)
{
	char where[300];
	modbus_t *ctx;
	int e;

	target_str(t, where, sizeof(where));
	if (unit_ok(unit, t->link, err, len) < 0)
		return NULL;
	if (t->link == PROBE_TCP) {
		struct addrinfo hints = { 0 }, *res = NULL;
		char port[8], ip[NI_MAXHOST];
		int rc, family;

		/* resolve here: libmodbus takes a numeric IPv4 address only
		 * (modbus_new_tcp) or reports a failed look-up as "Connection
		 * refused" (modbus_new_tcp_pi) */
		hints.ai_socktype = SOCK_STREAM;
		snprintf(port, sizeof(port), "%d", t->port);
		rc = getaddrinfo(t->host, port, &hints, &res);
		if (rc || !res) {
			say(err, len, "cannot resolve %s: %s", t->host, rc ? gai_strerror(rc) : "no address");
			if (res)
				freeaddrinfo(res);
			return NULL;
		}
		rc = getnameinfo(res->ai_addr, res->ai_addrlen, ip, sizeof(ip), NULL, 0, NI_NUMERICHOST);
		family = res->ai_family;
		freeaddrinfo(res);
		if (rc) {
			say(err, len, "cannot resolve %s: %s", t->host, gai_strerror(rc));
			return NULL;
		}
		ctx = family == AF_INET ? modbus_new_tcp(ip, t->port) : modbus_new_tcp_pi(ip, port);
	} else if (t->link == PROBE_RTU_TCP) {
		char port[8], slave[128];
		snprintf(port, sizeof(port), "%d", t->port);
		if (bridge_open(t->host, port, timeout_ms, slave, sizeof(slave), err, len) < 0)
			return NULL;
		/* the line's speed is the serial server's business; any will do */
		ctx = modbus_new_rtu(slave, 115200, 'N', 8, 1);
	} else {
		ctx = modbus_new_rtu(t->dev, t->baud, t->parity, t->data_bits, t->stop_bits);
	}
	if (!ctx) {
		say(err, len, "%s: cannot set up libmodbus: %s", where, modbus_strerror(errno));
		return NULL;
	}
	if (modbus_set_slave(ctx, unit) < 0) {
		say(err, len, "%s: unit %d: %s", where, unit, modbus_strerror(errno));
		goto fail;
	}
	modbus_set_response_timeout(ctx, (uint32_t)(timeout_ms / 1000), (uint32_t)(timeout_ms % 1000) * 1000);
	modbus_set_debug(ctx, debug ? 1 : 0);
	if (modbus_connect(ctx) < 0) {
		e = errno;
		if (t->link == PROBE_RTU)
			say(err, len, "cannot open %s: %s", t->dev, modbus_strerror(e));
		else if (e == ETIMEDOUT)
			say(err, len, "cannot connect to %s: no answer within %d ms", where, timeout_ms);
		else
			say(err, len, "cannot connect to %s: %s", where, modbus_strerror(e));
		goto fail;
	}
	if (t->link != PROBE_TCP)
		modbus_flush(ctx);      /* bytes left on the line by someone else */
	return ctx;
fail:
	modbus_free(ctx);
	bridge_close();
	return NULL;
}

static void link_close(modbus_t *ctx)
{
	if (ctx) {
		modbus_close(ctx);
		modbus_free(ctx);
	}
	bridge_close();
}

/* One read into @words (bits as 0/1 words); 0 or a negative libmodbus
 * errno. */
static int read_table(modbus_t *ctx, enum reg_table t, unsigned address, unsigned count, uint16_t *words)
{
	uint8_t bits[PLAN_MAX_BITS];
	int rc;

	errno = 0;
	switch (t) {
	case TABLE_HOLDING: rc = modbus_read_registers(ctx, (int)address, (int)count, words); break;
	case TABLE_INPUT: rc = modbus_read_input_registers(ctx, (int)address, (int)count, words); break;
	case TABLE_COIL: rc = modbus_read_bits(ctx, (int)address, (int)count, bits); break;
	case TABLE_DISCRETE: rc = modbus_read_input_bits(ctx, (int)address, (int)count, bits); break;
	default: return -EINVAL;
	}
	if (rc < 0)
		return errno ? -errno : -EIO;
	if ((unsigned)rc != count)
		return -EMBBADDATA;
	if (reg_table_is_bits(t))
		for (unsigned i = 0; i < count; i++)
			words[i] = bits[i] ? 1 : 0;
	return 0;
}

/* ---- printing every decoding ---- */

static void fmt_int(char *buf, size_t len, double v)
{
	/* past 2^53 a double (what reg_decode returns) is no longer exact */
	snprintf(buf, len, fabs(v) >= 9007199254740992.0 ? "~%.0f" : "%.0f", v);
}

/* The order names decode.c knows for a type's width, one at a time. */
static const char *next_order(const char *list, char *name, size_t len)
{
	size_t n;

	while (*list == ' ')
		list++;
	if (!*list)
		return NULL;
	n = strcspn(list, " ");
	if (n >= len)
		n = len - 1;
	memcpy(name, list, n);
	name[n] = 0;
	return list + strcspn(list, " ");
}

static void print_bits(FILE *out, unsigned address, const uint16_t *words, unsigned count)
{
	fprintf(out, "address  +0 +1 +2 +3 +4 +5 +6 +7\n");
	for (unsigned i = 0; i < count; i += 8) {
		fprintf(out, "0x%04x  ", address + i);
		for (unsigned k = i; k < count && k < i + 8; k++)
			fprintf(out, "  %u", words[k] & 1);
		fputc('\n', out);
	}
}

/* 32- or 64-bit values starting at every address, in every word and byte
 * order, as unsigned, signed and float. */
static void print_wide(FILE *out, const uint16_t *words, unsigned count, unsigned address, int bits)
{
	const int w = bits / 16;
	const enum reg_type tu = bits == 32 ? TYPE_U32 : TYPE_U64, ts = bits == 32 ? TYPE_S32 : TYPE_S64,
			    tf = bits == 32 ? TYPE_F32 : TYPE_F64;
	const int iw = bits == 32 ? 11 : 21, ow = bits == 32 ? 5 : 8;
	char name[16], a[32], b[32], c[40];
	struct reg_order o;
	const char *l;

	if (bits == 32)
		fprintf(out, "\n32-bit values starting at each address "
			"(ABCD: high word first, CDAB: low word first, BADC/DCBA: bytes swapped)\n");
	else
		fprintf(out, "\n64-bit values starting at each address (ABCDEFGH: high word first)\n");
	fprintf(out, "%-9s%-*s%*s  %*s  %s\n", "address", ow + 2, "order", iw, bits == 32 ? "u32" : "u64",
		iw, bits == 32 ? "s32" : "s64", bits == 32 ? "f32" : "f64");
	for (unsigned i = 0; i + (unsigned)w <= count; i++) {
		int first = 1;
		for (l = reg_order_choices(tu); (l = next_order(l, name, sizeof(name)));) {
			if (reg_order_parse(name, tu, &o) < 0)
				continue;
			fmt_int(a, sizeof(a), reg_decode(tu, &o, 0, words + i));
			fmt_int(b, sizeof(b), reg_decode(ts, &o, 0, words + i));
			snprintf(c, sizeof(c), bits == 32 ? "%.7g" : "%.15g", reg_decode(tf, &o, 0, words + i));
			if (first)
				fprintf(out, "0x%04x   ", address + i);
			else
				fprintf(out, "         ");
			fprintf(out, "%-*s  %*s  %*s  %s\n", ow, name, iw, a, iw, b, c);
			first = 0;
		}
	}
}

void probe_print_words(FILE *out, enum reg_table t, unsigned address, const uint16_t *words,
		       unsigned count)
{
	struct reg_order ab, ba;

	if (reg_table_is_bits(t)) {
		print_bits(out, address, words, count);
		return;
	}
	reg_order_parse("AB", TYPE_U16, &ab);
	reg_order_parse("BA", TYPE_U16, &ba);
	fprintf(out, "%-9s%-8s%6s  %6s  %6s  %6s  %s\n", "address", "hex", "u16 AB", "s16 AB", "u16 BA", "s16 BA",
		"bits 15..0");
	for (unsigned i = 0; i < count; i++) {
		fprintf(out, "0x%04x   0x%04x  %6.0f  %6.0f  %6.0f  %6.0f  ", address + i, words[i],
			reg_decode(TYPE_U16, &ab, 0, words + i), reg_decode(TYPE_S16, &ab, 0, words + i),
			reg_decode(TYPE_U16, &ba, 0, words + i), reg_decode(TYPE_S16, &ba, 0, words + i));
		for (int bit = 15; bit >= 0; bit--)
			fprintf(out, "%u%s", (words[i] >> bit) & 1, bit && bit % 4 == 0 ? " " : "");
		fputc('\n', out);
	}
	if (count >= 2)
		print_wide(out, words, count, address, 32);
	if (count >= 4)
		print_wide(out, words, count, address, 64);
}

int probe_registers(const struct probe_read_opts *o, FILE *out, FILE *errs)
{
	uint16_t words[PLAN_MAX_BITS];
	char where[300], why[300];
	modbus_t *ctx;
	double t0, dt;
	int rc;

	target_str(&o->target, where, sizeof(where));
	ctx = link_open(&o->target, o->unit, o->timeout_ms, o->debug, why, sizeof(why));
	if (!ctx) {
		fprintf(errs, "wardgw probe: %s\n", why);
		return 1;
	}
	t0 = (mono_us() / 1e3);
	rc = read_table(ctx, o->table, o->address, o->count, words);
	dt = (mono_us() / 1e3) - t0;
	link_close(ctx);
	if (rc < 0) {
		describe(-rc, o->timeout_ms, why, sizeof(why));
		fprintf(errs, "wardgw probe: %s unit %d: reading %u %s at 0x%04x: %s%s\n", where, o->unit,
			o->count, table_noun(o->table, o->count), o->address, why,
			-rc == EMBXGPATH || -rc == EMBXGTAR ?
			"; no device answers at this unit id (wardgw scan lists those that do)" : "");
		return 1;
	}
	if (o->count == 1)
		fprintf(out, "%s unit %d: 1 %s at 0x%04x (%u), reply in %.1f ms\n\n", where, o->unit,
			table_noun(o->table, 1), o->address, o->address, dt);
	else
		fprintf(out, "%s unit %d: %u %s at 0x%04x..0x%04x (%u..%u), reply in %.1f ms\n\n", where, o->unit,
			o->count, table_noun(o->table, o->count), o->address, o->address + o->count - 1,
			o->address, o->address + o->count - 1, dt);
	probe_print_words(out, o->table, o->address, words, o->count);
	return 0;
}

/* ---- a configured device ---- */

static const struct opt *drv_opt(const struct device_conf *dev, const char *name, enum opt_type type)
{
	if (!dev->driver || !dev->drv || !dev->driver->opts)
		return NULL;
	for (const struct opt *o = dev->driver->opts; o->name; o++)
		if (!strcmp(o->name, name) && o->type == type)
			return o;
	return NULL;
}

static const char *order_name(const struct reg_def *d, char *buf, size_t len)
{
	struct reg_order o;
	const char *l;

	for (l = reg_order_choices(d->type); (l = next_order(l, buf, len));)
		if (reg_order_parse(buf, d->type, &o) == 0 && o.nbytes == d->order.nbytes &&
		    !memcmp(o.src, d->order.src, o.nbytes))
			return buf;
	snprintf(buf, len, "?");
	return buf;
}

static void reg_str(const struct reg_def *d, char *buf, size_t len)
{
	char ord[16];
	int n;

	n = snprintf(buf, len, "%s 0x%04x %s", reg_table_name(d->table), d->address, reg_type_name(d->type));
	if (n < 0 || (size_t)n >= len)
		return;
	if (d->type == TYPE_BIT && !reg_table_is_bits(d->table))
		n += snprintf(buf + n, len - (size_t)n, " %u", d->bit);
	else if (d->type != TYPE_BIT)
		n += snprintf(buf + n, len - (size_t)n, " %s", order_name(d, ord, sizeof(ord)));
	if ((size_t)n < len && d->scale != 1)
		n += snprintf(buf + n, len - (size_t)n, " *%g", d->scale);
	if ((size_t)n < len && d->offset != 0)
		snprintf(buf + n, len - (size_t)n, " %+g", d->offset);
}

/* Bounded Levenshtein distance of two short names. */
static unsigned edit_distance(const char *a, const char *b)
{
	unsigned row[65], la = (unsigned)strnlen(a, 64), lb = (unsigned)strnlen(b, 64);

	for (unsigned j = 0; j <= lb; j++)
		row[j] = j;
	for (unsigned i = 1; i <= la; i++) {
		unsigned diag = row[0], up;
		row[0] = i;
		for (unsigned j = 1; j <= lb; j++) {
			up = row[j];
			unsigned best = diag + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

size_t probe_similar_devices(const struct gw_config *cfg, const char *name, const char **out, size_t max)
{
	unsigned score[16];
	size_t n = 0, len = strlen(name);
	unsigned limit = len < 6 ? 2 : (unsigned)len / 3;

	if (max > 16)
		max = 16;
	for (size_t i = 0; i < cfg->ndevices && max; i++) {
		const char *d = cfg->devices[i].name;
		unsigned s;
		size_t k;

		if (!d)
			continue;
		s = edit_distance(name, d);
		if (s > limit) {
			/* a part of the name: "sdm" for "meter-sdm-01", or the other way */
			if (len >= 3 && (strcasestr(d, name) || (strlen(d) >= 3 && strcasestr(name, d))))
				s = 100 + (unsigned)(strlen(d) > len ? strlen(d) - len : len - strlen(d));
			else
				continue;
		}
		if (n == max && s >= score[n - 1])
			continue;
		if (n < max)
			n++;
		for (k = n - 1; k > 0 && score[k - 1] > s; k--) {
			score[k] = score[k - 1];
			out[k] = out[k - 1];
		}
		score[k] = s;
		out[k] = d;
	}
	return n;
}

static void no_such_device(const struct gw_config *cfg, const char *name, FILE *errs)
{
	const char *close[5];
	size_t n = probe_similar_devices(cfg, name, close, 5);

	fprintf(errs, "wardgw probe: no device named '%s' in %s", name, cfg->path ? cfg->path : "the config");
	if (n) {
		fprintf(errs, "; did you mean");
		for (size_t i = 0; i < n; i++)
			fprintf(errs, "%s %s", i ? "," : "", close[i]);
		fprintf(errs, "?\n");
	} else if (!cfg->ndevices) {
		fprintf(errs, "; it has no devices\n");
	} else {
		fprintf(errs, "; its %zu device%s: ", cfg->ndevices, cfg->ndevices == 1 ? "" : "s");
		for (size_t i = 0; i < cfg->ndevices && i < 5; i++)
			fprintf(errs, "%s%s", i ? ", " : "", cfg->devices[i].name);
		fprintf(errs, "%s\n", cfg->ndevices > 5 ? ", ..." : "");
	}
}

int probe_device(const struct gw_config *cfg, const char *name, int timeout_ms, int debug,
		 FILE *out, FILE *errs)
{
	const struct device_conf *dev = config_device(cfg, name);
	const struct opt *oh, *op, *ou, *om;
	const struct profile *p;
	struct probe_target t = { 0 };
	struct plan plan = { 0 };
	modbus_t *ctx = NULL;
	uint16_t *words = NULL;
	size_t *woff = NULL, *rd = NULL, total = 0, failed = 0, nodev = 0, width = 6;
	char (*why)[200] = NULL;
	char where[300], err[300];
	unsigned max_regs = PLAN_MAX_REGS;
	int unit, ret = 1;
	double t0, dt;

	if (!dev) {
		no_such_device(cfg, name, errs);
		return 1;
	}
	p = dev->profile;
	oh = drv_opt(dev, "host", OPT_STRING);
	op = drv_opt(dev, "port", OPT_INT);
	ou = drv_opt(dev, "unit", OPT_INT);
	om = drv_opt(dev, "max_regs", OPT_INT);
	const struct opt *os = drv_opt(dev, "serial", OPT_STRING), *of = drv_opt(dev, "framing", OPT_STRING);
#define DRV_INT(name) (drv_opt(dev, name, OPT_INT) ? *(int *)((char *)dev->drv + drv_opt(dev, name, OPT_INT)->offset) : 0)
#define DRV_STR(o) (*(char **)((char *)dev->drv + (o)->offset))
	if (os && ou && p) {
		/* a serial bus device: its line settings from the config */
		const struct opt *opar = drv_opt(dev, "parity", OPT_STRING);
		t.link = PROBE_RTU;
		snprintf(t.dev, sizeof(t.dev), "%s", DRV_STR(os));
		t.baud = DRV_INT("baud");
		t.parity = opar && DRV_STR(opar) ? DRV_STR(opar)[0] : 'N';
		t.data_bits = DRV_INT("data_bits");
		t.stop_bits = DRV_INT("stop_bits");
	} else if (!oh || !op || !ou || !p) {
		fprintf(errs, "wardgw probe: device %s uses driver %s, which has no host, port and unit; "
			"probe reads Modbus TCP and RTU devices\n", name, dev->driver_name ? dev->driver_name : "?");
		return 1;
	} else {
		t.link = of && DRV_STR(of) && !strcmp(DRV_STR(of), "rtu") ? PROBE_RTU_TCP : PROBE_TCP;
		snprintf(t.host, sizeof(t.host), "%s", DRV_STR(oh));
		t.port = *(int *)((char *)dev->drv + op->offset);
	}
#undef DRV_INT
#undef DRV_STR
	unit = *(int *)((char *)dev->drv + ou->offset);
	/* the device's own limit of registers per request, where the
	 * driver has one; gaps are never spanned, so no read can touch an
	 * address the device does not have */
	if (om) {
		int m = *(int *)((char *)dev->drv + om->offset);
		if (m >= 1 && m <= PLAN_MAX_REGS)
			max_regs = (unsigned)m;
	}
	if (!timeout_ms)
		timeout_ms = dev->timeout_ms > 0 ? dev->timeout_ms : 1000;
	target_str(&t, where, sizeof(where));
	if (plan_build(&plan, p->regs, p->nregs, 0, max_regs) < 0) {
		fprintf(errs, "wardgw probe: out of memory\n");
		return 1;
	}
	woff = calloc(plan.nreads + 1, sizeof(*woff));
	rd = calloc(p->nregs + 1, sizeof(*rd));
	why = calloc(plan.nreads + 1, sizeof(*why));
	for (size_t r = 0; woff && r < plan.nreads; r++) {
		woff[r] = total;
		total += plan.reads[r].count;
	}
	words = calloc(total + 1, sizeof(*words));
	if (!woff || !rd || !why || !words) {
		fprintf(errs, "wardgw probe: out of memory\n");
		goto out;
	}
	ctx = link_open(&t, unit, timeout_ms, debug, err, sizeof(err));
	if (!ctx) {
		fprintf(errs, "wardgw probe: %s: %s\n", name, err);
		goto out;
	}
	t0 = (mono_us() / 1e3);
	for (size_t r = 0; r < plan.nreads; r++) {
		const struct plan_read *pr = &plan.reads[r];
		int rc = read_table(ctx, pr->table, pr->start, pr->count, words + woff[r]);

		for (size_t k = 0; k < pr->nregs; k++)
			rd[plan.order[pr->first + k]] = r;
		if (rc < 0) {
			describe(-rc, timeout_ms, err, sizeof(err));
			say(why[r], sizeof(why[r]), "%s reading %u %s at 0x%04x", err, pr->count,
				 table_noun(pr->table, pr->count), pr->start);
			failed++;
			nodev += rc == -EMBXGPATH || rc == -EMBXGTAR;
			if (rc == -ETIMEDOUT)
				modbus_flush(ctx);  /* a late reply must not answer the next read */
		}
	}
	dt = (mono_us() / 1e3) - t0;
	for (size_t i = 0; i < p->nregs; i++)
		if (strlen(p->regs[i].metric) > width)
			width = strlen(p->regs[i].metric);
	fprintf(out, "%s: %s unit %d, profile %s, %zu request%s in %.1f ms\n\n", name, where, unit, p->name,
		plan.nreads, plan.nreads == 1 ? "" : "s", dt);
	fprintf(out, "%-*s  %-18s  %-5s  %-10s  %-30s  %s\n", (int)width, "metric", "value", "unit", "quality",
		"register", "raw");
	for (size_t i = 0; i < p->nregs; i++) {
		const struct reg_def *d = &p->regs[i];
		const struct plan_read *pr = &plan.reads[rd[i]];
		const uint16_t *w = words + woff[rd[i]] + (d->address - pr->start);
		char val[40] = "-", reg[64], raw[64] = "";
		int q = why[rd[i]][0] ? Q_COMM_ERROR : Q_GOOD;

		reg_str(d, reg, sizeof(reg));
		if (!why[rd[i]][0]) {
			/* the gateway's decoding (drivers/modbus_tcp.c, decode_read) */
			double v = reg_def_value(d, w);
			size_t n = 0;

			/* and its quality: outside the profile's min/max */
			if ((!isnan(d->min) && v < d->min) || (!isnan(d->max) && v > d->max))
				q = Q_OUT_OF_RANGE;

			snprintf(val, sizeof(val), "%.12g", v);
			for (unsigned k = 0; k < reg_type_words(d->type); k++)
				n += (size_t)snprintf(raw + n, sizeof(raw) - n, reg_table_is_bits(d->table) ?
						      "%s%u" : "%s0x%04x", k ? " " : "", w[k]);
		}
		fprintf(out, "%-*s  %-18s  %-5s  %-10s  %-30s  %s\n", (int)width, d->metric, val,
			d->unit && *d->unit ? d->unit : "-", quality_name(q), reg,
			why[rd[i]][0] ? why[rd[i]] : raw);
	}
	if (failed)
		fprintf(errs, "wardgw probe: %s: %zu of %zu requests failed%s\n", name, failed, plan.nreads,
			nodev == plan.nreads ? "; no device answers at its unit id: is 'unit' right? "
			"(wardgw scan lists the unit ids that answer)" : "");
	ret = failed ? 1 : 0;
out:
	link_close(ctx);
	plan_release(&plan);
	free(words);
	free(why);
	free(rd);
	free(woff);
	return ret;
}

/* ---- scanning unit ids ---- */

static int is_link_error(int e)
{
	return e == ECONNRESET || e == EPIPE || e == EBADF || e == ENOTCONN || e == ECONNREFUSED ||
	       e == ECONNABORTED;
}

int probe_scan(const struct probe_scan_opts *o, FILE *out, FILE *errs)
{
	char where[300], why[300];
	unsigned nunits = 0, found = 0, silent = 0, nodev = 0, garbled = 0, closed = 0;
	unsigned char answered[256] = { 0 };
	int first = -1, ret = 1;
	modbus_t *ctx;
	double t0;

	for (int u = 0; u < 256; u++)
		if (o->units[u]) {
			nunits++;
			if (first < 0)
				first = u;
		}
	if (!nunits) {
		fprintf(errs, "wardgw scan: no unit ids to try\n");
		return 1;
	}
	target_str(&o->target, where, sizeof(where));
	ctx = link_open(&o->target, first, o->timeout_ms, o->debug, why, sizeof(why));
	if (!ctx) {
		fprintf(errs, "wardgw scan: %s\n", why);
		return 1;
	}
	fprintf(out, "scanning %s: %u unit id%s, 1 %s at 0x%04x, %d ms each\n", where, nunits,
		nunits == 1 ? "" : "s", table_noun(o->table, 1), o->address, o->timeout_ms);
	fflush(out);
	t0 = (mono_us() / 1e3);
	for (int u = 0; u < 256; u++) {
		uint16_t w[1];
		int rc, e;

		if (!o->units[u])
			continue;
		if (modbus_set_slave(ctx, u) < 0) {
			fprintf(errs, "wardgw scan: unit %d: %s\n", u, modbus_strerror(errno));
			goto out;
		}
		rc = read_table(ctx, o->table, o->address, 1, w);
		e = -rc;
		if (rc == 0) {
			found++;
			answered[u] = 1;
			if (reg_table_is_bits(o->table))
				fprintf(out, "unit %3d  answers: %u\n", u, w[0]);
			else
				fprintf(out, "unit %3d  answers: 0x%04x (%u)\n", u, w[0], w[0]);
		} else if (e == EMBXGPATH || e == EMBXGTAR) {
			/* a TCP gateway saying nobody answered on its serial side */
			nodev++;
			if (o->verbose) {
				describe(e, o->timeout_ms, why, sizeof(why));
				fprintf(out, "unit %3d  no device behind the gateway: %s\n", u, why);
			}
		} else if (e >= EMBXILFUN && e < EMBXGPATH) {
			found++;
			answered[u] = 1;
			describe(e, o->timeout_ms, why, sizeof(why));
			fprintf(out, "unit %3d  answers, %s\n", u, why);
		} else if (e == ETIMEDOUT) {
			silent++;
			if (o->verbose)
				fprintf(out, "unit %3d  no reply within %d ms\n", u, o->timeout_ms);
			modbus_flush(ctx);
		} else if (is_link_error(e) && o->target.link == PROBE_TCP) {
			/* some devices hang up on a unit id they do not have */
			closed++;
			if (o->verbose)
				fprintf(out, "unit %3d  the device closed the connection\n", u);
			modbus_close(ctx);
			if (modbus_connect(ctx) < 0) {
				fprintf(errs, "wardgw scan: %s: connection lost at unit %d and cannot reconnect: %s\n",
					where, u, modbus_strerror(errno));
				goto out;
			}
		} else if (is_link_error(e) || e == EIO || e == EINVAL) {
			fprintf(errs, "wardgw scan: %s: unit %d: %s\n", where, u, modbus_strerror(e));
			goto out;
		} else {
			/* a CRC error, another unit's reply...: something is on the line */
			garbled++;
			fprintf(out, "unit %3d  garbled reply: %s\n", u, modbus_strerror(e));
			modbus_flush(ctx);
		}
		fflush(out);
	}
	fprintf(out, "%u of %u unit ids answer", found, nunits);
	for (int u = 0, k = 0; u < 256; u++)
		if (answered[u])
			fprintf(out, "%s%d", k++ ? " " : ": ", u);
	if (silent)
		fprintf(out, "; %u no reply", silent);
	if (nodev)
		fprintf(out, "; %u no device behind the gateway (exception 0x0a/0x0b)", nodev);
	if (closed)
		fprintf(out, "; %u closed the connection", closed);
	if (garbled)
		fprintf(out, "; %u garbled", garbled);
	fprintf(out, "; %.1f s\n", ((mono_us() / 1e3) - t0) / 1000.0);
	ret = found ? 0 : 1;
out:
	link_close(ctx);
	return ret;
}
