/* `resbench train`: one run (or --resume of a killed one). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd.h"
#include "config.h"
#include "dist.h"
#include "train.h"
#include "util.h"
#include "registry.h"

static void train_help(void) {
    printf(
        "usage: resbench train [--config FILE] [key=value ...]\n"
        "       resbench train --resume RUN_DIR [key=value ...]\n\n"
        "Trains one model and writes OUT/RUN_ID/: config.ini, metrics.csv, ckpt.bin,\n"
        "result.ini and meta.ini (the build that made it: git_rev, compiler, BLAS and its "
        "kernel).\n"
        "Keys from FILE are applied first, then the key=value arguments, in order.\n"
        "--resume continues a killed run from its ckpt.bin with its own config.ini (only\n"
        "keys that do not change the trajectory, such as threads or log_every, may be\n"
        "overridden) and reproduces the same losses.\n"
        "Data-parallel: `mpirun -np K resbench train ...` (MPI build) splits every batch over K\n"
        "ranks (batch_size must be divisible by K) and averages the gradients; rank 0 writes.\n"
        "\nvariants (variant=NAME, or NAME:OPTION=VALUE,...; an option may also be given as its\n"
        "key, e.g. attnres_blocks=8; only the chosen variant's options enter its config).\n"
        "A variant spec states the whole arm: setting variant returns every option set before it\n"
        "(earlier file or argument) to its default, then applies the spec's options; option keys\n"
        "after it apply on top. In one config file the variant line applies before the file's\n"
        "option keys, wherever it stands. Example: --config a.ini variant=V trains V with its\n"
        "default options even where a.ini sets one of them.\n");
    config_print_variants(stdout);
    printf("\nkeys (default, meaning):\n");
    config_print_keys(stdout);
}

int cmd_train(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        train_help();
        return RB_EXIT_OK;
    }
    Config c;
    const char *resume_dir;
    if (cli_parse(argc, argv, &c, &resume_dir, NULL, NULL) != 0)
        rb_die(RB_EXIT_USAGE, "%s", rb_error());
    if (resume_dir) { /* the run directory is the resume target, whatever out/run_id said */
        char buf[1024];
        snprintf(buf, sizeof buf, "%s", resume_dir);
        char *slash = strrchr(buf, '/');
        while (slash && slash[1] == 0) { /* trailing slash */
            *slash = 0;
            slash = strrchr(buf, '/');
        }
        if (slash) *slash = 0;
        if (rb_copy_str(c.run_id, sizeof c.run_id, slash ? slash + 1 : buf) != 0 ||
            rb_copy_str(c.out, sizeof c.out, slash ? buf : ".") != 0)
            rb_die(RB_EXIT_USAGE, "--resume %s: path too long", resume_dir);
    }
    train_set_threads(c.threads);
    TrainResult r;
    int rc = train_run(&c, resume_dir != NULL, TRAIN_ANNOUNCE, &r);
    if (rc != RB_EXIT_OK) {
        if (dist_size() > 1)
            fprintf(stderr, "resbench (rank %d of %d): %s\n", dist_rank(), dist_size(), rb_error());
        else
            fprintf(stderr, "resbench: %s\n", rb_error());
        return rc;
    }
    if (dist_rank() != 0) return RB_EXIT_OK;
    if (r.already_finished) {
        printf("run %s already finished (%ld steps, final val loss %.4f, best %.4f in its "
               "result.ini); nothing was changed\n",
               r.run_dir, r.steps, r.final_val_loss, r.best_val_loss);
        return RB_EXIT_OK;
    }
    if (dist_size() > 1)
        printf("data-parallel over %d MPI ranks (%d sequences each), gradient allreduce %.2f s\n",
               dist_size(), c.batch_size / dist_size(), dist_comm_seconds());
    printf("run %s: %ld steps, %.0f tokens, %.3g FLOPs, %.1f s, %.0f tok/s, final val loss %.4f "
           "(best %.4f)",
           r.run_dir, r.steps, r.tokens, r.flops, r.wall_s, r.tok_per_s, r.final_val_loss,
           r.best_val_loss);
    if (!isnan(r.loss_floor)) printf(", data loss floor %.4f", r.loss_floor);
    printf("\n");
    return RB_EXIT_OK;
}
