/* The claims of the Attention Residuals paper, decided from per-seed measurements. */
#ifndef RB_CLAIMS_H
#define RB_CLAIMS_H
#include "csvread.h"

typedef enum {
    VERDICT_REPRODUCED,
    VERDICT_NOT_REPRODUCED,
    VERDICT_NOISE,
    VERDICT_FEW_SEEDS
} Verdict;

typedef struct {
    Verdict verdict;
    double delta, half_width; /* mean(variant) - mean(prenorm) and its Welch 95% half-width */
} Comparison;

/* Does the variant (samples x) beat prenorm (samples y)? better_lower: a smaller value is the
 * claimed improvement. Reproduced when the 95% interval of the difference lies on the claimed
 * side of 0, not reproduced when on the other, within seed noise when it contains 0; fewer than 2
 * samples on either side cannot decide. */
Comparison claim_compare(const double *x, int nx, const double *y, int ny, int better_lower);
const char *verdict_name(Verdict v);

/* From a run's profile.csv at its last profile step: output RMS of the last sublayer over that of
 * the first (magnitude growth), and the coefficient of variation (std / mean) of the per-sublayer
 * parameter-gradient norms (gradient uniformity). NAN when the table lacks them. */
double profile_growth(const CsvTable *profile);
double profile_grad_cv(const CsvTable *profile);
/* From eval.csv at its last step: accuracy at hop count h (h = 0: the largest hop count);
 * *hops_out gets the hop count used. NAN when absent. */
double eval_accuracy(const CsvTable *eval, int h, int *hops_out);

#endif
