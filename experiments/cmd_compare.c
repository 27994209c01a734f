/* `resbench compare A B`: two runs or two experiments side by side. Prints every config key in
 * which they differ, a table of final results (for experiments: per variant, the B - A
 * difference, paired by seed when both have the seed), and draws both validation curves into
 * OUT/compare_loss.png. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "csvread.h"
#include "plot.h"
#include "stats.h"
#include "train.h"
#include "util.h"

#define MAX_ROWS 512

typedef struct {
    char dir[4096], label[128];
    int is_exp; /* experiment directory (summary.csv) or single run (result.ini) */
    Config cfg; /* config.ini of the run, experiment.ini of the experiment */
    CsvTable summary;
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
    if (s->is_exp && (rb_join(p, sizeof p, dir, "summary.csv") != 0 || csv_load(p, &s->summary)))
        return rb_fail("compare: %s", rb_error());
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

/* Final validation losses of variant v in summary t with their seeds (-1: no seed column). */
static int variant_losses(const CsvTable *t, const char *v, double *loss, long *seed) {
    int cv = csv_col(t, "variant"), cl = csv_col(t, "final_val_loss"), cs = csv_col(t, "seed");
    int n = 0;
    for (size_t r = 0; cv >= 0 && cl >= 0 && r < csv_nrows(t) && n < MAX_ROWS; r++)
        if (!strcmp(csv_cell(t, r, cv), v) && !isnan(csv_num(t, r, cl))) {
            loss[n] = csv_num(t, r, cl);
            seed[n++] = csv_int(t, r, cs, -1);
        }
    return n;
}

/* Per variant in either experiment: mean final loss of A and B, and B - A paired by seed. */
static void print_experiments(const Side *a, const Side *b) {
    printf("\n%-14s %18s %18s  %s\n", "variant", "A val loss", "B val loss",
           "B - A [95% CI] (paired by seed)");
    const CsvTable *ts[2] = {&a->summary, &b->summary};
    char seen[64][32];
    int nseen = 0;
    for (int side = 0; side < 2; side++) {
        const CsvTable *t = ts[side];
        int cv = csv_col(t, "variant");
        for (size_t r = 0; cv >= 0 && r < csv_nrows(t); r++) {
            const char *v = csv_cell(t, r, cv);
            int dup = 0;
            for (int i = 0; i < nseen; i++) dup |= !strcmp(seen[i], v);
            if (dup || nseen == 64) continue;
            rb_copy_str(seen[nseen++], 32, v);
        }
    }
    for (int i = 0; i < nseen; i++) {
        double xa[MAX_ROWS], xb[MAX_ROWS], pa[MAX_ROWS], pb[MAX_ROWS];
        long sa[MAX_ROWS], sb[MAX_ROWS];
        int na = variant_losses(ts[0], seen[i], xa, sa),
            nb = variant_losses(ts[1], seen[i], xb, sb);
        int np = 0;
        for (int j = 0; j < nb; j++) /* pair with A's run of the same variant and seed */
            for (int q = 0; q < na; q++)
                if (sb[j] >= 0 && sa[q] == sb[j]) {
                    pa[np] = xa[q];
                    pb[np++] = xb[j];
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
        printf("%-14s %18s %18s  %s\n", seen[i], ca, cb, cd);
    }
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
    printf("usage: resbench compare [--out DIR] A B\n\n"
           "A and B are two finished runs or two experiments (ablate/sweep directories). Prints\n"
           "every config key in which they differ (A -> B), then for runs the final results side\n"
           "by side, for experiments per variant the mean final validation loss of A and B and\n"
           "B - A paired by seed with a Student t 95%% interval. For runs it also draws both\n"
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
        csv_table_free(&a.summary);
        csv_table_free(&b.summary);
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
