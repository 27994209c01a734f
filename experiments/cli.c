#include "cli.h"

#include <string.h>

#include "util.h"

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

int cli_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
    return 0;
}
