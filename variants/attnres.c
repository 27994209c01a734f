/* Attention Residuals (docs/variants.md, sections 2 and 3). One implementation serves both forms:
 * Block AttnRes with N blocks of S = L/N sublayers, and Full AttnRes, which is Block with S = 1
 * (every sublayer output is its own block, so the sources of sublayer l are e, v_1, ..., v_{l-1}).
 *
 * Consumer l (l = 0..L-1 the sublayers, l = L the final readout) in block n = l/S at position
 * j = l%S reads the sources b_0 = e, b_1..b_n (completed block sums) and, when j > 0, the partial
 * sum p_l of the block's earlier outputs:  h_l = sum_s softmax_s(w_l . norm(s)) s.
 * Keys are never materialized: each source keeps its 1/rms once (rinv) and scores are
 * rinv_s * (w_l . s). Full AttnRes keeps pointers to the core's sublayer outputs (no copies).
 * Block AttnRes computes its forward in two phases (block_phase1/2).
 *
 * Backward: db_k accumulates dL/db_k, racc the gradient of the current block's partial sums;
 * dL/dv_l = db_{n+1} + racc, complete when commit_backward(l) runs because every consumer of
 * b_{n+1} and of p_{l'>l} comes later in the forward order.
 *
 * The paper's design ablations (query=input|static, window=W, heads=H; docs/variants.md section
 * 2) run on a general path (aggregate_general / source_backward_general), for Full and Block
 * alike (their queries or windows differ per sublayer, so Block's two phases do not apply). The
 * default path is kept as it was, bit for bit, for speed; test_variants holds every fast/general
 * pair equal (forward and backward) for every combination the fast paths take (Full and Block at
 * several S, each score, each key norm: test_attnres_general_path_matches_default). */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "ops.h"
#include "util.h"
#include "variant.h"

typedef struct {
    int L, N, S, d, ntok, M; /* M = N + 1: most sources any consumer has */
    int sigmoid, keynorm;    /* options: sigmoid scores instead of softmax; RMSNorm on the keys */
    int query, window, H;    /* options: QUERY_*, sources kept besides e (0: all), heads */
    int general;             /* a non-default query, window or heads: the general path */
    int MH;                  /* scores per token of one consumer: M sources x H heads */
    float *blocks;           /* (N, ntok, d) block sums b_1..b_N (S > 1 only) */
    float *partial;          /* (L - N, ntok, d) partial sum read by each sublayer with j > 0 */
    float *h;                /* (L + 1, ntok, d) aggregated inputs, then the readout */
    float *rinv_b, *rinv_p;  /* (N + 1, ntok), (L - N, ntok) */
    float *a, *z;            /* (L + 1, ntok, MH) depth weights and scores */
    float *q;                /* (L + 1, ntok, d) per-token queries (query=input) */
    float *db, *racc, *dv;   /* scratch: (N + 1, ntok, d), (ntok, d), (ntok, d) */
    float *dq, *dk, *ds;     /* scratch (general path): (ntok, d), (ntok, d), (ntok, M) */
    int knockout;            /* evaluation only: the knocked-out source slot + 1 (0: none) */
} AttnresState;              /* the variant's private state (Stream.state), set by attnres_setup */

/* The flavours (VariantOps.flavour): Full AttnRes is Block with one sublayer per block. */
typedef struct {
    int full;
} AttnresFlavour;
static const AttnresFlavour FLAVOUR_FULL = {1}, FLAVOUR_BLOCK = {0};
enum { MAX_HEADS = 64, MAX_SCORES = 1024 }; /* heads; scores per token of one consumer (M H) */
enum { SCORE_SOFTMAX, SCORE_SIGMOID };
enum { KEYNORM_ON, KEYNORM_OFF };
enum { QUERY_PSEUDO, QUERY_INPUT, QUERY_STATIC };

/* The options (docs/variants.md, section 2), read through their position in this one table (OPT_*,
 * so a misspelt option does not compile): Block AttnRes declares all of them, Full those from
 * OPT_SCORE on. The table's order is the order config.ini lists them. */
enum { OPT_BLOCKS, OPT_BLOCK_SIZE, OPT_SCORE, OPT_KEYNORM, OPT_QUERY, OPT_WINDOW, OPT_HEADS };
static const char *const SCORES[] = {"softmax", "sigmoid", NULL};
static const char *const ON_OFF[] = {"on", "off", NULL};
static const char *const QUERIES[] = {"pseudo", "input", "static", NULL};
/* paper_better, the direction report's claim 6 tests: the paper's Table 4 (its design ablations,
 * validation loss against Full AttnRes 1.737 and Block 1.746) reports one option value better
 * than its chosen design, the input-dependent query (1.731). Static weights (1.749), sigmoid
 * scores (1.741), no key norm (1.743; Block 1.750), a sliding window (1.764), 16 heads (1.752)
 * and other block sizes (1.746-1.753) are worse or equal: NULL (the default is the paper's). */
static const VariantOption attnres_options[] = {
    [OPT_BLOCKS] = {"attnres_blocks", "blocks", 1, 256, 4, NULL,
                    "number of blocks N (L = 2*n_layer divisible by N)", NULL},
    [OPT_BLOCK_SIZE] = {"attnres_block_size", "size", 0, 256, 0, NULL,
                        "sublayers per block S (N = L/S; 0: use blocks)", NULL},
    [OPT_SCORE] = {"attnres_score", "score", 0, 1, SCORE_SOFTMAX, SCORES,
                   "depth weights: softmax over the sources, or an independent sigmoid gate per "
                   "source",
                   NULL},
    [OPT_KEYNORM] = {"attnres_keynorm", "keynorm", 0, 1, KEYNORM_ON, ON_OFF,
                     "RMSNorm on the keys (off: scores from the raw sources)", NULL},
    [OPT_QUERY] = {"attnres_query", "query", 0, 2, QUERY_PSEUDO, QUERIES,
                   "pseudo: a learned vector per consumer; input: plus a d x d projection of the "
                   "latest source; static: a learned weight per source, no query",
                   "input"},
    [OPT_WINDOW] = {"attnres_window", "window", 0, 256, 0, NULL,
                    "read the embedding and only the last W other sources (0: all)", NULL},
    [OPT_HEADS] = {"attnres_heads", "heads", 1, MAX_HEADS, 1, NULL,
                   "split the width into H groups, each with its own weights over depth", NULL},
};
/* Option k (OPT_*) of c's AttnRes variant. */
#define OPT(c, k) config_option_int(c, &attnres_options[k])

static int is_full(const Config *c) {
    const AttnresFlavour *f = c->vt->flavour;
    return f->full;
}
/* N: L for Full; for Block the block count, or L / S when the block size S is given. */
static int n_blocks(const Config *c) {
    if (is_full(c)) return config_n_sub(c);
    int size = OPT(c, OPT_BLOCK_SIZE);
    return size > 0 ? config_n_sub(c) / size : OPT(c, OPT_BLOCKS);
}

/* Points y into acts/scratch (or only counts when they are NULL); returns {acts, scratch} sizes. */
static void layout(AttnresState *y, const Config *c, int ntok, float *acts, float *scratch,
                   size_t *na, size_t *ns) {
    y->L = config_n_sub(c);
    y->N = n_blocks(c);
    y->sigmoid = OPT(c, OPT_SCORE) == SCORE_SIGMOID;
    y->query = OPT(c, OPT_QUERY);
    y->window = OPT(c, OPT_WINDOW);
    y->H = OPT(c, OPT_HEADS);
    /* static weights have no keys: no key norm to compute */
    y->keynorm = OPT(c, OPT_KEYNORM) == KEYNORM_ON && y->query != QUERY_STATIC;
    y->general = y->query != QUERY_PSEUDO || y->window > 0 || y->H > 1;
    y->S = y->L / y->N;
    y->d = c->d_model;
    y->ntok = ntok;
    y->M = y->N + 1;
    y->MH = y->M * y->H;
    size_t nd = (size_t)ntok * y->d, a = 0, s = 0;
    y->blocks = rb_carve(acts, &a, y->S > 1 ? y->N * nd : 0);
    y->partial = rb_carve(acts, &a, (size_t)(y->L - y->N) * nd);
    y->h = rb_carve(acts, &a, (size_t)(y->L + 1) * nd);
    y->rinv_b = rb_carve(acts, &a, (size_t)(y->N + 1) * ntok);
    y->rinv_p = rb_carve(acts, &a, (size_t)(y->L - y->N) * ntok);
    y->a = rb_carve(acts, &a, (size_t)(y->L + 1) * ntok * y->MH);
    y->z = rb_carve(acts, &a, (size_t)(y->L + 1) * ntok * y->MH);
    y->q = rb_carve(acts, &a, y->query == QUERY_INPUT ? (size_t)(y->L + 1) * nd : 0);
    y->db = rb_carve(scratch, &s, (size_t)(y->N + 1) * nd);
    y->racc = rb_carve(scratch, &s, nd);
    y->dv = rb_carve(scratch, &s, nd);
    y->dq = rb_carve(scratch, &s, y->general && y->query != QUERY_STATIC ? nd : 0);
    y->dk = rb_carve(scratch, &s, y->query == QUERY_INPUT ? nd : 0);
    y->ds = rb_carve(scratch, &s, y->query == QUERY_STATIC ? (size_t)ntok * y->M : 0);
    if (na) *na = a;
    if (ns) *ns = s;
}

static void attnres_setup(Stream *st) {
    layout(st->state, st->cfg, st->ntok, st->acts, st->scratch, NULL, NULL);
}

static int attnres_check(const Config *c) {
    int L = config_n_sub(c), N = n_blocks(c), size = is_full(c) ? 0 : OPT(c, OPT_BLOCK_SIZE);
    if (!is_full(c) && size > 0 && (size > L || L % size != 0))
        return rb_fail("key 'attnres_block_size': %d does not divide the L = 2*n_layer = %d "
                       "sublayers (allowed: divisors of %d, or 0 to use attnres_blocks)",
                       size, L, L);
    if (!is_full(c) && (N > L || L % N != 0))
        return rb_fail("key 'attnres_blocks': %d does not divide the L = 2*n_layer = %d sublayers "
                       "(allowed: divisors of %d)",
                       N, L, L);
    if (L + 1 > RB_MAX_SUB) return rb_fail("attnres: at most %d sublayers", RB_MAX_SUB - 1);
    int window = OPT(c, OPT_WINDOW), H = OPT(c, OPT_HEADS), query = OPT(c, OPT_QUERY);
    if (window >= N)
        return rb_fail("key 'attnres_window': %d keeps every source (the readout has %d besides "
                       "the embedding); allowed: 0 (all) or 1..%d",
                       window, N, N - 1);
    if (c->d_model % H != 0)
        return rb_fail("key 'attnres_heads': %d does not divide d_model = %d", H, c->d_model);
    if ((N + 1) * H > MAX_SCORES)
        return rb_fail("key 'attnres_heads': %d heads x %d sources = %d scores per token (at most "
                       "%d)",
                       H, N + 1, (N + 1) * H, MAX_SCORES);
    if (query == QUERY_STATIC && H > 1)
        return rb_fail("key 'attnres_heads': %d needs a query; query=static has one scalar weight "
                       "per source (allowed with static: 1)",
                       H);
    if (query == QUERY_STATIC && OPT(c, OPT_KEYNORM) == KEYNORM_OFF)
        return rb_fail("key 'attnres_keynorm': off has no effect with query=static (static "
                       "weights read no keys); leave it at its default");
    return 0;
}

/* sweep: the largest divisor of L not above the requested number of blocks (or, when the block
 * size S is given, not above the requested S) */
static void attnres_fit_shape(Config *c) {
    int L = config_n_sub(c), size = OPT(c, OPT_BLOCK_SIZE);
    const char *key = attnres_options[size > 0 ? OPT_BLOCK_SIZE : OPT_BLOCKS].key;
    int want = size > 0 ? size : n_blocks(c), N = want < L ? want : L;
    while (L % N) N--;
    char v[16];
    snprintf(v, sizeof v, "%d", N);
    config_set(c, key, v, "fit_shape");
}

/* Parameters: a pseudo-query w_l per consumer ((L + 1) d); with query=input also a d x d
 * projection W_l per consumer after them; with query=static only M logits per consumer. */
static size_t attnres_params(const Config *c) {
    size_t L1 = (size_t)config_n_sub(c) + 1, d = (size_t)c->d_model;
    int query = OPT(c, OPT_QUERY);
    if (query == QUERY_STATIC) return L1 * (size_t)(n_blocks(c) + 1);
    return L1 * d + (query == QUERY_INPUT ? L1 * d * d : 0);
}
/* Muon's matrices: query=input's projections W_l (d x d, one per consumer, after the (L + 1) d
 * pseudo-queries); the other forms have vectors and scalars only. */
static int attnres_matrices(const Config *c, MatrixRun *out, int max) {
    if (OPT(c, OPT_QUERY) != QUERY_INPUT) return 0;
    if (max < 1) return -1;
    size_t L1 = (size_t)config_n_sub(c) + 1, d = (size_t)c->d_model;
    out[0] = (MatrixRun){L1 * d, d * d, (int)d, (int)d, (int)L1};
    return 1;
}
static void attnres_init(const Config *c, float *params, Rng *rng) {
    (void)rng; /* zero queries, projections and logits: uniform weights at step 0 */
    memset(params, 0, attnres_params(c) * sizeof(float));
}
static size_t attnres_acts(const Config *c, int ntok) {
    AttnresState y;
    size_t na;
    layout(&y, c, ntok, NULL, NULL, &na, NULL);
    return na;
}
static size_t attnres_scratch(const Config *c, int ntok) {
    AttnresState y;
    size_t ns;
    layout(&y, c, ntok, NULL, NULL, NULL, &ns);
    return ns;
}

/* The key scale of each row of a new source: 1/rms (keys = RMSNorm(source)) or, without the key
 * norm, 1 (keys = the source itself). */
static void key_scales(const AttnresState *y, float *rinv, const float *x) {
    if (y->keynorm)
        rms_inverse_rows(rinv, x, y->ntok, y->d, 1);
    else
        for (int t = 0; t < y->ntok; t++) rinv[t] = 1.0f;
}

static float sigmoidf(float x) {
    return 1.0f / (1.0f + expf(-x));
}

static const float *block_rep(const Stream *st, const AttnresState *y, int k) {
    if (k == 0 || y->S == 1) return st->value[k]; /* e, or (Full) the output of sublayer k-1 */
    return y->blocks + (size_t)(k - 1) * y->ntok * y->d;
}

static int partial_index(const AttnresState *y, int l) {
    return l / y->S * (y->S - 1) + l % y->S - 1;
}

/* The slots consumer l reads, as indices into the M source slots: 0..n the completed block sums
 * (0 = e), n + 1 the partial sum (j > 0). With window = W only e and the last W others. */
static int source_slots(const AttnresState *y, int l, int *slot) {
    int n = l == y->L ? y->N : l / y->S, j = l == y->L ? 0 : l % y->S, m = 0;
    for (int k = 0; k <= n + (j > 0); k++) slot[m++] = k;
    if (y->window > 0 && m - 1 > y->window) {
        memmove(slot + 1, slot + m - y->window, y->window * sizeof(int));
        m = 1 + y->window;
    }
    return m;
}

/* The sources of consumer l: values, their 1/rms rows and where their gradients accumulate
 * (slot, when not NULL, receives their slot indices). */
static int sources(const Stream *st, const AttnresState *y, int l, const float **src,
                   const float **rinv, float **dsrc, int *slot) {
    int n = l == y->L ? y->N : l / y->S, at[RB_MAX_SUB + 1];
    int m = source_slots(y, l, slot ? slot : at);
    const int *k = slot ? slot : at;
    size_t nd = (size_t)y->ntok * y->d;
    for (int s = 0; s < m; s++) {
        if (k[s] <= n) {
            src[s] = block_rep(st, y, k[s]);
            rinv[s] = y->rinv_b + (size_t)k[s] * y->ntok;
            dsrc[s] = y->db + k[s] * nd;
        } else {
            int pi = partial_index(y, l);
            src[s] = y->partial + pi * nd;
            rinv[s] = y->rinv_p + (size_t)pi * y->ntok;
            dsrc[s] = y->racc;
        }
    }
    return m;
}

/* h_l = sum_s softmax(rinv_s * (w_l . s)) s, per token; scores and weights saved. Tokens go in
 * blocks of TOK_BLOCK, source by source within a block: each source is read as one contiguous
 * run of TOK_BLOCK rows instead of one row per token across all m sources, which keeps the
 * hardware prefetchers on a few long streams (docs/performance.md). */
enum { TOK_BLOCK = 32 };

static const float *aggregate(Stream *st, int l) {
    const AttnresState *y = st->state;
    const float *src[RB_MAX_SUB + 1], *rinv[RB_MAX_SUB + 1];
    float *dsrc[RB_MAX_SUB + 1];
    int m = sources(st, y, l, src, rinv, dsrc, NULL), d = y->d, M = y->M;
    int nblk = (y->ntok + TOK_BLOCK - 1) / TOK_BLOCK;
    const float *w = st->params + (size_t)l * d;
    float *h = y->h + (size_t)l * y->ntok * d;
    float *a = y->a + (size_t)l * y->ntok * M, *z = y->z + (size_t)l * y->ntok * M;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < nblk; b++) {
        int t0 = b * TOK_BLOCK, t1 = t0 + TOK_BLOCK < y->ntok ? t0 + TOK_BLOCK : y->ntok;
        for (int s = 0; s < m; s++)
            for (int t = t0; t < t1; t++) {
                const float *x = src[s] + (size_t)t * d;
                float dot = 0;
#pragma omp simd reduction(+ : dot)
                for (int i = 0; i < d; i++) dot += w[i] * x[i];
                z[(size_t)t * M + s] = rinv[s][t] * dot;
            }
        for (int t = t0; t < t1; t++) {
            float *at = a + (size_t)t * M, *zt = z + (size_t)t * M, mx = -INFINITY, sum = 0;
            for (int s = 0; s < m; s++) mx = zt[s] > mx ? zt[s] : mx;
            if (y->sigmoid) { /* independent gates: no normalization over the sources */
                for (int s = 0; s < m; s++) at[s] = sigmoidf(zt[s]);
            } else {
                for (int s = 0; s < m; s++) sum += at[s] = expf(zt[s] - mx);
                for (int s = 0; s < m; s++) at[s] /= sum;
            }
        }
        for (int s = 0; s < m; s++)
            for (int t = t0; t < t1; t++) {
                const float *x = src[s] + (size_t)t * d;
                float c = a[(size_t)t * M + s], *ht = h + (size_t)t * d;
                if (s == 0)
                    for (int i = 0; i < d; i++) ht[i] = c * x[i];
                else
                    for (int i = 0; i < d; i++) ht[i] += c * x[i];
            }
    }
    return h;
}

/* The general path (docs/variants.md, section 2, "Design options"): queries q_l(t) = w_l, or
 * w_l + rinv_last(t) W_l x_last(t) (query=input: x_last the latest source, the one nearest the
 * consumer), or no query at all (query=static: a learned logit per source slot); H heads each
 * score and normalize over the sources on their own d/H channels; window=W keeps e and the last
 * W sources. Scores z[s H + g] (head g), weights a likewise. */
static const float *query_row(const Stream *st, const AttnresState *y, int l, int t) {
    if (y->query == QUERY_INPUT) return y->q + ((size_t)l * y->ntok + t) * y->d;
    return st->params + (size_t)l * y->d;
}
static const float *projection(const Stream *st, const AttnresState *y, int l) { /* W_l, (d, d) */
    return st->params + (size_t)(y->L + 1) * y->d + (size_t)l * y->d * y->d;
}

/* query=input: q = rinv_last * (x_last W_l^T) + w_l, one sgemm over the tokens. */
static void input_queries(Stream *st, const AttnresState *y, int l, const float *x,
                          const float *rinv) {
    int d = y->d;
    float *q = y->q + (size_t)l * y->ntok * d;
    const float *w = st->params + (size_t)l * d;
    matmul_forward(q, x, projection(st, y, l), y->ntok, d, d);
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y->ntok; t++)
        for (int i = 0; i < d; i++) q[(size_t)t * d + i] = rinv[t] * q[(size_t)t * d + i] + w[i];
}

static const float *aggregate_general(Stream *st, int l) {
    const AttnresState *y = st->state;
    const float *src[RB_MAX_SUB + 1], *rinv[RB_MAX_SUB + 1];
    float *dsrc[RB_MAX_SUB + 1];
    int slot[RB_MAX_SUB + 1];
    int m = sources(st, y, l, src, rinv, dsrc, slot), d = y->d, H = y->H, dg = d / H, MH = y->MH;
    if (y->query == QUERY_INPUT) input_queries(st, y, l, src[m - 1], rinv[m - 1]);
    const float *logit = st->params + (size_t)l * y->M; /* query=static */
    float *h = y->h + (size_t)l * y->ntok * d;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y->ntok; t++) {
        float *at = y->a + ((size_t)l * y->ntok + t) * MH,
              *zt = y->z + ((size_t)l * y->ntok + t) * MH;
        const float *q = y->query == QUERY_STATIC ? NULL : query_row(st, y, l, t);
        float *ht = h + (size_t)t * d;
        for (int s = 0; s < m; s++) {
            const float *x = src[s] + (size_t)t * d;
            for (int g = 0; g < H; g++) {
                if (y->query == QUERY_STATIC) { /* no query: q would point past the logits */
                    zt[s * H + g] = logit[slot[s]];
                    continue;
                }
                float dot = 0;
                for (int i = g * dg; i < (g + 1) * dg; i++) dot += q[i] * x[i];
                zt[s * H + g] = rinv[s][t] * dot;
            }
        }
        for (int g = 0; g < H; g++) {
            float mx = -INFINITY, sum = 0;
            for (int s = 0; s < m; s++) mx = zt[s * H + g] > mx ? zt[s * H + g] : mx;
            for (int s = 0; s < m; s++) {
                float *as = &at[s * H + g];
                *as = y->sigmoid ? sigmoidf(zt[s * H + g]) : expf(zt[s * H + g] - mx);
                sum += *as;
            }
            if (!y->sigmoid)
                for (int s = 0; s < m; s++) at[s * H + g] /= sum;
        }
        memset(ht, 0, d * sizeof(float));
        for (int s = 0; s < m; s++) {
            const float *x = src[s] + (size_t)t * d;
            for (int g = 0; g < H; g++)
                for (int i = g * dg; i < (g + 1) * dg; i++) ht[i] += at[s * H + g] * x[i];
        }
    }
    return h;
}

/* query=input backward, from dq = dL/dq per token (y->dq): q = w + r W x gives, with
 * dq' = r dq, dW += dq'^T x and dk = dq' W (one sgemm each, as a matmul's backward); the latest
 * source gets dx += dk - (r/d) (dq' . (q - w)) x, the second term through r = 1/rms(x) and only
 * with the key norm (r W x = q - w). */
static void query_input_backward(Stream *st, const AttnresState *y, int l, const float *x,
                                 const float *rinv, float *dx) {
    int d = y->d;
    const float *w = st->params + (size_t)l * d, *q = y->q + (size_t)l * y->ntok * d;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y->ntok; t++)
        for (int i = 0; i < d; i++) y->dq[(size_t)t * d + i] *= rinv[t];
    float *grad_w = st->grads + (size_t)(y->L + 1) * d + (size_t)l * d * d;
    matmul_backward(y->dk, grad_w, y->dq, x, projection(st, y, l), y->ntok, d, d, 0.0f);
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y->ntok; t++) {
        const float *dqt = y->dq + (size_t)t * d, *qt = q + (size_t)t * d, *xt = x + (size_t)t * d;
        const float *dk = y->dk + (size_t)t * d;
        float c = 0, *dxt = dx + (size_t)t * d;
        if (y->keynorm) {
            for (int i = 0; i < d; i++) c += dqt[i] * (qt[i] - w[i]);
            c *= rinv[t] / d;
        }
        for (int i = 0; i < d; i++) dxt[i] += dk[i] - c * xt[i];
    }
}

/* Backward of the general path for consumer l, g = dL/dh_l. Per token and head (channels of the
 * head only): da_s = g . x_s; ds_s = a_s (da_s - sum a da) (softmax) or a_s (1 - a_s) da_s;
 * dx_s += a_s g + ds_s r_s q; dq += ds_s r_s x_s; with the key norm also
 * dx_s -= r_s^2 / d (sum over heads ds_s z_s) x_s. Then dq flows into w_l (sum over tokens) and,
 * for query=input, into W_l and the latest source; query=static sums ds into its logits. */
static void source_backward_general(Stream *st, int l, const float *g) {
    const AttnresState *y = st->state;
    const float *src[RB_MAX_SUB + 1], *rinv[RB_MAX_SUB + 1];
    float *dsrc[RB_MAX_SUB + 1];
    int slot[RB_MAX_SUB + 1];
    int m = sources(st, y, l, src, rinv, dsrc, slot), d = y->d, H = y->H, dg = d / H, MH = y->MH;
    int stat = y->query == QUERY_STATIC;
    if (stat) memset(y->ds, 0, (size_t)y->ntok * y->M * sizeof(float));
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y->ntok; t++) {
        const float *gt = g + (size_t)t * d, *q = stat ? NULL : query_row(st, y, l, t);
        const float *at = y->a + ((size_t)l * y->ntok + t) * MH;
        const float *zt = y->z + ((size_t)l * y->ntok + t) * MH;
        float *dq = stat ? NULL : y->dq + (size_t)t * d;
        float da[MAX_SCORES], mean[MAX_HEADS] = {0};
        if (dq) memset(dq, 0, d * sizeof(float));
        for (int s = 0; s < m; s++) {
            const float *x = src[s] + (size_t)t * d;
            for (int h = 0; h < H; h++) {
                float dot = 0;
                for (int i = h * dg; i < (h + 1) * dg; i++) dot += gt[i] * x[i];
                da[s * H + h] = dot;
                mean[h] += at[s * H + h] * dot;
            }
        }
        for (int s = 0; s < m; s++) {
            const float *x = src[s] + (size_t)t * d;
            float *dx = dsrc[s] + (size_t)t * d, r = rinv[s][t], zsum = 0;
            for (int h = 0; h < H; h++) {
                float a = at[s * H + h];
                float ds = y->sigmoid ? a * (1 - a) * da[s * H + h] : a * (da[s * H + h] - mean[h]);
                if (stat) y->ds[(size_t)t * y->M + slot[s]] = ds;
                for (int i = h * dg; i < (h + 1) * dg; i++) {
                    dx[i] += a * gt[i] + (stat ? 0.0f : ds * r * q[i]);
                    if (dq) dq[i] += ds * r * x[i];
                }
                zsum += ds * zt[s * H + h];
            }
            if (y->keynorm) {
                float cx = r * r * zsum / d;
                for (int i = 0; i < d; i++) dx[i] -= cx * x[i];
            }
        }
    }
    float *dw = st->grads + (size_t)l * (stat ? y->M : d); /* logits, or w_l */
    if (stat) {
        for (int t = 0; t < y->ntok; t++)
            for (int k = 0; k < y->M; k++) dw[k] += y->ds[(size_t)t * y->M + k];
        return;
    }
    for (int t = 0; t < y->ntok; t++)
        for (int i = 0; i < d; i++) dw[i] += y->dq[(size_t)t * d + i];
    if (y->query == QUERY_INPUT)
        query_input_backward(st, y, l, src[m - 1], rinv[m - 1], dsrc[m - 1]);
}

static void attnres_begin(Stream *st, const float *emb) {
    const AttnresState *y = st->state;
    st->value[0] = emb;
    key_scales(y, y->rinv_b, emb);
}

/* Block AttnRes, two-phase (spec 3). Phase 1, when block n starts: the block's S queries against
 * its completed sources b_0..b_n, which stay fixed for the whole block: every source row is read
 * once per token for all S queries. Scores go to z, exp(z - max) to a and the unnormalized sums
 * to the h rows of the S sublayers. */
static void block_phase1(Stream *st, const AttnresState *y, int l0) {
    const float *src[RB_MAX_SUB + 1], *rinv[RB_MAX_SUB + 1];
    float *dsrc[RB_MAX_SUB + 1];
    int m0 = sources(st, y, l0, src, rinv, dsrc, NULL), d = y->d, M = y->M, S = y->S;
    size_t zrow = (size_t)y->ntok * M, hrow = (size_t)y->ntok * d;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y->ntok; t++) {
        float *z0 = y->z + (size_t)l0 * zrow + (size_t)t * M;
        float *a0 = y->a + (size_t)l0 * zrow + (size_t)t * M;
        float *h0 = y->h + (size_t)l0 * hrow + (size_t)t * d;
        for (int s = 0; s < m0; s++) {
            const float *x = src[s] + (size_t)t * d;
            for (int q = 0; q < S; q++) {
                const float *w = st->params + (size_t)(l0 + q) * d;
                float dot = 0;
#pragma omp simd reduction(+ : dot)
                for (int i = 0; i < d; i++) dot += w[i] * x[i];
                z0[q * zrow + s] = rinv[s][t] * dot;
            }
        }
        for (int q = 0; q < S; q++) {
            float *z = z0 + q * zrow, *a = a0 + q * zrow, mx = z[0];
            for (int s = 1; s < m0; s++) mx = z[s] > mx ? z[s] : mx;
            for (int s = 0; s < m0; s++) a[s] = y->sigmoid ? sigmoidf(z[s]) : expf(z[s] - mx);
            memset(h0 + q * hrow, 0, d * sizeof(float));
        }
        for (int s = 0; s < m0; s++) {
            const float *x = src[s] + (size_t)t * d;
            for (int q = 0; q < S; q++) {
                float c = a0[q * zrow + s], *h = h0 + q * hrow;
                for (int i = 0; i < d; i++) h[i] += c * x[i];
            }
        }
    }
}

/* Phase 2 for sublayer l: merge the one new source, the partial sum p (if the block has one yet),
 * with phase 1's result by the online-softmax rule
 *   m = max(m1, z); h = (exp(m1 - m) o1 + exp(z - m) p) / (exp(m1 - m) l1 + exp(z - m)),
 * and normalize the saved weights. */
static const float *block_phase2(Stream *st, const AttnresState *y, int l) {
    const float *src[RB_MAX_SUB + 1], *rinv[RB_MAX_SUB + 1];
    float *dsrc[RB_MAX_SUB + 1];
    int m = sources(st, y, l, src, rinv, dsrc, NULL), d = y->d, M = y->M;
    int m0 = l % y->S ? m - 1 : m; /* completed sources; the last one is p when j > 0 */
    const float *w = st->params + (size_t)l * d;
    float *h = y->h + (size_t)l * y->ntok * d;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y->ntok; t++) {
        float *z = y->z + ((size_t)l * y->ntok + t) * M, *a = y->a + ((size_t)l * y->ntok + t) * M;
        float *ht = h + (size_t)t * d, m1 = z[0], l1 = 0;
        if (y->sigmoid) { /* gates add up without normalization: h += sigmoid(z_p) p */
            if (m > m0) {
                const float *p = src[m0] + (size_t)t * d;
                float dot = 0;
#pragma omp simd reduction(+ : dot)
                for (int i = 0; i < d; i++) dot += w[i] * p[i];
                z[m0] = rinv[m0][t] * dot;
                a[m0] = sigmoidf(z[m0]);
                for (int i = 0; i < d; i++) ht[i] += a[m0] * p[i];
            }
            continue;
        }
        for (int s = 1; s < m0; s++) m1 = z[s] > m1 ? z[s] : m1;
        for (int s = 0; s < m0; s++) l1 += a[s];
        float c1 = 1.0f, ep = 0.0f;
        const float *p = NULL;
        if (m > m0) {
            p = src[m0] + (size_t)t * d;
            float dot = 0;
#pragma omp simd reduction(+ : dot)
            for (int i = 0; i < d; i++) dot += w[i] * p[i];
            z[m0] = rinv[m0][t] * dot;
            float mx = z[m0] > m1 ? z[m0] : m1;
            c1 = expf(m1 - mx);
            ep = expf(z[m0] - mx);
        }
        float inv = 1.0f / (c1 * l1 + ep), k1 = c1 * inv, kp = ep * inv;
        for (int s = 0; s < m0; s++) a[s] *= k1;
        if (p) {
            a[m0] = kp;
            for (int i = 0; i < d; i++) ht[i] = k1 * ht[i] + kp * p[i];
        } else {
            for (int i = 0; i < d; i++) ht[i] *= k1;
        }
    }
    return h;
}

/* Knockout (docs/variants.md, "Routing diagnostics"): consumer l's input again, from the weights
 * the forward saved, without the term of the knocked-out slot; the other sources keep their
 * weights. Evaluation only: the backward does not know of it. */
static void knockout_input(Stream *st, const AttnresState *y, int l) {
    const float *src[RB_MAX_SUB + 1], *rinv[RB_MAX_SUB + 1];
    float *dsrc[RB_MAX_SUB + 1];
    int slot[RB_MAX_SUB + 1];
    int m = sources(st, y, l, src, rinv, dsrc, slot), d = y->d, H = y->H, dg = d / H, MH = y->MH;
    int drop = -1;
    for (int s = 0; s < m; s++)
        if (slot[s] == y->knockout - 1) drop = s;
    if (drop < 0) return; /* this consumer does not read the source */
    float *h = y->h + (size_t)l * y->ntok * d;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < y->ntok; t++) {
        const float *at = y->a + ((size_t)l * y->ntok + t) * MH;
        float *ht = h + (size_t)t * d;
        memset(ht, 0, d * sizeof(float));
        for (int s = 0; s < m; s++) {
            if (s == drop) continue;
            const float *x = src[s] + (size_t)t * d;
            for (int g = 0; g < H; g++)
                for (int i = g * dg; i < (g + 1) * dg; i++) ht[i] += at[s * H + g] * x[i];
        }
    }
}

static const float *attnres_input(Stream *st, int l) {
    const AttnresState *y = st->state;
    const float *h;
    if (y->general)
        h = aggregate_general(st, l);
    else if (y->S == 1)
        h = aggregate(st, l); /* Full: one query per source set */
    else {
        if (l % y->S == 0) block_phase1(st, y, l);
        h = block_phase2(st, y, l);
    }
    if (y->knockout) knockout_input(st, y, l);
    return h;
}

static void attnres_commit(Stream *st, int l, const float *v) {
    const AttnresState *y = st->state;
    st->value[l + 1] = v;
    int n = l / y->S, j = l % y->S;
    size_t nd = (size_t)y->ntok * y->d;
    if (y->S == 1) { /* Full: the output itself is block n+1 */
        key_scales(y, y->rinv_b + (size_t)(n + 1) * y->ntok, v);
        return;
    }
    int done = j == y->S - 1;
    float *dst = done ? y->blocks + n * nd : y->partial + partial_index(y, l + 1) * nd;
    float *rdst = done ? y->rinv_b + (size_t)(n + 1) * y->ntok
                       : y->rinv_p + (size_t)partial_index(y, l + 1) * y->ntok;
    if (j == 0)
        memcpy(dst, v, nd * sizeof(float));
    else {
        const float *prev = y->partial + partial_index(y, l) * nd;
#pragma omp parallel for schedule(static)
        for (long i = 0; i < (long)nd; i++) dst[i] = prev[i] + v[i];
    }
    key_scales(y, rdst, dst);
}

static const float *attnres_output(Stream *st) {
    const AttnresState *y = st->state;
    const float *h = y->general ? aggregate_general(st, y->L) : aggregate(st, y->L);
    if (y->knockout) knockout_input(st, y, y->L);
    return h;
}

/* Backward of consumer l (docs/variants.md, section 2): g = dL/dh_l per token. Each thread takes
 * a fixed range of tokens (its dw partial sums keep the result independent of scheduling) and
 * walks it in blocks of TOK_BLOCK tokens, source by source, like aggregate. */
static void source_backward(Stream *st, int l, const float *g) {
    const AttnresState *y = st->state;
    const float *src[RB_MAX_SUB + 1], *rinv[RB_MAX_SUB + 1];
    float *dsrc[RB_MAX_SUB + 1];
    int m = sources(st, y, l, src, rinv, dsrc, NULL), d = y->d, M = y->M, used = 1;
    const float *w = st->params + (size_t)l * d;
    const float *a = y->a + (size_t)l * y->ntok * M, *z = y->z + (size_t)l * y->ntok * M;
#pragma omp parallel
    {
        int nt = omp_get_num_threads(), tid = omp_get_thread_num();
#pragma omp single
        used = nt;
        float *pw = st->partials + (size_t)tid * d;
        memset(pw, 0, d * sizeof(float));
        int t0 = (int)((long)y->ntok * tid / nt), t1 = (int)((long)y->ntok * (tid + 1) / nt);
        for (int b0 = t0; b0 < t1; b0 += TOK_BLOCK) {
            int b1 = b0 + TOK_BLOCK < t1 ? b0 + TOK_BLOCK : t1;
            float da[(RB_MAX_SUB + 1) * TOK_BLOCK], mean[TOK_BLOCK] = {0}; /* da[s TOK_BLOCK + t] */
            for (int s = 0; s < m; s++)
                for (int t = b0; t < b1; t++) {
                    const float *gt = g + (size_t)t * d, *x = src[s] + (size_t)t * d;
                    float dot = 0;
#pragma omp simd reduction(+ : dot)
                    for (int i = 0; i < d; i++) dot += gt[i] * x[i];
                    da[s * TOK_BLOCK + t - b0] = dot;
                }
            for (int t = b0; t < b1; t++) {
                for (int s = 0; s < m; s++)
                    mean[t - b0] += a[(size_t)t * M + s] * da[s * TOK_BLOCK + t - b0];
            }
            for (int s = 0; s < m; s++)
                for (int t = b0; t < b1; t++) {
                    const float *x = src[s] + (size_t)t * d, *gt = g + (size_t)t * d;
                    float *dx = dsrc[s] + (size_t)t * d, at = a[(size_t)t * M + s];
                    /* softmax: ds = a (da - sum a da); sigmoid: ds = a (1 - a) da */
                    float dat = da[s * TOK_BLOCK + t - b0];
                    float ds = y->sigmoid ? at * (1 - at) * dat : at * (dat - mean[t - b0]);
                    float r = rinv[s][t], zt = z[(size_t)t * M + s];
                    /* dw += ds k_s;  dx += a g + ds * r * (w - k_s (w.k_s) / d), k_s = r x;
                     * without the key norm k_s = x (r = 1) and the norm's second term drops */
                    float cw = ds * r, cx = y->keynorm ? ds * r * r * zt / d : 0.0f;
                    for (int i = 0; i < d; i++) {
                        pw[i] += cw * x[i];
                        dx[i] += at * gt[i] + cw * w[i] - cx * x[i];
                    }
                }
        }
    }
    float *dw = st->grads + (size_t)l * d;
    for (int t = 0; t < used; t++)
        for (int i = 0; i < d; i++) dw[i] += st->partials[(size_t)t * d + i];
}

static void attnres_output_backward(Stream *st, const float *dout) {
    const AttnresState *y = st->state;
    memset(y->db, 0, (size_t)(y->N + 1) * y->ntok * y->d * sizeof(float));
    memset(y->racc, 0, (size_t)y->ntok * y->d * sizeof(float));
    (y->general ? source_backward_general : source_backward)(st, y->L, dout);
}

static const float *attnres_commit_backward(Stream *st, int l) {
    const AttnresState *y = st->state;
    size_t nd = (size_t)y->ntok * y->d;
    const float *db = y->db + (size_t)(l / y->S + 1) * nd;
    if (y->S == 1) return db;
    if (l % y->S == y->S - 1)
        memset(y->racc, 0, nd * sizeof(float)); /* entering block from the top */
#pragma omp parallel for schedule(static)
    for (long i = 0; i < (long)nd; i++) y->dv[i] = db[i] + y->racc[i];
    return y->dv;
}

static void attnres_input_backward(Stream *st, int l, const float *dh) {
    const AttnresState *y = st->state;
    (y->general ? source_backward_general : source_backward)(st, l, dh);
}

static void attnres_begin_backward(Stream *st, float *demb) {
    const AttnresState *y = st->state;
    memcpy(demb, y->db, (size_t)y->ntok * y->d * sizeof(float));
}

/* Per token, per source of each consumer: forward dot + axpy (4d), backward dot (2d), dw (2d),
 * dsrc (6d) = 14d; 12d without the key norm (its Jacobian term in dsrc drops); 6d for static
 * weights (axpy, backward dot, dsrc). Heads split the same dots. Per sublayer output: 1/rms (2d,
 * with the key norm) and, for S > 1, the partial sum (d); the embedding's 1/rms (2d).
 * query=input adds per consumer three d x d products (forward, dW, dx: 6 d^2) and 7d of scaling. */
static double attnres_flops(const Config *c) {
    AttnresState y;
    layout(&y, c, 1, NULL, NULL, NULL, NULL);
    double d = c->d_model, sources = 0,
           per_source = y.query == QUERY_STATIC ? 6 * d
                        : y.keynorm             ? 14 * d
                                                : 12 * d;
    int slot[RB_MAX_SUB + 1];
    for (int l = 0; l <= y.L; l++) sources += source_slots(&y, l, slot);
    double f = per_source * sources + y.L * (y.S > 1 ? d : 0);
    if (y.keynorm) f += y.L * 2 * d + 2 * d;
    if (y.query == QUERY_INPUT) f += (y.L + 1) * (6 * d * d + 7 * d);
    return f;
}

/* floor (docs/performance.md), in rows of d per token. Backward of a consumer with s sources: read
 * g and the sources, update their gradients (3s + 1). Forward, direct: read the sources, write h
 * (s + 1); Block's two phases instead: phase 1 reads the block's completed sources once and writes
 * the S partial outputs (s + S), phase 2 merges the partial sum (3 per later sublayer). Partial
 * sums p_j = p_{j-1} + v_j (3 per sublayer after a block's first) and dv = db + dp (3 per sublayer
 * before a block's last). query=input: x, q, dq and dx rows (6) and W, dW (4 d^2 / N). */
static VariantTraffic attnres_traffic(const Config *c) {
    AttnresState y;
    layout(&y, c, 1, NULL, NULL, NULL, NULL);
    int slot[RB_MAX_SUB + 1], two_phase = !y.general && y.S > 1;
    double rows = 0, passes = 0, ntok = (double)c->batch_size * c->seq_len;
    for (int l = 0; l <= y.L; l++) {
        int s = source_slots(&y, l, slot), j = l % y.S;
        rows += 3 * s + 1;
        passes += 1;
        if (!two_phase || l == y.L) {
            rows += s + 1;
            passes += 1;
        } else if (j == 0) {
            rows += s + y.S;
            passes += 1;
        } else {
            rows += 3;
            passes += 1;
        }
        if (l < y.L && y.S > 1 && j > 0) rows += 3, passes += 1;               /* p_j */
        if (l < y.L && y.S > 1 && j < y.S - 1) rows += 3, passes += 1;         /* dv */
        if (y.query == QUERY_INPUT) rows += 6 + 4.0 * y.d / ntok, passes += 3; /* q, W */
    }
    return (VariantTraffic){rows * y.d, passes};
}

/* Mean weight over tokens (and heads) per source, placed at the source's slot (a window leaves
 * the slots it skips at 0); returns the number of slots up to the last one read. */
static int attnres_weights(const Stream *st, int c, double *w, int max) {
    const AttnresState *y = st->state;
    if (c > y->L) return -1;
    int slot[RB_MAX_SUB + 1], m = source_slots(y, c, slot), n = slot[m - 1] + 1;
    for (int k = 0; k < n && k < max; k++) w[k] = 0;
    const float *a = y->a + (size_t)c * y->ntok * y->MH;
    for (int s = 0; s < m; s++) {
        if (slot[s] >= max) continue;
        double acc = 0;
        for (int t = 0; t < y->ntok; t++)
            for (int g = 0; g < y->H; g++) acc += a[(size_t)t * y->MH + s * y->H + g];
        w[slot[s]] = acc / ((double)y->ntok * y->H);
    }
    return n;
}

/* Per token (and head) the entropy of consumer c's weights over the sources it reads, each
 * token's weights divided by their sum first (sigmoid gates do not sum to 1), averaged over the
 * tokens and heads of the last forward. Returns the number of sources read. */
static int attnres_entropy(const Stream *st, int c, double *entropy) {
    const AttnresState *y = st->state;
    if (c > y->L) return -1;
    int slot[RB_MAX_SUB + 1], m = source_slots(y, c, slot);
    const float *a = y->a + (size_t)c * y->ntok * y->MH;
    double acc = 0;
    for (int t = 0; t < y->ntok; t++)
        for (int g = 0; g < y->H; g++) {
            const float *at = a + (size_t)t * y->MH + g;
            double sum = 0, e = 0;
            for (int s = 0; s < m; s++) sum += at[s * y->H];
            for (int s = 0; s < m && sum > 0; s++) {
                double p = at[s * y->H] / sum;
                if (p > 0) e -= p * log(p);
            }
            acc += e;
        }
    *entropy = acc / ((double)y->ntok * y->H);
    return m;
}

/* Knockout of source slot `source` (depth_attn.csv's numbering: 0 = e, k = block k, the partial
 * sum at the slot of the block it is becoming) from the next forward on. */
static int attnres_knockout(Stream *st, int source) {
    AttnresState *y = st->state;
    if (source >= -1 && source < y->M) y->knockout = source + 1;
    return y->M;
}

/* The running sources after sublayer l (what consumer l+1 can read): RMS over all of them, from
 * the cached 1/rms (mean square = 1/rinv^2 - eps). */
static double attnres_stream_rms(const Stream *st, int l) {
    const AttnresState *y = st->state;
    const float *src[RB_MAX_SUB + 1], *rinv[RB_MAX_SUB + 1];
    float *dsrc[RB_MAX_SUB + 1];
    int m = sources(st, y, l + 1, src, rinv, dsrc, NULL);
    double ms = 0;
    for (int s = 0; s < m; s++)
        for (int t = 0; t < y->ntok; t++) {
            if (y->keynorm) { /* from the cached key scale */
                ms += 1.0 / ((double)rinv[s][t] * rinv[s][t]) - RB_EPS;
                continue;
            }
            const float *x = src[s] + (size_t)t * y->d; /* no key norm: no cached 1/rms */
            double sq = 0;
            for (int i = 0; i < y->d; i++) sq += (double)x[i] * x[i];
            ms += sq / y->d;
        }
    return sqrt(ms / ((double)m * y->ntok));
}

#define ATTNRES_OPS                                                                                \
    .check_config = attnres_check, .param_count = attnres_params, .init_params = attnres_init,     \
    .act_count = attnres_acts, .scratch_count = attnres_scratch,                                   \
    .state_size = sizeof(AttnresState), .setup = attnres_setup, .begin = attnres_begin,            \
    .input = attnres_input, .commit = attnres_commit, .output = attnres_output,                    \
    .output_backward = attnres_output_backward, .commit_backward = attnres_commit_backward,        \
    .input_backward = attnres_input_backward, .begin_backward = attnres_begin_backward,            \
    .flops_per_token = attnres_flops, .traffic_per_token = attnres_traffic,                        \
    .depth_weights = attnres_weights, .stream_rms = attnres_stream_rms,                            \
    .matrices = attnres_matrices, .depth_entropy = attnres_entropy, .knockout = attnres_knockout

const VariantOps variant_attnres_full = {
    .name = "attnres_full",
    .summary = "softmax attention over all earlier sublayer outputs (Full AttnRes)",
    .flavour = &FLAVOUR_FULL,
    .options = attnres_options + OPT_SCORE, /* all but the block options */
    .n_options = RB_COUNT(attnres_options) - OPT_SCORE,
    ATTNRES_OPS,
};

const VariantOps variant_attnres_block = {
    .name = "attnres_block",
    .summary = "attention over N block sums + the partial sum (Block AttnRes)",
    .flavour = &FLAVOUR_BLOCK,
    .options = attnres_options,
    .n_options = RB_COUNT(attnres_options),
    .fit_shape = attnres_fit_shape,
    ATTNRES_OPS,
};
