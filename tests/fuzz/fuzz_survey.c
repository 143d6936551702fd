/* libFuzzer target: survey CSV rows. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "survey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct survey_row r;
	char err[128];
	char *s = malloc(size ? size : 1);

	if (!s)
		return 0;
	memcpy(s, data, size);
	survey_parse_row(s, size, &r, err, sizeof(err));
	free(s);
	return 0;
}
