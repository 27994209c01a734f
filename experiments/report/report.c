/* The report of `resbench report RESULTS_DIR` (cmd/cmd_report.c) and of `ablate`: report.md for an
 * experiment (an ablation's directory): the resolved configs, a check that every run had the same
 * budget and data order, the ablation table, the figures, and the paper's claims, each with a
 * verdict computed from the CSVs. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "buildinfo.h"
#include "claims.h"
#include "cli.h"
#include "config.h"
#include "csvread.h"
#include "plot.h"
#include "report.h"
#include "report_html.h"
#include "runs.h"
#include "results.h"
#include "health.h"
#include "measures.h"
#include "multiplier.h"
#include "power.h"
#include "stats.h"
#include "verdict.h"
#include "util.h"
#include "variant.h"

/* The per-run statistics a claim compares (docs/statistics.md): F_LOO + l is the stream slope with
 * sublayer l (1..MEASURE_MAX_SUB) left out. */
enum {
    F_LOSS,    /* final validation loss */
    F_SLOPE,   /* OLS slope of log stream_rms over all sublayers (section 1, statistic (i)) */
    F_TS,      /* Theil-Sen slope of log stream_rms (ii) */
    F_IN_ATTN, /* OLS slope of log input_rms over the attention sublayers (iii) */
    F_IN_MLP,  /* ... over the MLP sublayers (iv) */
    F_CV,      /* gradient CV, mean of the two types (section 2) */
    F_CV_ATTN,
    F_CV_MLP,
    F_ACC_TOP, /* probe accuracy at the largest hop count */
    F_ACC_ONE, /* probe accuracy at 1 hop */
    F_LOO
};

/* One run's measurements, from the experiment (results.c) and its run files. */
typedef struct {
    char variant[RB_ARM_MAX], dir[4200]; /* variant: the run's arm */
    long seed;
    double tokens, flops;
    double f[F_LOO];
    double loo[MEASURE_MAX_SUB + 1]; /* F_LOO + l */
    int n_sub;                       /* sublayers in the profile (0: none) */
    long k_top, n_top, k_one, n_one; /* probe answers right / counted */
    int top_hops;
    double chance;    /* the probe's guessing accuracy (0: unknown) */
    int health_known; /* metrics.csv was read */
    Health health;
    uint64_t pair_key; /* results_pair_key (0: no config) */
    int arm;           /* index into Report.variants */
    /* routing.csv at its last step: entropy / uniform entropy averaged over the shallow and the
     * deep half of the consumers (NAN: no routing.csv) */
    double route_shallow, route_deep;
} RRun;

typedef struct {
    const char *dir;
    const char *law_path; /* a fit.ini whose law reads FLOP-adjusted deltas (NULL: DIR/fit.ini) */
    ExpResults exp;       /* every run of summary.csv with its config */
    RRun *runs;           /* the successful ones */
    int n, nv;
    char (*variants)[RB_ARM_MAX]; /* the arms: exp.variants */
    int *failed;                  /* per arm: runs that failed to train (section 3) */
    int base;                     /* the baseline arm's index (-1: none) */
    const char *ref_name;         /* what the tables call the reference ("prenorm") */
    const int *arm_sign;          /* per arm, the paper's direction (NULL: the claim's one) */
    int *ref;      /* per arm: the arm it is compared with (the baseline; -1: none, e.g. itself) */
    double margin; /* experiment.ini's equivalence_margin for the loss, nats (NAN: none stated) */
    FILE *json;    /* report.json, written alongside the markdown */
    int *json_claims; /* claims written so far (for the separators) */
} Report;
/* ---- report.json: the same tables and verdicts, machine-readable ---- */
static void json_str(FILE *j, const char *s) {
    fputc('"', j);
    for (; *s; s++)
        if (*s == '"' || *s == '\\')
            fprintf(j, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(j, "\\u%04x", *s);
        else
            fputc(*s, j);
    fputc('"', j);
}

static void json_num(FILE *j, double v) { /* NAN and inf are null: JSON has no such numbers */
    if (isfinite(v))
        fprintf(j, "%.17g", v);
    else
        fputs("null", j);
}

static void json_key(FILE *j, const char *k) {
    json_str(j, k);
    fputc(':', j);
}

/* Opens a claim object {"title": ..., "rows": [ in the claims array. */
static void json_claim_open(const Report *rp, const char *title) {
    fputs(*rp->json_claims ? ",\n{" : "\n{", rp->json);
    (*rp->json_claims)++;
    json_key(rp->json, "title");
    json_str(rp->json, title);
    fputs(",\"rows\":[", rp->json);
}

/* "builds": [{"build": ..., "runs": N}, ...], "mixed_build_pairs": ["seed 4: ...", ...] */
static void json_builds(FILE *j, const ExpResults *e) {
    BuildInfo b;
    results_builds(e->runs, e->n, &b);
    fputs("\"builds\":[", j);
    for (int k = 0; k < b.n; k++) {
        fputs(k ? ",{" : "{", j);
        json_key(j, "build");
        json_str(j, b.name[k]);
        fprintf(j, ",\"runs\":%d}", b.runs[k]);
    }
    fputs("],\"mixed_build_pairs\":[", j);
    for (int k = 0; k < b.n_mixed; k++) {
        if (k) fputc(',', j);
        json_str(j, b.mixed[k]);
    }
    fputc(']', j);
    results_builds_free(&b);
}

/* Probe counts at the last evaluation of eval.csv: hop count h (0: the largest); k answers right of
 * n (k = accuracy x n, rounded: accuracy is k/n written with 6 decimals). */
static void eval_counts(const CsvTable *t, int h, long *k, long *n, int *hops_out) {
    int cs = csv_col(t, "step"), ch = csv_col(t, "hops"), ca = csv_col(t, "accuracy"),
        cn = csv_col(t, "n");
    *k = *n = -1;
    if (cs < 0 || ch < 0 || ca < 0 || cn < 0) return;
    double last = NAN;
    for (size_t r = 0; r < csv_nrows(t); r++)
        if (isnan(last) || csv_num(t, r, cs) > last) last = csv_num(t, r, cs);
    int best = 0;
    for (size_t r = 0; r < csv_nrows(t); r++) {
        int hr = csv_int(t, r, ch, -1);
        if (csv_num(t, r, cs) != last || !((h > 0 && hr == h) || (h == 0 && hr > best))) continue;
        best = hr;
        *n = csv_int(t, r, cn, -1);
        *k = *n > 0 ? lround(csv_num(t, r, ca) * (double)*n) : -1;
    }
    if (hops_out) *hops_out = h > 0 ? h : best;
}

/* The probe's guessing accuracy from the data source (docs/statistics.md section 4): 1/nodes for
 * synth:hops (default 16), 1/symbols for synth:compose (default 32), 0 (unknown) otherwise. */
static double probe_chance(const char *data) {
    const char *key = !strncmp(data, "synth:hops", 10)      ? "nodes="
                      : !strncmp(data, "synth:compose", 13) ? "symbols="
                                                            : NULL;
    if (!key) return 0;
    const char *v = strstr(data, key);
    long count = v ? strtol(v + strlen(key), NULL, 10) : (key[0] == 'n' ? 16 : 32);
    return count > 0 ? 1.0 / (double)count : 0;
}

/* The magnitude statistics (section 1) and the gradient CV (section 2) from profile.csv. */
static void load_profile(const CsvTable *t, RRun *r) {
    ProfilePoint pts[MEASURE_MAX_SUB];
    int n = profile_points(t, NAN, pts, MEASURE_MAX_SUB);
    if (n <= 0) return; /* columns missing: no profile statistics (the claims say "no data") */
    SlopeStat all = measure_magnitude(pts, n, SUB_ANY, 1, 0);
    r->f[F_SLOPE] = all.slope;
    r->f[F_TS] = all.theil_sen;
    r->f[F_IN_ATTN] = measure_magnitude(pts, n, SUB_ATTN, 0, 0).slope;
    r->f[F_IN_MLP] = measure_magnitude(pts, n, SUB_MLP, 0, 0).slope;
    for (int i = 0; i < n; i++)
        if (pts[i].batch == 0 && pts[i].layer >= 1 && pts[i].layer <= MEASURE_MAX_SUB) {
            r->loo[pts[i].layer] = measure_magnitude(pts, n, SUB_ANY, 1, pts[i].layer).slope;
            if (pts[i].layer > r->n_sub) r->n_sub = pts[i].layer;
        }
    GradCV cv = measure_grad_cv(pts, n);
    r->f[F_CV] = cv.cv;
    r->f[F_CV_ATTN] = cv.cv_attn;
    r->f[F_CV_MLP] = cv.cv_mlp;
}

/* routing.csv (docs/formats.md): at its last step, the ratio entropy / uniform_entropy of every
 * consumer with two or more sources, in layer order; the mean over the first half of them
 * (shallow) and over the last half (deep), the middle one left out when their number is odd. */
static void load_routing(const CsvTable *t, RRun *r) {
    int cs = csv_col(t, "step"), ce = csv_col(t, "entropy"), cu = csv_col(t, "uniform_entropy");
    size_t n = csv_nrows(t);
    if (cs < 0 || ce < 0 || cu < 0 || n == 0) return;
    double last = csv_num(t, n - 1, cs), ratio[RB_MAX_SUB + 1];
    int k = 0;
    for (size_t i = 0; i < n && k <= RB_MAX_SUB; i++) {
        double u = csv_num(t, i, cu);
        if (csv_num(t, i, cs) == last && u > 0) ratio[k++] = csv_num(t, i, ce) / u;
    }
    if (k < 2) return;
    double sh = 0, dp = 0;
    for (int i = 0; i < k / 2; i++) {
        sh += ratio[i];
        dp += ratio[k - 1 - i];
    }
    r->route_shallow = sh / (k / 2);
    r->route_deep = dp / (k / 2);
}

/* One run's measurements from its directory (metrics, profiles, probe). */
static int load_run_dir(const ExpRun *a, RRun *r) {
    rb_copy_str(r->variant, sizeof r->variant, exp_arm(a));
    rb_copy_str(r->dir, sizeof r->dir, a->r.run_dir);
    r->seed = a->cfg.seed;
    r->tokens = a->r.tokens;
    r->flops = a->r.flops;
    r->pair_key = results_pair_key(a);
    for (int k = 0; k < F_LOO; k++) r->f[k] = NAN;
    for (int k = 0; k <= MEASURE_MAX_SUB; k++) r->loo[k] = NAN;
    r->f[F_LOSS] = a->r.final_val_loss;
    r->k_top = r->n_top = r->k_one = r->n_one = -1;
    r->chance = a->has_cfg ? probe_chance(a->cfg.data) : 0;
    CsvTable t;
    int rc = results_csv_in(r->dir, "metrics.csv", &t);
    if (rc < 0) return -1;
    if (rc) {
        HealthRule rule = HEALTH_DEFAULT;
        rc = a->has_cfg ? train_health_csv(&t, a->cfg.warmup, a->cfg.grad_clip, &rule, &r->health)
                        : 0;
        r->health_known = a->has_cfg && rc == 0;
        csv_table_free(&t);
        if (rc < 0) return rb_fail("report: %s/metrics.csv: %s", r->dir, rb_error());
    }
    if ((rc = results_csv_in(r->dir, "profile.csv", &t)) < 0) return -1;
    if (rc) {
        load_profile(&t, r);
        csv_table_free(&t);
    }
    r->route_shallow = r->route_deep = NAN;
    if ((rc = results_csv_in(r->dir, "routing.csv", &t)) < 0) return -1;
    if (rc) {
        load_routing(&t, r);
        csv_table_free(&t);
    }
    if ((rc = results_csv_in(r->dir, "eval.csv", &t)) < 0) return -1;
    if (rc) {
        eval_counts(&t, 0, &r->k_top, &r->n_top, &r->top_hops);
        eval_counts(&t, 1, &r->k_one, &r->n_one, NULL);
        if (r->n_top > 0) r->f[F_ACC_TOP] = (double)r->k_top / (double)r->n_top;
        if (r->n_one > 0) r->f[F_ACC_ONE] = (double)r->k_one / (double)r->n_one;
        csv_table_free(&t);
    }
    return 0;
}

/* A run and its place in the report's run list, sorted by arm, seed and place. */
typedef struct {
    const RRun *run;
    int place;
} ArmSeed;

static int same_arm_seed(const ArmSeed *a, const ArmSeed *b) {
    return a->run->seed == b->run->seed && !strcmp(a->run->variant, b->run->variant);
}

static int by_arm_seed_place(const void *pa, const void *pb) {
    const ArmSeed *a = pa, *b = pb;
    int c = strcmp(a->run->variant, b->run->variant);
    if (c) return c;
    if (a->run->seed != b->run->seed) return a->run->seed < b->run->seed ? -1 : 1;
    return (a->place > b->place) - (a->place < b->place);
}

/* The claims pair one run per arm and seed; a sweep holds one per shape, and pairing across shapes
 * would compare different models (its analysis is `sweep --gather`). Sorted by (arm, seed,
 * place), repeats are neighbours: O(n log n). The line names the pair a scan in list order meets
 * first: the earliest run that repeats an earlier one (the second of its group), and the first
 * of its group. */
static int check_one_run_per_arm_seed(const Report *rp) {
    ArmSeed *k = rb_calloc((size_t)rp->n + 1, sizeof *k, "report arm-seed keys");
    for (int i = 0; i < rp->n; i++) k[i] = (ArmSeed){&rp->runs[i], i};
    qsort(k, (size_t)rp->n, sizeof *k, by_arm_seed_place);
    int repeat = -1; /* in k: the second run of the group whose second comes first */
    for (int i = 1; i < rp->n; i++)
        if (same_arm_seed(&k[i - 1], &k[i]) && (i == 1 || !same_arm_seed(&k[i - 2], &k[i - 1])) &&
            (repeat < 0 || k[i].place < k[repeat].place))
            repeat = i;
    int rc = 0;
    if (repeat >= 0) {
        const RRun *first = k[repeat - 1].run, *second = k[repeat].run;
        rc = rb_fail("report: %s/summary.csv holds two runs of arm %s with seed %ld (%s and %s): "
                     "a sweep's shapes are analysed by `resbench sweep ... --gather`, not by "
                     "report",
                     rp->dir, second->variant, second->seed, first->dir, second->dir);
    }
    free(k);
    return rc;
}

static int load_report(Report *rp) {
    if (results_load(rp->dir, "report", &rp->exp) != 0) return -1;
    rp->runs = rb_calloc((size_t)rp->exp.n + 1, sizeof(RRun), "report runs");
    for (int i = 0; i < rp->exp.n; i++) {
        const ExpRun *a = &rp->exp.runs[i];
        if (!strcmp(a->status, "failed")) continue;
        if (load_run_dir(a, &rp->runs[rp->n++]) != 0) return -1;
    }
    rp->variants = rp->exp.variants;
    rp->nv = rp->exp.nv;
    Config design; /* the margin stated in experiment.ini before the runs (none without the file) */
    config_defaults(&design);
    char ini[4400];
    rp->margin = NAN;
    if (rb_is_file_in(rp->dir, "experiment.ini") &&
        rb_join(ini, sizeof ini, rp->dir, "experiment.ini") == 0) {
        if (config_load_ini(&design, ini) != 0) return -1;
        if (design.equivalence_margin > 0) rp->margin = design.equivalence_margin;
    }
    rp->failed = rb_calloc((size_t)rp->nv + 1, sizeof(int), "report arms");
    rp->base = -1;
    for (int v = 0; v < rp->nv; v++)
        if (!strcmp(rp->variants[v], RB_BASELINE)) rp->base = v;
    rp->ref = rb_calloc((size_t)rp->nv + 1, sizeof(int), "report arms");
    for (int v = 0; v < rp->nv; v++) rp->ref[v] = v == rp->base ? -1 : rp->base;
    for (int i = 0; i < rp->n; i++) {
        RRun *r = &rp->runs[i];
        r->arm = -1;
        for (int v = 0; v < rp->nv && r->arm < 0; v++)
            if (!strcmp(r->variant, rp->variants[v])) r->arm = v;
        if (r->arm >= 0 && r->health_known && r->health.cls != HEALTH_TRAINED) rp->failed[r->arm]++;
    }
    if (check_one_run_per_arm_seed(rp) != 0) return -1;
    return rp->n ? 0 : rb_fail("report: %s/summary.csv lists no successful run", rp->dir);
}

static double run_value(const RRun *r, int field) {
    return field < F_LOO ? r->f[field] : r->loo[field - F_LOO];
}

/* The values of one statistic over an arm's runs (those where it is defined). */
static int arm_values(const Report *rp, int v, int field, double *out) {
    int k = 0;
    for (int i = 0; i < rp->n; i++)
        if (rp->runs[i].arm == v && !isnan(run_value(&rp->runs[i], field)))
            out[k++] = run_value(&rp->runs[i], field);
    return k;
}

/* Pairs (x: arm v, y: the baseline) of one statistic, matched by pairing key. */
static int arm_pairs(const Report *rp, int v, int field, double *x, double *y) {
    int k = 0;
    if (rp->ref[v] < 0) return 0;
    for (int i = 0; i < rp->n; i++) {
        const RRun *a = &rp->runs[i];
        if (a->arm != v || !a->pair_key || isnan(run_value(a, field))) continue;
        for (int j = 0; j < rp->n; j++) {
            const RRun *b = &rp->runs[j];
            if (b->pair_key == a->pair_key && b->arm == rp->ref[v] && !isnan(run_value(b, field))) {
                x[k] = run_value(a, field);
                y[k++] = run_value(b, field);
                break;
            }
        }
    }
    return k;
}

/* One comparison of an arm with the baseline: the verdict of section 5, the MDE of section 6 and
 * the pairing ratio of section 8. */
typedef struct {
    VerdictResult v;
    double mde;
    PairingRatio pr;
    const char *why; /* why "not tested" (NULL: it was tested) */
} Cmp;

/* Why an arm's comparison is not tested before any statistic is computed (NULL: it can be). */
static const char *arm_untested(const Report *rp, int v) {
    if (rp->ref[v] < 0) return rp->base < 0 ? "no prenorm arm" : "no reference arm";
    if (rp->failed[rp->ref[v]]) return "the reference arm failed to train";
    if (rp->failed[v]) return "failed to train";
    return NULL;
}

/* Every arm against the baseline on one statistic; Holm over the arms compared (the family).
 * claim_sign: -1 when the paper claims a smaller value, +1 a larger one. probe_why: a reason that
 * makes every comparison "not tested" (a probe at floor or ceiling; NULL: none). */
static void compare_family(const Report *rp, int field, int claim_sign, const char *probe_why,
                           Cmp *c) {
    int nv = rp->nv, *n = rb_calloc((size_t)nv + 1, sizeof(int), "claims"),
        *sign = rb_calloc((size_t)nv + 1, sizeof(int), "claims"),
        *tested = rb_calloc((size_t)nv + 1, sizeof(int), "claims");
    double **d = rb_calloc((size_t)nv + 1, sizeof(double *), "claims"),
           *x = rb_calloc((size_t)rp->n + 1, sizeof(double), "claims"),
           *y = rb_calloc((size_t)rp->n + 1, sizeof(double), "claims");
    VerdictResult *out = rb_calloc((size_t)nv + 1, sizeof(VerdictResult), "claims");
    for (int v = 0; v < nv; v++) {
        d[v] = rb_calloc((size_t)rp->n + 1, sizeof(double), "claims");
        sign[v] = rp->arm_sign ? rp->arm_sign[v] : claim_sign;
        c[v] = (Cmp){.mde = NAN, .pr = {NAN, NAN, NAN, NAN}, .why = NULL};
        if (rp->ref[v] < 0) continue;
        n[v] = arm_pairs(rp, v, field, x, y);
        for (int i = 0; i < n[v]; i++) d[v][i] = x[i] - y[i];
        c[v].why = arm_untested(rp, v);
        if (!c[v].why && probe_why) c[v].why = probe_why;
        if (!c[v].why && n[v] < 2) c[v].why = n[v] ? "1 pair" : "no pairs";
        tested[v] = !c[v].why;
        c[v].pr = pairing_ratio(x, y, n[v]);
    }
    double margin = field == F_LOSS ? rp->margin : NAN; /* stated in nats of loss only */
    verdict_family((const double *const *)d, n, nv, sign, tested, margin, 0.05, out);
    for (int v = 0; v < nv; v++) {
        c[v].v = out[v];
        if (n[v] >= 2 && out[v].sd > 0) c[v].mde = power_mde(out[v].sd, n[v], 0.05, 0.80);
        free(d[v]);
    }
    free(d);
    free(n);
    free(sign);
    free(tested);
    free(x);
    free(y);
    free(out);
}

/* "-0.0300 [-0.0400, -0.0200] (4 pairs)", or "-" without pairs. */
static void fmt_delta(char *out, size_t size, const Cmp *c, int digits) {
    if (c->v.n < 1 || isnan(c->v.mean))
        snprintf(out, size, "-");
    else if (isnan(c->v.half_width))
        snprintf(out, size, "%+.*f (1 pair)", digits, c->v.mean);
    else
        snprintf(out, size, "%+.*f [%+.*f, %+.*f] (%d pairs)", digits, c->v.mean, digits,
                 c->v.mean - c->v.half_width, digits, c->v.mean + c->v.half_width, c->v.n);
}

/* The verdict as text: "not tested (failed to train)" when untested. */
static void fmt_verdict(char *out, size_t size, const Cmp *c) {
    if (c->why)
        snprintf(out, size, "not tested (%s)", c->why);
    else if (!isnan(c->v.p_tost) && c->v.verdict != VD_REPRODUCED && c->v.verdict != VD_OPPOSITE)
        snprintf(out, size, "%s (TOST p %.3g, margin %g)", verdict_kind_name(c->v.verdict),
                 c->v.p_tost, c->v.margin);
    else
        snprintf(out, size, "%s", verdict_kind_name(c->v.verdict));
}

static void print_p(FILE *f, double p) {
    char text[16];
    results_fmt_p(text, sizeof text, p);
    fputs(text, f);
}

static int check_budgets(FILE *f, const Report *rp) {
    int bad = 0, have = 0;
    const ExpRun *r0 = NULL;
    const ExpResults *e = &rp->exp;
    for (int i = 0; i < e->n; i++) {
        const ExpRun *r = &e->runs[i];
        if (!strcmp(r->status, "failed")) continue;
        if (!r0) r0 = r;
        if (fabs(r->r.tokens - r0->r.tokens) > 0.5) {
            fprintf(f, "- **WARNING: %s seed %ld trained on %.0f tokens, %s seed %ld on %.0f.**\n",
                    exp_arm(r), r->cfg.seed, r->r.tokens, exp_arm(r0), r0->cfg.seed, r0->r.tokens);
            bad++;
        }
        if (!r->has_cfg) continue;
        have++;
        ConfigDiff diffs[64];
        const ConfigDiff *d =
            r0->has_cfg ? results_design_difference(&r0->cfg, &r->cfg, diffs) : NULL;
        if (d) {
            fprintf(f, "- **WARNING: `%s` differs: %s for %s seed %ld, %s for %s seed %ld.**\n",
                    d->key, d->a, exp_arm(r0), r0->cfg.seed, d->b, exp_arm(r), r->cfg.seed);
            bad++;
        }
    }
    if (have < rp->n) {
        fprintf(f,
                "- **WARNING: %d of %d runs have no config.ini here; their budgets cannot be "
                "checked.**\n",
                rp->n - have, rp->n);
        bad++;
    }
    if (!bad && r0) {
        char data_seed[32];
        snprintf(data_seed, sizeof data_seed, "%ld", r0->cfg.data_seed);
        fprintf(f,
                "All %d runs had identical budgets and data order: %.0f training tokens each "
                "(steps = %ld), data = `%s`, data_seed = %s, and the same shape, schedule and "
                "evaluation set; they differ only in variant and model seed.\n",
                rp->n, r0->r.tokens, train_total_steps(&r0->cfg), r0->cfg.data, data_seed);
    } else if (bad) {
        fprintf(f, "\n**The runs of this experiment did NOT have identical budgets and data "
                   "order: the comparisons below are not fair.**\n");
    }
    return bad;
}

static void write_config(FILE *f, const Report *rp) {
    char p[4400];
    fprintf(f, "## Configuration\n\nResolved base config (`experiment.ini`); every run is this "
               "config with its own `variant` and `seed` (and its `out`/`run_id`).\n\n```ini\n");
    char *text = NULL;
    size_t n = 0;
    if (rb_join(p, sizeof p, rp->dir, "experiment.ini") != 0 || rb_read_file(p, &text, &n) != 0)
        text = NULL;
    if (text)
        fwrite(text, 1, n, f);
    else
        fprintf(f, "# experiment.ini is missing\n");
    free(text);
    fprintf(f, "```\n\nRuns:");
    for (int i = 0; i < rp->n; i++) { /* their directories */
        const char *base = strrchr(rp->runs[i].dir, '/');
        fprintf(f, "%s `%s`", i ? "," : "", base ? base + 1 : rp->runs[i].dir);
    }
    fprintf(f, " (each directory holds its own `config.ini`).\n\n");
}

static void write_ablation(FILE *f, const Report *rp) {
    AblationTable t;
    ablation_table(rp->exp.runs, rp->exp.n, (const char(*)[RB_ARM_MAX])rp->variants, rp->nv, &t);
    fprintf(f, "## Ablation\n\n");
    ablation_table_write(f, &t, 1);
    ablation_table_free(&t);
}

/* Titles of the figures `resbench plot`, `sweep` and `fit` draw: whole-experiment figures by
 * name, per-arm figures by the prefix before the arm's file name. */
static const char *const FIGURES[][2] = {{"loss_vs_flops", "Validation loss vs training compute"},
                                         {"loss_vs_tokens", "Validation loss vs tokens"},
                                         {"dilution", "Hidden-state magnitude across depth"},
                                         {"gradients", "Gradient magnitude across depth"},
                                         {"gains", "Stream-mixing gains"},
                                         {"probe", "Multi-hop answer accuracy"},
                                         {"routing", "Routing over depth"},
                                         {"fit", "Scaling fit and compute multipliers"}};
static const char *const ARM_FIGURES[][2] = {{"depth_", "Depth-mixing weights"},
                                             {"sweep_", "Validation loss over the shape grid"}};

/* Arm v's routing over its runs with routing.csv: the mean of their shallow- and deep-half ratios
 * into *sh and *dp; returns how many runs had one (0: none). */
static int routing_of_arm(const Report *rp, int v, double *sh, double *dp) {
    int n = 0;
    *sh = *dp = 0;
    for (int i = 0; i < rp->n; i++) {
        const RRun *r = &rp->runs[i];
        if (r->arm != v || !isfinite(r->route_shallow)) continue;
        *sh += r->route_shallow;
        *dp += r->route_deep;
        n++;
    }
    if (n) {
        *sh /= n;
        *dp /= n;
    }
    return n;
}

/* The routing line of each arm with routing.csv (docs/variants.md, "Routing diagnostics"): mean
 * entropy / uniform per consumer over the shallow and the deep half, averaged over its runs. No
 * section when no run has the file. */
static void write_routing(FILE *f, const Report *rp) {
    int header = 0;
    for (int v = 0; v < rp->nv; v++) {
        double sh, dp;
        int n = routing_of_arm(rp, v, &sh, &dp);
        if (!n) continue;
        if (!header++)
            fprintf(f, "## Routing\n\n"
                       "Mean entropy / uniform per consumer, deep vs shallow half: per consumer "
                       "the mean over tokens of the entropy of its depth weights, over "
                       "log(sources) (1 = uniform, 0 = one source per token), from routing.csv at "
                       "the last step; averaged over the first and the last half of the consumers "
                       "with two or more sources, and over the arm's runs (docs/variants.md, "
                       "\"Routing diagnostics\"; the figure \"Routing over depth\" shows every "
                       "consumer; `resbench knockout RUN_DIR` gives each source's loss when "
                       "removed, drawn beside it once a run has knockout.csv).\n\n"
                       "| arm | runs | shallow half | deep half |\n|---|---|---|---|\n");
        fprintf(f, "| %s | %d | %.3f | %.3f |\n", rp->variants[v], n, sh, dp);
    }
    if (header) fprintf(f, "\n");
}

/* report.json's "routing": [{"variant", "runs", "shallow", "deep"}] for the arms of write_routing
 * (an empty list when no run has routing.csv). */
static void json_routing(const Report *rp) {
    FILE *j = rp->json;
    int first = 1;
    fputs("\"routing\":[", j);
    for (int v = 0; v < rp->nv; v++) {
        double sh, dp;
        int n = routing_of_arm(rp, v, &sh, &dp);
        if (!n) continue;
        fputs(first ? "{" : ",{", j);
        first = 0;
        json_key(j, "variant");
        json_str(j, rp->variants[v]);
        fprintf(j, ",\"runs\":%d,", n);
        json_key(j, "shallow");
        json_num(j, sh);
        fputc(',', j);
        json_key(j, "deep");
        json_num(j, dp);
        fputc('}', j);
    }
    fputs("],", j);
}

/* Every figure (PNG) in DIR/figures, linked: the experiment's figures first, then each arm's (a
 * file PREFIX_ARMFILE.png, ARMFILE the arm's file name), then any other PNG found there. */
static void write_figures(FILE *f, const Report *rp) {
    char figdir[4400];
    char **names = NULL;
    int count = -1;
    fprintf(f, "## Figures\n\n");
    struct stat st;
    if (rb_join(figdir, sizeof figdir, rp->dir, "figures") == 0 && stat(figdir, &st) == 0 &&
        S_ISDIR(st.st_mode))
        count = rb_list_dir(figdir, &names);
    int *shown = rb_calloc((size_t)(count > 0 ? count : 0) + 1, sizeof(int), "figures"),
        n_shown = 0;
    for (int i = 0; i < count; i++) { /* only PNGs are linked (the SVGs sit beside them) */
        size_t len = strlen(names[i]);
        shown[i] = len < 5 || strcmp(names[i] + len - 4, ".png") ? -1 : 0;
    }
    for (size_t k = 0; k < sizeof FIGURES / sizeof FIGURES[0]; k++)
        for (int i = 0; i < count; i++) {
            if (shown[i] || strncmp(names[i], FIGURES[k][0], strlen(FIGURES[k][0])) ||
                strcmp(names[i] + strlen(FIGURES[k][0]), ".png"))
                continue;
            fprintf(f, "![%s](figures/%s)\n\n", FIGURES[k][1], names[i]);
            shown[i] = 1;
            n_shown++;
        }
    for (int v = 0; v < rp->nv; v++) {
        char file[RB_ARM_MAX], suffix[RB_ARM_MAX + 8];
        if (exp_arm_file_name(file, sizeof file, rp->variants[v]) != 0) continue;
        snprintf(suffix, sizeof suffix, "%s.png", file);
        int header = 0;
        for (size_t k = 0; k < sizeof ARM_FIGURES / sizeof ARM_FIGURES[0]; k++)
            for (int i = 0; i < count; i++) {
                size_t pl = strlen(ARM_FIGURES[k][0]);
                if (shown[i] || strncmp(names[i], ARM_FIGURES[k][0], pl) ||
                    strcmp(names[i] + pl, suffix))
                    continue;
                if (!header++) fprintf(f, "### %s\n\n", rp->variants[v]);
                fprintf(f, "![%s: %s](figures/%s)\n\n", ARM_FIGURES[k][1], rp->variants[v],
                        names[i]);
                shown[i] = 1;
                n_shown++;
            }
    }
    int others = 0;
    for (int i = 0; i < count; i++) {
        if (shown[i]) continue;
        if (!others++) fprintf(f, "### Other figures\n\n");
        fprintf(f, "![%.*s](figures/%s)\n\n", (int)strlen(names[i]) - 4, names[i], names[i]);
        n_shown++;
    }
    if (!n_shown) fprintf(f, "No figures (gnuplot missing, or --no-plot).\n\n");
    for (int i = 0; i < count; i++) free(names[i]);
    free(names);
    free(shown);
}

#define CELL 512 /* one table cell of a claim */
#define VCELL 96 /* a verdict inside a cell */

/* How many arms of a family were tested (the m of its Holm correction). */
static int family_size(const Report *rp, const Cmp *c) {
    int m = 0;
    for (int v = 0; v < rp->nv; v++) m += rp->ref[v] >= 0 && !c[v].why;
    return m;
}

/* One claim's table and its report.json rows: per arm the runs, the statistic's mean +- std, the
 * paired delta to prenorm [95% CI], raw and Holm p, the MDE at 80% power, the paired/unpaired SD
 * ratio, the extra column (extra_head NULL: none) and the verdict (verdict[v]; the comparison's
 * own when verdict is NULL). */
static void write_table(FILE *f, const Report *rp, int field, int digits, const Cmp *c,
                        const char *extra_head, char (*extra)[CELL], char (*verdict)[CELL]) {
    double *x = rb_calloc((size_t)rp->n + 1, sizeof(double), "claims");
    fprintf(
        f,
        "| arm | runs | value (mean +- std) | delta vs %s [95%% CI] | p | p (Holm) | MDE "
        "(80%%) | paired/unpaired SD |%s%s%s verdict |\n|---|---|---|---|---|---|---|---|%s---|\n",
        rp->ref_name, extra_head ? " " : "", extra_head ? extra_head : "", extra_head ? " |" : "",
        extra_head ? "---|" : "");
    for (int v = 0; v < rp->nv; v++) {
        int k = arm_values(rp, v, field, x);
        double mean = k ? stats_mean(x, k) : NAN, sd = k ? stats_std(x, k) : NAN;
        char delta[CELL], vd[CELL];
        fmt_delta(delta, sizeof delta, &c[v], digits);
        fmt_verdict(vd, sizeof vd, &c[v]);
        const char *shown = rp->ref[v] < 0 ? "(reference)" : verdict ? verdict[v] : vd;
        FILE *j = rp->json;
        fputs(v ? ",{" : "{", j);
        json_key(j, "variant");
        json_str(j, rp->variants[v]);
        fprintf(j, ",\"runs\":%d,\"mean\":", k);
        json_num(j, mean);
        fputs(",\"std\":", j);
        json_num(j, sd);
        if (v != rp->base) {
            fprintf(j, ",\"pairs\":%d,\"delta\":", c[v].v.n);
            json_num(j, c[v].v.mean);
            fputs(",\"ci_low\":", j);
            json_num(j, c[v].v.mean - c[v].v.half_width);
            fputs(",\"ci_high\":", j);
            json_num(j, c[v].v.mean + c[v].v.half_width);
            fputs(",\"p\":", j);
            json_num(j, c[v].v.p);
            fputs(",\"p_holm\":", j);
            json_num(j, c[v].why ? NAN : c[v].v.p_adjusted);
            fputs(",\"mde\":", j);
            json_num(j, c[v].mde);
            fputs(",\"pairing_ratio\":", j);
            json_num(j, c[v].pr.ratio);
            fputs(",\"margin\":", j);
            json_num(j, c[v].v.margin);
            fputs(",\"p_tost\":", j);
            json_num(j, c[v].v.p_tost);
            if (extra_head) {
                fputs(",\"extra\":", j);
                json_str(j, extra[v]);
            }
            fputs(",\"verdict\":", j);
            json_str(j, shown);
        }
        fputc('}', j);
        if (!k) {
            fprintf(f, "| %s | 0 | no data | - | - | - | - | - |%s not tested (no data) |\n",
                    rp->variants[v], extra_head ? " - |" : "");
            continue;
        }
        fprintf(f, "| %s | %d | %.*f +- %.*f | %s | ", rp->variants[v], k, digits, mean, digits, sd,
                rp->ref[v] < 0 ? "(reference)" : delta);
        print_p(f, rp->ref[v] < 0 ? NAN : c[v].v.p);
        fputs(" | ", f);
        print_p(f, rp->ref[v] < 0 || c[v].why ? NAN : c[v].v.p_adjusted);
        if (isnan(c[v].mde))
            fputs(" | - | ", f);
        else
            fprintf(f, " | %.*f | ", digits, c[v].mde);
        if (isnan(c[v].pr.ratio))
            fputs("- |", f);
        else
            fprintf(f, "%.2f |", c[v].pr.ratio);
        if (extra_head) fprintf(f, " %s |", rp->ref[v] < 0 ? "-" : extra[v]);
        fprintf(f, " **%s** |\n", shown);
    }
    fprintf(f,
            "\nHolm family: the %d arm%s tested against %s on this statistic. MDE: the "
            "difference a paired t test on these pairs detects with 80%% power at the observed "
            "paired SD (docs/statistics.md section 6). paired/unpaired SD below 1: pairing by seed "
            "removed variance (section 8).\n\n",
            family_size(rp, c), family_size(rp, c) == 1 ? "" : "s", rp->ref_name);
    if (field == F_LOSS && !isnan(rp->margin))
        fprintf(f,
                "Equivalence margin stated before the runs (experiment.ini `equivalence_margin`): "
                "%g nats; \"equivalent\" when not decided and the two one-sided tests give p < "
                "0.05 (the 90%% interval inside +-%g; docs/statistics.md section 5).\n\n",
                rp->margin, rp->margin);
    free(x);
}

/* Opens a claim in report.md and report.json; the caller writes the table, then claim_close. */
static void claim_open(FILE *f, const Report *rp, const char *title, const char *what) {
    fprintf(f, "### %s\n\n%s\n\n", title, what);
    json_claim_open(rp, title);
}

static void claim_close(const Report *rp) {
    fputs("]}", rp->json);
}

static Cmp *cmp_alloc(const Report *rp) {
    return rb_calloc((size_t)rp->nv + 1, sizeof(Cmp), "claims");
}

/* The decided direction of a comparison (VD_REPRODUCED / VD_OPPOSITE), or -1. */
static int decided(const Cmp *c) {
    return !c->why && (c->v.verdict == VD_REPRODUCED || c->v.verdict == VD_OPPOSITE)
               ? (int)c->v.verdict
               : -1;
}

/* Claim 1 by the rule of docs/statistics.md section 1: (i) the OLS stream slope under every
 * leave-one-out, (ii) Theil-Sen, (iii)/(iv) the per-type input slopes must agree. */
static void write_magnitude(FILE *f, const Report *rp, char (*glance)[CELL]) {
    int L = 0;
    for (int i = 0; i < rp->n; i++)
        if (rp->runs[i].n_sub > L) L = rp->runs[i].n_sub;
    Cmp *prim = cmp_alloc(rp), *ts = cmp_alloc(rp), *ia = cmp_alloc(rp), *im = cmp_alloc(rp),
        *loo = rb_calloc((size_t)(L + 1) * (size_t)(rp->nv + 1), sizeof(Cmp), "claims");
    compare_family(rp, F_SLOPE, -1, NULL, prim);
    compare_family(rp, F_TS, -1, NULL, ts);
    compare_family(rp, F_IN_ATTN, -1, NULL, ia);
    compare_family(rp, F_IN_MLP, -1, NULL, im);
    for (int l = 1; l <= L; l++) compare_family(rp, F_LOO + l, -1, NULL, loo + l * (rp->nv + 1));
    char(*extra)[CELL] = rb_calloc((size_t)rp->nv + 1, CELL, "claims");
    char(*verdict)[CELL] = rb_calloc((size_t)rp->nv + 1, CELL, "claims");
    for (int v = 0; v < rp->nv; v++) {
        double lo = NAN, hi = NAN;
        int flip = 0;
        int dir = decided(&prim[v]);
        for (int l = 1; l <= L; l++) {
            const Cmp *c = &loo[l * (rp->nv + 1) + v];
            if (isnan(lo) || c->v.mean < lo) lo = c->v.mean;
            if (isnan(hi) || c->v.mean > hi) hi = c->v.mean;
            if (dir >= 0 && !flip && decided(c) != dir) flip = l;
        }
        char tsv[VCELL], iav[VCELL], imv[VCELL];
        fmt_verdict(tsv, sizeof tsv, &ts[v]);
        fmt_verdict(iav, sizeof iav, &ia[v]);
        fmt_verdict(imv, sizeof imv, &im[v]);
        snprintf(extra[v], CELL,
                 "[%+.3f, %+.3f]; Theil-Sen %+.3f %s; input attn %+.3f %s, MLP %+.3f %s", lo, hi,
                 ts[v].v.mean, tsv, ia[v].v.mean, iav, im[v].v.mean, imv);
        char disagree[CELL] = "";
        const Cmp *checks[3] = {&ts[v], &ia[v], &im[v]};
        const char *names[3] = {"Theil-Sen", "attention input", "MLP input"};
        for (int k = 0; k < 3; k++)
            if (dir >= 0 && decided(checks[k]) != dir)
                snprintf(disagree + strlen(disagree), CELL - strlen(disagree), "%s%s",
                         disagree[0] ? ", " : "", names[k]);
        if (dir < 0)
            fmt_verdict(verdict[v], CELL, &prim[v]);
        else if (flip)
            snprintf(verdict[v], CELL, "inconclusive (decided by sublayer %d)", flip);
        else if (disagree[0])
            snprintf(verdict[v], CELL, "inconclusive (estimators disagree: %s)", disagree);
        else
            snprintf(verdict[v], CELL, "%s", verdict_kind_name(prim[v].v.verdict));
        snprintf(glance[v], CELL, "%s", verdict[v]);
    }
    claim_open(f, rp, "1. Hidden-state magnitude stays bounded",
               "Growth rate = least-squares slope of log `stream_rms` (the residual state after "
               "each sublayer) against the sublayer index, at the last profile step "
               "(docs/statistics.md section 1). Claimed: smaller than prenorm. The verdict rule: "
               "reproduced (opposite) only when the slope difference is decided in that direction "
               "with every single sublayer left out in turn, and the Theil-Sen slope and the "
               "per-type slopes of `input_rms` (what the attention and the MLP sublayers read) are "
               "decided the same way; otherwise inconclusive, naming the sublayer or the "
               "estimators that disagree. The extra column: the range of the slope difference "
               "over the leave-one-out drops, then the cross-checks (difference and verdict, each "
               "statistic its own Holm family).");
    write_table(f, rp, F_SLOPE, 3, prim, "leave-one-out delta range; cross-checks", extra, verdict);
    claim_close(rp);
    free(prim);
    free(ts);
    free(ia);
    free(im);
    free(loo);
    free(extra);
    free(verdict);
}

/* Claim 2: the gradient CV of section 2 (mean of the per-type CVs), the per-type values beside. */
static void write_gradients(FILE *f, const Report *rp, char (*glance)[CELL]) {
    Cmp *c = cmp_alloc(rp), *ca = cmp_alloc(rp), *cm = cmp_alloc(rp);
    compare_family(rp, F_CV, -1, NULL, c);
    compare_family(rp, F_CV_ATTN, -1, NULL, ca);
    compare_family(rp, F_CV_MLP, -1, NULL, cm);
    char(*extra)[CELL] = rb_calloc((size_t)rp->nv + 1, CELL, "claims");
    for (int v = 0; v < rp->nv; v++) {
        char va[VCELL], vm[VCELL];
        fmt_verdict(va, sizeof va, &ca[v]);
        fmt_verdict(vm, sizeof vm, &cm[v]);
        snprintf(extra[v], CELL, "attn %+.3f %s; MLP %+.3f %s", ca[v].v.mean, va, cm[v].v.mean, vm);
        fmt_verdict(glance[v], CELL, &c[v]);
    }
    claim_open(f, rp, "2. Gradients are more uniform across depth",
               "Coefficient of variation (population SD / mean) of `grad_rms` (the gradient at "
               "each sublayer's input) across the sublayers of one type, averaged over the "
               "profiled batches, then over the two types (attention, MLP), at the last profile "
               "step (docs/statistics.md section 2). Claimed: smaller than prenorm. Per type "
               "beside (each its own Holm family).");
    write_table(f, rp, F_CV, 3, c, "per type: delta, verdict", extra, NULL);
    claim_close(rp);
    free(c);
    free(ca);
    free(cm);
    free(extra);
}

/* The law of a fit.ini (a, b, c): 0, or -1 when absent or incomplete. */
static int read_law(const char *path, PowerLaw *law) {
    char *text = NULL;
    size_t n = 0;
    if (rb_read_file(path, &text, &n) != 0) return -1;
    const char *keys[3] = {"\na = ", "\nb = ", "\nc = "};
    double *dst[3] = {&law->a, &law->b, &law->c};
    int found = 0;
    for (int k = 0; k < 3; k++) {
        const char *p = strstr(text, keys[k]);
        if (p) *dst[k] = strtod(p + strlen(keys[k]), NULL), found++;
    }
    free(text);
    return found == 3 && law->b > 0 && law->a > 0 ? 0 : -1;
}

static double arm_mean(const Report *rp, int v, int field) {
    double *x = rb_calloc((size_t)rp->n + 1, sizeof(double), "claims");
    int k = arm_values(rp, v, field, x);
    double m = k ? stats_mean(x, k) : NAN;
    free(x);
    return m;
}

static double arm_flops(const Report *rp, int v) {
    double sum = 0;
    int k = 0;
    for (int i = 0; i < rp->n; i++)
        if (rp->runs[i].arm == v) sum += rp->runs[i].flops, k++;
    return k ? sum / k : NAN;
}

/* Claim 3: the final loss; what the budget held equal, the FLOPs flag (more than 2% apart) and
 * the FLOP-adjusted reading through a fitted law (docs/statistics.md section 7). */
static void write_loss(FILE *f, const Report *rp, char (*glance)[CELL]) {
    Cmp *c = cmp_alloc(rp);
    compare_family(rp, F_LOSS, -1, NULL, c);
    char(*extra)[CELL] = rb_calloc((size_t)rp->nv + 1, CELL, "claims");
    char law_path[4400];
    PowerLaw law = {0};
    if (rp->law_path)
        rb_copy_str(law_path, sizeof law_path, rp->law_path);
    else if (rb_join(law_path, sizeof law_path, rp->dir, "fit.ini") != 0)
        law_path[0] = 0;
    int have_law = law_path[0] && read_law(law_path, &law) == 0;
    int flops_equal = 0;
    for (int i = 0; i < rp->exp.n; i++)
        if (rp->exp.runs[i].has_cfg && rp->exp.runs[i].cfg.budget_flops > 0) flops_equal = 1;
    double base_flops = rp->base >= 0 ? arm_flops(rp, rp->base) : NAN,
           base_loss = rp->base >= 0 ? arm_mean(rp, rp->base, F_LOSS) : NAN;
    int flagged = 0;
    for (int v = 0; v < rp->nv; v++) {
        fmt_verdict(glance[v], CELL, &c[v]);
        double ratio = arm_flops(rp, v) / base_flops - 1;
        if (v == rp->base || isnan(ratio)) {
            snprintf(extra[v], CELL, "-");
            continue;
        }
        int n = snprintf(extra[v], CELL, "%+.1f%%%s", 100 * ratio,
                         fabs(ratio) > 0.02 ? " **FLOPs differ**" : "");
        if (fabs(ratio) <= 0.02) continue;
        flagged++;
        if (have_law && !c[v].why && !isnan(c[v].v.half_width)) {
            double m = multiplier_from_delta(&law, base_loss, c[v].v.mean, base_flops,
                                             arm_flops(rp, v)),
                   lo = multiplier_from_delta(&law, base_loss, c[v].v.mean + c[v].v.half_width,
                                              base_flops, arm_flops(rp, v)),
                   hi = multiplier_from_delta(&law, base_loss, c[v].v.mean - c[v].v.half_width,
                                              base_flops, arm_flops(rp, v));
            snprintf(extra[v] + n, CELL - (size_t)n, "; FLOP-adjusted %.2fx [%.2f, %.2f]", m, lo,
                     hi);
        }
    }
    char what[1200];
    snprintf(what, sizeof what,
             "Final validation loss. This experiment holds %s equal (%s). Claimed: lower than "
             "prenorm. The extra column: the arm's training FLOPs against prenorm's; more than 2%% "
             "apart is flagged%s.",
             flops_equal ? "training FLOPs" : "training tokens",
             flops_equal ? "`budget_flops`"
                         : "every run the same steps; an arm's own work adds FLOPs",
             have_law ? ", with the FLOP-adjusted reading: the compute multiplier the paired delta "
                        "implies through prenorm's fitted law, charging the arm's extra FLOPs "
                        "(multiplier_from_delta, docs/statistics.md section 7; above 1: the arm "
                        "is worth more than its FLOPs)"
                      : " (no fitted law here, so no FLOP-adjusted reading: `resbench report "
                        "--law FIT_INI`)");
    claim_open(f, rp, "3. Lower loss", what);
    write_table(f, rp, F_LOSS, 4, c, "FLOPs vs prenorm", extra, NULL);
    if (have_law && flagged) fprintf(f, "Law for the FLOP-adjusted reading: `%s`.\n\n", law_path);
    claim_close(rp);
    free(c);
    free(extra);
}

/* Claim 5: the probe at the largest hop count (and at 1 hop for contrast), "not tested" when the
 * baseline's pooled answers sit at floor or ceiling (docs/statistics.md section 4). */
static void write_probe(FILE *f, const Report *rp, int top, char (*glance)[CELL]) {
    for (int which = 0; which < 2; which++) {
        long k = 0, n = 0;
        double chance = 0;
        for (int i = 0; i < rp->n; i++) {
            const RRun *r = &rp->runs[i];
            long rk = which ? r->k_one : r->k_top, rn = which ? r->n_one : r->n_top;
            if (rp->base < 0 || r->arm != rp->base || rn <= 0) continue;
            k += rk;
            n += rn;
            chance = r->chance;
        }
        ProbeRange range = probe_range(k, n, chance, 0.05);
        char why[CELL];
        snprintf(why, sizeof why, "probe %s: prenorm %ld of %ld right, chance %.3f",
                 probe_range_name(range), k, n, chance);
        Cmp *c = cmp_alloc(rp);
        compare_family(rp, which ? F_ACC_ONE : F_ACC_TOP, +1, range == PROBE_TESTED ? NULL : why,
                       c);
        char what[1200];
        snprintf(what, sizeof what,
                 "%s accuracy (eval.csv, answers right / answers counted) at the last evaluation. "
                 "Claimed: higher than prenorm%s. Tested only when prenorm's answers, pooled over "
                 "its seeds, are above chance and leave room for a gain (docs/statistics.md "
                 "section 4): prenorm got %ld of %ld right, chance %.3f: %s.",
                 which ? "1-hop" : "Largest-hop-count",
                 which ? "" : ", the gain largest at the most hops", k, n, chance,
                 probe_range_name(range));
        char title[128];
        snprintf(title, sizeof title,
                 which ? "5b. (1-hop accuracy, for contrast)"
                       : "5. The biggest gains are on multi-step reasoning (%d hops)",
                 top);
        claim_open(f, rp, title, what);
        write_table(f, rp, which ? F_ACC_ONE : F_ACC_TOP, 3, c, NULL, NULL, NULL);
        claim_close(rp);
        if (!which)
            for (int v = 0; v < rp->nv; v++) fmt_verdict(glance[v], CELL, &c[v]);
        free(c);
    }
}

/* The training-health section: every run the rule of docs/statistics.md section 3 did not call
 * plainly trained. */
static void write_health(FILE *f, const Report *rp) {
    int known = 0, shown = 0;
    fprintf(f, "### Training health\n\n");
    for (int i = 0; i < rp->n; i++) {
        const RRun *r = &rp->runs[i];
        known += r->health_known;
        if (!r->health_known || (r->health.cls == HEALTH_TRAINED && !r->health.converged)) continue;
        if (!shown++) fprintf(f, "| run | class | why |\n|---|---|---|\n");
        fprintf(f, "| %s seed %ld | %s%s | %s |\n", r->variant, r->seed, health_name(r->health.cls),
                r->health.converged ? " (converged plateau)" : "", r->health.reason);
    }
    fprintf(f,
            "%s%d of %d runs classified from metrics.csv by the failed-to-train rule "
            "(docs/statistics.md section 3); %s. An arm with a run that failed to train is \"not "
            "tested\" in every claim.\n\n",
            shown ? "\n" : "", known, rp->n,
            shown ? "the table lists those not plainly trained" : "all trained");
}

/* Claim 4 from fit_pooled.csv (resbench fit): the multiplier pooled over the ladder's sizes, the
 * paired-seed t interval of docs/statistics.md section 7 deciding it, the bootstrap beside it. */
static void write_multiplier(FILE *f, const Report *rp, char (*glance)[CELL]) {
    fprintf(f, "### 4. About 1.25x compute-equivalent\n\n");
    CsvTable t;
    int rc = results_csv_in(rp->dir, "fit_pooled.csv", &t);
    if (rc <= 0) {
        fprintf(f,
                "No `fit_pooled.csv` in this directory: the compute multiplier needs prenorm over "
                "a size ladder (`resbench fit DIR... --out %s`, README \"Fit a scaling law\").\n\n",
                rp->dir);
        return;
    }
    int cv = csv_col(&t, "variant"), cs = csv_col(&t, "sizes"), cm = csv_col(&t, "multiplier"),
        cl = csv_col(&t, "multiplier_lo"), ch = csv_col(&t, "multiplier_hi"),
        ct = csv_col(&t, "paired_multiplier"), ctl = csv_col(&t, "paired_lo"),
        cth = csv_col(&t, "paired_hi"), ctn = csv_col(&t, "paired_seeds");
    json_claim_open(rp, "4. About 1.25x compute-equivalent");
    int jrows = 0;
    fprintf(f,
            "From `fit_pooled.csv` (multiplier = prenorm compute needed for the arm's loss / the "
            "arm's compute, geometric mean over the ladder's sizes). The verdict uses the "
            "paired-seed t interval (docs/statistics.md section 7, coverage shown by simulation): "
            "reproduced when it lies above 1, opposite below 1, inconclusive when it contains 1. "
            "The bootstrap interval over seeds is shown for comparison and is not calibrated "
            "(with 3 seeds it covers about 70%%). The paper reports about 1.25 for its block "
            "variant.\n\n"
            "| arm | sizes | multiplier | paired-seed t 95%% (seeds) | verdict | bootstrap 95%% "
            "(uncalibrated) |\n|---|---|---|---|---|---|\n");
    for (size_t r = 0; cv >= 0 && cm >= 0 && r < csv_nrows(&t); r++) {
        const char *v = csv_cell(&t, r, cv);
        if (!strcmp(v, RB_BASELINE)) continue;
        double m = csv_num(&t, r, cm), lo = cl >= 0 ? csv_num(&t, r, cl) : NAN,
               hi = ch >= 0 ? csv_num(&t, r, ch) : NAN, pm = ct >= 0 ? csv_num(&t, r, ct) : NAN,
               plo = ctl >= 0 ? csv_num(&t, r, ctl) : NAN,
               phi = cth >= 0 ? csv_num(&t, r, cth) : NAN;
        const char *verdict = "not tested (no paired interval: re-run `resbench fit`)";
        if (ct >= 0)
            verdict = isnan(plo) || isnan(phi) ? "not tested (fewer than 2 complete seeds)"
                      : plo > 1                ? "reproduced"
                                               : (phi < 1 ? "opposite" : "inconclusive");
        for (int a = 0; a < rp->nv; a++)
            if (!strcmp(rp->variants[a], v)) snprintf(glance[a], CELL, "%s", verdict);
        fprintf(f, "| %s | %s | %.3f | ", v, cs >= 0 ? csv_cell(&t, r, cs) : "", m);
        if (isnan(plo))
            fprintf(f, "- | ");
        else
            fprintf(f, "%.3f [%.3f, %.3f] (%s) | ", pm, plo, phi,
                    ctn >= 0 ? csv_cell(&t, r, ctn) : "?");
        fprintf(f, "**%s** | [%.3f, %.3f] |\n", verdict, lo, hi);
        FILE *j = rp->json;
        fputs(jrows++ ? ",{" : "{", j);
        json_key(j, "variant");
        json_str(j, v);
        fputs(",\"multiplier\":", j);
        json_num(j, m);
        fputs(",\"paired_multiplier\":", j);
        json_num(j, pm);
        fputs(",\"paired_lo\":", j);
        json_num(j, plo);
        fputs(",\"paired_hi\":", j);
        json_num(j, phi);
        fputs(",\"bootstrap_lo\":", j);
        json_num(j, lo);
        fputs(",\"bootstrap_hi\":", j);
        json_num(j, hi);
        fputs(",\"verdict\":", j);
        json_str(j, verdict);
        fputc('}', j);
    }
    fputs("]}", rp->json);
    fprintf(f, "\n");
    csv_table_free(&t);
}

int report_design_sign(const char *arm) {
    Config c;
    config_defaults(&c);
    if (config_set_variant(&c, arm, "report") != 0) return 0;
    const VariantOps *v = c.vt;
    for (int k = 0; k < v->n_options; k++) {
        const VariantOption *o = &v->options[k];
        char value[64];
        config_format_option(&c, o, value, sizeof value);
        if (o->paper_better && !strcmp(value, o->paper_better)) return -1;
    }
    return +1;
}

/* Claim 6: every option arm (NAME:options) against its plain arm NAME when both ran (the paper's
 * Table 4 compares its design choices with Full / Block, not with prenorm), on the final loss,
 * Holm over the option arms, each in the paper's direction for that option (report_design_sign,
 * from the variant's option table). An arm this build's table cannot read has no direction: it
 * is shown as a reference, like an arm without its plain arm. */
static void write_design(FILE *f, Report *rp) {
    int *saved = rp->ref, any = 0;
    const char *saved_name = rp->ref_name;
    rp->ref = rb_calloc((size_t)rp->nv + 1, sizeof(int), "report arms");
    int *sign = rb_calloc((size_t)rp->nv + 1, sizeof(int), "report arms");
    for (int v = 0; v < rp->nv; v++) {
        const char *colon = strchr(rp->variants[v], ':');
        sign[v] = colon ? report_design_sign(rp->variants[v]) : +1;
        rp->ref[v] = -1;
        for (int k = 0; colon && sign[v] && k < rp->nv; k++)
            if (strlen(rp->variants[k]) == (size_t)(colon - rp->variants[v]) &&
                !strncmp(rp->variants[k], rp->variants[v], (size_t)(colon - rp->variants[v])))
                rp->ref[v] = k;
        any += rp->ref[v] >= 0;
    }
    if (any) {
        Cmp *c = cmp_alloc(rp);
        rp->ref_name = "its plain arm";
        rp->arm_sign = sign;
        compare_family(rp, F_LOSS, +1, NULL, c);
        rp->arm_sign = NULL;
        claim_open(
            f, rp, "6. The design choices (each option against its plain arm)",
            "Final validation loss of every option arm (NAME:options) paired by seed with "
            "its plain arm NAME, as the paper's Table 4 compares its design choices with "
            "Full and Block. The direction called reproduced is the paper's for each option, "
            "as the variant's option table declares it: an option value the paper reports "
            "better than its chosen design (the input-dependent query, query=input, better "
            "than Full) has a lower loss; every other option is worse than or equal to the "
            "paper's chosen design (higher loss). Rows without a plain arm, or whose options "
            "this build does not know, are shown as references.");
        write_table(f, rp, F_LOSS, 4, c, NULL, NULL, NULL);
        claim_close(rp);
        free(c);
    }
    free(rp->ref);
    free(sign);
    rp->ref = saved;
    rp->ref_name = saved_name;
}

static void write_claims(FILE *f, Report *rp) {
    size_t nv = (size_t)rp->nv + 1;
    char(*vg)[CELL] = rb_calloc(nv, CELL, "claims"), (*vc)[CELL] = rb_calloc(nv, CELL, "claims"),
    (*vl)[CELL] = rb_calloc(nv, CELL, "claims"), (*vm)[CELL] = rb_calloc(nv, CELL, "claims"),
    (*va)[CELL] = rb_calloc(nv, CELL, "claims");
    fprintf(f,
            "## Claims\n\nEach claim compares every arm with prenorm run by run: the runs of one "
            "seed share the data order and the initial core weights, so the statistic is the mean "
            "of the per-seed differences (arm minus prenorm) with a Student t 95%% interval on "
            "pairs-1 degrees of freedom. Verdicts (docs/statistics.md section 5): **reproduced** "
            "when the difference is decided (Holm-adjusted p < 0.05 over the family named under "
            "the table) in the paper's direction, **opposite** when decided against it, "
            "**inconclusive** when not decided (the MDE says what these seeds could have "
            "detected), **not tested** when an arm failed to train, a probe sits at floor or "
            "ceiling, or there are fewer than 2 pairs. **equivalent** (the loss only) when not "
            "decided and a two one-sided test shows the difference inside the equivalence margin "
            "experiment.ini stated before the runs (`equivalence_margin`); %s. The paper's claims "
            "are about its "
            "Attention Residuals arms; the others are shown for comparison.\n\n",
            isnan(rp->margin) ? "this experiment states none, so no verdict is \"equivalent\""
                              : "this experiment states one (under the loss tables)");
    write_health(f, rp);
    write_magnitude(f, rp, vg);
    write_gradients(f, rp, vc);
    write_loss(f, rp, vl);
    for (size_t v = 0; v < nv; v++) snprintf(vm[v], CELL, "no fit");
    write_multiplier(f, rp, vm);
    int top = 0;
    for (int i = 0; i < rp->n; i++)
        if (rp->runs[i].n_top > 0) top = rp->runs[i].top_hops;
    for (size_t v = 0; v < nv; v++) snprintf(va[v], CELL, "no data");
    if (top)
        write_probe(f, rp, top, va);
    else
        fprintf(f, "### 5. The biggest gains are on multi-step reasoning\n\nNo synth:compose or "
                   "synth:hops runs in this experiment (their runs write the probe to "
                   "eval.csv).\n\n");
    write_design(f, rp);
    fprintf(f, "### At a glance\n\n| arm | magnitude bounded | gradients uniform | lower loss | "
               "compute multiplier | multi-hop accuracy |\n|---|---|---|---|---|---|\n");
    for (int v = 0; v < rp->nv; v++) {
        if (v == rp->base) continue;
        fprintf(f, "| %s | %s | %s | %s | %s | %s |\n", rp->variants[v], vg[v], vc[v], vl[v], vm[v],
                va[v]);
    }
    fprintf(f, "\n");
    free(vg);
    free(vc);
    free(vl);
    free(vm);
    free(va);
}

int report_write_law(const char *dir, int plot, const char *law) {
    Report rp = {.dir = dir, .law_path = law, .ref_name = RB_BASELINE};
    if (law) {
        PowerLaw check;
        if (read_law(law, &check) != 0)
            return rb_fail("report: --law %s: not a fit.ini with a, b > 0 and c (`resbench fit "
                           "--out`)",
                           law);
    }
    if (load_report(&rp) != 0) {
        free(rp.failed);
        free(rp.ref);
        free(rp.runs);
        results_free(&rp.exp);
        return -1;
    }
    if (plot) {
        fflush(stdout);
        if (plot_dirs(&dir, 1, NULL) != RB_EXIT_OK)
            fprintf(stderr, "report: figures not drawn: %s\n", rb_error());
    }
    char *buf = NULL, *jbuf = NULL;
    size_t len = 0, jlen = 0;
    int json_claims = 0;
    FILE *f = open_memstream(&buf, &len);
    rp.json = open_memstream(&jbuf, &jlen);
    rp.json_claims = &json_claims;
    if (!f || !rp.json) return rb_fail("report: out of memory");
    char when[64];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    const char *name = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
    fprintf(f,
            "# resbench report: %s\n\n%d runs of %d variants, written %s by resbench %s "
            "(`resbench report %s`).\n\n## Budget and data order\n\n",
            name, rp.n, rp.nv, when, rb_git_rev(), dir);
    int unfair = check_budgets(f, &rp);
    fputc('{', rp.json);
    json_key(rp.json, "experiment");
    json_str(rp.json, dir);
    fprintf(rp.json, ",\"runs\":%d,\"variants\":%d,\"budgets_identical\":%s,", rp.n, rp.nv,
            unfair ? "false" : "true");
    json_builds(rp.json, &rp.exp);
    fputc(',', rp.json);
    json_routing(&rp);
    fputs("\"claims\":[", rp.json);
    fprintf(f, "\n");
    write_config(f, &rp);
    write_ablation(f, &rp);
    write_figures(f, &rp);
    write_routing(f, &rp);
    write_claims(f, &rp);
    fputs("\n]}\n", rp.json);
    fclose(f);
    fclose(rp.json);
    char path[4400];
    int rc = rb_join(path, sizeof path, dir, "report.md");
    if (rc == 0) rc = rb_write_file_atomic(path, buf, len);
    if (rc == 0) rc = rb_join(path, sizeof path, dir, "report.json");
    if (rc == 0) rc = rb_write_file_atomic(path, jbuf, jlen);
    char *hbuf = NULL;
    size_t hlen = 0;
    FILE *h = open_memstream(&hbuf, &hlen);
    if (h) {
        report_md_to_html(h, buf, dir);
        fclose(h);
    }
    if (rc == 0) rc = rb_join(path, sizeof path, dir, "report.html");
    if (rc == 0) rc = h ? rb_write_file_atomic(path, hbuf, hlen) : rb_fail("report: out of memory");
    free(hbuf);
    free(jbuf);
    free(buf);
    free(rp.failed);
    free(rp.ref);
    free(rp.runs);
    results_free(&rp.exp);
    if (rc == 0 && unfair)
        fprintf(stderr,
                "report: WARNING: the runs in %s did not have identical budgets and data "
                "order (see report.md)\n",
                dir);
    return rc;
}

int report_write(const char *dir, int plot) {
    return report_write_law(dir, plot, NULL);
}
