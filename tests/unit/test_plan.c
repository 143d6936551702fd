/* The read plan: fewest requests over contiguous registers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "config.h"
#include "plan.h"

static struct reg_def R(enum reg_table t, unsigned addr, enum reg_type ty)
{
	struct reg_def r = { 0 };

	r.table = t;
	r.address = (uint16_t)addr;
	r.type = ty;
	r.scale = 1;
	return r;
}

/* every register is in exactly one read, inside its range */
static void check_cover(const struct plan *p, const struct reg_def *regs, size_t n)
{
	int *seen = calloc(n, sizeof(*seen));

	for (size_t r = 0; r < p->nreads; r++) {
		const struct plan_read *rd = &p->reads[r];
		assert_true(rd->count >= 1);
		assert_true(rd->count <= (reg_table_is_bits(rd->table) ? PLAN_MAX_BITS : PLAN_MAX_REGS));
		for (size_t k = 0; k < rd->nregs; k++) {
			size_t i = p->order[rd->first + k];
			unsigned w = reg_table_is_bits(regs[i].table) ? 1 : reg_type_words(regs[i].type);
			assert_true(i < n);
			seen[i]++;
			assert_int_equal(regs[i].table, rd->table);
			assert_true(regs[i].address >= rd->start);
			assert_true(regs[i].address + w <= (unsigned)rd->start + rd->count);
		}
	}
	for (size_t i = 0; i < n; i++)
		assert_int_equal(seen[i], 1);
	free(seen);
}

static void test_contiguous_one_read(void **state)
{
	/* the SDM-like order is scrambled on purpose: the plan sorts */
	struct reg_def regs[] = {
		R(TABLE_HOLDING, 2, TYPE_U16), R(TABLE_HOLDING, 0, TYPE_U32), R(TABLE_HOLDING, 3, TYPE_F32),
	};
	struct plan p;

	assert_int_equal(plan_build(&p, regs, 3, 0, 125), 0);
	assert_int_equal(p.nreads, 1);
	assert_int_equal(p.reads[0].start, 0);
	assert_int_equal(p.reads[0].count, 5);
	check_cover(&p, regs, 3);
	plan_release(&p);
}

static void test_tables_split(void **state)
{
	struct reg_def regs[] = {
		R(TABLE_INPUT, 0, TYPE_U16), R(TABLE_HOLDING, 1, TYPE_U16), R(TABLE_COIL, 0, TYPE_BIT),
		R(TABLE_DISCRETE, 0, TYPE_BIT),
	};
	struct plan p;

	assert_int_equal(plan_build(&p, regs, 4, 0, 125), 0);
	assert_int_equal(p.nreads, 4);
	check_cover(&p, regs, 4);
	plan_release(&p);
}

static void test_gap(void **state)
{
	struct reg_def regs[] = { R(TABLE_INPUT, 0, TYPE_F32), R(TABLE_INPUT, 6, TYPE_F32) };
	struct plan p;

	assert_int_equal(plan_build(&p, regs, 2, 0, 125), 0);
	assert_int_equal(p.nreads, 2);      /* contiguous only */
	check_cover(&p, regs, 2);
	plan_release(&p);
	assert_int_equal(plan_build(&p, regs, 2, 4, 125), 0);
	assert_int_equal(p.nreads, 1);      /* gap of 4 allowed */
	assert_int_equal(p.reads[0].count, 8);
	check_cover(&p, regs, 2);
	plan_release(&p);
	assert_int_equal(plan_build(&p, regs, 2, 3, 125), 0);
	assert_int_equal(p.nreads, 2);      /* gap of 4 > 3 */
	plan_release(&p);
}

/* After a device refused a gapped read (0x02), its registers only join
 * neighbours that touch them; others keep merging across gaps. */
static void test_no_gap_fallback(void **state)
{
	struct reg_def regs[] = { R(TABLE_INPUT, 0, TYPE_F32), R(TABLE_INPUT, 6, TYPE_F32),
				  R(TABLE_INPUT, 8, TYPE_F32), R(TABLE_INPUT, 20, TYPE_U16),
				  R(TABLE_INPUT, 24, TYPE_U16) };
	unsigned char no_gap[5] = { 1, 1, 1, 0, 0 };
	struct plan p;

	assert_int_equal(plan_build_ex(&p, regs, 5, 124, 125, NULL), 0);
	assert_int_equal(p.nreads, 1);
	assert_true(plan_read_has_gap(&p, &p.reads[0], regs));
	plan_release(&p);

	assert_int_equal(plan_build_ex(&p, regs, 5, 124, 125, no_gap), 0);
	check_cover(&p, regs, 5);
	/* 0..1 alone; 6..9 (touching); 20 and 24 still merged across their gap */
	assert_int_equal(p.nreads, 3);
	assert_int_equal(p.reads[0].start, 0);
	assert_int_equal(p.reads[0].count, 2);
	assert_false(plan_read_has_gap(&p, &p.reads[0], regs));
	assert_int_equal(p.reads[1].start, 6);
	assert_int_equal(p.reads[1].count, 4);
	assert_false(plan_read_has_gap(&p, &p.reads[1], regs));
	assert_int_equal(p.reads[2].start, 20);
	assert_int_equal(p.reads[2].count, 5);
	assert_true(plan_read_has_gap(&p, &p.reads[2], regs));
	plan_release(&p);
}

static void test_limit_125(void **state)
{
	struct reg_def regs[70];
	struct plan p;

	for (unsigned i = 0; i < 70; i++)
		regs[i] = R(TABLE_INPUT, 2 * i, TYPE_F32);  /* 140 words */
	assert_int_equal(plan_build(&p, regs, 70, 0, 125), 0);
	assert_int_equal(p.nreads, 2);
	assert_true(p.reads[0].count <= 125 && p.reads[1].count <= 125);
	assert_int_equal(p.reads[0].count + p.reads[1].count, 140);
	check_cover(&p, regs, 70);
	plan_release(&p);
	/* a per-device cap */
	assert_int_equal(plan_build(&p, regs, 70, 0, 10), 0);
	assert_int_equal(p.nreads, 14);
	check_cover(&p, regs, 70);
	plan_release(&p);
}

static void test_bits_share(void **state)
{
	struct reg_def regs[] = { R(TABLE_HOLDING, 4, TYPE_BIT), R(TABLE_HOLDING, 4, TYPE_BIT),
				  R(TABLE_HOLDING, 5, TYPE_S16) };
	struct plan p;

	regs[1].bit = 3;
	assert_int_equal(plan_build(&p, regs, 3, 0, 125), 0);
	assert_int_equal(p.nreads, 1);
	assert_int_equal(p.reads[0].start, 4);
	assert_int_equal(p.reads[0].count, 2);
	check_cover(&p, regs, 3);
	plan_release(&p);
}

static void test_coils_2000(void **state)
{
	struct reg_def regs[2001];
	struct plan p;

	for (unsigned i = 0; i < 2001; i++)
		regs[i] = R(TABLE_COIL, i, TYPE_BIT);
	assert_int_equal(plan_build(&p, regs, 2001, 0, 125), 0);
	assert_int_equal(p.nreads, 2);
	assert_int_equal(p.reads[0].count, 2000);
	assert_int_equal(p.reads[1].count, 1);
	check_cover(&p, regs, 2001);
	plan_release(&p);
}

static void test_shipped_profiles(void **state)
{
	struct gw_config *cfg;
	FILE *errs = fopen("/dev/null", "w");
	struct plan p;

	assert_int_equal(config_load("config/gateway.conf", errs, &cfg), 0);
	fclose(errs);
	/* SDM120's registers are spread out: contiguous runs only, six reads
	 * (0x46-0x49 is one run of two floats) ... */
	const struct profile *sdm = config_profile(cfg, "sdm120");
	assert_non_null(sdm);
	assert_int_equal(plan_build(&p, sdm->regs, sdm->nregs, 0, 125), 0);
	assert_int_equal(p.nreads, 6);
	assert_int_equal(p.reads[4].start, 0x46);
	assert_int_equal(p.reads[4].count, 4);
	check_cover(&p, sdm->regs, sdm->nregs);
	plan_release(&p);
	/* ... and with gaps allowed, 0x0000..0x0049 in one, 0x0156 in another */
	assert_int_equal(plan_build(&p, sdm->regs, sdm->nregs, 40, 125), 0);
	assert_int_equal(p.nreads, 2);
	assert_int_equal(p.reads[0].start, 0);
	assert_int_equal(p.reads[0].count, 0x4A);
	assert_int_equal(p.reads[1].start, 0x156);
	check_cover(&p, sdm->regs, sdm->nregs);
	plan_release(&p);
	/* the cabinet's seventeen registers (with targetLightCommand) in one request */
	const struct profile *cab = config_profile(cfg, "lighting-cabinet");
	assert_int_equal(plan_build(&p, cab->regs, cab->nregs, 0, 125), 0);
	assert_int_equal(p.nreads, 1);
	assert_int_equal(p.reads[0].count, 17);
	plan_release(&p);
	config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_contiguous_one_read),
		cmocka_unit_test(test_tables_split),
		cmocka_unit_test(test_gap),
		cmocka_unit_test(test_no_gap_fallback),
		cmocka_unit_test(test_limit_125),
		cmocka_unit_test(test_bits_share),
		cmocka_unit_test(test_coils_2000),
		cmocka_unit_test(test_shipped_profiles),
	};
	return cmocka_run_group_tests_name("plan", tests, NULL, NULL);
}
