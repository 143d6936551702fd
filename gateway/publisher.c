/* MQTT publisher on Paho's async client: connect with a Will, announce
 * "online" (retained) on every connect, reconnect with a capped backoff, and
 * publish without ever blocking the loop.
 *
 * TLS failures are reported once per reason, in words a technician can act
 * on. Paho gives only "TCP/TLS connect failure" when the broker's
 * certificate does not name the host (it checks after the handshake and
 * says nothing), and OpenSSL's "certificate verify failed" without why; so
 * after such a failure a probe thread makes one TLS handshake of its own
 * with the same CA and host and names the cause. */
#include "publisher.h"

#include <MQTTAsync.h>
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "loopq.h"

struct publisher {
	MQTTAsync client;
	struct event_base *base;
	struct loopq *q;
	struct event *retry;
	char *uri, *status_topic, *online, *offline, *client_id, *username, *password;
	char **uris;                /* the nodes (nuris > 0), in the order of the config */
	size_t nuris;
	char **order;               /* the order of the next connect: borrowed from uris */
	char *label;                /* what the log says of the link as a whole */
	char *server;               /* the node connected to (or last on), copied from Paho */
	int64_t server_since_ms;
	int connect_timeout;
	char *ca_file, *cert_file, *key_file;
	int verify_hostname, clean_session, max_inflight;
	void (*on_link)(void *arg, int up, int session_present);
	void (*on_ack)(void *arg, int64_t id, int ok);
	void (*on_message)(void *arg, const char *topic, const void *payload, size_t len);
	char *sub_topic;            /* subscribed on every connect; NULL: none */
	void *cb_arg;
	int keepalive, qos;
	int buffer;                 /* messages Paho may hold while disconnected */
	int offline_queued;         /* handed to Paho since the link went down */
	int connected, connecting, stopping;
	unsigned backoff_ms;
	atomic_uint_fast64_t delivered;
	uint64_t sent, failed, connects, disconnects;
	char *last_error;
	uint64_t delivered_tracked;
	/* TLS diagnosis */
	int tls;
	pthread_mutex_t tls_lock;   /* tls_err: written and read on Paho's threads */
	char tls_err[200];          /* OpenSSL's reason for the current attempt */
	int tls_err_data;           /* tls_err came from a line with detail */
	pthread_t probe_thread;
	int probing;                /* loop thread: probe_thread runs */
	atomic_int probe_stop;
	char *probe_fallback;       /* the failure's reason should the probe find none */
};

#define BACKOFF_MIN_MS 500u
#define BACKOFF_MAX_MS 30000u
#define PROBE_MS 3000           /* the probe's whole budget: connect and handshake */

static void start_connect(struct publisher *p);
static int post_full(struct publisher *p, int kind, int flag, int64_t id, const char *why);
static int start_probe(struct publisher *p);

/* --- loop-thread handlers, posted from Paho's threads --- */

struct event_msg {
	struct publisher *p;
	int kind;               /* 0 connected, 1 lost, 2 connect failed, 3 acked, 4 not delivered,
				 * 5 probe done (why: its finding or NULL), 6 message arrived
				 * (why: topic; data, len: payload) */
	int flag;               /* kind 0: session present; kind 2: worth a TLS probe */
				/* kind 0: why is the node connected to (Paho's serverURI) */
	int64_t id;             /* kinds 3, 4 */
	char *why;
	void *data;
	size_t len;
};

static void free_msg(void *arg)
{
	struct event_msg *m = arg;

	free(m->why);
	free(m->data);
	free(m);
}

static void cb_sub_failed(void *ctx, MQTTAsync_failureData *resp)
{
	struct publisher *p = ctx;

	/* Paho's thread: logging is thread-safe */
	log_err("mqtt %s: subscribing to %s failed: %s", p->uri, p->sub_topic,
		resp && resp->message ? resp->message : "refused");
}

/* The subscription is renewed on every connect: a broker that lost the
 * session (or a clean session) would otherwise forget it. */
static void subscribe(struct publisher *p)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	int rc;

	if (!p->sub_topic)
		return;
	ro.onFailure = cb_sub_failed;
	ro.context = p;
	if ((rc = MQTTAsync_subscribe(p->client, p->sub_topic, 1, &ro)) != MQTTASYNC_SUCCESS)
		log_err("mqtt %s: cannot subscribe to %s: %s", p->uri, p->sub_topic, MQTTAsync_strerror(rc));
}

static void schedule_retry(struct publisher *p)
{
	/* full backoff halved plus a random half: a hundred gateways that lost
	 * the same broker do not come back in the same second */
	unsigned ms = p->backoff_ms / 2 + (unsigned)(random() % (p->backoff_ms / 2 + 1));
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(p->retry, &tv);
	p->backoff_ms = p->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : p->backoff_ms * 2;
}

/* Where @uri is in the configured list (the nuris when not in it). */
static size_t node_index(const struct publisher *p, const char *uri)
{
	for (size_t i = 0; uri && i < p->nuris; i++)
		if (!strcmp(p->uris[i], uri))
			return i;
	return p->nuris;
}

static void set_server(struct publisher *p, const char *uri)
{
	char *n = strdup(uri ? uri : p->uri);

	if (!n)
		return;
	free(p->server);
	p->server = n;
	p->server_since_ms = wall_ms();
}

/* Move @uri to the end of the connect order. */
static void try_last(struct publisher *p, const char *uri)
{
	size_t i, k = p->nuris;

	for (i = 0; i < p->nuris; i++)
		if (!strcmp(p->order[i], uri))
			k = i;
	if (k == p->nuris)
		return;
	char *lost = p->order[k];
	memmove(p->order + k, p->order + k + 1, (p->nuris - k - 1) * sizeof(*p->order));
	p->order[p->nuris - 1] = lost;
}

/* The link is down (lost, or a connect failed for @why): say so once per
 * reason, not every retry, and try again later. */
static void connect_failed(struct publisher *p, const char *why)
{
	if (p->connected) {
		p->disconnects++;
		log_warn("mqtt %s: connection lost: %s%s", p->server ? p->server : p->uri, why ? why : "unknown cause",
			 p->nuris > 1 ? " (trying the other nodes first)" : "");
		/* the node we lost is tried last: it is likely still down */
		if (p->nuris > 1 && p->server)
			try_last(p, p->server);
	} else if (!p->last_error || !why || strcmp(p->last_error, why)) {
		log_warn("mqtt %s: cannot connect: %s (retrying, backoff up to %u s)",
			 p->label, why ? why : "unknown cause", BACKOFF_MAX_MS / 1000);
	}
	free(p->last_error);
	p->last_error = why ? strdup(why) : NULL;
	if (p->connected && p->on_link)
		p->on_link(p->cb_arg, 0, 0);
	p->connected = 0;
	if (!p->stopping)
		schedule_retry(p);
}

static void on_loop_event(void *arg)
{
	struct event_msg *m = arg;
	struct publisher *p = m->p;

	switch (m->kind) {
	case 0:
		p->connecting = 0;
		p->connected = 1;
		p->offline_queued = 0;
		p->connects++;
		p->backoff_ms = BACKOFF_MIN_MS;
		set_server(p, p->nuris ? m->why : p->uri);
		if (p->nuris)
			log_info("mqtt %s: connected (session %s; uris entry %zu of %zu)", p->server,
				 m->flag ? "resumed" : "new", node_index(p, p->server) + 1, p->nuris);
		else
			log_info("mqtt %s: connected (session %s)", p->uri, m->flag ? "resumed" : "new");
		free(p->last_error);
		p->last_error = NULL;
		/* the retained status says online again after every connect */
		publisher_send(p, p->status_topic, p->online, strlen(p->online), 1);
		subscribe(p);
		if (p->on_link)
			p->on_link(p->cb_arg, 1, m->flag);
		break;
	case 5:
		pthread_join(p->probe_thread, NULL);
		p->probing = 0;
		connect_failed(p, m->why ? m->why : p->probe_fallback);
		free(p->probe_fallback);
		p->probe_fallback = NULL;
		break;
	case 3:
	case 4:
		if (m->kind == 3)
			p->delivered_tracked++;
		if (p->on_ack)
			p->on_ack(p->cb_arg, m->id, m->kind == 3);
		break;
	case 1:
	case 2:
		p->connecting = 0;
		if (m->kind == 2 && m->flag && !p->connected && !p->stopping && !p->probing) {
			/* name the TLS cause first; the retry waits for the probe */
			p->probe_fallback = m->why ? strdup(m->why) : NULL;
			if (start_probe(p) == 0)
				break;
			free(p->probe_fallback);
			p->probe_fallback = NULL;
		}
		connect_failed(p, m->why);
		break;
	case 6:
		if (p->on_message && !p->stopping)
			p->on_message(p->cb_arg, m->why, m->data, m->len);
		break;
	}
	free_msg(m);
}

static void post(struct publisher *p, int kind, const char *why)
{
	post_full(p, kind, 0, 0, why);
}

static int post_full(struct publisher *p, int kind, int flag, int64_t id, const char *why)
{
	struct event_msg *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->p = p;
	m->kind = kind;
	m->flag = flag;
	m->id = id;
	m->why = why ? strdup(why) : NULL;
	if (loopq_post(p->q, on_loop_event, m, free_msg) < 0) {
		free_msg(m);
		return -ENOMEM;
	}
	return 0;
}

/* --- Paho callbacks (Paho's threads) --- */

static void cb_connected(void *ctx, MQTTAsync_successData *resp)
{
	post_full(ctx, 0, resp ? resp->alt.connect.sessionPresent : 0, 0,
		  resp ? resp->alt.connect.serverURI : NULL);
}

/* A tracked message: its id travels with it to the callbacks. */
struct tracked {
	struct publisher *p;
	int64_t id;
};

static void cb_sent(void *ctx, MQTTAsync_successData *resp)
{
	struct tracked *t = ctx;

	post_full(t->p, 3, 0, t->id, NULL);
	free(t);
}

static void cb_not_sent(void *ctx, MQTTAsync_failureData *resp)
{
	struct tracked *t = ctx;

	post_full(t->p, 4, 0, t->id, NULL);
	free(t);
}

static void cb_connlost(void *ctx, char *cause)
{
	post(ctx, 1, cause ? cause : "connection lost");
}

/* A TLS file the gateway cannot read: the plain cause of OpenSSL's errors. */
static int tls_file_unreadable(const struct publisher *p, char *why, size_t len)
{
	const char *key[] = { "ca_file", "cert_file", "key_file" };
	const char *path[] = { p->ca_file, p->cert_file, p->key_file };
	char buf[120];

	for (int i = 0; i < 3; i++) {
		int fd;

		if (!path[i])
			continue;
		if ((fd = open(path[i], O_RDONLY | O_CLOEXEC)) < 0) {
			snprintf(why, len, "TLS: cannot read %s %s: %s", key[i], path[i],
				 strerror_r(errno, buf, sizeof(buf)));
			return 1;
		}
		close(fd);
	}
	return 0;
}

/* MQTT 3.1.1's CONNACK refusals (§3.2.2.3), which Paho reports only as
 * "CONNACK return code" and a number */
static const char *connack_reason(int code)
{
	static const char *const r[] = { NULL, "unacceptable protocol version (the broker wants another MQTT version)",
		"client id refused", "server unavailable",
		"bad user name or password", "not authorised (wrong user name or password, or this user may not connect)" };
	return code >= 1 && code <= 5 ? r[code] : NULL;
}

static void cb_connect_failed(void *ctx, MQTTAsync_failureData *resp)
{
	struct publisher *p = ctx;
	char why[400];
	int probe = 0;

	pthread_mutex_lock(&p->tls_lock);
	if (p->tls_err[0] && tls_file_unreadable(p, why, sizeof(why))) {
		/* said as such, not as whatever OpenSSL's error queue holds */
	} else if (p->tls_err[0]) {
		snprintf(why, sizeof(why), "%s", p->tls_err);
		/* OpenSSL does not say why it refused the certificate */
		probe = strstr(p->tls_err, "certificate verify failed") != NULL;
	} else if (resp && resp->message && strstr(resp->message, "CONNACK") && connack_reason(resp->code)) {
		snprintf(why, sizeof(why), "refused by the broker: %s (CONNACK %d)", connack_reason(resp->code), resp->code);
	} else {
		snprintf(why, sizeof(why), "%s (code %d)",
			 resp && resp->message ? resp->message : MQTTAsync_strerror(resp ? resp->code : -1),
			 resp ? resp->code : -1);
		/* Paho's host name check fails without a word */
		probe = p->tls && p->verify_hostname;
	}
	p->tls_err[0] = 0;
	p->tls_err_data = 0;
	pthread_mutex_unlock(&p->tls_lock);
	post_full(p, 2, probe, 0, why);
}

#define MAX_INBOUND (64 * 1024)

static int cb_msgarrvd(void *ctx, char *topic, int len, MQTTAsync_message *msg)
{
	struct publisher *p = ctx;
	struct event_msg *m;

	if (p->on_message && msg->payloadlen >= 0 && msg->payloadlen <= MAX_INBOUND &&
	    (m = calloc(1, sizeof(*m)))) {
		m->p = p;
		m->kind = 6;
		m->why = len > 0 ? strndup(topic, (size_t)len) : strdup(topic);
		m->len = (size_t)msg->payloadlen;
		m->data = malloc(m->len + 1);
		if (m->why && m->data) {
			memcpy(m->data, msg->payload, m->len);
			((char *)m->data)[m->len] = 0;
			if (loopq_post(p->q, on_loop_event, m, free_msg) < 0)
				free_msg(m);
		} else {
			free_msg(m);
		}
	} else if (p->on_message && msg->payloadlen > MAX_INBOUND && (m = calloc(1, sizeof(*m)))) {
		/* not kept, but the receiver hears of it (NULL payload, its
		 * size): a command is audited even when it is too big to read */
		m->p = p;
		m->kind = 6;
		m->why = len > 0 ? strndup(topic, (size_t)len) : strdup(topic);
		m->len = (size_t)msg->payloadlen;
		if (!m->why || loopq_post(p->q, on_loop_event, m, free_msg) < 0)
			free_msg(m);
	}
	MQTTAsync_freeMessage(&msg);
	MQTTAsync_free(topic);
	return 1;
}

static void cb_delivered(void *ctx, MQTTAsync_token token)
{
	struct publisher *p = ctx;

	atomic_fetch_add(&p->delivered, 1);
}

/* OpenSSL's error lines of a failed attempt (Paho's thread). A line is
 * "pid:error:code:library:function:reason:file:line:detail"; keep the
 * reason and detail of the first line with a detail (e.g. which file a
 * fopen failed on), else of the first line. One reason per attempt, so a
 * failure repeated by every retry is logged once. */
static int cb_ssl_error(const char *str, size_t len, void *u)
{
	struct publisher *p = u;
	char line[400], *f[9] = { 0 }, *s;
	int n = 0, data;

	snprintf(line, sizeof(line), "%.*s", (int)(len < sizeof(line) - 1 ? len : sizeof(line) - 1), str);
	line[strcspn(line, "\n")] = 0;
	for (s = line; s && n < 9; n++) {
		f[n] = s;
		if (n < 8 && (s = strchr(s, ':')))
			*s++ = 0;
	}
	pthread_mutex_lock(&p->tls_lock);
	data = f[8] && *f[8];
	if (!p->tls_err[0] || (data && !p->tls_err_data)) {
		if (f[5] && *f[5] && f[1] && !strcmp(f[1], "error"))
			snprintf(p->tls_err, sizeof(p->tls_err), data ? "TLS: %s (%s)" : "TLS: %s", f[5],
				 data ? f[8] : "");
		else
			snprintf(p->tls_err, sizeof(p->tls_err), "TLS: %.*s", (int)(len < 180 ? len : 180), str);
		p->tls_err[strcspn(p->tls_err, "\n")] = 0;
		p->tls_err_data = data;
	}
	pthread_mutex_unlock(&p->tls_lock);
	return 0;
}

/* --- TLS probe (its own thread): why was the broker's certificate refused? --- */

static int64_t now_ms(void)
{
	return mono_ms();
}

/* Wait for @events on @fd until @deadline (ms) in short slices, so that a
 * stopping publisher is not held up. 1 ready, 0 timeout or stop. */
static int probe_wait(struct publisher *p, int fd, short events, int64_t deadline)
{
	struct pollfd pfd = { fd, events, 0 };
	int64_t left;

	while ((left = deadline - now_ms()) > 0 && !atomic_load(&p->probe_stop)) {
		int r = poll(&pfd, 1, left < 100 ? (int)left : 100);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return 0;
	}
	return 0;
}

/* host and port of ssl://host:port, mqtts://[v6]:port, ... */
static int parse_uri(const char *uri, char *host, size_t hlen, char *port, size_t plen)
{
	const char *h = strstr(uri, "://"), *e, *c;

	h = h ? h + 3 : uri;
	if (*h == '[') {
		if (!(e = strchr(++h, ']')))
			return -1;
		c = e[1] == ':' ? e + 1 : NULL;
	} else {
		c = strrchr(h, ':');
		e = c ? c : h + strcspn(h, "/");
	}
	if (e == h || (size_t)(e - h) >= hlen)
		return -1;
	snprintf(host, hlen, "%.*s", (int)(e - h), h);
	snprintf(port, plen, "%.*s", c ? (int)strcspn(c + 1, "/") : 4, c ? c + 1 : "8883");
	return 0;
}

static int probe_connect(struct publisher *p, const char *host, const char *port, int64_t deadline)
{
	struct addrinfo hints = { 0 }, *res, *ai;
	int fd = -1;

	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &res))
		return -1;
	for (ai = res; ai && fd < 0; ai = ai->ai_next) {
		int err = 0;
		socklen_t el = sizeof(err);

		if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
				 ai->ai_protocol)) < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 &&
		    (errno != EINPROGRESS || !probe_wait(p, fd, POLLOUT, deadline) ||
		     getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err)) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	return fd;
}

/* "DNS:a, IP:1.2.3.4" from the subjectAltName, else "CN=..." */
static void cert_names(X509 *cert, char *out, size_t len)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	size_t o = 0;

	out[0] = 0;
	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens) && o < len; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char ip[INET6_ADDRSTRLEN] = "";

		if (g->type == GEN_DNS)
			o += (size_t)snprintf(out + o, len - o, "%sDNS:%.*s", o ? ", " : "",
					      ASN1_STRING_length(g->d.dNSName),
					      (const char *)ASN1_STRING_get0_data(g->d.dNSName));
		else if (g->type == GEN_IPADD) {
			int l = ASN1_STRING_length(g->d.iPAddress);
			inet_ntop(l == 16 ? AF_INET6 : AF_INET, ASN1_STRING_get0_data(g->d.iPAddress), ip,
				  sizeof(ip));
			if (l == 4 || l == 16)
				o += (size_t)snprintf(out + o, len - o, "%sIP:%s", o ? ", " : "", ip);
		}
	}
	GENERAL_NAMES_free(gens);
	if (!out[0]) {
		snprintf(out, len, "CN=");
		X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, out + 3,
					  (int)(len > 3 ? len - 3 : 0));
	}
}

/* One handshake with the publisher's CA, client certificate and host,
 * verification deferred so that the certificate can be examined. The
 * finding in @why, or "" when none (the broker away, all well...). */
static void probe(struct publisher *p, char *why, size_t wlen)
{
	char host[256], port[16], names[200], subj[120] = "", issuer[120] = "";
	int64_t deadline = now_ms() + PROBE_MS;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	X509 *cert = NULL;
	long vr;
	int fd = -1, rc;

	why[0] = 0;
	if (parse_uri(p->uri, host, sizeof(host), port, sizeof(port)) < 0 ||
	    (fd = probe_connect(p, host, port, deadline)) < 0 || !(ctx = SSL_CTX_new(TLS_client_method())))
		goto out;
	if (p->ca_file ? SSL_CTX_load_verify_locations(ctx, p->ca_file, NULL) != 1
		       : SSL_CTX_set_default_verify_paths(ctx) != 1)
		goto out;
	if (p->cert_file && SSL_CTX_use_certificate_chain_file(ctx, p->cert_file) == 1)
		SSL_CTX_use_PrivateKey_file(ctx, p->key_file ? p->key_file : p->cert_file, SSL_FILETYPE_PEM);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (!(ssl = SSL_new(ctx)) || SSL_set_fd(ssl, fd) != 1)
		goto out;
	SSL_set_tlsext_host_name(ssl, host);
	while ((rc = SSL_connect(ssl)) != 1) {
		int e = SSL_get_error(ssl, rc);
		if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) ||
		    !probe_wait(p, fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline))
			break;
	}
	/* a broker that then refuses our client certificate sent its own first */
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	cert = SSL_get1_peer_certificate(ssl);
#else
	cert = SSL_get_peer_certificate(ssl);
#endif
	if (rc == 1)
		SSL_shutdown(ssl);      /* one close_notify, not a wait for the broker's */
	if (!cert)
		goto out;
	X509_NAME_oneline(X509_get_subject_name(cert), subj, sizeof(subj));
	X509_NAME_oneline(X509_get_issuer_name(cert), issuer, sizeof(issuer));
	if ((vr = SSL_get_verify_result(ssl)) != X509_V_OK)
		snprintf(why, wlen, "TLS: certificate verify failed: %s (broker certificate %s, issuer %s; ca_file %s)",
			 X509_verify_cert_error_string(vr), subj, issuer, p->ca_file ? p->ca_file : "(system CAs)");
	else if (p->verify_hostname && X509_check_host(cert, host, 0, 0, NULL) != 1 &&
		 X509_check_ip_asc(cert, host, 0) != 1) {
		cert_names(cert, names, sizeof(names));
		snprintf(why, wlen, "TLS: host name verification failed: the broker's certificate is for %s, "
			 "not for '%s' (use a name it lists in mqtt.uri)", names, host);
	}
out:
	ERR_clear_error();
	X509_free(cert);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
}

static void *probe_main(void *arg)
{
	struct publisher *p = arg;
	char why[600];

	probe(p, why, sizeof(why));
	/* the last thing this thread does: the loop joins it on this message,
	 * and retries the link only then, so it must get through */
	while (post_full(p, 5, 0, 0, why[0] ? why : NULL) < 0 && !atomic_load(&p->probe_stop)) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static int start_probe(struct publisher *p)
{
	atomic_store(&p->probe_stop, 0);
	if (pthread_create(&p->probe_thread, NULL, probe_main, p))
		return -1;
	p->probing = 1;
	return 0;
}

static void start_connect(struct publisher *p)
{
	MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
	MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
	MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
	int rc;

	if (p->connected || p->connecting || p->stopping || p->probing)
		return;
	pthread_mutex_lock(&p->tls_lock);
	p->tls_err[0] = 0;
	p->tls_err_data = 0;
	pthread_mutex_unlock(&p->tls_lock);
	/* 3.1.1 only: what every broker we meet speaks. Paho's default falls
	 * back to 3.1 when 3.1.1 fails, which nats-server drops; asking for
	 * 3.1.1 alone keeps the broker's own refusal as the reported reason */
	co.MQTTVersion = MQTTVERSION_3_1_1;
	co.keepAliveInterval = p->keepalive;
	co.cleansession = p->clean_session;
	co.maxInflight = p->max_inflight;
	co.connectTimeout = p->connect_timeout;
	if (p->nuris) {
		/* Paho tries them in this order, each for connectTimeout, and
		 * fails the connect only when none took it */
		co.serverURIs = p->order;
		co.serverURIcount = (int)p->nuris;
	}
	co.onSuccess = cb_connected;
	co.onFailure = cb_connect_failed;
	co.context = p;
	co.username = p->username;
	co.password = p->password;
	will.topicName = p->status_topic;
	will.message = p->offline;
	will.retained = 1;
	will.qos = 1;
	co.will = &will;
	if (p->tls) {
		ssl.trustStore = p->ca_file;
		ssl.keyStore = p->cert_file;
		ssl.privateKey = p->key_file;
		ssl.enableServerCertAuth = 1;
		ssl.verify = p->verify_hostname;
		ssl.ssl_error_cb = cb_ssl_error;
		ssl.ssl_error_context = p;
		co.ssl = &ssl;
	}
	p->connecting = 1;
	rc = MQTTAsync_connect(p->client, &co);
	if (rc != MQTTASYNC_SUCCESS) {
		p->connecting = 0;
		log_warn("mqtt %s: connect: %s", p->label, MQTTAsync_strerror(rc));
		schedule_retry(p);
	}
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	start_connect(arg);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Paho's own OpenSSL set-up (SSL_library_init and the locking callbacks
 * of OpenSSL 1.0) is not needed with OpenSSL 3, which sets itself up when
 * first used: left out, a gateway without TLS does not map 1.3 MB of
 * libcrypto pages it never uses. Once, before the first client. */
static pthread_once_t paho_once = PTHREAD_ONCE_INIT;

static void paho_init(void)
{
	MQTTAsync_init_options io = MQTTAsync_init_options_initializer;

	io.do_openssl_init = 0;
	MQTTAsync_global_init(&io);
}

int publisher_new(struct publisher **out, const struct publisher_opts *o,
		  struct event_base *base, struct loopq *q)
{
	struct publisher *p = calloc(1, sizeof(*p));
	MQTTAsync_createOptions cr = MQTTAsync_createOptions_initializer;
	int rc;

	*out = NULL;
	if (!p)
		return -ENOMEM;
	pthread_once(&paho_once, paho_init);
	p->base = base;
	p->q = q;
	if (o->nuris > 0) {
		size_t l = 0;

		p->uris = calloc(o->nuris, sizeof(*p->uris));
		p->order = calloc(o->nuris, sizeof(*p->order));
		if (!p->uris || !p->order)
			goto nomem;
		for (size_t i = 0; i < o->nuris; i++) {
			if (!(p->uris[i] = strdup(o->uris[i])))
				goto nomem;
			p->order[i] = p->uris[i];
			p->nuris = i + 1;
			l += strlen(o->uris[i]) + 1;
		}
		if (!(p->label = malloc(l + 2)))
			goto nomem;
		p->label[0] = 0;
		for (size_t i = 0; i < p->nuris; i++) {
			strcat(p->label, i ? "," : "");
			strcat(p->label, p->uris[i]);
		}
		p->uri = strdup(p->uris[0]);
	} else {
		p->uri = strdup(o->uri);
		p->label = strdup(o->uri);
	}
	if (!p->uri || !p->label)
		goto nomem;
	p->connect_timeout = o->connect_timeout > 0 ? o->connect_timeout : 10;
	p->client_id = strdup(o->client_id);
	p->status_topic = strdup(o->status_topic);
	p->online = strdup(o->online_payload);
	p->offline = strdup(o->offline_payload);
	p->username = dup_or_null(o->username);
	p->password = dup_or_null(o->password);
	p->ca_file = dup_or_null(o->ca_file);
	p->cert_file = dup_or_null(o->cert_file);
	p->key_file = dup_or_null(o->key_file);
	p->verify_hostname = o->verify_hostname;
	p->clean_session = o->clean_session;
	p->max_inflight = o->max_inflight > 0 ? o->max_inflight : 100;
	p->on_link = o->on_link;
	p->on_ack = o->on_ack;
	p->on_message = o->on_message;
	p->sub_topic = dup_or_null(o->subscribe_topic);
	p->cb_arg = o->cb_arg;
	p->keepalive = o->keepalive;
	p->buffer = o->buffer;
	p->qos = o->qos;
	p->backoff_ms = BACKOFF_MIN_MS;
	p->retry = evtimer_new(base, on_retry, p);
	p->tls = p->ca_file || !strncmp(p->uri, "ssl://", 6) || !strncmp(p->uri, "mqtts://", 8);
	pthread_mutex_init(&p->tls_lock, NULL);

	cr.sendWhileDisconnected = 1;
	cr.allowDisconnectedSendAtAnyTime = 1;
	cr.maxBufferedMessages = o->buffer > 0 ? o->buffer + 1 : 1;
	cr.deleteOldestMessages = 1;
	rc = MQTTAsync_createWithOptions(&p->client, p->uri, p->client_id,
					 MQTTCLIENT_PERSISTENCE_NONE, NULL, &cr);
	if (rc != MQTTASYNC_SUCCESS) {
		log_err("mqtt %s: %s", p->uri, MQTTAsync_strerror(rc));
		p->client = NULL;
		publisher_free(p);
		return -EINVAL;
	}
	MQTTAsync_setCallbacks(p->client, p, cb_connlost, cb_msgarrvd, cb_delivered);
	start_connect(p);
	*out = p;
	return 0;
nomem:
	p->client = NULL;
	pthread_mutex_init(&p->tls_lock, NULL);
	publisher_free(p);
	return -ENOMEM;
}

void publisher_free(struct publisher *p)
{
	if (!p)
		return;
	p->stopping = 1;
	if (p->probing) {
		/* its "done" message stays in the queue and is dropped with it */
		atomic_store(&p->probe_stop, 1);
		pthread_join(p->probe_thread, NULL);
		p->probing = 0;
	}
	if (p->client) {
		if (p->connected) {
			MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
			/* a clean stop says so itself; the Will is for crashes */
			publisher_send(p, p->status_topic, p->offline, strlen(p->offline), 1);
			d.timeout = 2000;
			MQTTAsync_disconnect(p->client, &d);
			/* give Paho a moment to flush in-flight messages */
			for (int i = 0; i < 40 && MQTTAsync_isConnected(p->client); i++) {
				struct timespec ts = { 0, 50 * 1000 * 1000 };
				nanosleep(&ts, NULL);
			}
		}
		MQTTAsync_destroy(&p->client);
	}
	if (p->retry)
		event_free(p->retry);
	free(p->uri);
	for (size_t i = 0; i < p->nuris; i++)
		free(p->uris[i]);
	free(p->uris);
	free(p->order);
	free(p->label);
	free(p->server);
	free(p->client_id);
	free(p->status_topic);
	free(p->online);
	free(p->offline);
	free(p->username);
	free(p->password);
	free(p->sub_topic);
	free(p->last_error);
	free(p->probe_fallback);
	pthread_mutex_destroy(&p->tls_lock);
	free(p->ca_file);
	free(p->cert_file);
	free(p->key_file);
	free(p);
}

int publisher_send(struct publisher *p, const char *topic, const void *payload,
		   size_t len, int retained)
{
	MQTTAsync_message m = MQTTAsync_message_initializer;
	int rc;

	/* While the link is down Paho keeps what we hand it in a list it walks
	 * on every send, so cap the hand-over ourselves: past the buffer the
	 * message is only in the store, counted here, at no cost to the loop. */
	if (!p->connected) {
		if (p->offline_queued >= p->buffer) {
			p->failed++;
			return -ENOBUFS;
		}
		p->offline_queued++;
	}
	m.payload = (void *)payload;
	m.payloadlen = (int)len;
	m.qos = p->qos;
	m.retained = retained;
	rc = MQTTAsync_sendMessage(p->client, topic, &m, NULL);
	if (rc != MQTTASYNC_SUCCESS) {
		p->failed++;
		return rc == MQTTASYNC_MAX_BUFFERED_MESSAGES || rc == MQTTASYNC_MAX_BUFFERED ? -ENOBUFS : -EIO;
	}
	p->sent++;
	return 0;
}

int publisher_send_tracked(struct publisher *p, int64_t id, const char *topic, const void *payload,
			   size_t len)
{
	MQTTAsync_message m = MQTTAsync_message_initializer;
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	struct tracked *t;
	int rc;

	if (!p->connected)
		return -ENOTCONN;
	if (!(t = malloc(sizeof(*t))))
		return -ENOMEM;
	t->p = p;
	t->id = id;
	m.payload = (void *)payload;
	m.payloadlen = (int)len;
	m.qos = p->qos;
	ro.onSuccess = cb_sent;
	ro.onFailure = cb_not_sent;
	ro.context = t;
	rc = MQTTAsync_sendMessage(p->client, topic, &m, &ro);
	if (rc != MQTTASYNC_SUCCESS) {
		free(t);
		p->failed++;
		return -EAGAIN;
	}
	p->sent++;
	return 0;
}

void publisher_set_online(struct publisher *p, const char *payload)
{
	char *n = strdup(payload);

	if (!n)
		return;
	free(p->online);
	p->online = n;
	if (p->connected)
		publisher_send(p, p->status_topic, p->online, strlen(p->online), 1);
}

int publisher_connected(const struct publisher *p)
{
	return p->connected;
}

void publisher_get_stats(const struct publisher *p, struct publisher_stats *st)
{
	st->sent = p->sent;
	st->failed = p->failed;
	st->delivered = atomic_load(&((struct publisher *)p)->delivered);
	st->connected = p->connected;
	st->connects = p->connects;
	st->disconnects = p->disconnects;
	st->server = p->server;
	st->server_since_ms = p->server_since_ms;
}
