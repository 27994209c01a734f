/* Measures of a run's profile and probe that decide the paper's claims (docs/statistics.md,
 * sections 1, 2 and 4): the growth rate of the residual stream with depth, the uniformity of the
 * gradient each sublayer receives, and whether an accuracy probe has room to show a gain. */
#ifndef RB_MEASURES_H
#define RB_MEASURES_H

#include "csvread.h"

#define MEASURE_MAX_SUB 256

enum { SUB_ATTN = 0, SUB_MLP = 1, SUB_ANY = 2 };

/* One sublayer row of profile.csv (kind attn or mlp; the readout row is not one). */
typedef struct {
    int layer, type, batch; /* layer 1..L, type SUB_ATTN or SUB_MLP, batch 0 without the column */
    double input_rms, stream_rms, output_rms, grad_rms;
} ProfilePoint;

/* The sublayer rows of profile.csv at `step` (NAN: the last step in the file), in file order.
 * Returns how many (at most max), or -1 with rb_error() when a needed column is missing, a kind is
 * neither attn, mlp nor out, or there are more than max rows. */
int profile_points(const CsvTable *profile, double step, ProfilePoint *out, int max);

/* Least-squares slope of y against x over the n points, leaving out point `skip` (-1: none).
 * NAN when fewer than 2 points remain, x has no spread, or a used y is not finite. */
double measure_slope(const double *x, const double *y, int n, int skip);
/* Theil-Sen slope: the median of the pairwise slopes (y_k - y_i) / (x_k - x_i), x_k != x_i. */
double measure_theil_sen(const double *x, const double *y, int n);

typedef struct {
    double slope;            /* d log(rms) / d sublayer, least squares */
    double loo_min, loo_max; /* range of the slopes with one sublayer left out */
    double loo_change;       /* max_i |slope_(-i) - slope| */
    int loo_layer;           /* the sublayer (1..L) whose removal changes the slope most */
    double theil_sen;        /* robust cross-check */
    int n;                   /* sublayers used */
} SlopeStat;

/* Growth rate of log RMS with depth over the points of one batch (batch 0) of type `type`
 * (SUB_ATTN, SUB_MLP or SUB_ANY), reading column `use_stream` ? stream_rms : input_rms. Fields
 * NAN (n = 0) when fewer than 3 points, or a value is not positive and finite. `skip_layer` (0:
 * none) leaves that sublayer out first: the comparison-level leave-one-out of docs/statistics.md.
 */
SlopeStat measure_magnitude(const ProfilePoint *p, int n, int type, int use_stream, int skip_layer);

typedef struct {
    double cv; /* mean over the types of the per-type CVs (each a mean over batches) */
    double cv_attn, cv_mlp;
    int batches;
} GradCV;

/* Coefficient of variation (population SD / mean) of grad_rms across the sublayers of each type,
 * per batch, averaged over batches, then over the two types. Fields NAN when a type has fewer than
 * 2 sublayers in a batch or a grad_rms is not positive and finite. */
GradCV measure_grad_cv(const ProfilePoint *p, int n);

typedef enum { PROBE_TESTED, PROBE_FLOOR, PROBE_CEILING } ProbeRange;

/* Is a binomial accuracy probe able to show a gain over a baseline that got k_base of n_base right
 * (pooled over seeds)? chance: the accuracy of guessing (0 if unknown), alpha: 0.05. Floor:
 * P(Bin(n, chance) >= k) > alpha; ceiling: a perfect arm's one-sided Fisher exact p,
 * C(n + k, n) / C(2n, n), exceeds alpha. */
ProbeRange probe_range(long k_base, long n_base, double chance, double alpha);
const char *probe_range_name(ProbeRange r);

#endif
