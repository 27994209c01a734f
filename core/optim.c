#include "optim.h"

#include <math.h>
#include <omp.h>

double lr_at(const Config *c, long step, long total) {
    if (c->warmup > 0 && step < c->warmup) return c->lr * (double)(step + 1) / c->warmup;
    long decay_steps = total - c->warmup;
    if (decay_steps <= 1) return c->lr;
    double progress = (double)(step - c->warmup) / (double)(decay_steps - 1);
    if (progress > 1) progress = 1;
    return c->min_lr + 0.5 * (c->lr - c->min_lr) * (1 + cos(M_PI * progress));
}

#define RB_NORM_CHUNKS 64

double grad_global_norm(const Model *m) {
    double part[RB_NORM_CHUNKS] = {0};
    size_t n = m->n_params;
#pragma omp parallel for schedule(static)
    for (int k = 0; k < RB_NORM_CHUNKS; k++) {
        size_t i0 = n * k / RB_NORM_CHUNKS, i1 = n * (k + 1) / RB_NORM_CHUNKS;
        double s = 0;
        for (size_t i = i0; i < i1; i++) s += (double)m->grads[i] * m->grads[i];
        part[k] = s;
    }
    double total = 0;
    for (int k = 0; k < RB_NORM_CHUNKS; k++) total += part[k];
    return sqrt(total);
}

double adamw_step(Model *m, double lr, long t) {
    double norm = grad_global_norm(m);
    adamw_apply(m, lr, t, norm);
    return norm;
}

void adamw_apply(Model *m, double lr, long t, double norm) {
    const Config *c = &m->cfg;
    float scale = 1.0f;
    if (c->grad_clip > 0 && norm > c->grad_clip) scale = (float)(c->grad_clip / norm);
    float b1 = (float)c->beta1, b2 = (float)c->beta2, eps = (float)c->adam_eps;
    float bc1 = (float)(1.0 - pow(c->beta1, (double)t)),
          bc2 = (float)(1.0 - pow(c->beta2, (double)t));
    float flr = (float)lr;
    for (int k = 0; k < m->n_tensors; k++) {
        const ParamTensor *pt = &m->tensors[k];
        float wd = pt->decay ? (float)c->weight_decay : 0.0f;
        float *p = m->params + pt->offset, *g = m->grads + pt->offset;
        float *mm = m->adam_m + pt->offset, *vv = m->adam_v + pt->offset;
        long n = (long)pt->count;
#pragma omp parallel for schedule(static)
        for (long i = 0; i < n; i++) {
            float gi = g[i] * scale;
            mm[i] = b1 * mm[i] + (1 - b1) * gi;
            vv[i] = b2 * vv[i] + (1 - b2) * gi * gi;
            float mhat = mm[i] / bc1, vhat = vv[i] / bc2;
            p[i] -= flr * (mhat / (sqrtf(vhat) + eps) + wd * p[i]);
        }
    }
}
