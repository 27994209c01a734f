/* The results library (results.h). */
#define _GNU_SOURCE /* open_memstream */
#include "results.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "power.h"
#include "stats.h"
#include "util.h"

int results_csv_in(const char *dir, const char *name, CsvTable *t) {
    char p[4400];
    if (!rb_is_file_in(dir, name)) return 0;
    if (rb_join(p, sizeof p, dir, name) != 0 || csv_load(p, t) != 0) return -1;
    return 1;
}

/* The arms in order of first appearance (the array grows). */
static void add_variant(ExpResults *e, const char *v, int *cap) {
    for (int i = 0; i < e->nv; i++)
        if (!strcmp(e->variants[i], v)) return;
    if (e->nv == *cap) {
        *cap = *cap ? 2 * *cap : 16;
        void *grown = rb_realloc(e->variants, (size_t)*cap * RB_ARM_MAX, "experiment arms");
        e->variants = grown;
    }
    rb_copy_str(e->variants[e->nv++], RB_ARM_MAX, v); /* v is an ExpRun.arm: it fits */
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
    if (rb_copy_str(a->arm, sizeof a->arm, v) != 0 || !v[0])
        return rb_fail("%s/summary.csv: row %zu, column variant: %s", exp, r + 2,
                       v[0] ? "longer than a variant spec can be (511 characters)" : "empty");
    if (col[S_RUN_ID] >= 0) { /* older summaries: ablate's VARIANT-sSEED */
        const char *id = csv_cell(t, r, col[S_RUN_ID]);
        if (!rb_is_plain_name(id) || rb_copy_str(a->cfg.run_id, sizeof a->cfg.run_id, id) != 0)
            return rb_fail("%s/summary.csv: row %zu, column run_id: '%.60s' is not a run directory "
                           "name",
                           exp, r + 2, id);
    } else if (exp_arm_run_id(a->cfg.run_id, sizeof a->cfg.run_id, v, a->cfg.seed) != 0) {
        return -1;
    }
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
    /* the run's own meta.ini decides; summary.csv's column speaks for a run whose directory is
     * gone (older summaries have no column: "unknown") */
    exp_read_build(dir, a->build, sizeof a->build);
    if (!rb_is_file_in(dir, "meta.ini") && col[S_BUILD] >= 0)
        rb_copy_str(a->build, sizeof a->build, csv_cell(t, r, col[S_BUILD]));
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
    e->runs = rb_calloc(csv_nrows(&t) + 1, sizeof(ExpRun), "experiment runs"); /* every row */
    int cap = 0;
    for (size_t r = 0; r < csv_nrows(&t); r++) {
        ExpRun *a = &e->runs[e->n++];
        if (load_row(&t, r, col, exp, a) != 0) {
            csv_table_free(&t);
            rb_fail("%s: %s", who, rb_error());
            results_free(e);
            return -1;
        }
        add_variant(e, exp_arm(a), &cap);
    }
    csv_table_free(&t);
    return 0;
}

void results_free(ExpResults *e) {
    free(e->runs);
    free(e->variants);
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

/* ---- the builds that made the runs ---- */

/* The pair group of a run: its pairing key, or (no config) its seed. */
static uint64_t pair_group(const ExpRun *r) {
    uint64_t k = results_pair_key(r);
    return k ? k : rb_mix64((uint64_t)r->cfg.seed) & ~1ULL; /* keys are odd: no clash */
}

void results_builds(const ExpRun *runs, int n, BuildInfo *b) {
    memset(b, 0, sizeof *b);
    b->name = rb_calloc((size_t)n + 1, RB_BUILD_MAX, "builds");
    b->runs = rb_calloc((size_t)n + 1, sizeof(int), "builds");
    b->mixed = rb_calloc((size_t)n + 1, sizeof(char *), "builds");
    int *done = rb_calloc((size_t)n + 1, sizeof(int), "builds");
    uint64_t *group = rb_calloc((size_t)n + 1, sizeof(uint64_t), "builds");
    for (int i = 0; i < n; i++) {
        group[i] = pair_group(&runs[i]);
        if (!strcmp(runs[i].status, "failed")) continue;
        const char *name = runs[i].build[0] ? runs[i].build : "unknown";
        int k = 0;
        while (k < b->n && strcmp(b->name[k], name)) k++;
        if (k == b->n) rb_copy_str(b->name[b->n++], RB_BUILD_MAX, name);
        b->runs[k]++;
    }
    for (int i = 0; i < n; i++) { /* every pair group once: do its runs share one build? */
        if (done[i] || !strcmp(runs[i].status, "failed")) continue;
        uint64_t g = group[i];
        int mixed = 0;
        for (int j = i; j < n; j++)
            if (strcmp(runs[j].status, "failed") && group[j] == g) {
                done[j] = 1;
                mixed |= strcmp(runs[j].build, runs[i].build) != 0;
            }
        if (!mixed) continue;
        char *text = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&text, &len);
        if (!m) rb_out_of_memory("build list");
        fprintf(m, "seed %ld:", runs[i].cfg.seed);
        for (int j = i; j < n; j++)
            if (strcmp(runs[j].status, "failed") && group[j] == g)
                fprintf(m, "%s %s (%s)", j == i ? "" : ",", exp_arm(&runs[j]),
                        runs[j].build[0] ? runs[j].build : "unknown");
        fclose(m);
        b->mixed[b->n_mixed++] = text;
    }
    free(done);
    free(group);
}

void results_builds_free(BuildInfo *b) {
    for (int i = 0; i < b->n_mixed; i++) free(b->mixed[i]);
    free(b->mixed);
    free(b->name);
    free(b->runs);
    memset(b, 0, sizeof *b);
}

void results_builds_write(FILE *f, const BuildInfo *b, int markdown) {
    const char *bold = markdown ? "**" : "";
    fprintf(f, "Builds (meta.ini git_rev of each run):");
    int unknown = 0;
    for (int k = 0; k < b->n; k++) {
        fprintf(f, "%s %s%s%s (%d run%s)", k ? "," : "", markdown ? "`" : "", b->name[k],
                markdown ? "`" : "", b->runs[k], b->runs[k] == 1 ? "" : "s");
        if (!strcmp(b->name[k], "unknown")) unknown = b->runs[k];
    }
    fprintf(f, "%s\n%s", b->n ? "." : " none.", markdown ? "\n" : "");
    if (unknown)
        fprintf(f,
                "%sBuild unknown for %d run%s: no meta.ini (or no git_rev in it) in the run "
                "director%s.%s\n%s",
                bold, unknown, unknown == 1 ? "" : "s", unknown == 1 ? "y" : "ies", bold,
                markdown ? "\n" : "");
    if (b->n_mixed) {
        fprintf(f,
                "%sWARNING: %d pair group%s (same seed and data order, different arms) %s made by "
                "different builds; a floating-point change between builds can move a trajectory "
                "as much as a new seed:%s\n%s",
                bold, b->n_mixed, b->n_mixed == 1 ? "" : "s", b->n_mixed == 1 ? "was" : "were",
                bold, markdown ? "\n" : "");
        for (int i = 0; i < b->n_mixed; i++)
            fprintf(f, "%s%s\n", markdown ? "- " : "  ", b->mixed[i]);
        if (markdown) fprintf(f, "\n");
    }
}

/* ---- the ablation table ---- */

void ablation_table(const ExpRun *runs, int n, const char (*names)[RB_ARM_MAX], int nv,
                    AblationTable *t) {
    memset(t, 0, sizeof *t);
    t->rows = rb_calloc((size_t)nv + 1, sizeof(AblationRow), "ablation table");
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
    results_builds(runs, n, &t->builds);
    Comparison *fam = rb_calloc((size_t)nv + 1, sizeof(Comparison), "ablation table");
    int *idx = rb_calloc((size_t)nv + 1, sizeof(int), "ablation table");
    for (int v = 0; v < nv; v++) {
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
    free(fam);
    free(idx);
    free(pre);
    free(x);
    free(vals);
    free(util);
}

void ablation_table_free(AblationTable *t) {
    free(t->rows);
    results_builds_free(&t->builds);
    memset(t, 0, sizeof *t);
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

/* The minimum detectable effect (80% power, docs/statistics.md section 6) of a paired comparison,
 * from its interval: the paired SD is half_width sqrt(n) / t975(n - 1). NAN when not paired. */
static double comparison_mde(const Comparison *c) {
    if (!c->paired || c->n < 2 || !(c->half_width > 0)) return NAN;
    return power_mde(c->half_width * sqrt(c->n) / stats_t975(c->n - 1), c->n, 0.05, 0.80);
}

void ablation_table_write(FILE *f, const AblationTable *t, int markdown) {
    static const char *const header[9] = {"variant",
                                          "runs",
                                          "final val loss (mean +- std)",
                                          "delta vs " RB_BASELINE " [95% CI]",
                                          "p",
                                          "p (Holm)",
                                          "MDE (80%)",
                                          "tok/s",
                                          "overhead"};
    TextTable tt = {.ncols = 9};
    memcpy(tt.header, header, sizeof header);
    enum { W = RB_TABLE_CELL };
    for (int v = 0; v < t->n; v++) {
        const AblationRow *r = &t->rows[v];
        char(*c)[W] = table_add_row(&tt);
        snprintf(c[0], W, "%s", r->name);
        snprintf(c[1], W, "%d", r->runs);
        if (!r->runs) {
            snprintf(c[2], W, "(all runs failed)");
            for (int k = 3; k < 9; k++) snprintf(c[k], W, "-");
            continue;
        }
        snprintf(c[2], W, "%.4f +- %.4f", r->mean, r->sd);
        if (r->compared) {
            results_fmt_interval(c[3], W, &r->c, 4);
            if (r->c.verdict_holm == VD_INCONCLUSIVE && !markdown)
                strncat(c[3], " inconclusive", W - strlen(c[3]) - 1);
            results_fmt_p(c[4], W, r->c.p);
            results_fmt_p(c[5], W, r->c.p_holm);
            double mde = comparison_mde(&r->c);
            snprintf(c[6], W, isnan(mde) ? "-" : "%.4f", mde);
        } else {
            for (int k = 3; k < 7; k++) snprintf(c[k], W, "-");
        }
        snprintf(c[7], W, "%.0f", r->tok_s);
        if (!t->speeds_comparable)
            snprintf(c[8], W, "n/c");
        else if (!isnan(r->overhead))
            snprintf(c[8], W, "%+.1f%%", r->overhead);
        else
            snprintf(c[8], W, "-");
    }
    table_write(f, &tt, markdown);
    table_free(&tt);
    fprintf(f,
            "\n(delta: mean over seeds of variant minus " RB_BASELINE
            " at the same seed and data order, with a Student t 95%% interval on pairs-1 degrees "
            "of freedom; Welch's interval when runs cannot be paired. p: two-sided; p (Holm): "
            "adjusted for the %d variants compared with one baseline%s. MDE: the difference "
            "these pairs detect with 80%% power at their paired SD. tok/s: training steps "
            "only, as measured while the runs trained; overhead: mean over the variant's runs "
            "of " RB_BASELINE
            "'s mean tok/s / the run's - 1; `resbench bench` measures speed under "
            "controlled conditions.)\n%s",
            t->n_compared, markdown ? "" : " (\"inconclusive\": not significant after it)",
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
    results_builds_write(f, &t->builds, markdown);
}

/* ---- the table writer ---- */

char (*table_add_row(TextTable *t))[RB_TABLE_CELL] {
    if (t->nrows == t->cap) {
        int cap = t->cap ? 2 * t->cap : 16;
        void *grown = rb_realloc(t->cell, (size_t)cap * sizeof *t->cell, "table");
        t->cell = grown;
        t->cap = cap;
    }
    memset(t->cell[t->nrows], 0, sizeof *t->cell);
    return t->cell[t->nrows++];
}

void table_free(TextTable *t) {
    free(t->cell);
    t->cell = NULL;
    t->nrows = t->cap = 0;
}

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
