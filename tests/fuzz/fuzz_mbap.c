/* libFuzzer target: Modbus TCP replies as a byte stream, framed and parsed
 * for every table with a count taken from the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mbap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	if (size < 2)
		return 0;
	unsigned count = (unsigned)(data[0] << 8 | data[1]);
	data += 2;
	size -= 2;
	while (off < size) {
		int flen = mbap_frame_len(data + off, size - off);
		if (flen <= 0 || (size_t)flen > size - off)
			break;
		for (int t = 0; t < TABLE_COUNT; t++) {
			unsigned n = reg_table_is_bits((enum reg_table)t) ? 1 + count % 2000 : 1 + count % 125;
			uint16_t *out = malloc(n * sizeof(*out));
			uint8_t exc;
			uint16_t tid = (uint16_t)(data[off] << 8 | data[off + 1]);
			mbap_parse_read_reply(data + off, (size_t)flen, tid, data[off + 6], (enum reg_table)t, (uint16_t)n,
					      out, &exc);
			free(out);
		}
		/* the same frame as the reply to a write of each kind */
		static const uint8_t wfc[] = { 5, 6, 15, 16 };
		uint16_t w[MB_MAX_WRITE_REGS];
		for (unsigned i = 0; i < MB_MAX_WRITE_REGS; i++)
			w[i] = (uint16_t)((count >> (i % 16)) & 1);
		for (unsigned i = 0; i < 4; i++) {
			uint8_t exc;
			mbap_parse_write_reply(data + off, (size_t)flen, (uint16_t)(data[off] << 8 | data[off + 1]),
					       data[off + 6], wfc[i], (uint16_t)count, w, (uint16_t)(1 + count % 123), &exc);
		}
		off += (size_t)flen;
	}
	return 0;
}
