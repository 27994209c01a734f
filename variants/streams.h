/* The shared mechanics of the multi-stream variants (docs/variants.md, sections 4 and 5): n
 * streams X (n x d per token), X^0 = [e; ...; e]; at every sublayer site l per-token coefficients
 * read[i], write[j] and mix[i][j] ([src][dst]):
 *   u = sum_i read[i] X_i                          what the sublayer reads
 *   X'_j = sum_i mix[i][j] X_i + write[j] * f(u)   out = mean_i X^L_i
 * Orientation (fixed, tested): mix[src][dst] moves stream src into stream dst; in the mHC paper's
 * convention X' = H X the mixing matrix is H = mix^T. How the coefficients come from the state is
 * the kind's business (mhc.c: Sinkhorn-projected, hc.c: static + tanh); everything else is here. */
#ifndef RB_STREAMS_H
#define RB_STREAMS_H
#include "variant.h"

#define STREAMS_MAX_N 8 /* mhc_streams' upper bound */

/* Statistics of a stream-mixing matrix H (X' = H X, n x n) per site, each a mean over tokens, in
 * the order of mhc.csv's columns (docs/formats.md; VariantOps.mixing_gains, RB_MIX_NSTATS).
 * Gains: forward = max row sum of |H| (Amax), backward = max column sum of |H|, composite = the
 * same for the product H_l ... H_1 of all sites so far. Row and column sums are signed (the
 * smallest shows attenuation that Amax hides). Distance from identity = ||H - I||_F. */
typedef enum {
    MIX_FWD_GAIN,
    MIX_BWD_GAIN,
    MIX_COMPOSITE_FWD_GAIN,
    MIX_COMPOSITE_BWD_GAIN,
    MIX_ROW_SUM_MIN,
    MIX_ROW_SUM_MAX,
    MIX_COL_SUM_MIN,
    MIX_COL_SUM_MAX,
    MIX_DIST_IDENTITY,
    MIX_NSTATS
} MixStat;
_Static_assert(MIX_NSTATS == RB_MIX_NSTATS, "one MixStat per gain column of mhc.csv");

struct StreamKind;

/* The private state of a multi-stream variant (Stream.state, VariantOps.state_size): its shape and
 * where its slices lie, set by streams_setup when the model is built. */
typedef struct {
    const struct StreamKind *kind;
    int L, n, d, ntok, K, R; /* K = 2n + n^2 coefficients; R raw projections per token */
    int iters;               /* mhc's Sinkhorn iterations (0 for hc) */
    size_t site_params;
    float *X;    /* (L + 1, ntok, n, d) stream states */
    float *u;    /* (L, ntok, d) sublayer inputs */
    float *out;  /* (ntok, d) mean of the last state */
    float *coef; /* (L, ntok, K): read (n), write (n), mix (n x n, [src][dst]) */
    float *raw;  /* (L, R per token x ntok): the kind's projections of the state, laid out by the
                    kind (coefficient-major: the sgemm shapes OpenBLAS runs fastest) */
    float
        *rinv; /* (L, ntok, n): 1/rms of the state (mhc: one over vec(X) in [0]; hc: per stream) */
    float *dX[2];  /* scratch (ntok, n, d): gradient of the state after / before a site */
    float *dy;     /* scratch (ntok, d): gradient of the sublayer output */
    float *dcoef;  /* scratch (ntok, K), then the kind's own gradients (mhc: the logits') */
    float *draw;   /* scratch (R per token x ntok), laid out like raw */
    float *dprojT; /* scratch (R, nd), at least the projection's weights: their gradient,
                      transposed, before it is added (streams_weight_grad) */
    float *dscal;  /* scratch (ntok, 2): per-token gradients of two scalars (hc: s_alpha, s_beta) */
} Streams;

/* What distinguishes mhc from hc: how the coefficients of a site are computed from its state. */
typedef struct StreamKind {
    int norm_per_stream;         /* 1/rms per stream (hc) or one over vec(X) (mhc) */
    int (*raw_per_token)(int n); /* R */
    size_t (*site_param_count)(int n, int d);
    void (*init_site)(float *p, int n, int d, int l, Rng *rng); /* p zeroed before */
    void (*coefficients)(const Streams *y, const float *p, int l);
    /* Optional: the mix coefficients' backward for all tokens of site l at once, before the
     * per-token pass of token_backward (mhc: Sinkhorn across lanes of tokens). */
    void (*mix_backward)(const Streams *y, const float *p, int l);
    /* One token's coefficient backward: dcoef (read, write, mix) -> the projection's gradient
     * (draw) and k[i], the factor of X_i in dX_i through the norm(s). */
    void (*token_backward)(const Streams *y, const float *p, int l, int t, float *k);
    /* The site's parameter gradients and the state's gradient through the projection. */
    void (*params_backward)(const Streams *y, const float *p, float *g, int l);
    double (*coef_flops)(const Streams *y); /* per token and site: projection fwd+bwd, Sinkhorn */
    /* The kind's options, entries of its variant's own table: the stream count n, and the Sinkhorn
     * iterations (NULL for a kind that has none, norm_per_stream = 1) */
    const VariantOption *opt_streams, *opt_iters;
} StreamKind;

float *streams_state(const Streams *y, int l);
float *streams_site_coef(const Streams *y, int l);
float *streams_site_raw(const Streams *y, int l);
float *streams_site_rinv(const Streams *y, int l);
/* The projection's weight gradient for both kinds: gW (rows x cols) += X^T dz, with dz = y->draw
 * kept coefficient-major (cols x inner) and X (inner x rows). One sgemm dz X into y->dprojT
 * (cols x rows: the shape OpenBLAS runs fast), then added to gW transposed. */
void streams_weight_grad(const Streams *y, float *gW, const float *X, int rows, int cols,
                         int inner);
/* The same with the gradient dz and the transposed temporary (cols x rows) given: what frac.c,
 * whose state is not a Streams, shares with both kinds. */
void streams_proj_weight_grad(float *gW, const float *dz, float *tmp, const float *X, int rows,
                              int cols, int inner);
/* Prepares the projection's three products (cols coefficients per row of width floats, inner rows:
 * z^T = W^T X^T, dX += dz^T W^T, dW^T = dz X) for the selected backend and precision. */
void streams_prepare_projection(int cols, int inner, int width);
/* The MixStats of every site's n x n mixing matrix (mix[src][dst] of token t at site l at
 * coef + (l ntok + t) K + off; H = mix^T), token means, into stats (VariantOps.mixing_gains). */
int streams_mix_gains(const float *coef, int L, int ntok, int K, int off, int n, double *stats);

/* The VariantOps functions shared by both kinds (the kind comes from Config.vt->flavour). */
size_t streams_params(const Config *c);
void streams_init(const Config *c, float *params, Rng *rng);
size_t streams_acts(const Config *c, int ntok);
size_t streams_scratch(const Config *c, int ntok);
void streams_setup(Stream *st);
void streams_begin(Stream *st, const float *emb);
const float *streams_input(Stream *st, int l);
void streams_commit(Stream *st, int l, const float *v);
const float *streams_output(Stream *st);
void streams_output_backward(Stream *st, const float *dout);
const float *streams_commit_backward(Stream *st, int l);
void streams_input_backward(Stream *st, int l, const float *du);
void streams_begin_backward(Stream *st, float *demb);
double streams_flops(const Config *c);
VariantTraffic streams_traffic(const Config *c);
int streams_gains(const Stream *st, double *stats);
double streams_stream_rms(const Stream *st, int l);

#define STREAMS_OPS                                                                                \
    .param_count = streams_params, .init_params = streams_init, .act_count = streams_acts,         \
    .scratch_count = streams_scratch, .state_size = sizeof(Streams), .setup = streams_setup,       \
    .begin = streams_begin, .input = streams_input, .commit = streams_commit,                      \
    .output = streams_output, .output_backward = streams_output_backward,                          \
    .commit_backward = streams_commit_backward, .input_backward = streams_input_backward,          \
    .begin_backward = streams_begin_backward, .flops_per_token = streams_flops,                    \
    .traffic_per_token = streams_traffic, .mixing_gains = streams_gains,                           \
    .stream_rms = streams_stream_rms

/* mhc_streams, shared by both kinds; no paper_better (NULL): the default stands as the paper's
 * chosen design, as for sinkhorn_iters */
#define STREAMS_OPTION_N                                                                           \
    { "mhc_streams", "streams", 2, STREAMS_MAX_N, 4, NULL, "number of residual streams n", NULL }

#endif
