#include "measures.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_sf_gamma.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"
#include "util.h"

int profile_points(const CsvTable *t, double step, ProfilePoint *out, int max) {
    int cs = csv_col(t, "step"), cl = csv_col(t, "layer"), ck = csv_col(t, "kind"),
        ci = csv_col(t, "input_rms"), cst = csv_col(t, "stream_rms"), co = csv_col(t, "output_rms"),
        cg = csv_col(t, "grad_rms"), cb = csv_col(t, "batch");
    if (cs < 0 || cl < 0 || ck < 0 || ci < 0 || cst < 0 || co < 0 || cg < 0)
        return rb_fail("profile.csv: a column of step, layer, kind, input_rms, stream_rms, "
                       "output_rms, grad_rms is missing");
    if (isnan(step))
        for (size_t r = 0; r < csv_nrows(t); r++)
            if (isnan(step) || csv_num(t, r, cs) > step) step = csv_num(t, r, cs);
    int n = 0;
    for (size_t r = 0; r < csv_nrows(t); r++) {
        if (csv_num(t, r, cs) != step) continue;
        const char *kind = csv_cell(t, r, ck);
        if (!strcmp(kind, "out")) continue;
        if (strcmp(kind, "attn") != 0 && strcmp(kind, "mlp") != 0)
            return rb_fail("profile.csv: row %zu, column kind: '%s' (allowed: attn, mlp, out)",
                           r + 2, kind);
        if (n == max)
            return rb_fail("profile.csv: more than %d sublayer rows at step %g", max, step);
        out[n++] = (ProfilePoint){csv_int(t, r, cl, 0),
                                  strcmp(kind, "attn") ? SUB_MLP : SUB_ATTN,
                                  cb >= 0 ? csv_int(t, r, cb, 0) : 0,
                                  csv_num(t, r, ci),
                                  csv_num(t, r, cst),
                                  csv_num(t, r, co),
                                  csv_num(t, r, cg)};
    }
    return n;
}

double measure_slope(const double *x, const double *y, int n, int skip) {
    double sx = 0, sy = 0;
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (i == skip) continue;
        if (!isfinite(y[i]) || !isfinite(x[i])) return NAN;
        sx += x[i];
        sy += y[i];
        m++;
    }
    if (m < 2) return NAN;
    double mx = sx / m, my = sy / m, sxx = 0, sxy = 0;
    for (int i = 0; i < n; i++) {
        if (i == skip) continue;
        sxx += (x[i] - mx) * (x[i] - mx);
        sxy += (x[i] - mx) * (y[i] - my);
    }
    return sxx > 0 ? sxy / sxx : NAN;
}

double measure_theil_sen(const double *x, const double *y, int n) {
    int cap = n * (n - 1) / 2, k = 0;
    if (n < 2) return NAN;
    double *s = malloc(sizeof *s * (size_t)cap);
    if (!s) return NAN;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (x[j] != x[i]) s[k++] = (y[j] - y[i]) / (x[j] - x[i]);
    double med = k ? stats_median(s, k) : NAN;
    free(s);
    return med;
}

SlopeStat measure_magnitude(const ProfilePoint *p, int n, int type, int use_stream,
                            int skip_layer) {
    SlopeStat r = {NAN, NAN, NAN, NAN, 0, NAN, 0};
    double x[MEASURE_MAX_SUB], y[MEASURE_MAX_SUB];
    int layer[MEASURE_MAX_SUB], m = 0;
    for (int i = 0; i < n && m < MEASURE_MAX_SUB; i++) {
        if (p[i].batch != 0 || p[i].layer == skip_layer) continue;
        if (type != SUB_ANY && p[i].type != type) continue;
        double v = use_stream ? p[i].stream_rms : p[i].input_rms;
        if (!(v > 0) || !isfinite(v)) return r;
        x[m] = p[i].layer;
        y[m] = log(v);
        layer[m++] = p[i].layer;
    }
    if (m < 3) return r;
    r.n = m;
    r.slope = measure_slope(x, y, m, -1);
    r.theil_sen = measure_theil_sen(x, y, m);
    for (int i = 0; i < m; i++) {
        double s = measure_slope(x, y, m, i);
        if (isnan(r.loo_min) || s < r.loo_min) r.loo_min = s;
        if (isnan(r.loo_max) || s > r.loo_max) r.loo_max = s;
        if (isnan(r.loo_change) || fabs(s - r.slope) > r.loo_change) {
            r.loo_change = fabs(s - r.slope);
            r.loo_layer = layer[i];
        }
    }
    return r;
}

/* Population CV of v[0..m). */
static double cv_of(const double *v, int m) {
    if (m < 2) return NAN;
    double mean = stats_mean(v, m), ss = 0;
    for (int i = 0; i < m; i++) ss += (v[i] - mean) * (v[i] - mean);
    return mean > 0 ? sqrt(ss / m) / mean : NAN;
}

GradCV measure_grad_cv(const ProfilePoint *p, int n) {
    GradCV r = {NAN, NAN, NAN, 0};
    int maxb = -1;
    for (int i = 0; i < n; i++)
        if (p[i].batch > maxb) maxb = p[i].batch;
    double sum[2] = {0, 0};
    int nb = 0;
    for (int b = 0; b <= maxb; b++) {
        double v[2][MEASURE_MAX_SUB];
        int m[2] = {0, 0};
        for (int i = 0; i < n; i++) {
            if (p[i].batch != b) continue;
            if (!(p[i].grad_rms > 0) || !isfinite(p[i].grad_rms)) return r;
            if (m[p[i].type] < MEASURE_MAX_SUB) v[p[i].type][m[p[i].type]++] = p[i].grad_rms;
        }
        if (!m[0] && !m[1]) continue; /* batch numbers need not be contiguous */
        double ca = cv_of(v[SUB_ATTN], m[SUB_ATTN]), cm = cv_of(v[SUB_MLP], m[SUB_MLP]);
        if (isnan(ca) || isnan(cm)) return r;
        sum[SUB_ATTN] += ca;
        sum[SUB_MLP] += cm;
        nb++;
    }
    if (!nb) return r;
    r.batches = nb;
    r.cv_attn = sum[SUB_ATTN] / nb;
    r.cv_mlp = sum[SUB_MLP] / nb;
    r.cv = 0.5 * (r.cv_attn + r.cv_mlp);
    return r;
}

ProbeRange probe_range(long k, long n, double chance, double alpha) {
    if (n <= 0 || k < 0 || k > n) return PROBE_FLOOR; /* no evidence at all */
    double p_floor =
        chance > 0 ? (k == 0 ? 1.0 : gsl_cdf_binomial_Q((unsigned)(k - 1), chance, (unsigned)n))
                   : (k == 0 ? 1.0 : 0.0);
    if (p_floor > alpha) return PROBE_FLOOR;
    /* C(n + k, n) / C(2n, n) through log-gamma (the counts can be in the thousands) */
    double p_ceil = exp(gsl_sf_lnchoose((unsigned)(n + k), (unsigned)n) -
                        gsl_sf_lnchoose((unsigned)(2 * n), (unsigned)n));
    return p_ceil > alpha ? PROBE_CEILING : PROBE_TESTED;
}

const char *probe_range_name(ProbeRange r) {
    return r == PROBE_FLOOR ? "at floor" : r == PROBE_CEILING ? "at ceiling" : "tested";
}
