/* Transformer ops as explicit forward/backward pairs (llm.c style). Shapes: N tokens (B*T), C
 * channels, row-major. Backward functions accumulate into parameter gradients and overwrite
 * activation gradients unless stated otherwise. `partials` is a scratch of nthreads*C floats used
 * for deterministic per-thread reductions over tokens. */
#ifndef RB_OPS_H
#define RB_OPS_H
#include <stddef.h>

#define RB_EPS 1e-6f
#define RB_ATT_TILE 64 /* causal attention row tile: masked tiles are never computed */

void encoder_forward(float *out, const int *tokens, const float *wte, int N, int C);
void encoder_backward(float *dwte, const float *dout, const int *tokens, int N, int C);

/* out = gain * inp / sqrt(mean(inp^2) + eps); rstd[n] saved for backward */
void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *gain, int N, int C);
void rmsnorm_backward(float *dinp, float *dgain, float *partials, const float *dout,
                      const float *inp, const float *gain, const float *rstd, int N, int C);

/* out (N,OC) = inp (N,IC) W^T with W stored (OC,IC), one sgemm. */
void matmul_forward(float *out, const float *inp, const float *w, int N, int IC, int OC);
/* dinp = dout W (overwrite when beta_dinp = 0, accumulate when 1; skipped if NULL);
 * dw += dout^T inp. */
void matmul_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                     int N, int IC, int OC, float beta_dinp);

/* RoPE on the q and k thirds of qkv (B*T, 3C), rotate-half pairing (i, i + hs/2). */
void rope_tables(float *cosv, float *sinv, int T, int hs, double theta);
/* One head vector x (2 half entries) rotated by the angles of one position (cs, sn: its row of
 * the tables), pairing (i, i + half); sign -1 rotates back (the backward). */
static inline void rope_rotate(float *x, const float *cs, const float *sn, int half, float sign) {
    for (int i = 0; i < half; i++) {
        float x1 = x[i], x2 = x[i + half], s = sign * sn[i];
        x[i] = x1 * cs[i] - x2 * s;
        x[i + half] = x1 * s + x2 * cs[i];
    }
}
void rope_forward(float *qkv, const float *cosv, const float *sinv, int B, int T, int C, int nh);
void rope_backward(float *dqkv, const float *cosv, const float *sinv, int B, int T, int C, int nh);

/* Causal multi-head attention on qkv (B*T, 3C) -> out (B*T, C); probs (B, nh, T, T) saved (only the
 * causal lower triangle of each row tile is written). scratch: nthreads * RB_ATT_TILE * T floats.
 */
void attention_forward(float *out, float *probs, const float *qkv, int B, int T, int C, int nh);
void attention_backward(float *dqkv, float *scratch, const float *dout, const float *probs,
                        const float *qkv, int B, int T, int C, int nh);
/* RoPE fused into the attention (the model's path; docs/performance.md): each (b, h) task
 * rotates its q and k in place and runs its attention on them while they are in cache (the
 * rotated q, k stay in qkv for the backward); the backward rotates the head's dq, dk back right
 * after computing them. Bit for bit rope_forward + attention_forward and attention_backward +
 * rope_backward (the same operations per element; tests/test_ops.c), one pass over qkv and one
 * over dqkv fewer per layer. */
void rope_attention_forward(float *out, float *probs, float *qkv, const float *cosv,
                            const float *sinv, int B, int T, int C, int nh);
void attention_rope_backward(float *dqkv, float *scratch, const float *dout, const float *probs,
                             const float *qkv, const float *cosv, const float *sinv, int B, int T,
                             int C, int nh);

/* dst[i] = expf(src[i] - shift), bit for bit libm's expf, vectorized (dst may be src). */
void exp_shifted(float *dst, const float *src, float shift, long n);

/* g = silu(a) * b where h13 rows are [a (H) | b (H)] */
void swiglu_forward(float *g, const float *h13, int N, int H);
void swiglu_backward(float *dh13, const float *dg, const float *h13, int N, int H);

/* Softmax cross-entropy. forward: losses[n], lse[n] (log-sum-exp per row); returns mean loss.
 * backward: overwrites logits with dloss/dlogits for the mean loss. */
double crossentropy_forward(float *losses, float *lse, const float *logits, const int *targets,
                            int N, int V);
void crossentropy_backward(float *logits, const float *lse, const int *targets, int N, int V);

/* rinv[r * stride] = 1 / sqrt(mean(x_r^2) + eps) for rows x_r of len floats (the parameter-free
 * norm's scale, cached by the variants once per source). */
void rms_inverse_rows(float *rinv, const float *x, long rows, int len, int stride);
/* The same for one row (for callers already inside a parallel loop). */
float rms_inverse_row(const float *x, int len);
/* sum of x^2 over n floats, in double in a fixed order */
double sum_sq(const float *x, size_t n);
/* sqrt(mean(x^2)) over n floats, accumulated in double in a fixed order. */
double rms_of(const float *x, size_t n);

#endif
