/* Small-sample statistics for ablations over seeds. Quantiles and p-values of Student's t come
 * from GSL (exact for fractional degrees of freedom). */
#ifndef RB_STATS_H
#define RB_STATS_H

double stats_mean(const double *x, int n);
double stats_std(const double *x, int n); /* sample standard deviation (n - 1); 0 for n < 2 */
/* Median of x (sorts x in place); the mean of the middle two for even n. */
double stats_median(double *x, int n);
/* Two-sided 95% critical value of Student's t: the 97.5% quantile with df degrees of freedom
 * (df > 0, fractional allowed). */
double stats_t975(double df);

/* A 95% interval for a difference of means and its two-sided p-value (H0: difference 0). */
typedef struct {
    double delta, half_width, p;
    double df;
    int n; /* pairs (paired) or the smaller sample (Welch) */
} Interval;

/* Paired: d_i = x_i - y_i, mean(d) +- t975(n-1) * sd(d) / sqrt(n). Needs n >= 2 (else half_width
 * and p are NAN). All d equal: half-width 0, p = 1 if they are 0, else 0. */
Interval stats_paired_ci95(const double *x, const double *y, int n);
/* Welch: mean(a) - mean(b) with Welch-Satterthwaite degrees of freedom; NAN unless both n >= 2. */
Interval stats_welch(const double *a, int na, const double *b, int nb);
/* Holm's step-down adjustment of m p-values (family-wise error): sorted ascending,
 * adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j)) (1-based ranks); NAN entries are skipped and
 * do not count in m. */
void stats_holm(const double *p, int m, double *adjusted);

#endif
