#include "power.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_integration.h>
#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>

#include "stats.h"

typedef struct {
    double t, df, ncp;
} NctArgs;

/* P(T' <= t) = E[Phi(t S - ncp)] with S = sqrt(V / df), V ~ chi-square(df): the integrand over s
 * with S's density 2 df s f_chi2(df s^2), which is smooth at 0 for every df (the chi-square density
 * itself is not for df = 1). */
static double nct_integrand(double s, void *p) {
    const NctArgs *a = p;
    return gsl_cdf_ugaussian_P(a->t * s - a->ncp) * 2 * a->df * s *
           gsl_ran_chisq_pdf(a->df * s * s, a->df);
}

double power_nct_cdf(double t, double df, double ncp) {
    if (!(df > 0) || !isfinite(t) || !isfinite(ncp)) return NAN;
    NctArgs a = {t, df, ncp};
    gsl_function f = {nct_integrand, &a};
    gsl_integration_workspace *w = gsl_integration_workspace_alloc(512);
    if (!w) return NAN;
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    /* S's mass outside [lo, hi] is below 2e-16; when GSL's chi-square quantile does not converge
     * (df in the hundreds of thousands) S is normal, mean 1, SD 1/sqrt(2 df): 9 SDs either side */
    double lo = sqrt(gsl_cdf_chisq_Pinv(1e-16, df) / df),
           hi = sqrt(gsl_cdf_chisq_Qinv(1e-16, df) / df), result = NAN, err = 0;
    if (!isfinite(lo) || !isfinite(hi) || !(hi > lo)) {
        lo = fmax(0, 1 - 9 / sqrt(2 * df));
        hi = 1 + 9 / sqrt(2 * df);
    }
    int rc =
        gsl_integration_qag(&f, lo, hi, 1e-14, 1e-11, 512, GSL_INTEG_GAUSS61, w, &result, &err);
    gsl_set_error_handler(old);
    gsl_integration_workspace_free(w);
    if (rc != GSL_SUCCESS && err > 1e-9) return NAN; /* an absolute error that small is harmless */
    return result < 0 ? 0 : result > 1 ? 1 : result;
}

double power_paired(double effect, double sd, int n, double alpha) {
    if (n < 2 || !(sd > 0) || !(alpha > 0 && alpha < 1) || !isfinite(effect)) return NAN;
    double df = n - 1, tc = gsl_cdf_tdist_Pinv(1 - alpha / 2, df), ncp = effect * sqrt(n) / sd;
    return 1 - power_nct_cdf(tc, df, ncp) + power_nct_cdf(-tc, df, ncp);
}

double power_mde(double sd, int n, double alpha, double power) {
    if (n < 2 || !(sd > 0) || !(power > alpha && power < 1)) return NAN;
    /* power rises with the effect; bracket it, then bisect */
    double lo = 0, hi = sd;
    while (power_paired(hi, sd, n, alpha) < power) {
        lo = hi;
        hi *= 2;
        if (hi > 1e6 * sd) return NAN;
    }
    for (int it = 0; it < 100 && hi - lo > 1e-12 * hi; it++) {
        double mid = 0.5 * (lo + hi);
        if (power_paired(mid, sd, n, alpha) < power)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

int power_seeds(double effect, double sd, double alpha, double power, int max_n) {
    if (!(fabs(effect) > 0) || !(sd > 0)) return -1;
    for (int n = 2; n <= max_n; n++) {
        double p = power_paired(effect, sd, n, alpha);
        if (isnan(p)) return -1;
        if (p >= power) return n;
    }
    return -1;
}

double noise_floor(const double *orig, const double *pert, int n) {
    if (n < 1) return NAN;
    double s = 0;
    for (int i = 0; i < n; i++) s += (orig[i] - pert[i]) * (orig[i] - pert[i]);
    return sqrt(s / (2.0 * n));
}

PairingRatio pairing_ratio(const double *x, const double *y, int n) {
    PairingRatio r = {NAN, NAN, NAN, NAN};
    if (n < 2) return r;
    double *d = malloc(sizeof *d * (size_t)n);
    if (!d) return r;
    for (int i = 0; i < n; i++) d[i] = x[i] - y[i];
    double sx = stats_std(x, n), sy = stats_std(y, n), mx = stats_mean(x, n), my = stats_mean(y, n),
           cov = 0;
    for (int i = 0; i < n; i++) cov += (x[i] - mx) * (y[i] - my);
    cov /= n - 1;
    r.sd_paired = stats_std(d, n);
    r.sd_unpaired = sqrt(sx * sx + sy * sy);
    r.ratio = r.sd_unpaired > 0 ? r.sd_paired / r.sd_unpaired : NAN;
    r.correlation = sx > 0 && sy > 0 ? cov / (sx * sy) : NAN;
    free(d);
    return r;
}
