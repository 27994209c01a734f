#include "runs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csvout.h"
#include "model.h"
#include "progress.h"
#include "util.h"

/* The command that owns the experiment (for the "repeat it" hint after an interrupt). */
static char exp_command[32] = "ablate";

/* A finished run of exactly this config: its result.ini is loaded into r. */
static int finished_before(const Config *c, const char *dir, TrainResult *r) {
    char path[4200];
    Config old;
    config_defaults(&old);
    if (rb_join(path, sizeof path, dir, "config.ini") != 0 || access(path, R_OK) != 0 ||
        config_load_ini(&old, path) != 0 || config_hash(&old) != config_hash(c))
        return 0;
    if (rb_join(path, sizeof path, dir, "result.ini") != 0 || access(path, F_OK) != 0) return 0;
    return train_read_result(dir, r) == 0;
}

void exp_run(ExpRun *a, int k, int n) {
    char dir[2048], ckpt[2200];
    a->has_cfg = 1; /* the run's config is a->cfg (pairs runs in the ablation table) */
    train_run_dir(&a->cfg, dir, sizeof dir);
    if (finished_before(&a->cfg, dir, &a->r)) {
        a->status = "skipped";
        exp_read_build(dir, a->build, sizeof a->build);
        printf("run %d/%d %s: already done, val loss %.4f\n", k, n, dir, a->r.final_val_loss);
        return;
    }
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.bin", dir);
    int resume = access(ckpt, F_OK) == 0;
    printf("run %d/%d %s%s (steps in its train.log)\n", k, n, dir, resume ? " (resuming)" : "");
    fflush(stdout);
    progress_experiment(k, n);
    int rc = train_run(&a->cfg, resume, 0, &a->r);
    progress_experiment(0, 0);
    if (rc == RB_EXIT_INTERRUPTED)
        rb_die(rc,
               "%s interrupted after step %ld of run %s (checkpoint written); continue the "
               "experiment by repeating the same `resbench %s` command (finished runs are skipped, "
               "this one resumes)",
               exp_command, a->r.steps, dir, exp_command);
    exp_read_build(dir, a->build, sizeof a->build);
    if (rc != RB_EXIT_OK) {
        fprintf(stderr, "resbench: run %s failed: %s\n", dir, rb_error());
        a->status = "failed";
        a->r.final_val_loss = a->r.best_val_loss = NAN;
        return;
    }
    a->status = "ok";
    printf("run %d/%d done: val loss %.4f, %.0f s, %.0f tok/s\n", k, n, a->r.final_val_loss,
           a->r.wall_s, a->r.tok_per_s);
}

const char *exp_arm(const ExpRun *a) {
    return a->arm[0] ? a->arm : a->cfg.variant;
}

int exp_arm_file_name(char *buf, size_t n, const char *arm) {
    if (rb_copy_str(buf, n, arm) != 0)
        return rb_fail("arm '%s': its file name would be longer than %zu characters", arm, n - 1);
    for (char *p = buf; *p; p++) *p = *p == ':' || *p == ',' ? '-' : (*p == '=' ? '_' : *p);
    return 0;
}

int exp_arm_run_id(char *buf, size_t n, const char *arm, long seed) {
    char name[RB_ARM_MAX];
    if (exp_arm_file_name(name, sizeof name, arm) != 0) return -1;
    size_t len = (size_t)snprintf(buf, n, "%s-s%ld", name, seed);
    if (len >= n || len > 255)
        return rb_fail("arm '%s': its run directory name %s-s%ld is longer than %zu characters",
                       arm, name, seed, n - 1 < 255 ? n - 1 : 255);
    return 0;
}

void exp_read_build(const char *dir, char *out, size_t n) {
    char path[4400], *text = NULL;
    size_t len;
    rb_copy_str(out, n, "unknown");
    if (rb_join(path, sizeof path, dir, "meta.ini") != 0 || !rb_is_file_in(dir, "meta.ini") ||
        rb_read_file(path, &text, &len) != 0)
        return;
    for (const char *line = text; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        const char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (strncmp(p, "git_rev", 7)) continue;
        p += 7;
        while (*p == ' ' || *p == '\t') p++;
        if (*p != '=') continue;
        p++;
        while (*p == ' ' || *p == '\t') p++;
        size_t k = strcspn(p, "\r\n");
        while (k && (p[k - 1] == ' ' || p[k - 1] == '\t')) k--;
        if (k && k < n)
            snprintf(out, n, "%.*s", (int)k, p);
        else if (k) /* longer than any revision: kept recognizable, marked as cut */
            snprintf(out, n, "%.*s...", (int)(n - 4), p);
        break;
    }
    free(text);
}

double exp_prenorm_tok_s(const ExpRun *runs, int n) {
    double s = 0;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!strcmp(exp_arm(&runs[i]), RB_BASELINE) && strcmp(runs[i].status, "failed")) {
            s += runs[i].r.tok_per_s;
            k++;
        }
    return k ? s / k : NAN;
}

double exp_overhead_pct(double prenorm_tok_s, double tok_s) {
    return 100.0 * (prenorm_tok_s / tok_s - 1);
}

int exp_speeds_comparable(const double *cpu_util, int n, double *worst) {
    int ok = 1;
    *worst = INFINITY;
    for (int i = 0; i < n; i++) {
        if (isnan(cpu_util[i])) {
            *worst = NAN;
            return 0;
        }
        if (cpu_util[i] < *worst) *worst = cpu_util[i];
        ok &= cpu_util[i] >= RB_MIN_CPU_UTIL;
    }
    return ok;
}

int exp_write_summary(const char *exp, const ExpRun *runs, int n) {
    static const char *const H[] = {"variant",   "seed",    "n_layer",        "d_model",
                                    "n_head",    "seq_len", "batch_size",     "params",
                                    "tokens",    "flops",   "final_val_loss", "best_val_loss",
                                    "tok_per_s", "wall_s",  "overhead_pct",   "cpu_util",
                                    "status",    "warning", "run_id"};
    enum { NCOL = sizeof H / sizeof H[0] };
    _Static_assert(NCOL == 19, "summary.csv: the header and the row below must agree");
    char path[2200];
    snprintf(path, sizeof path, "%s/summary.csv", exp);
    CsvOut csv;
    if (csv_open_atomic(&csv, path, H, NCOL) != 0) return -1;
    double ref = exp_prenorm_tok_s(runs, n);
    for (int i = 0; i < n; i++) {
        const ExpRun *a = &runs[i];
        const Config *c = &a->cfg;
        char f[17][48];
        f[0][0] = 0; /* the arm: row[0] below, a variant spec of any length */
        snprintf(f[1], 48, "%ld", c->seed);
        snprintf(f[2], 48, "%d", c->n_layer);
        snprintf(f[3], 48, "%d", c->d_model);
        snprintf(f[4], 48, "%d", c->n_head);
        snprintf(f[5], 48, "%d", c->seq_len);
        snprintf(f[6], 48, "%d", c->batch_size);
        snprintf(f[7], 48, "%zu", model_param_count(c));
        const double v[8] = {a->r.tokens,
                             a->r.flops,
                             a->r.final_val_loss,
                             a->r.best_val_loss,
                             a->r.tok_per_s,
                             a->r.wall_s,
                             exp_overhead_pct(ref, a->r.tok_per_s),
                             a->r.cpu_util};
        for (int k = 0; k < 8; k++) rb_fmt_double(f[8 + k], 48, v[k]);
        snprintf(f[16], 48, "%s", a->status);
        const char *row[19];
        for (int k = 0; k < 17; k++) row[k] = f[k];
        row[0] = exp_arm(a);
        row[17] = a->warning;
        row[18] = c->run_id; /* the run's directory inside the experiment */
        if (csv_row(&csv, row) != 0) {
            csv_close(&csv);
            return -1;
        }
    }
    return csv_commit(&csv);
}

/* One process per experiment directory: an exclusive flock on EXP/lock for the life of the
 * process (the kernel drops it when the process ends, so a killed experiment leaves no stale
 * lock). The descriptor is deliberately kept open. */
static int lock_experiment(const char *exp) {
    int fd; /* kept open for the life of the process: it holds the lock */
    if (rb_lock_dir(exp, &fd) == RB_EXIT_USAGE)
        return rb_fail("experiment %s is in use by another resbench process (%s); wait for it to "
                       "finish, then repeat this command",
                       exp, rb_error());
    return fd < 0 ? -1 : 0;
}

/* An existing experiment keeps its base config: a command with another one is refused before
 * anything is written. Keys that leave the trajectory alone (threads, log_every, ...) may vary. */
static int check_experiment_config(const char *path, const Config *key) {
    if (access(path, F_OK) != 0) return 0;
    Config old;
    config_defaults(&old);
    if (config_load_ini(&old, path) != 0) return rb_fail("%s", rb_error());
    ConfigDiff d;
    if (config_first_difference(key, &old, CONFIG_TRAJECTORY | CONFIG_ALL_OPTIONS, &d))
        return rb_fail("%s: this experiment was created with %s = %s, this command has %s = %s; "
                       "repeat it with the experiment's config or choose another --name",
                       path, d.key, d.b, d.key, d.a);
    return 0;
}

int exp_create(const Config *key, const char *prefix, const char *name, char *exp, size_t n) {
    char def[256];
    snprintf(def, sizeof def, "%s-%08llx", prefix,
             (unsigned long long)(config_hash(key) & 0xffffffffULL));
    rb_copy_str(exp_command, sizeof exp_command, prefix);
    if (name && !rb_is_plain_name(name))
        return rb_fail("--name '%s': not a plain directory name (no '/', not starting with '.'); "
                       "the experiment is written inside out",
                       name);
    if (rb_join(exp, n, key->out, name ? name : def) != 0) return -1;
    char path[4300];
    snprintf(path, sizeof path, "%s/experiment.ini", exp);
    if (check_experiment_config(path, key) != 0) return -1; /* before anything is written */
    if (rb_mkdir_p(exp) != 0 || lock_experiment(exp) != 0) return -1;
    if (check_experiment_config(path, key) != 0) return -1; /* another owner may have created it */
    char *ini = config_design_to_ini(key); /* every variant's options: the whole design */
    int rc = rb_write_file_atomic(path, ini, strlen(ini));
    free(ini);
    return rc;
}
