/* Compute multipliers with a calibrated interval (docs/statistics.md section 7): the paired-seed t
 * interval over the seeds of a size ladder, its coverage simulation, and the multiplier a paired
 * loss difference at one size implies through prenorm's law. */
#ifndef RB_MULTIPLIER_H
#define RB_MULTIPLIER_H

#include "fit.h"

#define LADDER_MAX_SIZES 16
#define LADDER_MAX_SEEDS 64

/* A variant and the baseline over a ladder, paired by seed: loss_*[s][j] is seed j at size s (every
 * seed ran at every size in both arms; NAN marks a missing run and drops that seed everywhere). */
typedef struct {
    int sizes, seeds;
    double flops_base[LADDER_MAX_SIZES], flops_variant[LADDER_MAX_SIZES];
    double loss_base[LADDER_MAX_SIZES][LADDER_MAX_SEEDS];
    double loss_variant[LADDER_MAX_SIZES][LADDER_MAX_SEEDS];
} Ladder;

typedef struct {
    double point, lo, hi; /* exp(mean y), exp(mean y -+ t975 sd_y / sqrt(n)) */
    double sd_log;        /* SD of the per-seed log multipliers */
    int n;                /* seeds used */
} MultInterval;

/* Prenorm's law fitted to the baseline's mean losses over the sizes (the fit of fit.h). -1 when it
 * cannot be fitted (fewer than 4 sizes, no power law). */
int ladder_fit_law(const Ladder *l, PowerLaw *law);
/* The paired-seed t interval at level `level` (0.95) of the multiplier pooled over every size
 * (size = -1) or at one size (0..sizes-1), through `law`: y_j = mean over the sizes of
 * log(C_L(L(C_base) + d_j) / C_variant), d_j = variant - baseline at seed j. Fields NAN when fewer
 * than 2 seeds are complete or a y_j is undefined (a loss at or below the law's asymptote: then
 * point is INFINITY when every seed is). */
MultInterval multiplier_paired(const Ladder *l, const PowerLaw *law, int size, double level);
/* The multiplier a paired difference delta at baseline mean loss base_loss (compute base_flops)
 * implies for a variant at compute variant_flops: C_L(base_loss + delta) / C_L(base_loss) *
 * base_flops / variant_flops. NAN when base_loss is at or below the law's asymptote. */
double multiplier_from_delta(const PowerLaw *law, double base_loss, double delta, double base_flops,
                             double variant_flops);

/* Coverage simulation: `ladders` synthetic ladders with prenorm's losses law(C_s) + N(0, sigma^2)
 * and the variant's law(mult * C_vs) + N(0, sigma^2) per seed (independent: no pairing benefit, as
 * measured in part 1), the law refitted to each ladder; the share of 95% paired intervals that
 * contain mult. Ladders whose law cannot be fitted are skipped (*fitted counts the others).
 * Deterministic for a given rng_seed (GSL MT19937). */
double multiplier_coverage(const PowerLaw *law, const double *flops_base,
                           const double *flops_variant, int sizes, int seeds, double mult,
                           double sigma, int ladders, unsigned long rng_seed, int *fitted);

#endif
