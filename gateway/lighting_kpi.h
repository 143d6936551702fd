/* The series the lighting schedule derives per controlled device
 * (lampsScheduled, lampsLitScheduled, lampsDayBurning, ratedEnergyScheduled,
 * lampsFaulty, lampsKnown; schedule.c names them), in the store and the
 * rollups like a profile's own, so that KPIs aggregate them. Loop thread. */
#ifndef WARDGW_LIGHTING_KPI_H
#define WARDGW_LIGHTING_KPI_H

#include <stdint.h>

struct device;
struct ldev;
struct lighting;

/** A good poll of @dev at @ts_ms (values in dev->last): append the derived
 *  series to the store and the rollups. */
void lighting_poll_done(struct lighting *l, struct device *dev, int64_t ts_ms);
/** Register the derived series of every controlled device (store series,
 *  rollup slots). 0 or negative errno. */
int lighting_derived_series(struct lighting *l);
/** Each second: for a device that does not answer, the rated energy of its
 *  lamps the schedule wants on (@wanted), and once per poll interval its
 *  lamps as scheduled, not lit and faulty. */
void lighting_derived_tick(struct lighting *l, struct ldev *ld, int64_t now, double wanted);

#endif
