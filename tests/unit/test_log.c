/* The log's repeat limiter: per key (message text), a burst per interval, and
 * the count of what was swallowed reported when the next window opens; text
 * from outside escaped so that it cannot forge a line or reach a terminal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"

static void test_burst_then_suppress(void **state)
{
	struct log_ratelimit rl;
	unsigned sup = 99;
	const uint64_t k1 = 0x1234, k2 = 0x9876;

	log_ratelimit_init(&rl, 60000, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(log_ratelimit_check(&rl, k1, 1000 + i, &sup), 1);
		assert_int_equal(sup, 0);
	}
	for (int i = 0; i < 5; i++)
		assert_int_equal(log_ratelimit_check(&rl, k1, 2000 + i, &sup), 0);
	/* another call site is not affected */
	assert_int_equal(log_ratelimit_check(&rl, k2, 2100, &sup), 1);
	assert_int_equal(sup, 0);
	/* a new window: allowed again, with the 5 swallowed reported once */
	assert_int_equal(log_ratelimit_check(&rl, k1, 61000, &sup), 1);
	assert_int_equal(sup, 5);
	assert_int_equal(log_ratelimit_check(&rl, k1, 61001, &sup), 1);
	assert_int_equal(sup, 0);
}

static void test_unlimited_and_clock_back(void **state)
{
	struct log_ratelimit rl;
	unsigned sup;
	const uint64_t k = 42;

	log_ratelimit_init(&rl, 1000, 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(log_ratelimit_check(&rl, k, i, &sup), 1);
	log_ratelimit_init(&rl, 1000, 1);
	assert_int_equal(log_ratelimit_check(&rl, k, 5000, &sup), 1);
	assert_int_equal(log_ratelimit_check(&rl, k, 5001, &sup), 0);
	/* time going backwards opens a new window rather than muting forever */
	assert_int_equal(log_ratelimit_check(&rl, k, 10, &sup), 1);
	assert_int_equal(sup, 1);
}

static void test_many_keys(void **state)
{
	struct log_ratelimit rl;
	unsigned sup;

	/* more keys than slots: nothing crashes, each key's first line passes */
	log_ratelimit_init(&rl, 60000, 2);
	for (uint64_t i = 0; i < LOG_RL_SLOTS * 2; i++)
		assert_int_equal(log_ratelimit_check(&rl, i * 7919 + 3, 100, &sup), 1);
}

static void test_levels(void **state)
{
	enum log_level l;

	assert_int_equal(log_level_parse("warn", &l), 0);
	assert_int_equal(l, LOG_LVL_WARN);
	assert_int_equal(log_level_parse("loud", &l), -22);
	assert_int_equal(log_configure("warn", "stderr", 10, 60), 0);
	assert_int_equal(log_threshold, LOG_LVL_WARN);
	log_set_cli_delta(1);
	assert_int_equal(log_configure("warn", "stderr", 10, 60), 0);
	assert_int_equal(log_threshold, LOG_LVL_INFO);
	log_set_cli_delta(-5);
	assert_int_equal(log_configure("debug", "stderr", 10, 60), 0);
	assert_int_equal(log_threshold, LOG_LVL_ERROR);
	log_set_cli_delta(0);
}


/* Issue 15 item 4: text from outside is one line of plain text, whatever it holds. */
static void test_escape(void **state)
{
	char out[256];
	static const struct { const char *in; size_t len; const char *want; } cases[] = {
		{ "plain text", 10, "plain text" },
		{ "a\nb\rc\td", 7, "a\\nb\\rc\\td" },
		{ "\x1b[31mred\x1b[0m", 12, "\\x1b[31mred\\x1b[0m" },
		{ "nul\0x", 5, "nul\\x00x" },
		{ "del\x7f", 4, "del\\x7f" },
		{ "ph\xc6\xb0\xe1\xbb\x9dng", 9, "ph\xc6\xb0\xe1\xbb\x9dng" },     /* phường: valid UTF-8 passes */
		{ "bad\xff\xfe", 5, "bad\\xff\\xfe" },
		{ "cut\xe1\xbb", 5, "cut\\xe1\\xbb" },                                  /* a sequence cut short */
		{ "over\xc0\xaf", 6, "over\\xc0\\xaf" },                                /* overlong '/' */
		{ "sur\xed\xa0\x80", 6, "sur\\xed\\xa0\\x80" },                         /* a surrogate */
		{ "csi\xc2\x9b" "2J", 7, "csi\\u009b2J" },                              /* C1 CSI */
		{ "back\\slash", 10, "back\\slash" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		log_escape(out, sizeof(out), cases[i].in, cases[i].len);
		assert_string_equal(out, cases[i].want);
		/* escaping twice changes nothing */
		char again[256];
		log_escape(again, sizeof(again), out, strlen(out));
		assert_string_equal(again, out);
	}
	/* a small buffer: never cut inside an escape */
	assert_int_equal(log_escape(out, 5, "ab\ncd", 5), 4);
	assert_string_equal(out, "ab\\n");
	assert_int_equal(log_escape(out, 4, "ab\ncd", 5), 2);
	assert_string_equal(out, "ab");
}

/* The forged line of the issue: an unknown envelope key holding a newline
 * and a time stamp. The log gets one line; in journald mode no line starts
 * with a priority of the sender's choosing. */
static void test_log_line_cannot_be_forged(void **state)
{
	char path[] = "/tmp/wardgw-log.XXXXXX", buf[4096] = "", js[64];
	int fd = mkstemp(path), saved = dup(2);
	struct stat st;
	FILE *f;
	size_t n;

	assert_true(fd >= 0 && saved >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	log_set_level_name("info");
	log_info("lighting: command (no id) rejected: malformed: unknown envelope key '%s'",
		 "\n2026-12-03 07:00:00.000 info  x");
	/* journald's stream: <N> prefixes */
	assert_int_equal(fstat(2, &st), 0);
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	log_recheck_stream();
	log_warn("x: %s", "a\n<0>emergency forged\x1b]0;title\x07");
	unsetenv("JOURNAL_STREAM");
	log_recheck_stream();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	f = fopen(path, "r");
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	close(fd);
	unlink(path);
	/* two messages, two lines */
	int lines = 0;
	for (char *p = buf; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 2);
	assert_null(strstr(buf, "\n2026-12-03 07:00:00.000 info  x"));
	assert_non_null(strstr(buf, "unknown envelope key '\\n2026-12-03 07:00:00.000 info  x'"));
	assert_non_null(strstr(buf, "\n<4>x: a\\n<0>emergency forged\\x1b]0;title\\x07\n"));
	assert_null(strchr(buf, '\x1b'));
	assert_null(strstr(buf, "\n<0>"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_suppress),
		cmocka_unit_test(test_unlimited_and_clock_back),
		cmocka_unit_test(test_many_keys),
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_log_line_cannot_be_forged),
	};
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
