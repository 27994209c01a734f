#include "optim.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "gemm.h"

double lr_at(const Config *c, long step, long total) {
    if (c->warmup > 0 && step < c->warmup) return c->lr * (double)(step + 1) / c->warmup;
    long decay_steps = total - c->warmup;
    if (decay_steps <= 1) return c->lr;
    double progress = (double)(step - c->warmup) / (double)(decay_steps - 1);
    if (progress > 1) progress = 1;
    return c->min_lr + 0.5 * (c->lr - c->min_lr) * (1 + cos(M_PI * progress));
}

/* The global gradient norm: the sum of squares of RB_NORM_CHUNKS fixed chunks, each summed in
 * order, then the chunks in order. Four chunks are summed side by side (four independent chains
 * instead of one; each chunk's order, and so the result, is that of one chunk at a time:
 * tests/test_optim.c keeps that form as the oracle). */
double grad_global_norm(const Model *m) {
    double part[RB_NORM_CHUNKS] = {0};
    size_t n = m->n_params;
    const float *g = m->grads;
    _Static_assert(RB_NORM_CHUNKS % 4 == 0, "chunks come in fours");
#pragma omp parallel for schedule(static)
    for (int k0 = 0; k0 < RB_NORM_CHUNKS; k0 += 4) {
        size_t a[5], common = (size_t)-1;
        for (int j = 0; j <= 4; j++) a[j] = n * (k0 + j) / RB_NORM_CHUNKS;
        for (int j = 0; j < 4; j++)
            if (a[j + 1] - a[j] < common) common = a[j + 1] - a[j];
        double s[4] = {0, 0, 0, 0};
        for (size_t i = 0; i < common; i++)
            for (int j = 0; j < 4; j++) s[j] += (double)g[a[j] + i] * g[a[j] + i];
        for (int j = 0; j < 4; j++) { /* the chunks' last elements beyond the common length */
            for (size_t i = a[j] + common; i < a[j + 1]; i++) s[j] += (double)g[i] * g[i];
            part[k0 + j] = s[j];
        }
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

static float clip_scale(const Config *c, double norm) {
    return c->grad_clip > 0 && norm > c->grad_clip ? (float)(c->grad_clip / norm) : 1.0f;
}

/* AdamW on every parameter whose skip byte is 0 (skip NULL: on all of them). */
static void adamw_update(Model *m, double lr, long t, float scale, const unsigned char *skip) {
    const Config *c = &m->cfg;
    float b1 = (float)c->beta1, b2 = (float)c->beta2, eps = (float)c->adam_eps;
    float bc1 = (float)(1.0 - pow(c->beta1, (double)t)),
          bc2 = (float)(1.0 - pow(c->beta2, (double)t));
    float flr = (float)lr;
    for (int k = 0; k < m->n_tensors; k++) {
        const ParamTensor *pt = &m->tensors[k];
        float wd = pt->decay ? (float)c->weight_decay : 0.0f;
        float *p = m->params + pt->offset, *g = m->grads + pt->offset;
        float *mm = m->adam_m + pt->offset, *vv = m->adam_v + pt->offset;
        const unsigned char *sk = skip ? skip + pt->offset : NULL;
        long n = (long)pt->count;
        if (sk) {
#pragma omp parallel for schedule(static)
            for (long i = 0; i < n; i++) {
                if (sk[i]) continue;
                float gi = g[i] * scale;
                mm[i] = b1 * mm[i] + (1 - b1) * gi;
                vv[i] = b2 * vv[i] + (1 - b2) * gi * gi;
                float mhat = mm[i] / bc1, vhat = vv[i] / bc2;
                p[i] -= flr * (mhat / (sqrtf(vhat) + eps) + wd * p[i]);
            }
            continue;
        }
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

void adamw_apply(Model *m, double lr, long t, double norm) {
    adamw_update(m, lr, t, clip_scale(&m->cfg, norm), NULL);
}

size_t newton_schulz_work(int rows, int cols) {
    size_t k = (size_t)(rows < cols ? rows : cols);
    return (size_t)rows * cols + 2 * k * k; /* the next iterate, A and b A + c A^2 */
}

double newton_schulz_flops(int rows, int cols) {
    double k = rows < cols ? rows : cols, n = rows < cols ? cols : rows;
    return RB_NS_STEPS * (2 * k * k * n + 2 * k * k * k + 2 * k * k * n); /* A, A^2, (.) X */
}

double muon_scale(int rows, int cols) {
    return 0.2 * sqrt((double)(rows > cols ? rows : cols));
}

void newton_schulz(float *X, int rows, int cols, float *work) {
    size_t n = (size_t)rows * cols;
    int k = rows < cols ? rows : cols, wide = rows <= cols;
    float *Y = work, *A = work + n, *P = A + (size_t)k * k;
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (double)X[i] * X[i];
    float inv = (float)(1.0 / (sqrt(ss) + 1e-7));
    for (size_t i = 0; i < n; i++) X[i] *= inv;
    float *cur = X, *next = Y;
    for (int s = 0; s < RB_NS_STEPS; s++) {
        /* A = X X^T (k = rows) or X^T X (k = cols): the Gram matrix of the shorter side */
        if (wide)
            gemm_f32(0, 1, k, k, cols, 1.0f, cur, cols, cur, cols, 0.0f, A, k);
        else
            gemm_f32(1, 0, k, k, rows, 1.0f, cur, cols, cur, cols, 0.0f, A, k);
        /* P = b A + c A A */
        memcpy(P, A, (size_t)k * k * sizeof(float));
        gemm_f32(0, 0, k, k, k, RB_NS_C, A, k, A, k, RB_NS_B, P, k);
        /* next = a X + P X (wide) or a X + X P */
        memcpy(next, cur, n * sizeof(float));
        if (wide)
            gemm_f32(0, 0, rows, cols, rows, 1.0f, P, k, cur, cols, RB_NS_A, next, cols);
        else
            gemm_f32(0, 0, rows, cols, cols, 1.0f, cur, cols, P, k, RB_NS_A, next, cols);
        float *tmp = cur;
        cur = next;
        next = tmp;
    }
    if (cur != X) memcpy(X, cur, n * sizeof(float));
}

/* One matrix: momentum buf <- mu buf + g; direction g + mu buf (Nesterov) or buf, orthogonalised
 * (in the work space: the gradient is left as it was); p <- p - lr (muon_scale O + wd p). */
static void muon_matrix(Model *m, size_t off, int rows, int cols, float lr, float wd, float scale) {
    const Config *c = &m->cfg;
    float mu = (float)c->muon_momentum;
    const float *g = m->grads + off;
    float *p = m->params + off, *buf = m->adam_m + off;
    size_t n = (size_t)rows * cols;
    float *o = m->ns_work; /* then newton_schulz's own work space */
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] * scale;
        buf[i] = mu * buf[i] + gi;
        o[i] = c->muon_nesterov ? gi + mu * buf[i] : buf[i];
    }
    newton_schulz(o, rows, cols, o + n);
    float s = (float)muon_scale(rows, cols);
    for (size_t i = 0; i < n; i++) p[i] -= lr * (s * o[i] + wd * p[i]);
}

int muon_apply(Model *m, double lr, long t, double norm) {
    gemm_select(m->backend, m->precision); /* Newton-Schulz on the model's backend */
    float scale = clip_scale(&m->cfg, norm);
    adamw_update(m, lr, t, scale, m->is_mat);
    for (int r = 0; r < m->n_mat; r++) {
        const MatrixRun *run = &m->mat[r];
        float wd = m->mat_decay[r] ? (float)m->cfg.weight_decay : 0.0f;
        for (int j = 0; j < run->count; j++)
            muon_matrix(m, run->offset + (size_t)j * run->stride, run->rows, run->cols, (float)lr,
                        wd, scale);
    }
    return gemm_take_error();
}

int optimizer_apply(Model *m, double lr, long t, double norm) {
    if (m->cfg.optimizer == RB_OPT_MUON) return muon_apply(m, lr, t, norm);
    adamw_apply(m, lr, t, norm);
    return 0;
}

int optimizer_step(Model *m, double lr, long t) {
    return optimizer_apply(m, lr, t, grad_global_norm(m));
}
