#include "health.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"
#include "util.h"

/* Median of v[from..to) (copied: stats_median sorts). */
static double median_range(const double *v, int from, int to) {
    double tmp[64];
    int m = 0;
    for (int i = from < 0 ? 0 : from; i < to && m < 64; i++) tmp[m++] = v[i];
    return m ? stats_median(tmp, m) : NAN;
}

Health train_health(const long *step, const double *loss, const double *gnorm, int n, long warmup,
                    double grad_clip, const HealthRule *rule) {
    Health h = {HEALTH_DIVERGED, 0, -1, NAN, NAN, NAN, NAN, 0, ""};
    if (n < 2) {
        snprintf(h.reason, sizeof h.reason, "no curve (%d logged rows)", n);
        return h;
    }
    for (int i = 0; i < n; i++)
        if (!isfinite(loss[i]) || !isfinite(gnorm[i])) {
            snprintf(h.reason, sizeof h.reason, "non-finite %s at step %ld",
                     isfinite(loss[i]) ? "grad_norm" : "train_loss", step[i]);
            return h;
        }
    int tail = rule->tail < n ? rule->tail : n, w = rule->window > 64 ? 64 : rule->window;
    h.l_start = loss[0];
    h.l_end = median_range(loss, n - tail, n);
    if (h.l_end >= h.l_start) {
        snprintf(h.reason, sizeof h.reason, "loss ended at %.4g, not below its start %.4g", h.l_end,
                 h.l_start);
        return h;
    }
    for (int i = 1; i < n; i++) {
        if (step[i] <= warmup) continue;
        double med = median_range(gnorm, i - w, i);
        /* a spike is abnormal for the run (K x its running median) and for the recipe (above the
         * clip, so the clip changed the update) */
        if (gnorm[i] > rule->spike * med && (!(grad_clip > 0) || gnorm[i] > grad_clip)) {
            if (!h.spikes++) {
                h.first_spike_step = step[i];
                h.l_pre = median_range(loss, i - tail, i);
                int from = i - w < 0 ? 0 : i - w;
                h.l_early = median_range(loss, from, from + tail < i ? from + tail : i);
            }
        }
    }
    h.cls = HEALTH_STALLED;
    if (h.l_end > (1 - rule->f_learn) * h.l_start) {
        snprintf(h.reason, sizeof h.reason,
                 "loss fell only %.1f%% (%.4g to %.4g), less than %.0f%% of its start",
                 100 * (1 - h.l_end / h.l_start), h.l_start, h.l_end, 100 * rule->f_learn);
        return h;
    }
    int stalled_after = h.spikes >= rule->min_spikes && h.l_end > (1 - rule->f_after) * h.l_pre;
    if (stalled_after && !(h.l_pre < (1 - rule->f_after) * h.l_early)) {
        h.cls = HEALTH_TRAINED; /* on its plateau before the spikes: converged, not broken */
        h.converged = 1;
        snprintf(h.reason, sizeof h.reason,
                 "converged plateau: loss %.4g to %.4g; %d spikes after the warmup (first at step "
                 "%ld) began on a plateau (%.4g to %.4g before them)",
                 h.l_start, h.l_end, h.spikes, h.first_spike_step, h.l_early, h.l_pre);
        return h;
    }
    if (stalled_after) {
        snprintf(h.reason, sizeof h.reason,
                 "unstable: %d gradient-norm spikes > %gx the running median and > grad_clip after "
                 "the warmup (first at step %ld), then the loss fell only %.1f%% (%.4g to %.4g)",
                 h.spikes, rule->spike, h.first_spike_step, 100 * (1 - h.l_end / h.l_pre), h.l_pre,
                 h.l_end);
        return h;
    }
    h.cls = HEALTH_TRAINED;
    snprintf(h.reason, sizeof h.reason, "loss %.4g to %.4g, %d spike%s after the warmup", h.l_start,
             h.l_end, h.spikes, h.spikes == 1 ? "" : "s");
    return h;
}

int train_health_csv(const CsvTable *t, long warmup, double grad_clip, const HealthRule *rule,
                     Health *out) {
    int cs = csv_col(t, "step"), cl = csv_col(t, "train_loss"), cg = csv_col(t, "grad_norm");
    if (cs < 0 || cl < 0 || cg < 0)
        return rb_fail("metrics.csv: a column of step, train_loss, grad_norm is missing");
    size_t n = csv_nrows(t);
    if (n > 1000000) return rb_fail("metrics.csv: %zu rows (at most 1000000)", n);
    long *step = malloc(sizeof *step * (n ? n : 1));
    double *loss = malloc(sizeof *loss * (n ? n : 1)), *g = malloc(sizeof *g * (n ? n : 1));
    if (!step || !loss || !g) {
        free(step);
        free(loss);
        free(g);
        return rb_fail("metrics.csv: out of memory");
    }
    for (size_t r = 0; r < n; r++) {
        step[r] = csv_int(t, r, cs, -1);
        loss[r] = csv_num(t, r, cl);
        g[r] = csv_num(t, r, cg);
    }
    *out = train_health(step, loss, g, (int)n, warmup, grad_clip, rule);
    free(step);
    free(loss);
    free(g);
    return 0;
}

const char *health_name(HealthClass c) {
    return c == HEALTH_TRAINED ? "trained" : c == HEALTH_DIVERGED ? "diverged" : "stalled";
}
