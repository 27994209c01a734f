/* The measures and verdicts of docs/statistics.md on data with known answers: the magnitude slope
 * (hand-built profiles: a known slope, the quiet first sublayer that decided the old ratio, an
 * outlier that leave-one-out finds), grad_rms CVs per type and over batches, the failed-to-train
 * rule on synthetic curves, a probe at floor or ceiling, the verdict vocabulary with TOST and Holm
 * (p-values placed on tabulated t quantiles), power against published values and a simulation,
 * the paired-seed multiplier interval (exact ladder, coverage simulation) and the multiplier a
 * paired delta implies through the committed part-3 law, the noise floor and the pairing ratio
 * (part 1's 1.22 and 1.28). */
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csvread.h"
#include "health.h"
#include "measures.h"
#include "multiplier.h"
#include "power.h"
#include "stats.h"
#include "testutil.h"
#include "verdict.h"

/* ---------------------------------------------------------------- profiles */

/* Writes a profile.csv (step 100 and an earlier step 50 that must be ignored) with L sublayers
 * whose input/stream/output/grad columns are given, and loads it. batch >= 0 adds a batch column
 * (rows for batches 0..batches-1 with grad scaled by (1 + batch)). */
static void load_profile(CsvTable *t, int L, const double *in, const double *out,
                         const double *grad, int batches) {
    char *dir = tu_tempdir(), path[1024];
    snprintf(path, sizeof path, "%s/profile.csv", dir);
    FILE *f = fopen(path, "w");
    ck_assert(f != NULL);
    fprintf(f, "step,layer,kind,input_rms,output_rms,stream_rms,grad_rms,param_grad_norm%s\n",
            batches > 0 ? ",batch" : "");
    int nb = batches > 0 ? batches : 1;
    for (int step = 50; step <= 100; step += 50)
        for (int b = 0; b < nb; b++) {
            for (int l = 1; l <= L; l++) {
                double scale = step == 50 ? 7.0 : 1.0; /* step 50 differs: must not be read */
                fprintf(f, "%d,%d,%s,%.17g,%.17g,%.17g,%.17g,1", step, l, l % 2 ? "attn" : "mlp",
                        scale * in[l - 1], out[l - 1], scale * in[l - 1] * 1.1,
                        grad[l - 1] * (1 + b) * (b == 1 && l % 2 == 0 ? (l == 2 ? 1.5 : 1) : 1));
                if (batches > 0) fprintf(f, ",%d", b);
                fprintf(f, "\n");
            }
            fprintf(f, "%d,%d,out,1,1,1,1,1%s\n", step, L + 1, batches > 0 ? ",0" : "");
        }
    fclose(f);
    ck_assert_msg(csv_load(path, t) == 0, "%s", rb_error());
}

static int points_of(const double *in, const double *out, const double *grad, int L, int batches,
                     ProfilePoint *p) {
    CsvTable t;
    load_profile(&t, L, in, out, grad, batches);
    int n = profile_points(&t, NAN, p, MEASURE_MAX_SUB);
    csv_table_free(&t);
    ck_assert_msg(n >= 0, "%s", rb_error());
    return n;
}

static const double ONES[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};

/* input_rms = 0.7 exp(0.05 l): slope 0.05 exactly, every leave-one-out slope too. */
START_TEST(magnitude_known_slope) {
    double in[8];
    for (int l = 1; l <= 8; l++) in[l - 1] = 0.7 * exp(0.05 * l);
    ProfilePoint p[MEASURE_MAX_SUB];
    int n = points_of(in, ONES, ONES, 8, 0, p);
    ck_assert_int_eq(n, 8); /* the readout row and step 50 are not sublayers of step 100 */
    SlopeStat s = measure_magnitude(p, n, SUB_ANY, 0, 0);
    ck_assert_int_eq(s.n, 8);
    ck_assert_double_eq_tol(s.slope, 0.05, 1e-12);
    ck_assert_double_eq_tol(s.theil_sen, 0.05, 1e-12);
    ck_assert(s.loo_change < 1e-12);
    /* stream_rms is input_rms x 1.1 in this file: the same slope */
    ck_assert_double_eq_tol(measure_magnitude(p, n, SUB_ANY, 1, 0).slope, 0.05, 1e-12);
    /* a declining stream: negative slope */
    for (int l = 1; l <= 8; l++) in[l - 1] = 2.0 * exp(-0.1 * l);
    n = points_of(in, ONES, ONES, 8, 0, p);
    ck_assert_double_eq_tol(measure_magnitude(p, n, SUB_ANY, 0, 0).slope, -0.1, 1e-12);
}
END_TEST

/* The case: prenorm-like arm A whose first sublayer writes RMS 0.028 and whose stream
 * grows 5% per sublayer; AttnRes-like arm B writing 0.55 first with a flat stream. The last over
 * first output ratio says 31 against 1.6 (decided by one quiet sublayer); the slope says 0.05
 * against 0, which is the growth that was built in. */
START_TEST(magnitude_outlier_first_output) {
    double in_a[8], in_b[8], out_a[8] = {0.028, 0.5, 0.6, 0.62, 0.7, 0.75, 0.8, 0.87},
                             out_b[8] = {0.55, 0.56, 0.6, 0.7, 0.7, 0.8, 0.85, 0.90};
    for (int l = 1; l <= 8; l++) {
        in_a[l - 1] = 1.0 * exp(0.05 * l);
        in_b[l - 1] = 1.3;
    }
    ProfilePoint pa[MEASURE_MAX_SUB], pb[MEASURE_MAX_SUB];
    int na = points_of(in_a, out_a, ONES, 8, 0, pa), nb = points_of(in_b, out_b, ONES, 8, 0, pb);
    double ratio_a = pa[7].output_rms / pa[0].output_rms,
           ratio_b = pb[7].output_rms / pb[0].output_rms;
    ck_assert(ratio_a > 30 && ratio_b < 2); /* the old statistic: 31.1 vs 1.64 */
    /* leaving out sublayer 1's output moves the old ratio from 31 to 1.7: one sublayer decided it
     */
    ck_assert(pa[7].output_rms / pa[1].output_rms < 2);
    SlopeStat a = measure_magnitude(pa, na, SUB_ANY, 0, 0),
              b = measure_magnitude(pb, nb, SUB_ANY, 0, 0);
    ck_assert_double_eq_tol(a.slope, 0.05, 1e-12);
    ck_assert_double_eq_tol(b.slope, 0.0, 1e-12);
    ck_assert(a.loo_change < 1e-12 && b.loo_change < 1e-12);
}
END_TEST

/* Sublayer 1 reads 1/20 of the line's value: least squares moves (the point has leverage), the
 * leave-one-out names sublayer 1 and recovers 0.05 without it, Theil-Sen ignores it. */
START_TEST(magnitude_loo_flags_outlier) {
    double in[8];
    for (int l = 1; l <= 8; l++) in[l - 1] = exp(0.05 * l);
    in[0] /= 20;
    ProfilePoint p[MEASURE_MAX_SUB];
    int n = points_of(in, ONES, ONES, 8, 0, p);
    SlopeStat s = measure_magnitude(p, n, SUB_ANY, 0, 0);
    /* analytic: residual -log 20 at l = 1; slope shift = -log(20) (1 - 4.5) / 42 */
    ck_assert_double_eq_tol(s.slope, 0.05 + log(20) * 3.5 / 42, 1e-12);
    ck_assert_int_eq(s.loo_layer, 1);
    ck_assert_double_eq_tol(s.loo_min, 0.05, 1e-12);
    ck_assert_double_eq_tol(s.loo_change, log(20) * 3.5 / 42, 1e-12);
    ck_assert_double_eq_tol(s.theil_sen, 0.05, 1e-12);
    /* the comparison-level leave-one-out: the statistic with sublayer 1 dropped */
    SlopeStat d = measure_magnitude(p, n, SUB_ANY, 0, 1);
    ck_assert_int_eq(d.n, 7);
    ck_assert_double_eq_tol(d.slope, 0.05, 1e-12);
    /* a non-positive RMS cannot be logged: undefined, not a number from the rest */
    in[3] = 0;
    n = points_of(in, ONES, ONES, 8, 0, p);
    ck_assert(isnan(measure_magnitude(p, n, SUB_ANY, 0, 0).slope));
}
END_TEST

/* Attention reads 2x what MLP reads at the same depth, both growing 0.03 per sublayer: each type
 * has slope 0.03; the mixture's least-squares slope is pulled by the alternation. */
START_TEST(magnitude_per_type) {
    double in[16];
    for (int l = 1; l <= 16; l++) in[l - 1] = (l % 2 ? 2.0 : 1.0) * exp(0.03 * l);
    ProfilePoint p[MEASURE_MAX_SUB];
    int n = points_of(in, ONES, ONES, 16, 0, p);
    SlopeStat a = measure_magnitude(p, n, SUB_ATTN, 0, 0),
              m = measure_magnitude(p, n, SUB_MLP, 0, 0),
              all = measure_magnitude(p, n, SUB_ANY, 0, 0);
    ck_assert_int_eq(a.n, 8);
    ck_assert_int_eq(m.n, 8);
    ck_assert_double_eq_tol(a.slope, 0.03, 1e-12);
    ck_assert_double_eq_tol(m.slope, 0.03, 1e-12);
    ck_assert(fabs(all.slope - 0.03) > 1e-3); /* the offset leaks into the pooled slope */
}
END_TEST

START_TEST(grad_cv_known) {
    /* attention sublayers (odd) 1, 2, 3: population SD sqrt(2/3), mean 2; MLP 2, 2, 2: CV 0 */
    double grad[6] = {1, 2, 2, 2, 3, 2};
    ProfilePoint p[MEASURE_MAX_SUB];
    int n = points_of(ONES, ONES, grad, 6, 0, p);
    GradCV g = measure_grad_cv(p, n);
    ck_assert_int_eq(g.batches, 1);
    ck_assert_double_eq_tol(g.cv_attn, sqrt(2.0 / 3) / 2, 1e-12);
    ck_assert_double_eq_tol(g.cv_mlp, 0, 1e-12);
    ck_assert_double_eq_tol(g.cv, sqrt(2.0 / 3) / 4, 1e-12);
    /* one sublayer per type has no spread to measure */
    n = points_of(ONES, ONES, grad, 2, 0, p);
    ck_assert(isnan(measure_grad_cv(p, n).cv));
}
END_TEST

/* Two batches: batch 1 has every grad doubled (same CVs) except MLP sublayer 2 tripled, so its MLP
 * values are 6, 4, 4 (CV sqrt(8/9)/(14/3)) while batch 0's are 2, 2, 2 (CV 0). */
START_TEST(grad_cv_batches) {
    double grad[6] = {1, 2, 2, 2, 3, 2};
    ProfilePoint p[MEASURE_MAX_SUB];
    int n = points_of(ONES, ONES, grad, 6, 2, p);
    ck_assert_int_eq(n, 12);
    GradCV g = measure_grad_cv(p, n);
    ck_assert_int_eq(g.batches, 2);
    double cv_mlp_b1 = sqrt(8.0 / 9) / (14.0 / 3);
    ck_assert_double_eq_tol(g.cv_attn, sqrt(2.0 / 3) / 2, 1e-12);
    ck_assert_double_eq_tol(g.cv_mlp, cv_mlp_b1 / 2, 1e-12);
    ck_assert_double_eq_tol(g.cv, (sqrt(2.0 / 3) / 2 + cv_mlp_b1 / 2) / 2, 1e-12);
}
END_TEST

START_TEST(profile_points_errors) {
    char *dir = tu_tempdir(), path[1024];
    snprintf(path, sizeof path, "%s/profile.csv", dir);
    const char *bad_kind = "step,layer,kind,input_rms,output_rms,stream_rms,grad_rms\n"
                           "1,1,attn,1,1,1,1\n1,2,ffn,1,1,1,1\n";
    ck_assert(tu_write(path, bad_kind, strlen(bad_kind)) == 0);
    CsvTable t;
    ProfilePoint p[4];
    ck_assert(csv_load(path, &t) == 0);
    ck_assert_int_eq(profile_points(&t, NAN, p, 4), -1);
    ck_assert_msg(strstr(rb_error(), "kind") && strstr(rb_error(), "ffn"), "%s", rb_error());
    csv_table_free(&t);
    const char *no_grad = "step,layer,kind,input_rms,output_rms,stream_rms\n1,1,attn,1,1,1\n";
    ck_assert(tu_write(path, no_grad, strlen(no_grad)) == 0);
    ck_assert(csv_load(path, &t) == 0);
    ck_assert_int_eq(profile_points(&t, NAN, p, 4), -1);
    ck_assert_msg(strstr(rb_error(), "grad_rms"), "%s", rb_error());
    csv_table_free(&t);
    /* more rows than the caller's room: an error, not a silent cut */
    const char *five = "step,layer,kind,input_rms,output_rms,stream_rms,grad_rms\n"
                       "1,1,attn,1,1,1,1\n1,2,mlp,1,1,1,1\n1,3,attn,1,1,1,1\n1,4,mlp,1,1,1,1\n"
                       "1,5,attn,1,1,1,1\n";
    ck_assert(tu_write(path, five, strlen(five)) == 0);
    ck_assert(csv_load(path, &t) == 0);
    ck_assert_int_eq(profile_points(&t, NAN, p, 4), -1);
    csv_table_free(&t);
}
END_TEST

/* ---------------------------------------------------------------- failed to train */

#define CURVE 50 /* rows logged every 10 steps: steps 10..500 */

typedef struct {
    long step[CURVE];
    double loss[CURVE], gnorm[CURVE];
} Curve;

/* A healthy run: loss 1.6 + 3.7 exp(-step / 120), gradient norm 0.6-0.8 (deterministic wiggle). */
static void healthy(Curve *c) {
    for (int i = 0; i < CURVE; i++) {
        c->step[i] = 10L * (i + 1);
        c->loss[i] = 1.6 + 3.7 * exp(-c->step[i] / 120.0) + 0.01 * sin(i);
        c->gnorm[i] = 0.7 + 0.1 * sin(1.7 * i);
    }
}

static Health classify(const Curve *c) {
    HealthRule rule = HEALTH_DEFAULT;
    return train_health(c->step, c->loss, c->gnorm, CURVE, 100, 1.0, &rule); /* grad_clip 1 */
}

START_TEST(health_trained) {
    Curve c;
    healthy(&c);
    Health h = classify(&c);
    ck_assert_msg(h.cls == HEALTH_TRAINED, "%s", h.reason);
    ck_assert_int_eq(h.spikes, 0);
    /* two isolated spikes after the warmup (12 and 9 x the median) do not fail a learning run */
    c.gnorm[20] = 8.4;
    c.gnorm[35] = 6.3;
    h = classify(&c);
    ck_assert_msg(h.cls == HEALTH_TRAINED && h.spikes == 2, "%s", h.reason);
    /* spikes inside the warmup (steps <= 100) are not counted */
    healthy(&c);
    for (int i = 2; i < 10; i += 2) c.gnorm[i] = 15;
    h = classify(&c);
    ck_assert_msg(h.cls == HEALTH_TRAINED && h.spikes == 0, "%s", h.reason);
}
END_TEST

START_TEST(health_diverged) {
    Curve c;
    healthy(&c);
    c.loss[30] = NAN;
    Health h = classify(&c);
    ck_assert_msg(h.cls == HEALTH_DIVERGED && strstr(h.reason, "step 310"), "%s", h.reason);
    healthy(&c);
    c.gnorm[12] = INFINITY;
    ck_assert_int_eq(classify(&c).cls, HEALTH_DIVERGED);
    /* the loss climbs back above its start */
    healthy(&c);
    for (int i = 30; i < CURVE; i++) c.loss[i] = 2 + 0.3 * (i - 30);
    h = classify(&c);
    ck_assert_msg(h.cls == HEALTH_DIVERGED && strstr(h.reason, "not below its start"), "%s",
                  h.reason);
}
END_TEST

START_TEST(health_stalled_flat) {
    Curve c;
    healthy(&c);
    for (int i = 0; i < CURVE; i++) c.loss[i] = 5.5 - 0.3 * i / CURVE; /* 5.5 to 5.2: 5% */
    Health h = classify(&c);
    ck_assert_msg(h.cls == HEALTH_STALLED && strstr(h.reason, "less than 10%"), "%s", h.reason);
}
END_TEST

/* The part-6 shape: the same descent as a healthy run for 60 steps (ahead of it: 0.05 lower), then
 * gradient-norm spikes of 5 to 18 and a loss that stops near 3.0. */
START_TEST(health_part6_shape) {
    Curve c, ref;
    healthy(&ref);
    healthy(&c);
    for (int i = 0; i < CURVE; i++) {
        if (c.step[i] <= 60)
            c.loss[i] = ref.loss[i] - 0.05;
        else /* from 3.79 at step 60 to a plateau at 3.0 within 40 steps */
            c.loss[i] = 3.0 + 0.79 * exp(-(c.step[i] - 60) / 10.0) + 0.01 * sin(3.0 * i);
    }
    const int at[] = {11, 14, 19, 24, 31, 38, 45};
    const double size[] = {5, 9, 18, 7, 12, 6, 16};
    for (int k = 0; k < 7; k++) c.gnorm[at[k]] = size[k];
    Health h = classify(&c);
    ck_assert_msg(h.cls == HEALTH_STALLED, "%s: %s", health_name(h.cls), h.reason);
    ck_assert_msg(strstr(h.reason, "unstable") && h.spikes == 7 && h.first_spike_step == 120,
                  "%s (%d spikes, first %ld)", h.reason, h.spikes, h.first_spike_step);
    ck_assert_int_eq(classify(&ref).cls, HEALTH_TRAINED); /* the reference is healthy */
    /* the same spikes on a loss that keeps falling: trained (spikes alone are not failure) */
    healthy(&c);
    for (int k = 0; k < 7; k++) c.gnorm[at[k]] = size[k];
    h = classify(&c);
    ck_assert_msg(h.cls == HEALTH_TRAINED && h.spikes == 7, "%s", h.reason);
}
END_TEST

/* The hops-ablation shape: the loss reaches its plateau by step 90 and the gradient norm falls to
 * 0.15-0.19; ordinary values near the clip (0.98) are 5-6x that median but not spikes (below
 * grad_clip = 1); the same values above a clip of 0.5 are spikes, and the run is then a converged
 * plateau, not a stall. */
static void plateau(Curve *c) {
    for (int i = 0; i < CURVE; i++) {
        c->step[i] = 10L * (i + 1);
        c->loss[i] = 1.53 + 3.2 * exp(-c->step[i] / 15.0) + 0.003 * sin(2.1 * i);
        c->gnorm[i] = c->step[i] <= 90 ? 2.0 : 0.17 + 0.02 * sin(1.3 * i);
    }
    const int at[] = {15, 22, 30, 41};
    for (int k = 0; k < 4; k++) c->gnorm[at[k]] = 0.98;
}

START_TEST(health_spikes_below_clip) {
    Curve c;
    plateau(&c);
    Health h = classify(&c); /* grad_clip 1: 0.98 is not a spike */
    ck_assert_msg(h.cls == HEALTH_TRAINED && h.spikes == 0 && !h.converged, "%s", h.reason);
    HealthRule rule = HEALTH_DEFAULT; /* without clipping the ratio alone counts them */
    h = train_health(c.step, c.loss, c.gnorm, CURVE, 100, 0, &rule);
    ck_assert_int_eq(h.spikes, 4);
}
END_TEST

START_TEST(health_converged_plateau) {
    Curve c;
    plateau(&c);
    HealthRule rule = HEALTH_DEFAULT;
    Health h = train_health(c.step, c.loss, c.gnorm, CURVE, 100, 0.5, &rule);
    ck_assert_msg(h.spikes == 4 && h.first_spike_step == 160, "%d spikes, first %ld: %s", h.spikes,
                  h.first_spike_step, h.reason);
    ck_assert_msg(h.cls == HEALTH_TRAINED && h.converged && strstr(h.reason, "converged plateau"),
                  "%s: %s", health_name(h.cls), h.reason);
    /* descending until just before the spikes (step 120), then flat: stalled (unstable) */
    for (int i = 0; i < CURVE; i++)
        c.loss[i] = c.step[i] < 120 ? 4.5 - 0.02 * c.step[i] : 2.1 + 0.003 * sin(2.1 * i);
    h = train_health(c.step, c.loss, c.gnorm, CURVE, 100, 0.5, &rule);
    ck_assert_msg(h.cls == HEALTH_STALLED && !h.converged && strstr(h.reason, "unstable"), "%s",
                  h.reason);
}
END_TEST

/* The same rule through metrics.csv, and its errors. */
START_TEST(health_csv) {
    char *dir = tu_tempdir(), path[1024];
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    Curve c;
    healthy(&c);
    FILE *f = fopen(path, "w");
    fprintf(f, "step,tokens,flops,wall_s,lr,train_loss,val_loss,grad_norm,tok_per_s\n");
    for (int i = 0; i < CURVE; i++)
        fprintf(f, "%ld,0,0,0,0.001,%.17g,,%.17g,1\n", c.step[i], i > 40 ? 5.6 : c.loss[i],
                c.gnorm[i]);
    fclose(f);
    CsvTable t;
    ck_assert(csv_load(path, &t) == 0);
    Health h;
    HealthRule rule = HEALTH_DEFAULT;
    ck_assert(train_health_csv(&t, 100, 1.0, &rule, &h) == 0);
    ck_assert_msg(h.cls == HEALTH_DIVERGED, "%s", h.reason); /* ends at 5.6 > its start 5.08 */
    csv_table_free(&t);
    const char *no_gn = "step,train_loss\n10,5\n";
    ck_assert(tu_write(path, no_gn, strlen(no_gn)) == 0);
    ck_assert(csv_load(path, &t) == 0);
    ck_assert_int_eq(train_health_csv(&t, 100, 1.0, &rule, &h), -1);
    ck_assert_msg(strstr(rb_error(), "grad_norm"), "%s", rb_error());
    csv_table_free(&t);
}
END_TEST

/* ---------------------------------------------------------------- probe range */

START_TEST(probe_floor_ceiling) {
    /* 16 starts, chance 1/32: 0 of 16 is what guessing gives 60% of the time */
    ck_assert_int_eq(probe_range(0, 16, 1.0 / 32, 0.05), PROBE_FLOOR);
    ck_assert_int_eq(probe_range(0, 64, 1.0 / 32, 0.05), PROBE_FLOOR);
    ck_assert_int_eq(probe_range(1, 16, 1.0 / 32, 0.05), PROBE_FLOOR);  /* P(X >= 1) = 0.398 */
    ck_assert_int_eq(probe_range(3, 16, 1.0 / 32, 0.05), PROBE_TESTED); /* P(X >= 3) = 0.0137 */
    /* chance 1/2: P(X >= 10 | 16) = 14893 / 65536 = 0.227; P(X >= 13) = 697 / 65536 = 0.0106 */
    ck_assert_int_eq(probe_range(10, 16, 0.5, 0.05), PROBE_FLOOR);
    ck_assert_int_eq(probe_range(11, 16, 0.5, 0.05), PROBE_FLOOR); /* P(X >= 11) = 0.105 */
    /* 13 of 16 is above chance but leaves 3 errors: C(29, 16) / C(32, 16) = 0.113, ceiling */
    ck_assert_int_eq(probe_range(13, 16, 0.5, 0.05), PROBE_CEILING);
    ck_assert_int_eq(probe_range(42, 64, 0.5, 0.05), PROBE_TESTED);
    ck_assert_double_eq_tol(gsl_cdf_binomial_Q(9, 0.5, 16), 14893.0 / 65536, 1e-12);
    /* chance unknown (0): only an empty count is at floor */
    ck_assert_int_eq(probe_range(0, 16, 0, 0.05), PROBE_FLOOR);
    ck_assert_int_eq(probe_range(1, 16, 0, 0.05), PROBE_TESTED);
    /* ceiling: a perfect arm's Fisher p C(n + k, n) / C(2n, n): 16/16 -> 1, 15/16 -> 0.5,
     * 8/16 -> C(24, 16) / C(32, 16) = 735471 / 601080390 = 0.0012 */
    ck_assert_int_eq(probe_range(16, 16, 1.0 / 32, 0.05), PROBE_CEILING);
    ck_assert_int_eq(probe_range(15, 16, 1.0 / 32, 0.05), PROBE_CEILING);
    ck_assert_int_eq(probe_range(8, 16, 1.0 / 32, 0.05), PROBE_TESTED);
    /* pooled counts in the thousands (log-gamma): 990 of 1000 right leaves room to show a gain */
    ck_assert_int_eq(probe_range(990, 1000, 0.01, 0.05), PROBE_TESTED);
    ck_assert_int_eq(probe_range(999, 1000, 0.01, 0.05), PROBE_CEILING);
    ck_assert_int_eq(probe_range(5, 0, 0.01, 0.05), PROBE_FLOOR); /* no trials: no evidence */
    ck_assert_str_eq(probe_range_name(PROBE_CEILING), "at ceiling");
}
END_TEST

/* ---------------------------------------------------------------- verdicts */

/* Four paired differences with mean m and SD 2/sqrt(3) (se 1/sqrt(3)): t = m sqrt(3). */
static void four(double t, double *d) {
    double se = 1 / sqrt(3.0), m = t * se;
    for (int i = 0; i < 4; i++) d[i] = m + (i % 2 ? 1 : -1);
}

/* Tabulated quantiles of Student's t with 3 degrees of freedom. */
#define T3_975 3.182446  /* two-sided p 0.05 */
#define T3_990 4.540703  /* two-sided p 0.02 */
#define T3_995 5.840909  /* two-sided p 0.01 */
#define T3_9995 12.92398 /* two-sided p 0.001 */
#define T3_950 2.353363  /* one-sided p 0.05 */

START_TEST(verdict_test_known_p) {
    double d[4];
    four(T3_975, d);
    VerdictResult r = verdict_test(d, 4);
    ck_assert_double_eq_tol(r.p, 0.05, 1e-6);
    ck_assert_double_eq_tol(r.half_width, r.mean, 1e-6); /* at p = 0.05 the CI touches 0 */
    four(-T3_995, d);
    ck_assert_double_eq_tol(verdict_test(d, 4).p, 0.01, 1e-6);
    four(T3_9995, d);
    ck_assert_double_eq_tol(verdict_test(d, 4).p, 0.001, 1e-7);
    ck_assert(isnan(verdict_test(d, 1).p));
}
END_TEST

START_TEST(verdict_tost) {
    /* mean 0, se 1/sqrt(3): TOST p is the one-sided t tail at margin / se */
    double d[4] = {-1, 1, -1, 1}, se = 1 / sqrt(3.0);
    ck_assert_double_eq_tol(verdict_tost_p(d, 4, T3_950 * se), 0.05, 1e-6);
    ck_assert_double_eq_tol(verdict_tost_p(d, 4, T3_975 * se), 0.025, 1e-6);
    ck_assert(isnan(verdict_tost_p(d, 4, NAN)));
    VerdictResult r = verdict_paired(d, 4, -1, T3_975 * se, NAN, 1, 0.05);
    ck_assert_int_eq(r.verdict, VD_EQUIVALENT);
    r = verdict_paired(d, 4, -1, 2.0 * se, NAN, 1, 0.05); /* margin too tight for 4 pairs */
    ck_assert_int_eq(r.verdict, VD_INCONCLUSIVE);
    ck_assert_int_eq(verdict_paired(d, 4, -1, NAN, NAN, 1, 0.05).verdict, VD_INCONCLUSIVE);
    /* a shifted mean: the farther bound decides (mean 0.5 se -> p_tost at (margin - 0.5 se)) */
    for (int i = 0; i < 4; i++) d[i] += 0.5 * se;
    ck_assert_double_eq_tol(verdict_tost_p(d, 4, (T3_950 + 0.5) * se), 0.05, 1e-6);
}
END_TEST

START_TEST(verdict_directions) {
    double d[4];
    four(-T3_995, d); /* decided below 0, raw p 0.01 */
    ck_assert_int_eq(verdict_paired(d, 4, -1, NAN, NAN, 1, 0.05).verdict, VD_REPRODUCED);
    ck_assert_int_eq(verdict_paired(d, 4, +1, NAN, NAN, 1, 0.05).verdict, VD_OPPOSITE);
    /* the family's adjusted p governs: 0.06 is not decided */
    ck_assert_int_eq(verdict_paired(d, 4, -1, NAN, 0.06, 1, 0.05).verdict, VD_INCONCLUSIVE);
    /* decided and inside a wide margin: reported by its direction */
    ck_assert_int_eq(verdict_paired(d, 4, -1, 100.0, NAN, 1, 0.05).verdict, VD_REPRODUCED);
    /* failed to train / probe at floor, or one pair: not tested */
    ck_assert_int_eq(verdict_paired(d, 4, -1, NAN, NAN, 0, 0.05).verdict, VD_NOT_TESTED);
    ck_assert_int_eq(verdict_paired(d, 1, -1, NAN, NAN, 1, 0.05).verdict, VD_NOT_TESTED);
    ck_assert_str_eq(verdict_kind_name(VD_EQUIVALENT), "equivalent");
}
END_TEST

/* Holm over a family with raw p 0.01, 0.001, 0.05: adjusted 0.02, 0.003, 0.05. Three raw 0.02:
 * each 0.06 (raw decided, Holm not). An untested member does not count in the family. */
START_TEST(verdict_holm_family) {
    double a[4], b[4], c[4];
    four(-T3_995, a);
    four(-T3_9995, b);
    four(-T3_975, c);
    const double *d[3] = {a, b, c};
    int n[3] = {4, 4, 4}, sign[3] = {-1, -1, -1}, tested[3] = {1, 1, 1};
    VerdictResult r[3];
    verdict_family(d, n, 3, sign, tested, NAN, 0.05, r);
    ck_assert_double_eq_tol(r[0].p_adjusted, 0.02, 1e-5);
    ck_assert_double_eq_tol(r[1].p_adjusted, 0.003, 1e-6);
    ck_assert_double_eq_tol(r[2].p_adjusted, 0.05, 1e-5);
    ck_assert_int_eq(r[0].verdict, VD_REPRODUCED);
    ck_assert_int_eq(r[1].verdict, VD_REPRODUCED);
    ck_assert_int_eq(r[2].verdict, VD_INCONCLUSIVE);
    four(-T3_990, a);
    four(-T3_990, b);
    four(T3_990, c);
    verdict_family(d, n, 3, sign, tested, NAN, 0.05, r);
    for (int i = 0; i < 3; i++) {
        ck_assert_double_eq_tol(r[i].p, 0.02, 1e-6);
        ck_assert_double_eq_tol(r[i].p_adjusted, 0.06, 1e-5);
        ck_assert_int_eq(r[i].verdict, VD_INCONCLUSIVE);
    }
    tested[1] = 0; /* m = 2: 0.04 each; the third is decided against the claim */
    verdict_family(d, n, 3, sign, tested, NAN, 0.05, r);
    ck_assert_double_eq_tol(r[0].p_adjusted, 0.04, 1e-5);
    ck_assert_int_eq(r[0].verdict, VD_REPRODUCED);
    ck_assert_int_eq(r[1].verdict, VD_NOT_TESTED);
    ck_assert_int_eq(r[2].verdict, VD_OPPOSITE);
}
END_TEST

/* ---------------------------------------------------------------- power */

START_TEST(power_known_values) {
    /* the noncentral t at ncp 0 is Student's t; at large df it is a shifted normal */
    for (double t = -3; t <= 3; t += 0.75) {
        ck_assert_double_eq_tol(power_nct_cdf(t, 3, 0), gsl_cdf_tdist_P(t, 3), 1e-9);
        ck_assert_double_eq_tol(power_nct_cdf(t, 1, 0), gsl_cdf_tdist_P(t, 1), 1e-8);
        ck_assert_double_eq_tol(power_nct_cdf(t, 1e6, 1.3), gsl_cdf_ugaussian_P(t - 1.3), 1e-5);
    }
    /* P(T' <= 0) = P(Z + ncp <= 0) = Phi(-ncp) for every df */
    for (double df = 1; df <= 30; df += 7)
        ck_assert_double_eq_tol(power_nct_cdf(0, df, 1.7), gsl_cdf_ugaussian_P(-1.7), 1e-10);
    /* df 1, ncp 4, t -12.7062: the lower tail int Phi(-4 - 12.7062 s) sqrt(2/pi) e^{-s^2/2} ds,
     * about Phi(-4) sqrt(2/pi) / 50.8 = 5e-7 (a tail the chi-square form of the integral lost) */
    double tail = power_nct_cdf(-12.7062, 1, 4);
    ck_assert_msg(tail > 3e-7 && tail < 6e-7, "%g", tail);
    /* R: power.t.test(n = 10, delta = 1, sd = 1, type = "paired")$power = 0.8030962; and the
     * n for power 0.8 is 9.937864 (delta 1) and 33.36713 (delta 0.5) */
    ck_assert_double_eq_tol(power_paired(1, 1, 10, 0.05), 0.8030962, 1e-6);
    ck_assert_int_eq(power_seeds(1, 1, 0.05, 0.8, 1000), 10);
    ck_assert_int_eq(power_seeds(0.5, 1, 0.05, 0.8, 1000), 34);
    ck_assert(power_paired(0.5, 1, 33, 0.05) < 0.8 && power_paired(0.5, 1, 34, 0.05) >= 0.8);
    ck_assert_int_eq(power_seeds(0.001, 1, 0.05, 0.8, 100), -1); /* beyond max_n */
    /* power at effect 0 is the level; it is symmetric in the sign of the effect */
    ck_assert_double_eq_tol(power_paired(0, 1, 5, 0.05), 0.05, 1e-9);
    ck_assert_double_eq_tol(power_paired(-0.7, 1, 5, 0.05), power_paired(0.7, 1, 5, 0.05), 1e-12);
    ck_assert(isnan(power_paired(1, 1, 1, 0.05)) && isnan(power_paired(1, 0, 5, 0.05)));
}
END_TEST

/* Monte Carlo: the share of simulated paired t tests that reject, against power_paired. */
START_TEST(power_simulation) {
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 35);
    const int reps = 40000;
    const struct {
        int n;
        double effect;
    } cases[] = {{3, 2.0}, {6, 0.8}, {4, 1.5}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int n = cases[k].n, reject = 0;
        double d[16], tc = gsl_cdf_tdist_Pinv(0.975, n - 1);
        for (int r = 0; r < reps; r++) {
            for (int i = 0; i < n; i++) d[i] = cases[k].effect + gsl_ran_gaussian(rng, 1.0);
            reject += fabs(stats_mean(d, n)) / (stats_std(d, n) / sqrt(n)) > tc;
        }
        double sim = (double)reject / reps, exact = power_paired(cases[k].effect, 1, n, 0.05),
               se = sqrt(exact * (1 - exact) / reps);
        ck_assert_msg(fabs(sim - exact) < 4 * se, "n %d effect %g: simulated %.4f, computed %.4f",
                      n, cases[k].effect, sim, exact);
    }
    gsl_rng_free(rng);
}
END_TEST

START_TEST(power_mde_roundtrip) {
    for (int n = 2; n <= 12; n += 5) {
        double mde = power_mde(0.015, n, 0.05, 0.8);
        ck_assert_double_eq_tol(power_paired(mde, 0.015, n, 0.05), 0.8, 1e-9);
    }
    /* n = 10, SD 1: 0.8031 power at effect 1, so the MDE lies just below 1 */
    double m = power_mde(1, 10, 0.05, 0.8);
    ck_assert(m < 1 && m > 0.98);
    /* scale equivariance: the MDE is proportional to the SD */
    ck_assert_double_eq_tol(power_mde(0.02, 4, 0.05, 0.8), 2 * power_mde(0.01, 4, 0.05, 0.8),
                            1e-12);
    ck_assert(isnan(power_mde(1, 1, 0.05, 0.8)) && isnan(power_mde(1, 4, 0.05, 0.01)));
}
END_TEST

START_TEST(power_plan_cli) {
    static char out[4096];
    ck_assert_int_eq(tu_run_cli("plan --sd 1 --effect 1", out, sizeof out), 0);
    ck_assert_msg(strstr(out, "seeds needed") && strstr(out, ": 10 (power 0.803)"), "%s", out);
    ck_assert_int_eq(tu_run_cli("plan --deltas 0.01,-0.01,0.01,-0.01 --seeds 4", out, sizeof out),
                     0);
    ck_assert_msg(strstr(out, "minimum detectable effect with 4 seeds"), "%s", out);
    ck_assert_int_eq(tu_run_cli("plan --help", out, sizeof out), 0);
    ck_assert_int_eq(tu_run_cli("plan --sd 1", out, sizeof out), 2);
    ck_assert_msg(strstr(out, "--effect"), "%s", out);
    ck_assert_int_eq(tu_run_cli("plan --sd 1 --deltas 1,2 --seeds 3", out, sizeof out), 2);
    ck_assert_int_eq(tu_run_cli("plan --deltas 1,,2 --seeds 3", out, sizeof out), 2);
    ck_assert_int_eq(tu_run_cli("plan --deltas 1,1 --seeds 3", out, sizeof out), 2);
    ck_assert_int_eq(tu_run_cli("plan --sd -1 --seeds 3", out, sizeof out), 2);
    ck_assert_int_eq(tu_run_cli("plan --sd 1 --seeds 1", out, sizeof out), 2);
}
END_TEST

/* ---------------------------------------------------------------- noise floor, pairing */

START_TEST(noise_floor_known) {
    /* the quick start's attnres_full seed 3: 1.402 in one build, 1.460 in the other */
    double o[2] = {1.402, 2.0}, q[2] = {1.460, 2.0};
    ck_assert_double_eq_tol(noise_floor(o, q, 2), sqrt(0.058 * 0.058 / 4), 1e-12);
    ck_assert(noise_floor(o, o, 2) == 0);
    ck_assert(isnan(noise_floor(o, q, 0)));
}
END_TEST

START_TEST(pairing_ratio_known) {
    double x[4] = {1, 2, 3, 4}, y[4] = {1, 2, 3, 4}, r[4] = {4, 3, 2, 1};
    PairingRatio p = pairing_ratio(x, y, 4);
    ck_assert_double_eq_tol(p.ratio, 0, 1e-12);
    ck_assert_double_eq_tol(p.correlation, 1, 1e-12);
    p = pairing_ratio(x, r, 4); /* anti-correlated: pairing doubles the variance */
    ck_assert_double_eq_tol(p.ratio, sqrt(2.0), 1e-12);
    ck_assert_double_eq_tol(p.correlation, -1, 1e-12);
    ck_assert_double_eq_tol(p.sd_paired, sqrt(20.0 / 3), 1e-12);
}
END_TEST

/* Final losses of one variant and prenorm from the committed part-1 summary, paired by seed. */
static int part1(const char *variant, double *x, double *y, double *flops_x, double *flops_y) {
    CsvTable t;
    ck_assert_msg(
        csv_load(RB_SOURCE_DIR "/results/reference/campaign/part1-loss/summary.csv", &t) == 0, "%s",
        rb_error());
    int cv = csv_col(&t, "variant"), cs = csv_col(&t, "seed"), cl = csv_col(&t, "final_val_loss"),
        cf = csv_col(&t, "flops"), n = 0;
    ck_assert(cv >= 0 && cs >= 0 && cl >= 0 && cf >= 0);
    for (size_t r = 0; r < csv_nrows(&t); r++) {
        if (strcmp(csv_cell(&t, r, cv), variant) != 0) continue;
        for (size_t q = 0; q < csv_nrows(&t); q++)
            if (!strcmp(csv_cell(&t, q, cv), "prenorm") &&
                csv_num(&t, q, cs) == csv_num(&t, r, cs)) {
                x[n] = csv_num(&t, r, cl);
                y[n++] = csv_num(&t, q, cl);
                *flops_x = csv_num(&t, r, cf);
                *flops_y = csv_num(&t, q, cf);
            }
    }
    csv_table_free(&t);
    return n;
}

/* The numbers: paired SD 1.22x and 1.28x the unpaired SD in part 1. */
START_TEST(pairing_ratio_part1) {
    double x[16], y[16], fx, fy;
    int n = part1("attnres_full", x, y, &fx, &fy);
    ck_assert_int_eq(n, 6);
    ck_assert_double_eq_tol(pairing_ratio(x, y, n).ratio, 1.22, 0.005);
    n = part1("attnres_block", x, y, &fx, &fy);
    ck_assert_double_eq_tol(pairing_ratio(x, y, n).ratio, 1.28, 0.005);
}
END_TEST

/* ---------------------------------------------------------------- multiplier */

static const PowerLaw LAW3 = {330.01795174986097, 0.2118519163827577, 1.1201073381202011, 0, 0};
/* part 3's ladder: prenorm's and attnres_block's FLOPs at (2,64), (3,96), (4,128), (6,160) */
static const double FB[4] = {188550742016, 1895550418944, 10053713133568, 5.3259927552e+13};
static const double FV[4] = {191440617472, 1914458996736, 10144444317696, 5.3653536768e+13};

/* Exact losses on the law, the variant at 1.25x compute; every seed shifts both arms alike. */
START_TEST(multiplier_exact_ladder) {
    static Ladder l;
    memset(&l, 0, sizeof l);
    l.sizes = 4;
    l.seeds = 3;
    for (int s = 0; s < 4; s++) {
        l.flops_base[s] = FB[s];
        l.flops_variant[s] = FV[s];
        for (int j = 0; j < 3; j++) {
            double shift = 0.01 * (j - 1); /* mean 0: the law fitted to the means is LAW3 */
            l.loss_base[s][j] = power_law_loss(&LAW3, FB[s]) + shift;
            l.loss_variant[s][j] = power_law_loss(&LAW3, 1.25 * FV[s]) + shift;
        }
    }
    PowerLaw law;
    ck_assert(ladder_fit_law(&l, &law) == 0);
    ck_assert_msg(fabs(law.b / LAW3.b - 1) < 1e-3, "b %g", law.b);
    MultInterval m = multiplier_paired(&l, &law, -1, 0.95);
    ck_assert_int_eq(m.n, 3);
    ck_assert_double_eq_tol(m.point, 1.25, 1e-4);
    ck_assert_double_eq_tol(m.lo, m.point, 1e-12); /* identical deltas: no spread */
    ck_assert_double_eq_tol(m.hi, m.point, 1e-12);
    for (int s = 0; s < 4; s++)
        ck_assert_double_eq_tol(multiplier_paired(&l, &law, s, 0.95).point, 1.25, 1e-4);
    /* a missing run drops that seed; one seed left cannot give an interval */
    l.loss_variant[2][0] = NAN;
    ck_assert_int_eq(multiplier_paired(&l, &law, -1, 0.95).n, 2);
    l.loss_variant[1][1] = NAN;
    ck_assert(isnan(multiplier_paired(&l, &law, -1, 0.95).lo));
    /* known spread: per-seed log multipliers log 1.1, log 1.25, log 1.4 at one size give
     * mean(log) with a t(2) interval */
    static Ladder one;
    memset(&one, 0, sizeof one);
    one.sizes = 1;
    one.seeds = 3;
    one.flops_base[0] = one.flops_variant[0] = FB[2];
    const double mult[3] = {1.1, 1.25, 1.4};
    double y[3];
    for (int j = 0; j < 3; j++) {
        one.loss_base[0][j] = power_law_loss(&LAW3, FB[2]) + 0.003 * j;
        one.loss_variant[0][j] = power_law_loss(&LAW3, mult[j] * FB[2]) + 0.003 * j;
        y[j] = log(mult[j]);
    }
    MultInterval k = multiplier_paired(&one, &LAW3, 0, 0.95);
    double hw = gsl_cdf_tdist_Pinv(0.975, 2) * stats_std(y, 3) / sqrt(3);
    ck_assert_double_eq_tol(k.point, exp(stats_mean(y, 3)), 1e-9);
    ck_assert_double_eq_tol(k.lo, exp(stats_mean(y, 3) - hw), 1e-9);
    ck_assert_double_eq_tol(k.hi, exp(stats_mean(y, 3) + hw), 1e-9);
}
END_TEST

/* Coverage of the paired-seed interval on simulated part-3 ladders (3 seeds, seed SD 0.008 on
 * every final loss, true multiplier 1.2): 95% within 3.6 Monte Carlo SDs (500 ladders: 0.0097). */
START_TEST(multiplier_coverage_sim) {
    int fitted = 0;
    double cov = multiplier_coverage(&LAW3, FB, FV, 4, 3, 1.2, 0.008, 500, 3535, &fitted);
    ck_assert_msg(fitted >= 450, "only %d of 500 ladders fitted", fitted);
    ck_assert_msg(fabs(cov - 0.95) < 0.035, "coverage %.3f over %d ladders", cov, fitted);
    /* and at 6 seeds, a smaller noise, multiplier 1 */
    cov = multiplier_coverage(&LAW3, FB, FV, 4, 6, 1.0, 0.005, 500, 3536, &fitted);
    ck_assert_msg(fitted >= 450 && fabs(cov - 0.95) < 0.035, "coverage %.3f over %d", cov, fitted);
}
END_TEST

/* Part 1's Block delta at (4,128) read through the committed part-3 law: about 1.23x at equal
 * tokens (the reading), a little less when Block's 0.9% extra FLOPs are charged. */
START_TEST(multiplier_from_delta_part1) {
    /* the law from the committed fit.ini, not from a copy */
    char *ini = tu_read(RB_SOURCE_DIR "/results/reference/campaign/part3-fit/fit.ini");
    ck_assert(ini != NULL);
    PowerLaw law = {0};
    const char *a = strstr(ini, "\na = "), *b = strstr(ini, "\nb = "), *c = strstr(ini, "\nc = ");
    ck_assert(a && b && c);
    law.a = strtod(a + 5, NULL);
    law.b = strtod(b + 5, NULL);
    law.c = strtod(c + 5, NULL);
    ck_assert_double_eq_tol(law.b, LAW3.b, 1e-12);
    double x[16], y[16], fx, fy;
    int n = part1("attnres_block", x, y, &fx, &fy);
    ck_assert_int_eq(n, 6);
    double d[16];
    for (int i = 0; i < n; i++) d[i] = x[i] - y[i];
    double delta = stats_mean(d, n), base = stats_mean(y, n);
    ck_assert_double_eq_tol(delta, -0.0303, 5e-5);
    double equal_tokens = multiplier_from_delta(&law, base, delta, fy, fy),
           charged = multiplier_from_delta(&law, base, delta, fy, fx);
    ck_assert_msg(fabs(equal_tokens - 1.23) < 0.005, "%.4f", equal_tokens);
    ck_assert_double_eq_tol(charged, equal_tokens * fy / fx, 1e-12);
    ck_assert(charged < equal_tokens && charged > 1.2);
    /* analytic: with b = 1 and c = 0 the law is L = a / C, so M = L0 / (L0 + delta) */
    PowerLaw inv = {10, 1, 0, 0, 0};
    ck_assert_double_eq_tol(multiplier_from_delta(&inv, 2.0, -0.4, 1, 1), 2.0 / 1.6, 1e-12);
    ck_assert(isnan(multiplier_from_delta(&law, law.c - 0.1, -0.01, 1, 1)));
}
END_TEST

static Suite *validity_suite(void) {
    Suite *s = suite_create("validity");
    TCase *tc = tcase_create("validity");
    tcase_add_checked_fixture(tc, NULL, tu_free_all);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, magnitude_known_slope);
    tcase_add_test(tc, magnitude_outlier_first_output);
    tcase_add_test(tc, magnitude_loo_flags_outlier);
    tcase_add_test(tc, magnitude_per_type);
    tcase_add_test(tc, grad_cv_known);
    tcase_add_test(tc, grad_cv_batches);
    tcase_add_test(tc, profile_points_errors);
    tcase_add_test(tc, health_trained);
    tcase_add_test(tc, health_diverged);
    tcase_add_test(tc, health_stalled_flat);
    tcase_add_test(tc, health_part6_shape);
    tcase_add_test(tc, health_spikes_below_clip);
    tcase_add_test(tc, health_converged_plateau);
    tcase_add_test(tc, health_csv);
    tcase_add_test(tc, probe_floor_ceiling);
    tcase_add_test(tc, verdict_test_known_p);
    tcase_add_test(tc, verdict_tost);
    tcase_add_test(tc, verdict_directions);
    tcase_add_test(tc, verdict_holm_family);
    tcase_add_test(tc, power_known_values);
    tcase_add_test(tc, power_simulation);
    tcase_add_test(tc, power_mde_roundtrip);
    tcase_add_test(tc, power_plan_cli);
    tcase_add_test(tc, noise_floor_known);
    tcase_add_test(tc, pairing_ratio_known);
    tcase_add_test(tc, pairing_ratio_part1);
    tcase_add_test(tc, multiplier_exact_ladder);
    tcase_add_test(tc, multiplier_coverage_sim);
    tcase_add_test(tc, multiplier_from_delta_part1);
    suite_add_tcase(s, tc);
    return s;
}

RB_TEST_MAIN(validity_suite)
