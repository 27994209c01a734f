/* `resbench plot` end to end: two tiny runs (prenorm and attnres_full) in an experiment directory
 * give non-empty, valid PNG and SVG figures. Exits 77 (skipped) when gnuplot is not installed. */
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
    ck_assert_msg(strstr(buf, "3 runs, 4 figure groups"), "%s", buf);
    const char *figs[] = {"loss_vs_flops", "loss_vs_tokens",     "dilution",
                          "gradients",     "depth_attnres_full", "gains"};
    for (int i = 0; i < 6; i++) check_png(out, figs[i]);
    /* an aggregated data file: 12 train rows of prenorm, starting at 2048 ... tokens */
    snprintf(args, sizeof args, "%s/figures/train_prenorm.dat", out);
    char *dat = tu_read(args);
    int lines = 0;
    for (char *p = dat; *p; p++) lines += *p == '\n';
    ck_assert_int_eq(lines, 1 + 12);
    /* errors: not a directory, a directory without runs */
    ck_assert_int_eq(tu_run_cli("plot /nonexistent-dir", buf, sizeof buf), 2);
    ck_assert(strstr(buf, "/nonexistent-dir"));
    snprintf(args, sizeof args, "plot %s/figures", out);
    ck_assert_int_eq(tu_run_cli(args, buf, sizeof buf), 2);
    ck_assert(strstr(buf, "holds no run"));
}
END_TEST

static Suite *plot_suite(void) {
    Suite *s = suite_create("plot");
    TCase *tc = tcase_create("plot");
    tcase_add_checked_fixture(tc, NULL, tu_free_all);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_plot_figures);
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
