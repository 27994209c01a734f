/* Deterministic random numbers (xoshiro256** seeded through splitmix64). */
#ifndef RB_RNG_H
#define RB_RNG_H
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} Rng;

void rng_seed(Rng *r, uint64_t seed);
uint64_t rng_u64(Rng *r);
uint32_t rng_below(Rng *r, uint32_t n); /* uniform in [0, n) */
double rng_uniform(Rng *r);             /* uniform in [0, 1) */
float rng_normal(Rng *r);               /* standard normal */
void rng_fill_normal(Rng *r, float *x, long n, float std);

#endif
