/* `resbench compare A B`: two runs or two experiments side by side. Prints every config key in
 * which they differ, a table of final results (for experiments: per variant, the B - A
 * difference, paired by seed when both have the seed), and draws both validation curves into
 * OUT/compare_loss.png. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd.h"
#include "config.h"
#include "csvread.h"
#include "plot.h"
#include "results.h"
#include "stats.h"
#include "train.h"
#include "util.h"

typedef struct {
    char dir[4096], label[4096];
    int is_exp;     /* experiment directory (summary.csv) or single run (result.ini) */
    Config cfg;     /* config.ini of the run, experiment.ini of the experiment */
    ExpResults exp; /* an experiment's runs, keyed by arm */
} Side;

static int open_side(const char *dir, Side *s) {
    memset(s, 0, sizeof *s);
    if (rb_copy_str(s->dir, sizeof s->dir, dir) != 0) return rb_fail("compare: path too long");
    const char *base = strrchr(dir, '/');
    rb_copy_str(s->label, sizeof s->label, base && base[1] ? base + 1 : dir);
    s->is_exp = rb_is_file_in(dir, "summary.csv");
    const char *ini = s->is_exp ? "experiment.ini" : "config.ini";
    if (!s->is_exp && !rb_is_file_in(dir, "result.ini"))
        return rb_fail("compare: %s is neither a finished run (result.ini) nor an experiment "
                       "(summary.csv)",
                       dir);
    char p[4300];
    config_defaults(&s->cfg);
    if (rb_join(p, sizeof p, dir, ini) != 0 || config_load_ini(&s->cfg, p) != 0)
        return rb_fail("compare: %s", rb_error());
    if (s->is_exp && results_load(dir, "compare", &s->exp) != 0) return -1;
    return 0;
}

static void print_config_diff(const Side *a, const Side *b) {
    ConfigDiff d[64];
    int n = config_differences(&a->cfg, &b->cfg, 0, d, 64), shown = 0;
    for (int i = 0; i < n; i++) /* where the results live is not a difference of the design */
        if (strcmp(d[i].key, "out") && strcmp(d[i].key, "run_id")) d[shown++] = d[i];
    printf("config: %d key%s differ%s\n", shown, shown == 1 ? "" : "s",
           shown ? " (A -> B)" : " (same config)");
    for (int i = 0; i < shown; i++) printf("  %-16s %s  ->  %s\n", d[i].key, d[i].a, d[i].b);
}

static void print_runs(const Side *a, const Side *b) {
    TrainResult ra, rb;
    if (train_read_result(a->dir, &ra) != 0 || train_read_result(b->dir, &rb) != 0) return;
    const char *names[] = {"final_val_loss", "best_val_loss", "tokens", "flops", "tok_per_s"};
    const double va[] = {ra.final_val_loss, ra.best_val_loss, ra.tokens, ra.flops, ra.tok_per_s};
    const double vb[] = {rb.final_val_loss, rb.best_val_loss, rb.tokens, rb.flops, rb.tok_per_s};
    printf("\n%-16s %14s %14s %14s\n", "result", "A", "B", "B - A");
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        printf("%-16s %14.6g %14.6g %+14.6g\n", names[k], va[k], vb[k], vb[k] - va[k]);
}

/* The finished runs of arm v in e: their final losses and run directories. */
static int arm_runs(const ExpResults *e, const char *v, const ExpRun **out) {
    int n = 0;
    for (int i = 0; i < e->n; i++)
        if (!strcmp(exp_arm(&e->runs[i]), v) && strcmp(e->runs[i].status, "failed") &&
            !isnan(e->runs[i].r.final_val_loss))
            out[n++] = &e->runs[i];
    return n;
}

/* Per arm in either experiment: mean final loss of A and B, and B - A paired by run (the same
 * run directory name: arm, shape and seed). */
static void print_experiments(const Side *a, const Side *b) {
    printf("\n%-14s %18s %18s  %s\n", "variant", "A val loss", "B val loss",
           "B - A [95% CI] (paired by run: arm, shape and seed)");
    const ExpResults *es[2] = {&a->exp, &b->exp};
    int total = a->exp.n + b->exp.n + 1;
    const char **arms = rb_calloc((size_t)total, sizeof(char *), "compare");
    const ExpRun **ra = rb_calloc((size_t)total, sizeof(ExpRun *), "compare"),
                 **rb = rb_calloc((size_t)total, sizeof(ExpRun *), "compare");
    double *xa = rb_calloc((size_t)total, sizeof(double), "compare"),
           *xb = rb_calloc((size_t)total, sizeof(double), "compare"),
           *pa = rb_calloc((size_t)total, sizeof(double), "compare"),
           *pb = rb_calloc((size_t)total, sizeof(double), "compare");
    int narms = 0;
    for (int side = 0; side < 2; side++)
        for (int v = 0; v < es[side]->nv; v++) {
            int dup = 0;
            for (int i = 0; i < narms; i++) dup |= !strcmp(arms[i], es[side]->variants[v]);
            if (!dup) arms[narms++] = es[side]->variants[v];
        }
    for (int i = 0; i < narms; i++) {
        int na = arm_runs(es[0], arms[i], ra), nb = arm_runs(es[1], arms[i], rb), np = 0;
        for (int q = 0; q < na; q++) xa[q] = ra[q]->r.final_val_loss;
        for (int j = 0; j < nb; j++) {
            xb[j] = rb[j]->r.final_val_loss;
            for (int q = 0; q < na; q++) /* pair with A's run of the same directory name */
                if (!strcmp(ra[q]->cfg.run_id, rb[j]->cfg.run_id)) {
                    pa[np] = xa[q];
                    pb[np++] = xb[j];
                    break;
                }
        }
        char ca[40] = "-", cb[40] = "-", cd[96] = "-";
        if (na) snprintf(ca, sizeof ca, "%.4f (%d)", stats_mean(xa, na), na);
        if (nb) snprintf(cb, sizeof cb, "%.4f (%d)", stats_mean(xb, nb), nb);
        if (np >= 2) {
            Interval iv = stats_paired_ci95(pb, pa, np);
            snprintf(cd, sizeof cd, "%+.4f [%+.4f, %+.4f] (%d pairs)", iv.delta,
                     iv.delta - iv.half_width, iv.delta + iv.half_width, np);
        } else if (np == 1) {
            snprintf(cd, sizeof cd, "%+.4f (1 pair)", pb[0] - pa[0]);
        }
        printf("%-14s %18s %18s  %s\n", arms[i], ca, cb, cd);
    }
    for (int side = 0; side < 2; side++) { /* which builds made each side's runs */
        BuildInfo bi;
        results_builds(es[side]->runs, es[side]->n, &bi);
        printf("\n%s: ", side ? "B" : "A");
        results_builds_write(stdout, &bi, 0);
        results_builds_free(&bi);
    }
    free(arms);
    free(ra);
    free(rb);
    free(xa);
    free(xb);
    free(pa);
    free(pb);
}

/* Validation curve of a side: a run's metrics.csv, or every run of an experiment averaged by
 * step (runs of every variant; for one variant, compare runs). */
static int write_curve(const Side *s, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return rb_fail("compare: cannot write %s", path);
    fprintf(f, "# tokens val_loss (%s)\n", s->dir);
    char p[4300];
    CsvTable t;
    if (rb_join(p, sizeof p, s->dir, "metrics.csv") == 0 && csv_load(p, &t) == 0) {
        int ct = csv_col(&t, "tokens"), cv = csv_col(&t, "val_loss");
        for (size_t r = 0; r < csv_nrows(&t) && ct >= 0 && cv >= 0; r++)
            if (!isnan(csv_num(&t, r, cv)))
                fprintf(f, "%.17g %.17g\n", csv_num(&t, r, ct), csv_num(&t, r, cv));
        csv_table_free(&t);
    }
    fclose(f);
    return 0;
}

static void compare_help(void) {
    printf(
        "usage: resbench compare [--out DIR] A B\n\n"
        "A and B are two finished runs or two experiments (ablate/sweep directories). Prints\n"
        "every config key in which they differ (A -> B), then for runs the final results side\n"
        "by side, for experiments per arm (variant spec) the mean final validation loss of A and\n"
        "B and B - A paired by run (same arm, shape and seed: the run directory name) with a\n"
        "Student t 95%% interval, and the builds that made each side's runs. For runs it also "
        "draws both\n"
        "validation curves into DIR/compare_loss.png (default DIR: B/compare).\n");
}

int cmd_compare(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        compare_help();
        return RB_EXIT_OK;
    }
    static const char *const opts[] = {"--out=", NULL};
    const char *vals[1] = {NULL}, *dirs[2] = {NULL, NULL};
    int nd = cli_positional(argc, argv, opts, vals, dirs, 2, 2, "directories (A and B)");
    if (nd < 0) rb_die(RB_EXIT_USAGE, "compare: %s", rb_error());
    const char *out = vals[0];
    static Side a, b;
    if (open_side(dirs[0], &a) != 0 || open_side(dirs[1], &b) != 0)
        rb_die(RB_EXIT_USAGE, "%s", rb_error());
    if (a.is_exp != b.is_exp)
        rb_die(RB_EXIT_USAGE, "compare: %s is %s but %s is %s; compare like with like", dirs[0],
               a.is_exp ? "an experiment" : "a run", dirs[1], b.is_exp ? "an experiment" : "a run");
    printf("A = %s\nB = %s\n", a.dir, b.dir);
    print_config_diff(&a, &b);
    if (a.is_exp) {
        print_experiments(&a, &b);
        results_free(&a.exp);
        results_free(&b.exp);
        return RB_EXIT_OK;
    }
    print_runs(&a, &b);
    char figdir[4300], pa[4400], pb[4400];
    if (out)
        rb_copy_str(figdir, sizeof figdir, out);
    else if (rb_join(figdir, sizeof figdir, b.dir, "compare") != 0)
        rb_die(RB_EXIT_USAGE, "compare: path too long");
    if (rb_mkdir_p(figdir) != 0 || rb_join(pa, sizeof pa, figdir, "compare_A.dat") != 0 ||
        rb_join(pb, sizeof pb, figdir, "compare_B.dat") != 0 || write_curve(&a, pa) != 0 ||
        write_curve(&b, pb) != 0)
        rb_die(RB_EXIT_FAIL, "%s", rb_error());
    char labels[300];
    snprintf(labels, sizeof labels, "A:%.100s B:%.100s", a.label, b.label);
    if (plot_gnuplot("compare.gp", figdir, labels) != 0)
        fprintf(stderr, "resbench: compare: figure not drawn: %s\n", rb_error());
    else
        printf("\ncompare: curves in %s/compare_loss.png\n", figdir);
    return RB_EXIT_OK;
}
