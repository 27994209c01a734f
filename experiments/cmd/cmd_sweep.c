/* `resbench sweep`: a depth x width grid per variant at matched training compute. Every shape gets
 * the same FLOP budget (the base config's budget converted to FLOPs at the base shape), the same
 * data order and schedule shape; heads keep the base head size. Runs locally, or writes one command
 * line per run (--jobs) for GNU parallel or a Slurm array; running the same sweep command again
 * afterwards skips the finished runs and gathers summary.csv, the table and the heatmaps. */
#define _GNU_SOURCE /* open_memstream */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd.h"
#include "model.h"
#include "plot.h"
#include "results.h"
#include "runs.h"
#include "stats.h"
#include "util.h"
#include "registry.h"

#define MAX_GRID 16
/* Fewer optimizer steps than this (or than warmup) cannot rank a shape: the run is still trained
 * and kept, but flagged on screen and in summary.csv's warning column. */
#define SWEEP_MIN_STEPS 100

/* The sweep's grid: its arms, its n_layer (rows) and d_model (columns) values, and the runs over
 * arms x shapes x seeds. */
typedef struct {
    ExpRun *runs;
    int n;
    char (*names)[RB_ARM_MAX];
    int nv;
    const long *layers, *widths;
    int nl, nw;
} Grid;

static void sweep_help(void) {
    printf(
        "usage: resbench sweep [--config FILE] [--variants ARM,ARM,...] [--seeds 1,...]\n"
        "                      [--layers 2,4,8] [--widths 64,128,256] [--jobs FILE | --gather]\n"
        "                      [--name NAME] [key=value ...]\n\n" CLI_ARMS_HELP "\n"
        "Trains every arm x n_layer x d_model x seed. Matched compute: each shape gets the\n"
        "base config's budget in FLOPs (steps x FLOPs/step of the base shape, or budget_flops),\n"
        "so deeper or wider shapes see fewer tokens; the head size d_model/n_head of the base\n"
        "is kept. Options tied to the depth are fitted to each shape (a block count becomes the\n"
        "largest divisor of 2*n_layer not above it). Writes OUT/NAME/ (runs\n"
        "ARM-LnLAYER-dWIDTH-sSEED, ARM the spec with ':' and ',' -> '-', '=' -> '_'; summary.csv;\n"
        "figures/sweep_ARM.png) and prints per arm the validation loss grid and its best shape.\n"
        "--jobs FILE writes one `resbench train` command per run that is not finished instead\n"
        "of running them (for GNU parallel or a Slurm array: experiments/cluster/); once they\n"
        "ran, the same sweep command with --gather instead of --jobs builds summary.csv, the\n"
        "table and the heatmaps from the run directories, training nothing; it refuses, naming\n"
        "them, while runs are missing or unfinished. Without either flag the same command\n"
        "trains whatever is left here and gathers (docs/usage.md, Job lists).\n"
        "defaults: every variant (as ablate); seeds 1; layers 2,4,8; widths 64,128,256.\n");
}

/* The run of variant v at shape (layers, width) with seed, or -1 with rb_error(). */
static int shape_config(const Config *base, double budget, const char *v, long layers, long width,
                        long seed, Config *c) {
    int head = base->d_model / base->n_head;
    if (layers < 1 || layers > 128 || width < 8 || width > 16384)
        return rb_fail("shape n_layer=%ld d_model=%ld is outside [1, 128] x [8, 16384]", layers,
                       width);
    *c = *base;
    if (config_set_variant(c, v, "--variants") != 0) return -1;
    c->n_layer = (int)layers;
    c->d_model = (int)width;
    c->seed = seed;
    c->mlp_hidden = 0; /* scales with width */
    if (width % head != 0)
        return rb_fail("d_model=%ld is not a multiple of the head size %d", width, head);
    c->n_head = (int)width / head;
    if (c->vt->fit_shape) c->vt->fit_shape(c); /* e.g. attnres_block: blocks dividing L */
    c->steps = 0;
    c->budget_tokens = 0;
    c->budget_flops = budget;
    char arm[RB_ARM_MAX]; /* the run's directory: its arm's file name, the shape and the seed */
    if (exp_arm_file_name(arm, sizeof arm, v) != 0) return -1;
    size_t len = (size_t)snprintf(c->run_id, sizeof c->run_id, "%s-L%ld-d%ld-s%ld", arm, layers,
                                  width, seed);
    if (len >= sizeof c->run_id || len > 255)
        return rb_fail("arm '%s': its run directory name %s-L%ld-d%ld-s%ld is longer than 255 "
                       "characters",
                       v, arm, layers, width, seed);
    if (config_validate(c) != 0) return -1;
    if (train_total_steps(c) < 1)
        return rb_fail("%s: the FLOP budget %.3g is less than one step", c->run_id, budget);
    return 0;
}

/* One CSV field: quoted when it holds a comma or a quote (an arm's options are comma-separated). */
static void csv_field(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* The run of variant v at grid cell (l, w) among the first seed's runs, or NULL. */
static const ExpRun *cell(const Grid *g, const char *v, long layers, long width) {
    for (int i = 0; i < g->n; i++)
        if (!strcmp(exp_arm(&g->runs[i]), v) && g->runs[i].cfg.n_layer == layers &&
            g->runs[i].cfg.d_model == width)
            return &g->runs[i];
    return NULL;
}

/* Steps and tokens of every shape under the matched FLOP budget (for variant v), and the
 * too-few-steps warnings, recorded in each run's warning. Returns the number of flagged shapes. */
static int print_design(const Grid *g, const char *v) {
    printf("%s: optimizer steps / training tokens per shape (rows n_layer, columns d_model)\n%8s",
           v, "");
    for (int w = 0; w < g->nw; w++) printf(" %17ld", g->widths[w]);
    printf("\n");
    for (int l = 0; l < g->nl; l++) {
        printf("%8ld", g->layers[l]);
        for (int w = 0; w < g->nw; w++) {
            const ExpRun *a = cell(g, v, g->layers[l], g->widths[w]);
            long st = a ? train_total_steps(&a->cfg) : 0;
            char buf[40];
            snprintf(buf, sizeof buf, "%ld / %.3g", st,
                     a ? (double)st * a->cfg.batch_size * a->cfg.seq_len : 0.0);
            printf(" %17s", buf);
        }
        printf("\n");
    }
    int flagged = 0;
    for (int i = 0; i < g->n; i++) {
        long st = train_total_steps(&g->runs[i].cfg);
        int wu = g->runs[i].cfg.warmup;
        if (st < wu)
            snprintf(g->runs[i].warning, sizeof g->runs[i].warning, "%ld steps < warmup %d", st,
                     wu);
        else if (st < SWEEP_MIN_STEPS)
            snprintf(g->runs[i].warning, sizeof g->runs[i].warning, "%ld steps < %d", st,
                     SWEEP_MIN_STEPS);
        else
            continue;
        if (!strcmp(exp_arm(&g->runs[i]), v) && g->runs[i].cfg.seed == g->runs[0].cfg.seed) {
            printf("warning: %s: %s (the run cannot rank its shape; it is trained and flagged "
                   "in summary.csv)\n",
                   g->runs[i].cfg.run_id, g->runs[i].warning);
            flagged++;
        }
    }
    return flagged;
}

/* 1 when run a is a finished run (a final validation loss) of variant v at shape (layers, width).
 */
static int finished_at(const ExpRun *a, const char *v, long layers, long width) {
    return !strcmp(exp_arm(a), v) && a->cfg.n_layer == layers && a->cfg.d_model == width &&
           !isnan(a->r.final_val_loss);
}

/* Mean final validation loss over the seeds of variant v at one shape (NAN: none finished). */
static double cell_mean(const Grid *g, const char *v, long layers, long width) {
    double s = 0;
    int k = 0;
    for (int i = 0; i < g->n; i++) {
        if (!finished_at(&g->runs[i], v, layers, width)) continue;
        s += g->runs[i].r.final_val_loss;
        k++;
    }
    return k ? s / k : NAN;
}

/* Seed noise of variant v's grid: the pooled within-cell standard deviation of one run's final
 * validation loss (cells with 2 or more finished seeds), its degrees of freedom in *df and the
 * smallest seed count of a cell in *kmin. NAN when no cell has 2 seeds. */
static double seed_sd(const Grid *g, const char *v, int *df, int *kmin) {
    double ss = 0;
    *df = 0;
    *kmin = INT_MAX;
    for (int l = 0; l < g->nl; l++)
        for (int w = 0; w < g->nw; w++) {
            double m = cell_mean(g, v, g->layers[l], g->widths[w]);
            int k = 0;
            for (int i = 0; i < g->n; i++) {
                if (!finished_at(&g->runs[i], v, g->layers[l], g->widths[w])) continue;
                ss += (g->runs[i].r.final_val_loss - m) * (g->runs[i].r.final_val_loss - m);
                k++;
            }
            if (k > 0) *kmin = k < *kmin ? k : *kmin;
            if (k > 1) *df += k - 1;
        }
    return *df > 0 ? sqrt(ss / *df) : NAN;
}

/* The shapes of variant v that its seeds cannot tell from the best: a cell is "within seed noise"
 * when its mean minus the best mean is below thr (write_near: the half width of a 95% interval on
 * the difference of two shape means; NAN: one seed only, nothing is marked but the best). Marks
 * them in near[l * nw + w] and writes their d_model/n_layer range. */
static void near_best(const Grid *g, const char *v, double best, double thr, int *near,
                      double *rmin, double *rmax) {
    *rmin = INFINITY;
    *rmax = 0;
    for (int l = 0; l < g->nl; l++)
        for (int w = 0; w < g->nw; w++) {
            double m = cell_mean(g, v, g->layers[l], g->widths[w]);
            near[l * g->nw + w] = m == best || (!isnan(thr) && m - best < thr);
            if (!near[l * g->nw + w]) continue;
            *rmin = fmin(*rmin, (double)g->widths[w] / g->layers[l]);
            *rmax = fmax(*rmax, (double)g->widths[w] / g->layers[l]);
        }
}

/* Variant minus prenorm per shape (mean over seeds; negative = the variant is better). */
static void print_delta(const Grid *g, const char *v) {
    if (!cell(g, RB_BASELINE, g->layers[0], g->widths[0])) return;
    printf("%s minus prenorm (negative: %s lower)\n%8s", v, v, "");
    for (int w = 0; w < g->nw; w++) printf(" %9ld", g->widths[w]);
    printf("\n");
    for (int l = 0; l < g->nl; l++) {
        printf("%8ld", g->layers[l]);
        for (int w = 0; w < g->nw; w++)
            printf(" %+9.4f", cell_mean(g, v, g->layers[l], g->widths[w]) -
                                  cell_mean(g, RB_BASELINE, g->layers[l], g->widths[w]));
        printf("\n");
    }
}

/* The finished run of variant v at one shape and seed, or NULL. */
static const ExpRun *find_run(const Grid *g, const char *v, long layers, long width, long seed) {
    for (int i = 0; i < g->n; i++)
        if (finished_at(&g->runs[i], v, layers, width) && g->runs[i].cfg.seed == seed)
            return &g->runs[i];
    return NULL;
}

/* Variant minus prenorm, paired by (shape, seed), pooled along one axis of the grid: for every
 * n_layer (by_depth) or every d_model, the pairs over the other axis and the seeds, their mean
 * and 95% t interval (stats_paired_ci95). Printed, and one row per value in deltas.csv. */
static void paired_by_axis(const Grid *g, const char *v, int by_depth, FILE *csv) {
    const long *axis = by_depth ? g->layers : g->widths, *other = by_depth ? g->widths : g->layers;
    int na = by_depth ? g->nl : g->nw, no = by_depth ? g->nw : g->nl;
    const char *name = by_depth ? "n_layer" : "d_model";
    printf("%s minus prenorm by %s (pairs: same shape and seed, over every %s and seed)\n", v, name,
           by_depth ? "d_model" : "n_layer");
    for (int a = 0; a < na; a++) {
        double x[MAX_GRID * MAX_GRID], y[MAX_GRID * MAX_GRID];
        int k = 0;
        for (int o = 0; o < no; o++)
            for (int i = 0; i < g->n; i++) {
                long l = by_depth ? axis[a] : other[o], w = by_depth ? other[o] : axis[a];
                if (!finished_at(&g->runs[i], v, l, w) || k == MAX_GRID * MAX_GRID) continue;
                const ExpRun *b = find_run(g, RB_BASELINE, l, w, g->runs[i].cfg.seed);
                if (!b) continue;
                x[k] = g->runs[i].r.final_val_loss;
                y[k++] = b->r.final_val_loss;
            }
        Interval ci = stats_paired_ci95(x, y, k);
        printf("  %s=%-5ld %3d pairs  %+.4f [%+.4f, %+.4f]\n", name, axis[a], k, ci.delta,
               ci.delta - ci.half_width, ci.delta + ci.half_width);
        fprintf(csv, "%s,%ld,", name, axis[a]);
        csv_field(csv, v);
        fprintf(csv, ",%d,%.6g,%.6g,%.6g\n", k, ci.delta, ci.delta - ci.half_width,
                ci.delta + ci.half_width);
    }
}

/* The colour scale of the heatmaps: centred on prenorm's best loss (else the overall best), half
 * span = the largest distance of any cell from it; sweep_scale.txt holds "centre halfspan". */
static int write_scale(const Grid *g, const char *figdir) {
    double centre = INFINITY, all = INFINITY, span = 0;
    for (int i = 0; i < g->n; i++) {
        double x = g->runs[i].r.final_val_loss;
        if (isnan(x)) continue;
        all = fmin(all, x);
        if (!strcmp(exp_arm(&g->runs[i]), RB_BASELINE)) centre = fmin(centre, x);
    }
    if (!isfinite(centre)) centre = all;
    for (int i = 0; i < g->n; i++)
        if (!isnan(g->runs[i].r.final_val_loss))
            span = fmax(span, fabs(g->runs[i].r.final_val_loss - centre));
    char path[4400];
    snprintf(path, sizeof path, "%s/sweep_scale.txt", figdir);
    FILE *f = fopen(path, "w");
    if (!f) return rb_fail("cannot write %s", path);
    fprintf(f, "%.9g %.9g\n", centre, span > 0 ? span : 1e-3);
    fclose(f);
    return 0;
}

/* The best shape's seed-noise neighbourhood (near_best) with the threshold
 * t(0.975, df) x sd x sqrt(2 / k): the half width of a 95% interval on the difference of two
 * k-seed shape means, sd the pooled seed sd (seed_sd; docs/formats.md, best.csv). Printed, one row
 * of best.csv and figures/sweep_near_V.dat (grid column and row of every shape within it). */
static int write_near(const Grid *g, const char *v, const char *fname, double best, int bl, int bw,
                      const char *figdir, FILE *csv) {
    int near[MAX_GRID * MAX_GRID], df, kmin;
    double rmin, rmax, sd = seed_sd(g, v, &df, &kmin);
    double thr = isnan(sd) ? NAN : stats_t975(df) * sd * sqrt(2.0 / kmin);
    near_best(g, v, best, thr, near, &rmin, &rmax);
    char path[4400], list[MAX_GRID * MAX_GRID * 16] = "";
    snprintf(path, sizeof path, "%s/sweep_near_%s.dat", figdir, fname);
    FILE *f = fopen(path, "w");
    if (!f) return rb_fail("cannot write %s", path);
    fprintf(f, "# col row of the shapes within seed noise of the best\n");
    for (int l = 0; l < g->nl; l++)
        for (int w = 0; w < g->nw; w++) {
            if (!near[l * g->nw + w]) continue;
            fprintf(f, "%d %d\n", w, l);
            size_t len = strlen(list);
            snprintf(list + len, sizeof list - len, "%sL%ld-d%ld", len ? " " : "", g->layers[l],
                     g->widths[w]);
        }
    if (fclose(f) != 0) return rb_fail("cannot write %s", path);
    if (isnan(thr))
        printf("one seed per shape: no seed noise to compare the shapes against\n");
    else
        printf("within seed noise of the best (mean loss less than %.4f above it; pooled seed sd "
               "%.4f, %d df): %s (d_model/n_layer %.1f to %.1f)\n",
               thr, sd, df, list, rmin, rmax);
    csv_field(csv, v);
    fprintf(csv, ",%ld,%ld,%.6g,%.6g,%.6g,%d,%.6g,%s,%.6g,%.6g\n", g->layers[bl], g->widths[bw],
            (double)g->widths[bw] / g->layers[bl], best, sd, df, thr, list, rmin, rmax);
    return 0;
}

/* Per variant: the grid of mean validation loss (rows n_layer, columns d_model), the best shape,
 * and the heatmap data for plots/sweep.gp: sweep_V.dat (one block per n_layer, one row per
 * d_model: width, layers, loss, params, grid column, grid row) and sweep_best_V.dat (the best
 * cell's grid column and row). */
static int report(const Grid *g, const char *exp, const char *figdir, char *plotted, size_t np) {
    if (write_scale(g, figdir) != 0) return -1;
    char *btext = NULL, *dtext = NULL; /* best.csv and deltas.csv, written whole at the end */
    size_t blen = 0, dlen = 0;
    FILE *csv = open_memstream(&btext, &blen), *dcsv = open_memstream(&dtext, &dlen);
    if (!csv || !dcsv) rb_out_of_memory("sweep");
    fprintf(csv, "variant,n_layer,d_model,ratio,val_loss,seed_sd,seed_df,noise_threshold,"
                 "near_best,ratio_min,ratio_max\n");
    fprintf(dcsv, "axis,value,variant,pairs,delta,lo,hi\n");
    int rc = 0;
    for (int v = 0; v < g->nv; v++) {
        char path[4400], fname[RB_ARM_MAX]; /* the arm's files: its spec as a file name */
        if ((rc = exp_arm_file_name(fname, sizeof fname, g->names[v])) != 0) break;
        snprintf(path, sizeof path, "%s/sweep_%s.dat", figdir, fname);
        FILE *f = fopen(path, "w");
        if (!f) {
            rc = rb_fail("cannot write %s", path);
            break;
        }
        fprintf(f, "# d_model n_layer val_loss params col row (mean over seeds)\n");
        printf("\n%s: final validation loss (rows n_layer, columns d_model)\n%8s", g->names[v], "");
        for (int w = 0; w < g->nw; w++) printf(" %9ld", g->widths[w]);
        printf("\n");
        double best = INFINITY;
        int bl = 0, bw = 0;
        for (int l = 0; l < g->nl; l++) {
            printf("%8ld", g->layers[l]);
            for (int w = 0; w < g->nw; w++) {
                double m = cell_mean(g, g->names[v], g->layers[l], g->widths[w]);
                const ExpRun *a = cell(g, g->names[v], g->layers[l], g->widths[w]);
                printf(" %9.4f", m);
                fprintf(f, "%ld %ld %.6g %zu %d %d\n", g->widths[w], g->layers[l], m,
                        a ? model_param_count(&a->cfg) : 0, w, l);
                if (m < best) {
                    best = m;
                    bl = l;
                    bw = w;
                }
            }
            fprintf(f, "\n");
            printf("\n");
        }
        fclose(f);
        snprintf(path, sizeof path, "%s/sweep_best_%s.dat", figdir, fname);
        if (!(f = fopen(path, "w"))) {
            rc = rb_fail("cannot write %s", path);
            break;
        }
        fprintf(f, "%d %d\n", bw, bl);
        fclose(f);
        if (isfinite(best)) {
            printf(
                "best %s shape: n_layer=%ld d_model=%ld (d_model/n_layer = %.1f), val loss %.4f\n",
                g->names[v], g->layers[bl], g->widths[bw], (double)g->widths[bw] / g->layers[bl],
                best);
            if ((rc = write_near(g, g->names[v], fname, best, bl, bw, figdir, csv)) != 0) break;
        }
        if (strcmp(g->names[v], RB_BASELINE) && cell(g, RB_BASELINE, g->layers[0], g->widths[0])) {
            print_delta(g, g->names[v]);
            paired_by_axis(g, g->names[v], 1, dcsv);
            paired_by_axis(g, g->names[v], 0, dcsv);
        }
        if (plotted[0]) strncat(plotted, " ", np - strlen(plotted) - 1);
        strncat(plotted, fname, np - strlen(plotted) - 1); /* np holds every arm: no cut */
    }
    fclose(csv);
    fclose(dcsv);
    char path[2300];
    snprintf(path, sizeof path, "%s/best.csv", exp);
    if (rc == 0) rc = rb_write_file_atomic(path, btext, blen);
    snprintf(path, sizeof path, "%s/deltas.csv", exp);
    if (rc == 0) rc = rb_write_file_atomic(path, dtext, dlen);
    free(btext);
    free(dtext);
    return rc;
}

int cmd_sweep(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        sweep_help();
        return RB_EXIT_OK;
    }
    static const char *const extra[] = {"--variants", "--seeds", "--layers", "--widths",
                                        "--jobs",     "--name",  NULL};
    const char *vals[6] = {0};
    int gather;
    Config base;
    if (exp_parse_args("sweep", argc, argv, &base, extra, vals, &gather) != 0)
        rb_die(RB_EXIT_USAGE, "%s", rb_error());
    static char names[MAX_GRID][RB_ARM_MAX];
    long seeds[MAX_GRID], layers[MAX_GRID], widths[MAX_GRID];
    int nv = 0;
    if (vals[0])
        nv = cli_arm_list(vals[0], names, MAX_GRID);
    else /* every installed variant, as ablate */
        for (int i = 0; rb_variants[i]; i++) {
            if (nv == MAX_GRID)
                rb_die(RB_EXIT_USAGE, "sweep: more than %d variants installed: give --variants",
                       MAX_GRID);
            rb_copy_str(names[nv++], RB_ARM_MAX, rb_variants[i]->name);
        }
    int ns = cli_int_list(vals[1] ? vals[1] : "1", seeds, MAX_GRID, "--seeds");
    int nl = cli_int_list(vals[2] ? vals[2] : "2,4,8", layers, MAX_GRID, "--layers");
    int nw = cli_int_list(vals[3] ? vals[3] : "64,128,256", widths, MAX_GRID, "--widths");
    if (nv < 0 || ns < 0 || nl < 0 || nw < 0) rb_die(RB_EXIT_USAGE, "sweep: %s", rb_error());
    Config at_base = base; /* the budget in FLOPs, measured at the base shape with prenorm */
    if (config_set_variant(&at_base, RB_BASELINE, "sweep") != 0 || config_validate(&at_base) != 0)
        rb_die(RB_EXIT_USAGE, "sweep: %s", rb_error());
    double budget = base.budget_flops > 0 ? base.budget_flops
                                          : train_total_steps(&at_base) * flops_per_step(&at_base);
    Config key = at_base;
    key.seed = 0;
    key.steps = 0;
    key.budget_tokens = 0;
    key.budget_flops = budget;
    int total = nv * ns * nl * nw, n = 0;
    ExpRun *runs = rb_calloc(total, sizeof(ExpRun), "sweep");
    for (int s = 0; s < ns; s++)
        for (int v = 0; v < nv; v++)
            for (int l = 0; l < nl; l++)
                for (int w = 0; w < nw; w++) {
                    ExpRun *a = &runs[n++];
                    rb_copy_str(a->arm, sizeof a->arm, names[v]); /* the run's arm */
                    if (shape_config(&base, budget, names[v], layers[l], widths[w], seeds[s],
                                     &a->cfg) != 0)
                        rb_die(RB_EXIT_USAGE, "sweep: %s", rb_error());
                }
    char exp[2048];
    if (exp_open(&key, "sweep", vals[5], gather, exp, sizeof exp) != 0)
        rb_die(RB_EXIT_USAGE, "%s", rb_error());
    for (int i = 0; i < n; i++) rb_copy_str(runs[i].cfg.out, sizeof runs[i].cfg.out, exp);
    Grid grid = {.runs = runs,
                 .n = n,
                 .names = names,
                 .nv = nv,
                 .layers = layers,
                 .widths = widths,
                 .nl = nl,
                 .nw = nw};
    if (vals[4]) {
        print_design(&grid, names[0]);
        printf("sweep: %.3g FLOPs per run (matched compute)\n", budget);
        if (exp_jobs("sweep", vals[4], runs, n, exp) != 0) rb_die(RB_EXIT_USAGE, "%s", rb_error());
        free(runs);
        return RB_EXIT_OK;
    }
    train_set_threads(base.threads);
    printf("sweep: %d runs, %.3g FLOPs each (matched compute), %s %s\n", n, budget,
           gather ? "gathered from" : "into", exp);
    print_design(&grid, names[0]);
    if (gather && exp_gather(runs, n) != 0) rb_die(RB_EXIT_USAGE, "sweep --gather: %s", rb_error());
    for (int i = 0; i < n && !gather; i++) {
        int rc = exp_run(&runs[i], i + 1, n);
        if (rc != RB_EXIT_OK) rb_die(rc, "%s", rb_error());
    }
    if (exp_write_summary(exp, runs, n) != 0) rb_die(RB_EXIT_FAIL, "%s", rb_error());
    char figdir[2200];
    static char plotted[MAX_GRID * (RB_ARM_MAX + 1)]; /* every arm's file name, space-separated */
    plotted[0] = 0;
    snprintf(figdir, sizeof figdir, "%s/figures", exp);
    if (rb_mkdir_p(figdir) != 0 || report(&grid, exp, figdir, plotted, sizeof plotted) != 0)
        rb_die(RB_EXIT_FAIL, "%s", rb_error());
    BuildInfo builds; /* which builds made the runs; pairs (same shape and seed) of two */
    results_builds(runs, n, &builds);
    printf("\n");
    results_builds_write(stdout, &builds, 0);
    results_builds_free(&builds);
    int failed = 0;
    for (int i = 0; i < n; i++) failed += !strcmp(runs[i].status, "failed");
    free(runs);
    if (plot_gnuplot("sweep.gp", figdir, plotted) != 0)
        fprintf(stderr, "resbench: sweep: heatmaps not drawn: %s\n", rb_error());
    printf("sweep: summary in %s/summary.csv, heatmaps in %s\n", exp, figdir);
    return failed ? RB_EXIT_FAIL : RB_EXIT_OK;
}
