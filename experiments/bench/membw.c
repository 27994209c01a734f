/* STREAM-like triad bandwidth (membw.h). The arrays are touched first by the threads that later
 * stream them (first-touch page placement), each rep is one parallel pass, and the best rep counts:
 * the machine's achievable rate, as the sgemm peak is its achievable compute. */
#include "membw.h"

#include <math.h>
#include <stdlib.h>

#include "util.h"

/* Seconds of the fastest of `reps` triad passes over n elements (at least 3, at least 0.05 s). */
static double triad_best(float *a, const float *b, const float *c, long n) {
    double best = INFINITY, spent = 0;
    for (int rep = 0; rep < 3 || spent < 0.05; rep++) {
        double t0 = rb_now();
#pragma omp parallel for schedule(static)
        for (long i = 0; i < n; i++) a[i] = b[i] + 0.5f * c[i];
        double t = rb_now() - t0;
        spent += t;
        if (t < best) best = t;
        if (rep > 10000) break;
    }
    return best;
}

int membw_measure(Bandwidth *bw, double min_mb, double max_mb) {
    long max_n = (long)(max_mb * 1024 * 1024 / (3 * sizeof(float)));
    float *a = malloc((size_t)max_n * sizeof(float)), *b = malloc((size_t)max_n * sizeof(float)),
          *c = malloc((size_t)max_n * sizeof(float));
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        return rb_fail("bench: cannot allocate %.0f MB for the bandwidth triad", max_mb);
    }
#pragma omp parallel for schedule(static)
    for (long i = 0; i < max_n; i++) a[i] = 0, b[i] = 1.0f, c[i] = 2.0f;
    bw->n = 0;
    for (double mb = min_mb; mb <= max_mb * 1.0001 && bw->n < MEMBW_MAX_SIZES; mb *= 2) {
        long n = (long)(mb * 1024 * 1024 / (3 * sizeof(float)));
        double t = triad_best(a, b, c, n);
        bw->footprint_mb[bw->n] = mb;
        bw->gbs[bw->n] = 3.0 * sizeof(float) * n / t * 1e-9;
        bw->n++;
    }
    int ok = a[max_n / 2] == 2.0f; /* 1 + 0.5 * 2, so the passes cannot be optimised away */
    free(a), free(b), free(c);
    return ok ? 0 : rb_fail("bench: the bandwidth triad computed a wrong value");
}

double membw_at(const Bandwidth *bw, double footprint_mb) {
    if (bw->n == 0) return NAN;
    if (footprint_mb <= bw->footprint_mb[0]) return bw->gbs[0];
    for (int k = 1; k < bw->n; k++)
        if (footprint_mb <= bw->footprint_mb[k]) {
            double x0 = log(bw->footprint_mb[k - 1]), x1 = log(bw->footprint_mb[k]);
            double f = (log(footprint_mb) - x0) / (x1 - x0);
            return bw->gbs[k - 1] + f * (bw->gbs[k] - bw->gbs[k - 1]);
        }
    return bw->gbs[bw->n - 1];
}
