/* Modbus RTU framing (Modbus over Serial Line v1.02): unit id + PDU + CRC-16,
 * as pure functions on byte buffers, for RTU over TCP on the loop (serial
 * servers, DTUs) and for the tests and fuzzers. Serial lines themselves go
 * through libmodbus (drivers/modbus_rtu.c). */
#ifndef WARDGW_RTU_H
#define WARDGW_RTU_H

#include <stddef.h>
#include <stdint.h>

#define RTU_MAX_ADU 256         /* unit + 253-byte PDU + CRC */

/** CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF) of @n bytes. */
uint16_t rtu_crc16(const uint8_t *p, size_t n);

/** Frame @pdu for @unit into @out (@pdulen + 3 bytes, at most RTU_MAX_ADU);
 *  returns the frame's length, or -EINVAL if the PDU is empty or too long. */
int rtu_wrap(uint8_t *out, uint8_t unit, const uint8_t *pdu, size_t pdulen);

/**
 * Length of the reply frame at the start of @buf to a request with
 * function @fc: 0 while more bytes are needed, the length (5..256) once
 * known, -EBADMSG when the bytes cannot start that reply (another function).
 */
int rtu_reply_len(const uint8_t *buf, size_t len, uint8_t fc);

/**
 * Check a whole frame: CRC, then unit. On success *@pdu and *@pdulen point
 * into @frame. Returns 0; -EILSEQ for a CRC error (noise, wrong baud rate
 * or parity); -ENOMSG for another unit's frame (a late reply); -EBADMSG
 * when shorter than a frame can be.
 */
int rtu_unwrap(const uint8_t *frame, size_t len, uint8_t unit, const uint8_t **pdu, size_t *pdulen);

#endif
