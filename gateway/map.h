/* Where things are: the ward's boundary, the coverage grid with its dead
 * spots, and the devices that have a position (lat/lon in the config),
 * drawn as inline SVG on the status page and served as an RFC 7946
 * FeatureCollection (/map.geojson) for the IOC's own GIS. Loop thread,
 * except map_check_positions(), which the config parser calls. */
#ifndef WARDGW_MAP_H
#define WARDGW_MAP_H

#include <stddef.h>

struct conf_ctx;
struct device;
struct evbuffer;
struct gateway;
struct gw_config;

/** Whether (@lon, @lat) lies inside the closed ring @ring of @n lon/lat
 *  positions (even-odd rule; a point on an edge may go either way). */
int map_point_in_ring(const double *ring, size_t n, double lon, double lat);

/** Config check: a device has both lat and lon or neither, and lies inside
 *  the ward's boundary when there is one. Errors at the device's line. */
void map_check_positions(struct conf_ctx *ctx, const struct gw_config *cfg);

/** The map section of the ward page (inline SVG), in the current language.
 *  @token is put in links when not NULL. */
void map_section(struct gateway *gw, struct evbuffer *b, const char *lang, const char *token, const char *query);

/** Rows of the device page's facts table for @d's position (none without one). */
void map_device_facts(const struct device *d, struct evbuffer *b);

/** /map.geojson into @b. 0 or -ENOMEM. */
int map_geojson(struct gateway *gw, struct evbuffer *b);

#endif
