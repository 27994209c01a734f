/* MUDDFormer, multiway dynamic dense connections (Xiao et al., arXiv 2502.12170; docs/variants.md,
 * section 10). Blocks k = 1..K (K = n_layer), X_0 = e, X_k the output of block k. After block k a
 * depth aggregate DA_k mixes X_0..X_k with per-token weights, separately for the S streams
 * (ways=qkvr: q, k, v, r; ways=r: one), and only r after the last block:
 *   xhat = norm(X_k),  w = GELU(xhat W1_k^T) W2_k^T + b_k    (dynamic=off: w = b_k)
 *   M_s  = sum_{j<=k} w[s][j] X_j                             for every stream s
 * Block k + 1 reads its attention's q, k, v from M_q, M_k, M_v (each through its own pre-norm:
 * q's gain is the core's attn_g, k's and v's are the variant's) through the core's split input
 * (VariantOps.attn_inputs), and adds the attention output to M_r; its MLP is an ordinary
 * pre-norm residual: mid = M_r + attn, X_{k+1} = mid + mlp(mid). Output M_r of DA_K.
 * Init (the authors' code): W1 ~ N(0, 1/d), W2 = 0, b_k one-hot on X_k, gains 1: exactly prenorm.
 * Parameters, per k = 1..K: W1_k (H_k x d), W2_k (S_k (k+1) x H_k) when dynamic, b_k (S_k (k+1));
 * then the k and v gains of blocks 2..K (qkvr). */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "gemm.h"
#include "ops.h"
#include "util.h"
#include "variant.h"

enum { WAYS_QKVR, WAYS_R };
enum { DYN_ON, DYN_OFF };
enum { OPT_WAYS, OPT_DYNAMIC };
static const char *const WAYS[] = {"qkvr", "r", NULL};
static const char *const ON_OFF[] = {"on", "off", NULL};
static const VariantOption mudd_options[] = {
    [OPT_WAYS] = {"mudd_ways", "ways", 0, 1, WAYS_QKVR, WAYS,
                  "qkvr: separate dense mixtures for the attention's query, key, value inputs and "
                  "the residual (multiway); r: one mixture feeds the whole block",
                  NULL},
    [OPT_DYNAMIC] = {"mudd_dynamic", "dynamic", 0, 1, DYN_ON, ON_OFF,
                     "on: per-token weights from an MLP on norm(X_k) plus static ones; off: the "
                     "static weights only",
                     NULL},
};
#define OPT(c, k) config_option_int(c, &mudd_options[k])
#define MUDD_MAXK (RB_MAX_SUB / 2 + 1)

typedef struct {
    int K, d, ntok, S, dynamic;
    int Sk[MUDD_MAXK], H[MUDD_MAXK];                       /* streams and hidden width of DA_k */
    size_t w1[MUDD_MAXK], w2[MUDD_MAXK], b[MUDD_MAXK];     /* parameter offsets of DA_k */
    size_t gains, nparams;                                 /* k and v gains of blocks 2..K */
    size_t mix[MUDD_MAXK], hid[MUDD_MAXK], wts[MUDD_MAXK]; /* activation offsets per k */
    float *X, *mid, *xhat, *rinv; /* (K, ntok, d) x3, (K, ntok): X_1..X_K, mid_1..mid_K */
    float *acts;                  /* the mixtures, z, GELU(z), weights at the offsets above */
    float *dX;                    /* scratch (K + 1, ntok, d): dX_0..dX_K */
    float *dmid, *dxhat;          /* scratch (ntok, d) each */
    float *dw, *dz;               /* scratch (ntok, S (K + 1)) and (ntok, max H) */
    int knockout;                 /* evaluation only: the knocked-out source j + 1 (0: none) */
} MuddState;

static void layout(MuddState *y, const Config *c, int ntok, float *acts, float *scratch, size_t *na,
                   size_t *ns) {
    y->K = c->n_layer;
    y->d = c->d_model;
    y->ntok = ntok;
    y->S = OPT(c, OPT_WAYS) == WAYS_QKVR ? 4 : 1;
    y->dynamic = OPT(c, OPT_DYNAMIC) == DYN_ON;
    size_t d = y->d, nd = (size_t)ntok * d, p = 0, a = 0, s = 0, hmax = 0;
    for (int k = 1; k <= y->K; k++) {
        y->Sk[k] = k < y->K ? y->S : 1;
        /* the authors' width: S (k + 1) outputs, as many hidden units; the last DA (r only)
         * widened 4x */
        y->H[k] = y->dynamic ? (k < y->K ? y->S : 4) * (k + 1) : 0;
        y->w1[k] = p;
        p += (size_t)y->H[k] * d;
        y->w2[k] = p;
        p += (size_t)y->H[k] * y->Sk[k] * (k + 1);
        y->b[k] = p;
        p += (size_t)y->Sk[k] * (k + 1);
        if ((size_t)y->H[k] > hmax) hmax = y->H[k];
    }
    y->gains = p;
    y->nparams = p + (y->S == 4 ? (size_t)(y->K - 1) * 2 * d : 0);
    y->X = rb_carve(acts, &a, y->K * nd);
    y->mid = rb_carve(acts, &a, y->K * nd);
    y->xhat = rb_carve(acts, &a, y->dynamic ? y->K * nd : 0);
    y->rinv = rb_carve(acts, &a, y->dynamic ? (size_t)y->K * ntok : 0);
    size_t base = a;
    for (int k = 1; k <= y->K; k++) {
        y->mix[k] = a - base;
        a += y->Sk[k] * nd;
        y->hid[k] = a - base;
        a += 2 * (size_t)ntok * y->H[k];
        y->wts[k] = a - base;
        a += (size_t)ntok * y->Sk[k] * (k + 1);
    }
    y->acts = acts ? acts + base : NULL;
    y->dX = rb_carve(scratch, &s, (y->K + 1) * nd);
    y->dmid = rb_carve(scratch, &s, nd);
    y->dxhat = rb_carve(scratch, &s, y->dynamic ? nd : 0);
    y->dw = rb_carve(scratch, &s, (size_t)ntok * y->S * (y->K + 1));
    y->dz = rb_carve(scratch, &s, (size_t)ntok * hmax);
    if (na) *na = a;
    if (ns) *ns = s;
}

static void mudd_setup(Stream *st) {
    MuddState *y = st->state;
    layout(y, st->cfg, st->ntok, st->acts, st->scratch, NULL, NULL);
    for (int k = 1; k <= y->K && y->dynamic; k++) /* bf16: the generators' products */
        if (gemm_prepare_linear(y->ntok, y->d, y->H[k]) ||
            gemm_prepare_linear(y->ntok, y->H[k], y->Sk[k] * (k + 1)))
            break;
}

static size_t mudd_params(const Config *c) {
    MuddState y;
    layout(&y, c, 0, NULL, NULL, NULL, NULL);
    return y.nparams;
}

static void mudd_init(const Config *c, float *params, Rng *rng) {
    MuddState y;
    layout(&y, c, 0, NULL, NULL, NULL, NULL);
    memset(params, 0, y.nparams * sizeof(float));
    for (int k = 1; k <= y.K; k++) {
        if (y.dynamic)
            rng_fill_normal(rng, params + y.w1[k], (size_t)y.H[k] * y.d, 1.0f / sqrtf(y.d));
        for (int s = 0; s < y.Sk[k]; s++) params[y.b[k] + (size_t)s * (k + 1) + k] = 1.0f;
    }
    for (size_t i = y.gains; i < y.nparams; i++) params[i] = 1.0f;
}

static size_t mudd_acts(const Config *c, int ntok) {
    MuddState y;
    size_t na;
    layout(&y, c, ntok, NULL, NULL, &na, NULL);
    return na;
}
static size_t mudd_scratch(const Config *c, int ntok) {
    MuddState y;
    size_t ns;
    layout(&y, c, ntok, NULL, NULL, NULL, &ns);
    return ns;
}

/* Muon's matrices: W1_k and W2_k of every generator */
static int mudd_matrices(const Config *c, MatrixRun *out, int max) {
    MuddState y;
    layout(&y, c, 0, NULL, NULL, NULL, NULL);
    if (!y.dynamic) return 0;
    if (max < 2 * y.K) return -1;
    for (int k = 1; k <= y.K; k++) {
        out[2 * k - 2] = (MatrixRun){y.w1[k], 0, y.H[k], y.d, 1};
        out[2 * k - 1] = (MatrixRun){y.w2[k], 0, y.Sk[k] * (k + 1), y.H[k], 1};
    }
    return 2 * y.K;
}

static size_t nd_of(const MuddState *y) {
    return (size_t)y->ntok * y->d;
}
static const float *X_of(const Stream *st, const MuddState *y, int j) {
    return j == 0 ? st->value[0] : y->X + (size_t)(j - 1) * nd_of(y);
}
/* mixture s of DA_k (s = 0..S_k - 1; the residual stream r is the last) */
static float *mix_of(const MuddState *y, int k, int s) {
    return y->acts + y->mix[k] + (size_t)s * nd_of(y);
}
static float *r_of(const MuddState *y, int k) {
    return mix_of(y, k, y->Sk[k] - 1);
}
static float *weights_of(const MuddState *y, int k) {
    return y->acts + y->wts[k];
}
/* the residual a block adds its attention to: e before block 1, else DA_k's r */
static const float *res_of(const Stream *st, const MuddState *y, int k) {
    return k == 0 ? st->value[0] : r_of(y, k);
}

static void mudd_begin(Stream *st, const float *emb) {
    st->value[0] = emb;
}

static float gelu(float z) {
    return 0.5f * z * (1.0f + erff(z * (float)M_SQRT1_2));
}
static float gelu_grad(float z) {
    return 0.5f * (1.0f + erff(z * (float)M_SQRT1_2)) + z * expf(-0.5f * z * z) * 0.3989422804f;
}

/* DA_k's weights per token, w[t][s (k + 1) + j]: the generator plus b_k (or b_k alone). */
static void generate(Stream *st, const MuddState *y, int k) {
    long n = y->ntok, nw = (long)y->Sk[k] * (k + 1), H = y->H[k];
    const float *b = st->params + y->b[k];
    float *w = weights_of(y, k);
    if (y->dynamic) {
        const float *X = X_of(st, y, k);
        float *xhat = y->xhat + (size_t)(k - 1) * nd_of(y), *rinv = y->rinv + (size_t)(k - 1) * n;
        float *z = y->acts + y->hid[k], *a = z + n * H;
        rms_inverse_rows(rinv, X, n, y->d, 1);
#pragma omp parallel for schedule(static)
        for (long t = 0; t < n; t++)
            for (int i = 0; i < y->d; i++) xhat[t * y->d + i] = X[t * y->d + i] * rinv[t];
        matmul_forward(z, xhat, st->params + y->w1[k], (int)n, y->d, (int)H);
#pragma omp parallel for schedule(static)
        for (long i = 0; i < n * H; i++) a[i] = gelu(z[i]);
        matmul_forward(w, a, st->params + y->w2[k], (int)n, (int)H, (int)nw);
#pragma omp parallel for schedule(static)
        for (long t = 0; t < n; t++)
            for (long c = 0; c < nw; c++) w[t * nw + c] += b[c];
    } else {
#pragma omp parallel for schedule(static)
        for (long t = 0; t < n; t++) memcpy(w + t * nw, b, nw * sizeof(float));
    }
}

/* M_s = sum_j w[s][j] X_j per token, j ascending (the knocked-out source's term left out). */
static void mix(Stream *st, const MuddState *y, int k) {
    long n = y->ntok, nw = (long)y->Sk[k] * (k + 1);
    int d = y->d, drop = y->knockout - 1;
    const float *w = weights_of(y, k), *Xs[MUDD_MAXK];
    for (int j = 0; j <= k; j++) Xs[j] = X_of(st, y, j);
#pragma omp parallel for schedule(static)
    for (long t = 0; t < n; t++)
        for (int s = 0; s < y->Sk[k]; s++) {
            float *m = mix_of(y, k, s) + t * d;
            const float *wt = w + t * nw + (long)s * (k + 1);
            for (int i = 0; i < d; i++) m[i] = 0;
            for (int j = 0; j <= k; j++) {
                if (j == drop) continue;
                const float *x = Xs[j] + t * d;
                float wj = wt[j];
                for (int i = 0; i < d; i++) m[i] += wj * x[i];
            }
        }
}

static const float *mudd_input(Stream *st, int l) {
    const MuddState *y = st->state;
    return l % 2 == 0 ? res_of(st, y, l / 2) : y->mid + (size_t)(l / 2) * nd_of(y);
}

static int mudd_attn_inputs(Stream *st, int l, AttnInputs *in) {
    const MuddState *y = st->state;
    int k = l / 2;
    if (k == 0 || y->S == 1) return 0; /* block 1 reads e; ways=r reads input(l) */
    for (int s = 0; s < 3; s++) in->h[s] = mix_of(y, k, s);
    size_t g = y->gains + (size_t)(k - 1) * 2 * y->d;
    in->gain[0] = NULL;
    in->dgain[0] = NULL;
    for (int s = 1; s < 3; s++) {
        in->gain[s] = st->params + g + (size_t)(s - 1) * y->d;
        in->dgain[s] = st->grads + g + (size_t)(s - 1) * y->d;
    }
    return 1;
}

static void mudd_commit(Stream *st, int l, const float *v) {
    const MuddState *y = st->state;
    int k = l / 2 + 1;
    long nd = (long)nd_of(y);
    float *mid = y->mid + (size_t)(k - 1) * nd;
    st->value[l + 1] = v;
    if (l % 2 == 0) {
        const float *r = res_of(st, y, k - 1);
#pragma omp parallel for schedule(static)
        for (long i = 0; i < nd; i++) mid[i] = r[i] + v[i];
        return;
    }
    float *X = y->X + (size_t)(k - 1) * nd;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < nd; i++) X[i] = mid[i] + v[i];
    generate(st, y, k);
    mix(st, y, k);
}

static const float *mudd_output(Stream *st) {
    const MuddState *y = st->state;
    return r_of(y, y->K);
}

/* The backward of DA_k, G[s] = dLoss/dM_s complete: dX_j += w[s][j] G_s, dw[s][j] = G_s . X_j,
 * db_k += sum_t dw (one column per thread, in a fixed order), and through the generator into
 * dW2_k, dW1_k and dX_k (norm's Jacobian). */
static void da_backward(Stream *st, const MuddState *y, int k, const float *const *G) {
    long n = y->ntok, nw = (long)y->Sk[k] * (k + 1), H = y->H[k];
    int d = y->d;
    size_t nd = nd_of(y);
    const float *w = weights_of(y, k), *Xs[MUDD_MAXK];
    for (int j = 0; j <= k; j++) Xs[j] = X_of(st, y, j);
    float *dw = y->dw;
#pragma omp parallel for schedule(static)
    for (long t = 0; t < n; t++)
        for (int s = 0; s < y->Sk[k]; s++) {
            const float *g = G[s] + t * d, *wt = w + t * nw + (long)s * (k + 1);
            for (int j = 0; j <= k; j++) {
                const float *x = Xs[j] + t * d;
                float *dx = y->dX + j * nd + t * d, wj = wt[j];
                double dot = 0;
                for (int i = 0; i < d; i++) {
                    dot += (double)g[i] * x[i];
                    dx[i] += wj * g[i];
                }
                dw[t * nw + (long)s * (k + 1) + j] = (float)dot;
            }
        }
    float *db = st->grads + y->b[k];
#pragma omp parallel for schedule(static)
    for (long c = 0; c < nw; c++) {
        double acc = 0;
        for (long t = 0; t < n; t++) acc += dw[t * nw + c];
        db[c] += (float)acc;
    }
    if (!y->dynamic) return;
    const float *xhat = y->xhat + (size_t)(k - 1) * nd, *rinv = y->rinv + (size_t)(k - 1) * n;
    const float *z = y->acts + y->hid[k], *a = z + n * H;
    float *dz = y->dz, *dX = y->dX + (size_t)k * nd;
    matmul_backward(dz, st->grads + y->w2[k], dw, a, st->params + y->w2[k], (int)n, (int)H, (int)nw,
                    0.0f);
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n * H; i++) dz[i] *= gelu_grad(z[i]);
    matmul_backward(y->dxhat, st->grads + y->w1[k], dz, xhat, st->params + y->w1[k], (int)n, d,
                    (int)H, 0.0f);
#pragma omp parallel for schedule(static)
    for (long t = 0; t < n; t++) {
        const float *xh = xhat + t * d, *g = y->dxhat + t * d;
        float dot = 0;
        for (int i = 0; i < d; i++) dot += xh[i] * g[i];
        dot /= (float)d;
        for (int i = 0; i < d; i++) dX[t * d + i] += rinv[t] * (g[i] - xh[i] * dot);
    }
}

static void mudd_output_backward(Stream *st, const float *dout) {
    const MuddState *y = st->state;
    memset(y->dX, 0, (y->K + 1) * nd_of(y) * sizeof(float));
    const float *G[1] = {dout};
    da_backward(st, y, y->K, G);
}

static const float *mudd_commit_backward(Stream *st, int l) {
    const MuddState *y = st->state;
    int k = l / 2 + 1;
    size_t nd = nd_of(y);
    if (l % 2 == 0) return y->dmid;
    memcpy(y->dmid, y->dX + k * nd, nd * sizeof(float)); /* X_k = mid_k + mlp: dmid = dX_k */
    return y->dX + k * nd;
}

static void mudd_input_backward(Stream *st, int l, const float *dh) {
    const MuddState *y = st->state;
    long nd = (long)nd_of(y);
    int k = l / 2;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < nd; i++) y->dmid[i] += dh[i];
    if (l % 2 == 1) return;
    if (k == 0) { /* block 1 read e: dX_0 += dmid (residual and attention input) */
#pragma omp parallel for schedule(static)
        for (long i = 0; i < nd; i++) y->dX[i] += y->dmid[i];
        return;
    }
    const float *G[1] = {y->dmid}; /* ways=r: one mixture fed attention and residual */
    da_backward(st, y, k, G);
}

static void mudd_attn_inputs_backward(Stream *st, int l, const float *const dh[3]) {
    const MuddState *y = st->state;
    const float *G[4] = {dh[0], dh[1], dh[2], y->dmid};
    da_backward(st, y, l / 2, G);
}

static void mudd_begin_backward(Stream *st, float *demb) {
    const MuddState *y = st->state;
    memcpy(demb, y->dX, nd_of(y) * sizeof(float));
}

/* per block: the two residual adds 2d forward, their gradients 2d; per DA_k with m = k + 1
 * sources and S_k streams: the mixtures 2 S_k m d forward, 4 S_k m d backward (dX and dw);
 * the generator (dynamic) 2 d H + 2 H S_k m forward and twice that backward, norm 3d + 6d. */
static double mudd_flops(const Config *c) {
    MuddState y;
    layout(&y, c, 0, NULL, NULL, NULL, NULL);
    double d = y.d, total = 0;
    for (int k = 1; k <= y.K; k++) {
        double m = k + 1, S = y.Sk[k], H = y.H[k];
        total += 4 * d + 6 * S * m * d;
        if (y.dynamic) total += 3 * (2 * d * H + 2 * H * S * m) + 9 * d;
    }
    return total;
}

/* floor (docs/performance.md), rows of d per block k with m = k + 1 sources and S_k streams:
 * forward mid = r + attn (3), X_k = mid + mlp (3), the mixtures read m sources and write S_k (m
 * + S_k), the generator reads X_k and writes xhat (2); backward commit copies dmid (2), the two
 * input adds (3 each), DA_k reads S_k gradients and m sources and updates m gradients (S_k + 3m),
 * the norm backward reads xhat, dxhat, updates dX_k (4); once demb (2). Passes: 6 per block plus
 * the generator's products (4 forward, 8 backward). Weights (S m per token) are not counted. */
static VariantTraffic mudd_traffic(const Config *c) {
    MuddState y;
    layout(&y, c, 0, NULL, NULL, NULL, NULL);
    double rows = 2, passes = 1;
    for (int k = 1; k <= y.K; k++) {
        double m = k + 1, S = y.Sk[k];
        rows += 6 + m + S + 2 + 6 + S + 3 * m + (y.dynamic ? 2 + 4 : 0);
        passes += 6 + (y.dynamic ? 6 : 0);
    }
    return (VariantTraffic){rows * y.d, passes};
}

/* Consumers: DA_k's streams in order (q, k, v, r per block boundary k = 1..K-1, r alone for
 * ways=r), then the final r of DA_K. */
static int consumer(const MuddState *y, int c, int *s) {
    int k = c / y->S + 1;
    if (k > y->K || (k == y->K && c % y->S != 0)) return -1;
    *s = k == y->K ? 0 : c % y->S;
    return k;
}

static int mudd_weights(const Stream *st, int c, double *w, int max) {
    const MuddState *y = st->state;
    int s, k = consumer(y, c, &s);
    if (k < 0) return -1;
    long n = y->ntok, nw = (long)y->Sk[k] * (k + 1);
    const float *wt = weights_of(y, k);
    for (int j = 0; j <= k && j < max; j++) {
        double acc = 0;
        for (long t = 0; t < n; t++) acc += wt[t * nw + (long)s * (k + 1) + j];
        w[j] = acc / n;
    }
    return k + 1;
}

/* Signed weights (as DenseFormer's): per token the entropy of |w_j| / sum |w_j|. */
static int mudd_entropy(const Stream *st, int c, double *entropy) {
    const MuddState *y = st->state;
    int s, k = consumer(y, c, &s);
    if (k < 0) return -1;
    long n = y->ntok, nw = (long)y->Sk[k] * (k + 1);
    const float *wt = weights_of(y, k);
    double total = 0;
    for (long t = 0; t < n; t++) {
        const float *wr = wt + t * nw + (long)s * (k + 1);
        double sum = 0, e = 0;
        for (int j = 0; j <= k; j++) sum += fabs(wr[j]);
        for (int j = 0; j <= k && sum > 0; j++) {
            double p = fabs(wr[j]) / sum;
            if (p > 0) e -= p * log(p);
        }
        total += e;
    }
    *entropy = total / n;
    return k + 1;
}

static int mudd_knockout(Stream *st, int source) {
    MuddState *y = st->state;
    if (source >= -1 && source <= y->K) y->knockout = source + 1;
    return y->K + 1;
}

/* after an attention sublayer the state is mid_k, after an MLP sublayer DA_k's residual r */
static double mudd_stream_rms(const Stream *st, int l) {
    const MuddState *y = st->state;
    int k = l / 2 + 1;
    const float *x = l % 2 == 0 ? y->mid + (size_t)(k - 1) * nd_of(y) : r_of(y, k);
    return rms_of(x, nd_of(y));
}

const VariantOps variant_mudd = {
    .name = "mudd",
    .summary = "per-token dense weights over all block outputs, separately for q, k, v and the "
               "residual (MUDDFormer)",
    .options = mudd_options,
    .n_options = RB_COUNT(mudd_options),
    .param_count = mudd_params,
    .init_params = mudd_init,
    .act_count = mudd_acts,
    .scratch_count = mudd_scratch,
    .state_size = sizeof(MuddState),
    .setup = mudd_setup,
    .matrices = mudd_matrices,
    .begin = mudd_begin,
    .input = mudd_input,
    .commit = mudd_commit,
    .output = mudd_output,
    .output_backward = mudd_output_backward,
    .commit_backward = mudd_commit_backward,
    .input_backward = mudd_input_backward,
    .begin_backward = mudd_begin_backward,
    .attn_inputs = mudd_attn_inputs,
    .attn_inputs_backward = mudd_attn_inputs_backward,
    .flops_per_token = mudd_flops,
    .traffic_per_token = mudd_traffic,
    .depth_weights = mudd_weights,
    .stream_rms = mudd_stream_rms,
    .depth_entropy = mudd_entropy,
    .knockout = mudd_knockout,
};
