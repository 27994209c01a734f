/* mhc: manifold-constrained Hyper-Connections (docs/variants.md, section 4), a kind of the shared
 * multi-stream mechanics (streams.c). Coefficients from x = vec(X): m = x phi (one sgemm over all
 * tokens), h~ = rinv * alpha_g * m + b; read = sigmoid + 1e-6, write = 2 sigmoid, mix =
 * Sinkhorn(h~_res), unrolled both ways.
 * The projections m and their gradient are kept coefficient-major, (K, ntok): m^T = phi^T X^T
 * and dphi^T = dm^T X have K = 24 rows, a shape OpenBLAS runs about twice as fast as the
 * token-major X phi and X^T dm (docs/performance.md). */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "gemm.h"
#include "sinkhorn.h"
#include "streams.h"

/* Parameter slices of a site: phi (nd x K), b (K), alpha (pre, post, res). */
typedef struct {
    float *phi, *b, *alpha;
} Site;

static Site site_of(const Streams *y, const float *p) {
    Site s;
    s.phi = (float *)p;
    s.b = s.phi + (size_t)y->n * y->d * y->K;
    s.alpha = s.b + y->K;
    return s;
}

static int mhc_raw(int n) {
    return 2 * n + n * n;
}

static size_t mhc_site_params(int n, int d) {
    size_t K = (size_t)mhc_raw(n);
    return (size_t)n * d * K + K + 3;
}

static void mhc_init_site(float *p, int n, int d, int l, Rng *rng) {
    Streams y = {.n = n, .d = d, .K = mhc_raw(n)};
    Site s = site_of(&y, p);
    rng_fill_normal(rng, s.phi, (long)n * d * y.K, 0.02f); /* never zero: breaks symmetry */
    for (int i = 0; i < n; i++) s.b[i] = -logf((float)(n - 1));
    s.alpha[0] = s.alpha[1] = s.alpha[2] = 0.01f;
}

static float sigmoidf(float x) {
    return 1.0f / (1.0f + expf(-x));
}

/* mhc logit q of a token: rinv * alpha_group(q) * m_q + b_q (groups: pre n, post n, res n^2) */
static float mhc_logit(const Site *s, int n, int q, float rinv, float m) {
    int g = q < n ? 0 : (q < 2 * n ? 1 : 2);
    return rinv * s->alpha[g] * m + s->b[q];
}

/* All K logits of token t at site l, from the saved projection and 1/rms. */
static void token_logits(const Streams *y, const Site *s, int l, int t, float *h) {
    const float *m = streams_site_raw(y, l) + t; /* m_q at m[q ntok] */
    float r = streams_site_rinv(y, l)[(size_t)t * y->n];
    for (int q = 0; q < y->K; q++) h[q] = mhc_logit(s, y->n, q, r, m[(size_t)q * y->ntok]);
}

/* Token t0 + j of a lane block, the last token repeated to fill a partial block. */
static int lane_token(const Streams *y, int t0, int j) {
    return t0 + j < y->ntok ? t0 + j : y->ntok - 1;
}

/* Coefficients per block of SK_LANES tokens: read and write per token, the mix by the lanes form
 * of Sinkhorn across the block (or per token where the lanes do not apply). */
static void mhc_coefficients(const Streams *y, const float *p, int l) {
    Site site = site_of(y, p), *s = &site;
    int n = y->n, K = y->K, nd = n * y->d, nn = n * n;
    int lanes = sinkhorn_lanes_ok(n, y->iters), nblk = (y->ntok + SK_LANES - 1) / SK_LANES;
    const float *X = streams_state(y, l);
    float *coef = streams_site_coef(y, l);
    gemm_product(1, 1, K, y->ntok, nd, s->phi, K, X, nd, 0.0f, streams_site_raw(y, l),
                 y->ntok); /* m^T = phi^T X^T */
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        float lg[SINKHORN_LANES_MAX_N * SINKHORN_LANES_MAX_N * SK_LANES],
            P[SINKHORN_LANES_MAX_N * SINKHORN_LANES_MAX_N * SK_LANES];
        int t0 = blk * SK_LANES;
        for (int j = 0; j < SK_LANES && (lanes || t0 + j < y->ntok); j++) {
            int t = lane_token(y, t0, j);
            float h[2 * STREAMS_MAX_N + STREAMS_MAX_N * STREAMS_MAX_N], *c = coef + (size_t)t * K;
            token_logits(y, s, l, t, h);
            if (lanes)
                for (int e = 0; e < nn; e++) lg[e * SK_LANES + j] = h[2 * n + e];
            if (t != t0 + j) continue; /* padding lane */
            for (int i = 0; i < n; i++) {
                c[i] = sigmoidf(h[i]) + 1e-6f;
                c[n + i] = 2.0f * sigmoidf(h[n + i]);
            }
            if (!lanes) sinkhorn_forward(c + 2 * n, NULL, h + 2 * n, n, y->iters);
        }
        if (!lanes) continue;
        sinkhorn_forward_lanes(P, lg, n, y->iters);
        for (int j = 0; j < SK_LANES && t0 + j < y->ntok; j++)
            for (int e = 0; e < nn; e++)
                coef[(size_t)(t0 + j) * K + 2 * n + e] = P[e * SK_LANES + j];
    }
}

/* The mix coefficients' backward for all tokens of site l before the per-token pass, in lane
 * blocks: dcoef's mix part (dP) becomes the gradient of the mix logits, in place. */
static void mhc_mix_backward(const Streams *y, const float *p, int l) {
    int n = y->n, K = y->K, nn = n * n, nblk = (y->ntok + SK_LANES - 1) / SK_LANES;
    if (!sinkhorn_lanes_ok(n, y->iters)) return; /* token_coef_backward does it per token */
    Site s = site_of(y, p);
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        float lg[SINKHORN_LANES_MAX_N * SINKHORN_LANES_MAX_N * SK_LANES],
            dP[SINKHORN_LANES_MAX_N * SINKHORN_LANES_MAX_N * SK_LANES],
            dz[SINKHORN_LANES_MAX_N * SINKHORN_LANES_MAX_N * SK_LANES];
        int t0 = blk * SK_LANES;
        for (int j = 0; j < SK_LANES; j++) {
            int t = lane_token(y, t0, j);
            float h[2 * STREAMS_MAX_N + STREAMS_MAX_N * STREAMS_MAX_N];
            token_logits(y, &s, l, t, h);
            for (int e = 0; e < nn; e++) {
                lg[e * SK_LANES + j] = h[2 * n + e];
                dP[e * SK_LANES + j] = y->dcoef[(size_t)t * K + 2 * n + e];
            }
        }
        sinkhorn_backward_lanes(dz, dP, lg, n, y->iters);
        for (int j = 0; j < SK_LANES && t0 + j < y->ntok; j++)
            for (int e = 0; e < nn; e++)
                y->dcoef[(size_t)(t0 + j) * K + 2 * n + e] = dz[e * SK_LANES + j];
    }
}

/* mhc, one token: dcoef (read, write, mix) -> dlogits in place, the projection's gradient (draw)
 * and the return value dL/drinv. */
static float token_coef_backward(const Streams *y, const Site *s, int l, int t) {
    int n = y->n, K = y->K;
    float h[2 * STREAMS_MAX_N + STREAMS_MAX_N * STREAMS_MAX_N], dres[STREAMS_MAX_N * STREAMS_MAX_N];
    float *dc = y->dcoef + (size_t)t * K, *dr = y->draw + t; /* coefficient-major, like m */
    const float *m = streams_site_raw(y, l) + t;
    float r = streams_site_rinv(y, l)[(size_t)t * n], drinv = 0;
    token_logits(y, s, l, t, h);
    for (int i = 0; i < n; i++) {
        float sp = sigmoidf(h[i]), sq = sigmoidf(h[n + i]);
        dc[i] *= sp * (1 - sp);
        dc[n + i] *= 2 * sq * (1 - sq);
    }
    if (!sinkhorn_lanes_ok(n, y->iters)) { /* else mhc_mix_backward did it in lanes */
        sinkhorn_backward(dres, dc + 2 * n, h + 2 * n, n, y->iters);
        memcpy(dc + 2 * n, dres, (size_t)n * n * sizeof(float));
    }
    for (int q = 0; q < K; q++) { /* dc now holds dlogits */
        float a = s->alpha[q < n ? 0 : (q < 2 * n ? 1 : 2)];
        dr[(size_t)q * y->ntok] = dc[q] * a * r;
        drinv += dc[q] * a * m[(size_t)q * y->ntok];
    }
    return drinv;
}

/* The norm's path: k_i = -dL/drinv rinv^3 / (nd), the same for every stream (one norm over vec(X)).
 */
static void mhc_token_backward(const Streams *y, const float *p, int l, int t, float *k) {
    Site s = site_of(y, p);
    const float *ri = streams_site_rinv(y, l) + (size_t)t * y->n;
    int n = y->n, d = y->d;
    float drinv = token_coef_backward(y, &s, l, t);
    for (int i = 0; i < n; i++) k[i] = -drinv * ri[0] * ri[0] * ri[0] / (n * d);
}

/* mhc: b and alpha (sums over tokens in a fixed order), then phi and the state through the
 * projection: two sgemms, dphi^T = dm^T X (added to dphi transposed) and dX += dm phi^T. */
static void mhc_params_backward(const Streams *y, const float *p, float *gp, int l) {
    int n = y->n, K = y->K, nd = n * y->d;
    Site s = site_of(y, p), g = site_of(y, gp);
    const float *X = streams_state(y, l), *raw = streams_site_raw(y, l),
                *rinv = streams_site_rinv(y, l);
    for (int q = 0; q < K; q++) {
        double db = 0, da = 0;
        for (int t = 0; t < y->ntok; t++) {
            float dh = y->dcoef[(size_t)t * K + q];
            db += dh;
            da += (double)dh * raw[(size_t)q * y->ntok + t] * rinv[(size_t)t * n];
        }
        g.b[q] += (float)db;
        g.alpha[q < n ? 0 : (q < 2 * n ? 1 : 2)] += (float)da;
    }
    streams_weight_grad(y, g.phi, X, nd, K, y->ntok);
    gemm_product(1, 1, y->ntok, nd, K, y->draw, y->ntok, s.phi, K, 1.0f, y->dX[l % 2], nd);
}

/* projection 2 nd K forward, twice that backward; Sinkhorn ~3n^2 per normalization forward,
 * ~3x that backward */
static double mhc_coef_flops(const Streams *y) {
    double n = y->n, nd = n * y->d;
    return 3 * (2 * nd * y->K) + (2.0 * y->iters - 1) * 3 * n * n * 4;
}

enum { OPT_STREAMS, OPT_ITERS }; /* positions in mhc_options */
static const VariantOption mhc_options[] = {
    [OPT_STREAMS] = STREAMS_OPTION_N,
    [OPT_ITERS] = {"sinkhorn_iters", "iters", 1, SINKHORN_MAX_ITERS, 20, NULL,
                   "Sinkhorn iterations (2*iters-1 normalizations)", NULL},
};

static const StreamKind mhc_kind = {
    .norm_per_stream = 0,
    .raw_per_token = mhc_raw,
    .site_param_count = mhc_site_params,
    .init_site = mhc_init_site,
    .coefficients = mhc_coefficients,
    .mix_backward = mhc_mix_backward,
    .token_backward = mhc_token_backward,
    .params_backward = mhc_params_backward,
    .coef_flops = mhc_coef_flops,
    .opt_streams = &mhc_options[OPT_STREAMS],
    .opt_iters = &mhc_options[OPT_ITERS],
};

/* Muon's matrices: phi of every site (nd x K), at the start of each site's slice */
static int mhc_matrices(const Config *c, MatrixRun *out, int max) {
    int n = config_option_int(c, &mhc_options[OPT_STREAMS]), d = c->d_model;
    if (max < 1) return -1;
    out[0] = (MatrixRun){0, mhc_site_params(n, d), n * d, mhc_raw(n), config_n_sub(c)};
    return 1;
}

const VariantOps variant_mhc = {
    .name = "mhc",
    .summary = "n residual streams mixed by Sinkhorn-projected matrices (mHC)",
    .flavour = &mhc_kind,
    .options = mhc_options,
    .n_options = RB_COUNT(mhc_options),
    .matrices = mhc_matrices,
    STREAMS_OPS,
};
