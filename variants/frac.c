/* frac: Frac-Connections (Zhu et al., "Frac-Connections: Fractional Extension of
 * Hyper-Connections", arXiv 2503.14125; docs/variants.md, section 9). The hidden state x (width
 * D) is split into m fractions H_j of width w = D / m (frac_rate); per token and sublayer site l
 * the coefficients read G[j][i], mix A[j][k] ([src][dst]) and write b[k] give
 *   u_i  = sum_j G[j][i] H_j                     fraction i of the sublayer's input
 *   H'_k = sum_j A[j][k] H_j + b[k] y_k          y = f_l(u), y_k its fraction k
 * and the output is H^L itself (the fractions concatenated). Static (SFC): the coefficients are
 * learned per site. Dynamic (DFC, the default): static + s_a tanh(z) for read and mix, + s_b
 * tanh(z) for write, z = norm(H_j) W_l per fraction (one sgemm over all tokens and fractions),
 * the hyper-connections' dynamic form (the hc kind of streams.c) applied to fractions.
 * Init: G = A = I, b = 1, W = 0, s_a = s_b = 0.01: prenorm exactly.
 * Shared with mhc/hc (streams.c): the projection's weight gradient and prepared products, and the
 * mixing statistics of mhc.csv. The state, read, write and output differ (a matrix read of
 * fractions, a fraction-wise write, no copies), so the stream interface is this file's own. */
#include <math.h>
#include <string.h>

#include "gemm.h"
#include "ops.h"
#include "streams.h"
#include "util.h"

enum { FORM_DYNAMIC, FORM_STATIC };
enum { OPT_RATE, OPT_FORM };
static const char *const FORMS[] = {"dynamic", "static", NULL};
/* The paper's chosen design is the default (DFC with m = 4, its "DFC x4"); no paper_better. */
static const VariantOption frac_options[] = {
    [OPT_RATE] = {"frac_rate", "rate", 1, STREAMS_MAX_N, 4, NULL,
                  "number of fractions m the hidden state is split into (divides d_model)", NULL},
    [OPT_FORM] = {"frac_form", "form", 0, 1, FORM_DYNAMIC, FORMS,
                  "dynamic (DFC: static + tanh of the normed fraction) or static (SFC) "
                  "coefficients",
                  NULL},
};
#define OPT(c, k) config_option_int(c, &frac_options[k])

typedef struct {
    int L, D, m, w, ntok, K, C, dyn; /* K = 2 m^2 + m coefficients; C = 2m + 1 columns of W */
    size_t site_params;
    float *X;    /* (L + 1, ntok, D): the states, fraction j of token t at t D + j w */
    float *u;    /* (L, ntok, D): sublayer inputs */
    float *coef; /* (L, ntok, K): read G (m x m), mix A (m x m), write b (m), [src][dst] */
    float
        *raw; /* (L, C x ntok m): z, column-major (column c of row (t, j) at c ntok m + t m + j) */
    float *rinv;       /* (L, ntok, m): 1/rms of each fraction */
    float *dX[2];      /* scratch (ntok, D): gradient of the state after / before a site */
    float *dy, *dcoef; /* scratch (ntok, D) and (ntok, K) */
    float *draw;       /* scratch (C x ntok m), laid out like raw */
    float *dprojT;     /* scratch (C, w): W's gradient transposed (streams_proj_weight_grad) */
    float *dscal;      /* scratch (ntok, 2): per-token gradients of s_a, s_b */
} FracState;

/* Where a coefficient lies in a token's K: read G[j][i], mix A[j][k], write b[j]. */
#define READ(m, j, i) ((j) * (m) + (i))
#define MIX(m, j, k) ((m) * (m) + (j) * (m) + (k))
#define WRITE(m, j) (2 * (m) * (m) + (j))

static void layout(FracState *y, const Config *c, int ntok, float *acts, float *scratch, size_t *na,
                   size_t *ns) {
    y->L = config_n_sub(c);
    y->D = c->d_model;
    y->m = OPT(c, OPT_RATE);
    y->w = y->D / y->m;
    y->ntok = ntok;
    y->K = 2 * y->m * y->m + y->m;
    y->C = 2 * y->m + 1;
    y->dyn = OPT(c, OPT_FORM) == FORM_DYNAMIC;
    y->site_params = y->dyn ? (size_t)y->w * y->C + y->K + 2 : (size_t)y->K;
    size_t nd = (size_t)ntok * y->D, rows = (size_t)ntok * y->m, a = 0, s = 0;
    y->X = rb_carve(acts, &a, (y->L + 1) * nd);
    y->u = rb_carve(acts, &a, y->L * nd);
    y->coef = rb_carve(acts, &a, (size_t)y->L * ntok * y->K);
    y->raw = rb_carve(acts, &a, y->dyn ? (size_t)y->L * y->C * rows : 0);
    y->rinv = rb_carve(acts, &a, y->dyn ? (size_t)y->L * rows : 0);
    y->dX[0] = rb_carve(scratch, &s, nd);
    y->dX[1] = rb_carve(scratch, &s, nd);
    y->dy = rb_carve(scratch, &s, nd);
    y->dcoef = rb_carve(scratch, &s, (size_t)ntok * y->K);
    y->draw = rb_carve(scratch, &s, y->dyn ? (size_t)y->C * rows : 0);
    y->dprojT = rb_carve(scratch, &s, y->dyn ? (size_t)y->C * y->w : 0);
    y->dscal = rb_carve(scratch, &s, y->dyn ? (size_t)ntok * 2 : 0);
    if (na) *na = a;
    if (ns) *ns = s;
}

static void frac_setup(Stream *st) {
    FracState *y = st->state;
    layout(y, st->cfg, st->ntok, st->acts, st->scratch, NULL, NULL);
    if (y->dyn) streams_prepare_projection(y->C, y->ntok * y->m, y->w);
}

static const FracState *lay(const Stream *st) {
    return st->state;
}

static int frac_check(const Config *c) {
    int m = OPT(c, OPT_RATE);
    if (c->d_model % m)
        return rb_fail("key 'frac_rate': %d does not divide d_model = %d (allowed: a divisor of "
                       "d_model in 1..%d)",
                       m, c->d_model, STREAMS_MAX_N);
    return 0;
}

/* sweep's new shapes: the largest divisor of d_model not above the requested rate */
static void frac_fit_shape(Config *c) {
    int m = OPT(c, OPT_RATE);
    while (c->d_model % m) m--;
    char v[16];
    snprintf(v, sizeof v, "%d", m);
    config_set(c, frac_options[OPT_RATE].key, v, "fit_shape");
}

/* Parameter slices of a site: W (w x C: columns read 0..m-1, mix m..2m-1, write 2m; dynamic),
 * the static coefficients (K, laid out like a token's), s_a and s_b (dynamic). */
typedef struct {
    float *W, *stat, *s;
} Site;

static Site site_of(const FracState *y, const float *base, int l) {
    float *p = (float *)base + (size_t)l * y->site_params;
    Site s = {NULL, p, NULL};
    if (y->dyn) {
        s.W = p;
        s.stat = p + (size_t)y->w * y->C;
        s.s = s.stat + y->K;
    }
    return s;
}

static size_t frac_params(const Config *c) {
    FracState y;
    layout(&y, c, 1, NULL, NULL, NULL, NULL);
    return y.site_params * y.L;
}

/* G = A = I, b = 1, W = 0, s_a = s_b = 0.01 (the hyper-connections' init, applied to fractions) */
static void frac_init(const Config *c, float *params, Rng *rng) {
    (void)rng;
    FracState y;
    layout(&y, c, 1, NULL, NULL, NULL, NULL);
    memset(params, 0, frac_params(c) * sizeof(float));
    for (int l = 0; l < y.L; l++) {
        Site s = site_of(&y, params, l);
        for (int j = 0; j < y.m; j++) {
            s.stat[READ(y.m, j, j)] = 1.0f;
            s.stat[MIX(y.m, j, j)] = 1.0f;
            s.stat[WRITE(y.m, j)] = 1.0f;
        }
        if (y.dyn) s.s[0] = s.s[1] = 0.01f;
    }
}

static size_t frac_acts(const Config *c, int ntok) {
    FracState y;
    size_t na;
    layout(&y, c, ntok, NULL, NULL, &na, NULL);
    return na;
}

static size_t frac_scratch(const Config *c, int ntok) {
    FracState y;
    size_t ns;
    layout(&y, c, ntok, NULL, NULL, NULL, &ns);
    return ns;
}

/* Muon's matrices: W of every site (w x (2m + 1)), at the start of each site's slice (dynamic) */
static int frac_matrices(const Config *c, MatrixRun *out, int max) {
    FracState y;
    layout(&y, c, 1, NULL, NULL, NULL, NULL);
    if (!y.dyn) return 0;
    if (max < 1) return -1;
    out[0] = (MatrixRun){0, y.site_params, y.w, y.C, y.L};
    return 1;
}

static float *state_at(const FracState *y, int l) {
    return y->X + (size_t)l * y->ntok * y->D;
}
static float *site_coef(const FracState *y, int l) {
    return y->coef + (size_t)l * y->ntok * y->K;
}
static float *site_raw(const FracState *y, int l) {
    return y->raw + (size_t)l * y->C * y->ntok * y->m;
}
static float *site_rinv(const FracState *y, int l) {
    return y->rinv + (size_t)l * y->ntok * y->m;
}
/* column c of z for fraction j of token t (coefficient-major: the sgemm shape hc uses) */
static size_t z_at(const FracState *y, int t, int j, int c) {
    return (size_t)c * y->ntok * y->m + (size_t)t * y->m + j;
}
/* the coefficient column c of W feeds, for fraction j: read G[j][c], mix A[j][c - m], write b[j] */
static int coef_of_column(int m, int j, int c) {
    return c < m ? READ(m, j, c) : (c < 2 * m ? MIX(m, j, c - m) : WRITE(m, j));
}

/* 1/rms of every fraction of token t's state at site l (dynamic), where the state is written */
static void token_rinv(const FracState *y, int l, int t) {
    const float *x = state_at(y, l) + (size_t)t * y->D;
    float *ri = site_rinv(y, l) + (size_t)t * y->m;
    for (int j = 0; j < y->m; j++) ri[j] = rms_inverse_row(x + (size_t)j * y->w, y->w);
}

/* ---- the residual-stream interface ---- */
static void frac_begin(Stream *st, const float *emb) {
    const FracState *y = lay(st);
    memcpy(state_at(y, 0), emb, (size_t)y->ntok * y->D * sizeof(float));
    if (!y->dyn) return;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y->ntok; t++) token_rinv(y, 0, t);
}

/* The site's coefficients: static, or static + s tanh(rinv_j z) per fraction and column. */
static void coefficients(const FracState *y, const Site *s, int l) {
    int m = y->m, K = y->K;
    float *coef = site_coef(y, l);
    if (!y->dyn) {
#pragma omp parallel for schedule(static)
        for (int t = 0; t < y->ntok; t++)
            memcpy(coef + (size_t)t * K, s->stat, (size_t)K * sizeof(float));
        return;
    }
    const float *X = state_at(y, l), *rinv = site_rinv(y, l);
    float *raw = site_raw(y, l);
    gemm_product(1, 1, y->C, y->ntok * m, y->w, s->W, y->C, X, y->w, 0.0f, raw, y->ntok * m);
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y->ntok; t++) {
        float *c = coef + (size_t)t * K;
        for (int j = 0; j < m; j++) {
            float ri = rinv[(size_t)t * m + j];
            for (int col = 0; col < y->C; col++) {
                int q = coef_of_column(m, j, col);
                float sc = col == 2 * m ? s->s[1] : s->s[0];
                c[q] = s->stat[q] + sc * tanhf(ri * raw[z_at(y, t, j, col)]);
            }
        }
    }
}

static const float *frac_input(Stream *st, int l) {
    const FracState *y = lay(st);
    Site s = site_of(y, st->params, l);
    coefficients(y, &s, l);
    const float *X = state_at(y, l), *coef = site_coef(y, l);
    float *u = y->u + (size_t)l * y->ntok * y->D;
    int m = y->m, w = y->w;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y->ntok; t++) { /* u_i = sum_j G[j][i] H_j */
        const float *c = coef + (size_t)t * y->K, *x = X + (size_t)t * y->D;
        float *ut = u + (size_t)t * y->D;
        for (int i = 0; i < m; i++) {
            float *ui = ut + i * w, g0 = c[READ(m, 0, i)];
            for (int q = 0; q < w; q++) ui[q] = g0 * x[q];
            for (int j = 1; j < m; j++) {
                float g = c[READ(m, j, i)];
                for (int q = 0; q < w; q++) ui[q] += g * x[j * w + q];
            }
        }
    }
    return u;
}

static void frac_commit(Stream *st, int l, const float *v) {
    const FracState *y = lay(st);
    const float *X = state_at(y, l), *coef = site_coef(y, l);
    float *Xn = state_at(y, l + 1);
    int m = y->m, w = y->w;
    st->value[l + 1] = v; /* the write's gradient needs v in the backward */
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y->ntok; t++) { /* H'_k = b_k y_k + sum_j A[j][k] H_j */
        const float *c = coef + (size_t)t * y->K, *x = X + (size_t)t * y->D,
                    *vt = v + (size_t)t * y->D;
        float *xn = Xn + (size_t)t * y->D;
        for (int k = 0; k < m; k++) {
            float *o = xn + k * w, b = c[WRITE(m, k)];
            for (int q = 0; q < w; q++) o[q] = b * vt[k * w + q];
            for (int j = 0; j < m; j++) {
                float a = c[MIX(m, j, k)];
                for (int q = 0; q < w; q++) o[q] += a * x[j * w + q];
            }
        }
        if (y->dyn && l + 1 < y->L) token_rinv(y, l + 1, t);
    }
}

static const float *frac_output(Stream *st) {
    const FracState *y = lay(st);
    return state_at(y, y->L);
}

static void frac_output_backward(Stream *st, const float *dout) {
    const FracState *y = lay(st);
    memcpy(y->dX[y->L % 2], dout, (size_t)y->ntok * y->D * sizeof(float));
}

/* G' = dL/dH' is complete: dy_k = b_k G'_k, db_k = G'_k . y_k, dA[j][k] = G'_k . H_j,
 * dH_j = sum_k A[j][k] G'_k (the state before site l). */
static const float *frac_commit_backward(Stream *st, int l) {
    const FracState *y = lay(st);
    const float *X = state_at(y, l), *coef = site_coef(y, l), *v = st->value[l + 1];
    const float *dXn = y->dX[(l + 1) % 2];
    float *dX = y->dX[l % 2];
    int m = y->m, w = y->w;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y->ntok; t++) {
        const float *c = coef + (size_t)t * y->K, *x = X + (size_t)t * y->D;
        const float *g = dXn + (size_t)t * y->D, *vt = v + (size_t)t * y->D;
        float *dc = y->dcoef + (size_t)t * y->K, *dyt = y->dy + (size_t)t * y->D;
        float *dx = dX + (size_t)t * y->D;
        for (int k = 0; k < m; k++) {
            const float *gk = g + k * w, *vk = vt + k * w;
            float b = c[WRITE(m, k)], db = 0;
#pragma omp simd reduction(+ : db)
            for (int q = 0; q < w; q++) {
                dyt[k * w + q] = b * gk[q];
                db += gk[q] * vk[q];
            }
            dc[WRITE(m, k)] = db;
        }
        for (int j = 0; j < m; j++) {
            const float *xj = x + j * w;
            float *dxj = dx + j * w;
            for (int q = 0; q < w; q++) dxj[q] = 0;
            for (int k = 0; k < m; k++) {
                const float *gk = g + k * w;
                float a = c[MIX(m, j, k)], da = 0;
#pragma omp simd reduction(+ : da)
                for (int q = 0; q < w; q++) {
                    dxj[q] += a * gk[q];
                    da += gk[q] * xj[q];
                }
                dc[MIX(m, j, k)] = da;
            }
        }
    }
    return y->dy;
}

/* Dynamic, one token: dcoef -> draw (through s tanh(rinv z)), the token's ds_a, ds_b (dscal) and
 * k_j = -dL/drinv_j rinv_j^3 / w, the factor of H_j in dH_j through fraction j's norm. */
static void token_coef_backward(const FracState *y, const Site *s, int l, int t, float *k) {
    int m = y->m;
    const float *dc = y->dcoef + (size_t)t * y->K, *raw = site_raw(y, l);
    const float *ri = site_rinv(y, l) + (size_t)t * m;
    float dsa = 0, dsb = 0;
    for (int j = 0; j < m; j++) {
        float drinv = 0;
        for (int col = 0; col < y->C; col++) {
            float gc = dc[coef_of_column(m, j, col)];
            float sc = col == 2 * m ? s->s[1] : s->s[0];
            float z = raw[z_at(y, t, j, col)], th = tanhf(ri[j] * z);
            if (col == 2 * m)
                dsb += gc * th;
            else
                dsa += gc * th;
            float dpre = gc * sc * (1 - th * th);
            y->draw[z_at(y, t, j, col)] = dpre * ri[j];
            drinv += dpre * z;
        }
        k[j] = -drinv * ri[j] * ri[j] * ri[j] / y->w;
    }
    y->dscal[2 * (size_t)t] = dsa;
    y->dscal[2 * (size_t)t + 1] = dsb;
}

/* The site's parameter gradients (sums over tokens in a fixed order), then W and the state
 * through the projection: dW^T = dz^T X (streams_proj_weight_grad) and dX += dz W^T. */
static void params_backward(const FracState *y, const Site *s, const Site *g, int l) {
    int K = y->K;
    for (int q = 0; q < K; q++) {
        double acc = 0;
        for (int t = 0; t < y->ntok; t++) acc += y->dcoef[(size_t)t * K + q];
        g->stat[q] += (float)acc;
    }
    if (!y->dyn) return;
    double dsa = 0, dsb = 0;
    for (int t = 0; t < y->ntok; t++) {
        dsa += y->dscal[2 * (size_t)t];
        dsb += y->dscal[2 * (size_t)t + 1];
    }
    g->s[0] += (float)dsa;
    g->s[1] += (float)dsb;
    int rows = y->ntok * y->m;
    streams_proj_weight_grad(g->W, y->draw, y->dprojT, state_at(y, l), y->w, y->C, rows);
    gemm_product(1, 1, rows, y->w, y->C, y->draw, rows, s->W, y->C, 1.0f, y->dX[l % 2], y->w);
}

/* du = dL/du is given: dG[j][i] = du_i . H_j, then (dynamic) the coefficients' backward, and
 * dH_j += sum_i G[j][i] du_i + k_j H_j; the projection's path follows as two sgemms. */
static void frac_input_backward(Stream *st, int l, const float *du) {
    const FracState *y = lay(st);
    Site s = site_of(y, st->params, l), g = site_of(y, st->grads, l);
    const float *X = state_at(y, l), *coef = site_coef(y, l);
    float *dX = y->dX[l % 2];
    int m = y->m, w = y->w;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y->ntok; t++) {
        const float *c = coef + (size_t)t * y->K, *x = X + (size_t)t * y->D,
                    *gt = du + (size_t)t * y->D;
        float *dx = dX + (size_t)t * y->D, *dc = y->dcoef + (size_t)t * y->K, k[STREAMS_MAX_N];
        for (int j = 0; j < m; j++)
            for (int i = 0; i < m; i++) {
                float dr = 0;
#pragma omp simd reduction(+ : dr)
                for (int q = 0; q < w; q++) dr += gt[i * w + q] * x[j * w + q];
                dc[READ(m, j, i)] = dr;
            }
        if (y->dyn)
            token_coef_backward(y, &s, l, t, k);
        else
            for (int j = 0; j < m; j++) k[j] = 0;
        for (int j = 0; j < m; j++) {
            float *dxj = dx + j * w;
            for (int i = 0; i < m; i++) {
                float gr = c[READ(m, j, i)];
                for (int q = 0; q < w; q++) dxj[q] += gr * gt[i * w + q];
            }
            if (y->dyn)
                for (int q = 0; q < w; q++) dxj[q] += k[j] * x[j * w + q];
        }
    }
    params_backward(y, &s, &g, l);
}

static void frac_begin_backward(Stream *st, float *demb) {
    const FracState *y = lay(st);
    memcpy(demb, y->dX[0], (size_t)y->ntok * y->D * sizeof(float));
}

/* Per token and site, counting what the code does (a multiply-add 2, a scale 1): read (2m - 1)d,
 * commit (2m + 1)d; commit backward dy d, db 2d, dH and dA 4md; input backward dG 2md, dH 2md.
 * Dynamic adds the m norms 2d, their path 2d and the projection 2dC forward, twice that backward
 * (C = 2m + 1 columns). The tanh per coefficient is not counted (as for hc). */
static double frac_flops(const Config *c) {
    FracState y;
    layout(&y, c, 1, NULL, NULL, NULL, NULL);
    double d = y.D, m = y.m;
    double site = (2 * m - 1) * d + (2 * m + 1) * d + 3 * d + 4 * m * d + 4 * m * d;
    if (y.dyn) site += 2 * d + 2 * d + 3 * (2 * d * y.C);
    return y.L * site;
}

/* floor (docs/performance.md), per token and site in floats: read (X in, u and the K coefficients
 * out: 2d + K), commit (X, v, coefficients in, X' out: 3d + K), commit backward (dX', X, v,
 * coefficients in, dy, dX, dcoef out: 5d + 2K), input backward (du, X, coefficients, dcoef in,
 * dX updated: 4d + 2K); dynamic: the C m projections and m norms written and read once. The
 * copies of e, dout and demb can alias (as prenorm's) and are not counted. */
static VariantTraffic frac_traffic(const Config *c) {
    FracState y;
    layout(&y, c, 1, NULL, NULL, NULL, NULL);
    double d = y.D, site = 14 * d + 6.0 * y.K;
    if (y.dyn) site += 2.0 * y.C * y.m + 2.0 * y.m;
    return (VariantTraffic){y.L * site, 4.0 * y.L};
}

/* mhc.csv's columns for the fraction-mixing matrix H = A^T (H'_k = sum_j H[k][j] H_j + ...) */
static int frac_gains(const Stream *st, double *stats) {
    const FracState *y = lay(st);
    return streams_mix_gains(y->coef, y->L, y->ntok, y->K, MIX(y->m, 0, 0), y->m, stats);
}

/* RMS of the state after site l: the hidden state itself (the fractions concatenated) */
static double frac_stream_rms(const Stream *st, int l) {
    const FracState *y = lay(st);
    return rms_of(state_at(y, l + 1), (size_t)y->ntok * y->D);
}

const VariantOps variant_frac = {
    .name = "frac",
    .summary = "the hidden state split into m fractions mixed by static + tanh-dynamic "
               "hyper-connections (Frac-Connections)",
    .options = frac_options,
    .n_options = RB_COUNT(frac_options),
    .check_config = frac_check,
    .fit_shape = frac_fit_shape,
    .param_count = frac_params,
    .init_params = frac_init,
    .act_count = frac_acts,
    .scratch_count = frac_scratch,
    .state_size = sizeof(FracState),
    .setup = frac_setup,
    .matrices = frac_matrices,
    .begin = frac_begin,
    .input = frac_input,
    .commit = frac_commit,
    .output = frac_output,
    .output_backward = frac_output_backward,
    .commit_backward = frac_commit_backward,
    .input_backward = frac_input_backward,
    .begin_backward = frac_begin_backward,
    .flops_per_token = frac_flops,
    .traffic_per_token = frac_traffic,
    .mixing_gains = frac_gains,
    .stream_rms = frac_stream_rms,
};
