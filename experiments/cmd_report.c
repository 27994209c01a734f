/* `resbench report RESULTS_DIR`: report.md for an experiment (an ablation's directory): the
 * resolved configs, a check that every run had the same budget and data order, the ablation table,
 * the figures, and the paper's claims, each with a verdict computed from the CSVs. */
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
#include "report_html.h"
#include "runs.h"
#include "results.h"
#include "stats.h"
#include "util.h"

/* One run's measurements, from the experiment (results.c) and its run files. */
typedef struct {
    char variant[RB_ARM_MAX], dir[4200]; /* variant: the run's arm */
    long seed;
    double val_loss, tokens, growth, grad_cv, acc_top, acc_one;
    int top_hops;
    uint64_t pair_key; /* results_pair_key (0: no config) */
} RRun;

typedef struct {
    const char *dir;
    ExpResults exp; /* every run of summary.csv with its config */
    RRun *runs;     /* the successful ones */
    int n, nv;
    char (*variants)[RB_ARM_MAX]; /* the arms: exp.variants */
    FILE *json;                   /* report.json, written alongside the markdown */
    int *json_claims;             /* claims written so far (for the separators) */
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

static void report_help(void) {
    printf(
        "usage: resbench report [--no-plot] RESULTS_DIR\n\n"
        "Writes RESULTS_DIR/report.md (figures in RESULTS_DIR/figures/, linked relatively) for\n"
        "an experiment directory written by `resbench ablate` (summary.csv,\n"
        "experiment.ini and one directory per run; report.json and report.html alongside):\n"
        "  - the resolved base config and what differs between runs;\n"
        "  - a check that all runs had identical budgets and data order (a loud warning if not);\n"
        "  - the ablation table, one row per arm (mean +- std, paired delta vs prenorm with\n"
        "    a 95%% CI), and which builds (meta.ini git_rev) made the runs, flagging pairs\n"
        "    (same seed, two arms) made by different builds;\n"
        "  - every figure in RESULTS_DIR/figures (drawn with `resbench plot` unless\n"
        "    --no-plot), the experiment's first, then each arm's;\n"
        "  - the claims, each with a verdict per variant: reproduced, not reproduced, or\n"
        "    within seed noise (the 95%% CI of the difference to prenorm contains 0):\n"
        "    magnitude growth (last / first sublayer output RMS), gradient uniformity\n"
        "    (coefficient of variation of per-sublayer gradient norms), loss delta, compute\n"
        "    multiplier (when RESULTS_DIR/fit_pooled.csv exists: `resbench fit --out`), and "
        "answer\n"
        "    accuracy at the largest hop count (synth:hops runs).\n");
}

/* One run's measurements from its directory (profiles, probe). */
static int load_run_dir(const ExpRun *a, RRun *r) {
    rb_copy_str(r->variant, sizeof r->variant, exp_arm(a));
    rb_copy_str(r->dir, sizeof r->dir, a->r.run_dir);
    r->seed = a->cfg.seed;
    r->val_loss = a->r.final_val_loss;
    r->tokens = a->r.tokens;
    r->pair_key = results_pair_key(a);
    r->growth = r->grad_cv = r->acc_top = r->acc_one = NAN;
    CsvTable t;
    int rc = results_csv_in(r->dir, "profile.csv", &t);
    if (rc < 0) return -1;
    if (rc) {
        r->growth = profile_growth(&t);
        r->grad_cv = profile_grad_cv(&t);
        csv_table_free(&t);
    }
    if ((rc = results_csv_in(r->dir, "eval.csv", &t)) < 0) return -1;
    if (rc) {
        r->acc_top = eval_accuracy(&t, 0, &r->top_hops);
        r->acc_one = eval_accuracy(&t, 1, NULL);
        csv_table_free(&t);
    }
    return 0;
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
    return rp->n ? 0 : rb_fail("report: %s/summary.csv lists no successful run", rp->dir);
}

/* Per-seed values of one measurement for one variant, with their pairing keys. */
static int samples(const Report *rp, const char *v, size_t field, Sample *out) {
    int k = 0;
    for (int i = 0; i < rp->n; i++) {
        double x;
        memcpy(&x, (const char *)&rp->runs[i] + field, sizeof x); /* field: a double member */
        if (!strcmp(rp->runs[i].variant, v) && !isnan(x))
            out[k++] = (Sample){x, rp->runs[i].pair_key};
    }
    return k;
}

static double sample_mean(const Sample *s, int n) {
    double *x = rb_calloc((size_t)n + 1, sizeof(double), "samples"), m;
    for (int i = 0; i < n; i++) x[i] = s[i].value;
    m = stats_mean(x, n);
    free(x);
    return m;
}

static double sample_std(const Sample *s, int n) {
    double *x = rb_calloc((size_t)n + 1, sizeof(double), "samples"), sd;
    for (int i = 0; i < n; i++) x[i] = s[i].value;
    sd = stats_std(x, n);
    free(x);
    return sd;
}

/* Every variant against prenorm on one measurement, Holm-corrected over the family; c[v] for
 * prenorm itself and variants without data stay VERDICT_FEW_SEEDS. */
static void compare_all(const Report *rp, size_t field, int better_lower, Comparison *c) {
    Sample *pre = rb_calloc((size_t)rp->n + 1, sizeof(Sample), "samples"),
           *x = rb_calloc((size_t)rp->n + 1, sizeof(Sample), "samples");
    int np = samples(rp, RB_BASELINE, field, pre);
    Comparison *fam = rb_calloc((size_t)rp->nv + 1, sizeof(Comparison), "claims");
    int *idx = rb_calloc((size_t)rp->nv + 1, sizeof(int), "claims"), m = 0;
    for (int v = 0; v < rp->nv; v++) {
        c[v] = (Comparison){VERDICT_FEW_SEEDS, VERDICT_FEW_SEEDS, 0, 0, NAN, NAN, NAN, NAN};
        int k = samples(rp, rp->variants[v], field, x);
        if (!strcmp(rp->variants[v], RB_BASELINE) || !k || !np) continue;
        c[v] = claim_compare(x, k, pre, np, better_lower);
        fam[m] = c[v];
        idx[m++] = v;
    }
    claim_holm(fam, m, better_lower);
    for (int i = 0; i < m; i++) c[idx[i]] = fam[i];
    free(pre);
    free(x);
    free(fam);
    free(idx);
}

static void print_interval(FILE *f, const Comparison *c, int digits) {
    char text[160];
    results_fmt_interval(text, sizeof text, c, digits);
    fputs(text, f);
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
                                         {"fit", "Scaling fit and compute multipliers"}};
static const char *const ARM_FIGURES[][2] = {{"depth_", "Depth-mixing weights"},
                                             {"sweep_", "Validation loss over the shape grid"}};

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

/* One row of a claim in report.json; q NULL for prenorm and for variants without data. */
static void json_claim_row(const Report *rp, int first, const char *variant, int k, double mean,
                           double std, const Comparison *q) {
    FILE *j = rp->json;
    fputs(first ? "{" : ",{", j);
    json_key(j, "variant");
    json_str(j, variant);
    fprintf(j, ",\"runs\":%d,\"mean\":", k);
    json_num(j, mean);
    fputs(",\"std\":", j);
    json_num(j, std);
    if (q) {
        fputs(",\"delta\":", j);
        json_num(j, q->delta);
        fputs(",\"ci_low\":", j);
        json_num(j, q->delta - q->half_width);
        fputs(",\"ci_high\":", j);
        json_num(j, q->delta + q->half_width);
        fprintf(j, ",\"paired\":%s,\"n\":%d,\"p\":", q->paired ? "true" : "false", q->n);
        json_num(j, q->p);
        fputs(",\"p_holm\":", j);
        json_num(j, q->p_holm);
        fputs(",\"verdict\":", j);
        json_str(j, verdict_name(q->verdict));
        fputs(",\"verdict_holm\":", j);
        json_str(j, verdict_name(q->verdict_holm));
    }
    fputc('}', j);
}

/* One claim: per variant the per-seed statistic, its mean +- std, the paired comparison to
 * prenorm, the raw and the Holm-corrected verdicts, into report.md and report.json.
 * verdicts[v] receives the corrected verdict. */
static void write_claim(FILE *f, const Report *rp, const char *title, const char *what,
                        size_t field, int better_lower, int diff_digits, Verdict *verdicts) {
    Comparison *c = rb_calloc((size_t)rp->nv + 1, sizeof(Comparison), "claims");
    Sample *x = rb_calloc((size_t)rp->n + 1, sizeof(Sample), "samples");
    compare_all(rp, field, better_lower, c);
    json_claim_open(rp, title);
    fprintf(f,
            "### %s\n\n%s\n\n| variant | runs | value (mean +- std) | delta vs prenorm [95%% "
            "CI] | p | verdict (raw) | verdict (Holm) |\n|---|---|---|---|---|---|---|\n",
            title, what);
    for (int v = 0; v < rp->nv; v++) {
        const char *name = rp->variants[v];
        int k = samples(rp, name, field, x), reference = !strcmp(name, RB_BASELINE);
        double mean = k ? sample_mean(x, k) : NAN, sd = k ? sample_std(x, k) : NAN;
        json_claim_row(rp, v == 0, name, k, mean, sd, reference || !k ? NULL : &c[v]);
        verdicts[v] = c[v].verdict_holm;
        if (!k) {
            fprintf(f, "| %s | 0 | no data | - | - | - | - |\n", name);
            continue;
        }
        fprintf(f, "| %s | %d | %.*f +- %.*f | ", name, k, diff_digits, mean, diff_digits, sd);
        if (reference) {
            fprintf(f, "(reference) | - | - | - |\n");
            continue;
        }
        print_interval(f, &c[v], diff_digits);
        fprintf(f, " | ");
        print_p(f, c[v].p);
        fprintf(f, " | %s | **%s** |\n", verdict_name(c[v].verdict),
                verdict_name(c[v].verdict_holm));
    }
    fputs("]}", rp->json);
    fprintf(f, "\n");
    free(c);
    free(x);
}

/* Claim 4 from fit_pooled.csv (resbench fit): the multiplier pooled over the ladder's sizes with
 * its bootstrap interval over seeds, at equal compute and at equal wall time. */
static void write_multiplier(FILE *f, const Report *rp) {
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
        cw = csv_col(&t, "wall_multiplier"), cwl = csv_col(&t, "wall_multiplier_lo"),
        cwh = csv_col(&t, "wall_multiplier_hi");
    json_claim_open(rp, "4. About 1.25x compute-equivalent");
    int jrows = 0;
    char ini[4400], *law = NULL;
    size_t law_len;
    if (rb_join(ini, sizeof ini, rp->dir, "fit.ini") == 0 &&
        rb_read_file(ini, &law, &law_len) == 0) {
        const char *e = strstr(law, "\nexperiments =");
        if (e) {
            const char *end = strchr(e + 1, '\n');
            fprintf(f, "The law was fitted over the experiments:%.*s (`fit.ini`).\n\n",
                    end ? (int)(end - e - 14) : 0, e + 14);
        }
        free(law);
    }
    fprintf(f,
            "From `fit_pooled.csv` (multiplier = prenorm compute needed for the variant's loss / "
            "the variant's compute, geometric mean over the ladder's sizes, 95%% bootstrap "
            "interval over seeds; wall-clock = multiplier x the variant's FLOP rate / "
            "prenorm's). Reproduced when the interval lies above 1; the paper reports about "
            "1.25 for its block variant.\n\n"
            "| variant | sizes | multiplier [95%%] | verdict | wall-clock multiplier [95%%] "
            "|\n|---|---|---|---|---|\n");
    for (size_t r = 0; cv >= 0 && cm >= 0 && cl >= 0 && ch >= 0 && r < csv_nrows(&t); r++) {
        const char *v = csv_cell(&t, r, cv);
        if (!strcmp(v, RB_BASELINE)) continue;
        double m = csv_num(&t, r, cm), lo = csv_num(&t, r, cl), hi = csv_num(&t, r, ch);
        const char *verdict = "undecided (needs 2+ seeds)";
        if (isfinite(lo) && !isnan(hi))
            verdict = lo > 1 ? "reproduced" : (hi < 1 ? "not reproduced" : "within seed noise");
        fprintf(f, "| %s | %s | %.3f [%.3f, %.3f] | %s | ", v, cs >= 0 ? csv_cell(&t, r, cs) : "",
                m, lo, hi, verdict);
        FILE *j = rp->json;
        fputs(jrows++ ? ",{" : "{", j);
        json_key(j, "variant");
        json_str(j, v);
        fputs(",\"multiplier\":", j);
        json_num(j, m);
        fputs(",\"ci_low\":", j);
        json_num(j, lo);
        fputs(",\"ci_high\":", j);
        json_num(j, hi);
        fputs(",\"wall_multiplier\":", j);
        json_num(j, cw >= 0 ? csv_num(&t, r, cw) : NAN);
        fputs(",\"verdict\":", j);
        json_str(j, verdict);
        fputc('}', j);
        if (cw >= 0 && cwl >= 0 && cwh >= 0 && !isnan(csv_num(&t, r, cw)))
            fprintf(f, "%.3f [%.3f, %.3f] |\n", csv_num(&t, r, cw), csv_num(&t, r, cwl),
                    csv_num(&t, r, cwh));
        else
            fprintf(f, "n/a |\n");
    }
    fputs("]}", rp->json);
    fprintf(f, "\n");
    csv_table_free(&t);
}

static void write_claims(FILE *f, const Report *rp) {
    size_t nv = (size_t)rp->nv + 1;
    Verdict *vg = rb_calloc(nv, sizeof(Verdict), "claims"),
            *vc = rb_calloc(nv, sizeof(Verdict), "claims"),
            *vl = rb_calloc(nv, sizeof(Verdict), "claims"),
            *va = rb_calloc(nv, sizeof(Verdict), "claims");
    fprintf(f, "## Claims\n\nEach claim compares every variant with prenorm run by run: the runs "
               "of one seed share the data order and the initial core weights, so the statistic "
               "is the mean of the per-seed differences (variant minus prenorm) with a Student t "
               "95%% interval on pairs-1 degrees of freedom (Welch's interval, labelled, when runs "
               "cannot be paired). Raw verdict: **reproduced** when the interval lies on the "
               "claimed side of 0, **not reproduced** when it lies on the other, **within seed "
               "noise** when it contains 0. Because several variants are tested against one "
               "baseline, the verdict that counts is Holm's: the same decision on Holm-adjusted "
               "p-values at family-wise level 0.05 over the variants of each claim. The paper's "
               "claims are about its Attention Residuals variants; the others are shown for "
               "comparison. Each arm (a variant spec) is one row.\n\n");
    write_claim(
        f, rp, "1. Hidden-state magnitude stays bounded",
        "Growth = output RMS of the last sublayer / output RMS of the first, at the last "
        "profile step (profile.csv, fixed validation batch). Claimed: smaller than prenorm.",
        offsetof(RRun, growth), 1, 2, vg);
    write_claim(
        f, rp, "2. Gradients are more uniform across depth",
        "Coefficient of variation (std / mean) of the per-sublayer parameter-gradient norms "
        "at the last profile step. Claimed: smaller than prenorm.",
        offsetof(RRun, grad_cv), 1, 3, vc);
    write_claim(f, rp, "3. Lower loss at equal compute",
                "Final validation loss (every run had the same tokens; the variants' own work adds "
                "the FLOPs in the ablation table). Claimed: lower than prenorm.",
                offsetof(RRun, val_loss), 1, 4, vl);
    write_multiplier(f, rp);
    int top = 0;
    for (int i = 0; i < rp->n; i++)
        if (!isnan(rp->runs[i].acc_top)) top = rp->runs[i].top_hops;
    if (top) {
        char what[512];
        snprintf(what, sizeof what,
                 "Answer accuracy at the largest hop count (%d hops) at the last evaluation "
                 "(eval.csv, synth:compose or synth:hops). Claimed: higher than prenorm, the gain "
                 "largest at the "
                 "most hops. For contrast, 1-hop accuracy:",
                 top);
        write_claim(f, rp, "5. The biggest gains are on multi-step reasoning", what,
                    offsetof(RRun, acc_top), 0, 3, va);
        Verdict *tmp = rb_calloc(nv, sizeof(Verdict), "claims");
        write_claim(f, rp, "5b. (1-hop accuracy, for contrast)", "Accuracy on 1-hop queries.",
                    offsetof(RRun, acc_one), 0, 3, tmp);
        free(tmp);
    } else {
        fprintf(f, "### 5. The biggest gains are on multi-step reasoning\n\nNo synth:compose or "
                   "synth:hops runs in this experiment (their runs write the probe to "
                   "eval.csv).\n\n");
    }
    fprintf(f, "### At a glance\n\n| variant | magnitude bounded | gradients uniform | lower loss "
               "| multi-hop accuracy |\n|---|---|---|---|---|\n");
    for (int v = 0; v < rp->nv; v++) {
        if (!strcmp(rp->variants[v], RB_BASELINE)) continue;
        fprintf(f, "| %s | %s | %s | %s | %s |\n", rp->variants[v], verdict_name(vg[v]),
                verdict_name(vc[v]), verdict_name(vl[v]), top ? verdict_name(va[v]) : "no data");
    }
    fprintf(f, "\n");
    free(vg);
    free(vc);
    free(vl);
    free(va);
}

int report_write(const char *dir, int plot) {
    Report rp = {.dir = dir};
    if (load_report(&rp) != 0) {
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
    fputs(",\"claims\":[", rp.json);
    fprintf(f, "\n");
    write_config(f, &rp);
    write_ablation(f, &rp);
    write_figures(f, &rp);
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
    free(rp.runs);
    results_free(&rp.exp);
    if (rc == 0 && unfair)
        fprintf(stderr,
                "report: WARNING: the runs in %s did not have identical budgets and data "
                "order (see report.md)\n",
                dir);
    return rc;
}

int cmd_report(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        report_help();
        return RB_EXIT_OK;
    }
    static const char *const opts[] = {"--no-plot", NULL};
    const char *vals[1] = {NULL}, *dirs[1] = {NULL};
    if (cli_positional(argc, argv, opts, vals, dirs, 1, 1, "RESULTS_DIR") < 0)
        rb_die(RB_EXIT_USAGE, "report: %s", rb_error());
    const char *dir = dirs[0];
    int plot = vals[0] == NULL;
    if (report_write(dir, plot) != 0) rb_die(RB_EXIT_USAGE, "%s", rb_error());
    printf("report: %s/report.md (and report.json, report.html)\n", dir);
    return RB_EXIT_OK;
}
