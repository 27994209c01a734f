/* Runs of an experiment (ablate, sweep): train, skip when finished with the same config, resume
 * when interrupted; the experiment's summary.csv. */
#ifndef RB_RUNS_H
#define RB_RUNS_H
#include "cli.h" /* RB_ARM_MAX */
#include "config.h"
#include "train.h"

#define RB_BASELINE "prenorm" /* the variant every other is compared with */
/* A run's build: the git_rev of its meta.ini ("unknown" without one). */
#define RB_BUILD_MAX 128

typedef struct {
    Config cfg;           /* the run's full config: out = experiment dir, run_id = its directory */
    char arm[RB_ARM_MAX]; /* its arm: the variant spec it was given (NAME or NAME:OPTION=VALUE,...)
                           */
    char build[RB_BUILD_MAX]; /* the build that trained it: meta.ini's git_rev, or "unknown" */
    TrainResult r;
    const char *status; /* "ok", "skipped" (finished earlier), "failed" */
    char warning[96];   /* design warning recorded in summary.csv (sweep: too few steps) */
    int has_cfg;        /* cfg holds the run's config (always when trained; results_load: if
                           its config.ini was there) */
} ExpRun;

/* Train a.cfg unless OUT/RUN_ID already holds a finished run of the same config (then its
 * result.ini is read); an interrupted run (ckpt.bin, no result) is resumed. A failed run is
 * reported and marked; an interrupt (SIGINT/SIGTERM) ends the process with exit code 3. */
/* Trains run k of the experiment's n (progress lines), or skips it when it finished before. A run
 * that fails is marked failed (a->status) and the experiment goes on: RB_EXIT_OK. A signal ends
 * the run with its checkpoint: RB_EXIT_INTERRUPTED with rb_error() saying how to continue. */
int exp_run(ExpRun *a, int k, int n);
/* Mean tok/s of the successful prenorm runs, or NAN. */
double exp_prenorm_tok_s(const ExpRun *runs, int n);
/* The one definition of a step-time overhead: 100 (mean prenorm tok/s of the experiment / the
 * run's tok/s - 1); a variant's overhead is the mean over its runs (ablate table, summary.csv's
 * overhead_pct, report). */
double exp_overhead_pct(double prenorm_tok_s, double tok_s);
/* Speeds are comparable when every run had its cores: CPU utilization (train.h) at least this. */
#define RB_MIN_CPU_UTIL 0.85
/* 1 when all n utilizations are >= RB_MIN_CPU_UTIL; 0 with *worst = the lowest (NAN when a run
 * did not record it: results of an older resbench). */
int exp_speeds_comparable(const double *cpu_util, int n, double *worst);
/* EXP/summary.csv (atomic): one row per run (docs/formats.md). */
int exp_write_summary(const char *exp, const ExpRun *runs, int n);
/* The arm of a run: its arm label, or its variant's name when none was set. */
const char *exp_arm(const ExpRun *a);
/* The directory name of an arm's run: the spec with ':' -> '-', '=' -> '_', ',' -> '-', then
 * -sSEED ("attnres_full-score_sigmoid-s1"; a plain variant gives VARIANT-sSEED as before).
 * Injective on canonical arms (option names hold no '_' or '-', values no '-': tests/test_ablate.c
 * checks the registry), portable ([a-z0-9_-]). 0, or -1 with rb_error() when it does not fit in n
 * (a directory name holds at most 255 characters). */
int exp_arm_run_id(char *buf, size_t n, const char *arm, long seed);
/* The spec as a file name, the same replacement without the seed ("attnres_full-score_sigmoid"):
 * figure and data files of an arm. 0, or -1 with rb_error() when it does not fit. */
int exp_arm_file_name(char *buf, size_t n, const char *arm);
/* The build of the run in dir: the git_rev of dir/meta.ini, or "unknown" (no meta.ini, or no such
 * key). */
void exp_read_build(const char *dir, char *out, size_t n);
/* Creates EXP = OUT/NAME (NAME defaults to PREFIX-HASH8 of key) and writes key as experiment.ini.
 */
int exp_create(const Config *key, const char *prefix, const char *name, char *exp, size_t n);
/* The directory exp_create would use (OUT/NAME), without touching it. */
int exp_locate(const Config *key, const char *prefix, const char *name, char *exp, size_t n);
/* The experiment directory of command `who` (ablate, sweep; also exp_create's prefix) into exp:
 * with gather, the one its `--jobs` run made, which must hold experiment.ini ("WHO --gather: EXP
 * is not an experiment ..."); then exp_create. 0, or -1 with rb_error() starting with who. */
int exp_open(const Config *key, const char *who, const char *name, int gather, char *exp, size_t n);

/* The build that made the run in DIR: the git_rev of DIR/meta.ini, or "unknown" when the file or
 * the key is absent. */

/* ---- job lists (`ablate --jobs`, `sweep --jobs`) and their gather (`--gather`) ---- */

/* `WHO --jobs PATH`: writes PATH (whole, atomically): one shell command per run of runs[0..n)
 * that is not finished with its config, in order: `BIN train --config EXP/experiment.ini
 * KEY=VALUE ... variant=V OPTION=VALUE ... out=EXP run_id=ID threads=T` for a new run (the keys
 * in which the run differs from experiment.ini, then its variant with every option), `BIN train
 * --resume EXP/ID threads=T` for an interrupted one (checkpoint, no result). T is the runs'
 * threads, or 1 when it is 0 (all cores): one core per job. Every new line is checked to rebuild
 * its run's config exactly. Then prints the one-line account of the list (lines written, runs
 * already finished) and what to do next. 0, or -1 with rb_error() starting with who. */
int exp_jobs(const char *who, const char *path, const ExpRun *runs, int n, const char *exp);
/* Loads every run's result from its directory and trains nothing: 0 when all n are finished with
 * their config (status "ok"), else -1 with a one-line rb_error() that counts and names the runs
 * that are not (missing, unfinished, another config, unreadable result). */
int exp_gather(ExpRun *runs, int n);
/* The arguments of a command with a job list (ablate, sweep): `--gather` (an option without a
 * value, taken out of argv wherever it is not the value of an option; *gather = 1 when given),
 * then cli_parse with the command's options `extra` (one of them "--jobs") into vals; --jobs and
 * --gather together are refused. 0, or -1 with rb_error() starting with who. */
int exp_parse_args(const char *who, int argc, char **argv, Config *base, const char *const *extra,
                   const char **vals, int *gather);

#endif
