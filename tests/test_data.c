/* Data sources: synthetic generators against their exact entropy, determinism of the data order,
 * the text loader and the llm.c shard reader, and their bad-input errors. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "testutil.h"

static Config cfg_with(const char *data, int T) {
    Config c;
    config_defaults(&c);
    snprintf(c.data, sizeof c.data, "%s", data);
    c.seq_len = T;
    return c;
}

/* The empirical log-loss of the true chain on generated rows matches the exact entropy rate. */
START_TEST(test_markov_entropy) {
    Config c = cfg_with("synth:markov", 256);
    Data d;
    ck_assert_msg(data_open(&d, &c) == 0, "%s", rb_error());
    int B = 64, len = c.seq_len + 1;
    int *rows = tu_mem((size_t)B * len * sizeof(int));
    double sum = 0, sumsq = 0;
    long n = 0;
    for (int step = 0; step < 8; step++) {
        data_train_batch(&d, step, B, rows);
        for (int r = 0; r < B; r++) {
            int *row = rows + (size_t)r * len;
            for (int t = d.mk.order; t < len;
                 t++) { /* per-token loss = -log p(x_t | x_{t-2..t-1}) */
                double lp = markov_logprob(&d.mk, row + t - d.mk.order, d.mk.order + 1);
                ck_assert(isfinite(lp));
                sum -= lp;
                sumsq += lp * lp;
                n++;
            }
        }
    }
    double mean = sum / n, se = sqrt((sumsq / n - mean * mean) / n);
    ck_assert_msg(fabs(mean - d.mk.entropy_rate) < 4 * se, "empirical %g vs exact %g (se %g)", mean,
                  d.mk.entropy_rate, se);
    ck_assert(d.mk.entropy_rate > 0.3 && d.mk.entropy_rate < log(4.0));
    double floor = data_loss_floor(&d);
    ck_assert(floor >= d.mk.entropy_rate && floor < d.mk.entropy_rate + 0.1);
    data_close(&d);
}
END_TEST

static int node_index(int ch) {
    return ch >= 'a' && ch <= 'z' ? ch - 'a' : (ch >= 'A' && ch <= 'Z' ? 26 + ch - 'A' : -1);
}

/* Every answer in a hops row is f^h(start) for the permutation listed before it. */
START_TEST(test_hops_answers) {
    Config c = cfg_with("synth:hops:nodes=8,hops=3,queries=4", 200);
    Data d;
    ck_assert_msg(data_open(&d, &c) == 0, "%s", rb_error());
    int len = c.seq_len + 1, *row = tu_mem(len * sizeof(int)), checked = 0;
    data_train_batch(&d, 3, 1, row);
    int E = d.hp.example_len, N = d.hp.nodes;
    ck_assert_int_eq(E, 2 * 8 + 1 + 16 + 1);
    for (int base = 0; base + E <= len; base += E) {
        int f[8], seen = 0;
        for (int i = 0; i < N; i++) {
            f[node_index(row[base + 2 * i])] = node_index(row[base + 2 * i + 1]);
            seen |= 1 << node_index(row[base + 2 * i + 1]);
        }
        ck_assert_int_eq(seen, 255); /* values form a permutation */
        ck_assert_int_eq(row[base + 2 * N], '|');
        for (int q = 0; q < d.hp.queries; q++) {
            const int *t = row + base + 2 * N + 1 + 4 * q;
            int a = node_index(t[0]), h = t[1] - '0';
            ck_assert(h >= 1 && h <= 3);
            for (int k = 0; k < h; k++) a = f[a];
            ck_assert_int_eq(node_index(t[2]), a);
            ck_assert_int_eq(t[3], ';');
            checked++;
        }
        ck_assert_int_eq(row[base + E - 1], '\n');
    }
    ck_assert_int_ge(checked, 20);
    data_close(&d);
}
END_TEST

/* nodes=2, hops=1, queries=1: example "k v k v | s 1 a ; \n" (10 tokens). Targets 1..10 are
 * positions 1..9 and 0 of the example; random ones: value 1 (log 2), key 2 (log 1), start (log 2),
 * next example's first key (log 2): floor = 3 log 2 / 10. */
/* synth:compose: f is one cycle through all symbols; every answer is f^h(s); training rows never
 * hold a held-out pair, validation rows hold only 1-hop queries and held-out pairs; exactly half
 * of the starts are held out for every h >= 2; the floor by hand. */
START_TEST(test_compose_queries) {
    Config c = cfg_with("synth:compose:symbols=12,hops=3", 400);
    Data d;
    ck_assert_msg(data_open(&d, &c) == 0, "%s", rb_error());
    const Compose *cp = &d.cp;
    int x = 0, steps = 0; /* one cycle: 12 applications from 0 first return to 0 at the 12th */
    do {
        x = cp->f[x];
        steps++;
    } while (x != 0 && steps < 100);
    ck_assert_int_eq(steps, 12);
    for (int h = 2; h <= 3; h++) {
        int held = 0;
        for (int s0 = 0; s0 < 12; s0++) held += cp->held_out[s0][h];
        ck_assert_int_eq(held, 6);
    }
    for (int s0 = 0; s0 < 12; s0++) ck_assert(!cp->held_out[s0][1]);
    int len = c.seq_len + 1, *row = tu_mem(len * sizeof(int)), seen[2][4] = {{0}};
    for (int split = 0; split < 2; split++)
        for (long k = 0; k < 20; k++) {
            if (split == 0)
                data_train_batch(&d, k, 1, row);
            else
                data_val_batch(&d, k, 1, row);
            for (int q = 0; 4 * q + 3 < len; q++) {
                const int *t = row + 4 * q;
                int s0 = node_index(t[0]), h = t[1] - '0', a = s0;
                ck_assert(s0 >= 0 && s0 < 12 && h >= 1 && h <= 3);
                for (int i = 0; i < h; i++) a = cp->f[a];
                ck_assert_int_eq(node_index(t[2]), a);
                ck_assert_int_eq(t[3], ';');
                if (h > 1) ck_assert_int_eq(cp->held_out[s0][h], split);
                seen[split][h]++;
            }
        }
    for (int split = 0; split < 2; split++) /* both splits hold queries of every hop count */
        for (int h = 1; h <= 3; h++) ck_assert_int_gt(seen[split][h], 50);
    data_close(&d);
    /* symbols=4, hops=2: 4 one-hop pairs + 2 two-hop pairs allowed in each split, uniform, so the
     * start and hop-count positions together carry log 6; at T=8 targets 1..8 hold two queries'
     * worth (t%4 = 1, 0 at t = 1, 4, 5, 8): floor = 2 log 6 / 8 */
    Config small = cfg_with("synth:compose:symbols=4,hops=2", 8);
    ck_assert(data_open(&d, &small) == 0);
    ck_assert_double_eq_tol(data_loss_floor(&d), 2 * log(6.0) / 8, 1e-12);
    ck_assert_double_eq_tol(compose_floor(&d.cp, 0, 8), 2 * log(6.0) / 8, 1e-12);
    data_close(&d);
}
END_TEST

START_TEST(test_hops_floor_hand_count) {
    Config c = cfg_with("synth:hops:nodes=2,hops=1,queries=1", 10);
    Data d;
    ck_assert(data_open(&d, &c) == 0);
    ck_assert_double_eq_tol(data_loss_floor(&d), 3 * log(2.0) / 10, 1e-12);
    data_close(&d);
}
END_TEST

START_TEST(test_data_order_deterministic) {
    Config c = cfg_with("synth:markov", 32);
    Data a, b;
    ck_assert(data_open(&a, &c) == 0 && data_open(&b, &c) == 0);
    int r1[4 * 33], r2[4 * 33], r3[4 * 33];
    data_train_batch(&a, 5, 4, r1);
    data_train_batch(&b, 5, 4, r2);
    ck_assert(memcmp(r1, r2, sizeof r1) == 0);
    data_train_batch(&a, 6, 4, r3);
    ck_assert(memcmp(r1, r3, sizeof r1) != 0);
    data_val_batch(&a, 5, 4, r3);
    ck_assert(memcmp(r1, r3, sizeof r1) != 0);
    /* row r of step s is global row s*B + r: step 10 with B=2 reads rows 20, 21 = step 5 rows 0, 1
     * (B=4) */
    int r4[2 * 33];
    data_train_batch(&a, 10, 2, r4);
    ck_assert(memcmp(r4, r1, sizeof r4) == 0);
    data_close(&b);
    c.data_seed = 2;
    ck_assert(data_open(&b, &c) == 0);
    data_train_batch(&b, 5, 4, r2);
    ck_assert(memcmp(r1, r2, sizeof r1) != 0);
    data_close(&a);
    data_close(&b);
}
END_TEST

START_TEST(test_text_loader) {
    char *dir = tu_tempdir(), path[512], spec[600];
    snprintf(path, sizeof path, "%s/t.txt", dir);
    char text[1000];
    for (int i = 0; i < 1000; i++) text[i] = (char)('a' + i % 26);
    ck_assert(tu_write(path, text, sizeof text) == 0);
    snprintf(spec, sizeof spec, "text:%s", path);
    Config c = cfg_with(spec, 16);
    Data d;
    ck_assert_msg(data_open(&d, &c) == 0, "%s", rb_error());
    ck_assert_int_eq((int)d.n_train, 900);
    ck_assert_int_eq((int)d.n_val, 100);
    int rows[3 * 17];
    data_train_batch(&d, 0, 3, rows);
    for (int r = 0; r < 3; r++) /* windows are contiguous text */
        for (int t = 1; t < 17; t++)
            ck_assert_int_eq((rows[r * 17 + t] - 'a'), (rows[r * 17 + t - 1] - 'a' + 1) % 26);
    data_close(&d);
    /* validation = the last 100 bytes; 4 windows of 17 spread evenly over it: offsets
     * round(i * 83 / 3) = 0, 28, 55, 83, so the last window ends with the split's last byte */
    c.batch_size = 2;
    c.eval_tokens = 64;
    ck_assert_msg(data_open(&d, &c) == 0, "%s", rb_error());
    ck_assert_int_eq((int)data_val_batches(&d, 2), 2);
    int vrows[4 * 17], offs[4] = {0, 28, 55, 83};
    data_val_batch(&d, 0, 2, vrows);
    data_val_batch(&d, 1, 2, vrows + 2 * 17);
    for (int r = 0; r < 4; r++)
        for (int t = 0; t < 17; t++) ck_assert_int_eq(vrows[r * 17 + t], text[900 + offs[r] + t]);
    data_close(&d);
    /* eval_tokens=0: the whole split, (100-1)/16 = 6 windows (3 batches of 2) at 0,17,33,50,66,83
     */
    c.eval_tokens = 0;
    ck_assert_msg(data_open(&d, &c) == 0, "%s", rb_error());
    ck_assert_int_eq((int)data_val_batches(&d, 2), 3);
    int all[6 * 17], whole[6] = {0, 17, 33, 50, 66, 83};
    for (int k = 0; k < 3; k++) data_val_batch(&d, k, 2, all + k * 2 * 17);
    for (int r = 0; r < 6; r++) ck_assert_int_eq(all[r * 17], text[900 + whole[r]]);
    ck_assert_int_eq(all[5 * 17 + 16], text[999]);
    data_close(&d);
    c.batch_size = 16; /* more than the 6 windows the split holds */
    ck_assert(data_open(&d, &c) != 0);
    ck_assert_msg(strstr(rb_error(), "fewer than one batch"), "%s", rb_error());
    data_close(&d);
    c.batch_size = 2;
    c.eval_tokens = 16384;
    /* errors */
    c.seq_len = 200;
    ck_assert(data_open(&d, &c) != 0);
    ck_assert_msg(strstr(rb_error(), "validation split has 100 tokens"), "%s", rb_error());
    data_close(&d);
    Config m = cfg_with("text:/nonexistent/file.txt", 16);
    ck_assert(data_open(&d, &m) != 0 && strstr(rb_error(), "/nonexistent/file.txt"));
    data_close(&d);
    snprintf(path, sizeof path, "%s/empty.txt", dir);
    ck_assert(tu_write(path, "", 0) == 0);
    snprintf(spec, sizeof spec, "text:%s", path);
    Config e = cfg_with(spec, 16);
    ck_assert(data_open(&d, &e) != 0 && strstr(rb_error(), "empty"));
    data_close(&d);
}
END_TEST

static void write_shard(const char *path, int magic, int ntok_header, const uint16_t *tok, int n) {
    int32_t h[256] = {0};
    h[0] = magic;
    h[1] = 1;
    h[2] = ntok_header;
    FILE *f = fopen(path, "wb");
    fwrite(h, 4, 256, f);
    fwrite(tok, 2, n, f);
    fclose(f);
}

START_TEST(test_llmc_shards) {
    char *dir = tu_tempdir(), p[600], spec[700];
    uint16_t tok[300];
    for (int i = 0; i < 300; i++) tok[i] = (uint16_t)(i * 7 % 1000);
    snprintf(p, sizeof p, "%s/data_train_000.bin", dir);
    write_shard(p, 20240520, 300, tok, 300);
    snprintf(p, sizeof p, "%s/data_train_001.bin", dir);
    write_shard(p, 20240520, 100, tok + 200, 100);
    snprintf(p, sizeof p, "%s/data_val_000.bin", dir);
    write_shard(p, 20240520, 50, tok, 50);
    snprintf(spec, sizeof spec, "llmc:%s/data_*.bin", dir);
    Config c = cfg_with(spec, 16);
    c.vocab_size = 1000;
    Data d;
    ck_assert_msg(data_open(&d, &c) == 0, "%s", rb_error());
    ck_assert_int_eq((int)d.n_train, 400);
    ck_assert_int_eq((int)d.n_val, 50);
    ck_assert_int_eq(d.train[300], tok[200]); /* shards concatenated in name order */
    int rows[17];
    data_val_batch(&d, 0, 1, rows);
    for (int t = 0; t < 17; t++) ck_assert_int_eq(rows[t], tok[t]);
    data_close(&d);
    /* token out of vocabulary */
    c.vocab_size = 500;
    ck_assert(data_open(&d, &c) != 0 && strstr(rb_error(), "vocab_size=500"));
    data_close(&d);
    /* bad magic and truncated shard */
    snprintf(p, sizeof p, "%s/bad_train.bin", dir);
    write_shard(p, 12345, 10, tok, 10);
    snprintf(spec, sizeof spec, "llmc:%s/bad_*.bin", dir);
    Config b = cfg_with(spec, 4);
    b.vocab_size = 1000;
    ck_assert(data_open(&d, &b) != 0 && strstr(rb_error(), "bad header"));
    data_close(&d);
    write_shard(p, 20240520, 20, tok, 10);
    ck_assert(data_open(&d, &b) != 0 && strstr(rb_error(), "header says 20 tokens"));
    data_close(&d);
    /* a shard with a header and no tokens is named, not taken for a missing training shard */
    snprintf(p, sizeof p, "%s/s_train.bin", dir);
    write_shard(p, 20240520, 0, tok, 0);
    snprintf(p, sizeof p, "%s/s_val.bin", dir);
    write_shard(p, 20240520, 50, tok, 50);
    snprintf(spec, sizeof spec, "llmc:%s/s_*.bin", dir);
    Config e = cfg_with(spec, 4);
    e.vocab_size = 1000;
    ck_assert(data_open(&d, &e) != 0);
    ck_assert_msg(strstr(rb_error(), "s_train.bin: the shard holds no tokens"), "%s", rb_error());
    data_close(&d);
    snprintf(p, sizeof p, "%s/t_val.bin", dir); /* the empty one is the validation shard */
    write_shard(p, 20240520, 0, tok, 0);
    snprintf(p, sizeof p, "%s/t_train.bin", dir);
    write_shard(p, 20240520, 300, tok, 300);
    snprintf(spec, sizeof spec, "llmc:%s/t_*.bin", dir);
    e = cfg_with(spec, 4);
    e.vocab_size = 1000;
    ck_assert(data_open(&d, &e) != 0);
    ck_assert_msg(strstr(rb_error(), "t_val.bin: the shard holds no tokens"), "%s", rb_error());
    data_close(&d);
    /* only validation shards: the message names one */
    snprintf(spec, sizeof spec, "llmc:%s/s_val.bin", dir);
    e = cfg_with(spec, 4);
    e.vocab_size = 1000;
    ck_assert(data_open(&d, &e) != 0);
    ck_assert_msg(
        strstr(rb_error(), "no training shard: every matching file is a validation shard") &&
            strstr(rb_error(), "s_val.bin"),
        "%s", rb_error());
    data_close(&d);
    snprintf(spec, sizeof spec, "llmc:%s/none_*.bin", dir);
    Config z = cfg_with(spec, 4);
    ck_assert(data_open(&d, &z) != 0 && strstr(rb_error(), "no file matches"));
    data_close(&d);
}
END_TEST

START_TEST(test_data_spec_errors) {
    Data d;
    const char *bad[] = {"synth:nope",
                         "synth:markov:alphabet=99",
                         "synth:hops:color=3",
                         "synth:hops:nodes",
                         "foo:bar",
                         ""};
    for (int i = 0; i < 6; i++) {
        Config c = cfg_with(bad[i], 16);
        ck_assert_msg(data_open(&d, &c) != 0, "accepted '%s'", bad[i]);
        ck_assert(strlen(rb_error()) > 10);
        data_close(&d);
    }
}
END_TEST

static Suite *data_suite(void) {
    Suite *s = suite_create("data");
    TCase *tc = tcase_create("data");
    tcase_add_checked_fixture(tc, NULL, tu_free_all);
    tcase_add_test(tc, test_markov_entropy);
    tcase_add_test(tc, test_hops_answers);
    tcase_add_test(tc, test_hops_floor_hand_count);
    tcase_add_test(tc, test_compose_queries);
    tcase_add_test(tc, test_data_order_deterministic);
    tcase_add_test(tc, test_text_loader);
    tcase_add_test(tc, test_llmc_shards);
    tcase_add_test(tc, test_data_spec_errors);
    suite_add_tcase(s, tc);
    return s;
}

RB_TEST_MAIN(data_suite)
