/* Logging for the daemon and its tools: one level-checked macro family to
 * stderr (journald picks it up) or syslog. Messages read
 * "component instance: what failed: why". */
#ifndef WARDGW_LOG_H
#define WARDGW_LOG_H

#include <stdio.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

extern enum log_level log_threshold;

/** Set the level from a name ("error", "warn", "info", "debug"); -EINVAL if unknown. */
int log_set_level_name(const char *name);
/** Send messages to syslog (ident "wardgw") instead of stderr. */
void log_use_syslog(int on);

/** Print one message; any thread. Use the macros below. */
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
