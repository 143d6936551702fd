/* Modbus TCP framing: build read requests, delimit frames in a byte stream
 * and validate replies. Every length is checked before it is used. */
#include "mbap.h"

#include <errno.h>

static const uint8_t read_fc[TABLE_COUNT] = { 0x01, 0x02, 0x03, 0x04 };

uint8_t mbap_read_fc(enum reg_table t)
{
	return (unsigned)t < TABLE_COUNT ? read_fc[t] : 0x03;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

size_t mbap_read_request(uint8_t *buf, uint16_t tid, uint8_t unit, enum reg_table t,
			 uint16_t start, uint16_t count)
{
	put16(buf, tid);
	put16(buf + 2, 0);
	put16(buf + 4, 6);      /* unit + fc + addr + count */
	buf[6] = unit;
	buf[7] = mbap_read_fc(t);
	put16(buf + 8, start);
	put16(buf + 10, count);
	return MBAP_READ_REQUEST;
}

int mbap_frame_len(const uint8_t *buf, size_t len)
{
	unsigned l;

	if (len < MBAP_HEADER)
		return 0;
	if (get16(buf + 2) != 0)
		return -EBADMSG;
	l = get16(buf + 4);
	/* length counts the unit id and the PDU: at least unit + fc */
	if (l < 2 || l > MBAP_MAX_ADU - 6)
		return -EBADMSG;
	return (int)(6 + l);
}

int mb_parse_read_pdu(const uint8_t *p, size_t len, enum reg_table t, uint16_t count,
		      uint16_t *out, uint8_t *exc)
{
	uint8_t fc = mbap_read_fc(t);
	size_t want;

	if (len < 2)
		return -EBADMSG;
	if (p[0] == (fc | 0x80)) {
		if (len != 2)
			return -EBADMSG;
		*exc = p[1];
		return -EREMOTEIO;
	}
	if (p[0] != fc)
		return -EBADMSG;
	want = reg_table_is_bits(t) ? (count + 7u) / 8u : 2u * count;
	if (p[1] != want || len != 2 + want)
		return -EBADMSG;
	if (reg_table_is_bits(t)) {
		for (unsigned i = 0; i < count; i++)
			out[i] = (p[2 + i / 8] >> (i % 8)) & 1;
	} else {
		for (unsigned i = 0; i < count; i++)
			out[i] = get16(p + 2 + 2 * i);
	}
	return 0;
}

int mbap_parse_read_reply(const uint8_t *f, size_t len, uint16_t tid, uint8_t unit,
			  enum reg_table t, uint16_t count, uint16_t *out, uint8_t *exc)
{
	int flen = mbap_frame_len(f, len);

	if (flen <= 0 || (size_t)flen != len)
		return -EBADMSG;
	if (get16(f) != tid)
		return -ENOMSG;
	if (f[6] != unit)
		return -EBADMSG;
	return mb_parse_read_pdu(f + 7, len - 7, t, count, out, exc);
}

int mb_write_pdu(uint8_t *p, uint8_t fc, uint16_t addr, const uint16_t *words, uint16_t count)
{
	put16(p + 1, addr);
	p[0] = fc;
	switch (fc) {
	case 5:
		if (count != 1 || words[0] > 1)
			return -EINVAL;
		put16(p + 3, words[0] ? 0xFF00 : 0x0000);
		return 5;
	case 6:
		if (count != 1)
			return -EINVAL;
		put16(p + 3, words[0]);
		return 5;
	case 15: {
		unsigned nb = (count + 7u) / 8u;
		if (count < 1 || count > MB_MAX_WRITE_BITS || (unsigned)addr + count > 65536u)
			return -EINVAL;
		put16(p + 3, count);
		p[5] = (uint8_t)nb;
		for (unsigned i = 0; i < nb; i++)
			p[6 + i] = 0;
		for (unsigned i = 0; i < count; i++) {
			if (words[i] > 1)
				return -EINVAL;
			p[6 + i / 8] |= (uint8_t)(words[i] << (i % 8));
		}
		return (int)(6 + nb);
	}
	case 16:
		if (count < 1 || count > MB_MAX_WRITE_REGS || (unsigned)addr + count > 65536u)
			return -EINVAL;
		put16(p + 3, count);
		p[5] = (uint8_t)(2 * count);
		for (unsigned i = 0; i < count; i++)
			put16(p + 6 + 2 * i, words[i]);
		return (int)(6 + 2 * count);
	default:
		return -EINVAL;
	}
}

int mb_parse_write_pdu(const uint8_t *p, size_t len, uint8_t fc, uint16_t addr,
		       const uint16_t *words, uint16_t count, uint8_t *exc)
{
	uint16_t second;

	if (len < 2)
		return -EBADMSG;
	if (p[0] == (fc | 0x80)) {
		if (len != 2)
			return -EBADMSG;
		*exc = p[1];
		return -EREMOTEIO;
	}
	if (p[0] != fc || len != 5 || get16(p + 1) != addr)
		return -EBADMSG;
	second = get16(p + 3);
	switch (fc) {
	case 5: return second == (words[0] ? 0xFF00 : 0x0000) ? 0 : -EBADMSG;
	case 6: return second == words[0] ? 0 : -EBADMSG;
	case 15: case 16: return second == count ? 0 : -EBADMSG;
	default: return -EBADMSG;
	}
}

int mbap_write_request(uint8_t *buf, uint16_t tid, uint8_t unit, uint8_t fc, uint16_t addr,
		       const uint16_t *words, uint16_t count)
{
	int n = mb_write_pdu(buf + 7, fc, addr, words, count);

	if (n < 0)
		return n;
	put16(buf, tid);
	put16(buf + 2, 0);
	put16(buf + 4, (uint16_t)(n + 1));
	buf[6] = unit;
	return 7 + n;
}

int mbap_parse_write_reply(const uint8_t *f, size_t len, uint16_t tid, uint8_t unit,
			   uint8_t fc, uint16_t addr, const uint16_t *words, uint16_t count,
			   uint8_t *exc)
{
	int flen = mbap_frame_len(f, len);

	if (flen <= 0 || (size_t)flen != len)
		return -EBADMSG;
	if (get16(f) != tid)
		return -ENOMSG;
	if (f[6] != unit)
		return -EBADMSG;
	return mb_parse_write_pdu(f + 7, len - 7, fc, addr, words, count, exc);
}

const char *mbap_exception_str(uint8_t code)
{
	switch (code) {
	case 0x01: return "illegal function";
	case 0x02: return "illegal data address";
	case 0x03: return "illegal data value";
	case 0x04: return "server device failure";
	case 0x05: return "acknowledge";
	case 0x06: return "server device busy";
	case 0x08: return "memory parity error";
	case 0x0A: return "gateway path unavailable";
	case 0x0B: return "gateway target device failed to respond";
	default: return "unknown exception";
	}
}
