/* The results library (results.h). */
#include "results.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"
#include "util.h"

#define RESULTS_MAX_RUNS 1024

int results_csv_in(const char *dir, const char *name, CsvTable *t) {
    char p[4400];
    if (!rb_is_file_in(dir, name)) return 0;
    if (rb_join(p, sizeof p, dir, name) != 0 || csv_load(p, t) != 0) return -1;
    return 1;
}

static void add_variant(ExpResults *e, const char *v) {
    for (int i = 0; i < e->nv; i++)
        if (!strcmp(e->variants[i], v)) return;
    if (e->nv < RB_MAX_ARMS) rb_copy_str(e->variants[e->nv++], 32, v);
}

/* summary.csv's columns, in the order results_load reads them (the first seven are required) */
enum {
    S_VARIANT,
    S_SEED,
    S_STATUS,
    S_VAL,
    S_TOKS,
    S_TOKENS,
    S_FLOPS,
    S_BEST,
    S_WALL,
    S_UTIL,
    S_LAYERS,
    S_WIDTH,
    S_WARNING,
    S_RUN_ID,
    S_BUILD,
    S_NCOLS
};
static const char *const SUMMARY_COLS[S_NCOLS] = {
    "variant", "seed",    "status",        "final_val_loss", "tok_per_s",
    "tokens",  "flops",   "best_val_loss", "wall_s",         "cpu_util",
    "n_layer", "d_model", "warning",       "run_id",         "build"};
#define S_REQUIRED 7

static double num_or_nan(const CsvTable *t, size_t r, int c) {
    return c >= 0 ? csv_num(t, r, c) : NAN;
}

static int load_row(const CsvTable *t, size_t r, const int *col, const char *exp, ExpRun *a) {
    config_defaults(&a->cfg);
    rb_copy_str(a->cfg.out, sizeof a->cfg.out, exp);
    a->cfg.seed = csv_int(t, r, col[S_SEED], -1);
    const char *v = csv_cell(t, r, col[S_VARIANT]); /* the arm: a variant spec */
    rb_copy_str(a->arm, sizeof a->arm, v);
    if (col[S_RUN_ID] >= 0) /* older summaries: ablate's VARIANT-sSEED */
        rb_copy_str(a->cfg.run_id, sizeof a->cfg.run_id, csv_cell(t, r, col[S_RUN_ID]));
    else
        exp_arm_run_id(a->cfg.run_id, sizeof a->cfg.run_id, v, a->cfg.seed);
    const char *st = csv_cell(t, r, col[S_STATUS]);
    a->status = !strcmp(st, "failed") ? "failed" : (!strcmp(st, "skipped") ? "skipped" : "ok");
    TrainResult *x = &a->r;
    x->final_val_loss = csv_num(t, r, col[S_VAL]);
    x->tok_per_s = csv_num(t, r, col[S_TOKS]);
    x->tokens = csv_num(t, r, col[S_TOKENS]);
    x->flops = csv_num(t, r, col[S_FLOPS]);
    x->best_val_loss = num_or_nan(t, r, col[S_BEST]);
    x->wall_s = num_or_nan(t, r, col[S_WALL]);
    x->cpu_util = num_or_nan(t, r, col[S_UTIL]); /* absent in older summaries */
    if (col[S_WARNING] >= 0)
        rb_copy_str(a->warning, sizeof a->warning, csv_cell(t, r, col[S_WARNING]));
    char dir[4400], path[4500];
    if (rb_join(dir, sizeof dir, exp, a->cfg.run_id) != 0) return -1;
    rb_copy_str(x->run_dir, sizeof x->run_dir, dir);
    if (col[S_BUILD] >= 0) /* older summaries: the run's meta.ini, if it is there */
        rb_copy_str(a->build, sizeof a->build, csv_cell(t, r, col[S_BUILD]));
    else
        exp_run_build(dir, a->build, sizeof a->build);
    if (rb_is_file_in(dir, "config.ini")) {
        snprintf(path, sizeof path, "%s/config.ini", dir);
        Config c;
        config_defaults(&c);
        if (config_load_ini(&c, path) != 0) return -1;
        rb_copy_str(c.out, sizeof c.out, exp); /* the experiment may have moved */
        rb_copy_str(c.run_id, sizeof c.run_id, a->cfg.run_id);
        a->cfg = c;
        a->has_cfg = 1;
    } else { /* no config.ini here: what summary.csv says */
        if (config_set_variant(&a->cfg, v, path) != 0) rb_copy_str(a->cfg.variant, 32, v);
        if (col[S_LAYERS] >= 0) a->cfg.n_layer = (int)csv_int(t, r, col[S_LAYERS], 0);
        if (col[S_WIDTH] >= 0) a->cfg.d_model = (int)csv_int(t, r, col[S_WIDTH], 0);
    }
    return 0;
}

int results_load(const char *exp, const char *who, ExpResults *e) {
    memset(e, 0, sizeof *e);
    rb_copy_str(e->dir, sizeof e->dir, exp);
    char p[4400];
    CsvTable t;
    if (!rb_is_file_in(exp, "summary.csv"))
        return rb_fail("%s: %s has no summary.csv (is it an ablate or sweep experiment "
                       "directory?)",
                       who, exp);
    if (rb_join(p, sizeof p, exp, "summary.csv") != 0 || csv_load(p, &t) != 0)
        return rb_fail("%s: %s", who, rb_error());
    int col[S_NCOLS];
    for (int k = 0; k < S_NCOLS; k++) {
        col[k] = csv_col(&t, SUMMARY_COLS[k]);
        if (k < S_REQUIRED && col[k] < 0) {
            csv_table_free(&t);
            return rb_fail("%s: %s has no column '%s' (not a resbench summary.csv)", who, p,
                           SUMMARY_COLS[k]);
        }
    }
    e->runs = rb_calloc(RESULTS_MAX_RUNS, sizeof(ExpRun), "experiment runs");
    for (size_t r = 0; r < csv_nrows(&t) && e->n < RESULTS_MAX_RUNS; r++) {
        ExpRun *a = &e->runs[e->n++];
        if (load_row(&t, r, col, exp, a) != 0) {
            csv_table_free(&t);
            rb_fail("%s: %s", who, rb_error());
            return -1;
        }
        add_variant(e, exp_arm(a));
    }
    csv_table_free(&t);
    return 0;
}

void results_free(ExpResults *e) {
    free(e->runs);
    memset(e, 0, sizeof *e);
}

const ConfigDiff *results_design_difference(const Config *a, const Config *b, ConfigDiff buf[64]) {
    int n = config_differences(a, b, CONFIG_TRAJECTORY, buf, 64);
    for (int k = 0; k < n; k++) /* the variant and its options make the arm */
        if (strcmp(buf[k].key, "variant") && strcmp(buf[k].key, "seed") &&
            !config_key_is_variant_option(buf[k].key))
            return &buf[k];
    return NULL;
}

uint64_t results_pair_key(const ExpRun *r) {
    if (!r->has_cfg) return 0;
    Config key = r->cfg;
    key.variant[0] = 0; /* and its options: they belong to the arm, not to the pairing */
    key.vt = NULL;
    return config_hash(&key) | 1; /* never 0 */
}

/* ---- the ablation table ---- */

void ablation_table(const ExpRun *runs, int n, const char (*names)[32], int nv, AblationTable *t) {
    memset(t, 0, sizeof *t);
    Sample *pre = rb_calloc((size_t)n + 1, sizeof(Sample), "samples");
    Sample *x = rb_calloc((size_t)n + 1, sizeof(Sample), "samples");
    double *vals = rb_calloc((size_t)n + 1, sizeof(double), "samples");
    int npre = 0, nu = 0;
    double *util = rb_calloc((size_t)n + 1, sizeof(double), "samples");
    for (int i = 0; i < n; i++) {
        if (!strcmp(runs[i].status, "failed") || isnan(runs[i].r.final_val_loss)) continue;
        util[nu++] = runs[i].r.cpu_util;
        if (!strcmp(exp_arm(&runs[i]), RB_BASELINE))
            pre[npre++] = (Sample){runs[i].r.final_val_loss, results_pair_key(&runs[i])};
    }
    double ref = exp_prenorm_tok_s(runs, n);
    t->speeds_comparable = exp_speeds_comparable(util, nu, &t->worst_util);
    Comparison fam[RB_MAX_ARMS];
    int idx[RB_MAX_ARMS] = {0};
    for (int v = 0; v < nv && v < RB_MAX_ARMS; v++) {
        AblationRow *row = &t->rows[t->n++];
        rb_copy_str(row->name, sizeof row->name, names[v]);
        int k = 0;
        double tok = 0, over = 0;
        for (int i = 0; i < n; i++) {
            const ExpRun *a = &runs[i];
            if (strcmp(exp_arm(a), names[v]) || !strcmp(a->status, "failed") ||
                isnan(a->r.final_val_loss))
                continue;
            vals[k] = a->r.final_val_loss;
            x[k++] = (Sample){a->r.final_val_loss, results_pair_key(a)};
            tok += a->r.tok_per_s;
            over += exp_overhead_pct(ref, a->r.tok_per_s);
        }
        row->runs = k;
        row->mean = stats_mean(vals, k);
        row->sd = stats_std(vals, k);
        row->tok_s = k ? tok / k : NAN;
        row->overhead = k && strcmp(names[v], RB_BASELINE) ? over / k : NAN;
        if (k && npre && strcmp(names[v], RB_BASELINE)) {
            row->compared = 1;
            fam[t->n_compared] = claim_compare(x, k, pre, npre, 1);
            idx[t->n_compared++] = v;
        }
    }
    claim_holm(fam, t->n_compared, 1);
    for (int j = 0; j < t->n_compared; j++) t->rows[idx[j]].c = fam[j];
    free(pre);
    free(x);
    free(vals);
    free(util);
}

void results_fmt_p(char *out, size_t n, double p) {
    if (isnan(p))
        snprintf(out, n, "-");
    else if (p < 1e-4)
        snprintf(out, n, "<1e-4");
    else
        snprintf(out, n, "%.4f", p);
}

void results_fmt_interval(char *out, size_t n, const Comparison *c, int digits) {
    if (isnan(c->half_width)) {
        snprintf(out, n, "%+.*f (%s)", digits, c->delta, c->paired ? "1 pair" : "1 seed");
        return;
    }
    char how[32];
    if (c->paired)
        snprintf(how, sizeof how, "%d pairs", c->n);
    else
        snprintf(how, sizeof how, "Welch, unpaired");
    snprintf(out, n, "%+.*f [%+.*f, %+.*f] (%s)", digits, c->delta, digits,
             c->delta - c->half_width, digits, c->delta + c->half_width, how);
}

void ablation_table_write(FILE *f, const AblationTable *t, int markdown) {
    static const char *const header[8] = {"variant",
                                          "runs",
                                          "final val loss (mean +- std)",
                                          "delta vs " RB_BASELINE " [95% CI]",
                                          "p",
                                          "p (Holm)",
                                          "tok/s",
                                          "overhead"};
    TextTable tt = {.ncols = 8};
    memcpy(tt.header, header, sizeof header);
    for (int v = 0; v < t->n && v < RB_MAX_ARMS && v < RB_TABLE_MAX_ROWS; v++) {
        const AblationRow *r = &t->rows[v];
        char(*c)[96] = tt.cell[tt.nrows++];
        snprintf(c[0], 96, "%s", r->name);
        snprintf(c[1], 96, "%d", r->runs);
        if (!r->runs) {
            snprintf(c[2], 96, "(all runs failed)");
            for (int k = 3; k < 8; k++) snprintf(c[k], 96, "-");
            continue;
        }
        snprintf(c[2], 96, "%.4f +- %.4f", r->mean, r->sd);
        if (r->compared) {
            results_fmt_interval(c[3], 96, &r->c, 4);
            if (r->c.verdict_holm == VERDICT_NOISE && !markdown)
                strncat(c[3], " noise", 96 - strlen(c[3]) - 1);
            results_fmt_p(c[4], 96, r->c.p);
            results_fmt_p(c[5], 96, r->c.p_holm);
        } else {
            for (int k = 3; k < 6; k++) snprintf(c[k], 96, "-");
        }
        snprintf(c[6], 96, "%.0f", r->tok_s);
        if (!t->speeds_comparable)
            snprintf(c[7], 96, "n/c");
        else if (!isnan(r->overhead))
            snprintf(c[7], 96, "%+.1f%%", r->overhead);
        else
            snprintf(c[7], 96, "-");
    }
    table_write(f, &tt, markdown);
    fprintf(f,
            "\n(delta: mean over seeds of variant minus " RB_BASELINE
            " at the same seed and data order, with a Student t 95%% interval on pairs-1 degrees "
            "of freedom; Welch's interval when runs cannot be paired. p: two-sided; p (Holm): "
            "adjusted for the %d variants compared with one baseline%s. tok/s: training steps "
            "only, as measured while the runs trained; overhead: mean over the variant's runs "
            "of " RB_BASELINE
            "'s mean tok/s / the run's - 1; `resbench bench` measures speed under "
            "controlled conditions.)\n%s",
            t->n_compared, markdown ? "" : " (\"noise\": not significant after it)",
            markdown ? "\n" : "");
    if (!t->speeds_comparable && isnan(t->worst_util))
        fprintf(f,
                "Overheads are not compared (n/c): some runs were written by an older resbench "
                "that did not record whether they had their cores.\n%s",
                markdown ? "\n" : "");
    else if (!t->speeds_comparable)
        fprintf(f,
                "Overheads are not compared (n/c): a run had %.0f%% of its cores (CPU "
                "utilization below %.0f%%): another job shared them.\n%s",
                100 * t->worst_util, 100 * RB_MIN_CPU_UTIL, markdown ? "\n" : "");
}

/* ---- the table writer ---- */

void table_write(FILE *f, const TextTable *t, int markdown) {
    if (markdown) {
        for (int k = 0; k < t->ncols; k++) fprintf(f, "| %s ", t->header[k]);
        fprintf(f, "|\n");
        for (int k = 0; k < t->ncols; k++) fprintf(f, "|---");
        fprintf(f, "|\n");
        for (int r = 0; r < t->nrows; r++) {
            for (int k = 0; k < t->ncols; k++) fprintf(f, "| %s ", t->cell[r][k]);
            fprintf(f, "|\n");
        }
        return;
    }
    int width[RB_TABLE_MAX_COLS];
    for (int k = 0; k < t->ncols; k++) {
        width[k] = (int)strlen(t->header[k]);
        for (int r = 0; r < t->nrows; r++)
            if ((int)strlen(t->cell[r][k]) > width[k]) width[k] = (int)strlen(t->cell[r][k]);
    }
    for (int k = 0; k < t->ncols; k++)
        fprintf(f, "%s%-*s", k ? "  " : "", k == t->ncols - 1 ? 0 : width[k], t->header[k]);
    fprintf(f, "\n");
    for (int r = 0; r < t->nrows; r++) {
        for (int k = 0; k < t->ncols; k++)
            fprintf(f, "%s%-*s", k ? "  " : "", k == t->ncols - 1 ? 0 : width[k], t->cell[r][k]);
        fprintf(f, "\n");
    }
}
