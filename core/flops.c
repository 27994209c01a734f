/* Analytic FLOP count (multiply-add = 2 FLOPs). Counted: every matmul as computed, forward once and
 * backward twice (input and weight gradients), attention scores and weighted sums over the causal
 * tiles actually computed (RB_ATT_TILE rows at a time), the residual variant's own work
 * (variant->flops_per_token), and the optimizer's matrix products: Muon's Newton-Schulz sgemms,
 * once per step (not per token). Not counted: norms, softmax, activations, the optimizer's
 * elementwise updates (AdamW's, and Muon's momentum: a few FLOPs per element each, < 2% at the
 * default shape; the same for every variant), so an AdamW step counts exactly what it always did
 * and a Muon step counts more (docs/usage.md, "Optimizers"). */
#include "model.h"
#include "ops.h"
#include "optim.h"

/* Key columns the tiled causal attention multiplies per query row, averaged over the T rows. */
static double causal_cols_per_row(int T) {
    double cols = 0;
    for (int r0 = 0; r0 < T; r0 += RB_ATT_TILE) {
        int r1 = r0 + RB_ATT_TILE < T ? r0 + RB_ATT_TILE : T;
        cols += (double)(r1 - r0) * r1;
    }
    return cols / T;
}

double flops_per_token(const Config *c) {
    double C = c->d_model, H = config_mlp_hidden(c), V = c->vocab_size, nl = c->n_layer;
    double mm =
        nl * (3 * C * C + C * C + 2 * H * C + H * C) + V * C;  /* weights touched per token */
    double att = nl * 2 * causal_cols_per_row(c->seq_len) * C; /* QK^T and PV, per token */
    double fwd = 2 * mm + 2 * att;
    const VariantOps *v = c->vt;
    double own = v && v->flops_per_token ? v->flops_per_token(c) : 0;
    return 3 * fwd + own;
}

double flops_per_step(const Config *c) {
    return flops_per_token(c) * (double)c->batch_size * c->seq_len + optimizer_flops_per_step(c);
}

double optimizer_flops_per_step(const Config *c) {
    if (c->optimizer != RB_OPT_MUON) return 0;
    MatrixRun runs[RB_MAX_MATRIX_RUNS];
    int decay[RB_MAX_MATRIX_RUNS];
    int n = model_matrices(c, runs, decay);
    double f = 0;
    for (int i = 0; i < n; i++)
        f += runs[i].count * newton_schulz_flops(runs[i].rows, runs[i].cols);
    return f;
}
