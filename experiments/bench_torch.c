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

/* The peer's command line: the bench's resolved shape, recipe and variant options. */
static void peer_command(char *cmd, size_t n, const char *py, const Config *c,
                         char names[][RB_ARM_MAX], int nv, int threads, int steps, int warmup,
                         int bf16) {
    size_t k = (size_t)snprintf(
        cmd, n, "'%s' '%s' --threads %d --steps %d --warmup %d --autocast %s --variants '", py,
        PEER_SCRIPT, threads, steps, warmup, bf16 ? "bf16" : "off");
    for (int v = 0; v < nv && k < n; v++)
        k += (size_t)snprintf(cmd + k, n - k, "%s%s", v ? "," : "", names[v]);
    if (k < n)
        snprintf(cmd + k, n - k,
                 "' n_layer=%d d_model=%d n_head=%d seq_len=%d batch_size=%d vocab_size=%d "
                 "mlp_hidden=%d attnres_blocks=%d mhc_streams=%d sinkhorn_iters=%d "
                 "weight_decay=%g grad_clip=%g rope_theta=%g tie_embeddings=%d",
                 c->n_layer, c->d_model, c->n_head, c->seq_len, c->batch_size, c->vocab_size,
                 config_mlp_hidden(c), (int)config_option(c, "attnres_blocks"),
                 (int)config_option(c, "mhc_streams"), (int)config_option(c, "sinkhorn_iters"),
                 c->weight_decay, c->grad_clip, c->rope_theta, c->tie_embeddings);
}

int bench_torch_run(const char *py, const Config *c, char names[][RB_ARM_MAX], int nv, int threads,
                    int steps, int warmup, int autocast_bf16, double *torch_tok_s) {
    if (access(PEER_SCRIPT, R_OK) != 0)
        return rb_fail("bench --vs-torch: %s: not found (the peer lives in the source tree)",
                       PEER_SCRIPT);
    char cmd[4096], line[512];
    peer_command(cmd, sizeof cmd, py, c, names, nv, threads, steps, warmup, autocast_bf16);
    FILE *p = popen(cmd, "r");
    if (!p) return rb_fail("bench --vs-torch: cannot run %s", py);
    int found = 0;
    for (int v = 0; v < nv; v++) torch_tok_s[v] = -1;
    while (fgets(line, sizeof line, p)) {
        if (line[0] == '#') {
            printf("  PyTorch peer: %s", line + 2);
            continue;
        }
        char name[64];
        double ms, tok;
        if (sscanf(line, "%63[^,],%lf,%lf", name, &ms, &tok) != 3) continue; /* the header */
        for (int v = 0; v < nv; v++)
            if (!strcmp(names[v], name) && torch_tok_s[v] < 0) {
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
