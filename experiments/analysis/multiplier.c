#include "multiplier.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <string.h>

#include "stats.h"

int ladder_fit_law(const Ladder *l, PowerLaw *law) {
    double C[LADDER_MAX_SIZES], L[LADDER_MAX_SIZES];
    for (int s = 0; s < l->sizes; s++) {
        double sum = 0;
        int k = 0;
        for (int j = 0; j < l->seeds; j++)
            if (isfinite(l->loss_base[s][j])) {
                sum += l->loss_base[s][j];
                k++;
            }
        if (!k) return -1;
        C[s] = l->flops_base[s];
        L[s] = sum / k;
    }
    return fit_power_law(C, L, l->sizes, law);
}

double multiplier_from_delta(const PowerLaw *law, double base_loss, double delta, double base_flops,
                             double variant_flops) {
    if (!(base_loss > law->c) || !(variant_flops > 0)) return NAN;
    return power_law_compute(law, base_loss + delta) / power_law_compute(law, base_loss) *
           base_flops / variant_flops;
}

MultInterval multiplier_paired(const Ladder *l, const PowerLaw *law, int size, double level) {
    MultInterval r = {NAN, NAN, NAN, NAN, 0};
    int from = size < 0 ? 0 : size, to = size < 0 ? l->sizes : size + 1;
    if (from >= l->sizes || l->seeds > LADDER_MAX_SEEDS) return r;
    double y[LADDER_MAX_SEEDS];
    int n = 0, infinite = 0;
    for (int j = 0; j < l->seeds; j++) {
        double sum = 0;
        int complete = 1, inf = 0;
        for (int s = from; s < to; s++) {
            double d = l->loss_variant[s][j] - l->loss_base[s][j];
            if (!isfinite(d)) {
                complete = 0;
                break;
            }
            double m = power_law_compute(law, power_law_loss(law, l->flops_base[s]) + d) /
                       l->flops_variant[s];
            if (isinf(m)) inf = 1;
            sum += log(m);
        }
        if (!complete) continue;
        infinite += inf;
        y[n++] = sum / (to - from);
    }
    r.n = n;
    if (n < 2) return r;
    if (infinite) {
        if (infinite == n) r.point = INFINITY;
        return r;
    }
    double mean = stats_mean(y, n), sd = stats_std(y, n);
    double t = gsl_cdf_tdist_Pinv(0.5 + level / 2, n - 1), hw = t * sd / sqrt(n);
    r.point = exp(mean);
    r.lo = exp(mean - hw);
    r.hi = exp(mean + hw);
    r.sd_log = sd;
    return r;
}

double multiplier_coverage(const PowerLaw *law, const double *flops_base,
                           const double *flops_variant, int sizes, int seeds, double mult,
                           double sigma, int ladders, unsigned long rng_seed, int *fitted) {
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!rng || sizes > LADDER_MAX_SIZES || seeds > LADDER_MAX_SEEDS) {
        gsl_rng_free(rng);
        return NAN;
    }
    gsl_rng_set(rng, rng_seed);
    static Ladder l; /* 16 KB: not on the stack */
    memset(&l, 0, sizeof l);
    l.sizes = sizes;
    l.seeds = seeds;
    int ok = 0, covered = 0;
    for (int k = 0; k < ladders; k++) {
        for (int s = 0; s < sizes; s++) {
            l.flops_base[s] = flops_base[s];
            l.flops_variant[s] = flops_variant[s];
            double lb = power_law_loss(law, flops_base[s]),
                   lv = power_law_loss(law, mult * flops_variant[s]);
            for (int j = 0; j < seeds; j++) {
                l.loss_base[s][j] = lb + gsl_ran_gaussian(rng, sigma);
                l.loss_variant[s][j] = lv + gsl_ran_gaussian(rng, sigma);
            }
        }
        PowerLaw fitted_law;
        if (ladder_fit_law(&l, &fitted_law) != 0) continue;
        MultInterval r = multiplier_paired(&l, &fitted_law, -1, 0.95);
        if (isnan(r.lo) || isnan(r.hi)) continue;
        ok++;
        covered += r.lo <= mult && mult <= r.hi;
    }
    gsl_rng_free(rng);
    if (fitted) *fitted = ok;
    return ok ? (double)covered / ok : NAN;
}
