/* Small-sample statistics for ablations over seeds. */
#ifndef RB_STATS_H
#define RB_STATS_H

double stats_mean(const double *x, int n);
double stats_std(const double *x, int n); /* sample standard deviation (n - 1); 0 for n < 2 */
/* Two-sided 97.5% quantile of Student's t with df degrees of freedom (df >= 1, may be fractional:
 * rounded down, which is conservative). */
double stats_t975(double df);
/* Welch's 95% confidence interval for mean(a) - mean(b). Returns the half-width (NAN when either
 * sample has fewer than 2 values); *delta gets the difference of the means. */
double stats_welch_ci95(const double *a, int na, const double *b, int nb, double *delta);

#endif
