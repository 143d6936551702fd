/* Translations (GNU gettext, text domain "wardgw"): what people read — the
 * status page, the --live line, `wardgw status`, `wardgw check` — goes
 * through _(). Metric names, log lines and MQTT payloads stay English: they
 * are interfaces. The process language follows LANGUAGE / LC_ALL /
 * LC_MESSAGES / LANG; the status page picks its own per request from
 * Accept-Language. */
#ifndef WARDGW_I18N_H
#define WARDGW_I18N_H

#include <libintl.h>
#include <stddef.h>

#define _(s) gettext(s)
#define N_(s) (s)

/* Where the catalogues are installed (wardgw.mo under LANG/LC_MESSAGES). */
#ifndef WARDGW_LOCALEDIR
#define WARDGW_LOCALEDIR "/usr/share/locale"
#endif

/**
 * Set LC_MESSAGES and LC_CTYPE from the environment (never LC_NUMERIC:
 * payloads and the config keep "1.5") and bind the text domain: to
 * $WARDGW_LOCALEDIR, else to "locale" beside the executable when it holds
 * a catalogue (a build tree), else WARDGW_LOCALEDIR. When the locale named
 * by the environment is not generated (vi_VN.UTF-8 on a bare system), the
 * language is still taken from it, on C.UTF-8. Call once, first in main().
 */
void i18n_init(void);

/** The language of the process's messages: "vi" or "en". */
const char *i18n_process_lang(void);

/**
 * The language for a page: the best of "vi" and "en" in an HTTP
 * Accept-Language header (RFC 9110 §12.5.4: q-values, "*"), or @fallback
 * when the header is NULL, malformed, or names neither. Bounds-checked:
 * at most 64 entries, tags up to 35 characters.
 */
const char *i18n_pick_lang(const char *accept_language, const char *fallback);

/**
 * Translate with @lang ("vi" or "en") until i18n_end(): the page renders in
 * its reader's language whatever the process's is. Loop thread only (it
 * switches LANGUAGE for the process; the other threads translate nothing).
 */
void i18n_begin(const char *lang);
void i18n_end(void);

#endif
