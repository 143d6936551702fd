/* The status page. Every request is answered on the loop from memory and a
 * few bounded SQLite reads (LIMITs on indexed ranges), so a page costs
 * milliseconds, not a poll slot. Everything put in HTML is escaped. */
#include "httpd.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <math.h>
#include <openssl/crypto.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "gateway.h"
#include "health.h"
#include "httpguard.h"
#include "httpparse.h"
#include "httpconf.h"
#include "kpi.h"
#include "log.h"
#include "outbox.h"
#include "page.h"
#include "secret.h"
#include "publisher.h"
#include "rollup.h"
#include "status.h"
#include "store.h"
#include "timeparse.h"
#include "version.h"

#define MAX_QUERY 1024
#define CHART_W 600
#define CHART_H 180
#define CHART_BUCKETS 288
#define MAX_ROWS 300            /* device rows on the page (problems first) */

struct httpd {
	struct gateway *gw;
	struct evhttp *http;
	struct httpguard *guard;    /* connection limits */
	char host[64], listen[80];
	int port;
	char *token;
	char *user, *pass;
	uint64_t requests, refused;
	struct page_cache *pages;   /* what the pages keep between requests */
};

/* The first line of secret file @path (secret.h) in a new string; the
 * reason of a failure is logged here. */
static int read_secret(const char *path, char **out)
{
	char buf[256], why[600];
	int ret = secret_read_line(path, buf, sizeof(buf), why, sizeof(why));

	if (ret < 0)
		return log_error(ret, "http: %s", why);
	ret = (*out = strdup(buf)) ? 0 : -ENOMEM;
	OPENSSL_cleanse(buf, sizeof(buf));
	return ret;
}

static void reply(struct evhttp_request *req, int code, const char *reason, const char *type,
		  struct evbuffer *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'");
	evhttp_send_reply(req, code, reason, body);
}

static void reply_text(struct evhttp_request *req, int code, const char *reason, const char *text)
{
	struct evbuffer *b = evbuffer_new();

	if (b)
		evbuffer_add_printf(b, "%s\n", text);
	reply(req, code, reason, "text/plain; charset=utf-8", b);
	if (b)
		evbuffer_free(b);
}

/* Token (Bearer or ?token=) or basic auth, as configured; nothing
 * configured: open (the config check allows that on loopback only). */
static int authorized(struct httpd *h, struct evhttp_request *req, const char *query, int *via_query)
{
	const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	char a[300], b[300];

	*via_query = 0;
	if (!h->token && !h->user)
		return 1;
	if (h->token && auth && http_bearer(auth, a, sizeof(a)) == 0 && http_secret_equal(a, h->token))
		return 1;
	if (h->token && query && http_query_get(query, "token", a, sizeof(a)) >= 0 &&
	    http_secret_equal(a, h->token)) {
		*via_query = 1;
		return 1;
	}
	if (h->user && auth && http_basic_auth(auth, a, sizeof(a), b, sizeof(b)) == 0 &&
	    http_secret_equal(a, h->user) & http_secret_equal(b, h->pass))
		return 1;
	return 0;
}

/* The pages (page.c) in the reader's language; render time in Server-Timing. */
static void serve_page(struct httpd *h, struct evhttp_request *req, const char *path, const char *query,
		       int token_in_query)
{
	struct evbuffer *b = evbuffer_new();
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	char tok[300] = "", timing[64];
	int64_t t0 = mono_us();
	struct page_reply rp = { 0 };
	struct page_request rq = {
		.path = path, .query = query,
		.accept_language = evhttp_find_header(evhttp_request_get_input_headers(req), "Accept-Language"),
	};

	if (!b) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	if (token_in_query && query && http_query_get(query, "token", tok, sizeof(tok)) >= 0)
		rq.token = tok;
	if (page_render(h->gw, h->pages, &rq, b, &rp) < 0) {
		evbuffer_free(b);
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	snprintf(timing, sizeof(timing), "render;dur=%.2f", (double)(mono_us() - t0) / 1000.0);
	evhttp_add_header(out, "Server-Timing", timing);
	if (rp.lang) {
		evhttp_add_header(out, "Content-Language", rp.lang);
		evhttp_add_header(out, "Vary", "Accept-Language");
	}
	reply(req, rp.status, rp.reason, rp.type, b);
	evbuffer_free(b);
}

static void serve_healthz(struct httpd *h, struct evhttp_request *req)
{
	struct health_stats hs;
	const char *why = "";
	sqlite3_stmt *q;
	int db_ok = 0;

	health_get(h->gw->health, &hs);
	/* the store answers a read, and its last commit worked */
	if (sqlite3_prepare_v2(store_db(h->gw->store), "SELECT count(*) FROM meta", -1, &q, NULL) == SQLITE_OK) {
		db_ok = sqlite3_step(q) == SQLITE_ROW;
		sqlite3_finalize(q);
	}
	if (!db_ok || store_failing(h->gw->store, &why))
		reply_text(req, 503, "Service Unavailable", db_ok ? "store failing" : "store unreadable");
	else if (mono_us() - hs.last_tick_us > 5000000 || hs.lag_us > 5000000)
		reply_text(req, 503, "Service Unavailable", "loop stalled");
	else
		reply_text(req, 200, "OK", "ok");
}

static void serve_blob(struct evhttp_request *req, char *text, const char *type)
{
	struct evbuffer *b = evbuffer_new();

	if (!text || !b) {
		free(text);
		if (b)
			evbuffer_free(b);
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	evbuffer_add(b, text, strlen(text));
	free(text);
	reply(req, 200, "OK", type, b);
	evbuffer_free(b);
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct httpd *h = arg;
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *path = u ? evhttp_uri_get_path(u) : NULL, *query = u ? evhttp_uri_get_query(u) : NULL;
	int via_query;

	h->requests++;
	httpguard_request(h->guard, req);
	if (!path || !*path)
		path = "/";
	if (query && strlen(query) > MAX_QUERY) {
		reply_text(req, 414, "URI Too Long", "query string too long");
		return;
	}
	if (!strcmp(path, "/healthz")) {
		serve_healthz(h, req);
		return;
	}
	if (!authorized(h, req, query, &via_query)) {
		h->refused++;
		httpguard_auth_failed(h->guard, req);
		evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
				  h->user ? "Basic realm=\"wardgw\", charset=\"UTF-8\"" : "Bearer realm=\"wardgw\"");
		reply_text(req, 401, "Unauthorized", "authorization required");
		return;
	}
	if (page_handles(path))
		serve_page(h, req, path, query, via_query);
	else if (!strcmp(path, "/metrics"))
		serve_blob(req, status_metrics(h->gw), "text/plain; version=0.0.4; charset=utf-8");
	else if (!strcmp(path, "/status.json"))
		serve_blob(req, status_json(h->gw), "application/json");
	else
		reply_text(req, 404, "Not Found", "not found: try /, /device?name=NAME, /map.geojson, /metrics, /healthz, /status.json");
}

int httpd_prepare(struct httpd **out, struct gateway *gw, const struct gw_config *c)
{
	struct httpd *h = calloc(1, sizeof(*h));
	const char *why;
	int loopback, ret;

	*out = NULL;
	if (!h)
		return -ENOMEM;
	h->gw = gw;
	if (!(h->pages = page_cache_new())) {
		ret = -ENOMEM;
		goto fail;
	}
	if (http_parse_listen(c->http->listen, h->host, sizeof(h->host), &h->port, &loopback, &why) < 0) {
		ret = log_error(-EINVAL, "http: %s (got '%s')", why, c->http->listen);
		goto fail;
	}
	snprintf(h->listen, sizeof(h->listen), "%s", c->http->listen);
	if ((c->http->token_file && (ret = read_secret(c->http->token_file, &h->token)) < 0) ||
	    (c->http->password_file && (ret = read_secret(c->http->password_file, &h->pass)) < 0))
		goto fail;
	if (c->http->user && !(h->user = strdup(c->http->user))) {
		ret = -ENOMEM;
		goto fail;
	}
	if (!(h->http = evhttp_new(gw->base))) {
		ret = -ENOMEM;
		goto fail;
	}
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(h->http, 8192);
	evhttp_set_max_body_size(h->http, 1024);
	evhttp_set_timeout(h->http, 10);
	evhttp_set_gencb(h->http, on_request, h);
	/* the page has no body to protect: no check before one */
	struct httpguard_opts go = { "http", (unsigned)c->http->max_conns, (unsigned)c->http->max_per_peer,
				     c->http->request_timeout_s, NULL, NULL };
	if ((ret = httpguard_new(&h->guard, gw->base, h->http, &go)) < 0)
		goto fail;
	*out = h;
	return 0;
fail:
	httpd_free(h);
	return ret;
}

int httpd_listen(struct httpd *h)
{
	int ret = httpguard_bind(h->guard, h->host, h->port);

	if (ret < 0)
		return log_error(-EADDRINUSE, "http: cannot listen on %s: %s", h->listen, strerror(-ret));
	log_info("http: status page on http://%s/%s", h->listen,
		 h->token ? " (token required)" : h->user ? " (basic auth)" : "");
	return 0;
}

int httpd_same_address(const struct httpd *h, const struct gw_config *c)
{
	char host[64];
	const char *why;
	int port, lb;

	return h && c->http && c->http->listen && http_parse_listen(c->http->listen, host, sizeof(host), &port, &lb, &why) == 0 &&
	       !strcmp(host, h->host) && port == h->port;
}

int httpd_new(struct httpd **out, struct gateway *gw)
{
	struct httpd *h;
	int ret;

	*out = NULL;
	if ((ret = httpd_prepare(&h, gw, gw->cfg)) < 0)
		return ret;
	if ((ret = httpd_listen(h)) < 0) {
		httpd_free(h);
		return ret;
	}
	*out = h;
	return 0;
}

const struct httpguard *httpd_guard(const struct httpd *h)
{
	return h ? h->guard : NULL;
}

void httpd_free(struct httpd *h)
{
	if (!h)
		return;
	if (h->http)
		evhttp_free(h->http);
	httpguard_free(h->guard);      /* after the server: it drops the connections' last references */
	page_cache_free(h->pages);
	free(h->token);
	free(h->user);
	free(h->pass);
	free(h);
}
