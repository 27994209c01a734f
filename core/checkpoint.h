/* Checkpoints: header (magic, version, config hash, step, sizes, checksum), the resolved config
 * text, then parameters, AdamW m and v (model files: parameters only). Written to PATH.tmp and
 * renamed; every read is verified. */
#ifndef RB_CHECKPOINT_H
#define RB_CHECKPOINT_H
#include "model.h"

typedef struct {
    long step;     /* completed optimizer steps */
    double wall_s; /* training wall time so far */
    double best_val;
} CkptState;

int checkpoint_save(const char *path, const Model *m, const CkptState *st);
/* model.bin of a finished run: the same header and config, the parameters without optimizer
 * state (a third of a checkpoint), for evaluation and sampling. */
int checkpoint_save_model(const char *path, const Model *m, const CkptState *st);
/* Loads into m (built from the same config). Fails with a one-line reason on any mismatch. */
int checkpoint_load(const char *path, Model *m, CkptState *st);
/* The parameters alone, from a checkpoint or a model file (the optimizer state is untouched). */
int checkpoint_load_params(const char *path, Model *m, CkptState *st);

#endif
