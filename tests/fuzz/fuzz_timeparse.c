/* libFuzzer target: command-line time parsing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "timeparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	int64_t v;
	char out[40];

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	if (time_parse(s, 1795400000000LL, &v) == 0)
		time_format(v, out, sizeof(out));
	free(s);
	return 0;
}
