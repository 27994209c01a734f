/* Inference: forward-only prefill and decode with a KV cache (docs/variants.md, "Inference").
 * A chunk of n new tokens per sequence (n = the prompt for prefill, 1 for decode) runs through the
 * same sublayers and the same residual-stream interface as training, with no activations kept for
 * a backward: attention reads the cached keys and values of every earlier position, and the
 * variant mixes over depth token by token, so it needs no state across positions (what it keeps
 * per token and layer lives only for the chunk; docs/variants.md lists it per variant). */
#ifndef RB_INFER_H
#define RB_INFER_H
#include <stddef.h>

#include "model.h"

typedef struct {
    const Model *m;
    int B, T, max_chunk,
        pos;                /* sequences, context length (seq_len), largest chunk, positions done */
    float *kcache, *vcache; /* (n_layer, B, nh, T, hs) each; keys after RoPE */
    Stream stream;          /* the variant's stream over B * n chunk tokens */
    float *vacts, *vscratch; /* its buffers, sized for B * max_chunk tokens */
    size_t vacts_n, vscratch_n;
    float *emb, *ln, *rstd, *qkv, *atty, *h13, *g, *sub_out, *lnf, *rstdf, *scores, *logits;
    int *tokens;
} Infer;

/* Buffers for B sequences and chunks of up to max_chunk tokens (<= seq_len). Allocates once;
 * infer_step allocates nothing. 0, or -1 with rb_error(). */
int infer_init(Infer *s, const Model *m, int B, int max_chunk);
void infer_free(Infer *s);
/* Forgets the context (pos = 0). */
void infer_reset(Infer *s);
/* Feeds n new tokens per sequence (tokens[b * n + j], positions pos..pos+n-1, pos + n <= T) and
 * returns the logits, (B * n, V) with row b * n + j for position pos + j. NULL with rb_error()
 * for a chunk that does not fit (n outside 1..max_chunk, or past the KV cache), more threads than
 * the model was built for (model_check_threads; in both cases nothing runs) or a failed product
 * (gemm_take_error). */
const float *infer_step(Infer *s, const int *tokens, int n);
/* Bytes of the KV cache, and of the variant's per-chunk state for one token (its activations). */
size_t infer_kv_bytes(const Infer *s);
size_t infer_variant_bytes_per_token(const Infer *s);

/* One token from logits (V entries): temperature 0 takes the argmax; otherwise softmax of
 * logits / temperature over the top_k largest (top_k <= 0: all), drawn with rng. scratch holds V
 * floats for the top-k selection (the caller allocates it once, not per token). */
int infer_sample(const float *logits, int V, double temperature, int top_k, Rng *rng,
                 float *scratch);

#endif
