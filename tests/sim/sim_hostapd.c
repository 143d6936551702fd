/* wardgw-sim hostapd: N access points, each a UNIX datagram socket at
 * DIR/wlanK answering like hostapd's control interface (PING, STATUS,
 * STA-FIRST, STA-NEXT, ATTACH, DETACH). A pool of clients per AP (MACs
 * 02:5a:00:KK:II:II) joins and leaves at random every --step-ms for
 * --churn-secs, sending AP-STA-CONNECTED / AP-STA-DISCONNECTED to attached
 * sockets; then the set stays still, and --stats FILE holds the true
 * figures (sessions, ended, unique clients, associated now, bytes) for the
 * tests to compare with. MACs are never printed. While --hang-file FILE
 * exists, STA-NEXT gets no answer (a hostapd that hangs mid-walk). */
#include "sim_hostapd.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAXAP 16
#define MAXCL 64
#define MAXATT 8

struct client {
	int assoc;
	int seen;
	double since;               /* when it associated */
	int64_t bytes_base;
};

struct sim_ap {
	int fd;
	char path[108];
	struct client cl[MAXCL];
	struct sockaddr_un att[MAXATT];
	socklen_t attlen[MAXATT];
	int natt;
	long joins, leaves, unique;
	long attaches, statuses;    /* ATTACH and STATUS requests served (--counters) */
	int disabled;
};

static volatile sig_atomic_t quit;
static void on_sig(int s) { (void)s; quit = 1; }

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static void mac_of(int k, int i, char *out)
{
	sprintf(out, "02:5a:00:%02x:%02x:%02x", k, i >> 8 & 0xff, i & 0xff);
}

static int64_t bytes_of(const struct client *c, int i)
{
	return (int64_t)((now_s() - c->since) * (1000 + 100 * i));
}

static void send_event(struct sim_ap *a, const char *ev)
{
	for (int j = 0; j < a->natt; j++)
		sendto(a->fd, ev, strlen(ev), MSG_DONTWAIT, (struct sockaddr *)&a->att[j], a->attlen[j]);
}

static void sta_text(struct sim_ap *a, int k, int i, char *out, size_t n)
{
	char mac[18];
	struct client *c = &a->cl[i];
	int64_t b = bytes_of(c, i);

	mac_of(k, i, mac);
	snprintf(out, n, "%s\nflags=[AUTH][ASSOC][AUTHORIZED][WMM]\naid=%d\ncapability=0x421\nlisten_interval=10\n"
		 "rx_packets=%lld\ntx_packets=%lld\nrx_bytes=%lld\ntx_bytes=%lld\ninactive_msec=%d\nsignal=%d\n"
		 "rx_rate_info=650 mcs 7 shortGI\nconnected_time=%lld\n",
		 mac, i + 1, (long long)b / 500, (long long)b / 400, (long long)(b / 3), (long long)(b - b / 3),
		 100 + 10 * i, -40 - (i * 7) % 45, (long long)(now_s() - c->since));
}

static void write_stats(const char *path, struct sim_ap *ap, int naps, int nclients)
{
	char tmp[300];
	FILE *f;

	if (!path)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (!(f = fopen(tmp, "w")))
		return;
	fprintf(f, "{\"aps\":[");
	for (int k = 0; k < naps; k++) {
		int now = 0;
		double sig = 0;
		for (int i = 0; i < nclients; i++)
			if (ap[k].cl[i].assoc) {
				now++;
				sig += -40 - (i * 7) % 45;
			}
		fprintf(f, "%s{\"sessions\":%ld,\"ended\":%ld,\"unique\":%ld,\"now\":%d,\"signal_mean\":%.4f}",
			k ? "," : "", ap[k].joins, ap[k].leaves, ap[k].unique, now, now ? sig / now : 0.0);
	}
	fprintf(f, "]}\n");
	fclose(f);
	rename(tmp, path);
}

/* --counters FILE: per AP, the ATTACH and STATUS requests it answered, so
 * that a test can tell a listener that stayed from one that reconnected.
 * Apart from --stats, whose age tells when the churn settled. */
static void write_counters(const char *path, struct sim_ap *ap, int naps)
{
	char tmp[300];
	FILE *f;

	if (!path)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (!(f = fopen(tmp, "w")))
		return;
	fprintf(f, "{\"aps\":[");
	for (int k = 0; k < naps; k++)
		fprintf(f, "%s{\"attaches\":%ld,\"statuses\":%ld}", k ? "," : "", ap[k].attaches, ap[k].statuses);
	fprintf(f, "]}\n");
	fclose(f);
	rename(tmp, path);
}

int sim_hostapd_main(int argc, char **argv)
{
	const char *dir = NULL, *stats = NULL, *hang = NULL, *counters = NULL;
	int naps = 2, nclients = 12, step_ms = 200;
	double churn = 10;
	static struct sim_ap ap[MAXAP];

	for (int i = 1; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end = NULL;
		long n = v ? strtol(v, &end, 10) : 0;
		int okn = v && end && !*end;
		if (!strcmp(o, "--dir") && v) dir = argv[++i];
		else if (!strcmp(o, "--stats") && v) stats = argv[++i];
		else if (!strcmp(o, "--counters") && v) counters = argv[++i];
		else if (!strcmp(o, "--hang-file") && v) hang = argv[++i];
		else if (!strcmp(o, "--aps") && okn && n >= 1 && n <= MAXAP) { naps = (int)n; i++; }
		else if (!strcmp(o, "--clients") && okn && n >= 1 && n <= MAXCL) { nclients = (int)n; i++; }
		else if (!strcmp(o, "--step-ms") && okn && n >= 10 && n <= 60000) { step_ms = (int)n; i++; }
		else if (!strcmp(o, "--churn-secs") && okn && n >= 0 && n <= 1000000) { churn = (double)n; i++; }
		else if (!strcmp(o, "--seed") && okn && n > 0) { rng = (uint64_t)n * 2654435761ULL; i++; }
		else {
			fprintf(stderr, "usage: wardgw-sim hostapd --dir DIR [--aps 2] [--clients 12] [--step-ms 200]\n"
					"         [--churn-secs 10] [--stats FILE] [--counters FILE] [--seed N] [--hang-file FILE]\n");
			return 2;
		}
	}
	if (!dir)
		return fprintf(stderr, "wardgw-sim hostapd: --dir is required\n"), 2;
	signal(SIGINT, on_sig);
	signal(SIGTERM, on_sig);
	for (int k = 0; k < naps; k++) {
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		snprintf(ap[k].path, sizeof(ap[k].path), "%s/wlan%d", dir, k);
		if (strlen(ap[k].path) >= sizeof(a.sun_path))
			return fprintf(stderr, "wardgw-sim hostapd: %s: path too long\n", ap[k].path), 1;
		strcpy(a.sun_path, ap[k].path);
		unlink(ap[k].path);
		if ((ap[k].fd = socket(AF_UNIX, SOCK_DGRAM, 0)) < 0 || bind(ap[k].fd, (struct sockaddr *)&a, sizeof(a)) < 0)
			return fprintf(stderr, "wardgw-sim hostapd: %s: %s\n", ap[k].path, strerror(errno)), 1;
		/* a few clients are there before anyone attaches */
		for (int i = 0; i < 2 && i < nclients; i++) {
			ap[k].cl[i].assoc = ap[k].cl[i].seen = 1;
			ap[k].cl[i].since = now_s() - 60;
			ap[k].unique++;
		}
	}
	write_stats(stats, ap, naps, nclients);
	fprintf(stderr, "wardgw-sim hostapd: %d APs at %s/wlan0..%d, %d clients each, churn for %.0f s; ready\n",
		naps, dir, naps - 1, nclients, churn);
	/* the churn starts 1 s after every AP has an attached listener, so
	 * that the listener sees every event and the figures can be compared */
	double t0 = 0, next = 0;
	struct pollfd pf[MAXAP];
	for (int k = 0; k < naps; k++)
		pf[k] = (struct pollfd){ ap[k].fd, POLLIN, 0 };
	while (!quit) {
		double t = now_s();
		if (!t0) {
			int all = 1;
			for (int k = 0; k < naps; k++)
				all &= ap[k].natt > 0;
			if (all)
				t0 = next = t + 1;
		}
		if (t0 && t >= next && t - t0 < churn) {
			int k = (int)rnd((unsigned)naps), i = (int)rnd((unsigned)nclients);
			struct client *c = &ap[k].cl[i];
			char ev[64], mac[18];
			mac_of(k, i, mac);
			if (!c->assoc) {
				c->assoc = 1;
				c->since = t;
				if (!c->seen)
					ap[k].unique++;
				c->seen = 1;
				ap[k].joins++;
				snprintf(ev, sizeof(ev), "<3>AP-STA-CONNECTED %s", mac);
			} else {
				c->assoc = 0;
				ap[k].leaves++;
				snprintf(ev, sizeof(ev), "<3>AP-STA-DISCONNECTED %s", mac);
			}
			send_event(&ap[k], ev);
			write_stats(stats, ap, naps, nclients);
			next = t + step_ms / 1000.0;
		}
		if (poll(pf, (nfds_t)naps, 20) <= 0)
			continue;
		for (int k = 0; k < naps; k++) {
			struct sockaddr_un from;
			socklen_t fl = sizeof(from);
			char req[128], out[4096];
			ssize_t n;

			if (!(pf[k].revents & POLLIN))
				continue;
			n = recvfrom(ap[k].fd, req, sizeof(req) - 1, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
			if (n <= 0)
				continue;
			req[n] = 0;
			out[0] = 0;
			if (!strcmp(req, "PING")) {
				snprintf(out, sizeof(out), "PONG\n");
			} else if (!strcmp(req, "ATTACH")) {
				if (ap[k].natt < MAXATT) {
					ap[k].att[ap[k].natt] = from;
					ap[k].attlen[ap[k].natt++] = fl;
				}
				ap[k].attaches++;
				write_counters(counters, ap, naps);
				snprintf(out, sizeof(out), "OK\n");
			} else if (!strcmp(req, "DETACH")) {
				snprintf(out, sizeof(out), "OK\n");
			} else if (!strcmp(req, "STATUS")) {
				int nsta = 0;
				ap[k].statuses++;
				write_counters(counters, ap, naps);
				for (int i = 0; i < nclients; i++)
					nsta += ap[k].cl[i].assoc;
				snprintf(out, sizeof(out), "state=%s\nphy=phy%d\nfreq=2437\nnum_sta_non_erp=0\nchannel=6\n"
					 "ieee80211n=1\nbeacon_int=100\nchan_util_avg=%d\nbss[0]=wlan%d\nbssid[0]=02:00:00:00:00:%02x\n"
					 "ssid[0]=Ward-Free-%d\nnum_sta[0]=%d\n", ap[k].disabled ? "DISABLED" : "ENABLED", k,
					 51 * (k + 1) % 256, k, k, k, nsta);
			} else if (!strncmp(req, "STA-NEXT ", 9) && hang && access(hang, F_OK) == 0) {
				continue;       /* hung: no answer at all */
			} else if (!strcmp(req, "STA-FIRST") || !strncmp(req, "STA-NEXT ", 9)) {
				int from_i = 0;
				if (req[4] == 'N') {
					unsigned a2, b2, c2, d2, e2, f2;
					if (sscanf(req + 9, "%x:%x:%x:%x:%x:%x", &a2, &b2, &c2, &d2, &e2, &f2) == 6)
						from_i = (int)(e2 << 8 | f2) + 1;
					else
						from_i = nclients;
				}
				for (int i = from_i; i < nclients; i++)
					if (ap[k].cl[i].assoc) {
						sta_text(&ap[k], k, i, out, sizeof(out));
						break;
					}
			} else {
				snprintf(out, sizeof(out), "UNKNOWN COMMAND\n");
			}
			sendto(ap[k].fd, out, strlen(out), MSG_DONTWAIT, (struct sockaddr *)&from, fl);
		}
	}
	for (int k = 0; k < naps; k++) {
		close(ap[k].fd);
		unlink(ap[k].path);
	}
	return 0;
}
