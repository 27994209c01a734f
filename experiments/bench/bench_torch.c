/* The PyTorch peer of `bench --vs-torch` (bench_torch.h): finds a python3 with torch, runs
 * tests/reference/bench_torch.py with the bench's shape and reads its CSV lines. */
#include "bench_torch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "variant.h"

#define PEER_SCRIPT RESBENCH_SOURCE_DIR "/tests/reference/bench_torch.py"

int bench_torch_python(char *py, size_t n) {
    const char *env = getenv("RESBENCH_PYTHON");
    const char *cand[] = {env && *env ? env : "python3", "/usr/bin/python3"};
    for (int i = 0; i < 2; i++) {
        if (strchr(cand[i], '\'')) continue;
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "'%s' -c 'import torch' >/dev/null 2>&1", cand[i]);
        if (system(cmd) == 0) {
            snprintf(py, n, "%s", cand[i]);
            return 0;
        }
    }
    return rb_fail("bench --vs-torch: no python3 that can import torch (tried %s and "
                   "/usr/bin/python3): install Debian's python3-torch or set RESBENCH_PYTHON",
                   env && *env ? env : "python3");
}

/* An arm's whole spec, every option of its variant written out (`attnres_block:blocks=4,size=0,
 * ...`), from the bench's base config with the arm applied as the bench applies it: the peer gets
 * each variant's options from the table that declares them, so no list here names a variant. */
static int full_spec(const Config *base, const char *arm, char *out, size_t n) {
    Config c = *base;
    if (config_set_variant(&c, arm, "--variants") != 0) return -1;
    size_t k = (size_t)snprintf(out, n, "%s", c.vt->name);
    for (int i = 0; i < c.vt->n_options && k < n; i++) {
        char value[64];
        config_format_option(&c, &c.vt->options[i], value, sizeof value);
        k += (size_t)snprintf(out + k, n - k, "%c%s=%s", i ? ',' : ':', c.vt->options[i].name,
                              value);
    }
    return k < n ? 0 : rb_fail("bench --vs-torch: the spec of %s is too long", arm);
}

/* The peer's command line: the bench's resolved shape and recipe, and the arms' whole specs. */
static void peer_command(char *cmd, size_t n, const char *py, const Config *c,
                         char specs[][RB_ARM_MAX], int nv, int threads, int steps, int warmup,
                         int bf16) {
    size_t k = (size_t)snprintf(
        cmd, n, "'%s' '%s' --threads %d --steps %d --warmup %d --autocast %s --variants '", py,
        PEER_SCRIPT, threads, steps, warmup, bf16 ? "bf16" : "off");
    for (int v = 0; v < nv && k < n; v++)
        k += (size_t)snprintf(cmd + k, n - k, "%s%s", v ? "," : "", specs[v]);
    if (k < n)
        snprintf(cmd + k, n - k,
                 "' n_layer=%d d_model=%d n_head=%d seq_len=%d batch_size=%d vocab_size=%d "
                 "mlp_hidden=%d weight_decay=%g grad_clip=%g rope_theta=%g tie_embeddings=%d",
                 c->n_layer, c->d_model, c->n_head, c->seq_len, c->batch_size, c->vocab_size,
                 config_mlp_hidden(c), c->weight_decay, c->grad_clip, c->rope_theta,
                 c->tie_embeddings);
}

int bench_torch_run(const char *py, const Config *c, char names[][RB_ARM_MAX], int nv, int threads,
                    int steps, int warmup, int autocast_bf16, double *torch_tok_s) {
    if (access(PEER_SCRIPT, R_OK) != 0)
        return rb_fail("bench --vs-torch: %s: not found (the peer lives in the source tree)",
                       PEER_SCRIPT);
    char cmd[8192], line[1024];
    static char specs[64][RB_ARM_MAX];
    if (nv > 64) return rb_fail("bench --vs-torch: at most 64 variants (%d given)", nv);
    for (int v = 0; v < nv; v++)
        if (full_spec(c, names[v], specs[v], sizeof specs[v]) != 0) return -1;
    peer_command(cmd, sizeof cmd, py, c, specs, nv, threads, steps, warmup, autocast_bf16);
    FILE *p = popen(cmd, "r");
    if (!p) return rb_fail("bench --vs-torch: cannot run %s", py);
    int found = 0;
    for (int v = 0; v < nv; v++) torch_tok_s[v] = -1;
    while (fgets(line, sizeof line, p)) {
        if (line[0] == '#') {
            printf("  PyTorch peer: %s", line + 2);
            continue;
        }
        char name[RB_ARM_MAX];
        double ms, tok;
        /* the spec is quoted (its options are separated by commas) */
        if (sscanf(line, "\"%511[^\"]\",%lf,%lf", name, &ms, &tok) != 3) continue; /* header */
        for (int v = 0; v < nv; v++)
            if (!strcmp(specs[v], name) && torch_tok_s[v] < 0) {
                torch_tok_s[v] = tok;
                found++;
            }
    }
    int rc = pclose(p);
    if (rc != 0 || found != nv)
        return rb_fail("bench --vs-torch: the PyTorch peer failed (exit status %d, %d of %d "
                       "variants timed): %s",
                       rc, found, nv, cmd);
    return 0;
}
