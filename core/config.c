#include "config.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "util.h"
#include "variant.h" /* the interface the core owns (core/variant.h) */

typedef enum { K_INT, K_LONG, K_DOUBLE, K_STR, K_CHOICE } KeyType;

/* When config.ini (and so the run hash) leaves a key out: never, when it has its default (a key
 * added later: runs made before it keep their identity), or unless optimizer=muon. */
enum { SHOW_ALWAYS = 0, SHOW_UNLESS_DEFAULT = 1, SHOW_IF_MUON = 2 };

static const char *const OPTIMIZERS[] = {"adamw", "muon", NULL};

typedef struct {
    const char *name;
    KeyType type;
    size_t offset, size;
    double min, max;
    int trajectory; /* changes the training trajectory, so it is part of the config hash */
    const char *help;
    int show;                   /* SHOW_*: when config.ini writes it */
    const char *const *choices; /* K_CHOICE: the NULL-terminated names (stored as an int) */
} KeySpec;

#define KI(f, lo, hi, tr, h)                                                                       \
    { #f, K_INT, offsetof(Config, f), 0, lo, hi, tr, h, SHOW_ALWAYS, NULL }
#define KL(f, lo, hi, tr, h)                                                                       \
    { #f, K_LONG, offsetof(Config, f), 0, lo, hi, tr, h, SHOW_ALWAYS, NULL }
#define KD(f, lo, hi, tr, h)                                                                       \
    { #f, K_DOUBLE, offsetof(Config, f), 0, lo, hi, tr, h, SHOW_ALWAYS, NULL }
#define KS(f, tr, h)                                                                               \
    { #f, K_STR, offsetof(Config, f), sizeof(((Config *)0)->f), 0, 0, tr, h, SHOW_ALWAYS, NULL }
#define KC(f, names, show, h)                                                                      \
    { #f, K_CHOICE, offsetof(Config, f), 0, 0, 0, 1, h, show, names }
#define KIS(f, lo, hi, show, h)                                                                    \
    { #f, K_INT, offsetof(Config, f), 0, lo, hi, 1, h, show, NULL }
#define KDS(f, lo, hi, show, h)                                                                    \
    { #f, K_DOUBLE, offsetof(Config, f), 0, lo, hi, 1, h, show, NULL }

static const KeySpec KEYS[] = {
    KI(n_layer, 1, 128, 1, "transformer blocks; sublayers L = 2*n_layer"),
    KI(d_model, 8, 16384, 1, "model width d"),
    KI(n_head, 1, 256, 1, "attention heads (d_model divisible by n_head, head size even)"),
    KI(seq_len, 2, 65536, 1, "tokens per sequence T"),
    KI(batch_size, 1, 65536, 1, "sequences per step B"),
    KI(mlp_hidden, 0, 1 << 20, 1, "SwiGLU hidden size (0 = 8/3*d_model rounded up to 64)"),
    KI(vocab_size, 2, 1 << 20, 1, "vocabulary (256 for bytes; llm.c shards need their own)"),
    KI(tie_embeddings, 0, 1, 1, "1 = LM head shares the token embedding"),
    KS(variant, 1, "residual variant, NAME or NAME:OPTION=VALUE,... (variants and options below)"),
    KD(rope_theta, 1, 1e9, 1, "RoPE base"),
    KD(init_std, 0, 10, 1, "std of weight init (output projections scaled by 1/sqrt(2*n_layer))"),
    KD(lr, 0, 10, 1, "peak learning rate"),
    KD(min_lr, 0, 10, 1, "final learning rate of the cosine decay"),
    KD(weight_decay, 0, 10, 1, "AdamW decoupled weight decay (matrices only)"),
    KD(grad_clip, 0, 1e9, 1, "global gradient-norm clip (0 = off)"),
    KD(beta1, 0, 0.999999, 1, "AdamW beta1"),
    KD(beta2, 0, 0.999999999, 1, "AdamW beta2"),
    KD(adam_eps, 1e-30, 1, 1, "AdamW epsilon"),
    KI(warmup, 0, 1 << 30, 1, "linear warmup steps"),
    KC(optimizer, OPTIMIZERS, SHOW_UNLESS_DEFAULT,
       "adamw | muon (Newton-Schulz-orthogonalised updates of the hidden weight matrices, AdamW "
       "for "
       "the rest; docs/optimizers.md)"),
    KDS(muon_momentum, 0, 0.999999, SHOW_IF_MUON, "Muon: momentum of the matrix updates"),
    KIS(muon_nesterov, 0, 1, SHOW_IF_MUON, "Muon: 1 = Nesterov momentum, 0 = plain momentum"),
    KL(steps, 0, 1L << 40, 1, "budget in optimizer steps"),
    KD(budget_tokens, 0, 1e18, 1, "budget in training tokens (steps = ceil(tokens / (B*T)))"),
    KD(budget_flops, 0, 1e24, 1, "budget in FLOPs (steps = floor(flops / flops_per_step))"),
    KI(eval_every, 0, 1 << 30, 0, "evaluate every N steps (0 = only at the end)"),
    KI(eval_tokens, 0, 1 << 30, 1,
       "validation tokens per evaluation, spread over the held-out split (0 = all of it)"),
    KI(log_every, 1, 1 << 30, 0, "write a metrics row every N steps"),
    KI(profile_every, 0, 1 << 30, 0,
       "write depth_attn.csv / mhc.csv every N steps (0 = at the end only)"),
    KI(profile_batches, 1, 64, 0,
       "validation batches profiled at each profile step (> 1: profile.csv gains a batch column)"),
    KI(ckpt_every, 0, 1 << 30, 0, "checkpoint every N steps (0 = at evaluations)"),
    KD(ckpt_minutes, 0, 1e6, 0,
       "also checkpoint when this many minutes passed since the last one (0 = off)"),
    KL(stop_at_step, 0, 1L << 40, 0,
       "stop after this step with a checkpoint, exit 3, resumable (0 = run to the end)"),
    KI(keep_ckpt, 0, 1, 0, "1 = a finished run keeps ckpt.bin (optimizer state) besides model.bin"),
    KL(seed, 0, 1L << 62, 1, "model seed (init)"),
    KL(data_seed, 0, 1L << 62, 1, "data seed (data order, synthetic worlds), independent of seed"),
    KI(threads, 0, 1024, 0, "OpenMP/OpenBLAS threads (0 = all cores)"),
    KS(backend, 1, "GEMM backend: openblas | onednn (docs/performance.md)"),
    KS(precision, 1, "matmul operands: fp32 | bf16 (bf16: backend=onednn, AVX512_BF16)"),
    KD(val_fraction, 0.001, 0.9, 1, "text/llmc: fraction held out for validation (the end)"),
    KS(data, 1, "synth:markov | synth:hops | synth:compose | text:PATH | llmc:GLOB"),
    KS(out, 0, "results root; the run writes OUT/RUN_ID/"),
    KS(run_id, 0, "run directory name (empty = VARIANT-sSEED-HASH)"),
    {"equivalence_margin", K_DOUBLE, offsetof(Config, equivalence_margin), 0, 0, 10, 0,
     "ablate/sweep: equivalence margin of the final validation loss in nats (0 = none), fixed "
     "in experiment.ini before the runs; report's TOST uses it (train ignores it)",
     SHOW_UNLESS_DEFAULT, NULL},
};
#define NKEYS (sizeof KEYS / sizeof KEYS[0])

static const VariantOps *const *variant_table;

/* The first declaration of option `key` in table, or NULL. */
static const VariantOption *declared_in(const VariantOps *const *table, const char *key) {
    for (int i = 0; table && table[i]; i++)
        for (int k = 0; k < table[i]->n_options; k++)
            if (!strcmp(table[i]->options[k].key, key)) return &table[i]->options[k];
    return NULL;
}

static int same_declaration(const VariantOption *a, const VariantOption *b) {
    int same_paper =
        a->paper_better == b->paper_better ||
        (a->paper_better && b->paper_better && !strcmp(a->paper_better, b->paper_better));
    return a == b || (!strcmp(a->name, b->name) && a->min == b->min && a->max == b->max &&
                      a->def == b->def && a->choices == b->choices && same_paper);
}

static const KeySpec *find_key(const char *name);
static int set_option(Config *c, const VariantOption *o, const char *value, const char *where);

/* One option's declaration: a key and a short name that fit, a default in its range, choices that
 * match the range. */
static int check_option(const VariantOps *v, const VariantOption *o) {
    if (!o->key || !o->name || !o->key[0] || !o->name[0] ||
        strlen(o->key) >= sizeof((ConfigOption *)0)->key)
        return rb_fail("variant %s: an option without a key or short name, or a key longer than "
                       "%zu characters",
                       v->name, sizeof((ConfigOption *)0)->key - 1);
    if (find_key(o->key))
        return rb_fail("variant %s: option key '%s' is a core key", v->name, o->key);
    int n = 0;
    while (o->choices && o->choices[n]) n++;
    if (o->choices && (o->min != 0 || o->max != n - 1))
        return rb_fail("variant %s: option '%s' has %d choices but the range [%g, %g]", v->name,
                       o->key, n, o->min, o->max);
    if (!(o->def >= o->min && o->def <= o->max) || o->def != floor(o->def))
        return rb_fail("variant %s: option '%s': default %g is not an integer in [%g, %g]", v->name,
                       o->key, o->def, o->min, o->max);
    if (o->paper_better) { /* a value of the option other than its default */
        Config scratch = {.n_opt = 0};
        if (set_option(&scratch, o, o->paper_better, "paper_better") != 0 ||
            scratch.opt[0].value == o->def)
            return rb_fail("variant %s: option '%s': paper_better '%s' is not one of its values "
                           "other than the default",
                           v->name, o->key, o->paper_better);
    }
    return 0;
}

int config_check_variants(const VariantOps *const *table) {
    int distinct = 0;
    for (int i = 0; table && table[i]; i++) {
        const VariantOps *v = table[i];
        if (!v->name || !v->name[0] || strlen(v->name) >= sizeof((Config *)0)->variant)
            return rb_fail("variant %d: no name, or a name longer than %zu characters", i,
                           sizeof((Config *)0)->variant - 1);
        for (int j = 0; j < i; j++)
            if (!strcmp(table[j]->name, v->name))
                return rb_fail("variant %s is installed twice", v->name);
        if (v->n_options < 0 || v->n_options > RB_MAX_VARIANT_OPTIONS ||
            (v->n_options && !v->options))
            return rb_fail("variant %s: %d options (allowed: 0..%d)", v->name, v->n_options,
                           RB_MAX_VARIANT_OPTIONS);
        for (int k = 0; k < v->n_options; k++) {
            const VariantOption *o = &v->options[k];
            if (check_option(v, o) != 0) return -1;
            for (int q = 0; q < k; q++)
                if (!strcmp(v->options[q].key, o->key) || !strcmp(v->options[q].name, o->name))
                    return rb_fail("variant %s: option '%s' is declared twice", v->name, o->key);
            const VariantOption *first = declared_in(table, o->key);
            if (!same_declaration(first, o))
                return rb_fail("variant %s: option '%s' differs from another variant's option of "
                               "that key (a key is shared only by one declaration)",
                               v->name, o->key);
            int earlier = 0; /* declared by an earlier variant of the table */
            for (int j = 0; j < i && !earlier; j++)
                for (int q = 0; q < table[j]->n_options; q++)
                    earlier |= !strcmp(table[j]->options[q].key, o->key);
            distinct += !earlier;
        }
    }
    if (distinct > RB_MAX_CONFIG_OPTIONS)
        return rb_fail("the variants declare %d option keys; a config holds at most %d "
                       "(RB_MAX_CONFIG_OPTIONS)",
                       distinct, RB_MAX_CONFIG_OPTIONS);
    return 0;
}

int config_use_variants(const VariantOps *const *table) {
    if (config_check_variants(table) != 0)
        return rb_fail("internal error in the variant table: %s", rb_error());
    variant_table = table;
    return 0;
}

static const VariantOps *find_variant(const char *name) {
    for (int i = 0; variant_table && variant_table[i]; i++)
        if (strcmp(variant_table[i]->name, name) == 0) return variant_table[i];
    return NULL;
}

static const VariantOption *variant_option(const VariantOps *v, const char *key_or_name) {
    for (int k = 0; v && k < v->n_options; k++)
        if (!strcmp(v->options[k].key, key_or_name) || !strcmp(v->options[k].name, key_or_name))
            return &v->options[k];
    return NULL;
}

/* The declaration of config key `key` by any variant (flavours may share one), or NULL. */
static const VariantOption *any_option(const char *key) {
    return declared_in(variant_table, key);
}

static const ConfigOption *given_option(const Config *c, const char *key) {
    for (int i = 0; i < c->n_opt; i++)
        if (!strcmp(c->opt[i].key, key)) return &c->opt[i];
    return NULL;
}

/* A key no installed variant declares is a misspelling in the code that reads it: it stops the
 * program with the key's name instead of returning a value nothing could check (NaN cast to int).
 */
double config_option(const Config *c, const char *key) {
    const VariantOption *o = variant_option(c->vt, key);
    if (!o) o = any_option(key);
    if (!o) {
        fprintf(stderr,
                "resbench: internal error: option '%s' is read but no installed variant "
                "declares it (a misspelt key in the code)\n",
                key);
        abort();
    }
    const ConfigOption *g = given_option(c, o->key);
    return g ? g->value : o->def;
}

int config_option_int(const Config *c, const VariantOption *o) {
    const VariantOps *v = c->vt;
    if (!v || !o || o < v->options || o >= v->options + v->n_options) {
        fprintf(stderr,
                "resbench: internal error: variant %s reads option '%s', which is not in "
                "its own option table\n",
                v ? v->name : "(none)", o ? o->key : "(null)");
        abort();
    }
    const ConfigOption *g = given_option(c, o->key);
    return (int)(g ? g->value : o->def);
}

static void list_names(char *buf, size_t n, const char *const *names, const char *sep) {
    buf[0] = 0;
    for (int i = 0; names[i]; i++) {
        if (i) strncat(buf, sep, n - strlen(buf) - 1);
        strncat(buf, names[i], n - strlen(buf) - 1);
    }
}

static int set_option(Config *c, const VariantOption *o, const char *value, const char *where) {
    double v;
    if (o->choices) {
        int k = 0;
        while (o->choices[k] && strcmp(o->choices[k], value)) k++;
        if (!o->choices[k]) {
            char allowed[256];
            list_names(allowed, sizeof allowed, o->choices, "|");
            return rb_fail("%s: key '%s': '%s' is not allowed (allowed: %s)", where, o->key, value,
                           allowed);
        }
        v = k;
    } else {
        char *end;
        errno = 0;
        v = strtod(value, &end);
        if (end == value || *end || errno == ERANGE || !isfinite(v) || v != floor(v))
            return rb_fail("%s: key '%s': '%s' is not an integer", where, o->key, value);
        if (v < o->min || v > o->max)
            return rb_fail("%s: key '%s': %s is out of range [%.0f, %.0f]", where, o->key, value,
                           o->min, o->max);
    }
    ConfigOption *g = (ConfigOption *)given_option(c, o->key);
    if (!g) {
        if (c->n_opt == RB_MAX_CONFIG_OPTIONS)
            return rb_fail("%s: more than %d variant options", where, RB_MAX_CONFIG_OPTIONS);
        g = &c->opt[c->n_opt++];
        snprintf(g->key, sizeof g->key, "%s", o->key);
    }
    g->value = v;
    return 0;
}

/* "NAME" or "NAME:OPT=VALUE,OPT=VALUE": the variant, then its options (short names or keys). */
int config_set_variant(Config *c, const char *spec, const char *where) {
    char buf[512], allowed[512] = "";
    if (rb_copy_str(buf, sizeof buf, spec) != 0)
        return rb_fail("%s: key 'variant': '%s' is too long", where, spec);
    char *opts = strchr(buf, ':');
    if (opts) *opts++ = 0;
    const VariantOps *v = find_variant(buf);
    if (!v) {
        for (int i = 0; variant_table && variant_table[i]; i++) {
            if (i) strncat(allowed, "|", sizeof allowed - strlen(allowed) - 1);
            strncat(allowed, variant_table[i]->name, sizeof allowed - strlen(allowed) - 1);
        }
        return rb_fail("%s: key 'variant': unknown value '%s' (allowed: %s)", where, buf, allowed);
    }
    if (opts && !*opts)
        return rb_fail("%s: key 'variant': '%s' has no option after ':'", where, spec);
    for (char *save = NULL, *tok = opts ? strtok_r(opts, ",", &save) : NULL; tok;
         tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (eq) *eq = 0;
        const VariantOption *o = variant_option(v, tok);
        if (!o || !eq) {
            allowed[0] = 0;
            for (int k = 0; k < v->n_options; k++) {
                if (k) strncat(allowed, ", ", sizeof allowed - strlen(allowed) - 1);
                strncat(allowed, v->options[k].name, sizeof allowed - strlen(allowed) - 1);
            }
            return rb_fail("%s: key 'variant': '%s' %s (options of %s: %s)", where, tok,
                           o ? "needs =VALUE" : "is not an option", v->name,
                           v->n_options ? allowed : "none");
        }
        if (set_option(c, o, eq + 1, where) != 0) return -1;
    }
    snprintf(c->variant, sizeof c->variant, "%s", v->name);
    c->vt = v;
    return 0;
}

/* `variant = SPEC` (a file's line or an argument) states the whole arm: every variant option set
 * before it goes back to its default, then the spec's own options apply (docs/usage.md). On an
 * error c is unchanged. */
static int set_whole_arm(Config *c, const char *spec, const char *where) {
    Config t = *c;
    t.n_opt = 0;
    if (config_set_variant(&t, spec, where) != 0) return -1;
    *c = t;
    return 0;
}

void config_defaults(Config *c) {
    memset(c, 0, sizeof *c);
    c->n_layer = 4;
    c->d_model = 96;
    c->n_head = 3;
    c->seq_len = 64;
    c->batch_size = 16;
    c->vocab_size = 256;
    snprintf(c->variant, sizeof c->variant, "prenorm");
    c->vt = find_variant(c->variant);
    c->rope_theta = 10000;
    c->init_std = 0.02;
    c->lr = 3e-3;
    c->min_lr = 3e-4;
    c->weight_decay = 0.1;
    c->grad_clip = 1.0;
    c->profile_batches = 1;
    c->beta1 = 0.9;
    c->beta2 = 0.95;
    c->adam_eps = 1e-8;
    c->warmup = 40;
    c->optimizer = RB_OPT_ADAMW;
    c->muon_momentum = 0.95;
    c->muon_nesterov = 1;
    c->steps = 1000;
    c->eval_every = 250;
    c->eval_tokens = 16384;
    c->log_every = 10;
    c->ckpt_minutes = 5;
    c->seed = 1;
    c->data_seed = 1;
    c->val_fraction = 0.1;
    snprintf(c->data, sizeof c->data, "synth:markov");
    snprintf(c->backend, sizeof c->backend, "openblas");
    snprintf(c->precision, sizeof c->precision, "fp32");
    snprintf(c->out, sizeof c->out, "results");
}

static const KeySpec *find_key(const char *name) {
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(KEYS[i].name, name) == 0) return &KEYS[i];
    return NULL;
}

static int parse_number(const KeySpec *k, const char *value, double *out) {
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    while (*end == ' ' || *end == '\t') end++;
    if (end == value || *end != 0 || errno == ERANGE || !isfinite(v)) return -1;
    if (k->type != K_DOUBLE && v != floor(v)) return -1;
    *out = v;
    return 0;
}

/* A budget the user sets replaces the defaulted one (steps=1000): setting budget_tokens alone is
 * enough. Budgets the user set themselves are never cleared, so two of them stay an error. */
static void set_budget(Config *c, const char *key, double v) {
    static const char *const names[3] = {"steps", "budget_tokens", "budget_flops"};
    int b = 0;
    while (b < 3 && strcmp(names[b], key) != 0) b++;
    if (b == 3) return;
    if (v == 0) {
        c->budget_set &= ~(1u << b);
        return;
    }
    c->budget_set |= 1u << b;
    if (!(c->budget_set & 1u)) c->steps = 0;
    if (!(c->budget_set & 2u)) c->budget_tokens = 0;
    if (!(c->budget_set & 4u)) c->budget_flops = 0;
}

int config_set(Config *c, const char *key, const char *value, const char *where) {
    const KeySpec *k = find_key(key);
    if (!k) {
        const VariantOption *o = any_option(key);
        if (o) return set_option(c, o, value, where);
        return rb_fail("%s: unknown key '%s' (see `resbench train --help` for the keys)", where,
                       key);
    }
    char *field = (char *)c + k->offset;
    if (k->type == K_STR) {
        /* the resolved config.ini line "key = value" must fit in an INI line */
        /* a variant spec may be longer than the name it stores (NAME:OPTION=VALUE,...) */
        size_t max = !strcmp(key, "variant") ? 511 : k->size - 1;
        size_t line_max = INI_MAX_LINE - 2 - strlen(key) - 3;
        if (line_max < max) max = line_max;
        if (strlen(value) > max)
            return rb_fail("%s: key '%s': value is longer than %zu characters", where, key, max);
        for (const unsigned char *p = (const unsigned char *)value; *p; p++)
            if (*p < 0x20 || *p == 0x7f || *p == ';' || *p == '#')
                return rb_fail("%s: key '%s': the value contains %s%s (not allowed: the resolved "
                               "config.ini could not store it)",
                               where, key, *p < 0x20 || *p == 0x7f ? "a control character" : "'",
                               *p < 0x20 || *p == 0x7f ? "" : (*p == ';' ? ";'" : "#'"));
        size_t len = strlen(value);
        if (len && (value[0] == ' ' || value[0] == '\t' || value[len - 1] == ' ' ||
                    value[len - 1] == '\t'))
            return rb_fail("%s: key '%s': '%s' starts or ends with white space", where, key, value);
        if (!strcmp(key, "variant")) return set_whole_arm(c, value, where);
        if (!strcmp(key, "backend") && gemm_backend_index(value) < 0)
            return rb_fail("%s: key 'backend': unknown value '%s' (allowed: openblas|onednn)",
                           where, value);
        if (!strcmp(key, "precision") && gemm_precision_index(value) < 0)
            return rb_fail("%s: key 'precision': unknown value '%s' (allowed: fp32|bf16)", where,
                           value);
        if (!strcmp(key, "run_id") && value[0] && !rb_is_plain_name(value))
            return rb_fail("%s: key 'run_id': '%s' is not a plain directory name (no '/', not "
                           "starting with '.'): runs are written inside out",
                           where, value);
        snprintf(field, k->size, "%s", value);
        return 0;
    }
    if (k->type == K_CHOICE) {
        int i = 0;
        while (k->choices[i] && strcmp(k->choices[i], value)) i++;
        if (!k->choices[i]) {
            char allowed[256];
            list_names(allowed, sizeof allowed, k->choices, "|");
            return rb_fail("%s: key '%s': '%s' is not allowed (allowed: %s)", where, key, value,
                           allowed);
        }
        *(int *)field = i;
        return 0;
    }
    double v;
    if (parse_number(k, value, &v) != 0)
        return rb_fail("%s: key '%s': '%s' is not %s", where, key, value,
                       k->type == K_DOUBLE ? "a finite number" : "an integer");
    if (v < k->min || v > k->max) {
        if (k->type == K_DOUBLE)
            return rb_fail("%s: key '%s': %s is out of range [%g, %g]", where, key, value, k->min,
                           k->max);
        return rb_fail("%s: key '%s': %s is out of range [%.0f, %.0f]", where, key, value, k->min,
                       k->max);
    }
    if (k->type == K_INT)
        *(int *)field = (int)v;
    else if (k->type == K_LONG)
        *(long *)field = (long)v;
    else
        memcpy(field, &v, sizeof v); /* the field is a double member of Config */
    set_budget(c, key, v);
    return 0;
}

typedef struct {
    Config *c;
    const char *path;
    int failed;
    FILE *f;
    int line, too_long;
    unsigned char seen[NKEYS]; /* a key given twice (in any sections) is an error */
    /* the file's variant options, applied after the whole file (so after its variant line,
     * wherever it stands): key, value and line of each */
    char opt_key[RB_MAX_CONFIG_OPTIONS][32], opt_value[RB_MAX_CONFIG_OPTIONS][INI_MAX_LINE];
    int opt_line[RB_MAX_CONFIG_OPTIONS], n_opt;
    int variant_line; /* the line of the file's variant key, 0 if it has none */
} IniCtx;

/* fgets for inih that stops at a line inih would split (longer than INI_MAX_LINE - 2). */
static char *read_ini_line(char *str, int num, void *stream) {
    IniCtx *ctx = stream;
    char *r = fgets(str, num, ctx->f);
    if (!r) return NULL;
    ctx->line++;
    size_t n = strlen(r);
    if (n == (size_t)num - 1 && r[n - 1] != '\n' && !feof(ctx->f)) {
        ctx->too_long = 1;
        return NULL;
    }
    return r;
}

static int config_ini_handler(void *user, const char *section, const char *name,
                              const char *value) {
    IniCtx *ctx = user;
    (void)section; /* sections only group keys for the reader; names are global */
    if (ctx->failed) return 0;
    char where[1200];
    snprintf(where, sizeof where, "config %s:%d", ctx->path, ctx->line);
    const KeySpec *k = find_key(name);
    int again = k && ctx->seen[k - KEYS]++;
    const VariantOption *o = k ? NULL : any_option(name);
    for (int i = 0; o && i < ctx->n_opt; i++) again |= !strcmp(ctx->opt_key[i], name);
    if (again) {
        rb_fail("%s: key '%s' is given a second time (each key once per file, in any section)",
                where, name);
        ctx->failed = 1;
        return 0;
    }
    if (o) { /* checked now (one line naming it), applied after the file's variant line */
        Config probe;
        config_defaults(&probe);
        /* at most one entry per declared key: config_check_variants keeps their number within
         * RB_MAX_CONFIG_OPTIONS */
        if (set_option(&probe, o, value, where) != 0 || ctx->n_opt == RB_MAX_CONFIG_OPTIONS) {
            if (ctx->n_opt == RB_MAX_CONFIG_OPTIONS)
                rb_fail("%s: more than %d variant options", where, RB_MAX_CONFIG_OPTIONS);
            ctx->failed = 1;
            return 0;
        }
        snprintf(ctx->opt_key[ctx->n_opt], sizeof ctx->opt_key[0], "%s", name);
        snprintf(ctx->opt_value[ctx->n_opt], sizeof ctx->opt_value[0], "%s", value);
        ctx->opt_line[ctx->n_opt++] = ctx->line;
        return 1;
    }
    if (!strcmp(name, "variant")) ctx->variant_line = ctx->line > 0 ? ctx->line : 1;
    if (config_set(ctx->c, name, value, where) != 0) {
        ctx->failed = 1;
        return 0;
    }
    return 1;
}

/* The file's variant options, after its variant line: a spec states the whole arm, and the file's
 * keys refine it. An option both in the file's spec and as a key of the same file is given twice.
 */
static int apply_file_options(IniCtx *ctx) {
    for (int i = 0; i < ctx->n_opt; i++) {
        char where[1200];
        snprintf(where, sizeof where, "config %s:%d", ctx->path, ctx->opt_line[i]);
        if (ctx->variant_line && given_option(ctx->c, ctx->opt_key[i]))
            return rb_fail("%s: key '%s' is given a second time (also in the variant spec of "
                           "line %d; each option once per file)",
                           where, ctx->opt_key[i], ctx->variant_line);
    }
    for (int i = 0; i < ctx->n_opt; i++) {
        char where[1200];
        snprintf(where, sizeof where, "config %s:%d", ctx->path, ctx->opt_line[i]);
        if (config_set(ctx->c, ctx->opt_key[i], ctx->opt_value[i], where) != 0) return -1;
    }
    return 0;
}

/* Reads the whole file before changing c: a file that fails leaves c as it was. */
int config_load_ini(Config *c, const char *path) {
    if (rb_check_regular(path) != 0) return rb_fail("config: %s", rb_error());
    Config t = *c;
    IniCtx ctx = {.c = &t, .path = path, .f = fopen(path, "r")};
    if (!ctx.f) return rb_fail("config %s: cannot open: %s", path, strerror(errno));
    int line = ini_parse_stream(read_ini_line, &ctx, config_ini_handler, &ctx);
    fclose(ctx.f);
    if (ctx.failed) return -1;
    if (ctx.too_long)
        return rb_fail("config %s: line %d is longer than %d characters", path, ctx.line,
                       INI_MAX_LINE - 2);
    if (line != 0)
        return rb_fail("config %s: line %d: syntax error (expected 'key = value' or [section])",
                       path, line);
    if (apply_file_options(&ctx) != 0) return -1;
    *c = t;
    return 0;
}

int config_load_ini_text(Config *c, const char *text, const char *name) {
    Config t = *c;
    IniCtx ctx = {.c = &t, .path = name};
    int line = ini_parse_string(text, config_ini_handler, &ctx);
    if (ctx.failed) return -1;
    if (line != 0) return rb_fail("config %s: line %d: syntax error", name, line);
    if (apply_file_options(&ctx) != 0) return -1;
    *c = t;
    return 0;
}

int config_apply_arg(Config *c, const char *arg) {
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) return rb_fail("argument '%s': expected key=value", arg);
    char key[128];
    size_t n = (size_t)(eq - arg);
    if (n >= sizeof key) return rb_fail("argument '%s': key too long", arg);
    memcpy(key, arg, n);
    key[n] = 0;
    return config_set(c, key, eq + 1, "argument");
}

int config_mlp_hidden(const Config *c) {
    if (c->mlp_hidden > 0) return c->mlp_hidden;
    int h = (8 * c->d_model + 2) / 3;
    return (h + 63) / 64 * 64;
}

int config_n_sub(const Config *c) {
    return 2 * c->n_layer;
}

int config_validate(const Config *c) {
    if (c->d_model % c->n_head != 0)
        return rb_fail("d_model=%d is not divisible by n_head=%d", c->d_model, c->n_head);
    if ((c->d_model / c->n_head) % 2 != 0)
        return rb_fail("head size d_model/n_head=%d must be even (RoPE rotates pairs)",
                       c->d_model / c->n_head);
    int nbudget = (c->steps > 0) + (c->budget_tokens > 0) + (c->budget_flops > 0);
    if (nbudget != 1)
        return rb_fail(
            "exactly one of steps, budget_tokens, budget_flops must be > 0 (got steps=%ld "
            "budget_tokens=%g budget_flops=%g); set one of them",
            c->steps, c->budget_tokens, c->budget_flops);
    if (c->min_lr > c->lr) return rb_fail("min_lr=%g is larger than lr=%g", c->min_lr, c->lr);
    if (c->eval_tokens > 0 && c->eval_tokens < c->seq_len)
        return rb_fail("eval_tokens=%d is smaller than seq_len=%d", c->eval_tokens, c->seq_len);
    const VariantOps *v = c->vt;
    if (!v || strcmp(v->name, c->variant))
        return rb_fail("key 'variant': '%s' is not resolved (config_set_variant)", c->variant);
    if (v->check_config && v->check_config(c) != 0) return -1;
    Config d;
    config_defaults(&d);
    if (c->optimizer != RB_OPT_MUON && c->muon_momentum != d.muon_momentum)
        return rb_fail("key 'muon_momentum': %g has no effect with optimizer=adamw (set "
                       "optimizer=muon, or leave the key out)",
                       c->muon_momentum);
    if (c->optimizer != RB_OPT_MUON && c->muon_nesterov != d.muon_nesterov)
        return rb_fail("key 'muon_nesterov': %d has no effect with optimizer=adamw (set "
                       "optimizer=muon, or leave the key out)",
                       c->muon_nesterov);
    return gemm_check(gemm_backend_index(c->backend), gemm_precision_index(c->precision));
}

static void append(char **buf, size_t *len, size_t *cap, const char *s) {
    size_t n = strlen(s);
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *buf = rb_realloc(*buf, *cap, "writing config");
    }
    memcpy(*buf + *len, s, n + 1);
    *len += n;
}

static void format_value(const Config *c, const KeySpec *k, char *out, size_t n) {
    const char *field = (const char *)c + k->offset;
    if (k->type == K_INT)
        snprintf(out, n, "%d", *(const int *)field);
    else if (k->type == K_LONG)
        snprintf(out, n, "%ld", *(const long *)field);
    else if (k->type == K_CHOICE)
        snprintf(out, n, "%s", k->choices[*(const int *)field]);
    else if (k->type == K_DOUBLE) { /* shortest text that reads back to the same double */
        double v;
        memcpy(&v, field, sizeof v);
        rb_fmt_double(out, n, v);
    } else
        snprintf(out, n, "%s", field);
}

/* An option's value as config.ini writes it: the choice's name, or the integer. */
static void option_text(const VariantOption *o, double v, char *out, size_t n) {
    if (o->choices)
        snprintf(out, n, "%s", o->choices[(int)v]);
    else
        snprintf(out, n, "%.0f", v);
}

void config_format_option(const Config *c, const VariantOption *o, char *out, size_t n) {
    option_text(o, config_option(c, o->key), out, n);
}

int config_format_key(const Config *c, const char *key, char *out, size_t n) {
    const KeySpec *k = find_key(key);
    if (k) {
        format_value(c, k, out, n);
        return 0;
    }
    const VariantOption *o = variant_option(c->vt, key);
    if (!o) o = any_option(key);
    if (!o) return -1;
    option_text(o, config_option(c, o->key), out, n);
    return 0;
}

/* The variant options a text or a comparison covers, after the `variant` line: the chosen
 * variant's (all_options = 0), or every variant's, each key once (an experiment's design). */
_Static_assert(RB_MAX_CONFIG_OPTIONS <= 64, "options_of's 64 entries hold every declared key");
static int options_of(const Config *c, int all_options, const VariantOption **out) {
    int n = 0;
    if (!all_options) {
        for (int k = 0; c->vt && k < c->vt->n_options && n < 64; k++) out[n++] = &c->vt->options[k];
        return n;
    }
    for (int i = 0; variant_table && variant_table[i]; i++)
        for (int k = 0; k < variant_table[i]->n_options && n < 64; k++) {
            const VariantOption *o = &variant_table[i]->options[k];
            int listed = 0; /* flavours may share a declaration: each key once */
            for (int j = 0; j < n; j++) listed |= !strcmp(out[j]->key, o->key);
            if (!listed) out[n++] = any_option(o->key);
        }
    return n;
}

/* Whether config.ini writes key k of c (SHOW_*): a key left out reads back as its default. */
static int key_shown(const Config *c, const KeySpec *k) {
    if (k->show == SHOW_IF_MUON) return c->optimizer == RB_OPT_MUON;
    if (k->show != SHOW_UNLESS_DEFAULT) return 1;
    Config d;
    config_defaults(&d);
    char a[1100], b[1100];
    format_value(c, k, a, sizeof a);
    format_value(&d, k, b, sizeof b);
    return strcmp(a, b) != 0;
}

/* Keys added after runs were recorded: the hash leaves them out at their default, so the run ids
 * of those runs (which trained with the default) stay what they were. */
static int hashed_only_off_default(const Config *c, const KeySpec *k) {
    Config d;
    char val[64], def[64];
    if (strcmp(k->name, "backend") && strcmp(k->name, "precision")) return 0;
    config_defaults(&d);
    format_value(c, k, val, sizeof val);
    format_value(&d, k, def, sizeof def);
    return !strcmp(val, def);
}

static char *config_text(const Config *c, int trajectory_only, int all_options) {
    char *buf = NULL;
    size_t len = 0, cap = 0;
    append(&buf, &len, &cap, "# resbench resolved config\n");
    for (size_t i = 0; i < NKEYS; i++) {
        if (trajectory_only && (!KEYS[i].trajectory || hashed_only_off_default(c, &KEYS[i])))
            continue;
        if (!key_shown(c, &KEYS[i])) continue;
        char line[1400], val[1100];
        format_value(c, &KEYS[i], val, sizeof val);
        snprintf(line, sizeof line, "%s = %s\n", KEYS[i].name, val);
        append(&buf, &len, &cap, line);
        if (strcmp(KEYS[i].name, "variant")) continue;
        const VariantOption *opts[64];
        int n = options_of(c, all_options, opts);
        for (int k = 0; k < n; k++) {
            config_format_option(c, opts[k], val, sizeof val);
            snprintf(line, sizeof line, "%s = %s\n", opts[k]->key, val);
            append(&buf, &len, &cap, line);
        }
    }
    return buf;
}

int config_key_is_variant_option(const char *name) {
    return !find_key(name) && any_option(name) != NULL;
}

int config_differences(const Config *a, const Config *b, int flags, ConfigDiff *d, int max) {
    int n = 0;
    for (size_t i = 0; i < NKEYS && n < max; i++) {
        if ((flags & CONFIG_TRAJECTORY) && !KEYS[i].trajectory) continue;
        format_value(a, &KEYS[i], d[n].a, sizeof d[n].a);
        format_value(b, &KEYS[i], d[n].b, sizeof d[n].b);
        if (strcmp(d[n].a, d[n].b) != 0) snprintf(d[n++].key, sizeof d->key, "%s", KEYS[i].name);
        if (strcmp(KEYS[i].name, "variant")) continue;
        const VariantOption *opts[64];
        int no = options_of(a, (flags & CONFIG_ALL_OPTIONS) != 0, opts);
        for (int k = 0; k < no && n < max; k++) {
            if (!(flags & CONFIG_ALL_OPTIONS) && !variant_option(b->vt, opts[k]->key)) continue;
            config_format_option(a, opts[k], d[n].a, sizeof d[n].a);
            config_format_option(b, opts[k], d[n].b, sizeof d[n].b);
            if (strcmp(d[n].a, d[n].b) != 0)
                snprintf(d[n++].key, sizeof d->key, "%s", opts[k]->key);
        }
    }
    return n;
}

int config_first_difference(const Config *a, const Config *b, int flags, ConfigDiff *d) {
    return config_differences(a, b, flags, d, 1) > 0;
}

char *config_to_ini(const Config *c) {
    return config_text(c, 0, 0);
}

char *config_design_to_ini(const Config *c) {
    return config_text(c, 0, 1);
}

uint64_t config_hash(const Config *c) {
    char *t = config_text(c, 1, 0);
    uint64_t h = rb_hash_str(RB_HASH_SEED, t);
    free(t);
    return h;
}

void config_print_keys(FILE *f) {
    Config d;
    config_defaults(&d);
    for (size_t i = 0; i < NKEYS; i++) {
        char val[1100];
        format_value(&d, &KEYS[i], val, sizeof val);
        fprintf(f, "  %-15s %-14s %s\n", KEYS[i].name, val, KEYS[i].help);
    }
}

void config_print_variants(FILE *f) {
    for (int i = 0; variant_table && variant_table[i]; i++) {
        const VariantOps *v = variant_table[i];
        fprintf(f, "  %-15s %s\n", v->name, v->summary);
        for (int k = 0; k < v->n_options; k++) {
            const VariantOption *o = &v->options[k];
            char range[256], def[64];
            if (o->choices)
                list_names(range, sizeof range, o->choices, "|");
            else
                snprintf(range, sizeof range, "%.0f..%.0f", o->min, o->max);
            option_text(o, o->def, def, sizeof def);
            fprintf(f, "      %s=%s (key %s, %s, default %s)\n", o->name, range, o->key, o->help,
                    def);
        }
    }
}
