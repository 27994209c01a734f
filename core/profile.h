/* Per-sublayer profiles (profile.csv): the magnitudes behind the dilution and gradient figures. */
#ifndef RB_PROFILE_H
#define RB_PROFILE_H
#include "model.h"

typedef struct {
    int layer;        /* 1..L sublayers, L + 1 = the final readout */
    const char *kind; /* "attn", "mlp" or "out" */
    double input_rms, output_rms, stream_rms, grad_rms, param_grad_norm;
} ProfileRow;

/* Call right after model_forward on the profiling batch. Runs the backward of that forward
 * (gradients are overwritten: call between optimizer steps only) and fills L + 1 rows. 0, or -1
 * with rb_error() when the backward fails. */
int profile_rows(Model *m, ProfileRow *rows);

#endif
