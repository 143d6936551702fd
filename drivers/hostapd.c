/* hostapd driver ("hostapd"): one worker thread per access point talks to
 * hostapd's control interface, a UNIX datagram socket per AP (ctrl_path),
 * from a socket of its own bound under local_dir: STATUS and the station
 * list (STA-FIRST / STA-NEXT) every poll, and a second, ATTACHed socket for
 * AP-STA-CONNECTED / AP-STA-DISCONNECTED between polls. hostapd restarting
 * (the socket gone or refusing) is noticed by the next request, and the
 * worker reconnects and attaches again with a capped backoff.
 *
 * Privacy (Decree 13/2023/ND-CP): a MAC address lives only in the worker's
 * stack while one reply is parsed. What is kept is a keyed hash:
 *  - unique clients of the ward day: HMAC-SHA256(day key, MAC), the day key
 *    32 random bytes made at ward midnight (or start), kept only in memory,
 *    wiped (OPENSSL_cleanse) with the day's set when the day closes;
 *  - open sessions and byte counters: HMAC-SHA256(process key, MAC), a key
 *    made at start and never written anywhere; entries go when the station
 *    leaves.
 * Only counts and aggregates leave the worker; nothing per client is
 * stored, logged or published.
 *
 * Each AP is an instance of its own (thread, sockets, counts), started and
 * stopped alone: a reload that changes one AP leaves the others polling,
 * and a restarted AP takes back what it counted today (parked by name in
 * the driver's instance, with the keys). */
#include "driver.h"
#include "i18n.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client_hash.h"
#include "clock.h"
#include "config.h"
#include "device.h"
#include "hostapd_parse.h"
#include "log.h"
#include "sink.h"

struct hostapd_conf {
	char *ctrl_path;            /* /var/run/hostapd/wlan0 */
	char *local_dir;            /* where our own sockets are bound */
	int max_stations;
};

static const struct opt hostapd_opts[] = {
	{ "ctrl_path", OPT_STRING, offsetof(struct hostapd_conf, ctrl_path), 0, 0, 0, NULL, 1 },
	/* default: the unit's RuntimeDirectory ($RUNTIME_DIRECTORY), else /tmp */
	{ "local_dir", OPT_STRING, offsetof(struct hostapd_conf, local_dir), 0, 0, 0, NULL, 0 },
	{ "max_stations", OPT_INT, offsetof(struct hostapd_conf, max_stations), 1, 100000, 2048, NULL, 0 },
	{ 0 }
};

enum { H_UP, H_CLIENTS, H_SIGNAL, H_CHAN, H_TRAFFIC, H_SESSIONS, H_ENDED, H_SECONDS, H_UNIQUE, H_N };
static const char *const metric_names[H_N] = {
	"apUp", "clients", "signalMean", "chanUtil", "trafficBytes", "sessions", "sessionsEnded",
	"sessionSeconds", "uniqueClientsToday",
};

struct ap;

/* One poll's outcome, handed to the loop; holds a reference to its AP. */
struct ap_result {
	struct ap *a;
	int64_t ts_ms;
	int reachable;
	char reason[160];
	double v[H_N];
};

struct hostapd_drv;

struct ap {
	struct sink *sink;
	struct client_keys *keys;   /* the instance's, shared by its APs */
	unsigned *counter;          /* the instance's: unique socket names */
	struct device *dev;         /* loop thread; not touched once @stopped */
	/* what the worker reads, copied at start: the config may go first */
	char *name, *ctrl_path, *local_dir;
	int max_stations, timeout_ms, poll_interval_ms, backoff_max_ms;
	int refs;                   /* the driver's, plus one per result queued (atomic) */
	int stopped;                /* stop_device ran: results are dropped */
	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	int ctrl, evfd;             /* sockets, -1 when not connected */
	int wake[2];                /* a pipe: stop_device wakes the worker's nap at once */
	char ctrl_local[108], ev_local[108];
	/* worker-only state */
	struct hset day;            /* HMAC(day key): unique clients today */
	int64_t day_of;             /* the ward day of @day */
	struct hset sess;           /* HMAC(process key): session start (v1), last rx+tx (v2) */
	int64_t traffic, sessions, ended, seconds;
	int map[64];
};

/* What an AP has counted, parked by stop_device() and taken back by
 * start_device() under the same device name, so that a reload restarting
 * it does not restart the day's figures. What no AP took back by the end
 * of the reload (settle) is wiped, and so is everything at free(). */
struct parked {
	char name[64];
	struct hset day, sess;
	int64_t day_of, traffic, sessions, ended, seconds;
};

/* The driver's instance: the keys its APs hash with, what restarted APs
 * left parked, and how many run. */
struct hostapd_drv {
	struct driver base;
	struct client_keys keys;    /* the day key and the process key */
	unsigned counter;
	struct parked *parked;
	size_t nparked;
	size_t naps;
	int changed;                /* APs started or stopped since the last settle */
};

static void ap_unref(struct ap *a)
{
	if (__atomic_sub_fetch(&a->refs, 1, __ATOMIC_ACQ_REL))
		return;
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cv);
	for (int i = 0; i < 2; i++)
		if (a->wake[i] >= 0)
			close(a->wake[i]);
	free(a->name);
	free(a->ctrl_path);
	free(a->local_dir);
	free(a);
}

/* The day key for @now; at ward midnight the old key is wiped (by
 * client_keys_rotate) and so is every AP's set of the day that closed. */
static void day_rotate(struct ap *a, int64_t now)
{
	int64_t d = ward_day_of(now);

	if (client_keys_rotate(a->keys, now) < 0)
		log_err("hostapd: getrandom failed; unique clients of this day are not counted");
	if (a->day_of != d) {
		hset_wipe(&a->day);
		a->day_of = d;
	}
}

static void hash_day(struct ap *a, const uint8_t mac[6], unsigned char out[CLIENT_HLEN])
{
	client_hash_day(a->keys, mac, out);
}

static void hash_proc(struct ap *a, const uint8_t mac[6], unsigned char out[CLIENT_HLEN])
{
	client_hash_proc(a->keys, mac, out);
}

static void disconnect(struct ap *a)
{
	if (a->ctrl >= 0) {
		close(a->ctrl);
		unlink(a->ctrl_local);
	}
	if (a->evfd >= 0) {
		close(a->evfd);
		unlink(a->ev_local);
	}
	a->ctrl = a->evfd = -1;
}

static int open_one(struct ap *a, char *local, size_t lsz, const char *tag, char *why, size_t wsz)
{
	struct sockaddr_un me = { .sun_family = AF_UNIX }, peer = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		snprintf(why, wsz, "socket: %s", strerror(errno));
		return -1;
	}
	snprintf(local, lsz, "%s/wardgw-%d-%s-%s-%u", a->local_dir, (int)getpid(), a->name, tag,
		 __atomic_add_fetch(a->counter, 1, __ATOMIC_RELAXED));
	if (strlen(local) >= sizeof(me.sun_path) || strlen(a->ctrl_path) >= sizeof(peer.sun_path)) {
		snprintf(why, wsz, "socket path too long (at most %zu bytes)", sizeof(me.sun_path) - 1);
		close(fd);
		return -1;
	}
	strcpy(me.sun_path, local);
	strcpy(peer.sun_path, a->ctrl_path);
	unlink(local);
	if (bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0) {
		snprintf(why, wsz, "bind %s: %s", local, strerror(errno));
		close(fd);
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&peer, sizeof(peer)) < 0) {
		snprintf(why, wsz, "connect %s: %s", a->ctrl_path, strerror(errno));
		close(fd);
		unlink(local);
		return -1;
	}
	return fd;
}

static void handle_event(struct ap *a, const char *buf, size_t n);

/* Send @cmd on @fd and wait for its reply (events arriving meanwhile on the
 * event socket are handled, replies starting with '<' on @fd are events).
 * Returns the reply length, or -1 with @why set (timeout, hostapd gone),
 * naming the request by @what (a STA-NEXT carries a MAC: never in @why). */
static ssize_t request_as(struct ap *a, int fd, const char *cmd, const char *what, char *buf, size_t bsz,
			  char *why, size_t wsz)
{
	int64_t deadline = mono_ms() + a->timeout_ms;
	ssize_t late;

	/* a reply that came after its request timed out is not this one's */
	while ((late = recv(fd, buf, bsz - 1, MSG_DONTWAIT)) > 0)
		if (buf[0] == '<')
			handle_event(a, buf, (size_t)late);
	if (send(fd, cmd, strlen(cmd), 0) < 0) {
		snprintf(why, wsz, "%s: %s", what, strerror(errno));
		return -1;
	}
	for (;;) {
		int64_t left = deadline - mono_ms();
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;

		if (left <= 0) {
			snprintf(why, wsz, "%s: no reply within %d ms", what, a->timeout_ms);
			return -1;
		}
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		n = recv(fd, buf, bsz - 1, 0);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			snprintf(why, wsz, "%s: %s", what, strerror(errno));
			return -1;
		}
		buf[n] = 0;
		if (n > 0 && buf[0] == '<') {
			handle_event(a, buf, (size_t)n);
			continue;
		}
		return n;
	}
}

static ssize_t request(struct ap *a, int fd, const char *cmd, char *buf, size_t bsz, char *why, size_t wsz)
{
	return request_as(a, fd, cmd, cmd, buf, bsz, why, wsz);
}

static int connect_ap(struct ap *a, char *why, size_t wsz)
{
	char buf[64];

	if ((a->ctrl = open_one(a, a->ctrl_local, sizeof(a->ctrl_local), "c", why, wsz)) < 0)
		goto fail;
	if ((a->evfd = open_one(a, a->ev_local, sizeof(a->ev_local), "e", why, wsz)) < 0)
		goto fail;
	ssize_t n = request(a, a->evfd, "ATTACH", buf, sizeof(buf), why, wsz);
	if (n < 0)
		goto fail;
	if (n < 2 || strncmp(buf, "OK", 2)) {
		snprintf(why, wsz, "ATTACH refused");
		goto fail;
	}
	return 0;
fail:
	disconnect(a);
	return -1;
}

static void handle_event(struct ap *a, const char *buf, size_t n)
{
	struct hostapd_event ev;
	unsigned char h[CLIENT_HLEN];
	int isnew;
	int64_t *start, *bytes;

	if (hostapd_parse_event(buf, n, &ev) < 0)
		return;                 /* other events; never logged (they carry MACs) */
	if (ev.kind == HEV_CONNECTED) {
		hash_proc(a, ev.mac, h);
		start = hset_get(&a->sess, h, &isnew, &bytes);
		if (start) {
			/* a station re-associating without a disconnect keeps its session */
			if (isnew || !*start) {
				*start = mono_ms();   /* a session's length is an interval */
				a->sessions++;
			}
		}
		hash_day(a, ev.mac, h);
		hset_get(&a->day, h, &isnew, NULL);
	} else if (ev.kind == HEV_DISCONNECTED) {
		hash_proc(a, ev.mac, h);
		start = a->sess.cap ? hset_get(&a->sess, h, &isnew, NULL) : NULL;
		if (start && !isnew && *start) {
			int64_t d = mono_ms() - *start;
			a->ended++;
			a->seconds += d > 0 ? (d + 500) / 1000 : 0;
		}
		hset_del(&a->sess, h);
	}
	OPENSSL_cleanse(&ev, sizeof(ev));
	OPENSSL_cleanse(h, sizeof(h));
}

/* STATUS and the station list; fills r. -1 when hostapd did not answer. */
static int poll_ap(struct ap *a, struct ap_result *r)
{
	char buf[8192], cmd[40];
	struct hostapd_status st;
	struct hostapd_sta sta;
	ssize_t n;
	int count = 0, nsig = 0;
	double sig = 0;

	day_rotate(a, r->ts_ms);
	if ((n = request(a, a->ctrl, "STATUS", buf, sizeof(buf), r->reason, sizeof(r->reason))) < 0)
		return -1;
	if (hostapd_parse_status(buf, (size_t)n, &st) < 0) {
		snprintf(r->reason, sizeof(r->reason), "STATUS: unreadable reply (%zd bytes)", n);
		return -1;
	}
	r->v[H_UP] = st.enabled;
	r->v[H_CHAN] = st.chan_util_avg >= 0 ? st.chan_util_avg / 255.0 : NAN;
	snprintf(cmd, sizeof(cmd), "STA-FIRST");
	for (int i = 0; i < a->max_stations; i++) {
		unsigned char h[CLIENT_HLEN];
		int isnew, rc;
		int64_t *start, *last;

		char what[48];
		snprintf(what, sizeof(what), "%s (station %d)", i ? "STA-NEXT" : "STA-FIRST", i + 1);
		if ((n = request_as(a, a->ctrl, cmd, what, buf, sizeof(buf), r->reason, sizeof(r->reason))) < 0) {
			/* a walk cut short is no poll: hostapd hangs or went away */
			OPENSSL_cleanse(cmd, sizeof(cmd));
			return -1;
		}
		rc = hostapd_parse_sta(buf, (size_t)n, &sta);
		OPENSSL_cleanse(buf, (size_t)n);
		if (rc == -ENOENT)
			break;
		if (rc < 0) {
			snprintf(r->reason, sizeof(r->reason), "%s: unreadable reply (%zd bytes)", what, n);
			OPENSSL_cleanse(cmd, sizeof(cmd));
			return -1;
		}
		snprintf(cmd, sizeof(cmd), "STA-NEXT %02x:%02x:%02x:%02x:%02x:%02x", sta.mac[0], sta.mac[1], sta.mac[2],
			 sta.mac[3], sta.mac[4], sta.mac[5]);
		if (!(sta.flags & STA_ASSOC))
			continue;
		count++;
		if (sta.has_signal) {
			sig += sta.signal;
			nsig++;
		}
		/* bytes: what each station moved since the last poll */
		hash_proc(a, sta.mac, h);
		start = hset_get(&a->sess, h, &isnew, &last);
		if (start) {
			int64_t b = (sta.rx_bytes > 0 ? sta.rx_bytes : 0) + (sta.tx_bytes > 0 ? sta.tx_bytes : 0);
			if (isnew) {
				/* associated before we attached: its session started
				 * connected_time ago; its bytes so far were not ours to see */
				*start = mono_ms() - (sta.connected_time > 0 ? sta.connected_time * 1000 : 0);
				a->sessions++;
			} else {
				a->traffic += b >= *last ? b - *last : b;
			}
			*last = b;
		}
		hash_day(a, sta.mac, h);
		hset_get(&a->day, h, &isnew, NULL);
		OPENSSL_cleanse(h, sizeof(h));
	}
	OPENSSL_cleanse(&sta, sizeof(sta));
	OPENSSL_cleanse(cmd, sizeof(cmd));
	r->v[H_CLIENTS] = count;
	r->v[H_SIGNAL] = nsig ? sig / nsig : NAN;
	r->v[H_TRAFFIC] = (double)a->traffic;
	r->v[H_SESSIONS] = (double)a->sessions;
	r->v[H_ENDED] = (double)a->ended;
	r->v[H_SECONDS] = (double)a->seconds;
	r->v[H_UNIQUE] = (double)a->day.n;
	/* reachable only once the whole walk answered: a timeout anywhere in
	 * it fails the poll with its reason */
	r->reachable = 1;
	return 0;
}

static void put(struct ap *a, double *vals, const struct ap_result *r)
{
	for (size_t i = 0; i < a->dev->conf->profile->nregs && i < 64; i++)
		vals[i] = a->map[i] >= 0 ? r->v[a->map[i]] : NAN;
}

static void on_result(void *arg);

static void result_free(void *arg)
{
	struct ap_result *r = arg;

	ap_unref(r->a);
	free(r);
}

/* Any thread: hand @r to the loop; it holds a reference to its AP. */
static void post_result(struct ap *a, struct ap_result *r)
{
	r->a = a;
	__atomic_add_fetch(&a->refs, 1, __ATOMIC_RELAXED);
	if (sink_post(a->sink, on_result, r, result_free) < 0)
		result_free(r);
}

static void on_result(void *arg)
{
	struct ap_result *r = arg;
	struct ap *a = r->a;
	struct device *dev;
	double vals[64];

	if (a->stopped) {           /* stopped meanwhile (a reload): its device may be gone */
		result_free(r);
		return;
	}
	dev = a->dev;
	sink_poll_started(a->sink, dev, 0);
	if (!r->reachable) {
		/* hostapd gone: the AP is down, and the device offline */
		sink_poll_done(a->sink, dev, r->ts_ms, NULL, 0, 0, r->reason);
		sink_set_state(a->sink, dev, DEV_OFFLINE, r->reason);
	} else {
		put(a, vals, r);
		sink_poll_done(a->sink, dev, r->ts_ms, vals, 1, 0, NULL);  /* on-time is a Modbus slot figure */
		sink_set_state(a->sink, dev, DEV_ONLINE, NULL);
	}
	result_free(r);
}

static int nap_events(struct ap *a, int64_t ms)
{
	int64_t until = mono_ms() + ms;

	for (;;) {
		int64_t left = until - mono_ms();
		pthread_mutex_lock(&a->mu);
		int stop = a->stop;
		pthread_mutex_unlock(&a->mu);
		if (stop)
			return 1;
		if (left <= 0)
			return 0;
		/* the wake pipe ends the nap when the AP stops; the event
		 * socket, when connected, brings stations coming and going */
		struct pollfd p[2] = { { a->wake[0], POLLIN, 0 }, { a->evfd, POLLIN, 0 } };
		if (poll(p, a->evfd >= 0 ? 2 : 1, (int)(left > 200 ? 200 : left)) > 0 && (p[1].revents & POLLIN)) {
			char buf[512];
			ssize_t n = recv(a->evfd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
			if (n > 0)
				handle_event(a, buf, (size_t)n);
			OPENSSL_cleanse(buf, sizeof(buf));
		}
	}
}

static void *worker(void *arg)
{
	struct ap *a = arg;
	int64_t backoff = 500;
	int said = 0;

	for (;;) {
		struct ap_result *r = calloc(1, sizeof(*r));
		int64_t t0 = mono_ms(), wait = a->poll_interval_ms;

		if (!r) {
			if (nap_events(a, 1000))
				break;
			continue;
		}
		r->ts_ms = wall_ms();
		for (int i = 0; i < H_N; i++)
			r->v[i] = NAN;
		if (a->ctrl < 0 && connect_ap(a, r->reason, sizeof(r->reason)) < 0) {
			if (!said)
				post_result(a, r);
			else
				free(r);
			said = 1;
			wait = backoff;
			backoff = backoff * 2 > a->backoff_max_ms ? a->backoff_max_ms : backoff * 2;
		} else if (poll_ap(a, r) < 0) {
			/* hostapd restarted or went away: reconnect next time */
			disconnect(a);
			if (!said)
				post_result(a, r);
			else
				free(r);
			said = 1;
			wait = 0;
		} else {
			said = 0;
			backoff = 500;
			post_result(a, r);
			wait = a->poll_interval_ms - (mono_ms() - t0);
		}
		if (nap_events(a, wait > 0 ? wait : 0))
			break;
	}
	disconnect(a);
	return NULL;
}

static void wipe_parked(struct hostapd_drv *h)
{
	for (size_t k = 0; k < h->nparked; k++) {
		hset_wipe(&h->parked[k].day);
		hset_wipe(&h->parked[k].sess);
	}
	h->nparked = 0;
}

static void hostapd_stop_device(struct driver *drv, struct device *dev)
{
	struct hostapd_drv *h = (struct hostapd_drv *)drv;
	struct ap *a = dev->drv;
	struct parked *np;

	dev->drv = NULL;
	if (!a)
		return;
	pthread_mutex_lock(&a->mu);
	a->stop = 1;
	pthread_mutex_unlock(&a->mu);
	if (write(a->wake[1], "", 1) < 0)
		log_debug("hostapd %s: wake: %s", a->name, strerror(errno));
	/* at once from a nap, within a request's timeout from a request */
	if (a->started)
		pthread_join(a->thread, NULL);
	a->stopped = 1;             /* results still queued are dropped */
	/* what it counted today waits for a restart under its name */
	np = realloc(h->parked, (h->nparked + 1) * sizeof(*np));
	if (np) {
		h->parked = np;
		np += h->nparked++;
		memset(np, 0, sizeof(*np));
		snprintf(np->name, sizeof(np->name), "%s", a->name);
		np->day = a->day;
		np->sess = a->sess;
		np->day_of = a->day_of;
		np->traffic = a->traffic;
		np->sessions = a->sessions;
		np->ended = a->ended;
		np->seconds = a->seconds;
	} else {
		hset_wipe(&a->day);
		hset_wipe(&a->sess);
	}
	memset(&a->day, 0, sizeof(a->day));
	memset(&a->sess, 0, sizeof(a->sess));
	h->naps--;
	h->changed = 1;
	log_info("hostapd %s: stopped", a->name);
	ap_unref(a);
}

static int hostapd_start_device(struct driver *drv, struct device *dev)
{
	struct hostapd_drv *h = (struct hostapd_drv *)drv;
	const struct profile *p = dev->conf->profile;
	const struct hostapd_conf *c = dev->conf->drv;
	struct ap *a;

	if (!(a = calloc(1, sizeof(*a))))
		return -ENOMEM;
	a->refs = 1;
	a->sink = drv->sink;
	a->keys = &h->keys;
	a->counter = &h->counter;
	a->dev = dev;
	a->ctrl = a->evfd = -1;
	a->wake[0] = a->wake[1] = -1;
	a->day_of = -1;
	a->max_stations = c->max_stations;
	a->timeout_ms = dev->conf->timeout_ms;
	a->poll_interval_ms = dev->conf->poll_interval_ms;
	a->backoff_max_ms = dev->conf->backoff_max_ms;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	a->name = strdup(dev->conf->name);
	a->ctrl_path = strdup(c->ctrl_path);
	a->local_dir = strdup(c->local_dir);
	if (!a->name || !a->ctrl_path || !a->local_dir || pipe2(a->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		ap_unref(a);
		return -ENOMEM;
	}
	for (size_t k = 0; k < h->nparked; k++)
		if (!strcmp(h->parked[k].name, dev->conf->name)) {
			struct parked *pk = &h->parked[k];
			a->day = pk->day;
			a->sess = pk->sess;
			a->day_of = pk->day_of;
			a->traffic = pk->traffic;
			a->sessions = pk->sessions;
			a->ended = pk->ended;
			a->seconds = pk->seconds;
			*pk = h->parked[--h->nparked];
			break;
		}
	for (size_t r = 0; r < 64; r++) {
		a->map[r] = -1;
		for (int k = 0; r < p->nregs && k < H_N; k++)
			if (!strcmp(p->regs[r].metric, metric_names[k]))
				a->map[r] = k;
	}
	dev->drv = a;
	h->naps++;
	h->changed = 1;
	if (sink_polling(drv->sink)) {
		if (pthread_create(&a->thread, NULL, worker, a) != 0) {
			hostapd_stop_device(drv, dev);
			return log_error(-EAGAIN, "hostapd %s: cannot start its thread", dev->conf->name);
		}
		a->started = 1;
	}
	log_info("hostapd %s: polling %s every %d ms", a->name, a->ctrl_path, a->poll_interval_ms);
	return 0;
}

static void hostapd_move_device(struct driver *drv, struct device *dev)
{
	struct ap *a = dev->drv;

	if (a)
		a->dev = dev;
}

/* After start-up and each reload: what APs that left the config counted
 * goes (and the keys, when none is left); the count in the log when it
 * changed. */
static void hostapd_settle(struct driver *drv)
{
	struct hostapd_drv *h = (struct hostapd_drv *)drv;

	wipe_parked(h);
	if (h->changed && h->naps)
		log_info("hostapd: %zu access points", h->naps);
	if (h->changed && !h->naps)
		client_keys_wipe(&h->keys);     /* a reload removed every AP: the keys go too */
	h->changed = 0;
}

static int hostapd_new(struct driver **out, struct sink *sink)
{
	struct hostapd_drv *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->keys = (struct client_keys)CLIENT_KEYS_INIT;
	*out = &h->base;
	return 0;
}

/* Every AP was stopped by the gateway before: what they counted and the
 * keys are wiped. */
static void hostapd_free(struct driver *drv)
{
	struct hostapd_drv *h = (struct hostapd_drv *)drv;

	wipe_parked(h);
	free(h->parked);
	client_keys_wipe(&h->keys);
	pthread_mutex_destroy(&h->keys.mu);
	free(h);
}

static void hostapd_check(struct conf_ctx *ctx, const struct device_conf *dev)
{
	struct hostapd_conf *c = dev->drv;
	const char *n = dev->name ? dev->name : "?";

	/* relative paths are relative to the config file, like data_dir */
	conf_resolve_path(ctx, &c->ctrl_path);
	conf_resolve_path(ctx, &c->local_dir);
	if (!c->local_dir) {
		/* under systemd (RuntimeDirectory=wardgw): /run/wardgw, which
		 * hostapd reaches; the unit's /tmp is private (PrivateTmp), so a
		 * socket there cannot get hostapd's answers */
		const char *rd = getenv("RUNTIME_DIRECTORY");
		size_t l = rd ? strcspn(rd, ":") : 0;
		c->local_dir = l ? strndup(rd, l) : strdup("/tmp");
	}

	if (c->ctrl_path && (!c->ctrl_path[0] || strlen(c->ctrl_path) >= sizeof(((struct sockaddr_un *)0)->sun_path)))
		conf_error(ctx, &dev->at, _("device %s: ctrl_path must be 1..%zu bytes"), n,
			   sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	if (c->local_dir && strlen(c->local_dir) > 40)
		conf_error(ctx, &dev->at, _("device %s: local_dir must be at most 40 bytes (UNIX socket paths are short)"), n);
	if (dev->timeout_ms * 4 >= dev->poll_interval_ms)
		conf_error(ctx, &dev->at, _("device %s: poll_interval_ms (%d) must exceed 4 x timeout_ms (%d)"), n,
			   dev->poll_interval_ms, dev->timeout_ms);
	/* the readings of one poll are put into 64 values */
	if (dev->profile && dev->profile->nregs > 64)
		conf_error(ctx, &dev->at, _("device %s: profile %s has %zu metrics; a hostapd device takes at most 64"), n,
			   dev->profile->name, dev->profile->nregs);
}

static double last_of(const struct device *d, const char *metric)
{
	const struct profile *p = d->conf->profile;

	for (size_t i = 0; i < p->nregs; i++)
		if (!strcmp(p->regs[i].metric, metric))
			return d->last ? d->last[i] : NAN;
	return NAN;
}

/* The ward's Wi-Fi figures now as one line for --live. */
static int hostapd_live(struct driver *drv, const struct device *devs, size_t ndevs, char *buf, size_t n)
{
	int aps = 0, up = 0;
	double clients = 0, unique = 0, sig = 0, util = 0;
	int nsig = 0, nutil = 0;

	for (size_t i = 0; i < ndevs; i++) {
		const struct device *d = &devs[i];
		double v;
		if (d->conf->driver != &hostapd_driver)
			continue;
		aps++;
		if (d->state != DEV_ONLINE)
			continue;
		up += last_of(d, "apUp") == 1;
		if (isfinite(v = last_of(d, "clients")))
			clients += v;
		if (isfinite(v = last_of(d, "uniqueClientsToday")))
			unique += v;
		if (isfinite(v = last_of(d, "signalMean")))
			sig += v, nsig++;
		if (isfinite(v = last_of(d, "chanUtil")))
			util += v, nutil++;
	}
	if (!aps)
		return 0;
	return snprintf(buf, n, _("wifi hotspots up %d/%d  clients %.0f  unique today %.0f  mean signal %.1f dBm  channel use %.0f %%"),
			up, aps, clients, unique, nsig ? sig / nsig : NAN, nutil ? 100 * util / nutil : NAN);
}

const struct driver_ops hostapd_driver = {
	.name = "hostapd",
	.opts = hostapd_opts,
	.conf_size = sizeof(struct hostapd_conf),
	.check = hostapd_check,
	.new = hostapd_new,
	.free = hostapd_free,
	.start_device = hostapd_start_device,
	.stop_device = hostapd_stop_device,
	.move_device = hostapd_move_device,
	.settle = hostapd_settle,
	.live = hostapd_live,
};

