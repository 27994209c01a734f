/* The results library: an experiment directory loaded once (its summary.csv, every run's
 * config.ini, and the run files on demand) for report, fit, compare and plot, and the one
 * ablation table that ablate prints and report writes (text or markdown). */
#ifndef RB_RESULTS_H
#define RB_RESULTS_H
#include <stdio.h>

#include "claims.h"
#include "csvread.h"
#include "runs.h"

typedef struct {
    char dir[4200];
    ExpRun *runs; /* every row of summary.csv, failed ones included (status "failed") */
    int n;
    char (
        *variants)[RB_ARM_MAX]; /* the arms, in order of first appearance (as many as there are) */
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

/* The builds that made an experiment's runs (ExpRun.build: meta.ini's git_rev) and the pairs
 * (runs of one seed and data order, two arms) made by different builds: a floating-point change
 * between builds moves a trajectory as much as a new seed can. */
typedef struct {
    int n;                      /* distinct builds */
    char (*name)[RB_BUILD_MAX]; /* in order of first appearance; "unknown": no meta.ini/git_rev */
    int *runs;                  /* runs per build */
    int n_mixed;                /* pair groups (one seed) whose runs come from different builds */
    char **mixed;               /* per such group: "seed 4: prenorm (abc), NAME (def)" */
} BuildInfo;
/* Over the runs that did not fail. */
void results_builds(const ExpRun *runs, int n, BuildInfo *b);
void results_builds_free(BuildInfo *b);
/* The builds as text (markdown = 1: a paragraph of report.md): which builds made the runs, a
 * warning per pair group made by different builds, and a note when a build is unknown. */
void results_builds_write(FILE *f, const BuildInfo *b, int markdown);

/* The ablation table: per variant the runs, mean +- std of the final validation loss, the paired
 * delta to the baseline with its 95% interval, p and Holm's p, tok/s and overhead. */
typedef struct {
    char name[RB_ARM_MAX];
    int runs;
    double mean, sd, tok_s, overhead;
    int compared; /* c is set (not the baseline, data on both sides) */
    Comparison c;
} AblationRow;

typedef struct {
    AblationRow *rows; /* one per arm */
    int n, n_compared;
    int speeds_comparable;
    double worst_util; /* when not comparable: the lowest CPU utilization (NAN: not recorded) */
    BuildInfo builds;  /* which builds made the runs */
} AblationTable;

void ablation_table(const ExpRun *runs, int n, const char (*names)[RB_ARM_MAX], int nv,
                    AblationTable *t);
void ablation_table_free(AblationTable *t);
/* markdown = 0: aligned text for the console; 1: a markdown table with its notes. */
void ablation_table_write(FILE *f, const AblationTable *t, int markdown);

/* "-0.0056 [-0.0072, -0.0041] (3 pairs)", "... (Welch, unpaired)", "+0.01 (1 pair)" with the
 * given decimals, and a p-value as "0.0123", "<1e-4" or "-": the one text of a comparison for the
 * console, report.md and report.json alike. */
void results_fmt_interval(char *out, size_t n, const Comparison *c, int digits);
void results_fmt_p(char *out, size_t n, double p);

/* A table of text cells rendered as aligned text or as markdown; rows grow (table_add_row). */
#define RB_TABLE_MAX_COLS 10
#define RB_TABLE_CELL (RB_ARM_MAX + 96) /* an arm, or a number with its interval */
typedef struct {
    int ncols, nrows, cap;
    const char *header[RB_TABLE_MAX_COLS];
    char (*cell)[RB_TABLE_MAX_COLS][RB_TABLE_CELL];
} TextTable;
/* A new empty row: its cells. */
char (*table_add_row(TextTable *t))[RB_TABLE_CELL];
void table_write(FILE *f, const TextTable *t, int markdown);
void table_free(TextTable *t);

#endif
