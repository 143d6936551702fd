/* The daemon's side of the coverage engine: every
 * coverage.publish_interval_s it recomputes the ward's coverage and
 * publishes the dead spots, retained, on {prefix}/{gateway}/coverage/deadspots
 * (a map is a state: the broker keeps the latest for late subscribers).
 * Loop thread. */
#ifndef WARDGW_COVERAGE_PUB_H
#define WARDGW_COVERAGE_PUB_H

struct gateway;
struct coverage_pub;

/** Start the timer (first map 1 s after start). 0 or negative errno. */
int coverage_pub_new(struct coverage_pub **out, struct gateway *gw);
void coverage_pub_free(struct coverage_pub *p);
/** The last figures as one line for `--live`, or NULL before the first. */
const char *coverage_pub_live(const struct coverage_pub *p);
/** The last dead-spot map (GeoJSON text, as published), or NULL before the
 *  first; valid until the next computation. */
const char *coverage_pub_geojson(const struct coverage_pub *p);

#endif
