/* The one secret-file reader (issue 14 item 4): owner-only files are read
 * up to the first line end; any permission for group or others, a missing
 * file and an empty line are refused with a clear reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>

#include "secret.h"
#include "unit_files.h"

static char dir[64];

static int setup(void **state)
{
	return ut_mkdir(dir, sizeof(dir), "wardgw-secret");
}

static int teardown(void **state)
{
	return ut_rmdir(dir);
}

static void first_line_of_an_owner_only_file(void **state)
{
	char path[128], buf[64], why[300];

	ut_write(dir, "pw", "s3cret-value-0123\r\nsecond line\n", 0600);
	snprintf(path, sizeof(path), "%s/pw", dir);
	assert_int_equal(secret_read_line(path, buf, sizeof(buf), why, sizeof(why)), 0);
	assert_string_equal(buf, "s3cret-value-0123");
	ut_write(dir, "pw", "no-newline", 0400);
	assert_int_equal(secret_read_line(path, buf, sizeof(buf), why, sizeof(why)), 0);
	assert_string_equal(buf, "no-newline");
	/* longer than the buffer: cut, still terminated */
	ut_write(dir, "pw", "0123456789abcdef0123456789", 0600);
	assert_int_equal(secret_read_line(path, buf, 9, why, sizeof(why)), 0);
	assert_string_equal(buf, "01234567");
}

static void group_or_other_bits_refused(void **state)
{
	static const mode_t modes[] = { 0640, 0604, 0644, 0610, 0601, 0660, 0666 };
	char path[128], buf[64], why[300], want[200];

	snprintf(path, sizeof(path), "%s/pw", dir);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		ut_write(dir, "pw", "s3cret-value-0123\n", modes[i]);
		assert_int_equal(secret_read_line(path, buf, sizeof(buf), why, sizeof(why)), -EPERM);
		snprintf(want, sizeof(want), "%s is readable by group or others (mode %03o): chmod 600 it", path,
			 (unsigned)modes[i]);
		assert_non_null(strstr(why, want));
		assert_string_equal(buf, "");      /* nothing of it was read */
	}
}

static void missing_and_empty(void **state)
{
	char path[128], buf[64], why[300];
	FILE *f;

	snprintf(path, sizeof(path), "%s/none", dir);
	assert_int_equal(secret_read_line(path, buf, sizeof(buf), why, sizeof(why)), -ENOENT);
	assert_non_null(strstr(why, "cannot read"));
	assert_non_null(strstr(why, "No such file"));
	assert_int_equal(secret_open(path, &f, why, sizeof(why)), -ENOENT);
	assert_null(f);
	ut_write(dir, "empty", "\n", 0600);
	snprintf(path, sizeof(path), "%s/empty", dir);
	assert_int_equal(secret_read_line(path, buf, sizeof(buf), why, sizeof(why)), -ENODATA);
	assert_non_null(strstr(why, "is empty"));
}

static void open_hands_the_stream(void **state)
{
	char path[128], line[64], why[300];
	FILE *f;

	ut_write(dir, "tokens", "a aaaaaaaaaaaaaaaa\nb bbbbbbbbbbbbbbbb\n", 0600);
	snprintf(path, sizeof(path), "%s/tokens", dir);
	assert_int_equal(secret_open(path, &f, why, sizeof(why)), 0);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "b bbbbbbbbbbbbbbbb\n");
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(first_line_of_an_owner_only_file, setup, teardown),
		cmocka_unit_test_setup_teardown(group_or_other_bits_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(missing_and_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(open_hands_the_stream, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
