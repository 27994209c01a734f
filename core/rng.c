#include "rng.h"

#include <math.h>

#include "util.h"

static uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

void rng_seed(Rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) {
        x = rb_mix64(x);
        r->s[i] = x;
    }
}

uint64_t rng_u64(Rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint32_t rng_below(Rng *r, uint32_t n) {
    return (uint32_t)(((rng_u64(r) >> 32) * n) >> 32);
}

double rng_uniform(Rng *r) {
    return (double)(rng_u64(r) >> 11) * 0x1.0p-53;
}

float rng_normal(
    Rng *r) { /* Box-Muller; one value per call keeps the stream simple to reason about */
    double u1 = rng_uniform(r), u2 = rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void rng_fill_normal(Rng *r, float *x, long n, float std) {
    for (long i = 0; i < n; i++) x[i] = std * rng_normal(r);
}
