/* The depth-mixing variants (docs/variants.md, sections 2, 3, 6): finite differences of every
 * parameter (connection weights at their init and randomized), the source bookkeeping of Block
 * AttnRes against the spec's worked example, Block with N = L equal to Full, w = 0 giving uniform
 * averages, DenseFormer at init equal to prenorm, and the FLOP counts of their own work. */
#include <dirent.h>
#include <math.h>
#include <string.h>

#include "ops.h"
#include "registry.h"
#include "rng.h"
#include "streams.h"
#include "testutil.h"

/* Every connection parameter moved by scale * N(0, 1) from the generator seeded with seed. */
static void randomize_by(Model *m, unsigned long long seed, float scale) {
    Rng r;
    rng_seed(&r, seed);
    size_t n = m->vops->param_count(&m->cfg);
    for (size_t i = 0; i < n; i++) m->p.conn[i] += scale * rng_normal(&r);
}

static void randomize_conn(Model *m) {
    randomize_by(m, 77, 0.5f);
}

/* Queries as randomize_conn, the query=input projections W_l (after the (L + 1) d queries) at
 * 0.1 / sqrt(d): scores of order one, where finite differences stay accurate. */
static void randomize_design(Model *m) {
    Rng r;
    rng_seed(&r, 78);
    size_t n = m->vops->param_count(&m->cfg), nw = (size_t)(m->L + 1) * m->C;
    for (size_t i = 0; i < n; i++)
        m->p.conn[i] += (i < nw ? 0.5f : 0.1f / sqrtf((float)m->C)) * rng_normal(&r);
}

static Config variant_config(const char *variant, int n_layer, int blocks) {
    Config c;
    tu_tiny_config(&c);
    tu_set(&c, "variant", variant);
    c.n_layer = n_layer;
    if (blocks > 0) tu_set_int(&c, "attnres_blocks", blocks);
    return c;
}

/* Finite differences of every parameter of each spec (over `base`'s L = n_layer config), as
 * initialized and again after `randomize` moved the connection parameters off their init. */
static void grad_check_specs(const char *base, int n_layer, const char *const *specs, size_t n,
                             void (*randomize)(Model *)) {
    for (size_t i = 0; i < n; i++) {
        Config c = variant_config(base, n_layer, 0);
        tu_set(&c, "variant", specs[i]);
        tu_randomize_conn = NULL;
        tu_model_grad_check(&c);
        tu_randomize_conn = randomize;
        tu_model_grad_check(&c);
    }
    tu_randomize_conn = NULL;
}

START_TEST(test_finite_differences) {
    Config cs[] = {variant_config("attnres_full", 2, 0), variant_config("attnres_block", 3, 2),
                   variant_config("attnres_block", 2, 2), variant_config("denseformer", 3, 0)};
    for (int i = 0; i < 4; i++) {
        tu_randomize_conn = NULL; /* as initialized: zero queries, identity beta */
        tu_model_grad_check(&cs[i]);
        tu_randomize_conn = randomize_conn;
        tu_model_grad_check(&cs[i]);
    }
    tu_randomize_conn = NULL;
}
END_TEST

/* Builds in place: a Model must not be copied (its stream points at its own config). */
static void build(Model *m, Config c, int randomize) {
    ck_assert_msg(model_build(m, &c) == 0, "%s", rb_error());
    if (randomize) randomize_conn(m);
    tu_fill_batch(m, 11);
    model_zero_grad(m);
    model_forward(m);
    model_backward(m);
}

/* Spec example L = 6, S = 3: sublayer 1 reads [b0]; 2 [b0, v1]; 3 [b0, v1+v2]; 4 [b0, b1];
 * 5 [b0, b1, v4]; 6 [b0, b1, v4+v5]; out [b0, b1, b2]. With w = 0 each input is the plain mean. */
/* The AttnRes design options (docs/variants.md, section 2): sigmoid scores, no key norm, both,
 * for Full and Block; finite differences of every parameter, as initialized and randomized. */
START_TEST(test_finite_differences_attnres_options) {
    const char *specs[] = {"attnres_full:score=sigmoid", "attnres_full:keynorm=off",
                           "attnres_block:score=sigmoid,keynorm=off", "attnres_block:score=sigmoid",
                           "attnres_block:keynorm=off"};
    for (int i = 0; i < 5; i++) {
        Config c = variant_config("attnres_full", 3, 0);
        tu_set(&c, "variant", specs[i]);
        if (i >= 2) tu_set(&c, "attnres_blocks", "2");
        tu_randomize_conn = NULL;
        tu_model_grad_check(&c);
        tu_randomize_conn = randomize_conn;
        tu_model_grad_check(&c);
    }
    tu_randomize_conn = NULL;
}
END_TEST

/* Sigmoid scores at zero queries weight every source 1/2 (not 1/m): the first sublayer reads e/2;
 * without the key norm a query sees the raw source (a score scales with the source's size). */
START_TEST(test_attnres_options_by_hand) {
    Config c = variant_config("attnres_full", 2, 0);
    tu_set(&c, "variant", "attnres_full:score=sigmoid");
    Model m;
    build(&m, c, 0);
    float e = m.a.emb[0], h = m.sub_in[0][0];
    ck_assert_msg(fabsf(h - 0.5f * e) < 1e-7f, "h %g, e %g", h, e);
    model_free(&m);
    /* keynorm=off: w = 0 except w[0] = 1 gives scores equal to the sources' first channel */
    tu_set(&c, "variant", "attnres_full:score=softmax,keynorm=off"); /* options persist: reset */
    build(&m, c, 0);
    m.p.conn[(size_t)1 * m.C] = 1.0f; /* sublayer 1's query: channel 0 */
    model_forward(&m);
    float x0 = m.a.emb[0], x1 = m.a.sub_out[0];
    float w0 = expf(x0) / (expf(x0) + expf(x1)), want = w0 * x0 + (1 - w0) * x1;
    ck_assert_msg(fabsf(m.sub_in[1][0] - want) < 1e-5f, "h %g, want %g", m.sub_in[1][0], want);
    model_free(&m);
}
END_TEST

/* The Table-4 design options (docs/variants.md, section 2, "Design options"): input-dependent
 * and static queries, a window over depth, heads, block size S; with other options and for both
 * forms. Finite differences of every parameter (the d x d projections and the static logits
 * included), as initialized and randomized. Each tensor is held to the better of two steps, 1e-3
 * and 2e-3: the central difference's truncation error grows as eps^2 (one random draw of
 * query=input: 0.001, 0.004, 0.016, 0.063 at eps 0.5, 1, 2, 4 x 1e-3) and its rounding noise as
 * 1/eps (query=static,score=sigmoid under valgrind: 0.005 at 1e-3); a wrong term fails both. */
START_TEST(test_finite_differences_attnres_design) {
    tu_fd_eps = 1e-3f;
    tu_fd_eps_alt = 2e-3f;
    const char *specs[] = {"attnres_full:query=input",
                           "attnres_full:query=input,keynorm=off",
                           "attnres_full:query=static",
                           "attnres_full:query=static,score=sigmoid",
                           "attnres_full:window=2",
                           "attnres_full:heads=4",
                           "attnres_full:heads=2,score=sigmoid,window=3",
                           "attnres_block:query=input,blocks=2",
                           "attnres_block:query=static,blocks=2",
                           "attnres_block:window=1,blocks=3",
                           "attnres_block:heads=2,keynorm=off,size=2",
                           "attnres_block:query=input,heads=4,size=3"};
    grad_check_specs("attnres_full", 3, specs, sizeof specs / sizeof specs[0], randomize_design);
    tu_fd_eps = 2e-3f;
    tu_fd_eps_alt = 0.0f;
}
END_TEST

/* attnres.c computes one equation on two paths: the fast ones (Full's one-pass aggregate, Block's
 * two phases, and their backward) serve the default query, window and heads; the general path
 * serves every option. Every pair is held equal here, for every combination the fast paths take:
 * Full, and Block at S = 1 (N = L), 2 (size=2), 3 and 6 (N = 1), each with either score and
 * either key norm. query=input with W = 0 is the pseudo-query computed by the general path
 * (q = w + r 0 x = w exactly, and its extra backward terms are exact zeros), so the same random
 * queries must give the same loss and gradients of every shared parameter. */
START_TEST(test_attnres_general_path_matches_default) {
    static const char *const forms[] = {"attnres_full", "attnres_block:blocks=6",
                                        "attnres_block:size=2", "attnres_block:blocks=2",
                                        "attnres_block:blocks=1"};
    static const char *const scores[] = {"softmax", "sigmoid"}, *const keynorms[] = {"on", "off"};
    int pairs = 0;
    for (int f = 0; f < 5; f++)
        for (int sc = 0; sc < 2; sc++)
            for (int kn = 0; kn < 2; kn++) {
                char fast[160], general[200];
                snprintf(fast, sizeof fast, "%s%cscore=%s,keynorm=%s", forms[f],
                         strchr(forms[f], ':') ? ',' : ':', scores[sc], keynorms[kn]);
                snprintf(general, sizeof general, "%s,query=input", fast);
                Config c = variant_config("attnres_full", 3, 0);
                tu_set(&c, "variant", fast);
                Model a, b;
                build(&a, c, 1);
                tu_set(&c, "variant", general);
                ck_assert_msg(model_build(&b, &c) == 0, "%s", rb_error());
                size_t nw = a.vops->param_count(&a.cfg); /* the queries w_l, then b's W_l */
                memcpy(b.p.conn, a.p.conn, nw * sizeof(float));
                tu_fill_batch(&b, 11);
                model_zero_grad(&b);
                model_forward(&b);
                model_backward(&b);
                ck_assert_msg(fabs(a.loss - b.loss) < 1e-6 * fabs(a.loss), "%s: %.9g vs %.9g",
                              general, a.loss, b.loss);
                size_t shared = a.n_params; /* everything up to the end of the queries */
                double worst = 0, scale = 0;
                for (size_t k = 0; k < shared; k++) {
                    double e = fabs((double)a.grads[k] - b.grads[k]);
                    worst = e > worst ? e : worst;
                    scale = fabs(a.grads[k]) > scale ? fabs(a.grads[k]) : scale;
                }
                ck_assert_msg(worst <= 1e-5 * scale, "%s: gradients differ by %g (max %g)", general,
                              worst, scale);
                model_free(&a);
                model_free(&b);
                pairs++;
            }
    ck_assert_int_eq(pairs, 20);
}
END_TEST

/* By hand at zero queries: window = 2 at L = 6 leaves consumer 5 reading e, v_4 and v_5 (1/3
 * each, slots 1..3 at 0); static logits at 0 average like zero queries; heads = 2 with a query
 * only in head 0's channels leaves head 1 uniform. */
START_TEST(test_attnres_design_by_hand) {
    Config c = variant_config("attnres_full", 3, 0);
    tu_set(&c, "variant", "attnres_full:window=2");
    Model m;
    build(&m, c, 0);
    double w[8];
    ck_assert_int_eq(m.vops->depth_weights(&m.stream, 5, w, 8), 6);
    double want[6] = {1.0 / 3, 0, 0, 0, 1.0 / 3, 1.0 / 3};
    for (int k = 0; k < 6; k++) ck_assert_double_eq_tol(w[k], want[k], 1e-6);
    size_t nd = (size_t)m.N * m.C;
    for (size_t i = 0; i < nd; i++) {
        double x = ((double)m.a.emb[i] + m.a.sub_out[3 * nd + i] + m.a.sub_out[4 * nd + i]) / 3;
        ck_assert_double_eq_tol(m.sub_in[5][i], x, 1e-5);
    }
    model_free(&m);
    tu_set(&c, "variant", "attnres_full:window=0,query=static");
    build(&m, c, 0);
    ck_assert_int_eq((int)m.vops->param_count(&m.cfg), 7 * 7); /* L + 1 consumers x M = 7 slots */
    ck_assert_int_eq(m.vops->depth_weights(&m.stream, 3, w, 8), 4);
    for (int k = 0; k < 4; k++) ck_assert_double_eq_tol(w[k], 0.25, 1e-6);
    model_free(&m);
    tu_set(&c, "variant", "attnres_full:query=pseudo,heads=2");
    build(&m, c, 0);
    int C = m.C;
    m.p.conn[(size_t)1 * C] = 3.0f; /* sublayer 1's query, channel 0: head 0 only */
    model_forward(&m);
    const float *e = m.a.emb, *v1 = m.a.sub_out;
    for (int t = 0; t < 4; t++) {
        const float *et = e + (size_t)t * C, *vt = v1 + (size_t)t * C, *h = m.sub_in[1] + t * C;
        float re = rms_inverse_row(et, C), rv = rms_inverse_row(vt, C); /* full-width key norm */
        float z0 = 3.0f * re * et[0], z1 = 3.0f * rv * vt[0];
        float a0 = expf(z0) / (expf(z0) + expf(z1));
        ck_assert_double_eq_tol(h[0], a0 * et[0] + (1 - a0) * vt[0], 1e-5);
        ck_assert_double_eq_tol(h[C - 1], 0.5 * (et[C - 1] + vt[C - 1]), 1e-5); /* head 1 */
    }
    model_free(&m);
}
END_TEST

/* Bad combinations get one line naming the key and what is allowed. */
START_TEST(test_attnres_design_refused) {
    struct {
        const char *spec, *says;
    } bad[] = {{"attnres_full:window=6", "attnres_window"},
               {"attnres_block:blocks=3,window=3", "allowed: 0 (all) or 1..2"},
               {"attnres_full:heads=3", "does not divide d_model"},
               {"attnres_full:query=static,heads=2", "needs a query"},
               {"attnres_full:query=static,keynorm=off", "no effect with query=static"},
               {"attnres_block:size=4", "attnres_block_size"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Config c = variant_config("attnres_full", 3, 0); /* L = 6, d = 16 */
        tu_set(&c, "variant", bad[i].spec);
        ck_assert_msg(config_validate(&c) != 0, "%s accepted", bad[i].spec);
        ck_assert_msg(strstr(rb_error(), bad[i].says) && !strchr(rb_error(), '\n'), "%s: %s",
                      bad[i].spec, rb_error());
    }
    Config c = variant_config("attnres_full", 3, 0);
    tu_set(&c, "variant", "attnres_block:size=3"); /* S = 3: N = 2 blocks */
    ck_assert_msg(config_validate(&c) == 0, "%s", rb_error());
    Model m;
    build(&m, c, 0);
    double w[8];
    ck_assert_int_eq(m.vops->depth_weights(&m.stream, 6, w, 8), 3); /* readout: e, b_1, b_2 */
    model_free(&m);
}
END_TEST

START_TEST(test_block_sources_worked_example) {
    Model m;
    build(&m, variant_config("attnres_block", 3, 2), 0);
    model_forward(&m); /* fresh activations (backward overwrote the logits only) */
    size_t nd = (size_t)m.N * m.C;
    const float *e = m.a.emb, *v[7];
    for (int l = 1; l <= 6; l++) v[l] = m.a.sub_out + (l - 1) * nd;
    int counts[7] = {1, 2, 2, 2, 3, 3, 3};
    double w[16];
    for (int c = 0; c <= 6; c++) {
        ck_assert_int_eq(m.vops->depth_weights(&m.stream, c, w, 16), counts[c]);
        for (int s = 0; s < counts[c]; s++) ck_assert_double_eq_tol(w[s], 1.0 / counts[c], 1e-6);
    }
    ck_assert_int_eq(m.vops->depth_weights(&m.stream, 7, w, 16), -1);
    for (size_t i = 0; i < nd; i++) {
        double b1 = (double)v[1][i] + v[2][i] + v[3][i], b2 = (double)v[4][i] + v[5][i] + v[6][i];
        double expect[7] = {e[i],
                            (e[i] + v[1][i]) / 2,
                            (e[i] + v[1][i] + v[2][i]) / 2,
                            (e[i] + b1) / 2,
                            (e[i] + b1 + v[4][i]) / 3,
                            (e[i] + b1 + v[4][i] + v[5][i]) / 3,
                            (e[i] + b1 + b2) / 3};
        for (int l = 0; l < 6; l++) ck_assert_double_eq_tol(m.sub_in[l][i], expect[l], 1e-5);
        ck_assert_double_eq_tol(m.stream_out[i], expect[6], 1e-5);
    }
    model_free(&m);
}
END_TEST

/* Full AttnRes with w = 0: sublayer l reads the mean of e, v_1..v_{l}. */
START_TEST(test_full_uniform_at_zero_queries) {
    Model m;
    build(&m, variant_config("attnres_full", 2, 0), 0);
    model_forward(&m);
    size_t nd = (size_t)m.N * m.C;
    for (size_t i = 0; i < nd; i++) {
        double sum = m.a.emb[i];
        for (int l = 0; l < m.L; l++) {
            ck_assert_double_eq_tol(m.sub_in[l][i], sum / (l + 1), 1e-5);
            sum += m.a.sub_out[l * nd + i];
        }
        ck_assert_double_eq_tol(m.stream_out[i], sum / (m.L + 1), 1e-5);
    }
    model_free(&m);
}
END_TEST

START_TEST(test_block_with_n_equal_l_is_full) {
    Model a;
    build(&a, variant_config("attnres_full", 2, 0), 1);
    Model b;
    build(&b, variant_config("attnres_block", 2, 4), 1);
    ck_assert(a.loss == b.loss);
    ck_assert_int_eq((int)a.n_params, (int)b.n_params);
    ck_assert(memcmp(a.grads, b.grads, a.n_params * sizeof(float)) == 0);
    /* and N < L really is different */
    Model c;
    build(&c, variant_config("attnres_block", 2, 2), 1);
    ck_assert(c.loss != a.loss);
    /* gradient accumulators of the sources: N+1 block sums for Block, L+1 values for Full (plus
     * the partial-sum accumulator and dv) */
    size_t nd = (size_t)c.N * c.C;
    ck_assert_int_eq(c.vops->scratch_count(&c.cfg, c.N), (2 + 1 + 2) * nd);
    ck_assert_int_eq(a.vops->scratch_count(&a.cfg, a.N), (4 + 1 + 2) * nd);
    model_free(&a);
    model_free(&b);
    model_free(&c);
}
END_TEST

START_TEST(test_denseformer_init_is_prenorm) {
    Config c = variant_config("denseformer", 3, 0);
    Model d;
    build(&d, c, 0);
    tu_set(&c, "variant", "prenorm");
    Model p;
    build(&p, c, 0);
    ck_assert(d.loss == p.loss);
    size_t core = p.n_params; /* prenorm has no connection parameters */
    ck_assert(memcmp(d.grads, p.grads, core * sizeof(float)) == 0);
    double w[8];
    ck_assert_int_eq(d.vops->depth_weights(&d.stream, 1, w, 8), 3);
    ck_assert(w[0] == 0 && w[1] == 0 && w[2] == 1);
    model_free(&d);
    model_free(&p);
}
END_TEST

/* PostNorm (docs/variants.md, section 7) by hand at its init (gains 1): sublayer l + 1 reads
 * RMSNorm(x_l + y_l) (unit RMS rows), the output is the last sum x_{L-1} + y_{L-1} itself (the
 * final norm is its post-norm); and finite differences of the gains, as initialized and randomized.
 */
START_TEST(test_postnorm) {
    Config c = variant_config("postnorm", 2, 0);
    Model m;
    build(&m, c, 0);
    model_forward(&m);
    int C = m.C;
    size_t nd = (size_t)m.N * C;
    ck_assert_int_eq((int)m.vops->param_count(&m.cfg), (m.L - 1) * C);
    ck_assert(m.sub_in[0] == m.a.emb);
    for (int l = 1; l < m.L; l++) {
        const float *x = m.sub_in[l - 1], *v = m.a.sub_out + (size_t)(l - 1) * nd;
        for (int t = 0; t < m.N; t++) {
            double ss = 0;
            for (int i = 0; i < C; i++) {
                double s = (double)x[(size_t)t * C + i] + v[(size_t)t * C + i];
                ss += s * s;
            }
            double r = 1 / sqrt(ss / C + 1e-6);
            for (int i = 0; i < C; i++) {
                double s = (double)x[(size_t)t * C + i] + v[(size_t)t * C + i];
                ck_assert_double_eq_tol(m.sub_in[l][(size_t)t * C + i], s * r, 1e-5);
            }
        }
    }
    const float *last = m.a.sub_out + (size_t)(m.L - 1) * nd;
    for (size_t i = 0; i < nd; i++)
        ck_assert_float_eq(m.stream_out[i], m.sub_in[m.L - 1][i] + last[i]);
    model_free(&m);
    tu_randomize_conn = NULL;
    tu_model_grad_check(&c);
    tu_randomize_conn = randomize_conn; /* gains 1 + 0.5 N(0, 1) */
    tu_model_grad_check(&c);
    c.n_layer = 1; /* L = 2: one post-norm */
    tu_model_grad_check(&c);
    tu_randomize_conn = NULL;
}
END_TEST

/* LAuReL's parameters randomized: the low-rank maps A_l, B_l (the first 2 L d r floats) at
 * 0.5 / sqrt(d), so that A B x is of the order of x, the scalars (rw logits, gamma) by 0.5. */
static void randomize_laurel(Model *m) {
    Rng r;
    rng_seed(&r, 79);
    size_t n = m->vops->param_count(&m->cfg);
    size_t nmat = (size_t)2 * m->L * m->C * (size_t)config_option(&m->cfg, "laurel_rank");
    for (size_t i = 0; i < n; i++)
        m->p.conn[i] += (i < nmat ? 0.5f / sqrtf((float)m->C) : 0.5f) * rng_normal(&r);
}

/* LAuReL (docs/variants.md, section 8): finite differences of every parameter for every form the
 * options give, as initialized and randomized: each valid combination of rw on/off, rank 0 or not,
 * pa 0, 1 or more (k = 8 > L included; rw=off,rank=0,pa=0 is prenorm and refused). */
START_TEST(test_finite_differences_laurel) {
    const char *specs[] = {"laurel",
                           "laurel:rw=on,rank=0",
                           "laurel:rw=off,rank=1",
                           "laurel:rw=off,rank=4",
                           "laurel:rw=on,rank=2,pa=1",
                           "laurel:rw=on,rank=0,pa=3",
                           "laurel:rw=off,rank=0,pa=2",
                           "laurel:rw=on,rank=3,pa=3",
                           "laurel:rw=off,rank=2,pa=8",
                           "laurel:rw=on,rank=0,pa=1",
                           "laurel:rw=off,rank=0,pa=1",
                           "laurel:rw=off,rank=3,pa=1"};
    grad_check_specs("laurel", 2, specs, sizeof specs / sizeof specs[0], randomize_laurel);
}
END_TEST

/* LAuReL at its init is prenorm exactly (B = 0, alpha = beta = 1, gamma_{l,0} = 1 with a rank,
 * 0 without): the same loss and core gradients, bit for bit, in every form. */
START_TEST(test_laurel_init_is_prenorm) {
    Config c = variant_config("prenorm", 2, 0);
    Model p;
    build(&p, c, 0);
    const char *specs[] = {"laurel", "laurel:rank=0", "laurel:rw=off,rank=8,pa=3",
                           "laurel:rank=0,pa=2"};
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        tu_set(&c, "variant", specs[i]);
        Model m;
        build(&m, c, 0);
        ck_assert_msg(m.loss == p.loss, "%s: loss %.9g, prenorm %.9g", specs[i], m.loss, p.loss);
        ck_assert_msg(memcmp(m.grads, p.grads, p.n_params * sizeof(float)) == 0, "%s", specs[i]);
        model_free(&m);
    }
    model_free(&p);
}
END_TEST

/* Bad combinations: a rank above d_model, and rw=off without a rank or pa (that is prenorm). */
START_TEST(test_laurel_refused) {
    Config c = variant_config("laurel", 2, 0); /* d = 16 */
    tu_set(&c, "variant", "laurel:rank=17");
    ck_assert(config_validate(&c) != 0);
    ck_assert_msg(strstr(rb_error(), "laurel_rank") && strstr(rb_error(), "0..16"), "%s",
                  rb_error());
    tu_set(&c, "variant", "laurel:rw=off,rank=0");
    ck_assert(config_validate(&c) != 0);
    ck_assert_msg(strstr(rb_error(), "is prenorm"), "%s", rb_error());
    tu_set(&c, "variant", "laurel:rw=off,rank=0,pa=1");
    ck_assert_msg(config_validate(&c) == 0, "%s", rb_error());
}
END_TEST

/* Routing diagnostics (docs/variants.md, "Routing diagnostics"): the entropy on cases with a
 * known answer. Uniform weights (Full AttnRes at zero queries): log n for every consumer;
 * one-hot (DenseFormer at init, beta = identity): 0; query=static logits (0, log 3): the
 * entropy of (1/4, 3/4); DenseFormer betas (1, -1): |beta| normalized is uniform, log 2. */
START_TEST(test_routing_entropy_known_cases) {
    Model m;
    double h;
    build(&m, variant_config("attnres_full", 2, 0), 0);
    for (int c = 0; c <= m.L; c++) {
        ck_assert_int_eq(m.vops->depth_entropy(&m.stream, c, &h), c + 1);
        ck_assert_double_eq_tol(h, log(c + 1.0), 1e-6);
    }
    ck_assert_int_eq(m.vops->depth_entropy(&m.stream, m.L + 1, &h), -1);
    model_free(&m);
    build(&m, variant_config("denseformer", 3, 0), 0);
    for (int c = 0; c < 3; c++) {
        ck_assert_int_eq(m.vops->depth_entropy(&m.stream, c, &h), c + 2);
        ck_assert(h == 0);
    }
    ck_assert_int_eq(m.vops->depth_entropy(&m.stream, 3, &h), -1);
    m.p.conn[0] = 1.0f; /* block 1's betas (beta_{1,0}, beta_{1,1}) = (1, -1) */
    m.p.conn[1] = -1.0f;
    ck_assert_int_eq(m.vops->depth_entropy(&m.stream, 0, &h), 2);
    ck_assert_double_eq_tol(h, log(2.0), 1e-12);
    model_free(&m);
    Config c = variant_config("attnres_full", 2, 0);
    tu_set(&c, "attnres_query", "static");
    ck_assert_msg(model_build(&m, &c) == 0, "%s", rb_error());
    m.p.conn[(size_t)1 * (m.L + 1) + 1] = logf(3.0f); /* consumer 1, source 1 (M = L + 1) */
    tu_fill_batch(&m, 11);
    model_forward(&m);
    ck_assert_int_eq(m.vops->depth_entropy(&m.stream, 1, &h), 2);
    ck_assert_double_eq_tol(h, -(0.25 * log(0.25) + 0.75 * log(0.75)), 1e-6);
    model_free(&m);
}
END_TEST

/* LAuReL-PA's depth weights are its gammas (docs/variants.md section 8): consumer l reads states
 * x_{l-j}, j < min(k, l + 1). At init (a rank: gamma_{l,0} = 1, the rest 0) every consumer puts
 * weight 1 on its own state, entropy 0 over min(k, l + 1) sources; gammas (1, -1) give log 2.
 * Without pa there is no depth mixing: no consumer, and knockout has no source. */
START_TEST(test_laurel_pa_routing) {
    Model m;
    double w[RB_MAX_SUB + 1], h;
    build(&m, variant_config("laurel:pa=3", 2, 0), 0);
    for (int c = 0; c < m.L; c++) {
        ck_assert_int_eq(m.vops->depth_weights(&m.stream, c, w, RB_MAX_SUB + 1), c + 1);
        for (int s = 0; s <= c; s++) ck_assert(w[s] == (s == c ? 1.0 : 0.0));
        ck_assert_int_eq(m.vops->depth_entropy(&m.stream, c, &h), c + 1 < 3 ? c + 1 : 3);
        ck_assert(h == 0);
    }
    ck_assert_int_eq(m.vops->depth_weights(&m.stream, m.L, w, RB_MAX_SUB + 1), -1);
    ck_assert_int_eq(m.vops->depth_entropy(&m.stream, m.L, &h), -1);
    /* gamma sits after A, B (2 L d r, r = 4) and the rw logits (2 L): consumer 2's (1, -1, 0) */
    float *gamma = m.p.conn + (size_t)2 * m.L * m.C * 4 + 2 * m.L + 2 * 3;
    gamma[0] = 1.0f;
    gamma[1] = -1.0f;
    ck_assert_int_eq(m.vops->depth_entropy(&m.stream, 2, &h), 3);
    ck_assert_double_eq_tol(h, log(2.0), 1e-12);
    ck_assert_int_eq(m.vops->depth_weights(&m.stream, 2, w, RB_MAX_SUB + 1), 3);
    ck_assert(w[2] == 1.0 && w[1] == -1.0 && w[0] == 0.0);
    model_free(&m);
    build(&m, variant_config("laurel", 2, 0), 0);
    ck_assert_int_eq(m.vops->depth_weights(&m.stream, 0, w, RB_MAX_SUB + 1), -1);
    ck_assert_int_eq(m.vops->depth_entropy(&m.stream, 0, &h), -1);
    ck_assert_int_eq(m.vops->knockout(&m.stream, -1), 0);
    model_free(&m);
}
END_TEST

/* The entropy is the token mean of the per-token entropy, not the entropy of the token-mean
 * weights: with input-dependent weights (randomized queries) the first is smaller (concavity),
 * strictly for some consumer. */
START_TEST(test_routing_entropy_is_per_token) {
    Model m;
    build(&m, variant_config("attnres_full", 2, 0), 1);
    int smaller = 0;
    for (int c = 1; c <= m.L; c++) {
        double w[RB_MAX_SUB + 1], h, hmean = 0;
        int n = m.vops->depth_weights(&m.stream, c, w, RB_MAX_SUB + 1);
        ck_assert_int_eq(m.vops->depth_entropy(&m.stream, c, &h), n);
        for (int s = 0; s < n; s++) hmean -= w[s] > 0 ? w[s] * log(w[s]) : 0;
        ck_assert(h <= hmean + 1e-9);
        smaller += h < hmean - 1e-3;
    }
    ck_assert(smaller > 0);
    model_free(&m);
}
END_TEST

/* Knockout (docs/variants.md, "Routing diagnostics"): source -1 is the intact model bit for bit
 * (also after a knockout was set); every source of Full, Block, DenseFormer and LAuReL-PA (with
 * and without a rank) with randomized weights changes the loss; the count is the number of
 * depth_attn.csv sources (LAuReL: the states x_0..x_{L-1} that PA reads). */
START_TEST(test_knockout_loss) {
    Config cs[] = {variant_config("attnres_full", 2, 0), variant_config("attnres_block", 3, 3),
                   variant_config("denseformer", 3, 0), variant_config("laurel:pa=2", 2, 0),
                   variant_config("laurel:rank=0,pa=3", 2, 0)};
    int nsrc[] = {5, 4, 4, 4, 4};
    for (int i = 0; i < 5; i++) {
        Model m;
        build(&m, cs[i], 1);
        double intact = tu_forward(&m);
        ck_assert_int_eq(m.vops->knockout(&m.stream, -1), nsrc[i]);
        ck_assert(tu_forward(&m) == intact);
        for (int s = 0; s < nsrc[i]; s++) {
            m.vops->knockout(&m.stream, s);
            double loss = tu_forward(&m);
            ck_assert_msg(loss != intact, "%s: source %d changes nothing", m.cfg.variant, s);
            printf("%s knockout %d: %.6f (intact %.6f)\n", m.cfg.variant, s, loss, intact);
        }
        m.vops->knockout(&m.stream, -1);
        ck_assert(tu_forward(&m) == intact);
        model_free(&m);
    }
}
END_TEST

/* The rule by hand: Full AttnRes at zero queries weights every source 1/n; knocking out the
 * embedding leaves sublayer l's input sum_{j<=l} v_j / (l + 1) (the others' weights are not
 * renormalized), so the first sublayer reads 0. DenseFormer at init (Y_k = X_k): knocking out
 * the last block zeroes the output. */
START_TEST(test_knockout_by_hand) {
    Model m;
    build(&m, variant_config("attnres_full", 2, 0), 0);
    m.vops->knockout(&m.stream, 0);
    model_forward(&m);
    size_t nd = (size_t)m.N * m.C;
    for (size_t i = 0; i < nd; i++) {
        double sum = 0;
        for (int l = 0; l < m.L; l++) {
            ck_assert_double_eq_tol(m.sub_in[l][i], sum / (l + 1), 1e-5);
            sum += m.a.sub_out[l * nd + i];
        }
        ck_assert_double_eq_tol(m.stream_out[i], sum / (m.L + 1), 1e-5);
    }
    model_free(&m);
    build(&m, variant_config("denseformer", 3, 0), 0);
    m.vops->knockout(&m.stream, 3);
    model_forward(&m);
    for (size_t i = 0; i < (size_t)m.N * m.C; i++) ck_assert(m.stream_out[i] == 0);
    model_free(&m);
}
END_TEST

START_TEST(test_block_rejects_bad_n) {
    Config c = variant_config("attnres_block", 3, 4);
    ck_assert(config_validate(&c) != 0);
    ck_assert_msg(strstr(rb_error(), "does not divide the L = 2*n_layer = 6"), "%s", rb_error());
    tu_set_int(&c, "attnres_blocks", 3);
    ck_assert(config_validate(&c) == 0);
}
END_TEST

/* Own-work FLOPs, n_layer = 2 (L = 4), d = 16. Full: consumers read 1,2,3,4 sources and the
 * readout 5: 15 sources x 14d = 3360, plus 4 sublayer outputs x 2d (1/rms) = 128 and the
 * embedding's 1/rms 32: 3520. DenseFormer: blocks k=1,2: (4d + 6(k+1)d) = 256 + 352 = 608. */
START_TEST(test_variant_flops) {
    Config c = variant_config("prenorm", 2, 0);
    c.d_model = 16;
    double base = flops_per_token(&c) - 2 * 4 * 16; /* prenorm's own adds removed */
    tu_set(&c, "variant", "attnres_full");
    ck_assert_double_eq(flops_per_token(&c) - base, 3520);
    tu_set(&c, "variant", "denseformer");
    ck_assert_double_eq(flops_per_token(&c) - base, 608);
    /* Block N = 2 (S = 2): sources 1,2,2,3 + readout 3 = 11 -> 2464, + 4 x (2d + d) + 2d = 224 */
    tu_set(&c, "variant", "attnres_block");
    tu_set_int(&c, "attnres_blocks", 2);
    ck_assert_double_eq(flops_per_token(&c) - base, 2464 + 192 + 32);
    /* without the key norm: 12d per source (no norm term) and no 1/rms: 11 x 192 + 4 x 16 */
    tu_set(&c, "attnres_keynorm", "off");
    ck_assert_double_eq(flops_per_token(&c) - base, 11 * 192 + 4 * 16);
    tu_set(&c, "attnres_score", "sigmoid"); /* the same work as softmax */
    ck_assert_double_eq(flops_per_token(&c) - base, 11 * 192 + 4 * 16);
    /* Full, L = 4 (15 sources over the 5 consumers): static weights 6d per source, no norms */
    tu_set(&c, "variant", "attnres_full:score=softmax,keynorm=on,query=static");
    ck_assert_double_eq(flops_per_token(&c) - base, 15 * 6 * 16);
    /* window = 1: consumers read 1, 2, 2, 2, 2 sources */
    tu_set(&c, "variant", "attnres_full:query=pseudo,window=1");
    ck_assert_double_eq(flops_per_token(&c) - base, 9 * 14 * 16 + 4 * 32 + 32);
    /* query=input: + three d x d products (6 d^2) and 7d per consumer */
    tu_set(&c, "variant", "attnres_full:window=0,query=input");
    ck_assert_double_eq(flops_per_token(&c) - base, 3520 + 5 * (6 * 256 + 7 * 16));
    tu_set(&c, "variant", "attnres_full:query=pseudo,heads=4"); /* heads split the same dots */
    ck_assert_double_eq(flops_per_token(&c) - base, 3520);
    /* postnorm: 16d for each of the L - 1 normed sublayers, 2d for the last */
    tu_set(&c, "variant", "postnorm");
    ck_assert_double_eq(flops_per_token(&c) - base, 3 * 16 * 16 + 2 * 16);
    /* laurel, rw and rank 4: per sublayer 10d + (12 d r + 4d) = 992; rw=off, rank 0, pa=2: per
     * sublayer 6d + 4d + (6m - 2)d with m = 1, 2, 2, 2 sources: 74d */
    tu_set(&c, "variant", "laurel");
    ck_assert_double_eq(flops_per_token(&c) - base, 4 * 992);
    tu_set(&c, "variant", "laurel:rw=off,rank=0,pa=2");
    ck_assert_double_eq(flops_per_token(&c) - base, 74 * 16);
    /* frac, m = 4 (w = 4): per site static (12m + 3)d = 816; dynamic + 4d + 6d(2m + 1) = 928;
     * m = 2 static: 27d = 432 */
    tu_set(&c, "variant", "frac");
    ck_assert_double_eq(flops_per_token(&c) - base, 4 * (816 + 928));
    tu_set(&c, "variant", "frac:rate=2,form=static");
    ck_assert_double_eq(flops_per_token(&c) - base, 4 * 432);
}
END_TEST

/* The floor model's traffic (docs/performance.md), n_layer = 2 (L = 4), d = 16, in floats per
 * token. prenorm: 6 rows per sublayer. Full: consumers with 1..5 sources, backward 3s + 1 and
 * forward s + 1: 50 + 20 = 70 rows. Block N = 2 (S = 2): sources 1, 2, 2, 3 and the readout 3;
 * backward 33 + 5 = 38; forward phase 1 (1 + 2, 2 + 2), phase 2 (3, 3), readout 3 + 1 = 17;
 * partial sums 2 x 3 and dv 2 x 3: 67 rows. DenseFormer K = 2: 2K(K + 1) + 17K + 3 = 49 rows.
 * Block with window = 1 takes the direct path: sources 1, 2, 2, 2, 2; backward 27 + 5, forward
 * 9 + 5, partial sums and dv 12: 58 rows. mhc (n = 4, K = R = 24): per site
 * 9nd + 5d + 6K + 2R + 2n = 856, four sites and 4nd + 4d. postnorm: 10 rows for each normed
 * sublayer, 6 for the last; passes 3 and 2. laurel (rw, rank 4): per sublayer commit 6 (y, x, x',
 * q, u twice), its backward 8 (G, dy, dx, y, q, p, dp twice), input 3; 7 passes (3 calls, 4
 * products). rw=off, rank 0, pa=2 with m = 1, 2, 2, 2 sources: commit 3 + m, its backward 2 + 3m
 * (dX read too), input 3: 12 + 3 x 16 rows in 3 passes each. frac (m = 4, K = 2m^2 + m = 36):
 * per site 14d + 6K, dynamic + 2(2m + 1)m + 2m for the projections and norms; 4 passes. */
START_TEST(test_variant_traffic) {
    static const struct {
        const char *variant;
        double floats, passes;
    } want[] = {{"prenorm", 6 * 4 * 16, 8},
                {"attnres_full", 70 * 16, 10},
                {"attnres_block:blocks=2", 67 * 16, 14},
                {"attnres_block:blocks=2,window=1", 58 * 16, 14},
                {"denseformer", 49 * 16, 11},
                {"mhc", 4 * 856 + 4 * 64 + 4 * 16, 20},
                {"postnorm", (3 * 10 + 6) * 16, 11},
                {"laurel", 4 * 17 * 16, 28},
                {"laurel:rw=off,rank=0,pa=2", (12 + 3 * 16) * 16, 12},
                {"frac", 4 * (14 * 16 + 6 * 36 + 2 * 9 * 4 + 2 * 4), 16},
                {"frac:rate=2,form=static", 4 * (14 * 16 + 6 * 10), 16}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        Config c = variant_config("prenorm", 2, 0);
        c.d_model = 16;
        tu_set(&c, "variant", want[i].variant);
        VariantTraffic t = c.vt->traffic_per_token(&c);
        ck_assert_msg(t.floats == want[i].floats && t.passes == want[i].passes,
                      "%s: %g floats in %g passes, expected %g in %g", want[i].variant, t.floats,
                      t.passes, want[i].floats, want[i].passes);
    }
}
END_TEST

/* The line of text that starts with prefix (up to its newline, in the arena), or NULL. */
static const char *line_starting(const char *text, const char *prefix) {
    size_t n = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, prefix, n)) {
            size_t len = strcspn(p, "\n");
            char *line = tu_mem(len + 1);
            memcpy(line, p, len);
            return line;
        }
    return NULL;
}

static const char *source_file(const char *rel) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", RB_SOURCE_DIR, rel);
    const char *text = tu_read(path);
    ck_assert_msg(text != NULL, "%s: unreadable", path);
    return text;
}

/* The 4 places of a variant (docs/architecture.md, "Adding a variant"), for every installed one:
 * its file defines the entry (and every entry a file in variants/ defines is in the table: a file
 * without its registry line fails here), its docs (its section in docs/variants.md, its row in
 * the README's table, every option a row in docs/usage.md's keys and a mention in the README) and
 * its PyTorch reference (its model in make_fixtures.py's STREAMS and its fixture in CONFIGS). The
 * rest derives from the table: test_reference walks it and the fixtures, golden.sh and the bench's
 * PyTorch peer read it through the binary. */
START_TEST(test_every_variant_in_its_four_places) {
    const char *doc = source_file("docs/variants.md"), *usage = source_file("docs/usage.md"),
               *readme = source_file("README.md"),
               *ref = source_file("tests/reference/make_fixtures.py");
    usage = strstr(usage, "\n## Configuration keys\n"); /* the key table, not the examples */
    ck_assert_msg(usage != NULL, "docs/usage.md has no section '## Configuration keys'");
    const char *keys = line_starting(usage, "| variant |");
    ck_assert_msg(keys != NULL, "docs/usage.md's keys have no row '| variant |'");
    for (int i = 0; rb_variants[i]; i++) {
        const VariantOps *v = rb_variants[i];
        char want[160];
        snprintf(want, sizeof want, ". %s: ", v->name); /* a heading "## N. NAME: ..." */
        const char *at = strstr(doc, want), *num = at;
        while (num && num > doc && num[-1] >= '0' && num[-1] <= '9') num--;
        ck_assert_msg(at && num < at && num - doc >= 4 && !strncmp(num - 4, "\n## ", 4),
                      "docs/variants.md has no section '## N. %s: ...'", v->name);
        snprintf(want, sizeof want, "| `%s` |", v->name);
        ck_assert_msg(line_starting(readme, want), "README.md's variant table has no row %s", want);
        ck_assert_msg(strstr(keys, v->name), "docs/usage.md's variant row does not name %s",
                      v->name);
        snprintf(want, sizeof want, "\"%s\": stream_", v->name);
        ck_assert_msg(strstr(ref, want), "make_fixtures.py's STREAMS has no %s", want);
        snprintf(want, sizeof want, "\"%s\": dict(", v->name);
        ck_assert_msg(strstr(ref, want), "make_fixtures.py's CONFIGS has no %s", want);
        for (int k = 0; k < v->n_options; k++) {
            const VariantOption *o = &v->options[k];
            snprintf(want, sizeof want, "| %s |", o->key);
            ck_assert_msg(line_starting(usage, want), "docs/usage.md has no key row %s", want);
            char by_name[96];
            snprintf(want, sizeof want, "`%s", o->key);
            snprintf(by_name, sizeof by_name, "`%s=", o->name);
            ck_assert_msg(strstr(readme, want) || strstr(readme, by_name),
                          "README.md names neither %s nor %s= of %s", o->key, o->name, v->name);
        }
    }
    /* every entry a variant file defines is in the table */
    DIR *dir = opendir(RB_SOURCE_DIR "/variants");
    ck_assert(dir != NULL);
    int n_defined = 0;
    for (struct dirent *e; (e = readdir(dir));) {
        size_t len = strlen(e->d_name);
        if (len < 3 || strcmp(e->d_name + len - 2, ".c") != 0) continue;
        char rel[300];
        snprintf(rel, sizeof rel, "variants/%s", e->d_name);
        const char *src = source_file(rel);
        for (const char *p = src; (p = strstr(p, "\nconst VariantOps variant_"));) {
            p += strlen("\nconst VariantOps variant_");
            char name[64];
            ck_assert(sscanf(p, "%63[a-z0-9_]", name) == 1);
            ck_assert_msg(variant_find(name), "%s defines variant_%s, which registry.c lacks", rel,
                          name);
            n_defined++;
        }
    }
    closedir(dir);
    int n_registered = 0;
    while (rb_variants[n_registered]) n_registered++;
    ck_assert_int_eq(n_defined, n_registered);
}
END_TEST

/* The loss of the model c builds, its connection weights randomized (the same draw for the same
 * parameter count), on a fixed batch; its parameter count into n. */
static double random_conn_loss(Config c, size_t *n) {
    Model m;
    ck_assert_msg(model_build(&m, &c) == 0, "%s", rb_error());
    randomize_conn(&m);
    tu_fill_batch(&m, 11);
    double loss = tu_forward(&m);
    *n = m.n_params;
    model_free(&m);
    return loss;
}

/* What every installed variant must bring besides its places, checked by construction so that a
 * new variant cannot skip it: finite differences of the whole model at initialization, valid
 * defaults for its options and a one-line error past each end of an option's range. */
START_TEST(test_every_variant_by_construction) {
    for (int i = 0; rb_variants[i]; i++) {
        const VariantOps *v = rb_variants[i];
        ck_assert_msg(v->summary && v->param_count && v->init_params && v->act_count &&
                          v->scratch_count && v->begin && v->input && v->commit && v->output &&
                          v->output_backward && v->commit_backward && v->input_backward &&
                          v->begin_backward && v->flops_per_token && v->traffic_per_token &&
                          v->stream_rms,
                      "%s lacks a required VariantOps function", v->name);
        /* a private state is filled by setup; without one it would stay zero (NULL slices) */
        ck_assert_msg(!v->state_size || v->setup, "%s declares state_size but no setup", v->name);
        Config c = variant_config(v->name, 4, 0);
        ck_assert_msg(config_validate(&c) == 0, "%s defaults: %s", v->name, rb_error());
        ck_assert(flops_per_token(&c) > 0);
        ck_assert(v->traffic_per_token(&c).floats > 0 && v->traffic_per_token(&c).passes > 0);
        tu_randomize_conn = NULL; /* as initialized (the variant's own tests add random weights) */
        tu_model_grad_check(&c);
        size_t n_unset;
        double loss_unset = random_conn_loss(c, &n_unset);
        for (int k = 0; k < v->n_options; k++) {
            const VariantOption *o = &v->options[k];
            char def[64], spec[160];
            if (o->choices)
                snprintf(def, sizeof def, "%s", o->choices[(int)o->def]);
            else
                snprintf(def, sizeof def, "%.0f", o->def);
            /* the declared default is what the variant computes with when the option is not
             * given: the model with it set to the default is the same model, bit for bit */
            Config e = c;
            tu_set(&e, o->key, def);
            size_t n_set;
            double loss_set = random_conn_loss(e, &n_set);
            ck_assert_msg(n_set == n_unset && loss_set == loss_unset,
                          "%s: %s unset gives %zu parameters, loss %.9g; %s = %s gives %zu, %.9g",
                          v->name, o->key, n_unset, loss_unset, o->key, def, n_set, loss_set);
            /* restating the variant returns an option set before it to its default */
            snprintf(spec, sizeof spec, "%s:%s=%s", v->name, o->name,
                     o->choices ? o->choices[o->def == 0 ? 1 : 0] : "");
            if (!o->choices)
                snprintf(spec, sizeof spec, "%s:%s=%.0f", v->name, o->name,
                         o->def > o->min ? o->min : o->min + 1);
            Config r = c;
            tu_set(&r, "variant", spec);
            ck_assert(config_option(&r, o->key) != o->def);
            tu_set(&r, "variant", v->name);
            ck_assert_msg(config_option(&r, o->key) == o->def, "%s: %s kept after variant=%s",
                          v->name, o->key, v->name);
            /* one-line errors past both ends of the range (a choice: a name not among them) */
            for (int end = 0; end < 2; end++) {
                if (o->choices)
                    snprintf(spec, sizeof spec, "%s:%s=%s", v->name, o->name,
                             end ? "nosuchchoice" : "");
                else
                    snprintf(spec, sizeof spec, "%s:%s=%.0f", v->name, o->name,
                             end ? o->max + 1 : o->min - 1);
                Config b = c;
                ck_assert_msg(config_set(&b, "variant", spec, "test") != 0, "%s accepted", spec);
                if (!o->choices)
                    ck_assert_msg(strstr(rb_error(), "out of range"), "%s: %s", spec, rb_error());
            }
        }
    }
}
END_TEST

/* Frac-connections' parameters moved off their init by 0.3 (at 0.5, the static m = 1 form's
 * product of four sites' scalars curves enough for the 2e-3 step to miss by 5e-3). */
static void randomize_frac(Model *m) {
    randomize_by(m, 80, 0.3f);
}

/* Frac-connections (docs/variants.md, section 9): finite differences of every parameter for both
 * forms and every kind of rate (dynamic at m = 1, 4 and 8 fractions of d = 16, static at 2 and 4;
 * m = 2 dynamic and m = 1 static pass too but cost valgrind_test_variants time), as initialized
 * and randomized. */
START_TEST(test_finite_differences_frac) {
    const char *specs[] = {"frac", "frac:rate=1", "frac:rate=8", "frac:form=static",
                           "frac:rate=2,form=static"};
    grad_check_specs("frac", 2, specs, sizeof specs / sizeof specs[0], randomize_frac);
}
END_TEST

/* Frac-connections at their init (read and mix the identity, write 1, W = 0) are prenorm exactly:
 * the same loss and core gradients, bit for bit, in every form. */
START_TEST(test_frac_init_is_prenorm) {
    Config c = variant_config("prenorm", 2, 0);
    Model p;
    build(&p, c, 0);
    const char *specs[] = {"frac", "frac:rate=1", "frac:rate=8", "frac:form=static",
                           "frac:rate=2,form=static"};
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        tu_set(&c, "variant", specs[i]);
        Model m;
        build(&m, c, 0);
        ck_assert_msg(m.loss == p.loss, "%s: loss %.9g, prenorm %.9g", specs[i], m.loss, p.loss);
        ck_assert_msg(memcmp(m.grads, p.grads, p.n_params * sizeof(float)) == 0, "%s", specs[i]);
        model_free(&m);
    }
    model_free(&p);
}
END_TEST

/* The static coefficients of site l of frac:rate=2,form=static: read G[j][i] at 0..3, mix
 * A[j][k] at 4..7, write b at 8, 9 ([src][dst]). */
static float *frac_site(Model *m, int l) {
    return m->p.conn + (size_t)l * 10;
}

/* Orientation and fractions by hand (m = 2, halves of d = 16): site 0 reads the halves swapped
 * (G[1][0] = G[0][1] = 1) and writes its output's first half only (b = (1, 0)); site 1 swaps the
 * halves (A[0][1] = A[1][0] = 1) and writes nothing. Site 1 reads [e_0 + y_0, e_1], site 2
 * [e_1, e_0 + y_0] (y the output of sublayer 0, y_0 its first half). */
START_TEST(test_frac_by_hand) {
    Config c = variant_config("frac:rate=2,form=static", 2, 0);
    Model m;
    ck_assert_msg(model_build(&m, &c) == 0, "%s", rb_error());
    float *s0 = frac_site(&m, 0), *s1 = frac_site(&m, 1);
    s0[0] = s0[3] = 0, s0[1] = s0[2] = 1; /* G[0][1] = G[1][0] = 1 */
    s0[9] = 0;                            /* b = (1, 0) */
    s1[4] = s1[7] = 0, s1[5] = s1[6] = 1; /* A[0][1] = A[1][0] = 1 */
    s1[8] = s1[9] = 0;
    tu_fill_batch(&m, 4);
    model_forward(&m);
    int h = m.C / 2;
    for (int t = 0; t < m.N; t++) {
        const float *e = m.a.emb + (size_t)t * m.C, *y = m.a.sub_out + (size_t)t * m.C;
        const float *u0 = m.sub_in[0] + (size_t)t * m.C, *u1 = m.sub_in[1] + (size_t)t * m.C,
                    *u2 = m.sub_in[2] + (size_t)t * m.C;
        for (int q = 0; q < h; q++) {
            ck_assert(u0[q] == e[h + q] && u0[h + q] == e[q]);
            ck_assert(u1[q] == e[q] + y[q] && u1[h + q] == e[h + q]);
            ck_assert(u2[q] == e[h + q] && u2[h + q] == e[q] + y[q]);
        }
    }
    model_free(&m);
}
END_TEST

/* mixing_gains (mhc.csv's columns for H = A^T) by hand with static coefficients: A = I at init
 * (gains 1, distance 0); then A_l = 2 I at every site and A_0[1][0] = -1, so H_0 = [[2, -1],
 * [0, 2]]; and stream_rms of the last site is the RMS of the output. */
START_TEST(test_frac_gains) {
    Config c = variant_config("frac:rate=2,form=static", 2, 0);
    Model m;
    build(&m, c, 0);
    enum { S = MIX_NSTATS };
    double g[S * 4];
    ck_assert_int_eq(m.vops->mixing_gains(&m.stream, g), 4);
    for (int l = 0; l < 4; l++) {
        for (int k = 0; k < MIX_DIST_IDENTITY; k++) ck_assert_double_eq(g[S * l + k], 1.0);
        ck_assert_double_eq(g[S * l + MIX_DIST_IDENTITY], 0.0);
    }
    for (int l = 0; l < 4; l++) frac_site(&m, l)[4] = frac_site(&m, l)[7] = 2;
    frac_site(&m, 0)[6] = -1; /* A_0[1][0]: H_0[0][1] = -1, H_0 = [[2, -1], [0, 2]] */
    model_forward(&m);
    m.vops->mixing_gains(&m.stream, g);
    /* site 0: rows of H sum to 1 and 2 (|.|: 3, 2), columns to 2 and 1 (|.|: 2, 3) */
    ck_assert_double_eq_tol(g[MIX_FWD_GAIN], 3.0, 1e-12);
    ck_assert_double_eq_tol(g[MIX_BWD_GAIN], 3.0, 1e-12);
    ck_assert_double_eq_tol(g[MIX_ROW_SUM_MIN], 1.0, 1e-12);
    ck_assert_double_eq_tol(g[MIX_ROW_SUM_MAX], 2.0, 1e-12);
    ck_assert_double_eq_tol(g[MIX_COL_SUM_MIN], 1.0, 1e-12);
    ck_assert_double_eq_tol(g[MIX_COL_SUM_MAX], 2.0, 1e-12);
    ck_assert_double_eq_tol(g[MIX_DIST_IDENTITY], sqrt(3.0), 1e-12);
    /* composite after site 3: 8 H_0 = [[16, -8], [0, 16]]: forward gain 24 */
    ck_assert_double_eq_tol(g[S * 3 + MIX_COMPOSITE_FWD_GAIN], 24.0, 1e-9);
    /* stream_rms: the state itself, after the last site the variant's output */
    ck_assert_double_eq_tol(m.vops->stream_rms(&m.stream, 3),
                            rms_of(m.vops->output(&m.stream), (size_t)m.N * m.C), 1e-12);
    model_free(&m);
}
END_TEST

/* A rate that does not divide d_model is refused, naming the key and what is allowed; sweep's
 * fit_shape lowers it to the largest divisor of a new d_model. */
START_TEST(test_frac_refused) {
    Config c = variant_config("frac:rate=3", 2, 0); /* d = 16 */
    ck_assert(config_validate(&c) != 0);
    ck_assert_msg(strstr(rb_error(), "frac_rate") && strstr(rb_error(), "divide"), "%s",
                  rb_error());
    tu_set(&c, "variant", "frac:rate=8");
    ck_assert_msg(config_validate(&c) == 0, "%s", rb_error());
    c.d_model = 20;
    c.vt->fit_shape(&c);
    ck_assert_int_eq((int)config_option(&c, "frac_rate"), 5);
    ck_assert_msg(config_validate(&c) == 0, "%s", rb_error());
}
END_TEST

/* MUDDFormer's parameters randomized (by 0.3): static weights off their one-hot, W2 off zero (the
 * generator's weights become token-dependent), W1 and the k and v gains moved. */
static void randomize_mudd(Model *m) {
    randomize_by(m, 83, 0.15f);
}

/* MUDDFormer (docs/variants.md, section 10): finite differences of every parameter, the core's
 * included (the split q, k, v inputs of core/model.c: their norms, gains and W_qkv thirds), for
 * every option combination, as initialized and randomized. ways=r,dynamic=off runs with 3 blocks:
 * with 2 it has 5 parameters, all among the 8 entries checked one by one, and the final readout's
 * weights have a gradient near 0 along themselves (the final norm is scale-invariant), where
 * the relative error measures only the difference's rounding noise. */
START_TEST(test_finite_differences_mudd) {
    const char *specs[] = {"mudd", "mudd:ways=r", "mudd:dynamic=off", "mudd:ways=r,dynamic=off"};
    tu_fd_eps = 1e-3f; /* the better of two steps, as for attnres's design options */
    tu_fd_eps_alt = 2e-3f;
    grad_check_specs("mudd", 2, specs, 3, randomize_mudd);
    grad_check_specs("mudd", 3, specs, 1, randomize_mudd);
    grad_check_specs("mudd", 3, specs + 3, 1, randomize_mudd);
    tu_fd_eps = 2e-3f;
    tu_fd_eps_alt = 0.0f;
}
END_TEST

/* MUDDFormer at init (W2 = 0, b one-hot on the newest block, gains 1) is prenorm: every mixture
 * equals X_k exactly. ways=r (one input per sublayer): the same loss and core gradients bit for
 * bit. The split forms compute q, k, v as three C x C products instead of one C x 3C: the same
 * numbers where the GEMM kernels sum each entry alike (OpenBLAS's AVX-512 kernels and oneDNN on
 * the machine that wrote this: bit for bit), not under valgrind, where OpenBLAS picks other
 * kernels (1.3e-8 apart); so the loss is held to 1e-7 relative there, and the gradients agree to
 * rounding (the input gradient sums three norm backwards in another order), with attn_g's
 * gradient of a split block equal to the q, k, v gains' together. */
typedef struct {
    const Model *m, *p;
} MuddGainSum;

/* For parameter j of the core: the k and v gains' gradients of mudd where j is an entry of a
 * split block's attn_g (they sit after the generators' parameters, blocks 2..K), else 0. */
static double mudd_gain_grad(const MuddGainSum *s, size_t j) {
    const Model *m = s->m;
    size_t C = m->C, first = (size_t)(m->p.attn_g - m->params);
    if (j < first + C || j >= first + (size_t)m->n_layer * C || !m->attn_split[1]) return 0;
    size_t block = (j - first) / C, i = (j - first) % C;
    size_t ng = (size_t)(m->n_layer - 1) * 2 * C, n = m->vops->param_count(&m->cfg);
    const float *g = m->g.conn + (n - ng) + (block - 1) * 2 * C;
    return (double)g[i] + g[C + i];
}

START_TEST(test_mudd_init_is_prenorm) {
    for (int nl = 2; nl <= 3; nl++) {
        Config c = variant_config("prenorm", nl, 0);
        Model p;
        build(&p, c, 0);
        const char *specs[] = {"mudd", "mudd:ways=r", "mudd:dynamic=off"};
        for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
            tu_set(&c, "variant", specs[i]);
            Model m;
            build(&m, c, 0);
            ck_assert_msg(i == 1 ? m.loss == p.loss : fabs(m.loss - p.loss) <= 1e-7 * p.loss,
                          "%s: loss %.9g, prenorm %.9g", specs[i], m.loss, p.loss);
            if (i == 1) {
                ck_assert_msg(memcmp(m.grads, p.grads, p.n_params * sizeof(float)) == 0, "%s",
                              specs[i]);
            } else {
                MuddGainSum sum = {&m, &p};
                for (size_t j = 0; j < p.n_params; j++)
                    ck_assert_msg(fabs(m.grads[j] + mudd_gain_grad(&sum, j) - p.grads[j]) <=
                                      1e-4 * (fabs(p.grads[j]) + 1e-3),
                                  "%s, entry %zu: %g vs %g", specs[i], j, m.grads[j], p.grads[j]);
            }
            model_free(&m);
        }
        model_free(&p);
    }
}
END_TEST

/* The split path holds only for mudd's own blocks: block 1 and ways=r read one input; with
 * ways=qkvr block k >= 2 reads three different mixtures once randomized. */
START_TEST(test_mudd_split_inputs) {
    Model m;
    build(&m, variant_config("mudd", 3, 0), 1);
    ck_assert(!m.attn_split[0] && m.attn_split[1] && m.attn_split[2]);
    const AttnInputs *in = &m.attn_in[1];
    ck_assert(in->h[0] != in->h[1] && in->h[1] != in->h[2]);
    ck_assert(memcmp(in->h[0], in->h[1], (size_t)m.N * m.C * sizeof(float)) != 0);
    ck_assert(in->gain[0] == NULL && in->gain[1] != NULL && in->gain[2] != NULL);
    model_free(&m);
    Config c = variant_config("mudd", 3, 0);
    tu_set(&c, "mudd_ways", "r");
    build(&m, c, 1);
    ck_assert(!m.attn_split[0] && !m.attn_split[1] && !m.attn_split[2]);
    model_free(&m);
}
END_TEST

/* Routing (docs/variants.md, "Routing diagnostics"): consumers q, k, v, r of DA_1, then the
 * final r of DA_2 (n_layer = 2); at init every weight is one-hot (entropy 0, mean weights
 * (0, 1)); static weights (1, 3) on q give the entropy of (1/4, 3/4); knockout -1 is the intact
 * model bit for bit, every source changes the loss once randomized. */
START_TEST(test_mudd_routing) {
    Model m;
    double h, w[8];
    Config c = variant_config("mudd", 2, 0);
    tu_set(&c, "mudd_dynamic", "off");
    build(&m, c, 0);
    for (int cons = 0; cons < 5; cons++) {
        int n = cons < 4 ? 2 : 3;
        ck_assert_int_eq(m.vops->depth_entropy(&m.stream, cons, &h), n);
        ck_assert(h == 0);
        ck_assert_int_eq(m.vops->depth_weights(&m.stream, cons, w, 8), n);
        ck_assert(w[n - 1] == 1 && w[0] == 0);
    }
    ck_assert_int_eq(m.vops->depth_entropy(&m.stream, 5, &h), -1);
    ck_assert_int_eq(m.vops->depth_weights(&m.stream, 5, w, 8), -1);
    m.p.conn[0] = 1.0f; /* b_1 of q: (1, 3) */
    m.p.conn[1] = 3.0f;
    tu_forward(&m);
    ck_assert_int_eq(m.vops->depth_entropy(&m.stream, 0, &h), 2);
    ck_assert_double_eq_tol(h, -(0.25 * log(0.25) + 0.75 * log(0.75)), 1e-12);
    model_free(&m);
    build(&m, variant_config("mudd", 2, 0), 1);
    double intact = tu_forward(&m);
    ck_assert_int_eq(m.vops->knockout(&m.stream, -1), 3);
    ck_assert(tu_forward(&m) == intact);
    for (int s = 0; s < 3; s++) {
        m.vops->knockout(&m.stream, s);
        double loss = tu_forward(&m);
        ck_assert_msg(loss != intact, "mudd: source %d changes nothing", s);
    }
    m.vops->knockout(&m.stream, -1);
    ck_assert(tu_forward(&m) == intact);
    model_free(&m);
}
END_TEST

/* FLOPs and floor traffic by hand, n_layer = 2 (K = 2), d = 16. Per DA_k with m = k + 1 sources,
 * S_k streams, H_k hidden: 4d + 6 S m d, and with the generator 3 (2 d H + 2 H S m) + 9d.
 * qkvr: DA_1 (m 2, S 4, H 8): 64 + 768 + 1152 + 144 = 2128; DA_2 (m 3, S 1, H 12): 64 + 288 +
 * 1368 + 144 = 1864. dynamic=off: 832 + 352. ways=r: DA_1 (S 1, H 2): 64 + 192 + 216 + 144 = 616.
 * Traffic rows per DA_k: 6 + m + S + 2 + 6 + S + 3m (+ 6 with the generator), plus 2: qkvr 36 +
 * 34 + 2 = 72 rows; passes 1 + 2 x (6 + 6). */
START_TEST(test_mudd_counts) {
    Config c = variant_config("prenorm", 2, 0);
    c.d_model = 16;
    double base = flops_per_token(&c) - c.vt->flops_per_token(&c);
    tu_set(&c, "variant", "mudd");
    ck_assert_double_eq(flops_per_token(&c) - base, 2128 + 1864);
    VariantTraffic t = c.vt->traffic_per_token(&c);
    ck_assert_double_eq(t.floats, 72 * 16);
    ck_assert_double_eq(t.passes, 25);
    tu_set(&c, "variant", "mudd:dynamic=off");
    ck_assert_double_eq(flops_per_token(&c) - base, 832 + 352);
    t = c.vt->traffic_per_token(&c);
    ck_assert_double_eq(t.floats, 60 * 16);
    ck_assert_double_eq(t.passes, 13);
    tu_set(&c, "variant", "mudd:ways=r,dynamic=on");
    ck_assert_double_eq(flops_per_token(&c) - base, 616 + 1864);
}
END_TEST

static Suite *variants_suite(void) {
    Suite *s = suite_create("variants");
    TCase *tc = tcase_create("variants");
    tcase_add_checked_fixture(tc, NULL, tu_free_all);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_finite_differences);
    tcase_add_test(tc, test_finite_differences_attnres_options);
    tcase_add_test(tc, test_attnres_options_by_hand);
    tcase_add_test(tc, test_finite_differences_attnres_design);
    tcase_add_test(tc, test_attnres_general_path_matches_default);
    tcase_add_test(tc, test_attnres_design_by_hand);
    tcase_add_test(tc, test_attnres_design_refused);
    tcase_add_test(tc, test_every_variant_in_its_four_places);
    tcase_add_test(tc, test_every_variant_by_construction);
    tcase_add_test(tc, test_block_sources_worked_example);
    tcase_add_test(tc, test_full_uniform_at_zero_queries);
    tcase_add_test(tc, test_block_with_n_equal_l_is_full);
    tcase_add_test(tc, test_denseformer_init_is_prenorm);
    tcase_add_test(tc, test_postnorm);
    tcase_add_test(tc, test_finite_differences_laurel);
    tcase_add_test(tc, test_laurel_init_is_prenorm);
    tcase_add_test(tc, test_laurel_refused);
    tcase_add_test(tc, test_routing_entropy_known_cases);
    tcase_add_test(tc, test_routing_entropy_is_per_token);
    tcase_add_test(tc, test_knockout_loss);
    tcase_add_test(tc, test_laurel_pa_routing);
    tcase_add_test(tc, test_knockout_by_hand);
    tcase_add_test(tc, test_block_rejects_bad_n);
    tcase_add_test(tc, test_variant_flops);
    tcase_add_test(tc, test_variant_traffic);
    tcase_add_test(tc, test_finite_differences_frac);
    tcase_add_test(tc, test_frac_init_is_prenorm);
    tcase_add_test(tc, test_frac_by_hand);
    tcase_add_test(tc, test_frac_gains);
    tcase_add_test(tc, test_frac_refused);
    tcase_add_test(tc, test_finite_differences_mudd);
    tcase_add_test(tc, test_mudd_init_is_prenorm);
    tcase_add_test(tc, test_mudd_split_inputs);
    tcase_add_test(tc, test_mudd_routing);
    tcase_add_test(tc, test_mudd_counts);
    suite_add_tcase(s, tc);
    return s;
}

RB_TEST_MAIN(variants_suite)
