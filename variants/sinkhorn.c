/* The Sinkhorn projection of mhc (docs/variants.md, section 4). */
#include "sinkhorn.h"

#include <math.h>
#include <string.h>

/* Softmax over dst + 1e-6, then 2*iters - 1 alternating normalizations,
 * starting and ending with the one over src (column sums for fixed dst). tape[k] holds the input of
 * normalization k. P[i*n + j] = P[src i][dst j]. */
#define SK_EPS 1e-6f

/* always inlined so that the n = 4 instances below see a constant n and unroll */
#define SK_INLINE static inline __attribute__((always_inline))

SK_INLINE void normalize(float *M, int n, int over_src, float *sums) {
    if (over_src) { /* column sums for fixed dst: rows accumulate into sums, then one scale */
        for (int a = 0; a < n; a++) sums[a] = SK_EPS;
        for (int b = 0; b < n; b++)
            for (int a = 0; a < n; a++) sums[a] += M[b * n + a];
        for (int a = 0; a < n; a++) sums[a] = 1.0f / sums[a];
        for (int b = 0; b < n; b++)
            for (int a = 0; a < n; a++) M[b * n + a] *= sums[a];
        return;
    }
    for (int a = 0; a < n; a++) {
        float s = SK_EPS;
        for (int b = 0; b < n; b++) s += M[a * n + b];
        float inv = 1.0f / s;
        sums[a] = inv;
        for (int b = 0; b < n; b++) M[a * n + b] *= inv;
    }
}

SK_INLINE void sinkhorn_forward_n(float *P, float *tape, const float *logits, int n, int iters) {
    int nn = n * n;
    for (int i = 0; i < n; i++) { /* softmax over dst for each src row */
        const float *z = logits + i * n;
        float mx = z[0], sum = 0;
        for (int j = 1; j < n; j++) mx = z[j] > mx ? z[j] : mx;
        for (int j = 0; j < n; j++) sum += P[i * n + j] = expf(z[j] - mx);
        for (int j = 0; j < n; j++) P[i * n + j] = P[i * n + j] / sum + SK_EPS;
    }
    float sums[SINKHORN_MAX_N];
    for (int k = 0; k < 2 * iters - 1; k++) {
        if (tape) memcpy(tape + (size_t)k * nn, P, nn * sizeof(float));
        normalize(P, n, k % 2 == 0, sums);
    }
}

/* dlogits from dP by running the tape backwards: per normalization with input A and line sums s:
 * c = sum_line(G * A) / s;  G = (G - c) / s; then the softmax backward per src row. */
SK_INLINE void sinkhorn_backward_n(float *dlogits, const float *dP, const float *logits, int n,
                                   int iters) {
    float tape[2 * SINKHORN_MAX_ITERS * SINKHORN_MAX_N * SINKHORN_MAX_N],
        P[SINKHORN_MAX_N * SINKHORN_MAX_N];
    float G[SINKHORN_MAX_N * SINKHORN_MAX_N];
    sinkhorn_forward_n(P, tape, logits, n, iters);
    memcpy(G, dP, (size_t)n * n * sizeof(float));
    for (int k = 2 * iters - 2; k >= 0; k--) {
        const float *A = tape + (size_t)k * n * n;
        if (k % 2 == 0) { /* over src: lines are columns */
            float inv[SINKHORN_MAX_N], c[SINKHORN_MAX_N];
            for (int a = 0; a < n; a++) inv[a] = SK_EPS, c[a] = 0;
            for (int b = 0; b < n; b++)
                for (int a = 0; a < n; a++) {
                    inv[a] += A[b * n + a];
                    c[a] += G[b * n + a] * A[b * n + a];
                }
            for (int a = 0; a < n; a++) inv[a] = 1.0f / inv[a], c[a] *= inv[a];
            for (int b = 0; b < n; b++)
                for (int a = 0; a < n; a++) G[b * n + a] = (G[b * n + a] - c[a]) * inv[a];
        } else {
            for (int a = 0; a < n; a++) {
                float s = SK_EPS, c = 0;
                for (int b = 0; b < n; b++) {
                    s += A[a * n + b];
                    c += G[a * n + b] * A[a * n + b];
                }
                float inv = 1.0f / s;
                c *= inv;
                for (int b = 0; b < n; b++) G[a * n + b] = (G[a * n + b] - c) * inv;
            }
        }
    }
    for (int i = 0; i < n; i++) { /* softmax backward; the +1e-6 passes gradients through */
        const float *z = logits + i * n;
        float mx = z[0], sum = 0, S[SINKHORN_MAX_N], dot = 0;
        for (int j = 1; j < n; j++) mx = z[j] > mx ? z[j] : mx;
        for (int j = 0; j < n; j++) sum += S[j] = expf(z[j] - mx);
        for (int j = 0; j < n; j++) {
            S[j] /= sum;
            dot += S[j] * G[i * n + j];
        }
        for (int j = 0; j < n; j++) dlogits[i * n + j] = S[j] * (G[i * n + j] - dot);
    }
}

/* n = 4 (the default and the papers' setting) gets its own fully unrolled instance. */
void sinkhorn_forward(float *P, float *tape, const float *logits, int n, int iters) {
    if (n == 4)
        sinkhorn_forward_n(P, tape, logits, 4, iters);
    else
        sinkhorn_forward_n(P, tape, logits, n, iters);
}

void sinkhorn_backward(float *dlogits, const float *dP, const float *logits, int n, int iters) {
    if (n == 4)
        sinkhorn_backward_n(dlogits, dP, logits, 4, iters);
    else
        sinkhorn_backward_n(dlogits, dP, logits, n, iters);
}

/* ---- Lanes: SK_LANES tokens at once, entry-major (X[e * SK_LANES + t], e = src * n + dst), so
 * every line operation runs across the tokens in vector registers. Per token the operations and
 * their order are exactly the scalar ones above (the exponentials stay scalar calls), so the
 * results are bit-identical to sinkhorn_forward / sinkhorn_backward (tested), which stay as the
 * oracle and serve the shapes the lanes do not (sinkhorn_lanes_ok). ---- */
#define LANE_LOOP _Pragma("omp simd") for (int t = 0; t < SK_LANES; t++)

int sinkhorn_lanes_ok(int n, int iters) {
    return n <= SINKHORN_LANES_MAX_N && iters <= SINKHORN_LANES_MAX_ITERS;
}

/* One src row of n logits z per lane: e = exp(z - max over the row) and their sum per lane (the
 * softmax before its division; forward and backward both start from it). */
SK_INLINE void exp_row_lanes(float *e, float *sum, const float *z, int n) {
    float mx[SK_LANES];
    LANE_LOOP mx[t] = z[t];
    for (int j = 1; j < n; j++)
        LANE_LOOP mx[t] = z[j * SK_LANES + t] > mx[t] ? z[j * SK_LANES + t] : mx[t];
    for (int t = 0; t < SK_LANES; t++) sum[t] = 0;
    for (int j = 0; j < n; j++)
        for (int t = 0; t < SK_LANES; t++) /* scalar expf, as in the oracle */
            sum[t] += e[j * SK_LANES + t] = expf(z[j * SK_LANES + t] - mx[t]);
}

SK_INLINE void softmax_rows_lanes(float *P, const float *logits, int n) {
    for (int i = 0; i < n; i++) {
        float *p = P + (size_t)i * n * SK_LANES, sum[SK_LANES];
        exp_row_lanes(p, sum, logits + (size_t)i * n * SK_LANES, n);
        for (int j = 0; j < n; j++)
            LANE_LOOP p[j * SK_LANES + t] = p[j * SK_LANES + t] / sum[t] + SK_EPS;
    }
}

SK_INLINE void normalize_lanes(float *M, int n, int over_src) {
    for (int a = 0; a < n; a++) { /* line a: column a (over src) or row a (over dst) */
        int e0 = over_src ? a : a * n, step = over_src ? n : 1;
        float s[SK_LANES], inv[SK_LANES];
        LANE_LOOP s[t] = SK_EPS;
        for (int b = 0; b < n; b++) LANE_LOOP s[t] += M[(e0 + b * step) * SK_LANES + t];
        LANE_LOOP inv[t] = 1.0f / s[t];
        for (int b = 0; b < n; b++) LANE_LOOP M[(e0 + b * step) * SK_LANES + t] *= inv[t];
    }
}

SK_INLINE void sinkhorn_forward_lanes_n(float *P, float *tape, const float *logits, int n,
                                        int iters) {
    size_t nn = (size_t)n * n * SK_LANES;
    softmax_rows_lanes(P, logits, n);
    for (int k = 0; k < 2 * iters - 1; k++) {
        if (tape) memcpy(tape + k * nn, P, nn * sizeof(float));
        normalize_lanes(P, n, k % 2 == 0);
    }
}

SK_INLINE void sinkhorn_backward_lanes_n(float *dlogits, const float *dP, const float *logits,
                                         int n, int iters) {
    float tape[(2 * SINKHORN_LANES_MAX_ITERS - 1) * SINKHORN_LANES_MAX_N * SINKHORN_LANES_MAX_N *
               SK_LANES];
    float G[SINKHORN_LANES_MAX_N * SINKHORN_LANES_MAX_N * SK_LANES];
    size_t nn = (size_t)n * n * SK_LANES;
    sinkhorn_forward_lanes_n(dlogits, tape, logits, n, iters); /* dlogits: scratch for P */
    memcpy(G, dP, nn * sizeof(float));
    for (int k = 2 * iters - 2; k >= 0; k--) {
        const float *A = tape + k * nn;
        int over_src = k % 2 == 0;
        for (int a = 0; a < n; a++) {
            int e0 = over_src ? a : a * n, step = over_src ? n : 1;
            float s[SK_LANES], c[SK_LANES];
            LANE_LOOP s[t] = SK_EPS, c[t] = 0;
            for (int b = 0; b < n; b++) {
                size_t e = (size_t)(e0 + b * step) * SK_LANES;
                LANE_LOOP {
                    s[t] += A[e + t];
                    c[t] += G[e + t] * A[e + t];
                }
            }
            LANE_LOOP {
                s[t] = 1.0f / s[t];
                c[t] *= s[t];
            }
            for (int b = 0; b < n; b++) {
                size_t e = (size_t)(e0 + b * step) * SK_LANES;
                LANE_LOOP G[e + t] = (G[e + t] - c[t]) * s[t];
            }
        }
    }
    for (int i = 0; i < n; i++) { /* softmax backward per src row */
        const float *z = logits + (size_t)i * n * SK_LANES;
        const float *g = G + (size_t)i * n * SK_LANES;
        float *dz = dlogits + (size_t)i * n * SK_LANES;
        float sum[SK_LANES], S[SINKHORN_LANES_MAX_N * SK_LANES], dot[SK_LANES];
        exp_row_lanes(S, sum, z, n);
        for (int t = 0; t < SK_LANES; t++) dot[t] = 0;
        for (int j = 0; j < n; j++) LANE_LOOP {
                S[j * SK_LANES + t] /= sum[t];
                dot[t] += S[j * SK_LANES + t] * g[j * SK_LANES + t];
            }
        for (int j = 0; j < n; j++)
            LANE_LOOP dz[j * SK_LANES + t] = S[j * SK_LANES + t] * (g[j * SK_LANES + t] - dot[t]);
    }
}

void sinkhorn_forward_lanes(float *P, const float *logits, int n, int iters) {
    if (n == 4)
        sinkhorn_forward_lanes_n(P, NULL, logits, 4, iters);
    else
        sinkhorn_forward_lanes_n(P, NULL, logits, n, iters);
}

void sinkhorn_backward_lanes(float *dlogits, const float *dP, const float *logits, int n,
                             int iters) {
    if (n == 4)
        sinkhorn_backward_lanes_n(dlogits, dP, logits, 4, iters);
    else
        sinkhorn_backward_lanes_n(dlogits, dP, logits, n, iters);
}
