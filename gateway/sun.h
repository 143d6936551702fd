/* The Sun for the schedules: sunrise, sunset and twilight for a place and a
 * ward day, by the NOAA solar-position equations (after Meeus, "Astronomical
 * Algorithms"), iterated at the event itself. Pure functions, any thread. */
#ifndef WARDGW_SUN_H
#define WARDGW_SUN_H

#include <stdint.h>

/* Altitudes of the Sun's centre that define the events, in degrees. */
#define SUN_ALT_RISESET (-50.0 / 60.0)  /* upper limb at -0°50': refraction + semi-diameter */
#define SUN_ALT_CIVIL   (-6.0)          /* civil twilight */

/* What sun_times() found. */
enum sun_result {
	SUN_OK = 0,
	SUN_ALWAYS_UP = 1,      /* midnight sun: never sets below @alt that day */
	SUN_ALWAYS_DOWN = 2,    /* polar night: never rises above @alt */
};

/**
 * The Sun crossing altitude @alt_deg upwards (*@rise_ms) and downwards
 * (*@set_ms) nearest to @noon_ms (ms since the epoch, give local noon of the
 * day wanted), for WGS84 @lat/@lon in degrees (east positive). Times are ms
 * since the epoch, rounded to the second. Returns SUN_OK, or SUN_ALWAYS_UP /
 * SUN_ALWAYS_DOWN (outputs untouched), or -EINVAL for a bad argument.
 */
int sun_times(double lat, double lon, int64_t noon_ms, double alt_deg, int64_t *rise_ms, int64_t *set_ms);

/** Epoch ms of 12:00 ward time (UTC+7) on civil date @y-@m-@d. */
int64_t ward_noon_ms(int y, int m, int d);

#endif
