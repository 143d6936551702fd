/* VN_AQI arithmetic (see aqi.h). The tables below are the decision's
 * Table 1 (bands, names, colours) and Table 2 (breakpoints, µg/m³); where
 * the decision leaves a choice open, the choice is ours and
 * docs/environment.md says so. */
#include "aqi.h"

#include <math.h>

static const struct aqi_band bands[] = {
	{ 1, 0, 50, "Tốt", "good", "Xanh", 0, 228, 0, "#00E400" },
	{ 2, 51, 100, "Trung bình", "moderate", "Vàng", 255, 255, 0, "#FFFF00" },
	{ 3, 101, 150, "Kém", "poor", "Da cam", 255, 126, 0, "#FF7E00" },
	{ 4, 151, 200, "Xấu", "bad", "Đỏ", 255, 0, 0, "#FF0000" },
	{ 5, 201, 300, "Rất xấu", "very bad", "Tím", 143, 63, 151, "#8F3F97" },
	{ 6, 301, 500, "Nguy hại", "hazardous", "Nâu", 126, 0, 35, "#7E0023" },
};

/* Table 2: I_i and BP_i of each column; a column ends where its values
 * do (O3 8h stops at 400 µg/m³ = AQI 300). */
static const double levels[8] = { 0, 50, 100, 150, 200, 300, 400, 500 };
static const struct {
	int n;
	double bp[8];
} table2[] = {
	[AQI_T_O3_1H] = { 8, { 0, 160, 200, 300, 400, 800, 1000, 1200 } },
	[AQI_T_O3_8H] = { 6, { 0, 100, 120, 170, 210, 400 } },
	[AQI_T_CO] = { 8, { 0, 10000, 30000, 45000, 60000, 90000, 120000, 150000 } },
	[AQI_T_SO2] = { 8, { 0, 125, 350, 550, 800, 1600, 2100, 2630 } },
	[AQI_T_NO2] = { 8, { 0, 100, 200, 700, 1200, 2350, 3100, 3850 } },
	[AQI_T_PM10] = { 8, { 0, 50, 150, 250, 350, 420, 500, 600 } },
	[AQI_T_PM25] = { 8, { 0, 25, 50, 80, 150, 250, 350, 500 } },
};

static const char *const pnames[AQI_NPOLL] = { "pm25", "pm10", "o3", "co", "so2", "no2" };

const struct aqi_band *aqi_band_of(int aqi)
{
	if (aqi < 0)
		return NULL;
	for (size_t i = 0; i < sizeof(bands) / sizeof(bands[0]); i++)
		if (aqi <= bands[i].hi)
			return &bands[i];
	return &bands[5];
}

const struct aqi_band *aqi_band_at(int index)
{
	return index >= 1 && index <= 6 ? &bands[index - 1] : NULL;
}

const char *aqi_pollutant_name(enum aqi_pollutant p)
{
	return (unsigned)p < AQI_NPOLL ? pnames[p] : "?";
}

double aqi_sub_index(enum aqi_table t, double c)
{
	int n;

	if (isnan(c) || c < 0 || (unsigned)t > AQI_T_PM25)
		return NAN;
	n = table2[t].n;
	if (c >= table2[t].bp[n - 1]) {
		/* the last breakpoint: "≥" in the decision's last row; the 8-hour
		 * O3 column ends at 400 and is not used beyond it */
		if (t == AQI_T_O3_8H)
			return c > table2[t].bp[n - 1] ? NAN : levels[n - 1];
		return levels[n - 1];
	}
	for (int i = 0; i + 1 < n; i++) {
		const double lo = table2[t].bp[i], hi = table2[t].bp[i + 1];
		if (c < hi)
			return (levels[i + 1] - levels[i]) / (hi - lo) * (c - lo) + levels[i];
	}
	return NAN;
}

double aqi_nowcast(const double c[12])
{
	double cmin = INFINITY, cmax = -INFINITY, w, num = 0, den = 0, wi = 1;
	int recent = 0, all = 1;

	for (int i = 0; i < 3; i++)
		recent += !isnan(c[i]);
	if (recent < 2)
		return NAN;
	for (int i = 0; i < 12; i++) {
		if (isnan(c[i])) {
			all = 0;
			continue;
		}
		if (c[i] < cmin)
			cmin = c[i];
		if (c[i] > cmax)
			cmax = c[i];
	}
	/* all zero: w* is 0/0; every weighting gives 0 */
	w = cmax > 0 ? cmin / cmax : 1.0;
	if (w <= 0.5)
		w = 0.5;
	if (w == 0.5 && all) {
		/* the decision's formula for w = 1/2: Σ (1/2)^i c_i, i = 1..12 */
		double h = 0.5;
		for (int i = 0; i < 12; i++, h *= 0.5)
			num += h * c[i];
		return num;
	}
	for (int i = 0; i < 12; i++, wi *= w) {
		if (isnan(c[i]))
			continue;       /* w^(i-1) = 0 for a missing hour */
		num += wi * c[i];
		den += wi;
	}
	return num / den;
}

static void pick(struct aqi_result *out)
{
	double best = -1;

	out->aqi = -1;
	out->dominant = -1;
	if (isnan(out->sub[AQI_PM25]) && isnan(out->sub[AQI_PM10]))
		return;         /* the decision requires PM10 or PM2.5 */
	for (int p = 0; p < AQI_NPOLL; p++)
		if (!isnan(out->sub[p]) && out->sub[p] > best) {
			best = out->sub[p];
			out->dominant = p;
		}
	out->aqi = (int)lround(best);
}

void aqi_hourly(const double *const hours[AQI_NPOLL], struct aqi_result *out)
{
	static const enum aqi_table tab[AQI_NPOLL] = {
		[AQI_PM25] = AQI_T_PM25, [AQI_PM10] = AQI_T_PM10, [AQI_O3] = AQI_T_O3_1H,
		[AQI_CO] = AQI_T_CO, [AQI_SO2] = AQI_T_SO2, [AQI_NO2] = AQI_T_NO2,
	};

	for (int p = 0; p < AQI_NPOLL; p++) {
		double c = NAN;
		if (hours[p])
			c = p == AQI_PM25 || p == AQI_PM10 ? aqi_nowcast(hours[p]) : hours[p][0];
		out->sub[p] = aqi_sub_index(tab[p], c);
	}
	out->sub_o3_1h = out->sub[AQI_O3];
	out->sub_o3_8h = NAN;
	pick(out);
}

void aqi_daily(const struct aqi_day_input *in, struct aqi_result *out)
{
	out->sub[AQI_PM25] = aqi_sub_index(AQI_T_PM25, in->pm25_24h);
	out->sub[AQI_PM10] = aqi_sub_index(AQI_T_PM10, in->pm10_24h);
	out->sub_o3_1h = aqi_sub_index(AQI_T_O3_1H, in->o3_1h_max);
	/* NaN above 400 µg/m³: then the 1-hour maximum alone counts */
	out->sub_o3_8h = aqi_sub_index(AQI_T_O3_8H, in->o3_8h_max);
	out->sub[AQI_O3] = isnan(out->sub_o3_8h) ? out->sub_o3_1h :
			   isnan(out->sub_o3_1h) ? out->sub_o3_8h : fmax(out->sub_o3_1h, out->sub_o3_8h);
	out->sub[AQI_CO] = aqi_sub_index(AQI_T_CO, in->co_1h_max);
	out->sub[AQI_SO2] = aqi_sub_index(AQI_T_SO2, in->so2_1h_max);
	out->sub[AQI_NO2] = aqi_sub_index(AQI_T_NO2, in->no2_1h_max);
	pick(out);
}

double aqi_mean(const double *h, size_t n, size_t min_hours)
{
	double s = 0;
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (!isnan(h[i])) {
			s += h[i];
			k++;
		}
	return k && k >= min_hours ? s / (double)k : NAN;
}

double aqi_max(const double *h, size_t n)
{
	double m = NAN;

	for (size_t i = 0; i < n; i++)
		if (!isnan(h[i]) && (isnan(m) || h[i] > m))
			m = h[i];
	return m;
}

double aqi_max_8h(const double h[31], size_t min_hours, double means[24])
{
	double best = NAN;

	for (int i = 0; i < 24; i++) {
		double m = aqi_mean(h + i, 8, min_hours);
		if (means)
			means[i] = m;
		if (!isnan(m) && (isnan(best) || m > best))
			best = m;
	}
	return best;
}
