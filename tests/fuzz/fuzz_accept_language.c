/* libFuzzer target: the page's language from an Accept-Language header. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "i18n.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	const char *l;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	l = i18n_pick_lang(s, "en");
	if (strcmp(l, "vi") && strcmp(l, "en"))
		abort();
	free(s);
	return 0;
}
