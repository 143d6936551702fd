/* Logging backend: formats one line and writes it to stderr (with <N>
 * syslog-priority prefixes when journald reads it) or syslog. Repeats of
 * one message (same format string, i.e. the same call site) are limited.
 * Safe from any thread (one write per message). */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

enum log_level log_threshold = LOG_LVL_INFO;
static int to_syslog;
static int journal = -1;            /* stderr is journald's stream: -1 not checked yet */
static struct log_ratelimit limiter;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = { "error", "warn", "info", "debug" };
static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

int log_level_parse(const char *name, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (!strcmp(name, level_names[i])) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

int log_set_level_name(const char *name)
{
	enum log_level l;

	if (log_level_parse(name, &l) < 0)
		return -EINVAL;
	log_threshold = l;
	return 0;
}

void log_adjust_level(int delta)
{
	int l = (int)log_threshold + delta;

	log_threshold = l < LOG_LVL_ERROR ? LOG_LVL_ERROR : l > LOG_LVL_DEBUG ? LOG_LVL_DEBUG : (enum log_level)l;
}

static int cli_delta;

void log_set_cli_delta(int delta)
{
	cli_delta = delta;
}

int log_configure(const char *level, const char *target, int repeat_burst, int repeat_interval_s)
{
	enum log_level l = LOG_LVL_INFO;

	if (level && log_level_parse(level, &l) < 0)
		return -EINVAL;
	log_threshold = l;
	log_adjust_level(cli_delta);
	log_use_syslog(target && !strcmp(target, "syslog"));
	log_set_ratelimit((int64_t)repeat_interval_s * 1000, repeat_burst > 0 ? (unsigned)repeat_burst : 0);
	return 0;
}

void log_use_syslog(int on)
{
	if (on && !to_syslog)
		openlog("wardgw", LOG_PID, LOG_DAEMON);
	if (!on && to_syslog)
		closelog();
	to_syslog = on;
}

/* systemd sets JOURNAL_STREAM=dev:ino of the stream it gave us; only when
 * stderr is still that stream do <N> prefixes mean something. */
static int stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_recheck_stream(void)
{
	pthread_mutex_lock(&lock);
	journal = -1;
	pthread_mutex_unlock(&lock);
}

void log_ratelimit_init(struct log_ratelimit *rl, int64_t interval_ms, unsigned burst)
{
	memset(rl, 0, sizeof(*rl));
	rl->interval_ms = interval_ms;
	rl->burst = burst;
}

/* Open addressing on the key; a full table evicts the slot the
 * key hashes to, which at worst lets a few extra lines through. */
int log_ratelimit_check(struct log_ratelimit *rl, uint64_t key, int64_t now_ms,
			unsigned *suppressed)
{
	uint64_t h;
	struct log_rl_slot *s = NULL;

	*suppressed = 0;
	key |= 1;                   /* 0 marks a free slot */
	h = key ^ (key >> 29);
	if (!rl->burst)
		return 1;
	for (unsigned i = 0; i < LOG_RL_SLOTS; i++) {
		struct log_rl_slot *c = &rl->slot[(h + i) % LOG_RL_SLOTS];
		if (c->key == key || !c->key) {
			s = c;
			break;
		}
	}
	if (!s) {
		s = &rl->slot[h % LOG_RL_SLOTS];
		memset(s, 0, sizeof(*s));
	}
	if (s->key != key || now_ms - s->start_ms >= rl->interval_ms || now_ms < s->start_ms) {
		/* a new window: say how many the last one swallowed */
		*suppressed = s->key == key ? s->suppressed : 0;
		s->key = key;
		s->start_ms = now_ms;
		s->count = 1;
		s->suppressed = 0;
		return 1;
	}
	if (s->count < rl->burst) {
		s->count++;
		return 1;
	}
	s->suppressed++;
	return 0;
}

void log_set_ratelimit(int64_t interval_ms, unsigned burst)
{
	pthread_mutex_lock(&lock);
	log_ratelimit_init(&limiter, interval_ms, burst);
	pthread_mutex_unlock(&lock);
}

/* Length of the valid UTF-8 sequence at @p (@n bytes left), 0 if none:
 * no overlong forms, no surrogates, nothing past U+10FFFF. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	size_t need;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		need = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		need = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		need = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((need == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (need == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return need;
}

size_t log_escape(char *dst, size_t size, const char *src, size_t len)
{
	const unsigned char *p = (const unsigned char *)src;
	size_t o = 0, i = 0;

	if (!size)
		return 0;
	while (i < len) {
		char e[8];
		size_t el, k = utf8_len(p + i, len - i);
		const char *from = e;
		if (k == 1 && p[i] >= 0x20 && p[i] != 0x7f) {
			from = (const char *)p + i;
			el = 1;
		} else if (k == 1) {
			el = (size_t)(p[i] == '\n' ? snprintf(e, sizeof(e), "\\n") : p[i] == '\r' ? snprintf(e, sizeof(e), "\\r") :
				      p[i] == '\t' ? snprintf(e, sizeof(e), "\\t") : snprintf(e, sizeof(e), "\\x%02x", p[i]));
		} else if (k == 2 && p[i] == 0xc2 && p[i + 1] < 0xa0) {
			el = (size_t)snprintf(e, sizeof(e), "\\u%04x", p[i + 1]);
		} else if (k) {
			from = (const char *)p + i;
			el = k;
		} else {
			k = 1;
			el = (size_t)snprintf(e, sizeof(e), "\\x%02x", p[i]);
		}
		if (o + el >= size)
			break;
		memcpy(dst + o, from, el);
		o += el;
		i += k;
	}
	dst[o] = 0;
	return o;
}

static void emit(enum log_level lvl, const char *msg)
{
	if (to_syslog) {
		syslog(prio[lvl], "%s", msg);
		return;
	}
	if (journal < 0)
		journal = stderr_is_journal();
	if (journal) {
		/* journald stamps the time itself */
		fprintf(stderr, "<%d>%s\n", prio[lvl], msg);
		return;
	}
	int64_t now = wall_ms();
	time_t sec = (time_t)(now / 1000);
	struct tm tm;
	char stamp[32];
	localtime_r(&sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
	/* one fprintf so lines from several threads do not interleave */
	fprintf(stderr, "%s.%03ld %-5s %s\n", stamp, (long)(now % 1000), level_names[lvl], msg);
}

void log_write(enum log_level lvl, const char *fmt, ...)
{
	char raw[1024], msg[2048], note[2200];
	va_list ap;
	unsigned suppressed;
	int allow;

	if ((unsigned)lvl > LOG_LVL_DEBUG)
		lvl = LOG_LVL_ERROR;
	uint64_t h = 1469598103934665603ULL;   /* FNV-1a of the text: the key */

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	/* once, here, for every message: whatever came from outside */
	log_escape(msg, sizeof(msg), raw, strlen(raw));
	for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	int64_t now = mono_ms();
	pthread_mutex_lock(&lock);
	allow = log_ratelimit_check(&limiter, h, now, &suppressed);
	pthread_mutex_unlock(&lock);
	if (suppressed) {
		snprintf(note, sizeof(note), "log: the message \"%.1900s\" was repeated %u more times", msg,
			 suppressed);
		emit(lvl, note);
	}
	if (allow)
		emit(lvl, msg);
}

void log_bug(const char *file, int line, const char *msg)
{
	fprintf(stderr, "BUG: %s:%d: %s\n", file, line, msg);
	abort();
}
