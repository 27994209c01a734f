/* `resbench bench --infer`: inference latency per variant (core/infer.c), interleaved like the
 * training bench: prefill of seq_len tokens at batch 1, decode per token at batch 1 and 16 (after
 * a context of seq_len/2, up to 32 steps and never past seq_len), tokens/s, KV-cache and
 * variant-state bytes, overheads vs prenorm. */
#include "bench_infer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer.h"
#include "rng.h"
#include "runs.h"
#include "stats.h"
#include "util.h"

#define DECODE_TOKENS 32 /* decode steps timed per repetition */

typedef struct {
    char name[RB_ARM_MAX];
    Model m;
    Infer one, many; /* batch 1 (prefill chunks of seq_len), batch 16 */
    double prefill_s[BENCH_INFER_MAX_REPS], dec1_s[BENCH_INFER_MAX_REPS],
        dec16_s[BENCH_INFER_MAX_REPS];
    double prefill, dec1, dec16; /* medians: seconds per prefill, per decode step */
} InferRun;

/* Decode steps timed after a context of T/2 tokens: DECODE_TOKENS, or the T - T/2 positions the
 * context leaves when fewer (seq_len < 2 DECODE_TOKENS: the KV cache holds T positions). */
static int decode_steps(int T) {
    return T - T / 2 < DECODE_TOKENS ? T - T / 2 : DECODE_TOKENS;
}

/* Context of T/2 tokens, then decode_steps(T) single-token steps: seconds per step, or -1 with
 * rb_error() when a step fails. */
static double time_decode(Infer *s, const int *tokens, int B, int T) {
    infer_reset(s);
    int ctx = T / 2, steps = decode_steps(T); /* ctx >= 1: seq_len >= 2 */
    int *chunk = rb_calloc((size_t)B * ctx, sizeof(int), "bench");
    for (int b = 0; b < B; b++) memcpy(chunk + (size_t)b * ctx, tokens, (size_t)ctx * sizeof(int));
    int ok = infer_step(s, chunk, ctx) != NULL;
    double t0 = rb_now();
    for (int k = 0; k < steps && ok; k++) ok = infer_step(s, chunk + k % ctx, 1) != NULL;
    double dt = (rb_now() - t0) / steps;
    free(chunk);
    return ok ? dt : -1;
}

int bench_infer(const Config *base, char (*names)[RB_ARM_MAX], int nv, int reps,
                const char *outdir) {
    int T = base->seq_len, B16 = 16;
    if (reps > BENCH_INFER_MAX_REPS) reps = BENCH_INFER_MAX_REPS;
    InferRun *runs = rb_calloc((size_t)nv, sizeof *runs, "bench runs");
    int *tokens = rb_calloc((size_t)T, sizeof(int), "bench");
    Rng rng;
    rng_seed(&rng, 7);
    for (int t = 0; t < T; t++) tokens[t] = (int)rng_below(&rng, (uint32_t)base->vocab_size);
    for (int v = 0; v < nv; v++) {
        Config c = *base;
        if (config_set_variant(&c, names[v], "--variants") != 0) return -1;
        rb_copy_str(runs[v].name, sizeof runs[v].name, names[v]);
        if (model_build_rows(&runs[v].m, &c, 1) != 0 ||
            infer_init(&runs[v].one, &runs[v].m, 1, T) ||
            infer_init(&runs[v].many, &runs[v].m, B16, T / 2) != 0)
            return -1;
        if (!infer_step(&runs[v].one, tokens, T) || /* warm-up */
            time_decode(&runs[v].many, tokens, B16, T) < 0)
            return -1;
    }
    for (int r = 0; r < reps; r++) /* interleaved: every variant sees the same conditions */
        for (int v = 0; v < nv; v++) {
            InferRun *x = &runs[v];
            infer_reset(&x->one);
            double t0 = rb_now();
            if (!infer_step(&x->one, tokens, T)) return -1;
            x->prefill_s[r] = rb_now() - t0;
            x->dec1_s[r] = time_decode(&x->one, tokens, 1, T);
            x->dec16_s[r] = time_decode(&x->many, tokens, B16, T);
            if (x->dec1_s[r] < 0 || x->dec16_s[r] < 0) return -1;
        }
    int pre = -1;
    for (int v = 0; v < nv; v++) {
        runs[v].prefill = stats_median(runs[v].prefill_s, reps);
        runs[v].dec1 = stats_median(runs[v].dec1_s, reps);
        runs[v].dec16 = stats_median(runs[v].dec16_s, reps);
        if (!strcmp(runs[v].name, RB_BASELINE)) pre = v;
    }
    printf("\ninference: prefill of %d tokens (batch 1), decode per token after %d tokens of "
           "context (batch 1 and %d, %d steps), median of %d repetitions\n",
           T, T / 2, B16, decode_steps(T), reps);
    printf("%-14s %11s %10s %11s %10s %12s %10s %9s %11s %9s %9s %9s\n", "variant", "prefill ms",
           "tok/s", "decode1 ms", "tok/s", "decode16 ms", "tok/s", "KV MB", "var B/tok", "prefill",
           "decode1", "decode16");
    char csv[8192];
    size_t n =
        (size_t)snprintf(csv, sizeof csv,
                         "variant,prefill_ms,prefill_tok_s,decode1_ms,decode1_tok_s,"
                         "decode16_ms,decode16_tok_s,kv_bytes,state_bytes_per_token,"
                         "prefill_overhead_pct,decode1_overhead_pct,decode16_overhead_pct\n");
    for (int v = 0; v < nv; v++) {
        const InferRun *x = &runs[v];
        double o[3] = {0, 0, 0};
        if (pre >= 0) {
            o[0] = 100 * (x->prefill / runs[pre].prefill - 1);
            o[1] = 100 * (x->dec1 / runs[pre].dec1 - 1);
            o[2] = 100 * (x->dec16 / runs[pre].dec16 - 1);
        }
        size_t kv = infer_kv_bytes(&x->one), st = infer_variant_bytes_per_token(&x->one);
        printf("%-14s %11.2f %10.0f %11.3f %10.0f %12.3f %10.0f %9.2f %11zu", x->name,
               1e3 * x->prefill, T / x->prefill, 1e3 * x->dec1, 1 / x->dec1, 1e3 * x->dec16,
               B16 / x->dec16, kv / 1048576.0, st);
        if (pre >= 0 && v != pre)
            printf(" %+8.1f%% %+8.1f%% %+8.1f%%\n", o[0], o[1], o[2]);
        else
            printf(" %9s %9s %9s\n", "-", "-", "-");
        n += (size_t)snprintf(csv + n, sizeof csv - n,
                              "%s,%.4f,%.1f,%.5f,%.1f,%.5f,%.1f,%zu,%zu,%.2f,%.2f,%.2f\n", x->name,
                              1e3 * x->prefill, T / x->prefill, 1e3 * x->dec1, 1 / x->dec1,
                              1e3 * x->dec16, B16 / x->dec16, kv, st, o[0], o[1], o[2]);
    }
    char path[4200];
    int rc = rb_mkdir_p(outdir) != 0 || rb_join(path, sizeof path, outdir, "infer.csv") != 0 ||
                     rb_write_file_atomic(path, csv, n) != 0
                 ? -1
                 : 0;
    if (rc == 0) printf("bench: wrote %s\n", path);
    for (int v = 0; v < nv; v++) {
        infer_free(&runs[v].one);
        infer_free(&runs[v].many);
        model_free(&runs[v].m);
    }
    free(tokens);
    free(runs);
    return rc;
}
