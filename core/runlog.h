/* The run log: the CSV files a run appends to while it trains (docs/formats.md): metrics.csv,
 * profile.csv, depth_attn.csv and routing.csv (variants with depth mixing), mhc.csv (multi-stream
 * variants) and eval.csv (probe data). Every row goes through one helper. */
#ifndef RB_RUNLOG_H
#define RB_RUNLOG_H
#include "csvout.h"
#include "data.h"
#include "model.h"

enum { LOG_METRICS, LOG_PROFILE, LOG_DEPTH, LOG_GAINS, LOG_EVAL, LOG_ROUTING, LOG_NFILES };
/* A flag of the files mask (not a file): profile.csv has a `batch` column (profile_batches > 1). */
#define RUNLOG_PROFILE_BATCHES (1u << LOG_NFILES)

typedef struct {
    CsvOut csv[LOG_NFILES]; /* f == NULL: the run does not write that file */
    int profile_batch_col;  /* profile.csv has the batch column */
} RunLog;

/* Which files a run of model m on data d writes (bit k = file k). */
unsigned runlog_files(const Model *m, const Data *d);
/* Resume: refuse files of another resbench version (another header) before anything is touched,
 * then cut every file back to the checkpoint's step. 0, RB_EXIT_USAGE or RB_EXIT_FAIL. */
int runlog_rewind(const char *dir, unsigned files, long step);
/* Opens (creates, or appends to when resuming) the files. */
int runlog_open(RunLog *lg, const char *dir, unsigned files, int resume);
void runlog_close(RunLog *lg);
/* metrics.csv; val < 0: no evaluation at this step (empty cell). */
int runlog_metrics(RunLog *lg, long step, double tokens, double flops, double wall, double lr,
                   double loss, double val, double gnorm, double tok_s);
/* eval.csv: the probe's accuracy by hop count (probe[h] correct, probe[RB_PROBE_MAX_HOPS+1+h] n) */
int runlog_probe(RunLog *lg, const Data *d, const double *probe, long step);
/* depth_attn.csv, routing.csv and mhc.csv from the model's last forward, then profile.csv (which
 * runs its own backward). */
int runlog_diagnostics(RunLog *lg, Model *m, long step);
/* profile.csv only, for validation batch `batch` (> 0) of a profile step with profile_batches > 1:
 * call right after the forward on that batch (runs its own backward). */
int runlog_profile(RunLog *lg, Model *m, long step, int batch);

#endif
