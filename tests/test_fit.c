/* `resbench fit`: the power-law fit recovers a known law from exact points, the compute multiplier
 * of a variant that reaches prenorm's loss with 1/1.25 of the compute is 1.25, and the bootstrap
 * interval over two seeds spans exactly the two single-seed multipliers. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "csvread.h"
#include "fit.h"
#include "testutil.h"

static const PowerLaw LAW = {20.0, 0.15, 1.0, 0, 0};

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
static void write_summary_seeds(const char *dir, int prenorm_sizes, int paired);
static void write_summary(const char *dir, int prenorm_sizes) {
    write_summary_seeds(dir, prenorm_sizes, 0);
}

/* paired = 1: attnres_block's seed 2 ran too, at 1.25x compute with prenorm seed 2's shift
 * (+0.002), so every seed's paired multiplier is exactly 1.25. */
static void write_summary_seeds(const char *dir, int prenorm_sizes, int paired) {
    char path[1024];
    snprintf(path, sizeof path, "%s/summary.csv", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "variant,seed,n_layer,d_model,n_head,seq_len,batch_size,params,tokens,flops,"
               "final_val_loss,best_val_loss,tok_per_s,wall_s,overhead_pct,status\n");
    for (int i = 0; i < prenorm_sizes; i++) {
        double C = 1e13 * pow(10, i * 0.8);
        for (int s = 0; s < 2; s++)
            fprintf(f, "prenorm,%d,%d,%d,4,64,16,1000,1000,%.6e,%.6f,0,100,1,0,ok\n", s + 1, 2 + i,
                    64 * (i + 1), C, power_law_loss(&LAW, C) + (s ? 0.002 : -0.002));
    }
    for (int i = 0; i < 3; i++) {
        double C = 1.02e13 * pow(10, i * 0.8); /* 2% more than prenorm's shape at i */
        fprintf(f, "attnres_block,1,%d,%d,4,64,16,1000,1000,%.6e,%.6f,0,80,1,0,ok\n", 2 + i,
                64 * (i + 1), C, power_law_loss(&LAW, 1.25 * C));
        if (paired)
            fprintf(f, "attnres_block,2,%d,%d,4,64,16,1000,1000,%.6e,%.6f,0,80,1,0,ok\n", 2 + i,
                    64 * (i + 1), C, power_law_loss(&LAW, 1.25 * C) + 0.004);
        else
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
    /* the figure's annotation: the law and the pooled multiplier (one seed: no interval) */
    snprintf(path, sizeof path, "%s/figures/fit_annotation.txt", dir);
    const char *ann = tu_read(path);
    ck_assert_msg(ann && strstr(ann, "prenorm: L(C) = ") && strstr(ann, "attnres_block: 1.25x"),
                  "%s", ann ? ann : "(missing)");
    snprintf(path, sizeof path, "%s/fit.csv", dir);
    CsvTable t;
    ck_assert(csv_load(path, &t) == 0);
    int cv = csv_col(&t, "variant"), cm = csv_col(&t, "multiplier"),
        cr = csv_col(&t, "flop_rate_ratio"), cw = csv_col(&t, "wall_multiplier");
    ck_assert(cv >= 0 && cm >= 0 && cr >= 0 && cw >= 0);
    int seen = 0;
    for (size_t r = 0; r < csv_nrows(&t); r++) {
        double m = csv_num(&t, r, cm);
        if (!strcmp(csv_cell(&t, r, cv), "attnres_block")) {
            ck_assert_msg(fabs(m - 1.25) < 0.02, "multiplier %g", m);
            /* 80 vs 100 tok/s with 2% more FLOPs per token: FLOP rate 0.816 of prenorm's */
            ck_assert_double_eq_tol(csv_num(&t, r, cr), 0.8 * 1.02,
                                    1e-5); /* FLOPs written to 7 digits */
            ck_assert_double_eq_tol(csv_num(&t, r, cw), m * csv_num(&t, r, cr), 1e-12);
            seen++;
        } else {
            ck_assert_msg(fabs(m - 1.0) < 0.02, "prenorm multiplier %g", m);
        }
    }
    ck_assert_int_eq(seen, 3);
    csv_table_free(&t);
    snprintf(path, sizeof path, "%s/fit.ini", dir); /* records what it fitted */
    char *ini = tu_read(path), want[1100];
    snprintf(want, sizeof want, "\nexperiments = %s\n", dir);
    ck_assert_msg(ini && strstr(ini, want) && strstr(ini, "\npoints = 5\n"), "%s", ini);
    /* one attnres_block seed: no interval, said so */
    ck_assert_msg(strstr(buf, "not tested (needs 2+ complete seeds)"), "%s", buf);
    snprintf(path, sizeof path, "%s/fit_pooled.csv", dir);
    ck_assert(csv_load(path, &t) == 0);
    ck_assert_int_eq((int)csv_nrows(&t), 2);
    ck_assert_str_eq(csv_cell(&t, 1, csv_col(&t, "variant")), "attnres_block");
    ck_assert_int_eq(csv_int(&t, 1, csv_col(&t, "sizes"), 0), 3);
    ck_assert(fabs(csv_num(&t, 1, csv_col(&t, "multiplier")) - 1.25) < 0.02);
    csv_table_free(&t);
    /* two complete seeds with the same paired difference at every size: the paired-seed t interval
     * of docs/statistics.md section 7 has no width, and its point is the multiplier of the mean
     * losses (the variant's mean L(1.25 C) + 0.002 read on prenorm's exact law: about 1.15) */
    write_summary_seeds(dir, 5, 1);
    ck_assert_msg(tu_run_cli(args, buf, sizeof buf) == 0, "%s", buf);
    ck_assert_msg(strstr(buf, "reproduced (below 1.25)"), "%s", buf);
    ck_assert(csv_load(path, &t) == 0);
    int cp = csv_col(&t, "paired_multiplier"), cl = csv_col(&t, "paired_lo"),
        chi = csv_col(&t, "paired_hi"), cn = csv_col(&t, "paired_seeds");
    ck_assert(cp >= 0 && cl >= 0 && chi >= 0 && cn >= 0);
    ck_assert_int_eq(csv_int(&t, 1, cn, 0), 2);
    double mean_m = csv_num(&t, 1, csv_col(&t, "multiplier"));
    ck_assert_msg(fabs(csv_num(&t, 1, cp) - mean_m) < 1e-3 &&
                      fabs(csv_num(&t, 1, cl) - mean_m) < 1e-3 &&
                      fabs(csv_num(&t, 1, chi) - mean_m) < 1e-3 && mean_m > 1.1 && mean_m < 1.2,
                  "mean %g paired %g [%g, %g]", mean_m, csv_num(&t, 1, cp), csv_num(&t, 1, cl),
                  csv_num(&t, 1, chi));
    csv_table_free(&t);
    write_summary(dir, 3);
    ck_assert_int_eq(tu_run_cli(args, buf, sizeof buf), 2);
    ck_assert_msg(strstr(buf, ">= 4 distinct compute values (found 3"), "%s", buf);
}
END_TEST

/* Prenorm's seed s follows LAW shifted by 0.01 s in c; the variant's seed-1 losses are prenorm
 * seed 1's at 1.25x its compute, seed 2's prenorm seed 2's at 1.1x. A resample of seeds {1, 1}
 * (probability 1/4) gives exactly 1.25 and {2, 2} exactly 1.1, so the 2.5% and 97.5% quantiles
 * of 2000 resamples are those two single-seed multipliers, for every size and pooled. */
static int two_seed_groups(FitGroup *g) {
    memset(g, 0, 8 * sizeof *g);
    for (int i = 0; i < 5; i++) {
        g[i] = (FitGroup){.n_layer = 2 + i, .d_model = 64, .tokens = 1000, .n = 2};
        strcpy(g[i].variant, "prenorm");
        g[i].flops = 1e13 * pow(10, i * 0.8);
    }
    for (int i = 5; i < 8; i++) {
        g[i] = (FitGroup){.n_layer = i, .d_model = 64, .tokens = 1000, .n = 2};
        strcpy(g[i].variant, "attnres_block");
        g[i].flops = 3e13 * pow(10, (i - 5) * 0.9);
    }
    for (int i = 0; i < 8; i++)
        for (int s = 0; s < 2; s++) {
            PowerLaw law = LAW;
            law.c += 0.01 * (s + 1);
            double mult = i < 5 ? 1 : (s ? 1.1 : 1.25);
            g[i].seed[s] = s + 1;
            g[i].tok_per_s[s] = 1;
            g[i].loss[s] = power_law_loss(&law, mult * g[i].flops);
        }
    return 8;
}

START_TEST(test_fit_bootstrap_two_seeds) {
    FitGroup g[8];
    int ng = two_seed_groups(g);
    static FitResult r, r2;
    ck_assert(fit_multipliers(g, ng, 2000, 7, &r) == 0);
    ck_assert_int_eq(r.points, 5);
    for (int i = 5; i < 8; i++) {
        ck_assert_msg(fabs(r.group[i].lo - 1.1) < 2e-3 && fabs(r.group[i].hi - 1.25) < 2e-3,
                      "group %d: [%g, %g]", i, r.group[i].lo, r.group[i].hi);
        ck_assert(r.group[i].point > 1.1 && r.group[i].point < 1.25);
    }
    ck_assert_int_eq(r.n_pooled, 2);
    ck_assert_str_eq(r.pooled_variant[1], "attnres_block");
    ck_assert_int_eq(r.pooled_sizes[1], 3);
    ck_assert(fabs(r.pooled[1].lo - 1.1) < 2e-3 && fabs(r.pooled[1].hi - 1.25) < 2e-3);
    ck_assert(fabs(r.pooled[0].point - 1) < 1e-3); /* prenorm against its own law */
    /* deterministic for a seed, bit for bit */
    ck_assert(fit_multipliers(g, ng, 2000, 7, &r2) == 0);
    ck_assert(memcmp(r.group, r2.group, sizeof r.group) == 0);
    /* one seed: nothing to resample, the interval is undefined */
    for (int i = 0; i < ng; i++) g[i].n = 1;
    ck_assert(fit_multipliers(g, ng, 500, 7, &r) == 0);
    ck_assert(isnan(r.group[6].lo) && isnan(r.pooled[1].hi));
    ck_assert(fabs(r.group[6].point - 1.25) < 2e-3);
    /* fewer than 4 prenorm compute values: no law */
    for (int i = 3; i < 5; i++) strcpy(g[i].variant, "hc");
    ck_assert(fit_multipliers(g, ng, 500, 7, &r) != 0);
    ck_assert_int_eq(r.points, 3);
}
END_TEST

/* Arms of one variant are fitted apart: write_summary's attnres_block (1.25x) and 17 arms
 * attnres_block:blocks=K at the same shapes reaching L((1 + K/100) C); old fits grouped by the
 * variant and pooled them, and kept at most 16 pooled arms. */
START_TEST(test_fit_arms_stay_apart) {
    char *dir = tu_tempdir(), args[1024], path[1024];
    static char buf[65536];
    write_summary(dir, 5);
    snprintf(path, sizeof path, "%s/summary.csv", dir);
    FILE *f = fopen(path, "a");
    for (int k = 1; k <= 17; k++)
        for (int i = 0; i < 3; i++) {
            double C = 1.02e13 * pow(10, i * 0.8);
            fprintf(f, "attnres_block:blocks=%d,1,%d,%d,4,64,16,1000,1000,%.6e,%.6f,0,80,1,0,ok\n",
                    k, 2 + i, 64 * (i + 1), C, power_law_loss(&LAW, (1 + k / 100.0) * C));
        }
    fclose(f);
    snprintf(args, sizeof args, "fit --bootstrap 100 %s", dir); /* point estimates checked */
    ck_assert_msg(tu_run_cli(args, buf, sizeof buf) == 0, "%s", buf);
    CsvTable t;
    snprintf(path, sizeof path, "%s/fit_pooled.csv", dir);
    ck_assert(csv_load(path, &t) == 0);
    ck_assert_int_eq((int)csv_nrows(&t), 19); /* prenorm, attnres_block, 17 arms */
    int seen = 0;
    for (size_t r = 0; r < csv_nrows(&t); r++) {
        const char *v = csv_cell(&t, r, csv_col(&t, "variant"));
        double m = csv_num(&t, r, csv_col(&t, "multiplier")), want = 1;
        int k;
        if (sscanf(v, "attnres_block:blocks=%d", &k) == 1)
            want = 1 + k / 100.0;
        else if (!strcmp(v, "attnres_block"))
            want = 1.25;
        ck_assert_msg(fabs(m - want) < 0.005, "%s: multiplier %g, want %g", v, m, want);
        ck_assert_int_eq(csv_int(&t, r, csv_col(&t, "sizes"), 0), strcmp(v, "prenorm") ? 3 : 5);
        seen++;
    }
    ck_assert_int_eq(seen, 19);
    csv_table_free(&t);
    snprintf(path, sizeof path, "%s/figures/fit_points_attnres_block-blocks_17.dat", dir);
    ck_assert_msg(tu_read(path), "no %s", path); /* the arm's points, a portable file name */
}
END_TEST

/* summary.csv with prenorm at `sizes` shapes, seeds first_seed.. (seeds per shape), and
 * optionally a shift of the seed range per shape (distinct seeds over the experiment). */
static void write_ladder(const char *dir, int sizes, int seeds, int seed_step) {
    char path[1024];
    snprintf(path, sizeof path, "%s/summary.csv", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "variant,seed,n_layer,d_model,n_head,seq_len,batch_size,params,tokens,flops,"
               "final_val_loss,best_val_loss,tok_per_s,wall_s,overhead_pct,status\n");
    for (int i = 0; i < sizes; i++) {
        double C = 1e13 * pow(10, i * 0.01);
        for (int s = 0; s < seeds; s++)
            fprintf(f, "prenorm,%d,%d,64,4,64,16,1000,1000,%.6e,%.6f,0,100,1,0,ok\n",
                    1 + s + i * seed_step, 1 + i, C, power_law_loss(&LAW, C));
    }
    fclose(f);
}

/* Each capacity of fit at its limit + 1: a one-line refusal naming it (never a cut). */
START_TEST(test_fit_limits) {
    char *dir = tu_tempdir(), args[1024];
    static char buf[65536];
    snprintf(args, sizeof args, "fit --bootstrap 100 %s", dir); /* point estimates checked */
    write_ladder(dir, FIT_MAX_GROUPS + 1, 1, 0);
    ck_assert_int_eq(tu_run_cli(args, buf, sizeof buf), 2);
    ck_assert_msg(strstr(buf, "more than 256 groups") && !strchr(strchr(buf, '\n') + 1, '\n'), "%s",
                  buf);
    write_ladder(dir, 4, FIT_MAX_SEEDS + 1, 0);
    ck_assert_int_eq(tu_run_cli(args, buf, sizeof buf), 2);
    ck_assert_msg(strstr(buf, "more than 64 runs"), "%s", buf);
    write_ladder(dir, 5, 52, 52); /* 5 x 52 = 260 distinct seeds, 52 per group */
    ck_assert_int_eq(tu_run_cli(args, buf, sizeof buf), 2);
    ck_assert_msg(strstr(buf, "more than 256 distinct seeds"), "%s", buf);
    write_ladder(dir, 4, FIT_MAX_SEEDS, 0); /* at the limits: fitted */
    ck_assert_msg(tu_run_cli(args, buf, sizeof buf) == 0, "%s", buf);
}
END_TEST

static Suite *fit_suite(void) {
    Suite *s = suite_create("fit");
    TCase *tc = tcase_create("fit");
    tcase_add_checked_fixture(tc, NULL, tu_free_all);
    tcase_add_test(tc, test_fit_recovers_law);
    tcase_add_test(tc, test_fit_multiplier);
    tcase_add_test(tc, test_fit_bootstrap_two_seeds);
    tcase_add_test(tc, test_fit_arms_stay_apart);
    tcase_add_test(tc, test_fit_limits);
    suite_add_tcase(s, tc);
    return s;
}

RB_TEST_MAIN(fit_suite)
