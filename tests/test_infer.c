/* Inference (core/infer.c): for every installed variant, prefill and decode with the KV cache give
 * the logits of the training forward at every position (within 1e-5 relative), whatever the chunk
 * sizes; sampling is deterministic for a seed, and temperature and top-k draw from the right
 * distributions. */
#include <math.h>
#include <string.h>

#include "csvread.h"
#include "infer.h"
#include "registry.h"
#include "rng.h"
#include "testutil.h"

/* non-trivial connection weights (zero AttnRes queries would average uniformly) */
static void perturb_conn(Model *m) {
    Rng r;
    rng_seed(&r, 3);
    size_t n = m->vops->param_count(&m->cfg);
    for (size_t i = 0; i < n; i++) m->p.conn[i] += 0.3f * rng_normal(&r);
}

/* Feeds the model's batch through s in chunks of `first` tokens, then `rest` at a time, and
 * returns the worst |difference| to the training forward's logits over their largest |entry|. */
static double chunked_error(Model *m, Infer *s, int first, int rest) {
    int T = m->T, B = m->B, V = m->V;
    infer_reset(s);
    double worst = 0, scale = 0;
    for (size_t i = 0; i < (size_t)m->N * V; i++) scale = fmax(scale, fabs(m->a.logits[i]));
    int tokens[256];
    for (int pos = 0; pos < T;) {
        int n = pos == 0 ? first : rest;
        if (pos + n > T) n = T - pos;
        for (int b = 0; b < B; b++)
            for (int j = 0; j < n; j++) tokens[b * n + j] = m->inputs[b * T + pos + j];
        const float *lg = infer_step(s, tokens, n);
        ck_assert_msg(lg != NULL, "%s", rb_error());
        for (int b = 0; b < B; b++)
            for (int j = 0; j < n; j++)
                for (int k = 0; k < V; k++) {
                    double want = m->a.logits[((size_t)b * T + pos + j) * V + k];
                    worst = fmax(worst, fabs(lg[((size_t)b * n + j) * V + k] - want));
                }
        pos += n;
    }
    return worst / scale;
}

START_TEST(test_decode_equals_forward_every_variant) {
    /* every installed variant, then the AttnRes design options (general path, query projections) */
    const char *specs[34];
    int n = 0;
    for (int i = 0; rb_variants[i] && n < 28; i++) specs[n++] = rb_variants[i]->name;
    specs[n++] = "attnres_full:query=input,heads=2";
    specs[n++] = "attnres_block:query=static,window=1";
    specs[n++] = "laurel:rank=2,pa=3";      /* the earlier states' weights and their low-rank map */
    specs[n++] = "frac:rate=2,form=static"; /* the fractions without the dynamic projection */
    specs[n++] = "mudd:ways=r";             /* one mixture per block (mudd itself: split q, k, v) */
    for (int i = 0; i < n; i++) {
        Config c;
        tu_tiny_config(&c);
        tu_set(&c, "variant", specs[i]);
        if (!strncmp(specs[i], "attnres_block", 13)) tu_set(&c, "attnres_blocks", "2");
        Model m;
        ck_assert_msg(model_build(&m, &c) == 0, "%s", rb_error());
        perturb_conn(&m);
        tu_fill_batch(&m, 5);
        model_forward(&m);
        Infer s;
        ck_assert_msg(infer_init(&s, &m, m.B, m.T) == 0, "%s", rb_error());
        double whole = chunked_error(&m, &s, m.T, 1); /* prefill of the whole sequence */
        double mixed = chunked_error(&m, &s, 3, 1);   /* prefill 3, then decode */
        double one = chunked_error(&m, &s, 1, 1);     /* decode from the first token */
        double odd = chunked_error(&m, &s, 2, 3);     /* chunks of 3 after a prefill of 2 */
        printf("%s: prefill %.1e, prefill 3 + decode %.1e, decode %.1e, chunks %.1e\n", specs[i],
               whole, mixed, one, odd);
        ck_assert_msg(whole < 1e-5 && mixed < 1e-5 && one < 1e-5 && odd < 1e-5,
                      "%s: decoded logits differ from the forward", specs[i]);
        ck_assert_int_eq(s.pos, m.T);
        ck_assert(infer_kv_bytes(&s) == 2 * sizeof(float) * 2 * 2 * 8 * 16);
        /* a chunk past the KV cache (or larger than the buffers) is returned, not fatal: one
         * line, nothing run, the context kept */
        int tok[16] = {0};
        ck_assert_ptr_null(infer_step(&s, tok, 1));
        ck_assert_str_eq(rb_error(), "infer: a chunk of 1 tokens at position 8 (chunks of at most "
                                     "8, positions below seq_len=8)");
        ck_assert_int_eq(s.pos, m.T);
        infer_reset(&s);
        ck_assert_ptr_null(infer_step(&s, tok, m.T + 1));
        ck_assert_ptr_null(infer_step(&s, tok, 0));
        ck_assert_ptr_nonnull(infer_step(&s, tok, 1)); /* and the next chunk that fits runs */
        infer_free(&s);
        model_free(&m);
    }
}
END_TEST

START_TEST(test_sampling_distributions) {
    const float logits[3] = {logf(0.5f), logf(0.3f), logf(0.2f)};
    float scratch[3];
    Rng r;
    int n = 40000, count[3] = {0, 0, 0};
    ck_assert_int_eq(infer_sample(logits, 3, 0.0, 0, &r, scratch), 0); /* temperature 0: argmax */
    ck_assert_int_eq(infer_sample(logits, 3, 1.0, 1, &r, scratch), 0); /* top-1: argmax */
    rng_seed(&r, 11);
    for (int i = 0; i < n; i++) count[infer_sample(logits, 3, 1.0, 0, &r, scratch)]++;
    double p1[3] = {0.5, 0.3, 0.2};
    for (int k = 0; k < 3; k++) /* 5 standard errors at n = 40000 is < 0.013 */
        ck_assert_msg(fabs(count[k] / (double)n - p1[k]) < 0.013, "T=1: %d", count[k]);
    memset(count, 0, sizeof count);
    for (int i = 0; i < n; i++) count[infer_sample(logits, 3, 1.0, 2, &r, scratch)]++;
    ck_assert_int_eq(count[2], 0); /* top-2 never draws the third */
    ck_assert_msg(fabs(count[0] / (double)n - 0.625) < 0.013, "top-2: %d", count[0]);
    memset(count, 0, sizeof count);
    for (int i = 0; i < n; i++) count[infer_sample(logits, 3, 0.5, 0, &r, scratch)]++;
    double z = 0.25 + 0.09 + 0.04; /* T = 0.5 squares the probabilities */
    ck_assert_msg(fabs(count[0] / (double)n - 0.25 / z) < 0.013, "T=0.5: %d", count[0]);
    ck_assert_msg(fabs(count[2] / (double)n - 0.04 / z) < 0.013, "T=0.5: %d", count[2]);
    /* the same seed draws the same sequence */
    Rng a, b;
    rng_seed(&a, 99);
    rng_seed(&b, 99);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(infer_sample(logits, 3, 0.8, 0, &a, scratch),
                         infer_sample(logits, 3, 0.8, 0, &b, scratch));
}
END_TEST

/* Longer than one attention tile (64 rows): the training forward tiles its rows, the cache does
 * not; they agree within rounding. */
START_TEST(test_decode_across_attention_tiles) {
    const char *vs[2] = {"prenorm", "attnres_block"};
    for (int i = 0; i < 2; i++) {
        Config c;
        tu_tiny_config(&c);
        c.seq_len = 80;
        c.eval_tokens = 80;
        c.batch_size = 1;
        tu_set(&c, "variant", vs[i]);
        Model m;
        ck_assert_msg(model_build(&m, &c) == 0, "%s", rb_error());
        perturb_conn(&m);
        tu_fill_batch(&m, 8);
        model_forward(&m);
        Infer s;
        ck_assert(infer_init(&s, &m, 1, m.T) == 0);
        double e1 = chunked_error(&m, &s, 70, 1), e2 = chunked_error(&m, &s, m.T, 1);
        printf("%s at T=80: prefill 70 + decode %.1e, prefill %.1e\n", vs[i], e1, e2);
        ck_assert(e1 < 1e-5 && e2 < 1e-5);
        infer_free(&s);
        model_free(&m);
    }
}
END_TEST

/* `bench --infer` at short contexts: it decoded 32 tokens after seq_len/2 whatever seq_len was,
 * past the KV cache's seq_len positions (seq_len=16 wrote beyond the cache and crashed); now it
 * decodes the positions left (8 at seq_len=16, 1 at the smallest, 2) and writes a row per
 * variant with finite, positive times. */
START_TEST(test_bench_infer_short_context) {
    const int seq_lens[] = {16, 2};
    for (int k = 0; k < 2; k++) {
        char *dir = tu_tempdir(), args[1024], out[16384], path[1200];
        snprintf(args, sizeof args,
                 "bench --infer --steps 1 --out %s --shape n_layer=2 d_model=16 n_head=2 "
                 "seq_len=%d threads=1",
                 dir, seq_lens[k]);
        ck_assert_msg(tu_run_cli(args, out, sizeof out) == 0, "%s", out);
        char want[64];
        snprintf(want, sizeof want, "%d steps)", seq_lens[k] - seq_lens[k] / 2);
        ck_assert_msg(strstr(out, want) != NULL, "%s", out);
        snprintf(path, sizeof path, "%s/infer.csv", dir);
        CsvTable t;
        ck_assert_int_eq(csv_load(path, &t), 0);
        size_t nv = 0;
        while (rb_variants[nv]) nv++;
        ck_assert_int_eq(csv_nrows(&t), nv); /* every installed variant */
        for (size_t r = 0; r < nv; r++) {
            double ms = csv_num(&t, r, csv_col(&t, "decode1_ms"));
            ck_assert_msg(isfinite(ms) && ms > 0, "row %zu: %g", r, ms);
        }
        csv_table_free(&t);
    }
}
END_TEST

static Suite *infer_suite(void) {
    Suite *s = suite_create("infer");
    TCase *tc = tcase_create("infer");
    tcase_add_checked_fixture(tc, NULL, tu_free_all);
    tcase_add_test(tc, test_decode_equals_forward_every_variant);
    tcase_add_test(tc, test_sampling_distributions);
    tcase_add_test(tc, test_decode_across_attention_tiles);
    tcase_add_test(tc, test_bench_infer_short_context);
    suite_add_tcase(s, tc);
    return s;
}

RB_TEST_MAIN(infer_suite)
