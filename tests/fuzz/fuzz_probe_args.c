/* libFuzzer target: the probe tool's command-line specs. The first byte
 * picks the parser (--tcp, --rtu, --units over TCP or RTU, a number, a
 * span); the rest is the string. What a parser accepts must hold up. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"
#include "wtool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct probe_target t;
	unsigned char units[256];
	char err[128], *s;
	long v;
	int n, u;

	if (!size)
		return 0;
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = 0;
	switch (data[0] % 6) {
	case 0:
		if (probe_parse_tcp(s, &t, err, sizeof(err)) == 0 &&
		    (t.port < 1 || t.port > 65535 || !t.host[0] || !memchr(t.host, 0, sizeof(t.host))))
			abort();
		break;
	case 1:
		if (probe_parse_rtu(s, &t, err, sizeof(err)) == 0 &&
		    (t.dev[0] != '/' || t.baud <= 0 || t.data_bits < 5 || t.data_bits > 8 ||
		     (t.stop_bits != 1 && t.stop_bits != 2) || !strchr("NEO", t.parity) || !t.parity))
			abort();
		break;
	case 2:
	case 3:
		n = probe_parse_units(s, data[0] % 6 == 2 ? PROBE_TCP : PROBE_RTU, units, err, sizeof(err));
		if (n == 0 || n < -EINVAL)
			abort();
		if (n > 0) {
			int k = 0;
			for (int i = 0; i < 256; i++)
				k += units[i] != 0;
			if (k != n || (data[0] % 6 == 3 && (units[0] || units[255])) ||
			    (data[0] % 6 == 2 && units[250]))
				abort();
		}
		if (probe_parse_unit(s, data[0] % 6 == 2 ? PROBE_TCP : PROBE_RTU, &u, err, sizeof(err)) == 0 &&
		    (u < 0 || u > 255))
			abort();
		break;
	case 4: {
		double d;
		if (probe_parse_number("--address", s, 0, 65535, &v, err, sizeof(err)) == 0 && (v < 0 || v > 65535))
			abort();
		/* wardgw write --value: a finite number or on/off/true/false */
		if (wtool_parse_value(s, &d) == 0 && !isfinite(d))
			abort();
		break;
	}
	default:
		/* address and count from the string's first bytes */
		if (size >= 5) {
			unsigned long a = (unsigned long)data[1] << 16 | (unsigned long)data[2] << 8 | data[3];
			unsigned long c = (unsigned long)data[4] << 8 | (size > 5 ? data[5] : 0);
			enum reg_table tb = (enum reg_table)(data[0] / 6 % TABLE_COUNT);
			if (probe_check_span(tb, a, c, err, sizeof(err)) == 0 &&
			    (c < 1 || a + c > 65536 || c > (reg_table_is_bits(tb) ? 2000u : 125u)))
				abort();
		}
		break;
	}
	free(s);
	return 0;
}
