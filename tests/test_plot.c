/* `resbench plot` end to end: two tiny runs (prenorm and attnres_full) in an experiment directory
 * give non-empty, valid PNG and SVG figures. Exits 77 (skipped) when gnuplot is not installed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"
#include "train.h"

static void check_png(const char *dir, const char *name) {
    char path[2048];
    snprintf(path, sizeof path, "%s/figures/%s.png", dir, name);
    char *data = tu_read(path);
    ck_assert_msg(data != NULL, "missing %s", path);
    struct stat st;
    ck_assert(stat(path, &st) == 0);
    ck_assert_msg(st.st_size > 4000, "%s is only %ld bytes", path, (long)st.st_size);
    ck_assert_msg(memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0, "%s is not a PNG", path);
    snprintf(path, sizeof path, "%s/figures/%s.svg", dir, name);
    char *svg = tu_read(path);
    ck_assert_msg(svg && strstr(svg, "<svg") && strstr(svg, "</svg>"), "bad %s", path);
}

/* The directory of the run of variant v in out (its id starts with "v-s"). */
static void run_dir_of(const char *out, const char *v, char *dir, size_t n) {
    char pattern[2048];
    snprintf(pattern, sizeof pattern, "ls -d %s/%s-s* 2>/dev/null", out, v);
    FILE *p = popen(pattern, "r");
    ck_assert(p && fgets(dir, (int)n, p));
    pclose(p);
    dir[strcspn(dir, "\n")] = 0;
}

/* routing.gp's data (docs/variants.md, "Routing diagnostics"): known routing.csv and knockout.csv
 * in the attnres_full run give, per consumer with two or more sources at the last step, entropy /
 * log(sources) and the relative depth, and per source the knockout delta (the intact row and an
 * earlier step left out). */
static void check_routing_data(const char *out) {
    char dir[2048], path[2300], buf[8192], text[1024];
    run_dir_of(out, "attnres_full", dir, sizeof dir);
    snprintf(text, sizeof text,
             "step,layer,n_sources,entropy,uniform_entropy\n6,2,2,0.1,%.17g\n12,1,1,0,0\n"
             "12,2,2,%.17g,%.17g\n12,3,3,%.17g,%.17g\n12,4,4,%.17g,%.17g\n",
             log(2.0), 0.5 * log(2.0), log(2.0), 0.25 * log(3.0), log(3.0), log(4.0), log(4.0));
    snprintf(path, sizeof path, "%s/routing.csv", dir);
    ck_assert(tu_write(path, text, strlen(text)) == 0);
    const char *knock = "source,val_loss,delta\n-1,3.0,0\n0,5.5,2.5\n1,2.99,-0.01\n";
    snprintf(path, sizeof path, "%s/knockout.csv", dir);
    ck_assert(tu_write(path, knock, strlen(knock)) == 0);
    char args[2100];
    snprintf(args, sizeof args, "plot %s", out);
    ck_assert_msg(tu_run_cli(args, buf, sizeof buf) == 0, "%s", buf);
    snprintf(path, sizeof path, "%s/figures/routing_attnres_full.dat", out);
    char *dat = tu_read(path);
    ck_assert_msg(dat &&
                      strstr(dat, "\n2 0.5 0.5 0.5 2 0.5\n3 0.25 0.25 0.25 3 0.75\n4 1 1 1 4 1\n"),
                  "%s", dat ? dat : "(missing)");
    snprintf(path, sizeof path, "%s/figures/knockout_attnres_full.dat", out);
    dat = tu_read(path);
    ck_assert_msg(dat && strstr(dat, "\n0 2.5 2.5 2.5 1\n1 -0.01 -0.01 -0.01 1\n") &&
                      !strstr(dat, "\n-1 "),
                  "%s", dat ? dat : "(missing)");
    check_png(out, "routing");
}

START_TEST(test_plot_figures) {
    char *out = tu_tempdir(), args[2048], buf[8192];
    const char *variants[] = {"prenorm", "attnres_full", "mhc"};
    for (int i = 0; i < 3; i++) {
        Config c;
        tu_tiny_config(&c);
        c.steps = 12;
        c.eval_every = 4;
        c.profile_every = 6;
        c.vocab_size = 256; /* byte data */
        tu_set(&c, "variant", variants[i]);
        snprintf(c.out, sizeof c.out, "%s", out);
        TrainResult r;
        ck_assert_msg(train_run(&c, 0, 1, &r) == 0, "%s", rb_error());
    }
    snprintf(args, sizeof args, "plot %s", out);
    int rc = tu_run_cli(args, buf, sizeof buf);
    ck_assert_msg(rc == 0, "plot exited %d: %s", rc, buf);
    ck_assert_msg(strstr(buf, "3 runs, 5 figure groups"), "%s", buf);
    const char *figs[] = {"loss_vs_flops",      "loss_vs_tokens", "dilution", "gradients",
                          "depth_attnres_full", "gains",          "routing"};
    for (int i = 0; i < 7; i++) check_png(out, figs[i]);
    /* an aggregated data file: 12 train rows of prenorm, starting at 2048 ... tokens */
    snprintf(args, sizeof args, "%s/figures/train_prenorm.dat", out);
    char *dat = tu_read(args);
    int lines = 0;
    for (char *p = dat; *p; p++) lines += *p == '\n';
    ck_assert_int_eq(lines, 1 + 12);
    check_routing_data(out);
    /* errors: not a directory, a directory without runs */
    ck_assert_int_eq(tu_run_cli("plot /nonexistent-dir", buf, sizeof buf), 2);
    ck_assert(strstr(buf, "/nonexistent-dir"));
    snprintf(args, sizeof args, "plot %s/figures", out);
    ck_assert_int_eq(tu_run_cli(args, buf, sizeof buf), 2);
    ck_assert(strstr(buf, "holds no run"));
}
END_TEST

/* Final validation loss of VARIANT-sSEED in an experiment, from its result.ini. */
static double final_val(const char *exp, const char *run) {
    char path[2300];
    snprintf(path, sizeof path, "%s/%s/result.ini", exp, run);
    char *text = tu_read(path);
    ck_assert_msg(text != NULL, "missing %s", path);
    const char *at = strstr(text, "final_val_loss = ");
    ck_assert(at);
    return atof(at + strlen("final_val_loss = "));
}

/* --trend over two tiny ablations that differ in n_layer: one CSV row per variant and depth whose
 * delta is the mean of the per-seed differences read from the runs themselves; the figure exists;
 * experiments differing in a second key, a missing --out and a non-numeric key are refused. */
START_TEST(test_plot_trend) {
    char *out = tu_tempdir(), args[8192], buf[8192], exp[2][1024];
    const char *common = "--variants prenorm,attnres_full --seeds 1,2 d_model=16 n_head=2 "
                         "seq_len=16 batch_size=2 steps=6 eval_every=3 eval_tokens=64";
    for (int L = 1; L <= 2; L++) {
        snprintf(args, sizeof args, "ablate %s --name depth%d n_layer=%d out=%s", common, L, L,
                 out);
        ck_assert_msg(tu_run_cli(args, buf, sizeof buf) == 0, "%s", buf);
        snprintf(exp[L - 1], sizeof exp[0], "%s/depth%d", out, L);
    }
    snprintf(args, sizeof args, "plot --trend n_layer --out %s/trend %s %s", out, exp[1], exp[0]);
    ck_assert_msg(tu_run_cli(args, buf, sizeof buf) == 0, "%s", buf);
    snprintf(args, sizeof args, "%s/trend/trend_n_layer.csv", out);
    char *csv = tu_read(args);
    ck_assert(csv);
    for (int L = 1; L <= 2; L++) { /* sorted by n_layer although given in reverse */
        double d = 0;
        for (int s = 1; s <= 2; s++) {
            char a[32], b[32];
            snprintf(a, sizeof a, "attnres_full-s%d", s);
            snprintf(b, sizeof b, "prenorm-s%d", s);
            d += (final_val(exp[L - 1], a) - final_val(exp[L - 1], b)) / 2;
        }
        char row[64];
        snprintf(row, sizeof row, "\n%d,attnres_full,2,", L);
        const char *at = strstr(csv, row);
        ck_assert_msg(at, "no row for n_layer %d in %s", L, csv);
        ck_assert_msg(fabs(atof(at + strlen(row)) - d) < 2e-6, "n_layer %d: %s vs %g", L, at, d);
    }
    ck_assert(strstr(csv, "\n1,") < strstr(csv, "\n2,"));
    snprintf(args, sizeof args, "%s/trend/trend_n_layer.png", out);
    struct stat st;
    ck_assert_msg(stat(args, &st) == 0 && st.st_size > 4000, "no figure %s", args);
    /* refused: a third experiment that also changes d_model, no --out, a non-numeric key */
    snprintf(args, sizeof args, "ablate %s --name wide n_layer=3 d_model=32 out=%s", common, out);
    ck_assert_msg(tu_run_cli(args, buf, sizeof buf) == 0, "%s", buf);
    snprintf(args, sizeof args, "plot --trend n_layer --out %s/t2 %s %s/wide", out, exp[0], out);
    ck_assert_int_eq(tu_run_cli(args, buf, sizeof buf), 2);
    ck_assert_msg(strstr(buf, "also differ in d_model"), "%s", buf);
    snprintf(args, sizeof args, "plot --trend n_layer %s %s", exp[0], exp[1]);
    ck_assert_int_eq(tu_run_cli(args, buf, sizeof buf), 2);
    ck_assert_msg(strstr(buf, "--out"), "%s", buf);
    snprintf(args, sizeof args, "plot --trend data --out %s/t3 %s %s", out, exp[0], exp[1]);
    ck_assert_int_eq(tu_run_cli(args, buf, sizeof buf), 2);
    ck_assert_msg(strstr(buf, "not a number"), "%s", buf);
}
END_TEST

/* One tiny prenorm run in DIR/RUN (config.ini, metrics.csv, ...). */
static void tiny_run(const char *dir, const char *run) {
    Config c;
    tu_tiny_config(&c);
    c.steps = 4;
    c.eval_every = 2;
    c.vocab_size = 256;
    snprintf(c.out, sizeof c.out, "%s", dir);
    snprintf(c.run_id, sizeof c.run_id, "%s", run);
    TrainResult r;
    ck_assert_msg(train_run(&c, 0, 1, &r) == 0, "%s", rb_error());
}

/* A run whose losses are all NaN (a diverged run): one line naming the file and the column, exit
 * 2, instead of gnuplot's "empty x range" warnings. */
START_TEST(test_plot_nan_losses) {
    char *out = tu_tempdir(), args[4096], path[4096], buf[8192];
    tiny_run(out, "nan");
    snprintf(path, sizeof path, "%s/nan/metrics.csv", out);
    char *old = tu_read(path); /* keep the header resbench writes: only the losses change */
    ck_assert(old);
    const char *nl = strchr(old, '\n');
    char text[4096];
    snprintf(text, sizeof text, "%.*s\n", (int)(nl - old), old);
    int cols = 1;
    for (const char *p = old; p < nl; p++) cols += *p == ',';
    for (int step = 1; step <= 2; step++) { /* every cell nan except step, tokens, flops */
        size_t len = strlen(text);
        snprintf(text + len, sizeof text - len, "%d,%d,%d", step, 256 * step, 1000000 * step);
        for (int k = 3; k < cols; k++) strncat(text, ",nan", sizeof text - strlen(text) - 1);
        strncat(text, "\n", sizeof text - strlen(text) - 1);
    }
    ck_assert(tu_write(path, text, strlen(text)) == 0);
    snprintf(args, sizeof args, "plot %s/nan", out);
    ck_assert_int_eq(tu_run_cli(args, buf, sizeof buf), 2);
    ck_assert_msg(strstr(buf, "nan/metrics.csv: column '") &&
                      strstr(buf, "holds no finite value") && !strstr(buf, "empty x range") &&
                      !strchr(strchr(buf, '\n') + 1, '\n'),
                  "%s", buf);
}
END_TEST

/* More runs than the old fixed 512: all are read and drawn. */
START_TEST(test_plot_many_runs) {
    char *out = tu_tempdir(), args[4096], buf[8192];
    tiny_run(out, "r0");
    for (int i = 1; i <= 512; i++) {
        char src[2048];
        snprintf(src, sizeof src, "%s/r0", out);
        snprintf(args, sizeof args, "%s/r%d", out, i);
        ck_assert_msg(tu_copy_tree(src, args) == 0, "copy %s to %s", src, args);
    }
    snprintf(args, sizeof args, "plot %s", out);
    ck_assert_msg(tu_run_cli(args, buf, sizeof buf) == 0, "%s", buf);
    ck_assert_msg(strstr(buf, "plot: 513 runs"), "%s", buf);
    snprintf(args, sizeof args, "%s/figures/val_prenorm.dat", out);
    char *dat = tu_read(args);
    ck_assert_msg(dat && strstr(dat, "over 513 runs") && strstr(dat, " 513\n"), "%s", dat);
}
END_TEST

static Suite *plot_suite(void) {
    Suite *s = suite_create("plot");
    TCase *tc = tcase_create("plot");
    tcase_add_checked_fixture(tc, NULL, tu_free_all);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_plot_figures);
    tcase_add_test(tc, test_plot_trend);
    tcase_add_test(tc, test_plot_nan_losses);
    tcase_add_test(tc, test_plot_many_runs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        printf("gnuplot is not installed: skipping the plot test\n");
        return 77;
    }
    Suite *suite = plot_suite();
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
