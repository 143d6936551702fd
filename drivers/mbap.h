/* Modbus TCP framing (Modbus Messaging on TCP/IP v1.0b): the MBAP header and
 * the read PDUs, as pure functions on byte buffers so they can be tested and
 * fuzzed without sockets. */
#ifndef WARDGW_MBAP_H
#define WARDGW_MBAP_H

#include <stddef.h>
#include <stdint.h>

#include "decode.h"

#define MBAP_HEADER 7           /* tid(2) proto(2) len(2) unit(1) */
#define MBAP_MAX_ADU 260        /* 7 + 253-byte PDU */
#define MBAP_READ_REQUEST 12

/** Function code that reads @t: 01, 02, 03 or 04. */
uint8_t mbap_read_fc(enum reg_table t);

/** Write a read request into @buf (at least MBAP_READ_REQUEST bytes); returns its length. */
size_t mbap_read_request(uint8_t *buf, uint16_t tid, uint8_t unit, enum reg_table t,
			 uint16_t start, uint16_t count);

/**
 * Length of the frame at the start of @buf: 0 when fewer than MBAP_HEADER
 * bytes are there, the whole frame's length (7..260) otherwise, or -EBADMSG
 * when the header cannot be Modbus (protocol id not 0, length out of range).
 */
int mbap_frame_len(const uint8_t *buf, size_t len);

/**
 * Check a whole reply frame against the request (transaction id, unit,
 * function, byte count) and unpack it: registers into @out[0..count) as host
 * words, bits as 0/1 words. Returns 0; -ENOMSG for another transaction id (a
 * late reply to an abandoned request); -EREMOTEIO for a Modbus exception
 * (code in *@exc); -EBADMSG for anything malformed.
 */
int mbap_parse_read_reply(const uint8_t *frame, size_t len, uint16_t tid, uint8_t unit,
			  enum reg_table t, uint16_t count, uint16_t *out, uint8_t *exc);

/* PDU level (function code onwards), shared by Modbus TCP and RTU framing. */

#define MB_MAX_PDU 253
#define MB_MAX_WRITE_REGS 123   /* FC16 */
#define MB_MAX_WRITE_BITS 1968  /* FC15 */

/**
 * Build a write PDU into @pdu (MB_MAX_PDU bytes): @fc 5 (one coil, words[0]
 * 0 or 1), 6 (one register), 15 (@count coils, words 0/1) or 16 (@count
 * registers). Returns its length, or -EINVAL for a bad fc or count.
 */
int mb_write_pdu(uint8_t *pdu, uint8_t fc, uint16_t addr, const uint16_t *words, uint16_t count);

/**
 * Check a reply PDU to that write: FC05/06 echo address and value, FC15/16
 * address and count. 0; -EREMOTEIO for an exception (code in *@exc);
 * -EBADMSG otherwise.
 */
int mb_parse_write_pdu(const uint8_t *pdu, size_t len, uint8_t fc, uint16_t addr,
		       const uint16_t *words, uint16_t count, uint8_t *exc);

/** Read reply PDU (function code onwards) into @out, as mbap_parse_read_reply. */
int mb_parse_read_pdu(const uint8_t *pdu, size_t len, enum reg_table t, uint16_t count,
		      uint16_t *out, uint8_t *exc);

/** A whole MBAP write request frame (MBAP_MAX_ADU bytes); length or -EINVAL. */
int mbap_write_request(uint8_t *buf, uint16_t tid, uint8_t unit, uint8_t fc, uint16_t addr,
		       const uint16_t *words, uint16_t count);

/** Check a whole MBAP reply frame to a write: 0, -ENOMSG (other transaction),
 *  -EREMOTEIO (exception in *@exc) or -EBADMSG. */
int mbap_parse_write_reply(const uint8_t *frame, size_t len, uint16_t tid, uint8_t unit,
			   uint8_t fc, uint16_t addr, const uint16_t *words, uint16_t count,
			   uint8_t *exc);

/** Short text for a Modbus exception code ("illegal data address"). */
const char *mbap_exception_str(uint8_t code);

#endif
