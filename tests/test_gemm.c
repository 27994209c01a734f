/* The GEMM backend layer (core/gemm.c): bf16 rounding, the backends against each other and
 * against a double-precision oracle, bf16 gradients against fp32 at init, determinism per
 * backend and precision, and no primitive created inside a training step. Tests that need bf16
 * skip with a message on a CPU (or a build) without it. */
#define _GNU_SOURCE /* dladdr */
#include <cblas.h>
#include <dlfcn.h>
#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "infer.h"
#include "ops.h"
#include "optim.h"
#include "profile.h"
#include "rng.h"
#include "testutil.h"

static int have_onednn(void) {
    return gemm_check(RB_GEMM_ONEDNN, RB_PREC_FP32) == 0;
}

static int have_bf16(const char *test) {
    if (gemm_check(RB_GEMM_ONEDNN, RB_PREC_BF16) == 0) return 1;
    printf("%s: skipped: %s\n", test, rb_error());
    return 0;
}

static uint32_t bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Round to nearest even on values whose answer is known by hand. */
START_TEST(test_bf16_rounding) {
    /* 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to the even 1.0 */
    ck_assert_float_eq(gemm_from_bf16(gemm_to_bf16(1.0f + 0x1p-8f)), 1.0f);
    /* 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): up */
    ck_assert_float_eq(gemm_from_bf16(gemm_to_bf16(1.0f + 3 * 0x1p-8f)), 1.0f + 0x1p-6f);
    /* just above a tie rounds up, just below rounds down */
    ck_assert_float_eq(gemm_from_bf16(gemm_to_bf16(1.0f + 0x1p-8f + 0x1p-20f)), 1.0f + 0x1p-7f);
    ck_assert_float_eq(gemm_from_bf16(gemm_to_bf16(1.0f + 0x1p-8f - 0x1p-20f)), 1.0f);
    ck_assert_float_eq(gemm_from_bf16(gemm_to_bf16(-2.5f)), -2.5f); /* exact */
    ck_assert(isinf(gemm_from_bf16(gemm_to_bf16(INFINITY))));
    ck_assert(isnan(gemm_from_bf16(gemm_to_bf16(NAN))));
    /* the largest finite float overflows to inf under round to nearest, as IEEE rounding does */
    ck_assert(isinf(gemm_from_bf16(gemm_to_bf16(3.4028235e38f))));
    /* every rounded value is within half a unit of the last of its 8 significant bits */
    Rng r;
    rng_seed(&r, 3);
    float x[1000];
    uint16_t h[1000];
    rng_fill_normal(&r, x, 1000, 1.0f);
    gemm_round_bf16(h, x, 1000);
    for (int i = 0; i < 1000; i++) {
        float y = gemm_from_bf16(h[i]);
        ck_assert(fabsf(y - x[i]) <= 0x1p-8f * fabsf(x[i])); /* half of 2^-7 relative to 2^e */
        ck_assert_int_eq(bits(y) & 0xffff, 0);
    }
}
END_TEST

/* C = alpha op(A) op(B) + beta C in double. */
static void oracle(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, double *C, const float *C0, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++)
                s += (double)(ta ? A[k * lda + i] : A[i * lda + k]) *
                     (tb ? B[j * ldb + k] : B[k * ldb + j]);
            C[i * N + j] = alpha * s + beta * (double)C0[i * ldc + j];
        }
}

/* Both backends' fp32 products against the double oracle, every transpose combination, with
 * leading dimensions larger than the rows (the attention's strided heads). */
START_TEST(test_gemm_f32_backends) {
    enum { M = 37, N = 29, K = 53, LD = 64 };
    float *A = tu_mem(LD * LD * 4), *B = tu_mem(LD * LD * 4), *C = tu_mem(LD * LD * 4);
    float *C0 = tu_mem(LD * LD * 4);
    double *ref = tu_mem(M * N * 8);
    Rng r;
    rng_seed(&r, 5);
    rng_fill_normal(&r, A, LD * LD, 1.0f);
    rng_fill_normal(&r, B, LD * LD, 1.0f);
    rng_fill_normal(&r, C0, LD * LD, 1.0f);
    int nb = have_onednn() ? 2 : 1;
    for (int b = 0; b < nb; b++) {
        gemm_select(b, RB_PREC_FP32);
        for (int t = 0; t < 4; t++) {
            int ta = t & 1, tb = t >> 1;
            memcpy(C, C0, LD * LD * 4);
            gemm_f32(ta, tb, M, N, K, 0.5f, A, LD, B, LD, 1.0f, C, LD);
            oracle(ta, tb, M, N, K, 0.5f, A, LD, B, LD, 1.0f, ref, C0, LD);
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) /* |terms| ~ sqrt(K): fp32 sums stay within 1e-5 */
                    ck_assert_msg(fabs(C[i * LD + j] - ref[i * N + j]) < 1e-4,
                                  "%s ta=%d tb=%d (%d,%d): %g vs %g", gemm_backend_name(b), ta, tb,
                                  i, j, C[i * LD + j], ref[i * N + j]);
            ck_assert_float_eq(C[M * LD], C0[M * LD]); /* rows beyond M untouched */
        }
    }
    gemm_select(RB_GEMM_OPENBLAS, RB_PREC_FP32);
}
END_TEST

static void round_all(float *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = gemm_from_bf16(gemm_to_bf16(src[i]));
}

/* bf16 linear layer: exactly the product of the bf16-rounded operands, accumulated in fp32 (the
 * oracle rounds the operands the same way and sums in double: the only difference left is fp32
 * accumulation, ~1e-6 relative; keeping fp32 operands instead would differ by ~2^-9). */
START_TEST(test_bf16_linear_is_rounded_operands) {
    if (!have_bf16("test_bf16_linear_is_rounded_operands")) return;
    enum { N = 48, IC = 40, OC = 24 };
    float *x = tu_mem(N * IC * 4), *w = tu_mem(OC * IC * 4), *dy = tu_mem(N * OC * 4);
    float *xr = tu_mem(N * IC * 4), *wr = tu_mem(OC * IC * 4), *dyr = tu_mem(N * OC * 4);
    float *y = tu_mem(N * OC * 4), *dx = tu_mem(N * IC * 4), *dw = tu_mem(OC * IC * 4);
    float *dw0 = tu_mem(OC * IC * 4), *zero = tu_mem(N * IC * 4);
    double *ref = tu_mem((size_t)N * IC * 8);
    Rng r;
    rng_seed(&r, 9);
    rng_fill_normal(&r, x, N * IC, 1.0f);
    rng_fill_normal(&r, w, OC * IC, 1.0f);
    rng_fill_normal(&r, dy, N * OC, 1.0f);
    rng_fill_normal(&r, dw0, OC * IC, 1.0f);
    round_all(xr, x, N * IC);
    round_all(wr, w, OC * IC);
    round_all(dyr, dy, N * OC);
    gemm_select(RB_GEMM_ONEDNN, RB_PREC_BF16);
    ck_assert_int_eq(gemm_prepare_linear(N, IC, OC), 0);
    long late = gemm_late_creations();
    matmul_forward(y, x, w, N, IC, OC);
    oracle(0, 1, N, OC, IC, 1.0f, xr, IC, wr, IC, 0.0f, ref, y, OC);
    for (int i = 0; i < N * OC; i++) ck_assert(fabs(y[i] - ref[i]) < 1e-5 * (1 + fabs(ref[i])));
    memcpy(dw, dw0, OC * IC * 4);
    matmul_backward(dx, dw, dy, x, w, N, IC, OC, 0.0f);
    oracle(0, 0, N, IC, OC, 1.0f, dyr, OC, wr, IC, 0.0f, ref, zero, IC);
    for (int i = 0; i < N * IC; i++) ck_assert(fabs(dx[i] - ref[i]) < 1e-5 * (1 + fabs(ref[i])));
    oracle(1, 0, OC, IC, N, 1.0f, dyr, OC, xr, IC, 1.0f, ref, dw0, IC); /* dw accumulates */
    for (int i = 0; i < OC * IC; i++) ck_assert(fabs(dw[i] - ref[i]) < 1e-5 * (1 + fabs(ref[i])));
    /* beta = 1 accumulates into dinp */
    float *dx2 = tu_mem(N * IC * 4);
    memcpy(dx2, dx, N * IC * 4);
    matmul_backward(dx2, dw, dy, x, w, N, IC, OC, 1.0f);
    for (int i = 0; i < N * IC; i++) ck_assert(fabs(dx2[i] - 2 * dx[i]) < 1e-5 * (1 + fabs(dx[i])));
    ck_assert_int_eq(gemm_late_creations(), late); /* all four products were prepared */
    gemm_select(RB_GEMM_OPENBLAS, RB_PREC_FP32);
}
END_TEST

/* gemm_product (mhc's and hc's projections): fp32 is gemm_f32 with alpha 1 bit for bit; bf16 is
 * the product of the rounded op(A), op(B) accumulated in fp32 (as the linear layer above), for
 * every transpose combination, overwriting (beta 0) and accumulating (beta 1). */
START_TEST(test_gemm_product) {
    enum { M = 24, N = 40, K = 56 };
    float *A = tu_mem(M * K * 4), *B = tu_mem(K * N * 4), *Ar = tu_mem(M * K * 4);
    float *Br = tu_mem(K * N * 4), *C = tu_mem(M * N * 4), *C0 = tu_mem(M * N * 4);
    float *C1 = tu_mem(M * N * 4);
    double *ref = tu_mem(M * N * 8);
    Rng r;
    rng_seed(&r, 13);
    rng_fill_normal(&r, A, M * K, 1.0f);
    rng_fill_normal(&r, B, K * N, 1.0f);
    rng_fill_normal(&r, C0, M * N, 1.0f);
    round_all(Ar, A, M * K);
    round_all(Br, B, K * N);
    for (int t = 0; t < 8; t++) {
        int ta = t & 1, tb = (t >> 1) & 1, acc = t >> 2, lda = ta ? M : K, ldb = tb ? K : N;
        int nb = have_onednn() ? 2 : 1;
        for (int b = 0; b < nb; b++) {
            gemm_select(b, RB_PREC_FP32);
            memcpy(C, C0, M * N * 4);
            memcpy(C1, C0, M * N * 4);
            gemm_product(ta, tb, M, N, K, A, lda, B, ldb, (float)acc, C, N);
            gemm_f32(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, (float)acc, C1, N);
            ck_assert(memcmp(C, C1, M * N * 4) == 0);
        }
        if (gemm_check(RB_GEMM_ONEDNN, RB_PREC_BF16) != 0) continue;
        gemm_select(RB_GEMM_ONEDNN, RB_PREC_BF16);
        ck_assert_int_eq(gemm_prepare_product(tb, M, N, K, acc), 0);
        long late = gemm_late_creations();
        memcpy(C, C0, M * N * 4);
        gemm_product(ta, tb, M, N, K, A, lda, B, ldb, (float)acc, C, N);
        ck_assert_int_eq(gemm_late_creations(), late);
        oracle(ta, tb, M, N, K, 1.0f, Ar, lda, Br, ldb, (float)acc, ref, C0, N);
        for (int i = 0; i < M * N; i++)
            ck_assert_msg(fabs(C[i] - ref[i]) < 1e-5 * (1 + fabs(ref[i])),
                          "bf16 ta=%d tb=%d beta=%d [%d]: %g vs %g", ta, tb, acc, i, C[i], ref[i]);
    }
    gemm_select(RB_GEMM_OPENBLAS, RB_PREC_FP32);
}
END_TEST

/* Muon's Newton-Schulz runs its products on the selected backend (issue 36): on oneDNN its result
 * differs from OpenBLAS's in the last bits (other kernels, other summation orders; were the
 * products still cblas calls, the two would be bit-identical) and agrees within float rounding;
 * wide and tall shapes (A = X X^T or X^T X). The two libraries' kernels sum in the same order up
 * to K of a few hundred here (bit-identical products), so the Gram products have K = 1000. */
START_TEST(test_newton_schulz_on_selected_backend) {
    if (!have_onednn()) {
        printf("test_newton_schulz_on_selected_backend: skipped: %s\n", rb_error());
        return;
    }
    const int shapes[][2] = {{32, 1000}, {1000, 32}}; /* Gram products with K = 1000 */
    for (int k = 0; k < 2; k++) {
        int rows = shapes[k][0], cols = shapes[k][1], n = rows * cols;
        float *X = tu_mem((size_t)n * 4), *on[2],
              *work = tu_mem(newton_schulz_work(rows, cols) * 4);
        Rng r;
        rng_seed(&r, 17 + k);
        rng_fill_normal(&r, X, n, 1.0f);
        for (int b = 0; b < 2; b++) {
            on[b] = tu_mem((size_t)n * 4);
            memcpy(on[b], X, (size_t)n * 4);
            gemm_select(b, RB_PREC_FP32);
            newton_schulz(on[b], rows, cols, work);
        }
        gemm_select(RB_GEMM_OPENBLAS, RB_PREC_FP32);
        ck_assert_int_eq(gemm_take_error(), 0);
        double worst = 0;
        for (int i = 0; i < n; i++) worst = fmax(worst, fabs(on[0][i] - on[1][i]));
        printf("newton_schulz %dx%d: oneDNN vs OpenBLAS max |diff| %.2e\n", rows, cols, worst);
        ck_assert_msg(memcmp(on[0], on[1], (size_t)n * 4) != 0,
                      "%dx%d: oneDNN's Newton-Schulz is OpenBLAS's, bit for bit", rows, cols);
        ck_assert_msg(worst < 1e-4, "%dx%d: the backends differ by %g", rows, cols, worst);
    }
}
END_TEST

/* A model at init, larger than the tiny one so the sums are long (K up to 192). */
static void init_config(Config *c, const char *variant, const char *backend, const char *prec) {
    tu_tiny_config(c);
    c->n_layer = 2;
    c->d_model = 64;
    c->n_head = 4;
    c->seq_len = 32;
    c->batch_size = 4;
    c->mlp_hidden = 192;
    c->init_std = 0.02;
    tu_set(c, "variant", variant);
    tu_set(c, "backend", backend);
    tu_set(c, "precision", prec);
}

static void grads_at_init(const Config *c, float *g, double *loss) {
    Model m;
    ck_assert_msg(model_build(&m, c) == 0, "%s", rb_error());
    tu_fill_batch(&m, 11);
    model_zero_grad(&m);
    *loss = tu_forward(&m);
    model_backward(&m);
    memcpy(g, m.grads, m.n_params * 4);
    model_free(&m);
}

/* bf16 gradients at init against fp32 (same backend), per tensor. bf16 keeps 8 significant
 * bits: rounding moves an operand by at most u = 2^-8 relative, a product of two rounded
 * operands by at most 2u, and a sum of K such products whose errors have random signs by far
 * less than 2u of its scale. One gradient passes through a few rounded products (the forward
 * activations it depends on, the backward's own operands), so its error is a small multiple of
 * u: we allow 8u = 3.1% relative error per tensor (||g_bf16 - g_fp32|| / ||g_fp32||) and a cosine
 * of at least 1 - 32 u^2 = 1 - (8u)^2 / 2 (the cosine an error of 8u orthogonal to g would give);
 * the loss to 2u relative. A wrong bf16 path (a transposed operand, a lost accumulation) is off
 * by O(1); fp32 operands would give ~1e-6. Measured here: 0.5-1.7% (4.3u at worst, hc). */
START_TEST(test_bf16_gradients_match_fp32) {
    if (!have_bf16("test_bf16_gradients_match_fp32")) return;
    const char *variants[] = {"prenorm", "attnres_full", "mhc", "hc", "attnres_full:query=input"};
    double u = 0x1p-8;
    for (int v = 0; v < (int)RB_COUNT(variants); v++) {
        Config c32, c16;
        init_config(&c32, variants[v], "onednn", "fp32");
        init_config(&c16, variants[v], "onednn", "bf16");
        size_t n = model_param_count(&c32);
        float *g32 = tu_mem(n * 4), *g16 = tu_mem(n * 4);
        double l32, l16;
        grads_at_init(&c32, g32, &l32);
        grads_at_init(&c16, g16, &l16);
        ck_assert_msg(fabs(l16 - l32) < 2 * u * l32, "%s loss %g vs %g", variants[v], l16, l32);
        Model m; /* the tensor table */
        ck_assert(model_build(&m, &c32) == 0);
        double worst_rel = 0, worst_cos = 1;
        for (int k = 0; k < m.n_tensors; k++) {
            const ParamTensor *t = &m.tensors[k];
            double dd = 0, aa = 0, bb = 0, ab = 0;
            for (size_t i = t->offset; i < t->offset + t->count; i++) {
                double a = g32[i], b = g16[i];
                dd += (a - b) * (a - b);
                aa += a * a;
                bb += b * b;
                ab += a * b;
            }
            if (aa == 0) continue;
            double rel = sqrt(dd / aa), cosv = ab / sqrt(aa * bb);
            ck_assert_msg(rel < 8 * u && cosv > 1 - 32 * u * u, "%s tensor %s: rel %g cos %.6f",
                          variants[v], t->name, rel, cosv);
            worst_rel = fmax(worst_rel, rel);
            worst_cos = fmin(worst_cos, cosv);
        }
        printf("bf16 vs fp32 at init, %s: loss %.6f vs %.6f, worst tensor rel err %.2e, cosine "
               "%.7f\n",
               variants[v], l16, l32, worst_rel, worst_cos);
        /* not trivially equal: the bf16 path rounds */
        ck_assert(memcmp(g32, g16, n * 4) != 0);
        model_free(&m);
    }
}
END_TEST

/* Three steps twice: bit-identical losses, gradients and weights for every backend and
 * precision available (fixed thread count). */
START_TEST(test_backend_runs_bit_identical) {
    const char *bp[][2] = {{"openblas", "fp32"}, {"onednn", "fp32"}, {"onednn", "bf16"}};
    for (int k = 0; k < 3; k++) {
        if (k > 0 && !have_onednn()) break;
        if (k == 2 && !have_bf16("test_backend_runs_bit_identical (bf16)")) break;
        Config c;
        init_config(&c, "attnres_block", bp[k][0], bp[k][1]);
        Model a, b;
        ck_assert(model_build(&a, &c) == 0 && model_build(&b, &c) == 0);
        tu_fill_batch(&a, 3);
        tu_fill_batch(&b, 3);
        for (int s = 0; s < 3; s++) {
            model_zero_grad(&a);
            model_zero_grad(&b);
            double la = tu_forward(&a), lb = tu_forward(&b);
            ck_assert_msg(la == lb, "%s/%s step %d", bp[k][0], bp[k][1], s);
            model_backward(&a);
            model_backward(&b);
            ck_assert(memcmp(a.grads, b.grads, a.n_params * 4) == 0);
            adamw_step(&a, 1e-2, s + 1);
            adamw_step(&b, 1e-2, s + 1);
        }
        ck_assert(memcmp(a.params, b.params, a.n_params * 4) == 0);
        model_free(&a);
        model_free(&b);
    }
}
END_TEST

/* The bf16 primitives of every product of a step are made at model build: a step (with
 * attnres's query projection, which shares the attention output's shape, and mhc's and hc's
 * coefficient projections, laurel's low-rank maps and frac's projection, prepared by their setup)
 * creates none. */
START_TEST(test_bf16_step_creates_nothing) {
    if (!have_bf16("test_bf16_step_creates_nothing")) return;
    const char *variants[] = {"attnres_full:query=input", "mhc", "hc", "laurel", "frac", "mudd"};
    for (int v = 0; v < (int)RB_COUNT(variants); v++) {
        Config c;
        init_config(&c, variants[v], "onednn", "bf16");
        Model m;
        ck_assert(model_build(&m, &c) == 0);
        tu_fill_batch(&m, 4);
        long before = gemm_late_creations();
        for (int s = 0; s < 2; s++) {
            model_zero_grad(&m);
            model_forward(&m);
            model_backward(&m);
            adamw_step(&m, 1e-3, s + 1);
        }
        ck_assert_msg(gemm_late_creations() == before, "%s", variants[v]);
        model_free(&m);
    }
}
END_TEST

/* Config: the two keys' values, one-line errors, and the hash keeps old run ids at defaults. */
START_TEST(test_backend_keys) {
    Config c, d;
    config_defaults(&c);
    config_defaults(&d);
    ck_assert_int_ne(config_set(&c, "backend", "mkl", "argument"), 0);
    ck_assert_msg(strstr(rb_error(), "openblas|onednn") != NULL, "%s", rb_error());
    ck_assert_int_ne(config_set(&c, "precision", "fp16", "argument"), 0);
    ck_assert_msg(strstr(rb_error(), "fp32|bf16") != NULL, "%s", rb_error());
    uint64_t h0 = config_hash(&c);
    char *ini = config_to_ini(&c);
    ck_assert(strstr(ini, "backend = openblas\n") && strstr(ini, "precision = fp32\n"));
    free(ini);
    tu_set(&d, "backend", "openblas"); /* setting the default changes nothing */
    ck_assert(config_hash(&d) == h0);
    tu_set(&d, "backend", "onednn");
    ck_assert(config_hash(&d) != h0);
    uint64_t h1 = config_hash(&d);
    tu_set(&d, "precision", "bf16"); /* precision is a trajectory key too: in the run id */
    ck_assert(config_hash(&d) != h1);
    tu_set(&d, "precision", "fp32");
    ck_assert(config_hash(&d) == h1);
    tu_set(&c, "precision", "bf16"); /* bf16 on OpenBLAS is refused */
    ck_assert_int_ne(config_validate(&c), 0);
    ck_assert_msg(strstr(rb_error(), "backend=onednn") != NULL, "%s", rb_error());
}
END_TEST

/* This program links GSL as the statistics do (tests/CMakeLists.txt): cblas_sgemm must still be
 * OpenBLAS's, not GSL's reference CBLAS (docs/architecture.md, Dependencies), and gemm_check says
 * so. */
START_TEST(test_cblas_is_openblas_beside_gsl) {
    ck_assert(fabs(gsl_cdf_tdist_Pinv(0.975, 1e9) - 1.959964) < 1e-5); /* GSL is really linked */
    Dl_info info;
    ck_assert(dladdr((void *)cblas_sgemm, &info) && info.dli_fname);
    ck_assert_msg(strstr(info.dli_fname, "openblas") != NULL, "cblas_sgemm from %s",
                  info.dli_fname);
    ck_assert_msg(gemm_check(RB_GEMM_OPENBLAS, RB_PREC_FP32) == 0, "%s", rb_error());
}
END_TEST

/* Makes one product fail: oneDNN refuses lda 1 < K 2 (the selection is restored). */
static void fail_one_product(void) {
    float a[4] = {0}, b[4] = {0}, c[4] = {0};
    int backend = gemm_selected_backend(), precision = gemm_selected_precision();
    gemm_select(RB_GEMM_ONEDNN, RB_PREC_FP32);
    gemm_f32(0, 0, 2, 2, 2, 1.0f, a, 1, b, 2, 0.0f, c, 2);
    gemm_select(backend, precision);
}

static void expect_failure(int rc, const char *step) {
    ck_assert_msg(rc == -1, "%s did not return the failed product", step);
    ck_assert_str_eq(rb_error(), "oneDNN: dnnl_sgemm 2 x 2 x 2 failed");
    ck_assert_int_eq(gemm_take_error(), 0); /* taken: the latch is clear again */
}

/* A product the backend refuses does not end the process: it is latched, and every step that runs
 * products returns it (one line, -1 or NULL) to its caller: model_forward, model_backward, the
 * optimizer (Muon's Newton-Schulz), infer_step; profile_rows through its backward. A bf16
 * gemm_product on strided operands likewise. */
START_TEST(test_failed_product_returns) {
    if (!have_onednn()) {
        printf("test_failed_product_returns: skipped: %s\n", rb_error());
        return;
    }
    ck_assert_int_eq(gemm_take_error(), 0);
    fail_one_product();
    fail_one_product(); /* the first failure is the one reported */
    expect_failure(gemm_take_error(), "gemm_take_error");
    Config c;
    tu_tiny_config(&c);
    tu_set(&c, "optimizer", "muon");
    Model m;
    ck_assert_msg(model_build(&m, &c) == 0, "%s", rb_error());
    tu_fill_batch(&m, 3);
    fail_one_product();
    expect_failure(model_forward(&m), "model_forward");
    ck_assert_int_eq(model_forward(&m), 0); /* the next step runs */
    fail_one_product();
    expect_failure(model_backward(&m), "model_backward");
    fail_one_product();
    expect_failure(optimizer_step(&m, 1e-3, 1), "optimizer_step (muon)");
    ck_assert_int_eq(optimizer_step(&m, 1e-3, 2), 0);
    ProfileRow rows[RB_MAX_SUB + 1];
    ck_assert_int_eq(model_forward(&m), 0);
    fail_one_product();
    expect_failure(profile_rows(&m, rows), "profile_rows");
    Infer s;
    ck_assert(infer_init(&s, &m, m.B, m.T) == 0);
    fail_one_product();
    expect_failure(infer_step(&s, m.inputs, 1) ? 0 : -1, "infer_step");
    infer_free(&s);
    model_free(&m);
    if (have_bf16("test_failed_product_returns (bf16)")) {
        float a[6] = {0}, b[4] = {0}, out[4] = {0};
        gemm_select(RB_GEMM_ONEDNN, RB_PREC_BF16);
        gemm_product(0, 0, 2, 2, 2, a, 3, b, 2, 0.0f, out, 2); /* lda 3: not dense */
        gemm_select(RB_GEMM_OPENBLAS, RB_PREC_FP32);
        ck_assert_int_eq(gemm_take_error(), -1);
        ck_assert_str_eq(rb_error(), "gemm_product: bf16 needs dense operands (lda 3, ldb 2, ldc "
                                     "2 for 2 x 2 x 2) and beta 0 or 1 (0)");
    }
}
END_TEST

static Suite *gemm_suite(void) {
    Suite *s = suite_create("gemm");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, NULL, tu_free_all);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_bf16_rounding);
    tcase_add_test(tc, test_gemm_f32_backends);
    tcase_add_test(tc, test_bf16_linear_is_rounded_operands);
    tcase_add_test(tc, test_bf16_gradients_match_fp32);
    tcase_add_test(tc, test_backend_runs_bit_identical);
    tcase_add_test(tc, test_bf16_step_creates_nothing);
    tcase_add_test(tc, test_gemm_product);
    tcase_add_test(tc, test_backend_keys);
    tcase_add_test(tc, test_cblas_is_openblas_beside_gsl);
    tcase_add_test(tc, test_failed_product_returns);
    tcase_add_test(tc, test_newton_schulz_on_selected_backend);
    suite_add_tcase(s, tc);
    return s;
}

RB_TEST_MAIN(gemm_suite)
