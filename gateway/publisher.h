/* Northbound link to the IOC over MQTT (Eclipse Paho, async client). Paho's
 * callbacks run on Paho's threads and are handed to the loop through a
 * loopq; everything here is called from the loop thread. The broker being
 * away never blocks the caller: messages are buffered (bounded) by Paho and
 * the link is retried with a capped backoff. */
#ifndef WARDGW_PUBLISHER_H
#define WARDGW_PUBLISHER_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct loopq;
struct publisher;

struct publisher_opts {
	const char *uri;            /* tcp://host:port or ssl://host:port */
	/* or several: the nodes of a cluster (Paho's serverURIs), all plain or
	 * all TLS; each connect tries them in order, the node the link was
	 * lost on last. NULL/0: uri alone. Copied. */
	const char *const *uris;
	size_t nuris;
	int connect_timeout;        /* s, per node tried; 0: 10 */
	const char *client_id;
	const char *username;
	const char *password;       /* read from password_file by the caller */
	int keepalive;
	int qos;
	int buffer;                 /* untracked messages kept while disconnected */
	int clean_session;          /* 0: the broker keeps our session */
	int max_inflight;
	const char *ca_file;        /* TLS: trust these CAs (PEM) */
	const char *cert_file;      /* TLS client certificate and key (optional) */
	const char *key_file;
	int verify_hostname;        /* TLS: the certificate must name the host */
	/* loop thread: the link came up (@session_present) or went down */
	void (*on_link)(void *arg, int up, int session_present);
	/* loop thread: tracked message @id acknowledged (ok) or given up */
	void (*on_ack)(void *arg, int64_t id, int ok);
	void *cb_arg;
	/* optional: subscribe to this topic (QoS 1) on every connect and hand
	 * each message to on_message on the loop thread (payload borrowed for
	 * the call; a message over 64 KiB is not read: @payload is NULL and
	 * @len its size, for the receiver's audit) */
	const char *subscribe_topic;
	void (*on_message)(void *arg, const char *topic, const void *payload, size_t len);
	const char *status_topic;   /* retained; Will = offline */
	const char *online_payload; /* copied */
	const char *offline_payload;
};

struct publisher_stats {
	uint64_t sent, delivered, failed;
	int connected;
	uint64_t connects, disconnects;
	const char *server;         /* the node the link is on (or was last on); NULL: never connected.
				     * Borrowed: valid until the publisher's next connect or free */
	int64_t server_since_ms;    /* wall-clock ms of that connect */
};

/** Create and start connecting. 0 or negative errno. */
int publisher_new(struct publisher **out, const struct publisher_opts *o,
		  struct event_base *base, struct loopq *q);
/** Publish "offline" (when connected), disconnect and free. Loop thread. */
void publisher_free(struct publisher *p);
/**
 * Queue @payload on @topic with the configured QoS. Returns 0, or -ENOBUFS
 * when Paho's buffer is full (the message is counted as failed); the caller
 * keeps its own copy in the store either way.
 */
int publisher_send(struct publisher *p, const char *topic, const void *payload,
		   size_t len, int retained);
/**
 * Publish @payload on @topic with the configured QoS and report its fate
 * through on_ack(@id). Only while connected: -ENOTCONN otherwise (the
 * caller keeps the message and offers it again later). Loop thread.
 */
int publisher_send_tracked(struct publisher *p, int64_t id, const char *topic, const void *payload,
			   size_t len);
int publisher_connected(const struct publisher *p);
/** Replace the retained "online" status (sent on every connect) and send it now if connected. */
void publisher_set_online(struct publisher *p, const char *payload);
void publisher_get_stats(const struct publisher *p, struct publisher_stats *st);

#endif
