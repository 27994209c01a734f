#include "fit.h"

#include <gsl/gsl_rng.h>
#include <gsl/gsl_sort.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "runs.h"
#include "util.h"

double power_law_loss(const PowerLaw *f, double C) {
    return f->a * pow(C, -f->b) + f->c;
}

double power_law_compute(const PowerLaw *f, double L) {
    if (L <= f->c) return INFINITY;
    return pow(f->a / (L - f->c), 1.0 / f->b);
}

/* For a fixed c: log(L - c) = log a - b log C by least squares; returns the SSE in L. */
static double fit_given_c(const double *C, const double *L, int n, double c, PowerLaw *f) {
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (int i = 0; i < n; i++) {
        double x = log(C[i]), y = log(L[i] - c);
        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
    }
    double den = n * sxx - sx * sx;
    if (den <= 0) return INFINITY;
    double slope = (n * sxy - sx * sy) / den, icept = (sy - slope * sx) / n;
    f->a = exp(icept);
    f->b = -slope;
    f->c = c;
    double sse = 0;
    for (int i = 0; i < n; i++) {
        double r = L[i] - power_law_loss(f, C[i]);
        sse += r * r;
    }
    return sse;
}

int fit_power_law(const double *C, const double *L, int n, PowerLaw *f) {
    if (n < 4) return -1;
    double lmin = INFINITY, cmin = INFINITY, cmax = 0;
    for (int i = 0; i < n; i++) {
        if (!(C[i] > 0) || !isfinite(L[i])) return -1;
        lmin = fmin(lmin, L[i]);
        cmin = fmin(cmin, C[i]);
        cmax = fmax(cmax, C[i]);
    }
    if (cmax <= cmin || lmin <= 0) return -1;
    const int grid = 2000;
    double best = INFINITY, best_c = 0, top = lmin * (1 - 1e-9);
    PowerLaw tmp;
    for (int k = 0; k < grid; k++) {
        double c = top * k / grid, sse = fit_given_c(C, L, n, c, &tmp);
        if (sse < best) {
            best = sse;
            best_c = c;
        }
    }
    /* golden-section refinement within one grid cell on either side */
    double lo = fmax(0, best_c - top / grid), hi = fmin(top, best_c + top / grid);
    const double g = 0.6180339887498949;
    for (int it = 0; it < 100; it++) {
        double x1 = hi - g * (hi - lo), x2 = lo + g * (hi - lo);
        if (fit_given_c(C, L, n, x1, &tmp) < fit_given_c(C, L, n, x2, &tmp))
            hi = x2;
        else
            lo = x1;
    }
    double sse = fit_given_c(C, L, n, 0.5 * (lo + hi), f);
    if (!isfinite(sse) || f->b <= 0) return -1;
    f->rmse = sqrt(sse / n);
    f->c_at_bound = f->c <= top / grid || f->c >= top * (1 - 1.0 / grid);
    return 0;
}

/* Index of every group entry's seed in the list of distinct seeds. */
typedef struct {
    int ns, seeds[FIT_MAX_DISTINCT_SEEDS];
    int (*idx)[FIT_MAX_SEEDS]; /* idx[group][entry] */
} SeedMap;

static int seed_map(const FitGroup *g, int ng, SeedMap *m) {
    m->ns = 0;
    m->idx = calloc((size_t)ng ? (size_t)ng : 1, sizeof *m->idx);
    if (!m->idx) return -1;
    for (int i = 0; i < ng; i++)
        for (int k = 0; k < g[i].n; k++) {
            int j = 0;
            while (j < m->ns && m->seeds[j] != g[i].seed[k]) j++;
            if (j == m->ns) {
                if (m->ns == (int)(sizeof m->seeds / sizeof m->seeds[0])) return -1;
                m->seeds[m->ns++] = g[i].seed[k];
            }
            m->idx[i][k] = j;
        }
    return 0;
}

/* Every group's multiplier with seed j counted weight[j] times: means, prenorm's law fitted to its
 * means, C_prenorm(mean) / C. NAN for a group none of whose seeds is drawn; -1 when the law cannot
 * be fitted (fewer than 4 distinct prenorm compute values, or no power law). */
static int multipliers_weighted(const FitGroup *g, int ng, const SeedMap *sm, const int *weight,
                                double *mult, PowerLaw *law, int *points) {
    double C[FIT_MAX_GROUPS], L[FIT_MAX_GROUPS]; /* ng <= FIT_MAX_GROUPS (fit_multipliers) */
    int np = 0, distinct = 0;
    for (int i = 0; i < ng; i++) {
        double sum = 0, wsum = 0;
        for (int k = 0; k < g[i].n; k++) {
            sum += weight[sm->idx[i][k]] * g[i].loss[k];
            wsum += weight[sm->idx[i][k]];
        }
        mult[i] = wsum > 0 ? sum / wsum : NAN; /* the mean loss until the law is known */
        if (!strcmp(g[i].variant, RB_BASELINE) && isfinite(mult[i])) {
            int seen = 0;
            for (int j = 0; j < np; j++) seen |= fabs(C[j] - g[i].flops) <= 1e-9 * g[i].flops;
            distinct += !seen;
            C[np] = g[i].flops;
            L[np++] = mult[i];
        }
    }
    if (points) *points = distinct;
    if (distinct < 4 || fit_power_law(C, L, np, law) != 0) return -1;
    for (int i = 0; i < ng; i++)
        if (isfinite(mult[i])) mult[i] = power_law_compute(law, mult[i]) / g[i].flops;
    return 0;
}

double fit_pooled(const FitGroup *g, int ng, const double *mult, const char *v) {
    double s = 0;
    int n = 0;
    for (int i = 0; i < ng; i++)
        if (!strcmp(g[i].variant, v)) {
            if (isnan(mult[i])) return NAN;
            s += log(mult[i]);
            n++;
        }
    return n ? exp(s / n) : NAN;
}

/* Quantile q of ascending x[0..n) by linear interpolation between order statistics (GSL's
 * definition), except that a neighbour at INFINITY gives INFINITY rather than NAN. */
static double quantile_sorted(const double *x, int n, double q) {
    double h = q * (n - 1);
    int i = (int)floor(h);
    double d = h - i;
    if (i + 1 >= n || d == 0) return x[i];
    if (isinf(x[i + 1])) return x[i + 1];
    return x[i] + d * (x[i + 1] - x[i]);
}

/* 95% interval from the defined values among `boot` resamples. */
static void interval(double *vals, int boot, FitEstimate *e) {
    int n = 0;
    for (int b = 0; b < boot; b++)
        if (!isnan(vals[b])) vals[n++] = vals[b];
    if (n < 1 || 2 * n < boot) {
        e->lo = e->hi = NAN;
        return;
    }
    gsl_sort(vals, 1, (size_t)n);
    e->lo = quantile_sorted(vals, n, 0.025);
    e->hi = quantile_sorted(vals, n, 0.975);
}

int fit_check_limits(const FitGroup *g, int ng) {
    if (ng > FIT_MAX_GROUPS)
        return rb_fail("fit: %d groups (arm x shape x budget), more than the %d one fit holds", ng,
                       FIT_MAX_GROUPS);
    long seeds[FIT_MAX_DISTINCT_SEEDS];
    int ns = 0;
    for (int i = 0; i < ng; i++) {
        if (g[i].n > FIT_MAX_SEEDS)
            return rb_fail("fit: group %s n_layer=%d d_model=%d has %d runs, more than the %d "
                           "seeds a group holds",
                           g[i].variant, g[i].n_layer, g[i].d_model, g[i].n, FIT_MAX_SEEDS);
        for (int k = 0; k < g[i].n; k++) {
            int j = 0;
            while (j < ns && seeds[j] != g[i].seed[k]) j++;
            if (j < ns) continue;
            if (ns == FIT_MAX_DISTINCT_SEEDS)
                return rb_fail("fit: more than %d distinct seeds over the experiments (the "
                               "bootstrap resamples at most %d)",
                               FIT_MAX_DISTINCT_SEEDS, FIT_MAX_DISTINCT_SEEDS);
            seeds[ns++] = g[i].seed[k];
        }
    }
    return 0;
}

int fit_multipliers(const FitGroup *g, int ng, int boot, unsigned long rng_seed, FitResult *out) {
    if (fit_check_limits(g, ng) != 0) return -1;
    memset(out, 0, sizeof *out);
    SeedMap sm;
    if (seed_map(g, ng, &sm) != 0) {
        free(sm.idx);
        return -1;
    }
    int weight[FIT_MAX_DISTINCT_SEEDS] = {0};
    for (int j = 0; j < sm.ns; j++) weight[j] = 1;
    double mult[256];
    if (multipliers_weighted(g, ng, &sm, weight, mult, &out->law, &out->points) != 0) {
        free(sm.idx);
        return -1;
    }
    for (int i = 0; i < ng; i++) {
        out->group[i].point = mult[i];
        int seen = 0;
        for (int p = 0; p < out->n_pooled; p++)
            seen |= !strcmp(out->pooled_variant[p], g[i].variant);
        if (!seen) { /* at most ng arms */
            int p = out->n_pooled++;
            snprintf(out->pooled_variant[p], sizeof out->pooled_variant[p], "%s", g[i].variant);
        }
    }
    for (int p = 0; p < out->n_pooled; p++) {
        out->pooled[p].point = fit_pooled(g, ng, mult, out->pooled_variant[p]);
        for (int i = 0; i < ng; i++)
            out->pooled_sizes[p] += !strcmp(g[i].variant, out->pooled_variant[p]);
    }
    /* resamples: vals[(group or ng + pooled index) * boot + b] */
    double *vals =
        malloc(sizeof *vals * (size_t)(ng + out->n_pooled) * (size_t)(boot > 0 ? boot : 1));
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!vals || !rng) {
        free(vals);
        gsl_rng_free(rng);
        free(sm.idx);
        return -1;
    }
    gsl_rng_set(rng, rng_seed);
    for (int b = 0; b < boot; b++) {
        memset(weight, 0, sizeof weight);
        for (int k = 0; k < sm.ns; k++) weight[gsl_rng_uniform_int(rng, (unsigned long)sm.ns)]++;
        PowerLaw law;
        if (multipliers_weighted(g, ng, &sm, weight, mult, &law, NULL) != 0)
            for (int i = 0; i < ng; i++) mult[i] = NAN;
        for (int i = 0; i < ng; i++) vals[(size_t)i * boot + b] = mult[i];
        for (int p = 0; p < out->n_pooled; p++)
            vals[(size_t)(ng + p) * boot + b] = fit_pooled(g, ng, mult, out->pooled_variant[p]);
    }
    /* one seed has no spread to resample: its interval stays undefined rather than [m, m] */
    for (int i = 0; i < ng; i++)
        if (g[i].n >= 2)
            interval(vals + (size_t)i * boot, boot, &out->group[i]);
        else
            out->group[i].lo = out->group[i].hi = NAN;
    for (int p = 0; p < out->n_pooled; p++) {
        int min_n = FIT_MAX_SEEDS;
        for (int i = 0; i < ng; i++)
            if (!strcmp(g[i].variant, out->pooled_variant[p]) && g[i].n < min_n) min_n = g[i].n;
        if (min_n >= 2)
            interval(vals + (size_t)(ng + p) * boot, boot, &out->pooled[p]);
        else
            out->pooled[p].lo = out->pooled[p].hi = NAN;
    }
    free(vals);
    gsl_rng_free(rng);
    free(sm.idx);
    return 0;
}
