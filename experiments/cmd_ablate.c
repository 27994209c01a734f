/* `resbench ablate`: variants x seeds at one shape under one budget. Every run shares the base
 * config (same data_seed, so the same data order; same steps/tokens/FLOPs and schedule; same
 * evaluation set) and differs only in variant and model seed. Finished runs with the same config
 * are skipped and interrupted ones resumed, so an interrupted ablation is continued by running the
 * same command again. */
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "csvout.h"
#include "model.h"
#include "stats.h"
#include "train.h"
#include "util.h"
#include "variant.h"

#define MAX_VARIANTS 16
#define MAX_SEEDS 64

int cmd_plot(int argc, char **argv);

typedef struct {
    char variant[32];
    long seed;
    TrainResult r;
    const char *status; /* "ok", "skipped" (already done), "failed" */
} AblRun;

static void ablate_help(void) {
    printf(
        "usage: resbench ablate [--config FILE] [--variants a,b,...] [--seeds 1,2,...]\n"
        "                       [--name NAME] [key=value ...]\n\n"
        "Trains every variant x seed with the same base config (shape, data, data_seed,\n"
        "budget, schedule, evaluation set) into OUT/NAME/VARIANT-sSEED/, then writes\n"
        "OUT/NAME/summary.csv and OUT/NAME/experiment.ini, prints per variant the mean +- std\n"
        "final validation loss, the difference to prenorm with a Welch 95%% confidence interval,\n"
        "tok/s and step-time overhead, and draws OUT/NAME/figures/ (resbench plot).\n"
        "Runs that already finished with the same config are skipped; interrupted ones resume.\n\n"
        "defaults: all variants, seeds 1,2, NAME = ablate-HASH8 of the base config; without\n"
        "arguments this is the quick-start ablation (4 blocks, d=128, 300 steps of\n"
        "synth:markov, 12 runs, about 10 minutes on 2 cores).\n");
}

/* Comma-separated list into items (copied into buf). */
static int split_list(const char *s, char *buf, size_t n, char **items, int max) {
    if (rb_copy_str(buf, n, s) != 0) return rb_fail("list too long: %s", s);
    int k = 0;
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (k == max) return rb_fail("list '%s' has more than %d items", s, max);
        items[k++] = tok;
    }
    if (k == 0) return rb_fail("empty list '%s'", s);
    return k;
}

static int parse_variants(const char *s, char names[][32]) {
    char buf[1024], *items[MAX_VARIANTS];
    int n;
    if (!s) {
        for (n = 0; rb_variants[n] && n < MAX_VARIANTS; n++)
            snprintf(names[n], 32, "%s", rb_variants[n]->name);
        return n;
    }
    if ((n = split_list(s, buf, sizeof buf, items, MAX_VARIANTS)) < 0) return -1;
    for (int i = 0; i < n; i++) {
        if (!variant_find(items[i]))
            return rb_fail("--variants: unknown variant '%s' (allowed: %s)", items[i],
                           variant_names());
        snprintf(names[i], 32, "%s", items[i]);
    }
    return n;
}

static int parse_seeds(const char *s, long *seeds) {
    char buf[1024], *items[MAX_SEEDS];
    if (!s) {
        seeds[0] = 1;
        seeds[1] = 2;
        return 2;
    }
    int n = split_list(s, buf, sizeof buf, items, MAX_SEEDS);
    for (int i = 0; i < n; i++) {
        char *end;
        seeds[i] = strtol(items[i], &end, 10);
        if (*end || end == items[i] || seeds[i] < 0)
            return rb_fail("--seeds: '%s' is not a non-negative integer", items[i]);
    }
    return n;
}

static int result_handler(void *user, const char *section, const char *name, const char *value) {
    TrainResult *r = user;
    (void)section;
    double v = strtod(value, NULL);
    if (!strcmp(name, "steps"))
        r->steps = (long)v;
    else if (!strcmp(name, "tokens"))
        r->tokens = v;
    else if (!strcmp(name, "flops"))
        r->flops = v;
    else if (!strcmp(name, "wall_s"))
        r->wall_s = v;
    else if (!strcmp(name, "tok_per_s"))
        r->tok_per_s = v;
    else if (!strcmp(name, "final_train_loss"))
        r->final_train_loss = v;
    else if (!strcmp(name, "final_val_loss"))
        r->final_val_loss = v;
    else if (!strcmp(name, "best_val_loss"))
        r->best_val_loss = v;
    else if (!strcmp(name, "loss_floor"))
        r->loss_floor = v;
    return 1;
}

/* A finished run of exactly this config: its result.ini is loaded into r. */
static int finished_before(const Config *c, const char *dir, TrainResult *r) {
    char path[4200];
    Config old;
    config_defaults(&old);
    if (rb_join(path, sizeof path, dir, "config.ini") != 0 || access(path, R_OK) != 0 ||
        config_load_ini(&old, path) != 0 || config_hash(&old) != config_hash(c))
        return 0;
    if (rb_join(path, sizeof path, dir, "result.ini") != 0 || access(path, R_OK) != 0) return 0;
    memset(r, 0, sizeof *r);
    snprintf(r->run_dir, sizeof r->run_dir, "%s", dir);
    return ini_parse(path, result_handler, r) == 0;
}

static void run_one(const Config *base, AblRun *a) {
    Config c = *base;
    snprintf(c.variant, sizeof c.variant, "%s", a->variant);
    c.seed = a->seed;
    snprintf(c.run_id, sizeof c.run_id, "%s-s%ld", a->variant, a->seed);
    char dir[2048], ckpt[2200];
    train_run_dir(&c, dir, sizeof dir);
    if (finished_before(&c, dir, &a->r)) {
        a->status = "skipped";
        printf("ablate: %s seed %ld: already done (%s), val loss %.4f\n", a->variant, a->seed, dir,
               a->r.final_val_loss);
        return;
    }
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.bin", dir);
    int resume = access(ckpt, F_OK) == 0;
    printf("ablate: %s seed %ld%s\n", a->variant, a->seed, resume ? " (resuming)" : "");
    fflush(stdout);
    int rc = train_run(&c, resume, 0, &a->r);
    if (rc == RB_EXIT_INTERRUPTED) rb_die(rc, "%s", rb_error());
    if (rc != RB_EXIT_OK) {
        fprintf(stderr, "resbench: ablate: %s seed %ld failed: %s\n", a->variant, a->seed,
                rb_error());
        a->status = "failed";
        a->r.final_val_loss = a->r.best_val_loss = NAN;
        return;
    }
    a->status = "ok";
}

static double prenorm_tok_s(const AblRun *runs, int n) {
    double s = 0;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!strcmp(runs[i].variant, "prenorm") && strcmp(runs[i].status, "failed")) {
            s += runs[i].r.tok_per_s;
            k++;
        }
    return k ? s / k : NAN;
}

static int write_summary(const char *exp, const Config *base, const AblRun *runs, int n) {
    static const char *const H[] = {"variant",   "seed",    "n_layer",        "d_model",
                                    "n_head",    "seq_len", "batch_size",     "params",
                                    "tokens",    "flops",   "final_val_loss", "best_val_loss",
                                    "tok_per_s", "wall_s",  "overhead_pct",   "status"};
    char path[2200], tmp[2300];
    snprintf(path, sizeof path, "%s/summary.csv", exp);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CsvOut csv;
    if (csv_open(&csv, tmp, H, 16, 0) != 0) return -1;
    double ref = prenorm_tok_s(runs, n);
    for (int i = 0; i < n; i++) {
        const AblRun *a = &runs[i];
        Config c = *base;
        snprintf(c.variant, sizeof c.variant, "%s", a->variant);
        char f[16][48];
        snprintf(f[0], 48, "%s", a->variant);
        snprintf(f[1], 48, "%ld", a->seed);
        snprintf(f[2], 48, "%d", c.n_layer);
        snprintf(f[3], 48, "%d", c.d_model);
        snprintf(f[4], 48, "%d", c.n_head);
        snprintf(f[5], 48, "%d", c.seq_len);
        snprintf(f[6], 48, "%d", c.batch_size);
        snprintf(f[7], 48, "%zu", model_param_count(&c));
        snprintf(f[8], 48, "%.0f", a->r.tokens);
        snprintf(f[9], 48, "%.6e", a->r.flops);
        snprintf(f[10], 48, "%.6f", a->r.final_val_loss);
        snprintf(f[11], 48, "%.6f", a->r.best_val_loss);
        snprintf(f[12], 48, "%.1f", a->r.tok_per_s);
        snprintf(f[13], 48, "%.2f", a->r.wall_s);
        snprintf(f[14], 48, "%.2f", isnan(ref) ? NAN : 100.0 * (ref / a->r.tok_per_s - 1));
        snprintf(f[15], 48, "%s", a->status);
        const char *row[16];
        for (int k = 0; k < 16; k++) row[k] = f[k];
        if (csv_row(&csv, row) != 0) {
            csv_close(&csv);
            return -1;
        }
    }
    csv_close(&csv);
    if (rename(tmp, path) != 0) return rb_fail("cannot rename %s to %s", tmp, path);
    return 0;
}

/* Per variant: mean +- std of the final validation loss, delta to prenorm with Welch's 95% CI. */
static void print_table(const AblRun *runs, int n, char names[][32], int nv) {
    double pre[MAX_SEEDS];
    int npre = 0;
    for (int i = 0; i < n; i++)
        if (!strcmp(runs[i].variant, "prenorm") && !isnan(runs[i].r.final_val_loss))
            pre[npre++] = runs[i].r.final_val_loss;
    double ref = prenorm_tok_s(runs, n);
    printf("\n%-14s %4s  %-17s  %-30s %8s %9s\n", "variant", "runs", "val loss",
           "delta vs prenorm [95% CI]", "tok/s", "overhead");
    for (int v = 0; v < nv; v++) {
        double x[MAX_SEEDS], tok = 0;
        int k = 0;
        for (int i = 0; i < n; i++)
            if (!strcmp(runs[i].variant, names[v]) && !isnan(runs[i].r.final_val_loss)) {
                x[k++] = runs[i].r.final_val_loss;
                tok += runs[i].r.tok_per_s;
            }
        if (k == 0) {
            printf("%-14s %4d  (all runs failed)\n", names[v], 0);
            continue;
        }
        tok /= k;
        char loss[32], delta[64] = "-", over[16] = "-";
        snprintf(loss, sizeof loss, "%.4f +- %.4f", stats_mean(x, k), stats_std(x, k));
        if (strcmp(names[v], "prenorm") && npre > 0) {
            double d, hw = stats_welch_ci95(x, k, pre, npre, &d);
            if (isnan(hw))
                snprintf(delta, sizeof delta, "%+.4f (CI needs 2+ seeds)", d);
            else
                snprintf(delta, sizeof delta, "%+.4f [%+.4f, %+.4f]%s", d, d - hw, d + hw,
                         d - hw <= 0 && d + hw >= 0 ? " noise" : "");
        }
        if (!isnan(ref) && strcmp(names[v], "prenorm"))
            snprintf(over, sizeof over, "%+.1f%%", 100.0 * (ref / tok - 1));
        printf("%-14s %4d  %-17s  %-30s %8.0f %9s\n", names[v], k, loss, delta, tok, over);
    }
    printf("(\"noise\": the 95%% interval contains 0, the difference is within seed noise)\n");
}

int cmd_ablate(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        ablate_help();
        return RB_EXIT_OK;
    }
    static const char *const extra[] = {"--variants", "--seeds", "--name", NULL};
    const char *vals[3] = {NULL, NULL, NULL};
    Config base;
    if (cli_parse(argc, argv, &base, NULL, extra, vals) != 0)
        rb_die(RB_EXIT_USAGE, "ablate: %s", rb_error());
    char names[MAX_VARIANTS][32];
    long seeds[MAX_SEEDS];
    int nv = parse_variants(vals[0], names), ns = parse_seeds(vals[1], seeds);
    if (nv < 0 || ns < 0) rb_die(RB_EXIT_USAGE, "ablate: %s", rb_error());
    for (int v = 0; v < nv; v++) { /* every variant must accept the base config before any run */
        Config c = base;
        rb_copy_str(c.variant, sizeof c.variant, names[v]);
        if (config_validate(&c) != 0) rb_die(RB_EXIT_USAGE, "ablate: %s: %s", names[v], rb_error());
    }
    Config key = base; /* the experiment's identity: everything but variant, seed and paths */
    snprintf(key.variant, sizeof key.variant, "prenorm");
    key.seed = 0;
    char name[256], exp[2048];
    if (vals[2])
        snprintf(name, sizeof name, "%s", vals[2]);
    else
        snprintf(name, sizeof name, "ablate-%08llx",
                 (unsigned long long)(config_hash(&key) & 0xffffffffULL));
    snprintf(exp, sizeof exp, "%s/%s", base.out, name);
    if (rb_mkdir_p(exp) != 0) rb_die(RB_EXIT_USAGE, "ablate: %s", rb_error());
    char *ini = config_to_ini(&key), path[2200];
    snprintf(path, sizeof path, "%s/experiment.ini", exp);
    if (rb_write_file_atomic(path, ini, strlen(ini)) != 0) rb_die(RB_EXIT_FAIL, "%s", rb_error());
    free(ini);
    if (rb_copy_str(base.out, sizeof base.out, exp) != 0)
        rb_die(RB_EXIT_USAGE, "ablate: path too long: %s", exp);
    train_set_threads(base.threads);
    AblRun *runs = rb_calloc((size_t)nv * ns, sizeof(AblRun), "ablation");
    int n = 0;
    printf("ablate: %d variants x %d seeds, %ld steps each (identical data order and budget), "
           "into %s\n",
           nv, ns, train_total_steps(&base), exp);
    for (int s = 0; s < ns; s++) /* seed-major: a partial ablation already covers every variant */
        for (int v = 0; v < nv; v++) {
            AblRun *a = &runs[n++];
            rb_copy_str(a->variant, sizeof a->variant, names[v]);
            a->seed = seeds[s];
            run_one(&base, a);
        }
    if (write_summary(exp, &base, runs, n) != 0) rb_die(RB_EXIT_FAIL, "%s", rb_error());
    print_table(runs, n, names, nv);
    int failed = 0;
    for (int i = 0; i < n; i++) failed += !strcmp(runs[i].status, "failed");
    free(runs);
    char *pargv[] = {"plot", exp, NULL};
    fflush(stdout);
    if (cmd_plot(2, pargv) != RB_EXIT_OK) fprintf(stderr, "resbench: ablate: figures not drawn\n");
    printf("ablate: summary in %s/summary.csv\n", exp);
    return failed ? RB_EXIT_FAIL : RB_EXIT_OK;
}
