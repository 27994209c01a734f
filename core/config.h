/* Run configuration: one flat table of keys, read from an INI file and key=value overrides. */
#ifndef RB_CONFIG_H
#define RB_CONFIG_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct VariantOps;

enum { RB_OPT_ADAMW = 0, RB_OPT_MUON = 1 }; /* Config.optimizer */

/* A variant option given in a config (any variant's; only the chosen variant's take effect). */
typedef struct {
    char key[32];
    double value; /* the number, or the index of a choice */
} ConfigOption;
#define RB_MAX_CONFIG_OPTIONS 16

typedef struct {
    /* model */
    int n_layer, d_model, n_head, seq_len, batch_size, mlp_hidden, vocab_size, tie_embeddings;
    char variant[32];
    const struct VariantOps *vt; /* the variant named by `variant` (config_use_variants' table) */
    ConfigOption opt[RB_MAX_CONFIG_OPTIONS]; /* variant options given, in the order first given */
    int n_opt;
    double rope_theta, init_std;
    /* optimizer and schedule */
    double lr, min_lr, weight_decay, grad_clip, beta1, beta2, adam_eps;
    int warmup;
    int optimizer;        /* RB_OPT_ADAMW or RB_OPT_MUON (core/optim.h) */
    double muon_momentum; /* Muon: momentum of the matrices' update */
    int muon_nesterov;    /* Muon: 1 = Nesterov momentum */
    /* budget: exactly one of these is > 0 */
    long steps;
    double budget_tokens, budget_flops;
    unsigned budget_set; /* budget keys set by the user (bits: steps, tokens, flops), not hashed */
    /* evaluation, logging, checkpoints */
    int eval_every, eval_tokens, log_every, profile_every, ckpt_every, keep_ckpt;
    int profile_batches; /* validation batches profiled at each profile step */
    double ckpt_minutes;
    long stop_at_step; /* stop (resumably) after this step; 0 = never */
    /* reproducibility and resources */
    long seed, data_seed;
    int threads;
    char backend[16], precision[8]; /* GEMM backend and precision (core/gemm.h) */
    double val_fraction;
    char data[1024], out[1024], run_id[256];
    /* an experiment's equivalence margin for the final validation loss, in nats (0 = none):
     * stated in experiment.ini before the runs, used by `report` (docs/statistics.md section 5);
     * training ignores it */
    double equivalence_margin;
} Config;

/* The variant table (NULL-terminated) that `variant` names are looked up in: the command layer
 * installs it once (variants/registry.c: variants_install) before any config is read. The table is
 * checked first (config_check_variants): 0, or -1 with rb_error() naming what is wrong with a bad
 * table (which is then not installed). */
int config_use_variants(const struct VariantOps *const *table);
/* 0 when every variant of table has a unique name and well-formed options (keys that fit, defaults
 * in range, a key shared only by one declaration, at most RB_MAX_CONFIG_OPTIONS keys in all), else
 * -1 with rb_error() naming the variant and option. */
int config_check_variants(const struct VariantOps *const *table);
void config_defaults(Config *c);
/* An arm over a base config (the experiment layer: ablate, sweep, bench): sets `variant` from a
 * spec "NAME" or "NAME:OPTION=VALUE,..." and applies the spec's options on top of the options c
 * already has (the base's). -1 with rb_error() when the name or an option is unknown. */
int config_set_variant(Config *c, const char *spec, const char *where);
/* Set one key from text. where = "file:line" or "argument" for error messages. Key `variant`
 * states the whole arm: every variant option set before it returns to its default, then the
 * spec's options apply; option keys set after it apply on top (docs/usage.md). */
int config_set(Config *c, const char *key, const char *value, const char *where);
/* A config file's keys in order, except that its variant options apply after its variant line
 * (wherever that stands), so a file states one arm; an option both in the file's spec and as a key
 * is an error. On any error c is unchanged. */
int config_load_ini(Config *c, const char *path);
/* The same from INI text in memory (a checkpoint's copy of its config); name is for errors. */
int config_load_ini_text(Config *c, const char *text, const char *name);
int config_apply_arg(Config *c, const char *arg); /* "key=value" */
/* What config_differences compares: every key, or only those that change the training trajectory;
 * variant options: only those both configs' variants declare (runs), or every option of every
 * variant (an experiment's design: experiment.ini). */
enum { CONFIG_ALL_KEYS = 0, CONFIG_TRAJECTORY = 1, CONFIG_ALL_OPTIONS = 2 };
/* The first key (table order) whose value differs, with both values as config.ini writes them. */
typedef struct {
    char key[32], a[1100], b[1100];
} ConfigDiff;
/* Returns 1 and fills d when a key differs, 0 when all agree. */
int config_first_difference(const Config *a, const Config *b, int flags, ConfigDiff *d);
/* Every differing key (table order), up to max: the count. */
int config_differences(const Config *a, const Config *b, int flags, ConfigDiff *d, int max);
/* 1 for a key some variant declares as an option. */
int config_key_is_variant_option(const char *name);
/* Cross-key checks (divisibility, budgets, ranges that depend on each other). */
int config_validate(const Config *c);
/* Resolved config as INI text (malloc'd): the chosen variant's options only. */
char *config_to_ini(const Config *c);
/* Key's value in c as config.ini writes it (a core key, or any variant's option): 0, or -1 for an
 * unknown key. */
int config_format_key(const Config *c, const char *key, char *out, size_t n);
/* An experiment's design as INI text: every option of every variant (experiment.ini). */
char *config_design_to_ini(const Config *c);
/* Hash of every key that changes the training trajectory (not out/threads/log/ckpt cadence). */
uint64_t config_hash(const Config *c);
/* Derived sizes */
int config_mlp_hidden(const Config *c);
int config_n_sub(const Config *c); /* L = 2 * n_layer sublayers */
void config_print_keys(FILE *f);
/* Every installed variant with its summary and options (spec name, range, key, help, default). */
void config_print_variants(FILE *f);

#endif
