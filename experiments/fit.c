#include "fit.h"

#include <math.h>

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
    return 0;
}
