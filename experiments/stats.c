#include "stats.h"

#include <math.h>

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

double stats_t975(double df) {
    /* t_{0.975} for df = 1..30, then 40, 60, 120, infinity */
    static const double T[30] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306,
                                 2.262,  2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
                                 2.110,  2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
                                 2.060,  2.056, 2.052, 2.048, 2.045, 2.042};
    if (df < 1) df = 1;
    if (df < 31) return T[(int)df - 1];
    if (df < 40) return 2.042;
    if (df < 60) return 2.021;
    if (df < 120) return 2.000;
    return 1.980;
}

double stats_welch_ci95(const double *a, int na, const double *b, int nb, double *delta) {
    *delta = stats_mean(a, na) - stats_mean(b, nb);
    if (na < 2 || nb < 2) return NAN;
    double va = stats_std(a, na), vb = stats_std(b, nb);
    va = va * va / na;
    vb = vb * vb / nb;
    double se2 = va + vb;
    if (se2 == 0) return 0;
    double df = se2 * se2 / (va * va / (na - 1) + vb * vb / (nb - 1));
    return stats_t975(df) * sqrt(se2);
}
