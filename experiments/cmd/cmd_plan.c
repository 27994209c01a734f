/* `resbench plan`: how many seeds a comparison needs to decide an effect of a given size, or the
 * smallest effect n seeds can decide, from a pilot's paired SD (docs/statistics.md section 6). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cmd.h"
#include "power.h"
#include "stats.h"
#include "util.h"

#define PLAN_MAX_SEEDS 10000
#define PLAN_MAX_DELTAS 1024

static void plan_help(void) {
    printf("usage: resbench plan (--sd S | --deltas D1,D2,...) (--effect E | --seeds N)\n"
           "                     [--alpha A] [--power P]\n\n"
           "Power of the paired t test (variant minus baseline, paired by seed), two-sided at\n"
           "level A (default 0.05), from the noncentral t distribution (docs/statistics.md):\n"
           "  --effect E  the seeds (pairs) needed to decide a true mean difference E with\n"
           "              power P (default 0.80);\n"
           "  --seeds N   the minimum detectable effect with N pairs at power P.\n"
           "The paired SD is S, or the sample SD of a pilot's paired differences D1,D2,...\n"
           "(at least 2; e.g. the per-seed loss differences of a pilot ablation). A pilot's SD is\n"
           "itself uncertain: with 4 pairs its 95%% interval spans 0.57-3.7x the estimate, so the\n"
           "seeds printed are a lower bound.\n");
}

/* Comma-separated numbers into out; the count, or -1 with rb_error(). */
static int parse_deltas(const char *s, double *out, int max) {
    int n = 0;
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[64];
        if (len == 0 || len >= sizeof item)
            return rb_fail("--deltas '%s': expected comma-separated numbers", s);
        if (n == max) return rb_fail("--deltas: more than %d values", max);
        memcpy(item, p, len);
        item[len] = 0;
        if (cli_number(item, -1e9, 1e9, 0, "--deltas", &out[n]) != 0) return -1;
        n++;
        if (!comma) break;
        p = comma + 1;
    }
    return n;
}

int cmd_plan(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        plan_help();
        return RB_EXIT_OK;
    }
    static const char *const opts[] = {
        "--sd=", "--deltas=", "--effect=", "--seeds=", "--alpha=", "--power=", NULL};
    const char *v[6] = {NULL};
    if (cli_positional(argc, argv, opts, v, NULL, 0, 0,
                       "positional arguments (plan takes options only)") < 0)
        rb_die(RB_EXIT_USAGE, "plan: %s", rb_error());
    if (!v[0] == !v[1]) rb_die(RB_EXIT_USAGE, "plan: give exactly one of --sd and --deltas");
    if (!v[2] == !v[3]) rb_die(RB_EXIT_USAGE, "plan: give exactly one of --effect and --seeds");
    double sd = NAN, effect = NAN, seeds = 0, alpha = 0.05, power = 0.8;
    static double deltas[PLAN_MAX_DELTAS];
    int nd = 0;
    if (v[0] && cli_number(v[0], 1e-300, 1e300, 0, "--sd", &sd) != 0)
        rb_die(RB_EXIT_USAGE, "plan: %s", rb_error());
    if (v[1]) {
        if ((nd = parse_deltas(v[1], deltas, PLAN_MAX_DELTAS)) < 0)
            rb_die(RB_EXIT_USAGE, "plan: %s", rb_error());
        if (nd < 2) rb_die(RB_EXIT_USAGE, "plan: --deltas '%s': needs at least 2 values", v[1]);
        sd = stats_std(deltas, nd);
        if (!(sd > 0))
            rb_die(RB_EXIT_USAGE, "plan: --deltas '%s': the values are all equal (SD 0)", v[1]);
    }
    if ((v[2] && cli_number(v[2], 1e-300, 1e300, 0, "--effect", &effect) != 0) ||
        (v[3] && cli_number(v[3], 2, PLAN_MAX_SEEDS, 1, "--seeds", &seeds) != 0) ||
        (v[4] && cli_number(v[4], 1e-6, 0.5, 0, "--alpha", &alpha) != 0) ||
        (v[5] && cli_number(v[5], 0.01, 0.999, 0, "--power", &power) != 0))
        rb_die(RB_EXIT_USAGE, "plan: %s", rb_error());
    if (!(power > alpha))
        rb_die(RB_EXIT_USAGE, "plan: --power %g must exceed --alpha %g", power, alpha);
    if (nd)
        printf("pilot: %d paired differences, mean %+.6g, SD %.6g\n", nd, stats_mean(deltas, nd),
               sd);
    printf("paired t test, two-sided alpha %g, power %g, paired SD %.6g\n", alpha, power, sd);
    if (v[3]) {
        double mde = power_mde(sd, (int)seeds, alpha, power);
        if (isnan(mde)) rb_die(RB_EXIT_FAIL, "plan: the detectable effect could not be computed");
        printf("minimum detectable effect with %d seeds: %.6g (%.3g paired SDs)\n", (int)seeds, mde,
               mde / sd);
        return RB_EXIT_OK;
    }
    int n = power_seeds(effect, sd, alpha, power, PLAN_MAX_SEEDS);
    if (n < 0)
        rb_die(RB_EXIT_USAGE, "plan: an effect of %g needs more than %d seeds at SD %g", effect,
               PLAN_MAX_SEEDS, sd);
    printf("seeds needed to detect an effect of %.6g (%.3g paired SDs): %d (power %.3f)\n", effect,
           effect / sd, n, power_paired(effect, sd, n, alpha));
    return RB_EXIT_OK;
}
