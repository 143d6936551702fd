/* libFuzzer target: hostapd control-interface text (STATUS, STA, events). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hostapd_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hostapd_status st;
	struct hostapd_sta sta;
	struct hostapd_event ev;
	/* an exact-size copy, so reading one byte too far is caught */
	char *s = malloc(size ? size : 1);

	if (!s)
		return 0;
	memcpy(s, data, size);
	hostapd_parse_status(s, size, &st);
	hostapd_parse_sta(s, size, &sta);
	hostapd_parse_event(s, size, &ev);
	free(s);
	return 0;
}
