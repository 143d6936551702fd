/* Cellular modem driver ("modem"): a worker thread per modem speaks AT over
 * its serial port (blocking reads with poll() and a timeout, never on the
 * loop thread): AT+QENG="servingcell" and AT+CESQ every poll interval, and
 * AT+QGPSLOC=2 when the device has gnss = true. Results go to the loop
 * through the sink (sink_post), where they become the device's samples
 * (profile cell-modem) and coverage samples per technology and operator at
 * the modem's position (its GNSS fix, else lat/lon from the config). A port
 * that disappears (USB unplugged, the pty closed) is reopened with a capped
 * backoff. Each modem is an instance of its own (thread, port, state): a
 * reload that changes one leaves the others running; its samples and
 * coverage samples go through the sink like every driver's. */
#include "driver.h"
#include "i18n.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "at_parse.h"
#include "clock.h"
#include "config.h"
#include "coverage.h"
#include "device.h"
#include "log.h"
#include "sink.h"
#include "survey.h"

struct modem_conf {
	char *port;                 /* /dev/ttyUSB2, /dev/serial/by-id/... */
	int baud;
	double lat, lon;            /* NaN: the gateway's */
	char *operator_name;        /* stored instead of MCC-MNC when set */
	int gnss;                   /* ask AT+QGPSLOC=2 for the position */
};

static const struct opt modem_opts[] = {
	{ "port", OPT_STRING, offsetof(struct modem_conf, port), 0, 0, 0, NULL, 1 },
	{ "baud", OPT_INT, offsetof(struct modem_conf, baud), 1200, 4000000, 115200, NULL, 0 },
	{ "lat", OPT_DOUBLE, offsetof(struct modem_conf, lat), -90, 90, NAN, NULL, 0 },
	{ "lon", OPT_DOUBLE, offsetof(struct modem_conf, lon), -180, 180, NAN, NULL, 0 },
	{ "operator", OPT_STRING, offsetof(struct modem_conf, operator_name), 0, 0, 0, NULL, 0 },
	{ "gnss", OPT_BOOL, offsetof(struct modem_conf, gnss), 0, 1, 0, NULL, 0 },
	{ 0 }
};

enum { M_REGISTERED, M_LTE_RSRP, M_LTE_RSRQ, M_LTE_SINR, M_NR_RSRP, M_NR_RSRQ, M_NR_SINR, M_N };
static const char *const metric_names[M_N] = {
	"registered", "lteRsrp", "lteRsrq", "lteSinr", "nrRsrp", "nrRsrq", "nrSinr",
};

struct modem;

/* One poll's outcome, handed from the worker to the loop; it holds a
 * reference to its modem. */
struct modem_result {
	struct modem *m;
	int64_t ts_ms;
	int ok;                     /* 0: @reason says why */
	int gone;                   /* the port itself failed (closed, unplugged) */
	char reason[160];
	struct qeng_result q;
	int have_q;
	struct cesq_result c;
	int have_c;
	double lat, lon;            /* NaN without a GNSS fix */
};

struct modem {
	struct sink *sink;
	struct device *dev;         /* loop thread; not touched once @stopped */
	const struct modem_conf *c; /* loop thread (move_device) */
	/* what the worker reads, copied at start: the config may go first */
	char *port;
	int baud, gnss, timeout_ms, poll_interval_ms, backoff_max_ms;
	int refs;                   /* the driver's, plus one per result queued (atomic) */
	int stopped;                /* stop_device ran: results are dropped */
	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	int fd;                     /* worker only */
	int fails;                  /* loop only: failed polls in a row */
	int map[64];                /* profile register -> M_*, -1 unused */
};

/* The driver's instance: the modems it runs, for the log. */
struct modem_drv {
	struct driver base;
	size_t nmodems;
	int settled;
};

static void modem_unref(struct modem *m)
{
	if (__atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL))
		return;
	pthread_mutex_destroy(&m->mu);
	pthread_cond_destroy(&m->cv);
	free(m->port);
	free(m);
}

static speed_t baud_flag(int b)
{
	switch (b) {
	case 9600: return B9600;
	case 19200: return B19200;
	case 38400: return B38400;
	case 57600: return B57600;
	case 115200: return B115200;
	case 230400: return B230400;
	case 460800: return B460800;
	case 921600: return B921600;
	default: return 0;
	}
}

static int open_port(struct modem *m, char *why, size_t wsz)
{
	struct termios t;
	int fd = open(m->port, O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0) {
		snprintf(why, wsz, "open %s: %s", m->port, strerror(errno));
		return -errno;
	}
	if (tcgetattr(fd, &t) == 0) {
		cfmakeraw(&t);
		cfsetispeed(&t, baud_flag(m->baud));
		cfsetospeed(&t, baud_flag(m->baud));
		t.c_cflag |= CLOCAL | CREAD;
		tcsetattr(fd, TCSANOW, &t);
	}
	tcflush(fd, TCIOFLUSH);
	m->fd = fd;
	return 0;
}

/* Send @cmd and collect its reply into @f. 0 with f->final set, -ETIMEDOUT,
 * or -EIO when the port failed (then it is closed). */
static int at_cmd(struct modem *m, const char *cmd, const char *prefix, struct at_framer *f, char *why, size_t wsz)
{
	char buf[256];
	size_t len = strlen(cmd);
	int64_t deadline = mono_ms() + m->timeout_ms;
	char line[80];

	at_framer_start(f, cmd, prefix);
	/* what came since the last reply (URCs, a late answer) is not ours */
	while (read(m->fd, buf, sizeof(buf)) > 0)
		;
	snprintf(line, sizeof(line), "%s\r", cmd);
	len = strlen(line);
	if (write(m->fd, line, len) != (ssize_t)len) {
		snprintf(why, wsz, "write %s: %s", m->port, errno ? strerror(errno) : "short write");
		goto gone;
	}
	for (;;) {
		struct pollfd pfd = { m->fd, POLLIN, 0 };
		int64_t left = deadline - mono_ms();
		ssize_t n;
		size_t used;

		if (left <= 0) {
			snprintf(why, wsz, "%s: no final result within %d ms", cmd, m->timeout_ms);
			return -ETIMEDOUT;
		}
		int pr = poll(&pfd, 1, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0) {
			snprintf(why, wsz, "poll %s: %s", m->port, strerror(errno));
			goto gone;
		}
		if (pr == 0)
			continue;
		n = read(m->fd, buf, sizeof(buf));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0 || (pfd.revents & (POLLERR | POLLNVAL))) {
			snprintf(why, wsz, "%s: %s", m->port, n < 0 ? strerror(errno) : "port closed (hang-up)");
			goto gone;
		}
		if (at_framer_feed(f, buf, (size_t)n, &used))
			return 0;
	}
gone:
	close(m->fd);
	m->fd = -1;
	return -EIO;
}

static const char *final_text(const struct at_framer *f, char *buf, size_t n)
{
	if (f->final == AT_ERROR)
		return "ERROR";
	if (f->final == AT_CME_ERROR || f->final == AT_CMS_ERROR) {
		snprintf(buf, n, "+CM%c ERROR: %d", f->final == AT_CME_ERROR ? 'E' : 'S', f->cme);
		return buf;
	}
	return "OK";
}

/* One poll on the worker thread. */
static void poll_once(struct modem *m, struct modem_result *r)
{
	struct at_framer f;
	char eb[32];
	int rc;

	r->lat = r->lon = NAN;
	qeng_init(&r->q);
	rc = at_cmd(m, "AT+QENG=\"servingcell\"", "+QENG:", &f, r->reason, sizeof(r->reason));
	if (rc < 0) {
		r->gone = rc == -EIO;
		return;
	}
	if (f.final == AT_OK) {
		int bad = 0;
		for (size_t i = 0; i < f.nresp; i++) {
			int prc = qeng_parse_line(f.resp[i], &r->q);
			bad += prc == -EINVAL;
		}
		r->have_q = f.nresp > 0 && !bad;
		if (bad)
			snprintf(r->reason, sizeof(r->reason), "AT+QENG: %d unreadable line(s), e.g. '%.60s'", bad, f.resp[0]);
	} else {
		snprintf(r->reason, sizeof(r->reason), "AT+QENG: %s", final_text(&f, eb, sizeof(eb)));
	}
	rc = at_cmd(m, "AT+CESQ", "+CESQ:", &f, r->reason, sizeof(r->reason));
	if (rc < 0) {
		r->gone = rc == -EIO;
		return;
	}
	if (f.final == AT_OK && f.nresp == 1 && cesq_parse(f.resp[0], &r->c) == 0)
		r->have_c = 1;
	else if (!r->have_q)
		snprintf(r->reason + strlen(r->reason), sizeof(r->reason) - strlen(r->reason), "; AT+CESQ: %s",
			 f.final == AT_OK ? "unreadable" : final_text(&f, eb, sizeof(eb)));
	if (m->gnss) {
		rc = at_cmd(m, "AT+QGPSLOC=2", "+QGPSLOC:", &f, r->reason, sizeof(r->reason));
		if (rc < 0) {
			r->gone = rc == -EIO;
			return;
		}
		/* +CME ERROR: 516 is "not fixed now": the configured position then */
		if (f.final == AT_OK && f.nresp == 1)
			qgpsloc_parse(f.resp[0], &r->lat, &r->lon);
	}
	r->ok = r->have_q || r->have_c;
}

static void put_value(struct modem *m, double *vals, int which, double v)
{
	for (size_t i = 0; i < m->dev->conf->profile->nregs && i < 64; i++)
		if (m->map[i] == which)
			vals[i] = v;
}

static void sample(struct modem *m, const struct modem_result *r, enum rat tech, const struct cell_info *ci,
		   double rsrp, double rsrq, double sinr)
{
	char op[SURVEY_OP_MAX];
	struct coverage_sample s;

	if (!isfinite(rsrp))
		return;
	if (m->c->operator_name)
		snprintf(op, sizeof(op), "%s", m->c->operator_name);
	else if (ci && ci->mcc[0])
		snprintf(op, sizeof(op), "%s-%s", ci->mcc, ci->mnc);
	else
		return;                 /* CESQ alone does not say whose network */
	s.ts_ms = r->ts_ms;
	/* NaN: the gateway's position (the sink fills it in) */
	s.lat = isfinite(r->lat) ? r->lat : m->c->lat;
	s.lon = isfinite(r->lon) ? r->lon : m->c->lon;
	s.tech = tech;
	s.op = op;
	s.rsrp = rsrp;
	s.rsrq = rsrq;
	s.sinr = sinr;
	if (sink_coverage(m->sink, m->dev, &s) < 0)
		log_warn("modem %s: coverage sample not stored", m->dev->conf->name);
}

static double pick(double a, double b)
{
	return isfinite(a) ? a : b;
}

static void on_result(void *arg);

/* A result dropped unrun (the gateway stopping), or done with. */
static void result_free(void *arg)
{
	struct modem_result *r = arg;

	modem_unref(r->m);
	free(r);
}

/* Any thread: hand @r to the loop; it holds a reference to its modem. */
static void post_result(struct modem *m, struct modem_result *r)
{
	r->m = m;
	__atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
	if (sink_post(m->sink, on_result, r, result_free) < 0)
		result_free(r);
}

/* Loop thread. */
static void on_result(void *arg)
{
	struct modem_result *r = arg;
	struct device *dev;
	struct modem *m = r->m;
	double vals[64];

	if (m->stopped) {           /* stopped meanwhile (a reload): its device may be gone */
		result_free(r);
		return;
	}
	dev = m->dev;
	sink_poll_started(m->sink, dev, 0);
	if (!r->ok) {
		sink_poll_done(m->sink, dev, r->ts_ms, NULL, 0, 0, r->reason);
		if (++m->fails >= 3 || r->gone)
			sink_set_state(m->sink, dev, DEV_OFFLINE, r->reason);
		result_free(r);
		return;
	}
	m->fails = 0;
	for (size_t i = 0; i < 64; i++)
		vals[i] = NAN;
	const struct cell_info *lte = r->q.have_lte ? &r->q.lte : NULL, *nr = r->q.have_nr ? &r->q.nr : NULL;
	double lrsrp = pick(lte ? lte->rsrp : NAN, r->have_c ? r->c.rsrp : NAN);
	double lrsrq = pick(lte ? lte->rsrq : NAN, r->have_c ? r->c.rsrq : NAN);
	double nrsrp = pick(nr ? nr->rsrp : NAN, r->have_c ? r->c.ss_rsrp : NAN);
	double nrsrq = pick(nr ? nr->rsrq : NAN, r->have_c ? r->c.ss_rsrq : NAN);
	double nsinr = pick(nr ? nr->sinr : NAN, r->have_c ? r->c.ss_sinr : NAN);
	int reg = r->have_q ? (!strcmp(r->q.state, "NOCONN") || !strcmp(r->q.state, "CONNECT")) : isfinite(lrsrp) || isfinite(nrsrp);
	put_value(m, vals, M_REGISTERED, reg);
	put_value(m, vals, M_LTE_RSRP, lrsrp);
	put_value(m, vals, M_LTE_RSRQ, lrsrq);
	put_value(m, vals, M_LTE_SINR, lte ? lte->sinr : NAN);
	put_value(m, vals, M_NR_RSRP, nrsrp);
	put_value(m, vals, M_NR_RSRQ, nrsrq);
	put_value(m, vals, M_NR_SINR, nsinr);
	sink_poll_done(m->sink, dev, r->ts_ms, vals, 1, 0, NULL);  /* on-time is a Modbus slot figure */
	sink_set_state(m->sink, dev, DEV_ONLINE, NULL);
	/* a modem searching or on limited service has no usable serving cell */
	if (reg) {
		if (lte || (r->have_c && isfinite(r->c.rsrp) && m->c->operator_name))
			sample(m, r, RAT_LTE, lte, lrsrp, lrsrq, lte ? lte->sinr : NAN);
		if (nr || (r->have_c && isfinite(r->c.ss_rsrp) && m->c->operator_name))
			sample(m, r, RAT_NR, nr ? nr : lte, nrsrp, nrsrq, nsinr);
	}
	result_free(r);
}

/* Sleep @ms unless stopped; returns the stop flag. The condition waits
 * on the monotonic clock (clock_cond_init): a wall clock stepped back
 * does not stretch the nap. */
static int nap(struct modem *m, int64_t ms)
{
	struct timespec ts;
	int stop;

	clock_deadline(&ts, ms);
	pthread_mutex_lock(&m->mu);
	while (!m->stop && pthread_cond_timedwait(&m->cv, &m->mu, &ts) == 0)
		;
	stop = m->stop;
	pthread_mutex_unlock(&m->mu);
	return stop;
}

static void *worker(void *arg)
{
	struct modem *m = arg;
	int64_t backoff = 500;
	int said_gone = 0;

	for (;;) {
		struct modem_result *r;
		int64_t t0 = mono_ms();

		pthread_mutex_lock(&m->mu);
		int stop = m->stop;
		pthread_mutex_unlock(&m->mu);
		if (stop)
			break;
		if (!(r = calloc(1, sizeof(*r)))) {
			if (nap(m, 1000))
				break;
			continue;
		}
		r->ts_ms = wall_ms();
		if (m->fd < 0 && open_port(m, r->reason, sizeof(r->reason)) < 0) {
			r->gone = 1;
			/* one report per outage; then retry with a capped backoff */
			if (!said_gone)
				post_result(m, r);
			else
				free(r);
			said_gone = 1;
			if (nap(m, backoff))
				break;
			backoff = backoff * 2 > m->backoff_max_ms ? m->backoff_max_ms : backoff * 2;
			continue;
		}
		poll_once(m, r);
		if (r->ok) {
			said_gone = 0;
			backoff = 500;
		}
		if (r->gone && said_gone) {
			free(r);
		} else {
			said_gone |= r->gone;
			post_result(m, r);
		}
		int64_t left = m->poll_interval_ms - (mono_ms() - t0);
		if (nap(m, left > 0 ? left : 0))
			break;
	}
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	return NULL;
}

static void modem_stop_device(struct driver *drv, struct device *dev)
{
	struct modem_drv *md = (struct modem_drv *)drv;
	struct modem *m = dev->drv;

	dev->drv = NULL;
	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	m->stop = 1;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
	/* at most one AT command's timeout: the port is closed when it
	 * returns, so a restarted modem can open it again */
	if (m->started)
		pthread_join(m->thread, NULL);
	m->stopped = 1;             /* results still queued are dropped */
	md->nmodems--;
	modem_unref(m);
}

static int modem_start_device(struct driver *drv, struct device *dev)
{
	struct modem_drv *md = (struct modem_drv *)drv;
	const struct profile *p = dev->conf->profile;
	struct modem *m;

	if (!(m = calloc(1, sizeof(*m))))
		return -ENOMEM;
	m->refs = 1;
	m->sink = drv->sink;
	m->dev = dev;
	m->c = dev->conf->drv;
	m->fd = -1;
	m->baud = m->c->baud;
	m->gnss = m->c->gnss;
	m->timeout_ms = dev->conf->timeout_ms;
	m->poll_interval_ms = dev->conf->poll_interval_ms;
	m->backoff_max_ms = dev->conf->backoff_max_ms;
	pthread_mutex_init(&m->mu, NULL);
	if (clock_cond_init(&m->cv) < 0 || !(m->port = strdup(m->c->port))) {
		pthread_mutex_destroy(&m->mu);
		free(m);
		return log_error(-ENOMEM, "modem %s: out of memory", dev->conf->name);
	}
	for (size_t r = 0; r < 64; r++) {
		m->map[r] = -1;
		for (int k = 0; r < p->nregs && k < M_N; k++)
			if (!strcmp(p->regs[r].metric, metric_names[k]))
				m->map[r] = k;
	}
	dev->drv = m;
	md->nmodems++;
	if (sink_polling(drv->sink)) {
		if (pthread_create(&m->thread, NULL, worker, m) != 0) {
			modem_stop_device(drv, dev);
			return log_error(-EAGAIN, "modem %s: cannot start its thread", dev->conf->name);
		}
		m->started = 1;
	}
	log_info("modem %s: polling %s every %d ms", dev->conf->name, m->port, m->poll_interval_ms);
	return 0;
}

static void modem_move_device(struct driver *drv, struct device *dev)
{
	struct modem *m = dev->drv;

	if (!m)
		return;
	m->dev = dev;
	m->c = dev->conf->drv;
}

static void modem_settle(struct driver *drv)
{
	struct modem_drv *md = (struct modem_drv *)drv;

	if (!md->settled && md->nmodems)
		log_info("modem: %zu modems", md->nmodems);
	md->settled = 1;
}

static int modem_new(struct driver **out, struct sink *sink)
{
	struct modem_drv *md = calloc(1, sizeof(*md));

	if (!md)
		return -ENOMEM;
	*out = &md->base;
	return 0;
}

/* Every modem was stopped by the gateway before. */
static void modem_free(struct driver *drv)
{
	free(drv);
}

static void modem_check(struct conf_ctx *ctx, const struct device_conf *dev)
{
	struct modem_conf *c = dev->drv;

	conf_resolve_path(ctx, &c->port);   /* relative to the config file */

	if (!baud_flag(c->baud))
		conf_error(ctx, &dev->at, _("device %s: baud must be 9600, 19200, 38400, 57600, 115200, 230400, 460800 or 921600 (got %d)"),
			   dev->name ? dev->name : "?", c->baud);
	if (isfinite(c->lat) != isfinite(c->lon))
		conf_error(ctx, &dev->at, _("device %s: give both lat and lon, or neither (the gateway's)"), dev->name ? dev->name : "?");
	if (c->operator_name && !survey_valid_operator(c->operator_name))
		conf_error(ctx, &dev->at, _("device %s: operator must be 1..31 letters, digits, ' ', '-', '_' or '.'"),
			   dev->name ? dev->name : "?");
	if (dev->timeout_ms * 3 >= dev->poll_interval_ms)
		conf_error(ctx, &dev->at, _("device %s: a poll is up to three AT commands of timeout_ms each: poll_interval_ms (%d) must exceed 3 x timeout_ms (%d)"),
			   dev->name ? dev->name : "?", dev->poll_interval_ms, dev->timeout_ms);
	if (dev->profile && dev->profile->nregs > 64)
		conf_error(ctx, &dev->at, _("device %s: a modem profile has at most 64 metrics"), dev->name ? dev->name : "?");
}

const struct driver_ops modem_driver = {
	.name = "modem",
	.opts = modem_opts,
	.conf_size = sizeof(struct modem_conf),
	.check = modem_check,
	.new = modem_new,
	.free = modem_free,
	.start_device = modem_start_device,
	.stop_device = modem_stop_device,
	.move_device = modem_move_device,
	.settle = modem_settle,
};
