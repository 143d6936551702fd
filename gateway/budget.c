/* Bus budget of the serial buses: frame sizes from the read plans, line
 * time from baud and frame format (Modbus over Serial Line v1.02: 1 start
 * bit, 8 data bits, parity or not, 1 or 2 stop bits; 3.5 characters of
 * silence between frames). */
#include "budget.h"
#include "i18n.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "modbus_rtu.h"
#include "plan.h"

double budget_read_us(const struct rtu_conf *line, int bits, unsigned count)
{
	/* request: unit fc addr(2) count(2) crc(2); reply: unit fc n data crc(2) */
	unsigned req = 8, rep = 5 + (bits ? (count + 7) / 8 : 2 * count);
	double char_us = rtu_char_bits(line) * 1e6 / line->baud;

	return (req + rep) * char_us + (double)rtu_frame_gap_us(line) + line->turnaround_ms * 1000.0;
}

int budget_compute(const struct gw_config *cfg, struct bus_budget **out, size_t *n)
{
	struct bus_budget *b = NULL;
	size_t nb = 0;
	double *busy_s = NULL, *wire = NULL;

	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < cfg->ndevices; i++) {
		const struct device_conf *d = &cfg->devices[i];
		const struct rtu_conf *c;
		struct plan p;
		size_t k;

		if (!modbus_rtu_is(d) || !d->profile)
			continue;
		c = d->drv;
		for (k = 0; k < nb && strcmp(b[k].serial, c->serial); k++)
			;
		if (k == nb) {
			struct bus_budget *nbb = realloc(b, (nb + 1) * sizeof(*nbb));
			double *nbusy = realloc(busy_s, (nb + 1) * sizeof(*nbusy));
			double *nwire = nbusy ? realloc(wire, (nb + 1) * sizeof(*nwire)) : NULL;
			if (nbb)
				b = nbb;
			if (nbusy)
				busy_s = nbusy;
			if (nwire)
				wire = nwire;
			if (!nbb || !nbusy || !nwire)
				goto nomem;
			memset(&b[nb], 0, sizeof(b[nb]));
			b[nb].serial = c->serial;
			b[nb].line = c;
			busy_s[nb] = wire[nb] = 0;
			nb++;
		}
		if (plan_build(&p, d->profile->regs, d->profile->nregs, (unsigned)c->max_gap, (unsigned)c->max_regs) < 0)
			goto nomem;
		double per_s = 1000.0 / d->poll_interval_ms;
		double char_us = rtu_char_bits(c) * 1e6 / c->baud;
		for (size_t r = 0; r < p.nreads; r++) {
			int bits = reg_table_is_bits(p.reads[r].table);
			unsigned cnt = p.reads[r].count;
			b[k].needed_rps += per_s;
			busy_s[k] += per_s * budget_read_us(c, bits, cnt) / 1e6;
			wire[k] += per_s * (8 + 5 + (bits ? (cnt + 7) / 8 : 2 * cnt)) * char_us / 1e6;
		}
		b[k].units++;
		plan_release(&p);
	}
	for (size_t k = 0; k < nb; k++) {
		const struct rtu_conf *c = b[k].line;
		b[k].busy = busy_s[k];
		if (b[k].needed_rps > 0) {
			b[k].req_ms = busy_s[k] / b[k].needed_rps * 1000.0;
			b[k].possible_rps = 1000.0 / b[k].req_ms;
			b[k].wire_ms = wire[k] / b[k].needed_rps * 1000.0;
		}
		b[k].gap_ms = rtu_frame_gap_us(c) / 1000.0;
		b[k].turnaround_ms = c->turnaround_ms;
		/* every interval scaled by the same factor until the line is full */
		double shortest = INFINITY;
		for (size_t i = 0; i < cfg->ndevices; i++) {
			const struct device_conf *d = &cfg->devices[i];
			if (modbus_rtu_is(d) && !strcmp(((const struct rtu_conf *)d->drv)->serial, b[k].serial) &&
			    d->poll_interval_ms < shortest)
				shortest = d->poll_interval_ms;
		}
		b[k].min_interval_ms = isfinite(shortest) ? shortest * b[k].busy : 0;
	}
	free(busy_s);
	free(wire);
	*out = b;
	*n = nb;
	return 0;
nomem:
	free(b);
	free(busy_s);
	free(wire);
	return -ENOMEM;
}

int budget_report(const struct gw_config *cfg, FILE *out)
{
	struct bus_budget *b;
	size_t n;
	int warnings = 0;

	if (budget_compute(cfg, &b, &n) < 0) {
		fprintf(out, "%s\n", _("bus budget: out of memory"));
		return 1;
	}
	for (size_t k = 0; k < n; k++) {
		const struct rtu_conf *c = b[k].line;
		char line[320];
		snprintf(line, sizeof(line), "%s %d %d%s%d", c->serial, c->baud, c->data_bits, c->parity, c->stop_bits);
		fprintf(out, ngettext("bus %s: %zu unit needs %.1f requests/s; the line carries %.1f/s at these frame sizes "
				      "(%.1f ms each: %.1f on the wire, %.2f gap, %.0f turnaround), %.0f %% busy\n",
				      "bus %s: %zu units need %.1f requests/s; the line carries %.1f/s at these frame sizes "
				      "(%.1f ms each: %.1f on the wire, %.2f gap, %.0f turnaround), %.0f %% busy\n", b[k].units),
			line, b[k].units, b[k].needed_rps, b[k].possible_rps, b[k].req_ms, b[k].wire_ms,
			b[k].gap_ms, b[k].turnaround_ms, b[k].busy * 100.0);
		if (b[k].busy > 1.0) {
			warnings++;
			fprintf(out, _("warning: bus %s is over its budget: it needs %.1f requests/s but carries %.1f; "
				       "polls will fall behind. Poll less often (every interval x %.2f: the shortest %.0f ms "
				       "would become %.0f ms), raise the baud rate, or split the units over two buses\n"), line,
				b[k].needed_rps, b[k].possible_rps, b[k].busy, b[k].min_interval_ms / b[k].busy,
				ceil(b[k].min_interval_ms));
		} else if (b[k].busy > 0.8) {
			fprintf(out, _("note: bus %s is %.0f %% busy; a dead unit's timeouts come on top and may make polls "
				       "late\n"), line, b[k].busy * 100.0);
		}
	}
	free(b);
	return warnings;
}
