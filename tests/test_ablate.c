/* `resbench ablate`: identical budgets across variants and seeds, summary.csv, the table, skipping
 * finished runs on a second invocation; Welch's interval against a hand computation. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "claims.h"
#include "cli.h"
#include "csvread.h"
#include "registry.h"
#include "results.h"
#include "runs.h"
#include "stats.h"
#include "testutil.h"

/* a = {1,2,3}, b = {4,5,6}: delta -3, se^2 = 1/3 + 1/3, Welch df = (2/3)^2 / (2 * (1/3)^2 / 2) = 4,
 * t_0.975(4) = 2.7764451051978, half-width 2.7764451 * sqrt(2/3) = 2.26697. */
START_TEST(test_welch_by_hand) {
    double a[] = {1, 2, 3}, b[] = {4, 5, 6};
    Interval w = stats_welch(a, 3, b, 3);
    ck_assert_double_eq_tol(w.delta, -3, 1e-12);
    ck_assert_double_eq_tol(w.half_width, 2.7764451051978 * sqrt(2.0 / 3), 1e-9);
    ck_assert_double_eq_tol(stats_std(a, 3), 1.0, 1e-12);
    ck_assert(isnan(stats_welch(a, 1, b, 3).half_width));
    /* closed forms: df=1 is Cauchy, t = tan(pi (0.975 - 1/2)); df=2: t = sqrt(2 / (4p(1-p)) - 2) */
    ck_assert_double_eq_tol(stats_t975(1), tan(M_PI * 0.475), 1e-9);
    ck_assert_double_eq_tol(stats_t975(2), sqrt(2 / (4 * 0.975 * 0.025) - 2), 1e-9);
    /* fractional df is exact, not truncated: strictly between its neighbours */
    ck_assert(stats_t975(1.5) < stats_t975(1) && stats_t975(1.5) > stats_t975(2));
    ck_assert_double_eq_tol(stats_t975(1e6), 1.959966, 1e-5); /* -> the normal quantile */
}
END_TEST

/* The example, attnres_block minus prenorm at seeds 1-3 of the committed tinyshakespeare
 * ablation: d = -0.0049, -0.0060, -0.0060; mean -0.0056333, sd 0.00063509, se 0.00036667,
 * t_0.975(2) = 4.3026527, half-width 0.0015777: [-0.0072110, -0.0040557], excluding 0. */
/* The median of bench timings (GSL): odd and even counts. */
START_TEST(test_median_by_hand) {
    double odd[3] = {3, 1, 2}, even[4] = {4, 1, 3, 2};
    ck_assert_double_eq(stats_median(odd, 3), 2);
    ck_assert_double_eq(stats_median(even, 4), 2.5);
}
END_TEST

START_TEST(test_paired_by_hand) {
    double x[] = {1.0 - 0.0049, 2.0 - 0.0060, 3.0 - 0.0060}, y[] = {1, 2, 3};
    Interval r = stats_paired_ci95(x, y, 3);
    ck_assert_int_eq(r.n, 3);
    ck_assert_double_eq_tol(r.delta, -0.0056333333, 1e-9);
    ck_assert_double_eq_tol(r.half_width, 4.30265273 * 0.00063508530 / sqrt(3), 1e-8);
    ck_assert(r.delta + r.half_width < 0); /* excludes 0 */
    /* t = 0.0056333 / 0.00036667 = 15.364 on 2 df: p = 2 Q = 1 - t / sqrt(2 + t^2) */
    double t = 0.0056333333 / (0.00063508530 / sqrt(3));
    ck_assert_double_eq_tol(r.p, 1 - t / sqrt(2 + t * t), 1e-7);
    /* the same numbers unpaired: Welch's interval is wide and contains 0 */
    Interval w = stats_welch(x, 3, y, 3);
    ck_assert(w.delta - w.half_width < 0 && w.delta + w.half_width > 0);
    /* one pair: no interval; identical differences: zero width */
    ck_assert(isnan(stats_paired_ci95(x, y, 1).half_width));
    double z[] = {2, 3, 4};
    Interval c = stats_paired_ci95(z, y, 3);
    ck_assert(c.half_width == 0 && c.p == 0 && c.delta == 1);
}
END_TEST

/* Holm on p = {0.01, 0.04, 0.03, 0.20, NaN} (m = 4): sorted 0.01, 0.03, 0.04, 0.20 give
 * 4*0.01 = 0.04, 3*0.03 = 0.09, max(0.09, 2*0.04 = 0.08) = 0.09, max(0.09, 0.20) = 0.20. */
START_TEST(test_holm_by_hand) {
    double p[] = {0.01, 0.04, 0.03, 0.20, NAN}, a[5];
    stats_holm(p, 5, a);
    ck_assert_double_eq_tol(a[0], 0.04, 1e-12);
    ck_assert_double_eq_tol(a[2], 0.09, 1e-12);
    ck_assert_double_eq_tol(a[1], 0.09, 1e-12);
    ck_assert_double_eq_tol(a[3], 0.20, 1e-12);
    ck_assert(isnan(a[4]));
    double q[] = {0.6, 0.5}, b[2];
    stats_holm(q, 2, b); /* capped at 1 */
    ck_assert(b[0] == 1 && b[1] == 1);
}
END_TEST

START_TEST(test_ablate_runs_and_resumes) {
    char *out = tu_tempdir(), args[2048], path[2048];
    static char buf[65536];
    snprintf(args, sizeof args,
             "ablate --variants prenorm,attnres_full --seeds 3,4 --name exp n_layer=1 d_model=16 "
             "n_head=2 seq_len=16 batch_size=2 steps=6 eval_every=3 eval_tokens=32 out=%s",
             out);
    ck_assert_msg(tu_run_cli(args, buf, sizeof buf) == 0, "%s", buf);
    ck_assert_msg(strstr(buf, "delta vs prenorm") && strstr(buf, "attnres_full"), "%s", buf);
    /* the console table and report.md are one table: the same paired interval in both */
    const char *row = strstr(buf, "\nattnres_full ");
    ck_assert_msg(row && strstr(row, "(2 pairs)"), "%s", buf);
    char interval[128];
    const char *open = strchr(row + 1, '[') - 8, *close = strstr(row, "(2 pairs)") + 9;
    while (*open == ' ') open++;
    ck_assert(close > open && close - open < (long)sizeof interval);
    snprintf(interval, sizeof interval, "%.*s", (int)(close - open), open);
    snprintf(path, sizeof path, "%s/exp/report.md", out);
    char *md = tu_read(path);
    ck_assert_msg(md && strstr(md, interval), "report.md lacks '%s'", interval);
    snprintf(path, sizeof path, "%s/exp/summary.csv", out);
    CsvTable t;
    ck_assert_msg(csv_load(path, &t) == 0, "%s", rb_error());
    ck_assert_int_eq((int)csv_nrows(&t), 4);
    int cv = csv_col(&t, "variant"), cs = csv_col(&t, "seed"), ct = csv_col(&t, "tokens"),
        cf = csv_col(&t, "flops"), cl = csv_col(&t, "final_val_loss");
    const char *order[4][2] = {
        {"prenorm", "3"}, {"attnres_full", "3"}, {"prenorm", "4"}, {"attnres_full", "4"}};
    double loss[4];
    for (size_t r = 0; r < 4; r++) {
        ck_assert_str_eq(csv_cell(&t, r, cv), order[r][0]);
        ck_assert_str_eq(csv_cell(&t, r, cs), order[r][1]);
        ck_assert_str_eq(csv_cell(&t, r, csv_col(&t, "status")), "ok");
        ck_assert_double_eq(csv_num(&t, r, ct), 6.0 * 2 * 16); /* identical token budget */
        loss[r] = csv_num(&t, r, cl);
        ck_assert(loss[r] > 0 && loss[r] < 6);
    }
    ck_assert(csv_num(&t, 1, cf) > csv_num(&t, 0, cf)); /* AttnRes counts its own FLOPs */
    ck_assert(loss[0] != loss[2]);                      /* seeds differ */
    csv_table_free(&t);
    /* the same command again skips every finished run and reproduces the summary */
    ck_assert_msg(tu_run_cli(args, buf, sizeof buf) == 0, "%s", buf);
    int skipped = 0;
    for (char *p = buf; (p = strstr(p, "already done")); p++) skipped++;
    ck_assert_int_eq(skipped, 4);
    ck_assert(csv_load(path, &t) == 0);
    for (size_t r = 0; r < 4; r++) ck_assert_double_eq(csv_num(&t, r, cl), loss[r]);
    ck_assert_str_eq(csv_cell(&t, 0, csv_col(&t, "status")), "skipped");
    csv_table_free(&t);
    ck_assert_int_eq(tu_run_cli("ablate --variants prenorm,resnet", buf, sizeof buf), 2);
    ck_assert_msg(strstr(buf, "unknown variant 'resnet'"), "%s", buf);
}
END_TEST

/* Arms are variant specs: options make separate arms, labelled by their spec in summary.csv and
 * report.md, each in its own run directory with the option in its config.ini, paired by seed. */
START_TEST(test_ablate_arms_with_options) {
    char *out = tu_tempdir(), args[2048], path[2048];
    static char buf[65536];
    snprintf(args, sizeof args,
             "ablate --variants prenorm,attnres_full,attnres_full:score=sigmoid --seeds 1,2 --name "
             "arms n_layer=1 d_model=16 n_head=2 seq_len=16 batch_size=2 steps=4 eval_tokens=32 "
             "out=%s",
             out);
    ck_assert_msg(tu_run_cli(args, buf, sizeof buf) == 0, "%s", buf);
    ck_assert_msg(strstr(buf, "\nattnres_full:score=sigmoid ") && strstr(buf, "(2 pairs)"), "%s",
                  buf);
    snprintf(path, sizeof path, "%s/arms/attnres_full-score_sigmoid-s2/config.ini", out);
    char *ini = tu_read(path);
    ck_assert_msg(ini && strstr(ini, "variant = attnres_full\nattnres_score = sigmoid\n"), "%s",
                  ini ? ini : "(missing)");
    snprintf(path, sizeof path, "%s/arms/attnres_full-s2/config.ini", out);
    ini = tu_read(path);
    ck_assert(ini && strstr(ini, "attnres_score = softmax"));
    snprintf(path, sizeof path, "%s/arms/summary.csv", out);
    CsvTable t;
    ck_assert(csv_load(path, &t) == 0);
    ck_assert_str_eq(csv_cell(&t, 2, csv_col(&t, "variant")), "attnres_full:score=sigmoid");
    ck_assert_str_eq(csv_cell(&t, 2, csv_col(&t, "run_id")), "attnres_full-score_sigmoid-s1");
    csv_table_free(&t);
    snprintf(path, sizeof path, "%s/arms/report.md", out);
    char *md = tu_read(path);
    ck_assert_msg(md && strstr(md, "| attnres_full:score=sigmoid | 2 |"), "%s", md ? md : "");
    /* figure files name an arm as its run ids do (no ':' or '=' in file names) */
    snprintf(path, sizeof path, "%s/arms/figures/val_attnres_full-score_sigmoid.dat", out);
    ck_assert_msg(tu_read(path) != NULL, "missing %s", path);
    ck_assert_int_eq(
        tu_run_cli("ablate --variants prenorm,attnres_full:score=tanh", buf, sizeof buf), 2);
    ck_assert_msg(strstr(buf, "'tanh' is not allowed (allowed: softmax|sigmoid)"), "%s", buf);
}
END_TEST

/* Without a budget an ablation trains ABLATE_DEFAULT_STEPS = 1000 steps and profiles 4 validation
 * batches (the quick start); a budget given in any form replaces it. */
START_TEST(test_ablate_default_budget) {
    char *out = tu_tempdir(), args[2048], path[2048];
    static char buf[65536];
    const char *tiny = "--variants prenorm --seeds 1 n_layer=1 d_model=16 n_head=2 seq_len=16 "
                       "batch_size=2 eval_tokens=32 threads=1";
    snprintf(args, sizeof args, "ablate %s --name dflt out=%s", tiny, out);
    ck_assert_msg(tu_run_cli(args, buf, sizeof buf) == 0, "%s", buf);
    ck_assert_msg(strstr(buf, "1000 steps each"), "%s", buf);
    snprintf(path, sizeof path, "%s/dflt/summary.csv", out);
    CsvTable t;
    ck_assert(csv_load(path, &t) == 0);
    ck_assert_double_eq(csv_num(&t, 0, csv_col(&t, "tokens")), 1000.0 * 2 * 16);
    csv_table_free(&t);
    snprintf(path, sizeof path, "%s/dflt/prenorm-s1/config.ini", out);
    char *ini = tu_read(path);
    ck_assert_msg(ini && strstr(ini, "\nprofile_batches = 4\n"), "%s", ini ? ini : "");
    snprintf(args, sizeof args, "ablate %s --name tok budget_tokens=320 out=%s", tiny, out);
    ck_assert_msg(tu_run_cli(args, buf, sizeof buf) == 0, "%s", buf);
    ck_assert_msg(strstr(buf, "10 steps each"), "%s", buf);
    /* compare: the two runs (config keys A -> B, results, curves), then the two experiments */
    snprintf(args, sizeof args, "compare %s/dflt/prenorm-s1 %s/tok/prenorm-s1", out, out);
    ck_assert_msg(tu_run_cli(args, buf, sizeof buf) == 0, "%s", buf);
    ck_assert_msg(strstr(buf, "budget_tokens    0  ->  320") && strstr(buf, "final_val_loss"), "%s",
                  buf);
    ck_assert(!strstr(buf, "run_id"));
    snprintf(path, sizeof path, "%s/tok/prenorm-s1/compare/compare_A.dat", out);
    ck_assert(tu_read(path));
    snprintf(args, sizeof args, "compare %s/dflt %s/tok", out, out);
    ck_assert_msg(tu_run_cli(args, buf, sizeof buf) == 0, "%s", buf);
    ck_assert_msg(strstr(buf, "(1 pair)"), "%s", buf);
    snprintf(args, sizeof args, "compare %s/dflt %s/tok/prenorm-s1", out, out);
    ck_assert_int_eq(tu_run_cli(args, buf, sizeof buf), 2);
    ck_assert_msg(strstr(buf, "compare like with like"), "%s", buf);
}
END_TEST

/* The equivalence margin is stated in experiment.ini when the experiment is created, may change
 * while no run has finished, and is refused in one line once one has (docs/statistics.md
 * section 5): a margin is never tuned after seeing results. */
START_TEST(test_ablate_margin_fixed_before_runs) {
    char *out = tu_tempdir(), args[2048], path[2048];
    static char buf[65536];
    const char *tiny = "--variants prenorm,attnres_full --seeds 1,2 --name m n_layer=1 d_model=16 "
                       "n_head=2 seq_len=16 batch_size=2 steps=4 eval_tokens=32 threads=1";
    snprintf(path, sizeof path, "%s/m/experiment.ini", out);
    snprintf(args, sizeof args, "ablate %s --jobs %s/jobs.txt equivalence_margin=0.01 out=%s", tiny,
             out, out);
    ck_assert_msg(tu_run_cli(args, buf, sizeof buf) == 0, "%s", buf);
    char *ini = tu_read(path);
    ck_assert_msg(ini && strstr(ini, "\nequivalence_margin = 0.01\n"), "%s", ini ? ini : "");
    /* no run finished yet: the margin may still be restated */
    snprintf(args, sizeof args, "ablate %s equivalence_margin=0.02 out=%s", tiny, out);
    ck_assert_msg(tu_run_cli(args, buf, sizeof buf) == 0, "%s", buf);
    ini = tu_read(path);
    ck_assert_msg(ini && strstr(ini, "\nequivalence_margin = 0.02\n"), "%s", ini ? ini : "");
    snprintf(path, sizeof path, "%s/m/report.md", out);
    char *md = tu_read(path);
    ck_assert_msg(md && strstr(md, "(experiment.ini `equivalence_margin`): 0.02 nats"), "%s",
                  md ? md : "");
    /* four runs finished: another margin, or none, is refused in one line; the same one resumes */
    const char *other[] = {"equivalence_margin=0.03", "", "equivalence_margin=0"};
    for (int i = 0; i < 3; i++) {
        snprintf(args, sizeof args, "ablate %s %s out=%s", tiny, other[i], out);
        ck_assert_int_eq(tu_run_cli(args, buf, sizeof buf), 2);
        ck_assert_msg(strstr(buf, "equivalence_margin = 0.02 was fixed before the runs and 4 of "
                                  "them finished") &&
                          strchr(buf, '\n') == buf + strlen(buf) - 1,
                      "%s", buf);
    }
    snprintf(path, sizeof path, "%s/m/experiment.ini", out);
    ini = tu_read(path);
    ck_assert(ini && strstr(ini, "\nequivalence_margin = 0.02\n"));
    snprintf(args, sizeof args, "ablate %s equivalence_margin=0.02 out=%s", tiny, out);
    ck_assert_msg(tu_run_cli(args, buf, sizeof buf) == 0, "%s", buf);
}
END_TEST

/* The arm list grammar (cli_arm_list): a piece with '=' and no ':' before it continues the
 * previous arm's options; arms are stored canonically, of any length a spec can have. */
START_TEST(test_arm_grammar) {
    variants_install();
    static char arms[8][RB_ARM_MAX];
    ck_assert_int_eq(
        cli_arm_list("prenorm,attnres_full:query=input,heads=4,attnres_block", arms, 8), 3);
    ck_assert_str_eq(arms[0], "prenorm");
    ck_assert_str_eq(arms[1], "attnres_full:query=input,heads=4");
    ck_assert_str_eq(arms[2], "attnres_block");
    /* canonical: short option names, values as config.ini writes them */
    ck_assert_int_eq(cli_arm_list("attnres_block:attnres_blocks=02,score=sigmoid", arms, 8), 1);
    ck_assert_str_eq(arms[0], "attnres_block:blocks=2,score=sigmoid");
    /* longer than the old 31-character cap */
    const char *longarm = "attnres_full:score=sigmoid,keynorm=off,query=input,window=2,heads=2";
    ck_assert_int_eq(cli_arm_list(longarm, arms, 8), 1);
    ck_assert_str_eq(arms[0], longarm);
    /* refusals, one line each */
    ck_assert_int_eq(cli_arm_list("attnres_full,heads=4", arms, 8), -1);
    ck_assert_msg(strstr(rb_error(), "'heads=4' continues no arm's options"), "%s", rb_error());
    ck_assert_int_eq(cli_arm_list("heads=4", arms, 8), -1);
    ck_assert_int_eq(cli_arm_list("attnres_block:blocks=2,blocks=3", arms, 8), -1);
    ck_assert_msg(strstr(rb_error(), "option 'blocks' is given twice"), "%s", rb_error());
    ck_assert_int_eq(cli_arm_list("attnres_block:blocks=2,attnres_block:blocks=02", arms, 8), -1);
    ck_assert_msg(strstr(rb_error(), "'attnres_block:blocks=2' is given twice"), "%s", rb_error());
    ck_assert_int_eq(cli_arm_list("attnres_block:nope=2", arms, 8), -1);
    ck_assert_int_eq(cli_arm_list("prenorm,,mhc", arms, 8), -1);
    ck_assert_int_eq(cli_arm_list("resnet", arms, 8), -1);
    ck_assert_int_eq(cli_arm_list("prenorm,mhc,hc", arms, 2), -1);
    ck_assert_msg(strstr(rb_error(), "more than 2 arms"), "%s", rb_error());
}
END_TEST

/* Run ids and file names of arms are portable ([a-z0-9_-]) and injective: the registry's option
 * names hold no '_' or '-' and its values no '-' (the invariant the mapping relies on), and the
 * file names of every arm with one or two options at two values each are distinct. */
START_TEST(test_arm_file_names_injective) {
    variants_install();
    enum { MAX = 4096 };
    static char names[MAX][RB_ARM_MAX], files[MAX][RB_ARM_MAX];
    int n = 0;
    for (int i = 0; rb_variants[i]; i++) {
        const VariantOps *v = rb_variants[i];
        ck_assert(!strpbrk(v->name, "-:=,"));
        rb_copy_str(names[n++], RB_ARM_MAX, v->name);
        for (int a = 0; a < v->n_options; a++) {
            const VariantOption *o = &v->options[a];
            ck_assert_msg(!strpbrk(o->name, "_-:=,"), "option name %s", o->name);
            ck_assert(o->min >= 0);
            for (int c = 0; o->choices && o->choices[c]; c++)
                ck_assert(!strpbrk(o->choices[c], "-:=,"));
            for (int b = a; b < v->n_options; b++)
                for (int x = 0; x < 2; x++)
                    for (int y = 0; y < (b > a ? 2 : 1); y++) {
                        char spec[RB_ARM_MAX];
                        const VariantOption *p = &v->options[b];
                        double va = x ? o->max : o->min, vb = y ? p->max : p->min;
                        int len = snprintf(spec, sizeof spec, "%s:%s=%g", v->name, o->name, va);
                        if (b > a) snprintf(spec + len, sizeof spec - len, ",%s=%g", p->name, vb);
                        static char one[1][RB_ARM_MAX];
                        if (cli_arm_list(spec, one, 1) != 1) continue; /* e.g. both at min */
                        ck_assert(n < MAX);
                        memcpy(names[n++], one[0], RB_ARM_MAX);
                    }
        }
    }
    for (int i = 0; i < n; i++) {
        ck_assert(exp_arm_file_name(files[i], RB_ARM_MAX, names[i]) == 0);
        ck_assert_msg(strspn(files[i], "abcdefghijklmnopqrstuvwxyz0123456789_-") ==
                          strlen(files[i]),
                      "%s", files[i]);
        for (int j = 0; j < i; j++)
            if (strcmp(names[i], names[j]))
                ck_assert_msg(strcmp(files[i], files[j]), "%s and %s: %s", names[i], names[j],
                              files[i]);
    }
    printf("%d arms, all file names distinct\n", n);
    char id[256];
    ck_assert(exp_arm_run_id(id, sizeof id, "attnres_full:score=sigmoid", 3) == 0);
    ck_assert_str_eq(id, "attnres_full-score_sigmoid-s3");
}
END_TEST

/* Statistics keep every sample: 1025 pairs (the old cut was 1024), 257 p-values (256). */
START_TEST(test_stats_past_old_limits) {
    enum { N = 1025 };
    static double x[N], y[N], p[N], adj[N];
    static Sample sx[N], sy[N];
    for (int i = 0; i < N; i++) {
        x[i] = i == N - 1 ? 1025 : 0; /* only the last pair differs */
        y[i] = 0;
        sx[i] = (Sample){1 + x[i], (uint64_t)(i + 1)};
        sy[i] = (Sample){1, (uint64_t)(i + 1)};
        p[i] = i == 256 ? 0.001 : 0.5;
    }
    ck_assert_double_eq_tol(stats_paired_ci95(x, y, N).delta, 1.0, 1e-12);
    ck_assert_int_eq(stats_paired_ci95(x, y, N).n, N);
    Comparison c = claim_compare(sx, N, sy, N, 1);
    ck_assert(c.paired && c.n == N);
    ck_assert_double_eq_tol(c.delta, 1.0, 1e-12);
    stats_holm(p, 257, adj);
    ck_assert_double_eq_tol(adj[256], 257 * 0.001, 1e-12);
    static Comparison fam[257];
    for (int i = 0; i < 257; i++) fam[i] = (Comparison){.p = p[i], .delta = -1};
    claim_holm(fam, 257, 1);
    ck_assert_double_eq_tol(fam[256].p_holm, 0.257, 1e-12);
    ck_assert_int_eq(fam[256].verdict_holm, VD_INCONCLUSIVE);
}
END_TEST

/* Replaces the git_rev line of DIR/meta.ini (rev NULL: removes meta.ini). */
static void set_build(const char *dir, const char *rev) {
    char path[4096];
    snprintf(path, sizeof path, "%s/meta.ini", dir);
    if (!rev) {
        ck_assert(remove(path) == 0);
        return;
    }
    char *text = tu_read(path), out[8192];
    ck_assert(text);
    char *k = strstr(text, "git_rev = "), *end = strchr(k, '\n');
    snprintf(out, sizeof out, "%.*sgit_rev = %s%s", (int)(k - text), text, rev, end);
    ck_assert(tu_write(path, out, strlen(out)) == 0);
}

/* An arm with four options (longer than the old 31-character cap) end to end, and provenance: the
 * table and the report name the builds of the runs (meta.ini git_rev) and flag each pair (same
 * seed, two arms) made by different builds; a run without meta.ini is of an unknown build. */
START_TEST(test_ablate_builds_and_long_arm) {
    char *out = tu_tempdir(), args[2048], path[2048];
    static char buf[65536];
    const char *arm = "attnres_full:score=sigmoid,keynorm=off,query=input,heads=2";
    snprintf(args, sizeof args,
             "ablate --variants prenorm,%s --seeds 1,2 --name b n_layer=1 d_model=16 n_head=2 "
             "seq_len=16 batch_size=2 steps=4 eval_tokens=32 threads=1 out=%s",
             arm, out);
    ck_assert_msg(tu_run_cli(args, buf, sizeof buf) == 0, "%s", buf);
    ck_assert_msg(!strstr(buf, "WARNING") &&
                      strstr(buf, "Builds (meta.ini git_rev of each run): ") &&
                      strstr(buf, " (4 runs)."),
                  "%s", buf);
    snprintf(path, sizeof path, "%s/b/summary.csv", out);
    CsvTable t;
    ck_assert(csv_load(path, &t) == 0);
    ck_assert_str_eq(csv_cell(&t, 1, csv_col(&t, "variant")), arm);
    ck_assert_str_eq(csv_cell(&t, 1, csv_col(&t, "run_id")),
                     "attnres_full-score_sigmoid-keynorm_off-query_input-heads_2-s1");
    csv_table_free(&t);
    snprintf(path, sizeof path,
             "%s/b/attnres_full-score_sigmoid-keynorm_off-query_input-heads_2-s1/config.ini", out);
    char *ini = tu_read(path);
    ck_assert(ini && strstr(ini, "attnres_keynorm = off") && strstr(ini, "attnres_heads = 2"));
    /* seed 2's prenorm run made by another build; seed 1's arm run of an unknown one */
    snprintf(path, sizeof path, "%s/b/prenorm-s2", out);
    set_build(path, "edited-build");
    snprintf(path, sizeof path,
             "%s/b/attnres_full-score_sigmoid-keynorm_off-query_input-heads_2-s1", out);
    set_build(path, NULL);
    ck_assert_msg(tu_run_cli(args, buf, sizeof buf) == 0, "%s", buf); /* skips: all done */
    ck_assert_msg(strstr(buf, "edited-build (1 run)") && strstr(buf, "unknown (1 run)") &&
                      strstr(buf, "Build unknown for 1 run: no meta.ini") &&
                      strstr(buf, "WARNING: 2 pair groups (same seed and data order, different "
                                  "arms) were made by different builds") &&
                      strstr(buf, "  seed 2: prenorm (edited-build), ") &&
                      strstr(buf, "  seed 1: prenorm ("),
                  "%s", buf);
    snprintf(path, sizeof path, "%s/b/report.md", out);
    char *md = tu_read(path);
    ck_assert_msg(md && strstr(md, "`edited-build` (1 run)") &&
                      strstr(md, "- seed 2: prenorm (edited-build), "),
                  "%s", md ? md : "");
    snprintf(path, sizeof path, "%s/b/report.json", out);
    char *json = tu_read(path);
    ck_assert_msg(json && strstr(json, "{\"build\":\"edited-build\",\"runs\":1}") &&
                      strstr(json, "\"mixed_build_pairs\":[\"seed 1: "),
                  "%s", json ? json : "");
}
END_TEST

static Suite *ablate_suite(void) {
    Suite *s = suite_create("ablate");
    TCase *tc = tcase_create("ablate");
    tcase_add_checked_fixture(tc, NULL, tu_free_all);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_welch_by_hand);
    tcase_add_test(tc, test_paired_by_hand);
    tcase_add_test(tc, test_holm_by_hand);
    tcase_add_test(tc, test_median_by_hand);
    tcase_add_test(tc, test_ablate_runs_and_resumes);
    tcase_add_test(tc, test_ablate_arms_with_options);
    tcase_add_test(tc, test_ablate_default_budget);
    tcase_add_test(tc, test_ablate_margin_fixed_before_runs);
    tcase_add_test(tc, test_arm_grammar);
    tcase_add_test(tc, test_arm_file_names_injective);
    tcase_add_test(tc, test_stats_past_old_limits);
    tcase_add_test(tc, test_ablate_builds_and_long_arm);
    suite_add_tcase(s, tc);
    return s;
}

RB_TEST_MAIN(ablate_suite)
