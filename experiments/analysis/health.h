/* Did a run train? The failed-to-train rule of docs/statistics.md section 3, from metrics.csv. */
#ifndef RB_HEALTH_H
#define RB_HEALTH_H

#include "csvread.h"

typedef enum { HEALTH_TRAINED, HEALTH_DIVERGED, HEALTH_STALLED } HealthClass;

/* The rule's parameters (docs/statistics.md; HEALTH_DEFAULT is the documented set). */
typedef struct {
    int window;     /* W: logged rows in the running median of grad_norm */
    double spike;   /* K: a spike is grad_norm > K x that median */
    int min_spikes; /* N */
    double f_learn; /* stalled if L_end > (1 - f_learn) L_start */
    double f_after; /* with N spikes: stalled if L_end > (1 - f_after) L_pre */
    int tail; /* L_end (L_pre): median train loss of the last `tail` rows (before the spike) */
} HealthRule;

#define HEALTH_DEFAULT ((HealthRule){10, 5.0, 3, 0.10, 0.05, 5})

typedef struct {
    HealthClass cls;
    int spikes;                            /* spikes after the warmup */
    long first_spike_step;                 /* -1: none */
    double l_start, l_end, l_pre, l_early; /* l_early: 5 rows starting W rows before the spike */
    int converged; /* trained on a plateau reached before the spikes began */
    char reason[240];
} Health;

/* Classifies the curve of n logged rows (steps ascending; train_loss and grad_norm per row);
 * warmup: the run's warmup steps (spikes are counted after it); grad_clip: the run's clip
 * threshold (a spike must exceed it; 0: no clipping, the ratio alone). n < 2: diverged. */
Health train_health(const long *step, const double *train_loss, const double *grad_norm, int n,
                    long warmup, double grad_clip, const HealthRule *rule);
/* The same from a run's metrics.csv table (columns step, train_loss, grad_norm); -1 with
 * rb_error() when a column is missing or the table has more than 1,000,000 rows. */
int train_health_csv(const CsvTable *metrics, long warmup, double grad_clip, const HealthRule *rule,
                     Health *out);
const char *health_name(HealthClass c);

#endif
