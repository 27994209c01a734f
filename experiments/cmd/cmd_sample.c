/* `resbench sample RUN_DIR`: autoregressive generation from a run's parameters with a KV cache
 * (core/infer.c), streaming tokens as they come: bytes as text for byte-level models
 * (data=text:...), token ids otherwise. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"
#include "cmd.h"
#include "infer.h"
#include "rng.h"
#include "rundir.h"
#include "train.h"
#include "util.h"

static void sample_help(void) {
    printf("usage: resbench sample RUN_DIR [--prompt TEXT | --prompt-tokens LIST] [--tokens N]\n"
           "                      [--temperature T] [--top-k K] [--seed S] [--threads N]\n\n"
           "Generates N tokens (default 200) after the prompt from the run's model.bin (or its\n"
           "ckpt.bin while it trains), with a KV cache: the prompt is prefilled in one pass, then\n"
           "one token per step. Byte-level models (data=text:...) take --prompt TEXT (default a\n"
           "newline) and print text; others take --prompt-tokens 1,2,3 (default 0) and print ids.\n"
           "temperature 0 is greedy (default 0.8); --top-k 0 keeps every token (default 0); the\n"
           "same seed (default 1) gives the same text. When the context reaches seq_len, the\n"
           "last seq_len/2 tokens are prefilled again and generation continues (a sliding window\n"
           "of the length the model was trained on). Progress and settings go to stderr.\n");
}

/* The prompt as tokens (at most seq_len). 0, or -1 with rb_error(). */
static int prompt_tokens(const Config *c, const char *text, const char *list, int *out, int *n) {
    int bytes = strncmp(c->data, "text:", 5) == 0;
    *n = 0;
    if (text && list) return rb_fail("sample: give --prompt or --prompt-tokens, not both");
    if (text && !bytes)
        return rb_fail("sample: --prompt: this model was trained on '%s' (tokens, not text); "
                       "give --prompt-tokens",
                       c->data);
    if (text) {
        for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
            if (*n == c->seq_len) break;
            out[(*n)++] = *p;
        }
        if (strlen(text) > (size_t)c->seq_len)
            return rb_fail("sample: --prompt is %zu bytes, longer than seq_len=%d", strlen(text),
                           c->seq_len);
    } else if (list) {
        long *ids = rb_calloc((size_t)c->seq_len + 1, sizeof(long), "prompt");
        int k = cli_int_list(list, ids, c->seq_len, "--prompt-tokens");
        long bad = -1;
        for (int i = 0; i < k && bad < 0; i++) {
            if (ids[i] >= c->vocab_size) bad = ids[i];
            out[(*n)++] = (int)ids[i];
        }
        free(ids);
        if (k < 0) return rb_fail("sample: %s (at most seq_len=%d tokens)", rb_error(), c->seq_len);
        if (bad >= 0)
            return rb_fail("sample: --prompt-tokens: %ld is outside the vocabulary [0, %d)", bad,
                           c->vocab_size);
    }
    if (*n == 0) out[(*n)++] = bytes ? '\n' : 0;
    if (text && *n == 0) return rb_fail("sample: --prompt is empty");
    return 0;
}

static void emit(int tok, int bytes) {
    if (bytes)
        fputc(tok, stdout);
    else
        printf("%d ", tok);
    fflush(stdout);
}

int cmd_sample(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        sample_help();
        return RB_EXIT_OK;
    }
    static const char *const opts[] = {
        "--prompt=", "--prompt-tokens=", "--tokens=",  "--temperature=",
        "--top-k=",  "--seed=",          "--threads=", NULL};
    const char *v[7] = {NULL}, *dirs[1];
    if (cli_positional(argc, argv, opts, v, dirs, 1, 1, "RUN_DIR") < 0)
        rb_die(RB_EXIT_USAGE, "sample: %s", rb_error());
    double ntok = 200, temp = 0.8, topk = 0, seed = 1, threads = 0;
    if ((v[2] && cli_number(v[2], 1, 1e7, 1, "--tokens", &ntok) != 0) ||
        (v[3] && cli_number(v[3], 0, 100, 0, "--temperature", &temp) != 0) ||
        (v[4] && cli_number(v[4], 0, 1 << 24, 1, "--top-k", &topk) != 0) ||
        (v[5] && cli_number(v[5], 0, 1e15, 1, "--seed", &seed) != 0) ||
        (v[6] && cli_number(v[6], 0, 1024, 1, "--threads", &threads) != 0))
        rb_die(RB_EXIT_USAGE, "sample: %s", rb_error());
    const char *dir = dirs[0];
    char path[4400];
    Config c;
    if (rundir_read_config(dir, &c) != 0) rb_die(RB_EXIT_USAGE, "sample: %s", rb_error());
    if (topk > c.vocab_size)
        rb_die(RB_EXIT_USAGE, "sample: --top-k %.0f is larger than the vocabulary (%d)", topk,
               c.vocab_size);
    const char *file = rb_is_file_in(dir, "model.bin") ? "model.bin" : "ckpt.bin";
    if (!rb_is_file_in(dir, file))
        rb_die(RB_EXIT_USAGE,
               "sample: %s has no model.bin or ckpt.bin: nothing to sample from (it has not "
               "finished, or was stopped before its first checkpoint)",
               dir);
    int *prompt = rb_calloc((size_t)c.seq_len + 1, sizeof(int), "prompt"), np;
    if (prompt_tokens(&c, v[0], v[1], prompt, &np) != 0) rb_die(RB_EXIT_USAGE, "%s", rb_error());
    train_set_threads((int)threads);
    Model m;
    CkptState st;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (model_build_rows(&m, &c, 1) != 0 || checkpoint_load_params(path, &m, &st) != 0)
        rb_die(RB_EXIT_USAGE, "sample: %s", rb_error());
    Infer s;
    if (infer_init(&s, &m, 1, c.seq_len) != 0) rb_die(RB_EXIT_USAGE, "sample: %s", rb_error());
    int bytes = strncmp(c.data, "text:", 5) == 0, T = c.seq_len;
    fprintf(stderr,
            "sample: %s (%s, %ld steps, %s), prompt %d tokens, %.0f new, temperature %g, top-k "
            "%.0f, seed %.0f\n",
            dir, c.variant, st.step, file, np, ntok, temp, topk, seed);
    Rng rng;
    rng_seed(&rng, (uint64_t)seed);
    int V = c.vocab_size,
        *ctx = rb_calloc((size_t)T, sizeof(int), "context");       /* the cache's tokens */
    float *pick = rb_calloc((size_t)V, sizeof(float), "sampling"); /* top-k scratch */
    memcpy(ctx, prompt, (size_t)np * sizeof(int));
    for (int i = 0; i < np; i++) emit(prompt[i], bytes);
    const float *logits = infer_step(&s, ctx, np);
    if (!logits) rb_die(RB_EXIT_FAIL, "%s", rb_error());
    const float *last = logits + (size_t)(np - 1) * V; /* the next token's distribution */
    double t0 = rb_now();
    int refills = 0;
    for (long k = 0; k < (long)ntok; k++) {
        int tok = infer_sample(last, V, temp, (int)topk, &rng, pick);
        emit(tok, bytes);
        if (k + 1 == (long)ntok) break;
        if (s.pos == T) { /* the window is full: prefill its last half again, with tok */
            int keep = T / 2;
            memmove(ctx, ctx + T - (keep - 1), (size_t)(keep - 1) * sizeof(int));
            ctx[keep - 1] = tok;
            infer_reset(&s);
            logits = infer_step(&s, ctx, keep);
            if (!logits) rb_die(RB_EXIT_FAIL, "%s", rb_error());
            last = logits + (size_t)(keep - 1) * V;
            refills++;
            continue;
        }
        ctx[s.pos] = tok;
        last = infer_step(&s, &tok, 1);
        if (!last) rb_die(RB_EXIT_FAIL, "%s", rb_error());
    }
    double dt = rb_now() - t0;
    if (bytes) printf("\n");
    fflush(stdout);
    fprintf(stderr, "sample: %.0f tokens in %.2f s (%.0f tok/s, %d window refills)\n", ntok, dt,
            ntok / (dt + 1e-12), refills);
    free(ctx);
    free(pick);
    free(prompt);
    infer_free(&s);
    model_free(&m);
    return RB_EXIT_OK;
}
