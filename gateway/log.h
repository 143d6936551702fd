/* Logging for the daemon and its tools: one level-checked macro family to
 * stderr (journald picks it up) or syslog. Messages read
 * "component instance: what failed: why". */
#ifndef WARDGW_LOG_H
#define WARDGW_LOG_H

#include <stdint.h>
#include <stdio.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

extern enum log_level log_threshold;

/** Set the level from a name ("error", "warn", "info", "debug"); -EINVAL if unknown. */
int log_set_level_name(const char *name);
/** Parse a level name; 0 or -EINVAL. */
int log_level_parse(const char *name, enum log_level *out);
/** Move the level by @delta steps (-v: +1, -q: -1), clamped to error..debug. */
void log_adjust_level(int delta);
/** -v/-q on the command line: steps added to the configured level. */
void log_set_cli_delta(int delta);
/** Apply the config's log section (level moved by the -v/-q delta, target
 *  "stderr" or "syslog", repeat limit). Any time; 0 or -EINVAL. */
int log_configure(const char *level, const char *target, int repeat_burst, int repeat_interval_s);
/** stderr was replaced: check again whether it is journald's stream (<N> prefixes). */
void log_recheck_stream(void);
/** Send messages to syslog (ident "wardgw") instead of stderr. */
void log_use_syslog(int on);

/* Repeats of one message: at most @burst per @interval_ms per key (a hash
 * of the formatted text, so "device cab-7: offline" and "device cab-8:
 * offline" are two keys); the rest are counted and reported as one line
 * when the key's next window opens. */
#define LOG_RL_SLOTS 128
struct log_rl_slot {
	uint64_t key;               /* 0: free */
	int64_t start_ms;
	unsigned count, suppressed;
};
struct log_ratelimit {
	int64_t interval_ms;
	unsigned burst;             /* 0: no limit */
	struct log_rl_slot slot[LOG_RL_SLOTS];
};
void log_ratelimit_init(struct log_ratelimit *rl, int64_t interval_ms, unsigned burst);
/** 1: log this one; 0: suppress it. *@suppressed: how many the key's
 *  previous window swallowed (report them first). */
int log_ratelimit_check(struct log_ratelimit *rl, uint64_t key, int64_t now_ms,
			unsigned *suppressed);
/** The daemon's limit (default: none; `run` sets log.repeat_*). Any thread. */
void log_set_ratelimit(int64_t interval_ms, unsigned burst);

/**
 * Copy @len bytes of @src (text from outside: a device, the network, a
 * file) into @dst (@size bytes, NUL-terminated, never cut inside an escape)
 * so that it is one line of plain text on any terminal and in any log:
 * newline, CR and tab as \n \r \t, other control bytes (C0, DEL) and
 * bytes that are not valid UTF-8 as \xHH, the C1 controls (U+0080..U+009F)
 * as \u00HH; valid UTF-8 and backslashes pass as they are, so escaping
 * twice changes nothing. Returns the length written. Any thread.
 */
size_t log_escape(char *dst, size_t size, const char *src, size_t len);

/** Print one message; any thread. Use the macros below. The message is
 *  escaped with log_escape() as a whole: no text can start a line of its
 *  own, forge a journald priority or reach the terminal as a control. */
void log_write(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_at(lvl, ...) \
	((lvl) <= log_threshold ? log_write((lvl), __VA_ARGS__) : (void)0)
#define log_err(...)   log_at(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_at(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_at(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_LVL_DEBUG, __VA_ARGS__)

/** Log at error level and return @ret, like git's error(): `return log_error(-EIO, ...)`. */
#define log_error(ret, ...) (log_err(__VA_ARGS__), (ret))

/** A broken internal assumption: print where and abort. */
#define BUG(msg) log_bug(__FILE__, __LINE__, (msg))
void log_bug(const char *file, int line, const char *msg) __attribute__((noreturn));

#endif
