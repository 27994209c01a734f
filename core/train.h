/* The training runner: budgets, the loop, evaluation, checkpoints, resume. The run directory
 * (rundir.c) and the CSV files it appends to (runlog.c) are separate concerns. */
#ifndef RB_TRAIN_H
#define RB_TRAIN_H
#include "config.h"
#include "data.h"

/* Speed of a run, from the steps this process trained (a resumed run times its last segment):
 * tok_per_s = tokens of the timed steps / train_s, the time inside training steps only (batch,
 * forward, backward, all-reduce, optimizer); evaluation, diagnostics and checkpoints are timed
 * apart. cpu_util = process CPU time during the steps / (train_s x threads): near 1 when the run
 * had its cores, lower when another job took them (then its speed is not comparable). */
typedef struct {
    long steps;
    double tokens, flops, wall_s, tok_per_s;
    long timed_steps;
    double train_s, eval_s, diag_s, ckpt_s, cpu_util;
    double final_train_loss, final_val_loss, best_val_loss, loss_floor;
    int already_finished; /* resume of a finished run: result.ini was read, nothing changed */
    char run_dir[2048];
} TrainResult;

/* DIR/result.ini into r (0), or -1 with rb_error() when it is missing or unreadable. */
int train_read_result(const char *dir, TrainResult *r);

struct Model;
/* Mean validation loss of m over the first nbatches validation batches of d into *val (rows:
 * scratch for m->B * (seq_len + 1) ints); probe, when not NULL, receives the probe's counts by hop
 * (2 (RB_PROBE_MAX_HOPS + 1) doubles: correct, then answers). 0, or -1 with rb_error() when a
 * forward fails. */
int train_evaluate(struct Model *m, const Data *d, int *rows, int nbatches, double *probe,
                   double *val);
/* Total optimizer steps implied by the budget keys. */
long train_total_steps(const Config *c);
/* Apply cfg.threads to OpenMP and OpenBLAS (0 = all cores). */
void train_set_threads(int threads);
/* flags of train_run */
#define TRAIN_QUIET 1    /* no progress lines */
#define TRAIN_ANNOUNCE 2 /* print the run directory once the run has started (for `train`) */
/* Runs (or, with resume = 1, continues) the run in OUT/RUN_ID. Resuming a run that has its
 * result.ini changes nothing: res is read from it and already_finished set. Returns RB_EXIT_OK,
 * RB_EXIT_USAGE (bad input or a non-finite loss: rb_error() says why), RB_EXIT_FAIL (I/O) or
 * RB_EXIT_INTERRUPTED. */
int train_run(const Config *c, int resume, int flags, TrainResult *res);
/* OUT/RUN_ID, with the default id VARIANT-sSEED-HASH8 when run_id is empty (rundir.c). */
void train_run_dir(const Config *c, char *buf, size_t n);
/* Test seam: called after every backward with the model and the step (1-based) about to be
 * applied, e.g. to put a NaN into a gradient. NULL (the default) in resbench itself. */
struct Model;
typedef void (*TrainTestHook)(struct Model *m, long step);
void train_set_test_hook(TrainTestHook hook);

#endif
