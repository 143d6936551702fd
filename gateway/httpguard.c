/* Connection limits around evhttp (libevent 2.1 has no hook per
 * connection but the bufferevent factory): each connection's bufferevent
 * is made here and kept by a reference of ours, so its socket can be shut
 * down (the deadline, a refusal) and its end noticed (evhttp clears its
 * callbacks when it frees it; a sweep then drops our reference, which
 * closes the socket). Bytes read are looked at through a callback on the
 * input buffer, before evhttp parses them, so a request's head is checked
 * before its body is read. */
#include "httpguard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "httpparse.h"
#include "log.h"

#define HEAD_MAX 8192               /* evhttp's header limit here */
#define SWEEP_MS 100
#define ACCEPT_PAUSE_MS 1000
#define MAX_GUARDS 8

struct gconn {
	struct httpguard *g;
	struct gconn *next;
	struct bufferevent *bev;        /* our reference: valid until dropped */
	struct evbuffer_cb_entry *icb;
	struct event *tmr;              /* admission (at once), then the deadline */
	char peer[INET6_ADDRSTRLEN];
	int admitted, closing;
	int checked;                    /* this request's head was looked at */
	char *head;
	size_t hlen;
};

struct httpguard {
	struct httpguard_opts o;
	char name[16];
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct event *sweep, *resume;
	struct gconn *conns;
	size_t nadmitted;
	struct httpguard_stats st;
};

/* The listener's error callback gets evhttp's pointer: find ours. */
static struct httpguard *guards[MAX_GUARDS];

static const char early_401[] =
	"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"wardgw\"\r\n"
	"Content-Type: application/json\r\nConnection: close\r\nContent-Length: 121\r\n\r\n"
	"{\"error\":\"Unauthorized\",\"errors\":[{\"field\":\"\",\"message\":"
	"\"missing or unknown bearer token (Authorization: Bearer ...)\"}]}\n";

static void close_conn(struct gconn *c)
{
	evutil_socket_t fd = bufferevent_getfd(c->bev);

	/* evhttp sees the end of the stream and frees the connection */
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
	c->closing = 1;
	event_del(c->tmr);
}

static void arm(struct gconn *c, int secs)
{
	struct timeval tv = { secs, 0 };

	evtimer_add(c->tmr, &tv);
}

static void admit(struct gconn *c)
{
	struct httpguard *g = c->g;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	unsigned same = 0;
	const char *why = NULL;

	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl) < 0) {
		close_conn(c);
		return;
	}
	if (ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, c->peer, sizeof(c->peer));
	else if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, c->peer, sizeof(c->peer));
	else
		snprintf(c->peer, sizeof(c->peer), "local");
	for (struct gconn *o = g->conns; o; o = o->next)
		same += o != c && o->admitted && !o->closing && !strcmp(o->peer, c->peer);
	if (g->nadmitted >= g->o.max_conns)
		why = "too many connections open";
	else if (same >= g->o.max_per_peer)
		why = "too many connections from that address";
	if (why) {
		g->st.refused++;
		/* one text per peer and reason: the log limiter folds repeats */
		log_warn("%s: connection from %s refused: %s", g->name, c->peer, why);
		close_conn(c);
		return;
	}
	c->admitted = 1;
	g->nadmitted++;
	arm(c, g->o.deadline_s);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct gconn *c = arg;

	if (c->closing)
		return;
	if (!c->admitted) {
		admit(c);
		return;
	}
	c->g->st.timed_out++;
	log_warn("%s: a request from %s took over %d s; connection closed", c->g->name, c->peer,
		 c->g->o.deadline_s);
	close_conn(c);
}

static void count_auth_failed(struct httpguard *g, const char *peer)
{
	g->st.auth_failed++;
	log_warn("%s: failed login from %s", g->name, peer && *peer ? peer : "?");
}

/* Bytes added to the input buffer (before evhttp reads them): collect a
 * request's head; once whole, a body announced without a valid token is
 * refused there, unread. */
static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct gconn *c = arg;
	struct httpguard *g = c->g;
	size_t len = evbuffer_get_length(buf), take = info->n_added, end = 0;
	struct evbuffer_ptr pos;

	if (!take || c->checked || c->closing || !g->o.auth)
		return;
	if (!c->admitted) {
		event_del(c->tmr);
		admit(c);
		if (c->closing)
			return;
	}
	if (take > len)
		take = len;
	if (!c->head && !(c->head = malloc(HEAD_MAX)))
		return;
	if (take > HEAD_MAX - c->hlen)
		take = HEAD_MAX - c->hlen;
	if (evbuffer_ptr_set(buf, &pos, len - info->n_added, EVBUFFER_PTR_SET) < 0 ||
	    evbuffer_copyout_from(buf, &pos, c->head + c->hlen, take) != (ev_ssize_t)take)
		return;
	c->hlen += take;
	for (size_t i = 0; i + 1 < c->hlen && !end; i++)
		if (c->head[i] == '\n' && (c->head[i + 1] == '\n' ||
					   (c->head[i + 1] == '\r' && i + 2 < c->hlen && c->head[i + 2] == '\n')))
			end = i + (c->head[i + 1] == '\n' ? 2 : 3);
	if (!end && c->hlen < HEAD_MAX)
		return;
	c->checked = 1;
	if (end) {
		char auth[512];
		int body;
		if (http_head_scan(c->head, end, auth, sizeof(auth), &body) == 0 && body &&
		    !g->o.auth(g->o.auth_arg, auth)) {
			evutil_socket_t fd = bufferevent_getfd(c->bev);
			count_auth_failed(g, c->peer);
			if (fd >= 0 && send(fd, early_401, sizeof(early_401) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				log_debug("%s: 401 to %s: %s", g->name, c->peer, strerror(errno));
			close_conn(c);
		}
	}
	/* longer than HEAD_MAX: evhttp refuses it itself */
	free(c->head);
	c->head = NULL;
	c->hlen = 0;
}

static void drop(struct gconn *c)
{
	if (c->admitted)
		c->g->nadmitted--;
	c->g->st.open--;
	if (c->icb)
		evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->icb);
	event_free(c->tmr);
	free(c->head);
	bufferevent_decref(c->bev);
	free(c);
}

/* Connections evhttp has freed (it clears the callbacks): drop ours. */
static void sweep(struct httpguard *g)
{
	for (struct gconn **pp = &g->conns; *pp;) {
		struct gconn *c = *pp;
		bufferevent_data_cb rcb = NULL;
		bufferevent_getcb(c->bev, &rcb, NULL, NULL, NULL);
		if (rcb) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		drop(c);
	}
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
	sweep(arg);
}

static struct bufferevent *make_bev(struct event_base *base, void *arg)
{
	struct httpguard *g = arg;
	struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	struct gconn *c = bev ? calloc(1, sizeof(*c)) : NULL;
	struct timeval now = { 0, 0 };

	if (!c)
		return bev;     /* untracked, as evhttp would have made it */
	sweep(g);
	c->g = g;
	c->bev = bev;
	c->tmr = evtimer_new(base, on_timer, c);
	if (g->o.auth)
		c->icb = evbuffer_add_cb(bufferevent_get_input(bev), on_input, c);
	if (!c->tmr || (g->o.auth && !c->icb)) {
		if (c->tmr)
			event_free(c->tmr);
		free(c);
		return bev;
	}
	bufferevent_incref(bev);
	c->next = g->conns;
	g->conns = c;
	g->st.open++;
	/* evhttp gives the bufferevent its socket after this returns */
	evtimer_add(c->tmr, &now);
	return bev;
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct httpguard *g = arg;

	if (g->bound)
		evconnlistener_enable(evhttp_bound_socket_get_listener(g->bound));
}

static void on_accept_error(struct evconnlistener *lev, void *arg)
{
	int e = EVUTIL_SOCKET_ERROR();
	struct timeval tv = { ACCEPT_PAUSE_MS / 1000, (ACCEPT_PAUSE_MS % 1000) * 1000 };

	for (int i = 0; i < MAX_GUARDS; i++) {
		struct httpguard *g = guards[i];
		if (!g || !g->bound || evhttp_bound_socket_get_listener(g->bound) != lev)
			continue;
		g->st.accept_errors++;
		/* the same text each time: the log limiter folds a storm */
		log_warn("%s: cannot accept connections: %s; pausing %d ms", g->name, evutil_socket_error_to_string(e),
			 ACCEPT_PAUSE_MS);
		/* a full descriptor table stays full for a while: do not spin */
		evconnlistener_disable(lev);
		evtimer_add(g->resume, &tv);
		return;
	}
}

int httpguard_new(struct httpguard **out, struct event_base *base, struct evhttp *http,
		  const struct httpguard_opts *o)
{
	struct httpguard *g = calloc(1, sizeof(*g));
	struct timeval tv = { 0, SWEEP_MS * 1000 };
	int slot = -1;

	*out = NULL;
	for (int i = 0; i < MAX_GUARDS && slot < 0; i++)
		if (!guards[i])
			slot = i;
	if (!g || slot < 0) {
		free(g);
		return -ENOMEM;
	}
	g->o = *o;
	snprintf(g->name, sizeof(g->name), "%s", o->name);
	g->base = base;
	g->http = http;
	g->sweep = event_new(base, -1, EV_PERSIST, on_sweep, g);
	g->resume = evtimer_new(base, on_resume, g);
	if (!g->sweep || !g->resume || event_add(g->sweep, &tv) < 0) {
		httpguard_free(g);
		return -ENOMEM;
	}
	guards[slot] = g;
	evhttp_set_bevcb(http, make_bev, g);
	*out = g;
	return 0;
}

int httpguard_bind(struct httpguard *g, const char *host, int port)
{
	if (!(g->bound = evhttp_bind_socket_with_handle(g->http, host, (ev_uint16_t)port)))
		return errno ? -errno : -EADDRINUSE;
	evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(g->bound), on_accept_error);
	return 0;
}

static struct gconn *find(struct httpguard *g, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;

	for (struct gconn *c = g->conns; c && bev; c = c->next)
		if (c->bev == bev)
			return c;
	return NULL;
}

void httpguard_request(struct httpguard *g, struct evhttp_request *req)
{
	struct gconn *c = g ? find(g, req) : NULL;

	/* a request can come before the admission timer ran */
	if (c && !c->admitted && !c->closing) {
		event_del(c->tmr);
		admit(c);
	}
	if (!c || c->closing)
		return;
	c->checked = 0;
	free(c->head);
	c->head = NULL;
	c->hlen = 0;
	if (c->admitted)
		arm(c, g->o.deadline_s);
}

void httpguard_auth_failed(struct httpguard *g, struct evhttp_request *req)
{
	struct gconn *c;

	if (!g)
		return;
	c = find(g, req);
	if (c && !c->admitted && !c->closing) {
		event_del(c->tmr);
		admit(c);
	}
	count_auth_failed(g, c ? c->peer : NULL);
}

void httpguard_get_stats(const struct httpguard *g, struct httpguard_stats *s)
{
	if (g)
		*s = g->st;
	else
		memset(s, 0, sizeof(*s));
}

void httpguard_metrics(FILE *f, const struct httpguard *page, const struct httpguard *ingest)
{
	static const struct {
		const char *name, *type, *help;
		size_t off;
	} m[] = {
		{ "wardgw_http_connections", "gauge", "HTTP connections open now.",
		  offsetof(struct httpguard_stats, open) },
		{ "wardgw_http_connections_refused_total", "counter",
		  "HTTP connections closed at once (max_connections, per address).",
		  offsetof(struct httpguard_stats, refused) },
		{ "wardgw_http_request_timeouts_total", "counter",
		  "HTTP connections closed because a request took over request_timeout_s.",
		  offsetof(struct httpguard_stats, timed_out) },
		{ "wardgw_http_auth_failures_total", "counter", "Failed HTTP logins (bad or missing token or password).",
		  offsetof(struct httpguard_stats, auth_failed) },
		{ "wardgw_http_accept_errors_total", "counter", "accept() failures (open-files limit...).",
		  offsetof(struct httpguard_stats, accept_errors) },
	};
	const struct httpguard *g[2] = { page, ingest };
	const char *label[2] = { "page", "ingest" };

	if (!page && !ingest)
		return;
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", m[i].name, m[i].help, m[i].name, m[i].type);
		for (int k = 0; k < 2; k++)
			if (g[k])
				fprintf(f, "%s{server=\"%s\"} %llu\n", m[i].name, label[k],
					(unsigned long long)*(const uint64_t *)((const char *)&g[k]->st + m[i].off));
	}
}

void httpguard_free(struct httpguard *g)
{
	if (!g)
		return;
	for (int i = 0; i < MAX_GUARDS; i++)
		if (guards[i] == g)
			guards[i] = NULL;
	while (g->conns) {
		struct gconn *c = g->conns;
		g->conns = c->next;
		drop(c);
	}
	if (g->sweep)
		event_free(g->sweep);
	if (g->resume)
		event_free(g->resume);
	free(g);
}
