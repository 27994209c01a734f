/* Command-line helpers shared by the subcommands. */
#ifndef RB_CLI_H
#define RB_CLI_H
#include "config.h"

/* Defaults, then --config FILE, --resume DIR (loads DIR/config.ini; only when resume_dir is not
 * NULL) and key=value arguments, in order. Options listed in `extra` (NULL-terminated, each taking
 * one value) are stored in extra_vals[i]. -1 with rb_error() on bad input. */
int cli_parse(int argc, char **argv, Config *c, const char **resume_dir, const char *const *extra,
              const char **extra_vals);
/* Comma-separated lists of options such as --seeds 1,2 or --variants a,b: the count, or -1 with
 * rb_error() naming the option. */
int cli_int_list(const char *s, long *out, int max, const char *what);
int cli_variant_list(const char *s, char (*names)[32], int max);
/* Commands over directories (plot, fit, compare, report): options from `opts` (NULL-terminated;
 * a name ending in '=' takes a value, e.g. "--out=", stored in vals[i]; others are flags, vals[i]
 * set to "1"), the rest positional (at least min_pos, at most max_pos, into pos). -1 with
 * rb_error() naming the problem. --help is the caller's (cli_wants_help). */
int cli_positional(int argc, char **argv, const char *const *opts, const char **vals,
                   const char **pos, int min_pos, int max_pos, const char *what);
/* The value of option opt: a finite number in [lo, hi] (an integer if integer is set), or -1
 * with rb_error() "OPT 'S': expected an integer in [LO, HI]". */
int cli_number(const char *s, double lo, double hi, int integer, const char *opt, double *v);
/* 1 if argv holds --help or -h. */
int cli_wants_help(int argc, char **argv);

#endif
