#include "claims.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"
#include "util.h"

static VerdictKind decide(double gain, double half_width) {
    if (isnan(half_width)) return VD_NOT_TESTED;
    if (gain - half_width > 0) return VD_REPRODUCED;
    if (gain + half_width < 0) return VD_OPPOSITE;
    return VD_INCONCLUSIVE;
}

/* n doubles (at least one; rb_calloc: out of memory ends the process). */
static double *doubles(int n) {
    return rb_calloc((size_t)(n > 0 ? n : 1), sizeof(double), "samples");
}

Comparison claim_compare(const Sample *x, int nx, const Sample *y, int ny, int better_lower) {
    /* every sample and pair, however many seeds */
    double *px = doubles(nx), *py = doubles(nx), *ax = doubles(nx), *ay = doubles(ny);
    int np = 0;
    for (int i = 0; i < nx; i++) {
        ax[i] = x[i].value;
        for (int j = 0; x[i].key && j < ny; j++)
            if (y[j].key == x[i].key) {
                px[np] = x[i].value;
                py[np++] = y[j].value;
                break;
            }
    }
    for (int j = 0; j < ny; j++) ay[j] = y[j].value;
    Comparison c = {VD_NOT_TESTED, VD_NOT_TESTED, np >= 2, 0, NAN, NAN, NAN, NAN};
    Interval r = c.paired ? stats_paired_ci95(px, py, np) : stats_welch(ax, nx, ay, ny);
    free(px);
    free(py);
    free(ax);
    free(ay);
    c.n = r.n;
    c.delta = r.delta;
    c.half_width = r.half_width;
    c.p = r.p;
    if (nx < 1 || ny < 1) return c;
    c.verdict = decide(better_lower ? -c.delta : c.delta, c.half_width);
    return c;
}

void claim_holm(Comparison *c, int m, int better_lower) {
    double *p = doubles(m), *adj = doubles(m); /* every comparison of the family */
    for (int i = 0; i < m; i++) p[i] = c[i].p;
    stats_holm(p, m, adj);
    for (int i = 0; i < m; i++) {
        c[i].p_holm = adj[i];
        double gain = better_lower ? -c[i].delta : c[i].delta;
        if (isnan(adj[i]))
            c[i].verdict_holm = VD_NOT_TESTED;
        else if (adj[i] >= 0.05)
            c[i].verdict_holm = VD_INCONCLUSIVE;
        else
            c[i].verdict_holm = gain > 0 ? VD_REPRODUCED : VD_OPPOSITE;
    }
    free(p);
    free(adj);
}

const char *verdict_name(VerdictKind v) {
    return v == VD_NOT_TESTED ? "not tested (fewer than 2 seeds per arm)" : verdict_kind_name(v);
}

static double last_step(const CsvTable *t, int cs) {
    double mx = NAN;
    for (size_t r = 0; r < csv_nrows(t); r++)
        if (isnan(mx) || csv_num(t, r, cs) > mx) mx = csv_num(t, r, cs);
    return mx;
}

/* Per-sublayer column at the last profile step (rows of kind attn/mlp in layer order). */
static int profile_column(const CsvTable *p, const char *name, double *out, int max) {
    int cs = csv_col(p, "step"), ck = csv_col(p, "kind"), cv = csv_col(p, name);
    if (cs < 0 || ck < 0 || cv < 0) return 0;
    double last = last_step(p, cs);
    int n = 0;
    for (size_t r = 0; r < csv_nrows(p) && n < max; r++)
        if (csv_num(p, r, cs) == last && strcmp(csv_cell(p, r, ck), "out") != 0)
            out[n++] = csv_num(p, r, cv);
    return n;
}

/* At most RB_MAX_SUB sublayers per profile step (the model's limit): max = that + 1 tells a
 * profile with more rows (not written by resbench) from one at the limit. */
#define PROFILE_MAX (256 + 1)

double profile_growth(const CsvTable *profile) {
    double v[PROFILE_MAX];
    int n = profile_column(profile, "output_rms", v, PROFILE_MAX);
    if (n == PROFILE_MAX) return NAN; /* more sublayers than a model has: not a profile */
    return n >= 2 && v[0] > 0 ? v[n - 1] / v[0] : NAN;
}

double profile_grad_cv(const CsvTable *profile) {
    double v[PROFILE_MAX];
    int n = profile_column(profile, "param_grad_norm", v, PROFILE_MAX);
    if (n == PROFILE_MAX) return NAN;
    if (n < 2) return NAN;
    double mean = stats_mean(v, n), ss = 0;
    for (int i = 0; i < n; i++) ss += (v[i] - mean) * (v[i] - mean);
    return mean > 0 ? sqrt(ss / n) / mean : NAN;
}

double eval_accuracy(const CsvTable *eval, int h, int *hops_out) {
    int cs = csv_col(eval, "step"), ch = csv_col(eval, "hops"), ca = csv_col(eval, "accuracy");
    if (cs < 0 || ch < 0 || ca < 0 || csv_nrows(eval) == 0) return NAN;
    double last = last_step(eval, cs), acc = NAN;
    int best = 0;
    for (size_t r = 0; r < csv_nrows(eval); r++) {
        int hr = csv_int(eval, r, ch, -1);
        if (csv_num(eval, r, cs) != last) continue;
        if ((h > 0 && hr == h) || (h == 0 && hr > best)) {
            best = hr;
            acc = csv_num(eval, r, ca);
        }
    }
    if (hops_out) *hops_out = h > 0 ? h : best;
    return acc;
}
