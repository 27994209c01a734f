/* resbench: one binary, one subcommand per workflow. */
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "buildinfo.h"
#include "cmd.h"
#include "dist.h"
#include "gemm.h"
#include "registry.h"
#include "util.h"

#ifndef RESBENCH_BUILD_INFO
#define RESBENCH_BUILD_INFO "unknown build"
#endif
#ifdef RESBENCH_MPI
#define RB_HAVE_MPI 1
#else
#define RB_HAVE_MPI 0
#endif

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} Command;

static const Command COMMANDS[] = {
    {"train", cmd_train, "train one model (or --resume a run)"},
    {"data", cmd_data, "describe a data source: sizes, loss floor, a sample"},
    {"ablate", cmd_ablate, "variants x seeds under one budget: summary, table, figures"},
    {"sweep", cmd_sweep, "depth x width grid at matched compute (local or a job list)"},
    {"fit", cmd_fit, "scaling fit of prenorm and compute multipliers of the variants"},
    {"plot", cmd_plot, "figures (gnuplot) for run and experiment directories"},
    {"report", cmd_report,
     "report.md: budgets check, ablation table, figures, claims with verdicts"},
    {"compare", cmd_compare, "two runs or two experiments: config difference, deltas, curves"},
    {"sample", cmd_sample, "generate text from a run's model with a KV cache"},
    {"knockout", cmd_knockout,
     "a finished run's validation loss with each depth-mixing source removed (knockout.csv)"},
    {"plan", cmd_plan, "seeds needed to decide an effect (or the detectable effect) from a pilot"},
    {"bench", cmd_bench, "the benchmark: sgemm peak, tok/s, GFLOP/s, phases, overheads, RSS"},
};
#define NCOMMANDS (int)(sizeof COMMANDS / sizeof COMMANDS[0])

static void usage(FILE *f) {
    fprintf(f, "usage: resbench COMMAND [--help] [--config FILE] [key=value ...]\n"
               "       resbench --version\n\ncommands:\n");
    for (int i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-8s %s\n", COMMANDS[i].name, COMMANDS[i].help);
    fprintf(f, "\nexit codes: 0 ok, 1 I/O failure, 2 bad input or non-finite loss, 3 interrupted "
               "(resumable)\n");
}

int main(int argc, char **argv) {
    /* a write beyond the file-size limit (ulimit -f) fails with EFBIG and a clear error instead of
     * killing the process */
    signal(SIGXFSZ, SIG_IGN);
    if (variants_install() != 0) /* the core reads variant names and options through this table */
        rb_die(RB_EXIT_FAIL, "%s", rb_error());
    dist_init(&argc, &argv);
    if (dist_size() > 1 && (argc < 2 || strcmp(argv[1], "train") != 0)) {
        if (dist_rank() == 0)
            fprintf(stderr, "resbench: under mpirun only `train` runs data-parallel; run the other "
                            "commands as one process (sweeps scale out as job arrays)\n");
        return RB_EXIT_USAGE;
    }
    if (argc < 2) {
        fprintf(stderr, "resbench: no command given (commands:");
        for (int i = 0; i < NCOMMANDS; i++) fprintf(stderr, " %s", COMMANDS[i].name);
        fprintf(stderr, "; see resbench --help)\n");
        return RB_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return RB_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("resbench %s (%s, MPI %s, OpenMP %d threads available)\n", rb_git_rev(),
               RESBENCH_BUILD_INFO, RB_HAVE_MPI ? "on" : "off", omp_get_max_threads());
        BuildFact facts[RB_BUILD_FACTS]; /* the build lines of every run's meta.ini */
        rb_build_facts(facts);
        for (int i = 0; i < RB_BUILD_FACTS; i++) printf("%s = %s\n", facts[i].key, facts[i].value);
        printf("threads = %d\n", omp_get_max_threads());
        char gemms[512];
        gemm_describe(gemms, sizeof gemms);
        printf("GEMM backends: %s\n", gemms);
        return RB_EXIT_OK;
    }
    for (int i = 0; i < NCOMMANDS; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) return COMMANDS[i].run(argc - 1, argv + 1);
    fprintf(stderr, "resbench: unknown command '%s' (commands:", argv[1]);
    for (int i = 0; i < NCOMMANDS; i++) fprintf(stderr, " %s", COMMANDS[i].name);
    fprintf(stderr, "; see resbench --help)\n");
    return RB_EXIT_USAGE;
}
