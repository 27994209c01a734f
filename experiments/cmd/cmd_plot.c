/* `resbench plot DIR...` and `resbench plot --trend KEY`: the command line of plot/plot.c and
 * plot/plot_trend.c. */
#include <stdio.h>

#include "cli.h"
#include "cmd.h"
#include "plot.h"
#include "util.h"

#ifndef RESBENCH_PLOTS_DIR
#define RESBENCH_PLOTS_DIR "plots"
#endif

static void plot_help(void) {
    printf(
        "usage: resbench plot [--out DIR] RUN_OR_EXPERIMENT_DIR...\n"
        "       resbench plot --trend KEY --out DIR EXPERIMENT_DIR...\n\n"
        "Gathers every run under the directories (a run directory has metrics.csv; an\n"
        "experiment directory holds runs; all must agree on every trajectory key but variant and\n"
        "seed), groups them by arm (an experiment's: its summary.csv; a lone run: its variant and\n"
        "the options it sets away from the default) and writes into\n"
        "FIRST_DIR/figures/ (or --out DIR), as PNG and SVG:\n"
        "  loss_vs_flops, loss_vs_tokens   validation loss, mean over seeds with a min..max band\n"
        "  dilution                        per-sublayer stream and output RMS (profile.csv)\n"
        "  gradients                       per-sublayer gradient RMS and parameter-gradient norm\n"
        "  depth_ARM                       depth-mixing weights per arm (depth_attn.csv)\n"
        "  gains                           stream-mixing gains (mhc.csv)\n"
        "  probe                           synth:hops answer accuracy vs hop count (eval.csv)\n"
        "and the .dat files they are drawn from (ARM: the spec with ':' and ',' -> '-',\n"
        "'=' -> '_'). A run whose metrics.csv has no finite loss is refused, naming it.\n\n"
        "--trend KEY: ablations (ablate's experiment directories) that differ only in the\n"
        "numeric config key KEY (e.g. n_layer): every variant's paired delta to prenorm of the\n"
        "final validation loss (mean of the per-seed differences, 95%% t interval; filled points:\n"
        "decided after Holm's correction within the experiment) against KEY, one line per\n"
        "variant, into DIR/trend_KEY.{png,svg}, DIR/trend_KEY.csv and trend_KEY_VARIANT.dat.\n\n"
        "Needs gnuplot in PATH; scripts are read from\n"
        "$RESBENCH_PLOTS or %s.\n",
        RESBENCH_PLOTS_DIR);
}

int cmd_plot(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        plot_help();
        return RB_EXIT_OK;
    }
    static const char *const opts[] = {"--out=", "--trend=", NULL};
    const char *vals[2] = {NULL, NULL}, *dirs[64];
    int ndirs = cli_positional(argc, argv, opts, vals, dirs, 1, 64, "directories");
    if (ndirs < 0) rb_die(RB_EXIT_USAGE, "plot: %s", rb_error());
    if (vals[1]) {
        if (plot_trend(vals[1], dirs, ndirs, vals[0]) != 0) rb_die(RB_EXIT_USAGE, "%s", rb_error());
        return RB_EXIT_OK;
    }
    int rc = plot_dirs(dirs, ndirs, vals[0]);
    if (rc != RB_EXIT_OK) rb_die(rc, "%s", rb_error());
    return RB_EXIT_OK;
}
