/* Finite-difference checks of every op's backward. Each op is wrapped as a scalar
 * L = sum(out * R) with a fixed random R (accumulated in double); its backward is run with
 * dout = R and compared with central differences, along grad/|grad| over all entries and entry-wise
 * on the 16 largest gradients. eps = 1e-2 on O(1) inputs: fp32 rounding of L (~1e-6) gives FD noise
 * ~5e-5 and the O(eps^2) truncation ~1e-4, so a correct backward stays below the 2e-3 tolerance
 * while a wrong term (missing factor, wrong sign, wrong index) gives errors of order 1. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "rng.h"
#include "testutil.h"

#define TOL 2e-3
#define EPS 1e-2f
#define TOPK 16

static float *randn(long n, unsigned seed, float std) {
    float *x = tu_mem(n * sizeof(float));
    Rng r;
    rng_seed(&r, seed);
    rng_fill_normal(&r, x, n, std);
    return x;
}

static double dot(const float *a, const float *b, long n) {
    double s = 0;
    for (long i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* ---- rmsnorm ---- */
typedef struct {
    int N, C;
    float *x, *g, *out, *rstd, *R;
} NormCtx;
static double norm_loss(void *p) {
    NormCtx *c = p;
    rmsnorm_forward(c->out, c->rstd, c->x, c->g, c->N, c->C);
    return dot(c->out, c->R, (long)c->N * c->C);
}
START_TEST(test_rmsnorm) {
    NormCtx c = {6,
                 24,
                 randn(144, 1, 1),
                 randn(24, 2, 1),
                 randn(144, 0, 0),
                 randn(6, 0, 0),
                 randn(144, 3, 1)};
    float *dx = tu_mem((size_t)(144) * 4), *dg = tu_mem((size_t)(24) * 4),
          *part = tu_mem((size_t)(24 * omp_get_max_threads()) * 4);
    norm_loss(&c);
    rmsnorm_backward(dx, dg, part, c.R, c.x, c.g, c.rstd, c.N, c.C);
    double ex = tu_grad_check(norm_loss, &c, c.x, dx, 144, EPS, TOPK);
    double eg = tu_grad_check(norm_loss, &c, c.g, dg, 24, EPS, TOPK);
    ck_assert_msg(ex < TOL, "rmsnorm dinp rel err %g", ex);
    ck_assert_msg(eg < TOL, "rmsnorm dgain rel err %g", eg);
}
END_TEST

/* ---- matmul ---- */
typedef struct {
    int N, IC, OC;
    float *x, *w, *out, *R;
} MatCtx;
static double mat_loss(void *p) {
    MatCtx *c = p;
    matmul_forward(c->out, c->x, c->w, c->N, c->IC, c->OC);
    return dot(c->out, c->R, (long)c->N * c->OC);
}
START_TEST(test_matmul) {
    MatCtx c = {5, 12, 7, randn(60, 4, 1), randn(84, 5, 1), randn(35, 0, 0), randn(35, 6, 1)};
    float *dx = randn(60, 9, 1), *dw = tu_mem((size_t)(84) * 4);
    float *dx_acc = tu_mem(60 * 4);
    memcpy(dx_acc, dx, 60 * 4);
    matmul_backward(dx, dw, c.R, c.x, c.w, c.N, c.IC, c.OC, 0.0f);
    ck_assert_msg(tu_grad_check(mat_loss, &c, c.x, dx, 60, EPS, TOPK) < TOL, "matmul dinp");
    ck_assert_msg(tu_grad_check(mat_loss, &c, c.w, dw, 84, EPS, TOPK) < TOL, "matmul dw");
    /* beta = 1 accumulates into dinp; dw always accumulates */
    float *dw2 = tu_mem((size_t)(84) * 4);
    matmul_backward(dx_acc, dw2, c.R, c.x, c.w, c.N, c.IC, c.OC, 1.0f);
    float *orig = randn(60, 9, 1);
    for (int i = 0; i < 60; i++) ck_assert_float_eq_tol(dx_acc[i], orig[i] + dx[i], 1e-5);
}
END_TEST

/* ---- encoder ---- */
typedef struct {
    int N, C, *tok;
    float *wte, *out, *R;
} EncCtx;
static double enc_loss(void *p) {
    EncCtx *c = p;
    encoder_forward(c->out, c->tok, c->wte, c->N, c->C);
    return dot(c->out, c->R, (long)c->N * c->C);
}
START_TEST(test_encoder) {
    int tok[9] = {3, 1, 3, 0, 7, 7, 7, 2, 1};
    EncCtx c = {9, 10, tok, randn(80, 7, 1), randn(90, 0, 0), randn(90, 8, 1)};
    float *dw = tu_mem((size_t)(80) * 4);
    encoder_backward(dw, c.R, c.tok, c.N, c.C);
    ck_assert_msg(tu_grad_check(enc_loss, &c, c.wte, dw, 80, EPS, TOPK) < TOL, "encoder");
    for (int i = 0; i < 10; i++) ck_assert_float_eq(dw[5 * 10 + i], 0.0f); /* unused token */
}
END_TEST

/* ---- RoPE (in place, so the loss copies its input first) ---- */
typedef struct {
    int B, T, C, nh;
    float *x, *work, *cosv, *sinv, *R;
} RopeCtx;
static double rope_loss(void *p) {
    RopeCtx *c = p;
    long n = (long)c->B * c->T * 3 * c->C;
    memcpy(c->work, c->x, n * 4);
    rope_forward(c->work, c->cosv, c->sinv, c->B, c->T, c->C, c->nh);
    return dot(c->work, c->R, n);
}
START_TEST(test_rope) {
    int B = 2, T = 5, C = 8, nh = 2;
    long n = (long)B * T * 3 * C;
    RopeCtx c = {B,
                 T,
                 C,
                 nh,
                 randn(n, 10, 1),
                 randn(n, 0, 0),
                 tu_mem((size_t)(T * 2) * 4),
                 tu_mem((size_t)(T * 2) * 4),
                 randn(n, 11, 1)};
    rope_tables(c.cosv, c.sinv, T, C / nh, 10000.0);
    float *d = tu_mem(n * 4);
    memcpy(d, c.R, n * 4);
    rope_backward(d, c.cosv, c.sinv, B, T, C, nh);
    ck_assert_msg(tu_grad_check(rope_loss, &c, c.x, d, n, EPS, TOPK) < TOL, "rope");
    /* position 0 is not rotated; v is never rotated */
    rope_loss(&c);
    for (int i = 0; i < 3 * C; i++) ck_assert_float_eq(c.work[i], c.x[i]);
    for (int i = 0; i < C; i++)
        ck_assert_float_eq(c.work[3 * C + 2 * C + i], c.x[3 * C + 2 * C + i]);
}
END_TEST

/* ---- causal attention, T spanning two row tiles ---- */
typedef struct {
    int B, T, C, nh;
    float *qkv, *out, *probs, *R;
} AttCtx;
static double att_loss(void *p) {
    AttCtx *c = p;
    attention_forward(c->out, c->probs, c->qkv, c->B, c->T, c->C, c->nh);
    return dot(c->out, c->R, (long)c->B * c->T * c->C);
}
START_TEST(test_attention) {
    int B = 2, T = RB_ATT_TILE + 6, C = 8, nh = 2;
    long n = (long)B * T * 3 * C, no = (long)B * T * C;
    AttCtx c = {B,
                T,
                C,
                nh,
                randn(n, 12, 1),
                randn(no, 0, 0),
                tu_mem((size_t)((long)B * nh * T * T) * 4),
                randn(no, 13, 1)};
    float *dqkv = tu_mem((size_t)(n)*4),
          *scratch = tu_mem((size_t)((size_t)omp_get_max_threads() * RB_ATT_TILE * T) * 4);
    att_loss(&c);
    attention_backward(dqkv, scratch, c.R, c.probs, c.qkv, B, T, C, nh);
    double e = tu_grad_check(att_loss, &c, c.qkv, dqkv, n, EPS, TOPK);
    ck_assert_msg(e < TOL, "attention rel err %g", e);
    /* causality: output at t must not change when a later token's k/v changes */
    float before = c.out[(long)3 * C];
    c.qkv[(long)10 * 3 * C + C] += 5.0f;
    c.qkv[(long)10 * 3 * C + 2 * C] += 5.0f;
    att_loss(&c);
    ck_assert_float_eq(c.out[(long)3 * C], before);
}
END_TEST

/* ---- SwiGLU ---- */
typedef struct {
    int N, H;
    float *h13, *g, *R;
} GluCtx;
static double glu_loss(void *p) {
    GluCtx *c = p;
    swiglu_forward(c->g, c->h13, c->N, c->H);
    return dot(c->g, c->R, (long)c->N * c->H);
}
START_TEST(test_swiglu) {
    GluCtx c = {4, 9, randn(72, 14, 1.5f), randn(36, 0, 0), randn(36, 15, 1)};
    float *d = tu_mem((size_t)(72) * 4);
    swiglu_backward(d, c.R, c.h13, c.N, c.H);
    ck_assert_msg(tu_grad_check(glu_loss, &c, c.h13, d, 72, EPS, TOPK) < TOL, "swiglu");
}
END_TEST

/* RoPE fused into the attention == rope_forward + attention_forward and attention_backward +
 * rope_backward, bit for bit (rotated qkv, output, probabilities, dqkv), T across two row tiles. */
START_TEST(test_rope_attention_fused_is_plain) {
    int B = 2, T = RB_ATT_TILE + 9, C = 16, nh = 2;
    long n = (long)B * T * 3 * C, no = (long)B * T * C, np = (long)B * nh * T * T;
    float *qkv0 = randn(n, 60, 1), *dout = randn(no, 61, 1);
    float *cosv = tu_mem((size_t)T * C / nh / 2 * 4), *sinv = tu_mem((size_t)T * C / nh / 2 * 4);
    rope_tables(cosv, sinv, T, C / nh, 10000.0);
    float *qa = tu_mem(n * 4), *qb = tu_mem(n * 4), *oa = tu_mem(no * 4), *ob = tu_mem(no * 4);
    float *pa = tu_mem(np * 4), *pb = tu_mem(np * 4), *da = tu_mem(n * 4), *db = tu_mem(n * 4);
    float *scratch = tu_mem((size_t)omp_get_max_threads() * RB_ATT_TILE * T * 4);
    memcpy(qa, qkv0, n * 4);
    memcpy(qb, qkv0, n * 4);
    rope_forward(qa, cosv, sinv, B, T, C, nh);
    attention_forward(oa, pa, qa, B, T, C, nh);
    rope_attention_forward(ob, pb, qb, cosv, sinv, B, T, C, nh);
    ck_assert(memcmp(qa, qb, n * 4) == 0);
    ck_assert(memcmp(oa, ob, no * 4) == 0);
    ck_assert(memcmp(pa, pb, np * 4) == 0);
    attention_backward(da, scratch, dout, pa, qa, B, T, C, nh);
    rope_backward(da, cosv, sinv, B, T, C, nh);
    attention_rope_backward(db, scratch, dout, pb, qb, cosv, sinv, B, T, C, nh);
    ck_assert(memcmp(da, db, n * 4) == 0);
    ck_assert(memcmp(qa, qkv0, n * 4) != 0); /* the rotation did something */
}
END_TEST

/* exp_shifted (the vectorized expf of the SwiGLU, softmax and cross-entropy passes) equals libm's
 * expf bit for bit: on a sample of every float (every 40009th bit pattern: all exponents, signs,
 * the specials; the whole range of 2^32 was checked once when it was written) and around the
 * edges of its main path (|x| near 88, 103, 104), with shifts. A different libm expf would show
 * here first. */
START_TEST(test_exp_shifted_is_expf) {
    enum { B = 4096 };
    float *x = tu_mem(B * 4), *y = tu_mem(B * 4);
    const float shifts[] = {0.0f, 1.5f, -3.25f};
    long checked = 0;
    for (uint64_t u0 = 0; u0 < (1ull << 32); u0 += (uint64_t)B * 40009) {
        int n = 0;
        for (uint64_t u = u0; n < B && u < (1ull << 32); u += 40009, n++) {
            uint32_t b = (uint32_t)u;
            memcpy(&x[n], &b, 4);
        }
        for (int k = 0; k < 3; k++) {
            exp_shifted(y, x, shifts[k], n);
            for (int i = 0; i < n; i++) {
                float want = expf(x[i] - shifts[k]);
                ck_assert_msg(memcmp(&want, &y[i], 4) == 0, "expf(%a - %g): %a, libm %a", x[i],
                              shifts[k], y[i], want);
            }
            checked += n;
        }
    }
    const float edges[] = {88.0f, 88.72f, 89.0f, 103.0f, 103.3f, 103.9f, 104.0f, 150.0f};
    for (int e = 0; e < 8; e++)
        for (int sgn = -1; sgn <= 1; sgn += 2) {
            for (int i = 0; i < B; i++) x[i] = sgn * edges[e] * (1.0f + (i - B / 2) * 0x1p-20f);
            exp_shifted(y, x, 0.0f, B);
            for (int i = 0; i < B; i++) {
                float want = expf(x[i]);
                ck_assert_msg(memcmp(&want, &y[i], 4) == 0, "expf(%a): %a, libm %a", x[i], y[i],
                              want);
            }
        }
    ck_assert(checked > 300000);
}
END_TEST

/* The row-by-row RMSNorm forward, the oracle of ops.c's 4-row form. */
static void rmsnorm_forward_plain(float *out, float *rstd, const float *inp, const float *gain,
                                  int N, int C) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *o = out + (size_t)n * C, ss = 0.0f;
        for (int c = 0; c < C; c++) ss += x[c] * x[c];
        float r = 1.0f / sqrtf(ss / C + RB_EPS);
        for (int c = 0; c < C; c++) o[c] = x[c] * r * gain[c];
        rstd[n] = r;
    }
}

/* 4-row RMSNorm == row by row, bit for bit, with a partial last block (N = 4k + 1..3). */
START_TEST(test_rmsnorm_blocked_is_plain) {
    for (int N = 4; N <= 7; N++) {
        int C = 96;
        float *x = randn((long)N * C, 70 + N, 3.0f), *g = randn(C, 80, 1.0f);
        float *o = tu_mem((size_t)N * C * 4), *o0 = tu_mem((size_t)N * C * 4);
        float *r = tu_mem((size_t)N * 4), *r0 = tu_mem((size_t)N * 4);
        rmsnorm_forward(o, r, x, g, N, C);
        rmsnorm_forward_plain(o0, r0, x, g, N, C);
        ck_assert_msg(memcmp(o, o0, (size_t)N * C * 4) == 0 && memcmp(r, r0, (size_t)N * 4) == 0,
                      "N=%d", N);
    }
}
END_TEST

/* The one-loop SwiGLU, the oracle of ops.c's tiled form (expf calls apart from the arithmetic). */
static void swiglu_forward_plain(float *g, const float *h13, int N, int H) {
    for (int n = 0; n < N; n++) {
        const float *a = h13 + (size_t)n * 2 * H, *b = a + H;
        float *o = g + (size_t)n * H;
        for (int i = 0; i < H; i++) o[i] = a[i] / (1.0f + expf(-a[i])) * b[i];
    }
}

static void swiglu_backward_plain(float *dh13, const float *dg, const float *h13, int N, int H) {
    for (int n = 0; n < N; n++) {
        const float *a = h13 + (size_t)n * 2 * H, *b = a + H, *d = dg + (size_t)n * H;
        float *da = dh13 + (size_t)n * 2 * H, *db = da + H;
        for (int i = 0; i < H; i++) {
            float s = 1.0f / (1.0f + expf(-a[i])), silu = a[i] * s;
            da[i] = d[i] * b[i] * s * (1.0f + a[i] * (1.0f - s));
            db[i] = d[i] * silu;
        }
    }
}

/* Equal bits, or both NaN: which NaN (its sign) an operation on two NaNs returns depends on the
 * operand order the compiler picked (x86 returns the first), which C leaves open. */
static int same_floats(const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], 4) != 0 && !(isnan(a[i]) && isnan(b[i]))) return 0;
    return 1;
}

/* Tiled SwiGLU == the one-loop form bit for bit (same operations in the same order per element),
 * for widths below, at and across the tile (256), with saturating, tiny and non-finite inputs
 * (NaN results: NaN in both). */
START_TEST(test_swiglu_tiled_is_plain) {
    const int widths[] = {9, 256, 300, 704};
    for (int w = 0; w < 4; w++) {
        int N = 5, H = widths[w];
        size_t n13 = (size_t)N * 2 * H, ng = (size_t)N * H;
        float *h13 = randn((long)n13, 40 + w, 4.0f), *dg = randn((long)ng, 50 + w, 1.0f);
        h13[0] = 100.0f;  /* expf(-a) underflows */
        h13[1] = -100.0f; /* expf(-a) overflows: silu -> -0 */
        h13[2] = 1e-30f;
        h13[3] = NAN;
        h13[H + 4] = INFINITY;
        float *g = tu_mem(ng * 4), *g0 = tu_mem(ng * 4), *d = tu_mem(n13 * 4),
              *d0 = tu_mem(n13 * 4);
        swiglu_forward(g, h13, N, H);
        swiglu_forward_plain(g0, h13, N, H);
        ck_assert_msg(same_floats(g, g0, ng), "forward, H=%d", H);
        swiglu_backward(d, dg, h13, N, H);
        swiglu_backward_plain(d0, dg, h13, N, H);
        ck_assert_msg(same_floats(d, d0, n13), "backward, H=%d", H);
    }
}
END_TEST

/* ---- fused softmax cross-entropy ---- */
typedef struct {
    int N, V, *tgt;
    float *logits, *losses, *lse;
} CeCtx;
static double ce_loss(void *p) {
    CeCtx *c = p;
    return crossentropy_forward(c->losses, c->lse, c->logits, c->tgt, c->N, c->V);
}
START_TEST(test_crossentropy) {
    int tgt[5] = {0, 3, 3, 9, 1};
    CeCtx c = {5, 10, tgt, randn(50, 16, 2), tu_mem((size_t)(5) * 4), tu_mem((size_t)(5) * 4)};
    float *d = tu_mem(50 * 4);
    double loss = ce_loss(&c);
    /* loss by hand for row 0 */
    double s = 0;
    for (int i = 0; i < 10; i++) s += exp(c.logits[i]);
    ck_assert_double_eq_tol(c.losses[0], log(s) - c.logits[0], 1e-5);
    memcpy(d, c.logits, 50 * 4);
    crossentropy_backward(d, c.lse, c.tgt, c.N, c.V);
    ck_assert_msg(tu_grad_check(ce_loss, &c, c.logits, d, 50, EPS, TOPK) < TOL, "crossentropy");
    ck_assert(isfinite(loss));
    /* stability: huge logits do not overflow */
    for (int i = 0; i < 50; i++) c.logits[i] *= 1e4f;
    ck_assert(isfinite(ce_loss(&c)));
}
END_TEST

static Suite *ops_suite(void) {
    Suite *s = suite_create("ops");
    TCase *tc = tcase_create("finite_differences");
    tcase_add_checked_fixture(tc, NULL, tu_free_all);
    tcase_add_test(tc, test_rmsnorm);
    tcase_add_test(tc, test_matmul);
    tcase_add_test(tc, test_encoder);
    tcase_add_test(tc, test_rope);
    tcase_add_test(tc, test_attention);
    tcase_add_test(tc, test_swiglu);
    tcase_add_test(tc, test_swiglu_tiled_is_plain);
    tcase_add_test(tc, test_rmsnorm_blocked_is_plain);
    tcase_add_test(tc, test_rope_attention_fused_is_plain);
    tcase_add_test(tc, test_exp_shifted_is_expf);
    tcase_add_test(tc, test_crossentropy);
    suite_add_tcase(s, tc);
    return s;
}

RB_TEST_MAIN(ops_suite)
