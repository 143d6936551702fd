/* Vietnam's air quality index, VN_AQI, as Decision 1459/QĐ-TCMT (Vietnam
 * Environment Administration, 12 Nov 2019) defines it: the breakpoints of
 * its Table 2, the NowCast of the last 12 hourly means for PM, the hourly
 * and the daily AQI, and the six bands of its Table 1 with their names and
 * colours. Pure functions, no state; docs/environment.md cites each rule. */
#ifndef WARDGW_AQI_H
#define WARDGW_AQI_H

#include <stddef.h>

/* The six parameters of the decision, all in µg/m³ (CO too). */
enum aqi_pollutant { AQI_PM25, AQI_PM10, AQI_O3, AQI_CO, AQI_SO2, AQI_NO2, AQI_NPOLL };

/* The columns of the decision's Table 2. */
enum aqi_table { AQI_T_O3_1H, AQI_T_O3_8H, AQI_T_CO, AQI_T_SO2, AQI_T_NO2, AQI_T_PM10, AQI_T_PM25 };

struct aqi_band {
	int index;              /* 1 (Tốt) .. 6 (Nguy hại) */
	int lo, hi;             /* AQI range, inclusive */
	const char *name;       /* the decision's Vietnamese name */
	const char *name_en;    /* an English gloss (ours) */
	const char *colour;     /* the decision's colour name */
	unsigned char r, g, b;  /* the decision's RGB code */
	const char *hex;        /* the same as #RRGGBB */
};

/** The band of a rounded AQI (0..500; above 500 counts as Nguy hại), or NULL for a negative one. */
const struct aqi_band *aqi_band_of(int aqi);
/** Band @index 1..6, or NULL. */
const struct aqi_band *aqi_band_at(int index);

/** Short name of a pollutant ("pm25", "pm10", "o3", "co", "so2", "no2"). */
const char *aqi_pollutant_name(enum aqi_pollutant p);

/**
 * The sub-index (the decision's formulas 1 and 2: linear between the
 * breakpoints BP_i and BP_i+1 of Table 2), not rounded. Concentrations at
 * or above the last breakpoint give 500. NaN for a NaN or negative
 * concentration, and for an 8-hour O3 mean above 400 µg/m³ (the decision:
 * then only the 1-hour O3 counts).
 */
double aqi_sub_index(enum aqi_table t, double c);

/**
 * NowCast of PM (section 2.2.1 a): @c[0] is the mean of the current hour,
 * @c[11] that of 11 hours before; NaN marks a missing hour. w* = Cmin/Cmax
 * over the hours present, w = max(w*, 1/2). NaN ("no data") unless at least
 * 2 of c[0..2] are present. A missing hour's weight is 0. With w = 1/2 and
 * all 12 hours present the decision's own formula Σ (1/2)^i c_i is used;
 * with hours missing, the weighted mean (see docs/environment.md).
 */
double aqi_nowcast(const double c[12]);

struct aqi_result {
	double sub[AQI_NPOLL];  /* sub-index of each parameter, not rounded; NaN: not computed */
	int aqi;                /* max of the sub-indices, rounded; -1: no AQI */
	int dominant;           /* enum aqi_pollutant with the highest sub-index; -1: none */
	double sub_o3_1h, sub_o3_8h; /* daily AQI: the two O3 sub-indices behind sub[AQI_O3] */
};

/**
 * Hourly AQI (AQI^h). @hours[p] holds the last 12 hourly means of
 * parameter p, [0] the current hour (NaN: missing), or is NULL when the
 * site does not measure it. PM10 and PM2.5 go through the NowCast, the
 * others use the current hour. No AQI (aqi -1) unless PM10 or PM2.5 has
 * a value: the decision requires one of them.
 */
void aqi_hourly(const double *const hours[AQI_NPOLL], struct aqi_result *out);

/** The inputs of a daily AQI (section 2.2.2), NaN when missing. */
struct aqi_day_input {
	double pm25_24h, pm10_24h;  /* 24-hour means */
	double o3_1h_max, o3_8h_max;/* highest 1-hour and 8-hour means of the day */
	double co_1h_max, so2_1h_max, no2_1h_max;
};

/** Daily AQI (AQI^d) from @in; aqi -1 without PM10 or PM2.5. */
void aqi_daily(const struct aqi_day_input *in, struct aqi_result *out);

/**
 * Mean of the @n hourly means @h (NaN: missing) when at least @min_hours
 * are present, else NaN.
 */
double aqi_mean(const double *h, size_t n, size_t min_hours);

/**
 * The highest 8-hour mean of a day: @h holds 31 hourly means, the 7 hours
 * before the day then its 24 (hour-ending 01:00 .. 00:00). Each of the
 * day's 24 8-hour means is the mean of its hour and the 7 before, computed
 * when at least @min_hours of those 8 are present. @means (may be NULL)
 * receives the 24 means. NaN when none could be computed.
 */
double aqi_max_8h(const double h[31], size_t min_hours, double means[24]);

/** The highest of @n hourly means, NaN when all are missing. */
double aqi_max(const double *h, size_t n);

#endif
