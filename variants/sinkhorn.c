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
