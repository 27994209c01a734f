/* hc: Hyper-Connections (docs/variants.md, section 5), a kind of the shared multi-stream
 * mechanics (streams.c): static A_m (one-hot e_{l mod n}), A_r (I), B (1) plus
 * s * tanh(norm(X_i) W) per stream (one sgemm over all tokens and streams), s = 0.01, W = 0 at
 * init. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "gemm.h"
#include "streams.h"

/* Parameter slices of a site: W (d x (n+2)) columns [m | r_0..r_{n-1} | beta], then the static
 * part laid out like the coefficients (read A_m (n), write B (n), mix A_r (n x n)), then
 * s_alpha, s_beta. */
typedef struct {
    float *W, *stat, *s_ab;
} Site;

static Site site_of(const Streams *y, const float *p) {
    Site s;
    s.W = (float *)p;
    s.stat = s.W + (size_t)y->d * (y->n + 2);
    s.s_ab = s.stat + y->K;
    return s;
}

static int hc_raw(int n) {
    return n * (n + 2);
}

static size_t hc_site_params(int n, int d) {
    return (size_t)d * (n + 2) + (2 * n + n * n) + 2;
}

/* A_m = e_{l mod n}, B = 1, A_r = I, s = 0.01, W = 0 */
static void hc_init_site(float *p, int n, int d, int l, Rng *rng) {
    Streams y = {.n = n, .d = d, .K = 2 * n + n * n};
    Site s = site_of(&y, p);
    s.stat[l % n] = 1.0f;
    for (int j = 0; j < n; j++) s.stat[n + j] = 1.0f;
    for (int i = 0; i < n; i++) s.stat[2 * n + i * n + i] = 1.0f;
    s.s_ab[0] = s.s_ab[1] = 0.01f;
}

/* The projection z = X_i W of every (token, stream) row is kept column-major, (n + 2, ntok n):
 * z^T = W^T X^T and dW^T = dz^T X have n + 2 rows, a shape OpenBLAS runs faster than the
 * row-major X W and X^T dz (docs/performance.md). Column col of row (t, i): */
static size_t z_at(const Streams *y, int t, int i, int col) {
    return (size_t)col * y->ntok * y->n + (size_t)t * y->n + i;
}

static void hc_coefficients(const Streams *y, const float *p, int l) {
    Site site = site_of(y, p), *s = &site;
    int n = y->n, K = y->K, d = y->d;
    const float *X = streams_state(y, l);
    float *raw = streams_site_raw(y, l), *rinv = streams_site_rinv(y, l),
          *coef = streams_site_coef(y, l);
    gemm_product(1, 1, n + 2, y->ntok * n, d, s->W, n + 2, X, d, 0.0f, raw, y->ntok * n);
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y->ntok; t++) {
        float *c = coef + (size_t)t * K;
        const float *ri = rinv + (size_t)t * n;
        for (int i = 0; i < n; i++) {
            c[i] = s->stat[i] + s->s_ab[0] * tanhf(ri[i] * raw[z_at(y, t, i, 0)]);
            c[n + i] = s->stat[n + i] + s->s_ab[1] * tanhf(ri[i] * raw[z_at(y, t, i, n + 1)]);
            for (int j = 0; j < n; j++)
                c[2 * n + i * n + j] = s->stat[2 * n + i * n + j] +
                                       s->s_ab[0] * tanhf(ri[i] * raw[z_at(y, t, i, 1 + j)]);
        }
    }
}

/* hc, one token: coefficient = static + s * tanh(rinv_i * z) per stream i and column; writes
 * draw, the token's s_alpha/s_beta gradients (dscal) and dL/drinv_i for each stream. */
static void token_coef_backward(const Streams *y, const Site *s, int l, int t, float *drinv) {
    int n = y->n, K = y->K;
    const float *dc = y->dcoef + (size_t)t * K, *raw = streams_site_raw(y, l);
    const float *ri = streams_site_rinv(y, l) + (size_t)t * n;
    float dsa = 0, dsb = 0;
    for (int i = 0; i < n; i++) {
        drinv[i] = 0;
        for (int col = 0; col < n + 2; col++) { /* col 0: read, 1..n: mix row i, n+1: write */
            float gc = col == 0 ? dc[i] : (col <= n ? dc[2 * n + i * n + col - 1] : dc[n + i]);
            float sc = col == n + 1 ? s->s_ab[1] : s->s_ab[0];
            float z = raw[z_at(y, t, i, col)], th = tanhf(ri[i] * z);
            if (col == n + 1)
                dsb += gc * th;
            else
                dsa += gc * th;
            float dpre = gc * sc * (1 - th * th);
            y->draw[z_at(y, t, i, col)] = dpre * ri[i];
            drinv[i] += dpre * z;
        }
    }
    y->dscal[2 * (size_t)t] = dsa;
    y->dscal[2 * (size_t)t + 1] = dsb;
}

/* The norms' path: k_i = -dL/drinv_i rinv_i^3 / d per stream. */
static void hc_token_backward(const Streams *y, const float *p, int l, int t, float *k) {
    Site s = site_of(y, p);
    const float *ri = streams_site_rinv(y, l) + (size_t)t * y->n;
    int n = y->n, d = y->d;
    token_coef_backward(y, &s, l, t, k);
    for (int i = 0; i < n; i++) k[i] *= -ri[i] * ri[i] * ri[i] / d;
}

/* hc: static coefficients, s_alpha, s_beta (sums over tokens in a fixed order), then W and the
 * state through the projection: two sgemms, dW^T = dz^T X (added to dW transposed) and
 * dX += dz W^T. */
static void hc_params_backward(const Streams *y, const float *p, float *gp, int l) {
    int n = y->n, K = y->K, d = y->d;
    Site s = site_of(y, p), g = site_of(y, gp);
    for (int q = 0; q < K; q++) {
        double acc = 0;
        for (int t = 0; t < y->ntok; t++) acc += y->dcoef[(size_t)t * K + q];
        g.stat[q] += (float)acc;
    }
    double dsa = 0, dsb = 0;
    for (int t = 0; t < y->ntok; t++) {
        dsa += y->dscal[2 * (size_t)t];
        dsb += y->dscal[2 * (size_t)t + 1];
    }
    g.s_ab[0] += (float)dsa;
    g.s_ab[1] += (float)dsb;
    streams_weight_grad(y, g.W, streams_state(y, l), d, n + 2, y->ntok * n);
    gemm_product(1, 1, y->ntok * n, d, n + 2, y->draw, y->ntok * n, s.W, n + 2, 1.0f, y->dX[l % 2],
                 d);
}

/* projection 2 n d (n+2) forward, twice that backward */
static double hc_coef_flops(const Streams *y) {
    double n = y->n, d = y->d;
    return 3 * (2 * n * d * (n + 2));
}

enum { OPT_STREAMS }; /* positions in hc_options */
static const VariantOption hc_options[] = {[OPT_STREAMS] = STREAMS_OPTION_N};

static const StreamKind hc_kind = {
    .norm_per_stream = 1,
    .raw_per_token = hc_raw,
    .site_param_count = hc_site_params,
    .init_site = hc_init_site,
    .coefficients = hc_coefficients,
    .token_backward = hc_token_backward,
    .params_backward = hc_params_backward,
    .coef_flops = hc_coef_flops,
    .opt_streams = &hc_options[OPT_STREAMS],
};

/* Muon's matrices: W of every site (d x (n + 2)), at the start of each site's slice */
static int hc_matrices(const Config *c, MatrixRun *out, int max) {
    int n = config_option_int(c, &hc_options[OPT_STREAMS]), d = c->d_model;
    if (max < 1) return -1;
    out[0] = (MatrixRun){0, hc_site_params(n, d), d, n + 2, config_n_sub(c)};
    return 1;
}

const VariantOps variant_hc = {
    .name = "hc",
    .summary = "n residual streams, unconstrained static + tanh mixing (Hyper-Connections)",
    .flavour = &hc_kind,
    .options = hc_options,
    .n_options = RB_COUNT(hc_options),
    .matrices = hc_matrices,
    STREAMS_OPS,
};
