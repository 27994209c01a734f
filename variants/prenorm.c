/* prenorm (docs/variants.md, section 1): x_0 = e, x_l = x_{l-1} + f_l(x_{l-1}), out = x_L.
 * Saved: x_0..x_L (each N x C). Backward keeps one running dx. */
#include <string.h>

#include "ops.h"
#include "variant.h"

static size_t prenorm_params(const Config *c) {
    return 0;
}
static void prenorm_init(const Config *c, float *params, Rng *rng) {}

static size_t prenorm_acts(const Config *c, int ntok) {
    return (size_t)(config_n_sub(c) + 1) * ntok * c->d_model;
}
static size_t prenorm_scratch(const Config *c, int ntok) {
    return (size_t)ntok * c->d_model;
}

static float *state(Stream *st, int l) {
    return st->acts + (size_t)l * st->ntok * st->d;
}

static void prenorm_begin(Stream *st, const float *emb) {
    memcpy(state(st, 0), emb, (size_t)st->ntok * st->d * sizeof(float));
}

static const float *prenorm_input(Stream *st, int l) {
    return state(st, l);
}

static void prenorm_commit(Stream *st, int l, const float *y) {
    const float *x = state(st, l);
    float *xn = state(st, l + 1);
    long n = (long)st->ntok * st->d;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) xn[i] = x[i] + y[i];
}

static const float *prenorm_output(Stream *st) {
    return state(st, st->n_sub);
}

static void prenorm_output_backward(Stream *st, const float *dout) {
    memcpy(st->scratch, dout, (size_t)st->ntok * st->d * sizeof(float));
}

static const float *prenorm_commit_backward(Stream *st, int l) {
    return st->scratch;
}

static void prenorm_input_backward(Stream *st, int l, const float *dh) {
    float *dx = st->scratch;
    long n = (long)st->ntok * st->d;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) dx[i] += dh[i];
}

static void prenorm_begin_backward(Stream *st, float *demb) {
    memcpy(demb, st->scratch, (size_t)st->ntok * st->d * sizeof(float));
}

/* one add per element per sublayer forward, one per element backward */
static double prenorm_flops(const Config *c) {
    return 2.0 * config_n_sub(c) * c->d_model;
}

/* floor (docs/performance.md): per sublayer x' = x + y forward and dx += dh backward, three rows of
 * d each; the copies of e, dout and demb can alias and are not counted */
static VariantTraffic prenorm_traffic(const Config *c) {
    int L = config_n_sub(c);
    return (VariantTraffic){6.0 * L * c->d_model, 2.0 * L};
}

static double prenorm_stream_rms(const Stream *st, int l) {
    return rms_of(st->acts + (size_t)(l + 1) * st->ntok * st->d, (size_t)st->ntok * st->d);
}

const VariantOps variant_prenorm = {
    .name = "prenorm",
    .summary = "x_l = x_{l-1} + f_l(x_{l-1}) (baseline)",
    .param_count = prenorm_params,
    .init_params = prenorm_init,
    .act_count = prenorm_acts,
    .scratch_count = prenorm_scratch,
    .begin = prenorm_begin,
    .input = prenorm_input,
    .commit = prenorm_commit,
    .output = prenorm_output,
    .output_backward = prenorm_output_backward,
    .commit_backward = prenorm_commit_backward,
    .input_backward = prenorm_input_backward,
    .begin_backward = prenorm_begin_backward,
    .flops_per_token = prenorm_flops,
    .traffic_per_token = prenorm_traffic,
    .stream_rms = prenorm_stream_rms,
};
