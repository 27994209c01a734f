/* Config: every bad input is a one-line error naming the key/file/value; the resolved config
 * round-trips; the trajectory hash ignores only keys that cannot change the losses. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "registry.h"
#include "testutil.h"
#include "variant.h"

static void expect_arg_error(const char *arg, const char *needle) {
    Config c;
    config_defaults(&c);
    ck_assert_msg(config_apply_arg(&c, arg) != 0, "accepted %s", arg);
    ck_assert_msg(strstr(rb_error(), needle), "error for %s: '%s' lacks '%s'", arg, rb_error(),
                  needle);
    ck_assert(!strchr(rb_error(), '\n'));
}

START_TEST(test_bad_arguments) {
    expect_arg_error("n_layers=4", "unknown key 'n_layers'");
    expect_arg_error("n_layer=abc", "'abc' is not an integer");
    expect_arg_error("n_layer=1.5", "not an integer");
    expect_arg_error("n_layer=0", "out of range [1, 128]");
    expect_arg_error("lr=nan", "not a finite number");
    expect_arg_error("lr=-1", "out of range");
    expect_arg_error("lr=", "not a finite number");
    expect_arg_error("justakey", "expected key=value");
    expect_arg_error("=3", "expected key=value");
    /* values the resolved config.ini could not store (found by fuzz_config) */
    expect_arg_error("data=text:a;b", "contains ';'");
    expect_arg_error("out=#x", "contains '#'");
    expect_arg_error("run_id=a\tb", "control character");
    expect_arg_error("out=dir ", "starts or ends with white space");
    expect_arg_error("run_id=../escape", "not a plain directory name");
    expect_arg_error("run_id=a/b", "not a plain directory name");
    expect_arg_error("run_id=..", "not a plain directory name");
    expect_arg_error("run_id=.", "not a plain directory name");
    expect_arg_error("variant=resnet", "unknown value 'resnet' (allowed: prenorm|attnres_full");
    expect_arg_error("variant=attnres_block:temperature=2",
                     "'temperature' is not an option (options of attnres_block: blocks, size, "
                     "score, keynorm, query, window, heads)");
    expect_arg_error("variant=attnres_full:score=tanh",
                     "key 'attnres_score': 'tanh' is not allowed (allowed: softmax|sigmoid)");
    expect_arg_error("variant=prenorm:blocks=2", "options of prenorm: none");
    expect_arg_error("variant=attnres_block:blocks", "'blocks' needs =VALUE");
    expect_arg_error("variant=attnres_block:", "has no option after ':'");
    expect_arg_error("attnres_blocks=0", "key 'attnres_blocks': 0 is out of range [1, 256]");
    expect_arg_error("mhc_streams=2.5", "key 'mhc_streams': '2.5' is not an integer");
    expect_arg_error("variant=mhc:streams=9", "key 'mhc_streams': 9 is out of range [2, 8]");
    char long_arg[320] = "data=";
    memset(long_arg + 5, 'y', 250);
    expect_arg_error(long_arg, "value is longer than 191 characters"); /* INI line limit */
}
END_TEST

static void expect_invalid(const char *a, const char *b, const char *needle) {
    Config c;
    config_defaults(&c);
    ck_assert(config_apply_arg(&c, a) == 0);
    if (b) ck_assert(config_apply_arg(&c, b) == 0);
    ck_assert_msg(config_validate(&c) != 0, "accepted %s %s", a, b ? b : "");
    ck_assert_msg(strstr(rb_error(), needle), "'%s' lacks '%s'", rb_error(), needle);
}

START_TEST(test_cross_key_validation) {
    Config c;
    config_defaults(&c);
    ck_assert_msg(config_validate(&c) == 0, "defaults invalid: %s", rb_error());
    expect_invalid("d_model=100", "n_head=3", "not divisible by n_head=3");
    expect_invalid("d_model=24", "n_head=8", "must be even");
    expect_invalid("budget_tokens=1e6", "steps=30", "exactly one of steps"); /* two set */
    expect_invalid("steps=0", NULL, "exactly one of steps");
    /* a budget the user sets replaces the defaulted steps=1000 */
    config_defaults(&c);
    ck_assert(config_apply_arg(&c, "budget_tokens=1e6") == 0);
    ck_assert_msg(config_validate(&c) == 0, "%s", rb_error());
    ck_assert(c.steps == 0 && c.budget_tokens == 1e6);
    ck_assert(config_apply_arg(&c, "budget_flops=1e12") == 0); /* now two the user set */
    ck_assert(config_validate(&c) != 0 && strstr(rb_error(), "budget_flops=1e+12"));
    expect_invalid("min_lr=1", NULL, "min_lr=1 is larger than lr");
    expect_invalid("eval_tokens=10", NULL, "smaller than seq_len");
}
END_TEST

/* Variant options belong to their variant: a spec sets them, only the chosen variant's enter the
 * run's config.ini and hash, and an experiment's design lists every variant's. */
START_TEST(test_variant_options) {
    Config a, b;
    config_defaults(&a);
    config_defaults(&b);
    /* one key's text, as config.ini writes it: core keys and any variant's options */
    char text[64];
    ck_assert(config_format_key(&a, "n_layer", text, sizeof text) == 0);
    ck_assert_str_eq(text, "4");
    ck_assert(config_format_key(&a, "attnres_score", text, sizeof text) == 0);
    ck_assert_str_eq(text, "softmax");
    ck_assert(config_format_key(&a, "data", text, sizeof text) == 0);
    ck_assert_str_eq(text, "synth:markov");
    ck_assert(config_format_key(&a, "no_such_key", text, sizeof text) == -1);
    uint64_t plain = config_hash(&a);
    tu_set(&b, "mhc_streams", "8"); /* another variant's option: not part of a prenorm run */
    tu_set(&b, "attnres_blocks", "2");
    ck_assert(config_hash(&b) == plain);
    char *ini = tu_keep(config_to_ini(&b));
    ck_assert_msg(!strstr(ini, "mhc_streams") && !strstr(ini, "attnres_blocks"), "%s", ini);
    char *design = tu_keep(config_design_to_ini(&b));
    ck_assert_msg(strstr(design, "attnres_blocks = 2\nattnres_block_size = 0\nmhc_streams = 8\n"
                                 "sinkhorn_iters = 20\n"),
                  "%s", design);
    /* a variant spec states the whole arm: the options set before it return to their defaults */
    tu_set(&b, "variant", "mhc");
    ini = tu_keep(config_to_ini(&b));
    ck_assert_msg(strstr(ini, "variant = mhc\nmhc_streams = 4\nsinkhorn_iters = 20\n"), "%s", ini);
    /* the chosen variant's options (given or default) follow its name */
    tu_set(&b, "mhc_streams", "8");
    tu_set(&b, "attnres_blocks", "2");
    ini = tu_keep(config_to_ini(&b));
    ck_assert_msg(strstr(ini, "variant = mhc\nmhc_streams = 8\nsinkhorn_iters = 20\n"), "%s", ini);
    ck_assert(!strstr(ini, "attnres_blocks"));
    /* the spec form is the same config as the keys */
    tu_set(&a, "variant", "mhc:streams=8");
    ck_assert(config_hash(&a) != plain);
    tu_set(&a, "attnres_blocks", "2");
    ck_assert(config_hash(&a) == config_hash(&b));
    ck_assert(config_option(&a, "mhc_streams") == 8 && config_option(&a, "sinkhorn_iters") == 20);
    /* runs compare only the options both variants have; a design compares every option */
    ConfigDiff d;
    Config p;
    config_defaults(&p);
    ck_assert(config_differences(&a, &p, CONFIG_TRAJECTORY, &d, 1) == 1 &&
              !strcmp(d.key, "variant"));
    tu_set(&p, "variant", "hc");
    ck_assert(config_first_difference(&a, &p, CONFIG_TRAJECTORY, &d));
    ck_assert_msg(!strcmp(d.key, "variant"), "%s", d.key);
    ConfigDiff all[8];
    int n = config_differences(&a, &p, CONFIG_TRAJECTORY, all, 8);
    ck_assert_int_eq(n, 2); /* variant, and mhc_streams (hc has it too: 8 vs 4) */
    ck_assert_str_eq(all[1].key, "mhc_streams");
    n = config_differences(&a, &p, CONFIG_TRAJECTORY | CONFIG_ALL_OPTIONS, all, 8);
    ck_assert_int_eq(n, 3); /* + attnres_blocks 2 vs 4 */
    /* a run's config.ini read back gives the same hash */
    char *dir = tu_tempdir(), path[512];
    snprintf(path, sizeof path, "%s/r.ini", dir);
    ck_assert(tu_write(path, ini, strlen(ini)) == 0);
    Config back;
    config_defaults(&back);
    ck_assert_msg(config_load_ini(&back, path) == 0, "%s", rb_error());
    ck_assert(config_hash(&back) == config_hash(&b));
    /* an option given twice in one file is refused like any key */
    const char *twice = "mhc_streams = 3\n[model]\nmhc_streams = 4\n";
    ck_assert(tu_write(path, twice, strlen(twice)) == 0);
    ck_assert(config_load_ini(&back, path) != 0);
    ck_assert_msg(strstr(rb_error(), "'mhc_streams' is given a second time"), "%s", rb_error());
}
END_TEST

/* A variant spec states the whole arm (docs/usage.md, "Variant options"): `--config a.ini
 * variant=attnres_full` is plain attnres_full whatever a.ini set; keys after the spec refine it;
 * inside one file the variant line applies first, wherever it stands. */
START_TEST(test_spec_states_whole_arm) {
    char *dir = tu_tempdir(), path[512], path2[512];
    snprintf(path, sizeof path, "%s/a.ini", dir);
    snprintf(path2, sizeof path2, "%s/b.ini", dir);
    const char *a_ini = "attnres_score = sigmoid\n[model]\nvariant = attnres_full\n";
    const char *b_ini = "variant = attnres_full\nattnres_score = sigmoid\n";
    ck_assert(tu_write(path, a_ini, strlen(a_ini)) == 0 &&
              tu_write(path2, b_ini, strlen(b_ini)) == 0);
    Config a, b, plain;
    config_defaults(&a);
    config_defaults(&b);
    config_defaults(&plain);
    tu_set(&plain, "variant", "attnres_full");
    /* within one file the order of the variant line and the option keys does not matter */
    ck_assert_msg(config_load_ini(&a, path) == 0, "%s", rb_error());
    ck_assert_msg(config_load_ini(&b, path2) == 0, "%s", rb_error());
    ck_assert(config_option(&a, "attnres_score") == 1 && config_hash(&a) == config_hash(&b));
    ck_assert(config_hash(&a) != config_hash(&plain));
    /* a later spec resets every option set before it: the issue's `--config a.ini variant=...` */
    ck_assert(config_apply_arg(&a, "variant=attnres_full") == 0);
    ck_assert_msg(config_option(&a, "attnres_score") == 0, "the file's score stuck");
    ck_assert(config_hash(&a) == config_hash(&plain));
    /* ... options of other variants too, and the spec's own options apply */
    ck_assert(config_apply_arg(&b, "mhc_streams=8") == 0);
    ck_assert(config_apply_arg(&b, "variant=attnres_full:keynorm=off") == 0);
    ck_assert(config_option(&b, "attnres_score") == 0 && config_option(&b, "attnres_keynorm") == 1);
    ck_assert(config_option(&b, "mhc_streams") == 4);
    /* option keys after the spec apply on top of it */
    ck_assert(config_apply_arg(&b, "attnres_score=sigmoid") == 0);
    ck_assert(config_option(&b, "attnres_score") == 1 && config_option(&b, "attnres_keynorm") == 1);
    /* a file's variant line resets the options of earlier arguments and files */
    Config c;
    config_defaults(&c);
    ck_assert(config_apply_arg(&c, "attnres_score=sigmoid") == 0);
    ck_assert(config_apply_arg(&c, "attnres_keynorm=off") == 0);
    ck_assert_msg(config_load_ini(&c, path) == 0, "%s", rb_error());
    ck_assert(config_option(&c, "attnres_score") == 1 && config_option(&c, "attnres_keynorm") == 0);
    Config fresh; /* the same as the file alone */
    config_defaults(&fresh);
    ck_assert(config_load_ini(&fresh, path) == 0 && config_hash(&c) == config_hash(&fresh));
    /* a file without a variant line refines the arm set before it */
    const char *opts_only = "attnres_keynorm = off\n";
    ck_assert(tu_write(path2, opts_only, strlen(opts_only)) == 0);
    ck_assert_msg(config_load_ini(&c, path2) == 0, "%s", rb_error());
    ck_assert(config_option(&c, "attnres_score") == 1 && config_option(&c, "attnres_keynorm") == 1);
    /* one option both in a file's spec and as a key of that file is given twice */
    const char *twice = "attnres_score = softmax\nvariant = attnres_full:score=sigmoid\n";
    ck_assert(tu_write(path2, twice, strlen(twice)) == 0);
    Config before = c;
    ck_assert(config_load_ini(&c, path2) != 0);
    ck_assert_msg(strstr(rb_error(), ":1: key 'attnres_score' is given a second time (also in the "
                                     "variant spec of line 2"),
                  "%s", rb_error());
    ck_assert(!memcmp(&before, &c, sizeof c)); /* a file that fails changes nothing */
    /* a bad spec changes nothing either */
    ck_assert(config_apply_arg(&c, "variant=attnres_full:keynorm=on,score=tanh") != 0);
    ck_assert(!memcmp(&before, &c, sizeof c));
    /* the arm over a base (ablate, sweep, bench: config_set_variant) keeps the base's options
     * and applies its own on top */
    Config base;
    config_defaults(&base);
    tu_set(&base, "attnres_blocks", "2");
    tu_set(&base, "attnres_score", "sigmoid");
    ck_assert(config_set_variant(&base, "attnres_block:score=softmax", "--variants") == 0);
    ck_assert(config_option(&base, "attnres_blocks") == 2 &&
              config_option(&base, "attnres_score") == 0);
}
END_TEST

/* Runs fn in a child process: the test passes when the child stops with SIGABRT and its stderr
 * names `needle` (no OpenMP runs in these children, so a bare fork is safe). */
static void expect_abort(void (*fn)(void), const char *needle) {
    int fd[2];
    ck_assert(pipe(fd) == 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        dup2(fd[1], 2);
        close(fd[0]);
        fn();
        _exit(0); /* fn returned: no abort */
    }
    close(fd[1]);
    char err[2048] = "";
    size_t n = 0;
    ssize_t r;
    while (n + 1 < sizeof err && (r = read(fd[0], err + n, sizeof err - 1 - n)) > 0) n += (size_t)r;
    err[n] = 0;
    close(fd[0]);
    int status;
    ck_assert(waitpid(pid, &status, 0) == pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                  "the child did not abort (status %d): '%s'", status, err);
    ck_assert_msg(strstr(err, needle), "'%s' lacks '%s'", err, needle);
}

static void read_misspelt_option(void) {
    Config c;
    config_defaults(&c);
    tu_set(&c, "variant", "attnres_full");
    printf("%d\n", (int)config_option(&c, "attnres_scroe")); /* NaN cast to int, before */
}

static void read_foreign_option(void) {
    Config c;
    config_defaults(&c);
    tu_set(&c, "variant", "attnres_full"); /* Full has no blocks: Block's declaration */
    const VariantOps *block = variant_find("attnres_block");
    printf("%d\n", config_option_int(&c, &block->options[0]));
}

/* Options are read through their declarations (a misspelt OPT_* does not compile); what remains
 * by name fails loudly and at once, and the variant tables are checked when they are installed. */
START_TEST(test_option_declarations) {
    Config c;
    config_defaults(&c);
    tu_set(&c, "variant", "attnres_block:blocks=2");
    const VariantOps *block = variant_find("attnres_block"), *full = variant_find("attnres_full");
    ck_assert_str_eq(block->options[0].key, "attnres_blocks");
    ck_assert_int_eq(config_option_int(&c, &block->options[0]), 2);
    ck_assert_int_eq(config_option_int(&c, &block->options[1]), 0); /* size: its default */
    ck_assert(config_option(&c, "blocks") == 2);                    /* by short name too */
    /* flavours share one declaration of their common options; counts come from the tables */
    ck_assert(full->options + full->n_options == block->options + block->n_options);
    ck_assert_int_eq(full->n_options, 5);
    ck_assert_int_eq(block->n_options, 7);
    ck_assert_int_eq(variant_find("mhc")->n_options, 2);
    ck_assert_int_eq(variant_find("hc")->n_options, 1);
    expect_abort(read_misspelt_option, "option 'attnres_scroe' is read but no installed variant "
                                       "declares it");
    expect_abort(read_foreign_option, "variant attnres_full reads option 'attnres_blocks', which "
                                      "is not in its own option table");
    /* the installed table is well formed; broken ones are refused naming variant and option */
    ck_assert_msg(config_check_variants(rb_variants) == 0, "%s", rb_error());
    static const char *const two[] = {"a", "b", NULL};
    const VariantOption bad_def[] = {{"x_width", "width", 1, 8, 9, NULL, "h", NULL}};
    const VariantOption bad_choice[] = {{"x_mode", "mode", 0, 2, 0, two, "h", NULL}};
    const VariantOption twice[] = {{"x_a", "a", 0, 1, 0, NULL, "h", NULL},
                                   {"x_a", "b", 0, 1, 0, NULL, "h", NULL}};
    const VariantOption core_key[] = {{"n_layer", "n", 0, 1, 0, NULL, "h", NULL}};
    const VariantOption long_key[] = {
        {"x_an_option_key_of_forty_characters_", "k", 0, 1, 0, NULL, "h", NULL}};
    const VariantOption other_streams[] = {{"mhc_streams", "streams", 2, 16, 4, NULL, "h", NULL}};
    /* the paper's better value (report's claim 6) must be a value of the option, not its default */
    const VariantOption paper_default[] = {{"x_mode", "mode", 0, 1, 0, two, "h", "a"}};
    const VariantOption paper_unknown[] = {{"x_mode", "mode", 0, 1, 0, two, "h", "c"}};
    const VariantOption paper_range[] = {{"x_width", "width", 1, 8, 2, NULL, "h", "9"}};
    VariantOps v = *variant_find("prenorm");
    v.name = "broken";
    const VariantOps *table[] = {variant_find("mhc"), &v, NULL};
    struct {
        const VariantOption *opts;
        int n;
        const char *needle;
    } cases[] = {
        {bad_def, 1, "variant broken: option 'x_width': default 9 is not an integer in [1, 8]"},
        {bad_choice, 1, "option 'x_mode' has 2 choices but the range [0, 2]"},
        {twice, 2, "variant broken: option 'x_a' is declared twice"},
        {core_key, 1, "option key 'n_layer' is a core key"},
        {long_key, 1, "a key longer than 31 characters"},
        {other_streams, 1, "option 'mhc_streams' differs from another variant's option"},
        {paper_default, 1, "option 'x_mode': paper_better 'a' is not one of its values other"},
        {paper_unknown, 1, "option 'x_mode': paper_better 'c' is not one of its values other"},
        {paper_range, 1, "option 'x_width': paper_better '9' is not one of its values other"},
        {bad_def, RB_MAX_VARIANT_OPTIONS + 1, "broken: 9 options (allowed: 0..8)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        v.options = cases[i].opts;
        v.n_options = cases[i].n;
        ck_assert_msg(config_check_variants(table) != 0, "case %zu accepted", i);
        ck_assert_msg(strstr(rb_error(), cases[i].needle), "'%s' lacks '%s'", rb_error(),
                      cases[i].needle);
    }
    const VariantOps *dup[] = {variant_find("mhc"), variant_find("mhc"), NULL};
    ck_assert(config_check_variants(dup) != 0 && strstr(rb_error(), "mhc is installed twice"));
    /* installing a bad table returns the reason (the process goes on) and keeps the old one */
    ck_assert_int_eq(config_use_variants(dup), -1);
    ck_assert_str_eq(rb_error(), "internal error in the variant table: variant mhc is installed "
                                 "twice");
    Config after;
    config_defaults(&after);
    tu_set(&after, "variant", "hc"); /* the installed table still answers */
    ck_assert_str_eq(after.vt->name, "hc");
}
END_TEST

START_TEST(test_ini_file) {
    char *dir = tu_tempdir(), path[512];
    snprintf(path, sizeof path, "%s/a.ini", dir);
    const char *good = "# comment\n[model]\nn_layer = 3\nd_model=64 ; inline comment\n[run]\n"
                       "data = synth:hops\n";
    ck_assert(tu_write(path, good, strlen(good)) == 0);
    Config c;
    config_defaults(&c);
    ck_assert_msg(config_load_ini(&c, path) == 0, "%s", rb_error());
    ck_assert_int_eq(c.n_layer, 3);
    ck_assert_int_eq(c.d_model, 64);
    ck_assert_str_eq(c.data, "synth:hops");
    const char *bad = "n_layer = 3\nwidth = 4\n";
    ck_assert(tu_write(path, bad, strlen(bad)) == 0);
    ck_assert(config_load_ini(&c, path) != 0);
    ck_assert_msg(strstr(rb_error(), path) && strstr(rb_error(), "unknown key 'width'"), "%s",
                  rb_error());
    const char *syntax = "n_layer = 3\nthis line has no equals sign\n";
    ck_assert(tu_write(path, syntax, strlen(syntax)) == 0);
    ck_assert(config_load_ini(&c, path) != 0 && strstr(rb_error(), "line 2"));
    ck_assert(config_load_ini(&c, "/nonexistent.ini") != 0 &&
              strstr(rb_error(), "/nonexistent.ini"));
    const char *twice = "[model]\nn_layer = 3\n[run]\nseed = 2\n[other]\nn_layer = 4\n";
    ck_assert(tu_write(path, twice, strlen(twice)) == 0);
    ck_assert(config_load_ini(&c, path) != 0);
    ck_assert_msg(strstr(rb_error(), ":6: key 'n_layer' is given a second time"), "%s", rb_error());
    ck_assert(config_load_ini(&c, dir) != 0); /* a directory is not a config file */
    ck_assert_msg(strstr(rb_error(), "is a directory, not a regular file"), "%s", rb_error());
}
END_TEST

START_TEST(test_roundtrip_and_hash) {
    Config c;
    config_defaults(&c);
    ck_assert(config_apply_arg(&c, "lr=0.00123456789") == 0);
    ck_assert(config_apply_arg(&c, "data=text:/x/y z.txt") == 0);
    char *text = tu_keep(config_to_ini(&c)), *dir = tu_tempdir(), path[512];
    snprintf(path, sizeof path, "%s/r.ini", dir);
    ck_assert(tu_write(path, text, strlen(text)) == 0);
    Config d;
    config_defaults(&d);
    ck_assert_msg(config_load_ini(&d, path) == 0, "%s", rb_error());
    char *text2 = tu_keep(config_to_ini(&d));
    ck_assert_str_eq(text, text2);
    ck_assert(config_hash(&c) == config_hash(&d));
    /* keys that cannot change the trajectory do not change the hash; the others do */
    config_apply_arg(&d, "threads=7");
    config_apply_arg(&d, "out=/elsewhere");
    config_apply_arg(&d, "log_every=3");
    ck_assert(config_hash(&c) == config_hash(&d));
    config_apply_arg(&d, "seed=99");
    ck_assert(config_hash(&c) != config_hash(&d));
}
END_TEST

static Suite *config_suite(void) {
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_checked_fixture(tc, NULL, tu_free_all);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_cross_key_validation);
    tcase_add_test(tc, test_ini_file);
    tcase_add_test(tc, test_variant_options);
    tcase_add_test(tc, test_spec_states_whole_arm);
    tcase_add_test(tc, test_option_declarations);
    tcase_add_test(tc, test_roundtrip_and_hash);
    suite_add_tcase(s, tc);
    return s;
}

RB_TEST_MAIN(config_suite)
