/* MQTT publisher on Paho's async client: connect with a Will, announce
 * "online" (retained) on every connect, reconnect with a capped backoff, and
 * publish without ever blocking the loop. */
#include "publisher.h"

#include <MQTTAsync.h>
#include <errno.h>
#include <event2/event.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "loopq.h"

struct publisher {
	MQTTAsync client;
	struct event_base *base;
	struct loopq *q;
	struct event *retry;
	char *uri, *status_topic, *online, *offline, *client_id, *username, *password;
	char *ca_file, *cert_file, *key_file;
	int verify_hostname, clean_session, max_inflight;
	void (*on_link)(void *arg, int up, int session_present);
	void (*on_ack)(void *arg, int64_t id, int ok);
	void *cb_arg;
	int keepalive, qos;
	int buffer;                 /* messages Paho may hold while disconnected */
	int offline_queued;         /* handed to Paho since the link went down */
	int connected, connecting, stopping;
	unsigned backoff_ms;
	atomic_uint_fast64_t delivered;
	uint64_t sent, failed, connects, disconnects;
	char *last_error, *last_tls;
	uint64_t delivered_tracked;
};

#define BACKOFF_MIN_MS 500u
#define BACKOFF_MAX_MS 30000u

static void start_connect(struct publisher *p);
static void post_full(struct publisher *p, int kind, int flag, int64_t id, const char *why);

/* --- loop-thread handlers, posted from Paho's threads --- */

struct event_msg {
	struct publisher *p;
	int kind;               /* 0 connected, 1 lost, 2 connect failed, 3 acked, 4 not delivered */
	int flag;               /* kind 0: session present */
	int64_t id;             /* kinds 3, 4 */
	char *why;
};

static void free_msg(void *arg)
{
	struct event_msg *m = arg;

	free(m->why);
	free(m);
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
		log_info("mqtt %s: connected (session %s)", p->uri, m->flag ? "resumed" : "new");
		free(p->last_error);
		p->last_error = NULL;
		/* the retained status says online again after every connect */
		publisher_send(p, p->status_topic, p->online, strlen(p->online), 1);
		if (p->on_link)
			p->on_link(p->cb_arg, 1, m->flag);
		break;
	case 5:
		if (!p->last_tls || strcmp(p->last_tls, m->why ? m->why : "")) {
			log_warn("mqtt %s: %s", p->uri, m->why ? m->why : "TLS error");
			free(p->last_tls);
			p->last_tls = m->why ? strdup(m->why) : NULL;
		}
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
		if (p->connected) {
			p->disconnects++;
			log_warn("mqtt %s: connection lost: %s", p->uri, m->why ? m->why : "unknown cause");
		} else if (!p->last_error || !m->why || strcmp(p->last_error, m->why)) {
			/* log a change of reason once, not every retry */
			log_warn("mqtt %s: cannot connect: %s (retrying, backoff up to %u s)",
				 p->uri, m->why ? m->why : "unknown cause", BACKOFF_MAX_MS / 1000);
		}
		free(p->last_error);
		p->last_error = m->why ? strdup(m->why) : NULL;
		if (p->connected && p->on_link)
			p->on_link(p->cb_arg, 0, 0);
		p->connected = 0;
		if (!p->stopping)
			schedule_retry(p);
		break;
	}
	free_msg(m);
}

static void post(struct publisher *p, int kind, const char *why)
{
	post_full(p, kind, 0, 0, why);
}

static void post_full(struct publisher *p, int kind, int flag, int64_t id, const char *why)
{
	struct event_msg *m = calloc(1, sizeof(*m));

	if (!m)
		return;
	m->p = p;
	m->kind = kind;
	m->flag = flag;
	m->id = id;
	m->why = why ? strdup(why) : NULL;
	if (loopq_post(p->q, on_loop_event, m, free_msg) < 0)
		free_msg(m);
}

/* --- Paho callbacks (Paho's threads) --- */

static void cb_connected(void *ctx, MQTTAsync_successData *resp)
{
	post_full(ctx, 0, resp ? resp->alt.connect.sessionPresent : 0, 0, NULL);
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

static void cb_connect_failed(void *ctx, MQTTAsync_failureData *resp)
{
	char why[160];

	snprintf(why, sizeof(why), "%s (code %d)",
		 resp && resp->message ? resp->message : MQTTAsync_strerror(resp ? resp->code : -1),
		 resp ? resp->code : -1);
	post(ctx, 2, why);
}

static int cb_msgarrvd(void *ctx, char *topic, int len, MQTTAsync_message *msg)
{
	MQTTAsync_freeMessage(&msg);
	MQTTAsync_free(topic);
	return 1;
}

static void cb_delivered(void *ctx, MQTTAsync_token token)
{
	struct publisher *p = ctx;

	atomic_fetch_add(&p->delivered, 1);
}

/* OpenSSL's own words for a refused certificate, logged once per reason. */
static int cb_ssl_error(const char *str, size_t len, void *u)
{
	struct publisher *p = u;
	char why[200];

	snprintf(why, sizeof(why), "TLS: %.*s", (int)(len < 180 ? len : 180), str);
	why[strcspn(why, "\n")] = 0;
	post_full(p, 5, 0, 0, why);
	return 0;
}

static void start_connect(struct publisher *p)
{
	MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
	MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
	MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
	int rc;

	if (p->connected || p->connecting || p->stopping)
		return;
	co.keepAliveInterval = p->keepalive;
	co.cleansession = p->clean_session;
	co.maxInflight = p->max_inflight;
	co.connectTimeout = 10;
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
	if (p->ca_file || !strncmp(p->uri, "ssl://", 6) || !strncmp(p->uri, "mqtts://", 8)) {
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
		log_warn("mqtt %s: connect: %s", p->uri, MQTTAsync_strerror(rc));
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

int publisher_new(struct publisher **out, const struct publisher_opts *o,
		  struct event_base *base, struct loopq *q)
{
	struct publisher *p = calloc(1, sizeof(*p));
	MQTTAsync_createOptions cr = MQTTAsync_createOptions_initializer;
	int rc;

	*out = NULL;
	if (!p)
		return -ENOMEM;
	p->base = base;
	p->q = q;
	p->uri = strdup(o->uri);
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
	p->cb_arg = o->cb_arg;
	p->keepalive = o->keepalive;
	p->buffer = o->buffer;
	p->qos = o->qos;
	p->backoff_ms = BACKOFF_MIN_MS;
	p->retry = evtimer_new(base, on_retry, p);

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
}

void publisher_free(struct publisher *p)
{
	if (!p)
		return;
	p->stopping = 1;
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
	free(p->client_id);
	free(p->status_topic);
	free(p->online);
	free(p->offline);
	free(p->username);
	free(p->password);
	free(p->last_error);
	free(p->last_tls);
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
}
