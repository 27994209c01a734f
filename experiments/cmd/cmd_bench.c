/* `resbench bench`: the benchmark. One process measures the machine's sgemm rate on the model's own
 * GEMM shapes, then interleaves training steps of every variant (same conditions for all, so the
 * overheads vs prenorm are fair), and reports tok/s, GFLOP/s, fraction of the sgemm peak, a
 * per-phase breakdown and peak RSS against the analytic memory estimate. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_infer.h"
#include "bench_torch.h"
#include "membw.h"
#include "cli.h"
#include "cmd.h"
#include "gemm.h"
#include "runs.h"
#include "model.h"
#include "ops.h"
#include "optim.h"
#include "rng.h"
#include "stats.h"
#include "train.h"
#include "util.h"
#include "registry.h"

#define MAX_VARIANTS 16
#define MAX_STEPS 10000

static const char *const PHASE_NAMES[RB_PH_COUNT] = {"matmul", "attention", "elementwise",
                                                     "variant", "optimizer"};
static const char *const CALL_NAMES[RB_VC_COUNT] = {
    "begin", "input", "commit", "output", "output_bwd", "commit_bwd", "input_bwd", "begin_bwd"};

/* A GEMM backend and precision (core/gemm.h) that bench measures. */
typedef struct {
    int backend, precision;
    char label[24]; /* "openblas/fp32" */
} Combo;
#define MAX_COMBOS (RB_GEMM_BACKENDS * RB_PRECISIONS)

typedef struct {
    char name[RB_ARM_MAX];
    int combo, backend, precision; /* index into the timed combos; its backend, precision */
    Model m;
    double step_s[MAX_STEPS];
    double phase_s[RB_PH_COUNT];
    double call_s[RB_VC_COUNT]; /* the variant phase by interface call */
    double median_s, mean_s, flops, rss_peak_mb, rss_model_mb, estimate_mb;
    /* the variant phase's floor (docs/performance.md): own FLOPs at the sgemm peak plus its
     * traffic at the triad bandwidth measured at the size of one of its passes */
    double own_gflop, traffic_mb, pass_mb, bw_gbs, floor_s;
    double overhead_pct; /* paired: median over rounds of step / prenorm's step in that round */
} BenchRun;

typedef struct {
    int IC, OC, combo;
    double fwd_gflops, bwd_gflops;
} GemmShape;

static void bench_help(void) {
    printf(
        "usage: resbench bench [--variants ARM,ARM,...] [--backends LIST] [--steps N] [--warmup "
        "N]\n"
        "                      [--out DIR] [--config FILE] [--shape] [--infer | --vs-torch]\n"
        "                      [key=value ...]\n\n" CLI_ARMS_HELP "\n"
        "Measures, in one process:\n"
        "  1. GEMM GFLOP/s on the model's own shapes (forward and backward calls exactly as\n"
        "     the model makes them) for every GEMM backend and precision this build and CPU\n"
        "     have (openblas/fp32, onednn/fp32, onednn/bf16; OpenBLAS's kernel name is\n"
        "     printed); the best of all is the practical peak; and the memory bandwidth, a\n"
        "     STREAM-like triad at footprints of 0.25 to 512 MB;\n"
        "  2. for every backend/precision in --backends (default: every available one, e.g.\n"
        "     openblas:fp32,onednn:fp32,onednn:bf16) and\n"
        "     every variant (default: all), the median time of N training steps (default\n"
        "     20, after 3 warm-up steps; steps of the variants are interleaved so they share\n"
        "     the same machine conditions): tok/s, achieved GFLOP/s (analytic FLOPs / time),\n"
        "     fraction of the sgemm peak, overhead vs prenorm (median over rounds of the step\n"
        "     time / prenorm's step time in the same round), per-phase breakdown (matmul,\n"
        "     attention, elementwise incl. norms, residual variant, optimizer: AdamW, or\n"
        "     Muon with optimizer=muon), peak RSS\n"
        "     of the model vs the analytic estimate (params, grads, AdamW moments,\n"
        "     activations, scratch);\n"
        "  3. per variant the floor of its residual phase: its own FLOPs at the sgemm peak\n"
        "     plus the floats it must move (docs/performance.md) at the triad bandwidth of one\n"
        "     pass's size, and the measured phase / floor; and the phase split by interface\n"
        "     call (begin, input, commit, output and their backward: where its time goes);\n"
        "  4. prenorm with 1 thread, for the thread scaling.\n"
        "Default shape: n_layer=6 d_model=256 n_head=4 seq_len=256 batch_size=16,\n"
        "vocab 256, threads = all cores; key=value (after the optional --shape) changes it.\n"
        "Writes DIR/bench.csv, DIR/gemm.csv and DIR/bandwidth.csv (default DIR: results/bench).\n"
        "--vs-torch then times the same model, shape, threads and variants in PyTorch\n"
        "(tests/reference/bench_torch.py; needs a python3 with torch: python3-torch, or\n"
        "RESBENCH_PYTHON) and prints resbench / PyTorch tok/s; DIR/torch.csv.\n"
        "--infer times inference instead (after the sgemm peak): per variant the prefill of\n"
        "seq_len tokens at batch 1 and the decode per token at batch 1 and 16 after seq_len/2\n"
        "tokens of context (32 steps, fewer when seq_len leaves fewer), with the KV cache\n"
        "(median of N repetitions, interleaved), the\n"
        "KV-cache and variant-state bytes and the overheads vs prenorm; DIR/infer.csv.\n");
}

/* Peak resident set in MB (VmHWM), and the current one (VmRSS); -1 if unavailable. */
static double proc_status_mb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    double kb = -1;
    size_t n = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ':') kb = atof(line + n + 1);
    fclose(f);
    return kb < 0 ? -1 : kb / 1024.0;
}

/* Resets VmHWM to the current RSS (Linux clear_refs); 0 on success. */
static int reset_peak_rss(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return -1;
    int ok = fputs("5", f) >= 0;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

static void random_batch(Model *m, Rng *rng) {
    int *rows = rb_calloc((size_t)m->B * (m->T + 1), sizeof(int), "bench batch");
    for (int i = 0; i < m->B * (m->T + 1); i++) rows[i] = (int)rng_below(rng, (uint32_t)m->V);
    model_set_batch(m, rows);
    free(rows);
}

static void train_step(Model *m, long t) {
    model_phase_start(m);
    model_zero_grad(m);
    model_phase_mark(m, RB_PH_OPTIMIZER);
    if (model_forward(m) != 0 || model_backward(m) != 0)
        rb_die(RB_EXIT_FAIL, "bench: %s", rb_error());
    model_phase_start(m);
    if (optimizer_step(m, 1e-4, t) != 0) /* the configured optimizer (muon: Muon's phase) */
        rb_die(RB_EXIT_FAIL, "bench: %s", rb_error());
    model_phase_mark(m, RB_PH_OPTIMIZER);
}

/* Every backend and precision this build and CPU can run, in a fixed order. */
static int available_combos(Combo *out) {
    int n = 0;
    for (int b = 0; b < RB_GEMM_BACKENDS; b++)
        for (int p = 0; p < RB_PRECISIONS; p++)
            if (gemm_check(b, p) == 0) {
                out[n] = (Combo){b, p, ""};
                snprintf(out[n].label, sizeof out[n].label, "%s/%s", gemm_backend_name(b),
                         gemm_precision_name(p));
                n++;
            }
    return n;
}

/* --backends LIST: BACKEND:PRECISION,... each available; one-line errors. */
static int parse_combos(const char *list, const Combo *avail, int navail, Combo *out) {
    char buf[256];
    if (rb_copy_str(buf, sizeof buf, list) != 0) return rb_fail("--backends '%s': too long", list);
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(tok, ':');
        if (colon) *colon = 0;
        int b = gemm_backend_index(tok), p = colon ? gemm_precision_index(colon + 1) : RB_PREC_FP32;
        if (b < 0 || p < 0)
            return rb_fail("--backends '%s': '%s%s%s' is not BACKEND[:PRECISION] (openblas|onednn, "
                           "fp32|bf16)",
                           list, tok, colon ? ":" : "", colon ? colon + 1 : "");
        if (gemm_check(b, p) != 0) return rb_fail("--backends '%s': %s", list, rb_error());
        int k = 0;
        while (k < navail && !(avail[k].backend == b && avail[k].precision == p)) k++;
        for (int j = 0; j < n; j++)
            if (out[j].backend == b && out[j].precision == p)
                return rb_fail("--backends '%s': %s given twice", list, avail[k].label);
        if (n == MAX_COMBOS) return rb_fail("--backends '%s': too many entries", list);
        out[n++] = avail[k];
    }
    if (!n) return rb_fail("--backends '%s': empty", list);
    return n;
}

/* Seconds per call of fn, repeated until at least 0.2 s have passed. */
static double time_gemm(int backward, float *out, float *dinp, float *dw, const float *inp,
                        const float *w, int N, int IC, int OC) {
    int reps = 0;
    double t0 = rb_now(), t;
    do {
        if (backward)
            matmul_backward(dinp, dw, out, inp, w, N, IC, OC, 0.0f);
        else
            matmul_forward(out, inp, w, N, IC, OC);
        reps++;
        t = rb_now() - t0;
    } while (t < 0.2 || reps < 3);
    return t / reps;
}

/* The model's GEMM shapes: qkv, attention output, MLP in and out, LM head, on one backend and
 * precision (selected here; bf16 primitives prepared before the timing). */
static int measure_gemms(const Config *c, const Combo *combo, int ci, GemmShape *g, double *peak) {
    int C = c->d_model, H = config_mlp_hidden(c), V = c->vocab_size;
    int N = c->batch_size * c->seq_len;
    int shapes[5][2] = {{C, 3 * C}, {C, C}, {C, 2 * H}, {H, C}, {C, V}};
    size_t maxd = (size_t)(3 * C > 2 * H ? 3 * C : 2 * H);
    if ((size_t)V > maxd) maxd = (size_t)V;
    size_t maxi = (size_t)(H > C ? H : C);
    float *inp = rb_calloc((size_t)N * maxi, sizeof(float), "bench inputs");
    float *dinp = rb_calloc((size_t)N * maxi, sizeof(float), "bench input grads");
    float *out = rb_calloc((size_t)N * maxd, sizeof(float), "bench outputs");
    float *w = rb_calloc(maxd * maxi, sizeof(float), "bench weights");
    float *dw = rb_calloc(maxd * maxi, sizeof(float), "bench weight grads");
    Rng rng;
    rng_seed(&rng, 1);
    rng_fill_normal(&rng, inp, (long)(N * maxi), 1.0f);
    rng_fill_normal(&rng, w, (long)(maxd * maxi), 0.02f);
    rng_fill_normal(&rng, out, (long)(N * maxd), 1.0f);
    *peak = 0;
    gemm_select(combo->backend, combo->precision);
    for (int k = 0; k < 5; k++) {
        int IC = shapes[k][0], OC = shapes[k][1];
        double f = 2.0 * N * IC * OC;
        if (gemm_prepare_linear(N, IC, OC) != 0) rb_die(RB_EXIT_FAIL, "bench: %s", rb_error());
        g[k] = (GemmShape){IC, OC, ci, 0, 0};
        g[k].fwd_gflops = f / time_gemm(0, out, dinp, dw, inp, w, N, IC, OC) * 1e-9;
        g[k].bwd_gflops = 2 * f / time_gemm(1, out, dinp, dw, inp, w, N, IC, OC) * 1e-9;
        if (g[k].fwd_gflops > *peak) *peak = g[k].fwd_gflops;
        if (g[k].bwd_gflops > *peak) *peak = g[k].bwd_gflops;
    }
    free(inp);
    free(dinp);
    free(out);
    free(w);
    free(dw);
    gemm_select(RB_GEMM_OPENBLAS, RB_PREC_FP32);
    return 5;
}

static void build_run(BenchRun *r, const Config *base, const char *variant, int warmup,
                      const Combo *combo, int ci) {
    Config c = *base;
    if (config_set_variant(&c, variant, "--variants") != 0)
        rb_die(RB_EXIT_USAGE, "bench: %s", rb_error());
    snprintf(c.backend, sizeof c.backend, "%s", gemm_backend_name(combo->backend));
    snprintf(c.precision, sizeof c.precision, "%s", gemm_precision_name(combo->precision));
    snprintf(r->name, sizeof r->name, "%s", variant);
    r->combo = ci;
    r->backend = combo->backend;
    r->precision = combo->precision;
    int have_reset = reset_peak_rss() == 0;
    double rss0 = proc_status_mb("VmRSS");
    if (model_build(&r->m, &c) != 0) rb_die(RB_EXIT_USAGE, "bench: %s", rb_error());
    r->flops = flops_per_step(&c);
    r->estimate_mb = model_memory_bytes(&r->m) / (1024.0 * 1024.0);
    Rng rng;
    rng_seed(&rng, 7);
    random_batch(&r->m, &rng);
    for (int i = 0; i < warmup; i++) train_step(&r->m, i + 1);
    r->rss_peak_mb = proc_status_mb("VmHWM");
    r->rss_model_mb = have_reset && rss0 >= 0 ? r->rss_peak_mb - rss0 : -1;
}

/* The floor of r's variant phase per step: its own FLOPs at the sgemm peak plus the floats its
 * interface calls must move, at the triad rate measured at the size of one of its passes. */
static void variant_floor(BenchRun *r, const Config *c, double peak, const Bandwidth *bw) {
    double ntok = (double)c->batch_size * c->seq_len;
    VariantTraffic t = r->m.vops->traffic_per_token(&r->m.cfg);
    r->own_gflop = r->m.vops->flops_per_token(&r->m.cfg) * ntok * 1e-9;
    r->traffic_mb = t.floats * sizeof(float) * ntok / (1024.0 * 1024.0);
    r->pass_mb = r->traffic_mb / t.passes;
    r->bw_gbs = membw_at(bw, r->pass_mb);
    r->floor_s = r->own_gflop / peak + r->traffic_mb * 1024.0 * 1024.0 / (r->bw_gbs * 1e9);
}

static void print_floors(const BenchRun *runs, int nv) {
    printf("\nvariant phase against its floor (own FLOPs at the GEMM peak + traffic at the triad\n"
           "bandwidth of one pass's size; docs/performance.md):\n");
    printf("%-14s %9s %10s %9s %9s %10s %10s %11s\n", "variant", "own GFLOP", "traffic MB",
           "pass MB", "GB/s", "floor ms", "phase ms", "phase/floor");
    for (int v = 0; v < nv; v++) {
        const BenchRun *r = &runs[v];
        double phase = r->phase_s[RB_PH_VARIANT];
        printf("%-14s %9.3f %10.1f %9.2f %9.1f %10.2f %10.2f %10.2fx\n", r->name, r->own_gflop,
               r->traffic_mb, r->pass_mb, r->bw_gbs, r->floor_s * 1e3, phase * 1e3,
               phase / r->floor_s);
    }
}

/* Where each variant phase goes: mean ms per step in each interface call (forward | backward). */
static void print_calls(const BenchRun *runs, int nv) {
    printf("\nvariant phase by interface call, mean ms per step (docs/performance.md):\n%-14s",
           "variant");
    for (int p = 0; p < RB_VC_COUNT; p++) printf(" %10s", CALL_NAMES[p]);
    printf("\n");
    for (int v = 0; v < nv; v++) {
        printf("%-14s", runs[v].name);
        for (int p = 0; p < RB_VC_COUNT; p++) printf(" %10.2f", runs[v].call_s[p] * 1e3);
        printf("\n");
    }
}

static void print_bandwidth(const Bandwidth *bw) {
    printf("\nmemory bandwidth, triad a = b + s c (12 bytes per element, best pass), GB/s:\n");
    for (int k = 0; k < bw->n; k++)
        printf("  %8.2f MB %7.1f%s", bw->footprint_mb[k], bw->gbs[k], k % 4 == 3 ? "\n" : "");
    if (bw->n % 4) printf("\n");
}

static void time_runs(BenchRun *runs, int nv, int steps, int warmup) {
    for (int s = 0; s < steps; s++)
        for (int v = 0; v < nv; v++) {
            Model *m = &runs[v].m;
            double phase[RB_PH_COUNT] = {0}, call[RB_VC_COUNT] = {0};
            m->phase_s = phase;
            m->call_s = call;
            double t0 = rb_now();
            train_step(m, warmup + s + 1);
            runs[v].step_s[s] = rb_now() - t0;
            runs[v].mean_s += runs[v].step_s[s] / steps;
            m->phase_s = NULL;
            m->call_s = NULL;
            for (int p = 0; p < RB_PH_COUNT; p++) runs[v].phase_s[p] += phase[p] / steps;
            for (int p = 0; p < RB_VC_COUNT; p++) runs[v].call_s[p] += call[p] / steps;
        }
    for (int v = 0; v < nv; v++) runs[v].median_s = stats_median(runs[v].step_s, steps);
}

static int find_run(const BenchRun *runs, int nv, const char *name) {
    for (int v = 0; v < nv; v++)
        if (!strcmp(runs[v].name, name)) return v;
    return -1;
}

/* Overheads vs prenorm as pairs: a variant's step and prenorm's step of the same round ran
 * back to back, so their ratio cancels the machine's slow and fast periods that medians of the
 * two series separately do not (this machine's neighbours come and go). */
static void paired_overheads(BenchRun *runs, int nv, int steps) {
    int pre = find_run(runs, nv, RB_BASELINE);
    double ratio[MAX_STEPS];
    for (int v = 0; v < nv; v++) {
        runs[v].overhead_pct = 0;
        if (pre < 0 || v == pre) continue;
        for (int s = 0; s < steps; s++) ratio[s] = runs[v].step_s[s] / runs[pre].step_s[s];
        runs[v].overhead_pct = 100 * (stats_median(ratio, steps) - 1);
    }
}

static void print_table(const BenchRun *runs, int nv, const Config *c, double peak,
                        const char *label) {
    int pre = find_run(runs, nv, RB_BASELINE);
    double N = (double)c->batch_size * c->seq_len;
    printf("\ntraining steps on %s (%%peak: of the practical peak above):", label);
    printf("\n%-14s %9s %8s %8s %7s %9s", "variant", "step ms", "tok/s", "GFLOP/s", "%peak",
           "overhead");
    for (int p = 0; p < RB_PH_COUNT; p++) printf(" %11s", PHASE_NAMES[p]);
    printf(" %7s %8s %9s\n", "other", "RSS MB", "estim. MB");
    for (int v = 0; v < nv; v++) {
        const BenchRun *r = &runs[v];
        double gf = r->flops / r->median_s * 1e-9, sum = 0;
        printf("%-14s %9.1f %8.0f %8.1f %6.1f%%", r->name, r->median_s * 1e3, N / r->median_s, gf,
               100 * gf / peak);
        if (pre >= 0 && v != pre)
            printf(" %+8.1f%%", r->overhead_pct);
        else
            printf(" %9s", "-");
        for (int p = 0; p < RB_PH_COUNT; p++) {
            printf(" %6.1f ms %2.0f%%", r->phase_s[p] * 1e3, 100 * r->phase_s[p] / r->median_s);
            sum += r->phase_s[p];
        }
        printf(" %4.1f ms %8.0f %9.0f\n", (r->mean_s - sum) * 1e3, r->rss_model_mb, r->estimate_mb);
    }
    printf("(phase columns: mean ms per step and share of the median step; other: mean step minus\n"
           "the phases (batch setup, timer overhead); RSS MB: peak resident\n"
           "memory added by building and training the model; estim.: params + grads + AdamW\n"
           "moments + activations + scratch)\n");
}

static int write_csvs(const char *dir, const BenchRun *runs, int nv, const Config *c,
                      const GemmShape *g, int ng, double peak, int threads, const Bandwidth *bw,
                      const Combo *combos) {
    if (rb_mkdir_p(dir) != 0) return -1;
    char path[4200], *buf = rb_calloc(1 << 16, 1, "bench csv");
    size_t n = 0, cap = 1 << 16;
    n += (size_t)snprintf(
        buf + n, cap - n,
        "variant,backend,precision,threads,n_layer,d_model,n_head,seq_len,batch_size,step_ms,"
        "tok_per_s,gflops,peak_gflops,frac_peak,overhead_pct");
    for (int p = 0; p < RB_PH_COUNT; p++)
        n += (size_t)snprintf(buf + n, cap - n, ",%s_ms", PHASE_NAMES[p]);
    n += (size_t)snprintf(buf + n, cap - n,
                          ",rss_model_mb,rss_peak_mb,estimate_mb,own_gflop,traffic_mb,pass_mb,"
                          "bandwidth_gbs,floor_ms,phase_floor_ratio");
    for (int p = 0; p < RB_VC_COUNT; p++)
        n += (size_t)snprintf(buf + n, cap - n, ",%s_ms", CALL_NAMES[p]);
    n += (size_t)snprintf(buf + n, cap - n, "\n");
    for (int v = 0; v < nv; v++) {
        const BenchRun *r = &runs[v];
        double gf = r->flops / r->median_s * 1e-9;
        n += (size_t)snprintf(
            buf + n, cap - n, "%s,%s,%s,%d,%d,%d,%d,%d,%d,%.3f,%.1f,%.2f,%.6g,%.4f,%.2f", r->name,
            gemm_backend_name(r->backend), gemm_precision_name(r->precision), threads, c->n_layer,
            c->d_model, c->n_head, c->seq_len, c->batch_size, r->median_s * 1e3,
            (double)c->batch_size * c->seq_len / r->median_s, gf, peak, gf / peak, r->overhead_pct);
        for (int p = 0; p < RB_PH_COUNT; p++)
            n += (size_t)snprintf(buf + n, cap - n, ",%.3f", r->phase_s[p] * 1e3);
        n += (size_t)snprintf(buf + n, cap - n, ",%.1f,%.1f,%.1f,%.6g,%.6g,%.6g,%.6g,%.6g,%.4f",
                              r->rss_model_mb, r->rss_peak_mb, r->estimate_mb, r->own_gflop,
                              r->traffic_mb, r->pass_mb, r->bw_gbs, r->floor_s * 1e3,
                              r->phase_s[RB_PH_VARIANT] / r->floor_s);
        for (int p = 0; p < RB_VC_COUNT; p++)
            n += (size_t)snprintf(buf + n, cap - n, ",%.3f", r->call_s[p] * 1e3);
        n += (size_t)snprintf(buf + n, cap - n, "\n");
    }
    int rc = rb_join(path, sizeof path, dir, "bench.csv");
    if (rc == 0) rc = rb_write_file_atomic(path, buf, n);
    n = (size_t)snprintf(buf, cap, "backend,precision,N,IC,OC,fwd_gflops,bwd_gflops\n");
    for (int k = 0; k < ng && rc == 0; k++)
        n += (size_t)snprintf(buf + n, cap - n, "%s,%s,%d,%d,%d,%.2f,%.2f\n",
                              gemm_backend_name(combos[g[k].combo].backend),
                              gemm_precision_name(combos[g[k].combo].precision),
                              c->batch_size * c->seq_len, g[k].IC, g[k].OC, g[k].fwd_gflops,
                              g[k].bwd_gflops);
    if (rc == 0) rc = rb_join(path, sizeof path, dir, "gemm.csv");
    if (rc == 0) rc = rb_write_file_atomic(path, buf, n);
    n = (size_t)snprintf(buf, cap, "threads,footprint_mb,triad_gbs\n");
    for (int k = 0; k < bw->n && rc == 0; k++)
        n += (size_t)snprintf(buf + n, cap - n, "%d,%.4g,%.3f\n", threads, bw->footprint_mb[k],
                              bw->gbs[k]);
    if (rc == 0) rc = rb_join(path, sizeof path, dir, "bandwidth.csv");
    if (rc == 0) rc = rb_write_file_atomic(path, buf, n);
    free(buf);
    return rc;
}

/* The PyTorch peer on the same shape, threads and variants, in float32 and with bf16 autocast,
 * right after resbench's own timing; prints resbench (every backend/precision timed) / PyTorch
 * tok/s and writes DIR/torch.csv. runs: nc blocks of nv (one per combo). */
static int versus_torch(const char *py, const Config *c, const BenchRun *runs,
                        char names[][RB_ARM_MAX], int nv, const Combo *combos, int nc, int threads,
                        int steps, int warmup, const char *dir) {
    printf("\nPyTorch peer (%s, the same model, shape and threads; tests/reference/bench_torch.py):"
           "\n",
           py);
    fflush(stdout);
    double torch_tok[2][MAX_VARIANTS], N = (double)c->batch_size * c->seq_len;
    for (int bf = 0; bf < 2; bf++)
        if (bench_torch_run(py, c, names, nv, threads, steps, warmup, bf, torch_tok[bf]) != 0)
            return -1;
    char buf[8192], path[4200];
    size_t n =
        (size_t)snprintf(buf, sizeof buf,
                         "variant,backend,precision,threads,resbench_tok_per_s,"
                         "torch_fp32_tok_per_s,torch_bf16_tok_per_s,ratio_fp32,ratio_bf16\n");
    printf("%-14s %-14s %14s %13s %13s %10s %10s\n", "variant", "resbench", "resbench tok/s",
           "torch fp32", "torch bf16", "/ fp32", "/ bf16");
    for (int v = 0; v < nv; v++)
        for (int k = 0; k < nc; k++) {
            double ours = N / runs[k * nv + v].median_s;
            printf("%-14s %-14s %14.0f %13.0f %13.0f %9.2fx %9.2fx\n", names[v], combos[k].label,
                   ours, torch_tok[0][v], torch_tok[1][v], ours / torch_tok[0][v],
                   ours / torch_tok[1][v]);
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s,%s,%s,%d,%.9g,%.9g,%.9g,%.6g,%.6g\n",
                                  names[v], gemm_backend_name(combos[k].backend),
                                  gemm_precision_name(combos[k].precision), threads, ours,
                                  torch_tok[0][v], torch_tok[1][v], ours / torch_tok[0][v],
                                  ours / torch_tok[1][v]);
        }
    if (rb_join(path, sizeof path, dir, "torch.csv") != 0) return -1;
    return rb_write_file_atomic(path, buf, n);
}

/* Bench defaults go before the user's arguments, so --config and key=value override them. */
static int bench_args(int argc, char **argv, char **out) {
    static char *defaults[] = {"n_layer=6",   "d_model=256",   "n_head=4",
                               "seq_len=256", "batch_size=16", "vocab_size=256"};
    int n = 0;
    out[n++] = argv[0];
    for (int i = 0; i < 6; i++) out[n++] = defaults[i];
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--shape") && strcmp(argv[i], "--infer") &&
            strcmp(argv[i], "--vs-torch"))
            out[n++] = argv[i];
    return n;
}

static void thread_scaling(const Config *base, const BenchRun *runs, int nv, int threads, int steps,
                           int warmup, const Combo *combo) {
    int pre = find_run(runs, nv, RB_BASELINE);
    if (threads < 2 || pre < 0) return;
    train_set_threads(1);
    BenchRun *one = rb_calloc(1, sizeof *one, "bench run");
    build_run(one, base, RB_BASELINE, warmup, combo, 0);
    time_runs(one, 1, steps < 10 ? steps : 10, warmup);
    double N = (double)base->batch_size * base->seq_len;
    printf(
        "\nthread scaling (prenorm, %s): 1 thread %.0f tok/s, %d threads %.0f tok/s: speedup %.2fx "
        "(efficiency %.0f%%)\n",
        combo->label, N / one->median_s, threads, N / runs[pre].median_s,
        one->median_s / runs[pre].median_s, 100 * one->median_s / runs[pre].median_s / threads);
    model_free(&one->m);
    free(one);
    train_set_threads(threads);
}

int cmd_bench(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        bench_help();
        return RB_EXIT_OK;
    }
    int infer = 0, vs_torch = 0;
    for (int i = 1; i < argc; i++) {
        infer |= !strcmp(argv[i], "--infer");
        vs_torch |= !strcmp(argv[i], "--vs-torch");
    }
    if (infer && vs_torch)
        rb_die(RB_EXIT_USAGE, "bench: --vs-torch times training; not with --infer");
    char py[1024] = "";
    if (vs_torch && bench_torch_python(py, sizeof py) != 0) rb_die(RB_EXIT_FAIL, "%s", rb_error());
    char **args = rb_calloc((size_t)argc + 8, sizeof(char *), "arguments");
    int nargs = bench_args(argc, argv, args);
    static const char *const extra[] = {"--variants", "--steps",    "--warmup",
                                        "--out",      "--backends", NULL};
    const char *vals[5] = {NULL, "20", "3", "results/bench", NULL};
    Config c;
    if (cli_parse(nargs, args, &c, NULL, extra, vals) != 0) rb_die(RB_EXIT_USAGE, "%s", rb_error());
    free(args);
    if (config_validate(&c) != 0) rb_die(RB_EXIT_USAGE, "%s", rb_error());
    static char names[MAX_VARIANTS][RB_ARM_MAX];
    int nv = 0;
    if (vals[0]) {
        nv = cli_arm_list(vals[0], names, MAX_VARIANTS);
        if (nv < 0) rb_die(RB_EXIT_USAGE, "%s", rb_error());
    } else {
        for (; nv < MAX_VARIANTS && rb_variants[nv]; nv++)
            snprintf(names[nv], sizeof names[nv], "%s", rb_variants[nv]->name);
    }
    long steps, warmup;
    if (cli_int_list(vals[1], &steps, 1, "--steps") != 1 || steps < 1 || steps > MAX_STEPS)
        rb_die(RB_EXIT_USAGE, "--steps '%s': expected an integer in 1..%d", vals[1], MAX_STEPS);
    if (cli_int_list(vals[2], &warmup, 1, "--warmup") != 1 || warmup < 1 || warmup > 1000)
        rb_die(RB_EXIT_USAGE, "--warmup '%s': expected an integer in 1..1000", vals[2]);
    train_set_threads(c.threads);
    int threads = omp_get_max_threads();
    printf("bench: n_layer=%d d_model=%d n_head=%d seq_len=%d batch_size=%d vocab=%d, %d threads, "
           "%ld steps after %ld warm-up\n",
           c.n_layer, c.d_model, c.n_head, c.seq_len, c.batch_size, c.vocab_size, threads, steps,
           warmup);
    Combo avail[MAX_COMBOS], combos[MAX_COMBOS];
    int navail = available_combos(avail), nc = navail;
    memcpy(combos, avail, sizeof avail);
    if (vals[4] && (nc = parse_combos(vals[4], avail, navail, combos)) < 0)
        rb_die(RB_EXIT_USAGE, "bench: %s", rb_error());
    printf("OpenBLAS kernels: %s (openblas_get_corename)\n", gemm_openblas_core());
    GemmShape g[5 * MAX_COMBOS];
    double peak = 0, peak_fp32 = 0, combo_peak[MAX_COMBOS];
    int ng = 0;
    printf("\nGEMMs on the model's shapes (N=%d rows), GFLOP/s, forward | backward (dinp + dW):\n",
           c.batch_size * c.seq_len);
    for (int k = 0; k < navail; k++) {
        int got = measure_gemms(&c, &avail[k], k, g + ng, &combo_peak[k]);
        printf("  %-14s", avail[k].label);
        for (int s = 0; s < got; s++)
            printf("  %dx%d %6.1f|%6.1f", g[ng + s].IC, g[ng + s].OC, g[ng + s].fwd_gflops,
                   g[ng + s].bwd_gflops);
        printf("   best %.1f\n", combo_peak[k]);
        ng += got;
        if (combo_peak[k] > peak) peak = combo_peak[k];
        if (avail[k].precision == RB_PREC_FP32 && combo_peak[k] > peak_fp32)
            peak_fp32 = combo_peak[k];
        fflush(stdout);
    }
    printf("practical peak (best of all): %.1f GFLOP/s; best fp32: %.1f GFLOP/s\n", peak,
           peak_fp32);
    fflush(stdout);
    if (infer) { /* inference instead of training steps */
        if (bench_infer(&c, names, nv, (int)steps, vals[3]) != 0)
            rb_die(RB_EXIT_FAIL, "bench: %s", rb_error());
        return RB_EXIT_OK;
    }
    Bandwidth bw; /* the floors need it; inference does not */
    if (membw_measure(&bw, 0.25, 512) != 0) rb_die(RB_EXIT_FAIL, "%s", rb_error());
    print_bandwidth(&bw);
    fflush(stdout);
    /* one block of nv runs per backend/precision, timed one block after the other (the models
     * of all blocks at once would not fit the memory of a small machine at the larger shapes) */
    BenchRun *runs = rb_calloc((size_t)nv * nc, sizeof *runs, "bench runs");
    for (int k = 0; k < nc; k++) {
        BenchRun *block = runs + (size_t)k * nv;
        for (int v = 0; v < nv; v++) build_run(&block[v], &c, names[v], (int)warmup, &combos[k], k);
        time_runs(block, nv, (int)steps, (int)warmup);
        for (int v = 0; v < nv; v++) variant_floor(&block[v], &c, peak, &bw);
        paired_overheads(block, nv, (int)steps);
        print_table(block, nv, &c, peak, combos[k].label);
        print_floors(block, nv);
        print_calls(block, nv);
        for (int v = 0; v < nv; v++) model_free(&block[v].m);
        fflush(stdout);
    }
    int pre = find_run(runs, nv, RB_BASELINE);
    if (pre >= 0 && nc > 1) {
        printf("\nprenorm step by backend/precision (speed-up over %s; GEMM-rate goal: fp32 step "
               "at >= 70%% of the best fp32 GEMM rate, %.1f GFLOP/s):\n",
               combos[0].label, peak_fp32);
        for (int k = 0; k < nc; k++) {
            const BenchRun *r = &runs[(size_t)k * nv + pre];
            printf("  %-14s %8.1f ms  %5.2fx  %6.1f GFLOP/s = %3.0f%% of the best fp32 GEMM\n",
                   combos[k].label, r->median_s * 1e3, runs[pre].median_s / r->median_s,
                   r->flops / r->median_s * 1e-9, 100 * r->flops / r->median_s * 1e-9 / peak_fp32);
        }
    }
    if (write_csvs(vals[3], runs, nv * nc, &c, g, ng, peak, threads, &bw, avail) != 0)
        rb_die(RB_EXIT_FAIL, "bench: %s", rb_error());
    Combo base_combo = {gemm_backend_index(c.backend), gemm_precision_index(c.precision), ""};
    snprintf(base_combo.label, sizeof base_combo.label, "%s/%s", c.backend, c.precision);
    int base_k = 0;
    while (base_k < nc - 1 && !(combos[base_k].backend == base_combo.backend &&
                                combos[base_k].precision == base_combo.precision))
        base_k++;
    thread_scaling(&c, runs + (size_t)base_k * nv, nv, threads, (int)steps, (int)warmup,
                   &combos[base_k]);
    if (vs_torch && versus_torch(py, &c, runs, names, nv, combos, nc, threads, (int)steps,
                                 (int)warmup, vals[3]) != 0)
        rb_die(RB_EXIT_FAIL, "%s", rb_error());
    printf("bench: wrote %s/bench.csv, gemm.csv and bandwidth.csv\n", vals[3]);
    free(runs);
    return RB_EXIT_OK;
}
