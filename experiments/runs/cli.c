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

/* A piece of the list that continues the previous arm's options: OPTION=VALUE, no ':' before '='.
 */
static int continues_arm(const char *piece) {
    const char *eq = strchr(piece, '='), *colon = strchr(piece, ':');
    return eq && (!colon || colon > eq);
}

/* spec (NAME[:OPTION=VALUE,...]) checked and written canonically into out. */
static int canonical_arm(const char *spec, char *out, size_t n) {
    size_t name_len = strcspn(spec, ":");
    char name[RB_ARM_MAX];
    if (name_len >= sizeof name) return rb_fail("--variants: arm '%.40s...' is too long", spec);
    memcpy(name, spec, name_len);
    name[name_len] = 0;
    const VariantOps *v = variant_find(name);
    if (!v) return rb_fail("--variants: unknown variant '%s' (allowed: %s)", name, variant_names());
    Config probe;
    config_defaults(&probe);
    if (config_set_variant(&probe, spec, "--variants") != 0) return -1;
    size_t len = (size_t)snprintf(out, n, "%s", v->name);
    const char *opts = spec[name_len] == ':' ? spec + name_len + 1 : "";
    const VariantOption *seen[RB_MAX_VARIANT_OPTIONS * 4];
    int nseen = 0;
    while (*opts) {
        size_t klen = strcspn(opts, "="), plen = strcspn(opts, ",");
        const VariantOption *o = NULL;
        for (int k = 0; k < v->n_options && !o; k++)
            if ((strlen(v->options[k].key) == klen && !strncmp(v->options[k].key, opts, klen)) ||
                (strlen(v->options[k].name) == klen && !strncmp(v->options[k].name, opts, klen)))
                o = &v->options[k];
        if (!o) return rb_fail("--variants: arm '%s': no option '%.*s'", spec, (int)klen, opts);
        for (int k = 0; k < nseen; k++)
            if (seen[k] == o)
                return rb_fail("--variants: arm '%s': option '%s' is given twice", spec, o->name);
        if (nseen < (int)(sizeof seen / sizeof seen[0])) seen[nseen++] = o;
        char val[64];
        config_format_option(&probe, o, val, sizeof val);
        len += (size_t)snprintf(out + (len < n ? len : n), len < n ? n - len : 0, "%c%s=%s",
                                nseen == 1 ? ':' : ',', o->name, val);
        opts += plen + (opts[plen] == ',');
    }
    if (len >= n)
        return rb_fail("--variants: arm '%.60s...' is longer than %zu characters", spec, n - 1);
    return 0;
}

int cli_arm_list(const char *s, char (*arms)[RB_ARM_MAX], int max) {
    if (has_empty_item(s)) return rb_fail("--variants: '%s' has an empty item", s);
    size_t len = strlen(s);
    char *buf = rb_calloc(len + 1, 1, "--variants"), *spec = rb_calloc(len + 1, 1, "--variants");
    memcpy(buf, s, len);
    int n = 0, rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); rc == 0; tok = strtok_r(NULL, ",", &save)) {
        if (tok && continues_arm(tok)) {
            if (!spec[0] || !strchr(spec, ':'))
                rc = rb_fail("--variants: '%s' continues no arm's options (an arm is "
                             "NAME:OPTION=VALUE,...; e.g. %s:%s)",
                             tok, spec[0] ? spec : "NAME", tok);
            else
                strcat(strcat(spec, ","), tok); /* spec holds pieces of s: it fits */
            continue;
        }
        if (spec[0]) { /* the previous arm is complete */
            char arm[RB_ARM_MAX];
            if (canonical_arm(spec, arm, sizeof arm) != 0) {
                rc = -1;
                break;
            }
            for (int i = 0; i < n && rc == 0; i++)
                if (!strcmp(arms[i], arm))
                    rc = rb_fail("--variants: '%s' is given twice in '%s'", arm, s);
            if (rc == 0 && n == max) rc = rb_fail("--variants: more than %d arms", max);
            if (rc == 0) memcpy(arms[n++], arm, sizeof arm);
        }
        if (!tok) break;
        strcpy(spec, tok);
    }
    free(buf);
    free(spec);
    if (rc != 0) return -1;
    return n ? n : rb_fail("--variants: empty list");
}
