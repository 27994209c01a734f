/* Command-line helpers shared by the subcommands. */
#ifndef RB_CLI_H
#define RB_CLI_H
#include "config.h"

/* Defaults, then --config FILE, --resume DIR (loads DIR/config.ini; only when resume_dir is not
 * NULL) and key=value arguments, in order. Options listed in `extra` (NULL-terminated, each taking
 * one value) are stored in extra_vals[i]. -1 with rb_error() on bad input. */
int cli_parse(int argc, char **argv, Config *c, const char **resume_dir, const char *const *extra,
              const char **extra_vals);
/* 1 if argv holds --help or -h. */
int cli_wants_help(int argc, char **argv);

#endif
