/* `resbench bench --infer` (bench_infer.c). */
#ifndef RB_BENCH_INFER_H
#define RB_BENCH_INFER_H
#include "cli.h" /* RB_ARM_MAX */
#include "config.h"

#define BENCH_INFER_MAX_REPS 1000
/* Times every variant's prefill and decode, prints the table, writes OUTDIR/infer.csv. */
int bench_infer(const Config *base, char (*names)[RB_ARM_MAX], int nv, int reps,
                const char *outdir);

#endif
