/* Forward-only inference with a KV cache (infer.h). */
#include "infer.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "ops.h"
#include "util.h"

int infer_init(Infer *s, const Model *m, int B, int max_chunk) {
    memset(s, 0, sizeof *s);
    if (B < 1 || max_chunk < 1 || max_chunk > m->T)
        return rb_fail("inference: chunk of %d tokens outside [1, seq_len=%d]", max_chunk, m->T);
    s->m = m;
    s->B = B;
    s->T = m->T;
    s->max_chunk = max_chunk;
    size_t C = m->C, H = m->H, L = m->L, N = (size_t)B * max_chunk;
    size_t cache = (size_t)m->n_layer * B * m->T * C;
    s->kcache = rb_calloc(cache, sizeof(float), "KV cache");
    s->vcache = rb_calloc(cache, sizeof(float), "KV cache");
    s->emb = rb_calloc(N * C, sizeof(float), "inference");
    s->ln = rb_calloc(N * C, sizeof(float), "inference");
    s->rstd = rb_calloc(N, sizeof(float), "inference");
    s->qkv = rb_calloc(N * 3 * C, sizeof(float), "inference");
    s->atty = rb_calloc(N * C, sizeof(float), "inference");
    s->h13 = rb_calloc(N * 2 * H, sizeof(float), "inference");
    s->g = rb_calloc(N * H, sizeof(float), "inference");
    s->sub_out = rb_calloc(L * N * C, sizeof(float), "inference");
    s->lnf = rb_calloc(N * C, sizeof(float), "inference");
    s->rstdf = rb_calloc(N, sizeof(float), "inference");
    s->scores = rb_calloc((size_t)B * m->nh * max_chunk * m->T, sizeof(float), "inference");
    s->logits = rb_calloc(N * m->V, sizeof(float), "inference");
    s->tokens = rb_calloc(N, sizeof(int), "inference");
    s->vacts_n = m->vops->act_count(&m->cfg, (int)N);
    s->vscratch_n = m->vops->scratch_count(&m->cfg, (int)N);
    s->vacts = rb_calloc(s->vacts_n + 1, sizeof(float), "inference");
    s->vscratch = rb_calloc(s->vscratch_n + 1, sizeof(float), "inference");
    s->stream = model_stream(m, s->vacts, s->vscratch, (int)N);
    return 0;
}

void infer_free(Infer *s) {
    float *bufs[] = {s->kcache, s->vcache, s->emb,   s->ln,      s->rstd, s->qkv,
                     s->atty,   s->h13,    s->g,     s->sub_out, s->lnf,  s->rstdf,
                     s->scores, s->logits, s->vacts, s->vscratch};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(s->tokens);
    model_stream_free(&s->stream);
    memset(s, 0, sizeof *s);
}

void infer_reset(Infer *s) {
    s->pos = 0;
}

size_t infer_kv_bytes(const Infer *s) {
    return 2 * (size_t)s->m->n_layer * s->B * s->T * s->m->C * sizeof(float);
}

size_t infer_variant_bytes_per_token(const Infer *s) {
    return s->vacts_n * sizeof(float) / ((size_t)s->B * s->max_chunk);
}

/* RoPE of one head vector x (hs entries) at absolute position p (the training tables). */
static void rope_at(float *x, const Model *m, int p) {
    int half = m->hs / 2;
    rope_rotate(x, m->rope_cos + (size_t)p * half, m->rope_sin + (size_t)p * half, half, 1.0f);
}

/* Attention of the chunk (n tokens per sequence at positions pos..pos+n-1) over the cache: the
 * chunk's keys and values are appended, then per sequence and head one sgemm for the scores of
 * the chunk against keys 0..pos+n-1, a causal softmax, one sgemm with the values. */
static void attention_cached(Infer *s, int layer, int n) {
    const Model *m = s->m;
    int C = m->C, nh = m->nh, hs = m->hs, T = s->T, pos = s->pos, len = pos + n;
    float scale = 1.0f / sqrtf((float)hs);
    size_t per_layer = (size_t)s->B * nh * T * hs;
    float *K = s->kcache + layer * per_layer, *V = s->vcache + layer * per_layer;
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < s->B * nh; bh++) {
        int b = bh / nh, h = bh % nh;
        float *kb = K + (size_t)bh * T * hs, *vb = V + (size_t)bh * T * hs;
        for (int j = 0; j < n; j++) {
            float *q = s->qkv + ((size_t)b * n + j) * 3 * C + h * hs;
            rope_at(q, m, pos + j);
            rope_at(q + C, m, pos + j);
            memcpy(kb + (size_t)(pos + j) * hs, q + C, hs * sizeof(float));
            memcpy(vb + (size_t)(pos + j) * hs, q + 2 * C, hs * sizeof(float));
        }
        float *sc = s->scores + (size_t)bh * s->max_chunk * T;
        const float *q0 = s->qkv + (size_t)b * n * 3 * C + h * hs;
        gemm_f32(0, 1, n, len, hs, scale, q0, 3 * C, kb, hs, 0.0f, sc, T);
        for (int j = 0; j < n; j++) { /* row j sees positions 0..pos+j */
            float *row = sc + (size_t)j * T, mx = row[0], sum = 0;
            int last = pos + j;
            for (int t = 1; t <= last; t++) mx = row[t] > mx ? row[t] : mx;
            for (int t = 0; t <= last; t++) sum += row[t] = expf(row[t] - mx);
            float inv = 1.0f / sum;
            for (int t = 0; t <= last; t++) row[t] *= inv;
            for (int t = last + 1; t < len; t++) row[t] = 0.0f;
        }
        gemm_f32(0, 0, n, hs, len, 1.0f, sc, T, vb, hs, 0.0f, s->atty + (size_t)b * n * C + h * hs,
                 C);
    }
}

static void attn_sublayer(Infer *s, int layer, const float *h, float *y, int N, int n) {
    const Model *m = s->m;
    size_t C = m->C;
    rmsnorm_forward(s->ln, s->rstd, h, m->p.attn_g + layer * C, N, m->C);
    matmul_forward(s->qkv, s->ln, m->p.wqkv + layer * 3 * C * C, N, m->C, 3 * m->C);
    attention_cached(s, layer, n);
    matmul_forward(y, s->atty, m->p.wo + layer * C * C, N, m->C, m->C);
}

/* q, k, v from three inputs (VariantOps.attn_inputs), as core/model.c's attn_forward_split: each
 * through its pre-norm and its C rows of W_qkv into its third of qkv (y holds the projection). */
static void attn_sublayer_split(Infer *s, int layer, const AttnInputs *in, float *y, int N, int n) {
    const Model *m = s->m;
    size_t C = m->C;
    for (int k = 0; k < 3; k++) {
        const float *g = in->gain[k] ? in->gain[k] : m->p.attn_g + layer * C;
        rmsnorm_forward(s->ln, s->rstd, in->h[k], g, N, m->C);
        matmul_forward(y, s->ln, m->p.wqkv + layer * 3 * C * C + k * C * C, N, m->C, m->C);
        for (int t = 0; t < N; t++)
            memcpy(s->qkv + (size_t)t * 3 * C + k * C, y + (size_t)t * C, C * sizeof(float));
    }
    attention_cached(s, layer, n);
    matmul_forward(y, s->atty, m->p.wo + layer * C * C, N, m->C, m->C);
}

static void mlp_sublayer(Infer *s, int layer, const float *h, float *y, int N) {
    const Model *m = s->m;
    size_t C = m->C, H = m->H;
    rmsnorm_forward(s->ln, s->rstd, h, m->p.mlp_g + layer * C, N, m->C);
    matmul_forward(s->h13, s->ln, m->p.w13 + layer * 2 * H * C, N, m->C, 2 * m->H);
    swiglu_forward(s->g, s->h13, N, m->H);
    matmul_forward(y, s->g, m->p.w2 + layer * C * H, N, m->H, m->C);
}

const float *infer_step(Infer *s, const int *tokens, int n) {
    const Model *m = s->m;
    const VariantOps *v = m->vops;
    int N = s->B * n;
    size_t C = m->C;
    if (n < 1 || n > s->max_chunk || s->pos + n > s->T) { /* the KV cache holds T positions */
        rb_fail("infer: a chunk of %d tokens at position %d (chunks of at most %d, positions "
                "below seq_len=%d)",
                n, s->pos, s->max_chunk, s->T);
        return NULL;
    }
    if (model_check_threads(m) != 0) return NULL; /* the variant's partials are the model's */
    gemm_select(m->backend, m->precision);        /* the model's GEMM backend and precision */
    memcpy(s->tokens, tokens, (size_t)N * sizeof(int));
    encoder_forward(s->emb, s->tokens, m->p.wte, N, m->C);
    s->stream.ntok = N; /* the variant's state for this chunk, inside its buffers */
    if (v->setup) v->setup(&s->stream);
    v->begin(&s->stream, s->emb);
    for (int l = 0; l < m->L; l++) {
        float *y = s->sub_out + (size_t)l * N * C;
        AttnInputs in;
        if (l % 2 == 0 && v->attn_inputs && v->attn_inputs(&s->stream, l, &in)) {
            attn_sublayer_split(s, l / 2, &in, y, N, n);
            v->commit(&s->stream, l, y);
            continue;
        }
        const float *h = v->input(&s->stream, l);
        if (l % 2 == 0)
            attn_sublayer(s, l / 2, h, y, N, n);
        else
            mlp_sublayer(s, l / 2, h, y, N);
        v->commit(&s->stream, l, y);
    }
    const float *out = v->output(&s->stream);
    rmsnorm_forward(s->lnf, s->rstdf, out, m->p.final_g, N, m->C);
    matmul_forward(s->logits, s->lnf, m->p.head, N, m->C, m->V);
    s->pos += n;
    return gemm_take_error() == 0 ? s->logits : NULL;
}

int infer_sample(const float *logits, int V, double temperature, int top_k, Rng *rng,
                 float *scratch) {
    int best = 0;
    for (int i = 1; i < V; i++)
        if (logits[i] > logits[best]) best = i;
    if (temperature <= 0 || top_k == 1) return best;
    /* the k-th largest logit as the cut (ties at the cut all stay in) */
    float cut = -INFINITY;
    if (top_k > 0 && top_k < V) {
        float *sorted = scratch;
        memcpy(sorted, logits, (size_t)V * sizeof(float));
        for (int k = 0; k < top_k; k++) { /* partial selection: top_k passes */
            int arg = k;
            for (int i = k + 1; i < V; i++)
                if (sorted[i] > sorted[arg]) arg = i;
            float t = sorted[k];
            sorted[k] = sorted[arg];
            sorted[arg] = t;
        }
        cut = sorted[top_k - 1];
    }
    double sum = 0, mx = logits[best];
    for (int i = 0; i < V; i++)
        if (logits[i] >= cut) sum += exp((logits[i] - mx) / temperature);
    double u = rng_uniform(rng) * sum, acc = 0;
    int last = best;
    for (int i = 0; i < V; i++) {
        if (logits[i] < cut) continue;
        acc += exp((logits[i] - mx) / temperature);
        last = i;
        if (u < acc) return i;
    }
    return last;
}
