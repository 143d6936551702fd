/* Modbus RTU driver: serial buses on libmodbus, one worker thread per bus.
 * The loop schedules each device's polls (fixed slots, offline backoff) and
 * queues them as jobs on its bus; the bus worker, the one arbiter of that
 * line, runs the jobs in order with the inter-frame silence between frames
 * and each unit's own timeout, and hands every result back to the loop
 * through the sink (sink_post). Each unit is started and stopped on its
 * own: a reload that changes one unit leaves its bus and the other buses
 * running (a bus stops with its last unit).
 * A unit that does not answer costs the others its timeout and nothing
 * more: the port is never closed or reset for it. */
#include "modbus_rtu.h"
#include "i18n.h"

#include <errno.h>
#include <event2/event.h>
#include <math.h>
#include <modbus.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "driver.h"
#include "device.h"
#include "devhealth.h"
#include "log.h"
#include "mbap.h"
#include "plan.h"
#include "pollsched.h"
#include "sink.h"

/* reasons are cut to fit their buffers (a device's reason holds 160) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#define ON_TIME_US 50000
#define WRITE_QUEUE_MAX 32
/* A port that cannot be opened is tried again at most this often. */
#define REOPEN_US 1000000

static const struct opt rtu_opts[] = {
	{ "serial", OPT_STRING, offsetof(struct rtu_conf, serial), 0, 0, 0, NULL, 1 },
	{ "baud", OPT_INT, offsetof(struct rtu_conf, baud), 300, 4000000, 9600, NULL, 0 },
	{ "parity", OPT_STRING, offsetof(struct rtu_conf, parity), 0, 0, 0, "N", 0 },
	{ "data_bits", OPT_INT, offsetof(struct rtu_conf, data_bits), 5, 8, 8, NULL, 0 },
	{ "stop_bits", OPT_INT, offsetof(struct rtu_conf, stop_bits), 1, 2, 1, NULL, 0 },
	{ "rs485", OPT_BOOL, offsetof(struct rtu_conf, rs485), 0, 1, 0, NULL, 0 },
	{ "unit", OPT_INT, offsetof(struct rtu_conf, unit), 1, 247, 1, NULL, 0 },
	{ "max_gap", OPT_INT, offsetof(struct rtu_conf, max_gap), 0, 124, 0, NULL, 0 },
	{ "max_regs", OPT_INT, offsetof(struct rtu_conf, max_regs), 1, 125, 125, NULL, 0 },
	{ "frame_gap_ms", OPT_INT, offsetof(struct rtu_conf, frame_gap_ms), 0, 1000, 0, NULL, 0 },
	{ "turnaround_ms", OPT_INT, offsetof(struct rtu_conf, turnaround_ms), 0, 1000, 5, NULL, 0 },
	{ 0 }
};

static const int std_bauds[] = { 300, 600, 1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600,
				 115200, 230400, 460800, 921600, 0 };

unsigned rtu_char_bits(const struct rtu_conf *c)
{
	int parity = c->parity && c->parity[0] != 'N';

	return 1u + (unsigned)c->data_bits + (unsigned)parity + (unsigned)c->stop_bits;
}

long rtu_frame_gap_us(const struct rtu_conf *c)
{
	if (c->frame_gap_ms > 0)
		return c->frame_gap_ms * 1000L;
	if (c->baud > 19200)
		return 1750;
	return (long)ceil(3.5 * rtu_char_bits(c) * 1e6 / c->baud);
}

int modbus_rtu_is(const struct device_conf *dev)
{
	return dev->driver == &modbus_rtu_driver;
}

enum job_kind { JOB_POLL, JOB_WRITE };

struct rtu_bus;
struct rtu;

/* One unit's instance. Its jobs hold references to it: a device stopped
 * (reload, stop) while a job of it is queued, runs on its bus or waits on
 * the loop is marked stopped, and the last reference frees it, on whichever
 * thread drops it. */
struct rtudev {
	struct device *dev;         /* not to be touched once @stopped */
	struct sink *sink;
	const struct rtu_conf *c;
	struct rtu_bus *bus;
	struct event *tick;         /* loop thread; freed at stop */
	int64_t due_us;
	struct dev_health health;
	int polling;                /* a poll job is queued or running */
	int stopped;                /* stop_device ran: its results are dropped */
	int refs;                   /* the driver's, plus one per job (atomic) */
	size_t nwrites;             /* write jobs queued or running */
	/* what the worker reads, copied from the config at start: a job in
	 * flight finishes after the config and the device are gone */
	int unit, timeout_ms, max_gap, max_regs;
	struct reg_def *regs;       /* a shallow copy: the worker uses no strings */
	size_t nregs;
	/* worker-owned while a poll job runs; read by the loop after it */
	struct plan plan;
	unsigned char *no_gap;
	uint16_t *words;
	double *values;
	size_t maxcount;
};

struct job {
	struct job *next;
	enum job_kind kind;
	struct rtudev *d;
	int64_t due_us;             /* the poll's slot */
	int64_t start_us;           /* when the worker began it */
	int64_t wall_ms;
	int ok, partial;
	char reason[224];
	char note[224];             /* logged on the loop (a new read plan) */
	unsigned requests;
	/* writes */
	size_t reg;
	double value;
	uint16_t words[4];
	uint16_t count;
	uint8_t fc;
	int merge_bit;
	gw_write_cb done;
	void *arg;
	int err;
	double readback;
};

struct rtu_bus {
	struct rtu *drv;            /* the instance (a detached bus holds a reference) */
	const struct rtu_conf *c;   /* &line */
	struct rtu_conf line;       /* the first device's line settings, a copy */
	char name[300];             /* "/dev/ttyUSB0 9600 8N1" */
	pthread_t th;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *head, *tail;
	int stop;
	struct job *cur;            /* the job the worker runs (under mu) */
	int detached;               /* stop_bus went on: the worker frees the bus */
	int announced;              /* its units were logged (settle) */
	/* worker only */
	modbus_t *ctx;
	int64_t next_open_us;
	char open_err[224];
	int64_t last_end_us;
	long gap_us;
	unsigned silent;            /* requests in a row that got no reply */
	size_t ndevs;               /* units on it; loop writes, worker reads (atomic) */
	int rs485_warned;
};

/* Ports whose stopped bus's worker still finishes a job (stop_bus): a new
 * bus on the same port waits for it on its own worker, so two contexts
 * never share the line (as root TIOCEXCL would not keep the second out). */
#define MAX_DRAINING 16

/* The driver's instance: its units, their buses, and the ports still
 * draining. It lives until its last detached bus is gone (refs). */
struct rtu {
	struct driver base;
	struct rtudev **devs;
	size_t ndevs;
	struct rtu_bus **buses;
	size_t nbuses;
	int settled;                /* the first settle() spread the first polls */
	int refs;                   /* the gateway's, plus one per detached bus (atomic) */
	pthread_mutex_t drain_mu;
	pthread_cond_t drain_cv;    /* on the monotonic clock */
	const struct rtu_bus *draining[MAX_DRAINING];
};

static void rtu_unref(struct rtu *t)
{
	if (__atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL))
		return;
	pthread_mutex_destroy(&t->drain_mu);
	pthread_cond_destroy(&t->drain_cv);
	free(t->devs);
	free(t->buses);
	free(t);
}

/* ---------- worker side ---------- */

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (us > 0 && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int port_draining(const struct rtu_bus *self, const char *path)
{
	for (int i = 0; i < MAX_DRAINING; i++) {
		const struct rtu_bus *o = self->drv->draining[i];
		if (o && o != self && !strcmp(o->line.serial, path))
			return 1;
	}
	return 0;
}

/* On @self's worker: wait (at most @max_ms) until no other, stopped bus
 * holds @path. */
static void wait_port(const struct rtu_bus *self, const char *path, int max_ms)
{
	struct rtu *t = self->drv;
	struct timespec until;

	clock_deadline(&until, max_ms);
	pthread_mutex_lock(&t->drain_mu);
	while (port_draining(self, path) && pthread_cond_timedwait(&t->drain_cv, &t->drain_mu, &until) == 0)
		;
	pthread_mutex_unlock(&t->drain_mu);
}

static void set_draining(const struct rtu_bus *b, int on)
{
	struct rtu *t = b->drv;

	pthread_mutex_lock(&t->drain_mu);
	for (int i = 0; i < MAX_DRAINING; i++) {
		if (on && !t->draining[i]) {
			t->draining[i] = b;
			break;
		}
		if (!on && t->draining[i] == b)
			t->draining[i] = NULL;
	}
	pthread_cond_broadcast(&t->drain_cv);
	pthread_mutex_unlock(&t->drain_mu);
}

static int bus_open(struct rtu_bus *b, char *why, size_t len)
{
	const struct rtu_conf *c = b->c;
	int64_t now;

	if (b->ctx)
		return 0;
	/* a reload during a job: the old worker ends it first (at most a
	 * read's timeout and its retries) */
	wait_port(b, c->serial, 10000);
	now = mono_us();
	if (now < b->next_open_us) {
		snprintf(why, len, "%s", b->open_err);
		return -EIO;
	}
	b->next_open_us = now + REOPEN_US;
	b->ctx = modbus_new_rtu(c->serial, c->baud, c->parity[0], c->data_bits, c->stop_bits);
	if (!b->ctx) {
		snprintf(b->open_err, sizeof(b->open_err), "cannot set up %s: %s", b->name, modbus_strerror(errno));
		goto fail;
	}
	if (modbus_connect(b->ctx) < 0) {
		snprintf(b->open_err, sizeof(b->open_err), "cannot open %s: %s", c->serial, modbus_strerror(errno));
		modbus_free(b->ctx);
		b->ctx = NULL;
		goto fail;
	}
	modbus_flush(b->ctx);   /* whatever the line held before we came */
	/* ours alone: a probe or a second gateway opening it now gets EBUSY
	 * instead of stealing replies */
	if (ioctl(modbus_get_socket(b->ctx), TIOCEXCL) < 0)
		log_debug("modbus-rtu %s: TIOCEXCL: %s", b->name, strerror(errno));
	if (c->rs485 && modbus_rtu_set_serial_mode(b->ctx, MODBUS_RTU_RS485) < 0 && !b->rs485_warned) {
		/* many USB adapters switch direction by themselves */
		log_warn("modbus-rtu %s: the port does not take RS-485 mode (%s); the adapter must switch "
			 "direction itself", b->name, modbus_strerror(errno));
		b->rs485_warned = 1;
	}
	log_info("modbus-rtu %s: open", b->name);
	b->open_err[0] = 0;
	return 0;
fail:
	snprintf(why, len, "%s", b->open_err);
	return -EIO;
}

/* Keep the silence between the end of the last frame and the next one. */
static void frame_gap(struct rtu_bus *b)
{
	long left = (long)(b->last_end_us + b->gap_us - mono_us());

	if (left > 0)
		sleep_us(left);
}

static void describe(struct rtu_bus *b, int e, int timeout_ms, char *buf, size_t len)
{
	if (e >= EMBXILFUN && e <= EMBXGTAR) {
		unsigned code = (unsigned)(e - MODBUS_ENOBASE);
		snprintf(buf, len, "exception 0x%02x (%s)", code, mbap_exception_str((uint8_t)code));
	} else if (e == ETIMEDOUT) {
		/* every unit of the bus silent: the line, not the unit */
		if (b->silent >= 2 * __atomic_load_n(&b->ndevs, __ATOMIC_RELAXED) + 1)
			snprintf(buf, len, "no reply within %d ms (no unit on %s answers: check baud rate, parity, "
				 "A/B wiring and termination)", timeout_ms, b->c->serial);
		else
			snprintf(buf, len, "no reply within %d ms", timeout_ms);
	} else if (e == EMBBADCRC) {
		snprintf(buf, len, "CRC error in the reply: wrong baud rate or parity (bus set to %s), or noise "
			 "on the line", b->name);
	} else if (e == EMBBADSLAVE) {
		snprintf(buf, len, "reply from another unit id (a late reply, or two devices with one id)");
	} else if (e == EMBBADDATA || e == EMBMDATA) {
		snprintf(buf, len, "garbled reply (%s)", modbus_strerror(e));
	} else {
		snprintf(buf, len, "%s", modbus_strerror(e));
	}
}

static void set_unit(struct rtu_bus *b, const struct rtudev *d)
{
	int to = d->timeout_ms;
	/* between two bytes of one reply: a few characters, at least 20 ms */
	long byte_us = (long)(10.0 * rtu_char_bits(b->c) * 1e6 / b->c->baud);

	if (byte_us < 20000)
		byte_us = 20000;
	modbus_set_slave(b->ctx, d->unit);
	modbus_set_response_timeout(b->ctx, (uint32_t)(to / 1000), (uint32_t)(to % 1000) * 1000);
	modbus_set_byte_timeout(b->ctx, (uint32_t)(byte_us / 1000000), (uint32_t)(byte_us % 1000000));
}

/* One read (or write) on the line, with the gap before it; returns libmodbus's
 * result with errno kept. */
static int do_read(struct rtu_bus *b, enum reg_table t, int addr, int n, uint16_t *out)
{
	uint8_t bits[PLAN_MAX_BITS];
	int rc, e;

	frame_gap(b);
	switch (t) {
	case TABLE_COIL: rc = modbus_read_bits(b->ctx, addr, n, bits); break;
	case TABLE_DISCRETE: rc = modbus_read_input_bits(b->ctx, addr, n, bits); break;
	case TABLE_INPUT: rc = modbus_read_input_registers(b->ctx, addr, n, out); break;
	default: rc = modbus_read_registers(b->ctx, addr, n, out); break;
	}
	e = errno;
	b->last_end_us = mono_us();
	if (rc > 0 && reg_table_is_bits(t))
		for (int i = 0; i < rc; i++)
			out[i] = bits[i] ? 1 : 0;
	if (rc < 0 && e != ETIMEDOUT && !(e >= MODBUS_ENOBASE && e < MODBUS_ENOBASE + 100)) {
		/* not Modbus but the port (an adapter unplugged: EIO, ENXIO):
		 * close it, the next job opens it again */
		log_warn("modbus-rtu %s: %s; closing the port", b->name, modbus_strerror(e));
		modbus_close(b->ctx);
		modbus_free(b->ctx);
		b->ctx = NULL;
	} else if (rc < 0) {
		b->silent = e == ETIMEDOUT ? b->silent + 1 : 0;
		/* drop what a late or garbled answer left in the buffer */
		modbus_flush(b->ctx);
	} else {
		b->silent = 0;
	}
	errno = e;
	return rc;
}

static void run_poll(struct rtu_bus *b, struct job *j)
{
	struct rtudev *d = j->d;
	/* the copies in d only: the config may be gone (rtu_stop) */
	const struct { const struct reg_def *regs; size_t nregs; } pc = { d->regs, d->nregs }, *p = &pc;
	int reads_ok = 0, reads_failed = 0;
	char partial[224] = "";

	for (size_t i = 0; i < p->nregs; i++)
		d->values[i] = NAN;
	j->start_us = mono_us();
	j->wall_ms = wall_ms();
	if (bus_open(b, j->reason, sizeof(j->reason)) < 0)
		return;
	set_unit(b, d);
	for (size_t cur = 0; cur < d->plan.nreads; cur++) {
		const struct plan_read *r = &d->plan.reads[cur];
		int rc = do_read(b, r->table, r->start, r->count, d->words);
		int e = errno;

		j->requests++;
		if (rc == (int)r->count) {
			for (size_t k = 0; k < r->nregs; k++) {
				size_t idx = d->plan.order[r->first + k];
				const struct reg_def *rd = &p->regs[idx];
				d->values[idx] = reg_def_value(rd, d->words + (rd->address - r->start));
			}
			reads_ok++;
			continue;
		}
		if (rc >= 0)
			e = EMBBADDATA;
		if (e == EMBXILADD && plan_read_has_gap(&d->plan, r, p->regs)) {
			/* refused across a gap: no gaps there from now on, and
			 * this poll starts over with the new plan */
			struct plan np;
			unsigned count = r->count, start = r->start;
			enum reg_table t = r->table;
			for (size_t k = 0; k < r->nregs; k++)
				d->no_gap[d->plan.order[r->first + k]] = 1;
			if (plan_build_ex(&np, p->regs, p->nregs, (unsigned)d->max_gap, (unsigned)d->max_regs,
					  d->no_gap) < 0) {
				snprintf(j->reason, sizeof(j->reason), "out of memory");
				return;
			}
			plan_release(&d->plan);
			d->plan = np;
			snprintf(j->note, sizeof(j->note), "exception 0x02 for %u %s from 0x%04x across unused addresses: "
				 "reading that range without gaps from now on (%zu requests per poll)", count,
				 reg_table_name(t), start, d->plan.nreads);
			reads_ok = reads_failed = 0;
			cur = (size_t)-1;
			continue;
		}
		char why[192];
		describe(b, e, d->timeout_ms, why, sizeof(why));
		if (e >= EMBXILFUN && e <= EMBXGTAR && !(e == EMBXGPATH || e == EMBXGTAR)) {
			/* it answers, only not this read */
			reads_failed++;
			snprintf(partial, sizeof(partial), "%s reading %u %s at 0x%04x", why, r->count,
				 reg_table_name(r->table), r->start);
			continue;
		}
		snprintf(j->reason, sizeof(j->reason), "%s reading %u %s at 0x%04x", why, r->count,
			 reg_table_name(r->table), r->start);
		return;
	}
	if (!reads_ok) {
		snprintf(j->reason, sizeof(j->reason), "%s", partial);
		return;
	}
	j->ok = 1;
	j->partial = reads_failed > 0;
	if (j->partial)
		snprintf(j->reason, sizeof(j->reason), "%s", partial);
}

static void run_write(struct rtu_bus *b, struct job *j)
{
	const struct reg_def *d = &j->d->regs[j->reg];
	uint16_t rb[4] = { 0 };
	uint8_t bits[1];
	const char *what = "writing";
	char why[192];
	int rc;

	j->readback = NAN;
	if (bus_open(b, j->reason, sizeof(j->reason)) < 0) {
		j->err = -EIO;
		return;
	}
	set_unit(b, j->d);
	if (j->merge_bit) {
		what = "reading before a bit write";
		if (do_read(b, TABLE_HOLDING, d->address, 1, rb) != 1)
			goto fail;
		uint16_t mask = (uint16_t)(1u << d->bit);
		j->words[0] = (uint16_t)((rb[0] & ~mask) | (j->words[0] ? mask : 0));
	}
	what = "writing";
	frame_gap(b);
	switch (j->fc) {
	case 5: rc = modbus_write_bit(b->ctx, d->address, j->words[0]); break;
	case 6: rc = modbus_write_register(b->ctx, d->address, j->words[0]); break;
	case 15: bits[0] = (uint8_t)j->words[0]; rc = modbus_write_bits(b->ctx, d->address, 1, bits); break;
	default: rc = modbus_write_registers(b->ctx, d->address, j->count, j->words); break;
	}
	int e = errno;
	b->last_end_us = mono_us();
	if (rc < 0) {
		if (e != ETIMEDOUT && !(e >= MODBUS_ENOBASE && e < MODBUS_ENOBASE + 100)) {
			modbus_close(b->ctx);
			modbus_free(b->ctx);
			b->ctx = NULL;
		} else {
			modbus_flush(b->ctx);
		}
		errno = e;
		goto fail;
	}
	what = "reading back";
	if (do_read(b, d->table, d->address, j->count, rb) != j->count)
		goto fail;
	j->readback = reg_def_value(d, rb);
	int same = j->merge_bit ? ((rb[0] ^ j->words[0]) >> d->bit & 1) == 0
				: !memcmp(rb, j->words, j->count * sizeof(*rb));
	if (!same) {
		snprintf(j->reason, sizeof(j->reason), "read back %.10g after writing %.10g", j->readback, j->value);
		j->err = -EIO;
		return;
	}
	j->err = 0;
	return;
fail:
	e = errno;
	describe(b, e, j->d->timeout_ms, why, sizeof(why));
	snprintf(j->reason, sizeof(j->reason), "%s %s %s 0x%04x (function %u)", why, what,
		 reg_table_name(d->table), d->address,
		 !strcmp(what, "writing") ? j->fc : mbap_read_fc(strcmp(what, "reading back") ? TABLE_HOLDING : d->table));
	j->err = e == ETIMEDOUT ? -ETIMEDOUT : (e >= EMBXILFUN && e <= EMBXGTAR) ? -EREMOTEIO : -EIO;
}

static void job_done(void *arg);
static void job_free(void *arg);
static void release_bus(struct rtu_bus *b);

static void dev_ref(struct rtudev *d)
{
	__atomic_add_fetch(&d->refs, 1, __ATOMIC_RELAXED);
}

static void free_rtudev(struct rtudev *d)
{
	if (d->tick)
		event_free(d->tick);
	plan_release(&d->plan);
	free(d->no_gap);
	free(d->words);
	free(d->values);
	free(d->regs);
	free(d);
}

/* Any thread: the last reference frees the unit (its timer is gone by
 * then: stop_device frees it on the loop). */
static void dev_unref(struct rtudev *d)
{
	if (!__atomic_sub_fetch(&d->refs, 1, __ATOMIC_ACQ_REL))
		free_rtudev(d);
}

static void *bus_main(void *arg)
{
	struct rtu_bus *b = arg;

	pthread_mutex_lock(&b->mu);
	for (;;) {
		while (!b->head && !b->stop)
			pthread_cond_wait(&b->cv, &b->mu);
		if (b->stop)
			break;
		struct job *j = b->head;
		b->head = j->next;
		if (!b->head)
			b->tail = NULL;
		b->cur = j;
		pthread_mutex_unlock(&b->mu);
		if (j->kind == JOB_POLL)
			run_poll(b, j);
		else
			run_write(b, j);
		pthread_mutex_lock(&b->mu);
		b->cur = NULL;
		if (b->stop) {
			/* stopped meanwhile: the loop has gone on (a write was
			 * answered then); the result is dropped */
			dev_unref(j->d);
			free(j);
			break;
		}
		/* a unit stopped meanwhile: job_done drops it on the loop */
		if (sink_post(b->drv->base.sink, job_done, j, job_free) < 0)
			job_free(j);
	}
	int detached = b->detached;
	pthread_mutex_unlock(&b->mu);
	if (b->ctx) {
		modbus_close(b->ctx);
		modbus_free(b->ctx);
		b->ctx = NULL;
	}
	if (detached) {
		/* stop_bus did not wait for the job in flight: the bus is ours
		 * to free; the port is free for the next bus */
		struct rtu *t = b->drv;
		set_draining(b, 0);
		release_bus(b);
		rtu_unref(t);
	}
	return NULL;
}

/* ---------- loop side ---------- */

static void post_job(struct rtu_bus *b, struct job *j)
{
	pthread_mutex_lock(&b->mu);
	if (b->tail)
		b->tail->next = j;
	else
		b->head = j;
	b->tail = j;
	pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

/* A job that never ran or whose result was dropped: a write still owes
 * its caller an answer. */
static void job_free(void *arg)
{
	struct job *j = arg;

	if (j->kind == JOB_WRITE && j->done)
		j->done(j->arg, -ECANCELED, NAN, "the gateway is stopping");
	dev_unref(j->d);
	free(j);
}

static void job_done(void *arg)
{
	struct job *j = arg;
	struct rtudev *d = j->d;

	sink_count(d->sink, SINK_REQUESTS, j->requests);
	if (d->stopped) {           /* stopped (a reload) after the job ran */
		job_free(j);
		return;
	}
	if (j->kind == JOB_WRITE) {
		const char *metric = d->dev->conf->profile->regs[j->reg].metric;
		d->nwrites--;
		if (j->err)
			log_warn("modbus %s: write %s = %g failed: %s", d->dev->conf->name, metric, j->value, j->reason);
		else
			log_info("modbus %s: wrote %s = %g (read back %g)", d->dev->conf->name, metric, j->value,
				 j->readback);
		j->done(j->arg, j->err, j->readback, j->err ? j->reason : NULL);
		j->done = NULL;
		job_free(j);
		return;
	}
	int64_t late = j->start_us - j->due_us;
	int64_t slack = (int64_t)d->dev->conf->poll_interval_ms * 50;
	if (j->note[0])
		log_warn("modbus %s: %s", d->dev->conf->name, j->note);
	d->polling = 0;
	sink_poll_started(d->sink, d->dev, late);
	sink_poll_done(d->sink, d->dev, j->wall_ms, d->values, j->ok,
		       late <= (slack > ON_TIME_US ? slack : ON_TIME_US), j->reason);
	health_poll_done(d->sink, d->dev, &d->health, j->ok, j->partial, j->reason);
	job_free(j);
}

static void schedule_next(struct rtudev *d)
{
	struct timeval tv;
	unsigned skipped = poll_schedule_next(&d->due_us, (int64_t)d->dev->conf->poll_interval_ms * 1000,
					      mono_us(), &tv);

	sink_count(d->sink, SINK_SCHEDULED, skipped);
	sink_count(d->sink, SINK_SKIPPED_BUSY, skipped);
	d->dev->due_us = d->due_us;
	evtimer_add(d->tick, &tv);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct rtudev *d = arg;

	sink_count(d->sink, SINK_SCHEDULED, 1);
	if (d->polling) {
		sink_count(d->sink, SINK_SKIPPED_BUSY, 1);   /* the bus is behind: see `wardgw check` */
	} else if (health_backing_off(&d->health, mono_us())) {
		sink_count(d->sink, SINK_SKIPPED_OFFLINE, 1);
	} else {
		struct job *j = calloc(1, sizeof(*j));
		if (j) {
			j->kind = JOB_POLL;
			j->d = d;
			j->due_us = d->due_us;
			d->polling = 1;
			dev_ref(d);
			post_job(d->bus, j);
		}
	}
	schedule_next(d);
}

static int rtu_write(struct driver *drv, struct device *dev, size_t reg, double value,
		     gw_write_cb done, void *arg)
{
	struct rtudev *d = dev->drv;
	const struct profile *p = dev->conf->profile;
	const struct reg_def *r;
	struct job *j;
	int ret;

	if (!d || d->stopped || reg >= p->nregs)
		return -EINVAL;
	r = &p->regs[reg];
	if (r->table != TABLE_HOLDING && r->table != TABLE_COIL)
		return -EACCES;
	if (d->nwrites >= WRITE_QUEUE_MAX)
		return -EBUSY;
	if (!(j = calloc(1, sizeof(*j))))
		return -ENOMEM;
	if ((ret = reg_def_encode(r, value, j->words)) < 0) {
		free(j);
		return ret;
	}
	j->kind = JOB_WRITE;
	j->d = d;
	j->reg = reg;
	j->value = value;
	j->done = done;
	j->arg = arg;
	j->count = (uint16_t)reg_type_words(r->type);
	if (r->table == TABLE_COIL) {
		j->fc = p->write_function == 16 ? 15 : 5;
	} else {
		j->merge_bit = r->type == TYPE_BIT;
		j->fc = j->count == 1 && p->write_function != 16 ? 6 : 16;
	}
	d->nwrites++;
	dev_ref(d);
	post_job(d->bus, j);
	return 0;
}

/* What a bus holds, its thread gone (joined, or exiting by itself). */
static void release_bus(struct rtu_bus *b)
{
	while (b->head) {
		struct job *j = b->head;
		b->head = j->next;
		job_free(j);
	}
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cv);
	free(b->line.serial);
	free(b->line.parity);
	free(b);
}

/* Stop @b, its last unit gone, without waiting on the loop for a job in
 * flight (a read that times out takes timeout_ms, a poll several): its
 * worker finishes it on the unit's copies, drops it and frees the bus
 * itself, holding a reference to the instance (the draining ports).
 * Queued jobs are dropped (a write gets -ECANCELED). */
static void stop_bus(struct rtu_bus *b)
{
	struct job *queued;
	gw_write_cb wdone = NULL;
	void *warg = NULL;
	int busy;

	if (!b->started) {
		release_bus(b);
		return;
	}
	pthread_mutex_lock(&b->mu);
	b->stop = 1;
	queued = b->head;
	b->head = b->tail = NULL;
	busy = b->cur != NULL;
	if (busy) {
		/* before the worker can see it detached (it clears both when
		 * done): a reference on the instance, and the port draining */
		b->detached = 1;
		__atomic_add_fetch(&b->drv->refs, 1, __ATOMIC_RELAXED);
		set_draining(b, 1);
		if (b->cur->kind == JOB_WRITE) {
			wdone = b->cur->done;
			warg = b->cur->arg;
			b->cur->done = NULL;
		}
	}
	pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->mu);
	/* answered outside the lock: the answer may write again */
	if (wdone)
		wdone(warg, -ECANCELED, NAN, "the gateway is stopping");
	while (queued) {
		struct job *j = queued;
		queued = j->next;
		job_free(j);
	}
	if (busy) {
		pthread_detach(b->th);
		return;
	}
	pthread_join(b->th, NULL);  /* it was waiting for work: at once */
	release_bus(b);
}

/* The bus on @c's serial path, made and its worker started if new. */
static struct rtu_bus *bus_for(struct rtu *t, const struct rtu_conf *c)
{
	struct rtu_bus *b;

	for (size_t i = 0; i < t->nbuses; i++)
		if (!strcmp(t->buses[i]->c->serial, c->serial))
			return t->buses[i];
	struct rtu_bus **nb = realloc(t->buses, (t->nbuses + 1) * sizeof(*nb));
	if (!nb)
		return NULL;
	t->buses = nb;
	if (!(b = calloc(1, sizeof(*b))))
		return NULL;
	b->drv = t;
	b->line = *c;
	b->line.serial = strdup(c->serial);
	b->line.parity = strdup(c->parity ? c->parity : "N");
	b->c = &b->line;
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
	if (!b->line.serial || !b->line.parity) {
		release_bus(b);
		return NULL;
	}
	b->gap_us = rtu_frame_gap_us(c);
	snprintf(b->name, sizeof(b->name), "%s %d %d%s%d", c->serial, c->baud, c->data_bits, c->parity, c->stop_bits);
	/* signals are the loop's: the bus thread starts with them blocked */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&b->th, NULL, bus_main, b);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		log_err("modbus-rtu %s: cannot start its thread", b->name);
		release_bus(b);
		return NULL;
	}
	b->started = 1;
	t->buses[t->nbuses++] = b;
	return b;
}

/* Arm @d's first poll @first_us from now. */
static void arm_first(struct rtudev *d, int64_t first_us)
{
	struct timeval tv = { (time_t)(first_us / 1000000), (suseconds_t)(first_us % 1000000) };

	d->due_us = d->dev->due_us = mono_us() + first_us;
	if (sink_polling(d->sink))
		evtimer_add(d->tick, &tv);
}

/* Take @d off its bus (queued jobs dropped, a write in flight answered
 * -ECANCELED; a poll in flight is dropped when it comes back) and out of
 * the instance; the bus stops with its last unit. Loop thread. */
static void stop_unit(struct rtu *t, struct rtudev *d)
{
	struct rtu_bus *b;
	struct job *mine = NULL, **pp;
	gw_write_cb wdone = NULL;
	void *warg = NULL;

	d->stopped = 1;
	if (d->tick)
		event_free(d->tick);
	d->tick = NULL;
	for (size_t i = 0; i < t->ndevs; i++)
		if (t->devs[i] == d) {
			t->devs[i] = t->devs[--t->ndevs];
			break;
		}
	if ((b = d->bus)) {
		pthread_mutex_lock(&b->mu);
		for (pp = &b->head; *pp;) {
			struct job *j = *pp;
			if (j->d != d) {
				pp = &j->next;
				continue;
			}
			*pp = j->next;
			j->next = mine;
			mine = j;
		}
		b->tail = NULL;
		for (struct job *j = b->head; j; j = j->next)
			b->tail = j;
		if (b->cur && b->cur->d == d && b->cur->kind == JOB_WRITE) {
			wdone = b->cur->done;
			warg = b->cur->arg;
			b->cur->done = NULL;
		}
		pthread_mutex_unlock(&b->mu);
		while (mine) {
			struct job *j = mine;
			mine = j->next;
			job_free(j);
		}
		if (wdone)
			wdone(warg, -ECANCELED, NAN, "the device is stopping");
		if (!__atomic_sub_fetch(&b->ndevs, 1, __ATOMIC_RELAXED)) {
			for (size_t i = 0; i < t->nbuses; i++)
				if (t->buses[i] == b) {
					t->buses[i] = t->buses[--t->nbuses];
					break;
				}
			stop_bus(b);
		}
	}
	dev_unref(d);
}

static void rtu_stop_device(struct driver *drv, struct device *dev)
{
	struct rtudev *d = dev->drv;

	/* first: a write cancelled below may be answered by writing again
	 * (the lighting schedule does); rtu_write() then refuses it */
	dev->drv = NULL;
	if (d)
		stop_unit((struct rtu *)drv, d);
}

/* Create @dev's unit on the bus of its serial path (the bus made if it is
 * the first). Its first poll: on its old slots when a reload restarts it;
 * at start-up spread over one interval per bus by settle(); added by a
 * reload: soon. */
static int rtu_start_device(struct driver *drv, struct device *dev)
{
	struct rtu *t = (struct rtu *)drv;
	const struct profile *p = dev->conf->profile;
	struct rtudev *d, **nl;
	int ret = -ENOMEM;

	if (!(d = calloc(1, sizeof(*d))))
		return -ENOMEM;
	if (!(nl = realloc(t->devs, (t->ndevs + 1) * sizeof(*nl)))) {
		free(d);
		return -ENOMEM;
	}
	t->devs = nl;
	t->devs[t->ndevs++] = d;
	d->refs = 1;
	d->dev = dev;
	d->sink = drv->sink;
	d->c = dev->conf->drv;
	dev->drv = d;
	d->unit = d->c->unit;
	d->timeout_ms = dev->conf->timeout_ms;
	d->max_gap = d->c->max_gap;
	d->max_regs = d->c->max_regs;
	d->nregs = p->nregs;
	if (!(d->regs = malloc((p->nregs ? p->nregs : 1) * sizeof(*d->regs))))
		goto fail;
	memcpy(d->regs, p->regs, p->nregs * sizeof(*d->regs));
	d->no_gap = calloc(p->nregs ? p->nregs : 1, 1);
	if (!d->no_gap)
		goto fail;
	if ((ret = plan_build_ex(&d->plan, p->regs, p->nregs, (unsigned)d->c->max_gap,
				 (unsigned)d->c->max_regs, NULL)) < 0)
		goto fail;
	ret = -ENOMEM;
	/* room for the widest read any later plan can have */
	d->maxcount = PLAN_MAX_BITS;
	d->words = calloc(d->maxcount, sizeof(*d->words));
	d->values = calloc(p->nregs ? p->nregs : 1, sizeof(*d->values));
	d->tick = evtimer_new(sink_base(drv->sink), on_tick, d);
	if (!d->words || !d->values || !d->tick)
		goto fail;
	if (!(d->bus = bus_for(t, d->c))) {
		ret = -EAGAIN;
		goto fail;
	}
	__atomic_add_fetch(&d->bus->ndevs, 1, __ATOMIC_RELAXED);
	int64_t now = mono_us();
	int64_t resume = poll_schedule_resume(dev->due_us, now, (int64_t)dev->conf->poll_interval_ms * 1000);
	if (resume)
		arm_first(d, resume - now);
	else if (t->settled)
		arm_first(d, 50000 + (int64_t)(dev->index % 20) * 10000);
	return 0;
fail:
	rtu_stop_device(drv, dev);
	return ret;
}

static void rtu_move_device(struct driver *drv, struct device *dev)
{
	struct rtudev *d = dev->drv;

	if (!d)
		return;
	d->dev = dev;
	d->c = dev->conf->drv;
}

/* Start-up: the first polls spread over one interval per bus, so a bus
 * is not asked for everything at once; each new bus in the log. */
static void rtu_settle(struct driver *drv)
{
	struct rtu *t = (struct rtu *)drv;
	int first = !t->settled;

	t->settled = 1;
	for (size_t bi = 0; bi < t->nbuses; bi++) {
		struct rtu_bus *b = t->buses[bi];
		size_t k = 0, n = __atomic_load_n(&b->ndevs, __ATOMIC_RELAXED);
		for (size_t i = 0; first && i < t->ndevs; i++) {
			struct rtudev *d = t->devs[i];
			if (d->bus != b || d->due_us)
				continue;
			int64_t interval = (int64_t)d->dev->conf->poll_interval_ms * 1000;
			arm_first(d, interval * (int64_t)k++ / (int64_t)(n ? n : 1));
		}
		if (!b->announced)
			log_info("modbus-rtu %s: %zu units, %ld us between frames", b->name, n, b->gap_us);
		b->announced = 1;
	}
}

static int rtu_new(struct driver **out, struct sink *sink)
{
	struct rtu *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->refs = 1;
	pthread_mutex_init(&t->drain_mu, NULL);
	if (clock_cond_init(&t->drain_cv) < 0) {
		pthread_mutex_destroy(&t->drain_mu);
		free(t);
		return log_error(-ENOMEM, "modbus-rtu: cannot make the drain condition");
	}
	*out = &t->base;
	return 0;
}

/* The gateway stops every unit first; what is left goes here. A bus busy
 * with a job keeps the instance alive until its worker is done. */
static void rtu_free(struct driver *drv)
{
	struct rtu *t = (struct rtu *)drv;

	while (t->ndevs) {
		struct rtudev *d = t->devs[t->ndevs - 1];
		stop_unit(t, d);
	}
	while (t->nbuses)
		stop_bus(t->buses[--t->nbuses]);
	rtu_unref(t);
}

static void rtu_check(struct conf_ctx *ctx, const struct device_conf *dev)
{
	const struct rtu_conf *c = dev->drv;
	const char *nm = dev->name ? dev->name : "?";
	int std = 0;

	if (c->serial && c->serial[0] != '/')
		conf_error(ctx, &dev->at, _("device %s: serial '%s' must be a device path such as /dev/ttyUSB0"), nm,
			   c->serial);
	if (c->parity && (strlen(c->parity) != 1 || !strchr("NEO", c->parity[0])))
		conf_error(ctx, &dev->at, _("device %s: parity must be \"N\" (none), \"E\" (even) or \"O\" (odd), got \"%s\""),
			   nm, c->parity);
	for (const int *b = std_bauds; *b; b++)
		std |= *b == c->baud;
	if (!std)
		conf_error(ctx, &dev->at, _("device %s: baud %d is not a standard rate (1200 2400 4800 9600 19200 38400 "
			   "57600 115200 ...)"), nm, c->baud);
}

/* Devices on one serial path share the line: one set of line settings.
 * (Two devices may name one unit id: two register sets at different
 * intervals.) */
static void rtu_check_all(struct conf_ctx *ctx, const struct gw_config *cfg)
{
	for (size_t i = 0; i < cfg->ndevices; i++) {
		const struct device_conf *a = &cfg->devices[i];
		const struct rtu_conf *ca = a->drv;
		if (a->driver != &modbus_rtu_driver || !ca->serial || !ca->parity)
			continue;
		int compared = 0;
		for (size_t j = 0; j < i; j++) {
			const struct device_conf *b = &cfg->devices[j];
			const struct rtu_conf *cb = b->drv;
			if (b->driver != &modbus_rtu_driver || !cb->serial || !cb->parity || strcmp(ca->serial, cb->serial))
				continue;
			if (compared++)
				break;
			if (ca->baud != cb->baud || strcmp(ca->parity, cb->parity) || ca->data_bits != cb->data_bits ||
			    ca->stop_bits != cb->stop_bits || ca->rs485 != cb->rs485 || ca->frame_gap_ms != cb->frame_gap_ms)
				conf_error(ctx, &a->at, _("device %s: %s is set to %d %d%s%d%s here but %d %d%s%d%s for %s (line %d); "
					   "devices on one bus share its line settings"), a->name, ca->serial, ca->baud,
					   ca->data_bits, ca->parity, ca->stop_bits, ca->rs485 ? " rs485" : "", cb->baud,
					   cb->data_bits, cb->parity, cb->stop_bits, cb->rs485 ? " rs485" : "", b->name,
					   b->at.line);
		}
	}
}

const struct driver_ops modbus_rtu_driver = {
	.name = "modbus-rtu",
	.opts = rtu_opts,
	.conf_size = sizeof(struct rtu_conf),
	.check = rtu_check,
	.check_all = rtu_check_all,
	.new = rtu_new,
	.free = rtu_free,
	.start_device = rtu_start_device,
	.stop_device = rtu_stop_device,
	.move_device = rtu_move_device,
	.settle = rtu_settle,
	.write = rtu_write,
};
