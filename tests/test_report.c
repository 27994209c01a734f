/* `resbench report`: the verdict logic on known answers (a clear win, a clear loss, a tie within
 * seed noise), the claims of a synthetic experiment whose CSVs are written here, the budget check,
 * and the report of a real tiny ablation on synth:hops (every section, every figure link). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <ctype.h>
#include <stdlib.h>

#include "claims.h"
#include "membw.h"
#include "registry.h"
#include "report.h"
#include "runs.h"
#include "testutil.h"

/* Samples keyed by seed 1..n (key 0 = unpairable). */
static int keyed(const double *v, int n, int pairable, Sample *out) {
    for (int i = 0; i < n; i++) out[i] = (Sample){v[i], pairable ? (uint64_t)(i + 1) : 0};
    return n;
}

START_TEST(test_verdicts) {
    double pre[] = {2.00, 2.02, 1.98}, win[] = {1.50, 1.52, 1.48}, loss[] = {2.50, 2.52, 2.48};
    double tie[] = {1.90, 2.10, 2.00}, one[] = {1.0};
    Sample P[3], W[3], L[3], T[3], O[1];
    keyed(pre, 3, 1, P);
    keyed(win, 3, 1, W);
    keyed(loss, 3, 1, L);
    keyed(tie, 3, 1, T);
    keyed(one, 1, 1, O);
    ck_assert_int_eq(claim_compare(W, 3, P, 3, 1).verdict, VD_REPRODUCED);
    ck_assert_int_eq(claim_compare(L, 3, P, 3, 1).verdict, VD_OPPOSITE);
    ck_assert_int_eq(claim_compare(T, 3, P, 3, 1).verdict, VD_INCONCLUSIVE);
    ck_assert_int_eq(claim_compare(O, 1, P, 3, 1).verdict, VD_NOT_TESTED);
    /* higher is better (accuracy): the same samples flip */
    ck_assert_int_eq(claim_compare(W, 3, P, 3, 0).verdict, VD_OPPOSITE);
    ck_assert_int_eq(claim_compare(L, 3, P, 3, 0).verdict, VD_REPRODUCED);
    Comparison c = claim_compare(W, 3, P, 3, 1);
    ck_assert(c.paired && c.n == 3);
    ck_assert_double_eq_tol(c.delta, -0.5, 1e-12);
    ck_assert(c.half_width == 0); /* every pair differs by exactly 0.5 */
    /* pairing uses the design: a small shift that follows prenorm seed by seed is decided when
     * paired and lost in seed noise when the same numbers are treated as independent */
    double shift[] = {1.990, 2.019, 1.966}, base[] = {2.000, 2.030, 1.975};
    Sample S[3], B[3], Su[3], Bu[3];
    keyed(shift, 3, 1, S);
    keyed(base, 3, 1, B);
    keyed(shift, 3, 0, Su);
    keyed(base, 3, 0, Bu);
    Comparison paired = claim_compare(S, 3, B, 3, 1), welch = claim_compare(Su, 3, Bu, 3, 1);
    ck_assert(paired.paired && !welch.paired);
    ck_assert_int_eq(paired.verdict, VD_REPRODUCED);
    ck_assert_int_eq(welch.verdict, VD_INCONCLUSIVE);
    /* Holm over a family: p = 0.01 and 0.04 raw; adjusted 0.02 and 0.04 */
    Comparison fam[3] = {{.p = 0.01, .delta = -1}, {.p = 0.04, .delta = 1}, {.p = NAN}};
    claim_holm(fam, 3, 1);
    ck_assert_double_eq_tol(fam[0].p_holm, 0.02, 1e-12);
    ck_assert_double_eq_tol(fam[1].p_holm, 0.04, 1e-12);
    ck_assert_int_eq(fam[0].verdict_holm, VD_REPRODUCED);
    ck_assert_int_eq(fam[1].verdict_holm, VD_OPPOSITE);
    ck_assert_int_eq(fam[2].verdict_holm, VD_NOT_TESTED);
    Comparison fam2[2] = {{.p = 0.03, .delta = -1}, {.p = 0.04, .delta = -1}};
    claim_holm(fam2, 2, 1); /* 0.06 and 0.06: neither survives the correction */
    ck_assert_int_eq(fam2[0].verdict_holm, VD_INCONCLUSIVE);
    ck_assert_int_eq(fam2[1].verdict_holm, VD_INCONCLUSIVE);
}
END_TEST

static void put(const char *dir, const char *name, const char *text) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    ck_assert(tu_write(p, text, strlen(text)) == 0);
}

/* One run: config.ini; metrics.csv (a falling loss, or a NaN when `broken`); profile.csv of 4
 * blocks (8 sublayers) whose stream_rms and input_rms grow as exp(rate * sublayer) and whose
 * grad_rms per type is {1, 1 + c, 1 - c, 1} (CV c / sqrt(2)); eval.csv with 1- and 4-hop
 * accuracies over 100 answers each. */
static void fake_run(const char *xdir, const char *v, int seed, double rate, double c, double acc1,
                     double acc4, int data_seed, int broken) {
    char dir[1024], text[8192], id[256];
    snprintf(id, sizeof id, "%s", v); /* the run directory of an arm (docs/formats.md) */
    for (char *p = id; *p; p++) *p = *p == ':' || *p == ',' ? '-' : (*p == '=' ? '_' : *p);
    snprintf(dir, sizeof dir, "%s/%s-s%d", xdir, id, seed);
    mkdir(dir, 0755);
    Config cfg;
    config_defaults(&cfg);
    tu_set(&cfg, "variant", v);
    cfg.seed = seed;
    cfg.data_seed = data_seed;
    cfg.n_layer = 4;
    cfg.steps = 100;
    snprintf(cfg.data, sizeof cfg.data, "synth:hops");
    put(dir, "config.ini", tu_keep(config_to_ini(&cfg)));
    int n = snprintf(text, sizeof text,
                     "step,tokens,flops,wall_s,lr,train_loss,val_loss,grad_norm,tok_per_s\n");
    for (int i = 1; i <= 10; i++)
        n += snprintf(text + n, sizeof text - n, "%d,0,0,0,0.001,%s,,0.5,1\n", 10 * i,
                      broken && i == 6 ? "nan" : (i < 6 ? "5" : "2"));
    put(dir, "metrics.csv", text);
    double g[4] = {1, 1 + c, 1 - c, 1};
    n = snprintf(text, sizeof text,
                 "step,layer,kind,input_rms,output_rms,stream_rms,grad_rms,param_grad_norm\n");
    for (int l = 1; l <= 8; l++)
        n += snprintf(text + n, sizeof text - n, "100,%d,%s,%.17g,1,%.17g,%g,1\n", l,
                      l % 2 ? "attn" : "mlp", exp(rate * l), exp(rate * l), g[(l - 1) / 2]);
    snprintf(text + n, sizeof text - n, "100,9,out,1,1,1,1,1\n");
    put(dir, "profile.csv", text);
    snprintf(text, sizeof text,
             "step,task,hops,accuracy,n\n50,hops,4,0.01,100\n100,hops,1,%g,100\n"
             "100,hops,4,%g,100\n",
             acc1, acc4);
    put(dir, "eval.csv", text);
}

/* attnres_full wins every claim, attnres_block loses every one (and uses 10% more FLOPs),
 * denseformer's seeds scatter (inconclusive), hc failed to train (a NaN loss in seed 2); prenorm's
 * 1-hop accuracy is 1.0 (the 1-hop probe at ceiling). */
static char *fake_experiment(int unfair) {
    char *exp = tu_tempdir(), text[8192];
    int n = snprintf(text, sizeof text,
                     "variant,seed,n_layer,d_model,n_head,seq_len,batch_size,params,tokens,flops,"
                     "final_val_loss,best_val_loss,tok_per_s,wall_s,overhead_pct,status\n");
    const char *vs[] = {"prenorm", "attnres_full", "attnres_block", "denseformer", "hc"};
    double loss[5] = {2.0, 1.5, 2.5, 2.0, 1.5}, rate[5] = {0.3, 0.05, 0.5, 0.3, 0.05},
           cv[5] = {0.5, 0.1, 0.9, 0.5, 0.1}, acc[5] = {0.3, 0.6, 0.1, 0.3, 0.6};
    for (int s = 1; s <= 3; s++)
        for (int v = 0; v < 5; v++) {
            /* a seed effect shared by every arm, a small arm-specific one (so no difference is
             * exactly constant), and denseformer's wide scatter */
            double j = 0.01 * (s - 2), own = v ? 0.002 * s * s : 0, spread = v == 3 ? 20 * j : j;
            n += snprintf(text + n, sizeof text - n,
                          "%s,%d,4,96,3,64,16,1000,102400,%s,%g,%g,1000,10,0,ok\n", vs[v], s,
                          v == 2 ? "1.1e12" : "1e12", loss[v] + spread + own,
                          loss[v] + spread + own);
            fake_run(exp, vs[v], s, rate[v] + spread + own, cv[v] + spread + own, v ? 0.9 : 1.0,
                     acc[v] + spread + own, unfair && v == 1 && s == 2 ? 7 : 1, v == 4 && s == 2);
        }
    put(exp, "summary.csv", text);
    put(exp, "experiment.ini", "# resbench resolved config\nsteps = 100\n");
    return exp;
}

static const char *glance_row(const char *report, const char *variant) {
    const char *g = strstr(report, "### At a glance");
    ck_assert(g);
    char key[64];
    snprintf(key, sizeof key, "\n| %s |", variant);
    const char *r = strstr(g, key);
    ck_assert_msg(r, "no row for %s", variant);
    return r;
}

static int row_has(const char *row, const char *what, int times) {
    const char *end = strchr(row + 1, '\n');
    int n = 0;
    for (const char *p = row; (p = strstr(p, what)) && p < end; p += strlen(what)) n++;
    return n == times;
}

START_TEST(test_report_known_answers) {
    char *exp = fake_experiment(0), args[2048], out[8192], path[2048];
    snprintf(args, sizeof args, "report --no-plot %s", exp);
    ck_assert_msg(tu_run_cli(args, out, sizeof out) == 0, "%s", out);
    snprintf(path, sizeof path, "%s/report.md", exp);
    char *rep = tu_read(path);
    ck_assert(rep);
    ck_assert_msg(strstr(rep, "All 15 runs had identical budgets and data order"), "%.1500s",
                  strstr(rep, "## Claims"));
    /* magnitude, gradients, loss, multi-hop: four verdicts per row (the multiplier has no fit) */
    ck_assert_msg(row_has(glance_row(rep, "attnres_full"), "| reproduced", 4), "%.1500s",
                  strstr(rep, "## Claims"));
    ck_assert_msg(row_has(glance_row(rep, "attnres_block"), "| opposite", 4), "%.1500s",
                  strstr(rep, "## Claims"));
    ck_assert_msg(row_has(glance_row(rep, "denseformer"), "| inconclusive", 4), "%.1500s",
                  strstr(rep, "## Claims"));
    ck_assert_msg(row_has(glance_row(rep, "hc"), "| not tested (failed to train)", 4), "%.1500s",
                  strstr(rep, "## Claims"));
    /* the health section names the failed run and its reason */
    ck_assert_msg(strstr(rep, "| hc seed 2 | diverged | non-finite train_loss at step 60 |"), "%s",
                  rep);
    /* claim 1: the stream slope difference is -0.25 + 0.002 s^2 at seed s (-0.248, -0.242,
     * -0.232: mean -0.2407, SD 0.0081, t(2) half-width 0.0201), Holm over the 3 tested arms; the
     * profiles are exact lines, so every leave-one-out drop and every estimator gives the same */
    const char *c1 = strstr(rep, "### 1. Hidden-state magnitude");
    ck_assert(c1);
    ck_assert_msg(strstr(c1, "| attnres_full | 3 | 0.059 +- 0.018 | -0.241 [-0.261, -0.221] (3 "
                             "pairs) | 0.0004 | 0.0011 | 0.026 | "),
                  "%.1500s", c1);
    ck_assert(strstr(c1, "[-0.241, -0.241]; Theil-Sen -0.241 reproduced"));
    ck_assert(strstr(c1, "Holm family: the 3 arms tested against prenorm"));
    /* claim 3: block's 10% more FLOPs flagged (no law here: no FLOP-adjusted reading) */
    const char *c3 = strstr(rep, "### 3. Lower loss");
    ck_assert(c3 && strstr(c3, "+10.0% **FLOPs differ** | **opposite** |"));
    ck_assert(strstr(c3, "holds training tokens equal"));
    /* claim 5b: prenorm answered 300 of 300 1-hop queries: at ceiling, not tested */
    const char *c5b = strstr(rep, "### 5b.");
    ck_assert(c5b && strstr(c5b, "not tested (probe at ceiling: prenorm 300 of 300 right"));
    ck_assert(strstr(rep, "largest hop count") || strstr(rep, "(4 hops)"));
    ck_assert(strstr(rep, "No `fit_pooled.csv`"));
    /* report.json holds the same numbers and verdicts as the markdown */
    snprintf(path, sizeof path, "%s/report.json", exp);
    char *json = tu_read(path);
    ck_assert(json);
    ck_assert(strstr(json, "\"budgets_identical\":true"));
    const char *j1 = strstr(json, "\"title\":\"1. Hidden-state magnitude stays bounded\"");
    ck_assert(j1);
    const char *blk = strstr(j1, "{\"variant\":\"attnres_block\"");
    ck_assert(blk && strstr(blk, "\"verdict\":\"opposite\""));
    ck_assert(strstr(j1, "\"mde\":"));
    /* report.html renders the same tables */
    snprintf(path, sizeof path, "%s/report.html", exp);
    char *html = tu_read(path);
    ck_assert(html && strstr(html, "<!DOCTYPE html>"));
    ck_assert(strstr(html, "<tr><td>denseformer</td><td>inconclusive</td>"));
    ck_assert(strstr(html, "<h3>At a glance</h3>"));
    /* a law (fit.ini) gives block's FLOP-adjusted reading: 0.5 worse at 10% more FLOPs */
    put(exp, "fit.ini", "# law\na = 330\nb = 0.2\nc = 1.1\n");
    ck_assert_msg(tu_run_cli(args, out, sizeof out) == 0, "%s", out);
    snprintf(path, sizeof path, "%s/report.md", exp);
    rep = tu_read(path);
    ck_assert_msg(strstr(rep, "**FLOPs differ**; FLOP-adjusted 0."), "%.1500s",
                  strstr(rep, "## Claims"));
    /* claim 4 from fit's pooled table: the paired-seed t interval decides, the bootstrap beside */
    put(exp, "fit_pooled.csv",
        "variant,sizes,multiplier,multiplier_lo,multiplier_hi,paired_multiplier,paired_lo,"
        "paired_hi,paired_seeds\nprenorm,4,1,0.99,1.01,1,1,1,3\n"
        "attnres_block,4,1.2,1.1,1.3,1.2,1.05,1.35,3\nmhc,4,1.02,1.01,1.09,1.02,0.95,1.09,3\n");
    ck_assert_msg(tu_run_cli(args, out, sizeof out) == 0, "%s", out);
    rep = tu_read(path);
    ck_assert_msg(strstr(rep, "| attnres_block | 4 | 1.200 | 1.200 [1.050, 1.350] (3) | "
                              "**reproduced** | [1.100, 1.300] |"),
                  "%.1500s", strstr(rep, "## Claims"));
    ck_assert(strstr(rep, "| mhc | 4 | 1.020 | 1.020 [0.950, 1.090] (3) | **inconclusive** |"));
    /* a --law that is not a fit.ini: one clear line, non-zero exit */
    snprintf(args, sizeof args, "report --no-plot --law %s/summary.csv %s", exp, exp);
    ck_assert_int_eq(tu_run_cli(args, out, sizeof out), 2);
    ck_assert_msg(strstr(out, "not a fit.ini"), "%s", out);
}
END_TEST

/* The routing line (docs/variants.md, "Routing diagnostics"): no section without routing.csv;
 * with it, per arm the mean of entropy / uniform over the first and the last half of the
 * consumers with two or more sources at the last step (the one-source consumer and an earlier
 * step left out, the middle consumer of an odd count too), averaged over the arm's runs. */
static void fake_routing(const char *exp, const char *v, int seed, const double *ratio, int k) {
    char dir[2048], text[4096];
    snprintf(dir, sizeof dir, "%s/%s-s%d", exp, v, seed);
    int n = snprintf(text, sizeof text,
                     "step,layer,n_sources,entropy,uniform_entropy\n50,2,2,0.6931,0.6931\n"
                     "100,1,1,0,0\n");
    for (int c = 0; c < k; c++)
        n += snprintf(text + n, sizeof text - n, "100,%d,%d,%.17g,%.17g\n", c + 2, c + 2,
                      ratio[c] * log(c + 2.0), log(c + 2.0));
    put(dir, "routing.csv", text);
}

START_TEST(test_report_routing_line) {
    char *exp = fake_experiment(0), args[2048], out[8192], path[2048];
    snprintf(args, sizeof args, "report --no-plot %s", exp);
    snprintf(path, sizeof path, "%s/report.md", exp);
    ck_assert_msg(tu_run_cli(args, out, sizeof out) == 0, "%s", out);
    ck_assert(!strstr(tu_read(path), "## Routing"));
    const double full[3][4] = {{0.2, 0.4, 0.6, 1.0}, {0.1, 0.3, 0.7, 0.9}, {0.3, 0.5, 0.5, 0.7}};
    for (int s = 1; s <= 3; s++) fake_routing(exp, "attnres_full", s, full[s - 1], 4);
    const double dense[3] = {0.1, 0.5, 0.9};
    fake_routing(exp, "denseformer", 2, dense, 3);
    ck_assert_msg(tu_run_cli(args, out, sizeof out) == 0, "%s", out);
    char *rep = tu_read(path);
    const char *r = strstr(rep, "## Routing");
    ck_assert_msg(r, "%s", rep);
    /* full: shallow (0.3 + 0.2 + 0.4) / 3, deep (0.8 + 0.8 + 0.6) / 3 */
    ck_assert_msg(strstr(r, "| attnres_full | 3 | 0.300 | 0.733 |"), "%.1200s", r);
    ck_assert_msg(strstr(r, "| denseformer | 1 | 0.100 | 0.900 |"), "%.1200s", r);
    const char *end = strstr(r + 1, "\n## "), *pre = strstr(r, "| prenorm |");
    ck_assert(end && (!pre || pre > end)); /* no routing.csv: no row */
    /* report.json: the same numbers under "routing" */
    snprintf(path, sizeof path, "%s/report.json", exp);
    char *json = tu_read(path);
    const char *a =
        strstr(json, "\"routing\":[{\"variant\":\"attnres_full\",\"runs\":3,\"shallow\":");
    ck_assert_msg(a, "%.600s", json);
    ck_assert_double_eq_tol(
        strtod(a + strlen("\"routing\":[{\"variant\":\"attnres_full\",\"runs\":3,\"shallow\":"),
               NULL),
        0.3, 1e-12);
    const char *d = strstr(json, "{\"variant\":\"denseformer\",\"runs\":1,\"shallow\":");
    ck_assert_msg(d && strstr(d, "\"deep\":") &&
                      strstr(d, "\"deep\":") < strstr(json, "\"claims\""),
                  "%.600s", json);
    ck_assert_double_eq_tol(strtod(strstr(d, "\"deep\":") + 7, NULL), 0.9, 1e-12);
}
END_TEST

/* Claim 6 in the paper's direction for each option: the input-dependent query is better than Full
 * in the paper's Table 4, so a decided loss for it is "opposite"; no key norm is worse there, so
 * the same decided loss is "reproduced". */
START_TEST(test_report_design_directions) {
    char *exp = tu_tempdir(), text[8192], args[2048], out[8192], path[2048];
    int n = snprintf(text, sizeof text,
                     "variant,seed,n_layer,d_model,n_head,seq_len,batch_size,params,tokens,flops,"
                     "final_val_loss,best_val_loss,tok_per_s,wall_s,overhead_pct,status\n");
    const char *vs[] = {"prenorm", "attnres_full", "attnres_full:query=input",
                        "attnres_full:keynorm=off"};
    const double loss[4] = {2.0, 1.9, 2.3, 2.3};
    for (int s = 1; s <= 3; s++)
        for (int v = 0; v < 4; v++) {
            double x = loss[v] + 0.01 * (s - 2) + (v ? 0.002 * s * s * v : 0);
            n += snprintf(text + n, sizeof text - n,
                          "%s,%d,4,96,3,64,16,1000,102400,1e12,%g,%g,1000,10,0,ok\n", vs[v], s, x,
                          x);
            fake_run(exp, vs[v], s, 0.1, 0.2, 0.9, 0.5, 1, 0);
        }
    put(exp, "summary.csv", text);
    put(exp, "experiment.ini", "# resbench resolved config\nsteps = 100\n");
    snprintf(args, sizeof args, "report --no-plot %s", exp);
    ck_assert_msg(tu_run_cli(args, out, sizeof out) == 0, "%s", out);
    snprintf(path, sizeof path, "%s/report.md", exp);
    char *rep = tu_read(path);
    const char *c6 = rep ? strstr(rep, "### 6. The design choices") : NULL;
    ck_assert_msg(c6, "%s", rep);
    const char *q = strstr(c6, "\n| attnres_full:query=input |"),
               *k = strstr(c6, "\n| attnres_full:keynorm=off |");
    ck_assert_msg(q && row_has(q, "| **opposite** |", 1), "%.2000s", c6);
    ck_assert_msg(k && row_has(k, "| **reproduced** |", 1), "%.2000s", c6);
}
END_TEST

/* Claim 6's direction comes from the option tables (VariantOption.paper_better), not from the
 * report: for every installed variant an arm setting an option to its declared better value is
 * expected lower (-1), any other value higher or equal (+1); a table that moves the declaration
 * moves the direction, and an arm the table cannot read gets none (0). */
START_TEST(test_report_design_sign_from_table) {
    int declared = 0;
    for (int i = 0; rb_variants[i]; i++) {
        const VariantOps *v = rb_variants[i];
        for (int k = 0; k < v->n_options; k++) {
            const VariantOption *o = &v->options[k];
            char arm[160];
            for (int x = (int)o->min; x <= (int)o->max && x <= (int)o->min + 3; x++) {
                char value[32];
                if (o->choices)
                    snprintf(value, sizeof value, "%s", o->choices[x]);
                else
                    snprintf(value, sizeof value, "%d", x);
                snprintf(arm, sizeof arm, "%s:%s=%s", v->name, o->name, value);
                int better = o->paper_better && !strcmp(o->paper_better, value);
                declared += better;
                ck_assert_msg(report_design_sign(arm) == (better ? -1 : +1), "%s", arm);
            }
        }
    }
    ck_assert_int_gt(declared, 0); /* the AttnRes query (Table 4) at least */
    /* the same variant with the declaration moved from query=input to keynorm=off */
    const VariantOps *full = variant_find("attnres_full");
    VariantOption opts[16];
    ck_assert_int_le(full->n_options, 16);
    memcpy(opts, full->options, (size_t)full->n_options * sizeof *opts);
    int moved = 0;
    for (int k = 0; k < full->n_options; k++) {
        if (!strcmp(opts[k].name, "query")) opts[k].paper_better = NULL, moved++;
        if (!strcmp(opts[k].name, "keynorm")) opts[k].paper_better = "off", moved++;
    }
    ck_assert_int_eq(moved, 2);
    VariantOps changed = *full;
    changed.options = opts;
    const VariantOps *table[] = {&changed, NULL};
    config_use_variants(table);
    ck_assert_int_eq(report_design_sign("attnres_full:query=input"), +1);
    ck_assert_int_eq(report_design_sign("attnres_full:keynorm=off"), -1);
    ck_assert_int_eq(report_design_sign("attnres_full:query=input,keynorm=off"), -1);
    ck_assert_int_eq(report_design_sign("attnres_block:blocks=2"), 0); /* not in this table */
    variants_install();
    ck_assert_int_eq(report_design_sign("attnres_full:query=input"), -1);
    ck_assert_int_eq(report_design_sign("attnres_full:nosuch=1"), 0);
}
END_TEST

/* The loss claim with a margin stated in experiment.ini: a known small difference (attnres_full
 * minus prenorm = 0.001 + {+0.002, -0.002, +0.001, -0.001} at seeds 1-4: mean 0.001, SD 0.00183,
 * paired t p 0.35, not decided) is "equivalent" within 0.01 nats (TOST: t = (0.01 - 0.001) /
 * 0.000913 = 9.9 on 3 df), "inconclusive" within 0.002 (t = 1.10, one-sided p 0.177) and
 * "inconclusive" without a margin. */
static const char *loss_verdict_with_margin(const char *margin) {
    char *exp = tu_tempdir(), text[8192], args[2048], out[8192], path[2048];
    int n = snprintf(text, sizeof text,
                     "variant,seed,n_layer,d_model,n_head,seq_len,batch_size,params,tokens,flops,"
                     "final_val_loss,best_val_loss,tok_per_s,wall_s,overhead_pct,status\n");
    const double e[4] = {0.002, -0.002, 0.001, -0.001};
    for (int s = 1; s <= 4; s++)
        for (int v = 0; v < 2; v++) {
            double x = 2.0 + 0.03 * (s - 2) + (v ? 0.001 + e[s - 1] : 0);
            n += snprintf(text + n, sizeof text - n,
                          "%s,%d,4,96,3,64,16,1000,102400,1e12,%.17g,%.17g,1000,10,0,ok\n",
                          v ? "attnres_full" : "prenorm", s, x, x);
            fake_run(exp, v ? "attnres_full" : "prenorm", s, 0.1, 0.2, 0.9, 0.5, 1, 0);
        }
    put(exp, "summary.csv", text);
    snprintf(text, sizeof text, "# resbench resolved config\nsteps = 100\n%s%s%s",
             margin ? "equivalence_margin = " : "", margin ? margin : "", margin ? "\n" : "");
    put(exp, "experiment.ini", text);
    snprintf(args, sizeof args, "report --no-plot %s", exp);
    ck_assert_msg(tu_run_cli(args, out, sizeof out) == 0, "%s", out);
    snprintf(path, sizeof path, "%s/report.md", exp);
    const char *rep = tu_read(path), *c3 = rep ? strstr(rep, "### 3. Lower loss") : NULL;
    ck_assert_msg(c3, "%s", rep ? rep : "");
    const char *row = strstr(c3, "\n| attnres_full |");
    ck_assert_msg(row && strstr(row, "| +0.0010 [-0.0019, +0.0039] (4 pairs) | 0.353"), "%.2000s",
                  c3);
    return row;
}

START_TEST(test_report_equivalence_margin) {
    const char *row = loss_verdict_with_margin("0.01");
    ck_assert_msg(row_has(row, "| **equivalent (TOST p 0.00", 1), "%.600s", row);
    ck_assert_msg(row_has(row, "margin 0.01)** |", 1), "%.600s", row);
    ck_assert(strstr(row, "(experiment.ini `equivalence_margin`): 0.01 nats"));
    row = loss_verdict_with_margin("0.002");
    ck_assert_msg(row_has(row, "| **inconclusive (TOST p 0.177, margin 0.002)** |", 1), "%.600s",
                  row);
    row = loss_verdict_with_margin(NULL);
    ck_assert_msg(row_has(row, "| **inconclusive** |", 1), "%.600s", row);
    ck_assert(!strstr(row, "equivalence_margin`)"));
}
END_TEST

/* A sweep's directory (two shapes of one arm and seed) is refused in one line, not paired across
 * shapes. */
START_TEST(test_report_refuses_sweep) {
    char *exp = tu_tempdir(), args[2048], out[8192];
    fake_run(exp, "prenorm", 1, 0.1, 0.2, 0.9, 0.5, 1, 0);
    put(exp, "summary.csv",
        "variant,seed,n_layer,d_model,n_head,seq_len,batch_size,params,tokens,flops,"
        "final_val_loss,best_val_loss,tok_per_s,wall_s,overhead_pct,status\n"
        "prenorm,1,4,96,3,64,16,1000,102400,1e12,2,2,1000,10,0,ok\n"
        "prenorm,1,2,128,4,64,16,1000,102400,1e12,2.1,2.1,1000,10,0,ok\n");
    put(exp, "experiment.ini", "# resbench resolved config\nsteps = 100\n");
    snprintf(args, sizeof args, "report --no-plot %s", exp);
    ck_assert_int_eq(tu_run_cli(args, out, sizeof out), 2);
    ck_assert_msg(strstr(out, "two runs of arm prenorm with seed 1") && strstr(out, "--gather"),
                  "%s", out);
}
END_TEST

/* The same check on 360 runs (6 arms x 60 seeds, summary rows only): every arm shares each seed
 * with the five others, and nothing is refused; then two repeats, the later one of the
 * earlier-sorting key (prenorm seed 3 sorts before hc seed 50) and a third copy of hc seed 50: the
 * line names the pair a scan in list order meets first, hc seed 50, as the double loop it replaced
 * did. */
START_TEST(test_report_refuses_sweep_many_runs) {
    char *exp = tu_tempdir(), args[2048], out[8192], path[2048];
    const char *vs[] = {"prenorm", "attnres_full", "attnres_block", "denseformer", "mhc", "hc"};
    size_t cap = 64 * 1024, n = 0;
    char *text = tu_mem(cap);
    n += (size_t)snprintf(text + n, cap - n,
                          "variant,seed,n_layer,d_model,n_head,seq_len,batch_size,params,tokens,"
                          "flops,final_val_loss,best_val_loss,tok_per_s,wall_s,overhead_pct,"
                          "status\n");
    for (int s = 1; s <= 60; s++)
        for (int v = 0; v < 6; v++)
            n += (size_t)snprintf(text + n, cap - n,
                                  "%s,%d,4,96,3,64,16,1000,102400,1e12,%g,%g,1000,10,0,ok\n", vs[v],
                                  s, 2 + 0.01 * ((s * 7 + v) % 13), 2.0);
    put(exp, "summary.csv", text);
    put(exp, "experiment.ini", "# resbench resolved config\nsteps = 100\n");
    snprintf(args, sizeof args, "report --no-plot %s", exp);
    ck_assert_msg(tu_run_cli(args, out, sizeof out) == 0, "%s", out);
    snprintf(path, sizeof path, "%s/report.md", exp);
    ck_assert_ptr_nonnull(tu_read(path));
    const char *repeats[] = {"hc,50", "prenorm,3", "hc,50"};
    for (int k = 0; k < 3; k++)
        n += (size_t)snprintf(text + n, cap - n,
                              "%s,2,128,4,64,16,1000,102400,1e12,2.1,2.1,1000,10,0,ok\n",
                              repeats[k]);
    put(exp, "summary.csv", text);
    ck_assert_int_eq(tu_run_cli(args, out, sizeof out), 2);
    char want[4096];
    snprintf(want, sizeof want,
             "report: %s/summary.csv holds two runs of arm hc with seed 50 (%s/hc-s50 and "
             "%s/hc-s50): a sweep's shapes are analysed by `resbench sweep ... --gather`, not by "
             "report",
             exp, exp, exp);
    ck_assert_msg(strstr(out, want), "'%s' lacks '%s'", out, want);
}
END_TEST

START_TEST(test_report_flags_unfair_budgets) {
    char *exp = fake_experiment(1), args[2048], out[8192], path[2048];
    snprintf(args, sizeof args, "report --no-plot %s", exp);
    ck_assert_msg(tu_run_cli(args, out, sizeof out) == 0, "%s", out);
    ck_assert(strstr(out, "WARNING"));
    snprintf(path, sizeof path, "%s/report.md", exp);
    char *rep = tu_read(path);
    ck_assert(rep &&
              strstr(rep, "`data_seed` differs: 1 for prenorm seed 1, 7 for attnres_full seed 2"));
    ck_assert(strstr(rep, "did NOT have identical budgets"));
    /* a directory that is not an experiment */
    snprintf(args, sizeof args, "report %s/prenorm-s1", exp);
    ck_assert_int_eq(tu_run_cli(args, out, sizeof out), 2);
    ck_assert(strstr(out, "has no summary.csv"));
}
END_TEST

/* Every ![caption](path) of report.md names an existing file relative to the report. */
static int check_links(const char *dir, const char *rep) {
    int n = 0;
    for (const char *p = rep; (p = strstr(p, "](")) != NULL; p += 2) {
        const char *e = strchr(p, ')');
        char path[4096], rel[1024];
        size_t len = (size_t)(e - p - 2) < sizeof rel ? (size_t)(e - p - 2) : sizeof rel - 1;
        memcpy(rel, p + 2, len);
        rel[len] = 0;
        snprintf(path, sizeof path, "%s/%s", dir, rel);
        struct stat st;
        ck_assert_msg(stat(path, &st) == 0 && st.st_size > 0, "broken link %s", path);
        n++;
    }
    return n;
}

START_TEST(test_report_of_tiny_ablation) {
    char *out = tu_tempdir(), args[2048], path[2048];
    static char buf[65536];
    snprintf(args, sizeof args,
             "ablate --variants prenorm,attnres_block --seeds 1,2 --name tiny n_layer=2 d_model=16 "
             "n_head=2 seq_len=66 batch_size=2 steps=8 eval_every=4 eval_tokens=264 "
             "data=synth:hops attnres_blocks=2 out=%s",
             out);
    ck_assert_msg(tu_run_cli(args, buf, sizeof buf) == 0, "%s", buf);
    ck_assert_msg(strstr(buf, "answer accuracy by hop count"), "%s", buf);
    snprintf(path, sizeof path, "%s/tiny", out);
    char rp[2100];
    snprintf(rp, sizeof rp, "%s/report.md", path);
    char *rep = tu_read(rp);
    ck_assert(rep);
    const char *sections[] = {"## Budget and data order",
                              "## Configuration",
                              "## Ablation",
                              "## Figures",
                              "## Claims",
                              "### 1. Hidden-state magnitude",
                              "### 2. Gradients",
                              "### 3. Lower loss",
                              "### 4. About 1.25x",
                              "### 5. The biggest gains are on multi-step reasoning",
                              "### At a glance",
                              "All 4 runs had identical budgets"};
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
        ck_assert_msg(strstr(rep, sections[i]), "report lacks '%s'", sections[i]);
    int links = check_links(path, rep);
    struct stat st;
    snprintf(rp, sizeof rp, "%s/figures/probe.png", path);
    if (stat(rp, &st) == 0) /* gnuplot present: all figures are linked, the probe among them */
        ck_assert_msg(links >= 5 && strstr(rep, "figures/probe.png"), "%d links", links);
    printf("tiny ablation report: %d figure links, all resolve\n", links);
}
END_TEST

/* `resbench bench` on a tiny shape: runs, and bench.csv has one complete row per variant (nothing
 * about speed is asserted: the benchmark is not a timed test). */
START_TEST(test_bench_writes_csv) {
    char *out = tu_tempdir(), args[2048], path[2048];
    static char buf[16384];
    snprintf(args, sizeof args,
             "bench --steps 2 --warmup 1 --variants prenorm,attnres_block --backends openblas:fp32 "
             "--out %s n_layer=1 "
             "d_model=16 n_head=2 seq_len=16 batch_size=2 attnres_blocks=2",
             out);
    ck_assert_msg(tu_run_cli(args, buf, sizeof buf) == 0, "%s", buf);
    ck_assert(strstr(buf, "practical peak") && strstr(buf, "thread scaling"));
    ck_assert(strstr(buf, "OpenBLAS kernels: "));
    snprintf(path, sizeof path, "%s/bench.csv", out);
    CsvTable t;
    ck_assert(csv_load(path, &t) == 0);
    ck_assert_int_eq(csv_nrows(&t), 2);
    const char *cols[] = {"step_ms",   "tok_per_s",  "gflops",       "frac_peak",    "overhead_pct",
                          "matmul_ms", "variant_ms", "optimizer_ms", "rss_model_mb", "estimate_mb"};
    for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++) {
        int k = csv_col(&t, cols[c]);
        ck_assert_msg(k >= 0, "bench.csv lacks %s", cols[c]);
        for (size_t r = 0; r < 2; r++) ck_assert(!isnan(csv_num(&t, r, k)));
    }
    ck_assert_str_eq(csv_cell(&t, 1, csv_col(&t, "variant")), "attnres_block");
    ck_assert_str_eq(csv_cell(&t, 1, csv_col(&t, "backend")), "openblas");
    ck_assert_str_eq(csv_cell(&t, 1, csv_col(&t, "precision")), "fp32");
    ck_assert(csv_num(&t, 0, csv_col(&t, "estimate_mb")) > 0);
    /* the floor is the model of docs/performance.md, recomputed from the row: own FLOPs at the
     * sgemm peak plus the traffic at the bandwidth; the traffic is the variant's own count
     * (32 tokens, d = 16, L = 2: prenorm 6 L d floats; Block with N = L = 2 is Full: consumers
     * with 1, 2, 3 sources, backward 3s + 1 = 21 rows, forward s + 1 = 9 rows) */
    const double want_floats[2] = {6 * 2 * 16, 30 * 16};
    for (size_t r = 0; r < 2; r++) {
        double traffic = csv_num(&t, r, csv_col(&t, "traffic_mb"));
        double bw = csv_num(&t, r, csv_col(&t, "bandwidth_gbs"));
        double own = csv_num(&t, r, csv_col(&t, "own_gflop"));
        double peak = csv_num(&t, r, csv_col(&t, "peak_gflops"));
        double floor_ms = csv_num(&t, r, csv_col(&t, "floor_ms"));
        double ratio = csv_num(&t, r, csv_col(&t, "phase_floor_ratio"));
        double phase = csv_num(&t, r, csv_col(&t, "variant_ms"));
        ck_assert_double_eq_tol(traffic, want_floats[r] * 4 * 32 / 1048576.0, 1e-5 * traffic);
        ck_assert(bw > 0 && own > 0 && floor_ms > 0);
        /* the CSV keeps 6 significant digits of each term (a slow machine's peak, e.g. under
         * valgrind, included) */
        ck_assert_double_eq_tol(floor_ms, 1e3 * (own / peak + traffic * 1048576.0 / (bw * 1e9)),
                                2e-5 * floor_ms);
        ck_assert(fabs(ratio * floor_ms - phase) <= 6e-4 + 1e-3 * phase); /* CSV rounding */
        /* the split by interface call covers the variant phase exactly (each call's time is
         * added to both), up to the CSV's 1e-3 ms rounding of each of the 9 numbers */
        const char *calls[] = {"begin_ms",      "input_ms",      "commit_ms",    "output_ms",
                               "output_bwd_ms", "commit_bwd_ms", "input_bwd_ms", "begin_bwd_ms"};
        double split = 0;
        for (int k = 0; k < 8; k++) {
            int col = csv_col(&t, calls[k]);
            ck_assert_msg(col >= 0, "bench.csv lacks %s", calls[k]);
            ck_assert(csv_num(&t, r, col) >= 0);
            split += csv_num(&t, r, col);
        }
        ck_assert_msg(fabs(split - phase) <= 5e-3, "calls sum to %g ms, phase %g ms", split, phase);
    }
    csv_table_free(&t);
    snprintf(path, sizeof path, "%s/bandwidth.csv", out);
    ck_assert(csv_load(path, &t) == 0);
    ck_assert_int_eq(csv_nrows(&t), 12); /* 0.25 MB .. 512 MB */
    for (size_t r = 0; r < 12; r++) {
        ck_assert_double_eq(csv_num(&t, r, csv_col(&t, "footprint_mb")), 0.25 * (1 << r));
        ck_assert(csv_num(&t, r, csv_col(&t, "triad_gbs")) > 0);
    }
    csv_table_free(&t);
    ck_assert_int_eq(tu_run_cli("bench --warmup x", buf, sizeof buf), 2);
}
END_TEST

/* `bench --vs-torch` on a tiny shape: the PyTorch peer times the same variants and torch.csv holds
 * both rates and their ratio (without a python3 that has torch, the one-line refusal instead). */
START_TEST(test_bench_vs_torch) {
    char *out = tu_tempdir(), args[2048], path[2048];
    static char buf[16384];
    snprintf(args, sizeof args,
             "bench --vs-torch --steps 2 --warmup 1 --variants prenorm,attnres_block:blocks=2,mhc "
             "--backends openblas:fp32 --out %s n_layer=1 d_model=16 n_head=2 seq_len=16 "
             "batch_size=2",
             out);
    int rc = tu_run_cli(args, buf, sizeof buf);
    if (rc == 1 && strstr(buf, "no python3 that can import torch")) {
        printf("bench --vs-torch: skipped, no torch here: %s", buf);
        return;
    }
    ck_assert_msg(rc == 0, "%s", buf);
    ck_assert_msg(strstr(buf, "torch bf16") && strstr(buf, "PyTorch peer: torch") &&
                      strstr(buf, "bf16 autocast"),
                  "%.2000s", buf);
    snprintf(path, sizeof path, "%s/torch.csv", out);
    CsvTable t;
    ck_assert(csv_load(path, &t) == 0);
    ck_assert_int_eq(csv_nrows(&t), 3);
    ck_assert_str_eq(csv_cell(&t, 1, csv_col(&t, "variant")), "attnres_block:blocks=2");
    for (size_t r = 0; r < 3; r++) {
        double ours = csv_num(&t, r, csv_col(&t, "resbench_tok_per_s"));
        double peer = csv_num(&t, r, csv_col(&t, "torch_fp32_tok_per_s"));
        double peer16 = csv_num(&t, r, csv_col(&t, "torch_bf16_tok_per_s"));
        ck_assert(ours > 0 && peer > 0 && peer16 > 0);
        ck_assert_double_eq_tol(csv_num(&t, r, csv_col(&t, "ratio_fp32")), ours / peer,
                                1e-5 * ours / peer);
        ck_assert_double_eq_tol(csv_num(&t, r, csv_col(&t, "ratio_bf16")), ours / peer16,
                                1e-5 * ours / peer16);
        ck_assert_str_eq(csv_cell(&t, r, csv_col(&t, "backend")), "openblas");
    }
    csv_table_free(&t);
    ck_assert_int_eq(tu_run_cli("bench --vs-torch --infer", buf, sizeof buf), 2);
}
END_TEST

/* The bandwidth at a footprint: log-linear between measured sizes, clamped outside them. */
START_TEST(test_membw_interpolation) {
    Bandwidth bw = {.n = 3, .footprint_mb = {1, 4, 16}, .gbs = {100, 50, 20}};
    ck_assert_double_eq(membw_at(&bw, 0.1), 100);
    ck_assert_double_eq(membw_at(&bw, 1), 100);
    ck_assert_double_eq_tol(membw_at(&bw, 2), 75, 1e-12); /* halfway in log between 1 and 4 */
    ck_assert_double_eq_tol(membw_at(&bw, 8), 35, 1e-12); /* halfway between 4 and 16 */
    ck_assert_double_eq(membw_at(&bw, 16), 20);
    ck_assert_double_eq(membw_at(&bw, 1000), 20);
    Bandwidth m;
    ck_assert_int_eq(membw_measure(&m, 0.25, 1),
                     0); /* 0.25, 0.5, 1 MB, the triad's values checked */
    ck_assert_int_eq(m.n, 3);
    for (int k = 0; k < 3; k++) ck_assert(m.gbs[k] > 0 && isfinite(m.gbs[k]));
}
END_TEST

/* One experiment of the limits test: prenorm seeds 1..609 (seed 1 with a config.ini at n_layer
 * L), 64 arms attnres_block:blocks=K with 7 seeds each: 1057 runs (results.c kept 1024), 65 arms
 * (16 were kept, the table held 64 rows, a trend 64 arms), 609 runs of one arm (the report's
 * 512-entry arrays). */
static char *many_runs_experiment(int L) {
    char *exp = tu_tempdir(), dir[2048];
    size_t cap = 1 << 17, n = 0;
    char *text = tu_mem(cap);
    n += (size_t)snprintf(text + n, cap - n,
                          "variant,seed,status,final_val_loss,tok_per_s,tokens,flops\n");
    for (int s = 1; s <= 609; s++)
        n += (size_t)snprintf(text + n, cap - n, "prenorm,%d,ok,%g,100,1000,1e9\n", s,
                              2 + 0.001 * (s % 7));
    for (int k = 1; k <= 64; k++)
        for (int s = 1; s <= 7; s++)
            n += (size_t)snprintf(text + n, cap - n,
                                  "attnres_block:blocks=%d,%d,ok,%g,100,1000,1e9\n", k, s,
                                  2 - 0.01 * k + 0.001 * (s % 5));
    ck_assert(n < cap);
    put(exp, "summary.csv", text);
    snprintf(dir, sizeof dir, "%s/prenorm-s1", exp);
    mkdir(dir, 0755);
    Config c;
    config_defaults(&c);
    c.n_layer = L;
    put(dir, "config.ini", tu_keep(config_to_ini(&c)));
    return exp;
}

START_TEST(test_report_past_old_limits) {
    char *exp = many_runs_experiment(2), args[4096], out[8192], path[2048];
    snprintf(args, sizeof args, "report --no-plot %s", exp);
    ck_assert_msg(tu_run_cli(args, out, sizeof out) == 0, "%s", out);
    snprintf(path, sizeof path, "%s/report.md", exp);
    char *rep = tu_read(path);
    ck_assert(rep && strstr(rep, "1057 runs of 65 variants"));
    const char *abl = strstr(rep, "## Ablation");
    ck_assert_msg(abl && strstr(abl, "\n| prenorm | 609 | 2.0030 +- ") &&
                      strstr(abl, "\n| attnres_block:blocks=64 | 7 |"),
                  "%.4000s", abl ? abl : rep);
    const char *loss = strstr(rep, "### 3. Lower loss");
    ck_assert(loss && strstr(loss, "\n| attnres_block:blocks=64 | 7 | 1.3619 +- "));
    /* a trend over two such experiments (n_layer 2 and 3): every arm's row */
    char *exp3 = many_runs_experiment(3), *trend = tu_tempdir();
    snprintf(args, sizeof args, "plot --trend n_layer --out %s %s %s", trend, exp, exp3);
    int rc = tu_run_cli(args, out, sizeof out);
    ck_assert_msg(rc == 0 || strstr(out, "gnuplot"), "%s", out);
    snprintf(path, sizeof path, "%s/trend_n_layer.csv", trend);
    CsvTable t;
    ck_assert(csv_load(path, &t) == 0);
    ck_assert_int_eq((int)csv_nrows(&t), 2 * 64);
    ck_assert_str_eq(csv_cell(&t, 127, csv_col(&t, "variant")), "attnres_block:blocks=64");
    csv_table_free(&t);
}
END_TEST

/* Every figure in figures/ is linked: the experiment's, each arm's under its arm (depth_ARMFILE),
 * and ones the report has no title for; SVGs are not. */
START_TEST(test_report_links_every_figure) {
    char *exp = fake_experiment(0), args[2048], out[8192], path[2048];
    snprintf(path, sizeof path, "%s/figures", exp);
    mkdir(path, 0755);
    const char *figs[] = {"loss_vs_flops.png", "depth_attnres_block.png", "depth_denseformer.png",
                          "sweep_prenorm.png", "custom_view.png",         "custom_view.svg"};
    for (int i = 0; i < 6; i++) put(path, figs[i], "x");
    snprintf(args, sizeof args, "report --no-plot %s", exp);
    ck_assert_msg(tu_run_cli(args, out, sizeof out) == 0, "%s", out);
    snprintf(path, sizeof path, "%s/report.md", exp);
    char *rep = tu_read(path);
    const char *f = rep ? strstr(rep, "## Figures") : NULL;
    ck_assert(f);
    const char *want[] = {"(figures/loss_vs_flops.png)",       "### attnres_block\n",
                          "(figures/depth_attnres_block.png)", "### denseformer\n",
                          "(figures/depth_denseformer.png)",   "### prenorm\n",
                          "(figures/sweep_prenorm.png)",       "(figures/custom_view.png)"};
    for (int i = 0; i < 8; i++) ck_assert_msg(strstr(f, want[i]), "no %s in %.3000s", want[i], f);
    ck_assert(!strstr(rep, "custom_view.svg"));
}
END_TEST

/* Occurrences of an installed variant's name, as a word, in a string literal of the C file at path
 * (comments and character literals skipped), except the baseline (RB_BASELINE) and mhc.csv, the
 * core's diagnostics file name; each printed. */
static int variant_names_in_literals(const char *path) {
    const char *src = tu_read(path);
    ck_assert_msg(src, "cannot read %s", path);
    int hits = 0;
    for (const char *p = src; *p; p++) {
        if (p[0] == '/' && p[1] == '*') { /* comments may name variants */
            const char *e = strstr(p + 2, "*/");
            p = e ? e + 1 : p + strlen(p) - 1;
            continue;
        }
        if (p[0] == '/' && p[1] == '/') {
            p += strcspn(p, "\n");
            if (!*p) break;
            continue;
        }
        if (*p == '\'') { /* a character literal */
            p += p[1] == '\\' ? 3 : 2;
            continue;
        }
        if (*p != '"') continue;
        const char *q = p + 1; /* the literal p+1 .. q */
        while (*q && *q != '"') q += *q == '\\' ? 2 : 1;
        for (int v = 0; rb_variants[v]; v++) {
            const char *name = rb_variants[v]->name;
            size_t nl = strlen(name);
            if (!strcmp(name, RB_BASELINE)) continue;
            for (const char *m = p + 1; m < q && (m = strstr(m, name)) && m < q; m += nl) {
                int word = (m == p + 1 || !isalnum((unsigned char)m[-1])) &&
                           !(isalnum((unsigned char)m[nl]) || m[nl] == '_');
                if (!word || !strncmp(m, "mhc.csv", 7)) continue;
                printf("%s: variant name '%s' in \"%.*s\"\n", path, name, (int)(q - p - 1), p + 1);
                hits++;
            }
        }
        p = *q ? q : q - 1;
    }
    return hits;
}

/* No variant name in a string literal of experiments/ (the layer knows variants through the
 * registry and the data): every .c and .h in experiments/ and its folders (cmd/, runs/, ...). */
START_TEST(test_no_variant_names_in_experiments) {
    variants_install();
    char **dirs = NULL, top[2048];
    snprintf(top, sizeof top, "%s/experiments", RB_SOURCE_DIR);
    int nd = rb_list_dir(top, &dirs), hits = 0, scanned = 0;
    ck_assert(nd > 0);
    for (int d = -1; d < nd; d++) { /* -1: experiments/ itself */
        char dir[4096];
        snprintf(dir, sizeof dir, "%s%s%s", top, d < 0 ? "" : "/", d < 0 ? "" : dirs[d]);
        struct stat st;
        char **files = NULL;
        int nf = stat(dir, &st) == 0 && S_ISDIR(st.st_mode) ? rb_list_dir(dir, &files) : 0;
        for (int i = 0; i < nf; i++) {
            size_t len = strlen(files[i]);
            if (len >= 3 &&
                (!strcmp(files[i] + len - 2, ".c") || !strcmp(files[i] + len - 2, ".h"))) {
                char path[8192];
                snprintf(path, sizeof path, "%s/%s", dir, files[i]);
                hits += variant_names_in_literals(path);
                scanned++;
            }
            free(files[i]);
        }
        free(files);
    }
    for (int d = 0; d < nd; d++) free(dirs[d]);
    free(dirs);
    ck_assert_int_gt(scanned, 40);
    ck_assert_int_eq(hits, 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("report");
    TCase *tc = tcase_create("report");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_verdicts);
    tcase_add_test(tc, test_report_known_answers);
    tcase_add_test(tc, test_report_flags_unfair_budgets);
    tcase_add_test(tc, test_report_routing_line);
    tcase_add_test(tc, test_report_design_directions);
    tcase_add_test(tc, test_report_design_sign_from_table);
    tcase_add_test(tc, test_report_equivalence_margin);
    tcase_add_test(tc, test_report_refuses_sweep);
    tcase_add_test(tc, test_report_refuses_sweep_many_runs);
    tcase_add_test(tc, test_report_of_tiny_ablation);
    tcase_add_test(tc, test_bench_writes_csv);
    tcase_add_test(tc, test_membw_interpolation);
    tcase_add_test(tc, test_bench_vs_torch);
    tcase_add_test(tc, test_report_past_old_limits);
    tcase_add_test(tc, test_report_links_every_figure);
    tcase_add_test(tc, test_no_variant_names_in_experiments);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    tu_free_all();
    return failed ? 1 : 0;
}
