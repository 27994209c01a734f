/* `bench --vs-torch` (docs/performance.md): the PyTorch peer, tests/reference/bench_torch.py, run
 * in the same bench invocation on the same shape, thread count and variants; the ratios. */
#ifndef RB_BENCH_TORCH_H
#define RB_BENCH_TORCH_H
#include "cli.h" /* RB_ARM_MAX */
#include "config.h"

/* The python3 that can import torch ($RESBENCH_PYTHON, python3, /usr/bin/python3, in that order)
 * into py; -1 (rb_error: what to install) when none can. */
int bench_torch_python(char *py, size_t n);
/* Runs the peer for the nv variants (float32, or with bf16 autocast when autocast_bf16) and fills
 * torch_tok_s[v] (tokens per second, median step). 0, or -1 with rb_error. */
int bench_torch_run(const char *py, const Config *c, char names[][RB_ARM_MAX], int nv, int threads,
                    int steps, int warmup, int autocast_bf16, double *torch_tok_s);

#endif
