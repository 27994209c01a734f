#include "cli.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include <stdlib.h>

#include "util.h"
#include "registry.h"

static int extra_index(const char *const *extra, const char *opt) {
    for (int k = 0; extra && extra[k]; k++)
        if (!strcmp(extra[k], opt)) return k;
    return -1;
}

int cli_parse(int argc, char **argv, Config *c, const char **resume_dir, const char *const *extra,
              const char **extra_vals) {
    config_defaults(c);
    if (resume_dir) *resume_dir = NULL;
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        int k = extra_index(extra, opt);
        int takes_value =
            k >= 0 || !strcmp(opt, "--config") || (resume_dir && !strcmp(opt, "--resume"));
        if (takes_value && i + 1 >= argc) return rb_fail("%s needs an argument", opt);
        if (k >= 0) {
            extra_vals[k] = argv[++i];
        } else if (!strcmp(opt, "--config")) {
            if (config_load_ini(c, argv[++i]) != 0) return -1;
        } else if (resume_dir && !strcmp(opt, "--resume")) {
            char path[4200];
            *resume_dir = argv[++i];
            if (rb_join(path, sizeof path, *resume_dir, "config.ini") != 0) return -1;
            if (config_load_ini(c, path) != 0) return -1;
        } else if (opt[0] == '-') {
            return rb_fail("unknown option '%s' (see --help)", opt);
        } else if (config_apply_arg(c, opt) != 0) {
            return -1;
        }
    }
    return 0;
}

int cli_positional(int argc, char **argv, const char *const *opts, const char **vals,
                   const char **pos, int min_pos, int max_pos, const char *what) {
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int k = -1;
        size_t len = 0;
        for (int j = 0; opts && opts[j] && k < 0; j++) {
            len = strlen(opts[j]);
            size_t name = opts[j][len - 1] == '=' ? len - 1 : len;
            if (!strncmp(a, opts[j], name) && a[name] == 0) k = j;
        }
        if (k >= 0 && opts[k][len - 1] == '=') {
            if (i + 1 >= argc) return rb_fail("%s needs a value", a);
            vals[k] = argv[++i];
        } else if (k >= 0) {
            vals[k] = "1";
        } else if (a[0] == '-') {
            return rb_fail("unknown option '%s' (see --help)", a);
        } else if (npos == max_pos) {
            return rb_fail("at most %d %s (got another: '%s')", max_pos, what, a);
        } else {
            pos[npos++] = a;
        }
    }
    if (npos < min_pos && npos == 0) return rb_fail("no %s given (see --help)", what);
    if (npos < min_pos) return rb_fail("needs %d %s, got %d (see --help)", min_pos, what, npos);
    return npos;
}

int cli_number(const char *s, double lo, double hi, int integer, const char *opt, double *v) {
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(*v) || *v < lo || *v > hi ||
        (integer && *v != floor(*v)))
        return rb_fail("%s '%s': expected %s in [%g, %g]", opt, s,
                       integer ? "an integer" : "a number", lo, hi);
    return 0;
}

int cli_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
    return 0;
}

/* "a,,b", ",a" and "a," have an empty item: refused rather than silently skipped. */
static int has_empty_item(const char *s) {
    size_t n = strlen(s);
    return n == 0 || s[0] == ',' || s[n - 1] == ',' || strstr(s, ",,") != NULL;
}

int cli_int_list(const char *s, long *out, int max, const char *what) {
    if (has_empty_item(s)) return rb_fail("%s: '%s' has an empty item", what, s);
    char buf[1024];
    if (rb_copy_str(buf, sizeof buf, s) != 0) return rb_fail("%s: list too long", what);
    int n = 0;
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        char *end;
        long v = strtol(tok, &end, 10);
        if (*end || end == tok || v < 0 || n == max)
            return rb_fail("%s: '%s' is not a list of at most %d non-negative integers", what, s,
                           max);
        for (int i = 0; i < n; i++)
            if (out[i] == v) return rb_fail("%s: %ld is given twice in '%s'", what, v, s);
        out[n++] = v;
    }
    return n ? n : rb_fail("%s: empty list", what);
}

int cli_variant_list(const char *s, char (*names)[32], int max) {
    if (has_empty_item(s)) return rb_fail("--variants: '%s' has an empty item", s);
    char buf[1024];
    if (rb_copy_str(buf, sizeof buf, s) != 0) return rb_fail("--variants: list too long");
    int n = 0;
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (strlen(tok) > 31) return rb_fail("--variants: '%s' is longer than 31 characters", tok);
        if (!strchr(tok, ':') && !variant_find(tok))
            return rb_fail("--variants: unknown variant '%s' (allowed: %s)", tok, variant_names());
        Config probe; /* an arm is a variant spec: NAME or NAME:OPTION=VALUE,... */
        config_defaults(&probe);
        if (config_set_variant(&probe, tok, "--variants") != 0) return -1;
        if (n == max) return rb_fail("--variants: more than %d", max);
        for (int i = 0; i < n; i++)
            if (!strcmp(names[i], tok))
                return rb_fail("--variants: '%s' is given twice in '%s'", tok, s);
        rb_copy_str(names[n++], 32, tok);
    }
    return n ? n : rb_fail("--variants: empty list");
}
