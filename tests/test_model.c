/* Whole-model checks: finite differences of the mean loss wrt every parameter tensor, determinism,
 * the prenorm stream identity, the FLOP counter against a hand count, and no allocation per step.
 */
#include <malloc.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "infer.h"
#include "ops.h"
#include "optim.h"
#include "profile.h"
#include "registry.h"
#include "alloc_count.h"
#include "testutil.h"

START_TEST(test_model_finite_differences) {
    Config c;
    tu_tiny_config(&c);
    tu_model_grad_check(&c);
    c.tie_embeddings = 1;
    tu_model_grad_check(&c);
}
END_TEST

START_TEST(test_model_deterministic) {
    Config c;
    tu_tiny_config(&c);
    Model a, b;
    ck_assert(model_build(&a, &c) == 0 && model_build(&b, &c) == 0);
    ck_assert(memcmp(a.params, b.params, a.n_params * 4) == 0);
    tu_fill_batch(&a, 3);
    tu_fill_batch(&b, 3);
    for (int s = 0; s < 3; s++) {
        model_zero_grad(&a);
        model_zero_grad(&b);
        ck_assert(tu_forward(&a) == tu_forward(&b));
        model_backward(&a);
        model_backward(&b);
        ck_assert(memcmp(a.grads, b.grads, a.n_params * 4) == 0);
        adamw_step(&a, 1e-2, s + 1);
        adamw_step(&b, 1e-2, s + 1);
    }
    ck_assert(memcmp(a.params, b.params, a.n_params * 4) == 0);
    /* a different seed gives different weights */
    c.seed = 2;
    model_free(&b);
    ck_assert(model_build(&b, &c) == 0);
    ck_assert(memcmp(a.p.wqkv, b.p.wqkv, 64) != 0);
    model_free(&a);
    model_free(&b);
}
END_TEST

/* prenorm: the final stream equals e + sum of everything the sublayers wrote. */
START_TEST(test_prenorm_stream_identity) {
    Config c;
    tu_tiny_config(&c);
    Model m;
    ck_assert(model_build(&m, &c) == 0);
    tu_fill_batch(&m, 5);
    model_forward(&m);
    const float *out = m.vops->output(&m.stream);
    size_t n = (size_t)m.N * m.C;
    for (size_t i = 0; i < n; i++) {
        double s = m.a.emb[i];
        for (int l = 0; l < m.L; l++) s += m.a.sub_out[(size_t)l * n + i];
        ck_assert_double_eq_tol(out[i], s, 1e-5);
    }
    /* sublayer 0 reads the embedding itself */
    ck_assert(memcmp(m.sub_in[0], m.a.emb, n * 4) == 0);
    model_free(&m);
}
END_TEST

/* Hand count for n_layer=2, d=16, H=64, V=256, T=8 (one attention tile of 8x8):
 * per layer: qkv 2*16*48=1536, wo 2*16*16=512, w13 2*16*128=4096, w2 2*64*16=2048 -> 8192;
 * 2 layers 16384; head 2*16*256=8192; attention per token per layer: QK^T 2*8*16=256 and PV 256 ->
 * 2 layers 1024. forward 25600, x3 for forward+backward = 76800; prenorm's adds: 4 sublayers * 16
 * channels * 2 = 128. Total 76928 per token, x B*T = 2*8 tokens. */
START_TEST(test_flops_hand_count) {
    Config c;
    config_defaults(&c);
    c.n_layer = 2;
    c.d_model = 16;
    c.n_head = 2;
    c.mlp_hidden = 64;
    c.vocab_size = 256;
    c.seq_len = 8;
    c.batch_size = 2;
    ck_assert_double_eq(flops_per_token(&c), 76928.0);
    ck_assert_double_eq(flops_per_step(&c), 76928.0 * 16);
    /* T = 2 tiles of 64 + 1 row: the masked upper tile is skipped.
     * rows 0..63 use 64 keys, 64..127 use 128, row 128 uses 129: mean = (64*64+64*128+129)/129 */
    c.seq_len = 129;
    double cols = (64.0 * 64 + 64.0 * 128 + 129) / 129;
    double att = 2 * 2 * 2 * cols * 16;
    ck_assert_double_eq_tol(flops_per_token(&c), 3 * (2 * (2 * 4096.0 + 4096) + att) + 128, 1e-6);
}
END_TEST

/* The training step allocates nothing (docs/architecture.md, "Memory"): no allocation call at
 * all (tests/alloc_count.c counts them, so a malloc/free pair fails too) and the same heap in use,
 * for a step (forward, backward, clipping, update) of every variant under both optimizers. */
START_TEST(test_no_allocation_in_step) {
    static const char *const optimizers[] = {"adamw", "muon"};
    for (int i = 0; rb_variants[i]; i++)
        for (int o = 0; o < 2; o++) {
            Config c;
            tu_tiny_config(&c);
            tu_set(&c, "variant", rb_variants[i]->name);
            tu_set(&c, "optimizer", optimizers[o]);
            Model m;
            ck_assert_msg(model_build(&m, &c) == 0, "%s", rb_error());
            tu_fill_batch(&m, 9);
            for (int s = 0; s < 3; s++) {
                struct mallinfo2 before = mallinfo2();
                long calls = tu_alloc_calls();
                model_zero_grad(&m);
                model_forward(&m);
                model_backward(&m);
                optimizer_apply(&m, 1e-3, s + 1, grad_global_norm(&m));
                long made = tu_alloc_calls() - calls;
                struct mallinfo2 after = mallinfo2();
                ck_assert_msg(made == 0, "%s, %s: step %d made %ld allocation calls",
                              rb_variants[i]->name, optimizers[o], s + 1, made);
                if (s > 0) /* s = 0 warms BLAS (its allocations are its own, not counted above) */
                    ck_assert_msg(after.uordblks == before.uordblks,
                                  "%s, %s: step %d changed the heap in use by %ld bytes",
                                  rb_variants[i]->name, optimizers[o], s + 1,
                                  (long)after.uordblks - (long)before.uordblks);
            }
            model_free(&m);
        }
}
END_TEST

START_TEST(test_lr_schedule) {
    Config c;
    config_defaults(&c);
    c.lr = 1.0;
    c.min_lr = 0.1;
    c.warmup = 4;
    ck_assert_double_eq_tol(lr_at(&c, 0, 14), 0.25, 1e-12);
    ck_assert_double_eq_tol(lr_at(&c, 3, 14), 1.0, 1e-12);
    ck_assert_double_eq_tol(lr_at(&c, 4, 14), 1.0, 1e-12);
    ck_assert_double_eq_tol(lr_at(&c, 13, 14), 0.1, 1e-12);
    ck_assert_double_eq_tol(lr_at(&c, 8, 14), 0.1 + 0.45 * (1 + cos(M_PI * 4 / 9)), 1e-12);
}
END_TEST

START_TEST(test_clipping_and_decay_mask) {
    Config c;
    tu_tiny_config(&c);
    c.grad_clip = 1e-3;
    c.weight_decay = 0.5;
    Model m;
    ck_assert(model_build(&m, &c) == 0);
    tu_fill_batch(&m, 1);
    model_zero_grad(&m);
    model_forward(&m);
    model_backward(&m);
    double norm = grad_global_norm(&m);
    ck_assert(norm > 1e-3);
    /* with zero gradients only decay acts: matrices shrink by lr*wd, gains and wte stay */
    model_zero_grad(&m);
    float w0 = m.p.wqkv[0], g0 = m.p.attn_g[0], e0 = m.p.wte[0];
    adamw_step(&m, 0.1, 1);
    ck_assert_float_eq_tol(m.p.wqkv[0], w0 * (1 - 0.05f), 1e-7);
    ck_assert_float_eq(m.p.attn_g[0], g0);
    ck_assert_float_eq(m.p.wte[0], e0);
    model_free(&m);
}
END_TEST

/* profile.csv rows against values computed here from the model's buffers (prenorm). */
START_TEST(test_profile_rows) {
    Config c;
    tu_tiny_config(&c);
    Model m;
    ck_assert(model_build(&m, &c) == 0);
    tu_fill_batch(&m, 13);
    model_forward(&m);
    size_t nd = (size_t)m.N * m.C;
    double *stream = tu_mem(nd * sizeof(double));
    for (size_t i = 0; i < nd; i++) stream[i] = m.a.emb[i];
    ProfileRow rows[RB_MAX_SUB + 1];
    profile_rows(&m, rows);
    for (int l = 0; l < m.L; l++) {
        double in = 0, out = 0, st = 0;
        for (size_t i = 0; i < nd; i++) {
            in += stream[i] * stream[i]; /* prenorm: sublayer l reads x_{l-1} = e + sum v */
            double v = m.a.sub_out[l * nd + i];
            out += v * v;
            stream[i] += v;
            st += stream[i] * stream[i];
        }
        ck_assert_int_eq(rows[l].layer, l + 1);
        ck_assert_str_eq(rows[l].kind, l % 2 ? "mlp" : "attn");
        ck_assert_double_eq_tol(rows[l].input_rms, sqrt(in / nd), 1e-5);
        ck_assert_double_eq_tol(rows[l].output_rms, sqrt(out / nd), 1e-5);
        ck_assert_double_eq_tol(rows[l].stream_rms, sqrt(st / nd), 1e-5);
        ck_assert(rows[l].grad_rms > 0 && rows[l].param_grad_norm > 0);
    }
    ck_assert_str_eq(rows[m.L].kind, "out");
    /* gradient columns against a plain backward of the same forward */
    model_forward(&m);
    model_zero_grad(&m);
    model_backward(&m);
    double g = 0;
    for (size_t i = 0; i < (size_t)m.C * m.C; i++) g += (double)m.g.wo[i] * m.g.wo[i];
    for (size_t i = 0; i < (size_t)3 * m.C * m.C; i++) g += (double)m.g.wqkv[i] * m.g.wqkv[i];
    for (int i = 0; i < m.C; i++) g += (double)m.g.attn_g[i] * m.g.attn_g[i];
    ck_assert_double_eq_tol(rows[0].param_grad_norm, sqrt(g), 1e-6 * sqrt(g));
    ck_assert_double_eq_tol(rows[m.L].grad_rms, rms_of(m.s.dout, nd), 1e-9);
    ck_assert_double_eq_tol(rows[0].grad_rms, rms_of(m.s.dh, nd), 1e-9); /* sublayer 1 is last */
    model_free(&m);
}
END_TEST

/* One forward + backward of m on batch 9 at the current thread count: the loss. */
static double one_step(Model *m) {
    tu_fill_batch(m, 9);
    model_zero_grad(m);
    double loss = tu_forward(m);
    model_backward(m);
    return loss;
}

/* The per-thread scratch is sized for the thread count at build: a model built at 2 threads that
 * steps at 1 computes exactly what a model built at 1 does; a model built at 1 refuses to step at
 * 2 instead of writing past its scratch: model_forward, model_backward and infer_step return the
 * failure (one line naming both counts) before they touch anything, and the process goes on. For
 * the variants with per-thread partial sums of their own (attnres_full, denseformer) and without
 * (prenorm). */
START_TEST(test_thread_count_change) {
    const char *variants[] = {"prenorm", "attnres_full", "denseformer"};
    int threads = omp_get_max_threads();
    for (int i = 0; i < 3; i++) {
        Config c;
        tu_tiny_config(&c);
        tu_set(&c, "variant", variants[i]);
        Model one, two;
        omp_set_num_threads(1);
        ck_assert(model_build(&one, &c) == 0);
        omp_set_num_threads(2);
        ck_assert(model_build(&two, &c) == 0);
        ck_assert_int_eq(one.nthreads, 1);
        ck_assert_int_eq(two.nthreads, 2);
        /* more threads than at build: refused */
        ck_assert(model_check_threads(&two) == 0);
        ck_assert(model_check_threads(&one) != 0);
        ck_assert_msg(strstr(rb_error(), "sized for 1 thread (") &&
                          strstr(rb_error(), "would run 2"),
                      "%s", rb_error());
        char want[512];
        snprintf(want, sizeof want, "%s", rb_error());
        tu_fill_batch(&one, 9);
        one.loss = -1;
        rb_fail("(cleared)");
        ck_assert_int_eq(model_forward(&one), -1);
        ck_assert_str_eq(rb_error(), want);
        ck_assert_msg(one.loss == -1, "%s: the refused forward ran", variants[i]);
        rb_fail("(cleared)");
        ck_assert_int_eq(model_backward(&one), -1);
        ck_assert_str_eq(rb_error(), want);
        Infer s;
        ck_assert(infer_init(&s, &one, one.B, one.T) == 0);
        int tokens[64] = {0};
        rb_fail("(cleared)");
        ck_assert_ptr_null(infer_step(&s, tokens, 1));
        ck_assert_str_eq(rb_error(), want);
        ck_assert_int_eq(s.pos, 0);
        infer_free(&s);
        /* fewer threads than at build: the same numbers as a model built at that count */
        omp_set_num_threads(1);
        ck_assert(model_check_threads(&one) == 0 && model_check_threads(&two) == 0);
        double l1 = one_step(&one), l2 = one_step(&two);
        ck_assert_msg(l1 == l2, "%s: %.9g vs %.9g", variants[i], l1, l2);
        ck_assert_msg(!memcmp(one.grads, two.grads, one.n_params * sizeof(float)), "%s",
                      variants[i]);
        model_free(&one);
        model_free(&two);
    }
    omp_set_num_threads(threads);
}
END_TEST

static Suite *model_suite(void) {
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("model");
    tcase_add_checked_fixture(tc, NULL, tu_free_all);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_model_finite_differences);
    tcase_add_test(tc, test_model_deterministic);
    tcase_add_test(tc, test_prenorm_stream_identity);
    tcase_add_test(tc, test_flops_hand_count);
    tcase_add_test(tc, test_no_allocation_in_step);
    tcase_add_test(tc, test_lr_schedule);
    tcase_add_test(tc, test_clipping_and_decay_mask);
    tcase_add_test(tc, test_profile_rows);
    tcase_add_test(tc, test_thread_count_change);
    suite_add_tcase(s, tc);
    return s;
}

RB_TEST_MAIN(model_suite)
