/* The results library: an experiment directory loaded once (its summary.csv, every run's
 * config.ini, and the run files on demand) for report, fit, compare and plot, and the one
 * ablation table that ablate prints and report writes (text or markdown). */
#ifndef RB_RESULTS_H
#define RB_RESULTS_H
#include <stdio.h>

#include "claims.h"
#include "csvread.h"
#include "runs.h"

#define RB_MAX_ARMS 16 /* variants (arms) in one experiment */

typedef struct {
    char dir[4200];
    ExpRun *runs; /* every row of summary.csv, failed ones included (status "failed") */
    int n;
    char variants[RB_MAX_ARMS][32]; /* in order of first appearance */
    int nv;
} ExpResults;

/* EXP/summary.csv (the runs and their results) and each run's config.ini when present
 * (ExpRun.has_cfg). who names the command in errors. 0, or -1 with rb_error(). */
int results_load(const char *exp, const char *who, ExpResults *e);
void results_free(ExpResults *e);
/* DIR/NAME into t: 1 loaded, 0 absent, -1 unreadable (rb_error()). */
int results_csv_in(const char *dir, const char *name, CsvTable *t);
/* The first trajectory key other than variant and seed in which a and b differ (runs drawn or
 * compared together must agree on everything else), or NULL. buf holds up to 64 differences. */
const ConfigDiff *results_design_difference(const Config *a, const Config *b, ConfigDiff buf[64]);
/* Pairing key of a run: the hash of its trajectory config with the variant and its options
 * blanked (the seed stays): runs with equal keys share data order and initial core weights.
 * 0 (cannot be paired) without a config. */
uint64_t results_pair_key(const ExpRun *r);

/* The ablation table: per variant the runs, mean +- std of the final validation loss, the paired
 * delta to the baseline with its 95% interval, p and Holm's p, tok/s and overhead. */
typedef struct {
    char name[32];
    int runs;
    double mean, sd, tok_s, overhead;
    int compared; /* c is set (not the baseline, data on both sides) */
    Comparison c;
} AblationRow;

typedef struct {
    AblationRow rows[RB_MAX_ARMS];
    int n, n_compared;
    int speeds_comparable;
    double worst_util; /* when not comparable: the lowest CPU utilization (NAN: not recorded) */
} AblationTable;

void ablation_table(const ExpRun *runs, int n, const char (*names)[32], int nv, AblationTable *t);
/* markdown = 0: aligned text for the console; 1: a markdown table with its notes. */
void ablation_table_write(FILE *f, const AblationTable *t, int markdown);

/* "-0.0056 [-0.0072, -0.0041] (3 pairs)", "... (Welch, unpaired)", "+0.01 (1 pair)" with the
 * given decimals, and a p-value as "0.0123", "<1e-4" or "-": the one text of a comparison for the
 * console, report.md and report.json alike. */
void results_fmt_interval(char *out, size_t n, const Comparison *c, int digits);
void results_fmt_p(char *out, size_t n, double p);

/* A table of text cells rendered as aligned text or as markdown. */
#define RB_TABLE_MAX_COLS 10
#define RB_TABLE_MAX_ROWS 64
typedef struct {
    int ncols, nrows;
    const char *header[RB_TABLE_MAX_COLS];
    char cell[RB_TABLE_MAX_ROWS][RB_TABLE_MAX_COLS][96];
} TextTable;
void table_write(FILE *f, const TextTable *t, int markdown);

#endif
