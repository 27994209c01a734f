/* `resbench sweep`: matched compute across shapes, summary and table; the job-list path run through
 * GNU parallel (experiments/cluster/parallel.sh) when it is installed, else line by line, then
 * gathered with --gather and by repeating the sweep command. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csvread.h"
#include "testutil.h"

#define TINY                                                                                       \
    "--variants prenorm,attnres_block --layers 1,2 --widths 16,32 n_layer=1 d_model=16 n_head=2 "  \
    "seq_len=16 batch_size=2 steps=6 eval_every=3 eval_tokens=32 attnres_blocks=2 threads=1"

static void check_summary(const char *path, const char *status) {
    CsvTable t;
    ck_assert_msg(csv_load(path, &t) == 0, "%s", rb_error());
    ck_assert_int_eq((int)csv_nrows(&t), 8);
    int cf = csv_col(&t, "flops"), ct = csv_col(&t, "tokens"), cl = csv_col(&t, "n_layer"),
        cd = csv_col(&t, "d_model"), cs = csv_col(&t, "status"), cv = csv_col(&t, "final_val_loss");
    double budget = 0, max_tokens = 0, min_tokens = 1e30;
    for (size_t r = 0; r < 8; r++) budget = fmax(budget, csv_num(&t, r, cf));
    for (size_t r = 0; r < 8; r++) {
        double f = csv_num(&t, r, cf), tok = csv_num(&t, r, ct);
        ck_assert_msg(f <= budget && f > 0.5 * budget, "row %zu flops %g vs %g", r, f, budget);
        max_tokens = fmax(max_tokens, tok);
        min_tokens = fmin(min_tokens, tok);
        ck_assert_str_eq(csv_cell(&t, r, cs), status);
        ck_assert(csv_num(&t, r, cv) > 0);
        ck_assert(csv_num(&t, r, cl) >= 1 && csv_num(&t, r, cd) >= 16);
        /* 6 steps or fewer at warmup 40: every shape is flagged */
        ck_assert_msg(strstr(csv_cell(&t, r, csv_col(&t, "warning")), " steps < warmup 40"),
                      "row %zu: '%s'", r, csv_cell(&t, r, csv_col(&t, "warning")));
    }
    ck_assert(max_tokens > min_tokens); /* the smaller shapes see more tokens for the same FLOPs */
    csv_table_free(&t);
}

/* deltas.csv recomputed from summary.csv: attnres_block minus prenorm paired by shape (one seed),
 * pooled over the other axis: 2 pairs per value, interval t(0.975, 1) x sd / sqrt(2). */
static void check_deltas(const char *out) {
    char path[2048];
    CsvTable t, d;
    snprintf(path, sizeof path, "%s/local/summary.csv", out);
    ck_assert_msg(csv_load(path, &t) == 0, "%s", rb_error());
    double loss[2][2][2]; /* [variant][n_layer - 1][d_model == 32] */
    for (size_t r = 0; r < csv_nrows(&t); r++)
        loss[!strcmp(csv_cell(&t, r, csv_col(&t, "variant")), "attnres_block")]
            [(int)csv_num(&t, r, csv_col(&t, "n_layer")) - 1]
            [csv_num(&t, r, csv_col(&t, "d_model")) == 32] =
                csv_num(&t, r, csv_col(&t, "final_val_loss"));
    snprintf(path, sizeof path, "%s/local/deltas.csv", out);
    ck_assert_msg(csv_load(path, &d) == 0, "%s", rb_error());
    ck_assert_int_eq((int)csv_nrows(&d), 4);
    for (size_t r = 0; r < 4; r++) {
        int depth = !strcmp(csv_cell(&d, r, csv_col(&d, "axis")), "n_layer");
        int v = (int)csv_num(&d, r, csv_col(&d, "value"));
        double a, b; /* the two paired differences along the other axis */
        if (depth) {
            a = loss[1][v - 1][0] - loss[0][v - 1][0];
            b = loss[1][v - 1][1] - loss[0][v - 1][1];
        } else {
            a = loss[1][0][v == 32] - loss[0][0][v == 32];
            b = loss[1][1][v == 32] - loss[0][1][v == 32];
        }
        double mean = (a + b) / 2, half = 12.706204736174707 * fabs(a - b) / 2; /* sd/sqrt2 */
        ck_assert_int_eq((int)csv_num(&d, r, csv_col(&d, "pairs")), 2);
        ck_assert_double_eq_tol(csv_num(&d, r, csv_col(&d, "delta")), mean, 1e-5);
        ck_assert_double_eq_tol(csv_num(&d, r, csv_col(&d, "lo")), mean - half, 1e-5);
        ck_assert_double_eq_tol(csv_num(&d, r, csv_col(&d, "hi")), mean + half, 1e-5);
    }
    csv_table_free(&t);
    csv_table_free(&d);
}

START_TEST(test_sweep_local) {
    char *out = tu_tempdir(), args[2048], path[2048];
    static char buf[65536];
    snprintf(args, sizeof args, "sweep " TINY " --name local out=%s", out);
    ck_assert_msg(tu_run_cli(args, buf, sizeof buf) == 0, "%s", buf);
    ck_assert_msg(strstr(buf, "best prenorm shape") && strstr(buf, "best attnres_block shape"),
                  "%s", buf);
    ck_assert_msg(strstr(buf, "optimizer steps / training tokens per shape") &&
                      strstr(buf, "warning: prenorm-L1-d16-s1: 6 steps < warmup 40") &&
                      strstr(buf, "attnres_block minus prenorm"),
                  "%s", buf);
    snprintf(path, sizeof path, "%s/local/summary.csv", out);
    check_summary(path, "ok");
    check_deltas(out);
}
END_TEST

START_TEST(test_sweep_job_list) {
    char *out = tu_tempdir(), args[2048], jobs[1024], path[2048], cmd[4096];
    static char buf[65536];
    snprintf(jobs, sizeof jobs, "%s/jobs.txt", out);
    snprintf(args, sizeof args, "sweep " TINY " --name cluster --jobs %s out=%s", jobs, out);
    ck_assert_msg(tu_run_cli(args, buf, sizeof buf) == 0, "%s", buf);
    char *text = tu_read(jobs);
    int lines = 0;
    for (char *p = text; *p; p++) lines += *p == '\n';
    ck_assert_int_eq(lines, 8);
    if (system("command -v parallel >/dev/null 2>&1") == 0) {
        printf("running the job list with GNU parallel\n");
        snprintf(cmd, sizeof cmd, "%s/experiments/cluster/parallel.sh %s 2 >/dev/null",
                 RB_SOURCE_DIR, jobs);
    } else {
        printf("GNU parallel is not installed: running the job list line by line\n");
        snprintf(cmd, sizeof cmd, "bash -e %s >/dev/null", jobs);
    }
    ck_assert_int_eq(system(cmd), 0);
    /* --gather: the runs' results, nothing trained (status ok: trained by their jobs) */
    snprintf(args, sizeof args, "sweep " TINY " --name cluster --gather out=%s", out);
    ck_assert_msg(tu_run_cli(args, buf, sizeof buf) == 0, "%s", buf);
    ck_assert_msg(strstr(buf, "gathered from") && !strstr(buf, "already done"), "%s", buf);
    snprintf(path, sizeof path, "%s/cluster/summary.csv", out);
    check_summary(path, "ok");
    /* the same command without --jobs or --gather finds every run finished */
    snprintf(args, sizeof args, "sweep " TINY " --name cluster out=%s", out);
    ck_assert_msg(tu_run_cli(args, buf, sizeof buf) == 0, "%s", buf);
    int done = 0;
    for (char *p = buf; (p = strstr(p, "already done")); p++) done++;
    ck_assert_int_eq(done, 8);
    snprintf(path, sizeof path, "%s/cluster/summary.csv", out);
    check_summary(path, "skipped");
}
END_TEST

/* The best shape's seed-noise neighbourhood, recomputed from summary.csv: the pooled within-shape
 * sd of 2 seeds over 4 shapes (4 df), threshold t(0.975, 4) x sd x sqrt(2/2), and the set of
 * shapes whose mean is less than the threshold above the best. */
START_TEST(test_sweep_seed_noise) {
    char *out = tu_tempdir(), args[2048], path[2048];
    static char buf[65536];
    snprintf(args, sizeof args,
             "sweep --variants prenorm --seeds 1,2 --layers 1,2 --widths 16,32 n_layer=1 "
             "d_model=16 n_head=2 seq_len=16 batch_size=2 steps=40 warmup=4 eval_every=20 "
             "eval_tokens=64 threads=1 --name noise out=%s",
             out);
    ck_assert_msg(tu_run_cli(args, buf, sizeof buf) == 0, "%s", buf);
    ck_assert_msg(strstr(buf, "within seed noise of the best"), "%s", buf);
    CsvTable t, b;
    snprintf(path, sizeof path, "%s/noise/summary.csv", out);
    ck_assert_msg(csv_load(path, &t) == 0, "%s", rb_error());
    ck_assert_int_eq((int)csv_nrows(&t), 8);
    int cl = csv_col(&t, "n_layer"), cd = csv_col(&t, "d_model"),
        cv = csv_col(&t, "final_val_loss");
    double sum[2][2] = {{0}}, sq[2][2] = {{0}};
    for (size_t r = 0; r < 8; r++) {
        int l = (int)csv_num(&t, r, cl) - 1, w = csv_num(&t, r, cd) == 32;
        double x = csv_num(&t, r, cv);
        sum[l][w] += x;
        sq[l][w] += x * x;
    }
    double ss = 0, best = INFINITY;
    for (int l = 0; l < 2; l++)
        for (int w = 0; w < 2; w++) {
            ss += sq[l][w] - sum[l][w] * sum[l][w] / 2;
            best = fmin(best, sum[l][w] / 2);
        }
    double sd = sqrt(ss / 4), thr = 2.7764451051977987 * sd; /* t(0.975, 4 df) */
    char expect[256] = "";
    for (int l = 0; l < 2; l++)
        for (int w = 0; w < 2; w++)
            if (sum[l][w] / 2 - best < thr)
                snprintf(expect + strlen(expect), sizeof expect - strlen(expect), "%sL%d-d%d",
                         expect[0] ? " " : "", l + 1, w ? 32 : 16);
    snprintf(path, sizeof path, "%s/noise/best.csv", out);
    ck_assert_msg(csv_load(path, &b) == 0, "%s", rb_error());
    ck_assert_int_eq((int)csv_nrows(&b), 1);
    ck_assert_str_eq(csv_cell(&b, 0, csv_col(&b, "variant")), "prenorm");
    ck_assert_double_eq_tol(csv_num(&b, 0, csv_col(&b, "val_loss")), best, 1e-5);
    ck_assert_double_eq_tol(csv_num(&b, 0, csv_col(&b, "seed_sd")), sd, 1e-6 + 1e-4 * sd);
    ck_assert_int_eq((int)csv_num(&b, 0, csv_col(&b, "seed_df")), 4);
    ck_assert_double_eq_tol(csv_num(&b, 0, csv_col(&b, "noise_threshold")), thr, 1e-6 + 1e-4 * thr);
    ck_assert_str_eq(csv_cell(&b, 0, csv_col(&b, "near_best")), expect);
    snprintf(path, sizeof path, "%s/noise/figures/sweep_near_prenorm.dat", out);
    char *near = tu_read(path);
    int rows = 0;
    for (char *p = near; *p; p++) rows += *p == '\n';
    ck_assert_int_eq(rows - 1, (int)(strlen(expect) + 1) / 7); /* one line per "Lx-dyy" */
    csv_table_free(&t);
    csv_table_free(&b);
}
END_TEST

START_TEST(test_sweep_errors) {
    static char buf[8192];
    ck_assert_int_eq(tu_run_cli("sweep --widths 16,20 d_model=16 n_head=2", buf, sizeof buf), 2);
    ck_assert_msg(strstr(buf, "not a multiple of the head size"), "%s", buf);
    ck_assert_int_eq(tu_run_cli("sweep --layers two", buf, sizeof buf), 2);
    ck_assert_msg(strstr(buf, "--layers"), "%s", buf);
}
END_TEST

#define ARM_SHAPE                                                                                  \
    "n_head=2 seq_len=16 batch_size=2 steps=6 warmup=2 eval_every=3 eval_tokens=32 threads=1"

/* Count of lines of text that start with prefix. */
static int lines_starting(const char *text, const char *prefix) {
    int n = 0;
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        n += !strncmp(p, prefix, strlen(prefix));
    return n;
}

/* Two arms of one variant (attnres_block with its default 4 blocks, and 2 blocks) through every
 * command that names, groups, pairs, plots or reports runs: sweep, plot, plot --trend, report and
 * compare keep them apart (fit: test_fit.c, test_fit_arms_stay_apart). */
START_TEST(test_arms_stay_separate) {
    char *out = tu_tempdir(), args[4096], path[4096];
    static char buf[262144];
    const char *arm2 = "attnres_block:blocks=2";
    /* sweep: the arms' runs were one run id (VARIANT-L-d-s) before */
    snprintf(args, sizeof args,
             "sweep --variants attnres_block,%s --layers 2 --widths 16,32 n_layer=2 "
             "d_model=16 " ARM_SHAPE " --name sw out=%s",
             arm2, out);
    ck_assert_msg(tu_run_cli(args, buf, sizeof buf) == 0, "%.3000s", buf);
    ck_assert_msg(strstr(buf, "best attnres_block shape") &&
                      strstr(buf, "best attnres_block:blocks=2 shape") &&
                      strstr(buf, "Builds (meta.ini git_rev of each run): ") &&
                      strstr(buf, " (4 runs)."),
                  "%.3000s", buf);
    CsvTable t;
    snprintf(path, sizeof path, "%s/sw/summary.csv", out);
    ck_assert(csv_load(path, &t) == 0);
    ck_assert_int_eq((int)csv_nrows(&t), 4);
    int per_arm[2] = {0};
    for (size_t r = 0; r < 4; r++) {
        const char *v = csv_cell(&t, r, csv_col(&t, "variant"));
        per_arm[!strcmp(v, arm2)]++;
        for (size_t q = 0; q < r; q++) /* every run its own directory */
            ck_assert_str_ne(csv_cell(&t, r, csv_col(&t, "run_id")),
                             csv_cell(&t, q, csv_col(&t, "run_id")));
    }
    ck_assert(per_arm[0] == 2 && per_arm[1] == 2);
    csv_table_free(&t);
    snprintf(path, sizeof path, "%s/sw/attnres_block-blocks_2-L2-d16-s1/config.ini", out);
    char *ini = tu_read(path);
    ck_assert_msg(ini && strstr(ini, "attnres_blocks = 2"), "%s", path);
    snprintf(path, sizeof path, "%s/sw/attnres_block-L2-d16-s1/config.ini", out);
    ck_assert((ini = tu_read(path)) && strstr(ini, "attnres_blocks = 4"));
    snprintf(path, sizeof path, "%s/sw/figures/sweep_attnres_block-blocks_2.dat", out);
    ck_assert_msg(tu_read(path), "no %s", path);
    snprintf(path, sizeof path, "%s/sw/best.csv", out);
    ck_assert(csv_load(path, &t) == 0 && csv_nrows(&t) == 2);
    ck_assert_str_eq(csv_cell(&t, 1, csv_col(&t, "variant")), arm2);
    csv_table_free(&t);
    /* two ablations (n_layer 2 and 4) of prenorm and both arms */
    for (int L = 2; L <= 4; L += 2) {
        snprintf(args, sizeof args,
                 "ablate --variants prenorm,attnres_block,%s --seeds 1,2 --name d%d n_layer=%d "
                 "d_model=16 " ARM_SHAPE " out=%s",
                 arm2, L, L, out);
        ck_assert_msg(tu_run_cli(args, buf, sizeof buf) == 0, "%.3000s", buf);
        ck_assert_msg(lines_starting(buf, "attnres_block:blocks=2  2 ") == 1 &&
                          lines_starting(buf, "attnres_block ") == 1,
                      "%.3000s", buf);
        snprintf(path, sizeof path, "%s/d%d/report.md", out, L);
        char *rep = tu_read(path);
        const char *abl = rep ? strstr(rep, "## Ablation") : NULL; /* one row per arm */
        ck_assert_msg(abl && strstr(abl, "\n| attnres_block:blocks=2 | 2 |") &&
                          strstr(abl, "\n| attnres_block | 2 |"),
                      "%.3000s", rep);
        snprintf(path, sizeof path, "%s/d%d/figures/depth_attnres_block-blocks_2.png", out, L);
        if (tu_read(path)) /* gnuplot drew it: the report links every arm's figure */
            ck_assert_msg(strstr(rep, "(figures/depth_attnres_block-blocks_2.png)") &&
                              strstr(rep, "(figures/depth_attnres_block.png)"),
                          "%.3000s", rep);
    }
    /* plot of two run directories outside their experiment: labelled by arm, not by variant */
    snprintf(args, sizeof args,
             "plot --out %s/pl %s/d2/attnres_block-s1 %s/d2/attnres_block-blocks_2-s1", out, out,
             out);
    int rc = tu_run_cli(args, buf, sizeof buf);
    ck_assert_msg(rc == 0 || strstr(buf, "gnuplot"), "%.3000s", buf);
    snprintf(path, sizeof path, "%s/pl/val_attnres_block-blocks_2.dat", out);
    char *a2 = tu_read(path);
    snprintf(path, sizeof path, "%s/pl/val_attnres_block.dat", out);
    char *a1 = tu_read(path);
    ck_assert_msg(a1 && a2 && strcmp(a1, a2) && strstr(a1, "over 1 runs") &&
                      strstr(a2, "over 1 runs"),
                  "%.3000s", buf);
    /* plot --trend: one line per arm */
    snprintf(args, sizeof args, "plot --trend n_layer --out %s/tr %s/d2 %s/d4", out, out, out);
    rc = tu_run_cli(args, buf, sizeof buf);
    ck_assert_msg(rc == 0 || strstr(buf, "gnuplot"), "%.3000s", buf);
    snprintf(path, sizeof path, "%s/tr/trend_n_layer.csv", out);
    ck_assert(csv_load(path, &t) == 0);
    per_arm[0] = per_arm[1] = 0;
    for (size_t r = 0; r < csv_nrows(&t); r++)
        per_arm[!strcmp(csv_cell(&t, r, csv_col(&t, "variant")), arm2)]++;
    ck_assert(per_arm[0] == 2 && per_arm[1] == 2);
    csv_table_free(&t);
    snprintf(path, sizeof path, "%s/tr/trend_n_layer_attnres_block-blocks_2.dat", out);
    ck_assert_msg(tu_read(path), "no %s", path);
    /* compare: per arm, paired run by run */
    snprintf(args, sizeof args, "compare %s/d2 %s/d4", out, out);
    ck_assert_msg(tu_run_cli(args, buf, sizeof buf) == 0, "%.3000s", buf);
    ck_assert_msg(lines_starting(buf, "attnres_block:blocks=2 ") == 1 &&
                      lines_starting(buf, "attnres_block  ") == 1 && strstr(buf, "(2 pairs)"),
                  "%.3000s", buf);
}
END_TEST

static Suite *sweep_suite(void) {
    Suite *s = suite_create("sweep");
    TCase *tc = tcase_create("sweep");
    tcase_add_checked_fixture(tc, NULL, tu_free_all);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_sweep_local);
    tcase_add_test(tc, test_sweep_job_list);
    tcase_add_test(tc, test_sweep_seed_noise);
    tcase_add_test(tc, test_sweep_errors);
    tcase_add_test(tc, test_arms_stay_separate);
    suite_add_tcase(s, tc);
    return s;
}

RB_TEST_MAIN(sweep_suite)
