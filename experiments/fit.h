/* Scaling-law fit L(C) = a C^-b + c and compute multipliers (resbench fit). */
#ifndef RB_FIT_H
#define RB_FIT_H

typedef struct {
    double a, b, c, rmse;
} PowerLaw;

/* Least-squares fit of L = a C^-b + c to n points (n >= 4, C > 0, at least 4 distinct C): for each
 * c on a grid below min(L) (refined by golden-section search) a and b come from linear regression
 * of log(L - c) on log C, and the c with the smallest squared error in L is kept. -1 if impossible.
 */
int fit_power_law(const double *C, const double *L, int n, PowerLaw *f);
double power_law_loss(const PowerLaw *f, double C);
/* Compute the fitted law needs to reach loss L: (a / (L - c))^(1/b); INFINITY when L <= c. */
double power_law_compute(const PowerLaw *f, double L);

#endif
