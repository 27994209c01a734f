/* The Sinkhorn projection of mhc (docs/variants.md, section 4), unrolled forward and backward;
 * exposed for its own finite-difference test. */
#ifndef RB_SINKHORN_H
#define RB_SINKHORN_H

#define SINKHORN_MAX_N 8      /* largest matrix (mhc_streams' upper bound) */
#define SINKHORN_MAX_ITERS 64 /* sinkhorn_iters upper bound (the tape is on the stack) */

/* P[src * n + dst] from logits[src * n + dst]: softmax over dst + 1e-6, then 2*iters - 1
 * alternating normalizations starting and ending with the one over src (each column sums to ~1).
 * tape (optional): (2*iters - 1) x n*n inputs of the normalizations. */
void sinkhorn_forward(float *P, float *tape, const float *logits, int n, int iters);
/* Gradient of the unrolled forward: recomputes the tape from the logits. */
void sinkhorn_backward(float *dlogits, const float *dP, const float *logits, int n, int iters);

/* The same two functions for SK_LANES tokens at once (vectorized across the tokens), arrays
 * entry-major: X[(src * n + dst) * SK_LANES + t]. Bit-identical per token to the two above, for
 * the shapes sinkhorn_lanes_ok accepts (n <= 4, iters <= 32: the tape stays 32 KB on the stack). */
#define SK_LANES 8
#define SINKHORN_LANES_MAX_N 4
#define SINKHORN_LANES_MAX_ITERS 32
int sinkhorn_lanes_ok(int n, int iters);
void sinkhorn_forward_lanes(float *P, const float *logits, int n, int iters);
void sinkhorn_backward_lanes(float *dlogits, const float *dP, const float *logits, int n,
                             int iters);

#endif
