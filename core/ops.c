#include "ops.h"

#include "gemm.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

void encoder_forward(float *out, const int *tokens, const float *wte, int N, int C) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) memcpy(out + (size_t)n * C, wte + (size_t)tokens[n] * C, C * 4);
}

void encoder_backward(float *dwte, const float *dout, const int *tokens, int N, int C) {
    /* channels are split across threads, so scattered rows never race and order is fixed */
#pragma omp parallel
    {
        int nt = omp_get_num_threads(), t = omp_get_thread_num();
        int c0 = C * t / nt, c1 = C * (t + 1) / nt;
        for (int n = 0; n < N; n++) {
            float *row = dwte + (size_t)tokens[n] * C;
            const float *d = dout + (size_t)n * C;
            for (int c = c0; c < c1; c++) row[c] += d[c];
        }
    }
}

/* RMSNorm forward in blocks of 4 rows: the 4 sums of squares run side by side (4 independent
 * chains instead of one, each summed in its own order: the plain row-by-row form's results bit for
 * bit, tests/test_ops.c), then each row is scaled. */
static void rmsnorm_row(float *o, float *rstd, const float *x, const float *gain, int C, float ss) {
    float r = 1.0f / sqrtf(ss / C + RB_EPS);
    for (int c = 0; c < C; c++) o[c] = x[c] * r * gain[c];
    *rstd = r;
}

void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *gain, int N, int C) {
#pragma omp parallel for schedule(static)
    for (int n0 = 0; n0 < N; n0 += 4) {
        const float *x = inp + (size_t)n0 * C;
        float ss[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        int rows = N - n0 < 4 ? N - n0 : 4;
        if (rows == 4)
            for (int c = 0; c < C; c++) {
                ss[0] += x[c] * x[c];
                ss[1] += x[C + c] * x[C + c];
                ss[2] += x[2 * C + c] * x[2 * C + c];
                ss[3] += x[3 * C + c] * x[3 * C + c];
            }
        else
            for (int j = 0; j < rows; j++)
                for (int c = 0; c < C; c++) ss[j] += x[(size_t)j * C + c] * x[(size_t)j * C + c];
        for (int j = 0; j < rows; j++)
            rmsnorm_row(out + (size_t)(n0 + j) * C, rstd + n0 + j, x + (size_t)j * C, gain, C,
                        ss[j]);
    }
}

/* Sum per-thread rows of partials (nt x C) into dst in thread order: deterministic. */
static void reduce_partials(float *dst, const float *partials, int nt, int C) {
    for (int t = 0; t < nt; t++)
        for (int c = 0; c < C; c++) dst[c] += partials[(size_t)t * C + c];
}

void rmsnorm_backward(float *dinp, float *dgain, float *partials, const float *dout,
                      const float *inp, const float *gain, const float *rstd, int N, int C) {
    int nt_used = 1;
#pragma omp parallel
    {
        int nt = omp_get_num_threads(), t = omp_get_thread_num();
#pragma omp single
        nt_used = nt;
        float *pg = partials + (size_t)t * C;
        memset(pg, 0, C * sizeof(float));
        int n0 = (int)((long)N * t / nt), n1 = (int)((long)N * (t + 1) / nt);
        for (int n = n0; n < n1; n++) {
            const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
            float *dx = dinp + (size_t)n * C;
            float r = rstd[n], dot = 0.0f;
#pragma omp simd reduction(+ : dot)
            for (int c = 0; c < C; c++) {
                dot += gain[c] * dy[c] * x[c];
                pg[c] += dy[c] * x[c] * r;
            }
            /* d/dx of x*r: r*g*dy - r^3/C * x * sum(g*dy*x) */
            float k = dot * r * r * r / C;
            for (int c = 0; c < C; c++) dx[c] = r * gain[c] * dy[c] - k * x[c];
        }
    }
    reduce_partials(dgain, partials, nt_used, C);
}

void matmul_forward(float *out, const float *inp, const float *w, int N, int IC, int OC) {
    gemm_linear_forward(out, inp, w, N, IC, OC);
}

void matmul_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                     int N, int IC, int OC, float beta_dinp) {
    gemm_linear_backward(dinp, dw, dout, inp, w, N, IC, OC, beta_dinp);
}

void rope_tables(float *cosv, float *sinv, int T, int hs, double theta) {
    int half = hs / 2;
    for (int t = 0; t < T; t++)
        for (int i = 0; i < half; i++) {
            double freq = pow(theta, -2.0 * i / hs);
            cosv[t * half + i] = (float)cos(t * freq);
            sinv[t * half + i] = (float)sin(t * freq);
        }
}

/* Rotate the q and k heads of every token by +angle (sign = 1) or -angle (sign = -1, the
 * transpose, which is the backward of the rotation). */
static void rope_apply(float *qkv, const float *cosv, const float *sinv, int B, int T, int C,
                       int nh, float sign) {
    int hs = C / nh, half = hs / 2;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < B * T; n++) {
        int t = n % T;
        const float *cs = cosv + (size_t)t * half, *sn = sinv + (size_t)t * half;
        for (int part = 0; part < 2; part++)
            for (int h = 0; h < nh; h++)
                rope_rotate(qkv + (size_t)n * 3 * C + part * C + h * hs, cs, sn, half, sign);
    }
}

void rope_forward(float *qkv, const float *cosv, const float *sinv, int B, int T, int C, int nh) {
    rope_apply(qkv, cosv, sinv, B, T, C, nh, 1.0f);
}

void rope_backward(float *dqkv, const float *cosv, const float *sinv, int B, int T, int C, int nh) {
    rope_apply(dqkv, cosv, sinv, B, T, C, nh, -1.0f);
}

/* Causal softmax of rows r0..r1-1 of a (T,T) score matrix in place; row i keeps columns 0..i. */
static void causal_softmax_rows(float *s, int T, int r0, int r1) {
    for (int i = r0; i < r1; i++) {
        float *row = s + (size_t)i * T;
        float mx = row[0];
        for (int j = 1; j <= i; j++) mx = row[j] > mx ? row[j] : mx;
        float sum = 0.0f;
        exp_shifted(row, row, mx, i + 1); /* expf(row[j] - mx), then the sum in the same order */
        for (int j = 0; j <= i; j++) sum += row[j];
        float inv = 1.0f / sum;
        for (int j = 0; j <= i; j++) row[j] *= inv;
        for (int j = i + 1; j < r1; j++) row[j] = 0.0f;
    }
}

/* One (b, h) of the causal attention: scores per row tile, softmax, the product with v. */
static void attention_head_forward(float *out, float *probs, const float *qkv, int b, int h, int T,
                                   int C, int nh) {
    int hs = C / nh, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)hs);
    const float *q = qkv + (size_t)b * T * C3 + h * hs, *k = q + C, *v = q + 2 * C;
    float *p = probs + ((size_t)b * nh + h) * T * T, *o = out + (size_t)b * T * C + h * hs;
    for (int r0 = 0; r0 < T; r0 += RB_ATT_TILE) {
        int r1 = r0 + RB_ATT_TILE < T ? r0 + RB_ATT_TILE : T, rows = r1 - r0;
        /* scores of this row tile against keys 0..r1-1 only: later keys are masked */
        gemm_f32(0, 1, rows, r1, hs, scale, q + (size_t)r0 * C3, C3, k, C3, 0.0f,
                 p + (size_t)r0 * T, T);
        causal_softmax_rows(p, T, r0, r1);
        gemm_f32(0, 0, rows, hs, r1, 1.0f, p + (size_t)r0 * T, T, v, C3, 0.0f, o + (size_t)r0 * C,
                 C);
    }
}

/* One (b, h) of the attention's backward: dq, dk, dv of the head (scratch: RB_ATT_TILE x T). */
static void attention_head_backward(float *dqkv, float *ds, const float *dout, const float *probs,
                                    const float *qkv, int b, int h, int T, int C, int nh) {
    int hs = C / nh, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)hs);
    const float *q = qkv + (size_t)b * T * C3 + h * hs, *k = q + C, *v = q + 2 * C;
    float *dq = dqkv + (size_t)b * T * C3 + h * hs, *dk = dq + C, *dv = dq + 2 * C;
    const float *p = probs + ((size_t)b * nh + h) * T * T, *dO = dout + (size_t)b * T * C + h * hs;
    /* last tile first: it spans all keys, so it initializes dk and dv (beta = 0) */
    int last = (T - 1) / RB_ATT_TILE * RB_ATT_TILE;
    for (int r0 = last; r0 >= 0; r0 -= RB_ATT_TILE) {
        int r1 = r0 + RB_ATT_TILE < T ? r0 + RB_ATT_TILE : T, rows = r1 - r0;
        float beta = r0 == last ? 0.0f : 1.0f;
        const float *pt = p + (size_t)r0 * T;
        /* dV[0:r1] += P^T dO ; dP = dO V^T */
        gemm_f32(1, 0, r1, hs, rows, 1.0f, pt, T, dO + (size_t)r0 * C, C, beta, dv, C3);
        gemm_f32(0, 1, rows, r1, hs, 1.0f, dO + (size_t)r0 * C, C, v, C3, 0.0f, ds, T);
        /* softmax backward: dS = P * (dP - sum_j P dP) * scale, causal part only */
        for (int i = 0; i < rows; i++) {
            const float *pr = pt + (size_t)i * T;
            float *dr = ds + (size_t)i * T;
            int ncol = r0 + i + 1;
            float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
            for (int j = 0; j < ncol; j++) dot += pr[j] * dr[j];
            for (int j = 0; j < ncol; j++) dr[j] = pr[j] * (dr[j] - dot) * scale;
            for (int j = ncol; j < r1; j++) dr[j] = 0.0f;
        }
        gemm_f32(0, 0, rows, hs, r1, 1.0f, ds, T, k, C3, 0.0f, dq + (size_t)r0 * C3, C3);
        gemm_f32(1, 0, r1, hs, rows, 1.0f, ds, T, q + (size_t)r0 * C3, C3, beta, dk, C3);
    }
}

/* RoPE on the q and k of one (b, h): T rows of hs, stride 3C (sign -1: the backward). */
static void rope_head(float *qkv, const float *cosv, const float *sinv, int b, int h, int T, int C,
                      int nh, float sign) {
    int hs = C / nh, half = hs / 2;
    for (int t = 0; t < T; t++) {
        float *x = qkv + ((size_t)b * T + t) * 3 * C + h * hs;
        rope_rotate(x, cosv + (size_t)t * half, sinv + (size_t)t * half, half, sign);
        rope_rotate(x + C, cosv + (size_t)t * half, sinv + (size_t)t * half, half, sign);
    }
}

void attention_forward(float *out, float *probs, const float *qkv, int B, int T, int C, int nh) {
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * nh; bh++)
        attention_head_forward(out, probs, qkv, bh / nh, bh % nh, T, C, nh);
}

void attention_backward(float *dqkv, float *scratch, const float *dout, const float *probs,
                        const float *qkv, int B, int T, int C, int nh) {
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * nh; bh++)
        attention_head_backward(dqkv, scratch + (size_t)omp_get_thread_num() * RB_ATT_TILE * T,
                                dout, probs, qkv, bh / nh, bh % nh, T, C, nh);
}

void rope_attention_forward(float *out, float *probs, float *qkv, const float *cosv,
                            const float *sinv, int B, int T, int C, int nh) {
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * nh; bh++) {
        rope_head(qkv, cosv, sinv, bh / nh, bh % nh, T, C, nh, 1.0f);
        attention_head_forward(out, probs, qkv, bh / nh, bh % nh, T, C, nh);
    }
}

void attention_rope_backward(float *dqkv, float *scratch, const float *dout, const float *probs,
                             const float *qkv, const float *cosv, const float *sinv, int B, int T,
                             int C, int nh) {
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * nh; bh++) {
        attention_head_backward(dqkv, scratch + (size_t)omp_get_thread_num() * RB_ATT_TILE * T,
                                dout, probs, qkv, bh / nh, bh % nh, T, C, nh);
        rope_head(dqkv, cosv, sinv, bh / nh, bh % nh, T, C, nh, -1.0f);
    }
}

/* ---- expf over arrays, bit for bit libm's ----
 * The elementwise passes (SwiGLU, softmax, cross-entropy) spend most of their time in expf calls,
 * which do not vectorize. expf_core is glibc's expf (sysdeps/ieee754/flt-32/e_expf.c, the
 * ARM optimized-routines algorithm) as glibc 2.36 builds it for CPUs with FMA (__expf_fma, the
 * variant libm picks on every CPU this x86-64-v3 build runs on): the same table, constants and
 * operations, the fused multiply-adds where that build has them. It is inlined into plain loops
 * that vectorize; inputs outside its main path (|x| >= 88 by glibc's test, inf, NaN) are redone
 * by libm's expf. tests/test_ops.c checks every result against expf, bit for bit. */
static const uint64_t EXP2F_TAB[32] = {
    0x3ff0000000000000, 0x3fefd9b0d3158574, 0x3fefb5586cf9890f, 0x3fef9301d0125b51,
    0x3fef72b83c7d517b, 0x3fef54873168b9aa, 0x3fef387a6e756238, 0x3fef1e9df51fdee1,
    0x3fef06fe0a31b715, 0x3feef1a7373aa9cb, 0x3feedea64c123422, 0x3feece086061892d,
    0x3feebfdad5362a27, 0x3feeb42b569d4f82, 0x3feeab07dd485429, 0x3feea47eb03a5585,
    0x3feea09e667f3bcd, 0x3fee9f75e8ec5f74, 0x3feea11473eb0187, 0x3feea589994cce13,
    0x3feeace5422aa0db, 0x3feeb737b0cdc5e5, 0x3feec49182a3f090, 0x3feed503b23e255d,
    0x3feee89f995ad3ad, 0x3feeff76f2fb5e47, 0x3fef199bdd85529c, 0x3fef3720dcef9069,
    0x3fef5818dcfba487, 0x3fef7c97337b9b5f, 0x3fefa4afa2a490da, 0x3fefd0765b6e4540};

static inline uint32_t expf_abstop(float x) { /* glibc's top12(x) & 0x7ff */
    uint32_t u;
    memcpy(&u, &x, 4);
    return (u >> 20) & 0x7ff;
}

static inline float expf_core(float x) {
    const double invln2n = 0x1.71547652b82fep+5, shift = 0x1.8p+52;
    const double c0 = 0x1.c6af84b912394p-20, c1 = 0x1.ebfce50fac4f3p-13, c2 = 0x1.62e42ff0c52d6p-6;
    double xd = x, kd = fma(invln2n, xd, shift); /* x N / ln2 rounded to an integer k: kd's bits */
    uint64_t ki, t;
    memcpy(&ki, &kd, 8);
    kd -= shift;
    double r = fma(invln2n, xd, -kd), s; /* exp(x) = 2^(k/N) 2^(r/N), N = 32 */
    t = EXP2F_TAB[ki % 32] + (ki << 47);
    memcpy(&s, &t, 8);
    double z = fma(r, c0, c1), r2 = r * r, y = fma(r, c2, 1.0);
    y = fma(z, r2, y);
    return (float)(y * s);
}

void exp_shifted(float *dst, const float *src, float shift, long n) {
    enum { TILE = 512 };
    for (long i0 = 0; i0 < n; i0 += TILE) {
        long len = n - i0 < TILE ? n - i0 : TILE;
        float tmp[TILE];
        for (long i = 0; i < len; i++) tmp[i] = src[i0 + i] - shift;
        for (long i = 0; i < len; i++) dst[i0 + i] = expf_core(tmp[i]);
        for (long i = 0; i < len; i++) /* the inputs expf_core does not cover (rare) */
            if (expf_abstop(tmp[i]) >= 0x42b) dst[i0 + i] = expf(tmp[i]);
    }
}

/* e[i] = expf(-a[i]) */
static void exp_negated(float *e, const float *a, int n) {
    for (int i = 0; i < n; i++) e[i] = expf_core(-a[i]);
    for (int i = 0; i < n; i++) /* the inputs expf_core does not cover (rare) */
        if (expf_abstop(a[i]) >= 0x42b) e[i] = expf(-a[i]);
}

/* SwiGLU in tiles of SWIGLU_TILE: first the expf calls alone (a scalar loop: libm's expf does
 * not vectorize), then the arithmetic around them over the tile, which does. Per element the
 * operations and their order are those of the one-loop form (tests/test_ops.c keeps it as the
 * oracle and checks bit-identity; no FMA contraction under -std=c11), so the results are too. */
enum { SWIGLU_TILE = 256 };

void swiglu_forward(float *g, const float *h13, int N, int H) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *a = h13 + (size_t)n * 2 * H, *b = a + H;
        float *o = g + (size_t)n * H, e[SWIGLU_TILE];
        for (int i0 = 0; i0 < H; i0 += SWIGLU_TILE) {
            int len = H - i0 < SWIGLU_TILE ? H - i0 : SWIGLU_TILE;
            exp_negated(e, a + i0, len);
            for (int i = 0; i < len; i++) o[i0 + i] = a[i0 + i] / (1.0f + e[i]) * b[i0 + i];
        }
    }
}

void swiglu_backward(float *dh13, const float *dg, const float *h13, int N, int H) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *a = h13 + (size_t)n * 2 * H, *b = a + H, *d = dg + (size_t)n * H;
        float *da = dh13 + (size_t)n * 2 * H, *db = da + H, e[SWIGLU_TILE];
        for (int i0 = 0; i0 < H; i0 += SWIGLU_TILE) {
            int len = H - i0 < SWIGLU_TILE ? H - i0 : SWIGLU_TILE;
            exp_negated(e, a + i0, len);
            for (int i = 0; i < len; i++) {
                float ai = a[i0 + i], s = 1.0f / (1.0f + e[i]), silu = ai * s;
                da[i0 + i] = d[i0 + i] * b[i0 + i] * s * (1.0f + ai * (1.0f - s));
                db[i0 + i] = d[i0 + i] * silu;
            }
        }
    }
}

double crossentropy_forward(float *losses, float *lse, const float *logits, const int *targets,
                            int N, int V) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *z = logits + (size_t)n * V;
        float mx = z[0];
        for (int i = 1; i < V; i++) mx = z[i] > mx ? z[i] : mx;
        double sum = 0.0;
        for (int i = 0; i < V; i++) sum += exp((double)(z[i] - mx));
        /* sum >= 1: the maximum contributes exp(0) */
        // cppcheck-suppress invalidFunctionArg
        float l = mx + (float)log(sum);
        lse[n] = l;
        losses[n] = l - z[targets[n]];
    }
    double total = 0.0;
    for (int n = 0; n < N; n++) total += losses[n];
    return total / N;
}

void crossentropy_backward(float *logits, const float *lse, const int *targets, int N, int V) {
    float inv_n = 1.0f / N;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *z = logits + (size_t)n * V;
        exp_shifted(z, z, lse[n], V);
        for (int i = 0; i < V; i++) z[i] *= inv_n;
        z[targets[n]] -= inv_n;
    }
}

double sum_sq(const float *x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return s;
}

double rms_of(const float *x, size_t n) {
    return n ? sqrt(sum_sq(x, n) / n) : 0;
}

float rms_inverse_row(const float *x, int len) {
    float ss = 0;
#pragma omp simd reduction(+ : ss)
    for (int i = 0; i < len; i++) ss += x[i] * x[i];
    return 1.0f / sqrtf(ss / len + RB_EPS);
}

void rms_inverse_rows(float *rinv, const float *x, long rows, int len, int stride) {
#pragma omp parallel for schedule(static)
    for (long r = 0; r < rows; r++)
        rinv[(size_t)r * stride] = rms_inverse_row(x + (size_t)r * len, len);
}
