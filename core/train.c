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

/* Mean validation loss; under MPI every rank evaluates its rows of each batch. For synth:hops
 * also the answer accuracy by hop count (probe[0..9] correct, probe[10..19] answers). */
static double evaluate(Model *m, const Data *d, int *rows, int nbatches, double *probe) {
    double total = 0;
    for (int i = 0; i < 2 * (RB_PROBE_MAX_HOPS + 1); i++) probe[i] = 0;
    for (int k = 0; k < nbatches; k++) {
        data_val_rows(d, k, m->cfg.batch_size, dist_rank() * m->B, m->B, rows);
        model_set_batch(m, rows);
        total += model_forward(m);
        if (data_probe_hops(d)) probe_hops_count(m, probe, probe + RB_PROBE_MAX_HOPS + 1);
    }
    dist_sum_doubles(probe, 2 * (RB_PROBE_MAX_HOPS + 1));
    return dist_mean(total / nbatches);
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
        model_forward(m);
        if ((b ? runlog_profile(lg, m, step, b) : runlog_diagnostics(lg, m, step)) != 0) return -1;
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

int train_run(const Config *c, int resume, int flags, TrainResult *res) {
    int quiet = flags & TRAIN_QUIET;
    memset(res, 0, sizeof *res);
    RunState rs;
    memset(&rs, 0, sizeof rs);
    CkptState st = {0, 0, INFINITY};
    if (check_ranks(c) != 0) return RB_EXIT_USAGE;
    int failed = setup(&rs, c, resume, res->run_dir, sizeof res->run_dir, &st);
    int worst = dist_max_int(failed); /* every rank stops if one could not start */
    if (worst) {
        if (!failed) rb_fail("another MPI rank failed to start (see its message)");
        run_free(&rs);
        return worst; /* RB_EXIT_USAGE (2) outranks RB_EXIT_FAIL (1) */
    }
    if (rs.finished) { /* resume of a finished run: report it, change nothing */
        char dir[sizeof res->run_dir];
        rb_copy_str(dir, sizeof dir, res->run_dir);
        int rc = train_read_result(dir, res);
        res->already_finished = 1;
        run_free(&rs);
        return rc == 0 ? RB_EXIT_OK : RB_EXIT_USAGE;
    }
    Model *m = &rs.model;
    int lead = dist_rank() == 0, r0 = dist_rank() * m->B;
    long total = train_total_steps(c);
    double tok_per_step = (double)c->batch_size * c->seq_len, fl_per_step = flops_per_step(c);
    int n_eval = (int)data_val_batches(&rs.data, c->batch_size);
    char ckpt[2200], model_path[2200];
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.bin", res->run_dir);
    snprintf(model_path, sizeof model_path, "%s/model.bin", res->run_dir);
    res->loss_floor = data_loss_floor(&rs.data);
    if (lead && !resume && (flags & TRAIN_ANNOUNCE)) { /* where to resume from after kill -9 */
        printf("run directory %s (if stopped: resbench train --resume %s)\n", res->run_dir,
               res->run_dir);
        fflush(stdout);
    }
    Progress prog;
    char log_path[2200];
    snprintf(log_path, sizeof log_path, "%s/train.log", res->run_dir);
    progress_init(&prog, c->variant, quiet || !lead, log_path);
    stop_signal = 0;
    void (*old_int)(int) = signal(SIGINT, on_signal), (*old_term)(int) = signal(SIGTERM, on_signal);
    int rc = RB_EXIT_OK;
    double t_start = rb_now() - st.wall_s, t_loop = rb_now(), loss = NAN, val = -1;
    long log_from = st.step;
    res->steps = st.step;
    double interval_s = 0, cpu_s = 0; /* training-step time since the last log line; CPU time */
    double t_ckpt_last = rb_now();
    for (long step = st.step; step < total; step++) {
        double t_step = rb_now(), c_step = rb_cpu_now();
        data_train_rows(&rs.data, step, c->batch_size, r0, m->B, rs.rows);
        model_set_batch(m, rs.rows);
        model_zero_grad(m);
        loss = dist_mean(model_forward(m)); /* every rank sees the same loss */
        if (!isfinite(loss)) {
            rc = RB_EXIT_USAGE;
            rb_fail("training loss is %g at step %ld; stopped (the last checkpoint %s is kept; "
                    "lower lr or raise warmup)",
                    loss, step + 1, ckpt);
            break;
        }
        model_backward(m);
        dist_mean_floats(m->grads, m->n_params); /* then identical optimizer steps everywhere */
        if (test_hook) test_hook(m, step + 1);
        double lr = lr_at(c, step, total);
        double gnorm = grad_global_norm(m);
        if (!isfinite(gnorm)) {
            char where[256] = "unknown";
            model_locate_nonfinite_grad(m, where, sizeof where);
            rc = RB_EXIT_USAGE;
            rb_fail("non-finite gradient at step %ld in %s; stopped before the update (the last "
                    "checkpoint %s is kept; lower lr or raise warmup)",
                    step + 1, where, ckpt);
            break;
        }
        optimizer_apply(m, lr, step + 1, gnorm);
        double step_s = rb_now() - t_step;
        cpu_s += rb_cpu_now() - c_step;
        res->train_s += step_s;
        res->timed_steps++;
        interval_s += step_s;
        long done = step + 1;
        int last = done == total;
        int eval_now = last || (c->eval_every > 0 && done % c->eval_every == 0);
        int log_now = eval_now || done % c->log_every == 0;
        val = -1;
        int io_fail = 0;
        if (eval_now) {
            double probe[2 * (RB_PROBE_MAX_HOPS + 1)], t_eval = rb_now();
            val = evaluate(m, &rs.data, rs.rows, n_eval, probe);
            res->eval_s += rb_now() - t_eval;
            if (val < st.best_val) st.best_val = val;
            if (lead && runlog_probe(&rs.log, &rs.data, probe, done) != 0) io_fail = 1;
        }
        double now = rb_now(), wall = now - t_start;
        double tok_s = (double)(done - log_from) * tok_per_step / (interval_s + 1e-12);
        double eta = (now - t_loop) / (double)(done - st.step) * (double)(total - done);
        if (log_now) {
            if (lead && runlog_metrics(&rs.log, done, done * tok_per_step, done * fl_per_step, wall,
                                       lr, loss, val, gnorm, tok_s) != 0)
                io_fail = 1;
        }
        progress_step(&prog, done, total, loss, val, tok_s, eta, log_now);
        if (log_now) {
            interval_s = 0;
            log_from = done;
        }
        int profile_now = last || (c->profile_every > 0 && done % c->profile_every == 0);
        double t_diag = rb_now();
        if (profile_now && lead && !io_fail &&
            log_diagnostics(&rs.log, m, &rs.data, rs.rows, done) != 0)
            io_fail = 1;
        res->diag_s += rb_now() - t_diag;
        /* ranks agree on stopping (a signal may reach them at different steps), on failures and
         * on a checkpoint that is due by the clock (ckpt_minutes) */
        int time_due = c->ckpt_minutes > 0 && rb_now() - t_ckpt_last >= 60 * c->ckpt_minutes;
        int agreed = dist_max_int((stop_signal != 0) | io_fail << 1 | time_due << 2);
        int planned = c->stop_at_step > 0 && done == c->stop_at_step; /* same on every rank */
        int stop = (agreed & 1) || planned;
        time_due = (agreed & 4) != 0;
        if (agreed & 2) {
            rc = RB_EXIT_FAIL;
            if (!io_fail) rb_fail("MPI rank 0 could not write its outputs");
            break;
        }
        res->steps = done;
        res->tok_per_s = res->timed_steps * tok_per_step / res->train_s;
        res->cpu_util = cpu_s / (res->train_s * omp_get_max_threads());
        res->final_train_loss = loss;
        if (val >= 0) res->final_val_loss = val;
        /* The end: model.bin, then result.ini (from then on the run is finished whatever
         * happens), then ckpt.bin is dropped or, with keep_ckpt, rewritten at the last step. A
         * kill before result.ini leaves the previous checkpoint, which resumes and retrains the
         * last steps identically. */
        if (last && lead) {
            CkptState cs = {done, rb_now() - t_start, st.best_val};
            res->tokens = done * tok_per_step;
            res->flops = done * fl_per_step;
            res->wall_s = rb_now() - t_start;
            res->best_val_loss = st.best_val;
            if (checkpoint_save_model(model_path, m, &cs) != 0 ||
                rundir_write_result(res->run_dir, res) != 0)
                io_fail = 1;
        }
        if (last && dist_max_int(io_fail)) {
            rc = RB_EXIT_FAIL;
            if (!io_fail) rb_fail("MPI rank 0 could not write result.ini");
            break;
        }
        if (last && lead && !c->keep_ckpt && unlink(ckpt) != 0 && errno != ENOENT)
            fprintf(stderr, "resbench: warning: could not remove %s: %s\n", ckpt, strerror(errno));
        int ckpt_now = last
                           ? c->keep_ckpt
                           : time_due || (c->ckpt_every > 0 ? done % c->ckpt_every == 0 : eval_now);
        if (ckpt_now || (stop && !last)) {
            CkptState cs = {done, rb_now() - t_start, st.best_val};
            double t_ckpt = rb_now();
            int bad = lead && checkpoint_save(ckpt, m, &cs) != 0;
            res->ckpt_s += rb_now() - t_ckpt;
            t_ckpt_last = rb_now();
            if (dist_max_int(bad)) {
                rc = RB_EXIT_FAIL;
                if (!bad) rb_fail("MPI rank 0 could not write the checkpoint");
                break;
            }
        }
        if (stop && !last) {
            rc = RB_EXIT_INTERRUPTED;
            if (planned && !(agreed & 1))
                rb_fail(
                    "stopped after step %ld as stop_at_step asked; checkpoint written, continue "
                    "with `resbench train --resume %s`",
                    done, res->run_dir);
            else
                rb_fail("interrupted by signal %d after step %ld; checkpoint written, continue "
                        "with `resbench train --resume %s`",
                        stop_signal ? (int)stop_signal : SIGTERM, done, res->run_dir);
            break;
        }
    }
    progress_done(&prog);
    signal(SIGINT, old_int);
    signal(SIGTERM, old_term);
    res->tokens = res->steps * tok_per_step;
    res->flops = res->steps * fl_per_step;
    res->wall_s = rb_now() - t_start;
    res->best_val_loss = st.best_val;
    run_free(&rs);
    return rc;
}
