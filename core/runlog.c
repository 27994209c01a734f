/* The run log (runlog.h). */
#include "runlog.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "probe.h"
#include "profile.h"
#include "util.h"

typedef struct {
    const char *file;
    const char *const *header;
    int ncols;
} LogSpec;

static const char *const METRICS_HEADER[] = {
    "step", "tokens", "flops", "wall_s", "lr", "train_loss", "val_loss", "grad_norm", "tok_per_s"};
static const char *const PROFILE_HEADER[] = {"step",      "layer",          "kind",
                                             "input_rms", "output_rms",     "stream_rms",
                                             "grad_rms",  "param_grad_norm"};
static const char *const PROFILE_BATCH_HEADER[] = {"step",       "batch",     "layer",
                                                   "kind",       "input_rms", "output_rms",
                                                   "stream_rms", "grad_rms",  "param_grad_norm"};
static const char *const DEPTH_HEADER[] = {"step", "layer", "source", "weight"};
/* step, layer, then the RB_MIX_NSTATS statistics of mixing_gains in its order (docs/formats.md) */
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
_Static_assert(sizeof GAINS_HEADER / sizeof *GAINS_HEADER == 2 + RB_MIX_NSTATS, "mhc.csv columns");
static const char *const EVAL_HEADER[] = {"step", "task", "hops", "accuracy", "n"};
static const char *const ROUTING_HEADER[] = {"step", "layer", "n_sources", "entropy",
                                             "uniform_entropy"};

static const LogSpec LOGS[LOG_NFILES] = {
    [LOG_METRICS] = {"metrics.csv", METRICS_HEADER, 9},
    [LOG_PROFILE] = {"profile.csv", PROFILE_HEADER, 8},
    [LOG_DEPTH] = {"depth_attn.csv", DEPTH_HEADER, 4},
    [LOG_GAINS] = {"mhc.csv", GAINS_HEADER, 2 + RB_MIX_NSTATS},
    [LOG_EVAL] = {"eval.csv", EVAL_HEADER, 5},
    [LOG_ROUTING] = {"routing.csv", ROUTING_HEADER, 5},
};

/* One cell of a row: an integer, a number (shortest text that reads back to the same double), a
 * whole number (%.0f), a text, or empty. */
typedef struct {
    enum { CELL_INT, CELL_NUM, CELL_WHOLE, CELL_TEXT, CELL_EMPTY } kind;
    long i;
    double x;
    const char *s;
} Cell;
#define INT_CELL(v)                                                                                \
    { CELL_INT, (long)(v), 0, NULL }
#define NUM_CELL(v)                                                                                \
    { CELL_NUM, 0, (v), NULL }
#define WHOLE_CELL(v)                                                                              \
    { CELL_WHOLE, 0, (v), NULL }
#define TEXT_CELL(v)                                                                               \
    { CELL_TEXT, 0, 0, (v) }

/* The one row writer: n cells formatted and appended. */
static int put_row(CsvOut *csv, const Cell *cells, int n) {
    char text[16][40];
    const char *row[16];
    for (int k = 0; k < n && k < 16; k++) {
        const Cell *c = &cells[k];
        row[k] = text[k];
        if (c->kind == CELL_INT)
            snprintf(text[k], 40, "%ld", c->i);
        else if (c->kind == CELL_NUM)
            rb_fmt_double(text[k], 40, c->x);
        else if (c->kind == CELL_WHOLE)
            snprintf(text[k], 40, "%.0f", c->x);
        else if (c->kind == CELL_TEXT)
            row[k] = c->s;
        else
            row[k] = NULL;
    }
    return csv_row(csv, row);
}

/* A variant mixes over depth at this config when its first consumer has sources (laurel's
 * hooks, say, answer -1 for every consumer without pa): no empty depth files otherwise. */
static int mixes_over_depth(const Model *m) {
    double w[RB_MAX_SUB + 1];
    return m->vops->depth_weights && m->vops->depth_weights(&m->stream, 0, w, RB_MAX_SUB + 1) >= 0;
}

unsigned runlog_files(const Model *m, const Data *d) {
    unsigned f = 1u << LOG_METRICS | 1u << LOG_PROFILE;
    int depth = mixes_over_depth(m);
    if (depth) f |= 1u << LOG_DEPTH;
    if (depth && m->vops->depth_entropy) f |= 1u << LOG_ROUTING;
    if (m->vops->mixing_gains) f |= 1u << LOG_GAINS;
    if (data_probe_hops(d) > 0) f |= 1u << LOG_EVAL;
    return f;
}

/* The spec of file k under the files mask (profile.csv with or without its batch column). */
static LogSpec log_spec(unsigned files, int k) {
    static const LogSpec batched = {"profile.csv", PROFILE_BATCH_HEADER, 9};
    return k == LOG_PROFILE && (files & RUNLOG_PROFILE_BATCHES) ? batched : LOGS[k];
}

static void log_path(char *buf, size_t n, const char *dir, int k) {
    snprintf(buf, n, "%s/%s", dir, LOGS[k].file);
}

int runlog_rewind(const char *dir, unsigned files, long step) {
    char path[2200];
    for (int k = 0; k < LOG_NFILES; k++) {
        log_path(path, sizeof path, dir, k);
        LogSpec spec = log_spec(files, k);
        if ((files >> k & 1) && csv_check_header(path, spec.header, spec.ncols) != 0)
            return RB_EXIT_USAGE;
    }
    for (int k = 0; k < LOG_NFILES; k++) {
        log_path(path, sizeof path, dir, k);
        if ((files >> k & 1) && csv_truncate_after(path, step) != 0) return RB_EXIT_FAIL;
    }
    return 0;
}

int runlog_open(RunLog *lg, const char *dir, unsigned files, int resume) {
    char path[2200];
    for (int k = 0; k < LOG_NFILES; k++) {
        log_path(path, sizeof path, dir, k);
        LogSpec spec = log_spec(files, k);
        if ((files >> k & 1) && csv_open(&lg->csv[k], path, spec.header, spec.ncols, resume) != 0)
            return RB_EXIT_FAIL;
    }
    lg->profile_batch_col = (files & RUNLOG_PROFILE_BATCHES) != 0;
    return 0;
}

void runlog_close(RunLog *lg) {
    for (int k = 0; k < LOG_NFILES; k++) csv_close(&lg->csv[k]);
}

int runlog_metrics(RunLog *lg, long step, double tokens, double flops, double wall, double lr,
                   double loss, double val, double gnorm, double tok_s) {
    Cell row[9] = {INT_CELL(step), WHOLE_CELL(tokens), NUM_CELL(flops),
                   NUM_CELL(wall), NUM_CELL(lr),       NUM_CELL(loss),
                   NUM_CELL(val),  NUM_CELL(gnorm),    NUM_CELL(tok_s)};
    if (val < 0) row[6].kind = CELL_EMPTY;
    return put_row(&lg->csv[LOG_METRICS], row, 9);
}

int runlog_probe(RunLog *lg, const Data *d, const double *probe, long step) {
    if (!lg->csv[LOG_EVAL].f) return 0;
    for (int h = 1; h <= data_probe_hops(d) && h <= RB_PROBE_MAX_HOPS; h++) {
        double n = probe[RB_PROBE_MAX_HOPS + 1 + h];
        Cell row[5] = {INT_CELL(step), TEXT_CELL(d->kind == DATA_COMPOSE ? "compose" : "hops"),
                       INT_CELL(h), NUM_CELL(n > 0 ? probe[h] / n : 0.0), WHOLE_CELL(n)};
        if (put_row(&lg->csv[LOG_EVAL], row, 5) != 0) return -1;
    }
    return 0;
}

/* depth_attn.csv: the mixing weights of every consumer, averaged over the tokens of the last
 * forward (validation batch 0, so runs and steps are comparable). */
static int log_depth_weights(CsvOut *csv, Model *m, long step) {
    double w[RB_MAX_SUB + 1];
    for (int c = 0;; c++) {
        int n = m->vops->depth_weights(&m->stream, c, w, RB_MAX_SUB + 1);
        if (n < 0) return 0;
        for (int s = 0; s < n; s++) {
            Cell row[4] = {INT_CELL(step), INT_CELL(c + 1), INT_CELL(s), NUM_CELL(w[s])};
            if (put_row(csv, row, 4) != 0) return -1;
        }
    }
}

/* routing.csv: per consumer the token mean of its per-token entropy over the sources it reads,
 * and the uniform entropy log(n_sources) beside it, from the same forward (docs/formats.md). */
static int log_routing(CsvOut *csv, Model *m, long step) {
    for (int c = 0;; c++) {
        double h;
        int n = m->vops->depth_entropy(&m->stream, c, &h);
        if (n < 0) return 0;
        Cell row[5] = {INT_CELL(step), INT_CELL(c + 1), INT_CELL(n), NUM_CELL(h),
                       NUM_CELL(log((double)n))};
        if (put_row(csv, row, 5) != 0) return -1;
    }
}

/* mhc.csv: per site the statistics of the stream-mixing matrix (gains also of the product of all
 * so far), from the same forward. */
static int log_mixing_gains(CsvOut *csv, Model *m, long step) {
    double g[RB_MIX_NSTATS * RB_MAX_SUB];
    int n = m->vops->mixing_gains(&m->stream, g);
    for (int l = 0; l < n; l++) {
        Cell row[2 + RB_MIX_NSTATS] = {INT_CELL(step), INT_CELL(l + 1)};
        for (int k = 0; k < RB_MIX_NSTATS; k++)
            row[2 + k] = (Cell)NUM_CELL(g[RB_MIX_NSTATS * l + k]);
        if (put_row(csv, row, 2 + RB_MIX_NSTATS) != 0) return -1;
    }
    return 0;
}

/* profile.csv rows of one batch; batch < 0: the file has no batch column. */
static int log_profile(CsvOut *csv, Model *m, long step, int batch) {
    ProfileRow rows[RB_MAX_SUB + 1];
    if (profile_rows(m, rows) != 0) return -1;
    for (int l = 0; l <= m->L; l++) {
        const ProfileRow *r = &rows[l];
        Cell row[9] = {INT_CELL(step),         INT_CELL(r->layer),          TEXT_CELL(r->kind),
                       NUM_CELL(r->input_rms), NUM_CELL(r->output_rms),     NUM_CELL(r->stream_rms),
                       NUM_CELL(r->grad_rms),  NUM_CELL(r->param_grad_norm)};
        if (batch >= 0) { /* step, batch, then the rest */
            memmove(row + 2, row + 1, 7 * sizeof *row);
            row[1] = (Cell)INT_CELL(batch);
        }
        if (put_row(csv, row, batch >= 0 ? 9 : 8) != 0) return -1;
    }
    return 0;
}

int runlog_profile(RunLog *lg, Model *m, long step, int batch) {
    return log_profile(&lg->csv[LOG_PROFILE], m, step, lg->profile_batch_col ? batch : -1);
}

int runlog_diagnostics(RunLog *lg, Model *m, long step) {
    if (lg->csv[LOG_DEPTH].f && log_depth_weights(&lg->csv[LOG_DEPTH], m, step) != 0) return -1;
    if (lg->csv[LOG_ROUTING].f && log_routing(&lg->csv[LOG_ROUTING], m, step) != 0) return -1;
    if (lg->csv[LOG_GAINS].f && log_mixing_gains(&lg->csv[LOG_GAINS], m, step) != 0) return -1;
    return runlog_profile(lg, m, step, 0);
}
