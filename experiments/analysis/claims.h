/* The claims of the Attention Residuals paper, decided from per-seed measurements. */
#ifndef RB_CLAIMS_H
#define RB_CLAIMS_H
#include <stdint.h>

#include "csvread.h"
#include "verdict.h"

/* The verdicts are verdict.h's vocabulary: reproduced, opposite (the interval on the other side),
 * inconclusive (within seed noise), not tested (fewer than 2 seeds); never equivalent (no
 * margin here). */

/* One measurement of one run, with the key that pairs it: runs with equal keys share seed,
 * data_seed, budget and every trajectory key but the variant (key 0: cannot be paired). */
typedef struct {
    double value;
    uint64_t key;
} Sample;

typedef struct {
    VerdictKind verdict;      /* from the raw 95% interval */
    VerdictKind verdict_holm; /* from the Holm-adjusted p-value (set by claim_holm) */
    int paired; /* 1: mean of per-pair differences; 0: Welch (runs could not be paired) */
    int n;      /* pairs, or the smaller sample for Welch */
    double delta, half_width, p, p_holm;
} Comparison;

/* Does the variant (samples x) beat prenorm (samples y)? better_lower: a smaller value is the
 * claimed improvement. Pairs are formed by key; with 2 or more pairs the statistic is the mean of
 * the per-pair differences with a Student t interval on n-1 degrees of freedom, otherwise Welch's
 * interval over all samples (labelled by paired = 0). Reproduced when the 95% interval lies on the
 * claimed side of 0, not reproduced when on the other, within seed noise when it contains 0;
 * fewer than 2 samples on either side cannot decide. */
Comparison claim_compare(const Sample *x, int nx, const Sample *y, int ny, int better_lower);
/* Holm's family-wise correction over the m comparisons of one claim (one per variant against the
 * same baseline): sets p_holm and verdict_holm (decided at family-wise level 0.05). */
void claim_holm(Comparison *c, int m, int better_lower);
/* verdict_kind_name, with "not tested" saying why: fewer than 2 seeds per arm. */
const char *verdict_name(VerdictKind v);

/* From a run's profile.csv at its last profile step: output RMS of the last sublayer over that of
 * the first (magnitude growth), and the coefficient of variation (std / mean) of the per-sublayer
 * parameter-gradient norms (gradient uniformity). NAN when the table lacks them. */
double profile_growth(const CsvTable *profile);
double profile_grad_cv(const CsvTable *profile);
/* From eval.csv at its last step: accuracy at hop count h (h = 0: the largest hop count);
 * *hops_out gets the hop count used. NAN when absent. */
double eval_accuracy(const CsvTable *eval, int h, int *hops_out);

#endif
