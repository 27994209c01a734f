/* Data side of `resbench plot`: runs grouped by variant, aggregated into gnuplot data files. */
#ifndef RB_PLOT_H
#define RB_PLOT_H
#include "config.h"
#include "csvread.h"
#include "runs.h" /* RB_ARM_MAX */

typedef struct {
    char dir[4200], variant[RB_ARM_MAX]; /* variant: the run's arm */
    long seed;
    Config cfg; /* the run's config.ini: runs drawn together must agree on all but variant, seed */
    CsvTable metrics, profile, depth, gains, eval, routing, knockout;
    int has_profile, has_depth, has_gains, has_eval, has_routing, has_knockout;
} PlotRun;

/* Space-separated arm file names (exp_arm_file_name) that have data for each figure group
 * (malloc'd, as long as they need to be: plot_lists_free). */
typedef struct {
    char *loss, *profile, *depth, *gains, *probe;
    char *mixing;   /* gains with row/column sums (newer mhc.csv): figdir/mixing_variants.txt */
    char *routing;  /* routing.csv (routing.gp's left panel) */
    char *knockout; /* knockout.csv of at least one run (`resbench knockout`; the right panel) */
} PlotLists;
void plot_lists_free(PlotLists *l);

int plot_write_data(PlotRun *runs, int n, const char *figdir, PlotLists *lists);
void plot_run_free(PlotRun *r);
/* Render plots/SCRIPT (PNG and SVG) with gnuplot: data in and figures to figdir. */
int plot_gnuplot(const char *script_name, const char *figdir, const char *variants);
/* ... with extra gnuplot assignments ("name='value'; ...") for the script. */
int plot_gnuplot_with(const char *script_name, const char *figdir, const char *variants,
                      const char *extra);

/* `resbench plot` without exiting: RB_EXIT_OK or an exit code with rb_error() set. */
int plot_dirs(const char *const *dirs, int ndirs, const char *out);
/* `resbench plot --trend KEY --out DIR EXP...` (plot_trend.c): 0, or -1 with rb_error(). */
int plot_trend(const char *key, const char *const *dirs, int ndirs, const char *out);

#endif
