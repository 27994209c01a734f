/* PostNorm (docs/variants.md, section 7), the original Transformer's residual:
 *   x_0 = e,   s_l = x_{l-1} + f_l(x_{l-1}),   x_l = RMSNorm(s_l; g_l) for l < L,   out = s_L
 * The last sublayer's post-norm is the core's final RMSNorm (with its gain), so no norm is applied
 * twice. Parameters: the gains g_1..g_{L-1} (d each), 1 at init. Saved: s_1..s_L, x_1..x_{L-1} and
 * the norms' 1/rms. Backward keeps one running dx: ds_l = RMSNorm'(dx_l) (dx_L = dout), then
 * dx_{l-1} = ds_l + dh_l. */
#include <string.h>

#include "ops.h"
#include "util.h"
#include "variant.h"

typedef struct {
    int L, d, ntok;
    float *sum;     /* (L, ntok, d): s_1..s_L, the sums before the norm */
    float *normed;  /* (L - 1, ntok, d): x_1..x_{L-1} */
    float *rstd;    /* (L - 1, ntok): 1/rms of each s_l that is normed */
    float *ds, *dx; /* scratch (ntok, d) each: the gradient of s_l and the running dx */
} PostnormState;

static void layout(PostnormState *y, const Config *c, int ntok, float *acts, float *scratch,
                   size_t *na, size_t *ns) {
    y->L = config_n_sub(c);
    y->d = c->d_model;
    y->ntok = ntok;
    size_t nd = (size_t)ntok * y->d, a = 0, s = 0;
    y->sum = rb_carve(acts, &a, (size_t)y->L * nd);
    y->normed = rb_carve(acts, &a, (size_t)(y->L - 1) * nd);
    y->rstd = rb_carve(acts, &a, (size_t)(y->L - 1) * ntok);
    y->ds = rb_carve(scratch, &s, nd);
    y->dx = rb_carve(scratch, &s, nd);
    if (na) *na = a;
    if (ns) *ns = s;
}

static void postnorm_setup(Stream *st) {
    layout(st->state, st->cfg, st->ntok, st->acts, st->scratch, NULL, NULL);
}

/* the layout the setup computed, read in place (the variant's state, Stream.state) */
static const PostnormState *lay(const Stream *st) {
    return st->state;
}

static size_t postnorm_params(const Config *c) {
    return (size_t)(config_n_sub(c) - 1) * c->d_model;
}
static void postnorm_init(const Config *c, float *params, Rng *rng) {
    size_t n = postnorm_params(c);
    for (size_t i = 0; i < n; i++) params[i] = 1.0f;
}
static size_t postnorm_acts(const Config *c, int ntok) {
    PostnormState y;
    size_t na;
    layout(&y, c, ntok, NULL, NULL, &na, NULL);
    return na;
}
static size_t postnorm_scratch(const Config *c, int ntok) {
    PostnormState y;
    size_t ns;
    layout(&y, c, ntok, NULL, NULL, NULL, &ns);
    return ns;
}

static float *sum_of(const PostnormState *y, int l) { /* s_{l+1}, the sum of sublayer l */
    return y->sum + (size_t)l * y->ntok * y->d;
}
static float *normed_of(const PostnormState *y, int l) { /* x_{l+1}, l < L - 1 */
    return y->normed + (size_t)l * y->ntok * y->d;
}
static const float *gain_of(const Stream *st, int l) { /* g_{l+1} */
    return st->params + (size_t)l * st->d;
}

static void postnorm_begin(Stream *st, const float *emb) {
    st->value[0] = emb;
}

static const float *postnorm_input(Stream *st, int l) {
    const PostnormState *y = lay(st);
    return l == 0 ? st->value[0] : normed_of(y, l - 1);
}

static void postnorm_commit(Stream *st, int l, const float *v) {
    const PostnormState *y = lay(st);
    const float *x = postnorm_input(st, l);
    float *s = sum_of(y, l);
    long nd = (long)y->ntok * y->d;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < nd; i++) s[i] = x[i] + v[i];
    if (l < y->L - 1)
        rmsnorm_forward(normed_of(y, l), y->rstd + (size_t)l * y->ntok, s, gain_of(st, l), y->ntok,
                        y->d);
}

static const float *postnorm_output(Stream *st) {
    const PostnormState *y = lay(st);
    return sum_of(y, y->L - 1);
}

static void postnorm_output_backward(Stream *st, const float *dout) {
    const PostnormState *y = lay(st);
    memcpy(y->dx, dout, (size_t)y->ntok * y->d * sizeof(float));
}

/* dx holds dLoss/dx_{l+1}; the sum s_{l+1} = x_l + y_l passes its gradient to y_l unchanged */
static const float *postnorm_commit_backward(Stream *st, int l) {
    const PostnormState *y = lay(st);
    if (l == y->L - 1) return y->dx; /* out = s_L: no norm */
    rmsnorm_backward(y->ds, st->grads + (size_t)l * y->d, st->partials, y->dx, sum_of(y, l),
                     gain_of(st, l), y->rstd + (size_t)l * y->ntok, y->ntok, y->d);
    return y->ds;
}

static void postnorm_input_backward(Stream *st, int l, const float *dh) {
    const PostnormState *y = lay(st);
    const float *ds = l == y->L - 1 ? y->dx : y->ds;
    float *dx = y->dx;
    long nd = (long)y->ntok * y->d;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < nd; i++) dx[i] = ds[i] + dh[i];
}

static void postnorm_begin_backward(Stream *st, float *demb) {
    const PostnormState *y = lay(st);
    memcpy(demb, y->dx, (size_t)y->ntok * y->d * sizeof(float));
}

/* Per normed sublayer and token: the add (d) and the norm (sum of squares 2d, scale by 1/rms and
 * gain 2d) forward; backward the norm (its dot and the gain's gradient 3d each, dx 4d) and the add
 * (d). The last sublayer only adds, forward and backward. */
static double postnorm_flops(const Config *c) {
    double d = c->d_model, L = config_n_sub(c);
    return (L - 1) * 16 * d + 2 * d;
}

/* floor (docs/performance.md), in rows of d: a normed sublayer's commit reads x and y and writes s
 * and x' (4), its commit_backward reads dx and s and writes ds (3), its input_backward reads ds
 * and dh and writes dx (3); the last sublayer 3 + 3 (its commit_backward moves nothing). The 1/rms
 * (one float per token) and the copies of dout and demb, which can alias, are not counted. */
static VariantTraffic postnorm_traffic(const Config *c) {
    double L = config_n_sub(c);
    return (VariantTraffic){(10 * (L - 1) + 6) * c->d_model, 3 * (L - 1) + 2};
}

/* after sublayer l the state is x_{l+1}, the normed sum (the last one: s_L, before the final norm)
 */
static double postnorm_stream_rms(const Stream *st, int l) {
    const PostnormState *y = lay(st);
    const float *x = l < y->L - 1 ? normed_of(y, l) : sum_of(y, l);
    return rms_of(x, (size_t)y->ntok * y->d);
}

const VariantOps variant_postnorm = {
    .name = "postnorm",
    .summary = "x_l = RMSNorm(x_{l-1} + f_l(x_{l-1})) (original Transformer, post-norm)",
    .param_count = postnorm_params,
    .init_params = postnorm_init,
    .act_count = postnorm_acts,
    .scratch_count = postnorm_scratch,
    .state_size = sizeof(PostnormState),
    .setup = postnorm_setup,
    .begin = postnorm_begin,
    .input = postnorm_input,
    .commit = postnorm_commit,
    .output = postnorm_output,
    .output_backward = postnorm_output_backward,
    .commit_backward = postnorm_commit_backward,
    .input_backward = postnorm_input_backward,
    .begin_backward = postnorm_begin_backward,
    .flops_per_token = postnorm_flops,
    .traffic_per_token = postnorm_traffic,
    .stream_rms = postnorm_stream_rms,
};
