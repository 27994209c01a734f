#include "stats.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

double stats_mean(const double *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i];
    return n ? s / n : NAN;
}

double stats_std(const double *x, int n) {
    if (n < 2) return 0;
    double m = stats_mean(x, n), s = 0;
    for (int i = 0; i < n; i++) s += (x[i] - m) * (x[i] - m);
    return sqrt(s / (n - 1));
}

double stats_median(double *x, int n) {
    if (n < 1) return NAN;
    gsl_sort(x, 1, (size_t)n);
    return gsl_stats_median_from_sorted_data(x, 1, (size_t)n);
}

double stats_t975(double df) {
    return df > 0 ? gsl_cdf_tdist_Pinv(0.975, df) : NAN;
}

/* Interval and two-sided p-value of t = delta / se on df degrees of freedom. */
static Interval t_interval(double delta, double se, double df, int n) {
    Interval r = {delta, NAN, NAN, df, n};
    if (!(df > 0) || !isfinite(se)) return r;
    r.half_width = stats_t975(df) * se;
    if (se == 0)
        r.p = delta == 0 ? 1.0 : 0.0;
    else
        r.p = 2 * gsl_cdf_tdist_Q(fabs(delta) / se, df);
    return r;
}

Interval stats_paired_ci95(const double *x, const double *y, int n) {
    double *d = rb_calloc((size_t)(n > 0 ? n : 1), sizeof(double), "pairs"); /* every pair */
    for (int i = 0; i < n; i++) d[i] = x[i] - y[i];
    double delta = stats_mean(d, n);
    Interval r = n < 2 ? (Interval){delta, NAN, NAN, NAN, n}
                       : t_interval(delta, stats_std(d, n) / sqrt(n), n - 1, n);
    free(d);
    return r;
}

Interval stats_welch(const double *a, int na, const double *b, int nb) {
    double delta = stats_mean(a, na) - stats_mean(b, nb);
    int n = na < nb ? na : nb;
    if (na < 2 || nb < 2) return (Interval){delta, NAN, NAN, NAN, n};
    double va = stats_std(a, na), vb = stats_std(b, nb);
    va = va * va / na;
    vb = vb * vb / nb;
    double se2 = va + vb;
    if (se2 == 0) return t_interval(delta, 0, na + nb - 2, n);
    double df = se2 * se2 / (va * va / (na - 1) + vb * vb / (nb - 1));
    return t_interval(delta, sqrt(se2), df, n);
}

void stats_holm(const double *p, int m, double *adjusted) {
    int *idx = rb_calloc((size_t)(m > 0 ? m : 1), sizeof(int), "p-values"), k = 0; /* each p */
    for (int i = 0; i < m; i++) {
        adjusted[i] = NAN;
        if (!isnan(p[i])) idx[k++] = i;
    }
    for (int i = 1; i < k; i++) /* insertion sort of the indices by p, ascending (k is small) */
        for (int j = i; j > 0 && p[idx[j]] < p[idx[j - 1]]; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    double run = 0;
    for (int r = 0; r < k; r++) {
        double a = (k - r) * p[idx[r]];
        if (a > 1) a = 1;
        if (a > run) run = a;
        adjusted[idx[r]] = run;
    }
    free(idx);
}
