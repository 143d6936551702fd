/* Flood watch of one site: alert levels of water depth over the road
 * (e.g. 10/20/30 cm), raised when the depth reaches a level and cleared
 * only when it falls a hysteresis below it, episodes from the first level
 * reached to the last cleared with their duration and peak, and the time
 * flooded per day. Pure state machine, no I/O; environment.c feeds it the
 * sensor's readings. */
#ifndef WARDGW_FLOOD_H
#define WARDGW_FLOOD_H

#include <stdint.h>

#define FLOOD_MAX_LEVELS 4

struct flood_conf {
	double levels[FLOOD_MAX_LEVELS];  /* ascending, in the depth's unit */
	int nlevels;
	double hysteresis;      /* a level clears below level - hysteresis */
	int64_t max_gap_ms;     /* a silent sensor stops the flooded-time clock after this */
};

struct flood_state {
	int level;              /* 0: below the first level */
	int64_t last_ts;        /* last reading (or day close), 0 before the first */
	double depth;           /* last depth */
	/* the open episode (level >= 1) */
	int64_t ep_start;
	double ep_peak;
	int64_t ep_peak_ts;
	int ep_max_level;
	int64_t wet_ms;         /* flooded time not yet taken by flood_take_wet() */
};

enum flood_kind { FLOOD_RAISED = 1, FLOOD_LOWERED, FLOOD_CLEARED };

/* A level change. On FLOOD_CLEARED the episode's figures are filled. */
struct flood_event {
	enum flood_kind kind;
	int level, previous;
	double depth, threshold;    /* threshold: the level crossed */
	int64_t ts;
	int64_t ep_start, ep_duration_ms;
	double ep_peak;
	int ep_max_level;
};

/** Start in the dry state. */
void flood_init(struct flood_state *s);

/**
 * Feed a reading of depth @depth at @ts (ms, not before the last). Returns
 * 1 and fills @ev when the level changed, 0 when not, -EINVAL for a NaN
 * depth or a time going back (the reading is ignored).
 */
int flood_update(const struct flood_conf *c, struct flood_state *s, int64_t ts, double depth,
		 struct flood_event *ev);

/**
 * The time flooded (level >= 1) since the last call, counted up to @until
 * (a day's end; not beyond max_gap_ms after the last reading); resets the
 * count. Call at each day's end for the hours flooded that day.
 */
int64_t flood_take_wet(const struct flood_conf *c, struct flood_state *s, int64_t until);

/** Check a configuration: 0, or -EINVAL with a reason in @why. */
int flood_conf_check(const struct flood_conf *c, char *why, int len);

#endif
