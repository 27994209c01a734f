#include "verdict.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>

#include "stats.h"

VerdictResult verdict_test(const double *d, int n) {
    VerdictResult r = {VD_NOT_TESTED, n, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN};
    if (n < 1) return r;
    r.mean = stats_mean(d, n);
    if (n < 2) return r;
    r.sd = stats_std(d, n);
    r.se = r.sd / sqrt(n);
    r.half_width = stats_t975(n - 1) * r.se;
    if (r.se == 0)
        r.p = r.mean == 0 ? 1.0 : 0.0;
    else
        r.p = 2 * gsl_cdf_tdist_Q(fabs(r.mean) / r.se, n - 1);
    return r;
}

double verdict_tost_p(const double *d, int n, double margin) {
    if (n < 2 || !(margin > 0)) return NAN;
    double mean = stats_mean(d, n), se = stats_std(d, n) / sqrt(n);
    if (se == 0) return fabs(mean) < margin ? 0.0 : 1.0;
    double p_low = gsl_cdf_tdist_Q((mean + margin) / se, n - 1);  /* H0: mean <= -margin */
    double p_high = gsl_cdf_tdist_P((mean - margin) / se, n - 1); /* H0: mean >= +margin */
    return p_low > p_high ? p_low : p_high;
}

VerdictResult verdict_paired(const double *d, int n, int claim_sign, double margin,
                             double p_adjusted, int tested, double alpha) {
    VerdictResult r = verdict_test(d, n);
    r.margin = margin;
    r.p_tost = verdict_tost_p(d, n, margin);
    r.p_adjusted = isnan(p_adjusted) ? r.p : p_adjusted;
    if (!tested || n < 2 || isnan(r.p_adjusted)) {
        r.verdict = VD_NOT_TESTED;
        return r;
    }
    if (r.p_adjusted < alpha && r.mean != 0)
        r.verdict = (r.mean < 0) == (claim_sign < 0) ? VD_REPRODUCED : VD_OPPOSITE;
    else if (r.p_tost < alpha)
        r.verdict = VD_EQUIVALENT;
    else
        r.verdict = VD_INCONCLUSIVE;
    return r;
}

void verdict_family(const double *const *d, const int *n, int m, const int *claim_sign,
                    const int *tested, double margin, double alpha, VerdictResult *out) {
    double *p = calloc((size_t)(m > 0 ? m : 1), sizeof *p),
           *adj = calloc((size_t)(m > 0 ? m : 1), sizeof *adj);
    if (!p || !adj) { /* no memory: every comparison stays untested rather than half-decided */
        for (int i = 0; i < m; i++) out[i] = verdict_paired(d[i], n[i], 1, NAN, NAN, 0, alpha);
        free(p);
        free(adj);
        return;
    }
    for (int i = 0; i < m; i++) p[i] = tested[i] ? verdict_test(d[i], n[i]).p : NAN;
    stats_holm(p, m, adj);
    for (int i = 0; i < m; i++)
        out[i] = verdict_paired(d[i], n[i], claim_sign[i], margin, adj[i],
                                tested[i] && !isnan(adj[i]), alpha);
    free(p);
    free(adj);
}

const char *verdict_kind_name(VerdictKind v) {
    switch (v) {
    case VD_REPRODUCED:
        return "reproduced";
    case VD_OPPOSITE:
        return "opposite";
    case VD_EQUIVALENT:
        return "equivalent";
    case VD_INCONCLUSIVE:
        return "inconclusive";
    default:
        return "not tested";
    }
}
