/* libFuzzer target: Modbus RTU replies as a byte stream (RTU over TCP and
 * serial servers), framed by the expected function code, CRC-checked and
 * parsed as read and write replies; and the read planner over registers
 * built from the same bytes. The first bytes pick the function, unit and
 * count. What the parsers accept must be consistent. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "mbap.h"
#include "plan.h"
#include "rtu.h"

static void planner(const uint8_t *d, size_t n)
{
	struct reg_def regs[64];
	unsigned char no_gap[64];
	size_t nr = 0;
	struct plan p;

	/* 4 bytes per register: table, address (2), type; then gap and cap */
	if (n < 2)
		return;
	unsigned max_gap = d[0] % 125, max_regs = 1 + d[1] % 125;
	for (size_t i = 2; i + 4 <= n && nr < 64; i += 4, nr++) {
		struct reg_def *r = &regs[nr];
		memset(r, 0, sizeof(*r));
		r->table = (enum reg_table)(d[i] % TABLE_COUNT);
		r->address = (uint16_t)(d[i + 1] << 8 | d[i + 2]);
		r->type = reg_table_is_bits(r->table) ? TYPE_BIT : (enum reg_type)(d[i + 3] % TYPE_COUNT);
		r->bit = d[i + 3] % 16;
		r->scale = 1;
		/* a register must fit below 65536, as the config checks */
		if ((unsigned)r->address + reg_type_words(r->type) > 65536)
			r->address = (uint16_t)(65536 - reg_type_words(r->type));
		reg_order_parse(NULL, r->type, &r->order);
		no_gap[nr] = d[i + 3] >> 7;
	}
	if (plan_build_ex(&p, regs, nr, max_gap, max_regs, (d[0] & 1) ? no_gap : NULL) < 0)
		return;
	/* every register is read by exactly one read that covers it */
	size_t seen = 0;
	for (size_t k = 0; k < p.nreads; k++) {
		const struct plan_read *r = &p.reads[k];
		/* one register wider than max_regs still gets its own read */
		unsigned lim = reg_table_is_bits(r->table) ? PLAN_MAX_BITS : max_regs < 4 ? 4 : max_regs;
		if (r->count == 0 || r->count > lim || (unsigned)r->start + r->count > 65536)
			abort();
		for (size_t j = 0; j < r->nregs; j++) {
			const struct reg_def *g = &regs[p.order[r->first + j]];
			if (g->table != r->table || g->address < r->start ||
			    g->address + reg_type_words(g->type) > (unsigned)r->start + r->count)
				abort();
		}
		seen += r->nregs;
	}
	if (seen != nr || p.nregs != nr)
		abort();
	plan_release(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t fcs[] = { 1, 2, 3, 4, 5, 6, 15, 16 };
	uint16_t out[PLAN_MAX_BITS];
	size_t off = 0;

	if (size < 4)
		return 0;
	uint8_t fc = fcs[data[0] % 8], unit = data[1];
	unsigned count = 1 + (data[2] % 125);
	data += 3;
	size -= 3;
	planner(data, size);
	while (off < size) {
		int flen = rtu_reply_len(data + off, size - off, fc);
		if (flen < 0) {
			off++;          /* resync as the driver does: drop and look on */
			continue;
		}
		if (flen == 0 || (size_t)flen > size - off)
			break;
		if (flen < 5 || flen > RTU_MAX_ADU)
			abort();
		const uint8_t *pdu;
		size_t pdulen;
		uint8_t exc;
		if (rtu_unwrap(data + off, (size_t)flen, unit, &pdu, &pdulen) == 0) {
			if (pdu != data + off + 1 || pdulen + 3 != (size_t)flen)
				abort();
			if (fc <= 4) {
				enum reg_table t = fc == 1 ? TABLE_COIL : fc == 2 ? TABLE_DISCRETE : fc == 3 ? TABLE_HOLDING : TABLE_INPUT;
				unsigned n = reg_table_is_bits(t) ? 1 + (count * 16) % PLAN_MAX_BITS : count;
				mb_parse_read_pdu(pdu, pdulen, t, (uint16_t)n, out, &exc);
			} else {
				uint16_t w[MB_MAX_WRITE_REGS] = { 0 };
				mb_parse_write_pdu(pdu, pdulen, fc, (uint16_t)count, w, (uint16_t)(fc == 5 || fc == 6 ? 1 : count), &exc);
			}
		}
		off += (size_t)flen;
	}
	/* a frame we build must unwrap to the same PDU */
	if (size >= 1 && size <= 253) {
		uint8_t frame[RTU_MAX_ADU];
		const uint8_t *pdu;
		size_t pdulen;
		int n = rtu_wrap(frame, unit, data, size);
		if (n != (int)size + 3 || rtu_unwrap(frame, (size_t)n, unit, &pdu, &pdulen) != 0 || pdulen != size ||
		    memcmp(pdu, data, size))
			abort();
	}
	return 0;
}
