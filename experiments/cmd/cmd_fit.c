/* `resbench fit`: the compute-multiplier analysis. Prenorm's final losses over a size ladder (at
 * least 4 distinct sizes or budgets) give L(C) = a C^-b + c; every other variant's group at compute
 * C reaching loss L is worth C_prenorm(L) / C of prenorm compute (1.25 = "matches a baseline
 * trained with 1.25x the compute"). The interval is a bootstrap over seeds (fit.h); the wall-clock
 * view scales the multiplier by the achieved FLOP rate of the variant relative to prenorm. */
#define _GNU_SOURCE /* open_memstream */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd.h"
#include "csvout.h"
#include "csvread.h"
#include "fit.h"
#include "multiplier.h"
#include "results.h"
#include "plot.h"
#include "stats.h"
#include "util.h"

#define MAX_GROUPS FIT_MAX_GROUPS
#define BOOT_SEED 20260315UL

static FitGroup *find_group(FitGroup *g, int *ng, const char *v, int nl, int dm, double tokens,
                            double flops) {
    for (int i = 0; i < *ng; i++)
        if (!strcmp(g[i].variant, v) && g[i].n_layer == nl && g[i].d_model == dm &&
            g[i].tokens == tokens && fabs(g[i].flops - flops) <= 1e-6 * flops)
            return &g[i];
    if (*ng == MAX_GROUPS) {
        rb_fail("fit: more than %d groups (arm x shape x budget); one fit holds %d", MAX_GROUPS,
                MAX_GROUPS);
        return NULL;
    }
    FitGroup *n = &g[(*ng)++];
    memset(n, 0, sizeof *n);
    rb_copy_str(n->variant, sizeof n->variant, v);
    n->n_layer = nl;
    n->d_model = dm;
    n->tokens = tokens;
    n->flops = flops;
    return n;
}

static int load_summary(const char *dir, FitGroup *g, int *ng) {
    ExpResults e;
    if (results_load(dir, "fit", &e) != 0) return -1;
    int rc = 0;
    for (int r = 0; r < e.n && rc == 0; r++) {
        const ExpRun *a = &e.runs[r];
        double loss = a->r.final_val_loss, fl = a->r.flops;
        if (!strcmp(a->status, "failed") || !isfinite(loss)) continue;
        if (!isfinite(fl) || fl <= 0) {
            rc = rb_fail("fit: %s/summary.csv: row %d, column flops: '%g' is not a positive number",
                         dir, r + 2, fl);
            break;
        }
        FitGroup *gr = /* one group per arm, shape and budget: arms of one variant stay apart */
            find_group(g, ng, exp_arm(a), a->cfg.n_layer, a->cfg.d_model, a->r.tokens, fl);
        if (!gr) {
            rc = -1;
            break;
        }
        if (gr->n == FIT_MAX_SEEDS) {
            rc = rb_fail("fit: %s/summary.csv: %s n_layer=%d d_model=%d has more than %d runs (the "
                         "seeds a group holds)",
                         dir, exp_arm(a), a->cfg.n_layer, a->cfg.d_model, FIT_MAX_SEEDS);
            break;
        }
        gr->seed[gr->n] = a->cfg.seed;
        gr->tok_per_s[gr->n] = a->r.tok_per_s;
        gr->loss[gr->n++] = loss;
    }
    results_free(&e);
    return rc;
}

/* Achieved FLOP rate of group i over prenorm's at the same shape and token budget: the factor that
 * turns a compute multiplier into a wall-clock one (NAN without a prenorm twin or speeds). */
static double flop_rate_ratio(const FitGroup *g, int ng, int i) {
    for (int j = 0; j < ng; j++)
        if (!strcmp(g[j].variant, RB_BASELINE) && g[j].n_layer == g[i].n_layer &&
            g[j].d_model == g[i].d_model && g[j].tokens == g[i].tokens) {
            double ti = stats_mean(g[i].tok_per_s, g[i].n), tj = stats_mean(g[j].tok_per_s, g[j].n);
            if (!(ti > 0) || !(tj > 0)) return NAN;
            return (g[i].flops / g[i].tokens * ti) / (g[j].flops / g[j].tokens * tj);
        }
    return NAN;
}

static void fit_help(void) {
    printf(
        "usage: resbench fit [--out DIR] [--bootstrap N] EXPERIMENT_DIR...\n\n"
        "Reads summary.csv of ablate/sweep experiments and groups runs by arm (variant spec),\n"
        "shape and token budget. Fits L(C) = a C^-b + c to prenorm's mean losses (at least 4 "
        "distinct\n"
        "compute values: a size ladder) and reports for every group the compute multiplier\n"
        "C_prenorm(L) / C ('inf' when its loss is below the fitted asymptote c), and per variant\n"
        "the multiplier pooled over sizes (geometric mean). 95%% intervals: bootstrap over seeds,\n"
        "refitting the law in every resample (N resamples, default 2000, fixed RNG seed).\n"
        "Wall-clock view: multiplier x (variant's achieved FLOP/s / prenorm's at the same shape),\n"
        "from the runs' tok_per_s. Writes fit.csv, fit_pooled.csv, fit.ini and figures/fit.png\n"
        "into the first directory (or --out DIR).\n");
}

static void fmt(char *out, double v) {
    rb_fmt_double(out, 48, v);
}

static int write_law(const char *outdir, const FitResult *r, int boot, const char *const *dirs,
                     int ndirs) {
    char path[4200], a[48], b[48], c[48], e[48], *text = NULL;
    size_t len = 0;
    fmt(a, r->law.a);
    fmt(b, r->law.b);
    fmt(c, r->law.c);
    fmt(e, r->law.rmse);
    FILE *f = open_memstream(&text, &len); /* every directory, however long the list */
    if (!f) return rb_fail("fit: out of memory");
    fprintf(f,
            "# resbench fit: prenorm's law L(C) = a * C^-b + c\n"
            "a = %s\nb = %s\nc = %s\nrmse = %s\npoints = %d\nc_at_bound = %d\n"
            "bootstrap = %d\nbootstrap_seed = %lu\nexperiments =",
            a, b, c, e, r->points, r->law.c_at_bound, boot, BOOT_SEED);
    for (int i = 0; i < ndirs; i++) fprintf(f, " %s", dirs[i]); /* the summaries fitted */
    fprintf(f, "\n");
    fclose(f);
    int rc = rb_join(path, sizeof path, outdir, "fit.ini");
    if (rc == 0) rc = rb_write_file_atomic(path, text, len);
    free(text);
    return rc;
}

/* The ladder of arm v against prenorm (docs/statistics.md section 7): one size per group of v
 * with a prenorm group of the same shape and tokens, the seeds of every group as columns (a seed
 * missing anywhere is NAN and multiplier_paired drops it). size_of[i] receives group i's size
 * (-1: not in the ladder). */
static void build_ladder(const FitGroup *g, int ng, const char *v, Ladder *l, int *size_of) {
    long seeds[LADDER_MAX_SEEDS];
    memset(l, 0, sizeof *l);
    for (int i = 0; i < ng; i++) size_of[i] = -1;
    for (int i = 0; i < ng && l->sizes < LADDER_MAX_SIZES; i++) {
        if (strcmp(g[i].variant, v)) continue;
        int p = -1;
        for (int k = 0; k < ng && p < 0; k++)
            if (!strcmp(g[k].variant, RB_BASELINE) && g[k].n_layer == g[i].n_layer &&
                g[k].d_model == g[i].d_model && g[k].tokens == g[i].tokens)
                p = k;
        if (p < 0) continue;
        int s = l->sizes++;
        size_of[i] = s;
        l->flops_base[s] = g[p].flops;
        l->flops_variant[s] = g[i].flops;
        for (int j = 0; j < LADDER_MAX_SEEDS; j++) l->loss_base[s][j] = l->loss_variant[s][j] = NAN;
        for (int side = 0; side < 2; side++) {
            const FitGroup *x = side ? &g[i] : &g[p];
            for (int k = 0; k < x->n; k++) {
                int j = 0;
                while (j < l->seeds && seeds[j] != x->seed[k]) j++;
                if (j == l->seeds) {
                    if (l->seeds == LADDER_MAX_SEEDS) continue; /* more seeds than a ladder holds */
                    seeds[l->seeds++] = x->seed[k];
                    for (int t = 0; t < LADDER_MAX_SIZES; t++)
                        l->loss_base[t][j] = l->loss_variant[t][j] = NAN;
                }
                (side ? l->loss_variant : l->loss_base)[s][j] = x->loss[k];
            }
        }
    }
}

/* Per group and pooled per arm: the paired-seed t interval of the multiplier. */
static void paired_intervals(const FitGroup *g, int ng, const FitResult *r, MultInterval *group,
                             MultInterval *pooled) {
    static Ladder l;
    static int size_of[FIT_MAX_GROUPS];
    for (int i = 0; i < ng; i++) group[i] = (MultInterval){NAN, NAN, NAN, NAN, 0};
    for (int p = 0; p < r->n_pooled; p++) {
        build_ladder(g, ng, r->pooled_variant[p], &l, size_of);
        pooled[p] = multiplier_paired(&l, &r->law, -1, 0.95);
        for (int i = 0; i < ng; i++)
            if (size_of[i] >= 0) group[i] = multiplier_paired(&l, &r->law, size_of[i], 0.95);
    }
}

/* The multiplier columns both tables end with (docs/formats.md, fit.csv): the mean-based estimate,
 * the FLOP-rate ratio and the wall-clock multiplier it gives, the paired-seed estimate. */
enum { EST_COLS = 11, FIT_LEAD = 8, POOLED_LEAD = 2, MAX_COLS = FIT_LEAD + EST_COLS };
static const char *const EST_HEADER[EST_COLS] = {
    "multiplier",      "multiplier_lo",      "multiplier_hi",      "flop_rate_ratio",
    "wall_multiplier", "wall_multiplier_lo", "wall_multiplier_hi", "paired_multiplier",
    "paired_lo",       "paired_hi",          "paired_seeds"};

/* lead's n names, then the estimate columns, into header (MAX_COLS entries); the column count */
static int table_header(const char *const *lead, int n, const char **header) {
    for (int k = 0; k < n; k++) header[k] = lead[k];
    for (int k = 0; k < EST_COLS; k++) header[n + k] = EST_HEADER[k];
    return n + EST_COLS;
}

/* The estimate columns of one row into f[0..EST_COLS-1]. */
static void est_cells(char (*f)[48], const FitEstimate *e, double rate, const MultInterval *m) {
    const double v[7] = {e->point, e->lo, e->hi, rate, e->point * rate, e->lo * rate, e->hi * rate};
    for (int k = 0; k < 7; k++) fmt(f[k], v[k]);
    fmt(f[7], m->point);
    fmt(f[8], m->lo);
    fmt(f[9], m->hi);
    snprintf(f[10], 48, "%d", m->n);
}

static int write_tables(const char *outdir, const FitGroup *g, int ng, const FitResult *r,
                        const double *rate, const double *pooled_rate, const MultInterval *pg,
                        const MultInterval *pp) {
    static const char *const FIT_COLS[FIT_LEAD] = {"variant",       "n_layer",     "d_model",
                                                   "tokens",        "flops",       "runs",
                                                   "val_loss_mean", "val_loss_std"};
    static const char *const POOLED_COLS[POOLED_LEAD] = {"variant", "sizes"};
    const char *header[MAX_COLS], *row[MAX_COLS];
    char path[4200], f[MAX_COLS][48];
    for (int k = 0; k < MAX_COLS; k++) row[k] = f[k];
    CsvOut csv;
    int nc = table_header(FIT_COLS, FIT_LEAD, header);
    if (rb_join(path, sizeof path, outdir, "fit.csv") != 0 ||
        csv_open_atomic(&csv, path, header, nc))
        return -1;
    for (int i = 0; i < ng; i++) {
        row[0] = g[i].variant; /* the arm, of any length */
        snprintf(f[1], 48, "%d", g[i].n_layer);
        snprintf(f[2], 48, "%d", g[i].d_model);
        fmt(f[3], g[i].tokens);
        fmt(f[4], g[i].flops);
        snprintf(f[5], 48, "%d", g[i].n);
        fmt(f[6], stats_mean(g[i].loss, g[i].n));
        fmt(f[7], stats_std(g[i].loss, g[i].n));
        est_cells(f + FIT_LEAD, &r->group[i], rate[i], &pg[i]);
        if (csv_row(&csv, row) != 0) return -1;
    }
    if (csv_commit(&csv) != 0) return -1;
    nc = table_header(POOLED_COLS, POOLED_LEAD, header);
    if (rb_join(path, sizeof path, outdir, "fit_pooled.csv") != 0 ||
        csv_open_atomic(&csv, path, header, nc))
        return -1;
    for (int p = 0; p < r->n_pooled; p++) {
        row[0] = r->pooled_variant[p];
        snprintf(f[1], 48, "%d", r->pooled_sizes[p]);
        est_cells(f + POOLED_LEAD, &r->pooled[p], pooled_rate[p], &pp[p]);
        if (csv_row(&csv, row) != 0) return -1;
    }
    return csv_commit(&csv);
}

/* gnuplot data: the fitted curve and every variant's points (mean, std over seeds), each labelled
 * with its paired-seed multiplier (docs/statistics.md section 7; the mean-based one without pairs).
 */
static int write_figure(const char *outdir, const FitGroup *g, int ng, const FitResult *r,
                        const MultInterval *pg, const MultInterval *pp) {
    char figdir[4200], path[4400];
    char *variants = rb_calloc((size_t)r->n_pooled + 1, RB_ARM_MAX + 1, "fit"); /* every arm */
    if (rb_join(figdir, sizeof figdir, outdir, "figures") != 0 || rb_mkdir_p(figdir) != 0)
        return -1;
    for (int p = 0; p < r->n_pooled; p++) {
        const char *v = r->pooled_variant[p];
        char file[RB_ARM_MAX], name[RB_ARM_MAX + 32];
        if (exp_arm_file_name(file, sizeof file, v) != 0) {
            free(variants);
            return -1;
        }
        snprintf(name, sizeof name, "fit_points_%s.dat", file);
        FILE *pf = rb_join(path, sizeof path, figdir, name) == 0 ? fopen(path, "w") : NULL;
        if (!pf) {
            free(variants);
            return rb_fail("cannot write %s/%s", figdir, name);
        }
        for (int i = 0; i < ng; i++)
            if (!strcmp(g[i].variant, v))
                fprintf(pf, "%.6e %.6f %.6f %.6f\n", g[i].flops, stats_mean(g[i].loss, g[i].n),
                        stats_std(g[i].loss, g[i].n),
                        isnan(pg[i].point) ? r->group[i].point : pg[i].point);
        fclose(pf);
        if (variants[0]) strcat(variants, " ");
        strcat(variants, file); /* sized for every arm's file name */
    }
    double cmin = INFINITY, cmax = 0;
    for (int i = 0; i < ng; i++) {
        cmin = fmin(cmin, g[i].flops);
        cmax = fmax(cmax, g[i].flops);
    }
    FILE *cf = rb_join(path, sizeof path, figdir, "fit_curve.dat") == 0 ? fopen(path, "w") : NULL;
    if (!cf) {
        free(variants);
        return rb_fail("cannot write %s/fit_curve.dat", figdir);
    }
    fprintf(cf, "# C L(C) = %.6g C^-%.6g + %.6g\n", r->law.a, r->law.b, r->law.c);
    for (int k = 0; k <= 200; k++) {
        double C = cmin / 2 * pow(4 * cmax / cmin, k / 200.0);
        fprintf(cf, "%.6e %.6f\n", C, power_law_loss(&r->law, C));
    }
    fclose(cf);
    /* the law and each variant's pooled multiplier with its interval, printed on the figure */
    FILE *af =
        rb_join(path, sizeof path, figdir, "fit_annotation.txt") == 0 ? fopen(path, "w") : NULL;
    if (!af) {
        free(variants);
        return rb_fail("cannot write %s/fit_annotation.txt", figdir);
    }
    fprintf(af, "prenorm: L(C) = %.4g C^-%.4g + %.4g\n", r->law.a, r->law.b, r->law.c);
    for (int p = 0; p < r->n_pooled; p++) {
        const FitEstimate *e = &r->pooled[p];
        if (!strcmp(r->pooled_variant[p], RB_BASELINE)) continue;
        if (isnan(pp[p].lo))
            fprintf(af, "%s: %.2fx (no interval)\n", r->pooled_variant[p], e->point);
        else
            fprintf(af, "%s: %.2fx, paired-seed t 95%% [%.2f, %.2f]\n", r->pooled_variant[p],
                    pp[p].point, pp[p].lo, pp[p].hi);
    }
    fprintf(af, "(the paper's claim: about 1.25x)");
    fclose(af);
    if (plot_gnuplot("fit.gp", figdir, variants) != 0)
        fprintf(stderr, "resbench: fit: figure not drawn: %s\n", rb_error());
    free(variants);
    return 0;
}

static void print_estimate(const FitEstimate *e, double scale) {
    if (isnan(e->point * scale)) {
        printf("%-22s", "n/a");
        return;
    }
    char s[64];
    snprintf(s, sizeof s, "%.3f [%.3f, %.3f]", e->point * scale, e->lo * scale, e->hi * scale);
    printf("%-22s", s);
}

/* The verdict of the paired-seed t interval against 1 (prenorm; docs/statistics.md sections 5 and
 * 7), with where the paper's 1.25 lies. */
static const char *verdict(const MultInterval *e) {
    if (isnan(e->lo) || isnan(e->hi)) return "not tested (needs 2+ complete seeds)";
    if (e->lo > 1.25) return "reproduced (above 1.25)";
    if (e->lo > 1) return e->hi >= 1.25 ? "reproduced (1.25 inside)" : "reproduced (below 1.25)";
    if (e->hi < 1) return "opposite";
    return "inconclusive";
}

static const char *wall_verdict(const FitEstimate *e) {
    if (isnan(e->point)) return "no speeds";
    if (isnan(e->lo) || isnan(e->hi)) return "not tested";
    return e->lo > 1 ? "wins at equal wall time"
                     : (e->hi < 1 ? "loses at equal wall time" : "inconclusive");
}

static void print_results(const FitGroup *g, int ng, const FitResult *r, const double *rate,
                          const double *pooled_rate, int boot, const MultInterval *pp) {
    printf("prenorm fit over %d sizes: L(C) = %.4g * C^-%.4f + %.4f (rmse %.4f)\n", r->points,
           r->law.a, r->law.b, r->law.c, r->law.rmse);
    if (r->law.c_at_bound)
        printf("warning: the asymptote c = %.4f lies at the edge of its range [0, min loss): the "
               "law is underdetermined by these points; read the multipliers with care\n",
               r->law.c);
    if (r->points < 5)
        printf("warning: %d compute values for 3 parameters leave %d degrees of freedom (5+ "
               "recommended): the law is barely determined\n",
               r->points, r->points - 3);
    printf("\n95%% intervals: bootstrap over seeds (%d resamples, law refitted in each; not "
           "calibrated: with 3 seeds it covers about 70%%, docs/statistics.md section 7)\n",
           boot);
    printf("%-14s %7s %7s %11s %4s %9s  %-22s %7s  %s\n", "variant", "n_layer", "d_model", "FLOPs",
           "runs", "val loss", "compute multiplier", "FLOP/s", "wall-clock multiplier");
    for (int i = 0; i < ng; i++) {
        printf("%-14s %7d %7d %11.4g %4d %9.4f  ", g[i].variant, g[i].n_layer, g[i].d_model,
               g[i].flops, g[i].n, stats_mean(g[i].loss, g[i].n));
        print_estimate(&r->group[i], 1);
        printf(" %7.3f  ", rate[i]);
        print_estimate(&r->group[i], rate[i]);
        printf("\n");
    }
    printf("\npooled over sizes (geometric mean of the groups' multipliers); the verdict from the "
           "paired-seed t interval (calibrated, docs/statistics.md section 7):\n");
    printf("%-14s %5s  %-22s %-22s %-22s  %s\n", "variant", "sizes", "paired-seed t [95%]",
           "bootstrap (uncal.)", "wall-clock (bootstrap)",
           "verdict: at equal compute | at equal wall time");
    for (int p = 0; p < r->n_pooled; p++) {
        if (!strcmp(r->pooled_variant[p], RB_BASELINE)) continue;
        printf("%-14s %5d  ", r->pooled_variant[p], r->pooled_sizes[p]);
        FitEstimate t = {pp[p].point, pp[p].lo, pp[p].hi};
        print_estimate(&t, 1);
        printf(" ");
        print_estimate(&r->pooled[p], 1);
        printf(" ");
        print_estimate(&r->pooled[p], pooled_rate[p]);
        FitEstimate w = {r->pooled[p].point * pooled_rate[p], r->pooled[p].lo * pooled_rate[p],
                         r->pooled[p].hi * pooled_rate[p]};
        printf("  %s | %s\n", verdict(&pp[p]), wall_verdict(&w));
    }
}

int cmd_fit(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fit_help();
        return RB_EXIT_OK;
    }
    static const char *const opts[] = {"--out=", "--bootstrap=", NULL};
    const char *vals[2] = {NULL, NULL}, *dirs[64];
    int ndirs = cli_positional(argc, argv, opts, vals, dirs, 1, 64, "experiment directories");
    if (ndirs < 0) rb_die(RB_EXIT_USAGE, "fit: %s", rb_error());
    const char *out = vals[0];
    double resamples = 2000;
    if (vals[1] && cli_number(vals[1], 100, 100000, 1, "--bootstrap", &resamples) != 0)
        rb_die(RB_EXIT_USAGE, "fit: %s", rb_error());
    int boot = (int)resamples;
    static FitGroup g[MAX_GROUPS];
    int ng = 0;
    for (int i = 0; i < ndirs; i++)
        if (load_summary(dirs[i], g, &ng) != 0) rb_die(RB_EXIT_USAGE, "%s", rb_error());
    static FitResult r;
    if (fit_check_limits(g, ng) != 0) rb_die(RB_EXIT_USAGE, "%s", rb_error());
    if (fit_multipliers(g, ng, boot, BOOT_SEED, &r) != 0) {
        if (r.points < 4)
            rb_die(RB_EXIT_USAGE,
                   "fit: needs prenorm runs at >= 4 distinct compute values (found %d)", r.points);
        rb_die(RB_EXIT_USAGE,
               "fit: prenorm's loss does not fall with compute over its %d sizes; "
               "no power law L = a C^-b + c fits",
               r.points);
    }
    static double rate[MAX_GROUPS], pooled_rate[MAX_GROUPS];
    for (int i = 0; i < ng; i++) rate[i] = flop_rate_ratio(g, ng, i);
    for (int p = 0; p < r.n_pooled; p++)
        pooled_rate[p] = fit_pooled(g, ng, rate, r.pooled_variant[p]);
    static MultInterval pg[MAX_GROUPS], pp[MAX_GROUPS];
    paired_intervals(g, ng, &r, pg, pp);
    print_results(g, ng, &r, rate, pooled_rate, boot, pp);
    const char *dst = out ? out : dirs[0];
    if (rb_mkdir_p(dst) != 0 || write_law(dst, &r, boot, dirs, ndirs) != 0 ||
        write_tables(dst, g, ng, &r, rate, pooled_rate, pg, pp) != 0 ||
        write_figure(dst, g, ng, &r, pg, pp) != 0)
        rb_die(RB_EXIT_FAIL, "%s", rb_error());
    printf("\nfit: fit.csv, fit_pooled.csv, fit.ini and figures/fit.png in %s\n", dst);
    return RB_EXIT_OK;
}
