#include "model.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "ops.h"
#include "optim.h"
#include "util.h"

static int muon_build(Model *m);

static void add_tensor(Model *m, const char *name, size_t *off, size_t count, int decay) {
    m->tensors[m->n_tensors++] = (ParamTensor){name, *off, count, decay};
    *off += count;
}

static void layout_params(Model *m) {
    size_t C = m->C, V = m->V, nl = m->n_layer, H = m->H, off = 0;
    m->n_tensors = 0;
    add_tensor(m, "wte", &off, V * C, 0);
    add_tensor(m, "attn_g", &off, nl * C, 0);
    add_tensor(m, "wqkv", &off, nl * 3 * C * C, 1);
    add_tensor(m, "wo", &off, nl * C * C, 1);
    add_tensor(m, "mlp_g", &off, nl * C, 0);
    add_tensor(m, "w13", &off, nl * 2 * H * C, 1);
    add_tensor(m, "w2", &off, nl * C * H, 1);
    add_tensor(m, "final_g", &off, C, 0);
    if (!m->cfg.tie_embeddings) add_tensor(m, "head", &off, V * C, 1);
    add_tensor(m, "conn", &off, m->vops->param_count(&m->cfg), 0);
    m->n_params = off;
}

static void point_params(Model *m, ParamPtrs *p, float *base) {
    float **slots[] = {&p->wte, &p->attn_g, &p->wqkv,    &p->wo,   &p->mlp_g,
                       &p->w13, &p->w2,     &p->final_g, &p->head, &p->conn};
    int tied = m->cfg.tie_embeddings;
    for (int i = 0, t = 0; i < 10; i++) {
        if (tied && slots[i] == &p->head) {
            p->head = p->wte;
            continue;
        }
        *slots[i] = base + m->tensors[t++].offset;
    }
}

static size_t layout_acts(Model *m, float *base) {
    size_t N = m->N, C = m->C, nl = m->n_layer, L = m->L, H = m->H, off = 0;
    ActPtrs *a = &m->a;
    a->emb = rb_carve(base, &off, N * C);
    a->ln = rb_carve(base, &off, L * N * C);
    a->rstd = rb_carve(base, &off, L * N);
    a->qkv = rb_carve(base, &off, nl * N * 3 * C);
    a->probs = rb_carve(base, &off, nl * (size_t)m->B * m->nh * m->T * m->T);
    a->atty = rb_carve(base, &off, nl * N * C);
    a->h13 = rb_carve(base, &off, nl * N * 2 * H);
    a->gact = rb_carve(base, &off, nl * N * H);
    a->sub_out = rb_carve(base, &off, L * N * C);
    a->lnf = rb_carve(base, &off, N * C);
    a->rstdf = rb_carve(base, &off, N);
    a->logits = rb_carve(base, &off, N * m->V);
    a->losses = rb_carve(base, &off, N);
    a->lse = rb_carve(base, &off, N);
    a->conn = rb_carve(base, &off, m->vops->act_count(&m->cfg, m->N));
    if (m->vops->attn_inputs) { /* split q, k, v inputs: their own norms (nothing for others) */
        a->ln_kv = rb_carve(base, &off, nl * 2 * N * C);
        a->rstd_kv = rb_carve(base, &off, nl * 2 * N);
    }
    return off;
}

static size_t layout_scratch(Model *m, float *base) {
    size_t N = m->N, C = m->C, H = m->H, nt = m->nthreads, off = 0;
    ScratchPtrs *s = &m->s;
    s->dlnf = rb_carve(base, &off, N * C);
    s->dout = rb_carve(base, &off, N * C);
    s->demb = rb_carve(base, &off, N * C);
    s->dh = rb_carve(base, &off, N * C);
    s->dln = rb_carve(base, &off, N * C);
    s->dqkv = rb_carve(base, &off, N * 3 * C);
    s->datty = rb_carve(base, &off, N * C);
    s->dh13 = rb_carve(base, &off, N * 2 * H);
    s->dg = rb_carve(base, &off, N * H);
    s->att = rb_carve(base, &off, nt * RB_ATT_TILE * m->T);
    s->partials = rb_carve(base, &off, nt * C);
    s->conn = rb_carve(base, &off, m->vops->scratch_count(&m->cfg, m->N));
    if (m->vops->attn_inputs) s->dh_kv = rb_carve(base, &off, 2 * N * C);
    return off;
}

static void set_shape(Model *m, const Config *cfg, int rows) {
    m->cfg = *cfg;
    m->vops = cfg->vt; /* resolved from the table the command layer installed */
    m->V = cfg->vocab_size;
    m->C = cfg->d_model;
    m->n_layer = cfg->n_layer;
    m->L = config_n_sub(cfg);
    m->nh = cfg->n_head;
    m->hs = m->C / m->nh;
    m->H = config_mlp_hidden(cfg);
    m->T = cfg->seq_len;
    m->B = rows;
    m->N = m->B * m->T;
}

int model_matrices(const Config *cfg, MatrixRun *out, int *decay) {
    static Model m; /* only the shape fields and the tensor table are used */
    set_shape(&m, cfg, cfg->batch_size);
    if (!m.vops) return 0;
    layout_params(&m);
    size_t C = m.C, H = m.H;
    int nl = m.n_layer, n = 0;
    const ParamTensor *t = m.tensors; /* wte attn_g wqkv wo mlp_g w13 w2 final_g [head] conn */
    /* q, k, v: the three C x C row blocks of each wqkv; W1 and W3: the two H x C of each w13 */
    out[n++] = (MatrixRun){t[2].offset, C * C, (int)C, (int)C, 3 * nl};
    out[n++] = (MatrixRun){t[3].offset, C * C, (int)C, (int)C, nl};
    out[n++] = (MatrixRun){t[5].offset, H * C, (int)H, (int)C, 2 * nl};
    out[n++] = (MatrixRun){t[6].offset, C * H, (int)C, (int)H, nl};
    for (int i = 0; i < n; i++) decay[i] = 1;
    if (!m.vops->matrices) return n;
    const ParamTensor *conn = &m.tensors[m.n_tensors - 1];
    int nv = m.vops->matrices(cfg, out + n, RB_MAX_MATRIX_RUNS - n);
    if (nv < 0 || nv > RB_MAX_MATRIX_RUNS - n)
        return rb_fail("variant %s declares more than %d weight matrix runs", cfg->variant,
                       RB_MAX_MATRIX_RUNS - n);
    for (int i = n; i < n + nv; i++) {
        MatrixRun *r = &out[i];
        size_t end = r->offset + (size_t)(r->count - 1) * r->stride + (size_t)r->rows * r->cols;
        if (r->count < 1 || r->rows < 1 || r->cols < 1 || end > conn->count)
            return rb_fail("variant %s declares a weight matrix outside its parameters",
                           cfg->variant);
        r->offset += conn->offset;
        decay[i] = conn->decay;
    }
    return n + nv;
}

size_t model_param_count(const Config *cfg) {
    static Model m; /* only the shape fields and the tensor table are used */
    set_shape(&m, cfg, cfg->batch_size);
    if (!m.vops) return 0;
    layout_params(&m);
    return m.n_params;
}

/* Selects the config's GEMM backend and precision and creates what the linear layers' products
 * need (bf16: primitives and operand buffers), so that no step creates or allocates any. */
static int prepare_gemms(Model *m) {
    m->backend = gemm_backend_index(m->cfg.backend);
    m->precision = gemm_precision_index(m->cfg.precision);
    gemm_select(m->backend, m->precision);
    int C = m->C, H = m->H, shapes[5][2] = {{C, 3 * C}, {C, C}, {C, 2 * H}, {H, C}, {C, m->V}};
    for (int k = 0; k < 5; k++)
        if (gemm_prepare_linear(m->N, shapes[k][0], shapes[k][1]) != 0) return -1;
    return 0;
}

int model_build(Model *m, const Config *cfg) {
    return model_build_rows(m, cfg, cfg->batch_size);
}

int model_build_rows(Model *m, const Config *cfg, int rows) {
    memset(m, 0, sizeof *m);
    if (config_validate(cfg) != 0) return -1;
    set_shape(m, cfg, rows);
    m->nthreads = omp_get_max_threads(); /* the most threads a step may use (per-thread scratch) */
    if (prepare_gemms(m) != 0) return -1;
    layout_params(m);
    m->params = rb_calloc(m->n_params, sizeof(float), "parameters");
    m->grads = rb_calloc(m->n_params, sizeof(float), "gradients");
    m->adam_m = rb_calloc(m->n_params, sizeof(float), "AdamW m");
    m->adam_v = rb_calloc(m->n_params, sizeof(float), "AdamW v");
    point_params(m, &m->p, m->params);
    point_params(m, &m->g, m->grads);
    m->n_acts = layout_acts(m, NULL);
    m->acts_mem = rb_calloc(m->n_acts, sizeof(float), "activations");
    layout_acts(m, m->acts_mem);
    m->n_scratch = layout_scratch(m, NULL);
    m->scratch_mem = rb_calloc(m->n_scratch, sizeof(float), "backward scratch");
    layout_scratch(m, m->scratch_mem);
    m->rope_cos = rb_calloc((size_t)m->T * m->hs / 2, sizeof(float), "rope");
    m->rope_sin = rb_calloc((size_t)m->T * m->hs / 2, sizeof(float), "rope");
    rope_tables(m->rope_cos, m->rope_sin, m->T, m->hs, cfg->rope_theta);
    m->inputs = rb_calloc(m->N, sizeof(int), "inputs");
    m->targets = rb_calloc(m->N, sizeof(int), "targets");
    m->stream = model_stream(m, m->a.conn, m->s.conn, m->N);
    if (cfg->optimizer == RB_OPT_MUON && muon_build(m) != 0) {
        model_free(m);
        return -1;
    }
    model_init_params(m);
    return 0;
}

Stream model_stream(const Model *m, float *acts, float *scratch, int ntok) {
    Stream st = {.cfg = &m->cfg,
                 .n_sub = m->L,
                 .d = m->C,
                 .ntok = ntok,
                 .params = m->p.conn,
                 .grads = m->g.conn,
                 .acts = acts,
                 .scratch = scratch,
                 .partials = m->s.partials};
    if (m->vops->state_size) st.state = rb_calloc(1, m->vops->state_size, "variant state");
    if (m->vops->setup) m->vops->setup(&st);
    return st;
}

void model_stream_free(Stream *st) {
    free(st->state);
    st->state = NULL;
}

void model_free(Model *m) {
    model_stream_free(&m->stream);
    free(m->params);
    free(m->grads);
    free(m->adam_m);
    free(m->adam_v);
    free(m->acts_mem);
    free(m->scratch_mem);
    free(m->rope_cos);
    free(m->rope_sin);
    free(m->inputs);
    free(m->targets);
    free(m->is_mat);
    free(m->ns_work);
    memset(m, 0, sizeof *m);
}

/* optimizer=muon: the matrices, the mask AdamW skips, the Newton-Schulz work space of the largest
 */
static int muon_build(Model *m) {
    int n = model_matrices(&m->cfg, m->mat, m->mat_decay);
    if (n < 0) return -1;
    m->n_mat = n;
    m->is_mat = rb_calloc(m->n_params, 1, "Muon matrix mask");
    for (int i = 0; i < n; i++) {
        const MatrixRun *r = &m->mat[i];
        for (int j = 0; j < r->count; j++)
            memset(m->is_mat + r->offset + (size_t)j * r->stride, 1, (size_t)r->rows * r->cols);
        size_t w = (size_t)r->rows * r->cols + newton_schulz_work(r->rows, r->cols);
        if (w > m->n_ns_work) m->n_ns_work = w;
    }
    m->ns_work = rb_calloc(m->n_ns_work, sizeof(float), "Newton-Schulz work space");
    return 0;
}

static void fill_const(float *x, size_t n, float v) {
    for (size_t i = 0; i < n; i++) x[i] = v;
}

/* GPT-2 style: N(0, std) everywhere, output projections (wo, w2) scaled by 1/sqrt(2 n_layer) so the
 * residual sum does not grow with depth at init; gains 1. */
void model_init_params(Model *m) {
    Rng rng;
    rng_seed(&rng, (uint64_t)m->cfg.seed * 0x9E3779B97F4A7C15ULL + 17);
    size_t C = m->C, V = m->V, nl = m->n_layer, H = m->H;
    float std = (float)m->cfg.init_std, std_out = std / sqrtf(2.0f * nl);
    rng_fill_normal(&rng, m->p.wte, V * C, std);
    fill_const(m->p.attn_g, nl * C, 1.0f);
    rng_fill_normal(&rng, m->p.wqkv, nl * 3 * C * C, std);
    rng_fill_normal(&rng, m->p.wo, nl * C * C, std_out);
    fill_const(m->p.mlp_g, nl * C, 1.0f);
    rng_fill_normal(&rng, m->p.w13, nl * 2 * H * C, std);
    rng_fill_normal(&rng, m->p.w2, nl * C * H, std_out);
    fill_const(m->p.final_g, C, 1.0f);
    if (!m->cfg.tie_embeddings) rng_fill_normal(&rng, m->p.head, V * C, std);
    m->vops->init_params(&m->cfg, m->p.conn, &rng);
    memset(m->adam_m, 0, m->n_params * sizeof(float));
    memset(m->adam_v, 0, m->n_params * sizeof(float));
}

void model_set_batch(Model *m, const int *rows) {
    for (int b = 0; b < m->B; b++)
        for (int t = 0; t < m->T; t++) {
            m->inputs[b * m->T + t] = rows[(size_t)b * (m->T + 1) + t];
            m->targets[b * m->T + t] = rows[(size_t)b * (m->T + 1) + t + 1];
        }
}

static float *sub_slice(float *base, int l, size_t per) {
    return base + (size_t)l * per;
}

/* The ops of a step, each booking its time to its phase of `bench`'s breakdown (model_phase_mark:
 * the time since the previous mark; nothing unless the model profiles). The forward and backward
 * below call only these, so they read as the math; N, C and the scratch come from the model. */
static void norm_forward(Model *m, float *out, float *rstd, const float *inp, const float *gain) {
    rmsnorm_forward(out, rstd, inp, gain, m->N, m->C);
    model_phase_mark(m, RB_PH_ELEMENTWISE);
}

static void norm_backward(Model *m, float *dinp, float *dgain, const float *dout, const float *inp,
                          const float *gain, const float *rstd) {
    rmsnorm_backward(dinp, dgain, m->s.partials, dout, inp, gain, rstd, m->N, m->C);
    model_phase_mark(m, RB_PH_ELEMENTWISE);
}

static void linear_forward(Model *m, float *out, const float *inp, const float *w, int IC, int OC) {
    matmul_forward(out, inp, w, m->N, IC, OC);
    model_phase_mark(m, RB_PH_MATMUL);
}

/* dinp = dout W (overwritten), dw += dout^T inp */
static void linear_backward(Model *m, float *dinp, float *dw, const float *dout, const float *inp,
                            const float *w, int IC, int OC) {
    matmul_backward(dinp, dw, dout, inp, w, m->N, IC, OC, 0.0f);
    model_phase_mark(m, RB_PH_MATMUL);
}

static void attend_forward(Model *m, float *out, float *probs, float *qkv) {
    rope_attention_forward(out, probs, qkv, m->rope_cos, m->rope_sin, m->B, m->T, m->C, m->nh);
    model_phase_mark(m, RB_PH_ATTENTION); /* RoPE included: fused */
}

static void attend_backward(Model *m, float *dqkv, const float *dout, const float *probs,
                            const float *qkv) {
    attention_rope_backward(dqkv, m->s.att, dout, probs, qkv, m->rope_cos, m->rope_sin, m->B, m->T,
                            m->C, m->nh);
    model_phase_mark(m, RB_PH_ATTENTION);
}

static void gate_forward(Model *m, float *g, const float *h13) {
    swiglu_forward(g, h13, m->N, m->H);
    model_phase_mark(m, RB_PH_ELEMENTWISE);
}

static void gate_backward(Model *m, float *dh13, const float *dg, const float *h13) {
    swiglu_backward(dh13, dg, h13, m->N, m->H);
    model_phase_mark(m, RB_PH_ELEMENTWISE);
}

/* The attention from the filled qkv of `layer` to its output y (the attention itself and W_o),
 * shared by the fused and the split input paths; attn_output_backward is its backward. */
static void attn_output_forward(Model *m, int layer, float *y) {
    size_t N = m->N, C = m->C;
    float *qkv = sub_slice(m->a.qkv, layer, N * 3 * C), *atty = sub_slice(m->a.atty, layer, N * C);
    float *probs = sub_slice(m->a.probs, layer, (size_t)m->B * m->nh * m->T * m->T);
    attend_forward(m, atty, probs, qkv);
    linear_forward(m, y, atty, m->p.wo + layer * C * C, m->C, m->C);
}

static void attn_forward(Model *m, int layer, int l, const float *h, float *y) {
    size_t N = m->N, C = m->C;
    float *ln = sub_slice(m->a.ln, l, N * C), *rstd = sub_slice(m->a.rstd, l, N);
    norm_forward(m, ln, rstd, h, m->p.attn_g + layer * C);
    linear_forward(m, sub_slice(m->a.qkv, layer, N * 3 * C), ln, m->p.wqkv + layer * 3 * C * C,
                   m->C, 3 * m->C);
    attn_output_forward(m, layer, y);
}

/* The output (N, C) of a C x C projection, gathered from / scattered to third k of qkv (N, 3C). */
static void qkv_scatter(Model *m, float *qkv, int k, const float *part) {
    long N = m->N, C = m->C;
#pragma omp parallel for schedule(static)
    for (long n = 0; n < N; n++) memcpy(qkv + n * 3 * C + k * C, part + n * C, C * sizeof(float));
    model_phase_mark(m, RB_PH_ELEMENTWISE);
}

static void qkv_gather(Model *m, float *part, const float *qkv, int k) {
    long N = m->N, C = m->C;
#pragma omp parallel for schedule(static)
    for (long n = 0; n < N; n++) memcpy(part + n * C, qkv + n * 3 * C + k * C, C * sizeof(float));
    model_phase_mark(m, RB_PH_ELEMENTWISE);
}

/* Where input k (q, k, v) of a split attention sublayer keeps its normalized copy and rstd. */
static float *split_ln(Model *m, int layer, int l, int k) {
    size_t N = m->N, C = m->C;
    return k == 0 ? sub_slice(m->a.ln, l, N * C) : sub_slice(m->a.ln_kv, 2 * layer + k - 1, N * C);
}
static float *split_rstd(Model *m, int layer, int l, int k) {
    return k == 0 ? sub_slice(m->a.rstd, l, m->N)
                  : sub_slice(m->a.rstd_kv, 2 * layer + k - 1, m->N);
}

/* The attention sublayer with q, k, v from three inputs (VariantOps.attn_inputs): each input
 * through the pre-norm with its gain and its C rows of W_qkv, into its third of qkv (y serves as
 * the projection's output before the scatter; the output projection overwrites it last). */
static void attn_forward_split(Model *m, int layer, int l, const AttnInputs *in, float *y) {
    size_t N = m->N, C = m->C;
    float *qkv = sub_slice(m->a.qkv, layer, N * 3 * C);
    for (int k = 0; k < 3; k++) {
        const float *g = in->gain[k] ? in->gain[k] : m->p.attn_g + layer * C;
        float *ln = split_ln(m, layer, l, k);
        norm_forward(m, ln, split_rstd(m, layer, l, k), in->h[k], g);
        linear_forward(m, y, ln, m->p.wqkv + layer * 3 * C * C + k * C * C, m->C, m->C);
        qkv_scatter(m, qkv, k, y);
    }
    attn_output_forward(m, layer, y);
}

static void mlp_forward(Model *m, int layer, int l, const float *h, float *y) {
    size_t N = m->N, C = m->C, H = m->H;
    float *ln = sub_slice(m->a.ln, l, N * C), *rstd = sub_slice(m->a.rstd, l, N);
    float *h13 = sub_slice(m->a.h13, layer, N * 2 * H), *g = sub_slice(m->a.gact, layer, N * H);
    norm_forward(m, ln, rstd, h, m->p.mlp_g + layer * C);
    linear_forward(m, h13, ln, m->p.w13 + layer * 2 * H * C, m->C, 2 * m->H);
    gate_forward(m, g, h13);
    linear_forward(m, y, g, m->p.w2 + layer * C * H, m->H, m->C);
}

int model_check_threads(const Model *m) {
    int now = omp_get_max_threads();
    if (now > m->nthreads)
        return rb_fail("the model's per-thread scratch is sized for %d thread%s (the count when "
                       "it was built), but this step would run %d: set the thread count before "
                       "building the model",
                       m->nthreads, m->nthreads == 1 ? "" : "s", now);
    return 0;
}

int model_forward(Model *m) {
    size_t N = m->N, C = m->C;
    const VariantOps *v = m->vops;
    if (model_check_threads(m) != 0) return -1; /* more threads would write past the scratch */
    gemm_select(m->backend, m->precision);
    model_phase_start(m);
    encoder_forward(m->a.emb, m->inputs, m->p.wte, m->N, m->C);
    model_phase_mark(m, RB_PH_ELEMENTWISE);
    v->begin(&m->stream, m->a.emb);
    model_variant_mark(m, RB_VC_BEGIN);
    for (int l = 0; l < m->L; l++) {
        float *y = sub_slice(m->a.sub_out, l, N * C);
        AttnInputs *in = &m->attn_in[l / 2];
        if (l % 2 == 0 && v->attn_inputs) { /* NULL for every one-input variant */
            m->attn_split[l / 2] = (unsigned char)v->attn_inputs(&m->stream, l, in);
            model_variant_mark(m, RB_VC_INPUT);
            if (m->attn_split[l / 2]) {
                m->sub_in[l] = in->h[0];
                attn_forward_split(m, l / 2, l, in, y);
                v->commit(&m->stream, l, y);
                model_variant_mark(m, RB_VC_COMMIT);
                continue;
            }
        }
        const float *h = v->input(&m->stream, l);
        model_variant_mark(m, RB_VC_INPUT);
        m->sub_in[l] = h;
        if (l % 2 == 0)
            attn_forward(m, l / 2, l, h, y);
        else
            mlp_forward(m, l / 2, l, h, y);
        v->commit(&m->stream, l, y);
        model_variant_mark(m, RB_VC_COMMIT);
    }
    m->stream_out = v->output(&m->stream);
    model_variant_mark(m, RB_VC_OUTPUT);
    norm_forward(m, m->a.lnf, m->a.rstdf, m->stream_out, m->p.final_g);
    linear_forward(m, m->a.logits, m->a.lnf, m->p.head, m->C, m->V);
    m->loss = crossentropy_forward(m->a.losses, m->a.lse, m->a.logits, m->targets, m->N, m->V);
    model_phase_mark(m, RB_PH_ELEMENTWISE);
    return gemm_take_error();
}

void model_zero_grad(Model *m) {
    memset(m->grads, 0, m->n_params * sizeof(float));
}

/* The attention's backward from its output gradient dy to s->dqkv (through W_o and the
 * attention itself), shared by the fused and the split input paths. */
static void attn_output_backward(Model *m, int layer, const float *dy) {
    size_t N = m->N, C = m->C;
    const float *qkv = sub_slice(m->a.qkv, layer, N * 3 * C);
    const float *atty = sub_slice(m->a.atty, layer, N * C);
    const float *probs = sub_slice(m->a.probs, layer, (size_t)m->B * m->nh * m->T * m->T);
    ScratchPtrs *s = &m->s;
    linear_backward(m, s->datty, m->g.wo + layer * C * C, dy, atty, m->p.wo + layer * C * C, m->C,
                    m->C);
    attend_backward(m, s->dqkv, s->datty, probs, qkv);
}

static void attn_backward(Model *m, int layer, int l, const float *dy, float *dh) {
    size_t N = m->N, C = m->C;
    const float *ln = sub_slice(m->a.ln, l, N * C), *rstd = sub_slice(m->a.rstd, l, N);
    ScratchPtrs *s = &m->s;
    attn_output_backward(m, layer, dy);
    linear_backward(m, s->dln, m->g.wqkv + layer * 3 * C * C, s->dqkv, ln,
                    m->p.wqkv + layer * 3 * C * C, m->C, 3 * m->C);
    norm_backward(m, dh, m->g.attn_g + layer * C, s->dln, m->sub_in[l], m->p.attn_g + layer * C,
                  rstd);
}

/* The backward of attn_forward_split: dh[k] = dLoss/d in.h[k] (datty serves as the gathered
 * gradient of each third once the attention's backward has consumed it). */
static void attn_backward_split(Model *m, int layer, int l, const float *dy, float *const dh[3]) {
    size_t C = m->C;
    const AttnInputs *in = &m->attn_in[layer];
    ScratchPtrs *s = &m->s;
    attn_output_backward(m, layer, dy);
    for (int k = 0; k < 3; k++) {
        size_t w = layer * 3 * C * C + k * C * C;
        const float *g = in->gain[k] ? in->gain[k] : m->p.attn_g + layer * C;
        float *dg = in->gain[k] ? in->dgain[k] : m->g.attn_g + layer * C;
        qkv_gather(m, s->datty, s->dqkv, k);
        linear_backward(m, s->dln, m->g.wqkv + w, s->datty, split_ln(m, layer, l, k), m->p.wqkv + w,
                        m->C, m->C);
        norm_backward(m, dh[k], dg, s->dln, in->h[k], g, split_rstd(m, layer, l, k));
    }
}

static void mlp_backward(Model *m, int layer, int l, const float *dy, float *dh) {
    size_t N = m->N, C = m->C, H = m->H;
    const float *ln = sub_slice(m->a.ln, l, N * C), *rstd = sub_slice(m->a.rstd, l, N);
    const float *h13 = sub_slice(m->a.h13, layer, N * 2 * H);
    const float *g = sub_slice(m->a.gact, layer, N * H);
    ScratchPtrs *s = &m->s;
    linear_backward(m, s->dg, m->g.w2 + layer * C * H, dy, g, m->p.w2 + layer * C * H, m->H, m->C);
    gate_backward(m, s->dh13, s->dg, h13);
    linear_backward(m, s->dln, m->g.w13 + layer * 2 * H * C, s->dh13, ln,
                    m->p.w13 + layer * 2 * H * C, m->C, 2 * m->H);
    norm_backward(m, dh, m->g.mlp_g + layer * C, s->dln, m->sub_in[l], m->p.mlp_g + layer * C,
                  rstd);
}

int model_backward(Model *m) {
    const VariantOps *v = m->vops;
    ScratchPtrs *s = &m->s;
    if (model_check_threads(m) != 0) return -1;
    gemm_select(m->backend, m->precision);
    model_phase_start(m);
    crossentropy_backward(m->a.logits, m->a.lse, m->targets, m->N, m->V);
    model_phase_mark(m, RB_PH_ELEMENTWISE);
    linear_backward(m, s->dlnf, m->g.head, m->a.logits, m->a.lnf, m->p.head, m->C, m->V);
    rmsnorm_backward(s->dout, m->g.final_g, s->partials, s->dlnf, m->stream_out, m->p.final_g,
                     m->a.rstdf, m->N, m->C);
    if (m->grad_rms) m->grad_rms[m->L] = rms_of(s->dout, (size_t)m->N * m->C);
    model_phase_mark(m, RB_PH_ELEMENTWISE);
    v->output_backward(&m->stream, s->dout);
    model_variant_mark(m, RB_VC_OUTPUT_BWD);
    for (int l = m->L - 1; l >= 0; l--) {
        const float *dy = v->commit_backward(&m->stream, l);
        model_variant_mark(m, RB_VC_COMMIT_BWD);
        if (l % 2 == 0 && v->attn_inputs && m->attn_split[l / 2]) {
            size_t nd = (size_t)m->N * m->C;
            float *dh[3] = {s->dh, s->dh_kv, s->dh_kv + nd};
            attn_backward_split(m, l / 2, l, dy, dh);
            if (m->grad_rms) /* over the three inputs' gradients together */
                m->grad_rms[l] =
                    sqrt((sum_sq(dh[0], nd) + sum_sq(dh[1], nd) + sum_sq(dh[2], nd)) / (3.0 * nd));
            v->attn_inputs_backward(&m->stream, l, (const float *const *)dh);
            model_variant_mark(m, RB_VC_INPUT_BWD);
            continue;
        }
        if (l % 2 == 0)
            attn_backward(m, l / 2, l, dy, s->dh);
        else
            mlp_backward(m, l / 2, l, dy, s->dh);
        if (m->grad_rms) m->grad_rms[l] = rms_of(s->dh, (size_t)m->N * m->C);
        v->input_backward(&m->stream, l, s->dh);
        model_variant_mark(m, RB_VC_INPUT_BWD);
    }
    v->begin_backward(&m->stream, s->demb);
    model_variant_mark(m, RB_VC_BEGIN_BWD);
    encoder_backward(m->g.wte, s->demb, m->inputs, m->N, m->C);
    model_phase_mark(m, RB_PH_ELEMENTWISE);
    return gemm_take_error();
}

size_t model_memory_bytes(const Model *m) {
    size_t bf16 = 0;
    if (m->precision == RB_PREC_BF16) {
        int in = m->H > m->C ? m->H : m->C, out = 2 * m->H > 3 * m->C ? 2 * m->H : 3 * m->C;
        bf16 = gemm_bf16_buffer_bytes(m->N, in, out > m->V ? out : m->V);
    }
    return (4 * m->n_params + m->n_acts + m->n_scratch + m->n_ns_work) * sizeof(float) +
           (m->is_mat ? m->n_params : 0) + bf16;
}

void model_phase_start(Model *m) {
    if (m->phase_s) m->phase_t = rb_now();
}

void model_phase_mark(Model *m, int ph) {
    if (!m->phase_s) return;
    double now = rb_now();
    m->phase_s[ph] += now - m->phase_t;
    m->phase_t = now;
}

void model_variant_mark(Model *m, int call) {
    if (!m->phase_s) return;
    double now = rb_now();
    m->phase_s[RB_PH_VARIANT] += now - m->phase_t;
    if (m->call_s) m->call_s[call] += now - m->phase_t;
    m->phase_t = now;
}

int model_locate_nonfinite_grad(const Model *m, char *buf, size_t n) {
    static const char *const per_layer[] = {"attn_g", "wqkv", "wo", "mlp_g", "w13", "w2"};
    for (int k = 0; k < m->n_tensors; k++) {
        const ParamTensor *t = &m->tensors[k];
        const float *g = m->grads + t->offset;
        size_t i = 0;
        while (i < t->count && isfinite(g[i])) i++;
        if (i == t->count) continue;
        for (int j = 0; j < 6; j++)
            if (!strcmp(t->name, per_layer[j])) {
                int block = (int)(i / (t->count / m->n_layer)), sub = 2 * block + 1 + (j >= 3);
                snprintf(buf, n, "tensor %s of sublayer %d (%s of block %d), entry %zu = %g",
                         t->name, sub, j >= 3 ? "MLP" : "attention", block + 1,
                         i % (t->count / m->n_layer), g[i]);
                return 1;
            }
        snprintf(buf, n, "tensor %s (%s), entry %zu = %g", t->name,
                 strcmp(t->name, "conn") ? "embedding / readout"
                                         : "the residual variant's parameters",
                 i, g[i]);
        return 1;
    }
    return 0;
}
