/* The optimizers (docs/usage.md, "Optimizers"): AdamW with decoupled weight decay, and Muon for
 * the hidden weight matrices (momentum orthogonalised by a quintic Newton-Schulz iteration, AdamW
 * for every other parameter); linear warmup + cosine decay, global-norm clipping for both. */
#ifndef RB_OPTIM_H
#define RB_OPTIM_H
#include "model.h"

/* Learning rate at 0-based step s of total steps. */
double lr_at(const Config *c, long step, long total);
/* L2 norm of the whole gradient buffer (double accumulation, fixed partition: deterministic):
 * chunk k of RB_NORM_CHUNKS holds elements [n k / RB_NORM_CHUNKS, n (k + 1) / RB_NORM_CHUNKS). */
#define RB_NORM_CHUNKS 64
double grad_global_norm(const Model *m);
/* One AdamW update with step number t (1-based); clips when cfg.grad_clip > 0. Returns the norm
 * before clipping. */
double adamw_step(Model *m, double lr, long t);
/* The same with the gradient norm already computed. */
void adamw_apply(Model *m, double lr, long t, double norm);
/* One Muon update (model built with optimizer=muon): the matrices by Muon, their Newton-Schulz
 * products on the model's GEMM backend (fp32 also under precision=bf16), the rest by AdamW with
 * step number t; clipping as AdamW's. 0, or -1 with rb_error() when a product failed
 * (gemm_take_error). */
int muon_apply(Model *m, double lr, long t, double norm);
/* The configured optimizer's update (cfg.optimizer), the gradient norm already computed. 0 or
 * -1 as muon_apply (AdamW cannot fail). */
int optimizer_apply(Model *m, double lr, long t, double norm);
/* ... and with the norm computed here. 0 or -1. */
int optimizer_step(Model *m, double lr, long t);

/* Newton-Schulz: the quintic iteration's coefficients and step count (Keller Jordan's Muon) */
#define RB_NS_A 3.4445f
#define RB_NS_B (-4.7750f)
#define RB_NS_C 2.0315f
#define RB_NS_STEPS 5
/* Floats of work space newton_schulz needs for a rows x cols matrix. */
size_t newton_schulz_work(int rows, int cols);
/* X (rows x cols, row-major) <- its approximate orthogonalisation: X / (||X||_F + 1e-7), then
 * RB_NS_STEPS steps X <- a X + (b A + c A^2) X with A = X X^T (A = X^T X, X <- X (b A + c A^2)
 * when rows > cols: the smaller Gram matrix), every product one gemm_f32 on the selected backend
 * (core/gemm.h; a failure is latched there). */
void newton_schulz(float *X, int rows, int cols, float *work);
/* Muon's update scale for a rows x cols matrix: 0.2 sqrt(max(rows, cols)), an update RMS of
 * about 0.2 like AdamW's (Moonlight, arXiv 2502.16982). */
double muon_scale(int rows, int cols);
/* FLOPs of one newton_schulz call on a rows x cols matrix (its sgemms). */
double newton_schulz_flops(int rows, int cols);

#endif
