#include "claims.h"

#include <math.h>
#include <string.h>

#include "stats.h"

Comparison claim_compare(const double *x, int nx, const double *y, int ny, int better_lower) {
    Comparison c = {VERDICT_FEW_SEEDS, NAN, NAN};
    c.half_width = stats_welch_ci95(x, nx, y, ny, &c.delta);
    if (nx < 1 || ny < 1 || isnan(c.half_width)) return c;
    double gain = better_lower ? -c.delta : c.delta; /* > 0: the claimed direction */
    if (gain - c.half_width > 0)
        c.verdict = VERDICT_REPRODUCED;
    else if (gain + c.half_width < 0)
        c.verdict = VERDICT_NOT_REPRODUCED;
    else
        c.verdict = VERDICT_NOISE;
    return c;
}

const char *verdict_name(Verdict v) {
    switch (v) {
    case VERDICT_REPRODUCED:
        return "reproduced";
    case VERDICT_NOT_REPRODUCED:
        return "not reproduced";
    case VERDICT_NOISE:
        return "within seed noise";
    default:
        return "undecided (needs 2+ seeds per variant)";
    }
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

double profile_growth(const CsvTable *profile) {
    double v[256];
    int n = profile_column(profile, "output_rms", v, 256);
    return n >= 2 && v[0] > 0 ? v[n - 1] / v[0] : NAN;
}

double profile_grad_cv(const CsvTable *profile) {
    double v[256];
    int n = profile_column(profile, "param_grad_norm", v, 256);
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
