/* The run directory (docs/formats.md): its name, its lock, and the files written whole and
 * atomically: config.ini, meta.ini, result.ini. The result fields are described once here, for
 * the writer and the reader. */
#ifndef RB_RUNDIR_H
#define RB_RUNDIR_H
#include <stddef.h>

#include "config.h"
#include "data.h"
#include "model.h"
#include "train.h"

/* OUT/RUN_ID, with the default id VARIANT-sSEED-HASH8 when run_id is empty. */
void rundir_path(const Config *c, char *buf, size_t n);
/* An exclusive flock on DIR/lock held until *fd is closed (the kernel releases it when the
 * process dies: a killed run never leaves a stale lock). 0, or an exit code with rb_error(). */
int rundir_lock(const char *dir, int *fd);
int rundir_write_config(const char *dir, const Config *c);
/* DIR/config.ini into c (over the defaults): 0, or -1 with rb_error() naming the directory when it
 * has none (not a run directory) or the file, key and value of a bad entry. */
int rundir_read_config(const char *dir, Config *c);
int rundir_write_meta(const char *dir, const Model *m, const Data *d, long total, int resumed);
/* DIR/result.ini from r (every field of RESULT_FIELDS in rundir.c). */
int rundir_write_result(const char *dir, const TrainResult *r);

#endif
