/* resbench knockout RUN_DIR: the knockout table of a finished run (docs/variants.md, "Routing
 * diagnostics"; knockout.csv in docs/formats.md). The run's model.bin is evaluated on the run's
 * whole validation split intact and once with each source of its depth mixing removed
 * (VariantOps.knockout); the table goes to RUN_DIR/knockout.csv, written whole. A command, not
 * a step of every run: it costs (sources + 1) evaluations, applies to runs already finished, and
 * leaves the training path untouched. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cli.h"
#include "cmd.h"
#include "csvout.h"
#include "data.h"
#include "model.h"
#include "rundir.h"
#include "train.h"
#include "util.h"

static void knockout_help(void) {
    printf("usage: resbench knockout RUN_DIR [--threads N]\n\n"
           "Evaluates the run's model.bin on its validation split intact and with each source of\n"
           "its depth mixing knocked out (the source's weighted term removed from every consumer,\n"
           "the other weights unchanged; docs/variants.md, \"Routing diagnostics\"), and writes\n"
           "RUN_DIR/knockout.csv: source (-1 = intact), val_loss, delta (val_loss - intact).\n"
           "Runs of variants without depth mixing (no depth_attn.csv) are refused.\n");
}

static const char *const KNOCKOUT_HEADER[] = {"source", "val_loss", "delta"};

static int put_row(CsvOut *csv, int source, double loss, double delta) {
    char s[24], l[40], dl[40];
    snprintf(s, sizeof s, "%d", source);
    rb_fmt_double(l, sizeof l, loss);
    rb_fmt_double(dl, sizeof dl, delta);
    const char *row[3] = {s, l, dl};
    return csv_row(csv, row);
}

/* Loads the run (config.ini, model.bin, its data); dies with one line on anything missing. */
static void load_run(const char *dir, Config *c, Model *m, Data *d) {
    char path[4400];
    if (rundir_read_config(dir, c) != 0) rb_die(RB_EXIT_USAGE, "knockout: %s", rb_error());
    if (!rb_is_file_in(dir, "model.bin"))
        rb_die(RB_EXIT_USAGE, "knockout: %s has no model.bin (the run has not finished)", dir);
    if (!c->vt->knockout)
        rb_die(RB_EXIT_USAGE,
               "knockout: %s: variant %s has no depth mixing to knock out (allowed: a run of a "
               "variant that writes depth_attn.csv; docs/variants.md, \"Routing diagnostics\")",
               dir, c->variant);
    CkptState st;
    snprintf(path, sizeof path, "%s/model.bin", dir);
    if (model_build(m, c) != 0 || checkpoint_load_params(path, m, &st) != 0)
        rb_die(RB_EXIT_USAGE, "knockout: %s", rb_error());
    if (data_open(d, c) != 0) rb_die(RB_EXIT_USAGE, "knockout: %s", rb_error());
}

int cmd_knockout(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        knockout_help();
        return RB_EXIT_OK;
    }
    static const char *const opts[] = {"--threads=", NULL};
    const char *v[1] = {NULL}, *dirs[1];
    if (cli_positional(argc, argv, opts, v, dirs, 1, 1, "RUN_DIR") < 0)
        rb_die(RB_EXIT_USAGE, "knockout: %s", rb_error());
    double threads = 0;
    if (v[0] && cli_number(v[0], 0, 1024, 1, "--threads", &threads) != 0)
        rb_die(RB_EXIT_USAGE, "knockout: %s", rb_error());
    train_set_threads((int)threads);
    const char *dir = dirs[0];
    Config c;
    Model m;
    Data d;
    load_run(dir, &c, &m, &d);
    int nb = (int)data_val_batches(&d, c.batch_size);
    int *rows = rb_calloc((size_t)m.B * (c.seq_len + 1), sizeof(int), "batch");
    int n = m.vops->knockout(&m.stream, -1);
    if (n <= 0)
        rb_die(RB_EXIT_USAGE,
               "knockout: %s: variant %s has no depth mixing at these options (allowed: a run "
               "that wrote depth_attn.csv; docs/variants.md, \"Routing diagnostics\")",
               dir, c.variant);
    double intact = 0;
    if (train_evaluate(&m, &d, rows, nb, NULL, &intact) != 0)
        rb_die(RB_EXIT_FAIL, "knockout: %s: %s", dir, rb_error());
    char path[4400];
    snprintf(path, sizeof path, "%s/knockout.csv", dir);
    CsvOut csv;
    int bad =
        csv_open_atomic(&csv, path, KNOCKOUT_HEADER, 3) != 0 || put_row(&csv, -1, intact, 0.0) != 0;
    fprintf(stderr, "knockout: %s (%s), %d sources, %d validation batches, intact %.4f\n", dir,
            c.variant, n, nb, intact);
    for (int s = 0; s < n && !bad; s++) {
        m.vops->knockout(&m.stream, s);
        double loss = 0;
        if (train_evaluate(&m, &d, rows, nb, NULL, &loss) != 0) {
            bad = 1;
            break;
        }
        fprintf(stderr, "  source %2d: %.4f (%+.4f)\n", s, loss, loss - intact);
        bad = put_row(&csv, s, loss, loss - intact) != 0;
    }
    m.vops->knockout(&m.stream, -1);
    if (bad) { /* the previous knockout.csv, if any, stays */
        csv_close(&csv);
        unlink(csv.path);
    } else
        bad = csv_commit(&csv) != 0;
    free(rows);
    data_close(&d);
    model_free(&m);
    if (bad) rb_die(RB_EXIT_FAIL, "knockout: %s", rb_error());
    printf("%s\n", path);
    return RB_EXIT_OK;
}
