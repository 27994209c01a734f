/* Power of the paired t test, the minimum detectable effect, the seeds a plan needs, and the noise
 * floor of a comparison (docs/statistics.md sections 6 and 8). */
#ifndef RB_POWER_H
#define RB_POWER_H

/* P(T' <= t) for T' noncentral t with df > 0 degrees of freedom and noncentrality ncp. */
double power_nct_cdf(double t, double df, double ncp);
/* Power of the two-sided paired t test at level alpha with n pairs (n >= 2) when the true mean
 * difference is effect and the paired SD is sd (> 0). NAN on bad arguments. */
double power_paired(double effect, double sd, int n, double alpha);
/* The minimum detectable effect (> 0) at the given power: the effect with power_paired(effect) =
 * power. NAN on bad arguments (n < 2, sd not > 0, power not in (alpha, 1)). */
double power_mde(double sd, int n, double alpha, double power);
/* The smallest n in [2, max_n] with power_paired(effect, sd, n) >= power; -1 if none. */
int power_seeds(double effect, double sd, double alpha, double power, int max_n);

/* The numerical floor of one arm from original and perturbed runs (same config and seed, one change
 * that should not matter): sqrt(sum (o - q)^2 / (2n)); NAN for n < 1. */
double noise_floor(const double *orig, const double *pert, int n);

typedef struct {
    double sd_paired;   /* SD of x - y over pairs */
    double sd_unpaired; /* sqrt(var x + var y) */
    double ratio;       /* sd_paired / sd_unpaired: < 1 when pairing removes variance */
    double correlation; /* Pearson correlation of x and y over pairs */
} PairingRatio;

/* Over n >= 2 pairs (x_i, y_i); fields NAN otherwise. */
PairingRatio pairing_ratio(const double *x, const double *y, int n);

#endif
