/* `resbench ablate`: variants x seeds at one shape under one budget. Every run shares the base
 * config (same data_seed, so the same data order; same steps/tokens/FLOPs and schedule; same
 * evaluation set) and differs only in variant and model seed. Finished runs with the same config
 * are skipped and interrupted ones resumed, so an interrupted ablation is continued by running the
 * same command again. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "claims.h"
#include "cli.h"
#include "cmd.h"
#include "csvread.h"
#include "probe.h"
#include "report.h"
#include "results.h"
#include "runs.h"
#include "stats.h"
#include "train.h"
#include "util.h"
#include "registry.h"

#define MAX_VARIANTS 16
#define MAX_SEEDS 64

/* Without a budget (steps, budget_tokens or budget_flops) an ablation is the quick start: this
 * many steps, and the end-of-run profile over this many validation batches (unless
 * profile_batches is given above 1). The design was chosen by the rule of docs/statistics.md
 * section 10 (its loss verdicts hold under a threads=1 vs 2 perturbation); README, quick start. */
#define ABLATE_DEFAULT_STEPS 1000
#define ABLATE_DEFAULT_PROFILE_BATCHES 4

static void ablate_help(void) {
    printf(
        "usage: resbench ablate [--config FILE] [--variants ARM,ARM,...] [--seeds 1,2,...]\n"
        "                       [--name NAME] [--jobs FILE | --gather] [key=value "
        "...]\n\n" CLI_ARMS_HELP "\n"
        "Trains every arm x seed with the same base config (shape, data, data_seed,\n"
        "budget, schedule, evaluation set) into OUT/NAME/ARM-sSEED/ (ARM: the spec with ':'\n"
        "and ',' -> '-', '=' -> '_'; two arms giving the same config are refused), then writes\n"
        "OUT/NAME/summary.csv and OUT/NAME/experiment.ini, prints per variant the mean +- std\n"
        "final validation loss, the paired difference to prenorm (runs of one seed share the\n"
        "data order and initial core weights) with a Student t 95%% interval and Holm-adjusted\n"
        "p over the variants, tok/s of the training steps and the step-time overhead (for\n"
        "synth:compose and synth:hops also the answer accuracy per hop count),\n"
        "draws OUT/NAME/figures/ (resbench plot) and writes OUT/NAME/report.md (resbench report).\n"
        "The table names the builds that made the runs (meta.ini git_rev) and flags each seed\n"
        "whose runs were made by different builds.\n"
        "Runs that already finished with the same config are skipped; interrupted ones resume.\n\n"
        "An existing OUT/NAME keeps its base config: a command with another one is refused,\n"
        "naming the first differing key. One process owns an experiment at a time "
        "(OUT/NAME/lock).\n"
        "After an interrupt (exit 3), repeat the same command to continue.\n\n"
        "Job lists (docs/usage.md, Job lists): --jobs FILE trains nothing and writes FILE, one\n"
        "`resbench train` command per run that is not finished (`train --resume` for an\n"
        "interrupted one), for GNU parallel or a Slurm array (experiments/cluster/parallel.sh,\n"
        "slurm_array.sh; each line sets threads=1 unless the command sets threads=N). Once they\n"
        "ran, the same command with --gather instead of --jobs trains nothing and builds\n"
        "summary.csv, the table, figures and report.md from the run directories; it refuses,\n"
        "naming them, while any run is missing, unfinished, damaged or of another config (no\n"
        "partial summary). --jobs again lists just the runs still missing. The campaign:\n"
        "experiments/campaign.sh --jobs DIR writes DIR/partN.jobs per part, --gather gathers.\n\n"
        "defaults: all variants, seeds 1,2,3,4, steps 1000 and profile_batches=4 unless a budget\n"
        "(steps, budget_tokens, budget_flops) is given, NAME = ablate-HASH8 of the base config;\n"
        "without arguments this is the quick-start ablation: the train defaults otherwise\n"
        "(n_layer=4, d_model=96, seq_len=64, batch_size=16, synth:markov), 6 variants x 4 seeds\n"
        "= 24 runs of 1000 steps (the design docs/statistics.md section 10 chose: its loss\n"
        "verdicts survive a threads=1 vs 2 perturbation).\n");
}

static int parse_variants(const char *s, char names[][RB_ARM_MAX]) {
    if (s) return cli_arm_list(s, names, MAX_VARIANTS);
    int n = 0;
    for (; rb_variants[n]; n++) {
        if (n == MAX_VARIANTS) return rb_fail("more than %d variants installed", MAX_VARIANTS);
        rb_copy_str(names[n], RB_ARM_MAX, rb_variants[n]->name);
    }
    return n;
}

/* synth:hops: per variant the final answer accuracy at each hop count, mean with a 95% CI over
 * seeds (from each run's eval.csv). */
static void print_probe(const ExpRun *runs, int n, char names[][RB_ARM_MAX], int nv) {
    int hops = 0;
    double acc[MAX_VARIANTS][RB_PROBE_MAX_HOPS + 1][MAX_SEEDS];
    int k[MAX_VARIANTS][RB_PROBE_MAX_HOPS + 1] = {{0}};
    for (int i = 0; i < n; i++) {
        char path[4400];
        CsvTable t;
        snprintf(path, sizeof path, "%s/%s/eval.csv", runs[i].cfg.out, runs[i].cfg.run_id);
        if (access(path, R_OK) != 0 || csv_load(path, &t) != 0) continue;
        int v = 0;
        while (v < nv && strcmp(names[v], exp_arm(&runs[i]))) v++;
        for (int h = 1; h <= RB_PROBE_MAX_HOPS && v < nv; h++) {
            double a = eval_accuracy(&t, h, NULL);
            if (isnan(a) || k[v][h] == MAX_SEEDS) continue;
            acc[v][h][k[v][h]++] = a;
            hops = h > hops ? h : hops;
        }
        csv_table_free(&t);
    }
    if (!hops) return;
    printf("\nanswer accuracy by hop count (synth:compose or synth:hops, last evaluation; mean "
           "[95%% CI] over seeds)\n"
           "%-14s",
           "variant");
    for (int h = 1; h <= hops; h++) printf("  %d hop%s %13s", h, h > 1 ? "s" : " ", "");
    printf("\n");
    for (int v = 0; v < nv; v++) {
        printf("%-14s", names[v]);
        for (int h = 1; h <= hops; h++) {
            int m = k[v][h];
            double mean = stats_mean(acc[v][h], m);
            double hw = m > 1 ? stats_t975(m - 1) * stats_std(acc[v][h], m) / sqrt(m) : NAN;
            if (isnan(hw))
                printf("  %.3f %15s", mean, "");
            else
                printf("  %.3f [%.3f,%.3f]", mean, mean - hw, mean + hw);
        }
        printf("\n");
    }
}

/* The table, summary.csv and report.md of the runs (trained or gathered). */
static int ablate_finish(const char *exp, ExpRun *runs, int n, char names[][RB_ARM_MAX], int nv) {
    if (exp_write_summary(exp, runs, n) != 0) rb_die(RB_EXIT_FAIL, "%s", rb_error());
    AblationTable table; /* the same table report.md shows, as text */
    ablation_table(runs, n, (const char(*)[RB_ARM_MAX])names, nv, &table);
    printf("\n");
    ablation_table_write(stdout, &table, 0);
    ablation_table_free(&table);
    int failed = 0;
    for (int i = 0; i < n; i++) failed += !strcmp(runs[i].status, "failed");
    print_probe(runs, n, names, nv);
    fflush(stdout);
    if (report_write(exp, 1) != 0) fprintf(stderr, "resbench: ablate: report: %s\n", rb_error());
    printf("ablate: summary in %s/summary.csv, report in %s/report.md\n", exp, exp);
    return failed ? RB_EXIT_FAIL : RB_EXIT_OK;
}

int cmd_ablate(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        ablate_help();
        return RB_EXIT_OK;
    }
    static const char *const extra[] = {"--variants", "--seeds", "--name", "--jobs", NULL};
    const char *vals[4] = {NULL, NULL, NULL, NULL};
    int gather;
    Config base;
    if (exp_parse_args("ablate", argc, argv, &base, extra, vals, &gather) != 0)
        rb_die(RB_EXIT_USAGE, "%s", rb_error());
    if (!base.budget_set) { /* the quick start's design */
        base.steps = ABLATE_DEFAULT_STEPS;
        if (base.profile_batches == 1) base.profile_batches = ABLATE_DEFAULT_PROFILE_BATCHES;
    }
    static char names[MAX_VARIANTS][RB_ARM_MAX];
    long seeds[MAX_SEEDS];
    int nv = parse_variants(vals[0], names);
    int ns = cli_int_list(vals[1] ? vals[1] : "1,2,3,4", seeds, MAX_SEEDS, "--seeds");
    if (nv < 0 || ns < 0) rb_die(RB_EXIT_USAGE, "ablate: %s", rb_error());
    uint64_t hash[MAX_VARIANTS];
    for (int v = 0; v < nv; v++) { /* every variant must accept the base config before any run */
        Config c = base;
        char id[256];
        if (config_set_variant(&c, names[v], "--variants") != 0 || config_validate(&c) != 0 ||
            exp_arm_run_id(id, sizeof id, names[v], MAX_SEEDS) != 0)
            rb_die(RB_EXIT_USAGE, "ablate: %s: %s", names[v], rb_error());
        hash[v] = config_hash(&c);
        for (int w = 0; w < v; w++) /* two names for one arm would pool nothing and pair twice */
            if (hash[w] == hash[v])
                rb_die(RB_EXIT_USAGE,
                       "ablate: --variants: arms '%s' and '%s' give the same config with this "
                       "base config; give each arm once",
                       names[w], names[v]);
    }
    Config key = base; /* the experiment's identity: everything but variant, seed and paths */
    config_set_variant(&key, RB_BASELINE, "ablate");
    key.seed = 0;
    char exp[2048];
    if (exp_open(&key, "ablate", vals[2], gather, exp, sizeof exp) != 0)
        rb_die(RB_EXIT_USAGE, "%s", rb_error());
    ExpRun *runs = rb_calloc((size_t)nv * ns, sizeof(ExpRun), "ablation");
    int n = 0;
    for (int s = 0; s < ns; s++) /* seed-major: a partial ablation already covers every variant */
        for (int v = 0; v < nv; v++) {
            ExpRun *a = &runs[n++];
            a->cfg = base;
            config_set_variant(&a->cfg, names[v], "--variants"); /* an arm: a variant spec */
            rb_copy_str(a->arm, sizeof a->arm, names[v]);
            a->cfg.seed = seeds[s];
            rb_copy_str(a->cfg.out, sizeof a->cfg.out, exp);
            if (exp_arm_run_id(a->cfg.run_id, sizeof a->cfg.run_id, names[v], seeds[s]) != 0)
                rb_die(RB_EXIT_USAGE, "ablate: %s", rb_error());
        }
    if (vals[3]) {
        if (exp_jobs("ablate", vals[3], runs, n, exp) != 0) rb_die(RB_EXIT_USAGE, "%s", rb_error());
        free(runs);
        return RB_EXIT_OK;
    }
    if (gather) {
        if (exp_gather(runs, n) != 0) rb_die(RB_EXIT_USAGE, "ablate --gather: %s", rb_error());
        printf("ablate: gathered %d finished runs (%d variants x %d seeds) of %s\n", n, nv, ns,
               exp);
    } else {
        train_set_threads(base.threads);
        printf("ablate: %d variants x %d seeds, %ld steps each (identical data order and budget), "
               "into %s\n",
               nv, ns, train_total_steps(&base), exp);
        for (int i = 0; i < n; i++) {
            int rc = exp_run(&runs[i], i + 1, n);
            if (rc != RB_EXIT_OK) rb_die(rc, "%s", rb_error());
        }
    }
    int rc = ablate_finish(exp, runs, n, names, nv);
    free(runs);
    return rc;
}
