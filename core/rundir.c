/* The run directory: name, lock, config.ini, meta.ini, result.ini (rundir.h). */
#include "rundir.h"

#include <ini.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include "gemm.h"

#include "buildinfo.h"
#include "util.h"

void rundir_path(const Config *c, char *buf, size_t n) {
    if (c->run_id[0])
        snprintf(buf, n, "%s/%s", c->out, c->run_id);
    else
        snprintf(buf, n, "%s/%s-s%ld-%08llx", c->out, c->variant, c->seed,
                 (unsigned long long)(config_hash(c) & 0xffffffffULL));
}

void train_run_dir(const Config *c, char *buf, size_t n) {
    rundir_path(c, buf, n);
}

int rundir_lock(const char *dir, int *fd) {
    int rc = rb_lock_dir(dir, fd);
    if (rc == RB_EXIT_USAGE)
        rb_fail("run directory %s is in use by another resbench process (%s); wait for it to "
                "finish or choose another out/run_id",
                dir, rb_error());
    return rc;
}

int rundir_write_config(const char *dir, const Config *c) {
    char path[2200];
    snprintf(path, sizeof path, "%s/config.ini", dir);
    char *text = config_to_ini(c);
    int rc = rb_write_file_atomic(path, text, strlen(text));
    free(text);
    return rc;
}

int rundir_read_config(const char *dir, Config *c) {
    char path[4200];
    config_defaults(c);
    if (!rb_is_file_in(dir, "config.ini"))
        return rb_fail("%s has no config.ini (not a run directory)", dir);
    if (rb_join(path, sizeof path, dir, "config.ini") != 0) return -1;
    return config_load_ini(c, path);
}

/* meta.ini's text, built one "key = value" line at a time (meta_line): a new field is one call. */
typedef struct {
    char text[8192];
    size_t n;
} MetaText;

static void meta_line(MetaText *t, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void meta_line(MetaText *t, const char *key, const char *fmt, ...) {
    char value[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof value, fmt, ap);
    va_end(ap);
    for (char *p = value; *p; p++) /* a value stays on its line */
        if ((unsigned char)*p < 0x20) *p = ' ';
    if (t->n < sizeof t->text)
        t->n += (size_t)snprintf(t->text + t->n, sizeof t->text - t->n, "%s = %s\n", key, value);
}

int rundir_write_meta(const char *dir, const Model *m, const Data *d, long total, int resumed) {
    char path[2200], desc[512], host[256] = "unknown", when[64];
    gethostname(host, sizeof host - 1);
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    data_describe(d, desc, sizeof desc);
    char fps[40], floor[40];
    rb_fmt_double(fps, sizeof fps, flops_per_step(&m->cfg));
    rb_fmt_double(floor, sizeof floor, data_loss_floor(d));
    MetaText t = {.n = 0};
    t.n = (size_t)snprintf(t.text, sizeof t.text, "# resbench run metadata\n");
    BuildFact facts[RB_BUILD_FACTS]; /* git_rev first: the build that made the run */
    rb_build_facts(facts);
    for (int i = 0; i < RB_BUILD_FACTS; i++) meta_line(&t, facts[i].key, "%s", facts[i].value);
    meta_line(&t, "host", "%s", host);
    meta_line(&t, "start_time", "%s", when);
    meta_line(&t, "resumed", "%d", resumed);
    meta_line(&t, "threads", "%d", omp_get_max_threads());
    meta_line(&t, "n_params", "%zu", m->n_params);
    meta_line(&t, "total_steps", "%ld", total);
    meta_line(&t, "flops_per_step", "%s", fps);
    meta_line(&t, "memory_bytes", "%zu", model_memory_bytes(m));
    meta_line(&t, "loss_floor", "%s", floor);
    /* the GEMM backend and precision the run trained with, and the OpenBLAS kernels */
    meta_line(&t, "backend", "%s", m->cfg.backend);
    meta_line(&t, "precision", "%s", m->cfg.precision);
    if (!strcmp(m->cfg.backend, "openblas"))
        meta_line(&t, "openblas_core", "%s", gemm_openblas_core());
    meta_line(&t, "data", "%s", desc); /* last: a reader that sees it has the whole file */
    if (t.n >= sizeof t.text)
        return rb_fail("%s/meta.ini: more than %zu bytes", dir, sizeof t.text);
    snprintf(path, sizeof path, "%s/meta.ini", dir);
    return rb_write_file_atomic(path, t.text, t.n);
}

/* result.ini's fields, in file order: the one description the writer and the reader share. A
 * comment line precedes a field when `comment` is set. */
typedef struct {
    const char *key;
    size_t off;
    int is_long;
    const char *comment;
} ResultField;

#define RF_D(f, cm)                                                                                \
    { #f, offsetof(TrainResult, f), 0, cm }
#define RF_L(f, cm)                                                                                \
    { #f, offsetof(TrainResult, f), 1, cm }
static const ResultField RESULT_FIELDS[] = {
    RF_L(steps, NULL),
    RF_D(tokens, NULL),
    RF_D(flops, NULL),
    RF_D(wall_s, NULL),
    RF_L(timed_steps, "speed of the steps this process trained (train.h)"),
    RF_D(tok_per_s, NULL),
    RF_D(train_s, NULL),
    RF_D(eval_s, NULL),
    RF_D(diag_s, NULL),
    RF_D(ckpt_s, NULL),
    RF_D(cpu_util, NULL),
    RF_D(final_train_loss, NULL),
    RF_D(final_val_loss, NULL),
    RF_D(best_val_loss, NULL),
    RF_D(loss_floor, NULL),
};
#define N_RESULT_FIELDS (sizeof RESULT_FIELDS / sizeof RESULT_FIELDS[0])

int rundir_write_result(const char *dir, const TrainResult *r) {
    char path[2200], text[4096], v[40];
    size_t n = (size_t)snprintf(text, sizeof text, "# resbench final result\n");
    for (size_t k = 0; k < N_RESULT_FIELDS; k++) {
        const ResultField *f = &RESULT_FIELDS[k];
        const char *p = (const char *)r + f->off;
        if (f->is_long) {
            long x;
            memcpy(&x, p, sizeof x);
            snprintf(v, sizeof v, "%ld", x);
        } else {
            double x;
            memcpy(&x, p, sizeof x);
            rb_fmt_double(v, sizeof v, x);
        }
        if (f->comment) n += (size_t)snprintf(text + n, sizeof text - n, "# %s\n", f->comment);
        n += (size_t)snprintf(text + n, sizeof text - n, "%s = %s\n", f->key, v);
    }
    snprintf(path, sizeof path, "%s/result.ini", dir);
    return rb_write_file_atomic(path, text, n);
}

static int read_result_key(void *user, const char *section, const char *name, const char *value) {
    TrainResult *r = user;
    (void)section;
    double v = strtod(value, NULL);
    for (size_t k = 0; k < N_RESULT_FIELDS; k++) {
        const ResultField *f = &RESULT_FIELDS[k];
        if (strcmp(name, f->key)) continue;
        if (f->is_long) {
            long x = (long)v;
            memcpy((char *)r + f->off, &x, sizeof x);
        } else {
            memcpy((char *)r + f->off, &v, sizeof v);
        }
    }
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
