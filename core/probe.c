#include "probe.h"

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

void probe_hops_count(const Model *m, double *correct, double *total) {
    for (int t = 0; t < m->N; t++) {
        int h = m->inputs[t] - '0';
        if (h < 1 || h > RB_PROBE_MAX_HOPS) continue;
        total[h] += 1;
        correct[h] += argmax(m->a.logits + (size_t)t * m->V, m->V) == m->targets[t];
    }
}
