/* `resbench report RESULTS_DIR`: the command line of report/report.c. */
#include <stdio.h>

#include "cli.h"
#include "cmd.h"
#include "report.h"
#include "util.h"

static void report_help(void) {
    printf(
        "usage: resbench report [--no-plot] [--law FIT_INI] RESULTS_DIR\n\n"
        "Writes RESULTS_DIR/report.md (figures in RESULTS_DIR/figures/, linked relatively) for\n"
        "an experiment directory written by `resbench ablate` (summary.csv,\n"
        "experiment.ini and one directory per run; report.json and report.html alongside):\n"
        "  - the resolved base config and what differs between runs;\n"
        "  - a check that all runs had identical budgets and data order (a loud warning if not);\n"
        "  - the ablation table, one row per arm, and which builds made the runs;\n"
        "  - every figure in RESULTS_DIR/figures (drawn with `resbench plot` unless --no-plot);\n"
        "  - each run's training health (failed-to-train rule) and the paper's claims, each arm\n"
        "    paired by seed with prenorm: reproduced, opposite, inconclusive or not tested, Holm\n"
        "    over the arms, with the minimum detectable effect and the paired/unpaired SD ratio:\n"
        "    growth rate of the residual stream with depth, gradient uniformity (CV of the\n"
        "    gradient at each sublayer's input, per type), final loss (FLOPs more than 2%% apart\n"
        "    flagged; a FLOP-adjusted reading through the law of RESULTS_DIR/fit.ini or of\n"
        "    --law FIT_INI), compute multiplier (RESULTS_DIR/fit_pooled.csv: `resbench fit\n"
        "    --out`), and probe accuracy at the largest hop count (not tested at floor or\n"
        "    ceiling). The measures and rules: docs/statistics.md.\n");
}

int cmd_report(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        report_help();
        return RB_EXIT_OK;
    }
    static const char *const opts[] = {"--no-plot", "--law=", NULL};
    const char *vals[2] = {NULL, NULL}, *dirs[1] = {NULL};
    if (cli_positional(argc, argv, opts, vals, dirs, 1, 1, "RESULTS_DIR") < 0)
        rb_die(RB_EXIT_USAGE, "report: %s", rb_error());
    const char *dir = dirs[0];
    int plot = vals[0] == NULL;
    if (report_write_law(dir, plot, vals[1]) != 0) rb_die(RB_EXIT_USAGE, "%s", rb_error());
    printf("report: %s/report.md (and report.json, report.html)\n", dir);
    return RB_EXIT_OK;
}
