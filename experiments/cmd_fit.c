/* `resbench fit`: the compute-multiplier analysis. Prenorm's final losses over a size ladder (at
 * least 4 distinct sizes or budgets) give L(C) = a C^-b + c; every other variant's run at compute C
 * reaching loss L is worth C_prenorm(L) / C of prenorm compute (1.25 = "matches a baseline trained
 * with 1.25x the compute"). Seeds give the uncertainty. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csvout.h"
#include "csvread.h"
#include "fit.h"
#include "plot.h"
#include "stats.h"
#include "util.h"

#define MAX_GROUPS 256
#define MAX_SEEDS 64

typedef struct {
    char variant[32];
    int n_layer, d_model;
    double flops, loss[MAX_SEEDS];
    int n;
} Group;

static Group *find_group(Group *g, int *ng, const char *v, int nl, int dm, double flops) {
    for (int i = 0; i < *ng; i++)
        if (!strcmp(g[i].variant, v) && g[i].n_layer == nl && g[i].d_model == dm &&
            fabs(g[i].flops - flops) <= 1e-6 * flops)
            return &g[i];
    if (*ng == MAX_GROUPS) return NULL;
    Group *n = &g[(*ng)++];
    memset(n, 0, sizeof *n);
    rb_copy_str(n->variant, sizeof n->variant, v);
    n->n_layer = nl;
    n->d_model = dm;
    n->flops = flops;
    return n;
}

static int load_summary(const char *dir, Group *g, int *ng) {
    char path[4200];
    CsvTable t;
    if (rb_join(path, sizeof path, dir, "summary.csv") != 0 || csv_load(path, &t) != 0)
        return rb_fail("fit: %s", rb_error());
    int cv = csv_col(&t, "variant"), cl = csv_col(&t, "n_layer"), cd = csv_col(&t, "d_model"),
        cf = csv_col(&t, "flops"), cs = csv_col(&t, "status"), cx = csv_col(&t, "final_val_loss");
    if (cv < 0 || cl < 0 || cd < 0 || cf < 0 || cs < 0 || cx < 0) {
        csv_table_free(&t);
        return rb_fail("fit: %s lacks a column of resbench's summary.csv", path);
    }
    for (size_t r = 0; r < csv_nrows(&t); r++) {
        double loss = csv_num(&t, r, cx);
        if (!strcmp(csv_cell(&t, r, cs), "failed") || !isfinite(loss)) continue;
        double fl = csv_num(&t, r, cf);
        if (!isfinite(fl) || fl <= 0) {
            rb_fail("fit: %s: row %zu, column flops: '%s' is not a positive number", path, r + 2,
                    csv_cell(&t, r, cf));
            csv_table_free(&t);
            return -1;
        }
        Group *gr = find_group(g, ng, csv_cell(&t, r, cv), csv_int(&t, r, cl, -1),
                               csv_int(&t, r, cd, -1), csv_num(&t, r, cf));
        if (!gr || gr->n == MAX_SEEDS) {
            csv_table_free(&t);
            return rb_fail("fit: too many groups or seeds in %s", path);
        }
        gr->loss[gr->n++] = loss;
    }
    csv_table_free(&t);
    return 0;
}

static void fit_help(void) {
    printf("usage: resbench fit [--out DIR] EXPERIMENT_DIR...\n\n"
           "Reads summary.csv of ablate/sweep experiments, groups runs by variant, shape and\n"
           "compute (mean over seeds), fits L(C) = a C^-b + c to prenorm (at least 4 distinct\n"
           "sizes or budgets: a size ladder), and reports for every other group the compute\n"
           "multiplier C_prenorm(L) / C (mean +- std over seeds; 'inf' when its loss is below the\n"
           "fitted asymptote c). Writes fit.csv and figures/fit.png into the first directory\n"
           "(or --out DIR).\n");
}

static int write_outputs(const char *outdir, const Group *g, int ng, const PowerLaw *f,
                         double *mult_mean, double *mult_std) {
    static const char *const H[] = {"variant",         "n_layer",       "d_model",
                                    "flops",           "runs",          "val_loss_mean",
                                    "multiplier_mean", "multiplier_std"};
    char path[4200], figdir[4200];
    snprintf(path, sizeof path, "%s/fit.csv", outdir);
    CsvOut csv;
    if (csv_open(&csv, path, H, 8, 0) != 0) return -1;
    if (rb_join(figdir, sizeof figdir, outdir, "figures") != 0 || rb_mkdir_p(figdir) != 0)
        return -1;
    char variants[1024] = "";
    for (int i = 0; i < ng; i++) {
        char f8[8][48];
        rb_copy_str(f8[0], 48, g[i].variant);
        snprintf(f8[1], 48, "%d", g[i].n_layer);
        snprintf(f8[2], 48, "%d", g[i].d_model);
        snprintf(f8[3], 48, "%.6e", g[i].flops);
        snprintf(f8[4], 48, "%d", g[i].n);
        snprintf(f8[5], 48, "%.6f", stats_mean(g[i].loss, g[i].n));
        snprintf(f8[6], 48, "%.4f", mult_mean[i]);
        snprintf(f8[7], 48, "%.4f", mult_std[i]);
        const char *row[8];
        for (int k = 0; k < 8; k++) row[k] = f8[k];
        if (csv_row(&csv, row) != 0) return -1;
        char dat[4400], name[64];
        snprintf(name, sizeof name, "fit_points_%.31s.dat", g[i].variant);
        if (rb_join(dat, sizeof dat, figdir, name) != 0) return -1;
        int first = !strstr(variants, g[i].variant);
        FILE *pf = fopen(dat, first ? "w" : "a");
        if (!pf) return rb_fail("cannot write %s", dat);
        fprintf(pf, "%.6e %.6f %.6f %.6f\n", g[i].flops, stats_mean(g[i].loss, g[i].n),
                stats_std(g[i].loss, g[i].n), mult_mean[i]);
        fclose(pf);
        if (first) {
            if (variants[0]) strncat(variants, " ", sizeof variants - strlen(variants) - 1);
            strncat(variants, g[i].variant, sizeof variants - strlen(variants) - 1);
        }
    }
    csv_close(&csv);
    double cmin = INFINITY, cmax = 0;
    for (int i = 0; i < ng; i++) {
        cmin = fmin(cmin, g[i].flops);
        cmax = fmax(cmax, g[i].flops);
    }
    if (rb_join(path, sizeof path, figdir, "fit_curve.dat") != 0) return -1;
    FILE *cf = fopen(path, "w");
    if (!cf) return rb_fail("cannot write %s", path);
    fprintf(cf, "# C L(C) = %.6g C^-%.6g + %.6g\n", f->a, f->b, f->c);
    for (int k = 0; k <= 200; k++) {
        double C = cmin / 2 * pow(4 * cmax / cmin, k / 200.0);
        fprintf(cf, "%.6e %.6f\n", C, power_law_loss(f, C));
    }
    fclose(cf);
    if (plot_gnuplot("fit.gp", figdir, variants) != 0)
        fprintf(stderr, "resbench: fit: figure not drawn: %s\n", rb_error());
    return 0;
}

int cmd_fit(int argc, char **argv) {
    const char *out = NULL, *dirs[64];
    int ndirs = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fit_help();
            return RB_EXIT_OK;
        }
        if (!strcmp(argv[i], "--out") && i + 1 >= argc)
            rb_die(RB_EXIT_USAGE, "fit: --out needs a directory");
        if (!strcmp(argv[i], "--out"))
            out = argv[++i];
        else if (argv[i][0] == '-')
            rb_die(RB_EXIT_USAGE, "fit: unknown option '%s'", argv[i]);
        else if (ndirs < 64)
            dirs[ndirs++] = argv[i];
        else
            rb_die(RB_EXIT_USAGE, "fit: more than 64 experiment directories");
    }
    if (!ndirs) rb_die(RB_EXIT_USAGE, "fit: no experiment directory given (see --help)");
    static Group g[MAX_GROUPS];
    int ng = 0;
    for (int i = 0; i < ndirs; i++)
        if (load_summary(dirs[i], g, &ng) != 0) rb_die(RB_EXIT_USAGE, "%s", rb_error());
    double C[MAX_GROUPS], L[MAX_GROUPS];
    int np = 0;
    for (int i = 0; i < ng; i++)
        if (!strcmp(g[i].variant, "prenorm")) {
            C[np] = g[i].flops;
            L[np++] = stats_mean(g[i].loss, g[i].n);
        }
    int ndistinct = 0; /* distinct compute values: shapes with equal FLOPs are one point in C */
    for (int i = 0; i < np; i++) {
        int seen = 0;
        for (int j = 0; j < i; j++) seen |= fabs(C[j] - C[i]) <= 1e-9 * C[i];
        ndistinct += !seen;
    }
    PowerLaw f;
    if (ndistinct < 4)
        rb_die(RB_EXIT_USAGE,
               "fit: needs prenorm runs at >= 4 distinct compute values (found %d among %d prenorm "
               "shape/budget groups)",
               ndistinct, np);
    if (fit_power_law(C, L, np, &f) != 0)
        rb_die(RB_EXIT_USAGE,
               "fit: prenorm's loss does not fall with compute over its %d sizes; "
               "no power law L = a C^-b + c fits",
               ndistinct);
    printf("prenorm fit over %d sizes: L(C) = %.4g * C^-%.4f + %.4f (rmse %.4f)\n\n", ndistinct,
           f.a, f.b, f.c, f.rmse);
    printf("%-14s %7s %7s %11s %4s %9s  %s\n", "variant", "n_layer", "d_model", "FLOPs", "runs",
           "val loss", "compute multiplier (mean +- std over seeds)");
    double mm[MAX_GROUPS], ms[MAX_GROUPS];
    for (int i = 0; i < ng; i++) {
        double m[MAX_SEEDS];
        for (int s = 0; s < g[i].n; s++) m[s] = power_law_compute(&f, g[i].loss[s]) / g[i].flops;
        mm[i] = stats_mean(m, g[i].n);
        ms[i] = stats_std(m, g[i].n);
        printf("%-14s %7d %7d %11.4g %4d %9.4f  %.3f +- %.3f\n", g[i].variant, g[i].n_layer,
               g[i].d_model, g[i].flops, g[i].n, stats_mean(g[i].loss, g[i].n), mm[i], ms[i]);
    }
    if (write_outputs(out ? out : dirs[0], g, ng, &f, mm, ms) != 0)
        rb_die(RB_EXIT_FAIL, "%s", rb_error());
    printf("\nfit: fit.csv and figures/fit.png in %s\n", out ? out : dirs[0]);
    return RB_EXIT_OK;
}
