/* optimizer=muon: the Newton-Schulz iteration's singular values against the scalar polynomial it
 * applies (and the band that keeps them in), the step against an independent PyTorch float64
 * reference for every variant (tests/reference/make_fixtures.py, tests/fixtures/muon/), which
 * parameters Muon takes, determinism, exact resume, refusal of the other optimizer's checkpoint,
 * the config keys and the FLOP count. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "optim.h"
#include "registry.h"
#include "testutil.h"
#include "train.h"

/* ---- Newton-Schulz ----------------------------------------------------------------------------
 */

/* The scalar map one step applies to every singular value: p(x) = a x + b x^3 + c x^5. */
static double ns_poly(double x) {
    return RB_NS_A * x + RB_NS_B * x * x * x + RB_NS_C * x * x * x * x * x;
}

static double ns_poly5(double x) {
    for (int s = 0; s < RB_NS_STEPS; s++) x = ns_poly(x);
    return x;
}

/* An orthonormal basis of n-vectors, k of them (Gram-Schmidt twice on random vectors, double). */
static void orthonormal(double *Q, int n, int k, uint64_t *state) {
    for (int j = 0; j < k; j++) {
        double *q = Q + (size_t)j * n;
        for (int i = 0; i < n; i++) {
            *state = *state * 6364136223846793005ull + 1442695040888963407ull;
            q[i] = (double)(*state >> 11) / 9007199254740992.0 - 0.5;
        }
        for (int pass = 0; pass < 2; pass++)
            for (int p = 0; p < j; p++) {
                const double *o = Q + (size_t)p * n;
                double dot = 0;
                for (int i = 0; i < n; i++) dot += q[i] * o[i];
                for (int i = 0; i < n; i++) q[i] -= dot * o[i];
            }
        double nn = 0;
        for (int i = 0; i < n; i++) nn += q[i] * q[i];
        for (int i = 0; i < n; i++) q[i] /= sqrt(nn);
    }
}

/* grad_global_norm sums four chunks side by side: the same value, bit for bit, as one chunk at a
 * time in order (its plain form, here), on parameter counts that do and do not divide into 64. */
START_TEST(test_grad_norm_is_plain) {
    const int dims[] = {16, 24};
    for (int k = 0; k < 2; k++) {
        Config c;
        tu_tiny_config(&c);
        c.d_model = dims[k];
        Model m;
        ck_assert(model_build(&m, &c) == 0);
        Rng r;
        rng_seed(&r, 21 + k);
        rng_fill_normal(&r, m.grads, (long)m.n_params, 1.0f);
        size_t n = m.n_params;
        double total = 0;
        for (int ch = 0; ch < RB_NORM_CHUNKS; ch++) {
            double s = 0;
            for (size_t i = n * ch / RB_NORM_CHUNKS; i < n * (ch + 1) / RB_NORM_CHUNKS; i++)
                s += (double)m.grads[i] * m.grads[i];
            total += s;
        }
        double got = grad_global_norm(&m), want = sqrt(total);
        ck_assert_msg(memcmp(&got, &want, 8) == 0, "n=%zu: %.17g vs %.17g", n, got, want);
        model_free(&m);
    }
}
END_TEST
/* G = U diag(s) V^T with known U (rows x k), V (cols x k), k = min: after newton_schulz,
 * U^T X V must be diag(p^5(s_i / ||s||)) (the iteration maps each singular value through the
 * scalar polynomial and keeps the singular vectors), and those values must lie in the band the
 * iteration guarantees for normalised singular values in [smin / ||s||, 1]. */
static void check_ns_shape(int rows, int cols, double s_lo) {
    int k = rows < cols ? rows : cols;
    uint64_t state = 0x1234567ull + (uint64_t)rows * 131 + (uint64_t)cols;
    double *U = tu_mem(sizeof(double) * rows * k), *V = tu_mem(sizeof(double) * cols * k);
    double *s = tu_mem(sizeof(double) * k);
    orthonormal(U, rows, k, &state);
    orthonormal(V, cols, k, &state);
    double ss = 0;
    for (int i = 0; i < k; i++) { /* log-spaced from 1 down to s_lo */
        s[i] = exp(log(s_lo) * i / (k > 1 ? k - 1 : 1));
        ss += s[i] * s[i];
    }
    float *X = tu_mem(sizeof(float) * rows * cols);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            double v = 0;
            for (int i = 0; i < k; i++)
                v += U[(size_t)i * rows + r] * s[i] * V[(size_t)i * cols + c];
            X[(size_t)r * cols + c] = (float)(3.7 * v); /* any scale: it is normalised away */
        }
    float *work = tu_mem(sizeof(float) * newton_schulz_work(rows, cols));
    newton_schulz(X, rows, cols, work);
    /* the band: p^5 over a dense grid of [s_lo / ||s||, 1] */
    double x_lo = s_lo / sqrt(ss), band_lo = INFINITY, band_hi = 0;
    for (int i = 0; i <= 100000; i++) {
        double y = ns_poly5(x_lo + (1 - x_lo) * i / 100000.0);
        band_lo = fmin(band_lo, y);
        band_hi = fmax(band_hi, y);
    }
    double worst_diag = 0, worst_off = 0, sv_min = INFINITY, sv_max = 0;
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) {
            double v = 0; /* (U^T X V)_ij */
            for (int r = 0; r < rows; r++) {
                double xr = 0;
                for (int c = 0; c < cols; c++)
                    xr += (double)X[(size_t)r * cols + c] * V[(size_t)j * cols + c];
                v += U[(size_t)i * rows + r] * xr;
            }
            if (i == j) {
                worst_diag = fmax(worst_diag, fabs(v - ns_poly5(s[i] / sqrt(ss))));
                sv_min = fmin(sv_min, v);
                sv_max = fmax(sv_max, v);
            } else
                worst_off = fmax(worst_off, fabs(v));
        }
    printf("newton_schulz %dx%d, singular values %.0e..1: output %.4f..%.4f (band %.4f..%.4f), "
           "max error vs p^5 %.1e, off-diagonal %.1e\n",
           rows, cols, s_lo, sv_min, sv_max, band_lo, band_hi, worst_diag, worst_off);
    ck_assert_msg(worst_diag < 1e-4, "singular values off p^5 by %g", worst_diag);
    ck_assert_msg(worst_off < 1e-4, "singular vectors not kept: off-diagonal %g", worst_off);
    ck_assert(sv_min >= band_lo - 1e-4 && sv_max <= band_hi + 1e-4);
}

START_TEST(test_newton_schulz_band) {
    /* the quintic's fixed behaviour: with the normalised singular values at least 1e-2 (here
     * as low as 1e-3 / ||s||), five steps land them in about [0.68, 1.13], not at 1 (Keller
     * Jordan's trade of exactness for slope at zero) */
    check_ns_shape(12, 12, 0.05);
    check_ns_shape(8, 20, 0.05); /* wide: A = X X^T */
    check_ns_shape(20, 8, 0.05); /* tall: A = X^T X, X (b A + c A^2) */
    check_ns_shape(24, 16, 0.1);
    double lo = INFINITY, hi = 0;
    for (int i = 0; i <= 100000; i++) {
        double y = ns_poly5(0.01 + 0.99 * i / 100000.0);
        lo = fmin(lo, y);
        hi = fmax(hi, y);
    }
    printf("p^5 over [0.01, 1]: [%.4f, %.4f]\n", lo, hi);
    ck_assert(lo > 0.6 && hi < 1.25); /* the band the coefficients were chosen for */
}
END_TEST

START_TEST(test_newton_schulz_zero) {
    float X[6] = {0}, work[64];
    ck_assert(newton_schulz_work(2, 3) <= 64);
    newton_schulz(X, 2, 3, work); /* a zero update stays zero (1e-7 in the norm), no NaN */
    for (int i = 0; i < 6; i++) ck_assert(X[i] == 0.0f);
}
END_TEST

/* ---- the step against the PyTorch reference -------------------------------------------------- */

typedef struct {
    int32_t h[16];
    char variant[32];
    double hyper[10];
    int *tokens;
    float *params, *losses, *final, fp32_loss_err, fp32_err;
    Config cfg;
} MuonFixture;

static void load_fixture(const char *name, MuonFixture *fx) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/muon/%s.bin", RB_SOURCE_DIR, name);
    char *buf = tu_read(path);
    ck_assert_msg(buf != NULL, "missing fixture %s", path);
    char *p = buf;
    memcpy(fx->h, tu_take(&p, sizeof fx->h), sizeof fx->h);
    memcpy(fx->variant, tu_take(&p, 32), 32);
    memcpy(fx->hyper, tu_take(&p, sizeof fx->hyper), sizeof fx->hyper);
    ck_assert_int_eq(fx->h[0], 0x554D4252);
    int B = fx->h[6], T = fx->h[5], P = fx->h[10], S = fx->h[9];
    fx->tokens = (int *)tu_take(&p, (size_t)B * (T + 1) * 4);
    fx->params = (float *)tu_take(&p, (size_t)P * 4);
    fx->losses = (float *)tu_take(&p, (size_t)S * 4);
    fx->final = (float *)tu_take(&p, (size_t)P * 4);
    memcpy(&fx->fp32_loss_err, tu_take(&p, 4), 4);
    memcpy(&fx->fp32_err, tu_take(&p, 4), 4);
    Config *c = &fx->cfg;
    tu_fixture_config(c, fx->h, fx->variant, fx->hyper);
    tu_apply_backend(c); /* test_optim_onednn: the step, Newton-Schulz included, on oneDNN */
    tu_set(c, "optimizer", "muon");
    c->muon_momentum = fx->hyper[8];
    c->muon_nesterov = (int)fx->hyper[9];
}

static void check_fixture(const char *name) {
    MuonFixture fx;
    load_fixture(name, &fx);
    Model m;
    ck_assert_msg(model_build(&m, &fx.cfg) == 0, "%s", rb_error());
    ck_assert_int_eq((int)m.n_params, fx.h[10]);
    double losses[64], jit[64], e_loss = 0, s_loss = 0;
    ck_assert(fx.h[9] <= 64);
    tu_fixture_steps(&m, fx.tokens, fx.params, fx.h[9], 0, losses);
    for (int s = 0; s < fx.h[9]; s++)
        e_loss = fmax(e_loss, fabs(losses[s] - fx.losses[s]) / fabs(fx.losses[s]));
    double e_final = tu_max_rel(m.params, fx.final, m.n_params);
    float *after = tu_mem(m.n_params * 4);
    memcpy(after, m.params, m.n_params * 4);
    /* a moved parameter of each kind: the reference's steps moved them, and so did ours */
    double moved = tu_max_rel(fx.params, fx.final, m.n_params);
    tu_fixture_steps(&m, fx.tokens, fx.params, fx.h[9], 1, jit);
    for (int s = 0; s < fx.h[9]; s++)
        s_loss = fmax(s_loss, fabs(jit[s] - losses[s]) / fabs(losses[s]));
    double s_final = tu_max_rel(m.params, after, m.n_params);
    printf("%s (momentum %.2f%s) vs PyTorch: step losses %.2e, params after %d Muon steps %.2e "
           "(moved %.2e; PyTorch fp32: %.2e, %.2e; one-ulp jitter: %.2e, %.2e)\n",
           name, fx.hyper[8], fx.hyper[9] ? " Nesterov" : "", e_loss, fx.h[9], e_final, moved,
           fx.fp32_loss_err, fx.fp32_err, s_loss, s_final);
    ck_assert(moved > 1e-3);
    double loss_bound = fmax(1e-5, fmax(5 * fx.fp32_loss_err, 5 * s_loss));
    double bound = fmax(2e-5, fmax(5 * fx.fp32_err, 5 * s_final));
    ck_assert_msg(e_loss < loss_bound, "%s: Muon step losses off by %g (bound %g)", name, e_loss,
                  loss_bound);
    ck_assert_msg(e_final < bound, "%s: parameters after Muon off by %g (bound %g)", name, e_final,
                  bound);
    model_free(&m);
}

START_TEST(test_muon_reference) {
    /* every installed variant, by construction (a new one fails until its fixture exists) */
    for (int i = 0; rb_variants[i]; i++) check_fixture(rb_variants[i]->name);
    check_fixture("attnres_full-query_input");
    check_fixture("attnres_block-query_input");
    check_fixture("prenorm-nesterov_0");
}
END_TEST

/* ---- which parameters, the keys, FLOPs ---------------------------------------------------------
 */

static size_t matrix_entries(const Config *c) {
    Model m;
    ck_assert_msg(model_build(&m, c) == 0, "%s", rb_error());
    size_t n = 0;
    for (size_t i = 0; i < m.n_params; i++) n += m.is_mat[i];
    /* every declared entry once: the runs do not overlap */
    size_t declared = 0;
    for (int r = 0; r < m.n_mat; r++)
        declared += (size_t)m.mat[r].count * m.mat[r].rows * m.mat[r].cols;
    ck_assert_uint_eq(n, declared);
    model_free(&m);
    return n;
}

START_TEST(test_muon_matrices) {
    Config c;
    tu_tiny_config(&c); /* 2 blocks, d = 16, H = mlp hidden */
    tu_set(&c, "optimizer", "muon");
    size_t C = 16, H = (size_t)config_mlp_hidden(&c), core = 2 * (4 * C * C + 3 * H * C);
    ck_assert_uint_eq(matrix_entries(&c), core);
    tu_set(&c, "variant", "attnres_full");
    ck_assert_uint_eq(matrix_entries(&c), core); /* pseudo-queries are vectors */
    tu_set(&c, "variant", "attnres_full:query=input");
    ck_assert_uint_eq(matrix_entries(&c), core + 5 * C * C); /* W_l of L + 1 = 5 consumers */
    tu_set(&c, "variant", "mhc");
    size_t n = 4, K = 2 * n + n * n;
    ck_assert_uint_eq(matrix_entries(&c), core + 4 * n * C * K); /* phi of 4 sites */
    tu_set(&c, "variant", "hc");
    ck_assert_uint_eq(matrix_entries(&c), core + 4 * C * (n + 2));
    tu_set(&c, "variant", "denseformer");
    ck_assert_uint_eq(matrix_entries(&c), core);
    /* under adamw nothing is set up */
    Model m;
    tu_set(&c, "optimizer", "adamw");
    ck_assert(model_build(&m, &c) == 0);
    ck_assert(m.is_mat == NULL && m.n_mat == 0 && m.ns_work == NULL);
    model_free(&m);
}
END_TEST

START_TEST(test_optimizer_keys) {
    Config c;
    config_defaults(&c);
    char *adamw = config_to_ini(&c);
    ck_assert_ptr_null(strstr(adamw, "optimizer")); /* AdamW configs (and run ids) as before */
    ck_assert_ptr_null(strstr(adamw, "muon"));
    uint64_t h = config_hash(&c);
    tu_set(&c, "optimizer", "adamw");
    ck_assert(config_hash(&c) == h);
    tu_set(&c, "optimizer", "muon");
    ck_assert(config_hash(&c) != h);
    char *muon = config_to_ini(&c);
    ck_assert_ptr_nonnull(strstr(muon, "optimizer = muon\n"));
    ck_assert_ptr_nonnull(strstr(muon, "muon_momentum = 0.95\n"));
    ck_assert_ptr_nonnull(strstr(muon, "muon_nesterov = 1\n"));
    /* the text reads back to the same config */
    Config back;
    config_defaults(&back);
    ck_assert(config_load_ini_text(&back, muon, "muon") == 0);
    ck_assert(config_hash(&back) == config_hash(&c));
    uint64_t hm = config_hash(&c);
    tu_set(&c, "muon_nesterov", "0");
    ck_assert(config_hash(&c) != hm);
    free(adamw);
    free(muon);
    /* one-line errors */
    config_defaults(&c);
    ck_assert(config_set(&c, "optimizer", "sgd", "argument") != 0);
    ck_assert_ptr_nonnull(strstr(rb_error(), "'sgd' is not allowed (allowed: adamw|muon)"));
    ck_assert(config_set(&c, "muon_momentum", "1", "argument") != 0);
    ck_assert(config_set(&c, "muon_nesterov", "2", "argument") != 0);
    tu_set(&c, "muon_momentum", "0.9");
    ck_assert(config_validate(&c) != 0); /* no effect under adamw */
    ck_assert_ptr_nonnull(strstr(rb_error(), "no effect with optimizer=adamw"));
    tu_set(&c, "optimizer", "muon");
    ck_assert(config_validate(&c) == 0);
}
END_TEST

START_TEST(test_optimizer_flops) {
    Config c;
    tu_tiny_config(&c);
    double adamw = flops_per_step(&c);
    ck_assert(optimizer_flops_per_step(&c) == 0); /* AdamW counts what it always did */
    tu_set(&c, "optimizer", "muon");
    size_t C = 16, H = (size_t)config_mlp_hidden(&c);
    double ns =
        2 * (4 * newton_schulz_flops((int)C, (int)C) + 3 * newton_schulz_flops((int)H, (int)C));
    ck_assert_double_eq_tol(optimizer_flops_per_step(&c), ns, 1e-6 * ns);
    ck_assert_double_eq_tol(flops_per_step(&c), adamw + ns, 1e-6 * ns);
    /* k x k Gram of a k x n matrix, A^2, then (.) X: 5 (4 k^2 n + 2 k^3) */
    ck_assert_double_eq(newton_schulz_flops(4, 10), 5 * (4 * 16 * 10 + 2 * 64));
    ck_assert_double_eq(newton_schulz_flops(10, 4), newton_schulz_flops(4, 10));
}
END_TEST

/* ---- determinism, resume, refusal ------------------------------------------------------------ */

static void muon_train_config(Config *c, const char *out, const char *id) {
    config_defaults(c);
    c->n_layer = 2;
    c->d_model = 32;
    c->n_head = 2;
    c->seq_len = 32;
    c->batch_size = 4;
    c->steps = 30;
    c->warmup = 5;
    c->eval_every = 10;
    c->eval_tokens = 256;
    c->log_every = 1;
    tu_set(c, "variant", "attnres_full:query=input");
    tu_set(c, "optimizer", "muon");
    snprintf(c->out, sizeof c->out, "%s", out);
    snprintf(c->run_id, sizeof c->run_id, "%s", id);
}

static char *metrics_losses(const char *out, const char *id) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/metrics.csv", out, id);
    char *text = tu_read(path);
    ck_assert_msg(text != NULL, "no %s", path);
    /* step,tokens,flops,wall_s,lr,train_loss,val_loss,grad_norm,tok_per_s: keep 0-2, 4-7 */
    char *res = tu_mem(strlen(text) + 1), *w = res;
    int col = 0;
    for (char *p = text; *p; p++) {
        if (*p == '\n') {
            col = 0;
            *w++ = '\n';
            continue;
        }
        if (*p == ',') col++;
        if (col != 3 && col != 8) *w++ = *p;
    }
    *w = 0;
    return res;
}

START_TEST(test_muon_deterministic_and_resume) {
    char *out = tu_tempdir();
    Config c;
    TrainResult r;
    muon_train_config(&c, out, "a");
    ck_assert_msg(train_run(&c, 0, TRAIN_QUIET, &r) == 0, "%s", rb_error());
    muon_train_config(&c, out, "b");
    ck_assert(train_run(&c, 0, TRAIN_QUIET, &r) == 0);
    char *a = metrics_losses(out, "a");
    ck_assert_str_eq(a, metrics_losses(out, "b")); /* bit-identical losses */
    /* stopped at step 13 (a checkpoint with the momentum), resumed: the same trajectory */
    muon_train_config(&c, out, "cut");
    c.stop_at_step = 13;
    ck_assert_int_eq(train_run(&c, 0, TRAIN_QUIET, &r), RB_EXIT_INTERRUPTED);
    c.stop_at_step = 0;
    ck_assert_msg(train_run(&c, 1, TRAIN_QUIET, &r) == 0, "%s", rb_error());
    ck_assert_str_eq(a, metrics_losses(out, "cut"));
    /* the momentum lives in the checkpoint: resuming with it zeroed diverges */
    muon_train_config(&c, out, "zeroed");
    c.stop_at_step = 13;
    ck_assert_int_eq(train_run(&c, 0, TRAIN_QUIET, &r), RB_EXIT_INTERRUPTED);
    char ckpt[1200];
    snprintf(ckpt, sizeof ckpt, "%s/zeroed/ckpt.bin", out);
    Model m;
    CkptState st;
    ck_assert(model_build(&m, &c) == 0);
    ck_assert(checkpoint_load(ckpt, &m, &st) == 0);
    double mom = 0;
    for (int i = 0; i < m.n_mat; i++) mom += fabs(m.adam_m[m.mat[i].offset]);
    ck_assert(mom > 0);
    model_free(&m);
    /* a checkpoint of the other optimizer is refused, naming the key */
    Config other = c;
    tu_set(&other, "optimizer", "adamw");
    ck_assert(model_build(&m, &other) == 0);
    ck_assert(checkpoint_load(ckpt, &m, &st) != 0);
    ck_assert_msg(strstr(rb_error(), "optimizer = adamw here, muon in the checkpoint") != NULL,
                  "%s", rb_error());
    ck_assert_ptr_null(strchr(rb_error(), '\n'));
    model_free(&m);
}
END_TEST

static Suite *optim_suite(void) {
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("muon");
    tcase_add_checked_fixture(tc, NULL, tu_free_all);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_grad_norm_is_plain);
    tcase_add_test(tc, test_newton_schulz_band);
    tcase_add_test(tc, test_newton_schulz_zero);
    tcase_add_test(tc, test_muon_reference);
    tcase_add_test(tc, test_muon_matrices);
    tcase_add_test(tc, test_optimizer_keys);
    tcase_add_test(tc, test_optimizer_flops);
    tcase_add_test(tc, test_muon_deterministic_and_resume);
    suite_add_tcase(s, tc);
    return s;
}

RB_TEST_MAIN(optim_suite)
