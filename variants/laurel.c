/* LAuReL, the Learned Augmented Residual Layer (Menghani et al., arXiv 2411.07501;
 * docs/variants.md, section 8). For every sublayer l (state x_l before it, y_l = f_l(x_l)):
 *   x_{l+1} = alpha_l y_l + beta_l q_l,   q_l = x_l + h_l(p_l)
 *   p_l = sum_{j<k} gamma_{l,j} x_{l-j}  (pa = k >= 1, sources from e on)   or   p_l = x_l  (pa =
 * 0) h_l(p) = A_l B_l p  (rank r >= 1; A_l d x r, B_l r x d)   or   h_l(p) = p  (rank 0, with pa)
 * rw: alpha = 2 sigmoid(a_l), beta = 2 sigmoid(b_l) (off: both 1). rank 0 and pa = 0 drop the
 * h term (q = x). Init (the paper's LLM one): A column-orthogonal (1/sqrt(r d) where
 * i mod r = j), B = 0, a = b = 0, gamma_{l,0} = 1 with a rank and 0 without, gamma_{l,j>0} = 0:
 * exactly prenorm at init.
 * Parameters: A_0..A_{L-1}, B_0..B_{L-1}, then (a_l, b_l) per sublayer (rw), then gamma (L x k). */
#include <math.h>
#include <string.h>

#include "gemm.h"
#include "ops.h"
#include "util.h"
#include "variant.h"

enum { RW_ON, RW_OFF };
enum { OPT_RW, OPT_RANK, OPT_PA };
static const char *const ON_OFF[] = {"on", "off", NULL};
static const VariantOption laurel_options[] = {
    [OPT_RW] = {"laurel_rw", "rw", 0, 1, RW_ON, ON_OFF,
                "learned weights alpha = 2 sigmoid(a), beta = 2 sigmoid(b) on f(x) and the "
                "residual (off: both 1)",
                NULL},
    [OPT_RANK] = {"laurel_rank", "rank", 0, 64, 4, NULL,
                  "rank r of the low-rank map x + A B x on the residual (0: none)", NULL},
    [OPT_PA] = {"laurel_pa", "pa", 0, 8, 0, NULL,
                "previous activations: the residual adds sum_j gamma_j h(x_{l-j}) over the last "
                "k states (0: none)",
                NULL},
};
#define OPT(c, k) config_option_int(c, &laurel_options[k])

typedef struct {
    int L, d, ntok, r, k, rw;
    int aug;   /* a term h(p) is added to the residual (rank > 0 or pa > 0) */
    int chain; /* pa >= 2: gradients of earlier states accumulate in dX[l]; else one dx */
    size_t off_B, off_rw, off_gamma; /* parameter offsets (A at 0) */
    float *X;                        /* (L, ntok, d): x_1..x_L */
    float *Q;                        /* (L, ntok, d): q_l = x_l + h(p_l) (aug) */
    float *P;                        /* (L, ntok, d): p_l (rank > 0 and pa > 0) */
    float *Z;                        /* (L, ntok, r): z_l = B_l p_l (rank > 0) */
    float *dX;                       /* scratch (L + 1 or 1, ntok, d): the states' gradients */
    float *dy, *du, *dp;             /* scratch (ntok, d) each (du: rank > 0, dp: aug) */
    float *dz;                       /* scratch (ntok, r) */
    int knockout;                    /* evaluation only: the knocked-out PA source + 1 (0: none) */
} LaurelState;

static void layout(LaurelState *y, const Config *c, int ntok, float *acts, float *scratch,
                   size_t *na, size_t *ns) {
    y->L = config_n_sub(c);
    y->d = c->d_model;
    y->ntok = ntok;
    y->r = OPT(c, OPT_RANK);
    y->k = OPT(c, OPT_PA);
    y->rw = OPT(c, OPT_RW) == RW_ON;
    y->aug = y->r > 0 || y->k > 0;
    y->chain = y->k >= 2;
    size_t L = y->L, d = y->d, nd = (size_t)ntok * d, a = 0, s = 0;
    y->off_B = L * d * y->r;
    y->off_rw = 2 * y->off_B;
    y->off_gamma = y->off_rw + (y->rw ? 2 * L : 0);
    y->X = rb_carve(acts, &a, L * nd);
    y->Q = rb_carve(acts, &a, y->aug ? L * nd : 0);
    y->P = rb_carve(acts, &a, y->r > 0 && y->k > 0 ? L * nd : 0);
    y->Z = rb_carve(acts, &a, L * ntok * y->r);
    y->dX = rb_carve(scratch, &s, (y->chain ? L + 1 : 1) * nd);
    y->dy = rb_carve(scratch, &s, nd);
    y->du = rb_carve(scratch, &s, y->r > 0 ? nd : 0);
    y->dp = rb_carve(scratch, &s, y->aug ? nd : 0);
    y->dz = rb_carve(scratch, &s, (size_t)ntok * y->r);
    if (na) *na = a;
    if (ns) *ns = s;
}

static void laurel_setup(Stream *st) {
    LaurelState *y = st->state;
    layout(y, st->cfg, st->ntok, st->acts, st->scratch, NULL, NULL);
    if (y->r > 0) /* bf16: the two products' primitives, so that a step creates none */
        (void)(gemm_prepare_linear(y->ntok, y->d, y->r) ||
               gemm_prepare_linear(y->ntok, y->r, y->d));
}

/* the layout the setup computed, read in place (the variant's state, Stream.state) */
static const LaurelState *lay(const Stream *st) {
    return st->state;
}

static int laurel_check(const Config *c) {
    if (OPT(c, OPT_RANK) > c->d_model)
        return rb_fail("key 'laurel_rank': %d exceeds d_model = %d (allowed: 0..%d)",
                       OPT(c, OPT_RANK), c->d_model, c->d_model);
    if (OPT(c, OPT_RW) == RW_OFF && OPT(c, OPT_RANK) == 0 && OPT(c, OPT_PA) == 0)
        return rb_fail("key 'laurel_rw': off with rank=0 and pa=0 is prenorm (allowed: rw=on, or a "
                       "rank or pa above 0)");
    return 0;
}

static size_t laurel_params(const Config *c) {
    LaurelState y;
    layout(&y, c, 0, NULL, NULL, NULL, NULL);
    return y.off_gamma + (size_t)y.L * y.k;
}

static void laurel_init(const Config *c, float *params, Rng *rng) {
    LaurelState y;
    layout(&y, c, 0, NULL, NULL, NULL, NULL);
    memset(params, 0, laurel_params(c) * sizeof(float));
    float a = y.r > 0 ? 1.0f / sqrtf((float)y.r * y.d) : 0.0f;
    for (int l = 0; l < y.L; l++) {
        float *A = params + (size_t)l * y.d * y.r; /* d x r: column-orthogonal */
        for (int i = 0; i < y.d && y.r > 0; i++) A[(size_t)i * y.r + i % y.r] = a;
        if (y.k > 0) params[y.off_gamma + (size_t)l * y.k] = y.r > 0 ? 1.0f : 0.0f;
    }
}

static size_t laurel_acts(const Config *c, int ntok) {
    LaurelState y;
    size_t na;
    layout(&y, c, ntok, NULL, NULL, &na, NULL);
    return na;
}
static size_t laurel_scratch(const Config *c, int ntok) {
    LaurelState y;
    size_t ns;
    layout(&y, c, ntok, NULL, NULL, NULL, &ns);
    return ns;
}

/* Muon's matrices: A_l (d x r) and B_l (r x d) of every sublayer */
static int laurel_matrices(const Config *c, MatrixRun *out, int max) {
    LaurelState y;
    layout(&y, c, 0, NULL, NULL, NULL, NULL);
    if (y.r == 0) return 0;
    if (max < 2) return -1;
    size_t dr = (size_t)y.d * y.r;
    out[0] = (MatrixRun){0, dr, y.d, y.r, y.L};
    out[1] = (MatrixRun){y.off_B, dr, y.r, y.d, y.L};
    return 2;
}

static const float *state(const Stream *st, const LaurelState *y, int l) { /* x_l */
    return l == 0 ? st->value[0] : y->X + (size_t)(l - 1) * y->ntok * y->d;
}
static float *slice(float *base, const LaurelState *y, int l) { /* row l of an (L, ntok, d) */
    return base + (size_t)l * y->ntok * y->d;
}
static const float *A_of(const Stream *st, const LaurelState *y, int l) {
    return st->params + (size_t)l * y->d * y->r;
}
static const float *B_of(const Stream *st, const LaurelState *y, int l) {
    return st->params + y->off_B + (size_t)l * y->r * y->d;
}
static float sigm(float z) {
    return 1.0f / (1.0f + expf(-z));
}
/* alpha_l and beta_l (1 and 1 without rw) */
static void weights(const Stream *st, const LaurelState *y, int l, float *alpha, float *beta) {
    const float *ab = st->params + y->off_rw + 2 * (size_t)l;
    *alpha = y->rw ? 2.0f * sigm(ab[0]) : 1.0f;
    *beta = y->rw ? 2.0f * sigm(ab[1]) : 1.0f;
}
/* the sources of p_l: gamma_{l,j} x_{l-j} for j < k and l - j >= 0; returns how many */
static int sources(const Stream *st, const LaurelState *y, int l, const float **xs) {
    int n = 0;
    for (int j = 0; j < y->k && l - j >= 0; j++) xs[n++] = state(st, y, l - j);
    return n;
}

static void laurel_begin(Stream *st, const float *emb) {
    st->value[0] = emb;
}

static const float *laurel_input(Stream *st, int l) {
    const LaurelState *y = lay(st);
    return state(st, y, l);
}

/* q_l = x_l + h(p_l) into Q_l (p_l into P_l when it must be kept for dB) */
static void residual_term(Stream *st, const LaurelState *y, int l) {
    const float *x = state(st, y, l), *gamma = st->params + y->off_gamma + (size_t)l * y->k;
    float *q = slice(y->Q, y, l);
    long nd = (long)y->ntok * y->d;
    const float *p = x;
    if (y->k > 0) {
        const float *xs[9];
        int n = sources(st, y, l, xs);
        float *pb = y->r > 0 ? slice(y->P, y, l) : q;        /* rank 0: h(p) = p is built in Q */
        int drop = y->knockout ? l - (y->knockout - 1) : -1; /* evaluation: the j left out */
#pragma omp parallel for schedule(static)
        for (long i = 0; i < nd; i++) {
            float s = 0.0f;
            for (int j = 0; j < n; j++)
                if (j != drop) s += gamma[j] * xs[j][i];
            pb[i] = s;
        }
        p = pb;
    }
    if (y->r > 0) {
        float *z = y->Z + (size_t)l * y->ntok * y->r;
        matmul_forward(z, p, B_of(st, y, l), y->ntok, y->d, y->r);
        matmul_forward(q, z, A_of(st, y, l), y->ntok, y->r, y->d); /* u = A B p */
    }
#pragma omp parallel for schedule(static)
    for (long i = 0; i < nd; i++) q[i] = x[i] + q[i];
}

static void laurel_commit(Stream *st, int l, const float *v) {
    const LaurelState *y = lay(st);
    st->value[l + 1] = v;
    if (y->aug) residual_term(st, y, l);
    const float *q = y->aug ? slice(y->Q, y, l) : state(st, y, l);
    float *xn = slice(y->X, y, l), alpha, beta;
    weights(st, y, l, &alpha, &beta);
    long nd = (long)y->ntok * y->d;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < nd; i++) xn[i] = alpha * v[i] + beta * q[i];
}

static const float *laurel_output(Stream *st) {
    const LaurelState *y = lay(st);
    return state(st, y, y->L);
}

static float *dx_of(const LaurelState *y, int l) { /* the gradient of x_l */
    return y->dX + (y->chain ? (size_t)l * y->ntok * y->d : 0);
}

static void laurel_output_backward(Stream *st, const float *dout) {
    const LaurelState *y = lay(st);
    size_t nd = (size_t)y->ntok * y->d;
    if (y->chain) memset(y->dX, 0, (size_t)y->L * nd * sizeof(float));
    memcpy(dx_of(y, y->L), dout, nd * sizeof(float));
}

/* sum over all tokens and channels of a . b, in double, in a fixed order whatever the threads */
#define DOT_CHUNKS 64
static double dot_all(const float *a, const float *b, long n) {
    double part[DOT_CHUNKS];
#pragma omp parallel for schedule(static)
    for (int c = 0; c < DOT_CHUNKS; c++) {
        double s = 0;
        for (long i = n * c / DOT_CHUNKS; i < n * (c + 1) / DOT_CHUNKS; i++)
            s += (double)a[i] * b[i];
        part[c] = s;
    }
    double s = 0;
    for (int c = 0; c < DOT_CHUNKS; c++) s += part[c];
    return s;
}

/* G = dLoss/dx_{l+1} is complete. dy = alpha G; da, db through 2 sigmoid; then the residual term's
 * backward (du = beta G through A and B, or dp = beta G with rank 0), dgamma and the sources'
 * gradients; last dx_l gets beta G (+ gamma_0 dp, or dp without pa). */
static const float *laurel_commit_backward(Stream *st, int l) {
    const LaurelState *y = lay(st);
    long nd = (long)y->ntok * y->d;
    float *G = dx_of(y, l + 1), alpha, beta;
    weights(st, y, l, &alpha, &beta);
#pragma omp parallel for schedule(static)
    for (long i = 0; i < nd; i++) y->dy[i] = alpha * G[i];
    if (y->rw) {
        const float *q = y->aug ? slice(y->Q, y, l) : state(st, y, l);
        float *dab = st->grads + y->off_rw + 2 * (size_t)l;
        dab[0] += (float)(dot_all(G, st->value[l + 1], nd) * alpha * (1.0f - 0.5f * alpha));
        dab[1] += (float)(dot_all(G, q, nd) * beta * (1.0f - 0.5f * beta));
    }
    const float *gamma = st->params + y->off_gamma + (size_t)l * y->k;
    if (y->aug) {
        float *dsrc = y->r > 0 ? y->du : y->dp; /* beta G: du (through A, B) or dp itself */
#pragma omp parallel for schedule(static)
        for (long i = 0; i < nd; i++) dsrc[i] = beta * G[i];
        if (y->r > 0) {
            const float *p = y->k > 0 ? slice(y->P, y, l) : state(st, y, l);
            const float *z = y->Z + (size_t)l * y->ntok * y->r;
            float *gA = st->grads + (size_t)l * y->d * y->r,
                  *gB = st->grads + y->off_B + (size_t)l * y->r * y->d;
            matmul_backward(y->dz, gA, y->du, z, A_of(st, y, l), y->ntok, y->r, y->d, 0.0f);
            matmul_backward(y->dp, gB, y->dz, p, B_of(st, y, l), y->ntok, y->d, y->r, 0.0f);
        }
        if (y->k > 0) {
            const float *xs[9];
            int n = sources(st, y, l, xs);
            float *dgamma = st->grads + y->off_gamma + (size_t)l * y->k;
            for (int j = 0; j < n; j++) dgamma[j] += (float)dot_all(y->dp, xs[j], nd);
            for (int j = 1; j < n; j++) { /* the earlier states (pa >= 2: their own dX) */
                float *dxj = dx_of(y, l - j), gj = gamma[j];
#pragma omp parallel for schedule(static)
                for (long i = 0; i < nd; i++) dxj[i] += gj * y->dp[i];
            }
        }
    }
    float *dx = dx_of(y, l), g0 = y->k > 0 ? gamma[0] : 1.0f;
    const float *dp = y->aug ? y->dp : NULL;
    int accumulate = dx != G; /* dX[l] may hold later sublayers' contributions (pa >= 2) */
#pragma omp parallel for schedule(static)
    for (long i = 0; i < nd; i++) {
        float v = beta * G[i] + (dp ? g0 * dp[i] : 0.0f);
        dx[i] = accumulate ? dx[i] + v : v;
    }
    return y->dy;
}

static void laurel_input_backward(Stream *st, int l, const float *dh) {
    const LaurelState *y = lay(st);
    float *dx = dx_of(y, l);
    long nd = (long)y->ntok * y->d;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < nd; i++) dx[i] += dh[i];
}

static void laurel_begin_backward(Stream *st, float *demb) {
    const LaurelState *y = lay(st);
    memcpy(demb, dx_of(y, 0), (size_t)y->ntok * y->d * sizeof(float));
}

/* Per sublayer and token, counting what the code does (a multiply-add 2, an add or a scale 1):
 * forward x' = alpha y + beta q (3d); backward dy = alpha G (d), dx = beta G (d), the input's add
 * (d), with rw the two dots (4d). With the h term (docs/variants.md, section 8): forward p over
 * m sources (2md), the rank-r products (4dr), q = x + u (d); backward beta G (d), the products
 * (8dr), the m dots of dgamma (2md), the m - 1 earlier states' updates (2(m - 1)d) and the dp
 * term of dx (2d). m = min(k, l + 1) at sublayer l (0 without pa). */
static double laurel_flops(const Config *c) {
    LaurelState y;
    layout(&y, c, 0, NULL, NULL, NULL, NULL);
    double d = y.d, r = y.r, total = 0;
    for (int l = 0; l < y.L; l++) {
        double m = y.k < l + 1 ? y.k : l + 1;
        total += 6 * d + (y.rw ? 4 * d : 0);
        if (y.aug) total += 12 * d * r + 4 * d + (m > 0 ? (6 * m - 2) * d : 0);
    }
    return total;
}

/* floor (docs/performance.md), rows of d per sublayer, every tensor touched once per call:
 * commit reads y and its sources (x, or the m states of p) and writes x' (+ q, + p when kept,
 * + u written by the products and read back); commit_backward reads G and writes dy and dx_l
 * (read too when pa >= 2 accumulates), with rw reads y and q, with pa reads the m sources and
 * updates the m - 1 earlier gradients (2 each), with a rank reads p and writes and reads dp;
 * input_backward 3. Passes: one per call, plus the two products each way. z (r per token) and
 * the parameters are not counted. */
static VariantTraffic laurel_traffic(const Config *c) {
    LaurelState y;
    layout(&y, c, 0, NULL, NULL, NULL, NULL);
    double rows = 0, passes = 0;
    for (int l = 0; l < y.L; l++) {
        double m = y.k < l + 1 ? y.k : l + 1;
        rows += 1 + (y.k > 0 ? m : 1) + 1 + y.aug + (y.r > 0 && y.k > 0) + (y.r > 0 ? 2 : 0);
        rows +=
            2 + 1 + y.chain + (y.rw ? 2 : 0) + (y.k > 0 ? m + 2 * (m - 1) : 0) + (y.r > 0 ? 3 : 0);
        rows += 3;
        passes += 3 + (y.r > 0 ? 4 : 0);
    }
    return (VariantTraffic){rows * y.d, passes};
}

/* PA's depth weights (docs/variants.md section 8, "Routing diagnostics"): consumer l (sublayer l's
 * residual term p_l) reads states x_{l-j}, j < m, with the learned gamma_{l,j}, the same for every
 * token. Sources numbered as states (0 = the embedding); the states it does not read weigh 0.
 * Without pa there is no depth mixing: -1 for every consumer. */
static int laurel_weights(const Stream *st, int c, double *w, int max) {
    const LaurelState *y = lay(st);
    if (y->k == 0 || c >= y->L) return -1;
    const float *gamma = st->params + y->off_gamma + (size_t)c * y->k;
    for (int s = 0; s <= c && s < max; s++) w[s] = c - s < y->k ? gamma[c - s] : 0.0;
    return c + 1;
}

/* The entropy of |gamma_{l,j}| / sum_j |gamma_{l,j}| over the m states p_l reads (gamma is shared
 * by all tokens and may be negative, as DenseFormer's betas); 0 when every gamma is 0. */
static int laurel_entropy(const Stream *st, int c, double *entropy) {
    const LaurelState *y = lay(st);
    if (y->k == 0 || c >= y->L) return -1;
    const float *gamma = st->params + y->off_gamma + (size_t)c * y->k;
    int m = y->k < c + 1 ? y->k : c + 1;
    double sum = 0, e = 0;
    for (int j = 0; j < m; j++) sum += fabs(gamma[j]);
    for (int j = 0; j < m && sum > 0; j++) {
        double p = fabs(gamma[j]) / sum;
        if (p > 0) e -= p * log(p);
    }
    *entropy = e;
    return m;
}

/* Knockout of state s from every p_l that reads it (the term gamma_{l,l-s} x_s dropped before h);
 * the states 0..L-1 are PA's sources (x_L, the output, feeds none). 0 sources without pa. */
static int laurel_knockout(Stream *st, int source) {
    LaurelState *y = st->state;
    if (y->k == 0) return 0;
    if (source >= -1 && source < y->L) y->knockout = source + 1;
    return y->L;
}

static double laurel_stream_rms(const Stream *st, int l) {
    const LaurelState *y = lay(st);
    return rms_of(state(st, y, l + 1), (size_t)y->ntok * y->d);
}

const VariantOps variant_laurel = {
    .name = "laurel",
    .summary = "x_l = alpha f(x) + beta (x + A B x) (LAuReL RW+LR; PA: earlier states)",
    .options = laurel_options,
    .n_options = RB_COUNT(laurel_options),
    .check_config = laurel_check,
    .param_count = laurel_params,
    .init_params = laurel_init,
    .act_count = laurel_acts,
    .scratch_count = laurel_scratch,
    .state_size = sizeof(LaurelState),
    .setup = laurel_setup,
    .begin = laurel_begin,
    .input = laurel_input,
    .commit = laurel_commit,
    .output = laurel_output,
    .output_backward = laurel_output_backward,
    .commit_backward = laurel_commit_backward,
    .input_backward = laurel_input_backward,
    .begin_backward = laurel_begin_backward,
    .flops_per_token = laurel_flops,
    .traffic_per_token = laurel_traffic,
    .matrices = laurel_matrices,
    .stream_rms = laurel_stream_rms,
    .depth_weights = laurel_weights,
    .depth_entropy = laurel_entropy,
    .knockout = laurel_knockout,
};
