/* Cross-thread queue into the event loop; see loopq.h. */
#include "loopq.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>

struct item {
	struct item *next;
	loopq_fn fn, free_fn;
	void *arg;
};

struct loopq {
	pthread_mutex_t lock;
	struct item *head, *tail;
	struct event *ev;
};

static void drain(evutil_socket_t fd, short what, void *arg)
{
	struct loopq *q = arg;
	struct item *it;

	pthread_mutex_lock(&q->lock);
	it = q->head;
	q->head = q->tail = NULL;
	pthread_mutex_unlock(&q->lock);
	while (it) {
		struct item *next = it->next;
		it->fn(it->arg);
		free(it);
		it = next;
	}
}

int loopq_new(struct loopq **out, struct event_base *base)
{
	struct loopq *q = calloc(1, sizeof(*q));

	if (!q)
		return -ENOMEM;
	pthread_mutex_init(&q->lock, NULL);
	q->ev = event_new(base, -1, 0, drain, q);
	if (!q->ev) {
		free(q);
		return -ENOMEM;
	}
	*out = q;
	return 0;
}

void loopq_free(struct loopq *q)
{
	struct item *it;

	if (!q)
		return;
	event_free(q->ev);
	for (it = q->head; it;) {
		struct item *next = it->next;
		if (it->free_fn)
			it->free_fn(it->arg);
		free(it);
		it = next;
	}
	pthread_mutex_destroy(&q->lock);
	free(q);
}

int loopq_post(struct loopq *q, loopq_fn fn, void *arg, loopq_fn free_fn)
{
	struct item *it = malloc(sizeof(*it));

	if (!it)
		return -ENOMEM;
	it->next = NULL;
	it->fn = fn;
	it->free_fn = free_fn;
	it->arg = arg;
	pthread_mutex_lock(&q->lock);
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	pthread_mutex_unlock(&q->lock);
	event_active(q->ev, EV_READ, 0);
	return 0;
}
