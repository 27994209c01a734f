#include "train.h"

#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <sys/file.h>
#include <math.h>
#include <stddef.h>
#include <omp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "data.h"
#include "dist.h"
#include "model.h"
#include "optim.h"
#include "probe.h"
#include "profile.h"
#include "progress.h"
#include "rundir.h"
#include "runlog.h"
#include "util.h"

static volatile sig_atomic_t stop_signal = 0;
static TrainTestHook test_hook; /* NULL in resbench; tests inject faults through it */

void train_set_test_hook(TrainTestHook hook) {
    test_hook = hook;
}

static void on_signal(int sig) {
    stop_signal = sig;
}

long train_total_steps(const Config *c) {
    if (c->steps > 0) return c->steps;
    if (c->budget_tokens > 0)
        return (long)ceil(c->budget_tokens / ((double)c->batch_size * c->seq_len));
    return (long)floor(c->budget_flops / flops_per_step(c));
}

void train_set_threads(int threads) {
    if (threads <= 0) threads = (int)sysconf(_SC_NPROCESSORS_ONLN) / dist_local_size();
    if (threads < 1) threads = 1;
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
}

/* Mean validation loss into *val; under MPI every rank evaluates its rows of each batch. For
 * synth:hops also the answer accuracy by hop count (probe[0..9] correct, probe[10..19] answers;
 * probe may be NULL). 0, or -1 with rb_error() when a forward fails. */
int train_evaluate(Model *m, const Data *d, int *rows, int nbatches, double *probe, double *val) {
    double total = 0;
    for (int i = 0; probe && i < 2 * (RB_PROBE_MAX_HOPS + 1); i++) probe[i] = 0;
    for (int k = 0; k < nbatches; k++) {
        data_val_rows(d, k, m->cfg.batch_size, dist_rank() * m->B, m->B, rows);
        model_set_batch(m, rows);
        if (model_forward(m) != 0) return -1;
        total += m->loss;
        if (probe && data_probe_hops(d)) probe_hops_count(m, probe, probe + RB_PROBE_MAX_HOPS + 1);
    }
    if (probe) dist_sum_doubles(probe, 2 * (RB_PROBE_MAX_HOPS + 1));
    *val = dist_mean(total / nbatches);
    return 0;
}

/* Diagnostics at a profile step, on validation batch 0 (the same tokens every time): a forward,
 * then the run log's mixing weights, gains and profile (whose backward overwrites the gradients);
 * with profile_batches = K > 1 the profile again on validation batches 1..K-1. It runs between
 * optimizer steps, and every step zeroes the gradients first, so the trajectory is unchanged
 * (tested). */
static int log_diagnostics(RunLog *lg, Model *m, const Data *d, int *rows, long step) {
    for (int b = 0; b < m->cfg.profile_batches; b++) {
        data_val_rows(d, b, m->cfg.batch_size, 0, m->B, rows); /* rank 0's rows under MPI */
        model_set_batch(m, rows);
        if (model_forward(m) != 0 ||
            (b ? runlog_profile(lg, m, step, b) : runlog_diagnostics(lg, m, step)) != 0)
            return -1;
    }
    return 0;
}

typedef struct {
    Data data;
    Model model;
    RunLog log;
    int *rows;
    int data_open, model_built, lock_fd, finished;
} RunState;

static void run_free(RunState *rs) {
    runlog_close(&rs->log);
    if (rs->model_built) model_free(&rs->model);
    if (rs->data_open) data_close(&rs->data);
    if (rs->lock_fd > 0) close(rs->lock_fd); /* releases the lock */
    free(rs->rows);
}

/* Data-parallel preconditions, checked collectively before anything can fail on one rank only. */
static int check_ranks(const Config *c) {
    int bad = config_validate(c) != 0;
    if (!dist_same_u64(bad ? 0 : config_hash(c)))
        return rb_fail("the %d MPI ranks were given different configs (their config hashes "
                       "differ): pass the same --config and key=value arguments to every rank",
                       dist_size());
    if (bad) return -1;
    if (c->batch_size % dist_size() != 0)
        return rb_fail("batch_size=%d is not divisible by the %d MPI ranks (each rank trains on "
                       "batch_size/ranks sequences of every step)",
                       c->batch_size, dist_size());
    return 0;
}

/* 0, or the exit code: RB_EXIT_FAIL for I/O (disk full, permissions), else RB_EXIT_USAGE. */
static int setup(RunState *rs, const Config *c, int resume, char *dir, size_t dirn, CkptState *st) {
    int lead = dist_rank() == 0;
    if (train_total_steps(c) < 1) {
        rb_fail("the budget gives 0 steps (budget_flops=%g < one step = %g FLOPs)", c->budget_flops,
                flops_per_step(c));
        return RB_EXIT_USAGE;
    }
    rundir_path(c, dir, dirn);
    char result[2200];
    snprintf(result, sizeof result, "%s/result.ini", dir);
    /* a finished run (result.ini is written before ckpt.bin is dropped) is left untouched, and
     * neither its data nor its model is loaded */
    rs->finished = dist_max_int(resume && lead && access(result, F_OK) == 0);
    if (rs->finished) return 0;
    rs->data_open = 1; /* data_close/model_free release whatever a failed open left behind */
    if (data_open(&rs->data, c) != 0) return RB_EXIT_USAGE;
    rs->model_built = 1;
    if (model_build_rows(&rs->model, c, c->batch_size / dist_size()) != 0) return RB_EXIT_USAGE;
    if (lead && rb_mkdir_p(dir) != 0) return RB_EXIT_FAIL; /* disk full, permissions: I/O */
    if (lead) {
        int rc = rundir_lock(dir, &rs->lock_fd);
        if (rc != 0) return rc;
    }
    char ckpt[2200];
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.bin", dir);
    unsigned files = runlog_files(&rs->model, &rs->data);
    if (c->profile_batches > 1) files |= RUNLOG_PROFILE_BATCHES;
    rs->rows = rb_calloc((size_t)rs->model.B * (c->seq_len + 1), sizeof(int), "batch");
    if (resume && checkpoint_load(ckpt, &rs->model, st) != 0) return RB_EXIT_USAGE;
    if (resume && st->step >= train_total_steps(c)) {
        rb_fail("run %s: its checkpoint is at the final step %ld but result.ini is missing "
                "(the run was stopped while finishing); its metrics.csv holds the final "
                "losses",
                dir, st->step);
        return RB_EXIT_USAGE;
    }
    if (!lead) return 0; /* rank 0 alone writes */
    if (resume) { /* files of another resbench version are refused before anything is touched */
        int rc = runlog_rewind(dir, files, st->step);
        if (rc != 0) return rc;
    } else if (access(result, F_OK) == 0) {
        rb_fail("run directory %s already holds a finished run (result.ini): choose another "
                "out/run_id",
                dir);
        return RB_EXIT_USAGE;
    } else if (access(ckpt, F_OK) == 0) {
        rb_fail("run directory %s already holds a checkpoint: continue it with "
                "`resbench train --resume %s`, or choose another out/run_id",
                dir, dir);
        return RB_EXIT_USAGE;
    }
    if (rundir_write_config(dir, c) != 0 ||
        rundir_write_meta(dir, &rs->model, &rs->data, train_total_steps(c), resume) != 0)
        return RB_EXIT_FAIL;
    return runlog_open(&rs->log, dir, files, resume);
}

/* Everything the loop carries from step to step. */
typedef struct {
    const Config *c;
    RunState *rs;
    Model *m;
    TrainResult *res;
    CkptState st; /* the step the loop started from, and the best validation loss so far */
    Progress prog;
    int lead, r0, n_eval;
    long total, log_from; /* log_from: the step of the last log line */
    double tok_per_step, fl_per_step;
    double t_start, t_loop, t_ckpt_last; /* t_start: minus the wall time before a resume */
    double interval_s, cpu_s;            /* training-step time since the last log line; CPU time */
    char ckpt[2200], model_path[2200];
} Loop;

/* What one optimizer step measured. */
typedef struct {
    double loss, lr, gnorm;
} StepOut;

/* One optimizer step (batch, forward, backward, all-reduce, update), timed. A non-finite loss or
 * gradient stops the run before the update: RB_EXIT_USAGE, the last checkpoint kept; a failed
 * forward, backward or update (rb_error() says why): RB_EXIT_FAIL. */
static int train_step(Loop *L, long step, StepOut *out) {
    Model *m = L->m;
    double t_step = rb_now(), c_step = rb_cpu_now();
    data_train_rows(&L->rs->data, step, L->c->batch_size, L->r0, m->B, L->rs->rows);
    model_set_batch(m, L->rs->rows);
    model_zero_grad(m);
    /* A step's own failures (more threads than the model's scratch, a product the GEMM backend
     * refuses) are the same on every rank (same build, shapes and thread count): every rank
     * returns at the same point. */
    if (model_forward(m) != 0) return RB_EXIT_FAIL;
    out->loss = dist_mean(m->loss); /* every rank sees the same loss */
    if (!isfinite(out->loss)) {
        rb_fail("training loss is %g at step %ld; stopped (the last checkpoint %s is kept; "
                "lower lr or raise warmup)",
                out->loss, step + 1, L->ckpt);
        return RB_EXIT_USAGE;
    }
    if (model_backward(m) != 0) return RB_EXIT_FAIL;
    dist_mean_floats(m->grads, m->n_params); /* then identical optimizer steps everywhere */
    if (test_hook) test_hook(m, step + 1);
    out->lr = lr_at(L->c, step, L->total);
    out->gnorm = grad_global_norm(m);
    if (!isfinite(out->gnorm)) {
        char where[256] = "unknown";
        model_locate_nonfinite_grad(m, where, sizeof where);
        rb_fail("non-finite gradient at step %ld in %s; stopped before the update (the last "
                "checkpoint %s is kept; lower lr or raise warmup)",
                step + 1, where, L->ckpt);
        return RB_EXIT_USAGE;
    }
    if (optimizer_apply(m, out->lr, step + 1, out->gnorm) != 0) return RB_EXIT_FAIL;
    double step_s = rb_now() - t_step;
    L->cpu_s += rb_cpu_now() - c_step;
    L->res->train_s += step_s;
    L->res->timed_steps++;
    L->interval_s += step_s;
    return 0;
}

/* The validation loss after step `done` (and the probe's accuracies, rank 0); 1 on an I/O error
 * or a failed forward. */
static int evaluate_now(Loop *L, long done, double *val) {
    double probe[2 * (RB_PROBE_MAX_HOPS + 1)], t_eval = rb_now();
    if (train_evaluate(L->m, &L->rs->data, L->rs->rows, L->n_eval, probe, val) != 0) return 1;
    L->res->eval_s += rb_now() - t_eval;
    if (*val < L->st.best_val) L->st.best_val = *val;
    return L->lead && runlog_probe(&L->rs->log, &L->rs->data, probe, done) != 0;
}

/* The metrics row (when log_now) and the progress line; 1 on an I/O error. */
static int log_step(Loop *L, long done, const StepOut *s, double val, int log_now) {
    double now = rb_now(), wall = now - L->t_start;
    double tok_s = (double)(done - L->log_from) * L->tok_per_step / (L->interval_s + 1e-12);
    double eta = (now - L->t_loop) / (double)(done - L->st.step) * (double)(L->total - done);
    int io_fail = log_now && L->lead &&
                  runlog_metrics(&L->rs->log, done, done * L->tok_per_step, done * L->fl_per_step,
                                 wall, s->lr, s->loss, val, s->gnorm, tok_s) != 0;
    progress_step(&L->prog, done, L->total, s->loss, val, tok_s, eta, log_now);
    if (log_now) {
        L->interval_s = 0;
        L->log_from = done;
    }
    return io_fail;
}

/* Depth weights, gains and profile when due (rank 0, not after an I/O error); 1 on an I/O error. */
static int profile_step(Loop *L, long done, int profile_now, int io_fail) {
    double t_diag = rb_now();
    int bad = profile_now && L->lead && !io_fail &&
              log_diagnostics(&L->rs->log, L->m, &L->rs->data, L->rs->rows, done) != 0;
    L->res->diag_s += rb_now() - t_diag;
    return bad;
}

/* What all ranks agree on after a step (a signal may reach them at different steps): one
 * all-reduce of three bits. */
typedef struct {
    int signalled, io_failed, ckpt_time_due;
} Agreement;

static Agreement agree_after_step(const Loop *L, int io_fail) {
    int time_due = L->c->ckpt_minutes > 0 && rb_now() - L->t_ckpt_last >= 60 * L->c->ckpt_minutes;
    int bits = dist_max_int((stop_signal != 0) | io_fail << 1 | time_due << 2);
    Agreement a = {(bits & 1) != 0, (bits & 2) != 0, (bits & 4) != 0};
    return a;
}

/* The run's numbers so far, into res. */
static void record_step(Loop *L, long done, double loss, double val) {
    TrainResult *res = L->res;
    res->steps = done;
    res->tok_per_s = res->timed_steps * L->tok_per_step / res->train_s;
    res->cpu_util = L->cpu_s / (res->train_s * omp_get_max_threads());
    res->final_train_loss = loss;
    if (val >= 0) res->final_val_loss = val;
}

/* The end: model.bin, then result.ini (from then on the run is finished whatever happens), then
 * ckpt.bin is dropped (or, with keep_ckpt, rewritten at the last step by the checkpoint policy).
 * A kill before result.ini leaves the previous checkpoint, which resumes and retrains the last
 * steps identically. RB_EXIT_FAIL when rank 0 could not write. */
static int finish(Loop *L, long done, int io_fail) {
    TrainResult *res = L->res;
    if (L->lead) {
        CkptState cs = {done, rb_now() - L->t_start, L->st.best_val};
        res->tokens = done * L->tok_per_step;
        res->flops = done * L->fl_per_step;
        res->wall_s = rb_now() - L->t_start;
        res->best_val_loss = L->st.best_val;
        if (checkpoint_save_model(L->model_path, L->m, &cs) != 0 ||
            rundir_write_result(res->run_dir, res) != 0)
            io_fail = 1;
    }
    if (dist_max_int(io_fail)) {
        if (!io_fail) rb_fail("MPI rank 0 could not write result.ini");
        return RB_EXIT_FAIL;
    }
    if (L->lead && !L->c->keep_ckpt && unlink(L->ckpt) != 0 && errno != ENOENT)
        fprintf(stderr, "resbench: warning: could not remove %s: %s\n", L->ckpt, strerror(errno));
    return 0;
}

/* The checkpoint policy: at the last step only with keep_ckpt; before it every ckpt_every steps
 * (or at every evaluation when 0), when the clock says so, and before stopping early. */
static int checkpoint_if_due(Loop *L, long done, int last, int eval_now, int time_due, int stop) {
    const Config *c = L->c;
    int due = last ? c->keep_ckpt
                   : stop || time_due || (c->ckpt_every > 0 ? done % c->ckpt_every == 0 : eval_now);
    if (!due) return 0;
    CkptState cs = {done, rb_now() - L->t_start, L->st.best_val};
    double t_ckpt = rb_now();
    int bad = L->lead && checkpoint_save(L->ckpt, L->m, &cs) != 0;
    L->res->ckpt_s += rb_now() - t_ckpt;
    L->t_ckpt_last = rb_now();
    if (dist_max_int(bad)) {
        if (!bad) rb_fail("MPI rank 0 could not write the checkpoint");
        return RB_EXIT_FAIL;
    }
    return 0;
}

/* RB_EXIT_INTERRUPTED with the message of why the run stopped before its last step. */
static int stopped_early(const Loop *L, long done, int planned, int signalled) {
    if (planned && !signalled)
        rb_fail("stopped after step %ld as stop_at_step asked; checkpoint written, continue "
                "with `resbench train --resume %s`",
                done, L->res->run_dir);
    else
        rb_fail("interrupted by signal %d after step %ld; checkpoint written, continue "
                "with `resbench train --resume %s`",
                stop_signal ? (int)stop_signal : SIGTERM, done, L->res->run_dir);
    return RB_EXIT_INTERRUPTED;
}

/* The loop's fixed numbers, paths and clocks, after setup; announces the run directory. */
static void loop_init(Loop *L, const Config *c, RunState *rs, TrainResult *res, CkptState st,
                      int resume, int flags) {
    memset(L, 0, sizeof *L);
    L->c = c;
    L->rs = rs;
    L->m = &rs->model;
    L->res = res;
    L->st = st;
    L->lead = dist_rank() == 0;
    L->r0 = dist_rank() * L->m->B;
    L->total = train_total_steps(c);
    L->tok_per_step = (double)c->batch_size * c->seq_len;
    L->fl_per_step = flops_per_step(c);
    L->n_eval = (int)data_val_batches(&rs->data, c->batch_size);
    snprintf(L->ckpt, sizeof L->ckpt, "%s/ckpt.bin", res->run_dir);
    snprintf(L->model_path, sizeof L->model_path, "%s/model.bin", res->run_dir);
    res->loss_floor = data_loss_floor(&rs->data);
    if (L->lead && !resume && (flags & TRAIN_ANNOUNCE)) { /* where to resume from after kill -9 */
        printf("run directory %s (if stopped: resbench train --resume %s)\n", res->run_dir,
               res->run_dir);
        fflush(stdout);
    }
    char log_path[2200];
    snprintf(log_path, sizeof log_path, "%s/train.log", res->run_dir);
    progress_init(&L->prog, c->variant, (flags & TRAIN_QUIET) || !L->lead, log_path);
    L->t_start = rb_now() - st.wall_s;
    L->t_loop = rb_now();
    L->t_ckpt_last = rb_now();
    L->log_from = st.step;
    res->steps = st.step;
}

/* Starts every rank (or none); 0 to train, else the exit code (a finished run: RB_EXIT_OK after
 * reading its result). */
static int start(RunState *rs, const Config *c, int resume, TrainResult *res, CkptState *st,
                 int *train) {
    *train = 0;
    if (check_ranks(c) != 0) return RB_EXIT_USAGE;
    int failed = setup(rs, c, resume, res->run_dir, sizeof res->run_dir, st);
    int worst = dist_max_int(failed); /* every rank stops if one could not start */
    if (worst) {
        if (!failed) rb_fail("another MPI rank failed to start (see its message)");
        return worst; /* RB_EXIT_USAGE (2) outranks RB_EXIT_FAIL (1) */
    }
    if (rs->finished) { /* resume of a finished run: report it, change nothing */
        char dir[sizeof res->run_dir];
        rb_copy_str(dir, sizeof dir, res->run_dir);
        int rc = train_read_result(dir, res);
        res->already_finished = 1;
        return rc == 0 ? RB_EXIT_OK : RB_EXIT_USAGE;
    }
    *train = 1;
    return 0;
}

int train_run(const Config *c, int resume, int flags, TrainResult *res) {
    memset(res, 0, sizeof *res);
    RunState rs;
    memset(&rs, 0, sizeof rs);
    CkptState st = {0, 0, INFINITY};
    int train;
    int rc = start(&rs, c, resume, res, &st, &train);
    if (!train) {
        run_free(&rs);
        return rc;
    }
    Loop L;
    loop_init(&L, c, &rs, res, st, resume, flags);
    stop_signal = 0;
    void (*old_int)(int) = signal(SIGINT, on_signal), (*old_term)(int) = signal(SIGTERM, on_signal);
    for (long step = L.st.step; step < L.total; step++) {
        StepOut s;
        if ((rc = train_step(&L, step, &s)) != 0) break;
        long done = step + 1;
        int last = done == L.total;
        int eval_now = last || (c->eval_every > 0 && done % c->eval_every == 0);
        int log_now = eval_now || done % c->log_every == 0;
        int profile_now = last || (c->profile_every > 0 && done % c->profile_every == 0);
        double val = -1;
        int io_fail = eval_now && evaluate_now(&L, done, &val);
        io_fail |= log_step(&L, done, &s, val, log_now);
        io_fail |= profile_step(&L, done, profile_now, io_fail);
        Agreement a = agree_after_step(&L, io_fail);
        if (a.io_failed) {
            if (!io_fail) rb_fail("MPI rank 0 could not write its outputs");
            rc = RB_EXIT_FAIL;
            break;
        }
        int planned = c->stop_at_step > 0 && done == c->stop_at_step; /* same on every rank */
        int stop = (a.signalled || planned) && !last;
        record_step(&L, done, s.loss, val);
        if (last && (rc = finish(&L, done, io_fail)) != 0) break;
        if ((rc = checkpoint_if_due(&L, done, last, eval_now, a.ckpt_time_due, stop)) != 0) break;
        if (stop) {
            rc = stopped_early(&L, done, planned, a.signalled);
            break;
        }
    }
    progress_done(&L.prog);
    signal(SIGINT, old_int);
    signal(SIGTERM, old_term);
    res->tokens = res->steps * L.tok_per_step;
    res->flops = res->steps * L.fl_per_step;
    res->wall_s = rb_now() - L.t_start;
    res->best_val_loss = L.st.best_val;
    run_free(&rs);
    return rc;
}
