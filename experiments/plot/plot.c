/* The figures of `resbench plot DIR...` (cmd/cmd_plot.c), `report`, `sweep`, `fit` and `compare`:
 * gathers the runs under the given run or experiment directories, writes aggregated data files
 * (mean and min..max over seeds, per variant; plot_data.c) into FIRST_DIR/figures/ and renders them
 * with the gnuplot scripts in plots/. No plotting happens in C. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "csvread.h"
#include "plot.h"
#include "results.h"
#include "rundir.h"
#include "util.h"
#include "registry.h"

#ifndef RESBENCH_PLOTS_DIR
#define RESBENCH_PLOTS_DIR "plots"
#endif

/* Every column the figures read must be present: one line naming the file and the column. */
static int require_columns(const CsvTable *t, const char *dir, const char *name,
                           const char *const *cols) {
    for (int i = 0; cols[i]; i++)
        if (csv_col(t, cols[i]) < 0)
            return rb_fail("plot: %s/%s: column '%s' is missing (not written by this resbench?)",
                           dir, name, cols[i]);
    return 0;
}

static int check_run_columns(const PlotRun *r) {
    static const char *const metrics[] = {"step",       "tokens",   "flops",
                                          "train_loss", "val_loss", NULL};
    static const char *const profile[] = {"step",      "layer",           "kind",
                                          "input_rms", "output_rms",      "stream_rms",
                                          "grad_rms",  "param_grad_norm", NULL};
    static const char *const depth[] = {"step", "layer", "source", "weight", NULL};
    /* the row/column sums and dist_identity are optional (absent in older runs) */
    static const char *const gains[] = {
        "step", "layer", "fwd_gain", "bwd_gain", "composite_fwd_gain", "composite_bwd_gain", NULL};
    static const char *const eval[] = {"step", "hops", "accuracy", NULL};
    static const char *const routing[] = {"step",    "layer",           "n_sources",
                                          "entropy", "uniform_entropy", NULL};
    static const char *const knockout[] = {"source", "val_loss", "delta", NULL};
    if (require_columns(&r->metrics, r->dir, "metrics.csv", metrics)) return -1;
    if (r->has_profile && require_columns(&r->profile, r->dir, "profile.csv", profile)) return -1;
    if (r->has_depth && require_columns(&r->depth, r->dir, "depth_attn.csv", depth)) return -1;
    if (r->has_gains && require_columns(&r->gains, r->dir, "mhc.csv", gains)) return -1;
    if (r->has_eval && require_columns(&r->eval, r->dir, "eval.csv", eval)) return -1;
    if (r->has_routing && require_columns(&r->routing, r->dir, "routing.csv", routing)) return -1;
    if (r->has_knockout && require_columns(&r->knockout, r->dir, "knockout.csv", knockout))
        return -1;
    return 0;
}

/* A loss column with no finite value draws nothing (gnuplot would stop on an empty range): one
 * line naming the file and the column. */
static int check_losses(const PlotRun *r) {
    static const char *const cols[] = {"val_loss", "train_loss"};
    for (int k = 0; k < 2; k++) {
        int c = csv_col(&r->metrics, cols[k]), finite = 0;
        for (size_t q = 0; q < csv_nrows(&r->metrics) && !finite; q++)
            finite = isfinite(csv_num(&r->metrics, q, c));
        if (!finite)
            return rb_fail("plot: %s/metrics.csv: column '%s' holds no finite value (%s): nothing "
                           "to draw for this run",
                           r->dir, cols[k],
                           csv_nrows(&r->metrics) ? "NaN or infinite losses: the run diverged"
                                                  : "no rows");
    }
    return 0;
}

/* The arm of a run outside an experiment: its variant, with every option it sets away from the
 * default (NAME:OPTION=VALUE,...), so runs of two arms of one variant are never pooled. */
static void config_arm(const Config *c, char *out, size_t n) {
    size_t len = (size_t)snprintf(out, n, "%s", c->variant);
    int k = 0;
    for (int i = 0; c->vt && i < c->vt->n_options; i++) {
        const VariantOption *o = &c->vt->options[i];
        if (config_option(c, o->key) == o->def) continue;
        char val[64];
        config_format_option(c, o, val, sizeof val);
        if (len < n)
            len += (size_t)snprintf(out + len, n - len, "%c%s=%s", k++ ? ',' : ':', o->name, val);
    }
}

static int load_run(const char *dir, PlotRun *r) {
    memset(r, 0, sizeof *r);
    if (rb_copy_str(r->dir, sizeof r->dir, dir) != 0)
        return rb_fail("plot: path too long: %s", dir);
    Config c;
    if (rundir_read_config(dir, &c) != 0) return -1;
    config_arm(&c, r->variant, sizeof r->variant);
    r->seed = c.seed;
    r->cfg = c;
    if (results_csv_in(dir, "metrics.csv", &r->metrics) != 1)
        return rb_fail("%s/metrics.csv: missing or malformed", dir);
    if ((r->has_profile = results_csv_in(dir, "profile.csv", &r->profile)) < 0 ||
        (r->has_depth = results_csv_in(dir, "depth_attn.csv", &r->depth)) < 0 ||
        (r->has_gains = results_csv_in(dir, "mhc.csv", &r->gains)) < 0 ||
        (r->has_eval = results_csv_in(dir, "eval.csv", &r->eval)) < 0 ||
        (r->has_routing = results_csv_in(dir, "routing.csv", &r->routing)) < 0 ||
        (r->has_knockout = results_csv_in(dir, "knockout.csv", &r->knockout)) < 0)
        return -1;
    if (check_run_columns(r) != 0 || check_losses(r) != 0) return -1;
    return 0;
}

/* The runs gathered so far (grows). */
typedef struct {
    PlotRun *r;
    int n, cap;
} PlotRuns;

static PlotRun *next_run(PlotRuns *rs) {
    if (rs->n == rs->cap) {
        int cap = rs->cap ? 2 * rs->cap : 16;
        PlotRun *grown = rb_realloc(rs->r, (size_t)cap * sizeof *grown, "plot");
        rs->r = grown;
        rs->cap = cap;
    }
    return &rs->r[rs->n++];
}

/* DIR is a run (it has metrics.csv) or holds runs one level down. */
static int collect(const char *dir, PlotRuns *rs) {
    PlotRun *runs;
    int *n = &rs->n;
    if (rb_is_file_in(dir, "metrics.csv")) return load_run(dir, next_run(rs));
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return rb_fail("plot: %s is not a directory", dir);
    char **names = NULL;
    int count = rb_list_dir(dir, &names);
    if (count < 0) return -1;
    int found = 0, rc = 0;
    for (int i = 0; i < count && rc == 0; i++) {
        char sub[4200];
        if (rb_join(sub, sizeof sub, dir, names[i]) == 0 && rb_is_file_in(sub, "metrics.csv")) {
            rc = load_run(sub, next_run(rs));
            found++;
        }
    }
    for (int i = 0; i < count; i++) free(names[i]);
    free(names);
    runs = rs->r;
    if (rc == 0 && found && rb_is_file_in(dir, "summary.csv")) { /* an experiment: label by arm */
        ExpResults e;
        if (results_load(dir, "plot", &e) != 0) return -1;
        for (int i = *n - found; i < *n; i++) {
            const char *base = strrchr(runs[i].dir, '/');
            base = base ? base + 1 : runs[i].dir;
            for (int k = 0; k < e.n; k++)
                if (!strcmp(e.runs[k].cfg.run_id, base))
                    rb_copy_str(runs[i].variant, sizeof runs[i].variant, exp_arm(&e.runs[k]));
        }
        results_free(&e);
    }
    if (rc == 0 && found == 0)
        return rb_fail("plot: %s holds no run (no metrics.csv in it or its subdirectories)", dir);
    return rc;
}

static int run_gnuplot(const char *script, const char *vars) {
    pid_t pid = fork();
    if (pid < 0) return rb_fail("plot: fork failed: %s", strerror(errno));
    if (pid == 0) {
        execlp("gnuplot", "gnuplot", "-e", vars, script, (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        return rb_fail("plot: gnuplot not found in PATH (install it, e.g. apt-get install "
                       "gnuplot-nox)");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return rb_fail("plot: gnuplot failed on %s", script);
    return 0;
}

int plot_gnuplot(const char *script_name, const char *figdir, const char *variants) {
    return plot_gnuplot_with(script_name, figdir, variants, NULL);
}

int plot_gnuplot_with(const char *script_name, const char *figdir, const char *variants,
                      const char *extra) {
    const char *env = getenv("RESBENCH_PLOTS");
    const char *pdir = env && *env ? env : RESBENCH_PLOTS_DIR;
    char script[4300];
    if (rb_join(script, sizeof script, pdir, script_name) != 0) return -1;
    if (access(script, R_OK) != 0)
        return rb_fail("plot: cannot read %s (set RESBENCH_PLOTS to the plots/ directory)", script);
    if (strchr(figdir, '\'') || strchr(figdir, '"'))
        return rb_fail("plot: output path %s contains a quote", figdir);
    /* the whole assignment list, however many arms: one argument of at most 128 KiB (Linux) */
    size_t need =
        strlen(pdir) + 2 * strlen(figdir) + strlen(variants) + (extra ? strlen(extra) : 0) + 128;
    if (need > 128 * 1024)
        return rb_fail("plot: the list of arms to draw is %zu characters, more than gnuplot's "
                       "128 KiB argument holds; plot fewer arms at a time",
                       strlen(variants));
    char *vars = rb_calloc(need, 1, "plot");
    int rc = 0;
    for (int fmt = 0; fmt < 2 && rc == 0; fmt++) {
        snprintf(vars, need,
                 "plotsdir='%s'; datadir='%s'; outdir='%s'; fmt='%s'; variants='%s'%s%s", pdir,
                 figdir, figdir, fmt ? "svg" : "png", variants, extra ? "; " : "",
                 extra ? extra : "");
        rc = run_gnuplot(script, vars);
    }
    free(vars);
    return rc;
}

/* Figures for the runs under dirs into out (default: FIRST_DIR/figures). RB_EXIT_OK, or an exit
 * code with rb_error() set (bad input: RB_EXIT_USAGE; gnuplot or I/O: RB_EXIT_FAIL). */
/* Curves average runs over seeds: every run must share the trajectory config of the first except
 * variant and seed (shape, data, budget, schedule...), else one line names the key. */
static int check_one_group(const PlotRun *runs, int n) {
    for (int i = 1; i < n; i++) {
        ConfigDiff diffs[64];
        const ConfigDiff *d = results_design_difference(&runs[0].cfg, &runs[i].cfg, diffs);
        if (d)
            return rb_fail("plot: the runs differ in %s (%s in %s, %s in %s): curves average "
                           "runs that differ only in variant and seed; plot each group on its own",
                           d->key, d->a, runs[0].dir, d->b, runs[i].dir);
    }
    return 0;
}

int plot_dirs(const char *const *dirs, int ndirs, const char *out) {
    PlotRuns rs = {0};
    int rc = RB_EXIT_OK, made = 0;
    for (int i = 0; i < ndirs && rc == RB_EXIT_OK; i++)
        if (collect(dirs[i], &rs) != 0) rc = RB_EXIT_USAGE;
    PlotRun *runs = rs.r;
    int n = rs.n;
    if (rc == RB_EXIT_OK && check_one_group(runs, n) != 0) rc = RB_EXIT_USAGE;
    char figdir[4200];
    if (out)
        snprintf(figdir, sizeof figdir, "%s", out);
    else
        snprintf(figdir, sizeof figdir, "%s/figures", dirs[0]);
    if (rc == RB_EXIT_OK && rb_mkdir_p(figdir) != 0) rc = RB_EXIT_USAGE;
    PlotLists lists = {0};
    if (rc == RB_EXIT_OK && plot_write_data(runs, n, figdir, &lists) != 0) rc = RB_EXIT_FAIL;
    if (rc == RB_EXIT_OK) {
        const char *figs[][2] = {{"loss.gp", lists.loss},
                                 {"profile.gp", lists.profile},
                                 {"depth.gp", lists.depth},
                                 {"gains.gp", lists.gains},
                                 {"probe.gp", lists.probe}};
        for (size_t f = 0; f < sizeof figs / sizeof figs[0] && rc == RB_EXIT_OK; f++) {
            if (!figs[f][1][0]) continue;
            if (plot_gnuplot(figs[f][0], figdir, figs[f][1]) != 0) rc = RB_EXIT_FAIL;
            made++;
        }
        if (rc == RB_EXIT_OK && lists.routing[0]) { /* knockout data ride along (their panel) */
            size_t len = strlen(lists.knockout) + 16;
            char *extra = rb_calloc(len, 1, "plot");
            snprintf(extra, len, "knockvars='%s'", lists.knockout);
            if (plot_gnuplot_with("routing.gp", figdir, lists.routing, extra) != 0)
                rc = RB_EXIT_FAIL;
            free(extra);
            made++;
        }
    }
    for (int i = 0; i < n; i++) plot_run_free(&runs[i]);
    free(runs);
    plot_lists_free(&lists);
    if (rc == RB_EXIT_OK)
        printf("plot: %d runs, %d figure groups written to %s\n", n, made, figdir);
    return rc;
}
