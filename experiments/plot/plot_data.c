/* Aggregation for `resbench plot`: per variant, mean and min..max over its runs (seeds), written as
 * whitespace-separated .dat files that the gnuplot scripts in plots/ read. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "plot.h"
#include "probe.h"
#include "runs.h"
#include "util.h"
#include "registry.h"

typedef struct {
    double sum, min, max;
    int n;
} Stat;

static void stat_add(Stat *s, double v) {
    if (isnan(v)) return;
    if (s->n == 0 || v < s->min) s->min = v;
    if (s->n == 0 || v > s->max) s->max = v;
    s->sum += v;
    s->n++;
}

static double last_step(const CsvTable *t) {
    int c = csv_col(t, "step");
    double mx = NAN;
    for (size_t r = 0; r < csv_nrows(t); r++) {
        double v = csv_num(t, r, c);
        if (isnan(mx) || v > mx) mx = v;
    }
    return mx;
}

static FILE *open_dat(const char *figdir, const char *prefix, const char *variant) {
    char p[4400];
    snprintf(p, sizeof p, "%s/%s_%s.dat", figdir, prefix, variant);
    FILE *f = fopen(p, "w");
    if (!f) rb_fail("plot: cannot write %s", p);
    return f;
}

/* loss_floor of a run's meta.ini (NAN when absent or unknown, as for text data). */
static double meta_loss_floor(const char *dir) {
    char path[4400], *text;
    size_t n;
    if (rb_join(path, sizeof path, dir, "meta.ini") != 0 || rb_read_file(path, &text, &n) != 0)
        return NAN;
    const char *k = strstr(text, "\nloss_floor = ");
    double v = k ? strtod(k + 14, NULL) : NAN;
    free(text);
    return v;
}

/* Appends name to a space-separated list that grows as needed. */
static void append_name(char **list, const char *name) {
    size_t have = *list ? strlen(*list) : 0;
    char *grown = rb_realloc(*list, have + strlen(name) + 2, "plot");
    snprintf(grown + have, strlen(name) + 2, "%s%s", have ? " " : "", name);
    *list = grown;
}

void plot_lists_free(PlotLists *l) {
    free(l->loss);
    free(l->profile);
    free(l->depth);
    free(l->gains);
    free(l->probe);
    free(l->mixing);
    free(l->routing);
    free(l->knockout);
    memset(l, 0, sizeof *l);
}

/* Loss curves: for every step of the first run, the column aggregated over the runs that logged
 * the same step. val = 1 keeps only evaluated rows. */
static int write_loss(PlotRun **rs, int k, const char *figdir, const char *v, int val) {
    FILE *f = open_dat(figdir, val ? "val" : "train", v);
    if (!f) return -1;
    const CsvTable *t0 = &rs[0]->metrics;
    int cs = csv_col(t0, "step"), ct = csv_col(t0, "tokens"), cf = csv_col(t0, "flops");
    const char *col = val ? "val_loss" : "train_loss";
    fprintf(f, "# tokens flops mean min max runs (%s over %d runs)\n", col, k);
    for (size_t r = 0; r < csv_nrows(t0); r++) {
        double step = csv_num(t0, r, cs);
        Stat s = {0};
        for (int i = 0; i < k; i++) {
            const CsvTable *t = &rs[i]->metrics;
            int c = csv_col(t, col), ci = csv_col(t, "step");
            for (size_t q = 0; q < csv_nrows(t); q++)
                if (csv_num(t, q, ci) == step) {
                    stat_add(&s, csv_num(t, q, c));
                    break;
                }
        }
        if (s.n == 0) continue;
        fprintf(f, "%g %g %.6g %.6g %.6g %d\n", csv_num(t0, r, ct), csv_num(t0, r, cf), s.sum / s.n,
                s.min, s.max, s.n);
    }
    fclose(f);
    return 0;
}

/* Per-sublayer columns at each run's last profile step: mean, min and max over the runs (the
 * seed band of the dilution and gradient figures). */
static int write_profile(PlotRun **rs, int k, const char *figdir, const char *v) {
    static const char *cols[] = {"stream_rms", "output_rms", "grad_rms", "param_grad_norm",
                                 "input_rms"};
    Stat st[RB_MAX_SUB + 2][5];
    memset(st, 0, sizeof st);
    int layers = 0;
    for (int i = 0; i < k; i++) {
        const CsvTable *t = &rs[i]->profile;
        double last = last_step(t);
        int cs = csv_col(t, "step"), cl = csv_col(t, "layer"), ck = csv_col(t, "kind");
        for (size_t r = 0; r < csv_nrows(t); r++) {
            int l = csv_int(t, r, cl, -1);
            if (csv_num(t, r, cs) != last || !strcmp(csv_cell(t, r, ck), "out")) continue;
            if (l < 1 || l > RB_MAX_SUB) continue;
            layers = l > layers ? l : layers;
            for (int c = 0; c < 5; c++) stat_add(&st[l][c], csv_num(t, r, csv_col(t, cols[c])));
        }
    }
    FILE *f = open_dat(figdir, "profile", v);
    if (!f) return -1;
    fprintf(f,
            "# layer, then stream_rms output_rms grad_rms param_grad_norm input_rms: the mean of "
            "%d runs (columns 2-6), their minimum (7-11) and maximum (12-16) over the runs\n",
            k);
    for (int l = 1; l <= layers; l++) {
        fprintf(f, "%d", l);
        for (int c = 0; c < 5; c++)
            fprintf(f, " %.6g", st[l][c].n ? st[l][c].sum / st[l][c].n : NAN);
        for (int c = 0; c < 5; c++) fprintf(f, " %.6g", st[l][c].n ? st[l][c].min : NAN);
        for (int c = 0; c < 5; c++) fprintf(f, " %.6g", st[l][c].n ? st[l][c].max : NAN);
        fprintf(f, "\n");
    }
    fclose(f);
    return 0;
}

/* Heatmap grid of the first run's last step: "source layer weight", NaN where a consumer has no
 * such source, a blank line after each layer (gnuplot's grid format). */
static int write_depth(const PlotRun *r, const char *figdir, const char *v) {
    const CsvTable *t = &r->depth;
    double last = last_step(t);
    int cs = csv_col(t, "step"), cl = csv_col(t, "layer"), cr = csv_col(t, "source"),
        cw = csv_col(t, "weight");
    static double w[RB_MAX_SUB + 2][RB_MAX_SUB + 2];
    int layers = 0, sources = 0;
    for (int a = 0; a < RB_MAX_SUB + 2; a++)
        for (int b = 0; b < RB_MAX_SUB + 2; b++) w[a][b] = NAN;
    for (size_t q = 0; q < csv_nrows(t); q++) {
        if (csv_num(t, q, cs) != last) continue;
        int l = csv_int(t, q, cl, -1), s = csv_int(t, q, cr, -1);
        if (l < 1 || l > RB_MAX_SUB + 1 || s < 0 || s > RB_MAX_SUB) continue;
        w[l][s] = csv_num(t, q, cw);
        layers = l > layers ? l : layers;
        sources = s + 1 > sources ? s + 1 : sources;
    }
    FILE *f = open_dat(figdir, "depth", v);
    if (!f) return -1;
    fprintf(f, "# source layer weight (%s, step %g)\n", r->dir, last);
    for (int l = 1; l <= layers; l++) {
        for (int s = 0; s < sources; s++) fprintf(f, "%d %d %.6g\n", s, l, w[l][s]);
        fprintf(f, "\n");
    }
    fclose(f);
    return 0;
}

/* Gains, signed row/column sum range and distance from identity per site at each run's last
 * step, means over runs. Older mhc.csv files have the four gain columns only: the rest is NAN. */
static int write_gains(PlotRun **rs, int k, const char *figdir, const char *v, int *has_sums) {
    enum { NC = 9 };
    static const char *cols[NC] = {"fwd_gain",           "bwd_gain",    "composite_fwd_gain",
                                   "composite_bwd_gain", "row_sum_min", "row_sum_max",
                                   "col_sum_min",        "col_sum_max", "dist_identity"};
    Stat st[RB_MAX_SUB + 1][NC];
    memset(st, 0, sizeof st);
    int layers = 0;
    for (int i = 0; i < k; i++) {
        const CsvTable *t = &rs[i]->gains;
        double last = last_step(t);
        int cs = csv_col(t, "step"), cl = csv_col(t, "layer"), cc[NC];
        for (int c = 0; c < NC; c++) cc[c] = csv_col(t, cols[c]);
        for (size_t r = 0; r < csv_nrows(t); r++) {
            int l = csv_int(t, r, cl, -1);
            if (csv_num(t, r, cs) != last || l < 1 || l > RB_MAX_SUB) continue;
            layers = l > layers ? l : layers;
            for (int c = 0; c < NC; c++)
                if (cc[c] >= 0) stat_add(&st[l][c], csv_num(t, r, cc[c]));
            *has_sums |= cc[4] >= 0;
        }
    }
    FILE *f = open_dat(figdir, "gains", v);
    if (!f) return -1;
    fprintf(f,
            "# layer fwd bwd composite_fwd composite_bwd row_sum_min row_sum_max col_sum_min "
            "col_sum_max dist_identity (mean of %d runs)\n",
            k);
    for (int l = 1; l <= layers; l++) {
        fprintf(f, "%d", l);
        for (int c = 0; c < NC; c++)
            fprintf(f, " %.6g", st[l][c].n ? st[l][c].sum / st[l][c].n : NAN);
        fprintf(f, "\n");
    }
    fclose(f);
    return 0;
}

/* Column val of t aggregated by its integer column key into st[key] for keys lo..hi (the rows of
 * the last step only, when last_only); returns the largest key seen (lo - 1: none). */
static int stat_by_key(const CsvTable *t, const char *key, const char *val, int last_only, Stat *st,
                       int lo, int hi) {
    int cs = csv_col(t, "step"), ck = csv_col(t, key), cv = csv_col(t, val), top = lo - 1;
    double last = last_only ? last_step(t) : NAN;
    for (size_t r = 0; r < csv_nrows(t); r++) {
        int x = csv_int(t, r, ck, lo - 1);
        if ((last_only && csv_num(t, r, cs) != last) || x < lo || x > hi) continue;
        top = x > top ? x : top;
        stat_add(&st[x], csv_num(t, r, cv));
    }
    return top;
}

/* Rows "key mean min max runs" for keys lo..top that have data, under a header line. */
static int write_key_stats(const char *figdir, const char *prefix, const char *v,
                           const char *header, const Stat *st, int lo, int top) {
    FILE *f = open_dat(figdir, prefix, v);
    if (!f) return -1;
    fprintf(f, "%s\n", header);
    for (int x = lo; x <= top; x++)
        if (st[x].n)
            fprintf(f, "%d %.6g %.6g %.6g %d\n", x, st[x].sum / st[x].n, st[x].min, st[x].max,
                    st[x].n);
    fclose(f);
    return 0;
}

/* Reasoning probe: answer accuracy per hop count at each run's last evaluation, mean and
 * min..max over the runs. */
static int write_probe(PlotRun **rs, int k, const char *figdir, const char *v) {
    Stat st[RB_PROBE_MAX_HOPS + 1] = {{0}};
    int hops = 0;
    for (int i = 0; i < k; i++) {
        int top = stat_by_key(&rs[i]->eval, "hops", "accuracy", 1, st, 1, RB_PROBE_MAX_HOPS);
        hops = top > hops ? top : hops;
    }
    return write_key_stats(figdir, "probe", v, "# hops mean_accuracy min max runs", st, 1, hops);
}

/* Routing (docs/variants.md, "Routing diagnostics"): per consumer at each run's last step, the
 * ratio entropy / uniform_entropy (1 = uniform weights, 0 = one source per token): mean, min and
 * max over the runs, and the consumer's number of sources. Consumers with one source have no
 * choice to make and are left out. */
static int write_routing(PlotRun **rs, int k, const char *figdir, const char *v) {
    Stat st[RB_MAX_SUB + 2] = {{0}};
    int sources[RB_MAX_SUB + 2] = {0}, layers = 0;
    for (int i = 0; i < k; i++) {
        const CsvTable *t = &rs[i]->routing;
        double last = last_step(t);
        int cs = csv_col(t, "step"), cl = csv_col(t, "layer"), cn = csv_col(t, "n_sources"),
            ce = csv_col(t, "entropy"), cu = csv_col(t, "uniform_entropy");
        for (size_t r = 0; r < csv_nrows(t); r++) {
            int l = csv_int(t, r, cl, -1), n = csv_int(t, r, cn, 0);
            double u = csv_num(t, r, cu);
            if (csv_num(t, r, cs) != last || l < 1 || l > RB_MAX_SUB + 1 || n < 2 || !(u > 0))
                continue;
            layers = l > layers ? l : layers;
            sources[l] = n;
            stat_add(&st[l], csv_num(t, r, ce) / u);
        }
    }
    FILE *f = open_dat(figdir, "routing", v);
    if (!f) return -1;
    fprintf(f,
            "# consumer mean_ratio min max sources depth (entropy / log(sources), %d runs; depth "
            "= consumer / the last consumer)\n",
            k);
    for (int l = 1; l <= layers; l++)
        if (st[l].n)
            fprintf(f, "%d %.6g %.6g %.6g %d %.6g\n", l, st[l].sum / st[l].n, st[l].min, st[l].max,
                    sources[l], (double)l / layers);
    fclose(f);
    return 0;
}

/* Knockout (`resbench knockout`): per source the change of validation loss when its term is
 * removed, mean, min and max over the runs that have knockout.csv (source -1, the intact model,
 * left out). */
static int write_knockout(PlotRun **rs, int k, const char *figdir, const char *v) {
    Stat st[RB_MAX_SUB + 2] = {{0}};
    int last = -1;
    for (int i = 0; i < k; i++) {
        int top = stat_by_key(&rs[i]->knockout, "source", "delta", 0, st, 0, RB_MAX_SUB);
        last = top > last ? top : last;
    }
    return write_key_stats(figdir, "knockout", v,
                           "# source mean_delta min max runs (validation loss with the source "
                           "removed - intact)",
                           st, 0, last);
}

/* Variants in registry order (consistent colours and legends), unknown names after them. */
static int variant_rank(const char *v) {
    size_t len = strcspn(v, ":"); /* an arm with options sorts after its variant */
    for (int i = 0; rb_variants[i]; i++)
        if (strlen(rb_variants[i]->name) == len && !strncmp(rb_variants[i]->name, v, len))
            return 2 * i + (v[len] == ':');
    return 1000;
}

int plot_write_data(PlotRun *runs, int n, const char *figdir, PlotLists *lists) {
    memset(lists, 0, sizeof *lists);
    int rc = 0, *done = rb_calloc((size_t)n + 1, sizeof(int), "plot");
    PlotRun **all = rb_calloc((size_t)n + 1, sizeof(PlotRun *), "plot"),
            **prof = rb_calloc((size_t)n + 1, sizeof(PlotRun *), "plot"),
            **gain = rb_calloc((size_t)n + 1, sizeof(PlotRun *), "plot"),
            **probe = rb_calloc((size_t)n + 1, sizeof(PlotRun *), "plot"),
            **route = rb_calloc((size_t)n + 1, sizeof(PlotRun *), "plot"),
            **knock = rb_calloc((size_t)n + 1, sizeof(PlotRun *), "plot");
    for (int pass = 0; pass < n; pass++) {
        int first = -1; /* the next variant in rank order */
        for (int i = 0; i < n; i++)
            if (!done[i] &&
                (first < 0 || variant_rank(runs[i].variant) < variant_rank(runs[first].variant)))
                first = i;
        if (first < 0) break;
        /* an arm's spec names its files as run ids do: ':' and '=' are not portable */
        char v[RB_ARM_MAX];
        if ((rc = exp_arm_file_name(v, sizeof v, runs[first].variant)) != 0) break;
        int k = 0, kp = 0, kg = 0, ke = 0, kr = 0, kk = 0;
        const PlotRun *depth = NULL;
        for (int i = 0; i < n; i++) {
            if (done[i] || strcmp(runs[i].variant, runs[first].variant)) continue;
            done[i] = 1;
            all[k++] = &runs[i];
            if (runs[i].has_profile) prof[kp++] = &runs[i];
            if (runs[i].has_gains) gain[kg++] = &runs[i];
            if (runs[i].has_eval && csv_nrows(&runs[i].eval) > 0) probe[ke++] = &runs[i];
            if (runs[i].has_depth && !depth) depth = &runs[i];
            if (runs[i].has_routing && csv_nrows(&runs[i].routing) > 0) route[kr++] = &runs[i];
            if (runs[i].has_knockout && csv_nrows(&runs[i].knockout) > 0) knock[kk++] = &runs[i];
        }
        if ((rc = write_loss(all, k, figdir, v, 0) || write_loss(all, k, figdir, v, 1)) != 0) break;
        append_name(&lists->loss, v);
        if (kp) {
            if ((rc = write_profile(prof, kp, figdir, v)) != 0) break;
            append_name(&lists->profile, v);
        }
        if (depth) {
            if ((rc = write_depth(depth, figdir, v)) != 0) break;
            append_name(&lists->depth, v);
        }
        if (kg) {
            int has_sums = 0;
            if ((rc = write_gains(gain, kg, figdir, v, &has_sums)) != 0) break;
            append_name(&lists->gains, v);
            if (has_sums) append_name(&lists->mixing, v);
        }
        if (ke) {
            if ((rc = write_probe(probe, ke, figdir, v)) != 0) break;
            append_name(&lists->probe, v);
        }
        if (kr) {
            if ((rc = write_routing(route, kr, figdir, v)) != 0) break;
            append_name(&lists->routing, v);
        }
        if (kk) {
            if ((rc = write_knockout(knock, kk, figdir, v)) != 0) break;
            append_name(&lists->knockout, v);
        }
    }
    free(done);
    free(all);
    free(prof);
    free(gain);
    free(probe);
    free(route);
    free(knock);
    if (rc != 0) return -1;
    char **each[] = {&lists->loss,  &lists->profile, &lists->depth,   &lists->gains,
                     &lists->probe, &lists->mixing,  &lists->routing, &lists->knockout};
    for (size_t i = 0; i < sizeof each / sizeof each[0]; i++) /* "" for a group without data */
        if (!*each[i]) append_name(each[i], "");
    /* gains.gp draws the row-sum panel for these variants only (older runs lack the columns) */
    char path[4200];
    if (rb_join(path, sizeof path, figdir, "mixing_variants.txt") != 0) return -1;
    FILE *f = fopen(path, "w");
    if (!f) return rb_fail("cannot write %s", path);
    fprintf(f, "%s\n", lists->mixing);
    fclose(f);
    /* loss.gp draws the data's exact loss floor (meta.ini of the runs; plot checks they share the
     * data) when it is known */
    if (rb_join(path, sizeof path, figdir, "loss_floor.txt") != 0) return -1;
    if (!(f = fopen(path, "w"))) return rb_fail("cannot write %s", path);
    fprintf(f, "%.17g\n", n ? meta_loss_floor(runs[0].dir) : NAN);
    fclose(f);
    /* probe.gp draws the accuracy of a uniform guess (synthetic probes only: no file reads) */
    double chance = NAN;
    Data d;
    if (n && !strncmp(runs[0].cfg.data, "synth:", 6)) {
        if (data_open(&d, &runs[0].cfg) == 0) chance = data_probe_chance(&d);
        data_close(&d); /* safe after a failed open too */
    }
    if (rb_join(path, sizeof path, figdir, "probe_chance.txt") != 0) return -1;
    if (!(f = fopen(path, "w"))) return rb_fail("cannot write %s", path);
    fprintf(f, "%.17g\n", chance);
    fclose(f);
    return 0;
}

void plot_run_free(PlotRun *r) {
    csv_table_free(&r->metrics);
    if (r->has_profile) csv_table_free(&r->profile);
    if (r->has_depth) csv_table_free(&r->depth);
    if (r->has_gains) csv_table_free(&r->gains);
    if (r->has_eval) csv_table_free(&r->eval);
    if (r->has_routing) csv_table_free(&r->routing);
    if (r->has_knockout) csv_table_free(&r->knockout);
}
