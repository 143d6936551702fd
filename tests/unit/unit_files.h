/* For unit tests that write config and profile files into a folder of
 * their own under /tmp: make it (with a profiles/ inside), write a file,
 * remove it all. Include after <cmocka.h>. */
#ifndef WARDGW_UNIT_FILES_H
#define WARDGW_UNIT_FILES_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/** mkdtemp() of "/tmp/@prefix.XXXXXX" into @dir, and @dir/profiles. 0 or -1. */
static inline int ut_mkdir(char *dir, size_t len, const char *prefix)
{
	char p[320];

	snprintf(dir, len, "/tmp/%s.XXXXXX", prefix);
	if (!mkdtemp(dir))
		return -1;
	snprintf(p, sizeof(p), "%s/profiles", dir);
	return mkdir(p, 0700);
}

/** Write @text to @dir/@name with permissions @mode. */
static inline void ut_write(const char *dir, const char *name, const char *text, mode_t mode)
{
	char path[320];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

/** rm -rf @dir. 0 or -1 (a cmocka teardown's answer). */
static inline int ut_rmdir(const char *dir)
{
	char cmd[320];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

#endif
