/* libFuzzer target: SenML encoding and JSON escaping of names and units
 * taken from the input, into exact-size heap buffers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "senml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	size_t bufsize = data[0];
	size_t split = data[1] % (size - 2);
	char *name = strndup((const char *)data + 2, split);
	char *unit = strndup((const char *)data + 2 + split, size - 2 - split);
	char *buf = malloc(bufsize ? bufsize : 1);
	struct senml_rec recs[2] = { { name, unit, (double)data[1] }, { unit, name, -1.5 } };

	if (name && unit && buf) {
		json_escape(buf, bufsize, name);
		senml_pack(buf, bufsize, unit, 1795400000123LL, recs, 2);
	}
	free(name);
	free(unit);
	free(buf);
	return 0;
}
