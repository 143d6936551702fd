/* Modbus RTU framing: CRC-16, frame lengths of replies in a byte stream,
 * and the checks of a whole frame. Every length is checked before use. */
#include "rtu.h"

#include <errno.h>
#include <string.h>

uint16_t rtu_crc16(const uint8_t *p, size_t n)
{
	uint16_t crc = 0xFFFF;

	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int b = 0; b < 8; b++)
			crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xA001) : (uint16_t)(crc >> 1);
	}
	return crc;
}

int rtu_wrap(uint8_t *out, uint8_t unit, const uint8_t *pdu, size_t pdulen)
{
	uint16_t crc;

	if (pdulen < 1 || pdulen + 3 > RTU_MAX_ADU)
		return -EINVAL;
	out[0] = unit;
	memcpy(out + 1, pdu, pdulen);
	crc = rtu_crc16(out, pdulen + 1);
	out[pdulen + 1] = (uint8_t)crc;             /* CRC low byte first */
	out[pdulen + 2] = (uint8_t)(crc >> 8);
	return (int)(pdulen + 3);
}

int rtu_reply_len(const uint8_t *b, size_t len, uint8_t fc)
{
	if (len < 2)
		return 0;
	if (b[1] == (fc | 0x80))
		return 5;                               /* unit fc code crc crc */
	if (b[1] != fc)
		return -EBADMSG;
	switch (fc) {
	case 1: case 2: case 3: case 4:
		if (len < 3)
			return 0;
		/* unit fc count data crc crc; a count past the largest PDU
		 * cannot be a reply (fuzz_rtu found the 255 case) */
		if (5 + b[2] > RTU_MAX_ADU)
			return -EBADMSG;
		return 5 + b[2];
	case 5: case 6: case 15: case 16:
		return 8;                               /* unit fc addr(2) value/count(2) crc */
	default:
		return -EBADMSG;
	}
}

int rtu_unwrap(const uint8_t *f, size_t len, uint8_t unit, const uint8_t **pdu, size_t *pdulen)
{
	if (len < 4 || len > RTU_MAX_ADU)
		return -EBADMSG;
	if (rtu_crc16(f, len - 2) != (uint16_t)(f[len - 2] | f[len - 1] << 8))
		return -EILSEQ;
	if (f[0] != unit)
		return -ENOMSG;
	*pdu = f + 1;
	*pdulen = len - 3;
	return 0;
}
