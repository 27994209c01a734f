/* The shared mechanics of the multi-stream variants (streams.h; docs/variants.md, sections 4, 5).
 */
#include "streams.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "gemm.h"
#include "ops.h"
#include "util.h"

static const StreamKind *kind_of(const Config *c) {
    return c->vt->flavour;
}

static void layout(Streams *y, const Config *c, int ntok, float *acts, float *scratch, size_t *na,
                   size_t *ns) {
    const StreamKind *kind = kind_of(c);
    int n = config_option_int(c, kind->opt_streams), d = c->d_model;
    y->kind = kind;
    y->L = config_n_sub(c);
    y->n = n;
    y->d = d;
    y->ntok = ntok;
    y->K = 2 * n + n * n;
    y->R = kind->raw_per_token(n);
    y->iters = kind->norm_per_stream ? 0 : config_option_int(c, kind->opt_iters);
    y->site_params = kind->site_param_count(n, d);
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
    y->dprojT = rb_carve(scratch, &s, (size_t)y->R * n * d);
    y->dscal = rb_carve(scratch, &s, (size_t)ntok * 2);
    if (na) *na = a;
    if (ns) *ns = s;
}

/* The projection's three products (the kind's coefficients, mix backward and streams_weight_grad:
 * cols coefficients per row of width floats, inner rows) prepared for the selected backend and
 * precision, so that a step creates nothing. A failure here is reported by the product itself. */
void streams_prepare_projection(int cols, int inner, int width) {
    (void)(gemm_prepare_product(1, cols, inner, width, 0) || /* raw^T = W^T X^T */
           gemm_prepare_product(1, inner, width, cols, 1) || /* dX += draw^T W^T */
           gemm_prepare_product(0, cols, width, inner, 0));  /* dW^T = draw X */
}

static void prepare_products(const Streams *y) {
    int width = y->kind->norm_per_stream ? y->d : y->n * y->d;
    int inner = y->kind->norm_per_stream ? y->ntok * y->n : y->ntok;
    streams_prepare_projection((int)((size_t)y->R * y->ntok / inner), inner, width);
}

void streams_setup(Stream *st) {
    layout(st->state, st->cfg, st->ntok, st->acts, st->scratch, NULL, NULL);
    prepare_products(st->state);
}

float *streams_state(const Streams *y, int l) {
    return y->X + (size_t)l * y->ntok * y->n * y->d;
}
float *streams_site_coef(const Streams *y, int l) {
    return y->coef + (size_t)l * y->ntok * y->K;
}
float *streams_site_raw(const Streams *y, int l) {
    return y->raw + (size_t)l * y->ntok * y->R;
}
float *streams_site_rinv(const Streams *y, int l) {
    return y->rinv + (size_t)l * y->ntok * y->n;
}

void streams_proj_weight_grad(float *gW, const float *dz, float *tmp, const float *X, int rows,
                              int cols, int inner) {
    gemm_product(0, 0, cols, rows, inner, dz, inner, X, rows, 0.0f, tmp, rows);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) gW[(size_t)r * cols + c] += tmp[(size_t)c * rows + r];
}

void streams_weight_grad(const Streams *y, float *gW, const float *X, int rows, int cols,
                         int inner) {
    streams_proj_weight_grad(gW, y->draw, y->dprojT, X, rows, cols, inner);
}

static float *site_params(const Streams *y, float *base, int l) {
    return base + (size_t)l * y->site_params;
}

size_t streams_params(const Config *c) {
    Streams y;
    layout(&y, c, 1, NULL, NULL, NULL, NULL);
    return y.site_params * y.L;
}

void streams_init(const Config *c, float *params, Rng *rng) {
    Streams y;
    layout(&y, c, 1, NULL, NULL, NULL, NULL);
    memset(params, 0, streams_params(c) * sizeof(float));
    for (int l = 0; l < y.L; l++) y.kind->init_site(site_params(&y, params, l), y.n, y.d, l, rng);
}

size_t streams_acts(const Config *c, int ntok) {
    Streams y;
    size_t na;
    layout(&y, c, ntok, NULL, NULL, &na, NULL);
    return na;
}

size_t streams_scratch(const Config *c, int ntok) {
    Streams y;
    size_t ns;
    layout(&y, c, ntok, NULL, NULL, NULL, &ns);
    return ns;
}

/* 1/rms of token t's state at site l (l < L), computed where the state is written (it is still
 * in cache): mhc one norm over vec(X) (stored in slot 0), hc one per stream. */
static void token_rinv(const Streams *y, int l, int t) {
    int n = y->n, d = y->d, len = y->kind->norm_per_stream ? d : n * d;
    const float *x = streams_state(y, l) + (size_t)t * n * d;
    float *ri = streams_site_rinv(y, l) + (size_t)t * n;
    for (int i = 0; i < (y->kind->norm_per_stream ? n : 1); i++)
        ri[i] = rms_inverse_row(x + (size_t)i * len, len);
}

/* ---- the residual-stream interface ---- */
void streams_begin(Stream *st, const float *emb) {
    const Streams *y = st->state;
    float *X = streams_state(y, 0);
    size_t d = y->d;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y->ntok; t++) {
        for (int i = 0; i < y->n; i++)
            memcpy(X + ((size_t)t * y->n + i) * d, emb + (size_t)t * d, d * sizeof(float));
        token_rinv(y, 0, t);
    }
}

const float *streams_input(Stream *st, int l) {
    const Streams *y = st->state;
    y->kind->coefficients(y, site_params(y, st->params, l), l);
    const float *X = streams_state(y, l), *coef = streams_site_coef(y, l);
    float *u = y->u + (size_t)l * y->ntok * y->d;
    int n = y->n, d = y->d;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y->ntok; t++) {
        const float *c = coef + (size_t)t * y->K, *x = X + (size_t)t * n * d;
        float *ut = u + (size_t)t * d;
        for (int k = 0; k < d; k++) ut[k] = c[0] * x[k];
        for (int i = 1; i < n; i++)
            for (int k = 0; k < d; k++) ut[k] += c[i] * x[i * d + k];
    }
    return u;
}

void streams_commit(Stream *st, int l, const float *v) {
    const Streams *y = st->state;
    const float *X = streams_state(y, l), *coef = streams_site_coef(y, l);
    float *Xn = streams_state(y, l + 1);
    int n = y->n, d = y->d;
    st->value[l + 1] = v; /* the write's gradient needs v in the backward */
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y->ntok; t++) { /* one pass: X'_j = sum_i mix[i][j] X_i + write[j] v */
        const float *c = coef + (size_t)t * y->K, *x = X + (size_t)t * n * d,
                    *vt = v + (size_t)t * d;
        const float *mix = c + 2 * n;
        float *xn = Xn + (size_t)t * n * d;
        for (int j = 0; j < n; j++) {
            float *o = xn + j * d;
            for (int k = 0; k < d; k++) o[k] = c[n + j] * vt[k];
            for (int i = 0; i < n; i++)
                for (int k = 0; k < d; k++) o[k] += mix[i * n + j] * x[i * d + k];
        }
        if (l + 1 < y->L) token_rinv(y, l + 1, t);
    }
}

const float *streams_output(Stream *st) {
    const Streams *y = st->state;
    const float *X = streams_state(y, y->L);
    int n = y->n, d = y->d;
    float inv = 1.0f / n;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y->ntok; t++) {
        const float *x = X + (size_t)t * n * d;
        float *o = y->out + (size_t)t * d;
        for (int k = 0; k < d; k++) {
            float s = 0;
            for (int i = 0; i < n; i++) s += x[i * d + k];
            o[k] = s * inv;
        }
    }
    return y->out;
}

void streams_output_backward(Stream *st, const float *dout) {
    const Streams *y = st->state;
    float *dX = y->dX[y->L % 2], inv = 1.0f / y->n;
    int n = y->n, d = y->d;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y->ntok; t++)
        for (int i = 0; i < n; i++)
            for (int k = 0; k < d; k++)
                dX[((size_t)t * n + i) * d + k] = dout[(size_t)t * d + k] * inv;
}

/* dX' (state after site l) is complete: dy = sum_j write[j] dX'_j, dwrite_j = dX'_j . y,
 * dmix[i][j] = dX'_j . X_i, dX_i = sum_j mix[i][j] dX'_j (the state before site l). */
const float *streams_commit_backward(Stream *st, int l) {
    const Streams *y = st->state;
    const float *X = streams_state(y, l), *coef = streams_site_coef(y, l), *v = st->value[l + 1];
    const float *dXn = y->dX[(l + 1) % 2];
    float *dX = y->dX[l % 2];
    int n = y->n, d = y->d, K = y->K;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y->ntok; t++) {
        const float *c = coef + (size_t)t * K, *x = X + (size_t)t * n * d;
        const float *g = dXn + (size_t)t * n * d, *vt = v + (size_t)t * d;
        const float *mix = c + 2 * n;
        float *dc = y->dcoef + (size_t)t * K, *dyt = y->dy + (size_t)t * d;
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
    return y->dy;
}

/* du (gradient of the sublayer input), one pass per token: dread_i = du . X_i; the coefficients'
 * backward (-> dlogits, draw, dL/drinv); then dX_i += read[i] du + k_i X_i, where
 * k_i = -dL/drinv_i rinv_i^3 / len is the norm's path (len = nd for mhc's one norm over vec(X),
 * d for hc's per-stream norms). The projection's path follows as two sgemms. */
void streams_input_backward(Stream *st, int l, const float *du) {
    const Streams *y = st->state;
    const float *p = site_params(y, st->params, l);
    const float *X = streams_state(y, l), *coef = streams_site_coef(y, l);
    float *dX = y->dX[l % 2];
    int n = y->n, d = y->d, K = y->K;
    if (y->kind->mix_backward) y->kind->mix_backward(y, p, l);
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y->ntok; t++) {
        const float *c = coef + (size_t)t * K, *x = X + (size_t)t * n * d, *g = du + (size_t)t * d;
        float *dx = dX + (size_t)t * n * d, *dc = y->dcoef + (size_t)t * K, k[STREAMS_MAX_N];
        for (int i = 0; i < n; i++) {
            float dr = 0;
#pragma omp simd reduction(+ : dr)
            for (int q = 0; q < d; q++) dr += g[q] * x[i * d + q];
            dc[i] = dr;
        }
        y->kind->token_backward(y, p, l, t, k);
        for (int i = 0; i < n; i++)
            for (int q = 0; q < d; q++) dx[i * d + q] += c[i] * g[q] + k[i] * x[i * d + q];
    }
    y->kind->params_backward(y, p, site_params(y, st->grads, l), l);
}

void streams_begin_backward(Stream *st, float *demb) {
    const Streams *y = st->state;
    const float *dX = y->dX[0];
    int n = y->n, d = y->d;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y->ntok; t++)
        for (int k = 0; k < d; k++) {
            float s = 0;
            for (int i = 0; i < n; i++) s += dX[((size_t)t * n + i) * d + k];
            demb[(size_t)t * d + k] = s;
        }
}

/* Per token and site: the kind's coefficients (its projection forward and backward, Sinkhorn),
 * 1/rms 2nd; read 2nd, write 2n^2 d + 2nd forward; backward dy/dwrite 4nd, dX/dmix 4n^2 d, read
 * 4nd, the norm term 2nd. Plus the initial replication and the final mean, nd each. */
double streams_flops(const Config *c) {
    Streams y;
    layout(&y, c, 1, NULL, NULL, NULL, NULL);
    double n = y.n, d = y.d, nd = n * d;
    double site = y.kind->coef_flops(&y) + 2 * nd + 2 * nd + 2 * n * n * d + 2 * nd + 4 * nd +
                  4 * n * n * d + 4 * nd + 2 * nd;
    return y.L * site + 2 * nd;
}

/* floor (docs/performance.md), per token and site in floats: read (X in, u and the K coefficients
 * out: nd + d + K), commit (X, v, coefficients in, X' out: 2nd + d + K), commit backward (dX', X,
 * v, coefficients in, dy, dX, dcoef out: 3nd + 2d + 2K), input backward (du, X, coefficients, dcoef
 * in, dX updated: 3nd + d + 2K), the R raw coefficients and n key scales written and read once;
 * plus the replication and the mean and their backward (4nd + 4d). */
VariantTraffic streams_traffic(const Config *c) {
    Streams y;
    layout(&y, c, 1, NULL, NULL, NULL, NULL);
    double n = y.n, d = y.d, nd = n * d, K = y.K;
    double site = 9 * nd + 5 * d + 6 * K + 2 * y.R + 2 * n;
    return (VariantTraffic){y.L * site + 4 * nd + 4 * d, 4.0 * y.L + 4};
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

/* MixStats of H = mix^T (X' = H X) per site and of the composite H_l ... H_1, token means; the
 * n x n mix ([src][dst]) of token t at site l at coef + (l ntok + t) K + off. */
int streams_mix_gains(const float *coef, int L, int ntok, int K, int off, int n, double *stats) {
    memset(stats, 0, (size_t)MIX_NSTATS * L * sizeof(double));
    for (int t = 0; t < ntok; t++) {
        double C[STREAMS_MAX_N * STREAMS_MAX_N], T[STREAMS_MAX_N * STREAMS_MAX_N],
            H[STREAMS_MAX_N * STREAMS_MAX_N];
        for (int i = 0; i < n * n; i++) C[i] = i % (n + 1) == 0; /* identity, C[dst][src] */
        for (int l = 0; l < L; l++) {
            const float *mix = coef + ((size_t)l * ntok + t) * K + off;
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
            for (int k = 0; k < MIX_NSTATS; k++) stats[MIX_NSTATS * l + k] += single[k] / ntok;
        }
    }
    return L;
}

int streams_gains(const Stream *st, double *stats) {
    const Streams *y = st->state;
    return streams_mix_gains(y->coef, y->L, y->ntok, y->K, 2 * y->n, y->n, stats);
}

/* RMS of the mean stream after site l */
double streams_stream_rms(const Stream *st, int l) {
    const Streams *y = st->state;
    const float *X = streams_state(y, l + 1);
    double s = 0;
    for (int t = 0; t < y->ntok; t++)
        for (int k = 0; k < y->d; k++) {
            double m = 0;
            for (int i = 0; i < y->n; i++) m += X[((size_t)t * y->n + i) * y->d + k];
            m /= y->n;
            s += m * m;
        }
    return sqrt(s / ((double)y->ntok * y->d));
}
