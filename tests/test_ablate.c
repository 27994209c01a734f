/* `resbench ablate`: identical budgets across variants and seeds, summary.csv, the table, skipping
 * finished runs on a second invocation; Welch's interval against a hand computation. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "csvread.h"
#include "stats.h"
#include "testutil.h"

/* a = {1,2,3}, b = {4,5,6}: delta -3, se^2 = 1/3 + 1/3, Welch df = (2/3)^2 / (2 * (1/3)^2 / 2) = 4,
 * t_0.975(4) = 2.776, half-width 2.776 * sqrt(2/3) = 2.2666. */
START_TEST(test_welch_by_hand) {
    double a[] = {1, 2, 3}, b[] = {4, 5, 6}, d;
    double hw = stats_welch_ci95(a, 3, b, 3, &d);
    ck_assert_double_eq_tol(d, -3, 1e-12);
    ck_assert_double_eq_tol(hw, 2.776 * sqrt(2.0 / 3), 1e-9);
    ck_assert_double_eq_tol(stats_std(a, 3), 1.0, 1e-12);
    ck_assert(isnan(stats_welch_ci95(a, 1, b, 3, &d)));
    ck_assert_double_eq(stats_t975(1.7), 12.706); /* fractional df rounds down: conservative */
    ck_assert_double_eq(stats_t975(1000), 1.980);
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

static Suite *ablate_suite(void) {
    Suite *s = suite_create("ablate");
    TCase *tc = tcase_create("ablate");
    tcase_add_checked_fixture(tc, NULL, tu_free_all);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_welch_by_hand);
    tcase_add_test(tc, test_ablate_runs_and_resumes);
    suite_add_tcase(s, tc);
    return s;
}

RB_TEST_MAIN(ablate_suite)
