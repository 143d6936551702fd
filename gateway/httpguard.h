/* Connection limits for the gateway's HTTP servers (the status page, the
 * push ingest), around libevent's evhttp, which has none of its own in
 * 2.1: at most max_conns connections (max_per_peer from one address), a
 * deadline for a whole request that bytes trickling in do not reset, the
 * bearer token checked on the headers before a body is read, failed
 * logins counted and logged under the log limiter, and accept() errors
 * (the open-files limit) logged under the limiter with accepting paused.
 * Loop thread only. */
#ifndef WARDGW_HTTPGUARD_H
#define WARDGW_HTTPGUARD_H

#include <stdint.h>
#include <stdio.h>

struct event_base;
struct evhttp;
struct evhttp_request;
struct httpguard;

struct httpguard_opts {
	const char *name;           /* "http", "ingest": in log lines */
	unsigned max_conns;         /* open at once, all peers */
	unsigned max_per_peer;      /* open at once from one address */
	int deadline_s;             /* a whole request, from connect or the last answer */
	/* Checked on the headers of a request that announces a body, before
	 * the body is read: 1 authorised. NULL: no early check. */
	int (*auth)(void *arg, const char *authorization);
	void *auth_arg;
};

struct httpguard_stats {
	uint64_t open;              /* connections open now */
	uint64_t refused;           /* closed at once: over max_conns or max_per_peer */
	uint64_t timed_out;         /* closed by the deadline */
	uint64_t auth_failed;       /* failed logins (early or by the handler) */
	uint64_t accept_errors;     /* accept() failed (EMFILE...) */
};

/** Watch @http's connections (set before any bind). 0 or -ENOMEM. */
int httpguard_new(struct httpguard **out, struct event_base *base, struct evhttp *http,
		  const struct httpguard_opts *o);
/** Listen on @host:@port through @http, accept errors handled here.
 *  0, or -errno (not logged). */
int httpguard_bind(struct httpguard *g, const char *host, int port);
/** A request reached its handler: the next one on its connection gets a
 *  fresh deadline and a fresh early check. */
void httpguard_request(struct httpguard *g, struct evhttp_request *req);
/** The handler refused a request's credentials: counted, and logged with
 *  the peer's address under the log limiter. */
void httpguard_auth_failed(struct httpguard *g, struct evhttp_request *req);
void httpguard_get_stats(const struct httpguard *g, struct httpguard_stats *s);
/** The counters of the status page's and the ingest's guards (either may
 *  be NULL) as Prometheus text, server="page" / server="ingest". */
void httpguard_metrics(FILE *f, const struct httpguard *page, const struct httpguard *ingest);
/** After evhttp_free() of the server it watched (that closes the
 *  connections; the last references are dropped here). */
void httpguard_free(struct httpguard *g);

#endif
