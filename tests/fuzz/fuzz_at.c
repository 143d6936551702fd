/* libFuzzer target: AT reply framing, then QENG and CESQ on what it framed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "at_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct at_framer f;
	struct qeng_result q;
	struct cesq_result c;
	size_t used = 0, off = 0;

	at_framer_start(&f, "AT+QENG=\"servingcell\"", "+");
	/* feed in uneven chunks, as a serial line does */
	while (off < size && !at_framer_feed(&f, (const char *)data + off, (size - off) > 7 ? 7 : size - off, &used))
		off += used;
	qeng_init(&q);
	for (size_t i = 0; i < f.nresp; i++) {
		qeng_parse_line(f.resp[i], &q);
		cesq_parse(f.resp[i], &c);
		qgpsloc_parse(f.resp[i], &c.rsrp, &c.rsrq);
	}
	return 0;
}
