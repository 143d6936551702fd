/* Mobile coverage: geotagged signal samples (survey files, the modem
 * driver, the ingest endpoint) in table coverage_sample, binned into a grid
 * over the ward (local equirectangular projection), per technology and
 * operator over a window; per cell the median in linear mW against the
 * technology's threshold; KPIs (covered area %, measured share, % of
 * samples at or above the threshold, population-weighted %) and dead spots
 * (adjacent measured cells below the threshold) as a GeoJSON
 * FeatureCollection. Used by the CLI and, on the loop thread, the daemon. */
#ifndef WARDGW_COVERAGE_H
#define WARDGW_COVERAGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "at_parse.h"
#include "config.h"

struct sqlite3;

/* The coverage { ... } section. */
struct coverage_conf {
	double cell_m;              /* grid cell edge, m */
	int window_days;
	double lte_rsrp_min;        /* covered when the cell's median >= this, dBm */
	double nr_rsrp_min;
	int adjacency;              /* 4 or 8: which neighbours join a dead-spot cluster */
	int publish_interval_s;     /* daemon: recompute and publish this often */
	char *boundary_file;        /* GeoJSON, resolved against the config's directory */
	char *population_file;      /* CSV lat,lon,population (optional) */
	double *ring;               /* the ward's outer ring, lon/lat pairs, closed */
	size_t nring;               /* positions in @ring */
	struct conf_origin at;
};

/** Parse coverage { ... } (@s) into a new *@out; errors through @ctx. */
void coverage_conf_parse(struct conf_ctx *ctx, const struct config_setting_t *s, struct coverage_conf **out);
void coverage_conf_free(struct coverage_conf *c);

/* The figure a coverage KPI reports (kpis = ( { aggregate = "coverage"; ... } )). */
enum coverage_figure { COV_AREA = 0, COV_MEASURED, COV_SAMPLES, COV_POPULATION };

/** The coverage keys of a KPI (technology, operator, figure); @cov may be NULL (an error then). */
void coverage_kpi_parse(struct conf_ctx *ctx, const struct config_setting_t *s, struct kpi_def *k,
			const struct coverage_conf *cov);
struct kpi_result;
/** A coverage KPI's value at @to_ms: the figure as a ratio 0..1 (times the
 *  KPI's scale) over the coverage window ending then; n = samples. 0 or negative errno. */
int coverage_kpi(struct sqlite3 *db, const struct coverage_conf *cov, const struct kpi_def *k, int64_t to_ms,
		 struct kpi_result *out);

/** Create coverage_sample and coverage_file in @db if missing. 0 or -EIO. */
int coverage_db_init(struct sqlite3 *db);

struct coverage_sample {
	int64_t ts_ms;
	double lat, lon;
	enum rat tech;
	const char *op;
	double rsrp, rsrq, sinr;    /* rsrq, sinr NaN when unknown */
};

/** Insert one sample (INSERT OR IGNORE on time, place, technology,
 *  operator). 1 inserted, 0 a duplicate, or negative errno. */
int coverage_insert(struct sqlite3 *db, const struct coverage_sample *s, const char *source);

struct survey_import {
	size_t rows, inserted, duplicates, bad;
	int already;                /* this file (same SHA-256) was imported before */
};

/**
 * Import a survey CSV file into @db, in one transaction. Bad rows are
 * reported to @errs as "FILE:LINE: message" and skipped. A file imported
 * before (same SHA-256) is not read again; rows seen before (same time,
 * place, technology and operator) are not counted twice. 0, or negative
 * errno when the file cannot be read or the database refuses.
 */
int coverage_import_survey(struct sqlite3 *db, const char *path, FILE *errs, struct survey_import *out);

struct coverage_cluster {
	size_t ncells;
	int *cells;                 /* grid indexes */
	int64_t samples;
	double median_dbm;
	double lat, lon;            /* centroid of the cells */
};

struct coverage_group {
	enum rat tech;
	char op[32];                /* operator, or "any" (best of all operators) */
	double threshold;
	int measured, covered;      /* cells inside the ward */
	int64_t samples, samples_ok;
	double pop_measured, pop_covered;
	struct coverage_cluster *clusters;
	size_t nclusters;
};

struct coverage_report;

/** Compute coverage over [@now - window, @now]. 0 or negative errno (message logged). */
int coverage_compute(struct sqlite3 *db, const struct coverage_conf *c, int64_t now_ms,
		     struct coverage_report **out);
void coverage_report_free(struct coverage_report *r);
size_t coverage_ngroups(const struct coverage_report *r);
const struct coverage_group *coverage_group_at(const struct coverage_report *r, size_t i);
/** The group for @tech and @op ("any" for the best of all operators), or NULL. */
const struct coverage_group *coverage_find(const struct coverage_report *r, enum rat tech, const char *op);
int coverage_ward_cells(const struct coverage_report *r);
/** Percentages (0..100), NaN when there is nothing to divide by. */
double coverage_area_pct(const struct coverage_group *g);
double coverage_measured_pct(const struct coverage_report *r, const struct coverage_group *g);
double coverage_samples_pct(const struct coverage_group *g);
double coverage_pop_pct(const struct coverage_group *g);   /* NaN without a population file */

/** The dead spots (and a summary as foreign member "coverage") as an RFC 7946
 *  FeatureCollection. A malloc'd string, NULL on -ENOMEM. */
char *coverage_geojson(const struct coverage_report *r);
/** The summary table for people. */
void coverage_print(const struct coverage_report *r, FILE *f);

#endif
