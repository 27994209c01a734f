/* The shared decoder-only transformer: parameters, gradients, AdamW moments and activations each
 * live in one contiguous buffer sized up front; no allocation happens in forward/backward. */
#ifndef RB_MODEL_H
#define RB_MODEL_H
#include <stddef.h>

#include "config.h"
#include "variant.h"

typedef struct {
    float *wte;     /* (V, C) token embedding */
    float *attn_g;  /* (n_layer, C) pre-norm gain of each attention sublayer */
    float *wqkv;    /* (n_layer, 3C, C) */
    float *wo;      /* (n_layer, C, C) */
    float *mlp_g;   /* (n_layer, C) */
    float *w13;     /* (n_layer, 2H, C): rows [0,H) gate W1, rows [H,2H) up W3 */
    float *w2;      /* (n_layer, C, H) */
    float *final_g; /* (C) */
    float *head;    /* (V, C); the embedding itself when tied */
    float *conn;    /* the variant's connection parameters */
} ParamPtrs;

typedef struct {
    const char *name;
    size_t offset, count;
    int decay; /* AdamW weight decay applies (matrices only) */
} ParamTensor;

typedef struct {
    float *emb;     /* (N, C) e */
    float *ln;      /* (L, N, C) normalized input of each sublayer */
    float *rstd;    /* (L, N) */
    float *qkv;     /* (n_layer, N, 3C) after RoPE */
    float *probs;   /* (n_layer, B, nh, T, T) causal part only */
    float *atty;    /* (n_layer, N, C) attention output before projection */
    float *h13;     /* (n_layer, N, 2H) */
    float *gact;    /* (n_layer, N, H) silu(a) * b */
    float *sub_out; /* (L, N, C) what each sublayer writes: v_l */
    float *lnf;     /* (N, C) final norm output */
    float *rstdf;   /* (N) */
    float *logits;  /* (N, V); holds dlogits after backward */
    float *losses;  /* (N) */
    float *lse;     /* (N) */
    float *conn;    /* the variant's saved activations */
    /* only for a variant with attn_inputs (NULL otherwise): the k and v inputs' normalized
     * copies (n_layer, 2, N, C) and rstd (n_layer, 2, N); q's are ln and rstd of the sublayer */
    float *ln_kv, *rstd_kv;
} ActPtrs;

typedef struct {
    float *dlnf, *dout, *demb, *dh, *dln, *dqkv, *datty, *dh13, *dg;
    /* Per-thread scratch, one row per thread of Model.nthreads (the thread count at build): */
    float *att;      /* nthreads * RB_ATT_TILE * T */
    float *partials; /* nthreads * C: rmsnorm gains' and variants' (Stream.partials) partial sums */
    float *conn;     /* the variant's backward scratch */
    float *dh_kv;    /* only with attn_inputs: the k and v inputs' gradients (2, N, C) */
} ScratchPtrs;

#define RB_MAX_TENSORS 16

/* Phases of a training step, for the per-phase breakdown of `resbench bench`. */
enum {
    RB_PH_MATMUL,
    RB_PH_ATTENTION,
    RB_PH_ELEMENTWISE,
    RB_PH_VARIANT,
    RB_PH_OPTIMIZER,
    RB_PH_COUNT
};

/* The variant phase split by interface call (bench's "where the variant phase goes"). */
enum {
    RB_VC_BEGIN,
    RB_VC_INPUT,
    RB_VC_COMMIT,
    RB_VC_OUTPUT,
    RB_VC_OUTPUT_BWD,
    RB_VC_COMMIT_BWD,
    RB_VC_INPUT_BWD,
    RB_VC_BEGIN_BWD,
    RB_VC_COUNT
};

typedef struct Model {
    Config cfg;
    /* nthreads: omp_get_max_threads() at build, the size of the per-thread scratch and so the
     * most threads a step may use; model_forward/model_backward refuse more (model_check_threads)
     */
    int V, C, n_layer, L, nh, hs, H, T, B, N, nthreads;
    int backend, precision; /* RB_GEMM_*, RB_PREC_* (core/gemm.h), from cfg */
    const VariantOps *vops;
    Stream stream;
    ParamTensor tensors[RB_MAX_TENSORS];
    int n_tensors;
    size_t n_params, n_acts, n_scratch;
    float *params, *grads, *adam_m, *adam_v; /* optimizer=muon: adam_m holds the matrices'
                                                momentum, their adam_v stays 0 */
    /* optimizer=muon (NULL / 0 under adamw): the matrices it orthogonalises (offsets into
     * params), whether each run is weight-decayed, a byte per parameter (1 = a matrix entry,
     * AdamW skips it), and the Newton-Schulz work space (core/optim.c), all sized at build */
    MatrixRun mat[RB_MAX_MATRIX_RUNS];
    int mat_decay[RB_MAX_MATRIX_RUNS], n_mat;
    unsigned char *is_mat;
    float *ns_work;
    size_t n_ns_work;
    float *acts_mem, *scratch_mem;
    ParamPtrs p, g;
    ActPtrs a;
    ScratchPtrs s;
    float *rope_cos, *rope_sin;
    int *inputs, *targets;           /* (N) each: the current batch */
    const float *sub_in[RB_MAX_SUB]; /* what each sublayer read (owned by the variant) */
    const float *stream_out;         /* what the final norm read */
    /* attention sublayers whose q, k, v read three inputs in the last forward (attn_inputs) */
    AttnInputs attn_in[RB_MAX_SUB / 2];
    unsigned char attn_split[RB_MAX_SUB / 2];
    double *grad_rms; /* if set (L + 1 entries): RMS of dLoss/d(input) of each sublayer and of the
                         final norm, filled by model_backward (profiles) */
    double *phase_s;  /* if set (RB_PH_COUNT entries): seconds spent per phase, accumulated by
                         model_forward/model_backward (bench) */
    double *call_s;   /* if set with phase_s (RB_VC_COUNT entries): the variant phase per call */
    double phase_t;
    double loss;
} Model;

/* The hidden weight matrices of the model cfg describes (the core's: q, k, v, o, W1, W3, W2 of
 * each block; then the variant's), offsets into the whole parameter buffer; decay[i] = 1 when
 * run i lies in a weight-decayed tensor. Returns the number of runs (at most
 * RB_MAX_MATRIX_RUNS), or -1 with rb_error() when the variant declares too many or a matrix
 * outside its slice. */
int model_matrices(const Config *cfg, MatrixRun *out, int *decay);
/* Parameters of the model cfg describes (without building it). */
size_t model_param_count(const Config *cfg);
/* Validates cfg, allocates every buffer and initializes parameters from cfg->seed. */
int model_build(Model *m, const Config *cfg);
/* The same with a batch of `rows` sequences instead of cfg->batch_size (one data-parallel rank's
 * share; cfg stays the experiment's config). */
int model_build_rows(Model *m, const Config *cfg, int rows);
void model_free(Model *m);
/* The variant's stream over ntok tokens of m with its own buffers (act_count and scratch_count
 * floats for ntok) and its private state (allocated zeroed here, filled by the variant's setup):
 * the model's own, or inference's (core/infer.c). model_stream_free releases the state. */
Stream model_stream(const Model *m, float *acts, float *scratch, int ntok);
void model_stream_free(Stream *st);
void model_init_params(Model *m);
/* tokens: B rows of T+1 tokens; inputs = row[0..T-1], targets = row[1..T]. */
void model_set_batch(Model *m, const int *rows);
/* 0 when a step can run at the current thread count (omp_get_max_threads() <= m->nthreads), else
 * -1 with rb_error() naming both counts. Fewer threads than at build are fine (and give the same
 * losses as a model built at that count). */
int model_check_threads(const Model *m);
/* Forward over the current batch; the mean loss lands in m->loss. 0, or -1 with rb_error() when
 * model_check_threads fails (nothing runs) or a product failed (gemm_take_error; the loss is then
 * meaningless). So does model_backward. */
int model_forward(Model *m);
void model_zero_grad(Model *m);
/* Backward of the last forward (its logits are overwritten with their gradient). 0 or -1. */
int model_backward(Model *m);
/* Bytes of params + grads + AdamW moments + activations + scratch (the analytic memory estimate).
 */
size_t model_memory_bytes(const Model *m);
/* Describes where the first non-finite gradient entry is ("tensor w2 of sublayer 4 (MLP of
 * block 2)"); 0 if every gradient is finite. */
int model_locate_nonfinite_grad(const Model *m, char *buf, size_t n);
/* Adds the time since the last mark to phase ph (no-op unless m->phase_s is set). */
void model_phase_mark(Model *m, int ph);
void model_phase_start(Model *m);
/* The same for the variant phase, also adding the time to the interface call `call` (RB_VC_*). */
void model_variant_mark(Model *m, int call);

/* core/flops.c: analytic FLOPs per training step (forward + backward), documented there. */
double flops_per_token(const Config *c);
double flops_per_step(const Config *c);
/* The optimizer's own FLOPs per step: Muon's Newton-Schulz products (0 under adamw; elementwise
 * updates are not counted, like norms) */
double optimizer_flops_per_step(const Config *c);

#endif
