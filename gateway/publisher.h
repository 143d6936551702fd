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
	const char *uri;
	const char *client_id;
	const char *username;
	const char *password;       /* read from password_file by the caller */
	int keepalive;
	int qos;
	int buffer;                 /* messages kept while disconnected */
	const char *status_topic;   /* retained; Will = offline */
	const char *online_payload; /* copied */
	const char *offline_payload;
};

struct publisher_stats {
	uint64_t sent, delivered, failed;
	int connected;
	uint64_t connects, disconnects;
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
void publisher_get_stats(const struct publisher *p, struct publisher_stats *st);

#endif
