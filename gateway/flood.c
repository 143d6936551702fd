/* Flood levels with hysteresis and episodes (see flood.h). */
#include "flood.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

void flood_init(struct flood_state *s)
{
	memset(s, 0, sizeof(*s));
	s->depth = NAN;
}

/* Count flooded time up to @ts, at most max_gap_ms past the last reading. */
static void accrue(const struct flood_conf *c, struct flood_state *s, int64_t ts)
{
	if (s->last_ts && ts > s->last_ts && s->level >= 1) {
		int64_t dt = ts - s->last_ts;
		if (c->max_gap_ms > 0 && dt > c->max_gap_ms)
			dt = c->max_gap_ms;
		s->wet_ms += dt;
	}
	if (ts > s->last_ts)
		s->last_ts = ts;
}

int flood_update(const struct flood_conf *c, struct flood_state *s, int64_t ts, double depth,
		 struct flood_event *ev)
{
	int up = 0, keep = 0, lvl;

	if (isnan(depth) || ts < s->last_ts)
		return -EINVAL;
	accrue(c, s, ts);
	s->depth = depth;
	/* a level is entered at its value and kept down to value - hysteresis */
	for (int i = 0; i < c->nlevels; i++) {
		if (depth >= c->levels[i])
			up = i + 1;
		if (i < s->level && depth >= c->levels[i] - c->hysteresis)
			keep = i + 1;
	}
	lvl = up > keep ? up : keep;
	if (lvl >= 1 && (s->level == 0 || depth > s->ep_peak)) {
		if (s->level == 0) {
			s->ep_start = ts;
			s->ep_max_level = 0;
		}
		s->ep_peak = depth;
		s->ep_peak_ts = ts;
	}
	if (lvl > s->ep_max_level)
		s->ep_max_level = lvl;
	if (lvl == s->level)
		return 0;
	memset(ev, 0, sizeof(*ev));
	ev->kind = lvl > s->level ? FLOOD_RAISED : lvl ? FLOOD_LOWERED : FLOOD_CLEARED;
	ev->level = lvl;
	ev->previous = s->level;
	ev->depth = depth;
	ev->threshold = c->levels[(lvl > s->level ? lvl : s->level) - 1];
	ev->ts = ts;
	ev->ep_start = s->ep_start;
	ev->ep_duration_ms = ts - s->ep_start;
	ev->ep_peak = s->ep_peak;
	ev->ep_max_level = s->ep_max_level;
	s->level = lvl;
	return 1;
}

int64_t flood_take_wet(const struct flood_conf *c, struct flood_state *s, int64_t until)
{
	int64_t w;

	accrue(c, s, until);
	w = s->wet_ms;
	s->wet_ms = 0;
	return w;
}

int flood_conf_check(const struct flood_conf *c, char *why, int len)
{
	if (c->nlevels < 1 || c->nlevels > FLOOD_MAX_LEVELS) {
		snprintf(why, (size_t)len, "flood_levels must list 1..%d depths (got %d)", FLOOD_MAX_LEVELS, c->nlevels);
		return -EINVAL;
	}
	for (int i = 0; i < c->nlevels; i++) {
		if (!isfinite(c->levels[i]) || c->levels[i] <= 0) {
			snprintf(why, (size_t)len, "flood_levels: level %d must be a depth above 0 (got %g)", i + 1,
				 c->levels[i]);
			return -EINVAL;
		}
		if (i && c->levels[i] <= c->levels[i - 1]) {
			snprintf(why, (size_t)len, "flood_levels must rise: level %d (%g) is not above level %d (%g)",
				 i + 1, c->levels[i], i, c->levels[i - 1]);
			return -EINVAL;
		}
	}
	if (!isfinite(c->hysteresis) || c->hysteresis < 0 || c->hysteresis >= c->levels[0]) {
		snprintf(why, (size_t)len, "flood_hysteresis must be 0 or more and below the first level %g (got %g)",
			 c->levels[0], c->hysteresis);
		return -EINVAL;
	}
	return 0;
}
