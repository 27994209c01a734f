/* Multi-stream residuals (docs/variants.md, sections 4 and 5): mhc (manifold-constrained
 * Hyper-Connections) and hc (unconstrained Hyper-Connections). Both keep n streams X (n x d per
 * token), X^0 = [e; ...; e], and at every sublayer site l use per-token coefficients read[i] (H_pre
 * / A_m), write[j] (H_post / B), mix[i][j] (P / A_r, [src][dst]): u = sum_i read[i] X_i what the
 * sublayer reads X'_j = sum_i mix[i][j] X_i + write[j] * f(u) out = mean_i X^L_i Orientation
 * (fixed, tested): mix[src][dst] moves stream src into stream dst; the forward mixing matrix in the
 * mHC paper's convention X' = H X is H = mix^T. mhc: coefficients from x = vec(X): m = x phi (one
 * sgemm over all tokens), h~ = rinv * alpha_g * m
 * + b; read = sigmoid + 1e-6, write = 2 sigmoid, mix = Sinkhorn(h~_res), unrolled both ways. hc:
 * static A_m (one-hot e_{l mod n}), A_r (I), B (1) plus s * tanh(norm(X_i) W) per stream (one sgemm
 * over all tokens and streams), s = 0.01, W = 0 at init. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "mhc.h"
#include "ops.h"
#include "util.h"
#include "variant.h"

typedef struct {
    int L, n, d, ntok, K, R, hc; /* K = 2n + n^2 coefficients; R raw projections per token */
    int iters;
    size_t site_params;
    float *X;     /* (L + 1, ntok, n, d) stream states */
    float *u;     /* (L, ntok, d) sublayer inputs */
    float *out;   /* (ntok, d) mean of the last state */
    float *coef;  /* (L, ntok, K): read (n), write (n), mix (n x n, [src][dst]) */
    float *raw;   /* (L, ntok, R): mhc x phi; hc X_i W for each stream (n + 2 each) */
    float *rinv;  /* (L, ntok, n): mhc 1/rms of vec(X) in [0]; hc per stream */
    float *dX[2]; /* scratch (ntok, n, d): gradient of the state after / before a site */
    float *dy;    /* scratch (ntok, d): gradient of the sublayer output */
    float *dcoef; /* scratch (ntok, K), then the logits' gradient (mhc) */
    float *draw;  /* scratch (ntok, R) */
    float *dscal; /* scratch (ntok, 2): hc per-token gradients of s_alpha, s_beta */
} Lay;

static int is_hc(const Config *c) {
    return strcmp(c->variant, "hc") == 0;
}

static void layout(Lay *y, const Config *c, int ntok, float *acts, float *scratch, size_t *na,
                   size_t *ns) {
    int n = c->mhc_streams, d = c->d_model;
    y->L = config_n_sub(c);
    y->n = n;
    y->d = d;
    y->ntok = ntok;
    y->K = 2 * n + n * n;
    y->hc = is_hc(c);
    y->R = y->hc ? n * (n + 2) : y->K;
    y->iters = c->sinkhorn_iters;
    y->site_params = y->hc ? (size_t)d * (n + 2) + y->K + 2 : (size_t)n * d * y->K + y->K + 3;
    size_t nd = (size_t)ntok * d, a = 0, s = 0;
    y->X = rb_carve(acts, &a, (y->L + 1) * n * nd);
    y->u = rb_carve(acts, &a, y->L * nd);
    y->out = rb_carve(acts, &a, nd);
    y->coef = rb_carve(acts, &a, (size_t)y->L * ntok * y->K);
    y->raw = rb_carve(acts, &a, (size_t)y->L * ntok * y->R);
    y->rinv = rb_carve(acts, &a, (size_t)y->L * ntok * n);
    y->dX[0] = rb_carve(scratch, &s, n * nd);
    y->dX[1] = rb_carve(scratch, &s, n * nd);
    y->dy = rb_carve(scratch, &s, nd);
    y->dcoef = rb_carve(scratch, &s, (size_t)ntok * y->K);
    y->draw = rb_carve(scratch, &s, (size_t)ntok * y->R);
    y->dscal = rb_carve(scratch, &s, (size_t)ntok * 2);
    if (na) *na = a;
    if (ns) *ns = s;
}

static Lay lay_of(const Stream *st) {
    Lay y;
    layout(&y, st->cfg, st->ntok, st->acts, st->scratch, NULL, NULL);
    return y;
}

static float *state(const Lay *y, int l) {
    return y->X + (size_t)l * y->ntok * y->n * y->d;
}
static float *site_coef(const Lay *y, int l) {
    return y->coef + (size_t)l * y->ntok * y->K;
}
static float *site_raw(const Lay *y, int l) {
    return y->raw + (size_t)l * y->ntok * y->R;
}
static float *site_rinv(const Lay *y, int l) {
    return y->rinv + (size_t)l * y->ntok * y->n;
}

/* Parameter slices of site l. mhc: phi (nd x K), b (K), alpha (pre, post, res).
 * hc: W (d x (n+2)) columns [m | r_0..r_{n-1} | beta], A_m (n), B (n), A_r (n x n), s_alpha,
 * s_beta; the static part is laid out like the coefficients (read, write, mix). */
typedef struct {
    float *phi, *b, *alpha; /* mhc */
    float *W, *stat, *s_ab; /* hc: stat = K static coefficients, s_ab = {s_alpha, s_beta} */
} Site;

static Site site_params(const Lay *y, float *base, int l) {
    float *p = base + (size_t)l * y->site_params;
    Site s = {0};
    if (y->hc) {
        s.W = p;
        s.stat = p + (size_t)y->d * (y->n + 2);
        s.s_ab = s.stat + y->K;
    } else {
        s.phi = p;
        s.b = p + (size_t)y->n * y->d * y->K;
        s.alpha = s.b + y->K;
    }
    return s;
}

static size_t mhc_params(const Config *c) {
    Lay y;
    layout(&y, c, 1, NULL, NULL, NULL, NULL);
    return y.site_params * y.L;
}

static void mhc_init(const Config *c, float *params, Rng *rng) {
    Lay y;
    layout(&y, c, 1, NULL, NULL, NULL, NULL);
    int n = y.n;
    memset(params, 0, mhc_params(c) * sizeof(float));
    for (int l = 0; l < y.L; l++) {
        Site s = site_params(&y, params, l);
        if (y.hc) { /* A_m = e_{l mod n}, B = 1, A_r = I, s = 0.01, W = 0 */
            s.stat[l % n] = 1.0f;
            for (int j = 0; j < n; j++) s.stat[n + j] = 1.0f;
            for (int i = 0; i < n; i++) s.stat[2 * n + i * n + i] = 1.0f;
            s.s_ab[0] = s.s_ab[1] = 0.01f;
            continue;
        }
        rng_fill_normal(rng, s.phi, (long)n * y.d * y.K, 0.02f); /* never zero: breaks symmetry */
        for (int i = 0; i < n; i++) s.b[i] = -logf((float)(n - 1));
        s.alpha[0] = s.alpha[1] = s.alpha[2] = 0.01f;
    }
}

static size_t mhc_acts(const Config *c, int ntok) {
    Lay y;
    size_t na;
    layout(&y, c, ntok, NULL, NULL, &na, NULL);
    return na;
}

static size_t mhc_scratch(const Config *c, int ntok) {
    Lay y;
    size_t ns;
    layout(&y, c, ntok, NULL, NULL, NULL, &ns);
    return ns;
}

static float sigmoidf(float x) {
    return 1.0f / (1.0f + expf(-x));
}

/* ---- Sinkhorn (spec 4): softmax over dst + 1e-6, then 2*iters - 1 alternating normalizations,
 * starting and ending with the one over src (column sums for fixed dst). tape[k] holds the input of
 * normalization k. P[i*n + j] = P[src i][dst j]. */
#define SK_EPS 1e-6f

/* always inlined so that the n = 4 instances below see a constant n and unroll */
#define SK_INLINE static inline __attribute__((always_inline))

SK_INLINE void normalize(float *M, int n, int over_src, float *sums) {
    if (over_src) { /* column sums for fixed dst: rows accumulate into sums, then one scale */
        for (int a = 0; a < n; a++) sums[a] = SK_EPS;
        for (int b = 0; b < n; b++)
            for (int a = 0; a < n; a++) sums[a] += M[b * n + a];
        for (int a = 0; a < n; a++) sums[a] = 1.0f / sums[a];
        for (int b = 0; b < n; b++)
            for (int a = 0; a < n; a++) M[b * n + a] *= sums[a];
        return;
    }
    for (int a = 0; a < n; a++) {
        float s = SK_EPS;
        for (int b = 0; b < n; b++) s += M[a * n + b];
        float inv = 1.0f / s;
        sums[a] = inv;
        for (int b = 0; b < n; b++) M[a * n + b] *= inv;
    }
}

SK_INLINE void sinkhorn_forward_n(float *P, float *tape, const float *logits, int n, int iters) {
    int nn = n * n;
    for (int i = 0; i < n; i++) { /* softmax over dst for each src row */
        const float *z = logits + i * n;
        float mx = z[0], sum = 0;
        for (int j = 1; j < n; j++) mx = z[j] > mx ? z[j] : mx;
        for (int j = 0; j < n; j++) sum += P[i * n + j] = expf(z[j] - mx);
        for (int j = 0; j < n; j++) P[i * n + j] = P[i * n + j] / sum + SK_EPS;
    }
    float sums[MHC_MAX_N];
    for (int k = 0; k < 2 * iters - 1; k++) {
        if (tape) memcpy(tape + (size_t)k * nn, P, nn * sizeof(float));
        normalize(P, n, k % 2 == 0, sums);
    }
}

/* dlogits from dP by running the tape backwards: per normalization with input A and line sums s:
 * c = sum_line(G * A) / s;  G = (G - c) / s; then the softmax backward per src row. */
SK_INLINE void sinkhorn_backward_n(float *dlogits, const float *dP, const float *logits, int n,
                                   int iters) {
    float tape[2 * MHC_MAX_ITERS * MHC_MAX_N * MHC_MAX_N], P[MHC_MAX_N * MHC_MAX_N];
    float G[MHC_MAX_N * MHC_MAX_N];
    sinkhorn_forward_n(P, tape, logits, n, iters);
    memcpy(G, dP, (size_t)n * n * sizeof(float));
    for (int k = 2 * iters - 2; k >= 0; k--) {
        const float *A = tape + (size_t)k * n * n;
        if (k % 2 == 0) { /* over src: lines are columns */
            float inv[MHC_MAX_N], c[MHC_MAX_N];
            for (int a = 0; a < n; a++) inv[a] = SK_EPS, c[a] = 0;
            for (int b = 0; b < n; b++)
                for (int a = 0; a < n; a++) {
                    inv[a] += A[b * n + a];
                    c[a] += G[b * n + a] * A[b * n + a];
                }
            for (int a = 0; a < n; a++) inv[a] = 1.0f / inv[a], c[a] *= inv[a];
            for (int b = 0; b < n; b++)
                for (int a = 0; a < n; a++) G[b * n + a] = (G[b * n + a] - c[a]) * inv[a];
        } else {
            for (int a = 0; a < n; a++) {
                float s = SK_EPS, c = 0;
                for (int b = 0; b < n; b++) {
                    s += A[a * n + b];
                    c += G[a * n + b] * A[a * n + b];
                }
                float inv = 1.0f / s;
                c *= inv;
                for (int b = 0; b < n; b++) G[a * n + b] = (G[a * n + b] - c) * inv;
            }
        }
    }
    for (int i = 0; i < n; i++) { /* softmax backward; the +1e-6 passes gradients through */
        const float *z = logits + i * n;
        float mx = z[0], sum = 0, S[MHC_MAX_N], dot = 0;
        for (int j = 1; j < n; j++) mx = z[j] > mx ? z[j] : mx;
        for (int j = 0; j < n; j++) sum += S[j] = expf(z[j] - mx);
        for (int j = 0; j < n; j++) {
            S[j] /= sum;
            dot += S[j] * G[i * n + j];
        }
        for (int j = 0; j < n; j++) dlogits[i * n + j] = S[j] * (G[i * n + j] - dot);
    }
}

/* n = 4 (the default and the papers' setting) gets its own fully unrolled instance. */
void sinkhorn_forward(float *P, float *tape, const float *logits, int n, int iters) {
    if (n == 4)
        sinkhorn_forward_n(P, tape, logits, 4, iters);
    else
        sinkhorn_forward_n(P, tape, logits, n, iters);
}

void sinkhorn_backward(float *dlogits, const float *dP, const float *logits, int n, int iters) {
    if (n == 4)
        sinkhorn_backward_n(dlogits, dP, logits, 4, iters);
    else
        sinkhorn_backward_n(dlogits, dP, logits, n, iters);
}

/* 1/rms of token t's state at site l (l < L), computed where the state is written (it is still
 * in cache): mhc one norm over vec(X) (stored in slot 0), hc one per stream. */
static void token_rinv(const Lay *y, int l, int t) {
    int n = y->n, d = y->d, len = y->hc ? d : n * d;
    const float *x = state(y, l) + (size_t)t * n * d;
    float *ri = site_rinv(y, l) + (size_t)t * n;
    for (int i = 0; i < (y->hc ? n : 1); i++) ri[i] = rms_inverse_row(x + (size_t)i * len, len);
}

/* ---- coefficients of site l from state X (all tokens) ---- */
/* mhc logit q of a token: rinv * alpha_group(q) * m_q + b_q (groups: pre n, post n, res n^2) */
static float mhc_logit(const Site *s, int n, int q, float rinv, float m) {
    int g = q < n ? 0 : (q < 2 * n ? 1 : 2);
    return rinv * s->alpha[g] * m + s->b[q];
}

static void mhc_coefficients(const Lay *y, const Site *s, int l) {
    int n = y->n, K = y->K, nd = n * y->d;
    const float *X = state(y, l);
    float *raw = site_raw(y, l), *rinv = site_rinv(y, l), *coef = site_coef(y, l);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, y->ntok, K, nd, 1.0f, X, nd, s->phi, K,
                0.0f, raw, K);
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y->ntok; t++) {
        float h[2 * MHC_MAX_N + MHC_MAX_N * MHC_MAX_N], *c = coef + (size_t)t * K;
        float r = rinv[(size_t)t * n];
        for (int q = 0; q < K; q++) h[q] = mhc_logit(s, n, q, r, raw[(size_t)t * K + q]);
        for (int i = 0; i < n; i++) {
            c[i] = sigmoidf(h[i]) + 1e-6f;
            c[n + i] = 2.0f * sigmoidf(h[n + i]);
        }
        sinkhorn_forward(c + 2 * n, NULL, h + 2 * n, n, y->iters);
    }
}

static void hc_coefficients(const Lay *y, const Site *s, int l) {
    int n = y->n, K = y->K, R = y->R, d = y->d;
    const float *X = state(y, l);
    float *raw = site_raw(y, l), *rinv = site_rinv(y, l), *coef = site_coef(y, l);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, y->ntok * n, n + 2, d, 1.0f, X, d, s->W,
                n + 2, 0.0f, raw, n + 2);
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y->ntok; t++) {
        float *c = coef + (size_t)t * K;
        const float *rw = raw + (size_t)t * R;
        const float *ri = rinv + (size_t)t * n;
        for (int i = 0; i < n; i++) {
            const float *z = rw + i * (n + 2);
            c[i] = s->stat[i] + s->s_ab[0] * tanhf(ri[i] * z[0]);
            c[n + i] = s->stat[n + i] + s->s_ab[1] * tanhf(ri[i] * z[n + 1]);
            for (int j = 0; j < n; j++)
                c[2 * n + i * n + j] =
                    s->stat[2 * n + i * n + j] + s->s_ab[0] * tanhf(ri[i] * z[1 + j]);
        }
    }
}

/* ---- the residual-stream interface ---- */
static void mhc_begin(Stream *st, const float *emb) {
    Lay y = lay_of(st);
    float *X = state(&y, 0);
    size_t d = y.d;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y.ntok; t++) {
        for (int i = 0; i < y.n; i++)
            memcpy(X + ((size_t)t * y.n + i) * d, emb + (size_t)t * d, d * sizeof(float));
        token_rinv(&y, 0, t);
    }
}

static const float *mhc_input(Stream *st, int l) {
    Lay y = lay_of(st);
    Site s = site_params(&y, st->params, l);
    if (y.hc)
        hc_coefficients(&y, &s, l);
    else
        mhc_coefficients(&y, &s, l);
    const float *X = state(&y, l), *coef = site_coef(&y, l);
    float *u = y.u + (size_t)l * y.ntok * y.d;
    int n = y.n, d = y.d;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y.ntok; t++) {
        const float *c = coef + (size_t)t * y.K, *x = X + (size_t)t * n * d;
        float *ut = u + (size_t)t * d;
        for (int k = 0; k < d; k++) ut[k] = c[0] * x[k];
        for (int i = 1; i < n; i++)
            for (int k = 0; k < d; k++) ut[k] += c[i] * x[i * d + k];
    }
    return u;
}

static void mhc_commit(Stream *st, int l, const float *v) {
    Lay y = lay_of(st);
    const float *X = state(&y, l), *coef = site_coef(&y, l);
    float *Xn = state(&y, l + 1);
    int n = y.n, d = y.d;
    st->value[l + 1] = v; /* the write's gradient needs v in the backward */
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y.ntok; t++) { /* one pass: X'_j = sum_i mix[i][j] X_i + write[j] v */
        const float *c = coef + (size_t)t * y.K, *x = X + (size_t)t * n * d,
                    *vt = v + (size_t)t * d;
        const float *mix = c + 2 * n;
        float *xn = Xn + (size_t)t * n * d;
        for (int j = 0; j < n; j++) {
            float *o = xn + j * d;
            for (int k = 0; k < d; k++) o[k] = c[n + j] * vt[k];
            for (int i = 0; i < n; i++)
                for (int k = 0; k < d; k++) o[k] += mix[i * n + j] * x[i * d + k];
        }
        if (l + 1 < y.L) token_rinv(&y, l + 1, t);
    }
}

static const float *mhc_output(Stream *st) {
    Lay y = lay_of(st);
    const float *X = state(&y, y.L);
    int n = y.n, d = y.d;
    float inv = 1.0f / n;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y.ntok; t++) {
        const float *x = X + (size_t)t * n * d;
        float *o = y.out + (size_t)t * d;
        for (int k = 0; k < d; k++) {
            float s = 0;
            for (int i = 0; i < n; i++) s += x[i * d + k];
            o[k] = s * inv;
        }
    }
    return y.out;
}

static void mhc_output_backward(Stream *st, const float *dout) {
    Lay y = lay_of(st);
    float *dX = y.dX[y.L % 2], inv = 1.0f / y.n;
    int n = y.n, d = y.d;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y.ntok; t++)
        for (int i = 0; i < n; i++)
            for (int k = 0; k < d; k++)
                dX[((size_t)t * n + i) * d + k] = dout[(size_t)t * d + k] * inv;
}

/* dX' (state after site l) is complete: dy = sum_j write[j] dX'_j, dwrite_j = dX'_j . y,
 * dmix[i][j] = dX'_j . X_i, dX_i = sum_j mix[i][j] dX'_j (the state before site l). */
static const float *mhc_commit_backward(Stream *st, int l) {
    Lay y = lay_of(st);
    const float *X = state(&y, l), *coef = site_coef(&y, l), *v = st->value[l + 1];
    const float *dXn = y.dX[(l + 1) % 2];
    float *dX = y.dX[l % 2];
    int n = y.n, d = y.d, K = y.K;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y.ntok; t++) {
        const float *c = coef + (size_t)t * K, *x = X + (size_t)t * n * d;
        const float *g = dXn + (size_t)t * n * d, *vt = v + (size_t)t * d;
        const float *mix = c + 2 * n;
        float *dc = y.dcoef + (size_t)t * K, *dyt = y.dy + (size_t)t * d;
        float *dx = dX + (size_t)t * n * d;
        for (int k = 0; k < d; k++) dyt[k] = 0;
        for (int j = 0; j < n; j++) {
            const float *gj = g + j * d;
            float dw = 0;
#pragma omp simd reduction(+ : dw)
            for (int k = 0; k < d; k++) {
                dyt[k] += c[n + j] * gj[k];
                dw += gj[k] * vt[k];
            }
            dc[n + j] = dw;
        }
        for (int i = 0; i < n; i++) {
            const float *xi = x + i * d;
            float *dxi = dx + i * d;
            for (int k = 0; k < d; k++) dxi[k] = 0;
            for (int j = 0; j < n; j++) {
                const float *gj = g + j * d;
                float m = mix[i * n + j], dm = 0;
#pragma omp simd reduction(+ : dm)
                for (int k = 0; k < d; k++) {
                    dxi[k] += m * gj[k];
                    dm += gj[k] * xi[k];
                }
                dc[2 * n + i * n + j] = dm;
            }
        }
    }
    return y.dy;
}

/* mhc, one token: dcoef (read, write, mix) -> dlogits in place, the projection's gradient (draw)
 * and the return value dL/drinv. */
static float mhc_token_coef_backward(const Lay *y, const Site *s, int l, int t) {
    int n = y->n, K = y->K;
    float h[2 * MHC_MAX_N + MHC_MAX_N * MHC_MAX_N], dres[MHC_MAX_N * MHC_MAX_N];
    float *dc = y->dcoef + (size_t)t * K, *dr = y->draw + (size_t)t * K;
    const float *m = site_raw(y, l) + (size_t)t * K;
    float r = site_rinv(y, l)[(size_t)t * n], drinv = 0;
    for (int q = 0; q < K; q++) h[q] = mhc_logit(s, n, q, r, m[q]);
    for (int i = 0; i < n; i++) {
        float sp = sigmoidf(h[i]), sq = sigmoidf(h[n + i]);
        dc[i] *= sp * (1 - sp);
        dc[n + i] *= 2 * sq * (1 - sq);
    }
    sinkhorn_backward(dres, dc + 2 * n, h + 2 * n, n, y->iters);
    memcpy(dc + 2 * n, dres, (size_t)n * n * sizeof(float));
    for (int q = 0; q < K; q++) { /* dc now holds dlogits */
        float a = s->alpha[q < n ? 0 : (q < 2 * n ? 1 : 2)];
        dr[q] = dc[q] * a * r;
        drinv += dc[q] * a * m[q];
    }
    return drinv;
}

/* hc, one token: coefficient = static + s * tanh(rinv_i * z) per stream i and column; writes
 * draw, the token's s_alpha/s_beta gradients (dscal) and dL/drinv_i for each stream. */
static void hc_token_coef_backward(const Lay *y, const Site *s, int l, int t, float *drinv) {
    int n = y->n, K = y->K, R = y->R;
    const float *dc = y->dcoef + (size_t)t * K, *rw = site_raw(y, l) + (size_t)t * R;
    const float *ri = site_rinv(y, l) + (size_t)t * n;
    float *dr = y->draw + (size_t)t * R, dsa = 0, dsb = 0;
    for (int i = 0; i < n; i++) {
        const float *z = rw + i * (n + 2);
        float *dz = dr + i * (n + 2);
        drinv[i] = 0;
        for (int col = 0; col < n + 2; col++) { /* col 0: read, 1..n: mix row i, n+1: write */
            float gc = col == 0 ? dc[i] : (col <= n ? dc[2 * n + i * n + col - 1] : dc[n + i]);
            float sc = col == n + 1 ? s->s_ab[1] : s->s_ab[0];
            float th = tanhf(ri[i] * z[col]);
            if (col == n + 1)
                dsb += gc * th;
            else
                dsa += gc * th;
            float dpre = gc * sc * (1 - th * th);
            dz[col] = dpre * ri[i];
            drinv[i] += dpre * z[col];
        }
    }
    y->dscal[2 * (size_t)t] = dsa;
    y->dscal[2 * (size_t)t + 1] = dsb;
}

/* mhc: b and alpha (sums over tokens in a fixed order), then phi and the state through the
 * projection: two sgemms. */
static void mhc_params_backward(Stream *st, const Lay *y, int l) {
    int n = y->n, K = y->K, nd = n * y->d;
    Site s = site_params(y, st->params, l), g = site_params(y, st->grads, l);
    const float *X = state(y, l), *raw = site_raw(y, l), *rinv = site_rinv(y, l);
    for (int q = 0; q < K; q++) {
        double db = 0, da = 0;
        for (int t = 0; t < y->ntok; t++) {
            float dh = y->dcoef[(size_t)t * K + q];
            db += dh;
            da += (double)dh * raw[(size_t)t * K + q] * rinv[(size_t)t * n];
        }
        g.b[q] += (float)db;
        g.alpha[q < n ? 0 : (q < 2 * n ? 1 : 2)] += (float)da;
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nd, K, y->ntok, 1.0f, X, nd, y->draw, K,
                1.0f, g.phi, K);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, y->ntok, nd, K, 1.0f, y->draw, K, s.phi, K,
                1.0f, y->dX[l % 2], nd);
}

/* hc: static coefficients, s_alpha, s_beta (sums over tokens in a fixed order), then W and the
 * state through the projection: two sgemms. */
static void hc_params_backward(Stream *st, const Lay *y, int l) {
    int n = y->n, K = y->K, d = y->d;
    Site s = site_params(y, st->params, l), g = site_params(y, st->grads, l);
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
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, n + 2, y->ntok * n, 1.0f, state(y, l),
                d, y->draw, n + 2, 1.0f, g.W, n + 2);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, y->ntok * n, d, n + 2, 1.0f, y->draw,
                n + 2, s.W, n + 2, 1.0f, y->dX[l % 2], d);
}

/* du (gradient of the sublayer input), one pass per token: dread_i = du . X_i; the coefficients'
 * backward (-> dlogits, draw, dL/drinv); then dX_i += read[i] du + k_i X_i, where
 * k_i = -dL/drinv_i rinv_i^3 / len is the norm's path (len = nd for mhc's one norm over vec(X),
 * d for hc's per-stream norms). The projection's path follows as two sgemms. */
static void mhc_input_backward(Stream *st, int l, const float *du) {
    Lay y = lay_of(st);
    Site s = site_params(&y, st->params, l);
    const float *X = state(&y, l), *coef = site_coef(&y, l), *rinv = site_rinv(&y, l);
    float *dX = y.dX[l % 2];
    int n = y.n, d = y.d, K = y.K;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y.ntok; t++) {
        const float *c = coef + (size_t)t * K, *x = X + (size_t)t * n * d, *g = du + (size_t)t * d;
        const float *ri = rinv + (size_t)t * n;
        float *dx = dX + (size_t)t * n * d, *dc = y.dcoef + (size_t)t * K, k[MHC_MAX_N];
        for (int i = 0; i < n; i++) {
            float dr = 0;
#pragma omp simd reduction(+ : dr)
            for (int q = 0; q < d; q++) dr += g[q] * x[i * d + q];
            dc[i] = dr;
        }
        if (y.hc) {
            hc_token_coef_backward(&y, &s, l, t, k);
            for (int i = 0; i < n; i++) k[i] *= -ri[i] * ri[i] * ri[i] / d;
        } else {
            float drinv = mhc_token_coef_backward(&y, &s, l, t);
            for (int i = 0; i < n; i++) k[i] = -drinv * ri[0] * ri[0] * ri[0] / (n * d);
        }
        for (int i = 0; i < n; i++)
            for (int q = 0; q < d; q++) dx[i * d + q] += c[i] * g[q] + k[i] * x[i * d + q];
    }
    if (y.hc)
        hc_params_backward(st, &y, l);
    else
        mhc_params_backward(st, &y, l);
}

static void mhc_begin_backward(Stream *st, float *demb) {
    Lay y = lay_of(st);
    const float *dX = y.dX[0];
    int n = y.n, d = y.d;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y.ntok; t++)
        for (int k = 0; k < d; k++) {
            float s = 0;
            for (int i = 0; i < n; i++) s += dX[((size_t)t * n + i) * d + k];
            demb[(size_t)t * d + k] = s;
        }
}

/* Per token and site: coefficient projection 2 nd K (hc: 2 n d (n+2)) forward, twice that
 * backward, 1/rms 2nd; read 2nd, write 2n^2 d + 2nd forward; backward dy/dwrite 4nd, dX/dmix
 * 4n^2 d, read 4nd, the norm term 2nd; Sinkhorn ~3n^2 per normalization forward, ~3x backward.
 * Plus the initial replication and the final mean, nd each. */
static double mhc_flops(const Config *c) {
    Lay y;
    layout(&y, c, 1, NULL, NULL, NULL, NULL);
    double n = y.n, d = y.d, nd = n * d;
    double proj = y.hc ? 2 * n * d * (n + 2) : 2 * nd * y.K;
    double sink = y.hc ? 0 : (2.0 * y.iters - 1) * 3 * n * n * 4;
    double site = 3 * proj + 2 * nd + 2 * nd + 2 * n * n * d + 2 * nd + 4 * nd + 4 * n * n * d +
                  4 * nd + 2 * nd + sink;
    return y.L * site + 2 * nd;
}

/* Row sums (H[a][.]) and column sums (H[.][a]) of an n x n matrix, min and max of each, and
 * the max of the absolute sums (gains): out[MixStat] for the single-site entries. */
static void matrix_sums(const double *H, int n, double *out) {
    out[MIX_FWD_GAIN] = out[MIX_BWD_GAIN] = 0;
    out[MIX_ROW_SUM_MIN] = out[MIX_COL_SUM_MIN] = INFINITY;
    out[MIX_ROW_SUM_MAX] = out[MIX_COL_SUM_MAX] = -INFINITY;
    double dist = 0;
    for (int a = 0; a < n; a++) {
        double row = 0, col = 0, arow = 0, acol = 0;
        for (int b = 0; b < n; b++) {
            row += H[a * n + b];
            col += H[b * n + a];
            arow += fabs(H[a * n + b]);
            acol += fabs(H[b * n + a]);
            double e = H[a * n + b] - (a == b);
            dist += e * e;
        }
        out[MIX_FWD_GAIN] = fmax(out[MIX_FWD_GAIN], arow);
        out[MIX_BWD_GAIN] = fmax(out[MIX_BWD_GAIN], acol);
        out[MIX_ROW_SUM_MIN] = fmin(out[MIX_ROW_SUM_MIN], row);
        out[MIX_ROW_SUM_MAX] = fmax(out[MIX_ROW_SUM_MAX], row);
        out[MIX_COL_SUM_MIN] = fmin(out[MIX_COL_SUM_MIN], col);
        out[MIX_COL_SUM_MAX] = fmax(out[MIX_COL_SUM_MAX], col);
    }
    out[MIX_DIST_IDENTITY] = sqrt(dist);
}

/* MixStats of H = mix^T (X' = H X) per site and of the composite H_l ... H_1, token means. */
static int mhc_gains(const Stream *st, double *stats) {
    Lay y = lay_of(st);
    int n = y.n, L = y.L;
    memset(stats, 0, (size_t)MIX_NSTATS * L * sizeof(double));
    for (int t = 0; t < y.ntok; t++) {
        double C[MHC_MAX_N * MHC_MAX_N], T[MHC_MAX_N * MHC_MAX_N], H[MHC_MAX_N * MHC_MAX_N];
        for (int i = 0; i < n * n; i++) C[i] = i % (n + 1) == 0; /* identity, C[dst][src] */
        for (int l = 0; l < L; l++) {
            const float *mix = site_coef(&y, l) + (size_t)t * y.K + 2 * n;
            for (int a = 0; a < n; a++)
                for (int b = 0; b < n; b++) H[a * n + b] = mix[b * n + a];
            for (int a = 0; a < n; a++) /* T = H C */
                for (int b = 0; b < n; b++) {
                    double acc = 0;
                    for (int k = 0; k < n; k++) acc += H[a * n + k] * C[k * n + b];
                    T[a * n + b] = acc;
                }
            memcpy(C, T, sizeof(double) * n * n);
            double single[MIX_NSTATS], comp[MIX_NSTATS];
            matrix_sums(H, n, single);
            matrix_sums(C, n, comp);
            single[MIX_COMPOSITE_FWD_GAIN] = comp[MIX_FWD_GAIN];
            single[MIX_COMPOSITE_BWD_GAIN] = comp[MIX_BWD_GAIN];
            for (int k = 0; k < MIX_NSTATS; k++) stats[MIX_NSTATS * l + k] += single[k] / y.ntok;
        }
    }
    return L;
}

/* RMS of the mean stream after site l */
static double mhc_stream_rms(const Stream *st, int l) {
    Lay y = lay_of(st);
    const float *X = state(&y, l + 1);
    double s = 0;
    for (int t = 0; t < y.ntok; t++)
        for (int k = 0; k < y.d; k++) {
            double m = 0;
            for (int i = 0; i < y.n; i++) m += X[((size_t)t * y.n + i) * y.d + k];
            m /= y.n;
            s += m * m;
        }
    return sqrt(s / ((double)y.ntok * y.d));
}

#define MHC_OPS                                                                                    \
    .param_count = mhc_params, .init_params = mhc_init, .act_count = mhc_acts,                     \
    .scratch_count = mhc_scratch, .begin = mhc_begin, .input = mhc_input, .commit = mhc_commit,    \
    .output = mhc_output, .output_backward = mhc_output_backward,                                  \
    .commit_backward = mhc_commit_backward, .input_backward = mhc_input_backward,                  \
    .begin_backward = mhc_begin_backward, .flops_per_token = mhc_flops, .mixing_gains = mhc_gains, \
    .stream_rms = mhc_stream_rms

const VariantOps variant_mhc = {
    .name = "mhc",
    .summary = "mhc_streams residual streams mixed by Sinkhorn-projected matrices (mHC)",
    MHC_OPS,
};

const VariantOps variant_hc = {
    .name = "hc",
    .summary =
        "mhc_streams residual streams, unconstrained static + tanh mixing (Hyper-Connections)",
    MHC_OPS,
};
