/* Hand-off from other threads (Paho's callbacks, serial bus workers) to the
 * loop thread: a mutex-protected queue drained by a libevent event that
 * any thread may activate. */
#ifndef WARDGW_LOOPQ_H
#define WARDGW_LOOPQ_H

struct event_base;
struct loopq;

typedef void (*loopq_fn)(void *arg);

/** Create the queue on @base (created after evthread_use_pthreads()). */
int loopq_new(struct loopq **out, struct event_base *base);
/** Drop pending items (calling their free functions) and free the queue. Loop thread. */
void loopq_free(struct loopq *q);
/**
 * Run @fn(@arg) on the loop thread soon; any thread. If the item is dropped
 * unrun (queue freed), @free_fn(@arg) is called instead. 0 or -ENOMEM.
 */
int loopq_post(struct loopq *q, loopq_fn fn, void *arg, loopq_fn free_fn);

#endif
