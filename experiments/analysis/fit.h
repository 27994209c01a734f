/* Scaling-law fit L(C) = a C^-b + c and compute multipliers (resbench fit). */
#ifndef RB_FIT_H
#define RB_FIT_H
#include "cli.h" /* RB_ARM_MAX */

typedef struct {
    double a, b, c, rmse;
    int c_at_bound; /* c within one grid cell of 0 or of min(L): the law is underdetermined */
} PowerLaw;

/* Least-squares fit of L = a C^-b + c to n points (n >= 4, C > 0, at least 4 distinct C): for each
 * c on a grid below min(L) (refined by golden-section search) a and b come from linear regression
 * of log(L - c) on log C, and the c with the smallest squared error in L is kept. -1 if impossible.
 */
int fit_power_law(const double *C, const double *L, int n, PowerLaw *f);
double power_law_loss(const PowerLaw *f, double C);
/* Compute the fitted law needs to reach loss L: (a / (L - c))^(1/b); INFINITY when L <= c. */
double power_law_compute(const PowerLaw *f, double L);

#define FIT_MAX_SEEDS 64                           /* runs (seeds) of one group; more are refused */
#define FIT_MAX_GROUPS 256                         /* groups of one fit; more are refused */
#define FIT_MAX_DISTINCT_SEEDS (FIT_MAX_SEEDS * 4) /* seeds over all groups; more are refused */

/* The runs of one (arm, shape, token budget): one final loss per seed. */
typedef struct {
    char variant[RB_ARM_MAX]; /* the arm */
    int n_layer, d_model;
    double tokens, flops;
    int n, seed[FIT_MAX_SEEDS];
    double loss[FIT_MAX_SEEDS], tok_per_s[FIT_MAX_SEEDS];
} FitGroup;

/* A point estimate with a 95% percentile-bootstrap interval (NAN when undefined). */
typedef struct {
    double point, lo, hi;
} FitEstimate;

/* Compute multipliers of every group (prenorm groups included: their multiplier measures the fit's
 * residual) and, per variant, pooled over its groups as the geometric mean. The point estimate uses
 * every seed's loss: the law is fitted to prenorm's mean losses and a group's multiplier is
 * C_prenorm(mean loss) / C. The interval resamples seeds: each of `boot` resamples draws as many
 * seeds as the experiments have, with replacement, from the distinct seeds, recomputes every
 * group's mean over the drawn seeds it has (multiplicity counts), refits prenorm's law and
 * recomputes every multiplier; the 2.5% and 97.5% quantiles of the resamples where the group is
 * defined form the interval (NAN when fewer than half the resamples define it, or the group has one
 * seed). Deterministic (GSL's MT19937 seeded with rng_seed). `pooled_variant` receives ng names at
 * most, *n_pooled how many. Returns -1 when the full-data fit fails. */
typedef struct {
    PowerLaw law;
    int points; /* distinct prenorm compute values in the fit */
    FitEstimate group[FIT_MAX_GROUPS];
    int n_pooled; /* at most one per group: every arm is pooled */
    char pooled_variant[FIT_MAX_GROUPS][RB_ARM_MAX];
    int pooled_sizes[FIT_MAX_GROUPS];
    FitEstimate pooled[FIT_MAX_GROUPS];
} FitResult;

/* Geometric mean of vals[i] over the groups of variant v: the pooling of multipliers (and of
 * FLOP-rate ratios) over sizes. INFINITY if one is, NAN if one is undefined or v has no group. */
double fit_pooled(const FitGroup *g, int ng, const double *vals, const char *v);

int fit_multipliers(const FitGroup *g, int ng, int boot, unsigned long rng_seed, FitResult *out);
/* 0 when the groups fit the limits above, else -1 with rb_error() naming the limit. */
int fit_check_limits(const FitGroup *g, int ng);

#endif
