/* The status page's content, for people: the ward first (red flags, KPIs
 * with targets and deadlines, lamps, energy, hotspots, coverage), then what
 * needs a person (devices offline or degraded, open alarms, last events),
 * the map, and a compact device table filtered by query parameters; a page
 * per device with a chart of each metric; the map as GeoJSON. Server-side
 * HTML and SVG only, in the reader's language. httpd.c does the
 * connections and authorisation and hands the routes here. Loop thread. */
#ifndef WARDGW_PAGE_H
#define WARDGW_PAGE_H

struct evbuffer;
struct gateway;
struct page_cache;

/** What the pages keep between requests (slow-changing ward figures).
 *  NULL on ENOMEM. Loop thread. */
struct page_cache *page_cache_new(void);
void page_cache_free(struct page_cache *c);

struct page_request {
	const char *path;               /* "/", "/device", "/map.geojson" */
	const char *query;              /* raw query string, may be NULL */
	const char *accept_language;    /* header, may be NULL */
	const char *token;              /* the token when it came in the query (kept in links), else NULL */
};

struct page_reply {
	int status;                     /* HTTP status */
	const char *reason;
	const char *type;               /* Content-Type */
	const char *lang;               /* Content-Language */
};

/** Append @s to @b escaped for HTML text and attribute values. */
void html_esc(struct evbuffer *b, const char *s);
/** Append @s to @b percent-encoded but for unreserved characters (links). */
void url_enc(struct evbuffer *b, const char *s);

/** Whether @path is a page this module serves. */
int page_handles(const char *path);

/**
 * Render @rq into @b and describe it in @rp. 0, or negative errno (-ENOMEM)
 * when nothing usable was written.
 */
int page_render(struct gateway *gw, struct page_cache *c, const struct page_request *rq, struct evbuffer *b,
		struct page_reply *rp);

#endif
