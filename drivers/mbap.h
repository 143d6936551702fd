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

/** Short text for a Modbus exception code ("illegal data address"). */
const char *mbap_exception_str(uint8_t code);

#endif
