/* Read planning: sort registers by table and address and sweep them into
 * requests. Registers that overlap (two bits of one word, say) share a read. */
#include "plan.h"

#include <errno.h>
#include <stdlib.h>

#include "config.h"

struct key {
	enum reg_table table;
	unsigned start, end;    /* inclusive, in registers or bits */
	size_t idx;
};

static int cmp_key(const void *a, const void *b)
{
	const struct key *x = a, *y = b;

	if (x->table != y->table)
		return (int)x->table - (int)y->table;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

int plan_build(struct plan *p, const struct reg_def *regs, size_t nregs,
	       unsigned max_gap, unsigned max_regs)
{
	return plan_build_ex(p, regs, nregs, max_gap, max_regs, NULL);
}

int plan_build_ex(struct plan *p, const struct reg_def *regs, size_t nregs,
		  unsigned max_gap, unsigned max_regs, const unsigned char *no_gap)
{
	struct key *k = calloc(nregs ? nregs : 1, sizeof(*k));
	int ret = -ENOMEM;

	p->reads = calloc(nregs ? nregs : 1, sizeof(*p->reads));
	p->order = calloc(nregs ? nregs : 1, sizeof(*p->order));
	p->nreads = 0;
	p->nregs = nregs;
	if (!k || !p->reads || !p->order)
		goto out;
	if (max_regs == 0 || max_regs > PLAN_MAX_REGS)
		max_regs = PLAN_MAX_REGS;

	for (size_t i = 0; i < nregs; i++) {
		k[i].table = regs[i].table;
		k[i].start = regs[i].address;
		k[i].end = regs[i].address + (reg_table_is_bits(regs[i].table) ? 1 : reg_type_words(regs[i].type)) - 1;
		k[i].idx = i;
	}
	qsort(k, nregs, sizeof(*k), cmp_key);

	for (size_t i = 0; i < nregs; i++) {
		struct plan_read *r = p->nreads ? &p->reads[p->nreads - 1] : NULL;
		unsigned limit = reg_table_is_bits(k[i].table) ? PLAN_MAX_BITS : max_regs;

		if (r && r->table == k[i].table) {
			unsigned rend = r->start + r->count - 1u;
			unsigned nend = k[i].end > rend ? k[i].end : rend;
			/* join when the gap is small enough and the whole still fits;
			 * a register the device refused a gapped read for joins
			 * only what touches it */
			size_t prev = p->order[i - 1];
			unsigned gap = no_gap && (no_gap[prev] || no_gap[k[i].idx]) ? 0 : max_gap;
			if (k[i].start <= rend + 1u + gap && nend - r->start + 1u <= limit) {
				r->count = (uint16_t)(nend - r->start + 1u);
				r->nregs++;
				p->order[i] = k[i].idx;
				continue;
			}
		}
		r = &p->reads[p->nreads++];
		r->table = k[i].table;
		r->start = (uint16_t)k[i].start;
		r->count = (uint16_t)(k[i].end - k[i].start + 1u);
		r->first = i;
		r->nregs = 1;
		p->order[i] = k[i].idx;
	}
	ret = 0;
out:
	free(k);
	if (ret < 0)
		plan_release(p);
	return ret;
}

int plan_read_has_gap(const struct plan *p, const struct plan_read *r, const struct reg_def *regs)
{
	unsigned covered = r->start;    /* next address not yet covered */

	/* order within a read is by address */
	for (size_t k = 0; k < r->nregs; k++) {
		const struct reg_def *d = &regs[p->order[r->first + k]];
		unsigned end = d->address + (reg_table_is_bits(d->table) ? 1 : reg_type_words(d->type));
		if (d->address > covered)
			return 1;
		if (end > covered)
			covered = end;
	}
	return covered < (unsigned)r->start + r->count;
}

void plan_release(struct plan *p)
{
	free(p->reads);
	free(p->order);
	p->reads = NULL;
	p->order = NULL;
	p->nreads = p->nregs = 0;
}
