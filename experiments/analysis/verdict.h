/* The verdict vocabulary of docs/statistics.md section 5: reproduced, opposite, equivalent (TOST
 * within a margin stated before the runs), inconclusive, not tested; Holm over a stated family. */
#ifndef RB_VERDICT_H
#define RB_VERDICT_H

typedef enum {
    VD_REPRODUCED,
    VD_OPPOSITE,
    VD_EQUIVALENT,
    VD_INCONCLUSIVE,
    VD_NOT_TESTED
} VerdictKind;

typedef struct {
    VerdictKind verdict;
    int n;               /* pairs */
    double mean, sd, se; /* of the paired differences */
    double half_width;   /* 95% t half-width */
    double p;            /* two-sided paired t p-value (raw) */
    double p_adjusted;   /* the p the verdict used (Holm over the family, or raw) */
    double p_tost;       /* NAN without a margin */
    double margin;
} VerdictResult;

/* The paired t test of d[0..n) against 0: fills n, mean, sd, se, half_width, p (NAN when n < 2). */
VerdictResult verdict_test(const double *d, int n);
/* TOST p-value of |mean d| < margin: max of the two one-sided t p-values (NAN when n < 2 or
 * margin is not > 0). */
double verdict_tost_p(const double *d, int n, double margin);
/* The verdict from the paired differences d = variant - baseline: claim_sign -1 when the paper
 * claims d < 0 (e.g. a lower loss), +1 when d > 0; margin: the equivalence margin (NAN: none);
 * p_adjusted: the family's Holm-adjusted p of this test (NAN: use the raw p); tested = 0 forces
 * "not tested" (failed to train, probe at floor or ceiling). alpha: 0.05. */
VerdictResult verdict_paired(const double *d, int n, int claim_sign, double margin,
                             double p_adjusted, int tested, double alpha);
/* A family of m comparisons (d[i][0..n[i]), each with its claim_sign and tested flag): raw p,
 * Holm over the m (untested and undefined ones do not count), verdict of each into out[i]. Holm
 * (stats_holm) takes at most 256 p-values: members beyond that come out "not tested". */
void verdict_family(const double *const *d, const int *n, int m, const int *claim_sign,
                    const int *tested, double margin, double alpha, VerdictResult *out);
const char *verdict_kind_name(VerdictKind v);

#endif
