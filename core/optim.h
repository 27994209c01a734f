/* AdamW with decoupled weight decay, linear warmup + cosine decay, global-norm clipping. */
#ifndef RB_OPTIM_H
#define RB_OPTIM_H
#include "model.h"

/* Learning rate at 0-based step s of total steps. */
double lr_at(const Config *c, long step, long total);
/* L2 norm of the whole gradient buffer (double accumulation, fixed partition: deterministic). */
double grad_global_norm(const Model *m);
/* One AdamW update with step number t (1-based); clips when cfg.grad_clip > 0. Returns the norm
 * before clipping. */
double adamw_step(Model *m, double lr, long t);
/* The same with the gradient norm already computed. */
void adamw_apply(Model *m, double lr, long t, double norm);

#endif
