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
#include "csvout.h"
#include "data.h"
#include "dist.h"
#include "model.h"
#include "optim.h"
#include "probe.h"
#include "profile.h"
#include "progress.h"
#include "util.h"

#ifndef RESBENCH_GIT_REV
#define RESBENCH_GIT_REV "unknown"
#endif

static volatile sig_atomic_t stop_signal = 0;
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

void train_run_dir(const Config *c, char *buf, size_t n) {
    if (c->run_id[0])
        snprintf(buf, n, "%s/%s", c->out, c->run_id);
    else
        snprintf(buf, n, "%s/%s-s%ld-%08llx", c->out, c->variant, c->seed,
                 (unsigned long long)(config_hash(c) & 0xffffffffULL));
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

static const char *const EVAL_HEADER[] = {"step", "task", "hops", "accuracy", "n"};

/* eval.csv: the reasoning probe at an evaluation step (synth:hops only). */
static int log_probe(CsvOut *csv, const Data *d, const double *probe, long step) {
    for (int h = 1; h <= data_probe_hops(d) && h <= RB_PROBE_MAX_HOPS; h++) {
        double n = probe[RB_PROBE_MAX_HOPS + 1 + h];
        char f[5][40];
        snprintf(f[0], 40, "%ld", step);
        snprintf(f[1], 40, "%s", d->kind == DATA_COMPOSE ? "compose" : "hops");
        snprintf(f[2], 40, "%d", h);
        rb_fmt_double(f[3], 40, n > 0 ? probe[h] / n : 0.0);
        snprintf(f[4], 40, "%.0f", n);
        const char *row[5] = {f[0], f[1], f[2], f[3], f[4]};
        if (csv_row(csv, row) != 0) return -1;
    }
    return 0;
}

static int write_meta(const char *dir, const Model *m, const Data *d, long total, int resumed) {
    char path[2200], desc[512], host[256] = "unknown", when[64];
    gethostname(host, sizeof host - 1);
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    data_describe(d, desc, sizeof desc);
    char text[4096], fps[40], floor[40];
    rb_fmt_double(fps, sizeof fps, flops_per_step(&m->cfg));
    rb_fmt_double(floor, sizeof floor, data_loss_floor(d));
    int n = snprintf(text, sizeof text,
                     "# resbench run metadata\ngit_rev = %s\nhost = %s\nstart_time = %s\n"
                     "resumed = %d\nthreads = %d\nn_params = %zu\ntotal_steps = %ld\n"
                     "flops_per_step = %s\nmemory_bytes = %zu\nloss_floor = %s\ndata = %s\n",
                     RESBENCH_GIT_REV, host, when, resumed, omp_get_max_threads(), m->n_params,
                     total, fps, model_memory_bytes(m), floor, desc);
    snprintf(path, sizeof path, "%s/meta.ini", dir);
    return rb_write_file_atomic(path, text, (size_t)n);
}

static int write_config(const char *dir, const Config *c) {
    char path[2200];
    snprintf(path, sizeof path, "%s/config.ini", dir);
    char *text = config_to_ini(c);
    int rc = rb_write_file_atomic(path, text, strlen(text));
    free(text);
    return rc;
}

/* result.ini of the finished run; completes r's totals from the step count. */
static int write_result(const char *dir, TrainResult *r, double tok_per_step, double fl_per_step,
                        double wall_s, double best_val) {
    r->tokens = r->steps * tok_per_step;
    r->flops = r->steps * fl_per_step;
    r->wall_s = wall_s;
    r->best_val_loss = best_val;
    char path[2200], text[2048], v[13][40];
    const double vals[13] = {
        r->tokens,         r->flops,         r->wall_s,    r->tok_per_s, r->train_s,
        r->eval_s,         r->diag_s,        r->ckpt_s,    r->cpu_util,  r->final_train_loss,
        r->final_val_loss, r->best_val_loss, r->loss_floor};
    for (int k = 0; k < 13; k++) rb_fmt_double(v[k], sizeof v[k], vals[k]);
    int n = snprintf(text, sizeof text,
                     "# resbench final result\nsteps = %ld\ntokens = %s\nflops = %s\n"
                     "wall_s = %s\n# speed of the %ld steps this process trained (train.h)\n"
                     "timed_steps = %ld\ntok_per_s = %s\ntrain_s = %s\neval_s = %s\n"
                     "diag_s = %s\nckpt_s = %s\ncpu_util = %s\nfinal_train_loss = %s\n"
                     "final_val_loss = %s\nbest_val_loss = %s\nloss_floor = %s\n",
                     r->steps, v[0], v[1], v[2], r->timed_steps, r->timed_steps, v[3], v[4], v[5],
                     v[6], v[7], v[8], v[9], v[10], v[11], v[12]);
    snprintf(path, sizeof path, "%s/result.ini", dir);
    return rb_write_file_atomic(path, text, (size_t)n);
}

static int read_result_key(void *user, const char *section, const char *name, const char *value) {
    TrainResult *r = user;
    (void)section;
    double v = strtod(value, NULL);
    static const struct {
        const char *key;
        size_t off;
    } KEYS[] = {{"tokens", offsetof(TrainResult, tokens)},
                {"flops", offsetof(TrainResult, flops)},
                {"wall_s", offsetof(TrainResult, wall_s)},
                {"tok_per_s", offsetof(TrainResult, tok_per_s)},
                {"train_s", offsetof(TrainResult, train_s)},
                {"eval_s", offsetof(TrainResult, eval_s)},
                {"diag_s", offsetof(TrainResult, diag_s)},
                {"ckpt_s", offsetof(TrainResult, ckpt_s)},
                {"cpu_util", offsetof(TrainResult, cpu_util)},
                {"final_train_loss", offsetof(TrainResult, final_train_loss)},
                {"final_val_loss", offsetof(TrainResult, final_val_loss)},
                {"best_val_loss", offsetof(TrainResult, best_val_loss)},
                {"loss_floor", offsetof(TrainResult, loss_floor)}};
    if (!strcmp(name, "steps")) r->steps = (long)v;
    if (!strcmp(name, "timed_steps")) r->timed_steps = (long)v;
    for (size_t k = 0; k < sizeof KEYS / sizeof KEYS[0]; k++)
        if (!strcmp(name, KEYS[k].key)) memcpy((char *)r + KEYS[k].off, &v, sizeof v);
    return 1;
}

int train_read_result(const char *dir, TrainResult *r) {
    char path[2200];
    snprintf(path, sizeof path, "%s/result.ini", dir);
    memset(r, 0, sizeof *r);
    rb_copy_str(r->run_dir, sizeof r->run_dir, dir);
    if (rb_check_regular(path) != 0) return -1;
    r->cpu_util = NAN; /* results written before resbench recorded it */
    int line = ini_parse(path, read_result_key, r);
    if (line != 0) return rb_fail("%s: unreadable (line %d)", path, line);
    return 0;
}

static const char *const METRICS_HEADER[] = {
    "step", "tokens", "flops", "wall_s", "lr", "train_loss", "val_loss", "grad_norm", "tok_per_s"};

static int log_metrics(CsvOut *csv, long step, double tokens, double flops, double wall, double lr,
                       double loss, double val, double gnorm, double tok_s) {
    char f[9][40];
    snprintf(f[0], 40, "%ld", step);
    snprintf(f[1], 40, "%.0f", tokens);
    double v[7] = {flops, wall, lr, loss, val, gnorm, tok_s};
    for (int k = 0; k < 7; k++) rb_fmt_double(f[2 + k], 40, v[k]);
    const char *row[9];
    for (int i = 0; i < 9; i++) row[i] = f[i];
    if (val < 0) row[6] = NULL;
    return csv_row(csv, row);
}

/* depth_attn.csv: the mixing weights of every consumer, averaged over the tokens of the last
 * forward (validation batch 0, so runs and steps are comparable). */
static int log_depth_weights(CsvOut *csv, Model *m, long step) {
    double w[RB_MAX_SUB + 1];
    for (int c = 0;; c++) {
        int n = m->vops->depth_weights(&m->stream, c, w, RB_MAX_SUB + 1);
        if (n < 0) return 0;
        for (int s = 0; s < n; s++) {
            char f[4][40];
            snprintf(f[0], 40, "%ld", step);
            snprintf(f[1], 40, "%d", c + 1);
            snprintf(f[2], 40, "%d", s);
            rb_fmt_double(f[3], 40, w[s]);
            const char *row[4] = {f[0], f[1], f[2], f[3]};
            if (csv_row(csv, row) != 0) return -1;
        }
    }
}

static const char *const DEPTH_HEADER[] = {"step", "layer", "source", "weight"};
/* step, layer, then the MixStat columns in enum order */
static const char *const GAINS_HEADER[] = {"step",
                                           "layer",
                                           "fwd_gain",
                                           "bwd_gain",
                                           "composite_fwd_gain",
                                           "composite_bwd_gain",
                                           "row_sum_min",
                                           "row_sum_max",
                                           "col_sum_min",
                                           "col_sum_max",
                                           "dist_identity"};

/* mhc.csv: per site the MixStats of the stream-mixing matrix (gains also of the product of all
 * so far), from the same forward on validation batch 0 (log_depth_weights or a fresh one). */
static int log_mixing_gains(CsvOut *csv, Model *m, long step) {
    double g[MIX_NSTATS * RB_MAX_SUB];
    int n = m->vops->mixing_gains(&m->stream, g);
    for (int l = 0; l < n; l++) {
        char f[2 + MIX_NSTATS][40];
        const char *row[2 + MIX_NSTATS];
        snprintf(f[0], 40, "%ld", step);
        snprintf(f[1], 40, "%d", l + 1);
        for (int k = 0; k < MIX_NSTATS; k++) rb_fmt_double(f[2 + k], 40, g[MIX_NSTATS * l + k]);
        for (int k = 0; k < 2 + MIX_NSTATS; k++) row[k] = f[k];
        if (csv_row(csv, row) != 0) return -1;
    }
    return 0;
}

static const char *const PROFILE_HEADER[] = {"step",      "layer",          "kind",
                                             "input_rms", "output_rms",     "stream_rms",
                                             "grad_rms",  "param_grad_norm"};

static int log_profile(CsvOut *csv, Model *m, long step) {
    ProfileRow rows[RB_MAX_SUB + 1];
    profile_rows(m, rows);
    for (int l = 0; l <= m->L; l++) {
        char f[8][40];
        const ProfileRow *r = &rows[l];
        snprintf(f[0], 40, "%ld", step);
        snprintf(f[1], 40, "%d", r->layer);
        snprintf(f[2], 40, "%s", r->kind);
        double v[5] = {r->input_rms, r->output_rms, r->stream_rms, r->grad_rms, r->param_grad_norm};
        for (int k = 0; k < 5; k++) rb_fmt_double(f[3 + k], 40, v[k]);
        const char *row[8] = {f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7]};
        if (csv_row(csv, row) != 0) return -1;
    }
    return 0;
}

/* Diagnostics at a profile step, on validation batch 0 (the same tokens every time): mixing
 * weights and gains of the forward, then the profile, whose backward overwrites the gradients.
 * It runs between optimizer steps, and every step zeroes the gradients first, so the trajectory
 * is unchanged (tested). */
static int log_diagnostics(CsvOut *profile, CsvOut *depth, CsvOut *gains, Model *m, const Data *d,
                           int *rows, long step) {
    data_val_rows(d, 0, m->cfg.batch_size, 0, m->B, rows); /* rank 0's rows under MPI */
    model_set_batch(m, rows);
    model_forward(m);
    if (depth->f && log_depth_weights(depth, m, step) != 0) return -1;
    if (gains->f && log_mixing_gains(gains, m, step) != 0) return -1;
    return log_profile(profile, m, step);
}

typedef struct {
    Data data;
    Model model;
    CsvOut metrics, profile, depth, gains, eval;
    int *rows;
    int data_open, model_built, lock_fd, finished;
} RunState;

static void run_free(RunState *rs) {
    csv_close(&rs->metrics);
    csv_close(&rs->profile);
    csv_close(&rs->depth);
    csv_close(&rs->gains);
    csv_close(&rs->eval);
    if (rs->model_built) model_free(&rs->model);
    if (rs->data_open) data_close(&rs->data);
    if (rs->lock_fd > 0) close(rs->lock_fd); /* releases the lock */
    free(rs->rows);
}

/* One process per run directory: an exclusive flock on DIR/lock, held until the run ends (the
 * kernel releases it when the process dies, so a killed run never leaves a stale lock). */
static int lock_run_dir(RunState *rs, const char *dir) {
    int rc = rb_lock_dir(dir, &rs->lock_fd);
    if (rc == RB_EXIT_USAGE)
        rb_fail("run directory %s is in use by another resbench process (%s); wait for it to "
                "finish or choose another out/run_id",
                dir, rb_error());
    return rc;
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
    train_run_dir(c, dir, dirn);
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
        int rc = lock_run_dir(rs, dir);
        if (rc != 0) return rc;
    }
    char ckpt[2200], metrics[2200], depth[2200], gains[2200], profile[2200], eval[2200];
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.bin", dir);
    snprintf(metrics, sizeof metrics, "%s/metrics.csv", dir);
    snprintf(depth, sizeof depth, "%s/depth_attn.csv", dir);
    snprintf(gains, sizeof gains, "%s/mhc.csv", dir);
    snprintf(profile, sizeof profile, "%s/profile.csv", dir);
    snprintf(eval, sizeof eval, "%s/eval.csv", dir);
    int has_probe = data_probe_hops(&rs->data) > 0;
    int has_depth = rs->model.vops->depth_weights != NULL;
    int has_gains = rs->model.vops->mixing_gains != NULL;
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
    if (resume) {        /* files of another resbench version: refuse before touching anything */
        if (csv_check_header(metrics, METRICS_HEADER, 9) != 0 ||
            csv_check_header(profile, PROFILE_HEADER, 8) != 0 ||
            (has_depth && csv_check_header(depth, DEPTH_HEADER, 4) != 0) ||
            (has_gains && csv_check_header(gains, GAINS_HEADER, 2 + MIX_NSTATS) != 0) ||
            (has_probe && csv_check_header(eval, EVAL_HEADER, 5) != 0))
            return RB_EXIT_USAGE;
        if (csv_truncate_after(metrics, st->step) != 0) return RB_EXIT_FAIL;
        if (csv_truncate_after(profile, st->step) != 0) return RB_EXIT_FAIL;
        if (has_depth && csv_truncate_after(depth, st->step) != 0) return RB_EXIT_FAIL;
        if (has_gains && csv_truncate_after(gains, st->step) != 0) return RB_EXIT_FAIL;
        if (has_probe && csv_truncate_after(eval, st->step) != 0) return RB_EXIT_FAIL;
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
    if (write_config(dir, c) != 0 ||
        write_meta(dir, &rs->model, &rs->data, train_total_steps(c), resume) != 0)
        return RB_EXIT_FAIL;
    if (csv_open(&rs->metrics, metrics, METRICS_HEADER, 9, resume) != 0) return RB_EXIT_FAIL;
    if (csv_open(&rs->profile, profile, PROFILE_HEADER, 8, resume) != 0) return RB_EXIT_FAIL;
    if (has_depth && csv_open(&rs->depth, depth, DEPTH_HEADER, 4, resume) != 0) return RB_EXIT_FAIL;
    if (has_gains && csv_open(&rs->gains, gains, GAINS_HEADER, 2 + MIX_NSTATS, resume) != 0)
        return RB_EXIT_FAIL;
    if (has_probe && csv_open(&rs->eval, eval, EVAL_HEADER, 5, resume) != 0) return RB_EXIT_FAIL;
    return 0;
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
    /* fault injection for tests: RESBENCH_INJECT_NAN=STEP puts a NaN into a gradient at STEP */
    const char *inj = getenv("RESBENCH_INJECT_NAN");
    long inject_nan = inj ? atol(inj) : 0;
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
        if (step + 1 == inject_nan) m->grads[m->tensors[m->n_tensors > 6 ? 6 : 0].offset] = NAN;
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
        adamw_apply(m, lr, step + 1, gnorm);
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
            if (lead && rs.eval.f && log_probe(&rs.eval, &rs.data, probe, done) != 0) io_fail = 1;
        }
        double now = rb_now(), wall = now - t_start;
        double tok_s = (double)(done - log_from) * tok_per_step / (interval_s + 1e-12);
        double eta = (now - t_loop) / (double)(done - st.step) * (double)(total - done);
        if (log_now) {
            if (lead && log_metrics(&rs.metrics, done, done * tok_per_step, done * fl_per_step,
                                    wall, lr, loss, val, gnorm, tok_s) != 0)
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
            log_diagnostics(&rs.profile, &rs.depth, &rs.gains, m, &rs.data, rs.rows, done) != 0)
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
            if (checkpoint_save_model(model_path, m, &cs) != 0 ||
                write_result(res->run_dir, res, tok_per_step, fl_per_step, rb_now() - t_start,
                             st.best_val) != 0)
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
