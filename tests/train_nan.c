/* `resbench train` with a NaN put into one gradient (tests/faults/test_faults.sh): the fault is
 * injected through the training loop's test seam, which resbench itself never sets.
 *   train_nan STEP [--config FILE] [key=value ...]     exit code as `resbench train` */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "model.h"
#include "registry.h"
#include "train.h"
#include "util.h"

static long nan_step;

/* the tensor at index 6 (w2, MLP of block 1 in the fault test's model) */
static void inject(Model *m, long step) {
    if (step == nan_step) m->grads[m->tensors[m->n_tensors > 6 ? 6 : 0].offset] = NAN;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: train_nan STEP [--config FILE] [key=value ...]\n");
        return RB_EXIT_USAGE;
    }
    variants_install();
    nan_step = atol(argv[1]);
    Config c;
    if (cli_parse(argc - 1, argv + 1, &c, NULL, NULL, NULL) != 0) {
        fprintf(stderr, "train_nan: %s\n", rb_error());
        return RB_EXIT_USAGE;
    }
    train_set_threads(c.threads);
    train_set_test_hook(inject);
    TrainResult r;
    int rc = train_run(&c, 0, TRAIN_QUIET, &r);
    if (rc != RB_EXIT_OK) fprintf(stderr, "resbench: %s\n", rb_error());
    return rc;
}
