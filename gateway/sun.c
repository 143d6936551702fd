/* Sunrise and sunset: the NOAA solar calculator's equations (Meeus ch. 25,
 * 28, low precision: ~0.01° in position, well under a minute in time at the
 * latitudes of Vietnam). The event's hour angle is solved at the event
 * itself by a few fixed-point steps, so a sunrise that falls on the previous
 * UTC day (05:30 in UTC+7) needs no special case. */
#include "sun.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "timeparse.h"

#define DEG (M_PI / 180.0)

struct sunpos {
	double decl;    /* declination, radians */
	double eot_min; /* equation of time, minutes */
};

static double norm360(double x)
{
	x = fmod(x, 360.0);
	return x < 0 ? x + 360.0 : x;
}

static struct sunpos sun_position(int64_t t_ms)
{
	double jd = (double)t_ms / 86400000.0 + 2440587.5;
	double T = (jd - 2451545.0) / 36525.0;
	double L0 = norm360(280.46646 + T * (36000.76983 + T * 0.0003032));
	double M = 357.52911 + T * (35999.05029 - 0.0001537 * T);
	double e = 0.016708634 - T * (0.000042037 + 0.0000001267 * T);
	double C = sin(M * DEG) * (1.914602 - T * (0.004817 + 0.000014 * T)) +
		   sin(2 * M * DEG) * (0.019993 - 0.000101 * T) + sin(3 * M * DEG) * 0.000289;
	double omega = 125.04 - 1934.136 * T;
	double lambda = L0 + C - 0.00569 - 0.00478 * sin(omega * DEG);
	double eps0 = 23.0 + (26.0 + (21.448 - T * (46.815 + T * (0.00059 - T * 0.001813))) / 60.0) / 60.0;
	double eps = eps0 + 0.00256 * cos(omega * DEG);
	double y = tan(eps * DEG / 2);
	struct sunpos p;

	y *= y;
	p.decl = asin(sin(eps * DEG) * sin(lambda * DEG));
	p.eot_min = 4.0 / DEG * (y * sin(2 * L0 * DEG) - 2 * e * sin(M * DEG) +
				 4 * e * y * sin(M * DEG) * cos(2 * L0 * DEG) -
				 0.5 * y * y * sin(4 * L0 * DEG) - 1.25 * e * e * sin(2 * M * DEG));
	return p;
}

/* The Sun's hour angle at @t_ms for longitude @lon, degrees in [-180, 180). */
static double hour_angle(int64_t t_ms, double lon, double eot_min)
{
	double utc_min = fmod((double)t_ms / 60000.0, 1440.0);
	double solar_min = utc_min + eot_min + 4.0 * lon;   /* true solar time */
	double h = fmod(solar_min / 4.0 - 180.0, 360.0);

	return h < -180 ? h + 360 : h >= 180 ? h - 360 : h;
}

static double wrap180(double x)
{
	x = fmod(x, 360.0);
	if (x < -180)
		x += 360;
	if (x >= 180)
		x -= 360;
	return x;
}

/* Move @t to where the hour angle is @want (the hour angle runs 360° in a
 * solar day of 1440 minutes); returns the step in ms. */
static int64_t step_to(int64_t *t, double want, double lon, double eot_min)
{
	int64_t step = (int64_t)llround(wrap180(want - hour_angle(*t, lon, eot_min)) * 4.0 * 60000.0);

	*t += step;
	return step;
}

/* One event: the Sun at altitude @alt going up (@sign -1) or down (+1).
 * First the solar noon nearest @noon_ms, then the event from there: a
 * half-day hour angle near 180° (a summer night at 60° N) cannot flip to
 * the wrong day. */
static int solve(double lat, double lon, int64_t noon_ms, double alt, int sign, int64_t *out)
{
	int64_t t = noon_ms;
	int64_t transit;

	for (int i = 0; i < 3; i++)
		step_to(&t, 0.0, lon, sun_position(t).eot_min);
	transit = t;
	for (int i = 0; i < 6; i++) {
		struct sunpos p = sun_position(t);
		double c = (sin(alt * DEG) - sin(lat * DEG) * sin(p.decl)) / (cos(lat * DEG) * cos(p.decl));
		if (c > 1)
			return SUN_ALWAYS_DOWN;
		if (c < -1)
			return SUN_ALWAYS_UP;
		double want = sign * acos(c) / DEG;          /* hour angle of the event */
		if (i == 0) {
			t = transit + (int64_t)llround(want * 4.0 * 60000.0);
			continue;
		}
		if (llabs(step_to(&t, want, lon, p.eot_min)) < 500)
			break;
	}
	*out = (t + 500) / 1000 * 1000;
	return SUN_OK;
}

int sun_times(double lat, double lon, int64_t noon_ms, double alt_deg, int64_t *rise_ms, int64_t *set_ms)
{
	int64_t r, s;
	int rc;

	if (!(lat >= -90 && lat <= 90) || !(lon >= -180 && lon <= 180) || !(alt_deg > -90 && alt_deg < 90) ||
	    fabs(lat) > 89.99)
		return -EINVAL;
	if ((rc = solve(lat, lon, noon_ms, alt_deg, -1, &r)) != SUN_OK)
		return rc;
	if ((rc = solve(lat, lon, noon_ms, alt_deg, +1, &s)) != SUN_OK)
		return rc;
	*rise_ms = r;
	*set_ms = s;
	return SUN_OK;
}

/* Days from 1970-01-01 to a civil date (proleptic Gregorian). */
static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int64_t ward_noon_ms(int y, int m, int d)
{
	return days_from_civil(y, m, d) * 86400000LL + 12 * 3600000LL - WARD_UTC_OFFSET_MS;
}
