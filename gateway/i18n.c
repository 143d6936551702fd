/* Translations: the locale at start-up, the text domain's directory, and
 * the page's language per request (see i18n.h). */
#include "i18n.h"

#include <ctype.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* GNU gettext's catalogue generation counter: raised after LANGUAGE
 * changes so that cached translations are looked up again. */
extern int _nl_msg_cat_cntr;

static char *saved_language;
static int saved_set;

static int is_c_locale(const char *s)
{
	return !s || !*s || !strcmp(s, "C") || !strcmp(s, "POSIX");
}

/* The environment's language when its locale cannot be set: "vi_VN.UTF-8"
 * gives "vi_VN:vi" for LANGUAGE. */
static void language_from_env(void)
{
	const char *names[] = { "LC_ALL", "LC_MESSAGES", "LANG" };
	char buf[64], lang[160];

	if (getenv("LANGUAGE") && *getenv("LANGUAGE"))
		return;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *v = getenv(names[i]);
		if (!v || !*v)
			continue;
		if (is_c_locale(v) || strlen(v) >= sizeof(buf))
			return;
		snprintf(buf, sizeof(buf), "%s", v);
		buf[strcspn(buf, ".@")] = 0;
		if (strchr(buf, '_'))
			snprintf(lang, sizeof(lang), "%s:%.*s", buf, (int)strcspn(buf, "_"), buf);
		else
			snprintf(lang, sizeof(lang), "%s", buf);
		setenv("LANGUAGE", lang, 1);
		return;
	}
}

static int has_catalogue(const char *dir)
{
	char p[PATH_MAX + 64];

	snprintf(p, sizeof(p), "%s/vi/LC_MESSAGES/wardgw.mo", dir);
	return access(p, R_OK) == 0;
}

void i18n_init(void)
{
	const char *dir = getenv("WARDGW_LOCALEDIR");
	char exe[PATH_MAX], local[PATH_MAX + 16];
	const char *cur;

	/* messages and characters only: numbers, in MQTT payloads, SenML,
	 * JSON and the config, keep the C locale's decimal point */
	if (!setlocale(LC_CTYPE, ""))
		setlocale(LC_CTYPE, "C.UTF-8");
	if (!setlocale(LC_MESSAGES, "")) {
		/* not generated: the language is still the environment's */
		setlocale(LC_MESSAGES, "C.UTF-8");
		language_from_env();
	}
	/* gettext ignores LANGUAGE in the "C" locale; C.UTF-8 is C for
	 * everything else and lets the page choose a language per request */
	cur = setlocale(LC_MESSAGES, NULL);
	if (is_c_locale(cur))
		setlocale(LC_MESSAGES, "C.UTF-8");
	if (!dir || !*dir) {
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		dir = WARDGW_LOCALEDIR;
		if (n > 0) {
			exe[n] = 0;
			char *slash = strrchr(exe, '/');
			if (slash) {
				*slash = 0;
				snprintf(local, sizeof(local), "%s/locale", exe);
				if (has_catalogue(local))
					dir = local;
			}
		}
	}
	bindtextdomain("wardgw", dir);
	/* the C library's own messages (strerror) stay English: they reach
	 * logs and the device reasons in MQTT events, which are interfaces */
	bindtextdomain("libc", "/nonexistent");
	bind_textdomain_codeset("wardgw", "UTF-8");
	textdomain("wardgw");
}

const char *i18n_process_lang(void)
{
	const char *l = getenv("LANGUAGE"), *m = setlocale(LC_MESSAGES, NULL);

	if (is_c_locale(m) || !l || !*l)
		l = m;
	return l && !strncmp(l, "vi", 2) && (l[2] == 0 || l[2] == '_' || l[2] == ':' || l[2] == '.' || l[2] == '@') ?
		"vi" : "en";
}

/* One Accept-Language entry: language-range [ OWS ";" OWS "q=" qvalue ].
 * Returns the q-value in thousandths, or -1 when malformed. */
static int entry_q(const char *s, size_t n, char *tag, size_t tagsz)
{
	size_t i = 0, t = 0;
	int q = 1000;

	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '*')) {
		if (t + 1 >= tagsz)
			return -1;
		tag[t++] = (char)tolower((unsigned char)s[i++]);
	}
	tag[t] = 0;
	if (!t)
		return -1;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i == n)
		return q;
	if (s[i++] != ';')
		return -1;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (n - i < 3 || (s[i] != 'q' && s[i] != 'Q') || s[i + 1] != '=')
		return -1;
	i += 2;
	if (s[i] == '1') {
		q = 1000;
		i++;
		if (i < n && s[i] == '.')
			for (i++; i < n && s[i] == '0'; i++)
				;
	} else if (s[i] == '0') {
		q = 0;
		i++;
		if (i < n && s[i] == '.') {
			int scale = 100, digits = 0;
			for (i++; i < n && isdigit((unsigned char)s[i]) && digits < 3; i++, digits++, scale /= 10)
				q += (s[i] - '0') * scale;
		}
	} else {
		return -1;
	}
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i == n ? q : -1;
}

const char *i18n_pick_lang(const char *al, const char *fallback)
{
	const char *best = fallback;
	int best_q = 0, entries = 0;
	char tag[36];

	if (!al)
		return fallback;
	while (*al) {
		size_t n = strcspn(al, ",");
		int q = entry_q(al, n, tag, sizeof(tag));
		const char *lang = NULL;

		if (q < 0 || ++entries > 64)
			return fallback;
		if (!strcmp(tag, "vi") || !strncmp(tag, "vi-", 3))
			lang = "vi";
		else if (!strcmp(tag, "en") || !strncmp(tag, "en-", 3))
			lang = "en";
		else if (!strcmp(tag, "*"))
			lang = fallback;
		if (lang && q > best_q) {
			best = lang;
			best_q = q;
		}
		al += n;
		if (*al == ',')
			al++;
	}
	return best;
}

void i18n_begin(const char *lang)
{
	const char *cur = getenv("LANGUAGE");

	free(saved_language);
	saved_language = cur ? strdup(cur) : NULL;
	saved_set = cur != NULL;
	setenv("LANGUAGE", lang, 1);
	++_nl_msg_cat_cntr;
}

void i18n_end(void)
{
	if (saved_set && saved_language)
		setenv("LANGUAGE", saved_language, 1);
	else
		unsetenv("LANGUAGE");
	free(saved_language);
	saved_language = NULL;
	saved_set = 0;
	++_nl_msg_cat_cntr;
}
