/* The checkpoint reader: the input is a ckpt.bin for a fixed tiny model (the seed corpus holds a
 * valid one written by `resbench train` with the same config). */
#include <stdlib.h>

#include "checkpoint.h"
#include "fuzz_common.h"
#include "model.h"

static Model model;

static void build(void) {
    Config c;
    config_defaults(&c);
    c.n_layer = 1;
    c.d_model = 8;
    c.n_head = 2;
    c.seq_len = 8;
    c.batch_size = 1;
    c.steps = 4;
    if (model_build(&model, &c) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!model.params) build();
    const char *path = fuzz_file(data, size, "-ckpt.bin");
    CkptState st;
    if (path && checkpoint_load(path, &model, &st) == 0 && st.step < 0) abort();
    return 0;
}
