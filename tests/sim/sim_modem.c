/* wardgw-sim modem: a Quectel-like modem on a pseudo-terminal (the slave's
 * path is symlinked at --link, like /dev/serial/by-id/...). It drives along
 * a route through the simulated ward (the survey generator's ward: west to
 * east and back along the middle of row 2, through the 5G dead zone) at
 * --speed m/s, and answers AT, ATE0/ATE1, AT+QENG="servingcell" (EN-DC: a
 * servingcell line, an LTE line and an NR5G-NSA line; --sa: one NR5G-SA
 * line), AT+CESQ and AT+QGPSLOC=2 with signal that depends on the position:
 * NR -121 dBm in the dead zone, about -88 elsewhere; LTE about -95. Echo is
 * on, as after a modem's reset; every 4th reply has a URC mixed in, every
 * 7th AT+CESQ answers +CME ERROR: 100. */
#include "sim_modem.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "sim_survey.h"

#define EARTH_R 6371008.8
#define LAT0 11.8370
#define LON0 106.9930
#define CELL 100.0
#define NX 10
#define NY 8

static volatile sig_atomic_t quit;
static void on_sig(int s) { (void)s; quit = 1; }

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Position along the route at time @t (s since start): x, y in m from the ward's south-west corner. */
static void where(double t, double speed, double *x, double *y)
{
	double len = (NX - 0.4) * CELL, d = fmod(t * speed, 2 * len);

	*x = 0.2 * CELL + (d < len ? d : 2 * len - d);
	*y = 2.5 * CELL;
}

static void reply(int fd, const char *s)
{
	size_t n = strlen(s);

	while (n) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

int sim_modem_main(int argc, char **argv)
{
	const char *link = NULL;
	double speed = 50, t0 = mono();
	int sa = 0, echo = 1, master, slave;
	unsigned replies = 0, cesqs = 0;
	char line[256];
	size_t len = 0;
	struct termios tio;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--link") && i + 1 < argc)
			link = argv[++i];
		else if (!strcmp(argv[i], "--speed") && i + 1 < argc) {
			char *end;
			speed = strtod(argv[++i], &end);
			if (*end || !(speed > 0 && speed < 1000))
				return fprintf(stderr, "wardgw-sim modem: --speed must be 0..1000 m/s\n"), 2;
		} else if (!strcmp(argv[i], "--sa"))
			sa = 1;
		else
			return fprintf(stderr, "usage: wardgw-sim modem --link PATH [--speed M_PER_S] [--sa]\n"), 2;
	}
	if (!link)
		return fprintf(stderr, "wardgw-sim modem: --link PATH is required\n"), 2;
	if ((master = posix_openpt(O_RDWR | O_NOCTTY)) < 0 || grantpt(master) < 0 || unlockpt(master) < 0)
		return fprintf(stderr, "wardgw-sim modem: pty: %s\n", strerror(errno)), 1;
	/* keep a slave open: the master then never reads EIO between clients */
	if ((slave = open(ptsname(master), O_RDWR | O_NOCTTY)) < 0)
		return fprintf(stderr, "wardgw-sim modem: %s: %s\n", ptsname(master), strerror(errno)), 1;
	tcgetattr(slave, &tio);
	cfmakeraw(&tio);
	tcsetattr(slave, TCSANOW, &tio);
	unlink(link);
	if (symlink(ptsname(master), link) < 0)
		return fprintf(stderr, "wardgw-sim modem: symlink %s: %s\n", link, strerror(errno)), 1;
	signal(SIGINT, on_sig);
	signal(SIGTERM, on_sig);
	signal(SIGPIPE, SIG_IGN);
	fprintf(stderr, "wardgw-sim modem: %s -> %s, %s, %.0f m/s along row 2; ready\n", link, ptsname(master),
		sa ? "NR5G-SA" : "EN-DC (LTE + NR5G-NSA)", speed);
	while (!quit) {
		struct pollfd p = { master, POLLIN, 0 };
		char buf[256];
		ssize_t n;

		if (poll(&p, 1, 200) <= 0)
			continue;
		n = read(master, buf, sizeof(buf));
		if (n <= 0) {
			usleep(100000);
			continue;
		}
		for (ssize_t i = 0; i < n; i++) {
			char c = buf[i];
			if (echo)
				reply(master, (char[2]){ c, 0 });
			if (c == '\n')
				continue;
			if (c != '\r') {
				if (len + 1 < sizeof(line))
					line[len++] = c;
				continue;
			}
			line[len] = 0;
			len = 0;
			if (!line[0])
				continue;
			double x, y, lat, lon, nr = -88, lte = -95;
			where(mono() - t0, speed, &x, &y);
			double ky = EARTH_R * M_PI / 180, kx = ky * cos(LAT0 * M_PI / 180);
			lon = LON0 - NX * CELL / 2 / kx + x / kx;
			lat = LAT0 - NY * CELL / 2 / ky + y / ky;
			if (sim_survey_dead((int)(x / CELL), (int)(y / CELL)))
				nr = -121;
			nr += (double)(replies % 3) - 1;
			char out[1024];
			const char *urc = ++replies % 4 == 0 ? "\r\n+CREG: 1\r\n" : "";
			if (!strcmp(line, "AT")) {
				snprintf(out, sizeof(out), "\r\nOK\r\n");
			} else if (!strcmp(line, "ATE0") || !strcmp(line, "ATE1")) {
				echo = line[3] == '1';
				snprintf(out, sizeof(out), "\r\nOK\r\n");
			} else if (!strcmp(line, "AT+QENG=\"servingcell\"")) {
				if (sa)
					snprintf(out, sizeof(out),
						 "\r\n+QENG: \"servingcell\",\"NOCONN\",\"NR5G-SA\",\"TDD\",452,04,E2C6C3001,501,2D,627264,78,12,%.0f,-11,%d,1,-\r\n%s\r\nOK\r\n",
						 nr, nr < -110 ? -2 : 18, urc);
				else
					snprintf(out, sizeof(out),
						 "\r\n+QENG: \"servingcell\",\"CONNECT\"\r\n"
						 "+QENG: \"LTE\",\"FDD\",452,04,2C3E01,88,1850,3,5,5,3A1,%.0f,-10,-65,12,12,150,-\r\n%s"
						 "+QENG: \"NR5G-NSA\",452,04,390,%.0f,%d,-11,643296,78,12,1\r\n\r\nOK\r\n",
						 lte, urc, nr, nr < -110 ? -2 : 18);
			} else if (!strcmp(line, "AT+CESQ")) {
				if (++cesqs % 7 == 0)
					snprintf(out, sizeof(out), "\r\n+CME ERROR: 100\r\n");
				else
					snprintf(out, sizeof(out), "%s\r\n+CESQ: 99,99,255,255,20,%d,60,%d,80\r\n\r\nOK\r\n", urc,
						 (int)lte + 141, (int)nr + 157);
			} else if (!strcmp(line, "AT+QGPSLOC=2")) {
				time_t now = time(NULL);
				struct tm tm;
				gmtime_r(&now, &tm);
				snprintf(out, sizeof(out), "\r\n+QGPSLOC: %02d%02d%02d.000,%.6f,%.6f,0.8,12.0,3,0.00,%.1f,%.1f,%02d%02d%02d,09\r\n\r\nOK\r\n",
					 tm.tm_hour, tm.tm_min, tm.tm_sec, lat, lon, speed * 3.6, speed * 1.944,
					 tm.tm_mday, tm.tm_mon + 1, tm.tm_year % 100);
			} else {
				snprintf(out, sizeof(out), "\r\nERROR\r\n");
			}
			reply(master, out);
		}
	}
	unlink(link);
	close(slave);
	close(master);
	return 0;
}
