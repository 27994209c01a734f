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

/* An arm: a variant spec NAME or NAME:OPTION=VALUE,... The core reads specs of at most 511
 * characters (config_set_variant), so every arm fits in RB_ARM_MAX. */
#define RB_ARM_MAX 512
/* The arm list of --variants (the one grammar of ablate, sweep and bench; docs/usage.md, Arms):
 *   list = arm ("," arm)*    arm = NAME [":" OPTION=VALUE ("," OPTION=VALUE)*]
 * A comma-separated piece with '=' and no ':' before it continues the previous arm's options
 * (variant names never hold '='), so "prenorm,attnres_full:query=input,heads=4" is two arms. Each
 * arm is checked (config_set_variant) and stored in canonical form: the variant's name, then its
 * options as given, each by its short name with the value as config.ini writes it; an option given
 * twice in one arm, or an arm given twice, is refused. The count, or -1 with rb_error(). */
int cli_arm_list(const char *s, char (*arms)[RB_ARM_MAX], int max);
/* The help text of the arm grammar, shared by every command's --help. */
#define CLI_ARMS_HELP                                                                              \
    "An arm is a variant spec: NAME or NAME:OPTION=VALUE,OPTION=VALUE,... (options: resbench\n"    \
    "train --help). In a list, a comma-separated piece holding '=' (and no ':' before it)\n"       \
    "continues the previous arm's options: --variants prenorm,NAME:a=1,b=2,OTHER is three\n"       \
    "arms. Arms are stored canonically (short option names, values as config.ini writes them).\n"
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
