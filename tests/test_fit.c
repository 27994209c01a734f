/* `resbench fit`: the power-law fit recovers a known law from exact points, and the compute
 * multiplier of a variant that reaches prenorm's loss with 1/1.25 of the compute is 1.25. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "csvread.h"
#include "fit.h"
#include "testutil.h"

static const PowerLaw LAW = {20.0, 0.15, 1.0, 0};

START_TEST(test_fit_recovers_law) {
    double C[6], L[6];
    for (int i = 0; i < 6; i++) {
        C[i] = 1e13 * pow(10, i * 0.8);
        L[i] = power_law_loss(&LAW, C[i]);
    }
    PowerLaw f;
    ck_assert(fit_power_law(C, L, 6, &f) == 0);
    ck_assert_msg(fabs(f.a / LAW.a - 1) < 1e-3 && fabs(f.b / LAW.b - 1) < 1e-3 &&
                      fabs(f.c - LAW.c) < 1e-3,
                  "fit a=%g b=%g c=%g", f.a, f.b, f.c);
    ck_assert(f.rmse < 1e-6);
    ck_assert_double_eq_tol(power_law_compute(&f, power_law_loss(&f, 3e14)), 3e14, 3e14 * 1e-6);
    ck_assert(isinf(power_law_compute(&f, 0.5)));
    ck_assert(fit_power_law(C, L, 3, &f) != 0); /* fewer than 4 sizes */
}
END_TEST

/* summary.csv in resbench's format: 5 prenorm sizes x 2 seeds (+-0.002 around the law, so the means
 * are exact) and attnres_block at 3 sizes reaching L(1.25 C). */
static void write_summary(const char *dir, int prenorm_sizes) {
    char path[1024];
    snprintf(path, sizeof path, "%s/summary.csv", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "variant,seed,n_layer,d_model,n_head,seq_len,batch_size,params,tokens,flops,"
               "final_val_loss,best_val_loss,tok_per_s,wall_s,overhead_pct,status\n");
    for (int i = 0; i < prenorm_sizes; i++) {
        double C = 1e13 * pow(10, i * 0.8);
        for (int s = 0; s < 2; s++)
            fprintf(f, "prenorm,%d,%d,%d,4,64,16,1000,1000,%.6e,%.6f,0,1,1,0,ok\n", s + 1, 2 + i,
                    64 * (i + 1), C, power_law_loss(&LAW, C) + (s ? 0.002 : -0.002));
    }
    for (int i = 0; i < 3; i++) {
        double C = 1e14 * pow(10, i);
        fprintf(f, "attnres_block,1,%d,%d,4,64,16,1000,1000,%.6e,%.6f,0,1,1,0,ok\n", 2 + i,
                64 * (i + 1), C, power_law_loss(&LAW, 1.25 * C));
        fprintf(f, "attnres_block,2,%d,%d,4,64,16,1000,1000,%.6e,nan,0,1,1,0,failed\n", 2 + i,
                64 * (i + 1), C);
    }
    fclose(f);
}

START_TEST(test_fit_multiplier) {
    char *dir = tu_tempdir(), args[1024], path[1024];
    static char buf[16384];
    write_summary(dir, 5);
    snprintf(args, sizeof args, "fit %s", dir);
    ck_assert_msg(tu_run_cli(args, buf, sizeof buf) == 0, "%s", buf);
    ck_assert_msg(strstr(buf, "prenorm fit over 5 sizes"), "%s", buf);
    snprintf(path, sizeof path, "%s/fit.csv", dir);
    CsvTable t;
    ck_assert(csv_load(path, &t) == 0);
    int cv = csv_col(&t, "variant"), cm = csv_col(&t, "multiplier_mean");
    int seen = 0;
    for (size_t r = 0; r < csv_nrows(&t); r++) {
        double m = csv_num(&t, r, cm);
        if (!strcmp(csv_cell(&t, r, cv), "attnres_block")) {
            ck_assert_msg(fabs(m - 1.25) < 0.02, "multiplier %g", m);
            seen++;
        } else {
            ck_assert_msg(fabs(m - 1.0) < 0.02, "prenorm multiplier %g", m);
        }
    }
    ck_assert_int_eq(seen, 3);
    csv_table_free(&t);
    write_summary(dir, 3);
    ck_assert_int_eq(tu_run_cli(args, buf, sizeof buf), 2);
    ck_assert_msg(strstr(buf, ">= 4 distinct compute values (found 3"), "%s", buf);
}
END_TEST

static Suite *fit_suite(void) {
    Suite *s = suite_create("fit");
    TCase *tc = tcase_create("fit");
    tcase_add_checked_fixture(tc, NULL, tu_free_all);
    tcase_add_test(tc, test_fit_recovers_law);
    tcase_add_test(tc, test_fit_multiplier);
    suite_add_tcase(s, tc);
    return s;
}

RB_TEST_MAIN(fit_suite)
