/* The residual-stream interface (docs/architecture.md). The core owns it and calls only these
 * functions; it never knows which variant runs. The table of variants lives above the core
 * (variants/registry.c) and reaches it through the config (Config.vt, resolved by config_set from
 * the table the command layer installs with config_use_variants). Sublayers are numbered l = 0..L-1
 * here (the spec's 1..L), L = 2*n_layer: even l = attention, odd l = MLP.
 *
 * Forward:  begin(emb); for l: h = input(l); y = f_l(h); commit(l, y); out = output()
 * Backward: output_backward(dout); for l = L-1..0: dy = commit_backward(l); dh = f_l'(dy);
 *           input_backward(l, dh); begin_backward(demb)
 *
 * Optional split attention input (attn_inputs, NULL for every variant that does not need it): for
 * an attention sublayer l the core first asks attn_inputs(l, &in); when it returns 1, the query,
 * key and value projections read in.h[0], in.h[1], in.h[2] (each through its own pre-norm) instead
 * of input(l), and the backward hands the three input gradients to attn_inputs_backward(l, dh)
 * instead of input_backward(l, dh). When it returns 0 (or the hook is NULL) the sublayer runs
 * the fused one-input path.
 *
 * Pointers returned by input() (and in attn_inputs' in.h) must stay valid until the backward pass
 * is over (the sublayer's norm backward reads h). y passed to commit() lives in the core's
 * activation buffer and stays valid too, so a variant may keep the pointer instead of copying
 * (stream->value[l + 1]). */
#ifndef RB_VARIANT_H
#define RB_VARIANT_H
#include <stddef.h>

#include "config.h"
#include "rng.h"

#define RB_MAX_SUB 256

/* The statistics mixing_gains reports per site (sublayer), the columns of mhc.csv after step and
 * layer, in the order docs/formats.md gives and core/runlog.c's header names them. Which statistic
 * sits at which index is the multi-stream variants' business (MixStat, variants/streams.h); the
 * core only writes the columns. */
#define RB_MIX_NSTATS 9

/* Floats a variant's phase moves per token and step, and in how many passes (VariantOps). */
typedef struct {
    double floats, passes;
} VariantTraffic;

typedef struct Stream {
    const Config *cfg;
    int n_sub, d, ntok; /* L sublayers, width C, tokens N in the batch */
    float *params;      /* the variant's slice of the parameter buffer */
    float *grads;       /* ... of the gradient buffer (zeroed before each backward) */
    float *acts;        /* ... of the activation buffer (saved for backward) */
    float *scratch;     /* ... of the backward scratch buffer */
    /* nthreads * d floats for deterministic reductions over tokens, one row per thread;
     * nthreads = omp_get_max_threads() when the model was built, which no step exceeds (the core
     * refuses more: model_check_threads), so a variant may size its own per-thread scratch with
     * omp_get_max_threads() in scratch_count */
    float *partials;
    /* value[0] = embedding, value[l + 1] = output of sublayer l, set by the variant if it wants */
    const float *value[RB_MAX_SUB + 1];
    /* The variant's private state, a struct of its own (VariantOps.state_size bytes; NULL when
     * 0): allocated zeroed once with the stream (model_stream) and freed with it; setup() fills
     * it (shapes, options, where its slices lie), every other call reads it in place. */
    void *state;
} Stream;

/* An option of a variant (`attnres_blocks = 4` in a config, or `variant = attnres_block:blocks=4`):
 * an integer in [min, max], or, when choices is set, one of the NULL-terminated names (stored as
 * its index). Only the chosen variant's options enter the run's config and its hash. */
typedef struct VariantOption {
    const char *key;  /* config key, unique among all variants (shared only by flavours) */
    const char *name; /* short name inside a variant spec */
    double min, max, def;
    const char *const *choices;
    const char *help;
    /* The paper's direction for an arm that sets this option away from its default (report's
     * claim 6, docs/usage.md): the value, as a spec writes it ("input"), that the variant's paper
     * reports better (lower loss) than its chosen design; NULL when the default is the paper's
     * chosen design and every other value is reported worse or equal. A non-NULL entry cites the
     * paper's table or section in a comment. */
    const char *paper_better;
} VariantOption;

#define RB_MAX_VARIANT_OPTIONS 8

/* `count` weight matrices of rows x cols floats (row-major), the first `offset` floats into a
 * parameter slice, each `stride` floats after the previous: what optimizer=muon orthogonalises
 * (docs/usage.md, "Optimizers"). Vectors and scalars are never declared; they stay with AdamW. */
typedef struct MatrixRun {
    size_t offset, stride;
    int rows, cols, count;
} MatrixRun;

/* the core's four runs and the variant's together (a variant with one matrix per block and
 * kind, as mudd's generators, needs 2 n_layer) */
#define RB_MAX_MATRIX_RUNS (4 + RB_MAX_SUB)

/* What the query, key and value projections of an attention sublayer read when a variant feeds
 * them separately (VariantOps.attn_inputs; docs/architecture.md, "The variant interface"). Index
 * k = 0, 1, 2 is q, k, v. Each input goes through the sublayer's RMSNorm with gain[k] and then
 * through its own C rows of the sublayer's W_qkv. */
typedef struct AttnInputs {
    const float *h[3];    /* ntok x d each, valid until the backward is over */
    const float *gain[3]; /* d floats each; NULL: the sublayer's own pre-norm gain (attn_g) */
    float *dgain[3];      /* where gain[k]'s gradient accumulates; NULL when gain[k] is NULL */
} AttnInputs;

/* A variant, as the core sees it (docs/architecture.md, "The variant interface"): its identity and
 * options, its sizes and initial parameters, its private state, the math of one step (begin ..
 * begin_backward), two counts and the diagnostics the run log writes. */
typedef struct VariantOps {
    /* ---- identity and options (config.c resolves and checks them) ---- */
    const char *name;
    const char *summary;
    /* Which form of an implementation several entries share, as data only that implementation
     * reads (attnres.c: Full or Block; streams.c: the StreamKind of mhc or hc); NULL for none. */
    const void *flavour;
    const VariantOption *options; /* n_options entries */
    int n_options;
    int (*check_config)(const Config *c); /* rb_fail + -1 on a bad combination, or NULL */
    /* Optional: make the options valid for a new shape the way `sweep` documents (e.g. the number
     * of blocks becomes the largest divisor of L not above the requested one). */
    void (*fit_shape)(Config *c);
    /* ---- sizes, initial parameters and private state (model_build) ---- */
    size_t (*param_count)(const Config *c);
    void (*init_params)(const Config *c, float *params, Rng *rng);
    size_t (*act_count)(const Config *c, int ntok);
    size_t (*scratch_count)(const Config *c, int ntok);
    size_t state_size; /* bytes of its private state (Stream.state), 0 for none */
    /* Optional: fills st->state after the slices are set (model_build; inference again for each
     * chunk's token count). Allocates nothing. */
    void (*setup)(Stream *st);
    /* Optional: which of its parameters are hidden weight matrices (a projection such as mhc's
     * phi), offsets within the variant's slice; writes at most max runs and returns how many.
     * NULL: none (every parameter a vector or scalar, updated by AdamW under either optimizer). */
    int (*matrices)(const Config *c, MatrixRun *out, int max);
    /* ---- the math of one step (the order at the top of this file) ---- */
    void (*begin)(Stream *st, const float *emb);
    const float *(*input)(Stream *st, int l);
    void (*commit)(Stream *st, int l, const float *y);
    const float *(*output)(Stream *st);
    void (*output_backward)(Stream *st, const float *dout);
    const float *(*commit_backward)(Stream *st, int l);
    void (*input_backward)(Stream *st, int l, const float *dh);
    void (*begin_backward)(Stream *st, float *demb); /* writes (not accumulates) demb */
    /* Optional (the order at the top of this file): 1 and *in filled when attention sublayer l
     * (even l) reads its q, k and v from three inputs, called in place of input(l); 0 to read
     * input(l) as usual. Its backward, in place of input_backward(l, dh) wherever it returned 1:
     * dh[k] = dLoss/d in.h[k], k = q, k, v. NULL (every variant with one input per sublayer):
     * the core runs the fused path with no extra memory or work. */
    int (*attn_inputs)(Stream *st, int l, AttnInputs *in);
    void (*attn_inputs_backward)(Stream *st, int l, const float *const dh[3]);
    /* ---- counts of that math ---- */
    /* its own FLOPs per token, forward + backward: the core's FLOP counter (core/flops.c) adds
     * them to the sublayers', and budget_flops becomes a number of steps by that count */
    double (*flops_per_token)(const Config *c);
    /* The floor model of its memory traffic (docs/performance.md): the floats per token and step,
     * forward + backward, that its interface calls must read and write when every tensor is
     * touched once per call, and the number of such passes over the batch. The core never calls
     * it; `bench` holds the variant's measured phase to it. */
    VariantTraffic (*traffic_per_token)(const Config *c);
    /* ---- diagnostics of the last forward (core/runlog.c, core/profile.c) ---- */
    /* Optional diagnostics of the last forward: the mixing weights consumer c (0-based) put on its
     * sources, averaged over tokens, into w (at most max). Returns the number of sources, or -1
     * past the last consumer. NULL for variants without depth mixing. */
    int (*depth_weights)(const Stream *st, int consumer, double *w, int max);
    /* Optional diagnostics of multi-stream variants, from the last forward: for every site l
     * (sublayer), stats[RB_MIX_NSTATS l + k] for the k-th statistic of its stream-mixing matrix
     * (the k-th gain column of mhc.csv), averaged over tokens. Returns the site count. */
    int (*mixing_gains)(const Stream *st, double *stats);
    /* RMS (over tokens and channels) of the residual state after sublayer l in the last forward:
     * what the dilution figure plots. */
    double (*stream_rms)(const Stream *st, int l);
    /* Optional routing diagnostics (routing.csv; docs/formats.md, docs/variants.md "Routing
     * diagnostics"), for variants with depth_weights. From the last forward: into *entropy the
     * mean over tokens (and heads) of the per-token entropy in nats of consumer c's weights over
     * the sources it reads, each token's weights first divided by their sum (softmax weights
     * already sum to 1; sigmoid gates and DenseFormer's signed betas use their absolute values).
     * Returns the number of sources read (log of it is the uniform entropy), or -1 past the last
     * consumer. */
    int (*depth_entropy)(const Stream *st, int consumer, double *entropy);
    /* Optional knockout for evaluation (knockout.csv, `resbench knockout`): from the next forward
     * on, every consumer omits the term weight x value of source `source` (the numbering of
     * depth_attn.csv) from its mixture, the weights of the other sources as they are; -1 restores
     * the intact model (bit-identical forwards). Forward only: no backward may follow a forward
     * with a knockout set. Returns the number of sources (valid sources are 0..n-1); a source
     * outside them leaves the setting alone. */
    int (*knockout)(Stream *st, int source);
} VariantOps;

/* Option o of c's variant, read through its declaration: o points into c->vt's own table
 * (&table[OPT_X] with the variant's enum of table positions), so a misspelt option does not
 * compile. The value given, or o's default: the integer, or the index of a choice. A pointer
 * outside c->vt's table stops the program naming the key (a variant reads only its own options). */
int config_option_int(const Config *c, const VariantOption *o);
/* Entries of an option table, for VariantOps.n_options: counted, never written by hand. */
#define RB_COUNT(table) ((int)(sizeof(table) / sizeof((table)[0])))
/* The value of option `key` in c by name (given, or the default of the variant that declares it),
 * for code outside the variants (bench's PyTorch peer, tests). A key no installed variant declares
 * stops the program naming it. */
double config_option(const Config *c, const char *key);
/* Option o's value in c as config.ini writes it (a choice's name, or the integer). */
void config_format_option(const Config *c, const VariantOption *o, char *out, size_t n);

#endif
