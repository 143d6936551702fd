/* Environment benchmark: what the VN_AQI and flood arithmetic costs
 * (gateway/aqi.c, gateway/flood.c), per operation, on this machine.
 *
 *   build/bench-env [-n ROUNDS]
 *
 * hourly   aqi_hourly() of a site measuring all six parameters: two
 *          12-hour NowCasts (PM2.5, PM10) and four sub-indices; one per
 *          site per hour in the gateway
 * daily    the day's inputs from 31 hourly means (24-hour PM means, 1-hour
 *          maxima, 24 eight-hour O3 means) and aqi_daily(); one per site
 *          per day
 * flood    flood_update() of one water-depth reading; one per reading
 * Prints ns per operation (best of 5 runs of ROUNDS operations). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aqi.h"
#include "flood.h"

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static volatile double sink;

int main(int argc, char **argv)
{
	long rounds = 1000000;
	double h[AQI_NPOLL][31];

	for (int i = 1; i + 1 < argc; i += 2)
		if (!strcmp(argv[i], "-n")) {
			char *end;
			rounds = strtol(argv[i + 1], &end, 10);
			if (*end || rounds < 1 || rounds > 1000000000) {
				fprintf(stderr, "bench-env: -n takes 1..1000000000\n");
				return 2;
			}
		}
	for (int p = 0; p < AQI_NPOLL; p++)
		for (int j = 0; j < 31; j++)
			h[p][j] = 20 + 15 * sin(j * 0.7 + p) + (p == AQI_CO ? 5000 : 0);

	double best[3] = { INFINITY, INFINITY, INFINITY };
	for (int run = 0; run < 5; run++) {
		double t0 = now_s(), acc = 0;
		for (long r = 0; r < rounds; r++) {
			const double *hp[AQI_NPOLL];
			struct aqi_result res;
			for (int p = 0; p < AQI_NPOLL; p++)
				hp[p] = h[p] + (r % 19);
			aqi_hourly(hp, &res);
			acc += res.aqi;
		}
		double t1 = now_s();
		for (long r = 0; r < rounds; r++) {
			struct aqi_result res;
			const double *o = h[AQI_O3];
			struct aqi_day_input in = {
				.pm25_24h = aqi_mean(h[AQI_PM25] + 7, 24, 18), .pm10_24h = aqi_mean(h[AQI_PM10] + 7, 24, 18),
				.o3_1h_max = aqi_max(o + 7, 24), .o3_8h_max = aqi_max_8h(o, 6, NULL),
				.co_1h_max = aqi_max(h[AQI_CO] + 7, 24), .so2_1h_max = aqi_max(h[AQI_SO2] + 7, 24),
				.no2_1h_max = aqi_max(h[AQI_NO2] + 7, 24) + (double)(r & 7),
			};
			aqi_daily(&in, &res);
			acc += res.aqi;
		}
		double t2 = now_s();
		struct flood_conf fc = { { 10, 20, 30 }, 3, 2, 15000 };
		struct flood_state fs;
		struct flood_event ev;
		flood_init(&fs);
		for (long r = 0; r < rounds; r++)
			acc += flood_update(&fc, &fs, 1000 + r * 1000, 18 + 16 * sin(r * 0.01), &ev);
		double t3 = now_s();
		sink = acc;
		double t[3] = { t1 - t0, t2 - t1, t3 - t2 };
		for (int k = 0; k < 3; k++)
			if (t[k] < best[k])
				best[k] = t[k];
	}
	printf("bench-env: %ld operations each, best of 5\n", rounds);
	printf("hourly  %8.1f ns per site-hour (aqi_hourly, 6 parameters, 2 NowCasts)\n", best[0] / rounds * 1e9);
	printf("daily   %8.1f ns per site-day (means, maxima, 24 eight-hour means, aqi_daily)\n", best[1] / rounds * 1e9);
	printf("flood   %8.1f ns per water reading (flood_update)\n", best[2] / rounds * 1e9);
	return 0;
}
