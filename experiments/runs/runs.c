#define _GNU_SOURCE /* open_memstream */
#include "runs.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "csvout.h"
#include "model.h"
#include "progress.h"
#include "util.h"

/* The command that owns the experiment (for the "repeat it" hint after an interrupt). */
static char exp_command[32] = "ablate";

/* 0 when r (read from a result.ini) is a finished run of config c: its step count is the config's
 * and its final validation loss a positive number; else -1 with rb_error(). result.ini's reader
 * takes a missing or garbled value as 0, which this refuses. */
static int check_result(const Config *c, const TrainResult *r) {
    long want = train_total_steps(c);
    if (r->steps != want)
        return rb_fail("result.ini holds %ld steps, its config trains %ld", r->steps, want);
    if (!(r->final_val_loss > 0) || !isfinite(r->final_val_loss) || !(r->tokens > 0))
        return rb_fail("result.ini has no final_val_loss or tokens (a damaged file)");
    return 0;
}

/* A finished run of exactly this config: its result.ini is loaded into r. */
static int finished_before(const Config *c, const char *dir, TrainResult *r) {
    char path[4200];
    Config old;
    config_defaults(&old);
    if (rb_join(path, sizeof path, dir, "config.ini") != 0 || access(path, R_OK) != 0 ||
        config_load_ini(&old, path) != 0 || config_hash(&old) != config_hash(c))
        return 0;
    if (rb_join(path, sizeof path, dir, "result.ini") != 0 || access(path, F_OK) != 0) return 0;
    return train_read_result(dir, r) == 0 && check_result(c, r) == 0;
}

int exp_run(ExpRun *a, int k, int n) {
    char dir[2048], ckpt[2200];
    a->has_cfg = 1; /* the run's config is a->cfg (pairs runs in the ablation table) */
    train_run_dir(&a->cfg, dir, sizeof dir);
    if (finished_before(&a->cfg, dir, &a->r)) {
        exp_read_build(dir, a->build, sizeof a->build);
        a->status = "skipped";
        printf("run %d/%d %s: already done, val loss %.4f\n", k, n, dir, a->r.final_val_loss);
        return RB_EXIT_OK;
    }
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.bin", dir);
    int resume = access(ckpt, F_OK) == 0;
    printf("run %d/%d %s%s (steps in its train.log)\n", k, n, dir, resume ? " (resuming)" : "");
    fflush(stdout);
    progress_experiment(k, n);
    int rc = train_run(&a->cfg, resume, 0, &a->r);
    progress_experiment(0, 0);
    if (rc == RB_EXIT_INTERRUPTED) {
        rb_fail(
            "%s interrupted after step %ld of run %s (checkpoint written); continue the "
            "experiment by repeating the same `resbench %s` command (finished runs are skipped, "
            "this one resumes)",
            exp_command, a->r.steps, dir, exp_command);
        return RB_EXIT_INTERRUPTED;
    }
    if (rc != RB_EXIT_OK) {
        fprintf(stderr, "resbench: run %s failed: %s\n", dir, rb_error());
        exp_read_build(dir, a->build, sizeof a->build); /* the build that tried */
        a->status = "failed";
        a->r.final_val_loss = a->r.best_val_loss = NAN;
        return RB_EXIT_OK; /* the experiment goes on; the run is marked failed */
    }
    a->status = "ok";
    exp_read_build(dir, a->build, sizeof a->build);
    printf("run %d/%d done: val loss %.4f, %.0f s, %.0f tok/s\n", k, n, a->r.final_val_loss,
           a->r.wall_s, a->r.tok_per_s);
    return RB_EXIT_OK;
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
                                    "build",     "status",  "warning",        "run_id"};
    enum { NCOL = sizeof H / sizeof H[0] };
    _Static_assert(NCOL == 20, "summary.csv: the header and the row below must agree");
    char path[2200];
    snprintf(path, sizeof path, "%s/summary.csv", exp);
    CsvOut csv;
    if (csv_open_atomic(&csv, path, H, NCOL) != 0) return -1;
    double ref = exp_prenorm_tok_s(runs, n);
    for (int i = 0; i < n; i++) {
        const ExpRun *a = &runs[i];
        const Config *c = &a->cfg;
        char f[16][48];
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
        const char *row[NCOL];
        row[0] = exp_arm(a); /* the arm: a variant spec */
        for (int k = 1; k < 16; k++) row[k] = f[k];
        row[16] = a->build[0] ? a->build : "unknown";
        row[17] = a->status;
        row[18] = a->warning;
        row[19] = c->run_id; /* the run's directory inside the experiment */
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

/* The runs of experiment exp that finished: its subdirectories holding a result.ini. */
static int count_finished_runs(const char *exp) {
    DIR *dir = opendir(exp);
    if (!dir) return 0;
    int n = 0;
    char sub[4400];
    for (struct dirent *e; (e = readdir(dir));)
        if (e->d_name[0] != '.' && rb_join(sub, sizeof sub, exp, e->d_name) == 0 &&
            rb_is_file_in(sub, "result.ini"))
            n++;
    closedir(dir);
    return n;
}

/* An existing experiment keeps its base config: a command with another one is refused before
 * anything is written. Keys that leave the trajectory alone (threads, log_every, ...) may vary,
 * except the equivalence margin: it is stated before the runs, so once a run of exp finished it
 * can no longer change (docs/statistics.md section 5). */
static int check_experiment_config(const char *exp, const char *path, const Config *key) {
    if (access(path, F_OK) != 0) return 0;
    Config old;
    config_defaults(&old);
    if (config_load_ini(&old, path) != 0) return rb_fail("%s", rb_error());
    ConfigDiff d;
    if (config_first_difference(key, &old, CONFIG_TRAJECTORY | CONFIG_ALL_OPTIONS, &d))
        return rb_fail("%s: this experiment was created with %s = %s, this command has %s = %s; "
                       "repeat it with the experiment's config or choose another --name",
                       path, d.key, d.b, d.key, d.a);
    char was[64], now[64];
    config_format_key(&old, "equivalence_margin", was, sizeof was);
    config_format_key(key, "equivalence_margin", now, sizeof now);
    int finished = strcmp(was, now) ? count_finished_runs(exp) : 0;
    if (finished)
        return rb_fail("%s: equivalence_margin = %s was fixed before the runs and %d of them "
                       "finished; this command has %s: a margin cannot change after results are "
                       "seen (repeat with equivalence_margin=%s or choose another --name)",
                       path, was, finished, now, was);
    return 0;
}

int exp_locate(const Config *key, const char *prefix, const char *name, char *exp, size_t n) {
    char def[256];
    snprintf(def, sizeof def, "%s-%08llx", prefix,
             (unsigned long long)(config_hash(key) & 0xffffffffULL));
    if (name && !rb_is_plain_name(name))
        return rb_fail("--name '%s': not a plain directory name (no '/', not starting with '.'); "
                       "the experiment is written inside out",
                       name);
    return rb_join(exp, n, key->out, name ? name : def);
}

int exp_create(const Config *key, const char *prefix, const char *name, char *exp, size_t n) {
    rb_copy_str(exp_command, sizeof exp_command, prefix);
    if (exp_locate(key, prefix, name, exp, n) != 0) return -1;
    char path[4300];
    snprintf(path, sizeof path, "%s/experiment.ini", exp);
    if (check_experiment_config(exp, path, key) != 0) return -1; /* before anything is written */
    if (rb_mkdir_p(exp) != 0 || lock_experiment(exp) != 0) return -1;
    if (check_experiment_config(exp, path, key) != 0) return -1; /* another owner created it */
    char *ini = config_design_to_ini(key); /* every variant's options: the whole design */
    int rc = rb_write_file_atomic(path, ini, strlen(ini));
    free(ini);
    return rc;
}

int exp_open(const Config *key, const char *who, const char *name, int gather, char *exp,
             size_t n) {
    if (gather && exp_locate(key, who, name, exp, n) == 0 && !rb_is_file_in(exp, "experiment.ini"))
        return rb_fail("%s --gather: %s is not an experiment (no experiment.ini): write its job "
                       "list first with the same command and --jobs FILE",
                       who, exp);
    if (exp_create(key, who, name, exp, n) != 0) return rb_fail("%s: %s", who, rb_error());
    return 0;
}

/* ---- job lists and gather ---- */

/* Where a run of an experiment stands, read from its directory. */
typedef enum {
    RUN_FINISHED,     /* result.ini of this config: loaded */
    RUN_NEW,          /* nothing to keep: no directory, or no config.ini */
    RUN_STARTED,      /* config.ini of this config, no checkpoint, no result (failed or running) */
    RUN_INTERRUPTED,  /* config.ini of this config and ckpt.bin, no result: resumes */
    RUN_OTHER_CONFIG, /* config.ini of another config */
    RUN_DAMAGED       /* config.ini or result.ini unreadable or not a result of this config */
} RunState;

static RunState run_state(const ExpRun *a, TrainResult *r, char *why, size_t wn) {
    char dir[2048], path[4400];
    train_run_dir(&a->cfg, dir, sizeof dir);
    if (access(dir, F_OK) != 0) {
        snprintf(why, wn, "no run directory");
        return RUN_NEW;
    }
    if (!rb_is_file_in(dir, "config.ini")) {
        snprintf(why, wn, "no config.ini");
        return RUN_NEW;
    }
    Config old;
    config_defaults(&old);
    if (rb_join(path, sizeof path, dir, "config.ini") != 0 || config_load_ini(&old, path) != 0) {
        snprintf(why, wn, "%s", rb_error());
        return RUN_DAMAGED;
    }
    if (config_hash(&old) != config_hash(&a->cfg)) {
        ConfigDiff d;
        if (config_first_difference(&a->cfg, &old, CONFIG_TRAJECTORY, &d))
            snprintf(why, wn, "a run of another config: %s = %.200s there, %.200s here", d.key, d.b,
                     d.a);
        else
            snprintf(why, wn, "a run of another config");
        return RUN_OTHER_CONFIG;
    }
    if (rb_is_file_in(dir, "result.ini")) {
        if (train_read_result(dir, r) != 0 || check_result(&a->cfg, r) != 0) {
            snprintf(why, wn, "%s", rb_error());
            return RUN_DAMAGED;
        }
        return RUN_FINISHED;
    }
    if (rb_is_file_in(dir, "ckpt.bin")) {
        snprintf(why, wn, "interrupted: ckpt.bin, no result.ini");
        return RUN_INTERRUPTED;
    }
    snprintf(why, wn, "not finished: no result.ini (failed, or still running)");
    return RUN_STARTED;
}

/* Up to this many runs are named in a refusal (then "and N more"): the message stays one line. */
#define RUNS_NAMED 6

/* Appends "RUN_ID (why)" to a list of runs for a one-line message. */
static void name_run(char *list, size_t n, int k, const ExpRun *a, const char *why) {
    size_t len = strlen(list);
    if (k < RUNS_NAMED)
        snprintf(list + len, n - len, "%s%s (%s)", k ? ", " : "", a->cfg.run_id, why);
}

static void name_rest(char *list, size_t n, int k) {
    size_t len = strlen(list);
    if (k > RUNS_NAMED) snprintf(list + len, n - len, " and %d more", k - RUNS_NAMED);
}

int exp_gather(ExpRun *runs, int n) {
    char list[4096] = "", why[1200];
    int bad = 0;
    for (int i = 0; i < n; i++) {
        ExpRun *a = &runs[i];
        a->has_cfg = 1;
        RunState st = run_state(a, &a->r, why, sizeof why);
        if (st != RUN_FINISHED) {
            name_run(list, sizeof list, bad++, a, why);
            continue;
        }
        a->status = "ok";
        train_run_dir(&a->cfg, a->r.run_dir, sizeof a->r.run_dir);
        exp_read_build(a->r.run_dir, a->build, sizeof a->build);
    }
    if (!bad) return 0;
    name_rest(list, sizeof list, bad);
    return rb_fail(
        "in %s, %d of %d runs are not finished: %s; no summary was written (run their jobs: "
        "--jobs FILE lists just these; or repeat the command without --gather to "
        "train them here)",
        n ? runs[0].cfg.out : "", bad, n, list);
}

/* One shell word: single quotes, with ' written as '\'' (paths may hold spaces and quotes). */
static void put_quoted(FILE *f, const char *s) {
    fputc('\'', f);
    for (; *s; s++)
        if (*s == '\'')
            fputs("'\\''", f);
        else
            fputc(*s, f);
    fputc('\'', f);
}

#define JOB_MAX_ARGS 96
#define JOB_ARG_LEN 1200

/* The key=value words of a new run's line after `train --config EXP/experiment.ini`, in the order
 * train applies them: the keys in which the run differs from the experiment's design, its variant,
 * every option of the variant, out, run_id and threads. The count, or -1 with rb_error(). */
static int job_args(const Config *run, const Config *design, int threads, char (*args)[JOB_ARG_LEN],
                    ConfigDiff *d) {
    int nd = config_differences(run, design, CONFIG_ALL_KEYS, d, JOB_MAX_ARGS / 2), k = 0;
    for (int i = 0; i < nd; i++) {
        const char *key = d[i].key;
        if (!strcmp(key, "variant") || !strcmp(key, "out") || !strcmp(key, "run_id") ||
            !strcmp(key, "threads") || config_key_is_variant_option(key))
            continue;
        snprintf(args[k++], JOB_ARG_LEN, "%s=%s", key, d[i].a);
    }
    snprintf(args[k++], JOB_ARG_LEN, "variant=%s", run->vt->name);
    for (int o = 0; o < run->vt->n_options; o++) {
        char val[64];
        config_format_option(run, &run->vt->options[o], val, sizeof val);
        snprintf(args[k++], JOB_ARG_LEN, "%s=%s", run->vt->options[o].key, val);
    }
    snprintf(args[k++], JOB_ARG_LEN, "out=%s", run->out);
    snprintf(args[k++], JOB_ARG_LEN, "run_id=%s", run->run_id);
    snprintf(args[k++], JOB_ARG_LEN, "threads=%d", threads);
    return k;
}

/* The config `train --config INI ARGS...` builds must be the run's (else -1 naming the key). */
static int check_job_args(const Config *run, const char *ini, int threads,
                          char (*args)[JOB_ARG_LEN], int nargs) {
    Config c, want = *run;
    config_defaults(&c);
    if (config_load_ini(&c, ini) != 0) return -1;
    for (int i = 0; i < nargs; i++)
        if (config_apply_arg(&c, args[i]) != 0) return -1;
    want.threads = threads;
    ConfigDiff d = {.key = "(hashed field)", .a = "?", .b = "?"};
    if (config_first_difference(&c, &want, CONFIG_ALL_KEYS, &d) ||
        config_hash(&c) != config_hash(&want))
        return rb_fail("the job line of run %s would train %s = %s instead of %s (please report "
                       "this resbench bug)",
                       run->run_id, d.key, d.a, d.b);
    return 0;
}

static int write_job(FILE *f, const char *self, const ExpRun *a, const char *ini,
                     const Config *design, int threads, RunState st, char (*args)[JOB_ARG_LEN],
                     ConfigDiff *d) {
    put_quoted(f, self);
    if (st == RUN_INTERRUPTED) {
        char dir[2048];
        train_run_dir(&a->cfg, dir, sizeof dir);
        fputs(" train --resume ", f);
        put_quoted(f, dir);
        fprintf(f, " threads=%d\n", threads);
        return 0;
    }
    int nargs = job_args(&a->cfg, design, threads, args, d);
    if (check_job_args(&a->cfg, ini, threads, args, nargs) != 0) return -1;
    fputs(" train --config ", f);
    put_quoted(f, ini);
    for (int i = 0; i < nargs; i++) {
        fputc(' ', f);
        put_quoted(f, args[i]);
    }
    fputc('\n', f);
    return 0;
}

/* PATH's lines (exp_jobs); *listed gets their number, *finished the finished runs left out. */
static int write_jobs(const char *path, const ExpRun *runs, int n, const char *exp, int *listed,
                      int *finished) {
    char self[4096], ini[4200], why[1200], list[4096] = "";
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) return rb_fail("--jobs: cannot find the resbench binary (/proc/self/exe)");
    self[len] = 0;
    if (rb_join(ini, sizeof ini, exp, "experiment.ini") != 0) return -1;
    Config design;
    config_defaults(&design);
    if (config_load_ini(&design, ini) != 0) return -1;
    char *text = NULL;
    size_t tlen = 0;
    FILE *f = open_memstream(&text, &tlen);
    if (!f) return rb_fail("--jobs: out of memory");
    char(*args)[JOB_ARG_LEN] = rb_calloc(JOB_MAX_ARGS, JOB_ARG_LEN, "job line");
    ConfigDiff *d = rb_calloc(JOB_MAX_ARGS / 2, sizeof(ConfigDiff), "job line");
    int rc = 0, bad = 0;
    *listed = *finished = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        const ExpRun *a = &runs[i];
        TrainResult r;
        int threads = a->cfg.threads > 0 ? a->cfg.threads : 1; /* 0 = all cores: one per job */
        RunState st = run_state(a, &r, why, sizeof why);
        if (st == RUN_FINISHED) {
            (*finished)++;
        } else if (st == RUN_OTHER_CONFIG || st == RUN_DAMAGED) {
            name_run(list, sizeof list, bad++, a, why); /* its job could only fail */
        } else {
            rc = write_job(f, self, a, ini, &design, threads, st, args, d);
            (*listed)++;
        }
    }
    fclose(f);
    free(args);
    free(d);
    if (rc == 0 && bad) {
        name_rest(list, sizeof list, bad);
        rc = rb_fail("--jobs: in %s, %d run director%s cannot be run as a job: %s; move %s away "
                     "(or choose another --name), then repeat this command",
                     exp, bad, bad > 1 ? "ies" : "y", list, bad > 1 ? "them" : "it");
    }
    if (rc == 0 && rb_write_file_atomic(path, text, tlen) != 0) {
        char err[1024];
        rb_copy_str(err, sizeof err, rb_error());
        rc = rb_fail("--jobs: cannot write %s (%s)", path, err);
    }
    free(text);
    return rc;
}

static void print_jobs(const char *who, const char *path, int listed, int finished, int n) {
    if (listed == 0) {
        printf("%s: all %d runs are finished; %s is empty: build the summary with --gather "
               "instead of --jobs\n",
               who, n, path);
        return;
    }
    printf("%s: %d command%s written to %s (%d of %d runs already finished); run them (GNU "
           "parallel, Slurm: experiments/cluster/), then repeat this %s command with --gather "
           "instead of --jobs\n",
           who, listed, listed == 1 ? "" : "s", path, finished, n, who);
}

int exp_jobs(const char *who, const char *path, const ExpRun *runs, int n, const char *exp) {
    int listed, finished;
    if (write_jobs(path, runs, n, exp, &listed, &finished) != 0)
        return rb_fail("%s: %s", who, rb_error());
    print_jobs(who, path, listed, finished, n);
    return 0;
}

/* Removes every FLAG (an option without a value) from argv, except where it is the value of one
 * of value_opts (NULL-terminated, e.g. "--name"): 1 if it was given. */
static int take_flag(int *argc, char **argv, const char *flag, const char *const *value_opts) {
    int found = 0, out = 1;
    for (int i = 1; i < *argc; i++) {
        int takes_value = !strcmp(argv[i], "--config");
        for (int k = 0; value_opts && value_opts[k]; k++)
            takes_value |= !strcmp(argv[i], value_opts[k]);
        if (takes_value && i + 1 < *argc) {
            argv[out++] = argv[i++];
            argv[out++] = argv[i];
        } else if (!strcmp(argv[i], flag)) {
            found = 1;
        } else {
            argv[out++] = argv[i];
        }
    }
    *argc = out;
    return found;
}

int exp_parse_args(const char *who, int argc, char **argv, Config *base, const char *const *extra,
                   const char **vals, int *gather) {
    *gather = take_flag(&argc, argv, "--gather", extra);
    if (cli_parse(argc, argv, base, NULL, extra, vals) != 0)
        return rb_fail("%s: %s", who, rb_error());
    for (int k = 0; extra[k]; k++)
        if (*gather && vals[k] && !strcmp(extra[k], "--jobs"))
            return rb_fail("%s: give --jobs FILE (write the job list) or --gather (collect its "
                           "finished runs), not both",
                           who);
    return 0;
}
