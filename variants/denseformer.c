/* DenseFormer (docs/variants.md, section 6): ordinary prenorm blocks B_k, k = 1..K (K = n_layer),
 * each with its two internal residuals; after every block a depth-weighted average of all block
 * outputs so far: X_0 = e,  X_k = B_k(Y_{k-1}),  Y_k = sum_{j=0..k} beta_{k,j} X_j,  Y_0 = e,  out
 * = Y_K. beta_{k,k} = 1, others 0 at init: exactly prenorm. Parameters: row k holds beta_{k,0..k}.
 * Backward: dY_k is complete once block k+1 is done; it is then spread to dX_j (j <= k) and
 * dbeta_k, which completes dX_k = dL/d(output of block k). */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "ops.h"
#include "util.h"
#include "variant.h"

typedef struct {
    int K, d, ntok, nthreads;
    float *X, *mid, *Y; /* (K, ntok, d) each: X_1..X_K, mid_1..mid_K, Y_1..Y_K */
    float *dX;          /* scratch (K + 1, ntok, d): dX_0..dX_K */
    float *dY, *dmid;   /* scratch (ntok, d): running dY_{k}, dmid_k */
    float *dbeta_part;  /* scratch (nthreads, K + 1): per-thread dbeta partials */
    int knockout;       /* evaluation only: the knocked-out source j + 1 (0: none) */
} DenseformerState;     /* the variant's private state (Stream.state), set by df_setup */

static void layout(DenseformerState *y, const Config *c, int ntok, float *acts, float *scratch,
                   size_t *na, size_t *ns) {
    y->K = c->n_layer;
    y->d = c->d_model;
    y->ntok = ntok;
    y->nthreads = omp_get_max_threads();
    size_t nd = (size_t)ntok * y->d, a = 0, s = 0;
    y->X = rb_carve(acts, &a, y->K * nd);
    y->mid = rb_carve(acts, &a, y->K * nd);
    y->Y = rb_carve(acts, &a, y->K * nd);
    y->dX = rb_carve(scratch, &s, (y->K + 1) * nd);
    y->dY = rb_carve(scratch, &s, nd);
    y->dmid = rb_carve(scratch, &s, nd);
    y->dbeta_part = rb_carve(scratch, &s, (size_t)y->nthreads * (y->K + 1));
    if (na) *na = a;
    if (ns) *ns = s;
}

static void df_setup(Stream *st) {
    layout(st->state, st->cfg, st->ntok, st->acts, st->scratch, NULL, NULL);
}

static size_t beta_offset(int k) {
    return (size_t)(k - 1) * (k + 2) / 2;
} /* row k, k >= 1 */

static size_t df_params(const Config *c) {
    return beta_offset(c->n_layer + 1);
}
static void df_init(const Config *c, float *params, Rng *rng) {
    memset(params, 0, df_params(c) * sizeof(float));
    for (int k = 1; k <= c->n_layer; k++) params[beta_offset(k) + k] = 1.0f;
}
static size_t df_acts(const Config *c, int ntok) {
    DenseformerState y;
    size_t na;
    layout(&y, c, ntok, NULL, NULL, &na, NULL);
    return na;
}
static size_t df_scratch(const Config *c, int ntok) {
    DenseformerState y;
    size_t ns;
    layout(&y, c, ntok, NULL, NULL, NULL, &ns);
    return ns;
}

static size_t row(const DenseformerState *y, int k) {
    return (size_t)(k - 1) * y->ntok * y->d;
} /* k >= 1 */
static const float *X_of(const Stream *st, const DenseformerState *y, int j) {
    return j == 0 ? st->value[0] : y->X + row(y, j);
}
static const float *Y_of(const Stream *st, const DenseformerState *y, int k) {
    return k == 0 ? st->value[0] : y->Y + row(y, k);
}

static void df_begin(Stream *st, const float *emb) {
    st->value[0] = emb;
}

static const float *df_input(Stream *st, int l) {
    const DenseformerState *y = st->state;
    int k = l / 2 + 1;
    return l % 2 == 0 ? Y_of(st, y, k - 1) : y->mid + row(y, k);
}

#define DF_TILE 2048 /* floats per tile of the tiled loops (8 KB: stays in L1 across sources) */

/* Knockout (docs/variants.md, "Routing diagnostics"): Y_k again without beta_{k,j} X_j for the
 * knocked-out source j <= k (the other betas as they are). Evaluation only. */
static void df_knockout_average(Stream *st, const DenseformerState *y, int k) {
    int drop = y->knockout - 1;
    if (drop > k) return;
    const float *beta = st->params + beta_offset(k);
    float *Y = y->Y + row(y, k);
    long nd = (long)y->ntok * y->d;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < nd; i++) {
        float acc = 0;
        for (int j = 0; j <= k; j++)
            if (j != drop) acc += beta[j] * X_of(st, y, j)[i];
        Y[i] = acc;
    }
}

static void df_commit(Stream *st, int l, const float *v) {
    const DenseformerState *y = st->state;
    int k = l / 2 + 1;
    long nd = (long)y->ntok * y->d;
    st->value[l + 1] = v;
    if (l % 2 == 0) {
        const float *in = Y_of(st, y, k - 1);
        float *mid = y->mid + row(y, k);
#pragma omp parallel for schedule(static)
        for (long i = 0; i < nd; i++) mid[i] = in[i] + v[i];
        return;
    }
    const float *mid = y->mid + row(y, k), *beta = st->params + beta_offset(k);
    float *X = y->X + row(y, k), *Y = y->Y + row(y, k);
    const float *Xs[RB_MAX_SUB];
    for (int j = 0; j < k; j++) Xs[j] = X_of(st, y, j);
    /* In tiles of DF_TILE floats, source by source: each X_j is read as one contiguous run (the
     * same sums in the same order as per element: Y = (sum_{j<k} beta_j X_j) + beta_k X_k). */
    long ntile = (nd + DF_TILE - 1) / DF_TILE;
#pragma omp parallel for schedule(static)
    for (long tile = 0; tile < ntile; tile++) {
        long a = tile * DF_TILE, b = a + DF_TILE < nd ? a + DF_TILE : nd;
        for (long i = a; i < b; i++) Y[i] = 0;
        for (int j = 0; j < k; j++) {
            const float *xj = Xs[j];
            float bj = beta[j];
            for (long i = a; i < b; i++) Y[i] += bj * xj[i];
        }
        for (long i = a; i < b; i++) {
            X[i] = mid[i] + v[i];
            Y[i] += beta[k] * X[i];
        }
    }
    if (y->knockout) df_knockout_average(st, y, k);
}

static const float *df_output(Stream *st) {
    const DenseformerState *y = st->state;
    return Y_of(st, y, y->K);
}

static void df_output_backward(Stream *st, const float *dout) {
    const DenseformerState *y = st->state;
    size_t nd = (size_t)y->ntok * y->d;
    memset(y->dX, 0, (y->K + 1) * nd * sizeof(float));
    memcpy(y->dY, dout, nd * sizeof(float));
}

/* dY_k is complete: dX_j += beta_{k,j} dY_k, dbeta_{k,j} += dY_k . X_j (deterministic partials). */
static void spread_dY(Stream *st, const DenseformerState *y, int k) {
    const float *beta = st->params + beta_offset(k);
    const float *Xs[RB_MAX_SUB];
    for (int j = 0; j <= k; j++) Xs[j] = X_of(st, y, j);
    size_t nd = (size_t)y->ntok * y->d;
    int used = 1;
#pragma omp parallel
    {
        int nt = omp_get_num_threads(), tid = omp_get_thread_num();
#pragma omp single
        used = nt;
        float *part = y->dbeta_part + (size_t)tid * (y->K + 1);
        double acc[RB_MAX_SUB] = {0};
        size_t i0 = nd * tid / nt, i1 = nd * (tid + 1) / nt;
        for (size_t a = i0; a < i1; a += DF_TILE) { /* the dY tile stays in L1 across sources */
            size_t b = a + DF_TILE < i1 ? a + DF_TILE : i1;
            const float *g = y->dY;
            for (int j = 0; j <= k; j++) {
                float *dx = y->dX + j * nd, bj = beta[j];
                double dot = 0; /* double: dbeta sums many cancelling terms */
                const float *x = Xs[j];
#pragma omp simd reduction(+ : dot)
                for (size_t i = a; i < b; i++) {
                    dx[i] += bj * g[i];
                    dot += (double)g[i] * x[i];
                }
                acc[j] += dot;
            }
        }
        for (int j = 0; j <= k; j++) part[j] = (float)acc[j];
    }
    float *dbeta = st->grads + beta_offset(k);
    for (int t = 0; t < used; t++)
        for (int j = 0; j <= k; j++) dbeta[j] += y->dbeta_part[(size_t)t * (y->K + 1) + j];
}

static const float *df_commit_backward(Stream *st, int l) {
    const DenseformerState *y = st->state;
    int k = l / 2 + 1;
    size_t nd = (size_t)y->ntok * y->d;
    if (l % 2 == 0) return y->dmid;
    spread_dY(st, y, k);
    memcpy(y->dmid, y->dX + k * nd, nd * sizeof(float));
    return y->dX + k * nd;
}

static void df_input_backward(Stream *st, int l, const float *dh) {
    const DenseformerState *y = st->state;
    long nd = (long)y->ntok * y->d;
    if (l % 2 == 1) {
#pragma omp parallel for schedule(static)
        for (long i = 0; i < nd; i++) y->dmid[i] += dh[i];
    } else { /* Y_{k-1} feeds the attention sublayer and the residual into mid_k */
#pragma omp parallel for schedule(static)
        for (long i = 0; i < nd; i++) y->dY[i] = y->dmid[i] + dh[i];
    }
}

static void df_begin_backward(Stream *st, float *demb) {
    const DenseformerState *y = st->state;
    long nd = (long)y->ntok * y->d;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < nd; i++) demb[i] = y->dY[i] + y->dX[i];
}

/* per block k and token: residual adds 2d, the average 2(k+1)d; backward: spread and dbeta
 * 4(k+1)d, the two gradient adds 2d. */
static double df_flops(const Config *c) {
    double d = c->d_model, total = 0;
    for (int k = 1; k <= c->n_layer; k++) total += 4 * d + 6 * (k + 1) * d;
    return total;
}

/* floor (docs/performance.md), per block k in rows of d: forward mid = Y + v (3) and X_k = mid + v,
 * Y_k from X_0..X_k (k + 4); backward the spread (read dY, read X_j and update dX_j for j <= k:
 * 3k + 4) and the two gradient adds (3 each); once: demb = dY + dX_0 (3). */
static VariantTraffic df_traffic(const Config *c) {
    double K = c->n_layer, rows = 2 * K * (K + 1) + 17 * K + 3;
    return (VariantTraffic){rows * c->d_model, 5 * K + 1};
}

static int df_weights(const Stream *st, int c, double *w, int max) {
    int k = c + 1;
    if (k > st->cfg->n_layer) return -1;
    const float *beta = st->params + beta_offset(k);
    for (int j = 0; j <= k && j < max; j++) w[j] = beta[j];
    return k + 1;
}

/* The betas are learned scalars shared by all tokens and may be negative: the entropy of
 * |beta_{k,j}| / sum_j |beta_{k,j}| (the same for every token, so the token mean is that). */
static int df_entropy(const Stream *st, int c, double *entropy) {
    int k = c + 1;
    if (k > st->cfg->n_layer) return -1;
    const float *beta = st->params + beta_offset(k);
    double sum = 0, e = 0;
    for (int j = 0; j <= k; j++) sum += fabs(beta[j]);
    for (int j = 0; j <= k && sum > 0; j++) {
        double p = fabs(beta[j]) / sum;
        if (p > 0) e -= p * log(p);
    }
    *entropy = e;
    return k + 1;
}

/* Knockout of block output j (0 = the embedding) from every average Y_k, k >= j. */
static int df_knockout(Stream *st, int source) {
    DenseformerState *y = st->state;
    if (source >= -1 && source <= y->K) y->knockout = source + 1;
    return y->K + 1;
}

/* after an attention sublayer the state is mid_k, after an MLP sublayer the average Y_k */
static double df_stream_rms(const Stream *st, int l) {
    const DenseformerState *y = st->state;
    int k = l / 2 + 1;
    const float *x = l % 2 == 0 ? y->mid + row(y, k) : Y_of(st, y, k);
    return rms_of(x, (size_t)y->ntok * y->d);
}

const VariantOps variant_denseformer = {
    .name = "denseformer",
    .summary = "depth-weighted average of all block outputs after every block (DenseFormer)",
    .param_count = df_params,
    .init_params = df_init,
    .act_count = df_acts,
    .scratch_count = df_scratch,
    .state_size = sizeof(DenseformerState),
    .setup = df_setup,
    .begin = df_begin,
    .input = df_input,
    .commit = df_commit,
    .output = df_output,
    .output_backward = df_output_backward,
    .commit_backward = df_commit_backward,
    .input_backward = df_input_backward,
    .begin_backward = df_begin_backward,
    .flops_per_token = df_flops,
    .traffic_per_token = df_traffic,
    .depth_weights = df_weights,
    .stream_rms = df_stream_rms,
    .depth_entropy = df_entropy,
    .knockout = df_knockout,
};
