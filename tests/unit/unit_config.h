/* For unit tests of config sections: write @dir/gateway.conf, load it, and
 * look for an error at FILE:LINE. Include after <cmocka.h>. */
#ifndef WARDGW_UNIT_CONFIG_H
#define WARDGW_UNIT_CONFIG_H

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "unit_files.h"

/** Load @dir/gateway.conf written from @text: config_load's answer in
 *  *@ret, the config in *@out (or freed when @out is NULL), the error
 *  text returned (malloc'd). */
static inline char *ut_load(const char *dir, const char *text, int *ret, struct gw_config **out)
{
	char path[320], *buf = NULL;
	size_t len = 0;
	FILE *errs = open_memstream(&buf, &len);
	struct gw_config *cfg = NULL;

	assert_non_null(errs);
	ut_write(dir, "gateway.conf", text, 0644);
	snprintf(path, sizeof(path), "%s/gateway.conf", dir);
	*ret = config_load(path, errs, &cfg);
	fclose(errs);
	if (out)
		*out = cfg;
	else
		config_free(cfg);
	return buf;
}

/** @errs holds "@dir/@file:@line: @msg", or the test fails. */
static inline void ut_expect(const char *errs, const char *dir, const char *file, int line, const char *msg)
{
	char want[640];

	snprintf(want, sizeof(want), "%s/%s:%d: %s", dir, file, line, msg);
	if (!strstr(errs, want)) {
		fprintf(stderr, "expected: %s\ngot:\n%s", want, errs);
		fail();
	}
}

#endif
