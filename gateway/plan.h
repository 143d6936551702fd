/* Read planning: turns a profile's registers into the fewest Modbus read
 * requests, each over one table and a contiguous range of at most 125
 * registers (2000 bits for coils and discrete inputs). */
#ifndef WARDGW_PLAN_H
#define WARDGW_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "decode.h"

struct reg_def;

struct plan_read {
	enum reg_table table;
	uint16_t start;
	uint16_t count;         /* registers, or bits for coil/discrete */
	size_t first, nregs;    /* slice of plan->order covered by this read */
};

struct plan {
	struct plan_read *reads;
	size_t nreads;
	size_t *order;          /* register indexes, grouped by read */
	size_t nregs;
};

/** Largest register count per read (Modbus limit); bits per read. */
#define PLAN_MAX_REGS 125
#define PLAN_MAX_BITS 2000

/**
 * Build the plan for @regs. @max_gap lets a read span that many unused
 * registers between two wanted ones (0: contiguous only); @max_regs caps a
 * read (1..125). Returns 0 or -ENOMEM; the caller releases with plan_release().
 */
int plan_build(struct plan *p, const struct reg_def *regs, size_t nregs,
	       unsigned max_gap, unsigned max_regs);
/**
 * The same, where @no_gap[i] (may be NULL) keeps register i out of reads
 * that span a gap: after a device refused such a read with exception 0x02.
 */
int plan_build_ex(struct plan *p, const struct reg_def *regs, size_t nregs,
		  unsigned max_gap, unsigned max_regs, const unsigned char *no_gap);
/** Whether read @r covers registers nobody asked for (a merged read). */
int plan_read_has_gap(const struct plan *p, const struct plan_read *r, const struct reg_def *regs);
void plan_release(struct plan *p);

#endif
